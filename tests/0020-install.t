#!/usr/bin/env bash
# make install / uninstall honour DESTDIR, PREFIX, BINDIR and MANDIR.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

D=$T/root
make -s install DESTDIR="$D" PREFIX=/opt/mlc MANDIR=/opt/mlc/man >"$T/out" 2>&1
ok "make install into DESTDIR"
for p in $(make -s print-progs); do
	[ -x "$D/opt/mlc/bin/$(basename "$p")" ]
	ok "$(basename "$p") installed executable in BINDIR"
done
n=$(find man -name "*.[1-8]" | wc -l | tr -d " ")
is "$(find "$D/opt/mlc/man" -name '*.[1-8]' | wc -l | tr -d ' ')" "$n" "all $n man pages under MANDIR/manN"
[ -f "$D/opt/mlc/man/man8/ml-connector.8" ] && [ -f "$D/opt/mlc/man/man5/ml-connector.5" ]
ok "pages land in the section their name says"
is "$(find "$D/opt/mlc/share/ml-connector/rules" -name "*.rule" | wc -l | tr -d " ")" "$(find data/rules -name "*.rule" | wc -l | tr -d " ")" \
	"the example rules in DATADIR"
[ -f "$D/opt/mlc/share/ml-connector/jde/F0411.ndjson" ]
ok "the sample data in DATADIR"
make -s uninstall DESTDIR="$D" PREFIX=/opt/mlc MANDIR=/opt/mlc/man >/dev/null 2>&1
ok "make uninstall"
is "$(find "$D" -type f | wc -l | tr -d ' ')" 0 "uninstall leaves no file behind"

done_testing
