/* ingest_validate: field rules, clock bounds and normalisation of decoded station messages.
 *
 * Every check is split in two passes. The first pass only reads: it walks the message in field
 * order, stops at the first broken rule and reports it with the field's path; that pass also
 * computes the event IDs a result batch will carry, so duplicates inside a batch are found before
 * anything is touched. The second pass runs only when the whole message passed and allocates
 * everything it needs before it writes anything, so a message is either fully normalised or left
 * exactly as it came. Paths follow the proto field names, with [i] for repeated fields, because
 * that is what a user fixing a gateway or a Node-RED flow sees in the dead letter.
 *
 * Values quoted in reasons are cut to a few printable ASCII characters: reasons end up in logs
 * and dashboards, and the value that broke the rule is exactly the one not to trust. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ingest_validate.h"

#define REASON_INVALID CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID
#define REASON_CLOCK   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CLOCK
#define REASON_UNKNOWN_STATION                                                                     \
	CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_UNKNOWN_STATION
#define REASON_IMPLAUSIBLE CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_IMPLAUSIBLE

#define NAME_MAX_LEN  64 /* characteristic, parameter, quantity, signal and curve names */
#define UNIT_MAX_LEN  16 /* units of measure */
#define LABEL_MAX_LEN 64 /* material names, child positions */
#define PATH_LEN      128
#define SHOWN_LEN     40 /* room for a quoted, shortened value in a reason */

#define UNIT_KIND_MAX    CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK
#define STATION_TYPE_MAX CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_PACK_ASSEMBLY
#define RESULT_CODE_MAX  CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_ABORTED
#define SEVERITY_MAX     CELLTHREAD__V1__SEVERITY__SEVERITY_CRITICAL
#define RELATION_MAX     CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_DISASSEMBLY
#define STATE_PLANNED    CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_PLANNED_DOWNTIME
#define STATE_UNPLANNED  CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNPLANNED_DOWNTIME
#define STATE_UNKNOWN    CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNKNOWN_STOP
#define ACK_STATUS_MAX   CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED

/* The state of one check: its inputs and where the first failure goes. */
struct check {
	const struct ingest_limits *limits;
	int64_t now_us;
	int reason; /* dead-letter reason of the failure, once there is one */
	char *err;
	size_t err_len;
};

/* What is wrong with a piece of text, if anything. */
enum text_fault { TEXT_OK = 0, TEXT_TOO_LONG, TEXT_NOT_UTF8, TEXT_CONTROL };

void ingest_limits_init(struct ingest_limits *limits)
{
	limits->max_future_us = INT64_C(5) * 60 * 1000000;
	limits->max_past_us = INT64_C(30) * 24 * 3600 * 1000000;
	limits->max_results = 1000;
	limits->max_items = 4096;
	limits->max_text = 1024;
	limits->max_curve_points = 4096;
	limits->max_samples = 10000;
	limits->plant = NULL;
}

static bool is_empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static int fail(struct check *c, int reason, const char *path, const char *field, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* Records the failure in c and err as "path.field: what"; returns CT_ERR_INVALID. */
static int fail(struct check *c, int reason, const char *path, const char *field, const char *fmt,
                ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->reason = reason;
	return ct_set_error(c->err, c->err_len, CT_ERR_INVALID, "%s%s%s: %s", path,
	                    (path[0] != '\0' && field != NULL) ? "." : "", field ? field : "",
	                    what);
}

/* Writes "path.field[index]" (or "field[index]" at the top) into buf (len > 4); a path too
 * long for buf ends in "...", which only shortens a reason. */
static void subpath(char *buf, size_t len, const char *path, const char *field, size_t index)
{
	if (snprintf(buf, len, "%s%s%s[%zu]", path, path[0] != '\0' ? "." : "", field, index) >=
	    (int)len)
		memcpy(buf + len - 4, "...", 4);
}

/* Writes s into buf as a quoted string of at most a few printable ASCII characters, for
 * reasons; anything else becomes '?', and a cut value ends in "...". Returns buf. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i, o = 0;
	const size_t keep = len > 8 ? len - 6 : 0; /* quotes, "...", NUL */

	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; s[i] != '\0' && o < keep; i++)
		buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* True for 1-64 characters from [a-z0-9_]. */
static bool is_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= NAME_MAX_LEN)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return i > 0;
}

/* True for 0-16 printable ASCII characters. */
static bool is_unit(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= UNIT_MAX_LEN || s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	return true;
}

/* Checks that s is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) of at most max bytes without control characters; tab, CR and LF are allowed when
 * multiline. */
static enum text_fault text_fault(const char *s, size_t max, bool multiline)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t cp;

	while (p[i] != '\0') {
		if (i >= max)
			return TEXT_TOO_LONG;
		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f) {
				if (!multiline || !(p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
					return TEXT_CONTROL;
			}
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 2;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3;
			cp = p[i] & 0x07;
		} else {
			return TEXT_NOT_UTF8;
		}
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return TEXT_NOT_UTF8; /* also stops at the NUL */
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return TEXT_NOT_UTF8;
		if (cp >= 0x80 && cp < 0xa0)
			return TEXT_CONTROL; /* C1 controls */
		i += n + 1;
	}
	if (i > max)
		return TEXT_TOO_LONG;
	return TEXT_OK;
}

static int check_text(struct check *c, const char *path, const char *field, const char *s,
                      size_t max, bool multiline, bool required)
{
	if (is_empty(s)) {
		if (required)
			return fail(c, REASON_INVALID, path, field, "missing");
		return CT_OK;
	}
	switch (text_fault(s, max, multiline)) {
	case TEXT_OK:
		return CT_OK;
	case TEXT_TOO_LONG:
		return fail(c, REASON_INVALID, path, field, "longer than %zu bytes", max);
	case TEXT_NOT_UTF8:
		return fail(c, REASON_INVALID, path, field, "not valid UTF-8");
	case TEXT_CONTROL:
		return fail(c, REASON_INVALID, path, field, "contains a control character");
	}
	return fail(c, REASON_INVALID, path, field, "not valid text");
}

static int check_id(struct check *c, const char *path, const char *field, const char *id,
                    bool required)
{
	char buf[SHOWN_LEN];

	if (is_empty(id)) {
		if (required)
			return fail(c, REASON_INVALID, path, field, "missing");
		return CT_OK;
	}
	if (!ct_id_is_valid(id))
		return fail(c, REASON_INVALID, path, field,
		            "not a valid ID (1-64 characters from [A-Za-z0-9._:-]): %s",
		            shown(id, buf, sizeof(buf)));
	return CT_OK;
}

static int check_name(struct check *c, const char *path, const char *field, const char *name)
{
	char buf[SHOWN_LEN];

	if (is_empty(name))
		return fail(c, REASON_INVALID, path, field, "missing");
	if (!is_name(name))
		return fail(c, REASON_INVALID, path, field,
		            "not a valid name (1-64 characters from [a-z0-9_]): %s",
		            shown(name, buf, sizeof(buf)));
	return CT_OK;
}

static int check_unit(struct check *c, const char *path, const char *field, const char *unit)
{
	char buf[SHOWN_LEN];

	if (unit != NULL && !is_unit(unit))
		return fail(c, REASON_INVALID, path, field,
		            "not a valid unit (0-16 printable ASCII characters): %s",
		            shown(unit, buf, sizeof(buf)));
	return CT_OK;
}

/* A finite value within the physical range of `name` (the plant registry's, else
 * +-CT_PLANT_DEFAULT_LIMIT). */
static int check_plausible(struct check *c, const char *path, const char *field, const char *name,
                           double v)
{
	double min = -CT_PLANT_DEFAULT_LIMIT, max = CT_PLANT_DEFAULT_LIMIT;
	bool plausible;

	if (!isfinite(v))
		return fail(c, REASON_INVALID, path, field, "not finite");
	if (c->limits->plant != NULL)
		plausible = ct_plant_value_is_plausible(c->limits->plant, name, v, &min, &max);
	else
		plausible = v >= min && v <= max;
	if (!plausible)
		return fail(c, REASON_IMPLAUSIBLE, path, field,
		            "%.15g is outside the physical range of %s [%g, %g]", v, name, min,
		            max);
	return CT_OK;
}

static int check_quantity(struct check *c, const char *path, const char *field, double v)
{
	if (!isfinite(v))
		return fail(c, REASON_INVALID, path, field, "not finite");
	if (v < 0)
		return fail(c, REASON_INVALID, path, field, "negative (%g)", v);
	return CT_OK;
}

/* Checks t against now - max_past .. now + max_future without overflowing on hostile values.
 * 0 is "missing" unless zero_ok (then the caller normalises it). */
static int check_time(struct check *c, const char *path, const char *field, int64_t t, bool zero_ok)
{
	uint64_t future = c->limits->max_future_us > 0 ? (uint64_t)c->limits->max_future_us : 0;
	uint64_t past = c->limits->max_past_us > 0 ? (uint64_t)c->limits->max_past_us : 0;
	uint64_t diff;

	if (t == 0) {
		if (zero_ok)
			return CT_OK;
		return fail(c, REASON_INVALID, path, field, "missing");
	}
	if (t > c->now_us) {
		diff = (uint64_t)t - (uint64_t)c->now_us;
		if (diff > future)
			return fail(c, REASON_CLOCK, path, field,
			            "%" PRId64 " is %.3f s in the future (limit %.0f s)", t,
			            (double)diff / 1e6, (double)future / 1e6);
	} else {
		diff = (uint64_t)c->now_us - (uint64_t)t;
		if (diff > past)
			return fail(c, REASON_CLOCK, path, field,
			            "%" PRId64 " is %.0f s in the past (limit %.0f s)", t,
			            (double)diff / 1e6, (double)past / 1e6);
	}
	return CT_OK;
}

static int check_enum(struct check *c, const char *path, const char *field, int v, int max,
                      bool required)
{
	if (v == 0 && required)
		return fail(c, REASON_INVALID, path, field, "unspecified");
	if (v < 0 || v > max)
		return fail(c, REASON_INVALID, path, field, "unknown value %d", v);
	return CT_OK;
}

static int check_count(struct check *c, const char *path, const char *field, size_t n, size_t min,
                       size_t max)
{
	if (n < min)
		return fail(c, REASON_INVALID, path, field, "empty");
	if (n > max)
		return fail(c, REASON_INVALID, path, field, "%zu entries, limit %zu", n, max);
	return CT_OK;
}

/* Compares a location field with the topic's; both are valid IDs by now. */
static int check_topic(struct check *c, const char *path, const char *field, const char *value,
                       const char *topic_value, const char *topic_field)
{
	if (strcmp(value, topic_value) != 0)
		return fail(c, REASON_INVALID, path, field,
		            "\"%s\" does not match the topic's %s \"%s\"", value, topic_field,
		            topic_value);
	return CT_OK;
}

/* A station (or an asset of one) the plant registry names on that site and line. */
static int check_registered(struct check *c, const char *path, const char *site, const char *line,
                            const char *station_field, const char *station)
{
	if (c->limits->plant == NULL || ct_plant_has_station(c->limits->plant, site, line, station))
		return CT_OK;
	return fail(c, REASON_UNKNOWN_STATION, path, station_field,
	            "\"%s\" is not a station of site \"%s\" line \"%s\" in the plant registry",
	            station, site, line);
}

/* Where a message says it comes from: site, line and station (or asset) are IDs, and when
 * the topic is known they equal its levels. station_field names the message's field. */
static int check_location(struct check *c, const char *path, const char *site, const char *line,
                          const char *station_field, const char *station,
                          const struct ct_topic *topic)
{
	int rc;

	if ((rc = check_id(c, path, "site", site, true)) != CT_OK)
		return rc;
	if ((rc = check_id(c, path, "line", line, true)) != CT_OK)
		return rc;
	if ((rc = check_id(c, path, station_field, station, true)) != CT_OK)
		return rc;
	if (topic == NULL)
		return check_registered(c, path, site, line, station_field, station);
	if ((rc = check_topic(c, path, "site", site, topic->site, "site")) != CT_OK)
		return rc;
	if ((rc = check_topic(c, path, "line", line, topic->line, "line")) != CT_OK)
		return rc;
	if ((rc = check_topic(c, path, station_field, station, topic->station, "station")) != CT_OK)
		return rc;
	return check_registered(c, path, site, line, station_field, station);
}

static int check_header(struct check *c, const char *path, const Cellthread__V1__Header *h)
{
	char p[PATH_LEN];
	int rc;

	if (h == NULL)
		return fail(c, REASON_INVALID, path, "header", "missing");
	if (snprintf(p, sizeof(p), "%s%sheader", path, path[0] != '\0' ? "." : "") >=
	    (int)sizeof(p))
		memcpy(p + sizeof(p) - 4, "...", 4);
	if ((rc = check_id(c, p, "event_id", h->event_id, false)) != CT_OK)
		return rc;
	if ((rc = check_id(c, p, "producer", h->producer, true)) != CT_OK)
		return rc;
	if ((rc = check_time(c, p, "produced_at_us", h->produced_at_us, false)) != CT_OK)
		return rc;
	if (h->schema_version > 1)
		return fail(c, REASON_INVALID, p, "schema_version",
		            "version %" PRIu32 " not supported (expected 1)", h->schema_version);
	return CT_OK;
}

static int check_measurement(struct check *c, const char *p, const Cellthread__V1__Measurement *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_name(c, p, "characteristic", m->characteristic)) != CT_OK)
		return rc;
	if ((rc = check_plausible(c, p, "value", m->characteristic, m->value)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "unit", m->unit)) != CT_OK)
		return rc;
	return check_time(c, p, "measured_at_us", m->measured_at_us, true);
}

static int check_parameter(struct check *c, const char *p, const Cellthread__V1__Parameter *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_name(c, p, "name", m->name)) != CT_OK)
		return rc;
	if ((rc = check_plausible(c, p, "actual", m->name, m->actual)) != CT_OK)
		return rc;
	if ((rc = check_plausible(c, p, "setpoint", m->name, m->setpoint)) != CT_OK)
		return rc;
	return check_unit(c, p, "unit", m->unit);
}

static int check_material(struct check *c, const char *p, const Cellthread__V1__MaterialUse *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_id(c, p, "lot_id", m->lot_id, true)) != CT_OK)
		return rc;
	if ((rc = check_text(c, p, "material", m->material, LABEL_MAX_LEN, false, true)) != CT_OK)
		return rc;
	if ((rc = check_quantity(c, p, "quantity", m->quantity)) != CT_OK)
		return rc;
	return check_unit(c, p, "unit", m->unit);
}

/* parent is the unit the child is built into; a unit is never its own child. */
static int check_child(struct check *c, const char *p, const Cellthread__V1__ChildUnit *m,
                       const char *parent)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_id(c, p, "unit_id", m->unit_id, true)) != CT_OK)
		return rc;
	if (strcmp(m->unit_id, parent) == 0)
		return fail(c, REASON_INVALID, p, "unit_id", "the unit itself (\"%s\")", parent);
	if ((rc = check_enum(c, p, "kind", m->kind, UNIT_KIND_MAX, true)) != CT_OK)
		return rc;
	if ((rc = check_quantity(c, p, "quantity", m->quantity)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "unit", m->unit)) != CT_OK)
		return rc;
	return check_text(c, p, "position", m->position, LABEL_MAX_LEN, false, false);
}

static int check_environment(struct check *c, const char *p,
                             const Cellthread__V1__EnvironmentReading *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_name(c, p, "quantity", m->quantity)) != CT_OK)
		return rc;
	if ((rc = check_plausible(c, p, "value", m->quantity, m->value)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "unit", m->unit)) != CT_OK)
		return rc;
	if ((rc = check_id(c, p, "sensor", m->sensor, false)) != CT_OK)
		return rc;
	return check_time(c, p, "measured_at_us", m->measured_at_us, true);
}

static int check_note(struct check *c, const char *p, const Cellthread__V1__OperatorNote *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_id(c, p, "author", m->author, false)) != CT_OK)
		return rc;
	if ((rc = check_text(c, p, "text", m->text, c->limits->max_text, true, true)) != CT_OK)
		return rc;
	return check_time(c, p, "at_us", m->at_us, true);
}

static int check_exception(struct check *c, const char *p,
                           const Cellthread__V1__ProcessException *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_id(c, p, "code", m->code, true)) != CT_OK)
		return rc;
	if ((rc = check_enum(c, p, "severity", m->severity, SEVERITY_MAX, false)) != CT_OK)
		return rc;
	if ((rc = check_text(c, p, "text", m->text, c->limits->max_text, true, false)) != CT_OK)
		return rc;
	return check_time(c, p, "at_us", m->at_us, true);
}

static int check_points(struct check *c, const char *p, const char *field, const double *v,
                        size_t n)
{
	char q[PATH_LEN];
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isfinite(v[i])) {
			subpath(q, sizeof(q), p, field, i);
			return fail(c, REASON_INVALID, q, NULL, "not finite");
		}
	}
	return CT_OK;
}

static int check_curve(struct check *c, const char *p, const Cellthread__V1__Curve *m)
{
	int rc;

	if (m == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_name(c, p, "name", m->name)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "x_unit", m->x_unit)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "y_unit", m->y_unit)) != CT_OK)
		return rc;
	if (m->n_x > c->limits->max_curve_points)
		return fail(c, REASON_INVALID, p, "x", "%zu points, limit %zu", m->n_x,
		            c->limits->max_curve_points);
	if (m->n_y != m->n_x)
		return fail(c, REASON_INVALID, p, "y", "%zu points but x has %zu", m->n_y, m->n_x);
	if ((rc = check_points(c, p, "x", m->x, m->n_x)) != CT_OK)
		return rc;
	return check_points(c, p, "y", m->y, m->n_y);
}

/* The repeated fields of a result: counts first, then every entry in field order. */
static int check_result_items(struct check *c, const char *path,
                              const Cellthread__V1__StationResult *r)
{
	const size_t max = c->limits->max_items;
	char p[PATH_LEN];
	size_t i;
	int rc;

	if ((rc = check_count(c, path, "measurements", r->n_measurements, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "parameters", r->n_parameters, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "materials", r->n_materials, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "children", r->n_children, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "environment", r->n_environment, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "notes", r->n_notes, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "exceptions", r->n_exceptions, 0, max)) != CT_OK ||
	    (rc = check_count(c, path, "curves", r->n_curves, 0, max)) != CT_OK)
		return rc;
	for (i = 0; rc == CT_OK && i < r->n_measurements; i++) {
		subpath(p, sizeof(p), path, "measurements", i);
		rc = check_measurement(c, p, r->measurements[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_parameters; i++) {
		subpath(p, sizeof(p), path, "parameters", i);
		rc = check_parameter(c, p, r->parameters[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_materials; i++) {
		subpath(p, sizeof(p), path, "materials", i);
		rc = check_material(c, p, r->materials[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_children; i++) {
		subpath(p, sizeof(p), path, "children", i);
		rc = check_child(c, p, r->children[i], r->unit_id);
	}
	for (i = 0; rc == CT_OK && i < r->n_environment; i++) {
		subpath(p, sizeof(p), path, "environment", i);
		rc = check_environment(c, p, r->environment[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_notes; i++) {
		subpath(p, sizeof(p), path, "notes", i);
		rc = check_note(c, p, r->notes[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_exceptions; i++) {
		subpath(p, sizeof(p), path, "exceptions", i);
		rc = check_exception(c, p, r->exceptions[i]);
	}
	for (i = 0; rc == CT_OK && i < r->n_curves; i++) {
		subpath(p, sizeof(p), path, "curves", i);
		rc = check_curve(c, p, r->curves[i]);
	}
	return rc;
}

static int check_result(struct check *c, const char *path, const Cellthread__V1__StationResult *r,
                        const struct ct_topic *topic)
{
	int rc;

	if (r == NULL)
		return fail(c, REASON_INVALID, path, NULL, "missing");
	if ((rc = check_header(c, path, r->header)) != CT_OK)
		return rc;
	if ((rc = check_id(c, path, "unit_id", r->unit_id, true)) != CT_OK)
		return rc;
	if ((rc = check_enum(c, path, "unit_kind", r->unit_kind, UNIT_KIND_MAX, true)) != CT_OK)
		return rc;
	if ((rc = check_location(c, path, r->site, r->line, "station", r->station, topic)) != CT_OK)
		return rc;
	if ((rc = check_enum(c, path, "station_type", r->station_type, STATION_TYPE_MAX, false)) !=
	    CT_OK)
		return rc;
	if ((rc = check_id(c, path, "recipe", r->recipe, true)) != CT_OK)
		return rc;
	if ((rc = check_id(c, path, "operator_id", r->operator_id, false)) != CT_OK)
		return rc;
	if ((rc = check_time(c, path, "started_at_us", r->started_at_us, false)) != CT_OK)
		return rc;
	if ((rc = check_time(c, path, "ended_at_us", r->ended_at_us, false)) != CT_OK)
		return rc;
	if (r->ended_at_us < r->started_at_us)
		return fail(c, REASON_INVALID, path, "ended_at_us",
		            "%" PRId64 " is before started_at_us %" PRId64, r->ended_at_us,
		            r->started_at_us);
	if ((rc = check_enum(c, path, "result", r->result, RESULT_CODE_MAX, false)) != CT_OK)
		return rc;
	return check_result_items(c, path, r);
}

static int check_signal(struct check *c, const char *p, const Cellthread__V1__Signal *s)
{
	char q[PATH_LEN];
	size_t i;
	int rc;

	if (s == NULL)
		return fail(c, REASON_INVALID, p, NULL, "missing");
	if ((rc = check_name(c, p, "name", s->name)) != CT_OK)
		return rc;
	if ((rc = check_unit(c, p, "unit", s->unit)) != CT_OK)
		return rc;
	if ((rc = check_count(c, p, "samples", s->n_samples, 1, c->limits->max_samples)) != CT_OK)
		return rc;
	for (i = 0; i < s->n_samples; i++) {
		subpath(q, sizeof(q), p, "samples", i);
		if (s->samples[i] == NULL)
			return fail(c, REASON_INVALID, q, NULL, "missing");
		if ((rc = check_time(c, q, "at_us", s->samples[i]->at_us, false)) != CT_OK)
			return rc;
		if (i > 0 && s->samples[i]->at_us < s->samples[i - 1]->at_us)
			return fail(c, REASON_INVALID, q, "at_us", "earlier than samples[%zu]",
			            i - 1);
		if ((rc = check_plausible(c, q, "value", s->name, s->samples[i]->value)) != CT_OK)
			return rc;
	}
	return CT_OK;
}

/* Event IDs for messages sent without one: ct_id_derive ("d-" + SHA-256 of what identifies the
 * message), so a gateway resending the same message gets the same ID and the duplicate is
 * dropped. Each returns CT_OK or CT_ERR_NOMEM. */
static int derive_result_id(const Cellthread__V1__StationResult *r, char *buf)
{
	char started[24];
	const char *parts[6];

	snprintf(started, sizeof(started), "%" PRId64, r->started_at_us);
	parts[0] = "result";
	parts[1] = r->site;
	parts[2] = r->line;
	parts[3] = r->station;
	parts[4] = r->unit_id;
	parts[5] = started;
	return ct_id_derive(buf, INGEST_DERIVED_ID_LEN, "d-", parts, 6);
}

static int derive_telemetry_id(const Cellthread__V1__Telemetry *m, char *buf)
{
	const char **parts = NULL;
	char first_text[24];
	int64_t first = 0;
	size_t i;
	int rc;

	/* Samples are in time order, so each signal's first sample is its earliest. */
	for (i = 0; i < m->n_signals; i++) {
		if (i == 0 || m->signals[i]->samples[0]->at_us < first)
			first = m->signals[i]->samples[0]->at_us;
	}
	if ((parts = calloc(m->n_signals + 5, sizeof(*parts))) == NULL)
		return CT_ERR_NOMEM;
	snprintf(first_text, sizeof(first_text), "%" PRId64, first);
	parts[0] = "telemetry";
	parts[1] = m->site;
	parts[2] = m->line;
	parts[3] = m->asset;
	parts[4] = first_text;
	for (i = 0; i < m->n_signals; i++)
		parts[5 + i] = m->signals[i]->name;
	rc = ct_id_derive(buf, INGEST_DERIVED_ID_LEN, "d-", parts, m->n_signals + 5);
	free(parts);
	return rc;
}

static int derive_genealogy_id(const Cellthread__V1__Genealogy *m, char *buf)
{
	char assembled[24];
	const char *parts[3];

	snprintf(assembled, sizeof(assembled), "%" PRId64, m->assembled_at_us);
	parts[0] = "genealogy";
	parts[1] = m->parent_unit_id;
	parts[2] = assembled;
	return ct_id_derive(buf, INGEST_DERIVED_ID_LEN, "d-", parts, 3);
}

/* Replaces an empty string field with an owned one, freeing the old unless it is the
 * protobuf-c default. */
static void replace_string(char **field, char *owned)
{
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	*field = owned;
}

/* Second pass for a header that passed: the event ID (when id is not NULL) and the version. */
static void normalise_header(Cellthread__V1__Header *h, char *id)
{
	if (id != NULL)
		replace_string(&h->event_id, id);
	h->schema_version = 1;
}

static void normalise_result(Cellthread__V1__StationResult *r)
{
	size_t i;

	for (i = 0; i < r->n_measurements; i++) {
		if (r->measurements[i]->measured_at_us == 0)
			r->measurements[i]->measured_at_us = r->ended_at_us;
	}
	for (i = 0; i < r->n_environment; i++) {
		if (r->environment[i]->measured_at_us == 0)
			r->environment[i]->measured_at_us = r->ended_at_us;
	}
	for (i = 0; i < r->n_notes; i++) {
		if (r->notes[i]->at_us == 0)
			r->notes[i]->at_us = r->ended_at_us;
	}
	for (i = 0; i < r->n_exceptions; i++) {
		if (r->exceptions[i]->at_us == 0)
			r->exceptions[i]->at_us = r->ended_at_us;
	}
}

/* One result's effective event ID and its place in the batch, for the duplicate search. */
struct id_ref {
	const char *id;
	size_t index;
};

static int id_ref_cmp(const void *a, const void *b)
{
	const struct id_ref *x = a, *y = b;
	int d = strcmp(x->id, y->id);

	if (d != 0)
		return d;
	return (x->index > y->index) - (x->index < y->index);
}

int ingest_check_result_batch(Cellthread__V1__StationResultBatch *batch,
                              const struct ct_topic *topic, int64_t now_us,
                              const struct ingest_limits *limits, int *ret_reason, char *err,
                              size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	char(*derived)[INGEST_DERIVED_ID_LEN] = NULL;
	struct id_ref *refs = NULL;
	char **owned = NULL;
	char path[PATH_LEN];
	size_t i, n, dup = 0; /* position in refs of the reported duplicate, 0 for none */
	int rc;

	if ((rc = check_count(&c, "", "results", batch->n_results, 1, limits->max_results)) !=
	    CT_OK)
		goto out;
	n = batch->n_results;
	for (i = 0; i < n; i++) {
		subpath(path, sizeof(path), "", "results", i);
		if ((rc = check_result(&c, path, batch->results[i], topic)) != CT_OK)
			goto out;
	}

	/* Effective event IDs, then duplicates: sorted by (id, index), the first equal neighbour
	 * pair with the lowest later index names the first result that repeats an earlier one. */
	derived = calloc(n, sizeof(*derived));
	refs = calloc(n, sizeof(*refs));
	owned = calloc(n, sizeof(*owned));
	if (derived == NULL || refs == NULL || owned == NULL) {
		rc = CT_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const Cellthread__V1__StationResult *r = batch->results[i];

		if (is_empty(r->header->event_id)) {
			if ((rc = derive_result_id(r, derived[i])) != CT_OK)
				goto out;
			refs[i].id = derived[i];
		} else {
			refs[i].id = r->header->event_id;
		}
		refs[i].index = i;
	}
	qsort(refs, n, sizeof(*refs), id_ref_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(refs[i - 1].id, refs[i].id) == 0 &&
		    (dup == 0 || refs[i].index < refs[dup].index))
			dup = i;
	}
	if (dup != 0) {
		subpath(path, sizeof(path), "", "results", refs[dup].index);
		rc = fail(&c, REASON_INVALID, path, "header.event_id",
		          "duplicate of results[%zu] (\"%s\")", refs[dup - 1].index, refs[dup].id);
		goto out;
	}

	for (i = 0; i < n; i++) {
		if (derived[i][0] != '\0' && (owned[i] = strdup(derived[i])) == NULL) {
			rc = CT_ERR_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		normalise_header(batch->results[i]->header, owned[i]);
		owned[i] = NULL;
		normalise_result(batch->results[i]);
	}
	rc = CT_OK;
out:
	if (rc == CT_ERR_INVALID)
		*ret_reason = c.reason;
	if (owned != NULL) {
		for (i = 0; i < batch->n_results; i++)
			free(owned[i]);
	}
	free(owned);
	free(refs);
	free(derived);
	return rc;
}

int ingest_check_result(Cellthread__V1__StationResult *result, size_t index,
                        const struct ct_topic *topic, int64_t now_us,
                        const struct ingest_limits *limits, int *ret_reason, char *err,
                        size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	char path[PATH_LEN], derived[INGEST_DERIVED_ID_LEN];
	char *owned = NULL;
	int rc;

	subpath(path, sizeof(path), "", "results", index);
	if ((rc = check_result(&c, path, result, topic)) != CT_OK) {
		*ret_reason = c.reason;
		return rc;
	}
	if (is_empty(result->header->event_id)) {
		if (derive_result_id(result, derived) != CT_OK || (owned = strdup(derived)) == NULL)
			return CT_ERR_NOMEM;
	}
	normalise_header(result->header, owned);
	normalise_result(result);
	return CT_OK;
}

static int check_telemetry(struct check *c, const Cellthread__V1__Telemetry *m,
                           const struct ct_topic *topic)
{
	char p[PATH_LEN];
	size_t i;
	int rc;

	if ((rc = check_header(c, "", m->header)) != CT_OK)
		return rc;
	if ((rc = check_location(c, "", m->site, m->line, "asset", m->asset, topic)) != CT_OK)
		return rc;
	if ((rc = check_count(c, "", "signals", m->n_signals, 1, c->limits->max_items)) != CT_OK)
		return rc;
	for (i = 0; rc == CT_OK && i < m->n_signals; i++) {
		subpath(p, sizeof(p), "", "signals", i);
		rc = check_signal(c, p, m->signals[i]);
	}
	return rc;
}

int ingest_check_telemetry(Cellthread__V1__Telemetry *msg, const struct ct_topic *topic,
                           int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                           char *err, size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	char derived[INGEST_DERIVED_ID_LEN];
	char *owned = NULL;
	int rc;

	if ((rc = check_telemetry(&c, msg, topic)) != CT_OK) {
		*ret_reason = c.reason;
		return rc;
	}
	if (is_empty(msg->header->event_id)) {
		if (derive_telemetry_id(msg, derived) != CT_OK || (owned = strdup(derived)) == NULL)
			return CT_ERR_NOMEM;
	}
	normalise_header(msg->header, owned);
	return CT_OK;
}

static int check_genealogy(struct check *c, const Cellthread__V1__Genealogy *m,
                           const struct ct_topic *topic)
{
	char p[PATH_LEN];
	size_t i;
	int rc;

	if ((rc = check_header(c, "", m->header)) != CT_OK)
		return rc;
	if ((rc = check_location(c, "", m->site, m->line, "station", m->station, topic)) != CT_OK)
		return rc;
	if ((rc = check_id(c, "", "parent_unit_id", m->parent_unit_id, true)) != CT_OK)
		return rc;
	if ((rc = check_enum(c, "", "parent_kind", m->parent_kind, UNIT_KIND_MAX, true)) != CT_OK)
		return rc;
	/* 0 is ASSEMBLY, the default; traveler applies REWORK and DISASSEMBLY to the thread. */
	if ((rc = check_enum(c, "", "relation", m->relation, RELATION_MAX, false)) != CT_OK)
		return rc;
	if ((rc = check_count(c, "", "children", m->n_children, 1, c->limits->max_items)) != CT_OK)
		return rc;
	for (i = 0; rc == CT_OK && i < m->n_children; i++) {
		subpath(p, sizeof(p), "", "children", i);
		rc = check_child(c, p, m->children[i], m->parent_unit_id);
	}
	if (rc != CT_OK)
		return rc;
	if ((rc = check_time(c, "", "assembled_at_us", m->assembled_at_us, false)) != CT_OK)
		return rc;
	return check_id(c, "", "operator_id", m->operator_id, false);
}

int ingest_check_genealogy(Cellthread__V1__Genealogy *msg, const struct ct_topic *topic,
                           int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                           char *err, size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	char derived[INGEST_DERIVED_ID_LEN];
	char *owned = NULL;
	int rc;

	if ((rc = check_genealogy(&c, msg, topic)) != CT_OK) {
		*ret_reason = c.reason;
		return rc;
	}
	if (is_empty(msg->header->event_id)) {
		if (derive_genealogy_id(msg, derived) != CT_OK || (owned = strdup(derived)) == NULL)
			return CT_ERR_NOMEM;
	}
	normalise_header(msg->header, owned);
	return CT_OK;
}

/* since_us: set, and not beyond the clock-skew limit. Not bounded in the past (unlike
 * check_time): a station idle for two months resends its state with the true start. */
static int check_since(struct check *c, int64_t t)
{
	uint64_t future = c->limits->max_future_us > 0 ? (uint64_t)c->limits->max_future_us : 0;
	uint64_t diff;

	if (t <= 0)
		return fail(c, REASON_INVALID, "", "since_us", t == 0 ? "missing" : "negative");
	if (t > c->now_us) {
		diff = (uint64_t)t - (uint64_t)c->now_us;
		if (diff > future)
			return fail(c, REASON_CLOCK, "", "since_us",
			            "%" PRId64 " is %.3f s in the future (limit %.0f s)", t,
			            (double)diff / 1e6, (double)future / 1e6);
	}
	return CT_OK;
}

static int check_state(struct check *c, const Cellthread__V1__StationState *m,
                       const struct ct_topic *topic)
{
	char buf[SHOWN_LEN];
	int rc;

	if ((rc = check_header(c, "", m->header)) != CT_OK)
		return rc;
	/* Two states of one station may share every field but the ID (a stop and a restart in
	 * the same microsecond), so none is derived: only the sender can tell them apart. */
	if (is_empty(m->header->event_id))
		return fail(c, REASON_INVALID, "header", "event_id",
		            "missing (a station state needs its sender's event ID)");
	if ((rc = check_location(c, "", m->site, m->line, "station", m->station, topic)) != CT_OK)
		return rc;
	if (m->state == STATE_UNKNOWN)
		return fail(c, REASON_INVALID, "", "state",
		            "UNKNOWN_STOP is derived by ct-oee, not sent by stations");
	if ((rc = check_enum(c, "", "state", (int)m->state, STATE_UNPLANNED, true)) != CT_OK)
		return rc;
	if (is_empty(m->reason_code)) {
		if (m->state == STATE_PLANNED || m->state == STATE_UNPLANNED)
			return fail(c, REASON_INVALID, "", "reason_code",
			            "missing (required for planned and unplanned downtime)");
	} else if (!ct_reason_code_is_valid(m->reason_code)) {
		return fail(c, REASON_INVALID, "", "reason_code",
		            "not a valid reason code (1-64 characters from [A-Za-z0-9._-]): %s",
		            shown(m->reason_code, buf, sizeof(buf)));
	}
	if ((rc = check_text(c, "", "reason_text", m->reason_text, c->limits->max_text, false,
	                     false)) != CT_OK)
		return rc;
	if ((rc = check_since(c, m->since_us)) != CT_OK)
		return rc;
	if ((rc = check_id(c, "", "recipe", m->recipe, false)) != CT_OK)
		return rc;
	if (m->recipe_version < 0)
		return fail(c, REASON_INVALID, "", "recipe_version", "negative (%" PRId32 ")",
		            m->recipe_version);
	if ((rc = check_id(c, "", "asset", m->asset, false)) != CT_OK)
		return rc;
	return check_quantity(c, "", "rate_per_hour", m->rate_per_hour);
}

int ingest_check_state(Cellthread__V1__StationState *msg, const struct ct_topic *topic,
                       int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                       char *err, size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	int rc;

	if ((rc = check_state(&c, msg, topic)) != CT_OK) {
		*ret_reason = c.reason;
		return rc;
	}
	normalise_header(msg->header, NULL);
	return CT_OK;
}

static int check_ack(struct check *c, const Cellthread__V1__CommandAck *m,
                     const struct ct_topic *topic)
{
	int rc;

	if ((rc = check_header(c, "", m->header)) != CT_OK)
		return rc;
	if ((rc = check_location(c, "", m->site, m->line, "station", m->station, topic)) != CT_OK)
		return rc;
	if ((rc = check_id(c, "", "command_event_id", m->command_event_id, true)) != CT_OK)
		return rc;
	if ((rc = check_enum(c, "", "status", (int)m->status, ACK_STATUS_MAX, true)) != CT_OK)
		return rc;
	if ((rc = check_text(c, "", "detail", m->detail, c->limits->max_text, false, false)) !=
	    CT_OK)
		return rc;
	return check_time(c, "", "acked_at_us", m->acked_at_us, false);
}

static int derive_ack_id(const Cellthread__V1__CommandAck *m, char *buf)
{
	const char *parts[5];

	parts[0] = "ack";
	parts[1] = m->site;
	parts[2] = m->line;
	parts[3] = m->station;
	parts[4] = m->command_event_id;
	return ct_id_derive(buf, INGEST_DERIVED_ID_LEN, "d-", parts, 5);
}

int ingest_check_ack(Cellthread__V1__CommandAck *msg, const struct ct_topic *topic, int64_t now_us,
                     const struct ingest_limits *limits, int *ret_reason, char *err, size_t err_len)
{
	struct check c = {limits, now_us, REASON_INVALID, err, err_len};
	char derived[INGEST_DERIVED_ID_LEN];
	char *owned = NULL;
	int rc;

	if ((rc = check_ack(&c, msg, topic)) != CT_OK) {
		*ret_reason = c.reason;
		return rc;
	}
	if (is_empty(msg->header->event_id)) {
		if (derive_ack_id(msg, derived) != CT_OK || (owned = strdup(derived)) == NULL)
			return CT_ERR_NOMEM;
	}
	normalise_header(msg->header, owned);
	return CT_OK;
}
