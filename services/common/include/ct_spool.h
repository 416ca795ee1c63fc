/* ct_spool: a durable on-disk inbox between the MQTT client thread and a service's loop.
 *
 * Paho C acknowledges a QoS 1 message to the broker before handing it to the application,
 * so whatever the application holds only in memory is lost if the process dies. The
 * runtime therefore appends every received message to a spool (append-only segment files
 * in one directory) from Paho's callback, and the service's main loop reads records back
 * in order, processes them (stores them, publishes them) and only then commits its read
 * position. After a crash the service resumes at the last committed position: nothing
 * received is lost, and records processed but not committed are processed again, which
 * is why every consumer is idempotent by event ID.
 *
 * write() puts the record in the kernel's page cache, which survives the death of the
 * process (kill -9); with `sync` set, ct_spool_commit also fdatasync()s so the spool
 * survives power loss up to the last commit.
 *
 * Record layout: u32 magic, u32 topic length, u32 payload length, u32 CRC-32 of topic and
 * payload, topic bytes, payload bytes. A torn record at the tail (crash mid-write) is
 * detected by length or CRC on open and cut off.
 *
 * Disk full: a record Paho has acknowledged must never be refused, so the spool keeps a
 * reserve of free space on its file system (ct_spool_set_reserve) for what arrives while the
 * service stops reading from the broker. The free space is measured (statvfs) at every new
 * segment, every reserve/8 bytes appended and by ct_spool_check_space; below the reserve the
 * spool says it is low (ct_spool_is_low) and still takes every record. Should the disk fill
 * up completely all the same (ENOSPC, EDQUOT: another process filled it), ct_spool_append
 * keeps the record in memory and writes it, in order before any later one, as soon as space
 * returns (ct_spool_check_space); only then are those records durable. The spool stays low
 * until the free space is back above the reserve plus a margin (half the reserve, at least
 * two segments), so a service does not flap between pausing and resuming. A commit whose
 * cursor cannot be written for lack of space is retried by the committer thread, not failed.
 *
 * Thread safety: ct_spool_append, ct_spool_is_low, ct_spool_space, ct_spool_check_space and
 * ct_spool_set_reserve may be called from any thread; read, commit and free from one consumer
 * thread. */
#ifndef CT_SPOOL_H
#define CT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_spool;

struct ct_spool_record {
	const char *topic;      /* NUL-terminated, points into the batch buffer */
	const uint8_t *payload; /* points into the batch buffer */
	size_t payload_len;
};

/* Records read by one ct_spool_read; valid until the next read or cleanup. */
struct ct_spool_batch {
	struct ct_spool_record *records;
	size_t count;
	/* Position after the last record, committed by ct_spool_commit. */
	uint64_t end_segment;
	uint64_t end_offset;
	/* Owned storage. */
	uint8_t *buf;
	size_t buf_cap;
	size_t records_cap;
};

/* Opens (creating if needed) the spool in dir. segment_bytes: size at which appends start a
 * new segment. Returns NULL on failure with the reason in err. */
struct ct_spool *ct_spool_open(const char *dir, size_t segment_bytes, bool sync, char *err,
                               size_t err_len);
/* Appends one message. Thread-safe. A disk that is full (ENOSPC, EDQUOT) does not refuse it:
 * it is held in memory and written later (see the top of this file). Returns CT_OK,
 * CT_ERR_TOO_BIG, CT_ERR_NOMEM (no memory to hold it, or more than 256 MiB held already) or
 * CT_ERR_IO (another write error). */
int ct_spool_append(struct ct_spool *spool, const char *topic, const void *payload,
                    size_t payload_len);
/* Reads up to max_records uncommitted-and-unread records (at most about max_bytes of
 * payload, but always at least one) into batch, waiting up to timeout_ms for the first.
 * Returns CT_OK (batch->count may be 0 on timeout or after ct_spool_wake), CT_ERR_NOMEM,
 * CT_ERR_IO or CT_ERR_CORRUPT. */
int ct_spool_read(struct ct_spool *spool, size_t max_records, size_t max_bytes, int timeout_ms,
                  struct ct_spool_batch *batch);
/* Marks everything up to the end of batch as done: persists the position, deletes
 * segments wholly before it. Returns CT_OK or CT_ERR_IO. */
int ct_spool_commit(struct ct_spool *spool, const struct ct_spool_batch *batch);
/* The same, written by a thread of the spool's own, so the caller never waits for the disk
 * (a new cursor file and a rename: milliseconds on a busy disk, time a message arriving
 * meanwhile would wait). The newest position asked for wins; one not yet written when the
 * process dies is replayed at the next start, like any uncommitted batch. Returns CT_OK, or
 * the error of an earlier background write. A spool uses either this or ct_spool_commit. */
int ct_spool_commit_async(struct ct_spool *spool, const struct ct_spool_batch *batch);
/* Rewinds reading to the last committed position (after a failed batch, to retry). */
void ct_spool_rewind(struct ct_spool *spool);
/* Wakes a reader blocked in ct_spool_read (for shutdown). Thread-safe. */
void ct_spool_wake(struct ct_spool *spool);
/* The spool's directory (for messages). */
const char *ct_spool_dir(const struct ct_spool *spool);
/* Bytes appended but not yet committed (backlog), for status and flow decisions. */
uint64_t ct_spool_backlog_bytes(struct ct_spool *spool);

/* The spool's free-space state. */
struct ct_spool_space {
	uint64_t free_bytes;    /* free on the file system for this user, as last measured */
	uint64_t reserve_bytes; /* ct_spool_set_reserve */
	uint64_t backlog_bytes; /* received and not committed, held records included */
	uint64_t held_bytes;    /* received and held in memory: the disk was full */
	size_t held_records;
	bool low; /* below the reserve (until back above it plus the margin), or records held */
};
/* Sets the free space to keep on the spool's file system (0: none; the spool is then low only
 * when a write fails for lack of space) and measures it. Thread-safe. */
void ct_spool_set_reserve(struct ct_spool *spool, uint64_t min_free_bytes);
/* True while the spool is low on space (see struct ct_spool_space). Thread-safe, no system
 * call: cheap enough for Paho's message callback. */
bool ct_spool_is_low(struct ct_spool *spool);
/* The state as last measured, without measuring. Thread-safe. */
void ct_spool_space(struct ct_spool *spool, struct ct_spool_space *ret);
/* Measures the free space now, writes held records while there is room, and decides whether
 * the spool is still low; *ret gets the result. Thread-safe. Returns CT_OK, or CT_ERR_IO when
 * the file system cannot be measured (ret then holds the previous measurement). */
int ct_spool_check_space(struct ct_spool *spool, struct ct_spool_space *ret);
void ct_spool_batch_cleanup(struct ct_spool_batch *batch);
/* Closes the spool; NULL is a no-op. Uncommitted records stay on disk for the next open;
 * records still held in memory are written if there is room now, else they are lost, and an
 * error says how many. */
void ct_spool_free(struct ct_spool *spool);

#endif
