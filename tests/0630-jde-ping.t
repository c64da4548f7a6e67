#!/usr/bin/env bash
# jde-fetch --ping: log in and out, read nothing; wrong password refused.
. "$(dirname "$0")/lib.sh"

PW='pIng-s3cr3t'
ais_start "$PW" "$TOP/data/jde" || exit 1
printf '[ais]\nurl = http://127.0.0.1:%s\nuser = JDE\nenvironment = JDV920\n' "$MLC_AIS_SIM_PORT" \
	>"$ML_CONNECTOR_CONF"
export ML_CONNECTOR_KDF_FAST=1
mlc-vault init 2>/dev/null
printf '%s\n' "$PW" | mlc-vault set ais.password

jde-fetch --ping >"$T/out" 2>"$T/err"
is "$?" 0 "ping: status 0"
is "$(jq -r '[.ping, .system, .user, .environment] | @tsv' "$T/out")" "$(printf 'ok\tais\tJDE\tJDV920')" \
	"one line saying what answered"
# a login and a logout, nothing else: tests/sim/ais-login-ping.scn
if grep -q -- "$PW" "$T/out" "$T/err" "$MLC_AIS_SIM_LOG"; then false; else true; fi
ok "the password appears nowhere"
jde-fetch --ping >/dev/full 2>"$T/err"
is "$?|$(cat "$T/err")" "74|jde-fetch: write error on stdout: No space left on device" \
	"ping on a full disk: 74, and says why"

printf 'wrong\n' | mlc-vault set ais.password
: >"$MLC_AIS_SIM_LOG"
jde-fetch --ping >"$T/out" 2>"$T/err"
is "$?" 77 "wrong password: 77"
is "$(jq -r .path "$MLC_AIS_SIM_LOG" | grep -c tokenrequest)" 1 "one login attempt, no retry loop"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "nothing on stdout"

# A refused password is not sent again (a lockout policy counts each try)
# until it is set again or a ping gets through.
logins() { jq -r .path "$MLC_AIS_SIM_LOG" | grep -c '^/jderest/v2/tokenrequest$'; }
ref=$ML_CONNECTOR_STATE/ais-login-refused
test -s "$ref"
ok "a ping refused is remembered too"
printf 'wrong\n' | mlc-vault set ais.password
: >"$MLC_AIS_SIM_LOG"
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
is "$?/$(logins)" 77/1 "a refused password (a run): 77 after one login"
like "$(cat "$T/err")" "no login with this password is tried again until it is set again" "and says what follows"
test -s "$ref" && ! grep -q wrong "$ref"
ok "the refusal is kept, without the password"
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
is "$?/$(logins)" 77/1 "the next run: 77, no login sent"
like "$(cat "$T/err")" "not logging in to AIS as JDE: this password was refused at 20[0-9-]+T[0-9:.]+Z \(HTTP 403: AIS says: Authorization Failure" \
	"and says why, with AIS's answer"
jde-fetch --show-refusal >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 0/0 "--show-refusal: 0, nothing on stdout"
like "$(cat "$T/err")" "AIS refused the password in the vault at .*: no login is tried until it is set again" \
	"--show-refusal: why no login is tried"
jde-fetch --ping >/dev/null 2>&1
is "$?/$(logins)" 77/2 "ping tries once all the same (an operator's one try)"
cp "$ref" "$T/ref.kept"
printf 'wrong\n' | mlc-vault set ais.password
test ! -e "$ref"
ok "setting the secret again, even the same, lifts the refusal"
jde-fetch -t F0411 >/dev/null 2>&1
is "$?/$(logins)" 77/3 "and the next run logs in again"
printf '%s\n' "$PW" | mlc-vault set ais.password
cp "$T/ref.kept" "$ref"
jde-fetch -t F0411 >/dev/null 2>"$T/err"
is "$?/$(logins)/$([ -e "$ref" ] && echo kept)" 0/4/ \
	"a refusal of another password than the vault's: the login goes ahead, the refusal is dropped"
jde-fetch --show-refusal 2>"$T/err"
is "$?/$(cat "$T/err")" "0/" "--show-refusal: nothing when logins are allowed"

# Only a refusal of the credentials is 77.  Where the login went, or what
# answered it, is configuration (78), said as such, with the likely cause;
# AIS's own words (a ServiceErrorResponse) are shown whatever the status.
printf '%s\n' "$PW" | mlc-vault set ais.password
U=http://127.0.0.1:$MLC_AIS_SIM_PORT
conf() { printf '[ais]\nurl = %s\nuser = JDE\nenvironment = JDV920\n' "$1" >"$ML_CONNECTOR_CONF"; }
fault() {
	curl -sf -o /dev/null -X POST "$U/_sim/reset"
	curl -sf -o /dev/null -H 'Content-Type: application/json' -d "{\"spec\":\"$1\"}" \
		"$U/_sim/fault" || echo "# fault $1 refused"
}
conf "$U/jderest/"
jde-fetch --ping >"$T/out" 2>"$T/err"
is "$?" 78 "[ais] url ending in /jderest: 78, not the auth refusal's 77"
like "$(cat "$T/err")" "no AIS v2 REST service at $U/jderest/jderest/v2/tokenrequest .*HTTP 404" \
	"/jderest: no AIS v2 REST service at the URL"
like "$(cat "$T/err")" "the \[ais\] url should be the server root, without /jderest" \
	"/jderest: and the likely cause"
unlike "$(cat "$T/err")" "refused" "/jderest: no word of a refusal"
conf "$U"
L=/jderest/v2/tokenrequest
login_fails() { # login_fails FAULT STATUS REGEX DESC
	fault "$1,path=$L"
	jde-fetch --ping >"$T/out" 2>"$T/err"
	is "$?" "$2" "$4: $2"
	like "$(cat "$T/err")" "$3" "$4: says so"
}
login_fails malformed:status=404 78 "no AIS v2 REST service at $U$L \(HTTP 404\)" \
	"an HTML 404 page at login"
login_fails malformed:status=200 78 "no AIS v2 REST service at $U$L: the answer \(HTTP 200\) is not a JSON object" \
	"an HTML page with 200 at login"
login_fails status:code=405 78 "HTTP 405: .*Allowed Hosts" "405 at login"
login_fails status:code=400,desc=Invalid_environment 78 \
	"rejected the login request \(HTTP 400: AIS says: Invalid_environment\), not the password" \
	"400 at login"
login_fails status:code=302 78 "answered with a redirect \(HTTP 302" "a redirect at login"
login_fails status:code=446,desc=SSO_not_enabled 78 "AIS says: SSO_not_enabled.*single sign-on" \
	"446 at login"
login_fails status:code=401,desc=User_locked,exception=com.oracle.e1.jdemf.JDERestServiceException 77 \
	"refused the login of user JDE: HTTP 401: AIS says: User_locked \(com.oracle.e1.jdemf.JDERestServiceException\)" \
	"401 at login: the credentials (AIS's message and exception class)"
# that refusal is remembered (a locked account is refused with any
# password): set again, the secret lets the next login through
printf '%s\n' "$PW" | mlc-vault set ais.password
login_fails status:code=200,desc=Login_disabled_for_maintenance 65 \
	"login: HTTP 200 without a token: AIS says: Login_disabled_for_maintenance" \
	"a ServiceErrorResponse with 200 at login"
fault "status:code=200,desc=Table_F0411_not_found,path=/jderest/v2/dataservice"
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
is "$?" 65 "a ServiceErrorResponse with 200 to a query: 65"
like "$(cat "$T/err")" "F0411 query: HTTP 200 without fs_DATABROWSE_F0411: AIS says: Table_F0411_not_found" \
	"and AIS's message"
fault "status:code=501,desc=Dataservice_not_licensed,path=/jderest/v2/dataservice"
jde-fetch -t F0411 >"$T/out" 2>"$T/err"
like "$(cat "$T/err")" "F0411 query: HTTP 501: AIS says: Dataservice_not_licensed" \
	"a ServiceErrorResponse with 501 to a query: AIS's message"

# Plain http: to loopback as written; to another host only with
# [ais] allow_plain_http = yes, then with a warning on every run.
conf "$U"
jde-fetch --ping >/dev/null 2>"$T/err"
is "$?/$(cat "$T/err")" "0/" "http to loopback: no warning"
conf http://192.0.2.10:7070
jde-fetch --dry-run -t F0411 >"$T/out" 2>"$T/err"
is "$?/$(wc -c <"$T/out" | tr -d ' ')" 78/0 "http to a host that is not loopback: 78, nothing sent"
like "$(cat "$T/err")" "\[ais\] url http://192.0.2.10:7070 is plain http to a host that is not loopback: the AIS password .* unencrypted.*allow_plain_http = yes" \
	"says why, and how to accept it"
printf 'allow_plain_http = maybe\n' >>"$ML_CONNECTOR_CONF"
jde-fetch --dry-run -t F0411 >/dev/null 2>"$T/err"
is "$?/$(cat "$T/err")" '78/jde-fetch: [ais] allow_plain_http "maybe": expected yes or no' \
	"allow_plain_http: yes or no"
sed -i 's/= maybe/= yes/' "$ML_CONNECTOR_CONF"
jde-fetch --dry-run -t F0411 >"$T/out" 2>"$T/err"
is "$?" 0 "allow_plain_http = yes: accepted"
like "$(cat "$T/err")" "warning: \[ais\] url http://192.0.2.10:7070 is plain http \(allow_plain_http = yes\): the AIS password and the data cross the network unencrypted" \
	"and warned of"
like "$(head -n 1 "$T/out")" '"url":"http://192.0.2.10:7070/jderest/v2/' "the request goes to that URL"
conf "https://192.0.2.10:7070"
printf 'allow_plain_http = no\n' >>"$ML_CONNECTOR_CONF"
jde-fetch --dry-run -t F0411 >/dev/null 2>"$T/err"
is "$?/$(cat "$T/err")" "0/" "https: allow_plain_http plays no part"
conf "$U"

jde-fetch --ping -r x 2>/dev/null
is "$?" 64 "--ping takes no rule"

done_testing
