#!/usr/bin/env bash
# twilio-send when a reused keep-alive connection dies under a create
# (issue 11).  libcurl would send the request again by itself on a new
# connection ("Connection died, retrying a fresh connect"); for a create the
# first copy may have been acted on.  The transport refuses that re-send
# (http.c, mlc_http_once): the outcome is unknown, and twilio-send's own
# policy decides: an SMS is looked up first (found: reconciled; not found
# after the grace: sent once more), an e-mail is reported unknown.
# The simulator's nth=2 kills the second request of a connection, the first
# request that reuses it; drop-before and drop-after-receipt, one and four
# transfers in flight, SMS and SendGrid.  Each case checks, per recipient,
# what the simulator holds, how many creates it got (equal to the result's
# attempts: no create the program does not know of) and the result.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

send_setup --latency 0
export ML_CONNECTOR_RETRY_SEED=11

# held TO: messages the simulator holds for that number, mails for that address
held() {
	curl -sf "$SIM/_sim/messages" |
		jq -r --arg to "$1" 'select((.kind == "message" and .resource.to == $to) or
			(.kind == "mail" and .mail.personalizations[0].to[0].email == $to)) | .kind' |
		grep -c . || true
}
# requests TO: creates (Twilio) or mail sends (SendGrid) received for TO
requests() {
	case $1 in
	*@*) mails_to "$1" ;;
	*) posts_to "$1" ;;
	esac
}
# per_recipient OUT: "to held requests attempts status reconciled" per result
per_recipient() {
	jq -r '"\(.to) \(.attempts) \(.status) \(.reconciled // false)"' "$1" |
		while read -r to att st rec; do
			echo "$to $(held "$to") $(requests "$to") $att $st $rec"
		done | sort
}
# conn_reqs TO: the conn_req of every create/mail send for TO, in log order
conn_reqs() {
	jq -r --arg to "$1" 'select(.kind == "request" and .method == "POST" and
		(.form.To == $to or .json.personalizations[0].to[0].email == $to)) | .conn_req' "$LOG" |
		tr '\n' ' '
}

# ---- the reproduction: -P 1, three SMS, drop-after-receipt on the second ----
fault "drop-after-receipt:to=+15554000002,count=1"
{ sms a1 +15554000001 "one"; sms a2 +15554000002 "two"; sms a3 +15554000003 "three"; } >"$T/in"
twilio-send -P 1 -g 2 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "reproduction: exit 0"
is "$(conn_reqs +15554000001)$(conn_reqs +15554000002)" "1 2 " \
	"reproduction: the second create went on the connection of the first (keep-alive reuse)"
is "$(held +15554000001)/$(held +15554000002)/$(held +15554000003)" 1/1/1 \
	"reproduction: the simulator holds exactly one message per number"
is "$(posts_to +15554000002)" 1 "reproduction: one create for the second number, not two"
like "$(jq -r 'select(.to == "+15554000002") | "\(.status) \(.attempts) \(.reconciled)"' "$T/out")" \
	"^(queued|sending|sent|delivered) 1 true$" "reproduction: the second found in Twilio (reconciled), 1 attempt"
is "$(jq -r 'select(.to == "+15554000002") | .sid' "$T/out")" \
	"$(jq -r 'select(.kind == "request" and .form.To == "+15554000002") | .sid' "$LOG")" \
	"reproduction: its sid is the message the dropped create made"
is "$(jq -r 'select(.to != "+15554000002") | "\(.status) \(.attempts)"' "$T/out" | sort -u)" "queued 1" \
	"reproduction: the others sent once"

# ---- SMS, one in flight, nth=2: drop-after-receipt, then drop-before ----
fault "drop-after-receipt:method=POST,nth=2,count=1"
{ sms b1 +15554000011 "b one"; sms b2 +15554000012 "b two"; sms b3 +15554000013 "b three"; } >"$T/in"
twilio-send -P 1 -g 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "SMS -P 1 drop-after-receipt nth=2: exit 0"
per_recipient "$T/out" | sed -E 's/ (queued|sending|sent|delivered) true$/ found true/' >"$T/got"
printf '%s\n' "+15554000011 1 1 1 queued false" "+15554000012 1 1 1 found true" \
	"+15554000013 1 1 1 queued false" >"$T/want"
diff_ok "$T/got" "$T/want" \
	"SMS -P 1 drop-after-receipt nth=2: one message and one create each; the dropped one reconciled"

fault "drop-before:method=POST,nth=2,count=1"
{ sms c1 +15554000021 "c one"; sms c2 +15554000022 "c two"; sms c3 +15554000023 "c three"; } >"$T/in"
twilio-send -P 1 -g 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "SMS -P 1 drop-before nth=2: exit 0"
per_recipient "$T/out" >"$T/got"
printf '%s\n' "+15554000021 1 1 1 queued false" "+15554000022 1 2 2 queued false" \
	"+15554000023 1 1 1 queued false" >"$T/want"
diff_ok "$T/got" "$T/want" \
	"SMS -P 1 drop-before nth=2: not found after the grace, sent once more by twilio-send (2 creates, 2 attempts)"
is "$(conn_reqs +15554000022 | cut -d' ' -f1)" 2 "SMS -P 1 drop-before: the dropped create was on a reused connection"
like "$(cat "$T/err")" "not created by the uncertain attempt" "SMS -P 1 drop-before: the re-send is twilio-send's, explained"

# ---- SendGrid, one in flight, nth=2 ----
fault "drop-after-receipt:path=/v3/mail/send,nth=2,count=1"
{ mail d1 d1@example.com S T; mail d2 d2@example.com S T; mail d3 d3@example.com S T; } >"$T/in"
twilio-send -P 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 75 "SendGrid -P 1 drop-after-receipt nth=2: 75 (an outcome unknown)"
per_recipient "$T/out" >"$T/got"
printf '%s\n' "d1@example.com 1 1 1 accepted false" "d2@example.com 1 1 1 unknown false" \
	"d3@example.com 1 1 1 accepted false" >"$T/want"
diff_ok "$T/got" "$T/want" "SendGrid -P 1 drop-after-receipt nth=2: one mail each; the dropped one unknown, not re-sent"
is "$(jq -r 'select(.to == "d2@example.com") | .error.code' "$T/out")" outcome_unknown \
	"SendGrid: error code outcome_unknown"
like "$(jq -r 'select(.to == "d2@example.com") | .error.message' "$T/out")" "not sent again" \
	"SendGrid: the message says libcurl's re-send was refused"

fault "drop-before:path=/v3/mail/send,nth=2,count=1"
{ mail e1 e1@example.com S T; mail e2 e2@example.com S T; mail e3 e3@example.com S T; } >"$T/in"
twilio-send -P 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 75 "SendGrid -P 1 drop-before nth=2: 75"
per_recipient "$T/out" >"$T/got"
printf '%s\n' "e1@example.com 1 1 1 accepted false" "e2@example.com 0 1 1 unknown false" \
	"e3@example.com 1 1 1 accepted false" >"$T/want"
diff_ok "$T/got" "$T/want" "SendGrid -P 1 drop-before nth=2: one request each; the dropped one unknown"

# ---- four in flight: every create waits 200 ms, so four connections open
# and the next four creates reuse them (nth=2); two of those are dropped ----
fault "slow:method=POST,ms=200"
# many PREFIX KIND: eight deliveries to PREFIX1..PREFIX8
many() {
	for i in 1 2 3 4 5 6 7 8; do
		if [ "$2" = sms ]; then sms "$1$i" "+15554010$1$i" "$1 $i"; else mail "$1$i" "$1$i@example.com" S T; fi
	done
}
# four_in_flight LABEL FAULT PREFIX KIND WANT_RC WANT_SUMMARY
four_in_flight() {
	fault "$2"
	many "$3" "$4" >"$T/in"
	twilio-send -P 4 -g 1 <"$T/in" >"$T/out" 2>"$T/err"
	is "$?" "$5" "$1: exit $5"
	is "$(wc -l <"$T/out" | tr -d ' ')" 8 "$1: eight results"
	per_recipient "$T/out" | sed -E 's/ (queued|sending|sent|delivered) true$/ found true/' |
		cut -d' ' -f2- | sort | uniq -c | sed 's/^ *//' | sort >"$T/got"
	printf '%s\n' "${@:6}" | sort >"$T/want"
	diff_ok "$T/got" "$T/want" "$1: count held requests attempts status, per recipient"
	for to in $(jq -r .to "$T/out"); do conn_reqs "$to"; done | tr ' ' '\n' | grep -c '^[2-9]' >"$T/reused"
	like "$(cat "$T/reused")" '^[2-9]$' "$1: some of its creates went on reused connections"

}
four_in_flight "SMS -P 4 drop-after-receipt nth=2" "drop-after-receipt:method=POST,nth=2,count=2" 30 sms 0 \
	"2 1 1 1 found true" "6 1 1 1 queued false"
four_in_flight "SMS -P 4 drop-before nth=2" "drop-before:method=POST,nth=2,count=2" 31 sms 0 \
	"2 1 2 2 queued false" "6 1 1 1 queued false"
four_in_flight "SendGrid -P 4 drop-after-receipt nth=2" "drop-after-receipt:path=/v3/mail/send,nth=2,count=2" \
	f mail 75 "2 1 1 1 unknown false" "6 1 1 1 accepted false"
four_in_flight "SendGrid -P 4 drop-before nth=2" "drop-before:path=/v3/mail/send,nth=2,count=2" \
	g mail 75 "2 0 1 1 unknown false" "6 1 1 1 accepted false"

# ---- Expect: 100-continue: curl would add it to a body over 1 MiB, and a
# 417 to it would make curl send the request again; twilio-send sends an
# empty Expect: header, so the body goes at once, in one request ----
head -c 1200000 /dev/zero | tr '\0' x >"$T/big"
jq -cn --rawfile t "$T/big" \
	'{delivery_id:"t:h1/email/h1@example.com",alert_id:"t:h1",rule:"t",channel:"email",to:"h1@example.com",subject:"big",text:$t}' \
	>"$T/in"
twilio-send -P 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "a 1.2 MB e-mail: exit 0"
is "$(per_recipient "$T/out")" "h1@example.com 1 1 1 accepted false" "a 1.2 MB e-mail: accepted, one request"
is "$(jq -r 'select(.path == "/v3/mail/send" and .json.personalizations[0].to[0].email == "h1@example.com") | .expect // "none"' "$LOG")" \
	none "a 1.2 MB e-mail: sent without Expect: 100-continue"

done_testing
