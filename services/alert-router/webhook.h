/* webhook: the router's webhook delivery worker, a thread that empties the outbox.
 *
 * The outbox is the table alert_delivery (migration 0009): the router's loop inserts a row per
 * delivery in the transaction that decides it, so a delivery is never lost, whatever happens to
 * the router, the network or the receiver. This thread, on its own PostgreSQL connection, takes
 * the due rows of channel 'webhook' (ct_alert_deliveries_due: the oldest undelivered row of
 * each (subscription, alert), so order per alert holds) and POSTs each row's payload to its
 * target with libcurl, up to `parallel` requests at once (rows of distinct keys, never two of
 * one key). Headers: Content-Type: application/json and Idempotency-Key: <delivery_id>, so a
 * receiver drops what it gets twice (a 2xx whose answer was lost, a row leased again after a
 * crash). Outcomes go back to the row:
 *   2xx                -> delivered_at = now(), attempts + 1;
 *   anything else      -> attempts + 1, last_error ("HTTP 503", "timeout after 5000 ms", or
 *                         curl's error), next_attempt_at = now() + route_backoff_ms (doubling
 *                         from backoff_base_ms up to backoff_max_ms, jittered down to half);
 *   ... once now - created_at > give_up_s: gave_up_at = now() instead (the router's loop raises
 *                         an alert about it from the row).
 * A row taken is leased first (next_attempt_at = now() + timeout + margin), so a router killed
 * mid-request sends it again after the lease, and the thread does not take it twice meanwhile.
 *
 * The thread wakes when a request finishes, at the next due time, on NOTIFY ct_alert_delivery
 * (other writers: another router instance, the CLI), on webhook_kick (the router's own loop after
 * a commit), or to reconnect; it never busy-polls. (ct_pg offers no socket to sleep on, so an
 * idle thread looks for notifications every 100 ms: a non-blocking read, no query. A
 * ct_pg_socket() in the runtime would let it sleep on the connection instead.)
 *
 * While PostgreSQL is away the thread keeps the outcomes of finished requests in memory,
 * reconnects with backoff (100 ms doubling to 5 s) and writes them when it is back; nothing new
 * is sent meanwhile.
 *
 * Threads: webhook_start calls curl_global_init once per process (pthread_once); libcurl
 * before 7.84 (or built without the "threadsafe" feature) requires that no other thread uses
 * libcurl during that call, so start the worker before any other libcurl user. The worker
 * never calls curl_global_cleanup (another part of the process may still use libcurl; the
 * process's exit releases it). webhook_kick and webhook_stats may be called from any thread;
 * start and stop from one. */
#ifndef ALERT_WEBHOOK_H
#define ALERT_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_PARALLEL_MAX 64

struct webhook_options {
	const char *pg_conninfo; /* the router's login (copied) */
	const char *pg_password; /* NULL or "": libpq finds it (copied) */
	long timeout_ms;         /* per request, connect to last byte of the answer */
	long give_up_s;          /* a delivery failing this long after it was created is given up */
	long backoff_base_ms;    /* delay after the first failure; doubles per attempt... */
	long backoff_max_ms;     /* ...up to this, then full jitter (route_backoff_ms) */
	long parallel;           /* requests at once, 1..WEBHOOK_PARALLEL_MAX */
	const char *ca_file;     /* CA bundle to verify https targets; NULL or "": the system's */
	bool tls_verify;         /* verify the target's certificate and host name */
};

/* Sets the defaults of the config keys (the router's table has the same). */
void webhook_options_default(struct webhook_options *o);

struct webhook_stats {
	unsigned long delivered;       /* rows marked delivered */
	unsigned long failed_attempts; /* requests that failed (each one, also before a give-up) */
	unsigned long gave_up;         /* rows marked gave_up_at */
	unsigned long in_flight;       /* requests running now, plus outcomes not yet written */
	bool pg_connected;
};

struct webhook_worker;

/* Checks the options, initialises libcurl and starts the thread. The thread connects to
 * PostgreSQL itself (waiting, with backoff, while it is away): an unreachable database is not
 * an error here. Returns CT_OK with *ret, or CT_ERR_CONFIG / CT_ERR_NOMEM / CT_ERR_IO with the
 * reason in err. */
int webhook_start(struct webhook_worker **ret, const struct webhook_options *o, char *err,
                  size_t err_len);
/* Wakes the thread to look for due rows now (the caller just committed some). */
void webhook_kick(struct webhook_worker *w);
/* Stops the thread promptly (requests in flight are abandoned: their rows stay undelivered
 * and leased, and are sent again after the lease, by this router's next run or another
 * instance), writes the outcomes it can, and frees w. NULL is a no-op. */
void webhook_stop(struct webhook_worker *w);
void webhook_stats(const struct webhook_worker *w, struct webhook_stats *ret);

#endif
