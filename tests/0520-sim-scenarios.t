#!/usr/bin/env bash
# The declarative scenarios of tests/sim/*.scn (curl's tests/data idea): a
# server's canned replies or a simulator, a program run against it on
# loopback, and the exact requests that program must send.  One run of each:
# the requests the server recorded are compared with the scenario's by
# tests/sim-match.pl, then the program's status and (if given) its stdout.
#
# A scenario is sections, each opened by a line "%NAME [ARGS]":
#   %desc        one line: what the scenario shows
#   %sim PROG ARGS...
#                start the real simulator PROG (mlc-ais-sim, mlc-twilio-sim)
#                with ARGS; its URL is @SIM_URL@
#   %reply       a canned reply, as on the wire (status line, headers, empty
#                line, body); repeated, the Nth request gets the Nth one and
#                later requests the last one.  Served by
#                tests/bin/http-fixture-server, whose URL is @FIXTURE_URL@
#   %record sim | fixture
#                whose request log is compared (the simulator's or the
#                fixture server's)
#   %conf        the configuration file the program reads
#   %stdin       the program's standard input
#   %command     the command line, run by bash in the scenario's directory
#   %status N    its exit status (default 0)
#   %request     the requests expected, in order, as JSON values: method,
#                path, query, headers (those that matter; null: absent) and
#                body (a string: the raw body; else its JSON), with the
#                placeholders of tests/sim-match.pl for what varies
#   %stdout      the lines expected on stdout, as JSON values (optional)
# Lines before the first section are comments.  The test owns the secrets:
# a scenario names them only as @AIS_PASSWORD_FILE@, @TWILIO_TOKEN_FILE@,
# @SENDGRID_KEY_FILE@ (0600 files for a simulator), @TWILIO_BASIC@ (the
# base64 of AC:token) and @SENDGRID_BEARER@ (the key); the vault of every
# scenario holds them, and no secret may appear in a program's output.
# Also substituted: @AC@ (the account SID), @SIM_PORT@, @FIXTURE_PORT@.
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7

AC=AC0123456789abcdef0123456789abcdef
AIS_PW="ais-pw-$RANDOM$RANDOM-canary"
TW_TOKEN="tw-token-$RANDOM$RANDOM-canary"
SG_KEY="SG.sg-key-$RANDOM$RANDOM-canary"
(
	umask 077
	printf '%s\n' "$AIS_PW" >"$T/ais.password"
	printf '%s\n' "$TW_TOKEN" >"$T/twilio.token"
	printf '%s\n' "$SG_KEY" >"$T/sendgrid.key"
)
TW_BASIC=$(printf '%s:%s' "$AC" "$TW_TOKEN" | base64 -w0)

# sect FILE NAME [N]: the text of section NAME (its Nth, default the first).
sect() {
	awk -v want="$2" -v nth="${3:-1}" '
		/^%[a-z]+( |$)/ { name = substr($1, 2); if (name == want) n++; on = (name == want && n == nth); next }
		on' "$1"
}
# sect_args FILE NAME: the arguments on the section's opening line.
sect_args() {
	awk -v want="$2" '$1 == "%" want { sub(/^%[a-z]+ */, ""); print; exit }' "$1"
}
sect_count() { grep -c "^%$2\\( \\|\$\\)" "$1"; }

# subst: the scenario's @NAME@ values, from stdin to stdout.
subst() {
	local s
	s=$(cat)
	s=${s//@AC@/$AC}
	s=${s//@AIS_PASSWORD_FILE@/$T/ais.password}
	s=${s//@TWILIO_TOKEN_FILE@/$T/twilio.token}
	s=${s//@SENDGRID_KEY_FILE@/$T/sendgrid.key}
	s=${s//@TWILIO_BASIC@/$TW_BASIC}
	s=${s//@SENDGRID_BEARER@/$SG_KEY}
	s=${s//@SIM_URL@/http://127.0.0.1:${sim_port:-0}}
	s=${s//@SIM_PORT@/${sim_port:-0}}
	s=${s//@FIXTURE_URL@/http://127.0.0.1:${fix_port:-0}}
	s=${s//@FIXTURE_PORT@/${fix_port:-0}}
	printf '%s\n' "$s"
}

# serve DIR NAME EXE ARGS...: start a server, wait until it listens (or has
# died), and set served_port (empty if it died); its pid goes to DIR/NAME.pid.
serve() {
	local d=$1 n=$2
	shift 2
	served_port=""
	"$@" --port 0 --port-file "$d/$n.port" --request-log "$d/$n.log" >/dev/null 2>>"$d/$n.stderr" &
	echo $! >"$d/$n.pid"
	own "$!"
	wait_for eval "[ -s '$d/$n.port' ] || ! kill -0 $! 2>/dev/null"
	if [ ! -s "$d/$n.port" ]; then
		sed 's/^/#   /' "$d/$n.stderr"
		return 1
	fi
	served_port=$(cat "$d/$n.port")
}
stop() {
	local p
	p=$(cat "$1")
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

# The requests a log holds, in the scenario's terms: the fixture server's
# (raw headers, raw body) or a simulator's (the AIS simulator's header names
# are lower-cased and its JSON body parsed); control requests left out.
requests() {
	case $1 in
	fixture) jq -c '{method, path: .url, query: .args, headers, body}' "$2" ;;
	sim) jq -c 'select(.path | startswith("/_sim/") | not) | {method, path, query, headers, body}' "$2" ;;
	esac
}
nrequests() { requests "$1" "$2" | wc -l | tr -d ' '; }

for f in "$TOP"/tests/sim/*.scn; do
	name=$(basename "$f" .scn)
	d=$T/$name
	mkdir -p "$d"
	sim_port="" fix_port=""
	export ML_CONNECTOR_STATE=$d/state ML_CONNECTOR_CONF=$d/ml-connector.conf
	{
		mlc-vault init &&
			printf '%s\n' "$AIS_PW" | mlc-vault set ais.password &&
			printf '%s\n' "$TW_TOKEN" | mlc-vault set twilio.auth_token &&
			printf '%s\n' "$SG_KEY" | mlc-vault set sendgrid.api_key
	} >/dev/null 2>&1 || echo "# $name: the vault could not be filled"

	simargs=$(sect_args "$f" sim | subst)
	if [ -n "$simargs" ]; then
		# shellcheck disable=SC2086 # the scenario's words
		serve "$d" sim "$BIN"/$simargs
		sim_port=$served_port
		[ -n "$sim_port" ]
		ok "$name: ${simargs%% *} started"
		[ -n "$sim_port" ] || continue
	fi
	nrep=$(sect_count "$f" reply)
	if [ "$nrep" -gt 0 ]; then
		set --
		for i in $(seq 1 "$nrep"); do
			sect "$f" reply "$i" | subst >"$d/reply.$i"
			set -- "$@" --reply "$d/reply.$i"
		done
		serve "$d" fixture "$TOP/tests/bin/http-fixture-server" "$@"
		fix_port=$served_port
		[ -n "$fix_port" ]
		ok "$name: fixture server started with $nrep replies"
		[ -n "$fix_port" ] || continue
	fi

	sect "$f" conf | subst >"$ML_CONNECTOR_CONF"
	sect "$f" stdin | subst >"$d/stdin"
	sect "$f" command | subst >"$d/command"
	(cd "$d" && bash ./command) <"$d/stdin" >"$d/out" 2>"$d/err"
	rc=$?
	want_rc=$(sect_args "$f" status)
	is "$rc" "${want_rc:-0}" "$name: exit status"
	[ "$rc" = "${want_rc:-0}" ] || sed 's/^/#   /' "$d/err" | head -n 20

	rec=$(sect_args "$f" record)
	desc=$(sect "$f" desc | head -n 1)
	sect "$f" request | subst >"$d/want.req"
	nwant=$(perl -MJSON::PP -e 'local $/; my $t = <STDIN>; my $j = JSON::PP->new; my $n = 0;
		$t =~ s/^\s+//; while (length $t) { my (undef, $k) = $j->decode_prefix($t); $t = substr($t, $k); $t =~ s/^\s+//; $n++ } print $n' <"$d/want.req")
	# what a simulator sends on its own (status callbacks) comes after the
	# program exits: wait for as many requests as expected, then compare all
	wait_for eval "[ \"\$(nrequests $rec '$d/$rec.log')\" -ge $nwant ]"
	requests "$rec" "$d/$rec.log" >"$d/got.req"
	perl "$TOP/tests/sim-match.pl" "$d/want.req" "$d/got.req" request >"$d/diff.req" 2>&1
	ok "$name: the $nwant requests $desc"
	[ -s "$d/diff.req" ] && sed 's/^/#   /' "$d/diff.req" | head -n 30

	if [ "$(sect_count "$f" stdout)" -gt 0 ]; then
		sect "$f" stdout | subst >"$d/want.out"
		perl "$TOP/tests/sim-match.pl" "$d/want.out" "$d/out" line >"$d/diff.out" 2>&1
		ok "$name: stdout"
		[ -s "$d/diff.out" ] && sed 's/^/#   /' "$d/diff.out" | head -n 30
	fi
	if grep -qF -e "$AIS_PW" -e "$TW_TOKEN" -e "$SG_KEY" -e "$TW_BASIC" "$d/out" "$d/err"; then false; else true; fi
	ok "$name: no secret on stdout or stderr"

	[ -n "$sim_port" ] && stop "$d/sim.pid"
	[ -n "$fix_port" ] && stop "$d/fixture.pid"
done

# The scenario files hold no secret but the test's own fakes, named.
if grep -lE 'canary|SG\.[A-Za-z0-9_-]{8,}|Basic [A-Za-z0-9+/]{16,}' "$TOP"/tests/sim/*.scn; then false; else true; fi
ok "no secret written in a scenario file"

done_testing
