#!/bin/sh
# ml-connector — the orchestrator: runs alert rules end to end through the
# filters, manages the vault, schedules, status, connectivity checks and the
# demo.  See ml-connector(8).
#
# A run of one rule:
#   jde-fetch -r R --run-id ID | [jde-join -r R] |
#   alert-log --before alert-match | alert-match -r R |
#   alert-log --before alert-render | alert-render -r R |
#   alert-log --before twilio-send | twilio-send | alert-log
# then, for a rule with [resolved], its resolved notices (run_resolved).
# Each tee after a program (--after) records only what that program made:
# a line it passed on unchanged (capped, deferred, suppressed) is one row,
# recorded by the tee before it.
# Each tee makes the checks of the program it feeds: a line that program
# would refuse is quarantined (kept in state.db with its reason) instead of
# being passed on, and the tee exits 65.  Each stage's exit status is
# collected; the rule's watermark is committed (jde-fetch --commit) only
# when every stage exited 0, i.e. when every delivery of the run was
# recorded with its outcome; alert-log's 65 does not count, as what it
# quarantined is kept, named and counted, and repeating the run would only
# meet the same line again: one bad line never blocks a rule.  A failed run is simply
# repeated: the re-alert index (marked only for sent messages) keeps alerts
# already sent from going out again.  Before the pipeline, deliveries an
# interrupted run left queued or unknown are reconciled with Twilio (looked
# up before any resend), and deferred deliveries whose time has come are
# released.  One run per rule at a time: flock(1) on STATE/locks/RULE.lock.
#
# Scheduled runs (run --scheduled, from cron every minute or from a systemd
# timer): `mlc-rule due` is asked first, a cheap read of the state; a due
# rule takes its lock, and `mlc-rule claim` then marks the slots it covers
# as fired, under the lock, before anything runs: one run per slot however
# many schedulers fire, and a failing rule waits for its next slot.
#
# Exit status: 0; 64 usage; 66 no such rule; 75 a run of the rule is in
# progress (without --wait) or a stage failed temporarily; 79 the run went
# through, but Twilio or SendGrid refused deliveries for good (said how
# many and why); otherwise the most serious status of a failed stage (77,
# 78, 69, 74, 70, 65, 75).
set -u

VERSION=@VERSION@
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
PATH=$here:$PATH
export PATH
# Where the example rules and the sample data are (one answer, asked by
# init and demo): the source tree's data/ when this is its bin/; else
# DATADIR as `make install` wrote it into this copy of the script, so the
# PREFIX or DATADIR given at install time holds however the build was made;
# else share/ml-connector beside this bin/ (a tree staged with DESTDIR, or
# moved after installing).
DATA=""
for _d in "$here/../data" "@DATADIR@" "$here/../share/ml-connector"; do
	if [ -d "$_d/rules" ] && [ -d "$_d/jde" ]; then
		DATA=$(CDPATH='' cd -- "$_d" && pwd)
		break
	fi
done
DATA_TRIED="@DATADIR@ and $here/../share/ml-connector"

prog=ml-connector
# say LEVEL MESSAGE: one message on stderr, in the form every program's
# messages take (mlc-conf log: text, ML_CONNECTOR_LOG=json, or journald
# priorities; with the rule and run of ML_CONNECTOR_RULE and
# ML_CONNECTOR_RUN_ID), so that the shell never formats nor escapes one
# itself.  The message goes on stdin, never argv (ps shows argv).  Without
# mlc-conf (a broken install), plain text.
say() {
	_lv=$1
	shift
	if command -v mlc-conf >/dev/null 2>&1; then
		printf '%s\n' "$*" | mlc-conf log "$_lv"
	else
		printf '%s: %s\n' "$prog" "$*" >&2
	fi
}
warn() { say warning "$*"; }
die() {
	_c=$1
	shift
	say error "$*"
	exit "$_c"
}
# bad_option COMMAND OPTION: an option COMMAND does not have, named (64).
bad_option() {
	warn "$1: unknown option $2"
	usage >&2
	exit 64
}
# no_options COMMAND ARG...: COMMAND has no options.  Like run's own loop:
# a first word that looks like one is refused, named, before anything is
# done; "--" ends the options (then shift $_skip drops it), and after the
# first operand every word is an operand (a bad rule name is mlc-rule's 78).
no_options() {
	_cmd=$1
	_skip=0
	shift
	case ${1:-} in
	--) _skip=1 ;;
	-?*) bad_option "$_cmd" "$1" ;;
	esac
}

usage() {
	cat <<EOF
usage: ml-connector [-c CONF] COMMAND [ARGS]
  init [--passphrase]        create the state directory, vault key and a config skeleton
  secret set|list|rm|check   manage the encrypted vault (see mlc-vault(1))
  run [--wait] [--quiet] RULE...
                             run rules end to end;  run --all: every rule
                             --quiet: print nothing when all went well
  run --scheduled RULE...    run each rule whose scheduled slot is due (see mlc-rule due)
  track [RULE]               poll Twilio for sent messages until a final status
  schedule [--cron | --systemd DIR [--user NAME] [--instance NAME]]
                             print crontab lines, or write systemd units to DIR
  status [RULE]              last run, sent, failed, unknown, pending, quarantined,
                             e-mails in doubt per rule
  resend RULE...             send again the e-mails held in doubt ([sendgrid] in_doubt = hold)
  quarantine [list|count|show ID|drop ID...|drop --all] [--rule RULE]
                             lines set aside because a program would refuse them
  why WHAT                   the audit story of a record (its key or a document
                             or PO number), alert, delivery or SID
  ping                       log in to AIS and out; read the Twilio account and
                             the SendGrid key's permissions
  monitor                    evaluate the connector's own health now ([monitor])
  escalate [--quiet] [RULE...]
                             send the escalation steps due now ([escalation])
  check [RULE...]            validate configuration and rules
  preview RULE [FILE]        render FILE's records, or the live AIS's, through RULE;
                             send nothing, move no watermark
  demo [--keep DIR]          run the whole pipeline against the simulators
  version | help
EOF
}

# ---- configuration -----------------------------------------------------

# Every path and setting comes from mlc-conf(1), which asks conf.c as every
# program does: the shell never parses the configuration nor decides a path
# itself.  What it resolved is exported, so that every program of a run
# reads the same file and the same state directory even if the file is
# edited meanwhile; the environment comes before the configuration file in
# every program's order, so the programs would find the same anyway.
CONF=""
setup_env() {
	ML_CONNECTOR_CONF=$(mlc-conf ${CONF:+-c "$CONF"} path) || exit $?
	export ML_CONNECTOR_CONF
	ML_CONNECTOR_STATE=$(mlc-conf state-dir) || exit $?
	ML_CONNECTOR_RULES=$(mlc-conf rules-dir) || exit $?
	export ML_CONNECTOR_STATE ML_CONNECTOR_RULES
}

# ---- init and secrets --------------------------------------------------

# The configuration init writes.  check compares the settings with it, so
# a placeholder left in place is named (one copy of the skeleton: here).
conf_skeleton() {
	cat <<'EOF'
# ml-connector configuration: see ml-connector(5).  No secrets here:
# store them with  ml-connector secret set ais.password  (and
# twilio.auth_token, sendgrid.api_key).
[general]
default_country = 1
timezone = America/Chicago

[ais]
url = https://ais.example.com:9300
user = JDE
environment = JPD920
role = *ALL
device = ml-connector
# ca_bundle = /etc/ml-connector/ais-ca.pem

[twilio]
account_sid = ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
from = +15005550006
rate = 1

[sendgrid]
from = alerts@example.com
EOF
}

cmd_init() {
	for _a in "$@"; do
		case $_a in
		--passphrase) ;;
		-?*) bad_option init "$_a" ;;
		*) die 64 "init [--passphrase]" ;;
		esac
	done
	setup_env
	mkdir -p "$ML_CONNECTOR_STATE" "$ML_CONNECTOR_RULES" || die 74 "cannot create directories"
	chmod 700 "$ML_CONNECTOR_STATE"
	if [ ! -f "$ML_CONNECTOR_CONF" ]; then
		mkdir -p "$(dirname -- "$ML_CONNECTOR_CONF")"
		umask 077
		conf_skeleton >"$ML_CONNECTOR_CONF"
		warn "wrote $ML_CONNECTOR_CONF: edit it"
	fi
	if mlc-vault list >/dev/null 2>&1; then
		warn "vault already set up in $ML_CONNECTOR_STATE"
	else
		mlc-vault init "$@" || exit $?
	fi
	init_rules
	# Scheduled units of a system install run as this user (schedule --systemd).
	if [ "$(id -u)" = 0 ] && ! getent passwd ml-connector >/dev/null 2>&1; then
		service_user_hint ml-connector
	fi
}

# init_rules: the example rules into an empty rules directory, saying what
# was copied, or that nothing was and why.
init_rules() {
	_have=$(find "$ML_CONNECTOR_RULES" -maxdepth 1 -name '*.rule' 2>/dev/null | wc -l | tr -d ' ')
	if [ -n "$(ls -A "$ML_CONNECTOR_RULES" 2>/dev/null)" ]; then
		warn "copied no example rules: $ML_CONNECTOR_RULES is not empty ($_have rules)"
		return 0
	fi
	if [ -z "$DATA" ]; then
		warn "copied no example rules: none found (looked in $DATA_TRIED); copy them from data/rules of the source tree"
		return 0
	fi
	_names=""
	for _f in "$DATA/rules/"*.rule; do
		[ -f "$_f" ] || continue
		cp "$_f" "$ML_CONNECTOR_RULES/" || die 74 "cannot copy $_f to $ML_CONNECTOR_RULES"
		_names="$_names ${_f##*/}"
	done
	if [ -z "$_names" ]; then
		warn "copied no example rules: $DATA/rules holds none"
	else
		warn "copied $(echo "$_names" | wc -w | tr -d ' ') example rules from $DATA/rules to $ML_CONNECTOR_RULES:$_names"
	fi
}

# ---- running rules -----------------------------------------------------

# The most serious of two exit statuses (0 is the least).  79 (deliveries
# refused for good) wants a person, 75 heals by itself: 79 comes first.
worse() {
	for _c in 77 78 69 74 70 66 65 79 75 64; do
		if [ "$1" = "$_c" ] || [ "$2" = "$_c" ]; then
			echo "$_c"
			return
		fi
	done
	if [ "$1" != 0 ]; then echo "$1"; else echo "$2"; fi
}

# note MESSAGE: what a run says when all goes well.  Under run --quiet it
# is kept and said only if the run then fails, with the failure: cron
# mails what a command prints, so a quiet run that prints means trouble.
quiet=0
notes=""
note() {
	if [ "$quiet" = 1 ]; then
		notes="$notes$*
"
	else
		say info "$*"
	fi
}
# notes_say: the notes kept under --quiet, said now (the run failed).
notes_say() {
	[ -z "$notes" ] || printf '%s' "$notes" | mlc-conf log info
}

# stage NAME CMD...: run one pipeline stage, recording its status in $tmp/NAME.
stage() {
	_name=$1
	shift
	"$@"
	echo "$?" >"$tmp/$_name.rc"
}

# rc_of FILE: the status a stage recorded in FILE (its first line, as
# "$(cat FILE)" gives it, with the shell's own read: a run checks some fifty
# of them, and a cat is a process each); status 1 and nothing when there is
# no such file (the stage never ran, or was killed before it ended).
rc_of() {
	[ -r "$1" ] || return 1
	_rcv=
	IFS= read -r _rcv <"$1" || :
	printf '%s\n' "$_rcv"
}

# new_run_id [PREFIX]: an id no other run has, for table run's (rule,
# run_id) key.  The second alone is not enough: `run R R`, or two runs
# started in one second, share it; $$ is the same for every run of one
# invocation (the runs' subshells keep it), so runseq, which the caller
# counts up in the main shell before each run (this function runs in a
# command substitution), tells them apart; and two hosts or containers
# writing one state directory may have the same pid, so a few random
# bytes follow.
runseq=0
new_run_id() {
	printf '%s%s-%s.%s-%s\n' "${1:-}" "$(date -u +%Y%m%dT%H%M%SZ)" "$$" "$runseq" \
		"$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
}

run_rule() {
	rule=$1
	wait_lock=$2
	sched=${3:-0}
	mlc-rule path "$rule" >/dev/null || return $?
	runseq=$((runseq + 1))
	run_id=$(new_run_id)
	locks=$ML_CONNECTOR_STATE/locks
	mkdir -p "$locks" || return 74
	# The lock lives as long as this subshell: a crashed run frees it.
	(
		# Every message of the run, each stage's too, names the rule and
		# the run (util.c); jde-fetch takes the run id from here as well.
		ML_CONNECTOR_RULE=$rule ML_CONNECTOR_RUN_ID=$run_id
		export ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID
		if [ "$wait_lock" = 1 ]; then
			flock 9 || exit 75
		elif ! flock -n 9; then
			if [ "$sched" = 1 ]; then
				warn "rule $rule: a run is already in progress (lock $locks/$rule.lock); the scheduled slot stays due for the next check"
			else
				warn "rule $rule: a run is already in progress (lock $locks/$rule.lock); try again later or use --wait"
			fi
			exit 75
		fi
		if [ "$sched" = 1 ]; then
			# Marked fired now, at the start, whatever the outcome: a
			# rule that fails (a refused password) is not retried at
			# every check; its next slot repeats the run from the
			# watermark.  Status 1: another run took the slot meanwhile.
			slot=$(mlc-rule claim "$rule")
			c=$?
			[ "$c" = 1 ] && exit 0
			[ "$c" = 0 ] || exit "$c"
			note "rule $rule: scheduled run: $slot"
		fi
		run_locked "$rule"
	) 9>"$locks/$rule.lock"
}

# trail [ARGS]: alert-log for the rule and run being run (what it
# quarantines is filed under them).
trail() {
	alert-log --rule "$rule" --run-id "$run_id" "$@"
}

# run_dir: a fresh directory for the run's files (the results hold phone
# numbers and message bodies) in STATE/runs, mode 0700 like the state
# directory, in $tmp, removed when the run ends.  A run killed with SIGKILL
# runs no trap: what it left, under the rule's lock that the caller holds,
# belongs to a dead run of this rule and is removed first.  Not in $TMPDIR,
# where a dead run's files would stay (and be readable as the sysadmin
# set that directory) until someone looked.
run_dir() {
	mkdir -p "$ML_CONNECTOR_STATE/runs" && chmod 700 "$ML_CONNECTOR_STATE/runs" || return 74
	for _d in "$ML_CONNECTOR_STATE/runs/$rule".*; do
		[ -d "$_d" ] || continue
		warn "rule $rule: removing $_d, left by a run that died"
		rm -rf -- "$_d"
	done
	tmp=$(umask 077 && mktemp -d "$ML_CONNECTOR_STATE/runs/$rule.XXXXXX") || return 74
	trap 'rm -rf "$tmp"' EXIT
}

# join_setup: the join stage of $rule's pipeline, for a run and a live
# preview: $join (jde-join, or cat when the rule has no [join], [lookup] or [sums]),
# $fifo and $fsess.  One AIS login per run: jde-fetch hands its session to
# jde-join through a FIFO in the run's 0700 directory $tmp (the token never
# on a disk).  Each stage's group holds its end open for the stage's life
# (the two opens meet, so neither program's own non-blocking open races the
# other's start).
join_setup() {
	# jde-join runs when the rule has [join], [lookup] or [sums] entries.
	if mlc-rule joins "$rule" 2>/dev/null; then
		mkfifo -m 600 "$tmp/session" || return 74
		fifo=$tmp/session
		join="jde-join -r $rule --session-in $fifo"
		fsess="--session-out $fifo"
	else
		join="cat"
		fifo=/dev/null
		fsess=""
	fi
}

# run_resolved: step 4 of a run, for a rule with [resolved] (ml-connector(5)):
# the alerts of the rule sent and not yet resolved (alert-log open), their
# records read again by key in batches (jde-fetch --keys; jde-join when
# the rule joins) into the run's directory, and only once that read is
# complete (a failed read resolves nothing: a record not read would look
# deleted), the alerts that no longer match (alert-match --resolved)
# rendered from [resolved] and sent through the tees as any delivery.
# Its results join $tmp/results; its stages are named in $rstages.  A run
# whose fetch failed (AIS down, a refused password) skips it: the next run
# re-checks.
rstages=""
run_resolved() {
	rstages=""
	grep -q '^\[resolved\]' "$(mlc-rule path "$rule")" || return 0
	[ "$(rc_of "$tmp/fetch.rc")" = 0 ] || return 0
	rstages="xopen"
	{ stage xopen alert-log open --rule "$rule"; } >"$tmp/open"
	[ "$(cat "$tmp/xopen.rc")" = 0 ] && [ -s "$tmp/open" ] || return 0
	rstages="$rstages xfetch xjoin"
	reread x "$tmp/open" "$tmp/reread" || return $?
	[ "$(cat "$tmp/xfetch.rc")" = 0 ] && [ "$(cat "$tmp/xjoin.rc")" = 0 ] || return 0
	rstages="$rstages xmatch xlog1 xrender xlog2 xsend xlog3"
	{ stage xmatch alert-match -r "$rule" --resolved "$tmp/open"; } <"$tmp/reread" |
		{ stage xlog1 trail --before alert-render; } |
		{ stage xrender alert-render -r "$rule"; } |
		{ stage xlog2 trail --before twilio-send --after alert-render; } |
		{ stage xsend twilio-send; } |
		{ stage xlog3 trail --after twilio-send; } >"$tmp/xresults"
	cat "$tmp/xresults" >>"$tmp/results"
}

# reread PREFIX FILE OUT: the records of FILE's keys read again in batches
# (jde-fetch --keys, then jde-join when the rule joins, the session handed
# on through a FIFO of the run's directory as in step 3) into OUT; the
# stages' statuses in $tmp/PREFIXfetch.rc and PREFIXjoin.rc.
reread() {
	if mlc-rule joins "$rule" 2>/dev/null; then
		mkfifo -m 600 "$tmp/$1session" || return 74
		_kfifo=$tmp/$1session
		_kjoin="jde-join -r $rule --session-in $_kfifo"
		_ksess="--session-out $_kfifo"
	else
		_kfifo=/dev/null
		_kjoin="cat"
		_ksess=""
	fi
	# shellcheck disable=SC2086,SC2094 # as the fetch of step 3
	{ stage "$1fetch" jde-fetch -r "$rule" --keys "$2" $_ksess; } 9>"$_kfifo" |
		{ stage "$1join" $_kjoin; } 8<"$_kfifo" >"$3"
}

# run_escalation: for a rule with [escalation] (ml-connector(5)), the steps
# due now: the alerts with a step due, or a step held by quiet hours and due
# for release (alert-log escalations), their records read again by key
# (reread), then alert-match --escalate: a step to its recipients through
# the tees and twilio-send as any delivery, or the escalation's stop
# (acknowledged, no longer matching), recorded.  A read that fails
# escalates on the records as they alerted (--stale): a step late for an AIS
# outage would be a step lost to the person waiting for it.  Results in
# $tmp/eresults; stages in $estages.  Nothing due: no AIS login.
estages=""
run_escalation() {
	estages=""
	: >"$tmp/eresults"
	mlc-rule get "$rule" escalation step >/dev/null 2>&1 || return 0
	estages="edue"
	{ stage edue alert-log escalations --rule "$rule"; } >"$tmp/due"
	[ "$(cat "$tmp/edue.rc")" = 0 ] && [ -s "$tmp/due" ] || return 0
	reread e "$tmp/due" "$tmp/ereread" || return $?
	_stale=""
	if [ "$(cat "$tmp/efetch.rc")" != 0 ] || [ "$(cat "$tmp/ejoin.rc")" != 0 ]; then
		warn "rule $rule: the records of the escalations due could not be read again (jde-fetch exit $(cat "$tmp/efetch.rc"), jde-join exit $(cat "$tmp/ejoin.rc")); escalating on the records as they alerted"
		_stale=--stale
		: >"$tmp/ereread"
	fi
	estages="$estages ematch elog1 erender elog2 esend elog3"
	{ stage ematch alert-match -r "$rule" --escalate "$tmp/due" $_stale; } <"$tmp/ereread" |
		{ stage elog1 trail --before alert-render; } |
		{ stage erender alert-render -r "$rule"; } |
		{ stage elog2 trail --before twilio-send --after alert-render; } |
		{ stage esend twilio-send; } |
		{ stage elog3 trail --after twilio-send; } >"$tmp/eresults"
}

# run_leftovers: step 1 of a run (and of escalate): what interrupted runs
# left queued or unknown, into $tmp/rresults.
run_leftovers() {
	{
		stage replay alert-log replay --rule "$rule" --run-id "$run_id" --status queued
		stage replay2 alert-log replay --rule "$rule" --run-id "$run_id" --status unknown \
			--channel sms,whatsapp
	} |
		{ stage rsend twilio-send --reconcile; } |
		{ stage rlog trail; } >"$tmp/rresults"
}

# run_release: step 2 of a run (and of escalate): deferred deliveries
# whose quiet hours are over, into $tmp/dresults.
run_release() {
	{ stage release alert-render -r "$rule" --release; } |
		{ stage dlog trail --before twilio-send; } |
		{ stage dsend twilio-send; } |
		{ stage dlog2 trail --after twilio-send; } >"$tmp/dresults"
}

run_locked() {
	rule=$1
	run_dir || return 74
	alert-log run begin "$rule" "$run_id" || return $?

	# 0. What recipients sent us, where no webhook takes it ([twilio]
	#    inbound = poll): a STOP is in the trail before anything below is
	#    sent, and twilio-send sends nothing to whoever opted out.  A poll
	#    that fails is said, not a failed run: Twilio refuses a send to an
	#    opted-out number (21610, which marks it too), and the next run
	#    reads the window again.
	if [ "$(mlc-conf get twilio inbound 2>/dev/null)" = poll ]; then
		{ stage inbound twilio-send --poll-inbound; } | { stage ilog trail; } >/dev/null
		for s in inbound ilog; do
			c=$(rc_of "$tmp/$s.rc" || echo 70)
			[ "$c" = 0 ] || warn "rule $rule: polling the messages recipients sent: $s exit $c; opt-outs may be read late"
		done
	fi

	# 1. Leftovers of interrupted runs: queued with no outcome, or unknown.
	#    twilio-send --reconcile looks each up in Twilio before any resend.
	#    An e-mail left unknown cannot be looked up: it is not replayed again
	#    (its alerts, never marked as sent, are rendered again below).
	#    replay checks each line as twilio-send would and quarantines one it
	#    would refuse, handing out the others.
	run_leftovers

	# 1b. Escalation steps due ([escalation]), before the release: a step
	#     held by quiet hours is stopped first if its alert was acknowledged
	#     or resolved meanwhile.
	run_escalation || echo "$?" >"$tmp/edue.rc"

	# 2. Deferred deliveries whose quiet hours are over.
	run_release

	# 3. The rule itself.
	join_setup || return 74
	# shellcheck disable=SC2086,SC2094 # $join, $fsess: plain words; the FIFO is read and written on purpose
	{ stage fetch jde-fetch -r "$rule" --run-id "$run_id" --trailer $fsess; } 9>"$fifo" |
		{ stage join $join; } 8<"$fifo" |
		{ stage log1 trail --before alert-match; } |
		{ stage match alert-match --emit-suppressed --trailer -r "$rule"; } |
		{ stage log2 trail --before alert-render; } |
		{ stage render alert-render -r "$rule"; } |
		{ stage log3 trail --before twilio-send --after alert-render; } |
		{ stage send twilio-send; } |
		{ stage log4 trail --after twilio-send; } >"$tmp/results"

	# 4. Resolved notices ([resolved]).
	run_resolved || echo "$?" >"$tmp/xopen.rc"
	nresolved=$(count_sent "$tmp/xresults")
	nescalated=$(count_sent "$tmp/eresults")
	cat "$tmp/eresults" >>"$tmp/results"

	rc=0
	failed=""
	for s in replay replay2 rsend rlog $estages release dlog dsend dlog2 fetch join log1 match log2 render log3 send log4 $rstages; do
		c=$(rc_of "$tmp/$s.rc" || echo 70)
		case $s:$c in
		replay:65 | replay2:65 | rlog:65 | dlog:65 | dlog2:65 | log[1-4]:65 | xlog[1-3]:65 | elog[1-3]:65)
			# alert-log quarantined lines; everything else went on
			continue ;;
		esac
		if [ "$c" != 0 ]; then
			failed="$failed $s=$c"
			rc=$(worse "$rc" "$c")
		fi
	done
	# What went out, by the way it went: the rule's own deliveries, those
	# released after quiet hours, and those an interrupted run left, looked
	# up and sent now or found sent (the reconcile).  Each result line is
	# one delivery; a capped one went nowhere, and is counted apart.
	sent=$(count_sent "$tmp/results")
	nfail=$(cat "$tmp/rresults" "$tmp/dresults" "$tmp/results" 2>/dev/null | grep -c '"status":"failed"')
	unknown=$(cat "$tmp/rresults" "$tmp/dresults" "$tmp/results" 2>/dev/null | grep -c '"status":"unknown"')
	released=$(count_sent "$tmp/dresults")
	reconciled=$(count_sent "$tmp/rresults")
	capped=$(grep -c '^{"capped":true' "$tmp/results")
	optedout=$(cat "$tmp/rresults" "$tmp/dresults" "$tmp/results" 2>/dev/null | grep -c '"status":"suppressed"')
	nquar=$(alert-log quarantine count --rule "$rule" --run-id "$run_id" 2>/dev/null) || nquar=0
	held=$(cat "$tmp/rresults" "$tmp/results" | grep -c '"in_doubt":"hold"')
	detail="sent $sent"
	[ "$released" = 0 ] || detail="$detail, released after quiet hours $released"
	[ "$reconciled" = 0 ] || detail="$detail, reconciled from an interrupted run $reconciled"
	[ "$nresolved" = 0 ] || detail="$detail, resolved notices $nresolved"
	[ "$nescalated" = 0 ] || detail="$detail, escalations $nescalated"
	detail="$detail, failed $nfail, unknown $unknown, quarantined $nquar"
	[ "$capped" = 0 ] || detail="$detail, capped $capped"
	[ "$optedout" = 0 ] || detail="$detail, not sent (opted out) $optedout"
	if [ "$held" != 0 ]; then
		detail="$detail, e-mails held in doubt $held"
		warn "rule $rule: $held e-mails held in doubt (SendGrid may have sent them and cannot be asked); ml-connector resend $rule sends them again"
	fi
	if [ "$nquar" != 0 ]; then
		warn "rule $rule: $nquar lines quarantined in run $run_id: a program would refuse them; see ml-connector quarantine --rule $rule"
	fi
	if [ "$rc" = 0 ]; then
		jde-fetch --commit "$rule" "$run_id" || rc=$?
	fi
	# Refused for good: a final outcome, recorded, never retried (a
	# retryable failure is twilio-send's 69 above).
	cat "$tmp/rresults" "$tmp/dresults" "$tmp/results" | grep '"status":"failed"' |
		grep -v '"retryable":true' >"$tmp/refused"
	nrefused=$(grep -c . "$tmp/refused")
	if [ "$rc" = 0 ]; then
		alert-log run end "$rule" "$run_id" ok "$detail"
		if [ "$nrefused" = 0 ]; then
			note "rule $rule: run $run_id ok: $detail"
		else
			rc=79
			notes_say
			warn "rule $rule: run $run_id done, but $nrefused deliveries were refused for good and will not be retried: $detail; why (count, code, message):"
			refused_why <"$tmp/refused"
			warn "rule $rule: see ml-connector status $rule and ml-connector why DELIVERY"
		fi
	else
		alert-log run end "$rule" "$run_id" failed "$detail; stages:$failed; watermark kept"
		notes_say
		say error "rule $rule: run $run_id failed (stages:$failed): $detail; the watermark was not moved, the next run repeats it"
	fi
	run_up_gauges
	metrics_write
	return "$rc"
}

# run_up_gauges: the up gauge of each remote system (alert-log metrics up)
# from what the run just ended met there.  AIS: jde-fetch's status (0 up;
# 69 unavailable or 77 refused: down; anything else says nothing of AIS).
# Twilio (sms, whatsapp) and SendGrid (email): up when a delivery on its
# channels was accepted; down when none was and one was left unknown or
# failed for a retryable reason, or a sender exited 69 or 77; else unchanged.
run_up_gauges() {
	case $(rc_of "$tmp/fetch.rc") in
	0) alert-log metrics up ais 1 ;;
	69 | 77) alert-log metrics up ais 0 ;;
	esac
	# AIS refused the credentials (77 of jde-fetch or jde-join) until a
	# fetch goes through: the monitor's auth condition (twilio-send sets
	# Twilio's and SendGrid's itself: it knows which refused).
	if [ "$(rc_of "$tmp/fetch.rc")" = 77 ] || [ "$(rc_of "$tmp/join.rc")" = 77 ]; then
		alert-log metrics refused ais 1
	elif [ "$(rc_of "$tmp/fetch.rc")" = 0 ]; then
		alert-log metrics refused ais 0
	fi
	_down=0
	for _s in rsend dsend send; do
		case $(rc_of "$tmp/$_s.rc") in 69 | 77) _down=1 ;; esac
	done
	cat "$tmp/rresults" "$tmp/dresults" "$tmp/results" 2>/dev/null >"$tmp/allresults"
	for _sys in twilio:'"channel":"\(sms\|whatsapp\)"' sendgrid:'"channel":"email"'; do
		grep -e "${_sys#*:}" "$tmp/allresults" >"$tmp/sysresults"
		if [ "$(count_sent "$tmp/sysresults")" != 0 ]; then
			alert-log metrics up "${_sys%%:*}" 1
		elif grep -q -e '"status":"unknown"' -e '"retryable":true' "$tmp/sysresults" ||
			{ [ "$_down" = 1 ] && [ -s "$tmp/sysresults" ]; }; then
			alert-log metrics up "${_sys%%:*}" 0
		fi
	done
}

# metrics_write: the Prometheus textfile of [metrics] textfile, when set,
# rewritten whole after each run (alert-log metrics --textfile: a reader
# never sees half of it).  A failure is said, never the run's status.
metrics_write() {
	_mf=$(mlc-conf get metrics textfile 2>/dev/null) || return 0
	[ -n "$_mf" ] || return 0
	alert-log metrics --textfile "$_mf" ||
		warn "rule $rule: the metrics were not written to $_mf (above); the run is not affected"
}

# count_sent FILE: the result lines of FILE whose message Twilio or
# SendGrid accepted (a missing file: 0).
count_sent() {
	if [ -f "$1" ]; then
		grep -c '"status":"\(queued\|accepted\|sent\|delivered\|read\)"' "$1"
	else
		echo 0
	fi
}

# refused_why: from twilio-send's result lines of refused deliveries on
# stdin, each distinct error.code and error.message (the order in which
# twilio-send writes them) with its count, the commonest first, at most 5.
refused_why() {
	sed -n 's/.*"error":{"code":"\{0,1\}\([^",]*\)"\{0,1\},"message":"\(\([^"\\]\|\\.\)*\)".*/\1 \2/p' |
		sed -e 's/\\"/"/g' -e 's/\\\\/\\/g' | sort | uniq -c | sort -rn | head -n 5 |
		while read -r _n _code _msg; do
			warn "  $_n x $_code: $_msg"
		done
}

cmd_run() {
	setup_env
	wait_lock=0
	scheduled=0
	all=0
	while [ $# -gt 0 ]; do
		case $1 in
		--wait) wait_lock=1 ;;
		--scheduled) scheduled=1 ;;
		--quiet) quiet=1; ML_CONNECTOR_PROGRESS=no; export ML_CONNECTOR_PROGRESS ;;
		--all) all=1 ;;
		--) shift; break ;;
		-*) bad_option run "$1" ;;
		*) break ;;
		esac
		shift
	done
	if [ "$all" = 1 ]; then
		[ $# -eq 0 ] || die 64 "run --all takes no rule names"
		# shellcheck disable=SC2046 # rule names are [a-z0-9_-]: splitting is intended
		set -- $(mlc-rule list) || exit $?
		[ $# -gt 0 ] || die 66 "no rules in $ML_CONNECTOR_RULES"
	fi
	[ $# -gt 0 ] || die 64 "run: which rule? (or --all)"
	# A rule is run by name: the lock, the trail and the replays are keyed
	# on it, so a path would put the lock file outside the state directory.
	for r in "$@"; do
		case $r in
		*/* | *.rule) die 64 "run: \"$r\" is a path; run takes rule names from $ML_CONNECTOR_RULES" ;;
		esac
	done
	status=0
	ran=0
	for r in "$@"; do
		if [ "$all" = 1 ] || [ "$scheduled" = 1 ]; then
			skip_disabled "$r" || continue
		fi
		if [ "$scheduled" = 1 ]; then
			mlc-rule due "$r"
			d=$?
			[ "$d" = 1 ] && continue
			[ "$d" = 0 ] || { status=$(worse "$status" "$d"); continue; }
		fi
		run_rule "$r" "$wait_lock" "$scheduled"
		_c=$?
		[ "$scheduled" = 0 ] || heartbeat_ping "$r" "$_c"
		status=$(worse "$status" "$_c")
		ran=1
	done
	# once for the runs of this command: rules failing together are one notice
	[ "$ran" = 0 ] || monitor_step
	exit "$status"
}

# heartbeat_ping RULE STATUS: after a scheduled run, the dead man's switch,
# when the vault holds heartbeat.url (twilio-send --heartbeat, which reads
# the URL itself: it is a secret, never on a command line here): ok after a
# run that went through (0, or 79: refused deliveries are the metrics' and
# the trail's, the connector itself works), fail after any other status,
# with the rule and status as the ping's body.  A ping that fails is said
# and never changes the run's status.
heartbeat_ping() {
	mlc-vault list 2>/dev/null | cut -f1 | grep -qx heartbeat.url || return 0
	case $2 in 0 | 79) _sig=ok ;; *) _sig=fail ;; esac
	printf 'ml-connector rule %s: scheduled run, status %s\n' "$1" "$2" |
		twilio-send --heartbeat "$_sig" ||
		warn "rule $1: the heartbeat ($_sig) was not delivered (above); the run's status is not affected"
}

# monitor_step: when [monitor] names someone, the connector's own health
# (alert-log monitor, ml-connector(8) "The monitor") through the delivery
# path as the built-in rule _monitor, under its own lock (one evaluation at
# a time, however many runs end together): first what an interrupted
# notice left queued or unknown, reconciled as a rule's are; then the
# evaluation's notice, if one is due; then, when none of its deliveries
# was accepted, the same notice on the other channel.  Nothing here ever
# changes a run's status: a failure is said (and the notice stays in the
# trail, written again by the next evaluation until its deliveries are
# recorded).
monitor_step() {
	mlc-conf get monitor to >/dev/null 2>&1 || return 0
	mkdir -p "$ML_CONNECTOR_STATE/locks" || return 0
	runseq=$((runseq + 1))
	(
		flock 9 || exit 75
		rule=_monitor
		run_id=$(new_run_id monitor-)
		run_dir || exit 74
		{ stage replay alert-log replay --rule "$rule" --run-id "$run_id" --status queued,unknown; } |
			{ stage rsend twilio-send --reconcile; } |
			{ stage rlog trail; } >"$tmp/rresults"
		for _pass in monitor fallback; do
			_opt=""
			if [ "$_pass" = fallback ]; then
				# only after a pass that did not reach everyone
				[ "$(cat "$tmp/send.rc")" != 0 ] || [ "$(cat "$tmp/rsend.rc")" != 0 ] ||
					grep -q '"status":"\(failed\|unknown\)"' "$tmp/rresults" "$tmp/monitor.results" ||
					break
				_opt=--fallback
			fi
			{ stage eval alert-log monitor ${_opt:+"$_opt"}; } |
				{ stage log1 trail --before alert-render; } |
				{ stage render alert-render -r "$rule"; } |
				{ stage log2 trail --before twilio-send --after alert-render; } |
				{ stage send twilio-send; } |
				{ stage log3 trail --after twilio-send; } >"$tmp/$_pass.results"
			_failed=""
			for _s in eval log1 render log2 send log3; do
				_c=$(rc_of "$tmp/$_s.rc" || echo 70)
				[ "$_c" = 0 ] || _failed="$_failed $_s=$_c"
			done
			[ -z "$_failed" ] || warn "monitor: the $_pass pass failed (stages:$_failed); the notice stays in the trail and goes out again at the next evaluation"
		done
		exit 0
	) 9>"$ML_CONNECTOR_STATE/locks/_monitor.lock"
}

# monitor: the monitor step alone (cron or a timer, for a punctual daily
# summary; runs call it after each run anyway).
cmd_monitor() {
	no_options monitor "$@"
	shift "$_skip"
	[ $# -eq 0 ] || die 64 "monitor takes no arguments"
	setup_env
	mlc-conf get monitor to >/dev/null 2>&1 || die 78 "no [monitor] to = ... in $ML_CONNECTOR_CONF"
	monitor_step
}

# escalate [--quiet] [RULE...]: the escalation steps due now of each rule
# with [escalation] (every enabled one without names), from cron or a timer
# every minute (schedule writes the line or the _escalate timer), so that
# a step due at 14:00 goes out near 14:00 however seldom its rule runs;
# every run of the rule does the same before its own alerts.  A rule with
# nothing due costs one read of the state (alert-log escalations); one
# with something due takes the rule's lock (a run in progress: it does the
# escalation itself, skipped here) and, as a run's steps 1, 1b and 2 do,
# settles what interrupted runs left, takes the steps due, and releases
# deliveries whose quiet hours are over, so a step held until 07:00 goes
# out at 07:00.  No run is recorded, nor the watermark moved.  Exit: the
# worst stage status (0 when nothing was due).
cmd_escalate() {
	_names=0
	while [ $# -gt 0 ]; do
		case $1 in
		--quiet) quiet=1; ML_CONNECTOR_PROGRESS=no; export ML_CONNECTOR_PROGRESS ;;
		--) shift; break ;;
		-*) bad_option escalate "$1" ;;
		*) break ;;
		esac
		shift
	done
	setup_env
	if [ $# -gt 0 ]; then
		_names=1
	else
		# shellcheck disable=SC2046 # rule names are [a-z0-9_-]: splitting is intended
		set -- $(mlc-rule list) || exit $?
	fi
	_erc=0
	for r in "$@"; do
		# one process for a rule without steps (most): the minute's cost
		mlc-rule get "$r" escalation step >/dev/null 2>&1
		_c=$?
		if [ "$_c" = 1 ]; then
			[ "$_names" = 0 ] || warn "rule $r: no [escalation] steps"
			continue
		elif [ "$_c" != 0 ]; then
			mlc-rule get "$r" escalation step >/dev/null # says why
			_erc=$(worse "$_erc" "$_c")
			continue
		fi
		[ "$_names" = 1 ] || skip_disabled "$r" || continue
		_due=$(alert-log escalations --rule "$r" | wc -c)
		[ "$_due" -gt 0 ] || continue
		escalate_rule "$r"
		_erc=$(worse "$_erc" $?)
	done
	exit "$_erc"
}

escalate_rule() {
	rule=$1
	runseq=$((runseq + 1))
	locks=$ML_CONNECTOR_STATE/locks
	mkdir -p "$locks" || return 74
	(
		if ! flock -n 9; then
			note "rule $rule: a run is in progress (lock $locks/$rule.lock); it takes the escalations due"
			exit 0
		fi
		run_id=$(new_run_id escalate-)
		ML_CONNECTOR_RULE=$rule ML_CONNECTOR_RUN_ID=$run_id
		export ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID
		run_dir || exit 74
		run_leftovers
		run_escalation || echo "$?" >"$tmp/edue.rc"
		run_release
		rc=0
		failed=""
		for s in replay replay2 rsend rlog $estages release dlog dsend dlog2; do
			c=$(cat "$tmp/$s.rc" 2>/dev/null || echo 70)
			case $s:$c in
			replay:65 | replay2:65 | rlog:65 | dlog:65 | dlog2:65 | elog[1-3]:65) continue ;;
			esac
			if [ "$c" != 0 ]; then
				failed="$failed $s=$c"
				rc=$(worse "$rc" "$c")
			fi
		done
		detail="escalations $(count_sent "$tmp/eresults"), stopped $(grep -c '"stopped":' "$tmp/eresults"), released after quiet hours $(count_sent "$tmp/dresults"), reconciled $(count_sent "$tmp/rresults")"
		if [ "$rc" = 0 ]; then
			note "rule $rule: escalate $run_id ok: $detail"
		else
			notes_say
			say error "rule $rule: escalate $run_id failed (stages:$failed): $detail; the next check takes it again"
		fi
		metrics_write
		exit "$rc"
	) 9>"$locks/$rule.lock"
}

# skip_disabled RULE: 1, said, for a rule with [rule] enabled = no, which
# run --all, run --scheduled and schedule leave out (run RULE by name still
# runs it: the operator asked for it); 0 otherwise, and for a rule that
# does not load (the run or the schedule then names its error).
skip_disabled() {
	mlc-rule enabled "$1" 2>/dev/null
	[ "$?" = 1 ] || return 0
	note "rule $1: skipped: [rule] enabled = no"
	return 1
}

# resend RULE...: the e-mails of each RULE held in doubt ([sendgrid]
# in_doubt = hold: SendGrid may have sent them and cannot be asked), sent
# again on the operator's word: once each, under the rule's lock (no run of
# the rule at the same time), through the trail.  Exit: the worst status.
cmd_resend() {
	no_options resend "$@"
	shift "$_skip"
	setup_env
	[ $# -gt 0 ] || die 64 "usage: ml-connector resend RULE..."
	_rrc=0
	for r in "$@"; do
		resend_rule "$r"
		_rrc=$(worse "$_rrc" $?)
	done
	return "$_rrc"
}

resend_rule() {
	rule=$1
	mlc-rule path "$rule" >/dev/null || return $?
	runseq=$((runseq + 1))
	locks=$ML_CONNECTOR_STATE/locks
	mkdir -p "$locks" || return 74
	(
		if ! flock -n 9; then
			warn "rule $rule: a run is in progress (lock $locks/$rule.lock); try again later"
			exit 75
		fi
		run_id=$(new_run_id resend-)
		ML_CONNECTOR_RULE=$rule ML_CONNECTOR_RUN_ID=$run_id
		export ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID
		run_dir || exit 74
		{ stage replay alert-log replay --rule "$rule" --run-id "$run_id" --status in_doubt --channel email; } |
			{ stage send twilio-send; } |
			{ stage log trail; } >"$tmp/results"
		rc=0
		for s in replay send log; do
			rc=$(worse "$rc" "$(rc_of "$tmp/$s.rc" || echo 70)")
		done
		n=$(grep -c . "$tmp/results")
		sent=$(grep -c '"status":"\(queued\|accepted\|sent\)"' "$tmp/results")
		warn "rule $rule: resent $n e-mails held in doubt: accepted $sent, failed $(grep -c '"status":"failed"' "$tmp/results"), in doubt again $(grep -c '"status":"unknown"' "$tmp/results")"
		metrics_write
		exit "$rc"
	) 9>"$locks/$rule.lock"
}

cmd_track() {
	no_options track "$@"
	shift "$_skip"
	[ $# -le 1 ] || die 64 "track [RULE]"
	setup_env
	alert-log replay ${1:+--rule "$1"} --status sent --latest 2>/dev/null |
		twilio-send --poll | alert-log
}

# ---- schedules ---------------------------------------------------------

cmd_schedule() {
	setup_env
	mode=""
	dir=""
	user=""
	instance=""
	while [ $# -gt 0 ]; do
		case $1 in
		--cron)
			[ "${mode:-cron}" = cron ] || die 64 "schedule: --cron or --systemd DIR, not both"
			mode=cron ;;
		--systemd | --systemd=*)
			[ "${mode:-systemd}" = systemd ] || die 64 "schedule: --cron or --systemd DIR, not both"
			mode=systemd
			if [ "$1" = --systemd ]; then
				dir=${2:-}
				[ $# -ge 2 ] && shift
			else
				dir=${1#--systemd=}
			fi
			[ -n "$dir" ] || die 64 "schedule --systemd DIR" ;;
		--user | --instance)
			{ [ $# -ge 2 ] && [ -n "$2" ]; } || die 64 "schedule: $1 needs a name"
			if [ "$1" = --user ]; then user=$2; else instance=$2; fi
			shift ;;
		--user=* | --instance=*)
			_v=${1#*=}
			[ -n "$_v" ] || die 64 "schedule: ${1%%=*} needs a name"
			case $1 in --user=*) user=$_v ;; *) instance=$_v ;; esac ;;
		-*) bad_option schedule "$1" ;;
		*) usage >&2; exit 64 ;;
		esac
		shift
	done
	mode=${mode:-cron}
	if [ "$mode" = cron ] && { [ -n "$user" ] || [ -n "$instance" ]; }; then
		die 64 "schedule: --user and --instance go with --systemd DIR"
	fi
	self=$(command -v ml-connector || echo "$here/ml-connector")
	if [ "$mode" = systemd ]; then
		unit_setup || exit $?
	fi
	for r in $(mlc-rule list); do
		skip_disabled "$r" || continue
		if [ "$mode" = cron ]; then
			line=$(mlc-rule cron "$r") || exit $?
			fields=${line%%	*}
			zone=${line#*	}
			# cron(8) runs in the host's zone, whatever that is, and a
			# slot in the rule's zone can fall on any minute of it (zone
			# offsets of :30 and :45, DST gaps ending at any minute):
			# the line fires every minute and --scheduled decides, a
			# cheap read of the state when nothing is due.  --quiet: a
			# run that goes well prints nothing, so cron mails trouble.
			printf '# %s: %s (%s)\n* * * * * ML_CONNECTOR_CONF=%s %s run --scheduled --quiet %s\n' \
				"$r" "$fields" "$zone" "$ML_CONNECTOR_CONF" "$self" "$r"
		else
			write_units "$r" || exit $?
		fi
	done
	# Escalation ([escalation] steps in an enabled rule): every run of the
	# rule takes the steps due, and this line or timer besides, every
	# minute, so that a step goes out at its time, not at the rule's next
	# run (an hourly rule would be up to an hour late, a daily one a day).
	# Its unit is named _escalate, a name no rule can take.
	_esc=0
	for r in $(mlc-rule list); do
		mlc-rule enabled "$r" 2>/dev/null || continue
		mlc-rule get "$r" escalation step >/dev/null 2>&1 && _esc=1
	done
	if [ "$_esc" = 1 ]; then
		if [ "$mode" = cron ]; then
			printf '# escalation ([escalation]): the steps due, every minute\n* * * * * ML_CONNECTOR_CONF=%s %s escalate --quiet\n' \
				"$ML_CONNECTOR_CONF" "$self"
		else
			write_units _escalate '*-*-* *:*:00' "escalate --quiet" "escalation" || exit $?
		fi
	fi
	# The monitor ([monitor] to set): its step after every run, and this
	# line or timer besides, every minute, so that the daily summary goes
	# at its time and a condition is told when no rule runs (the step is
	# cheap when there is nothing to tell).  Its unit is named _monitor, a
	# name no rule can take.
	if [ -n "$(mlc-conf get monitor to 2>/dev/null)" ]; then
		if [ "$mode" = cron ]; then
			printf '# the monitor ([monitor]): its conditions and its summary, every minute\n* * * * * ML_CONNECTOR_CONF=%s %s monitor\n' \
				"$ML_CONNECTOR_CONF" "$self"
		else
			write_units _monitor '*-*-* *:*:00' monitor "monitor" || exit $?
		fi
	fi
}

# unit_setup: for schedule --systemd, the instance (the configuration's
# [ais] environment, lowercased: PD and PY configurations on one host get
# units of their own; without one, the file's name, or "default"), the service user (ml-connector for root, else the
# user writing the units, who owns the state) and ProtectHome (read-only
# where a path the run needs lies under /home, /root or /run/user;
# PrivateTmp off where one lies under /tmp, which it would hide).
unit_setup() {
	if [ -z "$instance" ]; then
		instance=$(mlc-conf get ais environment 2>/dev/null | tr '[:upper:]' '[:lower:]')
		[ -n "$instance" ] || instance=$(basename -- "$ML_CONNECTOR_CONF" .conf)
		[ "$instance" != ml-connector ] || instance=default
	fi
	instance=$(printf '%s' "$instance" | tr -c 'A-Za-z0-9_-' '-')
	if [ -z "$user" ]; then
		if [ "$(id -u)" = 0 ]; then user=ml-connector; else user=$(id -un); fi
	fi
	case $user in
	*[!A-Za-z0-9_.-]* | -*) die 64 "schedule: --user \"$user\" is not a user name" ;;
	esac
	protect_home=yes
	private_tmp=yes
	for _p in "$ML_CONNECTOR_CONF" "$ML_CONNECTOR_STATE" "$ML_CONNECTOR_RULES" "$self"; do
		case $_p in
		*'
'* | *'"'* | *\\*) die 78 "schedule: \"$_p\": a path with a newline, a quote or a backslash cannot go into a unit" ;;
		/home/* | /root/* | /run/user/*) protect_home=read-only ;;
		/tmp/* | /var/tmp/*) private_tmp=no ;;
		esac
	done
	[ "$private_tmp" = yes ] ||
		warn "schedule: the configuration, state or rules lie under /tmp or /var/tmp: the units go without PrivateTmp=yes"
	mkdir -p "$dir" || exit 74
	getent passwd "$user" >/dev/null 2>&1 || service_user_hint "$user"
	return 0
}

# service_user_hint USER: how to make USER the owner of the state (init
# and schedule say it; neither creates an account on its own).
service_user_hint() {
	warn "scheduled runs run as user $1, which does not exist; create it and give it the state:"
	warn "  useradd --system --home-dir $ML_CONNECTOR_STATE --shell /usr/sbin/nologin $1"
	warn "  chown -R $1: $ML_CONNECTOR_STATE"
	warn "and run administrative commands as that user (runuser -u $1 -- ml-connector ...)"
}

# metrics_unit_line: the ReadWritePaths= line the [metrics] textfile's
# directory needs under ProtectSystem=strict (nothing when none is set).
metrics_unit_line() {
	_mf=$(mlc-conf get metrics textfile 2>/dev/null) || return 0
	[ -n "$_mf" ] || return 0
	echo "ReadWritePaths=$(unit_q "$(dirname -- "$_mf")")"
}

# unit_q VALUE: VALUE as a quoted word of a unit file (% is a specifier,
# $ an expansion in ExecStart; paths with " \ or newline were refused).
unit_q() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/%/%%/g' -e 's/\$/$$/g')"; }

# write_units RULE: DIR/ml-connector-INSTANCE-RULE.service and .timer.  A
# unit of that name written for another configuration is not overwritten.
write_units() {
	_r=$1
	_u=$dir/ml-connector-$instance-$_r
	if [ $# -gt 1 ]; then
		cal=$2 _exec=$3 _what=$4
	else
		cal=$(mlc-rule oncalendar "$_r") || return $?
		_exec="run --scheduled --wait $_r" _what="rule $_r"
	fi
	if [ -f "$_u.service" ] &&
		! grep -qxF "Environment=$(unit_q "ML_CONNECTOR_CONF=$ML_CONNECTOR_CONF")" "$_u.service"; then
		die 78 "$_u.service was written for another configuration; give this one its own name with --instance NAME"
	fi
	if [ -f "$dir/ml-connector-$_r.timer" ] &&
		grep -qxF "Environment=ML_CONNECTOR_CONF=$ML_CONNECTOR_CONF" "$dir/ml-connector-$_r.service" 2>/dev/null; then
		warn "$dir/ml-connector-$_r.timer is this rule's unit of the name without instance: disable and remove it (systemctl disable --now ml-connector-$_r.timer)"
	fi
	cat >"$_u.service" <<EOF
[Unit]
Description=ml-connector $_what ($instance)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User=$user
Environment=$(unit_q "ML_CONNECTOR_CONF=$ML_CONNECTOR_CONF")
Environment=$(unit_q "ML_CONNECTOR_STATE=$ML_CONNECTOR_STATE")
Environment=$(unit_q "ML_CONNECTOR_RULES=$ML_CONNECTOR_RULES")
ExecStart=$(unit_q "$self") $_exec
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$(unit_q "$ML_CONNECTOR_STATE")
$(metrics_unit_line)
ProtectHome=$protect_home
PrivateTmp=$private_tmp
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
EOF
	{
		printf '[Unit]\nDescription=ml-connector %s (%s) schedule\n\n[Timer]\n' "$_what" "$instance"
		printf '%s\n' "$cal" | sed 's/^/OnCalendar=/'
		printf 'AccuracySec=1s\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n'
	} >"$_u.timer"
	printf '%s\n' "$cal" | while IFS= read -r c; do
		echo "$_u.timer: OnCalendar=$c"
	done
}

# ---- status, ping, check, preview ---------------------------------------

cmd_ping() {
	no_options ping "$@"
	shift "$_skip"
	[ $# -eq 0 ] || die 64 "ping takes no arguments"
	setup_env
	rc=0
	ping_one AIS jde-fetch --ping
	ping_one Twilio twilio-send --ping
	# e-mail: the key itself, asked of SendGrid (GET /v3/scopes), when set up
	if mlc-conf get sendgrid from >/dev/null 2>&1; then
		ping_one SendGrid twilio-send --ping-sendgrid
	else
		echo "SendGrid: not configured ([sendgrid] from is not set)"
	fi
	exit "$rc"
}

# ping_one NAME CMD...: "NAME: ok", or "NAME: failed (STATUS)" with the
# worse status kept in rc.
ping_one() {
	_name=$1
	shift
	if "$@"; then
		echo "$_name: ok"
	else
		c=$?
		echo "$_name: failed ($c)"
		rc=$(worse "$rc" "$c")
	fi
}

# check: every rule through the checks of the programs that read it, the
# vault, and the settings a run would trip over.  Exit status: the most
# serious status of a failed check (a rule error: 78); warnings alone
# leave it 0.
cmd_check() {
	no_options check "$@"
	shift "$_skip"
	setup_env
	rc=0
	[ -r "$ML_CONNECTOR_CONF" ] || die 78 "$ML_CONNECTOR_CONF: no configuration (ml-connector init)"
	mlc-vault check >/dev/null || rc=$(worse "$rc" "$?")
	jde-fetch --show-refusal
	check_skeleton
	alert-log monitor --check || rc=$(worse "$rc" "$?")
	# shellcheck disable=SC2046 # rule names are [a-z0-9_-]: splitting is intended
	[ $# -gt 0 ] || set -- $(mlc-rule list)
	for r in "$@"; do
		ok=1
		for t in "mlc-rule cron" "alert-match --check -r" "alert-render --check -r" \
			"jde-fetch --dry-run -r"; do
			# shellcheck disable=SC2086 # $t is a command line of plain words
			$t "$r" >/dev/null
			c=$?
			if [ "$c" != 0 ]; then
				ok=0
				rc=$(worse "$rc" "$c")
			fi
		done
		if [ "$ok" = 1 ]; then
			check_rule_warnings "$r"
			if mlc-rule enabled "$r" 2>/dev/null; then
				echo "$r: ok"
			else
				echo "$r: ok (enabled = no: run --all and schedules leave it out)"
			fi
		else
			echo "$r: errors (above)"
		fi
	done
	exit "$rc"
}

# check_skeleton: a warning for each setting still at the value init wrote
# as a placeholder (a run would fail on it, or send from a test number).
check_skeleton() {
	_sk=$(mktemp "${TMPDIR:-/tmp}/ml-connector-skel.XXXXXX") || exit 74
	conf_skeleton >"$_sk"
	for _k in "ais url" "twilio account_sid" "twilio from" "sendgrid from"; do
		# shellcheck disable=SC2086 # "SECTION KEY": two words
		_v=$(mlc-conf get $_k 2>/dev/null) || continue
		# shellcheck disable=SC2086
		_s=$(mlc-conf -c "$_sk" get $_k 2>/dev/null) || continue
		[ "$_v" = "$_s" ] &&
			warn "warning: $ML_CONNECTOR_CONF: [${_k% *}] ${_k#* } is still the skeleton's placeholder ($_v): set it"
	done
	rm -f "$_sk"
}

# check_rule_warnings RULE: settings that are valid but will not do what
# they seem to say.  Quiet hours hold SMS and WhatsApp only, never e-mail
# (ml-connector(5) [limits]).
check_rule_warnings() {
	_ch=" $(mlc-rule get "$1" recipients channels 2>/dev/null) $(mlc-rule get "$1" digest channel 2>/dev/null) "
	# WhatsApp takes free-form text only within 24 hours of the
	# recipient's last message; an alert needs a template (twilio-send(1)).
	case $_ch in
	*[\ ,]whatsapp[\ ,]*)
		mlc-rule get "$1" message whatsapp_template >/dev/null 2>&1 ||
			warn "warning: $1: WhatsApp without [message] whatsapp_template: outside the recipient's 24-hour window Twilio refuses free-form text (63016)"
		;;
	esac
	# Reply codes ask for replies: something must read them (ml-connector(7), Replies).
	case $(mlc-rule get "$1" message reply_code 2>/dev/null) in
	yes | true)
		[ "$(mlc-conf get twilio inbound 2>/dev/null)" = poll ] ||
			mlc-conf get twilio inbound_url >/dev/null 2>&1 ||
			warn "warning: $1: [message] reply_code = yes, but no reply reaches ml-connector: set [twilio] inbound_url (twilio-status(8)) or inbound = poll"
		mlc-rule get "$1" message whatsapp_template >/dev/null 2>&1 &&
			warn "warning: $1: [message] reply_code: a WhatsApp template has no text to print a code in; ACK alone or ACK with the document number still acknowledges"
		;;
	esac
	_q=$(mlc-rule get "$1" limits quiet_hours 2>/dev/null) || return 0
	case $_ch in
	*[\ ,]email[\ ,]*)
		warn "warning: $1: [limits] quiet_hours ($_q) holds SMS and WhatsApp only: e-mail is sent during quiet hours"
		;;
	esac
}

# preview RULE [FILE]: what the rule would send, rendered on stdout and
# sent to no one.  FILE: its records.  Without FILE, the records come from
# the live AIS: jde-fetch --no-state reads from the watermark and stores no
# pending position, jde-join when the rule joins; match and render without
# state.  No lock (nothing of the rule's state changes), no alert-log tee
# (nothing recorded) but the one preview row at the end.
cmd_preview() {
	no_options preview "$@"
	shift "$_skip"
	setup_env
	[ $# -eq 1 ] || [ $# -eq 2 ] || die 64 "preview RULE [FILE]"
	if [ $# -eq 2 ]; then
		[ -r "$2" ] || die 66 "$2: cannot read"
		alert-match --no-state -r "$1" <"$2" | alert-render --no-state -r "$1"
		return
	fi
	rule=$1
	case $rule in
	*/* | *.rule) die 64 "preview: \"$rule\" is a path; a live preview takes a rule name from $ML_CONNECTOR_RULES" ;;
	esac
	mlc-rule path "$rule" >/dev/null || exit $?
	run_id=$(new_run_id preview-)
	ML_CONNECTOR_RULE=$rule ML_CONNECTOR_RUN_ID=$run_id
	export ML_CONNECTOR_RULE ML_CONNECTOR_RUN_ID
	# the rendered lines come to this terminal: no progress line among them
	if [ -t 1 ]; then
		ML_CONNECTOR_PROGRESS=no
		export ML_CONNECTOR_PROGRESS
	fi
	# Its own directory (a dot name: no run's clean-up of dead runs,
	# runs/RULE.*, ever takes it for one of its own).
	mkdir -p "$ML_CONNECTOR_STATE/runs" && chmod 700 "$ML_CONNECTOR_STATE/runs" || exit 74
	tmp=$(umask 077 && mktemp -d "$ML_CONNECTOR_STATE/runs/.preview-$rule.XXXXXX") || exit 74
	trap 'rm -rf "$tmp"' EXIT
	join_setup || exit 74
	[ "$join" = cat ] || join="$join --no-state"
	# shellcheck disable=SC2086,SC2094 # as in run_locked
	{ stage fetch jde-fetch -r "$rule" --no-state $fsess; } 9>"$fifo" |
		{ stage join $join; } 8<"$fifo" | tee "$tmp/records" |
		{ stage match alert-match --no-state -r "$rule"; } | tee "$tmp/alerts" |
		{ stage render alert-render --no-state -r "$rule"; } | tee "$tmp/deliveries"
	rc=0
	failed=""
	for s in fetch join match render; do
		c=$(rc_of "$tmp/$s.rc" || echo 70)
		if [ "$c" != 0 ]; then
			failed="$failed $s=$c"
			rc=$(worse "$rc" "$c")
		fi
	done
	detail="records $(grep -c . "$tmp/records"), alerts $(grep -c '"alert_id"' "$tmp/alerts"), deliveries $(grep -c '"delivery_id"' "$tmp/deliveries"); nothing sent, the watermark not moved"
	if [ "$rc" = 0 ]; then
		alert-log run preview "$rule" "$run_id" ok "$detail" || rc=$?
		say info "rule $rule: preview $run_id: $detail"
	else
		alert-log run preview "$rule" "$run_id" failed "$detail; stages:$failed"
		say error "rule $rule: preview $run_id failed (stages:$failed): $detail"
	fi
	exit "$rc"
}

# ---- demo --------------------------------------------------------------

cmd_demo() {
	keep=""
	while [ $# -gt 0 ]; do
		case $1 in
		--keep) [ $# -ge 2 ] || die 64 "demo [--keep DIR]"; keep=$2; shift ;;
		--keep=*) keep=${1#--keep=} ;;
		-*) bad_option demo "$1" ;;
		*) die 64 "demo [--keep DIR]" ;;
		esac
		shift
	done
	for t in mlc-conf jde-fetch jde-join alert-match alert-render twilio-send alert-log; do
		command -v "$t" >/dev/null || die 69 "$t is not built (run make)"
	done
	[ -n "$DATA" ] || die 69 "no sample data (looked in $DATA_TRIED)"
	# The simulators are not part of `make install` (sim/, make install-sim).
	for t in mlc-ais-sim mlc-twilio-sim; do
		command -v "$t" >/dev/null || die 69 "$t is not built or installed (run make, or make install-sim)"
	done
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && w=$(CDPATH='' cd -- "$keep" && pwd) || exit 74
	else
		w=$(mktemp -d "${TMPDIR:-/tmp}/ml-connector-demo.XXXXXX") || exit 74
	fi
	pids=""
	# shellcheck disable=SC2317 # called by the trap
	cleanup() {
		for p in $pids; do kill "$p" 2>/dev/null; done
		for p in $pids; do wait "$p" 2>/dev/null; done
		[ -n "$keep" ] || rm -rf "$w"
	}
	trap cleanup EXIT INT TERM
	umask 077
	mkdir -p "$w/sim" "$w/rules" "$w/state"
	# The demo's secrets: random, in 0600 files for the simulators, and in
	# the vault for our programs; never on a command line.
	secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
	secret >"$w/sim/ais.password"
	secret >"$w/sim/twilio.token"
	secret >"$w/sim/sendgrid.key"
	sid=AC$(secret)
	today=${DEMO_TODAY:-2026-11-26}
	ML_CONNECTOR_NOW=${today}T14:00:00Z
	ML_CONNECTOR_CONF=$w/ml-connector.conf
	ML_CONNECTOR_STATE=$w/state
	ML_CONNECTOR_RULES=$w/rules
	export ML_CONNECTOR_NOW ML_CONNECTOR_CONF ML_CONNECTOR_STATE ML_CONNECTOR_RULES

	echo "== Starting the AIS Server simulator and the Twilio simulator on loopback"
	mlc-ais-sim --port 0 --port-file "$w/sim/ais.port" --request-log "$w/sim/ais.log" \
		--data "$DATA/jde" --user JDE --password-file "$w/sim/ais.password" \
		--today "$today" 2>"$w/sim/ais.err" &
	pids="$pids $!"
	mlc-twilio-sim --port 0 --port-file "$w/sim/twilio.port" --request-log "$w/sim/twilio.log" \
		--account-sid "$sid" --auth-token-file "$w/sim/twilio.token" \
		--sendgrid-key-file "$w/sim/sendgrid.key" 2>"$w/sim/twilio.err" &
	pids="$pids $!"
	i=0
	while { [ ! -s "$w/sim/ais.port" ] || [ ! -s "$w/sim/twilio.port" ]; } && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -s "$w/sim/ais.port" ] || [ ! -s "$w/sim/twilio.port" ]; then
		cat "$w/sim/ais.err" "$w/sim/twilio.err" >&2
		die 69 "the simulators did not start"
	fi
	ais=http://127.0.0.1:$(cat "$w/sim/ais.port")
	tw=http://127.0.0.1:$(cat "$w/sim/twilio.port")
	echo "   AIS $ais   Twilio $tw   (today is $today in the sample data)"

	cat >"$ML_CONNECTOR_CONF" <<EOF
[general]
default_country = 1
timezone = America/Chicago

[ais]
url = $ais
user = JDE
environment = JDV920
role = *ALL
device = ml-connector-demo

[twilio]
account_sid = $sid
from = +15005550006
rate = 20
base_url = $tw
# recipients' replies (STOP, ACK) are read at the start of each run
inbound = poll

[sendgrid]
from = alerts@hartmann.example
from_name = JDE Alerts
base_url = $tw
EOF
	cp "$DATA/rules/high-value-po.rule" "$DATA/rules/ap-aging.rule" "$w/rules/"
	# PO texts end with their reply code ("Reply ACK 1"): see the acknowledgement below
	sed 's/^max_segments = 2$/&\nreply_code = yes/' "$DATA/rules/high-value-po.rule" \
		>"$w/rules/high-value-po.rule"
	# One escalation: a high-value PO nobody acknowledged within 2 hours
	# goes to the controller (address number 2005 of the sample data).
	sed -i 's/^director = 2001$/&\ncontroller = 2005/' "$w/rules/high-value-po.rule"
	printf '\n[escalation]\n# not acknowledged within 2 hours: the controller\nstep = 2h contact:controller\n' \
		>>"$w/rules/high-value-po.rule"
	mlc-vault init >/dev/null || exit $?
	mlc-vault set ais.password <"$w/sim/ais.password" || exit $?
	mlc-vault set twilio.auth_token <"$w/sim/twilio.token" || exit $?
	mlc-vault set sendgrid.api_key <"$w/sim/sendgrid.key" || exit $?

	echo
	echo "== ml-connector ping"
	cmd_ping_quiet=$( (cmd_ping) 2>&1) ; echo "$cmd_ping_quiet" | sed 's/^/   /'

	echo
	echo "== ml-connector run high-value-po ap-aging"
	(cmd_run high-value-po ap-aging)
	rc=$?

	echo
	echo "== What the Twilio simulator received"
	curl -fsS "$tw/_sim/messages" >"$w/sim/messages.json" || die 69 "cannot read the simulator"
	show_messages "$w/sim/messages.json"

	echo
	echo "== Looked up in JDE for the messages ([lookup]): an item description (F4101)"
	echo "   and a G/L account name (F0901)"
	show_lookups "$w/sim/messages.json"

	echo
	echo "== ml-connector track   (poll Twilio until each message is final)"
	(cmd_track) >/dev/null 2>"$w/track.err"
	alert-log query --stage delivered -f csv | tail -n +2 | wc -l | sed 's/^ */   delivered: /'
	alert-log query --stage undelivered -f csv | tail -n +2 | wc -l | sed 's/^ */   undelivered: /'

	echo
	echo "== ml-connector status"
	alert-log status | sed 's/^/   /'

	echo
	k=$(alert-log query --stage sent --rule ap-aging --limit 1 | jq -r '.record_key // empty')
	echo "== The audit trail of one overdue invoice: ml-connector why '$k'"
	[ -n "$k" ] && alert-log why "$k" | sed 's/^/   /'

	echo
	# An acknowledgement: the first PO text's recipient replies with its code.
	alert-log query --stage queued --rule high-value-po -f ndjson --lines |
		jq -r '.line | fromjson | select(.channel == "sms" and .reply_code != null) |
			"\(.to) \(.reply_code) \(.alert_id)"' >"$w/acks"
	read -r ato acode aid <"$w/acks" || ato=""
	if [ -n "$ato" ]; then
		echo "== $ato replies \"ack $acode\" to the PO text that ended \"Reply ACK $acode\""
		curl -fsS -X POST "$tw/_sim/inbound" --data-urlencode "From=$ato" \
			--data-urlencode To=+15005550006 --data-urlencode "Body=ack $acode" >/dev/null ||
			die 69 "cannot reach the simulator"
	fi

	echo
	echo "== Running the same rules again: the reply is read first; nothing is sent twice"
	(cmd_run high-value-po ap-aging)
	curl -fsS "$tw/_sim/messages" | count_messages
	if [ -n "$ato" ]; then
		echo
		echo "== Who acknowledged that PO, and when: ml-connector why '$aid'"
		alert-log why "$aid" | grep -E '^[^ ].* (queued|sent|acked) ' | sed 's/^/   /'
	fi

	echo
	echo "== Two hours later nobody has acknowledged a PO: ml-connector escalate"
	echo "   ([escalation] step = 2h contact:controller; schedule runs it every minute)"
	ML_CONNECTOR_NOW=${today}T16:00:00Z
	(cmd_escalate high-value-po) 2>"$w/escalate.err"
	curl -fsS "$tw/_sim/messages" |
		jq -c 'select(.kind == "message" and (.resource.body // "" | startswith("Escalated")))' \
			>"$w/sim/escalated.json"
	show_messages "$w/sim/escalated.json"
	curl -fsS "$tw/_sim/messages" |
		jq -c 'select(.kind == "mail" and (.mail.subject | startswith("[escalated]")))' |
		grep -c . | sed 's/^/   and as many e-mails: /'
	k=$(alert-log query --stage escalated --rule high-value-po --limit 1 | jq -r '.record_key // empty')
	[ -n "$k" ] && alert-log why "$k" 2>/dev/null | grep -e escalat -e 'message: Escalated' | sed 's/^/   /'
	[ -n "$keep" ] && echo "(state, config and logs kept in $w)"
	return "$rc"
}

# Print the simulator's accepted messages, one per line (jq: the demo's
# setup installs it; nothing else in ml-connector needs it).
show_messages() {
	jq -r 'if .kind == "message" then
		"   \(if (.resource.to | startswith("whatsapp:")) then "WHATSAPP" else "SMS     " end) \(.resource.to)  [\(.resource.status)]  \(.resource.body | gsub("\n"; "\n      "))"
	else
		"   EMAIL    \(.mail.personalizations[0].to[0].email)  \(.mail.subject)"
	end' "$1"
}

# One PO text with its largest lines' item descriptions, and one overdue
# invoice's row of the finance digest with the G/L account it is charged to.
show_lookups() {
	jq -r 'select(.kind == "message" and (.resource.body | startswith("PO ")))
		| "   SMS      " + .resource.body' "$1" | head -n 1
	jq -r 'select(.kind != "message" and (.mail.personalizations[0].to[0].email | startswith("finance@")))
		| .mail.content[0].value | split("\n")[] | select(startswith("123457 "))
		| "   EMAIL    " + gsub("  +"; "  ")' "$1" | head -n 1
}

count_messages() {
	n=$(grep -c . || true)
	echo "   the Twilio simulator holds $n messages in all"
}

# ---- main ----------------------------------------------------------------

while [ $# -gt 0 ]; do
	case $1 in
	-c) [ $# -ge 2 ] || die 64 "-c needs a file"; CONF=$2; shift 2 ;;
	-c?*) CONF=${1#-c}; shift ;;
	--help|-h|help) usage; exit 0 ;;
	--version|version) echo "ml-connector $VERSION"; exit 0 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { usage >&2; exit 64; }
cmd=$1
shift
case $cmd in
init) cmd_init "$@" ;;
secret) setup_env; exec mlc-vault "$@" ;;
run) cmd_run "$@" ;;
track) cmd_track "$@" ;;
schedule) cmd_schedule "$@" ;;
status)
	setup_env
	jde-fetch --show-refusal # why no rule reads AIS, when that holds (stderr)
	exec alert-log status "$@"
	;;
quarantine) setup_env; exec alert-log quarantine "$@" ;;
resend) cmd_resend "$@" ;;
why) setup_env; exec alert-log why "$@" ;;
ping) cmd_ping "$@" ;;
check) cmd_check "$@" ;;
preview) cmd_preview "$@" ;;
monitor) cmd_monitor "$@" ;;
escalate) cmd_escalate "$@" ;;
demo) cmd_demo "$@" ;;
*) warn "unknown command \"$cmd\""; usage >&2; exit 64 ;;
esac
