#!/usr/bin/env bash
# Messages (util.c mlc_log_line, and mlc-conf log for the orchestrator):
# the rule and run of ML_CONNECTOR_RULE and ML_CONNECTOR_RUN_ID in every
# line, journald priorities when JOURNAL_STREAM names stderr, and
# ML_CONNECTOR_LOG=json with correct string escaping; a whole orchestrator
# run, whose stages and own lines all name the rule and the run.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"
unset ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID ML_CONNECTOR_LOG JOURNAL_STREAM

# ---- text ------------------------------------------------------------------
printf '{"a":1}\n{"b' | ndjson-cat >/dev/null 2>"$T/err"
is "$(cat "$T/err")" "ndjson-cat: stdin: line 2: truncated input (no newline at end); line discarded" \
	"no rule or run in the environment: PROG: MESSAGE, as always"
printf '{"b' | ML_CONNECTOR_RULE=ap-aging ML_CONNECTOR_RUN_ID=R-1 ndjson-cat >/dev/null 2>"$T/err"
like "$(cat "$T/err")" '^ndjson-cat: rule=ap-aging run=R-1: stdin: line 1: truncated input' \
	"a stage of a run: PROG: rule=RULE run=ID: MESSAGE"
printf '{"b' | ML_CONNECTOR_RUN_ID=R-1 ndjson-cat >/dev/null 2>"$T/err"
like "$(cat "$T/err")" '^ndjson-cat: run=R-1: stdin: line 1' "a run id alone: PROG: run=ID: MESSAGE"
printf 'hello\n' | ML_CONNECTOR_RULE=ap-aging mlc-conf log info 2>"$T/err"
is "$(cat "$T/err")" "ml-connector: rule=ap-aging: hello" "mlc-conf log: the orchestrator's line, named ml-connector"
printf '{"b' | ML_CONNECTOR_LOG=yaml ndjson-cat >/dev/null 2>"$T/err"
like "$(cat "$T/err")" '^ndjson-cat: stdin' "ML_CONNECTOR_LOG other than json: text"
mlc-rule path "$(printf 'x\ny')" 2>"$T/err"
is "$(cat "$T/err")" 'mlc-rule: bad rule name "x y" (a-z 0-9 - _, not first -)' \
	"text: a line break from the data does not make a second line"
ML_CONNECTOR_LOG=json mlc-rule path "$(printf 'x\ny')" 2>"$T/err"
is "$(grep -c . "$T/err")/$(jq -r .msg "$T/err" | head -n 1)" '1/bad rule name "x' "json: it is kept, escaped, in one line"
printf 'x\n' | mlc-conf log notice 2>"$T/err"
is "$?/$(head -n 1 "$T/err")" "64/mlc-conf: log notice: expected error, warning, info or debug" \
	"mlc-conf log: an unknown level is a usage error"

# ---- json ------------------------------------------------------------------
# The hard bytes: quote, backslash, tab, other controls, DEL, UTF-8, bad UTF-8.
printf 'q"uote b\\ack\ttab \001\037 del\177 caf\303\251 bad\377 end\n' >"$T/hard"
ML_CONNECTOR_LOG=json ML_CONNECTOR_RULE='r"x' ML_CONNECTOR_RUN_ID='i\d' mlc-conf log warning <"$T/hard" 2>"$T/err"
is "$(grep -c . "$T/err")" 1 "json: one line for one message"
is "$(jq -c 'keys_unsorted' "$T/err")" '["ts","prog","level","rule","run","msg"]' "json: ts, prog, level, rule, run, msg"
is "$(jq -r '.msg' "$T/err" | od -An -c | tr -s ' ')" \
	"$(printf 'q"uote b\\ack\ttab \001\037 del\177 caf\303\251 bad\357\277\275 end\n' | od -An -c | tr -s ' ')" \
	"json: the message comes back byte for byte (bad UTF-8 as U+FFFD)"
is "$(jq -r '"\(.prog) \(.level) \(.rule) \(.run)"' "$T/err")" 'ml-connector warning r"x i\d' "json: rule and run escaped too"
like "$(jq -r .ts "$T/err")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' "json: ts in RFC 3339, UTC"
grep -q -P '[\x00-\x1f]' "$T/err"
is "$?" 1 "json: no raw control character on the line"
printf 'garbage "line"\n' >"$T/bad.conf"
ML_CONNECTOR_LOG=json mlc-conf -c "$T/bad.conf" get a b 2>"$T/err"
is "$?/$(jq -r '"\(.prog) \(.level) \(.msg)"' "$T/err")" "78/mlc-conf error $T/bad.conf:1: expected \"=\" after key \"garbage\"" \
	"json: a C program's fatal error (mlc_die) is level error, its quotes intact"
printf '{"b' | ML_CONNECTOR_LOG=json ndjson-cat >/dev/null 2>"$T/err"
is "$(jq -r '"\(.prog) \(.level) \(has("rule")) \(.msg)"' "$T/err")" \
	"ndjson-cat warning false stdin: line 1: truncated input (no newline at end); line discarded" \
	"json: a warning (mlc_warn); no rule member outside a run"

# mlc-conf(1) EXAMPLES 3: the orchestrator's way to a message
man-examples -c "$TOP/man/mlc-conf.1" 3 >"$T/ex.sh"
man-examples -o "$TOP/man/mlc-conf.1" 3 >"$T/ex.want"
bash "$T/ex.sh" >"$T/ex.got" 2>&1
diff_ok "$T/ex.got" "$T/ex.want" "mlc-conf.1 EXAMPLES 3: text and json messages as shown"

# ---- journald ----------------------------------------------------------------
# systemd sets JOURNAL_STREAM to the device:inode of the stream it connected;
# a file's own stands in for the journal's socket.
: >"$T/journal"
JS=$(stat -L -c '%d:%i' "$T/journal")
{
	printf '{"b' | JOURNAL_STREAM=$JS ndjson-cat >/dev/null
	JOURNAL_STREAM=$JS mlc-conf -c "$T/bad.conf" get a b
	printf 'note\n' | JOURNAL_STREAM=$JS mlc-conf log info
	printf 'trace\n' | JOURNAL_STREAM=$JS mlc-conf log debug
	printf 'j\n' | JOURNAL_STREAM=$JS ML_CONNECTOR_LOG=json mlc-conf log warning
} 2>>"$T/journal"
is "$(grep -o '^<[0-9]>[a-z{-]*' "$T/journal" | tr '\n' ' ')" "<4>ndjson-cat <3>mlc-conf <6>ml-connector <7>ml-connector <4>{ " \
	"JOURNAL_STREAM is stderr: <4> warning, <3> error, <6> info, <7> debug; json lines too"
is "$(grep '^<4>{' "$T/journal" | cut -c4- | jq -r .level)" warning "and the JSON after the prefix is whole"
printf '{"b' | JOURNAL_STREAM=$JS ndjson-cat >/dev/null 2>"$T/other"
like "$(cat "$T/other")" '^ndjson-cat: ' "JOURNAL_STREAM names another stream (stderr redirected): no prefix"
printf '{"b' | JOURNAL_STREAM=junk ndjson-cat >/dev/null 2>"$T/other"
like "$(cat "$T/other")" '^ndjson-cat: ' "JOURNAL_STREAM not DEVICE:INODE: no prefix"

# ---- a run of the orchestrator ----------------------------------------------
# No AIS needed: a configuration without [ais] environment fails the fetch
# and the join at once (78); every line still belongs to the run.
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RULES=$T/rules
mkdir -p "$T/rules"
cp "$TOP/data/rules/ap-aging.rule" "$T/rules/"
printf '[general]\ndefault_country = 1\n[ais]\nurl = http://127.0.0.1:1\nuser = JDE\n' >"$ML_CONNECTOR_CONF"
mlc-vault init >/dev/null 2>&1
ml-connector run ap-aging 2>"$T/run.err"
is "$?" 78 "the run fails: configuration error"
run=$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT run_id FROM run WHERE rule = 'ap-aging'")
like "$run" '^[0-9]{8}T[0-9]{6}Z-' "the trail has the run"
is "$(grep -c -v "^[a-z-]*: rule=ap-aging run=$run: " "$T/run.err")" 0 \
	"text: every line of the run names rule and run ($(grep -c . "$T/run.err") lines)"
like "$(cut -d: -f1 "$T/run.err" | sort -u | tr '\n' ' ')" 'jde-fetch .*ml-connector ' "stages and the orchestrator alike"
ML_CONNECTOR_LOG=json ml-connector run ap-aging 2>"$T/json.err"
run=$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT run_id FROM run WHERE rule = 'ap-aging' ORDER BY started_at DESC, rowid DESC LIMIT 1")
is "$(jq -c . "$T/json.err" 2>&1 | grep -c -v '^{')" 0 "json: every line of the run is a JSON object"
is "$(jq -r --arg r "$run" 'select(.rule != "ap-aging" or .run != $r) | .msg' "$T/json.err")" "" \
	"json: each names the rule and the run"
is "$(jq -r 'select(.prog == "ml-connector") | .level' "$T/json.err")" error "json: the orchestrator's failed run is level error"
is "$(jq -r 'select(.prog == "jde-fetch") | .level' "$T/json.err")" error "json: jde-fetch's configuration error is level error"
ml-connector frobnicate 2>"$T/err"
is "$(head -n 1 "$T/err")" 'ml-connector: unknown command "frobnicate"' "outside a run: no rule, no run"

done_testing
