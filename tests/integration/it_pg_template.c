/* it_pg_template: builds the PostgreSQL template cluster the integration tests copy.
 *
 * Registered as the ctest fixture every integration test requires, so initdb, the
 * migrations and the login roles run once per ctest run (and again when the migrations
 * changed since the last run). A test program run by hand builds the template itself when
 * it is missing (harness_pg_start). */
#include <stdio.h>

#include "ct_error.h"
#include "harness.h"

int main(void)
{
	int rc = harness_pg_template(true);

	if (rc != CT_OK) {
		fprintf(stderr, "it_pg_template: %s\n", ct_strerror(rc));
		return 1;
	}
	return 0;
}
