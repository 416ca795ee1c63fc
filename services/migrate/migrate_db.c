/* migrate_db: ct-migrate's statements (contract in migrate_db.h). SQL text is constant;
 * values travel as parameters. */
#include "migrate_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"

/* pg_advisory_lock key shared by every ct-migrate: the bytes "cellthrd" as a bigint. */
#define LOCK_KEY "7162249995467911780"

#define TABLE_SQL                                                                                  \
	"CREATE TABLE IF NOT EXISTS public.schema_migrations ("                                    \
	" version integer PRIMARY KEY CHECK (version > 0),"                                        \
	" name text NOT NULL,"                                                                     \
	" sha256 text NOT NULL,"                                                                   \
	" applied_at timestamptz NOT NULL DEFAULT now())"

int migrate_db_error(const struct ct_pg_error *e, const struct migration *m, char *err,
                     size_t err_len)
{
	char where[MIGRATE_FILE_MAX + 32] = "";
	unsigned line = 0;

	if (m != NULL) {
		if (e->position > 0)
			line = migrate_line_of_position(m->sql, m->sql_len, e->position);
		if (line)
			snprintf(where, sizeof(where), "%s:%u: ", m->file, line);
		else
			snprintf(where, sizeof(where), "%s: ", m->file);
	}
	return ct_set_error(err, err_len, CT_ERR_PG, "%s%s %.*s%s%s%s%s%s", where,
	                    e->sqlstate[0] ? e->sqlstate : "(no SQLSTATE)",
	                    (int)strcspn(e->message, "\n"), e->message, e->detail[0] ? " (" : "",
	                    e->detail, e->detail[0] ? ")" : "", e->hint[0] ? " hint: " : "",
	                    e->hint);
}

/* The last failure of pg, formatted; for statements with no file. */
static int fail(struct ct_pg *pg, char *err, size_t err_len)
{
	return migrate_db_error(ct_pg_last_error(pg), NULL, err, err_len);
}

/* Server notices (RAISE NOTICE in a migration, "already exists, skipping") go to the log with
 * the file that caused them. */
static void log_notice(void *arg, const char *severity, const char *message)
{
	const char *const *file = arg;

	if (strcmp(severity, "WARNING") == 0)
		ct_warn("%s: server warning: %s", *file ? *file : "-", message);
	else
		ct_info("%s: server %s: %s", *file ? *file : "-", severity, message);
}

int migrate_db_connect(const char *conninfo, const char *const *notice_file, struct ct_pg **ret,
                       char *err, size_t err_len)
{
	static const char *const defaults[] = {"connect_timeout", "10", "fallback_application_name",
	                                       "ct-migrate", NULL};
	static const char *const overrides[] = {"client_encoding", "UTF8", NULL};
	struct ct_pg *pg = ct_pg_new_params(conninfo, NULL, defaults, overrides);
	int rc;

	if (pg == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	ct_pg_set_notice_handler(pg, log_notice, (void *)notice_file);
	rc = ct_pg_ensure(pg, 0, NULL, err, err_len);
	if (rc != CT_OK) {
		if (err != NULL && err_len > 0)
			err[strcspn(err, "\n")] = '\0'; /* libpq's message ends in a newline */
		ct_pg_free(pg);
		return CT_ERR_PG;
	}
	*ret = pg;
	return CT_OK;
}

/* Runs a query whose one row has the boolean column `name`. */
static int query_bool(struct ct_pg *pg, const char *sql, int n, const char *const *params,
                      const char *name, bool *ret, char *err, size_t err_len)
{
	struct ct_pg_result *res = NULL;
	int rc;

	if (ct_pg_query(pg, sql, n, params, &res, err, err_len) != CT_OK)
		return fail(pg, err, err_len);
	rc = ct_pg_bool(res, 0, name, ret);
	if (rc != CT_OK)
		rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

static int table_exists(struct ct_pg *pg, bool *ret, char *err, size_t err_len)
{
	return query_bool(pg,
	                  "SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present",
	                  0, NULL, "present", ret, err, err_len);
}

int migrate_db_ensure_table(struct ct_pg *pg, char *err, size_t err_len)
{
	bool exists = false;
	int rc = table_exists(pg, &exists, err, err_len);

	if (rc == CT_OK && !exists && ct_pg_exec(pg, TABLE_SQL, err, err_len) != CT_OK)
		rc = fail(pg, err, err_len);
	return rc;
}

static int copy_text(char *dst, size_t dst_len, const char *src, const char *what, char *err,
                     size_t err_len)
{
	if (src == NULL)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "schema_migrations: %s is NULL",
		                    what);
	if (strlen(src) >= dst_len)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "schema_migrations: %s '%s' is too long", what, src);
	memcpy(dst, src, strlen(src) + 1);
	return CT_OK;
}

int migrate_db_read_applied(struct ct_pg *pg, struct migrate_applied **ret, size_t *ret_n,
                            char *err, size_t err_len)
{
	struct ct_pg_result *res = NULL;
	struct migrate_applied *rows = NULL;
	bool exists = false;
	int n = 0;
	int rc;

	rc = table_exists(pg, &exists, err, err_len);
	if (rc != CT_OK || !exists)
		goto out;
	if (ct_pg_query(pg,
	                "SELECT version, name, sha256,"
	                " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	                "  AS applied_at"
	                " FROM public.schema_migrations ORDER BY version",
	                0, NULL, &res, err, err_len) != CT_OK) {
		rc = fail(pg, err, err_len);
		goto out;
	}
	n = ct_pg_result_rows(res);
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (!rows) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int version = 0;

		if (ct_pg_int(res, i, "version", &version) != CT_OK || version < 1 ||
		    version > 999999999) {
			const char *text = ct_pg_text(res, i, "version");
			rc = ct_set_error(err, err_len, CT_ERR_INVALID,
			                  "schema_migrations: version %s out of range",
			                  text ? text : "NULL");
			goto out;
		}
		rows[i].version = version;
		rc = copy_text(rows[i].name, sizeof(rows[i].name), ct_pg_text(res, i, "name"),
		               "name", err, err_len);
		if (rc == CT_OK)
			rc = copy_text(rows[i].sha256, sizeof(rows[i].sha256),
			               ct_pg_text(res, i, "sha256"), "sha256", err, err_len);
		if (rc == CT_OK)
			rc = copy_text(rows[i].applied_at, sizeof(rows[i].applied_at),
			               ct_pg_text(res, i, "applied_at"), "applied_at", err,
			               err_len);
		if (rc != CT_OK)
			goto out;
	}
	rc = ct_pg_result_check(res, err, err_len);
out:
	ct_pg_result_free(res);
	if (rc == CT_OK) {
		*ret = rows;
		*ret_n = (size_t)n;
		rows = NULL;
	}
	free(rows);
	return rc;
}

int migrate_db_lock(struct ct_pg *pg, long timeout_s, char *err, size_t err_len)
{
	const char *key[] = {LOCK_KEY};
	char timeout_ms[32];
	const char *timeout_param[] = {timeout_ms};
	bool locked = false;
	int rc;

	rc = query_bool(pg, "SELECT pg_try_advisory_lock($1::bigint) AS locked", 1, key, "locked",
	                &locked, err, err_len);
	if (rc != CT_OK || locked)
		return rc;

	ct_info("another ct-migrate holds the migration lock; waiting up to %ld s", timeout_s);
	/* lock_timeout bounds the wait; 0 would mean forever, so ask for at least 1 ms. */
	snprintf(timeout_ms, sizeof(timeout_ms), "%ld", timeout_s > 0 ? timeout_s * 1000 : 1);
	if (ct_pg_query(pg, "SELECT set_config('lock_timeout', $1, false)", 1, timeout_param, NULL,
	                err, err_len) != CT_OK)
		return fail(pg, err, err_len);
	if (ct_pg_query(pg, "SELECT pg_advisory_lock($1::bigint)", 1, key, NULL, err, err_len) !=
	    CT_OK) {
		if (strcmp(ct_pg_sqlstate(pg), "55P03") == 0) /* lock_not_available */
			return ct_set_error(
			        err, err_len, CT_ERR_TIMEOUT,
			        "another ct-migrate still holds the migration lock after "
			        "%ld s",
			        timeout_s);
		return fail(pg, err, err_len);
	}
	if (ct_pg_exec(pg, "RESET lock_timeout", err, err_len) != CT_OK)
		return fail(pg, err, err_len);
	return CT_OK;
}

/* migrate_db_apply without the rollback. */
static int apply_in_transaction(struct ct_pg *pg, const struct migration *m, char *err,
                                size_t err_len)
{
	char version[16];
	const char *params[] = {version, m->name, m->sha256};

	if (ct_pg_begin(pg, err, err_len) != CT_OK)
		return fail(pg, err, err_len);
	if (ct_pg_exec(pg, m->sql, err, err_len) != CT_OK) {
		/* A COPY FROM STDIN in the file was refused by ct_pg: no SQLSTATE, its reason. */
		if (ct_pg_sqlstate(pg)[0] == '\0' &&
		    strstr(ct_pg_last_error(pg)->message, "FROM STDIN is not supported"))
			return ct_set_error(
			        err, err_len, CT_ERR_PG,
			        "%s: COPY ... FROM STDIN is not supported in a migration", m->file);
		return migrate_db_error(ct_pg_last_error(pg), m, err, err_len);
	}
	if (ct_pg_tx_status(pg) != CT_PG_TX_ACTIVE)
		return ct_set_error(
		        err, err_len, CT_ERR_INVALID,
		        "%s ended the transaction itself (COMMIT or ROLLBACK in the "
		        "file): what it did before that may be committed without a "
		        "schema_migrations row; check the database by hand, then remove "
		        "the COMMIT from the file",
		        m->file);
	snprintf(version, sizeof(version), "%d", m->version);
	if (ct_pg_query(pg,
	                "INSERT INTO public.schema_migrations (version, name, sha256)"
	                " VALUES ($1::integer, $2, $3)",
	                3, params, NULL, err, err_len) != CT_OK)
		return fail(pg, err, err_len);
	/* ct_pg_commit also fails when COMMIT of a failed transaction "succeeds" as ROLLBACK. */
	if (ct_pg_commit(pg, err, err_len) != CT_OK)
		return ct_pg_sqlstate(pg)[0] != '\0'
		               ? migrate_db_error(ct_pg_last_error(pg), m, err, err_len)
		               : ct_set_error(err, err_len, CT_ERR_PG, "%s: COMMIT was rolled back",
		                              m->file);
	return CT_OK;
}

int migrate_db_apply(struct ct_pg *pg, const struct migration *m, char *err, size_t err_len)
{
	int rc = apply_in_transaction(pg, m, err, err_len);

	if (rc != CT_OK && ct_pg_tx_status(pg) != CT_PG_TX_IDLE)
		ct_pg_rollback(pg);
	return rc;
}

int migrate_db_apply_pending(struct ct_pg *pg, const struct migrate_step *steps, size_t n_steps,
                             const char **notice_file)
{
	size_t done = 0;
	char err[1024];

	for (size_t i = 0; i < n_steps; i++) {
		const struct migration *m = steps[i].file;
		int64_t started;
		int rc;

		if (steps[i].state != MIGRATE_PENDING)
			continue;
		*notice_file = m->file;
		started = ct_mono_ms();
		rc = migrate_db_apply(pg, m, err, sizeof(err));
		*notice_file = NULL;
		if (rc != CT_OK) {
			ct_error("%s", err);
			/* CT_ERR_INVALID: the file committed part of itself (said above). */
			ct_error("migration %s failed%s; %zu applied before it", m->file,
			         rc == CT_ERR_INVALID ? "" : " and was rolled back", done);
			return rc;
		}
		ct_info("applied %s (%lld ms)", m->file, (long long)(ct_mono_ms() - started));
		done++;
	}
	if (done == 0)
		ct_info("database is up to date at version %d (%zu migrations)",
		        n_steps ? steps[n_steps - 1].version : 0, n_steps);
	else
		ct_info("applied %zu migration(s); database now at version %d", done,
		        steps[n_steps - 1].version);
	return CT_OK;
}
