/*
 * alert-log-quarantine.c — the dead letters: alert-log replay hands lines of
 * the trail out again, and alert-log quarantine lists, shows and drops the
 * lines set aside.
 *
 * Both go through trail.c.  replay checks each line as the program it goes
 * to would (check_line, alert-log.c) and quarantines what that program
 * would refuse; quarantine drop is the one way rows leave the quarantine,
 * each drop recorded in the trail.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert-log.h"

/*
 * replay: the delivery lines (as rendered, stage "queued") of deliveries
 * whose latest outcome is in the status list, for sending again on
 * purpose:  alert-log replay --rule R | twilio-send | alert-log
 * With --latest, the latest line itself (a result with its SID), e.g. the
 * sent messages whose delivery is not settled, for twilio-send --poll.
 *
 * Each line is checked as the program it goes to checks it (wire.c:
 * twilio-send's delivery checks, or with --latest those of every line), so
 * a line in the trail that it would refuse (written before the checks
 * existed, or refused by rules since made stricter) never reaches it: the
 * line is quarantined, and the others are handed out.  A quarantined line
 * is skipped, and so is a delivery whose latest row is its quarantine or
 * the operator's drop of it.
 */
#define REPLAY_QMAX 1000 /* lines quarantined by one replay; more wait for the next */

struct qpend {
	long long audit_id, qid;
	char *rule, *delivery_id, *alert_id, *table, *key, *to, *channel;
	char field[160], reason[512];
};

/* What replay files in the quarantine, in one transaction. */
struct qfile {
	struct qpend *p;
	size_t n;
	const char *rule, *run_id;
};

/* mlc_store_tx's fn (may run again: it only writes the database). */
static int
replay_quarantine(struct mlc_store *s, void *arg)
{
	struct qfile *f = arg;
	struct timespec now;
	char ts[32];
	size_t i;

	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	for (i = 0; i < f->n; i++) {
		struct mlc_trail_qitem q = { 0 };

		q.origin = "replay";
		q.audit_id = f->p[i].audit_id;
		q.rule = f->p[i].rule ? f->p[i].rule : f->rule;
		q.run_id = f->run_id;
		q.delivery_id = f->p[i].delivery_id;
		q.alert_id = f->p[i].alert_id;
		q.table = f->p[i].table;
		q.key = f->p[i].key;
		q.to = f->p[i].to;
		q.channel = f->p[i].channel;
		q.field = f->p[i].field;
		q.reason = f->p[i].reason;
		if (mlc_trail_quarantine_put(s, &q, ts, &f->p[i].qid) < 0) {
			mlc_store_warn(s, "quarantining a line of the trail");
			return -1;
		}
	}
	return 0;
}

static char *
dup_or_null(const char *s)
{
	return s ? mlc_xstrdup(s) : NULL;
}

/* What replay's scan collects: lines handed out, lines to quarantine. */
struct replay {
	int latest;
	struct qpend *qp;
	size_t nq, nlater;
	long n;
};

/* mlc_trail_fn over mlc_trail_replay's rows: out, or set aside; 1 (stop)
 * on a write error. */
static int
replay_row(const struct mlc_trail_row *r, void *arg)
{
	struct replay *rp = arg;
	const char *line = r->c[0].s;
	size_t len = r->c[0].len;
	struct mlc_wire_err e;
	jv o;

	if (check_line(line ? line : "", len, rp->latest ? POS_NONE : POS_SEND, &o, &e) < 0) {
		struct qpend *p;

		jv_free(o);
		/* filed after this statement is done: a write now could not
		 * commit while it reads (another writer may have moved on) */
		if (rp->nq == REPLAY_QMAX) {
			rp->nlater++;
			return 0;
		}
		if (rp->nq % 64 == 0)
			rp->qp = mlc_xrealloc(rp->qp, (rp->nq + 64) * sizeof *rp->qp);
		p = &rp->qp[rp->nq++];
		p->audit_id = r->c[1].i;
		p->rule = dup_or_null(r->c[2].s);
		p->delivery_id = dup_or_null(r->c[3].s);
		p->alert_id = dup_or_null(r->c[4].s);
		p->table = dup_or_null(r->c[5].s);
		p->key = dup_or_null(r->c[6].s);
		p->to = dup_or_null(r->c[7].s);
		p->channel = dup_or_null(r->c[8].s);
		snprintf(p->field, sizeof p->field, "%s", e.field);
		mlc_wire_errmsg(&e, p->reason, sizeof p->reason);
		return 0;
	}
	jv_free(o);
	if (mlc_ndjson_write(1, line, len) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		return 1;
	}
	rp->n++;
	return 0;
}

int
cmd_replay(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 'S' },
		{ "status", required_argument, NULL, 's' },
		{ "latest", no_argument, NULL, 'l' },
		{ "channel", required_argument, NULL, 'c' },
		{ "run-id", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rule = NULL, *since = NULL, *status = "failed,unknown", *channel = NULL;
	const char *run_id = opt_run_id;
	struct replay rp = { 0, NULL, 0, 0, 0 };
	size_t i;
	int c, rc, code = MLC_EX_OK;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rule = optarg; break;
		case 'S': since = optarg; break;
		case 's': status = optarg; break;
		case 'l': rp.latest = 1; break;
		case 'c': channel = optarg; break;
		case 'i': run_id = optarg; break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	open_store();
	mlc_store_doing(store, "read the deliveries to replay");
	rc = mlc_trail_replay(store, rp.latest, rule, since, status, channel, replay_row, &rp);
	if (rc > 0) {
		code = MLC_EX_IOERR;
		goto done;
	}
	if (rc < 0) {
		mlc_store_warn(store, "replay");
		code = mlc_store_code(store);
		goto done;
	}
	if (rp.nq > 0) {
		struct qfile qf = { rp.qp, rp.nq, rule, run_id };

		if ((c = mlc_store_tx(store, "file lines of the trail in the quarantine",
		                      replay_quarantine, &qf)) != 0) {
			code = c;
			goto done;
		}
		for (i = 0; i < rp.nq; i++)
			mlc_warn("trail row %lld, delivery %s: %s; quarantined (#%lld), not replayed",
			         rp.qp[i].audit_id, rp.qp[i].delivery_id ? rp.qp[i].delivery_id : "?",
			         rp.qp[i].reason, rp.qp[i].qid);
		code = MLC_EX_DATAERR;
	}
	if (rp.nlater)
		mlc_warn("%zu more lines that would be refused: left for the next replay", rp.nlater);
	/* said only when there is something: the orchestrator replays before
	 * every run and keeps replay's stderr (lock waits, quarantines) */
	if (rp.n > 0)
		mlc_warn("%ld deliveries to replay", rp.n);
done:
	for (i = 0; i < rp.nq; i++) {
		free(rp.qp[i].rule);
		free(rp.qp[i].delivery_id);
		free(rp.qp[i].alert_id);
		free(rp.qp[i].table);
		free(rp.qp[i].key);
		free(rp.qp[i].to);
		free(rp.qp[i].channel);
	}
	free(rp.qp);
	mlc_store_close(store);
	return code == MLC_EX_SOFTWARE ? MLC_EX_IOERR : code;
}

/*
 * quarantine: the lines set aside (trail.c, mlc_trail_quarantine_put).
 * list (default), count, show ID (the line's bytes as received), drop
 * ID...|--all: the one way rows leave the quarantine, each drop recorded in
 * the trail (stage "discarded", by whom), so that replay never hands the
 * line out again.
 */

/* Append s for a terminal: control characters as '?'. */
static void
add_clean(struct mlc_buf *b, const char *s)
{
	for (; s && *s; s++)
		mlc_buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

struct qlist {
	enum fmt f;
	int lines;
	struct mlc_buf b;
};

/* mlc_trail_fn: one quarantined line of quarantine list; 1 (stop) on a
 * write error. */
static int
q_row(const struct mlc_trail_row *r, void *arg)
{
	struct qlist *o = arg;
	struct mlc_buf *b = &o->b;
	int ncol = o->lines ? 16 : 15;

	mlc_buf_reset(b);
	if (o->f == F_TEXT) {
		const char *what = r->c[8].s;

		if (!what)
			what = r->c[9].s;
		if (!what)
			what = r->c[10].s;
		mlc_buf_printf(b, "#%lld %s ", r->c[0].i, r->c[2].s);
		add_clean(b, r->c[4].type == MLC_TRAIL_NULL ? "-" : r->c[4].s);
		mlc_buf_adds(b, " (");
		add_clean(b, r->c[6].s);
		if (r->c[7].type != MLC_TRAIL_NULL)
			mlc_buf_printf(b, ", line %lld", r->c[7].i);
		if (r->c[13].type != MLC_TRAIL_NULL)
			mlc_buf_printf(b, ", trail row %lld", r->c[13].i);
		mlc_buf_adds(b, ") ");
		if (what) {
			add_clean(b, what);
			mlc_buf_adds(b, ": ");
		}
		add_clean(b, r->c[12].s);
		if (r->c[3].i > 1)
			mlc_buf_printf(b, " (seen %d times since %s)", (int)r->c[3].i, r->c[1].s);
	} else if (o->f == F_CSV) {
		csv_row(b, r, 15);
	} else {
		json_row(b, r, ncol); /* the line's bytes: show ID */
	}
	return put_line(b) < 0;
}

static int
q_list(const char *rule, const char *run, enum fmt f, int lines)
{
	struct qlist o = { f, lines, { 0 } };
	int rc;

	mlc_buf_init(&o.b);
	if (f == F_CSV && csv_head(&o.b, mlc_trail_quarantine_cols, 15) < 0) {
		mlc_buf_free(&o.b);
		return MLC_EX_IOERR;
	}
	rc = mlc_trail_quarantine_list(store, rule, run, NULL, q_row, &o);
	mlc_buf_free(&o.b);
	return read_code(rc, "quarantine");
}

/* quarantine show: the line's bytes as received (1 stops the scan: found). */
struct qshow {
	int found, kept, werr;
};

static int
q_show_row(const struct mlc_trail_row *r, void *arg)
{
	struct qshow *o = arg;

	o->found = 1;
	if (r->c[15].type == MLC_TRAIL_NULL)
		return 1;
	o->kept = 1;
	if (mlc_ndjson_write(1, r->c[15].s, r->c[15].len) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		o->werr = 1;
	}
	return 1;
}

static int
q_show(const char *id)
{
	struct qshow o = { 0, 0, 0 };

	if (mlc_trail_quarantine_list(store, NULL, NULL, id, q_show_row, &o) < 0) {
		mlc_store_warn(store, "quarantine");
		return mlc_store_code(store);
	}
	if (!o.found) {
		mlc_warn("no quarantined line #%s", id);
		return MLC_EX_NOINPUT;
	}
	if (!o.kept) {
		mlc_warn("quarantined line #%s: its bytes were not kept (%s)", id,
		         "a line over the cap or cut short is not read whole");
		return MLC_EX_NOINPUT;
	}
	return o.werr ? MLC_EX_IOERR : MLC_EX_OK;
}

/* quarantine drop, in one transaction: what it says is collected, and said
 * once it has committed (the transaction may run again). */
struct qdrop {
	const char *rule;
	int all;
	char **ids;
	size_t nids;
	char ts[32], who[160];
	long n;
	struct mlc_buf out, missing;
};

static void
q_dropped(long long id, void *arg)
{
	struct qdrop *d = arg;

	mlc_buf_printf(&d->out, "dropped #%lld\n", id);
	d->n++;
}

static int
quarantine_drop(struct mlc_store *s, void *arg)
{
	struct qdrop *d = arg;
	size_t i;
	long before_n;

	d->n = 0;
	mlc_buf_reset(&d->out);
	mlc_buf_reset(&d->missing);
	if (d->all && mlc_trail_quarantine_drop(s, d->rule, NULL, d->ts, d->who, q_dropped, d) < 0)
		goto dberr;
	for (i = 0; i < d->nids; i++) {
		before_n = d->n;
		if (mlc_trail_quarantine_drop(s, d->rule, d->ids[i], d->ts, d->who, q_dropped, d) < 0)
			goto dberr;
		if (d->n == before_n)
			mlc_buf_printf(&d->missing, "%s: no quarantined line #%s%s%s\n", mlc_progname,
			               d->ids[i], d->rule ? " of rule " : "", d->rule ? d->rule : "");
	}
	return 0;
dberr:
	mlc_store_warn(s, "quarantine drop");
	return -1;
}

int
cmd_quarantine(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "run-id", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "lines", no_argument, NULL, 'L' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	static const char default_verb[] = "list";
	const char *verb = default_verb, *rule = NULL, *run = NULL;
	enum fmt f = F_TEXT;
	int c, all = 0, lines = 0, rc = MLC_EX_OK, i;

	if (argc > 1 && argv[1][0] != '-') {
		verb = argv[1];
		argc--;
		argv++;
	}
	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rule = optarg; break;
		case 'i': run = optarg; break;
		case 'a': all = 1; break;
		case 'L': lines = 1; break;
		case 'f': f = parse_fmt(optarg); break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	/* the command may also follow the options (getopt moved it here) */
	if (verb == default_verb && optind < argc &&
	    (!strcmp(argv[optind], "list") || !strcmp(argv[optind], "count") ||
	     !strcmp(argv[optind], "show") || !strcmp(argv[optind], "drop")))
		verb = argv[optind++];
	if (!strcmp(verb, "list") || !strcmp(verb, "count")) {
		if (optind != argc || all || (lines && (f != F_NDJSON || verb[0] == 'c'))) {
			mlc_warn("usage: alert-log quarantine [list] [--rule R] [--run-id ID]"
			         " [-f text|ndjson|csv] [--lines (with -f ndjson)] | count [--rule R]"
			         " [--run-id ID]");
			return MLC_EX_USAGE;
		}
	} else if (!strcmp(verb, "show")) {
		if (argc - optind != 1 || all || rule || run || lines) {
			mlc_warn("usage: alert-log quarantine show ID");
			return MLC_EX_USAGE;
		}
	} else if (!strcmp(verb, "drop")) {
		if ((argc - optind == 0) == !all || lines || run) {
			mlc_warn("usage: alert-log quarantine drop ID... | drop --all [--rule R]");
			return MLC_EX_USAGE;
		}
	} else {
		mlc_warn("quarantine: unknown command \"%s\" (list, count, show, drop)", verb);
		return MLC_EX_USAGE;
	}
	for (i = optind; i < argc; i++) {
		const char *p = argv[i] + (argv[i][0] == '#');

		if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 18) {
			mlc_warn("quarantine: \"%s\" is not a quarantine id (a number, as list shows)",
			         argv[i]);
			return MLC_EX_USAGE;
		}
		argv[i] = (char *)p;
	}
	open_store();
	if (!strcmp(verb, "drop")) {
		struct timespec now;
		struct passwd *pw = getpwuid(geteuid());
		struct qdrop d;

		memset(&d, 0, sizeof d);
		d.rule = rule;
		d.all = all;
		d.ids = argv + optind;
		d.nids = (size_t)(argc - optind);
		snprintf(d.who, sizeof d.who, "%s (uid %ld)", pw ? pw->pw_name : "?",
		         (long)geteuid());
		mlc_time_now(&now);
		mlc_time_fmt(d.ts, &now);
		mlc_buf_init(&d.out);
		mlc_buf_init(&d.missing);
		rc = mlc_store_tx(store, "drop quarantined lines", quarantine_drop, &d);
		mlc_store_close(store);
		if (rc == 0) {
			fwrite(d.out.p ? d.out.p : "", 1, d.out.len, stdout);
			if (d.missing.len) {
				fputs(d.missing.p, stderr);
				rc = MLC_EX_NOINPUT;
			}
			if (all)
				mlc_warn("%ld quarantined lines dropped", d.n);
		}
		mlc_buf_free(&d.out);
		mlc_buf_free(&d.missing);
		return rc == MLC_EX_SOFTWARE ? MLC_EX_IOERR : rc;
	}
	mlc_store_doing(store, "read the quarantine");
	if (!strcmp(verb, "list")) {
		rc = q_list(rule, run, f, lines);
	} else if (!strcmp(verb, "show")) {
		rc = q_show(argv[optind]);
	} else {
		long long n;

		if (mlc_trail_quarantine_count(store, rule, run, &n) < 0) {
			mlc_store_warn(store, "quarantine");
			rc = mlc_store_code(store);
		} else {
			printf("%lld\n", n);
		}
	}
	mlc_store_close(store);
	return rc;
}
