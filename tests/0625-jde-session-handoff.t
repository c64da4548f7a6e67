#!/usr/bin/env bash
# shellcheck disable=SC2094 # the FIFO: one stage writes it, the other reads it
# One AIS login per run: jde-fetch --session-out hands its session to
# jde-join --session-in through a FIFO (ais.c, "the session handed on"),
# against the AIS simulator and its request log.
. "$(dirname "$0")/lib.sh"

PW='an0ther-Pa55'
mkdir -p "$T/rules"
ais_start "$PW" || exit 1
ais_conf -g "$URL" >"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
ais_vault
count() { jq -r .path "$MLC_AIS_SIM_LOG" | grep -c "^$1\$"; }
sim() { curl -fsS -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$MLC_AIS_SIM_PORT/_sim/$1" >/dev/null; }
cat >"$T/rules/ap-aging.rule" <<'EOF2'
[rule]
name = ap-aging

[source]
table = F0411
page_size = 20

[join]
vendor = AN8
owner = MCU via F0006
EOF2

# The reference: each stage with its own session.
same() { jq -c 'del(.fetched_at)' "$1"; }
jde-fetch -r ap-aging 2>/dev/null | jde-join -r ap-aging >"$T/out" 2>/dev/null
same "$T/out" >"$T/ref"
isnt "$(wc -l <"$T/ref" | tr -d ' ')" 0 "reference: records joined"

# ---- one login, one logout, the logout last ----------------------------------
F=$T/session
mkfifo -m 600 "$F"
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --session-out "$F" 9>"$F" 2>"$T/ferr" |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>"$T/jerr"
is "${PIPESTATUS[*]}" "0 0" "handed on: both stages exit 0"
is "$(same "$T/out")" "$(cat "$T/ref")" "handed on: the same joined records"
is "$(count /jderest/v2/tokenrequest)" 1 "handed on: one login in the run"
is "$(count /jderest/v2/tokenrequest/logout)" 1 "handed on: one logout"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | tail -n 1)" /jderest/v2/tokenrequest/logout \
	"the logout is the run's last request (after jde-join's last query)"
is "$(jq -r '.headers["jde-ais-auth"] // empty' "$MLC_AIS_SIM_LOG" | sort -u | wc -l | tr -d ' ')" 1 \
	"every query of both stages with the one token"
is "$(cat "$T/ferr" "$T/jerr")" "" "nothing said on stderr"
jde-fetch -r ap-aging --trailer --session-out "$F" 9>"$F" 2>"$T/ferr" |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>"$T/jerr"
is "${PIPESTATUS[*]}:$(same <(head -n -1 "$T/out"))" "0 0:$(cat "$T/ref")" \
	"jde-fetch --trailer: jde-join writes the same joined records"
is "$(tail -n 1 "$T/out" | jq -c .end)" "{\"table\":\"F0411\",\"records\":$(grep -c . "$T/ref")}" \
	"and passes the trailer on, last"

# ---- behind a sticky load balancer: the cookie goes with the token ----------
sim fault '{"spec":"sticky:miss=token"}'
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --session-out "$F" 9>"$F" 2>"$T/ferr" |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>"$T/jerr"
is "${PIPESTATUS[*]}/$(count /jderest/v2/tokenrequest)" "0 0/1" \
	"sticky load balancer: one login (the affinity cookie is handed on too)"
is "$(same "$T/out")" "$(cat "$T/ref")" "sticky load balancer: the same records"
sim reset '{}'

# ---- a handed-on token that expires in jde-join ------------------------------
# The test holds the FIFO open (read-write) so that the session waits in it
# while the fault is set between the stages.
exec 7<>"$F"
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --session-out "$F" >"$T/recs" 2>"$T/ferr"
is "$?/$(count /jderest/v2/tokenrequest/logout)" 0/0 "jde-fetch handed on: exit 0, no logout"
sim fault '{"spec":"token-expire:after=1"}'
jde-join -r ap-aging --session-in "$F" <"$T/recs" >"$T/out" 2>"$T/jerr"
is "$?" 0 "token expired in jde-join: exit 0"
is "$(same "$T/out")" "$(cat "$T/ref")" "token expired in jde-join: complete records"
is "$(count /jderest/v2/tokenrequest)/$(count /jderest/v2/tokenrequest/logout)" 2/1 \
	"token expired in jde-join: one new login, and its logout"
like "$(cat "$T/jerr")" "token refused" "jde-join says why it logged in again"
sim reset '{}'
exec 7>&-

# ---- a refused password: one login attempt per run -------------------------
printf 'wrong\n' | mlc-vault set ais.password
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --session-out "$F" 9>"$F" 2>/dev/null |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>/dev/null
is "${PIPESTATUS[*]}/$(count /jderest/v2/tokenrequest)" "77 0/1" \
	"a refused password: jde-fetch 77, jde-join 0 without a login: one attempt"
printf '%s\n' "$PW" | mlc-vault set ais.password

# ---- jde-join gone before the hand-off: no hang, the session is logged out --
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --session-out "$F" >/dev/null 2>"$T/ferr"
is "$?/$(count /jderest/v2/tokenrequest)/$(count /jderest/v2/tokenrequest/logout)" 0/1/1 \
	"no reader on the FIFO: jde-fetch does not block, keeps and logs out its session"
like "$(cat "$T/ferr")" "no reader" "it says the session was not handed on"

# ---- jde-fetch killed before the hand-off: no hang, no second login ---------
# Killed before its first record, it wrote neither a session nor a record:
# jde-join sees end of input and never logs in (the run fails on
# jde-fetch's own status).  With records but a silent FIFO (a writer that
# never hands on), jde-join logs in itself, once, and logs out.
: >"$MLC_AIS_SIM_LOG"
{ sh -c 'kill -KILL $$'; } 9>"$F" |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>"$T/jerr"
is "${PIPESTATUS[1]}/$(count /jderest/v2/tokenrequest)/$(wc -l <"$T/out" | tr -d ' ')" 0/0/0 \
	"jde-fetch killed before the hand-off: jde-join ends, no login, no record"
: >"$MLC_AIS_SIM_LOG"
{ cat "$T/recs"; } 9>"$F" |
	jde-join -r ap-aging --session-in "$F" 8<"$F" >"$T/out" 2>"$T/jerr"
is "${PIPESTATUS[1]}/$(count /jderest/v2/tokenrequest)/$(count /jderest/v2/tokenrequest/logout)" 0/1/1 \
	"records but no session handed on: jde-join logs in itself once and logs out"
is "$(same "$T/out")" "$(cat "$T/ref")" "no session handed on: the same joined records"

# ---- planted files are refused ----------------------------------------------
: >"$T/plain"
chmod 600 "$T/plain"
ln -s "$F" "$T/link"
for p in plain link; do
	: >"$MLC_AIS_SIM_LOG"
	jde-fetch -r ap-aging --session-out "$T/$p" >/dev/null 2>"$T/ferr"
	is "$?/$(count /jderest/v2/tokenrequest/logout)/$(wc -c <"$T/plain" | tr -d ' ')" 0/1/0 \
		"--session-out a $p: refused, nothing written, the session logged out"
	jde-join -r ap-aging --session-in "$T/$p" <"$T/recs" >/dev/null 2>"$T/jerr"
	is "$?" 0 "--session-in a $p: jde-join logs in itself"
done
like "$(cat "$T/ferr")" "symbolic link, refused" "a symbolic link is named"
chmod 644 "$F"
exec 7<>"$F"
jde-fetch -r ap-aging --session-out "$F" >/dev/null 2>"$T/ferr"
exec 7>&-
like "$(cat "$T/ferr")" "only it may open" "a FIFO others may open is refused"

# ---- usage -------------------------------------------------------------------
jde-fetch -r ap-aging --session-out "$F" --dry-run >/dev/null 2>&1
is "$?" 64 "--session-out with --dry-run: 64"
jde-join -r ap-aging --session-in "$F" --dry-run </dev/null >/dev/null 2>&1
is "$?" 64 "--session-in with --dry-run: 64"
done_testing
