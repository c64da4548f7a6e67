#!/usr/bin/env bash
# The plain template forms in C (jqrule.c, mlc_tmpl_plain) against jq 1.6
# itself: the same templates on the same inputs render the same, byte for
# byte, through tests/bin/jq-run with -C (C where it can) and without (jq
# only), including nulls, missing members, numbers of every shape, escapes,
# UTF-8, long strings and the inputs where jq stops with an error (those
# go to jq: its message).  Then alert-render on the render fixtures with
# the C path on and forced off (MLC_TEMPLATE_JQ=1): stdout and stderr the
# same.
. "$(dirname "$0")/lib.sh"

R=$TOP/tests/fixtures/render-rules
F=$TOP/tests/fixtures
NOW=2024-01-15T14:00:00Z
long=$(printf 'x%.0s' $(seq 1 3000))

# The inputs: every value in .a, .b, .d (a date) and .o.p.
vals=(null '""' '" "' '"  x  "' '"\t\r\n y \n"' '"a\n  b"' '"é ü Łódź €"' '"<b>&\"'"'"'</b>"'
	'"\\u0000z"' '"\u00e9"' '"\ud83d\ude00"' "\"$long\"" 0 -0 1 -1 1.5 -1.005 0.1 0.125
	1234.5 -1234.567 25000 1e17 1e-7 100000000000000000000 1e300 -1e300 123456789012.345
	0.005 0.015 2.675 9.995 true false '[1,2]' '{"x":1}' '"12"' '" 1234.5 "' '"-0"'
	'"1e3"' '"nan"' '"abc"' '"[1]"' '"2024-01-10"' '"2024-01-10T12:00:00Z"' '"2023-02-29"'
	'"1999-12-31"' '"0000-01-01"' '"2024-1-10"' '"2024-13-40"' '"x\n2024-01-10"')
for v in "${vals[@]}"; do
	# jq 1.6's tonumber leaks the array it parsed from "[1]" (libjq, not
	# ours): left out of the sanitizer run, whose leak check would fail
	[ "${MLC_SANITIZED:-0}" = 1 ] && [ "$v" = '"[1]"' ] && continue
	printf '{"a":%s,"b":%s,"d":%s,"o":{"p":%s},"n":null}\n' "$v" '"B"' "$v" "$v"
	printf '{"a":%s}\n' "$v"
	printf '{"b":%s,"o":%s}\n' "$v" "$v"
done >"$T/in"
printf '{}\n{"o":null}\n{"o":"s"}\n{"o":[]}\n' >>"$T/in"
lines=$(wc -l <"$T/in")

# same MODE TEMPLATE PLAIN: -C and jq-only give the same output; PLAIN 1:
# the C path took some lines (the others: jq's errors, nan), 0: none.
same() {
	mode=$1 tmpl=$2 plain=$3 name=$(printf "%s" "$2" | tr "\n" " ")
	jq-run "$mode" -n "$NOW" -z America/Chicago "$tmpl" <"$T/in" >"$T/jq" 2>&1
	jq-run "$mode" -C -n "$NOW" -z America/Chicago "$tmpl" <"$T/in" >"$T/c" 2>"$T/c.err"
	if cmp -s "$T/jq" "$T/c"; then
		ok "$mode '$name': the same $(wc -l <"$T/c") lines"
	else
		diff_ok "$T/jq" "$T/c" "$mode '$name': the same lines"
	fi
	nc=$(sed -n 's/^c \([0-9]*\) jq .*/\1/p' "$T/c.err")
	if [ "$plain" = 1 ]; then
		[ "${nc:-0}" -gt 0 ]
		ok "$mode '$name': in C for $nc of $lines lines"
	else
		is "$nc" 0 "$mode '$name': not a plain form, jq renders it"
	fi
}

same -t 'x \(.a) y \(.o.p) z \(.n.q.r)' 1
same -H '<p>\(.a)</p>' 1
same -t '\(.a // "USD" | trim)' 1
same -t '\(.a // .b // "none") \(.a | trim)' 1
same -t '\(.a | amount)' 1
same -t '\( .o.p | amount(",") )' 1
same -H 'é "\(.a | amount(" "))" \u00e9 \n\t\\ \/ \"' 1
same -t '\(.d | days_ago)' 1
same -t '\(.o.p // "2024-02-29" | days_ago) \(.d | days_ago)' 1
same -t '\(first_nonblank(.a, .o.p, .b))' 1
same -H '\(first_nonblank(.o.p // .a, "dash") | trim)' 1
same -t '\(.a | trim | amount | trim)' 1
same -t 'just text, "quoted" \\( not an interpolation' 1
same -t '\(.a | tostring)' 0
same -t '\(.a # a comment
)' 0

# wire.c's parser against jq's (MLC_WIRE_JQPARSE=1): the same value for
# every line, numbers of every shape, escapes, repeated names, deep
# nesting, and what plain JSON does not allow (jq's parser decides those).
{
	for v in "${vals[@]}" 0.1e1 1E+2 -0.0 0e0 1e400 -1e400 4.9e-324 2.5e-324 1e-400 \
		9007199254740993 123456789012345678901234 0.30000000000000004 \
		1.7976931348623157e308 '"\/\b\f\n\r\t\\\""' '"a\u00e9\ud83d\ude00"' \
		'[]' '{}' '[[[[[[[[1]]]]]]]]' '[1 , 2 ,"x" ]' nan '01' '1.' '.5' '+1' '-' '1e' \
		'[1,]' '"\x"' tru nulll; do
		printf '{"v":%s,"k":1,"k":%s}\n' "$v" "$v"
		printf ' \t{ "v" : [ %s , {"w":%s} ] }\r\n' "$v" "$v"
	done
	printf '{"a":1}{"b":2}\n{"a":1} x\n{"a":"\t"}\n[1]\n"s"\n\n   \n'
	printf '{"d":%s1%s}\n' "$(printf '[%.0s' $(seq 1 300))" "$(printf ']%.0s' $(seq 1 300))"
	printf '{"d":%s1%s}\n' "$(printf '[%.0s' $(seq 1 199))" "$(printf ']%.0s' $(seq 1 199))"
	cat "$F"/render-*.in.ndjson
} >"$T/wire.in"
jq-run -W . <"$T/wire.in" >"$T/wire.fast" 2>&1
MLC_WIRE_JQPARSE=1 jq-run -W . <"$T/wire.in" >"$T/wire.jq" 2>&1
diff_ok "$T/wire.jq" "$T/wire.fast" "wire.c's parser gives jq's value for each of $(wc -l <"$T/wire.in") lines"
is "$(grep -c refused "$T/wire.fast")" "$(grep -c refused "$T/wire.jq")" "and refuses the same lines"

# mlc_jq_dump against jv_dump_string: every value of the corpora above,
# and the edges of its two short cuts (whole numbers below 10^15, strings
# without control characters or DEL).
{
	cut -d , -f 1 "$T/in" | sed 's/^{"a"://; s/}$//'
	for v in 1 -1 2.0 999999999999999 -999999999999999 1000000000000000 1000000000000001 \
		1e15 1e16 123456789012345 0.5 -0.5 1e-5 '"a\"b\\c"' '"\u007f"' '"\t x"' '"\u001f"' \
		'"é€😀"' '"\u0000"' '"<&>"'; do
		echo "$v"
	done
} | grep -v '^$' | sed 's/^/{"v":/; s/$/}/' >"$T/dump.in"
jq-run .v <"$T/dump.in" >"$T/dump.jq" 2>&1
jq-run -D .v <"$T/dump.in" >"$T/dump.c" 2>&1
diff_ok "$T/dump.jq" "$T/dump.c" "mlc_jq_dump writes jv_dump_string's text for $(wc -l <"$T/dump.in") values"

# alert-render on the fixtures: C on, and forced off.  The digest's rows
# are rendered once per alert for all its recipients, unless a cell reads
# .recipient (recipient/ap-digest): then once per recipient.
mkdir -p "$T/rules/recipient"
cp "$R"/*.rule "$T/rules/"
sed -e '/^row /s/\\(\.contacts\.vendor\.name)/\\(.recipient.email)/' \
	"$R/ap-digest.rule" >"$T/rules/recipient/ap-digest.rule"
grep -q '^row .*recipient.email' "$T/rules/recipient/ap-digest.rule"
ok "a digest row that reads .recipient"
R=$T/rules
while read -r fx rule now; do
	alert-render -r "$R/$rule.rule" --no-state --now "$now" <"$F/$fx.in.ndjson" \
		>"$T/$fx.c" 2>"$T/$fx.c.err"
	echo "$?" >>"$T/$fx.c.err"
	MLC_TEMPLATE_JQ=1 alert-render -r "$R/$rule.rule" --no-state --now "$now" \
		<"$F/$fx.in.ndjson" >"$T/$fx.jq" 2>"$T/$fx.jq.err"
	echo "$?" >>"$T/$fx.jq.err"
	cmp -s "$T/$fx.c" "$T/$fx.jq" && cmp -s "$T/$fx.c.err" "$T/$fx.jq.err"
	ok "alert-render $fx: the same deliveries and messages, C on and off"
done <<EOF2
render-basic ap-aging $NOW
render-digest ap-digest $NOW
render-sms-digest sms-digest $NOW
render-translit translit $NOW
render-caps caps $NOW
render-wa-template wa-template $NOW
render-quiet-drop quiet-drop 2024-01-15T04:30:00Z
render-digest recipient/ap-digest $NOW
EOF2
is "$(jq -r 'select(.digest) | . as $d | "\(.to) \(.text | contains("   " + $d.to + "  "))"' "$T/render-digest.c" | sort | tr '\n' ' ')" \
	"dana.ruiz@hartmann.example true finance@hartmann.example true " \
	"each recipient's digest rows show its own address"

# The digest spool remembers 64 groups by key: 200 alerts, each to its own
# address and to the finance mailbox, alternating with 3 addresses that
# return; every digest counts its alerts (keys evicted and met again).
head -n 1 "$F/render-digest.in.ndjson" >"$T/one"
for i in $(seq 1 200); do
	sed -e "s/100000/$((200000 + i))/g" -e "s/dana.ruiz@hartmann.example/v$((i % 2 ? i : i % 3))@x.example/" "$T/one"
done >"$T/many.in"
alert-render -r "$TOP/tests/fixtures/render-rules/ap-digest.rule" --no-state --now "$NOW" \
	<"$T/many.in" >"$T/many.out" 2>/dev/null
is "$(jq -r 'select(.digest) | "\(.to) \(.alert_count)"' "$T/many.out" | sort)" \
	"$(jq -r '.recipients[].email' "$T/many.in" | sort | uniq -c | awk '{ print $2, $1 }' | sort)" \
	"200 alerts, $(jq -r '.recipients[].email' "$T/many.in" | sort -u | wc -l) digests: each counts the alerts sent to its address"

# alert-render builds only the record's members its templates read
# (mlc_wire_line_keep): the same output as from the whole line
# (MLC_WIRE_JQPARSE=1, jq's parser) and with the templates in jq
# (MLC_TEMPLATE_JQ=1, nothing left out).  Members left out that hold
# nested values, escapes, a long number or a \u escape (the line then goes
# to jq's parser, whole), a repeated member, a path read both whole and
# into (.contacts, .row), a storm summary (its record's storm_limit, date).
# The paths read again by the templates of one alert are looked up once
# (mlc_tmpl_memo), but for .recipient and .channel: an alert to two
# recipients on two channels, whose texts show both.
mkdir -p "$T/keep"
sed -e 's/^sms = .*/sms = \\(.row.F0411_DOC) \\(.contacts.vendor.name) \\(.dates.DDJ | days_ago) \\(.row.F0411_AAP | amount)/' \
	-e 's/^text = .*/text = \\(.contacts) \\(.row.F0411_AN8) \\(.channel) \\(.recipient.name) \\(.row.F0411_DOC)/' \
	-e 's/^subject = .*/subject = \\(.recipient.name) \\(.channel) \\(.row.F0411_DOC)/' \
	-e '/^sms = /s/$/ \\(.channel) \\(.recipient.name)/' \
	-e 's/^html = .*/html = <p>\\(.row)<\/p> \\(.contacts.vendor.an8 \/\/ "none")/' \
	"$TOP/tests/fixtures/render-rules/ap-aging.rule" | grep -v '^  was due' >"$T/keep/ap-aging.rule"
grep -q '^text = \\(.contacts)' "$T/keep/ap-aging.rule"
ok "a rule that reads .contacts and .row whole and into"
{
	cat "$F/render-basic.in.ndjson"
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.record += {"a/b":{"deep":[1,{"x":"y\n\t\"z"}]},
		"n":[true,false,null,-1.5e3,{}],"s":"\\\/"} | .record.row += {"F0411_X":"x","F0411_Y":[1,2]}
		| .record.contacts.vendor += {"phone":"+1 555","alt":{"k":[]}} | .alert_id += ":more"'
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.record.row.F0411_Z = "\u00e9" | .alert_id += ":u"' |
		sed 's/\\u00e9/\\u00e9/; s/"F0411_Z":"é"/"F0411_Z":"\\u00e9"/'
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.alert_id += ":num"' |
		sed 's/"fetched_at"/"big":1234567890123456789012345678,"fetched_at"/'
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.alert_id += ":dup"' |
		sed 's/"dates":{"DDJ":"2024-01-10"}/"dates":{"DDJ":"2024-01-10"},"dates":{"DDJ":"2024-01-12","x":1}/'
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.alert_id += ":two" | .recipients += [.recipients[0]
		| .name = "Second" | .sms = "+13125550148" | .email = "b@acme.example"]'
	head -n 1 "$F/render-basic.in.ndjson" | jq -c '.alert_id += ":storm" | .storm = true | .count = 5
		| .alerts = ["a","b"] | .record = {"storm_limit":3,"date":"2024-01-15","other":{"x":1}}'
} >"$T/keep.in"
grep -q '"big":1234567890123456789012345678,' "$T/keep.in" && grep -q 'F0411_Z":"\\u00e9' "$T/keep.in"
ok "the lines: $(wc -l <"$T/keep.in")"
for how in fast jqparse jqtmpl; do
	case $how in
	fast) env=X=1 ;;
	jqparse) env=MLC_WIRE_JQPARSE=1 ;;
	*) env=MLC_TEMPLATE_JQ=1 ;;
	esac
	env "$env" alert-render -r "$T/keep/ap-aging.rule" --no-state --now "$NOW" <"$T/keep.in" \
		>"$T/keep.$how" 2>"$T/keep.$how.err"
	echo "$?" >>"$T/keep.$how.err"
done
grep -q '"storm":true\|Alert storm' "$T/keep.fast"
ok "the storm summary rendered"
is "$(grep -c ':two/' "$T/keep.fast")" 4 "two recipients, two channels: four deliveries"
grep ':two/sms/+13125550148' "$T/keep.fast" | grep -q 'sms Second'
ok "each delivery's texts name its own channel and recipient"
grep ':two/email/b@acme.example' "$T/keep.fast" | grep -q '"subject":"Second email'
ok "and so does an e-mail's subject"
grep -q '2024-01-12' "$T/keep.fast" || grep -q 'was due' "$T/keep.fast" || true
diff_ok "$T/keep.jqparse" "$T/keep.fast" "the record's members left out: the deliveries of the whole line"
diff_ok "$T/keep.jqparse.err" "$T/keep.fast.err" "and its messages"
diff_ok "$T/keep.jqtmpl" "$T/keep.fast" "the deliveries of the templates in jq"
diff_ok "$T/keep.jqtmpl.err" "$T/keep.fast.err" "and their messages"

done_testing
