/*
 * sched.c — when a rule runs: the slots of a schedule on the wall clock of
 * the rule's time zone, and whether one is due.
 *
 * A schedule ([rule] schedule; its grammar is mlc_rule_cron's in rule.c)
 * names wall-clock minutes in the rule's zone: its slots.  A slot is
 * *reached* at the first instant the zone's clock shows that time or a
 * later one.  That one definition settles every DST case:
 *
 *   - a time that occurs once is reached when it occurs;
 *   - a time the clock skips (02:30 on a spring-forward night in New York)
 *     is reached at the first instant after the gap (03:00), together with
 *     every other slot in the gap: one run for all of them;
 *   - a time that occurs twice (01:30 on a fall-back night) is reached at
 *     its first occurrence; at the second the clock is behind its own
 *     high-water mark, so nothing new is reached.
 *
 * A rule is due at instant t when a slot after the last one it fired has
 * been reached: next(last) <= hwm(t), where hwm(t) is the latest wall time
 * the clock has shown at or before t.  Firing records prev(hwm(t)), the
 * latest slot reached, as the last one fired: however many slots were
 * missed (host down, cron stopped), they make one run.  So the answer does
 * not depend on when or how often the caller asks: cron every minute, a
 * systemd timer at the slots, or a host back after three days.
 *
 * Wall times are counted as civil minutes (or seconds) since 1970-01-01
 * 00:00 on the wall clock, as if it were UTC: no zone in the number.
 *
 * hwm(t) needs the zone's offsets near t.  The C library converts only in
 * the process's TZ, so the functions that take instants work in the current
 * TZ: callers wrap them in mlc_tz_enter/mlc_tz_leave (util.c).  Offsets are
 * probed with localtime_r, never derived with mktime (whose choice in a gap
 * or an overlap is unspecified).  The probes rely on a fact of the tz
 * database, checked for every zone from 1970 to 2100 with zdump(8):
 * transitions are more than a week apart, and no clock went back by more
 * than 7 hours.  So two probes SPAN apart with equal offsets mean no
 * transition between them, and different ones mean exactly one, found by
 * bisection.  Were that ever false, a slot would be reached late (at its
 * second occurrence), never twice.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

#define SPAN (26 * 3600L)              /* look-back for a clock that went back */
#define HORIZON (10LL * 366 * 1440)    /* how far next/prev look, in minutes */
#define MIN_PER_DAY 1440LL

static long long
fdiv(long long a, long long b)
{
	long long q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- cron fields ---- */

int
mlc_sched_field(const char *f, size_t n, int lo, int hi, uint64_t *bits)
{
	size_t i = 0;

	*bits = 0;
	if (n == 0)
		return -1;
	while (i < n) {
		long a, b, step = 1, v;
		char *end;

		if (f[i] == '*') {
			a = lo;
			b = hi;
			i++;
		} else {
			if (!(f[i] >= '0' && f[i] <= '9'))
				return -1;
			a = strtol(f + i, &end, 10);
			i = (size_t)(end - f);
			if (a < lo || a > hi)
				return -1;
			b = a;
			if (i < n && f[i] == '-') {
				i++;
				if (i >= n || !(f[i] >= '0' && f[i] <= '9'))
					return -1;
				b = strtol(f + i, &end, 10);
				i = (size_t)(end - f);
				if (b < a || b > hi)
					return -1;
			} else if (i < n && f[i] == '/') {
				b = hi; /* "a/s": from a to the end, as cron reads it */
			}
		}
		if (i < n && f[i] == '/') {
			i++;
			if (i >= n || !(f[i] >= '1' && f[i] <= '9'))
				return -1;
			step = strtol(f + i, &end, 10);
			i = (size_t)(end - f);
			if (step > hi - lo + 1)
				step = hi - lo + 1;
		}
		for (v = a; v <= b; v += step)
			*bits |= 1ULL << v;
		if (i < n) {
			if (f[i] != ',')
				return -1;
			i++;
			if (i == n)
				return -1;
		}
	}
	return 0;
}

static void
civil(long long cmin, struct tm *tm)
{
	time_t t = (time_t)(cmin * 60);

	gmtime_r(&t, tm);
}

static int
day_ok(const struct mlc_sched *s, const struct tm *tm)
{
	int dom = (int)(s->dom >> tm->tm_mday) & 1, dow = (s->dow >> tm->tm_wday) & 1;

	/* cron(8): when both day fields are restricted, either may match. */
	return s->dom_star || s->dow_star ? dom && dow : dom || dow;
}

int
mlc_sched_parse(struct mlc_sched *s, const char *schedule, char *err, size_t errlen)
{
	static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
	char cron[128];
	uint64_t bits[5];
	const char *p = cron;
	int i;

	memset(s, 0, sizeof *s);
	if (mlc_rule_cron(schedule, cron, sizeof cron, err, errlen) < 0)
		return -1;
	for (i = 0; i < 5; i++) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (mlc_sched_field(p, n, lo[i], hi[i], &bits[i]) < 0) {
			snprintf(err, errlen, "bad cron field %d in \"%s\"", i + 1, schedule);
			return -1;
		}
		if (i == 2)
			s->dom_star = *p == '*';
		if (i == 4)
			s->dow_star = *p == '*';
		p += n;
	}
	s->min = bits[0];
	s->hour = (uint32_t)bits[1];
	s->dom = (uint32_t)bits[2];
	s->mon = (uint16_t)bits[3];
	s->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
	/* "cron 0 0 31 2 *" is well-formed and never comes: say so now, not
	 * by silence.  Every date that exists comes within 9 years of 2000. */
	if (mlc_sched_next(s, (long long)mlc_time_days(2000, 1, 1) * MIN_PER_DAY - 1) ==
	    MLC_SCHED_NEVER) {
		snprintf(err, errlen, "schedule \"%s\" names no day that exists", schedule);
		return -1;
	}
	return 0;
}

/* The first set bit of v at or after i (up to 63), or -1; the last at or before. */
static int
bit_up(uint64_t v, int i)
{
	for (; i < 64; i++)
		if (v >> i & 1)
			return i;
	return -1;
}

static int
bit_down(uint64_t v, int i)
{
	for (; i >= 0; i--)
		if (v >> i & 1)
			return i;
	return -1;
}

/* One day at a time (one gmtime_r each); hours and minutes by bit scans. */
long long
mlc_sched_next(const struct mlc_sched *s, long long after)
{
	long long c = after + 1, end = after + HORIZON;
	struct tm tm;

	while (c <= end) {
		long long day = fdiv(c, MIN_PER_DAY);
		int h, m;

		civil(c, &tm);
		if (!(s->mon >> (tm.tm_mon + 1) & 1)) {
			int y = tm.tm_year + 1900, mo = tm.tm_mon + 2;

			if (mo > 12) {
				mo = 1;
				y++;
			}
			c = mlc_time_days(y, mo, 1) * MIN_PER_DAY;
			continue;
		}
		if (day_ok(s, &tm)) {
			for (h = bit_up(s->hour, tm.tm_hour); h >= 0 && h < 24;
			     h = bit_up(s->hour, h + 1)) {
				m = bit_up(s->min, h == tm.tm_hour ? tm.tm_min : 0);
				if (m >= 0 && m < 60)
					return day * MIN_PER_DAY + h * 60 + m;
			}
		}
		c = (day + 1) * MIN_PER_DAY;
	}
	return MLC_SCHED_NEVER;
}

long long
mlc_sched_prev(const struct mlc_sched *s, long long atmost)
{
	long long c = atmost, end = atmost - HORIZON;
	struct tm tm;

	while (c >= end) {
		long long day = fdiv(c, MIN_PER_DAY);
		int h, m;

		civil(c, &tm);
		if (!(s->mon >> (tm.tm_mon + 1) & 1)) {
			c = mlc_time_days(tm.tm_year + 1900, tm.tm_mon + 1, 1) * MIN_PER_DAY - 1;
			continue;
		}
		if (day_ok(s, &tm)) {
			for (h = bit_down(s->hour, tm.tm_hour); h >= 0; h = bit_down(s->hour, h - 1)) {
				m = bit_down(s->min, h == tm.tm_hour ? tm.tm_min : 59);
				if (m >= 0)
					return day * MIN_PER_DAY + h * 60 + m;
			}
		}
		c = day * MIN_PER_DAY - 1;
	}
	return MLC_SCHED_NONE;
}

long
mlc_sched_count(const struct mlc_sched *s, long long after, long long upto, long cap)
{
	long n = 0;

	while (n < cap && (after = mlc_sched_next(s, after)) <= upto)
		n++;
	return n;
}

void
mlc_sched_fmt(long long cmin, char out[32])
{
	struct tm tm;

	civil(cmin, &tm);
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u", (unsigned)(tm.tm_year + 1900) % 100000u,
	         (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
	         (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u);
}

int
mlc_sched_scan(const char *s, long long *cmin)
{
	int y, mo, d, h, mi, n = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5 || s[n] ||
	    n != 16 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
		return -1;
	*cmin = mlc_time_days(y, mo, d) * MIN_PER_DAY + h * 60 + mi;
	return 0;
}

/* ---- the wall clock of the current TZ ---- */

static long
off_at(time_t t)
{
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return 0;
	return tm.tm_gmtoff;
}

long long
mlc_sched_hwm(time_t t)
{
	long o1 = off_at(t), o0 = off_at(t - SPAN);
	long long w = (long long)t + o1;

	if (o0 != o1) {
		/* One transition in (t - SPAN, t]: if the clock went back, the
		 * last second before it showed more than the clock shows now. */
		time_t lo = t - SPAN, hi = t;

		while (hi - lo > 1) {
			time_t mid = lo + (hi - lo) / 2;

			if (off_at(mid) == o0)
				lo = mid;
			else
				hi = mid;
		}
		if ((long long)lo + o0 > w)
			w = (long long)lo + o0;
	}
	return w;
}

time_t
mlc_sched_reach(long long cmin)
{
	long long wall = cmin * 60;
	time_t lo = (time_t)(wall - 2 * SPAN), hi = (time_t)(wall + 2 * SPAN);
	int i;

	/* Offsets stay within a day of UTC, so this holds at once; widen in
	 * case a zone ever says otherwise. */
	for (i = 0; i < 16 && mlc_sched_hwm(lo) >= wall; i++)
		lo -= 2 * SPAN;
	for (i = 0; i < 16 && mlc_sched_hwm(hi) < wall; i++)
		hi += 2 * SPAN;
	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;

		if (mlc_sched_hwm(mid) >= wall)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

time_t
mlc_sched_reach_after(long long cmin, time_t t)
{
	long long wall = cmin * 60;
	time_t lo = t, hi = t + SPAN;
	time_t r = mlc_sched_reach(cmin);

	if (r > t)
		return r;
	/* The clock went back since it first showed cmin and may show it
	 * again: from t on it only goes forward for more than a week (see the
	 * top), so the first instant it shows cmin or later is a bisection on
	 * the plain wall time.  Within SPAN, or never (as for a time already
	 * shown since t: then t itself). */
	if ((long long)t + off_at(t) >= wall)
		return t;
	if ((long long)hi + off_at(hi) < wall)
		return r;
	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;

		if ((long long)mid + off_at(mid) >= wall)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

long long
mlc_sched_baseline(const struct mlc_sched *s, time_t now)
{
	long long w = fdiv(mlc_sched_hwm(now - 60), 60), b = mlc_sched_prev(s, w);

	return b == MLC_SCHED_NONE ? w : b;
}

int
mlc_sched_due(const struct mlc_sched *s, long long last, time_t now, long long *upto)
{
	long long w = fdiv(mlc_sched_hwm(now), 60);

	if (last == MLC_SCHED_NONE || mlc_sched_next(s, last) > w)
		return 0;
	*upto = mlc_sched_prev(s, w);
	return 1;
}

/*
 * Where the clock comes out of a gap that swallows a slot: the transition
 * instant T (offset before ob, after oa > ob) skips the wall times
 * [T + ob, T + oa).  Adds to tod (sorted, distinct, at most max) the wall
 * time of day at T, and returns the new count.
 *
 * systemd (checked with 252) looks for the next event hour first, from the
 * hour's :00, which mktime moves forward out of a gap: an event in an hour
 * that starts inside the gap is skipped for the day.  Chatham's gap is
 * 02:45-03:45, so 03:45 is skipped, 04:00 is not: when the hour of the
 * exit starts inside the gap, the next full hour is added too.  Whichever
 * fires first runs the slot; the other finds nothing due.
 */
static int
tod_add(int *tod, int n, int max, long long wall)
{
	int x = (int)(wall - fdiv(wall, 86400) * 86400), i, j;

	for (i = 0; i < n && tod[i] < x; i++)
		;
	if ((i == n || tod[i] != x) && n < max) {
		for (j = n; j > i; j--)
			tod[j] = tod[j - 1];
		tod[i] = x;
		n++;
	}
	return n;
}

static int
gap_exit(const struct mlc_sched *s, time_t T, long ob, long oa, int *tod, int n, int max)
{
	long long from = (long long)T + ob, to = (long long)T + oa, hour = fdiv(to, 3600) * 3600;
	long long first = mlc_sched_next(s, fdiv(from + 59, 60) - 1);

	if (first == MLC_SCHED_NEVER || first * 60 >= to)
		return n;
	n = tod_add(tod, n, max, to);
	if (hour > from && hour < to)
		n = tod_add(tod, n, max, hour + 3600);
	return n;
}

int
mlc_sched_gap_exits(const struct mlc_sched *s, time_t from, time_t to, int *tod, int max)
{
	const time_t step = 6 * 3600; /* well under the week between transitions */
	time_t t;
	long o = off_at(from);
	int n = 0;

	for (t = from; t < to; t += step) {
		time_t u = t + step, lo = t, hi = u;
		long ou = off_at(u);

		if (ou == o)
			continue;
		while (hi - lo > 1) {
			time_t mid = lo + (hi - lo) / 2;

			if (off_at(mid) == o)
				lo = mid;
			else
				hi = mid;
		}
		if (ou > o)
			n = gap_exit(s, hi, o, ou, tod, n, max);
		o = ou;
	}
	return n;
}

/* ---- systemd calendar events ---- */

/* The set bits of v in lo..hi as a systemd list ("08", "00,15,30,45"), or
 * "*" when all are set. */
static void
cal_list(struct mlc_buf *b, uint64_t v, int lo, int hi)
{
	int i, first = 1;

	if (((v >> lo) & ((2ULL << (hi - lo)) - 1)) == (2ULL << (hi - lo)) - 1) {
		mlc_buf_addc(b, '*');
		return;
	}
	for (i = lo; i <= hi; i++)
		if (v >> i & 1) {
			mlc_buf_printf(b, "%s%02d", first ? "" : ",", i);
			first = 0;
		}
}

static void
cal_line(struct mlc_buf *b, const struct mlc_sched *s, int dow, int dom, const char *zone)
{
	static const char *const names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	int k;

	if (dow && (s->dow & 0x7f) != 0x7f) {
		/* Monday first, as systemd writes them; runs of three or more
		 * become ranges: "Mon..Fri". */
		int first = 1;

		for (k = 1; k <= 7; k++) {
			int d = k % 7, e = k;

			if (!(s->dow >> d & 1))
				continue;
			while (e < 7 && s->dow >> ((e + 1) % 7) & 1)
				e++;
			mlc_buf_printf(b, "%s%s", first ? "" : ",", names[d]);
			if (e - k >= 2) {
				mlc_buf_printf(b, "..%s", names[e % 7]);
				k = e;
			}
			first = 0;
		}
		mlc_buf_addc(b, ' ');
	}
	mlc_buf_adds(b, "*-");
	cal_list(b, s->mon, 1, 12);
	mlc_buf_addc(b, '-');
	if (dom)
		cal_list(b, s->dom, 1, 31);
	else
		mlc_buf_addc(b, '*');
	mlc_buf_addc(b, ' ');
	cal_list(b, s->hour, 0, 23);
	mlc_buf_addc(b, ':');
	cal_list(b, s->min, 0, 59);
	mlc_buf_printf(b, ":00 %s\n", zone);
}

void
mlc_sched_oncalendar(const struct mlc_sched *s, const char *zone, struct mlc_buf *b)
{
	/* systemd requires the weekday and the date to match; cron takes
	 * either when both are restricted: two events, one for each. */
	if (!s->dom_star && !s->dow_star) {
		cal_line(b, s, 1, 0, zone);
		cal_line(b, s, 0, 1, zone);
	} else {
		cal_line(b, s, 1, 1, zone);
	}
}
