#!/usr/bin/env bash
# ack.c, without a network: the reply parser as a phone user types (case,
# blanks, punctuation), the one classifier it shares with the opt-out
# keywords, document numbers in alert keys, the reply code's suffix that
# never costs an SMS segment (mlc_sms_suffix), and reply code assignment:
# the smallest free, kept by its alert, set free by an acknowledgement or
# by age.
. "$(dirname "$0")/lib.sh"
A=ack-unit

# ---- the parser: body | what it means ("ack TOKEN", "ack -" the latest)
while IFS='|' read -r text want; do
	is "$($A parse "$text")" "$want" "\"$text\": $want"
done <<'EOF2'
ACK|ack -
ack|ack -
 Ack. |ack -
ACK!|ack -
Ack, thanks!|ack -
ACK2|ack 2
ack 2|ack 2
ACK #2|ack 2
ack: 2|ack 2
ACK '2'|ack 2
ACK "12".|ack 12
  ack   3  |ack 3
ACK 2 thanks|ack 2
ACK 2 and 3|ack 2
ACK PO 4300105|ack 4300105
Ack: 123456|ack 123456
acknowledged 7|ack 7
Acknowledge|ack -
ACKME|none
I ack it|none
back|none
STOP|STOP
help|HELP
yes|START
hello|none
|none
EOF2

# ---- document numbers: a part of the key, digits without leading zeros
is "$($A keyhas '00001|OP|004300105|000' 4300105)" yes "a key part, leading zeros aside"
is "$($A keyhas '00001|OP|4300105|000' 430010)" no "a prefix is no part"
is "$($A keyhas '00001|OP|4300105|000' op)" yes "a letters part, case ignored"
is "$($A keyhas '00001|OP|4300105|000' 1)" yes "00001 is 1: digits compared as numbers"

# ---- the suffix: full, else short, else none; never another segment
out=$(printf 'PO 4300105 to Acme: 60,000.00 USD' | $A suffix 2 sms)
is "$out" "$(printf 'full 1\nPO 4300105 to Acme: 60,000.00 USD\nReply ACK 2')" "room: the full form"
is "$(python3 -c "print('x' * 150, end='')" | $A suffix 2 sms | sed -n 1p)" "short 1" \
	"150 characters: \"Reply ACK 2\" would be a second segment, \"ACK 2\" is not"
is "$(python3 -c "print('x' * 155, end='')" | $A suffix 12 sms | sed -n 1p)" "none 1" \
	"155 characters: neither fits; nothing appended"
is "$(python3 -c "print('x' * 155, end='')" | $A suffix 12 sms | sed -n 2p | wc -c)" 156 \
	"and the text is as it was"
is "$(python3 -c "print('x' * 290, end='')" | $A suffix 2 sms | sed -n 1p)" "full 2" \
	"290 characters: room left in the second segment (153 + 153)"
is "$(python3 -c "print('é' * 40 + 'ł' * 10, end='')" | $A suffix 2 sms | sed -n 1p)" "full 1" \
	"UCS-2: counted in code units (50 + 12 of 70)"
is "$(python3 -c "print('ł' * 62, end='')" | $A suffix 2 sms | sed -n 1p)" "short 1" "UCS-2: the short form"
is "$(python3 -c "print('x' * 155, end='')" | $A suffix 2 whatsapp | sed -n 1p)" "full 2" \
	"WhatsApp: segments do not count, the full form"

# ---- alert-render: [message] reply_code = yes, the form on the line --------
cat >"$T/pad.rule" <<'EOF2'
[rule]
name = pad
[source]
table = F0411
[recipients]
to = an8:1003
channels = sms
[message]
sms = \(.pad)
reply_code = yes
EOF2
alert_of() {
	head -n 1 "$TOP/tests/fixtures/render-quiet.in.ndjson" |
		jq -c --argjson n "$1" '.rule = "pad" | .alert_id = "pad:k\($n)" | .key = "k\($n)" |
			.record.pad = ("x" * $n) | .channels = ["sms"]'
}
for n in 140 150 155; do alert_of "$n"; done | alert-render -r "$T/pad.rule" >"$T/dl" 2>"$T/err"
is "$?" 0 "alert-render with reply codes: exit 0"
is "$(jq -r '"\(.reply_code) \(.reply_code_shown) \(.segments) \(.body | length)"' "$T/dl" | tr '\n' ,)" \
	"1 full 1 152,2 short 1 156,3 none 1 155," \
	"one person's codes 1, 2, 3 on 140, 150 and 155 characters: full, short, none; one segment each"
sed 's/^reply_code = yes$/reply_code = maybe/' "$T/pad.rule" >"$T/bad.rule"
sed -i 's/^name = pad$/name = bad/' "$T/bad.rule"
alert_of 140 | alert-render -r "$T/bad.rule" >/dev/null 2>"$T/err"
is "$?" 78 "reply_code = maybe: refused (78)"
like "$(cat "$T/err")" 'bad.rule:10: \[message\] reply_code must be yes or no' "and said where"
alert-log <"$T/dl" >/dev/null
like "$(alert-log why pad:k155)" "reply code 3 not printed \(it would have cost another segment\)" \
	"why: a code left out is said beneath the message"

# ---- reply codes: per number, the smallest free ---------------------------
N=2026-11-26T14:00:00.000Z
is "$($A code +15551230001 r:a r a $N)" 1 "the first alert: code 1"
is "$($A code whatsapp:+15551230001 r:b r b $N)" 2 "another alert to the same person (any channel): 2"
is "$($A code +15551230002 r:b r b $N)" 1 "another person: their own 1"
is "$($A code +15551230001 r:a r a 2026-11-26T15:00:00.000Z)" 1 "the same alert again (a re-alert): its code"
$A put SMx r:a r a 2026-11-26T16:00:00.000Z +15551230001 code 1 >/dev/null
is "$($A code +15551230001 r:c r c 2026-11-26T16:00:01.000Z)" 1 "acknowledged, code 1 goes to the next alert"
is "$($A code +15551230001 r:a r a 2026-11-26T16:00:02.000Z)" 3 \
	"and the acknowledged alert, alerting again, gets a code of its own"
is "$($A code +15551230001 r:d r d 2026-12-04T16:00:03.000Z)" 1 "codes older than 7 days are free"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT alert_id FROM reply_code WHERE theirs = '+15551230001' AND code = '1'")" \
	r:d "code 1 names the alert it was printed for last"

done_testing
