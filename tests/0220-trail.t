#!/usr/bin/env bash
# trail.c: the one home of the audit trail's statements (and store.c of the
# watermark's and the schedule's, vault.c of the vault's).  No other source
# holds SQL on the trail's tables (store.c only creates them), and the
# held deliveries of quiet hours are released in keyset pages
# (mlc_trail_deferred_due): each exactly once, however many pages.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

# ---- SQL on the trail's tables: in trail.c (and store.c's migrations) only
tables='audit|message_status|run|deferred|quarantine|realert|metric|inbound|optout|monitor|monitor_notice|open_alert|ack|reply_code|trail_piece'
for f in src/*.c; do
	case $f in src/trail.c | src/store.c) continue ;; esac
	# comments removed, so that prose naming a table is no statement
	cc -fpreprocessed -dD -E -P "$f" 2>/dev/null |
		grep -ioE "(insert( or [a-z]+)? into|update|delete from|from|join) +($tables)\b" |
		sed "s|^|$f: |"
done >"$T/sql"
is "$(cat "$T/sql")" "" "no SQL on the trail's tables outside trail.c"
# nor on the rest of the state (watermarks, schedules, vault) outside the
# module that owns it
state='watermark|watermark_pending|schedule|vault'
for f in src/*.c; do
	case $f in src/trail.c | src/store.c | src/vault.c) continue ;; esac
	cc -fpreprocessed -dD -E -P "$f" 2>/dev/null |
		grep -ioE "(insert( or [a-z]+)? into|update|delete from|from|join) +($state)\b" |
		sed "s|^|$f: |"
done >"$T/sql"
is "$(cat "$T/sql")" "" "no SQL on the watermark, schedule or vault tables outside store.c and vault.c"
n=$(cc -fpreprocessed -dD -E -P src/trail.c 2>/dev/null | grep -ciE "insert( or [a-z]+)? into +audit")
[ "${n:-0}" -ge 4 ]
ok "trail.c holds the audit INSERTs (${n:-0})"

# ---- 150 held deliveries, released over three pages of 64 ------------------
F=$TOP/tests/fixtures
R=$F/render-rules/quiet.rule
head -n 1 "$F/render-quiet.in.ndjson" >"$T/one"
for i in $(seq 1 150); do
	sed "s/300001/3$(printf %05d "$i")/g" "$T/one"
done >"$T/in"
alert-render -r "$R" --now 2024-01-15T04:30:00Z <"$T/in" 2>/dev/null | alert-log >/dev/null
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 150 \
	"150 sms deliveries held by quiet hours"
alert-render -r "$R" --release --now 2024-01-15T13:00:00Z 2>/dev/null | alert-log >"$T/rel"
is "$(wc -l <"$T/rel" | tr -d ' '):$(jq -r .delivery_id "$T/rel" | sort -u | wc -l | tr -d ' ')" \
	"150:150" "released: every one, each once"
alert-render -r "$R" --release --now 2024-01-15T13:00:00Z 2>/dev/null >"$T/rel2"
is "$(wc -c <"$T/rel2" | tr -d ' ')" 0 "released and recorded: never again"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM deferred')" 0 \
	"and their rows are gone"

# ---- acknowledgements (table ack): once per (sid, alert), asked by alert
# id or by rule and key, since an instant
A=tests/bin/ack-unit
is "$($A put SMa1 'po:1|OP|42' po '1|OP|42' 2024-01-15T09:00:00.000Z +15551230001 code 2)" \
	fresh "an acknowledgement recorded"
is "$($A put SMa1 'po:1|OP|42' po '1|OP|42' 2024-01-15T09:00:00.000Z +15551230001 code 2)" \
	repeat "the same message again (a redelivered webhook): nothing new"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" 'SELECT count(*) FROM ack')" 1 "one row"
is "$($A get 'po:1|OP|42' -)" "po:1|OP|42 2024-01-15T09:00:00.000Z +15551230001 code 2 SMa1" \
	"by alert id: when, by whom, how, which message"
is "$($A get 'po:1|OP|42' 2024-01-15T09:00:00.001Z)" none \
	"not acknowledged since a later instant (a new episode of the same alert)"
is "$($A getkey po '1|OP|42' 2024-01-15T08:00:00.000Z | cut -d' ' -f1,3)" "po:1|OP|42 +15551230001" \
	"by rule and key"
is "$($A getkey po '1|OP|43' -):$($A get 'po:1|OP|43' -)" none:none "another key: not acknowledged"
$A put SMa2 'po:1|OP|42' po '1|OP|42' 2024-01-15T11:00:00.000Z whatsapp:+15551230002 latest - >/dev/null
is "$($A get 'po:1|OP|42' - | cut -d' ' -f2-)" \
	"2024-01-15T11:00:00.000Z whatsapp:+15551230002 latest - SMa2" "the newest acknowledgement answers"
$A put SMa3 'po:1|OP|42' po '1|OP|42' 2024-01-15T12:00:00.000Z +1555 bogus - 2>/dev/null
isnt "$?" 0 "how is latest, code or document: anything else refused"

done_testing
