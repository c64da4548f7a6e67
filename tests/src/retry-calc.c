/*
 * retry-calc — test driver for src/retry.c.
 *
 *   retry-calc classify OUTCOME STATUS IDEMPOTENT
 *       prints NO, YES, UNKNOWN or AUTH (OUTCOME: DONE, NOT_SENT, ...)
 *   retry-calc delays [-n MAX_ATTEMPTS] [-b BASE] [-c CAP] [-m RA_MAX]
 *                     [-B BUDGET] [-r RETRY_AFTER]
 *       prints the delay returned after each failed attempt, one per line,
 *       ending with -1 (set ML_CONNECTOR_RETRY_SEED for a fixed sequence).
 *   retry-calc sleep MS
 *       mlc_retry_sleep(MS)
 * Exit status 0, or 64 on usage errors.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: retry-calc classify OUTCOME STATUS IDEMPOTENT\n"
	"       retry-calc delays [-n MAX] [-b BASE] [-c CAP] [-m RA_MAX] [-B BUDGET] [-r RA]\n"
	"       retry-calc sleep MS\n";

int
main(int argc, char **argv)
{
	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	if (argc == 5 && strcmp(argv[1], "classify") == 0) {
		struct mlc_http_resp r;
		int o;

		memset(&r, 0, sizeof r);
		for (o = MLC_HTTP_DONE; o <= MLC_HTTP_ERROR; o++)
			if (strcmp(argv[2], mlc_http_outcome_name((enum mlc_http_outcome)o)) == 0)
				break;
		if (o > MLC_HTTP_ERROR) {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
		r.outcome = (enum mlc_http_outcome)o;
		r.status = atol(argv[3]);
		puts(mlc_retry_class_name(mlc_retry_classify(&r, atoi(argv[4]))));
		mlc_util_exit(0);
	}
	if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
		mlc_retry_sleep(atol(argv[2]), NULL);
		mlc_util_exit(0);
	}
	if (argc >= 2 && strcmp(argv[1], "delays") == 0) {
		struct mlc_retry rt;
		long ra = -1, d;
		int c;

		mlc_retry_init(&rt);
		optind = 2;
		while ((c = getopt(argc, argv, "n:b:c:m:B:r:")) != -1) {
			switch (c) {
			case 'n': rt.max_attempts = atoi(optarg); break;
			case 'b': rt.base_ms = atol(optarg); break;
			case 'c': rt.cap_ms = atol(optarg); break;
			case 'm': rt.retry_after_max_ms = atol(optarg); break;
			case 'B': rt.budget_ms = atol(optarg); break;
			case 'r': ra = atol(optarg); break;
			default: fputs(usage, stderr); return MLC_EX_USAGE;
			}
		}
		do {
			d = mlc_retry_next(&rt, ra);
			printf("%ld\n", d);
		} while (d >= 0 && rt.attempt < 1000);
		mlc_util_exit(0);
	}
	fputs(usage, stderr);
	return MLC_EX_USAGE;
}
