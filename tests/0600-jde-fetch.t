#!/usr/bin/env bash
# jde-fetch against the AIS simulator: paging, the wire format, the session
# (one login, logout always), faults, and the secrets that must not leak.
. "$(dirname "$0")/lib.sh"

PW='s3cr3t-Pa55'
mkdir -p "$T/rules"
ais_start "$PW" || exit 1

write_conf() { # write_conf URL [EXTRA-AIS-LINE]
	ais_conf -g "$1" "role = *ALL" ${2:+"$2"} >"$ML_CONNECTOR_CONF"
}
write_conf "$URL"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
ais_vault
ok "vault holds ais.password"

fault() { ais_sim_fault "$1"; }
reset() {
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"sessions":true}' \
		"$URL/_sim/reset"
}
sessions() { curl -s "$URL/_sim/state" | jq .sessions; }
count() { jq -r .path "$MLC_AIS_SIM_LOG" | grep -c "^$1\$"; }
all_json() { # every line a whole JSON value, the last one terminated
	[ ! -s "$1" ] && return 0
	jq -c . "$1" >/dev/null 2>&1 && [ -z "$(tail -c 1 "$1")" ]
}

# What the table holds, in the wire format's terms (the simulator serves
# the file's rows in order).
jq -c '{key: "\(.F0411_KCO)|\(.F0411_DCT)|\(.F0411_DOC)|\(.F0411_SFX)", row: .}' \
	"$T/data/F0411.ndjson" >"$T/want-rows"
jq -r .key "$T/want-rows" >"$T/want-keys"
NROWS=$(wc -l <"$T/want-keys")

# ---- a paging query ---------------------------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "query F0411: exit 0"
is "$(wc -l <"$T/out")" "$NROWS" "query F0411: one line per row"
jq -c '{key, row}' "$T/out" >"$T/got-rows"
diff_ok "$T/got-rows" "$T/want-rows" "keys and rows exactly as served"
is "$(count /jderest/v2/tokenrequest)" 1 "one login"
is "$(count /jderest/v2/dataservice)" 1 "one BROWSE"
is "$(count /jderest/v2/dataservice/next)" $(((NROWS + 9) / 10 - 1)) "the next links followed"
is "$(count /jderest/v2/tokenrequest/logout)" 1 "one logout"
is "$(sessions)" 0 "no session left open"
# The login's and the BROWSE's exact requests: tests/sim/ais-dataservice-page.scn.
is "$(jq -r 'select(.path | startswith("/jderest/v2/dataservice")) | .headers."jde-ais-auth-device"' \
	"$MLC_AIS_SIM_LOG" | sort -u)" ml-connector-test "device header on every call"
first=$(head -n 1 "$T/out")
is "$(printf '%s' "$first" | jq -c '[.table, .key, .dates.DDJ, .dates.UPMJ, .times.UPMT, .trim.MCU, .trim.GLC]')" \
	'["F0411","00001|PV|123456|001","2026-11-21","2026-10-24","17:05:13","50",""]' \
	"dates, times and trimmed values beside the raw row"
like "$(printf '%s' "$first" | jq -r .fetched_at)" '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}\.[0-9]{3}Z$' \
	"fetched_at is RFC 3339 UTC"
cp "$T/out" "$T/baseline"

# ---- the rule file: columns, conditions -------------------------------
cat >"$T/rules/ap-aging.rule" <<'EOF'
[rule]
name = ap-aging

[source]
table = F0411
columns = AN8 DDJ AAP MCU
where = AAP != 0
where = DDJ <= today-30
page_size = 5

[join]
vendor = AN8
owner = MCU via F0006
director = 1001
EOF
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging >"$T/out" 2>"$T/err"
is "$?" 0 "rule query: exit 0"
want=$(jq -r 'select(.F0411_AAP != 0 and .F0411_DDJ <= "20261027") |
	"\(.F0411_KCO)|\(.F0411_DCT)|\(.F0411_DOC)|\(.F0411_SFX)"' "$T/data/F0411.ndjson")
is "$(jq -r .key "$T/out")" "$want" "rule conditions select the aged open items"
is "$(jq -r '.row | keys | join(" ")' "$T/out" | sort -u)" \
	"F0411_AAP F0411_AN8 F0411_DCT F0411_DDJ F0411_DOC F0411_KCO F0411_MCU F0411_SFX" \
	"columns plus the primary key"
is "$(jq -r .rule "$T/out" | sort -u)" ap-aging "records name their rule"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query.condition[1].value[0]' \
	"$MLC_AIS_SIM_LOG")" '{"content":"30","specialValueId":"TODAY_MINUS_DAY"}' "today-30 as TODAY_MINUS_DAY"

# ---- dry run ----------------------------------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-fetch -r ap-aging --dry-run >"$T/dry" 2>"$T/err"
is "$?" 0 "dry run: exit 0"
is "$(wc -c <"$MLC_AIS_SIM_LOG" | tr -d ' ')" 0 "dry run: the server was not contacted"
is "$(jq -r '"\(.method) \(.url)"' "$T/dry")" "POST $URL/jderest/v2/tokenrequest
POST $URL/jderest/v2/dataservice" "dry run: the requests it would send"
unlike "$(cat "$T/dry")" "$PW|password" "dry run: no password"

# ---- faults: each run must end with the full output or a clean failure --
# shellcheck disable=SC2317
rerun_ok() { # DESC: a clean rerun gives the baseline
	reset
	jde-fetch -t F0411 -p 10 >"$T/re" 2>"$T/re.err"
	is "$?" 0 "$1: rerun exit 0"
	cmp_out "$T/re"
	diff_ok "$T/re.cmp" "$T/baseline.cmp" "$1: rerun output is complete"
}
jq -c 'del(.fetched_at)' "$T/baseline" >"$T/baseline.cmp"
cmp_out() { jq -c 'del(.fetched_at)' "$1" >"$1.cmp"; }

reset
: >"$MLC_AIS_SIM_LOG"
fault "token-expire:path=/jderest/v2/dataservice/next,after=2"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "token expiry mid-paging: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/baseline.cmp" "token expiry mid-paging: every row once, in order"
is "$(count /jderest/v2/tokenrequest)" 2 "token expiry: logged in again"
is "$(count /jderest/v2/dataservice)" 2 "token expiry: one new query, after the last row written"
like "$(cat "$T/err")" "token refused.*resuming after the last row" "token expiry: said so"
is "$(sessions)" 0 "token expiry: logged out"

reset
fault "token-expire:path=/jderest/v2/dataservice/next,after=1,status=403"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "403 mid-paging: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/baseline.cmp" "403 mid-paging: complete"

reset
: >"$MLC_AIS_SIM_LOG"
fault "expire-results:path=/jderest/v2/dataservice/next"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "JAS_MSG347: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/baseline.cmp" "JAS_MSG347: every row once"
like "$(cat "$T/err")" "JAS_MSG347" "JAS_MSG347: said so"
is "$(count /jderest/v2/tokenrequest)" 1 "JAS_MSG347: same session"

reset
fault "status:status=503,count=2,path=/jderest/v2/dataservice/next"
fault "status:status=502,count=2,path=/jderest/v2/dataservice"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "5xx burst: retried to success"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/baseline.cmp" "5xx burst: complete"
like "$(cat "$T/err")" "retrying in" "5xx burst: retries reported"

# Next pages refused for good: each page then comes from a query after the
# last row written, so the read still ends, complete.
reset
: >"$MLC_AIS_SIM_LOG"
fault "status:status=503,count=0,path=/jderest/v2/dataservice/next"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "next pages refused for good: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/baseline.cmp" "next pages refused for good: every row once, in order"
is "$(count /jderest/v2/dataservice)" $(((NROWS + 9) / 10)) \
	"next pages refused for good: one query per page"

reset
fault "status:status=503,count=0,path=/jderest/v2/dataservice*"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 69 "5xx for good: exit 69"
all_json "$T/out"
ok "5xx for good: no partial line"
like "$(tail -n 1 "$T/err")" "unavailable|giving up" "5xx for good: clear message"
is "$(sessions)" 0 "5xx for good: logged out"
rerun_ok "5xx for good"

# --trailer: one last line for a read that went through, none for one cut
# short after its first page (what a reader cannot tell otherwise)
reset
jde-fetch -t F0411 -p 10 --trailer >"$T/out" 2>"$T/err"
is "$?:$(tail -n 1 "$T/out" | jq -c .)" "0:{\"end\":{\"table\":\"F0411\",\"records\":$NROWS}}" \
	"--trailer: the read went through, the trailer last, counting the records"
is "$(head -n -1 "$T/out" | jq -r 'select(.end) | 1' | grep -c .)" 0 "one trailer, after every record"
reset
fault "malformed:path=/jderest/v2/dataservice/next,count=0"
jde-fetch -t F0411 -p 10 --trailer >"$T/out" 2>"$T/err"
is "$?:$(grep -c '"end":' "$T/out")" "65:0" "--trailer, every next page an HTML page: 65 and no trailer"
is "$(grep -c . "$T/out")" 10 "control: the first page's records were written"

reset
fault "truncate:path=/jderest/v2/dataservice/next"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 65 "body cut off mid-JSON: exit 65"
all_json "$T/out"
ok "body cut off: no partial line"
like "$(cat "$T/err")" "malformed JSON at byte [0-9]+ of [0-9]+: the body ends in the middle" \
	"body cut off: clear message"
is "$(sessions)" 0 "body cut off: logged out"
rerun_ok "body cut off"

reset
fault "malformed:path=/jderest/v2/dataservice"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 65 "HTML instead of JSON: exit 65"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "HTML instead of JSON: nothing written"

reset
fault "app-error:path=/jderest/v2/dataservice/next,code=018G,desc=Record locked by another user"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 65 "errors array in a 200: exit 65"
like "$(cat "$T/err")" "018G.*Record locked by another user" "errors array: AIS's message shown"
all_json "$T/out"
ok "errors array: no partial line"
rerun_ok "errors array"

reset
fault "sys-error:path=/jderest/v2/dataservice,code=SYS042,desc=Database connection lost"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 65 "sysErrors in a 200: exit 65"
like "$(cat "$T/err")" "SYS042.*Database connection lost" "sysErrors: AIS's message shown"

reset
jde-fetch -t F9999 -k AN8 >"$T/out" 2>"$T/err"
is "$?" 65 "unknown table: exit 65"
like "$(cat "$T/err")" "F9999" "unknown table: named"
jde-fetch -t F9999 >"$T/out" 2>"$T/err"
is "$?" 78 "table outside the catalog without a key: exit 78"
jde-fetch -t F0411 -f 'AN8 NOPE' >"$T/out" 2>"$T/err"
is "$?" 65 "unknown column: exit 65"
like "$(cat "$T/err")" "NOPE" "unknown column: named"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "unknown column: nothing written"
jde-fetch -r no-such-rule >"$T/out" 2>"$T/err"
is "$?" 66 "no such rule: exit 66"
jde-fetch -t F0411 -w 'DDJ <=> 3' >"$T/out" 2>"$T/err"
is "$?" 64 "bad -w condition: exit 64"

# token refused on every call: not a loop
reset
: >"$MLC_AIS_SIM_LOG"
fault "token-expire:path=/jderest/v2/dataservice,count=0"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 77 "token refused twice in a row: exit 77"
like "$(cat "$T/err")" "refused twice in a row, the second time just after a new login: .*the password was accepted" \
	"token refused twice: not called a wrong password"
is "$(count /jderest/v2/tokenrequest)" 2 "token refused: two logins, no loop"

# wrong password
reset
: >"$MLC_AIS_SIM_LOG"
printf 'wrong\n' | mlc-vault set ais.password
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
is "$?" 77 "wrong password: exit 77"
is "$(count /jderest/v2/tokenrequest)" 1 "wrong password: no retry loop"
like "$(cat "$T/err")" "refused the login of user JDE" "wrong password: clear message"
unlike "$(cat "$T/err")" "wrong" "wrong password: the password is not shown"
printf '%s\n' "$PW" | mlc-vault set ais.password
rerun_ok "wrong password"

# ---- SIGTERM: stop after the current request, log out, exit 75 ----------
reset
: >"$MLC_AIS_SIM_LOG"
fault "slow:ms=1500,path=/jderest/v2/dataservice/next,count=0"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err" &
pid=$!
# once the first page is answered, the next request is the slow one
first_page() { [ "$(count /jderest/v2/dataservice)" -ge 1 ]; }
wait_for first_page
kill -TERM "$pid"
wait "$pid"
is "$?" 75 "SIGTERM: exit 75"
all_json "$T/out"
ok "SIGTERM: no partial line"
is "$(count /jderest/v2/tokenrequest/logout)" 1 "SIGTERM: logged out"
like "$(cat "$T/err")" "interrupted by signal 15" "SIGTERM: said so"

# ---- secrets: never in argv, the environment, stderr (trace on), stdout -
reset
: >"$MLC_AIS_SIM_LOG"
fault "slow:ms=800,path=/jderest/v2/dataservice/next,count=2"
ML_CONNECTOR_TRACE=1 jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err" &
pid=$!
sleep 0.5
tr '\0' '\n' <"/proc/$pid/cmdline" >"$T/cmdline" 2>/dev/null
if tr '\0' '\n' <"/proc/$pid/environ" >"$T/environ" 2>/dev/null; then :; else
	echo "# /proc/$pid/environ not readable (process not dumpable)"
	: >"$T/environ"
fi
wait "$pid"
is "$?" 0 "traced run: exit 0"
token=$(jq -r 'select(.path == "/jderest/v2/dataservice") | .headers."jde-ais-auth"' \
	"$MLC_AIS_SIM_LOG" | head -n 1)
isnt "$token" "" "the token is known to the test"
like "$(cat "$T/err")" "jde-AIS-Auth|POST" "the trace is on"
for f in err out cmdline environ; do
	if grep -qF -e "$PW" -e "$token" "$T/$f"; then false; else true; fi
	ok "neither password nor token in $f"
done

# ---- TLS with the configured CA; refusal with another CA -----------------
if sh "$TOP/tests/tls/mkcerts.sh" "$T/tls" >/dev/null 2>&1; then
	MLC_AIS_SIM_PORT_PLAIN=$MLC_AIS_SIM_PORT
	sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-26 --data "$T/data" \
		--tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server-key.pem"
	write_conf "https://localhost:$MLC_AIS_SIM_PORT" "ca_bundle = $T/tls/ca.pem"
	jde-fetch -t F0411 -p 25 >"$T/out" 2>"$T/err"
	is "$?" 0 "https with the configured CA: exit 0"
	cmp_out "$T/out"
	diff_ok "$T/out.cmp" "$T/baseline.cmp" "https: complete"
	write_conf "https://localhost:$MLC_AIS_SIM_PORT" "ca_bundle = $T/tls/other-ca.pem"
	jde-fetch -t F0411 -p 25 >"$T/out" 2>"$T/err"
	is "$?" 78 "certificate from another CA: refused, exit 78"
	like "$(cat "$T/err")" "TLS certificate refused" "TLS refusal: clear message"
	is "$(wc -c <"$T/out" | tr -d ' ')" 0 "TLS refusal: nothing written"
	write_conf "http://127.0.0.1:$MLC_AIS_SIM_PORT_PLAIN"
	MLC_AIS_SIM_PORT=$MLC_AIS_SIM_PORT_PLAIN
else
	skip "openssl could not make the test certificates"
fi

# ---- valgrind ---------------------------------------------------------------
reset
vg jde-fetch -t F0411 -p 7 >"$T/out" 2>"$T/vg.err"
is "$?" 0 "paging query under valgrind"
vg jde-join -r ap-aging -b 7 <"$T/baseline" >"$T/out" 2>"$T/vg.err"
is "$?" 0 "join under valgrind"

done_testing
