# tests/lock-lib.sh — an outside process holding a lock on state.db, as a
# backup job or an operator's sqlite3 shell does.  Source it after lib.sh:
#   . "$(dirname "$0")/lock-lib.sh"
#
# lock_take DB [SQL]: start sqlite3(1) on DB reading a fifo, make it run
#   $LOCK_PRE (e.g. PRAGMA locking_mode = EXCLUSIVE;), then BEGIN EXCLUSIVE,
#   then SQL if given (e.g. an INSERT, so that it writes too), and return
#   once the lock is held (or fail after a generous deadline).  The test
#   decides exactly when the lock ends: no sleep.
# lock_release: COMMIT, close the fifo, wait for sqlite3 to exit.
# A command started in the background while the lock is held must not
# keep the fifo open (CMD {LOCK_FD}>&- &): sqlite3 would never see EOF.
# (Waits go through lib.sh's wait_for.)
# shellcheck shell=bash
# shellcheck disable=SC2154 # _pids is lib.sh's

lock_take() {
	local db=$1 sql=${2:-}
	LOCK_DIR=$(mktemp -d "$T/lock.XXXXXX") || return 1
	mkfifo "$LOCK_DIR/fifo"
	sqlite3 "$db" <"$LOCK_DIR/fifo" >"$LOCK_DIR/out" 2>&1 &
	LOCK_PID=$!
	own "$LOCK_PID"
	exec {LOCK_FD}>"$LOCK_DIR/fifo"
	# .timeout: the holder itself waits for our own writers to finish
	printf '.timeout 600000\n%s\nBEGIN EXCLUSIVE;\n%s\n.shell touch %s\n' "${LOCK_PRE:-}" "$sql" \
		"$LOCK_DIR/held" >&"$LOCK_FD"
	wait_for test -e "$LOCK_DIR/held"
}

lock_release() {
	printf 'COMMIT;\n' >&"$LOCK_FD"
	exec {LOCK_FD}>&-
	wait "$LOCK_PID"
}
