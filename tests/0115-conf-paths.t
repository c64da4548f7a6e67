#!/usr/bin/env bash
# Where the configuration, the rules and the state live (conf.c): one order
# for every program, for mlc-conf(1) and for the orchestrator, which reads
# settings through mlc-conf.  One configuration must never give two state
# databases or two vaults.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/fixtures/send-env.sh"

# HOME is a scratch directory, and the default state directory is named
# through XDG_STATE_HOME as ~/.local/state, so that no program writes
# outside $T whether or not the suite runs as root.
unset ML_CONNECTOR_STATE ML_CONNECTOR_RULES XDG_CONFIG_HOME
export HOME=$T/home
export XDG_STATE_HOME=$HOME/.local/state
mkdir -p "$HOME" "$T/rules"
DEF=$HOME/.local/state
X=$T/x
cp "$TOP/data/rules/ap-aging.rule" "$T/rules/"
C=$T/conf/ml-connector.conf
mkdir -p "$T/conf"
export ML_CONNECTOR_CONF=$C
cat >"$C" <<EOF
[general]
state_dir = $X
rules_dir = $T/rules
default_country = 1
timezone = America/Chicago

[ais]
url = http://127.0.0.1:9
user = JDE
environment = JDV920
role = *ALL
device = test

[twilio]
account_sid = $AC
from = +15005550006
base_url = http://127.0.0.1:9
status_callback = https://alerts.example.com/ml/status
EOF
untouched() { [ ! -e "$DEF" ]; }

# ---- state_dir in the configuration, ML_CONNECTOR_STATE unset -----------
# Each program, run as an operator runs it by hand, uses $X.
mlc-vault init >/dev/null 2>"$T/err"
is "$?" 0 "mlc-vault init"
[ -f "$X/vault.key" ] && [ -f "$X/state.db" ]
ok "mlc-vault: the vault is made in the configured state_dir"
untouched
ok "mlc-vault: nothing in ~/.local/state"
printf '%s\n' "$TOKEN" | mlc-vault set twilio.auth_token
is "$(mlc-vault list | cut -f1)" twilio.auth_token "mlc-vault: the secret is in the configured vault"

printf '%s\n' '{"table":"F0411","key":"k1","row":{},"rule":"ap-aging"}' | alert-log >/dev/null
is "$?" 0 "alert-log: the tee"
is "$(sqlite3 "$X/state.db" "SELECT count(*) FROM audit WHERE record_key = 'k1'")" 1 \
	"alert-log: the line is in the configured state.db"
untouched
ok "alert-log: nothing in ~/.local/state"

sqlite3 "$X/state.db" "INSERT INTO watermark VALUES ('ap-aging', '{\"at\":\"here\"}', 'now')"
is "$(jde-fetch --show-watermark ap-aging 2>&1)" '{"at":"here"}' \
	"jde-fetch --show-watermark: the watermark of the configured state.db"
untouched
ok "jde-fetch: nothing in ~/.local/state"

alert-match -r ap-aging </dev/null >/dev/null 2>"$T/err"
is "$?" 0 "alert-match"
untouched
ok "alert-match: nothing in ~/.local/state"

alert-render -r ap-aging </dev/null >/dev/null 2>"$T/err"
is "$?" 0 "alert-render"
untouched
ok "alert-render: nothing in ~/.local/state"

mlc-rule due ap-aging >/dev/null 2>&1
is "$(sqlite3 "$X/state.db" "SELECT count(*) FROM schedule WHERE rule = 'ap-aging'")" 1 \
	"mlc-rule due: the baseline is in the configured state.db"
untouched
ok "mlc-rule: nothing in ~/.local/state"

# twilio-send finds the token in the configured vault, and only then fails
# to reach the (closed) Twilio port.
twilio-send --ping >/dev/null 2>"$T/err"
is "$?" 69 "twilio-send --ping: past the vault, Twilio unreachable (69)"
unlike "$(cat "$T/err")" "vault" "twilio-send: the secret was found"
untouched
ok "twilio-send: nothing in ~/.local/state"

# twilio-status opens the vault before it checks the signature: a wrong
# signature answered 403 means the token was found.
REQUEST_METHOD=POST CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=5 \
	HTTP_X_TWILIO_SIGNATURE=bogus SCRIPT_NAME=/ml/status HTTP_HOST=alerts.example.com \
	GATEWAY_INTERFACE=CGI/1.1 twilio-status <<<"a=b&c" >"$T/out" 2>"$T/err"
is "$(head -n 1 "$T/out" | tr -d '\r')" "Status: 403 Forbidden" \
	"twilio-status: the token of the configured vault checked the signature"
untouched
ok "twilio-status: nothing in ~/.local/state"
is "$(mlc-conf state-dir)" "$X" "mlc-conf state-dir: the configured state_dir"

# ---- the order: option, environment, configuration, default -------------
# run PROG [ARGS...]: stdin empty, output dropped
run() { "$@" </dev/null >/dev/null 2>&1; }
for p in alert-log "alert-match -r ap-aging" "alert-render -r ap-aging" "mlc-vault list" \
	"twilio-send --ping" "jde-fetch --show-watermark ap-aging" "mlc-rule due ap-aging"; do
	prog=${p%% *} args=
	[ "$prog" = "$p" ] || args=${p#* }
	rm -rf "$T/e" "$T/o"
	# shellcheck disable=SC2086 # $args: plain words
	ML_CONNECTOR_STATE=$T/e run "$prog" $args
	[ -f "$T/e/state.db" ]
	ok "$prog: ML_CONNECTOR_STATE comes before the configuration's state_dir"
	case $prog in jde-fetch | mlc-rule) continue ;; esac # no -d
	# shellcheck disable=SC2086
	ML_CONNECTOR_STATE=$T/e run "$prog" -d "$T/o" $args
	[ -f "$T/o/state.db" ]
	ok "$prog: -d comes before ML_CONNECTOR_STATE"
done
is "$(ML_CONNECTOR_STATE=$T/e mlc-conf state-dir)" "$T/e" "mlc-conf: ML_CONNECTOR_STATE before state_dir"
is "$(ML_CONNECTOR_STATE='' mlc-conf state-dir)" "$X" "an empty ML_CONNECTOR_STATE counts as unset"
is "$(ML_CONNECTOR_RULES=$T/r2 mlc-conf rules-dir)" "$T/r2" "ML_CONNECTOR_RULES before rules_dir"
is "$(mlc-conf rules-dir)" "$T/rules" "rules_dir"
is "$(mlc-conf -c "$T/none.conf" state-dir)" "$DEF/ml-connector" "no configuration file: the default"
is "$(mlc-conf -c "$T/none.conf" rules-dir)" "$T/rules" "rules/ beside the configuration file"
is "$(XDG_STATE_HOME=relative mlc-conf -c "$T/none.conf" state-dir)" \
	"$(if [ "$(id -u)" = 0 ]; then echo /var/lib/ml-connector; else echo "$HOME/.local/state/ml-connector"; fi)" \
	"a relative XDG_STATE_HOME is ignored"
if [ "$(id -u)" = 0 ]; then
	is "$(env -u XDG_STATE_HOME mlc-conf -c "$T/none.conf" state-dir)" /var/lib/ml-connector \
		"root, no XDG_STATE_HOME: /var/lib/ml-connector (a system install)"
	# the HOME default, as another user
	if command -v setpriv >/dev/null &&
		setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/mlc-conf" --version >/dev/null 2>&1; then
		is "$(setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_STATE_HOME \
			HOME=/nonexistent "$BIN/mlc-conf" -c /nonexistent/c state-dir)" \
			/nonexistent/.local/state/ml-connector "not root: ~/.local/state/ml-connector"
	else
		skip "no setpriv, or the build is not readable by uid 65534"
	fi
else
	is "$(env -u XDG_STATE_HOME mlc-conf -c "$T/none.conf" state-dir)" "$HOME/.local/state/ml-connector" \
		"not root: ~/.local/state/ml-connector"
	skip "root's default (not root)"
fi
untouched
ok "the order checks wrote nothing in ~/.local/state"

# The configuration file's own order.
mkdir -p "$T/xdgc/ml-connector" "$HOME/.config/ml-connector"
is "$(env -u ML_CONNECTOR_CONF mlc-conf path)" /etc/ml-connector/ml-connector.conf "no file anywhere: /etc"
: >"$HOME/.config/ml-connector/ml-connector.conf"
is "$(env -u ML_CONNECTOR_CONF mlc-conf path)" "$HOME/.config/ml-connector/ml-connector.conf" \
	"HOME/.config/ml-connector/ml-connector.conf"
is "$(env -u ML_CONNECTOR_CONF XDG_CONFIG_HOME="$T/xdgc" mlc-conf path)" /etc/ml-connector/ml-connector.conf \
	"XDG_CONFIG_HOME set: only there (no fall back to ~/.config), then /etc"
: >"$T/xdgc/ml-connector/ml-connector.conf"
is "$(env -u ML_CONNECTOR_CONF XDG_CONFIG_HOME="$T/xdgc" mlc-conf path)" "$T/xdgc/ml-connector/ml-connector.conf" \
	"XDG_CONFIG_HOME/ml-connector/ml-connector.conf"
is "$(mlc-conf path)" "$C" "ML_CONNECTOR_CONF before the defaults"
is "$(mlc-conf -c "$T/other.conf" path)" "$T/other.conf" "-c before ML_CONNECTOR_CONF"
rm -f "$HOME/.config/ml-connector/ml-connector.conf"

# -c is the file every part of a program reads: the rules directory too.
mkdir -p "$T/c2/rules"
sed 's/^name *= *ap-aging$/name = c2only/' "$T/rules/ap-aging.rule" >"$T/c2/rules/c2only.rule"
printf '[general]\nstate_dir = %s\n' "$T/c2/state" >"$T/c2/c.conf"
alert-match -c "$T/c2/c.conf" -r c2only </dev/null >/dev/null 2>&1
is "$?" 0 "alert-match -c: the rule is found beside that file, not in ML_CONNECTOR_CONF's rules_dir"
alert-render -c "$T/c2/c.conf" -r c2only </dev/null >/dev/null 2>&1
is "$?" 0 "alert-render -c: the same"
[ -f "$T/c2/state/state.db" ]
ok "-c: that file's state_dir"

# ---- a broken configuration stops the program, rather than a guess -------
printf '[general]\nstate_dir = %s\nnot a key line\n' "$X" >"$T/bad.conf"
for p in "alert-log" "mlc-vault list" "jde-fetch --show-watermark ap-aging" "mlc-conf state-dir"; do
	# shellcheck disable=SC2086
	ML_CONNECTOR_CONF=$T/bad.conf $p </dev/null >/dev/null 2>"$T/err"
	is "$?" 78 "${p%% *}: an invalid configuration is 78"
	like "$(cat "$T/err")" "bad.conf:3: " "${p%% *}: the message names the line"
done
ML_CONNECTOR_CONF=$T/bad.conf ML_CONNECTOR_STATE=$T/e alert-log </dev/null
is "$?" 0 "alert-log with ML_CONNECTOR_STATE does not need the configuration"
ML_CONNECTOR_CONF=$T/bad.conf mlc-rule cron ap-aging >/dev/null 2>"$T/err"
is "$?" 78 "mlc-rule cron: an invalid configuration is 78, not the zone UTC"
untouched
ok "nothing in ~/.local/state"

# ---- mlc-conf get: the C parser's values, continuation lines joined -------
cat >"$T/multi.conf" <<'EOF'
[general]
timezone = America/Chicago
state_dir =
	/srv/ml-connector/state
[twilio]
from = +15005550006
from = +15005550007
# a comment
[x]
k = one
    two   
	three
EOF
is "$(mlc-conf -c "$T/multi.conf" get x k)" "$(printf 'one\ntwo\nthree')" "get: continuation lines joined with newlines"
is "$(mlc-conf -c "$T/multi.conf" get general state_dir)" /srv/ml-connector/state \
	"get: a value that starts on the next line"
is "$(mlc-conf -c "$T/multi.conf" get twilio from)" +15005550007 "get: the last of a repeated key"
is "$(mlc-conf -c "$T/multi.conf" get x k | od -An -c | tr -s ' ')" \
	"$(conf-dump "$T/multi.conf" | jq -r 'select(.key == "k") | .value' | od -An -c | tr -s ' ')" \
	"get: byte for byte the value conf.c parses"
mlc-conf -c "$T/multi.conf" get x nope >/dev/null
is "$?" 1 "get: unset is 1"
mlc-conf -c "$T/none.conf" get x k >/dev/null
is "$?" 1 "get: no configuration file is 1"
mlc-conf -c "$T/bad.conf" get general state_dir >/dev/null 2>&1
is "$?" 78 "get: an invalid configuration is 78"
mlc-conf get >/dev/null 2>&1
is "$?" 64 "get without a key: usage"
mlc-conf frob >/dev/null 2>&1
is "$?" 64 "unknown command: usage"
[ ! -e /srv/ml-connector ] && untouched
ok "mlc-conf creates nothing"

# The orchestrator reads the same value: a state_dir on a continuation line.
rm -rf "$T/o2" "$DEF"
printf '[general]\nstate_dir =\n\t%s\n' "$T/o2" >"$T/o2.conf"
ml-connector -c "$T/o2.conf" status >/dev/null 2>&1
[ -f "$T/o2/state.db" ]
ok "ml-connector: the state_dir of a continuation line, as the programs read it"
untouched
ok "ml-connector: nothing in ~/.local/state"
ml-connector -c "$T/bad.conf" status >/dev/null 2>"$T/err"
is "$?" 78 "ml-connector: an invalid configuration is 78"
like "$(cat "$T/err")" "bad.conf:3: " "ml-connector: mlc-conf's message"
grep -n 'awk' "$TOP/scripts/ml-connector.sh" >"$T/awk"
is "$(cat "$T/awk")" "" "the orchestrator parses no configuration itself"

# ---- the man page's EXAMPLES, run as written -----------------------------
mkdir -p "$T/ex"
man-examples "$TOP/man/mlc-conf.1" 1 >"$T/ex/ml-connector.conf"
man-examples -c "$TOP/man/mlc-conf.1" 2 >"$T/ex.sh"
man-examples -o "$TOP/man/mlc-conf.1" 2 >"$T/ex.want"
[ -s "$T/ex.sh" ] && [ -s "$T/ex/ml-connector.conf" ]
ok "mlc-conf(1) EXAMPLES: found"
(cd "$T/ex" && unset ML_CONNECTOR_CONF && bash "$T/ex.sh") >"$T/ex.got" 2>&1
diff_ok "$T/ex.got" "$T/ex.want" "mlc-conf(1) EXAMPLES: output as documented"

# ---- under valgrind -----------------------------------------------------
vg mlc-conf -c "$T/multi.conf" get x k >/dev/null
is "$?" 0 "valgrind: get"
vg mlc-conf -c "$T/bad.conf" state-dir >/dev/null 2>&1
is "$?" 78 "valgrind: an invalid configuration"
vg mlc-conf rules-dir >/dev/null
is "$?" 0 "valgrind: rules-dir"

done_testing
