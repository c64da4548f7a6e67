#!/usr/bin/env bash
# One template scanner (jqrule.c's mlc_jq_template_scan), jq 1.6's lexical
# rules: inside \( ... ) a # starts a comment to the end of the line, and a
# \(, a ) or a " in a comment is none of those; in the text and in strings
# inside an interpolation, # is a character.  Each template renders the
# same through jq itself (the program written by hand), through jqrule.c
# (tests/bin/jq-run -t) and through alert-render, whose rule writes it
# with continuation lines.
. "$(dirname "$0")/lib.sh"

# case_ NAME EXPECTED TEMPLATE-LINES... -- PROGRAM-LINES...: the template
# as a rule writes it, and the jq program (the bare quotes of the text
# escaped by hand) that it stands for.
n=0
case_() {
	name=$1 want=$2
	shift 2
	: >"$T/$name.tmpl"
	while [ "$1" != -- ]; do printf '%s\n' "$1" >>"$T/$name.tmpl"; shift; done
	shift
	printf '%s\n' "$@" >"$T/$name.jq"
	n=$((n + 1))

	is "$(jq -c -f "$T/$name.jq" <<<'{"a":5}' 2>&1)" "$want" "$name: jq 1.6 itself"

	tmpl=$(cat "$T/$name.tmpl")
	is "$(jq-run -t "$tmpl" <<<'{"a":5}' 2>&1)" "$want" "$name: jqrule.c (jq-run -t)"

	# The rule: the first line after "sms = ", the others as continuations.
	{
		printf '[rule]\nname = scan%d\n\n[recipients]\nto = +13125550100\nchannels = sms\n\n[message]\n' "$n"
		sed -e '1s/^/sms = /' -e '2,$s/^/  /' "$T/$name.tmpl"
	} >"$T/scan$n.rule"
	alert-render -r "$T/scan$n.rule" --check 2>"$T/err"
	is "$?" 0 "$name: alert-render --check"
	[ -s "$T/err" ] && sed 's/^/#   /' "$T/err"
	printf '{"alert_id":"scan%d:1","rule":"scan%d","severity":"warning","table":"F0411","key":"1","record":{"a":5},"recipients":[{"to":"+13125550100","sms":"+13125550100"}],"channels":["sms"],"matched_at":"2024-01-15T14:00:00.000Z"}\n' "$n" "$n" |
		alert-render -r "$T/scan$n.rule" --no-state --now 2024-01-15T14:00:00Z >"$T/out" 2>"$T/err"
	is "$(jq -c .body "$T/out" 2>&1)" "$want" "$name: alert-render"
	[ -s "$T/err" ] && sed 's/^/#   /' "$T/err"
}

case_ "a quote in a comment" '"x 5 inches"' \
	'x \(.a # 5" pipe' ') inches' -- \
	'"x \(.a # 5" pipe' ') inches"'
case_ "a ) in a comment" '"x 5 \"quoted\""' \
	'x \(.a # ) closes nothing' ') "quoted"' -- \
	'"x \(.a # ) closes nothing' ') \"quoted\""'
case_ 'a \( in a comment' '"x 5 y"' \
	'x \(.a # \(' ') y' -- \
	'"x \(.a # \(' ') y"'
case_ "a comment in an interpolation in a string in an interpolation" '"x #5#"' \
	'x \("#\(.a # )"' ')" + "#")' -- \
	'"x \("#\(.a # )"' ')" + "#")"'
case_ "a # in a string in an interpolation" '"a#b)"' \
	'\("a#b" + ")")' -- \
	'"\("a#b" + ")")"'
case_ "a # in the text" '"# 5 #"' \
	'# \(.a) #' -- \
	'"# \(.a) #"'

# Not closed: the comment runs to the end, and both say so the same way.
jq-run -t 'x \(.a # no newline)' <<<'{"a":5}' >/dev/null 2>"$T/err"
is "$?" 78 "an interpolation a comment leaves open: jq-run refuses it"
like "$(cat "$T/err")" 'unterminated \\\( in template' "jq-run: unterminated"
printf '[rule]\nname = open\n\n[message]\nsms = x \\(.a # no newline)\n' >"$T/open.rule"
alert-render -r "$T/open.rule" --check 2>"$T/err"
is "$?" 78 "alert-render --check refuses it"
like "$(cat "$T/err")" 'open\.rule:5: template sms: unterminated \\\( in template' \
	"alert-render: unterminated, with file and line"

done_testing
