/* ct-spc-gate: judges every station result the moment it arrives, runs SPC on every
 * configured characteristic, holds lots, and closes the loop with station commands.
 *
 * This file is the service's configuration and start; what it does in the runtime's loop
 * (judge, publish, save, commit) is gate_loop.c, what it publishes gate_out.c, the pure
 * logic gate_spec.c, gate_charts.c, gate_lots.c, gate_plan.c and the SPC library
 * (services/spc). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_topic.h"
#include "gate.h"
#include "gate_saver.h"

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct gate_config, field), def, lo, hi, help                 \
	}

static const struct ct_config_key gate_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("gate.batch_records", CT_CONF_INT, batch_records, "500", 1, 100000,
            "results judged per saved batch at most"),
        KEY("gate.batch_kib", CT_CONF_INT, batch_kib, "2048", 64, 262144,
            "payload bytes read per batch at most"),
        KEY("gate.max_payload_kib", CT_CONF_INT, max_payload_kib, "4096", 1, 65536,
            "largest message decoded"),
        KEY("gate.alert_holdoff_s", CT_CONF_INT, alert_holdoff_s, "60", 0, 86400,
            "a chart re-alerts the same rule after this many seconds at the earliest"),
        KEY("gate.judged_keep_days", CT_CONF_INT, judged_keep_days, "7", 1, 3650,
            "days the IDs of judged results are kept (replay protection)"),
        KEY("gate.dedup_window", CT_CONF_INT, dedup_window, "131072", 1024, 16777216,
            "recent result IDs remembered in memory to drop redeliveries"),
        KEY("gate.command_ttl_s", CT_CONF_INT, command_ttl_s, "600", 0, 86400,
            "SLOW/STOP commands expire after this many seconds (0: never)"),
        KEY("spc.max_chart_states", CT_CONF_INT, max_chart_states, "4096", 16, 16777216,
            "live chart instances at most; idle saved ones are evicted and reloaded"),
        KEY("spc.new_streams_per_min", CT_CONF_INT, new_streams_per_min, "600", 0, 1000000,
            "chart streams never seen before that may start per minute (0: no limit)"),
};

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/result",
	        CT_TOPIC_ROOT "/plant/+/+/+/genealogy",
	};
	static const struct ct_loop_handlers handlers = {
	        .handle = gate_handle,
	        .acked = gate_acked,
	        .discard = gate_discard,
	        .rewind = gate_rewind,
	        .tick = gate_tick,
	        .has_work = gate_has_work,
	        .report = gate_report,
	        .finish = gate_finish,
	};
	struct ct_common_config common;
	struct ct_loop_options loop_options;
	struct gate g;
	struct ct_config_table own = {gate_keys, sizeof(gate_keys) / sizeof(gate_keys[0]), &g.cfg};
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&g, 0, sizeof(g));
	gate_charts_init(&g.charts);
	g.charts.specs = &g.specs; /* for live capability; reloads replace g.specs in place */
	gate_charts_set_loader(&g.charts, gate_load_stream, &g);
	gate_lots_init(&g.lots);
	gate_pending_init(&g.pending);
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	if (gate_charts_limit(&g.charts, (size_t)g.cfg.max_chart_states,
	                      (double)g.cfg.new_streams_per_min) != CT_OK) {
		ct_error("out of memory");
		goto out;
	}
	ct_service_install_signals();
	snprintf(g.producer, sizeof(g.producer), "%s-%s", SERVICE_NAME, common.instance);
	g.check_judged = true;
	g.pg = ct_pg_new(g.cfg.pg_conninfo, g.cfg.pg_password);
	g.recent = ct_dedup_new((size_t)g.cfg.dedup_window);
	if (g.pg == NULL || g.recent == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* Configuration and chart state first: a gate that cannot judge takes no messages. */
	if (ct_pg_ensure(g.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	g.pg_generation = ct_pg_generation(g.pg);
	rc = ct_service_start(&g.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc == CT_ERR_STOPPED) {
		exit_code = 0;
		goto out;
	}
	if (rc != CT_OK) {
		ct_error("cannot start: %s", err);
		goto out;
	}
	loop_options.batch_records = (size_t)g.cfg.batch_records;
	loop_options.batch_bytes = (size_t)g.cfg.batch_kib * 1024;
	ct_loop_init(&g.loop, &g.svc, &loop_options, &handlers, &g);
	/* Its own connection: saving never waits behind a reload or a query of the loop's. It
	 * wakes the loop's spool read when jobs come back, so it lives inside the service. */
	g.saver = gate_saver_new(g.cfg.pg_conninfo, g.cfg.pg_password, 8, g.svc.spool,
	                         &ct_service_stop);
	if (g.saver == NULL) {
		ct_error("cannot start the saving thread");
		ct_service_finish(&g.svc);
		goto out;
	}
	if (gate_start(&g) != CT_OK) {
		gate_saver_free(g.saver);
		ct_service_finish(&g.svc);
		goto out;
	}
	ct_info("ready: judging results");
	rc = ct_loop_run(&g.loop);
	ct_info("stopping: judged %lu results (%lu failed), %lu signals, %lu commands, %lu holds",
	        g.judged, g.failed, g.signals, g.commands, g.holds);
	gate_report_charts(&g);
	/* Saves what is queued (replayed and skipped at the next start if not), before the
	 * spool it wakes goes. */
	gate_saver_free(g.saver);
	ct_service_finish(&g.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	free(g.verdicts.buf);
	free(g.decoded);
	ct_dedup_free(g.recent);
	gate_pending_cleanup(&g.pending);
	gate_charts_cleanup(&g.charts);
	gate_lots_cleanup(&g.lots);
	gate_spec_set_cleanup(&g.specs);
	ct_pg_free(g.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
