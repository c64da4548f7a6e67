#!/bin/sh
# bench/twilio-send.sh — twilio-send against the Twilio simulator.
#
#   1. N SMS (default 1000) to a simulator answering after --latency 100 ms
#      and allowing --rate 50 creates per second: twilio-send -R 50 -P 8,
#      throughput as a share of the cap, and the 429s it provoked;
#   2. the same N through a plain sequential curl loop;
#   3. the same N through xargs -P 8 curl (no pacing);
#   4. peak RSS of twilio-send for 1,000 and 10,000 deliveries (no latency,
#      no rate limit): it must stay flat.
#
# Secrets: curl gets the Account SID and token from a -K config read on its
# standard input, never from argv or the environment.
#
# usage: bench/twilio-send.sh [N]     (run from the source tree after make)
set -eu

N=${1:-1000}
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
BIN=$TOP/bin
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-twilio.XXXXXX")
SIMPID=
cleanup() {
	[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

AC=AC0123456789abcdef0123456789abcdef
TOKEN=bench-token-$$-$(date +%s)
ML_CONNECTOR_STATE=$W/state
ML_CONNECTOR_CONF=$W/ml-connector.conf
export ML_CONNECTOR_STATE ML_CONNECTOR_CONF
(umask 077 && printf '%s\n' "$TOKEN" >"$W/token" &&
	printf 'user = "%s:%s"\n' "$AC" "$TOKEN" >"$W/curl-auth.conf")

# sim ARGS...: (re)start the simulator with a fresh request log
sim() {
	if [ -n "$SIMPID" ]; then
		kill "$SIMPID" 2>/dev/null || true
		wait "$SIMPID" 2>/dev/null || true
	fi
	rm -f "$W/port" "$W/sim.log"
	"$BIN/mlc-twilio-sim" --port 0 --port-file "$W/port" --request-log "$W/sim.log" \
		--account-sid "$AC" --auth-token-file "$W/token" "$@" 2>"$W/sim.err" &
	SIMPID=$!
	if ! bench_ports "$W/port"; then
		echo "mlc-twilio-sim did not start:" >&2
		cat "$W/sim.err" >&2
		exit 1
	fi
	PORT=$(cat "$W/port")
	URL=http://127.0.0.1:$PORT/2010-04-01/Accounts/$AC/Messages.json
	cat >"$ML_CONNECTOR_CONF" <<EOF
[twilio]
account_sid = $AC
from = +15005550006
base_url = http://127.0.0.1:$PORT
EOF
}

deliveries() { bench_sms "$1"; }

now() { date +%s.%N; }
count() { grep -c "\"status\":$1" "$W/sim.log" || true; }

"$BIN/mlc-vault" init >/dev/null 2>&1
printf '%s\n' "$TOKEN" | "$BIN/mlc-vault" set twilio.auth_token
deliveries "$N" >"$W/in"
seq "$N" >"$W/nums"

echo "# $N SMS, simulator --latency 100 --rate 50, $(nproc) CPUs"

sim --latency 100 --rate 50
t0=$(now)
"$BIN/twilio-send" -R 50 -P 8 <"$W/in" >"$W/out"
t1=$(now)
echo "twilio-send -R 50 -P 8: $(echo "$t1 - $t0" | bc | cut -c1-6) s," \
	"$(echo "scale=1; $N / ($t1 - $t0)" | bc) msg/s" \
	"($(echo "scale=1; 100 * $N / ($t1 - $t0) / 50" | bc)% of the cap)," \
	"201: $(count 201), 429: $(count 429)"

sim --latency 100 --rate 50
t0=$(now)
while read -r i; do
	to=$(printf '+1555%07d' "$i")
	curl -s -o /dev/null -K - --data-urlencode "To=$to" --data-urlencode "From=+15005550006" \
		--data-urlencode "Body=Invoice $i from Acme Corp due 5 days ago - amount 25000" \
		"$URL" <"$W/curl-auth.conf"
done <"$W/nums"
t1=$(now)
echo "sequential curl loop:    $(echo "$t1 - $t0" | bc | cut -c1-6) s," \
	"$(echo "scale=1; $N / ($t1 - $t0)" | bc) msg/s, 201: $(count 201), 429: $(count 429)"

sim --latency 100 --rate 50
export URL W
t0=$(now)
# shellcheck disable=SC2016 # expanded by the inner sh
xargs -P 8 -I{} sh -c 'curl -s -o /dev/null -K - --data-urlencode "To=$(printf "+1555%07d" "$1")" \
	--data-urlencode "From=+15005550006" \
	--data-urlencode "Body=Invoice $1 from Acme Corp due 5 days ago - amount 25000" \
	"$URL" <"$W/curl-auth.conf"' sh {} <"$W/nums"
t1=$(now)
echo "xargs -P 8 curl:         $(echo "$t1 - $t0" | bc | cut -c1-6) s," \
	"$(echo "scale=1; $N / ($t1 - $t0)" | bc) msg/s, 201: $(count 201), 429: $(count 429)" \
	"(429s are lost messages for a loop without retries)"

# peak RSS: no latency, no rate limit
for n in 1000 10000; do
	sim --latency 0
	deliveries "$n" >"$W/in.$n"
	/usr/bin/time -f '%M' -o "$W/rss.$n" "$BIN/twilio-send" -R 5000 -P 16 <"$W/in.$n" >"$W/out.$n"
	echo "peak RSS, $n deliveries: $(cat "$W/rss.$n") KiB ($(grep -c '"status":"queued"' "$W/out.$n") queued)"
done
