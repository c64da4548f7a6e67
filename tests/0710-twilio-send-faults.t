#!/usr/bin/env bash
# twilio-send against every simulator fault: 429 with and without
# Retry-After, 500/503, slow answers past the timeout, drop-after-receipt
# (created, no answer: reconciled, never sent twice), drop-before (not
# created: sent once more), permanent errors, wrong credentials, SendGrid
# faults, exhausted retries.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

send_setup --latency 0
export ML_CONNECTOR_RETRY_SEED=42

# one NUMBER BODY [OPTIONS...]: send one SMS, result in $out, status in $rc, seconds in $secs
one() {
	_to=$1 _body=$2
	shift 2
	_t0=$(date +%s.%N)
	out=$(sms "f$_to" "$_to" "$_body" | twilio-send "$@" 2>"$T/err")
	rc=$?
	secs=$(echo "$(date +%s.%N) - $_t0" | bc)
}

# ---- 429 with Retry-After: retried after the wait, attempts counted ----
fault "429:to=+15552000001,count=2,retry-after=1"
one +15552000001 "429 with retry-after"
is "$rc" 0 "429 x2 with Retry-After: exit 0"
is "$(get "$out" .status)" queued "429 with Retry-After: finally queued"
is "$(get "$out" .attempts)" 3 "429 with Retry-After: 3 attempts"
is "$(posts_to +15552000001)" 3 "429 with Retry-After: 3 requests"
like "$secs" '^[2-9]' "Retry-After honoured: at least 2 s"

# ---- 429 without Retry-After: exponential backoff with jitter ----
fault "429:to=+15552000002,count=2"
one +15552000002 "429 without retry-after"
is "$(get "$out" '.status + " " + (.attempts|tostring)')" "queued 3" "429 without Retry-After: queued after 3 attempts"
is "$(posts_to +15552000002)" 3 "429 without Retry-After: 3 requests"

# ---- 503: retried ----
fault "5xx:to=+15552000003,count=1,code=503"
one +15552000003 "503 once"
is "$(get "$out" '.status + " " + (.attempts|tostring)')" "queued 2" "503: retried, queued after 2 attempts"

# ---- 503 for ever: retries exhausted -> failed, retryable, 69 ----
fault "5xx:to=+15552000004,count=10,code=503"
one +15552000004 "503 for ever" -a 3
is "$rc" 69 "503 past the attempts: 69"
is "$(get "$out" '.status + " " + (.attempts|tostring) + " " + (.retryable|tostring)')" "failed 3 true" \
	"503 past the attempts: failed, 3 attempts, retryable"
is "$(get "$out" .error.http_status)" 503 "503 past the attempts: http_status"

# ---- 500 on create: outcome unknown -> lookup (not created) -> sent once more ----
fault "5xx:to=+15552000005,count=1,code=500"
one +15552000005 "500 once" -g 1
is "$rc" 0 "500: exit 0 after reconciliation"
is "$(get "$out" '.status + " " + (.attempts|tostring)')" "queued 2" "500: not created, so sent again: 2 attempts"
is "$(messages +15552000005 "500 once")" 1 "500: exactly one message exists"
is "$(jq -c 'select(.method == "GET" and .query.To == "+15552000005")' "$LOG" | wc -l | tr -d ' ' | sed 's/^[1-9][0-9]*$/some/')" some \
	"500: looked up before sending again"
like "$(cat "$T/err")" "not created by the uncertain attempt" "500: the re-send is explained on stderr"

# ---- drop-after-receipt: created, no answer -> reconciled, never sent twice ----
fault "drop-after-receipt:to=+15552000006,count=1"
one +15552000006 "dropped after receipt" -g 2
is "$rc" 0 "drop-after-receipt: exit 0"
like "$(get "$out" '.status + " " + (.attempts|tostring) + " " + (.reconciled|tostring)')" \
	"^(queued|sending|sent|delivered) 1 true$" "drop-after-receipt: reconciled (status as found), 1 attempt"
like "$(get "$out" .sid)" '^SM[0-9a-f]{32}$' "drop-after-receipt: the sid was found"
is "$(messages +15552000006 "dropped after receipt")" 1 "drop-after-receipt: exactly one message"
is "$(posts_to +15552000006)" 1 "drop-after-receipt: one create request"
q=$(jq -c 'select(.method == "GET" and .query.To == "+15552000006")' "$LOG" | head -n 1)
is "$(get "$q" '.query.From + " " + .query.PageSize')" "+15005550006 50" "lookup: From and PageSize"
like "$(get "$q" '.query["DateSent>"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' "lookup: DateSent> is the UTC day"

# ---- drop-before: not created, no answer -> not found after the grace -> sent once ----
fault "drop-before:to=+15552000007,count=1"
one +15552000007 "dropped before" -g 1
is "$rc" 0 "drop-before: exit 0"
is "$(get "$out" '.status + " " + (.attempts|tostring) + " " + (.reconciled|tostring)')" "queued 2 null" \
	"drop-before: sent once more, 2 attempts"
is "$(messages +15552000007 "dropped before")" 1 "drop-before: exactly one message"
like "$secs" '^[1-9]' "drop-before: waited the grace period first"

# ---- slow answer past the timeout: unknown -> reconciled when it appears ----
fault "slow:to=+15552000008,count=1,ms=2000"
one +15552000008 "slow answer" -t 1 -g 4
is "$rc" 0 "slow: exit 0"
like "$(get "$out" '.status + " " + (.attempts|tostring) + " " + (.reconciled|tostring)')" \
	"^(queued|sending|sent|delivered) 1 true$" "slow: reconciled, not sent twice"
is "$(messages +15552000008 "slow answer")" 1 "slow: exactly one message"

# ---- a lookup that cannot be made: stays unknown, 75 ----
fault "drop-after-receipt:to=+15552000009,count=1" "5xx:path=/Messages.json,method=GET,count=1000,code=503"
one +15552000009 "unknown for good" -g 1
is "$rc" 75 "lookups failing: 75"
is "$(get "$out" '.status + " " + .error.code')" "unknown outcome_unknown" "lookups failing: status unknown"
is "$(messages +15552000009 "unknown for good")" 1 "lookups failing: not re-sent"

# ---- permanent errors: failed at once, never retried ----
fault "error:to=+15552000010,code=21211"
one +15552000010 "invalid number"
is "$rc" 0 "21211: exit 0 (a result, not an error)"
is "$(get "$out" '.status + " " + (.error.code|tostring) + " " + (.error.http_status|tostring) + " " + (.attempts|tostring)')" \
	"failed 21211 400 1" "21211: failed, code, 400, 1 attempt"
like "$(get "$out" .error.message)" "not a valid phone number" "21211: Twilio's message"
is "$(posts_to +15552000010)" 1 "21211: exactly one request"
fault "error:to=+15552000011,code=21610"
one +15552000011 "opted out"
is "$(get "$out" '.error.code|tostring')" 21610 "21610: failed with its code"
is "$(posts_to +15552000011)" 1 "21610: never retried"

# ---- wrong credentials: 77 at once, one request, unsent lines not output ----
printf '%s\n' "wrong-$TOKEN" | mlc-vault set twilio.auth_token
{ sms w1 +15552000012 "a"; sms w2 +15552000013 "b"; sms w3 +15552000014 "c"; } >"$T/in"
twilio-send -P 1 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 77 "20003: exit 77"
is "$(jq -c 'select(.status == 401)' "$LOG" | wc -l | tr -d ' ')" 1 "20003: one request, no retry loop"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "20003: unsent deliveries are not output"
like "$(cat "$T/err")" "refused the credentials.*twilio.auth_token" "20003: says which secret"
printf '%s\n' "$TOKEN" | mlc-vault set twilio.auth_token

# ---- SendGrid: 401, 429 with X-RateLimit-Reset, unknown, 400 ----
printf '%s\n' "wrong-$SGKEY" | mlc-vault set sendgrid.api_key
mail sg1 sg1@example.com "S" "T" | twilio-send >"$T/out" 2>"$T/err"
is "$?" 77 "SendGrid 401: 77"
is "$(mails_to sg1@example.com)" 1 "SendGrid 401: one request"
printf '%s\n' "$SGKEY" | mlc-vault set sendgrid.api_key
fault "429:path=/v3/mail/send,to=sg2@example.com,count=1,retry-after=1"
out=$(mail sg2 sg2@example.com "S" "T" | twilio-send 2>"$T/err")
is "$(get "$out" '.status + " " + (.attempts|tostring)')" "accepted 2" "SendGrid 429: retried after X-RateLimit-Reset"
fault "drop-after-receipt:path=/v3/mail/send,to=sg3@example.com,count=1"
out=$(mail sg3 sg3@example.com "S" "T" | twilio-send 2>"$T/err")
is "$?" 75 "SendGrid no answer: 75"
is "$(get "$out" .status)" unknown "SendGrid no answer: unknown (no lookup API)"
is "$(mails_to sg3@example.com)" 1 "SendGrid no answer: not re-sent"
fault "error:path=/v3/mail/send,to=sg4@example.com,code=403"
out=$(mail sg4 sg4@example.com "S" "T" | twilio-send 2>"$T/err")
is "$(get "$out" '.status + " " + (.error.code|tostring)')" "failed 403" "SendGrid 403: failed, not auth"
like "$(get "$out" .error.message)" "Sender Identity" "SendGrid 403: its message"

# ---- exit status precedence: unknown (75) over bad input (65) ----
fault "drop-after-receipt:path=/v3/mail/send,to=sg5@example.com,count=1"
{ mail sg5 sg5@example.com "S" "T"; sms bad 12 "x"; } | twilio-send >/dev/null 2>&1
is "$?" 75 "75 outranks 65"

# ---- SIGTERM: the request in flight finishes, the rest is not sent, 75 ----
fault "slow:to=+15552000030,count=1,ms=1500"
{ sms t1 +15552000030 "in flight at SIGTERM"; sms t2 +15552000031 "waiting"; sms t3 +15552000032 "waiting"; } >"$T/in"
# The trace shows when the first request has gone out; at 0.05 a second
# the next one would start 20 s later, so a slow machine cannot start it.
ML_CONNECTOR_TRACE=1 twilio-send -R 0.05 <"$T/in" >"$T/out" 2>"$T/err" &
pid=$!
request_out() { grep -q '> POST ' "$T/err"; }
wait_for request_out
ok "SIGTERM: the first request is in flight"
kill -TERM "$pid"
wait "$pid"
is "$?" 75 "SIGTERM: 75"
is "$(jq -r '.delivery_id + " " + .status' "$T/out")" "t:t1/sms/+15552000030 queued" \
	"SIGTERM: the transfer in flight completed and was written; waiting ones were not"
is "$(posts_to +15552000031)$(posts_to +15552000032)" 00 "SIGTERM: nothing new started"

# ---- API key instead of the Auth Token: a second simulator that knows the key ----
SK=SK0123456789abcdef0123456789abcdef
KSECRET="key-secret-$RANDOM$RANDOM"
(umask 077 && printf '%s\n' "$KSECRET" >"$T/ksecret")
mlc-twilio-sim --port 0 --port-file "$T/k.port" --request-log "$T/k.log" --account-sid "$AC" \
	--auth-token-file "$T/token" --api-key-sid "$SK" --api-key-secret-file "$T/ksecret" 2>"$T/k.err" &
own "$!"
wait_for test -s "$T/k.port"
sed -e "s|^base_url = .*|base_url = http://127.0.0.1:$(cat "$T/k.port")|" \
	-e "s|^account_sid = .*|account_sid = $AC\napi_key_sid = $SK|" "$ML_CONNECTOR_CONF" >"$T/k.conf"
sms k1 +15552000020 "with an API key" | twilio-send -c "$T/k.conf" >"$T/out" 2>"$T/err"
is "$?" 78 "api_key_sid without twilio.api_key_secret in the vault: 78"
like "$(cat "$T/err")" "no secret twilio.api_key_secret" "names the missing secret"
printf '%s\n' "$KSECRET" | mlc-vault set twilio.api_key_secret
sms k2 +15552000021 "with an API key" | twilio-send -c "$T/k.conf" >"$T/out" 2>"$T/err"
is "$?" 0 "API key: exit 0"
is "$(get "$(cat "$T/out")" .status)" queued "API key: sent"
r=$(jq -c 'select(.method == "POST")' "$T/k.log")
is "$(get "$r" '.user + " " + .path')" "$SK /2010-04-01/Accounts/$AC/Messages.json" \
	"API key: Basic user is the key SID, the URL keeps the Account SID"

done_testing
