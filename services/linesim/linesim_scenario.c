/* linesim_scenario: the scripted scenario file of sim.scenario (format in README.md).
 *
 * One statement a line, '#' starts a comment: `start TIME`, `rate CELLS_PER_S`, and events
 * `SECONDS TARGET VERB ARGS...` with SECONDS after the start, TARGET a line ("L1") or a
 * station ID ("L1-WELD-01"), and `SECONDS end`. Every error names its line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"
#include "linesim_internal.h"

#define MAX_WORDS    8
#define MAX_FILE     (1024 * 1024)
#define MAX_COUNT    100000
#define MAX_OFFSET_S (366.0 * 86400.0)

struct words {
	char *w[MAX_WORDS];
	size_t n;
};

/* Splits `text` (modified) into blank-separated words; a '#' ends the line. False when the
 * line has more than MAX_WORDS words. */
static bool split(char *text, struct words *ret)
{
	char *p = text;

	ret->n = 0;
	p[strcspn(p, "#")] = '\0';
	for (;;) {
		size_t len;

		p += strspn(p, " \t\r");
		if (*p == '\0')
			return true;
		if (ret->n == MAX_WORDS)
			return false;
		len = strcspn(p, " \t\r");
		ret->w[ret->n++] = p;
		if (p[len] == '\0')
			return true;
		p[len] = '\0';
		p += len + 1;
	}
}

/* A decimal number in [lo, hi] (ct_parse_double: no hex, inf or nan, which strtod takes). */
static bool number(const char *s, double lo, double hi, double *ret)
{
	return ct_parse_double(s, lo, hi, ret) == CT_OK;
}

static bool count(const char *s, unsigned *ret)
{
	double v;

	if (!number(s, 1, MAX_COUNT, &v) || v != floor(v))
		return false;
	*ret = (unsigned)v;
	return true;
}

/* "L3" -> line 2, station -1; "L3-WELD-01" -> line 2, station LS_WELD. */
static bool target(const char *s, unsigned *ret_line, int *ret_station)
{
	char *end;
	unsigned long n;

	if (s[0] != 'L' || s[1] < '1' || s[1] > '9')
		return false;
	n = strtoul(s + 1, &end, 10);
	if (n < 1 || n > LINESIM_MAX_LINES)
		return false;
	*ret_line = (unsigned)(n - 1);
	*ret_station = -1;
	if (*end == '\0')
		return true;
	if (*end != '-')
		return false;
	for (unsigned st = 0; st < LS_N_STATIONS; st++)
		if (strcmp(end + 1, ls_stations[st].code) == 0) {
			*ret_station = (int)st;
			return true;
		}
	return false;
}

/* A reason code as ingest takes it: 1-64 of [A-Za-z0-9._-]. */
static bool reason(const char *s, char *buf, size_t len)
{
	if (!ct_reason_code_is_valid(s) || strlen(s) >= len)
		return false;
	snprintf(buf, len, "%s", s);
	return true;
}

/* An asset: an ID (ct_ids). */
static bool asset(const char *s, char *buf, size_t len)
{
	if (!ct_id_is_valid(s) || strlen(s) >= len)
		return false;
	snprintf(buf, len, "%s", s);
	return true;
}

/* Parses the verb and its arguments of one event (w[1] the target, w[2] the verb). Returns
 * NULL or what is wrong. */
static const char *event(const struct words *ws, struct linesim_event *ev)
{
	char *const *w = ws->w;
	const char *verb = w[2];
	double v;

	if (!target(w[1], &ev->line, &ev->station))
		return "want a line (L1) or a station ID (L1-WELD-01)";
	if (strcmp(verb, "scrap") == 0) {
		ev->kind = LINESIM_EV_SCRAP;
		if (ws->n != 4 || !count(w[3], &ev->count))
			return "want SECONDS STATION scrap COUNT";
		if (ev->station < (int)LS_WIND || ev->station > (int)LS_VIS)
			return "scrap: want a cell station (WIND-01 .. VIS-01)";
		return NULL;
	}
	if (strcmp(verb, "latefail") == 0) {
		ev->kind = LINESIM_EV_LATEFAIL;
		if (ws->n != 5 || ev->station >= 0 || !count(w[3], &ev->count) ||
		    !number(w[4], 0, MAX_OFFSET_S, &v))
			return "want SECONDS LINE latefail COUNT FROM_SECONDS";
		ev->from_us = (int64_t)llround(v * 1e6);
		return NULL;
	}
	if (ws->n < 4 || !number(w[3], 0.000001, MAX_OFFSET_S, &v))
		return "want a duration in seconds (> 0) after the verb";
	ev->duration_us = (int64_t)llround(v * 1e6);
	if (strcmp(verb, "breakdown") == 0 || strcmp(verb, "microstop") == 0) {
		ev->kind = verb[0] == 'b' ? LINESIM_EV_BREAKDOWN : LINESIM_EV_MICROSTOP;
		if (ev->station < 0 || ws->n < 5 || ws->n > 6 ||
		    !reason(w[4], ev->reason, sizeof(ev->reason)) ||
		    (ws->n == 6 && !asset(w[5], ev->asset, sizeof(ev->asset))))
			return "want SECONDS STATION breakdown|microstop DURATION REASON [ASSET]";
		return NULL;
	}
	if (strcmp(verb, "planned") == 0) {
		ev->kind = LINESIM_EV_PLANNED;
		if (ws->n != 5 || !reason(w[4], ev->reason, sizeof(ev->reason)))
			return "want SECONDS LINE|STATION planned DURATION REASON";
		return NULL;
	}
	if (strcmp(verb, "changeover") == 0) {
		ev->kind = LINESIM_EV_CHANGEOVER;
		if (ws->n != 5 || ev->station >= 0)
			return "want SECONDS LINE changeover DURATION STD|HE";
		for (ev->variant = 0; ev->variant < 2; ev->variant++)
			if (strcmp(w[4], linesim_variant_name(ev->variant)) == 0)
				return NULL;
		return "changeover: the recipe variants are STD and HE";
	}
	if (strcmp(verb, "slow") == 0) {
		ev->kind = LINESIM_EV_SLOW;
		if (ws->n != 5 || ev->station >= 0 || !number(w[4], 1, 100, &v))
			return "want SECONDS LINE slow DURATION PERCENT (1-100)";
		ev->share = v / 100.0;
		return NULL;
	}
	return "unknown verb (breakdown, microstop, planned, changeover, slow, scrap, latefail)";
}

/* Adds ev keeping the events sorted by time, file order among equal times. */
static int add(struct linesim_scenario *sc, size_t *cap, const struct linesim_event *ev)
{
	size_t i;

	if (sc->n_events == *cap) {
		size_t n = *cap == 0 ? 16 : *cap * 2;
		struct linesim_event *grown = realloc(sc->events, n * sizeof(*grown));

		if (grown == NULL)
			return CT_ERR_NOMEM;
		sc->events = grown;
		*cap = n;
	}
	for (i = sc->n_events; i > 0 && sc->events[i - 1].at_us > ev->at_us; i--)
		sc->events[i] = sc->events[i - 1];
	sc->events[i] = *ev;
	sc->n_events++;
	return CT_OK;
}

static int parse(char *text, struct linesim_scenario *sc, char *err, size_t err_len)
{
	size_t cap = 0, lineno = 0;
	bool have_start = false, have_rate = false, have_end = false;
	int64_t end_offset = 0;
	char *p = text;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		bool last = p[len] == '\0';
		struct linesim_event ev;
		struct words w;
		const char *why = NULL;
		double at;

		p[len] = '\0';
		lineno++;
		if (!split(p, &w))
			why = "too many words";
		else if (w.n == 0)
			;
		else if (strcmp(w.w[0], "start") == 0) {
			if (have_start)
				why = "a second 'start': a scenario has one";
			else if (w.n != 2 || ct_time_parse_us(w.w[1], &sc->start_us) != CT_OK)
				why = "want start TIME (2026-12-06T06:00:00Z)";
			have_start = true;
		} else if (strcmp(w.w[0], "rate") == 0) {
			if (have_rate)
				why = "a second 'rate': a scenario has one";
			else if (w.n != 2 || !number(w.w[1], 0.001, 5000, &sc->rate))
				why = "want rate CELLS_PER_SECOND (0.001-5000)";
			have_rate = true;
		} else if (!number(w.w[0], 0, MAX_OFFSET_S, &at)) {
			why = "want start, rate, or SECONDS (after the start) and an event";
		} else if (w.n == 2 && strcmp(w.w[1], "end") == 0) {
			end_offset = (int64_t)llround(at * 1e6);
			if (have_end)
				why = "a second 'end': a scenario has one";
			else if (end_offset <= 0)
				why = "the end must be after the start";
			have_end = true;
		} else if (w.n < 3) {
			why = "want SECONDS TARGET VERB ...";
		} else {
			memset(&ev, 0, sizeof(ev));
			ev.at_us = (int64_t)llround(at * 1e6);
			why = event(&w, &ev);
			if (why == NULL && ev.kind == LINESIM_EV_LATEFAIL && ev.from_us >= ev.at_us)
				why = "latefail: FROM_SECONDS must be before the event's time";
			if (why == NULL && add(sc, &cap, &ev) != CT_OK)
				return CT_ERR_NOMEM;
		}
		if (why != NULL) {
			snprintf(err, err_len, "line %zu: %s", lineno, why);
			return CT_ERR_INVALID;
		}
		p += last ? len : len + 1;
	}
	if (!have_start || !have_end) {
		snprintf(err, err_len, "a scenario needs a 'start TIME' and a 'SECONDS end' line");
		return CT_ERR_INVALID;
	}
	sc->end_us = sc->start_us + end_offset;
	for (size_t i = 0; i < sc->n_events; i++) {
		struct linesim_event *ev = &sc->events[i];

		if (ev->at_us >= end_offset) {
			snprintf(err, err_len, "an event at %.6g s is not before the end",
			         (double)ev->at_us / 1e6);
			return CT_ERR_INVALID;
		}
		ev->at_us += sc->start_us;
		ev->from_us += sc->start_us;
	}
	return CT_OK;
}

int linesim_scenario_parse(const char *text, struct linesim_scenario *ret, char *err,
                           size_t err_len)
{
	struct linesim_scenario sc;
	char *copy = strdup(text);
	int rc;

	if (copy == NULL)
		return CT_ERR_NOMEM;
	memset(&sc, 0, sizeof(sc));
	rc = parse(copy, &sc, err, err_len);
	free(copy);
	if (rc != CT_OK) {
		linesim_scenario_free(&sc);
		return rc;
	}
	*ret = sc;
	return CT_OK;
}

int linesim_scenario_load(const char *path, struct linesim_scenario *ret, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	const char *nul;
	char *text;
	size_t n;
	int rc;

	if (f == NULL) {
		snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
		return CT_ERR_IO;
	}
	text = malloc(MAX_FILE + 1);
	if (text == NULL) {
		fclose(f);
		return CT_ERR_NOMEM;
	}
	n = fread(text, 1, MAX_FILE + 1, f);
	if (ferror(f) || n > MAX_FILE) {
		snprintf(err, err_len, "cannot read %s (or over 1 MiB)", path);
		fclose(f);
		free(text);
		return CT_ERR_IO;
	}
	fclose(f);
	text[n] = '\0';
	/* A NUL would end the text early and drop the rest unseen: not a scenario. */
	nul = memchr(text, '\0', n);
	if (nul != NULL) {
		size_t lineno = 1;

		for (const char *c = text; c < nul; c++)
			lineno += *c == '\n';
		snprintf(err, err_len, "%s line %zu: a NUL byte (not a text file)", path, lineno);
		free(text);
		return CT_ERR_INVALID;
	}
	rc = linesim_scenario_parse(text, ret, err, err_len);
	free(text);
	return rc;
}

void linesim_scenario_free(struct linesim_scenario *sc)
{
	free(sc->events);
	sc->events = NULL;
	sc->n_events = 0;
}
