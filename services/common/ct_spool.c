/* ct_spool: durable on-disk inbox (see ct_spool.h for the contract).
 *
 * Files in the spool directory:
 *   NNNNNNNNNNNNNNNNNNNN.seg  segments, numbered consecutively; records are appended to the
 *                             newest only, so only the newest can end in a torn record;
 *   cursor                    "SEG OFFSET\n" of the first uncommitted record, replaced
 *                             atomically (write temp + rename).
 * The writer (any thread) and the reader (the service loop) share only the writer's
 * position, under `lock`; the reader reads finished bytes with pread and never blocks the
 * writer for longer than a position snapshot.
 *
 * Free space (ct_spool.h, "Disk full"): measured under `lock` with statvfs at each new
 * segment, every reserve/8 bytes appended and on ct_spool_check_space. Records that found the
 * disk full wait in `held` (a FIFO of whole encoded records); while it is not empty every new
 * record joins it, so the order on disk stays the order of arrival. */
#include "ct_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"

#define RECORD_MAGIC 0x43545350u /* "CTSP" */
#define HEADER_BYTES 16
#define MAX_TOPIC    1024
#define MAX_PAYLOAD  (64u * 1024 * 1024)
/* Records held in memory for a full disk, at most: past this Paho keeps them (the callback
 * refuses them and Paho calls it again). A paused service receives far less than this. */
#define MAX_HELD_BYTES (256u * 1024 * 1024)
/* Free space is measured at least every this many bytes appended (with a reserve set). */
#define MIN_MEASURE_BYTES (64u * 1024)
/* How long the committer waits before writing a cursor again that found the disk full. */
#define COMMIT_RETRY_MS 500

/* A record that found the disk full, kept until there is room: header, topic, payload. */
struct held {
	struct held *next;
	size_t len;
	uint8_t data[];
};

struct ct_spool {
	char *dir;
	size_t segment_bytes;
	bool sync;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Writer state, under lock. */
	int write_fd;
	uint64_t write_seq;
	uint64_t write_size;
	bool wake;
	/* Free space, under lock. */
	uint64_t reserve_bytes;
	uint64_t free_bytes;
	uint64_t since_measured; /* bytes appended since the last statvfs */
	bool low;
	struct held *held_head, *held_tail;
	size_t held_records;
	uint64_t held_bytes;
	/* Committed position, under lock (read by backlog). */
	uint64_t commit_seq;
	uint64_t commit_off;
	/* Reader state, consumer thread only. */
	int read_fd;
	uint64_t read_seq;
	uint64_t read_off;
	uint64_t oldest_seq; /* the committing thread's (the consumer, or the committer) */
	/* ct_spool_commit_async: the committer thread and the position it is asked to write,
	 * under lock. */
	pthread_t committer;
	pthread_cond_t commit_cond;
	bool committer_running;
	bool committer_quit;
	bool commit_wanted;
	bool committing;
	uint64_t want_seq;
	uint64_t want_off;
	int commit_error;
	bool commit_stalled; /* the cursor found the disk full; retried every COMMIT_RETRY_MS */
};

static int measure_locked(struct ct_spool *spool);

static void segment_path(const struct ct_spool *spool, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%020" PRIu64 ".seg", spool->dir, seq);
}

static uint32_t record_crc(const char *topic, size_t topic_len, const void *payload,
                           size_t payload_len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, (const Bytef *)topic, (uInt)topic_len);
	crc = crc32(crc, (const Bytef *)payload, (uInt)payload_len);
	return (uint32_t)crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int read_cursor(struct ct_spool *spool, bool *ret_found)
{
	char path[4096];
	FILE *f;
	uint64_t seq, off;

	snprintf(path, sizeof(path), "%s/cursor", spool->dir);
	f = fopen(path, "r");
	if (f == NULL) {
		*ret_found = false;
		return errno == ENOENT ? CT_OK : CT_ERR_IO;
	}
	if (fscanf(f, "%" SCNu64 " %" SCNu64, &seq, &off) != 2) {
		fclose(f);
		return CT_ERR_CORRUPT;
	}
	fclose(f);
	spool->commit_seq = seq;
	spool->commit_off = off;
	*ret_found = true;
	return CT_OK;
}

/* Writes the cursor file. Returns CT_OK, or CT_ERR_IO with the failing call's errno in
 * *ret_errno (ENOSPC: the disk is full, worth retrying later). */
static int write_cursor(struct ct_spool *spool, uint64_t seq, uint64_t off, int *ret_errno)
{
	char path[4096], tmp[4096], text[64];
	int fd, n, rc = CT_OK;
	ssize_t w;

	snprintf(path, sizeof(path), "%s/cursor", spool->dir);
	snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", spool->dir);
	n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", seq, off);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*ret_errno = errno;
		return CT_ERR_IO;
	}
	w = write(fd, text, (size_t)n);
	if (w != n) {
		*ret_errno = w < 0 ? errno : ENOSPC; /* a short write of a few bytes: no room */
		rc = CT_ERR_IO;
	}
	if (rc == CT_OK && spool->sync && fdatasync(fd) != 0) {
		*ret_errno = errno;
		rc = CT_ERR_IO;
	}
	close(fd);
	if (rc == CT_OK && rename(tmp, path) != 0) {
		*ret_errno = errno;
		rc = CT_ERR_IO;
	}
	return rc;
}

/* Finds the lowest and highest segment numbers; *ret_count 0 when there are none. */
static int scan_segments(const struct ct_spool *spool, uint64_t *ret_low, uint64_t *ret_high,
                         size_t *ret_count)
{
	DIR *d = opendir(spool->dir);
	struct dirent *e;
	uint64_t low = UINT64_MAX, high = 0;
	size_t count = 0;

	if (d == NULL)
		return CT_ERR_IO;
	while ((e = readdir(d)) != NULL) {
		char *end = NULL;
		uint64_t seq;
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg") != 0)
			continue;
		seq = strtoull(e->d_name, &end, 10);
		if (end != e->d_name + 20)
			continue;
		low = seq < low ? seq : low;
		high = seq > high ? seq : high;
		count++;
	}
	closedir(d);
	*ret_low = count ? low : 0;
	*ret_high = high;
	*ret_count = count;
	return CT_OK;
}

/* Cuts a torn record off the end of a segment (the process died mid-append). */
static int repair_tail(struct ct_spool *spool, uint64_t seq)
{
	char path[4096];
	uint8_t header[HEADER_BYTES];
	uint64_t off = 0;
	struct stat st;
	int fd, rc = CT_OK;

	segment_path(spool, seq, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return CT_ERR_IO;
	if (fstat(fd, &st) != 0) {
		rc = CT_ERR_IO;
		goto out;
	}
	while (off + HEADER_BYTES <= (uint64_t)st.st_size) {
		uint32_t topic_len, payload_len;
		if (pread(fd, header, HEADER_BYTES, (off_t)off) != HEADER_BYTES)
			break;
		topic_len = get_u32(header + 4);
		payload_len = get_u32(header + 8);
		if (get_u32(header) != RECORD_MAGIC || topic_len > MAX_TOPIC ||
		    payload_len > MAX_PAYLOAD ||
		    off + HEADER_BYTES + topic_len + payload_len > (uint64_t)st.st_size)
			break;
		off += HEADER_BYTES + topic_len + payload_len;
	}
	if (off != (uint64_t)st.st_size) {
		ct_warn("spool %s: cutting %" PRIu64 " bytes of a torn record at the end", path,
		        (uint64_t)st.st_size - off);
		if (ftruncate(fd, (off_t)off) != 0)
			rc = CT_ERR_IO;
	}
out:
	close(fd);
	return rc;
}

static int open_write_segment(struct ct_spool *spool)
{
	char path[4096];
	segment_path(spool, spool->write_seq, path, sizeof(path));
	spool->write_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (spool->write_fd < 0)
		return CT_ERR_IO;
	spool->write_size = 0;
	return CT_OK;
}

struct ct_spool *ct_spool_open(const char *dir, size_t segment_bytes, bool sync, char *err,
                               size_t err_len)
{
	struct ct_spool *spool = NULL;
	uint64_t low, high;
	size_t count;
	bool have_cursor = false;
	int rc;

	spool = calloc(1, sizeof(*spool));
	if (spool == NULL)
		goto fail_nomem;
	spool->write_fd = -1;
	spool->read_fd = -1;
	spool->segment_bytes = segment_bytes > 4096 ? segment_bytes : 4096;
	spool->sync = sync;
	pthread_mutex_init(&spool->lock, NULL);
	pthread_cond_init(&spool->cond, NULL);
	pthread_cond_init(&spool->commit_cond, NULL);
	spool->dir = strdup(dir);
	if (spool->dir == NULL)
		goto fail_nomem;
	if (mkdir_p(dir) != 0) {
		ct_set_error(err, err_len, CT_ERR_IO, "spool: cannot create %s: %s", dir,
		             strerror(errno));
		goto fail;
	}
	rc = read_cursor(spool, &have_cursor);
	if (rc != CT_OK) {
		ct_set_error(err, err_len, rc, "spool: cannot read cursor in %s: %s", dir,
		             ct_strerror(rc));
		goto fail;
	}
	if (scan_segments(spool, &low, &high, &count) != CT_OK) {
		ct_set_error(err, err_len, CT_ERR_IO, "spool: cannot list %s: %s", dir,
		             strerror(errno));
		goto fail;
	}
	if (!have_cursor) {
		spool->commit_seq = count ? low : 1;
		spool->commit_off = 0;
	}
	/* Segments wholly before the cursor were committed; a crash may have left them. */
	for (uint64_t seq = low; count && seq < spool->commit_seq && seq <= high; seq++) {
		char path[4096];
		segment_path(spool, seq, path, sizeof(path));
		unlink(path);
	}
	if (count && high >= spool->commit_seq && repair_tail(spool, high) != CT_OK) {
		ct_set_error(err, err_len, CT_ERR_IO, "spool: cannot repair segment %" PRIu64,
		             high);
		goto fail;
	}
	if (!count || high < spool->commit_seq) {
		/* Nothing left to read: start clean at the cursor's segment. */
		spool->commit_off = 0;
		spool->write_seq = spool->commit_seq;
	} else {
		spool->write_seq = high + 1;
	}
	spool->oldest_seq = spool->commit_seq;
	spool->read_seq = spool->commit_seq;
	spool->read_off = spool->commit_off;
	if (open_write_segment(spool) != CT_OK) {
		ct_set_error(err, err_len, CT_ERR_IO, "spool: cannot create a segment in %s: %s",
		             dir, strerror(errno));
		goto fail;
	}
	if (measure_locked(spool) != CT_OK) /* no other thread has the spool yet */
		ct_warn("spool %s: cannot measure the free space: %s", dir, strerror(errno));
	return spool;
fail_nomem:
	ct_set_error(err, err_len, CT_ERR_NOMEM, "spool: out of memory");
fail:
	ct_spool_free(spool);
	return NULL;
}

static bool is_full_errno(int err)
{
	return err == ENOSPC || err == EDQUOT;
}

/* Measures the free space; below the reserve the spool is low. Under lock. */
static int measure_locked(struct ct_spool *spool)
{
	struct statvfs st;

	if (statvfs(spool->dir, &st) != 0)
		return CT_ERR_IO;
	spool->free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	spool->since_measured = 0;
	if (spool->free_bytes < spool->reserve_bytes)
		spool->low = true;
	return CT_OK;
}

/* Bytes appended between measurements: an eighth of the reserve, so the reserve cannot be
 * eaten unnoticed; without a reserve only new segments and full disks are noticed. */
static uint64_t measure_every(const struct ct_spool *spool)
{
	if (spool->reserve_bytes == 0)
		return UINT64_MAX;
	return spool->reserve_bytes / 8 > MIN_MEASURE_BYTES ? spool->reserve_bytes / 8
	                                                    : MIN_MEASURE_BYTES;
}

/* Starts a new segment when the current one is full. Returns 0 or the errno of the failure
 * (the current segment stays). Under lock. */
static int rotate_locked(struct ct_spool *spool)
{
	int old_fd = spool->write_fd;

	if (spool->write_size < spool->segment_bytes)
		return 0;
	spool->write_seq++;
	if (open_write_segment(spool) != CT_OK) {
		int err = errno;
		spool->write_seq--;
		spool->write_fd = old_fd;
		return err;
	}
	/* A commit syncs only the newest segment: the one left behind is synced here, once per
	 * segment, or its tail would miss the next commit's sync. */
	if (spool->sync && fdatasync(old_fd) != 0)
		ct_warn("spool: cannot fdatasync a finished segment: %s", strerror(errno));
	close(old_fd);
	if (measure_locked(spool) != CT_OK)
		ct_warn("spool %s: cannot measure the free space: %s", spool->dir, strerror(errno));
	return 0;
}

/* Appends one record given as parts (at most 3) totalling `total` bytes. Returns 0, or the
 * errno of the failure with nothing of the record left in the segment. Under lock. */
static int write_locked(struct ct_spool *spool, const uint8_t *const *parts, const size_t *lens,
                        int n_parts, size_t total)
{
	size_t done = 0;
	int err = rotate_locked(spool);

	if (err != 0)
		return err;
	while (done < total) {
		/* Rebuild the vector from `done` so a short write resumes where it stopped. */
		struct iovec iov[3];
		size_t skip = done;
		int n = 0;
		ssize_t w;
		for (int i = 0; i < n_parts; i++) {
			if (skip >= lens[i]) {
				skip -= lens[i];
				continue;
			}
			iov[n].iov_base = (void *)(parts[i] + skip);
			iov[n].iov_len = lens[i] - skip;
			skip = 0;
			n++;
		}
		w = writev(spool->write_fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : EIO;
			/* Leave no torn record behind for the reader. */
			if (ftruncate(spool->write_fd, (off_t)spool->write_size) != 0)
				ct_warn("spool: cannot cut a failed append: %s", strerror(errno));
			return err;
		}
		done += (size_t)w;
	}
	spool->write_size += total;
	spool->since_measured += total;
	if (spool->since_measured >= measure_every(spool) && measure_locked(spool) != CT_OK)
		ct_warn("spool %s: cannot measure the free space: %s", spool->dir, strerror(errno));
	pthread_cond_broadcast(&spool->cond);
	return 0;
}

/* Keeps a record in memory until there is room for it. Under lock. */
static int hold_locked(struct ct_spool *spool, const uint8_t *const *parts, const size_t *lens,
                       int n_parts, size_t total)
{
	struct held *h;
	size_t at = 0;

	if (spool->held_bytes + total > MAX_HELD_BYTES)
		return CT_ERR_NOMEM;
	h = malloc(sizeof(*h) + total);
	if (h == NULL)
		return CT_ERR_NOMEM;
	for (int i = 0; i < n_parts; i++) {
		memcpy(h->data + at, parts[i], lens[i]);
		at += lens[i];
	}
	h->len = total;
	h->next = NULL;
	if (spool->held_tail != NULL)
		spool->held_tail->next = h;
	else
		spool->held_head = h;
	spool->held_tail = h;
	if (spool->held_records++ == 0)
		ct_warn("spool %s: the disk is full; holding received messages in memory until "
		        "there is room",
		        spool->dir);
	spool->held_bytes += total;
	spool->low = true;
	return CT_OK;
}

/* Writes held records, oldest first, while there is room. Returns CT_OK (also when the disk
 * is still full) or CT_ERR_IO for another write error. Under lock. */
static int write_held_locked(struct ct_spool *spool)
{
	size_t written = 0;

	while (spool->held_head != NULL) {
		struct held *h = spool->held_head;
		const uint8_t *parts[1] = {h->data};
		size_t lens[1] = {h->len};
		int err = write_locked(spool, parts, lens, 1, h->len);
		if (err != 0) {
			if (written > 0)
				ct_info("spool %s: wrote %zu held message(s); %zu still wait for "
				        "room",
				        spool->dir, written, spool->held_records);
			return is_full_errno(err) ? CT_OK : CT_ERR_IO;
		}
		spool->held_head = h->next;
		if (spool->held_head == NULL)
			spool->held_tail = NULL;
		spool->held_records--;
		spool->held_bytes -= h->len;
		free(h);
		written++;
	}
	if (written > 0)
		ct_info("spool %s: wrote the %zu message(s) held for a full disk", spool->dir,
		        written);
	return CT_OK;
}

int ct_spool_append(struct ct_spool *spool, const char *topic, const void *payload,
                    size_t payload_len)
{
	uint8_t header[HEADER_BYTES];
	size_t topic_len = strlen(topic);
	size_t total = HEADER_BYTES + topic_len + payload_len;
	const uint8_t *parts[3] = {header, (const uint8_t *)topic, payload};
	size_t lens[3] = {HEADER_BYTES, topic_len, payload_len};
	int rc = CT_OK;

	if (topic_len > MAX_TOPIC || payload_len > MAX_PAYLOAD)
		return CT_ERR_TOO_BIG;
	put_u32(header, RECORD_MAGIC);
	put_u32(header + 4, (uint32_t)topic_len);
	put_u32(header + 8, (uint32_t)payload_len);
	put_u32(header + 12, record_crc(topic, topic_len, payload, payload_len));

	pthread_mutex_lock(&spool->lock);
	/* Records already held go first (one failing write while the disk is still full; a
	 * client without a status thread has no one else to write them), and a later one joins
	 * them while any remain, to keep the order. */
	if (spool->held_head != NULL && write_held_locked(spool) != CT_OK) {
		rc = CT_ERR_IO;
		goto out;
	}
	if (spool->held_head == NULL) {
		int err = write_locked(spool, parts, lens, 3, total);
		if (err == 0)
			goto out;
		if (!is_full_errno(err)) {
			rc = CT_ERR_IO;
			goto out;
		}
	}
	/* The disk is full, and Paho has acknowledged the message already. */
	rc = hold_locked(spool, parts, lens, 3, total);
out:
	pthread_mutex_unlock(&spool->lock);
	return rc;
}

static int batch_reserve(struct ct_spool_batch *batch, size_t bytes, size_t records)
{
	uint8_t *buf = ct_array_grow(batch->buf, &batch->buf_cap, bytes, 1, 65536);
	struct ct_spool_record *r;

	if (buf == NULL)
		return CT_ERR_NOMEM;
	batch->buf = buf;
	r = ct_array_grow(batch->records, &batch->records_cap, records, sizeof(*r), 256);
	if (r == NULL)
		return CT_ERR_NOMEM;
	batch->records = r;
	return CT_OK;
}

static int open_read_segment(struct ct_spool *spool)
{
	char path[4096];
	if (spool->read_fd >= 0)
		return CT_OK;
	segment_path(spool, spool->read_seq, path, sizeof(path));
	spool->read_fd = open(path, O_RDONLY | O_CLOEXEC);
	return spool->read_fd < 0 ? CT_ERR_IO : CT_OK;
}

/* Waits until there is unread data, a wake-up, or the deadline. Returns the writer's
 * position snapshot. */
static void wait_for_data(struct ct_spool *spool, int timeout_ms, uint64_t *ret_seq,
                          uint64_t *ret_size)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&spool->lock);
	while (!spool->wake && spool->read_seq == spool->write_seq &&
	       spool->read_off >= spool->write_size && timeout_ms > 0) {
		if (pthread_cond_timedwait(&spool->cond, &spool->lock, &deadline) == ETIMEDOUT)
			break;
	}
	spool->wake = false;
	*ret_seq = spool->write_seq;
	*ret_size = spool->write_size;
	pthread_mutex_unlock(&spool->lock);
}

int ct_spool_read(struct ct_spool *spool, size_t max_records, size_t max_bytes, int timeout_ms,
                  struct ct_spool_batch *batch)
{
	uint64_t w_seq, w_size;
	size_t used = 0;
	size_t *offsets = NULL; /* topic offsets into buf; pointers fixed at the end */
	int rc = CT_OK;

	batch->count = 0;
	wait_for_data(spool, timeout_ms, &w_seq, &w_size);
	while (batch->count < max_records && (batch->count == 0 || used < max_bytes)) {
		uint8_t header[HEADER_BYTES];
		uint64_t limit;
		uint32_t topic_len, payload_len;
		struct ct_spool_record *rec;

		if (spool->read_seq == w_seq && spool->read_off >= w_size)
			break;
		rc = open_read_segment(spool);
		if (rc != CT_OK && spool->read_seq < w_seq) {
			/* A finished segment that is gone holds nothing for us: move on. */
			ct_warn("spool %s: segment %" PRIu64 " missing, skipping", spool->dir,
			        spool->read_seq);
			spool->read_seq++;
			spool->read_off = 0;
			rc = CT_OK;
			continue;
		}
		if (rc != CT_OK)
			goto out;
		if (spool->read_seq < w_seq) {
			struct stat st;
			if (fstat(spool->read_fd, &st) != 0) {
				rc = CT_ERR_IO;
				goto out;
			}
			limit = (uint64_t)st.st_size;
			if (spool->read_off >= limit) {
				close(spool->read_fd);
				spool->read_fd = -1;
				spool->read_seq++;
				spool->read_off = 0;
				continue;
			}
		} else {
			limit = w_size;
		}
		if (spool->read_off + HEADER_BYTES > limit ||
		    pread(spool->read_fd, header, HEADER_BYTES, (off_t)spool->read_off) !=
		            HEADER_BYTES) {
			rc = CT_ERR_CORRUPT;
			goto corrupt;
		}
		topic_len = get_u32(header + 4);
		payload_len = get_u32(header + 8);
		if (get_u32(header) != RECORD_MAGIC || topic_len > MAX_TOPIC ||
		    payload_len > MAX_PAYLOAD ||
		    spool->read_off + HEADER_BYTES + topic_len + payload_len > limit) {
			rc = CT_ERR_CORRUPT;
			goto corrupt;
		}
		rc = batch_reserve(batch, used + topic_len + 1 + payload_len, batch->count + 1);
		if (rc == CT_OK && batch->count % 256 == 0) {
			size_t *o = realloc(offsets, (batch->count + 256) * sizeof(*o));
			if (o == NULL)
				rc = CT_ERR_NOMEM;
			else
				offsets = o;
		}
		if (rc != CT_OK)
			goto out;
		if (pread(spool->read_fd, batch->buf + used, topic_len + payload_len,
		          (off_t)(spool->read_off + HEADER_BYTES)) !=
		    (ssize_t)(topic_len + payload_len)) {
			rc = CT_ERR_IO;
			goto out;
		}
		if (record_crc((const char *)batch->buf + used, topic_len,
		               batch->buf + used + topic_len,
		               payload_len) != get_u32(header + 12)) {
			rc = CT_ERR_CORRUPT;
			goto corrupt;
		}
		/* Move the payload up one byte to NUL-terminate the topic in place. */
		memmove(batch->buf + used + topic_len + 1, batch->buf + used + topic_len,
		        payload_len);
		batch->buf[used + topic_len] = '\0';
		offsets[batch->count] = used;
		rec = &batch->records[batch->count];
		rec->payload_len = payload_len;
		batch->count++;
		used += topic_len + 1 + payload_len;
		spool->read_off += HEADER_BYTES + topic_len + payload_len;
	}
	goto out;
corrupt:
	/* Cannot happen short of disk damage: repair_tail() cut torn tails at open. Skip the rest
	 * of the segment rather than spin on it, and say so loudly. */
	ct_error("spool %s: corrupt record in segment %" PRIu64 " at offset %" PRIu64
	         "; skipping the rest of that segment",
	         spool->dir, spool->read_seq, spool->read_off);
	if (spool->read_seq < w_seq) {
		close(spool->read_fd);
		spool->read_fd = -1;
		spool->read_seq++;
		spool->read_off = 0;
	} else {
		spool->read_off = w_size;
	}
out:
	for (size_t i = 0; i < batch->count; i++) {
		batch->records[i].topic = (const char *)batch->buf + offsets[i];
		batch->records[i].payload =
		        batch->buf + offsets[i] + strlen(batch->records[i].topic) + 1;
	}
	free(offsets);
	batch->end_segment = spool->read_seq;
	batch->end_offset = spool->read_off;
	return rc;
}

/* Persists (seq, off) as the committed position and deletes the segments before it. On
 * failure *ret_errno says why (ENOSPC: no room for the cursor). */
static int commit_position(struct ct_spool *spool, uint64_t seq, uint64_t off, int *ret_errno)
{
	int rc;

	if (spool->sync) {
		/* A duplicate of the segment's descriptor, synced outside the lock: appends from
		 * Paho's thread go on meanwhile (an fdatasync takes milliseconds, a message
		 * arriving would otherwise wait for it), and a rotation closing write_fd cannot
		 * pull the file from under the sync. What was appended before the dup is on disk
		 * when fdatasync returns. */
		int fd;

		pthread_mutex_lock(&spool->lock);
		fd = dup(spool->write_fd);
		pthread_mutex_unlock(&spool->lock);
		if (fd < 0) {
			*ret_errno = errno;
			return CT_ERR_IO;
		}
		rc = fdatasync(fd) == 0 ? CT_OK : CT_ERR_IO;
		if (rc != CT_OK)
			*ret_errno = errno;
		close(fd);
		if (rc != CT_OK)
			return rc;
	}
	rc = write_cursor(spool, seq, off, ret_errno);
	if (rc != CT_OK)
		return rc;
	pthread_mutex_lock(&spool->lock);
	spool->commit_seq = seq;
	spool->commit_off = off;
	pthread_mutex_unlock(&spool->lock);
	for (; spool->oldest_seq < seq; spool->oldest_seq++) {
		char path[4096];
		segment_path(spool, spool->oldest_seq, path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT)
			ct_warn("spool: cannot remove %s: %s", path, strerror(errno));
	}
	return CT_OK;
}

int ct_spool_commit(struct ct_spool *spool, const struct ct_spool_batch *batch)
{
	int err = 0;
	return commit_position(spool, batch->end_segment, batch->end_offset, &err);
}

/* The committer thread: writes the newest position asked for, until told to quit (after
 * writing what is still wanted). A cursor that finds the disk full is written again later:
 * segments go only after their cursor, so committing is what gives the space back once the
 * disk has room for a few bytes, and a full disk must not stop the service. */
static void *committer_main(void *arg)
{
	struct ct_spool *spool = arg;

	pthread_mutex_lock(&spool->lock);
	for (;;) {
		uint64_t seq, off;
		int rc, err = 0;
		while (!spool->commit_wanted && !spool->committer_quit)
			pthread_cond_wait(&spool->commit_cond, &spool->lock);
		if (!spool->commit_wanted || (spool->committer_quit && spool->commit_stalled))
			break; /* a stalled position is replayed at the next start, like any other
			        */
		seq = spool->want_seq;
		off = spool->want_off;
		spool->commit_wanted = false;
		spool->committing = true;
		pthread_mutex_unlock(&spool->lock);
		rc = commit_position(spool, seq, off, &err);
		pthread_mutex_lock(&spool->lock);
		spool->committing = false;
		if (rc != CT_OK && is_full_errno(err)) {
			struct timespec ts;
			if (!spool->commit_stalled)
				ct_warn("spool %s: no room to write the cursor; retrying",
				        spool->dir);
			spool->commit_stalled = true;
			if (!spool->commit_wanted) {
				spool->want_seq = seq;
				spool->want_off = off;
				spool->commit_wanted = true;
			}
			pthread_cond_broadcast(&spool->commit_cond);
			ct_time_deadline(&ts, COMMIT_RETRY_MS);
			pthread_cond_timedwait(&spool->commit_cond, &spool->lock, &ts);
			continue;
		}
		if (rc != CT_OK)
			spool->commit_error = rc;
		else
			spool->commit_stalled = false;
		pthread_cond_broadcast(&spool->commit_cond); /* rewind may be waiting */
	}
	pthread_mutex_unlock(&spool->lock);
	return NULL;
}

int ct_spool_commit_async(struct ct_spool *spool, const struct ct_spool_batch *batch)
{
	int rc = CT_OK;

	pthread_mutex_lock(&spool->lock);
	if (spool->commit_error != CT_OK) {
		rc = spool->commit_error;
		goto out;
	}
	if (!spool->committer_running) {
		if (pthread_create(&spool->committer, NULL, committer_main, spool) != 0) {
			rc = CT_ERR_NOMEM;
			goto out;
		}
		spool->committer_running = true;
	}
	spool->want_seq = batch->end_segment;
	spool->want_off = batch->end_offset;
	spool->commit_wanted = true;
	pthread_cond_broadcast(&spool->commit_cond);
out:
	pthread_mutex_unlock(&spool->lock);
	return rc;
}

void ct_spool_rewind(struct ct_spool *spool)
{
	if (spool->read_fd >= 0)
		close(spool->read_fd);
	spool->read_fd = -1;
	pthread_mutex_lock(&spool->lock);
	/* A background commit being written deletes segments the reader might go back to: let it
	 * finish first. A position asked for and not yet written (perhaps for want of space) is
	 * done with just the same: rewind to the newest such position. */
	while (spool->committing)
		pthread_cond_wait(&spool->commit_cond, &spool->lock);
	spool->read_seq = spool->commit_wanted ? spool->want_seq : spool->commit_seq;
	spool->read_off = spool->commit_wanted ? spool->want_off : spool->commit_off;
	pthread_mutex_unlock(&spool->lock);
}

void ct_spool_wake(struct ct_spool *spool)
{
	pthread_mutex_lock(&spool->lock);
	spool->wake = true;
	pthread_cond_broadcast(&spool->cond);
	pthread_mutex_unlock(&spool->lock);
}

const char *ct_spool_dir(const struct ct_spool *spool)
{
	return spool->dir;
}

/* An estimate from the positions alone (finished segments count as segment_bytes); a commit
 * at the very end of a segment that overshot segment_bytes, with the next one still empty, is
 * 0, not a wrapped-around difference. Under lock. */
static uint64_t backlog_locked(const struct ct_spool *spool)
{
	uint64_t first;

	if (spool->commit_seq >= spool->write_seq)
		return spool->write_size > spool->commit_off ? spool->write_size - spool->commit_off
		                                             : 0;
	first = spool->commit_off < spool->segment_bytes ? spool->segment_bytes - spool->commit_off
	                                                 : 0;
	return first + (spool->write_seq - spool->commit_seq - 1) * spool->segment_bytes +
	       spool->write_size;
}

uint64_t ct_spool_backlog_bytes(struct ct_spool *spool)
{
	uint64_t backlog;
	pthread_mutex_lock(&spool->lock);
	backlog = backlog_locked(spool);
	pthread_mutex_unlock(&spool->lock);
	return backlog;
}

/* Under lock. */
static void space_locked(const struct ct_spool *spool, struct ct_spool_space *ret)
{
	ret->free_bytes = spool->free_bytes;
	ret->reserve_bytes = spool->reserve_bytes;
	ret->backlog_bytes = backlog_locked(spool) + spool->held_bytes;
	ret->held_bytes = spool->held_bytes;
	ret->held_records = spool->held_records;
	ret->low = spool->low;
}

void ct_spool_set_reserve(struct ct_spool *spool, uint64_t min_free_bytes)
{
	pthread_mutex_lock(&spool->lock);
	spool->reserve_bytes = min_free_bytes;
	if (measure_locked(spool) != CT_OK)
		ct_warn("spool %s: cannot measure the free space: %s", spool->dir, strerror(errno));
	pthread_mutex_unlock(&spool->lock);
}

bool ct_spool_is_low(struct ct_spool *spool)
{
	bool low;
	pthread_mutex_lock(&spool->lock);
	low = spool->low;
	pthread_mutex_unlock(&spool->lock);
	return low;
}

void ct_spool_space(struct ct_spool *spool, struct ct_spool_space *ret)
{
	pthread_mutex_lock(&spool->lock);
	space_locked(spool, ret);
	pthread_mutex_unlock(&spool->lock);
}

int ct_spool_check_space(struct ct_spool *spool, struct ct_spool_space *ret)
{
	/* Out of the low state only this far above the reserve: at least two segments, so that
	 * the next new segment does not put the spool straight back under it. */
	uint64_t margin;
	int rc;

	pthread_mutex_lock(&spool->lock);
	margin = spool->reserve_bytes / 2 > 2 * (uint64_t)spool->segment_bytes
	                 ? spool->reserve_bytes / 2
	                 : 2 * (uint64_t)spool->segment_bytes;
	rc = measure_locked(spool);
	if (rc == CT_OK && spool->held_head != NULL) {
		rc = write_held_locked(spool);
		if (rc == CT_OK)
			rc = measure_locked(spool);
	}
	if (rc == CT_OK && spool->held_head == NULL &&
	    spool->free_bytes >= spool->reserve_bytes + margin)
		spool->low = false;
	space_locked(spool, ret);
	pthread_mutex_unlock(&spool->lock);
	return rc;
}

void ct_spool_batch_cleanup(struct ct_spool_batch *batch)
{
	free(batch->buf);
	free(batch->records);
	memset(batch, 0, sizeof(*batch));
}

void ct_spool_free(struct ct_spool *spool)
{
	if (spool == NULL)
		return;
	if (spool->committer_running) {
		/* Writes the last position asked for, then ends. */
		pthread_mutex_lock(&spool->lock);
		spool->committer_quit = true;
		pthread_cond_broadcast(&spool->commit_cond);
		pthread_mutex_unlock(&spool->lock);
		pthread_join(spool->committer, NULL);
	}
	if (spool->held_head != NULL && spool->write_fd >= 0 &&
	    write_held_locked(spool) != CT_OK) /* the lock is ours alone now */
		ct_warn("spool %s: cannot write held messages: %s", spool->dir, strerror(errno));
	if (spool->held_head != NULL)
		ct_error("spool %s: %zu received message(s) (%" PRIu64 " bytes) found no room on "
		         "the disk and are lost with this stop",
		         spool->dir, spool->held_records, spool->held_bytes);
	while (spool->held_head != NULL) {
		struct held *h = spool->held_head;
		spool->held_head = h->next;
		free(h);
	}
	if (spool->write_fd >= 0)
		close(spool->write_fd);
	if (spool->read_fd >= 0)
		close(spool->read_fd);
	pthread_mutex_destroy(&spool->lock);
	pthread_cond_destroy(&spool->cond);
	pthread_cond_destroy(&spool->commit_cond);
	free(spool->dir);
	free(spool);
}
