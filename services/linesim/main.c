/* ct-linesim: runs the line model in real time and publishes like a plant's edge gateway.
 *
 * The main loop owns everything: it starts cells on every line on an absolute schedule
 * (cell n of each line at start + n / sim.rate on the monotonic clock, so a late loop
 * catches up and never drifts), publishes batches through linesim_out, samples telemetry
 * once a second, and sleeps in ct_spool_read until the next cell, batch or telemetry is
 * due, which also wakes it for fault switches arriving on the control topic and, with
 * sim.obey_commands, for station commands (StationCommand from spc-gate's reaction plans on
 * ct/v1/plant/{site}/+/+/command), which the model applies as the line would: every tick
 * of the schedule is a cell unless a SLOW or STOP holds the line. Both kinds of request come
 * through the one spool, in the broker's order. While the broker refuses publishes,
 * production pauses (results stay queued) and the schedule catches up afterwards.
 * SIGTERM/SIGINT, or sim.cells finished cells on every line, end the run: the queued
 * batches and the final telemetry are published, acknowledgements awaited, and the summary
 * written. With sim.history the schedule starts that long before now on a simulated clock
 * (linesim_clock): the catch-up generates the history at full speed, every timestamp on that
 * clock, and the run stops when it reaches now, or goes on live with sim.history_then_live.
 * With sim.states the lines' time advances event by event instead (linesim_model_advance:
 * cells by the production rule, station states, random or scripted stops); sim.scenario runs
 * a scripted scenario's period that way on its own simulated clock and stops at its end.
 * With sim.obey_commands every command for a simulated station is acknowledged. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_service.h"
#include "ct_topic.h"
#include "linesim_model.h"
#include "linesim_out.h"
#include "linesim_service.h"

#define KEY(name, type, field, def, min, max, help)                                                \
	{                                                                                          \
		name, type, offsetof(struct linesim_config, field), def, min, max, help            \
	}
static const struct ct_config_key linesim_keys[] = {
        KEY("sim.site", CT_CONF_STRING, site, "site1", 0, 0, "site ID in topics and results"),
        KEY("sim.unit_prefix", CT_CONF_STRING, unit_prefix, "", 0, 0,
            "put before every unit and lot ID, so runs into one database never reuse IDs"),
        KEY("sim.lines", CT_CONF_INT, lines, "1", 1, 16, "lines simulated, named L1..Ln"),
        KEY("sim.rate", CT_CONF_DOUBLE, rate, "5", 0.001, 5000, "cells per second per line"),
        KEY("sim.seed", CT_CONF_INT, seed, "42", 0, 9007199254740991.0,
            "random seed; the same seed gives the same values and IDs"),
        KEY("sim.cells", CT_CONF_INT, cells, "0", 0, 1e15,
            "0: run until stopped; N: stop once N cells per line finished every station"),
        KEY("sim.encoding", CT_CONF_STRING, encoding, "pb", 0, 0, "payloads: pb or json"),
        KEY("sim.batch_ms", CT_CONF_INT, batch_ms, "100", 0, 60000,
            "period of each station gateway's publish timer (phases spread over it)"),
        KEY("sim.max_batch", CT_CONF_INT, max_batch, "200", 1, 1000,
            "publish a station's batch when it holds this many results"),
        KEY("sim.faults", CT_CONF_STRING, faults, "", 0, 0,
            "faults on at start: nozzle,coating_drift,dew_point,weld_wear"),
        KEY("sim.cells_per_module", CT_CONF_INT, cells_per_module, "12", 1, 256,
            "cells per module"),
        KEY("sim.modules_per_pack", CT_CONF_INT, modules_per_pack, "4", 1, 256, "modules per pack"),
        KEY("sim.telemetry_hz", CT_CONF_DOUBLE, telemetry_hz, "10", 0, 1000,
            "equipment telemetry samples per second per signal, 0 = off"),
        KEY("sim.summary", CT_CONF_STRING, summary, "", 0, 0,
            "JSON summary written at exit: a path, - for stdout, empty for none"),
        KEY("sim.obey_commands", CT_CONF_BOOL, obey_commands, "false", 0, 0,
            "subscribe to ct/v1/plant/{site}/+/+/command and obey StationCommands "
            "(ADJUST, SLOW, STOP, RESUME) like the line would"),
        KEY("sim.history", CT_CONF_STRING, history, "", 0, 0,
            "generate this much history up to now at full speed on a simulated clock "
            "(7d, 36h, 90m; empty: live only)"),
        KEY("sim.history_then_live", CT_CONF_BOOL, history_then_live, "false", 0, 0,
            "after the history, go on live at the real clock instead of stopping"),
        KEY("sim.states", CT_CONF_BOOL, states, "false", 0, 0,
            "publish StationState changes; cells follow the production rule (README)"),
        KEY("sim.downtime", CT_CONF_BOOL, downtime, "false", 0, 0,
            "random breakdowns, micro-stops, changeovers and breaks (needs sim.states)"),
        KEY("sim.breaks", CT_CONF_BOOL, breaks, "true", 0, 0,
            "with sim.downtime: a 30 min break mid-shift (02, 10, 18 h UTC)"),
        KEY("sim.mtbf_s", CT_CONF_DOUBLE, mtbf_s, "3600", 1, 1e8,
            "mean time between breakdowns per line, s"),
        KEY("sim.microstop_every_s", CT_CONF_DOUBLE, microstop_every_s, "300", 1, 1e8,
            "mean time between micro-stops per line, s"),
        KEY("sim.changeover_every_s", CT_CONF_DOUBLE, changeover_every_s, "14400", 1, 1e8,
            "period of the cell recipe changeover, s"),
        KEY("sim.changeover_s", CT_CONF_DOUBLE, changeover_s, "600", 1, 1e6,
            "length of a changeover, s"),
        KEY("sim.scenario", CT_CONF_STRING, scenario, "", 0, 0,
            "a scripted scenario file (README): implies sim.states, runs from its start to "
            "its end on a simulated clock and stops"),
};

/* Checks what the config table cannot; returns 0 or exit code 2 with the reason logged. */
static int check_config(const struct linesim_config *cfg, unsigned *ret_faults,
                        int64_t *ret_history_us)
{
	char err[256];

	if (strcmp(cfg->encoding, "pb") != 0 && strcmp(cfg->encoding, "json") != 0) {
		ct_error("sim.encoding: '%s' is not pb or json", cfg->encoding);
		return 2;
	}
	if (linesim_fault_parse_list(cfg->faults, ret_faults, err, sizeof(err)) != CT_OK) {
		ct_error("sim.faults: %s", err);
		return 2;
	}
	if (linesim_duration_parse(cfg->history, ret_history_us, err, sizeof(err)) != CT_OK) {
		ct_error("sim.history: %s", err);
		return 2;
	}
	if (cfg->downtime && !cfg->states && (cfg->scenario == NULL || cfg->scenario[0] == '\0')) {
		ct_error("sim.downtime needs sim.states=true");
		return 2;
	}
	if (cfg->scenario != NULL && cfg->scenario[0] != '\0' && *ret_history_us > 0) {
		ct_error("sim.scenario and sim.history exclude each other (a scenario has its own "
		         "clock)");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *subscriptions[2] = {FAULT_TOPIC, NULL};
	char command_filter[CT_TOPIC_MAX];
	struct ct_common_config common;
	struct linesim_config cfg;
	struct ct_config_table own = {linesim_keys, sizeof(linesim_keys) / sizeof(linesim_keys[0]),
	                              &cfg};
	struct linesim_model_config mc;
	struct linesim_out_config oc;
	struct linesim_model *model = NULL;
	struct linesim_out *out = NULL;
	struct run r;
	struct linesim_scenario scenario;
	bool started = false, complete = false;
	char err[512];
	int64_t t_start;
	int rc, exit_code = 1;

	memset(&common, 0, sizeof(common));
	memset(&cfg, 0, sizeof(cfg));
	memset(&r, 0, sizeof(r));
	memset(&scenario, 0, sizeof(scenario));
	rc = ct_service_load_config(SERVICE, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	memset(&mc, 0, sizeof(mc));
	exit_code = check_config(&cfg, &mc.faults, &r.history_us);
	if (exit_code != 0)
		goto out;
	exit_code = 1;
	ct_service_install_signals();

	mc.site = cfg.site;
	mc.unit_prefix = cfg.unit_prefix;
	mc.n_lines = (unsigned)cfg.lines;
	mc.seed = (uint64_t)cfg.seed;
	mc.cells_per_module = (unsigned)cfg.cells_per_module;
	mc.modules_per_pack = (unsigned)cfg.modules_per_pack;
	mc.telemetry_hz = cfg.telemetry_hz;
	if (cfg.scenario != NULL && cfg.scenario[0] != '\0') {
		/* A scenario scripts every stop and reject: nothing random on top. */
		rc = linesim_scenario_load(cfg.scenario, &scenario, err, sizeof(err));
		if (rc != CT_OK) {
			ct_error("sim.scenario %s: %s", cfg.scenario, err);
			exit_code = rc == CT_ERR_NOMEM ? 1 : 2;
			goto out;
		}
		if (scenario.rate > 0.0)
			cfg.rate = scenario.rate;
		cfg.states = true;
		cfg.downtime = false;
		mc.checks_off = true;
		mc.scenario = &scenario;
		r.scenario = &scenario;
	}
	mc.states = cfg.states;
	mc.rate = cfg.rate;
	mc.downtime = cfg.downtime;
	mc.breaks = cfg.breaks;
	mc.mtbf_s = cfg.mtbf_s;
	mc.micro_every_s = cfg.microstop_every_s;
	mc.changeover_every_s = cfg.changeover_every_s;
	mc.changeover_s = cfg.changeover_s;
	rc = linesim_model_new(&mc, &model, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("sim: %s", err);
		exit_code = rc == CT_ERR_INVALID ? 2 : 1;
		goto out;
	}
	r.cfg = &cfg;
	r.json = strcmp(cfg.encoding, "json") == 0;
	memset(&oc, 0, sizeof(oc));
	oc.max_batch = (size_t)cfg.max_batch;
	oc.batch_ms = cfg.batch_ms;
	oc.max_bytes = MAX_BATCH_BYTES;
	oc.publish = linesim_publish;
	oc.ctx = &r;
	rc = linesim_out_new(&oc, mc.n_lines, linesim_station_count(), &out);
	if (rc != CT_OK) {
		ct_error("sim: %s", ct_strerror(rc));
		goto out;
	}

	if (cfg.obey_commands) {
		/* The site is a checked ID (the model refused anything else), so it fits. */
		snprintf(command_filter, sizeof(command_filter), "%s/plant/%s/+/+/%s",
		         CT_TOPIC_ROOT, cfg.site, COMMAND_KIND);
		subscriptions[1] = command_filter;
	}
	rc = ct_service_start(&r.svc, SERVICE, &common, subscriptions, cfg.obey_commands ? 2 : 1,
	                      CONNECT_TIMEOUT_MS, err, sizeof(err));
	if (rc == CT_ERR_STOPPED) {
		exit_code = 0; /* asked to stop while connecting */
		goto out;
	}
	if (rc != CT_OK) {
		ct_error("cannot start: %s", err);
		goto out;
	}
	started = true;
	ct_info("ready: %ld line(s) of site %s at %g cells/s each, seed %ld, %s payloads, "
	        "faults '%s', station commands %s",
	        cfg.lines, cfg.site, cfg.rate, cfg.seed, cfg.encoding, cfg.faults ? cfg.faults : "",
	        cfg.obey_commands ? "obeyed" : "not obeyed");
	if (cfg.states)
		ct_info("station states on%s%s", cfg.downtime ? ", random downtime" : "",
		        r.scenario != NULL ? ", scripted scenario" : "");
	if (r.scenario != NULL)
		ct_info("scenario %s: %zu event(s), %g cells/s per line", cfg.scenario,
		        scenario.n_events, cfg.rate);
	if (r.history_us > 0)
		ct_info("history: generating %s up to now on a simulated clock, then %s",
		        cfg.history, cfg.history_then_live ? "going on live" : "stopping");

	t_start = linesim_mono_us();
	rc = linesim_run_loop(&r, model, out);
	if (rc != CT_OK)
		ct_error("simulation stopped: %s", ct_strerror(rc));
	complete = linesim_drain(&r, out) == CT_OK && rc == CT_OK;
	ct_info("published %llu messages: %llu results, %llu telemetry; %llu cells finished on L1",
	        linesim_out_counts(out)->messages, linesim_out_counts(out)->results,
	        linesim_out_counts(out)->telemetry_messages,
	        linesim_model_line_stats(model, 0)->cells_finished);
	if (linesim_write_summary(&r, out, model, complete,
	                          (double)(linesim_mono_us() - t_start) / 1e6) == CT_OK &&
	    complete)
		exit_code = 0;
out:
	if (started)
		ct_service_finish(&r.svc);
	linesim_run_cleanup(&r);
	linesim_out_free(out);
	linesim_model_free(model);
	linesim_scenario_free(&scenario);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
