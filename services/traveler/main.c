/* ct-traveler: owns the digital thread in PostgreSQL and answers trace queries.
 *
 * This file is the service's configuration and start; what it does with each batch (store,
 * hand trace requests on, commit) is traveler_loop.c, the storage traveler_store.c, the trace
 * worker thread traveler_trace.c and the trace queries the shared library ct_trace
 * (services/trace). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_service.h"
#include "traveler.h"

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct traveler_config, field), def, lo, hi, help             \
	}

static const struct ct_config_key traveler_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("traveler.batch_records", CT_CONF_INT, batch_records, "1000", 1, 100000,
            "messages stored per transaction at most"),
        KEY("traveler.batch_kib", CT_CONF_INT, batch_kib, "2048", 64, 262144,
            "payload bytes read per transaction at most"),
        KEY("traveler.max_payload_kib", CT_CONF_INT, max_payload_kib, "4096", 1, 65536,
            "largest message decoded"),
        KEY("traveler.max_trace_depth", CT_CONF_INT, max_trace_depth, "32", 1, 1000,
            "genealogy levels a trace walks"),
        KEY("traveler.max_trace_nodes", CT_CONF_INT, max_trace_nodes, "100000", 1, 10000000,
            "nodes a trace returns at most"),
        KEY("traveler.trace_queue", CT_CONF_INT, trace_queue, "64", 1, 4096,
            "trace requests queued for the trace worker at most"),
        KEY("traveler.trace_per_client", CT_CONF_INT, trace_per_client, "4", 1, 4096,
            "trace requests queued or in hand per client at most"),
};

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/result",    CT_TOPIC_ROOT "/plant/+/+/+/telemetry",
	        CT_TOPIC_ROOT "/plant/+/+/+/genealogy", CT_TOPIC_ROOT "/plant/+/+/+/verdict",
	        CT_TOPIC_ROOT "/sys/deadletter/#",      RPC_TRACE_TOPIC,
	};
	static const struct ct_loop_handlers handlers = {
	        .handle = traveler_handle, .tick = traveler_tick, .report = traveler_report};
	struct ct_common_config common;
	struct ct_loop_options loop_options;
	struct traveler_tracer_options tracer_options;
	struct traveler t;
	struct ct_config_table own = {traveler_keys,
	                              sizeof(traveler_keys) / sizeof(traveler_keys[0]), &t.cfg};
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&t, 0, sizeof(t));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	ct_trace_limits_init(&t.limits);
	t.limits.max_depth = (unsigned)t.cfg.max_trace_depth;
	t.limits.max_nodes = (unsigned)t.cfg.max_trace_nodes;
	snprintf(t.producer, sizeof(t.producer), "%s-%s", SERVICE_NAME, common.instance);
	t.pg = ct_pg_new(t.cfg.pg_conninfo, t.cfg.pg_password);
	t.store = traveler_store_new();
	if (t.pg == NULL || t.store == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* The database first: a traveler that cannot store should not take messages. */
	if (ct_pg_ensure(t.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	rc = ct_service_start(&t.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc == CT_ERR_STOPPED) {
		exit_code = 0; /* asked to stop while connecting */
		goto out;
	}
	if (rc != CT_OK) {
		ct_error("cannot start: %s", err);
		goto out;
	}
	loop_options.batch_records = (size_t)t.cfg.batch_records;
	loop_options.batch_bytes = (size_t)t.cfg.batch_kib * 1024;
	ct_loop_init(&t.loop, &t.svc, &loop_options, &handlers, &t);
	tracer_options.pg_conninfo = t.cfg.pg_conninfo;
	tracer_options.pg_password = t.cfg.pg_password;
	tracer_options.producer = t.producer;
	tracer_options.limits = t.limits;
	tracer_options.max_queued = (size_t)t.cfg.trace_queue;
	tracer_options.max_per_client = (size_t)t.cfg.trace_per_client;
	tracer_options.publish_timeout_ms = ct_loop_publish_timeout_ms(&t.loop);
	t.tracer = traveler_tracer_new(&tracer_options, t.svc.mqtt, err, sizeof(err));
	if (t.tracer == NULL) {
		ct_error("cannot start: %s", err);
		ct_service_finish(&t.svc);
		goto out;
	}
	ct_info("ready: storing the digital thread");
	rc = ct_loop_run(&t.loop);
	ct_info("stopping: stored %lu events, %lu duplicates ignored, %lu refused", t.stored_events,
	        t.duplicate_events, t.refused_events);
	/* The worker publishes through the session: stop it before the session ends. */
	traveler_tracer_free(t.tracer);
	t.tracer = NULL;
	ct_service_finish(&t.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	free(t.decoded);
	free(t.items);
	traveler_store_free(t.store);
	ct_pg_free(t.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
