#!/usr/bin/env bash
# src/mlc.h, the one shared header: sectioned by the file that implements
# each part, so every section names a module that exists and every shared
# module has a section; and every function it declares is called somewhere
# (an export nobody calls is dead code that still has to be kept right).
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
# Static: the sources, not the build; the sanitizer run of the suite
# (MLC_SANITIZED=1) has had it from the normal run, as tests/0010.
if [ "${MLC_SANITIZED:-0}" = 1 ]; then
	skip "mlc.h sections and callers: static, checked in the normal run (MLC_SANITIZED=1)"
	done_testing
	exit 0
fi

# "/* ---- FILE.c: what -----" headers, and the modules of libmlc.a.
sed -n 's|^/\* ---- \([a-z0-9_-]*\.c\)[: ].*|\1|p' src/mlc.h | sort -u >"$T/sections"
bad=$(while read -r f; do [ -f "src/$f" ] || echo "$f"; done <"$T/sections")
is "$bad" "" "every section of mlc.h names a file of src/"
sed -n '/^LIBOBJ = /,/^$/p' Makefile | grep -oE 'src/[a-z0-9_-]+\.o' |
	sed 's|^src/\(.*\)\.o$|\1.c|' | sort -u >"$T/modules"
[ "$(wc -l <"$T/modules")" -gt 10 ]
ok "libmlc.a has $(wc -l <"$T/modules" | tr -d ' ') modules (Makefile LIBOBJ)"
is "$(comm -23 "$T/modules" "$T/sections" | tr '\n' ' ')" "" \
	"every module of libmlc.a has its section in mlc.h"

# Comments removed (cc -fpreprocessed keeps #include lines unexpanded), so
# that a name in a comment is no call.
for f in src/*.c tests/src/*.c tests/fuzz/*.c; do
	cc -fpreprocessed -dD -E -P "$f" 2>/dev/null
done >"$T/code"
[ -s "$T/code" ]
ok "the sources without their comments"
cc -fpreprocessed -dD -E -P src/mlc.h 2>/dev/null |
	grep -oE '\bmlc_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u >"$T/decl"
[ "$(wc -l <"$T/decl")" -gt 100 ]
ok "mlc.h declares $(wc -l <"$T/decl" | tr -d ' ') functions"
# Each name's mentions, less its definition ("name(" at the start of a line).
grep -ohwF -f "$T/decl" "$T/code" | sort | uniq -c >"$T/uses"
grep -oE '^mlc_[a-z0-9_]+\(' "$T/code" | tr -d '(' | sort | uniq -c >"$T/defs"
dead=$(awk 'FILENAME == ARGV[1] { u[$2] = $1; next }
	FILENAME == ARGV[2] { d[$2] = $1; next }
	u[$1] - d[$1] <= 0 { printf "%s ", $1 }' "$T/uses" "$T/defs" "$T/decl")
is "$dead" "" "every function mlc.h declares is called (no dead export)"

done_testing
