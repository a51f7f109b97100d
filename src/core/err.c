/* err.c — thread-local last-error message; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[CO_ERR_MSG_MAX];

/* Formats into a local buffer first: an argument may be co_err_msg() itself (re-coding
 * an error with its message), and vsnprintf's source and destination must not overlap. */
int co_err_set(int code, const char *fmt, ...)
{
	char msg[CO_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memcpy(last_msg, msg, sizeof msg);
	return code;
}

const char *co_err_msg(void) { return last_msg; }

const char *co_err_name(int code)
{
	switch (code) {
	case CO_OK: return "ok";
	case CO_ENOTFOUND: return "not_found";
	case CO_EEXISTS: return "exists";
	case CO_ECONFLICT: return "conflict";
	case CO_EINVAL: return "invalid";
	case CO_EUNAVAIL: return "unavailable";
	case CO_ENOMEM: return "out_of_memory";
	case CO_EREVOKED: return "revoked";
	default: return "internal";
	}
}
