#!/usr/bin/env bash
# Acknowledgement by reply (ack.c): with [message] reply_code = yes each
# SMS gets its reply code, the smallest one its recipient holds no other
# open alert under, and ends with it ("Reply ACK 2", "ACK 2") where that
# costs no segment; a reply injected into the
# Twilio simulator and read by the run's poll ([twilio] inbound = poll)
# acknowledges the alert it picks (ACK CODE, ACK alone: the latest, ACK
# with the document number), once per MessageSid, shown by why and counted
# by status; one that picks nothing is recorded, not an error.  The same
# reply by the signed webhook (twilio-status), delivered twice, and a poll
# whose output never reached the trail: recorded once.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"
OURS=+15005550006

start_env ack || exit 1
sed -i 's|^\[sendgrid\]$|inbound = poll\n&|' "$ML_CONNECTOR_CONF"
sed -i 's|^max_segments = 2$|&\nreply_code = yes|' "$ML_CONNECTOR_RULES/high-value-po.rule"
DB=$ML_CONNECTOR_STATE/state.db
q() { sqlite3 "$DB" "$1"; }
inject() {
	curl -sf -X POST "$TW/_sim/inbound" --data-urlencode "From=$1" --data-urlencode "To=$OURS" \
		--data-urlencode "Body=$2" | jq -r .sid
}

ml-connector run high-value-po >"$T/out" 2>"$T/err"
is "$?" 0 "the run: status 0"
sms_accepted >"$T/sms"
X=$(cut -f1 "$T/sms" | sort | uniq -c | sort -rn | awk '$1 >= 2 { print $2; exit }')
isnt "$X" "" "a recipient with several alerts: $X"
bodies() {
	curl -fsS "$TW/_sim/messages" | jq -r --arg x "$X" 'select(.kind == "message" and
		.resource.direction != "inbound" and .resource.to == $x) | .resource.body | @json'
}
n=$(bodies | grep -c .)
alert-log query --stage queued --recipient "$X" -f ndjson --lines | jq -r '.line | fromjson |
	"\(.reply_code) \(.reply_code_shown) \(.segments) \(.reply_code_shown as $f | .reply_code as $c | .body |
		if $f == "full" then endswith("\nReply ACK \($c)") elif $f == "short" then endswith("\nACK \($c)")
		else test("ACK [0-9]+$") | not end)"' >"$T/codes"
is "$(cut -d' ' -f1 "$T/codes" | sort -n | tr '\n' ' ')" "$(seq 1 "$n" | tr '\n' ' ')" \
	"each of their $n alerts holds its own reply code, 1 to $n: the smallest free"
is "$(cut -d' ' -f3,4 "$T/codes" | sort -u)" "1 true" \
	"the delivery lines name the code and its form (full, short, none: what fits in the segment), each body ends so"
is "$(bodies | jq -r 'capture("\n(Reply )?ACK (?<c>[0-9]+)$").c' | sort -n | tr '\n' ' ')" \
	"$(awk '$2 != "none" { print $1 }' "$T/codes" | sort -n | tr '\n' ' ')" "Twilio was sent those bodies"
isnt "$(cut -d' ' -f2 "$T/codes" | grep -c full)" 0 "the full form where it fits"

# ---- ACK CODE, by the poll of the next run ---------------------------------
a2=$(alert-log query --stage queued --recipient "$X" -f ndjson --lines |
	jq -r 'select((.line | fromjson | .reply_code) == "2") | .alert_id')
s1=$(inject "$X" ' ack 2. ')
ml-connector run high-value-po >/dev/null 2>>"$T/err"
is "$(q "SELECT alert_id || ' ' || how || ' ' || token || ' ' || by_addr FROM ack WHERE sid = '$s1'")" \
	"$a2 code 2 $X" "ACK 2: the alert of code 2, acknowledged by $X"
alert-log why "$a2" >"$T/why"
like "$(cat "$T/why")" "acked .*$s1 received acknowledged by \\$X \\(code 2\\) at .*via poll" \
	"why ALERT: who acknowledged it, how, when, by which message"
is "$(alert-log status high-value-po -f ndjson | jq -r .acked)" 1 "status counts the acknowledgement"
like "$(ml-connector status high-value-po | sed -n 1p)" ' ACKED( |$)' "status text: an ACKED column"

# ---- ACK alone: the latest alert sent to them; ACK DOCUMENT ---------------
latest=$(alert-log query --stage sent --recipient "$X" -f ndjson | jq -r .alert_id | tail -n 1)
s2=$(inject "$X" 'Ack, thanks!')
doc=$(alert-log query --stage sent --recipient "$X" -f ndjson | jq -rs '.[0].record_key')
docid=$(alert-log query --stage sent --recipient "$X" -f ndjson | jq -rs '.[0].alert_id')
num=$(printf '%s' "$doc" | cut -d'|' -f3 | sed 's/^0*//')
s3=$(inject "$X" "ACK PO $num")
s4=$(inject +13125559999 ACK)
s5=$(inject "$X" 'ACK 77')
twilio-send --poll-inbound >/dev/null 2>>"$T/err"   # read, and lost before the trail
is "$(q "SELECT count(*) FROM inbound WHERE sid IN ('$s2', '$s3')")" 0 \
	"a poll whose lines never reached the trail recorded nothing"
ml-connector run high-value-po >/dev/null 2>>"$T/err"
is "$(q "SELECT alert_id || ' ' || how FROM ack WHERE sid = '$s2'")" "$latest latest" \
	"ACK alone: the latest alert sent to them"
is "$(q "SELECT alert_id || ' ' || how || ' ' || token FROM ack WHERE sid = '$s3'")" "$docid document $num" \
	"ACK PO $num: the alert of that document"
is "$(q "SELECT count(*) FROM ack WHERE sid IN ('$s4', '$s5')")" 0 "ACK from a stranger, ACK of no code: no acknowledgement"
like "$(alert-log why +13125559999)" "ack_unmatched .*no alert was sent to that number" \
	"why NUMBER: the stranger's ACK, recorded and explained"
like "$(q "SELECT detail FROM audit WHERE sid = '$s5'")" "no reply code 77 and no alert" "an ACK of no code: said"
is "$(q "SELECT count(*) FROM inbound WHERE sid IN ('$s1','$s2','$s3','$s4','$s5')")/$(q "SELECT count(*) FROM audit WHERE sid IN ('$s1','$s2','$s3','$s4','$s5')")" \
	5/5 "each reply once: polled by two runs and a lost poll, one inbound row, one audit row"
is "$(alert-log status high-value-po -f ndjson | jq -r .acked)" 3 "status: three acknowledgements"
alert-log metrics >"$T/metrics"
is "$(grep '^mlc_acknowledgements_total' "$T/metrics" | sort | tr '\n' ' ')" \
	'mlc_acknowledgements_total{rule="high-value-po",outcome="code"} 1 mlc_acknowledgements_total{rule="high-value-po",outcome="document"} 1 mlc_acknowledgements_total{rule="high-value-po",outcome="latest"} 1 ' \
	"metrics: acknowledgements counted by how the reply picked the alert"

# ---- the webhook, delivered twice: recorded once ---------------------------
URL=https://alerts.example.com/twilio/inbound
sed -i "s|^inbound = poll\$|inbound_url = $URL|" "$ML_CONNECTOR_CONF"
sid=SM$(printf '%032d' 77)
body="MessageSid=$sid&AccountSid=$SID&From=$(jq -rn --arg v "$X" '$v|@uri')&To=%2B15005550006&Body=ACK+1&NumMedia=0"
sig=$(twsig-check sign "$T/tw.token" "$URL" "MessageSid=$sid" "AccountSid=$SID" "From=$X" \
	"To=$OURS" "Body=ACK 1" NumMedia=0)
for i in 1 2; do
	REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#body} \
		HTTP_X_TWILIO_SIGNATURE=$sig SCRIPT_NAME=/twilio/inbound twilio-status <<<"$body" >"$T/wh" 2>>"$T/err"
	is "$?" 0 "webhook delivery $i: answered"
done
is "$(q "SELECT count(*) || ' ' || max(how) FROM ack WHERE sid = '$sid'")/$(q "SELECT count(*) FROM audit WHERE sid = '$sid'")" \
	"1 code/1" "ACK 1 by webhook, delivered twice: one acknowledgement, one audit row"
# the same person on WhatsApp: their codes are the number's, whatever the channel
a3=$(alert-log query --stage queued --recipient "$X" -f ndjson --lines |
	jq -r 'select((.line | fromjson | .reply_code) == "3") | .alert_id')
sid=SM$(printf '%032d' 78)
body="MessageSid=$sid&AccountSid=$SID&From=$(jq -rn --arg v "whatsapp:$X" '$v|@uri')&To=whatsapp%3A%2B15005550006&Body=Ack+%233&NumMedia=0"
sig=$(twsig-check sign "$T/tw.token" "$URL" "MessageSid=$sid" "AccountSid=$SID" "From=whatsapp:$X" \
	"To=whatsapp:$OURS" "Body=Ack #3" NumMedia=0)
REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#body} \
	HTTP_X_TWILIO_SIGNATURE=$sig SCRIPT_NAME=/twilio/inbound twilio-status <<<"$body" >"$T/wh" 2>>"$T/err"
is "$?:$(q "SELECT alert_id || ' ' || how || ' ' || by_addr FROM ack WHERE sid = '$sid'")" \
	"0:$a3 code whatsapp:$X" "\"Ack #3\" on WhatsApp: the alert of their code 3, by whatsapp:$X"

# ---- ACK alone while the newest delivery to them has no outcome -----------
# A run killed between Twilio's accept and the trail's record leaves the
# delivery queued: ACK alone may answer it, or the alert before; neither
# is acknowledged (said), until the outcome is in the trail.
alert-log query --stage queued --recipient "$X" -f ndjson --lines | jq -c '.line | fromjson' | tail -n 1 |
	jq -c '.alert_id = "high-value-po:00001|OP|9999999|000" | .key = "00001|OP|9999999|000" |
		.delivery_id = "high-value-po:00001|OP|9999999|000/sms/\(.to)"' >"$T/doubt.line"
ML_CONNECTOR_RULE=high-value-po alert-log --before twilio-send <"$T/doubt.line" >/dev/null
is "$(alert-log query --delivery "$(jq -r .delivery_id "$T/doubt.line")" -f ndjson | jq -r .stage)" queued \
	"a delivery to $X handed to Twilio, its outcome unrecorded"
webhook_ack() { # N BODY: an ACK by the signed webhook, MessageSid SM...N
	sid=SM$(printf '%032d' "$1")
	body="MessageSid=$sid&AccountSid=$SID&From=$(jq -rn --arg v "$X" '$v|@uri')&To=%2B15005550006&Body=$2&NumMedia=0"
	sig=$(twsig-check sign "$T/tw.token" "$URL" "MessageSid=$sid" "AccountSid=$SID" "From=$X" \
		"To=$OURS" "Body=$2" NumMedia=0)
	REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#body} \
		HTTP_X_TWILIO_SIGNATURE=$sig SCRIPT_NAME=/twilio/inbound twilio-status <<<"$body" >"$T/wh" 2>>"$T/err"
}
webhook_ack 79 ACK
is "$?:$(q "SELECT count(*) FROM ack WHERE sid = '$sid'"):$(q "SELECT stage FROM audit WHERE sid = '$sid'")" "0:0:ack_unmatched" \
	"ACK alone, the newest delivery to them in doubt: no alert acknowledged (not the one sent before it)"
like "$(q "SELECT detail FROM audit WHERE sid = '$sid'")" "the latest delivery to that number, high-value-po:00001\|OP\|9999999\|000/sms/.* has no outcome recorded yet" \
	"and said why, naming the delivery in doubt"
jq -c '.status = "queued" | .sid = "SM'"$(printf '%032d' 80)"'" | .attempts = 1' "$T/doubt.line" |
	ML_CONNECTOR_RULE=high-value-po alert-log --after twilio-send >/dev/null
webhook_ack 81 ACK
is "$(q "SELECT alert_id || ' ' || how FROM ack WHERE sid = '$sid'")" "high-value-po:00001|OP|9999999|000 latest" \
	"its outcome recorded (sent): ACK alone acknowledges it, the latest"

# ---- check: reply codes with nothing to read the replies --------------------
ml-connector check high-value-po >/dev/null 2>"$T/chk"
unlike "$(cat "$T/chk")" "reply_code" "check: reply codes and a webhook to read the replies: no warning"
sed -i '/^inbound_url = /d' "$ML_CONNECTOR_CONF"
ml-connector check high-value-po >/dev/null 2>"$T/chk"
like "$(cat "$T/chk")" "warning: high-value-po: \[message\] reply_code = yes, but no reply reaches ml-connector: set \[twilio\] inbound_url" \
	"check: reply codes, no webhook, no poll: warned"

# ---- a new alert to them takes a code set free by an acknowledgement -------
is "$(ack-unit code "$X" 'high-value-po:new' high-value-po new 2026-11-26T15:00:00.000Z)" 1 \
	"code 1 is free again once its alert is acknowledged"
done_testing
