#!/usr/bin/env bash
# Every source file opens with the one sentence that says what it is for
# (issue 12): a C file's first comment, a script's first comment lines after
# the #! line, each beginning with the file's name and a dash, and ending
# its first sentence within the first five lines.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
# Static: the sources, not the build; the sanitizer run of the suite
# (MLC_SANITIZED=1) has had it from the normal run, as tests/0010.
if [ "${MLC_SANITIZED:-0}" = 1 ]; then
	skip "file openings: static, checked in the normal run (MLC_SANITIZED=1)"
	done_testing
	exit 0
fi

# opening FILE: the file's opening comment as one line of text, without the
# comment markers: "/* … */" for C, the "# " lines after "#!" for scripts.
opening() {
	case $1 in
	*.c | *.h)
		sed -n '1,6{s|^/\*[[:space:]]*||;s|^ \*[[:space:]]*||;s|\*/.*||;p;}' "$1" ;;
	*)
		sed -n '1{/^#!/d;};1,7{/^#/!q;s/^#[[:space:]]*//;p;}' "$1" ;;
	esac | tr '\n' ' ' | sed 's/^ *//'
}

files=$(git ls-files 'src/*.[ch]' 'sim/*.[ch]' 'tests/src/*.c' 'tests/fuzz/*.c' \
	'scripts/*' 'bench/*.sh' 'tests/*.sh' | sort)
[ "$(echo "$files" | wc -l)" -gt 40 ]
ok "$(echo "$files" | wc -l | tr -d ' ') source files to look at"

nameless="" endless=""
for f in $files; do
	o=$(opening "$f")
	b=${f##*/}
	# the name the sentence starts with: the file, its path, or the program
	case $o in
	"$b — "* | "$f — "* | "${b%.*} — "* | "Fuzz target:"*) ;;
	*) nameless="$nameless $f" ;;
	esac
	# one sentence ends within the opening lines: ". " or "." at the end,
	# not the full stop of an abbreviation such as "e.g."
	printf '%s\n' "$o" | sed 's/e\.g\./eg/g; s/i\.e\./ie/g; s/etc\./etc/g' |
		grep -qE '[A-Za-z0-9)`"]\.( |$)' || endless="$endless $f"
done
is "$nameless" "" "every source file's opening names the file"
is "$endless" "" "every source file's opening sentence ends within five lines"

# The check sees a file without its sentence.
printf '#include <stdio.h>\nint x;\n' >"$T/bare.c"
o=$(opening "$T/bare.c")
case $o in "bare.c — "*) fail "a file with no opening passes" ;; *) ok "a file with no opening is found" ;; esac

done_testing
