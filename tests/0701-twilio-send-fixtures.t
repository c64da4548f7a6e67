#!/usr/bin/env bash
# twilio-send --dry-run on fixtures: every tests/fixtures/send-NAME.in.ndjson
# is run through `twilio-send -n -c CONF` (CONF: send-NAME.conf if there is
# one, else send-dry.conf) in tests/fixtures, and its standard output, error
# and status compared with send-NAME.exp.ndjson, .exp.err (if present) and
# .exp.rc (default 0).  A dry run opens no vault and no state, so the
# requests printed are decided by the line and the configuration alone.
# MLC_FIXTURE_UPDATE=1 rewrites the .exp files from what the program printed
# (check the diff before committing it).
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures
n=0
for in in "$F"/send-*.in.ndjson; do
	name=$(basename "$in" .in.ndjson)
	conf=send-dry.conf
	[ -f "$F/$name.conf" ] && conf=$name.conf
	(cd "$F" && twilio-send -n -c "$conf" <"$name.in.ndjson" >"$T/$name.out" 2>"$T/$name.err")
	rc=$?
	if [ "${MLC_FIXTURE_UPDATE:-0}" = 1 ]; then
		cp "$T/$name.out" "$F/$name.exp.ndjson"
		rm -f "$F/$name.exp.err" "$F/$name.exp.rc"
		[ -s "$T/$name.err" ] && cp "$T/$name.err" "$F/$name.exp.err"
		[ "$rc" != 0 ] && echo "$rc" >"$F/$name.exp.rc"
	fi
	diff_ok "$T/$name.out" "$F/$name.exp.ndjson" "$name: stdout"
	if [ -f "$F/$name.exp.err" ]; then
		diff_ok "$T/$name.err" "$F/$name.exp.err" "$name: stderr"
	else
		is "$(cat "$T/$name.err")" "" "$name: nothing on stderr"
	fi
	want=0
	[ -f "$F/$name.exp.rc" ] && want=$(cat "$F/$name.exp.rc")
	is "$rc" "$want" "$name: exit status"
	n=$((n + 1))
done
[ "$n" -ge 7 ]
ok "$n fixtures run"

# What the fixtures show, said once more so a regenerated .exp cannot quietly
# lose it.
is "$(jq -r '.line' "$F/send-sms.exp.ndjson" | tr '\n' ' ')" "1 2 4 " \
	"sms: a line that is not a delivery (suppressed) makes no request"
is "$(jq -r '.form.To + " " + .form.From' "$F/send-whatsapp.exp.ndjson" | tr '\n' ';')" \
	"whatsapp:+13125550147 whatsapp:+14155238886;whatsapp:+4930555010 whatsapp:+14155238886;" \
	"whatsapp: To and From carry the whatsapp: prefix, added when missing"
is "$(jq -r '[.form.ContentSid, (.form.ContentVariables // "-"), (.form | has("Body"))] | join(" ")' \
	"$F/send-whatsapp-template.exp.ndjson" | tr '\n' ';')" \
	'HX0123456789abcdef0123456789abcdef {"1":"Acme Corp","2":"Invoice 123456 & “rush”","3":"25,000.00"} false;HXfedcba9876543210fedcba9876543210 - false;' \
	"whatsapp template: ContentSid, ContentVariables as one JSON string in number order, no Body"
is "$(grep -o 'field "[a-z_.0-9]*"' "$F/send-whatsapp-template.exp.err" | tr '\n' ' ')" \
	'field "content_sid" field "content_variables" field "body" field "content_sid" field "content_variables.2" field "content_variables" field "content_variables.1" field "content_variables.1" ' \
	"whatsapp template: each bad template line names its field (variable)"
is "$(jq -r '.auth + " " + (.json.content | map(.type) | join(","))' "$F/send-email.exp.ndjson" | tr '\n' ';')" \
	"Bearer REDACTED text/plain,text/html;Bearer REDACTED text/plain;" \
	"email: SendGrid JSON, html only when given, the key redacted"
is "$(jq -r '.form.To' "$F/send-addresses.exp.ndjson" | tr '\n' ' ')" \
	"+15005550004 +15005550001 +13125550147 " \
	"addresses: opted-out and unassigned numbers are E.164 (Twilio refuses them), the others never leave"
is "$(cut -d: -f2 "$F/send-errors.exp.err" | tr -d ' ' | tr '\n' ' ')" \
	"line1 line2 line3 line4 line5 line6 line7 line8 line9 line10 line11 line12 line14 " \
	"errors: every bad line is named, each once"
is "$(grep -c 'field "' "$F/send-errors.exp.err")" 10 "errors: and its field, where it has one"
is "$(grep -c 'is not set' "$F/send-no-sender.exp.err")" 3 "no sender: each missing setting named once"
cat "$F"/send-*.exp.ndjson | grep -c 'REDACTED' >"$T/nred"
is "$(cat "$T/nred")" "$(cat "$F"/send-*.exp.ndjson | grep -c .)" "every request printed has its credentials redacted"

done_testing
