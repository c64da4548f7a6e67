#!/usr/bin/env bash
# mlc-ais-sim: the AIS Server simulator against reference/ais-rest-api.md,
# and scripts/gen-jde-data.  The demo's reference date is 2026-11-26.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

DATA=$TOP/data/jde
TODAY=2026-11-26

sim_start mlc-ais-sim --today "$TODAY" || exit 1
U=http://127.0.0.1:$MLC_AIS_SIM_PORT
LOG=$MLC_AIS_SIM_LOG

# post PATH BODY [CURL-ARGS...]: prints the HTTP status; the body is in $T/out
post() {
	local path=$1 body=$2
	shift 2
	curl -s -o "$T/out" -w '%{http_code}' -H 'Content-Type: application/json' "$@" \
		--data-binary "$body" "$U$path"
}
# login DEVICE [USER PASSWORD [CURL-ARGS...]]: prints the token
login() {
	post /jderest/v2/tokenrequest "$(jq -nc --arg d "$1" --arg u "${2:-JDE}" --arg p "${3:-JDE}" \
		'{username:$u,password:$p,deviceName:$d,environment:"JDV920",role:"*ALL"}')" "${@:4}" >/dev/null
	jq -r '.userInfo.token // empty' "$T/out"
}
# c CONTROLID OPERATOR [VALUE...]: one condition with LITERAL values
c() {
	local id=$1 op=$2
	shift 2
	jq -nc --arg id "$id" --arg op "$op" \
		'{controlId:$id,operator:$op,value:[$ARGS.positional[]|{content:.,specialValueId:"LITERAL"}]}' \
		--args "$@"
}
# req TABLE RCIDS MATCHTYPE COND...: a BROWSE request, No Max
req() {
	local t=$1 r=$2 m=$3
	shift 3
	jq -nc --arg t "$t" --arg r "$r" --arg m "$m" \
		'{targetName:$t,targetType:"table",dataServiceType:"BROWSE",outputType:"GRID_DATA",
		  returnControlIDs:$r,maxPageSize:"No Max",query:{matchType:$m,condition:[$ARGS.positional[]|fromjson]}}' \
		--args "$@"
}
TOK=$(login t1)
DEV=t1
# browse BODY [CURL-ARGS...]: POST /dataservice with $TOK/$DEV; prints the status
browse() { post /jderest/v2/dataservice "$1" -H "jde-AIS-Auth: $TOK" -H "jde-AIS-Auth-Device: $DEV" "${@:2}"; }
# rows FIELD: the values of FIELD over the rowset in $T/out, as one JSON array
rows() { jq -c --arg f "$1" '[to_entries[]|select(.key|startswith("fs_DATABROWSE_"))|.value.data.gridData.rowset[]|.[$f]]' "$T/out"; }
errs() { jq -c '[to_entries[]|select(.key|startswith("fs_DATABROWSE_"))|.value.errors[]]' "$T/out"; }
# expect FILE JQ-FILTER FIELD: what the dataset says, computed independently with jq
expect() { jq -sc "[.[]|select($2)|.$3]" "$DATA/$1.ndjson"; }

# ---- login --------------------------------------------------------------
[ -n "$TOK" ]
ok "login with a JSON body returns userInfo.token"
like "$TOK" '^044[A-Za-z0-9+/=]{60,}$' "the token looks like an AIS token"
is "$(jq -c '[.username,.environment,.role,.userInfo.dateFormat,.userInfo.dateSeperator,.userInfo.simpleDateFormat,has("deprecated")]' "$T/out")" \
	'["JDE","JDV920","*ALL","MDE","/","MM/dd/yyyy",false]' "token response: v2 shape, MDE user, no deprecated"
is "$(jq -c '.userInfo|keys' "$T/out")" \
	'["addressNumber","alphaName","appsRelease","country","dateFormat","dateSeperator","decimalFormat","langPref","locale","simpleDateFormat","token","username"]' \
	"userInfo keys as in the real sample"
st=$(curl -s -o "$T/out" -w '%{http_code}' -X POST -u JDE:JDE -H 'jde-AIS-Auth-Device: hdr1' \
	-H 'jde-AIS-Auth-Environment: JDV920' -H 'jde-AIS-Auth-Role: *ALL' "$U/jderest/v2/tokenrequest")
is "$st" 200 "login with Basic + jde-AIS-Auth-* headers"
HTOK=$(jq -r .userInfo.token "$T/out")
is "$(post /jderest/v2/tokenrequest '{"username":"JDE","password":"nope","deviceName":"t1"}')" 403 "wrong password: 403"
is "$(jq -c 'keys' "$T/out")" '["exception","message","timeStamp"]' "a failed login has a ServiceErrorResponse body"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST -u JDE:bad "$U/jderest/v2/tokenrequest")" 403 \
	"wrong password in Basic: 403"
is "$(post /jderest/v2/tokenrequest '{"username":"JDE","password":"JDE","environment":"JPD920"}')" 403 \
	"an environment the server does not have: 403"
is "$(post /jderest/v2/tokenrequest '{"username":' )" 400 "bad JSON: 400"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data-binary '{}' "$U/jderest/v2/tokenrequest")" 415 \
	"a body that is not application/json: 415"

# ---- token use, device binding, validate, logout --------------------------
B=$(req F0101 "F0101.AN8" MATCH_ALL "$(c F0101.AN8 EQUAL 4242)")
is "$(browse "$B")" 200 "the token works with its device"
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: $TOK" -H 'jde-AIS-Auth-Device: other')" 444 \
	"the token with another device: 444"
is "$(jq -r .message "$T/out")" "Invalid Token" "the 444 body says Invalid Token"
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: $TOK")" 444 "the token without its device: 444"
is "$(post /jderest/v2/dataservice "$(jq -c --arg t "$TOK" '.token=$t|.deviceName="t1"' <<<"$B")")" 200 \
	"token and deviceName in the JSON body"
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: $HTOK" -H 'jde-AIS-Auth-Device: hdr1')" 200 \
	"a token from the header login works"
post /jderest/v2/tokenrequest '{"username":"jde","password":"JDE"}' >/dev/null
ITOK=$(jq -r .userInfo.token "$T/out")
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: $ITOK")" 200 \
	"no device at login: the token is bound to the client address and works from it"
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: bogus" -H 'jde-AIS-Auth-Device: t1')" 444 "an unknown token: 444"
is "$(post /jderest/v2/tokenrequest/validate "{\"token\":\"$TOK\"}" -H 'jde-AIS-Auth-Device: t1')" 200 "validate a good token"
is "$(cat "$T/out")" '{"isValidSession":true}' "validate answers isValidSession"
is "$(post /jderest/v2/tokenrequest/validate '{"token":"nope"}')" 444 "validate an unknown token: 444"
LTOK=$(login lo1)
is "$(post /jderest/v2/tokenrequest/logout "{\"token\":\"$LTOK\"}" -H 'jde-AIS-Auth-Device: lo1')" 200 "logout"
is "$(cat "$T/out")" '{"status":"Success"}' "logout answers status Success"
is "$(post /jderest/v2/tokenrequest/logout "{\"token\":\"$LTOK\"}" -H 'jde-AIS-Auth-Device: lo1')" 444 "logout again: 444"
is "$(jq -c 'keys' "$T/out")" '["exception","message","timeStamp"]' "the 444 body has the shape of error_invalid_token.json"
is "$(post /jderest/v2/dataservice "$B" -H "jde-AIS-Auth: $LTOK" -H 'jde-AIS-Auth-Device: lo1')" 444 \
	"a logged-out token is refused"

# ---- the envelope -----------------------------------------------------------
browse "$(req F0411 "F0411.DOC|F0411.AN8|F0411.AG|F0411.DDJ|F0411.MCU|F0411.UPMT" MATCH_ALL "$(c F0411.DOC EQUAL 123456)")" >/dev/null
is "$(jq -c 'keys' "$T/out")" '["currentApp","fs_DATABROWSE_F0411","rid","stackId","stateId","sysErrors","timeStamp"]' \
	"response envelope keys (reference §2.4)"
is "$(jq -c '.fs_DATABROWSE_F0411|[.title,(.data.gridData|keys),.errors,.warnings]' "$T/out")" \
	'["Data Browser - F0411 [Accounts Payable Ledger]",["columns","fullGridId","id","rowset","summary"],[],[]]' \
	"form object: title, gridData, errors, warnings"
is "$(jq -c '.fs_DATABROWSE_F0411.data.gridData.rowset' "$T/out")" \
	'[{"F0411_DOC":123456,"F0411_AN8":4242,"F0411_AG":25000,"F0411_DDJ":"20261121","F0411_MCU":" 50","F0411_UPMT":'"$(expect F0411 '.F0411_DOC==123456' F0411_UPMT | jq '.[0]')"'}]' \
	"the SPEC's invoice 123456: Acme Corp, 25000, due 2026-11-21 (5 days before $TODAY), columns in request order"
is "$(jq -c '.fs_DATABROWSE_F0411.data.gridData.columns' "$T/out")" \
	'{"F0411_DOC":"Document Number","F0411_AN8":"Address Number","F0411_AG":"Gross Amount","F0411_DDJ":"Net Due Date","F0411_MCU":"Business Unit","F0411_UPMT":"Time Last Updated"}' \
	"gridData.columns maps keys to labels"
is "$(jq -c '[.currentApp,.fs_DATABROWSE_F0411.data.gridData.summary]' "$T/out")" '["DATABROWSE_F0411",{"records":1,"moreRecords":false}]' \
	"currentApp and summary"
like "$(jq -r .timeStamp "$T/out")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}:[0-9]{2}\.[0-9]{2}\.[0-9]{2}$' "timeStamp as in the samples"
browse "$(jq -c 'del(.returnControlIDs)' <<<"$(req F0101 "" MATCH_ALL "$(c F0101.AN8 EQUAL 1001)")")" >/dev/null
is "$(jq '.fs_DATABROWSE_F0101.data.gridData.rowset[0]|keys|length' "$T/out")" \
	"$(jq '.F0101.columns|length' "$DATA/columns.json")" "no returnControlIDs: every column"
is "$(jq -c '.fs_DATABROWSE_F0101.data.gridData.rowset[0]|[.F0101_EFTB,.F0101_ALKY,.F0101_MCU]' "$T/out")" '[null," "," 1"]' \
	"value conventions: blank date null, blank string one space, MCU with its leading blank"

# ---- operators ------------------------------------------------------------------
browse "$(req F0006 "F0006.MCU" MATCH_ALL "$(c F0006.STYL NOT_EQUAL AD)")" >/dev/null
is "$(rows F0006_MCU)" '[" 1"," 30"," 40"," M30"]' "NOT_EQUAL"
browse "$(req F4102 "F4102.ITM" MATCH_ALL "$(c F4102.ROPI LESS 50)")" >/dev/null
is "$(rows F4102_ITM)" "$(expect F4102 '.F4102_ROPI<50' F4102_ITM)" "LESS (numeric)"
browse "$(req F4102 "F4102.ITM" MATCH_ALL "$(c F4102.ROPI LESS_EQUAL 40)")" >/dev/null
is "$(rows F4102_ITM)" "$(expect F4102 '.F4102_ROPI<=40' F4102_ITM)" "LESS_EQUAL"
browse "$(req F4301 "F4301.DOCO" MATCH_ALL "$(c F4301.OTOT GREATER 50000)")" >/dev/null
is "$(rows F4301_DOCO)" '[4300105,4300112,4300121,4300127,4300133,4300139,4300141,4300143]' \
	"GREATER: the POs above 50,000 (50,000.00 is not)"
browse "$(req F4301 "F4301.DOCO" MATCH_ALL "$(c F4301.OTOT GREATER_EQUAL 50000)")" >/dev/null
is "$(rows F4301_DOCO)" '[4300105,4300112,4300118,4300121,4300127,4300133,4300139,4300141,4300143]' "GREATER_EQUAL"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DOC BETWEEN 123456 123460)")" >/dev/null
is "$(rows F0411_DOC)" '[123456,123457,123458,123459,123460]' "BETWEEN (inclusive)"
browse "$(req F0101 "F0101.ALPH" MATCH_ALL "$(c F0101.AN8 LIST 4243 4242 9999)")" >/dev/null
is "$(rows F0101_ALPH)" '["Acme Corp","Müller Präzisionsteile GmbH"]' "LIST"
browse "$(req F0101 "F0101.AN8" MATCH_ALL "$(c F0101.ALPH STR_START_WITH Müller)")" >/dev/null
is "$(rows F0101_AN8)" '[4243]' "STR_START_WITH (UTF-8)"
browse "$(req F01151 "F01151.AN8" MATCH_ALL "$(c F01151.EMAL STR_END_WITH @acme.example)")" >/dev/null
is "$(rows F01151_AN8)" '[4242]' "STR_END_WITH"
browse "$(req F0101 "F0101.AN8" MATCH_ALL "$(c F0101.ALPH STR_CONTAIN '&')")" >/dev/null
is "$(rows F0101_AN8)" '[4244,5006]' "STR_CONTAIN"
browse "$(req F0115 "F0115.AN8" MATCH_ALL '{"controlId":"F0115.PHTP","operator":"STR_BLANK","value":[]}')" >/dev/null
is "$(rows F0115_AN8)" "$(expect F0115 '.F0115_PHTP==" "' F0115_AN8)" "STR_BLANK (business phones)"
browse "$(req F0115 "F0115.PH1" MATCH_ALL '{"controlId":"F0115.PHTP","operator":"STR_NOT_BLANK"}')" >/dev/null
is "$(rows F0115_PH1)" "$(expect F0115 '.F0115_PHTP!=" "' F0115_PH1)" "STR_NOT_BLANK"
browse "$(req F0006 "F0006.MCU|F0006.AN8" MATCH_ALL "$(c F0006.MCU EQUAL 30)")" >/dev/null
is "$(jq -c .fs_DATABROWSE_F0006.data.gridData.rowset "$T/out")" '[{"F0006_MCU":" 30","F0006_AN8":2009}]' \
	"MCU compares without its leading blanks, and comes back with them"
browse "$(req F0101 "F0101.AN8" MATCH_ANY "$(c F0101.AN8 EQUAL 2004)" "$(c F0101.AN8 EQUAL 2005)")" >/dev/null
is "$(rows F0101_AN8)" '[2004,2005]' "MATCH_ANY"
browse "$(jq -c '.query.complexQuery=[{"andOr":"AND","query":{"matchType":"MATCH_ANY","condition":[
	{"controlId":"F0101.AT1","operator":"EQUAL","value":[{"content":"C","specialValueId":"LITERAL"}]},
	{"controlId":"F0101.AT1","operator":"EQUAL","value":[{"content":"E","specialValueId":"LITERAL"}]}]}}]' \
	<<<"$(req F0101 "F0101.AN8" MATCH_ALL "$(c F0101.AN8 LESS 5003)")")" >/dev/null
is "$(rows F0101_AN8)" "$(expect F0101 '.F0101_AN8<5003 and (.F0101_AT1=="C" or .F0101_AT1=="E")' F0101_AN8)" \
	"complexQuery AND (MATCH_ANY ...)"

# ---- dates -----------------------------------------------------------------------
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DDJ EQUAL 11/21/2026)")" >/dev/null
is "$(rows F0411_DOC)" "$(expect F0411 '.F0411_DDJ=="20261121"' F0411_DOC)" "a date literal in the user's format (MM/dd/yyyy)"
like "$(rows F0411_DOC)" '123456' "... finds invoice 123456"
is "$(browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DDJ EQUAL 2026-11-21)")")" 200 \
	"a date literal in another format: still HTTP 200"
is "$(errs | jq -c '[.[0]|keys, .CODE, .ERRORCONTROL]')" '[["CODE","DESC","ERRORCONTROL","MOBILE","TITLE"],"SIM016","F0411.DDJ"]' \
	"... with an error entry {CODE,TITLE,ERRORCONTROL,DESC,MOBILE}"
is "$(rows F0411_DOC)" '[]' "... and no rows"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DDJ EQUAL 20261121)")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM016 "yyyyMMdd is not the user's format either"
browse "$(req F0411 "F0411.DOC" MATCH_ALL '{"controlId":"F0411.DDJ","operator":"EQUAL","value":[{"content":"5","specialValueId":"TODAY_MINUS_DAY"}]}')" >/dev/null
like "$(rows F0411_DOC)" '123456' "TODAY_MINUS_DAY 5 with --today $TODAY finds invoice 123456"
CUT=$(date -u -d "$TODAY -30 days" +%Y%m%d)
browse "$(req F0411 "F0411.DOC|F0411.SFX" MATCH_ALL "$(c F0411.AAP NOT_EQUAL 0)" \
	'{"controlId":"F0411.DDJ","operator":"LESS","value":[{"content":"30","specialValueId":"TODAY_MINUS_DAY"}]}')" >/dev/null
is "$(rows F0411_DOC)" "$(expect F0411 ".F0411_AAP!=0 and (.F0411_DDJ//\"00000000\")<\"$CUT\"" F0411_DOC)" \
	"AP aging 30+ (open, due before $CUT; a blank due date counts as 0, as in JDE)"
browse "$(req F0411 "F0411.DOC" MATCH_ALL '{"controlId":"F0411.DDJ","operator":"GREATER","value":[{"content":"1","specialValueId":"TODAY_PLUS_MONTH"}]}')" >/dev/null
is "$(rows F0411_DOC)" "$(expect F0411 '(.F0411_DDJ//"0")>"20261226"' F0411_DOC)" "TODAY_PLUS_MONTH"

# ---- errors inside HTTP 200 ---------------------------------------------------------
is "$(browse "$(req F9999 "" MATCH_ALL)")" 200 "an unknown table: HTTP 200 ..."
is "$(jq -r '.fs_DATABROWSE_F9999.errors[0].CODE' "$T/out")" SIM001 "... with an error entry in fs_DATABROWSE_F9999"
browse "$(req F0411 "F0411.DOC|F0411.NOPE" MATCH_ALL)" >/dev/null
is "$(errs | jq -r '.[0].ERRORCONTROL')" F0411.NOPE "an unknown column in returnControlIDs: error entry"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.NOPE EQUAL 1)")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM010 "an unknown controlId: error entry"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DOC BETWEEN 1)")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM019 "BETWEEN with one value: error entry"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DOC LIKE 1)")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM018 "an unknown operator: error entry"

# ---- paging -------------------------------------------------------------------------
NF0411=$(wc -l <"$DATA/F0411.ndjson")
browse '{"targetName":"F0411","targetType":"table","dataServiceType":"BROWSE","outputType":"GRID_DATA","returnControlIDs":"F0411.DOC|F0411.SFX","maxPageSize":"10","enableNextPageProcessing":true}' >/dev/null
cp "$T/out" "$T/page1"
pages=1
total=$(jq '.fs_DATABROWSE_F0411.data.gridData.summary.records' "$T/out")
jq -r '.fs_DATABROWSE_F0411.data.gridData.rowset[]|"\(.F0411_DOC)|\(.F0411_SFX)"' "$T/out" >"$T/keys"
like "$(jq -r '.links[0].href' "$T/out")" "^http://127\.0\.0\.1:$MLC_AIS_SIM_PORT/jderest/v2/dataservice/next\?stackId=[0-9]+&stateId=1&rid=[0-9a-f]+&fullGridId=1&formOID=F0411&token=[^&]+&outputType=GRID_DATA&returnControlIDs=F0411\.DOC%7CF0411\.SFX$" \
	"page 1 has a next link with every parameter"
is "$(jq -r '.links[0].rel' "$T/out")" next "the link's rel is next"
while [ "$(jq '.fs_DATABROWSE_F0411.data.gridData.summary.moreRecords' "$T/out")" = true ] && [ "$pages" -lt 20 ]; do
	href=$(jq -r '.links[0].href' "$T/out")
	if [ $((pages % 2)) = 1 ]; then
		curl -s -o "$T/out" -X POST -H "jde-AIS-Auth-Device: $DEV" "$href"
	else
		curl -s -o "$T/out" -G -H "jde-AIS-Auth-Device: $DEV" -H "jde-AIS-Auth: $TOK" "$href"
	fi
	pages=$((pages + 1))
	total=$((total + $(jq '.fs_DATABROWSE_F0411.data.gridData.summary.records' "$T/out")))
	jq -r '.fs_DATABROWSE_F0411.data.gridData.rowset[]|"\(.F0411_DOC)|\(.F0411_SFX)"' "$T/out" >>"$T/keys"
done
is "$total" "$NF0411" "paging with maxPageSize 10 (POST and GET on the links) returns every row"
is "$pages" $(((NF0411 + 9) / 10)) "... in the right number of pages"
is "$(sort -u "$T/keys" | wc -l)" "$NF0411" "... each row once"
is "$(jq -c '[has("links"), .stateId]' "$T/out")" "[false,$pages]" "the last page has no links; stateId counts pages"
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H "jde-AIS-Auth-Device: $DEV" "$(jq -r '.links[0].href' "$T/page1")")" 500 \
	"a used link (stale stateId) is an expired result set: 500"
is "$(jq -c . "$T/out")" "$(jq -c . "$TOP/tests/sim/ais-error_query_results_expired.json")" \
	"... with the JAS_MSG347 body of ais-samples/error_query_results_expired.json"
browse "$(jq -c '.maxPageSize="10"' <<<"$(req F0411 "F0411.DOC" MATCH_ALL)")" >/dev/null
is "$(jq -c '[.fs_DATABROWSE_F0411.data.gridData.summary, has("links")]' "$T/out")" '[{"records":10,"moreRecords":true},false]' \
	"without enableNextPageProcessing: moreRecords true and no links"
browse "$(req F0411 "F0411.DOC" MATCH_ALL)" >/dev/null
is "$(jq -c '.fs_DATABROWSE_F0411.data.gridData.summary' "$T/out")" "{\"records\":$NF0411,\"moreRecords\":false}" "No Max: every row at once"
browse '{"targetName":"F4311","targetType":"table","dataServiceType":"BROWSE","returnControlIDs":"F4311.DOCO"}' >/dev/null
is "$(jq -c '.fs_DATABROWSE_F4311.data.gridData.summary' "$T/out")" \
	"{\"records\":100,\"moreRecords\":$([ "$(wc -l <"$DATA/F4311.ndjson")" -gt 100 ] && echo true || echo false)}" \
	"the default page size is 100"

# ---- result sets belong to their session ---------------------------------------------
browse '{"targetName":"F0411","targetType":"table","dataServiceType":"BROWSE","returnControlIDs":"F0411.DOC","maxPageSize":"5","enableNextPageProcessing":true}' >/dev/null
href=$(jq -r '.links[0].href' "$T/out")
TOK2=$(login t1)
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H "jde-AIS-Auth: $TOK2" -H 'jde-AIS-Auth-Device: t1' "$href")" 444 \
	"a new token cannot continue another session's result set: 444"
post /jderest/v2/tokenrequest/logout "{\"token\":\"$TOK\"}" -H 'jde-AIS-Auth-Device: t1' >/dev/null
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H "jde-AIS-Auth: $TOK2" -H 'jde-AIS-Auth-Device: t1' "${href%%&token=*}")" 500 \
	"after the old session ends, its result set is gone: 500 ..."
like "$(jq -r '.sysErrors[0].TITLE' "$T/out")" '^JAS_MSG347' "... JAS_MSG347"
TOK=$TOK2

# ---- aggregation.orderBy, and what a /next URL carries --------------------------------
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"sessions":true}' "$U/_sim/reset"
TOK=$(login t1)
ob() { # ob TABLE RCIDS PAGESIZE ORDER...: a paged BROWSE ordered by "COL ASC|DESC"...
	local t=$1 r=$2 n=$3
	shift 3
	jq -nc --arg t "$t" --arg r "$r" --arg n "$n" \
		'{targetName:$t,targetType:"table",dataServiceType:"BROWSE",returnControlIDs:$r,
		  maxPageSize:$n,enableNextPageProcessing:true,
		  aggregation:{orderBy:[$ARGS.positional[]|split(" ")|{column:.[0],direction:.[1]}]}}' --args "$@"
}
# allpages FIELDS: every page of the result in $T/out, following the links
# with the token in the header and the ids in a JSON body
allpages() {
	local f=$1 n=0
	: >"$T/all"
	while :; do
		jq -r ".fs_DATABROWSE_F0411.data.gridData.rowset[]|$f" "$T/out" >>"$T/all"
		[ "$(jq '.fs_DATABROWSE_F0411.data.gridData.summary.moreRecords' "$T/out")" = true ] || break
		body=$(jq -c '{stackId, stateId, rid, fullGridId: .fs_DATABROWSE_F0411.data.gridData.fullGridId,
			formOID: "F0411", outputType: "GRID_DATA"}' "$T/out")
		post /jderest/v2/dataservice/next "$body" -H "jde-AIS-Auth: $TOK" -H "jde-AIS-Auth-Device: $DEV" >/dev/null
		n=$((n + 1))
		[ "$n" -lt 50 ] || break
	done
}
browse "$(ob F0411 "F0411.DOC|F0411.AAP" 7 "F0411.AAP DESC" "F0411.DOC ASC")" >/dev/null
allpages '"\(.F0411_AAP) \(.F0411_DOC)"'
is "$(cat "$T/all")" "$(jq -r '"\(.F0411_AAP) \(.F0411_DOC)"' "$DATA/F0411.ndjson" | sort -k1,1nr -k2,2n)" \
	"orderBy AAP DESC, DOC ASC: every page in that order (the ids in a JSON body, the token in the header)"
is "$(curl -s "$U/_sim/state" | jq .tokenInUrl)" 0 "the simulator counts no token in those /next URLs"
browse "$(ob F0411 "F0411.DOC" 10 "F0411.DOC ASC")" >/dev/null
curl -s -o "$T/out" -X POST -H "jde-AIS-Auth-Device: $DEV" "$(jq -r '.links[0].href' "$T/out")"
is "$(curl -s "$U/_sim/state" | jq .tokenInUrl)" 1 "a link followed as it is: the token in a /next URL is counted ..."
is "$(jq -c 'select(.path == "/jderest/v2/dataservice/next") | .token_in_url' "$LOG" | tail -n 1)" true \
	"... and marked in the request log"
browse "$(ob F0006 "F0006.MCU" 0 "F0006.MCU DESC" | jq -c '.maxPageSize = "No Max"')" >/dev/null
is "$(rows F0006_MCU)" '[" M30"," 60"," 50"," 40"," 30"," 20"," 10"," 1"]' \
	"business units order right-justified, as stored: M30 after the two-digit ones"
browse "$(req F0006 "F0006.MCU" MATCH_ALL "$(c F0006.MCU GREATER 5)")" >/dev/null
is "$(rows F0006_MCU)" '[" 10"," 20"," 30"," 40"," 50"," 60"," M30"]' "MCU > 5 compares right-justified too"
browse "$(ob F0411 "F0411.DOC" 10 "F0411.NOPE ASC")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM010 "orderBy on an unknown column: SIM010"
browse "$(ob F0411 "F0411.DOC" 10 "F0411.DOC UP")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM021 "orderBy with a bad direction: SIM021"

# ---- faults of issue 11: token-life, sticky, shift, no-complex -------------------------
sim_fault() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"spec\":\"$1\"}" "$U/_sim/fault"; }
sim_reset() { curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"sessions":true,"data":true}' \
	"$U/_sim/reset"; }
sim_reset
is "$(sim_fault token-life:requests=2)" 200 "token-life:requests=2 accepted"
TOK=$(login t1)
is "$(browse "$B")/$(browse "$B")/$(browse "$B")" 200/200/444 "token-life: two requests, then the token is refused"
is "$(browse "$B")" 444 "token-life: and its session is gone"
TOK=$(login t1)
is "$(browse "$B")" 200 "token-life: a new token has its own two requests"
sim_reset
is "$(sim_fault sticky:cookie=LBNODE)" 200 "sticky accepted"
curl -s -D "$T/hdr" -o "$T/out" -H 'Content-Type: application/json' -c "$T/jar" \
	-d '{"username":"JDE","password":"JDE","deviceName":"t1"}' "$U/jderest/v2/tokenrequest"
TOK=$(jq -r .userInfo.token "$T/out")
like "$(grep -i '^set-cookie:' "$T/hdr")" '^Set-Cookie: LBNODE=[0-9a-f]{16}; Path=/; HttpOnly' \
	"sticky: the first answer sets the load balancer's cookie"
browse "$(ob F0411 "F0411.DOC" 10 "F0411.DOC ASC")" -b "$T/jar" >/dev/null
href=$(jq -r '.links[0].href' "$T/out")
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -b "$T/jar" -H "jde-AIS-Auth-Device: t1" -H "jde-AIS-Auth: $TOK" \
	"${href%%\?*}" -H 'Content-Type: application/json' -d "$(jq -nc --arg u "$href" '$u | capture("stackId=(?<s>[0-9]+)&stateId=(?<t>[0-9]+)&rid=(?<r>[0-9a-f]+)") | {stackId: .s, stateId: .t, rid: .r}')")" \
	200 "sticky: /next with the cookie reaches the node that has the result set"
href=$(jq -r '.links[0].href' "$T/out")
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H "jde-AIS-Auth-Device: t1" "$href")" 500 \
	"sticky: /next without it reaches another node: JAS_MSG347 (the context is lost)"
sim_reset
sim_fault sticky:miss=token >/dev/null
curl -s -o "$T/out" -H 'Content-Type: application/json' -c "$T/jar2" \
	-d '{"username":"JDE","password":"JDE","deviceName":"t1"}' "$U/jderest/v2/tokenrequest"
TOK=$(jq -r .userInfo.token "$T/out")
is "$(browse "$B" -b "$T/jar2")/$(browse "$B")" 200/444 "sticky:miss=token: without the cookie the token is unknown"
sim_reset
TOK=$(login t1)
browse "$(ob F0411 "F0411.DOC|F0411.SFX" 10 "F0411.DOC ASC")" >/dev/null
jq -r '.fs_DATABROWSE_F0411.data.gridData.rowset[-1].F0411_DOC' "$T/out" >"$T/last10"
is "$(sim_fault shift:op=insert,at=behind)" 200 "shift accepted"
curl -s -o "$T/out" -X POST -H "jde-AIS-Auth-Device: $DEV" "$(jq -r '.links[0].href' "$T/out")"
is "$(jq -r '.fs_DATABROWSE_F0411.data.gridData.rowset[0].F0411_DOC' "$T/out")" "$(cat "$T/last10")" \
	"shift: a row inserted behind the cursor moves the next page back: page 2 starts with page 1's last row"
browse "$(ob F0411 "F0411.DOC" 0 "F0411.DOC ASC" | jq -c '.maxPageSize = "No Max"')" >/dev/null
is "$(rows F0411_DOC | jq --argjson d "$(cat "$T/last10")" 'map(select(. == $d - 0.5)) | length')" 1 \
	"shift: the inserted row (the document number just before) is in the table for later queries"
sim_reset
TOK=$(login t1)
browse "$(ob F0411 "F0411.DOC" 0 "F0411.DOC ASC" | jq -c '.maxPageSize = "No Max"')" >/dev/null
is "$(rows F0411_DOC | jq length)" "$NF0411" "reset with data: the table as its file holds it"
sim_fault no-complex >/dev/null
browse "$(jq -c '.query = {complexQuery: [{andOr: "AND", query: {condition: [{controlId: "F0411.DOC",
	operator: "GREATER", value: [{content: "1", specialValueId: "LITERAL"}]}]}}]}' <<<"$B" | sed 's/F0101/F0411/g')" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM022 "no-complex: a query with complexQuery is refused"
CQ=$(jq -c '.query = {complexQuery: [{andOr: "AND", query: {condition: [{controlId: "F0411.DOC",
	operator: "GREATER", value: [{content: "1", specialValueId: "LITERAL"}]}]}}]}' <<<"$B" | sed 's/F0101/F0411/g')
sim_reset
sim_fault no-complex:as=sys >/dev/null
TOK=$(login t1)
is "$(browse "$CQ")/$(jq -c '[.sysErrors[].TITLE]' "$T/out")" '200/["SIM022"]' \
	"no-complex:as=sys: refused in the sysErrors of a 200"
sim_reset
sim_fault no-complex:as=400 >/dev/null
TOK=$(login t1)
is "$(browse "$CQ")/$(jq -r .message "$T/out")" "400/complexQuery is not supported (fault no-complex)" \
	"no-complex:as=400: refused with HTTP 400"
sim_reset
sim_fault no-complex:as=500 >/dev/null
TOK=$(login t1)
is "$(browse "$CQ")/$(jq -r .message "$T/out")" "500/complexQuery is not supported (fault no-complex)" \
	"no-complex:as=500: refused with HTTP 500"
is "$(sim_fault no-complex:as=503)" 400 "no-complex:as=503: not a variant"
sim_reset
TOK=$(login t1)

# ---- faults --------------------------------------------------------------------------
fault() { post /_sim/fault "{\"spec\":\"$1\"}"; }
B=$(req F0101 "F0101.AN8" MATCH_ALL "$(c F0101.AN8 EQUAL 4242)")
is "$(fault 'token-expire:after=2,status=444')" 200 "POST /_sim/fault"
r=$(browse "$B") r="$r $(browse "$B")" r="$r $(browse "$B")"
is "$r" "200 200 444" "token-expire after=2: the third call gets 444"
is "$(browse "$B")" 444 "... and the token stays dead"
TOK=$(login t1)
is "$(browse "$B")" 200 "a new login works again"
fault 'token-expire:after=0,status=403' >/dev/null
is "$(browse "$B")" 403 "token-expire with status=403"
is "$(jq -r .message "$T/out")" "Authorization Failure" "... Authorization Failure"
TOK=$(login t1)
fault 'status:path=/jderest/v2/dataservice,code=503,count=2' >/dev/null
r=$(browse "$B") r="$r $(browse "$B")" r="$r $(browse "$B")"
is "$r" "503 503 200" "status fault: a burst of two 503s"
is "$(post /jderest/v2/tokenrequest/validate "{\"token\":\"$TOK\"}" -H 'jde-AIS-Auth-Device: t1')" 200 "other paths are not affected"
fault 'slow:ms=700,path=/jderest/v2/dataservice' >/dev/null
t0=$(date +%s%N)
browse "$B" >/dev/null
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 700 ]
ok "slow fault delays the answer ($(((t1 - t0) / 1000000)) ms)"
fault 'truncate:path=/jderest/v2/dataservice' >/dev/null
is "$(curl -s -o "$T/out" -w '%{http_code} %{size_download}' -H 'Content-Type: application/json' -H "jde-AIS-Auth: $TOK" -H 'jde-AIS-Auth-Device: t1' --data-binary "$B" "$U/jderest/v2/dataservice")" \
	"200 $(wc -c <"$T/out")" "truncate: a complete HTTP response ..."
! jq . "$T/out" >/dev/null 2>&1
ok "... whose body is cut-off JSON"
like "$(head -c 30 "$T/out")" '^\{"fs_DATABROWSE_F0101"' "... the start of the real answer"
fault 'malformed' >/dev/null
is "$(browse "$B")" 200 "malformed: HTTP 200 ..."
! jq . "$T/out" >/dev/null 2>&1
ok "... with a body that is not JSON"
fault 'drop:path=/jderest/v2/dataservice' >/dev/null
curl -s -o /dev/null -H 'Content-Type: application/json' -H "jde-AIS-Auth: $TOK" -H 'jde-AIS-Auth-Device: t1' --data-binary "$B" "$U/jderest/v2/dataservice"
is "$?" 52 "drop: the connection closes without a response (curl 52)"
is "$(browse "$B")" 200 "... once"
fault 'app-error:table=F0411' >/dev/null
browse "$B" >/dev/null
is "$(errs)" '[]' "app-error for F0411 leaves F0101 alone"
is "$(browse "$(req F0411 "F0411.DOC" MATCH_ALL)")" 200 "app-error: HTTP 200 ..."
is "$(jq -c '.fs_DATABROWSE_F0411.errors[0]|keys' "$T/out")" '["CODE","DESC","ERRORCONTROL","MOBILE","TITLE"]' \
	"... with fs_DATABROWSE_F0411.errors[] {CODE,TITLE,ERRORCONTROL,DESC,MOBILE}"
fault 'sys-error' >/dev/null
is "$(browse "$B")" 200 "sys-error: HTTP 200 ..."
is "$(jq -c '[(.sysErrors|length), (.sysErrors[0]|keys)]' "$T/out")" '[1,["DESC","TITLE"]]' "... with a top-level sysErrors entry"
browse '{"targetName":"F0411","targetType":"table","dataServiceType":"BROWSE","maxPageSize":"5","enableNextPageProcessing":true}' >/dev/null
href=$(jq -r '.links[0].href' "$T/out")
fault 'expire-results' >/dev/null
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H 'jde-AIS-Auth-Device: t1' "$href")" 500 "expire-results: the next /next gets 500"
is "$(jq -c . "$T/out")" "$(jq -c . "$TOP/tests/sim/ais-error_query_results_expired.json")" "... with the body of ais-samples/error_query_results_expired.json"
fault 'status:code=502,count=0' >/dev/null
is "$(browse "$B")" 502 "count=0: the fault stays ..."
is "$(browse "$B")" 502 "... and stays"
is "$(post /_sim/reset '{}')" 200 "POST /_sim/reset"
is "$(browse "$B")" 200 "... clears the faults"
is "$(fault 'nonsense:x=1')" 400 "a bad fault spec: 400"

# ---- the request log -------------------------------------------------------------------
jq -e . "$LOG" >/dev/null
ok "the request log is NDJSON"
is "$(jq -sc '[.[]|select(.path=="/jderest/v2/tokenrequest" and .body.username=="JDE")][0]|[.method,.body.password,.body.deviceName,.status]' "$LOG")" \
	'["POST","REDACTED","t1",200]' "the log keeps the login body with the password REDACTED"
is "$(jq -sc '[.[]|select(.headers["jde-ais-auth-device"]=="hdr1" and .path=="/jderest/v2/tokenrequest")][0].headers.authorization' "$LOG")" \
	'"Basic JDE:REDACTED"' "Authorization is logged as Basic <user>:REDACTED"
is "$(jq -sc --arg t "$HTOK" '[.[]|select(.headers["jde-ais-auth"]==$t)]|length' "$LOG")" 1 "the jde-AIS-Auth value is kept, so tests can see the token was sent"
is "$(jq -sc '[.[]|select(.fault=="drop")][0].status' "$LOG")" null "a dropped request is logged with status null"
is "$(jq -sc '[.[]|select(.path=="/jderest/v2/dataservice/next" and .token_in_url)|.query|has("stackId") and has("rid")]|all' "$LOG")" true "the query string of /next is logged"
! grep -q '"password":"JDE"\|"password":"nope"\|JDE:JDE\|SkRFOkpERQ' "$LOG"
ok "no password in the log"

# ---- a second server: password file, DME, short result-set timeout, 403, --fault --------
printf 's3cr3t-Pa55\n' >"$T/pw"
sim_start mlc-ais-sim --request-log "$T/two.log" --password-file "$T/pw" --user AISUSER --date-format DME \
	--today "$TODAY" --result-set-timeout 1 --bad-token-status 403 --token-ttl 5 \
	--fault 'status:path=/jderest/defaultconfig,code=502' || exit 1
U=http://127.0.0.1:$MLC_AIS_SIM_PORT
is "$(curl -s -o /dev/null -w '%{http_code}' "$U/jderest/defaultconfig")" 502 "--fault at start-up"
is "$(curl -s -o /dev/null -w '%{http_code}' "$U/jderest/defaultconfig")" 200 "GET /jderest/defaultconfig"
[ -z "$(login d1)" ]
ok "the default password is not accepted when --password-file is given"
TOK=$(login d1 aisuser 's3cr3t-Pa55')
DEV=d1
[ -n "$TOK" ]
ok "the password from --password-file (user names are case-insensitive)"
is "$(jq -c '.userInfo|[.dateFormat,.simpleDateFormat]' "$T/out")" '["DME","dd/MM/yyyy"]' "--date-format DME"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DDJ EQUAL 21/11/2026)")" >/dev/null
like "$(rows F0411_DOC)" 123456 "a DME user writes dd/MM/yyyy"
browse "$(req F0411 "F0411.DOC" MATCH_ALL "$(c F0411.DDJ EQUAL 11/21/2026)")" >/dev/null
is "$(errs | jq -r '.[0].CODE')" SIM016 "... and MM/dd/yyyy is refused"
is "$(post /jderest/v2/dataservice "$B" -H 'jde-AIS-Auth: bogus' -H 'jde-AIS-Auth-Device: d1')" 403 "--bad-token-status 403"
is "$(jq -r .message "$T/out")" "Authorization Failure" "... Authorization Failure"
# A fresh token, so that only the sleeps below separate it from its expiry
# check (however slowly the requests above ran).
TOK=$(login d1 aisuser 's3cr3t-Pa55')
browse '{"targetName":"F0411","targetType":"table","dataServiceType":"BROWSE","maxPageSize":"5","enableNextPageProcessing":true}' >/dev/null
href=$(jq -r '.links[0].href' "$T/out")
sleep 2.2
is "$(curl -s -o "$T/out" -w '%{http_code}' -X POST -H 'jde-AIS-Auth-Device: d1' "$href")" 500 \
	"a result set idle longer than --result-set-timeout expires: 500"
like "$(jq -r '.sysErrors[0].DESC' "$T/out")" '^JAS_MSG347' "... JAS_MSG347"
sleep 3
is "$(browse "$B")" 403 "a token older than --token-ttl is refused"
! grep -q 's3cr3t' "$T/two.log" "$T/mlc-ais-sim.stderr"
ok "the password from the file is in no log"

# ---- https -----------------------------------------------------------------------------
if [ -x "$TOP/tests/tls/mkcerts.sh" ] || [ -f "$TOP/tests/tls/mkcerts.sh" ]; then
	sh "$TOP/tests/tls/mkcerts.sh" "$T/tls" >/dev/null 2>&1
else
	mkdir -p "$T/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$T/tls/server-key.pem" -out "$T/tls/server.pem" 2>/dev/null
	cp "$T/tls/server.pem" "$T/tls/ca.pem"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other \
		-keyout "$T/tls/other-key.pem" -out "$T/tls/other-ca.pem" 2>/dev/null
fi
sim_start mlc-ais-sim --request-log "$T/tls.log" --tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server-key.pem" \
	--today "$TODAY" || exit 1
U=https://127.0.0.1:$MLC_AIS_SIM_PORT
TOK=$(login s1 JDE JDE --cacert "$T/tls/ca.pem")
DEV=s1
[ -n "$TOK" ]
ok "https: login, verifying the server against the test CA"
browse "$(jq -c '.maxPageSize="5"|.enableNextPageProcessing=true' <<<"$(req F0411 "F0411.DOC" MATCH_ALL)")" --cacert "$T/tls/ca.pem" >/dev/null
like "$(jq -r '.links[0].href' "$T/out")" "^https://127\.0\.0\.1:$MLC_AIS_SIM_PORT/" "https: the next link is https"
curl -s -o /dev/null --cacert "$T/tls/other-ca.pem" "$U/jderest/defaultconfig"
is "$?" 60 "https: another CA does not verify the server (curl 60)"

# ---- a big generated table, and a clean stop ----------------------------------------------
mkdir -p "$T/big"
cp "$DATA/columns.json" "$T/big/"
"$TOP/scripts/gen-jde-data" F0411 20000 5 >"$T/big/F0411.ndjson"
is "$(wc -l <"$T/big/F0411.ndjson")" 20000 "gen-jde-data writes N rows"
is "$("$TOP/scripts/gen-jde-data" F0411 500 5 | cksum)" "$(head -n 500 "$T/big/F0411.ndjson" | cksum)" "gen-jde-data is reproducible for a seed"
isnt "$("$TOP/scripts/gen-jde-data" F0411 50 6 | cksum)" "$(head -n 50 "$T/big/F0411.ndjson" | cksum)" "another seed gives other rows"
is "$(jq -r .F0411_DOC "$T/big/F0411.ndjson" | sort -u | wc -l)" 20000 "generated keys are unique"
is "$(jq -sc '[.[]|keys]|unique|length' "$T/big/F0411.ndjson")" 1 "every generated row has the same columns"
is "$(jq -c 'keys' <"$DATA/F0411.ndjson" | head -n 1)" "$(jq -c 'keys' <"$T/big/F0411.ndjson" | head -n 1)" "... the sample's"
is "$("$TOP/scripts/gen-jde-data" F4311 7 1 | jq -sc '[.[]|[.F4311_DOCO,.F4311_LNID]]')" \
	'[[5000000,1],[5000000,2],[5000000,3],[5000001,1],[5000001,2],[5000001,3],[5000002,1]]' "detail keys follow their headers"
"$TOP/scripts/gen-jde-data" F9999 1 2>/dev/null
is "$?" 66 "gen-jde-data: an unknown table is exit 66"
"$TOP/scripts/gen-jde-data" F0411 2>/dev/null
is "$?" 64 "gen-jde-data: usage is exit 64"

"$BIN/mlc-ais-sim" --port 0 --port-file "$T/big.port" --data "$T/big" --today "$TODAY" 2>"$T/big.err" &
bigpid=$!
wait_for test -s "$T/big.port"
U=http://127.0.0.1:$(cat "$T/big.port")
TOK=$(login b1)
DEV=b1
browse '{"targetName":"F0411","targetType":"table","dataServiceType":"BROWSE","returnControlIDs":"F0411.DOC","maxPageSize":"5000","enableNextPageProcessing":true,"query":{"condition":[{"controlId":"F0411.AAP","operator":"NOT_EQUAL","value":[{"content":"0","specialValueId":"LITERAL"}]}]}}' >/dev/null
total=$(jq '.fs_DATABROWSE_F0411.data.gridData.summary.records' "$T/out")
while [ "$(jq '.fs_DATABROWSE_F0411.data.gridData.summary.moreRecords' "$T/out")" = true ]; do
	curl -s -o "$T/out" -X POST -H 'jde-AIS-Auth-Device: b1' "$(jq -r '.links[0].href' "$T/out")"
	total=$((total + $(jq '.fs_DATABROWSE_F0411.data.gridData.summary.records' "$T/out")))
done
is "$total" "$(jq -c 'select(.F0411_AAP!=0)|1' "$T/big/F0411.ndjson" | wc -l)" "paging a filtered 20,000-row table returns every match"
# Rows written with spaces (not compact) take libjq's way; same answers.
sed 's/":/": /g; s/,"/, "/g' "$DATA/F0006.ndjson" >"$T/big/F0006.ndjson"
browse "$(req F0006 "F0006.MCU|F0006.AN8|F0006.DL01" MATCH_ALL "$(c F0006.MCU EQUAL 30)")" >/dev/null
is "$(jq -c .fs_DATABROWSE_F0006.data.gridData.rowset "$T/out")" '[{"F0006_MCU":" 30","F0006_AN8":2009,"F0006_DL01":"Chicago Assembly Plant"}]' \
	"rows with spaces around the colons are read too"
printf '{"F0006_MCU": " 99", broken\n' >>"$T/big/F0006.ndjson"
browse "$(req F0006 "F0006.MCU" MATCH_ALL "$(c F0006.AN8 GREATER 0)")" >/dev/null
is "$(rows F0006_MCU | jq length)" "$(wc -l <"$DATA/F0006.ndjson")" "a line that is not JSON is skipped"
kill -TERM "$bigpid"
wait "$bigpid"
is "$?" 0 "SIGTERM stops the simulator with status 0"
# The man page's first example runs as written (with its port file here).
man-examples "$TOP/man/mlc-ais-sim.1" 1 | sed -e "s|/tmp/ais.port|$T/ais.port|g" >"$T/example.sh"
echo 'kill $!' >>"$T/example.sh"
like "$(bash "$T/example.sh" 2>&1)" '^"http://127\.0\.0\.1:[0-9]+/jderest/v2/dataservice/next\?stackId=1&stateId=1&' \
	"the EXAMPLES of mlc-ais-sim.1 run and print a next link"
"$BIN/mlc-ais-sim" --data "$T/nonexistent" --port 0 2>/dev/null
is "$?" 66 "a missing data directory is exit 66"
"$BIN/mlc-ais-sim" --fault 'bogus' 2>/dev/null
is "$?" 78 "a bad --fault is exit 78"
"$BIN/mlc-ais-sim" --date-format XYZ 2>/dev/null
is "$?" 64 "a bad option value is exit 64"

done_testing
