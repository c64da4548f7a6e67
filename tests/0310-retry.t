#!/usr/bin/env bash
# src/retry.c through tests/bin/retry-calc: the classification table (each
# outcome and status, idempotent or not), full-jitter backoff bounded by
# the cap, Retry-After raising and clamped, the budget, max_attempts.
. "$(dirname "$0")/lib.sh"

# ---- classification ----
statuses="200 201 204 301 304 400 401 403 404 408 409 422 429 444 500 501 502 503 504 505 507"
{
	for s in $statuses; do
		for i in 0 1; do
			printf 'DONE %s %s %s\n' "$s" "$i" "$(retry-calc classify DONE "$s" "$i")"
		done
	done
	for o in NOT_SENT UNKNOWN TLS POLICY ERROR; do
		for i in 0 1; do
			printf '%s 0 %s %s\n' "$o" "$i" "$(retry-calc classify "$o" 0 "$i")"
		done
	done
} >"$T/class.got"
cat >"$T/class.want" <<'EOF'
DONE 200 0 NO
DONE 200 1 NO
DONE 201 0 NO
DONE 201 1 NO
DONE 204 0 NO
DONE 204 1 NO
DONE 301 0 NO
DONE 301 1 NO
DONE 304 0 NO
DONE 304 1 NO
DONE 400 0 NO
DONE 400 1 NO
DONE 401 0 AUTH
DONE 401 1 AUTH
DONE 403 0 AUTH
DONE 403 1 AUTH
DONE 404 0 NO
DONE 404 1 NO
DONE 408 0 YES
DONE 408 1 YES
DONE 409 0 NO
DONE 409 1 NO
DONE 422 0 NO
DONE 422 1 NO
DONE 429 0 YES
DONE 429 1 YES
DONE 444 0 AUTH
DONE 444 1 AUTH
DONE 500 0 UNKNOWN
DONE 500 1 YES
DONE 501 0 NO
DONE 501 1 NO
DONE 502 0 UNKNOWN
DONE 502 1 YES
DONE 503 0 YES
DONE 503 1 YES
DONE 504 0 UNKNOWN
DONE 504 1 YES
DONE 505 0 NO
DONE 505 1 NO
DONE 507 0 UNKNOWN
DONE 507 1 YES
NOT_SENT 0 0 YES
NOT_SENT 0 1 YES
UNKNOWN 0 0 UNKNOWN
UNKNOWN 0 1 YES
TLS 0 0 NO
TLS 0 1 NO
POLICY 0 0 NO
POLICY 0 1 NO
ERROR 0 0 NO
ERROR 0 1 NO
EOF
diff_ok "$T/class.got" "$T/class.want" "classification table: status x idempotent, outcomes"
# A status kept on a cut-short response does not make it a DONE.
is "$(retry-calc classify UNKNOWN 201 0)" UNKNOWN "UNKNOWN with a kept 201 (POST) stays UNKNOWN"
is "$(retry-calc classify UNKNOWN 200 1)" YES "UNKNOWN with a kept 200 (GET) retries"

# ---- delays ----
export ML_CONNECTOR_RETRY_SEED=1
d() { retry-calc delays "$@" | tr '\n' ' ' | sed 's/ $//'; }

seq1=$(d)
is "$(echo "$seq1" | wc -w | tr -d ' ')" 5 "defaults: 4 delays after 5 attempts' failures, then -1"
is "${seq1##* }" -1 "the sequence ends with -1"
is "$(d)" "$seq1" "a fixed seed gives a fixed sequence"
isnt "$(ML_CONNECTOR_RETRY_SEED=2 d)" "$seq1" "another seed, another sequence"
isnt "$(ML_CONNECTOR_RETRY_SEED='' d -b 100000000 -c 100000000 -B 2000000000)" \
	"$(ML_CONNECTOR_RETRY_SEED='' d -b 100000000 -c 100000000 -B 2000000000)" \
	"unseeded: random (libsodium) sequences differ"

# Every delay within [0, min(cap, base * 2^(n-1))], over many (fixed) seeds.
bad=0
max1=0 min1=999999
for seed in $(seq 1 60); do
	n=0
	for v in $(ML_CONNECTOR_RETRY_SEED=$seed d -n 10 -b 500 -c 4000); do
		n=$((n + 1))
		[ "$v" = -1 ] && break
		c=$((500 << (n - 1)))
		[ "$c" -gt 4000 ] && c=4000
		if [ "$v" -lt 0 ] || [ "$v" -gt "$c" ]; then
			bad=$((bad + 1))
			echo "# seed $seed attempt $n: $v outside [0, $c]"
		fi
		if [ "$n" = 1 ]; then
			[ "$v" -gt "$max1" ] && max1=$v
			[ "$v" -lt "$min1" ] && min1=$v
		fi
	done
	[ "$n" = 10 ] || bad=$((bad + 1))
done
is "$bad" 0 "60 seeds: 9 delays each, all within [0, min(cap, base*2^(n-1))]"
[ "$max1" -gt 400 ] && [ "$min1" -lt 100 ]
ok "full jitter spreads over the whole range (first delays $min1..$max1 of 0..500)"
is "$(d -n 6 -b 0 -c 1000)" "0 0 0 0 0 -1" "base 0: no backoff"
is "$(d -n 4 -b 1000 -c 0)" "0 0 0 -1" "cap 0: no backoff"

# ---- Retry-After ----
is "$(d -b 100 -c 1000 -r 5000)" "5000 5000 5000 5000 -1" "Retry-After raises every delay"
is "$(d -r 0)" "$seq1" "Retry-After: 0 never lowers the jittered delay"
is "$(d -r 500000)" "120000 120000 -1" \
	"Retry-After clamped to 120000 ms; the budget (300000) ends it"
is "$(d -r 500000 -m 1000 -n 4 -b 100 -c 500)" "1000 1000 1000 -1" "retry_after_max_ms respected"

# ---- budget and attempts ----
is "$(d -b 1000 -c 1000 -r 1000 -B 3500 -n 100)" "1000 1000 1000 -1" \
	"the budget: no delay that would end past it"
is "$(d -b 1000 -c 1000 -r 1000 -B 3000 -n 100)" "1000 1000 1000 -1" \
	"the budget: a delay ending exactly on it is allowed"
is "$(d -r 10 -B 5)" "-1" "a Retry-After beyond the whole budget: give up at once"
is "$(d -n 1)" "-1" "max_attempts 1: never retry"
is "$(d -n 3 -r 7)" "$(d -n 3 -r 7 | cut -d' ' -f1-2) -1" "max_attempts 3: two delays"
is "$(d -n 3 | wc -w | tr -d ' ')" 3 "max_attempts 3: two delays and -1"

# ---- sleep ----
t0=$(date +%s%N)
retry-calc sleep 300
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
# At least the time asked; the bound above only catches a unit mistake
# (300 s), since a loaded machine may start the program late.
[ "$ms" -ge 300 ] && [ "$ms" -lt 30000 ]
ok "mlc_retry_sleep 300 ms ($ms ms)"

vg retry-calc delays -n 8 -r 5 >/dev/null
is "$?" 0 "valgrind: delays"
vg retry-calc classify DONE 503 0 >/dev/null
is "$?" 0 "valgrind: classify"

done_testing
