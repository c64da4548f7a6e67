#!/usr/bin/env bash
# mlc-rule and the orchestrator's own logic: rule facts, schedules in the
# rule's time zone (DST), cron and systemd output, the per-rule run lock.
. "$(dirname "$0")/lib.sh"

R=$T/rules
mkdir -p "$R"
export ML_CONNECTOR_RULES=$R
printf '%s\n' '[rule]' 'name = daily-chi' 'schedule = daily 08:00' 'timezone = America/Chicago' \
	'[source]' 'table = F0411' >"$R/daily-chi.rule"
printf '%s\n' '[rule]' 'name = wk' 'schedule = weekdays 07:30' 'timezone = Europe/Berlin' >"$R/wk.rule"
printf '%s\n' '[rule]' 'name = every15' 'schedule = every 15m' >"$R/every15.rule"
printf '%s\n' '[rule]' 'name = cronny' 'schedule = cron 0 9 1 * 1' 'timezone = UTC' >"$R/cronny.rule"

is "$(mlc-rule list | tr '\n' ' ')" "cronny daily-chi every15 wk " "list"
is "$(mlc-rule get daily-chi source table)" F0411 "get"
mlc-rule get daily-chi source columns
is "$?" 1 "get of an unset key: 1"
is "$(mlc-rule cron daily-chi)" "$(printf '0 8 * * *\tAmerica/Chicago')" "cron fields and zone"
is "$(mlc-rule cron every15)" "$(printf '*/15 * * * *\tUTC')" "no zone anywhere: UTC"
is "$(mlc-rule oncalendar daily-chi)" "*-*-* 08:00:00 America/Chicago" "OnCalendar with zone"
is "$(mlc-rule oncalendar wk)" "Mon..Fri *-*-* 07:30:00 Europe/Berlin" "weekdays OnCalendar"

due() { mlc-rule due "$1" "$2"; echo $?; }
# 08:00 in Chicago is 14:00Z in winter (CST) and 13:00Z in summer (CDT);
# DST began on 2026-03-08.
is "$(due daily-chi 2026-03-07T14:00:00Z)" 0 "due at 08:00 CST"
is "$(due daily-chi 2026-03-07T13:00:00Z)" 1 "not due at 07:00 CST"
is "$(due daily-chi 2026-03-09T13:00:00Z)" 0 "due at 08:00 CDT, after the change"
is "$(due daily-chi 2026-03-09T14:00:00Z)" 1 "not due at 09:00 CDT"
is "$(due daily-chi 2026-03-09T13:01:00Z)" 1 "minute resolution"
is "$(due wk 2026-11-27T06:30:00Z)" 0 "weekdays: Friday 07:30 in Berlin (CET)"
is "$(due wk 2026-11-28T06:30:00Z)" 1 "weekdays: not on Saturday"
is "$(due every15 2026-11-26T10:45:00Z)" 0 "every 15m at :45"
is "$(due every15 2026-11-26T10:50:00Z)" 1 "every 15m not at :50"
is "$(due cronny 2026-12-07T09:00:00Z)" 0 "cron: Monday matches when both day fields are restricted"
is "$(due cronny 2026-12-01T09:00:00Z)" 0 "cron: the 1st matches (a Tuesday)"
is "$(due cronny 2026-12-02T09:00:00Z)" 1 "cron: neither day field matches"
ML_CONNECTOR_NOW=2026-03-09T13:00:00Z mlc-rule due daily-chi
is "$?" 0 "due reads ML_CONNECTOR_NOW"

printf '%s\n' '[rule]' 'name = bad' 'schedule = daily 25:00' >"$R/bad.rule"
mlc-rule cron bad 2>"$T/err"
is "$?" 78 "bad schedule: 78"
like "$(cat "$T/err")" 'bad.rule:3: bad time in "daily 25:00"' "message names file and line"
rm "$R/bad.rule"
printf '%s\n' '[rule]' 'name = other' >"$R/mismatch.rule"
mlc-rule path mismatch 2>"$T/err"
is "$?" 78 "name differing from the file name: 78"
rm "$R/mismatch.rule"
mlc-rule path nosuch 2>"$T/err"
is "$?" 66 "no such rule: 66"
printf '%s\n' '[rule]' 'name = typo' 'shedule = daily 08:00' >"$R/typo.rule"
mlc-rule path typo 2>"$T/err"
is "$(cat "$T/err")" "mlc-rule: $R/typo.rule:3: unknown key \"shedule\" in [rule]" "unknown key named"
rm "$R/typo.rule"

# The orchestrator: schedules.
printf '[general]\nstate_dir = %s\n' "$T/state" >"$ML_CONNECTOR_CONF"
ml-connector schedule >"$T/cron"
is "$?" 0 "schedule --cron"
like "$(cat "$T/cron")" '^\* \* \* \* \* ML_CONNECTOR_CONF=.* run --scheduled --quiet daily-chi$' \
	"cron line runs every minute, lets the rule decide in its zone, and is quiet when all is well"
ml-connector schedule --systemd "$T/units" >/dev/null 2>"$T/err"
U=$T/units/ml-connector-default-daily-chi
is "$(sed -n 's/^OnCalendar=//p' "$U.timer")" \
	"*-*-* 08:00:00 America/Chicago" "systemd timer with zone (instance: default, the file has no [ais] environment)"
like "$(cat "$U.service")" 'ExecStart=.* run --scheduled --wait daily-chi' \
	"service unit: the timer's firing asks due too"
is "$(grep -c '^Persistent=true$' "$U.timer")" 1 "Persistent=true"
is "$(grep -c -x -e 'Wants=network-online.target' -e 'After=network-online.target' "$U.service")" 2 \
	"Wants=network-online.target beside After="
is "$(sed -n 's/^User=//p' "$U.service")" "$(if [ "$(id -u)" = 0 ]; then echo ml-connector; else id -un; fi)" \
	"User=: ml-connector for root, else the user who owns the state"
# The checkout's place decides two of them (every path of the units lies
# inside it): under /home, /root or /run/user the home directories must stay
# readable, and under /tmp or /var/tmp a private /tmp would hide them.
case $TOP/ in /home/* | /root/* | /run/user/*) ph=read-only ;; *) ph=yes ;; esac
case $TOP/ in /tmp/* | /var/tmp/*) pt=no ;; *) pt=yes ;; esac
for d in NoNewPrivileges=yes ProtectSystem=strict "ReadWritePaths=\"$T/state\"" PrivateTmp=$pt \
	ProtectHome=$ph CapabilityBoundingSet= "Environment=\"ML_CONNECTOR_STATE=$T/state\""; do
	grep -qxF "$d" "$U.service"
	ok "hardened: $d"
done
if [ "$(id -u)" = 0 ] && ! getent passwd ml-connector >/dev/null; then
	like "$(cat "$T/err")" "useradd --system --home-dir $T/state --shell /usr/sbin/nologin ml-connector" \
		"the service user does not exist: schedule says how to create it"
fi
# PD and PY configurations on one host: units of their own, named by [ais] environment.
for e in JPD920 JPY920; do
	printf '[general]\nstate_dir = %s\n[ais]\nenvironment = %s\n' "$T/state-$e" "$e" >"$T/$e.conf"
	ML_CONNECTOR_STATE=$T/state-$e ml-connector -c "$T/$e.conf" schedule --systemd "$T/units4" --user mlc-svc >/dev/null
done
is "$(find "$T/units4" -name '*daily-chi*' | sort | xargs -n1 basename | tr '\n' ' ')" \
	"ml-connector-jpd920-daily-chi.service ml-connector-jpd920-daily-chi.timer ml-connector-jpy920-daily-chi.service ml-connector-jpy920-daily-chi.timer " \
	"a PD and a PY configuration: two sets of units, named by instance"
grep -qxF "ReadWritePaths=\"$T/state-JPY920\"" "$T/units4/ml-connector-jpy920-daily-chi.service" &&
	grep -qxF "User=mlc-svc" "$T/units4/ml-connector-jpy920-daily-chi.service"
ok "each writable only in its own state directory; --user NAME"
printf '[general]\nstate_dir = %s\n[ais]\nenvironment = JPY920\n' "$T/state-other" >"$T/other.conf"
ML_CONNECTOR_STATE=$T/state-other ml-connector -c "$T/other.conf" schedule --systemd "$T/units4" --user mlc-svc >/dev/null 2>"$T/err"
is "$?:$(grep -c "state-other" "$T/units4/ml-connector-jpy920-daily-chi.service")" 78:0 \
	"a third configuration with the same environment does not overwrite the units: 78"
like "$(cat "$T/err")" "was written for another configuration; give this one its own name with --instance NAME" "and says how"
ML_CONNECTOR_STATE=$T/state-other ml-connector -c "$T/other.conf" schedule --systemd "$T/units4" --user mlc-svc --instance other >/dev/null
ok "--instance NAME"
[ -f "$T/units4/ml-connector-other-daily-chi.timer" ]
ok "names the units"
# systemd-analyze verify, where systemd is installed: every unit written, clean.
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$T/units4/"*.timer "$T/units4/"*.service "$U.service" "$U.timer" >"$T/verify" 2>&1
	is "$?:$(cat "$T/verify")" 0: "systemd-analyze verify: clean (no warning either)"
	# the sandbox, as systemd rates it (0-100 here): 19 when written
	systemd-analyze security --offline=true --threshold=25 "$T/units4/ml-connector-jpd920-daily-chi.service" >"$T/security" 2>&1
	ok "systemd-analyze security: exposure at most 2.5 of 10 ($(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security"))"
else
	skip "systemd-analyze verify: systemd-analyze is not installed"
fi
ml-connector schedule --systemd="$T/units2" >/dev/null 2>&1
is "$(sed -n 's/^OnCalendar=//p' "$T/units2/ml-connector-default-daily-chi.timer")" \
	"*-*-* 08:00:00 America/Chicago" "schedule --systemd=DIR"
ml-connector -c"$ML_CONNECTOR_CONF" schedule --cron >"$T/cron2"
is "$?/$(cat "$T/cron2")" "0/$(cat "$T/cron")" "-cFILE schedule --cron: the same lines"
# what schedule does not take is refused, named, before anything is printed or written
ml-connector schedule --cron daily-chi >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 64/0 "schedule RULE: 64, nothing printed"
ml-connector schedule --cron --systemd "$T/units3" >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')/$([ -e "$T/units3" ] && echo made)" 64/0/ \
	"schedule --cron --systemd DIR: 64, nothing written"
ml-connector schedule --cron --user mlc-svc >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')/$(cat "$T/err")" \
	"64/0/ml-connector: schedule: --user and --instance go with --systemd DIR" "schedule --cron --user: 64, named"
ml-connector schedule --crom >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 64/0 "schedule --crom: 64"
like "$(head -n 1 "$T/err")" '^ml-connector: schedule: unknown option --crom$' "schedule --crom: named"
ml-connector demo --kepp "$T/demo" >/dev/null 2>"$T/err"
is "$?/$([ -e "$T/demo" ] && echo made)" 64/ "demo --kepp DIR: 64, no demo run"
like "$(head -n 1 "$T/err")" '^ml-connector: demo: unknown option --kepp$' "demo --kepp: named"
# the commands without options refuse one, named, as run does; -- ends them
ml-connector track --rule daily-chi >"$T/out" 2>"$T/err"
is "$?/$(head -n 1 "$T/err")" "64/ml-connector: track: unknown option --rule" "track --rule: 64, named"
ml-connector ping extra >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 64/0 "ping with an argument: 64, nothing pinged"
ml-connector resend -- -rf >/dev/null 2>"$T/err"
is "$?/$(cat "$T/err")" '78/mlc-rule: bad rule name "-rf" (a-z 0-9 - _, not first -)' \
	"resend -- -rf: an operand, a bad rule name (78)"

# OnCalendar: a slot that a DST gap swallows gets the gap's end as an event
# of its own (systemd skips the time itself); cron's either-day rule is two
# events; minute lists are spelled out.
printf '%s\n' '[rule]' 'name = gap' 'schedule = daily 02:30' 'timezone = America/New_York' >"$R/gap.rule"
is "$(mlc-rule oncalendar gap | tr '\n' '|')" \
	"*-*-* 02:30:00 America/New_York|*-*-* 03:00:00 America/New_York|" "OnCalendar: a slot in a DST gap"
is "$(mlc-rule oncalendar cronny | tr '\n' '|')" "Mon *-*-* 09:00:00 UTC|*-*-01 09:00:00 UTC|" \
	"OnCalendar: both day fields restricted, either matches: two events"
is "$(mlc-rule oncalendar every15)" "*-*-* *:00,15,30,45:00 UTC" "OnCalendar: every 15m"

# due keeps state: claimed slots are not due again; a slot missed is.
is "$(due gap 2027-03-14T07:00:00Z)" 0 "02:30 on the night it does not exist is due at 03:00 EDT"
is "$(due gap 2027-03-14T06:59:00Z)" 1 "not before the gap ends"
ML_CONNECTOR_NOW=2027-03-13T12:00:00Z mlc-rule due gap
is "$?" 1 "first check: not due (a baseline is recorded)"
ML_CONNECTOR_NOW=2027-03-14T07:00:00Z mlc-rule claim gap >"$T/claim"
is "$?" 0 "claim at the end of the gap"
is "$(cat "$T/claim")" "slot 2027-03-14T02:30 America/New_York (reached 2027-03-14T07:00:00.000Z)" \
	"claim names the slot and when it was reached"
ML_CONNECTOR_NOW=2027-03-14T07:00:30Z mlc-rule claim gap >/dev/null
is "$?" 1 "a second claim of the same slot: 1"
is "$(due gap 2027-03-14T12:00:00Z)" 1 "not due again that day"
is "$(due gap 2027-03-17T12:00:00Z)" 0 "three days later: due (the slots missed)"
ML_CONNECTOR_NOW=2027-03-17T12:00:00Z mlc-rule claim gap >"$T/claim"
like "$(cat "$T/claim")" "catching up 3 slots from 2027-03-15T02:30" "one claim for the three missed slots"
sed -i 's/02:30/02:45/' "$R/gap.rule"
is "$(due gap 2027-03-17T12:00:00Z)" 1 "a changed schedule starts afresh (not due for old slots)"
rm "$R/gap.rule"

# Zones: a name that is no zone (a typo, a directory) is refused, never UTC.
for z in Asia/Kolkatta America ../etc/passwd; do
	printf '%s\n' '[rule]' 'name = badzone' 'schedule = daily 08:00' "timezone = $z" >"$R/badzone.rule"
	mlc-rule due badzone 2>"$T/err"
	is "$?" 78 "timezone = $z: 78"
	like "$(cat "$T/err")" "unknown time zone" "timezone = $z: says so"
done
rm "$R/badzone.rule"
printf '%s\n' '[rule]' 'name = never' 'schedule = cron 0 0 31 2 *' >"$R/never.rule"
mlc-rule cron never 2>"$T/err"
is "$?" 78 "a schedule that never comes (31 February): 78"
like "$(cat "$T/err")" "names no day that exists" "and says why"
rm "$R/never.rule"

# The lock: a second run of the same rule exits 75 at once.
mkdir -p "$T/state/locks"
# The holder keeps the lock until it is killed; the run must come back
# while it still holds it.
( exec 9>"$T/state/locks/daily-chi.lock"; flock 9; : >"$T/held"; exec sleep 300 ) &
holder=$!
wait_for test -e "$T/held"
ok "another process holds the rule's lock"
ml-connector run daily-chi 2>"$T/err"
is "$?" 75 "a run while another holds the lock: 75"
like "$(cat "$T/err")" 'a run is already in progress' "the message says why"
kill -0 "$holder"
ok "and it did not wait (the holder still holds the lock)"
kill "$holder"
wait "$holder" 2>/dev/null

# Run ids: two runs of one rule started in the same second (here one
# invocation running it twice, with a date(1) that always tells the same
# second) are two rows of table run, not "UNIQUE constraint failed" (70).
mkdir -p "$T/shim"
printf '%s\n' '#!/bin/sh' 'case $* in *%S*) echo 20261126T140000Z ;; *) exec /bin/date "$@" ;; esac' \
	>"$T/shim/date"
chmod +x "$T/shim/date"
PATH=$T/shim:$PATH ml-connector run daily-chi daily-chi 2>"$T/err"
unlike "$(cat "$T/err")" 'UNIQUE' "two runs in one second: no UNIQUE constraint failure"
is "$(sqlite3 "$T/state/state.db" "SELECT count(DISTINCT run_id) || '/' || count(*) FROM run
	WHERE rule = 'daily-chi' AND run_id LIKE '20261126T140000Z-%' AND finished_at IS NOT NULL")" \
	2/2 "two runs in one second: two run ids, each run ended"

# The man page's EXAMPLES, run as written on the shipped rules: each "$ "
# line is a command, the lines after it its output.
man-examples -c "$TOP/man/mlc-rule.1" 1 >"$T/ex.sh"
man-examples -o "$TOP/man/mlc-rule.1" 1 >"$T/ex.want"
# shellcheck disable=SC2030 # the example runs with its own state, on purpose
(export ML_CONNECTOR_RULES=$TOP/data/rules ML_CONNECTOR_STATE=$T/ex-state; bash "$T/ex.sh") >"$T/ex.got" 2>&1
diff_ok "$T/ex.got" "$T/ex.want" "mlc-rule(1) EXAMPLES"

# check: a rule with an error exits non-zero (the rule error's 78), names
# the rule, and the file, line and key come from the program that refused
# it; placeholders init wrote and quiet hours beside e-mail are warned of.
C=$T/chk
chk() { ML_CONNECTOR_CONF=$C/ml-connector.conf ML_CONNECTOR_STATE=$C/state ML_CONNECTOR_RULES=$C/rules "$@"; }
chk ml-connector init >/dev/null 2>&1
chk ml-connector check >"$T/out" 2>"$T/err"
is "$?" 0 "check of init's skeleton and the example rules: 0 (warnings only)"
like "$(cat "$T/err")" '\[ais\] url is still the skeleton.s placeholder \(https://ais.example.com:9300\)' \
	"check: the skeleton's AIS URL is named"
like "$(cat "$T/err")" '\[twilio\] account_sid is still the skeleton.s placeholder \(ACx+\)' \
	"check: the skeleton's account SID is named"
sed -i 's|^url = .*|url = https://ais.plant.internal:9300|' "$C/ml-connector.conf"
chk ml-connector check >/dev/null 2>"$T/err"
is "$(grep -c 'ais\] url' "$T/err")" 0 "check: a URL set is not warned of"
printf '%s\n' '[rule]' 'name = broken' 'schedule = daily 08:00' '[source]' 'table = F0411' \
	'[match]' 'expr = .row.F0411_AAP >' >"$C/rules/broken.rule"
chk ml-connector check >"$T/out" 2>"$T/err"
is "$?" 78 "check with a rule in error: 78"
like "$(cat "$T/out")" '^broken: errors \(above\)$' "check names the rule in error"
like "$(cat "$T/err")" 'broken.rule:7: .*expr' "and the refusing program names file, line and key"
like "$(cat "$T/out")" '^ap-aging: ok$' "the other rules are still checked"
chk ml-connector check ap-aging >/dev/null 2>&1
is "$?" 0 "check of the good rule alone: 0"
rm "$C/rules/broken.rule"
printf '%s\n' 'typo = 1' >>"$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >"$T/out" 2>"$T/err"
is "$?/$(cat "$T/out")" "78/credit-hold: errors (above)" "check: an unknown key: 78"
like "$(cat "$T/err")" 'credit-hold.rule:[0-9]+: unknown key "typo"' "check: the key named"
sed -i '/^typo = 1$/d' "$C/rules/credit-hold.rule"
printf '%s\n' '[limits]' 'quiet_hours = 22:00-07:00' >>"$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >"$T/out" 2>"$T/err"
is "$?/$(cat "$T/out")" "0/credit-hold: ok" "check: quiet hours with e-mail is valid"
like "$(cat "$T/err")" 'credit-hold: \[limits\] quiet_hours \(22:00-07:00\) holds SMS and WhatsApp only: e-mail is sent during quiet hours' \
	"check: and warns that they do not hold e-mail"
sed -i 's/^channels = sms email$/channels = sms/' "$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >/dev/null 2>"$T/err"
is "$(grep -c quiet_hours "$T/err")" 0 "check: quiet hours on SMS only: no warning"

# check: a WhatsApp template's variables with a gap are refused with the
# file, line and variable; WhatsApp without a template is warned of.
sed -i 's/^channels = sms$/channels = sms whatsapp/' "$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >"$T/out" 2>"$T/err"
is "$?/$(cat "$T/out")" "0/credit-hold: ok" "check: WhatsApp without a template is valid"
like "$(cat "$T/err")" 'credit-hold: WhatsApp without \[message\] whatsapp_template: .*\(63016\)' \
	"check: and warns that free-form WhatsApp fails outside the 24-hour window"
printf '%s\n' '[message]' 'whatsapp_template = HX0123456789abcdef0123456789abcdef' \
	'whatsapp_variables = {"1": .rule, "3": .severity}' >>"$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >"$T/out" 2>"$T/err"
is "$?/$(cat "$T/out")" "78/credit-hold: errors (above)" "check: template variables with a gap: 78"
like "$(cat "$T/err")" 'credit-hold.rule:[0-9]+: \[message\] whatsapp_variables: no variable "2"' \
	"check: the file, line and variable named"
unlike "$(cat "$T/err")" 'whatsapp_template: outside' "check: no warning once a template is named"
sed -i 's/^whatsapp_variables = .*/whatsapp_variables = {"1": .rule, "2": .severity}/' "$C/rules/credit-hold.rule"
chk ml-connector check credit-hold >"$T/out" 2>"$T/err"
is "$?/$(cat "$T/out")" "0/credit-hold: ok" "check: the template's variables fixed: ok"

# ping: each system a line, SendGrid's from a real check of the key
# (twilio-send --ping-sendgrid: GET /v3/scopes), the worst status the exit.
# AIS is left unreachable here (port 1), so its line fails with 69.
# (a function: the subshell above changed only its own ML_CONNECTOR_STATE;
# send_setup takes no simulator options here)
# shellcheck disable=SC2031,SC2119
ping_checks() {
	saved_T=$T saved_conf=$ML_CONNECTOR_CONF saved_state=$ML_CONNECTOR_STATE
	export ML_CONNECTOR_CONF=$T/ping/ml-connector.conf ML_CONNECTOR_STATE=$T/ping/state ML_CONNECTOR_KDF_FAST=1
	mkdir -p "$T/ping"
	T=$T/ping
	. "$TOP/tests/fixtures/send-env.sh"
	send_setup || exit 1
	printf '[ais]\nurl = http://127.0.0.1:1\nuser = JDE\nenvironment = JDV920\n' >>"$ML_CONNECTOR_CONF"
	printf 'pw\n' | mlc-vault set ais.password
	ml-connector ping >"$T/out" 2>"$T/err"
	is "$?|$(grep -v '^{' "$T/out" | tr '\n' ' ')" "69|AIS: failed (69) Twilio: ok SendGrid: ok " \
		"ping: AIS failed, Twilio and SendGrid ok: 69"
	is "$(jq -r 'select(.path == "/v3/scopes") | .status' "$LOG")" 200 "ping asked SendGrid with the key"
	printf 'SG.not-the-key\n' | mlc-vault set sendgrid.api_key
	ml-connector ping >"$T/out" 2>"$T/err"
	is "$?|$(grep -v '^{' "$T/out" | tr '\n' ' ')" "77|AIS: failed (69) Twilio: ok SendGrid: failed (77) " \
		"ping with a wrong SendGrid key: SendGrid failed (77), the exit 77"
	like "$(cat "$T/err")" 'SendGrid: credentials refused \(HTTP 401' "and stderr says SendGrid refused the key"
	sed -i '/^from = alerts@example.com$/d' "$ML_CONNECTOR_CONF"
	ml-connector ping >"$T/out" 2>"$T/err"
	is "$?|$(grep '^SendGrid' "$T/out")" "69|SendGrid: not configured ([sendgrid] from is not set)" \
		"ping without [sendgrid] from: SendGrid not configured, not failed"
	T=$saved_T ML_CONNECTOR_CONF=$saved_conf ML_CONNECTOR_STATE=$saved_state
}
ping_checks

ml-connector run 2>/dev/null
is "$?" 64 "run without a rule: usage"
ml-connector run nosuch 2>/dev/null
is "$?" 66 "run of a missing rule: 66"
ml-connector frobnicate 2>/dev/null
is "$?" 64 "unknown command: usage"
is "$(ml-connector version)" "ml-connector $(sed -n 's/^VERSION = //p' "$TOP/config.mk")" "version"

done_testing
