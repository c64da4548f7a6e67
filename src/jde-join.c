/*
 * jde-join — add each record's JD Edwards contacts ([join]), lookups
 * ([lookup]) and sums ([sums]) to the records of jde-fetch, read through
 * the AIS Server.
 *
 * Usage: jde-join -r RULE [-c CONF] [-b BATCH] [-p PAGESIZE] [--session-in FIFO] [--no-state]
 *        [--dry-run]
 * Reads NDJSON records (jde-fetch's, or any later stage's) on stdin and
 * writes them on stdout in input order with "contacts" (one member per
 * [join] entry), "lookups" (one per [lookup] entry, lookup.c's syntax) and
 * "sums" (one per [sums] entry) added.  Records go in batches: per batch
 * one LIST query per Address Book table (F0006 owners, F0101 names, F0115
 * phones, F01151 e-mail addresses) over the distinct values not yet known,
 * one per [sums] entry; a lookup's query (a LIST, or an OR of AND groups
 * for several key columns) waits for a batch of distinct keys not yet
 * known, the records waiting in a bounded window (lk_advance, lk_flush),
 * a chained lookup after its source.  kq_run
 * builds and runs all of these queries; the answers are cached in maps of
 * bounded size (map_room empties one before a batch, never while it is
 * used), so memory stays flat however long the input.
 *
 * The session (login, token refresh, paging, logout) is ais.c's; it logs
 * in at the first record, never for an empty input (after a stage before
 * it that failed its own login, say).  With --session-in FIFO, the first
 * record takes the session jde-fetch handed on instead (ais.c's "the
 * session handed on"), and logs in only when none came.  The key
 * every read is ordered by (so that a read that starts over resumes) is
 * catalog.c's: a new [sums] table needs a rule line and, to be read in
 * order, one line of catalog.c, and nothing here; a [lookup] is ordered
 * by its key columns first, so any table needs only the rule line.
 *
 * Exit status: 0 done; 64 usage; 65 input lines that are not records (the
 * others are still written), bad data from AIS; 69 AIS unavailable after
 * retries; 70 internal error; 74 read or write error; 75 interrupted by
 * SIGTERM/SIGINT; 77 login or token refused, vault cannot be opened;
 * 78 configuration or rule error, TLS certificate refused.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mlc.h"

static const char usage[] =
	"usage: jde-join -r RULE [-c CONF] [-b BATCH] [-p PAGESIZE] [--session-in FIFO]\n"
	"                [--no-state] [--dry-run] < records\n";

static volatile sig_atomic_t stop_sig; /* set by SIGTERM/SIGINT (mlc_util_signals) */

struct opts {
	const char *conf, *rule, *session_in;
	long pagesize, batch;
	int dry, nostate;
};

static struct mlc_conf conf;      /* the configuration (mlc_ais_config) */
static struct mlc_rule rule;
static int session_fd = -1;       /* --session-in: the FIFO's read end until the first record */

/* FNV-1a, for the maps' slots. */
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

/* ---- the lookup caches ------------------------------------------------- */

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

/* Before a batch's queries: empty m if the keys the batch needs, cached or
 * not, would overflow it, so that it is emptied before, never while, the
 * batch uses it (then every key of the batch is asked for again). */
static void
map_room(struct map *m, char *const *keys, size_t n)
{
	size_t unknown = 0;

	for (size_t i = 0; i < n; i++)
		unknown += !map_get(m, keys[i], NULL, NULL);
	if (m->count + unknown > MAP_MAX)
		map_clear(m);
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
	long sum_page;           /* maxPageSize of the [sums] and [lookup] queries */
	struct mlc_lookups lk;   /* [lookup], in declaration order (lookup.c) */
	struct map *lkmap;       /* per lookup: key tuple -> result object text, NULL: no row */
	long batch;
	const char *cc;
	struct map bu, ab;       /* MCU -> {"AN8":owner}; AN8 -> contact JSON */
	struct map names;        /* AN8 -> {"ALPH":name} */
	struct contact *con;     /* this batch's lookups, sorted by an8 */
	size_t ncon;
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

/* A string member, its blanks trimmed, into b (reset); 0 if absent or not
 * a string. */
static int
row_str(const char *row, size_t n, const char *name, struct mlc_buf *b)
{
	return mlc_jde_member_str(row, n, name, " ", b);
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
	int what; /* 2 F0115, 4 F01151 */
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
	an8 = row_num(row, n, l->what == 2 ? "F0115_AN8" : "F01151_AN8");
	if (!(c = find_contact(j, an8)))
		return;
	if (l->what == 2) {
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

/* ---- the one home of the batched keyed queries -------------------------- */

/*
 * A keyed query: the rows of table whose key columns equal one of the
 * batch's tuples (values SUM_SEP apart), in chunks of at most 500 tuples,
 * one query each.  One key column: a LIST condition (an IN list; the
 * reference, section 2.2).  Several: AIS has no multi-column IN, so an OR
 * of AND groups in complexQuery, one group of EQUALs per tuple (a blank
 * value STR_BLANK).  The query is ordered by order (asked for first, after
 * pre), so that a start-over (token refused, JAS_MSG347) resumes after the
 * last row (ais.c).  The Address Book contact joins, [sums] and [lookup]
 * all read through here.
 */
#define KQ_CHUNK 500

struct kq {
	const char *table;
	const char *const *keys;  /* the key columns of the conditions */
	size_t nkeys;
	const char *const *vals;  /* the tuples */
	size_t nv;
	const char *const *pre;   /* asked for before the order (NULL: keys) */
	size_t npre;
	const char *const *order;
	size_t norder;
	const char *cols;         /* asked for after: blank-separated aliases */
	const char *cond;         /* fixed conditions (JSON), or NULL; one key column only */
	long pagesize;
	void (*row)(void *arg, const char *row, size_t n, const char *fetched_at);
	void (*restart)(void *arg);
	void (*chunk_done)(void *arg); /* after each chunk's query, or NULL */
	void *arg;
};

/* A value of column col as a LITERAL; a date in the user's date format
 * (the reference, section 4.2), as every condition on a date. */
static void
kq_value(struct mlc_buf *b, const struct mlc_ais *a, const char *col, const char *v, size_t n)
{
	char lit[16];
	long ymd;

	if (mlc_jde_is_date(col) && (ymd = mlc_jde_parse_ymd(v, n)) != 0) {
		mlc_jde_date_literal(&a->df, ymd, lit);
		v = lit;
		n = strlen(lit);
	}
	mlc_buf_adds(b, "{\"content\":");
	mlc_buf_json_str(b, v, n);
	mlc_buf_adds(b, ",\"specialValueId\":\"LITERAL\"}");
}

static int kq_no_complex; /* AIS refused a complexQuery: the grouped form for the run */

/* The value of column c of a tuple (SUM_SEP between the values). */
static const char *
kq_field(const char *v, size_t c, size_t *n)
{
	for (; c; c--)
		v += strcspn(v, (const char[]){ SUM_SEP, '\0' }) + (strchr(v, SUM_SEP) != NULL);
	*n = strcspn(v, (const char[]){ SUM_SEP, '\0' });
	return v;
}

/* A tuple without its column c (the group it falls in), into b. */
static void
kq_group(struct mlc_buf *b, const char *v, size_t nkeys, size_t c)
{
	mlc_buf_reset(b);
	for (size_t i = 0; i < nkeys; i++) {
		size_t n;
		const char *f = kq_field(v, i, &n);

		if (i == c)
			continue;
		mlc_buf_add(b, f, n);
		mlc_buf_addc(b, SUM_SEP);
	}
}

struct kq_tup {
	char *group; /* the tuple without the LIST column */
	const char *v;
};

static int
cmp_tup(const void *a, const void *b)
{
	const struct kq_tup *x = a, *y = b;
	int c = strcmp(x->group, y->group);

	return c ? c : strcmp(x->v, y->v);
}

/*
 * The tuples of a multi-key query without complexQuery, for an AIS that
 * refuses it: one query per group of tuples that agree on every key
 * column but one, the column c whose groups are fewest, with EQUAL (a
 * blank STR_BLANK) on the others and a LIST of c's values (500 at most;
 * blank values of c a query of their own with STR_BLANK), all in one
 * MATCH_ALL condition list.  So the tuples are still asked for in as few
 * queries as their values allow: one per distinct combination of the
 * other columns.
 */
static void
kq_run_grouped(struct mlc_ais *a, const struct kq *k, struct mlc_ais_query *q)
{
	struct kq_tup *t = mlc_xcalloc(k->nv ? k->nv : 1, sizeof *t);
	struct mlc_buf g, cond;
	size_t best = 0, bestn = (size_t)-1;

	mlc_buf_init(&g);
	mlc_buf_init(&cond);
	for (size_t c = 0; c < k->nkeys; c++) {
		size_t ng = 0;

		for (size_t i = 0; i < k->nv; i++) {
			kq_group(&g, k->vals[i], k->nkeys, c);
			t[i].group = mlc_xstrdup(g.p ? g.p : "");
			t[i].v = k->vals[i];
		}
		qsort(t, k->nv, sizeof *t, cmp_tup);
		for (size_t i = 0; i < k->nv; i++)
			ng += i == 0 || strcmp(t[i].group, t[i - 1].group) != 0;
		for (size_t i = 0; i < k->nv; i++)
			free(t[i].group);
		if (ng < bestn) {
			bestn = ng;
			best = c;
		}
	}
	for (size_t i = 0; i < k->nv; i++) {
		size_t n;

		kq_group(&g, k->vals[i], k->nkeys, best);
		/* blank values of the LIST column last in their group, apart */
		kq_field(k->vals[i], best, &n);
		mlc_buf_addc(&g, n ? '1' : '2');
		t[i].group = mlc_xstrdup(g.p);
		t[i].v = k->vals[i];
	}
	qsort(t, k->nv, sizeof *t, cmp_tup);
	q->match_any = 0;
	for (size_t i = 0; i < k->nv; ) {
		size_t j = i, n, fn;
		const char *f;
		int blank;

		kq_field(t[i].v, best, &n);
		blank = n == 0;
		while (j < k->nv && j - i < KQ_CHUNK && strcmp(t[j].group, t[i].group) == 0)
			j++;
		mlc_buf_reset(&cond);
		for (size_t c = 0; c < k->nkeys; c++) {
			if (c)
				mlc_buf_addc(&cond, ',');
			mlc_buf_printf(&cond, "{\"controlId\":\"%s.%s\",\"operator\":", k->table,
			               k->keys[c]);
			f = kq_field(t[i].v, c, &fn);
			if (c == best && !blank) {
				mlc_buf_adds(&cond, "\"LIST\",\"value\":[");
				for (size_t m = i; m < j; m++) {
					f = kq_field(t[m].v, c, &fn);
					if (m > i)
						mlc_buf_addc(&cond, ',');
					kq_value(&cond, a, k->keys[c], f, fn);
				}
				mlc_buf_adds(&cond, "]}");
			} else if (fn) {
				mlc_buf_adds(&cond, "\"EQUAL\",\"value\":[");
				kq_value(&cond, a, k->keys[c], f, fn);
				mlc_buf_adds(&cond, "]}");
			} else {
				mlc_buf_adds(&cond, "\"STR_BLANK\",\"value\":[]}");
			}
		}
		mlc_ais_query_obj(&q->qobj, k->table, "all", NULL, 0, &a->df, cond.p);
		q->may_refuse = 0;
		mlc_ais_query_run(a, q);
		if (k->chunk_done)
			k->chunk_done(k->arg);
		i = j;
	}
	for (size_t i = 0; i < k->nv; i++)
		free(t[i].group);
	free(t);
	mlc_buf_free(&g);
	mlc_buf_free(&cond);
}

static void
kq_run(struct mlc_ais *a, const struct kq *k)
{
	struct mlc_ais_query q;
	struct mlc_buf cond, rcids;
	const char *cv[MLC_LOOKUP_MAXCOLS + 8];
	char *cols;
	size_t nc;

	mlc_buf_init(&cond);
	mlc_buf_init(&rcids);
	mlc_ais_query_init(&q);
	q.table = k->table;
	q.pagesize = k->pagesize;
	q.order = k->order;
	q.norder = k->norder;
	for (size_t i = 0; i < (k->pre ? k->npre : k->nkeys); i++)
		mlc_ais_rcid_add(&rcids, k->table, k->pre ? k->pre[i] : k->keys[i]);
	for (size_t i = 0; i < k->norder; i++)
		mlc_ais_rcid_add(&rcids, k->table, k->order[i]);
	cols = mlc_xstrdup(k->cols ? k->cols : "");
	nc = mlc_ais_words(cols, cv, sizeof cv / sizeof *cv);
	for (size_t i = 0; i < nc && i < sizeof cv / sizeof *cv; i++)
		mlc_ais_rcid_add(&rcids, k->table, cv[i]);
	free(cols);
	q.rcids = rcids.p;
	q.row = k->row;
	q.restart = k->restart;
	q.arg = k->arg;
	q.match_any = k->nkeys > 1;
	if (k->nkeys > 1 && kq_no_complex) {
		kq_run_grouped(a, k, &q);
		goto out;
	}
	for (size_t off = 0; off < k->nv; off += KQ_CHUNK) {
		size_t n = k->nv - off < KQ_CHUNK ? k->nv - off : KQ_CHUNK;

		mlc_buf_reset(&cond);
		if (k->nkeys == 1) {
			mlc_buf_printf(&cond, "{\"controlId\":\"%s.%s\",\"operator\":\"LIST\",\"value\":[",
			               k->table, k->keys[0]);
			for (size_t i = 0; i < n; i++) {
				if (i)
					mlc_buf_addc(&cond, ',');
				kq_value(&cond, a, k->keys[0], k->vals[off + i], strlen(k->vals[off + i]));
			}
			mlc_buf_adds(&cond, "]}");
			if (k->cond) {
				mlc_buf_addc(&cond, ',');
				mlc_buf_adds(&cond, k->cond);
			}
			mlc_ais_query_obj(&q.qobj, k->table, "all", NULL, 0, &a->df, cond.p);
		} else {
			mlc_buf_reset(&q.qobj);
			mlc_buf_adds(&q.qobj, "{\"autoFind\":true,\"matchType\":\"MATCH_ANY\","
			             "\"complexQuery\":[");
			for (size_t i = 0; i < n; i++) {
				const char *v = k->vals[off + i];

				if (i)
					mlc_buf_addc(&q.qobj, ',');
				mlc_buf_adds(&q.qobj, "{\"andOr\":\"OR\",\"query\":{\"matchType\":"
				             "\"MATCH_ALL\",\"condition\":[");
				for (size_t c = 0; c < k->nkeys; c++) {
					size_t vl = strcspn(v, (const char[]){ SUM_SEP, '\0' });

					if (c)
						mlc_buf_addc(&q.qobj, ',');
					mlc_buf_printf(&q.qobj, "{\"controlId\":\"%s.%s\",\"operator\":",
					               k->table, k->keys[c]);
					if (vl) {
						mlc_buf_adds(&q.qobj, "\"EQUAL\",\"value\":[");
						kq_value(&q.qobj, a, k->keys[c], v, vl);
						mlc_buf_adds(&q.qobj, "]}");
					} else {
						mlc_buf_adds(&q.qobj, "\"STR_BLANK\",\"value\":[]}");
					}
					v += vl + (v[vl] != '\0');
				}
				mlc_buf_adds(&q.qobj, "]}}");
			}
			mlc_buf_adds(&q.qobj, "]}");
		}
		/* A refused complexQuery: this chunk and the rest without it. */
		q.may_refuse = k->nkeys > 1;
		mlc_ais_query_run(a, &q);
		if (q.refused) {
			struct kq rest = *k;

			mlc_warn("%s: AIS refused the OR of AND groups (complexQuery): asking with one "
			         "query per group of keys that differ in one column only, for the rest "
			         "of the run", k->table);
			kq_no_complex = 1;
			rest.vals = k->vals + off;
			rest.nv = k->nv - off;
			kq_run_grouped(a, &rest, &q);
			break;
		}
		if (k->chunk_done)
			k->chunk_done(k->arg);
	}
out:
	mlc_ais_query_free(&q);
	mlc_buf_free(&cond);
	mlc_buf_free(&rcids);
}

/*
 * The phones (F0115) and e-mail addresses (F01151) of address numbers:
 * one LIST query per table (kq_run), several rows per number where a
 * lookup takes one (the names, F0101, and the business units' owners,
 * F0006, are lookups: lookup_step).  The key of each table, which the query is ordered by and
 * asks for first, is the catalog's (catalog.c); here are only the column
 * the values are listed for, the columns lookup_row reads, and fixed
 * conditions.
 */
static void
lookup(struct mlc_ais *a, struct join *j, int what, const char *const *vals, size_t nv)
{
	static const struct {
		const char *table, *key, *cols, *cond;
	} t[] = {
		{ "F0115", "AN8", "PHTP AR1 PH1",
		  "{\"controlId\":\"F0115.IDLN\",\"operator\":\"EQUAL\",\"value\":[{\"content\":\"0\","
		  "\"specialValueId\":\"LITERAL\"}]}" },
		{ "F01151", "AN8", "ETP EMAL EHIER",
		  "{\"controlId\":\"F01151.IDLN\",\"operator\":\"EQUAL\",\"value\":[{\"content\":\"0\","
		  "\"specialValueId\":\"LITERAL\"}]},{\"controlId\":\"F01151.ETP\",\"operator\":"
		  "\"EQUAL\",\"value\":[{\"content\":\"E\",\"specialValueId\":\"LITERAL\"}]}" },
	};
	int ti = what == 2 ? 0 : 1;
	struct lookup l;
	struct kq k;
	const char *order[MLC_JDE_MAXPOS];
	char *orderbuf;

	l.j = j;
	l.what = what;
	mlc_buf_init(&l.t1);
	mlc_buf_init(&l.t2);
	memset(&k, 0, sizeof k);
	k.table = t[ti].table;
	k.keys = &t[ti].key;
	k.nkeys = 1;
	k.pre = k.keys; /* the key is the order's first column */
	k.npre = 0;
	k.vals = vals;
	k.nv = nv;
	k.cols = t[ti].cols;
	k.cond = t[ti].cond;
	k.pagesize = 1000;
	/* By the key, asked for first: a start-over resumes. */
	k.norder = mlc_ais_read_order(mlc_catalog_key(k.table), NULL, NULL, order, &orderbuf);
	k.order = order;
	k.row = lookup_row;
	k.restart = lookup_restart;
	k.arg = &l;
	kq_run(a, &k);
	free(orderbuf);
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
	char **lkey;   /* per lookup: the key tuple (SUM_SEP between values), NULL: null */
	char **lres;   /* per lookup: its result (JSON text), NULL: null; once lstate is 2 */
	unsigned char *lstate; /* per lookup: 0 not keyed yet, 1 waiting for its query, 2 done */
	char *ctext;   /* the contacts object, made when the record's batch is joined */
};

static void
rec_alloc(const struct join *j, struct rec *r)
{
	r->an8 = mlc_xcalloc(j->nent, sizeof *r->an8);
	r->mcu = mlc_xcalloc(j->nent, sizeof *r->mcu);
	r->skey = mlc_xcalloc(j->nsum, sizeof *r->skey);
	r->sum = mlc_xcalloc(j->nsum, sizeof *r->sum);
	r->lkey = mlc_xcalloc(j->lk.n, sizeof *r->lkey);
	r->lres = mlc_xcalloc(j->lk.n, sizeof *r->lres);
	r->lstate = mlc_xcalloc(j->lk.n ? j->lk.n : 1, 1);
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
	for (size_t i = 0; i < j->lk.n; i++)
		free(r->lkey[i]);
	free(r->lkey);
	for (size_t i = 0; i < j->lk.n; i++)
		free(r->lres[i]);
	free(r->lres);
	free(r->lstate);
	free(r->ctext);
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

/* The record's column col: TABLE_COL of its row, else COL; invalid if it
 * has neither (the record is a jde-fetch record: rec_resolve). */
static jv
rec_column(const struct rec *r, const char *col)
{
	jv table = jv_object_get(jv_copy(r->j), jv_string("table"));
	jv row = jv_object_get(jv_copy(r->j), jv_string("row"));
	char k[80];
	jv v;

	snprintf(k, sizeof k, "%s_%s", jv_string_value(table), col);
	v = jv_object_get(jv_copy(row), jv_string(k));
	if (!jv_is_valid(v)) {
		jv_free(v);
		v = jv_object_get(jv_copy(row), jv_string(col));
	}
	jv_free(table);
	jv_free(row);
	return v;
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
	for (size_t i = 0; i < j->lk.n && !r->bad; i++) {
		const struct mlc_lookup *lk = &j->lk.v[i];

		for (size_t b = 0; b < lk->nby && !r->bad; b++) {
			jv v;

			if (lk->src_lookup[b] >= 0)
				continue;
			v = rec_column(r, lk->src[b]);
			if (!jv_is_valid(v)) {
				mlc_warn("line %lu: record has no column %s_%s ([lookup] %s)", r->lineno,
				         jv_string_value(table), lk->src[b], lk->name);
				r->bad = 1;
			}
			jv_free(v);
		}
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
				mlc_ais_fatal(MLC_EX_DATAERR, "%s query ([sums] %s): a row has no %s", e->table,
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
		mlc_ais_fatal(MLC_EX_DATAERR, "%s query ([sums] %s): a row has no %s", e->table, e->name,
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
		mlc_ais_fatal(MLC_EX_DATAERR, "%s query ([sums] %s): %s is not a number: %.*s", e->table,
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

/* A chunk's query has ended: its rows count. */
static void
sum_chunk_done(void *arg)
{
	struct sumq *s = arg;

	for (size_t i = 0; i < s->nacc; i++) {
		s->acc[i].sum += s->acc[i].part;
		s->acc[i].part = 0;
	}
}

/* For each [sums] entry: the distinct tuples of the batch, one BROWSE of
 * the entry's table with a LIST on the first by-column (in chunks of 500
 * values), the rows summed per tuple; a tuple without rows sums to 0. */
static void
sums_batch(struct mlc_ais *a, struct join *j, struct rec *recs, size_t n)
{
	struct kq kq;
	struct sumq s;
	static const char sep[] = { SUM_SEP, '\0' };
	char **first;
	size_t nf, i, k;

	mlc_buf_init(&s.t);
	mlc_buf_init(&s.key);
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
		memset(&kq, 0, sizeof kq);
		kq.norder = mlc_ais_read_order(mlc_catalog_key(e->table), NULL, NULL, order, &orderbuf);
		kq.order = order;
		kq.restart = kq.norder ? NULL : sum_restart;
		kq.table = e->table;
		kq.keys = (const char *const *)e->by;
		kq.nkeys = 1; /* a LIST on the first by-column; the rest matched here */
		kq.pre = (const char *const *)e->by;
		kq.npre = e->nby;
		kq.cols = e->col;
		kq.vals = (const char *const *)first;
		kq.nv = nf;
		kq.pagesize = j->sum_page;
		kq.row = sum_row;
		kq.chunk_done = sum_chunk_done;
		kq.arg = &s;
		kq_run(a, &kq);
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
	mlc_buf_free(&s.t);
	mlc_buf_free(&s.key);
}

/* ---- [lookup]: one keyed query per lookup per batch ---- */

struct lkq {
	struct join *j;
	const struct mlc_lookup *k;
	struct map *m;
	char **want; /* the tuples asked for, sorted */
	size_t nwant;
	struct mlc_buf t, key, out;
};

/* A value of a "largest" column as a number to compare: a number, or a
 * string of one; anything else is below every number. */
static double
top_value(jv o, const char *col)
{
	jv v = jv_object_get(jv_copy(o), jv_string(col));
	double d = -INFINITY;

	if (jv_get_kind(v) == JV_KIND_NUMBER)
		d = jv_number_value(v);
	else if (jv_get_kind(v) == JV_KIND_STRING) {
		char *end;
		double x = strtod(jv_string_value(v), &end);

		if (end != jv_string_value(v) && !*end && isfinite(x))
			d = x;
	}
	jv_free(v);
	return d;
}

/* "largest N COL": the row q->out into the tuple's array of the N rows
 * with the largest COL so far, largest first; among equal values the one
 * read first (the query's order) stays first.  Each row comes once (the
 * read drops repeats by position, ais.c), so the array is exact. */
static void
top_insert(struct lkq *q)
{
	const struct mlc_lookup *k = q->k;
	const char *have = NULL, *col = k->cols[k->topcol];
	jv arr, row = jv_parse_sized(q->out.p, (int)q->out.len), out = jv_array(), s;
	double d = top_value(row, col);
	int n, placed = 0;

	arr = map_get(q->m, q->key.p, &have, NULL) && have ? jv_parse(have) : jv_array();
	n = jv_array_length(jv_copy(arr));
	for (int i = 0; i < n && jv_array_length(jv_copy(out)) < k->top; i++) {
		jv e = jv_array_get(jv_copy(arr), i);

		if (!placed && d > top_value(e, col)) {
			out = jv_array_append(out, jv_copy(row));
			placed = 1;
			if (jv_array_length(jv_copy(out)) == k->top) {
				jv_free(e);
				break;
			}
		}
		out = jv_array_append(out, e);
	}
	if (!placed && jv_array_length(jv_copy(out)) < k->top)
		out = jv_array_append(out, jv_copy(row));
	jv_free(arr);
	jv_free(row);
	s = jv_dump_string(out, 0);
	map_put(q->m, q->key.p, jv_string_value(s), 0);
	jv_free(s);
}

/* A row of a lookup table: its key tuple, when asked for and not known
 * yet, gets the row's columns read (the first row of a tuple, in the
 * query's order, wins). */
static void
lk_row(void *arg, const char *row, size_t n, const char *fetched_at)
{
	struct lkq *q = arg;
	const struct mlc_lookup *k = q->k;
	const char *v, *kp;
	size_t vn;
	char name[80];

	(void)fetched_at;
	mlc_buf_reset(&q->key);
	for (size_t b = 0; b < k->nby; b++) {
		snprintf(name, sizeof name, "%s_%s", k->table, k->by[b]);
		if (!row_by_text(row, n, name, &q->t))
			mlc_buf_reset(&q->t); /* null: blank */
		if (b)
			mlc_buf_addc(&q->key, SUM_SEP);
		mlc_buf_add(&q->key, q->t.p, q->t.len);
	}
	kp = q->key.p;
	if (!bsearch(&kp, q->want, q->nwant, sizeof *q->want, cmp_str) ||
	    (!k->top && map_get(q->m, q->key.p, NULL, NULL)))
		return;
	mlc_buf_reset(&q->out);
	mlc_buf_addc(&q->out, '{');
	for (size_t c = 0; c < k->ncols; c++) {
		if (c)
			mlc_buf_addc(&q->out, ',');
		mlc_buf_json_str(&q->out, k->cols[c], strlen(k->cols[c]));
		mlc_buf_addc(&q->out, ':');
		snprintf(name, sizeof name, "%s_%s", k->table, k->cols[c]);
		if (!mlc_jde_json_member(row, n, name, &v, &vn))
			mlc_buf_adds(&q->out, "null");
		else if (*v == '"' && row_str(row, n, name, &q->t))
			mlc_buf_json_str(&q->out, q->t.p, q->t.len);
		else
			mlc_buf_add(&q->out, v, vn);
	}
	mlc_buf_addc(&q->out, '}');
	if (k->top)
		top_insert(q);
	else
		map_put(q->m, q->key.p, q->out.p, 0);
}

#define EACH_SEP '\x1e' /* between the tuples of an "each" lookup's key */

/* A record's key tuple for lookup li, NULL for null: every value blank,
 * or a source lookup without a row.  Values as by-values (jv_by_text,
 * row_by_text): strings trimmed (a business unit's left padding too),
 * numbers in one form, so "1001" and 1001 are one address number.  For a
 * lookup with a key from a "largest" lookup (each), one tuple per element
 * of that lookup's array, EACH_SEP between them, an empty one for a null
 * element; NULL when the array is null. */
static char *
lk_key(struct join *j, const struct rec *r, size_t li, struct mlc_buf *t, struct mlc_buf *key)
{
	const struct mlc_lookup *k = &j->lk.v[li];
	const char *arr = NULL;
	jv elems = jv_invalid();
	int n = 1;

	mlc_buf_reset(key);
	if (k->each) {
		if (!(arr = r->lres[k->each_src]))
			return NULL;
		elems = jv_parse(arr);
		n = jv_array_length(jv_copy(elems));
	}
	for (int e = 0; e < n; e++) {
		size_t start = key->len;
		int blank = 1;
		jv ev = k->each ? jv_array_get(jv_copy(elems), e) : jv_invalid();
		jv es = k->each ? jv_dump_string(ev, 0) : jv_invalid();

		if (e)
			mlc_buf_addc(key, EACH_SEP), start = key->len;
		for (size_t b = 0; b < k->nby; b++) {
			int s = k->src_lookup[b];

			if (s < 0) {
				jv v = rec_column(r, k->src[b]);

				if (!jv_by_text(v, t))
					mlc_buf_reset(t);
				jv_free(v);
			} else if (k->each && s == k->each_src) {
				const char *es_p = jv_string_value(es);

				if (!row_by_text(es_p, strlen(es_p), k->src[b], t))
					mlc_buf_reset(t);
			} else {
				const char *res = NULL;

				if (!(res = r->lres[s])) {
					jv_free(es);
					jv_free(elems);
					return NULL;
				}
				if (!row_by_text(res, strlen(res), k->src[b], t))
					mlc_buf_reset(t);
			}
			if (b)
				mlc_buf_addc(key, SUM_SEP);
			mlc_buf_add(key, t->p, t->len);
			blank = blank && t->len == 0;
		}
		jv_free(es);
		if (blank) {
			if (!k->each)
				return NULL;
			key->len = start; /* a null element */
			if (key->p)
				key->p[start] = '\0';
		}
	}
	jv_free(elems);
	return mlc_xstrndup(key->p ? key->p : "", key->len);
}

/* One lookup step of a batch: keys[0..n) the batch's keys (repeats
 * allowed), room in the cache m for them all, one keyed query (kq_run)
 * over those not cached, ordered by the key columns and then the table's
 * key, each row read by lk_row; a key without a row is cached as null.
 * [lookup] entries and the business units' owners ([join] ... via F0006)
 * are such steps. */
static void
lookup_step(struct mlc_ais *a, struct join *j, const struct mlc_lookup *k, struct map *m,
            char *const *keys, size_t n, long pagesize)
{
	struct lkq q;
	struct mlc_buf spec, cols;
	char **all = mlc_xcalloc(n ? n : 1, sizeof *all), **want;
	size_t nall, nw, i;
	const char *order[MLC_JDE_MAXPOS], *kw[MLC_JDE_MAXKEY + 1];
	char *orderbuf, *kbuf;
	struct kq kq;

	if (n) {
		memcpy(all, keys, n * sizeof *all);
		qsort(all, n, sizeof *all, cmp_str);
	}
	for (i = nall = 0; i < n; i++)
		if (!nall || strcmp(all[nall - 1], all[i]) != 0)
			all[nall++] = all[i];
	map_room(m, all, nall);
	want = mlc_xcalloc(nall ? nall : 1, sizeof *want);
	for (i = nw = 0; i < nall; i++)
		if (!map_get(m, all[i], NULL, NULL))
			want[nw++] = all[i];
	if (!nw)
		goto out;
	/* Ordered by the key columns, then the catalog's key: a start-over
	 * resumes after the last row. */
	mlc_buf_init(&spec);
	mlc_buf_init(&cols);
	for (size_t b = 0; b < k->nby; b++)
		mlc_buf_printf(&spec, "%s%s", b ? " " : "", k->by[b]);
	kbuf = mlc_xstrdup(mlc_catalog_key(k->table) ? mlc_catalog_key(k->table) : "");
	for (size_t w = 0, nkw = mlc_ais_words(kbuf, kw, MLC_JDE_MAXKEY); w < nkw &&
	     w < MLC_JDE_MAXKEY; w++) {
		size_t b;

		for (b = 0; b < k->nby && strcmp(k->by[b], kw[w]) != 0; b++)
			;
		if (b == k->nby && k->nby + w < MLC_JDE_MAXKEY)
			mlc_buf_printf(&spec, " %s", kw[w]);
	}
	free(kbuf);
	for (size_t c = 0; c < k->ncols; c++)
		mlc_buf_printf(&cols, "%s%s", c ? " " : "", k->cols[c]);
	memset(&q, 0, sizeof q);
	q.j = j;
	q.k = k;
	q.m = m;
	q.want = want;
	q.nwant = nw;
	mlc_buf_init(&q.t);
	mlc_buf_init(&q.key);
	mlc_buf_init(&q.out);
	memset(&kq, 0, sizeof kq);
	kq.table = k->table;
	kq.keys = (const char *const *)k->by;
	kq.nkeys = k->nby;
	kq.vals = (const char *const *)want;
	kq.nv = nw;
	kq.norder = mlc_ais_read_order(spec.p, NULL, NULL, order, &orderbuf);
	kq.order = order;
	kq.cols = cols.p;
	kq.pagesize = pagesize;
	kq.row = lk_row;
	kq.arg = &q;
	kq_run(a, &kq);
	free(orderbuf);
	for (i = 0; i < nw; i++)
		if (!map_get(m, want[i], NULL, NULL))
			map_put(m, want[i], NULL, 0);
	mlc_buf_free(&q.t);
	mlc_buf_free(&q.key);
	mlc_buf_free(&q.out);
	mlc_buf_free(&spec);
	mlc_buf_free(&cols);
out:
	free(want);
	free(all);
}

/*
 * The lookups' window.  A record's lookups wait for their query in a
 * window of records (at most LK_WINDOW batches), so that each query asks
 * for a batch's worth of keys (-b) that no query asked for before,
 * wherever in the input the keys come: per lookup, the distinct keys not
 * cached, of every record of the window, are collected until there are
 * batch of them, then asked for in one query (lookup_step).  A record
 * leaves the window, in input order, when all its lookups are answered;
 * its results are copied into it then (lres), so that the caches may be
 * emptied at any time.  When the window is full, the oldest record's
 * lookups are asked for with the keys collected so far; at the end of the
 * input (or a trailer), every lookup's.  So a run asks each lookup
 * ceil(distinct keys / batch) times when the window holds the input's
 * spread, and memory stays bounded by the window, not the input.
 */
#define LK_WINDOW 10

struct lkwin {
	struct rec *v;      /* the records, oldest first */
	size_t n, cap;
	char ***need;       /* per lookup: the keys waiting records need (distinct) */
	size_t *nneed, *capneed, *nunknown; /* ... and how many are not cached */
	struct map *pset;   /* per lookup: need as a set */
	struct mlc_buf t, key;
};

/* Lookup li's result for the record's key (each: an array), or NULL: null. */
static char *
lk_result(struct join *j, size_t li, const char *lkey)
{
	const char *js = NULL;
	struct mlc_buf b;

	if (!lkey)
		return NULL;
	if (!j->lk.v[li].each)
		return map_get(&j->lkmap[li], lkey, &js, NULL) && js ? mlc_xstrdup(js) : NULL;
	mlc_buf_init(&b);
	mlc_buf_addc(&b, '[');
	for (const char *p = lkey;; ) {
		size_t pl = strcspn(p, (const char[]){ EACH_SEP, '\0' });
		char *part = mlc_xstrndup(p, pl);

		js = NULL;
		if (p != lkey)
			mlc_buf_addc(&b, ',');
		if (pl && map_get(&j->lkmap[li], part, &js, NULL) && js)
			mlc_buf_adds(&b, js);
		else
			mlc_buf_adds(&b, "null");
		free(part);
		if (!p[pl])
			break;
		p += pl + 1;
	}
	mlc_buf_addc(&b, ']');
	return b.p;
}

/* The record's lookups whose sources are answered: keyed, answered from
 * the cache, or waiting with their keys collected. */
static void
lk_advance(struct join *j, struct lkwin *w, struct rec *r)
{
	for (size_t li = 0; li < j->lk.n && !r->bad; li++) {
		const struct mlc_lookup *k = &j->lk.v[li];
		int ready = 1, cached = 1;

		if (r->lstate[li])
			continue;
		for (size_t b = 0; b < k->nby; b++)
			if (k->src_lookup[b] >= 0 && r->lstate[k->src_lookup[b]] != 2)
				ready = 0;
		if (!ready)
			continue;
		free(r->lkey[li]);
		r->lkey[li] = lk_key(j, r, li, &w->t, &w->key);
		if (!r->lkey[li]) {
			r->lstate[li] = 2;
			continue;
		}
		for (int pass = 0; pass < 2; pass++) {
			for (const char *p = r->lkey[li];; ) {
				size_t pl = k->each ? strcspn(p, (const char[]){ EACH_SEP, '\0' }) : strlen(p);
				char *part = mlc_xstrndup(p, pl);

				if (pl && pass == 0 && !map_get(&j->lkmap[li], part, NULL, NULL))
					cached = 0;
				if (pl && pass == 1 && !map_get(&w->pset[li], part, NULL, NULL)) {
					/* every piece, cached or not: the query's map_room keeps
					 * them all (an "each" record needs its cached ones too) */
					if (w->nneed[li] == w->capneed[li]) {
						w->capneed[li] = w->capneed[li] ? 2 * w->capneed[li] : 64;
						w->need[li] = mlc_xrealloc(w->need[li],
						                           w->capneed[li] * sizeof *w->need[li]);
					}
					w->need[li][w->nneed[li]++] = mlc_xstrdup(part);
					map_put(&w->pset[li], part, NULL, 0);
					w->nunknown[li] += !map_get(&j->lkmap[li], part, NULL, NULL);
				}
				free(part);
				if (!p[pl])
					break;
				p += pl + 1;
			}
			if (cached)
				break;
		}
		if (cached) {
			r->lres[li] = lk_result(j, li, r->lkey[li]);
			r->lstate[li] = 2;
		} else {
			r->lstate[li] = 1;
		}
	}
}

/* Lookup li's query over the keys collected; the records waiting for it
 * answered, and every record's later lookups advanced. */
static void
lk_flush(struct mlc_ais *a, struct join *j, struct lkwin *w, size_t li)
{
	if (!w->nneed[li])
		return;
	lookup_step(a, j, &j->lk.v[li], &j->lkmap[li], w->need[li], w->nneed[li], j->sum_page);
	for (size_t i = 0; i < w->n; i++) {
		struct rec *r = &w->v[i];

		if (!r->bad && r->lstate[li] == 1) {
			r->lres[li] = lk_result(j, li, r->lkey[li]);
			r->lstate[li] = 2;
		}
	}
	for (size_t i = 0; i < w->nneed[li]; i++)
		free(w->need[li][i]);
	w->nneed[li] = 0;
	w->nunknown[li] = 0;
	map_clear(&w->pset[li]);
	for (size_t i = 0; i < w->n; i++)
		lk_advance(j, w, &w->v[i]);
}

/* Every lookup with a batch of keys not cached: its query. */
static void
lk_settle(struct mlc_ais *a, struct join *j, struct lkwin *w)
{
	for (int again = 1; again; ) {
		again = 0;
		for (size_t li = 0; li < j->lk.n; li++)
			if (w->nunknown[li] >= (size_t)j->batch) {
				lk_flush(a, j, w, li);
				again = 1;
			}
	}
}

static int
rec_done(const struct join *j, const struct rec *r)
{
	if (r->bad)
		return 1;
	for (size_t li = 0; li < j->lk.n; li++)
		if (r->lstate[li] != 2)
			return 0;
	return 1;
}

static void emit_joined(struct join *j, struct rec *r, struct mlc_buf *out);

/* The answered records at the head of the window, written in input
 * order, and removed. */
static void
lk_emit(struct mlc_ais *a, struct join *j, struct lkwin *w)
{
	struct mlc_buf out;
	size_t k = 0;

	mlc_buf_init(&out);
	while (k < w->n && rec_done(j, &w->v[k])) {
		struct rec *r = &w->v[k++];

		if (!r->bad && !a->dry) {
			emit_joined(j, r, &out);
			if (mlc_ndjson_put(1, &out) < 0)
				mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
		}
		rec_free(r, j);
	}
	mlc_buf_free(&out);
	if (k) {
		memmove(w->v, w->v + k, (w->n - k) * sizeof *w->v);
		w->n -= k;
	}
}

/* Until the window has room for room more records (0: until it is empty):
 * the oldest record's lookups asked for, in declaration order, and the
 * answered records written. */
static void
lk_drain(struct mlc_ais *a, struct join *j, struct lkwin *w, size_t room)
{
	lk_emit(a, j, w);
	while (w->n && (room == 0 || w->n + room > w->cap)) {
		if (room == 0) {
			/* the end: every lookup, a chained one after its source */
			for (size_t li = 0; li < j->lk.n; li++)
				lk_flush(a, j, w, li);
		} else {
			for (size_t li = 0; li < j->lk.n; li++)
				if (w->v[0].lstate[li] == 1)
					lk_flush(a, j, w, li);
		}
		lk_emit(a, j, w);
	}
}

/* A contact's name: a lookup like any [lookup] entry, cached in j->names. */
static struct mlc_lookup name_lookup = {
	.name = "name", .table = "F0101", .by = { "AN8" }, .src = { "AN8" },
	.src_lookup = { -1 }, .nby = 1, .cols = { "ALPH" }, .ncols = 1,
};

/* A business unit's owner ([join] NAME = COLUMN via F0006): a lookup like
 * any [lookup] entry, cached in j->bu. */
static struct mlc_lookup owner_lookup = {
	.name = "owner", .table = "F0006", .by = { "MCU" }, .src = { "MCU" },
	.src_lookup = { -1 }, .nby = 1, .cols = { "AN8" }, .ncols = 1,
};

/* The owner of business unit mcu as the lookup found it: 1 with *an8 (0
 * for a unit without an F0006 row or owner), or 0 if it was not looked up. */
static int
owner_of(struct join *j, const char *mcu, long *an8)
{
	const char *js;

	if (!map_get(&j->bu, mcu, &js, NULL))
		return 0;
	*an8 = js ? row_num(js, strlen(js), "AN8") : 0;
	return 1;
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

/* The record's contacts object (the [join] entries), from the caches its
 * batch filled, into c. */
static void
contacts_text(struct join *j, struct rec *r, struct mlc_buf *c)
{
	char k[32];

	mlc_buf_reset(c);
	if (j->nent) {
		mlc_buf_addc(c, '{');
		for (size_t i = 0; i < j->nent; i++) {
			long an8 = r->an8[i];
			const char *js = NULL;

			if (j->ent[i].via && r->mcu[i] && !owner_of(j, r->mcu[i], &an8))
				an8 = 0;
			if (i)
				mlc_buf_addc(c, ',');
			mlc_buf_json_str(c, j->ent[i].name, strlen(j->ent[i].name));
			mlc_buf_addc(c, ':');
			snprintf(k, sizeof k, "%ld", an8);
			if (an8 > 0 && map_get(&j->ab, k, &js, NULL) && js)
				mlc_buf_adds(c, js);
			else
				mlc_buf_adds(c, "null");
		}
		mlc_buf_addc(c, '}');
	}
}

static void
emit_joined(struct join *j, struct rec *r, struct mlc_buf *out)
{
	struct mlc_buf c, sm, lk;

	mlc_buf_init(&c);
	mlc_buf_init(&sm);
	mlc_buf_init(&lk);
	if (j->nent)
		mlc_buf_adds(&c, r->ctext ? r->ctext : "{}");
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
	if (j->lk.n) {
		mlc_buf_addc(&lk, '{');
		for (size_t i = 0; i < j->lk.n; i++) {
			if (i)
				mlc_buf_addc(&lk, ',');
			mlc_buf_json_str(&lk, j->lk.v[i].name, strlen(j->lk.v[i].name));
			mlc_buf_addc(&lk, ':');
			mlc_buf_adds(&lk, r->lres[i] ? r->lres[i] : "null");
		}
		mlc_buf_addc(&lk, '}');
	}
	mlc_buf_reset(out);
	if ((j->nent && rec_has_object(r, "contacts")) || (j->nsum && rec_has_object(r, "sums")) ||
	    (j->lk.n && rec_has_object(r, "lookups"))) {
		/* Joined before: merge (jv re-serialises the record). */
		jv rec = jv_copy(r->j), s;

		if (j->nent)
			rec = rec_merge(rec, "contacts", &c);
		if (j->lk.n)
			rec = rec_merge(rec, "lookups", &lk);
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
		if (j->lk.n) {
			mlc_buf_adds(out, first ? "\"lookups\":" : ",\"lookups\":");
			mlc_buf_add(out, lk.p, lk.len);
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
	mlc_buf_free(&lk);
}

static void
join_batch(struct mlc_ais *a, struct join *j, struct rec *recs, size_t n)
{
	char **vals = NULL;
	long *an8s = NULL;
	size_t nv = 0, na = 0, i, k;
	struct mlc_buf out;

	/* the first batch logs in: the date format of conditions is the user's */
	if (!a->dry && !a->token && !mlc_ais_session_take(a, &session_fd))
		mlc_ais_login(a);
	/* Business units first: their owners join the address numbers. */
	for (i = 0; i < n; i++)
		for (k = 0; k < j->nent; k++)
			if (!recs[i].bad && recs[i].mcu[k] && !strv_sorted_has(vals, nv, recs[i].mcu[k])) {
				vals = mlc_xrealloc(vals, (nv + 1) * sizeof *vals);
				vals[nv++] = recs[i].mcu[k];
			}
	/* The owner is the lookup F0006 by MCU -> AN8, the same step as a
	 * [lookup] entry's (at the contact queries' page size). */
	lookup_step(a, j, &owner_lookup, &j->bu, vals, nv, 1000);
	free(vals);
	vals = NULL;

	for (i = 0; i < n; i++)
		for (k = 0; k < j->nent; k++) {
			long an8 = recs[i].an8[k];

			if (recs[i].bad)
				continue;
			if (j->ent[k].via && (!recs[i].mcu[k] || !owner_of(j, recs[i].mcu[k], &an8)))
				an8 = 0;
			if (an8 <= 0)
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
	/* Every address number of the batch: room for them all, then the
	 * ones not cached. */
	vals = mlc_xcalloc(na ? na : 1, sizeof *vals);
	for (i = 0; i < na; i++) {
		vals[i] = mlc_xmalloc(32);
		snprintf(vals[i], 32, "%ld", an8s[i]);
	}
	map_room(&j->ab, vals, na);
	for (i = k = 0; i < na; i++) {
		if (map_get(&j->ab, vals[i], NULL, NULL))
			continue;
		an8s[k++] = an8s[i];
	}
	for (i = 0; i < na; i++)
		free(vals[i]);
	free(vals);
	vals = NULL;
	na = k;
	if (na) {
		j->con = mlc_xcalloc(na, sizeof *j->con);
		j->ncon = na;
		vals = mlc_xcalloc(na, sizeof *vals);
		for (i = 0; i < na; i++) {
			j->con[i].an8 = an8s[i];
			vals[i] = mlc_xmalloc(32);
			snprintf(vals[i], 32, "%ld", an8s[i]);
		}
		/* The name is the lookup F0101 by AN8 -> ALPH; phones and
		 * e-mail addresses, several rows per number, are read here. */
		lookup_step(a, j, &name_lookup, &j->names, vals, na, 1000);
		lookup(a, j, 2, (const char *const *)vals, na);
		lookup(a, j, 4, (const char *const *)vals, na);
		mlc_buf_init(&out);
		for (i = 0; i < na; i++) {
			const char *js;

			if (map_get(&j->names, vals[i], &js, NULL) && js &&
			    mlc_jde_member_str(js, strlen(js), "ALPH", "", &out))
				j->con[i].name = mlc_xstrdup(out.p);
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
	/* The contacts into each record now: the caches may be emptied
	 * before it leaves the lookups' window. */
	mlc_buf_init(&out);
	for (i = 0; i < n; i++)
		if (!recs[i].bad && j->nent) {
			contacts_text(j, &recs[i], &out);
			recs[i].ctext = mlc_xstrdup(out.p);
		}
	mlc_buf_free(&out);
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
				mlc_ais_fatal(MLC_EX_CONFIG, "%s:%u: [sums] %s is given twice", rule.path, e->line,
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
		ok = nw >= 3 && nw <= SUM_MAXBY + 2 && dot &&
		     mlc_lookup_alias_ok(w[0], (size_t)(dot - w[0])) &&
		     mlc_lookup_alias_ok(dot + 1, strlen(dot + 1)) && strcmp(w[1], "by") == 0;
		for (size_t k = 2; ok && k < nw; k++)
			ok = mlc_lookup_alias_ok(w[k], strlen(w[k]));
		if (!ok) {
			free(v);
			mlc_ais_fatal(MLC_EX_CONFIG, "%s:%u: [sums] %s = %s: expected TABLE.COLUMN by COLUMN... "
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
	struct mlc_ais a;
	struct mlc_store *st = NULL;
	struct mlc_ndjson_reader *rd;
	struct rec *recs;
	struct lkwin win;
	size_t n = 0;
	int rc, eof = 0, code = MLC_EX_OK;
	const char *cc;

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
		           mlc_lookup_alias_ok(w[0], strlen(w[0]))) {
			je->col = mlc_xstrdup(w[0]);
			je->via = nw == 3;
		} else {
			free(v);
			mlc_ais_fatal(MLC_EX_CONFIG, "%s:%u: [join] %s = %s: expected COLUMN, COLUMN via F0006 "
				      "or an address number", rule.path, e->line, e->key, e->value);
		}
		free(v);
	}
	parse_sums(&j);
	{
		char err[1024];

		if (mlc_lookup_parse(&rule, &j.lk, err, sizeof err) < 0)
			mlc_ais_fatal(MLC_EX_CONFIG, "%s", err);
	}
	if (!j.nent && !j.nsum && !j.lk.n)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: no [join], [lookup] or [sums] section", rule.path);
	j.lkmap = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *j.lkmap);
	for (size_t i = 0; i < j.lk.n; i++)
		map_init(&j.lkmap[i]);
	mlc_ais_config(&conf);
	cc = mlc_conf_get(&conf, "general", "default_country");
	if (cc && (strspn(cc, "0123456789") != strlen(cc) || !*cc || strlen(cc) > 3 || *cc == '0'))
		mlc_ais_fatal(MLC_EX_CONFIG, "[general] default_country \"%s\": expected a calling code "
			      "such as 1 or 49", cc);
	j.cc = cc;
	j.batch = o->batch ? o->batch : 100;
	j.sum_page = o->pagesize ? o->pagesize : 1000;
	map_init(&j.bu);
	map_init(&j.ab);
	map_init(&j.names);
	mlc_ais_open(&a, &conf, o->dry);
	a.count_rule = o->nostate ? NULL : rule.name; /* --no-state: a preview counts nothing */
	/* The login waits for the first record (join_batch): the stage
	 * before us fails at its own login when the password is wrong and
	 * writes none, so a run with a refused password makes one failed
	 * login, not two, on an account a lockout policy counts against. */
	if (!o->dry) {
		st = mlc_ais_store_open();
		mlc_ais_password(&a, st);
		mlc_store_close(st);
	} else {
		mlc_ais_login(&a);
	}
	memset(&win, 0, sizeof win);
	win.cap = (size_t)j.batch * (j.lk.n ? LK_WINDOW : 1);
	win.v = mlc_xcalloc(win.cap, sizeof *win.v);
	win.need = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *win.need);
	win.nneed = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *win.nneed);
	win.capneed = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *win.capneed);
	win.nunknown = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *win.nunknown);
	win.pset = mlc_xcalloc(j.lk.n ? j.lk.n : 1, sizeof *win.pset);
	for (size_t i = 0; i < j.lk.n; i++)
		map_init(&win.pset[i]);
	mlc_buf_init(&win.t);
	mlc_buf_init(&win.key);
	rd = mlc_ndjson_open(stdin, "-", 0);
	while (!eof) {
		char *line;
		size_t len;
		struct mlc_buf trailer;

		mlc_buf_init(&trailer);
		/* room in the window for a batch */
		lk_drain(&a, &j, &win, (size_t)j.batch);
		recs = win.v + win.n;
		n = 0;
		while (n < (size_t)j.batch && !trailer.len) {
			if (stop_sig)
				mlc_ais_interrupted();
			rc = mlc_ndjson_read(rd, &line, &len);
			if (rc == 0) {
				eof = 1;
				break;
			}
			if (rc < 0) {
				code = mlc_ndjson_error(rd);
				if (code == MLC_EX_IOERR)
					mlc_ais_fatal(code, "read error on stdin");
				continue;
			}
			memset(&recs[n], 0, sizeof recs[n]);
			recs[n].lineno = mlc_ndjson_lineno(rd);
			recs[n].line = mlc_xstrndup(line, len);
			recs[n].len = len;
			recs[n].j = jv_parse_sized(line, (int)len);
			if (mlc_wire_is_trailer(recs[n].j)) {
				/* jde-fetch --trailer: passed on after the records before it */
				mlc_buf_add(&trailer, line, len);
				free(recs[n].line);
				jv_free(recs[n].j);
				break;
			}
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
		/* one record at a time into the window: a query at exactly a
		 * batch of keys */
		for (size_t i = 0; i < n; i++) {
			win.n++;
			lk_advance(&j, &win, &recs[i]);
			lk_settle(&a, &j, &win);
		}
		lk_emit(&a, &j, &win);
		if (trailer.len || eof)
			lk_drain(&a, &j, &win, 0); /* the records before the trailer first */
		if (trailer.len && !a.dry && mlc_ndjson_put(1, &trailer) < 0)
			mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
		mlc_buf_free(&trailer);
	}
	mlc_ndjson_close(rd);
	free(win.v);
	for (size_t i = 0; i < j.lk.n; i++) {
		free(win.need[i]);
		map_free(&win.pset[i]);
	}
	free(win.need);
	free(win.nneed);
	free(win.capneed);
	free(win.nunknown);
	free(win.pset);
	mlc_buf_free(&win.t);
	mlc_buf_free(&win.key);
	/* no record, yet a session handed on (jde-fetch died after the hand-off): log it out */
	mlc_ais_session_take(&a, &session_fd);
	mlc_ais_close(&a);
	mlc_ais_count(&a, NULL);
	map_free(&j.bu);
	map_free(&j.ab);
	map_free(&j.names);
	for (size_t i = 0; i < j.lk.n; i++)
		map_free(&j.lkmap[i]);
	free(j.lkmap);
	mlc_lookup_free(&j.lk);
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

int
main(int argc, char **argv)
{
	enum { O_DRY = 256, O_SESSION, O_NOSTATE };
	static const struct option lopts[] = {
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "no-state", no_argument, NULL, O_NOSTATE },
		{ "session-in", required_argument, NULL, O_SESSION },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	char err[1024];
	int c, code;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	memset(&o, 0, sizeof o);
	while ((c = getopt_long(argc, argv, "c:r:b:p:", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.conf = optarg; break;
		case 'r': o.rule = optarg; break;
		case 'b': o.batch = mlc_util_num_arg("-b", optarg, 1, 1000); break;
		case 'p': o.pagesize = mlc_util_num_arg("-p", optarg, 1, 100000); break;
		case O_DRY: o.dry = 1; break;
		case O_NOSTATE: o.nostate = 1; break;
		case O_SESSION: o.session_in = optarg; break;
		default:
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (!o.rule)
		mlc_die(MLC_EX_USAGE, "give -r RULE (its [join], [lookup] and [sums] sections)");
	if (o.session_in && o.dry)
		mlc_die(MLC_EX_USAGE, "--session-in takes a session, and --dry-run uses none");
	/* open at once, before anything slow: jde-fetch finds a reader */
	if (o.session_in)
		session_fd = mlc_ais_session_open(o.session_in);
	mlc_config_use(o.conf);
	mlc_util_signals(&stop_sig);
	/* jde-fetch goes on with its next page while a batch's lookups wait */
	mlc_util_pipe_room(0);
	mlc_ais_stop_on(&stop_sig);
	mlc_store_stop_on(&stop_sig);
	if (mlc_rule_load(&rule, o.rule, NULL, err, sizeof err, &code) < 0)
		mlc_die(code, "%s", err);
	/* The process holds the AIS password and token. */
	if (!o.dry)
		mlc_util_nodump();
	mlc_http_global_init();
	code = do_join(&o);
	mlc_rule_free(&rule);
	mlc_conf_free(&conf);
	mlc_util_exit(code);
}
