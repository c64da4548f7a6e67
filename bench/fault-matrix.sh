#!/bin/sh
# bench/fault-matrix.sh — the whole fault matrix: every AIS and Twilio fault
# of tests/fault-matrix.sh (tests/1120 and 1121) combined with a SIGKILL of every stage (and
# with none), for both seed rules, then recovery runs.  Prints the test's
# TAP output, whose comment lines are the table of outcomes (lost,
# duplicated, unknown and reconciled, failed for good) per combination.
# Usage: sh bench/fault-matrix.sh [RULE...]   (default: high-value-po ap-aging)
# About 10 minutes on 2 cores.
cd "$(dirname "$0")/.." || exit 1
make -s all || exit 1
rules=${*:-high-value-po ap-aging}
MLC_FAULT_MATRIX=full MLC_FM_RULES=$rules exec bash tests/fault-matrix.sh
