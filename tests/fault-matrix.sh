#!/usr/bin/env bash
# fault-matrix.sh — the fault matrix (issue 7): every AIS fault and every Twilio fault, each
# combined with a SIGKILL of a pipeline stage, then recovery runs.  After
# recovery, against a clean reference run of the same rules:
#   lost       SMS of the reference never accepted by Twilio, and digest
#              alerts never sent (by the trail, and by the digest rows
#              SendGrid accepted), apart from permanent failures;
#   dup        SMS accepted twice, digest alerts sent twice (by the trail,
#              and by the digest rows SendGrid accepted);
#   in doubt   deliveries handed to Twilio or SendGrid whose outcome the
#              faulted run (or, e-mail, a recovery run while the fault was
#              still armed) left unrecorded or unknown; every SMS of them must
#              be settled by the recovery (found in Twilio, or proved not
#              sent and sent once); an e-mail cannot be looked up and is
#              sent again (at least once: SendGrid has no lookup);
#   failed     deliveries refused for good (21211, 21610): results, not
#              losses; each must be in the trail with its error code.
# A STOP in flight (issue 16): the recipient's STOP reaches Twilio at a
# random moment of a stage (the "killed" column names it; no kill), while
# the run sends to them: each SMS to them is accepted once (it went before
# the STOP), or refused with 21610, or suppressed (opted out) after it;
# "failed" counts the last two.  The same with the STOP's webhook
# delivered three times at once (Twilio retries webhooks) through
# twilio-status while the run writes the trail: recorded once.
# An ACK in flight (issue 16): the recipient's "ACK" reaches Twilio at a
# random moment of a stage (the "killed" column names it), and then an
# alert-log of the run is killed: the ACK waits in Twilio, and a recovery
# run's poll ([twilio] inbound = poll) records it once (one inbound row,
# one audit row: acked, or ack_unmatched when no SMS had reached them yet).
# With the STOP's webhook above, an ACK's from the other recipient is
# delivered three times at once too: recorded once.
# An escalation due during quiet hours (issue 16): the rule gains
# [limits] quiet_hours = 22:00-07:00 and [escalation] step = 14h to
# $ESC_TO; after the clean 08:00 run (CST) the step is due at 22:00, when
# escalate holds it (deferred, sent to no one), and the 07:00 escalate
# releases it.  One escalate is killed at a random moment of a stage (the
# "killed" column; unless MLC_FAULT_MATRIX=full the spec HOUR:STAGE pins
# it): esc-due-in-quiet-hours the 07:00 one (alert-log: once Twilio has
# accepted a step), esc-killed-in-quiet-hours the 22:00 one (alert-log:
# once alert-render has deferred the steps, before the trail records it;
# another escalate at 22:00 follows).  Nothing may be sent at 22:00, and
# after the recovery runs and one more escalate each step must have been
# sent exactly once, none left due.
# Lock faults (issue 11): an outside sqlite3 holds BEGIN EXCLUSIVE on
# state.db for a while at a random moment of a stage (the "killed" column
# then names the moment, "landed" whether the lock fell inside the run; no
# kill): the run waits it out, succeeds, and no stage gives up.
# By default every fault runs once, with the killed stage rotating so that
# every stage is killed (every other fault under the sanitizers);
# MLC_FAULT_MATRIX=full runs every fault with every stage,
# MLC_FM_RULES="high-value-po ap-aging" both seed rules (bench/fault-matrix.sh)
# and MLC_FM_ONLY=REGEX only the faults whose names match.
# The table goes to the TAP output.
#
# The matrix is run by two tests, each with half of the combinations
# (MLC_FM_PART=K/N: the K-th of N equal parts, in the order below), so
# that the suite runs them side by side: tests/1120 (the AIS faults) and
# tests/1121 (the Twilio, poison and lock faults).  Each part makes its own
# reference run.  Run directly (bench/fault-matrix.sh), it is one part: all.
. "$(dirname "$0")/lib.sh"

NOW0=2026-11-26T14:00:00Z
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=$NOW0
read -r -a RULES <<<"${MLC_FM_RULES:-high-value-po}"
# Small pages, so that the AIS faults strike in the middle of the paging.
PAGE_SIZE=2
. "$(dirname "$0")/e2e-lib.sh"

# NAME|SIMULATOR|SPEC (one spec per line for the Twilio simulator).
FAULTS=(
	"ais-token-444|ais|token-expire:after=2,status=444"
	"ais-token-403|ais|token-expire:after=2,status=403"
	"ais-JAS_MSG347|ais|expire-results"
	"ais-503|ais|status:code=503,count=2"
	"ais-slow|ais|slow:ms=700,count=4"
	"ais-truncated|ais|truncate:path=/jderest/v2/dataservice/next"
	"ais-dropped|ais|drop:path=/jderest/v2/dataservice*"
	"ais-shift-insert-behind|ais|shift:op=insert,at=behind"
	"ais-token-2-requests|ais|token-life:requests=2"
	"ais-sticky-cookie|ais|sticky"
	"tw-429|tw|429:count=3,path=/Messages.json"
	"tw-429-retry-after|tw|429:retry-after=1,count=3,path=/Messages.json"
	"tw-5xx|tw|5xx:code=503,count=3"
	"tw-dropped-after-receipt|tw|drop-after-receipt:count=2,path=/Messages.json"
	"tw-reused-dropped-after|tw|drop-after-receipt:count=2,method=POST,path=/Messages.json,reused"
	"tw-reused-dropped-before|tw|drop-before:count=2,method=POST,path=/Messages.json,reused"
	"sg-reused-dropped-after|tw|drop-after-receipt:count=1,path=/v3/mail/send,reused"
	"tw-21211-bad-number|tw|error:code=21211,to=+13125550102"
	"tw-21610-opted-out|tw|error:code=21610,to=+13125550101"
	"tw-stop-in-flight|stop|+13125550101"
	"tw-stop-webhook-thrice|dupwebhook|+13125550101"
	"poison-trail-utf8|poison|utf8"
	"lock-6s-past-old-timeout|lock|hold:ms=6000"
	"tw-ack-killed-before-record|ack|+13125550101"
	"esc-due-in-quiet-hours|esc|07:alert-log"
	"esc-killed-in-quiet-hours|esc|22:alert-log"
)
STAGES=(none jde-fetch jde-join alert-match alert-render twilio-send alert-log)

# (a refusal shows curl's error, the simulator's answer and its stderr)
ais_fault() {
	curl -sS -w '%{http_code}' -o "$T/fault.body" -H 'Content-Type: application/json' \
		--data-binary "{\"spec\":\"$1\"}" "$AIS/_sim/fault" >"$T/fault.code" 2>"$T/fault.err"
	fault_said mlc-ais-sim
}
tw_fault() {
	curl -sS -w '%{http_code}' -o "$T/fault.body" --data-binary "$1" "$TW/_sim/fault" \
		>"$T/fault.code" 2>"$T/fault.err"
	fault_said mlc-twilio-sim
}
fault_said() {
	[ "$(cat "$T/fault.code")" = 200 ] && return 0
	echo "# fault request: HTTP $(cat "$T/fault.code"): $(cat "$T/fault.err" "$T/fault.body" 2>/dev/null)"
	sed 's/^/#   '"$1"': /' "$T/m$n/$1.stderr" 2>/dev/null | tail -5
	return 1
}
# poison_fault KIND: a queued delivery per rule whose line twilio-send refuses
# (utf8: invalid UTF-8 in the body), in the trail before the run, as a tee of
# an older version recorded it: the replay must quarantine it, not stop on it.
poison_fault() {
	local r hex
	for r in "${RULES[@]}"; do
		hex=$(printf '{"delivery_id":"%s:poison/sms/+13125550199","rule":"%s","channel":"sms","to":"+13125550199","body":"bad \377 %s"}' \
			"$r" "$r" "$1" | xxd -p | tr -d '\n')
		sqlite3 "$ML_CONNECTOR_STATE/state.db" "INSERT INTO audit (ts, stage, rule, delivery_id, channel, line)
			VALUES ('2026-11-25T09:00:00.000Z', 'queued', '$r', '$r:poison/sms/+13125550199', 'sms', CAST(X'$hex' AS TEXT))" || return 1
	done
}

# lock_fault SESSION STAGE hold:ms=N: an outside sqlite3 (a backup, an
# operator's shell) takes BEGIN EXCLUSIVE on state.db at a random moment
# of STAGE (for "none": alert-log) of the run (stage_moment, as for the
# kills), and holds it for N ms.  A lock fault
# kills nothing: the stage only names the moment.  Prints yes when the
# lock was taken while the run was alive.
. "$(dirname "$0")/lock-lib.sh"
lock_fault() {
	local sess=$1 want=$2 ms=${3#hold:ms=}
	[ "$want" = none ] && want=alert-log
	stage_moment "$sess" "$want" >/dev/null
	kill -0 "$sess" 2>/dev/null || { echo no; return 0; }
	lock_take "$ML_CONNECTOR_STATE/state.db" || return 1
	if kill -0 "$sess" 2>/dev/null; then echo yes; else echo no; fi
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	lock_release
}

# stop_fault SESSION STAGE NUMBER [BODY]: a STOP (or BODY) from NUMBER to
# our number reaches the Twilio simulator at a random moment of STAGE (for
# "none": twilio-send) of the run; prints yes when the run was still
# alive.  The message's SID goes to $T/inj.sid.
stop_fault() {
	local sess=$1 want=$2
	[ "$want" = none ] && want=twilio-send
	stage_moment "$sess" "$want" >/dev/null
	curl -sf -X POST "$TW/_sim/inbound" --data-urlencode "From=$3" --data-urlencode To=+15005550006 \
		--data-urlencode "Body=${4:-STOP}" | jq -r .sid >"$T/inj.sid" || return 1
	if kill -0 "$sess" 2>/dev/null; then echo yes; else echo no; fi
}

# ack_fault SESSION STAGE NUMBER: an ACK from NUMBER reaches the Twilio
# simulator at a random moment of STAGE (as stop_fault), then an alert-log
# of the run, the trail's writer, is killed (kill_stage): the ACK waits in
# Twilio for a run that records it.  Prints the pid killed, or nothing.
ack_fault() {
	stop_fault "$1" "$2" "$3" ACK >/dev/null || return 1
	kill_stage "$1" alert-log
}

# dup_webhook_fault SESSION STAGE NUMBER: as stop_fault, and the STOP's
# incoming-message webhook, signed, delivered three times at once to
# twilio-status (CGI) while the run goes on, and so an ACK from the other
# recipient, $ACK_FROM; a 503 (the trail busy for too long) is delivered
# again, as Twilio's retries would.  The messages' SIDs go to $T/dup.sid
# and $T/dupack.sid, the receivers' statuses to $T/dup.rc.
ACK_FROM=+13125550102
dup_webhook_fault() {
	local sess=$1 want=$2 sid body sig from text
	[ "$want" = none ] && want=twilio-send
	stage_moment "$sess" "$want" >/dev/null
	: >"$T/dup.rc"
	for from in "$3" "$ACK_FROM"; do
		text=STOP
		[ "$from" = "$3" ] || text=ACK
		sid=$(curl -sf -X POST "$TW/_sim/inbound" --data-urlencode "From=$from" --data-urlencode To=+15005550006 \
			--data-urlencode "Body=$text" | jq -r .sid) || return 1
		printf '%s\n' "$sid" >"$T/dup$([ "$text" = ACK ] && echo ack).sid"
		body="MessageSid=$sid&AccountSid=$SID&From=$(jq -rn --arg v "$from" '$v|@uri')&To=%2B15005550006&Body=$text&NumMedia=0"
		sig=$(twsig-check sign "$T/tw.token" "$INBOUND_URL" "MessageSid=$sid" "AccountSid=$SID" "From=$from" \
			To=+15005550006 "Body=$text" NumMedia=0)
		for _ in 1 2 3; do
			(
				for _ in 1 2 3 4 5; do
					REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded \
						CONTENT_LENGTH=${#body} HTTP_X_TWILIO_SIGNATURE=$sig SCRIPT_NAME=/twilio/inbound \
						twilio-status <<<"$body" >/dev/null 2>>"$T/dup.err"
					r=$?
					[ "$r" = 75 ] || break
				done
				echo "$r" >>"$T/dup.rc"
			) &
		done
	done
	wait
	if kill -0 "$sess" 2>/dev/null; then echo yes; else echo no; fi
}
INBOUND_URL=https://alerts.example.com/twilio/inbound

# esc_fault HOUR STAGE: the escalation rows.  Their rule, high-value-po
# with quiet hours and one step 14h after the first delivery, runs clean
# at 08:00 CST; at 22:00 escalate holds the steps (each deferred, none
# sent); at 07:00 an escalate releases them.  The escalate at HOUR (22 or
# 07) is the faulted run: of its own session, a stage of it killed
# (kill_stage; alert-log: every alert-log of the run once it is under way,
# esc_under_way: a step accepted at 07:00, deferred at 22:00).  A run
# killed at 22:00 is followed by another escalate at 22:00, which must
# hold what is due too.  The 07:00 escalate is left for the caller to wait
# for (orch), its steps' creates slowed; the clocks stay at 07:00 for the
# recovery.  Sets victim; $T/esc.n the alerts of the 08:00 run (the steps
# owed), $T/esc.held what 22:00 left sent/deferred.
ESC_TO=+13125550149
esc_rule() {
	printf '\n[limits]\nquiet_hours = 22:00-07:00\n[escalation]\nstep = 14h sms:%s\n' "$ESC_TO" \
		>>"$ML_CONNECTOR_RULES/high-value-po.rule"
}
esc_sent() { sms_accepted | grep -c "^$ESC_TO	" || true; }
esc_deferred() {
	alert-log query --rule high-value-po --stage deferred -f ndjson 2>/dev/null |
		jq -r 'select(.delivery_id | contains("/esc1/")) | .delivery_id' | sort -u | grep -c . || true
}
esc_fault() {
	local hour=$1
	ml-connector run "${RULES[@]}" >/dev/null 2>>"$T/m$n.err" || return 1
	alert-log query --rule high-value-po --stage sent -f ndjson | jq -r '.alert_id // empty' | sort -u | grep -c . >"$T/esc.n"
	sim_clock 2026-11-27T04:00:00Z
	if [ "$hour" = 22 ]; then
		setsid ml-connector escalate >/dev/null 2>>"$T/m$n.err" &
		orch=$!
		esc_kill "$2"
		wait "$orch"
		echo "$?" >"$T/esc.rc22"
	fi
	ml-connector escalate >/dev/null 2>>"$T/m$n.err" || return 1
	echo "$(esc_sent)/$(esc_deferred)" >"$T/esc.held"
	sim_clock 2026-11-27T13:00:00Z
	# each step's create slower, so that a kill finds the release under way
	tw_fault "slow:ms=150,count=0,to=$ESC_TO,method=POST" || return 1
	setsid ml-connector escalate >/dev/null 2>>"$T/m$n.err" &
	orch=$!
	[ "$hour" = 22 ] || esc_kill "$2"
	return 0
}
# esc_kill STAGE: kill STAGE of the escalate orch (sets victim)
esc_kill() {
	case $1 in
	none) ;;
	alert-log)
		# the trail's writers once the run is under way: at 07:00 between
		# Twilio's accept of a step and its record, the case a restart
		# must neither lose nor repeat; at 22:00 between alert-render's
		# deferral of the steps and the trail's record of it (the tee
		# after alert-render stopped until alert-render is done)
		if [[ $ML_CONNECTOR_NOW == *T04:* ]]; then
			esc_hold_render_tee
		else
			wait_for esc_under_way
		fi
		mapfile -t esc_pids < <(pgrep -s "$orch" -x alert-log)
		victim=""
		[ "${#esc_pids[@]}" = 0 ] || kill -9 "${esc_pids[@]}" 2>/dev/null && victim=${esc_pids[*]}
		;;
	*) victim=$(kill_stage "$orch" "$1") ;;
	esac
	return 0
}
# esc_under_way: a step accepted, or the escalate over
esc_under_way() { [ "$(esc_sent)" -gt 0 ] || ! kill -0 "$orch" 2>/dev/null; }
# esc_hold_render_tee: SIGSTOP the alert-log that reads alert-render's
# output (the same pipe, by /proc), then wait until alert-render is done:
# what it deferred is in the state, its record not yet in the trail
esc_hold_render_tee() {
	local r="" p out
	wait_for esc_render_up || return 0
	r=$(pgrep -s "$orch" -x alert-render | head -n 1)
	out=$(readlink "/proc/$r/fd/1") || return 0
	for p in $(pgrep -s "$orch" -x alert-log); do
		[ "$(readlink "/proc/$p/fd/0" 2>/dev/null)" = "$out" ] && kill -STOP "$p" 2>/dev/null
	done
	esc_r=$r
	wait_for esc_render_done
}
esc_render_up() { pgrep -s "$orch" -x alert-render >/dev/null || ! kill -0 "$orch" 2>/dev/null; }
esc_render_done() { ! kill -0 "$esc_r" 2>/dev/null; }

# Every environment runs slowly enough for a kill to land in a live stage:
# 50 ms per AIS answer, 50 ms per Twilio answer, 20 messages a second.
env_up() {
	start_env "$1" 50 20 "slow:ms=50,count=0"
}

# in_doubt: the deliveries of the rules with no outcome or an unknown one.
in_doubt() {
	local r
	for r in "${RULES[@]}"; do
		alert-log replay --rule "$r" --status queued,unknown 2>/dev/null
	done
}

# digest_alerts: "to<TAB>alert id" for every alert in every digest sent.
digest_alerts() {
	alert-log query --stage sent --lines -f ndjson |
		jq -r '.line | fromjson | select(.digest) | .to as $t | .alert_ids[] | "\($t)\t\(.)"' | sort
}

# ---- the reference: a clean run with the same slowness -------------------
env_up ref || exit 1
ml-connector run "${RULES[@]}" >/dev/null 2>"$T/ref.err"
is "$?" 0 "reference run: status 0"
sms_accepted >"$T/ref.sms"
mail_rows >"$T/ref.mail"
digest_alerts >"$T/ref.dig"
NSMS=$(wc -l <"$T/ref.sms" | tr -d ' ')
NDIG=$(wc -l <"$T/ref.dig" | tr -d ' ')
isnt "$NSMS" 0 "the reference sent $NSMS SMS and $NDIG digest alerts"
isnt "$(grep -c . "$T/ref.mail")" 0 "the reference's digest e-mails have rows (mail_rows reads their table)"
stop_env

# landed STAGE VICTIM: "-" (no kill asked), "yes" or "no" (never caught alive)
landed() {
	if [ "$1" = none ]; then
		echo -
	elif [ -n "$2" ]; then
		echo yes
	else
		echo no
	fi
}

# ---- the combinations -------------------------------------------------------
# The sanitizer build, which runs the whole suite again, takes every other
# fault (the stages still rotate through all seven).
step=1
[ "${MLC_SANITIZED:-0}" = 1 ] && step=2
combos=()
i=0
j=0
for f in "${FAULTS[@]}"; do
	if [ "${MLC_FAULT_MATRIX:-quick}" = full ]; then
		for s in "${STAGES[@]}"; do combos+=("$f|$s"); done
	elif [ $((i % step)) = 0 ]; then
		case $f in
		*"|esc|"*) combos+=("$f|${f##*:}") ;; # the moment pinned
		*) combos+=("$f|${STAGES[$((j % ${#STAGES[@]}))]}") ;;
		esac
		j=$((j + 1))
	fi
	i=$((i + 1))
done

# MLC_FM_ONLY=REGEX: only the faults whose names match (by hand, bench/)
if [ -n "${MLC_FM_ONLY:-}" ]; then
	fm_all=()
	for c in "${combos[@]}"; do [[ ${c%%|*} =~ $MLC_FM_ONLY ]] && fm_all+=("$c"); done
	combos=("${fm_all[@]}")
fi
# this part's share of the combinations
IFS=/ read -r fm_k fm_n <<<"${MLC_FM_PART:-1/1}"
fm_all=("${combos[@]}")
combos=("${fm_all[@]:$(((fm_k - 1) * ${#fm_all[@]} / fm_n)):$((fm_k * ${#fm_all[@]} / fm_n - (fm_k - 1) * ${#fm_all[@]} / fm_n))}")

printf '# %-26s %-12s %-6s %-8s %4s %4s %5s %5s %5s %6s %s\n' fault killed landed runs lost dup \
	sms? found mail? failed calls >"$T/table"
tot_lost=0 tot_dup=0 tot_dup_mail=0 dup_mail_doubt=0 dup_mail_crash=0 dup_mail_conn=0 tot_doubt_sms=0 tot_doubt_mail=0 tot_found_doubt=0 tot_doubt=0 tot_found=0 tot_failed=0 landed_n=0
n=0
for c in "${combos[@]}"; do
	IFS='|' read -r name sim spec stage <<<"$c"
	n=$((n + 1))
	rm -f "$T/dup.sid" "$T/dupack.sid" "$T/inj.sid" "$T/esc.rc22"
	env_up "m$n" || exit 1
	case $sim in
	ais) ais_fault "$spec" ;;
	tw) tw_fault "$spec" ;;
	poison) poison_fault "$spec" ;;
	lock | stop) ;; # once the run is under way
	dupwebhook) sed -i "s|^\[sendgrid\]\$|inbound_url = $INBOUND_URL\n&|" "$ML_CONNECTOR_CONF" ;;
	ack) sed -i "s|^\[sendgrid\]\$|inbound = poll\n&|" "$ML_CONNECTOR_CONF" ;;
	esc) esc_rule ;;
	esac
	ok "$name: fault in force"

	victim=""
	locked=""
	if [ "$sim" = esc ]; then
		# the 08:00 run and the 22:00 escalate, then the 07:00 one, killed
		: >"$T/m$n.err"
		esc_fault "${spec%%:*}" "$stage" || {
			ok "$name: the 08:00 run and the 22:00 escalate succeed"
			sed 's/^/#   /' "$T/m$n.err" | tail -5
			stop_env
			export ML_CONNECTOR_NOW=$NOW0
			continue
		}
	else
		# its own session, so that its processes are found by one pgrep
		setsid ml-connector run "${RULES[@]}" >/dev/null 2>"$T/m$n.err" &
		orch=$!
	fi
	if [ "$sim" = esc ]; then
		: # killed by esc_fault
	elif [ "$sim" = lock ]; then
		locked=$(lock_fault "$orch" "$stage" "$spec")
	elif [ "$sim" = stop ]; then
		locked=$(stop_fault "$orch" "$stage" "$spec")
	elif [ "$sim" = dupwebhook ]; then
		locked=$(dup_webhook_fault "$orch" "$stage" "$spec")
	elif [ "$sim" = ack ]; then
		victim=$(ack_fault "$orch" "$stage" "$spec")
	elif [ "$stage" != none ]; then
		victim=$(kill_stage "$orch" "$stage")
	fi
	wait "$orch"
	rcs=$?
	if [ "$sim" = lock ]; then
		is "$rcs" 0 "$name during $stage: the run waits out the lock and succeeds (lock landed: $locked)"
		unlike "$(cat "$T/m$n.err")" 'database is locked|try again later' \
			"$name during $stage: no stage gave up on the lock"
	fi
	[ -n "$victim" ] && landed_n=$((landed_n + 1))
	# In doubt after the faulted run: deliveries handed to Twilio or SendGrid
	# with no outcome recorded (queued) or an unknown one, the very lines the
	# next run's first step replays into twilio-send --reconcile.
	in_doubt >"$T/m$n.doubt"
	doubt_sms=$(jq -r 'select(.channel != "email") | .delivery_id' "$T/m$n.doubt" | sort -u | grep -c . || true)
	jq -r 'select(.channel == "email") | .delivery_id' "$T/m$n.doubt" >"$T/m$n.doubtmail"
	# Recovery: run again until a run succeeds (at most three).
	for _ in 1 2 3; do
		ml-connector run "${RULES[@]}" >/dev/null 2>>"$T/m$n.err"
		rc=$?
		rcs="$rcs,$rc"
		[ "$rc" = 0 ] && break
		# a fault still armed can leave e-mails in doubt in a recovery run too
		in_doubt | jq -r 'select(.channel == "email") | .delivery_id' >>"$T/m$n.doubtmail"
	done
	doubt_mail=$(sort -u "$T/m$n.doubtmail" | grep -c . || true)

	sms_accepted >"$T/m$n.sms"
	mail_rows >"$T/m$n.mail"
	digest_alerts >"$T/m$n.dig"
	alert-log query -f ndjson >"$T/m$n.trail"
	# Permanent failures: the recipient the fault refuses, by its code.
	perm_to="" perm_code=""
	case $spec in
	error:code=*) perm_code=${spec#error:code=} perm_code=${perm_code%%,*} perm_to=${spec##*to=} ;;
	esac
	missing=$(comm -23 "$T/ref.sms" <(sort -u "$T/m$n.sms"))
	failed=0
	if [ -n "$perm_to" ]; then
		# after a 21610 the pair is opted out: the later ones are suppressed
		# (twilio-send(1), Opt-out), never sent, as final as the refusal
		failed=$(jq -r --arg to "$perm_to" --argjson code "$perm_code" \
			'select(.recipient == $to and ((.status == "failed" and .error_code == $code) or
			($code == 21610 and .stage == "suppressed"))) | .delivery_id' \
			"$T/m$n.trail" | sort -u | grep -c . || true)
		want_failed=$(grep -c "^$perm_to	" "$T/ref.sms" || true)
		is "$failed" "$want_failed" "$name: every SMS to $perm_to is failed $perm_code (or, 21610, suppressed after it) in the trail"
		missing=$(printf '%s\n' "$missing" | grep -v "^$perm_to	" || true)
	fi
	if [ "$sim" = dupwebhook ]; then
		dsid=$(cat "$T/dup.sid" 2>/dev/null)
		is "$(sort "$T/dup.rc" | tr '\n' ' ')" "0 0 0 0 0 0 " "$name: the three deliveries of each webhook (STOP, ACK) answered"
		is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(*) FROM inbound WHERE sid = '$dsid'")/$(jq -r --arg s "$dsid" 'select(.sid == $s) | .id' "$T/m$n.trail" | grep -c .)" \
			"1/1" "$name: the STOP recorded once (one inbound row, one audit row)"
	fi
	if [ "$sim" = dupwebhook ] || [ "$sim" = ack ]; then
		asid=$(cat "$T/dupack.sid" "$T/inj.sid" 2>/dev/null | tail -n 1)
		stages=$(jq -r --arg s "$asid" 'select(.sid == $s) | .stage' "$T/m$n.trail" | tr '\n' ' ')
		is "$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(*) FROM inbound WHERE sid = '$asid'")/$(sqlite3 "$ML_CONNECTOR_STATE/state.db" "SELECT count(*) <= 1 FROM ack WHERE sid = '$asid'")/$stages" \
			"1/1/$(case $stages in "acked " | "ack_unmatched ") echo "$stages" ;; *) echo "acked or ack_unmatched, once" ;; esac)" \
			"$name: the ACK recorded exactly once (one inbound row, at most one acknowledgement, one audit row: $stages)"
	fi
	if [ "$sim" = stop ] || [ "$sim" = dupwebhook ]; then
		failed=$(jq -r --arg to "$spec" 'select(.recipient == $to and (.stage == "suppressed" or
			(.status == "failed" and .error_code == 21610))) | .delivery_id' "$T/m$n.trail" |
			sort -u | grep -c . || true)
		is "$(($(grep -c "^$spec	" "$T/m$n.sms" || true) + failed))" "$(grep -c "^$spec	" "$T/ref.sms" || true)" \
			"$name: every SMS to $spec sent before the STOP, or refused (21610) or suppressed after it, once"
		missing=$(printf '%s\n' "$missing" | grep -v "^$spec	" || true)
	fi
	if [ "$sim" = esc ]; then
		# a recovery escalate too: never twice across runs
		ml-connector escalate >/dev/null 2>>"$T/m$n.err"
		is "$(cat "$T/esc.held")" "0/$(cat "$T/esc.n")" \
			"$name: at 22:00 (quiet hours) each of the $(cat "$T/esc.n") steps due is deferred, none sent$([ -s "$T/esc.rc22" ] && echo " (the escalate killed in $stage: $(cat "$T/esc.rc22"), then one more)")"
		is "$(esc_sent)/$(sms_accepted | grep "^$ESC_TO	" | sort | uniq -d | grep -c . || true)" "$(cat "$T/esc.n")/0" \
			"$name, ${spec%%:*}:00 escalate killed in $stage: each step sent exactly once after quiet hours"
		is "$(alert-log escalations --rule high-value-po)" "" "$name: nothing due any more: every step taken"
	fi
	lost_sms=$(printf '%s' "$missing" | grep -c . || true)
	lost_dig=$(comm -23 "$T/ref.dig" <(sort -u "$T/m$n.dig") | grep -c . || true)
	dup_sms=$(uniq -d <"$T/m$n.sms" | grep -c . || true)
	dup_dig=$(uniq -d <"$T/m$n.dig" | grep -c . || true)
	# digest rows per recipient as SendGrid saw them: a split digest (part
	# before a kill, the rest after) is fine, a row twice is not
	dup_mail=$(uniq -d <"$T/m$n.mail" | grep -c . || true)
	lost_mail=$(comm -23 "$T/ref.mail" <(sort -u "$T/m$n.mail") | grep -c . || true)
	# The SMS in doubt that the recovery found in Twilio (not sent again).
	alert-log query --stage sent --lines -f ndjson |
		jq -r '.line | fromjson? | select(.reconciled == true) | .delivery_id' | sort -u >"$T/m$n.found"
	found=$(grep -c . "$T/m$n.found" || true)
	# of the SMS in doubt after the faulted run: found in Twilio by the recovery
	found_doubt=$(comm -12 "$T/m$n.found" \
		<(jq -r 'select(.channel != "email") | .delivery_id' "$T/m$n.doubt" | sort -u) | grep -c . || true)
	in_doubt >"$T/m$n.doubt2"
	ais_calls=$(grep -c . "$T/m$n/mlc-ais-sim.log" || true)
	tw_calls=$(grep -c . "$T/m$n/mlc-twilio-sim.log" || true)
	printf '# %-26s %-12s %-6s %-8s %4s %4s %5s %5s %5s %6s %s\n' "$name" "$stage" \
		"${locked:-$(landed "$stage" "$victim")}" "$rcs" "$((lost_sms + lost_dig + lost_mail))" \
		"$((dup_sms + dup_dig + dup_mail))" \
		"$doubt_sms" "$found" "$doubt_mail" "$failed" "$ais_calls/$tw_calls" >>"$T/table"

	is "$rc" 0 "$name, $stage killed: a recovery run succeeds (statuses $rcs)"
	[ "$sim" != poison ] ||
		is "$(alert-log quarantine count 2>/dev/null)" "${#RULES[@]}" "$name: the poisoned line is in the quarantine"
	is "$lost_sms/$lost_dig/$lost_mail" "0/0/0" \
		"$name, $stage killed: nothing lost (SMS, digest alerts in the trail, digest rows e-mailed)"
	is "$dup_sms" 0 "$name, $stage killed: no SMS accepted twice"
	# A digest e-mail left in doubt (SendGrid has no lookup) is rendered and
	# sent again: at least once, counted.  Otherwise never twice.
	if [ "$doubt_mail" = 0 ]; then
		is "$dup_dig/$dup_mail" 0/0 "$name, $stage killed: no digest alert, no e-mail sent twice"
	else
		dup_mail_doubt=$((dup_mail_doubt + dup_dig + dup_mail))
		# by cause: the fault that drops SendGrid's connection after it read
		# the mail (in the faulted run or a recovery run), else a kill
		case $spec in
		*drop-after-receipt*/v3/mail/send*) dup_mail_conn=$((dup_mail_conn + dup_mail)) ;;
		*) dup_mail_crash=$((dup_mail_crash + dup_mail)) ;;
		esac
		echo "# $name: $doubt_mail e-mails in doubt, sent again; of their rows $dup_mail reached SendGrid twice"
	fi
	is "$(jq -r 'select(.channel != "email") | .delivery_id' "$T/m$n.doubt2" | grep -c . || true)" 0 \
		"$name, $stage killed: no SMS left in doubt after recovery ($doubt_sms settled, $found found in Twilio)"
	if [[ " ${RULES[*]} " == *" high-value-po "* ]]; then
		is "$(jde-fetch --show-watermark high-value-po 2>/dev/null | grep -c .)" 1 \
			"$name, $stage killed: the incremental rule's watermark is committed after recovery"
	fi
	tot_lost=$((tot_lost + lost_sms + lost_dig + lost_mail))
	tot_dup=$((tot_dup + dup_sms))
	tot_dup_mail=$((tot_dup_mail + dup_dig + dup_mail))
	tot_doubt=$((tot_doubt + doubt_sms + doubt_mail))
	tot_doubt_sms=$((tot_doubt_sms + doubt_sms))
	tot_doubt_mail=$((tot_doubt_mail + doubt_mail))
	tot_found=$((tot_found + found))
	tot_found_doubt=$((tot_found_doubt + found_doubt))
	tot_failed=$((tot_failed + failed))
	stop_env
	export ML_CONNECTOR_NOW=$NOW0 # esc moved it
done

cat "$T/table"
echo "# ${#combos[@]} combinations, $landed_n SIGKILLs landed; lost $tot_lost; SMS doubled $tot_dup;"
echo "# in doubt $tot_doubt, all settled ($tot_found SMS found in Twilio, the rest sent once);"
echo "# digest rows e-mailed twice $tot_dup_mail, all of e-mails in doubt (SendGrid has no lookup); failed for good $tot_failed"
echo "# SUMMARY: lost $tot_lost; SMS duplicated $tot_dup; digest rows e-mailed twice $((dup_mail_crash + dup_mail_conn))"
echo "#   ($dup_mail_crash after a crash, $dup_mail_conn after a connection lost once SendGrid had read the mail);"
echo "#   in doubt $tot_doubt ($tot_doubt_sms SMS, $tot_doubt_mail e-mails); settled: every SMS ($tot_found_doubt found in"
echo "#   Twilio, $((tot_doubt_sms - tot_found_doubt)) proven unsent and sent once), every e-mail sent again ([sendgrid] in_doubt = resend)"
echo "# (runs: statuses of the faulted run and the recovery runs; sms?/found: SMS in doubt after the"
echo "# faulted run / found in Twilio by the recovery; mail?: e-mails in doubt; calls: AIS/Twilio requests)"
is "$tot_lost/$tot_dup/$((tot_dup_mail - dup_mail_doubt))" "0/0/0" \
	"the matrix, part ${MLC_FM_PART:-1/1}: lost 0, SMS doubled 0, e-mail doubled 0 outside e-mails in doubt"
[ "$landed_n" -gt 0 ]
ok "the kills landed in live stages ($landed_n)"
done_testing
