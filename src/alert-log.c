/*
 * alert-log — the audit trail's tee: every line of the pipeline recorded
 * durably before it is passed on.
 *
 * The program also answers the auditor: its reports sit beside this file
 * (alert-log-query.c: query, why, status, retention; alert-log-quarantine.c:
 * replay and the quarantine); every statement on the trail is in trail.c.
 *
 * usage: alert-log [-d STATEDIR] [-s STAGE] [-b N] [--before PROGRAM]
 *                  [--after PROGRAM] [--rule R] [--run-id ID]  (tee)
 *        alert-log query [filters] [-f ndjson|csv|text] [--lines]
 *        alert-log why WHAT [-f ndjson|text]
 *        alert-log replay [--rule R] [--since T] [--status LIST] [--run-id ID]
 *        alert-log retention --older-than DAYS [--dry-run]
 *        alert-log status [RULE]
 *        alert-log quarantine [list|count|show ID|drop ID...|drop --all]
 *        alert-log open --rule R       (alerts open for a resolved notice)
 *        alert-log escalations --rule R (alerts with an escalation step due)
 *
 * Tee: stdin NDJSON lines, each recorded in the audit table with the stage
 * it shows (fetched, matched, resolved, escalated, suppressed, queued, deferred, dropped,
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
#include <stdlib.h>
#include <string.h>

#include "alert-log.h"

const char usage[] =
	"usage: alert-log [-d STATEDIR] [-s STAGE] [-b N] [--before PROGRAM]\n"
	"                 [--after PROGRAM] [--rule R] [--run-id ID]\n"
	"       alert-log query [--rule R] [--since T] [--until T] [--record KEY]\n"
	"                       [--alert ID] [--delivery ID] [--recipient TO] [--sid SID]\n"
	"                       [--stage S] [--limit N] [--lines] [-f ndjson|csv|text]\n"
	"       alert-log why KEY|NUMBER|ALERT_ID|DELIVERY_ID|SID [-f ndjson|text]\n"
	"       alert-log replay [--rule R] [--since T] [--status failed,unknown]\n"
	"                        [--channel sms,whatsapp,email] [--latest] [--run-id ID]\n"
	"       alert-log retention --older-than DAYS [--dry-run]\n"
	"       alert-log status [RULE] [-f text|ndjson|csv]\n"
	"       alert-log run begin RULE RUN_ID | run end RULE RUN_ID STATUS [DETAIL]\n"
	"       alert-log run preview RULE RUN_ID STATUS [DETAIL]\n"
	"       alert-log quarantine [list] [--rule R] [--run-id ID] [-f text|ndjson|csv]\n"
	"                            [--lines] | count | show ID | drop ID... | drop --all\n"
	"       alert-log metrics [--textfile PATH] | metrics up ais|twilio|sendgrid 0|1\n"
	"       alert-log metrics refused ais|twilio|sendgrid 0|1\n"
	"       alert-log monitor [--fallback | --check]\n"
	"       alert-log open --rule R\n"
	"       alert-log escalations --rule R\n"
	"  --before PROGRAM  make the checks of alert-match, alert-render or twilio-send;\n"
	"                    quarantine what it would refuse instead of passing it on\n"
	"  --after PROGRAM   a tee of this trail fed PROGRAM: what it passed on unchanged\n"
	"                    is passed on, not recorded again\n"
	"Records NDJSON lines in the audit trail, then copies them to stdout.\n";

struct mlc_store *store;
static const char *statedir;
/* --after PROGRAM: the program the lines come from, fed by a tee of this trail */
static int after;
const char *opt_rule, *opt_run_id;

void
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
	if (has(o, "resolved"))
		return "resolved"; /* alert-match --resolved: the record stopped matching */
	if (has(o, "escalation"))
		return "escalated"; /* alert-match --escalate: a step due, unacknowledged */
	if (has(o, "alert_id"))
		return "matched";
	if (has(o, "row") && has(o, "table"))
		return "fetched";
	return "other";
}

/* ---- tee ---- */

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
			rc = mlc_trail_realert_mark(store, rule, jv_string_value(k), id,
			                            jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f)
			                                                             : NULL,
			                            when);
		jv_free(k);
		jv_free(f);
	}
	jv_free(keys);
	jv_free(fps);
	if (rc < 0)
		mlc_store_warn(store, "re-alert mark");
	return rc;
}

/*
 * The counters of alert-log metrics, in the transaction that records the
 * line: records fetched, alerts matched, and each delivery's outcome by
 * channel (its stage: sent, failed, unknown, in_doubt, capped, deferred,
 * ...; "queued" is the way there, not an outcome).  A status event (track,
 * twilio-status) is no new delivery, and a forced stage (a quarantined
 * line) no outcome.  0, or -1 on a database error.
 */
static int
count_line(const struct mlc_trail_event *ev, jv o, const char *force_stage)
{
	static const char *const outcomes[] = { "sent", "failed", "unknown", "canceled",
		                                "in_doubt", "capped", "deferred", "dropped",
		                                "suppressed", NULL };
	const char *name = NULL;
	int deliv = 0;

	if (force_stage || !ev->rule || has(o, "event"))
		return 0;
	if (!strcmp(ev->stage, "fetched"))
		name = "mlc_records_fetched_total";
	else if (!strcmp(ev->stage, "matched"))
		name = "mlc_alerts_total";
	else if (ev->delivery_id)
		for (int i = 0; outcomes[i]; i++)
			if (!strcmp(ev->stage, outcomes[i]))
				deliv = 1, name = "mlc_deliveries_total";
	if (!name)
		return 0;
	return mlc_trail_metric_put(store, 0, name, ev->rule,
	                            deliv ? ev->channel : NULL, deliv ? ev->stage : NULL, NULL,
	                            1, ev->ts);
}

/*
 * A message a recipient sent us (twilio-send --poll-inbound): recorded
 * once per sid with what it means (optout.c), as twilio-status records
 * the webhook's; a repeat (the webhook had it, or an earlier poll) is
 * already in the trail and adds nothing.  0 or -1.
 */
static int
record_inbound(const char *line, size_t len, jv o, const char *ts)
{
	char b[8][8192];
	static const char *const names[8] = { "sid", "from", "to", "messaging_service_sid",
		                               "body", "opt_out_type", "date_sent", "source" };
	const char *v[8];
	struct mlc_inbound m;
	int i, fresh, rc;

	for (i = 0; i < 8; i++)
		v[i] = sfield(o, names[i], b[i], sizeof b[i]);
	jv_free(o);
	m.sid = v[0], m.from = v[1], m.to = v[2], m.mss = v[3], m.body = v[4];
	m.opt_out_type = v[5], m.date_sent = v[6], m.source = v[7] ? v[7] : "poll";
	if (!m.sid || !m.from || !m.to)
		return 0; /* wire.c refused it already when this tee checks lines */
	rc = mlc_optout_record(store, &m, ts, line, len, &fresh);
	if (rc < 0)
		mlc_store_warn(store, "recording an incoming message");
	return rc;
}

/* An alert id of a resolved notice: "RULE:KEY/resolved" (alert-match --resolved). */
static int
is_resolved_id(const char *alert)
{
	size_t n = strlen(alert);

	return n > 9 && strcmp(alert + n - 9, "/resolved") == 0;
}

/*
 * Table open_alert ([resolved] of ml-connector.5), in the transaction
 * that records the line.  A delivery of a rule with [resolved]
 * ("resolvable") recorded as sent opens its alert for that channel and
 * address; a resolved notice's delivery recorded at any stage (queued
 * before twilio-send, deferred, capped: from then on the replay, the
 * deferred table or the cap own it) closes it, and the re-alert rows of
 * the key go, so that a later match is a new alert.  0, or -1 (said).
 */
static int
open_alert_line(jv o, const char *stage, const char *rule, const char *table, const char *key,
                const char *alert, const char *to, const char *chan, const char *ts)
{
	int rc = 0;

	if (!rule[0] || !key[0] || !alert[0] || !to[0] || !chan[0] || !has(o, "delivery_id"))
		return 0;
	if (is_resolved_id(alert)) {
		if (mlc_trail_open_close(store, rule, key, chan, to) < 0 ||
		    mlc_trail_realert_forget(store, rule, key) < 0)
			rc = -1;
	} else if (strcmp(stage, "sent") == 0 && has(o, "resolvable") && !has(o, "digest")) {
		jv r = field(o, "recipient");
		jv d = jv_dump_string(jv_get_kind(r) == JV_KIND_OBJECT ? r : jv_object(), 0);

		if (jv_get_kind(r) != JV_KIND_OBJECT)
			jv_free(r);
		rc = mlc_trail_open_put(store, rule, key, chan, to, table[0] ? table : NULL, alert,
		                        jv_string_value(d), ts);
		jv_free(d);
	}
	if (rc < 0)
		mlc_store_warn(store, "open alerts ([resolved])");
	return rc;
}

/*
 * Table escalation ([escalation] of ml-connector.5), in the transaction
 * that records the line.  A delivery of a rule with [escalation] recorded
 * as sent carries "escalate" ({"first": seconds to the first step,
 * "steps": "2h,24h"}) and opens its alert's escalation; a step's line
 * ("escalation": {"step", "next_at"}: its deliveries, at any stage, or
 * the step itself when it reached no one, "suppressed") takes the step,
 * once; a stop ("escalation": {"stopped": why}: acknowledged, no longer
 * matching) or a resolved notice's delivery ends it.  0, or -1 (said).
 */
/* Lines of one escalation step with no delivery before it is taken anyway. */
#define ESC_TRIES 3

static int
escalation_line(jv o, const char *stage, const char *rule, const char *table, const char *key,
                const char *alert, const char *ts)
{
	jv e;
	int rc = 0;

	/* a status event (track, a callback) is no new send nor a new step */
	if (!rule[0] || !key[0] || !alert[0] || has(o, "event"))
		return 0;
	e = field(o, "escalation");
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		jv stp = field(e, "step");
		char nx[64];
		const char *next = sfield(e, "next_at", nx, sizeof nx);

		long tries = 0;

		if (has(e, "stopped"))
			rc = mlc_trail_esc_stop(store, rule, key);
		else if (jv_get_kind(stp) == JV_KIND_NUMBER &&
		         (has(o, "delivery_id") || has(o, "suppressed")))
			rc = mlc_trail_esc_step(store, rule, key, (int)jv_number_value(stp), next);
		else if (jv_get_kind(stp) == JV_KIND_NUMBER &&
		         (rc = mlc_trail_esc_tries(store, alert, &tries)) == 0 &&
		         tries >= ESC_TRIES)
			/*
			 * The step's line came ESC_TRIES times and no delivery
			 * of it was ever recorded (alert-render refused it: an
			 * empty text, an address it rejects): taken now, with
			 * its lines in the trail, rather than made again, and
			 * its record read again, every minute for ever.
			 */
			rc = mlc_trail_esc_step(store, rule, key, (int)jv_number_value(stp), next);
		jv_free(stp);
	} else if (is_resolved_id(alert) && has(o, "delivery_id")) {
		rc = mlc_trail_esc_stop(store, rule, key);
	} else if (strcmp(stage, "sent") == 0 && has(o, "escalate") && !has(o, "digest")) {
		jv x = field(o, "escalate"), first = field(x, "first");
		char steps[256], at[64], nb[32];
		const char *when = sfield(o, "sent_at", at, sizeof at) ? at : ts;
		struct timespec t;

		if (jv_get_kind(first) == JV_KIND_NUMBER && sfield(x, "steps", steps, sizeof steps) &&
		    mlc_time_parse(when, &t) == 0) {
			t.tv_sec += (time_t)jv_number_value(first);
			t.tv_nsec = 0;
			mlc_time_fmt(nb, &t);
			rc = mlc_trail_esc_open(store, rule, key, alert, table[0] ? table : NULL, steps,
			                        when, nb);
		}
		jv_free(first);
		jv_free(x);
	}
	jv_free(e);
	if (rc < 0)
		mlc_store_warn(store, "escalations ([escalation])");
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
	struct mlc_trail_event ev;
	jv err;
	long long errcode = 0, attempt = 0;
	int haveerr = 0, haveatt = 0, marks;

	if (!force_stage && sfield(o, "event", stagebuf, sizeof stagebuf) &&
	    strcmp(stagebuf, "inbound") == 0)
		return record_inbound(line, len, o, ts);
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
			errcode = (long long)jv_number_value(c);
			haveerr = 1;
		}
		jv_free(c);
		sfield(err, "message", detail, sizeof detail);
	} else if (jv_get_kind(o) == JV_KIND_OBJECT) {
		jv c = field(o, "error_code");

		if (jv_get_kind(c) == JV_KIND_NUMBER) {
			errcode = (long long)jv_number_value(c);
			haveerr = 1;
		}
		jv_free(c);
	}
	jv_free(err);
	{
		jv a = field(o, "attempts");

		if (jv_get_kind(a) == JV_KIND_NUMBER) {
			attempt = (long long)jv_number_value(a);
			haveatt = 1;
		}
		jv_free(a);
	}
	if (!detail[0]) {
		jv sup = field(o, "suppressed");

		if (jv_get_kind(sup) == JV_KIND_OBJECT &&
		    sfield(sup, "reason", detail, sizeof detail)) {
			char how[400];
			size_t n = strlen(detail);

			/* opted out: how and when, as twilio-send found it (why shows it) */
			if (sfield(sup, "detail", how, sizeof how))
				snprintf(detail + n, sizeof detail - n, ": %s", how);
		}
		jv_free(sup);
		if (!detail[0])
			sfield(o, "dropped", detail, sizeof detail);
	}
	ev.ts = ts;
	ev.stage = stage;
	ev.rule = sfield(o, "rule", rule, sizeof rule);
	ev.table = sfield(o, "table", table, sizeof table);
	ev.key = sfield(o, "key", key, sizeof key);
	ev.alert_id = sfield(o, "alert_id", alert, sizeof alert);
	ev.delivery_id = sfield(o, "delivery_id", deliv, sizeof deliv);
	ev.to = sfield(o, "to", to, sizeof to);
	ev.channel = sfield(o, "channel", chan, sizeof chan);
	ev.sid = sidp;
	ev.status = st;
	ev.error_code = errcode;
	ev.has_error_code = haveerr;
	ev.attempt = attempt;
	ev.has_attempt = haveatt;
	ev.detail = detail[0] ? detail : NULL;
	ev.line = line;
	ev.len = len;
	/*
	 * --after PROGRAM: what PROGRAM passed on unchanged (a capped, deferred
	 * or suppressed line) the tee before it recorded; recorded again, one
	 * event would be two rows.  PROGRAM's own lines differ in their bytes.
	 */
	if (after && !force_stage) {
		int same = mlc_trail_latest_is(store, ev.delivery_id, ev.alert_id, line, len);

		if (same < 0)
			goto dberr;
		if (same) {
			jv_free(o);
			return 0;
		}
	}
	if (mlc_trail_record(store, &ev) < 0 || count_line(&ev, o, force_stage) < 0)
		goto dberr;
	/*
	 * Twilio refused a send as unsubscribed (21610): the pair is opted
	 * out from now on, as if a STOP had come (twilio-send names it on the
	 * line: "opted_out":{"from":..,"to":..}).
	 */
	if (!force_stage && haveerr && errcode == 21610 && strcmp(stage, "failed") == 0) {
		char of[256], ot[256];
		jv oo = field(o, "opted_out");
		int have = sfield(oo, "from", of, sizeof of) && sfield(oo, "to", ot, sizeof ot);

		jv_free(oo);
		if (have && mlc_optout_refused(store, of, ot, ev.delivery_id, ts) < 0)
			goto dberr;
	}
	/*
	 * Twilio refused the address itself for good (21211, 21614: retry.c; a
	 * Twilio code, so an SMS or WhatsApp delivery's):
	 * recorded once as failed (above) and on the alert's re-alert row, so
	 * that alert-match does not send the alert to that address at every
	 * run; a corrected address is sent to (realert.c).  A digest stands
	 * for several alerts and is left to its own next run.
	 */
	if (!force_stage && haveerr && mlc_retry_bad_address((long)errcode) &&
	    strcmp(stage, "failed") == 0 && (!strcmp(chan, "sms") || !strcmp(chan, "whatsapp")) &&
	    has(o, "delivery_id") && !has(o, "digest") &&
	    key[0] && rule[0] && to[0] && !(alert[0] && is_resolved_id(alert))) {
		char rid[512], rkb[1024];
		const char *id = recipient_id(o, to, chan, rid, sizeof rid);
		const char *rk = sfield(o, "realert_key", rkb, sizeof rkb);

		if (mlc_trail_realert_refuse(store, rule, rk ? rk : key, id, to, (long)errcode, ts) <
		    0)
			goto dberr;
	}
	if (sidp && st && (has(o, "delivery_id") || has(o, "event")) &&
	    mlc_trail_status_put(store, sidp, st, haveerr ? &errcode : NULL, ts,
	                         has(o, "event") ? "poll" : "send", NULL) < 0)
		goto dberr;
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
	if (!force_stage && (open_alert_line(o, stage, rule, table, key, alert, to, chan, ts) < 0 ||
	                     escalation_line(o, stage, rule, table, key, alert, ts) < 0)) {
		jv_free(o);
		return -1;
	}
	if (alert[0] && (is_resolved_id(alert) || has(o, "escalation")))
		marks = 0; /* a resolved notice or an escalation starts no re-alert window */
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
		if (mlc_trail_realert_mark(store, rule, rk ? rk : key, id, fp[0] ? fp : NULL,
		                           sfield(o, "sent_at", at, sizeof at) ? at : ts) < 0) {
			jv_free(o);
			mlc_store_warn(store, "re-alert mark");
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

/* The ids of a refused line, from its object as jq read it (may be invalid). */
struct qids {
	char rule[256], table[64], key[512], alert[1024], deliv[1200], to[512], chan[32];
};

static void
qitem_ids(struct mlc_trail_qitem *q, struct qids *b, jv o)
{
	q->rule = opt_rule ? opt_rule : sfield(o, "rule", b->rule, sizeof b->rule);
	q->table = sfield(o, "table", b->table, sizeof b->table);
	q->key = sfield(o, "key", b->key, sizeof b->key);
	q->alert_id = sfield(o, "alert_id", b->alert, sizeof b->alert);
	q->delivery_id = sfield(o, "delivery_id", b->deliv, sizeof b->deliv);
	q->to = sfield(o, "to", b->to, sizeof b->to);
	q->channel = sfield(o, "channel", b->chan, sizeof b->chan);
}

/* Which program the tee feeds (--before), and what the quarantine calls it. */
static int before = POS_NONE;
static const char *const pos_name[] = { "tee", "before alert-match", "before alert-render",
	                                "before twilio-send" };

int
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
           const char *reason, const char *ts, long long *qid)
{
	struct mlc_trail_qitem q = { 0 };
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
	if (mlc_trail_quarantine_put(store, &q, ts, qid) < 0) {
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
	long long qid;           /* set by record_batch: quarantined as this row */
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
	mlc_store_close(store);
	return rc;
}

/*
 * run begin|end: the orchestrator's record of each run, in table run and
 * as audit rows (stage "run"), so the trail shows where runs start and end.
 * run preview: the one row a preview leaves (stage "preview"; not a run).
 */
struct runrec {
	int begin, preview;
	const char *rule, *run_id, *ts, *status, *detail;
};

static int
run_tx(struct mlc_store *s, void *arg)
{
	struct runrec *r = arg;

	if (r->preview) {
		if (mlc_trail_preview(s, r->rule, r->run_id, r->ts, r->status, r->detail) < 0) {
			mlc_store_warn(s, "run preview");
			return -1;
		}
		return 0;
	}
	if (mlc_trail_run(s, r->begin, r->rule, r->run_id, r->ts, r->status, r->detail) < 0 ||
	    (!r->begin && mlc_trail_metric_put(s, 0, "mlc_runs_total", r->rule, NULL, r->status,
	                                       NULL, 1, r->ts) < 0)) {
		mlc_store_warn(s, "run");
		return -1;
	}
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct timespec now;
	char ts[32], what[64];
	struct runrec r;
	int rc;

	if (argc < 4 || argc > 6 ||
	    (strcmp(argv[1], "begin") && strcmp(argv[1], "end") && strcmp(argv[1], "preview")) ||
	    (!strcmp(argv[1], "begin") && argc != 4) || (strcmp(argv[1], "begin") && argc < 5)) {
		mlc_warn("usage: alert-log run begin RULE RUN_ID | run end RULE RUN_ID STATUS [DETAIL]"
		         " | run preview RULE RUN_ID STATUS [DETAIL]");
		return MLC_EX_USAGE;
	}
	r.begin = !strcmp(argv[1], "begin");
	r.preview = !strcmp(argv[1], "preview");
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	open_store();
	r.rule = argv[2];
	r.run_id = argv[3];
	r.ts = ts;
	r.status = r.begin ? NULL : argv[4];
	r.detail = argc > 5 ? argv[5] : NULL;
	snprintf(what, sizeof what, "record the %s", r.preview ? "preview" :
	         r.begin ? "start of a run" : "end of a run");
	rc = mlc_store_tx(store, what, run_tx, &r);
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
		{ "after", required_argument, NULL, 'A' },
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
		case 'A':
			if (strcmp(optarg, "alert-match") && strcmp(optarg, "alert-render") &&
			    strcmp(optarg, "twilio-send"))
				mlc_die(MLC_EX_USAGE, "--after: alert-match, alert-render or twilio-send");
			after = 1;
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
	if (!strcmp(argv[0], "metrics"))
		mlc_util_exit(cmd_metrics(argc, argv));
	if (!strcmp(argv[0], "monitor"))
		mlc_util_exit(cmd_monitor(argc, argv));
	if (!strcmp(argv[0], "open"))
		return cmd_open(argc, argv);
	if (!strcmp(argv[0], "escalations"))
		return cmd_escalations(argc, argv);
	mlc_warn("unknown command \"%s\"", argv[0]);
	fputs(usage, stderr);
	return MLC_EX_USAGE;
}
