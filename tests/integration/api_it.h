/* api_it: what the ct-api tests share (test_api, test_dashboard): the whole line with ct-api
 * on the harness's broker and database, API tokens, and the node scripts of tests/browser run
 * against it with a deadline.
 *
 * The line: the starter quality configuration, ct-alert-router with the shipped routes, traveler,
 * spc-gate, ingest, ct-api (HARNESS_API: a free port, the built dashboard) and ct-linesim with
 * the fill-nozzle fault, in two runs: a fast one on site API_IT_SITE (api_it_line's `cells` at
 * 150 cells/s) that leaves what every view needs (alerts, a held electrolyte lot, inspection
 * items, an automatic action, genealogy up to packs) and then stands still, so views of it can be
 * compared with the database exactly; then a live one on site API_IT_LIVE_SITE at `live_rate`
 * cells/s, fault on from its start, that keeps running until the test ends.
 *
 * Every function fails the running cmocka test (fail_msg / assert_*) when what it needs does not
 * happen within HARNESS_WAIT_MS; none returns an error code. Single-threaded, as the tests are. */
#ifndef API_IT_H
#define API_IT_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define API_IT_SITE      "site1"
#define API_IT_LIVE_SITE "live"
#define API_IT_TOKEN     128

struct api_it {
	struct harness *h;
	struct harness_proc *router, *traveler, *gate, *ingest, *api, *linesim, *live;
	/* ct_api_token_create's tokens: viewer alice, operator oscar, quality quinn; revoked is
	 * a token of rita (viewer) revoked at once. */
	char viewer[API_IT_TOKEN], operator_[API_IT_TOKEN], quality[API_IT_TOKEN];
	char revoked[API_IT_TOKEN];
};

/* Starts the line as above and waits until the fast run has left its marks (an active
 * unacknowledged alert, a held lot, an open inspection item, an automatic action, a module),
 * stores station states of the fast run's line for OEE (the last hour: producing, a micro-stop,
 * a breakdown, a changeover; ideal cycle times, one too long so its performance is flagged)
 * and waits until the live run is storing; then mints the tokens. */
void api_it_line(struct harness *h, int cells, double live_rate, struct api_it *ret);

/* Runs `node <browser dir>/<script>` with the settings of the scripts (CT_TEST_API_URL, the
 * tokens, CT_TEST_PG_CONNINFO and CT_TEST_PG_PASSWORD of ct_admin, CT_TEST_API_BIN,
 * CT_TEST_OPENAPI, CT_TEST_SITE, CT_TEST_LIVE_SITE, CT_TEST_MQTT_PORT and CT_TEST_MQTT_CLI_PASSWORD
 * for the simulator's fault switch, CT_TEST_MQTT_INGEST_PASSWORD and CT_TEST_MQTT_OEE_PASSWORD to
 * publish station states and OEE figures, CT_TEST_ARTIFACTS: test-artifacts/<script without .mjs>)
 * plus extra_env, within timeout_ms. Prints its output and fails the test when it does not exit
 * 0. */
void api_it_node(struct api_it *t, const char *script, const char *const *extra_env,
                 int timeout_ms);

/* The directory of a test's artifacts (screenshots): <build>/test-artifacts/<name>, created. */
void api_it_artifacts(const char *name, char *buf, size_t len);

#endif
