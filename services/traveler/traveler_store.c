/* traveler_store: digital-thread writes (contract in traveler_store.h).
 *
 * Per batch: BEGIN; insert event IDs, learn which are new; upsert the units seen (sorted
 * by ID, so concurrent instances take row locks in the same order and cannot deadlock);
 * COPY the rows of the new events into each table; COMMIT. Arrays for unnest() are sent
 * as text literals with every element quoted, so no value can break out of them. */
#include "traveler_store.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"

/* An event of the batch. */
struct event_ref {
	const char *event_id;
	const char *kind;
	const char *producer;
	int64_t produced_at_us;
	size_t item; /* index into items */
	size_t sub;  /* result index inside a batch */
	bool is_new; /* set from the RETURNING list */
};

/* A unit seen in the batch. */
struct unit_ref {
	const char *unit_id;
	int kind;
	const char *site;
	const char *line;
	int64_t first_us;
	int64_t last_us;
};

enum table_id {
	T_VISIT,
	T_MEASUREMENT,
	T_PARAMETER,
	T_GENEALOGY,
	T_ENVIRONMENT,
	T_NOTE,
	T_CURVE,
	T_TELEMETRY,
	T_DEAD_LETTER,
	T_VERDICT,
	T_COUNT
};

/* COPY statements in foreign-key order. */
static const char *const copy_sql[T_COUNT] = {
        [T_VISIT] = "COPY station_visit (event_id, unit_id, unit_kind, site, line, station, "
                    "station_type, recipe, recipe_version, operator_id, started_at, ended_at, "
                    "result, held_lots) FROM STDIN",
        [T_MEASUREMENT] = "COPY measurement (event_id, unit_id, site, line, station, "
                          "characteristic, value, uom, measured_at, seq) FROM STDIN",
        [T_PARAMETER] = "COPY process_parameter (event_id, unit_id, name, actual, setpoint, uom, "
                        "seq) FROM STDIN",
        [T_GENEALOGY] = "COPY genealogy (parent_id, child_id, child_kind, material, quantity, "
                        "uom, position, source, station, event_id, assembled_at, seq) FROM STDIN",
        [T_ENVIRONMENT] = "COPY environment_reading (event_id, unit_id, quantity, value, uom, "
                          "sensor, measured_at, seq) FROM STDIN",
        [T_NOTE] = "COPY visit_note (event_id, unit_id, kind, code, severity, author, body, at, "
                   "seq) FROM STDIN",
        [T_CURVE] = "COPY visit_curve (event_id, unit_id, name, x_unit, y_unit, x, y, seq) FROM "
                    "STDIN",
        [T_TELEMETRY] = "COPY telemetry_sample (event_id, site, line, asset, signal, uom, at, "
                        "value) FROM STDIN",
        [T_DEAD_LETTER] = "COPY dead_letter (event_id, service, source_topic, reason_code, "
                          "reason, payload, payload_size, received_at) FROM STDIN",
        [T_VERDICT] = "COPY unit_verdict (event_id, unit_id, site, line, station, "
                      "source_event_id, verdict, failed, inspection_reason, held_lots, "
                      "recipe, recipe_version, decided_at) FROM STDIN",
};

struct traveler_store {
	struct event_ref *events;
	size_t n_events, events_cap;
	struct unit_ref *units;
	size_t n_units, units_cap;
	struct ct_copy copies[T_COUNT];
	/* Text buffers for array parameters. */
	struct ct_copy arrays[6];
};

struct traveler_store *traveler_store_new(void)
{
	struct traveler_store *store = calloc(1, sizeof(*store));
	if (store == NULL)
		return NULL;
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_init(&store->copies[i]);
	for (int i = 0; i < 6; i++)
		ct_copy_init(&store->arrays[i]);
	return store;
}

void traveler_store_free(struct traveler_store *store)
{
	if (store == NULL)
		return;
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_cleanup(&store->copies[i]);
	for (int i = 0; i < 6; i++)
		ct_copy_cleanup(&store->arrays[i]);
	free(store->events);
	free(store->units);
	free(store);
}

static int add_event(struct traveler_store *store, const Cellthread__V1__Header *header,
                     const char *kind, size_t item, size_t sub)
{
	struct event_ref *e;
	{
		struct event_ref *p = ct_array_grow(store->events, &store->events_cap,
		                                    store->n_events + 1, sizeof(*p), 1024);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->events = p;
	}
	e = &store->events[store->n_events++];
	e->event_id = header->event_id;
	e->kind = kind;
	e->producer = header->producer;
	e->produced_at_us = header->produced_at_us;
	e->item = item;
	e->sub = sub;
	e->is_new = false;
	return CT_OK;
}

static int add_unit(struct traveler_store *store, const char *unit_id, int kind, const char *site,
                    const char *line, int64_t at_us)
{
	struct unit_ref *u;
	if (unit_id == NULL || *unit_id == '\0')
		return CT_OK;
	{
		struct unit_ref *p = ct_array_grow(store->units, &store->units_cap,
		                                   store->n_units + 1, sizeof(*p), 1024);
		if (p == NULL)
			return CT_ERR_NOMEM;
		store->units = p;
	}
	u = &store->units[store->n_units++];
	u->unit_id = unit_id;
	u->kind = kind;
	u->site = site;
	u->line = line;
	u->first_us = at_us;
	u->last_us = at_us;
	return CT_OK;
}

static int compare_event_id(const void *a, const void *b)
{
	const struct event_ref *x = a, *y = b;
	int c = strcmp(x->event_id, y->event_id);
	if (c != 0)
		return c;
	return x->item < y->item   ? -1
	       : x->item > y->item ? 1
	                           : (x->sub > y->sub) - (x->sub < y->sub);
}

static int compare_unit_id(const void *a, const void *b)
{
	const struct unit_ref *x = a, *y = b;
	return strcmp(x->unit_id, y->unit_id);
}

/* Appends a quoted array element ("..." with " and \ escaped) to an array literal. */
static void array_add(struct ct_copy *array, const char *text)
{
	/* ct_copy is used here as a plain growable text buffer; fields are not tab-joined
	 * because we write whole literals through ct_copy_text's escaping only for COPY. */
	size_t need = 4 + 2 * strlen(text);
	char *p;
	if (array->failed)
		return;
	if (array->len + need + 2 > array->cap) {
		p = ct_array_grow(array->data, &array->cap, array->len + need + 2, 1, 4096);
		if (p == NULL) {
			array->failed = true;
			return;
		}
		array->data = p;
	}
	p = array->data + array->len;
	*p++ = array->rows ? ',' : '{';
	*p++ = '"';
	for (const char *s = text; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	array->len = (size_t)(p - array->data);
	array->rows++;
}

/* Closes an array literal and NUL-terminates it. Returns the text or NULL on OOM. */
static const char *array_finish(struct ct_copy *array)
{
	if (array->failed || array->len + 3 > array->cap) {
		char *p = array->failed ? NULL : realloc(array->data, array->len + 3);
		if (p == NULL) {
			array->failed = true;
			return NULL;
		}
		array->data = p;
		array->cap = array->len + 3;
	}
	if (array->rows == 0)
		array->data[array->len++] = '{';
	array->data[array->len++] = '}';
	array->data[array->len] = '\0';
	return array->data;
}

static void time_text(int64_t us, char *buf, size_t len)
{
	ct_time_format_us(us, buf, len);
}

/* Appends a text[] field: an array literal with every element quoted (" and \ escaped for
 * the array, then the whole literal escaped for COPY by ct_copy_text). */
static void copy_text_array(struct ct_copy *c, char *const *items, size_t n)
{
	size_t len = 3;
	char *text, *p;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	text = malloc(len);
	if (text == NULL) {
		c->failed = true;
		return;
	}
	p = text;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = items[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	ct_copy_text(c, text);
	free(text);
}

/* A double as JSON, or null when it is absent or not finite (JSON has no NaN). */
static json_t *json_number_or_null(bool present, double value)
{
	return present && isfinite(value) ? json_real(value) : json_null();
}

/* The failed characteristics as the JSON array unit_verdict.failed holds:
 * [{"characteristic","value","lsl","usl","unit","reason"}]. malloc'ed text, NULL on OOM. */
static char *failed_json(const Cellthread__V1__Verdict *v)
{
	json_t *array = json_array();
	char *text = NULL;

	if (array == NULL)
		return NULL;
	for (size_t i = 0; i < v->n_failed; i++) {
		const Cellthread__V1__FailedCharacteristic *f = v->failed[i];
		json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s}", "characteristic",
		                      f->characteristic ? f->characteristic : "", "value",
		                      json_number_or_null(true, f->value), "lsl",
		                      json_number_or_null(f->has_lsl, f->lsl), "usl",
		                      json_number_or_null(f->has_usl, f->usl), "unit",
		                      f->unit ? f->unit : "", "reason", f->reason ? f->reason : "");
		if (o == NULL || json_array_append_new(array, o) != 0)
			goto out;
	}
	text = json_dumps(array, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
out:
	json_decref(array);
	return text;
}

/* Inserts the batch's distinct event IDs and marks the ones that were new. */
static int insert_events(struct traveler_store *store, struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] =
	        "INSERT INTO event (event_id, kind, producer, produced_at) "
	        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) "
	        "ON CONFLICT DO NOTHING RETURNING event_id";
	const char *params[4];
	struct ct_pg_result *res = NULL;
	int rc;

	for (int i = 0; i < 4; i++)
		ct_copy_reset(&store->arrays[i]);
	qsort(store->events, store->n_events, sizeof(*store->events), compare_event_id);
	for (size_t i = 0; i < store->n_events; i++) {
		char when[40];
		const struct event_ref *e = &store->events[i];
		if (i > 0 && strcmp(e->event_id, store->events[i - 1].event_id) == 0)
			continue; /* a duplicate inside the batch: the first one stands */
		time_text(e->produced_at_us, when, sizeof(when));
		array_add(&store->arrays[0], e->event_id);
		array_add(&store->arrays[1], e->kind);
		array_add(&store->arrays[2], e->producer ? e->producer : "");
		array_add(&store->arrays[3], when);
	}
	for (int i = 0; i < 4; i++) {
		params[i] = array_finish(&store->arrays[i]);
		if (params[i] == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	rc = ct_pg_query(pg, sql, 4, params, &res, err, err_len);
	if (rc != CT_OK)
		return rc;
	/* RETURNING rows are few compared to lookups: binary-search each in the sorted refs. */
	for (int r = 0; r < ct_pg_result_rows(res); r++) {
		const char *id = ct_pg_text(res, r, "event_id");
		size_t lo = 0, hi = store->n_events;
		if (id == NULL)
			continue; /* cannot be: the primary key; an unknown column is checked below
			           */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(store->events[mid].event_id, id);
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < store->n_events && strcmp(store->events[lo].event_id, id) == 0)
			store->events[lo].is_new = true; /* the first of equal IDs */
	}
	rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

static int upsert_units(struct traveler_store *store, struct ct_pg *pg, char *err, size_t err_len)
{
	static const char sql[] =
	        "INSERT INTO unit AS u (unit_id, kind, site, line, first_seen_at, last_seen_at) "
	        "SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], "
	        "$5::timestamptz[], $6::timestamptz[]) "
	        "ON CONFLICT (unit_id) DO UPDATE SET "
	        "kind = CASE WHEN u.kind = 0 THEN excluded.kind ELSE u.kind END, "
	        "site = coalesce(u.site, excluded.site), line = coalesce(u.line, excluded.line), "
	        "first_seen_at = least(u.first_seen_at, excluded.first_seen_at), "
	        "last_seen_at = greatest(u.last_seen_at, excluded.last_seen_at)";
	const char *params[6];
	size_t n = 0;

	if (store->n_units == 0)
		return CT_OK;
	qsort(store->units, store->n_units, sizeof(*store->units), compare_unit_id);
	/* Merge equal IDs: ON CONFLICT cannot touch one row twice in a statement. */
	for (size_t i = 0; i < store->n_units; i++) {
		struct unit_ref *u = &store->units[i];
		if (n > 0 && strcmp(store->units[n - 1].unit_id, u->unit_id) == 0) {
			struct unit_ref *m = &store->units[n - 1];
			m->first_us = u->first_us < m->first_us ? u->first_us : m->first_us;
			m->last_us = u->last_us > m->last_us ? u->last_us : m->last_us;
			if (m->kind == 0)
				m->kind = u->kind;
			if (m->site == NULL || *m->site == '\0') {
				m->site = u->site;
				m->line = u->line;
			}
			continue;
		}
		store->units[n++] = *u;
	}
	for (int i = 0; i < 6; i++)
		ct_copy_reset(&store->arrays[i]);
	for (size_t i = 0; i < n; i++) {
		const struct unit_ref *u = &store->units[i];
		char kind[16], first[40], last[40];
		snprintf(kind, sizeof(kind), "%d", u->kind);
		time_text(u->first_us, first, sizeof(first));
		time_text(u->last_us, last, sizeof(last));
		array_add(&store->arrays[0], u->unit_id);
		array_add(&store->arrays[1], kind);
		array_add(&store->arrays[2], u->site ? u->site : "");
		array_add(&store->arrays[3], u->line ? u->line : "");
		array_add(&store->arrays[4], first);
		array_add(&store->arrays[5], last);
	}
	for (int i = 0; i < 6; i++) {
		params[i] = array_finish(&store->arrays[i]);
		if (params[i] == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	return ct_pg_query(pg, sql, 6, params, NULL, err, err_len);
}

static void copy_genealogy_row(struct ct_copy *c, const char *parent, const char *child,
                               int child_kind, const char *material, double quantity,
                               const char *uom, const char *position, const char *source,
                               const char *station, const char *event_id, int64_t at_us, int seq)
{
	ct_copy_text(c, parent);
	ct_copy_text(c, child);
	ct_copy_int64(c, child_kind);
	ct_copy_text(c, material);
	ct_copy_double(c, quantity);
	ct_copy_text(c, uom);
	ct_copy_text(c, position ? position : "");
	ct_copy_text(c, source);
	ct_copy_text(c, station);
	ct_copy_text(c, event_id);
	ct_copy_time_us(c, at_us);
	ct_copy_int64(c, seq);
	ct_copy_end_row(c);
}

static int rows_for_result(struct traveler_store *store, const Cellthread__V1__StationResult *r,
                           struct traveler_counts *counts)
{
	struct ct_copy *c = store->copies;
	const char *id = r->header->event_id;
	int rc = add_unit(store, r->unit_id, r->unit_kind, r->site, r->line, r->started_at_us);
	int gseq = 0;

	if (rc == CT_OK)
		rc = add_unit(store, r->unit_id, r->unit_kind, r->site, r->line, r->ended_at_us);
	ct_copy_text(&c[T_VISIT], id);
	ct_copy_text(&c[T_VISIT], r->unit_id);
	ct_copy_int64(&c[T_VISIT], r->unit_kind);
	ct_copy_text(&c[T_VISIT], r->site);
	ct_copy_text(&c[T_VISIT], r->line);
	ct_copy_text(&c[T_VISIT], r->station);
	ct_copy_int64(&c[T_VISIT], r->station_type);
	ct_copy_text(&c[T_VISIT], r->recipe);
	ct_copy_int64(&c[T_VISIT], r->recipe_version);
	ct_copy_text(&c[T_VISIT], r->operator_id);
	ct_copy_time_us(&c[T_VISIT], r->started_at_us);
	ct_copy_time_us(&c[T_VISIT], r->ended_at_us);
	ct_copy_int64(&c[T_VISIT], r->result);
	copy_text_array(&c[T_VISIT], r->held_lots, r->n_held_lots);
	ct_copy_end_row(&c[T_VISIT]);
	counts->visits++;
	for (size_t i = 0; i < r->n_measurements; i++) {
		const Cellthread__V1__Measurement *m = r->measurements[i];
		ct_copy_text(&c[T_MEASUREMENT], id);
		ct_copy_text(&c[T_MEASUREMENT], r->unit_id);
		ct_copy_text(&c[T_MEASUREMENT], r->site);
		ct_copy_text(&c[T_MEASUREMENT], r->line);
		ct_copy_text(&c[T_MEASUREMENT], r->station);
		ct_copy_text(&c[T_MEASUREMENT], m->characteristic);
		ct_copy_double(&c[T_MEASUREMENT], m->value);
		ct_copy_text(&c[T_MEASUREMENT], m->unit);
		ct_copy_time_us(&c[T_MEASUREMENT],
		                m->measured_at_us ? m->measured_at_us : r->ended_at_us);
		ct_copy_int64(&c[T_MEASUREMENT], (int64_t)i);
		ct_copy_end_row(&c[T_MEASUREMENT]);
	}
	counts->measurements += r->n_measurements;
	for (size_t i = 0; i < r->n_parameters; i++) {
		const Cellthread__V1__Parameter *p = r->parameters[i];
		ct_copy_text(&c[T_PARAMETER], id);
		ct_copy_text(&c[T_PARAMETER], r->unit_id);
		ct_copy_text(&c[T_PARAMETER], p->name);
		ct_copy_double(&c[T_PARAMETER], p->actual);
		if (p->has_setpoint)
			ct_copy_double(&c[T_PARAMETER], p->setpoint);
		else
			ct_copy_null(&c[T_PARAMETER]);
		ct_copy_text(&c[T_PARAMETER], p->unit);
		ct_copy_int64(&c[T_PARAMETER], (int64_t)i);
		ct_copy_end_row(&c[T_PARAMETER]);
	}
	for (size_t i = 0; i < r->n_materials && rc == CT_OK; i++) {
		const Cellthread__V1__MaterialUse *m = r->materials[i];
		copy_genealogy_row(&c[T_GENEALOGY], r->unit_id, m->lot_id,
		                   CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT, m->material,
		                   m->quantity, m->unit, "", "material", r->station, id,
		                   r->ended_at_us, gseq++);
		rc = add_unit(store, m->lot_id, CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT,
		              r->site, r->line, r->ended_at_us);
	}
	for (size_t i = 0; i < r->n_children && rc == CT_OK; i++) {
		const Cellthread__V1__ChildUnit *ch = r->children[i];
		copy_genealogy_row(&c[T_GENEALOGY], r->unit_id, ch->unit_id, ch->kind, NULL,
		                   ch->quantity, ch->unit, ch->position, "assembly", r->station, id,
		                   r->ended_at_us, gseq++);
		rc = add_unit(store, ch->unit_id, ch->kind, NULL, NULL, r->ended_at_us);
	}
	for (size_t i = 0; i < r->n_environment; i++) {
		const Cellthread__V1__EnvironmentReading *e = r->environment[i];
		ct_copy_text(&c[T_ENVIRONMENT], id);
		ct_copy_text(&c[T_ENVIRONMENT], r->unit_id);
		ct_copy_text(&c[T_ENVIRONMENT], e->quantity);
		ct_copy_double(&c[T_ENVIRONMENT], e->value);
		ct_copy_text(&c[T_ENVIRONMENT], e->unit);
		ct_copy_text(&c[T_ENVIRONMENT], e->sensor);
		ct_copy_time_us(&c[T_ENVIRONMENT],
		                e->measured_at_us ? e->measured_at_us : r->ended_at_us);
		ct_copy_int64(&c[T_ENVIRONMENT], (int64_t)i);
		ct_copy_end_row(&c[T_ENVIRONMENT]);
	}
	for (size_t i = 0; i < r->n_notes; i++) {
		const Cellthread__V1__OperatorNote *n = r->notes[i];
		ct_copy_text(&c[T_NOTE], id);
		ct_copy_text(&c[T_NOTE], r->unit_id);
		ct_copy_text(&c[T_NOTE], "note");
		ct_copy_text(&c[T_NOTE], "");
		ct_copy_int64(&c[T_NOTE], 0);
		ct_copy_text(&c[T_NOTE], n->author);
		ct_copy_text(&c[T_NOTE], n->text);
		ct_copy_time_us(&c[T_NOTE], n->at_us ? n->at_us : r->ended_at_us);
		ct_copy_int64(&c[T_NOTE], (int64_t)i);
		ct_copy_end_row(&c[T_NOTE]);
	}
	for (size_t i = 0; i < r->n_exceptions; i++) {
		const Cellthread__V1__ProcessException *x = r->exceptions[i];
		ct_copy_text(&c[T_NOTE], id);
		ct_copy_text(&c[T_NOTE], r->unit_id);
		ct_copy_text(&c[T_NOTE], "exception");
		ct_copy_text(&c[T_NOTE], x->code);
		ct_copy_int64(&c[T_NOTE], x->severity);
		ct_copy_text(&c[T_NOTE], "");
		ct_copy_text(&c[T_NOTE], x->text);
		ct_copy_time_us(&c[T_NOTE], x->at_us ? x->at_us : r->ended_at_us);
		ct_copy_int64(&c[T_NOTE], (int64_t)i);
		ct_copy_end_row(&c[T_NOTE]);
	}
	for (size_t i = 0; i < r->n_curves; i++) {
		const Cellthread__V1__Curve *cv = r->curves[i];
		size_t n = cv->n_x < cv->n_y ? cv->n_x : cv->n_y;
		ct_copy_text(&c[T_CURVE], id);
		ct_copy_text(&c[T_CURVE], r->unit_id);
		ct_copy_text(&c[T_CURVE], cv->name);
		ct_copy_text(&c[T_CURVE], cv->x_unit);
		ct_copy_text(&c[T_CURVE], cv->y_unit);
		ct_copy_double_array(&c[T_CURVE], cv->x, n);
		ct_copy_double_array(&c[T_CURVE], cv->y, n);
		ct_copy_int64(&c[T_CURVE], (int64_t)i);
		ct_copy_end_row(&c[T_CURVE]);
	}
	return rc;
}

static int rows_for_genealogy(struct traveler_store *store, const Cellthread__V1__Genealogy *g)
{
	int rc = add_unit(store, g->parent_unit_id, g->parent_kind, g->site, g->line,
	                  g->assembled_at_us);
	for (size_t i = 0; i < g->n_children && rc == CT_OK; i++) {
		const Cellthread__V1__ChildUnit *ch = g->children[i];
		copy_genealogy_row(&store->copies[T_GENEALOGY], g->parent_unit_id, ch->unit_id,
		                   ch->kind, NULL, ch->quantity, ch->unit, ch->position,
		                   "genealogy", g->station, g->header->event_id, g->assembled_at_us,
		                   (int)i);
		rc = add_unit(store, ch->unit_id, ch->kind, NULL, NULL, g->assembled_at_us);
	}
	return rc;
}

static void rows_for_telemetry(struct traveler_store *store, const Cellthread__V1__Telemetry *t,
                               struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_TELEMETRY];
	for (size_t s = 0; s < t->n_signals; s++) {
		const Cellthread__V1__Signal *sig = t->signals[s];
		for (size_t i = 0; i < sig->n_samples; i++) {
			ct_copy_text(c, t->header->event_id);
			ct_copy_text(c, t->site);
			ct_copy_text(c, t->line);
			ct_copy_text(c, t->asset);
			ct_copy_text(c, sig->name);
			ct_copy_text(c, sig->unit);
			ct_copy_time_us(c, sig->samples[i]->at_us);
			ct_copy_double(c, sig->samples[i]->value);
			ct_copy_end_row(c);
		}
		counts->telemetry_samples += sig->n_samples;
	}
}

static void rows_for_dead_letter(struct traveler_store *store, const Cellthread__V1__DeadLetter *d,
                                 struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_DEAD_LETTER];
	ct_copy_text(c, d->header->event_id);
	ct_copy_text(c, d->service);
	ct_copy_text(c, d->source_topic);
	ct_copy_int64(c, d->reason_code);
	ct_copy_text(c, d->reason);
	ct_copy_bytea(c, d->payload.data, d->payload.len);
	ct_copy_int64(c, d->payload_size);
	ct_copy_time_us(c, d->received_at_us ? d->received_at_us : d->header->produced_at_us);
	ct_copy_end_row(c);
	counts->dead_letters++;
}

static int rows_for_verdict(struct traveler_store *store, const Cellthread__V1__Verdict *v,
                            struct traveler_counts *counts)
{
	struct ct_copy *c = &store->copies[T_VERDICT];
	char *failed = failed_json(v);

	if (failed == NULL)
		return CT_ERR_NOMEM;
	ct_copy_text(c, v->header->event_id);
	ct_copy_text(c, v->unit_id);
	ct_copy_text(c, v->site);
	ct_copy_text(c, v->line);
	ct_copy_text(c, v->station);
	ct_copy_text(c, v->source_event_id);
	ct_copy_int64(c, v->verdict);
	ct_copy_text(c, failed);
	ct_copy_text(c, v->inspection_reason);
	copy_text_array(c, v->held_lots, v->n_held_lots);
	ct_copy_text(c, v->recipe);
	ct_copy_int64(c, v->recipe_version);
	ct_copy_time_us(c, v->decided_at_us ? v->decided_at_us : v->header->produced_at_us);
	ct_copy_end_row(c);
	free(failed);
	counts->verdicts++;
	return CT_OK;
}

static const char *kind_text(enum traveler_item_kind kind)
{
	switch (kind) {
	case TRAVELER_RESULT_BATCH:
		return "result";
	case TRAVELER_TELEMETRY:
		return "telemetry";
	case TRAVELER_GENEALOGY:
		return "genealogy";
	case TRAVELER_DEAD_LETTER:
		return "deadletter";
	case TRAVELER_VERDICT:
		return "verdict";
	}
	return "result";
}

static int collect_events(struct traveler_store *store, const struct traveler_item *items,
                          size_t n_items)
{
	int rc = CT_OK;
	for (size_t i = 0; i < n_items && rc == CT_OK; i++) {
		const struct traveler_item *it = &items[i];
		switch (it->kind) {
		case TRAVELER_RESULT_BATCH: {
			const Cellthread__V1__StationResultBatch *b = (const void *)it->msg;
			for (size_t r = 0; r < b->n_results && rc == CT_OK; r++)
				rc = add_event(store, b->results[r]->header, "result", i, r);
			break;
		}
		case TRAVELER_TELEMETRY:
			rc = add_event(
			        store,
			        ((const Cellthread__V1__Telemetry *)(const void *)it->msg)->header,
			        kind_text(it->kind), i, 0);
			break;
		case TRAVELER_GENEALOGY:
			rc = add_event(
			        store,
			        ((const Cellthread__V1__Genealogy *)(const void *)it->msg)->header,
			        kind_text(it->kind), i, 0);
			break;
		case TRAVELER_DEAD_LETTER:
			rc = add_event(
			        store,
			        ((const Cellthread__V1__DeadLetter *)(const void *)it->msg)->header,
			        kind_text(it->kind), i, 0);
			break;
		case TRAVELER_VERDICT: {
			const Cellthread__V1__VerdictBatch *b = (const void *)it->msg;
			for (size_t v = 0; v < b->n_verdicts && rc == CT_OK; v++)
				rc = add_event(store, b->verdicts[v]->header, kind_text(it->kind),
				               i, v);
			break;
		}
		}
	}
	return rc;
}

static int build_rows(struct traveler_store *store, const struct traveler_item *items,
                      struct traveler_counts *counts)
{
	int rc = CT_OK;
	for (size_t e = 0; e < store->n_events && rc == CT_OK; e++) {
		const struct event_ref *ev = &store->events[e];
		const struct traveler_item *it = &items[ev->item];
		if (!ev->is_new) {
			counts->events_duplicate++;
			continue;
		}
		counts->events_new++;
		switch (it->kind) {
		case TRAVELER_RESULT_BATCH: {
			const Cellthread__V1__StationResultBatch *b = (const void *)it->msg;
			rc = rows_for_result(store, b->results[ev->sub], counts);
			break;
		}
		case TRAVELER_TELEMETRY:
			rows_for_telemetry(store, (const void *)it->msg, counts);
			break;
		case TRAVELER_GENEALOGY:
			rc = rows_for_genealogy(store, (const void *)it->msg);
			break;
		case TRAVELER_DEAD_LETTER:
			rows_for_dead_letter(store, (const void *)it->msg, counts);
			break;
		case TRAVELER_VERDICT: {
			const Cellthread__V1__VerdictBatch *b = (const void *)it->msg;
			rc = rows_for_verdict(store, b->verdicts[ev->sub], counts);
			break;
		}
		}
	}
	return rc;
}

int traveler_store_batch(struct traveler_store *store, struct ct_pg *pg,
                         const struct traveler_item *items, size_t n_items,
                         struct traveler_counts *ret_counts, char *err, size_t err_len)
{
	struct traveler_counts counts;
	int rc;

	memset(&counts, 0, sizeof(counts));
	store->n_events = 0;
	store->n_units = 0;
	for (int i = 0; i < T_COUNT; i++)
		ct_copy_reset(&store->copies[i]);
	rc = collect_events(store, items, n_items);
	if (rc != CT_OK)
		return ct_set_error(err, err_len, rc, "out of memory");
	if (store->n_events == 0)
		goto done;
	rc = ct_pg_begin(pg, err, err_len);
	if (rc != CT_OK)
		return rc;
	rc = insert_events(store, pg, err, err_len);
	if (rc == CT_OK && (rc = build_rows(store, items, &counts)) != CT_OK)
		ct_set_error(err, err_len, rc, "out of memory");
	if (rc == CT_OK)
		rc = upsert_units(store, pg, err, err_len);
	for (int t = 0; t < T_COUNT && rc == CT_OK; t++)
		rc = ct_pg_copy(pg, copy_sql[t], &store->copies[t], err, err_len);
	if (rc == CT_OK)
		rc = ct_pg_commit(pg, err, err_len);
	if (rc != CT_OK) {
		ct_pg_rollback(pg);
		return rc;
	}
done:
	*ret_counts = counts;
	return CT_OK;
}

int traveler_store_own_dead_letter(struct traveler_store *store, struct ct_pg *pg,
                                   const char *producer, const char *topic, int reason_code,
                                   const char *reason, const void *payload, size_t payload_len,
                                   char *err, size_t err_len)
{
	Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct traveler_item item = {TRAVELER_DEAD_LETTER, &dl.base, topic};
	struct traveler_counts counts;
	char id[40];
	size_t cap = 65536;

	ct_pb_header_fill(&header, id, sizeof(id), producer);
	dl.header = &header;
	dl.service = (char *)"traveler";
	dl.source_topic = (char *)topic;
	dl.reason_code = (Cellthread__V1__DeadLetterReason)reason_code;
	dl.reason = (char *)reason;
	dl.payload.data = (uint8_t *)payload;
	dl.payload.len = payload_len < cap ? payload_len : cap;
	dl.payload_size = (uint32_t)payload_len;
	dl.received_at_us = ct_now_us();
	ct_warn("dead letter from %s: %s", topic, reason);
	return traveler_store_batch(store, pg, &item, 1, &counts, err, err_len);
}
