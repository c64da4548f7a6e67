#!/usr/bin/env bash
# twilio-status: the status callback receiver as CGI and as an inetd /
# socket-activated program: signatures checked against the configured URL,
# redeliveries recorded once, strict request limits.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

URL='https://alerts.example.com/ml/status?site=hq'
DB=$ML_CONNECTOR_STATE/state.db
SID1=SM00000000000000000000000000000001
SID2=SM00000000000000000000000000000002
SID3=SM00000000000000000000000000000003
(umask 077 && printf '%s\n' "$TOKEN" >"$T/token")
cat >"$ML_CONNECTOR_CONF" <<EOC
[twilio]
account_sid = $AC
status_callback = $URL
EOC
mlc-vault init >/dev/null 2>&1
printf '%s\n' "$TOKEN" | mlc-vault set twilio.auth_token
sqlite3 "$DB" "INSERT INTO audit (ts, stage, rule, alert_id, delivery_id, recipient, channel, sid, status)
	VALUES ('2026-01-01T00:00:00.000Z', 'sent', 'ap-aging', 'ap-aging:1', 'ap-aging:1/sms/+15554000001',
	'+15554000001', 'sms', '$SID1', 'queued')"

# form SID STATUS [ERRORCODE]: a callback body; pairs SID STATUS [ERRORCODE]: the same as NAME=VALUE args
form() {
	printf 'MessageSid=%s&SmsSid=%s&MessageStatus=%s&SmsStatus=%s&AccountSid=%s&From=%%2B15005550006&To=%%2B15554000001&ApiVersion=2010-04-01' \
		"$1" "$1" "$2" "$2" "${ACCT:-$AC}"
	[ -n "${3:-}" ] && printf '&ErrorCode=%s' "$3"
}
pairs() {
	printf '%s\n' "MessageSid=$1" "SmsSid=$1" "MessageStatus=$2" "SmsStatus=$2" "AccountSid=${ACCT:-$AC}" \
		"From=+15005550006" "To=+15554000001" "ApiVersion=2010-04-01"
	[ -n "${3:-}" ] && printf '%s\n' "ErrorCode=$3"
}
# sign URL SID STATUS [ERRORCODE]
sign() {
	_u=$1
	shift
	mapfile -t _p < <(pairs "$@")
	twsig-check sign "$T/token" "$_u" "${_p[@]}"
}
# cgi BODY SIGNATURE [CONTENT_TYPE [QUERY]]: run as CGI, stdout in $T/out, status $rc
cgi() {
	REQUEST_METHOD=${METHOD:-POST} CONTENT_TYPE=${3:-application/x-www-form-urlencoded} \
		CONTENT_LENGTH=${#1} HTTP_X_TWILIO_SIGNATURE=$2 QUERY_STRING=${4:-site=hq} \
		SCRIPT_NAME=/ml/status HTTP_HOST=internal:8080 GATEWAY_INTERFACE=CGI/1.1 \
		${VG:-} twilio-status <<<"$1" >"$T/out" 2>>"$T/err"
	rc=$?
}
rows() { sqlite3 "$DB" "SELECT count(*) FROM message_status WHERE sid = '$1'"; }

# ---- CGI: a valid callback is recorded ----
body=$(form $SID1 delivered)
cgi "$body" "$(sign "$URL" $SID1 delivered)"
is "$rc" 0 "cgi valid: exit 0"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 204 No Content" "cgi valid: 204"
is "$(sqlite3 "$DB" "SELECT sid || ' ' || status || ' ' || ifnull(error_code, '-') || ' ' || source FROM message_status")" \
	"$SID1 delivered - callback" "cgi valid: message_status row"
is "$(sqlite3 "$DB" "SELECT stage || ' ' || delivery_id || ' ' || rule || ' ' || sid FROM audit WHERE detail = 'status callback'")" \
	"delivered ap-aging:1/sms/+15554000001 ap-aging $SID1" "cgi valid: audit row with the delivery's ids"
like "$(sqlite3 "$DB" "SELECT line FROM audit WHERE detail = 'status callback'")" \
	'^\{"event":"status","sid":"SM0+1","delivery_id":"ap-aging:1/sms/\+15554000001","status":"delivered","error_code":null' \
	"cgi valid: audit line is a status event"

# ---- redelivery: recorded once ----
cgi "$body" "$(sign "$URL" $SID1 delivered)"
is "$rc" 0 "duplicate: exit 0"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 204 No Content" "duplicate: 204"
is "$(rows $SID1)" 1 "duplicate: one message_status row"
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE detail = 'status callback'")" 1 "duplicate: one audit row"

# ---- error code; port variant accepted like Twilio's validators ----
cgi "$(form $SID2 undelivered 30003)" "$(sign 'https://alerts.example.com:443/ml/status?site=hq' $SID2 undelivered 30003)"
is "$rc" 0 "undelivered (signed with :443): exit 0"
is "$(sqlite3 "$DB" "SELECT status || ' ' || error_code FROM message_status WHERE sid = '$SID2'")" "undelivered 30003" \
	"undelivered: error code recorded"
is "$(sqlite3 "$DB" "SELECT stage || ' ' || status || ' ' || error_code FROM audit WHERE sid = '$SID2'")" \
	"stray undelivered 30003" "undelivered, a SID never sent: audit stage stray, the status and error code"

# ---- a SID the trail does not know: recorded as a stray, counted by status ----
like "$(cat "$T/err")" "$SID2 \\(undelivered\\), a SID the trail does not know: recorded as a stray" \
	"stray: said on stderr"
is "$(alert-log status -f ndjson | jq -r 'select(.rule == "-") | .stray')" 1 "stray: status counts it (rule -)"
is "$(alert-log status -f ndjson | jq -r 'select(.rule == "ap-aging") | .stray')" 0 "stray: not a rule's"
is "$(alert-log status | status_cell - STRAY)" 1 "stray: the STRAY column of status text"

# ---- a validly signed callback for another account: refused ----
SIDX=SM000000000000000000000000000000a1
OTHER=AC99999999999999999999999999999999
ACCT=$OTHER cgi "$(ACCT=$OTHER form $SIDX delivered)" "$(ACCT=$OTHER sign "$URL" $SIDX delivered)"
is "$rc/$(head -n 1 "$T/out" | tr -d '\r')" "77/Status: 403 Forbidden" "AccountSid of another account: 403, 77"
is "$(rows $SIDX)" 0 "another account: nothing recorded"
like "$(cat "$T/err")" "for account $OTHER, not ours" "another account: named"

# ---- two signatures: 400, whichever is valid ----
SIDD=SM000000000000000000000000000000d1
good=$(sign "$URL" $SIDD delivered)
cgi "$(form $SIDD delivered)" "bm90IGEgc2lnbmF0dXJl, $good"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 400 Bad Request" "cgi: two X-Twilio-Signature (joined by the server): 400"
is "$(rows $SIDD)" 0 "cgi two signatures: nothing recorded"

# ---- refused: tampered body, wrong URL, no signature ----
sig=$(sign "$URL" $SID3 failed 30008)
cgi "$(form $SID3 delivered 30008)" "$sig"
is "$rc" 77 "tampered body: exit 77"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" "tampered body: 403"
cgi "$(form $SID3 failed 30008)" "$(sign 'https://alerts.example.com/ml/other?site=hq' $SID3 failed 30008)"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" "signed for another URL: 403"
cgi "$(form $SID3 failed 30008)" "$(sign 'https://internal:8080/ml/status?site=hq' $SID3 failed 30008)"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" "signed for the Host header's URL: 403"
cgi "$(form $SID3 failed 30008)" ""
is "$rc" 77 "no signature: exit 77"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" "no signature: 403"
is "$(rows $SID3)" 0 "refused requests: nothing recorded"
like "$(cat "$T/err")" "does not match https://alerts.example.com/ml/status" "refusal names the configured URL"

# ---- JSON body with bodySHA256 ----
json="{\"MessageSid\":\"$SID3\",\"MessageStatus\":\"read\"}"
h=$(printf '%s' "$json" | sha256sum | cut -d' ' -f1)
cgi "$json" "$(twsig-check sign "$T/token" "$URL&bodySHA256=$h")" application/json "site=hq&bodySHA256=$h"
is "$rc" 0 "json bodySHA256: exit 0"
is "$(sqlite3 "$DB" "SELECT status FROM message_status WHERE sid = '$SID3'")" read "json bodySHA256: recorded"
cgi "${json/read/failed}" "$(twsig-check sign "$T/token" "$URL&bodySHA256=$h")" application/json "site=hq&bodySHA256=$h"
is "$rc" 77 "json body changed after hashing: refused"

# ---- CGI limits and methods ----
METHOD=GET cgi "" "x"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 405 Method Not Allowed" "GET: 405"
big=$(head -c 70000 /dev/zero | tr '\0' a)
cgi "$big" "x"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 413 Content Too Large" "body over 64 KiB: 413"

# ---- inetd mode ----
# req BODY SIG [EXTRA HEADER LINES]: one HTTP/1.1 request
req() {
	printf 'POST /ml/status?site=hq HTTP/1.1\r\nHost: proxy.internal:8080\r\nContent-Type: application/x-www-form-urlencoded\r\n'
	[ -n "$2" ] && printf 'X-Twilio-Signature: %s\r\n' "$2"
	printf '%s' "${3:-}"
	printf 'Content-Length: %s\r\n\r\n%s' "${#1}" "$1"
}
SID4=SM00000000000000000000000000000004
req "$(form $SID4 sent)" "$(sign "$URL" $SID4 sent)" | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$?" 0 "inetd valid: exit 0"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 204 No Content" "inetd valid: 204 (Host header ignored)"
is "$(rows $SID4)" 1 "inetd valid: recorded"
req "$(form $SID4 delivered)" "$(sign "$URL" $SID4 sent)" | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 403 Forbidden" "inetd tampered: 403"
is "$(rows $SID4)" 1 "inetd tampered: nothing more recorded"
SIDD2=SM000000000000000000000000000000d2
req "$(form $SIDD2 sent)" "bm90IGEgc2lnbmF0dXJl" "X-Twilio-Signature: $(sign "$URL" $SIDD2 sent)"$'\r\n' |
	twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 400 Bad Request" "inetd: two X-Twilio-Signature headers, the last valid: 400"
is "$(rows $SIDD2)" 0 "inetd two signatures: nothing recorded"
like "$(cat "$T/err")" "more than one X-Twilio-Signature" "two signatures: said"
req "$(form $SID4 delivered)" "" | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 403 Forbidden" "inetd no signature: 403"
req "$big" "x" | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 413 Content Too Large" "inetd body over 64 KiB: 413"
req "x" "x" "X-Pad: $(head -c 9000 /dev/zero | tr '\0' a)"$'\r\n' | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 431 Request Header Fields Too Large" "inetd headers over 8 KiB: 431"
# The client sends 3 of its 10 bytes and then nothing until the receiver
# has answered (the writer outlives it), however late the receiver reads.
mkfifo "$T/slowc"
{ printf 'POST /ml/status HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'; exec sleep 300; } >"$T/slowc" &
slowc=$!
twilio-status --inetd -t 0.5 <"$T/slowc" >"$T/out" 2>>"$T/err"
kill "$slowc"
wait "$slowc" 2>/dev/null
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 408 Request Timeout" "inetd slow client: 408 after the read timeout"
printf 'POST /ml/status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 501 Not Implemented" "inetd chunked: 501"
printf 'POST /ml/status HTTP/1.1\r\nX-Twilio-Signature: x\r\n\r\n' | twilio-status --inetd >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 411 Length Required" "inetd without Content-Length: 411"

# the man page's by-hand example runs as written
SID6=SM00000000000000000000000000000006
ex=$(man-examples "$TOP/man/twilio-status.8" 6)
(cd "$T" && body=$(form $SID6 delivered) sig=$(sign "$URL" $SID6 delivered) bash -c "$ex") >"$T/out" 2>>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 204 No Content" "twilio-status.8 EXAMPLES: by hand"
is "$(rows $SID6)" 1 "twilio-status.8 EXAMPLES: recorded"

# ---- configuration ----
printf '[twilio]\naccount_sid = %s\n' "$AC" >"$T/noconf"
cgi "$(form $SID4 sent)" "$(sign "$URL" $SID4 sent)"
ML_CONNECTOR_CONF=$T/noconf cgi "$(form $SID4 sent)" "$(sign "$URL" $SID4 sent)"
is "$rc" 78 "no status_callback: 78"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 500 Internal Server Error" "no status_callback: 500"

# ---- end to end: the simulator's signed callbacks, socket-activated receiver ----
cp "$ML_CONNECTOR_CONF" "$T/conf.orig"
if command -v systemd-socket-activate >/dev/null 2>&1; then
	sim_start mlc-twilio-sim --account-sid "$AC" --auth-token-file "$T/token" --callback-delay 100 || exit 1
	SIM=http://127.0.0.1:$MLC_TWILIO_SIM_PORT
	for _ in 1 2 3 4 5; do
		CBP=$((20000 + RANDOM % 30000))
		systemd-socket-activate -l "127.0.0.1:$CBP" -a --inetd -E ML_CONNECTOR_CONF \
			-E ML_CONNECTOR_STATE "$BIN/twilio-status" --inetd 2>"$T/ssa.err" &
		ssa=$!
		# it says so once it listens, and dies if the port is taken
		ssa_up() { grep -q 'Listening on' "$T/ssa.err" || ! kill -0 "$ssa" 2>/dev/null; }
		wait_for ssa_up
		kill -0 "$ssa" 2>/dev/null && break
	done
	own "$ssa"
	CONF_EXTRA="status_callback = http://127.0.0.1:$CBP/ml/status" write_conf
	sms e2e +15554100001 "end to end" | alert-log -s sent | twilio-send | alert-log -s sent >"$T/res"
	sid=$(jq -r .sid "$T/res")
	delivered() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM message_status WHERE sid = '$sid' AND status = 'delivered'")" = 1 ]; }
	wait_for delivered
	is "$(sqlite3 "$DB" "SELECT group_concat(status, ' ') FROM (SELECT status FROM message_status WHERE sid = '$sid' AND source = 'callback' ORDER BY ts)")" \
		"sending sent delivered" "end to end: every callback recorded"
	is "$(jq -r 'select(.kind == "callback") | .http_status' "$MLC_TWILIO_SIM_LOG" | sort -u)" 204 \
		"end to end: the receiver answered 204 to each"
	is "$(sqlite3 "$DB" "SELECT DISTINCT delivery_id FROM audit WHERE sid = '$sid' AND detail = 'status callback'")" \
		"t:e2e/sms/+15554100001" "end to end: callback audit rows carry the delivery id"
else
	skip "systemd-socket-activate not installed"
	skip "systemd-socket-activate not installed"
	skip "systemd-socket-activate not installed"
fi
cp "$T/conf.orig" "$ML_CONNECTOR_CONF"

# ---- options: an argument attached (-dDIR, -cFILE, -tSEC) as getopt reads it ----
SID7=SM00000000000000000000000000000007
cp -R "$ML_CONNECTOR_STATE" "$T/other"
conf=$ML_CONNECTOR_CONF
req "$(form $SID7 delivered)" "$(sign "$URL" $SID7 delivered)" |
	ML_CONNECTOR_STATE=$T/nowhere ML_CONNECTOR_CONF=$T/nowhere.conf \
	twilio-status -d"$T/other" -c"$conf" -t5 --inetd >"$T/out" 2>>"$T/err"
is "$?" 0 "-dDIR -cFILE -tSEC: exit 0"
is "$(head -n 1 "$T/out" | tr -d '\r')" "HTTP/1.1 204 No Content" "-dDIR -cFILE -tSEC: 204"
is "$(sqlite3 "$T/other/state.db" "SELECT count(*) FROM message_status WHERE sid = '$SID7'")" 1 \
	"-dDIR: recorded in that state directory"
is "$(rows $SID7)" 0 "-dDIR: not in the environment's"
twilio-status --inetd extra </dev/null >/dev/null 2>&1
is "$?" 64 "an argument: 64"

# ---- valgrind, and the token never printed ----
SID5=SM00000000000000000000000000000005
VG=vg cgi "$(form $SID5 delivered)" "$(sign "$URL" $SID5 delivered)"
isnt "$rc" 99 "valgrind: cgi request clean"
is "$(rows $SID5)" 1 "valgrind run recorded"
req "$(form $SID5 read)" "$(sign "$URL" $SID5 read)" | vg twilio-status --inetd >"$T/out" 2>>"$T/err"
isnt "$?" 99 "valgrind: inetd request clean"
! grep -a -q -F "$TOKEN" "$T/out" "$T/err"
ok "the Auth Token is never printed"
! grep -a -q -F "$TOKEN" "$DB"
ok "the Auth Token is not in the database in plaintext"

done_testing
