#!/usr/bin/env bash
# jde-fetch incremental mode (watermark, pending, --commit) and jde-join
# (Address Book contacts in batches) against the AIS simulator.
. "$(dirname "$0")/lib.sh"

PW='an0ther-Pa55'
mkdir -p "$T/rules"
ais_start "$PW" || exit 1
write_conf() { ais_conf -g "http://127.0.0.1:$MLC_AIS_SIM_PORT" >"$ML_CONNECTOR_CONF"; }
write_conf
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RETRY_SEED=7
ais_vault
count() { jq -r .path "$MLC_AIS_SIM_LOG" | grep -c "^$1\$"; }

cat >"$T/rules/inc.rule" <<'EOF2'
[rule]
name = inc

[source]
table = F0411
incremental = UPMJ UPMT
page_size = 20
EOF2
cat >"$T/rules/ap-aging.rule" <<'EOF2'
[rule]
name = ap-aging

[source]
table = F0411

[join]
vendor = AN8
owner = MCU via F0006
director = 1001
EOF2

NROWS=$(wc -l <"$T/data/F0411.ndjson")
# The largest (UPMJ, UPMT) in the table, as the watermark stores it.
WM=$(jq -rs 'map([.F0411_UPMJ, .F0411_UPMT]) | max |
	"\(.[0][0:4])-\(.[0][4:6])-\(.[0][6:8]) \(.[1])"' "$T/data/F0411.ndjson")
WM_DATE=${WM% *}
WM_T=${WM#* }
WM_TIME=$(printf '%06d' "$WM_T" | sed 's/\(..\)\(..\)\(..\)/\1:\2:\3/')

# ---- incremental ------------------------------------------------------------
jde-fetch -r inc --run-id r1 >"$T/out1" 2>"$T/err"
is "$?" 0 "first run: exit 0"
is "$(wc -l <"$T/out1" | tr -d ' ')" "$NROWS" "first run (no watermark): every row"
jde-fetch --show-watermark inc >/dev/null 2>&1
is "$?" 66 "nothing committed yet"
jde-fetch -r inc --run-id r2 >"$T/out2" 2>"$T/err"
is "$(wc -l <"$T/out2" | tr -d ' ')" "$NROWS" "an uncommitted run is simply repeated"
jde-fetch --commit inc r9 2>"$T/err"
is "$?" 66 "--commit of an unknown run: exit 66"
jde-fetch --commit inc r2
is "$?" 0 "--commit: exit 0"
is "$(jde-fetch --show-watermark inc | jq -r '"\(.date) \(.time)"')" "$WM_DATE $WM_TIME" \
	"the watermark is the largest (UPMJ, UPMT) in the data"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM watermark_pending')" 0 \
	"commit clears the rule's pending rows"

: >"$MLC_AIS_SIM_LOG"
jde-fetch -r inc --run-id r3 >"$T/out3" 2>"$T/err"
is "$?" 0 "run after commit: exit 0"
is "$(wc -l <"$T/out3" | tr -d ' ')" 0 "run after commit: the boundary rows are not written again"
lit=$(printf '%s' "$WM_DATE" | sed 's/\(....\)-\(..\)-\(..\)/\2\/\3\/\1/')
is "$(jq -c 'select(.path == "/jderest/v2/dataservice") | .body.query.condition' "$MLC_AIS_SIM_LOG")" \
	"[{\"controlId\":\"F0411.UPMJ\",\"operator\":\"GREATER_EQUAL\",\"value\":[{\"content\":\"$lit\",\"specialValueId\":\"LITERAL\"}]}]" \
	"the boundary day is asked for again, in the user's date format"

# New rows: same second as the watermark (new key), later, earlier that day.
d=${WM_DATE//-/}
jq -c --arg d "$d" --argjson t "$WM_T" 'select(.F0411_DOC == 123456) |
	(.F0411_DOC = 990001 | .F0411_UPMJ = $d | .F0411_UPMT = $t),
	(.F0411_DOC = 990002 | .F0411_UPMJ = $d | .F0411_UPMT = ($t + 1)),
	(.F0411_DOC = 990003 | .F0411_UPMJ = $d | .F0411_UPMT = ($t - 1))' \
	"$T/data/F0411.ndjson" >"$T/new-rows"
cat "$T/new-rows" >>"$T/data/F0411.ndjson"
jde-fetch -r inc --run-id r4 >"$T/out4" 2>"$T/err"
is "$(jq -r .key "$T/out4" | tr '\n' ' ')" "00001|PV|990001|001 00001|PV|990002|001 " \
	"new rows: same-second new key and later rows, not the earlier one"
jde-fetch --commit inc r4
jde-fetch -r inc --run-id r5 >"$T/out5" 2>"$T/err"
is "$(wc -l <"$T/out5" | tr -d ' ')" 0 "after the second commit: nothing new"
jde-fetch -r inc --full --run-id r6 >"$T/out6" 2>"$T/err"
is "$(wc -l <"$T/out6" | tr -d ' ')" $((NROWS + 3)) "--full reads everything again"

# incremental = UPMJ alone: the catalog's time column (UPMT for F0411) comes
# with it, so the watermark is to the second, not to the day.
printf '[rule]\nname = incd\n\n[source]\ntable = F0411\nincremental = UPMJ\n' >"$T/rules/incd.rule"
jde-fetch -r incd --run-id d1 >"$T/outd1" 2>"$T/err"
is "$?" 0 "incremental = UPMJ: exit 0"
jde-fetch --commit incd d1
is "$(jde-fetch --show-watermark incd | jq -r '"\(.date) \(.time)"')" \
	"$(jq -rs 'map([.F0411_UPMJ, .F0411_UPMT]) | max |
		"\(.[0][0:4])-\(.[0][4:6])-\(.[0][6:8]) \(.[1] | tostring | ("000000" + .)[-6:] |
		"\(.[0:2]):\(.[2:4]):\(.[4:6])")"' "$T/data/F0411.ndjson")" \
	"incremental = UPMJ: the watermark is the largest (UPMJ, UPMT), UPMT from the catalog"

# F4201 is in the catalog: read without [source] key, keyed as JDE keys it.
jde-fetch -t F4201 >"$T/so" 2>"$T/err"
is "$?" 0 "F4201 without a key: exit 0"
is "$(jq -r .key "$T/so" | tr '\n' ' ')" \
	"$(jq -rs 'sort_by(.F4201_KCOO, .F4201_DCTO, .F4201_DOCO, .F4201_SFXO)[] |
		"\(.F4201_KCOO)|\(.F4201_DCTO)|\(.F4201_DOCO)|\(.F4201_SFXO)"' "$T/data/F4201.ndjson" |
		tr '\n' ' ')" \
	"F4201 records keyed KCOO|DCTO|DOCO|SFXO, in key order"

# ---- join ---------------------------------------------------------------------
jde-fetch -t F0411 >"$T/records" 2>"$T/err"
: >"$MLC_AIS_SIM_LOG"
jde-join -r ap-aging <"$T/records" >"$T/joined" 2>"$T/err"
is "$?" 0 "join: exit 0"
is "$(jq -r .key "$T/joined")" "$(jq -r .key "$T/records")" "join: every record, in input order"
is "$(jq -c 'del(.contacts, .lookups)' "$T/joined")" "$(cat "$T/records")" "join: records otherwise unchanged"
is "$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$MLC_AIS_SIM_LOG" | tr '\n' ' ')" \
	"F0006 F0101 F0115 F01151 " "join: one LIST query per table for the batch"
is "$(count /jderest/v2/tokenrequest)" 1 "join: one login"
is "$(count /jderest/v2/tokenrequest/logout)" 1 "join: one logout"
: >"$MLC_AIS_SIM_LOG"
jde-join -r ap-aging </dev/null >"$T/joined0" 2>"$T/err"
is "$?/$(wc -c <"$T/joined0" | tr -d ' ')/$(grep -c . "$MLC_AIS_SIM_LOG")" 0/0/0 \
	"join of an empty input (the fetch before it failed): 0, and no login at all"
rec=$(grep -m 1 '"key":"00001|PV|123456|001"' "$T/joined")
is "$(printf '%s' "$rec" | jq -c .contacts.vendor)" \
	'{"an8":4242,"name":"Acme Corp","phones":[{"type":"mobile","raw":"(312) 555-0147","e164":"+13125550147"},{"type":"business","raw":"312 555-0140","e164":"+13125550140"}],"emails":["ap@acme.example"],"sms":"+13125550147","email":"ap@acme.example"}' \
	"join: vendor contact from F0101, F0115, F01151"
owner=$(jq -r 'select(.F0006_MCU == " 50") | .F0006_AN8' "$T/data/F0006.ndjson")
is "$(printf '%s' "$rec" | jq .contacts.owner.an8)" "$owner" "join: business-unit owner via F0006"
is "$(printf '%s' "$rec" | jq -c '.contacts.director | [.an8, .name]')" \
	"[1001,$(jq 'select(.F0101_AN8 == 1001) | .F0101_ALPH' "$T/data/F0101.ndjson")]" \
	"join: fixed address number"

# batches of 10: at most one query per table per batch
: >"$MLC_AIS_SIM_LOG"
jde-join -r ap-aging -b 10 <"$T/records" >"$T/joined10" 2>"$T/err"
is "$?" 0 "join in batches of 10: exit 0"
diff_ok "$T/joined10" "$T/joined" "join in batches: same output"
batches=$(((NROWS + 9) / 10))
max=$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.targetName' "$MLC_AIS_SIM_LOG" |
	sort | uniq -c | awk '{print $1}' | sort -n | tail -n 1)
[ "$max" -le "$batches" ]
ok "join: no table queried more than once per batch ($max <= $batches)"
jq -r 'select(.path == "/jderest/v2/dataservice") | .body.query.condition[0].value | map(.content) |
	(length == (unique | length))' "$MLC_AIS_SIM_LOG" | grep -q false
is "$?" 1 "join: LIST values are distinct"

# invalid phone numbers are flagged, not guessed
printf '%s\n' '{"F0115_AN8":4242,"F0115_IDLN":0,"F0115_RCK7":3,"F0115_CNLN":3,"F0115_PHTP":"CAR","F0115_AR1":" ","F0115_PH1":"555-01","F0115_UPMJ":"20261002","F0115_UPMT":110418}' \
	>>"$T/data/F0115.ndjson"
grep -m 1 '"key":"00001|PV|123456|001"' "$T/records" | jde-join -r ap-aging >"$T/j1" 2>"$T/err"
is "$(jq -c '.contacts.vendor.phones[2]' "$T/j1")" \
	'{"type":"mobile","raw":"555-01","e164":null,"invalid":true}' "join: invalid number flagged"

# e-mail, like sms: the first address the later stages can send to (addr.c);
# "emails" keeps them all
printf '%s\n' '{"F01151_AN8":4242,"F01151_IDLN":0,"F01151_RCK7":0,"F01151_ETP":"E","F01151_EMAL":"ap;billing@acme.example","F01151_EHIER":1,"F01151_UPMJ":"20261002","F01151_UPMT":110418}' \
	>>"$T/data/F01151.ndjson"
grep -m 1 '"key":"00001|PV|123456|001"' "$T/records" | jde-join -r ap-aging >"$T/j2" 2>"$T/err"
is "$(jq -c '.contacts.vendor | [.emails, .email]' "$T/j2")" \
	'[["ap;billing@acme.example","ap@acme.example"],"ap@acme.example"]' \
	"join: email is the first address that is one; emails lists them all"

# bad input lines: reported, the rest goes on, exit 65
{ head -n 2 "$T/records"; echo 'not json'; echo '{"x":1}'; sed -n 3p "$T/records"; } |
	jde-join -r ap-aging >"$T/jbad" 2>"$T/err"
is "$?" 65 "join: bad input lines give exit 65"
is "$(wc -l <"$T/jbad" | tr -d ' ')" 3 "join: the good records still go through"
like "$(cat "$T/err")" "line 3: not a JSON object" "join: bad line named"

# joined twice: contacts merged
head -n 1 "$T/joined" | jde-join -r ap-aging >"$T/j2" 2>"$T/err"
is "$(jq -c '.contacts | keys' "$T/j2")" '["director","owner","vendor"]' "join twice: contacts merged"

# dry run: the LIST requests, no server
: >"$MLC_AIS_SIM_LOG"
head -n 3 "$T/records" | jde-join -r ap-aging --dry-run >"$T/jdry" 2>"$T/err"
is "$?" 0 "join dry run: exit 0"
is "$(wc -c <"$MLC_AIS_SIM_LOG" | tr -d ' ')" 0 "join dry run: nothing sent"
is "$(jq -r '.body.targetName // "login"' "$T/jdry" | tr '\n' ' ')" "login F0006 F0101 F0115 F01151 " \
	"join dry run: the requests it would send"

# The join stage was jde-fetch --join: the old form is refused by name,
# before anything is read or sent (jde-join(1) HISTORY).
: >"$MLC_AIS_SIM_LOG"
head -n 3 "$T/records" | jde-fetch --join -r ap-aging >"$T/jold" 2>"$T/err"
is "$?" 64 "jde-fetch --join: a usage error (exit 64)"
like "$(cat "$T/err")" "jde-fetch: --join is now .*jde-join -r RULE" "jde-fetch --join: the message names jde-join"
is "$(wc -c <"$T/jold" "$MLC_AIS_SIM_LOG" | awk '{ n += $1 } END { print n / 2 }')" 0 \
	"jde-fetch --join: nothing written, nothing sent"

# ---- a DME user ------------------------------------------------------------
sim_start mlc-ais-sim --password-file "$T/sim-password" --today 2026-11-26 --data "$T/data" \
	--date-format DME
write_conf
jde-fetch -r inc --run-id r7 >"$T/out7" 2>"$T/err"
is "$?" 0 "DME user: exit 0"
lit=$(printf '%s' "$WM_DATE" | sed 's/\(....\)-\(..\)-\(..\)/\3\/\2\/\1/')
is "$(jq -r 'select(.path == "/jderest/v2/dataservice") | .body.query.condition[0].value[0].content' \
	"$MLC_AIS_SIM_LOG")" "$lit" "DME user: dd/MM/yyyy literal"
is "$(wc -l <"$T/out7" | tr -d ' ')" 0 "DME user: same rows selected"

# jde-join.1's first EXAMPLE, as written there, with the shipped rule: the
# requests the join would send, printed, and none of them sent.
n0=$(wc -l <"$MLC_AIS_SIM_LOG")
ex=$(man-examples "$TOP/man/jde-join.1" 1)
(cd "$TOP" && ML_CONNECTOR_RULES=$TOP/data/rules eval "$ex") >"$T/ex.out" 2>"$T/ex.err"
ok "jde-join.1 EXAMPLES: the dry run exits 0"
is "$(jq -r '.body.targetName // .url' "$T/ex.out" | sed 's|.*/||' | tr '\n' ' ')" \
	"tokenrequest F0101 F0115 F01151 F0006 F0901 " \
	"it prints the login, one query per Address Book table, then one per lookup"
is "$(wc -l <"$MLC_AIS_SIM_LOG")" "$n0" "and sends nothing"

done_testing
