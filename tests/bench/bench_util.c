/* bench_util: what the benchmarks share (bench_util.h). */
#define _GNU_SOURCE
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ct_error.h"

int64_t bench_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bench_sleep_us(int64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double bench_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold blanks and parentheses: the fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long parent_pid(long pid)
{
	char path[64], buf[1024], *p;
	long ppid = -1;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %ld", &ppid) != 1)
		return -1;
	return ppid;
}

double bench_postgres_cpu_seconds(struct harness *h)
{
	char path[700], *text = NULL;
	long postmaster;
	double total;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/pgdata/postmaster.pid", h->pg_dir);
	if (harness_read_file(path, &text, NULL) != CT_OK)
		return -1;
	postmaster = strtol(text, NULL, 10);
	free(text);
	total = bench_cpu_seconds((pid_t)postmaster);
	if (total < 0)
		return -1;
	d = opendir("/proc");
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end = NULL;
		long pid = strtol(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0' || parent_pid(pid) != postmaster)
			continue;
		double s = bench_cpu_seconds((pid_t)pid);
		total += s > 0 ? s : 0;
	}
	closedir(d);
	return total;
}

int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

double bench_pct_ms(const int64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p * (double)n);
	return (double)v[rank == 0 ? 0 : rank - 1] / 1000.0;
}

json_t *bench_num3(double v)
{
	return isfinite(v) ? json_real(round(v * 1000.0) / 1000.0) : json_null();
}

long long bench_peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %lld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

long long bench_spool_backlog(const char *dir)
{
	char path[1024];
	unsigned long long cur_seg = 0, cur_off = 0;
	long long total = 0;
	struct dirent *e;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cursor", dir);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%llu %llu", &cur_seg, &cur_off) != 2)
			cur_seg = cur_off = 0;
		fclose(f);
	}
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *end = NULL;
		unsigned long long seq = strtoull(e->d_name, &end, 10);
		if (end == e->d_name || strcmp(end, ".seg") != 0 || seq < cur_seg)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0)
			total += (long long)st.st_size;
	}
	closedir(d);
	return total - (long long)cur_off;
}
