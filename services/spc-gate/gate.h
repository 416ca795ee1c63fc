/* gate: the running spc-gate: its configuration and state, shared by the loop (main.c) and
 * what it publishes (gate_out.c). */
#ifndef GATE_H
#define GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_config.h"
#include "ct_dedup.h"
#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "ct_topic.h"
#include "gate_charts.h"
#include "gate_db.h"
#include "gate_lots.h"
#include "gate_spec.h"

#define SERVICE_NAME   "spc-gate"
#define VERDICT(x)     CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_##x
#define COMMAND(x)     CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_##x
#define DEAD_LETTER(x) CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##x

struct gate_saver;

struct gate_config {
	char *pg_conninfo;
	char *pg_password;
	long batch_records;
	long batch_kib;
	long max_payload_kib;
	long alert_holdoff_s;
	long judged_keep_days;
	long dedup_window;
	long command_ttl_s;
	long max_chart_states;
	long new_streams_per_min;
};

/* One decoded message of a batch. */
struct decoded {
	ProtobufCMessage *msg;
	bool is_genealogy;
};

struct gate {
	struct ct_service svc;
	struct ct_loop loop;
	struct gate_config cfg;
	struct ct_pg *pg;
	unsigned long pg_generation;
	struct gate_spec_set specs;
	struct gate_charts charts;
	struct gate_lots lots;
	struct gate_pending pending;
	struct ct_dedup *recent;
	struct decoded *decoded;
	size_t decoded_cap;
	bool check_judged;    /* the first batches after a start may have been judged already */
	bool verdicts_failed; /* no memory for this batch's verdicts: judge it again */
	bool commits_blocked; /* a batch was not saved (shutdown): commit nothing after it */
	struct gate_saver *saver;
	/* The VerdictBatch being built for the input message in hand (encoded bytes). */
	struct verdict_batch {
		char topic[CT_TOPIC_MAX];
		uint8_t *buf;
		size_t len, cap;
	} verdicts;
	bool reload_config, reload_lots, undo_wanted;
	char producer[CT_ID_MAX + 16];
	int64_t now_us;
	int64_t next_prune_ms;   /* when judged IDs older than gate.judged_keep_days go next */
	uint64_t refused_logged; /* charts.stats.refused when refusals were last logged */
	int64_t next_refusal_log_ms;
	unsigned long judged, failed, signals, commands, holds;
};

/* ---- gate_loop.c: ct_loop's handlers (contracts in ct_loop.h) ---- */

/* Loads configuration, chart states and held lots, publishes pending lot changes and undos:
 * what a gate needs before it judges anything. Returns CT_OK or the error (logged). */
int gate_start(struct gate *g);
int gate_tick(void *ctx);
bool gate_has_work(void *ctx);
int gate_handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job);
int gate_acked(void *ctx, void *job);
void gate_discard(void *ctx, void *job);
int gate_rewind(void *ctx, void *const *jobs, size_t n_jobs);
int gate_finish(void *ctx);
void gate_report(void *ctx);
/* Logs the live chart set: instances, bound, peak, created, reloaded, evicted, refused. */
void gate_report_charts(struct gate *g);
/* gate_charts' loader (ctx is the struct gate): the saved row of a stream, from the loop's
 * connection. A failure is logged here: CT_ERR_AGAIN for a lost connection (gate_handle
 * then has the loop judge again from the last save), CT_ERR_IO for any other (it stops). */
int gate_load_stream(void *ctx, const char *chart_id, const char *site, const char *line,
                     const char *station, const char *recipe, struct gate_saved_state *ret,
                     bool *ret_found);

/* ---- gate_out.c: everything spc-gate publishes ---- */

/* Publishes msg (QoS 1); a failure makes the loop judge everything since the last save
 * again. */
void gate_publish(struct gate *g, const char *topic, const ProtobufCMessage *msg, bool retain);
/* Waits until every publish is acknowledged (ct_loop_flush). */
int gate_flush(struct gate *g);
/* Publishes a DeadLetter of spc-gate's own. */
void gate_dead_letter(struct gate *g, const char *topic, int code, const char *reason,
                      const void *payload, size_t len);
/* Adds the verdict on one result to the VerdictBatch of its station's verdict topic;
 * gate_flush_verdicts publishes it (after each input message, so a station's commands and
 * alerts, published while judging, go out before the verdicts). */
void gate_publish_verdict(struct gate *g, const Cellthread__V1__StationResult *r,
                          const struct gate_judgement *j, const struct gate_lot_outcome *lo,
                          const char *inspection_reason);
void gate_flush_verdicts(struct gate *g);
/* gate_charts' signal callback (ctx is the struct gate): logs the signal, takes the
 * reaction plan's step (command, action log), publishes the alert. */
void gate_on_signal(void *ctx, const struct gate_signal *s, const Cellthread__V1__StationResult *r);
/* Publishes (retained) every lot status change not yet published, and marks them. */
void gate_publish_lot_changes(struct gate *g);
/* Sends the inverse command of every automatic action an engineer asked to undo. */
void gate_process_undos(struct gate *g);

#endif
