#!/usr/bin/env bash
# The monitor (alert-log monitor, the [monitor] section): the connector's
# own health from the trail, told to the [monitor] recipients through the
# delivery path as the built-in rule _monitor, counted at the Twilio
# simulator.  Each condition starts and clears once; the window holds a
# second notice back; a notice whose SMS cannot reach Twilio goes out by
# e-mail; a notice is made once and written again only until its
# deliveries are in the trail.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
# the simulator's lists do not lag: a lookup needs no grace
GRACE=0
. "$(dirname "$0")/e2e-lib.sh"

start_env mon || exit 1
R=$ML_CONNECTOR_RULES
RULE=high-value-po
rm "$R/ap-aging.rule"
OPS=+13125550190
cat >>"$ML_CONNECTOR_CONF" <<CONF
[monitor]
to = $OPS
to = ops@hartmann.example
channels = sms
window = 1h
CONF
DB=$ML_CONNECTOR_STATE/state.db
# the notices the simulator accepted: SMS to OPS, e-mails to ops@
notices() { curl -fsS "$TW/_sim/messages" | jq -r --arg to "$OPS" 'select(.kind == "message" and .resource.to == $to) | .resource.body'; }
mails() { curl -fsS "$TW/_sim/messages" | jq -r 'select(.kind != "message") | select(.mail.personalizations[0].to[0].email == "ops@hartmann.example") | .mail.subject'; }
at() { ML_CONNECTOR_NOW=$1; export ML_CONNECTOR_NOW; }

at 2026-11-26T14:00:00Z
ml-connector run "$RULE" >/dev/null 2>"$T/a.err"
is "$?" 0 "a run that goes through"
is "$(notices | grep -c .)" 0 "no notice: nothing holds"

# ---- failed runs in a row: one notice at the third, one recovery (the
# AIS outage of many real runs is the fault matrix's: tests/1120) ----
sq() { sqlite3 "$DB" "$1"; }
for h in 15 16 17 18; do
	sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('daily', 'd$h', '2026-11-26T$h:00:00.000Z', '2026-11-26T$h:01:00.000Z', 'failed')"
	at 2026-11-26T$h:01:00Z
	ml-connector monitor 2>/dev/null
	[ "$h" != 16 ] || is "$(notices | grep -c .)" 0 "two failed runs: no notice"
done
is "$(notices | grep -c .)" 1 "four failed runs: one notice"
like "$(notices)" "ml-connector problem: rule daily: 3 runs failed in a row" "it names the rule and the count"
sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('daily', 'd19', '2026-11-26T19:00:00.000Z', '2026-11-26T19:01:00.000Z', 'ok')"
at 2026-11-26T19:01:00Z
ml-connector monitor 2>"$T/c.err"
is "$(notices | grep -c .)" 2 "a run goes through: one recovery notice"
like "$(notices | tail -n 1)" "ml-connector recovered: rule daily runs go through again" "it says so"
at 2026-11-26T22:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" 2 "then quiet"
is "$(sq "SELECT count(*) FROM audit WHERE rule = '_monitor' AND stage = 'monitor' AND record_key = 'failed_runs/daily'")" 2 \
	"the trail holds the start and the clear"
sq "DELETE FROM run WHERE rule = 'daily'"

# ---- each condition, from the trail as runs would leave it (rule weekly) ----
runrow() { sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('weekly', '$1', '$2', '$3', '$4')"; }
deliv() { sq "INSERT INTO audit (ts, stage, rule, delivery_id, channel, status) VALUES ('$1', '$2', 'weekly', '$3', 'sms', '$2')"; }
n0=$(notices | grep -c .)
runrow w1 2026-11-20T08:00:00.000Z 2026-11-20T08:05:00.000Z ok
runrow w2 2026-11-27T08:00:00.000Z 2026-11-27T08:05:00.000Z failed
deliv 2026-11-27T07:00:00.000Z unknown weekly:a/sms/+13125550101
for i in 1 2 3 4; do deliv 2026-11-27T08:01:00.000Z failed "weekly:r$i/sms/+1312555011$i"; done
sq "INSERT INTO quarantine (first_ts, last_ts, rule, origin, ident, reason) VALUES ('2026-11-27T08:02:00.000Z', '2026-11-27T08:02:00.000Z', 'weekly', 'tee', 'x', 'test')"
at 2026-11-27T09:00:00Z
ml-connector monitor 2>"$T/d.err"
is "$?" 0 "ml-connector monitor"
is "$(notices | grep -c .)" $((n0 + 1)) "four conditions start at once: one notice"
like "$(notices | tail -n 1)" "^ml-connector: 4 problems: rule weekly: no run went through for 7d 0h" "it counts them"
is "$(sq "SELECT group_concat(cond, ' ') FROM (SELECT cond FROM monitor WHERE subject = 'weekly' AND active AND told ORDER BY cond)")" \
	"no_success quarantine refused unknown" "no success for 24h, quarantined lines, refused deliveries, unknown after reconcile"
like "$(cat "$T/d.err")" "monitor: unknown started: rule weekly: 1 deliveries left unknown" "each start is said on stderr"

# ---- the window: what clears inside it waits for its end; a flap inside it is never told ----
runrow w3 2026-11-27T09:05:00.000Z 2026-11-27T09:10:00.000Z ok
at 2026-11-27T09:10:00Z
ml-connector monitor 2>"$T/e.err"
is "$(notices | grep -c .)" $((n0 + 1)) "two conditions clear 10 minutes later: no notice inside the window"
like "$(cat "$T/e.err")" "monitor: no_success cleared: rule weekly a run went through" "said on stderr all the same"
at 2026-11-27T10:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n0 + 2)) "the window over: one notice"
like "$(notices | tail -n 1)" "^ml-connector: 2 recovered: rule weekly a run went through" "the two recoveries in it"
runrow w4 2026-11-27T10:05:00.000Z 2026-11-27T10:10:00.000Z ok
for i in 5 6 7 8; do deliv 2026-11-27T10:06:00.000Z failed "weekly:r$i/sms/+1312555011$i"; done
at 2026-11-27T10:10:00Z
ml-connector monitor 2>/dev/null
runrow w5 2026-11-27T10:15:00.000Z 2026-11-27T10:20:00.000Z ok
at 2026-11-27T10:20:00Z
ml-connector monitor 2>/dev/null
at 2026-11-27T11:30:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n0 + 2)) "refused started and cleared inside a window: never told"
is "$(sq "SELECT group_concat(status, ' ') FROM (SELECT status FROM audit WHERE stage = 'monitor' AND record_key = 'refused/weekly' ORDER BY id)")" \
	"start clear start clear" "the trail holds the flap"

# ---- an auth refusal: at once ----
alert-log metrics refused sendgrid 1
at 2026-11-27T11:31:00Z
ml-connector monitor 2>/dev/null
like "$(notices | tail -n 1)" "^ml-connector problem: SendGrid refused the credentials" "a refusal is told at once"

# ---- the SMS refused: the same notice by e-mail, once ----
curl -fsS -o /dev/null --data-binary "error:code=21610,to=$OPS,count=1" "$TW/_sim/fault"
sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('other', 'o1', '2026-11-27T11:59:00.000Z', '2026-11-27T12:00:00.000Z', 'ok')"
sq "INSERT INTO quarantine (first_ts, last_ts, rule, origin, ident, reason) VALUES ('2026-11-27T12:00:00.000Z', '2026-11-27T12:00:00.000Z', 'other', 'tee', 'y', 'test')"
at 2026-11-27T12:01:00Z
ml-connector monitor 2>"$T/f.err"
is "$(mails | grep -c .)" 1 "the SMS refused for good: one e-mail instead"
like "$(mails)" "ml-connector problem: rule other: 1 lines quarantined" "the same notice"
like "$(cat "$T/f.err")" "reached no one on sms: sent again on the other channel" "said"
at 2026-11-27T12:02:00Z
ml-connector monitor 2>/dev/null
is "$(mails | grep -c .)" 1 "once"
# The 21610 marked the on-call phone opted out (issue 16): the person texts
# START, and the monitor's SMS go to it again.
is "$(sq "SELECT opted_out || ' ' || how FROM optout WHERE theirs = '$OPS'")" "1 error 21610" \
	"the 21610 marked the on-call phone opted out"
sq "UPDATE optout SET opted_out = 0, how = 'keyword START', since = '2026-11-27T12:30:00.000Z' WHERE theirs = '$OPS'"

# ---- the Twilio token rotated: the monitor's own twilio-send is refused
# (77); the notice goes by e-mail, and so does the one of the refusal ----
echo wrong-token | mlc-vault set twilio.auth_token
sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('third', 't1', '2026-11-27T12:59:00.000Z', '2026-11-27T13:00:00.000Z', 'ok')"
sq "INSERT INTO quarantine (first_ts, last_ts, rule, origin, ident, reason) VALUES ('2026-11-27T13:00:00.000Z', '2026-11-27T13:00:00.000Z', 'third', 'tee', 'z', 'test')"
at 2026-11-27T13:00:00Z
ml-connector monitor 2>/dev/null
is "$(mails | grep -c .)" 2 "Twilio refuses the credentials: the notice went by e-mail"
at 2026-11-27T13:01:00Z
ml-connector monitor 2>/dev/null
is "$(mails | grep -c .)" 3 "then the refusal itself, by e-mail"
like "$(mails | tail -n 1)" "ml-connector problem: Twilio refused the credentials" "naming Twilio"
at 2026-11-27T13:30:00Z
ml-connector monitor 2>/dev/null
is "$(mails | grep -c .)" 3 "no second notice of it"
n1=$(notices | grep -c .)
mlc-vault set twilio.auth_token <"$T/tw.token"
at 2026-11-27T14:40:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n1 + 3)) "the token set again: the two SMS Twilio refused go out (late, once), and the recovery"
like "$(notices | tail -n 1)" "ml-connector recovered: twilio accepts the credentials again" "the recovery last"
is "$(sq "SELECT count(*) FROM audit WHERE rule = '_monitor' AND stage = 'sent' AND channel = 'sms'")" \
	"$(notices | grep -c .)" "every SMS notice the simulator holds is in the trail as sent, once"

# ---- AIS refuses the password: at once ----
n1=$(notices | grep -c .)
echo wrong-password | mlc-vault set ais.password
at 2026-11-27T15:00:00Z
ml-connector run "$RULE" >/dev/null 2>&1
is "$?" 77 "AIS refuses the password: 77"
is "$(notices | grep -c .)" $((n1 + 1)) "one notice at once, not after three runs"
like "$(notices | tail -n 1)" "AIS refused the password in the vault .*: no login is tried until it is set again" "saying what to do"

# ---- killed in the middle: the notice goes out once ----
mlc-vault set ais.password <"$T/ais.pw"
quar() {
	sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('$1', '$1', '$2', '$2', 'ok')"
	sq "INSERT INTO quarantine (first_ts, last_ts, rule, origin, ident, reason) VALUES ('$2', '$2', '$1', 'tee', '$1', 'test')"
}
tee_() { alert-log --rule _monitor --run-id kill "$@"; }
n2=$(notices | grep -c .)
# 1. after the evaluation, before alert-render: its output lost
quar k1 2026-11-27T16:00:00.000Z
at 2026-11-27T16:00:00Z
alert-log monitor >"$T/k1.out" 2>/dev/null
is "$(grep -c . "$T/k1.out")" 1 "an evaluation made the notice"
at 2026-11-27T16:01:00Z
ml-connector monitor 2>"$T/k1.err"
like "$(cat "$T/k1.err")" "notice _monitor:notice:2026-11-27T16:00:00.000Z is not in the trail yet: written again" "the next evaluation writes it again"
at 2026-11-27T16:02:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c "rule k1")" 1 "killed before alert-render: sent once"
# 2. the deliveries recorded (queued), twilio-send never ran
quar k2 2026-11-27T16:10:00.000Z
at 2026-11-27T16:10:00Z
alert-log monitor 2>/dev/null | tee_ --before alert-render | alert-render -r _monitor |
	tee_ --before twilio-send --after alert-render >/dev/null
at 2026-11-27T16:11:00Z
ml-connector monitor 2>/dev/null
at 2026-11-27T16:12:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c "rule k2")" 1 "killed before twilio-send: sent once (the reconcile)"
# 3. Twilio accepted it, the result never recorded
quar k3 2026-11-27T16:20:00.000Z
at 2026-11-27T16:20:00Z
alert-log monitor 2>/dev/null | tee_ --before alert-render | alert-render -r _monitor |
	tee_ --before twilio-send --after alert-render | twilio-send >/dev/null 2>&1
is "$(notices | grep -c "rule k3")" 1 "Twilio accepted the notice"
at 2026-11-27T16:21:00Z
ml-connector monitor 2>/dev/null
at 2026-11-27T16:22:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c "rule k3")" 1 "killed before its result was recorded: found in Twilio, not sent again"
is "$(notices | grep -c .)" $((n2 + 3)) "three notices in all"
# 4. a notice that never reaches the trail does not hold the others back for ever
sq "INSERT INTO monitor_notice (id, kind, created_at, line) VALUES ('_monitor:notice:stuck', 'notice', '2026-11-26T16:00:00.000Z', '{\"stuck\":1}')"
at 2026-11-27T16:30:00Z
ml-connector monitor 2>"$T/k4.err"
like "$(cat "$T/k4.err")" "notice _monitor:notice:stuck made 2026-11-26T16:00:00.000Z never reached the trail: given up" \
	"a day later it is given up, said"
is "$(sq "SELECT done FROM monitor_notice WHERE id = '_monitor:notice:stuck'")" 1 "and not written again"

# ---- the daily summary, at [monitor] summary in [general] timezone ----
echo "summary = 08:00" >>"$ML_CONNECTOR_CONF"
at 2026-11-28T13:00:00Z
ml-connector monitor 2>/dev/null
n3=$(notices | grep -c .)
at 2026-11-28T13:59:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" "$n3" "07:59 in Chicago: no summary yet"
at 2026-11-28T14:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n3 + 1)) "08:00 in Chicago: the summary"
like "$(notices | tail -n 1)" "^ml-connector daily summary: [0-9]+ conditions hold" "it counts what holds"
at 2026-11-28T18:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n3 + 1)) "once a day"
sq "DELETE FROM quarantine; DELETE FROM run WHERE rule <> '$RULE'"
at 2026-11-29T10:00:00Z
ml-connector run "$RULE" >/dev/null 2>&1
n3=$(notices | grep -c .)
at 2026-11-29T14:00:00Z
ml-connector monitor 2>/dev/null
like "$(notices | tail -n 1)" "^ml-connector: all quiet" "nothing holds: all quiet"
is "$(notices | grep -c .)" $((n3 + 1)) "one summary"

# ---- a watermark that does not move (off by default) ----
sed -i 's/^summary = .*/watermark = 2d/' "$ML_CONNECTOR_CONF"
sq "DELETE FROM monitor WHERE cond = '.watermark'" # first seen now
at 2026-11-30T14:00:00Z
ml-connector monitor 2>/dev/null
n4=$(notices | grep -c .)
at 2026-12-01T14:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" "$n4" "one day still: nothing"
at 2026-12-02T14:00:00Z
ml-connector monitor 2>/dev/null
is "$(notices | grep -c .)" $((n4 + 1)) "[monitor] watermark = 2d: one notice after two days"
like "$(notices | tail -n 1)" "^ml-connector problem: rule $RULE: the watermark has not moved for [0-9]+d" "naming the rule"

# ---- [monitor] mistakes are named ----
cp "$ML_CONNECTOR_CONF" "$T/good.conf"
echo "failed_runs = many" >>"$ML_CONNECTOR_CONF"
alert-log monitor 2>"$T/m.err"
is "$?" 78 "a bad threshold: 78"
like "$(cat "$T/m.err")" "conf:[0-9]+: \[monitor\] failed_runs \"many\": expected a number or off" "named with its line"
cp "$T/good.conf" "$ML_CONNECTOR_CONF"
echo "to = 555-not-a-number" >>"$ML_CONNECTOR_CONF"
alert-log monitor 2>"$T/m.err"
like "$(cat "$T/m.err")" "to \"555-not-a-number\": not a phone number" "a bad address"
cp "$T/good.conf" "$ML_CONNECTOR_CONF"
echo "colour = red" >>"$ML_CONNECTOR_CONF"
alert-log monitor 2>"$T/m.err"
like "$(cat "$T/m.err")" "unknown key \"colour\" in \[monitor\]" "an unknown key"
ml-connector check >/dev/null 2>"$T/m.err"
is "$?" 78 "ml-connector check: 78"
like "$(cat "$T/m.err")" "unknown key \"colour\" in \[monitor\]" "naming it"
cp "$T/good.conf" "$ML_CONNECTOR_CONF"
alert-log monitor --check
is "$?" 0 "alert-log monitor --check: the good one passes"

# ---- schedule: the monitor on its own, every minute (the summary at its
# time when no rule runs then) ----
ml-connector schedule --cron >"$T/cron" 2>/dev/null
is "$(grep -c ' monitor$' "$T/cron")" 1 "schedule --cron: one line for the monitor"
like "$(grep ' monitor$' "$T/cron")" '^\* \* \* \* \* ML_CONNECTOR_CONF=' "every minute, with the configuration"
ml-connector schedule --systemd "$T/units" >/dev/null 2>&1
ls "$T"/units/ml-connector-*-_monitor.timer >/dev/null 2>&1
ok "schedule --systemd: the monitor's timer"
is "$(grep -h '^ExecStart=' "$T"/units/*-_monitor.service | sed 's/.* //')" monitor "the monitor's service runs ml-connector monitor"
is "$(grep -h '^OnCalendar=' "$T"/units/*-_monitor.timer)" 'OnCalendar=*-*-* *:*:00' "its timer fires every minute"

# ---- Twilio unreachable (every create answered 503, then given up as
# unknown): the notice still goes by e-mail, once ----
m0=$(mails | grep -c .)
n0=$(notices | grep -c .)
curl -fsS -o /dev/null --data-binary "5xx:code=503,path=/Messages.json" "$TW/_sim/fault"
sq "INSERT INTO run (rule, run_id, started_at, finished_at, status) VALUES ('fifth', 'f5', '2026-12-02T14:59:00.000Z', '2026-12-02T15:00:00.000Z', 'ok')"
sq "INSERT INTO quarantine (first_ts, last_ts, rule, origin, ident, reason) VALUES ('2026-12-02T15:00:00.000Z', '2026-12-02T15:00:00.000Z', 'fifth', 'tee', 'w', 'test')"
at 2026-12-02T15:01:00Z
ml-connector monitor 2>"$T/u.err"
is "$(notices | grep -c .)" "$n0" "Twilio unreachable: no SMS reached it"
is "$(mails | grep -c .)" $((m0 + 1)) "the notice went by e-mail instead"
like "$(mails | tail -n 1)" "rule fifth: 1 lines quarantined" "the same notice"
at 2026-12-02T15:02:00Z
ml-connector monitor 2>/dev/null
is "$(mails | grep -c .)" $((m0 + 1)) "once"
curl -fsS -o /dev/null -X POST "$TW/_sim/reset"

stop_env
done_testing
