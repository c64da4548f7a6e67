#!/usr/bin/env bash
# jde-fetch paging against the AIS simulator (issue 11): rows that shift
# between pages, a token that lives only a few requests, a sticky-session
# load balancer, and what a /next request carries (never the token in its
# URL).  Every read is checked row by row against a clean read.
. "$(dirname "$0")/lib.sh"

PW='pAg1ng-s3cret'
mkdir -p "$T/rules" "$T/tmpdir"
ais_start "$PW" || exit 1
write_conf() { ais_conf "$URL" ${1:+"$1"} >"$ML_CONNECTOR_CONF"; } # write_conf [EXTRA-AIS-LINE]
write_conf
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
ais_vault

fault() { ais_sim_fault "$1"; }
# reset: faults off, sessions ended, the table changes of shift faults undone
reset() {
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"sessions":true,"data":true}' \
		"$URL/_sim/reset"
	: >"$MLC_AIS_SIM_LOG"
}
count() { jq -r .path "$MLC_AIS_SIM_LOG" | grep -c "^$1\$"; }
keys() { jq -r .key "$1"; }
dups() { jq -r .key "$1" | sort | uniq -d | tr '\n' ' '; }
cmp_out() { jq -c 'del(.fetched_at)' "$1" >"$1.cmp"; }

# The clean read every faulted read is compared with.
reset
jde-fetch -t F0411 -p 10 >"$T/base" 2>"$T/err"
is "$?" 0 "clean read: exit 0"
NROWS=$(wc -l <"$T/data/F0411.ndjson")
is "$(wc -l <"$T/base" | tr -d ' ')" "$NROWS" "clean read: every row"
cmp_out "$T/base"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | [.body.aggregation.orderBy[] | .column]' \
	"$MLC_AIS_SIM_LOG")" '["F0411.KCO","F0411.DCT","F0411.DOC","F0411.SFX"]' \
	"the read is ordered by the table's key (aggregation.orderBy)"

# ---- /next: the token in the header only, Oracle's fields in the body ------
nexts() { jq -c 'select(.path == "/jderest/v2/dataservice/next")' "$MLC_AIS_SIM_LOG"; }
token=$(jq -r 'select(.path == "/jderest/v2/dataservice") | .headers."jde-ais-auth"' \
	"$MLC_AIS_SIM_LOG" | head -n 1)
isnt "$token" "" "the token is known to the test"
is "$(nexts | jq -c .query | sort -u)" "{}" "no /next URL has a query string (token, ids)"
is "$(curl -s "$URL/_sim/state" | jq .tokenInUrl)" 0 "the simulator saw no token in a /next URL"
is "$(nexts | grep -cF "$token")" "$(nexts | jq -r '.headers."jde-ais-auth"' | grep -cxF "$token")" \
	"the token is in the jde-AIS-Auth header and nowhere else of a /next request"
is "$(nexts | jq -c '.body | keys' | sort -u)" \
	'["deviceName","formOID","fullGridId","nextPageTimeInterval","outputType","returnControlIDs","rid","stackId","stateId"]' \
	"the /next body has the fields Oracle documents, and no token"
is "$(nexts | jq -c '.body | [.formOID, .fullGridId, .outputType, .nextPageTimeInterval, .deviceName]' | sort -u)" \
	'["F0411","1","GRID_DATA","0","ml-connector-test"]' "formOID, fullGridId, outputType, nextPageTimeInterval, deviceName"
is "$(nexts | jq -r '.body.stateId' | tr '\n' ' ')" "1 2 3 4 5 6 " \
	"stateId of each page's response, as a number"
rid=$(nexts | jq -r .body.rid | sort -u)
like "$rid" '^[0-9a-f]{16}$' "one rid, the result set's"
reset
jde-fetch -t F0411 -f 'AN8 AAP' -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "-f AN8 AAP: exit 0"
is "$(nexts | jq -r .body.returnControlIDs | sort -u)" \
	"$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.returnControlIDs' "$MLC_AIS_SIM_LOG")" \
	"returnControlIDs of the /next body: those of the query"

# ---- a token that lives only N requests -------------------------------------
for n in 2 3; do
	reset
	fault "token-life:requests=$n"
	jde-fetch -t F0411 -p 5 >"$T/out" 2>"$T/err"
	is "$?" 0 "token of $n requests, $(((NROWS + 4) / 5)) pages: exit 0"
	cmp_out "$T/out"
	diff_ok "$T/out.cmp" "$T/base.cmp" "token of $n requests: every row exactly once, in order"
	logins=$(count /jderest/v2/tokenrequest)
	[ "$logins" -ge $(((NROWS + 4) / 5 / n)) ]
	ok "token of $n requests: logged in again as often as needed ($logins)"
	is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query.complexQuery | length' \
		"$MLC_AIS_SIM_LOG" | sort -u | tr '\n' ' ')" "0 4 " \
		"token of $n requests: each new query asks for the rows after the last one written"
	like "$(cat "$T/err")" "token refused.*resuming after the last row written" "token of $n requests: said so"
	is "$(curl -s "$URL/_sim/state" | jq .sessions)" 0 "token of $n requests: no session left"
done

# jde-join: its lookups (one query per table) outlive the token too
cat >"$T/rules/joined.rule" <<'EOF'
[rule]
name = joined

[source]
table = F0411

[join]
vendor = AN8
payee = PYE
owner = MCU via F0006
EOF
reset
jde-join -r joined -b 64 <"$T/base" >"$T/join-base" 2>"$T/err"
is "$?" 0 "join, clean: exit 0"
reset
fault "token-life:requests=2"
jde-join -r joined -b 64 <"$T/base" >"$T/out" 2>"$T/err"
is "$?" 0 "join, token of 2 requests: exit 0"
diff_ok "$T/out" "$T/join-base" "join, token of 2 requests: the same contacts"
[ "$(count /jderest/v2/tokenrequest)" -ge 2 ]
ok "join, token of 2 requests: logged in again ($(count /jderest/v2/tokenrequest) logins)"

# the same through an incremental rule: ordered by UPMJ, UPMT, then the key
cat >"$T/rules/inc.rule" <<'EOF'
[rule]
name = inc

[source]
table = F0411
incremental = UPMJ UPMT
page_size = 5
EOF
reset
jde-fetch -r inc --run-id full >"$T/inc-base" 2>"$T/err"
is "$?" 0 "incremental, clean: exit 0"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | [.body.aggregation.orderBy[] | .column]' \
	"$MLC_AIS_SIM_LOG")" '["F0411.UPMJ","F0411.UPMT","F0411.KCO","F0411.DCT","F0411.DOC","F0411.SFX"]' \
	"incremental: ordered by the watermark columns, then the key"
is "$(jq -r '"\(.row.F0411_UPMJ) \(.row.F0411_UPMT)"' "$T/inc-base" | sort -c -k1,1 -k2,2n && echo sorted)" \
	sorted "incremental: rows in watermark order"
cmp_out "$T/inc-base"
reset
fault "token-life:requests=2"
jde-fetch -r inc --run-id short >"$T/out" 2>"$T/err"
is "$?" 0 "incremental, token of 2 requests: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/inc-base.cmp" "incremental, token of 2 requests: every row exactly once"
after=$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query' "$MLC_AIS_SIM_LOG" | sed -n 2p)
is "$(printf '%s' "$after" | jq -c '[.complexQuery[].query.condition | length]')" '[1,2,3,4,5,6]' \
	"incremental: after the last row is an OR of ANDs over the six order columns"
like "$(printf '%s' "$after" | jq -r '.complexQuery[0].query.condition[0].value[0].content')" \
	'^[01][0-9]/[0-3][0-9]/20[0-9]{2}$' "incremental: the date in the user's format"

# a start-over that brings no row counts: the query expires at once, every time
reset
fault "sys-error:path=/jderest/v2/dataservice,count=0,code=JAS_MSG347,desc=The query results expired."
jde-fetch -t F0411 -p 5 >"$T/out" 2>"$T/err"
is "$?" 69 "no progress at all: exit 69"
like "$(tail -n 1 "$T/err")" "started over 5 times without a new row" "no progress at all: bounded, said so"
is "$(count /jderest/v2/dataservice)" 6 "no progress at all: five starts over, no more"

# An AIS that cannot express the complex query: the condition on the first
# order column instead, the rows up to the last one written skipped here.
reset
fault "no-complex"
fault "expire-results"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "no complexQuery on the server: exit 0"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/base.cmp" "no complexQuery on the server: every row exactly once"
like "$(cat "$T/err")" "SIM022.*asking again with a condition on the first order column only" \
	"no complexQuery on the server: said so"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query.condition // [] |
	map(.controlId + " " + .operator)' "$MLC_AIS_SIM_LOG" | tail -n 1)" '["F0411.KCO GREATER_EQUAL"]' \
	"no complexQuery on the server: KCO >= the last row's"
# One key column needs no complexQuery: a short token still reads it all.
reset
fault "no-complex"
fault "token-life:requests=2"
jde-fetch -t F0101 -p 5 >"$T/out" 2>"$T/err"
is "$?" 0 "one key column, no complexQuery, token of 2 requests: exit 0"
is "$(keys "$T/out" | tr '\n' ' ')" "$(jq -r .F0101_AN8 "$T/data/F0101.ndjson" | tr '\n' ' ')" \
	"one key column: every row once, in order"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query.condition[0] |
	select(.) | .controlId + " " + .operator' "$MLC_AIS_SIM_LOG" | sort -u)" '"F0101.AN8 GREATER"' \
	"one key column: AN8 > the last one written, a plain condition"

# ---- a sticky-session load balancer -------------------------------------------
for miss in context token; do
	reset
	fault "sticky:miss=$miss"
	TMPDIR=$T/tmpdir ML_CONNECTOR_TRACE=1 jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
	is "$?" 0 "sticky sessions ($miss lost without the cookie): exit 0"
	cmp_out "$T/out"
	diff_ok "$T/out.cmp" "$T/base.cmp" "sticky sessions ($miss): every row once"
	is "$(count /jderest/v2/dataservice)/$(count /jderest/v2/dataservice/next)/$(count /jderest/v2/tokenrequest)" \
		"1/$(((NROWS + 9) / 10 - 1))/1" "sticky sessions ($miss): one login, one query, the next pages followed"
	is "$(jq -r 'select(.fault) | .fault' "$MLC_AIS_SIM_LOG" | grep -c sticky)" 0 \
		"sticky sessions ($miss): no request reached another node"
	cookie=$(jq -r 'select(.path == "/jderest/v2/dataservice") | .headers.cookie' "$MLC_AIS_SIM_LOG")
	like "$cookie" '^AISLB=[0-9a-f]{16}$' "sticky sessions ($miss): the cookie of the login's answer is sent back"
	is "$(jq -r 'select(.path | startswith("/jderest/") and . != "/jderest/v2/tokenrequest") |
		.headers.cookie' "$MLC_AIS_SIM_LOG" | sort -u)" \
		"$cookie" "sticky sessions ($miss): on every later call"
	v=${cookie#AISLB=}
	if grep -rqF "$v" "$ML_CONNECTOR_STATE" "$T/tmpdir" "$T/out" "$T/err"; then false; else true; fi
	ok "sticky sessions ($miss): the cookie is in neither the state dir, TMPDIR, stdout nor the trace"
	like "$(cat "$T/err")" "Cookie: REDACTED" "sticky sessions ($miss): the trace shows it redacted"
done

# ---- rows that shift between pages ----------------------------------------------
# The simulator's pages are counted: rows added or removed behind the read
# position move the next page back or forth.
reset
fault "shift:op=insert,at=behind"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "a row inserted behind the cursor: exit 0"
is "$(dups "$T/out")" "" "a row inserted behind the cursor: the row sent again is not written twice"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/base.cmp" "a row inserted behind the cursor: every row once, none lost"
like "$(cat "$T/err")" "the pages shifted" "a row inserted behind the cursor: said so"
new=$(jq -c 'select(.fault == "shift")' "$MLC_AIS_SIM_LOG" | grep -c .)
is "$new" 1 "a row inserted behind the cursor: the fault struck"
jde-fetch -t F0411 -p 10 >"$T/out2" 2>"$T/err"
is "$(keys "$T/out2" | grep -cvxFf <(keys "$T/base"))" 1 \
	"a row inserted behind the cursor: the next read has it (a full read: the next run)"

for spec in "insert at=ahead rows=2" "delete at=ahead rows=2" "insert at=behind rows=3"; do
	read -r op at rows <<<"$spec"
	reset
	fault "shift:op=$op,$at,$rows,after=2"
	jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
	is "$?" 0 "$op ${at#at=} (${rows#rows=} rows): exit 0"
	is "$(dups "$T/out")" "" "$op ${at#at=}: no row written twice"
	jde-fetch -t F0411 -p 10 >"$T/after" 2>"$T/err2"
	case $op/$at in
	insert/at=ahead)
		diff_ok <(keys "$T/out") <(keys "$T/after") "insert ahead: the new rows read in the same run, in order" ;;
	delete/at=ahead)
		diff_ok <(keys "$T/out") <(keys "$T/after") "delete ahead: every row still there, once" ;;
	*)
		diff_ok <(keys "$T/out") <(keys "$T/base") "insert behind: every row once, none lost" ;;
	esac
done

# [ais] paging = query: every page a fresh query after the last row written,
# so a row removed behind the cursor cannot make a count-based page skip one.
write_conf "paging = query"
reset
fault "shift:op=delete,at=behind,rows=2,path=/jderest/v2/dataservice"
jde-fetch -t F0411 -p 10 >"$T/out" 2>"$T/err"
is "$?" 0 "paging = query: exit 0"
is "$(count /jderest/v2/dataservice/next)/$(count /jderest/v2/dataservice)" "0/$(((NROWS + 9) / 10))" \
	"paging = query: no /next, one query per page"
is "$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.enableNextPageProcessing' \
	"$MLC_AIS_SIM_LOG" | sort -u)" false "paging = query: no result set kept open on the server"
cmp_out "$T/out"
diff_ok "$T/out.cmp" "$T/base.cmp" "paging = query: every row once"
write_conf "paging = sideways"
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
is "$?" 78 "paging = sideways: a configuration error"
write_conf

# Incremental: a row that lands behind the cursor (stamped before rows
# already read) is not read by this run; the run keeps the watermark where
# it began, so the next run reads it.
reset
jde-fetch -r inc --run-id i1 >/dev/null 2>"$T/err"
jde-fetch --commit inc i1
w0=$(jde-fetch --show-watermark inc)
jq -c 'select(.F0411_DOC == 123456) | range(1; 26) as $i |
	.F0411_DOC = 980000 + $i | .F0411_UPMJ = "20261127" | .F0411_UPMT = 80000 + $i' \
	"$T/data/F0411.ndjson" >"$T/new-rows"
cat "$T/new-rows" >>"$T/data/F0411.ndjson"
jde-fetch -r inc --run-id i2 >"$T/i2" 2>"$T/err"
is "$(wc -l <"$T/i2" | tr -d ' ')" 25 "incremental, clean: the 25 new rows"
reset
fault "shift:op=insert,at=behind"
jde-fetch -r inc --run-id i3 >"$T/i3" 2>"$T/err"
is "$?" 0 "incremental, a row inserted behind the cursor: exit 0"
is "$(dups "$T/i3")" "" "incremental: no row written twice"
diff_ok <(keys "$T/i3") <(keys "$T/i2") "incremental: the 25 new rows once, none lost"
like "$(cat "$T/err")" "watermark stays where this run began" "incremental: the watermark is held, said so"
jde-fetch --commit inc i3
is "$(jde-fetch --show-watermark inc)" "$w0" "incremental: the committed watermark did not move"
jde-fetch -r inc --run-id i4 >"$T/i4" 2>"$T/err"
behind=$(keys "$T/i4" | grep -vxFf <(keys "$T/i2"))
like "$behind" '^00001\|PV\|98000[0-9]\.5\|001$' "the next run reads the row that was behind the cursor"
is "$(wc -l <"$T/i4" | tr -d ' ')" 26 "the next run: that row and the range again (26 rows)"
jde-fetch --commit inc i4
jde-fetch -r inc --run-id i5 >"$T/i5" 2>"$T/err"
is "$(wc -l <"$T/i5" | tr -d ' ')" 0 "after that commit: nothing new"

# ---- the read's memory does not grow with the rows ------------------------------
# (the old restart dedupe kept a hash per row written; now only the last
# position is kept: checked under valgrind for leaks on a shifted read)
reset
fault "shift:op=insert,at=behind,rows=2"
vg jde-fetch -t F0411 -p 7 >"$T/out" 2>"$T/vg.err"
is "$?" 0 "shifted read under valgrind"
reset
fault "token-life:requests=2"
vg jde-fetch -r inc --full --run-id v >"$T/out" 2>"$T/vg.err"
is "$?" 0 "resumed incremental read under valgrind"

done_testing
