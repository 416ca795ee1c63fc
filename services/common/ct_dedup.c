/* ct_dedup: fixed-size FIFO window of event IDs with an open-addressing index.
 *
 * Two arrays, both allocated in ct_dedup_new and never resized. `ring` holds the IDs
 * themselves (copied, with their hash) in insertion order; `next` is where the next ID goes,
 * which once the ring is full is the oldest entry, evicted first. `table` is a linear-probing
 * hash index into the ring (slot = ring index + 1, 0 = empty) with at least twice as many slots
 * as the ring has entries, so probes stay short. Eviction deletes the old ID's slot with
 * backward shifting (Knuth's algorithm R) instead of tombstones, so the table never fills up
 * with dead slots however long the service runs. A hit needs equal hashes and equal strings.
 *
 * The hash is SipHash-2-4 under a key drawn from getrandom at creation: event IDs come from the
 * outside, and a keyed hash keeps a sender from choosing IDs that all land on one probe chain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ct_ids.h"
#include "ct_dedup.h"

/* One remembered ID. */
struct entry {
	uint64_t hash;
	uint64_t content; /* fingerprint of what came with the ID; 0: not known */
	char id[CT_ID_MAX + 1];
};

struct ct_dedup {
	size_t capacity; /* entries in ring */
	size_t count;    /* entries in use, <= capacity */
	size_t next;     /* ring index the next ID goes to; the oldest once full */
	size_t mask;     /* table slots - 1 (a power of two minus one) */
	uint64_t key[2]; /* SipHash key */
	uint32_t *table; /* ring index + 1, or 0 for an empty slot */
	struct entry *ring;
};

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

/* SipHash-2-4 of in[0..len) under key (reference: Aumasson and Bernstein, 2012). */
static uint64_t siphash24(const uint64_t key[2], const unsigned char *in, size_t len)
{
	uint64_t v[4] = {
	        key[0] ^ UINT64_C(0x736f6d6570736575),
	        key[1] ^ UINT64_C(0x646f72616e646f6d),
	        key[0] ^ UINT64_C(0x6c7967656e657261),
	        key[1] ^ UINT64_C(0x7465646279746573),
	};
	const size_t end = len - len % 8;
	uint64_t m;
	size_t i, j;

	for (i = 0; i < end; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	for (m = (uint64_t)len << 56, j = 0; j < len % 8; j++)
		m |= (uint64_t)in[end + j] << (8 * j);
	v[3] ^= m;
	sipround(v);
	sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

struct ct_dedup *ct_dedup_new(size_t capacity)
{
	struct ct_dedup *dedup = NULL;
	size_t slots = 2;

	if (capacity == 0 || capacity > CT_DEDUP_MAX_CAPACITY)
		return NULL;
	while (slots < 2 * capacity)
		slots *= 2;
	if ((dedup = calloc(1, sizeof(*dedup))) == NULL)
		goto fail;
	dedup->capacity = capacity;
	dedup->mask = slots - 1;
	dedup->table = calloc(slots, sizeof(*dedup->table));
	dedup->ring = calloc(capacity, sizeof(*dedup->ring));
	if (dedup->table == NULL || dedup->ring == NULL)
		goto fail;
	if (getrandom(dedup->key, sizeof(dedup->key), GRND_NONBLOCK) != sizeof(dedup->key)) {
		/* Early boot without entropy: a weaker key only weakens flooding resistance. */
		dedup->key[0] = (uint64_t)time(NULL) ^ UINT64_C(0x9e3779b97f4a7c15);
		dedup->key[1] = (uint64_t)(uintptr_t)dedup ^ (uint64_t)clock();
	}
	return dedup;
fail:
	ct_dedup_free(dedup);
	return NULL;
}

void ct_dedup_free(struct ct_dedup *dedup)
{
	if (dedup == NULL)
		return;
	free(dedup->table);
	free(dedup->ring);
	free(dedup);
}

/* The table slot holding id, or the empty slot where probing for it stopped. */
static size_t probe(const struct ct_dedup *dedup, const char *id, uint64_t hash)
{
	size_t slot = hash & dedup->mask;
	const struct entry *e;

	while (dedup->table[slot] != 0) {
		e = &dedup->ring[dedup->table[slot] - 1];
		if (e->hash == hash && strcmp(e->id, id) == 0)
			break;
		slot = (slot + 1) & dedup->mask;
	}
	return slot;
}

/* Removes the slot of ring entry idx, shifting later members of its probe chain back so
 * every remaining entry stays reachable from its home slot. */
static void remove_slot(struct ct_dedup *dedup, size_t idx)
{
	const struct entry *e = &dedup->ring[idx];
	size_t hole = probe(dedup, e->id, e->hash), j = hole, home;

	for (;;) {
		j = (j + 1) & dedup->mask;
		if (dedup->table[j] == 0)
			break;
		home = dedup->ring[dedup->table[j] - 1].hash & dedup->mask;
		/* The entry at j may move to the hole unless its home lies cyclically in
		 * (hole, j]: then the hole is before its home and it must stay. */
		if (hole <= j ? (home > hole && home <= j) : (home > hole || home <= j))
			continue;
		dedup->table[hole] = dedup->table[j];
		hole = j;
	}
	dedup->table[hole] = 0;
}

bool ct_dedup_check_and_add_content(struct ct_dedup *dedup, const char *id, uint64_t content,
                                    bool *ret_conflict)
{
	struct entry *e;
	uint64_t hash;
	size_t len, slot;

	if (ret_conflict != NULL)
		*ret_conflict = false;
	if (id == NULL)
		return false;
	len = strnlen(id, CT_ID_MAX + 1);
	if (len == 0 || len > CT_ID_MAX)
		return false;
	hash = siphash24(dedup->key, (const unsigned char *)id, len);
	slot = probe(dedup, id, hash);
	if (dedup->table[slot] != 0) {
		const struct entry *seen = &dedup->ring[dedup->table[slot] - 1];
		if (ret_conflict != NULL)
			*ret_conflict =
			        content != 0 && seen->content != 0 && content != seen->content;
		return true;
	}
	if (dedup->count == dedup->capacity) {
		remove_slot(dedup, dedup->next);
		slot = probe(dedup, id, hash); /* the shift may have moved the empty slot */
	} else {
		dedup->count++;
	}
	e = &dedup->ring[dedup->next];
	e->hash = hash;
	e->content = content;
	memcpy(e->id, id, len + 1);
	dedup->table[slot] = (uint32_t)(dedup->next + 1);
	dedup->next = (dedup->next + 1) % dedup->capacity;
	return false;
}

bool ct_dedup_check_and_add(struct ct_dedup *dedup, const char *id)
{
	return ct_dedup_check_and_add_content(dedup, id, 0, NULL);
}

uint64_t ct_dedup_fingerprint(const struct ct_dedup *dedup, const void *data, size_t len)
{
	/* The set's own keyed hash, with the key's halves swapped so a fingerprint is not an
	 * ID's index hash; never 0, which means "not known". */
	uint64_t key[2] = {dedup->key[1], dedup->key[0]};
	uint64_t fp = siphash24(key, (const unsigned char *)data, len);

	return fp != 0 ? fp : 1;
}

size_t ct_dedup_count(const struct ct_dedup *dedup)
{
	return dedup->count;
}
