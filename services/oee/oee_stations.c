/* oee_stations: the stations ct-oee has seen, and the states it derives for those that send
 * results but never a state (contracts in oee_logic.h).
 *
 * A derived station runs while results come: PRODUCING from the start of the first result
 * after a stop; it is in UNKNOWN_STOP from the end of its last result once no result ended for
 * oee.unknown_gap_s. The derived rows carry IDs derived from the station, state and since, so
 * deriving the same state again after a restart stores nothing new. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "oee_logic.h"

void oee_stations_init(struct oee_stations *s)
{
	memset(s, 0, sizeof(*s));
	ct_map_init(&s->index);
}

void oee_stations_cleanup(struct oee_stations *s)
{
	free(s->items);
	ct_map_cleanup(&s->index);
	memset(s, 0, sizeof(*s));
}

static int station_key(char *key, size_t len, const char *site, const char *line,
                       const char *station)
{
	int n = snprintf(key, len, "%s/%s/%s", site, line, station);

	return n < 0 || (size_t)n >= len ? CT_ERR_TOO_BIG : CT_OK;
}

int oee_stations_remove(struct oee_stations *s, size_t at)
{
	char key[3 * (CT_ID_MAX + 1)];
	struct oee_station *st = &s->items[at], *last = &s->items[s->n - 1];

	if (station_key(key, sizeof(key), st->site, st->line, st->station) == CT_OK)
		ct_map_remove(&s->index, key);
	if (st != last) {
		*st = *last;
		/* Replacing an existing key's value allocates nothing. */
		if (station_key(key, sizeof(key), st->site, st->line, st->station) != CT_OK ||
		    ct_map_put(&s->index, key, at) != CT_OK)
			return CT_ERR_NOMEM;
	}
	s->n--;
	return CT_OK;
}

int oee_stations_get(struct oee_stations *s, const char *site, const char *line,
                     const char *station, int64_t now_ms, struct oee_station **ret)
{
	char key[3 * (CT_ID_MAX + 1)];
	struct oee_station *st;
	size_t at;
	int n = snprintf(key, sizeof(key), "%s/%s/%s", site, line, station);

	if (n < 0 || (size_t)n >= sizeof(key) || strlen(site) > CT_ID_MAX ||
	    strlen(line) > CT_ID_MAX || strlen(station) > CT_ID_MAX)
		return CT_ERR_TOO_BIG;
	if (ct_map_get(&s->index, key, &at)) {
		*ret = &s->items[at];
		return CT_OK;
	}
	st = ct_array_grow(s->items, &s->cap, s->n + 1, sizeof(*st), 16);
	if (st == NULL)
		return CT_ERR_NOMEM;
	s->items = st;
	if (ct_map_put(&s->index, key, s->n) != CT_OK)
		return CT_ERR_NOMEM;
	st = &s->items[s->n++];
	memset(st, 0, sizeof(*st));
	memcpy(st->site, site, strlen(site) + 1);
	memcpy(st->line, line, strlen(line) + 1);
	memcpy(st->station, station, strlen(station) + 1);
	st->first_seen_ms = now_ms;
	*ret = st;
	return CT_OK;
}

void oee_station_result(struct oee_station *st, int64_t started_us, int64_t ended_us)
{
	if (ended_us > st->last_ended_us)
		st->last_ended_us = ended_us;
	if (st->derived_state == OEE_DERIVE_PRODUCING)
		return;
	/* A run starts after the stop it ends: at the same instant the two rows would tie on
	 * since_us, and station_state orders ties by event ID, where "oee-run-" sorts before
	 * "oee-unk-": the PRODUCING would hide behind the UNKNOWN_STOP. */
	if (started_us <= st->derived_since_us)
		started_us = st->derived_since_us + 1;
	if (st->run_started_us == 0 || started_us < st->run_started_us)
		st->run_started_us = started_us;
}

void oee_stations_spread_refreshes(struct oee_stations *s, size_t n_open, int64_t now_ms,
                                   int64_t refresh_ms)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n && k < n_open; i++) {
		struct oee_station *st = &s->items[i];
		if (st->open_shift[0] != '\0')
			st->next_refresh_ms = now_ms + (int64_t)k++ * refresh_ms / (int64_t)n_open;
	}
}

enum oee_derive oee_station_derive(const struct oee_station *st, int64_t now_us, int64_t now_ms,
                                   int64_t gap_us, bool caught_up, int64_t *ret_since_us)
{
	if (!st->loaded || st->has_station_states || now_ms - st->first_seen_ms < gap_us / 1000)
		return OEE_DERIVE_NONE;
	if (st->derived_state != OEE_DERIVE_PRODUCING && st->run_started_us > 0) {
		*ret_since_us = st->run_started_us;
		return OEE_DERIVE_PRODUCING;
	}
	if (caught_up && st->derived_state == OEE_DERIVE_PRODUCING && st->last_ended_us > 0 &&
	    st->last_ended_us > st->derived_since_us && now_us - st->last_ended_us > gap_us) {
		*ret_since_us = st->last_ended_us;
		return OEE_DERIVE_UNKNOWN_STOP;
	}
	return OEE_DERIVE_NONE;
}

void oee_station_derived(struct oee_station *st, enum oee_derive state, int64_t since_us)
{
	st->derived_state = (int)state;
	st->derived_since_us = since_us;
	if (state == OEE_DERIVE_PRODUCING)
		st->run_started_us = 0;
}
