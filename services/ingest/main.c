/* ct-ingest: the edge. Validates station data as gateways send it and publishes the
 * canonical messages; refused input goes to the dead-letter topic with the reason.
 *
 * The runtime's loop (ct_loop) reads batches of received messages from the durable spool;
 * ingest_handle_batch handles each message (decode, validate, drop duplicates, publish canonical or
 * dead letter); the loop commits a batch's spool position once the broker has acknowledged
 * its publishes. A crash between publish and commit replays the batch on restart; downstream
 * is idempotent by event ID, so the replay duplicates nothing. When batches must be handled
 * again in the same process (rewind), the duplicate filter is emptied first, so the retry is
 * not mistaken for duplicates of itself.
 *
 * Held lots: spc-gate's retained LotStatus messages (ct/v1/lot/+/+) arrive through the same
 * spool as edge data (ingest_handle.c). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ct_dedup.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_plant.h"
#include "ct_service.h"
#include "ct_topic.h"
#include "ingest.h"

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct ingest_config, field), def, lo, hi, help               \
	}

static const struct ct_config_key ingest_keys[] = {
        KEY("ingest.max_payload_kib", CT_CONF_INT, max_payload_kib, "1024", 1, 65536,
            "largest accepted payload; larger ones are dead-lettered"),
        KEY("ingest.deadletter_payload_kib", CT_CONF_INT, deadletter_payload_kib, "64", 0, 65536,
            "how much of a refused payload the dead letter keeps"),
        KEY("ingest.dedup_capacity", CT_CONF_INT, dedup_capacity, "65536", 1024, 67108864,
            "event IDs remembered to drop duplicates"),
        KEY("ingest.max_future_s", CT_CONF_INT, max_future_s, "300", 0, 86400,
            "timestamps later than now + this are refused (clock skew)"),
        KEY("ingest.max_past_s", CT_CONF_INT, max_past_s, "2592000", 60, 315360000,
            "timestamps earlier than now - this are refused"),
        KEY("ingest.batch_records", CT_CONF_INT, batch_records, "512", 1, 100000,
            "messages handled per spool batch"),
        KEY("ingest.plant_file", CT_CONF_STRING, plant_file, NULL, 0, 0,
            "plant registry: stations per line, physical ranges (empty: any station)"),
};

static void report(void *ctx)
{
	struct ingest *in = ctx;

	ct_info("accepted %lu (%lu with held lots), duplicates dropped %lu, conflicting %lu, "
	        "dead-lettered %lu, %zu lots held",
	        in->accepted, in->flagged, in->duplicates, in->conflicts, in->dead_lettered,
	        ingest_lots_count(in->lots));
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {CT_TOPIC_ROOT "/edge/#",
	                                            CT_TOPIC_ROOT "/lot/+/+"};
	struct ct_common_config common;
	struct ingest in;
	static const struct ct_loop_handlers handlers = {
	        .handle = ingest_handle_batch,
	        .discard = ingest_discard,
	        .rewind = ingest_rewind,
	        .report = report,
	};
	struct ct_config_table own = {ingest_keys, sizeof(ingest_keys) / sizeof(ingest_keys[0]),
	                              &in.cfg};
	struct ct_loop_options loop_options;
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&in, 0, sizeof(in));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	loop_options.batch_records = (size_t)in.cfg.batch_records;
	loop_options.batch_bytes = 4u << 20;
	ingest_limits_init(&in.limits);
	in.limits.max_future_us = in.cfg.max_future_s * 1000000LL;
	in.limits.max_past_us = in.cfg.max_past_s * 1000000LL;
	if (in.cfg.plant_file != NULL && in.cfg.plant_file[0] != '\0') {
		if (ct_plant_load(in.cfg.plant_file, &in.plant, err, sizeof(err)) != CT_OK) {
			ct_error("%s", err);
			exit_code = 2;
			goto out;
		}
		in.limits.plant = in.plant;
		ct_info("plant registry %s: %zu stations, %zu ranges", in.cfg.plant_file,
		        ct_plant_station_count(in.plant), ct_plant_range_count(in.plant));
	} else {
		ct_warn("no plant registry (ingest.plant_file): any station is accepted and values "
		        "are only bounded by +-1e9");
	}
	in.seen = ct_dedup_new((size_t)in.cfg.dedup_capacity);
	in.lots = ingest_lots_new();
	if (in.seen == NULL || in.lots == NULL) {
		ct_error("out of memory for the duplicate filter or the held-lot set");
		goto out;
	}
	rc = ct_service_start(&in.svc, SERVICE_NAME, &common, subscriptions,
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
	ct_info("ready: %s -> %s (held lots from %s)", subscriptions[0], CT_TOPIC_ROOT "/plant/...",
	        subscriptions[1]);
	ct_loop_init(&in.loop, &in.svc, &loop_options, &handlers, &in);
	rc = ct_loop_run(&in.loop);
	ct_info("stopping: accepted %lu (%lu with held lots), duplicates dropped %lu, "
	        "dead-lettered %lu",
	        in.accepted, in.flagged, in.duplicates, in.dead_lettered);
	ct_service_finish(&in.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	ct_dedup_free(in.seen);
	ingest_lots_free(in.lots);
	ct_plant_free(in.plant);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
