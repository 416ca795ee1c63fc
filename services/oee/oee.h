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

/* A row of oee_recompute, a bucket of oee_count changed late. minute and changes are kept as
 * PostgreSQL gave them: the next read starts after minute, and a delete matches changes. */
struct oee_queued {
	char minute[48];
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	char changes[24];
	int64_t minute_us;
};
#define OEE_QUEUE_READ 500 /* rows of oee_recompute read at a time */

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
	int64_t next_warn_ms;          /* repeated database warnings are held back until then */
	int64_t next_shift_flush_ms;   /* the shift cache is emptied then: calendars change */
	int64_t next_drain_ms;         /* oee_recompute is read then */
	struct oee_queued drain_after; /* the last row read, when drain_resume */
	bool drain_resume; /* the next read goes on after drain_after (else from the oldest) */
	unsigned long warn_suppressed;
	struct oee_counters n;
};

/* ---- oee_loop.c: ct_loop's handlers (contracts in ct_loop.h) ---- */
extern const struct ct_loop_handlers oee_handlers;
struct oee_row;
/* oee_db_unfinished's callback (ctx: the struct oee_dirty): marks the figures dirty, holding
 * no batch (OEE_NO_SEQ), so they are read again at the next start until done. Returns CT_OK
 * or CT_ERR_NOMEM. */
int oee_mark_unfinished(void *ctx, const struct oee_row *r);

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
/* A row handed to a callback: a place and a shift ID. */
struct oee_row {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	char shift_id[OEE_SHIFT_ID_MAX];
};
typedef int (*oee_row_fn)(void *ctx, const struct oee_row *row);
typedef int (*oee_queued_fn)(void *ctx, const struct oee_queued *q);
/* Reads (without deleting) up to OEE_QUEUE_READ rows of oee_recompute after the key of after
 * (all of them from the start when after is NULL), in key order (minute first): each(ctx, q)
 * for each; their number in *ret_n. */
int oee_db_queue_read(struct ct_pg *pg, const struct oee_queued *after, oee_queued_fn each,
                      void *ctx, size_t *ret_n, char *err, size_t err_len);
/* Deletes the rows of oee_recompute given as array literals of minute, site, line, station
 * and changes, each only if it has had no change since it was read. */
int oee_db_queue_delete(struct ct_pg *pg, const char *minutes, const char *sites, const char *lines,
                        const char *stations, const char *changes, char *err, size_t err_len);
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
/* Computes a station pair's figures (ct_oee_shift), upserts them into oee_figures, deletes the
 * station's rows of oee_recompute in the shift (in the same statement: they go when the
 * figures are stored) and returns the JSON (*ret malloc'ed, the caller frees it). */
int oee_db_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                   size_t err_len);
/* Computes a line pair's figures with every station's in one call (ct_oee_shift of station
 * ""), upserts all their oee_figures rows and deletes the line's rows of oee_recompute in the
 * shift in one statement and returns {"line": figures,
 * "stations": [figures, ...]} (*ret malloc'ed, the caller frees it). */
int oee_db_line_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                        size_t err_len);

#endif
