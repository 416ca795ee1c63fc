/* Unit tests of ct_spool: order, commit and resume, rotation, torn tails, rewind, the free
 * space reserve, and a disk full to the last byte (as root: a small tmpfs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ct_error.h"
#include "ct_spool.h"

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ct-spool-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void append_n(struct ct_spool *spool, int from, int to)
{
	for (int i = from; i < to; i++) {
		char payload[64];
		int n = snprintf(payload, sizeof(payload), "payload-%d", i);
		assert_int_equal(ct_spool_append(spool, "ct/v1/test", payload, (size_t)n), CT_OK);
	}
}

/* Reads everything available and checks it is from..to-1 in order. */
static void expect_n(struct ct_spool *spool, struct ct_spool_batch *batch, int from, int to)
{
	int next = from;
	while (next < to) {
		assert_int_equal(ct_spool_read(spool, 7, 1 << 20, 0, batch), CT_OK);
		assert_true(batch->count > 0);
		for (size_t i = 0; i < batch->count; i++, next++) {
			char want[64];
			int n = snprintf(want, sizeof(want), "payload-%d", next);
			assert_string_equal(batch->records[i].topic, "ct/v1/test");
			assert_int_equal(batch->records[i].payload_len, n);
			assert_memory_equal(batch->records[i].payload, want, (size_t)n);
		}
	}
	assert_int_equal(next, to);
	assert_int_equal(ct_spool_read(spool, 7, 1 << 20, 0, batch), CT_OK);
	assert_int_equal(batch->count, 0);
}

static void test_order_commit_resume(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	char err[256];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));

	memset(&batch, 0, sizeof(batch));
	assert_non_null(spool);
	append_n(spool, 0, 20);
	assert_int_equal(ct_spool_read(spool, 5, 1 << 20, 0, &batch), CT_OK);
	assert_int_equal(batch.count, 5);
	assert_int_equal(ct_spool_commit(spool, &batch), CT_OK);
	/* Read more but do not commit: a restart must hand these out again. */
	assert_int_equal(ct_spool_read(spool, 5, 1 << 20, 0, &batch), CT_OK);
	assert_int_equal(batch.count, 5);
	ct_spool_free(spool);

	spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));
	assert_non_null(spool);
	append_n(spool, 20, 30);
	expect_n(spool, &batch, 5, 30);
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

/* Background commits: the newest position asked for is the one written (by the time the
 * spool is closed), segments before it go, and a rewind waits for a pending write and goes
 * back to it. */
static void test_async_commit(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	char err[256];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));

	memset(&batch, 0, sizeof(batch));
	assert_non_null(spool);
	append_n(spool, 0, 300); /* several 4 KiB segments */
	for (int k = 0; k < 3; k++) {
		assert_int_equal(ct_spool_read(spool, 50, 1 << 20, 0, &batch), CT_OK);
		assert_int_equal(batch.count, 50);
		assert_int_equal(ct_spool_commit_async(spool, &batch), CT_OK);
	}
	/* Read 50 more, then rewind: back to 150, the last position asked for. */
	assert_int_equal(ct_spool_read(spool, 50, 1 << 20, 0, &batch), CT_OK);
	ct_spool_rewind(spool);
	expect_n(spool, &batch, 150, 300);
	ct_spool_free(spool);

	spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));
	assert_non_null(spool);
	expect_n(spool, &batch, 150, 300);
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

static void test_rotation_deletes_committed_segments(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	char err[256];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, true, err, sizeof(err));
	int segments = 0;
	DIR *d;
	struct dirent *e;

	memset(&batch, 0, sizeof(batch));
	assert_non_null(spool);
	append_n(spool, 0, 2000); /* ~ 40 bytes each: many 4 KiB segments */
	expect_n(spool, &batch, 0, 2000);
	assert_int_equal(ct_spool_commit(spool, &batch), CT_OK);
	assert_int_equal(ct_spool_backlog_bytes(spool), 0);
	d = opendir(f->dir);
	while ((e = readdir(d)) != NULL)
		segments += strstr(e->d_name, ".seg") != NULL;
	closedir(d);
	assert_int_equal(segments, 1); /* only the one being written */
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

static void test_torn_tail_is_cut(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	char err[256], path[512];
	struct ct_spool *spool = ct_spool_open(f->dir, 1 << 20, false, err, sizeof(err));
	DIR *d;
	struct dirent *e;
	int fd;

	memset(&batch, 0, sizeof(batch));
	assert_non_null(spool);
	append_n(spool, 0, 3);
	ct_spool_free(spool);
	/* Simulate death in the middle of an append: half a record at the end. */
	d = opendir(f->dir);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".seg") != NULL)
			snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
	closedir(d);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "CTSP\0\0\0\x0a\0\0", 10), 10);
	close(fd);

	spool = ct_spool_open(f->dir, 1 << 20, false, err, sizeof(err));
	assert_non_null(spool);
	append_n(spool, 3, 5);
	expect_n(spool, &batch, 0, 5);
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

static void test_rewind_replays_uncommitted(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	char err[256];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));

	memset(&batch, 0, sizeof(batch));
	append_n(spool, 0, 10);
	assert_int_equal(ct_spool_read(spool, 4, 1 << 20, 0, &batch), CT_OK);
	assert_int_equal(ct_spool_commit(spool, &batch), CT_OK);
	assert_int_equal(ct_spool_read(spool, 4, 1 << 20, 0, &batch), CT_OK);
	ct_spool_rewind(spool);
	expect_n(spool, &batch, 4, 10);
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

static void test_oversize_refused(void **state)
{
	struct fixture *f = *state;
	char err[256], topic[2048];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));
	memset(topic, 't', sizeof(topic) - 1);
	topic[sizeof(topic) - 1] = '\0';
	assert_int_equal(ct_spool_append(spool, topic, "x", 1), CT_ERR_TOO_BIG);
	ct_spool_free(spool);
}

/* Below the reserve the spool says it is low but takes every record (Paho has acknowledged
 * them); it stays low until the free space is back above the reserve plus the margin. The
 * backlog counts what is not committed. */
static void test_reserve_low_still_appends(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	struct ct_spool_space space;
	char err[256];
	struct ct_spool *spool = ct_spool_open(f->dir, 4096, false, err, sizeof(err));

	memset(&batch, 0, sizeof(batch));
	assert_non_null(spool);
	assert_false(ct_spool_is_low(spool));
	ct_spool_space(spool, &space);
	assert_true(space.free_bytes > 0);
	assert_int_equal(space.backlog_bytes, 0);
	/* More than any disk has free. */
	ct_spool_set_reserve(spool, UINT64_MAX / 4);
	assert_true(ct_spool_is_low(spool));
	append_n(spool, 0, 100);
	assert_int_equal(ct_spool_check_space(spool, &space), CT_OK);
	assert_true(space.low);
	assert_int_equal(space.reserve_bytes, UINT64_MAX / 4);
	assert_int_equal(space.held_records, 0);
	assert_true(space.backlog_bytes > 0);
	expect_n(spool, &batch, 0, 100);
	assert_int_equal(ct_spool_commit(spool, &batch), CT_OK);
	ct_spool_space(spool, &space);
	assert_int_equal(space.backlog_bytes, 0);
	/* The reserve gone, the spool is not low any more once measured. */
	ct_spool_set_reserve(spool, 0);
	assert_true(ct_spool_is_low(spool));
	assert_int_equal(ct_spool_check_space(spool, &space), CT_OK);
	assert_false(space.low);
	assert_false(ct_spool_is_low(spool));
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
}

#define FULL_PAYLOAD 900

static void full_payload(int i, char *buf)
{
	int n = snprintf(buf, FULL_PAYLOAD, "payload-%06d-", i);
	memset(buf + n, 'x', FULL_PAYLOAD - (size_t)n);
}

static void write_file(const char *path, size_t bytes)
{
	char block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	memset(block, 'f', sizeof(block));
	assert_true(fd >= 0);
	for (size_t done = 0; done < bytes; done += sizeof(block))
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	close(fd);
}

/* Polls the spool's backlog (the committer thread writes) until it is 0, for up to 10 s. */
static void wait_backlog_zero(struct ct_spool *spool)
{
	struct ct_spool_space space;
	for (int i = 0; i < 1000; i++) {
		struct timespec pause = {0, 10 * 1000000L};
		ct_spool_space(spool, &space);
		if (space.backlog_bytes == 0)
			return;
		nanosleep(&pause, NULL);
	}
	fail_msg("the committed position was not written within 10 s");
}

/* A disk full to the last byte (ENOSPC): no record is refused; those that found no room are
 * held in memory and written, in order, once there is room; a commit that finds no room for
 * its cursor is retried, not failed. */
static void test_full_disk_holds_in_order(void **state)
{
	struct fixture *f = *state;
	struct ct_spool_batch batch;
	struct ct_spool_space space;
	char fs[128], filler[160], dir[160], err[256], payload[FULL_PAYLOAD];
	struct ct_spool *spool;
	int n = 0, next = 0, held_from;

	if (geteuid() != 0) {
		print_message("skipped: mounting a small tmpfs needs root\n");
		skip();
	}
	snprintf(fs, sizeof(fs), "%s/fs", f->dir);
	assert_int_equal(mkdir(fs, 0700), 0);
	if (mount("tmpfs", fs, "tmpfs", 0, "size=256k,mode=0700") != 0) {
		print_message("skipped: cannot mount a tmpfs: %s\n", strerror(errno));
		rmdir(fs);
		skip();
	}
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	snprintf(dir, sizeof(dir), "%s/spool", fs);
	write_file(filler, 64 * 1024);
	memset(&batch, 0, sizeof(batch));
	spool = ct_spool_open(dir, 4096, false, err, sizeof(err));
	assert_non_null(spool);
	ct_spool_set_reserve(spool, 32 * 1024);
	/* Fill the disk: past the reserve (low), then to the last page (held). */
	do {
		full_payload(n, payload);
		assert_int_equal(ct_spool_append(spool, "ct/v1/test", payload, sizeof(payload)),
		                 CT_OK);
		n++;
		ct_spool_space(spool, &space);
	} while (space.held_records == 0 && n < 1000);
	assert_int_equal(space.held_records, 1);
	assert_true(space.low);
	held_from = n - 1;
	/* Whatever arrives now is held too, behind the first, even if a record would fit. */
	for (int i = 0; i < 20; i++, n++) {
		full_payload(n, payload);
		assert_int_equal(ct_spool_append(spool, "ct/v1/test", payload, sizeof(payload)),
		                 CT_OK);
	}
	assert_int_equal(ct_spool_check_space(spool, &space), CT_OK);
	assert_int_equal(space.held_records, 21);
	assert_true(space.low);
	/* Read and commit some: the cursor finds no room, the committer retries. */
	assert_int_equal(ct_spool_read(spool, 10, 1 << 20, 0, &batch), CT_OK);
	assert_int_equal(batch.count, 10);
	next = 10;
	assert_int_equal(ct_spool_commit_async(spool, &batch), CT_OK);
	ct_spool_rewind(spool); /* to the position asked for, written or not */
	/* Room again: the held records go to disk, in order, after the others. */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(ct_spool_check_space(spool, &space), CT_OK);
	assert_int_equal(space.held_records, 0);
	assert_true(held_from > 10);
	while (next < n) {
		assert_int_equal(ct_spool_read(spool, 64, 1 << 20, 0, &batch), CT_OK);
		assert_true(batch.count > 0);
		for (size_t i = 0; i < batch.count; i++, next++) {
			full_payload(next, payload);
			assert_int_equal(batch.records[i].payload_len, sizeof(payload));
			assert_memory_equal(batch.records[i].payload, payload, sizeof(payload));
		}
	}
	assert_int_equal(next, n);
	assert_int_equal(ct_spool_read(spool, 64, 1 << 20, 0, &batch), CT_OK);
	assert_int_equal(batch.count, 0);
	assert_int_equal(ct_spool_commit_async(spool, &batch), CT_OK);
	wait_backlog_zero(spool);
	assert_int_equal(ct_spool_check_space(spool, &space), CT_OK);
	assert_false(space.low);
	ct_spool_batch_cleanup(&batch);
	ct_spool_free(spool);
	assert_int_equal(umount2(fs, MNT_DETACH), 0);
	rmdir(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_order_commit_resume, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_async_commit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rotation_deletes_committed_segments, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rewind_replays_uncommitted, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_oversize_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reserve_low_still_appends, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_full_disk_holds_in_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
