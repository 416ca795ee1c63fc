/* ct_spool: durable on-disk inbox (see ct_spool.h for the contract).
 *
 * Files in the spool directory:
 *   NNNNNNNNNNNNNNNNNNNN.seg  segments, numbered consecutively; records are appended to the
 *                             newest only, so only the newest can end in a torn record;
 *   cursor                    "SEG OFFSET\n" of the first uncommitted record, replaced
 *                             atomically (write temp + rename).
 * The writer (any thread) and the reader (the service loop) share only the writer's
 * position, under `lock`; the reader reads finished bytes with pread and never blocks the
 * writer for longer than a position snapshot. */
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_log.h"

#define RECORD_MAGIC 0x43545350u /* "CTSP" */
#define HEADER_BYTES 16
#define MAX_TOPIC    1024
#define MAX_PAYLOAD  (64u * 1024 * 1024)

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
};

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

static int write_cursor(struct ct_spool *spool, uint64_t seq, uint64_t off)
{
	char path[4096], tmp[4096], text[64];
	int fd, n, rc = CT_OK;

	snprintf(path, sizeof(path), "%s/cursor", spool->dir);
	snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", spool->dir);
	n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", seq, off);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return CT_ERR_IO;
	if (write(fd, text, (size_t)n) != n)
		rc = CT_ERR_IO;
	if (rc == CT_OK && spool->sync && fdatasync(fd) != 0)
		rc = CT_ERR_IO;
	close(fd);
	if (rc == CT_OK && rename(tmp, path) != 0)
		rc = CT_ERR_IO;
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
	return spool;
fail_nomem:
	ct_set_error(err, err_len, CT_ERR_NOMEM, "spool: out of memory");
fail:
	ct_spool_free(spool);
	return NULL;
}

int ct_spool_append(struct ct_spool *spool, const char *topic, const void *payload,
                    size_t payload_len)
{
	uint8_t header[HEADER_BYTES];
	size_t topic_len = strlen(topic);
	size_t total = HEADER_BYTES + topic_len + payload_len;
	struct iovec iov[3];
	size_t done = 0;
	int rc = CT_OK;

	if (topic_len > MAX_TOPIC || payload_len > MAX_PAYLOAD)
		return CT_ERR_TOO_BIG;
	put_u32(header, RECORD_MAGIC);
	put_u32(header + 4, (uint32_t)topic_len);
	put_u32(header + 8, (uint32_t)payload_len);
	put_u32(header + 12, record_crc(topic, topic_len, payload, payload_len));

	pthread_mutex_lock(&spool->lock);
	if (spool->write_size >= spool->segment_bytes) {
		int old_fd = spool->write_fd;
		spool->write_seq++;
		if (open_write_segment(spool) != CT_OK) {
			spool->write_seq--;
			spool->write_fd = old_fd;
			rc = CT_ERR_IO;
			goto out;
		}
		/* A commit syncs only the newest segment: the one left behind is synced here, once
		 * per segment, or its tail would miss the next commit's sync. */
		if (spool->sync && fdatasync(old_fd) != 0)
			ct_warn("spool: cannot fdatasync a finished segment: %s", strerror(errno));
		close(old_fd);
	}
	while (done < total) {
		/* Rebuild the vector from `done` so a short write resumes where it stopped. */
		const uint8_t *parts[3] = {header, (const uint8_t *)topic, payload};
		size_t lens[3] = {HEADER_BYTES, topic_len, payload_len};
		size_t skip = done;
		int n = 0;
		ssize_t w;
		for (int i = 0; i < 3; i++) {
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
			/* Leave no torn record behind for the reader. */
			if (ftruncate(spool->write_fd, (off_t)spool->write_size) != 0)
				ct_warn("spool: cannot cut a failed append: %s", strerror(errno));
			rc = CT_ERR_IO;
			goto out;
		}
		done += (size_t)w;
	}
	spool->write_size += total;
	pthread_cond_broadcast(&spool->cond);
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

/* Persists (seq, off) as the committed position and deletes the segments before it. */
static int commit_position(struct ct_spool *spool, uint64_t seq, uint64_t off)
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
		if (fd < 0)
			return CT_ERR_IO;
		rc = fdatasync(fd) == 0 ? CT_OK : CT_ERR_IO;
		close(fd);
		if (rc != CT_OK)
			return rc;
	}
	rc = write_cursor(spool, seq, off);
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
	return commit_position(spool, batch->end_segment, batch->end_offset);
}

/* The committer thread: writes the newest position asked for, until told to quit (after
 * writing what is still wanted). */
static void *committer_main(void *arg)
{
	struct ct_spool *spool = arg;

	pthread_mutex_lock(&spool->lock);
	for (;;) {
		uint64_t seq, off;
		int rc;
		while (!spool->commit_wanted && !spool->committer_quit)
			pthread_cond_wait(&spool->commit_cond, &spool->lock);
		if (!spool->commit_wanted)
			break;
		seq = spool->want_seq;
		off = spool->want_off;
		spool->commit_wanted = false;
		spool->committing = true;
		pthread_mutex_unlock(&spool->lock);
		rc = commit_position(spool, seq, off);
		pthread_mutex_lock(&spool->lock);
		spool->committing = false;
		if (rc != CT_OK)
			spool->commit_error = rc;
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
	/* A background commit still to be written would delete segments the reader is about
	 * to go back to: let it finish first, and rewind to it. */
	while (spool->commit_wanted || spool->committing)
		pthread_cond_wait(&spool->commit_cond, &spool->lock);
	spool->read_seq = spool->commit_seq;
	spool->read_off = spool->commit_off;
	pthread_mutex_unlock(&spool->lock);
}

void ct_spool_wake(struct ct_spool *spool)
{
	pthread_mutex_lock(&spool->lock);
	spool->wake = true;
	pthread_cond_broadcast(&spool->cond);
	pthread_mutex_unlock(&spool->lock);
}

uint64_t ct_spool_backlog_bytes(struct ct_spool *spool)
{
	uint64_t backlog;
	pthread_mutex_lock(&spool->lock);
	if (spool->commit_seq == spool->write_seq)
		backlog = spool->write_size - spool->commit_off;
	else
		backlog = (spool->write_seq - spool->commit_seq) * spool->segment_bytes -
		          spool->commit_off + spool->write_size;
	pthread_mutex_unlock(&spool->lock);
	return backlog;
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
