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
 * Thread safety: ct_spool_append may be called from any thread; read, commit and free from
 * one consumer thread. */
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
/* Appends one message. Thread-safe. Returns CT_OK, CT_ERR_TOO_BIG or CT_ERR_IO. */
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
/* Bytes appended but not yet committed (backlog), for status and flow decisions. */
uint64_t ct_spool_backlog_bytes(struct ct_spool *spool);
void ct_spool_batch_cleanup(struct ct_spool_batch *batch);
/* Closes the spool; NULL is a no-op. Uncommitted records stay on disk for the next open. */
void ct_spool_free(struct ct_spool *spool);

#endif
