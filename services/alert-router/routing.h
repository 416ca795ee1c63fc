/* routing: which subscriptions an alert goes to, pure (no I/O).
 *
 * A subscription is a rule (severity at least, site/line/station as an MQTT-style filter,
 * code globs, object kinds, tags, shifts) and a delivery (an MQTT team topic, a webhook URL
 * or the log) with its hysteresis (delay-on, delay-off), rate limit and escalation (not
 * acknowledged within escalate_after_s: the alert goes to the subscription escalate_to, the
 * next tier). Subscriptions come from the router's config file (routes file, one line each)
 * and from run-time requests (JSON); both parse into struct route here, and the database
 * keeps them (table alert_subscription). */
#ifndef ALERT_ROUTING_H
#define ALERT_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_ID_MAX     65  /* subscription IDs and teams follow the ID rule (1-64) */
#define ROUTE_FILTER_MAX 200 /* site/line/station filter, e.g. "site1/L1/#", "+/+/FILL-01" */
#define ROUTE_LIST_MAX   512 /* comma lists: codes, object kinds, tags, shifts */
#define ROUTE_TARGET_MAX 1024

enum route_channel { CHANNEL_MQTT = 0, CHANNEL_WEBHOOK, CHANNEL_LOG };

struct route {
	char id[ROUTE_ID_MAX];             /* subscription_id */
	char team[ROUTE_ID_MAX];           /* operator position / team: ct/v1/alert/team/{team} */
	int tier;                          /* 1 first responders, 2 their escalation, ... */
	int min_severity;                  /* 1 INFO .. 5 CRITICAL (proto Severity) */
	char filter[ROUTE_FILTER_MAX];     /* "site/line/station" with + and #; "#" = all */
	char codes[ROUTE_LIST_MAX];        /* comma list of globs (* and ?), "" = every code */
	char object_kinds[ROUTE_LIST_MAX]; /* comma list, "" = every kind */
	char tags[ROUTE_LIST_MAX];         /* comma list; every one must be on the alert */
	char shifts[ROUTE_LIST_MAX];       /* comma list of shift names, "" = always */
	int delay_on_s, delay_off_s;
	int rate_per_min; /* deliveries per minute at most, 0 = no limit */
	enum route_channel channel;
	char target[ROUTE_TARGET_MAX];  /* webhook URL (http:// or https://); "" otherwise */
	int escalate_after_s;           /* 0 = never */
	char escalate_to[ROUTE_ID_MAX]; /* subscription_id of the next tier, "" = none */
};

/* What routing looks at on an alert. */
struct route_alert {
	int severity;
	const char *site, *line, *station; /* "" when the alert has none */
	const char *code;
	const char *object_kind;
	const char *const *tags;
	size_t n_tags;
	const char *shift; /* the shift in force when it was raised ("" when no calendar) */
};

/* True when r's rule matches a. The filter is matched as MQTT does against the alert's
 * "site/line/station" without its empty trailing levels: an alert with no station is
 * "site/line", covered by "site/line/#" but not by "site/line/+"; one with no site only by
 * "#". A route limited to shifts matches no alert whose shift is "" (no calendar). */
bool route_matches(const struct route *r, const struct route_alert *a);

/* Parses a routes-file line, words "key=value" separated by blanks, e.g.
 *   id=quality-l1 team=quality severity=MEDIUM filter=site1/L1/# codes=SPC_*,LOT_HELD
 *   channel=webhook target=https://hooks.example/x delay_on=10 delay_off=30 rate=20
 *   escalate_after=900 escalate_to=quality-lead tier=1 tags=a,b shifts=A,B kinds=station
 * id and team are required; severity is a name (INFO..CRITICAL) or 1-5; channel defaults to
 * mqtt. Returns NULL with *ret filled, or why the line is refused: a static string that names
 * the key ("tier: expected an integer from 1 to 99"), *ret untouched. */
const char *route_parse_line(const char *line, struct route *ret);
/* The same from a JSON object with the same keys (run-time subscription requests and the
 * database's row as JSON): strings where the line has words, integers where it has numbers
 * (severity either); unknown keys, duplicate keys and other types are refused. */
const char *route_parse_json(const char *json, size_t len, struct route *ret);
/* Writes r as a routes-file line (round-trips through route_parse_line). Returns the length,
 * or -1 when it does not fit. */
int route_format_line(const struct route *r, char *buf, size_t len);

/* The shift calendar: "A=06:00-14:00,B=14:00-22:00,C=22:00-06:00" (local time of the
 * router's TZ; a shift may cross midnight). */
struct shift_calendar {
	size_t n;
	struct {
		char name[ROUTE_ID_MAX];
		int start_min, end_min; /* minutes after midnight */
	} shifts[16];
};
/* Returns NULL with *ret filled ("" gives no shifts), or why text is refused (a static
 * string: bad syntax, a name that is not an ID, two shifts of one name, overlapping shifts, a
 * shift of no length, more than 16), *ret untouched. Gaps are allowed; "24:00" may end one. */
const char *shift_calendar_parse(const char *text, struct shift_calendar *ret);
/* The shift in force at minute_of_day (0..1439), "" when none. */
const char *shift_at(const struct shift_calendar *cal, int minute_of_day);

/* Retry delay for attempt n (1 = the first retry; less counts as 1): base_ms * 2^(n-1) capped
 * at max_ms, then jitter ("equal jitter": half fixed, half scaled by jitter01 in [0,1)): the
 * result is in [delay/2, delay]. 0 when base_ms or max_ms is not positive. Pure; the caller
 * supplies the random number. */
int64_t route_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double jitter01);

#endif
