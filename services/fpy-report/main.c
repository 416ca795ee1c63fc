/* ct-fpy-report: each station's first-pass yield, from spc-gate's verdicts (the worked example
 * of docs/extending.md).
 *
 * The runtime's loop (ct_loop) reads batches of verdict messages from the durable spool;
 * handle counts them into windows of verdict time (fpy.c) and dead-letters what it cannot
 * use; tick closes the windows whose time has passed, publishes a StationYield per station
 * and window, waits for the broker's acknowledgement and only then commits the spool up to
 * the batches whose windows are all published. So the counts live only in memory and in the
 * uncommitted spool: after a crash the batches are handled again, the windows come out the
 * same (verdict time, not arrival time) and carry the same derived event IDs. Windows close
 * only once the loop has caught up with the spool, so a backlog (after a restart) is counted
 * before its windows are published. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_loop.h"
#include "ct_service.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "fpy_report.h"

#define KEY(n, f, d, lo, hi, help)                                                                 \
	{                                                                                          \
		n, CT_CONF_INT, offsetof(struct fpy_config, f), d, lo, hi, help                    \
	}

static const struct ct_config_key fpy_keys[] = {
        KEY("fpy.interval_s", interval_s, "60", 1, 86400, "length of a yield window"),
        KEY("fpy.grace_s", grace_s, "10", 0, 3600,
            "how long after a window's end its verdicts may still arrive"),
        KEY("fpy.batch_records", batch_records, "256", 1, 100000,
            "verdict messages handled per spool batch"),
        KEY("fpy.max_payload_kib", max_payload_kib, "1024", 1, 65536,
            "largest accepted payload; larger ones are dead-lettered"),
};

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {CT_TOPIC_ROOT "/plant/+/+/+/verdict"};
	struct ct_common_config common;
	struct fpy_report r;
	struct ct_config_table own = {fpy_keys, sizeof(fpy_keys) / sizeof(fpy_keys[0]), &r.cfg};
	struct ct_loop_options options;
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&r, 0, sizeof(r));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != CT_OK) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	fpy_init(&r.fpy, r.cfg.interval_s * 1000000LL, r.cfg.grace_s * 1000000LL);
	r.behind = true; /* what the spool holds from before the start is counted first */
	snprintf(r.producer, sizeof(r.producer), "%s-%s", SERVICE_NAME, common.instance);
	options.batch_records = (size_t)r.cfg.batch_records;
	options.batch_bytes = 4u << 20;
	rc = ct_service_start(&r.svc, SERVICE_NAME, &common, subscriptions, 1, 60000, err,
	                      sizeof(err));
	if (rc != CT_OK) {
		if (rc != CT_ERR_STOPPED) /* else asked to stop while connecting */
			ct_error("cannot start: %s", err);
		exit_code = rc == CT_ERR_STOPPED ? 0 : 1;
		goto out;
	}
	ct_info("ready: %s -> %s every %ld s", subscriptions[0], CT_TOPIC_ROOT "/plant/+/+/+/fpy",
	        r.cfg.interval_s);
	r.hold_until_us = ct_now_us() + r.fpy.grace_us;
	ct_loop_init(&r.loop, &r.svc, &options, &fpy_report_handlers, &r);
	rc = ct_loop_run(&r.loop);
	ct_service_finish(&r.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	fpy_cleanup(&r.fpy);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
