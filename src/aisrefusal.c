/*
 * aisrefusal.c — the memory of an AIS password refused: a refused
 * password is not tried again, and whoever asks (jde-fetch, the monitor,
 * ml-connector status) is told why no rule reads AIS.
 *
 * Each failed login counts towards the service account's lockout, and a
 * scheduled rule would otherwise lock it within a few runs.  The refusal is
 * kept in STATE/REFUSAL_FILE with a keyed hash of the password refused
 * (BLAKE2b keyed with a random salt kept beside it: the file tells nothing
 * of the password that the vault key in the same directory does not), the
 * time and AIS's answer.  A login with the same password stops before it is
 * sent (77, ais.c); a new password (mlc-vault set ais.password also removes
 * the file, for the same one set again once the account is fixed) or a
 * login that is let through (jde-fetch --ping) and succeeds lifts it.
 *
 * Apart from ais.c so that a program that only asks (alert-log's monitor,
 * mlc-vault) does not link libcurl: loading it and its dependencies costs
 * each process of those about 6 ms of CPU at start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mlc.h"

#define REFUSAL_FILE "ais-login-refused"

static int
refusal_path(const char *dir, char *out, size_t outlen)
{
	char err[512];

	if (!dir && !(dir = mlc_state_dir(NULL, err, sizeof err)))
		return -1;
	return snprintf(out, outlen, "%s/%s", dir, REFUSAL_FILE) < (int)outlen ? 0 : -1;
}

static void
refusal_hash(const char *pw, const unsigned char *salt, char *hex)
{
	unsigned char h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)pw, strlen(pw), salt, 16);
	sodium_bin2hex(hex, 65, h, sizeof h);
	sodium_memzero(h, sizeof h);
}

/* The file's lines: "salt-hex hash-hex", the time, the reason. */
static int
refusal_read(const char *path, char *salt, char *hash, char *when, size_t wn, char *why,
             size_t yn)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%32s %64s\n", salt, hash) == 2 && fgets(when, (int)wn, f) &&
	     fgets(why, (int)yn, f);
	fclose(f);
	if (!ok)
		return 0;
	when[strcspn(when, "\n")] = '\0';
	why[strcspn(why, "\n")] = '\0';
	return 1;
}

int
mlc_ais_refusal(const char *dir, char *out, size_t outlen)
{
	char path[4096], salt[33], hash[65], when[64], why[600];

	if (refusal_path(dir, path, sizeof path) < 0 ||
	    !refusal_read(path, salt, hash, when, sizeof when, why, sizeof why))
		return 0;
	snprintf(out, outlen, "AIS refused the password in the vault at %s (%s): no login is "
	         "tried until it is set again (ml-connector secret set ais.password) or "
	         "ml-connector ping succeeds", when, why);
	return 1;
}

void
mlc_ais_refusal_clear(const char *dir)
{
	char path[4096];

	if (refusal_path(dir, path, sizeof path) == 0 && unlink(path) < 0 && errno != ENOENT)
		mlc_warn("%s: %s", path, strerror(errno));
}

int
mlc_ais_refusal_of(const char *password, char *when, size_t wn, char *why, size_t yn)
{
	char path[4096], salt[33], hash[65], h[65];
	unsigned char sb[16];

	if (refusal_path(NULL, path, sizeof path) < 0 ||
	    !refusal_read(path, salt, hash, when, wn, why, yn))
		return 0;
	if (sodium_hex2bin(sb, sizeof sb, salt, strlen(salt), NULL, NULL, NULL) == 0) {
		refusal_hash(password, sb, h);
		if (sodium_memcmp(h, hash, 64) == 0 && strlen(hash) == 64)
			return 1;
	}
	/* another password since: the refusal was of an old one */
	mlc_ais_refusal_clear(NULL);
	return 0;
}

void
mlc_ais_refusal_write(const char *password, const char *why)
{
	char path[4096], hex[65], sh[33], when[32];
	unsigned char salt[16];
	struct mlc_buf b;

	if (refusal_path(NULL, path, sizeof path) < 0)
		return;
	randombytes_buf(salt, sizeof salt);
	refusal_hash(password, salt, hex);
	sodium_bin2hex(sh, sizeof sh, salt, sizeof salt);
	mlc_time_now_text(when);
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "%s %s\n%s\n", sh, hex, when);
	for (const char *p = why; *p; p++)
		mlc_buf_addc(&b, *p == '\n' ? ' ' : *p);
	mlc_buf_addc(&b, '\n');
	if (mlc_file_replace(path, b.p, b.len, 0600) < 0)
		mlc_warn("%s: %s (the refusal is not remembered)", path, strerror(errno));
	mlc_buf_free(&b);
}
