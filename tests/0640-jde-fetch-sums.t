#!/usr/bin/env bash
# jde-join with [sums]: on hand (F41021 PQOH) summed per item and
# branch, one F41021 query per batch, and the inventory-below-reorder rule
# end to end through alert-match, against the AIS simulator.
. "$(dirname "$0")/lib.sh"

PW='sUms-s3cr3t'
mkdir -p "$T/rules"
cp "$TOP"/data/rules/*.rule "$T/rules/"
# The sums alone: the rule's [lookup] (item, branch) is tests/0627's.
sed -i '/^\[lookup\]$/,/^$/d' "$T/rules/inventory-below-reorder.rule"
ML_CONNECTOR_RULES=$T/rules
export ML_CONNECTOR_RULES
ais_start "$PW" || exit 1
ais_conf -g "$URL" >"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
ais_vault

R=inventory-below-reorder
# The F41021 requests of the log, as "targetName" lines.
queries() {
	jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$MLC_AIS_SIM_LOG"
}
fault() { ais_sim_fault "$1"; }
# "ITM|MCU SUM" per record, from joined records.
sums_of() { jq -r '"\(.row.F4102_ITM)|\(.row.F4102_MCU | ltrimstr(" ")) \(.sums.F41021_PQOH)"' "$1"; }

jde-fetch -r $R >"$T/items" 2>"$T/err"
is "$?" 0 "fetch F4102: exit 0"
# The expected sums, per item and branch of the fetched records.
jq -rs --slurpfile q "$T/data/F41021.ndjson" '
	($q | group_by([.F41021_ITM, (.F41021_MCU | ltrimstr(" "))]) |
	 map({key: "\(.[0].F41021_ITM)|\(.[0].F41021_MCU | ltrimstr(" "))",
	      value: (map(.F41021_PQOH) | add)}) | from_entries) as $s |
	.[] | "\(.row.F4102_ITM)|\(.row.F4102_MCU | ltrimstr(" ")) \($s["\(.row.F4102_ITM)|\(.row.F4102_MCU | ltrimstr(" "))"] // 0)"' \
	"$T/items" >"$T/want-sums"

# ---- the sums ----------------------------------------------------------------
: >"$MLC_AIS_SIM_LOG"
jde-join -r $R <"$T/items" >"$T/joined" 2>"$T/err"
is "$?" 0 "join with [sums]: exit 0"
sums_of "$T/joined" >"$T/got-sums"
diff_ok "$T/got-sums" "$T/want-sums" "sums per item and branch as jq computes them from F41021"
is "$(grep -E '^(60001\|30|60003\|30|60005\|40|60008\|30|60010\|40|60012\|30|60006\|30) ' "$T/got-sums" |
	tr '\n' ' ')" "60001|30 275 60003|30 85 60005|40 12 60006|30 1000 60008|30 4500 60010|40 0 60012|30 79.5 " \
	"the README's items: 275, 85, 12, 1000, 4500, 0, 79.5"
grep -q '"key":"60012|30".*"sums":{"F41021_PQOH":79.5}}$' "$T/joined"
ok "79.5 printed as 79.5, sums last"
grep -q '"key":"60008|30".*"sums":{"F41021_PQOH":4500}}$' "$T/joined"
ok "4500 printed as 4500"
is "$(jq -c 'del(.contacts, .sums)' "$T/joined")" "$(cat "$T/items")" \
	"records otherwise unchanged, in input order"
is "$(jq -c '.contacts | keys' "$T/joined" | sort -u)" '["buyer","planner"]' "contacts still joined"
is "$(queries | grep -c '^F41021$')" 1 "one F41021 query for the batch"
is "$(queries | tr '\n' ' ')" "F0101 F0115 F01151 F41021 " "the contact lookups, then the sum query"
q=$(jq -c 'select(.body.targetName == "F41021") | .body' "$MLC_AIS_SIM_LOG")
is "$(printf '%s' "$q" | jq -r .returnControlIDs)" "F41021.ITM|F41021.MCU|F41021.LOCN|F41021.LOTN|F41021.PQOH" \
	"returnControlIDs: the by-columns, the rest of the key (the read's order) and the summed column"
is "$(printf '%s' "$q" | jq -c '[.aggregation.orderBy[] | .column + " " + .direction]')" \
	'["F41021.ITM ASC","F41021.MCU ASC","F41021.LOCN ASC","F41021.LOTN ASC"]' "ordered by the table's key"
is "$(printf '%s' "$q" | jq -c '[.query.condition[] | .controlId, .operator]')" \
	'["F41021.ITM","LIST"]' "one LIST condition on the first by-column"
is "$(printf '%s' "$q" | jq -r '.query.condition[0].value | map(.content) | join(" ")')" \
	"$(jq -r .row.F4102_ITM "$T/items" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
	"the LIST holds the batch's distinct items"

# batches of 5: one F41021 query per batch, same output
NB=$((($(wc -l <"$T/items") + 4) / 5))
: >"$MLC_AIS_SIM_LOG"
jde-join -r $R -b 5 <"$T/items" >"$T/joined5" 2>"$T/err"
is "$?" 0 "batches of 5: exit 0"
diff_ok "$T/joined5" "$T/joined" "batches of 5: same output"
is "$(queries | grep -c '^F41021$')" "$NB" "batches of 5: one F41021 query per batch ($NB)"

# An item without any F41021 row: 0 on hand, a true 0.
jq -c 'select(.key == "60001|30") | .row.F4102_ITM = 69999 | .key = "69999|30"' "$T/items" |
	jde-join -r $R >"$T/none" 2>"$T/err"
is "$?" 0 "item without F41021 rows: exit 0"
is "$(jq -c .sums "$T/none")" '{"F41021_PQOH":0}' "item without F41021 rows: sum 0"

# The sum query's result set expires in the middle of its pages: it goes
# on after the last row summed, nothing counted twice (small pages: -p 3).
: >"$MLC_AIS_SIM_LOG"
fault "expire-results:path=/jderest/v2/dataservice/next"
jde-join -r $R -p 3 <"$T/items" >"$T/jrestart" 2>"$T/err"
is "$?" 0 "sum query resumed: exit 0"
like "$(cat "$T/err")" "F41021 next page: query results expired.*resuming after the last row" \
	"sum query resumed: said so"
diff_ok "$T/jrestart" "$T/joined" "sum query resumed: same sums, nothing counted twice"
NQ=$(jq -s length "$T/data/F41021.ndjson")
# pages of 3: two come from queries (the first, the one after the expiry),
# the others from /next, plus the /next that found the results expired
is "$(jq -r 'select(.path == "/jderest/v2/dataservice/next")' "$MLC_AIS_SIM_LOG" | jq -s length)" \
	"$(((NQ + 2) / 3 - 2 + 1))" "sum query resumed: paged (-p 3), not read again from the start"
is "$(jq -c 'select(.path == "/jderest/v2/dataservice" and .body.targetName == "F41021") |
	.body.query.complexQuery | length' "$MLC_AIS_SIM_LOG" | tr '\n' ' ')" "0 2 " \
	"sum query resumed: the second query is the LIST AND after the last row"

# Joined twice: the sums are merged, not duplicated.
head -n 1 "$T/joined" | jde-join -r $R >"$T/twice" 2>"$T/err"
is "$(jq -c '[(.sums | keys), (.contacts | keys)]' "$T/twice")" '[["F41021_PQOH"],["buyer","planner"]]' \
	"joined twice: sums and contacts merged"
is "$(head -n 1 "$T/joined" | jq -S -c .)" "$(jq -S -c . "$T/twice")" "joined twice: same record"

# A rule with [sums] only: no contacts, no Address Book query.
cat >"$T/rules/onhand.rule" <<'EOF2'
[rule]
name = onhand

[source]
table = F4102

[sums]
on_hand = F41021.PQOH by ITM MCU
committed = F41021.PCOM by ITM MCU
EOF2
: >"$MLC_AIS_SIM_LOG"
jde-join -r onhand <"$T/items" >"$T/only" 2>"$T/err"
is "$?" 0 "[sums] only: exit 0"
is "$(jq -r 'has("contacts")' "$T/only" | sort -u)" false "[sums] only: no contacts"
is "$(jq -r '"\(.row.F4102_ITM)|\(.row.F4102_MCU | ltrimstr(" ")) \(.sums.ON_HAND)"' "$T/only")" \
	"$(cat "$T/want-sums")" "[sums] only: the same sums under its own name"
is "$(jq -c 'select(.key == "60001|40") | .sums' "$T/only")" '{"ON_HAND":150,"COMMITTED":0}' \
	"[sums] only: two entries"
is "$(queries | tr '\n' ' ')" "F41021 F41021 " "[sums] only: one query per entry"

# Configuration errors.
printf '[rule]\nname = nojoin\n\n[source]\ntable = F4102\n' >"$T/rules/nojoin.rule"
jde-join -r nojoin <"$T/items" >/dev/null 2>"$T/err"
is "$?" 78 "neither [join] nor [sums]: 78"
like "$(cat "$T/err")" "no \[join\], \[lookup\] or \[sums\] section" "neither [join], [lookup] nor [sums]: said so"
printf '[rule]\nname = badsum\n\n[source]\ntable = F4102\n\n[sums]\nq = F41021.PQOH per ITM\n' \
	>"$T/rules/badsum.rule"
jde-join -r badsum <"$T/items" >/dev/null 2>"$T/err"
is "$?" 78 "bad [sums] entry: 78"
like "$(cat "$T/err")" "badsum.rule:8: \[sums\] q = F41021.PQOH per ITM: expected TABLE.COLUMN by COLUMN" \
	"bad [sums] entry: file, line, what is expected"

# A record without a by-column: reported, the others go on, exit 65.
{ head -n 1 "$T/items"; head -n 1 "$T/items" | jq -c 'del(.row.F4102_MCU)'; sed -n 2p "$T/items"; } |
	jde-join -r $R >"$T/jbad" 2>"$T/err"
is "$?" 65 "record without a by-column: 65"
is "$(wc -l <"$T/jbad" | tr -d ' ')" 2 "record without a by-column: the others still go through"
like "$(cat "$T/err")" "line 2: .*F4102_MCU \(\[sums\] F41021_PQOH\)" "record without a by-column: named"

# dry run: the requests, no server
: >"$MLC_AIS_SIM_LOG"
jde-join -r onhand --dry-run <"$T/items" >"$T/jdry" 2>"$T/err"
is "$?" 0 "dry run: exit 0"
is "$(jq -r '.body.targetName // "login"' "$T/jdry" | tr '\n' ' ')" "login F41021 F41021 " \
	"dry run: the requests it would send"
is "$(wc -c <"$MLC_AIS_SIM_LOG" | tr -d ' ')" 0 "dry run: nothing sent"

# ---- end to end: fetch | join | match -----------------------------------------
jde-fetch -r $R 2>"$T/e1" | jde-join -r $R 2>"$T/e2" |
	alert-match --no-state -r $R --now 2026-11-26T14:00:00Z >"$T/alerts" 2>"$T/e3"
is "${PIPESTATUS[*]}" "0 0 0" "fetch | join | match: every stage exits 0"
is "$(jq -r .key "$T/alerts" | sort -u | tr '\n' ' ')" \
	"60001|30 60003|30 60005|40 60008|30 60010|40 60012|30 " \
	"fires for exactly the items below their reorder point (not 60006, at it)"

# ---- the [sums] the shipped rules suggest in their comments work -------------
# (comment lines "#   [sums]" and "#   NAME = ..." after it, uncommented)
suggested() { # RULE: the rule with the [sums] of its comments
	cat "$TOP/data/rules/$1.rule"
	echo
	sed -n '/^#   \[sums\]$/,/^#   [a-z_]* = /s/^#   //p' "$TOP/data/rules/$1.rule"
}
# ---- the two shipped forms of the high-value PO rule ---------------------------
# high-value-po reads the header's total OTOT; high-value-po-lines sums the
# F4311 lines per order (domestic AEXP and foreign FEA).  On the sample
# company they fire for the same orders, and the sums are the headers'.
po_fire() { # RULE [CONF]: the DOCOs the rule fires for, fetch | join | match
	ML_CONNECTOR_CONF=${2:-$ML_CONNECTOR_CONF} jde-fetch -r "$1" 2>"$T/e1" |
		ML_CONNECTOR_CONF=${2:-$ML_CONNECTOR_CONF} jde-join -r "$1" 2>"$T/e2" |
		alert-match --no-state -r "$1" --now 2026-11-26T14:00:00Z 2>"$T/e3" |
		jq -r .record.row.F4301_DOCO | tr '\n' ' '
}
is "$(po_fire high-value-po)" "4300105 4300112 4300121 4300127 4300133 4300139 4300141 4300143 " \
	"high-value-po (OTOT): the orders above 50,000 domestic"
is "$(po_fire high-value-po-lines)" "$(po_fire high-value-po)" \
	"high-value-po-lines (the lines summed): the same orders"
jde-fetch -r high-value-po-lines 2>"$T/e1" | jde-join -r high-value-po-lines >"$T/po" 2>"$T/e2"
is "${PIPESTATUS[*]}" "0 0" "high-value-po-lines: fetch | join exit 0"
is "$(wc -l <"$T/po" | tr -d ' ')" "$(grep -c . "$T/data/F4301.ndjson")" \
	"high-value-po-lines: every order of the last 90 days (all the sample's)"
is "$(jq -rs --slurpfile h "$T/data/F4301.ndjson" '
	($h | map({key: "\(.F4301_DOCO)", value: [.F4301_OTOT, .F4301_FAP]}) | from_entries) as $want |
	.[] | select([.sums.LINES, .sums.LINES_FOREIGN] != $want["\(.row.F4301_DOCO)"]) | .key' "$T/po")" "" \
	"high-value-po-lines: each order's sums of AEXP and FEA are its header's OTOT and FAP"

# An install that does not fill OTOT (its presence in F4301 is unverified):
# the header form finds nothing, the lines form the same orders as before.
mkdir -p "$T/data-nootot"
cp "$T"/data/* "$T/data-nootot/"
jq -c '.F4301_OTOT = 0 | .F4301_FAP = 0' "$T/data/F4301.ndjson" >"$T/data-nootot/F4301.ndjson"
sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-26 --data "$T/data-nootot" || exit 1
sed "s|^url = .*|url = http://127.0.0.1:$MLC_AIS_SIM_PORT|" "$ML_CONNECTOR_CONF" >"$T/nootot.conf"
is "$(po_fire high-value-po "$T/nootot.conf")" "" "OTOT not filled: high-value-po finds no order"
is "$(po_fire high-value-po-lines "$T/nootot.conf")" \
	"4300105 4300112 4300121 4300127 4300133 4300139 4300141 4300143 " \
	"OTOT not filled: high-value-po-lines finds them all from the lines"
MLC_AIS_SIM_PORT=${URL##*:}
MLC_AIS_SIM_LOG=$T/mlc-ais-sim.log
suggested credit-hold >"$T/rules/ch-limit.rule"
sed -i 's/^name *= .*/name = ch-limit/' "$T/rules/ch-limit.rule"
jde-fetch -r ch-limit 2>"$T/e1" | jde-join -r ch-limit >"$T/ch" 2>"$T/e2"
is "${PIPESTATUS[*]}" "0 0" "credit-hold with its suggested [sums]: exit 0"
is "$(jq -r '"\(.row.F4201_AN8) \(.sums.CREDIT_LIMIT)"' "$T/ch" | tr '\n' ' ')" \
	"$(jq -r 'select(.F03012_AN8 == (5001, 5003, 5006)) | "\(.F03012_AN8) \(.F03012_ACL)"' \
		"$T/data/F03012.ndjson" | tr '\n' ' ')" \
	"credit-hold: the suggested sum is the customer's F03012 credit limit"

# ---- valgrind -------------------------------------------------------------------
vg jde-join -r $R -b 4 <"$T/items" >"$T/jvg" 2>"$T/err"
rc=$?
isnt "$rc" 99 "join with [sums] under valgrind: no finding"
diff_ok "$T/jvg" "$T/joined" "join with [sums] under valgrind: same output"

done_testing
