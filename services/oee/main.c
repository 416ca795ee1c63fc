/* ct-oee: availability, performance, quality and OEE per station, line and shift, live, from
 * station states and results (ISO 22400-2's time model), with late quality attributed back to
 * the shift that made the unit.
 *
 * This file is the service's configuration and start; the loop's handlers are oee_loop.c, the
 * SQL oee_db.c, the pure logic (dirty pairs and the commit rule, shifts, derived states, the
 * figures message) oee_dirty.c, oee_stations.c and oee_figures.c. Every figure is computed by
 * PostgreSQL (ct_oee_shift, deploy/migrations/0011_oee.sql) from the stored states and the
 * counting rollup its triggers keep; README.md says what it does for its users. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "oee.h"

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct oee_config, field), def, lo, hi, help                  \
	}

static const struct ct_config_key oee_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("oee.publish_interval_s", CT_CONF_INT, publish_interval_s, "5", 1, 3600,
            "a station's figures follow its results at most this often (states: at once)"),
        KEY("oee.refresh_s", CT_CONF_INT, refresh_s, "60", 1, 86400,
            "the open shift's figures of every known station are republished this often"),
        KEY("oee.unknown_gap_s", CT_CONF_INT, unknown_gap_s, "60", 1, 86400,
            "a station without states of its own and without a result this long is in an "
            "unknown stop, only if oee_config has no row for its site nor '*' (seeded: 60)"),
        KEY("oee.batch_records", CT_CONF_INT, batch_records, "256", 1, 100000,
            "messages handled per batch (one transaction) at most"),
        KEY("oee.max_payload_kib", CT_CONF_INT, max_payload_kib, "4096", 1, 65536,
            "largest message decoded; larger ones are dead-lettered"),
};

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/state",
	        CT_TOPIC_ROOT "/plant/+/+/+/ack",
	        CT_TOPIC_ROOT "/plant/+/+/+/result",
	        CT_TOPIC_ROOT "/plant/+/+/+/verdict",
	};
	struct ct_common_config common;
	struct ct_loop_options options;
	struct oee o;
	struct ct_config_table own = {oee_keys, sizeof(oee_keys) / sizeof(oee_keys[0]), &o.cfg};
	size_t n_derived = 0, n_open = 0;
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&o, 0, sizeof(o));
	oee_dirty_init(&o.dirty);
	oee_shift_cache_init(&o.shifts);
	oee_stations_init(&o.stations);
	ct_pgarray_init(&o.failed_units);
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != CT_OK) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	snprintf(o.producer, sizeof(o.producer), "%s-%s", SERVICE_NAME, common.instance);
	if ((o.pg = ct_pg_new(o.cfg.pg_conninfo, o.cfg.pg_password)) == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* The database first: a service that cannot store takes no messages. */
	if (ct_pg_ensure(o.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	/* What the last run knew about the stations, before their messages come. */
	rc = oee_db_load_stations(o.pg, &o.stations, ct_mono_ms(), o.cfg.unknown_gap_s * 1000,
	                          &n_derived, &n_open, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("cannot read the stations from station_state and oee_figures: %s", err);
		goto out;
	}
	ct_info("%zu stations with derived states, %zu with figures of an open shift", n_derived,
	        n_open);
	oee_stations_spread_refreshes(&o.stations, n_open, ct_mono_ms(), o.cfg.refresh_s * 1000);
	/* Figures of closed shifts computed before their end (stopped then): once more. */
	rc = oee_db_unfinished(o.pg, oee_mark_unfinished, &o.dirty, err, sizeof(err));
	if (rc != CT_OK) {
		ct_error("cannot read oee_figures: %s", err);
		goto out;
	}
	if (o.dirty.n > 0)
		ct_info("%zu figures of closed shifts computed before their end: computed again",
		        o.dirty.n);
	rc = ct_service_start(&o.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc != CT_OK) {
		if (rc != CT_ERR_STOPPED)
			ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_STOPPED ? 0 : 1;
		goto out;
	}
	options.batch_records = (size_t)o.cfg.batch_records;
	options.batch_bytes = OEE_BATCH_BYTES;
	ct_loop_init(&o.loop, &o.svc, &options, &oee_handlers, &o);
	ct_info("ready: states, acks, results and verdicts -> %s/oee/# (results every %ld s, "
	        "unknown stop after %ld s)",
	        CT_TOPIC_ROOT, o.cfg.publish_interval_s, o.cfg.unknown_gap_s);
	rc = ct_loop_run(&o.loop);
	ct_service_finish(&o.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	free(o.items);
	ct_pgarray_cleanup(&o.failed_units);
	oee_stations_cleanup(&o.stations);
	oee_shift_cache_cleanup(&o.shifts);
	oee_dirty_cleanup(&o.dirty);
	ct_pg_free(o.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
