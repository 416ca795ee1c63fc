/* cli: what the cellthread command's files share (exit codes, the database connection).
 *
 * main.c parses the command and runs trace and deadletters; cli_quality.c runs the quality
 * commands (inspect, lot, actions, verdicts) on spc-gate's tables and decision functions. */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

#include "ct_pg.h"

#define EXIT_FAILED  1 /* database or broker failure, timeout */
#define EXIT_USAGE   2 /* bad command line (also: a missing or empty --reason) */
#define EXIT_UNKNOWN 3 /* the ID asked about is unknown */
#define EXIT_REFUSED 4 /* the database refused a decision (privilege, rule, state) */

/* Prints the usage of every command to out. */
void cli_usage(FILE *out);
/* The value of environment variable name, or fallback when it is unset or empty. */
const char *cli_env_or(const char *name, const char *fallback);
/* Connects with CT_PG_CONNINFO / CT_PG_PASSWORD (or PGPASSFILE), 5 s at most; prints why
 * on failure. Returns CT_OK with *ret set, or CT_ERR_PG / CT_ERR_NOMEM. */
int cli_connect_pg(struct ct_pg **ret);

/* The quality commands; argv starts after the command's name. Each returns an exit code. */
int cli_inspect(int argc, char **argv);
int cli_lot(int argc, char **argv);
int cli_actions(int argc, char **argv);
int cli_verdicts(int argc, char **argv);
/* cellthread charts [--json]: every chart instance, its last point and live capability. */
int cli_charts(int argc, char **argv);

#endif
