/* test_api: ct-api's HTTP API against the whole line, by tests/browser/api.mjs.
 *
 * The harness starts Mosquitto, PostgreSQL, alert-router, traveler, spc-gate, ingest, ct-api and
 * ct-linesim with the fill-nozzle fault (api_it.h: a fast run that leaves alerts, a held lot,
 * inspection items and an automatic action, then a slow live run); node then checks that the
 * OpenAPI file lists exactly the routes of `ct-api --routes`, that every endpoint's answer to
 * good arguments validates against its documented schema, that bad arguments of every kind
 * (SQL-looking names included) are a documented 4xx with a JSON error and never a 5xx, that the
 * service is still up and the unit table still there afterwards, and the roles: no token 401,
 * viewer never POSTs (403), operator acknowledges (alert state in PostgreSQL) but cannot release,
 * quality releases, disposes and undoes. The script lists every failed check with its request and
 * response and exits non-zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api_it.h"
#include "harness.h"

/* The node script's own waits are 30 s each at most; this bounds a hung one. */
#define NODE_TIMEOUT_MS 150000

static void test_api(void **state)
{
	struct harness *h = *state;
	struct api_it t;

	api_it_line(h, 400, 5, &t);
	api_it_node(&t, "api.mjs", NULL, NODE_TIMEOUT_MS);
	assert_true(harness_proc_is_alive(t.api));
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("api", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_api, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
