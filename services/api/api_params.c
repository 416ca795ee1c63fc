/* api_params: what handlers use to read arguments and answer (contract in api.h).
 *
 * Every parser either returns the value or fails the call with a 400 naming the argument, so
 * a handler validates everything before its SQL runs and bad input never reaches the database
 * as anything but a parameter. api_json_query maps database failures to HTTP by SQLSTATE. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "api_server.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_pg.h"
#include "ct_time.h"

#define NAME_MAX_LEN 128
#define DETAIL_MAX   1024

const char *api_role_name(enum api_role role)
{
	switch (role) {
	case API_ROLE_VIEWER:
		return "viewer";
	case API_ROLE_OPERATOR:
		return "operator";
	case API_ROLE_QUALITY:
		return "quality";
	default:
		return "none";
	}
}

const char *api_param(const struct api_call *call, const char *name)
{
	if (call->connection == NULL)
		return NULL;
	return MHD_lookup_connection_value(call->connection, MHD_GET_ARGUMENT_KIND, name);
}

bool api_fail(struct api_call *call, int status, const char *code, const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	json_t *obj;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	free(call->json);
	call->json = NULL;
	call->status = status;
	/* json_pack refuses invalid UTF-8; a detail quoting bad input then goes without it. */
	obj = json_pack("{s:s,s:s}", "error", code, "detail", detail);
	if (obj == NULL)
		obj = json_pack("{s:s,s:s}", "error", code, "detail", "(detail not UTF-8)");
	if (obj != NULL) {
		call->json = json_dumps(obj, JSON_COMPACT);
		json_decref(obj);
	}
	return false;
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || strchr("._:/@+-", c) != NULL;
}

bool api_param_name(struct api_call *call, const char *name, bool required, const char **ret)
{
	const char *v = api_param(call, name);
	size_t len;

	if (v == NULL || v[0] == '\0') {
		if (required)
			return api_fail(call, 400, "bad_request", "%s: required", name);
		*ret = NULL;
		return true;
	}
	len = strlen(v);
	if (len > NAME_MAX_LEN)
		return api_fail(call, 400, "bad_request", "%s: longer than %d bytes", name,
		                NAME_MAX_LEN);
	for (size_t i = 0; i < len; i++)
		if (!name_char(v[i]))
			return api_fail(call, 400, "bad_request",
			                "%s: only letters, digits and ._:/@+- are allowed", name);
	*ret = v;
	return true;
}

bool api_param_long(struct api_call *call, const char *name, long def, long lo, long hi, long *ret)
{
	const char *v = api_param(call, name);

	if (v == NULL || v[0] == '\0') {
		*ret = def;
		return true;
	}
	if (ct_parse_long(v, lo, hi, ret) != CT_OK)
		return api_fail(call, 400, "bad_request", "%s: expected an integer from %ld to %ld",
		                name, lo, hi);
	return true;
}

/* Integer milliseconds since the epoch: digits only, 0 up to the end of year 9999. */
static bool parse_ms(const char *v, int64_t *ret_us)
{
	long ms;

	/* Years 1970 to 9999 in ms, so the microseconds cannot overflow. */
	if (ct_parse_long(v, 0, 253402300799999L, &ms) != CT_OK)
		return false;
	*ret_us = (int64_t)ms * 1000;
	return true;
}

bool api_param_time_us(struct api_call *call, const char *name, int64_t def_us, int64_t *ret_us)
{
	const char *v = api_param(call, name);

	if (v == NULL || v[0] == '\0') {
		*ret_us = def_us;
		return true;
	}
	if (isdigit((unsigned char)v[0]) && strchr(v, '-') == NULL && parse_ms(v, ret_us))
		return true;
	if (ct_time_parse_us(v, ret_us) == CT_OK)
		return true;
	return api_fail(call, 400, "bad_request",
	                "%s: expected RFC 3339 (2026-12-07T10:00:00Z) or milliseconds since the "
	                "epoch",
	                name);
}

bool api_param_enum(struct api_call *call, const char *name, const char *const *words,
                    size_t n_words, int def, int *ret)
{
	const char *v = api_param(call, name);
	char list[256];
	size_t used = 0;

	if (v == NULL || v[0] == '\0') {
		*ret = def;
		return true;
	}
	for (size_t i = 0; i < n_words; i++) {
		if (strcmp(v, words[i]) == 0) {
			*ret = (int)i;
			return true;
		}
	}
	list[0] = '\0';
	for (size_t i = 0; i < n_words && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "",
		                 words[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return api_fail(call, 400, "bad_request", "%s: expected one of %s", name, list);
}

/* The first line of sql, for the log. */
static int first_line_len(const char *sql)
{
	size_t n = strcspn(sql, "\n");

	return n > 200 ? 200 : (int)n;
}

bool api_fail_from_pg(struct api_call *call, const char *sql, const char *err)
{
	const char *state = ct_pg_sqlstate(call->pg);
	const struct ct_pg_error *e = ct_pg_last_error(call->pg);

	if (ct_pg_is_connection_error(call->pg) || strcmp(state, "57014") == 0) {
		ct_warn("query failed (%s): %.*s: %s", state, first_line_len(sql), sql, err);
		api_fail(call, 503, "unavailable", "%s",
		         strcmp(state, "57014") == 0 ? "the query took too long"
		                                     : "the database is not reachable");
	} else if (strncmp(state, "40", 2) == 0) {
		/* A deadlock or serialization failure was rolled back: asking again succeeds. */
		ct_warn("query failed (%s): %.*s: %s", state, first_line_len(sql), sql, err);
		api_fail(call, 503, "unavailable", "the database was busy; try again");
	} else if (strncmp(state, "22", 2) == 0) {
		api_fail(call, 400, "bad_request", "%s", e->message);
	} else if (strcmp(state, "P0001") == 0 || strncmp(state, "23", 2) == 0) {
		/* A cellthread function's RAISE, or a constraint the change would break. */
		api_fail(call, 409, "conflict", "%s", e->message);
	} else {
		ct_error("query failed (%s): %.*s: %s", state, first_line_len(sql), sql, err);
		api_fail(call, 500, "internal", "the query failed; the server log says why");
	}
	return false;
}

/* The handler's statement is wrapped so its one column, whatever its name, is read by a
 * known one (ct_pg reads results by column name): SELECT q.j::text AS json FROM (sql) q(j). */
bool api_json_query(struct api_call *call, const char *sql, int n_params, const char *const *values,
                    const char *not_found_detail)
{
	static const char head[] = "SELECT q.j::text AS json FROM (";
	static const char tail[] = "\n) AS q(j)";
	size_t len = strlen(head) + strlen(sql) + strlen(tail) + 1;
	struct ct_pg_result *res = NULL;
	char *wrapped = malloc(len);
	const char *text;
	char err[512];
	bool ok = false;

	if (wrapped == NULL)
		return api_fail(call, 500, "internal", "out of memory");
	snprintf(wrapped, len, "%s%s%s", head, sql, tail);
	if (ct_pg_query(call->pg, wrapped, n_params, values, &res, err, sizeof(err)) != CT_OK) {
		api_fail_from_pg(call, sql, err);
		goto out;
	}
	text = ct_pg_result_rows(res) > 0 ? ct_pg_text(res, 0, "json") : NULL;
	if (text == NULL) {
		api_fail(call, 404, "not_found", "%s", not_found_detail);
		goto out;
	}
	free(call->json);
	call->json = strdup(text);
	if (call->json == NULL) {
		api_fail(call, 500, "internal", "out of memory");
		goto out;
	}
	call->status = 200;
	ok = true;
out:
	ct_pg_result_free(res);
	free(wrapped);
	return ok;
}
