#!/usr/bin/env bash
# A STOP that arrives while a batch is being sent (twilio-send(1), "Opt-out
# during a batch"): every delivery gets exactly one final outcome (sent,
# suppressed, or refused with 21610), none is lost or sent twice, and no
# create after the STOP is recorded reaches Twilio.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

RATE=1000 INFLIGHT=1 send_setup --latency 0
DB=$ML_CONNECTOR_STATE/state.db
OURS=+15005550006
X=+15554000077
q() { sqlite3 "$DB" "$1"; }
accepted() { curl -sf "$SIM/_sim/messages" | jq -r --arg to "$1" 'select(.resource.to == $to and .resource.direction != "inbound") | .resource.sid' | wc -l | tr -d ' '; }

# ---- A: the STOP is recorded after the first send, before the others -------
mkfifo "$T/in"
twilio-send <"$T/in" | alert-log >"$T/res" 2>"$T/send.err" &
pipe=$!
own "$pipe"
exec 3>"$T/in"
sms a1 "$X" 'Invoice 1 overdue' >&3
wait_for grep -q '"delivery_id":"t:a1/' "$T/res"
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode "From=$X" --data-urlencode "To=$OURS" \
	--data-urlencode Body=STOP >/dev/null
twilio-send --poll-inbound | alert-log >/dev/null
is "$(q "SELECT opted_out FROM optout WHERE theirs = '$X'")" 1 "A: the STOP is recorded mid-batch"
for i in 2 3 4 5; do sms "a$i" "$X" "Invoice $i overdue"; done >&3
exec 3>&-
wait "$pipe"
is "$(jq -r '.delivery_id + " " + .status' "$T/res" | sort | tr '\n' ',')" \
	"t:a1/sms/$X queued,t:a2/sms/$X suppressed,t:a3/sms/$X suppressed,t:a4/sms/$X suppressed,t:a5/sms/$X suppressed," \
	"A: the one sent before stays sent, every later one suppressed, each once"
is "$(accepted "$X")" 1 "A: the simulator accepted one message, the one before the STOP"
is "$(q "SELECT count(DISTINCT delivery_id) FROM audit WHERE delivery_id LIKE 't:a%'")" 5 \
	"A: five deliveries in the trail"
is "$(alert-log status t -f ndjson | jq -r '[.sent, .opted_out, .pending, .unknown] | join(" ")')" "1 4 0 0" \
	"A: status: 1 sent, 4 opted out, none pending or unknown"

# ---- B: the STOP reached Twilio, not us, while the batch goes out ----------
Y=+15554000078
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode "From=$Y" --data-urlencode "To=$OURS" \
	--data-urlencode Body=stop >/dev/null
for i in 1 2 3 4 5; do sms "b$i" "$Y" "Invoice $i overdue"; done |
	twilio-send -P 4 | alert-log >"$T/resb"
is "$?" 0 "B: exit 0"
is "$(jq -r .delivery_id "$T/resb" | sort -u | wc -l | tr -d ' ')/$(grep -c . "$T/resb")" "5/5" \
	"B: five results, one per delivery"
is "$(jq -r 'select(.status != "suppressed" and (.status != "failed" or .error.code != 21610)) | .delivery_id' "$T/resb")" "" \
	"B: each refused by Twilio (21610) or suppressed by us"
is "$(accepted "$Y")" 0 "B: nothing sent"
is "$(q "SELECT opted_out || ' ' || how FROM optout WHERE theirs = '$Y'")" "1 error 21610" \
	"B: the 21610 opted them out"
for i in 1 2 3 4 5; do sms "b$i" "$Y" "Invoice $i overdue"; done | twilio-send | alert-log >"$T/resb2"
is "$(jq -r .status "$T/resb2" | sort -u) $(accepted "$Y")" "suppressed 0" \
	"B: sent again, all suppressed before any create"

done_testing
