#!/usr/bin/env bash
# One poisoned line never blocks a rule (issue 11), end to end against both
# simulators.
#  A. A delivery line holding invalid UTF-8 already in the trail (queued by
#     an older version, whose tee took it): every run replays the trail's
#     unsettled deliveries first, and twilio-send refuses that line.  The
#     runs must succeed, the watermark move, the other replayed deliveries
#     go out exactly once, the bad one sit in the quarantine with its
#     reason, counted by status, until the operator drops it.
#  B. A poisoned record from AIS (a NUL in the vendor's Address Book name):
#     the tee in front of alert-match quarantines the record, the run
#     succeeds, the other purchase orders are texted, the watermark moves.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"
R=high-value-po

# ---- A. a poisoned line in the trail ----------------------------------------
start_env a || exit 1
DB=$ML_CONNECTOR_STATE/state.db
# queue N BODY-BYTES: a queued SMS delivery of the rule, as a trail of an
# earlier version holds it (the line as TEXT, bytes unchanged).
queue() {
	local did="$R:replay-$1/sms/+1312555019$1" hex
	hex=$(printf '{"delivery_id":"%s","alert_id":"%s:replay-%s","rule":"%s","channel":"sms","to":"+1312555019%s","body":"%b","encoding":"GSM-7","segments":1}' \
		"$did" "$R" "$1" "$R" "$1" "$2" | xxd -p | tr -d '\n')
	sqlite3 "$DB" "INSERT INTO audit (ts, stage, rule, delivery_id, recipient, channel, line)
		VALUES ('2026-11-25T09:00:00.000Z', 'queued', '$R', '$did', '+1312555019$1', 'sms', CAST(X'$hex' AS TEXT))"
}
queue 1 'Replayed one'
queue 2 'Replayed \377\376 two'
queue 3 'Replayed three'
printf '{"delivery_id":"%s:replay-2/sms/+13125550192","alert_id":"%s:replay-2","rule":"%s","channel":"sms","to":"+13125550192","body":"Replayed \377\376 two","encoding":"GSM-7","segments":1}' \
	"$R" "$R" "$R" >"$T/poison"

ml-connector run "$R" >"$T/a1.out" 2>"$T/a1.err"
is "$?" 0 "A: the run after the poisoned line succeeds"
isnt "$(jde-fetch --show-watermark "$R" 2>/dev/null)" "" "A: and its watermark is committed"
like "$(cat "$T/a1.err")" "rule $R: 1 lines quarantined in run .*: a program would refuse them; see ml-connector quarantine --rule $R" \
	"A: the run says it quarantined a line, and where to look"
like "$(cat "$T/a1.err")" "run .* ok: sent [0-9]+, reconciled from an interrupted run 2, failed 0, unknown 0, quarantined 1" \
	"A: the summary counts it (and the two replayed deliveries the reconcile sent)"
like "$(cat "$T/a1.err")" "alert-log: (rule=[^ ]+ run=[^ ]+: )?trail row [0-9]+, delivery .*: .*quarantined \(#[0-9]+\), not replayed" \
	"A: replay's own words reach the run's stderr (the orchestrator does not discard them)"
like "$(cat "$T/a1.err")" "alert-log: (rule=[^ ]+ run=[^ ]+: )?2 deliveries to replay" "A: and how many it hands out"
sms_accepted >"$T/a1.sms"
is "$(grep -c 'Replayed' "$T/a1.sms")" 2 "A: the two good replayed deliveries went out"
is "$(grep -c $'^+13125550191\tReplayed one$' "$T/a1.sms")/$(grep -c $'^+13125550193\tReplayed three$' "$T/a1.sms")" \
	1/1 "A: each exactly once, as rendered"
is "$(grep -c '^+13125550192' "$T/a1.sms")" 0 "A: nothing went to the poisoned one's number"
isnt "$(grep -vc Replayed "$T/a1.sms")" 0 "A: the rule's own alerts went out too"

alert-log quarantine -f ndjson >"$T/q"
is "$(jq -r '[.rule, .origin, .delivery_id, .field] | @tsv' "$T/q")" \
	"$(printf '%s\treplay\t%s:replay-2/sms/+13125550192\tbody' "$R" "$R")" \
	"A: the bad line is in the quarantine: rule, where, delivery, field"
like "$(jq -r .reason "$T/q")" '^field "body": not valid UTF-8 \(at byte [0-9]+\)$' "A: with its reason"
like "$(jq -r .first_ts "$T/q")" '^2026-11-26T14:00:00' "A: and when"
ml-connector quarantine show "$(jq -r .id "$T/q")" | head -c -1 | cmp -s - "$T/poison"
ok "A: its bytes kept exactly"
# (sort -u: runs under one ML_CONNECTOR_NOW start at the same instant)
is "$(alert-log status -f ndjson | jq -r "select(.rule == \"$R\") | [.status, .quarantined, .pending] | @tsv" | sort -u)" \
	"$(printf 'ok\t1\t0')" "A: status: the run ok, one line quarantined, nothing pending"
is "$(ml-connector status "$R" | status_cell "$R" QUARANTINED)" 1 "A: ml-connector status shows the count"
like "$(alert-log query --stage run --rule "$R" | jq -r .detail | tail -n 1)" 'quarantined 1' \
	"A: the trail's run record counts it"

n1=$(accepted | wc -l | tr -d ' ')
ml-connector run "$R" >/dev/null 2>"$T/a2.err"
is "$?" 0 "A: the next run succeeds too"
is "$(accepted | wc -l | tr -d ' ')" "$n1" "A: and sends nothing again"
is "$(alert-log quarantine -f ndjson | jq -r '[.count, .run_id == null] | @tsv')" "$(printf '1\tfalse')" \
	"A: the quarantined line is not met again"
like "$(cat "$T/a2.err")" "ok: .*quarantined 0" "A: the next run quarantined nothing"

ml-connector quarantine drop "$(jq -r .id "$T/q")" >"$T/drop"
is "$?/$(cat "$T/drop")" "0/dropped #$(jq -r .id "$T/q")" "A: ml-connector quarantine drop removes it"
is "$(alert-log status -f ndjson | jq -r "select(.rule == \"$R\") | .quarantined" | sort -u)" 0 "A: status counts none"
is "$(alert-log query --stage discarded | jq -r .delivery_id)" "$R:replay-2/sms/+13125550192" \
	"A: the drop is in the trail, as an operator's action on that delivery"
ml-connector run "$R" >/dev/null 2>&1
is "$?/$(alert-log quarantine count)/$(accepted | wc -l | tr -d ' ')" "0/0/$n1" \
	"A: after the drop: the run succeeds, the line does not come back, nothing sent again"
stop_env

# ---- B. a poisoned record from AIS -------------------------------------------
mkdir -p "$T/data"
cp "$TOP"/data/jde/* "$T/data/"
# PO 4300112 (52,000 USD): a NUL inside its currency code, which the SMS shows
sed -i '/"F4301_DOCO":4300112,/s/"F4301_CRCD":"USD"/"F4301_CRCD":"US\\u0000D"/' "$T/data/F4301.ndjson"
is "$(grep -c 'US\\u0000D' "$T/data/F4301.ndjson")" 1 "B: the sample data with a NUL in one PO's row"
AIS_DATA=$T/data start_env b || exit 1
ml-connector run "$R" >/dev/null 2>"$T/b1.err"
is "$?" 0 "B: the run with a poisoned record succeeds"
isnt "$(jde-fetch --show-watermark "$R" 2>/dev/null)" "" "B: its watermark is committed"
alert-log quarantine -f ndjson >"$T/qb"
is "$(jq -r '[.origin, .record_key, .field] | @tsv' "$T/qb")" \
	"$(printf 'before alert-match\t00001|OP|4300112|000\trow.F4301_CRCD')" \
	"B: the record is in the quarantine: where it was refused, which record, which field"
like "$(jq -r .reason "$T/qb")" '^field "row.F4301_CRCD": holds \\u0000, a NUL character' "B: with its reason"
like "$(cat "$T/b1.err")" 'line [0-9]+: field "row.F4301_CRCD": holds \\u0000, a NUL character .*quarantined' \
	"B: the tee names the line and the field"
sms_accepted >"$T/b1.sms"
is "$(grep -c 'PO 4300112' "$T/b1.sms")" 0 "B: nothing sent for the poisoned record"
is "$(grep -o 'PO 43001[0-9][0-9]' "$T/b1.sms" | sort -u | tr '\n' ' ')" \
	"PO 4300105 PO 4300121 PO 4300127 PO 4300133 PO 4300139 PO 4300141 PO 4300143 " \
	"B: every other high-value PO texted"
is "$(sort "$T/b1.sms" | uniq -d | wc -l | tr -d ' ')/$(grep -c . "$T/b1.sms")" \
	"0/14" "B: to the buyer and the director, once each"
ml-connector run "$R" >/dev/null 2>&1
is "$?/$(alert-log quarantine count)/$(grep -c . <(sms_accepted))" "0/1/14" \
	"B: the next run succeeds, sends nothing again, the record stays one quarantined line"
stop_env

done_testing
