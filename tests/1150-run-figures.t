#!/usr/bin/env bash
# What a run says it did, against both simulators: the run summary names
# what went out through a quiet-hours release and a reconcile (not "sent
# 0"); a capped delivery is one row of the trail; status gives the last
# run's figures beneath the cumulative counts; a run killed with SIGKILL
# leaves its files (phone numbers, bodies) only in the state directory,
# where the next run of the rule removes them.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

start_env fig || exit 1
R=$ML_CONNECTOR_RULES/ap-aging.rule
# the supervisor takes one SMS an hour
printf '%s\n' '[limits]' 'per_recipient_hour = 1' >>"$R"
export ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
ml-connector run ap-aging >"$T/a.out" 2>"$T/a.err"
is "$?" 0 "a capped run: 0"
is "$(sms_accepted | grep -c .)" 1 "one SMS: the supervisor's cap of one an hour"
capped=$(alert-log query --stage capped -f ndjson | jq -r .delivery_id | sort -u | grep -c .)
isnt "$capped" 0 "deliveries were capped ($capped)"
is "$(alert-log query --stage capped -f ndjson | grep -c .)" "$capped" \
	"each capped delivery is one row of the trail (not one per tee)"
n=$(accepted | grep -c .)
like "$(cat "$T/a.err")" "ok: sent $n, failed 0, unknown 0, quarantined 0, capped $capped\$" \
	"the summary counts the capped apart (1 SMS and the e-mail digests sent: $n)"
is "$(alert-log status -f ndjson | jq -r 'select(.rule == "ap-aging") | .capped')" "$capped" \
	"status: the CAPPED column"
alert-log status >"$T/st"
like "$(head -n 1 "$T/st")" ' CAPPED +STRAY +QUARANTINED +IN-DOUBT( |$)' "status text: CAPPED and STRAY columns"
like "$(sed -n 3p "$T/st")" "^  last run [^ ]*: sent $n, failed 0, unknown 0, quarantined 0, capped $capped\$" \
	"status text: the last run's figures beneath the counts"

# ---- quiet hours: deferred at 09:30 in Chicago, released at 10:30 ----
printf '%s\n' 'quiet_hours = 09:00-10:00' 'quiet_action = defer' >>"$R"
export ML_CONNECTOR_NOW=2026-11-26T15:30:00Z
ml-connector run ap-aging >"$T/q.out" 2>"$T/q.err"
is "$?" 0 "a run in quiet hours: 0"
isnt "$(alert-log status -f ndjson | jq -r 'select(.rule == "ap-aging") | .deferred')" 0 "deliveries deferred"
before=$(accepted | grep -c .)
export ML_CONNECTOR_NOW=2026-11-26T16:30:00Z
ml-connector run ap-aging >"$T/r.out" 2>"$T/r.err"
is "$?" 0 "the run after quiet hours: 0"
is "$(($(accepted | grep -c .) - before))" 1 "the release sent one SMS (the cap: one an hour)"
like "$(cat "$T/r.err")" "run [^ ]* ok: sent 0, released after quiet hours 1, failed 0," \
	"the summary names what the release sent"

# ---- the reconcile: a delivery an interrupted run left queued ----
# (what the tee before twilio-send records, its send never reported)
jq -c 'select(.channel == "sms") | .delivery_id |= sub("/sms/"; "-left/sms/") | del(.sid, .status, .sent_at)' \
	<<<"$(alert-log query --stage sent --lines -f ndjson | jq -r '.line' | head -n 1)" >"$T/left"
alert-log --rule ap-aging --before twilio-send <"$T/left" >/dev/null
# the interrupted run's send went out; its result never reached the trail
twilio-send <"$T/left" >/dev/null 2>&1
before=$(sms_accepted | grep -c .)
export ML_CONNECTOR_NOW=2026-11-26T18:30:00Z
ml-connector run ap-aging >"$T/c.out" 2>"$T/c.err"
is "$?" 0 "a run that reconciles: 0"
# its message is in Twilio beside the first run's with the same number and
# body (which the trail holds as that delivery's, so not this one's): the
# lookup finds it, and nothing is sent twice
is "$(sms_accepted | grep -c .)" "$before" "the queued delivery was looked up (found sent), not sent again"
like "$(cat "$T/c.err")" "ok: sent [0-9]+, reconciled from an interrupted run 1," \
	"the summary names what the reconcile sent"

# ---- SIGKILL: the run's files are in the state directory, removed by the next run ----
# Twilio answers after 20 s: the run is caught sending, its results file open.
stop_env
start_env kill 20000 || exit 1
mkdir -p "$T/tmpdir"
export TMPDIR=$T/tmpdir ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
setsid ml-connector run ap-aging >/dev/null 2>&1 &
p1=$!
sending() {
	pgrep -s "$p1" -x twilio-send >/dev/null &&
		{ compgen -G "$ML_CONNECTOR_STATE/runs/ap-aging.*/results" ||
			compgen -G "$TMPDIR/ml-connector.*/results"; } >/dev/null
}
wait_for sending
ok "the run is sending"
kill -9 -- -"$p1"
wait "$p1" 2>/dev/null
is "$(find "$T/tmpdir" -mindepth 1 | grep -c .)" 0 "a run killed with SIGKILL left nothing in \$TMPDIR"
dead=$(compgen -G "$ML_CONNECTOR_STATE/runs/ap-aging.*")
isnt "$dead" "" "it left its run directory in the state directory"
is "$(stat -c %a "$ML_CONNECTOR_STATE/runs")" 700 "STATE/runs is 0700"
stop_env
start_env kill2 || exit 1
export ML_CONNECTOR_STATE=$T/kill/state
ml-connector run ap-aging >"$T/k.out" 2>"$T/k.err"
is "$?" 0 "the next run: 0"
like "$(cat "$T/k.err")" "removing $dead, left by a run that died" "the next run removes it, and says so"
is "$(find "$ML_CONNECTOR_STATE/runs" "$T/tmpdir" -mindepth 1 | grep -c .)" 0 "nothing is left"

stop_env
done_testing
