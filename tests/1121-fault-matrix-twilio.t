#!/usr/bin/env bash
# The fault matrix, second half: the Twilio and SendGrid faults, a STOP
# during the run (and its webhook delivered three times), the poisoned
# trail, the outside lock, an ACK killed before its record and an escalation
# due during quiet hours, each with a SIGKILL of a stage (or, for the
# STOP and the lock, a moment), then recovery runs (tests/fault-matrix.sh).
MLC_FM_PART=2/2
. "$(dirname "$0")/fault-matrix.sh"
