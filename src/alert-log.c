/*
 * alert-log — the audit trail: a tee that records every line durably before
 * passing it on, and the queries an auditor runs over the trail.
 *
 * usage: alert-log [-d STATEDIR] [-s STAGE] [-b N] [--before PROGRAM]
 *                  [--rule R] [--run-id ID]                  (tee)
 *        alert-log query [filters] [-f ndjson|csv|text] [--lines]
 *        alert-log why WHAT [-f ndjson|text]
 *        alert-log replay [--rule R] [--since T] [--status LIST] [--run-id ID]
 *        alert-log retention --older-than DAYS [--dry-run]
 *        alert-log status [RULE]
 *        alert-log quarantine [list|count|show ID|drop ID...|drop --all]
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
 * The quarantine: each line is first checked as the program it goes to
 * checks it (wire.c; --before alert-match, alert-render or twilio-send;
 * without it, the checks every program makes).  A line that program would
 * refuse, or that could not be read (over the 16 MiB cap, cut short), is
 * not recorded as a line of its stage and not passed on: it goes, in the
 * same transaction, to table quarantine with its bytes, its reason (line
 * and field), its rule and run (--rule, --run-id) and ids, and the trail
 * gets a "quarantined" row; the lines before and after it go on.  Were it
 * passed on, the program would refuse it, and the orchestrator would meet
 * it again at every run: one bad line would block the rule for ever.
 * replay makes the same checks on lines already in the trail (written
 * before them, or under looser ones) and quarantines what fails; a
 * quarantined line is never handed out again, also after the operator
 * drops it (quarantine drop, a "discarded" row in the trail).
 *
 * Exit status: 0; 64 usage; 65 lines were quarantined (everything else was
 * recorded and passed on); 66 why found nothing, or no such quarantined
 * line; 74 write error on stdout, or the database failed; 78
 * configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mlc.h"

static const char usage[] =
	"usage: alert-log [-d STATEDIR] [-s STAGE] [-b N] [--before PROGRAM]\n"
	"                 [--rule R] [--run-id ID]\n"
	"       alert-log query [--rule R] [--since T] [--until T] [--record KEY]\n"
	"                       [--alert ID] [--delivery ID] [--recipient TO] [--sid SID]\n"
	"                       [--stage S] [--limit N] [--lines] [-f ndjson|csv|text]\n"
	"       alert-log why KEY|ALERT_ID|DELIVERY_ID|SID [-f ndjson|text]\n"
	"       alert-log replay [--rule R] [--since T] [--status failed,unknown]\n"
	"                        [--channel sms,whatsapp,email] [--latest] [--run-id ID]\n"
	"       alert-log retention --older-than DAYS [--dry-run]\n"
	"       alert-log status [RULE] [-f text|ndjson|csv]\n"
	"       alert-log run begin RULE RUN_ID | run end RULE RUN_ID STATUS [DETAIL]\n"
	"       alert-log quarantine [list] [--rule R] [--run-id ID] [-f text|ndjson|csv]\n"
	"                            [--lines] | count | show ID | drop ID... | drop --all\n"
	"  --before PROGRAM  make the checks of alert-match, alert-render or twilio-send;\n"
	"                    quarantine what it would refuse instead of passing it on\n"
	"Records NDJSON lines in the audit trail, then copies them to stdout.\n";

static struct mlc_store *store;
static const char *statedir;
static const char *opt_rule, *opt_run_id; /* the tee's --rule and --run-id */

static void
open_store(void)
{
	char err[512];
	const char *dir = mlc_state_dir(statedir, err, sizeof err);
	int code;

	if (!dir)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (!(store = mlc_store_open(dir, err, sizeof err, &code)))
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
		if (!strcmp(status, "unknown") && sfield(o, "in_doubt", ev, sizeof ev) &&
		    !strcmp(ev, "hold"))
			return "in_doubt"; /* an e-mail held: [sendgrid] in_doubt = hold */
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

/* Record one line, o its object (consumed); 0, or -1 on a database error
 * (already reported). */
static int
record(const char *line, size_t len, jv o, const char *force_stage, const char *ts)
{
	char rule[256], table[64], key[512], alert[1024], deliv[1200], to[512], chan[32],
	    sid[128], status[64], detail[512], stagebuf[64], fp[512];
	const char *stage, *st, *sidp;
	jv err;
	long errcode = 0, attempt = 0;
	int haveerr = 0, haveatt = 0, rc, marks;

	/* a field the line lacks is empty, not stale */
	rule[0] = table[0] = key[0] = alert[0] = deliv[0] = to[0] = chan[0] = '\0';
	st = sfield(o, "status", status, sizeof status);
	stage = force_stage ? force_stage : stage_of(o, st, stagebuf, sizeof stagebuf);
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
	 * when the line has it, makes a replayed line mark nothing new.  An
	 * e-mail held in doubt counts as sent: it may have gone, and only an
	 * operator sends it again (ml-connector resend), not the next run.
	 */
	marks = !force_stage && (strcmp(stage, "sent") == 0 || strcmp(stage, "in_doubt") == 0);
	if (marks && rule[0] && to[0] && has(o, "digest")) {
		if (mark_digest(o, rule, to, chan, ts) < 0) {
			jv_free(o);
			return -1;
		}
	} else if (marks && key[0] && rule[0] && to[0]) {
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

/* ---- the quarantine: lines a program would refuse, set aside ---- */

/* What alert-log knows of a line it sets aside. */
struct qitem {
	const char *origin;      /* "before twilio-send", "tee", "replay" */
	unsigned long lineno;    /* in the tee's input; 0 none */
	const char *line;        /* its bytes, or NULL (unread, or in audit row audit_id) */
	size_t len;
	sqlite3_int64 audit_id;  /* the trail row holding the line (replay), 0 none */
	const char *rule, *run_id, *delivery_id, *alert_id, *table, *key, *to, *channel;
	const char *field, *reason;
};

/* The delivery, alert or record a line is about, else its bytes' hash:
 * a line refused again (a poisoned record every run reads) stays one row. */
static void
ident_of(const struct qitem *q, const char *ts, char *out, size_t len)
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
		snprintf(out, len, "audit:%lld", (long long)q->audit_id);
	else
		snprintf(out, len, "unread:%s:%s:%lu", q->run_id ? q->run_id : "", ts, q->lineno);
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = mlc_store_step(store, st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * File a line in the quarantine (a new row, or the row of the same rule and
 * ident seen again) and the event in the trail (stage "quarantined"; with
 * the line's delivery id, so that replay, which goes by a delivery's latest
 * row, never hands it out again).  Inside the caller's transaction.
 * *qid: the row.  0, or -1 on a database error (not yet reported).
 */
static int
quarantine_put(const struct qitem *q, const char *ts, sqlite3_int64 *qid)
{
	sqlite3 *db = mlc_store_db(store);
	sqlite3_stmt *st;
	char ident[1400], detail[1024];
	int i;

	ident_of(q, ts, ident, sizeof ident);
	*qid = 0;
	if (mlc_store_prepare(store, "SELECT id FROM quarantine WHERE rule IS ?1 AND ident = ?2",
	                      &st) < 0)
		return -1;
	bind_text(st, 1, q->rule);
	bind_text(st, 2, ident);
	if ((i = mlc_store_step(store, st)) == SQLITE_ROW)
		*qid = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (i != SQLITE_ROW && i != SQLITE_DONE)
		return -1;
	if (mlc_store_prepare(store, *qid ?
	        "UPDATE quarantine SET last_ts = ?1, count = count + 1, run_id = ?3, origin = ?4,"
	        " lineno = ?5, delivery_id = ?7, alert_id = ?8, record_key = ?9, field = ?10,"
	        " reason = ?11, audit_id = ?12,"
	        " bytes = coalesce(?13, (SELECT length(CAST(line AS BLOB)) FROM audit WHERE id = ?12)),"
	        " line = coalesce(?14, (SELECT CAST(line AS BLOB) FROM audit WHERE id = ?12))"
	        " WHERE id = ?15" :
	        "INSERT INTO quarantine (first_ts, last_ts, rule, run_id, origin, lineno, ident,"
	        " delivery_id, alert_id, record_key, field, reason, audit_id, bytes, line)"
	        " VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	        " coalesce(?13, (SELECT length(CAST(line AS BLOB)) FROM audit WHERE id = ?12)),"
	        " coalesce(?14, (SELECT CAST(line AS BLOB) FROM audit WHERE id = ?12)))",
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
	if (step_done(st) < 0)
		return -1;
	if (!*qid)
		*qid = sqlite3_last_insert_rowid(db);
	snprintf(detail, sizeof detail, "quarantine #%lld: %s", (long long)*qid, q->reason);
	{
		const char *v[] = { ts, q->rule, q->table, q->key, q->alert_id, q->delivery_id, q->to,
			            q->channel, detail };

		return exec_text("INSERT INTO audit (ts, stage, rule, jde_table, record_key, alert_id,"
		                 " delivery_id, recipient, channel, detail)"
		                 " VALUES (?1, 'quarantined', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", 9, v);
	}
}

/* The ids of a refused line, from its object as jq read it (may be invalid). */
struct qids {
	char rule[256], table[64], key[512], alert[1024], deliv[1200], to[512], chan[32];
};

static void
qitem_ids(struct qitem *q, struct qids *b, jv o)
{
	q->rule = opt_rule ? opt_rule : sfield(o, "rule", b->rule, sizeof b->rule);
	q->table = sfield(o, "table", b->table, sizeof b->table);
	q->key = sfield(o, "key", b->key, sizeof b->key);
	q->alert_id = sfield(o, "alert_id", b->alert, sizeof b->alert);
	q->delivery_id = sfield(o, "delivery_id", b->deliv, sizeof b->deliv);
	q->to = sfield(o, "to", b->to, sizeof b->to);
	q->channel = sfield(o, "channel", b->chan, sizeof b->chan);
}

/* Which program the tee feeds (alert-log --before): whose checks it makes. */
enum { POS_NONE, POS_MATCH, POS_RENDER, POS_SEND };
static int before = POS_NONE;
static const char *const pos_name[] = { "tee", "before alert-match", "before alert-render",
	                                "before twilio-send" };

/* The checks of the program the tee feeds (wire.c): 0 with *o, or -1 with
 * e and *o the object as jq reads the line, or jv_invalid(). */
static int
check_line(const char *line, size_t len, int pos, jv *o, struct mlc_wire_err *e)
{
	if (mlc_wire_line(line, len, o, e) < 0)
		return -1;
	if (pos == POS_RENDER && mlc_wire_alert(*o, e) < 0)
		return -1;
	if (pos == POS_SEND && mlc_wire_is_delivery(*o) && mlc_wire_delivery(*o, e) < 0)
		return -1;
	return 0;
}

/*
 * Refused by the tee: into the quarantine (with the line's bytes when it
 * was read whole), not recorded as a line of its stage, not passed on.
 * o: the object as jq reads it, or jv_invalid() (consumed).  Inside the
 * batch's transaction: nothing is said here (it may run again).
 */
static int
tee_refuse(const char *line, size_t len, unsigned long lineno, jv o, const char *field,
           const char *reason, const char *ts, sqlite3_int64 *qid)
{
	struct qitem q = { 0 };
	struct qids b;

	q.origin = pos_name[before];
	q.lineno = lineno;
	q.line = line;
	q.len = len;
	q.run_id = opt_run_id;
	q.field = field;
	q.reason = reason;
	qitem_ids(&q, &b, o);
	jv_free(o);
	if (quarantine_put(&q, ts, qid) < 0) {
		mlc_store_warn(store, "quarantining a line");
		return -1;
	}
	return 0;
}

/* A group of lines read, to be recorded in one transaction. */
struct bline {
	size_t off, len;         /* in batch.in; len of a line not read whole: 0 */
	unsigned long lineno;    /* in the tee's input */
	int unread;              /* not read whole (over the cap, cut short) */
	sqlite3_int64 qid;       /* set by record_batch: quarantined as this row */
	char reason[512];        /* why (for a line not read whole: the reader's) */
};
struct batch {
	struct mlc_buf in;       /* the lines read, each with its '\n' */
	struct mlc_buf out;      /* the lines to pass on, set by record_batch */
	struct bline *l;
	size_t n;
	const char *force_stage;
};

/*
 * mlc_store_tx's fn: check every line of the batch as the program it goes
 * to would (wire.c), record it or quarantine it, and collect the lines to
 * pass on.  It may run again (store.c): everything it sets is reset first.
 */
static int
record_batch(struct mlc_store *s, void *arg)
{
	struct batch *b = arg;
	struct mlc_wire_err e;
	struct timespec now;
	char ts[32];
	size_t i;
	jv o;

	(void)s;
	mlc_buf_reset(&b->out);
	for (i = 0; i < b->n; i++) {
		struct bline *l = &b->l[i];
		const char *line = b->in.p + l->off;

		l->qid = 0;
		mlc_time_now(&now);
		mlc_time_fmt(ts, &now);
		if (l->unread) {
			/* over the cap or truncated: its bytes are not kept */
			if (tee_refuse(NULL, 0, l->lineno, jv_invalid(), NULL, l->reason, ts,
			               &l->qid) < 0)
				return -1;
			continue;
		}
		if (check_line(line, l->len, before, &o, &e) < 0) {
			mlc_wire_errmsg(&e, l->reason, sizeof l->reason);
			if (tee_refuse(line, l->len, l->lineno, o, e.field, l->reason, ts, &l->qid) <
			    0)
				return -1;
			continue;
		}
		if (record(line, l->len, o, b->force_stage, ts) < 0)
			return -1;
		mlc_buf_add(&b->out, line, l->len);
		mlc_buf_addc(&b->out, '\n');
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
	mlc_buf_init(&b.in);
	mlc_buf_init(&b.out);
	b.l = mlc_xcalloc(batchmax, sizeof *b.l);
	b.force_stage = force_stage;
	for (;;) {
		int eof = 0;

		/* Block for the first line of a group, then take what is buffered. */
		b.n = 0;
		mlc_buf_reset(&b.in);
		while (b.n < batchmax && (b.n == 0 || mlc_ndjson_pending(r))) {
			struct bline *l = &b.l[b.n];

			k = mlc_ndjson_read(r, &line, &len);
			if (k == 0) {
				eof = 1;
				break;
			}
			if (k < 0 && mlc_ndjson_error(r) == MLC_EX_IOERR) {
				eof = 1;
				rc = MLC_EX_IOERR;
				break;
			}
			l->lineno = mlc_ndjson_lineno(r);
			l->off = b.in.len;
			l->len = k < 0 ? 0 : len;
			l->unread = k < 0;
			if (k < 0)
				snprintf(l->reason, sizeof l->reason, "%s", mlc_ndjson_errmsg(r));
			if (k > 0) {
				mlc_buf_add(&b.in, line, len);
				mlc_buf_addc(&b.in, '\n');
			}
			b.n++;
		}
		if (b.n > 0) {
			snprintf(what, sizeof what, "record %zu line%s in the audit trail", b.n,
			         b.n == 1 ? "" : "s");
			if ((c = mlc_store_tx(store, what, record_batch, &b)) != 0) {
				rc = c;
				goto out;
			}
			for (i = 0; i < b.n; i++) {
				if (!b.l[i].qid)
					continue;
				/* the reader has told what was wrong with a line it could not read */
				if (b.l[i].unread)
					mlc_warn("line %lu: quarantined (#%lld)", b.l[i].lineno,
					         (long long)b.l[i].qid);
				else
					mlc_warn("line %lu: %s; quarantined (#%lld), not passed on",
					         b.l[i].lineno, b.l[i].reason, (long long)b.l[i].qid);
				rc = MLC_EX_DATAERR;
			}
			/* Recorded: now, and only now, pass the lines on. */
			if (b.out.len > 0 && mlc_ndjson_write(1, b.out.p, b.out.len) < 0) {
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
	mlc_buf_free(&b.in);
	mlc_buf_free(&b.out);
	free(b.l);
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

/* -f's long name, for the commands that have no other long option */
static const struct option format_opt[] = {
	{ "format", required_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 }
};

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
	while ((c = getopt_long(argc, argv, "f:", format_opt, NULL)) != -1) {
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
	sqlite3_int64 audit_id, qid;
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

	(void)s;
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	for (i = 0; i < f->n; i++) {
		struct qitem q = { 0 };

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
		if (quarantine_put(&q, ts, &f->p[i].qid) < 0) {
			mlc_store_warn(store, "quarantining a line of the trail");
			return -1;
		}
	}
	return 0;
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	return v ? mlc_xstrdup(v) : NULL;
}

static int
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
	struct qpend *qp = NULL;
	size_t nq = 0, nlater = 0, i;
	sqlite3_stmt *st;
	int c, rc, latest = 0, code = MLC_EX_OK;
	long n = 0;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rule = optarg; break;
		case 'S': since = optarg; break;
		case 's': status = optarg; break;
		case 'l': latest = 1; break;
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
	rc = mlc_store_prepare(store, latest ?
	        "WITH last AS (SELECT delivery_id, max(id) AS id FROM audit"
	        "  WHERE delivery_id IS NOT NULL"
	        "  GROUP BY delivery_id HAVING (?1 IS NULL OR max(rule) = ?1)"
	        "  AND (?2 IS NULL OR max(ts) >= ?2))"
	        " SELECT a.line, a.id, a.rule, a.delivery_id, a.alert_id, a.jde_table,"
	        "  a.record_key, a.recipient, a.channel FROM last JOIN audit a ON a.id = last.id"
	        " WHERE instr(',' || ?3 || ',', ',' || a.stage || ',') > 0"
	        " AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || a.channel || ',') > 0)"
	        " AND a.line IS NOT NULL"
	        " AND NOT EXISTS (SELECT 1 FROM quarantine WHERE audit_id = a.id)"
	        " ORDER BY last.id" :
	        "WITH last AS (SELECT delivery_id, max(id) AS id FROM audit"
	        "  WHERE delivery_id IS NOT NULL"
	        "  GROUP BY delivery_id HAVING (?1 IS NULL OR max(rule) = ?1)"
	        "  AND (?2 IS NULL OR max(ts) >= ?2))"
	        " SELECT q.line, q.id, q.rule, q.delivery_id, q.alert_id, q.jde_table,"
	        "  q.record_key, q.recipient, q.channel FROM last JOIN audit a ON a.id = last.id"
	        " JOIN audit q ON q.id = (SELECT max(id) FROM audit WHERE"
	        "  delivery_id = last.delivery_id AND stage = 'queued')"
	        " WHERE instr(',' || ?3 || ',', ',' || a.stage || ',') > 0"
	        " AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || a.channel || ',') > 0)"
	        " AND q.line IS NOT NULL"
	        " AND NOT EXISTS (SELECT 1 FROM quarantine WHERE audit_id = q.id)"
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
		const char *line = (const char *)sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		struct mlc_wire_err e;
		jv o;

		if (check_line(line ? line : "", len, latest ? POS_NONE : POS_SEND, &o, &e) < 0) {
			struct qpend *p;

			jv_free(o);
			/* filed after this statement is done: a write now could not
			 * commit while it reads (another writer may have moved on) */
			if (nq == REPLAY_QMAX) {
				nlater++;
				continue;
			}
			if (nq % 64 == 0)
				qp = mlc_xrealloc(qp, (nq + 64) * sizeof *qp);
			p = &qp[nq++];
			p->audit_id = sqlite3_column_int64(st, 1);
			p->rule = col_dup(st, 2);
			p->delivery_id = col_dup(st, 3);
			p->alert_id = col_dup(st, 4);
			p->table = col_dup(st, 5);
			p->key = col_dup(st, 6);
			p->to = col_dup(st, 7);
			p->channel = col_dup(st, 8);
			snprintf(p->field, sizeof p->field, "%s", e.field);
			mlc_wire_errmsg(&e, p->reason, sizeof p->reason);
			continue;
		}
		jv_free(o);
		if (mlc_ndjson_write(1, line, len) < 0) {
			mlc_warn("write error on stdout: %s", strerror(errno));
			sqlite3_finalize(st);
			code = MLC_EX_IOERR;
			goto done;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(store, "replay");
		code = mlc_store_code(store);
		goto done;
	}
	if (nq > 0) {
		struct qfile qf = { qp, nq, rule, run_id };

		if ((c = mlc_store_tx(store, "file lines of the trail in the quarantine",
		                      replay_quarantine, &qf)) != 0) {
			code = c;
			goto done;
		}
		for (i = 0; i < nq; i++)
			mlc_warn("trail row %lld, delivery %s: %s; quarantined (#%lld), not replayed",
			         (long long)qp[i].audit_id, qp[i].delivery_id ? qp[i].delivery_id : "?",
			         qp[i].reason, (long long)qp[i].qid);
		code = MLC_EX_DATAERR;
	}
	if (nlater)
		mlc_warn("%zu more lines that would be refused: left for the next replay", nlater);
	/* said only when there is something: the orchestrator replays before
	 * every run and keeps replay's stderr (lock waits, quarantines) */
	if (n > 0)
		mlc_warn("%ld deliveries to replay", n);
done:
	for (i = 0; i < nq; i++) {
		free(qp[i].rule);
		free(qp[i].delivery_id);
		free(qp[i].alert_id);
		free(qp[i].table);
		free(qp[i].key);
		free(qp[i].to);
		free(qp[i].channel);
	}
	free(qp);
	mlc_store_close(store);
	return code == MLC_EX_SOFTWARE ? MLC_EX_IOERR : code;
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
		"   AND rule IS NOT NULL AND (?1 IS NULL OR rule = ?1)"
		"   UNION SELECT DISTINCT coalesce(rule, '-') FROM quarantine"
		"   WHERE ?1 IS NULL OR rule = ?1),"
		" lastrun AS (SELECT r.rule, r.run_id, r.started_at, r.finished_at, r.status,"
		"   r.detail FROM run r WHERE r.rowid = (SELECT rowid FROM run WHERE rule = r.rule"
		"   ORDER BY started_at DESC, rowid DESC LIMIT 1)),"
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
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'deferred'),"
		"  (SELECT count(*) FROM quarantine q WHERE coalesce(q.rule, '-') = rules.rule),"
		"  (SELECT count(*) FROM latest WHERE latest.rule = rules.rule AND stage = 'in_doubt')"
		" FROM rules LEFT JOIN lastrun ON lastrun.rule = rules.rule ORDER BY rules.rule";
	static const char *const names[] = { "rule", "run_id", "started_at", "finished_at",
		"status", "detail", "sent", "failed", "unknown", "pending", "deferred",
		"quarantined", "in_doubt" };
	enum fmt f = F_TEXT;
	const char *rule = NULL;
	sqlite3_stmt *st;
	struct mlc_buf b;
	int c, rc, i;

	optind = 0; /* glibc: 0 also resets the "+" ordering of main's getopt */
	while ((c = getopt_long(argc, argv, "f:", format_opt, NULL)) != -1) {
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
		mlc_buf_printf(&b, "%-24s %-24s %-10s %6s %6s %7s %7s %8s %11s %8s", "RULE",
		               "LAST RUN", "OUTCOME", "SENT", "FAILED", "UNKNOWN", "PENDING",
		               "DEFERRED", "QUARANTINED", "IN-DOUBT");
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

			mlc_buf_printf(&b, "%-24s %-24s %-10s %6d %6d %7d %7d %8d %11d %8d",
			               (const char *)sqlite3_column_text(st, 0), t ? t : "-",
			               o ? o : "-", sqlite3_column_int(st, 6),
			               sqlite3_column_int(st, 7), sqlite3_column_int(st, 8),
			               sqlite3_column_int(st, 9), sqlite3_column_int(st, 10),
			               sqlite3_column_int(st, 11), sqlite3_column_int(st, 12));
		} else {
			for (i = 0; i < 13; i++) {
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

/*
 * quarantine: the lines set aside (see quarantine_put).  list (default),
 * count, show ID (the line's bytes as received), drop ID...|--all: the one
 * way rows leave the quarantine, each drop recorded in the trail (stage
 * "discarded", by whom), so that replay never hands the line out again.
 */
static const char q_filter[] = " WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR run_id = ?2)"
                               " AND (?3 IS NULL OR id = ?3)";

/* Append s for a terminal: control characters as '?'. */
static void
add_clean(struct mlc_buf *b, const char *s)
{
	for (; s && *s; s++)
		mlc_buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static int
q_list(sqlite3_stmt *st, enum fmt f, int lines)
{
	static const char *const qcols[] = { "id", "first_ts", "last_ts", "count", "rule",
		"run_id", "origin", "lineno", "delivery_id", "alert_id", "record_key", "field",
		"reason", "audit_id", "bytes", "line" };
	struct mlc_buf b;
	int rc, i, ncol = lines ? 16 : 15;

	mlc_buf_init(&b);
	if (f == F_CSV) {
		for (i = 0; i < 15; i++) {
			if (i)
				mlc_buf_addc(&b, ',');
			mlc_buf_adds(&b, qcols[i]);
		}
		if (mlc_ndjson_put(1, &b) < 0)
			goto werr;
	}
	while ((rc = mlc_store_step(store, st)) == SQLITE_ROW) {
		mlc_buf_reset(&b);
		if (f == F_TEXT) {
			const char *what = (const char *)sqlite3_column_text(st, 8);

			if (!what)
				what = (const char *)sqlite3_column_text(st, 9);
			if (!what)
				what = (const char *)sqlite3_column_text(st, 10);
			mlc_buf_printf(&b, "#%lld %s ", (long long)sqlite3_column_int64(st, 0),
			               (const char *)sqlite3_column_text(st, 2));
			add_clean(&b, sqlite3_column_type(st, 4) == SQLITE_NULL ? "-" :
			              (const char *)sqlite3_column_text(st, 4));
			mlc_buf_adds(&b, " (");
			add_clean(&b, (const char *)sqlite3_column_text(st, 6));
			if (sqlite3_column_type(st, 7) != SQLITE_NULL)
				mlc_buf_printf(&b, ", line %lld", (long long)sqlite3_column_int64(st, 7));
			if (sqlite3_column_type(st, 13) != SQLITE_NULL)
				mlc_buf_printf(&b, ", trail row %lld",
				               (long long)sqlite3_column_int64(st, 13));
			mlc_buf_adds(&b, ") ");
			if (what) {
				add_clean(&b, what);
				mlc_buf_adds(&b, ": ");
			}
			add_clean(&b, (const char *)sqlite3_column_text(st, 12));
			if (sqlite3_column_int(st, 3) > 1)
				mlc_buf_printf(&b, " (seen %d times since %s)", sqlite3_column_int(st, 3),
				               (const char *)sqlite3_column_text(st, 1));
		} else if (f == F_CSV) {
			for (i = 0; i < 15; i++) {
				if (i)
					mlc_buf_addc(&b, ',');
				csv_field(&b, (const char *)sqlite3_column_text(st, i));
			}
		} else {
			int first = 1;

			mlc_buf_addc(&b, '{');
			for (i = 0; i < ncol; i++) {
				int type = sqlite3_column_type(st, i);

				if (type == SQLITE_NULL)
					continue;
				if (!first)
					mlc_buf_addc(&b, ',');
				first = 0;
				mlc_buf_json_str(&b, qcols[i], strlen(qcols[i]));
				mlc_buf_addc(&b, ':');
				if (type == SQLITE_INTEGER)
					mlc_buf_printf(&b, "%lld", (long long)sqlite3_column_int64(st, i));
				else /* the line: invalid UTF-8 shows as U+FFFD (show ID: the bytes) */
					mlc_buf_json_str(&b, (const char *)sqlite3_column_blob(st, i),
					                 (size_t)sqlite3_column_bytes(st, i));
			}
			mlc_buf_addc(&b, '}');
		}
		if (mlc_ndjson_put(1, &b) < 0)
			goto werr;
	}
	mlc_buf_free(&b);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(store, "quarantine");
		return mlc_store_code(store);
	}
	return MLC_EX_OK;
werr:
	mlc_warn("write error on stdout: %s", strerror(errno));
	mlc_buf_free(&b);
	return MLC_EX_IOERR;
}

/* Drop the rows of the filter (bound in st's ?1..?3): each recorded in the
 * trail, its "dropped #ID" line added to out; *n counts them.  0, or -1 on
 * a database error. */
static int
q_drop(const char *rule, const char *run, const char *id, const char *ts, const char *who,
       long *n, struct mlc_buf *out)
{
	sqlite3_stmt *st, *del;
	struct mlc_buf sql;
	int rc;

	mlc_buf_init(&sql);
	mlc_buf_printf(&sql, "SELECT id, rule, record_key, alert_id, delivery_id, reason"
	                     " FROM quarantine%s ORDER BY id", q_filter);
	rc = mlc_store_prepare(store, sql.p, &st);
	mlc_buf_reset(&sql);
	mlc_buf_printf(&sql, "DELETE FROM quarantine%s", q_filter);
	if (rc < 0 || mlc_store_prepare(store, sql.p, &del) < 0) {
		if (rc == 0)
			sqlite3_finalize(st);
		mlc_buf_free(&sql);
		return -1;
	}
	mlc_buf_free(&sql);
	bind_text(st, 1, rule);
	bind_text(st, 2, run);
	bind_text(st, 3, id);
	bind_text(del, 1, rule);
	bind_text(del, 2, run);
	bind_text(del, 3, id);
	while ((rc = mlc_store_step(store, st)) == SQLITE_ROW) {
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
		if (exec_text("INSERT INTO audit (ts, stage, rule, record_key, alert_id, delivery_id,"
		              " detail) VALUES (?1, 'discarded', ?2, ?3, ?4, ?5, ?6)", 6, v) < 0) {
			rc = SQLITE_ERROR;
			break;
		}
		mlc_buf_printf(out, "dropped #%lld\n", (long long)sqlite3_column_int64(st, 0));
		(*n)++;
	}
	sqlite3_finalize(st);
	rc = rc == SQLITE_DONE ? step_done(del) : (sqlite3_finalize(del), -1);
	return rc;
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

static int
quarantine_drop(struct mlc_store *s, void *arg)
{
	struct qdrop *d = arg;
	size_t i;
	long before_n;

	(void)s;
	d->n = 0;
	mlc_buf_reset(&d->out);
	mlc_buf_reset(&d->missing);
	if (d->all && q_drop(d->rule, NULL, NULL, d->ts, d->who, &d->n, &d->out) < 0)
		goto dberr;
	for (i = 0; i < d->nids; i++) {
		before_n = d->n;
		if (q_drop(d->rule, NULL, d->ids[i], d->ts, d->who, &d->n, &d->out) < 0)
			goto dberr;
		if (d->n == before_n)
			mlc_buf_printf(&d->missing, "%s: no quarantined line #%s%s%s\n", mlc_progname,
			               d->ids[i], d->rule ? " of rule " : "", d->rule ? d->rule : "");
	}
	return 0;
dberr:
	mlc_store_warn(store, "quarantine drop");
	return -1;
}

static int
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
	sqlite3_stmt *st;
	struct mlc_buf sql;

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
	mlc_buf_init(&sql);
	if (!strcmp(verb, "count"))
		mlc_buf_printf(&sql, "SELECT count(*) FROM quarantine%s", q_filter);
	else if (!strcmp(verb, "show"))
		mlc_buf_printf(&sql, "SELECT line, bytes FROM quarantine%s", q_filter);
	else
		mlc_buf_printf(&sql, "SELECT id, first_ts, last_ts, count, rule, run_id, origin,"
		                     " lineno, delivery_id, alert_id, record_key, field, reason,"
		                     " audit_id, bytes, line FROM quarantine%s ORDER BY id",
		               q_filter);
	mlc_store_doing(store, "read the quarantine");
	if (mlc_store_prepare(store, sql.p, &st) < 0) {
		mlc_buf_free(&sql);
		mlc_store_warn(store, "quarantine");
		rc = mlc_store_code(store);
		mlc_store_close(store);
		return rc;
	}
	mlc_buf_free(&sql);
	bind_text(st, 1, rule);
	bind_text(st, 2, run);
	bind_text(st, 3, verb[0] == 's' ? argv[optind] : NULL);
	if (!strcmp(verb, "list")) {
		rc = q_list(st, f, lines);
	} else if ((c = mlc_store_step(store, st)) != SQLITE_ROW) {
		if (c != SQLITE_DONE) {
			mlc_store_warn(store, "quarantine");
			rc = mlc_store_code(store);
		} else {
			mlc_warn("no quarantined line #%s", argv[optind]);
			rc = MLC_EX_NOINPUT;
		}
	} else if (verb[0] == 'c') {
		printf("%lld\n", (long long)sqlite3_column_int64(st, 0));
	} else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		mlc_warn("quarantined line #%s: its bytes were not kept (%s)", argv[optind],
		         "a line over the cap or cut short is not read whole");
		rc = MLC_EX_NOINPUT;
	} else if (mlc_ndjson_write(1, (const char *)sqlite3_column_blob(st, 0),
	                            (size_t)sqlite3_column_bytes(st, 0)) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		rc = MLC_EX_IOERR;
	}
	sqlite3_finalize(st);
	mlc_store_close(store);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *force = NULL;
	long batch = 256;
	int c;

	static const struct option lo[] = {
		{ "before", required_argument, NULL, 'B' },
		{ "rule", required_argument, NULL, 'r' },
		{ "run-id", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	mlc_util_signals(NULL);
	/* Global options come before a subcommand. */
	while ((c = getopt_long(argc, argv, "+d:s:b:", lo, NULL)) != -1) {
		switch (c) {
		case 'd': statedir = optarg; break;
		case 's': force = optarg; break;
		case 'B':
			for (before = POS_MATCH; before <= POS_SEND; before++)
				if (!strcmp(optarg, pos_name[before] + 7))
					break;
			if (before > POS_SEND)
				mlc_die(MLC_EX_USAGE, "--before: alert-match, alert-render or twilio-send");
			break;
		case 'r': opt_rule = optarg; break;
		case 'i': opt_run_id = optarg; break;
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
	if (!strcmp(argv[0], "quarantine"))
		mlc_util_exit(cmd_quarantine(argc, argv));
	mlc_warn("unknown command \"%s\"", argv[0]);
	fputs(usage, stderr);
	return MLC_EX_USAGE;
}
