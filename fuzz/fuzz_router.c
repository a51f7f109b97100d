/*
 * fuzz_router.c — libFuzzer harness: the router's path and query parsing (percent-decoding,
 * segment matching, captures, 404/405, query arguments as every handler reads them),
 * through the real server running in this process (fuzz_kit.h).
 *
 * Input: byte 0 says how the request is made, the rest is the request target.
 *   bits 0-2  the method: GET GET POST PATCH DELETE PUT HEAD OPTIONS;
 *   bit 3     adds an X-Colony-Actor header (the audit actor's name);
 *   bit 4     sends the body {} (POST, PATCH, DELETE, PUT);
 *   bit 5     sends the target as it is (absolute-form, '*', …) instead of making it
 *             start with '/';
 *   bits 6-7  the caller: 0-1 the admin, 2 the fixture W's token, 3 no token.
 * In the target, {R} {W} {C} {S} {M} {T} become the fixture ids (root, workspace, child,
 * schedule, message, token), so the corpus can name real rows. Then every byte that
 * cannot stand in a request line (controls, space, DEL) is sent percent-escaped, as a
 * client would; other bytes, '%' included, go as they are. At most MAX_TARGET bytes.
 * Oracle: fz_check (fuzz_kit.h note 5), and ASan/UBSan in the server's threads.
 */
#include "fuzz_kit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest target sent: past --max-url-bytes (8192: JSON 414), within MHD's memory pool
 * (64 KiB, server.c note H2), which would answer in HTML itself. */
#define MAX_TARGET 12000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *marker(const uint8_t *p, size_t left)
{
	if (left < 3 || p[0] != '{' || p[2] != '}')
		return NULL;
	switch (p[1]) {
	case 'R': return fz_fx.root;
	case 'W': return fz_fx.ws;
	case 'C': return fz_fx.child;
	case 'S': return fz_fx.sched;
	case 'M': return fz_fx.msg;
	case 'T': return fz_fx.token_id[0] ? fz_fx.token_id : "00000000-0000-7000-8000-000000000000";
	default: return NULL;
	}
}

/* Builds the target from data[0..n) (see the file comment); returns its length. */
static size_t build_target(const uint8_t *d, size_t n, bool raw, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (!raw && (n == 0 || d[0] != '/'))
		out[o++] = '/';
	for (size_t i = 0; i < n && o + 40 < cap; i++) {
		const char *m = marker(d + i, n - i);
		if (m) {
			size_t l = strlen(m);
			memcpy(out + o, m, l);
			o += l;
			i += 2;
		} else if (d[i] <= 0x20 || d[i] == 0x7f) {
			out[o++] = '%';
			out[o++] = hex[d[i] >> 4];
			out[o++] = hex[d[i] & 15];
		} else {
			out[o++] = (char)d[i];
		}
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[8] = {"GET", "GET", "POST", "PATCH",
					       "DELETE", "PUT", "HEAD", "OPTIONS"};
	if (size < 1)
		return 0;
	fz_tick_input();
	unsigned sel = data[0];
	const char *method = methods[sel & 7];
	bool actor = sel & 8, body = sel & 16, raw = sel & 32;
	fz_caller who = (sel >> 6) < 2 ? FZ_ADMIN : (sel >> 6) == 2 ? FZ_WS_TOKEN : FZ_NO_TOKEN;
	static char target[MAX_TARGET + 64];
	build_target(data + 1, size - 1, raw, target, MAX_TARGET);

	const char *hdr[3];
	int nh = 0;
	if (actor)
		hdr[nh++] = "X-Colony-Actor: fuzz@router";
	bool with_body = body && strcmp(method, "GET") && strcmp(method, "HEAD") &&
			 strcmp(method, "OPTIONS");
	if (with_body)
		hdr[nh++] = "Content-Type: application/json";
	hdr[nh] = NULL;
	fz_req q = {.method = method, .target = target, .headers = hdr, .who = who,
		    .body = with_body ? "{}" : NULL, .body_len = with_body ? 2 : 0};
	fz_resp r;
	fz_send(&q, &r);
	fz_check(&q, &r);
	bool changed = r.status >= 200 && r.status < 300 && strcmp(method, "GET") &&
		       strcmp(method, "HEAD");
	fz_resp_free(&r);
	fz_fixtures_check(changed);
	return 0;
}
