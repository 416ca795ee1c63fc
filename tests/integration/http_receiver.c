/* http_receiver: the test webhook receiver (see http_receiver.h). */
#include "http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "ct_error.h"
#include "ct_map.h"
#include "ct_time.h"

/* A body larger than this is answered 413 (a webhook payload is a few hundred bytes). */
#define BODY_MAX (4u << 20)

struct http_receiver {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a record was added, the mode changed, or a stop began */
	struct MHD_Daemon *daemon;
	int port;
	enum http_receiver_mode mode;
	int hang_ms;
	unsigned mode_gen; /* counts mode changes: a held request ends when it moves */
	bool stopping;     /* held requests end now */
	struct http_record *records;
	size_t n_records, cap_records;
	struct ct_map accepted; /* idempotency key -> times accepted */
	size_t repeats;
};

/* One request being received: its body so far. Owned by MHD's per-request pointer, freed in
 * on_completed. */
struct request {
	char *body;
	size_t len, cap;
	bool too_big;
};

static char *dup_text(const char *text)
{
	return strdup(text != NULL ? text : "");
}

void http_record_cleanup(struct http_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->path);
	free(rec->idempotency_key);
	free(rec->content_type);
	free(rec->body);
	memset(rec, 0, sizeof(*rec));
}

static bool request_append(struct request *req, const char *data, size_t len)
{
	if (req->too_big || req->len + len > BODY_MAX) {
		req->too_big = true;
		return true; /* read on and answer 413 at the end */
	}
	if (req->len + len + 1 > req->cap) {
		size_t cap = req->cap ? req->cap : 1024;
		char *body;
		while (cap < req->len + len + 1)
			cap *= 2;
		body = realloc(req->body, cap);
		if (body == NULL)
			return false;
		req->body = body;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, len);
	req->len += len;
	req->body[req->len] = '\0';
	return true;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Adds a record (lock held). Returns false when out of memory. */
static bool add_record(struct http_receiver *r, const char *path, const char *key,
                       const char *content_type, const struct request *req, int status)
{
	struct http_record rec = {0};
	size_t times = 0;

	if (r->n_records == r->cap_records) {
		size_t cap = r->cap_records ? r->cap_records * 2 : 64;
		struct http_record *records = realloc(r->records, cap * sizeof(*records));
		if (records == NULL)
			return false;
		r->records = records;
		r->cap_records = cap;
	}
	rec.path = dup_text(path);
	rec.idempotency_key = dup_text(key);
	rec.content_type = dup_text(content_type);
	rec.body = malloc(req->len + 1);
	if (rec.path == NULL || rec.idempotency_key == NULL || rec.content_type == NULL ||
	    rec.body == NULL) {
		http_record_cleanup(&rec);
		return false;
	}
	if (req->len > 0)
		memcpy(rec.body, req->body, req->len);
	rec.body[req->len] = '\0';
	rec.body_len = req->len;
	rec.status = status;
	rec.accepted = status >= 200 && status < 300;
	rec.at_ms = ct_mono_ms();
	if (rec.accepted) {
		if (ct_map_get(&r->accepted, rec.idempotency_key, &times)) {
			rec.repeat = true;
			r->repeats++;
		}
		if (ct_map_put(&r->accepted, rec.idempotency_key, times + 1) != CT_OK) {
			http_record_cleanup(&rec);
			return false;
		}
	}
	r->records[r->n_records++] = rec;
	pthread_cond_broadcast(&r->changed);
	return true;
}

/* HANG: holds the connection's thread until hang_ms passes, the mode changes or a stop
 * begins (lock held). */
static void hold(struct http_receiver *r)
{
	unsigned gen = r->mode_gen;
	int64_t until = ct_mono_ms() + r->hang_ms;
	struct timespec ts;

	while (!r->stopping && r->mode_gen == gen && ct_mono_ms() < until) {
		int64_t left = until - ct_mono_ms();
		ct_time_deadline(&ts, left > 200 ? 200 : (int)left);
		pthread_cond_timedwait(&r->changed, &r->lock, &ts);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	struct http_receiver *r = cls;
	struct request *req = *req_cls;
	const char *key, *content_type;
	enum http_receiver_mode mode;
	unsigned status;
	bool stored;

	(void)version;
	if (req == NULL) {
		/* First call: headers only. The body comes in the next calls. */
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		*req_cls = req;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
	if (*upload_data_size > 0) {
		if (!request_append(req, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* The whole request is here. */
	key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
	content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	pthread_mutex_lock(&r->lock);
	mode = r->mode;
	if (req->too_big)
		status = MHD_HTTP_CONTENT_TOO_LARGE;
	else if (mode == HTTP_RECEIVER_OK)
		status = MHD_HTTP_OK;
	else
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	/* Recorded on arrival, before a hold, so a test can wait for a held request. */
	stored = add_record(r, url, key, content_type, req, (int)status);
	if (stored && mode == HTTP_RECEIVER_HANG && !req->too_big)
		hold(r);
	pthread_mutex_unlock(&r->lock);
	if (!stored) {
		fprintf(stderr, "http_receiver: out of memory recording a request\n");
		return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return respond(conn, status, status == MHD_HTTP_OK ? "ok\n" : "not now\n");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *req = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req != NULL) {
		free(req->body);
		free(req);
		*req_cls = NULL;
	}
}

/* Starts the daemon on r->port (0: any), setting r->port to the bound one. */
static int listen_on_port(struct http_receiver *r)
{
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)r->port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A thread per connection, so a held (HANG) request blocks only its own connection.
	 * MHD sets SO_REUSEADDR on its listening socket, so a restart on the same port is not
	 * refused for connections of the previous run still in TIME_WAIT. */
	daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                                  MHD_USE_AUTO | MHD_USE_ERROR_LOG,
	                          (uint16_t)r->port, NULL, NULL, on_request, r,
	                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
	                          MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
	if (daemon == NULL) {
		fprintf(stderr, "http_receiver: cannot listen on 127.0.0.1:%d\n", r->port);
		return CT_ERR_IO;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0) {
		fprintf(stderr, "http_receiver: cannot tell the bound port\n");
		MHD_stop_daemon(daemon);
		return CT_ERR_IO;
	}
	pthread_mutex_lock(&r->lock);
	r->daemon = daemon;
	r->port = info->port;
	pthread_mutex_unlock(&r->lock);
	return CT_OK;
}

int http_receiver_start(int port, struct http_receiver **ret)
{
	struct http_receiver *r;
	int rc;

	if (port < 0 || port > 65535)
		return CT_ERR_INVALID;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CT_ERR_NOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	ct_map_init(&r->accepted);
	r->port = port;
	r->mode = HTTP_RECEIVER_OK;
	r->hang_ms = 60000;
	if ((rc = listen_on_port(r)) != CT_OK) {
		http_receiver_free(r);
		return rc;
	}
	*ret = r;
	return CT_OK;
}

int http_receiver_port(const struct http_receiver *r)
{
	return r->port;
}

char *http_receiver_url(const struct http_receiver *r, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d%s", r->port, path != NULL ? path : "");
	return buf;
}

void http_receiver_set_mode(struct http_receiver *r, enum http_receiver_mode mode)
{
	pthread_mutex_lock(&r->lock);
	r->mode = mode;
	r->mode_gen++;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

void http_receiver_set_hang_ms(struct http_receiver *r, int hang_ms)
{
	pthread_mutex_lock(&r->lock);
	r->hang_ms = hang_ms > 0 ? hang_ms : 0;
	pthread_mutex_unlock(&r->lock);
}

void http_receiver_stop(struct http_receiver *r)
{
	struct MHD_Daemon *daemon;

	pthread_mutex_lock(&r->lock);
	daemon = r->daemon;
	r->daemon = NULL;
	r->stopping = true; /* ends every hold, so MHD_stop_daemon can join the threads */
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	if (daemon != NULL)
		MHD_stop_daemon(daemon);
	pthread_mutex_lock(&r->lock);
	r->stopping = false;
	pthread_mutex_unlock(&r->lock);
}

int http_receiver_restart(struct http_receiver *r)
{
	bool running;

	pthread_mutex_lock(&r->lock);
	running = r->daemon != NULL;
	pthread_mutex_unlock(&r->lock);
	return running ? CT_OK : listen_on_port(r);
}

void http_receiver_free(struct http_receiver *r)
{
	if (r == NULL)
		return;
	http_receiver_stop(r);
	for (size_t i = 0; i < r->n_records; i++)
		http_record_cleanup(&r->records[i]);
	free(r->records);
	ct_map_cleanup(&r->accepted);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

size_t http_receiver_count(struct http_receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n_records;
	pthread_mutex_unlock(&r->lock);
	return n;
}

int http_receiver_record(struct http_receiver *r, size_t i, struct http_record *ret)
{
	struct http_record copy = {0};
	int rc = CT_OK;

	pthread_mutex_lock(&r->lock);
	if (i >= r->n_records) {
		rc = CT_ERR_NOT_FOUND;
	} else {
		const struct http_record *rec = &r->records[i];
		copy = *rec;
		copy.path = strdup(rec->path);
		copy.idempotency_key = strdup(rec->idempotency_key);
		copy.content_type = strdup(rec->content_type);
		copy.body = malloc(rec->body_len + 1);
		if (copy.body != NULL)
			memcpy(copy.body, rec->body, rec->body_len + 1);
		if (copy.path == NULL || copy.idempotency_key == NULL ||
		    copy.content_type == NULL || copy.body == NULL) {
			http_record_cleanup(&copy);
			rc = CT_ERR_NOMEM;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (rc == CT_OK)
		*ret = copy;
	return rc;
}

size_t http_receiver_distinct_keys(struct http_receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = ct_map_count(&r->accepted);
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t http_receiver_repeats(struct http_receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->repeats;
	pthread_mutex_unlock(&r->lock);
	return n;
}

bool http_receiver_key_accepted(struct http_receiver *r, const char *key, size_t *ret_times)
{
	size_t times = 0;
	bool found;

	pthread_mutex_lock(&r->lock);
	found = ct_map_get(&r->accepted, key, &times);
	pthread_mutex_unlock(&r->lock);
	if (ret_times != NULL)
		*ret_times = found ? times : 0;
	return found;
}

/* Waits until n distinct accepted keys (distinct) or n records are there, or the deadline. */
static int wait_until(struct http_receiver *r, size_t n, int timeout_ms, bool distinct)
{
	int64_t until = ct_mono_ms() + timeout_ms;
	struct timespec ts;
	size_t have;
	int rc = CT_OK;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		int64_t left;
		have = distinct ? ct_map_count(&r->accepted) : r->n_records;
		if (have >= n)
			break;
		left = until - ct_mono_ms();
		if (left <= 0) {
			rc = CT_ERR_TIMEOUT;
			break;
		}
		/* Bounded slices: CLOCK_REALTIME deadlines may jump; the monotonic one decides. */
		ct_time_deadline(&ts, left > 500 ? 500 : (int)left);
		pthread_cond_timedwait(&r->changed, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	if (rc != CT_OK)
		fprintf(stderr, "http_receiver: %zu %s after %d ms, waited for %zu\n", have,
		        distinct ? "distinct accepted keys" : "requests", timeout_ms, n);
	return rc;
}

int http_receiver_wait_distinct(struct http_receiver *r, size_t n, int timeout_ms)
{
	return wait_until(r, n, timeout_ms, true);
}

int http_receiver_wait_count(struct http_receiver *r, size_t n, int timeout_ms)
{
	return wait_until(r, n, timeout_ms, false);
}
