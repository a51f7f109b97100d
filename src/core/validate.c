/* validate.c — SPEC §1 input rules; see validate.h. */
#include "validate.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

co_limits co_limits_current = {.max_body = 1 << 20, .max_import_body = 32 << 20};

bool co_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		int len;
		unsigned min, cp;
		if ((c & 0xe0) == 0xc0) {
			len = 2, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (end - p < len)
			return false;
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

int co_validate_name(const char *field, const char *s)
{
	if (!s)
		return co_err_set(CO_EINVAL, "%s is required", field);
	size_t n = strlen(s);
	if (n == 0)
		return co_err_set(CO_EINVAL, "%s must not be empty", field);
	if (n > CO_NAME_MAX)
		return co_err_set(CO_EINVAL, "%s is %zu bytes; the limit is %d", field, n, CO_NAME_MAX);
	if (strpbrk(s, "\r\n"))
		return co_err_set(CO_EINVAL, "%s must not contain a line break", field);
	if (!co_utf8_valid(s, n))
		return co_err_set(CO_EINVAL, "%s is not valid UTF-8", field);
	return CO_OK;
}

int co_validate_key(const char *s)
{
	if (!s)
		return co_err_set(CO_EINVAL, "key is required");
	size_t n = strlen(s);
	if (n == 0)
		return co_err_set(CO_EINVAL, "key must not be empty");
	if (n > CO_KEY_MAX)
		return co_err_set(CO_EINVAL, "key is %zu bytes; the limit is %d", n, CO_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return co_err_set(CO_EINVAL, "key must not contain control characters");
		if (c == '/')
			return co_err_set(CO_EINVAL, "key must not contain '/'");
		/* U+0080..U+009F (C1 controls) are 0xC2 0x80..0x9F in UTF-8. */
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0 &&
		    (unsigned char)s[i + 1] >= 0x80)
			return co_err_set(CO_EINVAL, "key must not contain control characters");
	}
	if (!co_utf8_valid(s, n))
		return co_err_set(CO_EINVAL, "key is not valid UTF-8");
	return CO_OK;
}

int co_validate_url(const char *s)
{
	size_t n = strlen(s);
	if (n > CO_URL_MAX)
		return co_err_set(CO_EINVAL, "url is longer than %d bytes", CO_URL_MAX);
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return co_err_set(CO_EINVAL, "url must start with http:// or https://");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f)
			return co_err_set(CO_EINVAL, "url must not contain spaces or control characters");
	}
	/* RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ], ended by / ? # */
	const char *auth = s + (s[4] == 's' ? 8 : 7);
	size_t alen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', alen);
	const char *host = at ? at + 1 : auth;
	size_t hlen = alen - (size_t)(host - auth);
	const char *colon = host[0] == '[' ? memchr(host, ']', hlen) : memchr(host, ':', hlen);
	if (colon && host[0] != '[')
		hlen = (size_t)(colon - host);
	if (hlen == 0)
		return co_err_set(CO_EINVAL, "url has no host");
	return CO_OK;
}

bool co_json_depth_ok(const char *buf, size_t n, int max_depth)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return true;
}

size_t co_json_values_bound(const char *buf, size_t n)
{
	size_t values = 1;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == ',' || c == '[' || c == '{') {
			values++;
		}
	}
	return values;
}

int co_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (!s || !*s)
		return co_err_set(CO_EINVAL, "empty number");
	if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return co_err_set(CO_EINVAL, "'%.32s' is not an integer", s);
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || end == s)
		return co_err_set(CO_EINVAL, "'%.32s' is not an integer", s);
	if (errno == ERANGE || v < min || v > max)
		return co_err_set(CO_EINVAL, "%.32s is out of range [%lld, %lld]", s, (long long)min,
				  (long long)max);
	*out = v;
	return CO_OK;
}

int co_parse_bool(const char *s, bool dflt, bool *out)
{
	if (!s) {
		*out = dflt;
		return CO_OK;
	}
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*out = true;
		return CO_OK;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*out = false;
		return CO_OK;
	}
	return co_err_set(CO_EINVAL, "'%.32s' is not true or false", s);
}
