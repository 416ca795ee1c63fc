/* lifecycle: the ISA-18.2 alarm state machine (lifecycle.h).
 *
 * One function decides every transition from (state, flags, request) alone, so the router,
 * the tests and a replay all reach the same answer. A refused request leaves *out untouched
 * and returns a static reason; an accepted one describes the occurrence after it. Whether
 * people are told (annunciate) is judged on the flags in force when the transition happens:
 * a one-shot shelved alarm that clears ends its shelve, but its clearing is not announced,
 * since nobody was told it was raised. Making an alert visible again (unshelve, shelve
 * expired, unsuppress, return to service) announces its current state if it is still open. */
#include "lifecycle.h"

#include <stddef.h>
#include <string.h>

static const char *const state_names[] = {
        [ALARM_NORMAL] = "NORMAL",
        [ALARM_ACTIVE_UNACK] = "ACTIVE_UNACK",
        [ALARM_ACTIVE_ACK] = "ACTIVE_ACK",
        [ALARM_CLEARED_UNACK] = "CLEARED_UNACK",
};

static const char *const action_names[ACT_COUNT_] = {
        [ACT_RAISE] = "RAISE",
        [ACT_REPEAT] = "REPEAT",
        [ACT_CLEAR] = "CLEAR",
        [ACT_ACK] = "ACK",
        [ACT_SHELVE] = "SHELVE",
        [ACT_UNSHELVE] = "UNSHELVE",
        [ACT_SHELVE_EXPIRED] = "SHELVE_EXPIRED",
        [ACT_SUPPRESS] = "SUPPRESS",
        [ACT_UNSUPPRESS] = "UNSUPPRESS",
        [ACT_COMMENT] = "COMMENT",
        [ACT_REMOVE_FROM_SERVICE] = "REMOVE_FROM_SERVICE",
        [ACT_RETURN_TO_SERVICE] = "RETURN_TO_SERVICE",
        [ACT_ESCALATE] = "ESCALATE",
        [ACT_CHATTER] = "CHATTER",
        [ACT_SUPERSEDED] = "SUPERSEDED",
};

static const char *const shelve_names[] = {
        [SHELVE_NONE] = "",
        [SHELVE_ONE_SHOT] = "ONE_SHOT",
        [SHELVE_TIMED] = "TIMED",
};

#define N_STATES  (sizeof(state_names) / sizeof(state_names[0]))
#define N_SHELVES (sizeof(shelve_names) / sizeof(shelve_names[0]))

/* A person acting on an occurrence that has ended (a later one of the same alert may be the
 * current one, carrying its flags): refused, so the action lands where it was meant. */
#define OCCURRENCE_CLOSED "occurrence closed"

/* Hidden from people: shelved, suppressed by design or out of service. */
static bool hidden(const struct alarm *a)
{
	return a->shelved != SHELVE_NONE || a->suppressed || a->out_of_service;
}

static bool is_active(enum alarm_state s)
{
	return s == ALARM_ACTIVE_UNACK || s == ALARM_ACTIVE_ACK;
}

/* Operator actions: a person must say who and why (the audit's point). */
static bool needs_actor_and_reason(enum alarm_action act)
{
	return act == ACT_SHELVE || act == ACT_UNSHELVE || act == ACT_COMMENT ||
	       act == ACT_REMOVE_FROM_SERVICE || act == ACT_RETURN_TO_SERVICE;
}

/* The end of a timed shelve starting at `at`: the requested end, no later than at + max
 * (max <= 0: no cap), computed without overflow. */
static int64_t capped_until(int64_t at, int64_t until, int64_t max)
{
	int64_t limit;

	if (max <= 0)
		return until;
	limit = at > INT64_MAX - max ? INT64_MAX : at + max;
	return until < limit ? until : limit;
}

static const char *shelve(const struct alarm *a, const struct alarm_request *req,
                          struct alarm *after)
{
	if (a->shelved != SHELVE_NONE)
		return "already shelved";
	if (a->state == ALARM_NORMAL)
		return OCCURRENCE_CLOSED;
	if (req->shelve_until_us == 0) {
		/* One-shot ends when the alert clears: one already cleared has nothing to wait
		 * for. */
		if (!is_active(a->state))
			return "not active (a one-shot shelve ends when the alert clears)";
		after->shelved = SHELVE_ONE_SHOT;
		after->shelved_until_us = 0;
		return NULL;
	}
	if (req->shelve_until_us <= req->at_us)
		return "shelve end not in the future";
	after->shelved = SHELVE_TIMED;
	after->shelved_until_us =
	        capped_until(req->at_us, req->shelve_until_us, req->max_shelve_us);
	return NULL;
}

/* The state change of a state-changing action, or why it is refused. */
static const char *transition(const struct alarm *a, const struct alarm_request *req,
                              struct alarm *after)
{
	switch (req->action) {
	case ACT_RAISE:
		/* A RAISE describes the new occurrence; the router closes a CLEARED_UNACK
		 * predecessor with SUPERSEDED. */
		if (is_active(a->state))
			return "already active";
		after->state = ALARM_ACTIVE_UNACK;
		return NULL;
	case ACT_REPEAT:
		return is_active(a->state) ? NULL : "not active";
	case ACT_CLEAR:
		if (!is_active(a->state))
			return "not active";
		after->state = a->state == ALARM_ACTIVE_UNACK ? ALARM_CLEARED_UNACK : ALARM_NORMAL;
		if (a->shelved == SHELVE_ONE_SHOT)
			after->shelved = SHELVE_NONE;
		return NULL;
	case ACT_ACK:
		if (a->state == ALARM_ACTIVE_UNACK)
			after->state = ALARM_ACTIVE_ACK;
		else if (a->state == ALARM_CLEARED_UNACK)
			after->state = ALARM_NORMAL;
		else
			return "already acknowledged";
		return NULL;
	case ACT_SHELVE:
		return shelve(a, req, after);
	case ACT_UNSHELVE:
		if (a->state == ALARM_NORMAL)
			return OCCURRENCE_CLOSED;
		if (a->shelved == SHELVE_NONE)
			return "not shelved";
		after->shelved = SHELVE_NONE;
		after->shelved_until_us = 0;
		return NULL;
	case ACT_SHELVE_EXPIRED:
		if (a->shelved != SHELVE_TIMED)
			return "not shelved with an expiry";
		if (!alarm_shelve_expired(a, req->at_us))
			return "shelve not expired";
		after->shelved = SHELVE_NONE;
		after->shelved_until_us = 0;
		return NULL;
	case ACT_SUPPRESS:
		if (a->suppressed)
			return "already suppressed";
		after->suppressed = true;
		return NULL;
	case ACT_UNSUPPRESS:
		if (!a->suppressed)
			return "not suppressed";
		after->suppressed = false;
		return NULL;
	case ACT_COMMENT:
		return NULL;
	case ACT_REMOVE_FROM_SERVICE:
		if (a->state == ALARM_NORMAL)
			return OCCURRENCE_CLOSED;
		if (a->out_of_service)
			return "already out of service";
		after->out_of_service = true;
		return NULL;
	case ACT_RETURN_TO_SERVICE:
		if (a->state == ALARM_NORMAL)
			return OCCURRENCE_CLOSED;
		if (!a->out_of_service)
			return "not out of service";
		after->out_of_service = false;
		return NULL;
	case ACT_ESCALATE:
		/* Escalating what people chose not to see would defeat shelving and
		 * suppression; the router simply does not escalate such an alert. */
		if (a->state != ALARM_ACTIVE_UNACK)
			return "not active and unacknowledged";
		if (hidden(a))
			return "shelved, suppressed or out of service";
		return NULL;
	case ACT_CHATTER:
		if (a->chattering)
			return "already chattering";
		after->chattering = true;
		return NULL;
	case ACT_SUPERSEDED:
		if (a->state != ALARM_CLEARED_UNACK)
			return "not cleared and unacknowledged";
		after->state = ALARM_NORMAL;
		return NULL;
	case ACT_COUNT_:
		break;
	}
	return "unknown action";
}

const char *alarm_apply(const struct alarm *a, const struct alarm_request *req,
                        struct alarm_outcome *out)
{
	struct alarm after = *a;
	const char *why;
	bool announce;

	if ((unsigned)a->state >= N_STATES || (unsigned)a->shelved >= N_SHELVES)
		return "unknown state";
	if ((unsigned)req->action >= ACT_COUNT_)
		return "unknown action";
	if (needs_actor_and_reason(req->action) && !req->has_actor_and_reason)
		return "actor and reason required";
	why = transition(a, req, &after);
	if (why != NULL)
		return why;

	switch (req->action) {
	case ACT_RAISE:
	case ACT_CLEAR:
	case ACT_ACK:
	case ACT_ESCALATE:
		announce = !hidden(a);
		break;
	case ACT_UNSHELVE:
	case ACT_SHELVE_EXPIRED:
	case ACT_UNSUPPRESS:
	case ACT_RETURN_TO_SERVICE:
		announce = !hidden(&after) && after.state != ALARM_NORMAL;
		break;
	default:
		/* REPEAT (the alert is already known), COMMENT, SHELVE, SUPPRESS, REMOVE, CHATTER
		 * and SUPERSEDED go to the audit and the event stream only. */
		announce = false;
		break;
	}
	out->after = after;
	/* REPEAT is no audit transition; COMMENT and ESCALATE change no flag but are audited. */
	out->changed = req->action != ACT_REPEAT;
	out->annunciate = announce;
	out->closes = a->state != ALARM_NORMAL && after.state == ALARM_NORMAL;
	return NULL;
}

bool alarm_shelve_expired(const struct alarm *a, int64_t now_us)
{
	return a->shelved == SHELVE_TIMED && now_us >= a->shelved_until_us;
}

static bool parse_name(const char *const *names, size_t n, const char *name, int *ret)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], name) == 0) {
			*ret = (int)i;
			return true;
		}
	}
	return false;
}

const char *alarm_state_name(enum alarm_state s)
{
	return (unsigned)s < N_STATES ? state_names[s] : "?";
}

bool alarm_state_parse(const char *name, enum alarm_state *ret)
{
	int v;

	if (!parse_name(state_names, N_STATES, name, &v))
		return false;
	*ret = (enum alarm_state)v;
	return true;
}

const char *alarm_action_name(enum alarm_action a)
{
	return (unsigned)a < ACT_COUNT_ ? action_names[a] : "?";
}

bool alarm_action_parse(const char *name, enum alarm_action *ret)
{
	int v;

	if (!parse_name(action_names, ACT_COUNT_, name, &v))
		return false;
	*ret = (enum alarm_action)v;
	return true;
}

const char *alarm_shelve_name(enum alarm_shelve s)
{
	return (unsigned)s < N_SHELVES ? shelve_names[s] : "?";
}

bool alarm_shelve_parse(const char *name, enum alarm_shelve *ret)
{
	int v;

	if (!parse_name(shelve_names, N_SHELVES, name, &v))
		return false;
	*ret = (enum alarm_shelve)v;
	return true;
}
