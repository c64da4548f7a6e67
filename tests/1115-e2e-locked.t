#!/usr/bin/env bash
# Issue 11: an outside process (a backup job, an operator's sqlite3 shell)
# holds BEGIN EXCLUSIVE on state.db in the middle of a run.  That is a
# wait, not a failure: every stage waits for as long as the lock is held,
# says so on stderr, and then records what it has read; nothing is sent
# twice, every outcome is in the trail.  Then the quiet-hours release under
# a lock: the released SMS go out exactly once.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
RULES=(high-value-po ap-aging)
. "$(dirname "$0")/e2e-lib.sh"
. "$(dirname "$0")/lock-lib.sh"

# twice: "to<TAB>body" or "to<TAB>subject" the simulator accepted more than once
twice() { accepted | uniq -d | grep -c . || true; }
# The sids (and SendGrid message ids) the simulator accepted, and the ones
# the trail holds as sent: the same set when every outcome was recorded.
sim_ids() { curl -fsS "$TW/_sim/messages" | jq -r '.resource.sid // .x_message_id // empty' | sort -u; }
trail_ids() { alert-log query --stage sent -f ndjson | jq -r '.sid // empty' | sort -u; }

# ---- 1. a 7 s lock while messages go out (the old timeout was 5 s) ----------
# Slow Twilio answers (200 ms) at 5 a second: the run is sending for several
# seconds.  The lock is taken once the first message was accepted, so the
# results tee (alert-log after twilio-send) meets it with results in hand.
start_env held 200 5 || exit 1
mlc-vault list >/dev/null
ml-connector run "${RULES[@]}" >/dev/null 2>"$T/held.err" &
run=$!
wait_for sh -c "curl -fsS '$TW/_sim/messages' | grep -q ."
ok "messages are going out"
lock_take "$ML_CONNECTOR_STATE/state.db"
ok "an outside sqlite3 holds BEGIN EXCLUSIVE on state.db"
t0=$(date +%s)
# Hold it until a stage says it waits, and for 7 s at least.
wait_for grep -qs 'locked by another process; waiting to' "$T/held.err"
ok "a stage says that it waits for the lock"
while [ $(($(date +%s) - t0)) -lt 7 ]; do sleep 0.2; done
lock_release
wait "$run"
is "$?" 0 "the run waited out the lock and succeeded"
like "$(cat "$T/held.err")" 'alert-log: .*state.db is locked by another process; waiting to record [0-9]+ lines?' \
	"alert-log said what it waits to do"
unlike "$(cat "$T/held.err")" 'try again later|database is locked' "no stage gave up"
n1=$(accepted | wc -l | tr -d ' ')
ml-connector run "${RULES[@]}" >/dev/null 2>>"$T/held.err"
is "$?" 0 "the next run succeeds"
is "$(accepted | wc -l | tr -d ' ')" "$n1" "and sends nothing more ($n1 messages in all)"
is "$(twice)" 0 "no SMS and no e-mail accepted twice"
diff_ok <(trail_ids) <(sim_ids) "every message accepted is in the trail as sent"
is "$(alert-log status -f ndjson | jq -r '[.unknown, .pending] | @tsv' | sort -u)" "$(printf '0\t0')" \
	"nothing unknown, nothing pending"
stop_env

# ---- 2. the quiet-hours release under a lock: every SMS exactly once --------
# high-value-po with quiet hours: a run at 22:00 Chicago holds the SMS; in
# the morning the release step of a run (ml-connector(8): alert-render
# --release | alert-log | twilio-send | alert-log) meets the lock.
# held NAME: a fresh environment whose high-value-po has quiet hours, and a
# run at 22:00 Chicago that holds its SMS: its status in held_rc, its stderr
# in $T/NAME.err, DB the state database, nd the SMS held.
held() {
	start_env "$1" 0 50 || exit 1
	sed -i 's/^\[recipients\]$/[limits]\nquiet_hours = 21:00-07:00\n\n&/' "$ML_CONNECTOR_RULES/high-value-po.rule"
	DB=$ML_CONNECTOR_STATE/state.db
	ML_CONNECTOR_NOW=2026-11-26T04:00:00Z ml-connector run high-value-po >/dev/null 2>"$T/$1.err"
	held_rc=$?
	nd=$(sqlite3 "$DB" 'SELECT count(*) FROM deferred')
}
held quiet
is "$held_rc" 0 "a run in quiet hours"
isnt "$nd" 0 "it held $nd SMS"
is "$(sms_accepted | grep -c . || true)" 0 "and sent none"
lock_take "$DB"
( { alert-render -r high-value-po --release 2>"$T/rel.err"; echo $? >"$T/rel.rc"; } |
	alert-log 2>"$T/dlog.err" | twilio-send 2>"$T/dsend.err" | alert-log >/dev/null 2>"$T/dlog2.err" ) \
	{LOCK_FD}>&- &
step=$!
wait_for sh -c "test -s '$T/rel.rc' || grep -qs 'waiting to release' '$T/rel.err'"
ok "the release meets the lock"
lock_release
wait "$step"
is "$(cat "$T/rel.rc")" 0 "the release waited and succeeded"
like "$(cat "$T/rel.err")" 'alert-render: .*state.db is locked by another process; waiting to release deliveries held by quiet hours' \
	"and said what it waits to do"
ml-connector run high-value-po >/dev/null 2>>"$T/quiet.err"
is "$?" 0 "the next run succeeds"
ml-connector run high-value-po >/dev/null 2>>"$T/quiet.err"
is "$?" 0 "and the one after"
is "$(sms_accepted | grep -c .)" "$nd" "every held SMS was sent"
is "$(sms_accepted | uniq -d | grep -c . || true)" 0 "none twice"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM deferred')" 0 "the released rows are gone (their release is in the trail)"
unlike "$(cat "$T/quiet.err")" 'database is locked|try again later' "no stage gave up"
stop_env

# ---- 3. a release cut short: the trail decides --------------------------------
# (a) the released lines never reach the trail (the release step's alert-log
# died with them unread): they were not sent, so the next run releases them
# again.  (b) the release is recorded and Twilio accepts the SMS, but their
# results are lost (the last alert-log died): the next run's replay hands
# them to twilio-send --reconcile, which finds them; the release does not
# emit them again.
held cut
isnt "$nd" 0 "(a) $nd SMS held"
alert-render -r high-value-po --release >/dev/null 2>>"$T/cut.err"
is "$?" 0 "(a) released, but not recorded"
ml-connector run high-value-po >/dev/null 2>>"$T/cut.err"
is "$?/$(sms_accepted | grep -c .)/$(sms_accepted | uniq -d | grep -c . || true)" "0/$nd/0" \
	"(a) the next run releases them again: all $nd sent, none twice"
stop_env
held cut2
alert-render -r high-value-po --release 2>>"$T/cut2.err" | alert-log | twilio-send 2>>"$T/cut2.err" >/dev/null
is "$(sms_accepted | grep -c .)" "$nd" "(b) the release was recorded and Twilio accepted all $nd, no result recorded"
ml-connector run high-value-po >/dev/null 2>>"$T/cut2.err"
is "$?" 0 "(b) the next run succeeds"
is "$(sms_accepted | grep -c .)/$(sms_accepted | uniq -d | grep -c . || true)" "$nd/0" \
	"(b) and sends none of them again"
is "$(alert-log query --stage sent --lines -f ndjson | jq -r '.line | fromjson | select(.reconciled == true) | .delivery_id' | sort -u | grep -c .)" \
	"$nd" "(b) twilio-send --reconcile found all $nd in Twilio"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM deferred')" 0 "(b) and the release removed their rows"
stop_env

done_testing
