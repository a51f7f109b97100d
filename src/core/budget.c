/*
 * budget.c — usage events and rolling budgets in the core: parsing, validation, the
 * exceeded rule and the JSON shape (see budget.h).
 *
 * DESIGN NOTES
 *  1. Validation is complete before anything is returned: a parse either fills the whole
 *     out-struct with checked values or fails with CO_EINVAL naming the field, so a store
 *     is never handed a partial or unchecked amount. Every number is tested with
 *     isfinite() and the caps of budget.h before it is converted, so no NaN, infinity or
 *     overflowing value is ever turned into an integer (that conversion would be UB).
 *  2. Fractional amounts (seconds, cost_usd) become integer micro-units by rounding
 *     v × 1e6 to the nearest integer (halves up). Values are ≤ 1e15 micro-units, below
 *     2^53, so the double product is within 0.2 of the exact one and the rounding picks
 *     the integer the decimal text meant (0.1 → 100000, 0.29 → 290000). Tokens must be
 *     JSON integers: 1.0, 1e3 and 1.5 are all refused (jansson reads them as reals).
 *  3. The JSON number format of micro-unit amounts (seconds_used, cost_usd and the
 *     seconds / cost_usd limits): the exact decimal value of n / 1e6, written as the
 *     integer part, a '.', then the six-digit fraction with trailing zeros dropped but at
 *     least one digit kept: 100000 → 0.1, 1500000 → 1.5, 2000000 → 2.0, 1 → 0.000001.
 *     It is always a JSON real (never an integer token), it is exact (no binary float
 *     noise: three adds of 0.1 show 0.3), and it round-trips: parsing it as a double and
 *     rounding × 1e6 gives n back for any n below 2^53 / 8 (about 1.1e15 micro-units,
 *     i.e. $1.1e9 or 35 years of seconds), and the text itself is exact at any size.
 *  4. Token totals and limits are JSON integers.
 */
#include "budget.h"
#include "err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MICRO 1000000LL

/* The four amounts of a co_usage, in the order of the JSON fields. */
enum { F_SECONDS, F_INPUT, F_OUTPUT, F_COST, F_COUNT };

static const char *const field_names[F_COUNT] = {"seconds", "input_tokens", "output_tokens",
						  "cost_usd"};
static const unsigned field_bits[F_COUNT] = {CO_LIMIT_SECONDS, CO_LIMIT_INPUT_TOKENS,
					     CO_LIMIT_OUTPUT_TOKENS, CO_LIMIT_COST};

/* Field f of u, as a place to write (field_ptr) or a value (field_get). */
static int64_t *field_ptr(co_usage *u, int f)
{
	switch (f) {
	case F_SECONDS: return &u->seconds_us;
	case F_INPUT: return &u->input_tokens;
	case F_OUTPUT: return &u->output_tokens;
	default: return &u->cost_micro_usd;
	}
}

static int64_t field_get(const co_usage *u, int f)
{
	const int64_t v[F_COUNT] = {u->seconds_us, u->input_tokens, u->output_tokens,
				    u->cost_micro_usd};
	return v[f];
}

/* Reads one amount (note 1, 2): `what` names it in messages ("seconds", "limits.seconds").
 * CO_OK with *out in the field's unit, or CO_EINVAL. v must not be NULL. */
static int read_amount(json_t *v, int f, const char *what, int64_t *out)
{
	if (f == F_INPUT || f == F_OUTPUT) {
		if (!json_is_integer(v))
			return co_err_set(CO_EINVAL, "%s must be an integer (tokens)", what);
		json_int_t i = json_integer_value(v);
		if (i < 0 || i > CO_USAGE_TOKENS_MAX)
			return co_err_set(CO_EINVAL, "%s must be between 0 and %lld", what,
					  (long long)CO_USAGE_TOKENS_MAX);
		*out = (int64_t)i;
		return CO_OK;
	}
	if (!json_is_number(v))
		return co_err_set(CO_EINVAL, "%s must be a number", what);
	double d = json_number_value(v);
	double cap = f == F_SECONDS ? CO_USAGE_SECONDS_MAX : CO_USAGE_COST_MAX;
	if (!isfinite(d))
		return co_err_set(CO_EINVAL, "%s must be a finite number", what);
	if (d < 0 || d > cap)
		return co_err_set(CO_EINVAL, "%s must be between 0 and %.0f", what, cap);
	/* 0 ≤ d × 1e6 ≤ 1e15 < 2^53: the conversion is defined and exact enough (note 2). A
	 * non-zero amount never rounds to nothing: many tiny events must still add up to
	 * something a limit can see, so they count as at least one unit. */
	*out = (int64_t)(d * (double)MICRO + 0.5);
	if (*out == 0 && d > 0)
		*out = 1;
	return CO_OK;
}

int co_usage_parse(json_t *body, co_usage *out)
{
	memset(out, 0, sizeof *out);
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	co_usage u = {0};
	int given = 0;
	for (int f = 0; f < F_COUNT; f++) {
		json_t *v = json_object_get(body, field_names[f]);
		if (!v)
			continue;
		int rc = read_amount(v, f, field_names[f], field_ptr(&u, f));
		if (rc)
			return rc;
		given++;
	}
	if (!given)
		return co_err_set(CO_EINVAL, "usage must give at least one of seconds, input_tokens, "
					     "output_tokens, cost_usd");
	*out = u;
	return CO_OK;
}

int co_budget_parse_patch(json_t *body, co_budget_patch *out)
{
	memset(out, 0, sizeof *out);
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	json_t *limits = json_object_get(body, "limits");
	if (!limits)
		return co_err_set(CO_EINVAL, "limits is required: {seconds?, input_tokens?, "
					     "output_tokens?, cost_usd?}");
	if (!json_is_object(limits))
		return co_err_set(CO_EINVAL, "limits must be a JSON object");
	co_budget_patch p = {0};
	for (int f = 0; f < F_COUNT; f++) {
		json_t *v = json_object_get(limits, field_names[f]);
		if (!v)
			continue;
		p.fields |= field_bits[f];
		if (json_is_null(v))
			continue; /* clears it */
		char what[32];
		snprintf(what, sizeof what, "limits.%s", field_names[f]);
		int rc = read_amount(v, f, what, field_ptr(&p.v.limit, f));
		if (rc)
			return rc;
		p.v.set |= field_bits[f];
	}
	if (!p.fields)
		return co_err_set(CO_EINVAL, "limits must name at least one of seconds, input_tokens, "
					     "output_tokens, cost_usd (null clears one)");
	*out = p;
	return CO_OK;
}

void co_budget_apply_patch(co_budget_limits *l, const co_budget_patch *p)
{
	for (int f = 0; f < F_COUNT; f++) {
		unsigned bit = field_bits[f];
		if (!(p->fields & bit))
			continue;
		if (p->v.set & bit) {
			l->set |= bit;
			*field_ptr(&l->limit, f) = field_get(&p->v.limit, f);
		} else {
			l->set &= ~bit;
			*field_ptr(&l->limit, f) = 0;
		}
	}
}

bool co_budget_exceeded(const co_usage *used, const co_budget_limits *l)
{
	for (int f = 0; f < F_COUNT; f++)
		if ((l->set & field_bits[f]) && field_get(used, f) >= field_get(&l->limit, f))
			return true;
	return false;
}

/* Note 3: n micro-units (n ≥ 0; a negative n is written with its sign) as exact decimal. */
static void put_micro(co_buf *b, int64_t n)
{
	char tmp[40];
	uint64_t m = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
	uint64_t ip = m / MICRO, frac = m % MICRO;
	int len = snprintf(tmp, sizeof tmp, "%s%llu.%06llu", n < 0 ? "-" : "",
			   (unsigned long long)ip, (unsigned long long)frac);
	while (len > 0 && tmp[len - 1] == '0' && tmp[len - 2] != '.')
		len--;
	co_buf_append(b, tmp, (size_t)len);
}

static void put_amount(co_buf *b, int f, int64_t v)
{
	if (f == F_SECONDS || f == F_COST)
		put_micro(b, v);
	else
		co_buf_i64(b, v);
}

int64_t *co_usage_field(co_usage *u, int i)
{
	int64_t *f[CO_USAGE_FIELDS] = {&u->seconds_us, &u->input_tokens, &u->output_tokens,
				       &u->cost_micro_usd};
	return f[i];
}

int64_t co_usage_get(const co_usage *u, int i)
{
	return *co_usage_field((co_usage *)u, i);
}

unsigned co_limit_bit(int i)
{
	static const unsigned bits[CO_USAGE_FIELDS] = {CO_LIMIT_SECONDS, CO_LIMIT_INPUT_TOKENS,
						       CO_LIMIT_OUTPUT_TOKENS, CO_LIMIT_COST};
	return bits[i];
}

int co_budget_exceeded_error(const char *ws_id, const co_budget *b)
{
	static const char *const names[CO_USAGE_FIELDS] = {"seconds", "input_tokens",
							   "output_tokens", "cost_usd"};
	for (int i = 0; i < CO_USAGE_FIELDS; i++) {
		int64_t used = co_usage_get(&b->used, i);
		int64_t limit = co_usage_get(&b->limits.limit, i);
		if (!(b->limits.set & co_limit_bit(i)) || used < limit)
			continue;
		co_buf u, l;
		co_buf_init(&u);
		co_buf_init(&l);
		put_amount(&u, i, used);
		put_amount(&l, i, limit);
		co_err_set(CO_ECONFLICT, "workspace %s is over its budget: %s used %s of its limit %s "
			   "in the last %d days", ws_id, names[i], u.data ? u.data : "?",
			   l.data ? l.data : "?", CO_BUDGET_WINDOW_DAYS);
		co_buf_free(&u);
		co_buf_free(&l);
		return CO_ECONFLICT;
	}
	return co_err_set(CO_ECONFLICT, "workspace %s is over its budget", ws_id);
}

void co_budget_to_json(const co_budget *bud, co_buf *out)
{
	static const char *const used_names[F_COUNT] = {"seconds_used", "input_tokens",
							"output_tokens", "cost_usd"};
	co_buf_putc(out, '{');
	co_buf_json_key(out, "window_days", true);
	co_buf_i64(out, CO_BUDGET_WINDOW_DAYS);
	for (int f = 0; f < F_COUNT; f++) {
		co_buf_json_key(out, used_names[f], false);
		put_amount(out, f, field_get(&bud->used, f));
	}
	co_buf_json_key(out, "limits", false);
	co_buf_putc(out, '{');
	bool first = true;
	for (int f = 0; f < F_COUNT; f++) {
		if (!(bud->limits.set & field_bits[f]))
			continue;
		co_buf_json_key(out, field_names[f], first);
		put_amount(out, f, field_get(&bud->limits.limit, f));
		first = false;
	}
	co_buf_putc(out, '}');
	co_buf_json_key(out, "exceeded", false);
	co_buf_puts(out, bud->exceeded ? "true" : "false");
	co_buf_putc(out, '}');
}
