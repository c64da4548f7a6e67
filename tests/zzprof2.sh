#!/usr/bin/env bash
. "$(dirname "$0")/lib.sh"
export ML_CONNECTOR_KDF_FAST=1 ML_CONNECTOR_NOW=2026-11-26T14:00:00Z
. "$TOP/tests/e2e-lib.sh"
start_env p 50 20 "slow:ms=50,count=0"
W=$T/wrap; mkdir -p $W; cp $BIN/ml-connector $W/
export PLOG=$T/plog
for t in jde-fetch jde-join alert-match alert-render twilio-send alert-log mlc-conf mlc-rule mlc-vault twilio-status; do
cat > $W/$t <<EOW
#!/bin/sh
exec /usr/bin/time -a -o "\$PLOG" -f "%U %S %e $t \${1:--}" $BIN/$t "\$@"
EOW
chmod +x $W/$t
done
PATH=$W:$PATH $W/ml-connector run high-value-po ap-aging >/dev/null 2>$T/r1.err
echo "== run 1"; awk '$1 ~ /^[0-9.]+$/ {c[$4" "$5]+=$1+$2; w[$4" "$5]+=$3; n[$4" "$5]++} END {for (k in c) printf "%6.2f cpu %6.2f wall %3d %s\n", c[k], w[k], n[k], k}' $PLOG | sort -rn | head -25
awk '$1 ~ /^[0-9.]+$/ {s+=$1+$2} END {print "total", s}' $PLOG
: > $PLOG
PATH=$W:$PATH $W/ml-connector run high-value-po ap-aging >/dev/null 2>$T/r2.err
echo "== run 2"; awk '$1 ~ /^[0-9.]+$/ {c[$4" "$5]+=$1+$2; w[$4" "$5]+=$3; n[$4" "$5]++} END {for (k in c) printf "%6.2f cpu %6.2f wall %3d %s\n", c[k], w[k], n[k], k}' $PLOG | sort -rn | head -25
awk '$1 ~ /^[0-9.]+$/ {s+=$1+$2} END {print "total", s}' $PLOG
