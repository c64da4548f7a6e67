#!/usr/bin/env bash
# The table catalog (src/catalog.c) is the one list of the JDE tables known
# by name: jde-fetch reads its keys and time columns, jde-join orders its
# [sums] and Address Book queries by the keys, alert-render --check
# counts the same columns as fetched, jde-fetch(1) lists it, and every table
# of the sample data is in it.  For each table, what jde-fetch asks for and
# what alert-render accepts are checked against each other (no server: the
# requests come from --dry-run).
. "$(dirname "$0")/lib.sh"

COLS=$TOP/data/jde/columns.json
mkdir -p "$T/rules"
ML_CONNECTOR_RULES=$T/rules
export ML_CONNECTOR_RULES
cat >"$ML_CONNECTOR_CONF" <<'EOF'
[ais]
url = http://127.0.0.1:9
user = JDE
environment = JDV920
EOF

# The catalog as jde-unit prints it: "TABLE TIME KEY..." a line.
jde-unit catalog >"$T/catalog"
is "$(cut -d' ' -f1 "$T/catalog" | sort | tr '\n' ' ')" \
	"$(jq -r 'keys[]' "$COLS" | sort | tr '\n' ' ')" \
	"the catalog holds exactly the tables of the sample data"

# Every key and time column is a column of the table in the sample data,
# the time column one of type time.
is "$(jq -rn --slurpfile cols "$COLS" --rawfile cat "$T/catalog" '
	$cols[0] as $c | $cat | split("\n")[] | select(. != "") | split(" ") |
	.[0] as $t | .[1] as $time |
	(.[2:][] | select(. as $k | $c[$t].columns | any(.alias == $k) | not) | "\($t) key \(.)"),
	(select($c[$t].columns | any(.alias == $time and .type == "time") | not) | "\($t) time \($time)")
')" "" "every key column and time column is in data/jde/columns.json"

# jde-fetch(1) lists the catalog (The table catalog): the same tables, keys
# and time columns.
sed -n '/^\.Ss The table catalog/,/^\.El/p' "$TOP/man/jde-fetch.1" |
	awk '/^\.It F/ { t = $2; next }
	     t && /^\.Li / { k = $0; sub(/^\.Li /, "", k); sub(/ ;$/, "", k); next }
	     t && /^(UPMT|TDAY)$/ { print t, $1, k; t = "" }' >"$T/man"
diff_ok "$T/man" "$T/catalog" "jde-fetch(1) lists the catalog as it is"

# One rule per table, reading USER (a column that is no key anywhere).
rule() { # NAME TABLE INCREMENTAL SMS
	printf '[rule]\nname = %s\n\n[source]\ntable = %s\ncolumns = USER\nincremental = %s\n\n[message]\nsms = %s\n' \
		"$1" "$2" "$3" "$4" >"$T/rules/$1.rule"
}
# The dry run's query: "ORDER... / COLUMNS..." without "TABLE.".
query() {
	jq -r 'select(.body.targetName) | .body |
		[.aggregation.orderBy[].column, "/", (.returnControlIDs | split("|")[])] |
		map(sub("^[^.]*[.]"; "")) | join(" ")' "$1"
}
while read -r t time key; do
	lt=$(printf '%s' "$t" | tr '[:upper:]' '[:lower:]')
	# The key: asked for, read in its order, and accepted by alert-render.
	sms=""
	for c in $key; do sms="$sms \\(.row.${t}_$c)"; done
	rule "k$lt" "$t" none "$sms"
	jde-fetch -r "k$lt" --dry-run >"$T/dry" 2>"$T/err"
	is "$?" 0 "$t: jde-fetch knows its key"
	is "$(query "$T/dry")" "$key / $key USER" \
		"$t: the key columns are asked for, and read in their order"

	# incremental = UPMJ: the catalog's time column comes with it.
	rule "i$lt" "$t" UPMJ "$sms \\(.dates.UPMJ) \\(.times.$time) \\(.row.${t}_$time)"
	jde-fetch -r "i$lt" --dry-run >"$T/dry" 2>"$T/err"
	is "$?" 0 "$t: incremental = UPMJ"
	is "$(query "$T/dry")" "UPMJ $time $key / $key USER UPMJ $time" \
		"$t: incremental = UPMJ asks for UPMJ and $time, and reads in that order"

	# alert-render --check: the same columns count as fetched (one run
	# per table: each compiles every template).
	alert-render -r "i$lt" --check 2>"$T/err"
	is "$?" 0 "$t: alert-render --check counts the key columns and $time as fetched"
	[ -s "$T/err" ] && sed 's/^/#   /' "$T/err"
done <"$T/catalog"

# A key given in the rule replaces the catalog's, in both programs.
printf '[rule]\nname = own\n\n[source]\ntable = F0411\ncolumns = USER\nkey = DOC\n\n[message]\nsms = \\(.row.F0411_KCO)\n' \
	>"$T/rules/own.rule"
jde-fetch -r own --dry-run >"$T/dry" 2>/dev/null
is "$(query "$T/dry")" "DOC / DOC USER" "[source] key replaces the catalog's key"
alert-render -r own --check 2>"$T/err"
is "$?" 78 "alert-render --check: a catalog key column replaced by [source] key is not fetched"
like "$(cat "$T/err")" "reads \.row\.F0411_KCO, which is not in \[source\] columns" "and says which"

# A time column that is not the catalog's is used as given, with a warning.
rule tday F0411 "UPMJ TDAY" "x"
jde-fetch -r tday --dry-run >"$T/dry" 2>"$T/err"
is "$?" 0 "incremental = UPMJ TDAY on F0411: used as given"
is "$(query "$T/dry")" "UPMJ TDAY KCO DCT DOC SFX / KCO DCT DOC SFX USER UPMJ TDAY" \
	"TDAY is asked for, as the rule says"
like "$(cat "$T/err")" 'tday\.rule: incremental "UPMJ TDAY": F0411 stamps UPMJ with UPMT' \
	"a warning names the catalog's time column"
rule bad F0411 "UPMT" "x"
jde-fetch -r bad --dry-run >/dev/null 2>"$T/err"
is "$?" 78 "incremental = UPMT (no date): a rule error"
like "$(cat "$T/err")" 'bad\.rule: incremental "UPMT" \(UPMJ UPMT, UPMJ TDAY, DGJ or none\)' \
	"named with the forms it takes"

# A table outside the catalog: UPMJ alone is a watermark by the day.
printf '[rule]\nname = out\n\n[source]\ntable = F4108\ncolumns = USER\nkey = ITM\nincremental = UPMJ\n' \
	>"$T/rules/out.rule"
jde-fetch -r out --dry-run >"$T/dry" 2>"$T/err"
is "$(query "$T/dry")" "UPMJ ITM / ITM USER UPMJ" "outside the catalog: UPMJ alone, then the key"

# jde-join reads its tables by the same catalog: a [sums] entry on any
# catalog table is ordered by that table's key and asks for it (so that a
# query that starts over resumes), and the Address Book lookups ask for
# their tables' catalog keys first.  The catalog is the one place to edit
# for a new table (jde-join(1), Joining another table).
while read -r t time key; do
	lt=$(printf '%s' "$t" | tr '[:upper:]' '[:lower:]')
	first=${key%% *}
	printf '[rule]\nname = s%s\n\n[source]\ntable = F0411\n\n[sums]\nx = %s.USER by %s\n' \
		"$lt" "$t" "$first" >"$T/rules/s$lt.rule"
	printf '{"table":"F0411","key":"1","row":{"F0411_%s":"7"}}\n' "$first" |
		jde-join -r "s$lt" --dry-run >"$T/dry" 2>"$T/err"
	is "$?|$(jq -r 'select(.body.targetName) | .body.targetName' "$T/dry")" "0|$t" \
		"$t: jde-join --dry-run queries it for [sums]"
	is "$(query "$T/dry")" "$key / $key USER" \
		"$t: a [sums] query is read in the catalog key's order"
done <"$T/catalog"
printf '[rule]\nname = ab\n\n[source]\ntable = F4311\n\n[join]\nbuyer = AN8\nunit = MCU via F0006\n' \
	>"$T/rules/ab.rule"
printf '{"table":"F4311","key":"1","row":{"F4311_AN8":4242,"F4311_MCU":"30"}}\n' |
	jde-join -r ab --dry-run >"$T/dry" 2>"$T/err"
is "$?" 0 "jde-join --dry-run with [join]"
jq -r 'select(.body.targetName) | .body | (.aggregation.orderBy | length) as $n |
	[.targetName, (.aggregation.orderBy | map(.column) | join(" ")),
	(.returnControlIDs | split("|")[:$n] | join(" "))] | join(" / ")' \
	"$T/dry" | sed 's/[A-Z0-9]*[.]//g' >"$T/ab"
while read -r t _ key; do
	case $t in F0006 | F0101 | F0115 | F01151) echo "$t / $key / $key" ;; esac
done <"$T/catalog" >"$T/abwant"
diff_ok <(sort "$T/ab") <(sort "$T/abwant") \
	"the Address Book lookups are ordered by, and ask first for, the catalog's keys"

done_testing
