#!/usr/bin/env bash
# twilio-send: the pacer (no 429 storm below the account's rate), --poll
# until a final status, and that no secret leaks (argv, environment,
# output, trace, state database).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

send_setup --callback-delay 150

# ---- rate: 50 deliveries at 20/s against an account allowing 25/s ----
fault "rate:25"
for i in $(seq 50); do sms "r$i" "+1555300$(printf '%04d' "$i")" "rate test $i"; done >"$T/in"
t0=$(date +%s.%N)
twilio-send -R 20 -P 4 <"$T/in" >"$T/out" 2>"$T/err"
rc=$?
secs=$(echo "$(date +%s.%N) - $t0" | bc)
is "$rc" 0 "50 at 20/s: exit 0"
is "$(jq -r .status "$T/out" | sort | uniq -c | tr -s ' ')" " 50 queued" "50 at 20/s: all queued"
is "$(echo "$secs >= 2.4" | bc)" 1 "50 at 20/s: took >= 2.4 s ($secs s)"
is "$(jq -c 'select(.status == 429)' "$LOG" | wc -l | tr -d ' ')" 0 "50 at 20/s under a 25/s limit: zero 429s"
is "$(jq -r .attempts "$T/out" | sort -u)" 1 "50 at 20/s: one attempt each"

# a configured rate above the account's: 429s pause the whole bucket, all arrive
for i in $(seq 80); do sms "q$i" "+1555310$(printf '%04d' "$i")" "over rate $i"; done >"$T/in"
n0=$(jq -c 'select(.status == 429)' "$LOG" | wc -l | tr -d ' ')
twilio-send -R 200 -P 8 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "80 at 200/s under a 25/s limit: exit 0"
is "$(jq -r .status "$T/out" | sort | uniq -c | tr -s ' ')" " 80 queued" "80 at 200/s: all queued in the end"
n429=$(($(jq -c 'select(.status == 429)' "$LOG" | wc -l | tr -d ' ') - n0))
# (how many 429s depends on how fast this machine sends: a figure, not a check)
echo "# 80 at 200/s against 25/s: $n429 answers 429 (shared backoff, no storm)"
fault "rate:0"

# ---- --poll until delivered / undelivered with the error code ----
fault "outcome:to=+15553200002,status=undelivered,error=30003"
{ sms p1 +15553200001 "poll me"; sms p2 +15553200002 "poll me too"; mail p3 p@example.com S T; } |
	twilio-send >"$T/sent"
is "$(jq -r .status "$T/sent" | sort | tr '\n' ' ')" "accepted queued queued " "poll: sent three"
twilio-send --poll -i 0.2 -T 20 <"$T/sent" >"$T/ev" 2>"$T/err"
is "$?" 0 "poll: exit 0"
sid1=$(jq -r 'select(.to == "+15553200001") | .sid' "$T/sent")
sid2=$(jq -r 'select(.to == "+15553200002") | .sid' "$T/sent")
is "$(jq -r --arg s "$sid1" 'select(.sid == $s) | .status' "$T/ev" | tail -n 1)" delivered "poll: delivered"
last2=$(jq -c --arg s "$sid2" 'select(.sid == $s)' "$T/ev" | tail -n 1)
is "$(get "$last2" '.status + " " + (.error_code|tostring)')" "undelivered 30003" "poll: undelivered with error code"
is "$(get "$last2" '.event + " " + .delivery_id + " " + .source')" "status t:p2/sms/+15553200002 poll" \
	"poll: event carries the delivery id"
is "$(jq -r --arg s "$sid1" 'select(.sid == $s) | .error_code' "$T/ev" | sort -u)" null "poll: error_code null when none"
is "$(jq -c 'select(.sid == null)' "$T/ev" | wc -l | tr -d ' ')" 0 "poll: the e-mail (no sid) is not polled"
is "$(jq -r .status "$T/ev" | sort | uniq | tr '\n' ' ' | grep -c delivered)" 1 "poll: statuses as they changed"
twilio-send --poll -i 0.2 -T 20 <"$T/sent" | alert-log >/dev/null
is "$?" 0 "poll events pass through alert-log"
is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(*) FROM audit WHERE sid = '$sid2' AND status = 'undelivered' AND error_code = 30003")" \
	1 "alert-log recorded the undelivered event with its error code"
fault "outcome:to=+15553200004,status=sent"
sms p4 +15553200004 "no delivery receipt" | twilio-send >"$T/sent"
twilio-send --poll -i 0.2 -T 3 <"$T/sent" >"$T/ev2" 2>/dev/null
is "$?" 0 "poll timeout on sent (no DLR): exit 0"
is "$(jq -r '.event + " " + .status' "$T/ev2" | tail -n 1)" "poll_timeout sent" "poll timeout: poll_timeout event"

# ---- secrets never leak ----
# Its input stays open until /proc has been read: it holds the secret and
# cannot end, however slowly this machine runs.
mkfifo "$T/leak.in"
ML_CONNECTOR_TRACE=1 twilio-send <"$T/leak.in" >"$T/leak.out" 2>"$T/leak.err" &
pid=$!
exec 6>"$T/leak.in"
sms s1 +15553300001 "held open for /proc" >&6
request_out() { grep -q '> POST ' "$T/leak.err"; }
wait_for request_out
cat "/proc/$pid/cmdline" >"$T/leak.cmdline" 2>/dev/null
cat "/proc/$pid/environ" >"$T/leak.environ" 2>/dev/null
exec 6>&-
wait "$pid"
is "$?" 0 "leak run: exit 0"
test -s "$T/leak.cmdline" && test -s "$T/leak.environ"
ok "leak run: /proc cmdline and environ read while it ran"
grep -q '^\* \|^> \|^< ' <(sed 's/^twilio-send: //' "$T/leak.err")
ok "leak run: the trace was on"
grep -q -i 'authorization: REDACTED' "$T/leak.err"
ok "leak run: Authorization header redacted in the trace"
mail s2 leak@example.com "S" "T" | ML_CONNECTOR_TRACE=1 twilio-send >>"$T/leak.out" 2>>"$T/leak.err"
sms s3 +15553300003 "dry" | twilio-send -n >>"$T/leak.out" 2>>"$T/leak.err"
for f in leak.cmdline leak.environ leak.out leak.err; do
	! grep -a -q -F -e "$TOKEN" -e "$SGKEY" "$T/$f"
	ok "no secret in $f"
done
b64=$(printf '%s:%s' "$AC" "$TOKEN" | base64 -w0)
! grep -a -q -F -e "$b64" "$T/leak.err"
ok "no Basic credentials in the trace"
! grep -a -q -F -e "$TOKEN" -e "$SGKEY" "$ML_CONNECTOR_STATE"/state.db*
ok "no secret in the state database in plaintext"

done_testing
