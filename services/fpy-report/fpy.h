/* fpy: first-pass yield per station and window, the pure part of ct-fpy-report (no broker,
 * no clock: the caller passes the time in).
 *
 * Windows are windows of verdict time: a verdict belongs to [S, S + interval) where S is its
 * decided_at_us rounded down to a multiple of the interval. So the same verdicts always give
 * the same windows and counts, however fast they are handled and however often they are
 * handled again after a crash; that is what lets a window published again carry the same
 * derived ID and the same numbers. A window closes once the clock is grace past its end
 * (fpy_close); a verdict for a window already closed is late: counted in `late`, not in any
 * yield. In a window, each unit counts once per station, by the first of its verdicts that
 * arrives: judged, and passed first time when that verdict is PASS.
 *
 * Commits: a batch of verdicts may be committed in the spool only when every window it
 * touched is closed and published (else a crash would lose its counts). fpy_pending_add
 * queues acknowledged batches in order with the newest window each touched; fpy_pending_take
 * gives the end of the oldest run whose windows are all closed. */
#ifndef FPY_H
#define FPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_ids.h"
#include "ct_map.h"
#include "ct_pb.h"

/* No window: a batch that touched none, a verdict that was late. */
#define FPY_NO_WINDOW INT64_MIN

/* One station's yield over one window. */
struct fpy_yield {
	char site[CT_ID_MAX + 1];
	char line[CT_ID_MAX + 1];
	char station[CT_ID_MAX + 1];
	int64_t window_start_us, window_end_us;
	uint32_t units_judged, units_passed_first;
};

struct fpy_window {
	struct fpy_yield yield;
	struct ct_map units; /* unit IDs judged in the window */
};

/* A batch handled and acknowledged, waiting for its windows to close. */
struct fpy_pending {
	uint64_t end_segment, end_offset;
	int64_t newest_window_us; /* start of the newest window it touched, or FPY_NO_WINDOW */
};

/* Caller-owned state; fields are read-only outside fpy.c. */
struct fpy {
	int64_t interval_us, grace_us;
	/* Windows ending at or before this are closed (a multiple of interval_us). */
	int64_t closed_until_us;
	/* ... and at or before this their yields are acknowledged by the broker: what a rewind
	 * goes back to, and what commits wait for. */
	int64_t published_until_us;
	struct fpy_window *windows; /* open windows, in no order */
	size_t n_windows, cap_windows;
	struct ct_map index; /* "site/line/station/start" -> position in windows */
	struct fpy_pending *pending;
	size_t n_pending, cap_pending;
	unsigned long counted, rejudged, late; /* verdicts, since start */
};

/* Sets f up with windows of interval_us (> 0) and a lateness allowance of grace_us (>= 0).
 * Can't fail (allocates on first use). */
void fpy_init(struct fpy *f, int64_t interval_us, int64_t grace_us);
/* Frees what f holds. */
void fpy_cleanup(struct fpy *f);
/* Forgets the open windows and the pending batches (they will be handled again: the loop's
 * rewind). Windows whose yields were published stay closed, so verdicts counted in a
 * published yield are late the second time, not counted twice; windows closed but not
 * published open again, so their yields are made again from the replay. */
void fpy_rewind(struct fpy *f);
/* Everything closed so far is published and acknowledged (after a successful flush). */
void fpy_published(struct fpy *f);

/* Checks one verdict of a VerdictBatch received on the plant topic of site/line/station: IDs
 * present and valid and equal to the topic's, decided_at_us > 0, a verdict code the proto
 * defines. Returns CT_OK or CT_ERR_INVALID with the reason in err. */
int fpy_check_verdict(const Cellthread__V1__Verdict *v, const char *site, const char *line,
                      const char *station, char *err, size_t err_len);
/* Counts a checked verdict. *ret_window_us is the start of its window, or FPY_NO_WINDOW when
 * it was late. Returns CT_OK or CT_ERR_NOMEM (nothing counted). */
int fpy_add(struct fpy *f, const Cellthread__V1__Verdict *v, int64_t *ret_window_us);

/* Closes every window ending at or before now_us - grace: their yields go to *ret_yields
 * (malloc'ed, sorted by window, site, line, station; NULL when none) and *ret_n. Returns
 * CT_OK or CT_ERR_NOMEM (nothing closed). */
int fpy_close(struct fpy *f, int64_t now_us, struct fpy_yield **ret_yields, size_t *ret_n);
/* units_passed_first / units_judged, 0 for no units. */
double fpy_ratio(const struct fpy_yield *y);

/* Queues an acknowledged batch (in the order batches were handled). Returns CT_OK or
 * CT_ERR_NOMEM. */
int fpy_pending_add(struct fpy *f, uint64_t end_segment, uint64_t end_offset,
                    int64_t newest_window_us);
/* Takes the oldest pending batches whose windows are all published; true with the last one's
 * end in *ret_segment / *ret_offset (to commit), false when the oldest still waits. */
bool fpy_pending_take(struct fpy *f, uint64_t *ret_segment, uint64_t *ret_offset);

#endif
