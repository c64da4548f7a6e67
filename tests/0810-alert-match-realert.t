#!/usr/bin/env bash
# alert-match and the re-alert index (realert.c): alert-match only checks;
# a send is recorded with realert-mark (as alert-log does), then suppression
# inside the window, release outside it, a changed fingerprint, "never",
# partial suppression, --emit-suppressed, and mark's idempotency.
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures
MR=$F/match-rules
NOW=2026-11-26T14:00:00Z
KEY='00001|PV|123456|001'
grep '"F0411_DOC":123456,' "$F/match-ap-aging.in.ndjson" >"$T/rec" # AAP 25000, vendor 4242

am() { alert-match --now "${NOW2:-$NOW}" "$@" <"$T/rec"; }
ids() { jq -r '[.recipients[].id] | join(" ")'; }

am -r "$MR/realert.rule" >"$T/out"
is "$?|$(ids <"$T/out")" "0|an8:2004 an8:4242" "nothing sent yet: both recipients"
am -r "$MR/realert.rule" >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "matching does not mark: the second run alerts again"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM realert')" 0 \
	"alert-match wrote nothing to the realert table"

# the supervisor was texted 6 days ago with the same amount: inside 7d
realert-mark realert "$KEY" an8:2004/sms 25000 2026-11-20T14:00:00.000Z
ok "realert-mark records a send"
am -r "$MR/realert.rule" >"$T/out"
is "$(ids <"$T/out")" "an8:4242" "inside the window: that recipient is left out"
is "$(jq -c .suppressed_recipients "$T/out")" \
	'[{"id":"an8:2004","last_sent":"2026-11-20T14:00:00.000Z","count":1}]' \
	"... and named in suppressed_recipients"

# both sent: the whole alert is suppressed
realert-mark realert "$KEY" an8:4242/sms 25000 2026-11-20T14:00:00.000Z
am -r "$MR/realert.rule" >"$T/out" 2>"$T/err"
is "$?|$(wc -c <"$T/out" | tr -d ' ')|$(cat "$T/err")" "0|0|" \
	"every recipient inside the window: nothing on stdout by default"
am -r "$MR/realert.rule" --emit-suppressed >"$T/out"
is "$(jq -c '[.alert_id, .suppressed.reason, .suppressed.realert, (.suppressed.recipients | map(.id)), .record, .fingerprint]' "$T/out")" \
	'["realert:00001|PV|123456|001","realert","7d",["an8:2004","an8:4242"],null,"25000"]' \
	"--emit-suppressed: one line with a suppressed member (no record, no recipients)"

# exactly 7 days later: the window is over
NOW2=2026-11-27T14:00:00Z am -r "$MR/realert.rule" >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "7 days after the send: alert again"
NOW2=2026-11-27T13:59:59Z am -r "$MR/realert.rule" >"$T/out"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "one second before: still suppressed"

# a partial payment: the fingerprint changes, alert at once
sed 's/"F0411_AAP":25000/"F0411_AAP":20000/' "$T/rec" >"$T/rec2"
alert-match --now "$NOW" -r "$MR/realert.rule" <"$T/rec2" >"$T/out"
is "$(ids <"$T/out"):$(jq -r .fingerprint "$T/out")" "an8:2004 an8:4242:20000" \
	"a changed fingerprint alerts inside the window"

# realert = never: once sent, never again while the fingerprint is the same
realert-mark realert-never "$KEY" an8:2004/sms 25000 2025-01-01T00:00:00.000Z
realert-mark realert-never "$KEY" an8:4242/sms 25000 2025-01-01T00:00:00.000Z
am -r "$MR/realert-never.rule" >"$T/out"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "never: suppressed almost two years later"
alert-match --now "$NOW" -r "$MR/realert-never.rule" <"$T/rec2" >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "never: a changed fingerprint alerts"

# marking the same send twice (a replayed log line) changes nothing
realert-mark realert "$KEY" an8:2004/sms 25000 2026-11-20T14:00:00.000Z
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" \
	"SELECT first_sent, last_sent, count FROM realert WHERE rule = 'realert' AND recipient = 'an8:2004/sms'")" \
	"2026-11-20T14:00:00.000Z|2026-11-20T14:00:00.000Z|1" "mark is idempotent"
realert-mark realert "$KEY" an8:2004/sms 25000 2026-11-25T14:00:00.000Z
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" \
	"SELECT first_sent, last_sent, count FROM realert WHERE rule = 'realert' AND recipient = 'an8:2004/sms'")" \
	"2026-11-20T14:00:00.000Z|2026-11-25T14:00:00.000Z|2" "a second send: first kept, last and count move"

# Twilio refused an address for good (21211): recorded once as failed, and
# the alert is not sent to that address again at every run, even with
# realert = 0; the address corrected in JDE is sent to.
sed -e 's/^name = realert/name = refused/' -e 's/^realert .*/realert = 0/' "$MR/realert.rule" >"$T/refused.rule"
jq -cn --arg k "$KEY" '{rule:"refused", table:"F0411", key:$k, alert_id:("refused:"+$k),
	delivery_id:("refused:"+$k+"/sms/+13125550104"), channel:"sms", to:"+13125550104",
	recipient:{id:"an8:2004", an8:2004}, body:"x", status:"failed", attempts:1,
	error:{code:21211, message:"Invalid '"'"'To'"'"' Phone Number", http_status:400}}' >"$T/refused.line"
alert-log --rule refused --run-id r1 <"$T/refused.line" >/dev/null
is "$?|$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT stage FROM audit WHERE delivery_id LIKE 'refused:%'")" \
	"0|failed" "21211: recorded as failed"
alert-match --now "$NOW" -r "$T/refused.rule" <"$T/rec" >"$T/out"
is "$(ids <"$T/out")|$(jq -c '.suppressed_recipients | map([.id, .refused.to, .refused.code])' "$T/out")" \
	'an8:4242|[["an8:2004","+13125550104",21211]]' \
	"the refused address is held back, and the alert says why (realert = 0 notwithstanding)"
alert-log --rule refused --run-id r1 <"$T/refused.line" >/dev/null
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(*), max(refused_code) FROM realert WHERE rule = 'refused'")" \
	"1|21211" "one re-alert row, the refusal once"
sed 's/+13125550104/+13125550199/g' "$T/rec" >"$T/rec-fixed"
alert-match --now "$NOW" -r "$T/refused.rule" <"$T/rec-fixed" >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "the number corrected in JDE: sent to again"
realert-mark refused "$KEY" an8:2004/sms 25000 2026-11-26T13:00:00.000Z
alert-match --now "$NOW" -r "$T/refused.rule" <"$T/rec" >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "a send to the recipient clears the refusal"

# --no-state: no suppression and no database at all
rm -rf "$T/other"
ML_CONNECTOR_STATE=$T/other am -r "$MR/realert.rule" --no-state >"$T/out"
is "$(ids <"$T/out"):$([ -e "$T/other" ] && echo db)" "an8:2004 an8:4242:" \
	"--no-state: everything alerts, no state directory made"
am -r "$MR/realert.rule" --no-state >"$T/out"
is "$(ids <"$T/out")" "an8:2004 an8:4242" "--no-state ignores the index"

# re-alert is per recipient and channel: a person texted before a crash
# still gets the e-mail the crash kept from them
{
	printf '[rule]\nname = perchan\n\n[join]\nsupervisor = 2004\nfinance = 2008\n\n[match]\n'
	printf 'expr = true\nrealert = 7d\nfingerprint = .row.F0411_AAP\n\n'
	printf '[recipients]\nto = contact:supervisor\nto = contact:finance\nchannels = sms email\n\n'
	printf '[message]\nsms = Invoice \\(.row.F0411_DOC)\nsubject = Invoice \\(.row.F0411_DOC)\n'
	printf 'text = Invoice \\(.row.F0411_DOC) is overdue.\n'
} >"$T/perchan.rule"
pc() { alert-match --now "$NOW" -r "$T/perchan.rule" --emit-suppressed <"$T/rec"; }
realert-mark perchan "$KEY" an8:2004/sms 25000 2026-11-25T14:00:00.000Z
pc >"$T/pc1"
is "$(jq -c '[.recipients[] | [.id, .suppressed_channels]]' "$T/pc1")" \
	'[["an8:2004",["sms"]],["an8:2008",null]]' \
	"texted, not yet e-mailed: the recipient stays, its sms channel is named suppressed"
alert-render --now "$NOW" -r "$T/perchan.rule" <"$T/pc1" >"$T/pc1.out" 2>"$T/pc1.err"
is "$?|$(jq -r '[.recipient.id, .channel] | join("/")' "$T/pc1.out" | sort | tr '\n' ' ')" \
	"0|an8:2004/email an8:2008/email " "alert-render: the e-mail goes out, the SMS does not go again"
is "$(cat "$T/pc1.err")" "" "... without a warning about missing addresses"
realert-mark perchan "$KEY" an8:2008/email 25000 2026-11-25T14:00:00.000Z
is "$(pc | jq -c '[.recipients[].id, .suppressed_recipients[].id]')" '["an8:2004","an8:2008"]' \
	"a recipient whose only channel is inside the window is suppressed whole"
realert-mark perchan "$KEY" an8:2004/email 25000 2026-11-25T14:00:00.000Z
is "$(pc | jq -c '[.suppressed.reason, (.suppressed.recipients | map(.id))]')" \
	'["realert",["an8:2004","an8:2008"]]' "every channel of every recipient sent: the alert is suppressed"

# the storm guard counts only alerts that fire, not suppressed ones
cat "$T/rec" "$T/rec" "$T/rec" >"$T/rec3"
{
	printf '[rule]\nname = realert\n\n[join]\nsupervisor = 2004\nvendor = AN8\n\n[match]\n'
	printf 'expr = true\nrealert = 7d\nfingerprint = .row.F0411_AAP\nstorm = 2\n\n'
	printf '[recipients]\nto = contact:supervisor\nto = contact:vendor\n'
} >"$T/realert.rule"
alert-match --now "$NOW" -r "$T/realert.rule" --emit-suppressed <"$T/rec3" >"$T/out" 2>"$T/err"
is "$(jq -c '[.suppressed != null, .digest_only]' "$T/out" | tr '\n' ' ')" \
	"[true,null] [true,null] [true,null] " "suppressed alerts do not count toward the storm"

# valgrind over the state path
vg alert-match --now "$NOW" -r "$MR/realert.rule" --emit-suppressed <"$T/rec3" >/dev/null 2>"$T/vg"
is "$?" 0 "valgrind: re-alert checks"

# A lock held by another process: alert-match waits (tests/0205-store-locks.t).

done_testing
