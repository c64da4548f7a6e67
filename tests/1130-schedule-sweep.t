#!/usr/bin/env bash
# Schedules keep their promise in every zone: a week of scheduler ticks,
# simulated in-process (tests/src/sched-sweep.c) exactly as the generated
# crontab line fires them on hosts in several zones, for every zone whose
# offset is not a whole number of hours and for zones with DST changes in
# both directions; each slot must run exactly once, in the minute it is
# reached (a time skipped by DST at the end of the gap, a repeated time at
# its first occurrence), and after three days down exactly one run catches
# up.  Then the same for the firings of the generated systemd timers, as
# systemd itself computes them (systemd-analyze calendar).
. "$(dirname "$0")/lib.sh"

R=$T/rules
mkdir -p "$R"
export ML_CONNECTOR_RULES=$R
printf '[general]\nstate_dir = %s\n' "$T/state" >"$ML_CONNECTOR_CONF"
ZI=${TZDIR:-/usr/share/zoneinfo}
SCHEDULES=("hourly" "hourly :15" "hourly :45" "daily 08:00" "daily 02:30" "daily 01:30"
	"daily 02:15" "daily 00:00" "weekdays 08:00" "every 15m")
# DST both ways, north and south, 1 h and 30 min steps, changes at 02:00,
# at midnight (Santiago) and around Ramadan (Casablanca).
DST_ZONES=(America/New_York Europe/Berlin Australia/Lord_Howe America/Santiago Africa/Casablanca)
HOSTS=(UTC America/Chicago Australia/Lord_Howe Asia/Kolkata)

# ---- which zones: every one with an offset that is not whole hours -------
(cd "$ZI" && find . -type f ! -path './posix/*' ! -path './right/*') | sed 's|^\./||' |
	sort >"$T/zones"
sched-sweep -L -y 2027 -F "$T/zones" >"$T/odd"
mapfile -t ZONES < <(cat "$T/odd" - <<<"$(printf '%s\n' "${DST_ZONES[@]}")" | awk '!seen[$0]++')
for z in Asia/Kolkata Asia/Kathmandu America/St_Johns Australia/Darwin Australia/Adelaide \
	Australia/Lord_Howe Pacific/Chatham; do
	grep -qx "$z" "$T/odd"
	ok "$z is among the $(wc -l <"$T/odd" | tr -d ' ') zones with a non-whole-hour offset in 2027"
done

# ---- the crontab line, as ml-connector schedule writes it -----------------
# One rule per schedule (in Kolkata), and one daily 08:00 rule per zone: the
# line of each schedule is swept in every zone, so it must not depend on
# the zone.
rule() { printf '[rule]\nname = %s\nschedule = %s\ntimezone = %s\n' "$1" "$2" "$3" >"$R/$1.rule"; }
i=0
for s in "${SCHEDULES[@]}"; do
	i=$((i + 1))
	rule "s$i" "$s" Asia/Kolkata
done
for z in "${ZONES[@]}"; do
	rule "z$i" "daily 08:00" "$z"
	i=$((i + 1))
done
ml-connector schedule >"$T/crontab"
is "$?" 0 "ml-connector schedule"
is "$(grep -vc '^#' "$T/crontab")" "$i" "one crontab line per rule"
# fields_of RULE: the five time fields of RULE's line
fields_of() { sed -n "s/^\(\([^ ]* \)\{4\}[^ ]*\) .* run --scheduled --quiet $1\$/\1/p" "$T/crontab"; }
d=$(fields_of s4) # daily 08:00
is "$(grep ' run --scheduled --quiet z' "$T/crontab" | cut -d' ' -f1-5 | sort -u | tr '\n' '|')" "$d|" \
	"daily 08:00 has the same line in every zone"
like "$(grep -v '^#' "$T/crontab" | head -n 1)" ' ML_CONNECTOR_CONF=.* run --scheduled --quiet [sz][0-9]+$' \
	"the line runs ml-connector run --scheduled --quiet RULE"

# ---- the sweep --------------------------------------------------------------
hostargs=()
for h in "${HOSTS[@]}"; do hostargs+=(-H "$h"); done
# The schedules, grouped by their line's fields: one sweep per line.
declare -A group
i=0
for s in "${SCHEDULES[@]}"; do
	i=$((i + 1))
	f=$(fields_of "s$i")
	group[$f]+="$s|"
done
: >"$T/sweep"
sweep_rc=0
for f in "${!group[@]}"; do
	args=()
	IFS='|' read -r -a ss <<<"${group[$f]}"
	for s in "${ss[@]}"; do
		args+=(-s "$s")
		case $s in
		"hourly :15" | "daily 02:30" | "daily 08:00" | "every 15m") args+=(-D "$s") ;;
		esac
	done
	sched-sweep -y 2027 -c "$f" "${hostargs[@]}" "${args[@]}" "${ZONES[@]}" >>"$T/sweep"
	c=$?
	[ "$c" = 0 ] || sweep_rc=$c
done
for z in "${ZONES[@]}"; do
	n=$(grep -c "^ok $z " "$T/sweep")
	bad=$(grep "^FAIL ${z}[ :]" "$T/sweep" | head -n 3)
	is "$n:$bad" "$n:" "$z: every slot of every schedule ran once, on time, on every host ($n weeks x schedules x tick sources)"
	isnt "$n" 0 "$z: swept"
done
is "$sweep_rc" 0 "sweep: no failure"
like "$(grep -c '^ok .*down 3 days: .* one catch-up run for' "$T/sweep")" '^[1-9][0-9]*$' \
	"after three days down, one catch-up run (in every swept week)"
is "$(grep 'down 3 days' "$T/sweep" | grep -vc 'one catch-up run')" 0 "no downtime without its one catch-up run"
# The DST cases themselves, as the sweep saw them: a spring-forward week in
# New York (the 02:30 slot runs at 03:00), and Lord Howe's 30-minute gap
# (02:00 and 02:15 run with 02:30: three slots, one run).
like "$(grep '^ok America/New_York week=2027-03-10 "daily 02:30" cron' "$T/sweep")" \
	': 7 slots, 7 runs$' "New York, spring forward: 02:30 runs on the night it does not exist"
like "$(grep '^ok America/New_York week=2027-11-03 "daily 01:30" cron' "$T/sweep")" \
	': 7 slots, 7 runs$' "New York, fall back: 01:30 runs once though it occurs twice"
like "$(grep '^ok Australia/Lord_Howe week=2027-09-29 "every 15m" cron' "$T/sweep")" \
	': 674 slots, 672 runs$' "Lord Howe, 30-minute gap: the slots in it run once, at its end"

# ---- the systemd timers -----------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1 ||
	! systemd-analyze calendar --base-time=@0 '*-*-* 00:00:00' >/dev/null 2>&1; then
	skip "no systemd-analyze calendar --base-time: systemd timers not checked"
	done_testing
	exit
fi
rm -f "$R"/*.rule
# zone, the start of a week with a transition in it, schedules
CASES=(
	"America/New_York 2027-03-10T00:00:00Z daily 02:30|daily 01:30|daily 08:00"
	"America/New_York 2027-11-03T00:00:00Z daily 02:30|daily 01:30|weekdays 08:00"
	"Australia/Lord_Howe 2027-03-31T00:00:00Z daily 01:30|hourly :45"
	"Australia/Lord_Howe 2027-09-29T00:00:00Z daily 02:15|hourly :15"
	"Asia/Kolkata 2027-01-10T00:00:00Z daily 08:00"
	"Pacific/Chatham 2027-09-22T00:00:00Z daily 02:30|daily 03:00"
)
# The units are written before the weeks they are checked on.
export ML_CONNECTOR_NOW=2026-12-01T00:00:00Z
i=0
for c in "${CASES[@]}"; do
	read -r z _ rest <<<"$c"
	IFS='|' read -r -a ss <<<"$rest"
	for s in "${ss[@]}"; do
		i=$((i + 1))
		rule "t$i" "$s" "$z"
	done
done
ml-connector schedule --systemd "$T/units" >"$T/units.out"
is "$?" 0 "schedule --systemd"
like "$(cat "$T/units/ml-connector-default-t1.service")" 'ExecStart=.* run --scheduled --wait t1' \
	"the service asks due: run --scheduled"
like "$(cat "$T/units/ml-connector-default-t1.timer")" 'Persistent=true' "Persistent=true: a missed firing runs at boot"
is "$(sed -n 's/^OnCalendar=//p' "$T/units/ml-connector-default-t1.timer" | tr '\n' '|')" \
	"*-*-* 02:30:00 America/New_York|*-*-* 03:00:00 America/New_York|" \
	"daily 02:30 in New York: an event at 02:30, and one where the clock leaves the gap that swallows it"
i=0
for c in "${CASES[@]}"; do
	read -r z start rest <<<"$c"
	IFS='|' read -r -a ss <<<"$rest"
	from=$(date -u -d "$start" +%s)
	to=$((from + 7 * 86400))
	for s in "${ss[@]}"; do
		i=$((i + 1))
		: >"$T/fire.$i"
		sed -n 's/^OnCalendar=//p' "$T/units/ml-connector-default-t$i.timer" >"$T/cal.$i"
		while IFS= read -r cal; do
			# enough firings for the week: hourly or daily events
			case $cal in
			*' *:'*) n=$((7 * 24 + 2)) ;;
			*) n=9 ;;
			esac
			TZ=UTC systemd-analyze calendar --base-time="@$((from - 1))" --iterations="$n" "$cal" |
				sed -n 's/^ *\(Next elapse\|Iter\. #[0-9]*\): [A-Z][a-z]* \([0-9-]*\) \([0-9:]*\) UTC$/\2T\3Z/p' \
					>>"$T/fire.$i"
		done <"$T/cal.$i"
		# systemd cannot fire in an hour that starts inside a gap
		# (sched.c): Chatham's ends at 03:45, the timer fires at 04:00.
		late=0
		[ "$z $s" = "Pacific/Chatham daily 03:00" ] && late=900
		out=$(sched-sweep -t "$T/fire.$i" -p "$from,$to" -l "$late" -s "$s" "$z")
		like "$out" '^ok ' "systemd timer, $z \"$s\" (OnCalendar $(tr '\n' ' ' <"$T/cal.$i")): $out"
	done
done

done_testing
