#!/usr/bin/env bash
# src/jde.c through tests/bin/jde-unit, and jde-fetch --parse-response on
# saved response bodies (real v1 sample and synthetic v2 pages).
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures
u() { jde-unit "$@" 2>&1; }

# E.164: flagged, never guessed
is "$(u e164 1 '(312) 555-0147')" "+13125550147" "NANP national"
is "$(u e164 1 '1-312-555-0147')" "+13125550147" "NANP with trunk 1"
is "$(u e164 1 '555-0147')" "invalid" "NANP without area code is flagged"
is "$(u e164 44 '020 7946 0958')" "+442079460958" "UK national: trunk 0 dropped"
is "$(u e164 49 '+49 89 1234567')" "+49891234567" "leading + keeps its country code"
is "$(u e164 49 '0049 30 1234567')" "+49301234567" "leading 00 is international"
is "$(u e164 1 '011 44 20 7946 0958')" "+442079460958" "011 from NANP is international"
is "$(u e164 1 'ext. 12')" "invalid" "letters are not a number"
is "$(u e164 '' '555 1234')" "invalid" "no default country: flagged"
is "$(u e164 49 '+49 1234 5678 9012 3456')" "invalid" "longer than 15 digits"
is "$(u e164 49 '+0 123')" "invalid" "country code cannot start with 0"
# the normalisation ends in addr.c's check: 7 to 15 digits (tests/0150)
is "$(u e164 49 '5551')" "invalid" "a national number too short: +495551, 6 digits, is no number"
is "$(u e164 49 '555 12')" "+4955512" "... +4955512, 7 digits, is"
is "$(u e164 683 '4002')" "+6834002" "Niue: 4-digit numbers make the shortest E.164 numbers, 7 digits"
is "$(u e164 1 '+49 555')" "invalid" "an explicit + with 5 digits is refused as the checks refuse it"

# Julian CYYDDD, HHMMSS
is "$(u julian 124015)" "2024-01-15" "CYYDDD 124015"
is "$(u julian 98185)" "1998-07-04" "CYYDDD 098185"
is "$(u julian 100366)" "2000-12-31" "leap year day 366"
is "$(u julian 101366)" "none" "day 366 of a common year"
is "$(u julian 0)" "none" "0 is no date"
is "$(u hms 54935)" "05:49:35" "HHMMSS without leading zero"
is "$(u hms 86217)" "invalid" "minute 62 is no time"

# Date literals in the user's format
is "$(u literal MM/dd/yyyy / 2024-01-15)" "01/15/2024" "MDE"
is "$(u literal dd/MM/yyyy / 2024-01-15)" "15/01/2024" "DME"
is "$(u literal yyyy/MM/dd / 2024-01-05)" "2024/01/05" "YMD"
is "$(u literal dd.MM.yyyy '' 2024-01-15)" "15.01.2024" "separator from the pattern"
is "$(u literal DME - 2024-01-15)" "15-01-2024" "dateFormat code and dateSeperator"

# where conditions
is "$(u cond MDE F0411 'AAP != 0')" \
	'{"controlId":"F0411.AAP","operator":"NOT_EQUAL","value":[{"content":"0","specialValueId":"LITERAL"}]}' \
	"!= is NOT_EQUAL"
is "$(u cond DME F0411 'DDJ between 2024-01-01 2024-01-31')" \
	'{"controlId":"F0411.DDJ","operator":"BETWEEN","value":[{"content":"01/01/2024","specialValueId":"LITERAL"},{"content":"31/01/2024","specialValueId":"LITERAL"}]}' \
	"dates written in the user's format"
is "$(u cond MDE F0411 'DDJ <= today-30')" \
	'{"controlId":"F0411.DDJ","operator":"LESS_EQUAL","value":[{"content":"30","specialValueId":"TODAY_MINUS_DAY"}]}' \
	"today-30"
is "$(u cond MDE F4301 'TRDJ >= today-2m')" \
	'{"controlId":"F4301.TRDJ","operator":"GREATER_EQUAL","value":[{"content":"2","specialValueId":"TODAY_MINUS_MONTH"}]}' \
	"today-2m"
is "$(u cond MDE F0411 'DDJ < today+1y')" \
	'{"controlId":"F0411.DDJ","operator":"LESS","value":[{"content":"1","specialValueId":"TODAY_PLUS_YEAR"}]}' \
	"today+1y"
is "$(u cond MDE F0006 'MCU in "         30" " 50"')" \
	'{"controlId":"F0006.MCU","operator":"LIST","value":[{"content":"         30","specialValueId":"LITERAL"},{"content":" 50","specialValueId":"LITERAL"}]}' \
	"quoted values keep their blanks"
is "$(u cond MDE F0411 'F0411.RMK not-blank')" \
	'{"controlId":"F0411.RMK","operator":"STR_NOT_BLANK","value":[]}' "not-blank takes no value"
is "$(u cond MDE F0411 'VINV STR_START_WITH AC')" \
	'{"controlId":"F0411.VINV","operator":"STR_START_WITH","value":[{"content":"AC","specialValueId":"LITERAL"}]}' \
	"AIS operator names accepted"
like "$(u cond MDE F0411 'DDJ between 2024-01-01')" "two values" "between needs two values"
like "$(u cond MDE F0411 'DDJ ~ 1')" "unknown operator" "unknown operator"
like "$(u cond MDE F0411 'DDJ = 2024-02-30')" "bad date" "impossible date"
like "$(u cond MDE F0411 'DDJ = today-x')" "bad relative date" "bad relative date"
like "$(u cond MDE F0411 'ddj = 1')" "bad column" "aliases are upper case"

# the catalog
is "$(u key F0411)" "KCO DCT DOC SFX" "F0411 key"
is "$(u key F4311)" "KCOO DCTO DOCO SFXO LNID" "F4311 key"
is "$(u key F0911)" "KCO DCT DOC DGJ JELN LT EXTL" "F0911 key"
is "$(u key F9999)" "unknown" "unknown table"

# positions in an ordered read (the order AIS is asked for, and "after")
is "$(u cmp F0411 'DOC' '{"F0411_DOC":9}' '{"F0411_DOC":10}')" -1 "numbers compare as numbers"
is "$(u cmp F0411 'DCT' '{"F0411_DCT":"PV "}' '{"F0411_DCT":"PV"}')" 0 "trailing blanks do not count"
is "$(u cmp F0411 'DCT' '{"F0411_DCT":"PV"}' '{"F0411_DCT":"PVA"}')" -1 "a prefix sorts first"
is "$(u cmp F0411 'MCU' '{"F0411_MCU":" 50"}' '{"F0411_MCU":" 100"}')" -1 \
	"business units are right-justified: 50 before 100"
is "$(u cmp F0411 'MCU' '{"F0411_MCU":"         50"}' '{"F0411_MCU":" 50"}')" 0 \
	"business units: leading blanks do not count"
is "$(u cmp F0411 'UPMJ DOC' '{"F0411_UPMJ":null,"F0411_DOC":9}' '{"F0411_UPMJ":"20260101","F0411_DOC":1}')" \
	-1 "a blank date sorts first"
is "$(u cmp F0411 'KCO DOC' '{"F0411_KCO":"00001","F0411_DOC":5}' '{"F0411_KCO":"00001","F0411_DOC":5}')" \
	0 "equal positions"
u cmp F0411 'KCO DOC' '{"F0411_KCO":"00001"}' '{"F0411_KCO":"00001","F0411_DOC":5}' >/dev/null
is "$?" 1 "a row without an order column is refused"
is "$(u after MDE F0411 'UPMJ DOC' '{"F0411_UPMJ":"20261124","F0411_DOC":123456}' 0)" \
	'{"matchType":"MATCH_ANY","complexQuery":[{"andOr":"OR","query":{"matchType":"MATCH_ALL","condition":[{"controlId":"F0411.UPMJ","operator":"GREATER","value":[{"content":"11/24/2026","specialValueId":"LITERAL"}]}]}},{"andOr":"OR","query":{"matchType":"MATCH_ALL","condition":[{"controlId":"F0411.UPMJ","operator":"EQUAL","value":[{"content":"11/24/2026","specialValueId":"LITERAL"}]},{"controlId":"F0411.DOC","operator":"GREATER","value":[{"content":"123456","specialValueId":"LITERAL"}]}]}}]}' \
	"after: an OR of ANDs, the date in the user's format"
is "$(u after DME F0411 'UPMJ DOC' '{"F0411_UPMJ":"20261124","F0411_DOC":123456}' 1)" \
	'{"matchType":"MATCH_ALL","condition":[{"controlId":"F0411.UPMJ","operator":"GREATER_EQUAL","value":[{"content":"24/11/2026","specialValueId":"LITERAL"}]}]}' \
	"after, form 1: the first column only, >="
is "$(u after MDE F0101 'AN8' '{"F0101_AN8":4242}' 0)" \
	'{"matchType":"MATCH_ALL","condition":[{"controlId":"F0101.AN8","operator":"GREATER","value":[{"content":"4242","specialValueId":"LITERAL"}]}]}' \
	"after on one column: one condition"
is "$(u after MDE F0411 'UPMJ DOC' '{"F0411_UPMJ":null,"F0411_DOC":7}' 0 | jq -c '[.complexQuery[].query.condition[] | .operator]')" \
	'["STR_NOT_BLANK","STR_BLANK","GREATER"]' "after a blank date: not blank, or blank and a greater key"
is "$(u after MDE F0411 'UPMJ DOC' '{"F0411_UPMJ":null,"F0411_DOC":7}' 1)" none \
	"form 1 after a blank date would select everything: no condition"

# the envelope
is "$(u page "$F/parse-f0411-page1.in.json")" "target: F0411
found: 1
records: 2
more: 1
rows: 2
nerrors: 0
next: http://ais.example:9300/jderest/v2/dataservice/next?stackId=1&stateId=1&rid=48e401e5950224d&fullGridId=54&formOID=F0411&token=REDACTED&outputType=GRID_DATA
ids: stackId 1 stateId 1 rid 48e401e5950224d fullGridId 54" \
	"synthetic v2 page: summary, next link (token redacted), the ids a /next body needs"
is "$(u page "$F/parse-f0101-v1.in.json" | head -n 5 | tr '\n' ' ')" \
	"target: F0101 found: 1 records: 50 more: 1 rows: 50 " "real v1 F0101 page"
like "$(u page "$F/parse-jas-msg347.in.json")" "error: JAS_MSG347" "JAS_MSG347 body"
like "$(u page "$F/parse-f0411-truncated.in.json")" "malformed JSON at byte 700 of 700" "cut-off body"

# --parse-response: the wire format, one fixture pair per case:
# tests/fixtures/parse-NAME.in.json (a saved response body, on stdin) gives
# parse-NAME.exp.ndjson, and .exp.err / .exp.rc where given; the options
# of parse-NAME.args (one word a line) go before the file.
export ML_CONNECTOR_NOW=2026-11-26T08:00:00Z
n=0
for in in "$F"/parse-*.in.json; do
	name=$(basename "$in" .in.json)
	args=()
	[ -f "$F/$name.args" ] && mapfile -t args <"$F/$name.args"
	run_fixture jde-fetch "$name" --parse-response "${args[@]}" -
	n=$((n + 1))
done
[ "$n" -ge 10 ]
ok "--parse-response: $n fixture pairs run"
grep -q '"F0411_AAP":12345678901234567890,' "$F/parse-f0411-page1.exp.ndjson"
ok "big identifiers pass through unchanged (parse-f0411-page1)"
is "$(head -n 1 "$F/parse-f0101-v1.exp.ndjson" | jq -c '[.key, .dates.UPMJ, .dates.EFTB, .times.UPMT, .trim.MCU]')" \
	'["1","2011-12-29",null,"05:49:35","1"]' "real F0101 sample: normalised values"
# A file operand (not stdin): messages name it; a missing one exits 66.
jde-fetch --parse-response "$F/parse-f0411-errors.in.json" >"$T/out" 2>"$T/err"
is "$?|$(cat "$T/err")" \
	"65|jde-fetch: $F/parse-f0411-errors.in.json: AIS reported 1 error: 4: Invalid Column: The column XYZ does not exist in F0411" \
	"errors array in a named file: 65, the file named"
jde-fetch --parse-response "$T/nonexistent.json" >"$T/out" 2>"$T/err"
is "$?" 66 "missing file: exit 66"
jde-fetch --parse-response -k 'DOC NOPE' "$F/parse-f0411-page1.in.json" >"$T/out" 2>"$T/err"
is "$?" 65 "rows without the key column: exit 65"
like "$(cat "$T/err")" "no key column F0411_NOPE" "missing key column named"
# Several files: one stream, in order.
jde-fetch --parse-response "$F/parse-f0411-page1.in.json" "$F/parse-empty.in.json" \
	"$F/parse-f0101-v1.in.json" >"$T/out" 2>"$T/err"
is "$?" 0 "three files: exit 0"
diff_ok "$T/out" <(cat "$F/parse-f0411-page1.exp.ndjson" "$F/parse-f0101-v1.exp.ndjson") \
	"three files: their records, in order"

# the man page's first EXAMPLE, as written there
ex=$(man-examples "$TOP/man/jde-fetch.1" 1)
is "$(cd "$TOP" && eval "$ex")" "00001|PV|123456|001 2024-01-15
00001|PV|123457|002 " "jde-fetch.1 EXAMPLES: parse a saved page"

done_testing
