/* webhook: the webhook delivery worker (see webhook.h). */
#include "webhook.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_map.h"
#include "ct_pg.h"
#include "ct_time.h"
#include "routing.h"

#define CHANNEL "ct_alert_delivery"
/* ct_pg does not expose its socket, so the thread cannot sleep on it: it reads notifications
 * this often while idle (a non-blocking recv, no query). The router's own deliveries wake it at
 * once (webhook_kick); this bounds the latency of other writers' rows. */
#define NOTIFY_CHECK_MS 100
/* A taken row is leased for the request's timeout plus this, so a request still finishing
 * cannot outlive its lease. */
#define LEASE_MARGIN_MS 10000
/* Reconnecting to PostgreSQL: from 100 ms, doubling, up to 5 s (as ct_pg_ensure). */
#define PG_RETRY_MIN_MS 100
#define PG_RETRY_MAX_MS 5000
/* The due-time query found a row due that the due rows did not include (it should not
 * happen: both follow the same order): look again after this, not at once. */
#define MISMATCH_WAIT_MS 1000
#define ERROR_TEXT_MAX   200
#define LABEL_MAX        160

/* One request, from the row taken to its outcome written back. */
struct delivery {
	bool used;
	CURL *easy; /* NULL once finished */
	struct curl_slist *headers;
	char *delivery_id, *target, *payload; /* owned (strdup) */
	int attempts;                         /* of the row before this request */
	int64_t started_ms;
	bool finished; /* the outcome is known, not yet written */
	bool ok;
	char error[ERROR_TEXT_MAX];
	char curl_error[CURL_ERROR_SIZE];
};

struct webhook_worker {
	/* Options; the strings are owned. */
	char *conninfo, *password, *ca_file;
	long timeout_ms, give_up_s, backoff_base_ms, backoff_max_ms;
	int parallel;
	bool tls_verify;

	pthread_t thread;
	CURLM *multi;
	struct ct_pg *pg;
	atomic_int stop;
	atomic_int kicked;

	/* The thread's own state. */
	struct delivery slots[WEBHOOK_PARALLEL_MAX];
	bool pg_up;
	bool pg_lost_logged; /* the outage was reported; report the return once */
	int64_t pg_retry_at_ms;
	int pg_retry_ms;
	bool fetch_wanted;     /* look for due rows at the next turn */
	int64_t next_due_ms;   /* ct_mono_ms of the next due row, INT64_MAX: none pending */
	struct ct_map failing; /* target label -> failed attempts in a row (logs once a run) */
	uint64_t rng;

	/* Counters for webhook_stats, read from other threads. */
	atomic_ulong delivered, failed_attempts, gave_up, in_flight;
	atomic_bool pg_connected;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void webhook_options_default(struct webhook_options *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	o->give_up_s = 86400;
	o->backoff_base_ms = 1000;
	o->backoff_max_ms = 300000;
	o->parallel = 8;
	o->tls_verify = true;
}

/* splitmix64: the jitter needs no more than a decent spread. */
static double next_jitter(struct webhook_worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* "https://host:port" of a target, for logs: the rest of a webhook URL often carries its
 * secret (a token in the path or query), which must not reach a log. */
static void target_label(const char *target, char *buf, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;

	snprintf(buf, len, "(unparsable URL)");
	if (u == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, target, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
			snprintf(buf, len, "%s://%s:%s", scheme, host, port);
		else
			snprintf(buf, len, "%s://%s", scheme, host);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static size_t discard_body(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void slot_clear(struct webhook_worker *w, struct delivery *d)
{
	if (d->easy != NULL) {
		curl_multi_remove_handle(w->multi, d->easy);
		curl_easy_cleanup(d->easy);
	}
	curl_slist_free_all(d->headers);
	free(d->delivery_id);
	free(d->target);
	free(d->payload);
	memset(d, 0, sizeof(*d));
}

static size_t slots_used(const struct webhook_worker *w)
{
	size_t n = 0;

	for (int i = 0; i < w->parallel; i++)
		n += w->slots[i].used;
	return n;
}

static bool in_slots(const struct webhook_worker *w, const char *delivery_id)
{
	for (int i = 0; i < w->parallel; i++)
		if (w->slots[i].used && strcmp(w->slots[i].delivery_id, delivery_id) == 0)
			return true;
	return false;
}

/* True when text can go into a header line as it is. */
static bool header_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* The outcome of a request that could not even start (as a failed attempt). */
static void finish_unsent(struct delivery *d, const char *why)
{
	if (d->easy != NULL) {
		curl_easy_cleanup(d->easy);
		d->easy = NULL;
	}
	d->finished = true;
	d->ok = false;
	snprintf(d->error, sizeof(d->error), "%s", why);
}

/* Sets up d's request and adds it to the multi handle; a failure becomes d's outcome. */
static void start_request(struct webhook_worker *w, struct delivery *d)
{
	char key_header[256];
	struct curl_slist *h;
	CURLcode c = CURLE_OK;

	d->started_ms = ct_mono_ms();
	if (!header_safe(d->delivery_id) ||
	    (size_t)snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s",
	                     d->delivery_id) >= sizeof(key_header)) {
		finish_unsent(d, "delivery_id cannot be an Idempotency-Key header");
		return;
	}
	d->easy = curl_easy_init();
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h != NULL)
		d->headers = h;
	if (h != NULL)
		h = curl_slist_append(d->headers, key_header);
	/* No "Expect: 100-continue" round trip before the body: a webhook body is small. */
	if (h != NULL)
		h = curl_slist_append(d->headers, "Expect:");
	if (d->easy == NULL || h == NULL) {
		finish_unsent(d, "out of memory");
		return;
	}
	/* Every option's result is checked once: each fails only for an unknown option or out of
	 * memory. */
	c |= curl_easy_setopt(d->easy, CURLOPT_URL, d->target);
	c |= curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	c |= curl_easy_setopt(d->easy, CURLOPT_POST, 1L);
	c |= curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->payload);
	c |= curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(d->payload));
	c |= curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
	c |= curl_easy_setopt(d->easy, CURLOPT_USERAGENT, "cellthread-alert-router");
	c |= curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, w->timeout_ms);
	/* A redirect is an answer other than 2xx: POSTing the alert somewhere else is for the
	 * subscription's owner to decide, by changing the target. */
	c |= curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* No signals from a library on a thread of a service: curl would otherwise use SIGALRM
	 * to time out name resolution when it lacks the threaded resolver. */
	c |= curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
	c |= curl_easy_setopt(d->easy, CURLOPT_SSL_VERIFYPEER, w->tls_verify ? 1L : 0L);
	c |= curl_easy_setopt(d->easy, CURLOPT_SSL_VERIFYHOST, w->tls_verify ? 2L : 0L);
	if (w->ca_file != NULL)
		c |= curl_easy_setopt(d->easy, CURLOPT_CAINFO, w->ca_file);
	c |= curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, discard_body);
	c |= curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, d->curl_error);
	c |= curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
	if (c != CURLE_OK) {
		finish_unsent(d, "cannot set up the request");
		return;
	}
	if (curl_multi_add_handle(w->multi, d->easy) != CURLM_OK)
		finish_unsent(d, "cannot start the request");
}

/* Runs the transfers and collects the finished ones' outcomes. */
static void drive_transfers(struct webhook_worker *w)
{
	CURLMsg *msg;
	int running = 0, left = 0;

	curl_multi_perform(w->multi, &running);
	while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct delivery *d = NULL;
		long status = 0;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
		if (d == NULL)
			continue;
		if (msg->data.result == CURLE_OK) {
			curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
			d->ok = status >= 200 && status < 300;
			if (!d->ok)
				snprintf(d->error, sizeof(d->error), "HTTP %ld", status);
		} else if (msg->data.result == CURLE_OPERATION_TIMEDOUT) {
			snprintf(d->error, sizeof(d->error), "timeout after %ld ms", w->timeout_ms);
		} else {
			/* Cut to the column's short form: curl's messages can be long. */
			snprintf(d->error, sizeof(d->error), "%.*s", (int)sizeof(d->error) - 1,
			         d->curl_error[0] != '\0' ? d->curl_error
			                                  : curl_easy_strerror(msg->data.result));
		}
		curl_multi_remove_handle(w->multi, d->easy);
		curl_easy_cleanup(d->easy);
		d->easy = NULL;
		d->finished = true;
	}
}

/* libpq's messages span lines ("server closed the connection unexpectedly\n\tThis
 * probably means..."); a log line is one line. Cuts the copy at len. */
static const char *one_line(const char *text, char *buf, size_t len)
{
	size_t n = 0;
	bool blank = false;

	for (const char *p = text; *p != '\0' && n + 1 < len; p++) {
		bool space = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
		if (space && (blank || n == 0))
			continue;
		buf[n++] = space ? ' ' : *p;
		blank = space;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

/* Server notices, and the server's goodbye when it shuts down ("FATAL: terminating
 * connection due to administrator command", which libpq hands over as a notice), go to the
 * log instead of libpq's default, stderr without a timestamp. */
static void on_notice(void *arg, const char *severity, const char *message)
{
	char line[512];

	(void)arg;
	ct_debug("webhook: PostgreSQL says %s: %s", severity,
	         one_line(message, line, sizeof(line)));
}

static void pg_lost(struct webhook_worker *w, const char *what, const char *err)
{
	char line[512];

	w->pg_up = false;
	atomic_store(&w->pg_connected, false);
	w->pg_retry_ms = PG_RETRY_MIN_MS;
	w->pg_retry_at_ms = ct_mono_ms() + w->pg_retry_ms;
	if (!w->pg_lost_logged)
		ct_warn("webhook: lost PostgreSQL while %s (%s); outcomes are kept and "
		        "written when it is back",
		        what, one_line(err, line, sizeof(line)));
	w->pg_lost_logged = true;
}

/* One connection attempt when its time has come; the backoff doubles up to 5 s. */
static void try_connect(struct webhook_worker *w)
{
	char err[512], line[512];

	if (ct_mono_ms() < w->pg_retry_at_ms)
		return;
	if (ct_pg_ensure(w->pg, 0, NULL, err, sizeof(err)) == CT_OK) {
		w->pg_up = true;
		atomic_store(&w->pg_connected, true);
		w->fetch_wanted = true; /* notifications sent while away are lost */
		if (w->pg_lost_logged)
			ct_info("webhook: connected to PostgreSQL again");
		w->pg_lost_logged = false;
		return;
	}
	if (!w->pg_lost_logged)
		ct_warn("webhook: %s; retrying with backoff", one_line(err, line, sizeof(line)));
	w->pg_lost_logged = true;
	w->pg_retry_ms =
	        w->pg_retry_ms * 2 > PG_RETRY_MAX_MS ? PG_RETRY_MAX_MS : w->pg_retry_ms * 2;
	w->pg_retry_at_ms = ct_mono_ms() + w->pg_retry_ms;
}

/* Handles a failed statement: a lost connection is waited out, anything else is reported.
 * Returns true when the connection was lost. */
static bool statement_failed(struct webhook_worker *w, const char *what, const char *err)
{
	if (ct_pg_is_connection_error(w->pg)) {
		pg_lost(w, what, err);
		return true;
	}
	char line[512];

	ct_error("webhook: %s failed: %s", what, one_line(err, line, sizeof(line)));
	return false;
}

static void log_failure(struct webhook_worker *w, const struct delivery *d, bool gave_up,
                        int attempts, int64_t next_in_ms)
{
	char label[LABEL_MAX];
	size_t failures = 0;

	target_label(d->target, label, sizeof(label));
	if (gave_up) {
		ct_error("webhook %s: gave up on delivery %s after %d attempt%s (last: %s)", label,
		         d->delivery_id, attempts, attempts == 1 ? "" : "s", d->error);
		return;
	}
	/* One warning while a target keeps failing, not one per request (a receiver that is
	 * down fails every delivery queued for it). */
	if (!ct_map_get(&w->failing, label, &failures))
		ct_warn("webhook %s: %s (delivery %s, attempt %d); retrying with backoff, further "
		        "failures of this target at debug level until it takes one",
		        label, d->error, d->delivery_id, attempts);
	else
		ct_debug("webhook %s: %s (delivery %s, attempt %d); next in %lld ms", label,
		         d->error, d->delivery_id, attempts, (long long)next_in_ms);
	if (ct_map_put(&w->failing, label, failures + 1) != CT_OK)
		ct_debug("webhook: out of memory counting failures");
}

static void log_success(struct webhook_worker *w, const struct delivery *d)
{
	char label[LABEL_MAX];
	size_t failures = 0;

	target_label(d->target, label, sizeof(label));
	if (ct_map_get(&w->failing, label, &failures)) {
		ct_info("webhook %s: delivers again (after %zu failed attempts)", label, failures);
		ct_map_remove(&w->failing, label);
	}
	ct_debug("webhook %s: delivered %s in %lld ms", label, d->delivery_id,
	         (long long)(ct_mono_ms() - d->started_ms));
}

/* Writes one finished request's outcome. Returns CT_OK (also when the row had changed
 * meanwhile, or the statement was refused: the slot is then freed and the row, still leased,
 * is sent again after its lease), or CT_ERR_PG when the connection was lost (the outcome is
 * kept). */
static int write_outcome(struct webhook_worker *w, struct delivery *d)
{
	struct ct_pg_result *res = NULL;
	char err[512], delay[24], give_up[24];
	int rc;

	if (d->ok) {
		const char *v[] = {d->delivery_id};
		rc = ct_pg_query(w->pg,
		                 "UPDATE alert_delivery SET delivered_at = now(),"
		                 " attempts = attempts + 1"
		                 " WHERE delivery_id = $1 AND delivered_at IS NULL",
		                 1, v, &res, err, sizeof(err));
		if (rc != CT_OK)
			return statement_failed(w, "marking a delivery delivered", err) ? rc
			                                                                : CT_OK;
		if (ct_pg_result_changed(res) == 1) {
			atomic_fetch_add(&w->delivered, 1);
			log_success(w, d);
		} else {
			ct_debug("webhook: %s was delivered already", d->delivery_id);
		}
		ct_pg_result_free(res);
		return CT_OK;
	}

	/* attempts + 1 requests have failed: the next is retry number attempts + 1. */
	int64_t delay_ms = route_backoff_ms(d->attempts + 1, w->backoff_base_ms, w->backoff_max_ms,
	                                    next_jitter(w));
	snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
	snprintf(give_up, sizeof(give_up), "%ld", w->give_up_s);
	const char *v[] = {d->delivery_id, d->error, delay, give_up};
	/* The database's clock decides the give-up, the same clock as created_at. */
	rc = ct_pg_query(w->pg,
	                 "UPDATE alert_delivery SET attempts = attempts + 1, last_error = $2,"
	                 " gave_up_at = CASE WHEN now() - created_at > $4::bigint * interval '1 s'"
	                 "  THEN now() END,"
	                 " next_attempt_at = CASE WHEN now() - created_at > $4::bigint"
	                 "  * interval '1 s' THEN next_attempt_at"
	                 "  ELSE now() + $3::bigint * interval '1 ms' END"
	                 " WHERE delivery_id = $1 AND delivered_at IS NULL AND gave_up_at IS NULL"
	                 " RETURNING attempts, gave_up_at IS NOT NULL AS gave_up",
	                 4, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return statement_failed(w, "recording a failed delivery", err) ? rc : CT_OK;
	atomic_fetch_add(&w->failed_attempts, 1);
	if (ct_pg_result_rows(res) == 1) {
		int attempts = d->attempts + 1;
		bool gave_up = false;
		ct_pg_int(res, 0, "attempts", &attempts);
		ct_pg_bool(res, 0, "gave_up", &gave_up);
		if (gave_up)
			atomic_fetch_add(&w->gave_up, 1);
		log_failure(w, d, gave_up, attempts, delay_ms);
	}
	ct_pg_result_free(res);
	return CT_OK;
}

/* Writes every finished outcome; stops at a lost connection. */
static void write_outcomes(struct webhook_worker *w)
{
	for (int i = 0; i < w->parallel && w->pg_up; i++) {
		struct delivery *d = &w->slots[i];
		if (!d->used || !d->finished)
			continue;
		if (write_outcome(w, d) != CT_OK)
			return;
		slot_clear(w, d);
		/* The key's next row may be due now. */
		w->fetch_wanted = true;
	}
}

static void read_notifies(struct webhook_worker *w)
{
	char channel[64];
	bool got = false;

	while (ct_pg_next_notify(w->pg, channel, sizeof(channel), &got) == CT_OK && got)
		if (strcmp(channel, CHANNEL) == 0)
			w->fetch_wanted = true;
	if (ct_pg_is_connection_error(w->pg))
		pg_lost(w, "reading notifications", ct_pg_last_error(w->pg)->message);
}

/* When the next undelivered row is due: the oldest undelivered row of each key (the only one
 * that may go next, in ct_alert_deliveries_due's order), earliest first. INT64_MAX when
 * nothing is pending. */
static int query_next_due(struct webhook_worker *w, int64_t *ret_ms)
{
	struct ct_pg_result *res = NULL;
	char err[512];
	int64_t wait_ms;
	int rc;

	rc = ct_pg_query(w->pg,
	                 "SELECT ceil(extract(epoch FROM min(greatest(not_before, next_attempt_at))"
	                 "  - now()) * 1000)::bigint AS wait_ms"
	                 " FROM (SELECT DISTINCT ON (subscription_id, alert_key) not_before,"
	                 "  next_attempt_at FROM alert_delivery WHERE channel = 'webhook'"
	                 "  AND delivered_at IS NULL AND gave_up_at IS NULL AND skipped IS NULL"
	                 "  ORDER BY subscription_id, alert_key, created_at, delivery_seq) AS k",
	                 0, NULL, &res, err, sizeof(err));
	if (rc != CT_OK) {
		statement_failed(w, "reading the next due time", err);
		return rc;
	}
	if (ct_pg_is_null(res, 0, "wait_ms"))
		*ret_ms = INT64_MAX;
	else if (ct_pg_int64(res, 0, "wait_ms", &wait_ms) == CT_OK)
		*ret_ms = ct_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	else
		*ret_ms = ct_mono_ms() + MISMATCH_WAIT_MS;
	ct_pg_result_free(res);
	return CT_OK;
}

/* Takes due rows into the free slots (leasing them in the same transaction) and starts
 * their requests; then learns when the next row is due. */
static void fetch_and_start(struct webhook_worker *w)
{
	struct ct_pg_result *res = NULL;
	struct ct_pgarray ids;
	struct delivery *taken[WEBHOOK_PARALLEL_MAX];
	size_t n_taken = 0, used = slots_used(w), n_free = (size_t)w->parallel - used;
	char err[512], limit[24], lease[24];
	int rows = 0, rc;

	w->fetch_wanted = false;
	/* Rows in flight are leased, so the function should not return them; asking for the
	 * rows in flight on top of the free slots keeps the free slots fillable even if it did. */
	snprintf(limit, sizeof(limit), "%zu", n_free + used);
	snprintf(lease, sizeof(lease), "%ld", w->timeout_ms + LEASE_MARGIN_MS);
	ct_pgarray_init(&ids);
	if ((rc = ct_pg_begin(w->pg, err, sizeof(err))) != CT_OK) {
		statement_failed(w, "taking due deliveries", err);
		ct_pgarray_cleanup(&ids);
		return;
	}
	const char *v[] = {limit};
	rc = ct_pg_query(w->pg, "SELECT * FROM ct_alert_deliveries_due('webhook', $1)", 1, v, &res,
	                 err, sizeof(err));
	if (rc == CT_OK) {
		rows = ct_pg_result_rows(res);
		for (int i = 0; i < rows && n_taken < n_free; i++) {
			const char *id = ct_pg_text(res, i, "delivery_id");
			const char *target = ct_pg_text(res, i, "target");
			const char *payload = ct_pg_text(res, i, "payload");
			struct delivery *d = NULL;
			int attempts = 0;
			if (id == NULL || in_slots(w, id))
				continue;
			if (ct_pg_int(res, i, "attempts", &attempts) != CT_OK)
				attempts = 0;
			for (int s = 0; s < w->parallel && d == NULL; s++)
				if (!w->slots[s].used)
					d = &w->slots[s];
			if (d == NULL)
				break; /* cannot happen: n_taken < n_free */
			d->used = true;
			d->attempts = attempts;
			d->delivery_id = strdup(id);
			d->target = strdup(target != NULL ? target : "");
			d->payload = strdup(payload != NULL ? payload : "");
			if (d->delivery_id == NULL || d->target == NULL || d->payload == NULL) {
				/* Not leased: the next turn takes it again. */
				slot_clear(w, d);
				continue;
			}
			ct_pgarray_text(&ids, id);
			taken[n_taken++] = d;
		}
		if (ct_pg_result_check(res, err, sizeof(err)) != CT_OK)
			ct_warn("webhook: a due delivery has a bad column: %s", err);
		ct_pg_result_free(res);
		res = NULL;
	}
	if (rc == CT_OK && n_taken > 0) {
		const char *lv[] = {ct_pgarray_literal(&ids), lease};
		if (lv[0] == NULL)
			rc = ct_set_error(err, sizeof(err), CT_ERR_NOMEM, "out of memory");
		else
			rc = ct_pg_query(
			        w->pg,
			        "UPDATE alert_delivery SET next_attempt_at = now() + "
			        "$2::bigint * interval '1 ms' WHERE delivery_id = ANY($1::text[])"
			        " AND delivered_at IS NULL AND gave_up_at IS NULL",
			        2, lv, NULL, err, sizeof(err));
	}
	if (rc == CT_OK)
		rc = ct_pg_commit(w->pg, err, sizeof(err));
	else
		ct_pg_rollback(w->pg);
	ct_pgarray_cleanup(&ids);
	if (rc != CT_OK) {
		/* Not leased: nothing is sent; the rows are taken again on the next turn. */
		for (size_t i = 0; i < n_taken; i++)
			slot_clear(w, taken[i]);
		if (!statement_failed(w, "taking due deliveries", err))
			w->next_due_ms = ct_mono_ms() + MISMATCH_WAIT_MS;
		return;
	}
	for (size_t i = 0; i < n_taken; i++)
		start_request(w, taken[i]);
	atomic_store(&w->in_flight, slots_used(w));
	if (query_next_due(w, &w->next_due_ms) != CT_OK) {
		w->next_due_ms = ct_mono_ms() + MISMATCH_WAIT_MS;
		return;
	}
	/* A free slot left and a row said to be due now that the function did not hand out
	 * (it may hold rows back for reasons of its own): not a reason to spin. */
	if (n_taken < n_free && (size_t)rows < n_free + used && w->next_due_ms <= ct_mono_ms())
		w->next_due_ms = ct_mono_ms() + MISMATCH_WAIT_MS;
}

/* Sleeps until a transfer needs attention, webhook_kick or stop wakes it, or the earliest of:
 * the next due row, a reconnect attempt, the next look at notifications. */
static void wait_for_work(struct webhook_worker *w)
{
	int64_t now = ct_mono_ms();
	int64_t until = now + 60000;

	if (!w->pg_up) {
		if (w->pg_retry_at_ms < until)
			until = w->pg_retry_at_ms;
	} else {
		if (now + NOTIFY_CHECK_MS < until)
			until = now + NOTIFY_CHECK_MS;
		if (slots_used(w) < (size_t)w->parallel && w->next_due_ms < until)
			until = w->next_due_ms;
	}
	if (until <= now)
		return;
	curl_multi_poll(w->multi, NULL, 0, (int)(until - now), NULL);
}

static void *worker_main(void *arg)
{
	struct webhook_worker *w = arg;

	w->fetch_wanted = true;
	w->next_due_ms = INT64_MAX;
	while (!atomic_load(&w->stop)) {
		drive_transfers(w);
		if (atomic_exchange(&w->kicked, 0))
			w->fetch_wanted = true;
		if (!w->pg_up)
			try_connect(w);
		if (w->pg_up)
			write_outcomes(w);
		if (w->pg_up)
			read_notifies(w);
		if (w->pg_up && slots_used(w) < (size_t)w->parallel &&
		    (w->fetch_wanted || ct_mono_ms() >= w->next_due_ms))
			fetch_and_start(w);
		atomic_store(&w->in_flight, slots_used(w));
		wait_for_work(w);
	}
	/* Stopping: what finished is written if the database is there (no waiting for it);
	 * the rest stays leased and is sent again after the lease. */
	drive_transfers(w);
	if (w->pg_up)
		write_outcomes(w);
	for (int i = 0; i < w->parallel; i++)
		if (w->slots[i].used)
			slot_clear(w, &w->slots[i]);
	atomic_store(&w->in_flight, 0);
	return NULL;
}

static void worker_free(struct webhook_worker *w)
{
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	ct_pg_free(w->pg);
	ct_map_cleanup(&w->failing);
	free(w->conninfo);
	if (w->password != NULL)
		memset(w->password, 0, strlen(w->password)); /* as ct_pg_free does with its copy */
	free(w->password);
	free(w->ca_file);
	free(w);
}

int webhook_start(struct webhook_worker **ret, const struct webhook_options *o, char *err,
                  size_t err_len)
{
	/* Unless conninfo says otherwise: a connection attempt to a host that does not answer
	 * ends (libpq's default is to wait forever, which would also hold up webhook_stop), and a
	 * connection whose server vanished without a word is noticed within about a minute (the
	 * idle worker only reads notifications, which never fails on a silent peer). */
	static const char *const pg_defaults[] = {"connect_timeout",
	                                          "5",
	                                          "application_name",
	                                          "cellthread",
	                                          "keepalives_idle",
	                                          "30",
	                                          "keepalives_interval",
	                                          "10",
	                                          "keepalives_count",
	                                          "3",
	                                          NULL};
	struct webhook_worker *w;
	const curl_version_info_data *info;
	char lerr[256];
	int rc;

	if (o->pg_conninfo == NULL)
		return ct_set_error(err, err_len, CT_ERR_CONFIG, "webhook: no PostgreSQL conninfo");
	if (o->parallel < 1 || o->parallel > WEBHOOK_PARALLEL_MAX)
		return ct_set_error(err, err_len, CT_ERR_CONFIG,
		                    "webhook.parallel must be 1..%d, not %ld", WEBHOOK_PARALLEL_MAX,
		                    o->parallel);
	if (o->timeout_ms < 1 || o->give_up_s < 0 || o->backoff_base_ms < 1 ||
	    o->backoff_max_ms < o->backoff_base_ms)
		return ct_set_error(
		        err, err_len, CT_ERR_CONFIG,
		        "webhook: timeout_ms and backoff_base_ms must be positive, "
		        "give_up_s not negative, backoff_max_ms at least backoff_base_ms");
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return ct_set_error(err, err_len, CT_ERR_IO, "webhook: curl_global_init failed: %s",
		                    curl_easy_strerror(curl_init_result));
	info = curl_version_info(CURLVERSION_NOW);
	/* CURLOPT_PROTOCOLS_STR and a thread-safe curl_multi_wakeup need 7.85. */
	if (info->version_num < 0x075500)
		return ct_set_error(err, err_len, CT_ERR_CONFIG,
		                    "webhook: libcurl %s is too old (7.85 or later needed)",
		                    info->version);

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	ct_map_init(&w->failing);
	w->timeout_ms = o->timeout_ms;
	w->give_up_s = o->give_up_s;
	w->backoff_base_ms = o->backoff_base_ms;
	w->backoff_max_ms = o->backoff_max_ms;
	w->parallel = (int)o->parallel;
	w->tls_verify = o->tls_verify;
	w->rng = (uint64_t)ct_now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)w;
	w->pg_retry_ms = PG_RETRY_MIN_MS;
	w->conninfo = strdup(o->pg_conninfo);
	w->password = o->pg_password != NULL ? strdup(o->pg_password) : NULL;
	w->ca_file = o->ca_file != NULL && o->ca_file[0] != '\0' ? strdup(o->ca_file) : NULL;
	if (w->conninfo == NULL || (o->pg_password != NULL && w->password == NULL) ||
	    (o->ca_file != NULL && o->ca_file[0] != '\0' && w->ca_file == NULL)) {
		worker_free(w);
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	w->pg = ct_pg_new_params(w->conninfo, w->password, pg_defaults, NULL);
	w->multi = curl_multi_init();
	if (w->pg == NULL || w->multi == NULL) {
		worker_free(w);
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	ct_pg_set_notice_handler(w->pg, on_notice, NULL);
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->parallel * 2);
	/* Registered now, LISTENed on every connect (ct_pg_ensure); "not connected" is expected. */
	if (ct_pg_listen(w->pg, CHANNEL, lerr, sizeof(lerr)) == CT_ERR_NOMEM) {
		worker_free(w);
		return ct_set_error(err, err_len, CT_ERR_NOMEM, "out of memory");
	}
	if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		worker_free(w);
		return ct_set_error(err, err_len, CT_ERR_IO, "webhook: cannot start its thread: %s",
		                    strerror(rc));
	}
	ct_info("webhook worker started: %ld requests at once, timeout %ld ms, give up after "
	        "%ld s, backoff %ld..%ld ms, TLS verification %s%s%s",
	        o->parallel, o->timeout_ms, o->give_up_s, o->backoff_base_ms, o->backoff_max_ms,
	        o->tls_verify ? "on" : "OFF", w->ca_file != NULL ? ", CA file " : "",
	        w->ca_file != NULL ? w->ca_file : "");
	*ret = w;
	return CT_OK;
}

void webhook_kick(struct webhook_worker *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->kicked, 1);
	curl_multi_wakeup(w->multi);
}

void webhook_stop(struct webhook_worker *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, 1);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	worker_free(w);
}

void webhook_stats(const struct webhook_worker *w, struct webhook_stats *ret)
{
	ret->delivered = atomic_load(&w->delivered);
	ret->failed_attempts = atomic_load(&w->failed_attempts);
	ret->gave_up = atomic_load(&w->gave_up);
	ret->in_flight = atomic_load(&w->in_flight);
	ret->pg_connected = atomic_load(&w->pg_connected);
}
