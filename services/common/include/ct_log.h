/* ct_log: levelled logging to stderr, one line per event.
 *
 * Lines look like `2026-11-22T05:54:48.123Z ERROR traveler: text`. The macros check the
 * level before evaluating their arguments, so a debug line costs a compare when off.
 * The level and the service name are the only mutable globals of the runtime. */
#ifndef CT_LOG_H
#define CT_LOG_H

#include <stdbool.h>

enum ct_log_level { CT_LOG_ERROR = 0, CT_LOG_WARN = 1, CT_LOG_INFO = 2, CT_LOG_DEBUG = 3 };

extern int ct_log_level;

/* Sets the name printed on every line (the string must outlive logging). */
void ct_log_set_service(const char *service);
/* Parses "error", "warn", "info" or "debug"; returns CT_OK or CT_ERR_INVALID. */
int ct_log_parse_level(const char *text, int *ret_level);
void ct_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CT_LOG(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) <= ct_log_level)                                                       \
			ct_log_write((level), __VA_ARGS__);                                        \
	} while (0)
#define ct_error(...) CT_LOG(CT_LOG_ERROR, __VA_ARGS__)
#define ct_warn(...)  CT_LOG(CT_LOG_WARN, __VA_ARGS__)
#define ct_info(...)  CT_LOG(CT_LOG_INFO, __VA_ARGS__)
#define ct_debug(...) CT_LOG(CT_LOG_DEBUG, __VA_ARGS__)

#endif
