/* ct_trace: genealogy walks with recursive CTEs, and the traced units' station
 * history (contract in ct_trace.h).
 *
 * Both walks follow the standing links only (genealogy.ended_at NULL: a rework or disassembly
 * ended the others, which stay in the table as the unit's history), so a trace shows the
 * structure as it is now. They carry the path in the recursion and refuse to revisit a node,
 * so a loop stored before traveler refused cycles (migration 0008) cannot recurse forever;
 * depth and node limits bound the answer's size. */
#include "ct_trace.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"
#include "ct_json.h"

static const char back_sql[] =
        "WITH RECURSIVE tree AS ("
        " SELECT g.child_id AS node, g.child_kind AS kind, g.parent_id AS via, 1 AS depth,"
        "  g.quantity, g.uom, g.position, ARRAY[g.parent_id, g.child_id] AS path"
        " FROM genealogy g WHERE g.parent_id = $1 AND g.ended_at IS NULL"
        " UNION ALL"
        " SELECT g.child_id, g.child_kind, g.parent_id, t.depth + 1, g.quantity, g.uom,"
        "  g.position, t.path || g.child_id"
        " FROM genealogy g JOIN tree t ON g.parent_id = t.node"
        " WHERE t.depth < $2::int AND g.ended_at IS NULL AND g.child_id <> ALL (t.path))"
        " SELECT node, kind, via, depth, quantity, uom, position FROM ("
        "  SELECT DISTINCT ON (node, via) * FROM tree ORDER BY node, via, depth) d"
        " ORDER BY depth, via, node LIMIT $3::int";

static const char forward_sql[] =
        "WITH RECURSIVE tree AS ("
        " SELECT g.parent_id AS node, g.child_id AS via, 1 AS depth, g.quantity, g.uom,"
        "  g.position, ARRAY[g.child_id, g.parent_id] AS path"
        " FROM genealogy g WHERE g.child_id = $1 AND g.ended_at IS NULL"
        " UNION ALL"
        " SELECT g.parent_id, g.child_id, t.depth + 1, g.quantity, g.uom, g.position,"
        "  t.path || g.parent_id"
        " FROM genealogy g JOIN tree t ON g.child_id = t.node"
        " WHERE t.depth < $2::int AND g.ended_at IS NULL AND g.parent_id <> ALL (t.path))"
        " SELECT d.node, coalesce(u.kind, 0) AS kind, d.via, d.depth, d.quantity, d.uom, "
        "d.position FROM ("
        "  SELECT DISTINCT ON (node, via) * FROM tree ORDER BY node, via, depth) d"
        " LEFT JOIN unit u ON u.unit_id = d.node"
        " ORDER BY d.depth, d.via, d.node LIMIT $3::int";

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

static const char visits_sql[] =
        "SELECT event_id, unit_id, unit_kind, site, line, station, station_type, recipe,"
        " recipe_version, operator_id, " US("started_at") " AS started_at_us, " US(
                "ended_at") " AS ended_at_us, result, to_json(held_lots)::text AS held_lots"
                            " FROM station_visit WHERE unit_id = ANY ($1::text[])"
                            " ORDER BY started_at, event_id LIMIT $2::int";
/* US() spelled out: clang-format cannot lay out string literals around a macro. */
static const char verdicts_sql[] =
        "SELECT v.event_id, coalesce(e.producer, '') AS producer,"
        " (extract(epoch from coalesce(e.produced_at, v.decided_at)) * 1000000)::int8"
        "  AS produced_at_us,"
        " v.unit_id, coalesce(u.kind, 0) AS unit_kind, v.site, v.line, v.station,"
        " v.source_event_id, v.verdict, v.failed::text AS failed, v.inspection_reason,"
        " to_json(v.held_lots)::text AS held_lots,"
        " (extract(epoch from v.decided_at) * 1000000)::int8 AS decided_at_us, v.recipe,"
        " v.recipe_version"
        " FROM unit_verdict v"
        " LEFT JOIN event e ON e.event_id = v.event_id"
        " LEFT JOIN unit u ON u.unit_id = v.unit_id"
        " WHERE v.unit_id = ANY ($1::text[]) ORDER BY v.decided_at, v.event_id LIMIT $2::int";
static const char measurements_sql[] = "SELECT event_id, characteristic, value, uom, " US(
        "measured_at") " AS measured_at_us FROM measurement"
                       " WHERE unit_id = ANY ($1::text[]) AND event_id = ANY ($2::text[]) ORDER BY "
                       "event_id, seq";
static const char parameters_sql[] =
        "SELECT event_id, name, actual, setpoint, uom FROM process_parameter"
        " WHERE event_id = ANY ($1::text[]) ORDER BY event_id, seq";
static const char materials_sql[] =
        "SELECT event_id, child_id, child_kind, material, quantity, uom, position, source"
        " FROM genealogy WHERE event_id = ANY ($1::text[]) AND source <> 'genealogy'"
        " ORDER BY event_id, seq";
static const char environment_sql[] = "SELECT event_id, quantity, value, uom, sensor, " US(
        "measured_at") " AS measured_at_us FROM"
                       " environment_reading WHERE event_id = ANY ($1::text[]) ORDER BY event_id, "
                       "seq";
static const char notes_sql[] = "SELECT event_id, kind, code, severity, author, body, " US(
        "at") " AS at_us FROM visit_note"
              " WHERE event_id = ANY ($1::text[]) ORDER BY event_id, kind, seq";
static const char curves_sql[] =
        "SELECT event_id, name, x_unit, y_unit, array_to_string(x, ',') AS x,"
        " array_to_string(y, ',') AS y FROM visit_curve WHERE event_id = ANY ($1::text[])"
        " ORDER BY event_id, seq";

void ct_trace_limits_init(struct ct_trace_limits *limits)
{
	limits->max_depth = 32;
	limits->max_nodes = 100000;
	limits->max_visits = 5000;
}

void ct_trace_response_free(Cellthread__V1__TraceResponse *response)
{
	if (response != NULL)
		protobuf_c_message_free_unpacked(&response->base, NULL);
}

static char *dup_text(const char *s)
{
	if (s == NULL || *s == '\0')
		return (char *)protobuf_c_empty_string;
	return strdup(s);
}

/* Appends a pointer to a heap array of pointers, growing it by doubling. */
static int push(void ***array, size_t *n, void *item)
{
	if ((*n & (*n - 1)) == 0) { /* n is 0 or a power of two: grow */
		size_t cap = *n ? *n * 2 : 8;
		void **p = realloc(*array, cap * sizeof(*p));
		if (p == NULL)
			return CT_ERR_NOMEM;
		*array = p;
	}
	(*array)[(*n)++] = item;
	return CT_OK;
}

/* Result columns are read by name. NULL in a number column reads as 0 (as protobuf's
 * absent field); a value that does not parse is remembered by the result and reported by
 * ct_pg_result_check once the rows are read. */

/* A text column, "" for NULL. */
static const char *str_of(struct ct_pg_result *res, int row, const char *col)
{
	const char *v = ct_pg_text(res, row, col);
	return v ? v : "";
}

/* A text column as a protobuf string ("" for NULL). */
static char *text_of(struct ct_pg_result *res, int row, const char *col)
{
	return dup_text(ct_pg_text(res, row, col));
}

static int64_t int64_of(struct ct_pg_result *res, int row, const char *col)
{
	int64_t v = 0;
	if (!ct_pg_is_null(res, row, col))
		ct_pg_int64(res, row, col, &v);
	return v;
}

static int int_of(struct ct_pg_result *res, int row, const char *col)
{
	int v = 0;
	if (!ct_pg_is_null(res, row, col))
		ct_pg_int(res, row, col, &v);
	return v;
}

static double double_of(struct ct_pg_result *res, int row, const char *col)
{
	double v = 0;
	if (!ct_pg_is_null(res, row, col))
		ct_pg_double(res, row, col, &v);
	return v;
}

/* Frees res; a value that did not parse turns rc into CT_ERR_INVALID, and out of memory
 * gets its message (reason in err). */
static int finish(struct ct_pg_result *res, int rc, char *err, size_t err_len)
{
	if (rc == CT_OK && res != NULL)
		rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc == CT_ERR_NOMEM ? ct_set_error(err, err_len, rc, "out of memory") : rc;
}

/* A text[] literal of the IDs (malloc'ed; NULL when out of memory). */
static char *id_array(char **ids, size_t n)
{
	struct ct_pgarray array;
	const char *literal;
	char *text;

	ct_pgarray_init(&array);
	for (size_t i = 0; i < n; i++)
		ct_pgarray_text(&array, ids[i]);
	literal = ct_pgarray_literal(&array);
	text = literal != NULL ? strdup(literal) : NULL;
	ct_pgarray_cleanup(&array);
	return text;
}

static int walk(struct ct_pg *pg, Cellthread__V1__TraceResponse *resp,
                const struct ct_trace_limits *limits, char *err, size_t err_len)
{
	char depth[16], limit[16];
	const char *params[3] = {resp->id, depth, limit};
	struct ct_pg_result *res = NULL;
	int rc;

	snprintf(depth, sizeof(depth), "%u", limits->max_depth);
	snprintf(limit, sizeof(limit), "%u", limits->max_nodes + 1);
	rc = ct_pg_query(pg,
	                 resp->direction == CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK
	                         ? back_sql
	                         : forward_sql,
	                 3, params, &res, err, err_len);
	if (rc != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res) && rc == CT_OK; r++) {
		Cellthread__V1__TraceNode *node;
		if ((unsigned)r >= limits->max_nodes) {
			resp->truncated = true;
			break;
		}
		node = malloc(sizeof(*node));
		if (node == NULL) {
			rc = CT_ERR_NOMEM;
			break;
		}
		cellthread__v1__trace_node__init(node);
		node->unit_id = text_of(res, r, "node");
		node->kind = (Cellthread__V1__UnitKind)int_of(res, r, "kind");
		node->via_unit_id = text_of(res, r, "via");
		node->depth = (uint32_t)int_of(res, r, "depth");
		node->quantity = double_of(res, r, "quantity");
		node->unit = text_of(res, r, "uom");
		node->position = text_of(res, r, "position");
		rc = push((void ***)&resp->nodes, &resp->n_nodes, node);
		if (rc != CT_OK)
			protobuf_c_message_free_unpacked(&node->base, NULL);
		else if (node->depth >= limits->max_depth)
			resp->truncated = true;
	}
	return finish(res, rc, err, err_len);
}

/* Finds the visit with event_id in visits sorted as loaded (by time): a linear scan per
 * row would be quadratic, so rows come ordered by event_id and we keep an index sorted by
 * event_id. */
struct visit_index {
	const char *event_id;
	Cellthread__V1__StationResult *visit;
};

static int compare_index(const void *a, const void *b)
{
	return strcmp(((const struct visit_index *)a)->event_id,
	              ((const struct visit_index *)b)->event_id);
}

static Cellthread__V1__StationResult *find_visit(const struct visit_index *index, size_t n,
                                                 const char *event_id)
{
	struct visit_index key = {event_id, NULL};
	const struct visit_index *hit = bsearch(&key, index, n, sizeof(*index), compare_index);
	return hit ? hit->visit : NULL;
}

static int parse_doubles(const char *text, double **ret, size_t *ret_n)
{
	size_t n = *text ? 1 : 0;
	double *values;
	for (const char *p = text; *p; p++)
		n += *p == ',';
	values = malloc((n ? n : 1) * sizeof(*values));
	if (values == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char *end = NULL;
		values[i] = strtod(text, &end);
		if (end == text || (*end != ',' && *end != '\0')) {
			free(values);
			return CT_ERR_INVALID;
		}
		text = *end == ',' ? end + 1 : end;
	}
	*ret = values;
	*ret_n = n;
	return CT_OK;
}

/* Runs one detail query and hands each row to `add`. */
static int load_details(struct ct_pg *pg, const char *sql, const char *units, const char *events,
                        const struct visit_index *index, size_t n_index,
                        int (*add)(Cellthread__V1__StationResult *, struct ct_pg_result *, int),
                        char *err, size_t err_len)
{
	const char *params[2];
	int n_params = 0;
	struct ct_pg_result *res = NULL;
	int rc;

	if (units != NULL)
		params[n_params++] = units;
	params[n_params++] = events;
	rc = ct_pg_query(pg, sql, n_params, params, &res, err, err_len);
	if (rc != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res) && rc == CT_OK; r++) {
		const char *event_id = ct_pg_text(res, r, "event_id");
		Cellthread__V1__StationResult *visit =
		        event_id ? find_visit(index, n_index, event_id) : NULL;
		if (visit != NULL)
			rc = add(visit, res, r);
	}
	if (rc == CT_ERR_INVALID)
		ct_set_error(err, err_len, rc, "a stored curve is not a list of numbers");
	return finish(res, rc, err, err_len);
}

static int add_measurement(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	Cellthread__V1__Measurement *m = malloc(sizeof(*m));
	if (m == NULL)
		return CT_ERR_NOMEM;
	cellthread__v1__measurement__init(m);
	m->characteristic = text_of(res, r, "characteristic");
	m->value = double_of(res, r, "value");
	m->unit = text_of(res, r, "uom");
	m->measured_at_us = int64_of(res, r, "measured_at_us");
	return push((void ***)&v->measurements, &v->n_measurements, m);
}

static int add_parameter(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	Cellthread__V1__Parameter *p = malloc(sizeof(*p));
	if (p == NULL)
		return CT_ERR_NOMEM;
	cellthread__v1__parameter__init(p);
	p->name = text_of(res, r, "name");
	p->actual = double_of(res, r, "actual");
	p->has_setpoint = !ct_pg_is_null(res, r, "setpoint");
	p->setpoint = double_of(res, r, "setpoint");
	p->unit = text_of(res, r, "uom");
	return push((void ***)&v->parameters, &v->n_parameters, p);
}

static int add_material_or_child(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	const char *source = ct_pg_text(res, r, "source");

	if (source != NULL && strcmp(source, "material") == 0) {
		Cellthread__V1__MaterialUse *m = malloc(sizeof(*m));
		if (m == NULL)
			return CT_ERR_NOMEM;
		cellthread__v1__material_use__init(m);
		m->lot_id = text_of(res, r, "child_id");
		m->material = text_of(res, r, "material");
		m->quantity = double_of(res, r, "quantity");
		m->unit = text_of(res, r, "uom");
		return push((void ***)&v->materials, &v->n_materials, m);
	} else {
		Cellthread__V1__ChildUnit *c = malloc(sizeof(*c));
		if (c == NULL)
			return CT_ERR_NOMEM;
		cellthread__v1__child_unit__init(c);
		c->unit_id = text_of(res, r, "child_id");
		c->kind = (Cellthread__V1__UnitKind)int_of(res, r, "child_kind");
		c->quantity = double_of(res, r, "quantity");
		c->unit = text_of(res, r, "uom");
		c->position = text_of(res, r, "position");
		return push((void ***)&v->children, &v->n_children, c);
	}
}

static int add_environment(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	Cellthread__V1__EnvironmentReading *e = malloc(sizeof(*e));
	if (e == NULL)
		return CT_ERR_NOMEM;
	cellthread__v1__environment_reading__init(e);
	e->quantity = text_of(res, r, "quantity");
	e->value = double_of(res, r, "value");
	e->unit = text_of(res, r, "uom");
	e->sensor = text_of(res, r, "sensor");
	e->measured_at_us = int64_of(res, r, "measured_at_us");
	return push((void ***)&v->environment, &v->n_environment, e);
}

static int add_note(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	const char *kind = ct_pg_text(res, r, "kind");

	if (kind != NULL && strcmp(kind, "note") == 0) {
		Cellthread__V1__OperatorNote *n = malloc(sizeof(*n));
		if (n == NULL)
			return CT_ERR_NOMEM;
		cellthread__v1__operator_note__init(n);
		n->author = text_of(res, r, "author");
		n->text = text_of(res, r, "body");
		n->at_us = int64_of(res, r, "at_us");
		return push((void ***)&v->notes, &v->n_notes, n);
	} else {
		Cellthread__V1__ProcessException *x = malloc(sizeof(*x));
		if (x == NULL)
			return CT_ERR_NOMEM;
		cellthread__v1__process_exception__init(x);
		x->code = text_of(res, r, "code");
		x->severity = (Cellthread__V1__Severity)int_of(res, r, "severity");
		x->text = text_of(res, r, "body");
		x->at_us = int64_of(res, r, "at_us");
		return push((void ***)&v->exceptions, &v->n_exceptions, x);
	}
}

static int add_curve(Cellthread__V1__StationResult *v, struct ct_pg_result *res, int r)
{
	Cellthread__V1__Curve *c = malloc(sizeof(*c));
	int rc;
	if (c == NULL)
		return CT_ERR_NOMEM;
	cellthread__v1__curve__init(c);
	c->name = text_of(res, r, "name");
	c->x_unit = text_of(res, r, "x_unit");
	c->y_unit = text_of(res, r, "y_unit");
	rc = parse_doubles(ct_pg_text(res, r, "x") ? ct_pg_text(res, r, "x") : "", &c->x, &c->n_x);
	if (rc == CT_OK)
		rc = parse_doubles(ct_pg_text(res, r, "y") ? ct_pg_text(res, r, "y") : "", &c->y,
		                   &c->n_y);
	if (rc == CT_OK)
		rc = push((void ***)&v->curves, &v->n_curves, c);
	if (rc != CT_OK)
		protobuf_c_message_free_unpacked(&c->base, NULL);
	return rc;
}

/* Fills a repeated string field from a JSON array of strings (to_json(text[])). Elements
 * are heap strings: protobuf-c frees every element of a repeated string. */
static int parse_string_array(const char *text, char ***ret, size_t *ret_n)
{
	json_t *array = json_loads(text, 0, NULL);
	size_t n;
	int rc = CT_OK;

	if (!json_is_array(array)) {
		json_decref(array);
		return CT_OK; /* NULL or not an array: nothing to add */
	}
	n = json_array_size(array);
	if (n > 0 && (*ret = calloc(n, sizeof(**ret))) == NULL)
		rc = CT_ERR_NOMEM;
	for (size_t i = 0; i < n && rc == CT_OK; i++) {
		const char *item = json_string_value(json_array_get(array, i));
		char *copy = strdup(item ? item : "");
		if (copy == NULL)
			rc = CT_ERR_NOMEM;
		else
			(*ret)[(*ret_n)++] = copy;
	}
	json_decref(array);
	return rc;
}

/* A JSON number, or NaN for null (unit_verdict.failed stores non-finite values as null). */
static double json_number_or_nan(const json_t *value)
{
	return json_is_number(value) ? json_number_value(value) : NAN;
}

/* Fills v->failed from unit_verdict.failed (a JSON array of objects). */
static int parse_failed(const char *text, Cellthread__V1__Verdict *v)
{
	json_t *array = json_loads(text, 0, NULL);
	size_t i;
	json_t *o;
	int rc = CT_OK;

	if (!json_is_array(array)) {
		json_decref(array);
		return CT_OK;
	}
	json_array_foreach(array, i, o)
	{
		Cellthread__V1__FailedCharacteristic *f = malloc(sizeof(*f));
		const json_t *lsl = json_object_get(o, "lsl"), *usl = json_object_get(o, "usl");
		if (f == NULL) {
			rc = CT_ERR_NOMEM;
			break;
		}
		cellthread__v1__failed_characteristic__init(f);
		f->characteristic =
		        dup_text(json_string_value(json_object_get(o, "characteristic")));
		f->value = json_number_or_nan(json_object_get(o, "value"));
		f->has_lsl = json_is_number(lsl);
		f->lsl = f->has_lsl ? json_number_value(lsl) : 0;
		f->has_usl = json_is_number(usl);
		f->usl = f->has_usl ? json_number_value(usl) : 0;
		f->unit = dup_text(json_string_value(json_object_get(o, "unit")));
		f->reason = dup_text(json_string_value(json_object_get(o, "reason")));
		rc = push((void ***)&v->failed, &v->n_failed, f);
		if (rc != CT_OK) {
			protobuf_c_message_free_unpacked(&f->base, NULL);
			break;
		}
	}
	json_decref(array);
	return rc;
}

int ct_trace_verdicts_load(struct ct_pg *pg, char *const *unit_ids, size_t n, unsigned limit,
                           Cellthread__V1__Verdict ***verdicts, size_t *n_verdicts,
                           bool *ret_truncated, char *err, size_t err_len)
{
	char *units = id_array((char **)unit_ids, n);
	char limit_text[16];
	const char *params[2] = {units, limit_text};
	struct ct_pg_result *res = NULL;
	int rc;

	if (units == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	snprintf(limit_text, sizeof(limit_text), "%u", limit + 1);
	rc = ct_pg_query(pg, verdicts_sql, 2, params, &res, err, err_len);
	free(units);
	if (rc != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res) && rc == CT_OK; r++) {
		Cellthread__V1__Verdict *v;
		Cellthread__V1__Header *h;
		if ((unsigned)r >= limit) {
			*ret_truncated = true;
			break;
		}
		v = malloc(sizeof(*v));
		h = malloc(sizeof(*h));
		if (v == NULL || h == NULL) {
			free(v);
			free(h);
			rc = CT_ERR_NOMEM;
			break;
		}
		cellthread__v1__verdict__init(v);
		cellthread__v1__header__init(h);
		v->header = h;
		h->event_id = text_of(res, r, "event_id");
		h->producer = text_of(res, r, "producer");
		h->produced_at_us = int64_of(res, r, "produced_at_us");
		h->schema_version = 1;
		v->unit_id = text_of(res, r, "unit_id");
		v->unit_kind = (Cellthread__V1__UnitKind)int_of(res, r, "unit_kind");
		v->site = text_of(res, r, "site");
		v->line = text_of(res, r, "line");
		v->station = text_of(res, r, "station");
		v->source_event_id = text_of(res, r, "source_event_id");
		v->verdict = (Cellthread__V1__VerdictCode)int_of(res, r, "verdict");
		v->inspection_reason = text_of(res, r, "inspection_reason");
		v->decided_at_us = int64_of(res, r, "decided_at_us");
		v->recipe = text_of(res, r, "recipe");
		v->recipe_version = (uint32_t)int64_of(res, r, "recipe_version");
		rc = parse_failed(str_of(res, r, "failed"), v);
		if (rc == CT_OK)
			rc = parse_string_array(str_of(res, r, "held_lots"), &v->held_lots,
			                        &v->n_held_lots);
		if (rc == CT_OK)
			rc = push((void ***)verdicts, n_verdicts, v);
		if (rc != CT_OK)
			protobuf_c_message_free_unpacked(&v->base, NULL);
	}
	return finish(res, rc, err, err_len);
}

/* Loads the station visits of the traced unit and of every non-lot node. */
static int load_visits(struct ct_pg *pg, Cellthread__V1__TraceResponse *resp,
                       const struct ct_trace_limits *limits, char *err, size_t err_len)
{
	char **unit_ids = NULL, **event_ids = NULL;
	char *units = NULL, *events = NULL;
	struct visit_index *index = NULL;
	size_t n_units = 0;
	bool verdicts_truncated = false;
	char limit[16];
	const char *params[2];
	struct ct_pg_result *res = NULL;
	int rc = CT_ERR_NOMEM;

	unit_ids = malloc((resp->n_nodes + 1) * sizeof(*unit_ids));
	if (unit_ids == NULL)
		goto out;
	unit_ids[n_units++] = resp->id;
	for (size_t i = 0; i < resp->n_nodes; i++)
		if (resp->nodes[i]->kind != CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT)
			unit_ids[n_units++] = resp->nodes[i]->unit_id;
	units = id_array(unit_ids, n_units);
	if (units == NULL)
		goto out;
	snprintf(limit, sizeof(limit), "%u", limits->max_visits + 1);
	params[0] = units;
	params[1] = limit;
	rc = ct_pg_query(pg, visits_sql, 2, params, &res, err, err_len);
	if (rc != CT_OK)
		goto out;
	for (int r = 0; r < ct_pg_result_rows(res); r++) {
		Cellthread__V1__StationResult *v;
		Cellthread__V1__Header *h;
		if ((unsigned)r >= limits->max_visits) {
			resp->truncated = true;
			break;
		}
		v = malloc(sizeof(*v));
		h = malloc(sizeof(*h));
		if (v == NULL || h == NULL) {
			free(v);
			free(h);
			rc = CT_ERR_NOMEM;
			goto out;
		}
		cellthread__v1__station_result__init(v);
		cellthread__v1__header__init(h);
		v->header = h;
		h->event_id = text_of(res, r, "event_id");
		h->schema_version = 1;
		v->unit_id = text_of(res, r, "unit_id");
		v->unit_kind = (Cellthread__V1__UnitKind)int_of(res, r, "unit_kind");
		v->site = text_of(res, r, "site");
		v->line = text_of(res, r, "line");
		v->station = text_of(res, r, "station");
		v->station_type = (Cellthread__V1__StationType)int_of(res, r, "station_type");
		v->recipe = text_of(res, r, "recipe");
		v->recipe_version = (uint32_t)int64_of(res, r, "recipe_version");
		v->operator_id = text_of(res, r, "operator_id");
		v->started_at_us = int64_of(res, r, "started_at_us");
		v->ended_at_us = int64_of(res, r, "ended_at_us");
		v->result = (Cellthread__V1__ResultCode)int_of(res, r, "result");
		rc = parse_string_array(str_of(res, r, "held_lots"), &v->held_lots,
		                        &v->n_held_lots);
		if (rc == CT_OK)
			rc = push((void ***)&resp->visits, &resp->n_visits, v);
		if (rc != CT_OK) {
			protobuf_c_message_free_unpacked(&v->base, NULL);
			goto out;
		}
	}
	rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	res = NULL;
	if (rc != CT_OK)
		goto out;
	/* The verdicts of the same units (a lot is never judged as a unit). */
	rc = ct_trace_verdicts_load(pg, unit_ids, n_units, limits->max_visits, &resp->verdicts,
	                            &resp->n_verdicts, &verdicts_truncated, err, err_len);
	if (verdicts_truncated)
		resp->truncated = true;
	if (rc != CT_OK)
		goto out;
	if (resp->n_visits == 0)
		goto out;
	rc = CT_ERR_NOMEM;
	index = malloc(resp->n_visits * sizeof(*index));
	event_ids = malloc(resp->n_visits * sizeof(*event_ids));
	if (index == NULL || event_ids == NULL)
		goto out;
	for (size_t i = 0; i < resp->n_visits; i++) {
		index[i].event_id = resp->visits[i]->header->event_id;
		index[i].visit = resp->visits[i];
		event_ids[i] = resp->visits[i]->header->event_id;
	}
	qsort(index, resp->n_visits, sizeof(*index), compare_index);
	events = id_array(event_ids, resp->n_visits);
	if (events == NULL)
		goto out;
	rc = load_details(pg, measurements_sql, units, events, index, resp->n_visits,
	                  add_measurement, err, err_len);
	if (rc == CT_OK)
		rc = load_details(pg, parameters_sql, NULL, events, index, resp->n_visits,
		                  add_parameter, err, err_len);
	if (rc == CT_OK)
		rc = load_details(pg, materials_sql, NULL, events, index, resp->n_visits,
		                  add_material_or_child, err, err_len);
	if (rc == CT_OK)
		rc = load_details(pg, environment_sql, NULL, events, index, resp->n_visits,
		                  add_environment, err, err_len);
	if (rc == CT_OK)
		rc = load_details(pg, notes_sql, NULL, events, index, resp->n_visits, add_note, err,
		                  err_len);
	if (rc == CT_OK)
		rc = load_details(pg, curves_sql, NULL, events, index, resp->n_visits, add_curve,
		                  err, err_len);
out:
	if (rc == CT_ERR_NOMEM)
		ct_set_error(err, err_len, rc, "out of memory");
	ct_pg_result_free(res);
	free(unit_ids);
	free(event_ids);
	free(units);
	free(events);
	free(index);
	return rc;
}

int ct_trace_run(struct ct_pg *pg, Cellthread__V1__TraceDirection direction, const char *id,
                 const struct ct_trace_limits *limits, Cellthread__V1__TraceResponse **ret,
                 char *err, size_t err_len)
{
	Cellthread__V1__TraceResponse *resp = malloc(sizeof(*resp));
	const char *params[1] = {id};
	struct ct_pg_result *res = NULL;
	int rc;

	if (resp == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	cellthread__v1__trace_response__init(resp);
	resp->direction = direction;
	resp->id = dup_text(id);
	if (resp->id == NULL) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (direction != CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK &&
	    direction != CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_FORWARD) {
		resp->error = dup_text("direction must be back or forward");
		goto answered;
	}
	if (!ct_id_is_valid(id)) {
		resp->error = dup_text("not a valid unit or lot ID");
		goto answered;
	}
	rc = ct_pg_query(pg, "SELECT kind FROM unit WHERE unit_id = $1", 1, params, &res, err,
	                 err_len);
	if (rc != CT_OK)
		goto fail;
	if (ct_pg_result_rows(res) == 0) {
		char text[160];
		snprintf(text, sizeof(text), "unknown unit or lot '%s'", id);
		resp->error = dup_text(text);
		ct_pg_result_free(res);
		goto answered;
	}
	ct_pg_result_free(res);
	rc = walk(pg, resp, limits, err, err_len);
	if (rc == CT_OK && direction == CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK)
		rc = load_visits(pg, resp, limits, err, err_len);
	if (rc != CT_OK)
		goto fail;
	resp->ok = true;
answered:
	*ret = resp;
	return CT_OK;
fail:
	ct_trace_response_free(resp);
	return rc;
}

const char *ct_trace_verdict_name(int verdict)
{
	switch (verdict) {
	case CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS:
		return "pass";
	case CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_FAIL:
		return "fail";
	case CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_REWORK:
		return "rework";
	case CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_SCRAP:
		return "scrap";
	default:
		return "unspecified";
	}
}

static json_t *number_or_null(bool present, double value)
{
	return present && isfinite(value) ? json_real(value) : json_null();
}

json_t *ct_trace_verdict_to_json(const Cellthread__V1__Verdict *v)
{
	json_t *failed = json_array(), *held = json_array(), *o = NULL;
	const char *kind = ct_unit_kind_name(v->unit_kind);
	char when[40];

	if (failed == NULL || held == NULL)
		goto out;
	for (size_t i = 0; i < v->n_failed; i++) {
		const Cellthread__V1__FailedCharacteristic *f = v->failed[i];
		json_array_append_new(failed, json_pack("{s:s, s:o, s:o, s:o, s:s, s:s}",
		                                        "characteristic", f->characteristic,
		                                        "value", number_or_null(true, f->value),
		                                        "lsl", number_or_null(f->has_lsl, f->lsl),
		                                        "usl", number_or_null(f->has_usl, f->usl),
		                                        "unit", f->unit, "reason", f->reason));
	}
	for (size_t i = 0; i < v->n_held_lots; i++)
		json_array_append_new(held, json_string(v->held_lots[i]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:O, s:s}",
	              "event_id", v->header ? v->header->event_id : "", "producer",
	              v->header ? v->header->producer : "", "unit_id", v->unit_id, "unit_kind",
	              kind ? kind : "unspecified", "site", v->site, "line", v->line, "station",
	              v->station, "source_event_id", v->source_event_id, "verdict",
	              ct_trace_verdict_name(v->verdict), "failed", failed, "inspection_reason",
	              v->inspection_reason, "held_lots", held, "decided_at",
	              ct_time_format_us(v->decided_at_us, when, sizeof(when)));
out:
	json_decref(failed);
	json_decref(held);
	return o;
}

void ct_trace_verdict_print(const Cellthread__V1__Verdict *v, const char *indent, FILE *out)
{
	char when[40];

	fprintf(out, "%s%s %-10s %-16s %s (result %s)\n", indent,
	        ct_time_format_us(v->decided_at_us, when, sizeof(when)), v->unit_id, v->station,
	        ct_trace_verdict_name(v->verdict), v->source_event_id);
	for (size_t k = 0; k < v->n_failed; k++) {
		const Cellthread__V1__FailedCharacteristic *f = v->failed[k];
		char lsl[32] = "-", usl[32] = "-";
		if (f->has_lsl)
			snprintf(lsl, sizeof(lsl), "%g", f->lsl);
		if (f->has_usl)
			snprintf(usl, sizeof(usl), "%g", f->usl);
		fprintf(out, "%s    failed %-22s %g %s [%s, %s]: %s\n", indent, f->characteristic,
		        f->value, f->unit, lsl, usl, f->reason);
	}
	if (*v->inspection_reason)
		fprintf(out, "%s    inspection: %s\n", indent, v->inspection_reason);
	for (size_t k = 0; k < v->n_held_lots; k++)
		fprintf(out, "%s    held lot %s\n", indent, v->held_lots[k]);
}

char *ct_trace_to_json(const Cellthread__V1__TraceResponse *response)
{
	Cellthread__V1__StationResultBatch visits = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	json_t *root = json_object(), *nodes = json_array(), *visits_json = NULL;
	char *visits_text = NULL, *text = NULL;

	if (root == NULL || nodes == NULL)
		goto out;
	json_object_set_new(root, "ok", json_boolean(response->ok));
	if (!response->ok)
		json_object_set_new(root, "error", json_string(response->error));
	json_object_set_new(
	        root, "direction",
	        json_string(response->direction ==
	                                    CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK
	                            ? "back"
	                            : "forward"));
	json_object_set_new(root, "id", json_string(response->id));
	json_object_set_new(root, "truncated", json_boolean(response->truncated));
	for (size_t i = 0; i < response->n_nodes; i++) {
		const Cellthread__V1__TraceNode *n = response->nodes[i];
		const char *kind = ct_unit_kind_name(n->kind);
		json_array_append_new(
		        nodes, json_pack("{s:s, s:s, s:s, s:i, s:f, s:s, s:s}", "unit_id",
		                         n->unit_id, "kind", kind ? kind : "unspecified", "via",
		                         n->via_unit_id, "depth", (json_int_t)n->depth, "quantity",
		                         n->quantity, "unit", n->unit, "position", n->position));
	}
	json_object_set(root, "nodes", nodes);
	/* Visits use the same JSON form as ingest accepts, so an export can be replayed. */
	visits.n_results = response->n_visits;
	visits.results = response->visits;
	visits_text = ct_json_encode_result_batch(&visits);
	if (visits_text == NULL)
		goto out;
	visits_json = json_loads(visits_text, 0, NULL);
	if (visits_json == NULL)
		goto out;
	json_object_set(root, "visits", json_object_get(visits_json, "results"));
	if (response->direction == CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK) {
		json_t *verdicts = json_array();
		for (size_t i = 0; i < response->n_verdicts; i++)
			json_array_append_new(verdicts,
			                      ct_trace_verdict_to_json(response->verdicts[i]));
		json_object_set_new(root, "verdicts", verdicts);
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
out:
	free(visits_text);
	json_decref(visits_json);
	json_decref(nodes);
	json_decref(root);
	return text;
}

void ct_trace_print(const Cellthread__V1__TraceResponse *response, FILE *out)
{
	char when[40];
	bool back = response->direction == CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK;

	if (!response->ok) {
		fprintf(out, "trace %s %s: %s\n", back ? "back" : "forward", response->id,
		        response->error);
		return;
	}
	fprintf(out, "Trace %s from %s: %zu %s%s\n", back ? "back" : "forward", response->id,
	        response->n_nodes, back ? "ancestors (units and lots)" : "descendants",
	        response->truncated ? " (truncated)" : "");
	for (size_t i = 0; i < response->n_nodes; i++) {
		const Cellthread__V1__TraceNode *n = response->nodes[i];
		const char *kind = ct_unit_kind_name(n->kind);
		fprintf(out, "  %*s%-24s %-12s %s %s %g %s%s%s\n", (int)(2 * (n->depth - 1)), "",
		        n->unit_id, kind ? kind : "?", back ? "in" : "contains", n->via_unit_id,
		        n->quantity, n->unit, *n->position ? " @" : "", n->position);
	}
	if (!back)
		return;
	fprintf(out, "Station history (%zu visits):\n", response->n_visits);
	for (size_t i = 0; i < response->n_visits; i++) {
		const Cellthread__V1__StationResult *v = response->visits[i];
		const char *result = ct_result_code_name(v->result);
		fprintf(out, "  %s %-10s %-16s %s v%u result=%s operator=%s\n",
		        ct_time_format_us(v->started_at_us, when, sizeof(when)), v->unit_id,
		        v->station, v->recipe, v->recipe_version, result ? result : "?",
		        *v->operator_id ? v->operator_id : "-");
		for (size_t k = 0; k < v->n_parameters; k++) {
			const Cellthread__V1__Parameter *p = v->parameters[k];
			if (p->has_setpoint)
				fprintf(out, "      param %-24s %g %s (setpoint %g)\n", p->name,
				        p->actual, p->unit, p->setpoint);
			else
				fprintf(out, "      param %-24s %g %s\n", p->name, p->actual,
				        p->unit);
		}
		for (size_t k = 0; k < v->n_measurements; k++)
			fprintf(out, "      meas  %-24s %g %s\n",
			        v->measurements[k]->characteristic, v->measurements[k]->value,
			        v->measurements[k]->unit);
		for (size_t k = 0; k < v->n_materials; k++)
			fprintf(out, "      lot   %-24s %s %g %s\n", v->materials[k]->lot_id,
			        v->materials[k]->material, v->materials[k]->quantity,
			        v->materials[k]->unit);
		for (size_t k = 0; k < v->n_environment; k++)
			fprintf(out, "      env   %-24s %g %s (%s)\n", v->environment[k]->quantity,
			        v->environment[k]->value, v->environment[k]->unit,
			        v->environment[k]->sensor);
		for (size_t k = 0; k < v->n_exceptions; k++)
			fprintf(out, "      EXCEPTION %s: %s\n", v->exceptions[k]->code,
			        v->exceptions[k]->text);
		for (size_t k = 0; k < v->n_notes; k++)
			fprintf(out, "      note  %s: %s\n", v->notes[k]->author,
			        v->notes[k]->text);
		for (size_t k = 0; k < v->n_held_lots; k++)
			fprintf(out, "      HELD LOT %s (held when the unit consumed it)\n",
			        v->held_lots[k]);
	}
	fprintf(out, "Verdicts (%zu):\n", response->n_verdicts);
	for (size_t i = 0; i < response->n_verdicts; i++)
		ct_trace_verdict_print(response->verdicts[i], "  ", out);
}
