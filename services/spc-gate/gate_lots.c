/* gate_lots: lot gate rules and the held sets (see gate_lots.h). */
#include "gate_lots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"

#define KIND(x)      CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_##x
#define LOT_RELEASED CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED
#define VERDICT_PASS CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS

void gate_lots_init(struct gate_lots *lots)
{
	memset(lots, 0, sizeof(*lots));
	ct_map_init(&lots->held);
	ct_map_init(&lots->held_units);
	ct_map_init(&lots->counter_index);
}

void gate_lots_cleanup(struct gate_lots *lots)
{
	free(lots->rules);
	free(lots->counters);
	ct_map_cleanup(&lots->held);
	ct_map_cleanup(&lots->held_units);
	ct_map_cleanup(&lots->counter_index);
	memset(lots, 0, sizeof(*lots));
}

void gate_lots_set_rules(struct gate_lots *lots, struct gate_lot_rule *rules, size_t n)
{
	free(lots->rules);
	lots->rules = rules;
	lots->n_rules = n;
}

static void lot_key(char *buf, size_t len, const char *site, const char *lot_id)
{
	snprintf(buf, len, "%s|%s", site, lot_id);
}

int gate_lots_set_held(struct gate_lots *lots, const char *site, const char *lot_id, int state)
{
	char key[2 * GATE_NAME_MAX + 2];

	lot_key(key, sizeof(key), site, lot_id);
	if (state == LOT_RELEASED) {
		ct_map_remove(&lots->held, key);
		return CT_OK;
	}
	return ct_map_put(&lots->held, key, (size_t)state);
}

bool gate_lots_is_held(const struct gate_lots *lots, const char *site, const char *lot_id)
{
	char key[2 * GATE_NAME_MAX + 2];

	lot_key(key, sizeof(key), site, lot_id);
	return ct_map_get(&lots->held, key, NULL);
}

int gate_lots_add_held_unit(struct gate_lots *lots, const char *unit_id)
{
	return ct_map_put(&lots->held_units, unit_id, 1);
}

static int counter(struct gate_lots *lots, const char *rule_id, const char *site,
                   const char *lot_id, struct gate_lot_counter **ret)
{
	char key[3 * GATE_NAME_MAX + 3];
	size_t index;

	snprintf(key, sizeof(key), "%s|%s|%s", rule_id, site, lot_id);
	if (ct_map_get(&lots->counter_index, key, &index)) {
		*ret = &lots->counters[index];
		return CT_OK;
	}
	{
		struct gate_lot_counter *grown =
		        ct_array_grow(lots->counters, &lots->cap_counters, lots->n_counters + 1,
		                      sizeof(*grown), 64);
		if (grown == NULL)
			return CT_ERR_NOMEM;
		lots->counters = grown;
	}
	if (ct_map_put(&lots->counter_index, key, lots->n_counters) != CT_OK)
		return CT_ERR_NOMEM;
	*ret = &lots->counters[lots->n_counters++];
	memset(*ret, 0, sizeof(**ret));
	snprintf((*ret)->rule_id, sizeof((*ret)->rule_id), "%s", rule_id);
	snprintf((*ret)->site, sizeof((*ret)->site), "%s", site);
	snprintf((*ret)->lot_id, sizeof((*ret)->lot_id), "%s", lot_id);
	return CT_OK;
}

void gate_lots_clear_counters(struct gate_lots *lots)
{
	lots->n_counters = 0;
	ct_map_clear(&lots->counter_index);
}

int gate_lots_restore_counter(struct gate_lots *lots, const char *rule_id, const char *site,
                              const char *lot_id, int64_t units, int64_t failed)
{
	struct gate_lot_counter *c;
	int rc = counter(lots, rule_id, site, lot_id, &c);

	if (rc == CT_OK) {
		c->units = units;
		c->failed = failed;
		c->dirty = false;
	}
	return rc;
}

bool gate_kind_is_lot(int unit_kind)
{
	return unit_kind == KIND(MATERIAL_LOT) || unit_kind == KIND(BATCH) ||
	       unit_kind == KIND(ELECTRODE);
}

/* The lots a result ties its unit to under a scope; returns how many went into ids. */
static size_t lots_of(const Cellthread__V1__StationResult *r, enum gate_lot_scope scope,
                      const char **ids, size_t max)
{
	size_t n = 0;

	if ((scope & GATE_SCOPE_SELF) && gate_kind_is_lot((int)r->unit_kind) && n < max)
		ids[n++] = r->unit_id;
	if (!(scope & GATE_SCOPE_MATERIALS))
		return n;
	for (size_t i = 0; i < r->n_materials && n < max; i++)
		ids[n++] = r->materials[i]->lot_id;
	for (size_t i = 0; i < r->n_children && n < max; i++)
		if (gate_kind_is_lot((int)r->children[i]->kind))
			ids[n++] = r->children[i]->unit_id;
	return n;
}

static bool rule_applies(const struct gate_lot_rule *rule, const Cellthread__V1__StationResult *r)
{
	return (strcmp(rule->station, "*") == 0 || strcmp(rule->station, r->station) == 0) &&
	       (rule->station_type == 0 || rule->station_type == (int)r->station_type);
}

static bool rule_failed(const struct gate_lot_rule *rule, const struct gate_judgement *j)
{
	if (rule->characteristic[0] == '\0')
		return j->verdict != VERDICT_PASS;
	for (size_t i = 0; i < j->n_failed; i++)
		if (strcmp(j->failed[i].characteristic, rule->characteristic) == 0)
			return true;
	return false;
}

static void note_held(struct gate_lot_outcome *out, const char *id)
{
	for (size_t i = 0; i < out->n_held; i++)
		if (strcmp(out->held[i], id) == 0)
			return;
	if (out->n_held < GATE_MAX_HELD_LOTS)
		snprintf(out->held[out->n_held++], GATE_NAME_MAX, "%s", id);
}

static int hold(struct gate_lots *lots, struct gate_lot_outcome *out, const char *site,
                const char *lot_id, int state, const char *reason)
{
	struct gate_hold *h;

	if (gate_lots_is_held(lots, site, lot_id) || out->n_holds == GATE_MAX_HOLDS)
		return CT_OK;
	if (gate_lots_set_held(lots, site, lot_id, state) != CT_OK)
		return CT_ERR_NOMEM;
	h = &out->holds[out->n_holds++];
	snprintf(h->site, sizeof(h->site), "%s", site);
	snprintf(h->lot_id, sizeof(h->lot_id), "%s", lot_id);
	h->state = state;
	snprintf(h->reason, sizeof(h->reason), "%s", reason);
	return CT_OK;
}

int gate_lots_judge(struct gate_lots *lots, const Cellthread__V1__StationResult *r,
                    const struct gate_judgement *judgement, struct gate_lot_outcome *out)
{
	const char *ids[64];
	size_t n;
	char reason[GATE_REASON_MAX];
	int rc;

	memset(out, 0, sizeof(*out));

	/* 1. What it consumed or contains that is on hold now: ingest's flags, checked again
	 * against our own set (a hold decided in this very batch is not in ingest's yet). */
	for (size_t i = 0; i < r->n_held_lots; i++)
		note_held(out, r->held_lots[i]);
	n = lots_of(r, GATE_SCOPE_MATERIALS, ids, 64);
	for (size_t i = 0; i < n; i++)
		if (gate_lots_is_held(lots, r->site, ids[i]))
			note_held(out, ids[i]);
	for (size_t i = 0; i < r->n_children; i++)
		if (ct_map_get(&lots->held_units, r->children[i]->unit_id, NULL))
			note_held(out, r->children[i]->unit_id);
	if (out->n_held > 0) {
		snprintf(out->held_via_lot, sizeof(out->held_via_lot), "%s", out->held[0]);
		snprintf(out->inspection_reason, sizeof(out->inspection_reason), "consumes held %s",
		         out->held[0]);
		/* A lot made from a held lot is held in turn, so ingest flags what consumes it. */
		if (gate_kind_is_lot((int)r->unit_kind)) {
			snprintf(reason, sizeof(reason), "made from held %s", out->held[0]);
			if ((rc = hold(lots, out, r->site, r->unit_id,
			               CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD, reason)) != CT_OK)
				return rc;
		}
	}

	/* 2. Gate rules. */
	for (size_t k = 0; k < lots->n_rules; k++) {
		const struct gate_lot_rule *rule = &lots->rules[k];
		bool failed;

		if (!rule_applies(rule, r))
			continue;
		failed = rule_failed(rule, judgement);
		n = lots_of(r, rule->scope, ids, 64);
		for (size_t i = 0; i < n; i++) {
			if (!rule->fail_rate_mode) {
				if (!failed)
					continue;
				snprintf(reason, sizeof(reason),
				         "gate rule %s: unit %s failed %s at %s", rule->rule_id,
				         r->unit_id,
				         rule->characteristic[0] ? rule->characteristic
				                                 : "its specs",
				         r->station);
				if ((rc = hold(lots, out, r->site, ids[i], rule->hold_state,
				               reason)) != CT_OK)
					return rc;
				continue;
			}
			struct gate_lot_counter *c;
			if ((rc = counter(lots, rule->rule_id, r->site, ids[i], &c)) != CT_OK)
				return rc;
			c->units++;
			c->failed += failed ? 1 : 0;
			c->dirty = true;
			if (c->units >= rule->min_units &&
			    (double)c->failed >= rule->fail_rate * (double)c->units) {
				snprintf(reason, sizeof(reason),
				         "gate rule %s: %lld of %lld units failed %s at %s (limit "
				         "%.3g)",
				         rule->rule_id, (long long)c->failed, (long long)c->units,
				         rule->characteristic[0] ? rule->characteristic
				                                 : "their specs",
				         r->station, rule->fail_rate);
				if ((rc = hold(lots, out, r->site, ids[i], rule->hold_state,
				               reason)) != CT_OK)
					return rc;
			}
		}
	}
	return CT_OK;
}
