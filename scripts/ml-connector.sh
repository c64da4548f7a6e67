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
# progress (without --wait) or a stage failed temporarily; otherwise the
# most serious status of a failed stage (77, 78, 69, 74, 70, 65, 75).
set -u

VERSION=@VERSION@
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
PATH=$here:$PATH
export PATH
if [ -d "$here/../data/jde" ]; then
	DATA=$(CDPATH='' cd -- "$here/../data" && pwd)
else
	DATA=@DATADIR@
fi

prog=ml-connector
warn() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() {
	_c=$1
	shift
	warn "$*"
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
  run [--wait] RULE...       run rules end to end;  run --all: every rule
  run --scheduled RULE...    run each rule whose scheduled slot is due (see mlc-rule due)
  track [RULE]               poll Twilio for sent messages until a final status
  schedule [--cron | --systemd DIR]
                             print crontab lines, or write systemd units to DIR
  status [RULE]              last run, sent, failed, unknown, pending, quarantined,
                             e-mails in doubt per rule
  resend RULE...             send again the e-mails held in doubt ([sendgrid] in_doubt = hold)
  quarantine [list|count|show ID|drop ID...|drop --all] [--rule RULE]
                             lines set aside because a program would refuse them
  why WHAT                   the audit story of a record, alert, delivery or SID
  ping                       log in to AIS and out; read the Twilio account
  check [RULE...]            validate configuration and rules
  preview RULE FILE          render FILE's records through RULE, send nothing
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
	if [ -z "$(ls -A "$ML_CONNECTOR_RULES" 2>/dev/null)" ] && [ -d "$DATA/rules" ]; then
		cp "$DATA/rules/"*.rule "$ML_CONNECTOR_RULES/" &&
			warn "copied the example rules to $ML_CONNECTOR_RULES"
	fi
}

# ---- running rules -----------------------------------------------------

# The most serious of two exit statuses (0 is the least).
worse() {
	for _c in 77 78 69 74 70 66 65 75 64; do
		if [ "$1" = "$_c" ] || [ "$2" = "$_c" ]; then
			echo "$_c"
			return
		fi
	done
	if [ "$1" != 0 ]; then echo "$1"; else echo "$2"; fi
}

# stage NAME CMD...: run one pipeline stage, recording its status in $tmp/NAME.
stage() {
	_name=$1
	shift
	"$@"
	echo "$?" >"$tmp/$_name.rc"
}

run_rule() {
	rule=$1
	wait_lock=$2
	sched=${3:-0}
	mlc-rule path "$rule" >/dev/null || return $?
	locks=$ML_CONNECTOR_STATE/locks
	mkdir -p "$locks" || return 74
	# The lock lives as long as this subshell: a crashed run frees it.
	(
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
			warn "rule $rule: scheduled run: $slot"
		fi
		run_locked "$rule"
	) 9>"$locks/$rule.lock"
}

# trail [ARGS]: alert-log for the rule and run being run (what it
# quarantines is filed under them).
trail() {
	alert-log --rule "$rule" --run-id "$run_id" "$@"
}

run_locked() {
	rule=$1
	run_id=$(date -u +%Y%m%dT%H%M%SZ)-$$
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ml-connector.XXXXXX") || return 74
	trap 'rm -rf "$tmp"' EXIT
	alert-log run begin "$rule" "$run_id" || return $?

	# 1. Leftovers of interrupted runs: queued with no outcome, or unknown.
	#    twilio-send --reconcile looks each up in Twilio before any resend.
	#    An e-mail left unknown cannot be looked up: it is not replayed again
	#    (its alerts, never marked as sent, are rendered again below).
	#    replay checks each line as twilio-send would and quarantines one it
	#    would refuse, handing out the others.
	{
		stage replay alert-log replay --rule "$rule" --run-id "$run_id" --status queued
		stage replay2 alert-log replay --rule "$rule" --run-id "$run_id" --status unknown \
			--channel sms,whatsapp
	} |
		{ stage rsend twilio-send --reconcile; } |
		{ stage rlog trail; } >"$tmp/rresults"

	# 2. Deferred deliveries whose quiet hours are over.
	{ stage release alert-render -r "$rule" --release; } |
		{ stage dlog trail --before twilio-send; } |
		{ stage dsend twilio-send; } |
		{ stage dlog2 trail; } >/dev/null

	# 3. The rule itself.
	if [ -n "$(mlc-rule get "$rule" join vendor 2>/dev/null)" ] ||
		grep -q -e '^\[join\]' -e '^\[sums\]' "$(mlc-rule path "$rule")"; then
		join="jde-join -r $rule"
	else
		join="cat"
	fi
	# shellcheck disable=SC2086 # $join is a command line of plain words
	{ stage fetch jde-fetch -r "$rule" --run-id "$run_id"; } |
		{ stage join $join; } |
		{ stage log1 trail --before alert-match; } |
		{ stage match alert-match --emit-suppressed -r "$rule"; } |
		{ stage log2 trail --before alert-render; } |
		{ stage render alert-render -r "$rule"; } |
		{ stage log3 trail --before twilio-send; } |
		{ stage send twilio-send; } |
		{ stage log4 trail; } >"$tmp/results"

	rc=0
	failed=""
	for s in replay replay2 rsend rlog release dlog dsend dlog2 fetch join log1 match log2 render log3 send log4; do
		c=$(cat "$tmp/$s.rc" 2>/dev/null || echo 70)
		case $s:$c in
		replay:65 | replay2:65 | rlog:65 | dlog:65 | dlog2:65 | log[1-4]:65)
			# alert-log quarantined lines; everything else went on
			continue ;;
		esac
		if [ "$c" != 0 ]; then
			failed="$failed $s=$c"
			rc=$(worse "$rc" "$c")
		fi
	done
	sent=$(grep -c '"status":"\(queued\|accepted\|sent\)"' "$tmp/results")
	nfail=$(grep -c '"status":"failed"' "$tmp/results")
	unknown=$(grep -c '"status":"unknown"' "$tmp/results")
	nquar=$(alert-log quarantine count --rule "$rule" --run-id "$run_id" 2>/dev/null) || nquar=0
	held=$(cat "$tmp/rresults" "$tmp/results" | grep -c '"in_doubt":"hold"')
	detail="sent $sent, failed $nfail, unknown $unknown, quarantined $nquar"
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
	if [ "$rc" = 0 ]; then
		alert-log run end "$rule" "$run_id" ok "$detail"
		warn "rule $rule: run $run_id ok: $detail"
	else
		alert-log run end "$rule" "$run_id" failed "$detail; stages:$failed; watermark kept"
		warn "rule $rule: run $run_id failed (stages:$failed): $detail; the watermark was not moved, the next run repeats it"
	fi
	return "$rc"
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
	for r in "$@"; do
		if [ "$scheduled" = 1 ]; then
			mlc-rule due "$r"
			d=$?
			[ "$d" = 1 ] && continue
			[ "$d" = 0 ] || { status=$(worse "$status" "$d"); continue; }
		fi
		run_rule "$r" "$wait_lock" "$scheduled"
		status=$(worse "$status" "$?")
	done
	exit "$status"
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
	locks=$ML_CONNECTOR_STATE/locks
	mkdir -p "$locks" || return 74
	(
		if ! flock -n 9; then
			warn "rule $rule: a run is in progress (lock $locks/$rule.lock); try again later"
			exit 75
		fi
		run_id=resend-$(date -u +%Y%m%dT%H%M%SZ)-$$
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/ml-connector.XXXXXX") || exit 74
		trap 'rm -rf "$tmp"' EXIT
		{ stage replay alert-log replay --rule "$rule" --run-id "$run_id" --status in_doubt --channel email; } |
			{ stage send twilio-send; } |
			{ stage log trail; } >"$tmp/results"
		rc=0
		for s in replay send log; do
			rc=$(worse "$rc" "$(cat "$tmp/$s.rc" 2>/dev/null || echo 70)")
		done
		n=$(grep -c . "$tmp/results")
		sent=$(grep -c '"status":"\(queued\|accepted\|sent\)"' "$tmp/results")
		warn "rule $rule: resent $n e-mails held in doubt: accepted $sent, failed $(grep -c '"status":"failed"' "$tmp/results"), in doubt again $(grep -c '"status":"unknown"' "$tmp/results")"
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
		-*) bad_option schedule "$1" ;;
		*) usage >&2; exit 64 ;;
		esac
		shift
	done
	mode=${mode:-cron}
	self=$(command -v ml-connector || echo "$here/ml-connector")
	for r in $(mlc-rule list); do
		if [ "$mode" = cron ]; then
			line=$(mlc-rule cron "$r") || exit $?
			fields=${line%%	*}
			zone=${line#*	}
			# cron(8) runs in the host's zone, whatever that is, and a
			# slot in the rule's zone can fall on any minute of it (zone
			# offsets of :30 and :45, DST gaps ending at any minute):
			# the line fires every minute and --scheduled decides, a
			# cheap read of the state when nothing is due.
			printf '# %s: %s (%s)\n* * * * * ML_CONNECTOR_CONF=%s %s run --scheduled %s\n' \
				"$r" "$fields" "$zone" "$ML_CONNECTOR_CONF" "$self" "$r"
		else
			cal=$(mlc-rule oncalendar "$r") || exit $?
			mkdir -p "$dir" || exit 74
			cat >"$dir/ml-connector-$r.service" <<EOF
[Unit]
Description=ml-connector rule $r
After=network-online.target

[Service]
Type=oneshot
Environment=ML_CONNECTOR_CONF=$ML_CONNECTOR_CONF
ExecStart=$self run --scheduled --wait $r
EOF
			{
				printf '[Unit]\nDescription=ml-connector rule %s schedule\n\n[Timer]\n' "$r"
				printf '%s\n' "$cal" | sed 's/^/OnCalendar=/'
				printf 'AccuracySec=1s\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n'
			} >"$dir/ml-connector-$r.timer"
			printf '%s\n' "$cal" | while IFS= read -r c; do
				echo "$dir/ml-connector-$r.timer: OnCalendar=$c"
			done
		fi
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
			echo "$r: ok"
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
	_q=$(mlc-rule get "$1" limits quiet_hours 2>/dev/null) || return 0
	case " $(mlc-rule get "$1" recipients channels 2>/dev/null) $(mlc-rule get "$1" digest channel 2>/dev/null) " in
	*[\ ,]email[\ ,]*)
		warn "warning: $1: [limits] quiet_hours ($_q) holds SMS and WhatsApp only: e-mail is sent during quiet hours"
		;;
	esac
}

cmd_preview() {
	no_options preview "$@"
	shift "$_skip"
	setup_env
	[ $# -eq 2 ] || die 64 "preview RULE FILE"
	[ -r "$2" ] || die 66 "$2: cannot read"
	alert-match --no-state -r "$1" <"$2" | alert-render --no-state -r "$1"
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

[sendgrid]
from = alerts@hartmann.example
from_name = JDE Alerts
base_url = $tw
EOF
	cp "$DATA/rules/high-value-po.rule" "$DATA/rules/ap-aging.rule" "$w/rules/"
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
	echo "== Running the same rules again: nothing is sent twice"
	(cmd_run high-value-po ap-aging)
	curl -fsS "$tw/_sim/messages" | count_messages
	[ -n "$keep" ] && echo "(state, config and logs kept in $w)"
	return "$rc"
}

# Print the simulator's accepted messages, one per line (jq: the demo's
# setup installs it; nothing else in ml-connector needs it).
show_messages() {
	jq -r 'if .kind == "message" then
		"   \(if (.resource.to | startswith("whatsapp:")) then "WHATSAPP" else "SMS     " end) \(.resource.to)  [\(.resource.status)]  \(.resource.body)"
	else
		"   EMAIL    \(.mail.personalizations[0].to[0].email)  \(.mail.subject)"
	end' "$1"
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
demo) cmd_demo "$@" ;;
*) warn "unknown command \"$cmd\""; usage >&2; exit 64 ;;
esac
