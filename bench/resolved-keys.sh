#!/usr/bin/env bash
# bench/resolved-keys.sh — AIS requests and wall time to read open alerts again
# by key (jde-fetch --keys, the resolved notices of ml-connector.5 [resolved]):
# K open keys out of an F0411 of N rows, in batches of B keys per query against
# one request per record (B = 1): bench/README.md.
#   usage: bench/resolved-keys.sh [N [K...]]     (default 10000 rows; 1 100 1000 keys)
. "$(dirname "$0")/../tests/lib.sh" >/dev/null
N=${1:-10000}
shift 2>/dev/null
KS=${*:-1 100 1000}
mkdir -p "$T/data"
cp "$TOP"/data/jde/* "$T/data/"
"$TOP/scripts/gen-jde-data" F0411 "$N" >"$T/data/F0411.ndjson"
PW=x; ais_start "$PW" "$T/data" >/dev/null || exit 1
mkdir -p "$T/rules"
printf '[ais]\nurl = http://127.0.0.1:%s\nuser = JDE\nenvironment = JDV920\n' "$MLC_AIS_SIM_PORT" >"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1; mlc-vault init 2>/dev/null; printf '%s\n' "$PW" | mlc-vault set ais.password
printf '[rule]\nname = ap\n[source]\ntable = F0411\ncolumns = DOC AAP\nwhere = AAP != 0\npage_size = 500\n' >"$T/rules/ap.rule"
export ML_CONNECTOR_RULES=$T/rules
# every other open voucher's key, as alert-log open writes them
jq -r 'select(.F0411_AAP != 0) | "\(.F0411_KCO)|\(.F0411_DCT)|\(.F0411_DOC)|\(.F0411_SFX)"' "$T/data/F0411.ndjson" |
	awk 'NR % 2 == 1' >"$T/allkeys"
printf '| open keys | batch | queries | pages | logins | records | wall time |\n| --- | --- | --- | --- | --- | --- | --- |\n'
for k in $KS; do
	head -n "$k" "$T/allkeys" | jq -Rc '{key: .}' >"$T/open"
	for b in 1 100; do
		[ "$b" -gt 1 ] || [ "$k" -le 1000 ] || continue
		: >"$MLC_AIS_SIM_LOG"
		s=$(date +%s.%N)
		n=$(jde-fetch -r ap --keys "$T/open" --batch "$b" | grep -c .)
		e=$(date +%s.%N)
		q=$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/dataservice$')
		p=$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/dataservice/next$')
		l=$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/tokenrequest$')
		printf '| %s | %s | %s | %s | %s | %s | %.2f s |\n' "$k" "$b" "$q" "$p" "$l" "$n" "$(echo "$e - $s" | bc)"
	done
done
