/* test_oee_logic: ct-oee's pure logic (services/oee/oee_logic.h): the dirty pairs and when they are
 * due, the rule for which spool positions may be committed, the shift cache, the derived
 * states of stations that send none, and ct_oee_shift's JSON carried into OeeFigures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_error.h"
#include "oee_logic.h"

#define S 1000000LL /* one second in microseconds */

/* A station's pair dirties its line's; the earliest due and the oldest batch win; stations
 * come out before their line. */
static void test_dirty_marks_station_and_line(void **state)
{
	struct oee_dirty d;
	struct oee_pair out[8];
	size_t n;

	(void)state;
	oee_dirty_init(&d);
	assert_int_equal(oee_dirty_mark(&d, "site1", "L1", "L1-WIND-01", "2026-12-07/A", 5000, 3,
	                                OEE_MARK_URGENT),
	                 CT_OK);
	assert_int_equal(oee_dirty_mark(&d, "site1", "L1", "L1-WIND-01", "2026-12-07/A", 100, 4,
	                                OEE_MARK_URGENT),
	                 CT_OK);
	assert_int_equal(oee_dirty_mark(&d, "site1", "L1", "L1-SEAL-01", "2026-12-07/A", 9000, 5,
	                                OEE_MARK_URGENT),
	                 CT_OK);
	assert_int_equal(d.n, 3); /* two stations, one line */
	assert_int_equal(oee_dirty_min_seq(&d), 3);
	assert_false(oee_dirty_any_due(&d, 99));
	assert_true(oee_dirty_any_due(&d, 100));
	/* At 100 ms the first station and the line are due, not the second station. */
	n = oee_dirty_take_due(&d, 100, out, 8);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].station, "L1-WIND-01");
	assert_int_equal(out[0].first_seq, 3);
	assert_string_equal(out[1].station, "");
	assert_int_equal(d.n, 1);
	assert_int_equal(oee_dirty_min_seq(&d), 5);
	/* A failed publish puts the pair back with its batch. */
	assert_int_equal(oee_dirty_restore(&d, &out[0], 200), CT_OK);
	assert_int_equal(oee_dirty_min_seq(&d), 3);
	n = oee_dirty_take_due(&d, 10000, out, 8);
	assert_int_equal(n, 2);
	assert_int_equal(oee_dirty_min_seq(&d), OEE_NO_SEQ);
	/* Urgent: earliest due first, whatever order they were marked in; stations before lines. */
	assert_int_equal(oee_dirty_mark(&d, "s", "L2", "B", "D/A", 300, 7, OEE_MARK_URGENT), CT_OK);
	assert_int_equal(oee_dirty_mark(&d, "s", "L2", "A", "D/A", 20, 8, OEE_MARK_URGENT), CT_OK);
	n = oee_dirty_take_due(&d, 1000, out, 8);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].station, "A");
	assert_string_equal(out[1].station, "B");
	assert_string_equal(out[2].station, ""); /* urgent stations, then their line */
	/* Too long a shift ID is refused, not cut. */
	char long_id[OEE_SHIFT_ID_MAX + 8];
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(oee_dirty_mark(&d, "s", "l", "st", long_id, 0, 1, 0), CT_ERR_TOO_BIG);
	oee_dirty_cleanup(&d);
}

/* A pair dirtied by results is computed once more after its publish (the visits it counts
 * may be stored later than the result arrived), still holding its batch; once only. */
static void test_settle(void **state)
{
	struct oee_dirty d;
	struct oee_pair out[4];

	(void)state;
	oee_dirty_init(&d);
	assert_int_equal(oee_dirty_mark(&d, "s", "L1", "A", "D/A", 100, 4, OEE_MARK_URGENT), CT_OK);
	assert_int_equal(oee_dirty_mark(&d, "s", "L1", "A", "D/A", 500, 5, OEE_MARK_SETTLE), CT_OK);
	assert_int_equal(oee_dirty_take_due(&d, 100, out, 4), 2);
	assert_true(out[0].settle && out[1].settle);
	for (int i = 0; i < 2; i++)
		assert_int_equal(oee_dirty_published(&d, &out[i], 1100), CT_OK);
	/* Batch 5 (a result) waits for the second publish; batch 4 (a state) is done. */
	assert_int_equal(oee_dirty_min_seq(&d), 5);
	assert_int_equal(oee_dirty_take_due(&d, 1099, out, 4), 0);
	/* The settling publish is not urgent: the line's computation carries its station. */
	assert_int_equal(oee_dirty_take_due(&d, 1100, out, 4), 1);
	assert_string_equal(out[0].station, "");
	assert_int_equal(out[0].first_seq, 5);
	assert_false(out[0].settle);
	assert_int_equal(oee_dirty_published(&d, &out[0], 2100), CT_OK);
	assert_int_equal(d.n, 0);
	/* A state's pair has nothing to settle. */
	assert_int_equal(oee_dirty_mark(&d, "s", "L1", "B", "D/A", 0, 6, OEE_MARK_URGENT), CT_OK);
	assert_int_equal(oee_dirty_take_due(&d, 0, out, 4), 2);
	assert_int_equal(oee_dirty_published(&d, &out[0], 1000), CT_OK);
	assert_int_equal(d.n, 0);
	oee_dirty_cleanup(&d);
}

/* Urgent pairs (states) are taken first, each station on its own; the others by the
 * earliest due wherever they sit in the set, a line carrying its stations' pairs (due or
 * not, their batches merged into it), not those of another shift. */
static void test_take_order(void **state)
{
	struct oee_dirty d;
	struct oee_pair out[8];
	char name[8];

	(void)state;
	oee_dirty_init(&d);
	/* Many lines whose results are due, marked latest due first. */
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "L%d", i);
		assert_int_equal(oee_dirty_mark(&d, "s", name, "X", "D/A", 500 - i * 100,
		                                (uint64_t)(10 + i), OEE_MARK_SETTLE),
		                 CT_OK);
	}
	assert_int_equal(oee_dirty_mark(&d, "s", "L0", "Y", "D/A", 9000, 3, OEE_MARK_SETTLE),
	                 CT_OK);
	assert_int_equal(oee_dirty_mark(&d, "s", "L0", "Y", "D/B", 700, 4, 0), CT_OK);
	/* A state of L0/Z, due last of all: still taken first. */
	assert_int_equal(oee_dirty_mark(&d, "s", "L0", "Z", "D/A", 600, 20, OEE_MARK_URGENT),
	                 CT_OK);
	assert_int_equal(oee_dirty_take_due(&d, 1000, out, 3), 3);
	assert_string_equal(out[0].station, "Z"); /* urgent, on its own, before its line */
	assert_string_equal(out[1].line, "L0");
	assert_string_equal(out[1].station, ""); /* urgent (with Z), carries X and Y of D/A */
	assert_int_equal(out[1].first_seq, 3);
	assert_int_equal(out[1].settle_seq, 3);
	assert_true(out[1].settle);
	assert_string_equal(out[2].line, "L4"); /* then the earliest due: L4 at 100 */
	assert_string_equal(out[2].station, "");
	assert_int_equal(out[2].first_seq, 14);
	/* Left: L1..L3 (line and station each) and L0/Y and L0's line of shift D/B. */
	assert_int_equal(d.n, 8);
	assert_int_equal(oee_dirty_take_due(&d, 1000, out, 8), 4);
	assert_string_equal(out[0].line, "L3");
	assert_string_equal(out[2].line, "L1");
	assert_string_equal(out[3].shift_id, "D/B"); /* due at 700, carrying Y */
	assert_string_equal(out[3].station, "");
	assert_int_equal(d.n, 0);
	oee_dirty_cleanup(&d);
}

/* A line with a result every second: each publish re-marks its pair to settle, yet the
 * batches are committed as they settle (the oldest batch is not held for ever). */
static void test_commits_advance_under_steady_results(void **state)
{
	struct oee_dirty d;
	struct oee_pair out[8];
	uint64_t seg = 0, off = 0, last_off = 0, seq = 0;
	int commits = 0;

	(void)state;
	oee_dirty_init(&d);
	for (int64_t now = 0; now < 200000; now += 1000) {
		seq++;
		assert_int_equal(oee_dirty_mark(&d, "P", "L1", "S1", "D/A", now + 5000, seq,
		                                OEE_MARK_SETTLE),
		                 CT_OK);
		assert_int_equal(oee_pending_add(&d, seq, 0, seq), CT_OK);
		size_t n = oee_dirty_take_due(&d, now, out, 8);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(oee_dirty_published(&d, &out[i], now + 5000), CT_OK);
		if (oee_pending_take(&d, &seg, &off)) {
			assert_true(off > last_off);
			last_off = off;
			commits++;
		}
	}
	/* A publish every 5 s, a commit after each settling publish: batches at most ~10 s
	 * behind the newest. */
	assert_true(commits >= 35);
	assert_true(last_off + 12 >= seq);
	assert_true(d.n_pending <= 12);
	oee_dirty_cleanup(&d);
}

/* A batch is committed only once every pair dirtied by it or before it was published. */
static void test_commit_waits_for_publish(void **state)
{
	struct oee_dirty d;
	struct oee_pair out[8];
	uint64_t seg = 0, off = 0;

	(void)state;
	oee_dirty_init(&d);
	/* Batch 1 dirties nothing, batch 2 dirties a pair, batch 3 nothing. */
	assert_int_equal(oee_dirty_mark(&d, "s", "L1", "A", "D/A", 5000, 2, OEE_MARK_URGENT),
	                 CT_OK);
	assert_int_equal(oee_pending_add(&d, 1, 0, 100), CT_OK);
	assert_int_equal(oee_pending_add(&d, 2, 0, 200), CT_OK);
	assert_int_equal(oee_pending_add(&d, 3, 0, 300), CT_OK);
	assert_true(oee_pending_take(&d, &seg, &off));
	assert_int_equal(off, 100); /* batch 1 only */
	assert_false(oee_pending_take(&d, &seg, &off));
	assert_int_equal(oee_dirty_take_due(&d, 5000, out, 8), 2);
	assert_true(oee_pending_take(&d, &seg, &off));
	assert_int_equal(off, 300);
	assert_int_equal(d.n_pending, 0);
	/* A rewind forgets the queue: the batches are handled (and queued) again. */
	assert_int_equal(oee_pending_add(&d, 4, 1, 10), CT_OK);
	oee_pending_clear(&d);
	assert_false(oee_pending_take(&d, &seg, &off));
	oee_dirty_cleanup(&d);
}

static void test_shift_cache(void **state)
{
	struct oee_shift_cache c;
	struct oee_shift a = {"site1", "L1", "2026-12-07/A", 6 * 3600 * S, 14 * 3600 * S};
	struct oee_shift other_line = {"site1", "L2", "2026-12-07/A", 0, 24 * 3600 * S};
	struct oee_shift found;

	(void)state;
	oee_shift_cache_init(&c);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 7 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	assert_int_equal(oee_shift_put(&c, &a), CT_OK);
	assert_int_equal(oee_shift_put(&c, &other_line), CT_OK);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 7 * 3600 * S, &found),
	                 OEE_SHIFT_FOUND);
	assert_string_equal(found.id, "2026-12-07/A");
	/* [start, end): the end belongs to the next shift. */
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 14 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 6 * 3600 * S, &found),
	                 OEE_SHIFT_FOUND);
	assert_int_equal(oee_shift_lookup(&c, "site2", "L1", 7 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	/* No shift from 14:00 until the next start (22:00): known without a query. */
	assert_int_equal(oee_shift_put_none(&c, "site1", "L1", 14 * 3600 * S, 22 * 3600 * S),
	                 CT_OK);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 21 * 3600 * S, &found),
	                 OEE_SHIFT_NONE);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 22 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	/* A line keeps its few latest shifts: the oldest goes; other lines are untouched. */
	for (int i = 0; i < OEE_SHIFTS_PER_LINE; i++) {
		struct oee_shift s = {"site1", "L1", "x", (30 + i) * 3600 * S, (31 + i) * 3600 * S};
		assert_int_equal(oee_shift_put(&c, &s), CT_OK);
	}
	assert_int_equal(oee_shift_lookup(&c, "site1", "L1", 7 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L2", 7 * 3600 * S, &found),
	                 OEE_SHIFT_FOUND);
	oee_shift_cache_clear(&c);
	assert_int_equal(oee_shift_lookup(&c, "site1", "L2", 7 * 3600 * S, &found),
	                 OEE_SHIFT_UNKNOWN);
	oee_shift_cache_cleanup(&c);
}

/* A station that sends results but no states: PRODUCING from its first result (once a gap
 * passed without a state of its own), UNKNOWN_STOP from its last result's end after a gap
 * without results, PRODUCING again from the next result's start. */
static void test_derived_states(void **state)
{
	struct oee_stations ss;
	struct oee_station *st, *again;
	const int64_t gap = 60 * S;
	int64_t since = 0;

	(void)state;
	oee_stations_init(&ss);
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-FORM-01", 0, &st), CT_OK);
	st->loaded = true;
	oee_station_result(st, 1000 * S, 1010 * S);
	/* Within the first gap after it was first seen: its own state may still come. */
	assert_int_equal(oee_station_derive(st, 1011 * S, 1000, gap, true, &since),
	                 OEE_DERIVE_NONE);
	assert_int_equal(oee_station_derive(st, 1070 * S, 61000, gap, true, &since),
	                 OEE_DERIVE_PRODUCING);
	assert_int_equal(since, 1000 * S);
	oee_station_derived(st, OEE_DERIVE_PRODUCING, since);
	oee_station_result(st, 1060 * S, 1069 * S);
	assert_int_equal(oee_station_derive(st, 1100 * S, 62000, gap, true, &since),
	                 OEE_DERIVE_NONE);
	/* No result for more than the gap: unknown stop from the last end, but not while a
	 * backlog is being read. */
	assert_int_equal(oee_station_derive(st, 1130 * S, 63000, gap, false, &since),
	                 OEE_DERIVE_NONE);
	assert_int_equal(oee_station_derive(st, 1130 * S, 63000, gap, true, &since),
	                 OEE_DERIVE_UNKNOWN_STOP);
	assert_int_equal(since, 1069 * S);
	oee_station_derived(st, OEE_DERIVE_UNKNOWN_STOP, since);
	assert_int_equal(oee_station_derive(st, 1200 * S, 64000, gap, true, &since),
	                 OEE_DERIVE_NONE);
	/* A result that started before the stop was derived runs from just after the stop (at
	 * the same instant the PRODUCING row would sort behind the UNKNOWN_STOP). */
	oee_station_result(st, 1050 * S, 1210 * S);
	assert_int_equal(oee_station_derive(st, 1211 * S, 65000, gap, true, &since),
	                 OEE_DERIVE_PRODUCING);
	assert_int_equal(since, 1069 * S + 1);
	/* The same station again; one that sends states gets nothing derived. */
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-FORM-01", 99, &again), CT_OK);
	assert_ptr_equal(again, st);
	st->has_station_states = true;
	assert_int_equal(oee_station_derive(st, 5000 * S, 99000, gap, true, &since),
	                 OEE_DERIVE_NONE);
	assert_int_equal(ss.n, 1);
	/* Forgetting one: the last takes its place and is still found. */
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-SEAL-01", 0, &st), CT_OK);
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-VIS-01", 0, &st), CT_OK);
	assert_int_equal(oee_stations_remove(&ss, 0), CT_OK);
	assert_int_equal(ss.n, 2);
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-VIS-01", 5, &again), CT_OK);
	assert_ptr_equal(again, &ss.items[0]);
	assert_int_equal(again->first_seen_ms, 0);
	assert_int_equal(oee_stations_get(&ss, "site1", "L1", "L1-FORM-01", 7, &again), CT_OK);
	assert_int_equal(again->first_seen_ms, 7); /* new again */
	assert_int_equal(ss.n, 3);
	oee_stations_cleanup(&ss);
}

/* The open shifts' refreshes after a start are spread evenly over one refresh period; a
 * station without an open shift gets none. */
static void test_spread_refreshes(void **state)
{
	static const char *const names[] = {"L1-FORM-01", "L1-SEAL-01", "L1-VIS-01", "L1-WELD-01"};
	struct oee_stations ss;
	struct oee_station *st;

	(void)state;
	oee_stations_init(&ss);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(oee_stations_get(&ss, "site1", "L1", names[i], 0, &st), CT_OK);
		if (i != 1)
			snprintf(st->open_shift, sizeof(st->open_shift), "2026-12-07/A");
		st->next_refresh_ms = -1;
	}
	oee_stations_spread_refreshes(&ss, 3, 1000, 60000);
	assert_int_equal(ss.items[0].next_refresh_ms, 1000);
	assert_int_equal(ss.items[1].next_refresh_ms, -1);
	assert_int_equal(ss.items[2].next_refresh_ms, 21000);
	assert_int_equal(ss.items[3].next_refresh_ms, 41000);
	oee_stations_spread_refreshes(&ss, 0, 1000, 60000); /* none open: no division by 0 */
	assert_int_equal(ss.items[3].next_refresh_ms, 41000);
	oee_stations_cleanup(&ss);
}

static const char figures_json[] =
        "{\"site\": \"site1\", \"line\": \"L1\", \"station\": \"L1-WELD-01\","
        " \"from\": \"2026-12-07T06:00:00+00:00\", \"to\": \"2026-12-07T10:00:00+00:00\","
        " \"shift_id\": \"2026-12-07/A\", \"shift_start\": \"2026-12-07T06:00:00+00:00\","
        " \"shift_end\": \"2026-12-07T14:00:00+00:00\","
        " \"until\": \"2026-12-07T10:00:00.5+00:00\","
        " \"planned_busy_s\": 13500, \"run_s\": 12000, \"planned_down_s\": 900,"
        " \"unplanned_down_s\": 1200, \"idle_s\": 100, \"starved_s\": 100, \"blocked_s\": 100,"
        " \"micro_stop_count\": 12, \"micro_stop_s\": 240.5, \"produced\": 11000,"
        " \"good\": 10890, \"late_rejects\": 30, \"ideal_cycle_s\": 1.0,"
        " \"availability\": 0.8888888888888888, \"performance\": 0.9166666666666666,"
        " \"quality\": 0.99, \"oee\": 0.8066666666666666, \"performance_flagged\": false,"
        " \"flag_reason\": null, \"current_state\": 6, \"current_reason\": \"BREAKDOWN.WELD.HORN\","
        " \"losses\": [{\"category\": \"unplanned\", \"reason_code\": \"BREAKDOWN.WELD.HORN\","
        " \"seconds\": 960, \"count\": 2}, {\"category\": \"micro_stop\", \"reason_code\": "
        "\"MICRO.JAM\", \"seconds\": 240.5, \"count\": 12}]}";

static void test_figures_from_json(void **state)
{
	struct oee_figures f, g;
	char err[256];

	(void)state;
	assert_int_equal(
	        oee_figures_parse(&f, figures_json, strlen(figures_json), err, sizeof(err)), CT_OK);
	assert_string_equal(f.msg.site, "site1");
	assert_string_equal(f.msg.station, "L1-WELD-01");
	assert_string_equal(f.msg.shift_id, "2026-12-07/A");
	assert_int_equal(f.msg.shift_start_us, 1796623200LL * S);
	assert_int_equal(f.msg.shift_end_us, 1796652000LL * S);
	assert_int_equal(f.msg.until_us, 1796637600LL * S + 500000);
	assert_true(f.msg.run_s == 12000.0);
	assert_true(f.msg.micro_stop_seconds == 240.5);
	assert_int_equal(f.msg.micro_stop_count, 12);
	assert_int_equal(f.msg.produced, 11000);
	assert_int_equal(f.msg.good, 10890);
	assert_int_equal(f.msg.late_rejects, 30);
	assert_true(f.msg.oee > 0.806 && f.msg.oee < 0.807);
	assert_false(f.msg.performance_flagged);
	assert_string_equal(f.msg.flag_reason, "");
	assert_int_equal(f.msg.current_state,
	                 CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNPLANNED_DOWNTIME);
	assert_int_equal(f.msg.n_losses, 2);
	assert_string_equal(f.msg.losses[1]->reason_code, "MICRO.JAM");
	assert_int_equal(f.msg.losses[1]->count, 12);
	assert_true(strncmp(f.header.event_id, "oee-", 4) == 0);
	/* The same figures give the same event ID. */
	assert_int_equal(
	        oee_figures_parse(&g, figures_json, strlen(figures_json), err, sizeof(err)), CT_OK);
	assert_string_equal(f.header.event_id, g.header.event_id);
	oee_figures_cleanup(&g);
	oee_figures_cleanup(&f);
}

/* NULL figures are 0 (ideal_cycle_s 0 and produced 0 tell why); names work for the state. */
static void test_figures_nulls_and_errors(void **state)
{
	static const char nulls[] =
	        "{\"site\":\"s\",\"line\":\"L\",\"station\":\"\",\"shift_id\":\"2026-12-07/B\","
	        "\"shift_start\":\"2026-12-07T14:00:00Z\",\"shift_end\":\"2026-12-07T22:00:00Z\","
	        "\"until\":\"2026-12-07T15:00:00Z\",\"performance\":null,\"quality\":null,"
	        "\"oee\":null,\"produced\":0,\"current_state\":\"starved\"}";
	static const struct {
		const char *json, *why;
	} bad[] = {
	        {"[1]", "not an object"},
	        {"{\"site\":", "figures"},
	        {"{\"site\":\"s\",\"line\":\"L\",\"shift_id\":\"x\",\"shift_start\":\"no\"}",
	         "shift_start"},
	        {"{\"run_s\":\"12\"}", "run_s"},
	        {"{\"produced\":-1}", "produced"},
	        {"{\"site\":\"s\",\"line\":\"L\",\"shift_id\":\"x\",\"shift_start\":0,"
	         "\"shift_end\":1,\"until\":1,\"losses\":{}}",
	         "losses"},
	};
	struct oee_figures f;
	char err[256];

	(void)state;
	assert_int_equal(oee_figures_parse(&f, nulls, strlen(nulls), err, sizeof(err)), CT_OK);
	assert_true(f.msg.performance == 0 && f.msg.quality == 0 && f.msg.oee == 0);
	assert_string_equal(f.msg.station, "");
	assert_int_equal(f.msg.current_state,
	                 CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_STARVED);
	oee_figures_cleanup(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = oee_figures_parse(&f, bad[i].json, strlen(bad[i].json), err, sizeof(err));
		if (rc != CT_ERR_DECODE || strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: rc %d, \"%s\" does not mention %s", i, rc, err,
			         bad[i].why);
	}
}

static void test_topics_and_names(void **state)
{
	char topic[CT_TOPIC_MAX];

	(void)state;
	assert_int_equal(oee_topic(topic, sizeof(topic), "site1", "L1", "L1-WELD-01", false),
	                 CT_OK);
	assert_string_equal(topic, "ct/v1/oee/site1/L1/L1-WELD-01");
	assert_int_equal(oee_topic(topic, sizeof(topic), "site1", "L1", "", false), CT_OK);
	assert_string_equal(topic, "ct/v1/oee/site1/L1");
	assert_int_equal(oee_topic(topic, sizeof(topic), "site1", "L1", "", true), CT_OK);
	assert_string_equal(topic, "ct/v1/oee/site1/L1/history");
	assert_int_equal(oee_topic(topic, sizeof(topic), "site1", "L1", "X", true), CT_OK);
	assert_string_equal(topic, "ct/v1/oee/site1/L1/X/history");
	assert_int_equal(oee_topic(topic, 12, "site1", "L1", "X", true), CT_ERR_TOO_BIG);
	assert_int_equal(oee_state_from_name("PRODUCING"), 1);
	assert_int_equal(oee_state_from_name("unknown_stop"), 7);
	assert_int_equal(oee_state_from_name("STATION_STATE_PLANNED_DOWNTIME"), 5);
	assert_int_equal(oee_state_from_name("running"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dirty_marks_station_and_line),
	        cmocka_unit_test(test_settle),
	        cmocka_unit_test(test_commit_waits_for_publish),
	        cmocka_unit_test(test_take_order),
	        cmocka_unit_test(test_commits_advance_under_steady_results),
	        cmocka_unit_test(test_shift_cache),
	        cmocka_unit_test(test_derived_states),
	        cmocka_unit_test(test_spread_refreshes),
	        cmocka_unit_test(test_figures_from_json),
	        cmocka_unit_test(test_figures_nulls_and_errors),
	        cmocka_unit_test(test_topics_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
