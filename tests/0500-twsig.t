#!/usr/bin/env bash
# src/twsig.c: X-Twilio-Signature against every vector of Twilio's helper
# libraries (tests/fixtures/twilio-signature-vectors.json, a copy of
# shared/reference/ with its sources), plus the form parser and the CLI modes.
. "$(dirname "$0")/lib.sh"

vectors=$TOP/tests/fixtures/twilio-signature-vectors.json

# twsig-check prints one "ok - ..." / "not ok - ..." line per check; number them.
vg twsig-check vectors "$vectors" >"$T/vec.out" 2>"$T/vec.err"
rc=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) true; ok "${line#ok - }" ;;
	"not ok - "*) false; ok "${line#not ok - }" ;;
	*) echo "# $line" ;;
	esac
done <"$T/vec.out"
is "$rc" 0 "twsig-check vectors: exit status (valgrind clean)"
[ -s "$T/vec.err" ] && sed 's/^/#   /' "$T/vec.err"
n=$(grep -c '^ok - ' "$T/vec.out")
[ "$n" -ge 140 ]
ok "at least 140 vector checks ran ($n)"

# The form parser: '+', %XX, duplicates in order, empty pieces, bare names,
# stray '%' kept, %00 refused.
form() { printf '%s' "$1" | vg twsig-check form; }
is "$(form 'To=%2B15551230001&Body=It%27s+a+test&&MediaUrl=a&MediaUrl=b&Flag')" \
	'[["To","+15551230001"],["Body","It'\''s a test"],["MediaUrl","a"],["MediaUrl","b"],["Flag",""]]' \
	"form: decoding, duplicates kept in order, bare name"
is "$(form 'a=100%&b=%zz&c=%e2%82%AC')" '[["a","100%"],["b","%zz"],["c","€"]]' \
	"form: a stray % is kept, UTF-8 escapes decoded"
is "$(form '')" '[]' "form: empty body"
is "$(form 'a=1%00')" 'error' "form: %00 refused"

# The CLI modes used by the simulator tests.
printf '12345\n' >"$T/token"
url='https://mycompany.com/myapp.php?foo=1&bar=2'
is "$(twsig-check sign "$T/token" "$url" CallSid=CA1234567890ABCDE Caller=+14158675309 \
	Digits=1234 From=+14158675309 To=+18005551212)" 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' \
	"sign: the canonical vector"
body='CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212'
printf '%s' "$body" | twsig-check validate "$T/token" "$url" 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' >/dev/null
ok "validate: form body from stdin"
printf '%s' "$body&X=1" | twsig-check validate "$T/token" "$url" 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' >/dev/null
is "$?" 1 "validate: an added parameter fails with status 1"
printf '%s' '{"property": "value", "boolean": true}' | twsig-check validate -j "$T/token" \
	"$url&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620" \
	'a9nBmqA0ju/hNViExpshrM61xv4=' >/dev/null
ok "validate -j: JSON body with bodySHA256"
printf '%s' '{"property": "value", "boolean": false}' | twsig-check validate -j "$T/token" \
	"$url&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620" \
	'a9nBmqA0ju/hNViExpshrM61xv4=' >/dev/null
is "$?" 1 "validate -j: a changed body fails"

# The fixture is a faithful copy, with its provenance.
is "$(jq -r '.sources.python.repo + " " + .sources.node.repo' "$vectors")" \
	'twilio/twilio-python twilio/twilio-node' "fixture keeps its sources"
if [ -f "$TOP/../shared/reference/twilio-signature-vectors.json" ]; then
	cmp -s "$vectors" "$TOP/../shared/reference/twilio-signature-vectors.json"
	ok "fixture is identical to shared/reference"
else
	skip "shared/reference not beside the tree"
fi

done_testing
