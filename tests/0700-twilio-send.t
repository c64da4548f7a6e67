#!/usr/bin/env bash
# twilio-send: SMS, WhatsApp and e-mail against the simulator; input
# validation; pass-through; dry run; configuration errors; splicing.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

twilio-send --help >"$T/out"
is "$?" 0 "--help exits 0"
like "$(head -n 1 "$T/out")" "^usage: twilio-send" "--help prints usage"
twilio-send --version >"$T/out"
like "$(cat "$T/out")" "^twilio-send \(ml-connector\) [0-9]" "--version"
twilio-send -Z </dev/null 2>/dev/null
is "$?" 64 "unknown option: 64"
twilio-send -R zero </dev/null 2>/dev/null
is "$?" 64 "bad -R value: 64"

send_setup --latency 0

# ---- success: SMS, WhatsApp, e-mail; pass-through ----
{
	sms ok1 +15551110001 "Invoice 123456 from Acme Corp due 5 days ago - amount 25000"
	wa ok2 whatsapp:+15551110002 "PO 4711 over 50,000: approve?"
	mail ok3 ap@example.com "AP aging: 3 invoices" "plain text first" "<p>html second</p>"
	echo '{"suppressed":true,"alert_id":"t:s","reason":"re-alert window"}'
	echo '{"delivery_id":"t:n/sms/+15551110009","channel":"sms","to":"+15551110009","body":"big number","amount":12345678901234567890,"x":1.0}'
} >"$T/in"
twilio-send <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "three channels: exit 0"
is "$(wc -l <"$T/out" | tr -d ' ')" 5 "one line out per line in"
s=$(grep '"t:ok1/' "$T/out")
is "$(get "$s" .status)" queued "sms: status queued"
like "$(get "$s" .sid)" '^SM[0-9a-f]{32}$' "sms: sid"
is "$(get "$s" .attempts)" 1 "sms: attempts 1"
like "$(get "$s" .sent_at)" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T' "sms: sent_at"
like "$s" "^$(head -n 1 "$T/in" | sed 's/}$//; s/[][\\.*^$|+?(){}]/\\&/g'),\"status\"" \
	"sms: the delivery's own bytes come first, unchanged"
w=$(grep '"t:ok2/' "$T/out")
is "$(get "$w" .status)" queued "whatsapp: queued"
# The exact requests of each channel (the whatsapp: prefixes, Basic auth
# with the Account SID, SendGrid's JSON and Bearer key): tests/sim/
# twilio-create-sms.scn, twilio-create-whatsapp.scn, sendgrid-send.scn.
m=$(grep '"t:ok3/' "$T/out")
is "$(get "$m" .status)" accepted "email: status accepted (202)"
like "$(get "$m" .message_id)" '^.{10,}$' "email: X-Message-Id kept as message_id"
is "$(grep -c '"suppressed":true' "$T/out")" 1 "non-delivery line passed through"
is "$(grep '"suppressed"' "$T/out")" '{"suppressed":true,"alert_id":"t:s","reason":"re-alert window"}' \
	"pass-through is byte for byte"
like "$(grep '"t:n/' "$T/out")" '"amount":12345678901234567890,"x":1.0,"status":"queued"' \
	"numbers are not re-encoded (no jq 1.6 doubles)"
is "$(jq -c 'select(.method == "POST" and (.path | endswith("Messages.json")))' "$LOG" | wc -l | tr -d ' ')" 3 \
	"three create requests"

# ---- input validation ----
long=$(head -c 1601 /dev/zero | tr '\0' a)
emoji800=$(for _ in $(seq 800); do printf '\xf0\x9f\x98\x80'; done)
{
	sms v1 +15551120001 "fine"
	echo '{"delivery_id":"t:v2/sms/x","channel":"sms","body":"no to"}'
	echo '{"delivery_id":"t:v3/sms/+15551120003","channel":"sms","to":"+15551120003"}'
	sms v4 5551234567 "national number"
	sms v5 +15551120005 "$long"
	sms v6 +15551120006 "${emoji800}"
	sms v7 +15551120007 "${emoji800}x"
	mail v8 a@example.com "" "text"
	echo '{"delivery_id":"t:v9/x","channel":"fax","to":"+15551120009","body":"b"}'
	echo 'not json'
	wa v11 +15551120011 "plain E.164 for whatsapp is accepted"
	sms v12 whatsapp:+15551120012 "whatsapp address on sms"
} >"$T/in"
twilio-send <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 65 "bad lines: exit 65"
is "$(jq -r 'select(.error.code == "invalid_delivery") | .delivery_id' "$T/out" | sort | tr '\n' ' ')" \
	"t:v12/sms/whatsapp:+15551120012 t:v2/sms/x t:v3/sms/+15551120003 t:v4/sms/5551234567 t:v5/sms/+15551120005 t:v7/sms/+15551120007 t:v8/email/a@example.com t:v9/x " \
	"each bad delivery gets a failed result"
grep -q 'line 2: field "to": missing' "$T/err"
ok "stderr: missing to, with line and field"
grep -q 'line 3: field "body": missing' "$T/err"
ok "stderr: missing body"
grep -q 'line 4: field "to": not an E.164 number' "$T/err"
ok "stderr: not E.164"
grep -q 'line 5: field "body": 1601 characters' "$T/err"
ok "stderr: body over 1600"
grep -q 'line 7: field "body": 1601 characters' "$T/err"
ok "1600 UTF-16 units of emoji pass, one more does not"
grep -q 'line 8: field "subject": missing' "$T/err"
ok "stderr: email without subject"
grep -q 'line 10: not JSON: ' "$T/err"
ok "stderr: a line that is not JSON"
is "$(get "$(grep '"t:v4/' "$T/out")" .error.message)" 'line 4: field "to": not an E.164 number' \
	"error.message names line and field"
is "$(get "$(grep '"t:v4/' "$T/out")" .attempts)" 0 "invalid: attempts 0"
is "$(get "$(grep '"t:v6/' "$T/out")" .status)" queued "1600 emoji units sent"
is "$(get "$(grep '"t:v11/' "$T/out")" .status)" queued "whatsapp with plain E.164 sent"
is "$(jq -r 'select(.form.To == "whatsapp:+15551120011") | .form.To' "$LOG")" whatsapp:+15551120011 \
	"plain E.164 gets the whatsapp: prefix"
is "$(posts_to +15551120003)$(posts_to 5551234567)$(posts_to +15551120005)" 000 \
	"nothing sent for invalid deliveries"

# ---- dry run ----
n0=$(wc -l <"$LOG")
sms d1 +15551130001 "dry" | twilio-send -n >"$T/out" 2>"$T/err"
is "$?" 0 "dry run: exit 0"
is "$(wc -l <"$LOG")" "$n0" "dry run: no request reached the simulator"
is "$(get "$(cat "$T/out")" '.form.Body + "|" + .form.To + "|" + .method')" "dry|+15551130001|POST" \
	"dry run: form fields and method"
is "$(get "$(cat "$T/out")" .auth)" "Basic $AC:REDACTED" "dry run: credentials redacted"
like "$(get "$(cat "$T/out")" .url)" "/2010-04-01/Accounts/$AC/Messages.json$" "dry run: URL"
# -nv: the SYNOPSIS' [-nv], the two flags in one word (getopt's bundling)
sms d3 +15551130003 "dry nv" | twilio-send -nv >"$T/out" 2>"$T/err"
is "$?" 0 "dry run -nv: exit 0"
is "$(wc -l <"$LOG")" "$n0" "dry run -nv: no request reached the simulator"
is "$(get "$(cat "$T/out")" '.form.Body + "|" + .form.To')" "dry nv|+15551130003" "dry run -nv: the request"
mail d2 b@example.com "S" "T" | twilio-send --dry-run >"$T/out"
is "$(get "$(cat "$T/out")" '.json.subject + .auth')" "SBearer REDACTED" "dry run: email JSON, bearer redacted"

# the man page's dry-run example runs as written
ex=$(man-examples "$TOP/man/twilio-send.1" 2)
is "$(sh -c "$ex" | jq -r '.form.To + " " + .form.Body')" "+15551234567 PO 4711" "twilio-send.1 EXAMPLES: dry run"

# ---- StatusCallback and ValidityPeriod ----
CONF_EXTRA=$'status_callback = https://alerts.example.com/twilio/status\nvalidity_period = 600' write_conf
sms cb1 +15551140001 "with callback" | twilio-send >/dev/null
r=$(jq -c 'select(.form.To == "+15551140001")' "$LOG")
is "$(get "$r" '.form.StatusCallback + " " + .form.ValidityPeriod')" \
	"https://alerts.example.com/twilio/status 600" "StatusCallback and ValidityPeriod sent"
CONF_EXTRA=$'messaging_service_sid = MG0123456789abcdef0123456789abcdef' write_conf
sms ms1 +15551140002 "with service" | twilio-send >"$T/out"
r=$(jq -c 'select(.form.To == "+15551140002")' "$LOG")
is "$(get "$r" .form.MessagingServiceSid)" MG0123456789abcdef0123456789abcdef "MessagingServiceSid sent"
is "$(get "$(cat "$T/out")" .status)" accepted "with a Messaging Service the status is accepted"
write_conf

# ---- configuration errors ----
sed 's/^account_sid.*//' "$ML_CONNECTOR_CONF" >"$T/c1"
sms c1 +15551150001 "x" | twilio-send -c "$T/c1" >"$T/out" 2>"$T/err"
is "$?" 78 "no account_sid: 78"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "no account_sid: nothing output (not sent)"
sed "s|^base_url = http://127.0.0.1|base_url = http://192.0.2.1|" "$ML_CONNECTOR_CONF" >"$T/c2"
sms c2 +15551150002 "x" | twilio-send -c "$T/c2" >/dev/null 2>"$T/err"
is "$?" 78 "http base_url off loopback: 78"
like "$(cat "$T/err")" "plain http is refused" "http refused: message"
printf '[twilio]\nfrobnicate = 1\n' >"$T/c3"
twilio-send -c "$T/c3" </dev/null 2>"$T/err"
is "$?" 78 "unknown [twilio] key: 78"
sed 's/^validity_period.*//; s/^rate = .*/rate = 0/' "$ML_CONNECTOR_CONF" >"$T/c4"
twilio-send -c "$T/c4" </dev/null 2>/dev/null
is "$?" 78 "rate 0: 78"
printf '{"delivery_id":"t:x/sms/+15551150003","channel":"sms","to":"+15551150003","body":"trunc"}' |
	twilio-send >"$T/out" 2>"$T/err"
is "$?" 65 "unterminated last line: 65"
like "$(cat "$T/err")" "truncated input" "unterminated last line: reported"
is "$(posts_to +15551150003)" 0 "unterminated last line: not sent"

# ---- TLS: a certificate from a CA the system does not trust is refused ----
# Twilio's certificates chain to public CAs, so [twilio] has no CA bundle:
# a server signed by the test CA must be refused, never sent to.
if sh "$TOP/tests/tls/mkcerts.sh" "$T/tls" >/dev/null 2>&1; then
	plain=$MLC_TWILIO_SIM_PORT
	sim_start mlc-twilio-sim --account-sid "$AC" --auth-token-file "$T/token" \
		--tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server-key.pem" || exit 1
	sed "s|^base_url = http://127.0.0.1:$plain|base_url = https://localhost:$MLC_TWILIO_SIM_PORT|" \
		"$ML_CONNECTOR_CONF" >"$T/ctls"
	grep -q "^base_url = https://localhost:$MLC_TWILIO_SIM_PORT" "$T/ctls"
	ok "a configuration pointing at the TLS simulator"
	sms tls1 +15551155001 "over tls" | twilio-send -c "$T/ctls" >"$T/out" 2>"$T/err"
	is "$?" 78 "https to a server of an unknown CA: 78"
	like "$(cat "$T/err")" "TLS" "TLS refusal: says so"
	is "$(curl -sfk "https://localhost:$MLC_TWILIO_SIM_PORT/_sim/messages" | grep -c .)" 0 \
		"TLS refusal: nothing reached the server"
	MLC_TWILIO_SIM_PORT=$plain
else
	skip "openssl could not make the test certificates"
fi

# ---- write error ----
{ sms we1 +15551160001 "epipe"; } >"$T/in"
twilio-send <"$T/in" >/dev/full 2>"$T/err"
is "$?" 74 "write error on stdout (ENOSPC): 74"
like "$(cat "$T/err")" "write error" "write error: reported"

# ---- valgrind: one send ----
{ sms vg1 +15551170001 "under valgrind"; mail vg2 vg@example.com "S" "T" "<b>h</b>"; sms vg3 123 "bad"; } >"$T/in"
vg twilio-send <"$T/in" >"$T/out" 2>"$T/err"
rc=$?
isnt "$rc" 99 "valgrind: no memory errors or leaks"
is "$rc" 65 "valgrind run: exit 65 (one bad line)"

done_testing
