#!/usr/bin/env bash
# Hostile data (issue 7): record values full of quotes, backslashes, shell
# syntax, control characters, line separators, invalid UTF-8 and 10 MB,
# through jde-fetch (from the AIS simulator), alert-match, alert-render,
# alert-log and twilio-send (to the Twilio simulator); and hostile rule
# names given to every program that takes one.  They must do nothing but
# produce correct, escaped output: every line valid JSON, values byte for
# byte, no command run, no file made outside the state directory, refusals
# with a message and the documented status.
# shellcheck disable=SC2016 # jq programs and shell payloads are meant literally
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_RULES=$T/rules
NOW=(--now 2026-11-26T14:00:00Z)
MARK=/tmp/PWNED_mlc_$$
rm -f "$MARK"_*
trap 'rm -f "$MARK"_*; _cleanup' EXIT

# all_json FILE: every line one JSON object and the last line terminated.
all_json() {
	[ ! -s "$1" ] && return 0
	[ -z "$(tail -c 1 "$1")" ] && jq -e 'type == "object"' "$1" >/dev/null 2>&1 &&
		[ "$(jq -c . "$1" | wc -l)" = "$(wc -l <"$1")" ]
}
markers() { find /tmp -maxdepth 1 -name "${MARK#/tmp/}_*" | wc -l | tr -d ' '; }

# ---- the hostile values: one file each, the exact bytes ---------------------
V=$T/v
mkdir -p "$V" "$T/victim" "$ML_CONNECTOR_RULES"
vals=(
	'say "hi" \ back \\ \" \u0041 %s%n%x'
	"\$(touch ${MARK}_a)"
	"\`touch ${MARK}_b\`"
	"x; rm -rf $T/victim; touch ${MARK}_c"
	$'line1\nline2\r\nline3\ttab'
	'CONTROLS'
	'SEPARATORS'
	"<script>alert('x')</script> & \"q\" &amp;"
	"a%0AB&To=%2B15550009999&Body=injected+x"
	"' OR 1=1; -- |id| \${IFS} ../../etc/passwd"
)
NV=${#vals[@]}
for i in "${!vals[@]}"; do printf '%s' "${vals[$i]}" >"$V/$i"; done
# 0x01-0x1f and DEL; U+2028 and U+2029 (bytes, whatever the locale).
printf 'c:\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037\177:c' >"$V/5"
printf 'ls\342\200\250ps\342\200\251end' >"$V/6"

# Control: the payloads are live — a shell that evaluates one runs it, and
# the marker check sees that.
sh -c "echo ${vals[1]}" >/dev/null 2>&1
is "$(markers)" 1 "control: evaluated by a shell, a payload creates its marker"
rm -f "$MARK"_*

# ---- alert-match -> alert-render -> alert-log -> twilio-send -> alert-log ---
cat >"$ML_CONNECTOR_RULES/hostile.rule" <<'EOF'
[rule]
name     = hostile
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
to       = email:ops@example.com
channels = sms email

[message]
sms     = \(.row.F0411_RMK)
subject = Voucher \(.row.F0411_DOC): \(.row.F0411_RMK)
text    = \(.row.F0411_RMK)
html    = <p>\(.row.F0411_RMK)</p>
max_segments = 10
EOF
send_setup --latency 0

# Record i: key "K<i>|" + value i, the value in F0411_RMK.
for i in $(seq 0 $((NV - 1))); do
	jq -cn --rawfile v "$V/$i" --argjson i "$i" \
		'{table:"F0411",key:"K\($i)|\($v)",row:{F0411_KCO:"00001",F0411_DOC:$i,F0411_DCT:"PV",F0411_SFX:"001",F0411_RMK:$v}}'
done >"$T/records"
is "$(wc -l <"$T/records" | tr -d ' ')" "$NV" "$NV hostile records, one line each"

alert-match -r hostile --no-state "${NOW[@]}" <"$T/records" >"$T/alerts" 2>"$T/match.err"
is "$?" 0 "alert-match: exit 0"
alert-render -r hostile --no-state "${NOW[@]}" <"$T/alerts" >"$T/deliveries" 2>"$T/render.err"
is "$?" 0 "alert-render: exit 0"
alert-log <"$T/deliveries" >"$T/logged" 2>"$T/log.err"
is "$?" 0 "alert-log: exit 0"
twilio-send <"$T/logged" >"$T/results" 2>"$T/send.err"
is "$?" 0 "twilio-send: exit 0"
alert-log <"$T/results" >"$T/logged2" 2>"$T/log2.err"
is "$?" 0 "alert-log after the send: exit 0"
for f in alerts deliveries results; do
	all_json "$T/$f"
	ok "$f: every line is one whole JSON object"
done
is "$(wc -l <"$T/alerts" | tr -d ' ')/$(wc -l <"$T/deliveries" | tr -d ' ')/$(wc -l <"$T/results" | tr -d ' ')" \
	"$NV/$((2 * NV))/$((2 * NV))" "one alert per record, an SMS and an e-mail per alert, a result per delivery"
cmp -s "$T/deliveries" "$T/logged" && cmp -s "$T/results" "$T/logged2"
ok "alert-log passes every line on byte for byte"
alert-log query --lines -f ndjson | jq -r '.line' >"$T/trail" 2>/dev/null
cat "$T/deliveries" "$T/results" | cmp -s - "$T/trail"
ok "the audit trail holds every line byte for byte"

# get FILE SELECT FILTER: the raw bytes (jq -j) of FILTER on the one line of
# FILE that SELECT picks; $i and $v are bound.
get() {
	jq -j --argjson i "$i" --rawfile v "$V/$i" "select($2) | $3" "$1"
}
SMS='.channel == "sms" and .key == "K\($i)|\($v)"'
MAIL='.channel == "email" and .key == "K\($i)|\($v)"'
# What the Twilio simulator accepted, and the SendGrid requests it logged.
curl -fsS "$SIM/_sim/messages" >"$T/sim.messages"
jq -c 'select(.kind == "request" and .path == "/v3/mail/send") | .json' "$LOG" >"$T/sim.mails"
jq -c 'select(.kind == "request" and .method == "POST" and (.path | endswith("/Messages.json"))) | .form' \
	"$LOG" >"$T/sim.forms"
bad=""
for i in $(seq 0 $((NV - 1))); do
	want=$V/$i
	get "$T/alerts" '.key == "K\($i)|\($v)"' '.record.row.F0411_RMK' | cmp -s - "$want" || bad="$bad alert-record:$i"
	get "$T/alerts" '.record.row.F0411_DOC == $i' '.alert_id' |
		cmp -s - <(printf 'hostile:K%s|' "$i"; cat "$want") || bad="$bad alert_id:$i"
	get "$T/deliveries" "$SMS" '.body' | cmp -s - "$want" || bad="$bad sms-body:$i"
	get "$T/deliveries" "$SMS" '.delivery_id' |
		cmp -s - <(printf 'hostile:K%s|' "$i"; cat "$want"; printf '/sms/+15551230001') || bad="$bad delivery_id:$i"
	get "$T/deliveries" "$MAIL" '.text' | cmp -s - "$want" || bad="$bad mail-text:$i"
	# The subject is one header line: CR and LF become spaces, nothing else changes.
	get "$T/deliveries" "$MAIL" '.subject' |
		cmp -s - <(printf 'Voucher %s: ' "$i"; tr '\r\n' '  ' <"$want") || bad="$bad subject:$i"
	# The HTML part: the value escaped as jq's @html does, the template's markup kept.
	get "$T/deliveries" "$MAIL" '.html' | grep -q -F -- "<p>$(jq -j -Rs @html <"$want")</p>" ||
		bad="$bad html:$i"
	get "$T/results" "$SMS" '.status' | grep -qx queued || bad="$bad sms-status:$i"
	get "$T/results" "$MAIL" '.status' | grep -qx accepted || bad="$bad mail-status:$i"
	# What Twilio got is exactly the rendered text; what SendGrid got too.
	[ "$(get "$T/sim.messages" '.kind == "message" and .resource.body == $v' .resource.sid | wc -c)" -gt 0 ] ||
		bad="$bad twilio-body:$i"
	[ "$(get "$T/sim.mails" '.content[0].value == $v' '.subject' | wc -c)" -gt 0 ] ||
		bad="$bad sendgrid-text:$i"
done
is "${bad:-none}" none "every value round-trips byte for byte: record, ids, SMS body, e-mail text, subject, HTML, Twilio, SendGrid"
is "$(jq -r .To "$T/sim.forms" | sort -u)" "+15551230001" "form injection: every create request went to the one recipient"
is "$(wc -l <"$T/sim.forms" | tr -d ' ')" "$NV" "one create request per SMS"
like "$(jq -r 'select(.channel == "email" and (.key | startswith("K7|"))) | .html' "$T/deliveries")" \
	'<p>&lt;script&gt;alert\((&#39;|&apos;)x(&#39;|&apos;)\)&lt;/script&gt; &amp; &quot;q&quot; &amp;amp;</p>' \
	"HTML: <, >, &, quotes escaped; an entity in the data is escaped again"
unlike "$(jq -r 'select(.html) | .html' "$T/deliveries")" '<script>alert' "no live <script> in any HTML part"
is "$(markers)" 0 "no shell payload ran (no marker file)"
test -d "$T/victim"
ok "the rm -rf payload removed nothing"
cat "$T"/*.err >"$T/all.err"
is "$(grep -c -v '^twilio-send: ' "$T/all.err")" 0 "no complaint from match, render or log"

# ---- invalid UTF-8: rejected by the filters, naming the line; kept by the tee
{
	head -n 1 "$T/records"
	printf '{"table":"F0411","key":"K-bad1","row":{"F0411_RMK":"bad \377\376 end"}}\n'
	printf '{"table":"F0411","key":"K-bad2","row":{"F0411_RMK":"overlong \300\257 surrogate \355\240\200 cut \303"}}\n'
	sed -n 2p "$T/records"
} >"$T/badutf8"
alert-match -r hostile --no-state "${NOW[@]}" <"$T/badutf8" >"$T/out" 2>"$T/err"
is "$?" 65 "alert-match: invalid UTF-8 is bad data (65)"
like "$(cat "$T/err")" "$(printf '^alert-match: line 2: field "row.F0411_RMK": not valid UTF-8 \\(at byte [0-9]+\\)\nalert-match: line 3: field "row.F0411_RMK": not valid UTF-8 \\(at byte [0-9]+\\)$')" \
	"alert-match: each bad line named, and the field"
is "$(jq -r .key "$T/out" | cut -c1-3 | tr '\n' ' ')" "K0| K1| " "alert-match: the good lines around them went on"
{
	head -n 1 "$T/alerts"
	printf '{"alert_id":"hostile:x","rule":"hostile","record":{"row":{"F0411_RMK":"\377"}},"recipients":[]}\n'
	sed -n 2p "$T/alerts"
} >"$T/badalerts"
alert-render -r hostile --no-state "${NOW[@]}" <"$T/badalerts" >"$T/out" 2>"$T/err"
is "$?" 65 "alert-render: invalid UTF-8 is bad data (65)"
like "$(cat "$T/err")" '^alert-render: line 2: field "record.row.F0411_RMK": not valid UTF-8 \(at byte [0-9]+\)$' \
	"alert-render: the line and the field named"
is "$(wc -l <"$T/out" | tr -d ' ')" 4 "alert-render: the good alerts around it rendered"
{
	head -n 1 "$T/deliveries"
	printf '{"delivery_id":"t:bad/sms/+15551230002","channel":"sms","to":"+15551230002","body":"bad \377 body"}\n'
} >"$T/baddeliv"
twilio-send <"$T/baddeliv" >"$T/out" 2>"$T/err"
rc=$?
like "$rc" '^65$' "twilio-send: invalid UTF-8 is bad data (65)"
like "$(cat "$T/err")" '^twilio-send: line 2: field "body": not valid UTF-8 \(at byte [0-9]+\)$' \
	"twilio-send: the line and the field named"
all_json "$T/out"
ok "twilio-send: what it wrote is valid JSON"
is "$(jq -r 'select(.kind == "message" and .resource.to == "+15551230002") | .sid' <(curl -fsS "$SIM/_sim/messages") | wc -l | tr -d ' ')" \
	0 "twilio-send: nothing sent for the bad line"
# The tee refuses what every program refuses: invalid UTF-8 is quarantined,
# its bytes kept exactly, the good lines around it go on (tests/1010).
alert-log <"$T/badutf8" >"$T/out" 2>"$T/err"
is "$?" 65 "alert-log: a line with invalid UTF-8 is bad data (65)"
{ sed -n 1p "$T/badutf8"; sed -n 4p "$T/badutf8"; } | cmp -s - "$T/out"
ok "alert-log: the good lines passed on, byte for byte, the bad ones not"
like "$(cat "$T/err")" 'line 2: field "row.F0411_RMK": not valid UTF-8 .*; quarantined \(#[0-9]+\)' \
	"alert-log: the line and the field named"
alert-log quarantine -f ndjson --lines >"$T/q" 2>/dev/null
all_json "$T/q"
ok "alert-log quarantine: valid JSON over lines holding invalid UTF-8"
like "$(jq -r 'select(.record_key == "K-bad1") | .line' "$T/q")" $'bad \uFFFD\uFFFD end' \
	"alert-log quarantine: the bad bytes shown as U+FFFD"
alert-log quarantine show "$(jq -r 'select(.record_key == "K-bad1") | .id' "$T/q")" |
	cmp -s - <(sed -n 2p "$T/badutf8")
ok "alert-log quarantine show: the bytes exactly as received"

# ---- NUL ("\u0000" in JSON, or a raw byte): C strings would end there ------
# Every program refuses it (wire.c), naming line and field, and so does the
# tee in front of each (tests/1010).
printf '%s\n' '{"table":"F0411","key":"K-nul","row":{"F0411_DOC":1,"F0411_RMK":"before\u0000after"}}' |
	alert-match -r hostile --no-state "${NOW[@]}" >"$T/nul.alert" 2>"$T/err"
is "$?/$(wc -c <"$T/nul.alert" | tr -d ' ')" "65/0" "alert-match: a NUL in a value is bad data (65), nothing made of it"
like "$(cat "$T/err")" '^alert-match: line 1: field "row.F0411_RMK": holds \\u0000, a NUL character' \
	"alert-match: names the line and the field"
{ head -n 1 "$T/alerts"; head -n 1 "$T/alerts" | sed 's/"F0411_RMK":"/&be\\u0000fore/'; } |
	alert-render -r hostile --no-state "${NOW[@]}" >"$T/out" 2>"$T/err"
is "$?" 65 "alert-render: an alert with a NUL is bad data (65), not cut short"
like "$(head -n 1 "$T/err")" '^alert-render: line 2: field "record.row.F0411_RMK": holds \\u0000' \
	"alert-render: names the line and the field"
is "$(jq -r .channel "$T/out" | tr '\n' ' ')" "sms email " "alert-render: nothing made of the NUL alert, the other one rendered"
sms nul +15551230003 "x" | sed 's/"body":"x"/"body":"before\\u0000after"/' >"$T/nul.deliv"
twilio-send <"$T/nul.deliv" >"$T/out" 2>"$T/err"
is "$?" 65 "twilio-send: a body with a NUL is bad data (65)"
like "$(cat "$T/err")" '^twilio-send: line 1: field "body": holds \\u0000, a NUL character' \
	"twilio-send: names the line and the field (not \"expected a string\")"
sms nul2 +15551230003 "x" | perl -pe 's/"body":"x"/"body":"be\x00fore"/' >"$T/nul2.deliv"
twilio-send <"$T/nul2.deliv" >"$T/out" 2>"$T/err"
is "$?" 65 "twilio-send: a raw NUL byte is bad data (65)"
like "$(cat "$T/err")" '^twilio-send: line 1: field "body": holds a NUL byte' "twilio-send: names it"
is "$(curl -fsS "$SIM/_sim/messages" | jq -r 'select(.kind == "message" and .resource.to == "+15551230003") | .sid' | wc -l | tr -d ' ')" \
	0 "twilio-send: nothing sent for it"

# ---- 10 MB in one field; over the 16 MiB line cap ----------------------------
CAP=$((16 << 20))
head -c 10000000 /dev/zero | tr '\0' A >"$T/10mb"
{
	head -n 1 "$T/records"
	jq -cn --rawfile big "$T/10mb" \
		'{table:"F0411",key:"K-big",row:{F0411_DOC:99,F0411_RMK:("<\"" + $big + "\">")}}'
	sed -n 2p "$T/records"
} >"$T/big"
alert-match -r hostile --no-state "${NOW[@]}" <"$T/big" >"$T/bigalerts" 2>"$T/err"
is "$?" 0 "10 MB field: alert-match accepts it (under the line cap)"
is "$(jq -r '.record.row.F0411_RMK | length' "$T/bigalerts" | sed -n 2p)" 10000004 \
	"10 MB field: the alert carries it whole"
jq -j 'select(.key == "K-big") | .record.row.F0411_RMK' "$T/bigalerts" | cmp -s - <(jq -j 'select(.key == "K-big") | .row.F0411_RMK' "$T/big")
ok "10 MB field: byte for byte"
alert-log --before alert-render <"$T/bigalerts" >"$T/out" 2>"$T/err"
is "$?" 0 "10 MB line: alert-log records it (alert-render takes it: tests/1010)"
cmp -s "$T/bigalerts" "$T/out"
ok "10 MB line: and passes it on unchanged"
# Its e-mail (subject, text and the escaped HTML: 40 MB) would be a line
# over the cap, which alert-log and twilio-send would skip: alert-render
# refuses that delivery itself, naming the line; the SMS is cut and made.
alert-render -r hostile --no-state "${NOW[@]}" <"$T/bigalerts" >"$T/bigdeliv" 2>"$T/err"
is "$?" 65 "10 MB field: alert-render exits 65 (a delivery not made)"
like "$(cat "$T/err")" "^alert-render: line 2: rule hostile: the email delivery to ops@example.com would be a line of [0-9]+ bytes, over the $CAP-byte limit; not made\$" \
	"10 MB field: the e-mail refused, with line, channel and the limit named"
all_json "$T/bigdeliv"
ok "10 MB field: alert-render writes whole JSON lines"
is "$(jq -r 'select(.key == "K-big" and .channel == "sms") | [.truncated, .segments] | @tsv' "$T/bigdeliv")" \
	"$(printf 'true\t10')" "10 MB field: the SMS is cut to max_segments and made"
is "$(jq -r '.channel' "$T/bigdeliv" | tr '\n' ' ')" "sms email sms sms email " \
	"10 MB field: the deliveries of the other alerts are all made"
over=$(perl -ne "\$n++ if length > $CAP; END { print \$n + 0 }" "$T/bigdeliv")
is "$over" 0 "10 MB field: no delivery line over the 16 MiB cap the next stages read"

# A line over the cap: reported with its number, skipped; the others go on.
{
	head -n 1 "$T/records"
	printf '{"table":"F0411","key":"K-huge","row":{"F0411_RMK":"'
	head -c $((CAP + 10)) /dev/zero | tr '\0' B
	printf '"}}\n'
	sed -n 2p "$T/records"
} >"$T/huge"
for tool in alert-match alert-log; do
	args=()
	[ "$tool" = alert-match ] && args=(-r hostile --no-state "${NOW[@]}")
	"$tool" "${args[@]}" <"$T/huge" >"$T/out" 2>"$T/err"
	is "$?" 65 "over the cap: $tool exits 65"
	want="$tool: stdin: line 2: line longer than $CAP bytes; skipped"
	[ "$tool" = alert-log ] && want="$want
alert-log: line 2: quarantined (#3)"
	is "$(cat "$T/err")" "$want" "over the cap: $tool names the line"
	is "$(jq -r .key "$T/out" | cut -c1-3 | tr '\n' ' ')" "K0| K1| " \
		"over the cap: $tool keeps the lines before and after"
done

# ---- jde-fetch: hostile rows from the AIS simulator ---------------------------
mkdir -p "$T/data"
cp "$TOP/data/jde/columns.json" "$T/data/"
for i in $(seq 0 $((NV - 1))); do
	jq -cn --rawfile v "$V/$i" --argjson i "$i" \
		'{F0411_KCO:"00001",F0411_DOC:(1000 + $i),F0411_DCT:"PV",F0411_SFX:"001",F0411_RMK:$v}'
done >"$T/data/F0411.ndjson"
jq -cn --rawfile big "$T/10mb" \
	'{F0411_KCO:"00001",F0411_DOC:2000,F0411_DCT:"PV",F0411_SFX:"001",F0411_RMK:$big}' >>"$T/data/F0411.ndjson"
printf '{"F0101_AN8":1,"F0101_ALPH":"bad \377 name"}\n' >"$T/data/F0101.ndjson"
printf 'ais-pw-%s\n' "$RANDOM" >"$T/ais.pw"
sim_start mlc-ais-sim --password-file "$T/ais.pw" --today 2026-11-26 --data "$T/data" || exit 1
cat >>"$ML_CONNECTOR_CONF" <<EOF
[ais]
url = http://127.0.0.1:$MLC_AIS_SIM_PORT
user = JDE
environment = JDV920
device = hostile
EOF
mlc-vault set ais.password <"$T/ais.pw"
jde-fetch -t F0411 -p 100 >"$T/fetched" 2>"$T/err"
is "$?" 0 "jde-fetch: hostile rows and a 10 MB row: exit 0"
all_json "$T/fetched"
ok "jde-fetch: every line is one whole JSON object"
is "$(wc -l <"$T/fetched" | tr -d ' ')" $((NV + 1)) "jde-fetch: one line per row"
grep -v '"F0411_DOC":2000' "$T/fetched" >"$T/fetched.small"
bad=""
for i in $(seq 0 $((NV - 1))); do
	get "$T/fetched.small" '.row.F0411_DOC == 1000 + $i' '.row.F0411_RMK' | cmp -s - "$V/$i" || bad="$bad $i"
done
is "${bad:-none}" none "jde-fetch: every hostile value byte for byte"
is "$(jq -r 'select(.row.F0411_DOC == 2000) | .row.F0411_RMK | length' "$T/fetched")" 10000000 \
	"jde-fetch: the 10 MB value whole"
jde-fetch -t F0101 >"$T/out" 2>"$T/err"
is "$?" 65 "jde-fetch: invalid UTF-8 from AIS is bad data (65)"
like "$(cat "$T/err")" 'malformed JSON at byte [0-9]+ of [0-9]+: invalid UTF-8' "jde-fetch: says where and what"
all_json "$T/out"
ok "jde-fetch: no half line written"

# The whole orchestrated pipeline over the same rows: ml-connector run.
# The 10 MB row's e-mail cannot be made (65, the watermark kept); every
# other delivery goes out with its value intact.
curl -fsS "$SIM/_sim/messages" >"$T/sim.before"
ml-connector run hostile >"$T/run.out" 2>"$T/run.err"
is "$?" 65 "ml-connector run hostile: 65 (the 10 MB row's e-mail refused), said so"
like "$(cat "$T/run.err")" 'the email delivery to ops@example.com would be a line of' \
	"ml-connector run hostile: the refusal reaches the operator"
curl -fsS "$SIM/_sim/messages" >"$T/sim.after"
bad=""
for i in $(seq 0 $((NV - 1))); do
	before=$(get "$T/sim.before" '.kind == "message" and .resource.body == $v' '.resource.sid + "\n"' | grep -c .)
	after=$(get "$T/sim.after" '.kind == "message" and .resource.body == $v' '.resource.sid + "\n"' | grep -c .)
	[ $((after - before)) = 1 ] || bad="$bad $i"
done
is "${bad:-none}" none "ml-connector run hostile: every hostile SMS body reached Twilio exactly as in JDE"
is "$(alert-log query --rule hostile --stage sent --lines -f ndjson |
	jq -r '.line | fromjson | select(.key | startswith("00001|")) | .channel' | sort | uniq -c |
	awk '{ printf " %s %s", $1, $2 }')" \
	" $NV email $((NV + 1)) sms" "the trail: $NV e-mails and $((NV + 1)) SMS (the 10 MB row's cut) sent"
is "$(markers)" 0 "still no shell payload ran"

# ---- hostile rule names ------------------------------------------------------
# Every program that takes a rule name.  A name outside [a-z0-9_-] is a
# rule error (78, "bad rule name"); a name in that set that has no file is
# "no rule" (66); ml-connector run refuses a path (64) since its lock and
# trail are keyed on the name.
long=$(printf 'a%.0s' $(seq 1 300))
touch "$T/stamp"
sleep 0.01
cd "$T" || exit 1
# (The marker payloads here have no '/': they would be paths, see below.)
names=('a b' '$(id)' '$(touch pwned_n)' 'x;id' 'x;touch pwned_m' '`touch pwned_b`' $'nl\nx' "$long"
	'' 'AP-AGING' '..' '*' "x'y" 'x"y' 'a\b' '%s%n' $'tab\tx' $'\001' '-rf' '--')
progs=("ml-connector run" "mlc-rule path" "mlc-rule get" "mlc-rule cron" "jde-fetch -r"
	"alert-match -r" "alert-render -r")
# The sanitizer build starts each program slowly; rule.c is the one check
# behind all of them, so three callers of it are enough there.
[ "${MLC_SANITIZED:-0}" = 1 ] && progs=("ml-connector run" "mlc-rule get" "alert-render -r")
bad=""
for n in "${names[@]}"; do
	for c in "${progs[@]}"; do
		extra=()
		[ "$c" = "mlc-rule get" ] && extra=(rule name)
		# (run takes "-rf" and "--" as options: they are tried after "--".)
		case $c/$n in "ml-connector run/-"*) c="ml-connector run --" ;; esac
		# shellcheck disable=SC2086 # $c is a command line of plain words
		$c "$n" "${extra[@]}" </dev/null >"$T/out" 2>"$T/err"
		rc=$?
		if [ "$rc" != 78 ] || ! grep -q -F "bad rule name \"$n\" (a-z 0-9 - _, not first -)" "$T/err" || [ -s "$T/out" ]; then
			bad="$bad [$c $(printf '%q' "$n" | cut -c1-20): $rc $(head -c 100 "$T/err")]"
		fi
	done
done
is "${bad:-none}" none "${#names[@]} bad names x ${#progs[@]} programs: status 78, \"bad rule name\" quoting the name, nothing on stdout"
is "$(ls -d "$T"/pwned_* 2>/dev/null)" "" "no command in a rule name ran"
for n in 'no-such-rule' 'x-'; do
	for c in "mlc-rule path" "jde-fetch -r" "alert-match -r" "alert-render -r"; do
		# shellcheck disable=SC2086
		$c "$n" </dev/null >/dev/null 2>"$T/err"
		is "$? $(cat "$T/err")" "66 ${c%% *}: no rule \"$n\" ($ML_CONNECTOR_RULES/$n.rule: not found)" \
			"$c $n: no such rule (66)"
	done
done
ml-connector run -rf >/dev/null 2>&1
is "$?" 64 "ml-connector run -rf: an unknown option (64)"
ml-connector run -- -rf >/dev/null 2>"$T/err"
is "$? $(cat "$T/err")" '78 mlc-rule: bad rule name "-rf" (a-z 0-9 - _, not first -)' \
	"ml-connector run -- -rf: not a rule name (78)"
ml-connector run -- no-such-rule 2>"$T/err"
is "$?" 66 "ml-connector run -- no-such-rule: 66"
# Paths, to a valid rule among them: the orchestrator used to key its lock
# on the argument, so STATE/locks/../../hostile.rule.lock was outside.
cp "$ML_CONNECTOR_RULES/hostile.rule" "$T/hostile.rule"
for p in ../../etc/passwd /etc/passwd ./hostile.rule "$T/hostile.rule" ../"$(basename "$T")"/hostile.rule \
	.rule "\$(touch /tmp/PWNED_mlc_$$_p)"; do
	ml-connector run "$p" >"$T/out" 2>"$T/err"
	is "$?" 64 "ml-connector run $p: a path is refused (64)"
	like "$(cat "$T/err")" 'is a path; run takes rule names' "ml-connector run $p: says why"
done
(cd / && mlc-rule path ../../etc/passwd) >/dev/null 2>"$T/err"
is "$?" 78 "mlc-rule path ../../etc/passwd (from /): not a rule file (78)"
like "$(cat "$T/err")" '^mlc-rule: \.\./\.\./etc/passwd:1: ' "and the message names the file and line"
cd "$TOP" || exit 1

# Hostile file names in the rules directory: mlc-rule list leaves them out
# (78), so run --all, check and schedule never see them.
R2=$T/rules2
mkdir -p "$R2"
for n in 'a b' 'x;id' '$(touch pwned_l)' $'nl\nx' '-rf' 'ok-1'; do
	awk -v n="$n" '$1 == "name" { print "name = " n; next } { print }' "$ML_CONNECTOR_RULES/hostile.rule" >"$R2/$n.rule"
done
mlc-rule -R "$R2" list >"$T/out" 2>"$T/err"
is "$?" 78 "mlc-rule list with hostile file names: 78"
is "$(tr '\n' ' ' <"$T/out")" "ok-1 " "mlc-rule list: only rule names printed"
is "$(grep -c 'is not a rule name' "$T/err")" 5 "mlc-rule list: each bad file reported"
ML_CONNECTOR_RULES=$R2 ml-connector schedule >"$T/out" 2>"$T/err"
unlike "$(cat "$T/out")" 'touch|;id|a b|nl|-rf' "schedule: no hostile name reaches a crontab line"
like "$(cat "$T/out")" 'run --scheduled --quiet ok-1$' "schedule: the good rule is scheduled"

# (Where a refused name could land: here, the tree above, the state dir's
# parent.  /tmp is shared with other processes; the markers cover it.)
find "$T" "$TOP" "$TOP/tests" -maxdepth 1 -newer "$T/stamp" 2>/dev/null |
	grep -v -x -e "$T" -e "$T/\(out\|err\|q\|new\|rules2\|state\|hostile.rule\)" -e "$TOP/tests/tmp" >"$T/new"
is "$(cat "$T/new")" "" "no file made outside the state directory by the refused names"
is "$(markers)/$(find "$T" -name 'pwned_*' | wc -l | tr -d ' ')" 0/0 "no command ran from a rule name"

done_testing
