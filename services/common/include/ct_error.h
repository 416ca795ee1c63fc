/* ct_error: the one error enum of cellthread.
 *
 * 0 is success. Codes are never renumbered or reused; new codes are appended. Detail about
 * a failure goes into a caller-supplied `err` buffer (see each function), not into globals. */
#ifndef CT_ERROR_H
#define CT_ERROR_H

#include <stddef.h>

enum ct_err {
	CT_OK = 0,
	CT_ERR_NOMEM = 1,      /* allocation failed */
	CT_ERR_INVALID = 2,    /* argument or input breaks a rule */
	CT_ERR_IO = 3,         /* file or socket I/O failed */
	CT_ERR_MQTT = 4,       /* the MQTT client or broker refused or failed */
	CT_ERR_PG = 5,         /* PostgreSQL failed */
	CT_ERR_DECODE = 6,     /* payload is not a valid encoding */
	CT_ERR_TOO_BIG = 7,    /* payload or field over its size limit */
	CT_ERR_CONFIG = 8,     /* configuration is wrong */
	CT_ERR_TIMEOUT = 9,    /* a deadline passed */
	CT_ERR_NOT_FOUND = 10, /* the thing asked for does not exist */
	CT_ERR_STOPPED = 11,   /* shutdown was requested while waiting */
	CT_ERR_CORRUPT = 12,   /* stored data failed its integrity check */
	CT_ERR_UNACKED = 13,   /* published messages were not acknowledged by the broker in time */
	CT_ERR_AGAIN = 14,     /* nothing done this time; try again later */
};

/* Short static text for an error code; never NULL. */
const char *ct_strerror(int err);

/* snprintf into err/err_len when err is not NULL; returns `code` so callers can
 * `return ct_set_error(err, len, CT_ERR_INVALID, "...", ...)`. */
int ct_set_error(char *err, size_t err_len, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
