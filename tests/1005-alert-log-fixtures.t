#!/usr/bin/env bash
# alert-log on fixtures, one per tests/fixtures/log-NAME.in.ndjson: the tee
# runs on it (with the options in log-NAME.args, if any) in a state
# directory of its own, and stdout, stderr and the status are compared with
# log-NAME.exp.ndjson, .exp.err and .exp.rc (run_fixture); then what the
# trail shows afterwards, as NDJSON without the clock's columns:
#   .exp.trail       alert-log query -f ndjson        (without ts)
#   .exp.status      alert-log status -f ndjson
#   .exp.quarantine  alert-log quarantine list -f ndjson (without first_ts, last_ts)
# Each is compared only when its file exists.  A new case is new files, no code.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures
n=0
for in in "$F"/log-*.in.ndjson; do
	name=$(basename "$in" .in.ndjson)
	d=$T/$name.state
	args=()
	if [ -f "$F/$name.args" ]; then
		read -r -a args <"$F/$name.args"
	fi
	run_fixture alert-log "$name" -d "$d" "${args[@]}"
	if [ -f "$F/$name.exp.trail" ]; then
		alert-log -d "$d" query -f ndjson | jq -c 'del(.ts)' >"$T/$name.trail"
		diff_ok "$T/$name.trail" "$F/$name.exp.trail" "alert-log $name: the trail afterwards (query)"
	fi
	if [ -f "$F/$name.exp.status" ]; then
		alert-log -d "$d" status -f ndjson >"$T/$name.status"
		diff_ok "$T/$name.status" "$F/$name.exp.status" "alert-log $name: status afterwards"
	fi
	if [ -f "$F/$name.exp.quarantine" ]; then
		alert-log -d "$d" quarantine list -f ndjson | jq -c 'del(.first_ts, .last_ts)' \
			>"$T/$name.quarantine"
		diff_ok "$T/$name.quarantine" "$F/$name.exp.quarantine" \
			"alert-log $name: the quarantine afterwards"
	fi
	n=$((n + 1))
done
[ "$n" -ge 4 ]
ok "$n alert-log fixtures"

done_testing
