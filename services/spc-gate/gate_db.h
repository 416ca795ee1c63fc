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

/* Rows one batch adds, in COPY form, and the holds it decided. */
struct gate_pending {
	struct ct_copy judged;     /* spc_judged */
	struct ct_copy signals;    /* spc_signal */
	struct ct_copy actions;    /* automatic_action */
	struct ct_copy items;      /* inspection_item (via a temp table: duplicates ignored) */
	struct ct_copy held_units; /* held_unit (likewise) */
	struct gate_hold *holds;
	size_t n_holds, cap_holds;
};

void gate_pending_init(struct gate_pending *p);
void gate_pending_reset(struct gate_pending *p);
void gate_pending_cleanup(struct gate_pending *p);
int gate_pending_add_hold(struct gate_pending *p, const struct gate_hold *hold);
/* Appends one inspection item row. */
void gate_pending_item(struct gate_pending *p, const char *unit_id, int unit_kind, const char *site,
                       const char *line, const char *station, const char *queue, const char *cause,
                       const char *reason, int verdict, int64_t at_us);
void gate_pending_held_unit(struct gate_pending *p, const char *unit_id, const char *lot_id,
                            const char *site, int64_t at_us);

/* Per-connection setup (temp tables, LISTEN). Call after every new connection
 * (ct_pg_generation changed). Returns CT_OK or CT_ERR_PG. */
int gate_db_session_setup(struct ct_pg *pg, char *err, size_t err_len);

/* Loads specs, chart definitions with their plans, and gate rules into the live objects.
 * Bad chart rows are skipped with a warning naming them. Returns CT_OK, CT_ERR_PG or
 * CT_ERR_NOMEM. */
int gate_db_load_config(struct ct_pg *pg, struct gate_spec_set *specs, struct gate_charts *charts,
                        struct gate_lots *lots, char *err, size_t err_len);
/* Loads saved chart instances (after gate_db_load_config). */
int gate_db_load_charts(struct ct_pg *pg, struct gate_charts *charts, char *err, size_t err_len);
/* Reloads the held lots and units and the gate counters. */
int gate_db_load_lots(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len);

/* Which of these source event IDs were judged already (after a crash, a batch may be
 * read again). ids[i] judged sets judged[i]. Returns CT_OK or CT_ERR_PG. */
int gate_db_judged(struct ct_pg *pg, const char *const *ids, size_t n, bool *judged, char *err,
                   size_t err_len);

/* Saves a batch in one transaction: holds (with their genealogy forward: units to
 * inspection, descendant lots held), judged IDs, dirty chart instances, signals, actions,
 * inspection items, held units, dirty counters. On success clears the dirty flags and
 * resets p. On failure rolls back and leaves everything as it was, to retry. */
int gate_db_save(struct ct_pg *pg, struct gate_pending *p, struct gate_charts *charts,
                 struct gate_lots *lots, int64_t now_us, char *err, size_t err_len);

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

/* Whether traveler has stored the event (its row in `event`). */
int gate_db_event_stored(struct ct_pg *pg, const char *event_id, bool *ret_stored, char *err,
                         size_t err_len);

/* Deletes spc_judged rows older than keep_days. */
int gate_db_prune(struct ct_pg *pg, int keep_days, char *err, size_t err_len);

#endif
