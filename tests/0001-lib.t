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
done_testing
