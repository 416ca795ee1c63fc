/* test_hold_genealogy: a lot hold follows the genealogy in PostgreSQL (migration 0004), against
 * the real database with the deployment's logins.
 *
 * - A hold by a quality engineer (ct_lot_set, as `cellthread lot hold` does) holds every unit
 *   already stored that contains the lot: the coil made from it is held as a lot, the cell
 *   containing the coil and the module containing the cell become held units and go to
 *   inspection.
 * - Genealogy stored later by the traveler login (a new cell consuming the held coil, a pack
 *   made of the held module) is held in the same transaction by the trigger.
 * - A hold decided while a traveler transaction is storing a unit made from the lot waits
 *   for that transaction (the advisory lock) and then holds the unit: the race a walk at
 *   hold time alone would lose.
 * - A release by the quality login frees the lot's held units; the traveler login still
 *   cannot write held_unit itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE "HG"

/* Fails the test when sql does not run (harness_pg_exec printed why). */
#define exec_or_fail(conn, sql) assert_int_equal(harness_pg_exec(conn, sql), CT_OK)

static PGconn *connect_as(struct harness *h, const char *role)
{
	PGconn *conn = harness_pg_connect(h, role);

	assert_non_null(conn);
	return conn;
}

/* Stores, as traveler does, unit `parent` (kind) made from `child`, under a new event. */
static void store_edge(PGconn *conn, const char *parent, int kind, const char *child,
                       int child_kind)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO event (event_id, kind, producer, produced_at)"
	         " VALUES ('ev-%s-%s', 'result', 'test', now());"
	         "INSERT INTO unit (unit_id, kind, site, line, first_seen_at, last_seen_at)"
	         " VALUES ('%s', %d, '" SITE "', 'L1', now(), now()) ON CONFLICT DO NOTHING;"
	         "INSERT INTO genealogy (parent_id, child_id, child_kind, quantity, uom, source,"
	         " station, event_id, assembled_at, seq)"
	         " VALUES ('%s', '%s', %d, 1, 'pcs', 'assembly', 'ST', 'ev-%s-%s', now(), 0)",
	         parent, child, parent, kind, parent, child, child_kind, parent, child);
	exec_or_fail(conn, sql);
}

static long long count(struct harness *h, const char *sql)
{
	long long n = -1;

	assert_int_equal(harness_sql_long(h, sql, 0, NULL, &n), CT_OK);
	return n;
}

static long long held_for(struct harness *h, const char *unit, const char *lot)
{
	const char *params[] = {unit, lot};
	long long n = -1;

	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM held_unit WHERE unit_id = $1"
	                                  " AND lot_id = $2",
	                                  2, params, &n),
	                 CT_OK);
	return n;
}

static long long inspected_for(struct harness *h, const char *unit, const char *lot)
{
	char cause[128];
	const char *params[] = {unit, cause};
	long long n = -1;

	snprintf(cause, sizeof(cause), "lot:%s", lot);
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM inspection_item WHERE unit_id = $1"
	                                  " AND cause = $2 AND disposition IS NULL",
	                                  2, params, &n),
	                 CT_OK);
	return n;
}

static void test_hold_follows_genealogy(void **state)
{
	struct harness *h = *state;
	PGconn *traveler = connect_as(h, "traveler");
	PGconn *quality = connect_as(h, "quality");

	/* Stored before the hold: lot -> coil -> cell -> module; and an unrelated cell. */
	exec_or_fail(traveler,
	             "INSERT INTO unit (unit_id, kind, site, line, first_seen_at,"
	             " last_seen_at) VALUES ('HG-LOT', 1, '" SITE "', 'L1', now(), now())");
	store_edge(traveler, "HG-COIL", 3, "HG-LOT", 1);
	store_edge(traveler, "HG-CELL-1", 4, "HG-COIL", 3);
	store_edge(traveler, "HG-MOD-1", 5, "HG-CELL-1", 4);
	store_edge(traveler, "HG-CELL-OK", 4, "HG-OTHER-COIL", 3);
	assert_int_equal(count(h, "SELECT count(*) FROM held_unit"), 0);

	/* A manual hold, as `cellthread lot hold` sends it. */
	exec_or_fail(quality,
	             "SELECT ct_lot_set('" SITE "', 'HG-LOT', 2::smallint, 'suspect slurry')");
	assert_int_equal(held_for(h, "HG-COIL", "HG-LOT"), 1);
	assert_int_equal(held_for(h, "HG-CELL-1", "HG-LOT"), 1);
	assert_int_equal(held_for(h, "HG-MOD-1", "HG-LOT"), 1);
	assert_int_equal(held_for(h, "HG-CELL-OK", "HG-LOT"), 0);
	assert_int_equal(inspected_for(h, "HG-CELL-1", "HG-LOT"), 1);
	assert_int_equal(inspected_for(h, "HG-MOD-1", "HG-LOT"), 1);
	assert_int_equal(inspected_for(h, "HG-COIL", "HG-LOT"), 0); /* a lot: held, not queued */
	assert_int_equal(count(h, "SELECT count(*) FROM lot_status WHERE lot_id = 'HG-COIL'"
	                          " AND state = 2 AND reason = 'made from held lot HG-LOT'"),
	                 1);
	assert_int_equal(count(h, "SELECT count(*) FROM lot_audit WHERE lot_id = 'HG-LOT'"
	                          " AND to_state = 2 AND actor = 'quality'"),
	                 1);

	/* Stored after the hold, by the traveler login: the trigger holds them. */
	store_edge(traveler, "HG-CELL-2", 4, "HG-COIL", 3);
	store_edge(traveler, "HG-PACK-1", 6, "HG-MOD-1", 5);
	assert_int_equal(held_for(h, "HG-CELL-2", "HG-LOT"), 1);
	assert_int_equal(inspected_for(h, "HG-CELL-2", "HG-LOT"), 1);
	/* The coil is a held lot of its own too: the new cell is held for it as well. */
	assert_int_equal(held_for(h, "HG-CELL-2", "HG-COIL"), 1);
	assert_int_equal(held_for(h, "HG-PACK-1", "HG-LOT"), 1);
	assert_int_equal(inspected_for(h, "HG-PACK-1", "HG-LOT"), 1);
	store_edge(traveler, "HG-CELL-3", 4, "HG-OTHER-COIL", 3);
	assert_int_equal(count(h, "SELECT count(*) FROM held_unit WHERE unit_id IN"
	                          " ('HG-CELL-OK', 'HG-CELL-3')"),
	                 0);

	/* The traveler login cannot hold or release by itself. */
	{
		PGresult *res =
		        PQexec(traveler, "INSERT INTO held_unit VALUES ('x', 'y', 'z', now())");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
		PQclear(res);
		res = PQexec(traveler, "SELECT ct_lot_set('" SITE "', 'HG-LOT', 1::smallint, 'x')");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		PQclear(res);
	}

	/* Release by the quality login frees the lot's held units (the coil stays held until
	 * released itself: it is a lot with a status of its own). */
	exec_or_fail(quality,
	             "SELECT ct_lot_set('" SITE "', 'HG-LOT', 1::smallint, 'lab cleared it')");
	assert_int_equal(count(h, "SELECT count(*) FROM held_unit WHERE lot_id = 'HG-LOT'"), 0);
	assert_int_equal(held_for(h, "HG-CELL-2", "HG-COIL"), 1);

	PQfinish(traveler);
	PQfinish(quality);
	harness_pass(h);
}

/* True once a backend of `role` waits for an advisory lock. */
static bool waits_for_hold_lock(struct harness *h, const char *role)
{
	const char *params[] = {role};
	long long n = 0;

	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM pg_stat_activity"
	                                  " WHERE usename = $1 AND wait_event_type = 'Lock'"
	                                  " AND wait_event = 'advisory'",
	                                  1, params, &n),
	                 CT_OK);
	return n > 0;
}

/* The statement sent on conn (as role) must block on the hold lock: fails if it finishes
 * first, or neither blocks nor finishes within 10 s. Polls the database, waiting up to
 * 10 ms at a time for an answer on conn. */
static void expect_waiting_for_hold_lock(struct harness *h, PGconn *conn, const char *role,
                                         const char *what)
{
	int64_t deadline = ct_mono_ms() + 10000;

	while (!waits_for_hold_lock(h, role)) {
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		assert_true(PQconsumeInput(conn) == 1);
		if (!PQisBusy(conn))
			fail_msg("%s finished without waiting for the hold lock", what);
		if (ct_mono_ms() > deadline)
			fail_msg("%s neither waited for the hold lock nor finished within 10 s",
			         what);
		assert_true(poll(&pfd, 1, 10) >= 0);
	}
}

/* Reads every result of the statement sent on conn; each must have status `expected`. */
static void finish_sent(PGconn *conn, ExecStatusType expected)
{
	PGresult *res;

	while ((res = PQgetResult(conn)) != NULL) {
		assert_int_equal(PQresultStatus(res), expected);
		PQclear(res);
	}
}

static void test_hold_waits_for_storing_transaction(void **state)
{
	struct harness *h = *state;
	PGconn *traveler = connect_as(h, "traveler");
	PGconn *quality = connect_as(h, "quality");

	exec_or_fail(traveler,
	             "INSERT INTO unit (unit_id, kind, site, line, first_seen_at,"
	             " last_seen_at) VALUES ('HG-LOT-2', 1, '" SITE "', 'L1', now(), now())");
	/* traveler is storing a cell made from the lot; not committed yet. */
	exec_or_fail(traveler, "BEGIN");
	store_edge(traveler, "HG-CELL-R", 4, "HG-LOT-2", 1);
	/* Meanwhile the hold is decided: its walk cannot see the uncommitted cell, so it must
	 * wait for the storing transaction. */
	assert_int_equal(PQsendQuery(quality, "SELECT ct_lot_set('" SITE "', 'HG-LOT-2',"
	                                      " 2::smallint, 'held during storing')"),
	                 1);
	expect_waiting_for_hold_lock(h, quality, "quality",
	                             "the hold decided while a storing transaction had looked");
	exec_or_fail(traveler, "COMMIT");
	finish_sent(quality, PGRES_TUPLES_OK);
	assert_int_equal(held_for(h, "HG-CELL-R", "HG-LOT-2"), 1);
	assert_int_equal(inspected_for(h, "HG-CELL-R", "HG-LOT-2"), 1);

	/* The other order: the hold is in progress (its transaction holds the lock), a storing
	 * transaction's trigger waits, then sees the hold. */
	exec_or_fail(quality, "BEGIN");
	exec_or_fail(quality,
	             "SELECT ct_lot_set('" SITE "', 'HG-LOT-3', 2::smallint, 'held first')");
	assert_int_equal(PQsendQuery(traveler,
	                             "INSERT INTO event (event_id, kind, producer, produced_at)"
	                             " VALUES ('ev-HG-CELL-S', 'result', 'test', now());"
	                             "INSERT INTO unit (unit_id, kind, site, line, first_seen_at,"
	                             " last_seen_at) VALUES ('HG-CELL-S', 4, '" SITE
	                             "', 'L1', now(), now());"
	                             "INSERT INTO genealogy (parent_id, child_id, child_kind,"
	                             " quantity, uom, source, station, event_id, assembled_at, seq)"
	                             " VALUES ('HG-CELL-S', 'HG-LOT-3', 1, 1, 'kg', 'material',"
	                             " 'ST', 'ev-HG-CELL-S', now(), 0)"),
	                 1);
	expect_waiting_for_hold_lock(h, traveler, "traveler", "storing during a hold in progress");
	exec_or_fail(quality, "COMMIT");
	finish_sent(traveler, PGRES_COMMAND_OK);
	assert_int_equal(held_for(h, "HG-CELL-S", "HG-LOT-3"), 1);
	assert_int_equal(inspected_for(h, "HG-CELL-S", "HG-LOT-3"), 1);

	PQfinish(traveler);
	PQfinish(quality);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("holdgen", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_hold_follows_genealogy, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_hold_waits_for_storing_transaction,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
