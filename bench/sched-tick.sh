#!/bin/sh
# bench/sched-tick.sh — what the per-minute crontab line costs (not a timed
# test; numbers go to bench/README.md).
#
# `ml-connector schedule` writes one line per rule that fires every minute:
#   * * * * * ML_CONNECTOR_CONF=... ml-connector run --scheduled --quiet RULE
# and on almost every minute nothing is due.  This measures such a check, as
# cron runs it (sh -c LINE), on a state database that already knows the
# rule: wall time and CPU (user + system, children included) per check, and
# the same for the bare `mlc-rule due` inside it; and the escalation line
#   * * * * * ML_CONNECTOR_CONF=... ml-connector escalate --quiet
# with nothing due (the two rules listed, one with [escalation], one read
# of its escalations).
#
# usage: bench/sched-tick.sh [-n CHECKS]     (default 500)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
n=500
while getopts n: o; do
	case $o in
	n) n=$OPTARG ;;
	*) echo "usage: bench/sched-tick.sh [-n CHECKS]" >&2; exit 64 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tick-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/rules"
printf '[general]\nstate_dir = %s/state\nrules_dir = %s/rules\n' "$tmp" "$tmp" >"$tmp/conf"
printf '[rule]\nname = tick\nschedule = daily 08:00\ntimezone = Asia/Kolkata\n' \
	>"$tmp/rules/tick.rule"
# and one with [escalation]: schedule then writes the escalate line too
printf '[rule]\nname = esc\nschedule = daily 08:00\n[escalation]\nstep = 2h sms:+13125550148\n' \
	>"$tmp/rules/esc.rule"
export ML_CONNECTOR_CONF="$tmp/conf"
unset ML_CONNECTOR_STATE ML_CONNECTOR_RULES
line=$("$top/bin/ml-connector" schedule | grep -v '^#' | grep ' tick$')
cmd=${line#"* * * * * "}
eline=$("$top/bin/ml-connector" schedule | grep -v '^#' | grep ' escalate --quiet$')
ecmd=${eline#"* * * * * "}
# a minute with nothing due (08:00 in Kolkata is 02:30Z); the first check
# records the rule's baseline
export ML_CONNECTOR_NOW=2026-11-26T10:17:00Z
sh -c "$cmd"

measure() { # LABEL CMD: N runs, wall and CPU per run in ms
	t0=$(date +%s%N)
	set -- "$1" "$2" "$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$$/stat)"
	i=0
	while [ "$i" -lt "$n" ]; do
		sh -c "$2" || :
		i=$((i + 1))
	done
	t1=$(date +%s%N)
	c1=$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$$/stat)
	hz=$(getconf CLK_TCK)
	awk -v l="$1" -v n="$n" -v w="$((t1 - t0))" -v c="$((c1 - $3))" -v hz="$hz" 'BEGIN {
		printf "%-40s %6.2f ms wall, %6.2f ms CPU per check (%d checks)\n", l, w / 1e6 / n, c * 1000 / hz / n, n }'
}
measure "ml-connector run --scheduled (not due)" "$cmd"
measure "mlc-rule due (not due)" "ML_CONNECTOR_STATE=$tmp/state $top/bin/mlc-rule -R $tmp/rules due tick"
measure "ml-connector escalate (nothing due)" "$ecmd"
echo "state rows: $(sqlite3 "$tmp/state/state.db" 'SELECT count(*) FROM schedule')" \
	"(the baseline), runs: $(sqlite3 "$tmp/state/state.db" 'SELECT count(*) FROM run')"
