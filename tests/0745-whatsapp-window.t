#!/usr/bin/env bash
# WhatsApp's 24-hour window against the simulator: a template (ContentSid,
# ContentVariables, no Body) goes out at any time; a free-form Body to a
# user who has not written within 24 hours is created and then fails with
# 63016, and the trail's why names the fix; POST /_sim/window opens a
# window; an unknown ContentSid is 21655 at create, with its hint.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

HX=HX0123456789abcdef0123456789abcdef
send_setup --latency 0 --callback-delay 20 --content-sid "$HX"

# tpl ID TO [VARS]: a template delivery line.
tpl() {
	jq -cn --arg id "$1" --arg to "$2" --arg sid "${4:-$HX}" --argjson v "${3:-null}" \
		'{delivery_id:("t:"+$id+"/whatsapp/"+$to),alert_id:("t:"+$id),rule:"t",channel:"whatsapp",to:$to,content_sid:$sid} + (if $v == null then {} else {content_variables:$v} end)'
}

# One user wrote 10 minutes ago, one 25 hours ago; the others never did.
printf 'whatsapp:+15553300003 600\n+15553300004 90000\n' |
	curl -sf -X POST --data-binary @- "$SIM/_sim/window" >"$T/win"
is "$(jq -r .windows "$T/win")" 2 "/_sim/window: two windows set (a bare number takes the prefix)"
printf 'whatsapp:+1555 x\n' | curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @- \
	"$SIM/_sim/window" >"$T/code"
is "$(cat "$T/code")" 400 "/_sim/window: a bad line is refused (400)"

# A user who writes to us (an inbound message, /_sim/inbound) opens their
# window as /_sim/window does.
curl -sf -X POST "$SIM/_sim/inbound" --data-urlencode From=whatsapp:+15553300007 \
	--data-urlencode To=whatsapp:+14155238886 --data-urlencode Body=hello >/dev/null
ok "an inbound WhatsApp message from +15553300007"

{
	tpl w1 whatsapp:+15553300001 '{"1":"Acme Corp","2":"123456","3":"25,000.00"}'
	wa w2 whatsapp:+15553300002 "Invoice 123456 from Acme Corp: 25,000.00 open"
	wa w3 whatsapp:+15553300003 "inside the window"
	wa w4 whatsapp:+15553300004 "the window closed an hour ago"
	tpl w5 whatsapp:+15553300005 '{"1":"x"}' HXfedcba9876543210fedcba9876543210
	wa w7 whatsapp:+15553300007 "a reply to the user who wrote"
} >"$T/in"
alert-log --rule t --run-id r1 --before twilio-send <"$T/in" 2>"$T/log1.err" |
	twilio-send 2>"$T/err" | alert-log --rule t --run-id r1 >"$T/sent" 2>"$T/log2.err"
is "$(jq -r '.delivery_id + " " + .status' "$T/sent" | sort | tr '\n' ';')" \
	"t:w1/whatsapp/whatsapp:+15553300001 queued;t:w2/whatsapp/whatsapp:+15553300002 queued;t:w3/whatsapp/whatsapp:+15553300003 queued;t:w4/whatsapp/whatsapp:+15553300004 queued;t:w5/whatsapp/whatsapp:+15553300005 failed;t:w7/whatsapp/whatsapp:+15553300007 queued;" \
	"created: templates and free-form alike (63016 comes later); an unknown ContentSid fails at create"
w5=$(grep '"t:w5/' "$T/sent")
is "$(get "$w5" '.error.code|tostring')" 21655 "unknown ContentSid: 21655"
like "$(get "$w5" .error.hint)" 'whatsapp_template is not a Content SID of this account' \
	"21655: the result's error carries the hint"

# The request: ContentSid and ContentVariables, no Body.
req=$(jq -c 'select(.kind == "request" and .form.To == "whatsapp:+15553300001")' "$LOG")
is "$(get "$req" '[.form.ContentSid, .form.ContentVariables, (.form | has("Body"))] | map(tostring) | join(" ")')" \
	"$HX {\"1\":\"Acme Corp\",\"2\":\"123456\",\"3\":\"25,000.00\"} false" \
	"template request: ContentSid, ContentVariables as a JSON string, no Body"

# Until final: the template and the open window are delivered, the others fail 63016.
twilio-send --poll -i 0.1 -T 30 <"$T/sent" 2>"$T/perr" | alert-log --rule t --run-id r1 >"$T/ev"
is "$?" 0 "poll: exit 0"
final() { jq -r --arg d "$1" 'select(.delivery_id == $d) | .status + " " + (.error_code|tostring)' "$T/ev" | tail -n 1; }
is "$(final t:w1/whatsapp/whatsapp:+15553300001)" "delivered null" "template outside any window: delivered"
is "$(final t:w2/whatsapp/whatsapp:+15553300002)" "failed 63016" "free-form, the user never wrote: failed 63016"
is "$(final t:w3/whatsapp/whatsapp:+15553300003)" "delivered null" "free-form inside the window: delivered"
is "$(final t:w4/whatsapp/whatsapp:+15553300004)" "failed 63016" "free-form 25 hours after the user wrote: failed 63016"
is "$(final t:w7/whatsapp/whatsapp:+15553300007)" "delivered null" "free-form to a user whose inbound message opened the window: delivered"
m2=$(curl -sf "$SIM/_sim/messages" | jq -c 'select(.resource.to == "whatsapp:+15553300002")')
is "$(get "$m2" '.resource.error_message')" \
	"Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template." \
	"the message resource carries Twilio's error message"
m1=$(curl -sf "$SIM/_sim/messages" | jq -c 'select(.resource.to == "whatsapp:+15553300001")')
is "$(get "$m1" '.content_sid + " " + .content_variables')" \
	"$HX {\"1\":\"Acme Corp\",\"2\":\"123456\",\"3\":\"25,000.00\"}" "/_sim/messages shows the template sent"

# The status callback says 63016 too.
CB_PORT_FILE=$T/cb.port
python3 - "$CB_PORT_FILE" "$T/cb.log" <<'PY' 2>/dev/null &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        open(sys.argv[2], "ab").write(self.rfile.read(n) + b"\n")
        self.send_response(200); self.send_header("Content-Type", "text/xml"); self.end_headers()
        self.wfile.write(b"<Response/>")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
own $!
wait_for test -s "$CB_PORT_FILE"
ok "a status callback listener"
CONF_EXTRA="status_callback = http://127.0.0.1:$(cat "$CB_PORT_FILE")/twilio/status" write_conf
wa w6 whatsapp:+15553300006 "no window" | twilio-send >/dev/null 2>&1
wait_for grep -qs 'ErrorCode=63016' "$T/cb.log"
ok "status callback: MessageStatus failed with ErrorCode=63016"
like "$(grep 'ErrorCode=63016' "$T/cb.log")" 'MessageStatus=failed' "the callback's status is failed"

# why names the fix for the 63016 in the trail, and shows the template sent.
alert-log why t:w2 >"$T/why2"
like "$(cat "$T/why2")" 'failed .*error 63016' "why: the 63016"
like "$(cat "$T/why2")" "hint: WhatsApp takes a free-form text only within 24 hours.*whatsapp_template" \
	"why: the 63016 carries the hint naming the fix"
alert-log why t:w1 >"$T/why1"
like "$(cat "$T/why1")" "template: $HX \{\"1\":\"Acme Corp\"" "why: a template delivery shows its sid and variables"
unlike "$(cat "$T/why1")" 'hint:' "why: no hint where nothing failed"

# A 63016 at create (the reference has it afterwards; twilio-send takes
# either): a permanent failure, not retried, with the hint.
fault 'error:count=1,code=63016,to=whatsapp:+15553300021'
wa c1 whatsapp:+15553300021 "refused at create" | twilio-send >"$T/c1" 2>/dev/null
is "$?" 0 "63016 at create: a result, exit 0"
is "$(get "$(cat "$T/c1")" '[.status, (.error.code|tostring), (.error.http_status|tostring), (.attempts|tostring)] | join(" ")')" \
	"failed 63016 400 1" "63016 at create: failed, permanent, one attempt"
like "$(get "$(cat "$T/c1")" .error.hint)" 'within 24 hours.*whatsapp_template' "63016 at create: the hint"

# --reconcile: a template an earlier run sent is found by its To (Twilio's
# body is its rendering, never ours), and not sent again; one never sent is.
CONF_EXTRA="grace = 0.5" write_conf
tpl r1 whatsapp:+15553300011 '{"1":"Acme Corp"}' | twilio-send >/dev/null 2>&1
{
	tpl r1 whatsapp:+15553300011 '{"1":"Acme Corp"}'
	tpl r2 whatsapp:+15553300012 '{"1":"Acme Corp"}'
} | twilio-send --reconcile >"$T/rec" 2>/dev/null
is "$?" 0 "reconcile templates: 0"
rec() { jq -r --arg d "$1" 'select(.delivery_id | startswith($d)) | [.status, (.reconciled // false), .attempts] | map(tostring) | join(" ")' "$T/rec"; }
like "$(rec t:r1/)" '^[a-z]+ true 0$' "reconcile: the template sent before is found, not sent again"
is "$(posts_to whatsapp:+15553300011)" 1 "reconcile: one create for it"
is "$(rec t:r2/)" "queued false 1" "reconcile: the template never sent is sent once"

# valgrind: template sends (good and refused lines), and why with a hint
{
	tpl v1 whatsapp:+15553300031 '{"1":"Acme Corp","2":"x"}'
	tpl v2 whatsapp:+15553300032 '{"1":"Acme","3":"gap"}'
	tpl v3 whatsapp:+15553300033 '{"\u0001é":"x"}'
} >"$T/vin"
vg twilio-send <"$T/vin" >/dev/null 2>&1
isnt "$?" 99 "valgrind: twilio-send with templates"
vg alert-log why t:w2 >/dev/null 2>&1
isnt "$?" 99 "valgrind: why with a hint"
vg alert-log why t:w1 >/dev/null 2>&1
isnt "$?" 99 "valgrind: why with a template"

# twilio-send(1)'s template example, run as written
ex=$(man-examples "$TOP/man/twilio-send.1" 3)
is "$(sh -c "$ex" | jq -r '[.form.To, .form.ContentSid, .form.ContentVariables, (.form | has("Body"))] | map(tostring) | join(" ")')" \
	"whatsapp:+15551234567 $HX {\"1\":\"Acme Corp\",\"2\":\"PO 4711\"} false" \
	"twilio-send.1 EXAMPLES: the template's dry run"

done_testing
