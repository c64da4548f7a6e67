#!/bin/sh
# bench/alert-match.sh — alert-match benchmarks (not timed tests; numbers go
# to bench/README.md).
#
#   1. speed: alert-match against jq -c 'select(EXPR)' with the same
#      expression on the same generated F0411 records, side by side in one
#      run.
#   2. memory: peak RSS of alert-match (/usr/bin/time -f %M) on a small and a
#      big input, once plain and once with the storm guard (which spools
#      every alert to a temporary file).
#
# usage: bench/alert-match.sh [-s SMALL] [-b BIG] [-r ROUNDS]
# Defaults: 10000 and 1000000 records.  -r ROUNDS: instead, the speed on
# BIG records only, as CPU time (user + system) in ROUNDS interleaved
# rounds of alert-match, jq -c 'select(EXPR)' and, with
# ALERT_MATCH_BASE=/other/bin/alert-match, that binary too (output
# compared with ours); medians and ratios.  Records are made from
# scripts/gen-jde-data F0411 rows by an awk script (key, row, dates.DDJ, as
# jde-fetch writes them).  Needs a built tree (make), jq, /usr/bin/time and
# about 1 GB in $TMPDIR for a million records.  MLC_BIN=DIR runs the
# alert-match of DIR (another build) instead of bin/.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MLC_BIN:-$top/bin}
small=10000
big=1000000
rounds=0
while getopts s:b:r: o; do
	case $o in
	s) small=$OPTARG ;;
	b) big=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) echo "usage: bench/alert-match.sh [-s SMALL] [-b BIG] [-r ROUNDS]" >&2; exit 64 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/match-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The AP aging test without the library (plain jq has no days_ago): open and
# due 30 days or more before the dataset's reference date 2026-11-26.
expr='(.row.F0411_AAP // 0) != 0 and .dates.DDJ != null and .dates.DDJ <= "2026-10-27"'
now=2026-11-26T14:00:00Z

cat >"$tmp/bench.rule" <<EOF
[rule]
name = bench
timezone = America/Chicago

[match]
expr = $expr

[recipients]
to = sms:+13125550104
channels = sms
EOF
sed 's/^channels = sms$/channels = sms\n/' "$tmp/bench.rule" >"$tmp/storm.rule"
sed -i -e 's/^name = bench/name = storm/' -e 's/^\[recipients\]/storm = 10\n\n[recipients]/' \
	"$tmp/storm.rule"

# records: {"table","key","row","dates":{"DDJ"},"fetched_at"} from GRID_DATA rows
records() {
	"$top/scripts/gen-jde-data" F0411 "$1" 1 | awk '
	function val(col,    i, r) {
		i = index($0, "\"F0411_" col "\":")
		if (!i) return ""
		r = substr($0, i + length(col) + 9)
		sub(/[,}].*/, "", r)
		gsub(/"/, "", r)
		return r
	}
	{
		ddj = val("DDJ")
		d = (length(ddj) == 8 && ddj ~ /^[0-9]+$/) ? "\"" substr(ddj, 1, 4) "-" substr(ddj, 5, 2) "-" substr(ddj, 7, 2) "\"" : "null"
		printf "{\"table\":\"F0411\",\"key\":\"%s|%s|%s|%s\",\"row\":%s,\"dates\":{\"DDJ\":%s},\"fetched_at\":\"2026-11-26T13:59:00.000Z\",\"rule\":\"bench\"}\n",
			val("KCO"), val("DCT"), val("DOC"), val("SFX"), $0, d
	}'
}

# run a command: its output in $tmp/out, wall seconds in $s, peak RSS in $m
measure() {
	/usr/bin/time -f '%e %M' "$@" 2>"$tmp/time" >"$tmp/out" || true
	s=$(tail -n 1 "$tmp/time" | cut -d ' ' -f 1)
	m=$(tail -n 1 "$tmp/time" | cut -d ' ' -f 2)
}

# cpu OUT COMMAND...: CPU seconds (user + system) in $s, output in OUT
cpu() {
	o=$1
	shift
	/usr/bin/time -f '%U %S' "$@" 2>"$tmp/time" >"$o" || true
	s=$(tail -n 1 "$tmp/time" | awk '{ printf "%.2f", $1 + $2 }')
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if [ "$rounds" -gt 0 ]; then
	base=${ALERT_MATCH_BASE:-}
	echo "generating $big records..."
	records "$big" >"$tmp/big"
	: >"$tmp/t.am"
	: >"$tmp/t.jq"
	: >"$tmp/t.base"
	i=0
	while [ "$i" -lt "$rounds" ]; do
		cpu "$tmp/out" "$bin/alert-match" -r "$tmp/bench.rule" --no-state --now "$now" <"$tmp/big"
		echo "$s" >>"$tmp/t.am"
		cpu "$tmp/out.jq" jq -c "select($expr)" "$tmp/big"
		echo "$s" >>"$tmp/t.jq"
		if [ -n "$base" ]; then
			cpu "$tmp/out.base" "$base" -r "$tmp/bench.rule" --no-state --now "$now" <"$tmp/big"
			echo "$s" >>"$tmp/t.base"
			cmp -s "$tmp/out" "$tmp/out.base" || echo "warning: base output differs" >&2
		fi
		i=$((i + 1))
	done
	am=$(median <"$tmp/t.am")
	jqm=$(median <"$tmp/t.jq")
	echo "$big records, $(wc -l <"$tmp/out") alerts; CPU s per round:"
	echo "alert-match: $(tr '\n' ' ' <"$tmp/t.am")median $am"
	echo "jq select:   $(tr '\n' ' ' <"$tmp/t.jq")median $jqm;" \
		"jq/alert-match $(echo "$jqm $am" | awk '{ printf "%.2f", $1 / $2 }')"
	if [ -n "$base" ]; then
		bm=$(median <"$tmp/t.base")
		echo "base:        $(tr '\n' ' ' <"$tmp/t.base")median $bm;" \
			"jq/base $(echo "$jqm $bm" | awk '{ printf "%.2f", $1 / $2 }');" \
			"base/alert-match $(echo "$bm $am" | awk '{ printf "%.2f", $1 / $2 }')"
	fi
	exit 0
fi

echo "generating $big and $small records..."
records "$big" >"$tmp/big"
records "$small" >"$tmp/small"
wc -c "$tmp/big" "$tmp/small"

echo
echo "== speed: $big records, expression: $expr"
measure "$bin/alert-match" -r "$tmp/bench.rule" --no-state --now "$now" <"$tmp/big"
am_s=$s am_n=$(wc -l <"$tmp/out")
measure jq -c "select($expr)" <"$tmp/big"
jq_s=$s jq_n=$(wc -l <"$tmp/out")
echo "alert-match:        ${am_s} s, $am_n alerts"
echo "jq -c 'select(..)': ${jq_s} s, $jq_n records"

echo
echo "== memory: peak RSS (KiB)"
for n in small big; do
	measure "$bin/alert-match" -r "$tmp/bench.rule" --no-state --now "$now" <"$tmp/$n"
	echo "alert-match $n: $m KiB ($s s, $(wc -l <"$tmp/out") alerts)"
	measure "$bin/alert-match" -r "$tmp/storm.rule" --no-state --now "$now" <"$tmp/$n"
	echo "alert-match, storm guard, $n: $m KiB ($s s, $(wc -l <"$tmp/out") lines)"
done
