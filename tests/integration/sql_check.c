/* sql_check: assertions on what a query returns (contract in sql_check.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "sql_check.h"

const char *sql_text(struct harness *h, const char *sql, char *buf, size_t len)
{
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, sql, 0, NULL, &res), CT_OK);
	if (PQntuples(res) < 1) {
		PQclear(res);
		fail_msg("no row: %s", sql);
	}
	snprintf(buf, len, "%s", PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

void sql_figure(struct harness *h, const char *sql, double want, double tol)
{
	char buf[128], *end;
	double got;

	sql_text(h, sql, buf, sizeof(buf));
	got = strtod(buf, &end);
	if (end == buf || *end != '\0' || !(fabs(got - want) <= tol))
		fail_msg("%s: got %s, computed by hand %.9g", sql, buf, want);
}

void sql_text_is(struct harness *h, const char *sql, const char *want)
{
	char buf[1024];

	sql_text(h, sql, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s:\n got  %s\n want %s", sql, buf, want);
}
