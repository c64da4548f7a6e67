#!/usr/bin/env bash
# Secrets (issue 7), the properties 0210 (the vault alone) and 0600
# (jde-fetch alone) do not cover (jde-join, the join stage, is sampled and
# held like jde-fetch: it logs in to AIS with the same password):
#  - a whole pipeline run (ml-connector run, every stage, trace on): no
#    secret, its base64, or the Basic-auth form base64("SID:token") in any
#    process's /proc/PID/cmdline or environ while it runs (sampled, and
#    recorded at each program's exec by a wrapper), nor in the state
#    directory, stdout, stderr or the trace afterwards;
#  - no core dumps: every program that holds a secret runs with
#    RLIMIT_CORE 0 and is not dumpable, and a SIGSEGV leaves no core file.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z

# Canaries: long random strings, each unlike anything else in the run.
canary() { printf '%s-%s' "$1" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"; }
umask 077
canary aispw >"$T/ais.pw"
canary twtok >"$T/tw.token"
canary SG.sgkey >"$T/sg.key"
SID=AC$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
AISPW=$(cat "$T/ais.pw")
TWTOK=$(cat "$T/tw.token")
SGKEY=$(cat "$T/sg.key")
b64() { printf '%s' "$1" | base64 -w0; }
# Every form a secret could leak in, one per line (grep -F -f).
{
	for s in "$AISPW" "$TWTOK" "$SGKEY"; do
		printf '%s\n%s\n' "$s" "$(b64 "$s")"
	done
	b64 "$SID:$TWTOK"
	echo
	b64 "JDE:$AISPW"
	echo
} >"$T/forms"
# leaks FILE...: the lines of the files holding any form ("" if none).
leaks() { grep -a -l -F -f "$T/forms" "$@" 2>/dev/null; }

# ---- the environment: both simulators (slow), config, vault, two rules ----
# (tests/e2e-lib.sh keeps the canaries written above as the secrets)
. "$(dirname "$0")/e2e-lib.sh"
E=$T/env
# Slow answers keep every stage alive long enough to be looked at.
start_env env 100 50 "slow:ms=150,count=0" || exit 1
[ "$(mlc-vault check 2>/dev/null)" = "ok 3 secrets" ]
ok "vault holds the three canaries"

# ---- a whole run, traced, sampled through /proc while it runs -------------
# setsid: the run and everything it starts share one session, so one
# pgrep -s finds the whole process tree at any moment.
S=$T/samples
mkdir -p "$S"
n=0
# Sampling can miss a short-lived stage on a loaded machine, so each
# program is also started through a wrapper that records what it was
# started with (cmdline and environ are set at exec) and then execs it:
# every process of the runs is looked at, whatever the load.  The
# orchestrator puts its own directory first in PATH: it runs from the
# wrappers' directory too.
W=$T/wrap
mkdir -p "$W"
ln -s "$TOP/bin/ml-connector" "$W/ml-connector"
for p in jde-fetch jde-join alert-match alert-render twilio-send twilio-status alert-log mlc-conf \
	mlc-rule mlc-vault; do
	printf '#!/bin/sh\n{ tr "\\0" "\\n" </proc/$$/cmdline; tr "\\0" "\\n" </proc/$$/environ; } >"%s/exec.$$.%s" 2>/dev/null\nexec "%s" "$@"\n' \
		"$S" "$p" "$TOP/bin/$p" >"$W/$p"
	chmod 755 "$W/$p"
done
# sampled NAME CMD...: run CMD traced in its own session, writing
# $T/NAME.out and .err, and snapshot every process of it until it ends.
sampled() {
	local name=$1 run p c
	shift
	PATH=$W:$PATH ML_CONNECTOR_TRACE=1 setsid "$@" >"$T/$name.out" 2>"$T/$name.err" &
	run=$!
	while kill -0 "$run" 2>/dev/null; do
		for p in $(pgrep -s "$run"); do
			c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
			{
				tr '\0' '\n' <"/proc/$p/cmdline"
				tr '\0' '\n' <"/proc/$p/environ"
			} >"$S/$n.$c" 2>/dev/null
			n=$((n + 1))
		done
		sleep 0.02
	done
	wait "$run"
}
sampled run ml-connector run high-value-po ap-aging
is "$?" 0 "the traced run of high-value-po and ap-aging: status 0"
# Then the other commands that use the secrets: delivery tracking (twilio-send
# --poll), ping (jde-fetch --ping, twilio-send --ping), check (the vault).
sampled track ml-connector track
is "$?" 0 "the traced ml-connector track: status 0"
sampled ping ml-connector ping
is "$?" 0 "the traced ml-connector ping: status 0"
# SendGrid's line is a real check of the key (GET /v3/scopes, bearer), not a
# look into the vault
is "$(grep -c -x -e 'AIS: ok' -e 'Twilio: ok' -e 'SendGrid: ok' "$T/ping.out")" 3 \
	"ping: AIS, Twilio and SendGrid each ok"
is "$(jq -r 'select(.path == "/v3/scopes") | "\(.auth) \(.status)"' "$MLC_TWILIO_SIM_LOG")" "bearer 200" \
	"ping asked SendGrid for the key's scopes, once, with the key"
sampled check ml-connector check
is "$?" 0 "the traced ml-connector check: status 0"
# A live preview logs in as a run does (jde-fetch hands the session to jde-join).
sampled preview ml-connector preview high-value-po
is "$?" 0 "the traced ml-connector preview: status 0"
# The same run again with the messages as JSON (ML_CONNECTOR_LOG=json, for
# log shippers): another encoder of every message and trace line.
sampled runjson env ML_CONNECTOR_LOG=json ml-connector run high-value-po ap-aging
is "$?" 0 "the traced run with ML_CONNECTOR_LOG=json: status 0"
# (nothing is left to send: the traces are AIS's)
like "$(jq -c . "$T/runjson.err" 2>&1 | grep -c -v '^{')/$(jq -r 'select(.level == "debug") | .prog' "$T/runjson.err" | sort -u | tr '\n' ' ')" \
	"^0/jde-fetch " "json: every line an object; the traces are level debug ($(grep -c . "$T/runjson.err") lines)"
# The heartbeat URL is the check's key, a secret too: a scheduled run pings
# it (twilio-send --heartbeat) with the trace on, sampled like the rest.
http-sink --port 0 --port-file "$T/sink.port" --request-log "$T/sink.log" 2>>"$T/sink.err" &
own "$!"
wait_for test -s "$T/sink.port"
HBKEY=$(canary hbkey)
{ printf '%s\n' "$HBKEY"; b64 "$HBKEY"; echo; } >>"$T/forms"
printf 'http://127.0.0.1:%s/ping/%s' "$(cat "$T/sink.port")" "$HBKEY" | mlc-vault set heartbeat.url
ML_CONNECTOR_NOW=2026-11-26T15:00:30Z ml-connector run --scheduled high-value-po >/dev/null 2>&1
beats=$(grep -c . "$T/sink.log" 2>/dev/null)
ML_CONNECTOR_NOW=2026-11-26T16:00:30Z sampled beat ml-connector run --scheduled high-value-po
is "$?" 0 "the traced scheduled run with a heartbeat: status 0"
wait_for lines_ge "$T/sink.log" $((${beats:-0} + 1))
is "$(grep -c -F "$HBKEY" "$T/sink.log")" "$(grep -c . "$T/sink.log")" \
	"control: every ping reached the listener at the URL with the key"
seen=$(find "$S" -type f -size +0 | sed 's/.*\.//' | sort -u | tr '\n' ' ')
echo "# $n samples of $(find "$S" -type f | wc -l | tr -d ' ') process snapshots; programs seen: $seen"
for prog in jde-fetch jde-join alert-match alert-render twilio-send alert-log; do
	like "$seen" "(^| )$prog " "sampled $prog's /proc/PID/cmdline and environ while it ran"
done
like "$(cat "$T/run.err")" 'jde-AIS-Auth|POST ' "the trace was on (request headers on stderr)"
like "$(curl -fsS "http://127.0.0.1:$MLC_TWILIO_SIM_PORT/_sim/messages" | grep -c .)" '^[1-9]' \
	"the run sent messages (Basic auth with the token was used)"

is "$(leaks "$S"/*)" "" "no secret in any process's cmdline or environ, raw or base64"
is "$(leaks "$T"/{run,track,ping,check,preview,runjson,beat}.{out,err})" "" "none on stdout or stderr of run, track, ping, check, preview, the JSON run, a scheduled run's heartbeat (trace included)"
# The state directory: database, WAL, shared memory, locks, anything else.
# The vault's boxes are ciphertext, so the plaintext must not be there.
sqlite3 "$E/state/state.db" 'PRAGMA wal_checkpoint(PASSIVE)' >/dev/null 2>&1
find "$E/state" -type f >"$T/statefiles"
like "$(cat "$T/statefiles")" 'state\.db$' "the state directory holds the database ($(wc -l <"$T/statefiles" | tr -d ' ') files)"
# shellcheck disable=SC2046 # state file names are plain
is "$(leaks $(cat "$T/statefiles"))" "" "no secret in the state directory (state.db, -wal, -shm, locks, key)"
is "$(sqlite3 "$E/state/state.db" .dump | grep -a -c -F -f "$T/forms")" 0 "nor in a dump of the database"
# Temporary files of the run (the orchestrator's mktemp directories) are gone.
is "$(find "${TMPDIR:-/tmp}" -maxdepth 2 -newer "$E/conf" -user "$(id -u)" -type f \
	-exec grep -a -l -F -f "$T/forms" {} + 2>/dev/null | grep -v "^$T/")" "" "no secret in new files under ${TMPDIR:-/tmp}"

# Controls: the same grep finds each form where it legitimately is, so the
# checks above can fail.  (The simulators' request logs are theirs, not
# ours, and left out above; both redact: AIS logs the login's password as
# "REDACTED", the Twilio simulator only the kind of auth and the user.)
is "$(leaks "$T/ais.pw" "$T/tw.token" "$T/sg.key" | wc -l | tr -d ' ')" 3 "control: the grep finds each canary in its file"
printf 'Authorization: Basic %s\n' "$(b64 "$SID:$TWTOK")" >"$T/ctl.basic"
printf '%s' "$SGKEY" | base64 >"$T/ctl.b64"
is "$(leaks "$T/ctl.basic" "$T/ctl.b64" | wc -l | tr -d ' ')" 2 "control: and the Basic-auth and base64 forms"
is "$(jq -r 'select(.path == "/jderest/v2/tokenrequest") | .body.password' "$MLC_AIS_SIM_LOG" | sort -u)" REDACTED \
	"control: the run logged in to AIS with the password (the simulator's log redacts it)"
is "$(jq -r 'select(.kind == "request" and .method == "POST") | "\(.auth) \(.status)"' "$MLC_TWILIO_SIM_LOG" |
	sort -u | grep -c '^basic 201$')" 1 "control: Twilio accepted the Basic auth built from the token"

# ---- core dumps ----------------------------------------------------------
# mlc_util_nodump (util.c): setrlimit(RLIMIT_CORE, 0) and
# prctl(PR_SET_DUMPABLE, 0), called by jde-fetch, jde-join, twilio-send,
# twilio-status and mlc-vault (and by vault.c for any program that opens
# the vault).  Each is started with "ulimit -c unlimited" in an empty
# directory and held blocked; then:
#  - /proc/PID/limits must say "Max core file size 0 0";
#  - dumpable: no /proc field shows it, but the kernel makes a
#    non-dumpable process's /proc/PID files owned by root.  Tests run as
#    root, where that is invisible, so the programs run as nobody
#    (setpriv) and /proc/PID/environ must then be owned by uid 0, not by
#    nobody; a plain sleep as nobody is the control;
#  - after kill -SEGV no core file may appear (core_pattern is checked:
#    with a pipe to a helper the file test says nothing, and is skipped).
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
echo "# core_pattern: $pattern"
RUNAS=()
want_uid=$(id -u)
if [ "$(id -u)" = 0 ]; then
	if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		want_uid=65534
	fi
fi
# The programs' world for that user: a copy of conf, state and rules.
N=$T/nb
mkdir -p "$N"
cp -a "$E/state" "$N/state"
cp "$E/conf" "$N/conf"
cp -a "$E/rules" "$N/rules"
chmod 711 "$T"
[ ${#RUNAS[@]} -gt 0 ] && chown -R 65534:65534 "$N"

# hold NAME CMD...: start CMD as that user in the empty directory $N/NAME,
# with unlimited core size and stdin a FIFO we keep open (it blocks on
# reading, or on the slow simulators); sets PID.
hold() {
	local name=$1
	shift
	mkdir -p "$N/$name"
	[ ${#RUNAS[@]} -gt 0 ] && chown 65534:65534 "$N/$name"
	rm -f "$N/$name.fifo"
	mkfifo "$N/$name.fifo"
	chmod 666 "$N/$name.fifo"
	(
		cd "$N/$name" || exit 1
		ulimit -c unlimited
		exec env ML_CONNECTOR_CONF="$N/conf" ML_CONNECTOR_STATE="$N/state" ML_CONNECTOR_RULES="$N/rules" \
			"${RUNAS[@]}" "$@" <"$N/$name.fifo" >"$N/$name.out" 2>"$N/$name.err"
	) &
	PID=$!
	exec 8>"$N/$name.fifo" # open the writer: the child's open returns
	sleep 0.2
}
# check NAME DESC: the three properties of the held process PID.
check() {
	local name=$1 desc=$2 lim owner cores
	if ! kill -0 "$PID" 2>/dev/null; then
		is "exited: $(head -c 300 "$N/$name.err")" "running" "$desc: still running when looked at"
		exec 8>&-
		return
	fi
	# A slow start (the sanitizer build, a loaded machine) may take long to
	# get as far as mlc_util_nodump: wait for it, or for the process's end.
	nodump() {
		lim=$(awk '/^Max core file size/ { print $5, $6 }' "/proc/$PID/limits" 2>/dev/null)
		owner=$(stat -c %u "/proc/$PID/environ" 2>/dev/null)
		[ "$lim/$owner" = "0 0/0" ] || ! kill -0 "$PID" 2>/dev/null
	}
	wait_for nodump
	kill -SEGV "$PID"
	exec 8>&-
	wait "$PID" 2>/dev/null
	sleep 0.1
	cores=$(find "$N/$name" -name 'core*' | wc -l | tr -d ' ')
	is "$lim" "0 0" "$desc: RLIMIT_CORE 0 (soft and hard) despite ulimit -c unlimited"
	if [ ${#RUNAS[@]} -gt 0 ] || [ "$want_uid" != 0 ]; then
		is "$owner" 0 "$desc: not dumpable (/proc/PID/environ owned by root, not uid $want_uid)"
	else
		skip "$desc: dumpable cannot be seen as root without setpriv"
	fi
	if [ "$core_file_test" = 1 ]; then
		is "$cores" 0 "$desc: SIGSEGV leaves no core file"
	else
		skip "$desc: core_pattern is not a file in the cwd; the limits check stands"
	fi
}

# Control: an ordinary process under the same conditions is dumpable and
# leaves a core, so the checks above can fail.
core_file_test=0
hold control sleep 30
lim=$(awk '/^Max core file size/ { print $5 }' "/proc/$PID/limits")
owner=$(stat -c %u "/proc/$PID/environ")
kill -SEGV "$PID"
exec 8>&-
wait "$PID" 2>/dev/null
sleep 0.2
is "$lim/$owner" "unlimited/$want_uid" "control: a plain sleep has unlimited core size and its own /proc files"
case $pattern in
"|"*)
	echo "# core_pattern pipes to a helper ($pattern): no core file test"
	skip "control: core files go to a helper"
	;;
*)
	if [ -n "$(find "$N/control" -name 'core*')" ]; then
		core_file_test=1
		ok "control: the sleep killed by SIGSEGV left a core file in its directory"
	else
		skip "control: no core file appeared even for sleep (core_pattern $pattern); the limits check stands"
	fi
	;;
esac

# AIS answers slowly from here on: jde-fetch blocks inside a request,
# holding the password or the token; the others block reading stdin.
AIS=http://127.0.0.1:$MLC_AIS_SIM_PORT
curl -sf -o /dev/null -X POST "$AIS/_sim/reset" &&
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"spec":"slow:ms=3000,count=0"}' "$AIS/_sim/fault" ||
	echo "# AIS fault refused"

hold jde-fetch jde-fetch -t F0411 -p 5
check jde-fetch "jde-fetch (blocked on a slow AIS)"
hold jde-ping jde-fetch --ping
check jde-ping "jde-fetch --ping"
hold jde-join jde-join -r ap-aging
check jde-join "jde-join (logging in on a slow AIS)"
hold twilio-send twilio-send
check twilio-send "twilio-send (waiting for deliveries)"
hold twilio-poll twilio-send --poll
check twilio-poll "twilio-send --poll"
hold vault mlc-vault set canary.x
check vault "mlc-vault set (reading the secret)"
hold status env REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded \
	CONTENT_LENGTH=1000 SERVER_NAME=localhost SERVER_PORT=80 SCRIPT_NAME=/cb twilio-status
check status "twilio-status (CGI, reading the callback)"
is "$(leaks "$N"/*/* "$N"/*.out "$N"/*.err | grep -v "^$N/state/")" "" "nothing the held programs wrote holds a secret"

done_testing
