#!/usr/bin/python3
"""oracle.py — compares colony's cron engine (through tests/cron/cron_driver) with a
reference built from python3-croniter and the standard library's zoneinfo.

DESIGN NOTES
 1. croniter (1.3.5, Debian's) is the reference for FIELD SEMANTICS ONLY: it is run on
    naive datetimes, where it has no time zone to get wrong, to enumerate the matching
    wall-clock minutes. Its own tz handling misfires around DST changes (for example
    "30 2 * * *" in Europe/Berlin fires at the non-existent 2026-03-29 02:30+01:00), so
    it is never given a zone.
 2. zoneinfo maps each wall time L to an instant by cron.h note 4: if L exists, its
    earliest instant (fold=0 and fold=1 each checked by a round trip); if it falls in a
    gap, the instant the gap ends (the smallest UTC second whose wall clock is past L,
    found by binary search). The expected next fire after t is the smallest mapped
    instant > t over ALL matching wall times, found without assuming the mapping is
    monotonic: the enumeration starts early enough (the spread of UTC offsets near t,
    before the wall clock at t) and stops only when no later wall time can map below
    the best instant found. Coalesced instants are naturally deduplicated by "> t".
 3. Cases: expressions from a seeded RNG (the seed is printed; --seed repeats a run)
    covering *, lists, ranges, steps, N/step, names in any case, 7 for Sunday, macros
    and day-of-month + day-of-week both restricted; zones with 60- and 30-minute DST,
    odd offsets, negative and 24:00 rule times; start instants uniform over 2000–2037,
    within ±2 days (or ±3 hours) of the zones' DST transitions of 2020–2035 (with
    exact-transition and ±1 µs edges), and some historical (sub-minute LMT offsets) or
    far-future ones (2038–2150, where the TZif footer rule, not its table, applies).
    Near transitions, the hour field is often widened so that fires land in the
    changed hour. Each case chains several next values; all go through one driver run.
 4. If croniter raises for an expression, the case is skipped only if our parser also
    rejects it (counted and reported); any other disagreement is a mismatch.
 5. A list of invalid expressions must each produce "ERR" from the driver.
Exit status 0 when everything agrees, 1 otherwise (mismatches are printed).
"""
import argparse
import datetime as dt
import random
import subprocess
import sys
import time
import zoneinfo

from croniter import croniter

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",  # +05:45 (and +05:30 before 1986)
    "America/Sao_Paulo",  # DST until 2019, none since
    "Pacific/Chatham",  # +12:45 / +13:45, transitions at 02:45 and 03:45
    "America/Santiago",  # rule times of 24:00
    "America/Nuuk",  # rule time -1:00
    "Europe/Dublin",  # "negative DST" in the source data
]
FOCUS_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]

EPOCH = dt.datetime(1970, 1, 1)
SEC = 10**6
DAY = 86400
SEARCH_LIMIT = 10 * 366 * DAY  # as co_cron_next: 10 years of wall clock

# ---- time zone helpers ------------------------------------------------------------------

_zone_cache = {}


def zone(name):
    z = _zone_cache.get(name)
    if z is None:
        z = _zone_cache[name] = zoneinfo.ZoneInfo(name)
    return z


def offset_at(zname, u):
    """UTC offset (seconds east) of zone zname at UTC second u, straight from zoneinfo."""
    return int(dt.datetime.fromtimestamp(u, zone(zname)).utcoffset().total_seconds())


def wall(zname, u):
    """Local seconds (wall clock as if UTC) at UTC second u."""
    return u + offset_at(zname, u)


def first_instant(zname, L):
    """(instant, kind): the instant wall time L (local seconds) fires at, per cron.h
    note 4, and whether L was "unique", "ambiguous" (repeated) or in a "gap"."""
    naive = EPOCH + dt.timedelta(seconds=L)
    cands = []
    for fold in (0, 1):
        off = naive.replace(tzinfo=zone(zname), fold=fold).utcoffset()
        u = L - int(off.total_seconds())
        cands.append(u)
    exact = sorted(set(u for u in cands if wall(zname, u) == L))
    if exact:
        return exact[0], "ambiguous" if len(exact) > 1 else "unique"
    # A gap: the smallest u with wall(u) > L lies in (lo, hi].
    lo, hi = min(cands), max(cands)
    if not (wall(zname, lo) < L < wall(zname, hi)):
        raise RuntimeError("cannot bracket the gap at %s in %s" % (naive, zname))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(zname, mid) > L:
            hi = mid
        else:
            lo = mid
    return hi, "gap"


class Transitions:
    """The zone's offset changes, found year by year on demand by sampling zoneinfo
    twice a day and bisecting each change to the second. Used only to bound the offsets
    near an instant (the enumeration window of note 2) and to pick start instants near
    transitions."""

    def __init__(self, zname):
        self.zname = zname
        self.years = {}  # year -> [(at, offset from then on)]

    def in_year(self, y):
        lst = self.years.get(y)
        if lst is not None:
            return lst
        lst = []
        lo_u = to_us(y) // SEC
        hi_u = to_us(y + 1) // SEC
        prev_u, prev_o = lo_u, offset_at(self.zname, lo_u)
        for u in list(range(lo_u + DAY // 2, hi_u, DAY // 2)) + [hi_u]:
            o = offset_at(self.zname, u)
            if o != prev_o:
                lo, hi = prev_u, u  # offset(lo) = prev_o, offset(hi) != prev_o
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if offset_at(self.zname, mid) == prev_o:
                        lo = mid
                    else:
                        hi = mid
                lst.append((hi, offset_at(self.zname, hi)))
                if lst[-1][1] != o:  # a second change within the same half day
                    lst.append((u, o))
            prev_u, prev_o = u, o
        self.years[y] = lst
        return lst

    def between(self, a, b):
        """The transitions within [a, b] (UTC seconds)."""
        ya = (EPOCH + dt.timedelta(seconds=a)).year
        yb = (EPOCH + dt.timedelta(seconds=b)).year
        return [(u, o) for y in range(ya, yb + 1) for u, o in self.in_year(y) if a <= u <= b]

    def offsets_between(self, a, b):
        """Every offset in effect at some second of [a, b]."""
        return {offset_at(self.zname, a)} | {o for _, o in self.between(a, b)}


_trans_cache = {}


def transitions(zname):
    t = _trans_cache.get(zname)
    if t is None:
        t = _trans_cache[zname] = Transitions(zname)
    return t


# ---- the expected answer ----------------------------------------------------------------


def to_local_seconds(naive):
    return (naive - EPOCH) // dt.timedelta(seconds=1)


COVERAGE = {"unique": 0, "ambiguous": 0, "gap": 0}  # kinds of the expected instants


def expected_next(it, zname, t_us):
    """The expected co_cron_next(expr, zone, t_us) in µs, or None (nothing within the
    search limit). `it` is a NaiveCron (note 2)."""
    t = t_us // SEC  # the instant's second; "u > t" ⇔ "u·10⁶ > t_us" for whole u
    W = wall(zname, t)
    tr = transitions(zname)
    near = tr.offsets_between(t - 2 * DAY, t + 2 * DAY)
    spread = max(near) - min(near)
    # Every wall time L < W - spread maps to an instant <= t: start just before that.
    start = (W - spread) // 60 * 60 - 60
    it.set_current(EPOCH + dt.timedelta(seconds=start - 1))
    best = best_kind = None
    best_max_off = None
    while True:
        L = to_local_seconds(it.get_next())
        if L > W + SEARCH_LIMIT:
            return None if best is None else best * SEC
        if best is not None and L - best_max_off > best:
            COVERAGE[best_kind] += 1
            return best * SEC  # f(L) >= L - max offset near it > best, for all later L
        u, kind = first_instant(zname, L)
        if u > t and (best is None or u < best):
            best, best_kind = u, kind
            best_max_off = max(tr.offsets_between(best - 2 * DAY, best + 2 * DAY))


class NaiveCron:
    """Matching wall minutes of `expr`, in order, from croniter on naive datetimes.

    croniter.expand() parses the expression (names, ranges, steps, 7 = Sunday, macros,
    what is restricted): that is the field semantics under test. The enumeration is then
    done by plain croniters over numeric lists, merged, to step around two bugs of
    croniter 1.3.5's get_next:
     a. With day-of-month and day-of-week both restricted it computes the next match of
        each alone and takes the earlier, but raises CroniterBadDateError when one can
        never match ("* * 31 11 6": no November 31st, yet every Saturday of November
        matches). So the two halves of the OR rule are separate croniters here, a half
        that never matches being empty.
     b. Its day-of-month step picks a listed day even when the current month lacks it
        (31 in February), overshoots into the next month and skips that month's early
        days: "0 0 */6 * *" from 2022-02-26 gives March 7, not March 1. Days 1-28 exist
        in every month, and an overshoot from day 29-31 lands on day 1-3 of the next
        month, which no day >= 29 can miss: so the day-of-month set is split into
        1-28 and 29-31, each run by its own croniter."""

    def __init__(self, expr):
        ex, _ = croniter.expand(expr)  # raises for what croniter rejects

        def text(vals):
            return "*" if vals[0] == "*" else ",".join(str(v) for v in vals)

        days = [(ex[2], ["*"]), (["*"], ex[4])] if ex[2][0] != "*" and ex[4][0] != "*" \
            else [(ex[2], ex[4])]
        self.halves = []
        for dom, dow in days:
            doms = [dom] if dom[0] == "*" else [[d for d in dom if d <= 28],
                                               [d for d in dom if d > 28]]
            for part in doms:
                if part:
                    e = " ".join([text(ex[0]), text(ex[1]), text(part), text(ex[3]), text(dow)])
                    self.halves.append(croniter(e, EPOCH))
        self.pending = []

    def set_current(self, naive):
        for h in self.halves:
            h.set_current(naive, force=True)
        self.pending = [self._next(h) for h in self.halves]

    @staticmethod
    def _next(h):
        try:
            return h.get_next(dt.datetime)
        except Exception as exc:
            if type(exc).__name__ == "CroniterBadDateError":
                return None  # this half never matches
            raise

    def get_next(self):
        live = [p for p in self.pending if p is not None]
        if not live:
            raise RuntimeError("croniter finds no match at all")
        n = min(live)
        for i, h in enumerate(self.halves):
            if self.pending[i] == n:
                self.pending[i] = self._next(h)
        return n


# ---- random cases -----------------------------------------------------------------------

FIELDS = [  # name, lo, hi, names
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("dom", 1, 31, None),
    ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun",
                      "jul", "aug", "sep", "oct", "nov", "dec"]),
    ("dow", 0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
]
MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]


def rand_case(rng, s):
    r = rng.random()
    return s.upper() if r < 0.4 else s if r < 0.8 else s.capitalize()


def value_text(rng, fi, v, sunday7=True):
    """v as a number or a name; a lone Sunday may be written 7."""
    name, lo, hi, names = FIELDS[fi]
    if names and rng.random() < 0.35:
        if fi == 4 and v == 7:
            return "7"
        return rand_case(rng, names[v - lo])
    if fi == 4 and v == 0 and sunday7 and rng.random() < 0.3:
        return "7"
    return str(v)


def rand_item(rng, fi):
    name, lo, hi, names = FIELDS[fi]
    span = hi - lo + 1
    k = rng.random()
    if k < 0.15:
        return "*/%d" % rng.randint(1, span + 3)
    if k < 0.45:
        # DST hours are interesting: bias hours to 0-4
        if fi == 1 and rng.random() < 0.5:
            return str(rng.randint(0, 4))
        return value_text(rng, fi, rng.randint(lo, hi))
    if k < 0.75:
        a = rng.randint(lo, hi)
        b = rng.randint(a, hi)
        if fi == 4 and names and rng.random() < 0.2 and a > 0:
            # a range ending in the name SUN means ...-7 (MON-SUN)
            return "%s-%s" % (value_text(rng, fi, a) if a < 7 else "sat", rand_case(rng, "sun"))
        at = value_text(rng, fi, a, sunday7=False)
        bt = value_text(rng, fi, b, sunday7=False)
        if fi == 4 and a < 7 and b == 7 and names and rng.random() < 0.5:
            bt = "7"
        item = "%s-%s" % (at, bt)
        if rng.random() < 0.35:
            item += "/%d" % rng.randint(1, span)
        return item
    if k < 0.88:
        return "%s/%d" % (value_text(rng, fi, rng.randint(lo, hi)), rng.randint(1, span))
    return "*"


def rand_field(rng, fi):
    p_star = [0.15, 0.45, 0.6, 0.65, 0.6][fi]
    if rng.random() < p_star:
        return "*"
    n = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
    return ",".join(rand_item(rng, fi) for _ in range(n))


def rand_expr(rng):
    if rng.random() < 0.05:
        return rand_case(rng, rng.choice(MACROS)) if rng.random() < 0.3 else rng.choice(MACROS)
    f = [rand_field(rng, i) for i in range(5)]
    if rng.random() < 0.15:  # both day fields restricted: the OR rule
        if f[2] == "*":
            f[2] = rand_item(rng, 2)
        if f[4] == "*":
            f[4] = rand_item(rng, 4)
    sep = " " if rng.random() < 0.9 else "   "  # (no tabs: the driver's separator)
    return sep.join(f)


def to_us(y, mo=1, d=1):
    return int((dt.datetime(y, mo, d) - EPOCH).total_seconds()) * SEC


# Far-future starts stay well before 2200, where colony stops expanding the footer rule
# (tz.h note 1) but zoneinfo does not: even a chain of leap days must not reach it.
FAR_END = 2150


def rand_start(rng, zname):
    """(start µs, whether it is near a DST transition)."""
    k = rng.random()
    if k < 0.35:
        return rng.randrange(to_us(2000), to_us(2038)), False
    if k < 0.4:
        return rng.randrange(to_us(1890), to_us(2000)), False
    if k < 0.45:
        return rng.randrange(to_us(2038), to_us(FAR_END)), False
    tr = transitions(zname)
    if k < 0.5:  # far future: the TZ footer rule, not the table, gives the offsets
        span = (2038, FAR_END)
    elif k < 0.6:
        span = (1970, 2038)
    else:
        span = (2020, 2036)
    at = [u for u, _ in tr.between(to_us(span[0]) // SEC, to_us(span[1]) // SEC - 1)]
    if not at:  # no transition there (UTC, Kathmandu since 1986, Sao Paulo since 2019)
        at = [u for u, _ in tr.between(to_us(1970) // SEC, to_us(2038) // SEC - 1)]
    if not at:
        return rng.randrange(to_us(2000), to_us(2038)), False
    T = rng.choice(at) * SEC
    e = rng.random()
    if e < 0.15:
        return T + rng.choice([0, -1, 1, -SEC, SEC, -60 * SEC, 60 * SEC]), True
    if e < 0.65:  # whole minutes near the transition
        return T + rng.randint(-180, 180) * 60 * SEC, True
    return T + rng.randint(-2 * DAY * SEC, 2 * DAY * SEC), True


# ---- reporting --------------------------------------------------------------------------


def show(zname, us):
    if us is None:
        return "NONE"
    u = us // SEC
    utc = (EPOCH + dt.timedelta(microseconds=us)).isoformat() + "Z"
    local = dt.datetime.fromtimestamp(u, zone(zname)).isoformat()
    return "%s (%s)" % (utc, local)


INVALID = [
    "", "   ", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
    "* * 32 * *", "* * * 0 *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *",
    "1,,2 * * * *", "1, * * * *", ",1 * * * *", "1-2-3 * * * *", "*/2/3 * * * *",
    "5x * * * *", "* * * * fri-mon", "* * * foo *", "* * * * L", "* * L * *", "* * 15W * *",
    "* * * * 5#2", "? * * * *", "@reboot", "@every", "@daily 1", "0 0 30 2 *",
    "0 0 31 4,6,9,11 *", "-1 * * * *", "* * * * 5-0", "* * * jan-dec-2 *", "*-5 * * * *",
    "1/ * * * *", "/5 * * * *", "* * * * mon/0", "a * * * *", "* * * * 7-1", "*/a * * * *",
    "0 0 1 1 * 2026", "x" * 300, "0 0 * * * extra",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--driver", required=True, help="path to the cron_driver binary")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cases", type=int, default=5000, help="number of random cases")
    ap.add_argument("--chain", type=int, default=5, help="next values per case")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print("oracle: seed %d (repeat with --seed %d)" % (seed, seed), flush=True)
    rng = random.Random(seed)
    t0 = time.monotonic()

    cases = []  # (expr, zone, start_us)
    for i in range(args.cases):
        zname = rng.choice(FOCUS_ZONES) if rng.random() < 0.6 else rng.choice(ZONES)
        start, near = rand_start(rng, zname)
        expr = rand_expr(rng)
        f = expr.split()
        if near and len(f) == 5 and rng.random() < 0.4:
            # fire in the changed hour more often: every hour, or the early-morning ones
            f[1] = "*" if rng.random() < 0.5 else rng.choice(["0-4", "1,2,3", "2", "*/2"])
            if rng.random() < 0.5:
                f[2] = f[3] = f[4] = "*"
            expr = " ".join(f)
        cases.append((expr, zname, start))
    fixed = [  # the documented examples, always included
        ("30 2 * * *", "Europe/Berlin", to_us(2026, 3, 28)),
        ("*/20 * * * *", "Europe/Berlin", to_us(2026, 3, 29)),
        ("0 * * * *", "Europe/Berlin", to_us(2026, 10, 24) + 22 * 3600 * SEC),
        ("*/15 * * * *", "Australia/Lord_Howe", to_us(2026, 10, 3) + 15 * 3600 * SEC),
        ("*/15 * * * *", "Australia/Lord_Howe", to_us(2026, 4, 4) + 14 * 3600 * SEC),
        ("0 0 29 2 *", "Asia/Kathmandu", to_us(2090)),
        ("* * * * *", "America/New_York", to_us(2026, 3, 8) + 6 * 3600 * SEC + 59 * 60 * SEC),
    ]
    cases = fixed + cases

    lines = ["%s\t%s\t%d\t%d\n" % (e, z, s, args.chain) for e, z, s in cases]
    lines += ["%s\tUTC\t0\t1\n" % e for e in INVALID]
    lines += ["* * * * *\t%s\t0\t1\n" % z
              for z in ["Foo/Bar", "../etc/passwd", "/etc/passwd", "Europe/../UTC",
                        "Europe//Berlin", "Europe/Berlin/", ".", "", "Europe", "zone.tab",
                        "Europe/Berlin\x01", "a" * 300]]
    t_driver = time.monotonic()
    proc = subprocess.run([args.driver], input="".join(lines).encode(), stdout=subprocess.PIPE,
                          timeout=300)
    t_driver = time.monotonic() - t_driver
    out = proc.stdout.decode().split("\n")
    if proc.returncode != 0 or len(out) < len(lines):
        print("oracle: driver failed (status %d, %d of %d lines)"
              % (proc.returncode, len(out) - 1, len(lines)))
        return 1

    mismatches = skipped = compared = 0
    for i, (expr, zname, start) in enumerate(cases):
        got_line = out[i]
        try:
            it = NaiveCron(expr)
            expected = []
            t = start
            for _ in range(args.chain):
                t = expected_next(it, zname, t)
                expected.append(t)
                if t is None:
                    break
            cron_err = None
        except Exception as exc:  # croniter rejects (at parse or, never firing, at search)
            cron_err = "%s: %s" % (type(exc).__name__, exc)
        if cron_err is not None:
            if got_line.startswith("ERR "):
                skipped += 1
                print("oracle: skipped %r (croniter: %s; ours: %s)" % (expr, cron_err, got_line))
                continue
            mismatches += 1
            print("MISMATCH %r in %s: croniter rejects (%s), driver says %s"
                  % (expr, zname, cron_err, got_line))
            continue
        if got_line.startswith("ERR "):
            mismatches += 1
            print("MISMATCH %r in %s: driver rejects it: %s" % (expr, zname, got_line))
            continue
        got = [None if w == "NONE" else int(w) for w in got_line.split()]
        compared += len(expected)
        if got != expected:
            mismatches += 1
            k = next((j for j in range(max(len(got), len(expected)))
                      if j >= len(got) or j >= len(expected) or got[j] != expected[j]), 0)
            prev = start if k == 0 else expected[k - 1]
            print("MISMATCH %r in %s, start %s\n  next #%d after %s\n  expected %s\n  got      %s"
                  % (expr, zname, show(zname, start), k + 1, show(zname, prev),
                     show(zname, expected[k] if k < len(expected) else None),
                     show(zname, got[k] if k < len(got) else None)))

    base = len(cases)
    bad_invalid = 0
    for j, e in enumerate(INVALID):
        line = out[base + j]
        if not line.startswith("ERR "):
            bad_invalid += 1
            print("MISMATCH invalid expression %r accepted: %s" % (e, line))
    base += len(INVALID)
    for j in range(len(lines) - base):
        line = out[base + j]
        if not line.startswith("ERR "):
            bad_invalid += 1
            print("MISMATCH invalid zone in %r accepted: %s" % (lines[base + j], line))

    elapsed = time.monotonic() - t0
    print("oracle: expected instants from a wall time that was unique %(unique)d, "
          "repeated (clocks went back) %(ambiguous)d, skipped (in a gap) %(gap)d" % COVERAGE)
    print("oracle: seed %d: %d cases x %d next values (%d instants compared), %d skipped "
          "(both reject), %d mismatches; %d invalid inputs, %d accepted; driver %.1fs, "
          "total %.1fs" % (seed, len(cases), args.chain, compared, skipped, mismatches,
                           len(lines) - len(cases), bad_invalid, t_driver, elapsed))
    return 1 if mismatches or bad_invalid else 0


if __name__ == "__main__":
    sys.exit(main())
