/*
 * err.h — colony's return codes and the thread-local last-error message.
 *
 * DESIGN NOTES
 *  1. Every fallible function returns int: CO_OK (0) or one of the few negative codes
 *     below. Expected outcomes a caller branches on (absent, taken, version mismatch)
 *     have their own code; everything else is CO_EINTERNAL with a message.
 *  2. The message lives in a thread-local buffer set by co_err_set(). It is one line,
 *     never allocates (so out-of-memory can be reported), and is overwritten only by
 *     the next co_err_set() on the same thread: set it where the failure is first seen
 *     and propagate the code unchanged.
 *  3. Backends translate their own errors (SQLite, libpq) into these codes in one place.
 */
#ifndef COLONY_CORE_ERR_H
#define COLONY_CORE_ERR_H

enum {
	CO_OK = 0,
	CO_ENOTFOUND = -1,  /* the thing is absent */
	CO_EEXISTS = -2,    /* a unique name is taken */
	CO_ECONFLICT = -3,  /* version mismatch, cycle, or a state that forbids the change */
	CO_EINVAL = -4,     /* input fails validation */
	CO_EUNAVAIL = -5,   /* storage busy or unreachable: worth retrying */
	CO_ENOMEM = -6,     /* allocation failed */
	CO_EINTERNAL = -7,  /* a bug or an unexpected storage error */
	CO_EREVOKED = -8,   /* the caller's token was revoked, or its workspace removed, before
			     * the write could commit (audit.h note 5): answered 401 */
};

#define CO_ERR_MSG_MAX 256

/* Sets this thread's last-error message (printf format) and returns `code`, so a
 * failure reads `return co_err_set(CO_EINVAL, "name is empty");`. */
int co_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's last message; "" when none was set. Never NULL. */
const char *co_err_msg(void);

/* A short constant name for a code ("not_found", "conflict", ...). */
const char *co_err_name(int code);

#endif
