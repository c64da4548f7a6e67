/*
 * vault.c — encrypted credentials in the state database (libsodium).
 *
 * Cipher: crypto_aead_xchacha20poly1305_ietf.  It is secretbox's stream
 * cipher family with a 24-byte nonce (random nonces are safe: we draw a
 * fresh one for every write) and, unlike secretbox, additional data: the
 * secret's name is authenticated with the box, so a row copied or renamed
 * in the database fails to open instead of handing out another secret.
 *
 * Key: 32 random bytes in STATE/vault.key (created O_EXCL 0600; refused
 * when it is not a regular file owned by us with no group/other bits), or
 * Argon2id (crypto_pwhash_ALG_ARGON2ID13, named explicitly) over a
 * passphrase, with salt and limits in vault_kdf.  init uses the INTERACTIVE
 * limits; ML_CONNECTOR_KDF_FAST=1 selects the minimum limits so that the test
 * suite does not spend seconds (and 64 MiB under valgrind) per command.
 * The stored limits are used on open, whatever the environment says.
 *
 * A check value (CHECK_TEXT sealed with the key) is opened first: a wrong
 * key gives "vault key does not open this vault" before any secret is
 * touched, and a tampered KDF row (salt, limits) amounts to a wrong key.
 *
 * Plaintext (secrets, passphrases, the key) lives only in sodium_malloc
 * memory: mlock'd, guarded, wiped by sodium_free.  Secrets are read with
 * read(2) straight into it, never through stdio buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>
#include <sqlite3.h>

#include "mlc.h"

#define KEYBYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAGBYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CHECK_TEXT "ml-connector vault check v1"
#define CHECK_AD "ml-connector/vault-check/v1"
#define SECRET_AD "ml-connector/secret/v1:"
#define MAXNAME 128
#define MINPASS 8

struct mlc_vault {
	struct mlc_store *s;
	unsigned char *key; /* sodium_malloc, read-only after open */
};

static int
init_sodium(char *err, size_t errlen, int *code)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		*code = MLC_EX_SOFTWARE;
		return -1;
	}
	return 0;
}

int
mlc_vault_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > MAXNAME)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static size_t
secret_ad(unsigned char ad[sizeof SECRET_AD + MAXNAME], const char *name)
{
	size_t n = strlen(name);

	if (n > MAXNAME)
		n = MAXNAME;
	memcpy(ad, SECRET_AD, sizeof SECRET_AD - 1);
	memcpy(ad + sizeof SECRET_AD - 1, name, n);
	return sizeof SECRET_AD - 1 + n;
}

/* ---- the terminal ---- */

static volatile sig_atomic_t tty_signal;

static void
on_signal(int sig)
{
	tty_signal = sig;
}

static void
tty_puts(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int
mlc_vault_ttyread(const char *prompt, char *buf, size_t cap, size_t *len, char *err,
                  size_t errlen)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa, old[sizeof sigs / sizeof sigs[0]];
	struct termios saved, quiet;
	size_t n = 0, i;
	int fd, rc = 0, toolong = 0;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "no terminal to read from (/dev/tty: %s)", strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &saved) < 0) {
		snprintf(err, errlen, "/dev/tty: %s", strerror(errno));
		close(fd);
		return -1;
	}
	/* No SA_RESTART: a signal interrupts read(2), we restore the terminal
	 * and then deliver the signal again with its old disposition. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	tty_signal = 0;
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, &old[i]);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	tty_puts(fd, prompt);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR && !tty_signal)
			continue;
		if (r < 0) {
			if (!tty_signal)
				snprintf(err, errlen, "/dev/tty: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (r == 0 || c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
		else
			toolong = 1;
	}
	sodium_memzero(&quiet, sizeof quiet);
	tcsetattr(fd, TCSAFLUSH, &saved);
	tty_puts(fd, "\n");
	close(fd);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (tty_signal) {
		sodium_memzero(buf, cap);
		raise(tty_signal);
		snprintf(err, errlen, "interrupted");
		return -1;
	}
	if (rc == 0 && toolong) {
		snprintf(err, errlen, "input too long (at most %zu bytes)", cap - 1);
		rc = -1;
	}
	if (rc < 0) {
		sodium_memzero(buf, cap);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* ---- passphrases and key files ---- */

/* Refuse files that others may read or that belong to someone else. */
static int
private_file(int fd, const char *path, const char *what, char *err, size_t errlen, int *code)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		*code = MLC_EX_IOERR;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a regular file; refused", path, what);
		*code = MLC_EX_CONFIG;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: %s is owned by uid %lu, not by uid %lu; refused "
		         "(fix: chown %lu %s)", path, what, (unsigned long)st.st_uid,
		         (unsigned long)geteuid(), (unsigned long)geteuid(), path);
		*code = MLC_EX_CONFIG;
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: %s has mode %03o, others may read it; refused "
		         "(fix: chmod 600 %s)", path, what, (unsigned)(st.st_mode & 0777), path);
		*code = MLC_EX_CONFIG;
		return -1;
	}
	return 0;
}

/* Read the first line of passfile into buf (sodium memory). */
static int
read_passfile(const char *path, char *buf, size_t cap, size_t *len, char *err, size_t errlen,
              int *code)
{
	size_t n = 0;
	char *nl;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		*code = errno == ENOENT ? MLC_EX_NOINPUT : MLC_EX_CONFIG;
		return -1;
	}
	if (private_file(fd, path, "the passphrase file", err, errlen, code) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			*code = MLC_EX_IOERR;
			close(fd);
			sodium_memzero(buf, cap);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n) || n == cap - 1)
			break;
	}
	close(fd);
	if ((nl = memchr(buf, '\n', n)))
		n = (size_t)(nl - buf);
	else if (n == cap - 1) {
		snprintf(err, errlen, "%s: passphrase too long (at most %zu bytes)", path, cap - 2);
		*code = MLC_EX_DATAERR;
		sodium_memzero(buf, cap);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	sodium_memzero(buf + n, cap - n);
	*len = n;
	return 0;
}

/* Get the passphrase (file, else terminal; twice at creation) into sodium memory. */
static char *
get_passphrase(const char *passfile, int twice, size_t *len, char *err, size_t errlen,
               int *code)
{
	char *p = sodium_malloc(MLC_VAULT_MAXPASS + 2), *q;
	size_t qlen;

	if (!p) {
		snprintf(err, errlen, "out of secure memory");
		*code = MLC_EX_SOFTWARE;
		return NULL;
	}
	if (passfile) {
		if (read_passfile(passfile, p, MLC_VAULT_MAXPASS + 2, len, err, errlen, code) < 0)
			goto fail;
	} else {
		if (mlc_vault_ttyread("Vault passphrase: ", p, MLC_VAULT_MAXPASS + 1, len, err,
		                      errlen) < 0) {
			*code = MLC_EX_NOINPUT;
			goto fail;
		}
		if (twice) {
			if (!(q = sodium_malloc(MLC_VAULT_MAXPASS + 1))) {
				snprintf(err, errlen, "out of secure memory");
				*code = MLC_EX_SOFTWARE;
				goto fail;
			}
			if (mlc_vault_ttyread("Again: ", q, MLC_VAULT_MAXPASS + 1, &qlen, err,
			                      errlen) < 0) {
				*code = MLC_EX_NOINPUT;
				sodium_free(q);
				goto fail;
			}
			if (qlen != *len || sodium_memcmp(p, q, qlen) != 0) {
				snprintf(err, errlen, "the passphrases differ");
				*code = MLC_EX_DATAERR;
				sodium_free(q);
				goto fail;
			}
			sodium_free(q);
		}
	}
	if (twice && *len < MINPASS) {
		snprintf(err, errlen, "passphrase too short (at least %d characters)", MINPASS);
		*code = MLC_EX_DATAERR;
		goto fail;
	}
	if (*len == 0) {
		snprintf(err, errlen, "empty passphrase");
		*code = MLC_EX_DATAERR;
		goto fail;
	}
	return p;
fail:
	sodium_free(p);
	return NULL;
}

static char *
keyfile_path(struct mlc_store *s)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_printf(&b, "%s/%s", mlc_store_statedir(s), MLC_VAULT_KEYFILE);
	return b.p;
}

static int
load_keyfile(struct mlc_store *s, unsigned char *key, char *err, size_t errlen, int *code)
{
	char *path = keyfile_path(s);
	struct stat st;
	size_t n = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s: the vault key file is missing; the vault cannot "
			         "be opened without it (restore it from your backup)", path);
		else if (errno == ELOOP)
			snprintf(err, errlen, "%s: the vault key file is a symbolic link; refused",
			         path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		*code = MLC_EX_CONFIG;
		goto out;
	}
	if (private_file(fd, path, "the vault key file", err, errlen, code) < 0)
		goto out;
	if (fstat(fd, &st) < 0 || st.st_size != KEYBYTES) {
		snprintf(err, errlen, "%s: not a vault key (%lld bytes, expected %d)", path,
		         (long long)st.st_size, (int)KEYBYTES);
		*code = MLC_EX_CONFIG;
		goto out;
	}
	while (n < KEYBYTES) {
		ssize_t r = read(fd, key + n, KEYBYTES - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "short read");
			*code = MLC_EX_IOERR;
			goto out;
		}
		n += (size_t)r;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int
write_keyfile(const char *path, const unsigned char *key, char *err, size_t errlen, int *code)
{
	size_t n = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s exists; refusing to overwrite a vault key "
			         "(move it aside if it belongs to no vault)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		*code = errno == EEXIST ? MLC_EX_CONFIG : MLC_EX_IOERR;
		return -1;
	}
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (n < KEYBYTES) {
		ssize_t w = write(fd, key + n, KEYBYTES - n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		n += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
	*code = MLC_EX_IOERR;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}

static int
kdf_limits_ok(long long ops, long long mem)
{
	return ops >= (long long)crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	       ops <= 64 &&
	       mem >= (long long)crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	       mem <= 4LL * crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
}

static int
derive(unsigned char *key, const char *pass, size_t plen, const unsigned char *salt,
       long long ops, long long mem, char *err, size_t errlen, int *code)
{
	if (crypto_pwhash(key, KEYBYTES, pass, plen, salt, (unsigned long long)ops, (size_t)mem,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		snprintf(err, errlen, "Argon2id key derivation failed (out of memory?)");
		*code = MLC_EX_SOFTWARE;
		return -1;
	}
	return 0;
}

/* ---- init and open ---- */

static int
vault_exists(struct mlc_store *s, int *exists, char *err, size_t errlen, int *code)
{
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, "SELECT count(*) FROM vault_kdf", &st) < 0) {
		*code = mlc_store_error(s, err, errlen);
		return -1;
	}
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW)
		*exists = sqlite3_column_int(st, 0) > 0;
	else
		*code = mlc_store_error(s, err, errlen);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* What mlc_vault_init writes, for its transaction. */
struct vinit {
	struct mlc_store *s;
	int passphrase;
	const unsigned char *key, *salt, *nonce, *box;
	long long ops, mem;
	char *kpath;          /* the key file, once written */
	char *err;
	size_t errlen;
	int code;             /* set with err by a refusal of ours */
};

/*
 * mlc_store_tx's fn.  It may run again (a lock met where SQLite does not
 * wait): a key file an earlier attempt wrote is removed first, since
 * write_keyfile creates it with O_EXCL.
 */
static int
init_tx(struct mlc_store *s, void *arg)
{
	struct vinit *t = arg;
	sqlite3_stmt *st;
	int exists, rc;

	if (t->kpath) {
		unlink(t->kpath);
		free(t->kpath);
		t->kpath = NULL;
	}
	/* Again, under the write lock: another init may have won the race. */
	if (vault_exists(s, &exists, t->err, t->errlen, &t->code) < 0) {
		t->code = MLC_EX_OK;
		return -1;
	}
	if (exists) {
		snprintf(t->err, t->errlen, "a vault already exists in %s; refusing to overwrite it",
		         mlc_store_statedir(s));
		return t->code = MLC_EX_CONFIG;
	}
	if (!t->passphrase) {
		char *kpath = keyfile_path(s);

		if (write_keyfile(kpath, t->key, t->err, t->errlen, &t->code) < 0) {
			free(kpath);
			return t->code ? t->code : MLC_EX_IOERR;
		}
		t->kpath = kpath;
	}
	if (mlc_store_prepare(s,
	                      "INSERT INTO vault_kdf (id, mode, salt, opslimit, memlimit, "
	                      "check_nonce, check_box) VALUES (1, ?, ?, ?, ?, ?, ?)", &st) < 0) {
		mlc_store_warn(s, "creating the vault");
		return -1;
	}
	sqlite3_bind_text(st, 1, t->passphrase ? "argon2id" : "keyfile", -1, SQLITE_STATIC);
	if (t->passphrase) {
		sqlite3_bind_blob(st, 2, t->salt, crypto_pwhash_SALTBYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, t->ops);
		sqlite3_bind_int64(st, 4, t->mem);
	}
	sqlite3_bind_blob(st, 5, t->nonce, NONCEBYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, t->box, sizeof CHECK_TEXT - 1 + TAGBYTES, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(s, "creating the vault");
		return -1;
	}
	return 0;
}

int
mlc_vault_init(struct mlc_store *s, int passphrase, const char *passfile, char *err,
               size_t errlen, int *code)
{
	struct vinit t = { 0 };
	unsigned char *key = NULL, salt[crypto_pwhash_SALTBYTES];
	unsigned char nonce[NONCEBYTES], box[sizeof CHECK_TEXT - 1 + TAGBYTES];
	char *pass = NULL;
	long long ops = 0, mem = 0;
	size_t plen = 0;
	int exists, rc = -1, c;

	if (init_sodium(err, errlen, code) < 0)
		return -1;
	mlc_util_nodump();
	if (vault_exists(s, &exists, err, errlen, code) < 0)
		return -1;
	if (exists) {
		snprintf(err, errlen, "a vault already exists in %s; refusing to overwrite it",
		         mlc_store_statedir(s));
		*code = MLC_EX_CONFIG;
		return -1;
	}
	if (!(key = sodium_malloc(KEYBYTES))) {
		snprintf(err, errlen, "out of secure memory");
		*code = MLC_EX_SOFTWARE;
		return -1;
	}
	if (passphrase) {
		const char *fast = getenv("ML_CONNECTOR_KDF_FAST");

		if (fast && strcmp(fast, "1") == 0) {
			mlc_warn("ML_CONNECTOR_KDF_FAST=1: weak passphrase hashing, for tests only");
			ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
			mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
		} else {
			ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
			mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
		}
		if (!(pass = get_passphrase(passfile, 1, &plen, err, errlen, code)))
			goto out;
		randombytes_buf(salt, sizeof salt);
		if (derive(key, pass, plen, salt, ops, mem, err, errlen, code) < 0)
			goto out;
	} else {
		randombytes_buf(key, KEYBYTES);
	}
	randombytes_buf(nonce, sizeof nonce);
	crypto_aead_xchacha20poly1305_ietf_encrypt(box, NULL, (const unsigned char *)CHECK_TEXT,
	                                           sizeof CHECK_TEXT - 1,
	                                           (const unsigned char *)CHECK_AD,
	                                           sizeof CHECK_AD - 1, NULL, nonce, key);

	t.s = s;
	t.passphrase = passphrase;
	t.key = key;
	t.salt = salt;
	t.ops = ops;
	t.mem = mem;
	t.nonce = nonce;
	t.box = box;
	t.err = err;
	t.errlen = errlen;
	t.code = MLC_EX_OK;
	if ((c = mlc_store_tx(s, "create the vault", init_tx, &t)) != 0) {
		if (t.code == MLC_EX_OK) {
			snprintf(err, errlen, "no vault was created in %s", mlc_store_statedir(s));
			t.code = c;
		}
		*code = t.code;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && t.kpath)
		unlink(t.kpath);
	free(t.kpath);
	sodium_free(pass);
	sodium_free(key);
	return rc;
}

struct mlc_vault *
mlc_vault_open(struct mlc_store *s, const char *passfile, char *err, size_t errlen, int *code)
{
	sqlite3_stmt *st = NULL;
	struct mlc_vault *v = NULL;
	unsigned char *key = NULL, salt[crypto_pwhash_SALTBYTES];
	unsigned char nonce[NONCEBYTES], box[sizeof CHECK_TEXT - 1 + TAGBYTES];
	unsigned char plain[sizeof CHECK_TEXT - 1];
	long long ops = 0, mem = 0;
	int argon = 0, saltok = 0, rc;

	if (init_sodium(err, errlen, code) < 0)
		return NULL;
	mlc_util_nodump();
	if (mlc_store_prepare(s, "SELECT mode, salt, opslimit, memlimit, check_nonce, check_box "
	                         "FROM vault_kdf WHERE id = 1", &st) < 0) {
		*code = mlc_store_error(s, err, errlen);
		return NULL;
	}
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_DONE) {
		snprintf(err, errlen, "no vault in %s (create one with: mlc-vault init)",
		         mlc_store_statedir(s));
		*code = MLC_EX_NOINPUT;
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		*code = mlc_store_error(s, err, errlen);
		goto fail;
	}
	{
		const char *mode = (const char *)sqlite3_column_text(st, 0);

		argon = mode && strcmp(mode, "argon2id") == 0;
		if (sqlite3_column_bytes(st, 1) == (int)sizeof salt) {
			memcpy(salt, sqlite3_column_blob(st, 1), sizeof salt);
			saltok = 1;
		}
		ops = sqlite3_column_int64(st, 2);
		mem = sqlite3_column_int64(st, 3);
		if (sqlite3_column_bytes(st, 4) != (int)sizeof nonce ||
		    sqlite3_column_bytes(st, 5) != (int)sizeof box) {
			snprintf(err, errlen, "vault key does not open this vault (damaged check value)");
			*code = MLC_EX_NOPERM;
			goto fail;
		}
		memcpy(nonce, sqlite3_column_blob(st, 4), sizeof nonce);
		memcpy(box, sqlite3_column_blob(st, 5), sizeof box);
	}
	sqlite3_finalize(st);
	st = NULL;

	if (!(key = sodium_malloc(KEYBYTES))) {
		snprintf(err, errlen, "out of secure memory");
		*code = MLC_EX_SOFTWARE;
		goto fail;
	}
	if (argon) {
		char *pass;
		size_t plen;

		if (!saltok || !kdf_limits_ok(ops, mem)) {
			snprintf(err, errlen, "vault_kdf: bad Argon2id parameters; refused");
			*code = MLC_EX_CONFIG;
			goto fail;
		}
		if (!(pass = get_passphrase(passfile, 0, &plen, err, errlen, code)))
			goto fail;
		rc = derive(key, pass, plen, salt, ops, mem, err, errlen, code);
		sodium_free(pass);
		if (rc < 0)
			goto fail;
	} else if (load_keyfile(s, key, err, errlen, code) < 0) {
		goto fail;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, box, sizeof box,
	                                               (const unsigned char *)CHECK_AD,
	                                               sizeof CHECK_AD - 1, nonce, key) != 0 ||
	    memcmp(plain, CHECK_TEXT, sizeof plain) != 0) {
		snprintf(err, errlen, "vault key does not open this vault%s",
		         argon ? " (wrong passphrase?)" : "");
		*code = MLC_EX_NOPERM;
		goto fail;
	}
	sodium_mprotect_readonly(key);
	v = mlc_xcalloc(1, sizeof *v);
	v->s = s;
	v->key = key;
	return v;
fail:
	sqlite3_finalize(st);
	sodium_free(key);
	return NULL;
}

void
mlc_vault_close(struct mlc_vault *v)
{
	if (!v)
		return;
	sodium_free(v->key);
	free(v);
}

/* ---- secrets ---- */

char *
mlc_vault_get(struct mlc_vault *v, const char *name, size_t *len, int *code)
{
	sqlite3_stmt *st;
	unsigned char ad[sizeof SECRET_AD + MAXNAME];
	const void *nonce, *box;
	char *out = NULL;
	int nlen, blen, rc;

	if (!mlc_vault_name_ok(name)) {
		mlc_warn("bad secret name \"%s\": use [a-z0-9_.-]+", name);
		*code = MLC_EX_USAGE;
		return NULL;
	}
	if (mlc_store_prepare(v->s, "SELECT nonce, box FROM secret WHERE name = ?", &st) < 0) {
		*code = mlc_store_code(v->s);
		mlc_store_warn(v->s, NULL);
		return NULL;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = mlc_store_step(v->s, st);
	if (rc == SQLITE_DONE) {
		*code = MLC_EX_NOINPUT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		*code = mlc_store_code(v->s);
		mlc_store_warn(v->s, NULL);
		goto out;
	}
	nonce = sqlite3_column_blob(st, 0);
	nlen = sqlite3_column_bytes(st, 0);
	box = sqlite3_column_blob(st, 1);
	blen = sqlite3_column_bytes(st, 1);
	if (nlen != NONCEBYTES || blen < (int)TAGBYTES ||
	    blen > (int)(MLC_VAULT_MAXSECRET + TAGBYTES) ||
	    !(out = sodium_malloc((size_t)blen - TAGBYTES + 1)) ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, NULL, NULL, box,
	                                               (size_t)blen, ad, secret_ad(ad, name),
	                                               nonce, v->key) != 0) {
		mlc_warn("secret \"%s\" failed authentication: it was tampered with or stored "
		         "under another name", name);
		sodium_free(out);
		out = NULL;
		*code = MLC_EX_NOPERM;
		goto out;
	}
	*len = (size_t)blen - TAGBYTES;
	out[*len] = '\0';
	*code = MLC_EX_OK;
out:
	sqlite3_finalize(st);
	return out;
}

void
mlc_vault_free_secret(char *secret)
{
	if (secret)
		sodium_free(secret);
}

/* One statement on table secret, for mlc_store_tx: ?1 name, then blobs. */
struct secret_write {
	const char *sql, *name, *ts;
	const unsigned char *nonce, *box;
	size_t boxlen;
	int changes;
};

static int
secret_tx(struct mlc_store *s, void *arg)
{
	struct secret_write *w = arg;
	sqlite3_stmt *st;
	int rc;

	if (mlc_store_prepare(s, w->sql, &st) < 0) {
		mlc_store_warn(s, NULL);
		return -1;
	}
	sqlite3_bind_text(st, 1, w->name, -1, SQLITE_STATIC);
	if (w->box) {
		sqlite3_bind_blob(st, 2, w->nonce, NONCEBYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, w->box, (int)w->boxlen, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, w->ts, -1, SQLITE_STATIC);
	}
	rc = mlc_store_step(s, st);
	w->changes = sqlite3_changes(mlc_store_db(s));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(s, NULL);
		return -1;
	}
	return 0;
}

int
mlc_vault_put(struct mlc_vault *v, const char *name, const char *secret, size_t len)
{
	unsigned char ad[sizeof SECRET_AD + MAXNAME], nonce[NONCEBYTES], *box;
	struct secret_write w = { "INSERT OR REPLACE INTO secret (name, nonce, box, updated_at) "
		                  "VALUES (?, ?, ?, ?)", name, NULL, NULL, NULL, 0, 0 };
	struct timespec now;
	char ts[32], what[160];
	int code;

	if (!mlc_vault_name_ok(name)) {
		mlc_warn("bad secret name \"%s\": use [a-z0-9_.-]+", name);
		return MLC_EX_USAGE;
	}
	if (len == 0 || len > MLC_VAULT_MAXSECRET || memchr(secret, '\0', len)) {
		mlc_warn("secret \"%s\": %s", name,
		         len == 0 ? "empty" : len > MLC_VAULT_MAXSECRET ? "too long" :
		         "contains a NUL byte");
		return MLC_EX_DATAERR;
	}
	box = mlc_xmalloc(len + TAGBYTES);
	randombytes_buf(nonce, sizeof nonce);
	crypto_aead_xchacha20poly1305_ietf_encrypt(box, NULL, (const unsigned char *)secret, len,
	                                           ad, secret_ad(ad, name), NULL, nonce, v->key);
	if (mlc_time_now(&now) < 0)
		clock_gettime(CLOCK_REALTIME, &now);
	mlc_time_fmt(ts, &now);
	w.ts = ts;
	w.nonce = nonce;
	w.box = box;
	w.boxlen = len + TAGBYTES;
	snprintf(what, sizeof what, "store secret %s", name);
	code = mlc_store_tx(v->s, what, secret_tx, &w);
	free(box);
	return code;
}

int
mlc_vault_remove(struct mlc_vault *v, const char *name)
{
	struct secret_write w = { "DELETE FROM secret WHERE name = ?", name, NULL, NULL, NULL, 0,
		                  0 };
	char what[160];
	int code;

	if (!mlc_vault_name_ok(name)) {
		mlc_warn("bad secret name \"%s\": use [a-z0-9_.-]+", name);
		return MLC_EX_USAGE;
	}
	snprintf(what, sizeof what, "remove secret %s", name);
	if ((code = mlc_store_tx(v->s, what, secret_tx, &w)) != 0)
		return code;
	return w.changes == 0 ? MLC_EX_NOINPUT : MLC_EX_OK;
}

int
mlc_vault_list(struct mlc_store *s,
               int (*fn)(const char *name, const char *updated_at, void *arg), void *arg)
{
	sqlite3_stmt *st;
	char err[512];
	int exists, code = 0, rc;

	if (vault_exists(s, &exists, err, sizeof err, &code) < 0) {
		mlc_warn("%s", err);
		return code;
	}
	if (!exists) {
		mlc_warn("no vault in %s (create one with: mlc-vault init)", mlc_store_statedir(s));
		return MLC_EX_NOINPUT;
	}
	if (mlc_store_prepare(s, "SELECT name, updated_at FROM secret ORDER BY name", &st) < 0) {
		code = mlc_store_code(s);
		mlc_store_warn(s, NULL);
		return code;
	}
	while ((rc = mlc_store_step(s, st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		const char *u = (const char *)sqlite3_column_text(st, 1);

		if ((code = fn(n ? n : "", u ? u : "", arg)) != 0)
			break;
	}
	if (code == 0 && rc != SQLITE_DONE) {
		code = mlc_store_code(s);
		mlc_store_warn(s, NULL);
	}
	sqlite3_finalize(st);
	return code;
}

int
mlc_vault_check(struct mlc_vault *v, unsigned long *count)
{
	sqlite3_stmt *st;
	int code = MLC_EX_OK, rc;

	*count = 0;
	if (mlc_store_prepare(v->s, "SELECT name FROM secret ORDER BY name", &st) < 0) {
		code = mlc_store_code(v->s);
		mlc_store_warn(v->s, NULL);
		return code;
	}
	while ((rc = mlc_store_step(v->s, st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		char *name = mlc_xstrdup(n ? n : "");
		size_t len;
		int c;
		char *p;

		if (!mlc_vault_name_ok(name)) {
			mlc_warn("secret with a bad name in the database; refused");
			code = MLC_EX_NOPERM;
		} else if ((p = mlc_vault_get(v, name, &len, &c))) {
			mlc_vault_free_secret(p);
			++*count;
		} else if (code == MLC_EX_OK || c == MLC_EX_NOPERM) {
			code = c;
		}
		free(name);
	}
	if (rc != SQLITE_DONE && code == MLC_EX_OK) {
		code = mlc_store_code(v->s);
		mlc_store_warn(v->s, NULL);
	}
	sqlite3_finalize(st);
	return code;
}
