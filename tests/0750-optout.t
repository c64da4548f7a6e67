#!/usr/bin/env bash
# Opt-out: recipients' messages by webhook (twilio-status, [twilio]
# inbound_url) and by polling (twilio-send --poll-inbound), each recorded
# once per MessageSid; STOP-family keywords as Twilio reads them; 21610
# marks the pair; an opted-out recipient is never sent to (suppressed, a
# final outcome that status counts and why explains); the simulator's
# inbound messages, duplicate deliveries and its own STOP block.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

URL='https://alerts.example.com/ml/inbound'
DB=$ML_CONNECTOR_STATE/state.db
OURS=+15005550006
http-sink --port 0 --port-file "$T/sink.port" --request-log "$T/sink.log" 2>>"$T/sink.err" &
own "$!"
wait_for test -s "$T/sink.port"
SINKURL="http://127.0.0.1:$(cat "$T/sink.port")/twilio/inbound"
CONF_EXTRA="status_callback = https://alerts.example.com/ml/status
inbound_url = $SINKURL
inbound_page_size = 2"
send_setup --inbound-url "$SINKURL"
q() { sqlite3 "$DB" "$1"; }

# post BODY SIGNATURE [PATH]: the incoming-message webhook as CGI; $T/out, $rc
post() {
	REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded \
		CONTENT_LENGTH=$(printf '%s' "$1" | wc -c) HTTP_X_TWILIO_SIGNATURE=$2 \
		SCRIPT_NAME=${3:-/twilio/inbound} twilio-status <<<"$1" >"$T/out" 2>>"$T/err"
	rc=$?
}
# inbound N FROM BODY: a signed webhook body and its signature in $body, $sig
n=0
inbound() {
	local sid
	sid=$(printf 'SM%032d' "$1")
	body="MessageSid=$sid&AccountSid=$AC&From=$(jq -rn --arg v "$2" '$v|@uri')&To=%2B15005550006&Body=$(jq -rn --arg v "$3" '$v|@uri')&NumMedia=0"
	sig=$(twsig-check sign "$T/token" "$SINKURL" "MessageSid=$sid" "AccountSid=$AC" "From=$2" \
		"To=$OURS" "Body=$3" NumMedia=0)
}

# ---- the keyword matrix, through the webhook -------------------------------
# body | the keyword class Twilio gives it (- none)
while IFS='|' read -r text want; do
	n=$((n + 1))
	from=$(printf '+1555300%04d' "$n")
	inbound "$n" "$from" "$text"
	post "$body" "$sig"
	got=$(q "SELECT ifnull(keyword, '-') FROM inbound WHERE theirs = '$from'")
	is "$rc:$got" "0:$want" "keyword \"$text\": $want"
done <<'EOF'
STOP|STOP
stop|STOP
  sToP  |STOP
STOPALL|STOP
UNSUBSCRIBE|STOP
cancel|STOP
End|STOP
QUIT|STOP
revoke|STOP
OptOut|STOP
START|START
yes|START
Unstop|START
HELP|HELP
info|HELP
stop it please|-
STOP.|-
OPT OUT|-
STOP ALL|-
please stop|-
hello|-
EOF
is "$(q "SELECT count(*) FROM optout WHERE opted_out = 1")" 10 "each STOP word opted its sender out"
is "$(q "SELECT count(*) FROM optout WHERE opted_out = 0")" 3 "START, YES, UNSTOP: opted in"
is "$(q "SELECT count(*) FROM audit WHERE stage = 'help'")" 2 "HELP and INFO recorded (stage help)"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 200 OK" "answered 200"
like "$(cat "$T/out")" 'Content-Type: text/xml' "as text/xml"
like "$(tail -n 1 "$T/out")" '^<\?xml version="1.0" encoding="UTF-8"\?><Response></Response>$' \
	"with an empty TwiML Response"

# OptOutType (Advanced Opt-Out) wins over the body
sid=SM00000000000000000000000000000099
body="MessageSid=$sid&AccountSid=$AC&From=%2B15553009999&To=%2B15005550006&Body=arret&OptOutType=STOP"
post "$body" "$(twsig-check sign "$T/token" "$SINKURL" "MessageSid=$sid" "AccountSid=$AC" \
	From=+15553009999 "To=$OURS" Body=arret OptOutType=STOP)"
is "$(q "SELECT opted_out || ' ' || how FROM optout WHERE theirs = '+15553009999'")" \
	"1 keyword STOP (OptOutType)" "OptOutType STOP: a custom keyword opts out"

# a number in a Messaging Service: the service's block, and the number's
sid=SM00000000000000000000000000000098
MG=MG0123456789abcdef0123456789abcdef
body="MessageSid=$sid&AccountSid=$AC&MessagingServiceSid=$MG&From=%2B15553009998&To=%2B15005550006&Body=stop"
post "$body" "$(twsig-check sign "$T/token" "$SINKURL" "MessageSid=$sid" "AccountSid=$AC" \
	"MessagingServiceSid=$MG" From=+15553009998 "To=$OURS" Body=stop)"
is "$(q "SELECT ours || '=' || opted_out FROM optout WHERE theirs = '+15553009998' ORDER BY ours" | tr '\n' ' ')" \
	"+15005550006=1 $MG=1 " "in a Messaging Service: opted out of the service and of the number"

# STOP then START from one number: opted back in
inbound 201 +15553000201 STOP
post "$body" "$sig"
inbound 202 +15553000201 start
post "$body" "$sig"
is "$(q "SELECT opted_out FROM optout WHERE theirs = '+15553000201'")" 0 "STOP then START: opted in"

# ---- refused: wrong signature, another account, the wrong path ------------
inbound 301 +15553000301 STOP
post "$body" "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
is "$rc" 77 "bad signature: 77"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" "bad signature: 403"
is "$(q "SELECT count(*) FROM inbound WHERE theirs = '+15553000301'")" 0 "bad signature: nothing recorded"
post "$body" "$(twsig-check sign "$T/token" "${SINKURL}x" MessageSid=SM00000000000000000000000000000301 \
	"AccountSid=$AC" From=+15553000301 "To=$OURS" Body=STOP NumMedia=0)"
is "$rc" 77 "signed for another URL: refused"
post "$body" "$sig" /ml/status
is "$rc" 77 "on the status callback path: checked against status_callback, refused"
b2="MessageSid=SM00000000000000000000000000000302&AccountSid=ACffffffffffffffffffffffffffffffff&From=%2B15553000301&To=%2B15005550006&Body=STOP"
post "$b2" "$(twsig-check sign "$T/token" "$SINKURL" MessageSid=SM00000000000000000000000000000302 \
	AccountSid=ACffffffffffffffffffffffffffffffff From=+15553000301 "To=$OURS" Body=STOP)"
is "$rc $(head -n 1 "$T/out" | tr -d '\r')" "77 Status: 403 Forbidden" "signed, but another account's: 403"
REQUEST_METHOD=GET HTTP_X_TWILIO_SIGNATURE=$sig SCRIPT_NAME=/twilio/inbound twilio-status </dev/null >"$T/out" 2>>"$T/err"
is "$? $(head -n 1 "$T/out" | tr -d '\r')" "65 Status: 405 Method Not Allowed" "GET: 405 (the webhook is configured as POST)"
is "$(q "SELECT count(*) FROM optout WHERE theirs = '+15553000301'")" 0 "and nothing recorded"

# ---- the simulator: webhook signed, delivered twice, recorded once --------
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode From=+15553000401 --data-urlencode "To=$OURS" \
	--data-urlencode Body=Stop --data-urlencode Deliveries=2 >"$T/inj"
isid=$(jq -r .sid "$T/inj")
is "$(jq -r '[.direction, .status] | join(" ")' "$T/inj")" "inbound received" \
	"injected: an inbound message, received"
wait_for lines_ge "$T/sink.log" 2
line=$(head -n 1 "$T/sink.log")
printf '%s' "$line" | jq -j .body | twsig-check form >"$T/form"
is "$(jq -r 'map(.[0]) | sort | join(",")' "$T/form")" \
	"AccountSid,ApiVersion,Body,From,MessageSid,NumMedia,NumSegments,SmsMessageSid,SmsSid,SmsStatus,To" \
	"webhook: Twilio's documented parameters"
for i in 1 2; do
	line=$(sed -n "${i}p" "$T/sink.log")
	post "$(printf '%s' "$line" | jq -j .body)" "$(printf '%s' "$line" | jq -r '.headers["X-Twilio-Signature"]')" \
		"$(printf '%s' "$line" | jq -r .path)"
	is "$rc $(tail -n 1 "$T/out")" \
		'0 <?xml version="1.0" encoding="UTF-8"?><Response></Response>' "delivery $i: valid, answered"
done
is "$(q "SELECT count(*) FROM inbound WHERE sid = '$isid'")/$(q "SELECT count(*) FROM audit WHERE sid = '$isid'")" \
	"1/1" "duplicate webhook: one inbound row, one audit row"
is "$(q "SELECT opted_out || ' ' || sid FROM optout WHERE theirs = '+15553000401'")" "1 $isid" \
	"the STOP opted the sender out"

# ---- suppressed: never sent, final, counted, explained ---------------------
sms s1 +15553000401 'Invoice 1 overdue' | alert-log --before twilio-send | twilio-send | alert-log >"$T/res" 2>"$T/send.err"
is "$?" 0 "send to an opted-out recipient: exit 0"
is "$(jq -r '[.status, .suppressed.reason] | join(" ")' "$T/res")" "suppressed opted out" \
	"result: suppressed, opted out"
is "$(posts_to +15553000401)" 0 "the simulator never saw a create for them"
is "$(q "SELECT stage || ': ' || detail FROM audit WHERE delivery_id = 't:s1/sms/+15553000401' ORDER BY id DESC LIMIT 1")" \
	"suppressed: opted out: keyword STOP at $(q "SELECT since FROM optout WHERE theirs = '+15553000401'"), our sender $OURS ($isid)" \
	"trail: suppressed: opted out, how, when, our number, the STOP's SID"
alert-log why 't:s1/sms/+15553000401' >"$T/why"
like "$(cat "$T/why")" "opt_out .*\\+15553000401 sms $isid received .*keyword STOP" "why: the STOP message"
like "$(cat "$T/why")" "suppressed .*opted out: keyword STOP" "why: the suppressed delivery"
alert-log why +15553000401 >"$T/why2"
like "$(cat "$T/why2")" "opt_out .*keyword STOP" "why NUMBER: the opt-out"
alert-log replay --rule t --status queued,unknown >"$T/replay"
is "$(grep -c 's1' "$T/replay")" 0 "replay: a suppressed delivery is never handed out again"
is "$(alert-log status t -f ndjson | jq -r .opted_out)" 1 "status counts it (opted_out)"
alert-log status t >"$T/st"
like "$(head -n 1 "$T/st")" ' OPTED-OUT ' "status text: an OPTED-OUT column"
# the simulator itself obeys the STOP, as Twilio does
code=$(curl -s -o "$T/c" -w '%{http_code}' -u "$AC:$TOKEN" --data-urlencode To=+15553000401 \
	--data-urlencode "From=$OURS" --data-urlencode Body=x "$SIM/2010-04-01/Accounts/$AC/Messages.json")
is "$code $(jq -r .code "$T/c")" "400 21610" "the simulator refuses a send after STOP with 21610"
# START lifts both blocks
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode From=+15553000401 --data-urlencode "To=$OURS" \
	--data-urlencode Body=START >/dev/null
wait_for lines_ge "$T/sink.log" 3
line=$(sed -n 3p "$T/sink.log")
post "$(printf '%s' "$line" | jq -j .body)" "$(printf '%s' "$line" | jq -r '.headers["X-Twilio-Signature"]')"
sms s2 +15553000401 'Invoice 2 overdue' | twilio-send | alert-log >"$T/res"
is "$(jq -r .status "$T/res") $(posts_to +15553000401)" "queued 2" \
	"after START: sent again (the second create to them; the first was refused)"
# an SMS opt-out is no WhatsApp opt-out (Twilio blocks the pair)
wa w1 +15553000201 'hi' >/dev/null
inbound 501 +15553000501 STOP
post "$body" "$sig"
wa w1 +15553000501 'Invoice 3 overdue' | twilio-send >"$T/res"
is "$(jq -r .status "$T/res")" queued "an SMS STOP does not stop WhatsApp"

# ---- 21610 on a send marks the pair ----------------------------------------
sms r1 +15005550004 'one' | twilio-send | alert-log >"$T/res"
is "$(jq -r '[.status, .error.code, .opted_out.from, .opted_out.to] | join(" ")' "$T/res")" \
	"failed 21610 $OURS +15005550004" "21610: failed, the pair named"
is "$(q "SELECT opted_out || ' ' || how FROM optout WHERE theirs = '+15005550004'")" "1 error 21610" \
	"21610: the pair opted out"
sms r2 +15005550004 'two' | twilio-send | alert-log >"$T/res"
is "$(jq -r .status "$T/res") $(posts_to +15005550004)" "suppressed 1" \
	"after 21610: suppressed, no second create"
alert-log why 't:r2/sms/+15005550004' >"$T/why"
like "$(cat "$T/why")" "opt_out .*error 21610" "why: the 21610 that opted them out"

# ---- polling: paging, direction, watermark, idempotent ----------------------
for i in 1 2 3 4 5; do
	curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode "From=+1555310000$i" --data-urlencode "To=$OURS" \
		--data-urlencode "Body=$([ "$i" = 3 ] && echo QUIT || echo "reply $i")" >/dev/null
done
# a message to our number that is not inbound (another sender of ours)
curl -sf -u "$AC:$TOKEN" --data-urlencode "To=$OURS" --data-urlencode From=+15557770000 \
	--data-urlencode Body=outbound "$SIM/2010-04-01/Accounts/$AC/Messages.json" >/dev/null
before=$(q "SELECT count(*) FROM inbound")
mark=$(grep -c . "$LOG")
gets() { tail -n +"$((mark + 1))" "$LOG" | jq -c 'select(.kind == "request" and .method == "GET")'; }
twilio-send --poll-inbound >"$T/poll" 2>"$T/poll.err"
is "$?" 0 "poll: exit 0"
is "$(jq -s 'map(select(.event == "inbound" and (.from | startswith("+155531")))) | length' "$T/poll")" 5 \
	"poll: the five new messages"
is "$(jq -s 'map(select(.from == "+15553000401")) | length' "$T/poll")" 2 \
	"poll: and the earlier ones of today (the window overlaps)"
is "$(jq -s 'map(select(.body == "outbound")) | length' "$T/poll")" 0 "poll: only direction inbound"
is "$(gets | jq -r 'select(.query.To == "'$OURS'") | .query.Page // "0"' | tr '\n' ' ')" "0 1 2 3 " \
	"poll: every page read (7 messages, PageSize 2), next_page_uri followed"
is "$(gets | jq -r 'select(.query.To == "whatsapp:+14155238886") | .query.To' | wc -l | tr -d ' ')" 1 \
	"poll: the WhatsApp number too"
alert-log <"$T/poll" >/dev/null
is "$(($(q "SELECT count(*) FROM inbound") - before))" 5 "poll recorded: five new rows, the known ones once"
is "$(q "SELECT opted_out || ' ' || how FROM optout WHERE theirs = '+15553100003'")" "1 keyword STOP" \
	"poll: a QUIT opts out"
mark=$(grep -c . "$LOG")
twilio-send --poll-inbound | alert-log >/dev/null
is "$(($(q "SELECT count(*) FROM inbound") - before))" 5 "poll again: nothing recorded twice"
wm=$(q "SELECT substr(max(date_sent), 1, 10) FROM inbound WHERE our_number = '$OURS'")
is "$(gets | jq -r 'select(.query.To == "'$OURS'") | .query["DateSent>"]' | head -n 1)" \
	"$(date -u -d "$wm -1 day" +%F)" "poll: DateSent>= the day before the watermark"

# ---- configuration: [twilio] inbound is webhook or poll ------------------
cp "$ML_CONNECTOR_CONF" "$T/bad.conf"
sed -i 's|^\[sendgrid\]$|inbound = sometimes\n&|' "$T/bad.conf"
twilio-send -c "$T/bad.conf" --poll-inbound >/dev/null 2>"$T/bad.err"
is "$?" 78 "[twilio] inbound = sometimes: 78"
like "$(cat "$T/bad.err")" 'inbound: webhook or poll, not "sometimes"' "and said"

# ---- the man pages' examples -------------------------------------------
# twilio-status(8): an incoming message by hand, through --inetd
inbound 601 +15551230001 UNSUBSCRIBE
man-examples "$TOP/man/twilio-status.8" 7 >"$T/ex.sh"
(cd "$T" && body=$body sig=$sig bash ex.sh) >"$T/ex.out" 2>"$T/ex.err"
is "$(head -n 1 "$T/ex.out" | tr -d '\r')" "HTTP/1.1 200 OK" "twilio-status.8 EXAMPLES: an incoming message, 200"
like "$(cat "$T/ex.out")" '<Response></Response>$' "twilio-status.8 EXAMPLES: the empty TwiML"
# alert-log(1): why a number opted out, status's count
man-examples -c "$TOP/man/alert-log.1" 3 >"$T/ex.sh"
bash "$T/ex.sh" >"$T/ex.out" 2>"$T/ex.err"
is "$?" 0 "alert-log.1 EXAMPLES 3: run"
like "$(cat "$T/ex.out")" "opt_out .*\\+15551230001 sms SM0+601 received .*keyword STOP" \
	"alert-log.1 EXAMPLES 3: why tells the opt-out"
like "$(cat "$T/ex.out")" '\{"rule":"t","opted_out":2\}' "alert-log.1 EXAMPLES 3: status counts"
# twilio-send(1): the poll, then who opted out
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode From=+15553200001 --data-urlencode "To=$OURS" \
	--data-urlencode Body=END >/dev/null
nex=$(man-examples -n "$TOP/man/twilio-send.1")
man-examples "$TOP/man/twilio-send.1" "$nex" >"$T/ex.sh"
bash "$T/ex.sh" >"$T/ex.out" 2>"$T/ex.err"
is "$?" 0 "twilio-send.1 EXAMPLES $nex: run"
like "$(cat "$T/ex.out")" 'opt_out .*\+15553200001 sms SM[0-9a-f]+ received .*keyword STOP' \
	"twilio-send.1 EXAMPLES $nex: the polled END is an opt-out"

done_testing
