#!/usr/bin/env bash
# conf.c: the key = value format of ml-connector.conf and rule files.
. "$(dirname "$0")/lib.sh"

cat >"$T/a.conf" <<'CONF'
# comment
; also a comment
top = level

[ais]
url   =   https://ais.example.com:9300/   
user=JDE
[rule]
match = .row.F0411_AAP != 0
    and .dates.DDJ < "2024-01-01"
	| not
sms = Invoice \(.doc) = "x"
recipient = a
recipient = b
CONF
conf-dump "$T/a.conf" >"$T/out"
is "$?" 0 "parses"
cat >"$T/want" <<'WANT'
{"line":3,"section":"","key":"top","value":"level"}
{"line":6,"section":"ais","key":"url","value":"https://ais.example.com:9300/"}
{"line":7,"section":"ais","key":"user","value":"JDE"}
{"line":9,"section":"rule","key":"match","value":".row.F0411_AAP != 0\nand .dates.DDJ < \"2024-01-01\"\n| not"}
{"line":12,"section":"rule","key":"sms","value":"Invoice \\(.doc) = \"x\""}
{"line":13,"section":"rule","key":"recipient","value":"a"}
{"line":14,"section":"rule","key":"recipient","value":"b"}
WANT
diff_ok "$T/out" "$T/want" "entries, sections, continuations, trimming, '=' inside values"

conf-dump "$T/a.conf" .top ais.url ais.user rule.match rule.sms 'rule.recipient*' >/dev/null
is "$?" 0 "schema with a repeatable key accepts"
conf-dump "$T/a.conf" .top ais.url ais.user rule.match rule.sms rule.recipient 2>"$T/err" >/dev/null
is "$?" 78 "a repeated single key is a config error"
is "$(cat "$T/err")" "conf-dump: $T/a.conf:14: \"recipient\" given twice (first on line 13)" \
	"repeat named with both lines"
conf-dump "$T/a.conf" .top ais.url rule.match rule.sms 'rule.recipient*' 2>"$T/err" >/dev/null
is "$?" 78 "unknown key"
is "$(cat "$T/err")" "conf-dump: $T/a.conf:7: unknown key \"user\" in [ais]" "unknown key named with line"
conf-dump "$T/a.conf" .top ais.url ais.user 2>"$T/err" >/dev/null
is "$(cat "$T/err")" "conf-dump: $T/a.conf:9: unknown section [rule]" "unknown section named"
conf-dump "$T/a.conf" 'ais.*' 'rule.*' .top >/dev/null
is "$?" 0 "section wildcard"

bad() { # bad NAME CONTENT EXPECTED-MESSAGE
	printf '%b' "$2" >"$T/$1.conf"
	conf-dump "$T/$1.conf" >/dev/null 2>"$T/err"
	is "$?" 78 "$1: config error"
	like "$(cat "$T/err")" "$3" "$1: message"
}
bad orphan '  indented first\n' ':1: indented line does not continue a value'
bad noeq '[a]\nkey value\n' ':2: expected "=" after key "key"'
bad badsec '[A b]\n' ':1: bad section header'
bad badkey '[a]\nKey = 1\n' ':2: expected "key = value"'
bad utf8 'a = \377\n' 'not valid UTF-8'
bad nul 'a = x\000y\n' 'NUL byte'
conf-dump "$T/missing.conf" 2>"$T/err"
like "$(cat "$T/err")" 'missing.conf: No such file or directory' "missing file named"

# A blank line ends a value; a later indented line is then an error.
printf '[a]\nk = 1\n  2\n\n  3\n' >"$T/blank.conf"
conf-dump "$T/blank.conf" 2>"$T/err" >/dev/null
like "$(cat "$T/err")" ':5: indented line' "blank line ends a continued value"

vg conf-dump "$T/a.conf" .top ais.url ais.user rule.match rule.sms 'rule.recipient*' >/dev/null
is "$?" 0 "parser clean under valgrind"
vg conf-dump "$T/a.conf" .top >/dev/null 2>&1
is "$?" 78 "error path clean under valgrind"

done_testing
