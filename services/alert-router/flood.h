/* flood: the alarm system's bad actors, pure (no I/O): operator positions in flood,
 * chattering alarms, delivery rate limits and dead-letter bursts. Each is a sliding count of
 * timestamps; the router feeds them times and asks.
 *
 * Flood (EEMUA 191 / ISA-18.2): a position (team) is in flood when more than flood_on (10)
 * alarms reached it in the last window (10 minutes), and leaves flood when a window holds
 * fewer than flood_off (5). Chattering: an alert key activated chatter_count (3) or more
 * times within chatter_window (60 s). */
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

/* An operator position's flood state. */
struct flood {
	struct time_window alarms;
	size_t on_above, off_below;
	bool in_flood;
	int64_t since_us; /* when the current flood began */
};
/* CT_OK, CT_ERR_INVALID (off_below 0 or above on_above: no hysteresis) or CT_ERR_NOMEM; f
 * can be freed in every case. */
int flood_init(struct flood *f, int64_t window_us, size_t on_above, size_t off_below);
void flood_free(struct flood *f);
/* Records an alarm for the position at t; returns true when this alarm started a flood (more
 * than on_above in the window, this one included). It never ends a flood: the router calls
 * flood_check_end before it and on a timer. */
bool flood_add(struct flood *f, int64_t t);
/* Re-evaluates at now (no alarm); returns true when the flood ended now (fewer than off_below
 * in the window). */
bool flood_check_end(struct flood *f, int64_t now_us);

/* A key's chatter detector. */
struct chatter {
	struct time_window activations;
	size_t threshold;
};
int chatter_init(struct chatter *c, int64_t window_us, size_t threshold); /* as the window */
void chatter_free(struct chatter *c);
/* Records an activation at t; returns true when the key is chattering now (threshold or more
 * activations in the window, this one included). */
bool chatter_add(struct chatter *c, int64_t t);

#endif
