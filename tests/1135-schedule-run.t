#!/usr/bin/env bash
# Scheduled runs end to end, against both simulators: a rule in
# Asia/Kolkata (UTC+05:30) scheduled daily 08:00 runs at 02:30Z through the
# crontab line `ml-connector schedule` writes, exactly once; after three
# days down, one run catches up; a failing run is not retried at every
# check but at the next slot; a slot that finds the run lock held stays due;
# two schedulers firing at once run a slot once.  The clock is
# ML_CONNECTOR_NOW; the state is the real state.db.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

start_env kol || exit 1
R=$ML_CONNECTOR_RULES
RULE=high-value-po
sed -i -e 's/^schedule .*/schedule = daily 08:00/' -e 's|^timezone .*|timezone = Asia/Kolkata|' \
	"$R/$RULE.rule"
rm "$R/ap-aging.rule"
DB=$ML_CONNECTOR_STATE/state.db
runs() { sqlite3 "$DB" "SELECT count(*) FROM run WHERE rule = '$RULE'"; }
msgs() { curl -fsS "$TW/_sim/messages" | grep -c . || true; }

ml-connector schedule >"$T/crontab"
is "$?" 0 "ml-connector schedule"
line=$(grep -v '^#' "$T/crontab")
fields=$(printf '%s\n' "$line" | cut -d' ' -f1-5)
cmd=$(printf '%s\n' "$line" | cut -d' ' -f6-)
like "$cmd" "run --scheduled --quiet $RULE\$" "the crontab line runs --scheduled --quiet $RULE"
for h in UTC America/Chicago Asia/Kolkata; do
	sched-sweep -c "$fields" -H "$h" -q 2026-11-26T02:30:00Z
	ok "the crontab line \"$fields\" fires at 02:30Z (08:00 in Kolkata) on a host in $h"
done
# What cron runs, at a given time: the line's command, by sh; cron_loud:
# the same without --quiet.
cron_at() { ML_CONNECTOR_NOW=$1 sh -c "$cmd" 2>>"$T/cron.err"; }
cron_loud() { ML_CONNECTOR_NOW=$1 sh -c "${cmd/ --quiet/}" 2>>"$T/cron.err"; }

# ---- first check, then the slot -------------------------------------------------
cron_at 2026-11-26T02:29:00Z
is "$?/$(runs)/$(msgs)" "0/0/0" "02:29Z: not due, nothing runs"
is "$(sqlite3 "$DB" "SELECT slot || ' ' || zone || ' ' || ifnull(fired_at, 'baseline') FROM schedule WHERE rule = '$RULE'")" \
	"2026-11-25T08:00 Asia/Kolkata baseline" \
	"the first check recorded a baseline: yesterday's slot, not run"
mlc-rule due "$RULE" 2026-11-26T02:30:00Z
is "$?" 0 "mlc-rule due says yes at 02:30Z"
is "$(mlc-rule next "$RULE")" "$(printf '2026-11-26T08:00 Asia/Kolkata\t2026-11-26T02:30:00.000Z')" \
	"mlc-rule next: 08:00 in Kolkata, reached at 02:30Z"
: >"$T/cron.err"
cron_at 2026-11-26T02:30:00Z
is "$?" 0 "02:30Z: the scheduled run succeeds"
N=$(msgs)
is "$(runs)" 1 "one run"
isnt "$N" 0 "it sent the rule's alerts through the simulators ($N messages)"
is "$(cat "$T/cron.err")" "" "a run that went well prints nothing: cron mails nothing"
cron_at 2026-11-26T02:30:40Z
cron_at 2026-11-26T02:31:00Z
cron_at 2026-11-26T14:00:00Z
is "$(runs)/$(msgs)" "1/$N" "later checks that day run nothing"

# ---- three days down ------------------------------------------------------------
: >"$T/cron.err"
cron_loud 2026-11-29T05:00:00Z
is "$?/$(runs)" "0/2" "back after three days: one run"
like "$(cat "$T/cron.err")" "catching up 3 slots from 2026-11-27T08:00" "for the three slots missed (said without --quiet)"
like "$(cat "$T/cron.err")" "rule $RULE: run .* ok: sent" "and the run's summary"
cron_at 2026-11-29T05:01:00Z
is "$(runs)" 2 "and not one per slot"

# ---- a failing run waits for the next slot -------------------------------------
printf 'wrong-password' | mlc-vault set ais.password
: >"$T/cron.err"
cron_at 2026-11-30T02:30:00Z
is "$?" 77 "a refused AIS password fails the run (77)"
like "$(cat "$T/cron.err")" "scheduled run: slot 2026-11-30T08:00 Asia/Kolkata" \
	"a failed run under --quiet also says what it was running: the slot"
like "$(cat "$T/cron.err")" "rule $RULE: run .* failed" "and that it failed"
is "$(runs)" 3 "the failed run is in the trail"
for t in 2026-11-30T02:31:00Z 2026-11-30T03:30:00Z 2026-11-30T20:00:00Z; do
	cron_at "$t"
done
is "$(runs)" 3 "no retry at every check (an account lock-out waiting to happen)"
mlc-vault set ais.password <"$T/ais.pw"
cron_at 2026-12-01T02:30:00Z
is "$?/$(runs)" "0/4" "the next slot runs it again, and it succeeds"
is "$(msgs)" "$N" "nothing sent twice"

# ---- the run lock held at a slot ---------------------------------------------------
mkdir -p "$ML_CONNECTOR_STATE/locks"
exec 8>"$ML_CONNECTOR_STATE/locks/$RULE.lock"
flock 8
: >"$T/cron.err"
cron_at 2026-12-02T02:30:00Z
is "$?/$(runs)" "75/4" "the lock is held: 75, no run"
like "$(cat "$T/cron.err")" "stays due" "the message says the slot stays due"
flock -u 8
cron_at 2026-12-02T02:31:00Z
is "$(runs)" 5 "the next check runs it"

# ---- two schedulers at once ---------------------------------------------------------
flock 8
cmdw="${cmd% "$RULE"} --wait $RULE"
setsid sh -c "ML_CONNECTOR_NOW=2026-12-03T02:30:00Z $cmdw & ML_CONNECTOR_NOW=2026-12-03T02:30:00Z $cmdw & wait" \
	>/dev/null 2>"$T/twin.err" &
twins=$!
for _ in $(seq 1 300); do
	[ "$(pgrep -s "$twins" -x flock | wc -l)" -ge 2 ] && break
	sleep 0.05
done
is "$(pgrep -s "$twins" -x flock | wc -l)" 2 "two scheduled runs, both due, wait for the lock"
flock -u 8
exec 8>&-
wait "$twins"
is "$(runs)" 6 "one of them ran the slot; the other found it claimed"

# ---- a new rule ----------------------------------------------------------------------
cp "$R/$RULE.rule" "$T/late.rule"
sed -i 's/^name .*/name = late/' "$T/late.rule"
cp "$T/late.rule" "$R/late.rule"
ML_CONNECTOR_NOW=2026-12-03T05:00:00Z mlc-rule due late
is "$?" 1 "a rule new at 05:00Z does not run for today's long-past 02:30Z slot"
is "$(ML_CONNECTOR_NOW=2026-12-03T05:00:00Z mlc-rule next late)" \
	"$(printf '2026-12-04T08:00 Asia/Kolkata\t2026-12-04T02:30:00.000Z')" "and its next slot is tomorrow's"
ML_CONNECTOR_NOW=2026-12-04T02:30:00Z mlc-rule due late
is "$?" 0 "which is due when it comes"

# ---- deliveries refused for good --------------------------------------------------
# Twilio's 21610 (unsubscribed) and 21211 (not a valid number) are final
# outcomes: the run goes through, moves the watermark, and exits 79, saying
# how many and why.  Without them the same run exits 0 (above).
stop_env
start_env bad || exit 1
R=$ML_CONNECTOR_RULES
sed -i 's/^to *= contact:director$/&\nto       = sms:+15005550004\nto       = sms:+15005550001/' "$R/$RULE.rule"
grep -q "^to *= sms:+15005550004" "$R/$RULE.rule"
ok "the rule also writes to two numbers Twilio refuses"
ML_CONNECTOR_NOW=2026-11-26T14:00:00Z ml-connector run --quiet "$RULE" >/dev/null 2>"$T/bad.err"
is "$?" 79 "a run with deliveries refused for good: 79"
like "$(cat "$T/bad.err")" "rule $RULE: run .* done, but [1-9][0-9]* deliveries were refused for good and will not be retried" \
	"says how many were refused"
like "$(cat "$T/bad.err")" "x 21610: " "and why: Twilio's code and message (21610)"
like "$(cat "$T/bad.err")" "x 21211: The 'To' number \\+15005550001 is not a valid phone number" "and the other (21211)"
is "$(grep -c 'refused for good' "$T/bad.err")" 1 "said once"

done_testing
