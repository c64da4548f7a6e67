/*
 * store.c — the state database: one SQLite file, STATE/state.db.
 *
 * Every process opens it with WAL journaling (readers never wait for the
 * one writer), a busy timeout (a writer waits for another, then gives up
 * with MLC_EX_TEMPFAIL instead of failing at once) and foreign keys on.
 * The file is created 0600 inside a 0700 directory; SQLite gives its -wal
 * and -shm files the mode of the database file.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "mlc.h"

#define BUSY_TIMEOUT_MS 5000

struct mlc_store {
	sqlite3 *db;
	char *dir;
	char *path;
};

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
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

const char *
mlc_store_dir(const char *opt)
{
	static char buf[PATH_MAX];
	const char *e;

	if (opt && *opt)
		snprintf(buf, sizeof buf, "%s", opt);
	else if ((e = getenv("ML_CONNECTOR_STATE")) && *e)
		snprintf(buf, sizeof buf, "%s", e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e == '/')
		snprintf(buf, sizeof buf, "%s/ml-connector", e);
	else if ((e = getenv("HOME")) && *e)
		snprintf(buf, sizeof buf, "%s/.local/state/ml-connector", e);
	else
		snprintf(buf, sizeof buf, "/var/lib/ml-connector");
	return buf;
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

static int
code_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return MLC_EX_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return MLC_EX_TEMPFAIL;
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
	const char *m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(err, errlen, "%s: database is locked by another process; try again later",
		         path);
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

static long
busy_timeout(void)
{
	const char *e = getenv("ML_CONNECTOR_BUSY_TIMEOUT");
	char *end;
	long ms;

	if (!e || !*e)
		return BUSY_TIMEOUT_MS;
	ms = strtol(e, &end, 10);
	if (*end || ms < 0 || ms > 3600000)
		return BUSY_TIMEOUT_MS;
	return ms;
}

static int
user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
migrate(struct mlc_store *s, char *err, size_t errlen, int *code)
{
	int v, rc;

	for (;;) {
		char sql[64];

		if ((rc = user_version(s->db, &v)) != SQLITE_OK)
			goto fail;
		if (v > NMIGRATIONS) {
			snprintf(err, errlen,
			         "%s: schema version %d is newer than this program knows (%d); "
			         "upgrade ml-connector", s->path, v, NMIGRATIONS);
			*code = MLC_EX_CONFIG;
			return -1;
		}
		if (v == NMIGRATIONS)
			return 0;
		if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
		/* Another process may have migrated while we waited for the lock. */
		if ((rc = user_version(s->db, &v)) != SQLITE_OK)
			goto rollback;
		if (v >= NMIGRATIONS) {
			sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
			continue;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if ((rc = sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
			goto rollback;
	}
rollback:
	describe(err, errlen, s->path, s->db, rc);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	*code = code_of(rc);
	return -1;
fail:
	describe(err, errlen, s->path, s->db, rc);
	*code = code_of(rc);
	return -1;
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
	rc = sqlite3_open_v2(s->path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, (int)busy_timeout());
	if ((rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	/* The first real read: a damaged file is found here (SQLITE_NOTADB). */
	if ((rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL)) != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);

		wal = m && strcmp(m, "wal") == 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		goto fail;
	if (!wal && (rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL)) !=
	    SQLITE_OK)
		goto fail;
	if (migrate(s, err, errlen, code) < 0) {
		mlc_store_close(s);
		return NULL;
	}
	return s;
fail:
	describe(err, errlen, s->path, s->db, rc);
	*code = code_of(rc);
	mlc_store_close(s);
	return NULL;
}

void
mlc_store_close(struct mlc_store *s)
{
	if (!s)
		return;
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

int
mlc_store_schema_version(struct mlc_store *s)
{
	int v = -1;

	if (user_version(s->db, &v) != SQLITE_OK)
		return -1;
	return v;
}

int
mlc_store_code(struct mlc_store *s)
{
	int c = code_of(sqlite3_extended_errcode(s->db));

	return c ? c : MLC_EX_SOFTWARE;
}

int
mlc_store_error(struct mlc_store *s, char *err, size_t errlen)
{
	int rc = sqlite3_extended_errcode(s->db);

	describe(err, errlen, s->path, s->db, rc);
	return code_of(rc) ? code_of(rc) : MLC_EX_SOFTWARE;
}

void
mlc_store_warn(struct mlc_store *s, const char *what)
{
	char m[512];

	mlc_store_error(s, m, sizeof m);
	if (what && *what)
		mlc_warn("%s (%s)", m, what);
	else
		mlc_warn("%s", m);
}

int
mlc_store_exec(struct mlc_store *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		mlc_store_warn(s, NULL);
		return -1;
	}
	return 0;
}

int
mlc_store_begin(struct mlc_store *s)
{
	return mlc_store_exec(s, "BEGIN IMMEDIATE");
}

int
mlc_store_commit(struct mlc_store *s)
{
	return mlc_store_exec(s, "COMMIT");
}

void
mlc_store_rollback(struct mlc_store *s)
{
	/* Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL). */
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
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
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT schedule, zone, slot, slot_at, fired_at FROM schedule"
	                       " WHERE rule = ?1", -1, &st, NULL) != SQLITE_OK) {
		mlc_store_warn(s, "schedule");
		return -1;
	}
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
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

	if (sqlite3_prepare_v2(s->db,
	                       "INSERT OR REPLACE INTO schedule"
	                       " (rule, schedule, zone, slot, slot_at, fired_at, updated_at)"
	                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL) != SQLITE_OK) {
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
	rc = sqlite3_step(st);
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
