#!/usr/bin/env bash
# The Prometheus textfile, against both simulators: after each run
# ml-connector writes [metrics] textfile through alert-log metrics; it
# passes the exposition grammar (tests/metrics-lint.pl, and promtool
# check metrics where promtool is installed); it names rules, channels,
# outcomes and systems, never a number or an address; counters never go
# down across runs nor with retention; a failed AIS login sets
# mlc_up{system="ais"} 0 and the rule's last_run_success 0 while its last
# success stays; label values are escaped; a reader never sees half a file;
# a textfile that cannot be written is said and leaves the run's status.
. "$(dirname "$0")/lib.sh"

export ML_CONNECTOR_KDF_FAST=1
. "$(dirname "$0")/e2e-lib.sh"

start_env met || exit 1
P=$T/prom
mkdir -p "$P"
F=$P/ml-connector.prom
printf '[metrics]\ntextfile = %s\n' "$F" >>"$ML_CONNECTOR_CONF"
DB=$ML_CONNECTOR_STATE/state.db
lint() { perl "$TOP/tests/metrics-lint.pl" "$@"; }
val() { grep -F "$1 " "$F" | awk '{ print $NF }'; }

# ---- the checker itself refuses what the format forbids ----
# shellcheck disable=SC2059 # the case is a printf format: \n and \\ as it says
bad() { printf "$2" >"$T/bad.prom"; lint "$T/bad.prom" >/dev/null; isnt "$?" 0 "the checker refuses $1"; }
bad "a sample before its TYPE" 'x_total 1\n# TYPE x_total counter\n'
bad "a series twice" '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'
bad "a bad escape in a label value" '# TYPE x gauge\nx{a="\\q"} 1\n'
bad "a counter without _total" '# TYPE x counter\nx 1\n'
bad "a name's lines in two groups" '# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a="b"} 1\n'
bad "a timestamp" '# TYPE x gauge\nx 1 1700000000000\n'
bad "no newline at the end" '# TYPE x gauge\nx 1'
printf '# TYPE x_total counter\nx_total 5\n' >"$T/c1.prom"
printf '# TYPE x_total counter\nx_total 4\n' >"$T/c2.prom"
lint "$T/c2.prom" "$T/c1.prom" >/dev/null
isnt "$?" 0 "the checker refuses a counter that went down"

export ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
ml-connector run ap-aging >"$T/a.out" 2>"$T/a.err"
is "$?" 0 "a run"
test -f "$F"
ok "the textfile is written"
is "$(stat -c %a "$F")" 644 "the textfile is 0644 (node_exporter reads it), whatever the umask"
is "$(lint "$F")" ok "the textfile follows the exposition format"
# promtool: installed, or extracted by scripts/setup from Debian's prometheus
promtool=$(command -v promtool || echo "$TOP/tests/tools/promtool")
if [ -x "$promtool" ]; then
	"$promtool" check metrics <"$F" >"$T/promtool.out" 2>&1
	is "$?" 0 "promtool check metrics: clean ($(head -n 1 "$T/promtool.out"))"
else
	skip "promtool is not installed" 1
fi
unlike "$(cat "$F")" '\+1[0-9]{6}|@|whatsapp:|SM[0-9a-f]{8}' "no phone number, address or SID in the metrics"
is "$(val 'mlc_rule_last_run_success{rule="ap-aging"}')" 1 "last run of ap-aging went through"
is "$(val 'mlc_rule_last_success_timestamp_seconds{rule="ap-aging"}')" "$(date -ud 2026-11-26T14:00:00Z +%s)" \
	"its last success: 2026-11-26T14:00:00Z as Unix seconds"
like "$(val 'mlc_rule_last_run_duration_seconds{rule="ap-aging"}')" '^[0-9.e+-]+$' "a run duration"
is "$(val 'mlc_runs_total{rule="ap-aging",outcome="ok"}')" 1 "one run counted"
fetched=$(val 'mlc_records_fetched_total{rule="ap-aging"}')
isnt "${fetched:-0}" 0 "records fetched counted ($fetched)"
is "$fetched" "$(alert-log query --rule ap-aging --stage fetched -f ndjson | grep -c .)" \
	"as many as the trail's fetched rows"
alerts=$(val 'mlc_alerts_total{rule="ap-aging"}')
isnt "${alerts:-0}" 0 "alerts counted ($alerts)"
sms=$(val 'mlc_deliveries_total{rule="ap-aging",channel="sms",outcome="sent"}')
is "$sms" "$(sms_accepted | grep -c .)" "SMS sent, by channel and outcome"
isnt "$(val 'mlc_deliveries_total{rule="ap-aging",channel="email",outcome="sent"}')" "" "e-mails sent"
is "$(val 'mlc_deliveries_unknown{rule="ap-aging"}')/$(val 'mlc_deliveries_in_doubt{rule="ap-aging"}')" \
	0/0 "no delivery unknown or in doubt"
for s in ais twilio sendgrid; do
	is "$(val "mlc_up{system=\"$s\"}")" 1 "$s is up"
done
# Requests, counted by the stages that send them, against the simulators'
# own logs of what they received (their test endpoints left out)
is "$(val 'mlc_remote_requests_total{rule="ap-aging",system="ais"}')" \
	"$(jq -r 'select(.path | startswith("/_sim") | not) | .path' "$MLC_AIS_SIM_LOG" | grep -c .)" \
	"AIS requests: as many as the AIS simulator received"
is "$(val 'mlc_remote_requests_total{rule="ap-aging",system="twilio"}')" \
	"$(jq -r 'select(.kind == "request") | .path | select(startswith("/_sim") or startswith("/v3/") | not)' \
		"$MLC_TWILIO_SIM_LOG" | grep -c .)" "Twilio requests: as many as the Twilio simulator received"
is "$(val 'mlc_remote_requests_total{rule="ap-aging",system="sendgrid"}')" \
	"$(jq -r 'select(.kind == "request") | .path | select(startswith("/v3/"))' "$MLC_TWILIO_SIM_LOG" | grep -c .)" \
	"SendGrid requests: as many as SendGrid received"
cp "$F" "$T/first.prom"
ml-connector schedule --systemd "$T/units" >/dev/null 2>&1
is "$(grep -h -c -xF "ReadWritePaths=\"$P\"" "$T"/units/*ap-aging.service)" 1 \
	"schedule --systemd: the textfile's directory is writable under ProtectSystem=strict"

# ---- a second run: the counters go on from where they were ----
export ML_CONNECTOR_NOW=2026-11-27T14:00:00Z
ml-connector run ap-aging high-value-po >/dev/null 2>"$T/b.err"
is "$?" 0 "a second run of ap-aging, and high-value-po"
is "$(lint "$F" "$T/first.prom")" ok "still the format, and no counter went down"
is "$(val 'mlc_runs_total{rule="ap-aging",outcome="ok"}')" 2 "two runs of ap-aging counted"
[ "$(val 'mlc_records_fetched_total{rule="ap-aging"}')" -ge "$fetched" ]
ok "records fetched: the counter did not go down"
is "$(val 'mlc_rule_last_success_timestamp_seconds{rule="high-value-po"}')" "$(date -ud 2026-11-27T14:00:00Z +%s)" \
	"high-value-po has series of its own"
cp "$F" "$T/second.prom"

# ---- retention drops audit rows, never a counter ----
export ML_CONNECTOR_NOW=2027-03-01T14:00:00Z
alert-log retention --older-than 30 >/dev/null
alert-log metrics --textfile "$F"
is "$?" 0 "alert-log metrics --textfile after retention"
is "$(lint "$F" "$T/second.prom")" ok "retention left every counter where it was"

# ---- AIS refuses the password: ais down, the rule failed, its success kept ----
printf 'wrong-password' | mlc-vault set ais.password
ml-connector run ap-aging >/dev/null 2>"$T/c.err"
is "$?" 77 "a refused AIS login fails the run (77)"
is "$(val 'mlc_up{system="ais"}')" 0 "mlc_up{system=\"ais\"} 0"
is "$(val 'mlc_rule_last_run_success{rule="ap-aging"}')" 0 "the rule's last run failed"
is "$(val 'mlc_rule_last_success_timestamp_seconds{rule="ap-aging"}')" "$(date -ud 2026-11-27T14:00:00Z +%s)" \
	"its last success is still the second run's"
is "$(val 'mlc_runs_total{rule="ap-aging",outcome="failed"}')" 1 "the failed run counted apart"
is "$(lint "$F" "$T/second.prom")" ok "counters still never lower"
is "$(val 'mlc_auth_refused{system="ais"}')" 1 "mlc_auth_refused{system=\"ais\"} 1: AIS refused the credentials"
mlc-vault set ais.password <"$T/ais.pw"
ml-connector run ap-aging >/dev/null 2>&1
is "$(val 'mlc_auth_refused{system="ais"}')" 0 "0 again once a fetch goes through"

# ---- label values are escaped (a rule name cannot hold these; the writer
# does not rely on it) ----
sqlite3 "$DB" "INSERT INTO metric (name, kind, rule, value, updated_at) VALUES
	('mlc_alerts_total', 'counter', 'a\"b\\c' || char(10) || 'd', 3, 't')"
alert-log metrics >"$T/esc.prom"
is "$(lint "$T/esc.prom")" ok "a quote, a backslash and a newline in a label value: still the format"
if [ -x "$promtool" ]; then
	"$promtool" check metrics <"$T/esc.prom" >"$T/promtool.out" 2>&1
	is "$?" 0 "promtool reads the escapes too ($(head -n 1 "$T/promtool.out"))"
fi
is "$(grep -c -F 'mlc_alerts_total{rule="a\"b\\c\nd"} 3' "$T/esc.prom")" 1 "escaped as \\\" \\\\ \\n"
sqlite3 "$DB" "DELETE FROM metric WHERE rule LIKE 'a\"%'"

# ---- atomic replace: a reader sees the old file or the new, never a part ----
alert-log metrics >"$T/whole.prom"
alert-log metrics --textfile "$F"
(for _ in $(seq 1 60); do alert-log metrics --textfile "$F" || echo fail; done; : >"$T/writer.done") \
	>"$T/writer.out" 2>&1 &
writer=$!
bad=0 reads=0
until [ -e "$T/writer.done" ]; do
	cat "$F" >"$T/read.prom" 2>/dev/null || { bad=$((bad + 1)); continue; }
	cmp -s "$T/read.prom" "$T/whole.prom" || bad=$((bad + 1))
	reads=$((reads + 1))
done
wait "$writer"
is "$(cat "$T/writer.out")" "" "60 rewrites went through"
is "$bad" 0 "$reads reads while it was rewritten: each saw a whole file"
is "$(find "$P" -type f | grep -vc '\.prom$')" 0 "no temporary file left in the directory"

# ---- a textfile that cannot be written: said, the run unaffected ----
sed -i "s|^textfile = .*|textfile = $T/no/such/dir/x.prom|" "$ML_CONNECTOR_CONF"
export ML_CONNECTOR_NOW=2027-03-02T14:00:00Z
ml-connector run high-value-po >/dev/null 2>"$T/d.err"
is "$?" 0 "a run whose textfile cannot be written: still 0"
like "$(cat "$T/d.err")" "metrics were not written to $T/no/such/dir/x.prom" "and it says so"

stop_env
done_testing
