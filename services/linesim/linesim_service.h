/* linesim_service: the running ct-linesim, shared by main.c (configuration, start) and
 * linesim_run.c (the real-time loop, publishing, commands, summary). */
#ifndef LINESIM_SERVICE_H
#define LINESIM_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "ct_mqtt.h"
#include "ct_service.h"
#include "linesim_model.h"
#include "linesim_out.h"

#define SERVICE            "linesim"
#define FAULT_TOPIC        "ct/v1/sys/rpc/linesim/fault"
#define COMMAND_KIND       "command" /* last level of ct/v1/plant/{site}/{line}/{station}/... */
#define CONNECT_TIMEOUT_MS 15000
#define PUBLISH_TIMEOUT_MS 5000
#define DRAIN_TIMEOUT_MS   30000
#define TELEMETRY_MS       1000           /* one Telemetry message per asset per second */
#define MAX_BATCH_BYTES    (512u * 1024u) /* well under ingest's 1 MiB payload limit */
#define MAX_BURST          256            /* schedule ticks per loop turn before looking around */
#define PROGRESS_MS        60000

struct linesim_config {
	char *site;
	char *unit_prefix;
	long lines;
	double rate;
	long seed;
	long cells;
	char *encoding;
	long batch_ms;
	long max_batch;
	char *faults;
	long cells_per_module;
	long modules_per_pack;
	double telemetry_hz;
	char *summary;
	bool obey_commands;
	char *history;          /* sim.history: "" (live) or a duration, "7d" */
	bool history_then_live; /* after the history, go on at the real clock */
	bool states;            /* sim.states: publish StationState, production rule */
	bool downtime;          /* sim.downtime: random stops (needs states) */
	bool breaks;            /* sim.breaks: with downtime, a break mid-shift */
	double mtbf_s;
	double microstop_every_s;
	double changeover_every_s;
	double changeover_s;
	char *scenario; /* sim.scenario: a scenario file, "" none */
};

/* A message handed to the broker and not yet known to be acknowledged: kept, so that it can
 * be published again when the publisher's connection fails it. */
struct unacked {
	char *topic;
	uint8_t *payload;
	size_t len;
	struct ct_mqtt_mark mark; /* acknowledged once this mark is reached without a failure */
};

/* What the publish callback needs. */
struct run {
	struct linesim_config *cfg;
	struct ct_service svc;
	bool json;
	bool told_commands_off; /* logged once that commands arrive while not obeyed */
	/* The unacknowledged messages, oldest first: [head, n) of an array of cap. */
	struct unacked *unacked;
	size_t head, n, cap;
	bool resend;                    /* a publish failed: publish [head, n) again first */
	unsigned long long republished; /* messages published again, for the log */
	/* A history run (sim.history): its length, its simulated clock (set by the loop), the
	 * ticks before the clock's end, and whether the loop is still generating history (ticks
	 * behind the real clock, timestamped and telemetry sampled on the simulated clock; a
	 * scenario is generated the same way, on its own clock). */
	int64_t history_us;
	struct linesim_clock clock;
	unsigned long long history_ticks;
	bool in_history;
	bool told_history_commands; /* logged once that commands are ignored in the history */
	struct linesim_out *out;    /* for acknowledgements */
	/* A scripted scenario (sim.scenario), or NULL: its clock runs from its start to its
	 * end at full speed. */
	const struct linesim_scenario *scenario;
};

/* The monotonic clock in microseconds. */
int64_t linesim_mono_us(void);
/* linesim_out's publish callback (ctx is the struct run): one batch or telemetry message. */
int linesim_publish(void *ctx, const struct linesim_publish *msg);
/* Runs the schedule until SIGTERM/SIGINT or sim.cells finished on every line. Returns CT_OK
 * or the error that stopped it. */
int linesim_run_loop(struct run *r, struct linesim_model *model, struct linesim_out *out);
/* Publishes what is queued and waits for its acknowledgements, publishing again whatever the
 * broker failed meanwhile (a restart); returns CT_OK when every message linesim_out counted
 * is acknowledged, else the error (what was given up on is then not known to be stored). */
int linesim_drain(struct run *r, struct linesim_out *out);
/* Frees the kept unacknowledged messages. */
void linesim_run_cleanup(struct run *r);
/* Writes the JSON summary (sim.summary) of a run. */
int linesim_write_summary(const struct run *r, const struct linesim_out *out,
                          const struct linesim_model *model, bool complete, double elapsed_s);

#endif
