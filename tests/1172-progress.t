#!/usr/bin/env bash
# Progress on a terminal (util.c mlc_progress): jde-fetch's records fetched
# and twilio-send's deliveries, on stderr, redrawn in place with "\r" and
# wiped at the end; only when stderr is a terminal and stdout is not, never
# in json mode or with ML_CONNECTOR_PROGRESS=no, never on stdout.  The
# terminal is a pty of script(1) (util-linux); its typescript is what the
# terminal showed.
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
unset ML_CONNECTOR_LOG ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID ML_CONNECTOR_PROGRESS JOURNAL_STREAM
if ! command -v script >/dev/null 2>&1; then
	skip "no script(1) (util-linux): no pty to test on"
	done_testing
	exit 0
fi
. "$(dirname "$0")/e2e-lib.sh"
start_env env || exit 1
CR=$(printf '\r')
ESC=$(printf '\033')

# on_tty NAME 'CMD': CMD run by sh with its stderr (and stdin) a terminal,
# TERM=xterm; what the terminal showed in $T/NAME.tty, the status returned.
on_tty() {
	TERM=xterm script -qfec "$2" "$T/$1.tty" </dev/null >/dev/null
}

# shown FILE: what the terminal showed, on one line, without script's own
# first and last lines.
shown() { sed -e '/^Script started/d' -e 's/Script done.*//' "$1" | tr -d '\n'; }

# ---- jde-fetch --------------------------------------------------------------------
jde-fetch -t F0411 >"$T/plain.out" 2>"$T/plain.err"
is "$?" 0 "jde-fetch, stderr a file: status 0"
on_tty fetch "jde-fetch -t F0411 >'$T/fetch.out'"
is "$?" 0 "jde-fetch, stderr a terminal: status 0"
n=$(grep -c . "$T/plain.out")
like "$(cat -v "$T/fetch.tty")" "\\^Mjde-fetch: records fetched: 1\\^\\[\\[K" "the terminal shows the first record fetched at once"
like "$(shown "$T/fetch.tty")" "${CR}${ESC}\\[K\$" "and the line is wiped at the end (nothing left after it: $n records)"
cmp -s "$T/fetch.out" "$T/plain.out"
is "$?" 0 "stdout is byte for byte what it is without a terminal"
is "$(grep -c -e "$CR" -e "$ESC" -e 'records fetched' "$T/plain.out" "$T/plain.err" | grep -v ':0$')" "" \
	"without a terminal: no progress on stderr, none on stdout"
on_tty pipe "jde-fetch -t F0411 2>&1 >'$T/pipe.out' | cat >'$T/pipe.err'"
is "$(grep -c 'records fetched' "$T/pipe.err" "$T/pipe.tty" | grep -v ':0$')" "" "stderr a pipe: no progress"
on_tty json "ML_CONNECTOR_LOG=json jde-fetch -t F0411 >'$T/json.out'"
is "$(grep -c 'records fetched' "$T/json.tty")" 0 "ML_CONNECTOR_LOG=json: no progress"
on_tty off "ML_CONNECTOR_PROGRESS=no jde-fetch -t F0411 >'$T/off.out'"
is "$(grep -c 'records fetched' "$T/off.tty")" 0 "ML_CONNECTOR_PROGRESS=no: no progress"
on_tty both "jde-fetch -t F0411"
is "$(grep -c 'records fetched' "$T/both.tty")/$(grep -c '"key"' "$T/both.tty")" "0/$n" \
	"stdout the terminal as well: the records, no progress among them"
on_tty dumb "TERM=dumb jde-fetch -t F0411 >'$T/dumb.out'"
is "$(grep -c 'records fetched' "$T/dumb.tty")" 0 "TERM=dumb: no progress"

# ---- a whole run: jde-fetch's records and twilio-send's deliveries ---------------
on_tty run "ml-connector run high-value-po >'$T/run.out'"
is "$?" 0 "ml-connector run on a terminal: status 0"
like "$(cat -v "$T/run.tty")" "\\^Mjde-fetch: records fetched: 1\\^\\[\\[K" "the run's terminal: records fetched"
like "$(cat -v "$T/run.tty")" "\\^Mtwilio-send: deliveries sent: 1, failed: 0, unknown: 0\\^\\[\\[K" "and deliveries sent"
like "$(cat -v "$T/run.tty")" "\\^M\\^\\[\\[Kml-connector: rule=high-value-po run=[^:]+: rule high-value-po: run [^ ]+ ok: sent [1-9]" \
	"the run's own line wipes the progress line before it is written"
is "$(wc -c <"$T/run.out" | tr -d ' ')" 0 "the orchestrator's stdout stays empty"
on_tty quiet "ml-connector run --quiet ap-aging >'$T/quiet.out'"
is "$?/$(grep -c -e 'records fetched' -e 'deliveries sent' "$T/quiet.tty")" 0/0 "run --quiet: no progress either"

done_testing
