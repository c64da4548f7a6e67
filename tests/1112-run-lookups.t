#!/usr/bin/env bash
# ml-connector run of a rule whose only join is [lookup]: the orchestrator
# asks mlc-rule joins, runs jde-join on the session jde-fetch hands on, and
# the SMS carries the item description and the branch name.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$(dirname "$0")/e2e-lib.sh"
start_env lk || exit 1
cat >"$ML_CONNECTOR_RULES/lk-items.rule" <<'EOF2'
[rule]
name = lk-items

[source]
table = F4102
columns = ITM MCU ROPI
where = ITM = 60001
incremental = none

[lookup]
item   = F4101 by ITM -> DSC1 LITM
branch = F0006 by MCU -> DL01

[match]
expr = .lookups.item.DSC1 != null

[recipients]
to = sms:+13125550199
channels = sms

[message]
sms = \(.lookups.item.LITM): \(.lookups.item.DSC1) at \(.lookups.branch.DL01)
EOF2
mlc-rule joins lk-items
is "$?" 0 "mlc-rule joins: the rule has work for jde-join"
: >"$MLC_AIS_SIM_LOG"
ml-connector run lk-items >"$T/out" 2>"$T/err"
is "$?" 0 "run of a [lookup]-only rule: status 0"
is "$(sms_accepted | cut -f2 | sort | tr '\n' '|')" \
	"HIC-BRG-6205: Ball Bearing 6205-2RS at Chicago Assembly Plant|HIC-BRG-6205: Ball Bearing 6205-2RS at Milwaukee Machining Plant|" \
	"the SMS carry the item description and the branch name"
is "$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$MLC_AIS_SIM_LOG" | tr '\n' ' ')" \
	"F4102 F4101 F0006 " "the source query, then one query per lookup"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '^/jderest/v2/tokenrequest$')" 1 \
	"one login: jde-join took the session jde-fetch handed on"
stop_env
done_testing
