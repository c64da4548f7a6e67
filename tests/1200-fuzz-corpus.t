#!/bin/bash
# Replay every fuzz corpus and regression input (tests/fuzz/) through the
# gcc-built replayers: each must run to the end with status 0 (under
# `make check-asan` the sanitizers check them too).
. "$(dirname "$0")/lib.sh"

for t in ndjson conf jdepage callback template sms wire; do
	set --
	for f in "$TOP/tests/fuzz/corpus/$t"/* "$TOP/tests/fuzz/regress/$t"/*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	if [ $# -eq 0 ]; then
		skip "fuzz-$t: no inputs"
		continue
	fi
	fuzz-"$t" "$@" >"$T/$t.out" 2>"$T/$t.err"
	ok "fuzz-$t replays $# inputs"
	[ -s "$T/$t.err" ] && sed 's/^/# /' "$T/$t.err" | head -n 20
done

done_testing
