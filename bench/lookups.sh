#!/usr/bin/env bash
# bench/lookups.sh — AIS requests per 1,000 records with three [lookup] entries (F4101 item,
# F0006 branch, F0901 account by four keys), per batch size and key order: bench/README.md.
. "$(dirname "$0")/../tests/lib.sh" >/dev/null
mkdir -p "$T/data" && cp "$TOP"/data/jde/* "$T/data/"
# 500 items, 50 business units, 300 accounts (6 per unit) beside the sample's rows.
awk 'BEGIN { for (i = 0; i < 500; i++) printf "{\"F4101_ITM\":%d,\"F4101_LITM\":\"B-%d\",\"F4101_DSC1\":\"Bench item %d\",\"F4101_TDAY\":0}\n", 70000 + i, i, i }' >>"$T/data/F4101.ndjson"
awk 'BEGIN { for (u = 0; u < 50; u++) printf "{\"F0006_MCU\":\"         B%02d\",\"F0006_CO\":\"00001\",\"F0006_AN8\":2009,\"F0006_DL01\":\"Bench unit %d\"}\n", u, u }' >>"$T/data/F0006.ndjson"
awk 'BEGIN { for (u = 0; u < 50; u++) for (o = 0; o < 6; o++) printf "{\"F0901_AID\":\"9%03d%03d\",\"F0901_CO\":\"00001\",\"F0901_MCU\":\"         B%02d\",\"F0901_OBJ\":\"%d\",\"F0901_SUB\":\" \",\"F0901_DL01\":\"Bench account %d.%d\"}\n", u, o, u, 6000 + o, u, o }' >>"$T/data/F0901.ndjson"
PW=x; ais_start "$PW" "$T/data" >/dev/null || exit 1
printf '[ais]\nurl = http://127.0.0.1:%s\nuser = JDE\nenvironment = JDV920\n[general]\ndefault_country = 1\n' "$MLC_AIS_SIM_PORT" >"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1; mlc-vault init 2>/dev/null; printf '%s\n' "$PW" | mlc-vault set ais.password
printf '[rule]\nname = lk\n[source]\ntable = F4111\n[lookup]\nitem = F4101 by ITM -> DSC1 LITM\nbranch = F0006 by MCU -> DL01\naccount = F0901 by CO MCU OBJ SUB -> DL01\n' >"$T/lk.rule"
# 1,000 records: record i has item 70000 + (37 i mod 500), unit B(i mod 50), object 6000 + (i/50 mod 6):
# every item, unit and account first seen in the first 500 records ("clustered"); the same
# records shuffled ("spread": every batch holds keys not seen before).
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "{\"table\":\"F4111\",\"row\":{\"F4111_ITM\":%d,\"F4111_MCU\":\" B%02d\",\"F4111_CO\":\"00001\",\"F4111_OBJ\":\"%d\",\"F4111_SUB\":\" \"}}\n", 70000 + (37 * i) % 500, i % 50, 6000 + int(i / 50) % 6 }' >"$T/clustered"
awk 'BEGIN { srand(7) } { printf "%.9f\t%s\n", rand(), $0 }' "$T/clustered" | sort -n | cut -f2- >"$T/spread"
echo "| order | batch | F4101 | F0006 | F0901 | ceil(500/b) ceil(50/b) ceil(300/b) | pages (/next) | total requests |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for o in clustered spread; do
	for b in 1000 100 10; do
		: >"$MLC_AIS_SIM_LOG"
		jde-join -r "$T/lk.rule" -b "$b" <"$T/$o" >"$T/out" || exit 1
		n() { jq -r "select(.path == \"/jderest/v2/dataservice\") | .body.targetName" "$MLC_AIS_SIM_LOG" | grep -c "^$1\$"; }
		echo "| $o | $b | $(n F4101) | $(n F0006) | $(n F0901) | $(((500 + b - 1) / b)) $(((50 + b - 1) / b)) $(((300 + b - 1) / b)) | $(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '/next$') | $(wc -l <"$MLC_AIS_SIM_LOG" | tr -d ' ') |"
	done
done
[ "$(jq -r '[.lookups.item.LITM, .lookups.branch.DL01, .lookups.account.DL01] | map(. != null) | all' "$T/out" | sort -u)" = true ] ||
	echo "some lookup came back null"
