#!/bin/sh
# bench/twilio-send-reuse.sh — keep-alive reuse and unpaced throughput of
# twilio-send: N SMS (default 5000) to the simulator without latency or
# rate limit, twilio-send -R 5000 -P 8, ROUNDS times (default 3).  Prints
# the wall time, messages per second and the TCP connections the simulator
# saw (its request log numbers them): a handful for thousands of creates
# means the connections are reused.
#
# TWILIO_SEND=path runs another build of twilio-send (say, one of main) to
# compare; the simulator and the vault tool are always this tree's.
#
# usage: bench/twilio-send-reuse.sh [N [ROUNDS]]   (from the source tree after make)
set -eu

N=${1:-5000}
ROUNDS=${2:-3}
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
BIN=$TOP/bin
TS=${TWILIO_SEND:-$BIN/twilio-send}
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-reuse.XXXXXX")
SIMPID=
cleanup() {
	[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

AC=AC0123456789abcdef0123456789abcdef
ML_CONNECTOR_STATE=$W/state
ML_CONNECTOR_CONF=$W/ml-connector.conf
export ML_CONNECTOR_STATE ML_CONNECTOR_CONF
(umask 077 && printf 'bench-token-%s-%s\n' "$$" "$(date +%s)" >"$W/token")
"$BIN/mlc-vault" init >/dev/null 2>&1
"$BIN/mlc-vault" set twilio.auth_token <"$W/token"
bench_sms "$N" >"$W/in"

echo "# $N SMS, simulator without latency or rate limit, $TS -R 5000 -P 8, $(nproc) CPUs"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	r=$((r + 1))
	rm -f "$W/port" "$W/sim.log"
	"$BIN/mlc-twilio-sim" --port 0 --port-file "$W/port" --request-log "$W/sim.log" \
		--account-sid "$AC" --auth-token-file "$W/token" 2>"$W/sim.err" &
	SIMPID=$!
	if ! bench_ports "$W/port"; then
		echo "mlc-twilio-sim did not start:" >&2
		cat "$W/sim.err" >&2
		exit 1
	fi
	printf '[twilio]\naccount_sid = %s\nfrom = +15005550006\nbase_url = http://127.0.0.1:%s\n' \
		"$AC" "$(cat "$W/port")" >"$ML_CONNECTOR_CONF"
	t0=$(date +%s.%N)
	"$TS" -R 5000 -P 8 <"$W/in" >"$W/out"
	t1=$(date +%s.%N)
	kill "$SIMPID"
	wait "$SIMPID" 2>/dev/null || true
	SIMPID=
	echo "round $r: $(echo "$t1 - $t0" | bc | cut -c1-5) s," \
		"$(echo "scale=0; $N / ($t1 - $t0)" | bc) msg/s," \
		"queued $(grep -c '"status":"queued"' "$W/out")," \
		"connections $(jq -r .conn "$W/sim.log" | sort -u | grep -c .)"
done
