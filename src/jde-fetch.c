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
 *   join         --join -r RULE: records on stdin, the same records with
 *                "contacts" ([join]) and "sums" ([sums]) added on stdout, in
 *                input order; lookups go in batches, one LIST query per
 *                table (per [sums] entry) per batch.
 *   parse        --parse-response FILE...: saved response bodies instead of
 *                a server (fixtures, benchmarks).
 *   --dry-run    the AIS requests as NDJSON ({"method","url","body"}),
 *                without the password and without contacting anyone.
 *
 * Session: one login per run (the password from the vault, secret
 * ais.password), the token sent in jde-AIS-Auth on every call and never
 * in a URL (a /next request carries Oracle's documented fields in its
 * body), printed or logged, cookies kept in memory for the run (session
 * affinity), logout at the end, also after errors and SIGTERM/SIGINT.
 * Reads are ordered by the key (after the incremental columns) and a row
 * is written only if it comes after the last one written, so rows the
 * server sends again are dropped with constant memory.  A token refused
 * (401/403/444) means a new login and a fresh query for the rows after
 * the last one written, since an open result set does not survive the
 * session; so does JAS_MSG347 (query results expired) and a failure in
 * the middle of paging: every token adds rows.
 *
 * Exit status: 0 done; 64 usage; 65 bad data from AIS (malformed JSON,
 * error arrays, a row without its key, rows out of the order asked for)
 * or bad input records (--join); 66 no such rule, response file or
 * pending watermark; 69 AIS unavailable after retries, or 5 starts over
 * in a row without a new row; 70 internal error; 74 write error on stdout
 * or state database I/O; 75 interrupted by SIGTERM/SIGINT (also while
 * waiting for a lock on the state database, which is otherwise waited
 * for);
 * 77 login refused, token refused twice in a row, or vault cannot be
 * opened; 78 configuration or rule error, TLS certificate refused.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "mlc.h"

static const char usage[] =
	"usage: jde-fetch [-c CONF] [-r RULE] [-t TABLE] [-f COLUMNS] [-w COND]...\n"
	"                 [-m all|any] [-k KEYCOLS] [-p PAGESIZE] [--run-id ID] [--full]\n"
	"                 [--dry-run] [--date-format MDE|DME|YMD]\n"
	"       jde-fetch --join -r RULE [-c CONF] [-b BATCH] [--dry-run] < records\n"
	"       jde-fetch --commit RULE RUN_ID\n"
	"       jde-fetch --show-watermark RULE\n"
	"       jde-fetch --ping [-c CONF]\n"
	"       jde-fetch --parse-response [-t TABLE] [-k KEYCOLS] [-r RULE] FILE...\n";

static volatile sig_atomic_t stop_sig; /* set by SIGTERM/SIGINT (mlc_util_signals) */

/* ---- the AIS session ---------------------------------------------------- */

struct ais {
	struct mlc_http *h;
	char *base;             /* url without a trailing '/' */
	const char *user, *env, *role, *device;
	char *password;         /* sodium_malloc'd (vault); NULL in dry-run */
	char *token;            /* sodium_malloc'd; NULL when logged out */
	struct mlc_jde_datefmt df;
	int dry;
	int policy;
	int by_query;           /* [ais] paging = query: every page a fresh query */
	long requests;
};

static struct ais *session; /* for logout on the way out */

static void
secret_free(char *s)
{
	if (s)
		mlc_vault_free_secret(s);
}

static char *
secret_dup(const char *s, size_t n)
{
	char *p = sodium_malloc(n + 1);

	if (!p)
		mlc_die(MLC_EX_SOFTWARE, "out of locked memory");
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void logout(struct ais *a);

/* Leave: log out first (the session must not outlive us), then exit. */
static void fatal(int code, const char *fmt, ...) MLC_PRINTF(2, 3) MLC_NORETURN;

static void
fatal(int code, const char *fmt, ...)
{
	va_list ap;
	struct mlc_buf m;

	mlc_buf_init(&m);
	va_start(ap, fmt);
	{
		char tmp[2048];

		vsnprintf(tmp, sizeof tmp, fmt, ap);
		mlc_buf_adds(&m, tmp);
	}
	va_end(ap);
	mlc_warn("%s", m.p);
	mlc_buf_free(&m);
	if (session)
		logout(session);
	mlc_util_exit(code);
}

static void
interrupted(void)
{
	fatal(MLC_EX_TEMPFAIL, "interrupted by signal %d: stopped after the current request",
	      (int)stop_sig);
}

static void
dry_print(const char *url, const char *body)
{
	struct mlc_buf b;
	char red[4096];

	mlc_http_redact_url(url, red, sizeof red);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"method\":\"POST\",\"url\":");
	mlc_buf_json_str(&b, red, strlen(red));
	mlc_buf_adds(&b, ",\"body\":");
	mlc_buf_adds(&b, body && *body ? body : "{}");
	mlc_buf_addc(&b, '}');
	if (mlc_ndjson_put(1, &b) < 0)
		fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	mlc_buf_free(&b);
}

/* One POST.  The token travels in headers only. */
static int
post(struct ais *a, const char *url, const char *body, struct mlc_http_resp *r)
{
	struct mlc_buf auth;
	const char *hdr[6];
	char dev[300];
	size_t n = 0;
	int rc;

	mlc_buf_init(&auth);
	hdr[n++] = "Content-Type: application/json";
	hdr[n++] = "Accept: application/json";
	snprintf(dev, sizeof dev, "jde-AIS-Auth-Device: %s", a->device);
	hdr[n++] = dev;
	if (a->token) {
		mlc_buf_adds(&auth, "jde-AIS-Auth: ");
		mlc_buf_adds(&auth, a->token);
		hdr[n++] = auth.p;
	}
	hdr[n] = NULL;
	a->requests++;
	mlc_http_resp_free(r);
	mlc_http_resp_init(r);
	rc = mlc_http_request(a->h, "POST", url, hdr, body, strlen(body), NULL, NULL, r);
	mlc_buf_wipe(&auth);
	return rc;
}

/* A short description of a failed response for messages: status and
 * AIS's message (ServiceErrorResponse.message or sysErrors[0]). */
static void
describe(const struct mlc_http_resp *r, char *out, size_t outlen)
{
	struct mlc_jde_page pg;
	char e[256];
	const char *v;
	size_t vn;

	if (r->outcome != MLC_HTTP_DONE) {
		snprintf(out, outlen, "%s (%s)", r->error[0] ? r->error : "no response",
		         mlc_http_outcome_name(r->outcome));
		return;
	}
	if (mlc_jde_page_parse(r->body.p ? r->body.p : "", r->body.len, &pg, e, sizeof e) == 0) {
		if (pg.error) {
			snprintf(out, outlen, "HTTP %ld: %s", r->status, pg.error);
			mlc_jde_page_free(&pg);
			return;
		}
		if (mlc_jde_json_member(r->body.p, r->body.len, "message", &v, &vn)) {
			struct mlc_buf m;

			mlc_buf_init(&m);
			mlc_jde_json_string(v, vn, &m);
			snprintf(out, outlen, "HTTP %ld: %s", r->status, m.p ? m.p : "");
			mlc_buf_free(&m);
			mlc_jde_page_free(&pg);
			return;
		}
		mlc_jde_page_free(&pg);
	}
	snprintf(out, outlen, "HTTP %ld", r->status);
}

static int
is_expired(const struct mlc_http_resp *r)
{
	return r->outcome == MLC_HTTP_DONE && r->status == 500 && r->body.p &&
	       strstr(r->body.p, "JAS_MSG347");
}

/* TLS and policy failures are configuration: never retried. */
static void
fatal_transport(const struct mlc_http_resp *r, const char *what)
{
	char d[512];

	describe(r, d, sizeof d);
	if (r->outcome == MLC_HTTP_TLS)
		fatal(MLC_EX_CONFIG, "%s: TLS certificate refused (check [ais] ca_bundle): %s", what, d);
	if (r->outcome == MLC_HTTP_POLICY)
		fatal(MLC_EX_CONFIG, "%s: URL refused: %s", what, d);
	fatal(MLC_EX_SOFTWARE, "%s: %s", what, d);
}

static void
login(struct ais *a)
{
	struct mlc_http_resp r;
	struct mlc_retry rt;
	struct mlc_buf body, url;
	char d[512];

	mlc_buf_init(&body);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/tokenrequest", a->base);
	mlc_buf_adds(&body, "{\"username\":");
	mlc_buf_json_str(&body, a->user, strlen(a->user));
	if (!a->dry) {
		mlc_buf_adds(&body, ",\"password\":");
		mlc_buf_json_str(&body, a->password, strlen(a->password));
	}
	mlc_buf_adds(&body, ",\"deviceName\":");
	mlc_buf_json_str(&body, a->device, strlen(a->device));
	mlc_buf_adds(&body, ",\"environment\":");
	mlc_buf_json_str(&body, a->env, strlen(a->env));
	mlc_buf_adds(&body, ",\"role\":");
	mlc_buf_json_str(&body, a->role, strlen(a->role));
	mlc_buf_addc(&body, '}');
	if (a->dry) {
		dry_print(url.p, body.p);
		mlc_buf_free(&body);
		mlc_buf_free(&url);
		return;
	}
	mlc_http_resp_init(&r);
	mlc_retry_init(&rt);
	for (;;) {
		enum mlc_retry_class c;
		long delay;

		if (stop_sig) {
			mlc_buf_wipe(&body);
			interrupted();
		}
		post(a, url.p, body.p, &r);
		if (r.outcome == MLC_HTTP_DONE && r.status == 200)
			break;
		c = mlc_retry_classify(&r, 1);
		describe(&r, d, sizeof d);
		if (c == MLC_RETRY_AUTH || (r.outcome == MLC_HTTP_DONE && r.status >= 400 &&
		                            r.status < 500 && c == MLC_RETRY_NO)) {
			mlc_buf_wipe(&body);
			fatal(MLC_EX_NOPERM, "AIS refused the login of user %s: %s", a->user, d);
		}
		if (c == MLC_RETRY_NO) {
			mlc_buf_wipe(&body);
			if (r.outcome == MLC_HTTP_DONE)
				fatal(MLC_EX_UNAVAILABLE, "login: %s", d);
			fatal_transport(&r, "login");
		}
		if ((delay = mlc_retry_next(&rt, r.retry_after_ms)) < 0) {
			mlc_buf_wipe(&body);
			fatal(MLC_EX_UNAVAILABLE, "login: AIS unavailable after %d attempts: %s",
			      rt.attempt, d);
		}
		mlc_warn("login: %s; retrying in %ld ms", d, delay);
		mlc_retry_sleep(delay, &stop_sig);
	}
	mlc_buf_wipe(&body);
	mlc_buf_free(&url);
	{
		jv j = jv_parse_sized(r.body.p, (int)r.body.len);
		jv ui, tok, sdf, sep, code;

		if (jv_get_kind(j) != JV_KIND_OBJECT) {
			jv_free(j);
			mlc_http_resp_free(&r);
			fatal(MLC_EX_DATAERR, "login: the token response is not a JSON object");
		}
		ui = jv_object_get(j, jv_string("userInfo"));
		if (jv_get_kind(ui) != JV_KIND_OBJECT) {
			jv_free(ui);
			mlc_http_resp_free(&r);
			fatal(MLC_EX_DATAERR, "login: the token response has no userInfo");
		}
		tok = jv_object_get(jv_copy(ui), jv_string("token"));
		if (jv_get_kind(tok) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(tok)) == 0) {
			jv_free(tok);
			jv_free(ui);
			mlc_http_resp_free(&r);
			fatal(MLC_EX_DATAERR, "login: the token response has no userInfo.token");
		}
		a->token = secret_dup(jv_string_value(tok), (size_t)jv_string_length_bytes(jv_copy(tok)));
		jv_free(tok);
		sdf = jv_object_get(jv_copy(ui), jv_string("simpleDateFormat"));
		sep = jv_object_get(jv_copy(ui), jv_string("dateSeperator"));
		code = jv_object_get(ui, jv_string("dateFormat"));
		{
			const char *sepv = jv_get_kind(sep) == JV_KIND_STRING ? jv_string_value(sep) : NULL;

			if (!(jv_get_kind(sdf) == JV_KIND_STRING &&
			      mlc_jde_datefmt_set(&a->df, jv_string_value(sdf), sepv) == 0) &&
			    !(jv_get_kind(code) == JV_KIND_STRING &&
			      mlc_jde_datefmt_set(&a->df, jv_string_value(code), sepv) == 0)) {
				mlc_warn("login: no usable userInfo.simpleDateFormat; writing dates "
				         "as MM/dd/yyyy");
				mlc_jde_datefmt_set(&a->df, "MM/dd/yyyy", "/");
			}
		}
		jv_free(sdf);
		jv_free(sep);
		jv_free(code);
		/* The body held the token: wipe it. */
		sodium_memzero(r.body.p, r.body.len);
	}
	mlc_http_resp_free(&r);
}

static void
logout(struct ais *a)
{
	struct mlc_http_resp r;
	struct mlc_buf body, url;
	char d[512];

	if (!a->token)
		return;
	mlc_buf_init(&body);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/tokenrequest/logout", a->base);
	mlc_buf_adds(&body, "{\"token\":");
	mlc_buf_json_str(&body, a->token, strlen(a->token));
	mlc_buf_addc(&body, '}');
	mlc_http_resp_init(&r);
	post(a, url.p, body.p, &r);
	if (!(r.outcome == MLC_HTTP_DONE && (r.status == 200 || r.status == 444))) {
		describe(&r, d, sizeof d);
		mlc_warn("logout: %s (the session ends at its timeout)", d);
	}
	mlc_buf_wipe(&body);
	mlc_buf_free(&url);
	mlc_http_resp_free(&r);
	secret_free(a->token);
	a->token = NULL;
}

/* ---- one query, with its pages ----------------------------------------- */

/*
 * A read is ordered (aggregation.orderBy) by the table's key, after the
 * incremental columns for an incremental rule, and remembers one thing:
 * the position of the last row it wrote.  A row is written only if it
 * comes strictly after that position, so a row the server sends again
 * (its pages shifted: rows were inserted or deleted behind the read
 * position between two requests) is dropped, with constant memory.  A
 * read that has to start over (token refused, JAS_MSG347, a failed next
 * page) asks again with a fresh query for the rows after that position
 * (form 0: an OR of ANDs in complexQuery; if AIS refuses it, form 1: the
 * first order column >= its value; form 2: no condition, the rows up to
 * the position skipped here), so every token adds rows and a table of any
 * size is read whatever the token's lifetime.  Only a start-over that adds
 * no row counts towards the limit.  A query without an order (a [sums]
 * table outside the catalog) restarts from its first page, at most
 * MAX_RESTARTS times, and its caller forgets what the pages gave.
 */
struct query {
	const char *table;
	const char *rcids;         /* returnControlIDs, or NULL: every column */
	long pagesize;
	struct mlc_buf qobj;       /* the conditions' query object, or empty */
	int match_any;             /* qobj is MATCH_ANY */
	const char *const *order;  /* order columns (aliases), or NULL */
	size_t norder;
	/* per row; returns, or exits */
	void (*row)(void *arg, const char *row, size_t n, const char *fetched_at);
	/* without an order: the query starts over, rows already delivered come again */
	void (*restart)(void *arg);
	void *arg;
	/* run_query's */
	struct mlc_jde_pos last, cur, prev;
	int form;                  /* the after-last condition AIS accepts (0, 1, 2) */
	unsigned long repeats;     /* rows dropped: not after the last one written */
	int shifted;               /* a next page repeated rows */
};

#define MAX_RESTARTS 5

static void
query_init(struct query *q)
{
	memset(q, 0, sizeof *q);
	mlc_buf_init(&q->qobj);
	mlc_jde_pos_init(&q->last);
	mlc_jde_pos_init(&q->cur);
	mlc_jde_pos_init(&q->prev);
}

static void
query_free(struct query *q)
{
	mlc_buf_free(&q->qobj);
	mlc_jde_pos_free(&q->last);
	mlc_jde_pos_free(&q->cur);
	mlc_jde_pos_free(&q->prev);
}

/* The conditions as a query object: {"autoFind":true,"matchType":..,
 * "condition":[...]}, or nothing without conditions. */
static void
query_obj(struct mlc_buf *b, const char *table, const char *match, const struct mlc_jde_cond *c,
          size_t nc, const struct mlc_jde_datefmt *df, const char *extra_cond)
{
	mlc_buf_reset(b);
	if (!nc && !(extra_cond && *extra_cond))
		return;
	mlc_buf_adds(b, "{\"autoFind\":true,\"matchType\":");
	mlc_buf_adds(b, match && strcmp(match, "any") == 0 ? "\"MATCH_ANY\"" : "\"MATCH_ALL\"");
	mlc_buf_adds(b, ",\"condition\":[");
	for (size_t i = 0; i < nc; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_jde_cond_json(b, table, &c[i], df);
	}
	if (extra_cond && *extra_cond) {
		if (nc)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, extra_cond);
	}
	mlc_buf_adds(b, "]}");
}

/* Whether the read pages by query: [ais] paging = query, or after the
 * pages shifted; only while AIS takes the exact after-last condition (a
 * weaker one would give the same rows again and again). */
static int
by_query(const struct ais *a, const struct query *q)
{
	return q->norder && q->form == 0 && (a->by_query || q->shifted);
}

/* A BROWSE request; after: only the rows after q->last. */
static void
request_body(const struct ais *a, struct query *q, int after, struct mlc_buf *b)
{
	struct mlc_buf ab;

	mlc_buf_reset(b);
	mlc_buf_adds(b, "{\"targetName\":");
	mlc_buf_json_str(b, q->table, strlen(q->table));
	mlc_buf_adds(b, ",\"targetType\":\"table\",\"dataServiceType\":\"BROWSE\","
	             "\"outputType\":\"GRID_DATA\",\"aliasNaming\":true,\"findOnEntry\":\"TRUE\"");
	if (q->rcids && *q->rcids) {
		mlc_buf_adds(b, ",\"returnControlIDs\":");
		mlc_buf_json_str(b, q->rcids, strlen(q->rcids));
	}
	/* Paging by query keeps no result set open on the server. */
	mlc_buf_printf(b, ",\"maxPageSize\":\"%ld\",\"enableNextPageProcessing\":%s,"
	               "\"nextPageTimeInterval\":\"0\"", q->pagesize,
	               by_query(a, q) ? "false" : "true");
	mlc_buf_init(&ab);
	after = after && q->norder && q->last.n && q->form < 2;
	if (after && (!q->qobj.len || !q->match_any) &&
	    mlc_jde_after_cond(&ab, q->table, q->order, &q->last, &a->df, q->form) == 0) {
		/* One condition: it joins the list, no complexQuery needed
		 * (a server that cannot express one still gets this). */
		if (q->qobj.len) {
			mlc_buf_adds(b, ",\"query\":");
			mlc_buf_add(b, q->qobj.p, q->qobj.len - 2);
			mlc_buf_addc(b, ',');
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "]}");
		} else {
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,\"matchType\":\"MATCH_ALL\","
			             "\"condition\":[");
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "]}");
		}
	} else if (after &&
	           mlc_jde_after_json(&ab, q->table, q->order, &q->last, &a->df, q->form) == 0) {
		if (q->qobj.len) {
			/* Both as complexQuery items joined by AND: unambiguous
			 * whatever the conditions' matchType. */
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,\"matchType\":\"MATCH_ALL\","
			             "\"complexQuery\":[{\"andOr\":\"AND\",\"query\":");
			mlc_buf_add(b, q->qobj.p, q->qobj.len);
			mlc_buf_adds(b, "},{\"andOr\":\"AND\",\"query\":");
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "}]}");
		} else {
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,");
			mlc_buf_add(b, ab.p + 1, ab.len - 1);
		}
	} else if (q->qobj.len) {
		mlc_buf_adds(b, ",\"query\":");
		mlc_buf_add(b, q->qobj.p, q->qobj.len);
	}
	mlc_buf_free(&ab);
	if (q->norder) {
		mlc_buf_addc(b, ',');
		mlc_jde_orderby_json(b, q->table, q->order, q->norder);
	}
	mlc_buf_addc(b, '}');
}

/* One member of a /next body; a number when asked and it is one. */
static void
next_member(struct mlc_buf *b, int *first, const char *name, const char *value, int num)
{
	if (!value)
		return;
	if (!*first)
		mlc_buf_addc(b, ',');
	*first = 0;
	mlc_buf_json_str(b, name, strlen(name));
	mlc_buf_addc(b, ':');
	if (num && *value && strspn(value, "0123456789") == strlen(value) && strlen(value) < 16)
		mlc_buf_adds(b, value);
	else
		mlc_buf_json_str(b, value, strlen(value));
}

static const char *
nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/*
 * The request for the next page: the URL is the configured server plus
 * the path of the page's link, without its query string (which carries
 * the token: a proxy would log it); the body has the fields Oracle
 * documents for /v2/dataservice/next (reference 3.1): formOID, fullGridId,
 * stackId, stateId, rid, outputType, returnControlIDs, nextPageTimeInterval
 * and deviceName; the token goes in the jde-AIS-Auth header only.  The ids
 * come from the page itself, else from the link; nothing else of the link
 * is copied.  0, or -1 when the page names no result set.
 */
static int
next_request(const struct ais *a, const struct query *q, const struct mlc_jde_page *pg,
             struct mlc_buf *url, struct mlc_buf *b)
{
	char **names = NULL, **values = NULL;
	size_t n = 0;
	const char *stack, *state, *rid, *grid, *form, *rc, *path = NULL, *q0;
	int first = 1, rc_ok = -1;

	if (pg->next) {
		if ((q0 = strchr(pg->next, '?')) &&
		    mlc_form_parse(q0 + 1, strlen(q0 + 1), &names, &values, &n) < 0)
			n = 0;
		path = strstr(pg->next, "/jderest/");
	}
#define HREF(k) (n ? nonempty(mlc_form_get(names, values, n, k)) : NULL)
	stack = nonempty(pg->stack_id) ? pg->stack_id : HREF("stackId");
	state = nonempty(pg->state_id) ? pg->state_id : HREF("stateId");
	rid = nonempty(pg->rid) ? pg->rid : HREF("rid");
	grid = nonempty(pg->grid_id) ? pg->grid_id : HREF("fullGridId");
	form = HREF("formOID") ? HREF("formOID") : q->table;
	rc = q->rcids && *q->rcids ? q->rcids : n ? mlc_form_get(names, values, n, "returnControlIDs")
	                                          : NULL;
#undef HREF
	if (stack && state && rid) {
		mlc_buf_reset(url);
		mlc_buf_adds(url, a->base);
		if (path)
			mlc_buf_add(url, path, strcspn(path, "?;#"));
		else
			mlc_buf_adds(url, "/jderest/v2/dataservice/next");
		mlc_buf_reset(b);
		mlc_buf_addc(b, '{');
		next_member(b, &first, "formOID", form, 0);
		next_member(b, &first, "fullGridId", grid, 0);
		next_member(b, &first, "stackId", stack, 1);
		next_member(b, &first, "stateId", state, 1);
		next_member(b, &first, "rid", rid, 0);
		next_member(b, &first, "outputType", "GRID_DATA", 0);
		next_member(b, &first, "returnControlIDs", rc, 0);
		next_member(b, &first, "nextPageTimeInterval", "0", 0);
		next_member(b, &first, "deviceName", a->device, 0);
		mlc_buf_addc(b, '}');
		rc_ok = 0;
	}
	if (n)
		mlc_form_free(names, values, n);
	return rc_ok;
}

static void
order_text(const struct query *q, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < q->norder && o + 1 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? " " : "", q->order[i]);
}

static void
run_query(struct ais *a, struct query *q)
{
	struct mlc_http_resp r;
	struct mlc_retry rt;
	struct mlc_buf url, body;
	int first = 1, resumed = 0, auth_fails = 0, restarts = 0, stalls = 0, progress = 0;
	int warned_shift = 0;
	char d[1024], e[256], what[160], ord[256];

	mlc_buf_init(&url);
	mlc_buf_init(&body);
	mlc_http_resp_init(&r);
	mlc_retry_init(&rt);
	q->last.n = 0;
	q->form = 0;
	q->repeats = 0;
	q->shifted = 0;
	order_text(q, ord, sizeof ord);
	if (a->dry) {
		mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
		request_body(a, q, 0, &body);
		dry_print(url.p, body.p);
		goto out;
	}
restart:
	if (!a->token)
		login(a);
	mlc_buf_reset(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
	resumed = q->last.n > 0;
	request_body(a, q, resumed, &body);
	first = 1;
	for (;;) {
		struct mlc_jde_page pg;
		enum mlc_retry_class c;
		char now[32];
		struct timespec ts;
		long delay;
		int rc, page_new = 0;

		if (stop_sig)
			interrupted();
		snprintf(what, sizeof what, "%s %s", q->table, !first ? "next page" :
		         resumed ? "query after the last row" : "query");
		post(a, url.p, body.p, &r);
		if (r.outcome == MLC_HTTP_DONE && r.status == 200) {
			if (mlc_jde_page_parse(r.body.p, r.body.len, &pg, e, sizeof e) < 0)
				fatal(MLC_EX_DATAERR, "%s: %s", what, e);
			if (pg.error && strstr(pg.error, "JAS_MSG347")) {
				mlc_jde_page_free(&pg);
				goto expired;
			}
			if (pg.error && first && resumed && q->form < 2) {
				/* The server may not express the condition: ask
				 * with a simpler one; rows up to the last one
				 * written are skipped here all the same. */
				q->form = q->form == 0 && q->norder > 1 ? 1 : 2;
				mlc_warn("%s: AIS reported an error (%s): asking again with %s", what,
				         pg.error, q->form == 1 ? "a condition on the first order column "
				         "only" : "no condition (the rows already written are skipped)");
				mlc_jde_page_free(&pg);
				request_body(a, q, 1, &body);
				continue;
			}
			if (pg.error)
				fatal(MLC_EX_DATAERR, "%s: AIS reported %d error%s: %s", what, pg.nerrors,
				      pg.nerrors == 1 ? "" : "s", pg.error);
			if (!pg.found || strcmp(pg.target, q->table) != 0)
				fatal(MLC_EX_DATAERR, "%s: the response has no fs_DATABROWSE_%s", what,
				      q->table);
			if (!pg.rowset)
				fatal(MLC_EX_DATAERR, "%s: the response has no data.gridData.rowset", what);
			auth_fails = 0;
			mlc_retry_init(&rt);
			mlc_time_now(&ts);
			mlc_time_fmt(now, &ts);
			{
				size_t pos = 0, nrow = 0;
				const char *row;
				size_t rn;

				while ((rc = mlc_jde_page_row(&pg, &pos, &row, &rn)) == 1) {
					if (stop_sig)
						interrupted();
					nrow++;
					if (q->norder) {
						if (mlc_jde_pos_read(&q->cur, q->table, q->order, q->norder, row,
						                     rn, e, sizeof e) < 0)
							fatal(MLC_EX_DATAERR, "%s: %s (the read is ordered by %s)",
							      what, e, ord);
						/* One page is one fetch of an ordered result: a row
						 * not after its predecessor means the server's
						 * order is not the one asked for (or the key is
						 * not unique), and dropping rows by position would
						 * lose some. */
						if (nrow > 1 && mlc_jde_pos_cmp(&q->cur, &q->prev) <= 0)
							fatal(MLC_EX_DATAERR, "%s: row %zu is not after row %zu in "
							      "the order asked for (%s): AIS ignored the order, "
							      "or these columns are not a unique key", what, nrow,
							      nrow - 1, ord);
						mlc_jde_pos_copy(&q->prev, &q->cur);
						if (q->last.n && mlc_jde_pos_cmp(&q->cur, &q->last) <= 0) {
							q->repeats++;
							if (!first) {
								q->shifted = 1;
							} else if (resumed && q->form == 0) {
								/* the exact condition was not applied */
								q->form = q->norder > 1 ? 1 : 2;
							}
							continue;
						}
						mlc_jde_pos_copy(&q->last, &q->cur);
						progress = page_new = 1;
					}
					q->row(q->arg, row, rn, now);
				}
				if (rc < 0)
					fatal(MLC_EX_DATAERR, "%s: a rowset element is not an object", what);
			}
			if (!pg.more) {
				sodium_memzero(r.body.p, r.body.len);
				mlc_jde_page_free(&pg);
				break;
			}
			if (q->shifted && !warned_shift) {
				warned_shift = 1;
				mlc_warn("%s: the pages shifted (rows were added or removed behind the "
				         "read position): rows already written are dropped, and the rest "
				         "is read with queries after the last row written", what);
			}
			if (by_query(a, q) || next_request(a, q, &pg, &url, &body) < 0) {
				if (!(q->norder && q->form == 0))
					fatal(MLC_EX_DATAERR, "%s: moreRecords is true but there is no next "
					      "link", what);
				/* The same query again would loop: only a page that
				 * brought new rows may be followed by another query. */
				if (page_new)
					stalls = 0;
				else if (++stalls > MAX_RESTARTS)
					fatal(MLC_EX_UNAVAILABLE, "%s: %d pages in a row without a new row; "
					      "giving up", what, MAX_RESTARTS + 1);
				/* Page on with a query after the last row. */
				mlc_buf_reset(&url);
				mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
				request_body(a, q, 1, &body);
				resumed = 1;
				first = 1;
			} else {
				first = 0;
			}
			/* The body and the link held the token. */
			if (pg.next)
				sodium_memzero(pg.next, strlen(pg.next));
			sodium_memzero(r.body.p, r.body.len);
			mlc_jde_page_free(&pg);
			continue;
		}
		if (is_expired(&r))
			goto expired;
		c = mlc_retry_classify(&r, 1);
		describe(&r, d, sizeof d);
		if (first && resumed && q->form < 2 && r.outcome == MLC_HTTP_DONE && r.status == 400) {
			q->form = q->form == 0 && q->norder > 1 ? 1 : 2;
			mlc_warn("%s: %s: asking again with a simpler condition", what, d);
			request_body(a, q, 1, &body);
			continue;
		}
		if (c == MLC_RETRY_AUTH) {
			if (++auth_fails >= 2)
				fatal(MLC_EX_NOPERM, "%s: the token was refused twice in a row: %s", what, d);
			mlc_warn("%s: token refused (%s): logging in again and %s", what, d,
			         q->norder && q->last.n ? "resuming after the last row written"
			                                : "restarting the query");
			secret_free(a->token);
			a->token = NULL;
			goto again;
		}
		if (c == MLC_RETRY_NO) {
			if (r.outcome == MLC_HTTP_DONE)
				fatal(r.status == 400 || r.status == 415 ? MLC_EX_SOFTWARE : MLC_EX_DATAERR,
				      "%s: %s", what, d);
			fatal_transport(&r, what);
		}
		if ((delay = mlc_retry_next(&rt, r.retry_after_ms)) < 0)
			fatal(MLC_EX_UNAVAILABLE, "%s: AIS unavailable after %d attempts: %s", what,
			      rt.attempt, d);
		/* A failed next page leaves the server's position unknown (it
		 * may have moved on): never send it again, start over. */
		mlc_warn("%s: %s; %s in %ld ms", what, d, first ? "retrying" :
		         q->norder && q->last.n ? "resuming after the last row written" :
		         "restarting the query", delay);
		mlc_retry_sleep(delay, &stop_sig);
		if (first)
			continue;
		goto again;
expired:
		mlc_warn("%s: query results expired (JAS_MSG347): %s", what,
		         q->norder && q->last.n ? "resuming after the last row written"
		                                : "restarting the query");
again:
		if (q->norder) {
			/* Only a start-over that brought no new row counts. */
			if (progress)
				restarts = 0;
			progress = 0;
			if (++restarts > MAX_RESTARTS)
				fatal(MLC_EX_UNAVAILABLE, "%s: the query started over %d times without "
				      "a new row; giving up", what, MAX_RESTARTS);
		} else {
			if (++restarts > MAX_RESTARTS)
				fatal(MLC_EX_UNAVAILABLE, "%s: the query had to restart %d times; "
				      "giving up", what, MAX_RESTARTS);
			if (q->restart)
				q->restart(q->arg);
		}
		goto restart;
	}
out:
	mlc_buf_free(&url);
	mlc_buf_free(&body);
	mlc_http_resp_free(&r);
}

/* Split blank-separated words into a vector of pointers into buf. */
static size_t words(char *buf, const char **v, size_t max);

/* The read's order: the incremental columns (if any), then the key
 * columns of spec (copied into *buf).  The number of columns, 0 if spec
 * is NULL or bad. */
static size_t
read_order(const char *spec, const char *wm_date, const char *wm_time, const char **v,
           char **buf)
{
	const char *kv[MLC_JDE_MAXKEY];
	size_t n = 0, k;

	*buf = NULL;
	if (!spec)
		return 0;
	if (wm_date)
		v[n++] = wm_date;
	if (wm_time)
		v[n++] = wm_time;
	*buf = mlc_xstrdup(spec);
	k = words(*buf, kv, MLC_JDE_MAXKEY);
	if (k == 0 || k > MLC_JDE_MAXKEY) {
		free(*buf);
		*buf = NULL;
		return 0;
	}
	/* a key column that is also an incremental column (DGJ) sorts once */
	for (size_t i = 0; i < k; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(kv[i], v[j]) != 0; j++)
			;
		if (j == n)
			v[n++] = kv[i];
	}
	return n;
}

/* ---- configuration ----------------------------------------------------- */

struct opts {
	const char *conf, *rule, *table, *columns, *match, *key, *run_id, *datefmt;
	const char **where;
	size_t nwhere;
	long pagesize, batch;
	int dry, join, full, parse, commit, show_wm, ping;
};

static struct mlc_conf conf;
static struct mlc_rule rule;
static int have_rule;

static void
load_config(int need)
{
	char err[1024];
	int missing = 0;
	const char *path = mlc_config_path();
	static const char *const ais_keys[] = {
		"url", "user", "environment", "role", "device", "ca_bundle", "timeout", "paging", NULL
	};

	if (mlc_conf_load(&conf, path, err, sizeof err, &missing) < 0) {
		if (!need && missing)
			return;
		fatal(MLC_EX_CONFIG, "%s", err);
	}
	for (size_t i = 0; i < conf.n; i++) {
		const struct mlc_conf_entry *e = &conf.v[i];
		size_t k;

		if (strcmp(e->section, "ais") != 0)
			continue;
		for (k = 0; ais_keys[k]; k++)
			if (strcmp(e->key, ais_keys[k]) == 0)
				break;
		if (!ais_keys[k])
			fatal(MLC_EX_CONFIG, "%s:%u: unknown key \"%s\" in [ais]", path, e->line, e->key);
	}
}

static const char *
ais_get(const char *key, const char *def, int required)
{
	const char *v = mlc_conf_get(&conf, "ais", key);

	if (v && *v)
		return v;
	if (required)
		fatal(MLC_EX_CONFIG, "%s: [ais] %s is missing", mlc_config_path(), key);
	return def;
}

static void
ais_open(struct ais *a, int dry)
{
	struct mlc_http_opts ho;
	const char *url = ais_get("url", NULL, 1), *t;
	char err[512];
	size_t n;

	memset(a, 0, sizeof *a);
	memset(&ho, 0, sizeof ho);
	a->dry = dry;
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	a->base = mlc_xstrndup(url, n);
	a->policy = strncmp(a->base, "http://", 7) == 0 ? MLC_HTTP_ALLOW_HTTP : 0;
	if (mlc_http_url_ok(a->base, a->policy, err, sizeof err) < 0)
		fatal(MLC_EX_CONFIG, "[ais] url: %s", err);
	a->user = ais_get("user", NULL, 1);
	a->env = ais_get("environment", NULL, 1);
	a->role = ais_get("role", "*ALL", 0);
	a->device = ais_get("device", "ml-connector", 0);
	mlc_jde_datefmt_set(&a->df, "MM/dd/yyyy", "/");
	ho.cainfo = ais_get("ca_bundle", NULL, 0);
	if (ho.cainfo && access(ho.cainfo, R_OK) != 0)
		fatal(MLC_EX_CONFIG, "[ais] ca_bundle %s: %s", ho.cainfo, strerror(errno));
	if ((t = ais_get("timeout", NULL, 0))) {
		char *end;
		long s = strtol(t, &end, 10);

		if (*end || s < 1 || s > 3600)
			fatal(MLC_EX_CONFIG, "[ais] timeout \"%s\": expected seconds (1-3600)", t);
		ho.timeout_ms = s * 1000;
	} else {
		ho.timeout_ms = 60000;
	}
	if ((t = ais_get("paging", NULL, 0))) {
		if (strcmp(t, "query") == 0)
			a->by_query = 1;
		else if (strcmp(t, "next") != 0)
			fatal(MLC_EX_CONFIG, "[ais] paging \"%s\": expected next or query", t);
	}
	ho.url_policy = a->policy;
	/* A load balancer that pins the session with a cookie must see it
	 * again on every call of the run (kept in memory only). */
	ho.cookies = 1;
	if (dry)
		return;
	a->h = mlc_http_new(&ho);
	session = a;
}

static void
ais_close(struct ais *a)
{
	logout(a);
	session = NULL;
	if (a->h)
		mlc_http_free(a->h);
	secret_free(a->password);
	free(a->base);
}

static struct mlc_store *
store_open(void)
{
	char err[512];
	int code;
	const char *dir = mlc_state_dir(NULL, err, sizeof err);
	struct mlc_store *s;

	if (!dir)
		fatal(MLC_EX_CONFIG, "%s", err);
	if (!(s = mlc_store_open(dir, err, sizeof err, &code)))
		fatal(code, "%s", err);
	return s;
}

static void
vault_password(struct ais *a, struct mlc_store *st)
{
	char err[512];
	int code;
	size_t len;
	struct mlc_vault *v = mlc_vault_open(st, NULL, err, sizeof err, &code);

	if (!v)
		fatal(code == MLC_EX_NOINPUT ? MLC_EX_CONFIG : code, "vault: %s", err);
	if (!(a->password = mlc_vault_get(v, "ais.password", &len, &code))) {
		mlc_vault_close(v);
		if (code == MLC_EX_NOINPUT)
			fatal(MLC_EX_CONFIG, "vault: no secret ais.password (store it with: "
			      "mlc-vault set ais.password)");
		fatal(code, "vault: cannot read ais.password");
	}
	mlc_vault_close(v);
}

/* ---- query mode --------------------------------------------------------- */

#define WM_MAXKEYS 1000

struct fetch {
	struct mlc_jde_fmt fmt;
	struct mlc_jde_rowinfo ri;
	struct mlc_buf line;
	const char *keys[MLC_JDE_MAXKEY];
	char *keybuf;
	unsigned long written, dropped;
	/* incremental */
	int incr;
	long long wm;          /* the watermark: yyyymmdd * 1000000 + hhmmss; -1 none */
	char **wm_keys;        /* keys at exactly wm that the last run wrote */
	size_t nwm_keys;
	long long max;         /* the largest position seen */
	char **max_keys;
	size_t nmax_keys;
	int max_overflow;
};

static uint64_t
hash64(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

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
		fatal(MLC_EX_DATAERR, "%s: %s", f->fmt.table, err);
	if (f->incr && f->ri.has_wm) {
		long long pos = (long long)f->ri.wm_date * 1000000 + f->ri.wm_time;

		if (pos < f->wm || (pos == f->wm && strv_has(f->wm_keys, f->nwm_keys, f->ri.key.p))) {
			f->dropped++;
			return;
		}
	}
	if (mlc_ndjson_put(1, &f->line) < 0)
		fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	f->written++;
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
	sqlite3_stmt *st;
	char *v = NULL;
	int rc;

	if (mlc_store_prepare(s, "SELECT value FROM watermark WHERE rule = ?", &st) < 0)
		fatal(store_fail(s, "reading the watermark"), "cannot read the watermark");
	sqlite3_bind_text(st, 1, rulename, -1, SQLITE_TRANSIENT);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		v = mlc_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fatal(store_fail(s, "reading the watermark"), "cannot read the watermark");
	return v;
}

static void
now_text(char out[32])
{
	struct timespec ts;

	mlc_time_now(&ts);
	mlc_time_fmt(out, &ts);
}

struct wm_pending {
	const char *rule, *run_id, *value;
};

static int
wm_pending_tx(struct mlc_store *s, void *arg)
{
	struct wm_pending *p = arg;
	sqlite3_stmt *st;
	char now[32];
	int rc;

	now_text(now);
	if (mlc_store_prepare(s, "INSERT OR REPLACE INTO watermark_pending (rule, run_id, value, "
	                         "created_at) VALUES (?, ?, ?, ?)", &st) < 0) {
		mlc_store_warn(s, "storing the pending watermark");
		return -1;
	}
	sqlite3_bind_text(st, 1, p->rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, p->run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, p->value, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
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
		fatal(code, "pending watermark not stored");
}

struct wm_commit {
	const char *rule, *run_id;
	char *pending;
};

static int
wm_commit_tx(struct mlc_store *s, void *arg)
{
	struct wm_commit *c = arg;
	sqlite3_stmt *st;
	char *cur, now[32];
	int rc;

	free(c->pending);
	c->pending = NULL;
	if (mlc_store_prepare(s, "SELECT value FROM watermark_pending WHERE rule = ? AND "
	                         "run_id = ?", &st) < 0)
		goto dberr;
	sqlite3_bind_text(st, 1, c->rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, c->run_id, -1, SQLITE_TRANSIENT);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		c->pending = mlc_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto dberr;
	if (!c->pending) {
		mlc_warn("no pending watermark for rule %s, run %s", c->rule, c->run_id);
		return MLC_EX_NOINPUT;
	}
	/* Never move backwards (a pending value older than the watermark is
	 * from a run that started before the last commit). */
	if ((cur = wm_load(s, c->rule))) {
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
	now_text(now);
	if (mlc_store_prepare(s, "INSERT OR REPLACE INTO watermark (rule, value, updated_at) "
	                         "VALUES (?, ?, ?)", &st) < 0)
		goto dberr;
	sqlite3_bind_text(st, 1, c->rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, c->pending, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto dberr;
	/* Runs that never committed are superseded by this one. */
	if (mlc_store_prepare(s, "DELETE FROM watermark_pending WHERE rule = ?", &st) < 0)
		goto dberr;
	sqlite3_bind_text(st, 1, c->rule, -1, SQLITE_TRANSIENT);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto dberr;
	return 0;
dberr:
	mlc_store_warn(s, "committing the watermark");
	return -1;
}

static int
do_commit(const char *rulename, const char *run_id)
{
	struct mlc_store *s = store_open();
	struct wm_commit c = { rulename, run_id, NULL };
	int code;

	code = mlc_store_tx(s, "commit the watermark", wm_commit_tx, &c);
	free(c.pending);
	mlc_store_close(s);
	return code;
}

/* Split blank-separated words into a vector of pointers into buf. */
static size_t
words(char *buf, const char **v, size_t max)
{
	size_t n = 0;

	for (char *save = NULL, *w = strtok_r(buf, " \t,", &save); w;
	     w = strtok_r(NULL, " \t,", &save)) {
		if (n == max)
			return max + 1;
		v[n++] = w;
	}
	return n;
}

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
		fatal(code, "%s", err);
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
				fatal(MLC_EX_CONFIG, "%s:%u: %s", rule.path, e->line, err);
			n++;
		}
	}
	for (size_t i = 0; i < o->nwhere; i++) {
		c = mlc_xrealloc(c, (n + 1) * sizeof *c);
		if (mlc_jde_cond_parse(o->where[i], &c[n], err, sizeof err) < 0)
			fatal(MLC_EX_USAGE, "-w: %s", err);
		n++;
	}
	*nc = n;
	return c;
}

static void
add_col(struct mlc_buf *rc, const char *table, const char *col)
{
	char id[64];
	size_t l;

	snprintf(id, sizeof id, "%s.%s", table, col);
	l = strlen(id);
	/* skip duplicates: "|T.C|" inside "|...|" */
	if (rc->len) {
		const char *p = rc->p;

		while ((p = strstr(p, id))) {
			if ((p == rc->p || p[-1] == '|') && (p[l] == '|' || p[l] == '\0'))
				return;
			p += l;
		}
		mlc_buf_addc(rc, '|');
	}
	mlc_buf_adds(rc, id);
}

static int
do_fetch(const struct opts *o)
{
	struct fetch f;
	struct ais a;
	struct mlc_store *st = NULL;
	struct mlc_jde_cond *c;
	size_t nc, nkey;
	const char *table, *keyspec, *columns, *match, *incr, *v;
	char *keycopy, *wmtext = NULL, ierr[256];
	struct mlc_catalog_incr inc; /* f.fmt points into it */
	struct mlc_buf rcids, extra, wmout;
	struct query q;
	long pagesize = o->pagesize;
	char run_id[64], *orderbuf;
	const char *order[MLC_JDE_MAXPOS];
	size_t norder;

	memset(&f, 0, sizeof f);
	f.wm = -1;
	f.max = -1;
	table = o->table ? o->table : source_get("table");
	if (!table)
		fatal(have_rule ? MLC_EX_CONFIG : MLC_EX_USAGE, "%s: no table (give -t TABLE or "
		      "[source] table)", have_rule ? rule.path : "jde-fetch");
	if (strlen(table) > 30 || strspn(table, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(table))
		fatal(MLC_EX_CONFIG, "bad table name \"%s\"", table);
	keyspec = o->key ? o->key : source_get("key");
	if (!keyspec && !(keyspec = mlc_catalog_key(table)))
		fatal(MLC_EX_CONFIG, "table %s is not in jde-fetch's catalog: give its primary key "
		      "([source] key or -k)", table);
	keycopy = mlc_xstrdup(keyspec);
	nkey = words(keycopy, f.keys, MLC_JDE_MAXKEY);
	if (nkey == 0 || nkey > MLC_JDE_MAXKEY)
		fatal(MLC_EX_CONFIG, "bad key \"%s\"", keyspec);
	columns = o->columns ? o->columns : source_get("columns");
	match = o->match ? o->match : source_get("match");
	if (match && strcmp(match, "all") && strcmp(match, "any"))
		fatal(MLC_EX_CONFIG, "match \"%s\": expected all or any", match);
	if (!pagesize && (v = source_get("page_size"))) {
		char *end;

		pagesize = strtol(v, &end, 10);
		if (*end || pagesize < 1 || pagesize > 100000)
			fatal(MLC_EX_CONFIG, "%s: page_size \"%s\" (1-100000)", rule.path, v);
	}
	if (!pagesize)
		pagesize = 100;
	c = conditions(o, &nc);

	/* incremental columns */
	incr = source_get("incremental");
	switch (mlc_catalog_incremental(table, incr, &inc, ierr, sizeof ierr)) {
	case -1:
		fatal(MLC_EX_CONFIG, "%s: %s", rule.path, ierr);
		break;
	case 1:
		if (ierr[0])
			mlc_warn("%s: %s", rule.path, ierr);
		f.incr = 1;
		f.fmt.wm_date = inc.date;
		f.fmt.wm_time = inc.time[0] ? inc.time : NULL;
		break;
	}

	mlc_buf_init(&rcids);
	if (columns) {
		char *cc = mlc_xstrdup(columns);
		const char *cv[256];
		size_t n = words(cc, cv, 256);

		if (n > 256)
			fatal(MLC_EX_CONFIG, "too many columns");
		for (size_t i = 0; i < nkey; i++)
			add_col(&rcids, table, f.keys[i]);
		for (size_t i = 0; i < n; i++) {
			const char *col = strchr(cv[i], '.') ? strchr(cv[i], '.') + 1 : cv[i];

			add_col(&rcids, table, col);
		}
		if (f.incr) {
			add_col(&rcids, table, f.fmt.wm_date);
			if (f.fmt.wm_time)
				add_col(&rcids, table, f.fmt.wm_time);
		}
		free(cc);
	}

	load_config(1);
	ais_open(&a, o->dry);
	if (o->dry && o->datefmt) {
		static const char *const codes[][2] = {
			{ "MDE", "MM/dd/yyyy" }, { "DME", "dd/MM/yyyy" }, { "YMD", "yyyy/MM/dd" }
		};
		size_t i;

		for (i = 0; i < 3; i++)
			if (strcmp(o->datefmt, codes[i][0]) == 0)
				break;
		if (i == 3)
			fatal(MLC_EX_USAGE, "--date-format %s: expected MDE, DME or YMD", o->datefmt);
		mlc_jde_datefmt_set(&a.df, codes[i][1], "/");
	}
	if (f.incr || !o->dry)
		st = store_open();
	if (f.incr) {
		if ((wmtext = wm_load(st, rule.name)) && !o->full &&
		    wm_parse(wmtext, &f.wm, &f.wm_keys, &f.nwm_keys) < 0)
			fatal(MLC_EX_DATAERR, "rule %s: the stored watermark is not readable: %s",
			      rule.name, wmtext);
		f.max = f.wm;
		for (size_t i = 0; i < f.nwm_keys; i++) {
			f.max_keys = mlc_xrealloc(f.max_keys, (i + 1) * sizeof *f.max_keys);
			f.max_keys[i] = mlc_xstrdup(f.wm_keys[i]);
		}
		f.nmax_keys = f.nwm_keys;
		if (o->run_id)
			snprintf(run_id, sizeof run_id, "%s", o->run_id);
		else if ((v = getenv("ML_CONNECTOR_RUN_ID")) && *v)
			snprintf(run_id, sizeof run_id, "%s", v);
		else {
			char now[32];

			now_text(now);
			snprintf(run_id, sizeof run_id, "%s-%ld", now, (long)getpid());
		}
	}
	if (!o->dry)
		vault_password(&a, st);

	f.fmt.table = table;
	f.fmt.key = f.keys;
	f.fmt.nkey = nkey;
	f.fmt.rule = have_rule ? rule.name : NULL;
	mlc_jde_rowinfo_init(&f.ri);
	mlc_buf_init(&f.line);

	/* Incremental: by (date, time, key), so that a row written or changed
	 * while the read goes on sorts after the rows already read (JDE stamps
	 * UPMJ/UPMT, TDAY with the time of the write); else by the key. */
	norder = read_order(keyspec, f.incr ? f.fmt.wm_date : NULL, f.incr ? f.fmt.wm_time : NULL,
	                    order, &orderbuf);
	if (!norder)
		fatal(MLC_EX_CONFIG, "bad key \"%s\"", keyspec);
	query_init(&q);
	mlc_buf_init(&extra);
	q.table = table;
	q.rcids = rcids.p;
	q.pagesize = pagesize;
	q.order = order;
	q.norder = norder;
	q.row = fetch_row;
	q.arg = &f;
	if (!o->dry)
		login(&a);
	if (f.incr && f.wm >= 0) {
		struct mlc_jde_cond wc;
		struct mlc_jde_val wv;

		/* The boundary day is read again: rows are filtered by time here. */
		memset(&wv, 0, sizeof wv);
		wv.content = (char *)"";
		wv.special = "LITERAL";
		wv.ymd = (long)(f.wm / 1000000);
		wc.column = (char *)f.fmt.wm_date;
		wc.op = "GREATER_EQUAL";
		wc.v = &wv;
		wc.nv = 1;
		mlc_jde_cond_json(&extra, table, &wc, &a.df);
		if (match && strcmp(match, "any") == 0 && nc)
			fatal(MLC_EX_CONFIG, "%s: incremental needs match = all", rule.path);
	}
	query_obj(&q.qobj, table, match, c, nc, &a.df, extra.len ? extra.p : NULL);
	q.match_any = match && strcmp(match, "any") == 0;
	if (o->dry)
		login(&a);
	run_query(&a, &q);
	ais_close(&a);

	if (f.incr && !o->dry) {
		mlc_buf_init(&wmout);
		if (q.shifted) {
			/* Rows appeared behind the read position (a row stamped
			 * before rows already read): this run did not read them,
			 * so the watermark stays where the run began and the next
			 * run reads the range again (its rows come again; the
			 * re-alert index of alert-match knows them). */
			mlc_buf_adds(&wmout, wmtext && !o->full ? wmtext : "{}");
			mlc_warn("rule %s: rows appeared behind the read position while paging: the "
			         "watermark stays where this run began, the next run reads the range "
			         "again", rule.name);
		} else if (f.max < 0 && wmtext && o->full)
			mlc_buf_adds(&wmout, wmtext);
		else
			wm_format(&wmout, f.max, f.max_overflow ? NULL : f.max_keys,
			          f.max_overflow ? 0 : f.nmax_keys);
		wm_store_pending(st, rule.name, run_id, wmout.p);
		if (!o->run_id && !getenv("ML_CONNECTOR_RUN_ID"))
			mlc_warn("rule %s: pending watermark stored for run %s", rule.name, run_id);
		mlc_buf_free(&wmout);
	}
	if ((f.dropped || q.repeats) && getenv("ML_CONNECTOR_TRACE"))
		mlc_warn("%s: %lu rows written, %lu dropped by the watermark, %lu sent again by AIS "
		         "and dropped", table, f.written, f.dropped, q.repeats);
	if (st)
		mlc_store_close(st);
	for (size_t i = 0; i < nc; i++)
		mlc_jde_cond_free(&c[i]);
	free(c);
	free(keycopy);
	free(wmtext);
	strv_free(f.wm_keys, f.nwm_keys);
	strv_free(f.max_keys, f.nmax_keys);
	free(orderbuf);
	mlc_jde_rowinfo_free(&f.ri);
	mlc_buf_free(&f.line);
	query_free(&q);
	mlc_buf_free(&extra);
	mlc_buf_free(&rcids);
	return MLC_EX_OK;
}

/* ---- join mode ----------------------------------------------------------- */

/* A bounded string map: when full it is emptied, so memory stays flat
 * however long the input; the cost is a lookup repeated. */
#define MAP_SLOTS 16384
#define MAP_MAX 8192

struct map {
	char **key;
	char **val;
	long *num;
	size_t count;
};

static void
map_init(struct map *m)
{
	m->key = mlc_xcalloc(MAP_SLOTS, sizeof *m->key);
	m->val = mlc_xcalloc(MAP_SLOTS, sizeof *m->val);
	m->num = mlc_xcalloc(MAP_SLOTS, sizeof *m->num);
	m->count = 0;
}

static void
map_clear(struct map *m)
{
	for (size_t i = 0; i < MAP_SLOTS; i++) {
		free(m->key[i]);
		free(m->val[i]);
		m->key[i] = m->val[i] = NULL;
	}
	m->count = 0;
}

static void
map_free(struct map *m)
{
	map_clear(m);
	free(m->key);
	free(m->val);
	free(m->num);
}

static size_t
map_slot(const struct map *m, const char *k)
{
	size_t i = (size_t)(hash64(k, strlen(k)) % MAP_SLOTS);

	while (m->key[i] && strcmp(m->key[i], k) != 0)
		i = (i + 1) % MAP_SLOTS;
	return i;
}

static int
map_get(const struct map *m, const char *k, const char **val, long *num)
{
	size_t i = map_slot(m, k);

	if (!m->key[i])
		return 0;
	if (val)
		*val = m->val[i];
	if (num)
		*num = m->num[i];
	return 1;
}

static void
map_put(struct map *m, const char *k, const char *val, long num)
{
	size_t i;

	if (m->count >= MAP_MAX)
		map_clear(m);
	i = map_slot(m, k);
	if (!m->key[i]) {
		m->key[i] = mlc_xstrdup(k);
		m->count++;
	} else {
		free(m->val[i]);
	}
	m->val[i] = val ? mlc_xstrdup(val) : NULL;
	m->num[i] = num;
}

struct jent {
	const char *name;
	char *col;    /* column alias, or NULL for a fixed number */
	int via;      /* the column is a business unit: its F0006 owner */
	long fixed;
};

struct phone {
	long rck7;
	char *type, *raw;
};

struct email {
	long rank, rck7;
	char *addr;
};

struct contact {
	long an8;
	char *name;
	struct phone *ph;
	size_t nph;
	struct email *em;
	size_t nem;
};

/* One [sums] entry, NAME = TABLE.COL by BY...: the sum of TABLE.COL over
 * the TABLE rows whose BY columns equal the record's. */
#define SUM_MAXBY 8
#define SUM_SEP '\x1f' /* between the by-values of a tuple key */

struct sument {
	char *name;   /* the rule's key in upper case: "sums" member name */
	char *table, *col;
	char *by[SUM_MAXBY];
	size_t nby;
};

struct join {
	struct jent *ent;
	size_t nent;
	struct sument *sum;
	size_t nsum;
	long sum_page;           /* maxPageSize of the [sums] queries */
	long batch;
	const char *cc;
	struct map bu, ab;       /* MCU -> owner AN8; AN8 -> contact JSON */
	struct contact *con;     /* this batch's lookups, sorted by an8 */
	size_t ncon;
	char **mcus;             /* this batch's business units to look up */
	size_t nmcus;
	unsigned long bad;
};

static int
span_num(const char *v, size_t n, long *out)
{
	struct mlc_buf t;
	char *end;
	double d;
	int ok;

	mlc_buf_init(&t);
	if (*v == '"')
		mlc_jde_json_string(v, n, &t);
	else
		mlc_buf_add(&t, v, n);
	d = strtod(t.p, &end);
	while (*end == ' ')
		end++;
	ok = end != t.p && !*end && d >= 0 && d < 1e15 && d == (double)(long)d;
	if (ok)
		*out = (long)d;
	mlc_buf_free(&t);
	return ok;
}

/* A string member, trimmed, into b (reset); 0 if absent or not a string. */
static int
row_str(const char *row, size_t n, const char *name, struct mlc_buf *b)
{
	const char *v;
	size_t vn;
	size_t lead;

	mlc_buf_reset(b);
	if (!mlc_jde_json_member(row, n, name, &v, &vn) || *v != '"')
		return 0;
	mlc_jde_json_string(v, vn, b);
	while (b->len && b->p[b->len - 1] == ' ')
		b->p[--b->len] = '\0';
	lead = strspn(b->p, " ");
	memmove(b->p, b->p + lead, b->len - lead + 1);
	b->len -= lead;
	return 1;
}

static long
row_num(const char *row, size_t n, const char *name)
{
	const char *v;
	size_t vn;
	long x = 0;

	if (!mlc_jde_json_member(row, n, name, &v, &vn) || !span_num(v, vn, &x))
		return 0;
	return x;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static struct contact *
find_contact(struct join *j, long an8)
{
	size_t lo = 0, hi = j->ncon;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (j->con[mid].an8 == an8)
			return &j->con[mid];
		if (j->con[mid].an8 < an8)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
contact_clear(struct contact *c, int what)
{
	if (what & 1) {
		free(c->name);
		c->name = NULL;
	}
	if (what & 2) {
		for (size_t i = 0; i < c->nph; i++) {
			free(c->ph[i].type);
			free(c->ph[i].raw);
		}
		free(c->ph);
		c->ph = NULL;
		c->nph = 0;
	}
	if (what & 4) {
		for (size_t i = 0; i < c->nem; i++)
			free(c->em[i].addr);
		free(c->em);
		c->em = NULL;
		c->nem = 0;
	}
}

struct lookup {
	struct join *j;
	int what; /* 0 F0006, 1 F0101, 2 F0115, 4 F01151 */
	struct mlc_buf t1, t2;
};

static void
lookup_row(void *arg, const char *row, size_t n, const char *fetched_at)
{
	struct lookup *l = arg;
	struct join *j = l->j;
	struct contact *c;
	long an8;

	(void)fetched_at;
	if (l->what == 0) {
		if (row_str(row, n, "F0006_MCU", &l->t1))
			map_put(&j->bu, l->t1.p, NULL, row_num(row, n, "F0006_AN8"));
		return;
	}
	an8 = row_num(row, n, l->what == 1 ? "F0101_AN8" : l->what == 2 ? "F0115_AN8" :
	              "F01151_AN8");
	if (!(c = find_contact(j, an8)))
		return;
	if (l->what == 1) {
		if (row_str(row, n, "F0101_ALPH", &l->t1)) {
			free(c->name);
			c->name = mlc_xstrdup(l->t1.p);
		}
	} else if (l->what == 2) {
		struct phone *p;
		struct mlc_buf raw;

		row_str(row, n, "F0115_AR1", &l->t1);
		mlc_buf_init(&raw);
		if (l->t1.len) {
			mlc_buf_add(&raw, l->t1.p, l->t1.len);
			mlc_buf_addc(&raw, ' ');
		}
		row_str(row, n, "F0115_PH1", &l->t2);
		mlc_buf_add(&raw, l->t2.p, l->t2.len);
		if (!l->t2.len) {
			mlc_buf_free(&raw);
			return;
		}
		row_str(row, n, "F0115_PHTP", &l->t1);
		c->ph = mlc_xrealloc(c->ph, (c->nph + 1) * sizeof *c->ph);
		p = &c->ph[c->nph++];
		p->rck7 = row_num(row, n, "F0115_RCK7");
		p->type = mlc_xstrdup(strcmp(l->t1.p, "CAR") == 0 ? "mobile" :
		                      l->t1.len == 0 ? "business" : l->t1.p);
		p->raw = raw.p;
	} else {
		struct email *e;

		if (!row_str(row, n, "F01151_ETP", &l->t1) || strcmp(l->t1.p, "E") != 0 ||
		    !row_str(row, n, "F01151_EMAL", &l->t2) || !l->t2.len)
			return;
		c->em = mlc_xrealloc(c->em, (c->nem + 1) * sizeof *c->em);
		e = &c->em[c->nem++];
		e->rck7 = row_num(row, n, "F01151_RCK7");
		/* EHIER: 1 = primary first, then 2, 3...; 0 (informative) last. */
		e->rank = row_num(row, n, "F01151_EHIER");
		if (e->rank <= 0)
			e->rank = 1000000;
		e->addr = mlc_xstrdup(l->t2.p);
	}
}

static void
lookup_restart(void *arg)
{
	struct lookup *l = arg;

	if (l->what)
		for (size_t i = 0; i < l->j->ncon; i++)
			contact_clear(&l->j->con[i], l->what);
}

static int
cmp_phone(const void *a, const void *b)
{
	const struct phone *x = a, *y = b;

	return x->rck7 < y->rck7 ? -1 : x->rck7 > y->rck7;
}

static int
cmp_email(const void *a, const void *b)
{
	const struct email *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->rck7 < y->rck7 ? -1 : x->rck7 > y->rck7;
}

static void
contact_json(struct join *j, struct contact *c, struct mlc_buf *b)
{
	const char *sms = NULL;
	char e164[MLC_ADDR_E164_SIZE];

	if (c->nph)
		qsort(c->ph, c->nph, sizeof *c->ph, cmp_phone);
	if (c->nem)
		qsort(c->em, c->nem, sizeof *c->em, cmp_email);
	mlc_buf_reset(b);
	mlc_buf_printf(b, "{\"an8\":%ld,\"name\":", c->an8);
	if (c->name)
		mlc_buf_json_str(b, c->name, strlen(c->name));
	else
		mlc_buf_adds(b, "null");
	mlc_buf_adds(b, ",\"phones\":[");
	for (size_t i = 0; i < c->nph; i++) {
		int ok = mlc_addr_e164_norm(c->ph[i].raw, j->cc, e164) == 0;

		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, "{\"type\":");
		mlc_buf_json_str(b, c->ph[i].type, strlen(c->ph[i].type));
		mlc_buf_adds(b, ",\"raw\":");
		mlc_buf_json_str(b, c->ph[i].raw, strlen(c->ph[i].raw));
		if (ok) {
			mlc_buf_printf(b, ",\"e164\":\"%s\"}", e164);
			if (!sms && strcmp(c->ph[i].type, "mobile") == 0)
				sms = c->ph[i].raw;
		} else {
			mlc_buf_adds(b, ",\"e164\":null,\"invalid\":true}");
		}
	}
	mlc_buf_adds(b, "],\"emails\":[");
	for (size_t i = 0; i < c->nem; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_json_str(b, c->em[i].addr, strlen(c->em[i].addr));
	}
	mlc_buf_addc(b, ']');
	if (sms && mlc_addr_e164_norm(sms, j->cc, e164) == 0)
		mlc_buf_printf(b, ",\"sms\":\"%s\"", e164);
	/* like sms: the first address the later stages can send to */
	for (size_t i = 0; i < c->nem; i++) {
		if (mlc_addr_email_ok(c->em[i].addr)) {
			mlc_buf_adds(b, ",\"email\":");
			mlc_buf_json_str(b, c->em[i].addr, strlen(c->em[i].addr));
			break;
		}
	}
	mlc_buf_addc(b, '}');
}

/* One LIST query (in chunks of at most 500 values) per table. */
static void
lookup(struct ais *a, struct join *j, int what, const char *const *vals, size_t nv)
{
	static const struct {
		const char *table, *key, *cols, *cond;
	} t[] = {
		{ "F0006", "MCU", "F0006.MCU|F0006.AN8", NULL },
		{ "F0101", "AN8", "F0101.AN8|F0101.ALPH", NULL },
		{ "F0115", "AN8", "F0115.AN8|F0115.IDLN|F0115.RCK7|F0115.PHTP|F0115.AR1|F0115.PH1",
		  "{\"controlId\":\"F0115.IDLN\",\"operator\":\"EQUAL\",\"value\":[{\"content\":\"0\","
		  "\"specialValueId\":\"LITERAL\"}]}" },
		{ "F01151", "AN8",
		  "F01151.AN8|F01151.IDLN|F01151.RCK7|F01151.ETP|F01151.EMAL|F01151.EHIER",
		  "{\"controlId\":\"F01151.IDLN\",\"operator\":\"EQUAL\",\"value\":[{\"content\":\"0\","
		  "\"specialValueId\":\"LITERAL\"}]},{\"controlId\":\"F01151.ETP\",\"operator\":"
		  "\"EQUAL\",\"value\":[{\"content\":\"E\",\"specialValueId\":\"LITERAL\"}]}" },
	};
	int ti = what == 0 ? 0 : what == 1 ? 1 : what == 2 ? 2 : 3;
	struct lookup l;
	struct query q;
	struct mlc_buf cond;
	const char *order[MLC_JDE_MAXPOS];
	char *orderbuf;

	l.j = j;
	l.what = what;
	mlc_buf_init(&l.t1);
	mlc_buf_init(&l.t2);
	mlc_buf_init(&cond);
	query_init(&q);
	q.table = t[ti].table;
	q.rcids = t[ti].cols;
	q.pagesize = 1000;
	/* By the key (every key column is in cols): a start-over resumes. */
	q.norder = read_order(mlc_catalog_key(q.table), NULL, NULL, order, &orderbuf);
	q.order = order;
	q.row = lookup_row;
	q.restart = lookup_restart;
	q.arg = &l;
	for (size_t off = 0; off < nv; off += 500) {
		size_t n = nv - off < 500 ? nv - off : 500;

		mlc_buf_reset(&cond);
		mlc_buf_printf(&cond, "{\"controlId\":\"%s.%s\",\"operator\":\"LIST\",\"value\":[",
		               t[ti].table, t[ti].key);
		for (size_t i = 0; i < n; i++) {
			if (i)
				mlc_buf_addc(&cond, ',');
			mlc_buf_adds(&cond, "{\"content\":");
			mlc_buf_json_str(&cond, vals[off + i], strlen(vals[off + i]));
			mlc_buf_adds(&cond, ",\"specialValueId\":\"LITERAL\"}");
		}
		mlc_buf_adds(&cond, "]}");
		if (t[ti].cond) {
			mlc_buf_addc(&cond, ',');
			mlc_buf_adds(&cond, t[ti].cond);
		}
		query_obj(&q.qobj, t[ti].table, "all", NULL, 0, &a->df, cond.p);
		run_query(a, &q);
	}
	free(orderbuf);
	query_free(&q);
	mlc_buf_free(&cond);
	mlc_buf_free(&l.t1);
	mlc_buf_free(&l.t2);
}

struct rec {
	char *line;
	size_t len;
	unsigned long lineno;
	int bad;
	jv j;          /* the parsed record */
	long *an8;     /* per join entry: the address number, 0 = none */
	char **mcu;    /* per join entry with via: the business unit, or NULL */
	char **skey;   /* per sums entry: the by-values, SUM_SEP between them */
	double *sum;   /* per sums entry: the result */
};

static void
rec_alloc(const struct join *j, struct rec *r)
{
	r->an8 = mlc_xcalloc(j->nent, sizeof *r->an8);
	r->mcu = mlc_xcalloc(j->nent, sizeof *r->mcu);
	r->skey = mlc_xcalloc(j->nsum, sizeof *r->skey);
	r->sum = mlc_xcalloc(j->nsum, sizeof *r->sum);
}

static void
rec_free(struct rec *r, const struct join *j)
{
	free(r->line);
	jv_free(r->j);
	for (size_t i = 0; i < j->nent; i++)
		free(r->mcu[i]);
	for (size_t i = 0; i < j->nsum; i++)
		free(r->skey[i]);
	free(r->mcu);
	free(r->an8);
	free(r->skey);
	free(r->sum);
}

/* A number as by-value or sum: integers without a fraction, others with
 * 15 significant digits, so 79.5 stays 79.5 and a sum of decimals carries
 * no binary noise (0.1 + 0.2 is 0.3). */
static void
num_text(struct mlc_buf *b, double d)
{
	if (d == 0)
		mlc_buf_addc(b, '0');
	else if (fabs(d) < 1e15 && d == (double)(long long)d)
		mlc_buf_printf(b, "%lld", (long long)d);
	else
		mlc_buf_printf(b, "%.15g", d);
}

/* s without its leading and trailing blanks: the start, and the length in *n. */
static const char *
trim_blanks(const char *s, size_t *n)
{
	s += strspn(s, " ");
	*n = strlen(s);
	while (*n && s[*n - 1] == ' ')
		(*n)--;
	return s;
}

/* A value as a by-value: a string trimmed, a number as num_text.  0 for
 * anything else (null, absent). */
static int
jv_by_text(jv v, struct mlc_buf *b)
{
	mlc_buf_reset(b);
	if (jv_get_kind(v) == JV_KIND_STRING) {
		size_t n;
		const char *s = trim_blanks(jv_string_value(v), &n);

		mlc_buf_add(b, s, n);
		return 1;
	}
	if (jv_get_kind(v) == JV_KIND_NUMBER && isfinite(jv_number_value(v))) {
		num_text(b, jv_number_value(v));
		return 1;
	}
	return 0;
}

/* The value of a join column in a record. */
static void
rec_resolve(struct join *j, struct rec *r)
{
	jv table = jv_object_get(jv_copy(r->j), jv_string("table"));
	jv row = jv_object_get(jv_copy(r->j), jv_string("row"));
	struct mlc_buf t, key;

	rec_alloc(j, r);
	if (jv_get_kind(table) != JV_KIND_STRING || jv_get_kind(row) != JV_KIND_OBJECT) {
		mlc_warn("line %lu: not a jde-fetch record (no \"table\" or \"row\")", r->lineno);
		r->bad = 1;
		goto out;
	}
	for (size_t i = 0; i < j->nent; i++) {
		struct jent *e = &j->ent[i];
		char k[80];
		jv v;

		if (!e->col) {
			r->an8[i] = e->fixed;
			continue;
		}
		snprintf(k, sizeof k, "%s_%s", jv_string_value(table), e->col);
		v = jv_object_get(jv_copy(row), jv_string(k));
		if (jv_get_kind(v) == JV_KIND_INVALID) {
			jv_free(v);
			v = jv_object_get(jv_copy(row), jv_string(e->col));
		}
		if (jv_get_kind(v) == JV_KIND_INVALID) {
			mlc_warn("line %lu: record has no column %s ([join] %s)", r->lineno, k, e->name);
			r->bad = 1;
		} else if (e->via) {
			if (jv_get_kind(v) == JV_KIND_STRING) {
				size_t n;
				const char *s = trim_blanks(jv_string_value(v), &n);

				if (n)
					r->mcu[i] = mlc_xstrndup(s, n);
			} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
				r->mcu[i] = mlc_xmalloc(32);
				snprintf(r->mcu[i], 32, "%.0f", jv_number_value(v));
			}
		} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
			double d = jv_number_value(v);

			if (d > 0 && d < 1e15 && d == (double)(long)d)
				r->an8[i] = (long)d;
		} else if (jv_get_kind(v) == JV_KIND_STRING) {
			const char *s = jv_string_value(v);
			long x;

			if (span_num(s, strlen(s), &x))
				r->an8[i] = x;
		}
		jv_free(v);
	}
	mlc_buf_init(&t);
	mlc_buf_init(&key);
	for (size_t i = 0; i < j->nsum && !r->bad; i++) {
		const struct sument *e = &j->sum[i];

		mlc_buf_reset(&key);
		for (size_t k = 0; k < e->nby; k++) {
			char name[80];
			jv v;

			snprintf(name, sizeof name, "%s_%s", jv_string_value(table), e->by[k]);
			v = jv_object_get(jv_copy(row), jv_string(name));
			if (jv_get_kind(v) == JV_KIND_INVALID) {
				jv_free(v);
				v = jv_object_get(jv_copy(row), jv_string(e->by[k]));
			}
			if (!jv_by_text(v, &t)) {
				mlc_warn("line %lu: record has no string or number in column %s ([sums] %s)",
				         r->lineno, name, e->name);
				r->bad = 1;
			}
			jv_free(v);
			if (r->bad)
				break;
			if (k)
				mlc_buf_addc(&key, SUM_SEP);
			mlc_buf_add(&key, t.p, t.len);
		}
		if (!r->bad)
			r->skey[i] = mlc_xstrndup(key.p, key.len);
	}
	mlc_buf_free(&t);
	mlc_buf_free(&key);
out:
	jv_free(table);
	jv_free(row);
}

static int
strv_sorted_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* ---- [sums]: one aggregation query per entry per batch ---- */

/* A tuple of by-values wanted by this batch.  Rows add to part; part joins
 * sum when the query (one chunk of LIST values) has ended, so a restart of
 * the query only forgets the rows of that query. */
struct sumacc {
	char *key;
	double sum, part;
};

struct sumq {
	const struct sument *e;
	struct sumacc *acc; /* sorted by key */
	size_t nacc;
	struct mlc_buf t, key;
};

static int
cmp_sumacc(const void *a, const void *b)
{
	return strcmp(((const struct sumacc *)a)->key, ((const struct sumacc *)b)->key);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A member of a row as a by-value (see jv_by_text); 0 if absent or null. */
static int
row_by_text(const char *row, size_t n, const char *name, struct mlc_buf *b)
{
	const char *v;
	size_t vn;
	char *end;
	double d;

	mlc_buf_reset(b);
	if (!mlc_jde_json_member(row, n, name, &v, &vn))
		return 0;
	if (*v == '"')
		return row_str(row, n, name, b);
	if (*v != '-' && (*v < '0' || *v > '9'))
		return 0;
	mlc_buf_add(b, v, vn);
	d = strtod(b->p, &end);
	if (end == b->p || *end || !isfinite(d))
		return 0;
	mlc_buf_reset(b);
	num_text(b, d);
	return 1;
}

static void
sum_row(void *arg, const char *row, size_t n, const char *fetched_at)
{
	struct sumq *s = arg;
	const struct sument *e = s->e;
	struct sumacc probe, *hit;
	const char *v;
	size_t vn;
	char name[80], *end;
	double d;

	(void)fetched_at;
	mlc_buf_reset(&s->key);
	for (size_t k = 0; k < e->nby; k++) {
		snprintf(name, sizeof name, "%s_%s", e->table, e->by[k]);
		/* A null by-value matches no record: no record has a null key. */
		if (!row_by_text(row, n, name, &s->t)) {
			if (!mlc_jde_json_member(row, n, name, &v, &vn))
				fatal(MLC_EX_DATAERR, "%s query ([sums] %s): a row has no %s", e->table,
				      e->name, name);
			return;
		}
		if (k)
			mlc_buf_addc(&s->key, SUM_SEP);
		mlc_buf_add(&s->key, s->t.p, s->t.len);
	}
	probe.key = s->key.p;
	if (!(hit = bsearch(&probe, s->acc, s->nacc, sizeof *s->acc, cmp_sumacc)))
		return;
	snprintf(name, sizeof name, "%s_%s", e->table, e->col);
	if (!mlc_jde_json_member(row, n, name, &v, &vn))
		fatal(MLC_EX_DATAERR, "%s query ([sums] %s): a row has no %s", e->table, e->name,
		      name);
	if (vn == 4 && memcmp(v, "null", 4) == 0)
		return; /* a blank number is 0 */
	mlc_buf_reset(&s->t);
	if (*v == '"')
		mlc_jde_json_string(v, vn, &s->t);
	else
		mlc_buf_add(&s->t, v, vn);
	d = strtod(s->t.p, &end);
	while (*end == ' ')
		end++;
	if (end == s->t.p || *end || !isfinite(d))
		fatal(MLC_EX_DATAERR, "%s query ([sums] %s): %s is not a number: %.*s", e->table,
		      e->name, name, (int)(vn > 40 ? 40 : vn), v);
	hit->part += d;
}

static void
sum_restart(void *arg)
{
	struct sumq *s = arg;

	for (size_t i = 0; i < s->nacc; i++)
		s->acc[i].part = 0;
}

/* For each [sums] entry: the distinct tuples of the batch, one BROWSE of
 * the entry's table with a LIST on the first by-column (in chunks of 500
 * values), the rows summed per tuple; a tuple without rows sums to 0. */
static void
sums_batch(struct ais *a, struct join *j, struct rec *recs, size_t n)
{
	struct mlc_buf rcids, cond;
	struct query q;
	struct sumq s;
	static const char sep[] = { SUM_SEP, '\0' };
	char **first;
	size_t nf, i, k;

	mlc_buf_init(&rcids);
	mlc_buf_init(&cond);
	mlc_buf_init(&s.t);
	mlc_buf_init(&s.key);
	query_init(&q);
	q.row = sum_row;
	q.arg = &s;
	for (size_t ei = 0; ei < j->nsum; ei++) {
		const struct sument *e = &j->sum[ei];
		const char *order[MLC_JDE_MAXPOS];
		char *orderbuf;

		s.e = e;
		s.acc = mlc_xcalloc(n, sizeof *s.acc);
		s.nacc = 0;
		for (i = 0; i < n; i++)
			if (!recs[i].bad && recs[i].skey[ei])
				s.acc[s.nacc++].key = recs[i].skey[ei];
		qsort(s.acc, s.nacc, sizeof *s.acc, cmp_sumacc);
		for (i = k = 0; i < s.nacc; i++)
			if (k == 0 || strcmp(s.acc[k - 1].key, s.acc[i].key) != 0)
				s.acc[k++] = s.acc[i];
		s.nacc = k;

		/* The first by-values, distinct. */
		first = mlc_xcalloc(s.nacc, sizeof *first);
		for (i = 0; i < s.nacc; i++)
			first[i] = mlc_xstrndup(s.acc[i].key, strcspn(s.acc[i].key, sep));
		nf = s.nacc;
		qsort(first, nf, sizeof *first, cmp_str);
		for (i = k = 0; i < nf; i++) {
			if (k && strcmp(first[k - 1], first[i]) == 0) {
				free(first[i]);
				continue;
			}
			first[k++] = first[i];
		}
		nf = k;

		/* A table of the catalog is read by its key (asked for too), so
		 * that a start-over resumes; another one starts again from its
		 * first page and forgets the partial sums. */
		q.norder = read_order(mlc_catalog_key(e->table), NULL, NULL, order, &orderbuf);
		q.order = order;
		q.restart = q.norder ? NULL : sum_restart;
		mlc_buf_reset(&rcids);
		for (k = 0; k < e->nby; k++)
			add_col(&rcids, e->table, e->by[k]);
		for (k = 0; k < q.norder; k++)
			add_col(&rcids, e->table, order[k]);
		add_col(&rcids, e->table, e->col);
		q.table = e->table;
		q.rcids = rcids.p;
		q.pagesize = j->sum_page;
		for (size_t off = 0; off < nf; off += 500) {
			size_t m = nf - off < 500 ? nf - off : 500;

			mlc_buf_reset(&cond);
			mlc_buf_printf(&cond, "{\"controlId\":\"%s.%s\",\"operator\":\"LIST\",\"value\":[",
			               e->table, e->by[0]);
			for (i = 0; i < m; i++) {
				if (i)
					mlc_buf_addc(&cond, ',');
				mlc_buf_adds(&cond, "{\"content\":");
				mlc_buf_json_str(&cond, first[off + i], strlen(first[off + i]));
				mlc_buf_adds(&cond, ",\"specialValueId\":\"LITERAL\"}");
			}
			mlc_buf_adds(&cond, "]}");
			query_obj(&q.qobj, e->table, "all", NULL, 0, &a->df, cond.p);
			sum_restart(&s);
			run_query(a, &q);
			for (i = 0; i < s.nacc; i++) {
				s.acc[i].sum += s.acc[i].part;
				s.acc[i].part = 0;
			}
		}
		for (i = 0; i < n; i++) {
			struct sumacc probe, *hit;

			if (recs[i].bad || !recs[i].skey[ei])
				continue;
			probe.key = recs[i].skey[ei];
			hit = bsearch(&probe, s.acc, s.nacc, sizeof *s.acc, cmp_sumacc);
			recs[i].sum[ei] = hit ? hit->sum : 0;
		}
		for (i = 0; i < nf; i++)
			free(first[i]);
		free(first);
		free(s.acc);
		free(orderbuf);
	}
	query_free(&q);
	mlc_buf_free(&rcids);
	mlc_buf_free(&cond);
	mlc_buf_free(&s.t);
	mlc_buf_free(&s.key);
}

/* Merge the JSON object text add into member name of rec (jv). */
static jv
rec_merge(jv rec, const char *name, const struct mlc_buf *add)
{
	jv have = jv_object_get(jv_copy(rec), jv_string(name));
	jv a = jv_parse_sized(add->p, (int)add->len);

	if (jv_get_kind(have) == JV_KIND_OBJECT)
		a = jv_object_merge(have, a);
	else
		jv_free(have);
	return jv_object_set(rec, jv_string(name), a);
}

static int
rec_has_object(struct rec *r, const char *name)
{
	jv have = jv_object_get(jv_copy(r->j), jv_string(name));
	int yes = jv_get_kind(have) == JV_KIND_OBJECT;

	jv_free(have);
	return yes;
}

static void
emit_joined(struct join *j, struct rec *r, struct mlc_buf *out)
{
	struct mlc_buf c, sm;
	char k[32];

	mlc_buf_init(&c);
	mlc_buf_init(&sm);
	if (j->nent) {
		mlc_buf_addc(&c, '{');
		for (size_t i = 0; i < j->nent; i++) {
			long an8 = r->an8[i];
			const char *js = NULL;

			if (j->ent[i].via && r->mcu[i] && !map_get(&j->bu, r->mcu[i], NULL, &an8))
				an8 = 0;
			if (i)
				mlc_buf_addc(&c, ',');
			mlc_buf_json_str(&c, j->ent[i].name, strlen(j->ent[i].name));
			mlc_buf_addc(&c, ':');
			snprintf(k, sizeof k, "%ld", an8);
			if (an8 > 0 && map_get(&j->ab, k, &js, NULL) && js)
				mlc_buf_adds(&c, js);
			else
				mlc_buf_adds(&c, "null");
		}
		mlc_buf_addc(&c, '}');
	}
	if (j->nsum) {
		mlc_buf_addc(&sm, '{');
		for (size_t i = 0; i < j->nsum; i++) {
			if (i)
				mlc_buf_addc(&sm, ',');
			mlc_buf_json_str(&sm, j->sum[i].name, strlen(j->sum[i].name));
			mlc_buf_addc(&sm, ':');
			num_text(&sm, r->sum[i]);
		}
		mlc_buf_addc(&sm, '}');
	}
	mlc_buf_reset(out);
	if ((j->nent && rec_has_object(r, "contacts")) || (j->nsum && rec_has_object(r, "sums"))) {
		/* Joined before: merge (jv re-serialises the record). */
		jv rec = jv_copy(r->j), s;

		if (j->nent)
			rec = rec_merge(rec, "contacts", &c);
		if (j->nsum)
			rec = rec_merge(rec, "sums", &sm);
		s = jv_dump_string(rec, 0);
		mlc_buf_adds(out, jv_string_value(s));
		jv_free(s);
	} else {
		size_t n = r->len;
		int first;

		while (n && (r->line[n - 1] == ' ' || r->line[n - 1] == '\t' || r->line[n - 1] == '\r'))
			n--;
		first = n <= 2;
		/* The record's own bytes are kept (numbers exactly as received). */
		mlc_buf_add(out, r->line, n - 1);
		if (j->nent) {
			mlc_buf_adds(out, first ? "\"contacts\":" : ",\"contacts\":");
			mlc_buf_add(out, c.p, c.len);
			first = 0;
		}
		if (j->nsum) {
			mlc_buf_adds(out, first ? "\"sums\":" : ",\"sums\":");
			mlc_buf_add(out, sm.p, sm.len);
		}
		mlc_buf_addc(out, '}');
	}
	mlc_buf_free(&c);
	mlc_buf_free(&sm);
}

static void
join_batch(struct ais *a, struct join *j, struct rec *recs, size_t n)
{
	char **vals = NULL;
	long *an8s = NULL;
	size_t nv = 0, na = 0, i, k;
	struct mlc_buf out;
	char num[32];

	/* Business units first: their owners join the address numbers. */
	for (i = 0; i < n; i++)
		for (k = 0; k < j->nent; k++)
			if (!recs[i].bad && recs[i].mcu[k] && !map_get(&j->bu, recs[i].mcu[k], NULL, NULL) &&
			    !strv_sorted_has(vals, nv, recs[i].mcu[k])) {
				vals = mlc_xrealloc(vals, (nv + 1) * sizeof *vals);
				vals[nv++] = recs[i].mcu[k];
			}
	if (j->bu.count + nv > MAP_MAX)
		map_clear(&j->bu);
	if (nv) {
		lookup(a, j, 0, (const char *const *)vals, nv);
		for (i = 0; i < nv; i++)
			if (!map_get(&j->bu, vals[i], NULL, NULL))
				map_put(&j->bu, vals[i], NULL, 0);
	}
	free(vals);
	vals = NULL;

	for (i = 0; i < n; i++)
		for (k = 0; k < j->nent; k++) {
			long an8 = recs[i].an8[k];

			if (recs[i].bad)
				continue;
			if (j->ent[k].via && (!recs[i].mcu[k] || !map_get(&j->bu, recs[i].mcu[k], NULL, &an8)))
				an8 = 0;
			if (an8 <= 0)
				continue;
			snprintf(num, sizeof num, "%ld", an8);
			if (map_get(&j->ab, num, NULL, NULL))
				continue;
			an8s = mlc_xrealloc(an8s, (na + 1) * sizeof *an8s);
			an8s[na++] = an8;
		}
	if (na)
		qsort(an8s, na, sizeof *an8s, cmp_long);
	for (i = k = 0; i < na; i++)
		if (k == 0 || an8s[k - 1] != an8s[i])
			an8s[k++] = an8s[i];
	na = k;
	if (j->ab.count + na > MAP_MAX)
		map_clear(&j->ab);
	if (na) {
		j->con = mlc_xcalloc(na, sizeof *j->con);
		j->ncon = na;
		vals = mlc_xcalloc(na, sizeof *vals);
		for (i = 0; i < na; i++) {
			j->con[i].an8 = an8s[i];
			vals[i] = mlc_xmalloc(32);
			snprintf(vals[i], 32, "%ld", an8s[i]);
		}
		lookup(a, j, 1, (const char *const *)vals, na);
		lookup(a, j, 2, (const char *const *)vals, na);
		lookup(a, j, 4, (const char *const *)vals, na);
		mlc_buf_init(&out);
		for (i = 0; i < na; i++) {
			contact_json(j, &j->con[i], &out);
			map_put(&j->ab, vals[i], out.p, 0);
			contact_clear(&j->con[i], 7);
			free(vals[i]);
		}
		mlc_buf_free(&out);
		free(vals);
		free(j->con);
		j->con = NULL;
		j->ncon = 0;
	}
	free(an8s);
	if (j->nsum)
		sums_batch(a, j, recs, n);
	if (a->dry)
		return;
	mlc_buf_init(&out);
	for (i = 0; i < n; i++) {
		if (recs[i].bad)
			continue;
		emit_joined(j, &recs[i], &out);
		if (mlc_ndjson_put(1, &out) < 0)
			fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	}
	mlc_buf_free(&out);
}

static int
is_alias(const char *s, size_t n)
{
	return n >= 1 && n <= 12 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") >= n;
}

/* The rule's [sums] entries: NAME = TABLE.COLUMN by COLUMN... */
static void
parse_sums(struct join *j)
{
	for (size_t i = 0; i < rule.conf.n; i++) {
		const struct mlc_conf_entry *e = &rule.conf.v[i];
		struct sument *se;
		char *v, *w[SUM_MAXBY + 3], *dot;
		size_t nw = 0;
		int ok;

		if (strcmp(e->section, "sums") != 0)
			continue;
		for (size_t k = 0; k < j->nsum; k++)
			if (strcasecmp(j->sum[k].name, e->key) == 0)
				fatal(MLC_EX_CONFIG, "%s:%u: [sums] %s is given twice", rule.path, e->line,
				      e->key);
		v = mlc_xstrdup(e->value);
		for (char *save = NULL, *t = strtok_r(v, " \t", &save); t;
		     t = strtok_r(NULL, " \t", &save)) {
			if (nw == sizeof w / sizeof *w) {
				nw++;
				break;
			}
			w[nw++] = t;
		}
		dot = nw ? strchr(w[0], '.') : NULL;
		ok = nw >= 3 && nw <= SUM_MAXBY + 2 && dot && is_alias(w[0], (size_t)(dot - w[0])) &&
		     is_alias(dot + 1, strlen(dot + 1)) && strcmp(w[1], "by") == 0;
		for (size_t k = 2; ok && k < nw; k++)
			ok = is_alias(w[k], strlen(w[k]));
		if (!ok) {
			free(v);
			fatal(MLC_EX_CONFIG, "%s:%u: [sums] %s = %s: expected TABLE.COLUMN by COLUMN... "
			      "(at most %d columns)", rule.path, e->line, e->key, e->value, SUM_MAXBY);
		}
		j->sum = mlc_xrealloc(j->sum, (j->nsum + 1) * sizeof *j->sum);
		se = &j->sum[j->nsum++];
		memset(se, 0, sizeof *se);
		/* Rule keys are lower case; record members named after JDE columns
		 * are upper case, like the row's (f41021_pqoh: "F41021_PQOH"). */
		se->name = mlc_xstrdup(e->key);
		for (char *c = se->name; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		se->table = mlc_xstrndup(w[0], (size_t)(dot - w[0]));
		se->col = mlc_xstrdup(dot + 1);
		for (size_t k = 2; k < nw; k++)
			se->by[se->nby++] = mlc_xstrdup(w[k]);
		free(v);
	}
}

static int
do_join(const struct opts *o)
{
	struct join j;
	struct ais a;
	struct mlc_store *st = NULL;
	struct mlc_ndjson_reader *rd;
	struct rec *recs;
	size_t n = 0;
	int rc, eof = 0, code = MLC_EX_OK;
	const char *cc;

	if (!have_rule)
		fatal(MLC_EX_USAGE, "--join needs -r RULE (its [join] and [sums] sections)");
	memset(&j, 0, sizeof j);
	for (size_t i = 0; i < rule.conf.n; i++) {
		const struct mlc_conf_entry *e = &rule.conf.v[i];
		struct jent *je;
		char *v, *w[4];
		size_t nw = 0;

		if (strcmp(e->section, "join") != 0)
			continue;
		j.ent = mlc_xrealloc(j.ent, (j.nent + 1) * sizeof *j.ent);
		je = &j.ent[j.nent++];
		memset(je, 0, sizeof *je);
		je->name = e->key;
		v = mlc_xstrdup(e->value);
		for (char *save = NULL, *t = strtok_r(v, " \t", &save); t && nw < 4;
		     t = strtok_r(NULL, " \t", &save))
			w[nw++] = t;
		if (nw == 1 && strspn(w[0], "0123456789") == strlen(w[0])) {
			je->fixed = strtol(w[0], NULL, 10);
		} else if ((nw == 1 || (nw == 3 && strcmp(w[1], "via") == 0 &&
		                        strcmp(w[2], "F0006") == 0)) &&
		           strspn(w[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == strlen(w[0]) &&
		           strlen(w[0]) <= 12) {
			je->col = mlc_xstrdup(w[0]);
			je->via = nw == 3;
		} else {
			free(v);
			fatal(MLC_EX_CONFIG, "%s:%u: [join] %s = %s: expected COLUMN, COLUMN via F0006 "
			      "or an address number", rule.path, e->line, e->key, e->value);
		}
		free(v);
	}
	parse_sums(&j);
	if (!j.nent && !j.nsum)
		fatal(MLC_EX_CONFIG, "%s: no [join] or [sums] section", rule.path);
	load_config(1);
	cc = mlc_conf_get(&conf, "general", "default_country");
	if (cc && (strspn(cc, "0123456789") != strlen(cc) || !*cc || strlen(cc) > 3 || *cc == '0'))
		fatal(MLC_EX_CONFIG, "[general] default_country \"%s\": expected a calling code "
		      "such as 1 or 49", cc);
	j.cc = cc;
	j.batch = o->batch ? o->batch : 100;
	j.sum_page = o->pagesize ? o->pagesize : 1000;
	map_init(&j.bu);
	map_init(&j.ab);
	ais_open(&a, o->dry);
	if (!o->dry) {
		st = store_open();
		vault_password(&a, st);
		mlc_store_close(st);
		login(&a);
	} else {
		login(&a);
	}
	recs = mlc_xcalloc((size_t)j.batch, sizeof *recs);
	rd = mlc_ndjson_open(stdin, "-", 0);
	while (!eof) {
		char *line;
		size_t len;

		n = 0;
		while (n < (size_t)j.batch) {
			if (stop_sig)
				interrupted();
			rc = mlc_ndjson_read(rd, &line, &len);
			if (rc == 0) {
				eof = 1;
				break;
			}
			if (rc < 0) {
				code = mlc_ndjson_error(rd);
				if (code == MLC_EX_IOERR)
					fatal(code, "read error on stdin");
				continue;
			}
			memset(&recs[n], 0, sizeof recs[n]);
			recs[n].lineno = mlc_ndjson_lineno(rd);
			recs[n].line = mlc_xstrndup(line, len);
			recs[n].len = len;
			recs[n].j = jv_parse_sized(line, (int)len);
			if (jv_get_kind(recs[n].j) != JV_KIND_OBJECT) {
				mlc_warn("line %lu: not a JSON object", recs[n].lineno);
				recs[n].bad = 1;
				rec_alloc(&j, &recs[n]);
			} else {
				rec_resolve(&j, &recs[n]);
			}
			if (recs[n].bad)
				j.bad++;
			n++;
		}
		if (n)
			join_batch(&a, &j, recs, n);
		for (size_t i = 0; i < n; i++)
			rec_free(&recs[i], &j);
	}
	mlc_ndjson_close(rd);
	free(recs);
	ais_close(&a);
	map_free(&j.bu);
	map_free(&j.ab);
	for (size_t i = 0; i < j.nent; i++)
		free(j.ent[i].col);
	free(j.ent);
	for (size_t i = 0; i < j.nsum; i++) {
		free(j.sum[i].name);
		free(j.sum[i].table);
		free(j.sum[i].col);
		for (size_t k = 0; k < j.sum[i].nby; k++)
			free(j.sum[i].by[k]);
	}
	free(j.sum);
	if (j.bad)
		code = MLC_EX_DATAERR;
	return code;
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
	now_text(now);
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
			fatal(MLC_EX_CONFIG, "table %s is not in jde-fetch's catalog: give its primary "
			      "key with -k", table);
		kc = mlc_xstrdup(ks);
		nkey = words(kc, keys, MLC_JDE_MAXKEY);
		if (nkey == 0 || nkey > MLC_JDE_MAXKEY)
			fatal(MLC_EX_CONFIG, "bad key \"%s\"", ks);
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
				fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
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
	struct mlc_store *s = store_open();
	char *v = wm_load(s, rulename);

	mlc_store_close(s);
	if (!v) {
		mlc_warn("rule %s has no watermark", rulename);
		return MLC_EX_NOINPUT;
	}
	if (mlc_ndjson_write(1, v, strlen(v)) < 0)
		fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
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
	struct ais a;
	struct mlc_store *st;
	struct mlc_buf b;

	load_config(1);
	ais_open(&a, 0);
	st = store_open();
	vault_password(&a, st);
	mlc_store_close(st);
	login(&a);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"ping\":\"ok\",\"system\":\"ais\",\"url\":");
	mlc_buf_json_str(&b, a.base, strlen(a.base));
	mlc_buf_adds(&b, ",\"user\":");
	mlc_buf_json_str(&b, a.user, strlen(a.user));
	mlc_buf_adds(&b, ",\"environment\":");
	mlc_buf_json_str(&b, a.env, strlen(a.env));
	mlc_buf_addc(&b, '}');
	ais_close(&a);
	if (mlc_ndjson_put(1, &b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		mlc_buf_free(&b);
		return MLC_EX_IOERR;
	}
	mlc_buf_free(&b);
	return MLC_EX_OK;
}

static long
num_arg(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		fatal(MLC_EX_USAGE, "%s %s: expected a number from %ld to %ld", opt, s, lo, hi);
	return v;
}

int
main(int argc, char **argv)
{
	enum { O_JOIN = 256, O_COMMIT, O_DRY, O_RUNID, O_FULL, O_PARSE, O_DATEFMT, O_SHOWWM, O_PING };
	static const struct option lopts[] = {
		{ "join", no_argument, NULL, O_JOIN },
		{ "commit", no_argument, NULL, O_COMMIT },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "run-id", required_argument, NULL, O_RUNID },
		{ "full", no_argument, NULL, O_FULL },
		{ "parse-response", no_argument, NULL, O_PARSE },
		{ "date-format", required_argument, NULL, O_DATEFMT },
		{ "show-watermark", no_argument, NULL, O_SHOWWM },
		{ "ping", no_argument, NULL, O_PING },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	int c, code;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	memset(&o, 0, sizeof o);
	while ((c = getopt_long(argc, argv, "c:r:t:f:w:m:k:p:b:", lopts, NULL)) != -1) {
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
		case 'p': o.pagesize = num_arg("-p", optarg, 1, 100000); break;
		case 'b': o.batch = num_arg("-b", optarg, 1, 1000); break;
		case O_JOIN: o.join = 1; break;
		case O_COMMIT: o.commit = 1; break;
		case O_DRY: o.dry = 1; break;
		case O_RUNID: o.run_id = optarg; break;
		case O_FULL: o.full = 1; break;
		case O_PARSE: o.parse = 1; break;
		case O_DATEFMT: o.datefmt = optarg; break;
		case O_SHOWWM: o.show_wm = 1; break;
		case O_PING: o.ping = 1; break;
		default:
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	mlc_config_use(o.conf);
	mlc_util_signals(&stop_sig);
	/* a lock on state.db is waited for, but not past a stop request */
	mlc_store_stop_on(&stop_sig);

	if (o.commit) {
		struct mlc_catalog_incr inc;

		if (argc != 2 || o.join || o.parse || o.dry)
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
	if (o.ping) {
		if (argc != 0 || o.join || o.parse || o.dry || o.rule)
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
	if (o.datefmt && !o.dry)
		mlc_die(MLC_EX_USAGE, "--date-format is for --dry-run (a session uses the user's)");
	if (!o.rule && !o.table)
		mlc_die(MLC_EX_USAGE, "give -r RULE or -t TABLE");
	/* The process holds the AIS password and token. */
	if (!o.dry)
		mlc_util_nodump();
	mlc_http_global_init();
	code = o.join ? do_join(&o) : do_fetch(&o);
	if (have_rule)
		mlc_rule_free(&rule);
	mlc_conf_free(&conf);
	free(o.where);
	mlc_util_exit(code);
}
