/* ct_loop: the one loop every consuming service runs: read a batch from the durable spool,
 * handle it (decode, work, publish), and commit its spool position only once the broker has
 * acknowledged everything published while handling it (and, for a service that also saves
 * the batch, once it is saved).
 *
 * Why it is shaped this way (docs/architecture.md, "No loss"):
 * - Paho acknowledges a message to the broker before the service sees it; the spool is the
 *   durability point. A batch's position is committed only after its effects are safe
 *   downstream, so a kill -9 replays at most what was not yet safe, and every consumer is
 *   idempotent by event ID.
 * - The loop does not wait for acknowledgements: it marks the publish stream after each
 *   batch (ct_mqtt_mark) and reads the next batch meanwhile; a PUBACK completing the oldest
 *   awaited batch wakes the spool read, so nothing polls.
 * - When the broker does not take a batch's messages (a failed publish, or a batch waiting
 *   longer than loop.publish_timeout_s), everything since the last commit is handled again:
 *   the loop settles what is in flight, asks the service to undo in memory what those
 *   batches did (handlers.rewind, given their jobs), drops the jobs and rewinds the spool.
 *   The same inputs give the same derived IDs, so downstream sees duplicates, never losses.
 * - A clean stop (SIGTERM) commits what the broker has taken; the rest is replayed at start.
 * - Progress is visible: every commit, and every turn with nothing to do and nothing waiting,
 *   is the status's last_progress_at_us (ct_mqtt_note_progress), so a loop stuck while input
 *   waits shows in the retained status and the health check. The loop goes on working off
 *   its spool while input is paused for a full disk (ct_mqtt.h): its commits give the space
 *   back.
 *
 * Threads: everything here runs on the service's loop thread. Handlers may publish with
 * ct_loop_publish / ct_loop_publish_raw. */
#ifndef CT_LOOP_H
#define CT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_pb.h"
#include "ct_service.h"
#include "ct_spool.h"

/* Batches handled and not yet acknowledged, at most: a full queue means the broker is far
 * behind, and the loop waits for it rather than grow. */
#define CT_LOOP_MAX_AWAITING 64

struct ct_loop;

/* What a service plugs into the loop. ctx is the service's own state. Only handle is
 * required. */
struct ct_loop_handlers {
	/* Handles one batch (batch->count may be 0 when has_work asked for a turn): decode,
	 * work, publish with ct_loop_publish. Refused input is dead-lettered here, not returned.
	 * *ret_job (NULL on entry) may be set to something of the service's that travels with
	 * the batch: to acked once the batch's publishes are acknowledged, to rewind if the batch
	 * is handled again, and to discard in the end. It may be set even when handle fails; the
	 * loop owns it from then on. Returns CT_OK; CT_ERR_UNACKED (or any MQTT/timeout error)
	 * when a publish failed: everything since the last commit is handled again; any other
	 * error stops the service. */
	int (*handle)(void *ctx, const struct ct_spool_batch *batch, void **ret_job);
	/* Everything published while handling the batch that made job is acknowledged. NULL: the
	 * loop commits the batch's spool position itself (and then discards the job). Otherwise
	 * the service owns job now and commits the position later (ct_loop_commit) once the batch
	 * is safe (saved). Not called for a NULL job. Returns CT_OK or an error to stop with. */
	int (*acked)(void *ctx, void *job);
	/* Frees a job (committed, handled again after a rewind, or left at stop). */
	void (*discard)(void *ctx, void *job);
	/* Undoes in memory what the batches since the last commit did, so they can be handled
	 * again as after a restart. jobs are those batches' jobs, oldest first (NULL where a
	 * batch made none), still owned by the loop, which discards them afterwards. Called after
	 * the in-flight publishes settled, before the spool rewinds. Returns CT_OK or an error to
	 * stop with. */
	int (*rewind)(void *ctx, void *const *jobs, size_t n_jobs);
	/* Called every turn before the read (database notifications, finished saves, timers).
	 * Returns CT_OK; CT_ERR_AGAIN to skip this turn's read; else an error to stop with. */
	int (*tick)(void *ctx);
	/* True when handle should run this turn even if no record arrived. */
	bool (*has_work)(void *ctx);
	/* Logs the service's periodic status line (every 30 s). */
	void (*report)(void *ctx);
	/* At the stop, after what the broker acknowledged went to acked or was committed: the
	 * last chance to save and commit. Returns CT_OK or an error (the exit code says so). */
	int (*finish)(void *ctx);
};

struct ct_loop_options {
	size_t batch_records; /* records read per batch at most */
	size_t batch_bytes;   /* payload bytes read per batch at most (at least one record) */
};

/* The loop's state. Caller-owned storage; read it only through the functions below. */
struct ct_loop {
	struct ct_service *svc;
	const struct ct_loop_handlers *handlers;
	void *ctx;
	struct ct_loop_options options;
	int publish_timeout_ms;
	bool publish_failed; /* a publish since the last settle did not reach the broker */
	void *failed_job;    /* the job of a batch whose handling failed, for rewind */
	struct {
		void *job;
		bool has_position;
		uint64_t end_segment, end_offset;
		struct ct_mqtt_mark mark;
		int64_t since_ms;
	} awaiting[CT_LOOP_MAX_AWAITING];
	size_t n_awaiting;
};

/* Sets up loop for svc (started with ct_service_start) with the service's handlers and ctx;
 * the publish timeout comes from svc's config (loop.publish_timeout_s). Can't fail. */
void ct_loop_init(struct ct_loop *loop, struct ct_service *svc,
                  const struct ct_loop_options *options, const struct ct_loop_handlers *handlers,
                  void *ctx);
/* Runs until SIGTERM/SIGINT (ct_service_stop) or a fatal error. Returns CT_OK after a clean
 * stop, else the error that stopped it (already logged). */
int ct_loop_run(struct ct_loop *loop);

/* Encodes msg and publishes it (QoS 1), waiting at most the publish timeout for flow
 * control. A failure (including no memory to encode) is remembered: the loop then handles
 * everything since the last commit again. A message no broker would take (its topic is not
 * UTF-8) is refused with CT_ERR_INVALID and not remembered: handling it again would fail the
 * same way. Returns CT_OK, CT_ERR_NOMEM, CT_ERR_INVALID or CT_ERR_UNACKED. */
int ct_loop_publish(struct ct_loop *loop, const char *topic, const ProtobufCMessage *msg,
                    bool retain);
/* The same for bytes already encoded. */
int ct_loop_publish_raw(struct ct_loop *loop, const char *topic, const void *payload, size_t len,
                        bool retain);
/* Publishes what the service refused and why: a DeadLetter (the service, its producer
 * "<service>-<instance>", source_topic, reason_code and reason, when it was received, and the
 * first keep_bytes of payload, with payload_size its whole size) on
 * ct/v1/sys/deadletter/<service>, as ct_loop_publish does; logs it once as a warning. payload
 * may be NULL. */
int ct_loop_dead_letter(struct ct_loop *loop, const char *source_topic, int reason_code,
                        const char *reason, const void *payload, size_t len, size_t keep_bytes);
/* Waits until every publish so far is acknowledged. Returns CT_OK or CT_ERR_UNACKED (also
 * remembered, as for ct_loop_publish). */
int ct_loop_flush(struct ct_loop *loop);
/* Commits a spool position (a batch's end) by the spool's own thread; for services whose
 * acked handler keeps the job until it is saved. Returns CT_OK or CT_ERR_IO. */
int ct_loop_commit(struct ct_loop *loop, uint64_t end_segment, uint64_t end_offset);
/* Batches handled whose publishes are not yet all acknowledged. */
size_t ct_loop_awaiting(const struct ct_loop *loop);
/* The publish timeout in milliseconds (loop.publish_timeout_s). */
int ct_loop_publish_timeout_ms(const struct ct_loop *loop);

#endif
