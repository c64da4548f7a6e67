#!/usr/bin/env bash
# The fault matrix, first half: the AIS faults, each with a SIGKILL of a
# stage, then recovery runs (tests/fault-matrix.sh says what is counted).
MLC_FM_PART=1/2
. "$(dirname "$0")/fault-matrix.sh"
