/* What the read handlers (api_query_*.c) share: statement arguments, the time range and the
 * paging of lists, and the SQL of the list envelope.
 *
 * Every read endpoint is one parameterised statement (a few for the charts) that builds its
 * JSON in PostgreSQL; the C side validates the arguments, turns them into parameter text and
 * passes the result through (api_json_query). Times go in as integer microseconds
 * (ct_api_at() in SQL) and come out as integer milliseconds (ct_api_ms()), both from
 * migration 0010. */
#ifndef CT_API_QUERY_H
#define CT_API_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

#define QUERY_MAX_ARGS 16

/* A statement's parameters: values[i] is NULL (SQL NULL) or points into text[i] or at a
 * string that outlives the statement (a query argument). Caller-owned, no heap. */
struct query_args {
	const char *values[QUERY_MAX_ARGS];
	char text[QUERY_MAX_ARGS][32]; /* %.17g of -4.9406564584124654e-324 is 24 bytes */
	int n;
};

void query_args_init(struct query_args *a);
/* Appends a string (NULL: SQL NULL), an integer or a double. The statement's $n is the n-th
 * appended. More than QUERY_MAX_ARGS is a programming error (abort). */
void query_arg_str(struct query_args *a, const char *s);
void query_arg_long(struct query_args *a, long long v);
void query_arg_double(struct query_args *a, double v);

/* from and to (api_param_time_us): to defaults to now, from to to - 1 h; from <= to and at
 * most 400 days apart, else a 400. */
struct query_range {
	int64_t from_us, to_us;
};
bool query_range(struct api_call *call, struct query_range *ret);
/* The same with from defaulting to to - default_span_us (the metrics look back further). */
bool query_range_span(struct api_call *call, int64_t default_span_us, struct query_range *ret);

/* limit (1-1000, default 100) and offset (0-100000, default 0). */
struct query_page {
	long limit, offset;
};
bool query_page(struct api_call *call, struct query_page *ret);

/* The list envelope: {"items": [...], "limit": L, "offset": O, "next_offset": N|null}. A list
 * statement is LIST_HEAD "<SELECT ... AS item ... ORDER BY ... LIMIT $1 + 1 OFFSET $2>"
 * LIST_TAIL with $1 the limit and $2 the offset (query_arg_long first); one row more than
 * the page says whether there is a next one. Items keep the inner ORDER BY: row_number()
 * OVER () numbers the rows as the subquery delivers them, which PostgreSQL keeps for a window
 * without an order of its own (tests/browser/api.mjs pages through lists 7 at a time and
 * finds every item once). */
#define LIST_HEAD                                                                                  \
	"SELECT json_build_object('items', coalesce(json_agg(p.item ORDER BY p.rn) "               \
	"FILTER (WHERE p.rn <= $1::int), '[]'), 'limit', $1::int, 'offset', $2::int, "             \
	"'next_offset', CASE WHEN count(*) > $1::int THEN $1::int + $2::int END) "                 \
	"FROM (SELECT row_number() OVER () AS rn, i.item FROM ("
#define LIST_TAIL ") i) p"

/* The JSON of an alert row `a` (alerts, alerts/{id}, overview) and of a lot_status row `l`
 * (lots, overview): one definition each. */
#define ALERT_JSON                                                                                 \
	"json_build_object('alert_id', a.alert_id, 'source', a.source, 'code', a.code, "           \
	"'object_kind', a.object_kind, 'object_id', a.object_id, 'site', a.site, "                 \
	"'line', a.line, 'station', a.station, 'severity', a.severity, 'text', a.text, "           \
	"'state', a.state, 'shelved', a.shelved, "                                                 \
	"'shelved_until_ms', ct_api_ms(a.shelved_until), 'suppressed', a.suppressed, "             \
	"'out_of_service', a.out_of_service, 'count', a.count, 'last_value', a.last_value, "       \
	"'raised_ms', ct_api_ms(a.raised_at), 'acked_ms', ct_api_ms(a.acked_at), "                 \
	"'acked_by', a.acked_by, 'cleared_ms', ct_api_ms(a.cleared_at))"
#define LOT_JSON                                                                                   \
	"json_build_object('site', l.site, 'lot_id', l.lot_id, "                                   \
	"'state', (ARRAY['released', 'held', 'quarantined'])[l.state], 'reason', l.reason, "       \
	"'changed_by', l.changed_by, 'changed_ms', ct_api_ms(l.changed_at), "                      \
	"'held_units', (SELECT count(*) FROM held_unit h "                                         \
	"WHERE h.site = l.site AND h.lot_id = l.lot_id))"

/* An inspection item (inspection_item i) and an automatic action (automatic_action x), as
 * the lists and the actions that change them answer. */
#define INSPECTION_JSON                                                                            \
	"json_build_object('item_id', i.item_id, 'unit_id', i.unit_id,"                            \
	" 'unit_kind', i.unit_kind, 'site', i.site, 'line', i.line, 'station', i.station,"         \
	" 'queue', i.queue, 'cause', i.cause, 'reason', i.reason, 'verdict', i.verdict,"           \
	" 'entered_ms', ct_api_ms(i.entered_at), 'disposition', i.disposition,"                    \
	" 'disposed_by', i.disposed_by, 'disposed_ms', ct_api_ms(i.disposed_at),"                  \
	" 'disposition_reason', i.disposition_reason)"
#define ACTION_JSON                                                                                \
	"json_build_object('command_id', x.command_id, 'alert_id', x.alert_id,"                    \
	" 'chart_id', x.chart_id, 'site', x.site, 'line', x.line, 'station', x.station,"           \
	" 'kind', x.kind, 'parameter', x.parameter, 'target_value', x.target_value,"               \
	" 'delta', x.delta, 'uom', x.uom, 'reason_code', x.reason_code,"                           \
	" 'reason_text', x.reason_text, 'cause_event_id', x.cause_event_id,"                       \
	" 'decided_ms', ct_api_ms(x.decided_at), 'undo_requested_by', x.undo_requested_by,"        \
	" 'undo_requested_ms', ct_api_ms(x.undo_requested_at),"                                    \
	" 'undo_reason', x.undo_reason, 'undo_command_id', x.undo_command_id,"                     \
	" 'undone_ms', ct_api_ms(x.undone_at))"

#endif
