#!/usr/bin/env bash
# twilio-send --reconcile (deliveries an earlier run left without an
# outcome: look first, send only if Twilio has no such message) and --ping.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"
export ML_CONNECTOR_KDF_FAST=1
CONF_EXTRA="grace = 0.5"
send_setup --callback-delay 100

# A message the earlier run did send (its result was lost with the run).
sms a +15553000001 "sent before the crash" | twilio-send >/dev/null 2>&1
is "$(messages +15553000001 "sent before the crash")" 1 "setup: the earlier run's message exists"
{
	sms a +15553000001 "sent before the crash"
	sms b +15553000002 "never sent"
	mail c fin@example.com "digest" "text"
} >"$T/in"
twilio-send --reconcile <"$T/in" >"$T/out" 2>"$T/err"
rc=$?
is "$rc" 75 "an e-mail stays unknown: 75"
st() { jq -r --arg d "$1" 'select(.delivery_id | startswith($d)) | [.status, (.reconciled // false), .attempts] | @tsv' "$T/out"; }
like "$(st t:a/)" "^(queued|sending|sent|delivered)	true	0$" "found in Twilio: reconciled, not sent again"
is "$(messages +15553000001 "sent before the crash")" 1 "still exactly one message"
is "$(posts_to +15553000001)" 1 "no second create request"
like "$(st t:b/)" "^queued	false	1$" "not found after the grace period: sent once"
is "$(messages +15553000002 "never sent")" 1 "one message"
is "$(st t:c/ | cut -f1)" unknown "e-mail: SendGrid cannot be asked: unknown, not re-sent"
is "$(mails_to fin@example.com)" 0 "no mail send"
is "$(jq -r '.delivery_id' "$T/out" | wc -l | tr -d ' ')" 3 "a result for every delivery"

# The window starts when the delivery was rendered: an identical message
# from before that is not taken for this one.
sms d +15553000004 "same words" | twilio-send >/dev/null 2>&1
sms d +15553000004 "same words" | jq -c '.rendered_at = "2099-01-01T00:00:00.000Z"' |
	twilio-send --reconcile >"$T/out" 2>/dev/null
is "$(jq -r '[.status, (.reconciled // false)] | @tsv' "$T/out")" "$(printf 'queued\tfalse')" \
	"an older identical message does not count: sent"
is "$(messages +15553000004 "same words")" 2 "two messages, the second one new"

# A frozen clock (ML_CONNECTOR_NOW; the simulator's stays real): every
# message of the day looks created since the delivery was rendered, so time
# cannot tell an older identical message from this one.  The trail can: a
# sid it holds as another delivery's outcome is not this delivery's.
sms e +15553000005 "frozen words" | twilio-send 2>/dev/null | alert-log >/dev/null 2>&1
sms f +15553000005 "frozen words" | jq -c '.rendered_at = "2026-01-15T08:00:00.000Z"' |
	ML_CONNECTOR_NOW=2026-01-15T08:00:00Z twilio-send --reconcile >"$T/out" 2>/dev/null
is "$(jq -r '[.status, (.reconciled // false)] | @tsv' "$T/out")" "$(printf 'queued\tfalse')" \
	"frozen clock: a message the trail holds for another delivery is not taken: sent"
is "$(messages +15553000005 "frozen words")" 2 "frozen clock: two messages, the second one new"

# --ping: the account, nothing sent.
n=$(curl -sf "$SIM/_sim/messages" | wc -l)
twilio-send --ping >"$T/out" 2>"$T/err"
is "$?" 0 "ping: 0"
is "$(jq -r '[.ping, .system, .account_sid] | @tsv' "$T/out")" \
	"$(printf 'ok\ttwilio\t%s' "$AC")" "ping names the account"
is "$(curl -sf "$SIM/_sim/messages" | wc -l)" "$n" "nothing sent"
if grep -q -- "$TOKEN" "$T/out" "$T/err" "$LOG"; then false; else true; fi
ok "the Auth Token appears nowhere"
twilio-send --ping >/dev/full 2>"$T/err"
is "$?|$(cat "$T/err")" "74|twilio-send: write error on stdout: No space left on device" \
	"ping on a full disk: 74, and says why"
printf 'wrong\n' | mlc-vault set twilio.auth_token
twilio-send --ping >"$T/out" 2>"$T/err"
is "$?" 77 "ping with a wrong token: 77"
like "$(cat "$T/err")" 'credentials refused' "and says so"
twilio-send --ping --poll 2>/dev/null
is "$?" 64 "modes do not combine"
twilio-send --ping --ping-sendgrid 2>/dev/null
is "$?" 64 "--ping and --ping-sendgrid do not combine"

# --ping-sendgrid: the key itself, asked of SendGrid (GET /v3/scopes, read
# only), never merely found in the vault.
scopes_asked() { jq -c 'select(.kind == "request" and .path == "/v3/scopes")' "$LOG" | wc -l | tr -d ' '; }
n=$(curl -sf "$SIM/_sim/messages" | wc -l)
twilio-send --ping-sendgrid >"$T/out" 2>"$T/err"
is "$?|$(jq -c '[.ping, .system, .from, .scopes, .mail_send]' "$T/out")|$(cat "$T/err")" \
	'0|["ok","sendgrid","alerts@example.com",1,true]|' "ping-sendgrid, the right key: 0, mail.send granted"
is "$(scopes_asked)/$(jq -r 'select(.path == "/v3/scopes") | .auth' "$LOG")" 1/bearer \
	"SendGrid was asked, once, with the key as a bearer token"
is "$(curl -sf "$SIM/_sim/messages" | wc -l)" "$n" "nothing sent"
printf 'SG.wrong-key\n' | mlc-vault set sendgrid.api_key
twilio-send --ping-sendgrid >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 77/0 "a wrong key: 77, no ok line"
like "$(cat "$T/err")" '^twilio-send: SendGrid: credentials refused \(HTTP 401: The provided authorization grant is invalid, expired, or revoked\); check the vault secret sendgrid\.api_key$' \
	"a wrong key: says so, with SendGrid's own message and the secret to check"
printf '%s\n' "$SGKEY" | mlc-vault set sendgrid.api_key
# a key SendGrid accepts but will not show its scopes (403): accepted, with a warning
fault 'error:code=403,count=1,path=/v3/scopes'
twilio-send --ping-sendgrid >"$T/out" 2>"$T/err"
is "$?|$(jq -c '[.ping, .scopes, .mail_send]' "$T/out")" '0|["ok",null,null]' \
	"403 on /v3/scopes: the key was accepted; mail.send not known"
like "$(cat "$T/err")" 'accepted but may not read its scopes \(HTTP 403' "and the warning says what is not known"
fault '5xx:code=503,count=1,path=/v3/scopes'
twilio-send --ping-sendgrid >/dev/null 2>"$T/err"
is "$?" 69 "SendGrid 503: 69"
if grep -q -- "$SGKEY" "$T/out" "$T/err" "$LOG"; then false; else true; fi
ok "the SendGrid key appears nowhere"
# unreachable: nothing listens on port 1
sed 's|^base_url = .*|base_url = http://127.0.0.1:1|' "$ML_CONNECTOR_CONF" >"$T/unreach.conf"
twilio-send -c "$T/unreach.conf" --ping-sendgrid >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 69/0 "SendGrid unreachable: 69"
like "$(cat "$T/err")" '^twilio-send: SendGrid: NOT_SENT: ' "and says so"
# no e-mail channel: nothing to check, and that is a configuration error
grep -v '^from = alerts' "$ML_CONNECTOR_CONF" >"$T/nomail.conf"
twilio-send -c "$T/nomail.conf" --ping-sendgrid >/dev/null 2>"$T/err"
is "$?" 78 "no [sendgrid] from: 78"
like "$(cat "$T/err")" 'from is not set' "named"
twilio-send --ping-sendgrid >/dev/full 2>"$T/err"
is "$?" 74 "ping-sendgrid on a full disk: 74"

# A key without mail.send (restricted to other scopes): every send would be
# refused, so the ping fails, naming the permission.
SIM1=$SIM
sim_start mlc-twilio-sim --account-sid "$AC" --auth-token-file "$T/token" \
	--sendgrid-key-file "$T/sgkey" --sendgrid-scopes alerts.read,stats.read || exit 1
sed "s|^base_url = .*|base_url = http://127.0.0.1:$MLC_TWILIO_SIM_PORT|" "$ML_CONNECTOR_CONF" >"$T/nosend.conf"
twilio-send -c "$T/nosend.conf" --ping-sendgrid >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 77/0 "a key without mail.send: 77"
like "$(cat "$T/err")" 'lacks the mail.send permission \(2 scopes' "and says which permission it lacks"
SIM=$SIM1

done_testing
