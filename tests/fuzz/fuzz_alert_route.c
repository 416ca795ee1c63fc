/* Fuzz target: alert-router's readers of subscriptions and shifts (services/alert-router/
 * routing.h): route_parse_line (the routes file), route_parse_json (run-time requests),
 * shift_calendar_parse, and route_matches on what they accept.
 *
 * Input lines: a routes-file line; a shift calendar; an alert "site line station code kind
 * tag..." (blank-separated, '-' for an empty field); then JSON bytes to the end. Checked: a
 * refusal gives a reason and leaves the output alone; an accepted route keeps its invariants
 * (IDs, ranges, a webhook has a URL, escalation names another subscription), formats to a
 * line that parses back to the same route and formats the same again; an accepted JSON route
 * is the route its formatted line gives; route_matches agrees with an independent reading of
 * the rules (recursive globs, MQTT filters over the alert's levels); an accepted calendar has
 * at most one shift per minute, shift_at finds it, and it reads back from its own text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_ids.h"
#include "fuzz_util.h"
#include "routing.h"

#define FUZZ_MAX_INPUT (1u << 13)
#define FUZZ_MAX_TAGS  8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- an independent reading of the matching rules ---- */

/* Recursive glob: '*' any run, '?' one character. Inputs are short (IDs of up to 64). */
static bool glob(const char *p, size_t plen, const char *s)
{
	if (plen == 0)
		return *s == '\0';
	if (*p == '*')
		return glob(p + 1, plen - 1, s) || (*s != '\0' && glob(p, plen, s + 1));
	return *s != '\0' && (*p == '?' || *p == *s) && glob(p + 1, plen - 1, s + 1);
}

/* The n-th item of a comma list (pointer, length); false past the end. */
static bool item(const char *list, size_t n, const char **ret, size_t *ret_len)
{
	const char *p = list;

	for (size_t i = 0; i < n; i++) {
		p = strchr(p, ',');
		if (p == NULL)
			return false;
		p++;
	}
	*ret = p;
	*ret_len = strcspn(p, ",");
	return true;
}

static bool in_list(const char *list, const char *s, bool globs)
{
	const char *it;
	size_t len;

	for (size_t i = 0; item(list, i, &it, &len); i++)
		if (globs ? glob(it, len, s) : (strlen(s) == len && strncmp(it, s, len) == 0))
			return true;
	return false;
}

/* The alert's topic: "site/line/station" without its empty trailing levels. */
static void alert_topic(const struct route_alert *a, char *buf, size_t len)
{
	if (a->station[0] != '\0')
		snprintf(buf, len, "%s/%s/%s", a->site, a->line, a->station);
	else if (a->line[0] != '\0')
		snprintf(buf, len, "%s/%s", a->site, a->line);
	else
		snprintf(buf, len, "%s", a->site);
}

/* MQTT matching of a filter against a topic string ("" has no levels: only "#"). */
static bool topic_matches(const char *f, const char *t)
{
	if (strcmp(f, "#") == 0)
		return true;
	if (*t == '\0')
		return false;
	for (;;) {
		size_t fl = strcspn(f, "/"), tl = strcspn(t, "/");
		if (fl == 1 && *f == '#')
			return true;
		if (!(fl == 1 && *f == '+') && (fl != tl || strncmp(f, t, fl) != 0))
			return false;
		f += fl;
		t += tl;
		if (*f == '\0' || *t == '\0')
			return *t == '\0' && (*f == '\0' || strcmp(f, "/#") == 0);
		f++;
		t++;
	}
}

static bool expect_match(const struct route *r, const struct route_alert *a)
{
	char topic[3 * (CT_ID_MAX + 1)];
	const char *it;
	size_t len;

	alert_topic(a, topic, sizeof(topic));
	if (a->severity < r->min_severity || !topic_matches(r->filter, topic))
		return false;
	if (r->codes[0] != '\0' && !in_list(r->codes, a->code, true))
		return false;
	if (r->object_kinds[0] != '\0' && !in_list(r->object_kinds, a->object_kind, false))
		return false;
	for (size_t i = 0; r->tags[0] != '\0' && item(r->tags, i, &it, &len); i++) {
		bool found = false;
		for (size_t j = 0; j < a->n_tags; j++)
			found = found ||
			        (strlen(a->tags[j]) == len && strncmp(it, a->tags[j], len) == 0);
		if (!found)
			return false;
	}
	return r->shifts[0] == '\0' || (a->shift[0] != '\0' && in_list(r->shifts, a->shift, false));
}

/* ---- checks ---- */

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

static void check_invariants(const struct route *r)
{
	if (!ct_id_is_valid(r->id) || !ct_id_is_valid(r->team) || r->tier < 1 || r->tier > 99 ||
	    r->min_severity < 1 || r->min_severity > 5 || r->filter[0] == '\0' ||
	    r->delay_on_s < 0 || r->delay_off_s < 0 || r->rate_per_min < 0 ||
	    r->escalate_after_s < 0 || (r->channel == CHANNEL_WEBHOOK) != (r->target[0] != '\0') ||
	    (r->escalate_after_s > 0) != (r->escalate_to[0] != '\0') ||
	    strcmp(r->id, r->escalate_to) == 0)
		abort();
	if (r->escalate_to[0] != '\0' && !ct_id_is_valid(r->escalate_to))
		abort();
	/* No value holds a blank: the line form could not carry it. */
	if (strpbrk(r->filter, " \t") || strpbrk(r->codes, " \t") || strpbrk(r->tags, " \t") ||
	    strpbrk(r->shifts, " \t") || strpbrk(r->target, " \t") ||
	    strpbrk(r->object_kinds, " \t"))
		abort();
}

/* Formats r, parses the line back and formats again; returns the route read back. */
static struct route round_trip(const struct route *r)
{
	static char line[8192], again[8192];
	struct route back;
	int n = route_format_line(r, line, sizeof(line));

	if (n < 0 || (size_t)n != strlen(line) || route_parse_line(line, &back) != NULL)
		abort();
	if (!route_equal(r, &back))
		abort();
	if (route_format_line(&back, again, sizeof(again)) != n || strcmp(line, again) != 0)
		abort();
	/* One byte short does not fit. */
	if (route_format_line(r, again, (size_t)n) != -1)
		abort();
	return back;
}

static void check_matches(const struct route *r, char *alert_line, const char *shift)
{
	char *field[6 + FUZZ_MAX_TAGS], *save = NULL, *tok;
	const char *tags[FUZZ_MAX_TAGS];
	size_t n = 0;
	struct route_alert a;

	for (tok = strtok_r(alert_line, " ", &save); tok != NULL && n < 6 + FUZZ_MAX_TAGS;
	     tok = strtok_r(NULL, " ", &save))
		field[n++] = strcmp(tok, "-") == 0 ? tok + 1 : tok;
	for (size_t i = n; i < 6; i++)
		field[i] = (char *)"";
	for (size_t i = 6; i < n; i++)
		tags[i - 6] = field[i];
	/* Site, line and station are IDs in every alert the router sees: a '/' in one would make
	 * the topic string read as other levels than the fields, and they fit alert_topic's
	 * buffer. */
	for (size_t i = 0; i < 3; i++)
		if (strchr(field[i], '/') != NULL || strlen(field[i]) > CT_ID_MAX)
			return;
	for (int severity = 0; severity <= 6; severity++) {
		a = (struct route_alert){severity, field[0], field[1],          field[2], field[3],
		                         field[4], tags,     n > 6 ? n - 6 : 0, field[5]};
		if (route_matches(r, &a) != expect_match(r, &a))
			abort();
		/* The calendar's shift in force, as the router would give it. */
		a.shift = shift;
		if (route_matches(r, &a) != expect_match(r, &a))
			abort();
	}
}

static void check_calendar(const char *text)
{
	static struct shift_calendar cal, back;
	char line[16 * 80] = "";
	size_t used = 0;

	memset(&cal, 0x5a, sizeof(cal));
	if (shift_calendar_parse(text, &cal) != NULL) {
		for (size_t i = 0; i < sizeof(cal); i++)
			if (((unsigned char *)&cal)[i] != 0x5a)
				abort();
		return;
	}
	if (cal.n > 16)
		abort();
	for (int m = 0; m < 1440; m++) {
		const char *name = "";
		for (size_t i = 0; i < cal.n; i++) {
			int s = cal.shifts[i].start_min, e = cal.shifts[i].end_min;
			bool in = s < e ? m >= s && m < e : m >= s || m < e;
			if (!in)
				continue;
			if (name[0] != '\0')
				abort(); /* two shifts at one minute */
			name = cal.shifts[i].name;
		}
		if (strcmp(shift_at(&cal, m), name) != 0)
			abort();
	}
	for (size_t i = 0; i < cal.n; i++) {
		int s = cal.shifts[i].start_min, e = cal.shifts[i].end_min;
		if (!ct_id_is_valid(cal.shifts[i].name) || s < 0 || s >= 1440 || e < 0 ||
		    e >= 1440 || s == e)
			abort();
		used += (size_t)snprintf(line + used, sizeof(line) - used,
		                         "%s%s=%02d:%02d-%02d:%02d", i > 0 ? "," : "",
		                         cal.shifts[i].name, s / 60, s % 60, e / 60, e % 60);
		if (used >= sizeof(line))
			abort();
	}
	if (shift_calendar_parse(line, &back) != NULL || back.n != cal.n)
		abort();
	for (size_t i = 0; i < cal.n; i++)
		if (strcmp(back.shifts[i].name, cal.shifts[i].name) != 0 ||
		    back.shifts[i].start_min != cal.shifts[i].start_min ||
		    back.shifts[i].end_min != cal.shifts[i].end_min)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct route r, j;
	struct fuzz_input in = {data, size, 0};
	struct shift_calendar cal;
	char *line, *calendar, *alert_line;
	const char *why, *shift = "";
	uint8_t *json;
	size_t json_len = size;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	line = fuzz_take_line(&in);
	calendar = fuzz_take_line(&in);
	alert_line = fuzz_take_line(&in);
	if (line == NULL)
		return 0;

	if (calendar != NULL) {
		check_calendar(calendar);
		if (shift_calendar_parse(calendar, &cal) == NULL)
			shift = shift_at(&cal, (int)(size % 1440));
	}

	memset(&r, 0x5a, sizeof(r));
	why = route_parse_line(line, &r);
	if (why != NULL) {
		if (why[0] == '\0' || ((unsigned char *)&r)[0] != 0x5a)
			abort();
	} else {
		check_invariants(&r);
		(void)round_trip(&r);
		if (alert_line != NULL)
			check_matches(&r, alert_line, shift);
	}

	/* The rest is JSON; an exact heap copy so a read past its end is caught. */
	json_len = in.size - in.pos;
	json = malloc(json_len > 0 ? json_len : 1);
	if (json != NULL) {
		if (json_len > 0)
			memcpy(json, in.data + in.pos, json_len);
		memset(&j, 0x5a, sizeof(j));
		why = route_parse_json((const char *)json, json_len, &j);
		if (why != NULL) {
			if (why[0] == '\0' || ((unsigned char *)&j)[0] != 0x5a)
				abort();
		} else {
			struct route back;
			check_invariants(&j);
			back = round_trip(&j);
			if (!route_equal(&back, &j))
				abort();
		}
		free(json);
	}
	free(line);
	free(calendar);
	free(alert_line);
	return 0;
}
