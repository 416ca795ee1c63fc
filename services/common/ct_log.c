/* ct_log: levelled logging to stderr.
 *
 * One fprintf per line under stdio's own lock, so lines from Paho's thread and the main
 * thread never interleave mid-line. */
#include "ct_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"

int ct_log_level = CT_LOG_INFO;
static const char *log_service = "cellthread";

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void ct_log_set_service(const char *service)
{
	log_service = service;
}

int ct_log_parse_level(const char *text, int *ret_level)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(text, names[i]) == 0) {
			*ret_level = i;
			return CT_OK;
		}
	}
	return CT_ERR_INVALID;
}

void ct_log_write(int level, const char *fmt, ...)
{
	char stamp[40];
	char text[2048];
	va_list ap;

	if (level < 0 || level > CT_LOG_DEBUG)
		level = CT_LOG_ERROR;
	ct_time_format_us(ct_now_us(), stamp, sizeof(stamp));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s %s: %s\n", stamp, level_names[level], log_service, text);
}
