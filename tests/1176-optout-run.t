#!/usr/bin/env bash
# A run with [twilio] inbound = poll (ml-connector(8)): the messages
# recipients sent are polled before anything is sent, so a STOP sent
# before the run holds back every SMS to that recipient: suppressed, not
# refused, not retried, counted by the run, by status and explained by why;
# START lets them through again.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"
X=+13125550101

start_env run || exit 1
sed -i 's|^\[sendgrid\]$|inbound = poll\n&|' "$ML_CONNECTOR_CONF"
is "$(mlc-conf get twilio inbound)" poll "[twilio] inbound = poll"
curl -sf -X POST "$TW/_sim/inbound" --data-urlencode "From=$X" --data-urlencode To=+15005550006 \
	--data-urlencode Body=' Stop ' >"$T/stop"
ml-connector run high-value-po >"$T/out" 2>"$T/err"
is "$?" 0 "the run: status 0 (an opt-out is no refusal)"
is "$(jq -r 'select(.kind == "request" and .method == "POST" and .form.To == "'$X'")' "$MLC_TWILIO_SIM_LOG" | grep -c .)" 0 \
	"no create to the recipient who sent STOP"
first=$(jq -r 'select(.kind == "request") | .method + " " + .path' "$MLC_TWILIO_SIM_LOG" | head -n 1)
like "$first" '^GET /2010-04-01/Accounts/.*/Messages.json$' "the poll is the run's first request to Twilio"
n=$(alert-log status high-value-po -f ndjson | jq -r .opted_out)
[ "$n" -gt 0 ]
ok "status counts $n deliveries not sent (opted out)"
like "$(alert-log query --stage run -f ndjson | jq -r 'select(.status == "ok") | .detail' | tail -n 1)" \
	"not sent \\(opted out\\) $n" "the run's detail says how many"
d=$(alert-log query --stage suppressed -f ndjson | jq -r .delivery_id | head -n 1)
alert-log why "$d" >"$T/why"
like "$(cat "$T/why")" "opt_out .*keyword STOP: message from \\$X to \\+15005550006 via poll" \
	"why: the polled STOP"
like "$(cat "$T/why")" "suppressed .*opted out: keyword STOP at " "why: the delivery, suppressed"
ml-connector run high-value-po >/dev/null 2>&1
is "$(jq -r 'select(.kind == "request" and .method == "POST" and .form.To == "'$X'")' "$MLC_TWILIO_SIM_LOG" | grep -c .)" 0 \
	"a second run sends them nothing either (suppressed is final)"
is "$(alert-log status high-value-po -f ndjson | jq -r .opted_out)" "$n" "and counts them once"

done_testing
