/*
 * ack-unit — test driver for acknowledgements: the trail's table ack
 * (mlc_trail_ack_put, mlc_trail_ack_get, mlc_trail_ack_get_key), the
 * reply's parser and classifier, reply codes and their suffix (ack.c).
 *
 * usage: ack-unit [-d STATEDIR] put SID ALERT RULE KEY ACKED_AT BY HOW TOKEN
 *        ack-unit [-d STATEDIR] get ALERT SINCE
 *        ack-unit [-d STATEDIR] getkey RULE KEY SINCE
 *        ack-unit [-d STATEDIR] code TO ALERT RULE KEY NOW
 *        ack-unit parse BODY          (no state)
 *        ack-unit keyhas KEY WHAT     (no state)
 *        ack-unit suffix CODE sms|whatsapp < BODY   (no state)
 *   "-" means none (NULL).  put prints "fresh" or "repeat"; get and getkey
 *   print "ALERT ACKED_AT BY HOW TOKEN SID" or "none"; code the code
 *   assigned; parse "ack TOKEN" ("ack -" none), or the keyword class's
 *   name (mlc_optout_classify), or "none"; keyhas "yes" or "no"; suffix
 *   the form, then the segments, then the text.
 * Exit: 0, 64 usage, or the store's code (74 I/O, 78).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static char **args;
static int nargs;

static const char *
arg(int i)
{
	return strcmp(args[i], "-") ? args[i] : NULL;
}

static int
put(struct mlc_store *s, void *out)
{
	struct mlc_trail_ack a = { arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), NULL, arg(6),
		                   arg(7) };

	if (mlc_trail_ack_put(s, &a, out) < 0) {
		mlc_store_warn(s, "acknowledgement");
		return -1;
	}
	return 0;
}

static char assigned[MLC_ACK_CODEMAX];

static int
code_tx(struct mlc_store *s, void *arg)
{
	(void)arg;
	if (mlc_ack_code(s, args[0], args[1], args[2], args[3], args[4], 1, assigned) < 0) {
		mlc_store_warn(s, "reply code");
		return -1;
	}
	return 0;
}

static void
usage(void)
{
	mlc_die(MLC_EX_USAGE, "usage: ack-unit [-d STATEDIR] put SID ALERT RULE KEY ACKED_AT BY"
	        " HOW TOKEN | get ALERT SINCE | getkey RULE KEY SINCE | code TO ALERT RULE KEY NOW"
	        " | parse BODY | keyhas KEY WHAT | suffix CODE sms|whatsapp");
}

int
main(int argc, char **argv)
{
	struct mlc_store *s;
	struct mlc_trail_acked row;
	const char *dir = NULL, *cmd;
	char err[512];
	int c, code, fresh = 0, rc;

	mlc_util_setprogname(argv[0]);
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c == 'd')
			dir = optarg;
		else
			return MLC_EX_USAGE;
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	if (!strcmp(cmd, "parse") && nargs == 1) {
		char tok[MLC_ACK_TOKMAX];
		int kw = mlc_optout_classify(args[0], NULL);

		if (mlc_ack_parse(args[0], tok))
			printf("ack %s\n", tok[0] ? tok : "-");
		else
			printf("%s\n", mlc_optout_kw_name(kw) ? mlc_optout_kw_name(kw) : "none");
		/* the one classifier agrees */
		return (kw == MLC_KW_ACK) == (mlc_ack_parse(args[0], tok) == 1) ? 0 : 1;
	}
	if (!strcmp(cmd, "keyhas") && nargs == 2) {
		printf("%s\n", mlc_key_has_part(args[0], args[1]) ? "yes" : "no");
		return 0;
	}
	if (!strcmp(cmd, "suffix") && nargs == 2) {
		struct mlc_buf b;
		struct mlc_sms_info in;
		char buf[4096];
		size_t n = fread(buf, 1, sizeof buf, stdin);
		int form;

		mlc_buf_init(&b);
		mlc_buf_add(&b, buf, n);
		if (b.len && b.p[b.len - 1] == '\n')
			b.p[--b.len] = '\0';
		form = mlc_ack_suffix(&b, args[0], strcmp(args[1], "sms") == 0);
		mlc_sms_measure(b.p, b.len, &in);
		printf("%s %zu\n%s\n", mlc_ack_shown_name(form), in.segments, b.p);
		mlc_buf_free(&b);
		return 0;
	}
	if (!(dir = mlc_state_dir(dir, err, sizeof err)))
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (!(s = mlc_store_open(dir, err, sizeof err, &code)))
		mlc_die(code, "%s", err);
	if (!strcmp(cmd, "put") && nargs == 8) {
		code = mlc_store_tx(s, "record an acknowledgement", put, &fresh);
		if (!code)
			printf("%s\n", fresh ? "fresh" : "repeat");
		mlc_store_close(s);
		return code;
	}
	if (!strcmp(cmd, "code") && nargs == 5) {
		code = mlc_store_tx(s, "assign a reply code", code_tx, NULL);
		if (!code)
			printf("%s\n", assigned);
		mlc_store_close(s);
		return code;
	}
	if (!strcmp(cmd, "get") && nargs == 2)
		rc = mlc_trail_ack_get(s, arg(0), arg(1), &row);
	else if (!strcmp(cmd, "getkey") && nargs == 3)
		rc = mlc_trail_ack_get_key(s, arg(0), arg(1), arg(2), &row);
	else
		usage();
	if (rc < 0) {
		code = mlc_store_code(s);
		mlc_store_warn(s, "acknowledgement");
		mlc_store_close(s);
		return code;
	}
	if (rc)
		printf("%s %s %s %s %s %s\n", row.alert_id, row.acked_at, row.by, row.how,
		       row.token ? row.token : "-", row.sid);
	else
		printf("none\n");
	mlc_trail_acked_free(&row);
	mlc_store_close(s);
	return 0;
}
