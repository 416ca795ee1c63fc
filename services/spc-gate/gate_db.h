/* gate_db: spc-gate's PostgreSQL side. Loads configuration (specs, charts, reaction plans,
 * gate rules) and state (chart instances, held lots and units, lot counters), and saves what
 * one batch of judging produced in one transaction together with the IDs of the results
 * judged, so a batch is either wholly in the database or judged again after a crash.
 *
 * SQL text is constant; values travel as parameters or COPY data (ct_pg). */
#ifndef GATE_DB_H
#define GATE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_pg.h"
#include "gate_charts.h"
#include "gate_lots.h"
#include "gate_spec.h"

/* Rows of one table added by a batch, one array literal per column (ct_pgarray), sent as
 * INSERT ... SELECT FROM unnest($1, $2, ...): one statement per table, ON CONFLICT allowed,
 * no temporary tables (whose truncation at every commit cost milliseconds). Values are added
 * column by column in the table's order, then gate_rows_end closes the row. */
#define GATE_ROWS_MAX_COLS 24
struct gate_rows {
	struct ct_pgarray cols[GATE_ROWS_MAX_COLS];
	int ncols;
	int cur;
	size_t rows;
};

void gate_rows_text(struct gate_rows *r, const char *text);
void gate_rows_null(struct gate_rows *r);
void gate_rows_int64(struct gate_rows *r, int64_t value);
void gate_rows_double(struct gate_rows *r, double value); /* not finite -> NULL */
void gate_rows_bytea(struct gate_rows *r, const void *data, size_t len);
void gate_rows_end(struct gate_rows *r);

/* What one batch (or several) adds to the database: a save job. */
struct gate_pending {
	struct gate_rows judged;     /* spc_judged: source_event_id */
	struct gate_rows states;     /* spc_chart_state, snapshot of the dirty instances */
	struct gate_rows signals;    /* spc_signal */
	struct gate_rows actions;    /* automatic_action */
	struct gate_rows items;      /* inspection_item */
	struct gate_rows held_units; /* held_unit */
	struct gate_rows counters;   /* lot_quality, snapshot of the dirty counters */
	struct gate_hold *holds;
	size_t n_holds, cap_holds;
	/* The instance snapshot this job carries (gate_charts_saved once it comes back). */
	uint64_t chart_seq;
	/* Spool position after the batch: committed once the job is saved. */
	uint64_t end_segment, end_offset;
	bool has_position;
	/* Set by the saver: why the job was not saved (the database refused it, or `stopped`:
	 * shutdown came first). */
	char error[512];
	bool stopped;
};

void gate_pending_init(struct gate_pending *p);
void gate_pending_reset(struct gate_pending *p);
void gate_pending_cleanup(struct gate_pending *p);
bool gate_pending_is_empty(const struct gate_pending *p);
int gate_pending_add_hold(struct gate_pending *p, const struct gate_hold *hold);
/* Appends one inspection item row. */
void gate_pending_item(struct gate_pending *p, const char *unit_id, int unit_kind, const char *site,
                       const char *line, const char *station, const char *queue, const char *cause,
                       const char *reason, int verdict, int64_t at_us);
void gate_pending_held_unit(struct gate_pending *p, const char *unit_id, const char *lot_id,
                            const char *site, int64_t at_us);
/* Snapshots the dirty chart instances and lot counters into p and clears their flags; the
 * instances remember the snapshot (p->chart_seq), so none is evicted before p is stored. */
void gate_pending_snapshot(struct gate_pending *p, struct gate_charts *charts,
                           struct gate_lots *lots, int64_t now_us);

/* Per-connection setup (temp tables, LISTEN). Call after every new connection
 * (ct_pg_generation changed). Returns CT_OK or CT_ERR_PG. */
int gate_db_session_setup(struct ct_pg *pg, char *err, size_t err_len);

/* Loads specs, chart definitions with their plans, and gate rules into the live objects.
 * Bad chart rows are skipped with a warning naming them. Returns CT_OK, CT_ERR_PG or
 * CT_ERR_NOMEM. */
int gate_db_load_config(struct ct_pg *pg, struct gate_spec_set *specs, struct gate_charts *charts,
                        struct gate_lots *lots, char *err, size_t err_len);
/* Loads saved chart instances (after gate_db_load_config): the most recently saved ones, as
 * many as the live set's bound (charts->max_live, 0: all); the rest come back on demand
 * (gate_db_load_chart). */
int gate_db_load_charts(struct ct_pg *pg, struct gate_charts *charts, char *err, size_t err_len);
/* The saved row of one stream (the loader of gate_charts): CT_OK with *ret_found, and *ret
 * filled when found (ret->state malloc'd), or CT_ERR_PG / CT_ERR_INVALID / CT_ERR_NOMEM. */
int gate_db_load_chart(struct ct_pg *pg, const char *chart_id, const char *site, const char *line,
                       const char *station, const char *recipe, struct gate_saved_state *ret,
                       bool *ret_found, char *err, size_t err_len);
/* Reloads the held lots and units and the gate counters. */
int gate_db_load_lots(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len);

/* Which of these source event IDs were judged already (after a crash, a batch may be
 * read again). ids[i] judged sets judged[i]. Returns CT_OK or CT_ERR_PG. */
int gate_db_judged(struct ct_pg *pg, const char *const *ids, size_t n, bool *judged, char *err,
                   size_t err_len);

/* Saves jobs in one transaction: holds (ct_spc_hold: the lot, its genealogy forward, units
 * to inspection, descendant lots held), then every table's rows. Returns CT_OK, or CT_ERR_PG
 * after a rollback (ct_pg_is_connection_error tells whether to retry). */
int gate_db_save(struct ct_pg *pg, struct gate_pending *const *jobs, size_t n, char *err,
                 size_t err_len);

/* A lot status change not yet published. */
struct gate_lot_change {
	int64_t audit_id;
	char site[GATE_NAME_MAX];
	char lot_id[GATE_NAME_MAX];
	int state;
	char reason[GATE_REASON_MAX];
	char actor[GATE_NAME_MAX];
	int64_t at_us;
};

/* Up to max unpublished lot changes, oldest first. */
int gate_db_lot_changes(struct ct_pg *pg, struct gate_lot_change *ret, size_t max, size_t *ret_n,
                        char *err, size_t err_len);
int gate_db_lot_changes_published(struct ct_pg *pg, const struct gate_lot_change *changes, size_t n,
                                  char *err, size_t err_len);

/* An automatic action an engineer asked to undo. */
struct gate_undo {
	char command_id[GATE_NAME_MAX];
	char site[GATE_NAME_MAX], line[GATE_NAME_MAX], station[GATE_NAME_MAX];
	int kind;
	char parameter[GATE_NAME_MAX];
	double target_value, delta;
	char uom[GATE_NAME_MAX];
	char reason_code[GATE_NAME_MAX];
	char requested_by[GATE_NAME_MAX];
	char reason[GATE_REASON_MAX];
};

int gate_db_pending_undos(struct ct_pg *pg, struct gate_undo *ret, size_t max, size_t *ret_n,
                          char *err, size_t err_len);
int gate_db_undo_done(struct ct_pg *pg, const char *command_id, const char *undo_command_id,
                      char *err, size_t err_len);

/* Deletes spc_judged rows older than keep_days. */
int gate_db_prune(struct ct_pg *pg, int keep_days, char *err, size_t err_len);

#endif
