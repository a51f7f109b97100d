/* buf.c — growable buffer and JSON writers; see buf.h. */
#include "buf.h"
#include "clock.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void co_buf_init(co_buf *b) { memset(b, 0, sizeof *b); }

void co_buf_free(co_buf *b)
{
	free(b->data);
	co_buf_init(b);
}

void co_buf_reset(co_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

bool co_buf_ok(const co_buf *b) { return !b->oom; }

static bool reserve(co_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *d = realloc(b->data, cap);
	if (!d) {
		b->oom = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

char *co_buf_take(co_buf *b, size_t *len_out)
{
	if (b->oom) {
		co_buf_free(b);
		return NULL;
	}
	if (!reserve(b, 0))
		return NULL;
	b->data[b->len] = 0;
	char *d = b->data;
	if (len_out)
		*len_out = b->len;
	co_buf_init(b);
	return d;
}

void co_buf_append(co_buf *b, const void *p, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void co_buf_puts(co_buf *b, const char *s) { co_buf_append(b, s, strlen(s)); }

void co_buf_putc(co_buf *b, char c) { co_buf_append(b, &c, 1); }

void co_buf_printf(co_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void co_buf_i64(co_buf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
	co_buf_append(b, tmp, (size_t)n);
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 if malformed. */
static size_t utf8_seq_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (len == 0 || len > n || !co_utf8_valid(s, len))
		return 0;
	return len;
}

void co_buf_json_str(co_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (!reserve(b, n + 2))
		return;
	co_buf_putc(b, '"');
	size_t run = 0; /* bytes [i-run, i) need no escaping */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		if (c >= 0x80) {
			size_t seq = utf8_seq_len(s + i, n - i);
			if (seq) { /* a well-formed sequence passes through */
				run += seq;
				i += seq - 1;
				continue;
			}
			co_buf_append(b, s + i - run, run);
			run = 0;
			co_buf_puts(b, "\\ufffd"); /* U+FFFD for each malformed byte */
			continue;
		}
		co_buf_append(b, s + i - run, run);
		run = 0;
		switch (c) {
		case '"': co_buf_puts(b, "\\\""); break;
		case '\\': co_buf_puts(b, "\\\\"); break;
		case '\n': co_buf_puts(b, "\\n"); break;
		case '\r': co_buf_puts(b, "\\r"); break;
		case '\t': co_buf_puts(b, "\\t"); break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			co_buf_append(b, e, 6);
		}
		}
	}
	co_buf_append(b, s + n - run, run);
	co_buf_putc(b, '"');
}

void co_buf_json_cstr(co_buf *b, const char *s)
{
	if (!s)
		co_buf_puts(b, "null");
	else
		co_buf_json_str(b, s, strlen(s));
}

void co_buf_json_key(co_buf *b, const char *key, bool first)
{
	if (!first)
		co_buf_putc(b, ',');
	co_buf_json_cstr(b, key);
	co_buf_putc(b, ':');
}

void co_buf_json_time(co_buf *b, int64_t us, bool null_if_zero)
{
	char t[CO_RFC3339_LEN + 1];
	if ((us == 0 && null_if_zero) || co_rfc3339_format(us, t) != 0) {
		co_buf_puts(b, "null");
		return;
	}
	co_buf_putc(b, '"');
	co_buf_append(b, t, CO_RFC3339_LEN);
	co_buf_putc(b, '"');
}
