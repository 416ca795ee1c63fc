/* routing: subscriptions, the shift calendar and delivery backoff (routing.h).
 *
 * A route is read from a routes-file line or a JSON object through one table of keys, so the
 * two forms accept exactly the same values and refuse with the same reasons (each naming its
 * key). Every value is checked when it is read (IDs by the ID rule, filters level by level,
 * globs by their characters, numbers by range), so route_matches and the delivery code can
 * trust a parsed route, and route_format_line can write it back as words that parse again to
 * the same route: no value of a parsed route holds a blank. Reasons are static strings. */
#include "routing.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ct_ids.h"

#define BLANKS " \t\r\n"

static const char *const severity_names[] = {NULL, "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};
static const char *const channel_names[] = {
        [CHANNEL_MQTT] = "mqtt",
        [CHANNEL_WEBHOOK] = "webhook",
        [CHANNEL_LOG] = "log",
};
/* The object kinds of an alert's key (README.md, "Identity"). */
static const char *const object_kinds[] = {"station", "asset",   "lot",
                                           "unit",    "service", "characteristic"};

/* ---- matching ---- */

/* Calls each item of a comma list (pointer, length); stops and returns true when fn does. */
static bool any_item(const char *list, bool (*fn)(const char *item, size_t len, const void *arg),
                     const void *arg)
{
	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		if (fn(p, len, arg))
			return true;
		p += len;
		if (*p == '\0')
			return false;
	}
}

static bool item_equals(const char *item, size_t len, const void *arg)
{
	const char *s = arg;
	return strlen(s) == len && memcmp(item, s, len) == 0;
}

/* '*' any run of characters, '?' one. Backtracks only to the last '*', so the cost is
 * bounded by len(pattern) * len(s) whatever the pattern. */
static bool glob_matches(const char *p, size_t plen, const void *arg)
{
	const char *s = arg;
	size_t pi = 0, si = 0, star = SIZE_MAX, star_s = 0;

	while (s[si] != '\0') {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			star_s = si;
		} else if (pi < plen && (p[pi] == '?' || p[pi] == s[si])) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++star_s;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* MQTT filter matching over the alert's levels: '+' one level, a final '#' the rest, its
 * parent included (MQTT 3.1.1, 4.7.1.2). */
static bool filter_matches(const char *f, const char *const *levels, size_t n)
{
	for (size_t i = 0;; i++) {
		size_t len = strcspn(f, "/");
		if (len == 1 && f[0] == '#')
			return f[1] == '\0';
		if (i == n)
			return false;
		if (!(len == 1 && f[0] == '+') &&
		    (strlen(levels[i]) != len || memcmp(levels[i], f, len) != 0))
			return false;
		if (f[len] == '\0')
			return i + 1 == n;
		f += len + 1;
	}
}

static const char *str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

struct tag_set {
	const char *const *tags;
	size_t n;
};

static bool tag_missing(const char *item, size_t len, const void *arg)
{
	const struct tag_set *set = arg;

	for (size_t i = 0; i < set->n; i++)
		if (set->tags[i] != NULL && item_equals(item, len, set->tags[i]))
			return false;
	return true;
}

bool route_matches(const struct route *r, const struct route_alert *a)
{
	const char *levels[3] = {str_or_empty(a->site), str_or_empty(a->line),
	                         str_or_empty(a->station)};
	const char *shift = str_or_empty(a->shift);
	struct tag_set tags = {a->tags, a->tags != NULL ? a->n_tags : 0};
	size_t n = 3;

	if (a->severity < r->min_severity)
		return false;
	/* A line-level alert (no station) is the topic "site/line": "site/line/#" covers it,
	 * "site/line/+" (one station of the line) does not; with no site, only "#" does. */
	while (n > 0 && levels[n - 1][0] == '\0')
		n--;
	if (r->filter[0] != '\0' && !filter_matches(r->filter, levels, n))
		return false;
	if (r->codes[0] != '\0' && !any_item(r->codes, glob_matches, str_or_empty(a->code)))
		return false;
	if (r->object_kinds[0] != '\0' &&
	    !any_item(r->object_kinds, item_equals, str_or_empty(a->object_kind)))
		return false;
	if (r->tags[0] != '\0' && any_item(r->tags, tag_missing, &tags))
		return false;
	/* With no calendar (shift "") a route limited to shifts never matches: the limit
	 * cannot be honoured, and saying nothing is safer than saying it to the wrong shift. */
	if (r->shifts[0] != '\0' && (shift[0] == '\0' || !any_item(r->shifts, item_equals, shift)))
		return false;
	return true;
}

/* ---- checking values ---- */

static bool is_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

static bool is_id_span(const char *s, size_t len)
{
	char id[CT_ID_MAX + 1];

	if (len == 0 || len > CT_ID_MAX)
		return false;
	memcpy(id, s, len);
	id[len] = '\0';
	return ct_id_is_valid(id);
}

/* Every item of a non-empty-item comma list passes ok (an empty list passes). */
static bool list_is_valid(const char *list, bool (*ok)(const char *item, size_t len))
{
	if (list[0] == '\0')
		return true;
	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		if (!ok(p, len))
			return false;
		p += len;
		if (*p == '\0')
			return true;
	}
}

static bool is_glob(const char *s, size_t len)
{
	if (len == 0 || len > CT_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_id_char(s[i]) && s[i] != '*' && s[i] != '?')
			return false;
	return true;
}

static bool is_object_kind(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(object_kinds) / sizeof(object_kinds[0]); i++)
		if (item_equals(s, len, object_kinds[i]))
			return true;
	return false;
}

/* site/line/station: at most three levels, each an ID or '+', or a final '#'. */
static bool is_filter(const char *f)
{
	for (size_t level = 0;; level++) {
		size_t len = strcspn(f, "/");
		if (level == 3)
			return false;
		if (len == 1 && f[0] == '#')
			return f[1] == '\0';
		if (!(len == 1 && f[0] == '+') && !is_id_span(f, len))
			return false;
		if (f[len] == '\0')
			return true;
		f += len + 1;
	}
}

/* An http(s) URL of printable ASCII without blanks: the delivery code parses the rest. */
static bool is_target(const char *s)
{
	const char *rest;

	if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else
		return false;
	if (*rest == '\0' || *rest == '/')
		return false;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* A decimal integer of digits only, within [min, max]. */
static bool parse_int(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	if (s[strspn(s, "0123456789")] != '\0' || s[0] == '\0' || strlen(s) > 9)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static bool parse_severity(const char *s, int *ret)
{
	long v;

	for (int i = 1; i <= 5; i++) {
		if (strcasecmp(s, severity_names[i]) == 0) {
			*ret = i;
			return true;
		}
	}
	if (!parse_int(s, 1, 5, &v))
		return false;
	*ret = (int)v;
	return true;
}

/* ---- the keys ---- */

enum key_type {
	K_ID,
	K_ID_OPT,
	K_TARGET,
	K_INT,
	K_SEVERITY,
	K_FILTER,
	K_CODES,
	K_KINDS,
	K_IDS,
	K_CHANNEL
};

struct key {
	const char *name;
	enum key_type type;
	size_t offset, size; /* the field in struct route (size: of a string field) */
	long min, max;       /* K_INT */
	const char *bad, *twice;
};

#define STR_KEY(name, type, field, what)                                                           \
	{                                                                                          \
		name, type, offsetof(struct route, field), sizeof(((struct route *)0)->field), 0,  \
		        0, name ": " what, name ": given twice"                                    \
	}
#define INT_KEY(name, field, min, max, what)                                                       \
	{                                                                                          \
		name, K_INT, offsetof(struct route, field), 0, min, max, name ": " what,           \
		        name ": given twice"                                                       \
	}

static const struct key keys[] = {
        STR_KEY("id", K_ID, id, "expected an ID (1-64 of A-Z a-z 0-9 . _ : -)"),
        STR_KEY("team", K_ID, team, "expected an ID (1-64 of A-Z a-z 0-9 . _ : -)"),
        INT_KEY("tier", tier, 1, 99, "expected an integer from 1 to 99"),
        {"severity", K_SEVERITY, offsetof(struct route, min_severity), 0, 1, 5,
         "severity: expected INFO, LOW, MEDIUM, HIGH, CRITICAL or 1-5", "severity: given twice"},
        STR_KEY("filter", K_FILTER, filter,
                "expected site/line/station, each level an ID or +, or a final #"),
        STR_KEY("codes", K_CODES, codes,
                "expected a comma list of code globs (A-Z a-z 0-9 . _ : - * ?), at most 511 "
                "characters"),
        STR_KEY("kinds", K_KINDS, object_kinds,
                "expected a comma list of station, asset, lot, unit, service, characteristic"),
        STR_KEY("tags", K_IDS, tags, "expected a comma list of IDs, at most 511 characters"),
        STR_KEY("shifts", K_IDS, shifts,
                "expected a comma list of shift names (IDs), at most 511 characters"),
        INT_KEY("delay_on", delay_on_s, 0, 86400, "expected seconds from 0 to 86400"),
        INT_KEY("delay_off", delay_off_s, 0, 86400, "expected seconds from 0 to 86400"),
        INT_KEY("rate", rate_per_min, 0, 100000, "expected deliveries per minute, 0 to 100000"),
        {"channel", K_CHANNEL, offsetof(struct route, channel), 0, 0, 0,
         "channel: expected mqtt, webhook or log", "channel: given twice"},
        STR_KEY("target", K_TARGET, target,
                "expected an http:// or https:// URL without blanks, at most 1023 characters"),
        INT_KEY("escalate_after", escalate_after_s, 0, 604800, "expected seconds from 0 to 604800"),
        STR_KEY("escalate_to", K_ID_OPT, escalate_to, "expected a subscription ID"),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char unknown_key[] =
        "unknown key (expected id, team, tier, severity, filter, codes, kinds, tags, shifts, "
        "delay_on, delay_off, rate, channel, target, escalate_after, escalate_to)";

static const struct key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (item_equals(name, len, keys[i].name))
			return &keys[i];
	return NULL;
}

static void route_defaults(struct route *r)
{
	memset(r, 0, sizeof(*r));
	r->tier = 1;
	r->min_severity = 1;
	r->filter[0] = '#';
	r->channel = CHANNEL_MQTT;
}

/* Sets key k from its text (len bytes, not NUL-terminated). */
static const char *set_text(struct route *r, const struct key *k, const char *value, size_t len)
{
	char text[ROUTE_TARGET_MAX];
	char *field = (char *)r + k->offset;
	bool ok = false;
	long v;
	int severity;

	if (len >= sizeof(text) || memchr(value, '\0', len) != NULL)
		return k->bad;
	memcpy(text, value, len);
	text[len] = '\0';
	switch (k->type) {
	case K_INT:
		if (!parse_int(text, k->min, k->max, &v))
			return k->bad;
		*(int *)(void *)field = (int)v;
		return NULL;
	case K_SEVERITY:
		if (!parse_severity(text, &severity))
			return k->bad;
		r->min_severity = severity;
		return NULL;
	case K_CHANNEL:
		for (size_t i = 0; i < sizeof(channel_names) / sizeof(channel_names[0]); i++) {
			if (strcmp(text, channel_names[i]) == 0) {
				r->channel = (enum route_channel)i;
				return NULL;
			}
		}
		return k->bad;
	case K_ID:
		ok = ct_id_is_valid(text);
		break;
	case K_ID_OPT:
		ok = len == 0 || ct_id_is_valid(text);
		break;
	case K_TARGET:
		ok = len == 0 || is_target(text);
		break;
	case K_FILTER:
		ok = is_filter(text);
		break;
	case K_CODES:
		ok = list_is_valid(text, is_glob);
		break;
	case K_KINDS:
		ok = list_is_valid(text, is_object_kind);
		break;
	case K_IDS:
		ok = list_is_valid(text, is_id_span);
		break;
	}
	if (!ok || len >= k->size)
		return k->bad;
	memcpy(field, text, len + 1);
	return NULL;
}

/* What no single key can check: required keys and keys that need each other. */
static const char *check_route(const struct route *r)
{
	if (r->id[0] == '\0')
		return "id: required";
	if (r->team[0] == '\0')
		return "team: required";
	if (r->channel == CHANNEL_WEBHOOK && r->target[0] == '\0')
		return "target: required with channel=webhook";
	if (r->channel != CHANNEL_WEBHOOK && r->target[0] != '\0')
		return "target: only with channel=webhook (mqtt delivers to the team topic)";
	if (r->escalate_after_s > 0 && r->escalate_to[0] == '\0')
		return "escalate_to: required with escalate_after";
	if (r->escalate_after_s == 0 && r->escalate_to[0] != '\0')
		return "escalate_after: required with escalate_to";
	if (strcmp(r->escalate_to, r->id) == 0)
		return "escalate_to: names the subscription itself";
	return NULL;
}

const char *route_parse_line(const char *line, struct route *ret)
{
	struct route r;
	unsigned seen = 0;
	const char *why;

	route_defaults(&r);
	for (const char *p = line + strspn(line, BLANKS); *p != '\0'; p += strspn(p, BLANKS)) {
		size_t len = strcspn(p, BLANKS);
		const char *eq = memchr(p, '=', len);
		const struct key *k;

		if (eq == NULL)
			return "expected key=value words";
		k = find_key(p, (size_t)(eq - p));
		if (k == NULL)
			return unknown_key;
		if (seen & 1u << (k - keys))
			return k->twice;
		seen |= 1u << (k - keys);
		why = set_text(&r, k, eq + 1, len - (size_t)(eq + 1 - p));
		if (why != NULL)
			return why;
		p += len;
	}
	why = check_route(&r);
	if (why != NULL)
		return why;
	*ret = r;
	return NULL;
}

static const char *set_json(struct route *r, const struct key *k, json_t *v)
{
	char text[16];
	json_int_t n;

	if (json_is_string(v))
		return k->type == K_INT
		               ? k->bad
		               : set_text(r, k, json_string_value(v), json_string_length(v));
	/* Numbers only where the line form has numbers (and severity's 1-5). */
	if (!json_is_integer(v) || (k->type != K_INT && k->type != K_SEVERITY))
		return k->bad;
	n = json_integer_value(v);
	if (n < k->min || n > k->max)
		return k->bad;
	snprintf(text, sizeof(text), "%ld", (long)n);
	return set_text(r, k, text, strlen(text));
}

const char *route_parse_json(const char *json, size_t len, struct route *ret)
{
	struct route r;
	unsigned seen = 0;
	const char *why = NULL, *name;
	json_error_t e;
	json_t *root, *v;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL)
		return "not valid JSON";
	route_defaults(&r);
	if (!json_is_object(root)) {
		why = "not a JSON object";
		goto out;
	}
	json_object_foreach(root, name, v)
	{
		const struct key *k = find_key(name, strlen(name));
		if (k == NULL) {
			why = unknown_key;
			goto out;
		}
		/* jansson refuses duplicate names already; kept for keys met twice anyway. */
		if (seen & 1u << (k - keys)) {
			why = k->twice;
			goto out;
		}
		seen |= 1u << (k - keys);
		why = set_json(&r, k, v);
		if (why != NULL)
			goto out;
	}
	why = check_route(&r);
	if (why == NULL)
		*ret = r;
out:
	json_decref(root);
	return why;
}

/* ---- writing ---- */

static bool append(char *buf, size_t len, size_t *used, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static bool append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *used)
		return false;
	*used += (size_t)n;
	return true;
}

int route_format_line(const struct route *r, char *buf, size_t len)
{
	size_t used = 0;
	bool ok;

	if ((unsigned)r->channel >= sizeof(channel_names) / sizeof(channel_names[0]))
		return -1;
	ok = append(buf, len, &used, "id=%s team=%s tier=%d", r->id, r->team, r->tier);
	if (r->min_severity >= 1 && r->min_severity <= 5)
		ok = ok && append(buf, len, &used, " severity=%s", severity_names[r->min_severity]);
	else
		ok = ok && append(buf, len, &used, " severity=%d", r->min_severity);
	ok = ok &&
	     append(buf, len, &used, " filter=%s channel=%s", r->filter, channel_names[r->channel]);
	/* Defaults ("" and 0) are left out: they parse back to the same values. */
	if (r->codes[0] != '\0')
		ok = ok && append(buf, len, &used, " codes=%s", r->codes);
	if (r->object_kinds[0] != '\0')
		ok = ok && append(buf, len, &used, " kinds=%s", r->object_kinds);
	if (r->tags[0] != '\0')
		ok = ok && append(buf, len, &used, " tags=%s", r->tags);
	if (r->shifts[0] != '\0')
		ok = ok && append(buf, len, &used, " shifts=%s", r->shifts);
	if (r->delay_on_s != 0)
		ok = ok && append(buf, len, &used, " delay_on=%d", r->delay_on_s);
	if (r->delay_off_s != 0)
		ok = ok && append(buf, len, &used, " delay_off=%d", r->delay_off_s);
	if (r->rate_per_min != 0)
		ok = ok && append(buf, len, &used, " rate=%d", r->rate_per_min);
	if (r->target[0] != '\0')
		ok = ok && append(buf, len, &used, " target=%s", r->target);
	if (r->escalate_after_s != 0)
		ok = ok && append(buf, len, &used, " escalate_after=%d", r->escalate_after_s);
	if (r->escalate_to[0] != '\0')
		ok = ok && append(buf, len, &used, " escalate_to=%s", r->escalate_to);
	return ok ? (int)used : -1;
}

/* ---- the shift calendar ---- */

#define SHIFT_BAD "shift calendar: expected NAME=HH:MM-HH:MM items separated by commas"

/* "HH:MM" at s, minutes after midnight; "24:00" only as an end (allow_24). */
static bool parse_clock(const char *s, bool allow_24, int *ret)
{
	int h, m;

	for (int i = 0; i < 5; i++)
		if (i == 2 ? s[i] != ':' : !(s[i] >= '0' && s[i] <= '9'))
			return false;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
		return false;
	*ret = (h * 60 + m) % 1440;
	return true;
}

const char *shift_calendar_parse(const char *text, struct shift_calendar *ret)
{
	struct shift_calendar cal;
	unsigned char taken[1440];
	const char *p = text + strspn(text, " \t");

	memset(&cal, 0, sizeof(cal));
	memset(taken, 0, sizeof(taken));
	while (*p != '\0') {
		size_t len = strcspn(p, ","), name_len, item_len = len;
		const char *eq = memchr(p, '=', len);
		int start, end;

		while (item_len > 0 && (p[item_len - 1] == ' ' || p[item_len - 1] == '\t'))
			item_len--;
		if (eq == NULL || item_len != (size_t)(eq - p) + 12 || eq[6] != '-' ||
		    !parse_clock(eq + 1, false, &start) || !parse_clock(eq + 7, true, &end))
			return SHIFT_BAD;
		name_len = (size_t)(eq - p);
		if (!is_id_span(p, name_len))
			return "shift calendar: a shift name must be an ID";
		if (start == end)
			return "shift calendar: a shift must not start when it ends";
		if (cal.n == sizeof(cal.shifts) / sizeof(cal.shifts[0]))
			return "shift calendar: more than 16 shifts";
		for (size_t i = 0; i < cal.n; i++)
			if (item_equals(p, name_len, cal.shifts[i].name))
				return "shift calendar: two shifts of one name";
		for (int m = start; m != end; m = (m + 1) % 1440) {
			if (taken[m])
				return "shift calendar: shifts overlap";
			taken[m] = 1;
		}
		memcpy(cal.shifts[cal.n].name, p, name_len);
		cal.shifts[cal.n].name[name_len] = '\0';
		cal.shifts[cal.n].start_min = start;
		cal.shifts[cal.n].end_min = end;
		cal.n++;
		p += len;
		if (*p == ',') {
			p++;
			p += strspn(p, " \t");
			if (*p == '\0')
				return SHIFT_BAD;
		}
	}
	*ret = cal;
	return NULL;
}

const char *shift_at(const struct shift_calendar *cal, int minute_of_day)
{
	if (minute_of_day < 0 || minute_of_day >= 1440)
		return "";
	for (size_t i = 0; i < cal->n && i < sizeof(cal->shifts) / sizeof(cal->shifts[0]); i++) {
		int s = cal->shifts[i].start_min, e = cal->shifts[i].end_min;
		/* A shift that crosses midnight (22:00-06:00) ends before it starts. */
		if (s < e ? minute_of_day >= s && minute_of_day < e
		          : minute_of_day >= s || minute_of_day < e)
			return cal->shifts[i].name;
	}
	return "";
}

/* ---- retries ---- */

int64_t route_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double jitter01)
{
	int64_t delay, half;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	delay = base_ms < max_ms ? base_ms : max_ms;
	for (int i = 1; i < attempt && delay < max_ms; i++)
		delay = delay > max_ms / 2 ? max_ms : delay * 2;
	if (!(jitter01 >= 0.0))
		jitter01 = 0.0; /* NaN and negatives */
	if (jitter01 >= 1.0)
		jitter01 = nextafter(1.0, 0.0);
	half = delay / 2;
	return delay - half + (int64_t)((double)half * jitter01);
}
