# bench/lib.sh — what the benchmarks share, sourced by bench/*.sh (POSIX sh):
# waiting for a simulator's port file, and the SMS delivery lines the
# twilio-send benchmarks feed it.
# shellcheck shell=sh

# bench_ports FILE...: wait (up to 10 s) until every port file is written;
# 0, or 1 if one never is.  A simulator writes its port file whole
# (a rename), so a non-empty file holds the whole port.
bench_ports() {
	_i=0
	while [ "$_i" -lt 200 ]; do
		_all=1
		for _f; do
			[ -s "$_f" ] || _all=0
		done
		[ "$_all" = 1 ] && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# bench_sms N: N SMS delivery lines, each to its own number.
bench_sms() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"delivery_id\":\"bench:%d/sms/+1555%07d\",\"channel\":\"sms\",\"to\":\"+1555%07d\",\"body\":\"Invoice %d from Acme Corp due 5 days ago - amount 25000\"}\n", i, i, i, i }'
}
