/*
 * store.c — the state database: one SQLite file, STATE/state.db.
 *
 * Every process opens it with WAL journaling (readers never wait for the
 * one writer) and foreign keys on.  The file is created 0600 inside a 0700
 * directory; SQLite gives its -wal and -shm files the mode of the database
 * file.  This file is the one home of database access: programs prepare,
 * step and write only through mlc_store_prepare, mlc_store_step and
 * mlc_store_tx.  The statements on the audit trail's tables (audit,
 * message_status, run, deferred, quarantine, realert, metric, inbound,
 * optout, ack, reply_code, escalation, trail_piece) live in trail.c:
 * a change of their schema is a migration here and the statements there.
 *
 * Locks.  Another process may hold a lock at any moment: a backup job, an
 * operator's sqlite3 shell with BEGIN EXCLUSIVE, our own stages.  That is
 * a wait, not a failure: a program that has read an outcome must record
 * it, however long the wait.  So
 *   - the busy handler waits as long as the lock is held, and says so on
 *     stderr after a second ("PATH is locked by another process; waiting
 *     to record 12 lines in the audit trail"), then every 30 s, and once
 *     more when the lock is gone;
 *   - every write transaction is BEGIN IMMEDIATE (mlc_store_tx): the write
 *     lock is taken first, where SQLite consults the busy handler, so that
 *     no statement has to upgrade a read lock, which SQLite refuses at
 *     once without asking the handler (a deadlock between two upgraders in
 *     rollback mode; SQLITE_BUSY_SNAPSHOT in WAL mode when the snapshot is
 *     stale);
 *   - where SQLite returns SQLITE_BUSY anyway (COMMIT waiting for readers
 *     in rollback-journal mode, a prepare that cannot read the schema, the
 *     switch to WAL at open, which needs the file to itself, a read in
 *     rollback mode while another process holds EXCLUSIVE), the call, or
 *     the whole transaction, is run again after a pause, in the same wait;
 *   - only a real error (SQLITE_IOERR, CORRUPT, NOTADB, FULL, READONLY,
 *     CANTOPEN...) stops the program: MLC_EX_IOERR.
 * The only checkpoints are SQLite's automatic PASSIVE ones, which never
 * wait and whose SQLITE_BUSY SQLite ignores by design.  A process that
 * answers someone who will not wait (twilio-status, answering Twilio)
 * calls mlc_store_bounded_wait() and gives up with MLC_EX_TEMPFAIL after
 * ML_CONNECTOR_BUSY_TIMEOUT ms; a process with a stop signal handler hands
 * its flag to mlc_store_stop_on() and stops waiting when it is set.
 *
 * Schema versions are counted by PRAGMA user_version: migrations[i] takes
 * the schema from version i to i+1, in a transaction of its own, so a crash
 * leaves the database at a whole version.  Never edit a shipped migration;
 * append a new one.
 *
 * Tables (schema v1):
 *
 *   secret             one encrypted credential per name (see vault.c): the
 *                      random nonce, the AEAD box (ciphertext + tag, bound to
 *                      the name), when it was last set.
 *   vault_kdf          at most one row (id = 1): how the vault key is
 *                      obtained ('keyfile': STATE/vault.key; 'argon2id':
 *                      from a passphrase with salt, opslimit and memlimit),
 *                      and the check value that detects a wrong key.
 *   watermark          per rule, the committed incremental position (the
 *                      JDE date/time the next run starts from).
 *   watermark_pending  per rule and run, the position a run reached; the
 *                      orchestrator moves it to watermark only after the
 *                      run's deliveries are recorded.
 *   realert            the re-alert index: per rule, alert key and
 *                      recipient, when it was first and last sent, how
 *                      often, and a fingerprint of the content.
 *   audit              the audit trail, one row per event of any stage
 *                      (line = the NDJSON line as seen).  Append-only:
 *                      triggers refuse UPDATE and DELETE.
 *   message_status     Twilio/SendGrid status history, one row per
 *                      (sid, status): a repeated callback is a no-op.
 *   run                one row per run of a rule: start, end, outcome.
 *
 * Schema v2 adds:
 *
 *   deferred           deliveries held by quiet hours: the whole delivery
 *                      line, released by alert-render once not_before has
 *                      passed.
 *
 * Schema v3 adds:
 *
 *   schedule           per rule, the last scheduled slot it fired (sched.c):
 *                      the schedule and zone it was computed for, the slot
 *                      as a wall time in that zone, the instant it was
 *                      reached, when the run claimed it (NULL: a baseline,
 *                      recorded at the rule's first check, never a run).
 *
 * Schema v4 adds:
 *
 *   quarantine         dead letters: lines that a program would refuse,
 *                      set aside by alert-log (the tee refusing a line in
 *                      front of the program it feeds, or replay meeting one
 *                      in the trail) so that they never block a rule: the
 *                      line's bytes as received (a BLOB: they may be
 *                      invalid UTF-8), why, which rule, run and delivery,
 *                      when first and last seen and how often.  One row per
 *                      rule and ident (the delivery, alert or record the
 *                      line is about; else its SHA-256), so a poisoned
 *                      record that every run reads again stays one row.
 *                      Not evidence: the operator drops rows (alert-log
 *                      quarantine drop), and the trail records that.
 *
 * Schema v5 adds:
 *
 *   metric             the figures of alert-log metrics (Prometheus): one
 *                      row per metric name and label set (rule, channel,
 *                      outcome, system; '' when unused), a counter that
 *                      only grows, or a gauge's last value.  Retention
 *                      leaves it alone, so counters never go back.
 *
 * Schema v6 adds (opt-out, optout.c):
 *
 *   inbound            every message a recipient sent us, one row per
 *                      MessageSid however often it arrives (webhook or
 *                      poll): whom it reached (ours: the Messaging Service
 *                      or the number; our_number: To), who sent it, the
 *                      body, the keyword class (STOP, START, HELP) if any.
 *   optout             per (ours, theirs): opted out (1) or back in (0),
 *                      since when, how (keyword STOP, error 21610) and
 *                      the message that did it.
 *
 * Schema v7 adds (the monitor):
 *
 *   monitor            the connector's own health (alert-log monitor): per
 *                      condition and subject (a rule, a remote system),
 *                      whether it holds and since when, and what the last
 *                      notice told of it and when.
 *   monitor_notice     each notice the monitor made, its alert line whole,
 *                      and whether its deliveries are in the trail (done).
 *
 * Schema v8 adds (resolved notices, [resolved] of a rule):
 *
 *   open_alert         per (rule, alert key, channel, address) a delivery
 *                      was sent to and no resolved notice has closed yet.
 *
 * Schema v9 adds (acknowledgement, ack.c):
 *
 *   ack                who acknowledged which alert, when and how: one row
 *                      per (inbound MessageSid, alert id), however often
 *                      the message arrives; the reply's time, the sender's
 *                      address, the number it reached, how it picked the
 *                      alert (latest, code, document) and the token typed.
 *   reply_code         per recipient address, the short code printed in
 *                      an alert's SMS ("ACK 2") and the alert it names.
 *
 * Schema v10 adds (escalation, [escalation] of a rule):
 *
 *   escalation         per (rule, alert key) sent and still escalating:
 *                      the steps, when the first delivery went, the last
 *                      step taken, when the next one is due.
 *
 * Schema v11 adds (the trail's stored form, trail.c):
 *
 *   trail_piece        a value cut out of audit lines (a record, a contact,
 *                      a recipient, a digest's text), stored once: its
 *                      template and refs, the hash of its bytes, the newest
 *                      ts of the rows that hold it.  audit gains refs: where
 *                      the pieces go back into its line (NULL: stored whole).
 *   (changed)          the audit indexes but audit_rule_ts leave out rows
 *                      whose column is NULL; realert is WITHOUT ROWID.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "mlc.h"

/* The first "waiting" note after this long, then one every NOTE_EVERY_MS:
 * our own stages contend for milliseconds, which is no news. */
#define NOTE_FIRST_MS 1000
#define NOTE_EVERY_MS 30000
/* The bounded wait (twilio-status): default and ceiling, below the 15 s
 * Twilio waits for a callback's answer. */
#define BOUNDED_DEFAULT_MS 5000
#define BOUNDED_MAX_MS 10000
/* Statements mlc_store_cached keeps prepared (trail.c's hot writes). */
#define CACHE_MAX 16

struct mlc_store {
	sqlite3 *db;
	char *dir;
	char *path;
	int in_tx;            /* inside mlc_store_tx's fn */
	int warned;           /* mlc_store_warn spoke during this attempt */
	int err;              /* extended code of the last failed store call */
	char what[200];       /* what we wait to do, for the notes */
	uint64_t wait_t0;     /* monotonic ms the current wait began; 0: none */
	uint64_t next_note;
	int announced;
	struct cached {       /* mlc_store_cached: statements kept prepared */
		const char *sql;
		sqlite3_stmt *st;
	} cache[CACHE_MAX];
};

static long wait_limit_ms = -1;   /* < 0: wait as long as the lock is held */
static volatile int *stop_flag;   /* set by a signal handler: stop waiting */

static const char *const migrations[] = {
	/* v1 */
	"CREATE TABLE secret ("
	" name TEXT PRIMARY KEY,"
	" nonce BLOB NOT NULL,"
	" box BLOB NOT NULL,"
	" updated_at TEXT NOT NULL);"
	"CREATE TABLE vault_kdf ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" mode TEXT NOT NULL CHECK (mode IN ('keyfile', 'argon2id')),"
	" salt BLOB,"
	" opslimit INTEGER,"
	" memlimit INTEGER,"
	" check_nonce BLOB NOT NULL,"
	" check_box BLOB NOT NULL);"
	"CREATE TABLE watermark ("
	" rule TEXT PRIMARY KEY,"
	" value TEXT NOT NULL,"
	" updated_at TEXT NOT NULL);"
	"CREATE TABLE watermark_pending ("
	" rule TEXT NOT NULL,"
	" run_id TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" created_at TEXT NOT NULL,"
	" PRIMARY KEY (rule, run_id));"
	"CREATE TABLE realert ("
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" first_sent TEXT,"
	" last_sent TEXT,"
	" count INTEGER NOT NULL DEFAULT 0,"
	" fingerprint TEXT,"
	" PRIMARY KEY (rule, alert_key, recipient));"
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" ts TEXT NOT NULL,"
	" stage TEXT NOT NULL,"
	" rule TEXT,"
	" jde_table TEXT,"
	" record_key TEXT,"
	" alert_id TEXT,"
	" delivery_id TEXT,"
	" recipient TEXT,"
	" channel TEXT,"
	" sid TEXT,"
	" status TEXT,"
	" error_code INTEGER,"
	" attempt INTEGER,"
	" detail TEXT,"
	" line TEXT);"
	"CREATE INDEX audit_rule_ts ON audit (rule, ts);"
	"CREATE INDEX audit_record_key ON audit (record_key);"
	"CREATE INDEX audit_alert_id ON audit (alert_id);"
	"CREATE INDEX audit_delivery_id ON audit (delivery_id);"
	"CREATE INDEX audit_sid ON audit (sid);"
	"CREATE INDEX audit_recipient ON audit (recipient);"
	/*
	 * The trail is evidence, so no ordinary statement may change or remove
	 * it.  Retention (dropping rows older than N days) will be a deliberate
	 * documented path that drops these triggers, deletes and recreates
	 * them in one transaction, and records that it did so in the trail.
	 */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TABLE message_status ("
	" sid TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" error_code INTEGER,"
	" ts TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" PRIMARY KEY (sid, status));"
	"CREATE TABLE run ("
	" rule TEXT NOT NULL,"
	" run_id TEXT NOT NULL,"
	" started_at TEXT,"
	" finished_at TEXT,"
	" status TEXT,"
	" detail TEXT,"
	" PRIMARY KEY (rule, run_id));",
	/* v2: deliveries held by quiet hours until not_before (alert-render). */
	"CREATE TABLE deferred ("
	" delivery_id TEXT PRIMARY KEY,"
	" rule TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" channel TEXT NOT NULL,"
	" not_before TEXT NOT NULL,"
	" line TEXT NOT NULL);"
	"CREATE INDEX deferred_rule_nb ON deferred (rule, not_before);",
	/* v3: the last scheduled slot each rule fired (mlc-rule due, claim). */
	"CREATE TABLE schedule ("
	" rule TEXT PRIMARY KEY,"
	" schedule TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" slot TEXT NOT NULL,"
	" slot_at TEXT NOT NULL,"
	" fired_at TEXT,"
	" updated_at TEXT NOT NULL);",
	/* v4: dead letters (alert-log quarantine). */
	"CREATE TABLE quarantine ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" first_ts TEXT NOT NULL,"
	" last_ts TEXT NOT NULL,"
	" count INTEGER NOT NULL DEFAULT 1,"
	" rule TEXT,"
	" run_id TEXT,"
	" origin TEXT NOT NULL,"
	" lineno INTEGER,"
	" ident TEXT NOT NULL,"
	" delivery_id TEXT,"
	" alert_id TEXT,"
	" record_key TEXT,"
	" field TEXT,"
	" reason TEXT NOT NULL,"
	" audit_id INTEGER,"
	" bytes INTEGER,"
	" line BLOB);"
	"CREATE INDEX quarantine_rule_ident ON quarantine (rule, ident);"
	"CREATE INDEX quarantine_audit_id ON quarantine (audit_id);"
	"CREATE INDEX quarantine_run_id ON quarantine (run_id);",
	/*
	 * v5: the figures alert-log metrics writes for Prometheus.  Counters
	 * only ever grow (kind 'counter'), so they are kept here rather than
	 * counted from audit rows that retention drops; gauges (kind 'gauge')
	 * hold their last value.  Labels are low-cardinality words: a rule,
	 * a channel, an outcome, a remote system; '' when not used.
	 */
	"CREATE TABLE metric ("
	" name TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('counter', 'gauge')),"
	" rule TEXT NOT NULL DEFAULT '',"
	" channel TEXT NOT NULL DEFAULT '',"
	" outcome TEXT NOT NULL DEFAULT '',"
	" system TEXT NOT NULL DEFAULT '',"
	" value REAL NOT NULL DEFAULT 0,"
	" updated_at TEXT NOT NULL,"
	" PRIMARY KEY (name, rule, channel, outcome, system));",
	/*
	 * v6: opt-out (optout.c).  inbound: every message a recipient sent
	 * us, once per MessageSid (the webhook, twilio-status, and the poll of
	 * the Messages list, twilio-send --poll-inbound, both record here;
	 * Twilio redelivers webhooks).  ours is the number (To) or Messaging
	 * Service the message reached, the scope of Twilio's own block;
	 * date_sent is Twilio's time (the poll's watermark is its maximum).
	 * optout: per (ours, theirs), as Twilio addresses ("+1...",
	 * "whatsapp:+1..."), whether the person is opted out now, since when,
	 * how (a keyword, or Twilio's error 21610 on a send) and the message
	 * that did it.
	 */
	"CREATE TABLE inbound ("
	" sid TEXT PRIMARY KEY,"
	" received_at TEXT NOT NULL,"
	" date_sent TEXT NOT NULL,"
	" ours TEXT NOT NULL,"
	" our_number TEXT NOT NULL,"
	" theirs TEXT NOT NULL,"
	" channel TEXT NOT NULL,"
	" body TEXT,"
	" keyword TEXT,"
	" source TEXT NOT NULL);"
	"CREATE INDEX inbound_number_date ON inbound (our_number, date_sent);"
	"CREATE TABLE optout ("
	" ours TEXT NOT NULL,"
	" theirs TEXT NOT NULL,"
	" opted_out INTEGER NOT NULL CHECK (opted_out IN (0, 1)),"
	" since TEXT NOT NULL,"
	" how TEXT NOT NULL,"
	" sid TEXT,"
	" PRIMARY KEY (ours, theirs));",
	/*
	 * v7: the monitor (alert-log monitor).  monitor: each condition of the
	 * connector's own health, per subject (a rule, a remote system), as
	 * last evaluated (active, since), and what the last notice told of it
	 * (told, told_at): a notice is due when the two differ, at most one
	 * per window.  monitor_notice: each notice made, its alert line kept
	 * whole, so that a notice interrupted before its deliveries were
	 * recorded goes out again as the same line, never as a second one.
	 */
	"CREATE TABLE monitor ("
	" cond TEXT NOT NULL,"
	" subject TEXT NOT NULL DEFAULT '',"
	" active INTEGER NOT NULL DEFAULT 0,"
	" since TEXT NOT NULL,"
	" value TEXT,"
	" told INTEGER NOT NULL DEFAULT 0,"
	" told_at TEXT,"
	" notice TEXT,"
	" updated_at TEXT NOT NULL,"
	" PRIMARY KEY (cond, subject));"
	"CREATE TABLE monitor_notice ("
	" id TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL CHECK (kind IN ('notice', 'summary', 'fallback')),"
	" created_at TEXT NOT NULL,"
	" done INTEGER NOT NULL DEFAULT 0,"
	" line TEXT NOT NULL);",
	/*
	 * v8: the alerts still open for a resolved notice ([resolved] of a
	 * rule): one row per (rule, alert key, channel, address) a delivery
	 * was sent to, added by alert-log when it records the sent delivery,
	 * removed when it records the resolved notice's delivery (queued,
	 * deferred, ...).  recipient is the delivery's recipient object.
	 */
	"CREATE TABLE open_alert ("
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" channel TEXT NOT NULL,"
	" to_addr TEXT NOT NULL,"
	" jde_table TEXT,"
	" alert_id TEXT NOT NULL,"
	" recipient TEXT,"
	" sent_at TEXT NOT NULL,"
	" PRIMARY KEY (rule, alert_key, channel, to_addr));",
	/*
	 * v9: acknowledgement (ack.c).  ack: one row per (sid, alert_id), sid
	 * the inbound MessageSid that acknowledged (Twilio redelivers a
	 * webhook, the poll sees a message again: a repeat adds nothing).  An
	 * alert id is the same for every send of one record under one rule,
	 * so an alert may hold several acknowledgements over its life; a
	 * reader asks for those since its own start.  acked_at is RFC 3339
	 * UTC, when the person sent the reply (Twilio's date, else when it
	 * reached us); by_addr their address as Twilio gives it ("+1...",
	 * "whatsapp:+1..."); ours the number or Messaging Service it reached;
	 * how 'latest' (ACK alone), 'code' (ACK 2) or 'document' (ACK 123456),
	 * token what picked it ('2', '123456'; NULL for latest).
	 * reply_code: per recipient address theirs, the code printed in the
	 * SMS of one alert; one code per alert and address (a re-alert keeps
	 * it), reused once its alert is acknowledged or the code is old.
	 */
	"CREATE TABLE ack ("
	" sid TEXT NOT NULL,"
	" alert_id TEXT NOT NULL,"
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" acked_at TEXT NOT NULL,"
	" by_addr TEXT NOT NULL,"
	" ours TEXT,"
	" how TEXT NOT NULL CHECK (how IN ('latest', 'code', 'document')),"
	" token TEXT,"
	" recorded_at TEXT NOT NULL,"
	" PRIMARY KEY (sid, alert_id));"
	"CREATE INDEX ack_alert ON ack (alert_id, acked_at);"
	"CREATE INDEX ack_rule_key ON ack (rule, alert_key, acked_at);"
	"CREATE TABLE reply_code ("
	" theirs TEXT NOT NULL,"
	" code TEXT NOT NULL,"
	" alert_id TEXT NOT NULL,"
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" assigned_at TEXT NOT NULL,"
	" PRIMARY KEY (theirs, code));"
	"CREATE UNIQUE INDEX reply_code_alert ON reply_code (theirs, alert_id);",
	/*
	 * v10: escalation ([escalation] of a rule): per (rule, alert key) sent
	 * and not acknowledged, resolved or stopped, the steps as written, when
	 * the first delivery went, the last step taken and when the next is due
	 * (NULL: all taken).  Opened by alert-log when it records the alert's
	 * first sent delivery, moved when it records a step's delivery (at any
	 * stage: from then on the replay, the deferred table or the cap own
	 * it), removed when it records the step's stop (acknowledged, no longer
	 * matching) or a resolved notice.
	 */
	"CREATE TABLE escalation ("
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" alert_id TEXT NOT NULL,"
	" jde_table TEXT,"
	" steps TEXT NOT NULL,"
	" started_at TEXT NOT NULL,"
	" step INTEGER NOT NULL DEFAULT 0,"
	" next_at TEXT,"
	" PRIMARY KEY (rule, alert_key));"
	"CREATE INDEX escalation_rule_next ON escalation (rule, next_at);",
	/*
	 * v11: the trail stores a value once however many lines hold it
	 * (trail.c, "the stored form of a line"): table trail_piece holds the
	 * values (content addressed: h, a hash of the value's bytes), an
	 * audit row's line is its template and refs says where each piece
	 * goes back (NULL: the line is stored whole); a long template is
	 * deflated, against a model piece (trail.c).  The old rows are
	 * converted in place by the step of this migration
	 * (mlc_trail_compact_all, migration_step below), in this transaction.
	 * Pieces are evidence as the rows are: only retention deletes them,
	 * and only last_ts changes.
	 */
	"CREATE TABLE trail_piece ("
	" id INTEGER PRIMARY KEY,"
	" h INTEGER NOT NULL,"
	" last_ts TEXT NOT NULL,"
	" refs TEXT,"
	" body TEXT NOT NULL);"
	"CREATE INDEX trail_piece_h ON trail_piece (h);"
	"CREATE TRIGGER trail_piece_no_update BEFORE UPDATE OF h, refs, body ON trail_piece"
	" BEGIN SELECT RAISE(ABORT, 'trail pieces are append-only'); END;"
	"CREATE TRIGGER trail_piece_no_delete BEFORE DELETE ON trail_piece"
	" BEGIN SELECT RAISE(ABORT, 'trail pieces are append-only'); END;"
	"ALTER TABLE audit ADD COLUMN refs TEXT;"
	/*
	 * Most rows have no alert, delivery, sid or recipient: the indexes
	 * leave them out (every statement on them names a value, or says IS
	 * NOT NULL, so SQLite uses them as before).  realert is keyed by its
	 * primary key alone: WITHOUT ROWID stores it once, not in a table
	 * and an index.
	 */
	"DROP INDEX audit_record_key;"
	"CREATE INDEX audit_record_key ON audit (record_key) WHERE record_key IS NOT NULL;"
	"DROP INDEX audit_alert_id;"
	"CREATE INDEX audit_alert_id ON audit (alert_id) WHERE alert_id IS NOT NULL;"
	"DROP INDEX audit_delivery_id;"
	"CREATE INDEX audit_delivery_id ON audit (delivery_id) WHERE delivery_id IS NOT NULL;"
	"DROP INDEX audit_sid;"
	"CREATE INDEX audit_sid ON audit (sid) WHERE sid IS NOT NULL;"
	"DROP INDEX audit_recipient;"
	"CREATE INDEX audit_recipient ON audit (recipient) WHERE recipient IS NOT NULL;"
	"CREATE TABLE realert_v11 ("
	" rule TEXT NOT NULL,"
	" alert_key TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" first_sent TEXT,"
	" last_sent TEXT,"
	" count INTEGER NOT NULL DEFAULT 0,"
	" fingerprint TEXT,"
	" PRIMARY KEY (rule, alert_key, recipient)) WITHOUT ROWID;"
	"INSERT INTO realert_v11 SELECT rule, alert_key, recipient, first_sent, last_sent, count,"
	" fingerprint FROM realert;"
	"DROP TABLE realert;"
	"ALTER TABLE realert_v11 RENAME TO realert;",
	/*
	 * v12: an address Twilio refused for good (mlc_retry_bad_address:
	 * 21211, an invalid To; 21614, not a mobile number), on the re-alert
	 * row of the alert and recipient whose delivery it refused: refused_to
	 * the address, refused_code Twilio's code, refused_at when.  While the
	 * recipient's address for that channel is still refused_to the alert
	 * is not sent to it again (realert.c); a send clears the three.
	 */
	"ALTER TABLE realert ADD COLUMN refused_to TEXT;"
	"ALTER TABLE realert ADD COLUMN refused_code INTEGER;"
	"ALTER TABLE realert ADD COLUMN refused_at TEXT;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* What a migration does in C after its SQL, in its transaction (NULL:
 * nothing): the one that brought trail_piece converts the old rows. */
static int (*
migration_step(int v))(struct mlc_store *)
{
	return strstr(migrations[v], "CREATE TABLE trail_piece") ? mlc_trail_compact_all : NULL;
}

/* mkdir -p; every directory we create is 0700 (the state is private). */
static int
mkdirs(const char *dir)
{
	char *p = mlc_xstrdup(dir), *s;
	int rc = 0;

	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

/*
 * A lock held by another process.  SQLITE_LOCKED is a conflict inside our
 * own connection (a statement still reading a table being dropped): no
 * amount of waiting ends it, so it is not one of these.
 */
static int
is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY;
}

static int
code_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return MLC_EX_OK;
	case SQLITE_BUSY:
		/* only where the wait is bounded (mlc_store_bounded_wait) */
		return MLC_EX_TEMPFAIL;
	case SQLITE_LOCKED:
	case SQLITE_CONSTRAINT:
	case SQLITE_MISUSE:
	case SQLITE_ERROR:
	case SQLITE_RANGE:
		return MLC_EX_SOFTWARE;
	default:
		/* IOERR, CORRUPT, NOTADB, FULL, CANTOPEN, READONLY, PERM... */
		return MLC_EX_IOERR;
	}
}

/* A message that tells the operator what to do, not only what SQLite said. */
static void
describe(char *err, size_t errlen, const char *path, sqlite3 *db, int rc)
{
	const char *m = db && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db)
	                                                        : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
		if (stop_flag && *stop_flag)
			snprintf(err, errlen, "%s: database is locked by another process; "
			         "stopped waiting (signal)", path);
		else
			snprintf(err, errlen, "%s: database is locked by another process; gave up "
			         "after %ld ms; try again later", path, wait_limit_ms);
		break;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		snprintf(err, errlen,
		         "%s: %s: the state database is damaged or not an SQLite file; "
		         "move it aside and restore it from a backup", path, m);
		break;
	default:
		snprintf(err, errlen, "%s: %s", path, m);
	}
}

/*
 * synchronous = NORMAL for one connection (alert-render: reply codes,
 * deferred deliveries).  In WAL mode a commit is then written to the WAL
 * but not fsync'd; a process that dies loses nothing, a power cut may
 * roll the last commits back.  That is safe for a writer whose rows only
 * matter once a later line is in the trail: alert-log records that line
 * with a full-sync commit, whose fsync of the one WAL file makes every
 * frame before it durable too, this connection's included.  Without it
 * each reply code cost an fsync (bench/README.md, reply codes).
 */
static int exec_wait(struct mlc_store *s, const char *sql);

int
mlc_store_sync_later(struct mlc_store *s)
{
	return exec_wait(s, "PRAGMA synchronous = NORMAL");
}

/* ---- waiting for a lock held by another process ---- */

void
mlc_store_bounded_wait(void)
{
	const char *e = getenv("ML_CONNECTOR_BUSY_TIMEOUT");
	char *end;
	long ms = BOUNDED_DEFAULT_MS;

	if (e && *e) {
		ms = strtol(e, &end, 10);
		if (*end || ms < 0)
			ms = BOUNDED_DEFAULT_MS;
	}
	wait_limit_ms = ms > BOUNDED_MAX_MS ? BOUNDED_MAX_MS : ms;
}

void
mlc_store_stop_on(volatile int *flag)
{
	stop_flag = flag;
}

void
mlc_store_doing(struct mlc_store *s, const char *what)
{
	snprintf(s->what, sizeof s->what, "%s", what && *what ? what : "use the state database");
}

/*
 * One pause of a wait: the note on stderr when the wait has lasted
 * NOTE_FIRST_MS, again every NOTE_EVERY_MS, then a short sleep growing to
 * 100 ms (SQLite's own steps).  count: pauses so far in this attempt.
 * 1 to wait on, 0 to give up (the bound of a bounded wait, or a stop
 * signal).  The wait spans every pause until wait_done(): a transaction
 * run again after a busy COMMIT is still the same wait.
 */
static int
wait_step(struct mlc_store *s, int count)
{
	static const int steps[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };
	uint64_t now = mlc_time_mono_ms(), el;
	long ms = steps[count < 0 ? 0 : count >= 12 ? 11 : count];
	struct timespec ts;

	if (!s->wait_t0) {
		s->wait_t0 = now ? now : 1;
		s->announced = 0;
	}
	el = now - s->wait_t0;
	if ((wait_limit_ms >= 0 && el >= (uint64_t)wait_limit_ms) || (stop_flag && *stop_flag))
		return 0;
	if (el >= NOTE_FIRST_MS && (!s->announced || now >= s->next_note)) {
		if (!s->announced)
			mlc_warn("%s is locked by another process; waiting to %s", s->path, s->what);
		else
			mlc_warn("%s is still locked by another process (%llu s); waiting to %s",
			         s->path, (unsigned long long)(el / 1000), s->what);
		s->announced = 1;
		s->next_note = now + NOTE_EVERY_MS;
	}
	if (wait_limit_ms >= 0 && (uint64_t)ms > (uint64_t)wait_limit_ms - el)
		ms = (long)((uint64_t)wait_limit_ms - el);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL); /* a signal ends the pause early: then stop_flag is looked at */
	return 1;
}

/* The operation that waited is over: it got through (say so) or failed. */
static void
wait_end(struct mlc_store *s, int through)
{
	if (s->announced && through)
		mlc_warn("%s: the lock is gone after %.1f s of waiting; going on to %s", s->path,
		         (double)(mlc_time_mono_ms() - s->wait_t0) / 1000.0, s->what);
	s->wait_t0 = 0;
	s->announced = 0;
}

static void
wait_done(struct mlc_store *s)
{
	wait_end(s, 1);
}

/* SQLite's busy handler: consulted where SQLite can wait without deadlock. */
static int
on_busy(void *arg, int count)
{
	return wait_step(arg, count);
}

/* Record the outcome of a store call: 0, or -1 with s->err set. */
static int
settle(struct mlc_store *s, int rc, int ok)
{
	if (ok) {
		if (!s->in_tx)
			wait_done(s);
		return 0;
	}
	s->err = sqlite3_extended_errcode(s->db);
	if ((s->err & 0xff) != (rc & 0xff))
		s->err = rc;
	if (!s->in_tx)
		wait_end(s, 0);
	return -1;
}

int
mlc_store_prepare(struct mlc_store *s, const char *sql, struct sqlite3_stmt **st)
{
	int rc, n = 0;

	s->err = 0;
	while (is_busy(rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL)) && !s->in_tx &&
	       wait_step(s, n++))
		;
	return settle(s, rc, rc == SQLITE_OK);
}

int
mlc_store_cached(struct mlc_store *s, const char *sql, struct sqlite3_stmt **st)
{
	int i;

	for (i = 0; i < CACHE_MAX && s->cache[i].sql; i++)
		if (s->cache[i].sql == sql) {
			sqlite3_reset(s->cache[i].st);
			sqlite3_clear_bindings(s->cache[i].st);
			*st = s->cache[i].st;
			s->err = 0;
			return 0;
		}
	if (mlc_store_prepare(s, sql, st) < 0)
		return -1;
	if (i < CACHE_MAX) {
		s->cache[i].sql = sql;
		s->cache[i].st = *st;
	} else {
		mlc_warn("%s: internal error: more than %d cached statements", s->path, CACHE_MAX);
		sqlite3_finalize(*st);
		*st = NULL;
		s->err = SQLITE_MISUSE;
		return -1;
	}
	return 0;
}

int
mlc_store_step(struct mlc_store *s, struct sqlite3_stmt *st)
{
	int rc, n = 0, fresh = !sqlite3_stmt_busy(st);

	s->err = 0;
	/*
	 * Outside a transaction a statement that met a lock before its first
	 * row did nothing yet: run it again.  Inside one, the whole transaction
	 * runs again (mlc_store_tx).
	 */
	while (is_busy(rc = sqlite3_step(st)) && fresh && !s->in_tx) {
		sqlite3_reset(st);
		if (!wait_step(s, n++))
			break;
	}
	settle(s, rc, rc == SQLITE_ROW || rc == SQLITE_DONE);
	return rc;
}

/* sqlite3_exec, waiting while locked (outside transactions); 0 or -1. */
static int
exec_wait(struct mlc_store *s, const char *sql)
{
	int rc, n = 0;

	s->err = 0;
	while (is_busy(rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) && !s->in_tx &&
	       wait_step(s, n++))
		;
	return settle(s, rc, rc == SQLITE_OK);
}

static void
rollback(struct mlc_store *s)
{
	/* Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL). */
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int
mlc_store_tx(struct mlc_store *s, const char *what, int (*fn)(struct mlc_store *, void *),
             void *arg)
{
	sqlite3_stmt *p = NULL;
	char m[600];
	int n = 0, k, r, rc, err;

	mlc_store_doing(s, what);
	/*
	 * A statement still stepping holds a read transaction: BEGIN IMMEDIATE
	 * would then have to upgrade it, which SQLite refuses at once (busy
	 * handler not consulted, SQLITE_BUSY_SNAPSHOT in WAL mode).  Never so.
	 */
	while ((p = sqlite3_next_stmt(s->db, p)))
		if (sqlite3_stmt_busy(p)) {
			mlc_warn("%s: internal error: a statement is still reading when a transaction "
			         "begins (%s)", s->path, s->what);
			return MLC_EX_SOFTWARE;
		}
	for (;; n++) {
		/*
		 * IMMEDIATE: the write lock first, through the busy handler, so
		 * that no statement of fn ever has to upgrade a read lock.
		 */
		s->err = 0;
		rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (is_busy(rc)) {
			if (wait_step(s, n))
				continue;
			err = rc;
			goto giveup;
		}
		if (rc != SQLITE_OK) {
			err = sqlite3_extended_errcode(s->db);
			describe(m, sizeof m, s->path, s->db, err);
			mlc_warn("%s (%s)", m, s->what);
			wait_end(s, 0);
			return code_of(err) ? code_of(err) : MLC_EX_SOFTWARE;
		}
		s->in_tx = 1;
		s->warned = 0;
		r = fn(s, arg);
		err = 0;
		if (r == 0) {
			/* In rollback-journal mode COMMIT waits for readers to finish:
			 * the transaction stays open and COMMIT can be run again. */
			k = 0;
			while (is_busy(rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) &&
			       wait_step(s, k++))
				;
			if (rc == SQLITE_OK) {
				s->in_tx = 0;
				wait_done(s);
				return 0;
			}
			err = sqlite3_extended_errcode(s->db);
		} else if (r < 0) {
			err = s->err ? s->err : sqlite3_extended_errcode(s->db);
		}
		if (err && !is_busy(err) && !s->warned) {
			describe(m, sizeof m, s->path, s->db, err);
			mlc_warn("%s (%s)", m, s->what);
		} else if (!err && r < 0 && !s->warned) {
			mlc_warn("%s: internal error: a transaction failed without a database error (%s)",
			         s->path, s->what);
		}
		rollback(s);
		s->in_tx = 0;
		if (r > 0) {
			wait_done(s);
			return r;
		}
		if (!is_busy(err)) {
			wait_end(s, 0);
			return code_of(err) ? code_of(err) : MLC_EX_SOFTWARE;
		}
		/* Busy where SQLite would not wait: run the whole transaction again. */
		if (!wait_step(s, n))
			goto giveup;
	}
giveup:
	describe(m, sizeof m, s->path, NULL, err);
	mlc_warn("%s (%s)", m, s->what);
	wait_end(s, 0);
	return MLC_EX_TEMPFAIL;
}

/* ---- opening and the schema ---- */

static int
user_version(struct mlc_store *s, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, "PRAGMA user_version", &st) < 0)
		return -1;
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* One migration, under the write lock: the one the schema needs now. */
static int
migrate_one(struct mlc_store *s, void *arg)
{
	char sql[64];
	int v;

	(void)arg;
	/* Another process may have migrated while we waited for the lock. */
	if (user_version(s, &v) < 0)
		return -1;
	if (v >= NMIGRATIONS)
		return 0;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
	if (exec_wait(s, migrations[v]) < 0 || (migration_step(v) && migration_step(v)(s) < 0) ||
	    exec_wait(s, sql) < 0)
		return -1;
	return 0;
}

static int
migrate(struct mlc_store *s, char *err, size_t errlen, int *code)
{
	int v, c;

	for (;;) {
		if (user_version(s, &v) < 0) {
			describe(err, errlen, s->path, s->db, s->err);
			*code = code_of(s->err) ? code_of(s->err) : MLC_EX_IOERR;
			return -1;
		}
		if (v > NMIGRATIONS) {
			snprintf(err, errlen,
			         "%s: schema version %d is newer than this program knows (%d); "
			         "upgrade ml-connector", s->path, v, NMIGRATIONS);
			*code = MLC_EX_CONFIG;
			return -1;
		}
		if (v == NMIGRATIONS)
			return 0;
		if ((c = mlc_store_tx(s, "bring the schema up to date", migrate_one, NULL)) != 0) {
			snprintf(err, errlen, "%s: the schema could not be brought up to date", s->path);
			*code = c;
			return -1;
		}
	}
}

struct mlc_store *
mlc_store_open(const char *dir, char *err, size_t errlen, int *code)
{
	struct mlc_store *s;
	struct mlc_buf path;
	sqlite3_stmt *st;
	int fd, rc, wal = 0;

	if (mkdirs(dir) < 0) {
		snprintf(err, errlen, "%s: cannot create the state directory: %s", dir,
		         strerror(errno));
		*code = MLC_EX_IOERR;
		return NULL;
	}
	mlc_buf_init(&path);
	mlc_buf_printf(&path, "%s/state.db", dir);
	/* Create it ourselves so that it is 0600 whatever the umask. */
	fd = open(path.p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path.p, strerror(errno));
		*code = errno == EACCES || errno == EPERM ? MLC_EX_CONFIG : MLC_EX_IOERR;
		mlc_buf_free(&path);
		return NULL;
	}
	close(fd);

	s = mlc_xcalloc(1, sizeof *s);
	s->dir = mlc_xstrdup(dir);
	s->path = path.p;
	mlc_store_doing(s, "open the state database");
	rc = sqlite3_open_v2(s->path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		s->err = rc;
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* A lock held by another process is waited for (wait_step), however
	 * long unless this process has a bound (mlc_store_bounded_wait). */
	sqlite3_busy_handler(s->db, on_busy, s);
	if (exec_wait(s, "PRAGMA foreign_keys = ON") < 0)
		goto fail;
	/* the SQL function that puts a stored line back together (trail.c) */
	if (mlc_trail_setup(s) < 0) {
		s->err = sqlite3_extended_errcode(s->db);
		goto fail;
	}
	/*
	 * The first real read: a damaged file is found here (SQLITE_NOTADB).
	 * In rollback-journal mode (someone switched the file) another
	 * process's EXCLUSIVE lock blocks even this read: we wait.
	 */
	if (mlc_store_prepare(s, "PRAGMA journal_mode", &st) < 0)
		goto fail;
	if ((rc = mlc_store_step(s, st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);

		wal = m && strcmp(m, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		goto fail;
	/* Switching to WAL needs the file to ourselves: exec_wait waits for that. */
	if (!wal && exec_wait(s, "PRAGMA journal_mode = WAL") < 0)
		goto fail;
	if (migrate(s, err, errlen, code) < 0) {
		mlc_store_close(s);
		return NULL;
	}
	mlc_store_doing(s, NULL);
	return s;
fail:
	describe(err, errlen, s->path, s->db, s->err);
	*code = code_of(s->err) ? code_of(s->err) : MLC_EX_IOERR;
	mlc_store_close(s);
	return NULL;
}

void
mlc_store_close(struct mlc_store *s)
{
	int i;

	if (!s)
		return;
	mlc_store_doing(s, "close the state database");
	for (i = 0; i < CACHE_MAX; i++)
		sqlite3_finalize(s->cache[i].st);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		mlc_warn("%s: close: %s", s->path, sqlite3_errmsg(s->db));
	free(s->dir);
	free(s->path);
	free(s);
}

void *
mlc_store_db(struct mlc_store *s)
{
	return s->db;
}

const char *
mlc_store_statedir(struct mlc_store *s)
{
	return s->dir;
}

static int
last_err(struct mlc_store *s)
{
	return s->err ? s->err : sqlite3_extended_errcode(s->db);
}

int
mlc_store_code(struct mlc_store *s)
{
	int c = code_of(last_err(s));

	return c ? c : MLC_EX_SOFTWARE;
}

int
mlc_store_error(struct mlc_store *s, char *err, size_t errlen)
{
	int rc = last_err(s);

	describe(err, errlen, s->path, s->db, rc);
	return code_of(rc) ? code_of(rc) : MLC_EX_SOFTWARE;
}

void
mlc_store_warn(struct mlc_store *s, const char *what)
{
	char m[512];

	/* Inside a transaction a lock is no error: the transaction runs again. */
	if (s->in_tx && is_busy(last_err(s)))
		return;
	s->warned = 1;
	mlc_store_error(s, m, sizeof m);
	if (what && *what)
		mlc_warn("%s (%s)", m, what);
	else
		mlc_warn("%s", m);
}

/* ---- table schedule (v3) ---- */

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? mlc_xstrdup((const char *)v) : NULL;
}

int
mlc_store_sched_get(struct mlc_store *s, const char *rule, struct mlc_store_sched *row)
{
	sqlite3_stmt *st;
	int rc;

	memset(row, 0, sizeof *row);
	if (mlc_store_prepare(s, "SELECT schedule, zone, slot, slot_at, fired_at FROM schedule"
	                         " WHERE rule = ?1", &st) < 0) {
		mlc_store_warn(s, "schedule");
		return -1;
	}
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		row->schedule = col_dup(st, 0);
		row->zone = col_dup(st, 1);
		row->slot = col_dup(st, 2);
		row->slot_at = col_dup(st, 3);
		row->fired_at = col_dup(st, 4);
		rc = row->schedule && row->zone && row->slot ? 1 : 0;
		if (!rc)
			mlc_store_sched_free(row);
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		mlc_store_warn(s, "schedule");
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

int
mlc_store_sched_put(struct mlc_store *s, const char *rule, const struct mlc_store_sched *row)
{
	char now[32];
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, "INSERT OR REPLACE INTO schedule"
	                         " (rule, schedule, zone, slot, slot_at, fired_at, updated_at)"
	                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st) < 0) {
		mlc_store_warn(s, "schedule");
		return -1;
	}
	mlc_time_now_text(now);
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->schedule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, row->zone, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row->slot, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, row->slot_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, row->fired_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(s, "schedule");
		return -1;
	}
	return 0;
}

void
mlc_store_sched_free(struct mlc_store_sched *row)
{
	free(row->schedule);
	free(row->zone);
	free(row->slot);
	free(row->slot_at);
	free(row->fired_at);
	memset(row, 0, sizeof *row);
}

/* ---- the incremental watermark (jde-fetch; the value's form is its own) ---- */

/* The one text column of the one row sql selects with text parameters a
 * and b (b NULL: one parameter): 1 with *out malloc'd, 0 no row, -1. */
static int
text_row(struct mlc_store *s, const char *sql, const char *a, const char *b, char **out)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		*out = col_dup(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return *out ? 1 : 0;
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Run sql with text parameters (NULL ends them, at most four): 0 or -1. */
static int
text_exec(struct mlc_store *s, const char *sql, const char *p1, const char *p2, const char *p3,
          const char *p4)
{
	const char *p[4] = { p1, p2, p3, p4 };
	sqlite3_stmt *st;
	int i, rc;

	if (mlc_store_prepare(s, sql, &st) < 0)
		return -1;
	for (i = 0; i < 4 && p[i]; i++)
		sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mlc_store_wm_get(struct mlc_store *s, const char *rule, char **value)
{
	return text_row(s, "SELECT value FROM watermark WHERE rule = ?1", rule, NULL, value);
}

int
mlc_store_wm_pending_get(struct mlc_store *s, const char *rule, const char *run_id, char **value)
{
	return text_row(s, "SELECT value FROM watermark_pending WHERE rule = ?1 AND run_id = ?2",
	                rule, run_id, value);
}

int
mlc_store_wm_pending_put(struct mlc_store *s, const char *rule, const char *run_id,
                         const char *value)
{
	char now[32];

	mlc_time_now_text(now);
	return text_exec(s, "INSERT OR REPLACE INTO watermark_pending (rule, run_id, value, created_at)"
	                    " VALUES (?1, ?2, ?3, ?4)", rule, run_id, value, now);
}

int
mlc_store_wm_commit(struct mlc_store *s, const char *rule, const char *value)
{
	char now[32];

	mlc_time_now_text(now);
	if (text_exec(s, "INSERT OR REPLACE INTO watermark (rule, value, updated_at)"
	                 " VALUES (?1, ?2, ?3)", rule, value, now, NULL) < 0)
		return -1;
	/* Runs that never committed are superseded by this one. */
	return text_exec(s, "DELETE FROM watermark_pending WHERE rule = ?1", rule, NULL, NULL, NULL);
}
