/* oee_logic: the pure part of ct-oee (no broker, no database, no clock: the caller passes the
 * time in), unit-tested in tests/unit/test_oee_logic.c.
 *
 * - The dirty set: (site, line, station, shift) pairs whose figures must be computed again,
 *   each with when it is due and the oldest batch that dirtied it. A station's pair always
 *   dirties its line's pair (station ""), due no later.
 * - The commit rule: a spool batch may be committed once its database writes are committed and
 *   every pair it dirtied has been computed and published since (oee_pending_*), so a kill -9
 *   never loses a recomputation: the batch is read again and dirties its pairs again.
 * - The shift cache: which shift instance holds a time, so a result costs no query.
 * - The stations seen, and the derived states of those that send results but never a state.
 * - The figures: ct_oee_shift's JSON as an OeeFigures message, its topic and event ID. */
#ifndef OEE_LOGIC_H
#define OEE_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ct_ids.h"
#include "ct_map.h"
#include "ct_pb.h"
#include "ct_topic.h"

/* "2026-12-07/A": the date, '/', the pattern's name (oee_shift_pattern.name). */
#define OEE_SHIFT_ID_MAX 80
#define OEE_NO_SEQ       UINT64_MAX

/* ---- the dirty set and the commit rule ------------------------------------------------ */

struct oee_pair {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1]; /* "" = the line's figures */
	char shift_id[OEE_SHIFT_ID_MAX];
	int64_t due_ms;     /* monotonic ms when it is to be computed */
	uint64_t first_seq; /* the oldest batch that dirtied it since its last publish */
	/* The oldest batch that dirtied it to settle (OEE_NO_SEQ none): only those batches
	 * wait for the settling publish; the older ones are done with this publish, so a line
	 * with a result every second still has its batches committed. */
	uint64_t settle_seq;
	/* Dirtied by results: computed once more a while after its publish, since the visits
	 * it counts are stored by ct-traveler, which may not have had them yet. */
	bool settle;
	/* Dirtied by a state: taken before the rest, a station computed on its own (live
	 * figures follow a state within a second). */
	bool urgent;
};

#define OEE_MARK_SETTLE 1u /* dirtied by results: computed once more after its publish */
#define OEE_MARK_URGENT 2u /* dirtied by a state (or a derived one): computed first */

struct oee_pending {
	uint64_t seq, end_segment, end_offset;
};

/* The pairs touched since their last publish: an array, indexed by a hash map so a mark
 * (one per result) costs no scan. */
struct oee_dirty {
	struct oee_pair *pairs;
	size_t n, cap;
	struct ct_map index; /* "site/line/station/shift" -> position in pairs */
	bool index_stale;    /* rebuilt before the next mark (memory ran out rebuilding it) */
	struct oee_pending *pending; /* acknowledged batches not committed, oldest first */
	size_t n_pending, cap_pending;
};

void oee_dirty_init(struct oee_dirty *d);
void oee_dirty_cleanup(struct oee_dirty *d);
/* Marks the pair of station (and of its line) dirty: due at due_ms, or earlier if it already
 * was; first_seq the smaller of seq and what it had; to settle (flags OEE_MARK_SETTLE) if so
 * or it already was (and then settle_seq the smaller of seq and what it had); urgent
 * (OEE_MARK_URGENT) if so or it already was. Returns CT_OK, CT_ERR_TOO_BIG (an ID or shift
 * ID too long) or CT_ERR_NOMEM. */
int oee_dirty_mark(struct oee_dirty *d, const char *site, const char *line, const char *station,
                   const char *shift_id, int64_t due_ms, uint64_t seq, unsigned flags);
/* Moves up to max pairs due at now_ms into ret and removes them from the set: the urgent
 * ones first (stations before lines, each earliest due first), then the others (earliest due
 * first, a line before its stations). A line's pair taken carries its stations: the pairs of
 * its stations and shift that are not urgent, due or not, leave the set with it, their
 * batches merged into its first_seq and settle_seq (the line's computation publishes every
 * station's figures). Returns how many. */
size_t oee_dirty_take_due(struct oee_dirty *d, int64_t now_ms, struct oee_pair *ret, size_t max);
/* Puts a taken pair back (its publish failed), due at due_ms, with its first_seq and
 * settle_seq. Returns as oee_dirty_mark. */
int oee_dirty_restore(struct oee_dirty *d, const struct oee_pair *p, int64_t due_ms);
/* A taken pair was published: one that was to settle is marked once more (not to settle),
 * due at settle_ms, holding the commit of the batches that dirtied it to settle (first_seq
 * = its settle_seq). Returns as oee_dirty_mark. */
int oee_dirty_published(struct oee_dirty *d, const struct oee_pair *p, int64_t settle_ms);
/* The smallest first_seq of the set; OEE_NO_SEQ when it is empty. */
uint64_t oee_dirty_min_seq(const struct oee_dirty *d);
/* Whether a pair of the set is due at now_ms (publishing is behind). */
bool oee_dirty_any_due(const struct oee_dirty *d, int64_t now_ms);
/* Queues an acknowledged batch (in acknowledgement order, which is seq order). Returns CT_OK
 * or CT_ERR_NOMEM. */
int oee_pending_add(struct oee_dirty *d, uint64_t seq, uint64_t end_segment, uint64_t end_offset);
/* True with the end of the newest queued batch older than every dirty pair (seq <
 * oee_dirty_min_seq), which is removed from the queue with those before it; false when none
 * is. */
bool oee_pending_take(struct oee_dirty *d, uint64_t *ret_segment, uint64_t *ret_offset);
/* Forgets the queue (the loop handles those batches again). */
void oee_pending_clear(struct oee_dirty *d);

/* ---- shifts ----------------------------------------------------------------------------- */

struct oee_shift {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char id[OEE_SHIFT_ID_MAX];
	int64_t start_us, end_us; /* [start, end) */
};

#define OEE_SHIFTS_PER_LINE 4

/* The shift instances of one site/line looked up lately (the oldest is replaced), and a span
 * known to be outside every shift (from a time until the next shift's start). */
struct oee_shift_line {
	struct oee_shift recent[OEE_SHIFTS_PER_LINE];
	size_t n, next;
	int64_t none_from_us, none_until_us; /* [from, until); equal: none known */
};

/* Keyed by site/line, so a lookup costs a hash and a few comparisons however many lines. */
struct oee_shift_cache {
	struct oee_shift_line *lines;
	size_t n, cap;
	struct ct_map index; /* "site/line" -> position in lines */
	unsigned long hits, misses;
};

enum oee_shift_hit {
	OEE_SHIFT_UNKNOWN = 0, /* not cached: ask the database */
	OEE_SHIFT_FOUND,
	OEE_SHIFT_NONE, /* cached: outside every shift */
};

void oee_shift_cache_init(struct oee_shift_cache *c);
void oee_shift_cache_cleanup(struct oee_shift_cache *c);
/* What the cache knows of site/line at t_us; the shift in *ret when OEE_SHIFT_FOUND. */
enum oee_shift_hit oee_shift_lookup(struct oee_shift_cache *c, const char *site, const char *line,
                                    int64_t t_us, struct oee_shift *ret);
/* Remembers a shift instance (of s->site, s->line). Returns CT_OK, CT_ERR_TOO_BIG or
 * CT_ERR_NOMEM (then simply not cached). */
int oee_shift_put(struct oee_shift_cache *c, const struct oee_shift *s);
/* Remembers that site/line has no shift over [from_us, until_us). Returns as oee_shift_put. */
int oee_shift_put_none(struct oee_shift_cache *c, const char *site, const char *line,
                       int64_t from_us, int64_t until_us);
/* Forgets everything (the shift calendar may have changed). */
void oee_shift_cache_clear(struct oee_shift_cache *c);

/* ---- stations and derived states ---------------------------------------------------------- */

enum oee_derive {
	OEE_DERIVE_NONE = 0,
	OEE_DERIVE_PRODUCING = 1,    /* STATION_STATE_PRODUCING */
	OEE_DERIVE_UNKNOWN_STOP = 7, /* STATION_STATE_UNKNOWN_STOP */
};

struct oee_station {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	bool loaded;             /* its history was read from station_state */
	int64_t gap_us;          /* its site's oee_config.unknown_gap_s; 0: oee.unknown_gap_s */
	bool has_station_states; /* it sends states: nothing is derived for it */
	int derived_state;       /* the last derived state, 0 none */
	int64_t derived_since_us;
	int64_t last_ended_us;  /* the latest result's ended_at, 0 none */
	int64_t run_started_us; /* a result since the last derived state, not yet PRODUCING */
	int64_t first_seen_ms;  /* monotonic: derivation waits a gap for a state of its own */
	/* The open shift last published for it, so its end publishes its final figures. */
	char open_shift[OEE_SHIFT_ID_MAX];
	int64_t open_shift_start_us, open_shift_end_us;
	/* When its last message came (wall clock): one silent for a whole shift is forgotten
	 * at the shift's end. */
	int64_t last_msg_us;
	int64_t next_refresh_ms;
};

struct oee_stations {
	struct oee_station *items;
	size_t n, cap;
	struct ct_map index; /* "site/line/station" -> position in items */
};

void oee_stations_init(struct oee_stations *s);
void oee_stations_cleanup(struct oee_stations *s);
/* The station, added (not loaded, first seen at now_ms) when new. Returns CT_OK with *ret (valid
 * until the next add), CT_ERR_NOMEM or CT_ERR_TOO_BIG. */
int oee_stations_get(struct oee_stations *s, const char *site, const char *line,
                     const char *station, int64_t now_ms, struct oee_station **ret);
/* Forgets the station at position at (the last one takes its place). Returns CT_OK or
 * CT_ERR_NOMEM. */
int oee_stations_remove(struct oee_stations *s, size_t at);
/* Spreads the next refresh of the n_open stations with an open shift evenly over
 * [now_ms, now_ms + refresh_ms), so a restart does not compute every line in the same turn
 * (and again together every refresh_s). */
void oee_stations_spread_refreshes(struct oee_stations *s, size_t n_open, int64_t now_ms,
                                   int64_t refresh_ms);
/* A result of the station: remembers the latest end and the start of a run after a stop. */
void oee_station_result(struct oee_station *st, int64_t started_us, int64_t ended_us);
/* What is to be derived for st now: PRODUCING since the first result after the last derived
 * state other than PRODUCING; UNKNOWN_STOP since the last result's end when no result ended
 * for more than gap_us (only when caught_up: a backlog's old results are no silence).
 * Nothing for a station that sends states, or before gap_ms have passed since it was first
 * seen (its first state may still come). *ret_since_us is set for PRODUCING and UNKNOWN_STOP. */
enum oee_derive oee_station_derive(const struct oee_station *st, int64_t now_us, int64_t now_ms,
                                   int64_t gap_us, bool caught_up, int64_t *ret_since_us);
/* The derived state was stored. */
void oee_station_derived(struct oee_station *st, enum oee_derive state, int64_t since_us);

/* ---- figures ------------------------------------------------------------------------------ */

/* An OeeFigures message made from ct_oee_shift's JSON; its strings point into the JSON, so it
 * lives as long as this. Caller-owned storage. */
struct oee_figures {
	Cellthread__V1__OeeFigures msg;
	Cellthread__V1__Header header;
	Cellthread__V1__OeeLoss *losses;
	Cellthread__V1__OeeLoss **loss_ptrs;
	json_t *root;
	char event_id[CT_DERIVED_ID_MAX];
};

/* Parses the JSON of ct_oee_shift (deploy/migrations/0011_oee.sql) into f (initialised
 * here): numbers that are JSON null become 0 (performance without an ideal cycle, quality
 * without produced units: ideal_cycle_s 0 and produced 0 say so), current_state is a number
 * or a state name. The header's event ID is derived from site, line, station, shift and
 * until, so the same figures computed again carry the same ID. Returns CT_OK, or
 * CT_ERR_DECODE with the reason in err (f then needs no cleanup), or CT_ERR_NOMEM. */
int oee_figures_parse(struct oee_figures *f, const char *json, size_t len, char *err,
                      size_t err_len);
/* The same from a parsed object (one entry of the line's "stations"), which f holds a
 * reference to. */
int oee_figures_from(struct oee_figures *f, json_t *obj, char *err, size_t err_len);
void oee_figures_cleanup(struct oee_figures *f);
/* ct/v1/oee/{site}/{line}[/{station}][/history]. Returns CT_OK or CT_ERR_TOO_BIG. */
int oee_topic(char *buf, size_t len, const char *site, const char *line, const char *station,
              bool history);
/* The state kind of a name ("producing", "UNKNOWN_STOP", "STATION_STATE_IDLE"), 0 if none. */
int oee_state_from_name(const char *name);

#endif
