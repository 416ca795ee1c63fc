/* ct_dedup: a bounded set of recently seen event IDs, to drop redelivered messages early.
 *
 * The set remembers the last `capacity` distinct IDs added (first in, first out: seeing an ID
 * again does not make it younger) in memory allocated once at creation. Lookups and inserts
 * take expected O(1). IDs are compared in full, so two different IDs are never taken for one
 * another, whatever their hashes. It is a fast path in front of the database's unique event_id,
 * not a replacement for it: an ID older than the window is simply not found. Not thread-safe;
 * one owner at a time. */
#ifndef CT_DEDUP_H
#define CT_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_dedup;

/* Largest capacity ct_dedup_new accepts. */
#define CT_DEDUP_MAX_CAPACITY ((size_t)1 << 30)

/* Creates a set remembering up to capacity IDs (1..CT_DEDUP_MAX_CAPACITY); about
 * 100 bytes per entry, all allocated here. Returns NULL for a capacity out of range or when
 * allocation fails. Free with ct_dedup_free. */
struct ct_dedup *ct_dedup_new(size_t capacity);

/* Frees the set; NULL is a no-op. */
void ct_dedup_free(struct ct_dedup *dedup);

/* Returns true when id is in the set (seen within the window). Otherwise records it, evicting
 * the oldest ID when the set is full, and returns false. IDs that are NULL, empty or longer
 * than CT_ID_MAX (64) are never recorded and always return false: callers validate IDs first.
 * Can't fail. */
bool ct_dedup_check_and_add(struct ct_dedup *dedup, const char *id);

/* As ct_dedup_check_and_add, also remembering a fingerprint of the content the ID came with
 * (ct_dedup_fingerprint; 0: none). When id is in the set, *ret_conflict (may be NULL) says
 * whether both fingerprints are known and differ: the same ID with other content, which a
 * duplicate filter must not drop silently (a NOK resent as OK, or two messages whose derived
 * IDs collide). Can't fail. */
bool ct_dedup_check_and_add_content(struct ct_dedup *dedup, const char *id, uint64_t content,
                                    bool *ret_conflict);

/* A 64-bit fingerprint of len bytes (keyed per set, never 0). */
uint64_t ct_dedup_fingerprint(const struct ct_dedup *dedup, const void *data, size_t len);

/* Number of IDs currently remembered (at most the capacity). */
size_t ct_dedup_count(const struct ct_dedup *dedup);

#endif
