/*
 * alert-log — the audit trail: a tee that records every line durably before
 * passing it on, and the queries an auditor runs over the trail.
 *
 * usage: alert-log [-d STATEDIR] [-s STAGE] [-b N]          (tee)
 *        alert-log query [filters] [-f ndjson|csv|text] [--lines]
 *        alert-log why WHAT [-f ndjson|text]
 *        alert-log replay [--rule R] [--since T] [--status LIST]
 *        alert-log retention --older-than DAYS [--dry-run]
 *
 * Tee: stdin NDJSON lines, each recorded in the audit table with the stage
 * it shows (fetched, matched, suppressed, queued, deferred, dropped,
 * capped, sent, failed, unknown, delivered, ... see stage_of()), then
 * copied to stdout unchanged.  Lines are recorded in groups: as many as
 * are already buffered (at most -b, default 256) go in one transaction, and
 * only after COMMIT returns are they written out.  So a line on stdout is
 * always in the trail, and a crash at any point loses nothing that was
 * forwarded.  A lock on the database held by another process (a backup,
 * an operator's sqlite3 shell) is waited for, however long, with a note on
 * stderr (store.c): a line read is a line recorded.  If the database
 * cannot be written (I/O error, full disk, damaged file), nothing more is
 * forwarded: the pipeline stops before anything it cannot record is sent.
 * A result line that says a message was accepted by Twilio or SendGrid
 * also marks the re-alert index and the message status history.
 *
 * Exit status: 0; 64 usage; 65 a line was not JSON (it was still recorded
 * and passed on); 66 why found nothing; 74 write error on stdout, or the
 * database failed; 78 configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mlc.h"

static const char usage[] =
	"usage: alert-log [-d STATEDIR] [-s STAGE] [-b N]\n"
	"       alert-log query [--rule R] [--since T] [--until T] [--record KEY]\n"
	"                       [--alert ID] [--delivery ID] [--recipient TO] [--sid SID]\n"
	"                       [--stage S] [--limit N] [--lines] [-f ndjson|csv|text]\n"
	"       alert-log why KEY|ALERT_ID|DELIVERY_ID|SID [-f ndjson|text]\n"
	"       alert-log replay [--rule R] [--since T] [--status failed,unknown]\n"
	"                        [--channel sms,whatsapp,email] [--latest]\n"
	"       alert-log retention --older-than DAYS [--dry-run]\n"
	"       alert-log status [RULE] [-f text|ndjson|csv]\n"
	"       alert-log run begin RULE RUN_ID | run end RULE RUN_ID STATUS [DETAIL]\n"
	"Records NDJSON lines in the audit trail, then copies them to stdout.\n";

static struct mlc_store *store;
static const char *statedir;

static void
open_store(void)
{
	char err[512];
	int code;

	if (!(store = mlc_store_open(mlc_store_dir(statedir), err, sizeof err, &code)))
		mlc_die(code, "%s", err);
}

/* ---- reading fields of a line (jv consumes; see STYLE.md) ---- */

static jv
field(jv obj, const char *name)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(name));
}

/* A string member, or NULL; the result is copied into buf. */
static const char *
sfield(jv obj, const char *name, char *buf, size_t len)
{
	jv v = field(obj, name);
	const char *r = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		snprintf(buf, len, "%s", jv_string_value(v));
		r = buf;
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		snprintf(buf, len, "%.17g", jv_number_value(v));
		r = buf;
	}
	jv_free(v);
	return r;
}

static int
has(jv obj, const char *name)
{
	jv v = field(obj, name);
	int k = jv_get_kind(v);

	jv_free(v);
	return k != JV_KIND_INVALID && k != JV_KIND_NULL && k != JV_KIND_FALSE;
}

/*
 * The stage a line shows.  Lines are self-describing: each stage adds its
 * own members (SPEC wire format), so the most downstream member wins.
 */
static const char *
stage_of(jv o, const char *status, char *buf, size_t len)
{
	char ev[32];

	if (sfield(o, "event", ev, sizeof ev) && strcmp(ev, "status") == 0 && status) {
		snprintf(buf, len, "%s", status);
		return buf;
	}
	if (has(o, "suppressed"))
		return "suppressed";
	if (has(o, "deferred"))
		return "deferred";
	if (has(o, "dropped"))
		return "dropped";
	if (has(o, "capped"))
		return "capped";
	if (status && has(o, "delivery_id")) {
		/*
		 * A result of twilio-send.  Whatever status Twilio reports by the
		 * time we see it (a reconciled message may already be delivered,
		 * or undelivered), the message was accepted: the stage is "sent",
		 * the status column keeps Twilio's word.  Only these were not.
		 */
		if (!strcmp(status, "failed") || !strcmp(status, "unknown") ||
		    !strcmp(status, "canceled")) {
			snprintf(buf, len, "%s", status);
			return buf;
		}
		return "sent";
	}
	if (has(o, "delivery_id"))
		return "queued";
	if (has(o, "storm"))
		return "storm";
	if (has(o, "alert_id"))
		return "matched";
	if (has(o, "row") && has(o, "table"))
		return "fetched";
	return "other";
}

/* ---- tee ---- */

struct pending {
	struct mlc_buf lines; /* the batch, '\n'-separated */
	size_t n;
};

static sqlite3_stmt *ins_audit, *ins_status;

static void
prepare(void)
{
	if (mlc_store_prepare(store,
	        "INSERT INTO audit (ts, stage, rule, jde_table, record_key, alert_id,"
	        " delivery_id, recipient, channel, sid, status, error_code, attempt, detail,"
	        " line) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
	        &ins_audit) < 0 ||
	    mlc_store_prepare(store,
	        "INSERT OR IGNORE INTO message_status (sid, status, error_code, ts, source)"
	        " VALUES (?1, ?2, ?3, ?4, ?5)", &ins_status) < 0) {
		mlc_store_warn(store, "preparing statements");
		mlc_util_exit(mlc_store_code(store));
	}
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Run one statement with text (or NULL) parameters ?1..?n: 0, or -1. */
static int
exec_text(const char *sql, int n, const char *const v[])
{
	sqlite3_stmt *st;
	int i, rc;

	if (mlc_store_prepare(store, sql, &st) < 0)
		return -1;
	for (i = 0; i < n; i++)
		bind_text(st, i + 1, v[i]);
	rc = mlc_store_step(store, st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The re-alert id of a delivery's recipient, as alert-match checks it. */
static const char *
recipient_id(jv o, const char *to, const char *chan, char *buf, size_t len)
{
	char an8[64], idb[448];
	jv rcp = field(o, "recipient");
	const char *id = sfield(rcp, "id", idb, sizeof idb);

	if (!id && sfield(rcp, "an8", an8, sizeof an8)) {
		snprintf(idb, sizeof idb, "an8:%s", an8);
		id = idb;
	}
	jv_free(rcp);
	/* re-alert is per recipient and channel (realert.c) */
	snprintf(buf, len, "%s/%s", id ? id : to, chan[0] ? chan : "sms");
	return buf;
}

/*
 * A sent digest stands for every alert it lists: mark each (its key and
 * fingerprint ride beside alert_ids), or the alerts of a digest-only rule
 * would be sent again every run.
 */
static int
mark_digest(jv o, const char *rule, const char *to, const char *chan, const char *ts)
{
	char rid[512], at[64];
	const char *id = recipient_id(o, to, chan, rid, sizeof rid);
	const char *when = sfield(o, "sent_at", at, sizeof at) ? at : ts;
	jv keys = field(o, "keys"), fps = field(o, "fingerprints");
	int i, n, rc = 0;

	n = jv_get_kind(keys) == JV_KIND_ARRAY ? jv_array_length(jv_copy(keys)) : 0;
	for (i = 0; i < n && rc == 0; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		jv f = jv_get_kind(fps) == JV_KIND_ARRAY ? jv_array_get(jv_copy(fps), i) : jv_null();

		if (jv_get_kind(k) == JV_KIND_STRING)
			rc = mlc_realert_mark(store, rule, jv_string_value(k), id,
			                      jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : NULL,
			                      when);
		jv_free(k);
		jv_free(f);
	}
	jv_free(keys);
	jv_free(fps);
	return rc;
}

/* Record one line; 0, or -1 on a database error (already reported). */
static int
record(const char *line, size_t len, const char *force_stage, const char *ts, int *bad)
{
	char rule[256], table[64], key[512], alert[1024], deliv[1200], to[512], chan[32],
	    sid[128], status[64], detail[512], stagebuf[64], fp[512];
	const char *stage, *st, *sidp;
	jv o = jv_parse_sized(line, (int)len), err;
	long errcode = 0, attempt = 0;
	int haveerr = 0, haveatt = 0, rc;

	/* a field the line lacks is empty, not stale */
	rule[0] = table[0] = key[0] = alert[0] = deliv[0] = to[0] = chan[0] = '\0';
	if (!jv_is_valid(o) || jv_get_kind(o) != JV_KIND_OBJECT) {
		*bad = 1;
		jv_free(o);
		o = jv_object();
	}
	st = sfield(o, "status", status, sizeof status);
	stage = force_stage ? force_stage : (*bad ? "invalid" : stage_of(o, st, stagebuf,
	                                                               sizeof stagebuf));
	sidp = sfield(o, "sid", sid, sizeof sid);
	if (!sidp)
		sidp = sfield(o, "message_id", sid, sizeof sid);
	err = field(o, "error");
	detail[0] = '\0';
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		jv c = field(err, "code");

		if (jv_get_kind(c) == JV_KIND_NUMBER) {
			errcode = (long)jv_number_value(c);
			haveerr = 1;
		}
		jv_free(c);
		sfield(err, "message", detail, sizeof detail);
	} else if (jv_get_kind(o) == JV_KIND_OBJECT) {
		jv c = field(o, "error_code");

		if (jv_get_kind(c) == JV_KIND_NUMBER) {
			errcode = (long)jv_number_value(c);
			haveerr = 1;
		}
		jv_free(c);
	}
	jv_free(err);
	{
		jv a = field(o, "attempts");

		if (jv_get_kind(a) == JV_KIND_NUMBER) {
			attempt = (long)jv_number_value(a);
			haveatt = 1;
		}
		jv_free(a);
	}
	if (!detail[0]) {
		jv sup = field(o, "suppressed");

		if (jv_get_kind(sup) == JV_KIND_OBJECT)
			sfield(sup, "reason", detail, sizeof detail);
		jv_free(sup);
		if (!detail[0])
			sfield(o, "dropped", detail, sizeof detail);
	}
	sqlite3_reset(ins_audit);
	sqlite3_clear_bindings(ins_audit);
	bind_text(ins_audit, 1, ts);
	bind_text(ins_audit, 2, stage);
	bind_text(ins_audit, 3, sfield(o, "rule", rule, sizeof rule));
	bind_text(ins_audit, 4, sfield(o, "table", table, sizeof table));
	bind_text(ins_audit, 5, sfield(o, "key", key, sizeof key));
	bind_text(ins_audit, 6, sfield(o, "alert_id", alert, sizeof alert));
	bind_text(ins_audit, 7, sfield(o, "delivery_id", deliv, sizeof deliv));
	bind_text(ins_audit, 8, sfield(o, "to", to, sizeof to));
	bind_text(ins_audit, 9, sfield(o, "channel", chan, sizeof chan));
	bind_text(ins_audit, 10, sidp);
	bind_text(ins_audit, 11, st);
	if (haveerr)
		sqlite3_bind_int64(ins_audit, 12, errcode);
	if (haveatt)
		sqlite3_bind_int64(ins_audit, 13, attempt);
	bind_text(ins_audit, 14, detail[0] ? detail : NULL);
	sqlite3_bind_text(ins_audit, 15, line, (int)len, SQLITE_TRANSIENT);
	rc = mlc_store_step(store, ins_audit);
	if (rc != SQLITE_DONE)
		goto dberr;
	if (sidp && st && (has(o, "delivery_id") || has(o, "event"))) {
		char src[16];

		snprintf(src, sizeof src, "%s", has(o, "event") ? "poll" : "send");
		sqlite3_reset(ins_status);
		bind_text(ins_status, 1, sidp);
		bind_text(ins_status, 2, st);
		if (haveerr)
			sqlite3_bind_int64(ins_status, 3, errcode);
		else
			sqlite3_bind_null(ins_status, 3);
		bind_text(ins_status, 4, ts);
		bind_text(ins_status, 5, src);
		if (mlc_store_step(store, ins_status) != SQLITE_DONE)
			goto dberr;
	}
	/*
	 * The re-alert index is marked only here, when Twilio or SendGrid has
	 * accepted a message, never when an alert merely matched: a run that
	 * dies before sending must send again on the next run.  The recipient
	 * id is the one alert-match checks (realert.c): the recipient's "id",
	 * else "an8:N", else the address, then "/" and the channel.  sent_at,
	 * when the line has it, makes a replayed line mark nothing new.
	 */
	if (!force_stage && strcmp(stage, "sent") == 0 && rule[0] && to[0] && has(o, "digest")) {
		if (mark_digest(o, rule, to, chan, ts) < 0) {
			jv_free(o);
			return -1;
		}
	} else if (!force_stage && strcmp(stage, "sent") == 0 && key[0] && rule[0] && to[0]) {
		char rid[512], at[64];
		jv fpv = field(o, "fingerprint");
		const char *id = recipient_id(o, to, chan, rid, sizeof rid);
		const char *rk = sfield(o, "realert_key", alert, sizeof alert);

		if (jv_get_kind(fpv) == JV_KIND_STRING) {
			snprintf(fp, sizeof fp, "%s", jv_string_value(fpv));
		} else if (jv_is_valid(fpv) && jv_get_kind(fpv) != JV_KIND_NULL) {
			jv d = jv_dump_string(jv_copy(fpv), 0);

			snprintf(fp, sizeof fp, "%s", jv_string_value(d));
			jv_free(d);
		} else {
			fp[0] = '\0';
		}
		jv_free(fpv);
		if (mlc_realert_mark(store, rule, rk ? rk : key, id, fp[0] ? fp : NULL,
		                     sfield(o, "sent_at", at, sizeof at) ? at : ts) < 0) {
			jv_free(o);
			return -1;
		}
	}
	jv_free(o);
	return 0;
dberr:
	jv_free(o);
	mlc_store_warn(store, "recording a line");
	return -1;
}

/* A group of lines read, to be recorded in one transaction. */
struct batch {
	struct mlc_buf out;       /* the lines, each with its '\n' */
	unsigned long *lineno;    /* input line number of each */
	unsigned char *bad;       /* set by record: not a JSON object */
	size_t n;
	const char *force_stage;
};

/* mlc_store_tx's fn: record every line of the batch (may run again). */
static int
record_batch(struct mlc_store *s, void *arg)
{
	struct batch *b = arg;
	struct timespec now;
	char ts[32];
	size_t i, off = 0;

	(void)s;
	for (i = 0; i < b->n; i++) {
		const char *l = b->out.p + off, *nl = memchr(l, '\n', b->out.len - off);
		size_t len = (size_t)(nl - l);
		int bad = 0;

		mlc_time_now(&now);
		mlc_time_fmt(ts, &now);
		if (record(l, len, b->force_stage, ts, &bad) < 0)
			return -1;
		b->bad[i] = (unsigned char)bad;
		off += len + 1;
	}
	return 0;
}

static int
tee(const char *force_stage, size_t batchmax)
{
	struct mlc_ndjson_reader *r = mlc_ndjson_open(stdin, "-", 0);
	struct batch b;
	char *line, what[96];
	size_t len, i;
	int k, rc = MLC_EX_OK, c;

	open_store();
	prepare();
	mlc_buf_init(&b.out);
	b.lineno = mlc_xcalloc(batchmax, sizeof *b.lineno);
	b.bad = mlc_xcalloc(batchmax, 1);
	b.force_stage = force_stage;
	for (;;) {
		int eof = 0;

		/* Block for the first line of a group, then take what is buffered. */
		b.n = 0;
		mlc_buf_reset(&b.out);
		while (b.n < batchmax && (b.n == 0 || mlc_ndjson_pending(r))) {
			k = mlc_ndjson_read(r, &line, &len);
			if (k == 0) {
				eof = 1;
				break;
			}
			if (k < 0) {
				if (mlc_ndjson_error(r) == MLC_EX_IOERR) {
					eof = 1;
					rc = MLC_EX_IOERR;
					break;
				}
				rc = MLC_EX_DATAERR;
				continue;
			}
			b.lineno[b.n] = mlc_ndjson_lineno(r);
			mlc_buf_add(&b.out, line, len);
			mlc_buf_addc(&b.out, '\n');
			b.n++;
		}
		if (b.n > 0) {
			snprintf(what, sizeof what, "record %zu line%s in the audit trail", b.n,
			         b.n == 1 ? "" : "s");
			if ((c = mlc_store_tx(store, what, record_batch, &b)) != 0) {
				rc = c;
				goto out;
			}
			for (i = 0; i < b.n; i++)
				if (b.bad[i]) {
					mlc_warn("line %lu: not a JSON object; recorded as stage \"invalid\"",
					         b.lineno[i]);
					rc = MLC_EX_DATAERR;
				}
			/* Recorded: now, and only now, pass the lines on. */
			if (mlc_ndjson_write(1, b.out.p, b.out.len) < 0) {
				mlc_warn("write error on stdout: %s", strerror(errno));
				rc = MLC_EX_IOERR;
				goto out;
			}
		}
		if (eof)
			break;
	}
out:
	if (rc == MLC_EX_SOFTWARE)
		rc = MLC_EX_IOERR;
	mlc_buf_free(&b.out);
	free(b.lineno);
	free(b.bad);
	mlc_ndjson_close(r);
	sqlite3_finalize(ins_audit);
	sqlite3_finalize(ins_status);
	mlc_store_close(store);
	return rc;
}

/* ---- queries ---- */

enum fmt { F_NDJSON, F_CSV, F_TEXT };

static const char *const cols[] = {
	"id", "ts", "stage", "rule", "jde_table", "record_key", "alert_id", "delivery_id",
	"recipient", "channel", "sid", "status", "error_code", "attempt", "detail", "line"
};
#define NCOLS 16

static void
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

static int
emit_row(sqlite3_stmt *st, enum fmt f, int lines, struct mlc_buf *b)
{
	int i, ncols = lines ? NCOLS : NCOLS - 1, first = 1;

	mlc_buf_reset(b);
	if (f == F_NDJSON)
		mlc_buf_addc(b, '{');
	for (i = 0; i < ncols; i++) {
		const char *v = (const char *)sqlite3_column_text(st, i);
		int type = sqlite3_column_type(st, i);

		if (f == F_NDJSON) {
			if (type == SQLITE_NULL)
				continue;
			if (!first)
				mlc_buf_addc(b, ',');
			first = 0;
			mlc_buf_json_str(b, cols[i], strlen(cols[i]));
			mlc_buf_addc(b, ':');
			if (type == SQLITE_INTEGER)
				mlc_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
			else
				mlc_buf_json_str(b, v, (size_t)sqlite3_column_bytes(st, i));
		} else if (f == F_CSV) {
			if (i)
				mlc_buf_addc(b, ',');
			csv_field(b, v);
		} else {
			/* text: the timeline columns an auditor reads first */
			static const int show[] = { 1, 2, 3, 5, 8, 9, 10, 11, 12, 14 };
			size_t k;

			if (i)
				continue;
			for (k = 0; k < sizeof show / sizeof show[0]; k++) {
				const char *t = (const char *)sqlite3_column_text(st, show[k]);

				if (!t)
					continue;
				if (k)
					mlc_buf_addc(b, k == 1 ? ' ' : ' ');
				if (show[k] == 12)
					mlc_buf_adds(b, "error ");
				mlc_buf_printf(b, k == 1 ? "%-11s" : "%s", t);
			}
		}
	}
	if (f == F_NDJSON)
		mlc_buf_addc(b, '}');
	if (mlc_ndjson_put(1, b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static enum fmt
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

static int
run_select(const char *sql, const char *const *binds, int nb, enum fmt f, int lines,
           long *count)
{
	sqlite3_stmt *st;
	struct mlc_buf b;
	int i, rc;

	mlc_store_doing(store, "read the audit trail");
	if (mlc_store_prepare(store, sql, &st) < 0) {
		mlc_store_warn(store, "query");
		return mlc_store_code(store);
	}
	for (i = 0; i < nb; i++)
		bind_text(st, i + 1, binds[i]);
	mlc_buf_init(&b);
	if (f == F_CSV) {
		for (i = 0; i < (lines ? NCOLS : NCOLS - 1); i++) {
			if (i)
				mlc_buf_addc(&b, ',');
			mlc_buf_adds(&b, cols[i]);
		}
		if (mlc_ndjson_put(1, &b) < 0) {
			mlc_warn("write error on stdout: %s", strerror(errno));
			sqlite3_finalize(st);
			mlc_buf_free(&b);
			return MLC_EX_IOERR;
		}
	}
	while ((rc = mlc_store_step(store, st)) == SQLITE_ROW) {
		if (emit_row(st, f, lines, &b) < 0) {
			sqlite3_finalize(st);
			mlc_buf_free(&b);
			return MLC_EX_IOERR;
		}
		(*count)++;
	}
	mlc_buf_free(&b);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(store, "query");
		rc = mlc_store_code(store);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return MLC_EX_OK;
}

static const char select_cols[] =
	"SELECT id, ts, stage, rule, jde_table, record_key, alert_id, delivery_id,"
	" recipient, channel, sid, status, error_code, attempt, detail, line FROM audit";

static int
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
	static const char *const colname[] = { "rule", "ts", "ts", "record_key", "alert_id",
	                                       "delivery_id", "recipient", "sid", "stage" };
	static const char ops[] = "rSUkaDtis";
	const char *val[9] = { 0 }, *binds[9];
	struct mlc_buf sql;
	enum fmt f = F_NDJSON;
	int c, i, nb = 0, lines = 0, rc;
	long limit = -1, count = 0;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "f:", lo, NULL)) != -1) {
		const char *p = strchr(ops, c);

		if (p && c) {
			val[p - ops] = optarg;
			continue;
		}
		switch (c) {
		case 'n': limit = strtol(optarg, NULL, 10); break;
		case 'L': lines = 1; break;
		case 'f': f = parse_fmt(optarg); break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	for (i = 1; i <= 2; i++) {
		struct timespec t;

		if (val[i] && mlc_time_parse(val[i], &t) < 0 &&
		    !(strlen(val[i]) == 10 && val[i][4] == '-' && val[i][7] == '-'))
			mlc_die(MLC_EX_USAGE, "--%s: expected RFC 3339 time or YYYY-MM-DD",
			        i == 1 ? "since" : "until");
	}
	mlc_buf_init(&sql);
	mlc_buf_adds(&sql, select_cols);
	for (i = 0; i < 9; i++) {
		if (!val[i])
			continue;
		mlc_buf_adds(&sql, nb ? " AND " : " WHERE ");
		mlc_buf_printf(&sql, "%s %s ?%d", colname[i], i == 1 ? ">=" : i == 2 ? "<" : "=",
		               nb + 1);
		binds[nb++] = val[i];
	}
	mlc_buf_adds(&sql, " ORDER BY id");
	if (limit >= 0)
		mlc_buf_printf(&sql, " LIMIT %ld", limit);
	open_store();
	rc = run_select(sql.p, binds, nb, f, lines, &count);
	mlc_buf_free(&sql);
	mlc_store_close(store);
	return rc;
}

/*
 * why: everything the trail knows about a record, alert, delivery or
 * message: rows naming it directly, then every row of the alerts and
 * deliveries those rows belong to, and the message status history of their
 * SIDs, in time order.
 */
static int
cmd_why(int argc, char **argv)
{
	static const char sql[] =
		"WITH direct AS (SELECT * FROM audit WHERE record_key = ?1 OR alert_id = ?1"
		"   OR delivery_id = ?1 OR sid = ?1),"
		" keys AS (SELECT record_key FROM direct WHERE record_key IS NOT NULL),"
		" alerts AS (SELECT alert_id FROM direct WHERE alert_id IS NOT NULL"
		"   UNION SELECT alert_id FROM audit WHERE record_key IN keys"
		"   AND alert_id IS NOT NULL),"
		" delivs AS (SELECT delivery_id FROM audit WHERE alert_id IN alerts"
		"   AND delivery_id IS NOT NULL UNION SELECT delivery_id FROM direct"
		"   WHERE delivery_id IS NOT NULL),"
		" sids AS (SELECT sid FROM audit WHERE (delivery_id IN delivs OR id IN"
		"   (SELECT id FROM direct)) AND sid IS NOT NULL)"
		" SELECT id, ts, stage, rule, jde_table, record_key, alert_id, delivery_id,"
		"  recipient, channel, sid, status, error_code, attempt, detail, line FROM audit"
		" WHERE id IN (SELECT id FROM direct) OR record_key IN keys OR alert_id IN alerts"
		"  OR delivery_id IN delivs OR sid IN sids"
		" UNION ALL SELECT NULL, ms.ts, 'status:' || ms.source, NULL, NULL, NULL, NULL,"
		"  NULL, NULL, NULL, ms.sid, ms.status, ms.error_code, NULL, NULL, NULL"
		" FROM message_status ms WHERE ms.sid IN sids"
		" ORDER BY 2, 1 NULLS LAST";
	enum fmt f = F_TEXT;
	const char *what;
	long count = 0;
	int c, rc;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c == 'f')
			f = parse_fmt(optarg);
		else {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	what = argv[optind];
	open_store();
	rc = run_select(sql, &what, 1, f, 0, &count);
	mlc_store_close(store);
	if (rc == MLC_EX_OK && count == 0) {
		mlc_warn("nothing in the audit trail about \"%s\"", what);
		return MLC_EX_NOINPUT;
	}
	return rc;
}

/*
 * replay: the delivery lines (as rendered, stage "queued") of deliveries
 * whose latest outcome is in the status list, for sending again on
 * purpose:  alert-log replay --rule R | twilio-send | alert-log
 * With --latest, the latest line itself (a result with its SID), e.g. the
 * sent messages whose delivery is not settled, for twilio-send --poll.
 */
static int
cmd_replay(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 'S' },
		{ "status", required_argument, NULL, 's' },
		{ "latest", no_argument, NULL, 'l' },
		{ "channel", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rule = NULL, *since = NULL, *status = "failed,unknown", *channel = NULL;
	sqlite3_stmt *st;
	int c, rc, latest = 0;
	long n = 0;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rule = optarg; break;
		case 'S': since = optarg; break;
		case 's': status = optarg; break;
		case 'l': latest = 1; break;
		case 'c': channel = optarg; break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	open_store();
	mlc_store_doing(store, "read the deliveries to replay");
	rc = mlc_store_prepare(store, latest ?
	        "WITH last AS (SELECT delivery_id, max(id) AS id FROM audit"
	        "  WHERE delivery_id IS NOT NULL"
	        "  GROUP BY delivery_id HAVING (?1 IS NULL OR max(rule) = ?1)"
	        "  AND (?2 IS NULL OR max(ts) >= ?2))"
	        " SELECT a.line FROM last JOIN audit a ON a.id = last.id"
	        " WHERE instr(',' || ?3 || ',', ',' || a.stage || ',') > 0"
	        " AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || a.channel || ',') > 0)"
	        " ORDER BY last.id" :
	        "WITH last AS (SELECT delivery_id, max(id) AS id FROM audit"
	        "  WHERE delivery_id IS NOT NULL"
	        "  GROUP BY delivery_id HAVING (?1 IS NULL OR max(rule) = ?1)"
	        "  AND (?2 IS NULL OR max(ts) >= ?2))"
	        " SELECT q.line FROM last JOIN audit a ON a.id = last.id"
	        " JOIN audit q ON q.id = (SELECT max(id) FROM audit WHERE"
	        "  delivery_id = last.delivery_id AND stage = 'queued')"
	        " WHERE instr(',' || ?3 || ',', ',' || a.stage || ',') > 0"
	        " AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || a.channel || ',') > 0)"
	        " ORDER BY last.id", &st);
	if (rc < 0) {
		mlc_store_warn(store, "replay");
		return mlc_store_code(store);
	}
	bind_text(st, 1, rule);
	bind_text(st, 2, since);
	bind_text(st, 3, status);
	bind_text(st, 4, channel);
	while ((rc = mlc_store_step(store, st)) == SQLITE_ROW) {
		if (mlc_ndjson_write(1, (const char *)sqlite3_column_text(st, 0),
		                     (size_t)sqlite3_column_bytes(st, 0)) < 0) {
			mlc_warn("write error on stdout: %s", strerror(errno));
			sqlite3_finalize(st);
			return MLC_EX_IOERR;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(store, "replay");
		return mlc_store_code(store);
	}
	mlc_store_close(store);
	mlc_warn("%ld deliveries to replay", n);
	return MLC_EX_OK;
}

/*
 * retention: the one deliberate way rows leave the trail.  The triggers
 * that make the trail append-only are dropped, the old rows deleted and
 * the triggers recreated in one transaction, and the deletion is itself
 * recorded as an audit row.
 */
struct retention {
	const char *cutoff, *ts;
};

static int
retention_tx(struct mlc_store *s, void *arg)
{
	struct retention *r = arg;
	const char *del[] = { r->cutoff };
	char detail[128];
	const char *note[] = { r->ts, detail };

	if (mlc_store_exec(s, "DROP TRIGGER audit_no_delete") < 0 ||
	    exec_text("DELETE FROM audit WHERE ts < ?1", 1, del) < 0)
		return -1;
	snprintf(detail, sizeof detail, "deleted %lld rows older than %s",
	         (long long)sqlite3_changes(mlc_store_db(s)), r->cutoff);
	if (mlc_store_exec(s, "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	                      " BEGIN SELECT RAISE(ABORT, 'audit rows are append-only');"
	                      " END") < 0 ||
	    exec_text("INSERT INTO audit (ts, stage, detail) VALUES (?1, 'retention', ?2)", 2,
	              note) < 0) {
		mlc_store_warn(s, "retention");
		return -1;
	}
	return 0;
}

static int
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
	sqlite3_stmt *st;
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
	if (mlc_store_prepare(store, "SELECT count(*) FROM audit WHERE ts < ?1", &st) < 0) {
		mlc_store_warn(store, "retention");
		return mlc_store_code(store);
	}
	bind_text(st, 1, cutoff);
	c = mlc_store_step(store, st);
	if (c == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (c != SQLITE_ROW) {
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

/*
 * run begin|end: the orchestrator's record of each run, in table run and
 * as audit rows (stage "run"), so the trail shows where runs start and end.
 */
struct runrec {
	int begin;
	const char *row[5], *note[4];
};

static int
run_tx(struct mlc_store *s, void *arg)
{
	struct runrec *r = arg;

	if (exec_text(r->begin ? "INSERT INTO run (rule, run_id, started_at, status)"
	                         " VALUES (?1, ?2, ?3, 'running')" :
	                         "UPDATE run SET finished_at = ?3, status = ?4, detail = ?5"
	                         " WHERE rule = ?1 AND run_id = ?2",
	              r->begin ? 3 : 5, r->row) < 0 ||
	    exec_text("INSERT INTO audit (ts, stage, rule, status, detail)"
	              " VALUES (?1, 'run', ?2, ?3, ?4)", 4, r->note) < 0) {
		mlc_store_warn(s, "run");
		return -1;
	}
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct timespec now;
	char ts[32], detail[512], what[64];
	struct runrec r;
	int rc;

	if (argc < 4 || argc > 6 || (strcmp(argv[1], "begin") && strcmp(argv[1], "end")) ||
	    (!strcmp(argv[1], "begin") && argc != 4) || (!strcmp(argv[1], "end") && argc < 5)) {
		mlc_warn("usage: alert-log run begin RULE RUN_ID | run end RULE RUN_ID STATUS [DETAIL]");
		return MLC_EX_USAGE;
	}
	r.begin = !strcmp(argv[1], "begin");
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	open_store();
	snprintf(detail, sizeof detail, "run %s %s%s%s%s", argv[3], r.begin ? "begins" : "ends: ",
	         r.begin ? "" : argv[4], argc > 5 ? ": " : "", argc > 5 ? argv[5] : "");
	r.row[0] = argv[2];
	r.row[1] = argv[3];
	r.row[2] = ts;
	r.row[3] = r.begin ? NULL : argv[4];
	r.row[4] = argc > 5 ? argv[5] : NULL;
	r.note[0] = ts;
	r.note[1] = argv[2];
	r.note[2] = r.begin ? "running" : argv[4];
	r.note[3] = detail;
	snprintf(what, sizeof what, "record the %s of a run", r.begin ? "start" : "end");
	rc = mlc_store_tx(store, what, run_tx, &r);
	mlc_store_close(store);
	return rc;
}

/*
 * status: per rule, the last run and what stands: deliveries sent, failed,
 * still unknown, and queued with no outcome yet (a run died before
 * sending them), counted over each delivery's latest event.
 */
static int
cmd_status(int argc, char **argv)
{
	static const char sql[] =
		"WITH rules AS (SELECT DISTINCT rule FROM run WHERE ?1 IS NULL OR rule = ?1"
		"   UNION SELECT DISTINCT rule FROM audit WHERE delivery_id IS NOT NULL"
		"   AND rule IS NOT NULL AND (?1 IS NULL OR rule = ?1)),"
		" lastrun AS (SELECT r.rule, r.run_id, r.started_at, r.finished_at, r.status,"
		"   r.detail FROM run r WHERE r.started_at = (SELECT max(started_at) FROM run"
		"   WHERE rule = r.rule)),"
		" latest AS (SELECT m.rule, a.stage FROM audit a JOIN (SELECT delivery_id,"
		"   max(id) AS id, max(rule) AS rule FROM audit WHERE delivery_id IS NOT NULL"
		"   GROUP BY delivery_id) m ON a.id = m.id)"
		" SELECT rules.rule, lastrun.run_id, lastrun.started_at, lastrun.finished_at,"
		"  lastrun.status, lastrun.detail,"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage IN"
		"   ('sent','delivered','read')),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage IN"
		"   ('failed','undelivered','canceled')),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'unknown'),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'queued'),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'deferred')"
		" FROM rules LEFT JOIN lastrun ON lastrun.rule = rules.rule ORDER BY rules.rule";
	static const char *const names[] = { "rule", "run_id", "started_at", "finished_at",
		"status", "detail", "sent", "failed", "unknown", "pending", "deferred" };
	enum fmt f = F_TEXT;
	const char *rule = NULL;
	sqlite3_stmt *st;
	struct mlc_buf b;
	int c, rc, i;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c == 'f')
			f = parse_fmt(optarg);
		else {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	if (argc - optind > 1) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (argc - optind == 1)
		rule = argv[optind];
	open_store();
	mlc_store_doing(store, "read the audit trail");
	if (mlc_store_prepare(store, sql, &st) < 0) {
		mlc_store_warn(store, "status");
		return mlc_store_code(store);
	}
	bind_text(st, 1, rule);
	mlc_buf_init(&b);
	if (f == F_TEXT) {
		mlc_buf_printf(&b, "%-24s %-24s %-10s %6s %6s %7s %7s %8s", "RULE", "LAST RUN",
		               "OUTCOME", "SENT", "FAILED", "UNKNOWN", "PENDING", "DEFERRED");
		if (mlc_ndjson_put(1, &b) < 0) {
			mlc_warn("write error on stdout: %s", strerror(errno));
			sqlite3_finalize(st);
			mlc_buf_free(&b);
			return MLC_EX_IOERR;
		}
	}
	while ((rc = mlc_store_step(store, st)) == SQLITE_ROW) {
		mlc_buf_reset(&b);
		if (f == F_TEXT) {
			const char *t = (const char *)sqlite3_column_text(st, 2);
			const char *o = (const char *)sqlite3_column_text(st, 4);

			mlc_buf_printf(&b, "%-24s %-24s %-10s %6d %6d %7d %7d %8d",
			               (const char *)sqlite3_column_text(st, 0), t ? t : "-",
			               o ? o : "-", sqlite3_column_int(st, 6),
			               sqlite3_column_int(st, 7), sqlite3_column_int(st, 8),
			               sqlite3_column_int(st, 9), sqlite3_column_int(st, 10));
		} else {
			for (i = 0; i < 11; i++) {
				const char *v = (const char *)sqlite3_column_text(st, i);

				if (f == F_CSV) {
					if (i)
						mlc_buf_addc(&b, ',');
					csv_field(&b, v);
					continue;
				}
				mlc_buf_addc(&b, i ? ',' : '{');
				mlc_buf_json_str(&b, names[i], strlen(names[i]));
				mlc_buf_addc(&b, ':');
				if (i >= 6)
					mlc_buf_printf(&b, "%d", sqlite3_column_int(st, i));
				else if (v)
					mlc_buf_json_str(&b, v, strlen(v));
				else
					mlc_buf_adds(&b, "null");
			}
			if (f == F_NDJSON)
				mlc_buf_addc(&b, '}');
		}
		if (mlc_ndjson_put(1, &b) < 0) {
			mlc_warn("write error on stdout: %s", strerror(errno));
			sqlite3_finalize(st);
			mlc_buf_free(&b);
			return MLC_EX_IOERR;
		}
	}
	sqlite3_finalize(st);
	mlc_buf_free(&b);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(store, "status");
		return mlc_store_code(store);
	}
	mlc_store_close(store);
	return MLC_EX_OK;
}

int
main(int argc, char **argv)
{
	const char *force = NULL;
	long batch = 256;
	int c;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	signal(SIGPIPE, SIG_IGN);
	/* Global options come before a subcommand. */
	while ((c = getopt(argc, argv, "+d:s:b:")) != -1) {
		switch (c) {
		case 'd': statedir = optarg; break;
		case 's': force = optarg; break;
		case 'b':
			batch = strtol(optarg, NULL, 10);
			if (batch < 1 || batch > 100000)
				mlc_die(MLC_EX_USAGE, "-b: batch size 1..100000");
			break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		mlc_util_exit(tee(force, (size_t)batch));
	if (!strcmp(argv[0], "query"))
		mlc_util_exit(cmd_query(argc, argv));
	if (!strcmp(argv[0], "why"))
		mlc_util_exit(cmd_why(argc, argv));
	if (!strcmp(argv[0], "replay"))
		mlc_util_exit(cmd_replay(argc, argv));
	if (!strcmp(argv[0], "retention"))
		mlc_util_exit(cmd_retention(argc, argv));
	if (!strcmp(argv[0], "run"))
		mlc_util_exit(cmd_run(argc, argv));
	if (!strcmp(argv[0], "status"))
		mlc_util_exit(cmd_status(argc, argv));
	mlc_warn("unknown command \"%s\"", argv[0]);
	fputs(usage, stderr);
	return MLC_EX_USAGE;
}
