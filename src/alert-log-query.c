/*
 * alert-log-query.c — the auditor's reports over the trail: alert-log query,
 * why, status and retention.
 *
 * Each command reads through trail.c and writes one line per row on
 * stdout, as NDJSON, CSV or text (-f); a write error on stdout is
 * MLC_EX_IOERR.  retention is the one deliberate way rows leave the trail.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "alert-log.h"

/* ---- output formats ---- */

const struct option format_opt[] = {
	{ "format", required_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 }
};

void
csv_field(struct mlc_buf *b, const char *s)
{
	if (!s)
		return;
	if (strpbrk(s, ",\"\r\n") || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' '))) {
		mlc_buf_addc(b, '"');
		for (; *s; s++) {
			if (*s == '"')
				mlc_buf_addc(b, '"');
			mlc_buf_addc(b, *s);
		}
		mlc_buf_addc(b, '"');
	} else {
		mlc_buf_adds(b, s);
	}
}

enum fmt
parse_fmt(const char *s)
{
	if (!strcmp(s, "ndjson"))
		return F_NDJSON;
	if (!strcmp(s, "csv"))
		return F_CSV;
	if (!strcmp(s, "text"))
		return F_TEXT;
	mlc_die(MLC_EX_USAGE, "unknown format \"%s\" (ndjson, csv, text)", s);
}

int
put_line(struct mlc_buf *b)
{
	if (mlc_ndjson_put(1, b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void
json_row(struct mlc_buf *b, const struct mlc_trail_row *r, int ncols)
{
	int i, first = 1;

	mlc_buf_addc(b, '{');
	for (i = 0; i < ncols; i++) {
		const struct mlc_trail_col *c = &r->c[i];

		if (c->type == MLC_TRAIL_NULL)
			continue;
		if (!first)
			mlc_buf_addc(b, ',');
		first = 0;
		mlc_buf_json_str(b, c->name, strlen(c->name));
		mlc_buf_addc(b, ':');
		if (c->type == MLC_TRAIL_INT)
			mlc_buf_printf(b, "%lld", c->i);
		else /* invalid UTF-8 shows as U+FFFD */
			mlc_buf_json_str(b, c->s, c->len);
	}
	mlc_buf_addc(b, '}');
}

void
csv_row(struct mlc_buf *b, const struct mlc_trail_row *r, int ncols)
{
	int i;

	for (i = 0; i < ncols; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		csv_field(b, r->c[i].s);
	}
}

int
csv_head(struct mlc_buf *b, const char *const *cols, int ncols)
{
	int i;

	mlc_buf_reset(b);
	for (i = 0; i < ncols; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, cols[i]);
	}
	return put_line(b);
}

int
read_code(int rc, const char *what)
{
	if (rc == 0)
		return MLC_EX_OK;
	if (rc > 0)
		return MLC_EX_IOERR; /* a write error, said by put_line */
	mlc_store_warn(store, what);
	return mlc_store_code(store);
}

/* How query and why print the audit rows trail.c hands them. */
struct rows {
	enum fmt f;
	int lines;          /* the line column too */
	long count;
	struct mlc_buf b;
	int message;        /* text: the message a queued row carries, beneath it (why) */
};

/*
 * The message of a delivery line (what was handed to twilio-send): an
 * SMS's or WhatsApp's body, a WhatsApp template's sid and variables, an
 * e-mail's subject; indented beneath the row, each line of it.
 */
static void
add_message(struct mlc_buf *b, const struct mlc_trail_col *line)
{
	static const char *const names[] = { "body", "subject" };
	jv o, v;
	size_t i, k;

	if (line->type == MLC_TRAIL_NULL || !line->s)
		return;
	o = jv_parse_sized(line->s, (int)line->len);
	v = jv_get_kind(o) == JV_KIND_OBJECT ? jv_object_get(jv_copy(o), jv_string("content_sid"))
	                                     : jv_invalid();
	if (jv_get_kind(v) == JV_KIND_STRING) {
		jv vars = jv_object_get(jv_copy(o), jv_string("content_variables"));

		mlc_buf_printf(b, "\n    template: %s", jv_string_value(v));
		if (jv_get_kind(vars) == JV_KIND_OBJECT) {
			mlc_buf_adds(b, " ");
			mlc_content_vars_json(vars, b);
		}
		jv_free(vars);
		jv_free(v);
		jv_free(o);
		return;
	}
	jv_free(v);
	for (k = 0; k < 2 && jv_get_kind(o) == JV_KIND_OBJECT; k++) {
		v = jv_object_get(jv_copy(o), jv_string(names[k]));
		if (jv_get_kind(v) == JV_KIND_STRING) {
			const char *t = jv_string_value(v);

			mlc_buf_printf(b, "\n    %s: ", k ? "subject" : "message");
			for (i = 0; t[i]; i++) {
				if (t[i] == '\n')
					mlc_buf_adds(b, "\n      ");
				else if (t[i] != '\r')
					mlc_buf_addc(b, t[i]);
			}
			jv_free(v);
			break;
		}
		jv_free(v);
	}
	if (jv_get_kind(o) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(o), jv_string("reply_code"));
		jv f = jv_object_get(jv_copy(o), jv_string("reply_code_shown"));

		/* ack.c: a code that would have cost a segment is not printed */
		if (jv_get_kind(c) == JV_KIND_STRING && jv_get_kind(f) == JV_KIND_STRING &&
		    strcmp(jv_string_value(f), "none") == 0)
			mlc_buf_printf(b, "\n    reply code %s not printed (it would have cost another"
			               " segment): ACK alone or with the document number acknowledges",
			               jv_string_value(c));
		jv_free(c);
		jv_free(f);
	}
	jv_free(o);
}

/* mlc_trail_fn: one audit row on stdout; 1 (stop) on a write error. */
static int
emit_row(const struct mlc_trail_row *r, void *arg)
{
	struct rows *o = arg;
	struct mlc_buf *b = &o->b;
	int ncols = o->lines ? MLC_TRAIL_AUDIT_NCOLS : MLC_TRAIL_AUDIT_NCOLS - 1;

	mlc_buf_reset(b);
	if (o->f == F_NDJSON) {
		json_row(b, r, ncols);
	} else if (o->f == F_CSV) {
		csv_row(b, r, ncols);
	} else {
		/* text: the timeline columns an auditor reads first */
		static const int show[] = { 1, 2, 3, 5, 8, 9, 10, 11, 12, 14 };
		size_t k;

		for (k = 0; k < sizeof show / sizeof show[0]; k++) {
			const char *t = r->c[show[k]].s;

			if (!t)
				continue;
			if (k)
				mlc_buf_addc(b, ' ');
			if (show[k] == 12)
				mlc_buf_adds(b, "error ");
			mlc_buf_printf(b, k == 1 ? "%-11s" : "%s", t);
		}
		/* a failure the rule or the account must fix says how (retry.c) */
		if (r->c[12].s && mlc_retry_hint(strtol(r->c[12].s, NULL, 10)))
			mlc_buf_printf(b, "\n    hint: %s", mlc_retry_hint(strtol(r->c[12].s, NULL, 10)));
		if (o->message && r->c[2].s && strcmp(r->c[2].s, "queued") == 0)
			add_message(b, &r->c[MLC_TRAIL_AUDIT_NCOLS - 1]);
	}
	if (put_line(b) < 0)
		return 1;
	o->count++;
	return 0;
}

/* The CSV header of the audit columns: 0, or -1 on a write error. */
static int
csv_header(struct rows *o)
{
	if (o->f != F_CSV)
		return 0;
	return csv_head(&o->b, mlc_trail_audit_cols,
	                o->lines ? MLC_TRAIL_AUDIT_NCOLS : MLC_TRAIL_AUDIT_NCOLS - 1);
}

/* The options of a command whose one option is -f: 0, or -1 (usage said). */
static int
fmt_opts(int argc, char **argv, enum fmt *f)
{
	int c;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "f:", format_opt, NULL)) != -1) {
		if (c != 'f') {
			fputs(usage, stderr);
			return -1;
		}
		*f = parse_fmt(optarg);
	}
	return 0;
}

/* ---- query ---- */

int
cmd_query(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "record", required_argument, NULL, 'k' },
		{ "alert", required_argument, NULL, 'a' },
		{ "delivery", required_argument, NULL, 'D' },
		{ "recipient", required_argument, NULL, 't' },
		{ "sid", required_argument, NULL, 'i' },
		{ "stage", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "lines", no_argument, NULL, 'L' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct mlc_trail_filter flt = { 0 };
	const char **val[] = { &flt.rule, &flt.since, &flt.until, &flt.record, &flt.alert,
	                       &flt.delivery, &flt.recipient, &flt.sid, &flt.stage };
	static const char ops[] = "rSUkaDtis";
	struct rows o = { F_NDJSON, 0, 0, { 0 }, 0 };
	int c, i, rc;

	flt.limit = -1;
	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1) {
		const char *p = strchr(ops, c);

		if (p && c) {
			*val[p - ops] = optarg;
			continue;
		}
		switch (c) {
		case 'n': flt.limit = strtol(optarg, NULL, 10); break;
		case 'L': o.lines = 1; break;
		case 'f': o.f = parse_fmt(optarg); break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	for (i = 1; i <= 2; i++) {
		struct timespec t;
		const char *v = *val[i];

		if (v && mlc_time_parse(v, &t) < 0 &&
		    !(strlen(v) == 10 && v[4] == '-' && v[7] == '-'))
			mlc_die(MLC_EX_USAGE, "--%s: expected RFC 3339 time or YYYY-MM-DD",
			        i == 1 ? "since" : "until");
	}
	open_store();
	mlc_store_doing(store, "read the audit trail");
	mlc_buf_init(&o.b);
	rc = csv_header(&o) < 0 ? MLC_EX_IOERR : read_code(mlc_trail_query(store, &flt, emit_row, &o),
	                                                   "query");
	mlc_buf_free(&o.b);
	mlc_store_close(store);
	return rc;
}

/* The records whose key has a part equal to a short number (why). */
struct cands {
	const char *what;
	size_t n, cap;
	char **key, **rule, **table;
	long long *rows;
};

/* mlc_trail_fn: a record of the trail, kept when a part of its key names what. */
static int
cand_row(const struct mlc_trail_row *r, void *arg)
{
	struct cands *c = arg;

	/* the one reading of a document number in a key (ack.c's, for ACK 4711 too) */
	if (!mlc_key_has_part(r->c[2].s, c->what))
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->key = mlc_xrealloc(c->key, c->cap * sizeof *c->key);
		c->rule = mlc_xrealloc(c->rule, c->cap * sizeof *c->rule);
		c->table = mlc_xrealloc(c->table, c->cap * sizeof *c->table);
		c->rows = mlc_xrealloc(c->rows, c->cap * sizeof *c->rows);
	}
	c->key[c->n] = mlc_xstrdup(r->c[2].s);
	c->rule[c->n] = mlc_xstrdup(r->c[0].s ? r->c[0].s : "-");
	c->table[c->n] = mlc_xstrdup(r->c[1].s ? r->c[1].s : "-");
	c->rows[c->n] = r->c[3].i;
	c->n++;
	return 0;
}

static void
cands_free(struct cands *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->key[i]);
		free(c->rule[i]);
		free(c->table[i]);
	}
	free(c->key);
	free(c->rule);
	free(c->table);
	free(c->rows);
}

/* The candidates, one a line: "KEY  rule R  table T  N rows", or NDJSON. */
static int
list_cands(const struct cands *c, enum fmt f)
{
	struct mlc_buf b;
	size_t i;
	int rc = MLC_EX_OK;

	mlc_buf_init(&b);
	for (i = 0; i < c->n && rc == MLC_EX_OK; i++) {
		mlc_buf_reset(&b);
		if (f == F_NDJSON) {
			mlc_buf_adds(&b, "{\"record_key\":");
			mlc_buf_json_str(&b, c->key[i], strlen(c->key[i]));
			mlc_buf_adds(&b, ",\"rule\":");
			mlc_buf_json_str(&b, c->rule[i], strlen(c->rule[i]));
			mlc_buf_adds(&b, ",\"jde_table\":");
			mlc_buf_json_str(&b, c->table[i], strlen(c->table[i]));
			mlc_buf_printf(&b, ",\"rows\":%lld}", c->rows[i]);
		} else {
			mlc_buf_printf(&b, "%s  rule %s  table %s  %lld rows", c->key[i], c->rule[i],
			               c->table[i], c->rows[i]);
		}
		if (put_line(&b) < 0)
			rc = MLC_EX_IOERR;
	}
	mlc_buf_free(&b);
	return rc;
}

/* Columns of mlc_trail_esc_of: rule alert_key alert_id steps started_at
 * step next_at.  One line of why: the escalation's steps taken and the
 * next one pending. */
static int
why_esc_row(const struct mlc_trail_row *r, void *arg)
{
	struct rows *o = arg;
	const char *steps = r->c[3].s ? r->c[3].s : "", *p = steps;
	int n = *steps != '\0', step = (int)r->c[5].i, i;
	size_t w;

	for (; *p; p++)
		n += *p == ',';
	mlc_buf_reset(&o->b);
	mlc_buf_printf(&o->b, "escalation of %s (steps %s): ", r->c[2].s, steps);
	if (r->c[6].type == MLC_TRAIL_NULL) {
		mlc_buf_printf(&o->b, "all %d taken", n);
	} else {
		for (p = steps, i = 0; i < step && (p = strchr(p, ',')); i++)
			p++;
		w = p ? strcspn(p, ",") : 0;
		if (step)
			mlc_buf_printf(&o->b, "%d of %d taken; ", step, n);
		mlc_buf_printf(&o->b, "step %d (%.*s) due at %s", step + 1, (int)w, p ? p : "",
		               r->c[6].s);
	}
	return put_line(&o->b) < 0 ? 1 : 0;
}

/*
 * why: everything the trail knows about a record, alert, delivery or
 * message: rows naming it directly, then every row of the alerts and
 * deliveries those rows belong to, and the message status history of their
 * SIDs, in time order.  What names nothing directly may be a short number
 * (a document or PO number): a part of a record key, compared as a number
 * when both are digits.  One record so named is told; several are listed,
 * for the operator to ask again by key.
 */
int
cmd_why(int argc, char **argv)
{
	struct rows o = { F_TEXT, 0, 0, { 0 }, 0 };
	const char *what;
	int rc;

	if (fmt_opts(argc, argv, &o.f) < 0)
		return MLC_EX_USAGE;
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	what = argv[optind];
	o.message = 1;
	open_store();
	mlc_store_doing(store, "read the audit trail");
	mlc_buf_init(&o.b);
	rc = csv_header(&o) < 0 ? MLC_EX_IOERR : read_code(mlc_trail_why(store, what, emit_row, &o),
	                                                   "query");
	if (rc == MLC_EX_OK && o.count == 0) {
		struct cands k = { what, 0, 0, NULL, NULL, NULL, NULL };

		rc = read_code(mlc_trail_records(store, cand_row, &k), "query");
		if (rc == MLC_EX_OK && k.n == 1) {
			mlc_warn("\"%s\" is record %s of rule %s (table %s)", what, k.key[0], k.rule[0],
			         k.table[0]);
			rc = read_code(mlc_trail_why(store, k.key[0], emit_row, &o), "query");
			if (rc == MLC_EX_OK && o.count > 0 && o.f == F_TEXT)
				rc = read_code(mlc_trail_esc_of(store, k.key[0], why_esc_row, &o),
				               "escalations");
		} else if (rc == MLC_EX_OK && k.n > 1) {
			mlc_warn("\"%s\" is part of the keys of %zu records: ask for one by its key",
			         what, k.n);
			rc = list_cands(&k, o.f == F_NDJSON ? F_NDJSON : F_TEXT);
			o.count = (long)k.n;
		}
		cands_free(&k);
	} else if (rc == MLC_EX_OK && o.f == F_TEXT) {
		/* the escalation still running, as text: its steps taken and pending */
		rc = read_code(mlc_trail_esc_of(store, what, why_esc_row, &o), "escalations");
	}
	mlc_buf_free(&o.b);
	mlc_store_close(store);
	if (rc == MLC_EX_OK && o.count == 0) {
		mlc_warn("nothing in the audit trail about \"%s\"", what);
		return MLC_EX_NOINPUT;
	}
	return rc;
}

/* ---- status ---- */

/* mlc_trail_fn: one rule's line of alert-log status. */
static int
status_row(const struct mlc_trail_row *r, void *arg)
{
	struct rows *o = arg;
	struct mlc_buf *b = &o->b;
	int i;

	mlc_buf_reset(b);
	if (o->f == F_TEXT) {
		const char *t = r->c[2].s, *oc = r->c[4].s, *det = r->c[5].s, *id = r->c[1].s;

		mlc_buf_printf(b, "%-24s %-24s %-10s %6d %8d %6d %8d %7d %7d %8d %9d %6d %6d %11d %8d %5d",
		               r->c[0].s, t ? t : "-", oc ? oc : "-", (int)r->c[6].i,
		               (int)r->c[17].i, (int)r->c[7].i, (int)r->c[18].i, (int)r->c[8].i,
		               (int)r->c[9].i, (int)r->c[10].i, (int)r->c[15].i, (int)r->c[13].i,
		               (int)r->c[14].i, (int)r->c[11].i, (int)r->c[12].i, (int)r->c[16].i);
		/* the counts above stand over every run; the last run's own are its detail */
		if (id)
			mlc_buf_printf(b, "\n  last run %s: %s", id, det ? det : "(not ended)");
	} else if (o->f == F_CSV) {
		csv_row(b, r, MLC_TRAIL_STATUS_NCOLS);
	} else {
		for (i = 0; i < MLC_TRAIL_STATUS_NCOLS; i++) {
			const char *v = r->c[i].s;

			mlc_buf_addc(b, i ? ',' : '{');
			mlc_buf_json_str(b, r->c[i].name, strlen(r->c[i].name));
			mlc_buf_addc(b, ':');
			if (i >= 6)
				mlc_buf_printf(b, "%d", (int)r->c[i].i);
			else if (v)
				mlc_buf_json_str(b, v, strlen(v));
			else
				mlc_buf_adds(b, "null");
		}
		mlc_buf_addc(b, '}');
	}
	return put_line(b) < 0;
}

/*
 * status: per rule, the last run and what stands: deliveries sent (alerts'),
 * resolved notices sent (RESOLVED), failed, the addresses Twilio refused
 * for good that alerts are held back from (BAD-ADDR: realert.c), still
 * unknown, and queued with no outcome yet (a run died before sending them),
 * deferred, suppressed because the recipient opted out (OPTED-OUT), capped,
 * counted over each delivery's latest event, in all runs, and the
 * acknowledgements of its alerts (ACKED); the text form gives the last
 * run's own figures (the run's detail) on a line of their own beneath.  Row "-" counts the
 * callbacks for SIDs the trail does not know (stray).
 */
int
cmd_status(int argc, char **argv)
{
	struct rows o = { F_TEXT, 0, 0, { 0 }, 0 };
	const char *rule = NULL;
	int rc;

	if (fmt_opts(argc, argv, &o.f) < 0)
		return MLC_EX_USAGE;
	if (argc - optind > 1) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (argc - optind == 1)
		rule = argv[optind];
	open_store();
	mlc_store_doing(store, "read the audit trail");
	mlc_buf_init(&o.b);
	if (o.f == F_TEXT) {
		mlc_buf_printf(&o.b, "%-24s %-24s %-10s %6s %8s %6s %8s %7s %7s %8s %9s %6s %6s %11s %8s %5s",
		               "RULE", "LAST RUN", "OUTCOME", "SENT", "RESOLVED", "FAILED", "BAD-ADDR",
		               "UNKNOWN", "PENDING", "DEFERRED", "OPTED-OUT", "CAPPED", "STRAY",
		               "QUARANTINED", "IN-DOUBT", "ACKED");
		if (put_line(&o.b) < 0) {
			mlc_buf_free(&o.b);
			return MLC_EX_IOERR;
		}
	}
	rc = read_code(mlc_trail_status(store, rule, status_row, &o), "status");
	mlc_buf_free(&o.b);
	if (rc == MLC_EX_OK)
		mlc_store_close(store);
	return rc;
}

/* ---- retention ---- */

struct retention {
	const char *cutoff, *ts;
};

static int
retention_tx(struct mlc_store *s, void *arg)
{
	struct retention *r = arg;
	long long n;

	if (mlc_trail_retention(s, r->cutoff, r->ts, &n) < 0) {
		mlc_store_warn(s, "retention");
		return -1;
	}
	return 0;
}

/*
 * retention: the one deliberate way rows leave the trail (trail.c: the
 * append-only trigger dropped and recreated around the deletion, which is
 * itself recorded as an audit row, in one transaction).
 */
int
cmd_retention(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct timespec now;
	char cutoff[32], ts[32];
	struct retention r = { cutoff, ts };
	long days = -1;
	long long n = 0;
	int c, dry = 0;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'o': days = strtol(optarg, NULL, 10); break;
		case 'n': dry = 1; break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (days < 1 || optind != argc)
		mlc_die(MLC_EX_USAGE, "retention needs --older-than DAYS (1 or more)");
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	now.tv_sec -= days * 86400;
	mlc_time_fmt(cutoff, &now);
	open_store();
	mlc_store_doing(store, "count the old audit rows");
	if (mlc_trail_count_older(store, cutoff, &n) < 0) {
		mlc_store_warn(store, "retention");
		return mlc_store_code(store);
	}
	printf("%lld audit rows older than %s%s\n", n, cutoff, dry ? " (dry run)" : "");
	if (dry || n == 0) {
		mlc_store_close(store);
		return MLC_EX_OK;
	}
	c = mlc_store_tx(store, "delete the old audit rows", retention_tx, &r);
	mlc_store_close(store);
	return c;
}

/* ---- open: the alerts a [resolved] rule re-checks ---- */

struct open_out {
	const char *rule;
	struct mlc_buf key, head, sent, b;
	int n;
};

/* The line of the key gathered so far: 0, or 1 on a write error. */
static int
open_flush(struct open_out *o)
{
	if (!o->n)
		return 0;
	mlc_buf_reset(&o->b);
	mlc_buf_add(&o->b, o->head.p, o->head.len);
	mlc_buf_adds(&o->b, ",\"sent\":[");
	mlc_buf_add(&o->b, o->sent.p, o->sent.len);
	mlc_buf_adds(&o->b, "]}");
	o->n = 0;
	return put_line(&o->b) < 0 ? 1 : 0;
}

static void
open_str(struct mlc_buf *b, const char *k, const struct mlc_trail_col *c)
{
	mlc_buf_printf(b, ",\"%s\":", k);
	if (c->type == MLC_TRAIL_NULL)
		mlc_buf_adds(b, "null");
	else
		mlc_buf_json_str(b, c->s, c->len);
}

/* ,"record_key":..,"record":.. of an alert's matched line (the record as
 * it alerted, its bytes, and its own key for jde-fetch --keys); when
 * retention dropped the line, its key is the record's. */
static void
open_record(struct mlc_buf *b, const struct mlc_trail_col *line, const struct mlc_trail_col *key)
{
	const char *rec = NULL;
	size_t rn = 0;
	struct mlc_buf rk;

	mlc_buf_init(&rk);
	if (line->type != MLC_TRAIL_NULL &&
	    mlc_jde_json_member(line->s, line->len, "record", &rec, &rn) && rn &&
	    rec[0] == '{' && mlc_jde_member_str(rec, rn, "key", "", &rk)) {
		mlc_buf_adds(b, ",\"record_key\":");
		mlc_buf_json_str(b, rk.p, rk.len);
		mlc_buf_adds(b, ",\"record\":");
		mlc_buf_add(b, rec, rn);
	} else {
		open_str(b, "record_key", key);
		mlc_buf_adds(b, ",\"record\":{\"key\":");
		mlc_buf_json_str(b, key->s, key->len);
		mlc_buf_addc(b, '}');
	}
	mlc_buf_free(&rk);
}

/* Columns of mlc_trail_open_list: alert_key channel to_addr jde_table
 * alert_id recipient sent_at line. */
static int
open_row(const struct mlc_trail_row *r, void *arg)
{
	struct open_out *o = arg;
	const struct mlc_trail_col *key = &r->c[0];

	if (o->n && (o->key.len != key->len || memcmp(o->key.p, key->s, key->len)))
		if (open_flush(o))
			return 1;
	if (!o->n) {
		mlc_buf_reset(&o->key);
		mlc_buf_add(&o->key, key->s, key->len);
		mlc_buf_reset(&o->head);
		mlc_buf_adds(&o->head, "{\"rule\":");
		mlc_buf_json_str(&o->head, o->rule, strlen(o->rule));
		open_str(&o->head, "table", &r->c[3]);
		open_str(&o->head, "key", key);
		open_str(&o->head, "alert_id", &r->c[4]);
		open_record(&o->head, &r->c[7], key);
		mlc_buf_reset(&o->sent);
	} else {
		mlc_buf_addc(&o->sent, ',');
	}
	mlc_buf_adds(&o->sent, "{\"channel\":");
	mlc_buf_json_str(&o->sent, r->c[1].s, r->c[1].len);
	open_str(&o->sent, "to", &r->c[2]);
	mlc_buf_adds(&o->sent, ",\"recipient\":");
	if (r->c[5].type == MLC_TRAIL_NULL)
		mlc_buf_adds(&o->sent, "{}");
	else
		mlc_buf_add(&o->sent, r->c[5].s, r->c[5].len);
	open_str(&o->sent, "sent_at", &r->c[6]);
	mlc_buf_addc(&o->sent, '}');
	o->n++;
	return 0;
}

/*
 * open --rule R: one line per alert key of R still open for a resolved
 * notice (table open_alert): {"rule","table","key","alert_id",
 * "record_key","record","sent":[{"channel","to","recipient","sent_at"}]},
 * by key.  What jde-fetch --keys and alert-match --resolved read.
 */
int
cmd_open(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct open_out o;
	int c, rc;

	memset(&o, 0, sizeof o);
	o.rule = opt_rule;
	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c != 'r') {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
		o.rule = optarg;
	}
	if (optind != argc || !o.rule) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	open_store();
	mlc_store_doing(store, "read the open alerts");
	mlc_buf_init(&o.key);
	mlc_buf_init(&o.head);
	mlc_buf_init(&o.sent);
	mlc_buf_init(&o.b);
	rc = mlc_trail_open_list(store, o.rule, open_row, &o);
	if (rc == 0)
		rc = open_flush(&o);
	rc = read_code(rc, "open alerts");
	mlc_buf_free(&o.key);
	mlc_buf_free(&o.head);
	mlc_buf_free(&o.sent);
	mlc_buf_free(&o.b);
	if (rc == MLC_EX_OK)
		mlc_store_close(store);
	return rc;
}

/* ---- escalations ---- */

struct esc_out {
	const char *rule;
	struct mlc_buf b;
};

/* Columns of mlc_trail_esc_due: alert_key alert_id jde_table steps
 * started_at step next_at line. */
static int
esc_row(const struct mlc_trail_row *r, void *arg)
{
	struct esc_out *o = arg;
	struct mlc_buf *b = &o->b;

	mlc_buf_reset(b);
	mlc_buf_adds(b, "{\"rule\":");
	mlc_buf_json_str(b, o->rule, strlen(o->rule));
	open_str(b, "table", &r->c[2]);
	open_str(b, "key", &r->c[0]);
	open_str(b, "alert_id", &r->c[1]);
	open_record(b, &r->c[7], &r->c[0]);
	mlc_buf_printf(b, ",\"escalation\":{\"step\":%lld", r->c[5].i);
	open_str(b, "steps", &r->c[3]);
	open_str(b, "started_at", &r->c[4]);
	open_str(b, "next_at", &r->c[6]);
	mlc_buf_adds(b, "}}");
	return put_line(b) < 0 ? 1 : 0;
}

/*
 * escalations --rule R: one line per alert of R with an [escalation] step
 * due now, or a step's delivery held by quiet hours and due for release:
 * {"rule","table","key","alert_id","record_key","record","escalation":
 * {"step","steps","started_at","next_at"}}.  What jde-fetch --keys and
 * alert-match --escalate read.
 */
int
cmd_escalations(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct esc_out o;
	struct timespec t;
	char now[32];
	int c, rc;

	memset(&o, 0, sizeof o);
	o.rule = opt_rule;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c != 'r') {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
		o.rule = optarg;
	}
	if (optind != argc || !o.rule) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (mlc_time_now(&t) < 0) {
		mlc_warn("ML_CONNECTOR_NOW: expected an RFC 3339 time");
		return MLC_EX_USAGE;
	}
	mlc_time_fmt(now, &t);
	open_store();
	mlc_store_doing(store, "read the escalations due");
	mlc_buf_init(&o.b);
	rc = read_code(mlc_trail_esc_due(store, o.rule, now, esc_row, &o), "escalations");
	mlc_buf_free(&o.b);
	if (rc == MLC_EX_OK)
		mlc_store_close(store);
	return rc;
}
