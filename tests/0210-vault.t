#!/usr/bin/env bash
# The credential vault (src/vault.c) and mlc-vault: round trips, wrong keys,
# tampering, file modes, passphrases, and that a secret never leaks.
. "$(dirname "$0")/lib.sh"

S=$ML_CONNECTOR_STATE
DB=$S/state.db
KEY=$S/vault.key
CANARY="S3cr3t-$RANDOM-$RANDOM-canary"

# no_canary FILE... DESC: the canary appears in none of the files.
no_canary() {
	_desc=${*: -1}
	_files=("${@:1:$#-1}")
	! grep -a -q -F -- "$CANARY" "${_files[@]}" 2>/dev/null
	ok "$_desc"
}

mlc-vault --help >"$T/out"
is "$?" 0 "--help exits 0"
like "$(head -n 1 "$T/out")" "^usage: mlc-vault" "--help prints usage on stdout"
mlc-vault --version >"$T/out"
is "$?" 0 "--version exits 0"
like "$(cat "$T/out")" "^mlc-vault \(ml-connector\) [0-9]" "--version"
mlc-vault frobnicate 2>/dev/null
is "$?" 64 "unknown command: 64"
mlc-vault 2>/dev/null
is "$?" 64 "no command: 64"

# ---- init ----
mlc-vault init >"$T/out" 2>"$T/err"
is "$?" 0 "init"
is "$(stat -c %a "$KEY")" 600 "init: key file is 0600"
is "$(stat -c %s "$KEY")" 32 "init: key file holds 32 bytes"
test -f "$DB"
ok "init: database created"
is "$(sqlite3 "$DB" 'SELECT mode FROM vault_kdf')" keyfile "init: key file mode recorded"
cp "$KEY" "$T/key.orig"
mlc-vault init 2>"$T/err"
is "$?" 78 "second init refused (78)"
like "$(cat "$T/err")" "already exists" "second init: message"
cmp -s "$KEY" "$T/key.orig"
ok "second init: key file untouched"

# ---- round trip ----
echo 'first-value' | mlc-vault set ais.password
is "$?" 0 "set from stdin"
printf '%s' 'no-newline' | mlc-vault set twilio.auth_token
is "$?" 0 "set from stdin without a trailing newline"
mlc-vault list >"$T/out" 2>"$T/err"
is "$?" 0 "list"
is "$(cut -f 1 "$T/out" | tr '\n' ' ')" "ais.password twilio.auth_token " "list: names in order"
like "$(head -n 1 "$T/out")" "^ais\.password	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$" "list: name TAB updated_at"
mlc-vault check >"$T/out" 2>"$T/err"
is "$?" 0 "check"
is "$(cat "$T/out")" "ok 2 secrets" "check: ok 2 secrets"
n1=$(sqlite3 "$DB" "SELECT hex(nonce) FROM secret WHERE name = 'ais.password'")
echo 'first-value' | mlc-vault set ais.password
n2=$(sqlite3 "$DB" "SELECT hex(nonce) FROM secret WHERE name = 'ais.password'")
isnt "$n1" "$n2" "set again: a fresh nonce"
is "$(sqlite3 "$DB" "SELECT length(nonce) FROM secret WHERE name = 'ais.password'")" 24 "24-byte nonce"
is "$(sqlite3 "$DB" "SELECT length(box) FROM secret WHERE name = 'ais.password'")" $((11 + 16)) "box = plaintext + 16-byte tag"
mlc-vault rm twilio.auth_token
is "$?" 0 "rm"
mlc-vault rm twilio.auth_token 2>"$T/err"
is "$?" 66 "rm of a missing secret: 66"
like "$(cat "$T/err")" 'no secret named "twilio.auth_token"' "rm missing: message"
is "$(mlc-vault check)" "ok 1 secret" "check after rm"

# ---- bad input ----
mlc-vault set Bad/Name </dev/null 2>"$T/err"
is "$?" 64 "bad secret name: 64"
mlc-vault set a.b extra-arg </dev/null 2>/dev/null
is "$?" 64 "a secret on the command line is refused (64)"
printf 'one\ntwo\n' | mlc-vault set a.b 2>"$T/err"
is "$?" 65 "two lines on stdin: 65"
mlc-vault set a.b </dev/null 2>"$T/err"
is "$?" 65 "empty stdin: 65"
head -c 9000 /dev/zero | tr '\0' x | mlc-vault set a.b 2>"$T/err"
is "$?" 65 "secret too long: 65"
is "$(mlc-vault list | wc -l)" 1 "nothing stored by refused sets"

# ---- the secret-leak test ----
# A second connection in an open read transaction keeps the WAL file in
# place (the last connection to close would checkpoint and delete it), so
# that its contents can be searched too.
mkfifo "$T/holdin"
sqlite3 "$DB" <"$T/holdin" >"$T/holdout" 2>&1 &
own "$!"
exec 5>"$T/holdin"
printf "BEGIN;\nSELECT count(*) FROM secret;\nSELECT 'holding';\n" >&5
wait_for grep -q holding "$T/holdout"
mkfifo "$T/fifo"
mlc-vault set leak.test <"$T/fifo" >"$T/set.out" 2>"$T/set.err" &
pid=$!
exec 4>"$T/fifo"
set_started() { tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mlc-vault set'; }
wait_for set_started
printf '%s\n' "$CANARY" >&4
sleep 0.3
kill -0 "$pid"
ok "leak: set is running, holding the secret"
tr '\0' ' ' <"/proc/$pid/cmdline" >"$T/cmdline"
like "$(cat "$T/cmdline")" "mlc-vault set leak.test" "leak: inspected the right process"
no_canary "$T/cmdline" "leak: not in /proc/PID/cmdline"
if tr '\0' '\n' <"/proc/$pid/environ" >"$T/environ" 2>/dev/null; then
	no_canary "$T/environ" "leak: not in /proc/PID/environ"
else
	skip "leak: /proc/PID/environ unreadable (not dumpable; not root)"
fi
exec 4>&-
wait "$pid"
is "$?" 0 "leak: set exited 0"
mlc-vault list >"$T/list.out" 2>"$T/list.err"
mlc-vault check >"$T/check.out" 2>"$T/check.err"
is "$(cat "$T/check.out")" "ok 2 secrets" "leak: check opens the canary"
echo other | mlc-vault set leak.other >"$T/set2.out" 2>"$T/set2.err"
no_canary "$T"/set.out "$T"/set.err "$T"/list.out "$T"/list.err "$T"/check.out "$T"/check.err \
	"$T"/set2.out "$T"/set2.err "leak: not in any output"
test -s "$DB-wal"
ok "leak: the WAL file exists"
grep -a -q -F leak.test "$DB-wal"
ok "leak: control: the grep sees plaintext names in the WAL"
no_canary "$S"/* "leak: not in state.db, -wal, -shm or the key file"
exec 5>&-
printf '%s\n' "$CANARY" >"$T/control"
grep -a -q -F -- "$CANARY" "$T/control"
ok "leak: control: the grep finds the canary where it is"

# ---- wrong key ----
head -c 32 /dev/urandom >"$T/otherkey"
cp "$T/otherkey" "$KEY"
chmod 600 "$KEY"
mlc-vault check >"$T/out" 2>"$T/err"
is "$?" 77 "wrong key: check exits 77"
like "$(cat "$T/err")" "vault key does not open this vault" "wrong key: message"
no_canary "$T/out" "$T/err" "wrong key: no secret printed"
echo x | mlc-vault set a.b 2>/dev/null
is "$?" 77 "wrong key: set refused (77)"
mlc-vault rm leak.other 2>/dev/null
is "$?" 77 "wrong key: rm refused (77)"
cp "$T/key.orig" "$KEY"
is "$(mlc-vault check)" "ok 3 secrets" "right key again"

# ---- tampering ----
hex=$(sqlite3 "$DB" "SELECT hex(box) FROM secret WHERE name = 'leak.test'")
c=${hex:0:1}
[ "$c" = 0 ] && c=1 || c=0
sqlite3 "$DB" "UPDATE secret SET box = X'$c${hex:1}' WHERE name = 'leak.test'"
mlc-vault check >"$T/out" 2>"$T/err"
is "$?" 77 "flipped byte in a box: 77"
like "$(cat "$T/err")" 'secret "leak.test" failed authentication' "flipped byte: names the secret"
no_canary "$T/out" "$T/err" "flipped byte: no secret printed"
sqlite3 "$DB" "UPDATE secret SET box = X'$hex' WHERE name = 'leak.test'"
is "$(mlc-vault check)" "ok 3 secrets" "box restored"
sqlite3 "$DB" "INSERT INTO secret SELECT 'twilio.auth_token', nonce, box, updated_at FROM secret WHERE name = 'leak.test'"
mlc-vault check >"$T/out" 2>"$T/err"
is "$?" 77 "box copied under another name: 77"
like "$(cat "$T/err")" 'secret "twilio.auth_token" failed authentication' "copied box: names the copy"
no_canary "$T/out" "$T/err" "copied box: no secret printed"
mlc-vault rm twilio.auth_token
sqlite3 "$DB" "UPDATE vault_kdf SET check_box = zeroblob(length(check_box))"
mlc-vault list >/dev/null
is "$?" 0 "damaged check value: list needs no key"
mlc-vault check 2>"$T/err"
is "$?" 77 "damaged check value: 77"
like "$(cat "$T/err")" "vault key does not open this vault" "damaged check value: message"

# ---- key file permissions ----
rm -rf "$S"
mlc-vault init 2>/dev/null
echo 'v' | mlc-vault set a.b
chmod 644 "$KEY"
mlc-vault check >"$T/out" 2>"$T/err"
is "$?" 78 "key file 0644: refused (78)"
like "$(cat "$T/err")" "chmod 600 $KEY" "key file 0644: says chmod 600 PATH"
chmod 600 "$KEY"
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$KEY"
	mlc-vault check >/dev/null 2>"$T/err"
	is "$?" 78 "key file of another user: refused (78)"
	like "$(cat "$T/err")" "owned by uid 65534.*chown" "another user: says chown"
	chown 0 "$KEY"
else
	skip "key file of another user (needs root)"
	skip "key file of another user: message"
fi
mv "$KEY" "$T/key.saved"
ln -s "$T/key.saved" "$KEY"
mlc-vault check 2>"$T/err"
is "$?" 78 "key file is a symbolic link: 78"
like "$(cat "$T/err")" "symbolic link" "symbolic link: message"
rm "$KEY"
mlc-vault check 2>"$T/err"
is "$?" 78 "key file missing: 78"
like "$(cat "$T/err")" "key file is missing" "key file missing: message"
mv "$T/key.saved" "$KEY"
rm "$KEY"
mlc-vault init 2>"$T/err"
is "$?" 78 "init with a vault but no key file still refused"

# ---- passphrase mode ----
P=$T/pp
printf 'correct horse battery staple\n' >"$T/pass"
chmod 600 "$T/pass"
ML_CONNECTOR_KDF_FAST=1 mlc-vault -d "$P" --passphrase-file "$T/pass" init --passphrase 2>"$T/err"
is "$?" 0 "passphrase init"
test ! -e "$P/vault.key"
ok "passphrase init: no key file"
is "$(sqlite3 "$P/state.db" 'SELECT mode, length(salt), opslimit > 0, memlimit > 0 FROM vault_kdf')" "argon2id|16|1|1" "passphrase init: Argon2id parameters stored"
echo 'pp-value' | mlc-vault -d "$P" --passphrase-file "$T/pass" set x.y
is "$?" 0 "passphrase: set"
is "$(mlc-vault -d "$P" --passphrase-file="$T/pass" check)" "ok 1 secret" "passphrase: check"
printf 'wrong horse battery staple\n' >"$T/wrong"
chmod 600 "$T/wrong"
mlc-vault -d "$P" --passphrase-file "$T/wrong" check >"$T/out" 2>"$T/err"
is "$?" 77 "wrong passphrase: 77"
like "$(cat "$T/err")" "vault key does not open this vault" "wrong passphrase: message"
chmod 644 "$T/pass"
mlc-vault -d "$P" --passphrase-file "$T/pass" check >/dev/null 2>"$T/err"
is "$?" 78 "passphrase file readable by others: 78"
like "$(cat "$T/err")" "chmod 600 $T/pass" "passphrase file 0644: chmod hint"
chmod 600 "$T/pass"
mlc-vault -d "$P" --passphrase-file "$T/nonexistent" check >/dev/null 2>&1
is "$?" 66 "missing passphrase file: 66"
if command -v setsid >/dev/null 2>&1; then
	setsid -w mlc-vault -d "$P" check </dev/null >/dev/null 2>"$T/err"
	is "$?" 66 "passphrase vault without a file or terminal: 66"
	like "$(cat "$T/err")" "no terminal" "no terminal: message"
else
	skip "no setsid"
	skip "no setsid"
fi
printf 'short\n' >"$T/short"
chmod 600 "$T/short"
mlc-vault -d "$T/pp2" --passphrase-file "$T/short" init --passphrase 2>"$T/err"
is "$?" 65 "short passphrase: 65"
mlc-vault list --passphrase 2>/dev/null
is "$?" 64 "--passphrase outside init: 64"

# ---- set on a terminal (a pty from python3): no echo, asked twice ----
# (the driver must not be named pty.py: it would shadow the pty module)
if command -v python3 >/dev/null 2>&1; then
	cat >"$T/ttydrive.py" <<'PY'
import os, pty, sys, time
first, second = sys.argv[1].encode(), sys.argv[2].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
buf = b""
def expect(s):
    global buf
    end = time.time() + 10
    while s not in buf and time.time() < end:
        try:
            d = os.read(fd, 1024)
        except OSError:
            return
        if not d:
            return
        buf += d
for prompt, answer in ((b"Secret", first), (b"Again", second)):
    expect(prompt)
    time.sleep(0.1)
    os.write(fd, answer + b"\n")
try:
    while True:
        d = os.read(fd, 1024)
        if not d:
            break
        buf += d
except OSError:
    pass
_, st = os.waitpid(pid, 0)
sys.stdout.buffer.write(buf)
sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 99)
PY
	mlc-vault -d "$T/tty" init 2>/dev/null
	python3 "$T/ttydrive.py" "$CANARY" "$CANARY" mlc-vault -d "$T/tty" set tty.secret >"$T/tty.out" 2>&1
	is "$?" 0 "terminal: set asks twice and stores"
	like "$(tr -d '\r' <"$T/tty.out" | tr '\n' ' ')" "Secret tty.secret: +Again:" "terminal: two prompts"
	no_canary "$T/tty.out" "terminal: the secret is not echoed"
	is "$(mlc-vault -d "$T/tty" check)" "ok 1 secret" "terminal: the secret opens"
	python3 "$T/ttydrive.py" "one-$CANARY" "two-$CANARY" mlc-vault -d "$T/tty" set tty.other >"$T/tty.out" 2>&1
	is "$?" 65 "terminal: two different entries: 65"
	like "$(cat "$T/tty.out")" "differ; nothing stored" "terminal: differ message"
	is "$(mlc-vault -d "$T/tty" list | wc -l)" 1 "terminal: nothing stored after a mismatch"
else
	for _i in 1 2 3 4 5 6 7; do skip "no python3 for a pty"; done
fi

# ---- the first EXAMPLES block of the man page runs as written ----
mkdir -p "$T/ex"
man-examples -o "$TOP/man/mlc-vault.1" 1 >"$T/ex.want"
(
	cd "$T/ex" || exit 1
	printf 'example-token\n' >token.txt
	export ML_CONNECTOR_STATE=$T/ex/state ML_CONNECTOR_NOW=2024-11-26T10:00:00Z
	man-examples -c "$TOP/man/mlc-vault.1" 1 | while IFS= read -r cmd; do
		bash -c "$cmd" 2>/dev/null </dev/null
	done
) >"$T/ex.got"
[ -s "$T/ex.want" ]
ok "man page example: found"
diff_ok "$T/ex.got" "$T/ex.want" "man page example: output as documented"

# ---- under valgrind ----
VG=$T/vg
vg mlc-vault -d "$VG" init 2>/dev/null
is "$?" 0 "valgrind: init"
echo "$CANARY" | vg mlc-vault -d "$VG" set vg.secret
is "$?" 0 "valgrind: set"
vg mlc-vault -d "$VG" list >/dev/null
is "$?" 0 "valgrind: list"
vg mlc-vault -d "$VG" check >"$T/out"
is "$?" 0 "valgrind: check"
is "$(cat "$T/out")" "ok 1 secret" "valgrind: check output"
vg mlc-vault -d "$VG" rm vg.secret
is "$?" 0 "valgrind: rm"
cp "$T/otherkey" "$VG/vault.key"
vg mlc-vault -d "$VG" check 2>/dev/null
is "$?" 77 "valgrind: wrong key path (77, no valgrind error)"
ML_CONNECTOR_KDF_FAST=1 vg mlc-vault -d "$T/vgp" --passphrase-file "$T/pass" init --passphrase 2>/dev/null
is "$?" 0 "valgrind: passphrase init"
echo v | vg mlc-vault -d "$T/vgp" --passphrase-file "$T/pass" set a.b
is "$?" 0 "valgrind: passphrase set"
vg mlc-vault -d "$T/vgp" --passphrase-file "$T/pass" check >/dev/null
is "$?" 0 "valgrind: passphrase check"

done_testing
