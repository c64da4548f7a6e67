#!/usr/bin/env bash
# An e-mail whose outcome is unknown (SendGrid has no lookup and no
# idempotency key): [sendgrid] in_doubt = resend sends it again on the next
# run (at least once, the default); hold keeps it in the trail as in doubt,
# counts it in status, and sends it again only on `ml-connector resend`.
# Both the connection dropped after SendGrid read the request and the
# delivery a killed run left handed over with no outcome.
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"

tw_fault() { curl -fsS --data-binary "$1" "$TW/_sim/fault" >/dev/null; }
mails() { curl -fsS "$TW/_sim/messages" | jq -r 'select(.kind == "mail") | .mail.personalizations[0].to[0].email' | sort; }
# the address of the e-mail the trail holds as unknown or in doubt (the fault dropped its answer)
doubt_to() {
	{ alert-log query --stage unknown -f ndjson; alert-log query --stage in_doubt -f ndjson; } |
		jq -r 'select(.channel == "email") | .recipient'
}
in_doubt() { alert-log status -f ndjson | jq -r "select(.rule == \"$1\") | .in_doubt"; }

# ---- resend (the default): dropped after receipt, sent again next run ----
start_env resend 0 50 || exit 1
tw_fault 'drop-after-receipt:path=/v3/mail/send,count=1'
ml-connector run ap-aging >/dev/null 2>"$T/r1.err"
is "$?" 75 "resend: the run with an e-mail in doubt says so (75)"
first=$(doubt_to)
is "$(alert-log query --stage unknown -f ndjson | jq -r 'select(.channel == "email") | .status' | sort -u)" unknown \
	"resend: the e-mail is unknown in the trail"
is "$(alert-log query --stage unknown --lines -f ndjson | jq -r '.line | fromjson | .in_doubt')" resend \
	"resend: its result line names the policy"
ml-connector run ap-aging >/dev/null 2>"$T/r2.err"
is "$?" 0 "resend: the next run succeeds"
is "$(mails | grep -c -x "$first")" 2 "resend: the e-mail in doubt went again (at least once, as documented)"
is "$(mails | uniq -d | grep -c -v -x "$first" || true)" 0 "resend: no other e-mail twice"
stop_env

# ---- hold: the same fault, held in the trail, sent again only on resend ----
start_env hold 0 50 || exit 1
sed -i '/^\[sendgrid\]$/a in_doubt = hold' "$ML_CONNECTOR_CONF"
tw_fault 'drop-after-receipt:path=/v3/mail/send,count=1'
ml-connector run ap-aging >/dev/null 2>"$T/h1.err"
is "$?" 75 "hold: the run with an e-mail in doubt says so (75)"
like "$(cat "$T/h1.err")" "1 e-mails held in doubt .*ml-connector resend ap-aging" "hold: and says how to send it again"
first=$(doubt_to)
nmail=$(mails | wc -l | tr -d ' ')
is "$(alert-log query --stage in_doubt -f ndjson | jq -r .channel)" email "hold: stage in_doubt in the trail"
is "$(in_doubt ap-aging)" 1 "hold: status counts one e-mail in doubt"
like "$(ml-connector status ap-aging | head -n 1)" ' IN-DOUBT( |$)' "hold: status has an IN-DOUBT column"
ml-connector run ap-aging >/dev/null 2>"$T/h2.err"
is "$?" 0 "hold: the next run succeeds"
is "$(mails | wc -l | tr -d ' ')" "$nmail" "hold: and sends no e-mail again"
is "$(in_doubt ap-aging)" 1 "hold: still one in doubt"
ml-connector resend ap-aging >/dev/null 2>"$T/h3.err"
is "$?" 0 "hold: ml-connector resend: status 0"
like "$(cat "$T/h3.err")" "resent 1 e-mails held in doubt: accepted 1" "hold: resend says what it did"
is "$(mails | grep -c -x "$first")" 2 "hold: the operator's resend sent it (once more)"
is "$(mails | wc -l | tr -d ' ')" "$((nmail + 1))" "hold: and nothing else"
is "$(in_doubt ap-aging)" 0 "hold: none in doubt after the resend"
ml-connector resend ap-aging >/dev/null 2>&1
is "$(mails | wc -l | tr -d ' ')" "$((nmail + 1))" "hold: a second resend has nothing to send"

# ---- hold: a delivery a killed run left handed over, with no outcome ----
# As a run killed between SendGrid's 202 and the trail's record leaves it:
# the delivery line in the trail (queued), the e-mail at SendGrid.
line='{"delivery_id":"ap-aging:k/email/killed@hartmann.example","alert_id":"ap-aging:k","rule":"ap-aging","key":"k","channel":"email","to":"killed@hartmann.example","subject":"Killed run","text":"t"}'
printf '%s\n' "$line" | alert-log --rule ap-aging --before twilio-send >/dev/null
printf '%s\n' "$line" | twilio-send >/dev/null 2>&1
is "$(mails | grep -c -x killed@hartmann.example)" 1 "hold, killed run: SendGrid has the e-mail, the trail only its line"
ml-connector run ap-aging >/dev/null 2>"$T/k1.err"
is "$(mails | grep -c -x killed@hartmann.example)" 1 "hold, killed run: the next run's replay does not send it again"
is "$(alert-log query --stage in_doubt -f ndjson | jq -r 'select(.recipient == "killed@hartmann.example") | .stage')" \
	in_doubt "hold, killed run: it is held in doubt"
done_testing
