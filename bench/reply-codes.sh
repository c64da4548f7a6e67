#!/bin/sh
# bench/reply-codes.sh — what [message] reply_code costs alert-render (not a
# timed test; numbers go to bench/README.md): N alerts of one SMS each,
# rendered with the state (each code is assigned in a transaction of its
# own, table reply_code), against the same rule without reply codes, and
# the codes one recipient ends up holding (N alerts to one number: codes 1
# to N; N alerts to N numbers: code 1 each).
#
# usage: bench/reply-codes.sh [-n ALERTS]      (default 2000)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
n=2000
while getopts n: o; do
	case $o in
	n) n=$OPTARG ;;
	*) echo "usage: bench/reply-codes.sh [-n ALERTS]" >&2; exit 64 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/reply-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for r in on off; do
	cat >"$tmp/$r.rule" <<RULE
[rule]
name = $r
[source]
table = F0411
[recipients]
to = an8:1003
channels = sms
[message]
sms = Invoice \\(.row.F0411_DOC) from \\(.contacts.vendor.name) - amount \\(.row.F0411_AAP | amount)
reply_code = $([ "$r" = on ] && echo yes || echo no)
RULE
done
# alerts RULE SAME: N alerts, each its own document; SAME=1 one number, else N numbers
alerts() {
	head -n 1 "$top/tests/fixtures/render-quiet.in.ndjson" | jq -c --argjson n "$n" \
		--arg r "$1" --argjson same "$2" 'range(0; $n) as $i | .rule = $r |
		.alert_id = "\($r):\($i)" | .key = "k\($i)" | .record.row.F0411_DOC = (1000000 + $i) |
		.channels = ["sms"] | .recipients[0].sms = (if $same == 1 then "+13125550100"
		else "+1312\(5550000 + $i)" end)'
}
# one RULE SAME: wall and CPU seconds of one alert-render run, fresh state
one() {
	alerts "$1" "$2" >"$tmp/in"
	rm -rf "$tmp/state"
	mkdir -m 700 "$tmp/state"
	/usr/bin/time -f '%e %U %S' -o "$tmp/time" "$top/bin/alert-render" -r "$tmp/$1.rule" \
		-d "$tmp/state" --now 2024-01-15T14:00:00Z <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	read -r wall usr sys <"$tmp/time"
	codes=$(jq -r '.reply_code // empty' "$tmp/out" | sort -n | uniq | tail -n 1)
	printf '%-4s %-13s %6s alerts  wall %6.2f s  cpu %6.2f s  highest code %s\n' "$1" \
		"$([ "$2" = 1 ] && echo one-number || echo many-numbers)" "$n" "$wall" \
		"$(echo "$usr + $sys" | bc)" "${codes:--}"
}
for same in 1 0; do
	one off "$same"
	one on "$same"
done
