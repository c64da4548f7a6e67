/*
 * jde-fetch — read JD Edwards EnterpriseOne tables through the AIS Server
 * and write one NDJSON record per row (the wire format is in jde-fetch.1).
 *
 * Modes:
 *   query        (default) -r RULE and/or -t TABLE [-f COLS] [-w COND]...:
 *                nothing is read from stdin; records go to stdout.
 *   incremental  a rule whose [source] incremental names the date-updated
 *                columns (catalog.c adds a known table's time column to
 *                UPMJ alone): only rows at or after the rule's watermark are
 *                asked for; the position reached is stored as pending for
 *                (rule, run id) and becomes the watermark only with
 *                --commit RULE RUN_ID, which the orchestrator calls once the
 *                run's deliveries are recorded (a failed run is repeated).
 *   parse        --parse-response FILE...: saved response bodies instead of
 *                a server (fixtures, benchmarks).
 *   --no-state   incremental, but the watermark is only read: no pending
 *                position is stored (ml-connector preview).
 *   --dry-run    the AIS requests as NDJSON ({"method","url","body"}),
 *                without the password and without contacting anyone.
 * The join and sums stage is jde-join(1); --join is refused with a usage
 * error that names it.
 *
 * The session (login, token refresh, paging, logout, cookies, TLS) is
 * ais.c's.  With --session-out FIFO it goes on to jde-join with the first
 * record instead of being logged out (one login per run; ais.c's "the
 * session handed on").  Reads are ordered by the key (after the incremental columns)
 * and a row is written only if it comes after the last one written, so
 * rows the server sends again are dropped with constant memory.
 *
 * Exit status: 0 done; 64 usage; 65 bad data from AIS (malformed JSON,
 * error arrays, a row without its key, rows out of the order asked for);
 * 66 no such rule, response file or
 * pending watermark; 69 AIS unavailable after retries, or 5 starts over
 * in a row without a new row; 70 internal error; 74 write error on stdout
 * or state database I/O; 75 interrupted by SIGTERM/SIGINT (also while
 * waiting for a lock on the state database, which is otherwise waited
 * for);
 * 77 login refused for its credentials (or refused before with the same
 * password: then none is sent), token refused twice in a row, or vault
 * cannot be opened; 78 configuration or rule error, TLS certificate
 * refused, a login that reached no AIS v2 REST service, plain http to a
 * host that is not loopback without [ais] allow_plain_http = yes.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: jde-fetch [-c CONF] [-r RULE] [-t TABLE] [-f COLUMNS] [-w COND]...\n"
	"                 [-m all|any] [-k KEYCOLS] [-p PAGESIZE] [--run-id ID] [--full]\n"
	"                 [--no-state] [--session-out FIFO] [--trailer] [--dry-run]\n"
	"                 [--date-format MDE|DME|YMD]\n"
	"       jde-fetch -r RULE --keys FILE [--batch N] [-p PAGESIZE] [--session-out FIFO]\n"
	"                 [--dry-run] [--date-format MDE|DME|YMD]\n"
	"       jde-fetch --commit RULE RUN_ID\n"
	"       jde-fetch --show-watermark RULE\n"
	"       jde-fetch --ping [-c CONF]\n"
	"       jde-fetch --show-refusal [-c CONF]\n"
	"       jde-fetch --parse-response [-t TABLE] [-k KEYCOLS] [-r RULE] FILE...\n";

static volatile sig_atomic_t stop_sig; /* set by SIGTERM/SIGINT (mlc_util_signals) */

/* ---- configuration ----------------------------------------------------- */

struct opts {
	const char *conf, *rule, *table, *columns, *match, *key, *run_id, *datefmt, *session_out;
	const char *keys_file; /* --keys FILE */
	long batch;            /* --batch N */
	const char **where;
	size_t nwhere;
	long pagesize;
	int dry, full, parse, commit, show_wm, ping, show_ref, trailer, nostate;
};

static struct mlc_conf conf;      /* the configuration (mlc_ais_config) */
static struct mlc_rule rule;
static int have_rule;

/* ---- query mode --------------------------------------------------------- */

#define WM_MAXKEYS 1000

struct fetch {
	/* what is read (fetch_source, fetch_incremental, fetch_columns) */
	const char *table, *keyspec, *columns, *match;
	long pagesize;
	struct mlc_jde_cond *cond; /* [source] where and -w */
	size_t ncond;
	char *keycopy;             /* keys point into it */
	struct mlc_catalog_incr inc; /* fmt.wm_date and wm_time point into it */
	struct mlc_buf rcids;      /* returnControlIDs, empty: every column */
	const char *order[MLC_JDE_MAXPOS];
	size_t norder;
	char *orderbuf;            /* order points into it */
	/* how rows are written (fetch_row) */
	struct mlc_jde_fmt fmt;
	struct mlc_jde_rowinfo ri;
	struct mlc_buf line;
	const char *keys[MLC_JDE_MAXKEY];
	unsigned long written, dropped;
	/* --session-out: the session goes to jde-join with the first record */
	struct mlc_ais *ais;
	const char *session_out;
	/* incremental */
	int incr;
	char *wmtext;          /* the committed watermark as stored, or NULL */
	char run_id[64];       /* the run the pending watermark is stored for */
	long long wm;          /* the watermark: yyyymmdd * 1000000 + hhmmss; -1 none */
	char **wm_keys;        /* keys at exactly wm that the last run wrote */
	size_t nwm_keys;
	long long max;         /* the largest position seen */
	char **max_keys;
	size_t nmax_keys;
	int max_overflow;
	/* --keys: only the rows of these record keys are written (a jv object) */
	jv keyset;
	int by_keys;
};

static int
strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
fetch_row(void *arg, const char *row, size_t n, const char *fetched_at)
{
	struct fetch *f = arg;
	char err[256];

	f->fmt.fetched_at = fetched_at;
	if (mlc_jde_row_record(row, n, &f->fmt, &f->line, &f->ri, err, sizeof err) < 0)
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: %s", f->fmt.table, err);
	if (f->by_keys) {
		/* the LIST of each key column selects a few more rows than asked for */
		if (!jv_object_has(jv_copy(f->keyset), jv_string(f->ri.key.p)))
			return;
	}
	if (f->incr && f->ri.has_wm) {
		long long pos = (long long)f->ri.wm_date * 1000000 + f->ri.wm_time;

		if (pos < f->wm || (pos == f->wm && strv_has(f->wm_keys, f->nwm_keys, f->ri.key.p))) {
			f->dropped++;
			return;
		}
	}
	if (f->session_out && !f->written)
		mlc_ais_session_give(f->ais, f->session_out);
	if (mlc_ndjson_put(1, &f->line) < 0)
		mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	f->written++;
	mlc_progress("records fetched: %lu", f->written);
	if (f->incr && f->ri.has_wm) {
		long long pos = (long long)f->ri.wm_date * 1000000 + f->ri.wm_time;

		if (pos > f->max) {
			strv_free(f->max_keys, f->nmax_keys);
			f->max_keys = NULL;
			f->nmax_keys = 0;
			f->max_overflow = 0;
			f->max = pos;
		}
		if (pos == f->max && !f->max_overflow) {
			if (f->nmax_keys >= WM_MAXKEYS) {
				/* Too many rows share the last second: the next run
				 * writes them again rather than keep an unbounded list. */
				strv_free(f->max_keys, f->nmax_keys);
				f->max_keys = NULL;
				f->nmax_keys = 0;
				f->max_overflow = 1;
			} else {
				f->max_keys = mlc_xrealloc(f->max_keys, (f->nmax_keys + 1) * sizeof *f->max_keys);
				f->max_keys[f->nmax_keys++] = mlc_xstrdup(f->ri.key.p);
			}
		}
	}
}

/* Watermark text: {"date":"YYYY-MM-DD","time":"HH:MM:SS","keys":[...]}. */
static void
wm_format(struct mlc_buf *b, long long pos, char **keys, size_t nkeys)
{
	char iso[11], hms[9];

	mlc_buf_reset(b);
	if (pos < 0) {
		mlc_buf_adds(b, "{}");
		return;
	}
	mlc_jde_iso((long)(pos / 1000000), iso);
	{
		/* HH:MM:SS of the raw number, valid time or not (sample data has
		 * UPMT values such as 86217), so that ordering survives the trip. */
		long t = (long)(pos % 1000000);

		snprintf(hms, sizeof hms, "%02d:%02d:%02d", (int)(t / 10000 % 100),
		         (int)(t / 100 % 100), (int)(t % 100));
	}
	mlc_buf_printf(b, "{\"date\":\"%s\",\"time\":\"%s\",\"keys\":[", iso, hms);
	for (size_t i = 0; i < nkeys; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_json_str(b, keys[i], strlen(keys[i]));
	}
	mlc_buf_adds(b, "]}");
}

static int
wm_parse(const char *text, long long *pos, char ***keys, size_t *nkeys)
{
	jv j = jv_parse(text), d, t, k;
	int rc = -1;
	long ymd = 0, hms = 0;

	*pos = -1;
	*keys = NULL;
	*nkeys = 0;
	if (jv_get_kind(j) != JV_KIND_OBJECT) {
		jv_free(j);
		return -1;
	}
	d = jv_object_get(jv_copy(j), jv_string("date"));
	t = jv_object_get(jv_copy(j), jv_string("time"));
	k = jv_object_get(j, jv_string("keys"));
	if (jv_get_kind(d) != JV_KIND_STRING) {
		rc = jv_get_kind(d) == JV_KIND_INVALID ? 0 : -1; /* {} = no position */
		goto out;
	}
	if (!(ymd = mlc_jde_parse_ymd(jv_string_value(d), strlen(jv_string_value(d)))))
		goto out;
	if (jv_get_kind(t) == JV_KIND_STRING) {
		int hh, mm, ss;

		if (sscanf(jv_string_value(t), "%2d:%2d:%2d", &hh, &mm, &ss) != 3)
			goto out;
		hms = hh * 10000L + mm * 100L + ss;
	}
	*pos = (long long)ymd * 1000000 + hms;
	if (jv_get_kind(k) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(k));

		for (int i = 0; i < n; i++) {
			jv s = jv_array_get(jv_copy(k), i);

			if (jv_get_kind(s) == JV_KIND_STRING) {
				*keys = mlc_xrealloc(*keys, (*nkeys + 1) * sizeof **keys);
				(*keys)[(*nkeys)++] = mlc_xstrdup(jv_string_value(s));
			}
			jv_free(s);
		}
	}
	rc = 0;
out:
	jv_free(d);
	jv_free(t);
	jv_free(k);
	return rc;
}

static int
store_fail(struct mlc_store *s, const char *what)
{
	int code = mlc_store_code(s);

	mlc_store_warn(s, what);
	return code;
}

/* The committed watermark of a rule, as text (malloc'd), or NULL. */
static char *
wm_load(struct mlc_store *s, const char *rulename)
{
	char *v;

	if (mlc_store_wm_get(s, rulename, &v) < 0)
		mlc_ais_fatal(store_fail(s, "reading the watermark"), "cannot read the watermark");
	return v;
}

struct wm_pending {
	const char *rule, *run_id, *value;
};

static int
wm_pending_tx(struct mlc_store *s, void *arg)
{
	struct wm_pending *p = arg;

	if (mlc_store_wm_pending_put(s, p->rule, p->run_id, p->value) < 0) {
		mlc_store_warn(s, "storing the pending watermark");
		return -1;
	}
	return 0;
}

static void
wm_store_pending(struct mlc_store *s, const char *rulename, const char *run_id, const char *v)
{
	struct wm_pending p = { rulename, run_id, v };
	int code = mlc_store_tx(s, "store the pending watermark", wm_pending_tx, &p);

	if (code)
		mlc_ais_fatal(code, "pending watermark not stored");
}

struct wm_commit {
	const char *rule, *run_id;
	char *pending;
};

static int
wm_commit_tx(struct mlc_store *s, void *arg)
{
	struct wm_commit *c = arg;
	char *cur;

	free(c->pending);
	c->pending = NULL;
	if (mlc_store_wm_pending_get(s, c->rule, c->run_id, &c->pending) < 0)
		goto dberr;
	if (!c->pending) {
		mlc_warn("no pending watermark for rule %s, run %s", c->rule, c->run_id);
		return MLC_EX_NOINPUT;
	}
	/* Never move backwards (a pending value older than the watermark is
	 * from a run that started before the last commit). */
	if (mlc_store_wm_get(s, c->rule, &cur) < 0)
		goto dberr;
	if (cur) {
		/* initialised: the second wm_parse is skipped when the first fails */
		long long a = -1, b = -1;
		char **k1 = NULL, **k2 = NULL;
		size_t n1 = 0, n2 = 0;

		if (wm_parse(cur, &a, &k1, &n1) == 0 && wm_parse(c->pending, &b, &k2, &n2) == 0 &&
		    b < a) {
			free(c->pending);
			c->pending = mlc_xstrdup(cur);
		}
		if (a >= 0 || k1)
			strv_free(k1, n1);
		if (b >= 0 || k2)
			strv_free(k2, n2);
		free(cur);
	}
	if (mlc_store_wm_commit(s, c->rule, c->pending) < 0)
		goto dberr;
	return 0;
dberr:
	mlc_store_warn(s, "committing the watermark");
	return -1;
}

static int
do_commit(const char *rulename, const char *run_id)
{
	struct mlc_store *s = mlc_ais_store_open();
	struct wm_commit c = { rulename, run_id, NULL };
	int code;

	code = mlc_store_tx(s, "commit the watermark", wm_commit_tx, &c);
	free(c.pending);
	mlc_store_close(s);
	return code;
}

/* Split blank-separated words into a vector of pointers into buf. */
static const char *
source_get(const char *key)
{
	return have_rule ? mlc_rule_get(&rule, "source", key) : NULL;
}

static void
load_rule(const char *arg)
{
	char err[1024];
	int code;

	if (mlc_rule_load(&rule, arg, NULL, err, sizeof err, &code) < 0)
		mlc_ais_fatal(code, "%s", err);
	have_rule = 1;
}

/* Conditions from the rule's where keys and -w options. */
static struct mlc_jde_cond *
conditions(const struct opts *o, size_t *nc)
{
	struct mlc_jde_cond *c = NULL;
	char err[512];
	size_t n = 0;

	*nc = 0;
	if (have_rule) {
		for (size_t i = 0; i < rule.conf.n; i++) {
			const struct mlc_conf_entry *e = &rule.conf.v[i];

			if (strcmp(e->section, "source") || strcmp(e->key, "where"))
				continue;
			c = mlc_xrealloc(c, (n + 1) * sizeof *c);
			if (mlc_jde_cond_parse(e->value, &c[n], err, sizeof err) < 0)
				mlc_ais_fatal(MLC_EX_CONFIG, "%s:%u: %s", rule.path, e->line, err);
			n++;
		}
	}
	for (size_t i = 0; i < o->nwhere; i++) {
		c = mlc_xrealloc(c, (n + 1) * sizeof *c);
		if (mlc_jde_cond_parse(o->where[i], &c[n], err, sizeof err) < 0)
			mlc_ais_fatal(MLC_EX_USAGE, "-w: %s", err);
		n++;
	}
	*nc = n;
	return c;
}

/* The table, key, columns, match, page size and conditions of the read:
 * options first, then the rule's [source], then the catalog (the key). */
static void
fetch_source(struct fetch *f, const struct opts *o)
{
	const char *v;
	size_t nkey;

	f->table = o->table ? o->table : source_get("table");
	if (!f->table)
		mlc_ais_fatal(have_rule ? MLC_EX_CONFIG : MLC_EX_USAGE, "%s: no table (give -t TABLE "
		              "or [source] table)", have_rule ? rule.path : "jde-fetch");
	if (strlen(f->table) > 30 ||
	    strspn(f->table, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(f->table))
		mlc_ais_fatal(MLC_EX_CONFIG, "bad table name \"%s\"", f->table);
	f->keyspec = o->key ? o->key : source_get("key");
	if (!f->keyspec && !(f->keyspec = mlc_catalog_key(f->table)))
		mlc_ais_fatal(MLC_EX_CONFIG, "table %s is not in jde-fetch's catalog: give its primary "
		              "key ([source] key or -k)", f->table);
	f->keycopy = mlc_xstrdup(f->keyspec);
	nkey = mlc_ais_words(f->keycopy, f->keys, MLC_JDE_MAXKEY);
	if (nkey == 0 || nkey > MLC_JDE_MAXKEY)
		mlc_ais_fatal(MLC_EX_CONFIG, "bad key \"%s\"", f->keyspec);
	f->fmt.nkey = nkey;
	f->columns = o->columns ? o->columns : source_get("columns");
	f->match = o->match ? o->match : source_get("match");
	if (f->match && strcmp(f->match, "all") && strcmp(f->match, "any"))
		mlc_ais_fatal(MLC_EX_CONFIG, "match \"%s\": expected all or any", f->match);
	f->pagesize = o->pagesize;
	if (!f->pagesize && (v = source_get("page_size"))) {
		char *end;

		f->pagesize = strtol(v, &end, 10);
		if (*end || f->pagesize < 1 || f->pagesize > 100000)
			mlc_ais_fatal(MLC_EX_CONFIG, "%s: page_size \"%s\" (1-100000)", rule.path, v);
	}
	if (!f->pagesize)
		f->pagesize = 100;
	f->cond = conditions(o, &f->ncond);
}

/* The rule's incremental columns ([source] incremental, the catalog's time
 * column added to UPMJ alone), if any. */
static void
fetch_incremental(struct fetch *f)
{
	char ierr[256];

	switch (mlc_catalog_incremental(f->table, source_get("incremental"), &f->inc, ierr,
	                                sizeof ierr)) {
	case -1:
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: %s", rule.path, ierr);
		break;
	case 1:
		if (ierr[0])
			mlc_warn("%s: %s", rule.path, ierr);
		f->incr = 1;
		f->fmt.wm_date = f->inc.date;
		f->fmt.wm_time = f->inc.time[0] ? f->inc.time : NULL;
		break;
	}
}

/* returnControlIDs: with columns given, the key and the incremental
 * columns are asked for too (the record key and the watermark need them);
 * without, every column comes back. */
static void
fetch_columns(struct fetch *f)
{
	char *cc;
	const char *cv[256];
	size_t n;

	mlc_buf_init(&f->rcids);
	if (!f->columns)
		return;
	cc = mlc_xstrdup(f->columns);
	if ((n = mlc_ais_words(cc, cv, 256)) > 256)
		mlc_ais_fatal(MLC_EX_CONFIG, "too many columns");
	for (size_t i = 0; i < f->fmt.nkey; i++)
		mlc_ais_rcid_add(&f->rcids, f->table, f->keys[i]);
	for (size_t i = 0; i < n; i++) {
		const char *col = strchr(cv[i], '.') ? strchr(cv[i], '.') + 1 : cv[i];

		mlc_ais_rcid_add(&f->rcids, f->table, col);
	}
	if (f->incr) {
		mlc_ais_rcid_add(&f->rcids, f->table, f->fmt.wm_date);
		if (f->fmt.wm_time)
			mlc_ais_rcid_add(&f->rcids, f->table, f->fmt.wm_time);
	}
	free(cc);
}

/* --date-format for --dry-run: the user date format a login would give. */
static void
dry_datefmt(struct mlc_ais *a, const char *code)
{
	static const char *const codes[][2] = {
		{ "MDE", "MM/dd/yyyy" }, { "DME", "dd/MM/yyyy" }, { "YMD", "yyyy/MM/dd" }
	};
	size_t i;

	for (i = 0; i < 3; i++)
		if (strcmp(code, codes[i][0]) == 0)
			break;
	if (i == 3)
		mlc_ais_fatal(MLC_EX_USAGE, "--date-format %s: expected MDE, DME or YMD", code);
	mlc_jde_datefmt_set(&a->df, codes[i][1], "/");
}

/* Incremental: the committed watermark (ignored with --full), the largest
 * position so far starting from it, and the run id the pending position
 * will be stored for (--run-id, ML_CONNECTOR_RUN_ID, or made up). */
static void
wm_begin(struct fetch *f, struct mlc_store *st, const struct opts *o)
{
	const char *v;

	if ((f->wmtext = wm_load(st, rule.name)) && !o->full &&
	    wm_parse(f->wmtext, &f->wm, &f->wm_keys, &f->nwm_keys) < 0)
		mlc_ais_fatal(MLC_EX_DATAERR, "rule %s: the stored watermark is not readable: %s",
		              rule.name, f->wmtext);
	f->max = f->wm;
	for (size_t i = 0; i < f->nwm_keys; i++) {
		f->max_keys = mlc_xrealloc(f->max_keys, (i + 1) * sizeof *f->max_keys);
		f->max_keys[i] = mlc_xstrdup(f->wm_keys[i]);
	}
	f->nmax_keys = f->nwm_keys;
	if (o->run_id)
		snprintf(f->run_id, sizeof f->run_id, "%s", o->run_id);
	else if ((v = getenv("ML_CONNECTOR_RUN_ID")) && *v)
		snprintf(f->run_id, sizeof f->run_id, "%s", v);
	else {
		char now[32];

		mlc_time_now_text(now);
		snprintf(f->run_id, sizeof f->run_id, "%s-%ld", now, (long)getpid());
	}
}

/* Incremental with a watermark: the condition date >= the watermark's
 * day (in the user's date format, so after the login), into extra. */
static void
wm_boundary(const struct fetch *f, const struct mlc_jde_datefmt *df, struct mlc_buf *extra)
{
	struct mlc_jde_cond wc;
	struct mlc_jde_val wv;

	if (!f->incr || f->wm < 0)
		return;
	/* The boundary day is read again: rows are filtered by time here. */
	memset(&wv, 0, sizeof wv);
	wv.content = (char *)"";
	wv.special = "LITERAL";
	wv.ymd = (long)(f->wm / 1000000);
	wc.column = (char *)f->fmt.wm_date;
	wc.op = "GREATER_EQUAL";
	wc.v = &wv;
	wc.nv = 1;
	mlc_jde_cond_json(extra, f->table, &wc, df);
	if (f->match && strcmp(f->match, "any") == 0 && f->ncond)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: incremental needs match = all", rule.path);
}

/* Incremental, after the read: the position reached is stored as pending
 * for (rule, run id); --commit makes it the watermark. */
static void
wm_finish(const struct fetch *f, struct mlc_store *st, const struct mlc_ais_query *q,
          const struct opts *o)
{
	struct mlc_buf wmout;

	mlc_buf_init(&wmout);
	if (q->shifted) {
		/* Rows appeared behind the read position (a row stamped
		 * before rows already read): this run did not read them,
		 * so the watermark stays where the run began and the next
		 * run reads the range again (its rows come again; the
		 * re-alert index of alert-match knows them). */
		mlc_buf_adds(&wmout, f->wmtext && !o->full ? f->wmtext : "{}");
		mlc_warn("rule %s: rows appeared behind the read position while paging: the "
		         "watermark stays where this run began, the next run reads the range "
		         "again", rule.name);
	} else if (f->max < 0 && f->wmtext && o->full)
		mlc_buf_adds(&wmout, f->wmtext);
	else
		wm_format(&wmout, f->max, f->max_overflow ? NULL : f->max_keys,
		          f->max_overflow ? 0 : f->nmax_keys);
	wm_store_pending(st, rule.name, f->run_id, wmout.p);
	if (!o->run_id && !getenv("ML_CONNECTOR_RUN_ID"))
		mlc_warn("rule %s: pending watermark stored for run %s", rule.name, f->run_id);
	mlc_buf_free(&wmout);
}

static void
fetch_free(struct fetch *f)
{
	for (size_t i = 0; i < f->ncond; i++)
		mlc_jde_cond_free(&f->cond[i]);
	free(f->cond);
	free(f->keycopy);
	free(f->wmtext);
	strv_free(f->wm_keys, f->nwm_keys);
	strv_free(f->max_keys, f->nmax_keys);
	free(f->orderbuf);
	mlc_jde_rowinfo_free(&f->ri);
	mlc_buf_free(&f->line);
	mlc_buf_free(&f->rcids);
}

/*
 * Query mode: what to read, the session, the watermark (incremental), the
 * read itself (ais.c's, one record per row through fetch_row), then the
 * pending watermark.
 */
/* --trailer: the read went through (every page read, the last record
 * written), said in one line after the records, {"end":{"table":T,
 * "records":N},"rule":R}: a reader that must know its input is whole (the
 * storm guard of alert-match --trailer) tells a finished read from one cut
 * short, which otherwise ends the same way, at a line's end. */
static void
trailer_put(struct fetch *f)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"end\":{\"table\":");
	mlc_buf_json_str(&b, f->table, strlen(f->table));
	mlc_buf_printf(&b, ",\"records\":%lu}", f->written);
	if (have_rule) {
		mlc_buf_adds(&b, ",\"rule\":");
		mlc_buf_json_str(&b, rule.name, strlen(rule.name));
	}
	mlc_buf_addc(&b, '}');
	if (mlc_ndjson_put(1, &b) < 0)
		mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	mlc_buf_free(&b);
}

/* What every read (do_fetch, do_keys) begins with: the configuration, the
 * session (not logged in yet), and the format of its records. */
static void
fetch_session(struct fetch *f, struct mlc_ais *a, const struct opts *o)
{
	mlc_ais_config(&conf);
	mlc_ais_open(a, &conf, o->dry);
	a->count_rule = have_rule && !o->nostate ? rule.name : NULL;
	if (o->dry && o->datefmt)
		dry_datefmt(a, o->datefmt);
	f->fmt.table = f->table;
	f->fmt.key = f->keys;
	f->fmt.rule = have_rule ? rule.name : NULL;
	mlc_jde_rowinfo_init(&f->ri);
	mlc_buf_init(&f->line);
}

/* A query of the read's table, columns and order, each row to fetch_row. */
static void
fetch_query(struct mlc_ais_query *q, struct fetch *f)
{
	mlc_ais_query_init(q);
	q->table = f->table;
	q->rcids = f->rcids.p;
	q->pagesize = f->pagesize;
	q->order = f->order;
	q->norder = f->norder;
	q->row = fetch_row;
	q->arg = f;
}

static int
do_fetch(const struct opts *o)
{
	struct fetch f;
	struct mlc_ais a;
	struct mlc_store *st = NULL;
	struct mlc_ais_query q;
	struct mlc_buf extra;

	memset(&f, 0, sizeof f);
	f.wm = -1;
	f.max = -1;
	fetch_source(&f, o);
	fetch_incremental(&f);
	fetch_columns(&f);

	fetch_session(&f, &a, o);
	if (f.incr || !o->dry)
		st = mlc_ais_store_open();
	if (f.incr)
		wm_begin(&f, st, o);
	if (!o->dry)
		mlc_ais_password(&a, st);

	/* Incremental: by (date, time, key), so that a row written or changed
	 * while the read goes on sorts after the rows already read (JDE stamps
	 * UPMJ/UPMT, TDAY with the time of the write); else by the key. */
	f.norder = mlc_ais_read_order(f.keyspec, f.incr ? f.fmt.wm_date : NULL,
	                              f.incr ? f.fmt.wm_time : NULL, f.order, &f.orderbuf);
	if (!f.norder)
		mlc_ais_fatal(MLC_EX_CONFIG, "bad key \"%s\"", f.keyspec);
	fetch_query(&q, &f);
	mlc_buf_init(&extra);
	f.ais = &a;
	f.session_out = o->session_out;
	/* The conditions' dates are written in the user's format: log in first. */
	if (!o->dry)
		mlc_ais_login(&a);
	wm_boundary(&f, &a.df, &extra);
	mlc_ais_query_obj(&q.qobj, f.table, f.match, f.cond, f.ncond, &a.df,
	                  extra.len ? extra.p : NULL);
	q.match_any = f.match && strcmp(f.match, "any") == 0;
	if (o->dry)
		mlc_ais_login(&a);
	mlc_ais_query_run(&a, &q);
	mlc_ais_close(&a);

	mlc_progress_end();
	/* --no-state (ml-connector preview): the watermark is read, never
	 * moved, and no pending position is left behind */
	if (f.incr && !o->dry && !o->nostate)
		wm_finish(&f, st, &q, o);
	mlc_ais_count(&a, st); /* after the watermark: a lock is waited out for it first */
	if (o->trailer && !o->dry)
		trailer_put(&f);
	if ((f.dropped || q.repeats) && getenv("ML_CONNECTOR_TRACE"))
		mlc_warn("%s: %lu rows written, %lu dropped by the watermark, %lu sent again by AIS "
		         "and dropped", f.table, f.written, f.dropped, q.repeats);
	if (st)
		mlc_store_close(st);
	fetch_free(&f);
	mlc_ais_query_free(&q);
	mlc_buf_free(&extra);
	return MLC_EX_OK;
}

/* ---- --keys: the records of given keys, read again -------------------------- */

/* The record keys of FILE's lines ("record_key", else "key": what
 * alert-log open writes), each once, in their order. */
static size_t
keys_load(const char *path, size_t nkey, char ***keys)
{
	FILE *fp = fopen(path, "r");
	struct mlc_ndjson_reader *r;
	jv seen = jv_object();
	char *line;
	size_t len, n = 0;
	int k, bad = 0;

	*keys = NULL;
	if (!fp)
		mlc_ais_fatal(MLC_EX_NOINPUT, "%s: %s", path, strerror(errno));
	r = mlc_ndjson_open(fp, path, 0);
	while ((k = mlc_ndjson_read(r, &line, &len)) != 0) {
		struct mlc_wire_err we;
		const char *ks;
		jv o, v;
		size_t parts = 1;

		if (k < 0) {
			bad = mlc_ndjson_error(r);
			continue;
		}
		if (mlc_wire_line(line, len, &o, &we) < 0) {
			char m[512];

			mlc_wire_errmsg(&we, m, sizeof m);
			mlc_warn("%s: line %lu: %s", path, mlc_ndjson_lineno(r), m);
			jv_free(o);
			bad = MLC_EX_DATAERR;
			continue;
		}
		if (mlc_wire_str(o, "record_key", &v, &ks) != 1) {
			jv_free(v);
			if (mlc_wire_str(o, "key", &v, &ks) != 1)
				ks = NULL;
		}
		for (const char *c = ks; c && *c; c++)
			parts += *c == '|';
		if (!ks || parts != nkey) {
			mlc_warn("%s: line %lu: field \"record_key\": expected a key of %zu column%s",
			         path, mlc_ndjson_lineno(r), nkey, nkey == 1 ? "" : "s");
			bad = MLC_EX_DATAERR;
		} else if (!jv_object_has(jv_copy(seen), jv_string(ks))) {
			seen = jv_object_set(seen, jv_string(ks), jv_true());
			*keys = mlc_xrealloc(*keys, (n + 1) * sizeof **keys);
			(*keys)[n++] = mlc_xstrdup(ks);
		}
		jv_free(v);
		jv_free(o);
	}
	mlc_ndjson_close(r);
	fclose(fp);
	jv_free(seen);
	if (bad)
		mlc_ais_fatal(bad, "%s: not read", path);
	return n;
}

/* Part i of key k ("00001|PV|123456|001"), into b. */
static void
key_part(const char *k, size_t i, struct mlc_buf *b)
{
	const char *e;

	for (; i > 0; i--)
		k = strchr(k, '|') + 1;
	e = strchr(k, '|');
	mlc_buf_reset(b);
	mlc_buf_add(b, k, e ? (size_t)(e - k) : strlen(k));
}

/* The conditions of one batch: per key column, a LIST of the distinct
 * values its keys have there, into extra (reset).  The rows found are
 * those of the keys and perhaps a few more (fetch_row drops them). */
static void
keys_batch_cond(const struct fetch *f, char **keys, size_t n, const struct mlc_jde_datefmt *df,
                struct mlc_buf *extra)
{
	struct mlc_buf part;
	struct mlc_jde_cond c;

	mlc_buf_reset(extra);
	mlc_buf_init(&part);
	c.v = mlc_xcalloc(n, sizeof *c.v);
	for (size_t i = 0; i < f->fmt.nkey; i++) {
		jv seen = jv_object();

		c.column = (char *)f->keys[i];
		c.op = "LIST";
		c.nv = 0;
		for (size_t j = 0; j < n; j++) {
			key_part(keys[j], i, &part);
			if (!jv_object_has(jv_copy(seen), jv_string(part.p))) {
				seen = jv_object_set(seen, jv_string(part.p), jv_true());
				c.v[c.nv].content = mlc_xstrdup(part.p);
				c.v[c.nv].special = "LITERAL";
				c.v[c.nv].ymd = 0;
				c.nv++;
			}
		}
		if (i)
			mlc_buf_addc(extra, ',');
		mlc_jde_cond_json(extra, f->table, &c, df);
		for (size_t j = 0; j < c.nv; j++)
			free(c.v[j].content);
		jv_free(seen);
	}
	free(c.v);
	mlc_buf_free(&part);
}

/*
 * --keys FILE: the rows of the record keys FILE names, read again with
 * the rule's [source] conditions (not its watermark), in batches of
 * --batch keys: one query each (and its pages), never one per key.  A key
 * whose row is not written was deleted or is no longer selected.
 */
static int
do_keys(const struct opts *o)
{
	struct fetch f;
	struct mlc_ais a;
	struct mlc_store *st = NULL;
	struct mlc_buf extra;
	char **keys;
	size_t nkeys;
	long batch = o->batch;
	const char *bv;

	memset(&f, 0, sizeof f);
	f.wm = -1;
	f.max = -1;
	fetch_source(&f, o);
	if (!batch && have_rule && (bv = mlc_rule_get(&rule, "resolved", "batch"))) {
		char *end;

		batch = strtol(bv, &end, 10);
		if (*end || batch < 1 || batch > 10000)
			mlc_ais_fatal(MLC_EX_CONFIG, "%s: [resolved] batch \"%s\" (1-10000)", rule.path,
			              bv);
	}
	if (!batch)
		batch = 100;
	if (f.match && strcmp(f.match, "any") == 0 && f.ncond)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: --keys needs match = all", rule.path);
	fetch_columns(&f);
	nkeys = keys_load(o->keys_file, f.fmt.nkey, &keys);
	if (nkeys == 0) {
		fetch_free(&f);
		return MLC_EX_OK; /* nothing to read: no login */
	}
	fetch_session(&f, &a, o);
	if (!o->dry) {
		st = mlc_ais_store_open();
		mlc_ais_password(&a, st);
	}
	mlc_buf_init(&extra);
	f.norder = mlc_ais_read_order(f.keyspec, NULL, NULL, f.order, &f.orderbuf);
	if (!f.norder)
		mlc_ais_fatal(MLC_EX_CONFIG, "bad key \"%s\"", f.keyspec);
	f.ais = &a;
	f.session_out = o->session_out;
	f.by_keys = 1;
	mlc_ais_login(&a);
	for (size_t b = 0; b < nkeys; b += (size_t)batch) {
		size_t m = nkeys - b < (size_t)batch ? nkeys - b : (size_t)batch;
		struct mlc_ais_query q;

		f.keyset = jv_object();
		for (size_t j = 0; j < m; j++)
			f.keyset = jv_object_set(f.keyset, jv_string(keys[b + j]), jv_true());
		keys_batch_cond(&f, keys + b, m, &a.df, &extra);
		fetch_query(&q, &f);
		mlc_ais_query_obj(&q.qobj, f.table, "all", f.cond, f.ncond, &a.df, extra.p);
		mlc_ais_query_run(&a, &q);
		mlc_ais_query_free(&q);
		jv_free(f.keyset);
	}
	mlc_ais_close(&a);
	mlc_ais_count(&a, st);
	if (st)
		mlc_store_close(st);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	fetch_free(&f);
	mlc_buf_free(&extra);
	return MLC_EX_OK;
}

/* ---- saved responses ------------------------------------------------------- */

static int
do_parse(const struct opts *o, char **files, int nfiles)
{
	struct mlc_jde_rowinfo ri;
	struct mlc_buf body, line;
	struct mlc_jde_fmt fmt;
	const char *keys[MLC_JDE_MAXKEY];
	char now[32], err[512];
	int code = MLC_EX_OK;

	mlc_jde_rowinfo_init(&ri);
	mlc_buf_init(&body);
	mlc_buf_init(&line);
	mlc_time_now_text(now);
	for (int i = 0; i < nfiles; i++) {
		FILE *fp = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "rb");
		struct mlc_jde_page pg;
		char buf[65536], *kc;
		const char *table, *ks, *row;
		size_t n, pos = 0, rn, nkey;
		int rc;

		if (!fp) {
			mlc_warn("%s: %s", files[i], strerror(errno));
			code = MLC_EX_NOINPUT;
			continue;
		}
		mlc_buf_reset(&body);
		while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
			mlc_buf_add(&body, buf, n);
		if (ferror(fp)) {
			mlc_warn("%s: read error", files[i]);
			code = MLC_EX_NOINPUT;
		}
		if (fp != stdin)
			fclose(fp);
		if (mlc_jde_page_parse(body.p ? body.p : "", body.len, &pg, err, sizeof err) < 0) {
			mlc_warn("%s: %s", files[i], err);
			code = MLC_EX_DATAERR;
			continue;
		}
		if (pg.error) {
			mlc_warn("%s: AIS reported %d error%s: %s", files[i], pg.nerrors,
			         pg.nerrors == 1 ? "" : "s", pg.error);
			code = MLC_EX_DATAERR;
			mlc_jde_page_free(&pg);
			continue;
		}
		table = o->table ? o->table : have_rule && source_get("table") ? source_get("table") :
		        pg.target;
		if (!pg.found || !pg.rowset) {
			mlc_warn("%s: no fs_DATABROWSE_*.data.gridData.rowset", files[i]);
			code = MLC_EX_DATAERR;
			mlc_jde_page_free(&pg);
			continue;
		}
		ks = o->key ? o->key : have_rule && source_get("key") ? source_get("key") :
		     mlc_catalog_key(table);
		if (!ks)
			mlc_ais_fatal(MLC_EX_CONFIG, "table %s is not in jde-fetch's catalog: give its primary "
				      "key with -k", table);
		kc = mlc_xstrdup(ks);
		nkey = mlc_ais_words(kc, keys, MLC_JDE_MAXKEY);
		if (nkey == 0 || nkey > MLC_JDE_MAXKEY)
			mlc_ais_fatal(MLC_EX_CONFIG, "bad key \"%s\"", ks);
		memset(&fmt, 0, sizeof fmt);
		fmt.table = table;
		fmt.key = keys;
		fmt.nkey = nkey;
		fmt.rule = have_rule ? rule.name : NULL;
		fmt.fetched_at = now;
		while ((rc = mlc_jde_page_row(&pg, &pos, &row, &rn)) == 1) {
			if (mlc_jde_row_record(row, rn, &fmt, &line, &ri, err, sizeof err) < 0) {
				mlc_warn("%s: %s", files[i], err);
				code = MLC_EX_DATAERR;
				continue;
			}
			if (mlc_ndjson_put(1, &line) < 0)
				mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
		}
		if (rc < 0) {
			mlc_warn("%s: a rowset element is not an object", files[i]);
			code = MLC_EX_DATAERR;
		}
		free(kc);
		mlc_jde_page_free(&pg);
	}
	mlc_jde_rowinfo_free(&ri);
	mlc_buf_free(&body);
	mlc_buf_free(&line);
	return code;
}

static int
do_show_watermark(const char *rulename)
{
	struct mlc_store *s = mlc_ais_store_open();
	char *v = wm_load(s, rulename);

	mlc_store_close(s);
	if (!v) {
		mlc_warn("rule %s has no watermark", rulename);
		return MLC_EX_NOINPUT;
	}
	if (mlc_ndjson_write(1, v, strlen(v)) < 0)
		mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	free(v);
	return MLC_EX_OK;
}

/* ---- main ------------------------------------------------------------------- */

/*
 * --ping: log in and out again, reading nothing: "ping your real systems"
 * for the orchestrator.  One line on stdout says what answered.
 */
static int
do_ping(void)
{
	struct mlc_ais a;
	struct mlc_store *st;
	struct mlc_buf b;

	mlc_ais_config(&conf);
	mlc_ais_open(&a, &conf, 0);
	st = mlc_ais_store_open();
	mlc_ais_password(&a, st);
	mlc_store_close(st);
	/* an operator's one try, also with a password AIS refused before */
	a.force = 1;
	mlc_ais_login(&a);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"ping\":\"ok\",\"system\":\"ais\",\"url\":");
	mlc_buf_json_str(&b, a.base, strlen(a.base));
	mlc_buf_adds(&b, ",\"user\":");
	mlc_buf_json_str(&b, a.user, strlen(a.user));
	mlc_buf_adds(&b, ",\"environment\":");
	mlc_buf_json_str(&b, a.env, strlen(a.env));
	mlc_buf_addc(&b, '}');
	mlc_ais_close(&a);
	if (mlc_ndjson_put(1, &b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		mlc_buf_free(&b);
		return MLC_EX_IOERR;
	}
	mlc_buf_free(&b);
	return MLC_EX_OK;
}

/*
 * The join and sums stage was jde-fetch --join until it became jde-join(1):
 * the old form is refused by name (not by getopt's generic message), so a
 * pipeline still written the old way stops with the command to use.
 */
static void
refuse_join(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--join") == 0)
			mlc_die(MLC_EX_USAGE, "--join is now a program of its own: use "
			        "jde-join -r RULE (see jde-join(1))");
}

int
main(int argc, char **argv)
{
	enum { O_COMMIT = 256, O_DRY, O_RUNID, O_FULL, O_PARSE, O_DATEFMT, O_SHOWWM, O_PING, O_SHOWREF,
	       O_SESSION, O_TRAILER, O_NOSTATE, O_KEYS, O_BATCH };
	static const struct option lopts[] = {
		{ "commit", no_argument, NULL, O_COMMIT },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "run-id", required_argument, NULL, O_RUNID },
		{ "full", no_argument, NULL, O_FULL },
		{ "parse-response", no_argument, NULL, O_PARSE },
		{ "date-format", required_argument, NULL, O_DATEFMT },
		{ "show-watermark", no_argument, NULL, O_SHOWWM },
		{ "ping", no_argument, NULL, O_PING },
		{ "show-refusal", no_argument, NULL, O_SHOWREF },
		{ "session-out", required_argument, NULL, O_SESSION },
		{ "trailer", no_argument, NULL, O_TRAILER },
		{ "no-state", no_argument, NULL, O_NOSTATE },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	int c, code;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	refuse_join(argc, argv);
	memset(&o, 0, sizeof o);
	while ((c = getopt_long(argc, argv, "c:r:t:f:w:m:k:p:", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.conf = optarg; break;
		case 'r': o.rule = optarg; break;
		case 't': o.table = optarg; break;
		case 'f': o.columns = optarg; break;
		case 'w':
			o.where = mlc_xrealloc(o.where, (o.nwhere + 1) * sizeof *o.where);
			o.where[o.nwhere++] = optarg;
			break;
		case 'm': o.match = optarg; break;
		case 'k': o.key = optarg; break;
		case 'p': o.pagesize = mlc_util_num_arg("-p", optarg, 1, 100000); break;
		case O_COMMIT: o.commit = 1; break;
		case O_DRY: o.dry = 1; break;
		case O_RUNID: o.run_id = optarg; break;
		case O_FULL: o.full = 1; break;
		case O_PARSE: o.parse = 1; break;
		case O_DATEFMT: o.datefmt = optarg; break;
		case O_SHOWWM: o.show_wm = 1; break;
		case O_PING: o.ping = 1; break;
		case O_SHOWREF: o.show_ref = 1; break;
		case O_SESSION: o.session_out = optarg; break;
		case O_TRAILER: o.trailer = 1; break;
		case O_NOSTATE: o.nostate = 1; break;
		case O_KEYS: o.keys_file = optarg; break;
		case O_BATCH: o.batch = mlc_util_num_arg("--batch", optarg, 1, 10000); break;
		default:
			free(o.where); /* -w's list: no leak to report at a usage error */
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	mlc_config_use(o.conf);
	mlc_util_signals(&stop_sig);
	mlc_ais_stop_on(&stop_sig);
	/* a lock on state.db is waited for, but not past a stop request */
	mlc_store_stop_on(&stop_sig);

	if (o.commit) {
		struct mlc_catalog_incr inc;

		if (argc != 2 || o.parse || o.dry)
			mlc_die(MLC_EX_USAGE, "usage: jde-fetch --commit RULE RUN_ID");
		/* A rule that re-scans in full has no watermark: nothing to commit. */
		load_rule(argv[0]);
		if (mlc_catalog_incremental(source_get("table"), source_get("incremental"), &inc,
		                            NULL, 0) == 0) {
			mlc_rule_free(&rule);
			mlc_util_exit(MLC_EX_OK);
		}
		mlc_util_exit(do_commit(rule.name, argv[1]));
	}
	if (o.show_wm) {
		if (argc != 1)
			mlc_die(MLC_EX_USAGE, "usage: jde-fetch --show-watermark RULE");
		mlc_util_exit(do_show_watermark(argv[0]));
	}
	if (o.show_ref) {
		char why[1024];

		if (argc != 0 || o.parse || o.dry || o.rule || o.ping)
			mlc_die(MLC_EX_USAGE, "usage: jde-fetch --show-refusal [-c CONF]");
		/* on stderr: a note beside a report, never in its data */
		if (mlc_ais_refusal(NULL, why, sizeof why))
			mlc_warn("%s", why);
		mlc_util_exit(MLC_EX_OK);
	}
	if (o.ping) {
		if (argc != 0 || o.parse || o.dry || o.rule)
			mlc_die(MLC_EX_USAGE, "usage: jde-fetch --ping [-c CONF]");
		mlc_util_nodump();
		mlc_http_global_init();
		code = do_ping();
		mlc_conf_free(&conf);
		mlc_util_exit(code);
	}
	if (o.rule)
		load_rule(o.rule);
	if (o.parse) {
		if (argc < 1)
			mlc_die(MLC_EX_USAGE, "usage: jde-fetch --parse-response [-t TABLE] [-k KEYCOLS] "
			        "[-r RULE] FILE...");
		mlc_util_exit(do_parse(&o, argv, argc));
	}
	if (argc > 0) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (o.session_out && o.dry)
		mlc_die(MLC_EX_USAGE, "--session-out hands on a session, and --dry-run has none");
	if (o.datefmt && !o.dry)
		mlc_die(MLC_EX_USAGE, "--date-format is for --dry-run (a session uses the user's)");
	if (!o.rule && !o.table)
		mlc_die(MLC_EX_USAGE, "give -r RULE or -t TABLE");
	if (o.batch && !o.keys_file)
		mlc_die(MLC_EX_USAGE, "--batch is for --keys");
	/* The process holds the AIS password and token. */
	if (!o.dry)
		mlc_util_nodump();
	mlc_http_global_init();
	code = o.keys_file ? do_keys(&o) : do_fetch(&o);
	if (have_rule)
		mlc_rule_free(&rule);
	mlc_conf_free(&conf);
	free(o.where);
	mlc_util_exit(code);
}
