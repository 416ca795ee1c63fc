/* test_dashboard: the dashboard in a real browser (Debian's Chromium driven by playwright-core,
 * tests/browser/dashboard.mjs) against the whole line with ct-api.
 *
 * The harness starts the line of api_it.h (the fill-nozzle fault in a fast run, then live at
 * 20 cells/s); the script opens the page with an empty profile and checks what a person would
 * see, each against PostgreSQL: the overview's counts grow without a reload; the fill-mass run
 * chart wavers, and is almost flat once the script switches the fault off on the simulator's
 * control topic; the pressure-decay histogram's bins hold exactly the database's counts for
 * the same range; a run chart's points are the database's values; a traveler lookup shows the
 * genealogy the database has; acknowledging an alert in the page makes it ACTIVE_ACK in
 * PostgreSQL with the user recorded; a viewer cannot release a lot (403, still held); no token
 * is refused (401); a reload shows the same picture; the OEE view shows the line's and every
 * station's figures as ct_oee_line computes them for the page's window (a flagged performance as
 * "config error"), the loss Pareto as ct_oee_pareto, and a station's state change (stored and
 * published on its plant state topic as ingest, in place of ct-oee) within a second. A screenshot
 * of every view goes to <build>/test-artifacts/dashboard.
 *
 * Without /usr/bin/chromium it is skipped (exit 77) with the reason, except under CI=true,
 * where CI installs it (deploy/packages.txt) and its absence is a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_it.h"
#include "harness.h"

#define CHROMIUM        "/usr/bin/chromium"
#define NODE_TIMEOUT_MS 200000

static void test_dashboard(void **state)
{
	struct harness *h = *state;
	const char *env[] = {"CT_TEST_CHROMIUM=" CHROMIUM, NULL};
	struct api_it t;

	api_it_line(h, 400, 20, &t);
	api_it_node(&t, "dashboard.mjs", env, NODE_TIMEOUT_MS);
	assert_true(harness_proc_is_alive(t.api));
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("dashboard", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_dashboard, harness_test_setup,
	                                        harness_test_teardown),
	};
	const char *ci = getenv("CI");

	if (access(CHROMIUM, X_OK) != 0) {
		if (ci != NULL && strcmp(ci, "true") == 0) {
			fprintf(stderr,
			        "test_dashboard: %s is missing under CI=true; CI installs it "
			        "(deploy/packages.txt: chromium)\n",
			        CHROMIUM);
			return 1;
		}
		printf("test_dashboard: skipped: %s is not installed (apt-get install chromium)\n",
		       CHROMIUM);
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
