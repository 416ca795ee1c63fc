/* api_http: ct-api's HTTP server on libmicrohttpd: routing over api_routes[], bearer-token
 * auth and roles, request bodies, JSON errors, the dashboard's files, the live stream, and the
 * server's own handlers (health, me, openapi.json).
 *
 * libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION): a request is
 * handled start to end on its connection's thread, borrowing one pooled database connection
 * (api_pool) for auth and the handler and giving it back before the response is sent; a live
 * stream blocks its own thread in the hub (api_live) and holds no database connection. The
 * per-request state (struct request) is libmicrohttpd's con_cls: created on the first call
 * of the access handler, filled with the body over the following calls, freed by the
 * completion callback. The dashboard's files are read once at start; only those paths are
 * served, so no request path ever reaches the file system. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "api_auth.h"
#include "api_handlers.h"
#include "api_live.h"
#include "api_pool.h"
#include "api_server.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_mqtt.h"
#include "ct_pg.h"
#include "ct_time.h"

#define API_PREFIX        "/api/"
#define POOL_WAIT_MS      2000  /* a request waits this long for a database connection */
#define HEALTH_WAIT_MS    1000  /* health's own database check */
#define PUBLISH_WAIT_MS   10000 /* an action waits this long for the broker's PUBACK */
#define MAX_FILE_BYTES    (32u << 20)
#define PATH_ARG_MAX      256
#define STREAM_BLOCK      4096
#define CONNECTION_IDLE_S 60 /* an idle keep-alive connection is closed after this */
/* GnuTLS's NORMAL, but TLS 1.2 and 1.3 only: libmicrohttpd's default (NORMAL on Debian 12)
 * still speaks TLS 1.0 and 1.1, which browsers dropped in 2020 (RFC 8996). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* One request: the call the handler sees first, so a handler's call pointer is the request's
 * (api_get_stream uses this to hand its client to the core). */
struct request {
	struct api_call call;
	const struct api_route *route;
	bool wrong_method;
	char path_arg[PATH_ARG_MAX];
	char *body;
	size_t len, cap;
	bool too_large;
	struct api_live_client *stream;
	struct api_user user;
};

/* ---- files ------------------------------------------------------------------------------ */

static const struct {
	const char *path, *mime_type;
} web_files[API_WEB_FILES] = {
        {"/index.html", "text/html; charset=utf-8"},
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/app.css", "text/css; charset=utf-8"},
        {"/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
        {"/vendor/uPlot.min.css", "text/css; charset=utf-8"},
};

/* Reads a whole file into a NUL-terminated heap buffer. */
static int read_file(const char *path, char **ret, size_t *ret_len, char *err, size_t err_len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;
	int rc = CT_ERR_IO;

	if (f == NULL)
		return ct_set_error(err, err_len, CT_ERR_IO, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		ct_set_error(err, err_len, CT_ERR_IO, "%s: cannot tell its size", path);
		goto out;
	}
	if ((unsigned long)size > MAX_FILE_BYTES) {
		ct_set_error(err, err_len, CT_ERR_TOO_BIG, "%s: larger than %u bytes", path,
		             MAX_FILE_BYTES);
		goto out;
	}
	if ((data = malloc((size_t)size + 1)) == NULL) {
		rc = ct_set_error(err, err_len, CT_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	if (fread(data, 1, (size_t)size, f) != (size_t)size) {
		ct_set_error(err, err_len, CT_ERR_IO, "%s: short read", path);
		goto out;
	}
	data[size] = '\0';
	*ret = data;
	*ret_len = (size_t)size;
	data = NULL;
	rc = CT_OK;
out:
	free(data);
	fclose(f);
	return rc;
}

static bool is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int api_http_load_files(struct api_server *server, char *err, size_t err_len)
{
	const struct api_config *cfg = &server->cfg;
	int rc;

	for (size_t i = 0; i < API_WEB_FILES; i++) {
		server->web[i].path = web_files[i].path;
		server->web[i].mime_type = web_files[i].mime_type;
	}
	if (is_set(cfg->web_root)) {
		for (size_t i = 0; i < API_WEB_FILES; i++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s%s", cfg->web_root, web_files[i].path);
			rc = read_file(path, &server->web[i].data, &server->web[i].len, err,
			               err_len);
			if (rc != CT_OK)
				return rc;
		}
	}
	if (is_set(cfg->openapi_file) &&
	    (rc = read_file(cfg->openapi_file, &server->openapi, &server->openapi_len, err,
	                    err_len)) != CT_OK)
		return rc;
	if (is_set(cfg->tls_cert_file) != is_set(cfg->tls_key_file))
		return ct_set_error(err, err_len, CT_ERR_CONFIG,
		                    "api.tls_cert_file and api.tls_key_file: set both (HTTPS) or "
		                    "neither (HTTP)");
	if (is_set(cfg->tls_cert_file)) {
		size_t len;
		if ((rc = read_file(cfg->tls_cert_file, &server->tls_cert, &len, err, err_len)) !=
		            CT_OK ||
		    (rc = read_file(cfg->tls_key_file, &server->tls_key, &len, err, err_len)) !=
		            CT_OK)
			return rc;
	}
	return CT_OK;
}

void api_http_free_files(struct api_server *server)
{
	for (size_t i = 0; i < API_WEB_FILES; i++) {
		free(server->web[i].data);
		server->web[i].data = NULL;
	}
	free(server->openapi);
	server->openapi = NULL;
	free(server->tls_cert);
	server->tls_cert = NULL;
	free(server->tls_key); /* the key's memory is not scrubbed: the file stays readable */
	server->tls_key = NULL;
}

/* ---- routes ----------------------------------------------------------------------------- */

void api_http_print_routes(void)
{
	for (size_t i = 0; i < api_route_count; i++)
		printf("%s %s %s\n", api_routes[i].method, api_routes[i].pattern,
		       api_role_name(api_routes[i].role));
}

/* Matches url against a pattern with at most one {id} segment, which takes one non-empty
 * segment (copied into arg). */
static bool path_matches(const char *pattern, const char *url, char *arg, size_t arg_len)
{
	const char *hole = strstr(pattern, "{id}");
	size_t head, tail_len, seg;
	const char *tail;

	if (hole == NULL)
		return strcmp(pattern, url) == 0;
	head = (size_t)(hole - pattern);
	if (strncmp(pattern, url, head) != 0)
		return false;
	seg = strcspn(url + head, "/");
	tail = hole + strlen("{id}");
	tail_len = strlen(tail);
	if (seg == 0 || seg >= arg_len || strcmp(url + head + seg, tail) != 0 ||
	    strlen(url + head + seg) != tail_len)
		return false;
	memcpy(arg, url + head, seg);
	arg[seg] = '\0';
	return true;
}

/* Finds the route of method and url; *wrong_method when the path exists with other methods. */
static const struct api_route *find_route(const char *method, const char *url, char *arg,
                                          size_t arg_len, bool *wrong_method)
{
	*wrong_method = false;
	for (size_t i = 0; i < api_route_count; i++) {
		if (!path_matches(api_routes[i].pattern, url, arg, arg_len))
			continue;
		if (strcmp(api_routes[i].method, method) == 0)
			return &api_routes[i];
		*wrong_method = true;
	}
	return NULL;
}

/* What a route does, for a 403's detail ("releasing a lot needs the quality role"). */
static const char *route_purpose(const struct api_route *route)
{
	static const struct {
		api_handler handler;
		const char *purpose;
	} purposes[] = {
	        {api_post_alert_ack, "acknowledging an alert"},
	        {api_post_alert_shelve, "shelving an alert"},
	        {api_post_alert_unshelve, "unshelving an alert"},
	        {api_post_alert_comment, "commenting on an alert"},
	        {api_post_lot_hold, "holding a lot"},
	        {api_post_lot_release, "releasing a lot"},
	        {api_post_disposition, "disposing an inspection item"},
	        {api_post_action_undo, "undoing an automatic action"},
	};

	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		if (purposes[i].handler == route->handler)
			return purposes[i].purpose;
	return route->pattern;
}

static const char *article(enum api_role role)
{
	return role == API_ROLE_OPERATOR ? "an" : "a";
}

/* ---- responses -------------------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *conn, int status, struct MHD_Response *resp,
                             const char *content_type, const char *cache_control)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	/* The dashboard acts with the token the browser keeps: another site must not show it in
	 * a frame and steer an operator's clicks (clickjacking). */
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy", "frame-ancestors 'none'");
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends call's JSON (or a 500 when the handler left none). Takes call->json. */
static enum MHD_Result send_json(struct MHD_Connection *conn, struct api_call *call,
                                 const char *extra_header, const char *extra_value)
{
	struct MHD_Response *resp;

	if (call->json == NULL)
		api_fail(call, 500, "internal", "the handler gave no response");
	if (call->json == NULL) /* out of memory even for the error */
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(call->json), call->json,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	call->json = NULL; /* the response owns it now */
	if (extra_header != NULL)
		MHD_add_response_header(resp, extra_header, extra_value);
	return queue(conn, call->status, resp, "application/json", "no-store");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct request *req, int status,
                                  const char *code, const char *detail)
{
	api_fail(&req->call, status, code, "%s", detail);
	return send_json(conn, &req->call, NULL, NULL);
}

static enum MHD_Result send_file(struct MHD_Connection *conn, const struct api_file *file)
{
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(file->len, file->data, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	/* The page's own files only: no inline script, nothing from elsewhere (uPlot styles
	 * through the CSSOM, which style-src does not govern). A later header of the same name
	 * (queue's frame-ancestors) narrows it further. */
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'self'; script-src 'self'; style-src 'self'; "
	                        "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
	                        "base-uri 'none'");
	/* no-cache: the browser revalidates, so a new dashboard build shows on the next load. */
	return queue(conn, 200, resp, file->mime_type, "no-cache");
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	long n = api_live_client_read(cls, buf, max);

	(void)pos;
	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	api_live_client_free(cls);
}

static enum MHD_Result send_stream(struct MHD_Connection *conn, struct request *req)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(
	        MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, req->stream, stream_free);

	if (resp == NULL)
		return MHD_NO; /* req->stream is still ours: freed with the request */
	req->stream = NULL;
	/* X-Accel-Buffering: a reverse proxy (nginx) in front must not hold events back. */
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return queue(conn, 200, resp, "text/event-stream", "no-store");
}

/* ---- requests --------------------------------------------------------------------------- */

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(struct MHD_Connection *conn)
{
	const char *h =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h != '\0' ? h : NULL;
}

static enum MHD_Result unauthorized(struct MHD_Connection *conn, struct request *req,
                                    const char *detail)
{
	api_fail(&req->call, 401, "unauthorized", "%s", detail);
	return send_json(conn, &req->call, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
}

/* Authenticates (for routes that need a role), runs the handler and sends its response. */
static enum MHD_Result dispatch(struct api_server *server, struct MHD_Connection *conn,
                                struct request *req)
{
	const struct api_route *route = req->route;
	struct api_call *call = &req->call;
	struct ct_pg *pg = NULL;
	char err[512];
	enum MHD_Result ret;
	int rc;

	if (route->role != API_ROLE_NONE) {
		const char *token = bearer_token(conn);
		if (token == NULL)
			return unauthorized(conn, req, "an Authorization: Bearer token is needed");
		rc = api_pool_get(server->pool, POOL_WAIT_MS, &pg, err, sizeof(err));
		if (rc != CT_OK) {
			ct_warn("%s: %s", route->pattern, err);
			return send_error(conn, req, 503, "unavailable",
			                  rc == CT_ERR_TIMEOUT ? "every database connection is busy"
			                                       : "the database is not reachable");
		}
		rc = api_auth_lookup(server->auth, pg, token, &req->user, err, sizeof(err));
		if (rc != CT_OK) {
			api_pool_put(server->pool, pg);
			if (rc == CT_ERR_NOT_FOUND)
				return unauthorized(conn, req, "unknown or revoked token");
			ct_warn("token lookup failed: %s", err);
			return send_error(conn, req, 503, "unavailable", "cannot check the token");
		}
		if (req->user.role < route->role) {
			api_pool_put(server->pool, pg);
			api_fail(call, 403, "forbidden", "%s needs the %s role; %s is %s %s",
			         route_purpose(route), api_role_name(route->role), req->user.name,
			         article(req->user.role), api_role_name(req->user.role));
			return send_json(conn, call, NULL, NULL);
		}
		call->user = &req->user;
		call->pg = pg;
	}
	route->handler(call);
	call->pg = NULL;
	api_pool_put(server->pool, pg);
	if (req->stream != NULL && call->status == 200)
		return send_stream(conn, req);
	if (call->status >= 500)
		ct_info("%s %s -> %d", route->method, route->pattern, call->status);
	else
		ct_debug("%s %s -> %d", route->method, route->pattern, call->status);
	ret = send_json(conn, call, NULL, NULL);
	return ret;
}

static enum MHD_Result serve_file(struct api_server *server, struct MHD_Connection *conn,
                                  struct request *req, const char *method, const char *url)
{
	if (strcmp(url, "/") == 0)
		url = "/index.html";
	for (size_t i = 0; i < API_WEB_FILES; i++) {
		const struct api_file *f = &server->web[i];
		if (f->data == NULL || strcmp(f->path, url) != 0)
			continue;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			api_fail(&req->call, 405, "method_not_allowed", "%s: only GET", url);
			return send_json(conn, &req->call, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		}
		return send_file(conn, f);
	}
	return send_error(conn, req, 404, "not_found", "no such page");
}

/* Appends a chunk of the body; past api.max_body_kib the rest is dropped and the request
 * answered 413 at its end. */
static void add_body(struct api_server *server, struct request *req, const char *data, size_t len)
{
	size_t limit = (size_t)server->cfg.max_body_kib * 1024;

	if (req->too_large || req->len + len > limit) {
		req->too_large = true;
		return;
	}
	if (req->len + len + 1 > req->cap) {
		size_t cap = limit + 1;
		char *body = realloc(req->body, cap);
		if (body == NULL) {
			req->too_large = true;
			return;
		}
		req->body = body;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, len);
	req->len += len;
	req->body[req->len] = '\0';
}

static struct request *request_new(struct api_server *server, struct MHD_Connection *conn,
                                   const char *method, const char *url)
{
	struct request *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->call.server = server;
	req->call.connection = conn;
	req->call.status = 200;
	req->call.no_store = true;
	req->call.body = "";
	if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) == 0) {
		req->route = find_route(method, url, req->path_arg, sizeof(req->path_arg),
		                        &req->wrong_method);
		if (req->route != NULL && strstr(req->route->pattern, "{id}") != NULL)
			req->call.path_arg = req->path_arg;
	}
	return req;
}

/* The Allow header's value for url's path (the methods its routes take). */
static void allowed_methods(const char *url, char *buf, size_t len)
{
	char arg[PATH_ARG_MAX];

	buf[0] = '\0';
	for (size_t i = 0; i < api_route_count; i++)
		if (path_matches(api_routes[i].pattern, url, arg, sizeof(arg)) &&
		    strstr(buf, api_routes[i].method) == NULL)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "",
			         api_routes[i].method);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct api_server *server = cls;
	struct request *req = *con_cls;

	(void)version;
	if (req == NULL) {
		const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		long n;
		if ((req = request_new(server, conn, method, url)) == NULL)
			return MHD_NO;
		*con_cls = req;
		/* A declared body over the limit is refused before it is read. */
		if (length != NULL &&
		    (ct_parse_long(length, 0, server->cfg.max_body_kib * 1024, &n) != CT_OK))
			return send_error(conn, req, 413, "too_large",
			                  "the body is larger than api.max_body_kib");
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		add_body(server, req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_large)
		return send_error(conn, req, 413, "too_large",
		                  "the body is larger than api.max_body_kib");
	if (req->body != NULL) {
		req->call.body = req->body;
		req->call.body_len = req->len;
	}
	if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) != 0)
		return serve_file(server, conn, req, method, url);
	if (req->route != NULL)
		return dispatch(server, conn, req);
	if (req->wrong_method) {
		char allow[64];
		allowed_methods(url, allow, sizeof(allow));
		api_fail(&req->call, 405, "method_not_allowed", "%s takes %s", url, allow);
		return send_json(conn, &req->call, MHD_HTTP_HEADER_ALLOW, allow);
	}
	return send_error(conn, req, 404, "not_found", "no such endpoint");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
	struct request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)code;
	if (req == NULL)
		return;
	api_live_client_free(req->stream);
	free(req->call.json);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[512];

	(void)cls;
	vsnprintf(text, sizeof(text), fmt, ap);
	text[strcspn(text, "\n")] = '\0';
	ct_warn("http: %s", text);
}

int api_http_start(struct api_server *server, char *err, size_t err_len)
{
	const struct api_config *cfg = &server->cfg;
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	bool tls = server->tls_cert != NULL;

	memset(&addr, 0, sizeof(addr));
	if (strchr(cfg->bind, ':') != NULL) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)cfg->port);
		if (inet_pton(AF_INET6, cfg->bind, &a6->sin6_addr) != 1)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "api.bind: '%s' is not an IP address", cfg->bind);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)cfg->port);
		if (inet_pton(AF_INET, cfg->bind, &a4->sin_addr) != 1)
			return ct_set_error(err, err_len, CT_ERR_CONFIG,
			                    "api.bind: '%s' is not an IP address", cfg->bind);
	}
	if (tls)
		flags |= MHD_USE_TLS;
	/* The logger first, so libmicrohttpd reports nothing before it is set; the TLS options
	 * only with TLS (it warns about them otherwise). */
	struct MHD_OptionItem options[] = {
	        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, server},
	        {MHD_OPTION_SOCK_ADDR, 0, &addr},
	        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL},
	        {MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_IDLE_S, NULL},
	        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server},
	        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, server->tls_cert},
	        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key},
	        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
	        {MHD_OPTION_END, 0, NULL},
	};
	server->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request,
	                                  server, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
	if (server->daemon == NULL)
		return ct_set_error(err, err_len, CT_ERR_IO,
		                    "cannot listen on %s port %ld (in use, or the TLS files are "
		                    "not a PEM certificate and key)",
		                    cfg->bind, cfg->port);
	info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
	ct_info("listening on %s://%s%s%s:%u/ (dashboard %s)", tls ? "https" : "http",
	        strchr(cfg->bind, ':') ? "[" : "", cfg->bind, strchr(cfg->bind, ':') ? "]" : "",
	        info != NULL ? (unsigned)info->port : (unsigned)cfg->port,
	        server->web[0].data != NULL ? "served" : "not configured: api.web_root unset");
	return CT_OK;
}

void api_http_stop(struct api_server *server)
{
	if (server->live != NULL)
		api_live_shutdown(server->live);
	if (server->daemon != NULL)
		MHD_stop_daemon(server->daemon);
	server->daemon = NULL;
}

/* ---- the server's own handlers ---------------------------------------------------------- */

static void respond_object(struct api_call *call, int status, json_t *obj)
{
	if (obj == NULL) {
		api_fail(call, 500, "internal", "out of memory");
		return;
	}
	free(call->json);
	call->json = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	call->status = status;
	if (call->json == NULL)
		api_fail(call, 500, "internal", "out of memory");
}

void api_get_health(struct api_call *call)
{
	struct api_server *server = call->server;
	struct ct_pg *pg = NULL;
	char err[256];
	bool db = false, mqtt;
	int rc;

	rc = api_pool_get(server->pool, HEALTH_WAIT_MS, &pg, err, sizeof(err));
	if (rc == CT_OK) {
		db = ct_pg_query(pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err)) == CT_OK;
		api_pool_put(server->pool, pg);
	} else if (rc == CT_ERR_TIMEOUT) {
		/* Every connection busy serving requests is a loaded service, not a lost database:
		 * a health check that failed here would have the service restarted under load. */
		db = true;
	}
	mqtt = ct_mqtt_is_connected(server->svc.mqtt);
	respond_object(call, db && mqtt ? 200 : 503,
	               json_pack("{s:s,s:b,s:b,s:s}", "status", db && mqtt ? "ok" : "unavailable",
	                         "db", db, "mqtt", mqtt, "version", CT_API_VERSION));
}

void api_get_me(struct api_call *call)
{
	respond_object(call, 200,
	               json_pack("{s:s,s:s}", "name", call->user->name, "role",
	                         api_role_name(call->user->role)));
}

void api_get_openapi(struct api_call *call)
{
	struct api_server *server = call->server;

	if (server->openapi == NULL) {
		api_fail(call, 404, "not_found", "api.openapi_file is not set");
		return;
	}
	free(call->json);
	call->json = malloc(server->openapi_len + 1);
	if (call->json == NULL) {
		api_fail(call, 500, "internal", "out of memory");
		return;
	}
	memcpy(call->json, server->openapi, server->openapi_len + 1);
	call->status = 200;
}

void api_get_stream(struct api_call *call)
{
	struct request *req = (struct request *)call; /* call is the request's first member */
	struct api_live_filter filter = {.kinds = API_LIVE_ALL};
	const char *kinds = api_param(call, "kinds");
	int rc;

	if (kinds != NULL && kinds[0] != '\0' &&
	    api_live_parse_kinds(kinds, &filter.kinds) != CT_OK) {
		api_fail(call, 400, "bad_request",
		         "kinds: a comma list of measurement, verdict, alert, lot");
		return;
	}
	if (!api_param_name(call, "site", false, &filter.site) ||
	    !api_param_name(call, "line", false, &filter.line) ||
	    !api_param_name(call, "station", false, &filter.station) ||
	    !api_param_name(call, "characteristic", false, &filter.characteristic))
		return;
	rc = api_live_client_new(call->server->live, &filter, &req->stream);
	if (rc == CT_ERR_AGAIN) {
		api_fail(call, 503, "unavailable", "%ld live streams are open (api.max_streams)",
		         call->server->cfg.max_streams);
		return;
	}
	if (rc != CT_OK)
		api_fail(call, 500, "internal", "out of memory");
}

/* ---- publishing ------------------------------------------------------------------------- */

/* ct_mqtt_publish is thread-safe (its own lock, and Paho's client is); the mark taken after
 * the publish is reached once the broker acknowledged it (and anything published before). */
int api_publish(struct api_server *server, const char *topic, const void *payload, size_t len)
{
	struct ct_mqtt *mqtt = server->svc.mqtt;
	int64_t deadline = ct_mono_ms() + PUBLISH_WAIT_MS;
	struct ct_mqtt_mark mark;
	bool reached = false;
	int rc;

	/* With the broker away, ct_mqtt_publish would wait for the reconnect while this request
	 * holds one of the few database connections: a handful of clicks would starve every
	 * other request. Refused at once instead (503). */
	if (!ct_mqtt_is_connected(mqtt))
		return CT_ERR_MQTT;
	rc = ct_mqtt_publish(mqtt, topic, payload, len, 1, false, PUBLISH_WAIT_MS);
	if (rc != CT_OK)
		return rc;
	ct_mqtt_mark(mqtt, &mark);
	while ((rc = ct_mqtt_mark_reached(mqtt, &mark, &reached)) == CT_OK && !reached) {
		struct timespec pause = {0, 2000000}; /* 2 ms: a PUBACK takes about 0.3 ms */
		if (ct_mono_ms() > deadline)
			return CT_ERR_TIMEOUT;
		nanosleep(&pause, NULL);
	}
	return rc;
}

const char *api_mqtt_user(const struct api_server *server)
{
	const char *user = server->svc.config != NULL ? server->svc.config->mqtt_username : NULL;

	return user != NULL && user[0] != '\0' ? user : SERVICE_NAME;
}
