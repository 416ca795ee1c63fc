/* linesim_clock: the simulated clock of a history run (linesim_model.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "linesim_model.h"

#define US_PER_S 1000000LL
#define MAX_HISTORY_US                                                                             \
	(366LL * 86400 * US_PER_S) /* a year of history is already billions of                     \
	                            * results: beyond it is a typo */

int linesim_duration_parse(const char *text, int64_t *ret_us, char *err, size_t err_len)
{
	long long n = 0, unit_us;
	size_t i = 0;

	if (text == NULL || text[0] == '\0') {
		*ret_us = 0;
		return CT_OK;
	}
	/* Digits by hand: strtoll would take signs, spaces and hex, none of which a duration
	 * has, and the bound below keeps n far from overflowing. */
	for (; text[i] >= '0' && text[i] <= '9'; i++) {
		n = n * 10 + (text[i] - '0');
		if (n > MAX_HISTORY_US / US_PER_S)
			goto bad;
	}
	if (i == 0 || text[i] == '\0' || text[i + 1] != '\0')
		goto bad;
	switch (text[i]) {
	case 'd':
		unit_us = 86400 * US_PER_S;
		break;
	case 'h':
		unit_us = 3600 * US_PER_S;
		break;
	case 'm':
		unit_us = 60 * US_PER_S;
		break;
	case 's':
		unit_us = US_PER_S;
		break;
	default:
		goto bad;
	}
	if (n == 0 || n > MAX_HISTORY_US / unit_us)
		goto bad;
	*ret_us = n * unit_us;
	return CT_OK;
bad:
	snprintf(err, err_len,
	         "'%s' is not a duration of 1s to 366d (a whole number and d, h, m or s: 7d, 36h, "
	         "90m)",
	         text);
	return CT_ERR_INVALID;
}

void linesim_clock_init(struct linesim_clock *clock, int64_t end_us, int64_t length_us, double rate)
{
	clock->end_us = end_us;
	clock->start_us = end_us - length_us;
	clock->period_us = 1e6 / rate;
}

int64_t linesim_clock_tick_us(const struct linesim_clock *clock, unsigned long long n)
{
	/* As the live schedule computes it (a product, never a running sum), so no error piles
	 * up over millions of ticks. */
	return clock->start_us + (int64_t)((double)n * clock->period_us);
}

unsigned long long linesim_clock_history_ticks(const struct linesim_clock *clock)
{
	double span = (double)(clock->end_us - clock->start_us);
	unsigned long long n;

	if (span <= 0)
		return 0;
	n = (unsigned long long)ceil(span / clock->period_us);
	/* Rounding of the product can put the last candidate at or past the end, or one more
	 * before it: settle on the exact count by the same formula the ticks use. */
	while (n > 0 && linesim_clock_tick_us(clock, n - 1) >= clock->end_us)
		n--;
	while (linesim_clock_tick_us(clock, n) < clock->end_us)
		n++;
	return n;
}
