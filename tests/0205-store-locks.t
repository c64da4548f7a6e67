#!/usr/bin/env bash
# Issue 11: a lock on state.db held by another process is a wait, not a
# failure (store.c).  For every program that writes the state database, an
# outside sqlite3 holds BEGIN EXCLUSIVE while the program runs: it says on
# stderr that it waits and for what, stays alive, writes nothing on stdout
# while it cannot record, and once the lock is gone it records and exits 0.
# Readers are not blocked in WAL mode; in rollback-journal mode (someone
# switched the file) and under an exclusive locking mode they wait too.
# twilio-status, which answers Twilio, waits only ML_CONNECTOR_BUSY_TIMEOUT
# ms, then 503.  A real I/O error (a damaged page, a full disk) still stops
# the program with 74.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lock-lib.sh"

export ML_CONNECTOR_KDF_FAST=1
F=$TOP/tests/fixtures
WAITING='locked by another process; waiting to'

# state NAME: a fresh state directory with a vault
state() {
	export ML_CONNECTOR_STATE=$T/$1
	DB=$ML_CONNECTOR_STATE/state.db
	mlc-vault init >/dev/null 2>&1
}

# held CMD...: run CMD (stdin $IN, default /dev/null) while an outside
# sqlite3 holds BEGIN EXCLUSIVE on $DB ($LOCK_PRE runs before it, e.g. a
# locking mode).  Waits until CMD says that it waits (or 60 s), notes
# whether it is still alive and what it wrote meanwhile, then releases the
# lock.  Sets said (0: it said so), alive (0: still running when the lock
# ended), early (bytes on stdout while locked) and rc; stdout and stderr in
# $T/held.out and $T/held.err.
held() {
	lock_take "$DB" || return 1
	: >"$T/held.err" # now, not in the child: the grep below must not see the last run's
	# without the holder's fifo: else the holder sees no EOF while CMD lives
	"$@" <"${IN:-/dev/null}" >"$T/held.out" 2>"$T/held.err" {LOCK_FD}>&- &
	local p=$!
	wait_for grep -q "$WAITING" "$T/held.err"
	said=$?
	kill -0 "$p" 2>/dev/null
	alive=$?
	early=$(wc -c <"$T/held.out" | tr -d ' ')
	lock_release
	wait "$p"
	rc=$?
}
# waited WHO WHAT: the checks every program must pass under the lock
waited() {
	is "$said/$alive/$rc" 0/0/0 "$1: says it waits, waits, then exits 0"
	like "$(cat "$T/held.err")" "^$1: .*state.db is locked by another process; waiting to $2" \
		"$1: the message says what it waits to do"
	like "$(cat "$T/held.err")" "the lock is gone after [0-9.]+ s of waiting" "$1: and when it goes on"
}

# ---- alert-log: the tee records what it has read, however long the wait -----
state log
printf '{"delivery_id":"d/%s","rule":"r","to":"+15550100","status":"queued","sid":"SM%s"}\n' \
	1 1 2 2 3 3 >"$T/three"
IN=$T/three held alert-log
waited alert-log "record 3 lines in the audit trail"
is "$early" 0 "alert-log: nothing forwarded while it could not record"
diff_ok "$T/held.out" "$T/three" "alert-log: then every line forwarded"
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE delivery_id LIKE 'd/%'")" 3 \
	"alert-log: and every line in the trail"
held alert-log run begin r run1
waited alert-log "record the start of a run"
is "$(sqlite3 "$DB" "SELECT status FROM run WHERE run_id = 'run1'")" running "alert-log run: recorded"
lock_take "$DB"
# (a timeout: were it blocked, the lock would never end and the test hang)
timeout 60 alert-log query --delivery d/2 >"$T/q" 2>"$T/q.err" {LOCK_FD}>&-
is "$?/$(jq -r .delivery_id "$T/q")" "0/d/2" "alert-log query: a reader is not blocked (WAL)"
lock_release

# ---- mlc-vault -------------------------------------------------------------------
echo s3cret >"$T/secret"
IN=$T/secret held mlc-vault set x.y
waited mlc-vault "store secret x.y"
is "$(mlc-vault list | cut -f1)" x.y "mlc-vault: the secret is stored"

# ---- alert-render: release and deferral ------------------------------------------
state render
R=$F/render-rules
IN=$F/render-quiet.in.ndjson held alert-render -r "$R/quiet.rule" --now 2024-01-15T04:30:00Z
waited alert-render "(release deliveries held by quiet hours|hold a delivery for quiet hours)"
is "$(jq -r 'select(.deferred) | .to' "$T/held.out" | tr '\n' ' ')" \
	"+13125550100 +493055501 +13125550100 " "alert-render: the three deferred deliveries"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM deferred')" 3 "alert-render: all three held in the state"
held alert-render -r "$R/quiet.rule" --release --now 2024-01-15T13:00:00Z
waited alert-render "release deliveries held by quiet hours"
is "$(jq -r .released_at "$T/held.out" | sort | uniq -c | tr -s ' ')" " 3 2024-01-15T13:00:00.000Z" \
	"alert-render --release: released all three, once"

# ---- alert-match: reads only (the re-alert index) --------------------------------
state match
grep '"F0411_DOC":123456,' "$F/match-ap-aging.in.ndjson" >"$T/rec"
lock_take "$DB"
timeout 60 alert-match --now 2026-11-26T14:00:00Z -r "$F/match-rules/realert.rule" <"$T/rec" \
	>"$T/m1" 2>"$T/m1.err" {LOCK_FD}>&-
is "$?/$(grep -c . "$T/m1")" 0/1 "alert-match: not blocked by a writer (WAL)"
lock_release
# An exclusive locking mode blocks readers too: alert-match waits.
LOCK_PRE='PRAGMA locking_mode = EXCLUSIVE;' IN=$T/rec \
	held alert-match --now 2026-11-26T14:00:00Z -r "$F/match-rules/realert.rule"
waited alert-match "(open the state database|check the re-alert index)"
is "$(grep -c . "$T/held.out")" 1 "alert-match: then it matches"

# ---- jde-fetch: the pending watermark and --commit --------------------------------
state fetch
PW='an0ther-Pa55'
ais_start "$PW" "$TOP/data/jde" || exit 1
mkdir -p "$T/rules"
cat >"$ML_CONNECTOR_CONF" <<EOF
[general]
default_country = 1
rules_dir = $T/rules
[ais]
url = http://127.0.0.1:$MLC_AIS_SIM_PORT
user = JDE
environment = JDV920
device = locks
EOF
printf '[rule]\nname = inc\n\n[source]\ntable = F0411\nincremental = UPMJ UPMT\n' >"$T/rules/inc.rule"
printf '%s\n' "$PW" | mlc-vault set ais.password
held jde-fetch -r inc --run-id r1
waited jde-fetch "store the pending watermark"
is "$(grep -c . "$T/held.out")" "$(grep -c . "$TOP/data/jde/F0411.ndjson")" "jde-fetch: every row"
held jde-fetch --commit inc r1
waited jde-fetch "commit the watermark"
jde-fetch --show-watermark inc >/dev/null
is "$?" 0 "jde-fetch: the watermark is committed"
# A stop signal ends the wait: 75, nothing committed.
lock_take "$DB"
jde-fetch -r inc --run-id r2 >/dev/null 2>"$T/stop.err" {LOCK_FD}>&- &
jp=$!
wait_for grep -q "$WAITING" "$T/stop.err"
kill -TERM "$jp"
wait "$jp"
is "$?" 75 "jde-fetch: SIGTERM while waiting for the lock: 75"
like "$(cat "$T/stop.err")" "stopped waiting" "jde-fetch: says it stopped waiting"
lock_release
is "$(sqlite3 "$DB" "SELECT count(*) FROM watermark_pending WHERE run_id = 'r2'")" 0 \
	"jde-fetch: and stored nothing"

# ---- twilio-status: a bounded wait, then 503 ---------------------------------------
state status
. "$TOP/tests/fixtures/send-env.sh"
URL='https://alerts.example.com/ml/status'
(umask 077 && printf '%s\n' "$TOKEN" >"$T/token")
printf '[twilio]\naccount_sid = %s\nstatus_callback = %s\n' "$AC" "$URL" >"$ML_CONNECTOR_CONF"
printf '%s\n' "$TOKEN" | mlc-vault set twilio.auth_token
SID=SM0000000000000000000000000000000a
body="MessageSid=$SID&MessageStatus=delivered&AccountSid=$AC"
sig=$(twsig-check sign "$T/token" "$URL" "MessageSid=$SID" "MessageStatus=delivered" "AccountSid=$AC")
cgi() {
	REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#body} \
		HTTP_X_TWILIO_SIGNATURE=$sig QUERY_STRING='' twilio-status <<<"$body"
}
lock_take "$DB"
ML_CONNECTOR_BUSY_TIMEOUT=300 cgi >"$T/st.out" 2>"$T/st.err"
is "$?/$(head -n 1 "$T/st.out" | tr -d '\r')" "75/Status: 503 Service Unavailable" \
	"twilio-status: locked past ML_CONNECTOR_BUSY_TIMEOUT: 503, 75"
like "$(cat "$T/st.err")" "locked by another process; gave up after 300 ms" "twilio-status: says why"
lock_release
is "$(sqlite3 "$DB" "SELECT count(*) FROM message_status WHERE sid = '$SID'")" 0 \
	"twilio-status: nothing recorded"
ML_CONNECTOR_BUSY_TIMEOUT=10000 held cgi
waited twilio-status "record a status callback"
is "$(head -n 1 "$T/held.out" | tr -d '\r')" "Status: 204 No Content" \
	"twilio-status: a lock shorter than the bound: 204"
is "$(sqlite3 "$DB" "SELECT count(*) FROM message_status WHERE sid = '$SID'")" 1 \
	"twilio-status: recorded"

# ---- rollback-journal mode: the outside lock blocks readers, and the switch
# back to WAL at open waits for the file ----------------------------------------------
state rollback
echo '{"a":1}' | alert-log >/dev/null
sqlite3 "$DB" 'PRAGMA journal_mode = DELETE' >/dev/null
held alert-log query --lines
waited alert-log "open the state database"
is "$(sqlite3 "$DB" 'PRAGMA journal_mode')" wal "back in WAL mode"
is "$(jq -r .line "$T/held.out")" '{"a":1}' "alert-log query: then it reads"

# ---- a real I/O error stops the flow: 74 -------------------------------------------
state damaged
seq 1 3000 | sed 's/.*/{"delivery_id":"x\/&","rule":"r","to":"+1555","body":"some text to fill pages"}/' |
	alert-log >/dev/null
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
root=$(sqlite3 "$DB" "SELECT rootpage FROM sqlite_schema WHERE name = 'audit'")
psz=$(sqlite3 "$DB" 'PRAGMA page_size')
head -c "$psz" /dev/urandom | dd of="$DB" bs="$psz" seek=$((root - 1)) conv=notrunc 2>/dev/null
echo '{"delivery_id":"y/1","rule":"r"}' | alert-log >"$T/dmg.out" 2>"$T/dmg.err"
is "$?" 74 "a damaged audit table: alert-log exits 74"
is "$(wc -c <"$T/dmg.out" | tr -d ' ')" 0 "nothing forwarded"
like "$(cat "$T/dmg.err")" "damaged or not an SQLite file" "the message says the database is damaged"
unlike "$(cat "$T/dmg.err")" "$WAITING" "no waiting: an error is no lock"

state full
echo '{"a":0}' | alert-log >/dev/null
sz=$(du -k "$DB" | cut -f1)
seq 1 20000 | sed 's/.*/{"delivery_id":"f\/&","rule":"f","to":"+1555","body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}/' >"$T/big"
(trap '' XFSZ; ulimit -f $((sz + 256)); exec alert-log <"$T/big" >"$T/full.out" 2>"$T/full.err")
is "$?" 74 "a full disk (file size limit): alert-log exits 74"
like "$(cat "$T/full.err")" "state.db: .*(full|disk)" "the message names the database and the full disk"
unlike "$(cat "$T/full.err")" "$WAITING" "no waiting"

done_testing
