#!/usr/bin/env bash
# The state database (src/store.c), driven through mlc-vault: location,
# modes, schema, append-only audit, damaged and locked databases.
. "$(dirname "$0")/lib.sh"

S=$ML_CONNECTOR_STATE
DB=$S/state.db

mlc-vault list >"$T/out" 2>"$T/err"
is "$?" 66 "list before init: no vault (66)"
like "$(cat "$T/err")" "no vault in .*mlc-vault init" "list before init: says how to create one"
is "$(stat -c %a "$S")" 700 "state directory created 0700"
is "$(stat -c %a "$DB")" 600 "state.db created 0600"
is "$(sqlite3 "$DB" 'PRAGMA user_version')" 12 "schema migrated to version 12"
is "$(sqlite3 "$DB" 'PRAGMA journal_mode')" wal "WAL journal mode"

tables=$(sqlite3 "$DB" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)")
is "$tables" "ack audit deferred escalation inbound message_status metric monitor monitor_notice open_alert optout quarantine realert reply_code run schedule secret trail_piece vault_kdf watermark watermark_pending" "schema v12 tables"
idx=$(sqlite3 "$DB" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit' AND name NOT LIKE 'sqlite_%' ORDER BY name)")
is "$idx" "audit_alert_id audit_delivery_id audit_recipient audit_record_key audit_rule_ts audit_sid" "audit indexes"

# Opening again does not migrate again.
mlc-vault list >/dev/null 2>&1
is "$(sqlite3 "$DB" 'PRAGMA user_version')" 12 "second open keeps version 12"

# The audit trail is append-only.
sqlite3 "$DB" "INSERT INTO audit (ts, stage, rule) VALUES ('2024-01-15T08:00:00.000Z', 'match', 'ap-aging')"
ok "audit: insert works"
sqlite3 "$DB" "UPDATE audit SET rule = 'x'" 2>"$T/err"
isnt "$?" 0 "audit: update refused"
like "$(cat "$T/err")" "append-only" "audit: update message"
sqlite3 "$DB" "DELETE FROM audit" 2>"$T/err"
isnt "$?" 0 "audit: delete refused"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM audit')" 1 "audit: row still there"

# message_status dedupes (sid, status).
sqlite3 "$DB" "INSERT INTO message_status VALUES ('SM1', 'delivered', NULL, 't', 'callback')"
sqlite3 "$DB" "INSERT OR IGNORE INTO message_status VALUES ('SM1', 'delivered', NULL, 't2', 'poll')"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM message_status')" 1 "message_status: one row per (sid, status)"

# A database from the future is refused as a configuration problem.
sqlite3 "$DB" 'PRAGMA user_version = 99'
mlc-vault list >/dev/null 2>"$T/err"
is "$?" 78 "newer schema: refused (78)"
like "$(cat "$T/err")" "schema version 99 is newer" "newer schema: message"
sqlite3 "$DB" 'PRAGMA user_version = 12'

# A version 2 database (before schedules and the quarantine) is migrated,
# its rows kept.
sqlite3 "$DB" 'DROP TABLE trail_piece; ALTER TABLE audit DROP COLUMN refs; DROP TABLE escalation; DROP TABLE ack; DROP TABLE reply_code; DROP TABLE open_alert; DROP TABLE monitor; DROP TABLE monitor_notice; DROP TABLE optout; DROP TABLE inbound; DROP TABLE metric; DROP TABLE quarantine; DROP TABLE schedule; ALTER TABLE realert DROP COLUMN refused_to; ALTER TABLE realert DROP COLUMN refused_code; ALTER TABLE realert DROP COLUMN refused_at; PRAGMA user_version = 2'
mlc-vault list >/dev/null 2>&1
is "$(sqlite3 "$DB" 'PRAGMA user_version')/$(sqlite3 "$DB" 'SELECT count(*) FROM quarantine')/$(sqlite3 "$DB" 'SELECT count(*) FROM schedule')/$(sqlite3 "$DB" 'SELECT count(*) FROM audit')/$(sqlite3 "$DB" 'SELECT count(*) FROM optout')/$(sqlite3 "$DB" 'SELECT count(*) FROM monitor')/$(sqlite3 "$DB" 'SELECT count(*) FROM ack')/$(sqlite3 "$DB" 'SELECT count(*) FROM escalation')/$(sqlite3 "$DB" 'SELECT count(*) FROM pragma_table_info('"'realert'"') WHERE name LIKE '"'refused_%'"'')" \
	12/0/0/1/0/0/0/0/3 "v2 -> v12: the schedule, quarantine, metric, inbound, optout, monitor, open_alert, ack, reply_code, escalation and trail_piece tables and realert's refused columns added, the trail kept"

# State directory resolution.
mkdir -p "$T/xdg" "$T/home"
# (The whole order, HOME and root included, is tests/0115-conf-paths.t's.)
(unset ML_CONNECTOR_STATE; XDG_STATE_HOME=$T/xdg mlc-vault list >/dev/null 2>&1)
test -f "$T/xdg/ml-connector/state.db"
ok "XDG_STATE_HOME/ml-connector/state.db"
is "$(stat -c %a "$T/xdg/ml-connector")" 700 "a state dir it creates is 0700"
mlc-vault -d "$T/opt" list >/dev/null 2>&1
test -f "$T/opt/state.db"
ok "-d overrides ML_CONNECTOR_STATE"

# A damaged database is a clear error, not a crash.
mkdir -p "$T/bad"
head -c 8192 /dev/urandom >"$T/bad/state.db"
mlc-vault -d "$T/bad" list >"$T/out" 2>"$T/err"
is "$?" 74 "garbage state.db: 74"
like "$(cat "$T/err")" "^mlc-vault: .*state.db: .*(not a database|malformed).*backup" "garbage state.db: message"
mkdir -p "$T/bad2"
printf 'SQLite format 3\000this is not really a database' >"$T/bad2/state.db"
mlc-vault -d "$T/bad2" check >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 74 ] || [ "$rc" -eq 78 ]
ok "truncated header: 74 or 78 (got $rc)"
like "$(cat "$T/err")" "^mlc-vault: " "truncated header: message"

# A database locked by another process: a wait, not a failure (every
# program: tests/0205-store-locks.t).  Readers still read (WAL).
mlc-vault init 2>/dev/null
ok "init"
. "$TOP/tests/lock-lib.sh"
lock_take "$DB" "INSERT INTO run (rule, run_id) VALUES ('lock', '1');"
ok "another process holds the write lock"
echo value | mlc-vault set x.y >"$T/out" 2>"$T/err" {LOCK_FD}>&- &
setter=$!
wait_for grep -q "locked by another process; waiting to store secret x.y" "$T/err"
ok "locked database: set says it waits"
timeout 60 mlc-vault list >/dev/null 2>&1 {LOCK_FD}>&-
is "$?" 0 "locked database: readers still read (WAL)"
kill -0 "$setter"
ok "locked database: set is still waiting"
lock_release
wait "$setter"
is "$?" 0 "lock released: set went on and stored the secret"
is "$(mlc-vault list | cut -f1)" x.y "the secret is there"

done_testing
