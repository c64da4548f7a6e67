#!/usr/bin/env bash
# Options: for every program (the Makefile's PROGS, SIMS and SCRIPTS, and
# whatever else is in bin/), --help, the man page's SYNOPSIS and the options
# the program accepts agree.  tests/optlint.pl derives each list (see there)
# and probes each option so that the program stops at its options.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

progs=$( {
	make -s -f Makefile print-progs print-sims | tr ' ' '\n'
	for f in bin/*; do [ -x "$f" ] && echo "$f"; done
} | sed 's|^\./||' | sort -u)

for p in $progs; do
	n=$(basename "$p")
	man=""
	for m in man/"$n".1 man/"$n".8; do
		[ -f "$m" ] && man=$m && break
	done
	if [ -z "$man" ]; then
		false
		ok "$n has a man page in section 1 or 8"
		continue
	fi
	src=""
	for s in src/"$n".c sim/"$n".c scripts/"$n".sh; do
		[ -f "$s" ] && src=$s && break
	done
	# a program of several files (src/NAME.c and src/NAME-*.c): all of them
	if [ "$src" = "src/$n.c" ] && ls src/"$n"-*.c >/dev/null 2>&1; then
		cat src/"$n".c src/"$n"-*.c >"$T/$n.c"
		src=$T/$n.c
	fi
	"$p" --help >"$T/$n.help" 2>&1
	perl tests/optlint.pl "$TOP/$p" "$man" "$T/$n.help" "$src" >"$T/$n.lint" 2>&1
	ok "$n: optlint ran"
	while IFS= read -r l; do
		case $l in
		"PASS "*) true; ok "${l#PASS }" ;;
		"FAIL "*) false; ok "${l#FAIL }" ;;
		"SKIP "*) skip "${l#SKIP }" ;;
		*) echo "$l" ;;
		esac
	done <"$T/$n.lint"
done

done_testing
