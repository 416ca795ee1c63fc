/* ct_map: the runtime's one hash map, from short strings (IDs, keys) to size_t values: spc-gate's
 * chart instances and held lots and units, ingest's held-lot set, the duplicate filter's index.
 *
 * Open addressing with linear probing and tombstones; the table doubles at 70 % load
 * (counting tombstones) so lookups stay short. Keys are copied. Not thread-safe. */
#ifndef CT_MAP_H
#define CT_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct ct_map_slot {
	char *key; /* NULL: empty; CT_MAP_TOMBSTONE: deleted */
	size_t value;
};

struct ct_map {
	struct ct_map_slot *slots;
	size_t cap;  /* power of two, or 0 before the first insert */
	size_t used; /* live keys */
	size_t dead; /* tombstones */
};

void ct_map_init(struct ct_map *map);
void ct_map_cleanup(struct ct_map *map);
/* Removes every key; keeps the table. */
void ct_map_clear(struct ct_map *map);
/* Sets key to value (adding it, or replacing its value). Returns CT_OK or CT_ERR_NOMEM. */
int ct_map_put(struct ct_map *map, const char *key, size_t value);
/* True when key is present; its value goes to *ret_value (may be NULL). */
bool ct_map_get(const struct ct_map *map, const char *key, size_t *ret_value);
/* Copies every key and value of map into ret (initialised here). Returns CT_OK or
 * CT_ERR_NOMEM (ret then empty). */
int ct_map_clone(const struct ct_map *map, struct ct_map *ret);
/* Removes key; true when it was present. */
bool ct_map_remove(struct ct_map *map, const char *key);
static inline size_t ct_map_count(const struct ct_map *map)
{
	return map->used;
}

#endif
