#!/bin/sh
# man-examples — the one reader of a man page's EXAMPLES section, for the
# tests that run the examples as written (built into tests/bin/man-examples).
#
# usage: man-examples [-c | -o | -n] PAGE [N]
#
# A display is a .Bd ... .Ed block or a .Dl line of the EXAMPLES section
# (up to the next .Sh), numbered from 1 in page order.  Macro lines inside
# a block are dropped, and the roff escapes a page uses in examples are
# undone: \e is a backslash, \& nothing, \- a hyphen.
#   man-examples PAGE N      display N as the reader sees it
#   man-examples -c PAGE N   display N's commands: a transcript's "$ " or
#                            "# " lines without the prompt, each with the
#                            lines that continue it (the previous line ends
#                            in \ or |, or the line is indented)
#   man-examples -o PAGE N   display N's output: the transcript's other lines
#   man-examples -n PAGE     how many displays the section has
# Exit: 0; 64 usage; 66 no such page; 65 no EXAMPLES section, or no display N.
set -eu

mode=text
case ${1:-} in
-c) mode=cmd; shift ;;
-o) mode=out; shift ;;
-n) mode=count; shift ;;
-*) echo "usage: man-examples [-c | -o | -n] PAGE [N]" >&2; exit 64 ;;
esac
if [ "$mode" = count ]; then
	[ $# -eq 1 ] || { echo "usage: man-examples -n PAGE" >&2; exit 64; }
	want=0
else
	[ $# -eq 2 ] || { echo "usage: man-examples [-c | -o] PAGE N" >&2; exit 64; }
	case $2 in
	'' | *[!0-9]* | 0) echo "man-examples: $2: not a display number" >&2; exit 64 ;;
	esac
	want=$2
fi
page=$1
[ -r "$page" ] || { echo "man-examples: $page: cannot read" >&2; exit 66; }

awk -v want="$want" -v mode="$mode" -v page="$page" '
function unescape(s) {
	gsub(/\\e/, "\001", s)
	gsub(/\\&/, "", s)
	gsub(/\\-/, "-", s)
	gsub(/\001/, "\\", s)
	return s
}
# One line of display N, by mode.
function emit(s) {
	if (mode == "text") {
		print s
		return
	}
	if (s ~ /^[$#] /) {
		incmd = 1
		s = substr(s, 3)
	} else if (!(incmd && (cont || s ~ /^[ \t]/))) {
		incmd = 0
	}
	if (incmd) {
		if (mode == "cmd")
			print s
		cont = (s ~ /[\\|][ \t]*$/)
	} else if (mode == "out") {
		print s
	}
}
/^\.Sh / { ex = ($0 ~ /^\.Sh EXAMPLES[ \t]*$/); next }
!ex { next }
/^\.Bd/ { n++; inb = 1; next }
/^\.Ed/ { inb = 0; next }
/^\.Dl / { n++; if (n == want) emit(unescape(substr($0, 5))); next }
inb && /^\./ { next }
inb && n == want { emit(unescape($0)) }
END {
	if (n == 0) {
		printf "man-examples: %s: no EXAMPLES display\n", page > "/dev/stderr"
		exit 65
	}
	if (mode == "count")
		print n
	else if (want > n) {
		printf "man-examples: %s: %d displays, no display %d\n", page, n, want > "/dev/stderr"
		exit 65
	}
}' "$page"
