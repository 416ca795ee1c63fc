/* oee_it: what the OEE tests share (test_oee, tests/bench/bench_oee): StationStates and results
 * published as the test gateway through ct-ingest, OeeFigures read from ct/v1/oee/#, the
 * JSON of ct-oee's SQL functions, and comparisons of figures.
 *
 * Every function fails the running cmocka test (fail_msg / assert_*) when something it needs
 * does not happen within its deadline; none returns an error code. Strings passed in are
 * borrowed for the call only; what a function returns is the caller's, to free as its comment
 * says. Single-threaded, as the tests are. */
#ifndef OEE_IT_H
#define OEE_IT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cellthread/v1/oee.pb-c.h"
#include "harness.h"

#define OEE_IT_PRODUCING CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_PRODUCING
#define OEE_IT_IDLE      CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_IDLE
#define OEE_IT_PLANNED   CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_PLANNED_DOWNTIME
#define OEE_IT_UNPLANNED CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNPLANNED_DOWNTIME
#define OEE_IT_UNKNOWN   CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNKNOWN_STOP

/* A StationState as a test sends it; NULL strings are "". */
struct oee_it_state {
	const char *event_id; /* required */
	const char *site, *line, *station;
	Cellthread__V1__StationStateKind state;
	const char *reason_code;
	const char *asset;
	const char *recipe;
	int64_t since_us; /* 0: now */
};

/* Publishes s (QoS 1, protobuf) through pub, a connection as the test gateway, on
 * ct/v1/edge/<site>/<line>/<station>/state/pb. */
void oee_it_publish_state(struct ct_mqtt *pub, const struct oee_it_state *s);

/* Publishes n OK results of cells "<prefix>-CELL-<first + i>" (event IDs "<prefix>-<first + i>")
 * at station of site/L1 (station type EOL_TEST), ended at ended_at_us + i ms (0: now), through
 * pub as the gateway. */
void oee_it_publish_results(struct ct_mqtt *pub, const char *site, const char *station,
                            const char *prefix, int first, int n, int64_t ended_at_us);

/* Subscribes as cli to ct/v1/oee/<site>/# (figures and history). */
struct harness_sub *oee_it_subscribe(struct harness *h, const char *site);

/* The next OeeFigures on sub within timeout_ms whose topic is exactly topic (any when NULL)
 * and, when want_state is not 0, whose current_state is want_state; NULL when none came.
 * *ret_history (when not NULL) says whether it came on a .../history topic. The caller's
 * (cellthread__v1__oee_figures__free_unpacked). */
Cellthread__V1__OeeFigures *oee_it_next_figures(struct harness_sub *sub, const char *topic,
                                                int want_state, int timeout_ms, bool *ret_history);

/* The jsonb that sql (one row, one column, cast to text by the caller) returns, parsed; fails
 * the test on an SQL error, no row or NULL. The caller's (json_decref). */
json_t *oee_it_sql_json(struct harness *h, const char *sql, int n, const char *const *params);

/* o's member key as a number (integer or real); fails the test when absent or not a number. */
double oee_it_num(json_t *o, const char *key);
/* True when o's member key is JSON null or absent. */
bool oee_it_is_null(json_t *o, const char *key);

/* Fails unless |got - want| <= tol, naming what. */
void oee_it_close(const char *what, double got, double want, double tol);

/* Compares every figure two JSON objects of ct_oee_station's form have in common (numbers to
 * tol, counts exactly, nulls as nulls); what names the pair in a failure. */
void oee_it_same_figures(const char *what, json_t *got, json_t *want, double tol);

#endif
