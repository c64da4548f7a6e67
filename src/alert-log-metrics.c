/*
 * alert-log-metrics.c — alert-log metrics: the trail's figures in the
 * Prometheus text exposition format, for node_exporter's textfile
 * collector, and the gauges the orchestrator sets (the up gauge of each
 * remote system).
 *
 *   alert-log metrics [--textfile PATH]
 *   alert-log metrics up SYSTEM 0|1
 *   alert-log metrics refused SYSTEM 0|1
 *
 * The counters (_total) are kept in table metric and grow in the
 * transactions that record what they count (the tee, run end), so they
 * never go back, whatever retention drops from the trail.  The gauges of a
 * rule's runs come from table run, those of unknown and in-doubt
 * deliveries from the trail's latest stage of each delivery
 * (mlc_trail_status).  Labels are rule, channel, outcome and system only:
 * never an address, a SID or a run id (each label set is a series of its
 * own, kept by Prometheus).
 *
 * --textfile PATH: written whole to PATH.NNN (the pid; a name that does not
 * match *.prom, so the collector never reads it half-written) in PATH's
 * directory, fsync'd, mode 0644 (the collector's user reads it), then
 * renamed over PATH: a reader sees the old file or the new one, never a
 * part.  Without it, the same text on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert-log.h"

/* Every metric written, in the order written: its HELP and TYPE.  A name in
 * table metric that is not here (a newer program's) is left out. */
static const struct family {
	const char *name, *type, *help;
} families[] = {
	{ "mlc_rule_last_run_timestamp_seconds", "gauge",
	  "Unix time the last run of the rule ended." },
	{ "mlc_rule_last_success_timestamp_seconds", "gauge",
	  "Unix time the last run of the rule that went through (status ok) ended." },
	{ "mlc_rule_last_run_duration_seconds", "gauge",
	  "Wall time of the last run of the rule." },
	{ "mlc_rule_last_run_success", "gauge",
	  "1 when the last run of the rule went through, 0 when it failed." },
	{ "mlc_runs_total", "counter", "Runs of the rule ended, by outcome (ok, failed)." },
	{ "mlc_records_fetched_total", "counter", "JDE records read from AIS by the rule." },
	{ "mlc_alerts_total", "counter", "Alerts the rule matched." },
	{ "mlc_deliveries_total", "counter",
	  "Deliveries by channel and outcome (sent, failed, unknown, in_doubt, capped, deferred, ...)." },
	{ "mlc_acknowledgements_total", "counter",
	  "Alerts acknowledged by a recipient's reply, by how the reply picked one (latest, code, document)." },
	{ "mlc_deliveries_unknown", "gauge",
	  "Deliveries whose latest word is unknown (reconciled by the next run)." },
	{ "mlc_deliveries_in_doubt", "gauge",
	  "E-mails held in doubt ([sendgrid] in_doubt = hold): ml-connector resend." },
	{ "mlc_quarantined_lines", "gauge", "Lines set aside in the quarantine." },
	{ "mlc_remote_requests_total", "counter",
	  "HTTP requests sent to the remote system (ais, twilio, sendgrid) by the rule's stages." },
	{ "mlc_up", "gauge",
	  "1 when the last run's contact with the remote system worked, 0 when it failed." },
	{ "mlc_auth_refused", "gauge",
	  "1 while the remote system refuses the credentials (until a contact works again)." },
};
#define NFAM ((int)(sizeof families / sizeof families[0]))

struct expo {
	struct mlc_buf fam[NFAM]; /* each family's sample lines */
};

static int
family_of(const char *name)
{
	for (int i = 0; i < NFAM; i++)
		if (!strcmp(families[i].name, name))
			return i;
	return -1;
}

/* A label value as the exposition format quotes it: \ " and newline escaped. */
static void
label(struct mlc_buf *b, int *first, const char *name, const char *v)
{
	if (!v || !*v)
		return;
	mlc_buf_printf(b, "%s%s=\"", *first ? "{" : ",", name);
	*first = 0;
	for (; *v; v++) {
		if (*v == '\\')
			mlc_buf_adds(b, "\\\\");
		else if (*v == '"')
			mlc_buf_adds(b, "\\\"");
		else if (*v == '\n')
			mlc_buf_adds(b, "\\n");
		else
			mlc_buf_addc(b, *v);
	}
	mlc_buf_addc(b, '"');
}

/* One sample of family f: labels rule, channel, outcome, system (NULL or
 * "": none), value as Go's ParseFloat reads it. */
static void
sample(struct expo *x, int f, const char *rule, const char *channel, const char *outcome,
       const char *system_, double v)
{
	struct mlc_buf *b = &x->fam[f];
	int first = 1;

	mlc_buf_adds(b, families[f].name);
	label(b, &first, "rule", rule);
	label(b, &first, "channel", channel);
	label(b, &first, "outcome", outcome);
	label(b, &first, "system", system_);
	if (!first)
		mlc_buf_addc(b, '}');
	if (isnan(v))
		mlc_buf_adds(b, " NaN\n");
	else if (v == floor(v) && fabs(v) < 1e15)
		mlc_buf_printf(b, " %.0f\n", v);
	else
		mlc_buf_printf(b, " %.17g\n", v);
}

static const char *
col(const struct mlc_trail_row *r, int i)
{
	return r->c[i].type == MLC_TRAIL_NULL ? NULL : r->c[i].s;
}

/* An RFC 3339 time of the trail as Unix seconds (with its milliseconds). */
static int
secs(const char *t, double *v)
{
	struct timespec ts;

	if (!t || mlc_time_parse(t, &ts) < 0)
		return -1;
	*v = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return 0;
}

static int
metric_row(const struct mlc_trail_row *r, void *arg)
{
	int f = family_of(col(r, 0));

	if (f >= 0)
		sample(arg, f, col(r, 2), col(r, 3), col(r, 4), col(r, 5), strtod(col(r, 6), NULL));
	return 0;
}

static int
run_row(const struct mlc_trail_row *r, void *arg)
{
	const char *rule = col(r, 0), *st = col(r, 3);
	double a, b;

	if (secs(col(r, 2), &b) == 0) {
		sample(arg, family_of("mlc_rule_last_run_timestamp_seconds"), rule, 0, 0, 0, b);
		if (secs(col(r, 1), &a) == 0)
			sample(arg, family_of("mlc_rule_last_run_duration_seconds"), rule, 0, 0, 0,
			       b >= a ? b - a : 0);
	}
	if (secs(col(r, 4), &b) == 0)
		sample(arg, family_of("mlc_rule_last_success_timestamp_seconds"), rule, 0, 0, 0, b);
	sample(arg, family_of("mlc_rule_last_run_success"), rule, 0, 0, 0,
	       st && !strcmp(st, "ok") ? 1 : 0);
	return 0;
}

/* mlc_trail_status: unknown (8), quarantined (11), in_doubt (12). */
static int
status_row(const struct mlc_trail_row *r, void *arg)
{
	const char *rule = col(r, 0);

	if (!rule || !strcmp(rule, "-"))
		rule = "";
	if (*rule) {
		sample(arg, family_of("mlc_deliveries_unknown"), rule, 0, 0, 0, (double)r->c[8].i);
		sample(arg, family_of("mlc_deliveries_in_doubt"), rule, 0, 0, 0, (double)r->c[12].i);
	}
	if (*rule || r->c[11].i)
		sample(arg, family_of("mlc_quarantined_lines"), rule, 0, 0, 0, (double)r->c[11].i);
	return 0;
}

/* The textfile replaced whole (mlc_file_replace), mode 0644: the unit's
 * UMask=0077 would leave it unreadable to node_exporter. */
static int
replace_file(const char *path, const struct mlc_buf *b)
{
	if (mlc_file_replace(path, b->p, b->len, 0644) < 0) {
		mlc_warn("metrics: %s: %s (left as it was)", path, strerror(errno));
		return MLC_EX_IOERR;
	}
	return MLC_EX_OK;
}

/* metrics up SYSTEM 0|1, metrics refused SYSTEM 0|1: a gauge of a remote
 * system (mlc_up, mlc_auth_refused), set by the orchestrator. */
static int
cmd_up(int argc, char **argv)
{
	const char *name = !strcmp(argv[1], "up") ? "mlc_up" : "mlc_auth_refused";
	struct timespec now;
	char ts[32];
	int rc;

	if (argc != 4 || (strcmp(argv[2], "ais") && strcmp(argv[2], "twilio") &&
	                  strcmp(argv[2], "sendgrid")) ||
	    (strcmp(argv[3], "0") && strcmp(argv[3], "1")))
		mlc_die(MLC_EX_USAGE, "usage: alert-log metrics %s ais|twilio|sendgrid 0|1", argv[1]);
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	open_store();
	mlc_store_doing(store, "set a gauge");
	rc = mlc_trail_metric_put(store, 1, name, NULL, NULL, NULL, argv[2],
	                          argv[3][0] == '1' ? 1 : 0, ts);
	if (rc < 0) {
		mlc_store_warn(store, "metrics up");
		rc = mlc_store_code(store);
	}
	mlc_store_close(store);
	return rc < 0 ? MLC_EX_IOERR : rc;
}

int
cmd_metrics(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "textfile", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *textfile = NULL;
	struct expo x;
	struct mlc_buf out;
	int c, i, rc;

	if (argc > 1 && (!strcmp(argv[1], "up") || !strcmp(argv[1], "refused")))
		return cmd_up(argc, argv);
	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't': textfile = optarg; break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc || (textfile && !*textfile))
		mlc_die(MLC_EX_USAGE, "usage: alert-log metrics [--textfile PATH]");
	for (i = 0; i < NFAM; i++)
		mlc_buf_init(&x.fam[i]);
	open_store();
	mlc_store_doing(store, "read the metrics");
	rc = mlc_trail_run_times(store, run_row, &x);
	if (rc == 0)
		rc = mlc_trail_metrics(store, metric_row, &x);
	if (rc == 0)
		rc = mlc_trail_status(store, NULL, status_row, &x);
	if (rc < 0) {
		mlc_store_warn(store, "metrics");
		rc = mlc_store_code(store);
		mlc_store_close(store);
		return rc;
	}
	mlc_store_close(store);
	/* One group per metric, HELP and TYPE before its samples; a family
	 * with no sample yet is left out. */
	mlc_buf_init(&out);
	for (i = 0; i < NFAM; i++) {
		if (x.fam[i].len)
			mlc_buf_printf(&out, "# HELP %s %s\n# TYPE %s %s\n%s", families[i].name,
			               families[i].help, families[i].name, families[i].type,
			               x.fam[i].p);
		mlc_buf_free(&x.fam[i]);
	}
	if (textfile) {
		rc = replace_file(textfile, &out);
	} else {
		rc = fwrite(out.p ? out.p : "", 1, out.len, stdout) == out.len && fflush(stdout) == 0 ?
		         MLC_EX_OK : MLC_EX_IOERR;
		if (rc)
			mlc_warn("metrics: standard output: %s", strerror(errno));
	}
	mlc_buf_free(&out);
	return rc;
}
