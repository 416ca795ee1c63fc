/* gate_charts: live chart instances fed from station results (see gate_charts.h). */
#include "gate_charts.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"

#define VERDICT_PASS CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS

/* Stream keys remembered as having no saved row, at most (about 100 bytes each). */
#define NO_ROW_KEYS 4096

void gate_charts_init(struct gate_charts *charts)
{
	memset(charts, 0, sizeof(*charts));
	ct_map_init(&charts->index);
	ct_map_init(&charts->no_row);
}

void gate_charts_drop_instances(struct gate_charts *charts)
{
	for (size_t i = 0; i < charts->n_charts; i++)
		free(charts->charts[i]);
	charts->n_charts = 0;
	charts->newest = charts->oldest = NULL;
	ct_map_clear(&charts->index);
}

void gate_charts_cleanup(struct gate_charts *charts)
{
	gate_charts_drop_instances(charts);
	free(charts->charts);
	free(charts->defs);
	free(charts->steps);
	ct_map_cleanup(&charts->index);
	ct_map_cleanup(&charts->no_row);
	for (size_t i = 0; i < charts->no_row_cap; i++)
		free(charts->no_row_ring[i]);
	free(charts->no_row_ring);
	memset(charts, 0, sizeof(*charts));
}

int gate_charts_limit(struct gate_charts *charts, size_t max_live, double new_per_min)
{
	if (charts->no_row_ring == NULL) {
		charts->no_row_ring = calloc(NO_ROW_KEYS, sizeof(*charts->no_row_ring));
		if (charts->no_row_ring == NULL)
			return CT_ERR_NOMEM;
		charts->no_row_cap = NO_ROW_KEYS;
	}
	charts->max_live = max_live;
	charts->new_per_min = new_per_min;
	charts->tokens = new_per_min;
	charts->tokens_at_us = 0;
	return CT_OK;
}

void gate_charts_set_loader(struct gate_charts *charts, gate_charts_load_fn load, void *ctx)
{
	charts->load = load;
	charts->load_ctx = ctx;
}

int gate_rules_parse(const char *text, uint32_t *ret_bits, char *err, size_t err_len)
{
	uint32_t bits = 0;
	const char *p = text;

	while (*p) {
		size_t len = strcspn(p, ", ");
		enum spc_rule rule;
		if (len > 0) {
			if (spc_rule_from_code(p, len, &rule) != SPC_OK)
				return ct_set_error(err, err_len, CT_ERR_INVALID,
				                    "unknown run rule '%.*s' (WE1-WE4, N1-N8, SEC)",
				                    (int)len, p);
			bits |= SPC_RULE_BIT(rule);
		}
		p += len;
		p += strspn(p, ", ");
	}
	*ret_bits = bits;
	return CT_OK;
}

static bool kind_is(const struct gate_chart_def *def, const char *name)
{
	return strcmp(def->kind_name, name) == 0;
}

/* Whether the engine takes def's t2 configuration (e.g. a baseline of more points than
 * characteristics): a row it would refuse must be refused here, with the row named, and not
 * when its first result arrives, where every batch holding one would fail to be judged. */
static int t2_config_check(const struct gate_chart_def *def, char *err, size_t err_len)
{
	struct spc_t2_state *scratch = malloc(sizeof(*scratch));
	int rc;

	if (scratch == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	rc = spc_t2_init(scratch, &def->t2);
	free(scratch);
	if (rc != SPC_T2_OK)
		return ct_set_error(
		        err, err_len, CT_ERR_INVALID,
		        "the T2 engine refuses this chart (error %d): baseline_points %d "
		        "for %d characteristics; it needs more points than "
		        "characteristics",
		        rc, (int)def->t2.baseline_count, (int)def->t2.p);
	return CT_OK;
}

int gate_chart_def_build(struct gate_chart_def *def, int subgroup_size, const char *rules,
                         bool has_baseline, int baseline_points, bool has_centre, double centre,
                         bool has_sigma, double sigma, double ewma_lambda, double ewma_l,
                         double cusum_k, double cusum_h, char *err, size_t err_len)
{
	struct spc_chart_config *c = &def->spc;
	const char *problem = NULL;
	enum spc_chart_kind kind = SPC_CHART_IMR; /* set when known */
	bool known = spc_chart_kind_from_name(def->kind_name, &kind) == SPC_OK;
	bool attribute = known && spc_chart_kind_is_attribute(kind);

	memset(c, 0, sizeof(*c));
	def->is_t2 = kind_is(def, SPC_T2_KIND_NAME);
	def->is_profile = kind_is(def, SPC_PROFILE_KIND_NAME);
	if (def->is_profile) {
		/* A curve against the envelope of the first baseline_points (golden) curves, on a
		 * normalised time axis of 128 points: by default it fails with more than 10 % of
		 * its points beyond z = 3 golden standard deviations, an RMS deviation above 2.5,
		 * or one point beyond 6 (gate_chart_def_profile_limits changes them). `sigma`,
		 * when set, is the band's minimum half-width in y units. */
		memset(&def->profile, 0, sizeof(def->profile));
		def->profile.grid_size = SPC_PROFILE_DEFAULT_GRID;
		def->profile.golden_count = has_baseline ? baseline_points : 0;
		def->profile.axis = SPC_PROFILE_AXIS_NORMALIZED;
		def->profile.z = SPC_PROFILE_DEFAULT_Z;
		def->profile.min_half_width =
		        has_sigma ? sigma : SPC_PROFILE_DEFAULT_MIN_HALF_WIDTH;
		def->profile.max_rms = SPC_PROFILE_DEFAULT_MAX_RMS;
		def->profile.max_abs = SPC_PROFILE_DEFAULT_MAX_ABS;
		def->profile.max_outside = SPC_PROFILE_DEFAULT_MAX_OUTSIDE;
		if (def->n_names != 1)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "profile charts take one curve name");
		if (spc_profile_config_check(&def->profile) != SPC_PROFILE_OK)
			return ct_set_error(
			        err, err_len, CT_ERR_INVALID,
			        "profile charts need baseline_points >= 2 (golden curves)");
		return CT_OK;
	}
	def->nonconforming = def->n_names == 1 && strcmp(def->names[0], GATE_NONCONFORMING) == 0;
	if (def->is_t2) {
		memset(&def->t2, 0, sizeof(def->t2));
		def->t2.p = def->n_names;
		def->t2.subgroup_size = subgroup_size;
		def->t2.baseline_count = has_baseline ? baseline_points : 0;
		def->t2.alpha = SPC_T2_DEFAULT_ALPHA;
		if (!has_baseline)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "t2 charts learn their limits: set baseline_points");
		if (def->n_names < 2)
			return ct_set_error(err, err_len, CT_ERR_INVALID,
			                    "t2 charts need two or more characteristics");
		return t2_config_check(def, err, err_len);
	}
	if (def->n_names != 1)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "%s charts take one characteristic", def->kind_name);
	if (def->nonconforming && !(known && (kind == SPC_CHART_P || kind == SPC_CHART_NP)))
		return ct_set_error(err, err_len, CT_ERR_INVALID, "%s is for p and np charts only",
		                    GATE_NONCONFORMING);
	if (!known)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "chart kind '%s' is not known",
		                    def->kind_name);
	c->kind = kind;

	/* Attribute charts sum units_per_point units into one point; the engine sees sizes. */
	def->units_per_point = attribute ? (uint32_t)(subgroup_size > 0 ? subgroup_size : 1) : 1;
	c->subgroup_size = attribute ? 0 : (uint32_t)subgroup_size;
	if (c->kind == SPC_CHART_IMR)
		c->subgroup_size = 0;
	if (c->kind != SPC_CHART_EWMA && c->kind != SPC_CHART_CUSUM &&
	    gate_rules_parse(rules, &c->rules, err, err_len) != CT_OK)
		return CT_ERR_INVALID;
	if (has_baseline) {
		c->limits_source = SPC_LIMITS_BASELINE;
		c->baseline_points = (uint32_t)baseline_points;
	} else {
		c->limits_source = SPC_LIMITS_FIXED_SIGMA;
		c->centre = has_centre ? centre : 0.0;
		c->sigma = attribute ? 0.0 : (has_sigma ? sigma : 0.0);
	}
	if (c->kind == SPC_CHART_EWMA) {
		c->ewma_lambda = isnan(ewma_lambda) ? SPC_DEFAULT_EWMA_LAMBDA : ewma_lambda;
		c->ewma_width = isnan(ewma_l) ? SPC_DEFAULT_EWMA_WIDTH : ewma_l;
	}
	if (c->kind == SPC_CHART_CUSUM) {
		c->cusum_k = isnan(cusum_k) ? SPC_DEFAULT_CUSUM_K : cusum_k;
		c->cusum_h = isnan(cusum_h) ? SPC_DEFAULT_CUSUM_H : cusum_h;
	}
	if (spc_chart_config_check(c, &problem) != SPC_OK)
		return ct_set_error(err, err_len, CT_ERR_INVALID, "%s", problem);
	return CT_OK;
}

int gate_chart_def_profile_limits(struct gate_chart_def *def, double z, double max_rms,
                                  double max_abs, double max_outside, char *err, size_t err_len)
{
	struct spc_profile_config c = def->profile;

	if (!def->is_profile)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "profile limits are for profile charts only");
	if (!isnan(z))
		c.z = z;
	if (!isnan(max_rms))
		c.max_rms = max_rms;
	if (!isnan(max_abs))
		c.max_abs = max_abs;
	if (!isnan(max_outside))
		c.max_outside = max_outside;
	if (spc_profile_config_check(&c) != SPC_PROFILE_OK)
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "profile limits out of range (z, max_rms, max_abs > 0; "
		                    "max_outside 0..1)");
	def->profile = c;
	return CT_OK;
}

static int by_plan_step(const void *a, const void *b)
{
	const struct gate_plan_step *x = a, *y = b;
	int c = strcmp(x->plan_id, y->plan_id);
	return c != 0 ? c : (x->step > y->step) - (x->step < y->step);
}

static const struct gate_chart_def *find_def(const struct gate_charts *charts, const char *id,
                                             size_t *ret_index)
{
	for (size_t i = 0; i < charts->n_defs; i++) {
		if (strcmp(charts->defs[i].chart_id, id) == 0) {
			*ret_index = i;
			return &charts->defs[i];
		}
	}
	return NULL;
}

static void instance_key(char *buf, size_t len, const char *chart_id, const char *site,
                         const char *line, const char *station, const char *recipe)
{
	snprintf(buf, len, "%s|%s|%s|%s|%s", chart_id, site, line, station, recipe);
}

/* ---- the live set: recency, eviction, the streams known to have no saved row ---- */

static void lru_unlink(struct gate_charts *charts, struct gate_chart *c)
{
	if (c->newer != NULL)
		c->newer->older = c->older;
	else if (charts->newest == c)
		charts->newest = c->older;
	if (c->older != NULL)
		c->older->newer = c->newer;
	else if (charts->oldest == c)
		charts->oldest = c->newer;
	c->newer = c->older = NULL;
}

static void lru_push_newest(struct gate_charts *charts, struct gate_chart *c)
{
	c->newer = NULL;
	c->older = charts->newest;
	if (charts->newest != NULL)
		charts->newest->newer = c;
	else
		charts->oldest = c;
	charts->newest = c;
}

static void touch(struct gate_charts *charts, struct gate_chart *c)
{
	if (charts->newest != c) {
		lru_unlink(charts, c);
		lru_push_newest(charts, c);
	}
}

/* In the database as it is in memory: nothing fed since the last snapshot, and that
 * snapshot's job came back stored. */
static bool is_saved(const struct gate_charts *charts, const struct gate_chart *c)
{
	return !c->dirty && c->snap_seq <= charts->saved_seq;
}

/* Removes an instance from the live set and frees it; the last one takes its slot. */
static void remove_instance(struct gate_charts *charts, struct gate_chart *c)
{
	char key[512];
	size_t slot = c->slot, last = charts->n_charts - 1;

	instance_key(key, sizeof(key), charts->defs[c->def].chart_id, c->site, c->line, c->station,
	             c->recipe);
	ct_map_remove(&charts->index, key);
	lru_unlink(charts, c);
	if (slot != last) {
		struct gate_chart *moved = charts->charts[last];
		charts->charts[slot] = moved;
		moved->slot = slot;
		instance_key(key, sizeof(key), charts->defs[moved->def].chart_id, moved->site,
		             moved->line, moved->station, moved->recipe);
		(void)ct_map_put(&charts->index, key, slot); /* a present key: cannot fail */
	}
	charts->n_charts--;
	free(c);
}

/* Evicts the least recently fed saved instances until one more fits the bound. False when
 * every instance left has unsaved changes. */
static bool make_room(struct gate_charts *charts)
{
	if (charts->max_live == 0)
		return true;
	while (charts->n_charts >= charts->max_live) {
		struct gate_chart *victim = charts->oldest;
		while (victim != NULL && !is_saved(charts, victim))
			victim = victim->newer;
		if (victim == NULL)
			return false;
		remove_instance(charts, victim);
		charts->stats.evicted++;
	}
	return true;
}

size_t gate_charts_trim(struct gate_charts *charts)
{
	uint64_t before = charts->stats.evicted;

	while (charts->max_live > 0 && charts->n_charts > charts->max_live && make_room(charts))
		;
	return (size_t)(charts->stats.evicted - before);
}

void gate_charts_saved(struct gate_charts *charts, uint64_t seq, bool stored)
{
	if (seq == 0)
		return;
	if (!stored) /* the next job carries them again */
		for (size_t i = 0; i < charts->n_charts; i++)
			if (charts->charts[i]->snap_seq == seq)
				charts->charts[i]->dirty = true;
	if (seq > charts->saved_seq)
		charts->saved_seq = seq;
}

/* Remembers that a stream has no saved row (until it gets an instance), replacing the
 * oldest key remembered once NO_ROW_KEYS are. */
static void remember_no_row(struct gate_charts *charts, const char *key)
{
	char *copy;

	if (charts->no_row_cap == 0 || ct_map_get(&charts->no_row, key, NULL))
		return;
	if ((copy = strdup(key)) == NULL)
		return; /* only a cache: the next result looks the row up again */
	if (ct_map_put(&charts->no_row, key, 0) != CT_OK) {
		free(copy);
		return;
	}
	if (charts->no_row_ring[charts->no_row_next] != NULL) {
		ct_map_remove(&charts->no_row, charts->no_row_ring[charts->no_row_next]);
		free(charts->no_row_ring[charts->no_row_next]);
	}
	charts->no_row_ring[charts->no_row_next] = copy;
	charts->no_row_next = (charts->no_row_next + 1) % charts->no_row_cap;
}

/* A new stream may start when the bucket holds a token (one minute's worth at most). */
static bool may_create(struct gate_charts *charts)
{
	if (charts->new_per_min <= 0.0)
		return true;
	if (charts->tokens_at_us > 0 && charts->now_us > charts->tokens_at_us) {
		double minutes = (double)(charts->now_us - charts->tokens_at_us) / 60e6;
		charts->tokens += minutes * charts->new_per_min;
		if (charts->tokens > charts->new_per_min)
			charts->tokens = charts->new_per_min;
	}
	if (charts->now_us > charts->tokens_at_us)
		charts->tokens_at_us = charts->now_us;
	return charts->tokens >= 1.0;
}

static void note_refusal(struct gate_charts *charts, const struct gate_chart_def *def,
                         const Cellthread__V1__StationResult *r, bool full)
{
	struct gate_charts_stats *st = &charts->stats;

	st->refused++;
	st->refused_full = full;
	snprintf(st->refused_chart, sizeof(st->refused_chart), "%s", def->chart_id);
	snprintf(st->refused_where, sizeof(st->refused_where), "%s/%s/%s", r->site, r->line,
	         r->station);
}

void gate_charts_set_config(struct gate_charts *charts, struct gate_chart_def *defs, size_t n_defs,
                            struct gate_plan_step *steps, size_t n_steps)
{
	struct gate_chart_def *old_defs = charts->defs;
	size_t n_old = charts->n_defs, kept = 0;
	char key[512];

	if (n_steps > 1)
		qsort(steps, n_steps, sizeof(*steps), by_plan_step);
	charts->defs = defs;
	charts->n_defs = n_defs;
	free(charts->steps);
	charts->steps = steps;
	charts->n_steps = n_steps;

	/* Keep the instances whose definition is unchanged, re-pointed at the new array. */
	ct_map_clear(&charts->index);
	for (size_t i = 0; i < charts->n_charts; i++) {
		struct gate_chart *chart = charts->charts[i];
		const struct gate_chart_def *old =
		        chart->def < n_old ? &old_defs[chart->def] : NULL;
		const struct gate_chart_def *now = NULL;
		size_t index = 0;
		if (old != NULL)
			now = find_def(charts, old->chart_id, &index);
		if (now == NULL || strcmp(now->config_hash, old->config_hash) != 0) {
			lru_unlink(charts, chart);
			free(chart);
			continue;
		}
		chart->def = index;
		instance_key(key, sizeof(key), now->chart_id, chart->site, chart->line,
		             chart->station, chart->recipe);
		if (ct_map_put(&charts->index, key, kept) != CT_OK) {
			lru_unlink(charts, chart);
			free(chart); /* out of memory: the chart restarts from its saved state */
			continue;
		}
		chart->slot = kept;
		charts->charts[kept++] = chart;
	}
	charts->n_charts = kept;
	free(old_defs);
}

static int add_instance(struct gate_charts *charts, size_t def_index, const char *site,
                        const char *line, const char *station, const char *recipe,
                        struct gate_chart **ret)
{
	const struct gate_chart_def *def = &charts->defs[def_index];
	struct gate_chart *chart;
	char key[512];

	if (charts->n_charts == charts->cap_charts) {
		size_t cap = charts->cap_charts ? charts->cap_charts * 2 : 16;
		struct gate_chart **grown = realloc(charts->charts, cap * sizeof(*grown));
		if (grown == NULL)
			return CT_ERR_NOMEM;
		charts->charts = grown;
		charts->cap_charts = cap;
	}
	/* Only the engine state of the chart's kind (gate_charts.h). */
	chart = calloc(1, offsetof(struct gate_chart, blob) + gate_blob_size(def));
	if (chart == NULL)
		return CT_ERR_NOMEM;
	chart->def = def_index;
	snprintf(chart->site, sizeof(chart->site), "%s", site);
	snprintf(chart->line, sizeof(chart->line), "%s", line);
	snprintf(chart->station, sizeof(chart->station), "%s", station);
	snprintf(chart->recipe, sizeof(chart->recipe), "%s", recipe);
	chart->valid = true;
	chart->last_value = chart->lcl = chart->cl = chart->ucl = NAN;
	chart->blob.magic = GATE_BLOB_MAGIC;
	chart->blob.version = GATE_BLOB_VERSION;
	chart->blob.size = (uint32_t)gate_blob_size(def);
	chart->blob.plan_step = 1;
	if ((def->is_t2        ? spc_t2_init(&chart->blob.engine.t2, &def->t2)
	     : def->is_profile ? spc_profile_init(&chart->blob.engine.profile, &def->profile)
	                       : spc_state_init(&chart->blob.engine.spc, &def->spc, NULL)) != 0) {
		free(chart);
		return CT_ERR_INVALID; /* gate_chart_def_build checked it: cannot happen */
	}
	instance_key(key, sizeof(key), def->chart_id, site, line, station, recipe);
	if (ct_map_put(&charts->index, key, charts->n_charts) != CT_OK) {
		free(chart);
		return CT_ERR_NOMEM;
	}
	chart->slot = charts->n_charts;
	charts->charts[charts->n_charts++] = chart;
	lru_push_newest(charts, chart);
	if (charts->n_charts > charts->stats.peak)
		charts->stats.peak = charts->n_charts;
	*ret = chart;
	return CT_OK;
}

/* Validates a saved state and makes it the stream's live instance (reusing one that exists,
 * else evicting for room, over the bound when there is none). */
static int restore(struct gate_charts *charts, const char *chart_id, const char *site,
                   const char *line, const char *station, const char *recipe,
                   const char *config_hash, const void *state, size_t state_len,
                   const struct gate_overall *overall, const double *last_point,
                   struct gate_chart **ret)
{
	const struct gate_chart_def *def;
	struct gate_chart_blob blob;
	struct gate_chart *chart = NULL;
	size_t index = 0, existing;
	char key[512];
	int rc;

	def = find_def(charts, chart_id, &index);
	if (def == NULL || strcmp(def->config_hash, config_hash) != 0)
		return CT_ERR_NOT_FOUND;
	if (state_len != gate_blob_size(def))
		return CT_ERR_CORRUPT;
	memset(&blob, 0, sizeof(blob));
	memcpy(&blob, state, state_len);
	if (blob.magic != GATE_BLOB_MAGIC || blob.version != GATE_BLOB_VERSION ||
	    blob.size != state_len || blob.plan_step == 0)
		return CT_ERR_CORRUPT;
	if (def->is_t2        ? spc_t2_state_check(&blob.engine.t2) != SPC_T2_OK
	    : def->is_profile ? spc_profile_state_check(&blob.engine.profile) != SPC_PROFILE_OK
	                      : spc_state_validate(&blob.engine.spc) != SPC_OK)
		return CT_ERR_CORRUPT;
	instance_key(key, sizeof(key), chart_id, site, line, station, recipe);
	if (ct_map_get(&charts->index, key, &existing)) {
		chart = charts->charts[existing];
		touch(charts, chart);
	} else {
		(void)make_room(charts); /* a saved stream comes back, if need be over the bound */
		rc = add_instance(charts, index, site, line, station, recipe, &chart);
		if (rc != CT_OK)
			return rc;
	}
	memcpy(&chart->blob, &blob, state_len); /* the allocation holds state_len bytes */
	if (overall != NULL)
		chart->overall = *overall;
	if (last_point != NULL) {
		chart->last_value = last_point[0];
		chart->lcl = last_point[1];
		chart->cl = last_point[2];
		chart->ucl = last_point[3];
	}
	chart->dirty = false;
	chart->snap_seq = 0;
	*ret = chart;
	return CT_OK;
}

int gate_charts_restore(struct gate_charts *charts, const char *chart_id, const char *site,
                        const char *line, const char *station, const char *recipe,
                        const char *config_hash, const void *state, size_t state_len,
                        const struct gate_overall *overall)
{
	struct gate_chart *chart;

	return restore(charts, chart_id, site, line, station, recipe, config_hash, state, state_len,
	               overall, NULL, &chart);
}

int gate_charts_restore_saved(struct gate_charts *charts, const char *chart_id, const char *site,
                              const char *line, const char *station, const char *recipe,
                              const struct gate_saved_state *saved)
{
	struct gate_chart *chart;
	const double last_point[4] = {saved->last_value, saved->lcl, saved->cl, saved->ucl};

	return restore(charts, chart_id, site, line, station, recipe, saved->config_hash,
	               saved->state, saved->state_len, &saved->overall, last_point, &chart);
}

static bool matches(const char *pattern, const char *value)
{
	return (pattern[0] == '*' && pattern[1] == '\0') || strcmp(pattern, value) == 0;
}

static bool def_matches(const struct gate_chart_def *def, const Cellthread__V1__StationResult *r)
{
	return matches(def->site, r->site) && matches(def->line, r->line) &&
	       matches(def->station, r->station) &&
	       (def->station_type == 0 || def->station_type == (int)r->station_type) &&
	       matches(def->recipe, r->recipe);
}

static const Cellthread__V1__Measurement *measurement(const Cellthread__V1__StationResult *r,
                                                      const char *characteristic)
{
	for (size_t i = 0; i < r->n_measurements; i++)
		if (strcmp(r->measurements[i]->characteristic, characteristic) == 0)
			return r->measurements[i];
	return NULL;
}

static void report(struct gate_chart *chart, const struct gate_chart_def *def, int rule,
                   const char *rule_name, uint64_t first, uint64_t last, double statistic,
                   double limit, double centre, const Cellthread__V1__StationResult *r,
                   gate_signal_fn on_signal, void *ctx)
{
	struct gate_signal s = {
	        .chart = chart,
	        .def = def,
	        .rule = rule,
	        .rule_name = rule_name,
	        .first_point = first,
	        .last_point = last,
	        .statistic = statistic,
	        .limit = limit,
	        .centre = centre,
	};
	chart->blob.signals++;
	on_signal(ctx, &s, r);
}

/* The limit a violation broke, for the alert: the one on the statistic's side. */
static double broken_limit(const struct spc_point *p)
{
	return p->value >= p->cl ? p->ucl : p->lcl;
}

/* Adds an accepted individual value to the chart's overall statistics (Welford's update,
 * stable for long runs) and remembers the spec it is judged against. */
static void remember_for_capability(struct gate_chart *chart, const struct gate_spec_set *specs,
                                    const struct gate_chart_def *def,
                                    const Cellthread__V1__StationResult *r, double value)
{
	struct gate_overall *o = &chart->overall;
	const struct gate_spec *spec;
	double delta = value - o->mean;

	o->n++;
	o->mean += delta / (double)o->n;
	o->m2 += delta * (value - o->mean);
	if (specs == NULL || (spec = gate_spec_find(specs, r, def->names[0])) == NULL) {
		chart->has_spec = false;
		return;
	}
	chart->has_spec = spec->has_lsl || spec->has_usl;
	chart->spec.has_lsl = spec->has_lsl;
	chart->spec.has_usl = spec->has_usl;
	chart->spec.has_target = spec->has_target;
	chart->spec.lsl = spec->lsl;
	chart->spec.usl = spec->usl;
	chart->spec.target = spec->target;
}

static void feed_univariate(struct gate_chart *chart, const struct gate_chart_def *def,
                            const struct gate_spec_set *charts_specs,
                            const Cellthread__V1__StationResult *r, int verdict,
                            gate_signal_fn on_signal, void *ctx)
{
	struct spc_observation obs = {0};
	struct spc_result res;
	bool attribute = spc_chart_kind_is_attribute(def->spc.kind);

	if (def->nonconforming) {
		chart->blob.attr_count += verdict != VERDICT_PASS ? 1.0 : 0.0;
	} else {
		const Cellthread__V1__Measurement *m = measurement(r, def->names[0]);
		if (m == NULL)
			return;
		if (!attribute) {
			obs.value = m->value;
			goto add;
		}
		chart->blob.attr_count += m->value;
	}
	chart->blob.attr_size += 1.0;
	chart->dirty = true;
	if (++chart->blob.attr_units < def->units_per_point)
		return;
	obs.count = chart->blob.attr_count;
	obs.size = chart->blob.attr_size;
	chart->blob.attr_count = chart->blob.attr_size = 0.0;
	chart->blob.attr_units = 0;
add:
	/* A value the engine refuses (non-finite, impossible count) is skipped: ingest already
	 * dead-letters those, and one bad point must not stop a chart. */
	if (spc_chart_add(&chart->blob.engine.spc, &obs, &res) != SPC_OK)
		return;
	chart->dirty = true;
	if (!attribute)
		remember_for_capability(chart, charts_specs, def, r, obs.value);
	if (!res.plotted)
		return;
	chart->last_value = res.primary.value;
	chart->lcl = res.primary.lcl;
	chart->cl = res.primary.cl;
	chart->ucl = res.primary.ucl;
	for (uint32_t i = 0; i < res.violation_count; i++) {
		const struct spc_violation *v = &res.violations[i];
		const struct spc_point *p =
		        v->rule == SPC_RULE_SECONDARY_LIMIT || v->rule == SPC_RULE_CUSUM_LOWER
		                ? &res.secondary
		                : &res.primary;
		report(chart, def, v->rule, spc_rule_name(v->rule), v->first_point, v->last_point,
		       p->value, broken_limit(p), res.primary.cl, r, on_signal, ctx);
	}
}

static void feed_t2(struct gate_chart *chart, const struct gate_chart_def *def,
                    const Cellthread__V1__StationResult *r, gate_signal_fn on_signal, void *ctx)
{
	double x[SPC_T2_MAX_P];
	struct spc_t2_result res;

	for (int i = 0; i < def->n_names; i++) {
		const Cellthread__V1__Measurement *m = measurement(r, def->names[i]);
		if (m == NULL)
			return; /* the group is plotted only when complete */
		x[i] = m->value;
	}
	if (spc_t2_add(&chart->blob.engine.t2, x, &res) != SPC_T2_OK)
		return;
	chart->dirty = true;
	if (!res.plotted)
		return;
	chart->last_value = res.t2;
	chart->ucl = res.ucl;
	chart->lcl = chart->cl = NAN;
	if (res.signal) {
		uint64_t point = (uint64_t)chart->blob.engine.t2.plotted;
		report(chart, def, GATE_RULE_T2_LIMIT, "t2", point, point, res.t2, res.ucl, 0.0, r,
		       on_signal, ctx);
	}
}

static const Cellthread__V1__Curve *curve(const Cellthread__V1__StationResult *r, const char *name)
{
	for (size_t i = 0; i < r->n_curves; i++)
		if (strcmp(r->curves[i]->name, name) == 0)
			return r->curves[i];
	return NULL;
}

static void feed_profile(struct gate_chart *chart, const struct gate_chart_def *def,
                         const Cellthread__V1__StationResult *r, gate_signal_fn on_signal,
                         void *ctx)
{
	const Cellthread__V1__Curve *c = curve(r, def->names[0]);
	struct spc_profile_state *st = &chart->blob.engine.profile;
	struct spc_profile_score score;

	if (c == NULL || c->n_y < 2 || c->n_y > INT32_MAX)
		return;
	/* The first golden_count curves the stream shows are its golden set. */
	if (st->stage == SPC_PROFILE_STAGE_LEARNING) {
		if (spc_profile_add_golden(st, NULL, c->y, (int)c->n_y, NULL) == SPC_PROFILE_OK)
			chart->dirty = true;
		return;
	}
	if (spc_profile_score(st, NULL, c->y, (int)c->n_y, &score) != SPC_PROFILE_OK)
		return;
	chart->blob.profile_points++;
	chart->dirty = true;
	chart->last_value = score.rms;
	chart->ucl = def->profile.max_rms;
	chart->lcl = chart->cl = NAN;
	if (!score.pass)
		report(chart, def, GATE_RULE_PROFILE, "profile", chart->blob.profile_points,
		       chart->blob.profile_points, score.rms, def->profile.max_rms, 0.0, r,
		       on_signal, ctx);
}

/* The instance of a stream that has none live: its saved row reloaded, or a new one when
 * the stream has no row (admitted at the configured rate) or a row of another configuration
 * or build (the chart starts over, as after a configuration change). *ret NULL: refused. */
static int open_stream(struct gate_charts *charts, size_t d, const Cellthread__V1__StationResult *r,
                       const char *recipe, const char *key, struct gate_chart **ret)
{
	const struct gate_chart_def *def = &charts->defs[d];
	bool known = false; /* the stream has a saved row */
	int rc;

	*ret = NULL;
	if (charts->load != NULL && !ct_map_get(&charts->no_row, key, NULL)) {
		struct gate_saved_state saved;
		bool found = false;
		memset(&saved, 0, sizeof(saved));
		charts->stats.lookups++;
		rc = charts->load(charts->load_ctx, def->chart_id, r->site, r->line, r->station,
		                  recipe, &saved, &found);
		if (rc != CT_OK)
			return rc;
		if (found) {
			const double last_point[4] = {saved.last_value, saved.lcl, saved.cl,
			                              saved.ucl};
			known = true;
			rc = restore(charts, def->chart_id, r->site, r->line, r->station, recipe,
			             saved.config_hash, saved.state, saved.state_len,
			             &saved.overall, last_point, ret);
			free(saved.state);
			if (rc == CT_OK) {
				charts->stats.reloaded++;
				return CT_OK;
			}
			if (rc == CT_ERR_NOMEM)
				return rc;
		} else {
			remember_no_row(charts, key);
		}
	}
	if (!known && !may_create(charts)) {
		note_refusal(charts, def, r, false);
		return CT_OK;
	}
	if (!make_room(charts) && !known) {
		note_refusal(charts, def, r, true);
		return CT_OK;
	}
	if ((rc = add_instance(charts, d, r->site, r->line, r->station, recipe, ret)) != CT_OK)
		return rc;
	if (!known) {
		if (charts->new_per_min > 0.0)
			charts->tokens -= 1.0;
		charts->stats.created++;
		ct_map_remove(&charts->no_row, key); /* it will have a row once saved */
	}
	return CT_OK;
}

int gate_charts_feed(struct gate_charts *charts, const Cellthread__V1__StationResult *result,
                     int verdict, gate_signal_fn on_signal, void *ctx)
{
	char key[512];
	const char *recipe = result->recipe != NULL ? result->recipe : "";

	for (size_t d = 0; d < charts->n_defs; d++) {
		const struct gate_chart_def *def = &charts->defs[d];
		struct gate_chart *chart = NULL;
		size_t index;

		if (!def_matches(def, result))
			continue;
		/* Create an instance only for a stream that reports the characteristic. */
		if (def->is_profile
		            ? curve(result, def->names[0]) == NULL
		            : !def->nonconforming && measurement(result, def->names[0]) == NULL)
			continue;
		/* Charts keep one recipe apart from another only when the row names a recipe;
		 * a '*' chart follows the station whatever it runs. */
		if (strcmp(def->recipe, "*") == 0)
			recipe = "*";
		else
			recipe = result->recipe;
		instance_key(key, sizeof(key), def->chart_id, result->site, result->line,
		             result->station, recipe);
		if (ct_map_get(&charts->index, key, &index)) {
			chart = charts->charts[index];
			touch(charts, chart);
		} else {
			int rc = open_stream(charts, d, result, recipe, key, &chart);
			if (rc != CT_OK)
				return rc;
			if (chart == NULL)
				continue; /* refused: the result keeps its verdict, the chart no
				             point */
		}
		if (def->is_t2)
			feed_t2(chart, def, result, on_signal, ctx);
		else if (def->is_profile)
			feed_profile(chart, def, result, on_signal, ctx);
		else
			feed_univariate(chart, def, charts->specs, result, verdict, on_signal, ctx);
	}
	return CT_OK;
}

const struct gate_plan_step *gate_charts_plan(const struct gate_charts *charts,
                                              const struct gate_chart *chart, size_t *ret_n)
{
	const struct gate_chart_def *def = &charts->defs[chart->def];
	size_t first = 0, n = 0;

	/* The steps are sorted by plan and step (gate_charts_set_config): a plan's steps are
	 * one run. */
	if (def->plan_id[0] != '\0') {
		while (first < charts->n_steps &&
		       strcmp(charts->steps[first].plan_id, def->plan_id) != 0)
			first++;
		while (first + n < charts->n_steps &&
		       strcmp(charts->steps[first + n].plan_id, def->plan_id) == 0)
			n++;
	}
	*ret_n = n;
	return n > 0 ? &charts->steps[first] : NULL;
}

uint64_t gate_chart_points(const struct gate_charts *charts, const struct gate_chart *chart)
{
	const struct gate_chart_def *def = &charts->defs[chart->def];

	if (def->is_t2)
		return (uint64_t)chart->blob.engine.t2.plotted;
	if (def->is_profile)
		return chart->blob.profile_points;
	return chart->blob.engine.spc.points;
}

bool gate_chart_capability(const struct gate_charts *charts, const struct gate_chart *chart,
                           struct spc_capability *ret)
{
	const struct gate_chart_def *def = &charts->defs[chart->def];
	const struct spc_state *st = &chart->blob.engine.spc;
	enum spc_chart_kind kind = def->spc.kind;

	if (def->is_t2 || def->is_profile || def->nonconforming ||
	    spc_chart_kind_is_attribute(kind))
		return false;
	if (st->phase != SPC_PHASE_MONITORING || chart->overall.n < 2 || !chart->has_spec)
		return false;
	/* As ct-spc-analyze: Cp/Cpk/Cpm and the expected within PPM describe the process the
	 * chart models (its centre and within sigma; none for limits without a sigma),
	 * Pp/Ppk/Ppm and the expected overall PPM the values as they are (their mean and sample
	 * sigma). */
	bool has_sigma = st->limits.sigma > 0.0;
	struct spc_capability within, overall;
	if (spc_capability_compute(&chart->spec,
	                           has_sigma ? st->limits.centre : chart->overall.mean,
	                           has_sigma ? st->limits.sigma : NAN, NAN, &within) != SPC_OK ||
	    spc_capability_compute(&chart->spec, chart->overall.mean, NAN,
	                           sqrt(chart->overall.m2 / (double)(chart->overall.n - 1)),
	                           &overall) != SPC_OK)
		return false;
	*ret = overall;
	ret->cp = within.cp;
	ret->cpl = within.cpl;
	ret->cpu = within.cpu;
	ret->cpk = within.cpk;
	ret->cpm = within.cpm;
	ret->expected_within = within.expected_within;
	return true;
}

size_t gate_blob_size(const struct gate_chart_def *def)
{
	size_t engine = def->is_t2        ? sizeof(struct spc_t2_state)
	                : def->is_profile ? sizeof(struct spc_profile_state)
	                                  : sizeof(struct spc_state);
	return offsetof(struct gate_chart_blob, engine) + engine;
}
