#!/usr/bin/env bash
# Project hygiene: no compiler warnings, shellcheck and mandoc -Tlint clean.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

# The static checks look at the sources, not at the build: the sanitizer
# run of the suite (MLC_SANITIZED=1) has had them from the normal run.
if [ "${MLC_SANITIZED:-0}" = 1 ]; then
	skip "warnings, shellcheck and mandoc: static, checked in the normal run (MLC_SANITIZED=1)"
else
	make -s warncheck >"$T/warn" 2>&1
	ok "every C source compiles with -Wall -Wextra ... -Werror"
	[ -s "$T/warn" ] && sed 's/^/#   /' "$T/warn" | head -n 30

	# Shell scripts: everything under scripts/ with a sh shebang, .ci/run, the
	# test library and helpers (POSIX sh, tests/src/*.sh), and the tests (bash).
	sh_files=$(for f in scripts/* .ci/run tests/lib.sh tests/tls/*.sh tests/src/*.sh bench/*.sh; do
		[ -f "$f" ] && head -c 64 "$f" | grep -q '^#!.*sh' && echo "$f"
	done; echo tests/lib.sh tests/e2e-lib.sh tests/lock-lib.sh tests/fault-matrix.sh bench/lib.sh)
	# shellcheck disable=SC2086 # one file name a word
	shellcheck $sh_files >"$T/sc" 2>&1
	ok "shellcheck clean on $(echo "$sh_files" | wc -w) shell scripts"
	[ -s "$T/sc" ] && sed 's/^/#   /' "$T/sc" | head -n 30
	# every test, in batches on two cores (shellcheck follows each test's
	# sources again, so it is the longest check here: half the wall time)
	printf '%s\n' tests/*.t | xargs -P 2 -n 20 shellcheck -s bash >"$T/sc" 2>&1
	ok "shellcheck clean on the tests"
	[ -s "$T/sc" ] && sed 's/^/#   /' "$T/sc" | head -n 30

	# wait_for's arguments are evaluated once: a "$(...)" among them freezes
	# the condition (it then waits out its timeout and goes on unchecked)
	# shellcheck disable=SC2016 # the pattern names a "$(" literally
	grep -n 'wait_for [^#]*"\$(' tests/*.t tests/*.sh >"$T/frozen"
	is "$(cat "$T/frozen")" "" "no wait_for condition frozen by a command substitution"

	man_files=$(ls man/*.[1-8] 2>/dev/null)
	if [ -n "$man_files" ]; then
		# shellcheck disable=SC2086
		mandoc -Tlint -Wwarning $man_files >"$T/man" 2>&1
		ok "mandoc -Tlint clean on $(echo "$man_files" | wc -w) man pages"
		[ -s "$T/man" ] && sed 's/^/#   /' "$T/man" | head -n 30
	else
		skip "no man pages yet"
	fi
fi

# Every program, installed or simulator, has a man page, --help and --version.
version=$(sed -n 's/^VERSION = //p' config.mk)
for p in $(make -s -f Makefile print-progs print-sims 2>/dev/null); do
	n=$(basename "$p")
	ls man/"$n".[1-8] >/dev/null 2>&1
	ok "$n has a man page"
	"$p" --help 2>/dev/null | grep -q '^usage: '
	ok "$n --help prints its usage"
	like "$("$p" --version 2>&1)" "^$n.* $version\$" "$n --version"
done

done_testing
