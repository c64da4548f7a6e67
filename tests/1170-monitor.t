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

# ---- AIS down for hours: one notice when the third run fails, one recovery ----
export ML_CONNECTOR_RETRY_SEED=119 # short retry waits (retry-calc delays: 0.5 s in all)
curl -fsS -o /dev/null -H 'Content-Type: application/json' \
	-d '{"spec":"status:code=503,count=0"}' "$AIS/_sim/fault"
for h in 15 16 17 18 19 20; do
	at 2026-11-26T$h:00:00Z
	ml-connector run "$RULE" >/dev/null 2>>"$T/b.err"
done
is "$(notices | grep -c .)" 1 "six failed runs: one notice"
like "$(notices)" "ml-connector problem: rule $RULE: 3 runs failed in a row" "it names the rule and the count"
