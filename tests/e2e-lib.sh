# tests/e2e-lib.sh — whole-pipeline environments for the end-to-end tests
# (1110, 1120).  Source it after lib.sh:  . "$(dirname "$0")/e2e-lib.sh"
#
# start_env NAME [TWILIO-LATENCY-MS [RATE [AIS-FAULT]]]: both simulators, a
#   configuration, a vault holding the three secrets and the two seed rules
#   in $T/NAME; exports ML_CONNECTOR_CONF/STATE/RULES and sets TW (the Twilio
#   simulator's URL), AIS (the AIS simulator's URL) and ENV_PIDS.
#   PAGE_SIZE, when set, becomes the rules' [source] page_size.
# stop_env: stops the simulators of the last start_env.
# accepted / sms_accepted: what the Twilio simulator accepted, sorted.
# descendants PID: every process below PID.
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # TW, AIS, ENV_PIDS are for the sourcing test; _pids is lib.sh's

secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
secret >"$T/ais.pw"
secret >"$T/tw.token"
secret >"$T/sg.key"
SID=AC$(secret)

start_env() {
	local d=$T/$1 before=$_pids
	mkdir -p "$d/rules"
	cp "$TOP/data/rules/high-value-po.rule" "$TOP/data/rules/ap-aging.rule" "$d/rules/"
	[ -z "${PAGE_SIZE:-}" ] || sed -i "s/^\[source\]\$/&\npage_size = $PAGE_SIZE/" "$d"/rules/*.rule
	local top=$T
	# Each environment's simulators keep their own port files and logs.
	T=$d
	sim_start mlc-ais-sim --password-file "$top/ais.pw" --today 2026-11-26 --data "$TOP/data/jde" \
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
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ENV_PIDS=""
}

# What the Twilio simulator accepted: one line per SMS ("to<TAB>body") and
# per e-mail ("to<TAB>subject").
accepted() {
	curl -fsS "$TW/_sim/messages" | jq -r 'if .kind == "message" then "\(.resource.to)\t\(.resource.body)"
		else "\(.mail.personalizations[0].to[0].email)\t\(.mail.subject)" end' | sort
}
sms_accepted() { curl -fsS "$TW/_sim/messages" | jq -r 'select(.kind == "message") | "\(.resource.to)\t\(.resource.body)"' | sort; }

descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}
