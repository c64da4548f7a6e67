#!/usr/bin/env bash
# The quarantine (issue 11): alert-log, the tee in front of each program,
# refuses what that program would refuse (wire.c, the checks the program
# itself makes), files the line in the quarantine with its reason and
# passes on everything else; replay does the same with lines already in the
# trail.  For every tee position of the pipeline and every poison (invalid
# UTF-8, \u0000, a raw NUL byte, a line over the 16 MiB cap, a 10 MB value,
# a line the program refuses for its shape): exit 65, a message naming the
# line and the field, the lines before and after forwarded and recorded
# whole, the poisoned bytes kept exactly, and the next program accepting
# what the tee passed on and refusing the poisoned line itself.
# shellcheck disable=SC2016 # jq programs are meant literally
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_RULES=$T/rules ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
mkdir -p "$ML_CONNECTOR_RULES"
cat >"$ML_CONNECTOR_RULES/q.rule" <<'EOF'
[rule]
name     = q
timezone = UTC
schedule = daily 08:00

[source]
table   = F0411
columns = KCO DOC DCT SFX RMK
incremental = none

[match]
expr    = true
realert = 0

[recipients]
to       = sms:+15551230001
channels = sms

[message]
sms     = \(.row.F0411_RMK)
EOF
cat >"$ML_CONNECTOR_CONF" <<'EOF'
[twilio]
account_sid = AC0123456789abcdef0123456789abcdef
from = +15005550006
base_url = http://127.0.0.1:9
EOF
CAP=$((16 << 20))

# ---- the good lines of each position, made by the programs themselves ------
for i in 1 2 3; do
	w=$(echo first second third | cut -d' ' -f"$i")
	printf '{"table":"F0411","key":"00001|%s|PV|001","row":{"F0411_KCO":"00001","F0411_DOC":%s,"F0411_DCT":"PV","F0411_SFX":"001","F0411_RMK":"%s"}}\n' "$i" "$i" "$w"
done >"$T/records"
alert-match -r q --no-state <"$T/records" >"$T/alerts" &&
	alert-render -r q --no-state <"$T/alerts" >"$T/deliveries"
ok "the programs make three records, alerts and deliveries"
sed 's/}$/,"status":"queued","sid":"SM0123456789abcdef0123456789abcdef","attempts":1}/' \
	"$T/deliveries" >"$T/results"
is "$(cat "$T/records" "$T/alerts" "$T/deliveries" "$T/results" | grep -c second)" 4 \
	"the second line of each holds the value \"second\""

# poison KIND FILE: FILE's second line with "second" made KIND (bytes on stdout).
poison() {
	sed -n 2p "$2" | case $1 in
	utf8) perl -pe 's/"second"/"sec\xffond"/' ;;
	escnul) perl -pe 's/"second"/"sec\\u0000ond"/' ;;
	rawnul) perl -pe 's/"second"/"sec\x00ond"/' ;;
	overcap) perl -pe "s/\"second\"/'\"sec' . ('B' x ($CAP + 10)) . 'ond\"'/e" ;;
	10mb) perl -pe "s/\"second\"/'\"' . ('A' x 10000000) . '\"'/e" ;;
	shape) perl -pe 's/,"recipients":\[[^]]*\]//; s/"to":"\+15551230001"/"to":"5551230001"/' ;;
	esac
}

# next_prog POSITION: the program a tee --before POSITION feeds.
next_prog() {
	case $1 in
	alert-match) alert-match -r q --no-state ;;
	alert-render) alert-render -r q --no-state ;;
	twilio-send) twilio-send -n ;;
	esac
}

# what the message must say, per poison (after 'line 2: field "PATH": ')
declare -A WHAT=(
	[utf8]='not valid UTF-8 \(at byte [0-9]+\)'
	[escnul]='holds \\u0000, a NUL character \(at byte [0-9]+\)'
	[rawnul]='holds a NUL byte \(at byte [0-9]+\)'
)

# POSITION|FILE|PATH of the poisoned member|SHAPE field and message
POSITIONS=(
	"alert-match|records|row.F0411_RMK|"
	"alert-render|alerts|record.row.F0411_RMK|recipients\": expected an array"
	"twilio-send|deliveries|body|to\": not an E.164 number"
	"-|results|body|"
)
n=0
for p in "${POSITIONS[@]}"; do
	IFS='|' read -r pos file path shape <<<"$p"
	args=()
	[ "$pos" = - ] || args=(--before "$pos")
	where=${pos/#-/after twilio-send (no --before)}
	kinds=(utf8 escnul rawnul overcap 10mb)
	[ -n "$shape" ] && kinds+=(shape)
	for kind in "${kinds[@]}"; do
		n=$((n + 1))
		export ML_CONNECTOR_STATE=$T/s$n
		poison "$kind" "$T/$file" >"$T/bad"
		{ sed -n 1p "$T/$file"; cat "$T/bad"; sed -n 3p "$T/$file"; } >"$T/in"
		{ sed -n 1p "$T/$file"; sed -n 3p "$T/$file"; } >"$T/good"
		alert-log "${args[@]}" --rule q --run-id R1 <"$T/in" >"$T/out" 2>"$T/err"
		rc=$?
		if [ "$kind" = 10mb ] && [ "$pos" != twilio-send ]; then
			# a 10 MB value is under the cap: the next program takes it, so does the tee
			is "$rc" 0 "$where, 10 MB value: the tee takes it (the next program does too)"
			cmp -s "$T/in" "$T/out"
			ok "$where, 10 MB value: passed on whole"
			if [ "$pos" != - ]; then
				next_prog "$pos" <"$T/out" >/dev/null 2>&1
				is "$?" 0 "$where, 10 MB value: and $pos accepts it"
			fi
			continue
		fi
		is "$rc" 65 "$where, $kind: exit 65"
		if [ "$kind" = overcap ]; then
			is "$(cat "$T/err")" "$(printf 'alert-log: stdin: line 2: line longer than %s bytes; skipped\nalert-log: line 2: quarantined (#1)' "$CAP")" \
				"$where, $kind: the line named, and where it went"
		elif [ "$kind" = 10mb ]; then
			like "$(cat "$T/err")" '^alert-log: line 2: field "body": 10000000 characters \(UTF-16 code units\), over 1600; quarantined \(#1\), not passed on$' \
				"$where, $kind: line and field named"
		elif [ "$kind" = shape ]; then
			like "$(cat "$T/err")" "^alert-log: line 2: field \"${shape%%\"*}\": ${shape#*\": }.*; quarantined \\(#1\\), not passed on\$" \
				"$where, $kind: line and field named"
		else
			like "$(cat "$T/err")" "^alert-log: line 2: field \"$path\": ${WHAT[$kind]}; quarantined \\(#1\\), not passed on\$" \
				"$where, $kind: line and field named"
		fi
		cmp -s "$T/out" "$T/good"
		ok "$where, $kind: the lines before and after passed on whole, the bad one not"
		alert-log query --lines -f ndjson | jq -r 'select(.stage != "quarantined") | .line' >"$T/trail"
		cmp -s "$T/trail" "$T/good"
		ok "$where, $kind: the trail holds the good lines, nothing of the bad one as a line"
		is "$(alert-log quarantine count --run-id R1)" 1 "$where, $kind: one line in the quarantine"
		if [ "$kind" = overcap ]; then
			is "$(alert-log quarantine -f ndjson | jq -r '[.lineno, .reason, (.line // "none")] | @tsv')" \
				"$(printf '2\tline longer than %s bytes; skipped\tnone' "$CAP")" "$where, $kind: its reason; its bytes were not read"
		else
			alert-log quarantine show 1 >"$T/kept"
			cmp -s "$T/kept" "$T/bad"
			ok "$where, $kind: the quarantine keeps its bytes exactly"
			is "$(alert-log quarantine -f ndjson | jq -r '[.rule, .run_id, .lineno] | @tsv')" \
				"$(printf 'q\tR1\t2')" "$where, $kind: filed under the rule and run, with its line number"
		fi
		if [ "$pos" != - ]; then
			next_prog "$pos" <"$T/out" >/dev/null 2>&1
			is "$?" 0 "$where, $kind: $pos accepts what the tee passed on"
			next_prog "$pos" <"$T/bad" >/dev/null 2>&1
			is "$?" 65 "$where, $kind: and refuses the quarantined line itself"
		fi
	done
done

# ---- the same poisoned record twice (a rule that reads it every run) --------
export ML_CONNECTOR_STATE=$T/dup
poison escnul "$T/records" >"$T/bad"
alert-log --before alert-match --rule q --run-id R1 <"$T/bad" >/dev/null 2>&1
alert-log --before alert-match --rule q --run-id R2 <"$T/bad" >/dev/null 2>&1
is "$(alert-log quarantine -f ndjson | jq -r '[.id, .count, .run_id, .record_key] | @tsv')" \
	"$(printf '1\t2\tR2\t00001|2|PV|001')" "the same record refused twice: one row, seen twice, last in run R2"
alert-log quarantine >"$T/list"
like "$(cat "$T/list")" '^#1 .* q \(before alert-match, line 1\) 00001\|2\|PV\|001: field "row.F0411_RMK": holds \\u0000, a NUL character \(at byte [0-9]+\) \(seen 2 times since .*\)$' \
	"quarantine list: id, rule, where, what, why, how often"
is "$(alert-log query --stage quarantined | jq -r .record_key | sort -u)" "00001|2|PV|001" \
	"each refusal is an event of the trail, about the record"
alert-log why '00001|2|PV|001' >"$T/why"
like "$(cat "$T/why")" 'quarantined' "why shows the quarantine"

# ---- replay: lines already in the trail --------------------------------------
export ML_CONNECTOR_STATE=$T/replay
echo '{"a":1}' | alert-log >/dev/null
DB=$ML_CONNECTOR_STATE/state.db
# put LINE-FILE: a queued delivery of rule q as an older version recorded it
put() {
	local hex did
	hex=$(xxd -p <"$1" | tr -d '\n')
	did=$(jq -r .delivery_id "$1" 2>/dev/null || echo "?")
	sqlite3 "$DB" "INSERT INTO audit (ts, stage, rule, delivery_id, channel, line)
		VALUES ('2026-11-25T10:00:00.000Z', 'queued', 'q', '$did', 'sms', CAST(X'${hex%0a}' AS TEXT))"
}
sed -n 1p "$T/deliveries" >"$T/d1"
poison utf8 "$T/deliveries" >"$T/d2"
sed -n 3p "$T/deliveries" >"$T/d3"
poison rawnul "$T/deliveries" | sed 's/|2|/|4|/g' >"$T/d4"
for f in d1 d2 d3 d4; do put "$T/$f"; done
alert-log replay --rule q --status queued --run-id R9 >"$T/out" 2>"$T/err"
is "$?" 65 "replay: lines it would refuse: 65"
cat "$T/d1" "$T/d3" | cmp -s - "$T/out"
ok "replay: the other deliveries handed out, whole, in order"
like "$(cat "$T/err")" 'trail row 3, delivery q:00001\|2\|PV\|001/sms/\+15551230001: field "body": not valid UTF-8 \(at byte [0-9]+\); quarantined \(#1\), not replayed' \
	"replay: the trail row, the delivery and the field named"
like "$(cat "$T/err")" 'trail row 5, .*field "body": holds a NUL byte' "replay: the NUL byte too"
is "$(alert-log quarantine count --rule q --run-id R9)" 2 "replay: both in the quarantine, under the rule and run"
alert-log quarantine show 1 | cmp -s - "$T/d2"
ok "replay: the quarantine keeps the bytes of the trail row"
twilio-send -n <"$T/out" >/dev/null 2>&1
is "$?" 0 "replay: twilio-send accepts everything replay handed out"
alert-log replay --rule q --status queued >"$T/out2" 2>/dev/null
is "$?" 0 "replay again: nothing refused, 0"
cmp -s "$T/out" "$T/out2"
ok "replay again: the quarantined lines are skipped, the others handed out as before"
is "$(alert-log quarantine -f ndjson | jq -s 'map(.count) | add')" 2 "replay again: nothing quarantined twice"
alert-log status -f ndjson >"$T/st"
is "$(jq -r 'select(.rule == "q") | [.pending, .quarantined] | @tsv' "$T/st")" "$(printf '2\t2')" \
	"status: two deliveries pending, two quarantined"
alert-log status >"$T/st.txt"
is "$(status_cell q QUARANTINED <"$T/st.txt")" 2 "status text: a QUARANTINED column counts them"
is "$(status_cell q IN-DOUBT <"$T/st.txt")" 0 "status text: IN-DOUBT 0 beside it"

# drop: the one way out, recorded as the operator's action; never replayed again
alert-log quarantine drop 1 >"$T/drop" 2>"$T/err"
is "$?/$(cat "$T/drop")" "0/dropped #1" "quarantine drop ID"
alert-log quarantine drop 1 2>"$T/err"
is "$?" 66 "drop of an id not in the quarantine: 66"
like "$(cat "$T/err")" 'no quarantined line #1' "and says so"
is "$(alert-log quarantine count)" 1 "one left"
like "$(alert-log query --stage discarded | jq -r .detail)" "^quarantine #1 dropped by $(id -un) \\(uid $(id -u)\\): field \"body\": not valid UTF-8" \
	"the drop is in the trail: which line, by whom, why it was there"
alert-log replay --rule q --status queued >"$T/out3" 2>/dev/null
is "$?" 0 "replay after the drop: 0"
cmp -s "$T/out" "$T/out3"
ok "replay after the drop: the dropped line is not handed out again"
alert-log quarantine drop --all >/dev/null 2>"$T/err"
is "$?/$(alert-log quarantine count)" 0/0 "drop --all empties the quarantine"
like "$(cat "$T/err")" '1 quarantined lines dropped' "and counts what it dropped"
is "$(jq -r 'select(.rule == "q") | .quarantined' <(alert-log status -f ndjson))" 0 "status: none quarantined"
alert-log quarantine drop 2>/dev/null
is "$?" 64 "drop needs ids or --all"
alert-log quarantine show x 2>/dev/null
is "$?" 64 "a quarantine id is a number"

# ---- alert-log.1's quarantine example, run as written ----------------------
export ML_CONNECTOR_STATE=$T/example
nex=$(man-examples -n "$TOP/man/alert-log.1")
man-examples -c "$TOP/man/alert-log.1" "$nex" >"$T/ex.sh"
man-examples -o "$TOP/man/alert-log.1" "$nex" >"$T/ex.want"
is "$(grep -c . "$T/ex.sh")" 4 "alert-log.1: the example's commands"
sh "$T/ex.sh" >"$T/ex.got" 2>&1
diff_ok "$T/ex.got" "$T/ex.want" "alert-log.1 EXAMPLES: the quarantine example prints what the page shows"

# ---- the checks under valgrind (the path walk, the escapes, the upsert) -----
export ML_CONNECTOR_STATE=$T/vg
{
	cat "$T/records"
	poison utf8 "$T/records"
	poison escnul "$T/records"
	printf '{"a":[1,{"b":"x\\udc00"}]}\n'
	printf '{"deep":%s"\xfe"%s}\n' "$(printf '[%.0s' $(seq 40))" "$(printf ']%.0s' $(seq 40))"
	echo 'not json'
} >"$T/vgin"
vg alert-log --before alert-match <"$T/vgin" >/dev/null 2>"$T/vgerr"
is "$?" 65 "tee with refusals clean under valgrind"
like "$(cat "$T/vgerr")" 'line 6: field "a\[1\].b": holds \\udc00, an unpaired UTF-16 surrogate' \
	"an unpaired surrogate escape, with the array index in the path"
like "$(cat "$T/vgerr")" 'line 7: field "deep\[0\](\[0\])*\.\.\.": not valid UTF-8' \
	"a deep path is cut, not overflowed"
like "$(cat "$T/vgerr")" 'line 8: not JSON: .* at column [0-9]+; quarantined' "a line that is not JSON"
vg alert-log quarantine -f ndjson --lines >/dev/null
is "$?" 0 "quarantine list clean under valgrind"

done_testing
