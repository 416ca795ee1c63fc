/* Unit tests of alert_logic (services/alert-router): the ISA-18.2 lifecycle, routing rules and
 * their two written forms, the shift calendar, delivery backoff and the sliding window that
 * counts dead-letter bursts. Expected values are exact, asserted at their boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "flood.h"
#include "lifecycle.h"
#include "routing.h"

#define S_US   INT64_C(1000000)
#define MIN_US (60 * S_US)
#define H_US   (60 * MIN_US)

/* ---- lifecycle ---- */

enum { N = ALARM_NORMAL, AU = ALARM_ACTIVE_UNACK, AA = ALARM_ACTIVE_ACK, CU = ALARM_CLEARED_UNACK };

/* Flags of a case's alarm before the action. */
enum { F_NONE = 0, F_ONE_SHOT = 1, F_TIMED = 2, F_SUPPRESSED = 4, F_OOS = 8, F_CHATTER = 16 };

struct lc_case {
	int state, flags, action;
	bool no_reason;      /* has_actor_and_reason false */
	int64_t until_us;    /* SHELVE: requested end, relative to the request's time; 0 one-shot */
	const char *refused; /* NULL: accepted; else the exact reason */
	int after;           /* state after */
	int after_flags;
	bool changed, annunciate, closes;
};

#define T0 (1000 * H_US) /* the request's time */

static struct alarm make_alarm(int state, int flags)
{
	struct alarm a = {.state = (enum alarm_state)state};

	if (flags & F_ONE_SHOT)
		a.shelved = SHELVE_ONE_SHOT;
	if (flags & F_TIMED) {
		a.shelved = SHELVE_TIMED;
		a.shelved_until_us = T0 + H_US;
	}
	a.suppressed = (flags & F_SUPPRESSED) != 0;
	a.out_of_service = (flags & F_OOS) != 0;
	a.chattering = (flags & F_CHATTER) != 0;
	return a;
}

static int flags_of(const struct alarm *a)
{
	return (a->shelved == SHELVE_ONE_SHOT ? F_ONE_SHOT : 0) |
	       (a->shelved == SHELVE_TIMED ? F_TIMED : 0) | (a->suppressed ? F_SUPPRESSED : 0) |
	       (a->out_of_service ? F_OOS : 0) | (a->chattering ? F_CHATTER : 0);
}

static void lifecycle_table(void **state)
{
	static const char closed[] = "occurrence closed", not_active[] = "not active",
	                  acked[] = "already acknowledged", active[] = "already active",
	                  no_reason[] = "actor and reason required";
	static const struct lc_case cases[] = {
	        /* RAISE: a new occurrence from closed or cleared-unack (superseded), never over
	         * an active one (that is a REPEAT). */
	        {N, 0, ACT_RAISE, .after = AU, .changed = true, .annunciate = true},
	        {CU, 0, ACT_RAISE, .after = AU, .changed = true, .annunciate = true},
	        {AU, 0, ACT_RAISE, .refused = active},
	        {AA, 0, ACT_RAISE, .refused = active},
	        /* REPEAT: only while active; no audit row, nobody told again. */
	        {AU, 0, ACT_REPEAT, .after = AU},
	        {AA, 0, ACT_REPEAT, .after = AA},
	        {N, 0, ACT_REPEAT, .refused = not_active},
	        {CU, 0, ACT_REPEAT, .refused = not_active},
	        /* CLEAR */
	        {AU, 0, ACT_CLEAR, .after = CU, .changed = true, .annunciate = true},
	        {AA, 0, ACT_CLEAR, .after = N, .changed = true, .annunciate = true, .closes = true},
	        {N, 0, ACT_CLEAR, .refused = not_active},
	        {CU, 0, ACT_CLEAR, .refused = not_active},
	        /* ACK needs no reason (the sender is the actor). */
	        {AU, 0, ACT_ACK, .no_reason = true, .after = AA, .changed = true,
	         .annunciate = true},
	        {CU, 0, ACT_ACK, .after = N, .changed = true, .annunciate = true, .closes = true},
	        {AA, 0, ACT_ACK, .refused = acked},
	        {N, 0, ACT_ACK, .refused = acked},
	        /* SHELVE one-shot: only while active. */
	        {AU, 0, ACT_SHELVE, .after = AU, .after_flags = F_ONE_SHOT, .changed = true},
	        {AA, 0, ACT_SHELVE, .after = AA, .after_flags = F_ONE_SHOT, .changed = true},
	        {CU, 0, ACT_SHELVE,
	         .refused = "not active (a one-shot shelve ends when the alert clears)"},
	        {N, 0, ACT_SHELVE, .refused = closed},
	        /* SHELVE timed: open occurrences; the end must be ahead. */
	        {CU, 0, ACT_SHELVE, .until_us = H_US, .after = CU, .after_flags = F_TIMED,
	         .changed = true},
	        {AU, 0, ACT_SHELVE, .until_us = H_US, .after = AU, .after_flags = F_TIMED,
	         .changed = true},
	        {N, 0, ACT_SHELVE, .until_us = H_US, .refused = closed},
	        {AU, 0, ACT_SHELVE, .until_us = -1, .refused = "shelve end not in the future"},
	        {AU, F_ONE_SHOT, ACT_SHELVE, .until_us = H_US, .refused = "already shelved"},
	        {AU, 0, ACT_SHELVE, .no_reason = true, .refused = no_reason},
	        /* UNSHELVE: what is still open is announced again. */
	        {AU, F_ONE_SHOT, ACT_UNSHELVE, .after = AU, .changed = true, .annunciate = true},
	        {CU, F_TIMED, ACT_UNSHELVE, .after = CU, .changed = true, .annunciate = true},
	        {N, F_TIMED, ACT_UNSHELVE, .refused = closed},
	        {AU, F_TIMED | F_OOS, ACT_UNSHELVE, .after = AU, .after_flags = F_OOS,
	         .changed = true},
	        {AU, 0, ACT_UNSHELVE, .refused = "not shelved"},
	        {AU, F_ONE_SHOT, ACT_UNSHELVE, .no_reason = true, .refused = no_reason},
	        /* SHELVE_EXPIRED: timed shelves only (T0 + 1 h is after T0: not yet). */
	        {AU, F_TIMED, ACT_SHELVE_EXPIRED, .refused = "shelve not expired"},
	        {AU, F_ONE_SHOT, ACT_SHELVE_EXPIRED, .refused = "not shelved with an expiry"},
	        {AU, 0, ACT_SHELVE_EXPIRED, .refused = "not shelved with an expiry"},
	        /* SUPPRESS / UNSUPPRESS: by design, driven by rules (no person). */
	        {AU, 0, ACT_SUPPRESS, .no_reason = true, .after = AU, .after_flags = F_SUPPRESSED,
	         .changed = true},
	        {N, 0, ACT_SUPPRESS, .after = N, .after_flags = F_SUPPRESSED, .changed = true},
	        {AU, F_SUPPRESSED, ACT_SUPPRESS, .refused = "already suppressed"},
	        {AU, F_SUPPRESSED, ACT_UNSUPPRESS, .no_reason = true, .after = AU, .changed = true,
	         .annunciate = true},
	        {AU, F_SUPPRESSED | F_ONE_SHOT, ACT_UNSUPPRESS, .after = AU,
	         .after_flags = F_ONE_SHOT, .changed = true},
	        {N, F_SUPPRESSED, ACT_UNSUPPRESS, .after = N, .changed = true},
	        {AU, 0, ACT_UNSUPPRESS, .refused = "not suppressed"},
	        /* COMMENT: audited in every state, never announced. */
	        {N, 0, ACT_COMMENT, .after = N, .changed = true},
	        {AU, 0, ACT_COMMENT, .after = AU, .changed = true},
	        {AA, F_OOS, ACT_COMMENT, .after = AA, .after_flags = F_OOS, .changed = true},
	        {AU, 0, ACT_COMMENT, .no_reason = true, .refused = no_reason},
	        /* Out of service and back. */
	        {AU, 0, ACT_REMOVE_FROM_SERVICE, .after = AU, .after_flags = F_OOS,
	         .changed = true},
	        {N, 0, ACT_REMOVE_FROM_SERVICE, .refused = closed},
	        {AU, F_OOS, ACT_REMOVE_FROM_SERVICE, .refused = "already out of service"},
	        {AU, 0, ACT_REMOVE_FROM_SERVICE, .no_reason = true, .refused = no_reason},
	        {AU, F_OOS, ACT_RETURN_TO_SERVICE, .after = AU, .changed = true,
	         .annunciate = true},
	        {N, F_OOS, ACT_RETURN_TO_SERVICE, .refused = closed},
	        {AU, F_OOS, ACT_RETURN_TO_SERVICE, .no_reason = true, .refused = no_reason},
	        {AU, 0, ACT_RETURN_TO_SERVICE, .refused = "not out of service"},
	        /* ESCALATE: active, unacknowledged and visible. */
	        {AU, 0, ACT_ESCALATE, .after = AU, .changed = true, .annunciate = true},
	        {AA, 0, ACT_ESCALATE, .refused = "not active and unacknowledged"},
	        {CU, 0, ACT_ESCALATE, .refused = "not active and unacknowledged"},
	        {N, 0, ACT_ESCALATE, .refused = "not active and unacknowledged"},
	        {AU, F_ONE_SHOT, ACT_ESCALATE, .refused = "shelved, suppressed or out of service"},
	        {AU, F_SUPPRESSED, ACT_ESCALATE,
	         .refused = "shelved, suppressed or out of service"},
	        {AU, F_OOS, ACT_ESCALATE, .refused = "shelved, suppressed or out of service"},
	        /* CHATTER: flagged once. */
	        {AU, 0, ACT_CHATTER, .after = AU, .after_flags = F_CHATTER, .changed = true},
	        {AU, F_CHATTER, ACT_CHATTER, .refused = "already chattering"},
	        /* SUPERSEDED: a cleared-unack occurrence closed by its successor. */
	        {CU, 0, ACT_SUPERSEDED, .after = N, .changed = true, .closes = true},
	        {AU, 0, ACT_SUPERSEDED, .refused = "not cleared and unacknowledged"},
	        {AA, 0, ACT_SUPERSEDED, .refused = "not cleared and unacknowledged"},
	        {N, 0, ACT_SUPERSEDED, .refused = "not cleared and unacknowledged"},
	        /* Shelved, suppressed or out of service: the state moves, nobody is told. */
	        {N, F_OOS, ACT_RAISE, .after = AU, .after_flags = F_OOS, .changed = true},
	        {N, F_SUPPRESSED, ACT_RAISE, .after = AU, .after_flags = F_SUPPRESSED,
	         .changed = true},
	        {N, F_TIMED, ACT_RAISE, .after = AU, .after_flags = F_TIMED, .changed = true},
	        {AU, F_OOS, ACT_CLEAR, .after = CU, .after_flags = F_OOS, .changed = true},
	        {AU, F_SUPPRESSED, ACT_ACK, .after = AA, .after_flags = F_SUPPRESSED,
	         .changed = true},
	        /* A one-shot shelve ends when the alert clears, silently. */
	        {AU, F_ONE_SHOT, ACT_CLEAR, .after = CU, .changed = true},
	        {AA, F_ONE_SHOT, ACT_CLEAR, .after = N, .changed = true, .closes = true},
	        /* A timed shelve outlives the clear. */
	        {AU, F_TIMED, ACT_CLEAR, .after = CU, .after_flags = F_TIMED, .changed = true},
	        {AU, 0, ACT_COUNT_, .refused = "unknown action"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lc_case *c = &cases[i];
		struct alarm a = make_alarm(c->state, c->flags);
		struct alarm_request req = {
		        .action = (enum alarm_action)c->action,
		        .at_us = T0,
		        .shelve_until_us = c->until_us != 0 ? T0 + c->until_us : 0,
		        .max_shelve_us = 8 * H_US,
		        .has_actor_and_reason = !c->no_reason,
		};
		struct alarm_outcome out, untouched;
		const char *why;

		memset(&out, 0xa5, sizeof(out));
		memcpy(&untouched, &out, sizeof(out));
		why = alarm_apply(&a, &req, &out);
		if (c->refused != NULL) {
			if (why == NULL || strcmp(why, c->refused) != 0)
				fail_msg("case %zu (%s in %s): refused with '%s', expected '%s'", i,
				         alarm_action_name(req.action), alarm_state_name(a.state),
				         why ? why : "(accepted)", c->refused);
			if (memcmp(&out, &untouched, sizeof(out)) != 0)
				fail_msg("case %zu: a refusal wrote the outcome", i);
			continue;
		}
		if (why != NULL)
			fail_msg("case %zu (%s in %s): refused: %s", i,
			         alarm_action_name(req.action), alarm_state_name(a.state), why);
		if ((int)out.after.state != c->after || flags_of(&out.after) != c->after_flags ||
		    out.changed != c->changed || out.annunciate != c->annunciate ||
		    out.closes != c->closes)
			fail_msg("case %zu (%s in %s): got %s flags %d changed %d annunciate %d "
			         "closes %d",
			         i, alarm_action_name(req.action), alarm_state_name(a.state),
			         alarm_state_name(out.after.state), flags_of(&out.after),
			         out.changed, out.annunciate, out.closes);
	}
}

static void timed_shelve(void **state)
{
	struct alarm a = make_alarm(AU, 0);
	struct alarm_request req = {ACT_SHELVE, T0, T0 + 10 * H_US, 8 * H_US, true};
	struct alarm_outcome out;

	(void)state;
	/* 10 h asked, 8 h the maximum: capped, not refused. */
	assert_null(alarm_apply(&a, &req, &out));
	assert_int_equal(out.after.shelved, SHELVE_TIMED);
	assert_int_equal(out.after.shelved_until_us, T0 + 8 * H_US);
	/* Within the maximum: as asked. */
	req.shelve_until_us = T0 + 2 * H_US;
	assert_null(alarm_apply(&a, &req, &out));
	assert_int_equal(out.after.shelved_until_us, T0 + 2 * H_US);
	/* No maximum configured (0): as asked. */
	req.shelve_until_us = T0 + 100 * H_US;
	req.max_shelve_us = 0;
	assert_null(alarm_apply(&a, &req, &out));
	assert_int_equal(out.after.shelved_until_us, T0 + 100 * H_US);
	/* A cap past the end of time saturates instead of overflowing. */
	req.at_us = INT64_MAX - 5;
	req.shelve_until_us = INT64_MAX;
	req.max_shelve_us = 8 * H_US;
	assert_null(alarm_apply(&a, &req, &out));
	assert_int_equal(out.after.shelved_until_us, INT64_MAX);

	/* Expiry: exactly at the end, not a microsecond before. */
	a = out.after;
	a.shelved_until_us = T0 + 2 * H_US;
	assert_false(alarm_shelve_expired(&a, T0 + 2 * H_US - 1));
	assert_true(alarm_shelve_expired(&a, T0 + 2 * H_US));
	req = (struct alarm_request){.action = ACT_SHELVE_EXPIRED, .at_us = T0 + 2 * H_US - 1};
	assert_string_equal(alarm_apply(&a, &req, &out), "shelve not expired");
	req.at_us = T0 + 2 * H_US;
	assert_null(alarm_apply(&a, &req, &out));
	assert_int_equal(out.after.shelved, SHELVE_NONE);
	assert_int_equal(out.after.shelved_until_us, 0);
	assert_true(out.changed);
	assert_true(out.annunciate); /* still active: people see it again */
	/* One-shot shelves never expire by time. */
	a = make_alarm(AU, F_ONE_SHOT);
	assert_false(alarm_shelve_expired(&a, INT64_MAX));
}

/* A whole occurrence: raised while out of service, nothing announced until returned. */
static void out_of_service_story(void **state)
{
	struct alarm a = make_alarm(N, F_OOS);
	struct alarm_request req = {.at_us = T0, .has_actor_and_reason = true};
	struct alarm_outcome out;
	static const struct {
		enum alarm_action action;
		enum alarm_state after;
		bool annunciate;
	} steps[] = {
	        {ACT_RAISE, ALARM_ACTIVE_UNACK, false},
	        {ACT_REPEAT, ALARM_ACTIVE_UNACK, false},
	        {ACT_ACK, ALARM_ACTIVE_ACK, false},
	        {ACT_RETURN_TO_SERVICE, ALARM_ACTIVE_ACK, true},
	        {ACT_CLEAR, ALARM_NORMAL, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		req.action = steps[i].action;
		assert_null(alarm_apply(&a, &req, &out));
		assert_int_equal(out.after.state, steps[i].after);
		assert_int_equal(out.annunciate, steps[i].annunciate);
		a = out.after;
	}
	assert_true(out.closes);
	assert_false(a.out_of_service);
}

static void lifecycle_names(void **state)
{
	static const char *const states[] = {"NORMAL", "ACTIVE_UNACK", "ACTIVE_ACK",
	                                     "CLEARED_UNACK"};
	static const char *const actions[] = {"RAISE",
	                                      "REPEAT",
	                                      "CLEAR",
	                                      "ACK",
	                                      "SHELVE",
	                                      "UNSHELVE",
	                                      "SHELVE_EXPIRED",
	                                      "SUPPRESS",
	                                      "UNSUPPRESS",
	                                      "COMMENT",
	                                      "REMOVE_FROM_SERVICE",
	                                      "RETURN_TO_SERVICE",
	                                      "ESCALATE",
	                                      "CHATTER",
	                                      "SUPERSEDED"};
	static const char *const shelves[] = {"", "ONE_SHOT", "TIMED"};
	enum alarm_state s;
	enum alarm_action a;
	enum alarm_shelve sh;

	(void)state;
	assert_int_equal(sizeof(actions) / sizeof(actions[0]), ACT_COUNT_);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(alarm_state_name((enum alarm_state)i), states[i]);
		assert_true(alarm_state_parse(states[i], &s));
		assert_int_equal(s, i);
	}
	for (int i = 0; i < ACT_COUNT_; i++) {
		assert_string_equal(alarm_action_name((enum alarm_action)i), actions[i]);
		assert_true(alarm_action_parse(actions[i], &a));
		assert_int_equal(a, i);
	}
	for (int i = 0; i < 3; i++) {
		assert_string_equal(alarm_shelve_name((enum alarm_shelve)i), shelves[i]);
		assert_true(alarm_shelve_parse(shelves[i], &sh));
		assert_int_equal(sh, i);
	}
	s = ALARM_ACTIVE_ACK;
	assert_false(alarm_state_parse("active_unack", &s)); /* the database's spelling only */
	assert_false(alarm_state_parse(NULL, &s));
	assert_int_equal(s, ALARM_ACTIVE_ACK);
	assert_false(alarm_action_parse("ACKNOWLEDGE", &a));
	assert_false(alarm_shelve_parse("NONE", &sh));
	assert_string_equal(alarm_action_name(ACT_COUNT_), "?");
}

/* ---- routing ---- */

/* Field by field: struct copies need not copy padding. */
static bool route_equal(const struct route *a, const struct route *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->team, b->team) == 0 && a->tier == b->tier &&
	       a->min_severity == b->min_severity && strcmp(a->filter, b->filter) == 0 &&
	       strcmp(a->codes, b->codes) == 0 && strcmp(a->object_kinds, b->object_kinds) == 0 &&
	       strcmp(a->tags, b->tags) == 0 && strcmp(a->shifts, b->shifts) == 0 &&
	       a->delay_on_s == b->delay_on_s && a->delay_off_s == b->delay_off_s &&
	       a->rate_per_min == b->rate_per_min && a->channel == b->channel &&
	       strcmp(a->target, b->target) == 0 && a->escalate_after_s == b->escalate_after_s &&
	       strcmp(a->escalate_to, b->escalate_to) == 0;
}

static struct route parse_ok(const char *line)
{
	struct route r;
	const char *why = route_parse_line(line, &r);

	if (why != NULL)
		fail_msg("'%s': %s", line, why);
	return r;
}

static void route_match_table(void **state)
{
	static const char *const tags_ab[] = {"a", "b", "c"};
	static const char *const tags_a[] = {"a"};
	static const struct {
		const char *route;
		struct route_alert alert;
		bool matches;
	} cases[] = {
#define ALERT(sev, site, line, station, code, kind)                                                \
	{sev, site, line, station, code, kind, NULL, 0, ""}
	        /* Severity: at least. */
	        {"id=r team=t severity=HIGH", ALERT(4, "S1", "L1", "F1", "X", "station"), true},
	        {"id=r team=t severity=HIGH", ALERT(5, "S1", "L1", "F1", "X", "station"), true},
	        {"id=r team=t severity=HIGH", ALERT(3, "S1", "L1", "F1", "X", "station"), false},
	        {"id=r team=t severity=2", ALERT(2, "S1", "L1", "F1", "X", "station"), true},
	        /* Filters: exact, +, #, and an alert without a station. */
	        {"id=r team=t filter=S1/L1/F1", ALERT(1, "S1", "L1", "F1", "X", "station"), true},
	        {"id=r team=t filter=S1/L1/F1", ALERT(1, "S1", "L1", "F2", "X", "station"), false},
	        {"id=r team=t filter=S1/L1/F1", ALERT(1, "S1", "L1", "", "X", "lot"), false},
	        {"id=r team=t filter=S1/L1/#", ALERT(1, "S1", "L1", "F1", "X", "station"), true},
	        {"id=r team=t filter=S1/L1/#", ALERT(1, "S1", "L1", "", "X", "lot"), true},
	        {"id=r team=t filter=S1/L1/#", ALERT(1, "S1", "L2", "F1", "X", "station"), false},
	        {"id=r team=t filter=S1/L1/+", ALERT(1, "S1", "L1", "F9", "X", "station"), true},
	        {"id=r team=t filter=S1/L1/+", ALERT(1, "S1", "L1", "", "X", "lot"), false},
	        {"id=r team=t filter=+/+/F1", ALERT(1, "S2", "L7", "F1", "X", "station"), true},
	        {"id=r team=t filter=+/L1/#", ALERT(1, "S2", "L1", "", "X", "lot"), true},
	        {"id=r team=t filter=S1/#", ALERT(1, "S1", "", "", "X", "lot"), true},
	        {"id=r team=t filter=S1/#", ALERT(1, "S10", "L1", "F1", "X", "station"), false},
	        {"id=r team=t filter=S1", ALERT(1, "S1", "L1", "F1", "X", "station"), false},
	        {"id=r team=t filter=#", ALERT(1, "", "", "", "SERVICE_OFFLINE", "service"), true},
	        {"id=r team=t filter=+/+/+", ALERT(1, "", "", "", "SERVICE_OFFLINE", "service"),
	         false},
	        {"id=r team=t", ALERT(1, NULL, NULL, NULL, NULL, NULL), true},
	        /* Code globs, comma lists. */
	        {"id=r team=t codes=SPC_*", ALERT(1, "S1", "L1", "F1", "SPC_WE1", "station"), true},
	        {"id=r team=t codes=SPC_*", ALERT(1, "S1", "L1", "F1", "SPC_", "station"), true},
	        {"id=r team=t codes=SPC_*", ALERT(1, "S1", "L1", "F1", "XSPC_WE1", "station"),
	         false},
	        {"id=r team=t codes=SPC_?E1", ALERT(1, "S1", "L1", "F1", "SPC_WE1", "station"),
	         true},
	        {"id=r team=t codes=SPC_?E1", ALERT(1, "S1", "L1", "F1", "SPC_E1", "station"),
	         false},
	        {"id=r team=t codes=*_HELD,SPC_*", ALERT(1, "S1", "L1", "", "LOT_HELD", "lot"),
	         true},
	        {"id=r team=t codes=*_HELD,SPC_*", ALERT(1, "S1", "L1", "", "LOT_HELDX", "lot"),
	         false},
	        {"id=r team=t codes=*A*B*C", ALERT(1, "S1", "L1", "", "xAyyBzzzC", "lot"), true},
	        {"id=r team=t codes=*A*B*C", ALERT(1, "S1", "L1", "", "xAyyBzzzCz", "lot"), false},
	        {"id=r team=t codes=LOT_HELD", ALERT(1, "S1", "L1", "", "LOT_HELD", "lot"), true},
	        {"id=r team=t codes=LOT_HELD", ALERT(1, "S1", "L1", "", "lot_held", "lot"), false},
	        /* A '*' in the code is matched by the glob's '*' like any other character (the
	         * fuzzer found a '*' in the code once taken as the pattern's literal). */
	        {"id=r team=t codes=*B", ALERT(1, "S1", "L1", "", "*xB", "lot"), true},
	        /* Object kinds. */
	        {"id=r team=t kinds=lot,unit", ALERT(1, "S1", "L1", "", "X", "unit"), true},
	        {"id=r team=t kinds=lot,unit", ALERT(1, "S1", "L1", "F1", "X", "station"), false},
	        {"id=r team=t kinds=lot", ALERT(1, "S1", "L1", "", "X", "lo"), false},
#undef ALERT
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r = parse_ok(cases[i].route);
		if (route_matches(&r, &cases[i].alert) != cases[i].matches)
			fail_msg("case %zu: '%s' should %smatch", i, cases[i].route,
			         cases[i].matches ? "" : "not ");
	}

	/* Tags: every tag of the route must be on the alert. */
	struct route r = parse_ok("id=r team=t tags=a,b");
	struct route_alert a = {1, "S1", "L1", "F1", "X", "station", tags_ab, 3, ""};
	assert_true(route_matches(&r, &a));
	a.tags = tags_a;
	a.n_tags = 1;
	assert_false(route_matches(&r, &a));
	a.tags = NULL;
	a.n_tags = 0;
	assert_false(route_matches(&r, &a));
	r = parse_ok("id=r team=t");
	assert_true(route_matches(&r, &a));
}

static void shifts(void **state)
{
	struct shift_calendar cal;
	struct route r = parse_ok("id=night team=t shifts=C");
	struct route_alert a = {1, "S1", "L1", "F1", "X", "station", NULL, 0, ""};
	static const struct {
		int minute;
		const char *shift;
	} at[] = {
	        {0, "C"},    {359, "C"},  {360, "A"},  {839, "A"}, {840, "B"},
	        {1319, "B"}, {1320, "C"}, {1439, "C"}, {-1, ""},   {1440, ""},
	};

	(void)state;
	assert_null(shift_calendar_parse("A=06:00-14:00,B=14:00-22:00,C=22:00-06:00", &cal));
	assert_int_equal(cal.n, 3);
	assert_string_equal(cal.shifts[2].name, "C");
	assert_int_equal(cal.shifts[2].start_min, 1320);
	assert_int_equal(cal.shifts[2].end_min, 360);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (strcmp(shift_at(&cal, at[i].minute), at[i].shift) != 0)
			fail_msg("minute %d: '%s', expected '%s'", at[i].minute,
			         shift_at(&cal, at[i].minute), at[i].shift);

	/* The night shift across midnight: 23:30 and 05:59 are C, 06:00 is not. */
	a.shift = shift_at(&cal, 23 * 60 + 30);
	assert_true(route_matches(&r, &a));
	a.shift = shift_at(&cal, 5 * 60 + 59);
	assert_true(route_matches(&r, &a));
	a.shift = shift_at(&cal, 6 * 60);
	assert_false(route_matches(&r, &a));
	/* No calendar: a shift-limited route cannot be honoured, so it does not match. */
	a.shift = "";
	assert_false(route_matches(&r, &a));
	r = parse_ok("id=day team=t shifts=A,B");
	a.shift = "B";
	assert_true(route_matches(&r, &a));

	/* A gap and 24:00 as an end; blanks around items. */
	assert_null(shift_calendar_parse(" early=05:30-13:00 , late=13:00-24:00", &cal));
	assert_int_equal(cal.n, 2);
	assert_int_equal(cal.shifts[1].end_min, 0);
	assert_string_equal(shift_at(&cal, 5 * 60 + 29), "");
	assert_string_equal(shift_at(&cal, 1439), "late");
	assert_null(shift_calendar_parse("", &cal));
	assert_int_equal(cal.n, 0);
	assert_string_equal(shift_at(&cal, 600), "");

	static const struct {
		const char *text, *why;
	} bad[] = {
	        {"A=06:00-14:00,B=13:00-22:00", "shift calendar: shifts overlap"},
	        {"A=22:00-06:00,B=05:00-07:00", "shift calendar: shifts overlap"},
	        {"A=06:00-14:00,A=14:00-22:00", "shift calendar: two shifts of one name"},
	        {"A=06:00-06:00", "shift calendar: a shift must not start when it ends"},
	        {"A b=06:00-14:00", "shift calendar: a shift name must be an ID"},
	        {"=06:00-14:00", "shift calendar: a shift name must be an ID"},
	        {"A=6:00-14:00", NULL},
	        {"A=06:60-14:00", NULL},
	        {"A=24:00-06:00", NULL},
	        {"A=06:00-24:01", NULL},
	        {"A=06:00-14:00,", NULL},
	        {"A=06:00-14:00,,B=14:00-15:00", NULL},
	        {"A=06:00-14:00x", NULL},
	        {"A", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why;
		cal.n = 99;
		why = shift_calendar_parse(bad[i].text, &cal);
		if (why == NULL || strcmp(why, bad[i].why != NULL ? bad[i].why
		                                                  : "shift calendar: expected "
		                                                    "NAME=HH:MM-HH:MM items "
		                                                    "separated by commas") != 0)
			fail_msg("'%s': %s", bad[i].text, why ? why : "accepted");
		assert_int_equal(cal.n, 99); /* untouched */
	}
	/* 17 shifts of an hour each. */
	char many[512];
	size_t used = 0;
	for (int h = 0; h < 17; h++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%sS%d=%02d:00-%02d:00",
		                         h > 0 ? "," : "", h, h, h + 1);
	assert_string_equal(shift_calendar_parse(many, &cal),
	                    "shift calendar: more than 16 shifts");
}

static void route_parse_defaults(void **state)
{
	struct route r = parse_ok("id=quality-l1 team=quality");

	(void)state;
	assert_string_equal(r.id, "quality-l1");
	assert_string_equal(r.team, "quality");
	assert_int_equal(r.tier, 1);
	assert_int_equal(r.min_severity, 1);
	assert_string_equal(r.filter, "#");
	assert_int_equal(r.channel, CHANNEL_MQTT);
	assert_string_equal(r.codes, "");
	assert_string_equal(r.target, "");
	assert_int_equal(r.rate_per_min, 0);

	/* The header's example, every key. */
	r = parse_ok("  id=quality-l1 team=quality severity=MEDIUM filter=site1/L1/# "
	             "codes=SPC_*,LOT_HELD\tchannel=webhook target=https://hooks.example/x "
	             "delay_on=10 delay_off=30 rate=20 escalate_after=900 "
	             "escalate_to=quality-lead tier=1 tags=a,b shifts=A,B kinds=station\r\n");
	assert_int_equal(r.min_severity, 3);
	assert_string_equal(r.filter, "site1/L1/#");
	assert_string_equal(r.codes, "SPC_*,LOT_HELD");
	assert_int_equal(r.channel, CHANNEL_WEBHOOK);
	assert_string_equal(r.target, "https://hooks.example/x");
	assert_int_equal(r.delay_on_s, 10);
	assert_int_equal(r.delay_off_s, 30);
	assert_int_equal(r.rate_per_min, 20);
	assert_int_equal(r.escalate_after_s, 900);
	assert_string_equal(r.escalate_to, "quality-lead");
	assert_string_equal(r.tags, "a,b");
	assert_string_equal(r.shifts, "A,B");
	assert_string_equal(r.object_kinds, "station");
	r = parse_ok("id=x team=y severity=critical channel=log");
	assert_int_equal(r.min_severity, 5);
	assert_int_equal(r.channel, CHANNEL_LOG);
}

static void route_parse_errors(void **state)
{
	static const struct {
		const char *line, *why; /* why: the reason's start, up to the ':' naming the key */
	} cases[] = {
	        {"", "id: required"},
	        {"team=t", "id: required"},
	        {"id=r", "team: required"},
	        {"id= team=t", "id: "},
	        {"id=a/b team=t", "id: "},
	        {"id=r team=t+", "team: "},
	        {"id=r team=t id=s", "id: given twice"},
	        {"id=r team=t tier=0", "tier: "},
	        {"id=r team=t tier=100", "tier: "},
	        {"id=r team=t tier=-1", "tier: "},
	        {"id=r team=t tier=1x", "tier: "},
	        {"id=r team=t tier=", "tier: "},
	        {"id=r team=t severity=URGENT", "severity: "},
	        {"id=r team=t severity=6", "severity: "},
	        {"id=r team=t severity=0", "severity: "},
	        {"id=r team=t filter=", "filter: "},
	        {"id=r team=t filter=a/b/c/d", "filter: "},
	        {"id=r team=t filter=a/#/c", "filter: "},
	        {"id=r team=t filter=a/b+/c", "filter: "},
	        {"id=r team=t filter=a//c", "filter: "},
	        {"id=r team=t codes=A,,B", "codes: "},
	        {"id=r team=t codes=A,", "codes: "},
	        {"id=r team=t codes=A/B", "codes: "},
	        {"id=r team=t kinds=station,machine", "kinds: "},
	        {"id=r team=t tags=a,b c", "expected key=value words"},
	        {"id=r team=t tags=a+b", "tags: "},
	        {"id=r team=t shifts=A,", "shifts: "},
	        {"id=r team=t delay_on=86401", "delay_on: "},
	        {"id=r team=t delay_off=9999999999", "delay_off: "},
	        {"id=r team=t rate=100001", "rate: "},
	        {"id=r team=t channel=email", "channel: "},
	        {"id=r team=t channel=MQTT", "channel: "},
	        {"id=r team=t channel=webhook", "target: required with channel=webhook"},
	        {"id=r team=t target=https://x.example/", "target: only with channel=webhook"},
	        {"id=r team=t channel=webhook target=ftp://x.example/", "target: "},
	        {"id=r team=t channel=webhook target=https://", "target: "},
	        {"id=r team=t escalate_after=60", "escalate_to: required with escalate_after"},
	        {"id=r team=t escalate_to=lead", "escalate_after: required with escalate_to"},
	        {"id=r team=t escalate_after=60 escalate_to=r",
	         "escalate_to: names the subscription itself"},
	        {"id=r team=t escalate_after=604801 escalate_to=x", "escalate_after: "},
	        {"id=r team=t colour=red", "unknown key"},
	        {"id=r team=t =x", "unknown key"},
	        {"id=r team=t severity", "expected key=value words"},
	};
	struct route r;

	(void)state;
	memset(&r, 0x5a, sizeof(r));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route before;
		const char *why;

		memcpy(&before, &r, sizeof(r));
		why = route_parse_line(cases[i].line, &r);
		if (why == NULL || strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
			fail_msg("case %zu '%s': '%s', expected '%s...'", i, cases[i].line,
			         why ? why : "(accepted)", cases[i].why);
		if (memcmp(&before, &r, sizeof(r)) != 0)
			fail_msg("case %zu: a refusal wrote the route", i);
	}
}

static void route_json(void **state)
{
	static const char full[] =
	        "{\"id\": \"quality-l1\", \"team\": \"quality\", \"severity\": \"HIGH\","
	        " \"filter\": \"site1/L1/#\", \"codes\": \"SPC_*\", \"channel\": \"webhook\","
	        " \"target\": \"http://127.0.0.1:8080/hook\", \"delay_on\": 10, \"rate\": 20,"
	        " \"escalate_after\": 900, \"escalate_to\": \"lead\", \"tier\": 2}";
	static const struct {
		const char *json, *why;
	} bad[] = {
	        {"", "not valid JSON"},
	        {"[1]", "not a JSON object"},
	        {"{\"id\": \"a\", \"team\": \"t\", \"id\": \"b\"}", "not valid JSON"},
	        {"{\"team\": \"t\"}", "id: required"},
	        {"{\"id\": \"a\", \"team\": \"t\", \"tier\": \"2\"}", "tier: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"tier\": 2.0}", "tier: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"tier\": 4294967297}", "tier: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"severity\": 7}", "severity: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"codes\": [\"A\"]}", "codes: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"filter\": null}", "filter: "},
	        {"{\"id\": 5, \"team\": \"t\"}", "id: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"channel\": 1}", "channel: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"tags\": \"a b\"}", "tags: "},
	        {"{\"id\": \"a\", \"team\": \"t\", \"subscription_id\": \"x\"}", "unknown key"},
	};
	static const char tail[] = "{\"id\":\"a\",\"team\":\"t\",\"severity\":3}xxx";
	struct route r, l;

	(void)state;
	assert_null(route_parse_json(full, strlen(full), &r));
	assert_string_equal(r.id, "quality-l1");
	assert_int_equal(r.min_severity, 4);
	assert_int_equal(r.tier, 2);
	assert_int_equal(r.delay_on_s, 10);
	assert_string_equal(r.target, "http://127.0.0.1:8080/hook");
	/* The same route written as a line parses to the same struct. */
	l = parse_ok("id=quality-l1 team=quality severity=HIGH filter=site1/L1/# codes=SPC_* "
	             "channel=webhook target=http://127.0.0.1:8080/hook delay_on=10 rate=20 "
	             "escalate_after=900 escalate_to=lead tier=2");
	assert_true(route_equal(&r, &l));
	/* Severity as its number; the length bounds the input (no NUL needed). */
	assert_null(route_parse_json(tail, strlen(tail) - 3, &r));
	assert_int_equal(r.min_severity, 3);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why;
		memset(&r, 0x5a, sizeof(r));
		why = route_parse_json(bad[i].json, strlen(bad[i].json), &r);
		if (why == NULL || strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
			fail_msg("'%s': '%s', expected '%s...'", bad[i].json,
			         why ? why : "(accepted)", bad[i].why);
		assert_int_equal((unsigned char)r.id[0], 0x5a);
	}
}

static void route_round_trip(void **state)
{
	static const struct {
		const char *line, *formatted;
	} cases[] = {
	        {"id=a team=t", "id=a team=t tier=1 severity=INFO filter=# channel=mqtt"},
	        {"team=ops id=x.y severity=5 kinds=lot,unit filter=+/L1/+ rate=3 delay_off=1",
	         "id=x.y team=ops tier=1 severity=CRITICAL filter=+/L1/+ channel=mqtt "
	         "kinds=lot,unit delay_off=1 rate=3"},
	        {"id=quality-l1 team=quality severity=MEDIUM filter=site1/L1/# "
	         "codes=SPC_*,LOT_HELD channel=webhook target=https://hooks.example/x delay_on=10 "
	         "delay_off=30 rate=20 escalate_after=900 escalate_to=quality-lead tier=1 "
	         "tags=a,b shifts=A,B kinds=station",
	         "id=quality-l1 team=quality tier=1 severity=MEDIUM filter=site1/L1/# "
	         "channel=webhook codes=SPC_*,LOT_HELD kinds=station tags=a,b shifts=A,B "
	         "delay_on=10 delay_off=30 rate=20 target=https://hooks.example/x "
	         "escalate_after=900 escalate_to=quality-lead"},
	};
	char buf[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r = parse_ok(cases[i].line), again;
		int n = route_format_line(&r, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].formatted));
		assert_string_equal(buf, cases[i].formatted);
		again = parse_ok(buf);
		assert_true(route_equal(&r, &again));
		/* Exactly fitting, and one byte short. */
		assert_int_equal(route_format_line(&r, buf, (size_t)n + 1), n);
		assert_int_equal(route_format_line(&r, buf, (size_t)n), -1);
		assert_int_equal(route_format_line(&r, buf, 0), -1);
	}
}

static void backoff(void **state)
{
	static const struct {
		int attempt;
		int64_t base, max;
		double jitter;
		int64_t ms;
	} cases[] = {
	        {1, 1000, 60000, 0.0, 500},
	        {1, 1000, 60000, 0.5, 750},
	        {2, 1000, 60000, 0.0, 1000},
	        {3, 1000, 60000, 0.0, 2000},
	        {3, 1000, 60000, 0.999, 3998},
	        {7, 1000, 60000, 0.0, 30000},
	        {7, 1000, 60000, 0.5, 45000},
	        {100, 1000, 60000, 0.0, 30000},
	        {INT32_MAX, 1000, 60000, 0.0, 30000},
	        {0, 1000, 60000, 0.0, 500},
	        {-5, 1000, 60000, 0.0, 500},
	        {1, 1001, 60000, 0.0, 501},
	        {1, 5000, 3000, 0.0, 1500},
	        {1, 1000, 60000, 1.0, 999},
	        {1, 1000, 60000, -1.0, 500},
	        {40, INT64_MAX / 4, INT64_MAX, 0.0, INT64_MAX / 2 + 1},
	        {1, 0, 60000, 0.5, 0},
	        {1, 1000, 0, 0.5, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = route_backoff_ms(cases[i].attempt, cases[i].base, cases[i].max,
		                               cases[i].jitter);
		if (got != cases[i].ms)
			fail_msg("case %zu: %lld ms, expected %lld", i, (long long)got,
			         (long long)cases[i].ms);
	}
	/* Bounds: every attempt and jitter lies in [delay/2, delay], the delay doubling to its
	 * cap. */
	for (int attempt = 1; attempt <= 20; attempt++) {
		int64_t delay = 250;
		for (int i = 1; i < attempt; i++)
			delay = delay * 2 > 30000 ? 30000 : delay * 2;
		for (double j = 0.0; j < 1.0; j += 0.0625) {
			int64_t got = route_backoff_ms(attempt, 250, 30000, j);
			assert_in_range(got, delay / 2, delay);
		}
	}
}

/* ---- the sliding window (dead-letter bursts) ---- */

static void time_window(void **state)
{
	struct time_window w;

	(void)state;
	assert_int_equal(time_window_init(&w, 4, 10), CT_OK);
	assert_int_equal(time_window_count(&w, 100), 0);
	time_window_add(&w, 100);
	time_window_add(&w, 105);
	time_window_add(&w, 97); /* out of order, within the window: kept */
	time_window_add(&w, 95); /* a whole window behind the newest: ignored */
	assert_int_equal(time_window_count(&w, 105), 3);
	assert_int_equal(time_window_count(&w, 104), 2); /* 105 is in the future */
	assert_int_equal(time_window_count(&w, 110), 1); /* (100, 110]: 105 */
	time_window_add(&w, 106);
	time_window_add(&w, 107);
	time_window_add(&w, 108); /* the ring holds the last 4: 97, 106, 107, 108 */
	assert_int_equal(time_window_count(&w, 106), 2); /* 100 and 105 left the ring */
	assert_int_equal(time_window_count(&w, 108), 3); /* 97 left the window */
	/* Times at the ends of int64_t do not overflow the window arithmetic. */
	time_window_add(&w, INT64_MAX);
	assert_int_equal(time_window_count(&w, INT64_MIN), 0);
	assert_int_equal(time_window_count(&w, INT64_MAX), 1);
	time_window_free(&w);
	time_window_free(&w);
	assert_int_equal(time_window_init(&w, 0, 10), CT_ERR_INVALID);
	time_window_free(&w);
	assert_int_equal(time_window_init(&w, 1000001, 10), CT_ERR_INVALID);
	time_window_free(&w);

	/* As the router counts a service's dead letters: cap = router.deadletter_burst (5),
	 * window router.deadletter_window_s (60 s). The 5th within 60 s is a burst; more keep
	 * the count at the cap; a window after the first, four are left. */
	assert_int_equal(time_window_init(&w, 5, 60 * S_US), CT_OK);
	for (int i = 0; i < 4; i++) {
		time_window_add(&w, i * 10 * S_US);
		assert_int_equal(time_window_count(&w, i * 10 * S_US), (size_t)i + 1);
	}
	time_window_add(&w, 40 * S_US);
	assert_int_equal(time_window_count(&w, 40 * S_US), 5);
	for (int i = 0; i < 100; i++)
		time_window_add(&w, 41 * S_US + i);
	assert_int_equal(time_window_count(&w, 41 * S_US + 99), 5);
	assert_int_equal(time_window_count(&w, 41 * S_US + 99 + 60 * S_US), 0);
	time_window_free(&w);
	assert_int_equal(time_window_init(&w, 5, 60 * S_US), CT_OK);
	for (int i = 0; i < 5; i++)
		time_window_add(&w, i * 10 * S_US);
	assert_int_equal(time_window_count(&w, 60 * S_US - 1), 5);
	assert_int_equal(time_window_count(&w, 60 * S_US), 4); /* (0, 60]: the first left */
	time_window_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lifecycle_table),
	        cmocka_unit_test(timed_shelve),
	        cmocka_unit_test(out_of_service_story),
	        cmocka_unit_test(lifecycle_names),
	        cmocka_unit_test(route_match_table),
	        cmocka_unit_test(shifts),
	        cmocka_unit_test(route_parse_defaults),
	        cmocka_unit_test(route_parse_errors),
	        cmocka_unit_test(route_json),
	        cmocka_unit_test(route_round_trip),
	        cmocka_unit_test(backoff),
	        cmocka_unit_test(time_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
