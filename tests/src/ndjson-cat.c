/*
 * ndjson-cat — test driver for ndjson.c and util.c's JSON strings.
 * Usage: ndjson-cat [-m MAXLINE] [-j]
 * Copies stdin lines to stdout through the NDJSON reader and writer; with -j
 * each line is written as a JSON string literal (mlc_buf_json_str).
 * Exit: 0, 65 after any bad line (others still copied), 74 on a write error.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "mlc.h"

int
main(int argc, char **argv)
{
	struct mlc_ndjson_reader *r;
	struct mlc_buf b;
	size_t max = 0, len;
	char *line;
	int c, json = 0, rc = MLC_EX_OK, k;

	mlc_util_setprogname(argv[0]);
	while ((c = getopt(argc, argv, "m:j")) != -1) {
		switch (c) {
		case 'm': max = strtoul(optarg, NULL, 10); break;
		case 'j': json = 1; break;
		default: return MLC_EX_USAGE;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r = mlc_ndjson_open(stdin, "-", max);
	mlc_buf_init(&b);
	while ((k = mlc_ndjson_read(r, &line, &len)) != 0) {
		if (k < 0) {
			if (mlc_ndjson_error(r) == MLC_EX_IOERR)
				rc = MLC_EX_IOERR;
			else if (rc == MLC_EX_OK)
				rc = MLC_EX_DATAERR;
			continue;
		}
		mlc_buf_reset(&b);
		if (json)
			mlc_buf_json_str(&b, line, len);
		else
			mlc_buf_add(&b, line, len);
		if (mlc_ndjson_put(1, &b) < 0) {
			mlc_warn("write error: line %lu", mlc_ndjson_lineno(r));
			rc = MLC_EX_IOERR;
			break;
		}
	}
	mlc_buf_free(&b);
	mlc_ndjson_close(r);
	return rc;
}
