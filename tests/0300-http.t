#!/usr/bin/env bash
# src/http.c through tests/bin/http-get against tests/bin/http-fixture-server
# (plain, TLS with a test CA, and a "blackhole" that never answers):
# URL policy, statuses, headers we read, keep-alive, TLS verification,
# outcome classification, the body cap, the redacting trace, valgrind.
. "$(dirname "$0")/lib.sh"

# No proxy may stand between the tests and loopback.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
unset ML_CONNECTOR_TRACE

"$TOP/tests/tls/mkcerts.sh" "$T/pki" || exit 1
ok "mkcerts.sh made a test PKI"
openssl verify -CAfile "$T/pki/ca.pem" "$T/pki/server.pem" >/dev/null 2>&1
ok "the server certificate verifies against the test CA"

# Three servers; sim_start names its files after the program, so each log
# is renamed once the server holds it open (it keeps writing to it).
fx=http-fixture-server
sim_start $fx || exit 1
P=$HTTP_FIXTURE_SERVER_PORT
mv "$T/$fx.log" "$T/plain.log"
sim_start $fx --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server-key.pem" || exit 1
S=$HTTP_FIXTURE_SERVER_PORT
mv "$T/$fx.log" "$T/tls.log"
sim_start $fx --blackhole || exit 1
B=$HTTP_FIXTURE_SERVER_PORT
sim_start $fx --expect-417 || exit 1
E=http://127.0.0.1:$HTTP_FIXTURE_SERVER_PORT
mv "$T/$fx.log" "$T/e417.log"

H=http://127.0.0.1:$P
HS=https://127.0.0.1:$S
CA=$T/pki/ca.pem

# get ARGS...: run http-get, keep stdout in $out, stderr in $T/err, status in $rc
get() {
	out=$(http-get "$@" 2>"$T/err")
	rc=$?
}
field() { printf '%s\n' "$out" | jq -r ".$1"; }

# ---- URL policy ----
get "$H/status/200"
is "$(field outcome)/$rc" "POLICY/1" "http refused by default"
like "$(field error)" "plain http is refused" "policy message"
get --allow-http "$H/status/200"
is "$(field outcome)/$(field status)" "DONE/200" "--allow-http allows http"
get --allow-loopback "$H/status/200"
is "$(field outcome)/$(field status)/$rc" "DONE/200/0" "--allow-loopback allows http://127.0.0.1"
get --allow-loopback "http://localhost:$P/status/200"
is "$(field outcome)/$(field status)" "DONE/200" "--allow-loopback allows http://localhost"
get --allow-loopback "http://example.invalid/"
is "$(field outcome)" "POLICY" "--allow-loopback refuses http://example.invalid"
get --allow-http --connect-timeout 2000 "http://example.invalid/"
is "$(field outcome)" "NOT_SENT" "--allow-http: an unresolvable host is NOT_SENT"
get --allow-http "ftp://127.0.0.1:$P/"
is "$(field outcome)" "POLICY" "ftp refused"
get --allow-http "file:///etc/passwd"
is "$(field outcome)" "POLICY" "file refused"
get --cainfo "$CA" "https://user:pw-CANARY-9@127.0.0.1:$S/status/200"
is "$(field outcome)" "POLICY" "user:password@ in the URL refused"
like "$(field error)" "credentials in a URL" "credentials message"
unlike "$out" "pw-CANARY-9" "the refused password is not echoed"
get --cainfo "$CA" "https://user@127.0.0.1:$S/status/200"
is "$(field outcome)" "POLICY" "user@ in the URL refused"
get "not a url"
is "$(field outcome)" "POLICY" "garbage URL refused"

# ---- statuses and the headers we read ----
for s in 200 201 204 400 401 403 404 408 429 444 500 502 503 504; do
	get --allow-loopback "$H/status/$s"
	is "$(field outcome)/$(field status)/$rc" "DONE/$s/0" "status $s is DONE with the status kept"
done
get --allow-loopback "$H/status/404"
is "$(field body)" '{"status":404}' "error bodies are kept (no FAILONERROR)"
get --allow-loopback "$H/retry-after/7"
is "$(field status)/$(field retry_after_ms)" "429/7000" "Retry-After in seconds"
get --allow-loopback "$H/retry-after-date/30"
ra=$(field retry_after_ms)
[ "$ra" -ge 28000 ] && [ "$ra" -le 30000 ]
ok "Retry-After as an HTTP-date, relative to now ($ra ms)"
get --allow-loopback "$H/status/200"
is "$(field retry_after_ms)/$(field ratelimit_reset)/$(field message_id)" "-1/-1/" \
	"absent headers: -1, -1, empty"
get --allow-loopback "$H/message-id"
is "$(field status)/$(field message_id)/$(field ratelimit_reset)" \
	"202/msg-4242.filter0001/1700000000" "X-Message-Id and X-RateLimit-Reset"

# ---- methods, body, Basic auth, keep-alive ----
get --allow-loopback --method POST --data 'To=%2B1555&Body=hi' "$H/echo"
is "$(field body)" 'To=%2B1555&Body=hi' "POST body arrives"
tail -n 1 "$T/plain.log" | jq -r '.method + " " + .headers["Content-Type"]' >"$T/m"
is "$(cat "$T/m")" "POST application/x-www-form-urlencoded" "POST logged by the server"
get --allow-loopback --method DELETE "$H/echo"
is "$(tail -n 1 "$T/plain.log" | jq -r .method)/$(field status)" "DELETE/200" "other methods"
printf 'secret-pw\n' >"$T/pw"
get --allow-loopback --user ACuser --password-fd 3 "$H/headers" 3<"$T/pw"
is "$(field body | jq -r .Authorization)" "Basic $(printf 'ACuser:secret-pw' | base64)" \
	"HTTP Basic credentials arrive in the Authorization header"
n0=$(wc -l <"$T/plain.log")
get --allow-loopback --count 3 "$H/status/200"
is "$(printf '%s\n' "$out" | jq -r .status | tr '\n' ' ')" "200 200 200 " "three requests"
tail -n +$((n0 + 1)) "$T/plain.log" | jq -r .conn | sort -u >"$T/conns"
is "$(wc -l <"$T/conns" | tr -d ' ')/$(wc -l <"$T/plain.log" | tr -d ' ')" "1/$((n0 + 3))" \
	"keep-alive: three requests on one connection"
n0=$(wc -l <"$T/plain.log")
get --allow-loopback --count 2 --method POST --data x=1 "$H/echo"
tail -n +$((n0 + 1)) "$T/plain.log" | jq -r .conn | sort -u >"$T/conns"
is "$(wc -l <"$T/conns" | tr -d ' ')" 1 "keep-alive: POSTs reuse the connection too"

# ---- TLS ----
get --cainfo "$CA" "$HS/status/201"
is "$(field outcome)/$(field status)" "DONE/201" "https with the test CA"
get --cainfo "$CA" "https://localhost:$S/status/200"
is "$(field outcome)/$(field status)" "DONE/200" "https to localhost (DNS SAN)"
get --cainfo "$T/pki/other-ca.pem" "$HS/status/200"
is "$(field outcome)/$rc" "TLS/1" "the wrong CA: outcome TLS"
like "$(field error)" "[Cc]ertificate" "the wrong CA: curl's message"
get "$HS/status/200"
is "$(field outcome)" "TLS" "https without cainfo (system store): outcome TLS"
get --cainfo "$T/pki/no-such.pem" "$HS/status/200"
is "$(field outcome)" "TLS" "a missing CA file: outcome TLS"
get --cainfo "$CA" --allow-loopback "http://127.0.0.1:$S/status/200"
is "$(field outcome)" "UNKNOWN" "plain http to a TLS port: UNKNOWN (the request left)"
n0=$(wc -l <"$T/tls.log")
get --cainfo "$CA" --count 2 "$HS/status/200"
tail -n +$((n0 + 1)) "$T/tls.log" | jq -r .conn | sort -u >"$T/conns"
is "$(wc -l <"$T/conns" | tr -d ' ')/$(printf '%s\n' "$out" | jq -r .status | tr '\n' ' ')" \
	"1/200 200 " "keep-alive over TLS"

# ---- failures: NOT_SENT versus UNKNOWN ----
get --allow-loopback "http://127.0.0.1:1/"
is "$(field outcome)/$(field status)" "NOT_SENT/0" "connection refused: NOT_SENT"
get --allow-loopback "$H/drop"
is "$(field outcome)/$(field status)" "UNKNOWN/0" "request read, connection closed: UNKNOWN"
get --allow-loopback --method POST --data 'To=1' "$H/short/10000"
is "$(field outcome)/$(field status)" "UNKNOWN/201" \
	"a response cut short: UNKNOWN, the status (201 created) kept"
get --allow-loopback --timeout 500 "$H/slow/3000"
is "$(field outcome)" "UNKNOWN" "total timeout after sending: UNKNOWN"
like "$(field error)" "[Tt]imed out|[Tt]imeout" "timeout message"
# The blackhole's one queue slot takes the first connection: TCP completes,
# TLS never does (no request sent); the next SYN is not answered at all.
get --cainfo "$CA" --connect-timeout 500 --timeout 2000 "https://127.0.0.1:$B/"
is "$(field outcome)" "NOT_SENT" "TLS handshake timeout: NOT_SENT"
get --allow-loopback --connect-timeout 500 --timeout 2000 "http://127.0.0.1:$B/"
is "$(field outcome)" "NOT_SENT" "connect timeout: NOT_SENT"
like "$(field error)" "[Tt]imeout|[Tt]imed out" "connect timeout message"

# ---- the body cap ----
get --allow-loopback "$H/big/1000000"
is "$(field outcome)/$(field body_len)" "DONE/1000000" "a 1 MB body"
get --allow-loopback "$H/big/$((64 * 1024 * 1024 + 1))"
is "$(field outcome)/$rc" "ERROR/1" "a body over 64 MiB: ERROR"
like "$(field error)" "64 MiB" "body cap message"

# ---- the trace: headers only, redacted ----
printf 'pw-CANARY-3\n' >"$T/pw3"
get --allow-loopback --trace --method POST --data 'Body=body-CANARY-1' \
	--header 'Authorization: Bearer hdr-CANARY-2' --header 'X-Visible: shown' \
	--header 'Cookie: session=ck-CANARY-5' \
	"$H/echo?To=1&token=tok-CANARY-4&Signature=sig-CANARY-6" 3<"$T/pw3"
trace=$(cat "$T/err")
is "$(field body)" "Body=body-CANARY-1" "trace run: the body arrived"
like "$trace" "^http-get: > POST /echo\?To=1&token=REDACTED&Signature=REDACTED HTTP/1.1" \
	"trace: request line with parameters redacted"
like "$trace" "^http-get: > Authorization: REDACTED$" "trace: Authorization redacted"
like "$trace" "^http-get: > Cookie: REDACTED$" "trace: Cookie redacted"
like "$trace" "^http-get: > X-Visible: shown" "trace: other headers shown"
like "$trace" "^http-get: < HTTP/1.1 200" "trace: response status line"
like "$trace" "^http-get: \* " "trace: informational text"
unlike "$trace" "CANARY" "trace: no body, header, cookie or token secret"
get --allow-loopback --trace --user ACuser --password-fd 3 "$H/headers?pwd=pw-CANARY-3" 3<"$T/pw3"
trace=$(cat "$T/err")
like "$trace" "^http-get: > GET /headers\?pwd=REDACTED HTTP/1.1" "trace: GET request line"
like "$trace" "^http-get: > Authorization: REDACTED$" "trace: Basic credentials redacted"
unlike "$trace" "CANARY|$(printf 'ACuser:pw-CANARY-3' | base64)" \
	"trace: no password, plain or base64"
unlike "$trace" '"Host"' "trace: the response body (echoed headers) is not printed"
out=$(ML_CONNECTOR_TRACE=1 http-get --cainfo "$CA" --header 'jde-AIS-Auth: jde-CANARY-7' \
	"$HS/headers" 2>"$T/err")
trace=$(cat "$T/err")
like "$trace" "^http-get: > jde-AIS-Auth: REDACTED$" "ML_CONNECTOR_TRACE=1, TLS: jde-AIS-Auth redacted"
unlike "$trace" "CANARY" "TLS trace: no token"
get --allow-loopback "$H/status/200"
is "$(cat "$T/err")" "" "no trace unless asked"

# ---- raw handles on the multi interface (mlc_http_setup_easy/capture/finish) ----
# The barrier answers only when all four wait at once: 200 proves they
# ran concurrently, with no clock in the verdict.
get --cainfo "$CA" --parallel 4 "$HS/barrier/4"
is "$(printf '%s\n' "$out" | jq -r '.outcome + "/" + (.status|tostring)' | sort -u)/$rc" "DONE/200/0" \
	"multi: four https transfers at once (a barrier of four), all DONE"
get --parallel 2 "$H/status/200"
is "$(printf '%s\n' "$out" | jq -r .outcome | sort -u)/$rc" "POLICY/1" \
	"multi: mlc_http_setup_easy applies the URL policy"
get --allow-loopback --parallel 2 --timeout 400 "$H/slow/3000"
is "$(printf '%s\n' "$out" | jq -r .outcome | sort -u)" "UNKNOWN" \
	"multi: mlc_http_finish classifies a timeout after sending"

# ---- at most once (mlc_http_once): libcurl's own re-sends refused ----
# /drop-reused answers the first request of a connection and drops a later
# one unanswered after reading it: a keep-alive connection that dies under
# a request the server may have acted on.
# new_lines LOG N0: the log's lines after the first N0
new_lines() { tail -n +$(($2 + 1)) "$1"; }
n0=$(wc -l <"$T/plain.log")
get --allow-loopback --method POST --data x=1 --count 2 "$H/drop-reused"
is "$(printf '%s
' "$out" | jq -r '.outcome + "/" + (.status|tostring)' | tr '\n' ' ')" \
	"DONE/200 DONE/200 " "libcurl re-sends a POST whose reused connection died (mlc_http_request)"
is "$(new_lines "$T/plain.log" "$n0" | jq -r '"\(.conn_req)"' | tr '\n' ' ')" "1 2 1 " \
	"... the server got the second POST twice, the copy on a new connection"
n0=$(wc -l <"$T/plain.log")
get --allow-loopback --raw --method POST --data x=1 --count 2 "$H/drop-reused"
is "$(printf '%s
' "$out" | jq -r .outcome | tr '\n' ' ')/$(new_lines "$T/plain.log" "$n0" | grep -c .)" \
	"DONE DONE /3" "... and so on a raw handle in a multi handle"
n0=$(wc -l <"$T/plain.log")
get --allow-loopback --raw --once --method POST --data x=1 --count 3 "$H/drop-reused"
is "$(printf '%s
' "$out" | jq -r '.outcome + "/" + (.status|tostring)' | tr '\n' ' ')/$rc" \
	"DONE/200 UNKNOWN/0 DONE/200 /1" "--once: the re-send refused, the transfer UNKNOWN; the next one goes"
like "$(printf '%s
' "$out" | sed -n 2p | jq -r .error)" "not sent again, the first copy may have arrived" \
	"--once: says why"
is "$(new_lines "$T/plain.log" "$n0" | jq -r '"\(.conn)/\(.conn_req)"' | awk -F/ '{print $2}' | tr '\n' ' ')" \
	"1 2 1 " "--once: the server got each POST once; the one after goes on a new connection"
n0=$(wc -l <"$T/tls.log")
get --cainfo "$CA" --raw --once --method POST --data x=1 --count 2 "$HS/drop-reused"
is "$(printf '%s
' "$out" | jq -r .outcome | tr '\n' ' ')/$(new_lines "$T/tls.log" "$n0" | grep -c .)" \
	"DONE UNKNOWN /2" "--once over TLS: refused too"
# --expect-417 answers Expect: 100-continue with 417 before the body and
# keeps the connection: libcurl sends the request again without Expect.
get --allow-loopback --raw --method POST --data-size 1100000 "$E/m"
is "$(field outcome)/$(field status)/$(jq -r '"\(.expect)/\(.body_len)"' "$T/e417.log" | tr '\n' ' ')" \
	"DONE/200/100-continue/0 null/1100000 " "libcurl: over 1 MiB it sends Expect: 100-continue, and after a 417 the request again"
n0=$(wc -l <"$T/e417.log")
get --allow-loopback --raw --once --method POST --data-size 1100000 "$E/m"
is "$(field outcome)/$(field status)/$(new_lines "$T/e417.log" "$n0" | grep -c .)" "NOT_SENT/417/1" \
	"--once: the re-send after a 417 refused; NOT_SENT (the server refused it before its body)"
n0=$(wc -l <"$T/e417.log")
get --allow-loopback --raw --once --header 'Expect:' --method POST --data-size 1100000 "$E/m"
is "$(field outcome)/$(field status)/$(new_lines "$T/e417.log" "$n0" | jq -r '"\(.expect)/\(.body_len)"')" \
	"DONE/200/null/1100000" "an empty Expect: header: no 100-continue, the body at once, one request"

# ---- redaction for messages ----
r() { http-get --redact "$1"; }
is "$(r 'https://h/p?token=abc&x=1&Password=p#frag')" \
	'https://h/p?token=REDACTED&x=1&Password=REDACTED#frag' "redact: token, Password, fragment kept"
is "$(r 'https://u:secret@h/p?KEY=1;sig=2&keyx=3&auth=4&pwd=5&secret=6')" \
	'https://u:REDACTED@h/p?KEY=REDACTED;sig=REDACTED&keyx=3&auth=REDACTED&pwd=REDACTED&secret=REDACTED' \
	"redact: userinfo password and every listed name, not look-alikes"
is "$(r 'https://h/a/b')" 'https://h/a/b' "redact: nothing to hide"

# ---- valgrind ----
# Valgrind on a loaded machine is slow enough to pass curl's default
# timeouts (10 s to connect, TLS handshake included): the runs that must
# succeed get generous ones (VGT), and say what they got when they do not.
VGT=(--timeout 600000 --connect-timeout 600000)
vg http-get "${VGT[@]}" --allow-loopback --count 2 --method POST --data a=1 --user u --password-fd 3 \
	--trace "$H/echo?token=x" 3<"$T/pw" >/dev/null 2>"$T/vg1"
is "$?" 0 "valgrind: plain http, two requests, trace, credentials"
[ -s "$T/vg1" ] && grep -v '^http-get: [<>*]' "$T/vg1" | sed 's/^/#   /' | head -n 20
vg http-get "${VGT[@]}" --cainfo "$CA" --count 2 "$HS/status/200" >"$T/vg2.out" 2>"$T/vg2"
is "$?" 0 "valgrind: https with the test CA, keep-alive"
[ -s "$T/vg2" ] && sed 's/^/#   /' "$T/vg2" | head -n 20
grep -v '"outcome":"DONE"' "$T/vg2.out" | sed 's/^/#   /' | head -n 5
vg http-get --cainfo "$T/pki/other-ca.pem" "$HS/status/200" >/dev/null 2>"$T/vg3"
is "$?" 1 "valgrind: TLS failure path"
[ -s "$T/vg3" ] && sed 's/^/#   /' "$T/vg3" | head -n 20
vg http-get "${VGT[@]}" --cainfo "$CA" --parallel 3 "$HS/status/200" >"$T/vg6.out" 2>"$T/vg6"
is "$?" 0 "valgrind: multi interface over TLS"
[ -s "$T/vg6" ] && sed 's/^/#   /' "$T/vg6" | head -n 20
grep -v '"outcome":"DONE"' "$T/vg6.out" | sed 's/^/#   /' | head -n 5
vg http-get --allow-loopback --raw --once --count 2 --method POST --data a=1 "$H/drop-reused" \
	>/dev/null 2>"$T/vg7"
is "$?" 1 "valgrind: a re-send refused (--once)"
[ -s "$T/vg7" ] && sed 's/^/#   /' "$T/vg7" | head -n 20
vg http-get --allow-loopback "http://127.0.0.1:1/" >/dev/null 2>"$T/vg4"
is "$?" 1 "valgrind: connection refused path"
vg http-get --allow-loopback "$H/big/$((64 * 1024 * 1024 + 1))" >/dev/null 2>"$T/vg5"
is "$?" 1 "valgrind: body cap path"

done_testing
