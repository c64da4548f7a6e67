#!/usr/bin/env bash
# Man pages' EXAMPLES: tests/bin/man-examples (tests/src/man-examples.sh) is
# the one reader of them, which the tests that run a page's examples as
# written call.  Here: the reader's rules on a page made for them, every
# page's EXAMPLES read, every page whose examples can run locally is run by
# some test, and the examples no other test runs.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

# ---- the reader, on a page made to test it ----------------------------
cat >"$T/x.1" <<'EOP'
.Dd November 26, 2026
.Dt X 1
.Os
.Sh NAME
.Nm x
.Nd a page for man-examples
.Sh DESCRIPTION
.Bd -literal
not an example
.Ed
.Sh EXAMPLES
A transcript:
.Bd -literal -offset indent
$ printf '%s\en' 'a\ee' |
    cat
a\ee
$ echo '{"k":1,
  "v":2}' \e
    >/dev/null
$ echo \-x
\&./x
# echo root
-x
.Ed
.Pp
One line:
.Dl $ echo one
.Bd -literal
.\" a comment
plain
.Ed
.Sh SEE ALSO
.Bd -literal
not an example either
.Ed
EOP
is "$(man-examples -n "$T/x.1")" 3 "-n: the displays of EXAMPLES only (.Bd and .Dl)"
is "$(man-examples "$T/x.1" 3)" "plain" "a display's macro lines are dropped"
is "$(man-examples "$T/x.1" 2)" '$ echo one' ".Dl is a display"
printf '%s\n' "printf '%s\\n' 'a\\e' |" "    cat" "echo '{\"k\":1," "  \"v\":2}' \\" "    >/dev/null" \
	"echo -x" "echo root" >"$T/want.c"
man-examples -c "$T/x.1" 1 >"$T/got.c"
diff_ok "$T/got.c" "$T/want.c" "-c: the commands, \\e undone, continued by | or \\ or an indent"
printf '%s\n' 'a\e' './x' '-x' >"$T/want.o"
man-examples -o "$T/x.1" 1 >"$T/got.o"
diff_ok "$T/got.o" "$T/want.o" "-o: the output lines, \\& and \\- undone"
is "$(man-examples -c "$T/x.1" 1 | bash 2>&1)" "$(printf 'a\\e\n-x\nroot')" "the commands run"
man-examples "$T/x.1" 4 >/dev/null 2>"$T/err"
is "$?:$(cat "$T/err")" "65:man-examples: $T/x.1: 3 displays, no display 4" "no display 4: 65, named"
man-examples -n man/ml-connector.7 >/dev/null 2>&1
is "$?" 65 "a page without EXAMPLES: 65"
man-examples "$T/none.1" 1 2>/dev/null
is "$?" 66 "no such page: 66"
man-examples "$T/x.1" 0 2>/dev/null
is "$?" 64 "display 0: 64"

# ---- every page ---------------------------------------------------------
# A page's examples are run by the test that names the page in a
# man-examples call.  Not run anywhere, as they need root, a real JDE or
# Twilio, a web server or a long-running process: ml-connector.8 1, 2 and 5
# (root's installation, its demo (scripts/demo), the journal; 3 and 4, the
# live preview, run in 1175), twilio-status.8 1-5, jde-fetch.1
# 2-4, jde-join.1 2, twilio-send.1 1, 4, 5, alert-match.1 3, alert-log.1 1-2, mlc-vault.1
# 2, mlc-ais-sim.1 2-3 and mlc-twilio-sim.1 4.
not_run="ml-connector.8"
for m in man/*.[1-8]; do
	n=$(basename "$m")
	grep -q '^\.Sh EXAMPLES' "$m" || continue
	c=$(man-examples -n "$m")
	ok "$n: EXAMPLES read ($c displays)"
	if grep -qE "man-examples( -[con])? (\"\\\$TOP/)?man/$n" tests/*.t; then
		ok "$n: a test runs its EXAMPLES"
	elif printf '%s\n' "$not_run" | tr ' ' '\n' | grep -qx "$n"; then
		skip "$n: its EXAMPLES need a real system"
	else
		false
		ok "$n: a test runs its EXAMPLES, or this test says why none does"
	fi
done

# ---- the examples no other test runs ----------------------------------
# ml-connector(5): the abridged rule is a valid rule for every program.
mkdir -p "$T/rules"
man-examples man/ml-connector.5 1 >"$T/rules/ap-aging.rule"
for p in alert-match alert-render; do
	"$p" -r "$T/rules/ap-aging.rule" --check
	ok "ml-connector.5 EXAMPLES: $p --check accepts the rule"
done
is "$(mlc-rule cron "$T/rules/ap-aging.rule")" "$(printf '0 8 * * *\tAmerica/Chicago')" \
	"ml-connector.5 EXAMPLES: its schedule"
# ml-connector(5): the rule's recipients and message replaced by the
# WhatsApp example's: a template alert-render --check accepts.
mkdir -p "$T/rules/wa"
{
	sed '/^\[recipients\]/,$d' "$T/rules/ap-aging.rule"
	man-examples man/ml-connector.5 2
} >"$T/rules/wa/ap-aging.rule"
alert-render -r "$T/rules/wa/ap-aging.rule" --check
ok "ml-connector.5 EXAMPLES: alert-render --check accepts the WhatsApp template"
grep -q '^whatsapp_template  = HX' "$T/rules/wa/ap-aging.rule"
ok "ml-connector.5 EXAMPLES: the WhatsApp rule has its template"
# ml-connector(5): the [monitor] example is a configuration alert-log monitor
# takes (an empty trail: nothing to tell).
{ printf '[general]\ntimezone = America/Chicago\n'; man-examples man/ml-connector.5 3; } >"$T/monitor.conf"
ML_CONNECTOR_CONF=$T/monitor.conf ML_CONNECTOR_STATE=$T/monitor-state alert-log monitor >"$T/monitor.out"
is "$?/$(wc -c <"$T/monitor.out")" 0/0 "ml-connector.5 EXAMPLES: alert-log monitor takes the [monitor] example"

# mlc-twilio-sim(1): start, send one message, a WhatsApp window and a
# template, then the faults; in a
# directory of its own (the example writes its files where it runs).
mkdir -p "$T/tw"
{
	man-examples man/mlc-twilio-sim.1 1
	echo
	man-examples man/mlc-twilio-sim.1 3
	echo
	man-examples man/mlc-twilio-sim.1 2
	echo
	echo 'kill $!'
} >"$T/tw/ex.sh"
(cd "$T/tw" && bash ex.sh) >"$T/tw/out" 2>"$T/tw/err"
ok "mlc-twilio-sim.1 EXAMPLES: run"
# curl prints each answer without a newline: three JSON documents
is "$(jq -sr '.[0] | .status + " " + .to + " " + (.sid | test("^SM[0-9a-f]{32}$") | tostring)' "$T/tw/out")" \
	"queued +15551230001 true" "mlc-twilio-sim.1 EXAMPLES: the message is created"
is "$(jq -sc '.[1]' "$T/tw/out")" '{"ok":true,"windows":1}' "mlc-twilio-sim.1 EXAMPLES: the window set"
is "$(jq -sr '.[2] | .status + " " + .to' "$T/tw/out")" "queued whatsapp:+15551230003" \
	"mlc-twilio-sim.1 EXAMPLES: the template is created"
is "$(jq -sc '.[3:]' "$T/tw/out")" '[{"ok":true,"added":1},{"ok":true,"added":1}]' \
	"mlc-twilio-sim.1 EXAMPLES: both faults accepted"

done_testing
