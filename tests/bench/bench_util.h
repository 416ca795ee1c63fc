/* bench_util: what the benchmarks share: clocks, CPU time and peak RSS of processes, spool
 * backlogs, percentiles. Benchmarks only (tests/bench); nothing here is asserted. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

/* CLOCK_MONOTONIC in microseconds. */
int64_t bench_mono_us(void);
/* Sleeps us microseconds, resuming after signals. */
void bench_sleep_us(int64_t us);
/* User + system CPU seconds of pid so far (/proc), -1 when it cannot be read. */
double bench_cpu_seconds(pid_t pid);
/* The same for h's PostgreSQL: the postmaster and all its children. */
double bench_postgres_cpu_seconds(struct harness *h);
/* qsort comparator of int64_t. */
int bench_cmp_i64(const void *a, const void *b);
/* The nearest-rank percentile p (0..1) of v (n > 0 values in microseconds, sorted), in ms. */
double bench_pct_ms(const int64_t *v, size_t n, double p);
/* v rounded to 3 decimals as a JSON number; null when not finite. */
json_t *bench_num3(double v);
/* VmHWM (peak resident set) of pid in KiB, -1 when unreadable. */
long long bench_peak_rss_kib(pid_t pid);
/* Bytes appended to a spool directory and not yet committed (ct_spool.c's layout: segments
 * from the cursor's on, minus the cursor's offset); -1 when there is no such spool. */
long long bench_spool_backlog(const char *dir);

#endif
