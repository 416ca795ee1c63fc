/* ct_pg: PostgreSQL connection with reconnect, and COPY text-format batches.
 *
 * The COPY buffer is built in memory and sent in one PQputCopyData stream: a batch of a
 * few thousand rows is a few hundred KiB, and one round trip per table per batch is what
 * makes COPY fast. */
#include "ct_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"

struct ct_pg {
	char *conninfo;
	char *password;
	PGconn *conn;
	bool last_was_connection_error;
	bool last_was_transient_error;
	unsigned long generation;
};

struct ct_pg *ct_pg_new(const char *conninfo, const char *password)
{
	struct ct_pg *pg = calloc(1, sizeof(*pg));
	if (pg == NULL)
		return NULL;
	pg->conninfo = strdup(conninfo ? conninfo : "");
	pg->password = password && *password ? strdup(password) : NULL;
	if (pg->conninfo == NULL || (password && *password && pg->password == NULL)) {
		ct_pg_free(pg);
		return NULL;
	}
	return pg;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static PGconn *connect_once(const struct ct_pg *pg)
{
	const char *keys[] = {"dbname", "password", "application_name", NULL};
	const char *values[] = {pg->conninfo, pg->password, "cellthread", NULL};
	if (pg->password == NULL) {
		keys[1] = "application_name";
		values[1] = "cellthread";
		keys[2] = NULL;
	}
	return PQconnectdbParams(keys, values, 1);
}

int ct_pg_ensure(struct ct_pg *pg, int timeout_ms, volatile int *stop_flag, char *err,
                 size_t err_len)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int backoff_ms = 100;

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return CT_OK;
	for (;;) {
		if (pg->conn != NULL)
			PQfinish(pg->conn);
		pg->conn = connect_once(pg);
		if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
			pg->last_was_connection_error = false;
			pg->last_was_transient_error = false;
			pg->generation++;
			return CT_OK;
		}
		ct_set_error(err, err_len, CT_ERR_PG, "cannot connect to PostgreSQL: %s",
		             pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		if (stop_flag != NULL && *stop_flag)
			return CT_ERR_STOPPED;
		if (timeout_ms >= 0 && ct_mono_ms() + backoff_ms > deadline)
			return CT_ERR_TIMEOUT;
		sleep_ms(backoff_ms);
		backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
	}
}

unsigned long ct_pg_generation(const struct ct_pg *pg)
{
	return pg->generation;
}

PGconn *ct_pg_conn(struct ct_pg *pg)
{
	return pg->conn;
}

bool ct_pg_is_connection_error(struct ct_pg *pg)
{
	return pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK ||
	       pg->last_was_connection_error;
}

bool ct_pg_is_transient_error(struct ct_pg *pg)
{
	return pg->last_was_transient_error;
}

/* Records whether a failed result means the connection is gone (SQLSTATE class 08, or
 * admin shutdown 57P01..57P03) or the transaction lost a race it can win when run again
 * (class 40: deadlock detected, serialization failure), rather than a bad statement. */
static void note_failure(struct ct_pg *pg, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	pg->last_was_connection_error = PQstatus(pg->conn) != CONNECTION_OK || state == NULL ||
	                                strncmp(state, "08", 2) == 0 ||
	                                strncmp(state, "57P0", 4) == 0;
	pg->last_was_transient_error = state != NULL && strncmp(state, "40", 2) == 0;
}

int ct_pg_exec(struct ct_pg *pg, const char *sql, char *err, size_t err_len)
{
	PGresult *res;
	int rc = CT_OK;

	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	res = PQexec(pg->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		note_failure(pg, res);
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s", PQerrorMessage(pg->conn));
	}
	PQclear(res);
	return rc;
}

int ct_pg_query(struct ct_pg *pg, const char *sql, int n_params, const char *const *values,
                PGresult **ret, char *err, size_t err_len)
{
	PGresult *res;

	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	res = PQexecParams(pg->conn, sql, n_params, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		note_failure(pg, res);
		ct_set_error(err, err_len, CT_ERR_PG, "%s", PQerrorMessage(pg->conn));
		PQclear(res);
		return CT_ERR_PG;
	}
	*ret = res;
	return CT_OK;
}

void ct_pg_free(struct ct_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	free(pg->conninfo);
	if (pg->password != NULL) {
		memset(pg->password, 0, strlen(pg->password));
		free(pg->password);
	}
	free(pg);
}

void ct_copy_init(struct ct_copy *copy)
{
	memset(copy, 0, sizeof(*copy));
}

void ct_copy_reset(struct ct_copy *copy)
{
	copy->len = 0;
	copy->rows = 0;
	copy->row_open = false;
	copy->failed = false;
}

void ct_copy_cleanup(struct ct_copy *copy)
{
	free(copy->data);
	memset(copy, 0, sizeof(*copy));
}

static bool reserve(struct ct_copy *copy, size_t more)
{
	if (copy->failed)
		return false;
	if (copy->len + more > copy->cap) {
		size_t cap = copy->cap ? copy->cap : 65536;
		char *p;
		while (cap < copy->len + more)
			cap *= 2;
		p = realloc(copy->data, cap);
		if (p == NULL) {
			copy->failed = true;
			return false;
		}
		copy->data = p;
		copy->cap = cap;
	}
	return true;
}

static void field_start(struct ct_copy *copy)
{
	if (copy->row_open) {
		if (reserve(copy, 1))
			copy->data[copy->len++] = '\t';
	}
	copy->row_open = true;
}

static void append_raw(struct ct_copy *copy, const char *text, size_t n)
{
	if (!reserve(copy, n))
		return;
	memcpy(copy->data + copy->len, text, n);
	copy->len += n;
}

void ct_copy_text(struct ct_copy *copy, const char *text)
{
	field_start(copy);
	if (text == NULL) {
		append_raw(copy, "\\N", 2);
		return;
	}
	/* COPY text format: backslash, tab, newline and carriage return are escaped. */
	for (const char *p = text; *p != '\0'; p++) {
		switch (*p) {
		case '\\':
			append_raw(copy, "\\\\", 2);
			break;
		case '\t':
			append_raw(copy, "\\t", 2);
			break;
		case '\n':
			append_raw(copy, "\\n", 2);
			break;
		case '\r':
			append_raw(copy, "\\r", 2);
			break;
		default:
			append_raw(copy, p, 1);
		}
	}
}

void ct_copy_null(struct ct_copy *copy)
{
	field_start(copy);
	append_raw(copy, "\\N", 2);
}

void ct_copy_int64(struct ct_copy *copy, int64_t value)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, value);
	field_start(copy);
	append_raw(copy, buf, (size_t)n);
}

static int format_double(char *buf, size_t len, double value)
{
	/* %.17g round-trips every finite double (PostgreSQL prints the shortest exact form on
	 * the way out); callers never pass NaN or Inf. */
	return snprintf(buf, len, "%.17g", value);
}

void ct_copy_double(struct ct_copy *copy, double value)
{
	char buf[40];
	int n = format_double(buf, sizeof(buf), value);
	field_start(copy);
	append_raw(copy, buf, (size_t)n);
}

void ct_copy_bool(struct ct_copy *copy, bool value)
{
	field_start(copy);
	append_raw(copy, value ? "t" : "f", 1);
}

void ct_copy_time_us(struct ct_copy *copy, int64_t us)
{
	char buf[40];
	int64_t secs = us / 1000000, frac = us % 1000000;
	int n;

	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	if (copy->cached_text[0] == '\0' || copy->cached_second != secs) {
		struct tm tm;
		time_t t = (time_t)secs;
		gmtime_r(&t, &tm);
		snprintf(copy->cached_text, sizeof(copy->cached_text),
		         "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		copy->cached_second = secs;
	}
	n = snprintf(buf, sizeof(buf), "%s.%06d+00", copy->cached_text, (int)frac);
	field_start(copy);
	append_raw(copy, buf, (size_t)n);
}

void ct_copy_double_array(struct ct_copy *copy, const double *values, size_t n)
{
	char buf[40];
	field_start(copy);
	append_raw(copy, "{", 1);
	for (size_t i = 0; i < n; i++) {
		int len = format_double(buf, sizeof(buf), values[i]);
		if (i > 0)
			append_raw(copy, ",", 1);
		append_raw(copy, buf, (size_t)len);
	}
	append_raw(copy, "}", 1);
}

void ct_copy_bytea(struct ct_copy *copy, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	field_start(copy);
	/* "\x" in bytea hex form; the backslash itself is escaped for COPY text. */
	append_raw(copy, "\\\\x", 3);
	if (!reserve(copy, 2 * len))
		return;
	for (size_t i = 0; i < len; i++) {
		copy->data[copy->len++] = hex[data[i] >> 4];
		copy->data[copy->len++] = hex[data[i] & 15];
	}
}

void ct_copy_end_row(struct ct_copy *copy)
{
	append_raw(copy, "\n", 1);
	copy->row_open = false;
	copy->rows++;
}

int ct_pg_copy(struct ct_pg *pg, const char *copy_sql, const struct ct_copy *copy, char *err,
               size_t err_len)
{
	PGresult *res;
	int rc = CT_OK;

	if (copy->failed)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "COPY buffer: out of memory");
	if (copy->rows == 0)
		return CT_OK;
	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	res = PQexec(pg->conn, copy_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		note_failure(pg, res);
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s: %s", copy_sql,
		                  PQerrorMessage(pg->conn));
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (PQputCopyData(pg->conn, copy->data, (int)copy->len) != 1 ||
	    PQputCopyEnd(pg->conn, NULL) != 1) {
		pg->last_was_connection_error = true;
		return ct_set_error(err, err_len, CT_ERR_PG, "COPY send failed: %s",
		                    PQerrorMessage(pg->conn));
	}
	while ((res = PQgetResult(pg->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == CT_OK) {
			note_failure(pg, res);
			rc = ct_set_error(err, err_len, CT_ERR_PG, "%s: %s", copy_sql,
			                  PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	return rc;
}

/* ---- array literals ------------------------------------------------------------------ */

void ct_pgarray_init(struct ct_pgarray *a)
{
	memset(a, 0, sizeof(*a));
}

void ct_pgarray_reset(struct ct_pgarray *a)
{
	a->len = 0;
	a->count = 0;
	a->failed = false;
}

void ct_pgarray_cleanup(struct ct_pgarray *a)
{
	free(a->buf);
	ct_pgarray_init(a);
}

/* Makes room for n more bytes plus "}" and NUL. */
static bool array_reserve(struct ct_pgarray *a, size_t n)
{
	size_t need = a->len + n + 3;

	if (a->failed)
		return false;
	if (need > a->cap) {
		size_t cap = a->cap ? a->cap : 256;
		char *grown;
		while (cap < need)
			cap *= 2;
		grown = realloc(a->buf, cap);
		if (grown == NULL) {
			a->failed = true;
			return false;
		}
		a->buf = grown;
		a->cap = cap;
	}
	if (a->len == 0)
		a->buf[a->len++] = '{';
	return true;
}

/* Starts an element: the separator. */
static bool array_element(struct ct_pgarray *a, size_t n)
{
	if (!array_reserve(a, n + 1))
		return false;
	if (a->count++ > 0)
		a->buf[a->len++] = ',';
	return true;
}

void ct_pgarray_null(struct ct_pgarray *a)
{
	if (!array_element(a, 4))
		return;
	memcpy(a->buf + a->len, "NULL", 4);
	a->len += 4;
}

void ct_pgarray_text(struct ct_pgarray *a, const char *text)
{
	size_t n;

	if (text == NULL) {
		ct_pgarray_null(a);
		return;
	}
	/* Worst case every byte escaped, plus the quotes. */
	n = strlen(text);
	if (!array_element(a, 2 * n + 2))
		return;
	a->buf[a->len++] = '"';
	for (const char *p = text; *p; p++) {
		if (*p == '"' || *p == '\\')
			a->buf[a->len++] = '\\';
		a->buf[a->len++] = *p;
	}
	a->buf[a->len++] = '"';
}

void ct_pgarray_int64(struct ct_pgarray *a, int64_t value)
{
	char text[24];
	int n = snprintf(text, sizeof(text), "%lld", (long long)value);

	if (!array_element(a, (size_t)n))
		return;
	memcpy(a->buf + a->len, text, (size_t)n);
	a->len += (size_t)n;
}

void ct_pgarray_double(struct ct_pgarray *a, double value)
{
	char text[32];
	int n;

	if (!isfinite(value)) {
		ct_pgarray_null(a);
		return;
	}
	/* %.17g: the double comes back bit for bit. */
	n = snprintf(text, sizeof(text), "%.17g", value);
	if (!array_element(a, (size_t)n))
		return;
	memcpy(a->buf + a->len, text, (size_t)n);
	a->len += (size_t)n;
}

void ct_pgarray_bytea(struct ct_pgarray *a, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	/* "\\x" + hex, quoted: the array parser takes one backslash, bytea sees \x. */
	if (!array_element(a, 2 * len + 5))
		return;
	memcpy(a->buf + a->len, "\"\\\\x", 4);
	a->len += 4;
	for (size_t i = 0; i < len; i++) {
		a->buf[a->len++] = hex[data[i] >> 4];
		a->buf[a->len++] = hex[data[i] & 15];
	}
	a->buf[a->len++] = '"';
}

const char *ct_pgarray_literal(struct ct_pgarray *a)
{
	if (!array_reserve(a, 0))
		return NULL;
	a->buf[a->len] = '}';
	a->buf[a->len + 1] = '\0';
	return a->buf;
}
