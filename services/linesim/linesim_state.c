/* linesim_state: station states (sim.states), the line's stops and the production rule.
 *
 * Each line keeps, per station, the planned and the unplanned stop in force (struct ls_cause)
 * and reads the STOP and SLOW holds station commands leave (linesim_command.c). From these
 * derive() gives every station's state: its own planned stop first, then a STOP, then its
 * own unplanned stop, then for the cell chain BLOCKED / STARVED while the line stands, else
 * PRODUCING at the line's rate. Only changes are handed on (one StationState per change per
 * station), stamped with the time of the change. linesim_model_advance walks a line's time
 * from one event to the next: a cell on the production rule's schedule, or a change (a stop
 * ending, a scripted or random event, a hold expiring). Random stops draw from a stream of
 * their own (domain DOWNTIME), so they never shift the noise of any value; nothing here runs
 * unless the model was made with states. A changeover waits while another planned stop of the
 * cell stations is in force, so that the recipe never switches unannounced. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "linesim_internal.h"

#define STATE(k)        CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_##k
#define DOWNTIME        0xFF00000000000001ULL /* stream domain, apart from unit keys */
#define BREAK_US        (30LL * 60 * 1000000)
#define SHIFT_US        (8LL * 3600 * 1000000)
#define BREAK_AT_US     (2LL * 3600 * 1000000) /* 02:00, 10:00, 18:00 UTC: mid-shift */
#define DAY_US          (24LL * 3600 * 1000000)
#define REPAIR_MEDIAN_S 380.0 /* breakdown repair: lognormal, median ~6 min, 2-20 min */
#define REPAIR_SIGMA    0.6
#define REPAIR_MIN_S    120.0
#define REPAIR_MAX_S    1200.0
#define MICRO_MIN_S     5.0
#define MICRO_MAX_S     40.0

static bool is_cell_station(unsigned s)
{
	return s >= LS_WIND && s <= LS_VIS;
}

static double cfg_or(double v, double def)
{
	return v > 0.0 ? v : def;
}

/* A new draw stream of the line's downtime: the counter makes each event's draws its own. */
static void downtime_rng(struct ls_line *line, struct ls_rng *rng)
{
	ls_rng_init(rng, line->seed, DOWNTIME, line->st.draws++);
}

static int64_t exp_us(struct ls_rng *rng, double mean_s)
{
	return (int64_t)(-log(1.0 - ls_rng_uniform(rng)) * mean_s * 1e6) + 1;
}

/* The next mid-shift break start strictly after t (02, 10, 18 h UTC). */
static int64_t next_break_after(int64_t t)
{
	int64_t day = t - (((t % DAY_US) + DAY_US) % DAY_US);
	int64_t b = day + BREAK_AT_US;

	while (b <= t)
		b += SHIFT_US;
	return b;
}

int ls_states_init(struct linesim_model *m)
{
	const struct linesim_scenario *sc = m->config.scenario;
	size_t n_late = 0;

	m->config.scenario = NULL;
	if (sc == NULL)
		return CT_OK;
	m->scenario = *sc;
	m->scenario.events = calloc(sc->n_events ? sc->n_events : 1, sizeof(*sc->events));
	if (m->scenario.events == NULL)
		return CT_ERR_NOMEM;
	memcpy(m->scenario.events, sc->events, sc->n_events * sizeof(*sc->events));
	m->config.scenario = &m->scenario;
	for (size_t i = 0; i < sc->n_events; i++)
		n_late += sc->events[i].kind == LINESIM_EV_LATEFAIL;
	m->late = calloc(n_late ? n_late : 1, sizeof(*m->late));
	if (m->late == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = 0; i < sc->n_events; i++) {
		struct ls_late *l;

		if (sc->events[i].kind != LINESIM_EV_LATEFAIL)
			continue;
		l = &m->late[m->n_late++];
		l->ev = &m->scenario.events[i];
		l->ids = calloc(l->ev->count, sizeof(*l->ids));
		l->seqs = calloc(l->ev->count, sizeof(*l->seqs));
		if (l->ids == NULL || l->seqs == NULL)
			return CT_ERR_NOMEM;
	}
	return CT_OK;
}

void ls_states_cleanup(struct linesim_model *m)
{
	for (size_t i = 0; i < m->n_late; i++) {
		free(m->late[i].ids);
		free(m->late[i].seqs);
	}
	free(m->late);
	free(m->scenario.events);
	m->late = NULL;
	m->n_late = 0;
	m->scenario.events = NULL;
}

void linesim_model_begin(struct linesim_model *m, int64_t start_us)
{
	for (unsigned i = 0; i < m->config.n_lines; i++) {
		struct ls_line *line = &m->lines[i];
		struct ls_states *st = &line->st;
		struct ls_rng rng;

		st->started = true;
		st->now_us = start_us;
		st->restart_us = start_us;
		st->k = 0;
		st->producing = true;
		st->share = 1.0;
		st->next_breakdown_us = st->next_micro_us = INT64_MAX;
		st->next_changeover_us = st->next_break_us = INT64_MAX;
		st->co_at_us = INT64_MAX;
		if (!m->config.downtime || m->config.scenario != NULL)
			continue;
		downtime_rng(line, &rng);
		st->next_breakdown_us = start_us + exp_us(&rng, cfg_or(m->config.mtbf_s, 3600.0));
		st->next_micro_us = start_us + exp_us(&rng, cfg_or(m->config.micro_every_s, 300.0));
		st->next_changeover_us =
		        start_us + (int64_t)(cfg_or(m->config.changeover_every_s, 14400.0) * 1e6);
		if (m->config.breaks)
			st->next_break_us = next_break_after(start_us);
	}
}

/* Sets a stop at station s; a stop already in force that lasts longer stays. */
static void set_cause(struct ls_cause *c, int kind, int64_t until_us, const char *reason,
                      const char *asset)
{
	if (c->on && c->until_us >= until_us)
		return;
	c->on = true;
	c->kind = kind;
	c->until_us = until_us;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	snprintf(c->asset, sizeof(c->asset), "%s", asset != NULL ? asset : "");
}

/* A random breakdown's reason code and failing asset by station type. */
static void breakdown_reason(const struct ls_line *line, unsigned s, const char **reason,
                             char *asset, size_t asset_len)
{
	static const struct {
		unsigned station;
		const char *code, *part;
	} tree[] = {
	        {LS_WELD, "BREAKDOWN.WELD.HORN", "horn"},
	        {LS_WIND, "BREAKDOWN.WIND.TENSION", "tensioner"},
	        {LS_FILL, "BREAKDOWN.FILL.PUMP", "pump"},
	        {LS_COAT_C, "BREAKDOWN.COAT.DIE", "slot_die"},
	        {LS_COAT_A, "BREAKDOWN.COAT.DIE", "slot_die"},
	        {LS_SEAL, "BREAKDOWN.SEAL.CRIMP", "crimper"},
	        {LS_EOL, "BREAKDOWN.EOL.FIXTURE", "fixture"},
	};

	*reason = "BREAKDOWN.GENERIC";
	asset[0] = '\0';
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (tree[i].station == s) {
			*reason = tree[i].code;
			snprintf(asset, asset_len, "%s.%s", line->station_id[s], tree[i].part);
		}
}

/* Asks for a changeover at t; settle_changeover makes it once nothing else is planned. A
 * newer request replaces one still waiting. */
static void want_changeover(struct ls_line *line, int64_t t, int64_t duration_us, unsigned variant)
{
	line->st.co_at_us = t;
	line->st.co_duration_us = duration_us;
	line->st.co_variant = variant;
}

/* Makes the changeover due by t, after every other event of t: while a cell station has
 * another planned stop in force (a break), it waits for that stop's end. Made under it, the
 * recipe would switch under the longer stop and no CHANGEOVER state would ever say so. */
static void settle_changeover(struct ls_line *line, int64_t t)
{
	struct ls_states *st = &line->st;
	int64_t busy_until = INT64_MIN;

	if (st->co_at_us > t)
		return;
	for (unsigned s = LS_WIND; s <= LS_VIS; s++)
		if (st->planned[s].on && st->planned[s].until_us > t &&
		    st->planned[s].until_us > busy_until)
			busy_until = st->planned[s].until_us;
	if (busy_until != INT64_MIN) {
		st->co_at_us = busy_until;
		return;
	}
	st->co_at_us = INT64_MAX;
	st->variant = st->co_variant;
	for (unsigned s = LS_WIND; s <= LS_VIS; s++)
		set_cause(&st->planned[s], STATE(PLANNED_DOWNTIME), t + st->co_duration_us,
		          "CHANGEOVER", "");
}

/* Fires the random events of `line` due at t. */
static void fire_random(const struct linesim_model *m, struct ls_line *line, int64_t t)
{
	struct ls_states *st = &line->st;
	struct ls_rng rng;
	char asset[LINESIM_ID_LEN];
	const char *reason;

	if (st->next_breakdown_us <= t) {
		unsigned s;
		double repair;

		downtime_rng(line, &rng);
		s = (unsigned)(ls_rng_uniform(&rng) * LS_N_STATIONS) % LS_N_STATIONS;
		repair = REPAIR_MEDIAN_S * exp(REPAIR_SIGMA * ls_rng_normal(&rng));
		repair = fmin(REPAIR_MAX_S, fmax(REPAIR_MIN_S, repair));
		breakdown_reason(line, s, &reason, asset, sizeof(asset));
		set_cause(&st->unplanned[s], STATE(UNPLANNED_DOWNTIME), t + (int64_t)(repair * 1e6),
		          reason, asset);
		st->next_breakdown_us = t + exp_us(&rng, cfg_or(m->config.mtbf_s, 3600.0));
	}
	if (st->next_micro_us <= t) {
		unsigned s = LS_VIS;
		double len;

		downtime_rng(line, &rng);
		/* Half of them are the camera tripping on a reflection, the rest jams. */
		if (ls_rng_uniform(&rng) < 0.5)
			reason = "MICRO.VISION_TRIP";
		else {
			reason = "MICRO.JAM";
			s = LS_WIND + (unsigned)(ls_rng_uniform(&rng) * (LS_VIS - LS_WIND)) %
			                      (LS_VIS - LS_WIND);
		}
		len = MICRO_MIN_S + (MICRO_MAX_S - MICRO_MIN_S) * ls_rng_uniform(&rng);
		set_cause(&st->unplanned[s], STATE(UNPLANNED_DOWNTIME), t + (int64_t)(len * 1e6),
		          reason, "");
		st->next_micro_us = t + exp_us(&rng, cfg_or(m->config.micro_every_s, 300.0));
	}
	if (st->next_changeover_us <= t) {
		/* The other variant than the one in force or already asked for. */
		unsigned from = st->co_at_us != INT64_MAX ? st->co_variant : st->variant;

		want_changeover(line, t, (int64_t)(cfg_or(m->config.changeover_s, 600.0) * 1e6),
		                from ^ 1u);
		st->next_changeover_us =
		        t + (int64_t)(cfg_or(m->config.changeover_every_s, 14400.0) * 1e6);
	}
	if (st->next_break_us <= t) {
		for (unsigned s = 0; s < LS_N_STATIONS; s++)
			set_cause(&st->planned[s], STATE(PLANNED_DOWNTIME), t + BREAK_US, "BREAK",
			          "");
		st->next_break_us = next_break_after(t);
	}
}

/* Emits the EOL retests of a late failure at t: the good cells it captured. */
static int late_fail(struct linesim_model *m, struct ls_line *line, const struct linesim_event *ev,
                     int64_t t, const struct linesim_sink *sink)
{
	int rc = CT_OK;

	for (size_t i = 0; i < m->n_late; i++) {
		struct ls_late *l = &m->late[i];

		if (l->ev != ev)
			continue;
		for (unsigned j = 0; rc == CT_OK && j < l->n; j++)
			rc = ls_cell_retest(m, line, l->ids[j], l->seqs[j], t, sink);
	}
	return rc;
}

/* Fires the scenario's events of `line` due at t. */
static int fire_scripted(struct linesim_model *m, struct ls_line *line, int64_t t,
                         const struct linesim_sink *sink)
{
	const struct linesim_scenario *sc = m->config.scenario;
	struct ls_states *st = &line->st;
	int rc = CT_OK;

	for (; sc != NULL && st->next_event < sc->n_events; st->next_event++) {
		const struct linesim_event *ev = &sc->events[st->next_event];

		if (ev->line != line->index)
			continue;
		if (ev->at_us > t)
			break;
		switch (ev->kind) {
		case LINESIM_EV_BREAKDOWN:
		case LINESIM_EV_MICROSTOP:
			set_cause(&st->unplanned[ev->station], STATE(UNPLANNED_DOWNTIME),
			          t + ev->duration_us, ev->reason, ev->asset);
			break;
		case LINESIM_EV_PLANNED:
			for (unsigned s = 0; s < LS_N_STATIONS; s++)
				if (ev->station < 0 || (unsigned)ev->station == s)
					set_cause(&st->planned[s], STATE(PLANNED_DOWNTIME),
					          t + ev->duration_us, ev->reason, "");
			break;
		case LINESIM_EV_CHANGEOVER:
			want_changeover(line, t, ev->duration_us, ev->variant);
			break;
		case LINESIM_EV_SLOW:
			st->slow_share = ev->share;
			st->slow_until_us = t + ev->duration_us;
			break;
		case LINESIM_EV_SCRAP:
			st->scrap[ev->station] += ev->count;
			break;
		case LINESIM_EV_LATEFAIL:
			rc = late_fail(m, line, ev, t, sink);
			break;
		}
		if (rc != CT_OK) {
			st->next_event++;
			return rc;
		}
	}
	return rc;
}

/* The next scripted event of `line`, INT64_MAX when none. */
static int64_t next_scripted(const struct linesim_model *m, const struct ls_line *line)
{
	const struct linesim_scenario *sc = m->config.scenario;

	for (size_t i = line->st.next_event; sc != NULL && i < sc->n_events; i++)
		if (sc->events[i].line == line->index)
			return sc->events[i].at_us;
	return INT64_MAX;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The next time something other than a cell changes on `line`. */
static int64_t next_change(const struct linesim_model *m, const struct ls_line *line)
{
	const struct ls_states *st = &line->st;
	int64_t t = next_scripted(m, line);

	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		if (st->planned[s].on)
			t = min64(t, st->planned[s].until_us);
		if (st->unplanned[s].on)
			t = min64(t, st->unplanned[s].until_us);
		if (line->hold[s].kind != LS_HOLD_NONE && line->hold[s].expires_at_us != 0)
			t = min64(t, line->hold[s].expires_at_us);
	}
	if (st->slow_share > 0.0)
		t = min64(t, st->slow_until_us);
	t = min64(t, st->co_at_us);
	t = min64(t, min64(st->next_breakdown_us, st->next_micro_us));
	return min64(t, min64(st->next_changeover_us, st->next_break_us));
}

/* Ends what is over by t: stops, the scripted SLOW, command holds (as linesim_model_tick). */
static void expire(struct ls_line *line, int64_t t)
{
	struct ls_states *st = &line->st;

	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		if (st->planned[s].on && st->planned[s].until_us <= t)
			st->planned[s].on = false;
		if (st->unplanned[s].on && st->unplanned[s].until_us <= t)
			st->unplanned[s].on = false;
		if (line->hold[s].kind != LS_HOLD_NONE && line->hold[s].expires_at_us != 0 &&
		    line->hold[s].expires_at_us <= t)
			memset(&line->hold[s], 0, sizeof(line->hold[s]));
	}
	if (st->slow_share > 0.0 && st->slow_until_us <= t)
		st->slow_share = 0.0;
}

static bool station_down(const struct ls_line *line, unsigned s)
{
	return line->st.planned[s].on || line->st.unplanned[s].on ||
	       line->hold[s].kind == LS_HOLD_STOP;
}

/* Whether the line makes cells now, and at what share of its rate. */
static bool line_producing(const struct ls_line *line, double *ret_share)
{
	double share = line->st.slow_share > 0.0 ? line->st.slow_share : 1.0;
	bool producing = true;

	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		/* A STOP anywhere stops the line: an electrode station's holds its coils. */
		if (line->hold[s].kind == LS_HOLD_STOP ||
		    (is_cell_station(s) && station_down(line, s)))
			producing = false;
		if (line->hold[s].kind == LS_HOLD_SLOW && line->hold[s].fraction < share)
			share = line->hold[s].fraction;
	}
	*ret_share = share;
	return producing;
}

/* The state station s is in now. */
static void derive(const struct linesim_model *m, const struct ls_line *line, unsigned s,
                   bool producing, double share, struct ls_pub *ret)
{
	const struct ls_states *st = &line->st;
	unsigned first_down = LS_N_STATIONS;
	double per_hour = 3600.0 * m->config.rate * share;

	memset(ret, 0, sizeof(*ret));
	ret->variant = is_cell_station(s) ? st->variant : 0;
	if (st->planned[s].on) {
		ret->kind = STATE(PLANNED_DOWNTIME);
		snprintf(ret->reason, sizeof(ret->reason), "%s", st->planned[s].reason);
		return;
	}
	if (line->hold[s].kind == LS_HOLD_STOP) {
		ret->kind = STATE(UNPLANNED_DOWNTIME);
		snprintf(ret->reason, sizeof(ret->reason), "QUALITY_STOP");
		snprintf(ret->text, sizeof(ret->text), "%s", line->hold[s].reason);
		return;
	}
	if (st->unplanned[s].on) {
		ret->kind = STATE(UNPLANNED_DOWNTIME);
		snprintf(ret->reason, sizeof(ret->reason), "%s", st->unplanned[s].reason);
		snprintf(ret->asset, sizeof(ret->asset), "%s", st->unplanned[s].asset);
		return;
	}
	if (!producing && (is_cell_station(s) || s == LS_MOD || s == LS_PACK)) {
		/* A STOP at an electrode station holds its coils: the whole chain starves. */
		for (unsigned d = 0; d < LS_WIND && first_down == LS_N_STATIONS; d++)
			if (line->hold[d].kind == LS_HOLD_STOP)
				first_down = LS_WIND;
		for (unsigned d = LS_WIND; d <= LS_VIS && first_down == LS_N_STATIONS; d++)
			if (station_down(line, d))
				first_down = d;
		ret->kind = s < first_down ? STATE(BLOCKED) : STATE(STARVED);
		return;
	}
	ret->kind = STATE(PRODUCING);
	if (is_cell_station(s))
		ret->rate = per_hour;
	else if (s == LS_MOD)
		ret->rate = per_hour / m->config.cells_per_module;
	else if (s == LS_PACK)
		ret->rate = per_hour / (m->config.cells_per_module * m->config.modules_per_pack);
}

static bool same(const struct ls_pub *a, const struct ls_pub *b)
{
	return a->kind == b->kind && a->variant == b->variant && a->rate == b->rate &&
	       strcmp(a->reason, b->reason) == 0 && strcmp(a->text, b->text) == 0 &&
	       strcmp(a->asset, b->asset) == 0;
}

static char *pbs(const char *s)
{
	return (char *)s;
}

static int emit(const struct linesim_model *m, struct ls_line *line, unsigned s,
                const struct ls_pub *p, int64_t t)
{
	Cellthread__V1__StationState msg = CELLTHREAD__V1__STATION_STATE__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct linesim_state out = {line->index, s, line->name, line->station_id[s], &msg};
	/* Room for any prefix; the real one ("linesim-L1-<16 hex>", at most 36) leaves the ID
	 * at most 58 characters. */
	char event_id[sizeof(line->event_prefix) + 24];
	unsigned long long seq = line->st.state_seq + 1;
	int rc = CT_OK;

	/* Zero-padded: states of one instant sort by their event IDs in the order they came. A
	 * state the sink failed goes out again under the same ID (ingest keeps it once). */
	snprintf(event_id, sizeof(event_id), "%s-s%020llu", line->event_prefix, seq);
	header.event_id = event_id;
	header.producer = line->producer;
	header.produced_at_us = t;
	header.schema_version = 1;
	msg.header = &header;
	msg.site = pbs(m->site);
	msg.line = line->name;
	msg.station = line->station_id[s];
	msg.state = (Cellthread__V1__StationStateKind)p->kind;
	msg.reason_code = pbs(p->reason);
	msg.reason_text = pbs(p->text);
	msg.since_us = t;
	if (p->variant != 0) {
		msg.recipe = pbs(ls_recipes_he[s - LS_WIND].name);
		msg.recipe_version = (int32_t)ls_recipes_he[s - LS_WIND].version;
	} else {
		msg.recipe = pbs(ls_stations[s].recipe);
		msg.recipe_version = (int32_t)ls_stations[s].recipe_version;
	}
	msg.asset = pbs(p->asset);
	msg.rate_per_hour = p->rate;
	if (m->state_sink != NULL && m->state_sink->state != NULL)
		rc = m->state_sink->state(m->state_sink->ctx, &out);
	if (rc == CT_OK) {
		line->st.state_seq = seq;
		line->st.stats.states++;
	}
	return rc;
}

/* Derives every station's state at t, hands on the changes, and sets the line's production:
 * a new restart point when it starts producing again or changes its rate. */
static int reconcile(const struct linesim_model *m, struct ls_line *line, int64_t t)
{
	struct ls_states *st = &line->st;
	double share;
	bool producing = line_producing(line, &share);
	int rc = CT_OK;

	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		struct ls_pub p;

		derive(m, line, s, producing, share, &p);
		if (st->published && same(&p, &st->pub[s]))
			continue;
		/* Only a state handed on counts as published; the others go out at the next
		 * advance (the line stays dirty), stamped with the same time. */
		if (rc == CT_OK)
			rc = emit(m, line, s, &p, t);
		if (rc == CT_OK)
			st->pub[s] = p;
	}
	st->published = true;
	st->dirty = rc != CT_OK;
	if (producing && (!st->producing || share != st->share)) {
		st->restart_us = t;
		st->k = 0;
	}
	st->producing = producing;
	st->share = share;
	return rc;
}

/* The time of the line's next cell on the production rule, INT64_MAX when it stands. */
static int64_t next_cell(const struct linesim_model *m, const struct ls_line *line)
{
	const struct ls_states *st = &line->st;
	double after_us;

	if (!st->producing)
		return INT64_MAX;
	after_us = (double)(st->k + 1) * 1e6 / (m->config.rate * st->share);
	/* Past the end of time is never: below 2^62 llround is exact enough not to overflow. */
	if (!(after_us < 0x1p62) || llround(after_us) > INT64_MAX - st->restart_us)
		return INT64_MAX;
	return st->restart_us + (int64_t)llround(after_us);
}

/* Makes the cell due at t and captures it for the late failures that want it. */
static int make_cell(struct linesim_model *m, struct ls_line *line, int64_t t,
                     const struct linesim_sink *sink)
{
	unsigned long long finished = line->stats.cells_finished;
	int rc;

	line->st.k++;
	rc = linesim_model_step(m, line->index, t, sink);
	if (rc != CT_OK || line->stats.cells_finished == finished)
		return rc;
	for (size_t i = 0; i < m->n_late; i++) {
		struct ls_late *l = &m->late[i];

		if (l->ev->line == line->index && t >= l->ev->from_us && t < l->ev->at_us &&
		    l->n < l->ev->count) {
			snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", line->stats.last_cell);
			l->seqs[l->n++] = line->cell_seq;
		}
	}
	return CT_OK;
}

int linesim_model_advance(struct linesim_model *m, unsigned index, int64_t until_us,
                          unsigned long long cells_limit, const struct linesim_sink *sink,
                          const struct linesim_state_sink *states)
{
	struct ls_line *line;
	int rc = CT_OK;

	if (!m->config.states || index >= m->config.n_lines || !m->lines[index].st.started)
		return CT_ERR_INVALID;
	line = &m->lines[index];
	m->state_sink = states;
	/* The first states include what happens at the start itself: one state per station
	 * and instant, so that no two of a station share a since_us. */
	if (!line->st.published) {
		if (m->config.downtime)
			fire_random(m, line, line->st.now_us);
		rc = fire_scripted(m, line, line->st.now_us, sink);
		settle_changeover(line, line->st.now_us);
	}
	if (rc == CT_OK && (!line->st.published || line->st.dirty))
		rc = reconcile(m, line, line->st.now_us);
	while (rc == CT_OK) {
		int64_t change = next_change(m, line), cell = next_cell(m, line), t;
		bool cell_due;

		if (cells_limit > 0 && line->stats.cells_finished >= cells_limit)
			cell = INT64_MAX;
		t = min64(change, cell);
		if (t > until_us)
			break;
		line->st.now_us = t;
		if (cell < change) {
			rc = make_cell(m, line, t, sink);
			continue;
		}
		/* Changes at t; a cell of the old schedule due at t is made only if the line
		 * still produces at t (it produced through (t - cycle, t]). */
		cell_due = cell == t;
		expire(line, t);
		if (m->config.downtime)
			fire_random(m, line, t);
		rc = fire_scripted(m, line, t, sink);
		settle_changeover(line, t);
		if (rc == CT_OK && cell_due) {
			double share;

			if (line_producing(line, &share))
				rc = make_cell(m, line, t, sink);
		}
		if (rc == CT_OK)
			rc = reconcile(m, line, t);
	}
	if (rc == CT_OK && until_us > line->st.now_us)
		line->st.now_us = until_us;
	m->state_sink = NULL;
	return rc;
}

int64_t linesim_model_now(const struct linesim_model *m, unsigned line)
{
	return line < m->config.n_lines ? m->lines[line].st.now_us : INT64_MIN;
}

int64_t linesim_model_next_us(const struct linesim_model *m, unsigned index)
{
	const struct ls_line *line;

	if (!m->config.states || index >= m->config.n_lines)
		return INT64_MAX;
	line = &m->lines[index];
	if (line->st.dirty || !line->st.published)
		return line->st.now_us;
	return min64(next_change(m, line), next_cell(m, line));
}

const struct linesim_state_stats *linesim_model_state_stats(const struct linesim_model *m,
                                                            unsigned line)
{
	return line < m->config.n_lines ? &m->lines[line].st.stats : NULL;
}

const char *linesim_variant_name(unsigned variant)
{
	return variant == 0 ? "STD" : "HE";
}
