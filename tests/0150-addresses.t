#!/usr/bin/env bash
# Addresses (src/addr.c): one list (tests/fixtures/addresses.tab) of E.164
# numbers, WhatsApp addresses and e-mail addresses with the verdict each
# must get, run through every program that checks one (alert-match,
# alert-render, twilio-send --dry-run, alert-log --before twilio-send,
# jde-fetch's E.164 normalisation) and the simulator: each gives the same
# verdict for the same address.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

send_setup --latency 0
SGKEY_HDR=$T/auth-sg
printf 'header = "Authorization: Bearer %s"\n' "$SGKEY" >"$SGKEY_HDR"
printf 'user = "%s:%s"\n' "$AC" "$TOKEN" >"$T/auth-tw"

# ---- the list: row N in $T/addr.N, "N<TAB>KIND<TAB>VERDICT<TAB>WHY" in want ----
n=0
: >"$T/want"
while IFS=$'\t' read -r verdict kind addr why; do
	case $verdict in '#'* | '') continue ;; esac
	n=$((n + 1))
	while [[ $addr =~ ^(.*)a\{([0-9]+)\}(.*)$ ]]; do
		addr="${BASH_REMATCH[1]}$(head -c "${BASH_REMATCH[2]}" /dev/zero | tr '\0' a)${BASH_REMATCH[3]}"
	done
	printf '%b' "$addr" >"$T/addr.$n"
	printf '%s\t%s\t%s\t%s\n' "$n" "$kind" "$verdict" "$why" >>"$T/want"
done <"$TOP/tests/fixtures/addresses.tab"
N=$n
[ "$N" -ge 40 ]
ok "the list has $N addresses"
is "$(wc -c <"$T/addr.$(grep -n -m 1 'the cap' "$T/want" | cut -d: -f1)" | tr -d ' ')" 254 \
	"the 254-byte row is 254 bytes"

kind_of() { cut -f2 <(sed -n "${1}p" "$T/want"); }
addr_of() { cat "$T/addr.$1"; }
# got FILE VERDICTS: the table with the verdicts one stage gave ("N VERDICT" lines)
got() {
	while IFS=$'\t' read -r i kind _ why; do
		v=$(awk -v i="$i" '$1 == i { print $2 }' "$2")
		printf '%s\t%s\t%s\t%s\n' "$i" "$kind" "${v:-?}" "$why"
	done <"$T/want" >"$1"
}
# only the rows a stage can be given (want filtered by the rows listed in FILE)
want_of() { awk 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$1" "$T/want"; }

# ---- alert-match: the address as a rule's recipient (--check) ----
# A rule file cannot carry a line break or blanks at the end of a value.
: >"$T/match.v"
for i in $(seq "$N"); do
	a=$(addr_of "$i")
	case $a in *$'\n'* | *$'\r'* | *' ' | *$'\t') continue ;; esac
	k=$(kind_of "$i")
	[ "$k" = whatsapp ] && a=${a#whatsapp:}
	printf '[rule]\nname = addr\n\n[match]\nexpr = true\n\n[recipients]\nto = %s:%s\nchannels = %s\n' \
		"$k" "$a" "$k" >"$T/addr.rule"
	if alert-match -r "$T/addr.rule" --check </dev/null >/dev/null 2>"$T/match.err"; then
		echo "$i ok"
	elif [ $? -eq 78 ] && grep -q 'recipient' "$T/match.err"; then
		echo "$i bad"
	else
		echo "$i error: $(cat "$T/match.err")"
	fi >>"$T/match.v"
done
got "$T/match.got" "$T/match.v"
want_of "$T/match.v" >"$T/match.want"
awk -F'\t' '$3 != "?"' "$T/match.got" >"$T/match.got2"
diff_ok "$T/match.got2" "$T/match.want" "alert-match: a rule's recipients"

# ---- alert-render: the address as an alert's recipient ----
mkdir -p "$T/render"
cat >"$T/render/addr.rule" <<'EOF'
[rule]
name = addr

[message]
sms = hi
subject = s
text = t
EOF
for i in $(seq "$N"); do
	jq -cn --arg i "$i" --arg k "$(kind_of "$i")" --rawfile a "$T/addr.$i" \
		'{alert_id:("addr:"+$i),rule:"addr",severity:"warning",table:"F0411",key:$i,
		  record:{},recipients:[{to:"x",name:("row "+$i),($k):$a}],channels:[$k]}'
done >"$T/alerts"
alert-render -r "$T/render/addr.rule" --no-state --now 2024-01-15T14:00:00Z <"$T/alerts" \
	>"$T/render.out" 2>"$T/render.err"
is "$?" 0 "alert-render: exit 0 (a bad address is reported, not bad input)"
jq -r 'select(.delivery_id) | .alert_id' "$T/render.out" | sed 's/^addr:\(.*\)/\1 ok/' >"$T/render.ok"
for i in $(seq "$N"); do
	grep -q "^$i ok\$" "$T/render.ok" && continue
	grep -q "rule addr: recipient row $i: " "$T/render.err" && echo "$i bad"
done | cat "$T/render.ok" - >"$T/render.v"
got "$T/render.got" "$T/render.v"
diff_ok "$T/render.got" "$T/want" "alert-render: an alert's recipients"

# ---- twilio-send --dry-run and alert-log --before twilio-send: deliveries ----
for i in $(seq "$N"); do
	jq -cn --arg i "$i" --arg k "$(kind_of "$i")" --rawfile a "$T/addr.$i" \
		'{delivery_id:("addr:"+$i+"/"+$k), alert_id:("addr:"+$i), rule:"addr", channel:$k, to:$a}
		 + (if $k == "email" then {subject:"s", text:"t"} else {body:"hi"} end)'
done >"$T/deliveries"
twilio-send -n <"$T/deliveries" >"$T/send.out" 2>"$T/send.err"
is "$?" 65 "twilio-send --dry-run: exit 65 (bad deliveries)"
# a dry run prints the request it would make, and refuses on stderr (line = row)
jq -r 'select(.dry_run) | .delivery_id' "$T/send.out" | sed 's|^addr:\([0-9]*\)/[a-z]*|\1 ok|' >"$T/send.v"
sed -n 's/^twilio-send: line \([0-9]*\): field "to": .*/\1 bad/p' "$T/send.err" >>"$T/send.v"
got "$T/send.got" "$T/send.v"
diff_ok "$T/send.got" "$T/want" "twilio-send --dry-run: a delivery's to"
jq -r 'select(.dry_run and (.delivery_id | endswith("/whatsapp"))) | .form.To' "$T/send.out" >"$T/wa.to"
[ -s "$T/wa.to" ] && ! grep -qv '^whatsapp:+[0-9]*$' "$T/wa.to"
ok "twilio-send: each WhatsApp To has the prefix once"

alert-log --before twilio-send <"$T/deliveries" >"$T/log.out" 2>"$T/log.err"
jq -r '.delivery_id' "$T/log.out" | sed 's|^addr:\([0-9]*\)/[a-z]*|\1 ok|' >"$T/log.ok"
for i in $(seq "$N"); do
	grep -q "^$i ok\$" "$T/log.ok" || echo "$i bad"
done | cat "$T/log.ok" - >"$T/log.v"
got "$T/log.got" "$T/log.v"
diff_ok "$T/log.got" "$T/want" "alert-log --before twilio-send: quarantined or passed on"

# ---- jde-fetch: an Address Book number written with + normalises iff it is E.164 ----
: >"$T/norm.v"
for i in $(seq "$N"); do
	a=$(addr_of "$i")
	if [ "$(kind_of "$i")" != sms ] || ! [[ $a =~ ^\+[0-9]+$ ]]; then
		continue
	fi
	r=$(jde-unit e164 1 "$a")
	case $r in invalid) echo "$i bad" ;; "$a") echo "$i ok" ;; *) echo "$i changed to $r" ;; esac
done >>"$T/norm.v"
got "$T/norm.got" "$T/norm.v"
want_of "$T/norm.v" >"$T/norm.want"
awk -F'\t' '$3 != "?"' "$T/norm.got" >"$T/norm.got2"
diff_ok "$T/norm.got2" "$T/norm.want" "jde-fetch's normalisation: the numbers the checks take, unchanged"

# ---- the simulator: Twilio's To (21211) and SendGrid's to.email ----
MSGS=$SIM/2010-04-01/Accounts/$AC/Messages.json
for i in $(seq "$N"); do
	a=$(addr_of "$i")
	case $(kind_of "$i") in
	sms)
		code=$(curl -s -K "$T/auth-tw" -o "$T/sim.out" -w '%{http_code}' "$MSGS" \
			--data-urlencode "To=$a" --data-urlencode From=+15005550006 --data-urlencode Body=hi)
		;;
	whatsapp)
		case $a in whatsapp:*) ;; *) a=whatsapp:$a ;; esac
		code=$(curl -s -K "$T/auth-tw" -o "$T/sim.out" -w '%{http_code}' "$MSGS" \
			--data-urlencode "To=$a" --data-urlencode From=whatsapp:+14155238886 \
			--data-urlencode Body=hi)
		;;
	email)
		jq -cn --rawfile a "$T/addr.$i" \
			'{personalizations:[{to:[{email:$a}]}],from:{email:"alerts@example.com"},
			  subject:"s",content:[{type:"text/plain",value:"t"}]}' >"$T/mail.json"
		code=$(curl -s -K "$SGKEY_HDR" -o "$T/sim.out" -w '%{http_code}' \
			-H 'Content-Type: application/json' --data-binary @"$T/mail.json" \
			"$SIM/v3/mail/send")
		;;
	esac
	case $code in 201 | 202) echo "$i ok" ;; 400) echo "$i bad" ;; *) echo "$i http $code" ;; esac
done >"$T/sim.v"
got "$T/sim.got" "$T/sim.v"
diff_ok "$T/sim.got" "$T/want" "mlc-twilio-sim: Twilio's To and SendGrid's to.email"

# ---- alert-match: a recipient's re-alert id has the whatsapp: prefix once ----
printf '[rule]\nname = wa\n\n[match]\nexpr = true\n\n[join]\nv = AN8\n\n[recipients]\nto = contact:v\nchannels = whatsapp\n' \
	>"$T/render/wa.rule"
echo '{"table":"F0411","key":"k1","row":{},"contacts":{"v":{"name":"W","whatsapp":"whatsapp:+13125550100"}}}' |
	alert-match -r "$T/render/wa.rule" --no-state --now 2024-01-15T14:00:00Z >"$T/wa.out" 2>"$T/wa.err"
is "$(jq -r '.recipients[0].id' "$T/wa.out")" "whatsapp:+13125550100" \
	"alert-match: a WhatsApp-only contact's id is whatsapp:+N, its address given with the prefix"

done_testing
