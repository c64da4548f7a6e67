#!/bin/sh
# bench/ratio.sh — issue 17, goals 1 and 5, measured side by side in one run
# (not a timed test; numbers go to bench/README.md).
#
# Goal 1: R = run wall time / (AIS requests x AIS latency + SMS / MPS), the
# run against its two physical limits, with the AIS simulator answering
# every request after E2E_AIS_MS (150) ms and the Twilio simulator allowing
# E2E_TW_RATE (10) creates per second, twilio-send's pacer set to the same
# ([twilio] rate), each create answered after E2E_TW_MS (100) ms:
#   rate     rate-bound sending: high-value-po, storm raised, F4301 of -r
#            POs (default 500: about 290 alerts, 2 SMS each)
#   storm    the storm guard firing: high-value-po, shipped storm (20),
#            F4301 of -p POs (default 10,000)
#   f0411    the storm guard firing on a big fetch: ap-aging, shipped storm
#            (50), F0411 of -i rows (default 100,000)
# Goal 5: the ceiling on this host, nothing in the way (no latency, no
# rate limit, [twilio] rate 10000): the SMS per second of the sending end
# alone, as the orchestrator runs it (alert-log --before twilio-send |
# twilio-send | alert-log --after twilio-send) on -n (default 20,000)
# deliveries, and each stage's CPU per SMS there and in a whole run
# (high-value-po, storm raised, F4301 of -p POs).
#
# usage: sh bench/ratio.sh [-r POS] [-p POS] [-i ROWS] [-n SMS] [SCENARIO...]
#   SCENARIO: rate storm f0411 ceiling (default: all four)
# Every figure line carries the load average (/proc/loadavg) when it was
# taken: the machine may be shared.  CPU seconds are user + system.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=$top/bin
rpos=500
pos=10000
inv=100000
nsms=20000
usage() { echo "usage: sh bench/ratio.sh [-r POS] [-p POS] [-i ROWS] [-n SMS] [rate|storm|f0411|ceiling...]" >&2; exit 64; }
while getopts r:p:i:n: o; do
	case $o in
	r) rpos=$OPTARG ;;
	p) pos=$OPTARG ;;
	i) inv=$OPTARG ;;
	n) nsms=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- rate storm f0411 ceiling
for n in "$rpos" "$pos" "$inv" "$nsms"; do
	case $n in '' | *[!0-9]*) usage ;; esac
done
for p in ml-connector jde-fetch jde-join alert-match alert-render twilio-send alert-log mlc-vault \
	mlc-ais-sim mlc-twilio-sim; do
	[ -x "$bin/$p" ] || { echo "bench/ratio.sh: $bin/$p missing: run make first" >&2; exit 66; }
done
[ -x /usr/bin/time ] || { echo "bench/ratio.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 66; }
ais_ms=${E2E_AIS_MS:-150}
mps=${E2E_TW_RATE:-10}
tw_ms=${E2E_TW_MS:-100}
. "$top/bench/e2e-lib.sh"
load() { cut -d ' ' -f 1-3 /proc/loadavg; }

# cpu_total RULE: CPU seconds of every stage of the last run of RULE
cpu_total() { awk '$1 != "sending" { c += $3 } END { printf "%.2f\n", c }' "$e/$1.stages"; }

# ratio_run LABEL DATADIR shipped|raised RULE TABLE: one run against the limits
ratio_run() {
	E2E_AIS_MS=$ais_ms E2E_TW_RATE=$mps E2E_TW_MS=$tw_ms
	export E2E_AIS_MS E2E_TW_RATE E2E_TW_MS
	env_start "$1" "$2" "$3"
	l0=$(load)
	run "$4"
	bound=$(echo "scale=3; $ais * $ais_ms / 1000 + $sms / $mps" | bc -l | sed 's/^\./0./')
	r=$(echo "scale=3; $wall / $bound" | bc -l | sed 's/^\./0./')
	# The requests of the two chains: jde-fetch's pages of the rule's
	# table (its first query and each /next) and jde-join's queries of
	# other tables, one after another in each process, the two processes
	# side by side; with the login and the logout, the longer chain is a
	# bound that R's (every request one after another) is not.
	tail -n +"$((a0 + 1))" "$e/ais.log" >"$e/ais.run"
	fq=$(grep -c -e '"path":"/jderest/v2/dataservice/next"' -e "\"targetName\":\"$5\"" "$e/ais.run" || true)
	jq_=$(($(grep -c '"path":"/jderest/v2/dataservice"' "$e/ais.run" || true) - $(grep -c "\"targetName\":\"$5\"" "$e/ais.run" || true)))
	chain=$((2 + (fq > jq_ ? fq : jq_)))
	cbound=$(echo "scale=3; $chain * $ais_ms / 1000 + $sms / $mps" | bc -l | sed 's/^\./0./')
	rc_=$(echo "scale=3; $wall / $cbound" | bc -l | sed 's/^\./0./')
	echo
	echo "== $1: ml-connector run $4 (storm $3): R = $r; over the longer chain $rc_"
	echo "   wall $wall s; bound $bound s = $ais AIS requests x ${ais_ms} ms + $sms SMS / $mps MPS" \
		"($mail e-mails besides); exit $rc"
	echo "   chains: jde-fetch $fq requests of $5, jde-join $jq_ of other tables; the longer with" \
		"login and logout: $chain x ${ais_ms} ms + $sms SMS / $mps MPS = $cbound s"
	echo "   CPU of the stages $(cpu_total "$4") s; AIS sim $aiscpu s, Twilio sim $twcpu s;" \
		"load before $l0, after $(load)"
	table "$4" "$1" ""
	stop_sims
	unset E2E_AIS_MS E2E_TW_RATE E2E_TW_MS
}

echo "# sh bench/ratio.sh -r $rpos -p $pos -i $inv -n $nsms $*; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# $(nproc) CPUs, $(uname -sr); AIS ${ais_ms} ms a request, Twilio $mps MPS, ${tw_ms} ms a create"

for s; do
	case $s in
	rate)
		data "$tmp/d-rate" "F4301=$rpos"
		ratio_run rate "$tmp/d-rate" raised high-value-po F4301
		rm -rf "$tmp/d-rate" "$e"
		;;
	storm)
		data "$tmp/d-storm" "F4301=$pos"
		ratio_run storm "$tmp/d-storm" shipped high-value-po F4301
		rm -rf "$tmp/d-storm" "$e"
		;;
	f0411)
		data "$tmp/d-f0411" "F0411=$inv"
		ratio_run f0411 "$tmp/d-f0411" shipped ap-aging F0411
		rm -rf "$tmp/d-f0411" "$e"
		;;
	ceiling)
		# the sending end alone: deliveries made beforehand, the two tees
		# and twilio-send as ml-connector runs them, each timed
		data "$tmp/d-ceil" "F4301=$pos"
		env_start ceiling "$tmp/d-ceil" raised
		bench_sms "$nsms" >"$tmp/ceil.in"
		c=$tmp/ceil
		l0=$(load)
		t0=$(now)
		/usr/bin/time -o "$c.t1" -f '%e %U %S' "$bin/alert-log" --rule bench --run-id c1 \
			--before twilio-send <"$tmp/ceil.in" |
			/usr/bin/time -o "$c.t2" -f '%e %U %S' "$bin/twilio-send" |
			/usr/bin/time -o "$c.t3" -f '%e %U %S' "$bin/alert-log" --rule bench --run-id c1 \
				--after twilio-send >"$c.out"
		t1=$(now)
		w=$(secs "$t0" "$t1")
		got=$(grep -c '"status":"queued"' "$c.out" || true)
		echo
		echo "== ceiling, sending end alone: $nsms deliveries, $got accepted, in $w s:" \
			"$(echo "scale=0; $got / $w" | bc) SMS/s; load before $l0, after $(load)"
		for k in 1 2 3; do
			case $k in 1) st="alert-log --before" ;; 2) st=twilio-send ;; 3) st="alert-log --after" ;; esac
			read -r sw su ss <"$c.t$k"
			echo "   $st: $(echo "$su + $ss" | bc | sed 's/^\./0./') CPU s," \
				"$(echo "scale=1; ($su + $ss) * 1000000 / $nsms" | bc) us CPU per SMS (wall $sw s)"
		done
		echo "   Twilio sim: $(simcpu "$twpid") CPU s"
		# a whole run, storm raised, nothing in the way: CPU per SMS per stage
		l0=$(load)
		run high-value-po
		echo
		echo "== ceiling, whole run: high-value-po, storm raised, F4301 $pos rows: $sms SMS in $wall s" \
			"($(echo "scale=0; $sms / $wall" | bc) SMS/s over the whole run); load before $l0, after $(load)"
		awk -v n="$sms" '$1 != "sending" && n > 0 { printf "   %-7s %8.2f CPU s %9.1f us per SMS\n", $1, $3, $3 * 1000000 / n }' \
			"$e/high-value-po.stages"
		echo "   (log1..log4: the alert-log tees after fetch/join, match, render and send)"
		stop_sims
		rm -rf "$tmp/d-ceil" "$e"
		;;
	*) usage ;;
	esac
done
