/* traveler: the running ct-traveler, shared by main.c (configuration, start, stop) and
 * traveler_loop.c (what the loop does with each batch). */
#ifndef TRAVELER_H
#define TRAVELER_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "ct_topic.h"
#include "traveler_store.h"
#include "ct_trace.h"
#include "traveler_trace.h"

#define SERVICE_NAME    "traveler"
#define RPC_TRACE_TOPIC CT_TOPIC_ROOT "/sys/rpc/traveler/trace"

struct traveler_config {
	char *pg_conninfo;
	char *pg_password;
	long batch_records;
	long batch_kib;
	long max_payload_kib;
	long max_trace_depth;
	long max_trace_nodes;
	long trace_queue;
	long trace_per_client;
};

/* One decoded message of a batch. */
struct decoded {
	struct traveler_item item;
	ProtobufCMessage *msg;
	bool is_trace;
};

struct traveler {
	struct ct_service svc;
	struct ct_loop loop;
	struct traveler_config cfg;
	struct ct_pg *pg;
	struct traveler_store *store;
	struct ct_trace_limits limits;
	struct traveler_tracer *tracer; /* answers trace requests on its own thread */
	struct decoded *decoded;
	size_t decoded_cap;
	struct traveler_item *items; /* the stored messages of the batch in hand */
	int64_t next_partition_check_ms;
	char producer[CT_ID_MAX + 16];
	unsigned long stored_events, duplicate_events, refused_events;
};

/* ct_loop's handlers (traveler_loop.c). handle stores a batch's messages in one transaction
 * (retrying while the database is away) and hands its trace requests to the tracer (or
 * refuses them at once when a limit is reached); tick keeps the
 * database connection and the measurement partitions. */
int traveler_handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job);
int traveler_tick(void *ctx);
void traveler_report(void *ctx);

#endif
