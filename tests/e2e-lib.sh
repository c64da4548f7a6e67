# tests/e2e-lib.sh — whole-pipeline environments for the end-to-end tests
# (1110, 1120).  Source it after lib.sh:  . "$(dirname "$0")/e2e-lib.sh"
#
# start_env NAME [TWILIO-LATENCY-MS [RATE [AIS-FAULT]]]: both simulators, a
#   configuration, a vault holding the three secrets and the two seed rules
#   in $T/NAME; exports ML_CONNECTOR_CONF/STATE/RULES and sets TW (the Twilio
#   simulator's URL), AIS (the AIS simulator's URL) and ENV_PIDS.
#   PAGE_SIZE, when set, becomes the rules' [source] page_size; GRACE the
#   [twilio] grace (default 2 s: the simulator's lists do not lag).
#   AIS_DATA, when set, is the AIS simulator's data directory instead of
#   data/jde.
# stop_env: stops the simulators of the last start_env.
# sim_clock TIME: the programs' clock (ML_CONNECTOR_NOW, exported) and the
#   Twilio simulator's moved to TIME together, as the real clocks move.
# ap_env DOC:AAP...: a copy of the sample data whose F0411 holds only these
#   open vouchers (vouchers, again later to change them), both simulators
#   on it (start_env env1) and no seed rules; ap_rule NAME [LINE...]: an AP
#   rule alerting every open voucher to sms:+13125550147, LINEs added to
#   its [rule] (tests 1185, 1187).
# accepted / sms_accepted / mail_rows: what the Twilio simulator accepted
#   (everything, SMS "to<TAB>body", e-mail digest rows), sorted.
# stage_moment SESSION NAME: a random moment while NAME of a setsid run lives.
# kill_stage SESSION NAME: SIGKILL a live NAME of a run started with setsid.
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # TW, AIS, ENV_PIDS are for the sourcing test; _pids is lib.sh's

# The secrets: random, unless the test wrote its own (canaries) first.
secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
[ -s "$T/ais.pw" ] || secret >"$T/ais.pw"
[ -s "$T/tw.token" ] || secret >"$T/tw.token"
[ -s "$T/sg.key" ] || secret >"$T/sg.key"
SID=${SID:-AC$(secret)}

start_env() {
	local d=$T/$1 before=$_pids
	mkdir -p "$d/rules"
	cp "$TOP/data/rules/high-value-po.rule" "$TOP/data/rules/ap-aging.rule" "$d/rules/"
	[ -z "${PAGE_SIZE:-}" ] || sed -i "s/^\[source\]\$/&\npage_size = $PAGE_SIZE/" "$d"/rules/*.rule
	local top=$T
	# Each environment's simulators keep their own port files and logs.
	T=$d
	sim_start mlc-ais-sim --password-file "$top/ais.pw" --today 2026-11-26 --data "${AIS_DATA:-$TOP/data/jde}" \
		${4:+--fault "$4"} || { T=$top; return 1; }
	sim_start mlc-twilio-sim --account-sid "$SID" --auth-token-file "$top/tw.token" \
		--sendgrid-key-file "$top/sg.key" --latency "${2:-0}" --callback-delay 50 || { T=$top; return 1; }
	T=$top
	ENV_PIDS=${_pids#"$before"}
	cat >"$d/conf" <<CONF
[general]
default_country = 1
timezone = America/Chicago
rules_dir = $d/rules
[ais]
url = http://127.0.0.1:$MLC_AIS_SIM_PORT
user = JDE
environment = JDV920
device = e2e
[twilio]
account_sid = $SID
from = +15005550006
rate = ${3:-50}
max_in_flight = 4
# the simulator's message list has no lag: a short lookup grace will do
grace = ${GRACE:-2}
base_url = http://127.0.0.1:$MLC_TWILIO_SIM_PORT
[sendgrid]
from = alerts@hartmann.example
base_url = http://127.0.0.1:$MLC_TWILIO_SIM_PORT
CONF
	export ML_CONNECTOR_CONF=$d/conf ML_CONNECTOR_STATE=$d/state ML_CONNECTOR_RULES=$d/rules
	mlc-vault init >/dev/null 2>&1
	mlc-vault set ais.password <"$T/ais.pw"
	mlc-vault set twilio.auth_token <"$T/tw.token"
	mlc-vault set sendgrid.api_key <"$T/sg.key"
	TW=http://127.0.0.1:$MLC_TWILIO_SIM_PORT
	AIS=http://127.0.0.1:$MLC_AIS_SIM_PORT
}

stop_env() {
	local p
	for p in $ENV_PIDS; do
		_signal TERM "$p"
		wait "${p%%:*}" 2>/dev/null
	done
	ENV_PIDS=""
}

# What the Twilio simulator accepted: one line per SMS ("to<TAB>body") and
# per e-mail ("to<TAB>subject"); a message a recipient sent us is none.
accepted() {
	curl -fsS "$TW/_sim/messages" | jq -r 'if .kind == "message" then (select(.resource.direction != "inbound") | "\(.resource.to)\t\(.resource.body)")
		else "\(.mail.personalizations[0].to[0].email)\t\(.mail.subject)" end' | sort
}
# mail_rows: "to<TAB>row" for every digest row of every e-mail SendGrid
# accepted.  A digest's plain text is a table: its rows are the lines
# between the rule under the labels and the rule over the totals (without
# labels: between the header's blank line and the next), "and N more" left
# out; blanks squeezed, since the padding depends on the rows beside.
mail_rows() {
	curl -fsS "$TW/_sim/messages" | jq -r 'select(.kind == "mail")
		| .mail.personalizations[0].to[0].email as $to | .mail.content[]
		| select(.type == "text/plain") | .value | split("\n") | . as $l
		| [range(length) | select($l[.] | test("^-+(  -+)*$"))] as $r
		| [range(length) | select($l[.] == "")] as $b
		| if ($r | length) > 0 then $l[($r[0] + 1):($r[1] // length)]
		  elif ($b | length) > 0 then $l[($b[0] + 1):($b[1] // length)] else [] end
		| .[] | select(. != "" and (test("^and [0-9]+ more$") | not))
		| "\($to)\t\(gsub(" +"; " "))"' | sort
}
sms_accepted() { curl -fsS "$TW/_sim/messages" | jq -r 'select(.kind == "message" and .resource.direction != "inbound") | "\(.resource.to)\t\(.resource.body)"' | sort; }

# stage_moment SESSION NAME: wait until a process NAME of the run's session
# (setsid: one pgrep finds it) is alive, for the senders until messages
# are going out, then a random moment more.  Prints a pid of NAME seen, or
# nothing when the stage was never caught alive.  The moment of a fault.
stage_moment() {
	local sess=$1 want=$2 victim="" i
	for i in $(seq 1 400); do
		victim=$(pgrep -s "$sess" -x "$want" | shuf -n 1)
		[ -n "$victim" ] && break
		kill -0 "$sess" 2>/dev/null || return 0
		sleep 0.01
	done
	[ -n "$victim" ] || return 0
	case $want in
	twilio-send | alert-log)
		for i in $(seq 1 100); do
			[ "$(curl -fsS "$TW/_sim/messages" | grep -c .)" -gt 0 ] && break
			sleep 0.03
		done
		;;
	esac
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	echo "$victim"
}

# kill_stage SESSION NAME: SIGKILL one live process NAME of the run's
# session at stage_moment.  Prints the pid killed, or nothing when the
# stage was never caught alive.
kill_stage() {
	local sess=$1 want=$2 victim
	victim=$(stage_moment "$sess" "$want")
	[ -n "$victim" ] || return 0
	# The chosen process may have ended meanwhile, and its pid may be another
	# process's by now: kill it only while the run's session still has it
	# under that name, else take a live one.
	pgrep -s "$sess" -x "$want" | grep -qx "$victim" &&
		kill -9 "$victim" 2>/dev/null && echo "$victim" && return 0
	victim=$(pgrep -s "$sess" -x "$want" | shuf -n 1)
	[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && echo "$victim"
}

sim_clock() {
	export ML_CONNECTOR_NOW=$1
	curl -fsS -o /dev/null --data-binary "$1" "$TW/_sim/clock"
}

# vouchers DOC:AAP...: F0411 of $T/jde holds these vouchers, each a copy of
# the sample's first row with its DOC and open amount AAP.
vouchers() {
	local v first
	first=$(head -n 1 "$TOP/data/jde/F0411.ndjson")
	for v in "$@"; do
		jq -c --argjson doc "${v%%:*}" --argjson aap "${v#*:}" '.F0411_DOC = $doc | .F0411_AAP = $aap' <<<"$first"
	done >"$T/jde/F0411.ndjson.new"
	mv "$T/jde/F0411.ndjson.new" "$T/jde/F0411.ndjson"
}
ap_env() {
	mkdir -p "$T/jde"
	cp "$TOP"/data/jde/* "$T/jde/"
	vouchers "$@"
	AIS_DATA=$T/jde start_env env1 || return 1
	rm -f "$T"/env1/rules/*.rule
}
ap_rule() {
	local l
	printf '[rule]\nname = %s\n' "$1"
	shift
	for l in "$@"; do printf '%s\n' "$l"; done
	cat <<'RULE'
[source]
table = F0411
columns = KCO DOC DCT SFX AN8 AAP
where = AAP != 0
incremental = none
[match]
expr = (.row.F0411_AAP // 0) != 0
[recipients]
to = sms:+13125550147
channels = sms
[message]
sms = Voucher \(.row.F0411_DOC) open: \(.row.F0411_AAP)
RULE
}
