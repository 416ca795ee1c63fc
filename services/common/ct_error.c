/* ct_error: text for the project's error codes. */
#include "ct_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ct_strerror(int err)
{
	switch (err) {
	case CT_OK:
		return "success";
	case CT_ERR_NOMEM:
		return "out of memory";
	case CT_ERR_INVALID:
		return "invalid input";
	case CT_ERR_IO:
		return "I/O error";
	case CT_ERR_MQTT:
		return "MQTT error";
	case CT_ERR_PG:
		return "PostgreSQL error";
	case CT_ERR_DECODE:
		return "cannot decode payload";
	case CT_ERR_TOO_BIG:
		return "too big";
	case CT_ERR_CONFIG:
		return "configuration error";
	case CT_ERR_TIMEOUT:
		return "timed out";
	case CT_ERR_NOT_FOUND:
		return "not found";
	case CT_ERR_STOPPED:
		return "stopped";
	case CT_ERR_CORRUPT:
		return "corrupt data";
	case CT_ERR_UNACKED:
		return "published messages not acknowledged by the broker";
	case CT_ERR_AGAIN:
		return "try again";
	}
	return "unknown error";
}

int ct_set_error(char *err, size_t err_len, int code, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}
