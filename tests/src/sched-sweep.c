/*
 * sched-sweep — tests/1130: simulate a scheduler ticking for a week and
 * check that every scheduled slot runs exactly once, on time.
 *
 * usage: sched-sweep [-y YEAR] [-s SCHEDULE]... [-c CRONFIELDS] [-H HOSTZONE]...
 *                    [-D SCHEDULE]... [-F ZONEFILE] [ZONE...]
 *        sched-sweep -t TICKFILE -p START,END [-l SECONDS] [-s SCHEDULE]... ZONE
 *        sched-sweep -c CRONFIELDS -H HOSTZONE -q TIME
 *        sched-sweep -L [-y YEAR] -F ZONEFILE
 *
 * Ticks: -c gives the five time fields of the crontab line `ml-connector
 * schedule` wrote; each real minute of the week on which they match the
 * wall clock of a host zone (-H, default UTC) is a tick (cron(8) as the
 * naive model: for a line whose minute and hour are '*', Debian's cron
 * runs it every real minute across the host's DST changes too).  -t reads
 * the ticks (RFC 3339 or @epoch, one a line) from a file instead: the
 * firings of a systemd timer as systemd-analyze calendar lists them; -l
 * lets a run come that many seconds late (reported).
 *
 * At each tick the helper does what `ml-connector run --scheduled` does,
 * with libmlc's own functions: `mlc-rule due` (a rule first seen records
 * its baseline), and if due, `mlc-rule claim` (state read again, due again,
 * the latest slot reached recorded as fired).  The state lives in memory:
 * the database is exercised by the shell tests.
 *
 * The expected slots come from an oracle that shares no code with sched.c:
 * it steps through the week a minute at a time with localtime_r, keeps the
 * high-water mark of the zone's wall clock itself, and matches the four
 * schedule forms with its own few lines.  A slot is expected to be reached
 * at the first minute whose wall clock shows it or a later time.  Checked:
 * each slot reached after the first tick is covered by exactly one run,
 * that run happens in the minute the slot is reached (or in the first
 * minute after a downtime), and no run covers no slot.  -D SCHEDULE adds a
 * second pass per week for that schedule in which the ticks stop for three
 * days and resume: exactly one run catches up.
 *
 * Weeks: for each zone, the week around each transition of YEAR (default
 * 2027), or one week in January when it has none.  Zones from -F are swept
 * only if one of their offsets in YEAR is not a whole number of hours;
 * zones given as arguments always.  -L only lists the zones of -F that
 * would be swept.  (Loading hundreds of zones slows localtime_r down for
 * the rest of the process: glibc looks each abbreviation up in a list that
 * only grows.  So list in one process, sweep in another.)
 *
 * -q: does the crontab line fire in the minute of TIME (RFC 3339 or @epoch)
 * on a host in HOSTZONE?  Exit 0 if it does, 1 if not.
 *
 * Output: one line per zone, week, schedule and tick source, "ok ..." or
 * "FAIL ...: why"; exit 1 if any failed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

#define MAXTICK 20000
#define MAXSLOT 20000

static const char *const default_schedules[] = {
	"hourly", "hourly :15", "hourly :45", "daily 08:00", "daily 02:30", "daily 01:30",
	"daily 02:15", "daily 00:00", "weekdays 08:00", "every 15m", NULL
};

/* ---- the oracle's own schedule matcher ---- */

struct form {
	int kind; /* 'h' hourly, 'd' daily, 'w' weekdays, 'e' every */
	int h, m, n;
};

static int
form_parse(const char *s, struct form *f)
{
	memset(f, 0, sizeof *f);
	if (strcmp(s, "hourly") == 0)
		return f->kind = 'h', 0;
	if (sscanf(s, "hourly :%d", &f->m) == 1)
		return f->kind = 'h', 0;
	if (sscanf(s, "daily %d:%d", &f->h, &f->m) == 2)
		return f->kind = 'd', 0;
	if (sscanf(s, "weekdays %d:%d", &f->h, &f->m) == 2)
		return f->kind = 'w', 0;
	if (sscanf(s, "every %dm", &f->n) == 1 && f->n > 0)
		return f->kind = 'e', 0;
	return -1;
}

static int
form_match(const struct form *f, long long wallmin)
{
	time_t t = (time_t)(wallmin * 60);
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (f->kind) {
	case 'h':
		return tm.tm_min == f->m;
	case 'd':
		return tm.tm_hour == f->h && tm.tm_min == f->m;
	case 'w':
		return tm.tm_wday >= 1 && tm.tm_wday <= 5 && tm.tm_hour == f->h && tm.tm_min == f->m;
	default:
		return tm.tm_min % f->n == 0;
	}
}

static long long
floordiv(long long a, long long b)
{
	long long q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static long
offset(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_gmtoff;
}

struct slot {
	long long wall;  /* civil minute */
	time_t reached;  /* first minute the clock shows it or later */
	int runs;        /* runs that covered it */
	time_t run_at;
};

/* The week's wall clock, minute by minute (current TZ), from two days
 * before it, so that a repeated hour at the start is known. */
#define WARMUP (2 * 86400)
static long long wallclock[MAXTICK];
static time_t wall_from;
static int nwall;

static void
wall_fill(time_t from, time_t to)
{
	time_t m;

	wall_from = from - WARMUP;
	for (nwall = 0, m = wall_from; m < to && nwall < MAXTICK; m += 60)
		wallclock[nwall++] = floordiv((long long)m + offset(m), 60);
}

/* The slots reached in [from, to), by brute force. */
static int
oracle(const struct form *f, time_t from, struct slot *out, int max)
{
	long long hwm = LLONG_MIN;
	int n = 0, i;

	for (i = 0; i < nwall; i++) {
		time_t m = wall_from + 60 * (time_t)i;
		long long w = wallclock[i], L;

		if (hwm != LLONG_MIN && w > hwm) {
			for (L = hwm + 1; L <= w; L++)
				if (m >= from && form_match(f, L) && n < max) {
					out[n].wall = L;
					out[n].reached = m;
					out[n].runs = 0;
					out[n].run_at = 0;
					n++;
				}
		}
		if (hwm == LLONG_MIN || w > hwm)
			hwm = w;
	}
	return n;
}

/* ---- ticks ---- */

static int
cron_ticks(const char *fields, const char *host, time_t from, time_t to, time_t *out, int max)
{
	static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
	uint64_t b[5];
	struct mlc_tz_saved sv;
	const char *p = fields;
	time_t m;
	int i, n = 0, star[5];

	for (i = 0; i < 5; i++) {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		star[i] = *p == '*';
		if (mlc_sched_field(p, len, lo[i], hi[i], &b[i]) < 0)
			mlc_die(MLC_EX_USAGE, "bad cron fields \"%s\"", fields);
		p += len;
	}
	b[4] |= b[4] >> 7;
	if (mlc_tz_enter(&sv, host) < 0)
		mlc_die(MLC_EX_USAGE, "unknown host zone %s", host);
	for (m = from; m < to; m += 60) {
		struct tm tm;
		int dom, dow;

		localtime_r(&m, &tm);
		dom = (int)(b[2] >> tm.tm_mday & 1);
		dow = (int)(b[4] >> tm.tm_wday & 1);
		if ((b[0] >> tm.tm_min & 1) && (b[1] >> tm.tm_hour & 1) &&
		    (b[3] >> (tm.tm_mon + 1) & 1) &&
		    (star[2] || star[4] ? dom && dow : dom || dow) && n < max)
			out[n++] = m;
	}
	mlc_tz_leave(&sv);
	return n;
}

/* ---- the simulation ---- */

static long late_ok; /* -l: a run may come this many seconds late */

struct result {
	int runs, slots, catchup;
	long late;
	char why[512];
};

/*
 * Current TZ = the rule's zone.  The ticks in [down_from, down_to) are not
 * fired (host down).  Returns 0 if every check passed.
 */
static int
simulate(const char *schedule, const struct form *f, const time_t *ticks, int nt, time_t from,
         time_t down_from, time_t down_to, struct result *r)
{
	static struct slot sl[MAXSLOT];
	struct mlc_sched sc;
	char err[256];
	long long last = MLC_SCHED_NONE, upto;
	int known = 0, ns, i, j, first = -1, lastt = -1, lo = 0;

	memset(r, 0, sizeof *r);
	if (mlc_sched_parse(&sc, schedule, err, sizeof err) < 0) {
		snprintf(r->why, sizeof r->why, "%s", err);
		return -1;
	}
	ns = oracle(f, from, sl, MAXSLOT);
	for (i = 0; i < nt; i++) {
		time_t t = ticks[i];

		if (t >= down_from && t < down_to)
			continue;
		if (first < 0)
			first = i;
		lastt = i;
		/* mlc-rule due (no TIME): a first check records the baseline */
		if (!known) {
			last = mlc_sched_baseline(&sc, t);
			known = 1;
		}
		if (!mlc_sched_due(&sc, last, t, &upto))
			continue;
		/* the lock, then mlc-rule claim: read again, due again, record */
		if (!mlc_sched_due(&sc, last, t, &upto))
			continue;
		{
			int covered = 0;

			for (j = lo; j < ns && sl[j].wall <= upto; j++)
				if (sl[j].wall > last) {
					sl[j].runs++;
					sl[j].run_at = t;
					covered++;
				}
			while (lo < ns && sl[lo].wall <= upto)
				lo++;
			if (covered == 0) {
				char a[32], b[32];

				mlc_sched_fmt(last, a);
				mlc_sched_fmt(upto, b);
				snprintf(r->why, sizeof r->why,
				         "a run at @%lld covers no slot (after %s up to %s)",
				         (long long)t, a, b);
				return -1;
			}
			if (t >= down_to && down_to > down_from && i > 0 && ticks[i - 1] >= down_from &&
			    ticks[i - 1] < down_to)
				r->catchup = covered;
		}
		r->runs++;
		last = upto;
	}
	if (first < 0) {
		snprintf(r->why, sizeof r->why, "no ticks");
		return -1;
	}
	for (j = 0; j < ns; j++) {
		char w[32];
		/* on time: in the minute it is reached, or when the host is back */
		time_t due_tick = sl[j].reached;

		if (sl[j].reached <= ticks[first] - 60 || sl[j].reached > ticks[lastt])
			continue;
		r->slots++;
		if (due_tick >= down_from && due_tick < down_to)
			due_tick = down_to;
		mlc_sched_fmt(sl[j].wall, w);
		if (sl[j].runs != 1) {
			snprintf(r->why, sizeof r->why, "slot %s (reached @%lld) ran %d times", w,
			         (long long)sl[j].reached, sl[j].runs);
			return -1;
		}
		if (sl[j].run_at >= due_tick && sl[j].run_at - due_tick <= late_ok) {
			if (sl[j].run_at - due_tick > r->late)
				r->late = (long)(sl[j].run_at - due_tick);
		} else {
			snprintf(r->why, sizeof r->why,
			         "slot %s (reached @%lld) ran at @%lld, not in the minute due, @%lld",
			         w, (long long)sl[j].reached, (long long)sl[j].run_at, (long long)due_tick);
			return -1;
		}
	}
	if (r->slots == 0) {
		snprintf(r->why, sizeof r->why, "no slot in the week");
		return -1;
	}
	if (down_to > down_from && r->catchup < 1) {
		snprintf(r->why, sizeof r->why, "no catch-up run after the downtime");
		return -1;
	}
	return 0;
}

/* ---- weeks ---- */

/* Current TZ: the transitions in [from, to), at most max. */
static int
transitions(time_t from, time_t to, time_t *out, int max)
{
	time_t t;
	int n = 0;

	for (t = from; t < to && n < max; t += 6 * 3600) {
		time_t lo = t, hi = t + 6 * 3600;
		long o = offset(lo);

		if (offset(hi) == o)
			continue;
		while (hi - lo > 1) {
			time_t mid = lo + (hi - lo) / 2;

			if (offset(mid) == o)
				lo = mid;
			else
				hi = mid;
		}
		out[n++] = hi;
	}
	return n;
}

static int
odd_offset(time_t from, time_t to)
{
	time_t t;

	for (t = from; t < to; t += 6 * 3600)
		if (offset(t) % 3600 != 0)
			return 1;
	return 0;
}

static const char *schedules[64];
static int nschedules;
static const char *hosts[8];
static int nhosts;
static const char *cronfields;
static const char *downs[64];
static int ndowns, failures;

static void
report(int ok, const char *zone, time_t week, const char *sched, const char *src,
       const struct result *r)
{
	char w[32];
	struct timespec ts = { week, 0 };

	mlc_time_fmt(w, &ts);
	if (ok && r->late)
		printf("ok %s week=%.10s \"%s\" %s: %d slots, %d runs, late by up to %ld s\n", zone, w,
		       sched, src, r->slots, r->runs, r->late);
	else if (ok)
		printf("ok %s week=%.10s \"%s\" %s: %d slots, %d runs%s", zone, w, sched, src, r->slots,
		       r->runs, r->catchup ? "" : "\n");
	else
		printf("FAIL %s week=%.10s \"%s\" %s: %s\n", zone, w, sched, src, r->why);
	if (ok && r->catchup)
		printf(", one catch-up run for %d slot%s\n", r->catchup, r->catchup == 1 ? "" : "s");
	if (!ok)
		failures++;
}

static void
sweep_week(const char *zone, time_t from, time_t to)
{
	static time_t ticks[8][MAXTICK];
	int nt[8], h, k, i;

	struct mlc_tz_saved sv;

	for (h = 0; h < nhosts; h++)
		nt[h] = cron_ticks(cronfields, hosts[h], from, to, ticks[h], MAXTICK);
	/* one zone switch per week: tzset() reads the zone file again */
	if (mlc_tz_enter(&sv, zone) < 0)
		mlc_die(MLC_EX_USAGE, "unknown zone %s", zone);
	wall_fill(from, to);
	for (k = 0; k < nschedules; k++) {
		struct form f;

		if (form_parse(schedules[k], &f) < 0)
			mlc_die(MLC_EX_USAGE, "the oracle does not know \"%s\"", schedules[k]);
		for (h = 0; h < nhosts; h++) {
			struct result r;
			char src[128];
			int same = -1, ok;

			/* a host whose ticks are another's gives the same result */
			for (i = 0; i < h && same < 0; i++)
				if (nt[i] == nt[h] && !memcmp(ticks[i], ticks[h], sizeof(time_t) * (size_t)nt[h]))
					same = i;
			if (same >= 0)
				continue;
			snprintf(src, sizeof src, "cron \"%s\" host %s", cronfields, hosts[h]);
			for (i = h + 1; i < nhosts; i++)
				if (nt[i] == nt[h] && !memcmp(ticks[i], ticks[h], sizeof(time_t) * (size_t)nt[h]))
					snprintf(src + strlen(src), sizeof src - strlen(src), ",%s", hosts[i]);
			ok = simulate(schedules[k], &f, ticks[h], nt[h], from, 0, 0, &r) == 0;
			report(ok, zone, from, schedules[k], src, &r);
			for (i = 0; i < ndowns && strcmp(downs[i], schedules[k]); i++)
				;
			if (i < ndowns) {
				time_t d0 = from + 2 * 86400 + 17 * 60, d1 = d0 + 3 * 86400;

				ok = simulate(schedules[k], &f, ticks[h], nt[h], from, d0, d1, &r) == 0;
				snprintf(src, sizeof src, "cron host %s, down 3 days", hosts[h]);
				report(ok, zone, from, schedules[k], src, &r);
			}
		}
	}
	mlc_tz_leave(&sv);
}

static int list_only;

static void
sweep_zone(const char *zone, int year, int only_odd)
{
	struct mlc_tz_saved sv;
	time_t y0 = (time_t)mlc_time_days(year, 1, 1) * 86400;
	time_t y1 = (time_t)mlc_time_days(year + 1, 1, 1) * 86400, tr[16];
	int n, i, odd;

	if (only_odd && !mlc_tz_valid(zone))
		return; /* zone.tab, leapseconds, ...: not zones */
	if (mlc_tz_enter(&sv, zone) < 0) {
		printf("FAIL %s: not a zone\n", zone);
		failures++;
		return;
	}
	n = transitions(y0, y1, tr, 16);
	odd = odd_offset(y0, y1);
	mlc_tz_leave(&sv);
	if (only_odd && !odd)
		return;
	if (list_only) {
		printf("%s\n", zone);
		return;
	}
	if (n == 0) {
		sweep_week(zone, y0 + 9 * 86400, y0 + 16 * 86400);
		return;
	}
	for (i = 0; i < n; i++) {
		time_t from = (tr[i] / 3600) * 3600 - 84 * 3600;

		sweep_week(zone, from, from + 7 * 86400);
	}
}

static int
cmp_time(const void *a, const void *b)
{
	time_t x = *(const time_t *)a, y = *(const time_t *)b;

	return x < y ? -1 : x > y;
}

/* -t: one zone, ticks from a file (a systemd timer's firings). */
static void
sweep_file(const char *zone, const char *file, time_t from, time_t to)
{
	static time_t ticks[MAXTICK];
	FILE *fp = fopen(file, "r");
	struct mlc_tz_saved sv;
	char line[128];
	long long v;
	int nt = 0, k, i;

	if (!fp)
		mlc_die(MLC_EX_NOINPUT, "%s: cannot read", file);
	while (fgets(line, sizeof line, fp) && nt < MAXTICK) {
		struct timespec ts;

		line[strcspn(line, "\n")] = '\0';
		if (mlc_time_parse(line, &ts) < 0)
			mlc_die(MLC_EX_DATAERR, "%s: bad time \"%s\"", file, line);
		v = ts.tv_sec;
		if (v >= from && v < to)
			ticks[nt++] = (time_t)v;
	}
	fclose(fp);
	qsort(ticks, (size_t)nt, sizeof ticks[0], cmp_time);
	for (i = 0, k = 0; i < nt; i++) /* a firing of two events at once is one */
		if (k == 0 || ticks[i] != ticks[k - 1])
			ticks[k++] = ticks[i];
	nt = k;
	if (mlc_tz_enter(&sv, zone) < 0)
		mlc_die(MLC_EX_USAGE, "unknown zone %s", zone);
	wall_fill(from, to);
	for (k = 0; k < nschedules; k++) {
		struct result r;
		struct form f;
		int ok;

		if (form_parse(schedules[k], &f) < 0)
			mlc_die(MLC_EX_USAGE, "the oracle does not know \"%s\"", schedules[k]);
		ok = simulate(schedules[k], &f, ticks, nt, from, 0, 0, &r) == 0;
		report(ok, zone, from, schedules[k], "ticks from a file", &r);
	}
	mlc_tz_leave(&sv);
}

int
main(int argc, char **argv)
{
	const char *zonefile = NULL, *tickfile = NULL, *query = NULL;
	long long pfrom = 0, pto = 0;
	int c, year = 2027, i;

	mlc_util_setprogname(argv[0]);
	while ((c = getopt(argc, argv, "y:s:c:H:D:F:Lt:p:q:l:")) != -1) {
		switch (c) {
		case 'y':
			year = atoi(optarg);
			break;
		case 's':
			if (nschedules < 63)
				schedules[nschedules++] = optarg;
			break;
		case 'c':
			cronfields = optarg;
			break;
		case 'H':
			if (nhosts < 8)
				hosts[nhosts++] = optarg;
			break;
		case 'D':
			if (ndowns < 63)
				downs[ndowns++] = optarg;
			break;
		case 'L':
			list_only = 1;
			break;
		case 'l':
			late_ok = atol(optarg);
			break;
		case 'F':
			zonefile = optarg;
			break;
		case 't':
			tickfile = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'p':
			if (sscanf(optarg, "%lld,%lld", &pfrom, &pto) != 2)
				mlc_die(MLC_EX_USAGE, "-p START,END (epoch seconds)");
			break;
		default:
			return MLC_EX_USAGE;
		}
	}
	if (nschedules == 0)
		for (i = 0; default_schedules[i]; i++)
			schedules[nschedules++] = default_schedules[i];
	if (nhosts == 0)
		hosts[nhosts++] = "UTC";
	if (query) {
		struct timespec ts;
		time_t tk[1], m;

		if (!cronfields || mlc_time_parse(query, &ts) < 0)
			mlc_die(MLC_EX_USAGE, "-c CRONFIELDS -H HOSTZONE -q TIME");
		m = ts.tv_sec - ts.tv_sec % 60;
		return cron_ticks(cronfields, hosts[0], m, m + 60, tk, 1) == 1 ? 0 : 1;
	}
	if (tickfile) {
		if (optind + 1 != argc || pfrom >= pto)
			mlc_die(MLC_EX_USAGE, "-t FILE -p START,END ZONE");
		sweep_file(argv[optind], tickfile, (time_t)pfrom, (time_t)pto);
		return failures ? 1 : 0;
	}
	if (!cronfields && !list_only)
		mlc_die(MLC_EX_USAGE, "-c CRONFIELDS (the crontab line's five time fields)");
	for (i = optind; i < argc; i++)
		sweep_zone(argv[i], year, 0);
	if (zonefile) {
		FILE *fp = fopen(zonefile, "r");
		char line[512];

		if (!fp)
			mlc_die(MLC_EX_NOINPUT, "%s: cannot read", zonefile);
		while (fgets(line, sizeof line, fp)) {
			line[strcspn(line, "\n")] = '\0';
			if (*line)
				sweep_zone(line, year, 1);
		}
		fclose(fp);
	}
	return failures ? 1 : 0;
}
