/* ct_trace: trace-back and trace-forward queries over the digital thread (library ct_trace,
 * services/trace), shared by ct-traveler (MQTT request/response) and the `cellthread`
 * command-line tool.
 *
 * Responses are heap TraceResponse messages built so that protobuf_c_message_free_unpacked
 * frees them (every string and array individually allocated): a response built here and one
 * unpacked from MQTT are freed the same way, with ct_trace_response_free. */
#ifndef CT_TRACE_H
#define CT_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "ct_pb.h"
#include "ct_pg.h"

struct ct_trace_limits {
	unsigned max_depth;  /* genealogy levels walked, e.g. 32 */
	unsigned max_nodes;  /* nodes returned before `truncated`, e.g. 100000 */
	unsigned max_visits; /* station visits returned (back), e.g. 5000 */
};

void ct_trace_limits_init(struct ct_trace_limits *limits);

/* Runs a trace of `id` (a unit or a lot). A database failure returns CT_ERR_PG with the
 * reason in err; an unknown ID is not a failure: *ret has ok=false and an error text.
 * *ret is set only on CT_OK. */
int ct_trace_run(struct ct_pg *pg, Cellthread__V1__TraceDirection direction, const char *id,
                 const struct ct_trace_limits *limits, Cellthread__V1__TraceResponse **ret,
                 char *err, size_t err_len);
void ct_trace_response_free(Cellthread__V1__TraceResponse *response);

/* Loads the verdicts stored for the n unit IDs (table unit_verdict), oldest first, at most
 * `limit`, appending them to *verdicts / *n_verdicts (heap messages, each freed with
 * protobuf_c_message_free_unpacked, as a TraceResponse's are); *ret_truncated is set when
 * there were more. Returns CT_OK, or CT_ERR_PG / CT_ERR_NOMEM with the reason in err (what
 * was appended before the failure stays appended, for the caller to free). */
int ct_trace_verdicts_load(struct ct_pg *pg, char *const *unit_ids, size_t n, unsigned limit,
                           Cellthread__V1__Verdict ***verdicts, size_t *n_verdicts,
                           bool *ret_truncated, char *err, size_t err_len);
/* "pass", "fail", "rework", "scrap" or "unspecified". */
const char *ct_trace_verdict_name(int verdict);
/* A verdict as a JSON object (new reference), NULL when out of memory: {event_id, producer,
 * unit_id, unit_kind, site, line, station, source_event_id, verdict, failed: [{characteristic,
 * value, lsl, usl, unit, reason}], inspection_reason, held_lots, decided_at}; numbers that
 * are absent (a one-sided spec) or not finite are null. */
json_t *ct_trace_verdict_to_json(const Cellthread__V1__Verdict *verdict);
/* One verdict as text lines, each starting with indent. */
void ct_trace_verdict_print(const Cellthread__V1__Verdict *verdict, const char *indent, FILE *out);

/* JSON text of a response (malloc'ed, NUL-terminated), or NULL when out of memory. */
char *ct_trace_to_json(const Cellthread__V1__TraceResponse *response);
/* Human-readable report of a response. */
void ct_trace_print(const Cellthread__V1__TraceResponse *response, FILE *out);

#endif
