/* ct_pg: PostgreSQL connection with reconnect, and batched COPY in text format.
 *
 * libpq rules written once here: every PGresult is PQclear'ed; values reach SQL only as
 * parameters (PQexecParams) or COPY data, never by building SQL text. */
#ifndef CT_PG_H
#define CT_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct ct_pg;

/* conninfo as libpq takes it ("host=127.0.0.1 port=5432 dbname=cellthread user=...");
 * password NULL or "" to let libpq find it (PGPASSWORD, PGPASSFILE). Both are copied.
 * Returns NULL when out of memory. */
struct ct_pg *ct_pg_new(const char *conninfo, const char *password);
/* Connects if not connected (or the connection went bad), retrying with backoff from
 * 100 ms to 5 s until timeout_ms passes (-1: until stop_flag becomes nonzero).
 * Returns CT_OK, CT_ERR_TIMEOUT or CT_ERR_STOPPED; the last libpq error goes to err. */
int ct_pg_ensure(struct ct_pg *pg, int timeout_ms, volatile int *stop_flag, char *err,
                 size_t err_len);
/* Counts successful connects: a change means a new session, which has lost its LISTENs and
 * any notifications sent while it was away. */
unsigned long ct_pg_generation(const struct ct_pg *pg);
/* The live connection, or NULL. Owned by pg. */
PGconn *ct_pg_conn(struct ct_pg *pg);
/* True when the last failure looks like a lost connection rather than a bad statement. */
bool ct_pg_is_connection_error(struct ct_pg *pg);
/* True when the last failure was a deadlock or serialization failure (SQLSTATE class 40):
 * the transaction was rolled back and succeeds when run again. */
bool ct_pg_is_transient_error(struct ct_pg *pg);
/* Runs a statement without results (BEGIN, COMMIT, ...). Returns CT_OK or CT_ERR_PG. */
int ct_pg_exec(struct ct_pg *pg, const char *sql, char *err, size_t err_len);
/* Runs a statement with text parameters; returns CT_OK with *ret (PQclear it) when the
 * status is COMMAND_OK or TUPLES_OK, else CT_ERR_PG. */
int ct_pg_query(struct ct_pg *pg, const char *sql, int n_params, const char *const *values,
                PGresult **ret, char *err, size_t err_len);
void ct_pg_free(struct ct_pg *pg);

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
