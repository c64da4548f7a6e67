#!/usr/bin/env bash
# alert-render: templates, SMS encodings and segments, e-mail, digests,
# quiet hours, caps, --check, --preview, bad input.
. "$(dirname "$0")/lib.sh"

R=$TOP/tests/fixtures/render-rules
F=$TOP/tests/fixtures
N=(--now 2024-01-15T14:00:00Z)

# Fixtures: stdout, stderr and status.
run_fixture alert-render render-basic -r "$R/ap-aging.rule" --no-state "${N[@]}"
run_fixture alert-render render-digest -r "$R/ap-digest.rule" --no-state "${N[@]}"
run_fixture alert-render render-sms-digest -r "$R/sms-digest.rule" --no-state "${N[@]}"
run_fixture alert-render render-translit -r "$R/translit.rule" --no-state "${N[@]}"
run_fixture alert-render render-caps -r "$R/caps.rule" --no-state "${N[@]}"
run_fixture alert-render render-wa-template -r "$R/wa-template.rule" --no-state "${N[@]}"
run_fixture alert-render render-quiet-drop -r "$R/quiet-drop.rule" --no-state \
	--now 2024-01-15T04:30:00Z
run_fixture alert-render render-quiet -r "$R/quiet.rule" --now 2024-01-15T04:30:00Z

out=$T/render-basic.out
# field LINE KEY: one member of one output line (jq, from the jq package).
field() { sed -n "${1}p" "$2" | jq -r "$3"; }
is "$(field 1 "$out" .body)" "Invoice 123456 from Acme Corp due 5 days ago - amount 25000" \
	"the SPEC's SMS, exactly"
is "$(field 1 "$out" '[.encoding, .segments, .delivery_id] | join(" ")')" \
	"GSM-7 1 ap-aging:00001|PV|123456|001/sms/+13125550147" "GSM-7, 1 segment, deterministic id"
is "$(field 3 "$out" '[.encoding, .segments] | join(" ")')" "UCS-2 2" \
	"a Polish vendor name makes UCS-2, 2 segments"
is "$(field 4 "$out" '[.encoding, .segments, .truncated] | join(" ")')" "GSM-7 2 true" \
	"a long text is cut to max_segments"
like "$(field 4 "$out" .body)" '\.\.\.$' "and ends in ..."
html=$(field 5 "$out" .html)
unlike "$html" '<script>' "hostile vendor name: no <script> in the html"
like "$html" '&lt;script&gt;alert\(&(#39|apos);x&(#39|apos);\)&lt;/script&gt; &amp; &quot;Sons&quot;' \
	"values are HTML-escaped (<, >, &, quotes)"
like "$html" '^<!DOCTYPE html>' "the html is a complete document"
like "$html" '<b>123459</b>' "the template's own markup is kept"
is "$(field 6 "$out" .suppressed.reason)" "realert" "suppressed lines pass through unchanged"
cmp -s <(sed -n 5p "$F/render-basic.in.ndjson") <(sed -n 6p "$out")
ok "the suppressed line is byte-identical"
is "$(field 7 "$out" .to)" "whatsapp:+13125550147" "whatsapp uses the sms number, prefixed"
is "$(field 8 "$out" .subject)" "Invoice 123463 from : 5 days overdue" "a null field renders as empty"

# Digests
d=$T/render-digest.out
is "$(jq -r 'select(.digest) | .to' "$d" | sort | tr '\n' ' ')" \
	"dana.ruiz@hartmann.example finance@hartmann.example " "one e-mail digest per address"
is "$(jq -r 'select(.to == "finance@hartmann.example") | .delivery_id' "$d")" \
	"digest:ap-digest/email/finance@hartmann.example/2024-01-15/47052af9" \
	"digest id: rule, channel, address, day, hash of the alert ids"
head -n 2 "$F/render-digest.in.ndjson" |
	alert-render -r "$R/ap-digest.rule" --no-state "${N[@]}" >"$T/digest2" 2>/dev/null
is "$(jq -r 'select(.to == "finance@hartmann.example") | .delivery_id' "$T/digest2")" \
	"digest:ap-digest/email/finance@hartmann.example/2024-01-15/$(printf '%s' '"ap-digest:00001|PV|100000|001","ap-digest:00001|PV|100001|001"' |
		b2sum -l 32 | cut -c1-8)" \
	"a second digest the same day (other alerts) has its own id: BLAKE2b-32 of the alert id list"
is "$(jq -r 'select(.to == "finance@hartmann.example") | .html' "$d" |
	sed -n '/^<tbody>$/,/^<\/tbody>$/p' | grep -c '^<tr')" 5 "five rows in the HTML table's body"
is "$(jq -r 'select(.to == "finance@hartmann.example") | .alert_count' "$d")" 5 "alert_count"
like "$(jq -r 'select(.to == "finance@hartmann.example") | .html' "$d")" \
	'<td style="[^"<>]*">Müller &amp; Söhne &lt;GmbH&gt;</td>' "digest cells are escaped"
is "$(jq -r 'select(.channel == "sms") | .key' "$d" | grep -c 100010)" 0 \
	"a digest_only alert sends no SMS"
s=$T/render-sms-digest.out
like "$(jq -r .body "$s")" 'and 6 more$' "SMS digest: and N more"
is "$(jq -r '.segments' "$s")" 1 "within max_segments"

# Transliteration
tl=$T/render-translit.out
is "$(field 1 "$tl" .encoding)" "GSM-7" "curly quotes, dashes and ellipsis transliterated to GSM-7"
like "$(field 2 "$tl" .body)" '“500001”' "not for WhatsApp"
is "$(field 3 "$tl" .encoding)" "UCS-2" "François stays UCS-2 (letters are not changed)"

# Quiet hours across time zones
q=$T/render-quiet.out
is "$(jq -r '[.deferred // false, .channel, .to, .not_before // "-"] | join(" ")' "$q" | tr '\n' ';')" \
	"true sms +13125550100 2024-01-15T13:00:00.000Z;false email dana.ruiz@hartmann.example -;true sms +493055501 2024-01-15T06:00:00.000Z;false sms +81355501 -;false sms +13125550100 -;true sms +13125550100 2024-01-15T13:00:00.000Z;" \
	"Chicago and Berlin deferred to 07:00 local, Tokyo at 13:30 sent, e-mail and critical pass"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 3 "three deferred in the state"
# A release goes out once: the trail (alert-log) decides, not the emission.
alert-render -r "$R/quiet.rule" --release --now 2024-01-15T06:30:00Z >"$T/rel0"
is "$(jq -r .to "$T/rel0")" "+493055501" "release at 06:30Z: only Berlin's time has come"
alert-render -r "$R/quiet.rule" --release --now 2024-01-15T06:30:00Z | alert-log >"$T/rel1"
diff_ok "$T/rel1" "$T/rel0" "a release the trail never recorded (so never sent) is emitted again"
alert-render -r "$R/quiet.rule" --now 2024-01-15T13:00:00Z </dev/null | alert-log >"$T/rel2"
is "$(jq -r .released_at "$T/rel2" | sort -u)" "2024-01-15T13:00:00.000Z" "a normal run releases first"
is "$(wc -l <"$T/rel2" | tr -d ' ')" 2 "the two Chicago ones: Berlin's release is in the trail"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 2 \
	"Berlin's row is removed; the Chicago ones stay until the trail holds their release"
alert-render -r "$R/quiet.rule" --release --now 2024-01-15T13:00:00Z >"$T/rel3"
is "$(wc -c <"$T/rel3" | tr -d ' ')" 0 "released and recorded: never emitted again"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 0 "released ones are gone"
alert-render -r "$R/quiet.rule" --now 2024-01-15T04:30:00Z <"$F/render-quiet.in.ndjson" >/dev/null 2>&1
alert-render -r "$R/quiet.rule" --now 2024-01-15T04:40:00Z <"$F/render-quiet.in.ndjson" >/dev/null 2>&1
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 3 \
	"deferring the same deliveries twice keeps one each"

# Quiet hours that end in a DST gap, a repeated hour or a half-hour zone:
# the window ends the first time the clock shows its end (sched.c's rule),
# never at mktime's guess (02:30 EST, 30 minutes after a New York gap).
mkdir -p "$T/dst"
head -n 1 "$F/render-quiet.in.ndjson" >"$T/dst/in" # its recipient has no zone: the rule's
while read -r zone window now want what; do
	sed -e "s|^timezone = .*|timezone = $zone|" -e "s|^quiet_hours .*|quiet_hours = $window|" \
		"$R/quiet.rule" >"$T/dst/quiet.rule"
	got=$(alert-render -r "$T/dst/quiet.rule" --no-state --now "$now" <"$T/dst/in" 2>/dev/null |
		jq -r 'select(.channel == "sms") | .not_before // "sent"')
	is "$got" "$want" "quiet hours $window in $zone at $now: $what"
done <<'CASES'
America/New_York 22:00-02:30 2027-03-14T05:00:00Z 2027-03-14T07:00:00.000Z ends in the spring gap: at 03:00 EDT
America/New_York 22:00-01:30 2027-11-07T04:00:00Z 2027-11-07T05:30:00.000Z ends in the repeated hour: first 01:30 (EDT)
America/New_York 22:00-01:30 2027-11-07T06:15:00Z 2027-11-07T06:30:00.000Z inside the repeated hour again: the next 01:30 (EST)
America/New_York 22:00-01:30 2027-11-07T05:45:00Z sent 01:45 EDT is past the window
Australia/Lord_Howe 22:00-02:15 2027-10-02T12:00:00Z 2027-10-02T15:30:00.000Z a 30-minute gap: at 02:30 LHDT
Asia/Kolkata 22:00-07:00 2027-01-10T18:00:00Z 2027-01-11T01:30:00.000Z +05:30: 07:00 IST is 01:30Z
Asia/Kathmandu 23:00-06:15 2027-01-10T18:00:00Z 2027-01-11T00:30:00.000Z +05:45: 06:15 NPT is 00:30Z
Pacific/Chatham 22:00-03:00 2027-09-25T10:00:00Z 2027-09-25T14:00:00.000Z +12:45, gap 02:45-03:45: at 03:45 CHADT
CASES

# Caps count what the audit trail says was sent
sqlite3 "$ML_CONNECTOR_STATE/state.db" "INSERT INTO audit (ts, stage, delivery_id, recipient, channel) VALUES ('2024-01-15T13:30:00.000Z', 'sent', 'x/sms/+13125550100', '+13125550100', 'sms')"
alert-render -r "$R/caps.rule" "${N[@]}" <"$F/render-caps.in.ndjson" >"$T/caps"
is "$(jq -r '.capped // false' "$T/caps" | tr '\n' ' ')" "false true true true " \
	"one sent in the last hour: the second of this run hits per_recipient_hour = 2"
sqlite3 "$ML_CONNECTOR_STATE/state.db" "INSERT INTO audit (ts, stage, delivery_id, recipient, channel) VALUES ('2024-01-15T01:00:00.000Z', 'sent', 'y/email/dana', 'dana.ruiz@hartmann.example', 'email'), ('2024-01-15T02:00:00.000Z', 'sent', 'z/sms', '+13125550100', 'sms')"
alert-render -r "$R/caps.rule" "${N[@]}" <"$F/render-caps.in.ndjson" >"$T/caps"
is "$(jq -r '.cap // "-"' "$T/caps" | tr '\n' ' ')" \
	"per_recipient_day per_recipient_day per_recipient_day per_recipient_day " \
	"three today on any of the recipient's addresses: per_recipient_day = 3"

# --check
alert-render -r "$R/bad-field.rule" --check 2>"$T/err"
is "$?" 78 "--check: a field not in [source] columns is a config error"
is "$(sed "s|$R/||" "$T/err")" "alert-render: bad-field.rule:14: template sms reads .row.F0411_FOO, which is not in [source] columns
alert-render: bad-field.rule:17: template text reads .trim.RMK, which is not in [source] columns
alert-render: bad-field.rule:17: template text reads .row.F4311_AEXP, which is not in [source] columns" \
	"named with file, line (continuation lines counted) and field; key columns allowed"
for r in ap-aging ap-digest sms-digest quiet quiet-drop caps translit; do
	alert-render -r "$R/$r.rule" --check 2>"$T/err"
	ok "--check passes $r"
done
printf '[rule]\nname = broken\n[message]\nsms = x \\(.a | nosuchfn)\n' >"$T/broken.rule"
alert-render -r "$T/broken.rule" --check 2>"$T/err"
is "$?" 78 "--check: a template that does not compile"
like "$(cat "$T/err")" "broken.rule:4: template sms" "named with its line"
alert-render -r "$T/nope.rule" --check 2>/dev/null
is "$?" 66 "no such rule: 66"

# --check: a WhatsApp template's shape, each error with its file, line and variable
alert-render -r "$R/wa-template.rule" --check 2>"$T/err"
is "$?:$(cat "$T/err")" "0:" "--check passes wa-template (a missing field counts as present)"
HX=HX0123456789abcdef0123456789abcdef
mkdir -p "$T/wa"
wa_rule() { # NAME TEMPLATE VARIABLES: a rule file
	printf '[rule]\nname = %s\n[source]\ntable = F0411\ncolumns = DOC AAP\n[recipients]\nto = +13125550147\nchannels = whatsapp\n[message]\n' "$1"
	[ -n "$2" ] && printf 'whatsapp_template = %s\n' "$2"
	printf 'whatsapp_variables = %s\n' "$3"
}
while IFS='|' read -r name sid vars want; do
	wa_rule "$name" "$sid" "$vars" >"$T/wa/$name.rule"
	alert-render -r "$T/wa/$name.rule" --check 2>"$T/err"
	is "$?:$(sed "s|$T/wa/||" "$T/err")" "78:alert-render: $want" "--check refuses: $name"
done <<EOF2
short-sid|HX0123|{"1": .key}|short-sid.rule:10: [message] whatsapp_template "HX0123" is not a Content SID (HX and 32 hex digits: Twilio Console, Content Template Builder)
no-template||{"1": .key}|no-template.rule:10: [message] whatsapp_variables needs [message] whatsapp_template (Twilio: 21654)
gap|$HX|{"1": .key, "3": .rule}|gap.rule:11: [message] whatsapp_variables: no variable "2" but one numbered 3: the template's placeholders are numbered from 1 without a gap
number|$HX|{"1": .key, "2": (.row.F0411_AAP // 0)}|number.rule:11: [message] whatsapp_variables: variable "2": a number: a value must be a string (tostring, or amount for money)
named|$HX|{"name": .key}|named.rule:11: [message] whatsapp_variables: variable "name": a key is a placeholder's number, 1 to 100 ({{1}} is "1")
array|$HX|[.key]|array.rule:11: [message] whatsapp_variables: gave array, not an object of numbered variables ({"1": ..., "2": ...})
column|$HX|{"1": .row.F0411_RMK}|column.rule:11: template whatsapp_variables reads .row.F0411_RMK, which is not in [source] columns
EOF2
wa_rule syntax "$HX" '{"1": .key' >"$T/wa/syntax.rule"
alert-render -r "$T/wa/syntax.rule" --check 2>"$T/err"
is "$?" 78 "--check refuses: a variables program that does not compile"
like "$(cat "$T/err")" 'syntax.rule:11: \[message\] whatsapp_variables: syntax error' "named with its line"
wa_rule runtime "$HX" '{"1": .row.F0411_AAP} | .x' >"$T/wa/runtime.rule"
alert-render -r "$T/wa/runtime.rule" --check 2>"$T/err"
is "$?" 78 "--check refuses: variables that give no object (null)"
alert-render -r "$R/wa-template.rule" "${N[@]}" --preview "$F/render-wa-template.in.ndjson" >"$T/pv" 2>/dev/null
like "$(cat "$T/pv")" "\[WhatsApp template $HX\]
\{\{1\}\} Acme Corp
\{\{2\}\} 123456
\{\{3\}\} 25000" "--preview shows the template and its variables"
vg alert-render -r "$R/wa-template.rule" --no-state "${N[@]}" <"$F/render-wa-template.in.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: WhatsApp templates"
vg alert-render -r "$R/wa-template.rule" --check >/dev/null 2>&1
isnt "$?" 99 "valgrind: --check of a WhatsApp template"
wa_rule runerr "$HX" '{"1": (.row.F0411_AAP | tonumber | tostring)}' >"$T/wa/runerr.rule"
vg alert-render -r "$T/wa/runerr.rule" --check 2>"$T/err"
is "$?:$(cat "$T/err")" "0:" \
	"--check: a runtime error on the record without data is the record's, not the rule's (and no bad free)"

# --strict: a null field is a bad line
sed -n 12p "$F/render-basic.in.ndjson" | alert-render -r "$R/ap-aging.rule" --no-state --strict "${N[@]}" >"$T/out" 2>/dev/null
is "$?" 65 "--strict: a null field makes the line bad"
is "$(wc -l <"$T/out" | tr -d ' ')" 0 "and nothing is rendered for it"

# --preview: readable, no state
alert-render -r "$R/ap-aging.rule" "${N[@]}" --preview "$F/render-basic.in.ndjson" >"$T/pv" 2>/dev/null
like "$(head -n 4 "$T/pv" | tr '\n' '|')" \
	'^=== sms to \+13125550147 \(Acme Corp\)\|.*\|\[GSM-7, 1 segment, 59 characters\]\|Invoice 123456 from Acme Corp due 5 days ago - amount 25000\|$' \
	"--preview prints deliveries readably"
sed -n 1p "$F/render-basic.in.ndjson" | jq -c .record >"$T/rec.ndjson"
alert-render -r "$R/ap-aging.rule" "${N[@]}" --preview "$T/rec.ndjson" >"$T/pv" 2>&1
like "$(cat "$T/pv")" "Invoice 123456 from Acme Corp due 5 days ago" "--preview also takes a record"

# Write errors and usage
alert-render -r "$R/ap-aging.rule" --no-state "${N[@]}" <"$F/render-basic.in.ndjson" >/dev/full 2>"$T/err"
is "$?" 74 "write error: 74"
alert-render 2>/dev/null
is "$?" 64 "no rule: usage error"

# valgrind over the render loop, digests and state
vg alert-render -r "$R/ap-aging.rule" --no-state "${N[@]}" <"$F/render-basic.in.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: alerts, errors, e-mail"
vg alert-render -r "$R/ap-digest.rule" --no-state "${N[@]}" <"$F/render-digest.in.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: e-mail digest"
vg alert-render -r "$R/quiet.rule" --now 2024-01-15T05:00:00Z <"$F/render-quiet.in.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: quiet hours with state"
vg alert-render -r "$R/ap-aging.rule" "${N[@]}" --preview "$F/render-basic.in.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: --preview (a leaked recipient object, found by ASan)"

# The man page's EXAMPLES, run as written (from the source tree).
is "$(man-examples -n "$TOP/man/alert-render.1")" 4 "alert-render.1 EXAMPLES: four displays"
(cd "$TOP" && man-examples -c man/alert-render.1 1 | bash) >/dev/null 2>&1
ok "alert-render.1 EXAMPLES: --check passes"
(cd "$TOP" && man-examples -c man/alert-render.1 2 | bash) >"$T/ex" 2>&1
is "$?" 65 "alert-render.1 EXAMPLES: --preview shows the fixture's bad line (65)"
grep -q 'Invoice 123456 from Acme Corp' "$T/ex"
ok "alert-render.1 EXAMPLES: --preview shows the message"
(cd "$TOP" && man-examples -c man/alert-render.1 3 | bash) >"$T/ex" 2>&1
grep -qx 'Invoice 123456 from Acme Corp due 5 days ago - amount 25000' "$T/ex"
ok "alert-render.1 EXAMPLES: the SMS body"
(cd "$TOP" && man-examples -c man/alert-render.1 4 | bash) >"$T/ex" 2>&1
is "$(cat "$T/ex")" '{"1":"Acme Corp","2":"123456","3":"25000"}
{"1":"Łódź Metalwerk Sp. z o.o.","2":"123457","3":"1234.50"}' \
	"alert-render.1 EXAMPLES: a WhatsApp template's variables, blanks made one space"

done_testing
