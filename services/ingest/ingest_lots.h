/* ingest_lots: the set of held lots ingest flags results with.
 *
 * spc-gate publishes every lot's gate status retained on ct/v1/lot/{site}/{lot_id}
 * (LotStatus); ingest receives those messages through the same spool as edge data, so it sees
 * a lot's hold and the results that follow it in the order the broker delivered them. The set
 * holds the (site, lot_id) pairs whose last status was HELD or QUARANTINED; a RELEASED status
 * (or an empty retained payload, the MQTT way of deleting the status) removes the pair. A
 * result accepted at a site gets, in StationResult.held_lots, every materials[].lot_id and
 * children[].unit_id (any kind: a held slurry batch or coil is a lot too) in the set for that
 * site.
 *
 * The set is a hash table with open addressing that grows as needed; memory is one entry per
 * held lot (held lots are few; they are released or scrapped). Not thread-safe: one owner. */
#ifndef INGEST_LOTS_H
#define INGEST_LOTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ct_pb.h"

struct ingest_lots;

/* Largest number of held lots the set keeps; beyond it ingest_lots_set returns
 * CT_ERR_TOO_BIG (a broken producer, not a plant). */
#define INGEST_LOTS_MAX ((size_t)1 << 22)

/* An empty set, or NULL when out of memory. Free with ingest_lots_free. */
struct ingest_lots *ingest_lots_new(void);
/* NULL is a no-op. */
void ingest_lots_free(struct ingest_lots *lots);

/* A copy of the set (ingest keeps one from before a batch's first lot message, to go back
 * to when the batch must be handled again). NULL when out of memory. */
struct ingest_lots *ingest_lots_clone(const struct ingest_lots *lots);

/* Marks (site, lot_id) held (held = true) or released (false; absent already is fine).
 * Returns CT_OK, CT_ERR_INVALID when site or lot_id is not an ID (ct_id_is_valid),
 * CT_ERR_NOMEM or CT_ERR_TOO_BIG (the set is unchanged then). */
int ingest_lots_set(struct ingest_lots *lots, const char *site, const char *lot_id, bool held);
/* True when (site, lot_id) is held. Any string may be asked for; invalid IDs are not held. */
bool ingest_lots_is_held(const struct ingest_lots *lots, const char *site, const char *lot_id);
/* Number of held lots. */
size_t ingest_lots_count(const struct ingest_lots *lots);

/* Applies a message received on `topic` (ct/v1/lot/{site}/{lot_id}): payload is a LotStatus
 * (protobuf, at most max_len bytes), or empty to delete the lot's retained status (released).
 * The message must name the topic's site and lot, with a state RELEASED, HELD or
 * QUARANTINED. Returns CT_OK; or, with the set unchanged and the reason in err,
 * CT_ERR_INVALID (topic, or a field; *ret_reason DEAD_LETTER_REASON_TOPIC or _INVALID),
 * CT_ERR_DECODE (not a LotStatus; _DECODE), CT_ERR_TOO_BIG (_OVERSIZE); or CT_ERR_NOMEM. */
int ingest_lots_apply(struct ingest_lots *lots, const char *topic, const uint8_t *payload,
                      size_t len, size_t max_len, int *ret_reason, char *err, size_t err_len);

/* True when topic is under ct/v1/lot/. */
bool ingest_lots_is_lot_topic(const char *topic);

/* Sets result->held_lots to the lots among its materials and children that are held at
 * result->site, each once, in the order they appear; whatever the sender put there is
 * dropped (only ingest sets the field). result must be a heap message from ct_pb_unpack or
 * ct_json (its strings are freed with it). Returns CT_OK or CT_ERR_NOMEM (the field is
 * then empty). */
int ingest_lots_mark_result(const struct ingest_lots *lots, Cellthread__V1__StationResult *result);

#endif
