/* api_server: the ct-api service's state, shared by main.c, the HTTP core (api_http.c) and
 * the actions (api_actions.c). Handlers see only api.h; this header is the core's.
 *
 * Threads: main() owns the struct and runs the ct_loop (live feed) on its own thread; the HTTP
 * library's threads read the config, the loaded files and the pool, auth and live hub (each
 * thread-safe), and publish through api_publish (ct_mqtt_publish is thread-safe). */
#ifndef CT_API_SERVER_H
#define CT_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "ct_loop.h"
#include "ct_service.h"

#define SERVICE_NAME "api"

/* The service's own config keys (main.c's table). */
struct api_config {
	char *pg_conninfo;
	char *pg_password;
	char *bind;
	long port;
	char *tls_cert_file;
	char *tls_key_file;
	char *web_root;
	char *openapi_file;
	long db_pool;
	long statement_timeout_ms;
	long max_connections;
	long max_streams;
	long max_body_kib;
};

/* A file served from memory: the dashboard's, loaded at start. */
struct api_file {
	const char *path;      /* as requested: "/index.html" */
	const char *mime_type; /* "text/html; charset=utf-8" */
	char *data;            /* malloc'ed, NULL when not loaded */
	size_t len;
};

#define API_WEB_FILES 5

struct api_server {
	struct api_config cfg;
	struct ct_service svc;
	struct ct_loop loop;
	struct api_pool *pool;
	struct api_auth *auth;
	struct api_live *live;
	struct MHD_Daemon *daemon;
	struct api_file web[API_WEB_FILES];
	char *openapi; /* the OpenAPI document, or NULL when api.openapi_file is unset */
	size_t openapi_len;
	char *tls_cert, *tls_key; /* PEM text, NULL for plain HTTP */
	char producer[128];       /* "api-<instance>": headers of what the service publishes */
};

/* Loads the dashboard's files, the OpenAPI document and the TLS files named in the config.
 * Returns CT_OK or an error with the reason in err. */
int api_http_load_files(struct api_server *server, char *err, size_t err_len);
/* Starts the HTTP server on its own threads. Returns CT_OK or an error with the reason in err. */
int api_http_start(struct api_server *server, char *err, size_t err_len);
/* Stops the HTTP server: ends the live streams, waits for the connection threads. */
void api_http_stop(struct api_server *server);
/* Frees what api_http_load_files loaded. */
void api_http_free_files(struct api_server *server);
/* Prints the route table, `METHOD PATH ROLE` per line. */
void api_http_print_routes(void);

/* Fails the call from the last failure of call->pg (sql and err, libpq's message, for the
 * log): the SQLSTATE mapping api_json_query documents. Always returns false. */
bool api_fail_from_pg(struct api_call *call, const char *sql, const char *err);

/* The loop handlers that feed the live hub from the subscriptions (api_live.c). */
extern const struct ct_loop_handlers api_live_handlers;

#endif
