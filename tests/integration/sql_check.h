/* sql_check: assertions on what a query returns, for the tests that check SQL functions
 * against figures computed by hand (test_alert_kpi, test_oee_sql). They fail the current
 * cmocka test with the query and both values. */
#ifndef SQL_CHECK_H
#define SQL_CHECK_H

#include <stddef.h>

#include "harness.h"

/* The text of row 0, column 0 of sql ("NULL" for a null), copied into buf; fails the test
 * when there is no such row. Returns buf. */
const char *sql_text(struct harness *h, const char *sql, char *buf, size_t len);
/* The number sql gives must be within tol of want. */
void sql_figure(struct harness *h, const char *sql, double want, double tol);
/* The text sql gives must equal want. */
void sql_text_is(struct harness *h, const char *sql, const char *want);

#endif
