#!/bin/sh
# bench/jde-fetch.sh — jde-fetch benchmarks (not timed tests; numbers go to
# bench/README.md).
#
#   1. parse: jde-fetch --parse-response against
#      jq -c '.fs_DATABROWSE_F0411.data.gridData.rowset[]' on the same page
#      files, side by side in one run.
#   2. memory: peak RSS of a paging query through the AIS simulator for a
#      small and a big generated table (/usr/bin/time -f %M); again with
#      tokens that live two requests each (fault token-life), so that the
#      read starts over after every second page and resumes after the last
#      row written.
#   3. joins: AIS requests made by jde-join, from the simulator's request log,
#      against the number of batches.
#
# usage: bench/jde-fetch.sh [-p PAGES] [-r ROWS_PER_PAGE] [-s SMALL] [-b BIG]
# Defaults: 10 pages of 20000 rows; 10000 and 1000000 rows for memory.
# Needs a built tree (make), jq, /usr/bin/time.  Scratch in $TMPDIR.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=$top/bin
pages=10
rows=20000
small=10000
big=1000000
while getopts p:r:s:b: o; do
	case $o in
	p) pages=$OPTARG ;;
	r) rows=$OPTARG ;;
	s) small=$OPTARG ;;
	b) big=$OPTARG ;;
	*) echo "usage: bench/jde-fetch.sh [-p PAGES] [-r ROWS] [-s SMALL] [-b BIG]" >&2; exit 64 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jde-bench.XXXXXX")
simpid=
cleanup() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | sed 's/^\./0./;s/\(\.[0-9][0-9][0-9]\).*/\1/'; }

# ---- 1. parse speed -------------------------------------------------------
echo "== parse: $pages pages of $rows F0411 rows"
"$top/scripts/gen-jde-data" F0411 $((pages * rows)) >"$tmp/rows.ndjson"
split -l "$rows" -d -a 4 "$tmp/rows.ndjson" "$tmp/rows."
for f in "$tmp"/rows.[0-9]*; do
	{
		printf '{"fs_DATABROWSE_F0411":{"title":"Data Browser - F0411","data":{"gridData":'
		printf '{"id":1,"fullGridId":"1","columns":{},"rowset":['
		sed '$!s/$/,/' "$f"
		printf '],"summary":{"records":%d,"moreRecords":true}}},"errors":[],"warnings":[]},' \
			"$(wc -l <"$f")"
		printf '"stackId":1,"stateId":1,"rid":"x","sysErrors":[]}\n'
	} >"$f.json"
	rm -f "$f"
done
bytes=$(cat "$tmp"/rows.*.json | wc -c)
t0=$(now)
"$bin/jde-fetch" --parse-response "$tmp"/rows.*.json >"$tmp/jf.out"
t1=$(now)
jq -c '.fs_DATABROWSE_F0411.data.gridData.rowset[]' "$tmp"/rows.*.json >"$tmp/jq.out"
t2=$(now)
echo "input: $bytes bytes"
echo "jde-fetch --parse-response: $(secs "$t0" "$t1") s, $(wc -l <"$tmp/jf.out") records, $(wc -c <"$tmp/jf.out") bytes out"
echo "jq -c ...rowset[]:          $(secs "$t1" "$t2") s, $(wc -l <"$tmp/jq.out") rows, $(wc -c <"$tmp/jq.out") bytes out"
rm -f "$tmp"/rows.* "$tmp/jf.out" "$tmp/jq.out"

# ---- the simulator -----------------------------------------------------------
export ML_CONNECTOR_STATE="$tmp/state" ML_CONNECTOR_CONF="$tmp/ml-connector.conf" ML_CONNECTOR_KDF_FAST=1
printf 'bench-pw\n' >"$tmp/pw"
chmod 600 "$tmp/pw"
sim() { # sim DATADIR
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	rm -f "$tmp/port"
	"$bin/mlc-ais-sim" --port 0 --port-file "$tmp/port" --request-log "$tmp/log" \
		--password-file "$tmp/pw" --today 2026-11-26 --data "$1" 2>/dev/null &
	simpid=$!
	bench_ports "$tmp/port" || { echo "mlc-ais-sim did not start" >&2; exit 1; }
	cat >"$ML_CONNECTOR_CONF" <<EOF
[ais]
url = http://127.0.0.1:$(cat "$tmp/port")
user = JDE
environment = JDV920
device = bench
timeout = 600

[general]
default_country = 1
EOF
}
"$bin/mlc-vault" init >/dev/null 2>&1
printf 'bench-pw\n' | "$bin/mlc-vault" set ais.password

# ---- 2. memory -------------------------------------------------------------------
for n in "$small" "$big"; do
	mkdir -p "$tmp/d$n"
	cp "$top/data/jde/columns.json" "$tmp/d$n/"
	"$top/scripts/gen-jde-data" F0411 "$n" >"$tmp/d$n/F0411.ndjson"
	sim "$tmp/d$n"
	: >"$tmp/log"
	t0=$(now)
	/usr/bin/time -f %M -o "$tmp/rss" "$bin/jde-fetch" -t F0411 -p 1000 >"$tmp/out"
	t1=$(now)
	echo "== memory: $n rows: peak RSS $(cat "$tmp/rss") KiB, $(wc -l <"$tmp/out") records," \
		"$(grep -c '"path":"/jderest/v2/dataservice' "$tmp/log") data requests, $(secs "$t0" "$t1") s"
	curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"spec":"token-life:requests=2"}' \
		"http://127.0.0.1:$(cat "$tmp/port")/_sim/fault"
	: >"$tmp/log"
	t0=$(now)
	/usr/bin/time -f %M -o "$tmp/rss" "$bin/jde-fetch" -t F0411 -p 1000 >"$tmp/out" 2>/dev/null
	t1=$(now)
	echo "== memory, tokens of 2 requests: $n rows: peak RSS $(cat "$tmp/rss") KiB," \
		"$(wc -l <"$tmp/out") records ($(jq -r .key "$tmp/out" | sort -u | wc -l) distinct keys)," \
		"$(grep -c '"path":"/jderest/v2/tokenrequest"' "$tmp/log") logins," \
		"$(grep -c '"path":"/jderest/v2/dataservice' "$tmp/log") data requests, $(secs "$t0" "$t1") s"
	rm -rf "$tmp/d$n" "$tmp/out"
done

# ---- 3. joins ------------------------------------------------------------------------
mkdir -p "$tmp/dj" "$tmp/rules"
cp "$top"/data/jde/* "$tmp/dj/"
sim "$tmp/dj"
cat >"$tmp/rules/bench-join.rule" <<'EOF'
[rule]
name = bench-join

[source]
table = F0411

[join]
vendor = AN8
payee = PYE
owner = MCU via F0006
EOF
"$bin/jde-fetch" -t F0411 >"$tmp/records"
n=$(wc -l <"$tmp/records")
for b in 100 10; do
	: >"$tmp/log"
	"$bin/jde-join" -r bench-join -b "$b" <"$tmp/records" >/dev/null
	echo "== join: $n records, batch $b ($(((n + b - 1) / b)) batches): requests per table:" \
		"$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$tmp/log" |
			sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
done
