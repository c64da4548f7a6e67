#!/usr/bin/env bash
# ml-connector preview RULE without a record file: the records come from
# the live AIS (jde-fetch --no-state, jde-join), are matched and rendered on
# stdout; nothing is sent (no request reaches the Twilio simulator), no
# watermark moves and none is left pending, no run, re-alert, deferred or
# delivery row is written: the trail holds one preview row.  A record the
# preview showed is still sent by the next run.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
unset ML_CONNECTOR_LOG ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID
cp -r "$TOP/data/jde" "$T/data"
AIS_DATA=$T/data
. "$(dirname "$0")/e2e-lib.sh"
start_env env || exit 1
db=$ML_CONNECTOR_STATE/state.db
q() { sqlite3 "$db" "$1"; }
tw_requests() { grep -c . "$MLC_TWILIO_SIM_LOG" 2>/dev/null || true; }
# the big purchase orders of the sample data, as the rule asks AIS for them
NBIG=$(jq -c 'select(.F4301_OTOT > 50000 and .F4301_DCTO == "OP")' "$T/data/F4301.ndjson" | grep -c .)

# ---- ml-connector(8) EXAMPLES 3 and 4, on a fresh trail --------------------------
for ex in 3 4; do
	man-examples -c "$TOP/man/ml-connector.8" $ex >"$T/ex$ex.sh"
	man-examples -o "$TOP/man/ml-connector.8" $ex >"$T/ex$ex.want"
	bash "$T/ex$ex.sh" >"$T/ex$ex.got" 2>&1
	diff_ok "$T/ex$ex.got" "$T/ex$ex.want" "ml-connector.8 EXAMPLES $ex: $(head -n 1 "$T/ex$ex.sh")"
done
# the examples' two previews: the rows below are counted after theirs
base=$(q 'SELECT max(id) FROM audit')

# ---- a rule never run ----------------------------------------------------------
ml-connector preview high-value-po >"$T/out" 2>"$T/err"
is "$?" 0 "preview high-value-po: status 0"
like "$(jq -r '"\(.channel) \(.to) \(.body)"' "$T/out" | head -n 1)" '^sms \+1[0-9]{10} .+' \
	"stdout: the rendered deliveries ($(grep -c . "$T/out") lines)"
is "$(jq -r 'select(.delivery_id and .key) | .key' "$T/out" | sort -u | grep -c .)" "$NBIG" \
	"every big purchase order of the data is in them, with its contacts joined"
is "$(tw_requests)" 0 "nothing reached the Twilio simulator"
jde-fetch --show-watermark high-value-po >/dev/null 2>&1
is "$?" 66 "no watermark was committed"
is "$(q 'SELECT count(*) FROM watermark_pending')/$(q 'SELECT count(*) FROM watermark')" 0/0 "none is left pending"
is "$(q 'SELECT count(*) FROM run')/$(q 'SELECT count(*) FROM realert')/$(q 'SELECT count(*) FROM deferred')" 0/0/0 \
	"no run, no re-alert mark, no deferred delivery"
is "$(q "SELECT stage FROM audit WHERE id > $base" | sort | uniq -c | awk '{ print $2 "=" $1 }' | tr '\n' ' ')" "preview=1 " \
	"the trail holds one row more: the preview"
pid=$(q "SELECT detail FROM audit WHERE stage = 'preview' AND id > $base")
like "$pid" "^preview preview-[0-9]{8}T[0-9]{6}Z-[^ ]+: ok: records $NBIG, alerts $NBIG, deliveries [1-9][0-9]*; nothing sent, the watermark not moved\$" \
	"its detail: the preview's id and what it found"
like "$(cat "$T/err")" "^ml-connector: rule=high-value-po run=preview-[^ ]+: rule high-value-po: preview preview-[^ ]+: records $NBIG, " \
	"stderr: the same, named with rule and run"
is "$(grep -c -v '^ml-connector: ' "$T/err")" 0 "and no stage complained"

# ---- after a run: the watermark stays where the run put it -------------------------
ml-connector run high-value-po >/dev/null 2>"$T/run.err"
is "$?" 0 "the run: status 0"
sent=$(tw_requests)
wm=$(jde-fetch --show-watermark high-value-po)
like "$wm" '"date":"2026-' "the run committed a watermark"
ml-connector preview high-value-po >"$T/out2" 2>"$T/err2"
is "$?/$(grep -c '"delivery_id"' "$T/out2")" 0/0 "a preview right after the run: nothing new to render"
# A new big order, changed after the watermark.
jq -c 'select(.F4301_DOCO == 4300139) | .F4301_DOCO = 4399001 | .F4301_UPMJ = "20261126" | .F4301_TDAY = 90000' \
	"$T/data/F4301.ndjson" >"$T/new-row"
cat "$T/new-row" >>"$T/data/F4301.ndjson"
# everything in the state database but the trail's own rows, and the trail's
dump() { sqlite3 "$db" .dump | grep -v '^INSERT INTO audit' | grep -v '^INSERT INTO sqlite_sequence'; }
dump >"$T/before.dump"
audit_before=$(q 'SELECT max(id) FROM audit')
ml-connector preview high-value-po >"$T/out3" 2>"$T/err3"
is "$?" 0 "preview with a new order: status 0"
dump >"$T/after.dump"
diff_ok "$T/after.dump" "$T/before.dump" \
	"not a row of the state database changed: watermarks, pending, runs, re-alerts, metrics, schedule, vault"
is "$(q "SELECT group_concat(stage) FROM audit WHERE id > $audit_before")" preview "and the trail has one row more, the preview's"
is "$(jq -r 'select(.delivery_id and .key) | .key' "$T/out3" | sort -u | tr '\n' ' ')" "00001|OP|4399001|000 " \
	"the preview shows the new order alone"
is "$(jde-fetch --show-watermark high-value-po)" "$wm" "the watermark has not moved"
is "$(q 'SELECT count(*) FROM watermark_pending')" 0 "and no position is pending"
is "$(tw_requests)" "$sent" "still no request to the Twilio simulator after the run's"
is "$(q "SELECT count(*) FROM audit WHERE stage = 'preview' AND id > $base")/$(q 'SELECT count(*) FROM run')" 3/1 \
	"three preview rows; the run table knows only the run"
ml-connector run high-value-po >/dev/null 2>"$T/run2.err"
is "$?" 0 "the next run: status 0"
is "$(q "SELECT count(DISTINCT delivery_id) FROM audit WHERE stage = 'sent' AND record_key = '00001|OP|4399001|000'")" \
	"$(jq -c 'select(.key == "00001|OP|4399001|000")' "$T/out3" | grep -c .)" \
	"the run sends what the preview showed: the preview took nothing away"

# ---- failures and usage ----------------------------------------------------------
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"spec":"status:code=400,path=/jderest/v2/dataservice,count=0"}' "$AIS/_sim/fault" ||
	echo "# AIS fault refused"
ml-connector preview high-value-po >"$T/out4" 2>"$T/err4"
c=$?
isnt "$c" 0 "AIS answering 400: the preview fails ($c)"
like "$(q "SELECT detail FROM audit WHERE stage = 'preview' ORDER BY id DESC LIMIT 1")" ': failed: .*stages: fetch=' \
	"and its row says so, with the stage"
ml-connector preview a/b.rule 2>"$T/err"
is "$?" 64 "preview of a path without FILE: 64"
ml-connector preview a b c 2>"$T/err"
is "$?/$(head -n 1 "$T/err")" "64/ml-connector: preview RULE [FILE]" "three operands: 64"
ml-connector preview nosuch 2>"$T/err"
is "$?" 66 "no such rule: 66"
# enabled = no: left out of run --all and schedules, previewed all the same
curl -sf -o /dev/null -X POST "$AIS/_sim/reset" || echo "# AIS reset refused"
sed -i 's/^\[rule\]$/&\nenabled = no/' "$ML_CONNECTOR_RULES/ap-aging.rule"
ml-connector preview ap-aging >"$T/out5" 2>"$T/err5"
is "$?/$(grep -c '"delivery_id"' "$T/out5" | sed 's/^[1-9][0-9]*$/some/')" 0/some "a rule with enabled = no previews like any other"

done_testing
