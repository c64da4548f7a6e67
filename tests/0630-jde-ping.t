#!/usr/bin/env bash
# jde-fetch --ping: log in and out, read nothing; wrong password refused.
. "$(dirname "$0")/lib.sh"

PW='pIng-s3cr3t'
ais_start "$PW" "$TOP/data/jde" || exit 1
printf '[ais]\nurl = http://127.0.0.1:%s\nuser = JDE\nenvironment = JDV920\n' "$MLC_AIS_SIM_PORT" \
	>"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1
mlc-vault init 2>/dev/null
printf '%s\n' "$PW" | mlc-vault set ais.password

jde-fetch --ping >"$T/out" 2>"$T/err"
is "$?" 0 "ping: status 0"
is "$(jq -r '[.ping, .system, .user, .environment] | @tsv' "$T/out")" "$(printf 'ok\tais\tJDE\tJDV920')" \
	"one line saying what answered"
# a login and a logout, nothing else: tests/sim/ais-login-ping.scn
if grep -q -- "$PW" "$T/out" "$T/err" "$MLC_AIS_SIM_LOG"; then false; else true; fi
ok "the password appears nowhere"
jde-fetch --ping >/dev/full 2>"$T/err"
is "$?|$(cat "$T/err")" "74|jde-fetch: write error on stdout: No space left on device" \
	"ping on a full disk: 74, and says why"

printf 'wrong\n' | mlc-vault set ais.password
: >"$MLC_AIS_SIM_LOG"
jde-fetch --ping >"$T/out" 2>"$T/err"
is "$?" 77 "wrong password: 77"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c tokenrequest)" 1 "one login attempt, no retry loop"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "nothing on stdout"

jde-fetch --ping -r x 2>/dev/null
is "$?" 64 "--ping takes no rule"

done_testing
