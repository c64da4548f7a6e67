#!/bin/sh
# bench/fuzz.sh — run the libFuzzer targets built by `make fuzz-build`
# (tests/fuzz/bin/fuzz-NAME), two at a time, FUZZ_SECONDS each (default 600).
# New inputs go to a scratch corpus (tests/fuzz/work/NAME, not committed);
# crashes land in tests/fuzz/work/NAME/crash-*.  Logs: tests/fuzz/work/NAME.log.
# Usage: FUZZ_SECONDS=600 sh bench/fuzz.sh [NAME...]
set -u
cd "$(dirname "$0")/.." || exit 1
secs=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-2}
[ $# -gt 0 ] || set -- ndjson conf jdepage callback template sms wire

maxlen() {
	case $1 in
	ndjson) echo 16384 ;;
	conf) echo 8192 ;;
	jdepage) echo 16384 ;;
	callback) echo 4096 ;;
	template) echo 512 ;;
	sms) echo 4096 ;;
	*) echo 4096 ;;
	esac
}

run() {
	w=tests/fuzz/work/$1
	mkdir -p "$w/new" "$w/crash"
	# ndjson: the reader's messages (one per bad line) would fill the log.
	mask=0
	[ "$1" = ndjson ] && mask=2
	tests/fuzz/bin/fuzz-"$1" -max_total_time="$secs" -max_len="$(maxlen "$1")" \
		-close_fd_mask="$mask" -rss_limit_mb=2048 -artifact_prefix="$w/crash/" -print_final_stats=1 \
		"$w/new" "tests/fuzz/corpus/$1" >"tests/fuzz/work/$1.log" 2>&1
	echo "$1: exit $? ($(grep -c . "tests/fuzz/work/$1.log") log lines)"
}

n=0
for t in "$@"; do
	run "$t" &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		n=0
	fi
done
wait
