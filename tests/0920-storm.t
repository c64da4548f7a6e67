#!/usr/bin/env bash
# The storm guard through alert-match and alert-render: above [match] storm
# alerts, one summary (fixed text, never digested) replaces the SMS flood
# and the details go out in the e-mail digest.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/rules"
sed 's/^storm *= *[0-9]*/storm       = 3/' "$TOP/data/rules/ap-aging.rule" >"$T/rules/ap-aging.rule"
export ML_CONNECTOR_RULES=$T/rules
NOW=2026-11-26T14:00:00Z
alert-match --no-state -r ap-aging --now "$NOW" <"$TOP/tests/fixtures/match-ap-aging.in.ndjson" >"$T/alerts"
is "$?" 0 "alert-match: 0"
is "$(tail -n 1 "$T/alerts" | jq -r '[.storm, .count, .severity] | @tsv')" "$(printf 'true\t12\tcritical')" \
	"the summary comes last, critical, counting 12"
is "$(jq -s 'map(select(.digest_only)) | length' "$T/alerts")" 12 "the 12 alerts follow, digest only"
alert-render --no-state -r ap-aging --now "$NOW" <"$T/alerts" >"$T/d" 2>"$T/err"
is "$?" 0 "alert-render: 0"
is "$(cat "$T/err")" "" "no template complaint about the summary's stub record"
is "$(jq -r 'select(.channel == "sms") | .body' "$T/d")" \
	"Alert storm: rule ap-aging fired 12 alerts on 2026-11-26 (limit 3). One summary instead of 12 messages; details by e-mail." \
	"one SMS: the summary, fixed text"
is "$(jq -r 'select(.channel == "email" and (.digest | not)) | .subject' "$T/d" | sort -u)" \
	"Alert storm: 12 alerts from rule ap-aging on 2026-11-26" "the summary e-mail, sent directly"
like "$(jq -r 'select(.channel == "email" and (.digest | not)) | .text' "$T/d" | head -n 8)" \
	'- ap-aging:00001\|PV\|123457\|001' "its text names the alerts"
is "$(jq -r 'select(.digest) | .alert_count' "$T/d" | sort -u)" 12 "the digests carry all 12 alerts"
is "$(jq -s 'map(select(.digest | not) | select(.alert_id | test("storm") | not)) | length' "$T/d")" 0 \
	"no individual message besides"
# A rule that sends no e-mail: its summary does not promise one.
sed -e 's/^channels = sms email$/channels = sms/' -e '/^\[digest\]/,$d' "$T/rules/ap-aging.rule" >"$T/rules/sms-only.rule"
sed -i 's/^name        = ap-aging$/name        = sms-only/' "$T/rules/sms-only.rule"
alert-match --no-state -r sms-only --now "$NOW" <"$TOP/tests/fixtures/match-ap-aging.in.ndjson" |
	alert-render --no-state -r sms-only --now "$NOW" >"$T/s" 2>"$T/err"
is "$?" 0 "sms-only rule: alert-render 0"
is "$(jq -r 'select(.channel == "sms" and (.digest | not)) | .body' "$T/s")" \
	"Alert storm: rule sms-only fired 12 alerts on 2026-11-26 (limit 3). One summary instead of 12 messages; details in the audit trail (ml-connector why)." \
	"a rule without e-mail: the summary says where the details are, not \"by e-mail\""
is "$(jq -r 'select(.channel == "email") | .to' "$T/s" | grep -c .)" 0 "and no e-mail goes out"
vg alert-render --no-state -r ap-aging --now "$NOW" <"$T/alerts" >/dev/null 2>&1
isnt "$?" 99 "clean under valgrind"

done_testing
