/* ct_pg: PostgreSQL for every service: connection with reconnect, statements and results read
 * by column name, transactions, LISTEN/NOTIFY, SQLSTATE classes, the batch-store pattern, and
 * batched COPY in text format.
 *
 * libpq rules written once here: every PGresult is PQclear'ed (struct ct_pg_result owns one);
 * values reach SQL only as parameters (PQexecParams) or COPY data, never by building SQL
 * text. No other module includes libpq-fe.h: services see only this API.
 *
 * Failures: a statement that fails returns CT_ERR_PG with libpq's message in the caller's err
 * buffer; the connection remembers the failure's SQLSTATE, message, detail and hint
 * (ct_pg_last_error) and its class (ct_pg_error_class) until the next failure or the next
 * connect. Result values are read by column name with checked parsers: the first value that
 * does not parse (or a column name the result lacks) is remembered by the result, so a caller
 * reads a row's fields and checks once (ct_pg_result_check). */
#ifndef CT_PG_H
#define CT_PG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_pg;
struct ct_pg_result;

/* conninfo as libpq takes it ("host=127.0.0.1 port=5432 dbname=cellthread user=...");
 * password NULL or "" to let libpq find it (PGPASSWORD, PGPASSFILE). Both are copied. The
 * session's application_name is "cellthread". Returns NULL when out of memory. */
struct ct_pg *ct_pg_new(const char *conninfo, const char *password);
/* As ct_pg_new with more libpq connection keywords, each a NULL-terminated list of keyword,
 * value pairs (either list may be NULL): `defaults` apply unless conninfo sets the keyword
 * (connect_timeout, fallback_application_name), `overrides` whatever conninfo says
 * (client_encoding). No application_name is set unless given. */
struct ct_pg *ct_pg_new_params(const char *conninfo, const char *password,
                               const char *const *defaults, const char *const *overrides);
/* Server notices (RAISE NOTICE, "already exists, skipping") go to fn, on the caller's thread
 * inside ct_pg calls, with the severity ("NOTICE", "WARNING", ...) and the primary message.
 * Set before ct_pg_ensure; kept across reconnects. Without it libpq prints them to stderr. */
void ct_pg_set_notice_handler(struct ct_pg *pg,
                              void (*fn)(void *arg, const char *severity, const char *message),
                              void *arg);
/* Connects if not connected (or the connection went bad), retrying with backoff from
 * 100 ms to 5 s until timeout_ms passes (0: one attempt; -1: until *stop_flag becomes
 * nonzero). A new connection LISTENs again on every channel of ct_pg_listen. Returns CT_OK,
 * CT_ERR_TIMEOUT or CT_ERR_STOPPED; the last libpq error goes to err. */
int ct_pg_ensure(struct ct_pg *pg, int timeout_ms, volatile sig_atomic_t *stop_flag, char *err,
                 size_t err_len);
/* Counts successful connects: a change means a new session, which has lost its session
 * state and any notifications sent while it was away (its LISTENs ct_pg redoes). */
unsigned long ct_pg_generation(const struct ct_pg *pg);
void ct_pg_free(struct ct_pg *pg);

/* ---- failures ------------------------------------------------------------------------ */

/* What the last failure was, for the caller's decision. */
enum ct_pg_error_class {
	CT_PG_ERR_NONE = 0,   /* no failure since the last connect */
	CT_PG_ERR_CONNECTION, /* connection lost (no SQLSTATE, class 08, 57P01..57P03): retry */
	CT_PG_ERR_TRANSIENT,  /* deadlock or serialization failure (class 40): the transaction
	                       * was rolled back and succeeds when run again */
	CT_PG_ERR_REFUSED,    /* refused on purpose: raised by a function (class P0), no
	                       * privilege (42501), a constraint (class 23, e.g. 23505 unique),
	                       * bad data (class 22) */
	CT_PG_ERR_OTHER,      /* anything else: a bad statement, a missing table, ... */
};

/* The class of a SQLSTATE; NULL or "" (no result: the connection failed) is CONNECTION. */
enum ct_pg_error_class ct_pg_classify_sqlstate(const char *sqlstate);

/* The last failure's fields; strings are "" when absent. */
struct ct_pg_error {
	char sqlstate[6];
	char message[1024]; /* primary message, or the connection's message without a result */
	char detail[1024];
	char hint[512];
	long position; /* 1-based character in the statement (PG_DIAG_STATEMENT_POSITION), 0 */
};

const struct ct_pg_error *ct_pg_last_error(const struct ct_pg *pg);
/* The last failure's SQLSTATE ("" when none, or when it had no result). */
const char *ct_pg_sqlstate(const struct ct_pg *pg);
enum ct_pg_error_class ct_pg_error_class(const struct ct_pg *pg);
/* True when not connected or the last failure looks like a lost connection rather than a
 * bad statement. */
bool ct_pg_is_connection_error(struct ct_pg *pg);
/* True when the last failure was of class 40 (CT_PG_ERR_TRANSIENT). */
bool ct_pg_is_transient_error(struct ct_pg *pg);

/* ---- statements ---------------------------------------------------------------------- */

/* Runs SQL without parameters and without reading results: one statement (BEGIN, LISTEN,
 * ...) or several separated by semicolons (a migration file). An empty statement is fine; a
 * `COPY ... FROM STDIN` is ended with an error (there is no data to send). Returns CT_OK or
 * CT_ERR_PG. */
int ct_pg_exec(struct ct_pg *pg, const char *sql, char *err, size_t err_len);
/* Runs one statement with text parameters (values[i] NULL for SQL NULL). Returns CT_OK with
 * *ret (free it with ct_pg_result_free; ret may be NULL when the rows are not wanted), or
 * CT_ERR_PG (or CT_ERR_NOMEM) with *ret untouched. */
int ct_pg_query(struct ct_pg *pg, const char *sql, int n_params, const char *const *values,
                struct ct_pg_result **ret, char *err, size_t err_len);

/* Transactions. ct_pg_commit fails (CT_ERR_PG) also when the server answers COMMIT with
 * ROLLBACK (the transaction had failed). ct_pg_rollback ignores failures (the connection may
 * be gone, which ends the transaction too); it keeps the failure that made the caller roll
 * back as the last error unless the rollback itself loses the connection. */
int ct_pg_begin(struct ct_pg *pg, char *err, size_t err_len);
int ct_pg_commit(struct ct_pg *pg, char *err, size_t err_len);
void ct_pg_rollback(struct ct_pg *pg);

enum ct_pg_tx {
	CT_PG_TX_IDLE,    /* not in a transaction */
	CT_PG_TX_ACTIVE,  /* in a transaction block, or a statement running */
	CT_PG_TX_FAILED,  /* in a failed transaction block: only ROLLBACK helps */
	CT_PG_TX_UNKNOWN, /* not connected */
};
enum ct_pg_tx ct_pg_tx_status(struct ct_pg *pg);

/* ---- LISTEN / NOTIFY ----------------------------------------------------------------- */

/* LISTENs on channel now and after every reconnect (ct_pg_ensure). The name is quoted as an
 * identifier (case kept). Returns CT_OK, CT_ERR_PG (the LISTEN failed; it is still redone
 * on the next connect) or CT_ERR_NOMEM. */
int ct_pg_listen(struct ct_pg *pg, const char *channel, char *err, size_t err_len);
/* The next notification received, without waiting: *ret_got false when there is none. The
 * channel name goes to channel_buf (64 bytes hold any PostgreSQL name). Returns CT_OK, or
 * CT_ERR_PG when the connection is gone (*ret_got false). */
int ct_pg_next_notify(struct ct_pg *pg, char *channel_buf, size_t len, bool *ret_got);

/* ---- results ------------------------------------------------------------------------- */

int ct_pg_result_rows(const struct ct_pg_result *res);
/* Rows changed by an INSERT/UPDATE/DELETE (0 when not such a statement). */
long ct_pg_result_changed(const struct ct_pg_result *res);
/* The index of the named column, -1 when the result has none. Lookups by the same name
 * pointer are cached, so calling the accessors below row by row costs no string search. */
int ct_pg_col(struct ct_pg_result *res, const char *name);
/* The column's text in row, NULL for SQL NULL (and for an unknown column or row, which is
 * remembered as the result's error). Owned by res. */
const char *ct_pg_text(struct ct_pg_result *res, int row, const char *col);
/* True when the value is SQL NULL; false for an unknown column (remembered as an error). */
bool ct_pg_is_null(struct ct_pg_result *res, int row, const char *col);
/* Checked parsers: CT_OK with *ret, or CT_ERR_INVALID (unknown column or row, SQL NULL, not
 * a number of that type, out of range) with *ret untouched and the reason remembered. */
int ct_pg_int64(struct ct_pg_result *res, int row, const char *col, int64_t *ret);
int ct_pg_int(struct ct_pg_result *res, int row, const char *col, int *ret);
int ct_pg_double(struct ct_pg_result *res, int row, const char *col, double *ret);
int ct_pg_bool(struct ct_pg_result *res, int row, const char *col, bool *ret);
/* A timestamptz in its text form (DateStyle ISO) as microseconds since the epoch. */
int ct_pg_time_us(struct ct_pg_result *res, int row, const char *col, int64_t *ret);
/* A bytea as bytes: *ret is malloc'ed (free() it), also for an empty value. CT_ERR_NOMEM
 * when out of memory. */
int ct_pg_bytea(struct ct_pg_result *res, int row, const char *col, uint8_t **ret, size_t *ret_len);
/* The first failure of an accessor on this result ("column 'kind', row 3: 'x' is not an
 * integer"), "" when none. */
const char *ct_pg_result_error(const struct ct_pg_result *res);
/* CT_OK when every accessor so far succeeded, else CT_ERR_INVALID with ct_pg_result_error in
 * err. */
int ct_pg_result_check(const struct ct_pg_result *res, char *err, size_t err_len);
/* NULL is a no-op. */
void ct_pg_result_free(struct ct_pg_result *res);

/* The parsers behind the accessors, for tests and other parsing code: the whole text must
 * be the value. ct_pg_parse_time_us takes "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]]"
 * (also with a T, or a '-' offset). */
int ct_pg_parse_int64(const char *text, int64_t *ret);
int ct_pg_parse_bool(const char *text, bool *ret);
int ct_pg_parse_time_us(const char *text, int64_t *ret);

/* ---- storing batches ----------------------------------------------------------------- */

/* The outcome of one attempt at storing some items (ct_pg_batch_run). */
enum ct_pg_attempt {
	CT_PG_ATTEMPT_STORED,  /* in the database */
	CT_PG_ATTEMPT_RETRY,   /* lost connection or class 40: the same items again */
	CT_PG_ATTEMPT_REFUSED, /* the database refused these items (reason in err) */
	CT_PG_ATTEMPT_STOPPED, /* shutdown came first */
};

/* The batch pattern without a database (ct_pg_store_batch runs it on one): attempts the n
 * items as one, again while attempt says RETRY; when they are refused and there are more
 * than one, attempts each alone the same way; an item refused alone goes to refused(ctx,
 * index, reason), so one bad item cannot block the rest. Returns CT_OK (every item stored
 * or reported refused), or CT_ERR_STOPPED when an attempt said STOPPED: items from that one
 * on are neither stored nor reported. */
int ct_pg_batch_run(size_t n,
                    enum ct_pg_attempt (*attempt)(void *ctx, size_t first, size_t count, char *err,
                                                  size_t err_len),
                    void (*refused)(void *ctx, size_t index, const char *err), void *ctx);

/* Stores n items with store(ctx, first, count, err, err_len), which writes items [first,
 * first + count) in one transaction and returns CT_OK, or an error after rolling back.
 * Before each attempt waits for the connection (ct_pg_ensure until *stop); retries after a
 * lost connection or a class-40 failure (with a warning); on any other failure stores the
 * items one by one and reports each one the database refuses alone through refused (the
 * caller dead-letters it). Returns CT_OK or CT_ERR_STOPPED (ct_pg_batch_run). */
int ct_pg_store_batch(struct ct_pg *pg, volatile sig_atomic_t *stop, size_t n,
                      int (*store)(void *ctx, size_t first, size_t count, char *err,
                                   size_t err_len),
                      void (*refused)(void *ctx, size_t index, const char *err), void *ctx);

/* A buffer of COPY text-format rows. */
struct ct_copy {
	char *data;
	size_t len;
	size_t cap;
	size_t rows;
	bool row_open;
	bool failed; /* an append ran out of memory; ct_pg_copy refuses the buffer */
	/* Most timestamps of a batch share their second: its text is formatted once. */
	int64_t cached_second;
	char cached_text[40];
};

void ct_copy_init(struct ct_copy *copy);
void ct_copy_reset(struct ct_copy *copy);
void ct_copy_cleanup(struct ct_copy *copy);
/* Field appenders; each adds a tab before every field but the row's first. */
void ct_copy_text(struct ct_copy *copy, const char *text); /* NULL -> \N; escapes */
void ct_copy_null(struct ct_copy *copy);
void ct_copy_int64(struct ct_copy *copy, int64_t value);
void ct_copy_double(struct ct_copy *copy, double value); /* round-trip precision */
void ct_copy_bool(struct ct_copy *copy, bool value);
void ct_copy_time_us(struct ct_copy *copy, int64_t us); /* timestamptz, UTC */
/* A float8[] literal from n doubles. */
void ct_copy_double_array(struct ct_copy *copy, const double *values, size_t n);
/* A bytea in hex form. */
void ct_copy_bytea(struct ct_copy *copy, const uint8_t *data, size_t len);
void ct_copy_end_row(struct ct_copy *copy);
/* Sends the rows with `COPY table (columns) FROM STDIN`. Returns CT_OK or CT_ERR_PG. An empty
 * buffer is a no-op. */
int ct_pg_copy(struct ct_pg *pg, const char *copy_sql, const struct ct_copy *copy, char *err,
               size_t err_len);

/* A PostgreSQL array literal ("{...}") built value by value, to send many rows as one
 * parameter per column: INSERT ... SELECT FROM unnest($1::text[], $2::int8[], ...). Unlike
 * COPY this works inside a transaction with ON CONFLICT and in libpq's pipeline mode. Every
 * element is quoted and escaped, so any text is safe. */
struct ct_pgarray {
	char *buf; /* "{" elements, then "}" NUL written by ct_pgarray_literal */
	size_t len;
	size_t cap;
	size_t count;
	bool failed; /* an append ran out of memory; the literal is then NULL */
};

void ct_pgarray_init(struct ct_pgarray *a);
void ct_pgarray_reset(struct ct_pgarray *a);
void ct_pgarray_cleanup(struct ct_pgarray *a);
void ct_pgarray_text(struct ct_pgarray *a, const char *text); /* NULL -> NULL element */
void ct_pgarray_null(struct ct_pgarray *a);
void ct_pgarray_int64(struct ct_pgarray *a, int64_t value);
void ct_pgarray_double(struct ct_pgarray *a, double value); /* not finite -> NULL */
void ct_pgarray_bytea(struct ct_pgarray *a, const uint8_t *data, size_t len);
/* The literal, valid until the next append; NULL when an append failed. */
const char *ct_pgarray_literal(struct ct_pgarray *a);

#endif
