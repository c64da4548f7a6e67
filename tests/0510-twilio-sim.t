#!/usr/bin/env bash
# mlc-twilio-sim: the Twilio Messages and SendGrid mail send simulator, held to
# shared/reference/twilio.md: response shapes, validation codes, auth, the
# status lifecycle, signed status callbacks, faults, rate limit, TLS, the
# request log (never a secret in it) and clean shutdown.
. "$(dirname "$0")/lib.sh"

AC=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
SK=SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
TOKEN=tok-CANARY-5ee1d0c3
SECRET=keysecret-CANARY-91ab
SGKEY=SG.sgkey-CANARY-42
printf '%s\n' "$TOKEN" >"$T/token"
printf '%s\n' "$SECRET" >"$T/apisecret"
printf '%s\n' "$SGKEY" >"$T/sgkey"
# curl reads credentials from config files, not argv.
printf 'user = "%s:%s"\n' "$AC" "$TOKEN" >"$T/auth-ac"
printf 'user = "%s:%s"\n' "$SK" "$SECRET" >"$T/auth-sk"
printf 'user = "%s:wrong-token"\n' "$AC" >"$T/auth-bad"
printf 'header = "Authorization: Bearer %s"\n' "$SGKEY" >"$T/auth-sg"
printf 'header = "Authorization: Bearer SG.not-the-key"\n' >"$T/auth-sg-bad"

sim_start mlc-twilio-sim --account-sid "$AC" --auth-token-file "$T/token" \
	--api-key-sid "$SK" --api-key-secret-file "$T/apisecret" \
	--sendgrid-key-file "$T/sgkey" --callback-delay 50
ok "simulator starts"
BASE=http://127.0.0.1:$MLC_TWILIO_SIM_PORT
MSGS=$BASE/2010-04-01/Accounts/$AC/Messages.json

# send [CURL ARGS...]: POST to Messages.json as the account; body in $T/out,
# headers in $T/hdr, prints the HTTP status.
send() {
	curl -s -K "$T/auth-ac" -o "$T/out" -D "$T/hdr" -w '%{http_code}' "$MSGS" "$@"
}
# err_is WANT_HTTP WANT_CODE DESC [CURL ARGS...]: a Twilio error answer.
err_is() {
	_want_http=$1 _want_code=$2 _desc=$3
	shift 3
	_got=$(send "$@")
	is "$_got $(jq -r '.code' "$T/out")" "$_want_http $_want_code" "$_desc"
}
hdr_of() { tr -d '\r' <"$T/hdr" | sed -n "s/^$1: //Ip" | head -n 1; }
sim() { curl -s "$BASE/_sim/$1" "${@:2}"; }
fault() { curl -s -o /dev/null -w '%{http_code}' --data-binary "$1" "$BASE/_sim/fault"; }

# ---- create: the 201 resource (reference §1.3) ----
code=$(send --data-urlencode To=+15551230001 --data-urlencode From=+15005550006 \
	--data-urlencode 'Body=Invoice 123456 from Acme Corp due 5 days ago - amount 25000')
is "$code" 201 "create: 201 Created"
cp "$T/out" "$T/created.json"
sid=$(jq -r .sid "$T/out")
like "$sid" '^SM[0-9a-f]{32}$' "create: sid is SM + 32 lowercase hex"
is "$(jq -c '[.status, .num_segments, .num_media, .price, .price_unit, .direction, .api_version, .error_code, .error_message, .messaging_service_sid]' "$T/out")" \
	'["queued","1","0",null,"USD","outbound-api","2010-04-01",null,null,null]' \
	"create: status queued, counts as strings, price null, no errors"
is "$(jq -r '.num_segments | type' "$T/out")" string "create: num_segments is a string"
is "$(jq -c '[.account_sid, .to, .from, .body]' "$T/out")" \
	"[\"$AC\",\"+15551230001\",\"+15005550006\",\"Invoice 123456 from Acme Corp due 5 days ago - amount 25000\"]" \
	"create: account, to, from and body echoed"
is "$(jq -r .uri "$T/out")" "/2010-04-01/Accounts/$AC/Messages/$sid.json" "create: uri"
is "$(jq -r .subresource_uris.media "$T/out")" "/2010-04-01/Accounts/$AC/Messages/$sid/Media.json" \
	"create: subresource_uris.media"
rfc2822='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0000$'
like "$(jq -r .date_created "$T/out")" "$rfc2822" "create: date_created is RFC 2822"
like "$(jq -r .date_updated "$T/out")" "$rfc2822" "create: date_updated is RFC 2822"
is "$(jq -r 'keys | join(",")' "$T/out")" \
	'account_sid,api_version,body,date_created,date_sent,date_updated,direction,error_code,error_message,from,messaging_service_sid,num_media,num_segments,price,price_unit,sid,status,subresource_uris,to,uri' \
	"create: exactly the properties of the reference resource"
like "$(hdr_of Content-Type)" '^application/json' "create: JSON content type"

# ---- segments (reference §5.1) ----
seg() {
	send --data-urlencode To=+15551230009 --data-urlencode From=+15005550006 \
		--data-urlencode "Body=$1" >/dev/null
	jq -r .num_segments "$T/out"
}
rep() { printf "%$2s" '' | sed "s/ /$1/g"; }
is "$(seg "$(rep a 160)")" 1 "segments: 160 GSM-7 characters fit in one"
is "$(seg "$(rep a 161)")" 2 "segments: 161 GSM-7 characters take two (153 each)"
is "$(seg "$(rep a 306)")" 2 "segments: 306 GSM-7 characters take two"
is "$(seg "$(rep a 307)")" 3 "segments: 307 take three"
is "$(seg "$(rep '{' 80)")" 1 "segments: 80 extension characters are 160 septets"
is "$(seg "$(rep '{' 81)")" 2 "segments: 81 extension characters are 162 septets"
is "$(seg "ç$(rep a 69)")" 1 "segments: one non-GSM character makes UCS-2, 70 fit"
is "$(seg "ç$(rep a 70)")" 2 "segments: 71 UCS-2 units take two"
is "$(seg "$(rep a 159)€")" 2 "segments: 159 + euro (escape pair) = 161 septets, two segments"
is "$(seg "$(rep a 152)ç")" 3 "segments: 152 GSM-7 + one Unicode character = 3 (Twilio's example)"
is "$(seg "$(rep a 152)€$(rep a 152)")" 3 "segments: an escape pair is never split across segments"

# ---- Messaging Service ----
code=$(send --data-urlencode To=+15551230001 --data-urlencode MessagingServiceSid=MGcccccccccccccccccccccccccccccccc \
	--data-urlencode Body=hi)
is "$code $(jq -c '[.status, .messaging_service_sid, .from]' "$T/out")" \
	'201 ["accepted","MGcccccccccccccccccccccccccccccccc",null]' \
	"Messaging Service: status accepted, sender not chosen yet"
mg_sid=$(jq -r .sid "$T/out")

# ---- validation (reference §1.1, §1.4) ----
F=(--data-urlencode From=+15005550006)
B=(--data-urlencode Body=hi)
err_is 400 21604 "To missing: 21604" "${F[@]}" "${B[@]}"
is "$(jq -r 'keys | join(",")' "$T/out")" 'code,message,more_info,status' \
	"error body: code, message, more_info, status"
is "$(jq -c '[.status, .more_info]' "$T/out")" '[400,"https://www.twilio.com/docs/errors/21604"]' \
	"error body: status and more_info"
err_is 400 21211 "To not E.164: 21211" --data-urlencode To=5551230001 "${F[@]}" "${B[@]}"
err_is 400 21211 "To with 16 digits: 21211" --data-urlencode To=+1234567890123456 "${F[@]}" "${B[@]}"
err_is 400 21603 "neither From nor MessagingServiceSid: 21603" --data-urlencode To=+15551230001 "${B[@]}"
err_is 400 21212 "From invalid: 21212" --data-urlencode To=+15551230001 --data-urlencode From=+0123 "${B[@]}"
err_is 400 21619 "no Body, MediaUrl or ContentSid: 21619" --data-urlencode To=+15551230001 "${F[@]}"
err_is 400 21602 "empty Body: 21602" --data-urlencode To=+15551230001 "${F[@]}" --data-urlencode Body=
err_is 400 21617 "Body over 1600 characters: 21617" --data-urlencode To=+15551230001 "${F[@]}" \
	--data-urlencode "Body=$(rep a 1601)"
code=$(send --data-urlencode To=+15551230001 "${F[@]}" --data-urlencode "Body=$(rep a 1600)")
is "$code $(jq -r .num_segments "$T/out")" "201 11" "Body of exactly 1600 characters: 201, 11 segments"
err_is 400 21617 "1600 characters but 1601 UTF-16 units (an emoji counts two): 21617" \
	--data-urlencode To=+15551230001 "${F[@]}" --data-urlencode "Body=$(rep a 1599)😀"
err_is 400 21211 "From equal to To: 21211" --data-urlencode To=+15551230001 \
	--data-urlencode From=+15551230001 "${B[@]}"
err_is 400 21910 "whatsapp To with an SMS From: 21910" --data-urlencode To=whatsapp:+15551230001 "${F[@]}" "${B[@]}"
code=$(send --data-urlencode To=whatsapp:+15551230001 --data-urlencode From=whatsapp:+15005550006 "${B[@]}")
is "$code $(jq -r .to "$T/out")" "201 whatsapp:+15551230001" "WhatsApp addresses accepted"
# Content templates: 21654, 21656 (reference §8.4); any well-formed HX sid without --content-sid
W=(--data-urlencode To=whatsapp:+15551230001 --data-urlencode From=whatsapp:+15005550006)
HX=HX0123456789abcdef0123456789abcdef
err_is 400 21654 "ContentVariables without ContentSid: 21654" "${W[@]}" "${B[@]}" \
	--data-urlencode 'ContentVariables={"1":"x"}'
err_is 400 21655 "ContentSid not HX and 32 hex: 21655" "${W[@]}" --data-urlencode ContentSid=HX0123
for cv in 'not json' '{"1":""}' '{"1":null}' '{"1":"two\nlines"}' '{"1":"a\tb"}' '{"1":"a     b"}' '["x"]'; do
	err_is 400 21656 "ContentVariables $cv: 21656" "${W[@]}" --data-urlencode "ContentSid=$HX" \
		--data-urlencode "ContentVariables=$cv"
done
code=$(send "${W[@]}" --data-urlencode "ContentSid=$HX" --data-urlencode 'ContentVariables={"1":"a    b"}')
is "$code $(jq -r .status "$T/out")" "201 queued" "a template, four spaces in a row: created"
code=$(send --data-urlencode To=+15551230001 "${F[@]}" --data-urlencode MediaUrl=https://example.com/a.png)
like "$code $(jq -r '.sid + " " + .num_media' "$T/out")" '^201 MM[0-9a-f]{32} 1$' "media only: MM sid, num_media 1"
err_is 400 21609 "StatusCallback host with an underscore: 21609" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}" \
	--data-urlencode StatusCallback=http://bad_host.example/cb
err_is 400 21604 "a JSON body is not read (To missing): 21604" -H 'Content-Type: application/json' \
	--data '{"To":"+15551230001","From":"+15005550006","Body":"hi"}'
for m in "From +15005550001 21212" "From +15005550007 21606" "From +15005550008 21611" \
	"To +15005550001 21211" "To +15005550002 21612" "To +15005550003 21408" \
	"To +15005550004 21610" "To +15005550009 21614"; do
	read -r field num want <<<"$m"
	if [ "$field" = From ]; then
		err_is 400 "$want" "magic From $num: $want" --data-urlencode To=+15551230001 \
			--data-urlencode "From=$num" "${B[@]}"
	else
		err_is 400 "$want" "magic To $num: $want" --data-urlencode "To=$num" "${F[@]}" "${B[@]}"
	fi
done

# ---- authentication ----
code=$(curl -s -K "$T/auth-sk" -o "$T/out" -w '%{http_code}' "$MSGS" \
	--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .account_sid "$T/out")" "201 $AC" "API key SID + secret, Account SID in the URL: 201"
code=$(curl -s -K "$T/auth-bad" -o "$T/out" -D "$T/hdr" -w '%{http_code}' "$MSGS" \
	--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -c . "$T/out")" \
	'401 {"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}' \
	"wrong Auth Token: 401 with the exact 20003 body"
like "$(hdr_of WWW-Authenticate)" '^Basic' "401 carries WWW-Authenticate: Basic"
code=$(curl -s -o "$T/out" -w '%{http_code}' "$MSGS" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "401 20003" "no credentials: 401/20003"
code=$(curl -s -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' \
	"$BASE/2010-04-01/Accounts/ACdddddddddddddddddddddddddddddddd/Messages.json" \
	--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "401 20003" "credentials of one account on another account's URL: 401/20003"
code=$(curl -s -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' \
	"$BASE/2010-04-01/Accounts/AC123/Messages.json" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "404 20404" "malformed Account SID in the path: 404/20404"

# ---- account fetch (ping) ----
code=$(curl -s -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' "$BASE/2010-04-01/Accounts/$AC.json")
is "$code $(jq -c '[.sid, .status, .type, .uri]' "$T/out")" \
	"200 [\"$AC\",\"active\",\"Full\",\"/2010-04-01/Accounts/$AC.json\"]" "account fetch"

# ---- fetch and the status lifecycle ----
fetch() {
	curl -s -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' "$BASE/2010-04-01/Accounts/$AC/Messages/$1.json"
}
# wait_status SID STATUS: poll until the message has STATUS.
has_status() { fetch "$1" >/dev/null && [ "$(jq -r .status "$T/out")" = "$2" ]; }
wait_status() { wait_for has_status "$1" "$2"; }
is "$(fetch "$sid") $(jq -r .sid "$T/out")" "200 $sid" "fetch by sid"
wait_status "$sid" delivered
ok "status moves on to delivered"
is "$(sim messages | jq -r --arg s "$sid" 'select(.resource.sid == $s) | .status_history | join(" ")')" \
	"queued sending sent delivered" "status history: queued sending sent delivered"
wait_status "$mg_sid" delivered
is "$(sim messages | jq -r --arg s "$mg_sid" 'select(.resource.sid == $s) | .status_history | join(" ")')" \
	"accepted queued sending sent delivered" "Messaging Service history starts at accepted"
is "$(jq -r .from "$T/out")" "+15005550006" "Messaging Service: a sender is chosen after accepted"
is "$(fetch SMffffffffffffffffffffffffffffffff) $(jq -r .code "$T/out")" "404 20404" "unknown sid: 404/20404"
is "$(fetch nonsense) $(jq -r .code "$T/out")" "404 20404" "malformed sid: 404/20404"

# ---- scripted outcomes ----
is "$(fault 'outcome:to=+15551230002,status=undelivered,error=30003')" 200 "POST /_sim/fault: outcome"
is "$(fault 'outcome:to=+15551230003,status=failed')" 200 "POST /_sim/fault: failed outcome"
send --data-urlencode To=+15551230002 "${F[@]}" "${B[@]}" >/dev/null
und=$(jq -r .sid "$T/out")
send --data-urlencode To=+15551230003 "${F[@]}" "${B[@]}" >/dev/null
fld=$(jq -r .sid "$T/out")
wait_status "$und" undelivered
ok "scripted undelivered"
is "$(jq -c '[.error_code, (.error_message | type)]' "$T/out")" '[30003,"string"]' \
	"undelivered: error_code 30003 and a message"
wait_status "$fld" failed
ok "scripted failed"
is "$(jq -r .error_code "$T/out")" 30008 "failed: default error 30008"
is "$(sim messages | jq -r --arg s "$fld" 'select(.resource.sid == $s) | .status_history | join(" ")')" \
	"queued failed" "failed: never sent"

# ---- list with filters ----
lst() { curl -s -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' -G "$MSGS" "$@"; }
want=$(sim messages | jq -s '[.[] | select(.resource.to == "+15551230001")] | length')
code=$(lst --data-urlencode To=+15551230001)
is "$code $(jq '.messages | length' "$T/out")" "200 $want" "list filtered by To"
is "$(jq -r '[.messages[].to] | unique | join(",")' "$T/out")" "+15551230001" "list: only that To"
is "$(jq -c '[.page, .page_size, .start, .previous_page_uri, .next_page_uri]' "$T/out")" \
	"[0,50,0,null,null]" "list: page fields"
is "$(jq -r 'keys | join(",")' "$T/out")" 'end,first_page_uri,messages,next_page_uri,page,page_size,previous_page_uri,start,uri' \
	"list: the ListMessageResponse properties"
lst --data-urlencode To=+15551230001 --data-urlencode PageSize=1 >/dev/null
is "$(jq -c '[(.messages | length), .end, (.next_page_uri | test("Page=1"))]' "$T/out")" "[1,0,true]" \
	"list: PageSize=1 gives a next page"
lst --data-urlencode To=+15551230002 --data-urlencode "DateSent>=$(date -u +%F)" >/dev/null
is "$(jq '.messages | length' "$T/out")" 1 "list: DateSent> today"
lst --data-urlencode To=+15551230002 --data-urlencode "DateSent<=2000-01-01" >/dev/null
is "$(jq '.messages | length' "$T/out")" 0 "list: DateSent< 2000-01-01 is empty"
lst --data-urlencode To=+15551230002 --data-urlencode "DateSent=$(date -u +%F)" >/dev/null
is "$(jq '.messages | length' "$T/out")" 1 "list: DateSent= today"
is "$(lst --data-urlencode DateSent=yesterday) $(jq -r .code "$T/out")" "400 20001" "list: bad DateSent: 400"

# ---- status callbacks, signed ----
http-sink --port 0 --port-file "$T/sink.port" --request-log "$T/sink.log" 2>>"$T/sink.err" &
own "$!"
wait_for test -s "$T/sink.port"
# sink_has N: the sink has logged N requests
sink_has() { [ "$(grep -c . "$T/sink.log" 2>/dev/null)" -ge "$1" ]; }
cb="http://127.0.0.1:$(cat "$T/sink.port")/twilio/status?rule=ap-aging"
send --data-urlencode To=+15551230004 "${F[@]}" --data-urlencode 'Body=callback test' \
	--data-urlencode "StatusCallback=$cb" >/dev/null
cbsid=$(jq -r .sid "$T/out")
wait_for sink_has 3
is "$(jq -r '.body' "$T/sink.log" | sed 's/.*MessageStatus=\([a-z]*\).*/\1/' | tr '\n' ' ')" \
	"sending sent delivered " "callbacks: sending, sent, delivered (none for queued)"
is "$(jq -r '[.method, .path, .query.rule, .headers["Content-Type"], .headers["User-Agent"]] | join(" ")' "$T/sink.log" | head -n 1)" \
	"POST /twilio/status ap-aging application/x-www-form-urlencoded TwilioProxy/1.1" \
	"callback: form POST to the exact URL"
last=$(tail -n 1 "$T/sink.log" | jq -r .body)
printf '%s' "$last" | twsig-check form >"$T/cbform"
is "$(jq -r 'map(.[0]) | sort | join(",")' "$T/cbform")" \
	"AccountSid,ApiVersion,From,MessageSid,MessageStatus,RawDlrDoneDate,SmsSid,SmsStatus,To" \
	"delivered callback: the documented parameters, RawDlrDoneDate, no ErrorCode"
is "$(jq -r 'map(select(.[0] == "MessageSid" or .[0] == "SmsSid") | .[1]) | unique | join(",")' "$T/cbform")" \
	"$cbsid" "callback: MessageSid = SmsSid = the message"
like "$(jq -r 'map(select(.[0] == "RawDlrDoneDate"))[0][1]' "$T/cbform")" '^[0-9]{10}$' \
	"callback: RawDlrDoneDate is YYMMDDhhmm"
n=0 good=0
while IFS= read -r line; do
	n=$((n + 1))
	sig=$(printf '%s' "$line" | jq -r '.headers["X-Twilio-Signature"]')
	printf '%s' "$line" | jq -j .body | twsig-check validate "$T/token" "$cb" "$sig" >/dev/null &&
		good=$((good + 1))
done <"$T/sink.log"
is "$good/$n" "3/3" "every callback's X-Twilio-Signature validates with the Auth Token"
printf '%s' "$last" | twsig-check validate "$T/token" "${cb}x" \
	"$(tail -n 1 "$T/sink.log" | jq -r '.headers["X-Twilio-Signature"]')" >/dev/null
is "$?" 1 "callback signature does not validate for another URL"
printf 'other-token\n' >"$T/othertoken"
printf '%s' "$last" | twsig-check validate "$T/othertoken" "$cb" \
	"$(tail -n 1 "$T/sink.log" | jq -r '.headers["X-Twilio-Signature"]')" >/dev/null
is "$?" 1 "callback signature does not validate with another token"
like "$(tail -n 1 "$T/sink.log" | jq -r '.headers["I-Twilio-Idempotency-Token"]')" '^[0-9a-f]{32}$' \
	"callback: I-Twilio-Idempotency-Token"
# An undelivered callback carries ErrorCode.
: >"$T/sink.log"
fault 'outcome:to=+15551230005,status=undelivered,error=30005' >/dev/null
send --data-urlencode To=+15551230005 "${F[@]}" "${B[@]}" --data-urlencode "StatusCallback=$cb" >/dev/null
wait_for sink_has 3
tail -n 1 "$T/sink.log" | jq -j .body | twsig-check form >"$T/cbform"
is "$(jq -r 'map(select(.[0] == "MessageStatus" or .[0] == "ErrorCode") | .[1]) | join(" ")' "$T/cbform")" \
	"undelivered 30005" "undelivered callback: ErrorCode 30005"
is "$(grep -c '"kind":"callback"' "$MLC_TWILIO_SIM_LOG")" 6 "request log records the 6 callbacks sent"

# ---- SendGrid mail send (reference §4.2) ----
mail() { curl -s -K "$1" -o "$T/out" -D "$T/hdr" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary "$2" "$BASE/v3/mail/send"; }
good_mail='{"personalizations":[{"to":[{"email":"ap@example.com","name":"AP"}],"custom_args":{"k":"v"}}],"from":{"email":"alerts@example.com","name":"Alerts"},"subject":"AP aging","content":[{"type":"text/plain","value":"Invoice 123456"},{"type":"text/html","value":"<p>Invoice 123456</p>"}],"categories":["alerts"],"custom_args":{"job":"123"}}'
code=$(mail "$T/auth-sg" "$good_mail")
is "$code $(wc -c <"$T/out")" "202 0" "mail send: 202 with an empty body"
mid=$(hdr_of X-Message-Id)
like "$mid" '^[A-Za-z0-9_-]{22}$' "mail send: X-Message-Id"
is "$(sim messages | jq -r 'select(.kind == "mail") | .x_message_id + " " + .mail.subject')" "$mid AP aging" \
	"mail send: recorded in /_sim/messages"
code=$(mail "$T/auth-sg-bad" "$good_mail")
is "$code $(jq -c . "$T/out")" \
	'401 {"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}' \
	"mail send: wrong key: 401"
code=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$good_mail" "$BASE/v3/mail/send")
is "$code" 401 "mail send: no key: 401"
# GET /v3/scopes (SendGrid API reference, API Key Permissions): the key's own
# scopes; a wrong key gets SendGrid's 401 errors body.
code=$(curl -s -K "$T/auth-sg" -o "$T/out" -w '%{http_code}' "$BASE/v3/scopes")
is "$code $(jq -c . "$T/out")" '200 {"scopes":["mail.send"]}' "scopes: the right key: 200, its scopes"
code=$(curl -s -K "$T/auth-sg-bad" -o "$T/out" -w '%{http_code}' "$BASE/v3/scopes")
is "$code $(jq -c '[.errors[0].field, (.errors[0].message | type)]' "$T/out")" '401 [null,"string"]' \
	"scopes: a wrong key: 401 with an errors body"
code=$(curl -s -o "$T/out" -w '%{http_code}' "$BASE/v3/scopes")
is "$code" 401 "scopes: no key: 401"
code=$(curl -s -K "$T/auth-sg" -o "$T/out" -w '%{http_code}' -X POST "$BASE/v3/scopes")
is "$code" 404 "scopes: read only (POST: 404)"
sgfield() { mail "$T/auth-sg" "$1" >/dev/null; jq -r '[.errors[].field] | join(",")' "$T/out"; }
is "$(sgfield '{"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}')" \
	personalizations "mail send: personalizations required"
is "$(sgfield '{"personalizations":[{"to":[{"email":"not-an-address"}]}],"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}')" \
	personalizations.0.to.0.email "mail send: invalid recipient address"
is "$(sgfield '{"personalizations":[{"to":[]}],"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}')" \
	personalizations.0.to "mail send: empty to[]"
is "$(sgfield '{"personalizations":[{"to":[{"email":"b@example.com"}]}],"subject":"s","content":[{"type":"text/plain","value":"x"}]}')" \
	from "mail send: from required"
is "$(sgfield '{"personalizations":[{"to":[{"email":"b@example.com"}]}],"from":{"email":"a@example.com"},"content":[{"type":"text/plain","value":"x"}]}')" \
	subject "mail send: subject required"
is "$(sgfield '{"personalizations":[{"to":[{"email":"b@example.com"}]}],"from":{"email":"a@example.com"},"subject":"s","content":[]}')" \
	content "mail send: content required"
is "$(sgfield '{"personalizations":[{"to":[{"email":"b@example.com"}]}],"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/html","value":"<p>x</p>"},{"type":"text/plain","value":"x"}]}')" \
	content "mail send: text/html before text/plain refused"
is "$(jq -r '.errors[0].message' "$T/out")" "text/plain must be first, followed by text/html" \
	"mail send: content order message"
is "$(sgfield '{"personalizations":[{"to":[{"email":"b@example.com"}]}],"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"custom_args":"job=1"}')" \
	custom_args "mail send: custom_args must be an object"
is "$(jq -r '.errors[0].message' "$T/out")" "Invalid type. Expected: object, given: string." \
	"mail send: custom_args message"
is "$(sgfield '{"personalizations":[],"subject":"","content":[]}')" "personalizations,from,subject,content" \
	"mail send: every error reported at once"
is "$(jq -r '.errors[0] | keys | join(",")' "$T/out")" "field,help,message" "mail send: error objects"
code=$(mail "$T/auth-sg" '{not json')
is "$code" 400 "mail send: unparseable JSON: 400"
code=$(mail "$T/auth-sg" "$(printf '%s' "$good_mail" | jq -c '.mail_settings = {sandbox_mode: {enable: true}}')")
is "$code" 200 "mail send: sandbox mode: 200, not sent"

# ---- faults ----
is "$(fault '429:count=1,retry-after=2')" 200 "fault 429 added"
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out") $(hdr_of Retry-After)" "429 20429 2" "429: code 20429, Retry-After: 2"
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code" 201 "429 count=1: the next request succeeds"
fault '429:count=1' >/dev/null
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code:$(hdr_of Retry-After)" "429:" "429 without retry-after: no Retry-After header"
fault '5xx:code=503,count=1' >/dev/null
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "503 20503" "5xx code=503: 20503"
fault '5xx:code=500,count=1' >/dev/null
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "500 20500" "5xx code=500: 20500"
fault 'error:code=21610,count=1' >/dev/null
err_is 400 21610 "error:code=21610 on demand" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}"
fault 'error:code=20003,count=1' >/dev/null
err_is 401 20003 "error:code=20003 on demand" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}"
fault 'error:code=21211,count=1,to=+15551230007' >/dev/null
err_is 201 null "error scoped with to=: another recipient is not affected" --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}"
err_is 400 21211 "error scoped with to=: that recipient is" --data-urlencode To=+15551230007 "${F[@]}" "${B[@]}"
fault 'slow:ms=400,count=1' >/dev/null
t0=$(date +%s%N)
send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}" >/dev/null
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 400 ]
ok "slow:ms=400 delays the answer ($(((t1 - t0) / 1000000)) ms)"
count_to() { sim messages | jq -s --arg t "$1" '[.[] | select(.resource.to == $t)] | length'; }
fault 'drop-before:count=1' >/dev/null
before=$(count_to +15551230008)
curl -s -K "$T/auth-ac" -o /dev/null "$MSGS" --data-urlencode To=+15551230008 "${F[@]}" "${B[@]}"
is "$?" 52 "drop-before: the connection closes with no answer (curl 52)"
is "$(count_to +15551230008)" "$before" "drop-before: nothing created"
fault 'drop-after-receipt:count=1' >/dev/null
curl -s -K "$T/auth-ac" -o /dev/null "$MSGS" --data-urlencode To=+15551230008 "${F[@]}" "${B[@]}"
is "$?" 52 "drop-after-receipt: no answer (curl 52)"
is "$(count_to +15551230008)" "$((before + 1))" "drop-after-receipt: the message exists anyway"
lst --data-urlencode To=+15551230008 >/dev/null
is "$(jq '.messages | length' "$T/out")" 1 "drop-after-receipt: and the Messages list shows it"
is "$(jq -r '[.[] | select(.dropped)] | length' <(jq -s . "$MLC_TWILIO_SIM_LOG"))" 2 \
	"request log marks the two dropped requests"
fault '429:count=1,retry-after=3,path=/v3/mail/send' >/dev/null
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code" 201 "a fault scoped to /v3/mail/send leaves Twilio alone"
code=$(mail "$T/auth-sg" "$good_mail")
is "$code $(jq -c . "$T/out")" '429 {"errors":[{"field":null,"message":"too many requests"}]}' \
	"SendGrid 429 body"
like "$(hdr_of X-RateLimit-Reset)" '^[0-9]{10}$' "SendGrid 429: X-RateLimit-Reset"
is "$(hdr_of Retry-After)" 3 "SendGrid 429: Retry-After when asked for"
fault '5xx:code=503,count=1,path=/v3/mail/send' >/dev/null
code=$(mail "$T/auth-sg" "$good_mail")
is "$code $(jq -r '.errors | length' "$T/out")" "503 1" "SendGrid 503 with an errors[] body"
fault 'error:code=21211,count=1,skip=1' >/dev/null
code=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
code2=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $code2" "201 400" "skip=1 lets the first request through"
# two requests on one keep-alive connection (curl --next reuses it)
two() {
	curl -s -K "$T/auth-ac" -o /dev/null -w '%{http_code} ' "$MSGS" "$@" \
		--next -K "$T/auth-ac" -o /dev/null -w '%{http_code}' "$MSGS" "$@"
}
fault 'error:code=21211,count=1,nth=2' >/dev/null
is "$(two --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")" "201 400" \
	"nth=2: the second request of a connection only"
is "$(tail -n 2 "$MLC_TWILIO_SIM_LOG" | jq -r '"\(.conn_req)"' | tr '\n' ' ')" "1 2 " \
	"request log: conn_req counts the requests of a connection"
is "$(tail -n 2 "$MLC_TWILIO_SIM_LOG" | jq -r .conn | sort -u | grep -c .)" 1 \
	"request log: both on one conn"
fault '5xx:code=503,count=1,reused' >/dev/null
is "$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}") $(two --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")" \
	"201 201 503" "reused: not a connection's first request"
is "$(fault 'drop-before:nth=0')" 400 "nth=0 is refused (400)"
is "$(fault 'bogus:count=1')" 400 "an unknown fault kind is refused (400)"
is "$(fault '429:count=x')" 400 "a bad count is refused (400)"
is "$(sim faults | jq '[.faults[] | select(.left != 0 and (.spec | startswith("outcome") | not))] | length')" 0 \
	"GET /_sim/faults: every counted fault used up"

# ---- rate limit ----
fault 'rate:5' >/dev/null
codes=""
t0=$(date +%s%N)
for _i in $(seq 15); do
	c=$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
	codes="$codes $c"
	[ "$c" = 429 ] && cp "$T/out" "$T/r429"
done
ms=$((($(date +%s%N) - t0) / 1000000))
n201=$(tr ' ' '\n' <<<"$codes" | grep -c 201)
n429=$(tr ' ' '\n' <<<"$codes" | grep -c 429)
# A bucket of 5 refilled at 5 a second: the 5 of the burst, plus what came
# back while the 15 requests went one after another (more on a busy machine).
most=$((5 + (ms * 5 + 999) / 1000))
[ "$n201" -ge 5 ] && [ "$n201" -le "$most" ] && [ "$n429" -ge 1 ] && [ $((n201 + n429)) = 15 ]
ok "rate:5: a burst of 15 in $ms ms gets 5-$most accepted, the rest 429 ($n201 / $n429)"
is "$(jq -r .code "$T/r429")" 20429 "rate limit answer: 20429"
fault 'rate:0' >/dev/null
is "$(send --data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")" 201 "rate:0 lifts the limit"

# ---- the request log ----
log=$MLC_TWILIO_SIM_LOG
jq -e . "$log" >/dev/null
ok "request log: every line is JSON"
! grep -q -e "$TOKEN" -e "$SECRET" -e "$SGKEY" -e 'CANARY' "$log"
ok "request log: no Auth Token, API key secret or SendGrid key"
! grep -q CANARY "$T/mlc-twilio-sim.stderr"
ok "stderr: no secret either"
is "$(jq -r 'select(.kind == "request" and .user != null) | .user' "$log" | sort -u | tr '\n' ' ')" \
	"$AC $SK " "request log: Basic usernames only"
is "$(jq -r "select(.sid == \"$sid\") | .form.Body" "$log")" \
	"Invoice 123456 from Acme Corp due 5 days ago - amount 25000" "request log: form fields with the Body"
is "$(jq -r 'select(.path == "/v3/mail/send" and .status == 202) | .json.subject' "$log" | head -n 1)" \
	"AP aging" "request log: SendGrid JSON body"
is "$(jq -r 'select(.path == "/v3/mail/send" and .status == 202) | .auth' "$log" | head -n 1)" \
	"bearer" "request log: SendGrid auth scheme only"
is "$(jq -r 'select(.status == 429) | .fault' "$log" | sort -u | tr '\n' ' ')" \
	"429:count=1 429:count=1,retry-after=2 429:count=1,retry-after=3,path=/v3/mail/send rate " \
	"request log names the fault behind each 429"

# ---- reset ----
sim reset -X POST >/dev/null
is "$(sim messages | wc -l)" 0 "POST /_sim/reset forgets messages and mail"
is "$(sim faults | jq -c .faults)" "[]" "POST /_sim/reset clears faults"

# ---- the clock a test sets (a test's ML_CONNECTOR_NOW moved) ----
is "$(sim clock -X POST --data-binary 2031-05-06T07:08:09Z)" '{"ok":true,"now":"2031-05-06T07:08:09.000Z"}' \
	"POST /_sim/clock sets the simulator's clock"
send --data-urlencode To=+15551239999 --data-urlencode From=+15005550006 --data-urlencode Body=clock >/dev/null
is "$(jq -r .date_created "$T/out")" "Tue, 06 May 2031 07:08:09 +0000" "a message created then is dated then"
lst --data-urlencode To=+15551239999 --data-urlencode "DateSent>=2031-05-06" >/dev/null
is "$(jq '.messages | length' "$T/out")" 1 "the DateSent filters count from it"
is "$(curl -s -o /dev/null -w '%{http_code}' --data-binary tomorrow "$BASE/_sim/clock")" 400 "a bad time: 400"

# ---- TLS, command-line faults, latency and concurrency, clean exit ----
if [ -x "$TOP/tests/tls/mkcerts.sh" ] || [ -f "$TOP/tests/tls/mkcerts.sh" ]; then
	sh "$TOP/tests/tls/mkcerts.sh" "$T/pki" >/dev/null 2>&1
else
	false
fi
ok "test PKI made"
"$BIN/mlc-twilio-sim" --port 0 --port-file "$T/tls.port" --request-log "$T/tls.log" \
	--auth-token-file "$T/token" --account-sid "$AC" --latency 300 \
	--tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server-key.pem" \
	--fault 'error:code=21610,count=1' 2>"$T/tls.err" &
tls_pid=$!
wait_for test -s "$T/tls.port"
TLS=https://127.0.0.1:$(cat "$T/tls.port")/2010-04-01/Accounts/$AC/Messages.json
code=$(curl -s --cacert "$T/pki/ca.pem" -K "$T/auth-ac" -o "$T/out" -w '%{http_code}' "$TLS" \
	--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}")
is "$code $(jq -r .code "$T/out")" "400 21610" "https with the test CA; --fault from the command line applies"
curl -s --cacert "$T/pki/other-ca.pem" -K "$T/auth-ac" -o /dev/null "$TLS" \
	--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}"
is "$?" 60 "https with another CA: certificate refused (curl 60)"
# Each of the ten answers takes 3 s more (a slow fault on top of the
# latency); served one after another they would take 33 s, past each
# client's 20 s limit, so ten 201s prove they were served at once.
curl -s --cacert "$T/pki/ca.pem" -o /dev/null --data-binary 'slow:ms=3000,count=10' \
	"https://127.0.0.1:$(cat "$T/tls.port")/_sim/fault"
t0=$(date +%s%N)
par=""
for _i in $(seq 10); do
	curl -s -m 20 --cacert "$T/pki/ca.pem" -K "$T/auth-ac" -o "$T/par.$_i" -w '%{http_code}\n' "$TLS" \
		--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}" >"$T/par.code.$_i" &
	par="$par $!"
done
# shellcheck disable=SC2086 # one pid a word
wait $par
t1=$(date +%s%N)
is "$(cat "$T"/par.code.* | sort | uniq -c | tr -s ' ')" " 10 201" \
	"10 concurrent requests all 201 (not served one after another)"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 3300 ]
ok "--latency 300 plus slow 3000: the answers are delayed ($ms ms)"
kill -TERM "$tls_pid"
wait "$tls_pid"
is "$?" 0 "SIGTERM: clean exit 0"

# ---- options ----
"$BIN/mlc-twilio-sim" --port 0 2>/dev/null
is "$?" 64 "no --auth-token-file: usage error 64"
"$BIN/mlc-twilio-sim" --auth-token-file "$T/token" --fault 'nope' 2>"$T/err"
is "$?" 64 "bad --fault: usage error 64"
like "$(cat "$T/err")" 'unknown kind' "bad --fault: says why"
"$BIN/mlc-twilio-sim" --auth-token-file "$T/missing" 2>/dev/null
is "$?" 66 "missing token file: 66"
"$BIN/mlc-twilio-sim" --auth-token-file "$T/token" --sendgrid-scopes 'mail send' 2>/dev/null
is "$?" 64 "--sendgrid-scopes: a bad name: 64"
like "$("$BIN/mlc-twilio-sim" --version)" '^mlc-twilio-sim \(ml-connector\) ' "--version"

# ---- valgrind: a short session, then SIGTERM ----
if [ "${MLC_SANITIZED:-0}" != 1 ] && command -v valgrind >/dev/null 2>&1; then
	rm -f "$T/vg.port"
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$BIN/mlc-twilio-sim" --port 0 --port-file "$T/vg.port" \
		--auth-token-file "$T/token" --account-sid "$AC" --sendgrid-key-file "$T/sgkey" \
		--callback-delay 20 --fault 'drop-after-receipt:count=1' 2>"$T/vg.err" &
	vg_pid=$!
	wait_for test -s "$T/vg.port"
	VB=http://127.0.0.1:$(cat "$T/vg.port")
	curl -s -K "$T/auth-ac" -o /dev/null "$VB/2010-04-01/Accounts/$AC/Messages.json" \
		--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}" \
		--data-urlencode "StatusCallback=$cb"
	for _i in 1 2 3; do
		curl -s -K "$T/auth-ac" -o /dev/null "$VB/2010-04-01/Accounts/$AC/Messages.json" \
			--data-urlencode To=+15551230001 "${F[@]}" "${B[@]}" --data-urlencode "StatusCallback=$cb"
	done
	curl -s -K "$T/auth-sg" -o /dev/null -H 'Content-Type: application/json' --data-binary "$good_mail" "$VB/v3/mail/send"
	curl -s -K "$T/auth-sg" -o /dev/null -H 'Content-Type: application/json' --data-binary '{"x":1}' "$VB/v3/mail/send"
	curl -s -K "$T/auth-ac" -o /dev/null "$VB/2010-04-01/Accounts/$AC/Messages.json?To=%2B15551230001"
	curl -s -o /dev/null --data-binary 'slow:ms=1' "$VB/_sim/fault"
	curl -s -o /dev/null "$VB/_sim/messages"
	sleep 1
	kill -TERM "$vg_pid"
	wait "$vg_pid"
	vg_rc=$?
	is "$vg_rc" 0 "valgrind: no leaks or errors through create, callbacks, mail, list, faults"
	[ "$vg_rc" != 0 ] && sed 's/^/#   /' "$T/vg.err" | head -n 40
else
	skip "valgrind not available or sanitized build"
fi

done_testing
