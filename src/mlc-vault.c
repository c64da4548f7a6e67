/*
 * mlc-vault — manage the encrypted credential vault of ml-connector.
 *
 * usage: mlc-vault [-d STATEDIR] [--passphrase-file FILE] COMMAND [ARG]
 *
 *   init [--passphrase]  create the state directory, the database and the
 *                        key file STATE/vault.key (0600), or with
 *                        --passphrase the Argon2id parameters (the
 *                        passphrase from --passphrase-file or, twice, the
 *                        terminal).  Refuses to overwrite a vault.
 *   set NAME             store a secret: read from the terminal without
 *                        echo (twice), or one line from stdin when stdin is
 *                        not a terminal (trailing newline stripped).
 *   list                 names and update times, tab-separated; no key needed.
 *   rm NAME              remove a secret.
 *   check                open the vault, authenticate every secret, print
 *                        "ok N secrets".
 *
 * A secret is never taken from argv or the environment, and never printed:
 * there is deliberately no "get".  The C tools open the vault through the
 * library (src/vault.c), so no secret needs to cross a process boundary.
 *
 * Nothing is read on stdin except a secret (set), nothing written on stdout
 * except list and check output.  Exit codes (mlc.h): 0 ok, 64 usage (bad
 * command or secret name), 65 bad input (empty, multi-line or mismatched
 * secret, short passphrase), 66 no vault, no such secret, or no terminal,
 * 70 internal, 74 database or file I/O (also a damaged database),
 * 77 wrong key or passphrase,
 * tampered secret, 78 key or passphrase file missing, not private, or a
 * vault that already exists.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mlc.h"

static const char usage[] =
	"usage: mlc-vault [-d STATEDIR] [--passphrase-file FILE] COMMAND [ARG]\n"
	"  init [--passphrase]   create the vault (key file, or Argon2id passphrase)\n"
	"  set NAME              store a secret read from the terminal or stdin\n"
	"  list                  list secret names and update times\n"
	"  rm NAME               remove a secret\n"
	"  check                 authenticate every secret\n";

/* One line from a non-terminal stdin, with read(2) straight into secure
 * memory (no stdio buffer ever holds the secret). */
static int
read_stdin(char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	char *nl;

	for (;;) {
		ssize_t r;

		if (n == cap - 1) {
			mlc_warn("secret too long on stdin (at most %d bytes)", MLC_VAULT_MAXSECRET);
			return MLC_EX_DATAERR;
		}
		r = read(0, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mlc_warn("stdin: %s", strerror(errno));
			return MLC_EX_IOERR;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if ((nl = memchr(buf, '\n', n))) {
		if ((size_t)(nl - buf) + 1 != n) {
			mlc_warn("expected one line on stdin, got more");
			return MLC_EX_DATAERR;
		}
		n--;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		mlc_warn("empty secret on stdin");
		return MLC_EX_DATAERR;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int
read_tty(const char *name, char *buf, size_t cap, size_t *len)
{
	char prompt[200], err[256], *again;
	size_t alen;
	int code = 0;

	snprintf(prompt, sizeof prompt, "Secret %s: ", name);
	if (mlc_vault_ttyread(prompt, buf, cap, len, err, sizeof err) < 0) {
		mlc_warn("%s", err);
		return MLC_EX_NOINPUT;
	}
	if (!(again = sodium_malloc(cap)))
		mlc_die(MLC_EX_SOFTWARE, "out of secure memory");
	if (mlc_vault_ttyread("Again: ", again, cap, &alen, err, sizeof err) < 0) {
		mlc_warn("%s", err);
		code = MLC_EX_NOINPUT;
	} else if (alen != *len || sodium_memcmp(buf, again, alen) != 0) {
		mlc_warn("the two entries differ; nothing stored");
		code = MLC_EX_DATAERR;
	} else if (*len == 0) {
		mlc_warn("empty secret; nothing stored");
		code = MLC_EX_DATAERR;
	}
	sodium_free(again);
	return code;
}

static int
print_entry(const char *name, const char *updated_at, void *arg)
{
	(void)arg;
	printf("%s\t%s\n", name, updated_at);
	return ferror(stdout) ? MLC_EX_IOERR : 0;
}

static struct mlc_vault *
open_vault(struct mlc_store *s, const char *passfile)
{
	struct mlc_vault *v;
	char err[1024];
	int code = 0;

	if (!(v = mlc_vault_open(s, passfile, err, sizeof err, &code))) {
		mlc_store_close(s);
		mlc_die(code, "%s", err);
	}
	return v;
}

struct args {
	const char *dir, *passfile, *cmd, *name;
	int passphrase;
};

/* The options (anywhere on the line, as before the command), the command and
 * its one argument, checked. */
static void
parse_args(int argc, char **argv, struct args *a)
{
	enum { O_PASSFILE = 256, O_PASSPHRASE };
	static const struct option lopts[] = {
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "passphrase", no_argument, NULL, O_PASSPHRASE },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(a, 0, sizeof *a);
	while ((c = getopt_long(argc, argv, "d:", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->dir = optarg; break;
		case O_PASSFILE: a->passfile = optarg; break;
		case O_PASSPHRASE: a->passphrase = 1; break;
		default: mlc_util_usage(usage, NULL);
		}
	}
	if (optind < argc)
		a->cmd = argv[optind++];
	if (optind < argc)
		a->name = argv[optind++];
	if (optind < argc)
		mlc_util_usage(usage, "too many arguments");
	if (!a->cmd)
		mlc_util_usage(usage, NULL);
	if (strcmp(a->cmd, "set") == 0 || strcmp(a->cmd, "rm") == 0) {
		if (!a->name)
			mlc_util_usage(usage, "a secret name is needed");
		if (!mlc_vault_name_ok(a->name))
			mlc_die(MLC_EX_USAGE, "bad secret name \"%s\": use [a-z0-9_.-]+ "
			        "(e.g. twilio.auth_token)", a->name);
	} else if (strcmp(a->cmd, "init") == 0 || strcmp(a->cmd, "list") == 0 ||
	           strcmp(a->cmd, "check") == 0) {
		if (a->name)
			mlc_util_usage(usage, "too many arguments");
	} else {
		mlc_util_usage(usage, "unknown command \"%s\"", a->cmd);
	}
	if (a->passphrase && strcmp(a->cmd, "init") != 0)
		mlc_util_usage(usage, "--passphrase goes with init only");
}

int
main(int argc, char **argv)
{
	struct args a;
	const char *dir;
	struct mlc_store *s;
	struct mlc_vault *v;
	char err[1024];
	int code = 0;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	/* Before anything can hold a secret. */
	mlc_util_nodump();
	parse_args(argc, argv, &a);

	mlc_util_signals(NULL);
	if (sodium_init() < 0)
		mlc_die(MLC_EX_SOFTWARE, "libsodium failed to initialise");
	if (!(dir = mlc_state_dir(a.dir, err, sizeof err)))
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (!(s = mlc_store_open(dir, err, sizeof err, &code)))
		mlc_die(code, "%s", err);

	if (strcmp(a.cmd, "init") == 0) {
		if (mlc_vault_init(s, a.passphrase, a.passfile, err, sizeof err, &code) < 0) {
			mlc_store_close(s);
			mlc_die(code, "%s", err);
		}
		if (!a.passphrase)
			mlc_warn("created %s/%s: back it up apart from the database; "
			         "without it the secrets are lost", dir, MLC_VAULT_KEYFILE);
	} else if (strcmp(a.cmd, "list") == 0) {
		code = mlc_vault_list(s, print_entry, NULL);
	} else if (strcmp(a.cmd, "check") == 0) {
		unsigned long n = 0;

		v = open_vault(s, a.passfile);
		code = mlc_vault_check(v, &n);
		if (code == 0)
			printf("ok %lu secret%s\n", n, n == 1 ? "" : "s");
		mlc_vault_close(v);
	} else if (strcmp(a.cmd, "rm") == 0) {
		v = open_vault(s, a.passfile);
		code = mlc_vault_remove(v, a.name);
		if (code == 0 && strcmp(a.name, "ais.password") == 0)
			mlc_ais_refusal_clear(dir);
		if (code == MLC_EX_NOINPUT)
			mlc_warn("no secret named \"%s\"", a.name);
		mlc_vault_close(v);
	} else { /* set */
		char *secret;
		size_t len = 0;

		/* Open first: a wrong key should not cost the user their typing. */
		v = open_vault(s, a.passfile);
		if (!(secret = sodium_malloc(MLC_VAULT_MAXSECRET + 2)))
			mlc_die(MLC_EX_SOFTWARE, "out of secure memory");
		if (isatty(0))
			code = read_tty(a.name, secret, MLC_VAULT_MAXSECRET + 1, &len);
		else
			code = read_stdin(secret, MLC_VAULT_MAXSECRET + 2, &len);
		if (code == 0)
			code = mlc_vault_put(v, a.name, secret, len);
		/* set again, the same or not: AIS may be tried again */
		if (code == 0 && strcmp(a.name, "ais.password") == 0)
			mlc_ais_refusal_clear(dir);
		sodium_free(secret);
		mlc_vault_close(v);
	}
	mlc_store_close(s);
	mlc_util_exit(code);
}
