/*
 * mlc-rule — rule facts for the orchestrator and for people: list the
 * rules, read one key, turn a schedule into cron fields or systemd
 * OnCalendar expressions, and decide whether a scheduled rule is due.  It
 * reads rule files through rule.c, so the shell never parses them itself.
 *
 * usage: mlc-rule [-R DIR] list
 *        mlc-rule [-R DIR] get RULE SECTION KEY
 *        mlc-rule [-R DIR] path RULE
 *        mlc-rule [-R DIR] enabled RULE       exit 0, or 1 for [rule] enabled = no
 *        mlc-rule [-R DIR] joins RULE         exit 0, or 1 without [join], [lookup], [sums]
 *        mlc-rule [-R DIR] cron RULE          five cron fields, a tab, the zone
 *        mlc-rule [-R DIR] oncalendar RULE    systemd OnCalendar= values, one a line
 *        mlc-rule [-R DIR] due RULE [TIME]    exit 0 if a scheduled slot is due
 *        mlc-rule [-R DIR] claim RULE         mark the due slots fired (run start)
 *        mlc-rule [-R DIR] next RULE [TIME]   the next slot and when it is reached
 *
 * The schedule's semantics are sched.c's: a slot is reached at the first
 * instant the rule zone's clock shows it or later; a rule is due when a
 * slot after the last one it fired has been reached.  The last slot fired
 * is kept in the state database (table schedule, store.c), so due is not a
 * function of this minute alone: a slot skipped by DST, or missed while the
 * host was down, is due at the next check, once.  `ml-connector run
 * --scheduled` asks due before taking the rule's run lock (a cheap read)
 * and claims under the lock, so two schedulers firing at once run a slot
 * once.  A claim marks the slot fired when the run starts, whatever the
 * run's outcome: a failing rule is tried again at its next slot, not at
 * every check (the watermark keeps its records for that run).
 *
 * A rule the state has not seen (or whose schedule or zone changed) counts
 * as having fired the last slot reached a minute before its first check:
 * `due` without TIME records that baseline, so a long-past slot is not run
 * and the next one is not missed.  With TIME, due and next only read.
 *
 * Exit: 0; 1 (due: not due; claim: nothing to claim; get: key not set;
 * enabled: enabled = no; joins: nothing for jde-join);
 * 64 usage; 66 no such rule; 74 database I/O; 75 database busy; 78 rule
 * error (message "PATH:LINE: ..."; an unknown time zone; list: a *.rule
 * file whose name is not a rule name, reported and left out).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: mlc-rule [-R DIR] list\n"
	"       mlc-rule [-R DIR] get RULE SECTION KEY\n"
	"       mlc-rule [-R DIR] path RULE\n"
	"       mlc-rule [-R DIR] enabled RULE\n"
	"       mlc-rule [-R DIR] joins RULE\n"
	"       mlc-rule [-R DIR] cron RULE\n"
	"       mlc-rule [-R DIR] oncalendar RULE\n"
	"       mlc-rule [-R DIR] due RULE [TIME]\n"
	"       mlc-rule [-R DIR] claim RULE\n"
	"       mlc-rule [-R DIR] next RULE [TIME]\n";

static const char *rules_dir;

static void
load(struct mlc_rule *r, const char *arg)
{
	char err[1024];
	int code;

	if (mlc_rule_load(r, arg, rules_dir, err, sizeof err, &code) < 0)
		mlc_die(code, "%s", err);
}

/* The rule's zone: [rule] timezone, else the config's [general] timezone, else UTC. */
static const char *
zone_of(const struct mlc_rule *r)
{
	static char buf[256];
	const char *z = mlc_rule_get(r, "rule", "timezone");
	char err[1024], *v;
	int k;

	if (z && *z)
		return z; /* checked by mlc_rule_load */
	if ((k = mlc_config_lookup("general", "timezone", &v, err, sizeof err)) < 0)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (k == 0 || !*v) {
		free(v);
		return "UTC";
	}
	snprintf(buf, sizeof buf, "%s", v);
	free(v);
	if (!mlc_tz_valid(buf))
		mlc_die(MLC_EX_CONFIG, "%s: [general] timezone: unknown time zone \"%s\"",
		        mlc_config_path(), buf);
	return buf;
}

static const char *
schedule_of(const struct mlc_rule *r)
{
	const char *s = mlc_rule_get(r, "rule", "schedule");

	if (!s)
		mlc_die(MLC_EX_CONFIG, "%s: [rule] schedule is not set", r->path);
	return s;
}

static void
sched_of(const struct mlc_rule *r, struct mlc_sched *sc)
{
	char err[256];

	if (mlc_sched_parse(sc, schedule_of(r), err, sizeof err) < 0)
		mlc_die(MLC_EX_CONFIG, "%s: %s", r->path, err);
}

static struct mlc_store *
store(void)
{
	char err[1024];
	int code;
	const char *dir = mlc_state_dir(NULL, err, sizeof err);
	struct mlc_store *st;

	if (!dir)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (!(st = mlc_store_open(dir, err, sizeof err, &code)))
		mlc_die(code, "%s", err);
	return st;
}

static time_t
when_of(const char *when)
{
	struct timespec ts;

	if (when ? mlc_time_parse(when, &ts) < 0 : mlc_time_now(&ts) < 0)
		mlc_die(MLC_EX_USAGE, "bad time \"%s\" (RFC 3339 or @epoch)",
		        when ? when : getenv("ML_CONNECTOR_NOW"));
	return ts.tv_sec;
}

/* The schedule state of the rule: 1 with *last (the last slot fired, or
 * the baseline), 0 when the state holds none for this schedule and zone,
 * -1 on a database error (inside a transaction: it may run again). */
static int
last_of(struct mlc_store *st, const struct mlc_rule *r, const char *zone, long long *last)
{
	struct mlc_store_sched row;
	int rc = mlc_store_sched_get(st, r->name, &row), ok = 0;

	if (rc < 0)
		return -1;
	if (rc == 1 && strcmp(row.schedule, schedule_of(r)) == 0 && strcmp(row.zone, zone) == 0 &&
	    mlc_sched_scan(row.slot, last) == 0)
		ok = 1;
	mlc_store_sched_free(&row);
	return ok;
}

/* Record slot as the rule's last (fired_at NULL: a baseline).  Current TZ.
 * 0, or -1 on a database error. */
static int
record(struct mlc_store *st, const struct mlc_rule *r, const char *zone, long long slot,
       const char *fired_at)
{
	struct mlc_store_sched row;
	char wall[32], at[32];
	struct timespec ts = { 0, 0 };

	mlc_sched_fmt(slot, wall);
	ts.tv_sec = mlc_sched_reach(slot);
	mlc_time_fmt(at, &ts);
	row.schedule = (char *)schedule_of(r);
	row.zone = (char *)zone;
	row.slot = wall;
	row.slot_at = at;
	row.fired_at = (char *)fired_at;
	return mlc_store_sched_put(st, r->name, &row);
}

/* due and claim read and write the rule's schedule state in one
 * transaction (store.c's mlc_store_tx, which may run it again): two
 * schedulers firing at once claim a slot once.  In the rule's zone. */
struct schedtx {
	const struct mlc_rule *r;
	const char *zone;
	const struct mlc_sched *sc;
	time_t now;
	int claim;              /* claim the slot reached (else: baseline only) */
	long long last, upto;   /* out */
	int known, due;         /* out */
};

static int
sched_tx(struct mlc_store *st, void *arg)
{
	struct schedtx *t = arg;
	char nowtxt[32];
	struct timespec ts = { t->now, 0 };

	if ((t->known = last_of(st, t->r, t->zone, &t->last)) < 0)
		return -1;
	if (!t->known)
		t->last = mlc_sched_baseline(t->sc, t->now);
	t->due = mlc_sched_due(t->sc, t->last, t->now, &t->upto);
	mlc_time_fmt(nowtxt, &ts);
	if (t->claim && t->due)
		return record(st, t->r, t->zone, t->upto, nowtxt);
	if (!t->known)
		return record(st, t->r, t->zone, t->last, NULL);
	return 0;
}

static void
sched_run(struct mlc_store *st, struct schedtx *t)
{
	int rc = mlc_store_tx(st, t->claim ? "claim the rule's scheduled slot" :
	                                     "record the rule's first schedule check",
	                      sched_tx, t);

	if (rc != 0)
		mlc_util_exit(rc);
}

static void
enter(struct mlc_tz_saved *sv, const char *zone)
{
	if (mlc_tz_enter(sv, zone) < 0)
		mlc_die(MLC_EX_CONFIG, "unknown time zone \"%s\"", zone);
}

/*
 * due: the check before the lock.  Only reads, except at a rule's first
 * check without TIME, which records the baseline (in a transaction that
 * looks again, so two first checks at once record one).
 */
static int
cmd_due(const struct mlc_rule *r, const char *when)
{
	const char *zone = zone_of(r);
	struct mlc_sched sc;
	struct mlc_store *st;
	struct mlc_tz_saved sv;
	time_t now = when_of(when);
	long long last, upto;
	int due, known;

	sched_of(r, &sc);
	st = store();
	enter(&sv, zone);
	if ((known = last_of(st, r, zone, &last)) < 0)
		mlc_util_exit(mlc_store_code(st));
	if (!known) {
		last = mlc_sched_baseline(&sc, now);
		if (!when) {
			/* the first check of the rule: its baseline, once */
			struct schedtx t = { r, zone, &sc, now, 0, 0, 0, 0, 0 };

			sched_run(st, &t);
			last = t.last;
		}
	}
	due = mlc_sched_due(&sc, last, now, &upto);
	mlc_tz_leave(&sv);
	mlc_store_close(st);
	return due ? 0 : 1;
}

/*
 * claim: under the run lock, mark the latest slot reached as fired, in one
 * transaction with reading the state (two schedulers at once claim it
 * once); 0 and a line saying which slot, or 1 when none is due.
 */
static int
cmd_claim(const struct mlc_rule *r)
{
	const char *zone = zone_of(r);
	struct mlc_sched sc;
	struct mlc_store *st;
	struct mlc_tz_saved sv;
	struct timespec ts;
	struct schedtx t = { r, zone, &sc, 0, 1, 0, 0, 0, 0 };
	char wall[32], at[32];

	t.now = when_of(NULL);
	sched_of(r, &sc);
	st = store();
	enter(&sv, zone);
	sched_run(st, &t);
	if (t.due) {
		long n = mlc_sched_count(&sc, t.last, t.upto, 1000000);

		mlc_sched_fmt(t.upto, wall);
		ts.tv_sec = mlc_sched_reach(t.upto);
		ts.tv_nsec = 0;
		mlc_time_fmt(at, &ts);
		if (n > 1) {
			char first[32];

			mlc_sched_fmt(mlc_sched_next(&sc, t.last), first);
			printf("slot %s %s (reached %s), catching up %s%ld slots from %s\n", wall,
			       zone, at, n >= 1000000 ? "over " : "", n, first);
		} else {
			printf("slot %s %s (reached %s)\n", wall, zone, at);
		}
	}
	mlc_tz_leave(&sv);
	mlc_store_close(st);
	return t.due ? 0 : 1;
}

static int
cmd_next(const struct mlc_rule *r, const char *when)
{
	const char *zone = zone_of(r);
	struct mlc_sched sc;
	struct mlc_store *st;
	struct mlc_tz_saved sv;
	struct timespec ts = { 0, 0 };
	time_t now = when_of(when);
	long long last, n;
	char wall[32], at[32];

	sched_of(r, &sc);
	st = store();
	enter(&sv, zone);
	if (!last_of(st, r, zone, &last))
		last = mlc_sched_baseline(&sc, now);
	n = mlc_sched_next(&sc, last);
	if (n != MLC_SCHED_NEVER)
		ts.tv_sec = mlc_sched_reach(n);
	mlc_tz_leave(&sv);
	mlc_store_close(st);
	if (n == MLC_SCHED_NEVER)
		mlc_die(MLC_EX_CONFIG, "%s: the schedule has no slot in the next ten years",
		        r->path);
	mlc_sched_fmt(n, wall);
	mlc_time_fmt(at, &ts);
	printf("%s %s\t%s\n", wall, zone, at);
	return 0;
}

/*
 * systemd calendar events take the zone at the end, so a daily 08:00 rule
 * in America/Chicago fires at 08:00 there across DST changes.  But systemd
 * skips a time that a DST gap swallows (it never comes on that day), where
 * due runs it at the end of the gap: for each gap in the next ten years
 * (tz database as installed) that swallows a slot, the wall time at which
 * the clock comes out of it is added as an event of its own, every day.  On
 * other days that event finds nothing due.  The unit runs `ml-connector
 * run --scheduled`, so whenever the timer fires, due decides.
 */
static int
cmd_oncalendar(const struct mlc_rule *r)
{
	const char *zone = zone_of(r);
	struct mlc_sched sc;
	struct mlc_tz_saved sv;
	struct mlc_buf b;
	time_t now = when_of(NULL);
	int tod[64], n, i;

	sched_of(r, &sc);
	mlc_buf_init(&b);
	mlc_sched_oncalendar(&sc, zone, &b);
	enter(&sv, zone);
	n = mlc_sched_gap_exits(&sc, now - 86400, now + 10L * 366 * 86400, tod, 64);
	mlc_tz_leave(&sv);
	for (i = 0; i < n; i++)
		mlc_buf_printf(&b, "*-*-* %02d:%02d:%02d %s\n", tod[i] / 3600, tod[i] / 60 % 60,
		               tod[i] % 60, zone);
	fputs(b.p, stdout);
	mlc_buf_free(&b);
	return 0;
}

static int
cmd_list(void)
{
	char err[1024];
	const char *dir = mlc_rule_dir(rules_dir, err, sizeof err);
	struct dirent **ents;
	int n, i, rc = 0;

	if (!dir)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		mlc_die(MLC_EX_NOINPUT, "%s: cannot read the rules directory", dir);
	for (i = 0; i < n; i++) {
		const char *d = ents[i]->d_name;
		size_t l = strlen(d);

		if (l > 5 && strcmp(d + l - 5, ".rule") == 0 && d[0] != '.') {
			/* The names go to shell loops and crontab lines: a file
			 * that cannot hold a rule (its name must be the file's)
			 * is reported, never printed as a name. */
			char *name = mlc_xstrndup(d, l - 5);

			if (!mlc_rule_name_ok(name)) {
				struct mlc_buf b;

				mlc_buf_init(&b);
				mlc_buf_json_str(&b, d, l);
				mlc_warn("%s: %s is not a rule name (a-z 0-9 - _, not first -, at most 64); skipped",
				         dir, b.p);
				mlc_buf_free(&b);
				rc = MLC_EX_CONFIG;
			} else {
				printf("%s\n", name);
			}
			free(name);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option no_long[] = { { NULL, 0, NULL, 0 } };
	struct mlc_rule r;
	int c, rc = 0, timed;
	const char *cmd;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	while ((c = getopt_long(argc, argv, "+R:", no_long, NULL)) != -1) {
		if (c == 'R')
			rules_dir = optarg;
		else {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	cmd = argv[0];
	if (!strcmp(cmd, "list") && argc == 1)
		mlc_util_exit(cmd_list());
	timed = !strcmp(cmd, "due") || !strcmp(cmd, "next");
	if (argc < 2 || (!strcmp(cmd, "get") && argc != 4) || (timed && argc > 3) ||
	    (strcmp(cmd, "get") && !timed && argc != 2)) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	load(&r, argv[1]);
	if (!strcmp(cmd, "get")) {
		const char *v = mlc_rule_get(&r, argv[2], argv[3]);

		if (v)
			printf("%s\n", v);
		rc = v ? 0 : 1;
	} else if (!strcmp(cmd, "path")) {
		printf("%s\n", r.path);
	} else if (!strcmp(cmd, "enabled")) {
		rc = r.enabled ? 0 : 1;
	} else if (!strcmp(cmd, "joins")) {
		rc = mlc_rule_joins(&r) ? 0 : 1;
	} else if (!strcmp(cmd, "cron")) {
		char cron[128], err[256];

		if (mlc_rule_cron(schedule_of(&r), cron, sizeof cron, err, sizeof err) < 0)
			mlc_die(MLC_EX_CONFIG, "%s: %s", r.path, err);
		printf("%s\t%s\n", cron, zone_of(&r));
	} else if (!strcmp(cmd, "oncalendar")) {
		rc = cmd_oncalendar(&r);
	} else if (!strcmp(cmd, "due")) {
		rc = cmd_due(&r, argc > 2 ? argv[2] : NULL);
	} else if (!strcmp(cmd, "claim")) {
		rc = cmd_claim(&r);
	} else if (!strcmp(cmd, "next")) {
		rc = cmd_next(&r, argc > 2 ? argv[2] : NULL);
	} else {
		fputs(usage, stderr);
		rc = MLC_EX_USAGE;
	}
	mlc_rule_free(&r);
	mlc_util_exit(rc);
}
