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
 * Options and environment go through ct_config (see usage()); the statements are
 * migrate_db.c, the pure comparison of files and database migrate.c.
 *
 * Exit codes: 0 done (or --status found no problem), 1 a migration failed or the files and
 * the database disagree, 2 usage or configuration. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_pg.h"
#include "migrate.h"
#include "migrate_db.h"

#ifndef CT_MIGRATIONS_DEFAULT_DIR
#define CT_MIGRATIONS_DEFAULT_DIR "/usr/local/share/cellthread/migrations"
#endif
#ifndef CT_VERSION
#define CT_VERSION "0.0.0"
#endif

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

extern char **environ;

struct migrate_config {
	char *dir;
	char *conninfo;
	long lock_timeout_s;
	bool status;
	bool help;
	bool version;
	char *log_level;
};

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct migrate_config, field), def, lo, hi, help              \
	}

static const struct ct_config_key migrate_keys[] = {
        KEY("dir", CT_CONF_STRING, dir, CT_MIGRATIONS_DEFAULT_DIR, 0, 0, "migrations directory"),
        KEY("conninfo", CT_CONF_STRING, conninfo, "", 0, 0, "libpq connection string or URI"),
        KEY("lock-timeout", CT_CONF_INT, lock_timeout_s, "60", 0, 86400,
            "seconds to wait for another ct-migrate"),
        KEY("status", CT_CONF_FLAG, status, "false", 0, 0, "list migrations, change nothing"),
        KEY("help", CT_CONF_FLAG, help, "false", 0, 0, "print this help"),
        KEY("version", CT_CONF_FLAG, version, "false", 0, 0, "print the version"),
        KEY("log.level", CT_CONF_STRING, log_level, NULL, 0, 0, "error, warn, info or debug"),
};

/* The documented variables; switches are command line only. */
static const struct ct_config_env migrate_env[] = {
        {"dir", "CT_MIGRATIONS_DIR"},
        {"conninfo", "CT_PG_CONNINFO"},
        {"lock-timeout", NULL},
        {"status", NULL},
        {"help", NULL},
        {"version", NULL},
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
	        "  --log.level LEVEL   error, warn, info or debug (env CT_LOG_LEVEL)\n"
	        "  --version, --help\n"
	        "\n"
	        "Exit codes: 0 ok, 1 a migration failed or files and database disagree,\n"
	        "2 usage or configuration.\n",
	        CT_MIGRATIONS_DEFAULT_DIR);
}

/* Loads cfg from argv and the environment. Returns -1 to go on, or the exit code when the
 * run ends here (--help, --version: 0; a usage error, printed: 2). */
static int load_config(int argc, char **argv, const struct ct_config_table *table)
{
	const struct migrate_config *cfg = table->base;
	struct ct_config_source source = {
	        .argc = argc,
	        .argv = argv,
	        .envp = environ,
	        .env_names = migrate_env,
	        .n_env_names = sizeof(migrate_env) / sizeof(migrate_env[0]),
	        .no_file = true,
	        .own_help = true,
	};
	char err[512];

	if (ct_config_load_from(table, 1, &source, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "ct-migrate: %s\n", err);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cfg->help) {
		usage(stdout);
		return EXIT_DONE;
	}
	if (cfg->version) {
		printf("ct-migrate %s\n", CT_VERSION);
		return EXIT_DONE;
	}
	if (cfg->log_level && *cfg->log_level &&
	    ct_log_parse_level(cfg->log_level, &ct_log_level) != CT_OK) {
		fprintf(stderr, "ct-migrate: CT_LOG_LEVEL: want error, warn, info or debug\n");
		return EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct migrate_config cfg = {0};
	struct ct_config_table table = {migrate_keys,
	                                sizeof(migrate_keys) / sizeof(migrate_keys[0]), &cfg};
	struct migration_set files = {NULL, 0};
	struct migrate_applied *applied = NULL;
	struct migrate_step *steps = NULL;
	const char *notice_file = NULL;
	struct ct_pg *pg = NULL;
	size_t n_applied = 0, n_steps = 0, problems = 0;
	const char *dir;
	struct stat st;
	char err[1024];
	int exit_code = EXIT_FAILED;
	int rc;

	ct_log_set_service("migrate");
	rc = load_config(argc, argv, &table);
	if (rc >= 0) {
		ct_config_cleanup(&table, 1);
		return rc;
	}
	/* An empty CT_MIGRATIONS_DIR means the default, as unset does. */
	dir = cfg.dir && *cfg.dir ? cfg.dir : CT_MIGRATIONS_DEFAULT_DIR;

	/* A wrong directory is configuration (exit 2); a bad file in it is a failure (1). */
	errno = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ct_error("migrations directory %s: %s (set --dir or CT_MIGRATIONS_DIR)", dir,
		         errno ? strerror(errno) : "not a directory");
		exit_code = EXIT_USAGE;
		goto out;
	}
	rc = migrate_set_load(&files, dir, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("%s", err);
		goto out;
	}
	if (files.n == 0)
		ct_warn("no migration files in %s", dir);

	rc = migrate_db_connect(cfg.conninfo, &notice_file, &pg, err, sizeof(err));
	if (rc == CT_OK && !cfg.status) {
		rc = migrate_db_lock(pg, cfg.lock_timeout_s, err, sizeof(err));
		if (rc == CT_OK)
			rc = migrate_db_ensure_table(pg, err, sizeof(err));
	}
	/* Read under the lock: what another migrator applied while we waited counts. */
	if (rc == CT_OK)
		rc = migrate_db_read_applied(pg, &applied, &n_applied, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("%s", err);
		goto out;
	}
	if (migrate_plan(&files, applied, n_applied, &steps, &n_steps, &problems) != CT_OK) {
		ct_error("out of memory");
		goto out;
	}

	if (cfg.status) {
		migrate_print_status(steps, n_steps, stdout);
		migrate_report_problems(steps, n_steps, dir);
		exit_code = problems ? EXIT_FAILED : EXIT_DONE;
		goto out;
	}
	if (problems) {
		migrate_report_problems(steps, n_steps, dir);
		ct_error("refusing to migrate: %zu problem(s) between %s and schema_migrations",
		         problems, dir);
		goto out;
	}
	exit_code = migrate_db_apply_pending(pg, steps, n_steps, &notice_file) == CT_OK
	                    ? EXIT_DONE
	                    : EXIT_FAILED;
out:
	/* Closing the session releases the advisory lock. */
	ct_pg_free(pg);
	free(steps);
	free(applied);
	migrate_set_cleanup(&files);
	ct_config_cleanup(&table, 1);
	return exit_code;
}
