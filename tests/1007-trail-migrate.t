#!/usr/bin/env bash
# The trail's stored form (schema v11, src/trail.c): a trail an older
# release wrote (schema v8, tests/fixtures/trail-v8: made by its make.sh
# with that release's alert-log, with what it answered) is converted in
# place when opened, and answers why, query, status and replay exactly as
# before; a line of the new form comes back with its bytes; retention
# drops the pieces only old rows held.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"

F=$TOP/tests/fixtures/trail-v8
DB=$ML_CONNECTOR_STATE/state.db
mkdir -p "$ML_CONNECTOR_STATE"
sqlite3 "$DB" <"$F/trail.sql"
is "$(sqlite3 "$DB" 'PRAGMA user_version')" 8 "the fixture is a v8 trail"
before=$(sqlite3 "$DB" 'SELECT sum(length(line)) FROM audit')

export ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
# q NAME ARGS...: as make.sh ran the old alert-log
q() {
	local name=$1
	shift
	alert-log "$@" >"$T/$name" 2>"$T/$name.err"
	diff_ok "$T/$name" "$F/exp.$name" "after the migration: alert-log $* answers as before"
}
q why-alert why 'ap-aging:00001|PV|123457|001' -f ndjson
v=$(sqlite3 "$DB" 'PRAGMA user_version')
[ "$v" -ge 11 ]
ok "opened: migrated to v11 or later (v$v)"
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE stage IN ('fetched', 'matched') AND refs IS NULL AND line LIKE '%\"contacts\"%'")" \
	0 "every record and alert line converted in place"
after=$(sqlite3 "$DB" 'SELECT sum(length(line)) + (SELECT sum(length(body)) FROM trail_piece) FROM audit')
[ "$after" -lt $((before / 2)) ]
ok "the trail holds less than half the bytes ($before before, $after after)"
alert-log query --lines -f ndjson |
	jq -s -c '[.[] | .line // empty | fromjson? | ((.contacts // {}), (.record.contacts // {})) |
		to_entries[] | .value] | [length, (unique | length)]' >"$T/contacts"
is "$(cat "$T/contacts")" "[72,14]" "the lines hold 72 contacts, 14 of them distinct"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM trail_piece WHERE refs IS NULL")" -le 36 ]
ok "each stored once: at most 36 pieces that hold no pieces (the 14 contacts, recipients, runs of members, digest lists), not 72 copies"
q why-record why '00001|PV|123456|001' -f ndjson
q why-sid why SM0123
q why-digest why 'ap-digest:00001|PV|100001|001' -f ndjson
q query query -f ndjson --lines
q query-csv query -f csv
# status: the counts added after v8 (acked, resolved, refused_addresses)
# are new members and columns, 0 for an old trail; what v8 counted is
# compared as it was, column by column
alert-log status -f ndjson | jq -c 'del(.acked, .resolved, .refused_addresses)' >"$T/status"
diff_ok "$T/status" "$F/exp.status" "after the migration: alert-log status -f ndjson answers as before"
is "$(alert-log status -f ndjson | jq -r '[.acked, .resolved, .refused_addresses] | @tsv' | sort -u)" \
	"$(printf '0\t0\t0')" "after the migration: the counts added since v8 are 0"
v8cols="RULE LAST RUN OUTCOME SENT FAILED UNKNOWN PENDING DEFERRED OPTED-OUT CAPPED STRAY QUARANTINED IN-DOUBT"
alert-log status | status_columns "$v8cols" >"$T/status-text"
status_columns "$v8cols" <"$F/exp.status-text" >"$T/exp.status-text"
diff_ok "$T/status-text" "$T/exp.status-text" "after the migration: alert-log status answers as before"
q replay replay --rule ap-digest --status queued,sent --latest

# New lines: recorded in the stored form, handed back byte for byte (white
# space, escapes, a record and its alert sharing one piece).
export ML_CONNECTOR_STATE=$T/new
DB=$ML_CONNECTOR_STATE/state.db
{
	sed -n 1,12p "$TOP/tests/fixtures/match-ap-aging.in.ndjson"
	cat "$TOP/tests/fixtures/match-ap-aging.exp.ndjson"
	printf '%s\n' '{ "table" : "F0411", "key":"k\"1", "row" : {"A":1} , "rule":"w", "contacts": { "vendor" : {"an8":1,"name":"Caf\u00e9 \\ \"Ltd\"","phones":[ ]} } }'
} >"$T/in"
alert-log <"$T/in" >/dev/null
ok "tee: recorded"
alert-log query -f ndjson --lines | jq -j '.line, "\n"' >"$T/back"
cmp -s "$T/in" "$T/back"
ok "every line comes back with its bytes"
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE refs IS NOT NULL")" "$(wc -l <"$T/in" | tr -d ' ')" \
	"each line stored as a template and pieces"
is "$(sqlite3 "$DB" "SELECT count(DISTINCT a.refs) FROM audit a WHERE stage = 'fetched' AND record_key = '00001|PV|123457|001'")/$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE stage = 'matched' AND record_key = '00001|PV|123457|001' AND ',' || refs || ',' LIKE '%:' || (SELECT substr(refs, 3) FROM audit WHERE stage = 'fetched' AND record_key = '00001|PV|123457|001') || ',%'")" \
	"1/1" "the alert refers to its record's piece, not a copy"
is "$(sqlite3 "$DB" "SELECT count(*) > 0 FROM trail_piece WHERE typeof(body) = 'blob' AND substr(body, 1, 1) = X'01'")" 1 \
	"long pieces deflated against a model"
# A damaged piece is an error, never other bytes.
cp "$DB" "$T/damaged.db"
sqlite3 "$T/damaged.db" "DROP TRIGGER trail_piece_no_update; UPDATE trail_piece SET body = X'01000000000000000199' WHERE id = (SELECT max(id) FROM trail_piece WHERE typeof(body) = 'blob')"
mkdir "$T/damaged" && mv "$T/damaged.db" "$T/damaged/state.db"
alert-log -d "$T/damaged" query --lines -f ndjson >/dev/null 2>"$T/err"
isnt "$?" 0 "a damaged piece: query fails"
like "$(cat "$T/err")" "trail: piece [0-9]+ is damaged" "and says which piece"

# A tee killed (-9) in the middle of a stream of records and alerts: every
# line it passed on is in the trail, pieces and all, and answers why.
export ML_CONNECTOR_STATE=$T/crash
for i in $(seq 1 100); do
	sed "s/|001\"/|$i\"/g" "$T/in"
done >"$T/big"
mkfifo "$T/fifo"
alert-log <"$T/fifo" >"$T/fwd" 2>/dev/null &
pid=$!
exec 7>"$T/fifo"
head -n 1500 "$T/big" >&7
wait_for lines_ge "$T/fwd" 700
ok "crash: the tee is passing lines on"
tail -n +1501 "$T/big" >&7 &
feeder=$!
kill -9 "$pid"
wait "$pid" 2>/dev/null
exec 7>&-
# no reader any more: the feeder's next write ends it (SIGPIPE); a signal
# sent to it could reach the subshell before its exec, and run its EXIT trap
wait "$feeder" 2>/dev/null
alert-log query --lines -f ndjson | jq -j '.line, "\n"' >"$T/rec"
lines_prefix_ok "$T/fwd" "$T/rec" \
	"crash: the $(wc -l <"$T/fwd" | tr -d ' ') lines passed on are all in the trail, whole, in order"
last=$(head -n "$(wc -l <"$T/fwd")" "$T/fwd" | tail -n 1 | jq -r .key) # a whole line
alert-log why "$last" -f ndjson >"$T/why" 2>&1
rc=$?
is "$rc" 0 "crash: why answers for the last record passed on ($last)"
[ "$rc" = 0 ] || sed 's/^/# /' "$T/why" | head -n 5
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'PRAGMA integrity_check')" ok "crash: the database is whole"

export ML_CONNECTOR_STATE=$T/new
ML_CONNECTOR_NOW=2099-01-01T00:00:00Z alert-log retention --older-than 30 >/dev/null
is "$(sqlite3 "$DB" 'SELECT count(*) FROM trail_piece')" 0 "retention: the pieces of deleted rows go too"
sqlite3 "$DB" 'INSERT INTO trail_piece (h, last_ts, body) VALUES (1, 0, 1); DELETE FROM trail_piece' 2>/dev/null
isnt "$?" 0 "pieces are append-only outside retention"

done_testing
