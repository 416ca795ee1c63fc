/* ct_pg: PostgreSQL connection with reconnect, statements, results by column name,
 * LISTEN/NOTIFY, the batch-store pattern, and COPY text-format batches (contract in ct_pg.h).
 *
 * The connection remembers the last failure (SQLSTATE, message, class) so callers decide
 * after the fact whether to retry; a reconnect clears it. LISTEN channels are kept in a list
 * and LISTENed again on every new connection, since a new session has none.
 *
 * The COPY buffer is built in memory and sent in one PQputCopyData stream: a batch of a
 * few thousand rows is a few hundred KiB, and one round trip per table per batch is what
 * makes COPY fast. */
#include "ct_array.h"
#include "ct_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"

/* Connection keywords given to libpq besides the conninfo: a few defaults and overrides. */
#define MAX_PARAMS 8

struct ct_pg {
	char *keys[2 * MAX_PARAMS + 3];   /* libpq keywords, NULL-terminated, owned */
	char *values[2 * MAX_PARAMS + 3]; /* their values, owned */
	PGconn *conn;
	void (*notice_fn)(void *arg, const char *severity, const char *message);
	void *notice_arg;
	char **channels; /* LISTENed on every connect */
	size_t n_channels;
	bool last_was_connection_error;
	bool last_was_transient_error;
	struct ct_pg_error last_error;
	unsigned long generation;
};

struct ct_pg_result {
	PGresult *res;
	int rows, cols;
	const char **names; /* names[i]: the last name pointer that resolved to column i */
	char error[256];    /* the first accessor failure */
};

static void free_params(struct ct_pg *pg)
{
	for (size_t i = 0; pg->keys[i] != NULL; i++) {
		free(pg->keys[i]);
		free(pg->values[i]);
	}
}

/* Appends keyword/value pairs; false when out of memory or over MAX_PARAMS. */
static bool add_params(struct ct_pg *pg, size_t *n, const char *const *pairs)
{
	for (size_t i = 0; pairs != NULL && pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
		char *key, *value;
		if (*n >= 2 * MAX_PARAMS)
			return false;
		key = strdup(pairs[i]);
		value = strdup(pairs[i + 1]);
		if (key == NULL || value == NULL) {
			free(key);
			free(value);
			return false;
		}
		pg->keys[*n] = key;
		pg->values[(*n)++] = value;
	}
	return true;
}

struct ct_pg *ct_pg_new_params(const char *conninfo, const char *password,
                               const char *const *defaults, const char *const *overrides)
{
	struct ct_pg *pg = calloc(1, sizeof(*pg));
	const char *const dbname[] = {"dbname", conninfo ? conninfo : "", NULL};
	const char *const pass[] = {"password", password, NULL};
	size_t n = 0;

	if (pg == NULL)
		return NULL;
	/* Later keywords win (PQconnectdbParams with expand_dbname): defaults, then the
	 * conninfo expanded in place of dbname, then the password and the overrides. */
	if (!add_params(pg, &n, defaults) || !add_params(pg, &n, dbname) ||
	    (password != NULL && *password != '\0' && !add_params(pg, &n, pass)) ||
	    !add_params(pg, &n, overrides)) {
		ct_pg_free(pg);
		return NULL;
	}
	return pg;
}

struct ct_pg *ct_pg_new(const char *conninfo, const char *password)
{
	/* Defaults a conninfo may change: a connect that gets no answer (a partitioned network,
	 * a host gone) fails after 10 s instead of the kernel's minutes, and TCP keepalives find
	 * a dead peer of an open connection within about a minute, also while a statement waits
	 * for its answer; either way ct_pg_ensure reconnects. */
	static const char *const defaults[] = {"connect_timeout",
	                                       "10",
	                                       "keepalives",
	                                       "1",
	                                       "keepalives_idle",
	                                       "30",
	                                       "keepalives_count",
	                                       "3",
	                                       "keepalives_interval",
	                                       "10",
	                                       NULL};
	static const char *const overrides[] = {"application_name", "cellthread", NULL};
	return ct_pg_new_params(conninfo, password, defaults, overrides);
}

static void notice_receiver(void *arg, const PGresult *res)
{
	struct ct_pg *pg = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (pg->notice_fn != NULL)
		pg->notice_fn(pg->notice_arg, severity ? severity : "NOTICE",
		              message ? message : "");
}

void ct_pg_set_notice_handler(struct ct_pg *pg,
                              void (*fn)(void *arg, const char *severity, const char *message),
                              void *arg)
{
	pg->notice_fn = fn;
	pg->notice_arg = arg;
	if (pg->conn != NULL && fn != NULL)
		PQsetNoticeReceiver(pg->conn, notice_receiver, pg);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void clear_failure(struct ct_pg *pg)
{
	pg->last_was_connection_error = false;
	pg->last_was_transient_error = false;
	memset(&pg->last_error, 0, sizeof(pg->last_error));
}

static void copy_field(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* Records a failed result (NULL: no result at all): its fields, and whether it means the
 * connection is gone (no SQLSTATE, class 08, admin shutdown 57P01..57P03) or the
 * transaction lost a race it wins when run again (class 40), rather than a bad statement. */
static void note_failure(struct ct_pg *pg, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *position = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	struct ct_pg_error *e = &pg->last_error;
	char *end = NULL;
	long pos;

	pg->last_was_connection_error = pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK ||
	                                ct_pg_classify_sqlstate(state) == CT_PG_ERR_CONNECTION;
	pg->last_was_transient_error = ct_pg_classify_sqlstate(state) == CT_PG_ERR_TRANSIENT;
	copy_field(e->sqlstate, sizeof(e->sqlstate), state);
	if (message == NULL && pg->conn != NULL) {
		/* No structured error: the connection's own message, first line. */
		message = PQerrorMessage(pg->conn);
		snprintf(e->message, sizeof(e->message), "%.*s", (int)strcspn(message, "\n"),
		         message);
	} else {
		copy_field(e->message, sizeof(e->message), message);
	}
	copy_field(e->detail, sizeof(e->detail),
	           res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL);
	copy_field(e->hint, sizeof(e->hint),
	           res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL);
	e->position = 0;
	if (position != NULL) {
		errno = 0;
		pos = strtol(position, &end, 10);
		if (errno == 0 && end != position && *end == '\0' && pos > 0)
			e->position = pos;
	}
}

/* LISTEN on one channel of the current connection. */
static int listen_now(struct ct_pg *pg, const char *channel, char *err, size_t err_len)
{
	char *ident = PQescapeIdentifier(pg->conn, channel, strlen(channel));
	char sql[160];
	int rc;

	if (ident == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "LISTEN %s: %s", channel,
		                    PQerrorMessage(pg->conn));
	if (strlen(ident) + 8 > sizeof(sql)) {
		PQfreemem(ident);
		return ct_set_error(err, err_len, CT_ERR_INVALID, "LISTEN: channel name too long");
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", ident);
	PQfreemem(ident);
	rc = ct_pg_exec(pg, sql, err, err_len);
	return rc;
}

/* One connection attempt, with the session set up (notices, LISTENs). */
static bool connect_once(struct ct_pg *pg, char *err, size_t err_len)
{
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->conn = PQconnectdbParams((const char *const *)pg->keys, (const char *const *)pg->values,
	                             1);
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
		ct_set_error(err, err_len, CT_ERR_PG, "cannot connect to PostgreSQL: %s",
		             pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		return false;
	}
	clear_failure(pg);
	if (pg->notice_fn != NULL)
		PQsetNoticeReceiver(pg->conn, notice_receiver, pg);
	for (size_t i = 0; i < pg->n_channels; i++) {
		if (listen_now(pg, pg->channels[i], err, err_len) != CT_OK) {
			/* Not a usable session: the next attempt starts over. */
			PQfinish(pg->conn);
			pg->conn = NULL;
			return false;
		}
	}
	return true;
}

int ct_pg_ensure(struct ct_pg *pg, int timeout_ms, volatile sig_atomic_t *stop_flag, char *err,
                 size_t err_len)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	int backoff_ms = 100;

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return CT_OK;
	for (;;) {
		if (connect_once(pg, err, err_len)) {
			pg->generation++;
			return CT_OK;
		}
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

void ct_pg_free(struct ct_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	for (size_t i = 0; pg->keys[i] != NULL; i++)
		if (strcmp(pg->keys[i], "password") == 0)
			memset(pg->values[i], 0, strlen(pg->values[i]));
	free_params(pg);
	for (size_t i = 0; i < pg->n_channels; i++)
		free(pg->channels[i]);
	free(pg->channels);
	free(pg);
}

/* ---- failures ------------------------------------------------------------------------ */

enum ct_pg_error_class ct_pg_classify_sqlstate(const char *state)
{
	if (state == NULL || *state == '\0' || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P0", 4) == 0)
		return CT_PG_ERR_CONNECTION;
	if (strncmp(state, "40", 2) == 0)
		return CT_PG_ERR_TRANSIENT;
	if (strncmp(state, "P0", 2) == 0 || strcmp(state, "42501") == 0 ||
	    strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return CT_PG_ERR_REFUSED;
	return CT_PG_ERR_OTHER;
}

const struct ct_pg_error *ct_pg_last_error(const struct ct_pg *pg)
{
	return &pg->last_error;
}

const char *ct_pg_sqlstate(const struct ct_pg *pg)
{
	return pg->last_error.sqlstate;
}

enum ct_pg_error_class ct_pg_error_class(const struct ct_pg *pg)
{
	if (pg->last_was_connection_error)
		return CT_PG_ERR_CONNECTION;
	if (pg->last_was_transient_error)
		return CT_PG_ERR_TRANSIENT;
	if (pg->last_error.sqlstate[0] == '\0')
		return pg->last_error.message[0] != '\0' ? CT_PG_ERR_OTHER : CT_PG_ERR_NONE;
	return ct_pg_classify_sqlstate(pg->last_error.sqlstate);
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

/* ---- statements ---------------------------------------------------------------------- */

/* Ends a COPY FROM STDIN nobody feeds and collects its (failed) results. */
static void refuse_copy_in(struct ct_pg *pg)
{
	PGresult *res;

	PQputCopyEnd(pg->conn, "COPY FROM STDIN is not supported here");
	while ((res = PQgetResult(pg->conn)) != NULL)
		PQclear(res);
}

int ct_pg_exec(struct ct_pg *pg, const char *sql, char *err, size_t err_len)
{
	PGresult *res;
	int rc = CT_OK;

	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	res = PQexec(pg->conn, sql);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		break;
	case PGRES_COPY_IN:
		PQclear(res);
		res = NULL;
		refuse_copy_in(pg);
		note_failure(pg, NULL);
		pg->last_was_connection_error = PQstatus(pg->conn) != CONNECTION_OK;
		snprintf(pg->last_error.message, sizeof(pg->last_error.message),
		         "COPY ... FROM STDIN is not supported here (no data to send)");
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s", pg->last_error.message);
		break;
	default:
		note_failure(pg, res);
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s", PQerrorMessage(pg->conn));
		break;
	}
	PQclear(res);
	return rc;
}

static struct ct_pg_result *result_new(PGresult *res)
{
	struct ct_pg_result *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->res = res;
	r->rows = PQntuples(res);
	r->cols = PQnfields(res);
	r->names = calloc(r->cols > 0 ? (size_t)r->cols : 1, sizeof(*r->names));
	if (r->names == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

int ct_pg_query(struct ct_pg *pg, const char *sql, int n_params, const char *const *values,
                struct ct_pg_result **ret, char *err, size_t err_len)
{
	struct ct_pg_result *result;
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
	if (ret == NULL) {
		PQclear(res);
		return CT_OK;
	}
	result = result_new(res);
	if (result == NULL) {
		PQclear(res);
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	*ret = result;
	return CT_OK;
}

int ct_pg_begin(struct ct_pg *pg, char *err, size_t err_len)
{
	return ct_pg_exec(pg, "BEGIN", err, err_len);
}

int ct_pg_commit(struct ct_pg *pg, char *err, size_t err_len)
{
	PGresult *res;
	int rc = CT_OK;

	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	res = PQexec(pg->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		note_failure(pg, res);
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s", PQerrorMessage(pg->conn));
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
		note_failure(pg, res);
		snprintf(pg->last_error.message, sizeof(pg->last_error.message),
		         "COMMIT was rolled back (the transaction had failed)");
		pg->last_was_connection_error = false;
		rc = ct_set_error(err, err_len, CT_ERR_PG, "%s", pg->last_error.message);
	}
	PQclear(res);
	return rc;
}

void ct_pg_rollback(struct ct_pg *pg)
{
	PGresult *res;

	if (pg->conn == NULL)
		return;
	res = PQexec(pg->conn, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQstatus(pg->conn) != CONNECTION_OK)
		note_failure(pg, res);
	PQclear(res);
}

enum ct_pg_tx ct_pg_tx_status(struct ct_pg *pg)
{
	if (pg->conn == NULL)
		return CT_PG_TX_UNKNOWN;
	switch (PQtransactionStatus(pg->conn)) {
	case PQTRANS_IDLE:
		return CT_PG_TX_IDLE;
	case PQTRANS_ACTIVE:
	case PQTRANS_INTRANS:
		return CT_PG_TX_ACTIVE;
	case PQTRANS_INERROR:
		return CT_PG_TX_FAILED;
	case PQTRANS_UNKNOWN:
		break;
	}
	return CT_PG_TX_UNKNOWN;
}

/* ---- LISTEN / NOTIFY ----------------------------------------------------------------- */

int ct_pg_listen(struct ct_pg *pg, const char *channel, char *err, size_t err_len)
{
	bool known = false;

	for (size_t i = 0; i < pg->n_channels && !known; i++)
		known = strcmp(pg->channels[i], channel) == 0;
	if (!known) {
		char **grown = realloc(pg->channels, (pg->n_channels + 1) * sizeof(*grown));
		char *copy = strdup(channel);
		if (grown != NULL)
			pg->channels = grown;
		if (grown == NULL || copy == NULL) {
			free(copy);
			return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		}
		pg->channels[pg->n_channels++] = copy;
	}
	if (pg->conn == NULL)
		return ct_set_error(err, err_len, CT_ERR_PG, "not connected");
	return listen_now(pg, channel, err, err_len);
}

int ct_pg_next_notify(struct ct_pg *pg, char *channel_buf, size_t len, bool *ret_got)
{
	PGnotify *n;

	*ret_got = false;
	if (pg->conn == NULL || PQconsumeInput(pg->conn) == 0)
		return CT_ERR_PG;
	n = PQnotifies(pg->conn);
	if (n == NULL)
		return CT_OK;
	snprintf(channel_buf, len, "%s", n->relname);
	PQfreemem(n);
	*ret_got = true;
	return CT_OK;
}

/* ---- results ------------------------------------------------------------------------- */

int ct_pg_result_rows(const struct ct_pg_result *res)
{
	return res->rows;
}

long ct_pg_result_changed(const struct ct_pg_result *res)
{
	const char *text = PQcmdTuples(res->res);
	char *end = NULL;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	return errno == 0 && end != text && *end == '\0' ? n : 0;
}

static void result_fail(struct ct_pg_result *res, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void result_fail(struct ct_pg_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

int ct_pg_col(struct ct_pg_result *res, const char *name)
{
	int col;

	/* A pointer seen before is checked against the column's name: a caller's buffer may
	 * hold another name by now. */
	for (int i = 0; i < res->cols; i++)
		if (res->names[i] == name && strcmp(PQfname(res->res, i), name) == 0)
			return i;
	col = PQfnumber(res->res, name);
	if (col >= 0)
		res->names[col] = name;
	return col;
}

/* The column of name in row, or -1 (remembered as the result's error). */
static int cell(struct ct_pg_result *res, int row, const char *name)
{
	int col = ct_pg_col(res, name);

	if (col < 0) {
		result_fail(res, "the result has no column '%s'", name);
		return -1;
	}
	if (row < 0 || row >= res->rows) {
		result_fail(res, "column '%s': no row %d", name, row);
		return -1;
	}
	return col;
}

const char *ct_pg_text(struct ct_pg_result *res, int row, const char *name)
{
	int col = cell(res, row, name);

	if (col < 0 || PQgetisnull(res->res, row, col))
		return NULL;
	return PQgetvalue(res->res, row, col);
}

bool ct_pg_is_null(struct ct_pg_result *res, int row, const char *name)
{
	int col = cell(res, row, name);

	return col >= 0 && PQgetisnull(res->res, row, col);
}

/* The text of a value to parse, or NULL (remembered) when it is unknown or NULL. */
static const char *value_text(struct ct_pg_result *res, int row, const char *name)
{
	int col = cell(res, row, name);

	if (col < 0)
		return NULL;
	if (PQgetisnull(res->res, row, col)) {
		result_fail(res, "column '%s', row %d: NULL where a value is needed", name, row);
		return NULL;
	}
	return PQgetvalue(res->res, row, col);
}

int ct_pg_parse_int64(const char *text, int64_t *ret)
{
	char *end = NULL;
	long long value;

	if (text == NULL || *text == '\0')
		return CT_ERR_INVALID;
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < INT64_MIN || value > INT64_MAX)
		return CT_ERR_INVALID;
	*ret = (int64_t)value;
	return CT_OK;
}

int ct_pg_parse_bool(const char *text, bool *ret)
{
	if (text != NULL && strcmp(text, "t") == 0)
		*ret = true;
	else if (text != NULL && strcmp(text, "f") == 0)
		*ret = false;
	else
		return CT_ERR_INVALID;
	return CT_OK;
}

int ct_pg_int64(struct ct_pg_result *res, int row, const char *col, int64_t *ret)
{
	const char *text = value_text(res, row, col);

	if (text == NULL)
		return CT_ERR_INVALID;
	if (ct_pg_parse_int64(text, ret) != CT_OK) {
		result_fail(res, "column '%s', row %d: '%s' is not a 64-bit integer", col, row,
		            text);
		return CT_ERR_INVALID;
	}
	return CT_OK;
}

int ct_pg_int(struct ct_pg_result *res, int row, const char *col, int *ret)
{
	const char *text = value_text(res, row, col);
	int64_t value;

	if (text == NULL)
		return CT_ERR_INVALID;
	if (ct_pg_parse_int64(text, &value) != CT_OK || value < INT_MIN || value > INT_MAX) {
		result_fail(res, "column '%s', row %d: '%s' is not an integer", col, row, text);
		return CT_ERR_INVALID;
	}
	*ret = (int)value;
	return CT_OK;
}

int ct_pg_double(struct ct_pg_result *res, int row, const char *col, double *ret)
{
	const char *text = value_text(res, row, col);
	char *end = NULL;
	double value;

	if (text == NULL)
		return CT_ERR_INVALID;
	/* float8 text: digits, exponent, or NaN / Infinity / -Infinity, which strtod reads. */
	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end != '\0' || (errno == ERANGE && isinf(value))) {
		result_fail(res, "column '%s', row %d: '%s' is not a number", col, row, text);
		return CT_ERR_INVALID;
	}
	*ret = value;
	return CT_OK;
}

int ct_pg_bool(struct ct_pg_result *res, int row, const char *col, bool *ret)
{
	const char *text = value_text(res, row, col);

	if (text == NULL)
		return CT_ERR_INVALID;
	if (ct_pg_parse_bool(text, ret) != CT_OK) {
		result_fail(res, "column '%s', row %d: '%s' is not a boolean", col, row, text);
		return CT_ERR_INVALID;
	}
	return CT_OK;
}

/* Reads exactly n decimal digits at *p. */
static bool digits(const char **p, int n, int *ret)
{
	int value = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = value;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ct_pg_parse_time_us(const char *text, int64_t *ret)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, frac = 0, oh = 0, om = 0, os = 0, sign;
	int64_t us;

	if (p == NULL || !digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) ||
	    *p++ != '-' || !digits(&p, 2, &day) || (*p != ' ' && *p != 'T'))
		return CT_ERR_INVALID;
	p++;
	if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return CT_ERR_INVALID;
	if (*p == '.') {
		int n = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 6) {
				frac = frac * 10 + (*p - '0');
				n++;
			}
			p++;
		}
		if (n == 0)
			return CT_ERR_INVALID;
		while (n++ < 6)
			frac *= 10;
	}
	if (*p != '+' && *p != '-')
		return CT_ERR_INVALID;
	sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &oh))
		return CT_ERR_INVALID;
	if (*p == ':' && (p++, !digits(&p, 2, &om)))
		return CT_ERR_INVALID;
	if (*p == ':' && (p++, !digits(&p, 2, &os)))
		return CT_ERR_INVALID;
	if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 24 || min > 59 ||
	    sec > 60)
		return CT_ERR_INVALID;
	us = ((days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec) -
	      sign * (oh * 3600 + om * 60 + os)) *
	             1000000 +
	     frac;
	*ret = us;
	return CT_OK;
}

int ct_pg_time_us(struct ct_pg_result *res, int row, const char *col, int64_t *ret)
{
	const char *text = value_text(res, row, col);

	if (text == NULL)
		return CT_ERR_INVALID;
	if (ct_pg_parse_time_us(text, ret) != CT_OK) {
		result_fail(res, "column '%s', row %d: '%s' is not a timestamp", col, row, text);
		return CT_ERR_INVALID;
	}
	return CT_OK;
}

int ct_pg_bytea(struct ct_pg_result *res, int row, const char *col, uint8_t **ret, size_t *ret_len)
{
	const char *text = value_text(res, row, col);
	unsigned char *bytes;
	uint8_t *copy;
	size_t len = 0;

	if (text == NULL)
		return CT_ERR_INVALID;
	bytes = PQunescapeBytea((const unsigned char *)text, &len);
	if (bytes == NULL)
		return CT_ERR_NOMEM;
	/* PQunescapeBytea's memory is freed with PQfreemem: hand out plain malloc memory. */
	copy = malloc(len > 0 ? len : 1);
	if (copy != NULL && len > 0)
		memcpy(copy, bytes, len);
	PQfreemem(bytes);
	if (copy == NULL)
		return CT_ERR_NOMEM;
	*ret = copy;
	*ret_len = len;
	return CT_OK;
}

const char *ct_pg_result_error(const struct ct_pg_result *res)
{
	return res->error;
}

int ct_pg_result_check(const struct ct_pg_result *res, char *err, size_t err_len)
{
	if (res->error[0] == '\0')
		return CT_OK;
	return ct_set_error(err, err_len, CT_ERR_INVALID, "%s", res->error);
}

void ct_pg_result_free(struct ct_pg_result *res)
{
	if (res == NULL)
		return;
	PQclear(res->res);
	free(res->names);
	free(res);
}

/* ---- storing batches ----------------------------------------------------------------- */

static int run_range(size_t first, size_t count,
                     enum ct_pg_attempt (*attempt)(void *, size_t, size_t, char *, size_t),
                     void (*refused)(void *, size_t, const char *), void *ctx)
{
	char err[1024];

	for (;;) {
		err[0] = '\0';
		switch (attempt(ctx, first, count, err, sizeof(err))) {
		case CT_PG_ATTEMPT_STORED:
			return CT_OK;
		case CT_PG_ATTEMPT_STOPPED:
			return CT_ERR_STOPPED;
		case CT_PG_ATTEMPT_RETRY:
			continue;
		case CT_PG_ATTEMPT_REFUSED:
			break;
		}
		break;
	}
	if (count == 1) {
		refused(ctx, first, err);
		return CT_OK;
	}
	ct_warn("the database refused %zu items together (%s); storing them one by one", count,
	        err);
	for (size_t i = 0; i < count; i++)
		if (run_range(first + i, 1, attempt, refused, ctx) != CT_OK)
			return CT_ERR_STOPPED;
	return CT_OK;
}

int ct_pg_batch_run(size_t n,
                    enum ct_pg_attempt (*attempt)(void *ctx, size_t first, size_t count, char *err,
                                                  size_t err_len),
                    void (*refused)(void *ctx, size_t index, const char *err), void *ctx)
{
	if (n == 0)
		return CT_OK;
	return run_range(0, n, attempt, refused, ctx);
}

/* ct_pg_store_batch's attempt: wait for the connection, store, classify a failure. */
struct store_batch {
	struct ct_pg *pg;
	volatile sig_atomic_t *stop;
	int (*store)(void *ctx, size_t first, size_t count, char *err, size_t err_len);
	void (*refused)(void *ctx, size_t index, const char *err);
	void *ctx;
};

static enum ct_pg_attempt store_attempt(void *arg, size_t first, size_t count, char *err,
                                        size_t err_len)
{
	struct store_batch *b = arg;

	int rc;

	if (ct_pg_ensure(b->pg, -1, b->stop, err, err_len) != CT_OK)
		return CT_PG_ATTEMPT_STOPPED;
	if ((rc = b->store(b->ctx, first, count, err, err_len)) == CT_OK)
		return CT_PG_ATTEMPT_STORED;
	if (ct_pg_is_connection_error(b->pg)) {
		ct_warn("database connection lost (%s); storing %zu item(s) again", err, count);
		return CT_PG_ATTEMPT_RETRY;
	}
	/* Only a failure the database reported can be a lost race: the flag is the last
	 * statement's, and an error of the caller's own (out of memory, a value it could not
	 * parse) must not be retried for ever on the strength of an earlier deadlock. */
	if (rc == CT_ERR_PG && ct_pg_is_transient_error(b->pg)) {
		ct_warn("transaction rolled back (%s); storing %zu item(s) again", err, count);
		return CT_PG_ATTEMPT_RETRY;
	}
	return CT_PG_ATTEMPT_REFUSED;
}

static void store_refused(void *arg, size_t index, const char *err)
{
	struct store_batch *b = arg;
	b->refused(b->ctx, index, err);
}

int ct_pg_store_batch(struct ct_pg *pg, volatile sig_atomic_t *stop, size_t n,
                      int (*store)(void *ctx, size_t first, size_t count, char *err,
                                   size_t err_len),
                      void (*refused)(void *ctx, size_t index, const char *err), void *ctx)
{
	struct store_batch b = {pg, stop, store, refused, ctx};
	return ct_pg_batch_run(n, store_attempt, store_refused, &b);
}

/* ---- COPY ---------------------------------------------------------------------------- */

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
		char *p = ct_array_grow(copy->data, &copy->cap, copy->len + more, 1, 65536);
		if (p == NULL) {
			copy->failed = true;
			return false;
		}
		copy->data = p;
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
		char *grown = ct_array_grow(a->buf, &a->cap, need, 1, 256);
		if (grown == NULL) {
			a->failed = true;
			return false;
		}
		a->buf = grown;
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
