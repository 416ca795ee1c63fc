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
/* Writes a new random event ID (32 hex digits, from getrandom) into buf (>= 33 bytes). */
void ct_event_id_new(char *buf, size_t len);

#endif
