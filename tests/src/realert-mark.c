/*
 * realert-mark — test driver: record a sent alert in the re-alert index,
 * as alert-log will when a delivery is recorded as sent.
 *
 * usage: realert-mark [-d STATEDIR] RULE KEY RECIPIENT FINGERPRINT SENT_AT
 *   FINGERPRINT "-" means none (NULL).  SENT_AT: RFC 3339.
 * Exit: 0, 64 usage, or the store's code (74 I/O, 78).
 */
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static char **args;

static int
mark(struct mlc_store *s, void *arg)
{
	(void)arg;
	if (mlc_trail_realert_mark(s, args[0], args[1], args[2],
	                           strcmp(args[3], "-") ? args[3] : NULL, args[4]) < 0) {
		mlc_store_warn(s, "re-alert mark");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct mlc_store *s;
	const char *dir = NULL;
	char err[512];
	int c, code;

	mlc_util_setprogname(argv[0]);
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c == 'd')
			dir = optarg;
		else
			return MLC_EX_USAGE;
	}
	if (argc - optind != 5)
		mlc_die(MLC_EX_USAGE,
		        "usage: realert-mark [-d STATEDIR] RULE KEY RECIPIENT FINGERPRINT SENT_AT");
	if (!(dir = mlc_state_dir(dir, err, sizeof err)))
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (!(s = mlc_store_open(dir, err, sizeof err, &code)))
		mlc_die(code, "%s", err);
	args = argv + optind;
	code = mlc_store_tx(s, "mark a send in the re-alert index", mark, NULL);
	mlc_store_close(s);
	return code;
}
