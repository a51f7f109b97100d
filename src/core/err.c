/* err.c — thread-local last-error message; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_msg[CO_ERR_MSG_MAX];

int co_err_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	va_end(ap);
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
	default: return "internal";
	}
}
