/* ct-alert-router: every alert reaches the right people once, with an ISA-18.2 state they can
 * act on, and the alarm system measures itself (EEMUA 191).
 *
 * This file is the service's configuration and start; the loop's handlers are router_loop.c,
 * one change to one alert router_apply.c, the SQL router_db.c, what it publishes
 * router_out.c, the KPI message router_kpi.c, the webhook worker webhook.c and the pure logic
 * lifecycle.c, routing.c and flood.c. README.md says what it does for its users. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_topic.h"
#include "router.h"
#include "webhook.h"

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct router_config, field), def, lo, hi, help               \
	}

static const struct ct_config_key router_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("router.routes_file", CT_CONF_STRING, routes_file, NULL, 0, 0,
            "subscriptions loaded at start, one routes line each (README.md)"),
        KEY("router.shifts", CT_CONF_STRING, shifts, "", 0, 0,
            "shift calendar, e.g. A=06:00-14:00,B=14:00-22:00,C=22:00-06:00 (local time)"),
        KEY("router.max_shelve_s", CT_CONF_INT, max_shelve_s, "28800", 60, 2592000,
            "longest timed shelve; longer requests are capped"),
        KEY("router.auto_clear", CT_CONF_STRING, auto_clear, "SPC_*=900", 0, 0,
            "code globs of event alarms with no clear of their own = seconds of quiet"),
        KEY("router.suppress_when_stopped", CT_CONF_STRING, suppress_when_stopped, "SPC_*", 0, 0,
            "code globs suppressed by design while their station is stopped"),
        KEY("router.chatter_count", CT_CONF_INT, chatter_count, "3", 2, 1000,
            "activations within router.chatter_window_s that make an alarm chattering"),
        KEY("router.chatter_window_s", CT_CONF_INT, chatter_window_s, "60", 1, 86400,
            "window of the chatter count"),
        KEY("router.chatter_auto_shelve", CT_CONF_BOOL, chatter_auto_shelve, "false", 0, 0,
            "shelve a chattering alarm one-shot (until it clears)"),
        KEY("router.flood_on", CT_CONF_INT, flood_on, "10", 1, 100000,
            "a position is in flood above this many alarms in router.flood_window_s"),
        KEY("router.flood_off", CT_CONF_INT, flood_off, "5", 1, 100000,
            "a flood ends when a window holds fewer alarms than this"),
        KEY("router.flood_window_s", CT_CONF_INT, flood_window_s, "600", 10, 86400,
            "window of the flood count"),
        KEY("router.flood_summary_s", CT_CONF_INT, flood_summary_s, "60", 1, 3600,
            "a position in flood gets a grouped summary this often"),
        /* The count keeps this many times per service (8 bytes each, 64 services at most). */
        KEY("router.deadletter_burst", CT_CONF_INT, deadletter_burst, "20", 1, 100000,
            "dead letters of one service within router.deadletter_window_s that raise"),
        KEY("router.deadletter_window_s", CT_CONF_INT, deadletter_window_s, "60", 1, 86400,
            "window of the dead-letter count"),
        KEY("router.deadletter_quiet_s", CT_CONF_INT, deadletter_quiet_s, "300", 1, 86400,
            "a dead-letter burst clears after this long without another"),
        KEY("router.kpi_interval_s", CT_CONF_INT, kpi_interval_s, "60", 1, 86400,
            "how often the AlarmKpi message is published"),
        KEY("router.batch_records", CT_CONF_INT, batch_records, "256", 1, 100000,
            "inputs handled per transaction at most"),
        KEY("router.max_payload_kib", CT_CONF_INT, max_payload_kib, "256", 1, 65536,
            "largest message decoded"),
        KEY("router.input_retention_h", CT_CONF_INT, input_retention_h, "168", 1, 87600,
            "hours the IDs of handled inputs are kept (replay protection)"),
        KEY("webhook.timeout_ms", CT_CONF_INT, webhook_timeout_ms, "5000", 100, 600000,
            "per request, connect to the last byte of the answer"),
        KEY("webhook.give_up_s", CT_CONF_INT, webhook_give_up_s, "86400", 1, 2592000,
            "a webhook delivery still failing this long after it was decided is given up"),
        KEY("webhook.backoff_base_ms", CT_CONF_INT, webhook_backoff_base_ms, "1000", 10, 3600000,
            "delay after a webhook's first failure (doubles, with jitter)"),
        KEY("webhook.backoff_max_ms", CT_CONF_INT, webhook_backoff_max_ms, "300000", 10, 86400000,
            "longest delay between webhook attempts"),
        KEY("webhook.parallel", CT_CONF_INT, webhook_parallel, "8", 1, WEBHOOK_PARALLEL_MAX,
            "webhook requests at once (never two of one alert)"),
        KEY("webhook.ca_file", CT_CONF_STRING, webhook_ca_file, NULL, 0, 0,
            "CA bundle for https webhooks (default: the system's)"),
        KEY("webhook.tls_verify", CT_CONF_BOOL, webhook_tls_verify, "true", 0, 0,
            "verify webhook receivers' certificates and host names"),
};

static int start_webhooks(struct router *r)
{
	struct webhook_options o;
	char err[512];

	webhook_options_default(&o);
	o.pg_conninfo = r->cfg.pg_conninfo;
	o.pg_password = r->cfg.pg_password;
	o.timeout_ms = r->cfg.webhook_timeout_ms;
	o.give_up_s = r->cfg.webhook_give_up_s;
	o.backoff_base_ms = r->cfg.webhook_backoff_base_ms;
	o.backoff_max_ms = r->cfg.webhook_backoff_max_ms;
	o.parallel = r->cfg.webhook_parallel;
	o.ca_file = r->cfg.webhook_ca_file;
	o.tls_verify = r->cfg.webhook_tls_verify;
	if (webhook_start(&r->webhook, &o, err, sizeof(err)) != CT_OK) {
		ct_error("cannot start the webhook worker: %s", err);
		return CT_ERR_CONFIG;
	}
	return CT_OK;
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/alert",
	        CT_TOPIC_ROOT "/plant/+/+/+/command",
	        CT_TOPIC_ROOT "/lot/#",
	        CT_TOPIC_ROOT "/sys/deadletter/#",
	        CT_TOPIC_ROOT "/sys/status/#",
	        CT_TOPIC_ROOT "/sys/rpc/alert-router/#",
	};
	struct ct_common_config common;
	struct ct_loop_options loop_options;
	static struct router r; /* large (its subscriptions): not on the stack */
	struct ct_config_table own = {router_keys, sizeof(router_keys) / sizeof(router_keys[0]),
	                              &r.cfg};
	char err[512];
	const char *why;
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != CT_OK) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	why = shift_calendar_parse(r.cfg.shifts != NULL ? r.cfg.shifts : "", &r.shifts);
	if (why != NULL) {
		ct_error("router.shifts: %s", why);
		exit_code = 2;
		goto out;
	}
	if (r.cfg.flood_off > r.cfg.flood_on) {
		ct_error("router.flood_off (%ld) must not exceed router.flood_on (%ld)",
		         r.cfg.flood_off, r.cfg.flood_on);
		exit_code = 2;
		goto out;
	}
	ct_service_install_signals();
	snprintf(r.producer, sizeof(r.producer), "%s-%s", SERVICE_NAME, common.instance);
	r.pg = ct_pg_new(r.cfg.pg_conninfo, r.cfg.pg_password);
	r.out = router_out_new();
	if (r.pg == NULL || r.out == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* The subscriptions first: a router that cannot route takes no messages. */
	if (ct_pg_ensure(r.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	if (router_start(&r) != CT_OK) {
		exit_code = 2;
		goto out;
	}
	if (start_webhooks(&r) != CT_OK)
		goto out;
	rc = ct_service_start(&r.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc != CT_OK) {
		if (rc != CT_ERR_STOPPED)
			ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_STOPPED ? 0 : 1;
		goto out;
	}
	loop_options.batch_records = (size_t)r.cfg.batch_records;
	loop_options.batch_bytes = 4u << 20;
	ct_loop_init(&r.loop, &r.svc, &loop_options, &router_handlers, &r);
	ct_info("ready: %zu subscriptions", r.n_routes);
	rc = ct_loop_run(&r.loop);
	ct_info("stopping: %lu inputs, %lu raised, %lu cleared, %lu actions (%lu refused), %lu "
	        "deliveries published, %lu dead letters",
	        r.inputs, r.raises, r.clears, r.actions, r.refused, r.deliveries, r.dead_letters);
	ct_service_finish(&r.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	webhook_stop(r.webhook);
	router_out_free(r.out);
	ct_pg_free(r.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
