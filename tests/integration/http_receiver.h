/* http_receiver: a webhook receiver for the integration tests, on libmicrohttpd (a real HTTP
 * server: the tests exercise the client's HTTP, not a hand-written parser's idea of it).
 *
 * It listens on 127.0.0.1, on a free port or a given one, and records every POST: path,
 * Idempotency-Key header, body and the status it answered. It behaves as a receiver that drops
 * repeats would: a request it answers 2xx is "accepted", and the accepted requests' distinct
 * idempotency keys are what a test counts (a repeat of an accepted key is counted apart, as
 * the dropped repeat it would be). Modes say how it answers from now on:
 *   OK   200 at once (accepted);
 *   FAIL 503 at once (not accepted);
 *   HANG holds the request for hang_ms (default 60 s) and then answers 503 (not accepted):
 *        a receiver too slow for the client's timeout. A stop or a mode change ends the hold.
 * Stop and start again on the same port make "the receiver down for a while" (the client sees
 * connections refused meanwhile); the records survive the stop.
 *
 * Thread-safe: the server answers on its own threads (one per connection); a test reads and
 * changes the receiver from its thread. */
#ifndef HTTP_RECEIVER_H
#define HTTP_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_receiver;

enum http_receiver_mode {
	HTTP_RECEIVER_OK,
	HTTP_RECEIVER_FAIL,
	HTTP_RECEIVER_HANG,
};

/* One request as recorded; the strings are the record's own (http_record_cleanup). */
struct http_record {
	char *path;            /* "/hook/a" */
	char *idempotency_key; /* "" when the header was absent */
	char *content_type;    /* "" when absent */
	char *body;            /* NUL-terminated (a body with NULs is cut there for printing) */
	size_t body_len;
	int status;    /* what the receiver answered */
	bool accepted; /* answered 2xx */
	bool repeat;   /* accepted, and its key had been accepted before (a dropped repeat) */
	int64_t at_ms; /* ct_mono_ms() when the request was complete */
};

/* Starts a receiver on 127.0.0.1:port (0: a free port the system picks), in mode OK. Returns
 * CT_OK with *ret, or CT_ERR_IO (the reason printed) when the port cannot be bound. */
int http_receiver_start(int port, struct http_receiver **ret);
/* The port it listens on (kept across stop and start). */
int http_receiver_port(const struct http_receiver *r);
/* "http://127.0.0.1:<port>" + path into buf; returns buf. */
char *http_receiver_url(const struct http_receiver *r, const char *path, char *buf, size_t len);
void http_receiver_set_mode(struct http_receiver *r, enum http_receiver_mode mode);
/* How long HANG holds a request. */
void http_receiver_set_hang_ms(struct http_receiver *r, int hang_ms);
/* Stops listening and closes every connection (held requests are answered 503 first); the
 * records are kept. A stopped receiver's stop is a no-op. */
void http_receiver_stop(struct http_receiver *r);
/* Listens again on the same port. CT_OK, or CT_ERR_IO when the port is taken meanwhile. */
int http_receiver_restart(struct http_receiver *r);
/* Stops it and frees everything. NULL is a no-op. */
void http_receiver_free(struct http_receiver *r);

/* Requests recorded (every POST, whatever was answered). */
size_t http_receiver_count(struct http_receiver *r);
/* A copy of the i-th record (in order of completion): CT_OK, or CT_ERR_NOT_FOUND past the
 * end, CT_ERR_NOMEM. Free it with http_record_cleanup. */
int http_receiver_record(struct http_receiver *r, size_t i, struct http_record *ret);
void http_record_cleanup(struct http_record *rec);
/* Distinct idempotency keys of accepted requests. */
size_t http_receiver_distinct_keys(struct http_receiver *r);
/* Accepted requests whose key had been accepted before (the repeats a receiver drops). */
size_t http_receiver_repeats(struct http_receiver *r);
/* True when key was accepted; *ret_times (may be NULL) how many times. */
bool http_receiver_key_accepted(struct http_receiver *r, const char *key, size_t *ret_times);
/* Waits until at least n distinct keys were accepted: CT_OK, or CT_ERR_TIMEOUT after
 * timeout_ms (the count then printed). */
int http_receiver_wait_distinct(struct http_receiver *r, size_t n, int timeout_ms);
/* Waits until at least n requests were recorded: CT_OK or CT_ERR_TIMEOUT. */
int http_receiver_wait_count(struct http_receiver *r, size_t n, int timeout_ms);

#endif
