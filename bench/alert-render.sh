#!/bin/sh
# bench/alert-render.sh — alert-render's cost per alert (not a timed test;
# numbers go to bench/README.md).
#
#   1. direct: N copies of tests/fixtures/render-basic.in.ndjson's first
#      alert (one SMS and one e-mail each, templates with days_ago and
#      amount), each with its own document number, rule ap-aging.
#   2. digest: N alerts of rule ap-digest (SMS to the vendor, every e-mail
#      into one digest to the finance mailbox: spooled, then rendered at
#      the end).
#
# usage: bench/alert-render.sh [-c] [-n ALERTS] [-m SMALL] [-r ROUNDS]
# Defaults: 20000 alerts, 5 rounds.  -m SMALL also runs SMALL alerts in every
# round and prints the marginal cost per alert, (cost(ALERTS) -
# cost(SMALL)) / (ALERTS - SMALL): the per-run costs (process start, rule
# and template compile, the digest's end) cancel out.  -c counts the instructions executed
# (valgrind --tool=callgrind, one round, use a small -n) instead of the CPU
# time: the same on a loaded machine as on an idle one.  With ALERT_RENDER_BASE=/path/to/an/
# other/alert-render the two binaries run in turn in every round (for a
# before/after ratio on a shared machine).  SAME_RULE=1: the base gets the
# same rule (a base from issue 14 on) and every output is compared with
# cmp (stdout and stderr).  --no-state: the audit trail and
# caps are not measured here.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
new=${ALERT_RENDER:-$top/bin/alert-render}
base=${ALERT_RENDER_BASE:-}
n=20000
rounds=5
small=
count=0
while getopts cn:m:r: o; do
	case $o in
	c) count=1 rounds=1 ;;
	n) n=$OPTARG ;;
	m) small=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) echo "usage: bench/alert-render.sh [-c] [-n ALERTS] [-m SMALL] [-r ROUNDS]" >&2; exit 64 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/render-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
R=$top/tests/fixtures/render-rules
now=2024-01-15T14:00:00Z

# alerts FIXTURE N: the fixture's first alert N times, document 1000000+i
alerts() {
	head -n 1 "$top/tests/fixtures/$1" | awk -v n="$2" '{
		for (i = 0; i < n; i++) {
			l = $0
			gsub(/\|1000[0-9][0-9]\||\|12345[0-9]\|/, "|" (1000000 + i) "|", l)
			gsub(/"F0411_DOC":[0-9]+/, "\"F0411_DOC\":" (1000000 + i), l)
			print l
		}
	}'
}
# The base binary may predate [digest] columns, amount and currency (issue
# 14): it gets the rule as it was, the amount and currency in the row.
mkdir "$tmp/base-rules"
sed -e '/^\(columns\|amount\|currency\) *=/d' \
	-e 's/^\(row .*\)$/\1 | \\(.row.F0411_AAP | amount(",")) \\(.row.F0411_CRCD \/\/ "USD" | trim)/' \
	"$R/ap-digest.rule" >"$tmp/base-rules/ap-digest.rule"
alerts render-basic.in.ndjson "$n" >"$tmp/direct"
alerts render-digest.in.ndjson "$n" >"$tmp/digest"
if [ -n "$small" ]; then
	alerts render-basic.in.ndjson "$small" >"$tmp/direct.small"
	alerts render-digest.in.ndjson "$small" >"$tmp/digest.small"
fi

# one BIN RULE INPUT [OUT]: CPU seconds (user + system) of one run in $s (with -c:
# instructions), output lines in $lines; stdout in OUT (default $tmp/out),
# stderr in OUT.err.  CPU, not wall time: on a shared machine the wall time
# mostly measures the other jobs.
one() {
	out=${4:-$tmp/out}
	if [ "$count" = 1 ]; then
		valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" --log-file="$tmp/vg" \
			"$1" -r "$2" --no-state --now "$now" <"$3" >"$out" 2>"$out.err" || true
		s=$(sed -n 's/^summary: //p; s/^totals: //p' "$tmp/cg" | head -n 1)
		lines=$(wc -l <"$out" | tr -d ' ')
		return
	fi
	/usr/bin/time -o "$tmp/time" -f '%U %S' "$1" -r "$2" --no-state --now "$now" <"$3" \
		>"$out" 2>"$out.err" || true
	s=$(tail -n 1 "$tmp/time" | awk '{ printf "%.2f", $1 + $2 }')
	lines=$(wc -l <"$out" | tr -d ' ')
}
# same A B: the two runs' stdout and stderr byte-identical (SAME_RULE=1)
same() {
	if ! cmp -s "$1" "$2" || ! cmp -s "$1.err" "$2.err"; then
		echo "error: $kind: output differs between new and base" >&2
		exit 1
	fi
}
# marginal BIG SMALL: the cost per alert between the two sizes
marginal() { echo "$1 $2 $n $small" | awk '{ printf "%.9f\n", ($1 - $2) / ($3 - $4) }'; }
# say_marginal WHO FILE MEDIAN TAIL: each round's marginal cost and the median
say_marginal() {
	unit=us
	[ "$count" = 1 ] && unit=instructions
	echo "$kind, marginal $small to $n alerts: $1" \
		"$(awk -v c="$count" '{ printf "%.0f ", c == 1 ? $1 : $1 * 1e6 }' "$2")$unit;" \
		"median $(echo "$3" | awk -v c="$count" '{ printf "%.1f", c == 1 ? $1 : $1 * 1e6 }')" \
		"$unit an alert$4"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for kind in direct digest; do
	rule=$R/ap-aging.rule
	[ "$kind" = digest ] && rule=$R/ap-digest.rule
	brule=$rule
	[ "$kind" = digest ] && [ "${SAME_RULE:-0}" != 1 ] && brule=$tmp/base-rules/ap-digest.rule
	: >"$tmp/t.new"
	: >"$tmp/t.base"
	: >"$tmp/m.new"
	: >"$tmp/m.base"
	i=0
	while [ "$i" -lt "$rounds" ]; do
		one "$new" "$rule" "$tmp/$kind" "$tmp/out.new"
		echo "$s" >>"$tmp/t.new"
		sn=$s
		nl=$lines
		if [ -n "$base" ]; then
			one "$base" "$brule" "$tmp/$kind" "$tmp/out.base"
			echo "$s" >>"$tmp/t.base"
			sb=$s
			[ "$lines" = "$nl" ] || echo "warning: $kind: $nl lines against $lines" >&2
			[ "${SAME_RULE:-0}" = 1 ] && same "$tmp/out.new" "$tmp/out.base"
		fi
		if [ -n "$small" ]; then
			one "$new" "$rule" "$tmp/$kind.small" "$tmp/out.new"
			marginal "$sn" "$s" >>"$tmp/m.new"
			if [ -n "$base" ]; then
				one "$base" "$brule" "$tmp/$kind.small" "$tmp/out.base"
				marginal "$sb" "$s" >>"$tmp/m.base"
				[ "${SAME_RULE:-0}" = 1 ] && same "$tmp/out.new" "$tmp/out.base"
			fi
		fi
		i=$((i + 1))
	done
	if [ -n "$small" ]; then
		mn=$(median <"$tmp/m.new")
		say_marginal alert-render "$tmp/m.new" "$mn" ""
		if [ -n "$base" ]; then
			mb=$(median <"$tmp/m.base")
			say_marginal base "$tmp/m.base" "$mb" \
				"; ratio new/base $(echo "$mn $mb" | awk '{ printf "%.3f", $1 / $2 }')"
		fi
	fi
	m=$(median <"$tmp/t.new")
	if [ "$count" = 1 ]; then
		echo "$kind, $n alerts ($nl lines): alert-render $m instructions," \
			"$((m / n)) per alert"
		if [ -n "$base" ]; then
			mb=$(median <"$tmp/t.base")
			echo "$kind, $n alerts: base $mb instructions, $((mb / n)) per alert;" \
				"ratio new/base $(echo "$m $mb" | awk '{ printf "%.5f", $1 / $2 }')"
		fi
		continue
	fi
	echo "$kind, $n alerts ($nl lines): alert-render $(tr '\n' ' ' <"$tmp/t.new")s;" \
		"median $m s CPU, $(echo "$m $n" | awk '{ printf "%.0f", $1 / $2 * 1e6 }') us/alert"
	if [ -n "$base" ]; then
		mb=$(median <"$tmp/t.base")
		echo "$kind, $n alerts: base $(tr '\n' ' ' <"$tmp/t.base")s;" \
			"median $mb s CPU, $(echo "$mb $n" | awk '{ printf "%.0f", $1 / $2 * 1e6 }') us/alert;" \
			"ratio new/base $(echo "$m $mb" | awk '{ printf "%.3f", $1 / $2 }')"
	fi
done
