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
	char *plant_file; /* the plant registry (ct_plant.h); NULL: any station */
};

/* Per-process state of the loop. */
struct ingest {
	struct ct_service svc;
	struct ct_loop loop;
	struct ingest_config cfg;
	struct ingest_limits limits;
	struct ct_plant *plant;   /* the plant registry, or NULL */
	struct ct_dedup *seen;    /* recent event IDs */
	struct ingest_lots *lots; /* held lots, from spc-gate's lot status */
	/* Copy of the held-lot set as it was before the batch in hand changed it (taken at the
	 * batch's first lot message), handed to the loop as the batch's job for rewinds. */
	struct ingest_lots *batch_start_lots;
	/* Counters for the periodic log line. */
	unsigned long accepted, duplicates, conflicts, dead_lettered, flagged;
};

/* ct_loop's handlers (ingest_handle.c). handle_batch handles every message of a batch:
 * decode, validate, drop duplicates, publish canonical or dead letter; a batch that changes
 * the held-lot set returns the set as it was before as its job. */
int ingest_handle_batch(void *ctx, const struct ct_spool_batch *batch, void **ret_job);
/* Everything since the last commit is handled again: held lots as they were then (the
 * oldest job), an empty duplicate filter. */
int ingest_rewind(void *ctx, void *const *jobs, size_t n_jobs);
/* Frees a job (a copy of the held-lot set). */
void ingest_discard(void *ctx, void *job);

#endif
