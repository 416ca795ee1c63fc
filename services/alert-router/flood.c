/* flood: sliding counts of event times (flood.h).
 *
 * A window keeps only the last `cap` times in a ring, in the order they were added: the
 * questions asked of it are "at least k in the window?" with k <= cap, so older times can
 * never change an answer and memory stays fixed per key. Counting walks the ring (cap is the
 * threshold asked about), which is cheaper than keeping it sorted. */
#include "flood.h"

#include <stdlib.h>

#include "ct_error.h"

/* The largest ring a window may ask for: far above any threshold in use, small enough that
 * the allocation size cannot overflow. */
#define WINDOW_CAP_MAX 1000000

int time_window_init(struct time_window *w, size_t cap, int64_t window_us)
{
	w->times = NULL;
	w->cap = w->head = w->n = 0;
	w->window_us = 0;
	if (cap == 0 || cap > WINDOW_CAP_MAX || window_us <= 0)
		return CT_ERR_INVALID;
	w->times = calloc(cap, sizeof(*w->times));
	if (w->times == NULL)
		return CT_ERR_NOMEM;
	w->cap = cap;
	w->window_us = window_us;
	return CT_OK;
}

void time_window_free(struct time_window *w)
{
	if (w == NULL)
		return;
	free(w->times);
	w->times = NULL;
	w->cap = w->head = w->n = 0;
}

/* t lies in (now - window, now]; written as a difference checked for overflow, since now -
 * window can leave int64_t for times near its ends. */
static bool in_window(int64_t t, int64_t now, int64_t window)
{
	int64_t age;

	if (t > now || __builtin_sub_overflow(now, t, &age))
		return false;
	return age < window;
}

void time_window_add(struct time_window *w, int64_t t)
{
	int64_t newest, age;

	if (w->cap == 0)
		return;
	if (w->n > 0) {
		newest = w->times[0];
		for (size_t i = 1; i < w->n; i++)
			if (w->times[i] > newest)
				newest = w->times[i];
		/* An event a whole window older than the newest could not be counted by any later
		 * question (times go forward); keeping it would only push out a time that can. */
		if (t < newest && (__builtin_sub_overflow(newest, t, &age) || age >= w->window_us))
			return;
	}
	w->times[w->head] = t;
	w->head = (w->head + 1) % w->cap;
	if (w->n < w->cap)
		w->n++;
}

size_t time_window_count(const struct time_window *w, int64_t now_us)
{
	size_t count = 0;

	for (size_t i = 0; i < w->n; i++)
		if (in_window(w->times[i], now_us, w->window_us))
			count++;
	return count;
}
