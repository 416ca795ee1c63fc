/* flood: a sliding count of event times, pure (no I/O). The router counts each service's
 * dead letters with it (a burst raises DEADLETTER_BURST); floods, chattering and rate limits
 * are counted in SQL (router_db.c). */
#ifndef ALERT_FLOOD_H
#define ALERT_FLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A sliding window of event times (a ring of the last `cap` times, enough for the counts
 * asked). */
struct time_window {
	int64_t *times;
	size_t cap, head, n;
	int64_t window_us;
};
/* CT_OK, CT_ERR_INVALID (cap 0 or over a million, window not positive) or CT_ERR_NOMEM; w
 * can be freed in every case. Counts never exceed cap. */
int time_window_init(struct time_window *w, size_t cap, int64_t window_us);
void time_window_free(struct time_window *w);
/* Records an event at t (times must not go backwards by more than the window; an older one is
 * ignored). */
void time_window_add(struct time_window *w, int64_t t);
/* Events in (now - window, now]. */
size_t time_window_count(const struct time_window *w, int64_t now_us);

#endif
