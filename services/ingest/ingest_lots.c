/* ingest_lots: the held-lot set (contract in ingest_lots.h).
 *
 * The key of a lot is "site/lot_id": IDs never contain '/', so the pair maps to one string
 * and back. The set is the runtime's hash map (ct_map), whose removals leave tombstones that
 * the next growth drops, so holds and releases can go on for years without the table filling
 * with dead slots. Keys are not an outsider's choice: only spc-gate may publish lot status
 * (broker ACL). */
#include "ingest_lots.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_map.h"
#include "ct_topic.h"

#define LOT_TOPIC_PREFIX CT_TOPIC_ROOT "/lot/"
#define KEY_MAX          (2 * CT_ID_MAX + 2)

struct ingest_lots {
	struct ct_map held; /* "site/lot_id" -> 0 */
};

/* Writes "site/lot_id" into key[KEY_MAX]; false when either is not an ID. */
static bool make_key(const char *site, const char *lot_id, char *key)
{
	if (!ct_id_is_valid(site) || !ct_id_is_valid(lot_id))
		return false;
	snprintf(key, KEY_MAX, "%s/%s", site, lot_id);
	return true;
}

struct ingest_lots *ingest_lots_new(void)
{
	struct ingest_lots *lots = calloc(1, sizeof(*lots));

	if (lots != NULL)
		ct_map_init(&lots->held);
	return lots;
}

void ingest_lots_free(struct ingest_lots *lots)
{
	if (lots == NULL)
		return;
	ct_map_cleanup(&lots->held);
	free(lots);
}

struct ingest_lots *ingest_lots_clone(const struct ingest_lots *lots)
{
	struct ingest_lots *copy = calloc(1, sizeof(*copy));

	if (copy == NULL)
		return NULL;
	if (ct_map_clone(&lots->held, &copy->held) != CT_OK) {
		free(copy);
		return NULL;
	}
	return copy;
}

int ingest_lots_set(struct ingest_lots *lots, const char *site, const char *lot_id, bool held)
{
	char key[KEY_MAX];

	if (!make_key(site, lot_id, key))
		return CT_ERR_INVALID;
	if (!held) {
		ct_map_remove(&lots->held, key);
		return CT_OK;
	}
	if (ct_map_get(&lots->held, key, NULL))
		return CT_OK; /* already held */
	if (ct_map_count(&lots->held) >= INGEST_LOTS_MAX)
		return CT_ERR_TOO_BIG;
	return ct_map_put(&lots->held, key, 0);
}

bool ingest_lots_is_held(const struct ingest_lots *lots, const char *site, const char *lot_id)
{
	char key[KEY_MAX];

	if (ct_map_count(&lots->held) == 0 || !make_key(site, lot_id, key))
		return false;
	return ct_map_get(&lots->held, key, NULL);
}

size_t ingest_lots_count(const struct ingest_lots *lots)
{
	return ct_map_count(&lots->held);
}

bool ingest_lots_is_lot_topic(const char *topic)
{
	return strncmp(topic, LOT_TOPIC_PREFIX, strlen(LOT_TOPIC_PREFIX)) == 0;
}

/* Splits ct/v1/lot/{site}/{lot_id} into its two IDs; false when it is not that shape. */
static bool parse_topic(const char *topic, char *site, char *lot_id)
{
	const char *rest, *slash;
	size_t site_len;
	size_t lot_len;

	/* The prefix first: a shorter topic has nothing after it to look at. */
	if (!ingest_lots_is_lot_topic(topic))
		return false;
	rest = topic + strlen(LOT_TOPIC_PREFIX);
	if ((slash = strchr(rest, '/')) == NULL)
		return false;
	site_len = (size_t)(slash - rest);
	lot_len = strlen(slash + 1);
	if (site_len == 0 || site_len > CT_ID_MAX || lot_len > CT_ID_MAX)
		return false;
	memcpy(site, rest, site_len);
	site[site_len] = '\0';
	memcpy(lot_id, slash + 1, lot_len + 1);
	return ct_id_is_valid(site) && ct_id_is_valid(lot_id);
}

int ingest_lots_apply(struct ingest_lots *lots, const char *topic, const uint8_t *payload,
                      size_t len, size_t max_len, int *ret_reason, char *err, size_t err_len)
{
	char site[CT_ID_MAX + 1], lot_id[CT_ID_MAX + 1];
	ProtobufCMessage *msg = NULL;
	const Cellthread__V1__LotStatus *st;
	int rc;

	if (!parse_topic(topic, site, lot_id)) {
		*ret_reason = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC;
		return ct_set_error(err, err_len, CT_ERR_INVALID,
		                    "lot status topics are " LOT_TOPIC_PREFIX "{site}/{lot_id}");
	}
	if (len == 0) /* the retained status was deleted: nothing holds the lot */
		return ingest_lots_set(lots, site, lot_id, false);
	rc = ct_pb_unpack(&cellthread__v1__lot_status__descriptor, payload, len, max_len, &msg);
	if (rc != CT_OK) {
		*ret_reason =
		        rc == CT_ERR_TOO_BIG
		                ? CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_OVERSIZE
		                : CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE;
		return ct_set_error(err, err_len, rc,
		                    "not a valid cellthread.v1.LotStatus message");
	}
	st = (const Cellthread__V1__LotStatus *)msg;
	*ret_reason = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID;
	if (strcmp(st->site, site) != 0 || strcmp(st->lot_id, lot_id) != 0)
		rc = ct_set_error(err, err_len, CT_ERR_INVALID,
		                  "site/lot_id: '%.64s/%.64s' differs from the topic's", st->site,
		                  st->lot_id);
	else if (st->state != CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED &&
	         st->state != CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD &&
	         st->state != CELLTHREAD__V1__LOT_STATE__LOT_STATE_QUARANTINED)
		rc = ct_set_error(err, err_len, CT_ERR_INVALID,
		                  "state: %d is not RELEASED, HELD or QUARANTINED", (int)st->state);
	else
		rc = ingest_lots_set(lots, site, lot_id,
		                     st->state != CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED);
	if (rc == CT_ERR_TOO_BIG)
		ct_set_error(err, err_len, rc, "more than %zu held lots", INGEST_LOTS_MAX);
	ct_pb_free(msg);
	return rc;
}

/* Appends id to the result's held_lots unless it is there already. */
static int add_held(Cellthread__V1__StationResult *r, const char *id, size_t cap)
{
	char *copy;
	for (size_t i = 0; i < r->n_held_lots; i++)
		if (strcmp(r->held_lots[i], id) == 0)
			return CT_OK;
	if (r->n_held_lots >= cap)
		return CT_OK; /* cannot happen: cap counts every candidate */
	copy = strdup(id);
	if (copy == NULL)
		return CT_ERR_NOMEM;
	r->held_lots[r->n_held_lots++] = copy;
	return CT_OK;
}

static void clear_held(Cellthread__V1__StationResult *r)
{
	for (size_t i = 0; i < r->n_held_lots; i++)
		free(r->held_lots[i]);
	free(r->held_lots);
	r->held_lots = NULL;
	r->n_held_lots = 0;
}

int ingest_lots_mark_result(const struct ingest_lots *lots, Cellthread__V1__StationResult *result)
{
	size_t cap = result->n_materials + result->n_children;
	int rc = CT_OK;

	clear_held(result);
	if (ct_map_count(&lots->held) == 0 || cap == 0)
		return CT_OK;
	for (size_t i = 0; i < result->n_materials && rc == CT_OK; i++)
		if (ingest_lots_is_held(lots, result->site, result->materials[i]->lot_id)) {
			if (result->held_lots == NULL &&
			    (result->held_lots = calloc(cap, sizeof(char *))) == NULL)
				return CT_ERR_NOMEM;
			rc = add_held(result, result->materials[i]->lot_id, cap);
		}
	for (size_t i = 0; i < result->n_children && rc == CT_OK; i++)
		if (ingest_lots_is_held(lots, result->site, result->children[i]->unit_id)) {
			if (result->held_lots == NULL &&
			    (result->held_lots = calloc(cap, sizeof(char *))) == NULL)
				return CT_ERR_NOMEM;
			rc = add_held(result, result->children[i]->unit_id, cap);
		}
	if (rc != CT_OK)
		clear_held(result);
	return rc;
}
