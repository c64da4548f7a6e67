#!/usr/bin/env bash
# The optional GL rule gl-unposted-lines against the sample company: F0911
# lines not posted 7 days after their G/L date, read with the G/L date as
# the watermark (incremental = DGJ), so that each is reported once, when it
# reaches 7 days; joined with the G/L accountant of the Address Book.
. "$(dirname "$0")/lib.sh"

PW='dGj-w4termark'
R=gl-unposted-lines
mkdir -p "$T/rules"
cp "$TOP/data/rules/$R.rule" "$T/rules/"
ML_CONNECTOR_RULES=$T/rules
export ML_CONNECTOR_RULES ML_CONNECTOR_KDF_FAST=1
conf() { # the configuration for the simulator just started
	cat >"$ML_CONNECTOR_CONF" <<EOF2
[ais]
url = http://127.0.0.1:$MLC_AIS_SIM_PORT
user = JDE
environment = JDV920
device = ml-connector-test

[general]
default_country = 1
EOF2
}
ais_start "$PW" || exit 1
conf
mlc-vault init 2>/dev/null
printf '%s\n' "$PW" | mlc-vault set ais.password
lines() { jq -r '"\(.row.F0911_DOC)/\(.row.F0911_JELN)"' "$1" | tr '\n' ' '; }

# ---- the sample's "today", 2026-11-26 ------------------------------------------
jde-fetch -r $R --run-id r1 >"$T/f1" 2>"$T/err"
is "$?" 0 "fetch: exit 0"
is "$(lines "$T/f1")" "26000101/1 26000101/2 26000108/1 26000108/2 26000115/1 26000115/2 " \
	"the unposted lines 7+ days past their G/L date (12, 11, 9 days); not 26000122 (4 days), no posted line"
jde-join -r $R <"$T/f1" | alert-match --no-state -r $R --now 2026-11-26T14:00:00Z >"$T/a1" 2>"$T/err"
is "${PIPESTATUS[*]}" "0 0" "join | match: exit 0"
is "$(jq -r '.recipients[] | "\(.an8) \(.name) \(.sms) \(.email)"' "$T/a1" | sort -u)" \
	"2012 Okafor, Grace +13125550113 grace.okafor@hartmann-ic.example" \
	"every alert to the G/L accountant, with her mobile and e-mail from the Address Book"
is "$(wc -l <"$T/a1" | tr -d ' ')" 6 "one alert per line"
jde-fetch --commit $R r1 2>"$T/err"
is "$?" 0 "commit the watermark"
is "$(jde-fetch --show-watermark $R 2>/dev/null | grep -c 2026-11-17)" 1 "the watermark is the last G/L date written, 2026-11-17"

# the same day again: nothing new
jde-fetch -r $R --run-id r2 >"$T/f2" 2>"$T/err"
is "$?/$(lines "$T/f2")" "0/" "the next run of the day: no line again"

# ---- three days later: 26000122 reaches 7 days ---------------------------------
# stop_sims: the simulator of this test stopped (and reaped) before the next
stop_sims() {
	local p
	for p in $_pids; do
		_signal TERM "$p"
		wait "${p%%:*}" 2>/dev/null
	done
	_pids=""
}
stop_sims
sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-29 --data "$T/data" || exit 1
conf
jde-fetch -r $R --run-id r3 >"$T/f3" 2>"$T/err"
is "$?" 0 "fetch on 2026-11-29: exit 0"
is "$(lines "$T/f3")" "26000122/1 26000122/2 " \
	"only the lines that reached 7 days since: the ones reported before are not read again"
jde-join -r $R <"$T/f3" | alert-match --no-state -r $R --now 2026-11-29T14:00:00Z | jq -r .record.key >"$T/a3"
is "$(tr '\n' ' ' <"$T/a3")" "00001|JE|26000122|20261122|1|AA| 00001|JE|26000122|20261122|2|AA| " "and they alert"

# ---- a line posted in the meantime is not reported -------------------------------
jq -c 'if .F0911_DOC == 26000122 then .F0911_POST = "P" else . end' "$TOP/data/jde/F0911.ndjson" >"$T/data/F0911.ndjson"
stop_sims
sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-29 --data "$T/data" || exit 1
conf
jde-fetch -r $R --run-id r4 >"$T/f4" 2>"$T/err"
is "$?/$(lines "$T/f4")" "0/" "posted before its seventh day: never reported"

done_testing
