# tests/lib.sh — tiny TAP helpers for ml-connector's tests.  Source it from
# a tests/NNNN-name.t bash script:  . "$(dirname "$0")/lib.sh"
#
# plan N | ok COND... DESC | is GOT WANT DESC | diff_ok FILE_GOT FILE_WANT DESC
# lines_prefix_ok FILE_GOT FILE_WANT DESC (what a killed writer left)
# wait_for CMD... (poll a condition with a generous deadline)
# skip DESC | done_testing.   $TOP is the source tree, $BIN the binaries,
# $T a fresh scratch directory removed at exit (kept if MLC_KEEP_TMP=1),
# with ML_CONNECTOR_STATE pointing inside it.
# shellcheck shell=bash

TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MLC_BIN:-$TOP/bin}
PATH=$BIN:$TOP/tests/bin:$PATH
export TOP BIN PATH

mkdir -p "$TOP/tests/tmp"
T=$(mktemp -d "$TOP/tests/tmp/$(basename "$0" .t).XXXXXX")
export T
ML_CONNECTOR_STATE=$T/state
ML_CONNECTOR_CONF=$T/ml-connector.conf
# A test that unsets ML_CONNECTOR_STATE still writes inside $T: the
# default state directory (root's is /var/lib/ml-connector) goes through
# XDG_STATE_HOME.  Tests of the defaults set or unset it themselves.
XDG_STATE_HOME=$T/xdg-state
export ML_CONNECTOR_STATE ML_CONNECTOR_CONF XDG_STATE_HOME
unset ML_CONNECTOR_NOW

# sqlite3 FILE SQL: the sqlite3 shell as the tests use it, to look into
# state.db while our programs write it.  The shell has no busy timeout: it
# fails at once with "database is locked" where a program holds a write
# lock, or opens the database and runs WAL recovery, at that instant, which
# a loaded machine makes likely.  So it waits, as our programs do.
sqlite3() { command sqlite3 -cmd '.timeout 60000' "$@"; }

_n=0
_failed=0
_pids=""

# own PID: PID, a background child of the test, is stopped when the test
# ends (and by stop_env, e2e-lib.sh).  It is held with its start time: once
# a process is gone and reaped its pid is free, the kernel hands it out
# again (pid_max is 32768 here; a loaded suite wraps it in minutes), and a
# kill by pid alone then hits whatever has it now: another test's
# simulator.
own() { _pids="$_pids $1:$(_started "$1")"; }

# _started PID: the process's start time (clock ticks since boot, field 22
# of /proc/PID/stat), or nothing when there is no such process.
_started() {
	local _stat _field
	_stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -r -a _field <<<"${_stat##*) }"
	echo "${_field[19]}"
}

# _signal SIG PID:START: the signal to the process only if it is still the
# one own() saw start.
_signal() {
	local p=${2%%:*} t=${2#*:}
	[ -n "$t" ] && [ "$(_started "$p")" = "$t" ] && kill "-$1" "$p" 2>/dev/null
	return 0
}

_cleanup() {
	for _p in $_pids; do
		_signal TERM "$_p"
	done
	for _p in $_pids; do
		wait "${_p%%:*}" 2>/dev/null
	done
	if [ "${MLC_KEEP_TMP:-0}" = 1 ] || [ "$_failed" -gt 0 ]; then
		echo "# scratch kept: $T"
	else
		rm -rf "$T"
	fi
}
trap _cleanup EXIT

plan() { echo "1..$1"; }
done_testing() { echo "1..$_n"; }

# _result STATUS DESC: the TAP line of one check (STATUS 0 passes); returns
# 1 after a failure, so that the caller prints its diagnostics:
#   [ "$1" = "$2" ]; _result $? "$3" || printf '#   ...'
_result() {
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_n - $2"
		return 0
	fi
	_failed=$((_failed + 1))
	echo "not ok $_n - $2"
	return 1
}

# ok DESC: passes when the previous command's status ($?) was 0.
#   cmd; ok "it worked"
ok() {
	_rc=$?
	# "ok test -f X" would pass on the status of the command before it
	if [ $# -ne 1 ]; then
		_result 1 "ok takes one description, got: $*" || echo "#   (ok DESC checks the status of the command before it)"
		return 0
	fi
	_result "$_rc" "$1" || echo "#   (status $_rc)"
	return 0
}

# is GOT WANT DESC
is() {
	[ "$1" = "$2" ]
	_result $? "$3" || printf '#   got:      %s\n#   expected: %s\n' "$1" "$2" | head -c 4000
}

# isnt GOT UNWANTED DESC
isnt() {
	[ "$1" != "$2" ]
	_result $? "$3" || printf '#   got the unwanted value: %s\n' "$1" | head -c 4000
}

# like STRING REGEX DESC (grep -E)
like() {
	printf '%s\n' "$1" | grep -Eq -- "$2"
	_result $? "$3" || printf '#   %s\n#   does not match: %s\n' "$1" "$2" | head -c 4000
}

# unlike STRING REGEX DESC
unlike() {
	! printf '%s\n' "$1" | grep -Eq -- "$2"
	_result $? "$3" || printf '#   %s\n#   matches: %s\n' "$1" "$2" | head -c 4000
}

# diff_ok GOT_FILE WANT_FILE DESC
diff_ok() {
	diff -u "$2" "$1" >"$T/.diff" 2>&1
	_result $? "$3" || sed 's/^/#   /' "$T/.diff" | head -n 60
}

# lines_prefix_ok GOT_FILE WANT_FILE DESC: GOT is a prefix of WANT cut
# anywhere, as a writer killed mid-write leaves it: its whole lines are
# WANT's first lines, and a trailing fragment (no newline) is a byte prefix
# of WANT's next line.  Judge only whole lines: wc -l does not count the
# fragment, and diff does.
lines_prefix_ok() {
	_whole=$(grep -c '' "$1")
	_frag=""
	if [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" != '\n' ]; then
		_whole=$((_whole - 1))
		_frag=$(tail -n 1 "$1")
	fi
	head -n "$_whole" "$1" >"$T/.got"
	head -n "$_whole" "$2" >"$T/.want"
	_next=$(sed -n "$((_whole + 1))p" "$2")
	if [ "$(wc -l <"$T/.want")" -ne "$_whole" ]; then
		_result 1 "$3"
		echo "#   $1 has $_whole whole lines, $2 only $(wc -l <"$T/.want")"
	elif [ -n "$_frag" ] && [ "${_next#"$_frag"}" = "$_next" ]; then
		_result 1 "$3"
		printf '#   trailing fragment is not a prefix of the next line:\n#   %s\n#   %s\n' \
			"$_frag" "$_next" | head -c 4000
	else
		diff_ok "$T/.got" "$T/.want" "$3"
	fi
}

# status_columns "COLUMN..." < STATUS_TEXT: status text with only the
# columns named (headers as printed: "LAST RUN" is the one of two words),
# in the order named, a space between; the lines beneath a rule's ("  last
# run ...") pass as they are.  So a test compares what it knows of status,
# and a column added later moves none.
status_columns() {
	awk -v want="$1" '
		NR == 1 { n = 0
			for (i = 1; i <= NF; i++) {
				h = $i
				if (h == "LAST" && $(i + 1) == "RUN") { h = "LAST RUN"; i++ }
				at[h] = ++n
			}
			nw = 0; rest = want
			while (rest != "") {
				if (substr(rest, 1, 9) == "LAST RUN ") { w = "LAST RUN"; rest = substr(rest, 10) }
				else if (rest == "LAST RUN") { w = rest; rest = "" }
				else if ((k = index(rest, " "))) { w = substr(rest, 1, k - 1); rest = substr(rest, k + 1) }
				else { w = rest; rest = "" }
				if (!(w in at)) { print "status_columns: no column " w > "/dev/stderr"; exit 1 }
				col[++nw] = w
			}
		}
		/^  / { print; next }
		{ line = ""
			for (j = 1; j <= nw; j++) {
				c = NR == 1 ? col[j] : $(at[col[j]])
				line = line (j > 1 ? " " : "") c
			}
			print line }'
}

# status_cell RULE COLUMN < STATUS_TEXT: the cell of RULE's line under
# COLUMN ("STRAY", "IN-DOUBT").
status_cell() {
	status_columns "RULE $2" | awk -v rule="$1" 'NR > 1 && $1 == rule { print $2 }'
}

skip() {
	_n=$((_n + 1))
	echo "ok $_n # skip $1"
}

# run_fixture TOOL NAME [ARGS...]: runs TOOL on tests/fixtures/NAME.in.ndjson
# (or NAME.in.json: a saved AIS response body) and compares stdout with
# NAME.exp.ndjson, stderr with NAME.exp.err (if present) and the status with
# NAME.exp.rc (default 0).
run_fixture() {
	_tool=$1 _name=$2
	shift 2
	_f=$TOP/tests/fixtures/$_name
	_in=$_f.in.ndjson
	[ -f "$_in" ] || _in=$_f.in.json
	"$_tool" "$@" <"$_in" >"$T/$_name.out" 2>"$T/$_name.err"
	_rc=$?
	diff_ok "$T/$_name.out" "$_f.exp.ndjson" "$_tool $_name: stdout"
	if [ -f "$_f.exp.err" ]; then
		diff_ok "$T/$_name.err" "$_f.exp.err" "$_tool $_name: stderr"
	fi
	_want=0
	[ -f "$_f.exp.rc" ] && _want=$(cat "$_f.exp.rc")
	is "$_rc" "$_want" "$_tool $_name: exit status"
}

# vg CMD...: run under valgrind (memcheck, leaks counted as errors) unless
# the build is sanitized; status 99 marks a valgrind finding.
vg() {
	if [ "${MLC_SANITIZED:-0}" = 1 ] || ! command -v valgrind >/dev/null 2>&1; then
		"$@"
		return
	fi
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$@"
}

# wait_for CMD...: run CMD every 50 ms until it succeeds; status 1 when it
# has not after $MLC_WAIT seconds (default 60).  Waits are for conditions
# that stay true once they hold (a file written, a process started): a
# loaded machine makes the wait longer, never the verdict different.
# (Its arguments are evaluated once, when it is called: a condition with a
# "$(...)" in it is frozen at its first value and waits out the 60 s.  Put
# the condition in a function, as lines_ge below; tests/0010 refuses the
# frozen form.)
wait_for() {
	_wend=$((SECONDS + ${MLC_WAIT:-60}))
	until "$@"; do
		[ "$SECONDS" -ge "$_wend" ] && return 1
		sleep 0.05
	done
	return 0
}

# lines_ge FILE N: FILE has at least N non-empty lines (a wait_for condition).
lines_ge() { [ "$(grep -c . "$1" 2>/dev/null)" -ge "$2" ]; }

_sim_up() { [ -s "$T/$_sim.port" ] || ! kill -0 "$_pid" 2>/dev/null; }

# sim_start NAME [ARGS...]: start bin/NAME (a simulator; or tests/bin/NAME,
# a test-only server, when there is no bin/NAME) on an ephemeral
# loopback port, wait until it listens, and set NAME_PORT (dashes become
# underscores, upper-cased: mlc-ais-sim -> MLC_AIS_SIM_PORT), NAME_LOG
# (its NDJSON request log) and NAME_PID.  The simulator is killed at exit.
sim_start() {
	_sim=$1
	shift
	_var=$(printf '%s' "$_sim" | tr 'a-z-' 'A-Z_')
	rm -f "$T/$_sim.port"
	_exe=$BIN/$_sim
	[ -x "$_exe" ] || _exe=$TOP/tests/bin/$_sim
	"$_exe" --port 0 --port-file "$T/$_sim.port" --request-log "$T/$_sim.log" "$@" \
		2>>"$T/$_sim.stderr" &
	_pid=$!
	own "$_pid"
	# listening, or dead: a slow start (a loaded machine) only takes longer
	wait_for _sim_up
	if [ ! -s "$T/$_sim.port" ]; then
		echo "# $_sim did not start:"
		sed 's/^/#   /' "$T/$_sim.stderr"
		return 1
	fi
	eval "${_var}_PORT=\$(cat \"\$T/\$_sim.port\")"
	eval "${_var}_LOG=\$T/\$_sim.log"
	eval "${_var}_PID=\$_pid"
	export "${_var}_PORT" "${_var}_LOG"
}

# ais_start PASSWORD [DATA]: the AIS simulator serving DATA (default: a copy
# of data/jde in $T/data, which the test may change), its password in
# $T/sim-password (mode 0600); URL its address.  1 if it did not start.
ais_start() {
	(umask 077 && printf '%s\n' "$1" >"$T/sim-password")
	if [ -z "${2:-}" ]; then
		mkdir -p "$T/data"
		cp "$TOP"/data/jde/* "$T/data/"
	fi
	sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-26 \
		--data "${2:-$T/data}" || return 1
	URL=http://127.0.0.1:$MLC_AIS_SIM_PORT
}

# ais_conf [-g] URL [LINE...]: an [ais] section for the simulator that
# ais_start began (user JDE, environment JDV920, device ml-connector-test),
# at URL, with each LINE added to it, on stdout; -g adds a [general]
# section with default_country 1.  ais_vault: a vault (made if there is
# none) holding the simulator's password as ais.password.
ais_conf() {
	local general=
	[ "${1:-}" != -g ] || { general=1; shift; }
	printf '[ais]\nurl = %s\nuser = JDE\nenvironment = JDV920\ndevice = ml-connector-test\n' "$1"
	shift
	[ $# -eq 0 ] || printf '%s\n' "$@"
	[ -z "$general" ] || printf '\n[general]\ndefault_country = 1\n'
}
ais_vault() {
	mlc-vault init >/dev/null 2>&1 # (refused when there is one)
	mlc-vault set ais.password <"$T/sim-password"
}

# ais_sim_fault SPEC: add a fault to the AIS simulator at $URL (says so when it
# is refused).
ais_sim_fault() {
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d "{\"spec\":\"$1\"}" \
		"$URL/_sim/fault" || echo "# fault $1 refused"
}
# ais_sim_reset: the AIS simulator's faults off (mlc-ais-sim(1) /_sim/reset).
ais_sim_reset() {
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{}' \
		"$URL/_sim/reset" || echo "# reset refused"
}
