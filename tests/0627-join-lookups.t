#!/usr/bin/env bash
# jde-join [lookup]: any JDE table looked up by the record's key columns
# (F4101 items, F0006 business units, F0901 accounts by CO MCU OBJ SUB, and
# a chained F0101 owner), batched and cached like the Address Book joins,
# against the AIS simulator; the checks that warn of .lookups no lookup reads.
. "$(dirname "$0")/lib.sh"

PW='l00kup-Pa55'
mkdir -p "$T/data"
cp "$TOP"/data/jde/* "$T/data/"
# A fifth line of PO 4300112, the largest, for an item the item master does
# not have (the chained lookup's missing row).
jq -c 'select(.F4311_DOCO == 4300112 and .F4311_LNID == 4) | .F4311_LNID = 5 | .F4311_ITM = 69999 |
	.F4311_LITM = "HIC-NEW-0001" | .F4311_AEXP = 30000' "$TOP/data/jde/F4311.ndjson" >>"$T/data/F4311.ndjson"
ais_start "$PW" "$T/data" || exit 1
cat >"$ML_CONNECTOR_CONF" <<EOF2
[ais]
url = $URL
user = JDE
environment = JDV920
device = ml-connector-test

[general]
default_country = 1
EOF2
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
mlc-vault init 2>/dev/null
printf '%s\n' "$PW" | mlc-vault set ais.password
F=$TOP/tests/fixtures
# The data service queries of the log: their tables, one a line.
queries() { jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$MLC_AIS_SIM_LOG"; }
nq() { queries | grep -c "^$1\$"; }
body() { jq -c "select(.path == \"/jderest/v2/dataservice\" and .body.targetName == \"$1\") | .body" \
	"$MLC_AIS_SIM_LOG" | head -n 1; }

# ---- items, business units, their owner (chained) ------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-items.rule" <"$F/join-lookups-items.in.ndjson" >"$T/items" 2>"$T/err"
is "$?" 0 "items: exit 0"
diff_ok "$T/items" "$F/join-lookups-items.exp.ndjson" \
	"items: descriptions, branch names, owners; null for a missing row, a blank key, a null source"
is "$(queries | tr '\n' ' ')" "F4101 F0006 F0101 " "items: one query per lookup, in declaration order"
q=$(body F4101)
is "$(printf '%s' "$q" | jq -c '[.query.condition[] | .controlId, .operator]')" '["F4101.ITM","LIST"]' \
	"items: a LIST on the key column"
is "$(printf '%s' "$q" | jq -r '.query.condition[0].value | map(.content) | join(" ")')" \
	"60001 60003 60012 69999" "items: the distinct items once (\"60003\" and 60012.0 as numbers), no blank"
is "$(printf '%s' "$q" | jq -r .returnControlIDs)" "F4101.ITM|F4101.DSC1|F4101.DSC2|F4101.LITM" \
	"items: the key, then the columns read"
is "$(body F0006 | jq -r '.query.condition[0].value | map(.content) | join(" ")')" "30 40 99 M30" \
	"branches: business units without their padding, each once"
is "$(body F0101 | jq -r '.query.condition[0].value | map(.content) | join(" ")')" "2009" \
	"owner: the address numbers the branch lookup found"

# ---- accounts: four key columns ------------------------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-accounts.rule" <"$F/join-lookups-accounts.in.ndjson" >"$T/acc" 2>"$T/err"
is "$?" 0 "accounts: exit 0"
diff_ok "$T/acc" "$F/join-lookups-accounts.exp.ndjson" \
	"accounts: F0901 by CO MCU OBJ SUB, padding and blank subsidiaries matched; null when no account"
is "$(queries | tr '\n' ' ')" "F0901 " "accounts: one query for the batch"
q=$(body F0901)
is "$(printf '%s' "$q" | jq -r '.query.matchType + " " + (.query.complexQuery | length | tostring) + " " +
	([.query.complexQuery[].andOr] | unique | join(","))')" "MATCH_ANY 6 OR" \
	"accounts: an OR of one AND group per distinct account (six; the blank key not asked)"
is "$(printf '%s' "$q" | jq -c '.query.complexQuery[0].query | [.matchType, (.condition[] | .controlId + " " + .operator)]')" \
	'["MATCH_ALL","F0901.CO EQUAL","F0901.MCU EQUAL","F0901.OBJ EQUAL","F0901.SUB STR_BLANK"]' \
	"accounts: a group is the four key columns, a blank subsidiary STR_BLANK"
is "$(printf '%s' "$q" | jq -c '[.aggregation.orderBy[].column]')" \
	'["F0901.CO","F0901.MCU","F0901.OBJ","F0901.SUB","F0901.AID"]' \
	"accounts: ordered by the key columns, then the table's key (a start-over resumes)"

# ---- batches and the cache: ceil(distinct keys / batch) queries per table ---------
jq -c '{table: "F4102", key: "\(.F4101_ITM)", row: {F4102_ITM: .F4101_ITM,
	F4102_MCU: (if .F4101_ITM % 2 == 0 then " 30" else " 40" end)}}' "$T/data/F4101.ndjson" >"$T/all"
NI=$(wc -l <"$T/all" | tr -d ' ')
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-items.rule" -b 5 <"$T/all" >"$T/all5" 2>"$T/err"
is "$?" 0 "batches of 5: exit 0"
is "$(nq F4101) $(nq F0006) $(nq F0101)" "$(((NI + 4) / 5)) 1 1" \
	"batches of 5: ceil($NI items / 5) item queries; the two branches and their owner once"
is "$(jq -r '.lookups.item.LITM' "$T/all5" | tr '\n' ' ')" \
	"$(jq -r .F4101_LITM "$T/data/F4101.ndjson" | tr '\n' ' ')" "batches of 5: every item found"
: >"$MLC_AIS_SIM_LOG"
cat "$T/all" "$T/all" | jde-join -r "$F/join-lookups-items.rule" -b "$NI" >"$T/twice" 2>"$T/err"
is "$(nq F4101)" 1 "the same items again: cached, not asked for again"
# Keys spread over the input: each item four times running, so that every
# batch of 5 records holds a new item.  The records wait in the window until
# 5 items not cached are collected: still ceil(items / 5) queries (one per
# batch of records would be one per batch), the records in input order.
jq -c '. as $r | range(4) | $r' "$T/all" >"$T/spread"
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-items.rule" -b 5 <"$T/spread" >"$T/spread5" 2>"$T/err"
is "$?" 0 "spread keys, batches of 5: exit 0"
is "$(nq F4101) $(nq F0006) $(nq F0101)" "$(((NI + 4) / 5)) 1 1" \
	"spread keys, batches of 5: ceil($NI items / 5) item queries, not one per batch of records"
is "$(jq -r .key "$T/spread5" | tr '\n' ' ')" "$(jq -r .key "$T/spread" | tr '\n' ' ')" \
	"spread keys: the records in input order"
is "$(jq -r '.lookups.item.LITM' "$T/spread5" | tr '\n' ' ')" \
	"$(jq -r '. as $r | range(4) | $r.F4101_LITM' "$T/data/F4101.ndjson" | tr '\n' ' ')" "spread keys: every item found"
is "$(jq -c 'select(.body.targetName == "F4101") | .body.query.condition[0].value | length' "$MLC_AIS_SIM_LOG" |
	tr '\n' ' ')" "$(printf '5 %.0s' $(seq $((NI / 5))))$([ $((NI % 5)) -eq 0 ] || echo "$((NI % 5)) ")" \
	"spread keys: 5 items per query, the rest in the last"
# A window too small for the spread (-b 2: 20 records): the oldest record's
# lookups are asked for early; a trailer in the middle: the records before
# it first.  Every record complete, in input order, the trailer in place.
{ head -n 26 "$T/spread"; echo '{"end":{"records":26}}'; tail -n +27 "$T/spread"; } >"$T/spreadt"
jde-join -r "$F/join-lookups-items.rule" -b 2 <"$T/spreadt" >"$T/spread2" 2>"$T/err"
is "$?" 0 "a full window, a trailer: exit 0"
is "$(jq -r '.key // "END"' "$T/spread2" | tr '\n' ' ')" "$(jq -r '.key // "END"' "$T/spreadt" | tr '\n' ' ')" \
	"a full window, a trailer: the records in input order, the trailer after the 26 before it"
diff_ok <(grep -v '"end"' "$T/spread2") "$T/spread5" "a full window: the same records as with room"
diff_ok "$T/twice" <(cat "$T/all5" "$T/all5") "the same items again: the same lookups"

# ---- a lookup table that answers JAS_MSG347 in the middle of its pages -------------
: >"$MLC_AIS_SIM_LOG"
ais_sim_fault "expire-results:path=/jderest/v2/dataservice/next"
jde-join -r "$F/join-lookups-items.rule" -p 3 <"$T/all" >"$T/exp347" 2>"$T/err"
is "$?" 0 "JAS_MSG347 on a lookup's next page: exit 0"
like "$(cat "$T/err")" "F4101 next page: query results expired.*resuming after the last row" \
	"JAS_MSG347: said so, resumed"
diff_ok "$T/exp347" "$T/all5" "JAS_MSG347: complete, correct records"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice" and .body.targetName == "F4101") |
	[.body.query.condition[] | .operator] | join(",")' "$MLC_AIS_SIM_LOG" | tr '\n' ' ')" \
	'"LIST" "LIST,GREATER" ' "JAS_MSG347: the second F4101 query is the LIST and ITM after the last row"
: >"$MLC_AIS_SIM_LOG"
ais_sim_fault "expire-results:path=/jderest/v2/dataservice/next"
jde-join -r "$F/join-lookups-accounts.rule" -p 2 <"$F/join-lookups-accounts.in.ndjson" >"$T/acc347" 2>"$T/err"
is "$?" 0 "JAS_MSG347 on the multi-key query: exit 0"
diff_ok "$T/acc347" "$F/join-lookups-accounts.exp.ndjson" "JAS_MSG347 on the multi-key query: same records"

# ---- an AIS that refuses complexQuery: one query per group of keys --------------------
# The refusal as AIS reports errors (reference §1.6): an application error or
# a system error in a 200, or HTTP 400 or 500 (the data service's statuses).  The six accounts differ in OBJ within
# four (CO, MCU, SUB) groups: four LIST queries on OBJ, no complexQuery.
for as in app sys 400 500; do
	ais_sim_fault "no-complex:as=$as"
	: >"$MLC_AIS_SIM_LOG"
	jde-join -r "$F/join-lookups-accounts.rule" <"$F/join-lookups-accounts.in.ndjson" >"$T/nc" 2>"$T/err"
	is "$?" 0 "no complexQuery ($as): exit 0"
	diff_ok "$T/nc" "$F/join-lookups-accounts.exp.ndjson" "no complexQuery ($as): the same records"
	like "$(cat "$T/err")" "F0901: AIS refused the OR of AND groups \(complexQuery\): asking with one query per group" \
		"no complexQuery ($as): said so"
	is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | [(.body.query.complexQuery | length),
		(.body.query.condition // [] | map(.operator) | join(" "))]' "$MLC_AIS_SIM_LOG" | tr '\n' ' ')" \
		'[6,""] [0,"EQUAL EQUAL LIST STR_BLANK"] [0,"EQUAL EQUAL LIST EQUAL"] [0,"EQUAL EQUAL LIST STR_BLANK"] [0,"EQUAL EQUAL LIST STR_BLANK"] ' \
		"no complexQuery ($as): refused once, then one query per (CO, MCU, SUB) group, a LIST of OBJ"
	ais_sim_reset
done
# Refused once, the run asks without complexQuery from then on: batches of 3.
ais_sim_fault "no-complex"
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-accounts.rule" -b 3 <"$F/join-lookups-accounts.in.ndjson" >"$T/nc3" 2>"$T/err"
diff_ok "$T/nc3" "$F/join-lookups-accounts.exp.ndjson" "no complexQuery, batches of 3: the same records"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice" and (.body.query.complexQuery | length) > 0)' \
	"$MLC_AIS_SIM_LOG" | wc -l | tr -d ' ')" 1 "no complexQuery, batches of 3: asked with complexQuery once in the run"
# ... and a grouped query's result set expires between its pages (-p 1): it
# goes on after the last row without complexQuery (ais.c's simpler forms).
ais_sim_fault "expire-results:path=/jderest/v2/dataservice/next"
jde-join -r "$F/join-lookups-accounts.rule" -p 1 <"$F/join-lookups-accounts.in.ndjson" >"$T/nc347" 2>"$T/err"
is "$?" 0 "no complexQuery, JAS_MSG347 in a grouped query: exit 0"
diff_ok "$T/nc347" "$F/join-lookups-accounts.exp.ndjson" "no complexQuery, JAS_MSG347: complete, correct records"
ais_sim_reset

# ---- the token expires in the middle of the batch -----------------------------------
: >"$MLC_AIS_SIM_LOG"
ais_sim_fault "token-expire:path=/jderest/v2/dataservice,after=1"
jde-join -r "$F/join-lookups-items.rule" <"$F/join-lookups-items.in.ndjson" >"$T/tok" 2>"$T/err"
is "$?" 0 "token expired after the first lookup: exit 0"
diff_ok "$T/tok" "$F/join-lookups-items.exp.ndjson" "token expired: complete, correct records"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '^/jderest/v2/tokenrequest$')" 2 \
	"token expired: logged in again, once"

# ... and in the middle of a lookup's pages (-p 3: the F4101 query pages).
: >"$MLC_AIS_SIM_LOG"
ais_sim_fault "token-expire:path=/jderest/v2/dataservice/next,after=1"
jde-join -r "$F/join-lookups-items.rule" -p 3 <"$T/all" >"$T/tokpage" 2>"$T/err"
is "$?" 0 "token expired between two pages of a lookup: exit 0"
diff_ok "$T/tokpage" "$T/all5" "token expired between two pages: complete, correct records"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '^/jderest/v2/tokenrequest$')" 2 \
	"token expired between two pages: logged in again, once"

# ---- with [join] and [sums]: contacts, lookups, sums ----------------------------------
cat >"$T/both.rule" <<'EOF2'
[rule]
name = both

[source]
table = F4102

[join]
buyer = BUYR

[lookup]
item = F4101 by ITM -> DSC1

[sums]
on_hand = F41021.PQOH by ITM MCU
EOF2
jq -c '.row.F4102_BUYR = 2002' "$F/join-lookups-items.in.ndjson" | head -n 1 >"$T/one"
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$T/both.rule" <"$T/one" >"$T/both" 2>"$T/err"
is "$?" 0 "[join], [lookup] and [sums]: exit 0"
is "$(jq -c 'keys_unsorted[3:]' "$T/both")" '["contacts","lookups","sums"]' \
	"contacts, then lookups, then sums"
is "$(jq -c '[.contacts.buyer.name, .lookups.item.DSC1, .sums.ON_HAND]' "$T/both")" \
	'["Reyes, Marcus","Ball Bearing 6205-2RS",275]' "each one filled"
is "$(queries | tr '\n' ' ')" "F0101 F0115 F01151 F41021 F4101 " \
	"the contact queries and the sum of the batch, then the lookup (at the end of the input: fewer keys than a batch)"
jde-join -r "$T/both.rule" <"$T/both" >"$T/both2" 2>"$T/err"
is "$(jq -S -c . "$T/both2")" "$(jq -S -c . "$T/both")" "joined twice: merged, the same record"

# ---- the caches overflow in the middle of the run ------------------------------------
# 9,000 distinct address numbers and items, more than a cache holds (8192): a
# record of the last batch whose key an early batch cached still gets it.
cat >"$T/big.rule" <<'EOF2'
[rule]
name = big

[source]
table = F4102

[join]
vendor = BUYR

[lookup]
item = F4101 by ITM -> LITM
EOF2
awk 'BEGIN { for (i = 1; i <= 9000; i++) { k = (i == 1 || i == 9000) ? 0 : 100000 + i
	printf "{\"table\":\"F4102\",\"row\":{\"F4102_ITM\":%d,\"F4102_BUYR\":%d}}\n",
		k ? k : 60001, k ? k : 4242 } }' >"$T/big"
jde-join -r "$T/big.rule" -b 1000 <"$T/big" >"$T/bigout" 2>"$T/err"
is "$?" 0 "9,000 keys: exit 0"
is "$(sed -n '1p;$p' "$T/bigout" | jq -r '[.contacts.vendor.name, .lookups.item.LITM] | join("|")' | tr '\n' ' ')" \
	"Acme Corp|HIC-BRG-6205 Acme Corp|HIC-BRG-6205 " \
	"9,000 keys: the last batch still has the contact and the item the first batch cached"

# ---- a date key: sent in the user's date format, as every date condition --------------
printf '[rule]\nname = bydate\n\n[source]\ntable = F0911\n\n[lookup]\nje = F0911 by DGJ -> DOC\n' >"$T/bydate.rule"
: >"$MLC_AIS_SIM_LOG"
echo '{"table":"F0911","key":"x","row":{"F0911_DGJ":"20261114"}}' |
	jde-join -r "$T/bydate.rule" >"$T/bydate" 2>"$T/err"
is "$?" 0 "a date key: exit 0"
is "$(body F0911 | jq -r '.query.condition[0].value[0].content')" "11/14/2026" \
	"a date key: the LIST value in the user's format (MDE)"
is "$(jq -r .lookups.je.DOC "$T/bydate")" 26000101 "a date key: the row found"

# ---- the shipped rules' lookups, the missing rows included ---------------------------
R=$TOP/data/rules
tpl() { # RULE KEY: the rule's first template KEY, its continuation lines too
	awk -v k="$2" 'BEGIN { re = "^" k " *= " } p && /^  / { print; next } p { exit }
		$0 ~ re { sub(re, ""); p = 1; print }' "$R/$1.rule"
}
render() { # RULE KEY RECORD-KEY JOINED: the template on the joined record
	jq -c --arg k "$3" 'select(.key == $k)' "$4" |
		jq-run -t -n 2026-11-26T14:00:00Z -z America/Chicago "$(tpl "$1" "$2")" | jq -r .
}
for r in po:high-value-po ap-aging:ap-aging inventory:inventory-below-reorder; do
	: >"$MLC_AIS_SIM_LOG"
	jde-join -r "$R/${r#*:}.rule" <"$F/join-rule-${r%%:*}.in.ndjson" >"$T/rule-${r%%:*}" 2>"$T/err"
	is "$?" 0 "${r#*:}: exit 0"
	diff_ok "$T/rule-${r%%:*}" "$F/join-rule-${r%%:*}.exp.ndjson" \
		"${r#*:}: the shipped rule's lookups, null for the rows the tables do not have"
done
# The largest lines when the F4311 query's results expire between its pages
# (-p 1): it resumes after the last row, each line counted once.
ais_sim_fault "expire-results:path=/jderest/v2/dataservice/next"
jde-join -r "$R/high-value-po.rule" -p 1 <"$F/join-rule-po.in.ndjson" >"$T/po347" 2>"$T/err"
is "$?" 0 "PO, JAS_MSG347 in the lines' pages: exit 0"
diff_ok "$T/po347" "$F/join-rule-po.exp.ndjson" "PO, JAS_MSG347: the same largest lines, the same records"
like "$(cat "$T/err")" "F4311 next page: query results expired.*resuming after the last row" \
	"PO, JAS_MSG347: in the F4311 pages, resumed"
ais_sim_reset
vg jde-join -r "$R/high-value-po.rule" -b 2 <"$F/join-rule-po.in.ndjson" >"$T/povg" 2>"$T/err"
isnt "$?" 99 "PO lookups (largest, a chain per line, the window) under valgrind: no finding"
diff_ok "$T/povg" "$F/join-rule-po.exp.ndjson" "PO lookups under valgrind, batches of 2: the same records"
# PO: the two largest lines (a single line: one), the items' descriptions
# chained per line, the cost center; the order without lines gets null.
is "$(jq -c '[.row.F4301_DOCO, (.lookups.lines // [] | map(.LNID)), (.lookups.item // [] | map(.DSC1)),
	.lookups.costcenter.DL01]' "$T/rule-po" | tr '\n' ' ')" \
	'[4300105,[1],["Gearbox Housing A12 (cast)"],"Chicago Assembly Plant"] [4300112,[5,4],[null,"Gearbox Housing A12 (cast)"],"Chicago Assembly Plant"] [4300141,[1,2],["Gearbox Housing A12 (cast)","Ball Bearing 6308 ZZ"],"Chicago Assembly Plant"] [4399999,[],[],null] ' \
	"PO: largest lines first, one description per line (null: not in F4101), the cost center"
is "$(render high-value-po sms '00001|OP|4300112|000' "$T/rule-po")" \
	"PO 4300112 OP to Smith & Sons Steel Supply: 52,000 USD - buyer Vogel, Anja - Chicago Assembly Plant: HIC-NEW-0001, Gearbox Housing A12 (cast)" \
	"PO SMS: the cost center, the items' descriptions (the line's own LITM where F4101 has none)"
is "$(render high-value-po sms '00001|OP|4399999|000' "$T/rule-po")" \
	"PO 4399999 OP to Müller Präzisionsteile GmbH: 128,450 EUR - buyer Reyes, Marcus" \
	"PO SMS: no lines, no cost center: nothing added"
like "$(render high-value-po text '00001|OP|4300141|000' "$T/rule-po")" \
	'Cost center: 30 Chicago Assembly Plant\.
  Largest lines: line 1 HIC-HSG-A12 Gearbox Housing A12 \(cast\), 33,600 EUR; line 2 HIC-BRG-6308 Ball Bearing 6308 ZZ, 11,200 EUR\.$' \
	"PO e-mail: the largest lines in the order's own currency"
# AP: the cost center and the G/L account (F0901 by CO MCU OBJ SUB).
like "$(render ap-aging text '00001|PV|123457|001' "$T/rule-ap-aging")" \
	'Open amount: 41,560.99 EUR \(48,210.75 USD\)\.
  Cost center 50 Finance & Accounting, G/L account 50\.5010 Purchased Materials\.$' \
	"AP e-mail: the voucher's own currency, the cost center and the G/L account's name"
like "$(render ap-aging text '00001|PV|123459|001' "$T/rule-ap-aging")" \
	'Cost center 50 Finance & Accounting, G/L account 50\.6120 \(not in the account master\)\.$' \
	"AP e-mail: an account F0901 does not have"
like "$(render ap-aging text '00001|PV|123466|001' "$T/rule-ap-aging")" \
	'G/L account 50\.6900 Obsolete Account \(inactive\) \(inactive: posting edit code I\)\.$' \
	"AP e-mail: an inactive account (PEC I) said so"
like "$(render ap-aging text '00001|PV|123999|001' "$T/rule-ap-aging")" \
	'Cost center 99, G/L account 99\.7777 \(not in the account master\)\.$' \
	"AP e-mail: neither the cost center nor the account known"
like "$(render ap-aging text '00001|PV|123998|001' "$T/rule-ap-aging")" \
	'G/L account not on the voucher\.$' "AP e-mail: a voucher without an object account"
# Inventory: the item's description and the branch's name.
is "$(render inventory-below-reorder sms '60012|30' "$T/rule-inventory")" \
	"Reorder HIC-CPL-FLEX Flexible Coupling FC-28 at branch 30 Chicago Assembly Plant: on hand 79.50, reorder point 80, order qty 200" \
	"inventory SMS: the item's description, the branch's name"
like "$(render inventory-below-reorder sms '69999|99' "$T/rule-inventory")" \
	'^Reorder HIC-BRG-6205 at branch 99: on hand' "inventory SMS: item and branch unknown: the numbers alone"

# ---- mlc-rule joins: the orchestrator's question -------------------------------------
mlc-rule joins "$F/join-lookups-items.rule"
is "$?" 0 "mlc-rule joins: 0 for a rule with [lookup] only"
printf '[rule]\nname = plain\n\n[source]\ntable = F4102\n' >"$T/plain.rule"
mlc-rule joins "$T/plain.rule"
is "$?" 1 "mlc-rule joins: 1 without [join], [lookup] or [sums]"

# ---- bad lookup lines: the line and the field ----------------------------------------
bad() { # NAME LINES... : a rule whose [lookup] is LINES; jde-join's message
	_n=$1
	shift
	{ printf '[rule]\nname = %s\n\n[source]\ntable = F4102\n\n[lookup]\n' "$_n"; printf '%s\n' "$@"; } \
		>"$T/$_n.rule"
	jde-join -r "$T/$_n.rule" </dev/null >/dev/null 2>"$T/err"
	echo "$? $(cat "$T/err")"
}
like "$(bad b1 'x = F4101 ITM -> DSC1')" '^78 .*b1.rule:8: \[lookup\] x: expected "by" after F4101' "no by: 78, line 8"
like "$(bad b2 'x = F4101 by ITM DSC1')" 'b2.rule:8: \[lookup\] x: no "->"' "no arrow"
like "$(bad b3 'x = F4101 by ITM ->')" 'b3.rule:8: \[lookup\] x: no column to read' "no column to read"
like "$(bad b4 'x = f4101 by ITM -> DSC1')" 'b4.rule:8: \[lookup\] x: table "f4101"' "a bad table"
like "$(bad b5 'x = F4101 by itm -> DSC1')" 'b5.rule:8: \[lookup\] x: key "itm"' "a bad key column"
like "$(bad b6 'owner = F0101 by AN8=branch.AN8 -> ALPH' 'branch = F0006 by MCU -> AN8')" \
	'b6.rule:8: \[lookup\] owner: key "AN8=branch.AN8": no lookup branch declared before this line' \
	"a chain to a later lookup: named, with its line"
like "$(bad b7 'branch = F0006 by MCU -> DL01' 'owner = F0101 by AN8=branch.AN8 -> ALPH')" \
	'b7.rule:9: \[lookup\] owner: key "AN8=branch.AN8": lookup branch \(line 8\) reads no column AN8' \
	"a chain to a column the lookup does not read"
like "$(bad b8 'x = F4101 by ITM -> DSC1' 'x = F4101 by ITM -> DSC2')" 'b8.rule:9: \[lookup\] x is given twice' \
	"a name given twice"
like "$(bad b9 'x = F4311 by DOCO -> ITM AEXP largest 0 AEXP')" \
	'b9.rule:8: \[lookup\] x: expected "largest N COLUMN" at the end, N from 1 to 10' "largest 0"
like "$(bad b10 'x = F4311 by DOCO -> ITM AEXP largest 2 FEA')" \
	'b10.rule:8: \[lookup\] x: largest 2 FEA: FEA is not among the columns read' "largest: a column not read"
like "$(bad b11 'l = F4311 by DOCO -> ITM AEXP largest 2 AEXP' 'i = F4101 by ITM=l.ITM -> DSC1 STKT' \
	'u = F0005 by KY=i.STKT -> DL01')" \
	'b11.rule:10: \[lookup\] u: key "KY=i.STKT": lookup i \(line 9\) has one result per row of a "largest" lookup' \
	"a chain from a chain of largest: named"

# A record without a key column: named, the others go on, exit 65.
{ head -n 1 "$F/join-lookups-items.in.ndjson" | jq -c 'del(.row.F4102_ITM)'
	sed -n 2p "$F/join-lookups-items.in.ndjson"; } |
	jde-join -r "$F/join-lookups-items.rule" >"$T/nocol" 2>"$T/err"
is "$?" 65 "record without a key column: 65"
like "$(cat "$T/err")" "line 1: record has no column F4102_ITM \(\[lookup\] item\)" \
	"record without a key column: line, column, lookup"
is "$(wc -l <"$T/nocol" | tr -d ' ')" 1 "record without a key column: the other one goes through"

# ---- check: .lookups no lookup reads ---------------------------------------------------
mkdir -p "$T/rules"
cat >"$T/rules/lkcheck.rule" <<'EOF2'
[rule]
name = lkcheck

[source]
table = F4102

[lookup]
item = F4101 by ITM -> DSC1

[match]
expr = .lookups.item.DSC1 != null and .lookups.bu.DL01 != "x"

[recipients]
to = sms:+13125550100
channels = sms

[message]
sms = Item \(.lookups.item.DSC1) \(.lookups.item.DSC2)
EOF2
alert-render -R "$T/rules" -r lkcheck --check >/dev/null 2>"$T/err"
is "$?" 0 "alert-render --check: a lookup column no lookup reads is a warning"
like "$(cat "$T/err")" 'lkcheck.rule:18: warning: template sms reads .lookups.item.DSC2, but \[lookup\] item \(line 8\) reads no DSC2' \
	"alert-render --check: names the template, the lookup and the column"
alert-match -R "$T/rules" -r lkcheck --check >/dev/null 2>"$T/err"
is "$?" 0 "alert-match --check: exit 0"
like "$(cat "$T/err")" 'lkcheck.rule:11: warning: \[match\] expr reads .lookups.bu.DL01, but \[lookup\] has no bu' \
	"alert-match --check: a lookup that does not exist"
is "$(grep -c 'lookups.item.DSC1' "$T/err")" 0 "alert-match --check: a column looked up is no warning"
# An element of an array lookup ("largest", a chain per element): its column checked too.
sed -e 's/^name = lkcheck/name = lkarr/' -e 's/^sms = .*/sms = \\(.lookups.item[0].DSC1) \\(.lookups.item[1].DSC9)/' \
	"$T/rules/lkcheck.rule" >"$T/rules/lkarr.rule"
alert-render -R "$T/rules" -r lkarr --check >/dev/null 2>"$T/err"
is "$?:$(grep -c 'DSC1' "$T/err")" "0:0" "alert-render --check: .lookups.item[0].DSC1, a column read: no warning"
like "$(cat "$T/err")" 'lkarr.rule:18: warning: template sms reads .lookups.item.DSC9, but \[lookup\] item \(line 8\) reads no DSC9' \
	"alert-render --check: .lookups.item[1].DSC9, an element's column no lookup reads: warned"
printf '[lookup]\nbad = F4101 by ITM\n' >>"$T/rules/lkcheck.rule"
alert-render -R "$T/rules" -r lkcheck --check >/dev/null 2>"$T/err"
is "$?" 78 "alert-render --check: a bad [lookup] line is an error"
like "$(cat "$T/err")" 'lkcheck.rule:20: \[lookup\] bad: no "->"' "alert-render --check: its line"

# ---- dry run --------------------------------------------------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-join -r "$F/join-lookups-items.rule" --dry-run <"$F/join-lookups-items.in.ndjson" >"$T/dry" 2>"$T/err"
is "$?" 0 "dry run: exit 0"
is "$(jq -r '.body.targetName // "login"' "$T/dry" | tr '\n' ' ')" "login F4101 F0006 " \
	"dry run: the requests (no row comes back, so no owner to ask for)"
# (valgrind: the PO rule's lookups above, a multi-key query, "largest", a
# chain per line and the window, in one run)

# ---- the pipe in front of jde-join: room for pages while a lookup waits -----------
# jde-fetch writes a page and asks for the next while jde-join waits on a
# batch's lookup: with a pipe of 64 KiB (Linux's default) the writer stopped
# on its next page until the lookup answered, and the two round trips
# followed one another.  jde-join grows its stdin pipe to 1 MiB: here a
# writer of about 500 KB finishes while the first lookup has not answered
# (it would wait 10 minutes: the simulator is killed once the writer is
# done; what is judged is the writer's end, not a time).
awk 'BEGIN { for (i = 0; i < 5000; i++)
	printf "{\"table\":\"F4102\",\"key\":\"%d\",\"row\":{\"F4102_ITM\":%d,\"F4102_MCU\":\"         30\",\"pad\":\"%s\"}}\n",
		900000 + i, 900000 + i, "................................" }' >"$T/big"
[ "$(wc -c <"$T/big")" -gt 400000 ]
ok "pipe: the input is over 400 KB (more than six pipes of 64 KiB)"
ais_sim_fault "slow:ms=600000,path=/jderest/v2/dataservice,count=1"
rm -f "$T/wrote"
{ cat "$T/big" && : >"$T/wrote"; } | jde-join -r "$F/join-lookups-items.rule" >/dev/null 2>"$T/pipe.err" &
jpid=$!
own "$jpid"
wait_for test -e "$T/wrote"
[ -e "$T/wrote" ]
ok "pipe: the writer is done while jde-join's first lookup has not answered"
# (a TERM would wait for the request: the simulator's thread sleeps on)
kill -KILL "$jpid" "$MLC_AIS_SIM_PID" 2>/dev/null
wait "$jpid" 2>/dev/null

done_testing
