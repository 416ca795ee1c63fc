/* oee_figures: ct_oee_shift's JSON as the OeeFigures message, its topic and its event ID
 * (contracts in oee_logic.h).
 *
 * The database computes every figure (deploy/migrations/0011_oee.sql); this only carries them
 * over, so the message and the stored row (oee_figures.figures) never disagree. The JSON keys
 * are the contract's; where the message's field is named differently the table below says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cellthread/v1/oee.pb-c.h"
#include "ct_error.h"
#include "ct_time.h"
#include "oee_logic.h"

#define FIELD(f) offsetof(Cellthread__V1__OeeFigures, f)

/* The numbers: JSON key, the message field, and whether it is a count. */
static const struct number {
	const char *key;
	size_t offset;
	enum { REAL, COUNT32, COUNT64 } type;
} numbers[] = {
        {"planned_busy_s", FIELD(planned_busy_s), REAL},
        {"run_s", FIELD(run_s), REAL},
        {"planned_down_s", FIELD(planned_down_s), REAL},
        {"unplanned_down_s", FIELD(unplanned_down_s), REAL},
        {"idle_s", FIELD(idle_s), REAL},
        {"starved_s", FIELD(starved_s), REAL},
        {"blocked_s", FIELD(blocked_s), REAL},
        {"micro_stop_count", FIELD(micro_stop_count), COUNT32},
        {"micro_stop_s", FIELD(micro_stop_seconds), REAL},
        {"produced", FIELD(produced), COUNT64},
        {"good", FIELD(good), COUNT64},
        {"late_rejects", FIELD(late_rejects), COUNT64},
        {"ideal_cycle_s", FIELD(ideal_cycle_s), REAL},
        {"availability", FIELD(availability), REAL},
        {"performance", FIELD(performance), REAL},
        {"quality", FIELD(quality), REAL},
        {"oee", FIELD(oee), REAL},
};

static const char *const state_names[] = {
        "",
        "PRODUCING",
        "IDLE",
        "STARVED",
        "BLOCKED",
        "PLANNED_DOWNTIME",
        "UNPLANNED_DOWNTIME",
        "UNKNOWN_STOP",
};

int oee_state_from_name(const char *name)
{
	if (strncasecmp(name, "STATION_STATE_", 14) == 0)
		name += 14;
	for (size_t i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcasecmp(name, state_names[i]) == 0)
			return (int)i;
	return 0;
}

static int fail(char *err, size_t err_len, const char *key, const char *what)
{
	return ct_set_error(err, err_len, CT_ERR_DECODE, "%s: %s", key, what);
}

/* A number that may be null (0) or absent (0). */
static int get_number(json_t *obj, const struct number *n, void *msg, char *err, size_t len)
{
	json_t *v = json_object_get(obj, n->key);
	double x = 0;
	char *slot = (char *)msg + n->offset;

	if (v != NULL && !json_is_null(v)) {
		if (!json_is_number(v))
			return fail(err, len, n->key, "not a number");
		x = json_number_value(v);
	}
	if (n->type == REAL) {
		*(double *)(void *)slot = x;
		return CT_OK;
	}
	if (x < 0 || x > (n->type == COUNT32 ? 4294967295.0 : 9007199254740992.0))
		return fail(err, len, n->key, "not a count");
	if (n->type == COUNT32)
		*(uint32_t *)(void *)slot = (uint32_t)x;
	else
		*(uint64_t *)(void *)slot = (uint64_t)x;
	return CT_OK;
}

/* A string that may be null or absent (""); points into obj. */
static int get_string(json_t *obj, const char *key, char **ret, char *err, size_t len)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		*ret = (char *)"";
		return CT_OK;
	}
	if (!json_is_string(v))
		return fail(err, len, key, "not a string");
	*ret = (char *)json_string_value(v);
	return CT_OK;
}

/* A time: an RFC 3339 string (jsonb's form of timestamptz) or microseconds. Required. */
static int get_time(json_t *obj, const char *key, int64_t *ret, char *err, size_t len)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return CT_OK;
	}
	if (!json_is_string(v) || ct_time_parse_us(json_string_value(v), ret) != CT_OK)
		return fail(err, len, key, "missing or not a time");
	return CT_OK;
}

static int get_state(json_t *obj, Cellthread__V1__OeeFigures *m, char *err, size_t len)
{
	json_t *v = json_object_get(obj, "current_state");
	int state = 0;

	if (json_is_integer(v))
		state = (int)json_integer_value(v);
	else if (json_is_string(v))
		state = oee_state_from_name(json_string_value(v));
	else if (v != NULL && !json_is_null(v))
		return fail(err, len, "current_state", "neither a number nor a name");
	if (state < 0 || state > 7)
		state = 0;
	m->current_state = (Cellthread__V1__StationStateKind)state;
	return CT_OK;
}

static int get_losses(struct oee_figures *f, json_t *obj, char *err, size_t len)
{
	json_t *arr = json_object_get(obj, "losses");
	size_t n;

	if (arr == NULL || json_is_null(arr))
		return CT_OK;
	if (!json_is_array(arr))
		return fail(err, len, "losses", "not an array");
	n = json_array_size(arr);
	if (n == 0)
		return CT_OK;
	f->losses = calloc(n, sizeof(*f->losses));
	f->loss_ptrs = calloc(n, sizeof(*f->loss_ptrs));
	if (f->losses == NULL || f->loss_ptrs == NULL)
		return ct_set_error(err, len, CT_ERR_NOMEM,
		                    "out of memory for the %zu losses of the figures of %s/%s/%s "
		                    "shift %s",
		                    n, f->msg.site, f->msg.line, f->msg.station, f->msg.shift_id);
	for (size_t i = 0; i < n; i++) {
		Cellthread__V1__OeeLoss *l = &f->losses[i];
		json_t *e = json_array_get(arr, i);
		json_t *seconds = json_object_get(e, "seconds");
		json_t *count = json_object_get(e, "count");
		int rc;

		cellthread__v1__oee_loss__init(l);
		if (!json_is_object(e))
			return fail(err, len, "losses[]", "not an object");
		if ((rc = get_string(e, "category", &l->category, err, len)) != CT_OK ||
		    (rc = get_string(e, "reason_code", &l->reason_code, err, len)) != CT_OK)
			return rc;
		if (json_is_number(seconds))
			l->seconds = json_number_value(seconds);
		if (json_is_integer(count) && json_integer_value(count) >= 0)
			l->count = (uint32_t)json_integer_value(count);
		f->loss_ptrs[i] = l;
	}
	f->msg.losses = f->loss_ptrs;
	f->msg.n_losses = n;
	return CT_OK;
}

static int parse_object(struct oee_figures *f, char *err, size_t len)
{
	Cellthread__V1__OeeFigures *m = &f->msg;
	json_t *o = f->root;
	char until[24];
	const char *parts[5];
	int rc = CT_OK;

	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]) && rc == CT_OK; i++)
		rc = get_number(o, &numbers[i], m, err, len);
	if (rc != CT_OK || (rc = get_string(o, "site", &m->site, err, len)) != CT_OK ||
	    (rc = get_string(o, "line", &m->line, err, len)) != CT_OK ||
	    (rc = get_string(o, "station", &m->station, err, len)) != CT_OK ||
	    (rc = get_string(o, "shift_id", &m->shift_id, err, len)) != CT_OK ||
	    (rc = get_string(o, "flag_reason", &m->flag_reason, err, len)) != CT_OK ||
	    (rc = get_string(o, "current_reason", &m->current_reason, err, len)) != CT_OK ||
	    (rc = get_time(o, "shift_start", &m->shift_start_us, err, len)) != CT_OK ||
	    (rc = get_time(o, "shift_end", &m->shift_end_us, err, len)) != CT_OK ||
	    (rc = get_time(o, "until", &m->until_us, err, len)) != CT_OK ||
	    (rc = get_state(o, m, err, len)) != CT_OK || (rc = get_losses(f, o, err, len)) != CT_OK)
		return rc;
	if (m->site[0] == '\0' || m->line[0] == '\0' || m->shift_id[0] == '\0')
		return fail(err, len, "site, line, shift_id", "missing");
	m->performance_flagged = json_is_true(json_object_get(o, "performance_flagged"));
	snprintf(until, sizeof(until), "%lld", (long long)m->until_us);
	parts[0] = m->site;
	parts[1] = m->line;
	parts[2] = m->station;
	parts[3] = m->shift_id;
	parts[4] = until;
	if ((rc = ct_id_derive(f->event_id, sizeof(f->event_id), "oee-", parts, 5)) != CT_OK)
		return rc;
	f->header.event_id = f->event_id;
	f->header.schema_version = 1;
	m->header = &f->header;
	return CT_OK;
}

int oee_figures_from(struct oee_figures *f, json_t *obj, char *err, size_t err_len)
{
	int rc;

	memset(f, 0, sizeof(*f));
	cellthread__v1__oee_figures__init(&f->msg);
	cellthread__v1__header__init(&f->header);
	f->root = json_incref(obj);
	if (!json_is_object(f->root))
		rc = fail(err, err_len, "figures", "not an object");
	else
		rc = parse_object(f, err, err_len);
	if (rc != CT_OK)
		oee_figures_cleanup(f);
	return rc;
}

int oee_figures_parse(struct oee_figures *f, const char *json, size_t len, char *err,
                      size_t err_len)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	int rc;

	if (root == NULL) {
		memset(f, 0, sizeof(*f));
		return ct_set_error(err, err_len, CT_ERR_DECODE, "figures: %s (line %d, column %d)",
		                    jerr.text, jerr.line, jerr.column);
	}
	rc = oee_figures_from(f, root, err, err_len);
	json_decref(root);
	return rc;
}

void oee_figures_cleanup(struct oee_figures *f)
{
	free(f->losses);
	free(f->loss_ptrs);
	json_decref(f->root);
	f->losses = NULL;
	f->loss_ptrs = NULL;
	f->root = NULL;
}

int oee_topic(char *buf, size_t len, const char *site, const char *line, const char *station,
              bool history)
{
	int n = snprintf(buf, len, "%s/oee/%s/%s%s%s%s", CT_TOPIC_ROOT, site, line,
	                 station[0] != '\0' ? "/" : "", station, history ? "/history" : "");

	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}
