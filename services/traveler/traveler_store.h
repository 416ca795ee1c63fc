/* traveler_store: writes decoded messages to the digital thread, one transaction per batch.
 *
 * Idempotency: a batch first inserts its event IDs into `event` (ON CONFLICT DO NOTHING
 * RETURNING event_id); only the events that came back as new get their rows COPYed, in the
 * same transaction. A redelivered or replayed event therefore adds nothing, and two
 * traveler instances racing on one event serialise on its primary key.
 *
 * Integrity (migration 0008): an event whose ID is stored with other content (a different
 * fingerprint, see event_fingerprint) is refused as CONFLICT; one that gives a unit another
 * kind than it has as UNIT_KIND; one whose genealogy breaks a rule of ct_genealogy_apply (one
 * parent per cell, module or pack unless reworked or disassembled; no cycles) as GENEALOGY.
 * A refused event is not stored; its dead letter (service "traveler", the event packed alone
 * as payload, an ID derived from the event ID and the reason) is stored in the same
 * transaction as the rest of the batch, and the refusal logged. Identical redeliveries stay
 * silent duplicates.
 *
 * Verdicts (spc-gate's judgement of a result) are events of kind 'verdict' with one
 * unit_verdict row each: the failed characteristics as a JSON array, the inspection reason,
 * the held lots. A StationResult's held_lots (set by ingest) go into station_visit. */
#ifndef TRAVELER_STORE_H
#define TRAVELER_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_pb.h"
#include "ct_pg.h"

enum traveler_item_kind {
	TRAVELER_RESULT_BATCH,
	TRAVELER_TELEMETRY,
	TRAVELER_GENEALOGY,
	TRAVELER_DEAD_LETTER,
	TRAVELER_VERDICT,
};

/* One decoded message to store; `msg` stays owned by the caller. */
struct traveler_item {
	enum traveler_item_kind kind;
	const ProtobufCMessage *msg;
	const char *topic;
};

/* Counts of what a store call wrote (new rows), for logs and tests. */
struct traveler_counts {
	size_t events_new;
	size_t events_duplicate;
	size_t visits;
	size_t measurements;
	size_t telemetry_samples;
	size_t dead_letters;
	size_t verdicts;
	size_t events_refused; /* dead-lettered by traveler: conflicts, unit kinds, genealogy */
};

struct traveler_store;

struct traveler_store *traveler_store_new(void);
void traveler_store_free(struct traveler_store *store);

/* Stores items in one transaction. Items must have a header with an event ID (the caller
 * checks). Returns CT_OK, or CT_ERR_PG / CT_ERR_NOMEM with the reason in err; the
 * transaction is then rolled back, and ct_pg_is_connection_error tells whether the same
 * batch should simply be retried. */
int traveler_store_batch(struct traveler_store *store, struct ct_pg *pg,
                         const struct traveler_item *items, size_t n_items,
                         struct traveler_counts *ret_counts, char *err, size_t err_len);

/* Stores a dead letter raised by traveler itself (a message it cannot decode or store). */
int traveler_store_own_dead_letter(struct traveler_store *store, struct ct_pg *pg,
                                   const char *producer, const char *topic, int reason_code,
                                   const char *reason, const void *payload, size_t payload_len,
                                   char *err, size_t err_len);

#endif
