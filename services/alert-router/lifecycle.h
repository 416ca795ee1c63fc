/* lifecycle: the ISA-18.2 alarm state machine, pure (no I/O), so every transition is unit
 * tested and fuzzed apart from the database that stores it.
 *
 * An occurrence of an alert is in one alarm state (ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK,
 * NORMAL: cleared and acknowledged, the occurrence closed) and carries three orthogonal
 * flags: shelved (one-shot: until it clears; timed: until shelved_until_us), suppressed by
 * design, out of service. A flagged alert still follows its state, but is not annunciated
 * (nothing is delivered to people; the audit and the event stream still see it). */
#ifndef ALERT_LIFECYCLE_H
#define ALERT_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

enum alarm_state {
	ALARM_NORMAL = 0,
	ALARM_ACTIVE_UNACK,
	ALARM_ACTIVE_ACK,
	ALARM_CLEARED_UNACK,
};

enum alarm_shelve { SHELVE_NONE = 0, SHELVE_ONE_SHOT, SHELVE_TIMED };

/* What happens to an alert. REPEAT is a raise of an alert already active (count, last value,
 * last seen change; no audit row). */
enum alarm_action {
	ACT_RAISE = 0,
	ACT_REPEAT,
	ACT_CLEAR,
	ACT_ACK,
	ACT_SHELVE,
	ACT_UNSHELVE,
	ACT_SHELVE_EXPIRED,
	ACT_SUPPRESS,
	ACT_UNSUPPRESS,
	ACT_COMMENT,
	ACT_REMOVE_FROM_SERVICE,
	ACT_RETURN_TO_SERVICE,
	ACT_ESCALATE,
	ACT_CHATTER,
	ACT_SUPERSEDED,
	ACT_COUNT_
};

/* One occurrence's state as stored (table alert). */
struct alarm {
	enum alarm_state state;
	enum alarm_shelve shelved;
	int64_t shelved_until_us; /* TIMED only */
	bool suppressed;
	bool out_of_service;
	bool chattering;
};

/* A request to change an alert. */
struct alarm_request {
	enum alarm_action action;
	int64_t at_us;
	int64_t shelve_until_us;   /* SHELVE: 0 = one-shot, else timed until this time */
	int64_t max_shelve_us;     /* the cap of a timed shelve (router.max_shelve_s); <= 0: none */
	bool has_actor_and_reason; /* who and why given (required for operator actions) */
};

/* The outcome of alarm_apply. */
struct alarm_outcome {
	struct alarm after;
	bool changed;    /* an audit row is written: every accepted action but REPEAT (COMMENT
	                  * and ESCALATE change no state or flag but are audited) */
	bool annunciate; /* people are told (deliveries), false while shelved, suppressed or out
	                  * of service, and for COMMENT */
	bool closes;     /* the occurrence ends (state NORMAL) */
};

/* Applies req to a (the current occurrence; for RAISE of a new occurrence pass a NORMAL
 * alarm carrying the key's flags; RAISE is also accepted on a CLEARED_UNACK one, the router
 * closing that one with SUPERSEDED). Returns NULL with *out filled, or a short static reason
 * why the action is refused in this state ("not active", "already acknowledged", "actor and
 * reason required", "already shelved", ...); a refused action leaves *out untouched. A timed
 * shelve past max_shelve_us is capped, not refused. Operator actions (SHELVE, UNSHELVE,
 * COMMENT, REMOVE_FROM_SERVICE, RETURN_TO_SERVICE) need has_actor_and_reason. */
const char *alarm_apply(const struct alarm *a, const struct alarm_request *req,
                        struct alarm_outcome *out);

/* True when a's timed shelve has expired at now_us (the router then applies
 * ACT_SHELVE_EXPIRED). */
bool alarm_shelve_expired(const struct alarm *a, int64_t now_us);

/* Text forms used in the database, the JSON and the CLI ("ACTIVE_UNACK", "RAISE", "TIMED");
 * parse returns false for an unknown name. */
const char *alarm_state_name(enum alarm_state s);
bool alarm_state_parse(const char *name, enum alarm_state *ret);
const char *alarm_action_name(enum alarm_action a);
bool alarm_action_parse(const char *name, enum alarm_action *ret);
const char *alarm_shelve_name(enum alarm_shelve s); /* "" for SHELVE_NONE */
bool alarm_shelve_parse(const char *name, enum alarm_shelve *ret);

#endif
