/* ingest: the running ct-ingest, shared by main.c (configuration, start, stop) and
 * ingest_handle.c (what the loop does with each message). */
#ifndef INGEST_H
#define INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_service.h"
#include "ct_spool.h"
#include "ingest_lots.h"
#include "ingest_validate.h"

#define SERVICE_NAME "ingest"

struct ingest_config {
	long max_payload_kib;
	long deadletter_payload_kib;
	long dedup_capacity;
	long max_future_s;
	long max_past_s;
	long batch_records;
};

/* Per-process state of the loop. */
struct ingest {
	struct ct_service svc;
	struct ct_loop loop;
	struct ingest_config cfg;
	struct ingest_limits limits;
	struct ct_dedup *seen;    /* recent event IDs */
	struct ingest_lots *lots; /* held lots, from spc-gate's lot status */
	/* Copy of the held-lot set as it was at the last spool commit (taken before the first
	 * lot message after it), to handle everything since then again after a failure. */
	struct ingest_lots *lots_at_batch_start;
	char producer[CT_ID_MAX + 16];
	/* Counters for the periodic log line. */
	unsigned long accepted, duplicates, dead_lettered, flagged;
};

/* ct_loop's handlers (ingest_handle.c). handle_batch handles every message of a batch:
 * decode, validate, drop duplicates, publish canonical or dead letter. */
int ingest_handle_batch(void *ctx, const struct ct_spool_batch *batch, void **ret_job);
/* Everything since the last commit is handled again: held lots as they were then, an empty
 * duplicate filter. */
int ingest_rewind(void *ctx);

#endif
