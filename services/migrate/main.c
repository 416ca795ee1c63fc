/* ct-migrate: applies the numbered SQL migrations to a PostgreSQL database, each once, in order.
 *
 * The database remembers what it has applied in public.schema_migrations (version, name,
 * sha256, applied_at). A run takes a session advisory lock first, so two migrators (two
 * deployments starting at once) apply nothing twice: the second waits, then finds nothing
 * pending. Before applying anything it compares every applied row with the files and refuses
 * (exit 1) when a file was edited, renamed or removed after it was applied, or when a new
 * file sorts before an applied one: the schema a database has must be the schema the files
 * describe, in the order they describe it. Each migration then runs in its own transaction
 * together with the INSERT of its schema_migrations row, so a failed migration leaves no
 * trace and a committed one is always recorded. A file must therefore not COMMIT itself
 * (nor use statements that cannot run in a transaction block, like CREATE INDEX
 * CONCURRENTLY); if one does, ct-migrate stops and says so.
 *
 * Exit codes: 0 done (or --status found no problem), 1 a migration failed or the files and
 * the database disagree, 2 usage or configuration. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"
#include "migrate.h"

#ifndef CT_MIGRATIONS_DEFAULT_DIR
#define CT_MIGRATIONS_DEFAULT_DIR "/usr/local/share/cellthread/migrations"
#endif
#ifndef CT_VERSION
#define CT_VERSION "0.0.0"
#endif

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* pg_advisory_lock key shared by every ct-migrate: the bytes "cellthrd" as a bigint. */
#define LOCK_KEY "7162249995467911780"

#define TABLE_SQL                                                                                  \
	"CREATE TABLE IF NOT EXISTS public.schema_migrations ("                                    \
	" version integer PRIMARY KEY CHECK (version > 0),"                                        \
	" name text NOT NULL,"                                                                     \
	" sha256 text NOT NULL,"                                                                   \
	" applied_at timestamptz NOT NULL DEFAULT now())"

struct options {
	const char *dir;
	const char *conninfo;
	long lock_timeout_s;
	bool status;
};

/* What the notice receiver prints before a server notice: the file being applied. */
struct notice_context {
	const char *file;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: ct-migrate [--dir PATH] [--conninfo CONNINFO] [--lock-timeout SECONDS]\n"
	        "       ct-migrate --status [--dir PATH] [--conninfo CONNINFO]\n"
	        "\n"
	        "Applies the pending <version>_<name>.sql files of PATH in version order, each in\n"
	        "its own transaction, recording them in public.schema_migrations.\n"
	        "\n"
	        "  --dir PATH          migrations directory (env CT_MIGRATIONS_DIR;\n"
	        "                      default %s)\n"
	        "  --conninfo STRING   libpq connection string or URI (env CT_PG_CONNINFO;\n"
	        "                      default: libpq's PG* environment). Connect as the\n"
	        "                      database owner.\n"
	        "  --lock-timeout S    wait at most S seconds for another ct-migrate (default 60)\n"
	        "  --status            list applied and pending migrations, change nothing\n"
	        "  --version, --help\n"
	        "\n"
	        "Exit codes: 0 ok, 1 a migration failed or files and database disagree,\n"
	        "2 usage or configuration.\n",
	        CT_MIGRATIONS_DEFAULT_DIR);
}

/* Fills opt from argv and the environment. Returns -1 to go on, or the exit code when the
 * run ends here (--help, --version: 0; a usage error, printed: 2). */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
	        {"dir", required_argument, NULL, 'd'},
	        {"conninfo", required_argument, NULL, 'c'},
	        {"lock-timeout", required_argument, NULL, 'l'},
	        {"status", no_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	const char *env;
	int c;

	opt->dir = NULL;
	opt->conninfo = NULL;
	opt->lock_timeout_s = 60;
	opt->status = false;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt->dir = optarg;
			break;
		case 'c':
			opt->conninfo = optarg;
			break;
		case 'l':
			if (ct_parse_long(optarg, 0, 86400, &opt->lock_timeout_s) != CT_OK) {
				fprintf(stderr,
				        "ct-migrate: --lock-timeout: want 0..86400 seconds, "
				        "got '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			opt->status = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		case 'V':
			printf("ct-migrate %s\n", CT_VERSION);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ct-migrate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	/* Precedence: command line > environment > default. */
	if (!opt->dir) {
		env = getenv("CT_MIGRATIONS_DIR");
		opt->dir = env && *env ? env : CT_MIGRATIONS_DEFAULT_DIR;
	}
	if (!opt->conninfo) {
		env = getenv("CT_PG_CONNINFO");
		opt->conninfo = env ? env : "";
	}
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *field_or(const PGresult *res, int field, const char *fallback)
{
	const char *v = res ? PQresultErrorField(res, field) : NULL;

	return v ? v : fallback;
}

/* Formats a failed statement into err: "[file:line: ]SQLSTATE message[ (detail)][ (hint)]".
 * Returns CT_ERR_PG. */
static int pg_fail(char *err, size_t err_len, PGconn *conn, const PGresult *res,
                   const struct migration *m)
{
	const char *message = res ? field_or(res, PG_DIAG_MESSAGE_PRIMARY, NULL) : NULL;
	const char *detail = field_or(res, PG_DIAG_MESSAGE_DETAIL, NULL);
	const char *hint = field_or(res, PG_DIAG_MESSAGE_HINT, NULL);
	const char *position = field_or(res, PG_DIAG_STATEMENT_POSITION, NULL);
	char where[MIGRATE_FILE_MAX + 32] = "";
	unsigned line = 0;
	long pos;

	if (!message) {
		/* No result or no structured error: the connection's own message. */
		message = PQerrorMessage(conn);
	}
	if (m) {
		if (position && ct_parse_long(position, 1, 1L << 30, &pos) == CT_OK)
			line = migrate_line_of_position(m->sql, m->sql_len, pos);
		if (line)
			snprintf(where, sizeof(where), "%s:%u: ", m->file, line);
		else
			snprintf(where, sizeof(where), "%s: ", m->file);
	}
	return ct_set_error(err, err_len, CT_ERR_PG, "%s%s %.*s%s%s%s%s%s", where,
	                    field_or(res, PG_DIAG_SQLSTATE, "(no SQLSTATE)"),
	                    (int)strcspn(message, "\n"), message, detail ? " (" : "",
	                    detail ? detail : "", detail ? ")" : "", hint ? " hint: " : "",
	                    hint ? hint : "");
}

/* Server notices (RAISE NOTICE in a migration, "already exists, skipping") go to the log with
 * the file that caused them. Runs on our thread inside libpq calls. */
static void notice_receiver(void *arg, const PGresult *res)
{
	const struct notice_context *ctx = arg;
	const char *severity = field_or(res, PG_DIAG_SEVERITY_NONLOCALIZED, "NOTICE");
	const char *message = field_or(res, PG_DIAG_MESSAGE_PRIMARY, "");

	if (strcmp(severity, "WARNING") == 0)
		ct_warn("%s: server warning: %s", ctx->file ? ctx->file : "-", message);
	else
		ct_info("%s: server %s: %s", ctx->file ? ctx->file : "-", severity, message);
}

static int connect_db(const char *conninfo, struct notice_context *notices, PGconn **ret, char *err,
                      size_t err_len)
{
	/* Order matters: later keywords override earlier ones, so the caller's conninfo may
	 * change connect_timeout but not the client encoding (the files are UTF-8). */
	const char *const keywords[] = {"connect_timeout", "fallback_application_name", "dbname",
	                                "client_encoding", NULL};
	const char *const values[] = {"10", "ct-migrate", conninfo, "UTF8", NULL};
	PGconn *conn;

	conn = PQconnectdbParams(keywords, values, 1);
	if (!conn)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	if (PQstatus(conn) != CONNECTION_OK) {
		ct_set_error(err, err_len, CT_ERR_PG, "connecting to PostgreSQL: %.*s",
		             (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
		PQfinish(conn);
		return CT_ERR_PG;
	}
	PQsetNoticeReceiver(conn, notice_receiver, notices);
	*ret = conn;
	return CT_OK;
}

/* Runs a statement that returns no rows. */
static int exec_command(PGconn *conn, const char *sql, char *err, size_t err_len)
{
	PGresult *res = PQexec(conn, sql);
	int rc = CT_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(err, err_len, conn, res, NULL);
	PQclear(res);
	return rc;
}

static int copy_text(char *dst, size_t dst_len, const char *src, const char *what, char *err,
                     size_t err_len)
{
	if (strlen(src) >= dst_len)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "schema_migrations: %s '%s' is too long", what, src);
	memcpy(dst, src, strlen(src) + 1);
	return CT_OK;
}

static int table_exists(PGconn *conn, bool *ret, char *err, size_t err_len)
{
	PGresult *res = PQexec(conn, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
	int rc = CT_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = pg_fail(err, err_len, conn, res, NULL);
	else
		*ret = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/* Creates schema_migrations on first use. Called under the lock, so the check and the
 * CREATE do not race another migrator (and IF NOT EXISTS stays silent). */
static int ensure_table(PGconn *conn, char *err, size_t err_len)
{
	bool exists = false;
	int rc = table_exists(conn, &exists, err, err_len);

	if (rc == CT_OK && !exists)
		rc = exec_command(conn, TABLE_SQL, err, err_len);
	return rc;
}

/* Reads schema_migrations. A database that never ran ct-migrate has no table: that is an
 * empty history, not an error. *ret is heap (free() it), possibly NULL when empty. */
static int read_applied(PGconn *conn, struct migrate_applied **ret, size_t *ret_n, char *err,
                        size_t err_len)
{
	PGresult *res = NULL;
	struct migrate_applied *rows = NULL;
	bool exists = false;
	int n = 0;
	int rc;

	rc = table_exists(conn, &exists, err, err_len);
	if (rc != CT_OK || !exists)
		goto out;
	res = PQexec(conn,
	             "SELECT version, name, sha256,"
	             " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	             " FROM public.schema_migrations ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(err, err_len, conn, res, NULL);
		goto out;
	}
	n = PQntuples(res);
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (!rows) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		long version;

		if (ct_parse_long(PQgetvalue(res, i, 0), 1, 999999999, &version) != CT_OK) {
			rc = ct_set_error(err, err_len, CT_ERR_INVALID,
			                  "schema_migrations: version %s out of range",
			                  PQgetvalue(res, i, 0));
			goto out;
		}
		rows[i].version = (int)version;
		rc = copy_text(rows[i].name, sizeof(rows[i].name), PQgetvalue(res, i, 1), "name",
		               err, err_len);
		if (rc == CT_OK)
			rc = copy_text(rows[i].sha256, sizeof(rows[i].sha256),
			               PQgetvalue(res, i, 2), "sha256", err, err_len);
		if (rc == CT_OK)
			rc = copy_text(rows[i].applied_at, sizeof(rows[i].applied_at),
			               PQgetvalue(res, i, 3), "applied_at", err, err_len);
		if (rc != CT_OK)
			goto out;
	}
	rc = CT_OK;
out:
	PQclear(res);
	if (rc == CT_OK) {
		*ret = rows;
		*ret_n = (size_t)n;
		rows = NULL;
	}
	free(rows);
	return rc;
}

/* Takes the session advisory lock, waiting at most timeout_s seconds for another migrator. */
static int take_lock(PGconn *conn, long timeout_s, char *err, size_t err_len)
{
	const char *key[] = {LOCK_KEY};
	char timeout_ms[32];
	const char *timeout_param[] = {timeout_ms};
	PGresult *res = NULL;
	int rc;

	res = PQexecParams(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, key, NULL,
	                   NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(err, err_len, conn, res, NULL);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		rc = CT_OK;
		goto out;
	}
	PQclear(res);

	ct_info("another ct-migrate holds the migration lock; waiting up to %ld s", timeout_s);
	/* lock_timeout bounds the wait; 0 would mean forever, so ask for at least 1 ms. */
	snprintf(timeout_ms, sizeof(timeout_ms), "%ld", timeout_s > 0 ? timeout_s * 1000 : 1);
	res = PQexecParams(conn, "SELECT set_config('lock_timeout', $1, false)", 1, NULL,
	                   timeout_param, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(err, err_len, conn, res, NULL);
		goto out;
	}
	PQclear(res);
	res = PQexecParams(conn, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, key, NULL, NULL,
	                   0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = field_or(res, PG_DIAG_SQLSTATE, "");

		if (strcmp(state, "55P03") == 0)
			rc = ct_set_error(err, err_len, CT_ERR_TIMEOUT,
			                  "another ct-migrate still holds the migration lock after "
			                  "%ld s",
			                  timeout_s);
		else
			rc = pg_fail(err, err_len, conn, res, NULL);
		goto out;
	}
	PQclear(res);
	res = NULL;
	rc = exec_command(conn, "RESET lock_timeout", err, err_len);
out:
	PQclear(res);
	return rc;
}

/* Runs one migration and records it, in one transaction. On failure the transaction is
 * rolled back and CT_ERR_PG returned, except when the file itself ended the transaction:
 * CT_ERR_INVALID, and what ran before its COMMIT stays (see the file comment). */
static int apply_one(PGconn *conn, const struct migration *m, char *err, size_t err_len)
{
	PGresult *res = NULL;
	char version[16];
	const char *params[] = {version, m->name, m->sha256};
	ExecStatusType status;
	int rc;

	rc = exec_command(conn, "BEGIN", err, err_len);
	if (rc != CT_OK)
		goto out;

	res = PQexec(conn, m->sql);
	status = PQresultStatus(res);
	if (status == PGRES_COPY_IN) {
		/* The file reads COPY data from us: there is none. End it and report. */
		PQputCopyEnd(conn, "COPY FROM STDIN is not supported in migrations");
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
		rc = ct_set_error(err, err_len, CT_ERR_PG,
		                  "%s: COPY ... FROM STDIN is not supported in a migration",
		                  m->file);
		goto out;
	}
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
	    status != PGRES_EMPTY_QUERY) {
		rc = pg_fail(err, err_len, conn, res, m);
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		rc = ct_set_error(err, err_len, CT_ERR_INVALID,
		                  "%s ended the transaction itself (COMMIT or ROLLBACK in the "
		                  "file): what it did before that may be committed without a "
		                  "schema_migrations row; check the database by hand, then remove "
		                  "the COMMIT from the file",
		                  m->file);
		goto out;
	}

	snprintf(version, sizeof(version), "%d", m->version);
	res = PQexecParams(conn,
	                   "INSERT INTO public.schema_migrations (version, name, sha256)"
	                   " VALUES ($1::integer, $2, $3)",
	                   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_fail(err, err_len, conn, res, NULL);
		goto out;
	}
	PQclear(res);

	/* COMMIT of a failed transaction "succeeds" as ROLLBACK: check the tag. */
	res = PQexec(conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		rc = res && PQresultStatus(res) != PGRES_COMMAND_OK
		             ? pg_fail(err, err_len, conn, res, m)
		             : ct_set_error(err, err_len, CT_ERR_PG, "%s: COMMIT was rolled back",
		                            m->file);
		goto out;
	}
	rc = CT_OK;
out:
	PQclear(res);
	if (rc != CT_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	return rc;
}

static void print_status(const struct migrate_step *steps, size_t n)
{
	printf("%-8s %-12s %-20s %-24s %s\n", "VERSION", "STATE", "APPLIED_AT", "FILE", "SHA256");
	for (size_t i = 0; i < n; i++) {
		const struct migrate_step *s = &steps[i];

		printf("%-8d %-12s %-20s %-24s %s\n", s->version, migrate_state_name(s->state),
		       s->applied ? s->applied->applied_at : "-", s->file ? s->file->file : "-",
		       s->file ? s->file->sha256 : s->applied->sha256);
	}
}

/* Logs why each refusing step refuses, with what to do about it. */
static void report_problems(const struct migrate_step *steps, size_t n, const char *dir)
{
	for (size_t i = 0; i < n; i++) {
		const struct migrate_step *s = &steps[i];

		switch (s->state) {
		case MIGRATE_CHANGED:
			ct_error("%s was edited after it was applied (SHA-256 then %s, now %s): "
			         "restore the file and put the change in a new migration",
			         s->file->file, s->applied->sha256, s->file->sha256);
			break;
		case MIGRATE_RENAMED:
			ct_error("%s was applied as version %d named '%s': restore the file name",
			         s->file->file, s->version, s->applied->name);
			break;
		case MIGRATE_MISSING:
			ct_error("version %d ('%s', applied %s) has no file in %s: wrong --dir, or "
			         "the file was removed",
			         s->version, s->applied->name, s->applied->applied_at, dir);
			break;
		case MIGRATE_OUT_OF_ORDER:
			ct_error("%s is not applied but older than an applied migration: give it a "
			         "version above the newest applied one",
			         s->file->file);
			break;
		case MIGRATE_APPLIED:
		case MIGRATE_PENDING:
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	struct migration_set files = {NULL, 0};
	struct migrate_applied *applied = NULL;
	struct migrate_step *steps = NULL;
	struct notice_context notices = {NULL};
	PGconn *conn = NULL;
	size_t n_applied = 0, n_steps = 0, problems = 0, done = 0;
	const char *level = getenv("CT_LOG_LEVEL");
	struct stat st;
	char err[1024];
	int exit_code = EXIT_FAILED;
	int rc;

	ct_log_set_service("migrate");
	if (level && *level && ct_log_parse_level(level, &ct_log_level) != CT_OK) {
		fprintf(stderr, "ct-migrate: CT_LOG_LEVEL: want error, warn, info or debug\n");
		return EXIT_USAGE;
	}
	rc = parse_options(argc, argv, &opt);
	if (rc >= 0)
		return rc;

	/* A wrong directory is configuration (exit 2); a bad file in it is a failure (1). */
	errno = 0;
	if (stat(opt.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ct_error("migrations directory %s: %s (set --dir or CT_MIGRATIONS_DIR)", opt.dir,
		         errno ? strerror(errno) : "not a directory");
		exit_code = EXIT_USAGE;
		goto out;
	}
	rc = migrate_set_load(&files, opt.dir, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("%s", err);
		goto out;
	}
	if (files.n == 0)
		ct_warn("no migration files in %s", opt.dir);

	rc = connect_db(opt.conninfo, &notices, &conn, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("%s", err);
		goto out;
	}
	if (!opt.status) {
		rc = take_lock(conn, opt.lock_timeout_s, err, sizeof(err));
		if (rc == CT_OK)
			rc = ensure_table(conn, err, sizeof(err));
		if (rc != CT_OK) {
			ct_error("%s", err);
			goto out;
		}
	}
	/* Read under the lock: what another migrator applied while we waited counts. */
	rc = read_applied(conn, &applied, &n_applied, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("%s", err);
		goto out;
	}
	rc = migrate_plan(&files, applied, n_applied, &steps, &n_steps, &problems);
	if (rc != CT_OK) {
		ct_error("out of memory");
		goto out;
	}

	if (opt.status) {
		print_status(steps, n_steps);
		report_problems(steps, n_steps, opt.dir);
		exit_code = problems ? EXIT_FAILED : EXIT_DONE;
		goto out;
	}
	if (problems) {
		report_problems(steps, n_steps, opt.dir);
		ct_error("refusing to migrate: %zu problem(s) between %s and schema_migrations",
		         problems, opt.dir);
		goto out;
	}

	for (size_t i = 0; i < n_steps; i++) {
		const struct migration *m = steps[i].file;
		long long started;

		if (steps[i].state != MIGRATE_PENDING)
			continue;
		notices.file = m->file;
		started = now_ms();
		rc = apply_one(conn, m, err, sizeof(err));
		notices.file = NULL;
		if (rc != CT_OK) {
			ct_error("%s", err);
			/* CT_ERR_INVALID: the file committed part of itself (said above). */
			ct_error("migration %s failed%s; %zu applied before it", m->file,
			         rc == CT_ERR_INVALID ? "" : " and was rolled back", done);
			goto out;
		}
		ct_info("applied %s (%lld ms)", m->file, now_ms() - started);
		done++;
	}
	if (done == 0)
		ct_info("database is up to date at version %d (%zu migrations)",
		        n_steps ? steps[n_steps - 1].version : 0, n_steps);
	else
		ct_info("applied %zu migration(s); database now at version %d", done,
		        steps[n_steps - 1].version);
	exit_code = EXIT_DONE;
out:
	/* Closing the session releases the advisory lock. */
	PQfinish(conn);
	free(steps);
	free(applied);
	migrate_set_cleanup(&files);
	return exit_code;
}
