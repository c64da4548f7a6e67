#!/usr/bin/env bash
# bench/ais-logins.sh — AIS requests per run of a [join] rule, the stages each with their own
# session (before) and with the session handed on (after): bench/README.md.
. "$(dirname "$0")/../tests/lib.sh" >/dev/null
PW=x; ais_start "$PW" >/dev/null || exit 1
mkdir -p "$T/rules"
printf '[ais]\nurl = http://127.0.0.1:%s\nuser = JDE\nenvironment = JDV920\n[general]\ndefault_country = 1\n' "$MLC_AIS_SIM_PORT" >"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1; mlc-vault init 2>/dev/null; printf '%s\n' "$PW" | mlc-vault set ais.password
printf '[rule]\nname = ap\n[source]\ntable = F0411\npage_size = 20\n[join]\nvendor = AN8\nowner = MCU via F0006\n' >"$T/rules/ap.rule"
c() { jq -r .path "$MLC_AIS_SIM_LOG" | sort | uniq -c | tr '\n' ';'; echo; }
: >"$MLC_AIS_SIM_LOG"; jde-fetch -r ap | jde-join -r ap >/dev/null; echo "before: $(c)"
F=$T/s; mkfifo -m 600 "$F"; : >"$MLC_AIS_SIM_LOG"
# shellcheck disable=SC2094 # the FIFO: written by one stage, read by the other
jde-fetch -r ap --session-out "$F" 9>"$F" | jde-join -r ap --session-in "$F" 8<"$F" >/dev/null; echo "after: $(c)"
