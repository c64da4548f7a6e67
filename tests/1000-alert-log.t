#!/usr/bin/env bash
# alert-log: the tee records before it forwards; queries, why, replay,
# retention; database failures stop the flow.
. "$(dirname "$0")/lib.sh"

K='00001|PV|123456|001'
A="ap-aging:$K"
D="$A/sms/+15551234567"
cat >"$T/in" <<LINES
{"table":"F0411","key":"$K","row":{"F0411_DOC":123456},"rule":"ap-aging"}
{"alert_id":"$A","rule":"ap-aging","table":"F0411","key":"$K","recipients":[]}
{"delivery_id":"$D","alert_id":"$A","rule":"ap-aging","table":"F0411","key":"$K","channel":"sms","to":"+15551234567","body":"Invoice 123456, \"quoted\""}
{"delivery_id":"$D","alert_id":"$A","rule":"ap-aging","table":"F0411","key":"$K","channel":"sms","to":"+15551234567","body":"Invoice 123456","status":"queued","sid":"SM0123","attempts":2,"fingerprint":"25000"}
{"delivery_id":"$A/email/ap@x.example","alert_id":"$A","rule":"ap-aging","key":"$K","channel":"email","to":"ap@x.example","subject":"s","text":"t","status":"failed","attempts":1,"error":{"code":21211,"message":"Invalid 'To' Phone Number"}}
{"event":"status","sid":"SM0123","delivery_id":"$D","status":"delivered"}
{"alert_id":"$A","rule":"ap-aging","key":"$K","suppressed":{"reason":"realert","count":1}}
LINES
DB=$ML_CONNECTOR_STATE/state.db

alert-log <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "tee: status 0"
diff_ok "$T/out" "$T/in" "every line passed through unchanged"
is "$(alert-log query -f csv | cut -d, -f3 | tr '\n' ' ')" \
	"stage fetched matched queued sent failed delivered suppressed " "stages derived from each line"
is "$(sqlite3 "$DB" 'select count(*) from audit where line is not null')" 7 "each line stored whole"
is "$(sqlite3 "$DB" 'select recipient, count, fingerprint from realert')" \
	"+15551234567/sms|1|25000" "a sent delivery marks the re-alert index (a failed one does not)"
is "$(sqlite3 "$DB" 'select sid, status, source from message_status order by status')" \
	"$(printf 'SM0123|delivered|poll\nSM0123|queued|send')" "message status history"
is "$(alert-log query --stage failed | jq -r '[.error_code, .detail, .attempt] | @tsv')" \
	"$(printf "21211\tInvalid 'To' Phone Number\t1")" "Twilio's error code and message recorded"

printf '%s\n' '{"delivery_id":"x/sms/+15550000009","rule":"x","key":"k9","to":"+15550000009","recipient":{"name":"AP Supervisor","an8":1003},"status":"accepted","sid":"SM9","sent_at":"2026-11-26T08:00:00.000Z"}' >"$T/an8"
alert-log <"$T/an8" >/dev/null
alert-log <"$T/an8" >/dev/null
is "$(sqlite3 "$DB" "select recipient, count, last_sent from realert where rule = 'x'")" \
	"an8:1003/sms|1|2026-11-26T08:00:00.000Z" "marked under the address number and channel, as alert-match checks; a replayed line marks nothing new"

printf '%s\n' '{"delivery_id":"digest:d/email/f@x.example/2026-11-26/a1b2c3d4","digest":true,"rule":"d","channel":"email","to":"f@x.example","recipient":{"ref":"email:f@x.example"},"alert_count":2,"alert_ids":["d:k1","d:k2"],"keys":["k1","k2"],"fingerprints":["10",null],"subject":"s","text":"t","status":"accepted","message_id":"M1"}' |
	alert-log >/dev/null
is "$(sqlite3 "$DB" "select alert_key, recipient, quote(fingerprint) from realert where rule = 'd' order by 1" | tr '\n' ' ')" \
	"k1|f@x.example/email|'10' k2|f@x.example/email|NULL " "a sent digest marks every alert it lists"

printf '%s\n' '{"delivery_id":"y/sms/+15550000010","rule":"y","key":"k10","to":"+15550000010","recipient":{"id":"an8:7"},"status":"delivered","sid":"SM10","reconciled":true}' |
	alert-log >/dev/null
is "$(alert-log query --sid SM10 | jq -r '[.stage, .status] | @tsv')" "$(printf 'sent\tdelivered')" \
	"a result found already delivered (reconciled) is a send, status kept"
is "$(sqlite3 "$DB" "select recipient from realert where rule = 'y'")" "an8:7/sms" "and it marks the re-alert index"

# Queries.
is "$(alert-log query --sid SM0123 | jq -s length)" 2 "query by sid"
is "$(alert-log query --recipient ap@x.example | jq -r .stage)" failed "query by recipient"
is "$(alert-log query --rule ap-aging --stage queued --lines | jq -r '.line | fromjson | .body')" \
	'Invoice 123456, "quoted"' "query with the stored line"
alert-log query --rule nosuch >"$T/q"
is "$(wc -c <"$T/q" | tr -d ' ')" 0 "query with no match prints nothing"
alert-log query -f csv --stage queued >"$T/csv"
is "$(sed -n 1p "$T/csv" | cut -d, -f1-4)" "id,ts,stage,rule" "CSV header"
is "$(sed -n 2p "$T/csv" | cut -d, -f1,3,4)" "3,queued,ap-aging" "CSV row"
is "$(alert-log query --since 2000-01-01 --until 2999-01-01 | jq -s length)" 11 "time range"
alert-log query --since yesterday 2>"$T/err"
is "$?" 64 "bad time: usage error"

# why: the whole story of a record, from any of its names.
alert-log why "$K" >"$T/why"
is "$?" 0 "why by record key"
like "$(cat "$T/why")" 'fetched' "why shows the fetch"
like "$(cat "$T/why")" 'status:poll SM0123 delivered' "why shows the delivery receipt"
like "$(cat "$T/why")" 'suppressed' "why shows the suppression"
is "$(alert-log why SM0123 -f ndjson | jq -s 'map(.stage) | index("fetched") != null')" true \
	"why by SID reaches back to the fetched record"
alert-log why nothing-like-this 2>"$T/err"
is "$?" 66 "why with no answer: 66"

is "$(grep -B1 '^    message: ' "$T/why")" "$(grep ' queued ' "$T/why")
    message: Invoice 123456, \"quoted\"" "why shows the message handed to twilio-send, beneath its queued row"

# why by a short number: a part of a record key (a document, a PO number)
sl() { ML_CONNECTOR_STATE=$T/short alert-log "$@"; }
printf '%s\n' "{\"table\":\"F0411\",\"key\":\"$K\",\"row\":{},\"rule\":\"ap-aging\"}" \
	'{"table":"F4311","key":"00200|OP|00001|1.000","row":{},"rule":"high-value-po"}' | sl >/dev/null
sl why 123456 >"$T/w1" 2>"$T/e1"
echo "$?" >"$T/w1.rc"
printf '%s\n' '{"table":"F0411","key":"00002|PV|123456|001","row":{},"rule":"ap-aging"}' | sl >/dev/null
sl why 123456 >"$T/w2" 2>"$T/e2"
echo "$?" >"$T/w2.rc"
sl why 200 >"$T/w3" 2>/dev/null
sl why 12345 >/dev/null 2>&1
echo "$?" >"$T/w4.rc"
is "$(cat "$T/w1.rc")" 0 "why by document number: 0"
like "$(cat "$T/w1")" "fetched +ap-aging ${K//|/\\|}" "why by document number: the record's story"
is "$(cat "$T/e1")" "alert-log: \"123456\" is record $K of rule ap-aging (table F0411)" "and which record it is"
is "$(cat "$T/w2.rc")" 0 "why by an ambiguous number: 0"
is "$(cat "$T/w2")" "$(printf '%s\n' "$K  rule ap-aging  table F0411  1 rows" \
	"00002|PV|123456|001  rule ap-aging  table F0411  1 rows")" "an ambiguous number: the candidates listed"
like "$(cat "$T/e2")" 'is part of the keys of 2 records: ask for one by its key' "and said so"
like "$(cat "$T/w3")" 'fetched +high-value-po 00200\|OP\|00001' "a PO number without its leading zeros"
is "$(cat "$T/w4.rc")" 66 "a number no key has as a whole part: nothing (66)"

# replay: deliveries whose last outcome failed or is unknown, as rendered.
printf '%s\n' \
	'{"delivery_id":"r/1","rule":"r","key":"k1","to":"+15550000001","channel":"sms","body":"b1"}' \
	'{"delivery_id":"r/1","rule":"r","key":"k1","to":"+15550000001","channel":"sms","body":"b1","status":"unknown","attempts":1}' \
	'{"delivery_id":"r/2","rule":"r","key":"k2","to":"+15550000002","channel":"sms","body":"b2"}' \
	'{"delivery_id":"r/2","rule":"r","key":"k2","to":"+15550000002","channel":"sms","body":"b2","status":"sent","sid":"SMx"}' |
	alert-log >/dev/null
alert-log replay --rule r >"$T/replay" 2>/dev/null
is "$(cat "$T/replay")" '{"delivery_id":"r/1","rule":"r","key":"k1","to":"+15550000001","channel":"sms","body":"b1"}' \
	"replay gives the rendered line of the unknown delivery only"

# A line is recorded and passed on as soon as it is complete, while its
# producer is still running (no waiting for a full buffer or the end).
mkfifo "$T/live-in"
alert-log <"$T/live-in" >"$T/live-out" &
lp=$!
exec 8>"$T/live-in"
echo '{"live":1}' >&8
wait_for test -s "$T/live-out"
is "$(cat "$T/live-out")" '{"live":1}' "a line goes on while the producer is still writing"
exec 8>&-
wait "$lp"

# Bad input: every program refuses a line that is not a JSON object, so the
# tee quarantines it (tests/1010) and passes the others on, status 65.
printf 'not json\n{"a":1}\n' | alert-log >"$T/out" 2>"$T/err"
is "$?" 65 "a non-JSON line: 65"
is "$(cat "$T/out")" '{"a":1}' "the other line passed on, not the bad one"
like "$(cat "$T/err")" '^alert-log: line 1: not JSON: .*; quarantined \(#[0-9]+\), not passed on$' \
	"message names the line"
printf '{"a":1}' | alert-log >"$T/out" 2>"$T/err"
is "$?" 65 "unterminated last line: 65"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "nothing of it passed on"
like "$(cat "$T/err")" 'line 1: truncated input' "the reader says what it was"

# The audit table refuses updates and deletes.
sqlite3 "$DB" 'delete from audit' 2>"$T/err"
like "$(cat "$T/err")" 'append-only' "audit rows cannot be deleted by SQL"

# Retention is the one deliberate path.
alert-log retention --older-than 30 --dry-run | grep -q '^0 audit rows'
ok "retention dry run"
ML_CONNECTOR_NOW=2099-01-01T00:00:00Z alert-log retention --older-than 30 >"$T/ret"
like "$(cat "$T/ret")" '^[0-9]+ audit rows older than 2098' "retention deletes old rows"
is "$(alert-log query --stage retention | jq -r .detail)" \
	"deleted $(cut -d' ' -f1 "$T/ret") rows older than 2098-12-02T00:00:00.000Z" "and records that it did"
sqlite3 "$DB" 'delete from audit' 2>/dev/null
isnt "$?" 0 "the append-only trigger is back"

# Crash safety: kill -9 at a random moment; everything forwarded is recorded.
export ML_CONNECTOR_STATE=$T/crash
for i in 1 2 3; do
	seq 1 20000 | sed "s/.*/{\"delivery_id\":\"c$i\/&\",\"rule\":\"c\",\"to\":\"+1555\",\"body\":\"x\"}/" >"$T/big"
	mkfifo "$T/fifo$i"
	alert-log <"$T/fifo$i" >"$T/fwd$i" &
	pid=$!
	{ cat "$T/big"; sleep 5; } >"$T/fifo$i" &
	feeder=$!
	sleep "0.$((RANDOM % 5 + 1))"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	kill "$feeder" 2>/dev/null
	wait "$feeder" 2>/dev/null
	sqlite3 "$T/crash/state.db" "select line from audit where delivery_id like 'c$i/%' order by id" >"$T/rec$i"
	# The kill may land inside the writev of a line already committed: the
	# forwarded file then ends in a fragment of the next recorded row.
	lines_prefix_ok "$T/fwd$i" "$T/rec$i" \
		"kill -9 #$i: the $(wc -l <"$T/fwd$i" | tr -d ' ') lines forwarded are all in the trail, in order"
done

# A full disk (a file size limit): the tee stops, forwards nothing unrecorded.
export ML_CONNECTOR_STATE=$T/full
echo '{"a":0}' | alert-log >/dev/null
sz=$(du -k "$T/full/state.db" | cut -f1)
seq 1 50000 | sed 's/.*/{"delivery_id":"f\/&","rule":"f","to":"+1555","body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}/' >"$T/big"
(trap '' XFSZ; ulimit -f $((sz + 256)); exec alert-log <"$T/big" >"$T/fwd" 2>"$T/err")
rc=$?
is "$rc" 74 "disk full: the tee fails with the I/O status"
like "$(cat "$T/err")" 'state.db' "the message names the database"
fwd=$(wc -l <"$T/fwd" | tr -d ' ')
rec=$(sqlite3 "$T/full/state.db" "select count(*) from audit where delivery_id like 'f/%'")
is "$fwd" "$rec" "forwarded lines ($fwd) = recorded lines: nothing unrecorded went on"
isnt "$fwd" 50000 "and it did stop"

# A locked database is a wait, not a failure: nothing is forwarded while
# the tee cannot record, everything once it can (tests/0205-store-locks.t).

# The tee loop under valgrind.
export ML_CONNECTOR_STATE=$T/vg
vg alert-log <"$T/in" >/dev/null
is "$?" 0 "tee clean under valgrind"
vg alert-log why "$K" >/dev/null
is "$?" 0 "why clean under valgrind"

done_testing
