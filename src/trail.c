/*
 * trail.c — every statement that reads or writes the audit trail's tables,
 * beside their schema in store.c.
 *
 * The trail's tables (created by store.c's migrations, described at the
 * top of store.c): audit, message_status, run, deferred, quarantine,
 * realert, metric, inbound, optout, monitor, monitor_notice, open_alert,
 * ack, reply_code, escalation and trail_piece (the values an audit line
 * holds, stored once: "the stored form of a line" below).  No program
 * holds SQL for them:
 * alert-log, alert-render, twilio-status, twilio-send, realert.c and
 * optout.c call the named functions here.  A change of the audit schema
 * is then a migration appended in store.c and the statements in this
 * file.
 *
 * Writers run inside the caller's mlc_store_tx (BEGIN IMMEDIATE, run again
 * when SQLite meets a lock it cannot wait for): they write nothing but the
 * database, so running them again is harmless.  Readers run anywhere; a
 * lock is waited for by mlc_store_prepare and mlc_store_step.  A database
 * error is returned as -1 and not reported: the caller says what it was
 * doing (mlc_store_warn), and mlc_store_code gives the exit code.
 *
 * A reader hands each row to a callback as struct mlc_trail_row, valid
 * only during the call; no statement of this file is still reading when a
 * reader returns (mlc_store_tx refuses to begin while one is).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>
#include <zlib.h>

#include "mlc.h"

const char *const mlc_trail_audit_cols[MLC_TRAIL_AUDIT_NCOLS] = {
	"id", "ts", "stage", "rule", "jde_table", "record_key", "alert_id", "delivery_id",
	"recipient", "channel", "sid", "status", "error_code", "attempt", "detail", "line"
};

const char *const mlc_trail_quarantine_cols[MLC_TRAIL_QUARANTINE_NCOLS] = {
	"id", "first_ts", "last_ts", "count", "rule", "run_id", "origin", "lineno",
	"delivery_id", "alert_id", "record_key", "field", "reason", "audit_id", "bytes", "line"
};

const char *const mlc_trail_status_cols[MLC_TRAIL_STATUS_NCOLS] = {
	"rule", "run_id", "started_at", "finished_at", "status", "detail", "sent", "failed",
	"unknown", "pending", "deferred", "quarantined", "in_doubt", "capped", "stray",
	"opted_out", "acked", "resolved", "refused_addresses"
};

/* The audit columns, in mlc_trail_audit_cols' order. */
#define AUDIT_COLS \
	"id, ts, stage, rule, jde_table, record_key, alert_id, delivery_id," \
	" recipient, channel, sid, status, error_code, attempt, detail, trail_line(line, refs)"

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows, then finalize it: 0 or -1. */
static int
step_done(struct mlc_store *s, sqlite3_stmt *st)
{
	int rc = mlc_store_step(s, st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Run one statement with text (or NULL) parameters ?1..?n: 0, or -1. */
static int
exec_text(struct mlc_store *s, const char *sql, int n, const char *const v[])
{
	sqlite3_stmt *st;
	int i;

	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	for (i = 0; i < n; i++)
		bind_text(st, i + 1, v[i]);
	return step_done(s, st);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? mlc_xstrdup((const char *)v) : NULL;
}

/*
 * Step st to its end, each row to fn as a struct mlc_trail_row named by
 * names (or by SQLite's column names).  0, fn's nonzero value (it stops
 * the scan), or -1 on a database error.  st is finalized.
 */
static int
each_row(struct mlc_store *s, sqlite3_stmt *st, const char *const *names, mlc_trail_fn fn,
         void *arg)
{
	struct mlc_trail_row r;
	int rc, i, stop = 0;

	r.n = sqlite3_column_count(st);
	if (r.n > MLC_TRAIL_MAXCOLS)
		r.n = MLC_TRAIL_MAXCOLS;
	while ((rc = mlc_store_step(s, st)) == SQLITE_ROW) {
		for (i = 0; i < r.n; i++) {
			struct mlc_trail_col *c = &r.c[i];
			int type = sqlite3_column_type(st, i);

			c->name = names ? names[i] : sqlite3_column_name(st, i);
			c->i = 0;
			c->type = type == SQLITE_NULL ? MLC_TRAIL_NULL :
			          type == SQLITE_INTEGER ? MLC_TRAIL_INT : MLC_TRAIL_TEXT;
			if (type == SQLITE_INTEGER)
				c->i = (long long)sqlite3_column_int64(st, i);
			/* text first, then its length (SQLite's rule); a BLOB's bytes as they are */
			c->s = (const char *)sqlite3_column_text(st, i);
			c->len = (size_t)sqlite3_column_bytes(st, i);
		}
		if ((stop = fn(&r, arg)) != 0)
			break;
	}
	sqlite3_finalize(st);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the stored form of a line: pieces stored once, referenced ---- */

/*
 * A line is stored as its bytes with some member values cut out (column
 * line: the template) and where they go (column refs: "OFF:ID,..." in
 * ascending OFF, NULL for a line stored whole): each cut value is a row
 * of table trail_piece, stored once however many lines hold it (content
 * addressed: h is a hash of the value's bytes, and the pieces of that h
 * are put back and compared), and itself a template with refs.  The cuts are byte spans
 * of the line as received, so putting the pieces back (trail_line, the
 * SQL function every reader goes through) gives the line's bytes exactly,
 * whatever its white space or escapes.  What is cut:
 *   - a fetched record (a line with a member "row" and no alert_id or
 *     delivery_id): the whole line, one piece;
 *   - an alert's "record" (the same bytes, so the same piece);
 *   - a delivery's members up to twilio-send's result (status and after),
 *     256 bytes or more: one piece, which its result line holds again;
 *   - in a record, each contact of "contacts" (the joined Address Book
 *     entries: the same in every record that names them);
 *   - in an alert and a delivery, each run of members side by side that
 *     the alerts of a run share (rule, severity, table, recipients,
 *     channels, matched_at, ...: shared_member);
 *   - each element of "recipients", the "recipient" object of a delivery,
 *     each member of a top-level "contacts";
 *   - any other string or array member of 256 bytes or more (a digest's
 *     text, html, alert_ids and keys: its sent line repeats its queued
 *     line).
 * A piece's last_ts is the newest ts of the audit rows that hold it, its
 * own pieces' at least as new: retention deletes the pieces older than
 * its cutoff after the rows.
 */

#define PIECE_MIN 32        /* smaller values stay in the template */
#define PIECE_STR_MIN 256   /* a string member worth a piece */
#define PIECE_DEPTH 4       /* pieces within pieces, at most */
#define PIECE_Z_MIN 256     /* a template this long is stored deflated */

/*
 * A piece's template of PIECE_Z_MIN bytes or more is stored raw-deflated
 * (zlib, level 9) as a BLOB when that is at least a quarter smaller: byte
 * 0, then the stream; or, deflated with another piece's template as the
 * dictionary (a model: the first piece of its kind this process stored
 * without one, so that a record leaves about its values only), byte 1,
 * the model's id (8 bytes, big-endian), then the stream.  Column body's
 * type says which: TEXT is the template itself.  A piece's model is
 * touched with it, so that retention never deletes a model before the
 * pieces that need it.
 */
static int
deflate_body(const char *p, size_t n, const struct mlc_buf *dict, long long model,
             struct mlc_buf *z)
{
	unsigned char hd[9];
	z_stream zs;
	unsigned char *o;
	uLong bound;
	int rc, i;

	if (n < PIECE_Z_MIN || n > 64u << 20)
		return -1;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	if (dict && deflateSetDictionary(&zs, (const Bytef *)dict->p, (uInt)dict->len) != Z_OK) {
		deflateEnd(&zs);
		return -1;
	}
	bound = deflateBound(&zs, (uLong)n);
	o = mlc_xmalloc(bound);
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = (uInt)n;
	zs.next_out = o;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	mlc_buf_reset(z);
	hd[0] = dict ? 1 : 0;
	for (i = 0; i < 8; i++)
		hd[1 + i] = (unsigned char)((unsigned long long)model >> (56 - 8 * i));
	if (rc == Z_STREAM_END && zs.total_out + (dict ? 9 : 1) <= n - n / 4) {
		mlc_buf_add(z, hd, dict ? 9 : 1);
		mlc_buf_add(z, o, zs.total_out);
	} else {
		rc = Z_BUF_ERROR;
	}
	deflateEnd(&zs);
	free(o);
	return rc == Z_STREAM_END ? 0 : -1;
}

/* Append the bytes a deflated stream holds (dict: its dictionary, or NULL)
 * to out: 0, or -1. */
static int
inflate_body(const void *z, size_t n, const struct mlc_buf *dict, struct mlc_buf *out)
{
	unsigned char chunk[16384];
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, -15) != Z_OK)
		return -1;
	if (dict && inflateSetDictionary(&zs, (const Bytef *)dict->p, (uInt)dict->len) != Z_OK) {
		inflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)z;
	zs.avail_in = (uInt)n;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof chunk;
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		mlc_buf_add(out, chunk, sizeof chunk - zs.avail_out);
	} while (rc != Z_STREAM_END);
	inflateEnd(&zs);
	return rc == Z_STREAM_END ? 0 : -1;
}

enum { CUT_LINE, CUT_RECORD, CUT_DELIVERY, CUT_RUN, CUT_PLAIN };

static size_t
ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* The end of the JSON value at p[i] (after white space), or 0 if none. */
static size_t
value_end(const char *p, size_t i, size_t n)
{
	int depth = 0;

	i = ws(p, i, n);
	if (i >= n)
		return 0;
	do {
		if (i >= n)
			return 0;
		if (p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			if (i >= n)
				return 0;
			i++;
		} else if (p[i] == '{' || p[i] == '[') {
			depth++, i++;
		} else if (p[i] == '}' || p[i] == ']') {
			if (--depth < 0)
				return 0;
			i++;
		} else if (depth == 0) {
			/* a number or a literal */
			size_t a = i;

			while (i < n && !strchr(",:]} \t\r\n\"{[", p[i]))
				i++;
			if (i == a)
				return 0;
		} else {
			i++;
		}
	} while (depth > 0);
	return i;
}

/*
 * The next member of the object whose '{' is at p[*i] (*i just after it on
 * the first call, set by the caller): 1 with the name's bytes (without
 * quotes) and the value's span, 0 at the end, -1 if it is not an object
 * as expected (nothing is cut then).
 */
static int
member_next(const char *p, size_t n, size_t *i, size_t *ka, size_t *kb, size_t *va,
            size_t *vb)
{
	size_t j = ws(p, *i, n);

	if (j < n && p[j] == ',')
		j = ws(p, j + 1, n);
	if (j < n && p[j] == '}')
		return 0;
	if (j >= n || p[j] != '"')
		return -1;
	*ka = j + 1;
	if (!(j = value_end(p, j, n)))
		return -1;
	*kb = j - 1;
	j = ws(p, j, n);
	if (j >= n || p[j] != ':')
		return -1;
	*va = ws(p, j + 1, n);
	if (!(*vb = value_end(p, *va, n)))
		return -1;
	*i = *vb;
	return 1;
}

/* The next element of an array, as member_next. */
static int
element_next(const char *p, size_t n, size_t *i, size_t *va, size_t *vb)
{
	size_t j = ws(p, *i, n);

	if (j < n && p[j] == ',')
		j = ws(p, j + 1, n);
	if (j < n && p[j] == ']')
		return 0;
	*va = j;
	if (!(*vb = value_end(p, j, n)))
		return -1;
	*i = *vb;
	return 1;
}

static int
name_is(const char *p, size_t ka, size_t kb, const char *name)
{
	return kb - ka == strlen(name) && memcmp(p + ka, name, kb - ka) == 0;
}

struct cut {
	size_t a, b;
	int kind;
};
struct cuts {
	struct cut *v;
	size_t n, cap;
};

static void
cut_add(struct cuts *c, size_t a, size_t b, int kind)
{
	if (b - a < PIECE_MIN)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		if (!c->v)
			mlc_die(MLC_EX_SOFTWARE, "out of memory");
	}
	c->v[c->n].a = a;
	c->v[c->n].b = b;
	c->v[c->n].kind = kind;
	c->n++;
}

/* Each member value of the object at p[a..b) (or each element, array). */
static void
cut_each(const char *p, size_t a, size_t b, int kind, struct cuts *c)
{
	size_t i = a + 1, ka, kb, va, vb;

	if (p[a] == '{') {
		while (member_next(p, b, &i, &ka, &kb, &va, &vb) == 1)
			if (p[va] == '{' || p[va] == '[')
				cut_add(c, va, vb, kind);
	} else if (p[a] == '[') {
		while (element_next(p, b, &i, &va, &vb) == 1)
			if (p[va] == '{' || p[va] == '[')
				cut_add(c, va, vb, kind);
	}
}

/*
 * Members that every alert or delivery of a rule's run holds alike: a run
 * of them side by side (with their commas) is one piece.  An alert keeps
 * what is its own (ids, key, fingerprint, record) in its row.
 */
static int
shared_member(const char *p, size_t ka, size_t kb)
{
	static const char *const names[] = { "rule", "severity", "table", "channels", "channel",
		                             "recipients", "recipient", "matched_at", "rendered_at",
		                             "digest_only", "encoding", "segments", "resolvable",
		                             "to", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (name_is(p, ka, kb, names[i]))
			return 1;
	return 0;
}

/* The cuts of the value p[0..n), as a whole line, a record, a delivery's
 * members or a run of members. */
static void
find_cuts(const char *p, size_t n, int kind, struct cuts *c)
{
	size_t i, ka, kb, va, vb, s = ws(p, 0, n), run_a = 0, run_b = 0;
	int k, row = 0, ids = 0;

	c->n = 0;
	/* a delivery's members are an object cut short: its '}' stays outside */
	if (kind == CUT_PLAIN || s >= n || (kind != CUT_RUN && p[s] != '{') ||
	    (kind != CUT_DELIVERY && kind != CUT_RUN &&
	     (!(i = value_end(p, s, n)) || ws(p, i, n) != n)))
		return;
	if (kind == CUT_LINE) {
		size_t own = 0;
		int deliv = 0, status = 0;

		for (i = s + 1; (k = member_next(p, n, &i, &ka, &kb, &va, &vb)) == 1;) {
			row |= name_is(p, ka, kb, "row");
			ids |= name_is(p, ka, kb, "alert_id") || name_is(p, ka, kb, "delivery_id");
			deliv |= name_is(p, ka, kb, "delivery_id");
			ids |= name_is(p, ka, kb, "event") << 1; /* a status event: all its own */
			status |= name_is(p, ka, kb, "status");
			if (!status)
				own = vb;
		}
		if (k < 0)
			return;
		if (row && !ids) {
			cut_add(c, 0, n, CUT_RECORD);
			return;
		}
		/*
		 * A delivery: its members up to twilio-send's result (status
		 * first) are one piece, so that its result line, and a line
		 * handed on unchanged, hold a reference, not a copy.
		 */
		if (deliv && !(ids & 2) && own >= PIECE_STR_MIN) {
			cut_add(c, 0, own, CUT_DELIVERY);
			return;
		}
	}
	/* a run of members is a list of members, without braces */
	for (i = kind == CUT_RUN ? 0 : s + 1; member_next(p, n, &i, &ka, &kb, &va, &vb) == 1;) {
		int obj = p[va] == '{' || p[va] == '[';

		if (kind != CUT_RECORD && kind != CUT_RUN && shared_member(p, ka, kb)) {
			if (!run_b)
				run_a = ka - 1;
			run_b = vb;
			continue;
		}
		if (run_b)
			cut_add(c, run_a, run_b, CUT_RUN);
		run_b = 0;
		if (name_is(p, ka, kb, "contacts") && p[va] == '{')
			cut_each(p, va, vb, CUT_PLAIN, c);
		else if (kind == CUT_RECORD)
			continue;
		else if (kind == CUT_LINE && name_is(p, ka, kb, "record") && p[va] == '{')
			cut_add(c, va, vb, CUT_RECORD);
		else if (name_is(p, ka, kb, "recipients") && p[va] == '[')
			cut_each(p, va, vb, CUT_PLAIN, c);
		else if (name_is(p, ka, kb, "recipient") && obj)
			cut_add(c, va, vb, CUT_PLAIN);
		else if ((p[va] == '"' || p[va] == '[') && vb - va >= PIECE_STR_MIN)
			cut_add(c, va, vb, CUT_PLAIN);
	}
	if (run_b)
		cut_add(c, run_a, run_b, CUT_RUN);
}

static const char piece_find_sql[] =
	"SELECT id, last_ts < ?2 FROM trail_piece WHERE h = ?1 LIMIT 8";
static const char piece_touch_sql[] =
	"UPDATE trail_piece SET last_ts = max(last_ts, ?2) WHERE id = ?1 AND (?3 IS NULL OR h = ?3)";
static const char piece_add_sql[] =
	"INSERT INTO trail_piece (h, last_ts, refs, body) VALUES (?1, ?2, ?3, ?4)";
static const char piece_get_sql[] = "SELECT body, refs, h FROM trail_piece WHERE id = ?1";
static const char piece_h_sql[] = "SELECT h FROM trail_piece WHERE id = ?1";

/* The model of each kind this process stores pieces with (the writer's),
 * and the last model a reader needed: id, hash, template. */
struct model {
	struct mlc_store *s;
	long long id, h;
	struct mlc_buf t;
};
static struct model wmodel[CUT_PLAIN + 1], rmodel;
static long long last_h;     /* the hash of the piece piece_get read last */

static void
model_set(struct model *m, struct mlc_store *s, long long id, long long h, const struct mlc_buf *t)
{
	m->s = s;
	m->id = id;
	m->h = h;
	mlc_buf_reset(&m->t);
	mlc_buf_add(&m->t, t->p ? t->p : "", t->len);
}

/*
 * Piece id: its template into t (decoded), its refs into *refs (malloc'd,
 * NULL: none), its model's id into *model (0: none).  1, 0 when there is
 * no such piece, -1 on a database error or a damaged piece.
 */
static int
piece_get(struct mlc_store *s, long long id, int depth, struct mlc_buf *t, char **refs,
          long long *model)
{
	sqlite3_stmt *st;
	unsigned char *b = NULL;
	size_t n = 0;
	int rc, type = SQLITE_NULL, i;
	long long h = 0;

	mlc_buf_reset(t);
	*refs = NULL;
	*model = 0;
	/* kept prepared: a reader puts every line of a query together; the row
	 * is copied out and the statement reset before anything else runs */
	if (mlc_store_cached(s, piece_get_sql, &st) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		type = sqlite3_column_type(st, 0);
		b = (unsigned char *)(type == SQLITE_BLOB ? sqlite3_column_blob(st, 0) :
		                                           (const void *)sqlite3_column_text(st, 0));
		n = (size_t)sqlite3_column_bytes(st, 0);
		b = (unsigned char *)mlc_xstrndup(b ? (const char *)b : "", n);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*refs = mlc_xstrdup((const char *)sqlite3_column_text(st, 1));
		h = (long long)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		free(b);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	rc = 1;
	if (type != SQLITE_BLOB) {
		mlc_buf_add(t, b, n);
	} else if (n >= 1 && b[0] == 0) {
		rc = inflate_body(b + 1, n - 1, NULL, t) < 0 ? -1 : 1;
	} else if (n >= 9 && b[0] == 1 && depth == 0) {
		long long mid = 0;

		for (i = 0; i < 8; i++)
			mid = (long long)(((unsigned long long)mid << 8) | b[1 + i]);
		*model = mid;
		/* the model read last, if it is still that piece (an id may come
		 * again after a rollback or a retention) */
		if (rmodel.s == s && rmodel.id == mid) {
			sqlite3_stmt *q;

			if (mlc_store_cached(s, piece_h_sql, &q) < 0) {
				free(b);
				free(*refs);
				*refs = NULL;
				return -1;
			}
			sqlite3_bind_int64(q, 1, mid);
			if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int64(q, 0) != rmodel.h)
				rmodel.s = NULL;
			sqlite3_reset(q);
		}
		if (rmodel.s != s || rmodel.id != mid) {
			char *mr = NULL;
			long long mm;

			rmodel.s = NULL;
			if (piece_get(s, mid, depth + 1, &rmodel.t, &mr, &mm) != 1)
				rc = -1;
			else
				rmodel.s = s, rmodel.id = mid, rmodel.h = last_h;
			free(mr);
		}
		if (rc == 1 && inflate_body(b + 9, n - 9, &rmodel.t, t) < 0)
			rc = -1;
	} else {
		rc = -1;
	}
	free(b);
	if (rc < 0) {
		free(*refs);
		*refs = NULL;
	}
	last_h = h;
	return rc;
}

/* Touch piece id (and check its hash, h non-zero): 1 done, 0 no such piece
 * (with that hash), -1 on a database error. */
static int
piece_touch(struct mlc_store *s, long long id, long long h, const char *ts)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_cached(s, piece_touch_sql, &st) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
	if (h)
		sqlite3_bind_int64(st, 3, h);
	rc = mlc_store_step(s, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(mlc_store_db(s)) > 0;
}

static int compact(struct mlc_store *s, const char *p, size_t n, int kind, const char *ts,
                   int depth, struct mlc_buf *tmpl, struct mlc_buf *refs);

/*
 * The piece holding p[0..n) (cut as kind): its id, found or added; 0 on a
 * database error.  Content addressed: the pieces of the same hash are put
 * back and compared with the template and refs (whatever their model).
 */
static long long
piece_put(struct mlc_store *s, const char *p, size_t n, int kind, const char *ts, int depth)
{
	struct mlc_buf t, r, z, ct;
	unsigned char hb[8];
	sqlite3_int64 h = 0;
	sqlite3_stmt *st;
	long long id = 0, cand[8], model = 0;
	int rc, old[8], i, nc = 0, zd = 0;
	struct model *wm = &wmodel[kind];

	mlc_buf_init(&t);
	mlc_buf_init(&r);
	mlc_buf_init(&z);
	mlc_buf_init(&ct);
	if (compact(s, p, n, kind, ts, depth + 1, &t, &r) < 0)
		goto fail;
	crypto_generichash(hb, sizeof hb, (const unsigned char *)p, n, NULL, 0);
	for (i = 0; i < 8; i++)
		h = (sqlite3_int64)(((sqlite3_uint64)h << 8) | hb[i]);
	if (mlc_store_cached(s, piece_find_sql, &st) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, h);
	sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
	while (nc < 8 && (rc = mlc_store_step(s, st)) == SQLITE_ROW) {
		cand[nc] = (long long)sqlite3_column_int64(st, 0);
		old[nc++] = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (nc < 8 && rc != SQLITE_DONE)
		goto fail;
	for (i = 0; i < nc && !id; i++) {
		char *cr;

		if (piece_get(s, cand[i], 0, &ct, &cr, &model) != 1) {
			goto fail;
		}
		if (ct.len == t.len && memcmp(ct.p ? ct.p : "", t.p ? t.p : "", t.len) == 0 &&
		    (cr ? strlen(cr) == r.len && memcmp(cr, r.p, r.len) == 0 : r.len == 0)) {
			id = cand[i];
			/* the piece, and its model with it */
			if ((old[i] && piece_touch(s, id, 0, ts) < 0) ||
			    (model && piece_touch(s, model, 0, ts) < 0)) {
				free(cr);
				goto fail;
			}
			if (!model && t.len >= PIECE_Z_MIN && wm->s != s)
				model_set(wm, s, id, h, &t);
		}
		free(cr);
	}
	if (id)
		goto out;
	/* a model that a rolled-back transaction took away is not one */
	if (t.len >= PIECE_Z_MIN && wm->s == s) {
		int k = piece_touch(s, wm->id, wm->h, ts);

		if (k < 0)
			goto fail;
		if (k == 0)
			wm->s = NULL;
		else
			zd = deflate_body(t.p, t.len, &wm->t, wm->id, &z) == 0;
	}
	if (!zd)
		zd = deflate_body(t.p, t.len, NULL, 0, &z) == 0 ? 2 : 0;
	if (mlc_store_cached(s, piece_add_sql, &st) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, h);
	sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
	if (r.len)
		sqlite3_bind_text(st, 3, r.p, (int)r.len, SQLITE_STATIC);
	if (zd)
		sqlite3_bind_blob(st, 4, z.p, (int)z.len, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, 4, t.len ? t.p : "", (int)t.len, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	id = (long long)sqlite3_last_insert_rowid(mlc_store_db(s));
	if (zd != 1 && t.len >= PIECE_Z_MIN && wm->s != s)
		model_set(wm, s, id, h, &t);
	goto out;
fail:
	id = 0;
out:
	mlc_buf_free(&t);
	mlc_buf_free(&r);
	mlc_buf_free(&z);
	mlc_buf_free(&ct);
	return id;
}

/*
 * The stored form of p[0..n): the template into tmpl and the refs into
 * refs (empty: the value is stored whole), the pieces added or touched
 * with ts.  0, or -1 on a database error.
 */
static int
compact(struct mlc_store *s, const char *p, size_t n, int kind, const char *ts, int depth,
        struct mlc_buf *tmpl, struct mlc_buf *refs)
{
	struct cuts c = { 0 };
	size_t i, at = 0;
	int rc = 0;

	mlc_buf_reset(tmpl);
	mlc_buf_reset(refs);
	if (depth < PIECE_DEPTH)
		find_cuts(p, n, kind, &c);
	for (i = 0; i < c.n; i++) {
		long long id = piece_put(s, p + c.v[i].a, c.v[i].b - c.v[i].a, c.v[i].kind, ts,
		                         depth);

		if (!id) {
			rc = -1;
			break;
		}
		mlc_buf_add(tmpl, p + at, c.v[i].a - at);
		mlc_buf_printf(refs, "%s%zu:%lld", i ? "," : "", tmpl->len, id);
		at = c.v[i].b;
	}
	if (rc == 0)
		mlc_buf_add(tmpl, p + at, n - at);
	free(c.v);
	return rc;
}

/*
 * Append the bytes of a stored form (body, refs) to out, its pieces put
 * back.  0, or -1 with a message in err (a piece missing: a damaged trail).
 */
static int
expand(struct mlc_store *s, const char *body, size_t n, const char *refs, int depth,
       struct mlc_buf *out, char *err, size_t errlen)
{
	size_t at = 0;
	const char *r = refs;

	while (r && *r) {
		char *e;
		unsigned long long off = strtoull(r, &e, 10), id;
		struct mlc_buf pt;
		char *pb = NULL, *pr = NULL;
		long long model;
		size_t pn = 0;
		int rc;

		if (*e != ':' || off < at || off > n) {
			snprintf(err, errlen, "trail: bad refs \"%s\"", refs);
			return -1;
		}
		id = strtoull(e + 1, &e, 10);
		if (*e && *e != ',') {
			snprintf(err, errlen, "trail: bad refs \"%s\"", refs);
			return -1;
		}
		r = *e ? e + 1 : e;
		mlc_buf_add(out, body + at, off - at);
		at = off;
		if (depth >= PIECE_DEPTH) {
			snprintf(err, errlen, "trail: piece %llu: nested too deep", id);
			return -1;
		}
		mlc_buf_init(&pt);
		if ((rc = piece_get(s, (long long)id, 0, &pt, &pr, &model)) != 1) {
			snprintf(err, errlen, "trail: piece %llu is %s", id,
			         rc == 0 ? "missing" : "damaged, or unreadable");
			mlc_buf_free(&pt);
			return -1;
		}
		pn = pt.len;
		pb = pt.p ? pt.p : mlc_xstrdup("");
		rc = expand(s, pb, pn, pr, depth + 1, out, err, errlen);
		free(pb);
		free(pr);
		if (rc < 0)
			return -1;
	}
	mlc_buf_add(out, body + at, n - at);
	return 0;
}

/* SQL trail_line(line, refs): the line's bytes as received. */
static void
trail_line_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct mlc_buf out;
	char err[256];
	const char *body;
	size_t n;

	(void)argc;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	body = (const char *)sqlite3_value_text(argv[0]);
	n = (size_t)sqlite3_value_bytes(argv[0]);
	mlc_buf_init(&out);
	if (expand(sqlite3_user_data(ctx), body ? body : "", n,
	           (const char *)sqlite3_value_text(argv[1]), 0, &out, err, sizeof err) < 0) {
		sqlite3_result_error(ctx, err, -1);
		mlc_buf_free(&out);
		return;
	}
	sqlite3_result_text(ctx, out.len ? out.p : "", (int)out.len, SQLITE_TRANSIENT);
	mlc_buf_free(&out);
}

int
mlc_trail_setup(struct mlc_store *s)
{
	return sqlite3_create_function(mlc_store_db(s), "trail_line", 2, SQLITE_UTF8, s,
	                               trail_line_fn, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/*
 * The step of store.c's migration that brought table trail_piece: every
 * audit row written before it, its line stored whole, is put in the stored
 * form in place (in the migration's transaction), one row at a time so
 * that memory stays that of one line.  The trigger that keeps audit rows
 * from changing is dropped for it and made again as migration v1 made it.
 */
int
mlc_trail_compact_all(struct mlc_store *s)
{
	static const char next_sql[] =
		"SELECT id, ts, line FROM audit WHERE id > ?1 AND typeof(line) = 'text' AND refs IS NULL"
		" ORDER BY id LIMIT 1";
	struct mlc_buf tmpl, refs;
	sqlite3_stmt *st, *up;
	long long last = 0;
	int rc = 0;

	if (exec_text(s, "DROP TRIGGER audit_no_update", 0, NULL) < 0)
		return -1;
	if (mlc_store_prepare(s, next_sql, &st) < 0)
		return -1;
	if (mlc_store_prepare(s, "UPDATE audit SET line = ?2, refs = ?3 WHERE id = ?1", &up) < 0) {
		sqlite3_finalize(st);
		return -1;
	}
	mlc_buf_init(&tmpl);
	mlc_buf_init(&refs);
	for (;;) {
		char *ts, *line;
		size_t n;

		sqlite3_bind_int64(st, 1, last);
		if ((rc = mlc_store_step(s, st)) != SQLITE_ROW)
			break;
		last = (long long)sqlite3_column_int64(st, 0);
		ts = col_dup(st, 1);
		n = (size_t)sqlite3_column_bytes(st, 2);
		line = mlc_xstrndup((const char *)sqlite3_column_blob(st, 2), n);
		sqlite3_reset(st);
		rc = compact(s, line, n, CUT_LINE, ts ? ts : "", 0, &tmpl, &refs);
		if (rc == 0 && refs.len) {
			sqlite3_bind_int64(up, 1, last);
			sqlite3_bind_text(up, 2, tmpl.len ? tmpl.p : "", (int)tmpl.len, SQLITE_STATIC);
			sqlite3_bind_text(up, 3, refs.p, (int)refs.len, SQLITE_STATIC);
			rc = mlc_store_step(s, up) == SQLITE_DONE ? 0 : -1;
			sqlite3_reset(up);
		}
		free(ts);
		free(line);
		if (rc < 0)
			break;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	mlc_buf_free(&tmpl);
	mlc_buf_free(&refs);
	if (rc != SQLITE_DONE)
		return -1;
	return exec_text(s, "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	                    " BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END", 0, NULL);
}

/* ---- table audit: the rows of the trail ---- */

static const char ins_audit_sql[] =
	"INSERT INTO audit (ts, stage, rule, jde_table, record_key, alert_id,"
	" delivery_id, recipient, channel, sid, status, error_code, attempt, detail,"
	" line, refs) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)";

int
mlc_trail_record(struct mlc_store *s, const struct mlc_trail_event *e)
{
	struct mlc_buf tmpl, refs;
	sqlite3_stmt *st;
	int rc;

	mlc_buf_init(&tmpl);
	mlc_buf_init(&refs);
	/* the line's pieces first (the cached statement below is not reset by them) */
	if (e->line && compact(s, e->line, e->len, CUT_LINE, e->ts ? e->ts : "", 0, &tmpl, &refs) < 0) {
		mlc_buf_free(&tmpl);
		mlc_buf_free(&refs);
		return -1;
	}

	/* kept prepared: the tee records every line of the pipeline with it */
	if (mlc_store_cached(s, ins_audit_sql, &st) < 0)
		return -1;
	bind_text(st, 1, e->ts);
	bind_text(st, 2, e->stage);
	bind_text(st, 3, e->rule);
	bind_text(st, 4, e->table);
	bind_text(st, 5, e->key);
	bind_text(st, 6, e->alert_id);
	bind_text(st, 7, e->delivery_id);
	bind_text(st, 8, e->to);
	bind_text(st, 9, e->channel);
	bind_text(st, 10, e->sid);
	bind_text(st, 11, e->status);
	if (e->has_error_code)
		sqlite3_bind_int64(st, 12, e->error_code);
	if (e->has_attempt)
		sqlite3_bind_int64(st, 13, e->attempt);
	bind_text(st, 14, e->detail);
	if (e->line && refs.len) {
		sqlite3_bind_text(st, 15, tmpl.len ? tmpl.p : "", (int)tmpl.len, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 16, refs.p, (int)refs.len, SQLITE_TRANSIENT);
	} else if (e->line) {
		sqlite3_bind_text(st, 15, e->line, (int)e->len, SQLITE_TRANSIENT);
	}
	rc = mlc_store_step(s, st);
	sqlite3_reset(st);
	mlc_buf_free(&tmpl);
	mlc_buf_free(&refs);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_latest_is(struct mlc_store *s, const char *delivery_id, const char *alert_id,
                    const char *line, size_t len)
{
	static const char by_delivery[] =
		"SELECT trail_line(line, refs) = CAST(?2 AS TEXT) FROM audit WHERE delivery_id = ?1"
		" ORDER BY id DESC LIMIT 1";
	static const char by_alert[] =
		"SELECT trail_line(line, refs) = CAST(?2 AS TEXT) FROM audit WHERE alert_id = ?1"
		" AND delivery_id IS NULL ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st;
	int rc, same = 0;

	if (!delivery_id && !alert_id)
		return 0;
	/* kept prepared: a tee with --after asks it for every line */
	if (mlc_store_cached(s, delivery_id ? by_delivery : by_alert, &st) < 0)
		return -1;
	bind_text(st, 1, delivery_id ? delivery_id : alert_id);
	sqlite3_bind_text(st, 2, len ? line : "", (int)len, SQLITE_TRANSIENT);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		same = sqlite3_column_int(st, 0) == 1;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? same : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_latest_stage(struct mlc_store *s, const char *delivery_id, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, "SELECT stage FROM audit WHERE delivery_id = ?1"
	                         " ORDER BY id DESC LIMIT 1", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, delivery_id, -1, SQLITE_TRANSIENT);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_sid_delivery(struct mlc_store *s, const char *sid, struct mlc_trail_ids *ids)
{
	sqlite3_stmt *st;
	int rc;

	memset(ids, 0, sizeof *ids);
	if (mlc_store_prepare(s, "SELECT rule, jde_table, record_key, alert_id, delivery_id,"
	                         " recipient, channel FROM audit WHERE sid = ?1 AND delivery_id"
	                         " IS NOT NULL ORDER BY id LIMIT 1", &st) < 0)
		return -1;
	bind_text(st, 1, sid);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		ids->rule = col_dup(st, 0);
		ids->table = col_dup(st, 1);
		ids->key = col_dup(st, 2);
		ids->alert_id = col_dup(st, 3);
		ids->delivery_id = col_dup(st, 4);
		ids->to = col_dup(st, 5);
		ids->channel = col_dup(st, 6);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void
mlc_trail_ids_free(struct mlc_trail_ids *ids)
{
	free(ids->rule);
	free(ids->table);
	free(ids->key);
	free(ids->alert_id);
	free(ids->delivery_id);
	free(ids->to);
	free(ids->channel);
	memset(ids, 0, sizeof *ids);
}

int
mlc_trail_sent_count(struct mlc_store *s, const char *const addr[3], const char *since,
                     long *n)
{
	sqlite3_stmt *st;
	int i, rc;

	*n = 0;
	if (mlc_store_prepare(s, "SELECT count(DISTINCT delivery_id) FROM audit WHERE stage = 'sent'"
	                         " AND recipient IN (?1, ?2, ?3) AND ts >= ?4", &st) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (addr[i])
			sqlite3_bind_text(st, i + 1, addr[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, since, -1, SQLITE_TRANSIENT);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
mlc_trail_query(struct mlc_store *s, const struct mlc_trail_filter *f, mlc_trail_fn fn,
                void *arg)
{
	/* the filters in the order of struct mlc_trail_filter's members */
	static const char *const colname[] = { "rule", "ts", "ts", "record_key", "alert_id",
	                                       "delivery_id", "recipient", "sid", "stage" };
	const char *val[9];
	struct mlc_buf sql;
	sqlite3_stmt *st;
	int i, nb = 0, rc;

	val[0] = f->rule;
	val[1] = f->since;
	val[2] = f->until;
	val[3] = f->record;
	val[4] = f->alert;
	val[5] = f->delivery;
	val[6] = f->recipient;
	val[7] = f->sid;
	val[8] = f->stage;
	mlc_buf_init(&sql);
	mlc_buf_adds(&sql, "SELECT " AUDIT_COLS " FROM audit");
	for (i = 0; i < 9; i++) {
		if (!val[i])
			continue;
		mlc_buf_adds(&sql, nb ? " AND " : " WHERE ");
		mlc_buf_printf(&sql, "%s %s ?%d", colname[i], i == 1 ? ">=" : i == 2 ? "<" : "=",
		               ++nb);
	}
	mlc_buf_adds(&sql, " ORDER BY id");
	if (f->limit >= 0)
		mlc_buf_printf(&sql, " LIMIT %ld", f->limit);
	rc = mlc_store_prepare(s, sql.p, &st);
	mlc_buf_free(&sql);
	if (rc < 0)
		return -1;
	for (i = 0, nb = 0; i < 9; i++)
		if (val[i])
			bind_text(st, ++nb, val[i]);
	return each_row(s, st, mlc_trail_audit_cols, fn, arg);
}

int
mlc_trail_why(struct mlc_store *s, const char *what, mlc_trail_fn fn, void *arg)
{
	static const char sql[] =
		"WITH direct AS (SELECT * FROM audit WHERE record_key = ?1 OR alert_id = ?1"
		"   OR delivery_id = ?1 OR sid = ?1"
		"   OR (recipient = ?1 AND stage IN ('opt_out', 'opt_in', 'help', 'inbound',"
		"   'acked', 'ack_unmatched'))),"
		" keys AS (SELECT record_key FROM direct WHERE record_key IS NOT NULL),"
		" alerts AS (SELECT alert_id FROM direct WHERE alert_id IS NOT NULL"
		"   UNION SELECT alert_id FROM audit WHERE record_key IN keys"
		"   AND alert_id IS NOT NULL),"
		" delivs AS (SELECT delivery_id FROM audit WHERE alert_id IN alerts"
		"   AND delivery_id IS NOT NULL UNION SELECT delivery_id FROM direct"
		"   WHERE delivery_id IS NOT NULL),"
		" sids AS (SELECT sid FROM audit WHERE (delivery_id IN delivs OR id IN"
		"   (SELECT id FROM direct)) AND sid IS NOT NULL)"
		" SELECT " AUDIT_COLS " FROM audit"
		" WHERE id IN (SELECT id FROM direct) OR record_key IN keys OR alert_id IN alerts"
		"  OR delivery_id IN delivs OR sid IN sids"
		/* a delivery not sent for an opt-out: how and when the person opted out, and in */
		"  OR (stage IN ('opt_out', 'opt_in') AND (recipient, channel) IN"
		"   (SELECT recipient, channel FROM audit WHERE delivery_id IN delivs"
		"   AND (stage = 'suppressed' OR error_code = 21610)))"
		" UNION ALL SELECT NULL, ms.ts, 'status:' || ms.source, NULL, NULL, NULL, NULL,"
		"  NULL, NULL, NULL, ms.sid, ms.status, ms.error_code, NULL, NULL, NULL"
		" FROM message_status ms WHERE ms.sid IN sids"
		" ORDER BY 2, 1 NULLS LAST";
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	bind_text(st, 1, what);
	return each_row(s, st, mlc_trail_audit_cols, fn, arg);
}

/*
 * replay's two statements share all but which line they hand out: the
 * latest row of each delivery (last) picks the delivery by its stage and
 * channel; the line is that row's own (--latest) or its queued line's.
 */
#define REPLAY_LAST \
	"WITH last AS (SELECT delivery_id, max(id) AS id FROM audit" \
	"  WHERE delivery_id IS NOT NULL" \
	"  GROUP BY delivery_id HAVING (?1 IS NULL OR max(rule) = ?1)" \
	"  AND (?2 IS NULL OR max(ts) >= ?2))"
#define REPLAY_COLS(t) \
	" SELECT trail_line(" t ".line, " t ".refs) AS line, " t ".id, " t ".rule, " t ".delivery_id, " t ".alert_id," \
	"  " t ".jde_table, " t ".record_key, " t ".recipient, " t ".channel" \
	" FROM last JOIN audit a ON a.id = last.id"
#define REPLAY_WHERE(t) \
	" WHERE instr(',' || ?3 || ',', ',' || a.stage || ',') > 0" \
	" AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || a.channel || ',') > 0)" \
	" AND " t ".line IS NOT NULL" \
	" AND NOT EXISTS (SELECT 1 FROM quarantine WHERE audit_id = " t ".id)" \
	" ORDER BY last.id"

int
mlc_trail_records(struct mlc_store *s, mlc_trail_fn fn, void *arg)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT max(rule) AS rule, max(jde_table) AS jde_table,"
	                         " record_key, count(*) AS rows FROM audit"
	                         " WHERE record_key IS NOT NULL GROUP BY record_key"
	                         " ORDER BY record_key", &st) < 0)
		return -1;
	return each_row(s, st, NULL, fn, arg);
}

int
mlc_trail_replay(struct mlc_store *s, int latest, const char *rule, const char *since,
                 const char *stages, const char *channels, mlc_trail_fn fn, void *arg)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, latest ?
	        REPLAY_LAST REPLAY_COLS("a") REPLAY_WHERE("a") :
	        REPLAY_LAST REPLAY_COLS("q")
	        " JOIN audit q ON q.id = (SELECT max(id) FROM audit WHERE"
	        "  delivery_id = last.delivery_id AND stage = 'queued')"
	        REPLAY_WHERE("q"), &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	bind_text(st, 2, since);
	bind_text(st, 3, stages);
	bind_text(st, 4, channels);
	return each_row(s, st, NULL, fn, arg);
}

int
mlc_trail_count_older(struct mlc_store *s, const char *cutoff, long long *n)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (mlc_store_prepare(s, "SELECT count(*) FROM audit WHERE ts < ?1", &st) < 0)
		return -1;
	bind_text(st, 1, cutoff);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		*n = (long long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * The one deliberate way rows leave the trail.  The trigger that makes the
 * trail append-only is dropped, the old rows deleted and the trigger
 * recreated (as migration v1 of store.c made it) in the caller's
 * transaction, and the deletion is itself recorded as an audit row.
 */
int
mlc_trail_retention(struct mlc_store *s, const char *cutoff, const char *ts, long long *n)
{
	const char *del[] = { cutoff };
	char detail[128];
	const char *note[] = { ts, detail };

	*n = 0;
	if (exec_text(s, "DROP TRIGGER audit_no_delete", 0, NULL) < 0 ||
	    exec_text(s, "DELETE FROM audit WHERE ts < ?1", 1, del) < 0)
		return -1;
	*n = (long long)sqlite3_changes(mlc_store_db(s));
	/* the pieces only rows older than the cutoff held (last_ts: the newest) */
	if (exec_text(s, "DROP TRIGGER trail_piece_no_delete", 0, NULL) < 0 ||
	    exec_text(s, "DELETE FROM trail_piece WHERE last_ts < ?1", 1, del) < 0 ||
	    exec_text(s, "CREATE TRIGGER trail_piece_no_delete BEFORE DELETE ON trail_piece"
	                 " BEGIN SELECT RAISE(ABORT, 'trail pieces are append-only'); END", 0,
	              NULL) < 0)
		return -1;
	snprintf(detail, sizeof detail, "deleted %lld rows older than %s", *n, cutoff);
	if (exec_text(s, "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	                 " BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END", 0,
	              NULL) < 0 ||
	    exec_text(s, "INSERT INTO audit (ts, stage, detail) VALUES (?1, 'retention', ?2)", 2,
	              note) < 0)
		return -1;
	return 0;
}

/* ---- table message_status: Twilio's and SendGrid's word, per (sid, status) ---- */

static const char ins_status_sql[] =
	"INSERT OR IGNORE INTO message_status (sid, status, error_code, ts, source)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";

int
mlc_trail_status_put(struct mlc_store *s, const char *sid, const char *status,
                     const long long *error_code, const char *ts, const char *source,
                     int *fresh)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_cached(s, ins_status_sql, &st) < 0)
		return -1;
	bind_text(st, 1, sid);
	bind_text(st, 2, status);
	if (error_code)
		sqlite3_bind_int64(st, 3, *error_code);
	bind_text(st, 4, ts);
	bind_text(st, 5, source);
	rc = mlc_store_step(s, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (fresh)
		*fresh = sqlite3_changes(mlc_store_db(s)) == 1;
	return 0;
}

/* ---- table run: the orchestrator's runs ---- */

int
mlc_trail_run(struct mlc_store *s, int begin, const char *rule, const char *run_id,
              const char *ts, const char *status, const char *detail)
{
	const char *row[] = { rule, run_id, ts, status, detail };
	char note[512];
	const char *audit[] = { ts, rule, begin ? "running" : status, note };

	snprintf(note, sizeof note, "run %s %s%s%s%s", run_id, begin ? "begins" : "ends: ",
	         begin ? "" : status, detail ? ": " : "", detail ? detail : "");
	if (exec_text(s, begin ? "INSERT INTO run (rule, run_id, started_at, status)"
	                         " VALUES (?1, ?2, ?3, 'running')" :
	                         "UPDATE run SET finished_at = ?3, status = ?4, detail = ?5"
	                         " WHERE rule = ?1 AND run_id = ?2",
	              begin ? 3 : 5, row) < 0 ||
	    exec_text(s, "INSERT INTO audit (ts, stage, rule, status, detail)"
	                 " VALUES (?1, 'run', ?2, ?3, ?4)", 4, audit) < 0)
		return -1;
	return 0;
}

/* A preview (ml-connector preview RULE): an audit row of stage "preview",
 * never a row of table run: it is not a run, and status, metrics and the
 * monitor's "last success" must not count it. */
int
mlc_trail_preview(struct mlc_store *s, const char *rule, const char *run_id, const char *ts,
                  const char *status, const char *detail)
{
	struct mlc_buf note;
	const char *audit[3];
	int rc;

	mlc_buf_init(&note);
	mlc_buf_printf(&note, "preview %s: %s%s%s", run_id, status, detail ? ": " : "",
	               detail ? detail : "");
	audit[0] = ts;
	audit[1] = rule;
	audit[2] = note.p;
	rc = exec_text(s, "INSERT INTO audit (ts, stage, rule, status, detail)"
	                  " VALUES (?1, 'preview', ?2, 'preview', ?3)", 3, audit);
	mlc_buf_free(&note);
	return rc < 0 ? -1 : 0;
}

int
mlc_trail_status(struct mlc_store *s, const char *rule, mlc_trail_fn fn, void *arg)
{
	static const char sql[] =
		"WITH strays AS (SELECT DISTINCT a.sid FROM audit a WHERE a.stage = 'stray'"
		"   AND NOT EXISTS (SELECT 1 FROM audit b WHERE b.sid = a.sid"
		"   AND b.delivery_id IS NOT NULL)),"
		" rules AS (SELECT DISTINCT rule FROM run WHERE ?1 IS NULL OR rule = ?1"
		"   UNION SELECT DISTINCT rule FROM audit WHERE delivery_id IS NOT NULL"
		"   AND rule IS NOT NULL AND (?1 IS NULL OR rule = ?1)"
		"   UNION SELECT DISTINCT coalesce(rule, '-') FROM quarantine"
		"   WHERE ?1 IS NULL OR rule = ?1"
		"   UNION SELECT '-' FROM strays WHERE ?1 IS NULL OR ?1 = '-'),"
		" lastrun AS (SELECT r.rule, r.run_id, r.started_at, r.finished_at, r.status,"
		"   r.detail FROM run r WHERE r.rowid = (SELECT rowid FROM run WHERE rule = r.rule"
		"   ORDER BY started_at DESC, rowid DESC LIMIT 1)),"
		" latest AS (SELECT m.rule, a.stage, coalesce(substr(a.alert_id, -9) = '/resolved',"
		"   0) AS resolved FROM audit a JOIN (SELECT delivery_id,"
		"   max(id) AS id, max(rule) AS rule FROM audit WHERE delivery_id IS NOT NULL"
		"   GROUP BY delivery_id) m ON a.id = m.id)"
		" SELECT rules.rule, lastrun.run_id, lastrun.started_at, lastrun.finished_at,"
		"  lastrun.status, lastrun.detail,"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage IN"
		"   ('sent','delivered','read') AND NOT resolved),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage IN"
		"   ('failed','undelivered','canceled')),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'unknown'),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'queued'),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'deferred'),"
		"  (SELECT count(*) FROM quarantine q WHERE coalesce(q.rule, '-') = rules.rule),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'in_doubt'),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'capped'),"
		"  CASE WHEN rules.rule = '-' THEN (SELECT count(*) FROM strays) ELSE 0 END,"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'suppressed'),"
		"  (SELECT count(*) FROM ack WHERE ack.rule = rules.rule),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage IN"
		"   ('sent','delivered','read') AND resolved),"
		"  (SELECT count(DISTINCT refused_to) FROM realert WHERE realert.rule = rules.rule"
		"   AND refused_to IS NOT NULL)"
		" FROM rules LEFT JOIN lastrun ON lastrun.rule = rules.rule ORDER BY rules.rule";
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	return each_row(s, st, mlc_trail_status_cols, fn, arg);
}

/* ---- table deferred: deliveries held by quiet hours (alert-render) ---- */

/*
 * Deferring the same delivery again keeps one row with the newest
 * rendering: a row already released stays until the trail shows its
 * release, and a new deferral of the same id must not revive the old line.
 */
int
mlc_trail_defer(struct mlc_store *s, const char *delivery_id, const char *rule,
                const char *to, const char *channel, const char *not_before, const char *line,
                size_t len)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "INSERT OR REPLACE INTO deferred (delivery_id, rule, recipient,"
	                         " channel, not_before, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                      &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, delivery_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, channel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, not_before, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, line, (int)len, SQLITE_TRANSIENT);
	return step_done(s, st);
}

int
mlc_trail_deferred_due(struct mlc_store *s, const char *rule, const char *now,
                       const char *after_nb, const char *after_id, int limit, mlc_trail_fn fn,
                       void *arg)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT delivery_id, line, recipient, not_before FROM deferred"
	                         " WHERE rule = ?1 AND not_before <= ?2"
	                         " AND (not_before, delivery_id) > (?3, ?4)"
	                         " ORDER BY not_before, delivery_id LIMIT ?5", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, after_nb, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, after_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 5, limit);
	return each_row(s, st, NULL, fn, arg);
}

int
mlc_trail_deferred_drop(struct mlc_store *s, const char *delivery_id)
{
	const char *v[] = { delivery_id };

	return exec_text(s, "DELETE FROM deferred WHERE delivery_id = ?1", 1, v);
}

/* ---- table quarantine: dead letters (alert-log) ---- */

/* The delivery, alert or record a line is about, else its bytes' hash:
 * a line refused again (a poisoned record every run reads) stays one row. */
static void
ident_of(const struct mlc_trail_qitem *q, const char *ts, char *out, size_t len)
{
	char hex[65];

	if (q->delivery_id)
		snprintf(out, len, "delivery:%s", q->delivery_id);
	else if (q->alert_id)
		snprintf(out, len, "alert:%s", q->alert_id);
	else if (q->key)
		snprintf(out, len, "record:%s|%s", q->table ? q->table : "", q->key);
	else if (q->line) {
		mlc_twsig_sha256_hex(q->line, q->len, hex);
		snprintf(out, len, "line:%s", hex);
	} else if (q->audit_id)
		snprintf(out, len, "audit:%lld", q->audit_id);
	else
		snprintf(out, len, "unread:%s:%s:%lu", q->run_id ? q->run_id : "", ts, q->lineno);
}

/*
 * A new row, or the row of the same rule and ident seen again, and the
 * event in the trail (stage "quarantined"; with the line's delivery id, so
 * that replay, which goes by a delivery's latest row, never hands it out
 * again).
 */
int
mlc_trail_quarantine_put(struct mlc_store *s, const struct mlc_trail_qitem *q, const char *ts,
                         long long *qid)
{
	sqlite3_stmt *st;
	char ident[1400], detail[1024];
	int i;

	ident_of(q, ts, ident, sizeof ident);
	*qid = 0;
	if (mlc_store_prepare(s, "SELECT id FROM quarantine WHERE rule IS ?1 AND ident = ?2",
	                      &st) < 0)
		return -1;
	bind_text(st, 1, q->rule);
	bind_text(st, 2, ident);
	if ((i = mlc_store_step(s, st)) == SQLITE_ROW)
		*qid = (long long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (i != SQLITE_ROW && i != SQLITE_DONE)
		return -1;
	if (mlc_store_prepare(s, *qid ?
	        "UPDATE quarantine SET last_ts = ?1, count = count + 1, run_id = ?3, origin = ?4,"
	        " lineno = ?5, delivery_id = ?7, alert_id = ?8, record_key = ?9, field = ?10,"
	        " reason = ?11, audit_id = ?12,"
	        " bytes = coalesce(?13, (SELECT length(CAST(trail_line(line, refs) AS BLOB)) FROM audit WHERE id = ?12)),"
	        " line = coalesce(?14, (SELECT CAST(trail_line(line, refs) AS BLOB) FROM audit WHERE id = ?12))"
	        " WHERE id = ?15" :
	        "INSERT INTO quarantine (first_ts, last_ts, rule, run_id, origin, lineno, ident,"
	        " delivery_id, alert_id, record_key, field, reason, audit_id, bytes, line)"
	        " VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	        " coalesce(?13, (SELECT length(CAST(trail_line(line, refs) AS BLOB)) FROM audit WHERE id = ?12)),"
	        " coalesce(?14, (SELECT CAST(trail_line(line, refs) AS BLOB) FROM audit WHERE id = ?12)))",
	        &st) < 0)
		return -1;
	bind_text(st, 1, ts);
	bind_text(st, 2, q->rule);
	bind_text(st, 3, q->run_id);
	bind_text(st, 4, q->origin);
	if (q->lineno)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)q->lineno);
	bind_text(st, 6, ident);
	bind_text(st, 7, q->delivery_id);
	bind_text(st, 8, q->alert_id);
	bind_text(st, 9, q->key);
	bind_text(st, 10, q->field && *q->field ? q->field : NULL);
	bind_text(st, 11, q->reason);
	if (q->audit_id)
		sqlite3_bind_int64(st, 12, q->audit_id);
	if (q->line) {
		sqlite3_bind_int64(st, 13, (sqlite3_int64)q->len);
		sqlite3_bind_blob(st, 14, q->len ? q->line : "", (int)q->len, SQLITE_STATIC);
	}
	if (*qid)
		sqlite3_bind_int64(st, 15, *qid);
	if (step_done(s, st) < 0)
		return -1;
	if (!*qid)
		*qid = (long long)sqlite3_last_insert_rowid(mlc_store_db(s));
	snprintf(detail, sizeof detail, "quarantine #%lld: %s", *qid, q->reason);
	{
		const char *v[] = { ts, q->rule, q->table, q->key, q->alert_id, q->delivery_id, q->to,
			            q->channel, detail };

		return exec_text(s, "INSERT INTO audit (ts, stage, rule, jde_table, record_key,"
		                    " alert_id, delivery_id, recipient, channel, detail)"
		                    " VALUES (?1, 'quarantined', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", 9, v);
	}
}

/* The rows quarantine list, count and drop go by: ?1 rule, ?2 run, ?3 id. */
#define Q_FILTER " WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR run_id = ?2)" \
                 " AND (?3 IS NULL OR id = ?3)"

static void
bind_q(sqlite3_stmt *st, const char *rule, const char *run_id, const char *id)
{
	bind_text(st, 1, rule);
	bind_text(st, 2, run_id);
	bind_text(st, 3, id);
}

int
mlc_trail_quarantine_list(struct mlc_store *s, const char *rule, const char *run_id,
                          const char *id, mlc_trail_fn fn, void *arg)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT id, first_ts, last_ts, count, rule, run_id, origin,"
	                         " lineno, delivery_id, alert_id, record_key, field, reason,"
	                         " audit_id, bytes, line FROM quarantine" Q_FILTER " ORDER BY id",
	                      &st) < 0)
		return -1;
	bind_q(st, rule, run_id, id);
	return each_row(s, st, mlc_trail_quarantine_cols, fn, arg);
}

int
mlc_trail_quarantine_count(struct mlc_store *s, const char *rule, const char *run_id,
                           long long *n)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (mlc_store_prepare(s, "SELECT count(*) FROM quarantine" Q_FILTER, &st) < 0)
		return -1;
	bind_q(st, rule, run_id, NULL);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		*n = (long long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
mlc_trail_quarantine_drop(struct mlc_store *s, const char *rule, const char *id,
                          const char *ts, const char *who,
                          void (*dropped)(long long id, void *arg), void *arg)
{
	sqlite3_stmt *st, *del;
	int rc;

	if (mlc_store_prepare(s, "SELECT id, rule, record_key, alert_id, delivery_id, reason"
	                         " FROM quarantine" Q_FILTER " ORDER BY id", &st) < 0)
		return -1;
	if (mlc_store_prepare(s, "DELETE FROM quarantine" Q_FILTER, &del) < 0) {
		sqlite3_finalize(st);
		return -1;
	}
	bind_q(st, rule, NULL, id);
	bind_q(del, rule, NULL, id);
	while ((rc = mlc_store_step(s, st)) == SQLITE_ROW) {
		char detail[1024];
		const char *v[6];

		snprintf(detail, sizeof detail, "quarantine #%lld dropped by %s: %s",
		         (long long)sqlite3_column_int64(st, 0), who,
		         (const char *)sqlite3_column_text(st, 5));
		v[0] = ts;
		v[1] = (const char *)sqlite3_column_text(st, 1);
		v[2] = (const char *)sqlite3_column_text(st, 2);
		v[3] = (const char *)sqlite3_column_text(st, 3);
		v[4] = (const char *)sqlite3_column_text(st, 4);
		v[5] = detail;
		if (exec_text(s, "INSERT INTO audit (ts, stage, rule, record_key, alert_id,"
		                 " delivery_id, detail) VALUES (?1, 'discarded', ?2, ?3, ?4, ?5, ?6)",
		              6, v) < 0) {
			rc = SQLITE_ERROR;
			break;
		}
		dropped((long long)sqlite3_column_int64(st, 0), arg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sqlite3_finalize(del);
		return -1;
	}
	return step_done(s, del);
}

/* ---- table realert: when an alert was last sent to a recipient (realert.c) ---- */

int
mlc_trail_realert_get(struct mlc_store *s, const char *rule, const char *key,
                      const char *recipient, struct mlc_trail_realert *row)
{
	sqlite3_stmt *st;
	int rc;

	memset(row, 0, sizeof *row);
	if (mlc_store_prepare(s, "SELECT last_sent, count, fingerprint, refused_to, refused_code,"
	                         " refused_at FROM realert"
	                         " WHERE rule = ?1 AND alert_key = ?2 AND recipient = ?3",
	                      &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		row->last_sent = col_dup(st, 0);
		row->count = (long)sqlite3_column_int64(st, 1);
		row->fingerprint = col_dup(st, 2);
		row->refused_to = col_dup(st, 3);
		row->refused_code = (long)sqlite3_column_int64(st, 4);
		row->refused_at = col_dup(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void
mlc_trail_realert_free(struct mlc_trail_realert *row)
{
	free(row->last_sent);
	free(row->fingerprint);
	free(row->refused_to);
	free(row->refused_at);
	memset(row, 0, sizeof *row);
}

int
mlc_trail_realert_mark(struct mlc_store *s, const char *rule, const char *key,
                       const char *recipient, const char *fingerprint, const char *sent_at)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s,
	                       "INSERT INTO realert (rule, alert_key, recipient, first_sent,"
	                       " last_sent, count, fingerprint) VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)"
	                       " ON CONFLICT (rule, alert_key, recipient) DO UPDATE SET"
	                       " first_sent = coalesce(first_sent, excluded.first_sent),"
	                       " last_sent = excluded.last_sent, count = count + 1,"
	                       " fingerprint = excluded.fingerprint,"
	                       " refused_to = NULL, refused_code = NULL, refused_at = NULL"
	                       " WHERE last_sent IS NOT excluded.last_sent"
	                       " OR fingerprint IS NOT excluded.fingerprint"
	                       " OR refused_to IS NOT NULL",
	                       &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sent_at, -1, SQLITE_STATIC);
	if (fingerprint)
		sqlite3_bind_text(st, 5, fingerprint, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	return step_done(s, st);
}

int
mlc_trail_realert_refuse(struct mlc_store *s, const char *rule, const char *key,
                         const char *recipient, const char *to, long code, const char *at)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s,
	                       "INSERT INTO realert (rule, alert_key, recipient, refused_to,"
	                       " refused_code, refused_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	                       " ON CONFLICT (rule, alert_key, recipient) DO UPDATE SET"
	                       " refused_to = excluded.refused_to,"
	                       " refused_code = excluded.refused_code,"
	                       " refused_at = coalesce(refused_at, excluded.refused_at)"
	                       " WHERE refused_to IS NOT excluded.refused_to"
	                       " OR refused_code IS NOT excluded.refused_code",
	                       &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, code);
	sqlite3_bind_text(st, 6, at, -1, SQLITE_STATIC);
	return step_done(s, st);
}

/* ---- table metric: the figures of alert-log metrics (Prometheus) ---- */

int
mlc_trail_metric_put(struct mlc_store *s, int gauge, const char *name, const char *rule,
                     const char *channel, const char *outcome, const char *system_,
                     double value, const char *ts)
{
	static const char add_sql[] =
		"INSERT INTO metric (name, kind, rule, channel, outcome, system, value, updated_at)"
		" VALUES (?1, 'counter', ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (name, rule, channel, outcome, system)"
		" DO UPDATE SET value = value + excluded.value, updated_at = excluded.updated_at";
	static const char set_sql[] =
		"INSERT INTO metric (name, kind, rule, channel, outcome, system, value, updated_at)"
		" VALUES (?1, 'gauge', ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (name, rule, channel, outcome, system)"
		" DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
	sqlite3_stmt *st;
	int rc;

	/* kept prepared: the tee counts every line it records */
	if (mlc_store_cached(s, gauge ? set_sql : add_sql, &st) < 0)
		return -1;
	bind_text(st, 1, name);
	bind_text(st, 2, rule ? rule : "");
	bind_text(st, 3, channel ? channel : "");
	bind_text(st, 4, outcome ? outcome : "");
	bind_text(st, 5, system_ ? system_ : "");
	sqlite3_bind_double(st, 6, value);
	bind_text(st, 7, ts);
	rc = mlc_store_step(s, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_metrics(struct mlc_store *s, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "name", "kind", "rule", "channel", "outcome",
		                            "system", "value" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT name, kind, rule, channel, outcome, system, value"
	                         " FROM metric ORDER BY name, rule, channel, outcome, system",
	                      &st) < 0)
		return -1;
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_run_times(struct mlc_store *s, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "rule", "started_at", "finished_at", "status",
		                            "last_ok" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s,
	        "SELECT r.rule, r.started_at, r.finished_at, r.status,"
	        " (SELECT max(o.finished_at) FROM run o WHERE o.rule = r.rule AND o.status = 'ok')"
	        " FROM run r WHERE r.rowid = (SELECT rowid FROM run WHERE rule = r.rule"
	        "  AND finished_at IS NOT NULL ORDER BY finished_at DESC, rowid DESC LIMIT 1)"
	        " ORDER BY r.rule", &st) < 0)
		return -1;
	return each_row(s, st, cols, fn, arg);
}

/* ---- tables inbound and optout: what recipients sent us (optout.c) ---- */

int
mlc_trail_inbound_put(struct mlc_store *s, const struct mlc_trail_inbound *m, int *fresh)
{
	const char *v[] = { m->sid, m->received_at, m->date_sent, m->ours, m->our_number,
	                    m->theirs, m->channel, m->body, m->keyword, m->source };

	/* MessageSid is the key: Twilio redelivers, and the poll sees it again */
	if (exec_text(s, "INSERT OR IGNORE INTO inbound (sid, received_at, date_sent, ours,"
	                 " our_number, theirs, channel, body, keyword, source)"
	                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", 10, v) < 0)
		return -1;
	*fresh = sqlite3_changes(mlc_store_db(s)) == 1;
	return 0;
}

int
mlc_trail_inbound_since(struct mlc_store *s, const char *our_number, char **out)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (mlc_store_prepare(s, "SELECT max(date_sent) FROM inbound WHERE our_number = ?1", &st) < 0)
		return -1;
	bind_text(st, 1, our_number);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		*out = col_dup(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? (*out ? 1 : 0) : -1;
}

int
mlc_trail_optout_set(struct mlc_store *s, const char *ours, const char *theirs, int out,
                     const char *since, const char *how, const char *sid)
{
	const char *v[] = { ours, theirs, out ? "1" : "0", since, how, sid };

	/* a message older than the row's (a late poll, webhooks out of order)
	 * does not undo a newer one */
	return exec_text(s, "INSERT INTO optout (ours, theirs, opted_out, since, how, sid)"
	                    " VALUES (?1, ?2, CAST(?3 AS INTEGER), ?4, ?5, ?6)"
	                    " ON CONFLICT (ours, theirs) DO UPDATE SET"
	                    " opted_out = excluded.opted_out, since = excluded.since,"
	                    " how = excluded.how, sid = excluded.sid"
	                    " WHERE excluded.since >= optout.since", 6, v);
}

int
mlc_trail_optout_get(struct mlc_store *s, const char *ours, const char *theirs,
                     struct mlc_trail_optout *row)
{
	sqlite3_stmt *st;
	int rc;

	memset(row, 0, sizeof *row);
	if (mlc_store_prepare(s, "SELECT since, how, sid FROM optout WHERE ours = ?1"
	                         " AND theirs = ?2 AND opted_out = 1", &st) < 0)
		return -1;
	bind_text(st, 1, ours);
	bind_text(st, 2, theirs);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		row->since = col_dup(st, 0);
		row->how = col_dup(st, 1);
		row->sid = col_dup(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void
mlc_trail_optout_free(struct mlc_trail_optout *row)
{
	free(row->since);
	free(row->how);
	free(row->sid);
	memset(row, 0, sizeof *row);
}

/* ---- tables monitor and monitor_notice: the connector's own health ---- */

/*
 * Per rule other than except (the monitor's own), what the monitor's
 * conditions are made of.  "In a row": failed runs that ended after the
 * last run that went through.  Unknown "after reconcile": deliveries
 * whose latest word is unknown and older than the start of the rule's last
 * finished run, whose reconcile saw them and could not settle them (an
 * e-mail cannot be looked up at all).  Refused: deliveries recorded failed
 * or undelivered while the rule's last finished run ran.
 */
int
mlc_trail_monitor_rules(struct mlc_store *s, const char *except, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "rule", "fails", "last_ok", "first_run", "status",
		                            "started_at", "finished_at", "unknown", "in_doubt",
		                            "refused", "quarantined" };
	static const char sql[] =
		"WITH rules AS (SELECT DISTINCT rule FROM run WHERE rule <> ?1),"
		" lastrun AS (SELECT r.rule, r.started_at, r.finished_at, r.status FROM run r"
		"   WHERE r.rowid = (SELECT rowid FROM run WHERE rule = r.rule"
		"   AND finished_at IS NOT NULL ORDER BY finished_at DESC, rowid DESC LIMIT 1)),"
		" lastok AS (SELECT rule, max(finished_at) AS at FROM run WHERE status = 'ok'"
		"   GROUP BY rule),"
		" latest AS (SELECT m.rule, a.stage, a.ts FROM audit a JOIN (SELECT delivery_id,"
		"   max(id) AS id, max(rule) AS rule FROM audit WHERE delivery_id IS NOT NULL"
		"   AND rule <> ?1 GROUP BY delivery_id) m ON a.id = m.id)"
		" SELECT rules.rule,"
		"  (SELECT count(*) FROM run f WHERE f.rule = rules.rule AND f.status = 'failed'"
		"   AND f.finished_at > coalesce(lastok.at, '')),"
		"  lastok.at,"
		"  (SELECT min(started_at) FROM run x WHERE x.rule = rules.rule),"
		"  lastrun.status, lastrun.started_at, lastrun.finished_at,"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'unknown'"
		"   AND latest.ts < lastrun.started_at),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'in_doubt'),"
		"  (SELECT count(*) FROM audit d WHERE d.rule = rules.rule"
		"   AND d.stage IN ('failed', 'undelivered') AND d.delivery_id IS NOT NULL"
		"   AND d.ts >= lastrun.started_at AND d.ts <= lastrun.finished_at),"
		"  (SELECT count(*) FROM quarantine q WHERE q.rule = rules.rule)"
		" FROM rules LEFT JOIN lastrun ON lastrun.rule = rules.rule"
		" LEFT JOIN lastok ON lastok.rule = rules.rule ORDER BY rules.rule";
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	bind_text(st, 1, except);
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_monitor_state(struct mlc_store *s, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "cond", "subject", "active", "since", "value",
		                            "told", "told_at", "notice" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT cond, subject, active, since, value, told, told_at,"
	                         " notice FROM monitor ORDER BY cond, subject", &st) < 0)
		return -1;
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_monitor_put(struct mlc_store *s, const struct mlc_trail_cond *c, const char *ts)
{
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "INSERT OR REPLACE INTO monitor (cond, subject, active, since,"
	                         " value, told, told_at, notice, updated_at)"
	                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st) < 0)
		return -1;
	bind_text(st, 1, c->cond);
	bind_text(st, 2, c->subject ? c->subject : "");
	sqlite3_bind_int(st, 3, c->active);
	bind_text(st, 4, c->since);
	bind_text(st, 5, c->value);
	sqlite3_bind_int(st, 6, c->told);
	bind_text(st, 7, c->told_at);
	bind_text(st, 8, c->notice);
	bind_text(st, 9, ts);
	return step_done(s, st);
}

int
mlc_trail_notice_put(struct mlc_store *s, const char *id, const char *kind, const char *line,
                     const char *ts)
{
	const char *v[] = { id, kind, ts, line };

	return exec_text(s, "INSERT OR IGNORE INTO monitor_notice (id, kind, created_at, line)"
	                    " VALUES (?1, ?2, ?3, ?4)", 4, v);
}

int
mlc_trail_notice_done(struct mlc_store *s, const char *id)
{
	const char *v[] = { id };

	return exec_text(s, "UPDATE monitor_notice SET done = 1 WHERE id = ?1", 1, v);
}

/* The notices whose deliveries are not yet all in the trail (done 0), then
 * (latest 1) the newest notice of kind notice or summary whatever its
 * state: columns id, kind, created_at, done, line, and recorded, the
 * delivery rows the trail holds of it. */
int
mlc_trail_notices(struct mlc_store *s, int latest, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "id", "kind", "created_at", "done", "line",
		                            "recorded" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, latest ?
	        "SELECT id, kind, created_at, done, line, (SELECT count(*) FROM audit a"
	        " WHERE a.alert_id = n.id AND a.delivery_id IS NOT NULL)"
	        " FROM monitor_notice n WHERE kind IN ('notice', 'summary')"
	        " ORDER BY created_at DESC, rowid DESC LIMIT 1" :
	        "SELECT id, kind, created_at, done, line, (SELECT count(*) FROM audit a"
	        " WHERE a.alert_id = n.id AND a.delivery_id IS NOT NULL)"
	        " FROM monitor_notice n WHERE done = 0 ORDER BY created_at, rowid", &st) < 0)
		return -1;
	return each_row(s, st, cols, fn, arg);
}

/* The deliveries of alert alert_id with the stage of their latest row:
 * columns delivery_id, channel, stage. */
int
mlc_trail_alert_deliveries(struct mlc_store *s, const char *alert_id, mlc_trail_fn fn,
                           void *arg)
{
	static const char *const cols[] = { "delivery_id", "channel", "stage" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT a.delivery_id, a.channel, a.stage FROM audit a"
	                         " WHERE a.id IN (SELECT max(id) FROM audit WHERE alert_id = ?1"
	                         " AND delivery_id IS NOT NULL GROUP BY delivery_id)"
	                         " ORDER BY a.delivery_id", &st) < 0)
		return -1;
	bind_text(st, 1, alert_id);
	return each_row(s, st, cols, fn, arg);
}

/* ---- table open_alert: alerts sent and not yet resolved ([resolved]) ---- */

int
mlc_trail_open_put(struct mlc_store *s, const char *rule, const char *key, const char *channel,
                   const char *to, const char *table, const char *alert_id,
                   const char *recipient, const char *sent_at)
{
	const char *const v[] = { rule, key, channel, to, table, alert_id, recipient, sent_at };

	/* the first send opens it; a re-alert of an open alert changes nothing */
	return exec_text(s, "INSERT OR IGNORE INTO open_alert (rule, alert_key, channel, to_addr,"
	                    " jde_table, alert_id, recipient, sent_at)"
	                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", 8, v);
}

int
mlc_trail_open_close(struct mlc_store *s, const char *rule, const char *key,
                     const char *channel, const char *to)
{
	const char *const v[] = { rule, key, channel, to };

	return exec_text(s, "DELETE FROM open_alert WHERE rule = ?1 AND alert_key = ?2"
	                    " AND channel = ?3 AND to_addr = ?4", 4, v);
}

int
mlc_trail_realert_forget(struct mlc_store *s, const char *rule, const char *key)
{
	const char *const v[] = { rule, key };

	return exec_text(s, "DELETE FROM realert WHERE rule = ?1 AND alert_key = ?2", 2, v);
}

int
mlc_trail_open_list(struct mlc_store *s, const char *rule, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "alert_key", "channel", "to_addr", "jde_table",
		                            "alert_id", "recipient", "sent_at", "line" };
	sqlite3_stmt *st;

	/* the alert's line as alert-match wrote it: its record, as it was */
	if (mlc_store_prepare(s,
	        "SELECT o.alert_key, o.channel, o.to_addr, o.jde_table, o.alert_id, o.recipient,"
	        " o.sent_at, (SELECT trail_line(a.line, a.refs) FROM audit a WHERE a.alert_id = o.alert_id"
	        "  AND a.stage = 'matched' AND a.delivery_id IS NULL ORDER BY a.id DESC LIMIT 1)"
	        " FROM open_alert o WHERE o.rule = ?1 ORDER BY o.alert_key, o.channel, o.to_addr",
	        &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	return each_row(s, st, cols, fn, arg);
}

/* ---- table ack: who acknowledged which alert, when and how (ack.c) ---- */

int
mlc_trail_ack_put(struct mlc_store *s, const struct mlc_trail_ack *a, int *fresh)
{
	char now[32];
	const char *v[11];

	mlc_time_now_text(now);
	v[0] = a->sid, v[1] = a->alert_id, v[2] = a->rule, v[3] = a->alert_key;
	v[4] = a->acked_at, v[5] = a->by, v[6] = a->ours, v[7] = a->how, v[8] = a->token;
	v[9] = now;
	/* (sid, alert_id) is the key: Twilio redelivers, and the poll sees it
	 * again; DO NOTHING, not OR IGNORE, which would also swallow a CHECK */
	if (exec_text(s, "INSERT INTO ack (sid, alert_id, rule, alert_key, acked_at,"
	                 " by_addr, ours, how, token, recorded_at)"
	                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	                 " ON CONFLICT (sid, alert_id) DO NOTHING", 10, v) < 0)
		return -1;
	*fresh = sqlite3_changes(mlc_store_db(s)) == 1;
	return 0;
}

/* The newest ack row sql selects with parameters p1, p2 and since (?3). */
static int
acked_row(struct mlc_store *s, const char *sql, const char *p1, const char *p2,
          const char *since, struct mlc_trail_acked *row)
{
	sqlite3_stmt *st;
	int rc;

	memset(row, 0, sizeof *row);
	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	bind_text(st, 1, p1);
	bind_text(st, 2, p2);
	bind_text(st, 3, since);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		row->alert_id = col_dup(st, 0);
		row->acked_at = col_dup(st, 1);
		row->by = col_dup(st, 2);
		row->how = col_dup(st, 3);
		row->token = col_dup(st, 4);
		row->sid = col_dup(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_ack_get(struct mlc_store *s, const char *alert_id, const char *since,
                  struct mlc_trail_acked *row)
{
	return acked_row(s, "SELECT alert_id, acked_at, by_addr, how, token, sid FROM ack"
	                    " WHERE alert_id = ?1 AND ?2 IS NULL AND (?3 IS NULL OR acked_at >= ?3)"
	                    " ORDER BY acked_at DESC, rowid DESC LIMIT 1",
	                 alert_id, NULL, since, row);
}

int
mlc_trail_ack_get_key(struct mlc_store *s, const char *rule, const char *key,
                      const char *since, struct mlc_trail_acked *row)
{
	return acked_row(s, "SELECT alert_id, acked_at, by_addr, how, token, sid FROM ack"
	                    " WHERE rule = ?1 AND alert_key = ?2 AND (?3 IS NULL OR acked_at >= ?3)"
	                    " ORDER BY acked_at DESC, rowid DESC LIMIT 1",
	                 rule, key, since, row);
}

void
mlc_trail_acked_free(struct mlc_trail_acked *row)
{
	free(row->alert_id);
	free(row->acked_at);
	free(row->by);
	free(row->how);
	free(row->token);
	free(row->sid);
	memset(row, 0, sizeof *row);
}

/* ---- table escalation: alerts whose [escalation] steps are still to come ---- */

int
mlc_trail_esc_open(struct mlc_store *s, const char *rule, const char *key, const char *alert_id,
                   const char *table, const char *steps, const char *started_at,
                   const char *next_at)
{
	const char *const v[] = { rule, key, alert_id, table, steps, started_at, next_at };

	/*
	 * The first send opens it; a re-alert of an alert still escalating
	 * changes nothing, and one whose steps are all taken (next_at NULL)
	 * starts them again: the alert went out again, unacknowledged.
	 */
	return exec_text(s, "INSERT INTO escalation (rule, alert_key, alert_id, jde_table, steps,"
	                    " started_at, step, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)"
	                    " ON CONFLICT (rule, alert_key) DO UPDATE SET alert_id = ?3,"
	                    " steps = ?5, started_at = ?6, step = 0, next_at = ?7"
	                    " WHERE escalation.next_at IS NULL", 7, v);
}

int
mlc_trail_esc_step(struct mlc_store *s, const char *rule, const char *key, int step,
                   const char *next_at)
{
	sqlite3_stmt *st;

	/* once per step: a delivery of a step already taken moves nothing */
	if (mlc_store_prepare(s, "UPDATE escalation SET step = ?3, next_at = ?4"
	                         " WHERE rule = ?1 AND alert_key = ?2 AND step < ?3", &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	bind_text(st, 2, key);
	sqlite3_bind_int(st, 3, step);
	bind_text(st, 4, next_at);
	return step_done(s, st);
}

int
mlc_trail_esc_stop(struct mlc_store *s, const char *rule, const char *key)
{
	const char *const v[] = { rule, key };

	return exec_text(s, "DELETE FROM escalation WHERE rule = ?1 AND alert_key = ?2", 2, v);
}

int
mlc_trail_esc_tries(struct mlc_store *s, const char *step_alert_id, long *n)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (mlc_store_prepare(s, "SELECT count(*) FROM audit WHERE alert_id = ?1"
	                         " AND stage = 'escalated' AND delivery_id IS NULL", &st) < 0)
		return -1;
	bind_text(st, 1, step_alert_id);
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
mlc_trail_esc_active(struct mlc_store *s, const char *rule, const char *key)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, "SELECT 1 FROM escalation WHERE rule = ?1 AND alert_key = ?2",
	                      &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	bind_text(st, 2, key);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_esc_due(struct mlc_store *s, const char *rule, const char *now, mlc_trail_fn fn,
                  void *arg)
{
	static const char *const cols[] = { "alert_key", "alert_id", "jde_table", "steps",
		                            "started_at", "step", "next_at", "line" };
	sqlite3_stmt *st;

	/*
	 * A step due, or a step's delivery held by quiet hours and due for
	 * release (which must not go out for an alert acknowledged or resolved
	 * meanwhile: the check comes first).  With the alert's matched line.
	 */
	if (mlc_store_prepare(s,
	        "SELECT e.alert_key, e.alert_id, e.jde_table, e.steps, e.started_at, e.step,"
	        " e.next_at, (SELECT trail_line(a.line, a.refs) FROM audit a WHERE a.alert_id = e.alert_id"
	        "  AND a.stage = 'matched' AND a.delivery_id IS NULL ORDER BY a.id DESC LIMIT 1)"
	        " FROM escalation e WHERE e.rule = ?1 AND (e.next_at <= ?2 OR EXISTS"
	        "  (SELECT 1 FROM deferred d WHERE d.rule = e.rule AND d.not_before <= ?2"
	        "   AND substr(d.delivery_id, 1, length(e.alert_id) + 4) = e.alert_id || '/esc'))"
	        " ORDER BY e.next_at, e.alert_key", &st) < 0)
		return -1;
	bind_text(st, 1, rule);
	bind_text(st, 2, now);
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_esc_of(struct mlc_store *s, const char *what, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "rule", "alert_key", "alert_id", "steps",
		                            "started_at", "step", "next_at" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, "SELECT rule, alert_key, alert_id, steps, started_at, step, next_at"
	                         " FROM escalation WHERE alert_key = ?1 OR alert_id = ?1"
	                         " ORDER BY rule, alert_key", &st) < 0)
		return -1;
	bind_text(st, 1, what);
	return each_row(s, st, cols, fn, arg);
}

/* ---- table reply_code: the codes printed in alerts' SMS (ack.c) ---- */

int
mlc_trail_code_of(struct mlc_store *s, const char *theirs, const char *alert_id, char **code)
{
	sqlite3_stmt *st;
	int rc;

	*code = NULL;
	if (mlc_store_prepare(s, "SELECT code FROM reply_code WHERE theirs = ?1 AND alert_id = ?2",
	                      &st) < 0)
		return -1;
	bind_text(st, 1, theirs);
	bind_text(st, 2, alert_id);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		*code = col_dup(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? (*code ? 1 : 0) : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_code_get(struct mlc_store *s, const char *theirs, const char *code,
                   struct mlc_trail_ids *ids)
{
	sqlite3_stmt *st;
	int rc;

	memset(ids, 0, sizeof *ids);
	if (mlc_store_prepare(s, "SELECT alert_id, rule, alert_key FROM reply_code"
	                         " WHERE theirs = ?1 AND code = ?2", &st) < 0)
		return -1;
	bind_text(st, 1, theirs);
	bind_text(st, 2, code);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		ids->alert_id = col_dup(st, 0);
		ids->rule = col_dup(st, 1);
		ids->key = col_dup(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_trail_codes_held(struct mlc_store *s, const char *theirs, const char *expired,
                     mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "code" };
	sqlite3_stmt *st;

	/* held: assigned since expired and not acknowledged since it was */
	if (mlc_store_prepare(s, "SELECT code FROM reply_code r WHERE theirs = ?1"
	                         " AND assigned_at >= ?2 AND NOT EXISTS (SELECT 1 FROM ack a"
	                         " WHERE a.alert_id = r.alert_id AND a.acked_at >= r.assigned_at)",
	                      &st) < 0)
		return -1;
	bind_text(st, 1, theirs);
	bind_text(st, 2, expired);
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_code_put(struct mlc_store *s, const char *theirs, const char *code,
                   const char *alert_id, const char *rule, const char *key, const char *at)
{
	const char *const v[] = { theirs, code, alert_id, rule, key, at };

	/* replaces the row of a code set free (acknowledged, expired) */
	return exec_text(s, "INSERT OR REPLACE INTO reply_code (theirs, code, alert_id, rule,"
	                    " alert_key, assigned_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", 6, v);
}

int
mlc_trail_in_doubt_to(struct mlc_store *s, const char *number, const char *after_alert,
                      const char *since, mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "delivery_id", "alert_id", "stage", "ts" };
	sqlite3_stmt *st;

	/* a delivery whose latest row is queued or unknown: handed to Twilio
	 * (or about to be), its outcome not recorded */
	if (mlc_store_prepare(s,
	        "SELECT a.delivery_id, a.alert_id, a.stage, a.ts FROM audit a"
	        " WHERE a.recipient IN (?1, 'whatsapp:' || ?1) AND a.stage IN ('queued', 'unknown')"
	        " AND a.ts >= ?3 AND a.alert_id IS NOT NULL AND a.record_key IS NOT NULL"
	        " AND a.alert_id NOT LIKE '%/resolved' AND a.delivery_id IS NOT NULL"
	        " AND a.id > coalesce((SELECT max(c.id) FROM audit c WHERE c.stage = 'sent'"
	        "  AND c.alert_id = ?2 AND c.recipient IN (?1, 'whatsapp:' || ?1)), 0)"
	        " AND a.id = (SELECT max(b.id) FROM audit b WHERE b.delivery_id = a.delivery_id)"
	        " ORDER BY a.id DESC LIMIT 1", &st) < 0)
		return -1;
	bind_text(st, 1, number);
	bind_text(st, 2, after_alert);
	bind_text(st, 3, since);
	return each_row(s, st, cols, fn, arg);
}

int
mlc_trail_sent_alerts(struct mlc_store *s, const char *number, const char *channel, int latest,
                      mlc_trail_fn fn, void *arg)
{
	static const char *const cols[] = { "alert_id", "rule", "jde_table", "record_key", "ts" };
	sqlite3_stmt *st;

	if (mlc_store_prepare(s, latest ?
	        "SELECT alert_id, rule, jde_table, record_key, ts FROM audit"
	        " WHERE stage = 'sent' AND recipient IN (?1, 'whatsapp:' || ?1)"
	        " AND (?2 IS NULL OR channel = ?2) AND alert_id IS NOT NULL"
	        " AND record_key IS NOT NULL AND alert_id NOT LIKE '%/resolved'"
	        " ORDER BY id DESC LIMIT 1" :
	        "SELECT alert_id, max(rule), max(jde_table), max(record_key), max(ts) FROM audit"
	        " WHERE stage = 'sent' AND recipient IN (?1, 'whatsapp:' || ?1)"
	        " AND (?2 IS NULL OR channel = ?2) AND alert_id IS NOT NULL"
	        " AND record_key IS NOT NULL AND alert_id NOT LIKE '%/resolved'"
	        " GROUP BY alert_id ORDER BY max(id) DESC", &st) < 0)
		return -1;
	bind_text(st, 1, number);
	bind_text(st, 2, channel);
	return each_row(s, st, cols, fn, arg);
}
