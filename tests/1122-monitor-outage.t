#!/usr/bin/env bash
# The monitor in the fault matrix (issue 15): AIS down for hours, both seed
# rules run every half hour (run --all); one run is SIGKILLed at a random
# moment of the monitor step that makes the notice; then AIS comes back.
# The Twilio simulator must hold exactly one notice and one recovery: no
# storm, no loop, no duplicate, wherever the kill lands (it may land after
# the step, when the step outruns the kill: the count must hold either way).
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

# The simulators on the real clock, after every ML_CONNECTOR_NOW of the runs
# (a reconcile looks for messages created since the delivery was rendered).
start_env monitor 50 20 || exit 1
OPS=+13125550190
printf '[monitor]\nto = %s\nchannels = sms\n' "$OPS" >>"$ML_CONNECTOR_CONF"
notices() { curl -fsS "$TW/_sim/messages" | jq -r --arg to "$OPS" 'select(.kind == "message" and .resource.to == $to) | .resource.body'; }
export ML_CONNECTOR_RETRY_SEED=119 # short retry waits (retry-calc delays: 0.5 s in all)
ML_CONNECTOR_NOW=2026-11-26T14:00:00Z ml-connector run --all >/dev/null 2>&1
is "$?" 0 "monitor: the runs before the outage go through"
curl -fsS -o /dev/null -H 'Content-Type: application/json' \
	-d '{"spec":"status:code=503,count=0"}' "$AIS/_sim/fault"
mon_rcs=""
# in_step SESSION: the monitor step of the run is under way, or the run is over
in_step() { pgrep -s "$1" -f "alert-log monitor|_monitor" >/dev/null || ! kill -0 "$1" 2>/dev/null; }
for t in 14:30 15:00 15:30 16:00 16:30 17:00 17:30 18:00 18:30; do
	if [ "$t" = 15:30 ]; then
		# the third failed run makes the notice: killed in its middle
		ML_CONNECTOR_NOW=2026-11-26T$t:00Z setsid ml-connector run --all >/dev/null 2>&1 &
		sess=$!
		wait_for in_step "$sess"
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -9 -- "-$sess" 2>/dev/null
		wait "$sess" 2>/dev/null
		# where it landed: the notice's rows in the trail at the kill
		mon_rcs="$mon_rcs killed($(sqlite3 "$ML_CONNECTOR_STATE/state.db" \
			"SELECT group_concat(stage, '+') FROM audit WHERE rule = '_monitor' AND stage <> 'monitor'" 2>/dev/null))"
	else
		ML_CONNECTOR_NOW=2026-11-26T$t:00Z ml-connector run --all >/dev/null 2>&1
		mon_rcs="$mon_rcs $?"
	fi
done
echo "# monitor: runs during the outage:$mon_rcs; notices so far: $(notices | grep -c .)"
is "$(notices | grep -c .)" 1 "monitor: hours of AIS outage, nine runs of two rules, one killed: one notice"
like "$(notices)" "^ml-connector: 2 problems: rule ap-aging: [0-9]+ runs failed in a row" "monitor: both rules in it"
curl -fsS -o /dev/null -X POST "$AIS/_sim/reset"
for t in 19:00 19:30 20:00; do
	ML_CONNECTOR_NOW=2026-11-26T$t:00Z ml-connector run --all >/dev/null 2>&1
done
is "$(notices | grep -c .)" 2 "monitor: AIS back: one recovery notice, then quiet"
like "$(notices | tail -n 1)" "^ml-connector: 2 recovered: rule ap-aging runs go through again" "monitor: the recovery of both"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(DISTINCT delivery_id) FROM audit WHERE rule = '_monitor' AND stage = 'sent'")" 2 \
	"monitor: the trail holds the two notices as sent"
stop_env
done_testing
