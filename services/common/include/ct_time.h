/* ct_time: wall-clock and monotonic time helpers. */
#ifndef CT_TIME_H
#define CT_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall clock, microseconds since the Unix epoch UTC. */
int64_t ct_now_us(void);
/* Monotonic clock in milliseconds, for deadlines and intervals. */
int64_t ct_mono_ms(void);
/* Sets *ts to now + ms on CLOCK_REALTIME, the clock pthread_cond_timedwait measures. */
void ct_time_deadline(struct timespec *ts, int ms);
/* Formats `us` as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into buf (at least 32 bytes).
 * Returns buf. */
char *ct_time_format_us(int64_t us, char *buf, size_t len);
/* Parses RFC 3339 / ISO 8601 UTC or offset times ("2026-11-22T05:54:48.5Z",
 * "...+01:00") into microseconds since the epoch. Returns CT_OK or CT_ERR_INVALID. */
int ct_time_parse_us(const char *text, int64_t *ret_us);

#endif
