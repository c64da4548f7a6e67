#!/usr/bin/env bash
# Escalation ([escalation] of ml-connector.5) against both simulators, on a
# frozen clock (ML_CONNECTOR_NOW; sim_clock moves the Twilio simulator's
# with it): five vouchers alerted to the buyer at 08:00 CST; at 10:00 the unacknowledged one goes to the director
# (step 1), the acknowledged one and the paid one stop; a step due during
# quiet hours (22:00) is deferred and goes out at 07:00, unless its alert
# was acknowledged or its record paid meanwhile (then dropped); a kill between twilio-send
# and the trail's record sends nothing twice; nothing is escalated twice;
# a run of the rule takes a step due as escalate does (ap-esc2);
# check refuses a bad step; schedule writes the escalate line.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"

ap_env 900001:100 900002:200 900003:300 900004:400 900005:500 || exit 1
ap_rule ap-esc 'schedule = hourly' 'timezone = America/Chicago' >"$T/env1/rules/ap-esc.rule"
cat >>"$T/env1/rules/ap-esc.rule" <<'RULE'
[limits]
quiet_hours = 22:00-07:00
[escalation]
step = 2h sms:+13125550148
step = 14h sms:+13125550149
RULE
K() { echo "00001|PV|$1|001"; }
to() { sms_accepted | grep -c "^$1	" ; }
lists() { jq -r 'select(.path == "/jderest/v2/dataservice") | .body | tostring' "$MLC_AIS_SIM_LOG" | grep -c '"LIST"'; }
at() { sim_clock "$1"; } # the Twilio simulator's clock moves with ours
ack() { # DOC ACKED_AT
	ack-unit -d "$ML_CONNECTOR_STATE" put "SMack$1" "ap-esc:$(K "$1")" ap-esc "$(K "$1")" "$2" \
		+13125550147 latest - >/dev/null
}

# ---- syntax ---------------------------------------------------------------
mkdir -p "$T/bad"
B=$T/bad/ap-esc.rule
cp "$T/env1/rules/ap-esc.rule" "$B"
sed -i 's/^step = 14h /step = 1h /' "$B"
alert-match -r "$B" --check 2>"$T/err"
is "$?:$(cat "$T/err")" "78:alert-match: $B:21: [escalation] step delay \"1h\" is not longer than the step before it (2h): delays count from the alert's first delivery" \
	"check: a step not later than the one before it (78, file and line)"
sed -i 's/^step = 1h .*/step = 2x sms:+13125550149/' "$B"
alert-match -r "$B" --check 2>"$T/err"
like "$?:$(cat "$T/err")" '^78:.*ap-esc.rule:21: \[escalation\] step delay "2x"' "check: a bad delay"
sed -i 's/^step = 2x .*/step = 3h phone:+13125550149/' "$B"
alert-match -r "$B" --check 2>"$T/err"
like "$?:$(cat "$T/err")" '^78:.*ap-esc.rule:21: recipient "phone:\+13125550149"' "check: a step's recipient as [recipients] to checks it"
ml-connector check ap-esc >"$T/chk" 2>&1
is "$?:$(tail -n 1 "$T/chk")" "0:ap-esc: ok" "ml-connector check: the rule with [escalation] is ok"
is "$(ml-connector schedule --cron 2>/dev/null | grep -c 'escalate --quiet$')" 1 \
	"schedule --cron: the every-minute escalate line"
ml-connector schedule --systemd "$T/units" >/dev/null 2>&1
is "$(grep -h -e '^OnCalendar=' -e '^ExecStart=' "$T"/units/ml-connector-*-_escalate.* | sed 's/^ExecStart=.* escalate/ExecStart=... escalate/' | sort | tr '\n' ' ')" \
	"ExecStart=... escalate --quiet OnCalendar=*-*-* *:*:00 " "schedule --systemd: the _escalate service and its every-minute timer"

# ap-esc2: the same vouchers to another buyer, one step, taken by a run.
sed -e 's/^name = ap-esc$/name = ap-esc2/' -e 's/^to = sms:+13125550147$/to = sms:+13125550150/' \
	-e 's/^step = 2h .*/step = 2h sms:+13125550151/' -e '/^step = 14h/d' \
	"$T/env1/rules/ap-esc.rule" >"$T/env1/rules/ap-esc2.rule"

# A step whose line never becomes a delivery (alert-render refuses it) is
# taken at its third line, not made again every minute.
(
	export ML_CONNECTOR_STATE=$T/unit ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
	printf '%s\n' '{"delivery_id":"u:k/sms/+13125550147","alert_id":"u:k","rule":"u","key":"k","channel":"sms","to":"+13125550147","body":"x","escalate":{"first":60,"steps":"1m"},"status":"queued","sid":"SMu1","attempts":1}' |
		alert-log >/dev/null
	export ML_CONNECTOR_NOW=2026-11-26T14:05:00Z
	esc='{"alert_id":"u:k/esc1","rule":"u","severity":"warning","table":null,"key":"k","record":{},"recipients":[],"escalation":{"alert_id":"u:k","step":1,"of":1,"after":"1m","next_at":null},"matched_at":"2026-11-26T14:05:00.000Z"}'
	for _ in 1 2 3; do
		printf '%s\n' "$esc" | alert-log >/dev/null
		printf '%s ' "$(alert-log escalations --rule u | jq -r .escalation.step)"
	done
) >"$T/tries" 2>&1
is "$(cat "$T/tries")" "0 0  " "a step with no delivery: due after its first and second lines, taken at its third"

# ---- 08:00 CST: the alerts --------------------------------------------------
ml-connector run ap-esc2 >/dev/null 2>&1
is "$?:$(to +13125550150)" "0:5" "ap-esc2: five alerts to its buyer"
ml-connector run ap-esc >"$T/r1.out" 2>"$T/r1.err"
is "$?" 0 "run 1: five alerts"
is "$(to +13125550147)" 5 "run 1: five SMS to the buyer"
is "$(alert-log escalations --rule ap-esc)" "" "nothing due at 08:00"

# 09:00: still nothing due; escalate reads no AIS.
at 2026-11-26T15:00:00Z
: >"$MLC_AIS_SIM_LOG"
ml-connector escalate >"$T/e0.out" 2>"$T/e0.err"
is "$?:$(grep -c . "$MLC_AIS_SIM_LOG")" "0:0" "09:00: escalate, nothing due: status 0, no AIS request"

# 09:30 900002 acknowledged; 900003 paid.
ack 900002 2026-11-26T15:30:00.000Z
vouchers 900001:100 900002:200 900004:400 900005:500

# ---- 10:00: step 1, killed between twilio-send and its record ---------------
at 2026-11-26T16:00:00Z
alert-log escalations --rule ap-esc >"$T/due"
is "$(jq -r '[.key, .escalation.step, .escalation.next_at] | @tsv' "$T/due" | tr '\t\n' ' /')" \
	"$(K 900001) 0 2026-11-26T16:00:00.000Z/$(K 900002) 0 2026-11-26T16:00:00.000Z/$(K 900003) 0 2026-11-26T16:00:00.000Z/$(K 900004) 0 2026-11-26T16:00:00.000Z/$(K 900005) 0 2026-11-26T16:00:00.000Z/" \
	"10:00: five alerts due for step 1 (2h after their first delivery)"
# --stale (the re-read failed): the paid voucher still escalates, the
# acknowledged one stops; alert-match writes nothing to the state.
alert-match -r ap-esc --escalate "$T/due" --stale </dev/null >"$T/stale" 2>"$T/stale.err"
is "$?:$(jq -r '[.key, .alert_id, (.escalation.stopped // .escalation.step)] | @tsv' "$T/stale" | tr '\t\n' ' /')" \
	"0:$(K 900001) ap-esc:$(K 900001)/esc1 1/$(K 900002) ap-esc:$(K 900002)/esc acknowledged/$(K 900003) ap-esc:$(K 900003)/esc1 1/$(K 900004) ap-esc:$(K 900004)/esc1 1/$(K 900005) ap-esc:$(K 900005)/esc1 1/" \
	"--stale: every unacknowledged alert takes step 1, the acknowledged one stops"
is "$(jq -c 'select(.recipients) | [.recipients[].sms] + [.escalation.next_at]' "$T/stale" | sort -u)" \
	'["+13125550148","2026-11-27T04:00:00.000Z"]' "a step: its recipients, and when the next is due"
# Caps apply to steps as to any delivery (here this run's count only).
sed 's/^quiet_hours = .*/per_recipient_hour = 2/' "$T/env1/rules/ap-esc.rule" >"$T/bad/ap-esc.rule"
alert-render -r "$T/bad/ap-esc.rule" --no-state <"$T/stale" 2>/dev/null |
	jq -r 'select(.delivery_id) | if .capped then "capped" else "queued" end' | sort | uniq -c | tr -s ' \n' ' ' >"$T/caps"
is "$(cat "$T/caps")" " 2 capped 2 queued " "a cap of 2 an hour: two of the four steps to the director capped"
# WhatsApp only: a step to an sms: number reaches it there (as alert-render
# sends WhatsApp to the SMS number), it is not a step that reaches no one.
sed 's/^channels = sms$/channels = whatsapp/' "$T/env1/rules/ap-esc.rule" >"$T/bad/ap-esc.rule"
alert-match -r "$T/bad/ap-esc.rule" --escalate "$T/due" --stale </dev/null 2>/dev/null |
	jq -r 'select(.recipients) | .channels | join(",")' | sort | uniq -c | tr -s ' \n' ' ' >"$T/wa"
is "$(cat "$T/wa")" " 4 whatsapp " "channels = whatsapp: four steps for the WhatsApp of the number"
# A rule that lost its second step: an alert that took the first stops.
sed '/^step = 14h/d' "$T/env1/rules/ap-esc.rule" >"$T/bad/ap-esc.rule"
jq -c '.escalation.step = 1' "$T/due" | head -n 1 >"$T/due1"
alert-match -r "$T/bad/ap-esc.rule" --escalate "$T/due1" --stale </dev/null >"$T/gone" 2>/dev/null
is "$(jq -r '[.alert_id, .escalation.stopped, .suppressed.detail] | @tsv' "$T/gone")" \
	"ap-esc:$(K 900001)/esc	no more steps	step 1 taken, and [escalation] now has 1" \
	"steps removed from the rule: the escalation stops, said"
vg alert-match -r ap-esc --escalate "$T/due" --stale </dev/null >/dev/null 2>"$T/vg.err"
is "$?" 0 "valgrind: alert-match --escalate"
alert-match -r ap-esc --escalate "$T/due" --no-state </dev/null >/dev/null 2>&1
is "$?" 64 "--escalate --no-state: 64 (the acknowledgements are in the state)"
# the escalate pipeline by hand, its last tee left out: Twilio took the
# messages, the trail has them only as queued (a kill at that moment)
export ML_CONNECTOR_RULE=ap-esc
jde-fetch -r ap-esc --keys "$T/due" 2>/dev/null | alert-match -r ap-esc --escalate "$T/due" |
	alert-log --before alert-render | alert-render -r ap-esc |
	alert-log --before twilio-send --after alert-render | twilio-send >/dev/null 2>&1
unset ML_CONNECTOR_RULE
is "$(to +13125550148)" 3 "step 1: 900001, 900004 and 900005 to the director"
is "$(sms_accepted | grep '^+13125550148' | cut -f2 | sort | tr '\n' '/')" \
	"Escalated, not acknowledged in 2h: Voucher 900001 open: 100/Escalated, not acknowledged in 2h: Voucher 900004 open: 400/Escalated, not acknowledged in 2h: Voucher 900005 open: 500/" \
	"the step's message: the alert's, after what happened"
is "$(alert-log query --rule ap-esc --stage suppressed -f ndjson | jq -r '[.record_key, (.detail | split(":")[0])] | @tsv' | sort | tr '\t\n' ' /')" \
	"$(K 900002) acknowledged/$(K 900003) resolved/" "900002 stopped (acknowledged), 900003 stopped (resolved: paid)"
at 2026-11-26T16:01:00Z
ml-connector run ap-esc >"$T/r2.out" 2>"$T/r2.err"
is "$?" 0 "run 2 after the kill: status 0"
like "$(cat "$T/r2.err")" "reconciled from an interrupted run 3" "the run reconciles the two queued steps with Twilio"
is "$(to +13125550148)" 3 "nothing sent twice"
is "$(alert-log escalations --rule ap-esc)" "" "nothing due: step 1 taken once"
ml-connector run ap-esc2 >"$T/r2b.out" 2>"$T/r2b.err"
is "$?:$(to +13125550151)" "0:4" "10:01: a run of ap-esc2 takes its step, due at 10:00: the four vouchers still open"
like "$(cat "$T/r2b.err")" "escalations 4" "the run's summary counts the escalations"
ml-connector escalate >/dev/null 2>&1
is "$(to +13125550151)" 4 "escalate after it: nothing twice"
ml-connector why "$(K 900001)" >"$T/why" 2>&1
like "$(cat "$T/why")" "escalated   ap-esc 00001\|PV\|900001\|001" "why: the step taken"
like "$(cat "$T/why")" "message: Escalated, not acknowledged in 2h: Voucher 900001" "why: what it said"
like "$(cat "$T/why")" "escalation of ap-esc:00001\|PV\|900001\|001 \(steps 2h,14h\): 1 of 2 taken; step 2 \(14h\) due at 2026-11-27T04:00:00.000Z" \
	"why: the step pending"

# ---- 22:00: step 2 due during quiet hours -----------------------------------
at 2026-11-27T04:00:00Z
ml-connector escalate >"$T/e2.out" 2>"$T/e2.err"
is "$?" 0 "22:00: escalate: status 0"
is "$(to +13125550149)" 0 "quiet hours: step 2 sent to no one"
is "$(alert-log query --rule ap-esc --stage deferred -f ndjson | jq -r .delivery_id | sort | tr '\n' ' ')" \
	"ap-esc:$(K 900001)/esc2/sms/+13125550149 ap-esc:$(K 900004)/esc2/sms/+13125550149 ap-esc:$(K 900005)/esc2/sms/+13125550149 " \
	"the three steps deferred"
at 2026-11-27T05:00:00Z
ml-connector escalate >/dev/null 2>&1
is "$(to +13125550149)" 0 "23:00: still held"
ack 900004 2026-11-27T05:10:00.000Z
vouchers 900001:100 900002:200 900004:400 # 900005 paid in the night

# 07:00: the held step goes out, but not the one acknowledged meanwhile.
at 2026-11-27T13:00:00Z
ml-connector escalate >"$T/e3.out" 2>"$T/e3.err"
is "$?" 0 "07:00: escalate: status 0"
is "$(sms_accepted | grep '^+13125550149' | cut -f2)" "Escalated, not acknowledged in 14h: Voucher 900001 open: 100" \
	"07:00: the held step 2 of 900001 goes out when quiet hours end"
is "$(alert-log query --delivery "ap-esc:$(K 900004)/esc2/sms/+13125550149" -f ndjson | jq -r '[.stage, .detail] | @tsv' | tail -n 1)" \
	"dropped	escalation stopped" "the step of 900004, acknowledged during quiet hours, is dropped"
is "$(alert-log query --delivery "ap-esc:$(K 900005)/esc2/sms/+13125550149" -f ndjson | jq -r '[.stage, .detail] | @tsv' | tail -n 1)" \
	"dropped	escalation stopped" "the step of 900005, paid during quiet hours, is dropped"
at 2026-11-27T13:05:00Z
ml-connector escalate >/dev/null 2>&1
ml-connector run ap-esc >/dev/null 2>&1
is "$(to +13125550148):$(to +13125550149):$(to +13125550147)" "3:1:5" "later: nothing more, nothing twice"
is "$(alert-log escalations --rule ap-esc)" "" "nothing due: all steps taken"
like "$(ml-connector why 900001 2>/dev/null | grep '^escalation of ap-esc:')" "^escalation of ap-esc:00001\|PV\|900001\|001 \(steps 2h,14h\): all 2 taken" \
	"why by the document number: both steps taken"

stop_env
done_testing
