#!/usr/bin/env bash
# tests/lib.sh itself: the helpers that judge what a killed writer left.
. "$(dirname "$0")/lib.sh"

# verdict CMD...: the first word (ok / not) of what a lib.sh check prints,
# run in a subshell so that its own count stays out of ours.
verdict() { ("$@") | sed -n '1s/ .*//p'; }

printf 'a1\nb22\nc333\n' >"$T/want"
printf 'a1\nb22\n' >"$T/whole"
printf 'a1\nb22\nc3' >"$T/frag"
printf 'a1\nb22\nx3' >"$T/badfrag"
printf 'a1\nbXX\n' >"$T/badline"
printf 'a1\nb22\nc333\nd4\n' >"$T/more"
: >"$T/empty"

is "$(verdict lines_prefix_ok "$T/whole" "$T/want" w)" ok "whole lines only: a prefix"
is "$(verdict lines_prefix_ok "$T/frag" "$T/want" f)" ok \
	"a trailing fragment of the next line (a kill inside write) is a prefix"
is "$(verdict lines_prefix_ok "$T/empty" "$T/want" e)" ok "nothing written is a prefix"
is "$(verdict lines_prefix_ok "$T/badfrag" "$T/want" bf)" not "a fragment of something else is not"
is "$(verdict lines_prefix_ok "$T/badline" "$T/want" bl)" not "a whole line that differs is not"
is "$(verdict lines_prefix_ok "$T/more" "$T/want" m)" not "more whole lines than recorded is not"
is "$(verdict diff_ok "$T/frag" "$T/want" d)" not "(diff_ok alone would call the fragment a failure)"

# sqlite3 (lib.sh) waits for a lock instead of failing with "database is
# locked": the state database's readers in the tests are never a race.
. "$(dirname "$0")/lock-lib.sh"
DB=$T/probe.db
command sqlite3 "$DB" 'PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);' >/dev/null
LOCK_PRE='PRAGMA locking_mode = EXCLUSIVE;' lock_take "$DB" 'INSERT INTO t VALUES (2);'
ok "a lock that keeps readers out is held"
command sqlite3 "$DB" 'SELECT count(*) FROM t' >"$T/bare.out" 2>&1 {LOCK_FD}>&-
like "$(cat "$T/bare.out")" 'database is locked' "(the sqlite3 shell alone fails at once)"
sqlite3 "$DB" 'SELECT count(*) FROM t' >"$T/probe.out" 2>&1 {LOCK_FD}>&- &
probe=$!
kill -0 "$probe" 2>/dev/null
ok "lib.sh's sqlite3 is still waiting after the bare shell failed"
lock_release
wait "$probe"
ok "it exits 0 once the lock is gone"
is "$(cat "$T/probe.out")" 2 "and reads what the lock holder wrote"

# own / _signal: a pid is stopped only while it is still the process that
# was started; once that one is gone, its pid may be another's.
sleep 600 &
a=$!
own "$a"
entry=${_pids##* }
is "${entry%%:*}" "$a" "own: the pid is held"
[ -n "${entry#*:}" ]
ok "own: with its start time"
_signal TERM "$entry"
wait "$a"
is "$?" 143 "_signal: the process own() saw start gets the signal"
sleep 600 &
b=$!
# b's pid under a start time that is not b's: the record of a process gone
# whose pid the kernel has handed to b
_signal TERM "$b:1"
kill -0 "$b"
ok "_signal: a pid whose process is not the one started is left alone"
kill "$b"
wait "$b" 2>/dev/null
# ok DESC judges the command before it: "ok test -f X" (a command as its
# arguments, never run) is refused, not passed.
is "$(verdict ok test -f /nonexistent)" not "ok with a command for arguments: not ok"
is "$(false; verdict ok "one description")" not "ok after a failed command: not ok"
is "$(true; verdict ok "one description")" ok "ok after a command that went through: ok"

done_testing
