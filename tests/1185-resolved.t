#!/usr/bin/env bash
# Resolved notices ([resolved] of ml-connector.5) against both simulators:
# an AP voucher alerted in run 1 and paid before run 2 gets one resolved
# SMS in run 2, to the recipient who was sent the alert, and none in run
# 3; a recipient whose alert Twilio refused (21211) gets none; a deleted
# voucher is resolved; a resolved voucher that matches again is a new
# alert; the open alerts are read again in ceil(open keys / batch) key
# LIST queries; a run killed in the resolved step is followed by a run
# that sends exactly one resolved notice.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"

F=$TOP/tests/fixtures
NOW=2026-11-26T14:00:00Z

# ---- the filters alone -----------------------------------------------------
# alert-match(1) EXAMPLES 4: 123456 no longer fires, 123457 still does,
# 999999 was not read again.
(cd "$TOP" && man-examples man/alert-match.1 4 | bash) >"$T/ex4" 2>&1
is "$(cat "$T/ex4")" "$(printf 'ap-aging:00001|PV|123456|001/resolved false\nap-aging:00001|PV|999999|001/resolved true')" \
	"alert-match --resolved: the alert that no longer fires and the one not read again (man page example 4)"
alert-match -r "$TOP/data/rules/ap-aging.rule" --now "$NOW" --resolved "$F/resolved-open.ndjson" \
	<"$F/match-ap-aging.in.ndjson" >"$T/resolved.ndjson"
is "$(jq -c '[.channels, [.recipients[] | [.to, .sms, .email, .suppressed_channels]]]' "$T/resolved.ndjson")" \
	"$(printf '%s\n' '[["sms","email"],[["contact:supervisor","+13125550147","ap@acme.example",null]]]' \
		'[["sms"],[["contact:supervisor","+13125550147",null,null],["sms:+48225550199","+48225550199",null,null]]]')" \
	"resolved lines: to the recipients and addresses that were sent, one object each"
is "$(jq -c '.record.row.F0411_AAP' "$T/resolved.ndjson" | tr '\n' ' ')" "25000 700 " \
	"the record read again (123456), or as it alerted when gone (999999)"
printf '{"key":"k"}\n{"sent":[]}\n' >"$T/bad-open"
alert-match -r "$TOP/data/rules/ap-aging.rule" --resolved "$T/bad-open" </dev/null 2>"$T/err"
is "$?:$(cat "$T/err")" "65:alert-match: $T/bad-open: line 1: field \"sent\": expected an array
alert-match: $T/bad-open: line 2: field \"key\": expected a non-empty string" "a bad open line: 65, line and field named"
alert-match -r "$TOP/data/rules/ap-aging.rule" --resolved "$T/none" </dev/null 2>/dev/null
is "$?" 66 "no open file: 66"
vg alert-match -r "$TOP/data/rules/ap-aging.rule" --now "$NOW" --resolved "$F/resolved-open.ndjson" \
	<"$F/match-ap-aging.in.ndjson" >/dev/null 2>"$T/vg.err"
is "$?" 0 "valgrind: alert-match --resolved"

# alert-render: [resolved] templates for resolved lines; resolvable deliveries.
mkdir -p "$T/r"
{ sed '/^\[digest\]/,$d' "$TOP/data/rules/ap-aging.rule"
  printf '[resolved]\nsms = Paid: invoice \\(.row.F0411_DOC) \\(.resolved.gone)\nsubject = Paid: \\(.row.F0411_DOC)\n'; } >"$T/r/ap-aging.rule"
alert-render -r "$T/r/ap-aging.rule" --check
is "$?" 0 "alert-render --check: a rule with [resolved]"
alert-render -r "$T/r/ap-aging.rule" --no-state --now "$NOW" <"$T/resolved.ndjson" >"$T/rendered"
is "$(jq -r '[.delivery_id, .body // (.subject + " / " + .text)] | @tsv' "$T/rendered")" \
	"$(printf '%s\t%s\n' 'ap-aging:00001|PV|123456|001/resolved/sms/+13125550147' 'Paid: invoice 123456 false' \
		'ap-aging:00001|PV|123456|001/resolved/email/ap@acme.example' 'Paid: 123456 / Paid: invoice 123456 false' \
		'ap-aging:00001|PV|999999|001/resolved/sms/+13125550147' 'Paid: invoice 999999 true' \
		'ap-aging:00001|PV|999999|001/resolved/sms/+48225550199' 'Paid: invoice 999999 true')" \
	"alert-render: the [resolved] templates, own delivery ids, only the channels sent"
alert-render -r "$TOP/data/rules/ap-aging.rule" --no-state --now "$NOW" <"$T/resolved.ndjson" >/dev/null 2>"$T/err"
is "$?:$(head -n 1 "$T/err")" "65:alert-render: line 1: a resolved notice, and rule ap-aging has no [resolved]" \
	"a resolved line for a rule without [resolved]: 65"
alert-match -r "$T/r/ap-aging.rule" --no-state --now "$NOW" <"$F/match-ap-aging.in.ndjson" |
	alert-render -r "$T/r/ap-aging.rule" --no-state --now "$NOW" | jq -r '.resolvable // false' | sort -u >"$T/rv"
is "$(cat "$T/rv")" true "the deliveries of a rule with [resolved] are resolvable"
alert-render -r "$TOP/data/rules/ap-aging.rule" --no-state --now "$NOW" \
	< <(alert-match -r "$TOP/data/rules/ap-aging.rule" --no-state --now "$NOW" <"$F/match-ap-aging.in.ndjson") |
	jq -r '.resolvable // false' | sort -u >"$T/rv"
is "$(cat "$T/rv")" false "those of a rule without it are not"

# ---- both simulators ------------------------------------------------------
# Three open vouchers of vendor 4242 in a copy of the sample data.
ap_env 900001:100 900002:200 900003:300 || exit 1
ap_rule ap-open >"$T/env1/rules/ap-open.rule"
# Twilio refuses the second number (21211): its alerts are never delivered
sed -i 's/^channels = sms$/to = sms:+15005550001\n&/' "$T/env1/rules/ap-open.rule"
cat >>"$T/env1/rules/ap-open.rule" <<'RULE'
[resolved]
sms = Resolved: voucher \(.row.F0411_DOC) (\(if .resolved.gone then "paid or removed" else "no longer open" end))
batch = 2
RULE
resolved_sms() { sms_accepted | grep -c 'Resolved: ' ; }
queries() { jq -r 'select(.path == "/jderest/v2/dataservice") | .body | tostring' "$MLC_AIS_SIM_LOG" | grep -c '"LIST"'; }

ml-connector run ap-open >"$T/r1.out" 2>"$T/r1.err"
is "$?" 79 "run 1: three alerts sent, those to the refused number refused for good (79)"
is "$(sms_accepted | grep -c '^+13125550147	Voucher')" 3 "run 1: three alerts to +13125550147"
is "$(alert-log open --rule ap-open | jq -r '[.key, (.sent | map(.to) | join(","))] | @tsv')" \
	"$(printf '00001|PV|900001|001\t+13125550147\n00001|PV|900002|001\t+13125550147\n00001|PV|900003|001\t+13125550147')" \
	"open: the three vouchers, each for the one recipient who was sent it"

# jde-fetch(1) EXAMPLES 5: the key LIST conditions of each batch.
(cd "$T" && ln -s "$TOP/data" data && man-examples "$TOP/man/jde-fetch.1" 5 | bash) >"$T/ex5" 2>&1
is "$(cat "$T/ex5")" "$(printf '%s\n' '["00001","PV","123456,123457","001"]' '["00001","PV","123458","001"]')" \
	"jde-fetch --keys --batch 2: two queries for three keys, a LIST per key column (man page example 5)"

# Run 2: 900001 paid, 900003 deleted.
vouchers 900001:0 900002:200
: >"$MLC_AIS_SIM_LOG"
ml-connector run ap-open >"$T/r2.out" 2>"$T/r2.err"
is "$?" 0 "run 2: status 0 (the number Twilio refused for good is not texted again)"
is "$(sms_accepted | grep 'Resolved: ')" \
	"$(printf '+13125550147\tResolved: voucher 900001 (paid or removed)\n+13125550147\tResolved: voucher 900003 (paid or removed)')" \
	"run 2: one resolved SMS for the paid voucher and one for the deleted one, to the recipient who was sent them"
is "$(sms_accepted | grep -c '^+15005550001')" 0 "no resolved notice for an alert never delivered (21211)"
is "$(queries)" 2 "run 2: 3 open keys, batch 2: 2 key LIST queries"
is "$(alert-log open --rule ap-open | jq -r .key)" "00001|PV|900002|001" "open: the voucher still open"
like "$(cat "$T/r2.err")" "resolved notices 2" "the run's summary counts the resolved notices"
is "$(alert-log status ap-open -f ndjson | jq -r '[.sent, .resolved] | @tsv')" "$(printf '3\t2')" \
	"status counts the resolved notices sent (resolved), apart from the alerts sent"
ml-connector status ap-open >"$T/st"
like "$(head -n 1 "$T/st")" ' SENT +RESOLVED +FAILED +BAD-ADDR ' "status text: RESOLVED and BAD-ADDR columns"
like "$(grep '^ap-open ' "$T/st")" '^ap-open .* 3 +2 +3 +1 ' "status text: 3 sent, 2 resolved, 3 failed, 1 bad address"
is "$(alert-log query --rule ap-open --stage resolved -f ndjson | jq -r .alert_id | sort | tr '\n' ' ')" \
	"ap-open:00001|PV|900001|001/resolved ap-open:00001|PV|900003|001/resolved " \
	"the trail records each resolution (stage resolved)"

# Run 3: nothing more.
ml-connector run ap-open >/dev/null 2>&1
is "$?" 0 "run 3: status 0 (the refused number is held back)"
is "$(alert-log status ap-open -f ndjson | jq -r '[.failed, .refused_addresses] | @tsv')" "$(printf '3\t1')" \
	"run 3: the three refusals recorded once as failed; status names one refused address"
is "$(resolved_sms)" 2 "run 3: no resolved notice again"
is "$(sms_accepted | grep -c 'Voucher')" 3 "run 3: no alert again"

# Run 4: 900001 open again: a new alert (the re-alert index forgot it).
vouchers 900001:50 900002:200
ml-connector run ap-open >/dev/null 2>&1
is "$?" 79 "run 4: the new alert to the refused number is refused again (79)"
is "$(sms_accepted | grep -c 'Voucher 900001 open: 50')" 1 "run 4: the voucher matching again is a new alert"
is "$(alert-log open --rule ap-open | jq -r .key | tr '\n' ' ')" "00001|PV|900001|001 00001|PV|900002|001 " \
	"open: it is open again"

# Run 5: 900002 paid; the run is killed while its resolved SMS is in
# flight (Twilio slow, then the connection dropped without acting): the
# notice is in the trail as queued, and the next run sends it once.
twfault() { curl -fsS -o /dev/null --data-binary "$1" "$TW/_sim/fault"; }
twhits() { # SPEC-PREFIX: how often faults of that kind applied
	curl -fsS "$TW/_sim/faults" | jq --arg k "$1" '[.faults[] | select(.spec | startswith($k)) | .hits] | add // 0'
}
fault_hit() { [ "$(twhits "$1")" -ge 1 ]; }
twfault 'slow:ms=1000,to=+13125550147,method=POST,count=1'
twfault 'drop-before:to=+13125550147,method=POST,count=1'
vouchers 900001:50
setsid ml-connector run ap-open >"$T/r5.out" 2>"$T/r5.err" &
run5=$!
wait_for fault_hit slow
kill -9 -- "-$run5" 2>/dev/null
{ wait "$run5"; } 2>/dev/null
is "$(alert-log query --delivery 'ap-open:00001|PV|900002|001/resolved/sms/+13125550147' -f ndjson | jq -r .stage | tail -n 1)" \
	queued "killed in flight: the resolved notice is queued in the trail"
wait_for fault_hit drop-before
ml-connector run ap-open >"$T/r6.out" 2>"$T/r6.err"
is "$?" 0 "run 6 after the kill: status 0 (the refused number is held back)"
is "$(sms_accepted | grep -c 'Resolved: voucher 900002')" 1 "the resolved notice is sent once"
is "$(alert-log open --rule ap-open | jq -r .key)" "00001|PV|900001|001" "open: only 900001"
ml-connector run ap-open >/dev/null 2>&1
is "$(sms_accepted | grep -c 'Resolved: voucher 900002')" 1 "and not again"

# A kill while the open alerts are read again sends nothing; the next run
# sends the notice once.
vouchers 900003:300 900001:50
ml-connector run ap-open >/dev/null 2>&1
vouchers 900001:50
curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{"spec":"slow:ms=200,count=0"}' "$AIS/_sim/fault"
setsid ml-connector run ap-open >"$T/r7.out" 2>"$T/r7.err" &
run7=$!
wait_for sh -c "pgrep -s $run7 -f -- '--keys' >/dev/null || ! kill -0 $run7 2>/dev/null"
kill -9 -- "-$run7" 2>/dev/null
{ wait "$run7"; } 2>/dev/null
like "$(cat "$T/r7.err")" "^$" "the run was killed before it said anything"
curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{}' "$AIS/_sim/reset"
is "$(sms_accepted | grep -c 'Resolved: voucher 900003')" 1 "killed in the re-read: no new notice for 900003 (the one of run 2 only)"
ml-connector run ap-open >/dev/null 2>&1
is "$(sms_accepted | grep -c 'Resolved: voucher 900003')" 2 "the next run sends it, once"
ml-connector run ap-open >/dev/null 2>&1
is "$(sms_accepted | grep -c 'Resolved: voucher 900003')" 2 "and not again"

# A run whose own fetch fails skips the resolved step; the next one sends.
vouchers 900002:0
curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{"spec":"app-error:table=F0411,count=0"}' "$AIS/_sim/fault"
: >"$MLC_AIS_SIM_LOG"
ml-connector run ap-open >/dev/null 2>&1
isnt "$?" 0 "a run whose fetch fails: not 0"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/tokenrequest$')" 1 "one login: the resolved step does not read AIS again"
is "$(sms_accepted | grep -c 'Resolved: voucher 900001')" 1 "it resolves nothing (900001 still open)"
curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{}' "$AIS/_sim/reset"
ml-connector run ap-open >/dev/null 2>&1
is "$(sms_accepted | grep -c 'Resolved: voucher 900001')" 2 "the next run resolves it"
is "$(alert-log open --rule ap-open)" "" "open: none"

# A rule with [join]: the re-read hands its session on to jde-join as the
# fetch does, and the notice names the vendor of the record that alerted.
sed -e 's/^name = ap-open$/name = ap-join/' -e 's/^\[match\]$/[join]\nvendor = AN8\n&/' \
	-e 's/^sms = Resolved: .*/sms = Paid: \\(.row.F0411_DOC) from \\(.contacts.vendor.name)/' \
	-e '/^to = sms:+15005550001$/d' "$T/env1/rules/ap-open.rule" >"$T/env1/rules/ap-join.rule"
vouchers 900009:10
ml-connector run ap-join >/dev/null 2>&1
is "$?" 0 "a [join] rule: run 1 alerts"
vouchers 900009:0
: >"$MLC_AIS_SIM_LOG"
ml-connector run ap-join >/dev/null 2>&1
is "$?" 0 "run 2: status 0"
is "$(sms_accepted | grep -c 'Paid: 900009 from Acme Corp')" 1 "the notice names the vendor (from the alert's record)"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/tokenrequest$')/$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/tokenrequest/logout$')" \
	2/2 "a run with open alerts: one more login (the re-read), each logged out"

stop_env
done_testing
