/* cli_db: the CLI's connection and statements (contract in cli.h). Values reach SQL only as
 * query parameters. */
#include <stdio.h>

#include "cli.h"
#include "ct_error.h"

int cli_connect_pg(const struct cli_config *cfg, struct ct_pg **ret)
{
	char err[512];
	struct ct_pg *pg = ct_pg_new(cfg->pg_conninfo, cfg->pg_password);

	if (pg == NULL)
		return CT_ERR_NOMEM;
	if (ct_pg_ensure(pg, 5000, NULL, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s", err);
		ct_pg_free(pg);
		return CT_ERR_PG;
	}
	*ret = pg;
	return CT_OK;
}

int cli_connect_utc(const struct cli_config *cfg, struct ct_pg **ret)
{
	struct ct_pg *pg = NULL;
	char err[512];

	if (cli_connect_pg(cfg, &pg) != CT_OK)
		return EXIT_FAILED;
	if (ct_pg_exec(pg, "SET TIME ZONE 'UTC'", err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s", err);
		ct_pg_free(pg);
		return EXIT_FAILED;
	}
	*ret = pg;
	return 0;
}

int cli_query(struct ct_pg *pg, const char *sql, int n, const char *const *params,
              struct ct_pg_result **ret)
{
	const struct ct_pg_error *e;
	char err[1024];
	int rc;

	if (ct_pg_query(pg, sql, n, params, ret, err, sizeof(err)) == CT_OK)
		return 0;
	e = ct_pg_last_error(pg);
	rc = ct_pg_error_class(pg) == CT_PG_ERR_REFUSED ? EXIT_REFUSED : EXIT_FAILED;
	if (e->sqlstate[0] != '\0')
		fprintf(stderr, "cellthread: %s: %s\n",
		        rc == EXIT_REFUSED ? "refused by the database" : "database error",
		        e->message);
	else
		fprintf(stderr, "cellthread: database error: %s", err);
	if (e->detail[0] != '\0')
		fprintf(stderr, "  detail: %s\n", e->detail);
	if (e->hint[0] != '\0')
		fprintf(stderr, "  hint: %s\n", e->hint);
	return rc;
}

int cli_run(const struct cli_config *cfg, const char *sql, int n, const char *const *params,
            struct ct_pg_result **ret)
{
	struct ct_pg *pg = NULL;
	int rc;

	if ((rc = cli_connect_utc(cfg, &pg)) != 0)
		return rc;
	rc = cli_query(pg, sql, n, params, ret);
	ct_pg_free(pg);
	return rc;
}

int cli_check(const struct ct_pg_result *res)
{
	if (res == NULL || ct_pg_result_error(res)[0] == '\0')
		return 0;
	fprintf(stderr, "cellthread: unexpected value from the database: %s\n",
	        ct_pg_result_error(res));
	return EXIT_FAILED;
}
