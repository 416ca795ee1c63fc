/* gate_saver: saves spc-gate's batches from a thread of its own, so the loop that judges
 * results and publishes commands never waits for PostgreSQL.
 *
 * The loop hands over each batch's rows as a job (gate_pending, with the batch's spool
 * position); the saver, on its own connection, writes every job waiting at that moment in
 * one transaction, retrying through lost connections, and hands the jobs back in the order
 * they came. The loop commits a job's spool position only when it comes back: nothing is
 * acknowledged upstream that is not in the database. Jobs are idempotent (ON CONFLICT), so a
 * retry after a COMMIT whose answer was lost adds nothing. */
#ifndef GATE_SAVER_H
#define GATE_SAVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ct_spool.h"
#include "gate_db.h"

struct gate_saver;

/* Starts the thread; conninfo and password as for ct_pg_new. max_queued: jobs waiting at
 * most before gate_saver_submit blocks (back-pressure). wake: the spool the loop reads,
 * woken (ct_spool_wake) whenever jobs come back, so the loop needs no polling; may be NULL.
 * Returns NULL on failure. */
struct gate_saver *gate_saver_new(const char *conninfo, const char *password, size_t max_queued,
                                  struct ct_spool *wake, volatile sig_atomic_t *stop_flag);
/* Queues a job (ownership passes to the saver until it comes back from gate_saver_done).
 * Waits while max_queued jobs are queued. */
void gate_saver_submit(struct gate_saver *saver, struct gate_pending *job);
/* The oldest finished job, or NULL. job->error is non-empty when the database refused it. */
struct gate_pending *gate_saver_done(struct gate_saver *saver);
/* Jobs submitted and not yet returned by gate_saver_done. */
size_t gate_saver_outstanding(struct gate_saver *saver);
/* Waits until every submitted job is finished (or stop is set). */
void gate_saver_drain(struct gate_saver *saver);
/* Saves what is queued (unless stop was set before it could), stops the thread, and frees
 * the saver with every job it still holds. NULL is a no-op. */
void gate_saver_free(struct gate_saver *saver);

#endif
