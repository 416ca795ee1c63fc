/* oee: the running ct-oee, shared by main.c (configuration, start, stop), oee_loop.c (the
 * loop's handlers) and oee_db.c (its SQL). */
#ifndef OEE_H
#define OEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "oee_logic.h"

#define SERVICE_NAME   "oee"
#define DEAD_LETTER(x) CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##x

struct oee_config {
	char *pg_conninfo;
	char *pg_password;
	long publish_interval_s, refresh_s, unknown_gap_s, batch_records, max_payload_kib;
};

struct oee_counters {
	unsigned long states, states_duplicate, acks, acks_duplicate, results, failures, derived,
	        published_live, published_history, figures_failed, dead_letters;
};

struct oee_item;

struct oee {
	struct ct_service svc;
	struct ct_loop loop;
	struct oee_config cfg;
	struct ct_pg *pg;
	struct oee_dirty dirty;
	struct oee_shift_cache shifts;
	struct oee_stations stations;
	uint64_t seq;   /* of the batch in hand; each handled batch gets the next */
	bool caught_up; /* the last read was short: the spool holds nothing older */
	char producer[CT_ID_MAX + 16];
	struct oee_item *items; /* the batch in hand, decoded (oee_loop.c); freed by main */
	size_t items_cap;
	int64_t next_warn_ms;        /* repeated database warnings are held back until then */
	int64_t next_shift_flush_ms; /* the shift cache is emptied then: calendars change */
	unsigned long warn_suppressed;
	struct oee_counters n;
};

/* ---- oee_loop.c: ct_loop's handlers (contracts in ct_loop.h) ---- */
extern const struct ct_loop_handlers oee_handlers;

/* ---- oee_db.c: the SQL (deploy/migrations/0011_oee.sql); each returns CT_OK or CT_ERR_PG
 * (or CT_ERR_NOMEM) with the reason in err ---- */

/* Inserts a state (ON CONFLICT (event_id) DO NOTHING); *ret_new says whether it was new.
 * source is "station" or "derived". */
int oee_db_store_state(struct ct_pg *pg, const Cellthread__V1__StationState *s, const char *source,
                       bool *ret_new, char *err, size_t err_len);
int oee_db_store_ack(struct ct_pg *pg, const Cellthread__V1__CommandAck *a, bool *ret_new,
                     char *err, size_t err_len);
/* The shift instance of site/line that holds t_us; *ret_found false outside every shift. */
int oee_db_shift_of(struct ct_pg *pg, const char *site, const char *line, int64_t t_us,
                    struct oee_shift *ret, bool *ret_found, char *err, size_t err_len);
/* The visit that made unit (ct_oee_maker); *ret_found false when it has none stored. */
int oee_db_maker(struct ct_pg *pg, const char *unit_id, char *ret_site, char *ret_line,
                 char *ret_station, int64_t *ret_ended_us, bool *ret_found, char *err,
                 size_t err_len);
/* What station_state holds about st: whether it sent states of its own, its last derived
 * state and its latest visit's end (fills st's fields, sets loaded). */
int oee_db_station_load(struct ct_pg *pg, struct oee_station *st, char *err, size_t err_len);
/* At start: the stations whose states are derived (their last derived state and last
 * visit's end: a silence across the restart still becomes an unknown stop) and the stations
 * with figures of a shift still open (refreshed and finished at the shift's end as if never
 * away). Adds them to stations; counts in *ret_derived, *ret_open. */
int oee_db_load_stations(struct ct_pg *pg, struct oee_stations *stations, int64_t now_ms,
                         int64_t gap_ms, size_t *ret_derived, size_t *ret_open, char *err,
                         size_t err_len);
/* Computes a pair's figures (ct_oee_shift), upserts them into oee_figures and returns the
 * JSON (*ret malloc'ed, the caller frees it). */
int oee_db_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                   size_t err_len);

#endif
