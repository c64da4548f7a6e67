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

# the scratch directory, the secrets, data and env_start (both simulators,
# a configuration, a vault, the seed rules, the storm raised or not) are
# bench/e2e-lib.sh's, shared with bench/e2e.sh and bench/ratio.sh
. "$top/bench/e2e-lib.sh"
data "$tmp/data" "F0411=$n"

echo "# sh bench/trail-size.sh -b $bin $n; $(date -u +%Y-%m-%dT%H:%MZ); $(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo '?')"
for storm in shipped raised; do
	env_start "$storm" "$tmp/data" "$storm"
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
