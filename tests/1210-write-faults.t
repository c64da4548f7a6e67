#!/usr/bin/env bash
# Write faults on stdout (issue 7).  tests/bin/writefault.so (an LD_PRELOAD
# shim, tests/src/writefault.c) fails write/writev on fd 1 once a byte budget
# is spent.  For every filter, cut at several points with EPIPE and ENOSPC:
#
#   whole mode: the write that would cross the budget fails with nothing
#     written (a pipe or a disk refusing a write).  The filter exits 74,
#     names the error, and what it wrote is whole lines only, exactly the
#     lines of a full run that fit in the budget; it makes no further write
#     after the refused one (the shim logs every refused call).
#   partial mode: that write is cut short at the budget and the next call
#     fails (a disk filling up in the middle of a write).  The filter
#     retries the remainder, gets the error, stops and exits 74.  Its output
#     is then the first N bytes of a full run: whole lines and one partial
#     last line.  That tail is what the full disk truncated; the run said so
#     (74 and a message), so nothing was lost silently.
#
# Also: a control run through the shim (no cut, short writes of 3 bytes)
# gives the full output, so the shim is known to engage and the writer's
# short-write loop reassembles lines; a real pipe with no reader gives 74
# for every filter (SIGPIPE not ignored by the shell: the filter ignores it);
# and twilio-send's results lost to a cut are not lost deliveries: the
# trail still holds them as queued, and the next run's reconcile finds the
# messages Twilio accepted without sending them again (twilio-send(1),
# ml-connector(8)).
. "$(dirname "$0")/lib.sh"

if [ "${MLC_SANITIZED:-0}" = 1 ]; then
	# ASan must come first in the library list; a preloaded object before it aborts the run.
	skip "write-fault shim: LD_PRELOAD conflicts with ASan's interception (MLC_SANITIZED=1)"
	done_testing
	exit 0
fi

SO=$TOP/tests/bin/writefault.so
NOW=2026-11-26T14:00:00Z
RULE=$TOP/data/rules/ap-aging.rule
F=$TOP/tests/fixtures
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7

# ---- the simulators, one configuration, one vault -----------------------
CONF_EXTRA="grace = 0.5"
. "$TOP/tests/fixtures/send-env.sh"
send_setup --latency 0
PW='s3cr3t-Pa55'
ais_start "$PW" || exit 1
AIS=$URL
{ echo; ais_conf "$AIS" "role = *ALL"; } >>"$ML_CONNECTOR_CONF"
ais_vault || exit 1

# Twelve deliveries of the same length, so every result line has one length.
for i in $(seq -w 1 12); do sms "w$i" "+155512100$i" "write fault $i"; done >"$T/deliveries"

# ---- helpers ---------------------------------------------------------------
# run_wf MODE ERRNO N TOOL ARGS...: run the filter (stdin $IN) with stdout
# cut after N bytes; sets rc; leaves $T/wf.out, $T/wf.err, $T/wf.log.
run_wf() {
	_mode=$1 _errno=$2 _after=$3
	shift 3
	rm -f "$T/wf.log"
	WRITEFAULT_MODE=$_mode WRITEFAULT_ERRNO=$_errno WRITEFAULT_AFTER=$_after \
		WRITEFAULT_LOG=$T/wf.log LD_PRELOAD=$SO "$@" <"$IN" >"$T/wf.out" 2>"$T/wf.err"
	rc=$?
}
# fit FILE N: how many whole lines of FILE fit in N bytes.
fit() { LC_ALL=C awk -v n="$2" '{ s += length($0) + 1; if (s > n) exit; k++ } END { print k + 0 }' "$1"; }
# whole_json FILE: empty, or newline-terminated lines that are each one JSON value.
whole_json() {
	[ ! -s "$1" ] && return 0
	[ -z "$(tail -c 1 "$1")" ] || return 1
	[ "$(jq -c . "$1" 2>/dev/null | wc -l)" = "$(wc -l <"$1")" ]
}
# prefix GOT FULL: GOT's bytes are the start of FULL's, after $NORM (a
# filter for what differs between runs: times, SIDs).
prefix() {
	cmp -s <($NORM <"$1") <(head -c "$(wc -c <"$1")" "$2" | $NORM)
}
# refused: calls the shim refused; partial: calls it cut short.
refused() { grep -c '^refused' "$T/wf.log" 2>/dev/null; }
partial() { grep -c '^partial' "$T/wf.log" 2>/dev/null; }
msg() { case $1 in EPIPE) echo 'Broken pipe' ;; ENOSPC) echo 'No space left on device' ;; esac; }

# check_filter NAME FULL TOOL ARGS...: the control runs and the cut matrix for
# one filter; FULL is the output of an uncut run.  ORDERED=0 when the lines
# may come in another order (twilio-send): then the checks are on line
# lengths and members instead of a byte prefix.
check_filter() {
	_name=$1 _full=$2
	shift 2
	_size=$(wc -c <"$_full" | tr -d ' ')
	_lines=$(wc -l <"$_full" | tr -d ' ')
	[ "$_lines" -ge 4 ]
	ok "$_name: the uncut run writes $_lines lines ($_size bytes) to cut"

	# Control: through the shim, never cut, 3 bytes a call.
	rm -f "$T/wf.log"
	WRITEFAULT_SHORT=3 WRITEFAULT_LOG=$T/wf.log LD_PRELOAD=$SO "$@" <"$IN" >"$T/wf.out" 2>"$T/wf.err"
	is "$?" 0 "$_name: control through the shim, 3-byte writes: exit 0"
	if [ "$ORDERED" = 1 ]; then
		cmp -s <($NORM <"$T/wf.out") <($NORM <"$_full")
	else
		[ "$(wc -c <"$T/wf.out")" -eq "$_size" ] && whole_json "$T/wf.out"
	fi
	ok "$_name: control: the full output, the short writes reassembled into whole lines"

	# The cut points: nothing, mid first line, after three lines, deep in the stream.
	_first=$(head -n 1 "$_full" | wc -c)
	_three=$(head -n 3 "$_full" | wc -c)
	for _cut in 0 $((_first / 2)) "$_three" $((_size * 3 / 4)); do
		for _e in EPIPE ENOSPC; do
			_w="$_name: whole, $_e after $_cut bytes"
			run_wf whole "$_e" "$_cut" "$@"
			is "$rc" 74 "$_w: exit 74"
			like "$(cat "$T/wf.err")" "$(msg "$_e")" "$_w: stderr names the error"
			_want=$(fit "$_full" "$_cut")
			if [ "$ORDERED" = 1 ]; then
				whole_json "$T/wf.out" && [ "$(wc -l <"$T/wf.out")" -eq "$_want" ] &&
					prefix "$T/wf.out" "$_full"
			else
				whole_json "$T/wf.out" && [ "$(wc -l <"$T/wf.out")" -eq "$_want" ] &&
					[ "$(wc -c <"$T/wf.out")" -eq "$(head -n "$_want" "$_full" | wc -c)" ]
			fi
			ok "$_w: output is the $_want whole lines that fit, no partial line"
			is "$(refused)" 1 "$_w: one write refused, none tried after it"
		done
	done

	# Partial: the crossing write is cut short, the retry of the rest fails.
	for _e in EPIPE ENOSPC; do
		if [ "$_e" = EPIPE ]; then _cut=$((_first / 2)); else _cut=$((_size * 3 / 4 + 1)); fi
		_w="$_name: partial, $_e after $_cut bytes"
		run_wf partial "$_e" "$_cut" "$@"
		is "$rc" 74 "$_w: exit 74"
		like "$(cat "$T/wf.err")" "$(msg "$_e")" "$_w: stderr names the error"
		_want=$(fit "$_full" "$_cut")
		if [ "$ORDERED" = 1 ]; then
			[ "$(wc -c <"$T/wf.out")" -eq "$_cut" ] && prefix "$T/wf.out" "$_full"
		else
			[ "$(wc -c <"$T/wf.out")" -eq "$_cut" ]
		fi
		ok "$_w: output is the first $_cut bytes of a full run"
		is "$(head -n "$_want" "$T/wf.out" | jq -c . 2>/dev/null | wc -l | tr -d ' ')" "$_want" \
			"$_w: the $_want lines before the cut are whole"
		is "$(partial):$(refused)" 1:1 "$_w: one short write, the rest retried once, refused, and it stopped"
	done
}

# real_pipe NAME TOOL ARGS...: stdout a pipe whose reader is gone (a FIFO
# opened read-write, then that end closed).  SIGPIPE keeps its default
# action here: a filter that did not ignore it would die of it (141).
real_pipe() {
	_name=$1
	shift
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	# shellcheck disable=SC2094 # both ends of the FIFO, on purpose
	exec 3<>"$T/fifo" 4>"$T/fifo"
	exec 3<&-
	(trap - PIPE; exec "$@" <"$IN" >&4 2>"$T/wf.err")
	rc=$?
	exec 4>&-
	is "$rc" 74 "$_name: a real pipe with no reader: exit 74, not killed by SIGPIPE"
	like "$(cat "$T/wf.err")" 'Broken pipe' "$_name: a real pipe with no reader: says Broken pipe"
}

# ---- jde-fetch against the AIS simulator -----------------------------------
IN=/dev/null ORDERED=1 NORM="tr 0-9 0"
jde-fetch -t F0411 -p 10 >"$T/full.jde" 2>"$T/err"
is "$?" 0 "jde-fetch: uncut run: exit 0"
check_filter jde-fetch "$T/full.jde" jde-fetch -t F0411 -p 10
is "$(curl -s "$AIS/_sim/state" | jq .sessions)" 0 "jde-fetch: every cut run logged out"
real_pipe jde-fetch jde-fetch -t F0411 -p 10

# ---- alert-match on the dataset's F0411 records ----------------------------
IN=$F/match-ap-aging.in.ndjson NORM=cat
alert-match -r "$RULE" --no-state --now "$NOW" <"$IN" >"$T/full.match" 2>"$T/err"
is "$?" 0 "alert-match: uncut run: exit 0"
check_filter alert-match "$T/full.match" alert-match -r "$RULE" --no-state --now "$NOW"
real_pipe alert-match alert-match -r "$RULE" --no-state --now "$NOW"

# ---- alert-render on alert-match's alerts ----------------------------------
IN=$T/full.match
alert-render -r "$RULE" --no-state --now "$NOW" <"$IN" >"$T/full.render" 2>"$T/err"
is "$?" 0 "alert-render: uncut run: exit 0"
check_filter alert-render "$T/full.render" alert-render -r "$RULE" --no-state --now "$NOW"
real_pipe alert-render alert-render -r "$RULE" --no-state --now "$NOW"

# ---- alert-log as the tee (a group per line, then the default groups) ------
IN=$F/match-ap-aging.in.ndjson
alert-log -d "$T/trail" -b 1 <"$IN" >"$T/full.log" 2>"$T/err"
is "$?" 0 "alert-log: uncut run: exit 0"
check_filter alert-log "$T/full.log" alert-log -d "$T/trail" -b 1
run_wf whole ENOSPC 1000 alert-log -d "$T/trail"
is "$rc:$(wc -c <"$T/wf.out" | tr -d ' '):$(refused)" 74:0:1 \
	"alert-log, default groups: the group that does not fit is refused whole, nothing after it"
real_pipe alert-log alert-log -d "$T/trail"
# Its commands too (status ignored the failed write of its header and exited
# 0; status rows and query's CSV header failed without a word).
alert-log -d "$T/trail" status >/dev/full 2>"$T/err"
is "$?:$(cat "$T/err")" "74:alert-log: write error on stdout: No space left on device" \
	"alert-log status: a write error is 74, and named"
alert-log -d "$T/trail" query -f csv >/dev/full 2>"$T/err"
is "$?:$(cat "$T/err")" "74:alert-log: write error on stdout: No space left on device" \
	"alert-log query -f csv: a write error is 74, and named"

# ---- twilio-send against the Twilio simulator ------------------------------
IN=$T/deliveries ORDERED=0
twilio-send <"$IN" >"$T/full.send" 2>"$T/err"
is "$?" 0 "twilio-send: uncut run: exit 0"
is "$(LC_ALL=C awk '{ print length($0) }' "$T/full.send" | sort -u | wc -l | tr -d ' ')" 1 \
	"twilio-send: every result line has the same length (so the cut points are exact)"
check_filter twilio-send "$T/full.send" twilio-send
real_pipe twilio-send twilio-send

# A cut loses result lines, not deliveries.  The audit trail holds every
# delivery as queued (recorded before the send); the results that were
# written are recorded as sent; ml-connector's next run replays the rest
# into twilio-send --reconcile, which finds what Twilio accepted and sends
# only what it did not.
# Twelve more of the same length: the first three results fit, the fourth,
# whose message Twilio accepted, is refused.
for i in $(seq -w 1 12); do sms "l$i" "+155513000$i" "lost result $i"; done >"$T/lost"
export ML_CONNECTOR_STATE
alert-log <"$T/lost" >/dev/null
rm -f "$T/wf.log"
WRITEFAULT_ERRNO=EPIPE WRITEFAULT_AFTER=$(head -n 3 "$T/full.send" | wc -c) WRITEFAULT_LOG=$T/wf.log \
	LD_PRELOAD=$SO twilio-send <"$T/lost" 2>"$T/wf.err" | alert-log >"$T/lost.out"
is "${PIPESTATUS[0]}:${PIPESTATUS[1]}:$(refused)" 74:0:1 "lost results: twilio-send 74, the tee 0"
is "$(jq -r .status "$T/lost.out" | sort | uniq -c | tr -s ' ')" " 3 queued" \
	"lost results: three results were written (and recorded as sent)"
posted=$(jq -c 'select(.kind == "request" and .method == "POST" and (.form.To // "" | startswith("+155513000")))' "$LOG" | wc -l)
[ "$posted" -gt 3 ]
ok "lost results: Twilio accepted $posted messages, more than the 3 results written"
alert-log replay --status queued >"$T/replay" 2>/dev/null
is "$(jq -r .delivery_id "$T/replay" | sort | tr '\n' ' ')" \
	"$(jq -r .delivery_id "$T/lost" | grep -vxF -f <(jq -r .delivery_id "$T/lost.out") | sort | tr '\n' ' ')" \
	"lost results: the trail replays the 9 deliveries with no recorded outcome"
twilio-send --reconcile <"$T/replay" 2>"$T/err" | alert-log >/dev/null
is "${PIPESTATUS[0]}" 0 "lost results: the reconciling run ends with every outcome known"
msgs=$(curl -sf "$SIM/_sim/messages" |
	jq -r 'select(.kind == "message" and (.resource.to | startswith("+155513000"))) | "\(.resource.to) \(.resource.body)"' |
	sort | uniq -c | tr -s ' ')
is "$msgs" "$(for i in $(seq -w 1 12); do echo " 1 +155513000$i lost result $i"; done)" \
	"lost results: every delivery is exactly one message in Twilio"
is "$(jq -r 'select(.kind == "request" and .method == "POST") | .form.To // empty' "$LOG" |
	grep '^+155513000' | sort | uniq -c | awk '$1 != 1' | wc -l | tr -d ' ')" 0 \
	"lost results: each created by exactly one request"
alert-log query --stage sent --lines | jq -c '.line | fromjson | select(.delivery_id | startswith("t:l"))' >"$T/sent"
is "$(wc -l <"$T/sent" | tr -d ' ')" 12 "lost results: the trail has all 12 as sent"
is "$(jq -r 'select(.reconciled) | .delivery_id' "$T/sent" | wc -l | tr -d ' ')" $((posted - 3)) \
	"lost results: the $((posted - 3)) Twilio had accepted came back reconciled, the rest were sent once"

done_testing
