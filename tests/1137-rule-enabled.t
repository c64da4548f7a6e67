#!/usr/bin/env bash
# [rule] enabled = no, against both simulators: check passes and says the
# rule is disabled; preview renders it; run --all, run --scheduled and
# schedule (crontab and systemd units) leave it out and say so; naming it
# still runs it; a value other than yes or no is a rule error (78).
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

start_env dis || exit 1
R=$ML_CONNECTOR_RULES
DB=$ML_CONNECTOR_STATE/state.db
sed -i 's/^\[rule\]$/&\nenabled = no/' "$R/ap-aging.rule"
runs() { sqlite3 "$DB" "SELECT count(*) FROM run WHERE rule = '$1'" 2>/dev/null || echo 0; }
export ML_CONNECTOR_NOW=2026-11-26T14:00:00Z

mlc-rule enabled ap-aging
is "$?" 1 "mlc-rule enabled: 1 for enabled = no"
mlc-rule enabled high-value-po
is "$?" 0 "mlc-rule enabled: 0 by default"

ml-connector check >"$T/check.out" 2>"$T/check.err"
is "$?" 0 "check passes with a disabled rule"
like "$(cat "$T/check.out")" "^ap-aging: ok \(enabled = no" "check says the rule is disabled"
like "$(cat "$T/check.out")" "high-value-po: ok\$" "and the other rule is plainly ok"

ml-connector preview ap-aging "$TOP/tests/fixtures/match-ap-aging.in.ndjson" >"$T/preview" 2>"$T/preview.err"
is "$?" 0 "preview renders a disabled rule"
isnt "$(grep -c . "$T/preview")" 0 "with deliveries on stdout"

ml-connector run --all >"$T/all.out" 2>"$T/all.err"
is "$?" 0 "run --all"
is "$(runs ap-aging)/$(runs high-value-po)" "0/1" "run --all ran only the enabled rule"
like "$(cat "$T/all.err")" "rule ap-aging: skipped: \[rule\] enabled = no" "and said why it left one out"

ml-connector schedule >"$T/crontab" 2>"$T/sched.err"
is "$?" 0 "schedule --cron"
is "$(grep -c 'run --scheduled --quiet ap-aging' "$T/crontab")" 0 "no crontab line for the disabled rule"
is "$(grep -c 'run --scheduled --quiet high-value-po' "$T/crontab")" 1 "a line for the enabled one"
like "$(cat "$T/sched.err")" "rule ap-aging: skipped" "schedule says it left the rule out"
ml-connector schedule --systemd "$T/units" >/dev/null 2>&1
is "$(find "$T/units" -name '*ap-aging*' | grep -c .)" 0 "schedule --systemd writes no unit for it"
isnt "$(find "$T/units" -name '*high-value-po*' | grep -c .)" 0 "but does for the enabled rule"

ml-connector run --scheduled ap-aging >"$T/sw.out" 2>"$T/sw.err"
is "$?" 0 "run --scheduled of a disabled rule: 0"
is "$(runs ap-aging)" 0 "and nothing ran"
is "$(sqlite3 "$DB" "SELECT count(*) FROM schedule WHERE rule = 'ap-aging'")" 0 \
	"not even a schedule baseline was recorded"

ml-connector run ap-aging >"$T/one.out" 2>"$T/one.err"
is "$?" 0 "run ap-aging by name"
is "$(runs ap-aging)" 1 "naming a disabled rule runs it"

sed -i 's/^enabled = no$/enabled = off/' "$R/ap-aging.rule"
ml-connector check ap-aging >/dev/null 2>"$T/bad.err"
is "$?" 78 "enabled = off: a rule error"
like "$(cat "$T/bad.err")" "ap-aging.rule:[0-9]+: enabled \"off\" \(expected yes or no\)" \
	"named with its file and line"

stop_env
done_testing
