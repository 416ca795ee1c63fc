/* ct_ids: the rules every ID in cellthread follows, and event ID generation.
 *
 * IDs (unit, lot, site, line, station, asset, event, producer) are 1-64 characters from
 * [A-Za-z0-9._:-]. The restriction keeps IDs safe in MQTT topics (no '/', '+', '#'), in
 * file names and in logs, and makes SQL-looking strings impossible by construction. */
#ifndef CT_IDS_H
#define CT_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define CT_ID_MAX 64

bool ct_id_is_valid(const char *id);
/* True for a code of the OEE reason tree (table oee_reason): 1-64 characters from
 * [A-Za-z0-9._-]. No ':' (unlike an ID): the codes are dotted paths shown and typed by people. */
bool ct_reason_code_is_valid(const char *code);
/* Writes a new random event ID (32 hex digits, from getrandom) into buf (>= 33 bytes). */
void ct_event_id_new(char *buf, size_t len);

/* Room for a derived ID: a prefix of up to 8 characters, 32 hex digits and the NUL. */
#define CT_DERIVED_ID_MAX 41

/* Derives an ID from what identifies the thing: prefix + the first 32 hex digits (128 bits)
 * of SHA-256 over the parts joined by '|' (a NULL part counts as ""). The same parts always
 * give the same ID, so a message made again after a crash or a rewind carries the ID its
 * consumers already have and is dropped as a duplicate. This is the one derivation rule of
 * cellthread: ingest's "d-" event IDs (when a sender gives none), spc-gate's verdict, alert,
 * command and lot-status IDs. Returns CT_OK, CT_ERR_TOO_BIG when buf (len bytes) cannot
 * hold the ID, or CT_ERR_NOMEM. */
int ct_id_derive(char *buf, size_t len, const char *prefix, const char *const *parts,
                 size_t n_parts);

#endif
