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

#define SERVICE_NAME    "oee"
#define OEE_TAKE_MAX    256        /* pairs taken per turn at most (the time budget stops sooner) */
#define OEE_BATCH_BYTES (4u << 20) /* a batch's bytes at most (ct_spool_read's max_bytes) */
#define DEAD_LETTER(x)  CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##x

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
	struct ct_pgarray failed_units; /* the batch's failed units, whose makers it dirties */
	int64_t failed_due_ms;
	struct oee_pair taken[OEE_TAKE_MAX]; /* the pairs being published (oee_loop.c) */
	struct oee_item *items; /* the batch in hand, decoded (oee_loop.c); freed by main */
	size_t items_cap;
	int64_t next_warn_ms;        /* repeated database warnings are held back until then */
	int64_t next_shift_flush_ms; /* the shift cache is emptied then: calendars change */
	int64_t next_drain_ms;       /* oee_recompute is read then */
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
/* The shift instance of site/line that holds t_us; *ret_found false outside every shift,
 * and then *ret_next_us the next shift's start (0: none within a week). */
int oee_db_shift_of(struct ct_pg *pg, const char *site, const char *line, int64_t t_us,
                    struct oee_shift *ret, bool *ret_found, int64_t *ret_next_us, char *err,
                    size_t err_len);
/* The visits that made the units of the array literal units (ct_oee_maker, one query for a
 * batch's failures): each(ctx, site, line, station, ended_us) for each distinct one; an
 * error of each stops and is returned. */
typedef int (*oee_maker_fn)(void *ctx, const char *site, const char *line, const char *station,
                            int64_t ended_us);
int oee_db_makers(struct ct_pg *pg, const char *units, oee_maker_fn each, void *ctx, char *err,
                  size_t err_len);
/* A row handed to a callback: a place, and a shift ID or a time. */
struct oee_row {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	char shift_id[OEE_SHIFT_ID_MAX];
	int64_t t_us;
};
typedef int (*oee_row_fn)(void *ctx, const struct oee_row *row);
/* Takes (deletes) up to 500 rows of oee_recompute, the buckets of oee_count changed late:
 * each(ctx, row) with the bucket's minute in t_us. */
int oee_db_drain_recompute(struct ct_pg *pg, oee_row_fn each, void *ctx, char *err, size_t err_len);
/* The oee_figures rows of closed shifts computed before their shift's end (the service
 * stopped then): each(ctx, row) with their shift ID. */
int oee_db_unfinished(struct ct_pg *pg, oee_row_fn each, void *ctx, char *err, size_t err_len);
/* The shifts of site/line over [from, to]: each(ctx, row) with station "" and the shift ID. */
int oee_db_shifts(struct ct_pg *pg, const char *site, const char *line, int64_t from_us,
                  int64_t to_us, oee_row_fn each, void *ctx, char *err, size_t err_len);
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
/* Computes a station pair's figures (ct_oee_shift), upserts them into oee_figures and returns the
 * JSON (*ret malloc'ed, the caller frees it). */
int oee_db_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                   size_t err_len);
/* Computes a line pair's figures with every station's in one call (ct_oee_shift of station
 * ""), upserts all their oee_figures rows in one statement and returns {"line": figures,
 * "stations": [figures, ...]} (*ret malloc'ed, the caller frees it). */
int oee_db_line_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                        size_t err_len);

#endif
