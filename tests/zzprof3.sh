#!/usr/bin/env bash
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$TOP/tests/e2e-lib.sh"
start_env p 0 50
ml-connector run high-value-po ap-aging >/dev/null 2>&1
for i in 1 2 3; do /usr/bin/time -a -o $T/tt -f 'noop %U %S %e' ml-connector run high-value-po ap-aging >/dev/null 2>&1; done
cat $T/tt
strace -f -qq -c -e trace=clone,clone3,fork,vfork,execve -o $T/sc ml-connector run high-value-po ap-aging >/dev/null 2>&1; cat $T/sc
/usr/bin/time -f 'alert-log-status %U %S %e' alert-log status >/dev/null
/usr/bin/time -f 'mlc-conf %U %S %e' mlc-conf get twilio inbound
/usr/bin/time -f 'vault-init %U %S %e' mlc-vault -d $T/vv init
