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

# --ping: the account, nothing sent.
n=$(curl -sf "$SIM/_sim/messages" | wc -l)
twilio-send --ping >"$T/out" 2>"$T/err"
is "$?" 0 "ping: 0"
is "$(jq -r '[.ping, .system, .account_sid, .sendgrid] | @tsv' "$T/out")" \
	"$(printf 'ok\ttwilio\t%s\tkey in vault' "$AC")" "ping names the account"
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

done_testing
