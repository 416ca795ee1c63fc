/* ct_map: string-keyed open-addressing hash map (see ct_map.h). */
#include "ct_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"

static char tombstone;
#define CT_MAP_TOMBSTONE (&tombstone)

/* FNV-1a: keys are short IDs chosen by the plant, not by an attacker with a budget; the
 * table's load bound keeps even a poor distribution usable. */
static uint64_t hash(const char *key)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

void ct_map_init(struct ct_map *map)
{
	memset(map, 0, sizeof(*map));
}

void ct_map_clear(struct ct_map *map)
{
	for (size_t i = 0; i < map->cap; i++) {
		if (map->slots[i].key != NULL && map->slots[i].key != CT_MAP_TOMBSTONE)
			free(map->slots[i].key);
		map->slots[i].key = NULL;
	}
	map->used = 0;
	map->dead = 0;
}

void ct_map_cleanup(struct ct_map *map)
{
	ct_map_clear(map);
	free(map->slots);
	ct_map_init(map);
}

/* The slot holding key, or NULL. */
static struct ct_map_slot *find(const struct ct_map *map, const char *key)
{
	if (map->cap == 0)
		return NULL;
	for (size_t i = hash(key) & (map->cap - 1);; i = (i + 1) & (map->cap - 1)) {
		struct ct_map_slot *slot = &map->slots[i];
		if (slot->key == NULL)
			return NULL;
		if (slot->key != CT_MAP_TOMBSTONE && strcmp(slot->key, key) == 0)
			return slot;
	}
}

/* Moves every live key into a table of new_cap slots, dropping tombstones. */
static int grow(struct ct_map *map, size_t new_cap)
{
	struct ct_map_slot *slots = calloc(new_cap, sizeof(*slots));

	if (slots == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = 0; i < map->cap; i++) {
		struct ct_map_slot *old = &map->slots[i];
		size_t j;
		if (old->key == NULL || old->key == CT_MAP_TOMBSTONE)
			continue;
		for (j = hash(old->key) & (new_cap - 1); slots[j].key != NULL;
		     j = (j + 1) & (new_cap - 1))
			;
		slots[j] = *old;
	}
	free(map->slots);
	map->slots = slots;
	map->cap = new_cap;
	map->dead = 0;
	return CT_OK;
}

int ct_map_put(struct ct_map *map, const char *key, size_t value)
{
	struct ct_map_slot *slot = find(map, key);
	char *copy;

	if (slot != NULL) {
		slot->value = value;
		return CT_OK;
	}
	if ((map->used + map->dead + 1) * 10 >= map->cap * 7) {
		size_t new_cap = map->cap == 0 ? 16 : map->cap;
		while ((map->used + 1) * 10 >= new_cap * 7 / 2)
			new_cap *= 2;
		if (grow(map, new_cap) != CT_OK)
			return CT_ERR_NOMEM;
	}
	copy = strdup(key);
	if (copy == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = hash(key) & (map->cap - 1);; i = (i + 1) & (map->cap - 1)) {
		slot = &map->slots[i];
		if (slot->key == NULL || slot->key == CT_MAP_TOMBSTONE) {
			if (slot->key == CT_MAP_TOMBSTONE)
				map->dead--;
			slot->key = copy;
			slot->value = value;
			map->used++;
			return CT_OK;
		}
	}
}

bool ct_map_get(const struct ct_map *map, const char *key, size_t *ret_value)
{
	const struct ct_map_slot *slot = find(map, key);

	if (slot == NULL)
		return false;
	if (ret_value != NULL)
		*ret_value = slot->value;
	return true;
}

bool ct_map_remove(struct ct_map *map, const char *key)
{
	struct ct_map_slot *slot = find(map, key);

	if (slot == NULL)
		return false;
	free(slot->key);
	slot->key = CT_MAP_TOMBSTONE;
	map->used--;
	map->dead++;
	return true;
}

int ct_map_clone(const struct ct_map *map, struct ct_map *ret)
{
	ct_map_init(ret);
	for (size_t i = 0; i < map->cap; i++) {
		const struct ct_map_slot *slot = &map->slots[i];
		if (slot->key == NULL || slot->key == CT_MAP_TOMBSTONE)
			continue;
		if (ct_map_put(ret, slot->key, slot->value) != CT_OK) {
			ct_map_cleanup(ret);
			return CT_ERR_NOMEM;
		}
	}
	return CT_OK;
}
