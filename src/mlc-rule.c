/*
 * mlc-rule — rule facts for the orchestrator and for people: list the
 * rules, read one key, turn a schedule into cron fields or a systemd
 * OnCalendar expression, and tell whether a rule is due now in its own
 * time zone.  It reads rule files through rule.c, so the shell never parses
 * them itself.
 *
 * usage: mlc-rule [-R DIR] list
 *        mlc-rule [-R DIR] get RULE SECTION KEY
 *        mlc-rule [-R DIR] path RULE
 *        mlc-rule [-R DIR] cron RULE          five cron fields, a tab, the zone
 *        mlc-rule [-R DIR] oncalendar RULE    systemd OnCalendar= value
 *        mlc-rule [-R DIR] due RULE [TIME]    exit 0 if due this minute, 1 if not
 *
 * Exit: 0; 1 (due: not due; get: key not set); 64 usage; 66 no such rule;
 * 78 rule error (message "PATH:LINE: ..."; list: a *.rule file whose name
 * is not a rule name, reported and left out).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: mlc-rule [-R DIR] list\n"
	"       mlc-rule [-R DIR] get RULE SECTION KEY\n"
	"       mlc-rule [-R DIR] path RULE\n"
	"       mlc-rule [-R DIR] cron RULE\n"
	"       mlc-rule [-R DIR] oncalendar RULE\n"
	"       mlc-rule [-R DIR] due RULE [TIME]\n";

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
	struct mlc_conf c;
	char err[256];

	if (z && *z)
		return z;
	if (mlc_conf_load(&c, mlc_config_path(NULL), err, sizeof err, NULL) == 0 &&
	    (z = mlc_conf_get(&c, "general", "timezone")) && *z) {
		snprintf(buf, sizeof buf, "%s", z);
		mlc_conf_free(&c);
		return buf;
	}
	mlc_conf_free(&c);
	return "UTC";
}

static const char *
schedule_of(const struct mlc_rule *r)
{
	const char *s = mlc_rule_get(r, "rule", "schedule");

	if (!s)
		mlc_die(MLC_EX_CONFIG, "%s: [rule] schedule is not set", r->path);
	return s;
}

/* Does value v match one cron field (already validated by rule.c)? */
static int
field_match(const char *f, int v, int lo)
{
	while (*f) {
		long a = lo, b = -1, step = 1;
		char *end;

		if (*f == '*') {
			b = 1000;
			f++;
		} else {
			a = strtol(f, &end, 10);
			f = end;
			b = a;
			if (*f == '-') {
				b = strtol(f + 1, &end, 10);
				f = end;
			}
		}
		if (*f == '/') {
			step = strtol(f + 1, &end, 10);
			f = end;
			if (b == a)
				b = 1000;
		}
		if (v >= a && v <= b && (v - a) % step == 0)
			return 1;
		if (*f == ',')
			f++;
	}
	return 0;
}

static int
cron_due(const char *cron, const struct tm *tm)
{
	char f[5][64];
	int i, dom_star, dow_star, dom, dow;

	if (sscanf(cron, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]) != 5)
		return 0;
	if (!field_match(f[0], tm->tm_min, 0) || !field_match(f[1], tm->tm_hour, 0) ||
	    !field_match(f[3], tm->tm_mon + 1, 1))
		return 0;
	/* cron(8): when both day fields are restricted, either may match. */
	dom_star = f[2][0] == '*';
	dow_star = f[4][0] == '*';
	dom = field_match(f[2], tm->tm_mday, 1);
	dow = field_match(f[4], tm->tm_wday, 0) || (tm->tm_wday == 0 && field_match(f[4], 7, 0));
	if (dom_star || dow_star)
		i = dom && dow;
	else
		i = dom || dow;
	return i;
}

static int
cmd_due(const struct mlc_rule *r, const char *when)
{
	char cron[128], err[256];
	const char *zone = zone_of(r), *old = getenv("TZ");
	char *saved = old ? mlc_xstrdup(old) : NULL;
	struct timespec ts;
	struct tm tm;
	time_t t;
	int due;

	if (mlc_rule_cron(schedule_of(r), cron, sizeof cron, err, sizeof err) < 0)
		mlc_die(MLC_EX_CONFIG, "%s: %s", r->path, err);
	if (when ? mlc_time_parse(when, &ts) < 0 : mlc_time_now(&ts) < 0)
		mlc_die(MLC_EX_USAGE, "bad time \"%s\" (RFC 3339 or @epoch)",
		        when ? when : getenv("ML_CONNECTOR_NOW"));
	t = ts.tv_sec;
	setenv("TZ", zone, 1);
	tzset();
	localtime_r(&t, &tm);
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	due = cron_due(cron, &tm);
	return due ? 0 : 1;
}

/*
 * systemd calendar events take the zone at the end, so a daily 08:00 rule
 * in America/Chicago fires at 08:00 there across DST changes.  A cron
 * schedule has no general OnCalendar form: it becomes every minute, and
 * the unit runs `ml-connector run --scheduled`, which asks `due`.
 */
static int
cmd_oncalendar(const struct mlc_rule *r)
{
	const char *s = schedule_of(r), *zone = zone_of(r);
	char cron[128], err[256];
	int h, m;

	if (mlc_rule_cron(s, cron, sizeof cron, err, sizeof err) < 0)
		mlc_die(MLC_EX_CONFIG, "%s: %s", r->path, err);
	if (strncmp(s, "hourly", 6) == 0 && sscanf(cron, "%d", &m) == 1)
		printf("*-*-* *:%02d:00 %s\n", m, zone);
	else if (strncmp(s, "daily ", 6) == 0 && sscanf(cron, "%d %d", &m, &h) == 2)
		printf("*-*-* %02d:%02d:00 %s\n", h, m, zone);
	else if (strncmp(s, "weekdays ", 9) == 0 && sscanf(cron, "%d %d", &m, &h) == 2)
		printf("Mon..Fri *-*-* %02d:%02d:00 %s\n", h, m, zone);
	else if (strncmp(s, "every ", 6) == 0 && sscanf(cron, "*/%d", &m) == 1)
		printf("*-*-* *:00/%d:00 %s\n", m, zone);
	else
		printf("*-*-* *:*:00 %s\n", zone);
	return 0;
}

static int
cmd_list(void)
{
	const char *dir = mlc_rule_dir(rules_dir);
	struct dirent **ents;
	int n, i, rc = 0;

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
	struct mlc_rule r;
	int c, rc = 0;
	const char *cmd;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	while ((c = getopt(argc, argv, "+R:")) != -1) {
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
	if (argc < 2 || (!strcmp(cmd, "get") && argc != 4) ||
	    (!strcmp(cmd, "due") && argc > 3) ||
	    (strcmp(cmd, "get") && strcmp(cmd, "due") && argc != 2)) {
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
	} else if (!strcmp(cmd, "cron")) {
		char cron[128], err[256];

		if (mlc_rule_cron(schedule_of(&r), cron, sizeof cron, err, sizeof err) < 0)
			mlc_die(MLC_EX_CONFIG, "%s: %s", r.path, err);
		printf("%s\t%s\n", cron, zone_of(&r));
	} else if (!strcmp(cmd, "oncalendar")) {
		rc = cmd_oncalendar(&r);
	} else if (!strcmp(cmd, "due")) {
		rc = cmd_due(&r, argc > 2 ? argv[2] : NULL);
	} else {
		fputs(usage, stderr);
		rc = MLC_EX_USAGE;
	}
	mlc_rule_free(&r);
	mlc_util_exit(rc);
}
