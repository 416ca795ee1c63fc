/* gate_map: a hash map from short strings (IDs, chart keys) to size_t values, for chart
 * instances and the sets of held lots and units.
 *
 * Open addressing with linear probing and tombstones; the table doubles at 70 % load
 * (counting tombstones) so lookups stay short. Keys are copied. Not thread-safe. */
#ifndef GATE_MAP_H
#define GATE_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct gate_map_slot {
	char *key; /* NULL: empty; GATE_MAP_TOMBSTONE: deleted */
	size_t value;
};

struct gate_map {
	struct gate_map_slot *slots;
	size_t cap;  /* power of two, or 0 before the first insert */
	size_t used; /* live keys */
	size_t dead; /* tombstones */
};

void gate_map_init(struct gate_map *map);
void gate_map_cleanup(struct gate_map *map);
/* Removes every key; keeps the table. */
void gate_map_clear(struct gate_map *map);
/* Sets key to value (adding it, or replacing its value). Returns CT_OK or CT_ERR_NOMEM. */
int gate_map_put(struct gate_map *map, const char *key, size_t value);
/* True when key is present; its value goes to *ret_value (may be NULL). */
bool gate_map_get(const struct gate_map *map, const char *key, size_t *ret_value);
/* Removes key; true when it was present. */
bool gate_map_remove(struct gate_map *map, const char *key);
static inline size_t gate_map_count(const struct gate_map *map)
{
	return map->used;
}

#endif
