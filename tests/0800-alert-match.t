#!/usr/bin/env bash
# alert-match: the shipped rules on records from the sample dataset, per-record
# errors, --check, recipients and groups, the clock (--now, DST, midnight),
# the storm guard, jqrule.c's function library and valgrind.
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures
MR=$F/match-rules
RULES=$TOP/data/rules
NOW=2026-11-26T14:00:00Z # 08:00 in Chicago on the dataset's "today"

# ---- the shipped rules on records fetched (and joined) from the dataset
for r in ap-aging high-value-po high-value-po-lines credit-hold gl-watched-accounts gl-posting-errors \
	gl-unposted-lines inventory-below-reorder; do
	run_fixture alert-match "match-$r" -r "$RULES/$r.rule" --no-state --now "$NOW"
done
is "$(jq -r '.row.F0411_DOC' <<<"$(jq -c .record "$F/match-ap-aging.exp.ndjson")" | tr '\n' ' ')" \
	"123457 123458 123459 123460 123461 123462 123463 123465 123466 123467 123468 123469 " \
	"ap-aging: 30+ days overdue fire (123463 exactly 30), 29 days, paid, blank DDJ do not"
is "$(jq -r '.record.row.F4301_DOCO' "$F/match-high-value-po.exp.ndjson" | tr '\n' ' ')" \
	"4300105 4300112 4300121 4300127 4300133 4300139 4300141 4300143 " \
	"high-value-po: above 50,000 domestic fire (4300141: 44,800 EUR is 51,968 USD); exactly 50,000 (4300118) and 520,000 SEK (4300142: 47,580 USD) do not"
is "$(jq -r '.record.row.F4301_DOCO' "$F/match-high-value-po-lines.exp.ndjson" | tr '\n' ' ')" \
	"$(jq -r '.record.row.F4301_DOCO' "$F/match-high-value-po.exp.ndjson" | tr '\n' ' ')" \
	"high-value-po-lines: the lines summed per order fire for the same orders as OTOT"
# The message shows the order's own currency: the foreign amount and code in
# foreign currency mode (CRRM F), the domestic amount and USD otherwise (also
# for 4300143, an EUR order entered in domestic mode).
po_sms() { # RULE DOCO: the shipped SMS template on the order's fixture record
	grep "\"F4301_DOCO\":$2," "$F/match-$1.in.ndjson" |
		jq-run -t -n "$NOW" -z America/Chicago "$(sed -n 's/^sms *= //p' "$RULES/$1.rule")"
}
for r in high-value-po high-value-po-lines; do
	is "$(po_sms $r 4300141)" '"PO 4300141 OP to Müller Präzisionsteile GmbH: 44,800 EUR - buyer Vogel, Anja"' \
		"$r: a foreign-mode order in its own currency"
	is "$(po_sms $r 4300143)" '"PO 4300143 OP to Société Générale d'"'"'Usinage SA: 58,000 USD - buyer Vogel, Anja"' \
		"$r: an EUR order in domestic mode: the domestic amount and currency"
	is "$(po_sms $r 4300112)" '"PO 4300112 OP to Smith & Sons Steel Supply: 52,000 USD - buyer Vogel, Anja"' \
		"$r: a domestic order"
done
# A foreign-mode order whose foreign amount is not filled: the domestic one.
is "$(grep '"F4301_DOCO":4300141,' "$F/match-high-value-po.in.ndjson" | jq -c '.row.F4301_FAP = 0' |
	jq-run -t -n "$NOW" -z America/Chicago "$(sed -n 's/^sms *= //p' "$RULES/high-value-po.rule")")" \
	'"PO 4300141 OP to Müller Präzisionsteile GmbH: 51,968 USD - buyer Vogel, Anja"' \
	"high-value-po: CRRM F without FAP: the domestic amount and currency"
is "$(jq -r '.key' "$F/match-inventory-below-reorder.exp.ndjson" | tr '\n' ' ')" \
	"60001|30 60003|30 60005|40 60008|30 60010|40 60012|30 " \
	"inventory: summed on-hand below the reorder point; equal, zero reorder point do not"
is "$(jq -r '.record.row.F4201_DOCO' "$F/match-credit-hold.exp.ndjson" | tr '\n' ' ')" \
	"4201501 4201503 4201507 " "credit-hold: the three orders on hold C1"
is "$(jq -r '.record.row.F0911_DOC' "$F/match-gl-watched-accounts.exp.ndjson" | sort -u | tr '\n' ' ')" \
	"26000101 26000108 26000109 26000111 26000115 26000117 26000118 26000121 26000122 " \
	"gl: watched accounts and unposted lines"
is "$(jq -r '.record.row.F0011_ICU' "$F/match-gl-posting-errors.exp.ndjson" | tr '\n' ' ')" \
	"810000 810007 810014 810021 " \
	"gl-posting-errors: the batch in error, and unposted ones 3+ days old (E, A, blank, A); posted and 1-day-old do not"
is "$(jq -r '.record.key' "$F/match-gl-unposted-lines.exp.ndjson" | tr '\n' ' ')" \
	"$(printf '00001|JE|%s|AA| ' 26000101\|20261114\|1 26000101\|20261114\|2 26000108\|20261115\|1 \
		26000108\|20261115\|2 26000115\|20261117\|1 26000115\|20261117\|2)" \
	"gl-unposted-lines: lines unposted 7+ days after DGJ (12, 11, 9); 26000122 (4 days) and posted lines do not"
is "$(jq -r '[.record.rule, (.recipients[] | "\(.an8) \(.name)")] | join(" ")' \
	"$F/match-gl-posting-errors.exp.ndjson" "$F/match-gl-unposted-lines.exp.ndjson" | sort -u | tr '\n' ';')" \
	"gl-posting-errors 2012 Okafor, Grace;gl-unposted-lines 2012 Okafor, Grace;" \
	"both GL rules go to the G/L accountant of the Address Book (2012)"

# every alert's record is the input line, byte for byte
awk 'NR == FNR { want[$0] = 1; next }
	{ i = index($0, ",\"record\":"); j = index($0, ",\"recipients\":")
	  if (!(substr($0, i + 10, j - i - 10) in want)) bad++ }
	END { exit bad > 0 }' "$F/match-ap-aging.in.ndjson" "$F/match-ap-aging.exp.ndjson"
ok "the record is spliced in as received"

# deterministic ids: the same input gives the same alerts, at another time too
alert-match -r "$RULES/ap-aging.rule" --no-state --now "$NOW" <"$F/match-ap-aging.in.ndjson" |
	jq -r .alert_id >"$T/ids1"
alert-match -r "$RULES/ap-aging.rule" --no-state --now 2026-11-26T14:05:00Z \
	<"$F/match-ap-aging.in.ndjson" | jq -r .alert_id >"$T/ids2"
diff_ok "$T/ids2" "$T/ids1" "alert ids do not depend on the run"
is "$(head -n 1 "$T/ids1")" "ap-aging:00001|PV|123457|001" "alert id = rule:key"

# the SPEC's SMS, from the shipped template, on voucher 123456 (5 days overdue)
sms=$(sed -n 's/^sms *= //p' "$RULES/ap-aging.rule")
grep '"F0411_DOC":123456,' "$F/match-ap-aging.in.ndjson" |
	jq-run -t -n "$NOW" -z America/Chicago "$sms" >"$T/sms"
is "$(cat "$T/sms")" '"Invoice 123456 from Acme Corp due 5 days ago - amount 25000"' \
	"ap-aging SMS template reads like the SPEC's example"
# A voucher in foreign currency mode (CRRM F): its own amount FAP and code.
ap_sms() { grep "\"F0411_DOC\":$1," "$F/join-rule-ap-aging.exp.ndjson" | jq -c "$2" |
	jq-run -t -n "$NOW" -z America/Chicago "$sms"; }
is "$(ap_sms 123457 .)" '"Invoice 123457 from Müller Präzisionsteile GmbH due 45 days ago - amount 41560.99 EUR"' \
	"ap-aging SMS: a foreign-mode voucher in its own currency"
is "$(ap_sms 123457 '.row.F0411_FAP = 0')" \
	'"Invoice 123457 from Müller Präzisionsteile GmbH due 45 days ago - amount 48210.75"' \
	"ap-aging SMS: CRRM F without FAP: the domestic amount"

# every shipped rule passes --check, and alert-render accepts its templates
for r in "$RULES"/*.rule; do
	alert-match -r "$r" --check 2>"$T/err"
	is "$?:$(cat "$T/err")" "0:" "--check $(basename "$r")"
done

# ---- per-record errors: reported with line and rule, counted, the rest go on
run_fixture alert-match match-errors -r "$MR/errs.rule" --no-state --now "$NOW"

# ---- --check and rule errors
check() { # RULE -> "rc|stderr"
	alert-match -r "$MR/$1.rule" --check 2>"$T/err" </dev/null
	echo "$?|$(cat "$T/err")"
}
is "$(check nocompile)" \
	"78|alert-match: $MR/nocompile.rule:6: [match] expr: frobnicate/0 is not defined (line 2)" \
	"undefined function: 78, file and the line of the expression"
is "$(check syntax)" \
	"78|alert-match: $MR/syntax.rule:6: [match] expr: syntax error, unexpected INVALID_CHARACTER, expecting \$end (Unix shell quoting issues?) (line 1)" \
	"syntax error: 78 with file:line"
is "$(check halt)" "78|alert-match: $MR/halt.rule:5: [match] expr: the program called halt: stop here" \
	"a program that halts is a configuration error"
alert-match -r "$MR/halt.rule" --no-state </dev/null 2>/dev/null
is "$?" 78 "... also without --check"
cat >"$T/badrcpt.want" <<EOF
alert-match: $MR/badrcpt.rule:6: realert "fortnight" (expected never, or a duration such as 30m, 24h, 7d, 2w)
alert-match: $MR/badrcpt.rule:7: storm "0" (expected a number of alerts, 1 or more)
alert-match: $MR/badrcpt.rule:15: channel "pager" (expected sms, whatsapp or email)
alert-match: $MR/badrcpt.rule:10: recipient "an8:2004": write a fixed address number as a [join] entry (e.g. director = 2004) and use contact:director
alert-match: $MR/badrcpt.rule:11: recipient "sms:3125550104": not an E.164 number (+ and 7 to 15 digits; +1 and 10 more)
alert-match: $MR/badrcpt.rule:12: recipient "email:nobody": not an e-mail address
alert-match: $MR/badrcpt.rule:13: recipient "group:nosuch": no configuration file ($ML_CONNECTOR_CONF) to define [group.nosuch]
alert-match: $MR/badrcpt.rule:14: recipient "fax:+13125550100": unknown form (contact:, sms:, whatsapp:, email:, group:)
EOF
alert-match -r "$MR/badrcpt.rule" --check 2>"$T/err"
is "$?" 78 "bad recipients, window, storm, channel: 78"
diff_ok "$T/err" "$T/badrcpt.want" "... each reported with file and line"

# a program that halts on one record: the run stops there with 78
printf '{"key":"a"}\n{"key":"b","stop":true}\n{"key":"c"}\n' |
	alert-match -r "$MR/halt-late.rule" --no-state --now "$NOW" >"$T/out" 2>"$T/err"
is "$?|$(jq -r .alert_id "$T/out")|$(cat "$T/err")" \
	"78|halt-late:a|alert-match: line 2: rule halt-late: [match] expr: the program called halt" \
	"halt at run time: 78, reported with the line, nothing after it"

alert-match -r no-such-rule -R "$T" --check 2>"$T/err"
is "$?" 66 "no such rule: 66"
alert-match 2>/dev/null
is "$?" 64 "no -r: 64"
alert-match -r "$RULES/ap-aging.rule" --now yesterday </dev/null 2>/dev/null
is "$?" 64 "bad --now: 64"

# ---- groups from the configuration file
cat >"$ML_CONNECTOR_CONF" <<'EOF'
[group.finance]
member = email:finance@hartmann-ic.example
member = contact:supervisor
member = sms:+13125550199
EOF
head -n 1 "$F/match-ap-aging.in.ndjson" |
	alert-match -r "$MR/groups.rule" --no-state --now "$NOW" >"$T/out" 2>"$T/err"
is "$?" 0 "group recipients"
is "$(jq -c '[.recipients[] | [.to, .id, .group]]' "$T/out")" \
	'[["contact:supervisor","an8:2004",null],["email:finance@hartmann-ic.example","finance@hartmann-ic.example","finance"],["sms:+13125550199","+13125550199","finance"],["whatsapp:+4917155501070","whatsapp:+4917155501070",null]]' \
	"group members expanded in order; the supervisor (also a member) once"
is "$(jq -c .channels "$T/out")" '["sms","whatsapp","email"]' "[recipients] channels passed along"
cat >>"$ML_CONNECTOR_CONF" <<'EOF'

[group.empty]
EOF
sed 's/group:finance/group:empty/' "$MR/groups.rule" >"$T/groups.rule"
sed -i 's/^name = groups/name = groups/' "$T/groups.rule"
alert-match -r "$T/groups.rule" --check 2>"$T/err"
is "$?|$(cat "$T/err")" \
	"78|alert-match: $T/groups.rule:13: recipient \"group:empty\": no [group.empty] with members in $ML_CONNECTOR_CONF" \
	"a group without members is a configuration error"
rm -f "$ML_CONNECTOR_CONF"

# ---- the clock: $today, $now_local and days_ago in the rule's zone
clock() { # NOW DDJ -> the alert key
	printf '{"key":"k","dates":{"DDJ":"%s"}}\n' "$2" |
		alert-match -r "$MR/clock.rule" --no-state --now "$1" | jq -r .key
}
is "$(clock 2026-03-08T07:30:00Z 2026-03-07)" \
	"2026-03-08 2026-03-08T01:30:00-06:00 2026-03-08T07:30:00.000Z due=1" \
	"DST day in Chicago, 07:30Z: 01:30 CST"
is "$(clock 2026-03-08T08:30:00Z 2026-03-07)" \
	"2026-03-08 2026-03-08T03:30:00-05:00 2026-03-08T08:30:00.000Z due=1" \
	"DST day, 08:30Z: 03:30 CDT (the 02:00 hour does not exist)"
is "$(clock 2026-03-09T04:59:59Z 2026-03-07)" \
	"2026-03-08 2026-03-08T23:59:59-05:00 2026-03-09T04:59:59.000Z due=1" \
	"one second before local midnight: still the 8th"
is "$(clock 2026-03-09T05:00:00Z 2026-03-07)" \
	"2026-03-09 2026-03-09T00:00:00-05:00 2026-03-09T05:00:00.000Z due=2" \
	"local midnight after the change: the 9th, a 23-hour day counted as one"
is "$(clock 2026-11-01T05:30:00Z 2026-10-31)" \
	"2026-11-01 2026-11-01T00:30:00-05:00 2026-11-01T05:30:00.000Z due=1" \
	"fall back day, 00:30 CDT"
is "$(clock 2026-11-02T05:30:00Z 2026-10-31)" \
	"2026-11-01 2026-11-01T23:30:00-06:00 2026-11-02T05:30:00.000Z due=1" \
	"fall back day, 23:30 CST: still the 1st (UTC is already the 2nd)"
is "$(printf '{"key":"k","dates":{"DDJ":"2026-03-07"}}\n' |
	ML_CONNECTOR_NOW=2026-03-08T07:30:00Z alert-match -r "$MR/clock.rule" --no-state | jq -r .matched_at)" \
	"2026-03-08T07:30:00.000Z" "ML_CONNECTOR_NOW sets matched_at and the clock"

# custom alert key
head -n 3 "$F/match-ap-aging.in.ndjson" |
	alert-match -r "$MR/custom-key.rule" --no-state --now "$NOW" | jq -r .alert_id >"$T/out"
is "$(tr '\n' ' ' <"$T/out")" "custom-key:vendor-4242 custom-key:vendor-4243 custom-key:vendor-4244 " \
	"[match] key overrides the record key"

# ---- storm guard: 12 alerts > storm = 5
alert-match -r "$MR/storm.rule" --no-state --now "$NOW" <"$F/match-ap-aging.in.ndjson" \
	>"$T/out" 2>"$T/err"
is "$?" 0 "storm run"
is "$(wc -l <"$T/out" | tr -d ' ')" 13 "the 12 alerts plus one summary"
is "$(tail -n 1 "$T/out" | jq -c '[.alert_id, .storm, .count, .severity, (.alerts | length), .alerts[0], [.recipients[].to]]')" \
	'["storm:storm:2026-11-26",true,12,"critical",12,"storm:00001|PV|123457|001",["email:finance@hartmann-ic.example","contact:supervisor"]]' \
	"summary last, once the count is known: critical, count, alert ids, the rule's recipients"
is "$(head -n 12 "$T/out" | jq -r .digest_only | sort -u)" "true" "every alert is digest_only"
is "$(cat "$T/err")" \
	"alert-match: rule storm: 12 alerts (storm = 5): one summary alert, the alerts go to the digest only" \
	"the storm is reported on stderr"
grep -E '"F0411_DOC":(123456|123457|123458|123459|123460|123461),' "$F/match-ap-aging.in.ndjson" |
	alert-match -r "$MR/storm.rule" --no-state --now "$NOW" >"$T/out" 2>"$T/err"
is "$(wc -l <"$T/out" | tr -d ' '):$(grep -c digest_only "$T/out"):$(wc -c <"$T/err" | tr -d ' ')" \
	"5:0:0" "at the storm limit (5 alerts): no summary, nothing digest_only"
# A storm streams (issue 17): once the 6th alert fires (of 7 records, 6
# match), the six are written
# digest_only while the input is still open, so alert-render can build the
# digest during the fetch; nothing was written before the count was known
# (no line without digest_only), and the summary waits for the end.
mkfifo "$T/storm.in"
alert-match -r "$MR/storm.rule" --no-state --now "$NOW" <"$T/storm.in" >"$T/out" 2>/dev/null &
sm=$!
exec 7>"$T/storm.in"
grep -E '"F0411_DOC":(123456|123457|123458|123459|123460|123461|123462),' "$F/match-ap-aging.in.ndjson" >&7
wait_for lines_ge "$T/out" 6
is "$(jq -r '.digest_only' "$T/out" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" " 6 true;" \
	"storm = 5, input still open: the six alerts so far, all digest_only, none held back nor sent plain"
exec 7>&-
wait "$sm"
is "$(jq -r 'select(.storm) | .count' "$T/out"):$(grep -c . "$T/out"):$(tail -n 1 "$T/out" | jq .storm)" "6:7:true" \
	"at the end of input: the summary, last, counting 6"

# ---- jqrule.c: the function library, templates, errors
cat >"$T/lib.in" <<'EOF'
{"d":"2026-10-27","a":25000,"b":1234.5,"c":-1234567.891,"s":"  30 ","n":null,"x":"12.5","z":0.004}
EOF
jr() { jq-run -n "$NOW" -z America/Chicago "$@" <"$T/lib.in"; }
is "$(jr '[(.d | days_ago), days_since("2026-11-27"), ("2026-12-01" | days_until)]')" "[30,-1,5]" \
	"days_ago, days_since, days_until"
is "$(jr '[.a, .b, .c, .x, .n, .z, 999, 1000] | map(amount(","))')" \
	'["25,000","1,234.50","-1,234,567.89","12.50","","0","999","1,000"]' "amount(sep)"
is "$(jr '[.a, .b] | map(amount)')" '["25000","1234.50"]' "amount"
is "$(jr '[(.s | trim), (.n | blank), (" " | blank), first_nonblank(.n, " ", .s | trim), first_nonblank(.n)]')" \
	'["30",true,true,"30",""]' "trim, blank, first_nonblank"
is "$(jr '.n | days_ago')" "error -1: program: not an ISO date: null" "days_ago on null: an error"
is "$(jq-run -t 'Invoice "\(.a | amount)" \("x\("y")z")' <"$T/lib.in")" '"Invoice \"25000\" xyz"' \
	"template: bare quotes literal, nested strings in interpolations"
is "$(jq-run -H '<b>\("<a&b>")</b> "q"' <"$T/lib.in")" '"<b>&lt;a&amp;b&gt;</b> \"q\""' \
	"HTML template escapes interpolated values only"
is "$(jq-run '.a, .b' <"$T/lib.in")" "error -2: program: gave more than one output" "two outputs"
is "$(jq-run 'empty' <"$T/lib.in")" "error -2: program: gave no output" "no output"
is "$(jq-run 'first(repeat(1)), repeat(1)' <"$T/lib.in")" \
	"error -2: program: gave more than one output" "an endless generator stops at the second output"
jq-run 'import "x" as x; .' </dev/null 2>"$T/err"
is "$?" 78 "import cannot abort the process: a compile error"
jq-run 'include "x"; .' </dev/null 2>"$T/err"
is "$?" 78 "include too"
is "$(printf '{}\n{}\n' | jq-run 'halt' 2>&1)" "error -3: program: the program called halt
error -3: program: the program halted earlier; not run again" "a halted program is not started again"
is "$(jq-run 'foo(' </dev/null 2>&1)" \
	"jq-run: program: syntax error, unexpected \$end (Unix shell quoting issues?) (line 1)" \
	"syntax error names the program's line"
# shellcheck disable=SC2016 # jq variables
is "$(jq-run '[$today | length, ($now | test("Z$"))]' <"$T/lib.in")" "[10,true]" \
	"\$now and \$today exist without arguments"

# ---- the man page's EXAMPLES run as written
(cd "$TOP" && man-examples man/alert-match.1 1 | bash) >"$T/ex1" 2>&1
diff_ok "$T/ex1" <(jq -r .alert_id "$F/match-ap-aging.exp.ndjson") "man page example 1"
(cd "$TOP" && man-examples man/alert-match.1 2 | bash) >"$T/ex2" 2>&1
is "$?:$(cat "$T/ex2")" "0:" "man page example 2 (--check every shipped rule)"

# ---- valgrind: a few hundred records through the match loop, errors included
for _ in 1 2 3 4 5 6 7 8; do cat "$F/match-ap-aging.in.ndjson"; done >"$T/many"
cat "$F/match-errors.in.ndjson" >>"$T/many"
vg alert-match -r "$MR/errs.rule" --no-state --now "$NOW" <"$T/many" >/dev/null 2>"$T/vg.err"
is "$?" 65 "valgrind: 525 records with errors, exit 65 (not 99)"
vg alert-match -r "$MR/storm.rule" --no-state --now "$NOW" <"$T/many" >/dev/null 2>"$T/vg.err"
is "$?" 65 "valgrind: storm spool"
vg jq-run -t 'x \(.a | amount(",")) \(.d | days_ago)' <"$T/lib.in" >/dev/null 2>"$T/vg.err"
is "$?" 0 "valgrind: template"
printf '{}\n{}\n' | vg jq-run 'halt' >/dev/null 2>"$T/vg.err"
is "$?" 0 "valgrind: halt, not restarted"
vg alert-match -r "$MR/nocompile.rule" --check 2>/dev/null
is "$?" 78 "valgrind: compile error"

done_testing
