/* test_spool_full: a service whose spool's disk fills up stops taking input without losing
 * anything, says so in its retained status, and resumes when space returns; a loop that stops
 * making progress while input waits shows in the status.
 *
 * test_progress_visible: traveler with a status every second. Its last_progress_at_us
 * advances while it is idle and while it stores a stream; with PostgreSQL stopped its loop is
 * stuck in the store while input waits, and the status (fresh at_us) shows the progress
 * standing still with a backlog; with PostgreSQL back everything is stored exactly once.
 *
 * test_spool_full: traveler's spool on a 16 MiB tmpfs, most of it taken by a filler file,
 * PostgreSQL stopped so that nothing is committed: a steady stream fills the spool to its
 * reserve (spool.min_free_mb). The retained status must say PAUSED with the reason, traveler
 * must keep running and the disk must never fill to the last byte (more is published while it
 * is paused: the broker queues it). Then the filler is removed: traveler resumes (ONLINE)
 * although its loop is still stuck, takes what the broker queued, and once PostgreSQL is back
 * every published event and measurement is stored exactly once.
 *
 * Needs root (mounting a tmpfs); without it the program exits 77, which ctest reports as
 * skipped. CI runs it as root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "harness.h"

#define SITE         "SF"
#define RESULTS_PER  16 /* results per message (the stream's most) */
#define MEAS_PER     20 /* measurements per result: about 1 KiB per canonical message */
#define FS_MIB       16 /* the spool's tmpfs */
#define RESERVE_MIB  4  /* spool.min_free_mb */
#define HEADROOM_MIB 2  /* what the filler leaves above the reserve */
#define SKIP_CODE    77 /* ctest SKIP_RETURN_CODE */

#define PAUSED CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_PAUSED
#define ONLINE CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE

/* The tmpfs of the group, mounted in group setup, unmounted in group teardown. */
static char fs_dir[HARNESS_PATH_MAX];

/* What a status said. */
struct status {
	int state;
	char reason[512];
	int64_t at_us, last_progress_at_us;
	uint64_t backlog, free_bytes, reserve;
	uint32_t interval_s;
};

/* A status condition. */
typedef bool status_pred(const struct status *st, const void *arg);

/* Reads statuses from sub (subscribed to traveler's status topic) until pred holds, for up
 * to timeout_ms; *ret gets the status that matched, or the last one seen. Returns CT_OK or
 * CT_ERR_TIMEOUT. */
static int status_wait(struct harness_sub *sub, status_pred *pred, const void *arg, int timeout_ms,
                       struct status *ret)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;

	for (;;) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		ProtobufCMessage *msg = NULL;
		Cellthread__V1__ServiceStatus *st;
		int64_t left = deadline - ct_mono_ms();
		int rc;

		if (left <= 0)
			return CT_ERR_TIMEOUT;
		rc = harness_sub_next(sub, (int)left, &topic, &payload, &len);
		if (rc != CT_OK)
			return rc;
		if (len == 0)
			continue; /* a deleted retained status */
		if (ct_pb_unpack(&cellthread__v1__service_status__descriptor, payload, len, 1 << 16,
		                 &msg) != CT_OK)
			continue;
		st = (Cellthread__V1__ServiceStatus *)msg;
		memset(ret, 0, sizeof(*ret));
		ret->state = st->state;
		snprintf(ret->reason, sizeof(ret->reason), "%s", st->reason ? st->reason : "");
		ret->at_us = st->at_us;
		ret->last_progress_at_us = st->last_progress_at_us;
		ret->backlog = st->spool_backlog_bytes;
		ret->free_bytes = st->spool_free_bytes;
		ret->reserve = st->spool_reserve_bytes;
		ret->interval_s = st->status_interval_s;
		ct_pb_free(msg);
		if (pred(ret, arg))
			return CT_OK;
	}
}

static bool is_state(const struct status *st, const void *arg)
{
	return st->state == *(const int *)arg;
}

static bool progress_after(const struct status *st, const void *arg)
{
	return st->state == ONLINE && st->last_progress_at_us > *(const int64_t *)arg;
}

/* Progress standing still for 3 s at least while input waits, in a fresh status. */
static bool progress_stuck(const struct status *st, const void *arg)
{
	(void)arg;
	return st->backlog > 0 && st->last_progress_at_us > 0 &&
	       st->at_us - st->last_progress_at_us > 3000000;
}

static struct harness_sub *status_sub(struct harness *h)
{
	struct harness_sub *sub = NULL;
	assert_int_equal(harness_sub_new(h, "cli", CT_TOPIC_ROOT "/sys/status/traveler/1", &sub),
	                 CT_OK);
	return sub;
}

static uint64_t fs_free_bytes(void)
{
	struct statvfs st;
	assert_int_equal(statvfs(fs_dir, &st), 0);
	return (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
}

static void write_filler(const char *path, uint64_t bytes)
{
	static char block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t done = 0;

	assert_true(fd >= 0);
	memset(block, 'f', sizeof(block));
	while (done < bytes) {
		size_t n = bytes - done < sizeof(block) ? (size_t)(bytes - done) : sizeof(block);
		assert_int_equal(write(fd, block, n), (ssize_t)n);
		done += n;
	}
	assert_int_equal(close(fd), 0);
}

static void test_progress_visible(void **state)
{
	struct harness *h = *state;
	static const char *const env[] = {"CT_STATUS_INTERVAL_S=1", NULL};
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct harness_sub *sub;
	struct harness_stream s;
	struct status st;
	int64_t p0 = 0, t1;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, env, &traveler), CT_OK);
	sub = status_sub(h);

	/* Idle: the progress advances with every status. */
	assert_int_equal(status_wait(sub, progress_after, &p0, HARNESS_WAIT_MS, &st), CT_OK);
	assert_int_equal(st.interval_s, 1);
	assert_int_equal(st.reserve, 64ull << 20); /* the default spool.min_free_mb */
	assert_true(st.free_bytes > 0);
	assert_string_equal(st.reason, "");
	p0 = st.last_progress_at_us;
	assert_int_equal(status_wait(sub, progress_after, &p0, HARNESS_WAIT_MS, &st), CT_OK);
	assert_true(st.last_progress_at_us <= st.at_us);
	printf("idle: progress advanced by %.2f s\n", (double)(st.last_progress_at_us - p0) / 1e6);

	/* Working: it advances past the start of a stream, and everything is stored. */
	t1 = ct_now_us();
	assert_int_equal(harness_stream_open(h, &s, "sfp", SITE, "SF-P", RESULTS_PER, MEAS_PER),
	                 CT_OK);
	assert_int_equal(harness_stream_flow(h, &s, 100, 100LL * RESULTS_PER + 1), CT_OK);
	assert_int_equal(status_wait(sub, progress_after, &t1, HARNESS_WAIT_MS, &st), CT_OK);

	/* Stuck: PostgreSQL gone, traveler's loop waits in its store while input waits. The
	 * status goes on (fresh at_us) and shows the progress standing still. */
	assert_int_equal(harness_pg_stop(h), CT_OK);
	assert_int_equal(harness_stream_publish(h, &s, 20), CT_OK);
	assert_int_equal(harness_stream_flush(&s), CT_OK);
	assert_int_equal(status_wait(sub, progress_stuck, NULL, HARNESS_WAIT_MS, &st), CT_OK);
	printf("stuck: no progress for %.1f s with %llu bytes waiting, status %.1f s old\n",
	       (double)(st.at_us - st.last_progress_at_us) / 1e6, (unsigned long long)st.backlog,
	       (double)(ct_now_us() - st.at_us) / 1e6);
	assert_int_equal(st.state, ONLINE);
	assert_true(harness_proc_is_alive(traveler));

	/* Back: progress again, nothing lost, nothing twice. */
	t1 = ct_now_us();
	assert_int_equal(harness_pg_start(h), CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	assert_int_equal(status_wait(sub, progress_after, &t1, HARNESS_WAIT_MS, &st), CT_OK);
	harness_stream_close(&s);
	harness_sub_free(sub);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static void test_spool_full(void **state)
{
	struct harness *h = *state;
	char spool_env[HARNESS_PATH_MAX + 32], filler[HARNESS_PATH_MAX + 16];
	const char *env[] = {spool_env, "CT_SPOOL_SEGMENT_KIB=64",
	                     "CT_SPOOL_MIN_FREE_MB=4", /* RESERVE_MIB */
	                     "CT_STATUS_INTERVAL_S=1", NULL};
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct harness_sub *sub;
	struct harness_stream s;
	struct status st;
	int64_t deadline;
	uint64_t free_now, least_free;
	int paused = PAUSED, online = ONLINE, at_pause;

	snprintf(spool_env, sizeof(spool_env), "CT_SPOOL_DIR=%s/spool", fs_dir);
	snprintf(filler, sizeof(filler), "%s/filler", fs_dir);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-f", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, "traveler-f", env, &traveler),
	                 CT_OK);
	sub = status_sub(h);
	assert_int_equal(status_wait(sub, is_state, &online, HARNESS_WAIT_MS, &st), CT_OK);
	assert_int_equal(st.reserve, (uint64_t)RESERVE_MIB << 20);

	/* Leave the spool HEADROOM_MIB above its reserve. */
	free_now = fs_free_bytes();
	assert_true(free_now > (uint64_t)(RESERVE_MIB + HEADROOM_MIB) << 20);
	write_filler(filler, free_now - ((uint64_t)(RESERVE_MIB + HEADROOM_MIB) << 20));
	printf("spool fs: %.1f MiB free before the stream\n", (double)fs_free_bytes() / 1048576.0);

	/* Nothing is committed while PostgreSQL is away: a steady stream fills the spool. */
	assert_int_equal(harness_pg_stop(h), CT_OK);
	assert_int_equal(harness_stream_open(h, &s, "sff", SITE, "SF-F", RESULTS_PER, MEAS_PER),
	                 CT_OK);
	deadline = ct_mono_ms() + HARNESS_WAIT_MS;
	for (;;) {
		int rc;
		assert_int_equal(harness_stream_publish(h, &s, 5), CT_OK);
		assert_true(harness_proc_is_alive(traveler));
		rc = status_wait(sub, is_state, &paused, 200, &st);
		if (rc == CT_OK)
			break;
		assert_int_equal(rc, CT_ERR_TIMEOUT);
		if (ct_mono_ms() > deadline) {
			harness_print_logs(h);
			fail_msg(
			        "traveler never said PAUSED (%d messages published, %.1f MiB free)",
			        s.published, (double)fs_free_bytes() / 1048576.0);
		}
	}
	at_pause = s.published;
	printf("PAUSED after %d messages: %s\n", at_pause, st.reason);
	assert_non_null(strstr(st.reason, "spool disk full"));
	assert_non_null(strstr(st.reason, fs_dir));
	assert_true(st.free_bytes < (uint64_t)RESERVE_MIB << 20);
	assert_true(st.backlog > 0);

	/* Paused, it keeps running and the disk keeps room: what is published now is queued by
	 * the broker, and two more statuses still say PAUSED. */
	assert_int_equal(harness_stream_publish(h, &s, 30), CT_OK);
	assert_int_equal(harness_stream_flush(&s), CT_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(status_wait(sub, is_state, &paused, HARNESS_WAIT_MS, &st), CT_OK);
	}
	least_free = fs_free_bytes();
	printf("still PAUSED with %d more published: %.1f MiB free\n", s.published - at_pause,
	       (double)least_free / 1048576.0);
	assert_true(least_free > 0);
	assert_true(harness_proc_is_alive(traveler));

	/* Space returns (traveler's loop is still stuck without PostgreSQL): it resumes, and
	 * takes what the broker queued. */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(status_wait(sub, is_state, &online, HARNESS_WAIT_MS, &st), CT_OK);
	assert_string_equal(st.reason, "");
	printf("ONLINE again: %.1f MiB free, %llu bytes waiting\n",
	       (double)st.free_bytes / 1048576.0, (unsigned long long)st.backlog);
	assert_true(harness_proc_is_alive(traveler));

	/* PostgreSQL back: every published event and measurement stored exactly once. */
	assert_int_equal(harness_pg_start(h), CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	assert_int_equal(
	        harness_wait_sql_count(h, "SELECT count(*) FROM dead_letter", 0, HARNESS_WAIT_MS),
	        CT_OK);
	{
		const int64_t now = ct_now_us();
		assert_int_equal(status_wait(sub, progress_after, &now, HARNESS_WAIT_MS, &st),
		                 CT_OK);
	}
	harness_stream_close(&s);
	harness_sub_free(sub);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	struct harness *h;
	char opts[64];

	if (harness_group_start("spoolfull", CT_IT_WATCHDOG_S, state) != 0)
		return -1;
	h = *state;
	snprintf(fs_dir, sizeof(fs_dir), "%s/spoolfs", h->dir);
	snprintf(opts, sizeof(opts), "size=%dm,mode=0755", FS_MIB);
	if (mkdir(fs_dir, 0755) != 0 || mount("tmpfs", fs_dir, "tmpfs", 0, opts) != 0) {
		fprintf(stderr, "cannot mount a tmpfs on %s: %s\n", fs_dir, strerror(errno));
		fs_dir[0] = '\0';
		harness_group_stop(state);
		return -1;
	}
	return 0;
}

static int group_stop(void **state)
{
	/* Before the harness removes its directory: the mount point is in it. */
	if (fs_dir[0] != '\0' && umount2(fs_dir, MNT_DETACH) != 0)
		fprintf(stderr, "cannot unmount %s: %s\n", fs_dir, strerror(errno));
	return harness_group_stop(state);
}

/* Whether this process may mount a tmpfs (root, and not a container without the
 * capability). */
static bool can_mount(void)
{
	char dir[] = "/tmp/ct-it-mount-XXXXXX";
	bool ok;

	if (geteuid() != 0)
		return false;
	if (mkdtemp(dir) == NULL)
		return false;
	ok = mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0;
	if (ok)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
	return ok;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_progress_visible, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_spool_full, harness_test_setup,
	                                        harness_test_teardown),
	};

	if (!can_mount()) {
		printf("test_spool_full: skipped: mounting a tmpfs as the spool needs root (and "
		       "CAP_SYS_ADMIN); CI runs it as root\n");
		return SKIP_CODE;
	}
	return cmocka_run_group_tests(tests, group_setup, group_stop);
}
