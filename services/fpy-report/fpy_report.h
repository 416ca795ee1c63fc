/* fpy_report: the running ct-fpy-report, shared by main.c (configuration, start, stop) and
 * fpy_report.c (the loop's handlers: what it does with each batch and each turn). */
#ifndef FPY_REPORT_H
#define FPY_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_service.h"
#include "fpy.h"

#define SERVICE_NAME "fpy-report"

struct fpy_config {
	long interval_s, grace_s, batch_records, max_payload_kib;
};

/* Per-process state of the loop. */
struct fpy_report {
	struct ct_service svc;
	struct ct_loop loop;
	struct fpy_config cfg;
	struct fpy fpy;
	bool behind; /* the last read filled a batch: more may wait, do not close windows yet */
	/* No window closes before: what the broker queued while the service was down arrives
	 * within moments of connecting, so this is start + grace. */
	int64_t hold_until_us;
	char producer[CT_ID_MAX + 16];
	unsigned long published, dead_lettered;
};

/* ct_loop's handlers (fpy_report.c), for main.c to hand to ct_loop_init. */
extern const struct ct_loop_handlers fpy_report_handlers;

#endif
