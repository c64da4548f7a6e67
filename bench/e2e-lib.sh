# bench/e2e-lib.sh — the measured pipeline of bench/e2e.sh and bench/ratio.sh
# (POSIX sh, sourced after $top and $bin are set and bench/lib.sh is
# sourced): a scratch directory, wrappers that time every stage inside the
# real orchestrator, environments (both simulators, a configuration, a
# vault, the two seed rules) and one measured run.
#
# Environment knobs of env_start (defaults: nothing in the way, as
# bench/e2e.sh measures the programs):
#   E2E_AIS_MS     AIS simulator latency per request, ms (fault slow:ms=N,
#                  every request); default 0
#   E2E_TW_RATE    Twilio simulator's rate limit, creates per second (its
#                  --rate; 0 none) and [twilio] rate, twilio-send's pacer
#                  (10000, its maximum, when 0); default 0
#   E2E_TW_MS      Twilio simulator latency per request, ms; default 0
# shellcheck shell=sh disable=SC2154
tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2e-bench.XXXXXX")
aispid=
twpid=
stop_sims() {
	for p in $aispid $twpid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	aispid=''
	twpid=''
}
# KEEP=1: the scratch directory is kept (and named) for a look afterwards
cleanup() {
	stop_sims
	[ -z "${KEEP:-}" ] || { echo "kept $tmp"; return; }
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | sed 's/^\./0./;s/\(\.[0-9][0-9]\).*/\1/'; }
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
# simcpu PID: CPU seconds (user + system) a simulator has used so far
simcpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"; }
secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

(umask 077 && secret >"$tmp/ais.pw" && secret >"$tmp/tw.token" && secret >"$tmp/sg.key")
sid=AC$(secret)

# ---- the wrappers ---------------------------------------------------------
# E2E_STATS/TOOL.PID: "START-EPOCH ARGS", then "%e %U %S %M" of the run;
# a tee-mode alert-log adds .first (its first line) and .lines.
mkdir "$tmp/wrap"
cp "$bin/ml-connector" "$tmp/wrap/"
for t in jde-fetch jde-join alert-match alert-render twilio-send alert-log; do
	cat >"$tmp/wrap/$t" <<EOF
#!/bin/sh
f=\$E2E_STATS/$t.\$\$
printf '%s %s\n' "\$(date +%s.%N)" "\$*" >"\$f"
# a tee: no subcommand (the orchestrator gives --rule, --run-id, --before ...)
if [ "$t" = alert-log ] && { [ \$# -eq 0 ] || [ "\${1#-}" != "\$1" ]; }; then
	mkfifo "\$f.fifo"
	{ if IFS= read -r l; then date +%s.%N >"\$f.t1"; printf '%s\n' "\$l" >"\$f.first"; echo \$((\$(wc -l) + 1)); else echo 0; fi; } \\
		<"\$f.fifo" >"\$f.lines" &
	tee "\$f.fifo" | /usr/bin/time -a -o "\$f" -f '%e %U %S %M' "$bin/$t"
	rc=\$?
	wait
	rm -f "\$f.fifo"
	exit \$rc
fi
exec /usr/bin/time -a -o "\$f" -f '%e %U %S %M' "$bin/$t" "\$@"
EOF
	chmod +x "$tmp/wrap/$t"
done

# ---- environments ---------------------------------------------------------
# data DIR TABLE=N...: sample tables (the Address Book for the joins) plus
# generated ones
data() {
	d=$1
	shift
	mkdir -p "$d"
	cp "$top"/data/jde/*.ndjson "$top/data/jde/columns.json" "$d/"
	for tn in "$@"; do
		"$top/scripts/gen-jde-data" "${tn%=*}" "${tn#*=}" >"$d/${tn%=*}.ndjson"
	done
}

# env_start NAME DATADIR shipped|raised: both simulators, a configuration, a
# vault with the three secrets, the two seed rules (storm raised or not)
env_start() {
	stop_sims
	e=$tmp/env-$1
	rm -rf "$e"
	mkdir -p "$e/rules"
	cp "$top/data/rules/high-value-po.rule" "$top/data/rules/ap-aging.rule" "$e/rules/"
	[ "$3" = shipped ] || sed -i 's/^storm *=.*/storm       = 100000000/' "$e"/rules/*.rule
	if [ "${E2E_AIS_MS:-0}" -gt 0 ]; then
		"$bin/mlc-ais-sim" --port 0 --port-file "$e/ais.port" --request-log "$e/ais.log" \
			--password-file "$tmp/ais.pw" --today 2026-11-26 --data "$2" \
			--fault "slow:ms=$E2E_AIS_MS,count=0" 2>"$e/ais.err" &
	else
		"$bin/mlc-ais-sim" --port 0 --port-file "$e/ais.port" --request-log "$e/ais.log" \
			--password-file "$tmp/ais.pw" --today 2026-11-26 --data "$2" 2>"$e/ais.err" &
	fi
	aispid=$!
	"$bin/mlc-twilio-sim" --port 0 --port-file "$e/tw.port" --request-log "$e/tw.log" \
		--account-sid "$sid" --auth-token-file "$tmp/tw.token" \
		--sendgrid-key-file "$tmp/sg.key" --rate "${E2E_TW_RATE:-0}" \
		--latency "${E2E_TW_MS:-0}" 2>"$e/tw.err" &
	twpid=$!
	if ! bench_ports "$e/ais.port" "$e/tw.port"; then
		echo "bench/e2e.sh: a simulator did not start" >&2
		cat "$e"/*.err >&2
		exit 70
	fi
	cat >"$e/conf" <<EOF
[general]
default_country = 1
timezone = America/Chicago
rules_dir = $e/rules
[ais]
url = http://127.0.0.1:$(cat "$e/ais.port")
user = JDE
environment = JDV920
device = bench
timeout = 600
[twilio]
account_sid = $sid
from = +15005550006
rate = $( [ "${E2E_TW_RATE:-0}" = 0 ] && echo 10000 || echo "$E2E_TW_RATE")
max_in_flight = 64
base_url = http://127.0.0.1:$(cat "$e/tw.port")
[sendgrid]
from = alerts@hartmann.example
base_url = http://127.0.0.1:$(cat "$e/tw.port")
EOF
	export ML_CONNECTOR_CONF="$e/conf" ML_CONNECTOR_STATE="$e/state" ML_CONNECTOR_RULES="$e/rules"
	"$bin/mlc-vault" init >/dev/null 2>&1
	"$bin/mlc-vault" set ais.password <"$tmp/ais.pw"
	"$bin/mlc-vault" set twilio.auth_token <"$tmp/tw.token"
	"$bin/mlc-vault" set sendgrid.api_key <"$tmp/sg.key"
}

# ---- one measured run -------------------------------------------------------
# run RULE: ml-connector run RULE in the current environment; sets wall, rc,
# ais (requests), pages (data service requests), twr (Twilio + SendGrid
# requests), sms (messages created), mail (mails accepted), aiscpu and
# twcpu (the simulators' CPU seconds during the run) and leaves the
# per-stage figures in $e/RULE.stages: STAGE wall cpu rss in out
run() {
	E2E_STATS=$e/stats.$1
	export E2E_STATS
	mkdir -p "$E2E_STATS"
	touch "$e/ais.log" "$e/tw.log"
	a0=$(wc -l <"$e/ais.log")
	p0=$(grep -c '"path":"/jderest/v2/dataservice' "$e/ais.log" || true)
	w0=$(grep -c '"kind":"request"' "$e/tw.log" || true)
	s0=$(grep -c '"status":201' "$e/tw.log" || true)
	m0=$(grep -c '"status":202' "$e/tw.log" || true)
	ac0=$(simcpu "$aispid")
	tc0=$(simcpu "$twpid")
	t0=$(now)
	rc=0
	PATH=$tmp/wrap:$bin:$PATH "$tmp/wrap/ml-connector" run "$1" 2>"$e/$1.err" || rc=$?
	t1=$(now)
	wall=$(secs "$t0" "$t1")
	aiscpu=$(echo "$(simcpu "$aispid") - $ac0" | bc | sed 's/^\./0./')
	twcpu=$(echo "$(simcpu "$twpid") - $tc0" | bc | sed 's/^\./0./')
	ais=$(($(wc -l <"$e/ais.log") - a0))
	pages=$(($(grep -c '"path":"/jderest/v2/dataservice' "$e/ais.log" || true) - p0))
	twr=$(($(grep -c '"kind":"request"' "$e/tw.log" || true) - w0))
	sms=$(($(grep -c '"status":201' "$e/tw.log" || true) - s0))
	mail=$(($(grep -c '"status":202' "$e/tw.log" || true) - m0))
	[ "$rc" = 0 ] || { echo "bench/e2e.sh: ml-connector run $1: exit $rc" >&2; cat "$e/$1.err" >&2; }
	stages "$E2E_STATS" >"$e/$1.stages"
}

# stages DIR: one line per pipeline stage: NAME wall cpu rss lines-in lines-out
stages() {
	for f in "$1"/*.[0-9]*; do
		case $f in *.first | *.lines | *.fifo | *.t1) continue ;; esac
		tool=${f##*/}
		tool=${tool%.*}
		kind=""
		if [ -f "$f.lines" ]; then
			if [ ! -s "$f.first" ]; then kind=""
			elif grep -q '"attempts"' "$f.first"; then kind=log4
			elif grep -q '"delivery_id"' "$f.first"; then kind=log3
			elif grep -q '"alert_id"' "$f.first"; then kind=log2
			else kind=log1; fi
		fi
		printf '%s %s %s %s %s %s\n' "$tool" "${kind:--}" "$(tail -n 1 "$f")" \
			"$(cat "$f.lines" 2>/dev/null || echo -)" "$(cat "$f.t1" 2>/dev/null || echo -)" \
			"$(head -n 1 "$f")"
	done | awk '
	# tool kind wall user sys rss lines first-line-time start args...
	{
		args = ""
		for (i = 10; i <= NF; i++) args = args " " $i
		cpu = $4 + $5
		if ($1 == "jde-fetch" && args ~ /--run-id/) s = "fetch"
		else if ($1 == "jde-join") s = "join"
		else if ($1 == "alert-match") s = "match"
		else if ($1 == "alert-render" && args !~ /--release/) s = "render"
		else if ($1 == "twilio-send" && args == "") {
			# the main pipeline'"'"'s sender starts last (the one of the
			# deferred deliveries runs before it)
			if ($9 > sendstart) { sendstart = $9; W["send"] = $3; C["send"] = cpu; R["send"] = $6 }
			next
		} else if ($2 ~ /^log/) s = $2
		else next
		W[s] = $3; C[s] = cpu; R[s] = $6; L[s] = $7
		if (s == "log3") first3 = $8
	}
	END {
		# lines in and out from the logs that follow each stage
		In["fetch"] = "-"; Out["fetch"] = L["log1"]
		In["join"] = L["log1"]; Out["join"] = L["log1"]
		In["match"] = L["log1"]; Out["match"] = L["log2"]
		In["render"] = L["log2"]; Out["render"] = L["log3"]
		In["send"] = L["log3"]; Out["send"] = L["log4"]
		for (k = 1; k <= 4; k++) { In["log" k] = L["log" k]; Out["log" k] = L["log" k] }
		n = split("fetch join log1 match log2 render log3 send log4", order, " ")
		for (k = 1; k <= n; k++) {
			s = order[k]
			if (!(s in W)) continue
			printf "%s %s %.2f %s %s %s\n", s, W[s], C[s], R[s], In[s] == "" ? 0 : In[s], Out[s] == "" ? 0 : Out[s]
		}
		# seconds from the first delivery reaching the sender to its exit
		if ("send" in W && first3 != "" && first3 != "-")
			printf "sending %.2f\n", sendstart + W["send"] - first3
	}'
}

# table RULE LABEL: print the stages of the last run of RULE
table() {
	echo
	echo "== $2: ml-connector run $1: $wall s wall, exit $rc; AIS requests $ais ($pages data service pages);"
	echo "   Twilio/SendGrid requests $twr: $sms SMS created, $mail e-mails accepted$3"
	echo "   CPU of the simulators during the run: AIS $aiscpu s, Twilio $twcpu s"
	printf '   %-7s %9s %9s %10s %9s %9s\n' stage "wall s" "CPU s" "peak KiB" "lines in" "lines out"
	while read -r s w c r i o; do
		[ "$s" != sending ] || continue
		printf '   %-7s %9s %9s %10s %9s %9s\n' "$s" "$w" "$c" "$r" "$i" "$o"
	done <"$e/$1.stages"
}

stage_of() { awk -v s="$2" '$1 == s { print $'"$3"' }' "$e/$1.stages"; }
