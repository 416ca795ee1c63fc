/* api_live: the hub of the live stream (server-sent events).
 *
 * The service's loop thread decodes what arrives on its subscriptions (results, verdicts,
 * alert events, lot status, OEE figures, station states) into the stream's JSON events and adds
 * them to the hub (api_live_add). The hub keeps the newest API_LIVE_RING events in a ring, each
 * with a sequence number. Every SSE client runs on its own HTTP connection thread and reads the
 * ring from its own position, waiting on the hub's condition variable; so the ring is each client's
 * bounded queue, and a client that falls a whole ring behind (too slow to keep up) is disconnected
 * instead of letting memory grow. Memory is fixed by the ring, not by the number or speed of
 * clients. */
#ifndef CT_API_LIVE_H
#define CT_API_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define API_LIVE_RING         4096
#define API_LIVE_KEEPALIVE_MS 15000

/* The kinds of event, as bits of a client's filter. */
enum api_live_kind {
	API_LIVE_MEASUREMENT = 1 << 0,
	API_LIVE_VERDICT = 1 << 1,
	API_LIVE_ALERT = 1 << 2,
	API_LIVE_LOT = 1 << 3,
	API_LIVE_OEE = 1 << 4,   /* ct-oee's figures of a station or line (OeeFigures) */
	API_LIVE_STATE = 1 << 5, /* a station's state change (StationState) */
};
#define API_LIVE_ALL                                                                               \
	(API_LIVE_MEASUREMENT | API_LIVE_VERDICT | API_LIVE_ALERT | API_LIVE_LOT | API_LIVE_OEE |  \
	 API_LIVE_STATE)

struct api_live;
struct api_live_client;

/* A client's filter: kinds is a set of enum api_live_kind; a NULL string matches anything. A
 * set field filters only the events that carry it (a lot event has no line, station or
 * characteristic; only measurements have a characteristic). */
struct api_live_filter {
	unsigned kinds;
	const char *site, *line, *station, *characteristic;
};

/* A hub for at most max_clients streams at once. Returns NULL when out of memory. */
struct api_live *api_live_new(size_t max_clients);
/* Ends every stream (they return end-of-stream) and refuses new ones. */
void api_live_shutdown(struct api_live *live);
/* Frees the hub; every client must have been freed. NULL is a no-op. */
void api_live_free(struct api_live *live);

/* True when some client is connected (so decoding for the stream is worth doing). */
bool api_live_has_clients(struct api_live *live);
/* Adds an event: `event: <name>` with data json (one line). The fields are what filters
 * match on (NULL or "" when the event has none). Returns CT_OK or CT_ERR_NOMEM. */
int api_live_add(struct api_live *live, enum api_live_kind kind, const char *json, const char *site,
                 const char *line, const char *station, const char *characteristic);

/* A new stream client starting at the newest event. Returns CT_OK; CT_ERR_AGAIN when
 * max_clients streams are open or the hub is shut down; CT_ERR_NOMEM. */
int api_live_client_new(struct api_live *live, const struct api_live_filter *filter,
                        struct api_live_client **ret);
/* The HTTP library's content reader: fills buf with up to max bytes of the stream, waiting
 * for events (a keepalive comment every API_LIVE_KEEPALIVE_MS). Returns the bytes written,
 * or -1 at the end (hub shut down) and -2 when the client fell behind (disconnect it). */
long api_live_client_read(struct api_live_client *client, char *buf, size_t max);
/* Frees a client and its slot. NULL is a no-op. */
void api_live_client_free(struct api_live_client *client);

/* Parses a kinds argument ("measurement,alert"). Returns CT_OK with *ret or CT_ERR_INVALID. */
int api_live_parse_kinds(const char *text, unsigned *ret);

#endif
