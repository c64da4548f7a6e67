#!/usr/bin/env bash
# make install / uninstall honour DESTDIR, PREFIX, BINDIR and MANDIR.
# The simulators are not installed by `make install`: `make install-sim`
# adds them and their man pages, and `make uninstall` removes both.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

D=$T/root
M="DESTDIR=$D PREFIX=/opt/mlc MANDIR=/opt/mlc/man"
# shellcheck disable=SC2086 # M is words
make -s install $M >"$T/out" 2>&1
ok "make install into DESTDIR"
for p in $(make -s print-progs); do
	[ -x "$D/opt/mlc/bin/$(basename "$p")" ]
	ok "$(basename "$p") installed executable in BINDIR"
done
sims=$(make -s print-sims)
is "$(echo "$sims" | wc -w | tr -d ' ')" 2 "two simulators"
for p in $sims; do
	n=$(basename "$p")
	[ ! -e "$D/opt/mlc/bin/$n" ] && [ ! -e "$D/opt/mlc/man/man1/$n.1" ]
	ok "$n and its page left out by make install"
done
is "$(find "$D/opt/mlc/bin" -type f | wc -l | tr -d ' ')" "$(make -s print-progs | wc -w | tr -d ' ')" \
	"nothing else in BINDIR"
nman=$(find man -name "*.[1-8]" | wc -l | tr -d " ")
ns=$(echo "$sims" | wc -w | tr -d ' ')
is "$(find "$D/opt/mlc/man" -name '*.[1-8]' | wc -l | tr -d ' ')" "$((nman - ns))" \
	"all $((nman - ns)) man pages but the simulators' under MANDIR/manN"
[ -f "$D/opt/mlc/man/man8/ml-connector.8" ] && [ -f "$D/opt/mlc/man/man5/ml-connector.5" ]
ok "pages land in the section their name says"
is "$(find "$D/opt/mlc/share/ml-connector/rules" -name "*.rule" | wc -l | tr -d " ")" "$(find data/rules -name "*.rule" | wc -l | tr -d " ")" \
	"the example rules in DATADIR"
[ -f "$D/opt/mlc/share/ml-connector/jde/F0411.ndjson" ]
ok "the sample data in DATADIR"
# The installed orchestrator's demo, without the simulators: 69, naming the target.
PATH=$D/opt/mlc/bin:/usr/bin:/bin "$D/opt/mlc/bin/ml-connector" demo >/dev/null 2>"$T/err"
is "$?:$(cat "$T/err")" \
	"69:ml-connector: mlc-ais-sim is not built or installed (run make, or make install-sim)" \
	"ml-connector demo without the simulators: 69, and says how to get them"

# The tree was built with the default PREFIX (/usr/local): what init finds
# depends on where the install went, not on the build.  init_in DIR BIN:
# ml-connector init of BIN/ml-connector, run as an administrator would
# (PATH without the source tree), into a fresh DIR; its stderr in DIR/err.
init_in() {
	mkdir -p "$1"
	PATH=$2:/usr/bin:/bin ML_CONNECTOR_CONF=$1/ml-connector.conf ML_CONNECTOR_STATE=$1/state \
		ML_CONNECTOR_RULES=$1/rules ML_CONNECTOR_KDF_FAST=1 "$2/ml-connector" init >/dev/null 2>"$1/err"
}
nrules=$(find data/rules -name "*.rule" | wc -l | tr -d " ")
init_in "$T/i1" "$D/opt/mlc/bin"
is "$?:$(find "$T/i1/rules" -name '*.rule' | wc -l | tr -d ' ')" "0:$nrules" \
	"staged with DESTDIR: init copies the $nrules example rules from share/ml-connector beside bin/"
like "$(cat "$T/i1/err")" "copied $nrules example rules from $D/opt/mlc/share/ml-connector/rules to $T/i1/rules: [a-z]" \
	"and says how many, from where, to where, and which"
if [ "$(id -u)" = 0 ] && ! getent passwd ml-connector >/dev/null; then
	like "$(cat "$T/i1/err")" "useradd --system --home-dir $T/i1/state --shell /usr/sbin/nologin ml-connector" \
		"init by root: says how to create the service user the units run as"
fi
init_in "$T/i1" "$D/opt/mlc/bin"
like "$(cat "$T/i1/err")" "copied no example rules: $T/i1/rules is not empty \\($nrules rules\\)" \
	"init again: copied nothing, and says why"
# A DATADIR apart from PREFIX, given at install time only: the installed
# script knows it (share/ beside bin/ is empty).
# shellcheck disable=SC2086
make -s install PREFIX="$T/p2" DATADIR="$T/elsewhere/mlc" >/dev/null 2>&1
ok "make install PREFIX=P DATADIR=ELSEWHERE after a make with the default PREFIX"
grep -q "$T/elsewhere/mlc" "$T/p2/bin/ml-connector" && ! grep -q /usr/local/share "$T/p2/bin/ml-connector"
ok "the installed ml-connector names the DATADIR given to make install, not the build's"
init_in "$T/i2" "$T/p2/bin"
is "$?:$(find "$T/i2/rules" -name '*.rule' | wc -l | tr -d ' ')" "0:$nrules" "its init copies the example rules from there"
rm -rf "$T/elsewhere"
rm -rf "$T/i2"
init_in "$T/i2" "$T/p2/bin"
is "$?:$(find "$T/i2/rules" -name '*.rule' | wc -l | tr -d ' ')" 0:0 "no example rules anywhere: init still succeeds"
like "$(cat "$T/i2/err")" "copied no example rules: none found \\(looked in $T/elsewhere/mlc and $T/p2/bin/../share/ml-connector\\)" \
	"and says that it copied none, and where it looked"

# shellcheck disable=SC2086
make -s install-sim $M >"$T/out" 2>&1
ok "make install-sim into DESTDIR"
for p in $sims; do
	n=$(basename "$p")
	[ -x "$D/opt/mlc/bin/$n" ] && [ -f "$D/opt/mlc/man/man1/$n.1" ]
	ok "$n installed executable, with its page in man1"
done
is "$(find "$D/opt/mlc/man" -name '*.[1-8]' | wc -l | tr -d ' ')" "$nman" "now all $nman man pages"
"$D/opt/mlc/bin/mlc-ais-sim" --help >/dev/null 2>&1
ok "the installed mlc-ais-sim runs"
"$D/opt/mlc/bin/mlc-ais-sim" --port 0 --port-file "$T/sim.port" --user JDE \
	--password-file /dev/null >/dev/null 2>"$T/sim.err" &
simpid=$!
own "$simpid"
wait_for test -s "$T/sim.port" -o -s "$T/sim.err"
[ -s "$T/sim.port" ]
ok "the installed mlc-ais-sim finds its tables beside its bin/, not in the build's DATADIR"
kill "$simpid" 2>/dev/null

# shellcheck disable=SC2086
make -s uninstall $M >/dev/null 2>&1
ok "make uninstall"
is "$(find "$D" -type f | wc -l | tr -d ' ')" 0 "uninstall leaves no file behind, simulators included"

# shellcheck disable=SC2086
make -s install-sim $M >/dev/null 2>&1 && make -s uninstall-sim $M >/dev/null 2>&1
ok "make install-sim, then make uninstall-sim"
is "$(find "$D" -type f | wc -l | tr -d ' ')" 0 "uninstall-sim leaves no file behind"

done_testing
