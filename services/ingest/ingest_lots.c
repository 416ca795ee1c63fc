/* ingest_lots: held-lot set with linear probing (contract in ingest_lots.h).
 *
 * The key of a lot is "site/lot_id": IDs never contain '/', so the pair maps to one string
 * and back. `slots` is a power-of-two array of entries (key NULL = empty), kept at most half
 * full so probe chains stay short; it doubles when an insert would pass that. A removal
 * shifts later members of its probe chain back (Knuth's algorithm R) instead of leaving a
 * tombstone, so holds and releases can go on for years without the table filling with dead
 * slots.
 *
 * The hash is FNV-1a, unkeyed: only spc-gate may publish lot status (broker ACL), so the keys
 * in the table are not an outsider's choice, and a lookup with any string costs at most one
 * probe chain of those keys. */
#include "ingest_lots.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_topic.h"

#define LOT_TOPIC_PREFIX CT_TOPIC_ROOT "/lot/"
#define KEY_MAX          (2 * CT_ID_MAX + 2)

struct entry {
	uint64_t hash;
	char *key; /* "site/lot_id", heap; NULL for an empty slot */
};

struct ingest_lots {
	struct entry *slots;
	size_t mask;  /* slots - 1 */
	size_t count; /* keys in the table */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

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
	if (lots == NULL)
		return NULL;
	lots->slots = calloc(16, sizeof(*lots->slots));
	if (lots->slots == NULL) {
		free(lots);
		return NULL;
	}
	lots->mask = 15;
	return lots;
}

void ingest_lots_free(struct ingest_lots *lots)
{
	if (lots == NULL)
		return;
	for (size_t i = 0; i <= lots->mask; i++)
		free(lots->slots[i].key);
	free(lots->slots);
	free(lots);
}

struct ingest_lots *ingest_lots_clone(const struct ingest_lots *lots)
{
	struct ingest_lots *copy = calloc(1, sizeof(*copy));

	if (copy == NULL)
		return NULL;
	copy->slots = calloc(lots->mask + 1, sizeof(*copy->slots));
	if (copy->slots == NULL) {
		free(copy);
		return NULL;
	}
	copy->mask = lots->mask;
	for (size_t i = 0; i <= lots->mask; i++) {
		if (lots->slots[i].key == NULL)
			continue;
		copy->slots[i].hash = lots->slots[i].hash;
		copy->slots[i].key = strdup(lots->slots[i].key);
		if (copy->slots[i].key == NULL) {
			ingest_lots_free(copy);
			return NULL;
		}
		copy->count++;
	}
	return copy;
}

/* The slot holding key, or the empty slot where probing for it stopped. */
static size_t probe(const struct ingest_lots *lots, const char *key, uint64_t hash)
{
	size_t slot = hash & lots->mask;
	while (lots->slots[slot].key != NULL) {
		if (lots->slots[slot].hash == hash && strcmp(lots->slots[slot].key, key) == 0)
			break;
		slot = (slot + 1) & lots->mask;
	}
	return slot;
}

/* Doubles the table, re-inserting every key. Returns CT_OK or CT_ERR_NOMEM (unchanged). */
static int grow(struct ingest_lots *lots)
{
	size_t n = (lots->mask + 1) * 2;
	struct entry *old = lots->slots, *slots = calloc(n, sizeof(*slots));
	size_t old_n = lots->mask + 1;

	if (slots == NULL)
		return CT_ERR_NOMEM;
	lots->slots = slots;
	lots->mask = n - 1;
	for (size_t i = 0; i < old_n; i++)
		if (old[i].key != NULL)
			lots->slots[probe(lots, old[i].key, old[i].hash)] = old[i];
	free(old);
	return CT_OK;
}

/* Empties slot `hole`, moving later members of its chain back so each stays reachable. */
static void remove_slot(struct ingest_lots *lots, size_t hole)
{
	size_t j = hole, home;

	free(lots->slots[hole].key);
	for (;;) {
		j = (j + 1) & lots->mask;
		if (lots->slots[j].key == NULL)
			break;
		home = lots->slots[j].hash & lots->mask;
		/* The entry at j stays when its home lies cyclically in (hole, j]. */
		if (hole <= j ? (home > hole && home <= j) : (home > hole || home <= j))
			continue;
		lots->slots[hole] = lots->slots[j];
		hole = j;
	}
	lots->slots[hole].key = NULL;
	lots->slots[hole].hash = 0;
	lots->count--;
}

int ingest_lots_set(struct ingest_lots *lots, const char *site, const char *lot_id, bool held)
{
	char key[KEY_MAX];
	uint64_t hash;
	size_t slot;

	if (!make_key(site, lot_id, key))
		return CT_ERR_INVALID;
	hash = fnv1a(key);
	slot = probe(lots, key, hash);
	if (!held) {
		if (lots->slots[slot].key != NULL)
			remove_slot(lots, slot);
		return CT_OK;
	}
	if (lots->slots[slot].key != NULL)
		return CT_OK; /* already held */
	if (lots->count >= INGEST_LOTS_MAX)
		return CT_ERR_TOO_BIG;
	if (2 * (lots->count + 1) > lots->mask + 1) {
		if (grow(lots) != CT_OK)
			return CT_ERR_NOMEM;
		slot = probe(lots, key, hash);
	}
	lots->slots[slot].key = strdup(key);
	if (lots->slots[slot].key == NULL)
		return CT_ERR_NOMEM;
	lots->slots[slot].hash = hash;
	lots->count++;
	return CT_OK;
}

bool ingest_lots_is_held(const struct ingest_lots *lots, const char *site, const char *lot_id)
{
	char key[KEY_MAX];

	if (lots->count == 0 || !make_key(site, lot_id, key))
		return false;
	return lots->slots[probe(lots, key, fnv1a(key))].key != NULL;
}

size_t ingest_lots_count(const struct ingest_lots *lots)
{
	return lots->count;
}

bool ingest_lots_is_lot_topic(const char *topic)
{
	return strncmp(topic, LOT_TOPIC_PREFIX, strlen(LOT_TOPIC_PREFIX)) == 0;
}

/* Splits ct/v1/lot/{site}/{lot_id} into its two IDs; false when it is not that shape. */
static bool parse_topic(const char *topic, char *site, char *lot_id)
{
	const char *rest = topic + strlen(LOT_TOPIC_PREFIX);
	const char *slash = strchr(rest, '/');
	size_t site_len;
	size_t lot_len;

	if (!ingest_lots_is_lot_topic(topic) || slash == NULL)
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
	if (lots->count == 0 || cap == 0)
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
