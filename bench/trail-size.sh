#!/bin/sh
# bench/trail-size.sh — the audit trail's bytes per record fetched (not a
# timed test; numbers go to bench/README.md).
#
# ml-connector run ap-aging over F0411 with N generated invoices
# (scripts/gen-jde-data; default 20,000) against both simulators, with the
# rule's shipped storm limit (the month-end case: every alert into the
# digest), then the same with the storm limit raised (every alert sent on
# its own: queued and sent rows per delivery).  The state database is
# copied with VACUUM INTO (no free pages, no WAL) and its size divided by
# the records fetched (audit rows of stage "fetched"); SQLite's dbstat
# gives the bytes of each table and index.
#
# usage: sh bench/trail-size.sh [-b BINDIR] [N]
#   -b: the binaries to measure (default: this tree's bin), e.g. those of an
#       older commit built in a git worktree, to compare side by side
# Needs a built tree (make), sqlite3 with dbstat; scratch in $TMPDIR
# (KEEP=1 keeps it).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=$top/bin
usage() { echo "usage: sh bench/trail-size.sh [-b BINDIR] [N]" >&2; exit 64; }
while getopts b: o; do
	case $o in
	b) bin=$(cd "$OPTARG" && pwd) ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
n=${1:-20000}
case $n in '' | *[!0-9]*) usage ;; esac
for p in ml-connector alert-log mlc-vault mlc-ais-sim mlc-twilio-sim; do
	[ -x "$bin/$p" ] || { echo "bench/trail-size.sh: $bin/$p missing: run make first" >&2; exit 66; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trail-size.XXXXXX")
aispid=
twpid=
stop_sims() {
	for p in $aispid $twpid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	aispid=''
	twpid=''
}
cleanup() {
	[ -z "${KEEP:-}" ] || { stop_sims; echo "kept $tmp"; return; }
	stop_sims
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
(umask 077 && secret >"$tmp/ais.pw" && secret >"$tmp/tw.token" && secret >"$tmp/sg.key")
sid=AC$(secret)

mkdir -p "$tmp/data"
cp "$top"/data/jde/*.ndjson "$top/data/jde/columns.json" "$tmp/data/"
"$top/scripts/gen-jde-data" F0411 "$n" >"$tmp/data/F0411.ndjson"

# env_start NAME shipped|raised: simulators, configuration, vault, the rule
env_start() {
	stop_sims
	e=$tmp/env-$1
	mkdir -p "$e/rules"
	cp "$top/data/rules/ap-aging.rule" "$e/rules/"
	[ "$2" = shipped ] || sed -i 's/^storm *=.*/storm       = 100000000/' "$e"/rules/*.rule
	"$bin/mlc-ais-sim" --port 0 --port-file "$e/ais.port" --password-file "$tmp/ais.pw" \
		--today 2026-11-26 --data "$tmp/data" 2>"$e/ais.err" &
	aispid=$!
	"$bin/mlc-twilio-sim" --port 0 --port-file "$e/tw.port" --account-sid "$sid" \
		--auth-token-file "$tmp/tw.token" --sendgrid-key-file "$tmp/sg.key" \
		--rate 0 --latency 0 2>"$e/tw.err" &
	twpid=$!
	bench_ports "$e/ais.port" "$e/tw.port" || { cat "$e"/*.err >&2; exit 70; }
	cat >"$e/conf" <<EOF
[general]
default_country = 1
timezone = America/Chicago
rules_dir = $e/rules
[ais]
url = http://127.0.0.1:$(cat "$e/ais.port")
user = JDE
environment = JDV920
device = bench
timeout = 600
[twilio]
account_sid = $sid
from = +15005550006
rate = 10000
max_in_flight = 64
base_url = http://127.0.0.1:$(cat "$e/tw.port")
[sendgrid]
from = alerts@hartmann.example
base_url = http://127.0.0.1:$(cat "$e/tw.port")
EOF
	export ML_CONNECTOR_CONF="$e/conf" ML_CONNECTOR_STATE="$e/state" ML_CONNECTOR_RULES="$e/rules"
	"$bin/mlc-vault" init >/dev/null 2>&1
	"$bin/mlc-vault" set ais.password <"$tmp/ais.pw"
	"$bin/mlc-vault" set twilio.auth_token <"$tmp/tw.token"
	"$bin/mlc-vault" set sendgrid.api_key <"$tmp/sg.key"
}

echo "# sh bench/trail-size.sh -b $bin $n; $(date -u +%Y-%m-%dT%H:%MZ); $(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo '?')"
for storm in shipped raised; do
	env_start "$storm" "$storm"
	rc=0
	"$bin/ml-connector" run ap-aging >/dev/null 2>"$e/run.err" || rc=$?
	[ "$rc" = 0 ] || { echo "ml-connector run ap-aging: exit $rc" >&2; cat "$e/run.err" >&2; }
	db=$e/state/state.db
	sqlite3 "$db" "VACUUM INTO '$e/vac.db'"
	bytes=$(wc -c <"$e/vac.db" | tr -d ' ')
	fetched=$(sqlite3 "$db" "SELECT count(*) FROM audit WHERE stage = 'fetched'")
	alerts=$(sqlite3 "$db" "SELECT count(*) FROM audit WHERE stage = 'matched'")
	rows=$(sqlite3 "$db" "SELECT count(*) FROM audit")
	echo
	echo "== storm $storm: exit $rc; $fetched records fetched, $alerts alerts, $rows audit rows"
	echo "   state.db after VACUUM: $bytes bytes: $((bytes / (fetched > 0 ? fetched : 1))) bytes per record fetched"
	sqlite3 "$e/vac.db" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name
		HAVING sum(pgsize) > 8192 ORDER BY 2 DESC" |
		awk -F '|' -v f="$fetched" '{ printf "   %-24s %12d bytes %8.1f per record fetched\n", $1, $2, $2 / (f ? f : 1) }'
	stop_sims
done
