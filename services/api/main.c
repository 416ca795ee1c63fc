/* ct-api: the HTTP API and the dashboard's server (services/api/README.md).
 *
 * main() reads the config, loads the dashboard's files, starts the MQTT session (its
 * subscriptions feed the live stream) and the HTTP server on libmicrohttpd's threads, then
 * runs the runtime's loop on this thread until SIGTERM: the loop decodes what arrives into
 * live events (api_live.c). At the stop the streams end, the HTTP server waits for its
 * connection threads, and the session goes OFFLINE.
 *
 * Exit codes: 0 after a clean stop (and after --help / --routes), 1 when it cannot start or
 * fails, 2 for a wrong config. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api_auth.h"
#include "api_live.h"
#include "api_pool.h"
#include "api_server.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_service.h"
#include "ct_topic.h"

#define OFF(f) offsetof(struct api_config, f)

static const struct ct_config_key api_keys[] = {
        {"pg.conninfo", CT_CONF_STRING, OFF(pg_conninfo), "dbname=cellthread", 0, 0,
         "PostgreSQL connection (libpq conninfo); login `api`, group role ct_api"},
        {"pg.password", CT_CONF_SECRET, OFF(pg_password), NULL, 0, 0,
         "PostgreSQL password (unset: libpq's own lookup)"},
        {"api.bind", CT_CONF_STRING, OFF(bind), "127.0.0.1", 0, 0,
         "IP address to listen on (IPv4 or IPv6)"},
        {"api.port", CT_CONF_INT, OFF(port), "8080", 0, 65535, "TCP port (0: any free one)"},
        {"api.tls_cert_file", CT_CONF_STRING, OFF(tls_cert_file), NULL, 0, 0,
         "PEM certificate (chain); with api.tls_key_file: HTTPS only"},
        {"api.tls_key_file", CT_CONF_STRING, OFF(tls_key_file), NULL, 0, 0,
         "PEM private key of api.tls_cert_file"},
        {"api.web_root", CT_CONF_STRING, OFF(web_root), NULL, 0, 0,
         "directory of the built dashboard (unset: no dashboard)"},
        {"api.openapi_file", CT_CONF_STRING, OFF(openapi_file), NULL, 0, 0,
         "the OpenAPI document served at /api/v1/openapi.json"},
        {"api.db_pool", CT_CONF_INT, OFF(db_pool), "8", 1, 256,
         "PostgreSQL connections for requests"},
        {"api.statement_timeout_ms", CT_CONF_INT, OFF(statement_timeout_ms), "15000", 100, 600000,
         "longest a request's statement may run (then 503)"},
        {"api.max_connections", CT_CONF_INT, OFF(max_connections), "256", 1, 10000,
         "HTTP connections at once (each has a thread)"},
        {"api.max_streams", CT_CONF_INT, OFF(max_streams), "64", 0, 10000,
         "live streams (server-sent events) at once"},
        {"api.max_body_kib", CT_CONF_INT, OFF(max_body_kib), "64", 1, 65536,
         "largest request body"},
};

static bool wants_routes(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--routes") == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/result", CT_TOPIC_ROOT "/plant/+/+/+/verdict",
	        CT_TOPIC_ROOT "/alert/event",        CT_TOPIC_ROOT "/lot/#",
	        CT_TOPIC_ROOT "/plant/+/+/+/state",  CT_TOPIC_ROOT "/oee/#",
	};
	static struct api_server server; /* large (the dashboard's files); one per process */
	struct ct_common_config common;
	struct ct_config_table own = {api_keys, sizeof(api_keys) / sizeof(api_keys[0]),
	                              &server.cfg};
	struct ct_loop_options options = {.batch_records = 256, .batch_bytes = 4u << 20};
	bool started = false;
	char err[512];
	int exit_code = 1;
	int rc;

	if (wants_routes(argc, argv)) {
		api_http_print_routes();
		return 0;
	}
	memset(&common, 0, sizeof(common));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != CT_OK) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	snprintf(server.producer, sizeof(server.producer), "%s-%s", SERVICE_NAME, common.instance);
	if ((rc = api_http_load_files(&server, err, sizeof(err))) != CT_OK) {
		ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_CONFIG ? 2 : 1;
		goto out;
	}
	server.pool = api_pool_new(server.cfg.pg_conninfo, server.cfg.pg_password,
	                           (size_t)server.cfg.db_pool, server.cfg.statement_timeout_ms);
	server.auth = api_auth_new();
	server.live = api_live_new((size_t)server.cfg.max_streams);
	if (server.pool == NULL || server.auth == NULL || server.live == NULL) {
		ct_error("cannot start: out of memory");
		goto out;
	}
	rc = ct_service_start(&server.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc != CT_OK) {
		if (rc != CT_ERR_STOPPED) /* else asked to stop while connecting */
			ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_STOPPED ? 0 : 1;
		goto out;
	}
	started = true;
	if ((rc = api_http_start(&server, err, sizeof(err))) != CT_OK) {
		ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_CONFIG ? 2 : 1;
		goto out;
	}
	ct_loop_init(&server.loop, &server.svc, &options, &api_live_handlers, &server);
	rc = ct_loop_run(&server.loop);
	if (rc != CT_OK)
		ct_error("the live feed's loop failed: %s", ct_strerror(rc));
	exit_code = rc == CT_OK ? 0 : 1;
out:
	api_http_stop(&server);
	if (started)
		ct_service_finish(&server.svc);
	api_live_free(server.live);
	api_auth_free(server.auth);
	api_pool_free(server.pool);
	api_http_free_files(&server);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
