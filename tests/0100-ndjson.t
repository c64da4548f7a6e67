#!/usr/bin/env bash
# ndjson.c and util.c: line reading, caps, truncation, whole-line writes,
# write errors, JSON string escaping.
. "$(dirname "$0")/lib.sh"

printf '{"a":1}\n{"b":2}\r\n\n' >"$T/in"
ndjson-cat <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "clean input copies with status 0"
printf '{"a":1}\n{"b":2}\n\n' >"$T/want"
diff_ok "$T/out" "$T/want" "lines copied, CRLF folded, empty line kept"
is "$(cat "$T/err")" "" "nothing on stderr"

printf '{"a":1}\n{"b":2}' >"$T/in"
ndjson-cat <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 65 "unterminated last line: data error"
is "$(cat "$T/out")" '{"a":1}' "lines before the truncation are kept, the partial one is not"
like "$(cat "$T/err")" '^ndjson-cat: stdin: line 2: truncated input' "message names the line"

{ printf 'short\n'; head -c 300 /dev/zero | tr '\0' x; printf '\nafter\n'; } >"$T/in"
ndjson-cat -m 100 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 65 "over-long line: data error"
printf 'short\nafter\n' >"$T/want"
diff_ok "$T/out" "$T/want" "the long line is skipped, reading goes on"
like "$(cat "$T/err")" 'line 2: line longer than 100 bytes' "message names line and cap"

head -c 100 /dev/zero | tr '\0' y >"$T/in"; printf '\nok\n' >>"$T/in"
ndjson-cat -m 100 <"$T/in" >"$T/out" 2>"$T/err"
is "$?" 0 "a line of exactly the cap is accepted"

# A line much longer than the read buffer (64 KiB) and the default cap works.
head -c 1000000 /dev/zero | tr '\0' z >"$T/in"; printf '\n' >>"$T/in"
ndjson-cat <"$T/in" >"$T/out"
is "$(wc -c <"$T/out" | tr -d ' ')" 1000001 "a 1 MB line passes whole"

# Write errors: ENOSPC and EPIPE give the I/O status.
printf 'x\n' | ndjson-cat >/dev/full 2>"$T/err"
is "$?" 74 "ENOSPC on stdout: status 74"
like "$(cat "$T/err")" 'write error' "ENOSPC reported"
seq 1 200000 | sed 's/.*/{"n":&}/' >"$T/many"
ndjson-cat <"$T/many" 2>"$T/err" | head -n 1 >/dev/null
is "${PIPESTATUS[0]}" 74 "EPIPE on stdout: status 74, not killed by SIGPIPE"

# Whole lines only: a reader that stops early never sees half a line.
ndjson-cat <"$T/many" | head -c 65536 | tail -n +2 | head -n -1 | grep -cv '^{"n":[0-9]*}$' >"$T/bad"
is "$(cat "$T/bad")" 0 "every complete line in a cut stream is a whole object"

# JSON string escaping: quotes, backslash, controls, UTF-8 kept, bad UTF-8 replaced.
printf 'a"b\\c\t\001 Müller €\n\377x\n' | ndjson-cat -j >"$T/out"
printf '%s\n' '"a\"b\\c\t\u0001 Müller €"' '"�x"' >"$T/want"
diff_ok "$T/out" "$T/want" "JSON strings escaped, invalid UTF-8 replaced"
jq -c . <"$T/out" >/dev/null
ok "escaped output is valid JSON for jq"

vg ndjson-cat -m 100 <"$T/in" >/dev/null 2>&1
isnt "$?" 99 "reader loop clean under valgrind"

done_testing
