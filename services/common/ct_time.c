/* ct_time: clocks and RFC 3339 formatting/parsing in microseconds. */
#include "ct_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ct_error.h"

int64_t ct_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ct_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *ct_time_format_us(int64_t us, char *buf, size_t len)
{
	struct tm tm;
	int64_t secs = us / 1000000;
	int64_t frac = us % 1000000;
	time_t t;

	if (frac < 0) {
		frac += 1000000;
		secs -= 1;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "invalid-time");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
	return buf;
}

/* Reads exactly n digits at *p into *ret, advancing *p. */
static int read_digits(const char **p, int n, int *ret)
{
	int value = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return CT_ERR_INVALID;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = value;
	return CT_OK;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ct_time_parse_us(const char *text, int64_t *ret_us)
{
	const char *p = text;
	int year, mon, day, hour, min, sec;
	int64_t frac_us = 0;
	int64_t offset_s = 0;
	static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (read_digits(&p, 4, &year) || *p++ != '-' || read_digits(&p, 2, &mon) || *p++ != '-' ||
	    read_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
		return CT_ERR_INVALID;
	p++;
	if (read_digits(&p, 2, &hour) || *p++ != ':' || read_digits(&p, 2, &min) || *p++ != ':' ||
	    read_digits(&p, 2, &sec))
		return CT_ERR_INVALID;
	if (mon < 1 || mon > 12 || day < 1 || day > month_days[mon - 1] || hour > 23 || min > 59 ||
	    sec > 60)
		return CT_ERR_INVALID;
	if (*p == '.') {
		int digits = 0;
		p++;
		if (!isdigit((unsigned char)*p))
			return CT_ERR_INVALID;
		while (isdigit((unsigned char)*p)) {
			if (digits < 6) {
				frac_us = frac_us * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 6)
			frac_us *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int oh, om;
		p++;
		if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return CT_ERR_INVALID;
		offset_s = sign * (oh * 3600 + om * 60);
	} else {
		return CT_ERR_INVALID; /* a time without zone is ambiguous on a plant floor */
	}
	if (*p != '\0')
		return CT_ERR_INVALID;
	int64_t secs =
	        days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset_s;
	*ret_us = secs * 1000000 + frac_us;
	return CT_OK;
}

void ct_time_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
