#!/usr/bin/env bash
# The dead man's switch, against both simulators and a loopback listener
# (tests/bin/http-sink) standing in for healthchecks.io: after a scheduled
# run that went through, twilio-send --heartbeat POSTs the run's summary to
# the URL stored in the vault as heartbeat.url; after a failed one, to
# URL/fail; a ping nobody answers (3 tries) or that is refused is said and
# never changes the run's status; the URL, which is the check's key,
# appears in no message, output, state file or argument; without the
# secret, nothing is pinged.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

start_env hb || exit 1
R=$ML_CONNECTOR_RULES
RULE=high-value-po
sed -i -e 's/^schedule .*/schedule = daily 08:00/' -e 's|^timezone .*|timezone = America/Chicago|' \
	"$R/$RULE.rule"
rm "$R/ap-aging.rule"

sink() {
	http-sink --port 0 --port-file "$T/sink.port" --request-log "$T/sink.log" "$@" 2>>"$T/sink.err" &
	SINK=$!
	own "$SINK"
	wait_for test -s "$T/sink.port"
}
rm -f "$T/sink.port"
sink
UUID=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
URL="http://127.0.0.1:$(cat "$T/sink.port")/ping/$UUID"
requests() { if [ -s "$T/sink.log" ]; then grep -c . "$T/sink.log"; else echo 0; fi; }

# ---- no secret: no ping ----
ML_CONNECTOR_NOW=2026-11-26T14:00:00Z ml-connector run --scheduled "$RULE" >/dev/null 2>"$T/a.err"
ML_CONNECTOR_NOW=2026-11-27T14:01:00Z ml-connector run --scheduled "$RULE" >/dev/null 2>"$T/a.err"
is "$?" 0 "a scheduled run without heartbeat.url"
is "$(requests)" 0 "pings nothing"

printf '%s' "$URL" | mlc-vault set heartbeat.url
# ---- a scheduled run that goes through: one ok ping with its summary ----
ML_CONNECTOR_NOW=2026-11-28T14:01:00Z ml-connector run --scheduled "$RULE" >"$T/b.out" 2>"$T/b.err"
is "$?" 0 "a scheduled run with the heartbeat set"
wait_for lines_ge "$T/sink.log" 1
is "$(jq -r '"\(.method) \(.path) \(.headers["Content-Type"])"' "$T/sink.log")" \
	"POST /ping/$UUID text/plain; charset=utf-8" "one POST to the stored URL, text/plain"
is "$(jq -r .body "$T/sink.log")" "ml-connector rule $RULE: scheduled run, status 0" \
	"its body names the rule and the status"
ML_CONNECTOR_NOW=2026-11-28T14:05:00Z ml-connector run --scheduled "$RULE" >/dev/null 2>&1
is "$(requests)" 1 "a check with nothing due pings nothing"
ml-connector run "$RULE" >/dev/null 2>&1
is "$(requests)" 1 "nor does a run by hand"

# ---- a scheduled run that fails: URL/fail ----
printf 'wrong-password' | mlc-vault set ais.password
ML_CONNECTOR_NOW=2026-11-29T14:01:00Z ml-connector run --scheduled "$RULE" >/dev/null 2>"$T/c.err"
is "$?" 77 "a failing scheduled run: 77, as without a heartbeat"
wait_for lines_ge "$T/sink.log" 2
is "$(tail -n 1 "$T/sink.log" | jq -r '"\(.path) \(.body)"')" \
	"/ping/$UUID/fail ml-connector rule $RULE: scheduled run, status 77" "the fail ping, with the status"
mlc-vault set ais.password <"$T/ais.pw"

# ---- nobody answers: said, the run's status kept ----
_signal TERM "$SINK:$(_started "$SINK")"
wait "$SINK" 2>/dev/null
ML_CONNECTOR_NOW=2026-11-30T14:01:00Z ml-connector run --scheduled "$RULE" >/dev/null 2>"$T/d.err"
is "$?" 0 "a run whose ping finds nobody: still 0"
like "$(cat "$T/d.err")" "heartbeat: ok ping: .* after 3 tries" "the ping's failure is said"
like "$(cat "$T/d.err")" "heartbeat \(ok\) was not delivered" "by the orchestrator too"

# ---- a refused ping (404: no such check) ----
rm -f "$T/sink.port" "$T/sink.log"
sink --status 404
printf '%s' "http://127.0.0.1:$(cat "$T/sink.port")/ping/$UUID" | mlc-vault set heartbeat.url
printf 'x' | twilio-send --heartbeat ok 2>"$T/e.err"
is "$?" 78 "twilio-send --heartbeat answered 404: 78"
like "$(cat "$T/e.err")" "answered HTTP 404" "said with the status"
is "$(requests)" 1 "a 404 is not tried again"
printf 'x' | twilio-send --heartbeat start 2>/dev/null
is "$(tail -n 1 "$T/sink.log" | jq -r .path)" "/ping/$UUID/start" "--heartbeat start: URL/start"

# ---- a transient refusal is retried, with retry.c's classes and waits ----
# (408 Request Timeout is one: retry.c retries it, as 429 and 5xx)
_signal TERM "$SINK:$(_started "$SINK")"
wait "$SINK" 2>/dev/null
rm -f "$T/sink.port" "$T/sink.log"
sink --status 408
printf '%s' "http://127.0.0.1:$(cat "$T/sink.port")/ping/$UUID" | mlc-vault set heartbeat.url
printf 'x' | twilio-send --heartbeat ok 2>"$T/g.err"
is "$?" 69 "a ping answered 408 each time: 69, unavailable"
like "$(cat "$T/g.err")" "answered HTTP 408 after 3 tries" "said with the status and the tries"
is "$(requests)" 3 "a 408 is tried 3 times"
printf '%s' "ftp://example.com/$UUID" | mlc-vault set heartbeat.url
twilio-send --heartbeat ok </dev/null 2>"$T/f.err"
is "$?" 78 "a URL that is not https (nor http to loopback): 78"

# ---- the URL is nowhere it should not be ----
is "$(grep -l -F "$UUID" "$T"/*.err "$T"/*.out 2>/dev/null)" "" "the URL's key is in no message or output"
sqlite3 "$ML_CONNECTOR_STATE/state.db" 'PRAGMA wal_checkpoint(PASSIVE)' >/dev/null 2>&1
is "$(grep -r -l -a -F "$UUID" "$ML_CONNECTOR_STATE" "$ML_CONNECTOR_CONF")" "" \
	"nor in the state directory (the vault holds it encrypted) or the configuration"
is "$(grep -c -F "$UUID" "$T/sink.log")" 3 "control: the listener saw it in the paths it was sent to"

stop_env
done_testing
