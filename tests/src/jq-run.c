/*
 * jq-run — test driver for jqrule.c.
 *
 * usage: jq-run [-t | -H] [-C] [-D] [-W] [-n NOW] [-z TZ] PROGRAM < ndjson
 *   -t  PROGRAM is a template (mlc_jq_template); -H an HTML template.
 *   -C  with -t or -H: render through mlc_tmpl_plain (jqrule.c's C forms)
 *       where it can, jq where it cannot; on stderr at the end, "c N jq M":
 *       how many lines each gave (a differential test compares the output
 *       with the same run without -C).
 *   -D  print each output with mlc_jq_dump instead of jv_dump_string
 *       (the same text expected).
 *   -W  read each line through mlc_wire_line (wire.c's parser and checks)
 *       instead of jv_parse_sized; a refused line prints "refused: WHY".
 *   -n  the instant for $now/$today/$now_local (RFC 3339); -z their zone.
 * Runs PROGRAM once per input line through mlc_jq_run1 and prints the one
 * output compactly, or "error N: MESSAGE" (N = the return code) on stdout.
 * Exit: 0, 78 when PROGRAM does not compile (message on stderr), 65 on
 * a line that is not JSON.  With no -n, no time arguments are passed (the
 * library's defaults are used).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

int
main(int argc, char **argv)
{
	struct mlc_ndjson_reader *r;
	struct mlc_jq *q;
	const char *now = NULL, *tz = NULL;
	char err[1024], *line;
	size_t len;
	int c, mode = 0, rc = 0, k, use_c = 0, wire = 0, dump = 0;
	unsigned long n_c = 0, n_jq = 0;
	struct mlc_tmpl *tc = NULL;
	struct mlc_buf cb;
	size_t *nulls = NULL;
	jv args = jv_null();

	mlc_util_setprogname(argv[0]);
	while ((c = getopt(argc, argv, "tHCDWn:z:")) != -1) {
		switch (c) {
		case 't': mode = 1; break;
		case 'H': mode = 2; break;
		case 'C': use_c = 1; break;
		case 'W': wire = 1; break;
		case 'D': dump = 1; break;
		case 'n': now = optarg; break;
		case 'z': tz = optarg; break;
		default: return MLC_EX_USAGE;
		}
	}
	if (optind != argc - 1)
		mlc_die(MLC_EX_USAGE, "usage: jq-run [-t|-H] [-C] [-D] [-W] [-n NOW] [-z TZ] PROGRAM");
	if (now) {
		struct timespec ts;

		if (mlc_time_parse(now, &ts) < 0)
			mlc_die(MLC_EX_USAGE, "bad time %s", now);
		args = mlc_jq_time_args(&ts, tz, err, sizeof err);
		if (!jv_is_valid(args))
			mlc_die(MLC_EX_CONFIG, "%s", err);
	}
	mlc_buf_init(&cb);
	if (use_c && mode != 0 && (tc = mlc_tmpl_plain(argv[optind], mode == 2, args)))
		nulls = mlc_xcalloc(mlc_tmpl_nexpr(tc) + 1, sizeof *nulls);
	if (mode == 0)
		q = mlc_jq_compile(argv[optind], "program", args, err, sizeof err);
	else if (mode == 1)
		q = mlc_jq_template(argv[optind], "template", args, err, sizeof err);
	else
		q = mlc_jq_template_html(argv[optind], "template", args, err, sizeof err);
	if (!q)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	r = mlc_ndjson_open(stdin, "-", 0);
	while ((k = mlc_ndjson_read(r, &line, &len)) != 0) {
		jv in, out;

		if (k < 0) {
			rc = MLC_EX_DATAERR;
			continue;
		}
		if (wire) {
			struct mlc_wire_err we;
			char m[512];

			if (mlc_wire_line(line, len, &in, &we) < 0) {
				mlc_wire_errmsg(&we, m, sizeof m);
				printf("refused: %s\n", m);
				jv_free(in);
				continue;
			}
		} else {
			in = jv_parse_sized(line, (int)len);
		}
		if (!jv_is_valid(in)) {
			jv m = jv_invalid_get_msg(in);

			mlc_warn("line %lu: %s", mlc_ndjson_lineno(r),
			         jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "bad JSON");
			jv_free(m);
			rc = MLC_EX_DATAERR;
			continue;
		}
		mlc_buf_reset(&cb);
		if (tc && mlc_tmpl_run(tc, in, &cb, "null", nulls) >= 0) {
			jv s = jv_dump_string(jv_string_sized(cb.p, (int)cb.len), 0);

			printf("%s\n", jv_string_value(s));
			jv_free(s);
			jv_free(in);
			n_c++;
			continue;
		}
		n_jq++;
		k = mlc_jq_run1(q, in, &out, err, sizeof err);
		if (k == 0 && dump) {
			mlc_buf_reset(&cb);
			mlc_jq_dump(&cb, out);
			printf("%s\n", cb.p);
		} else if (k == 0) {
			jv s = jv_dump_string(out, 0);

			printf("%s\n", jv_string_value(s));
			jv_free(s);
		} else {
			printf("error %d: %s\n", k, err);
		}
	}
	mlc_ndjson_close(r);
	if (use_c)
		fprintf(stderr, "c %lu jq %lu\n", n_c, n_jq);
	mlc_tmpl_free(tc);
	free(nulls);
	mlc_buf_free(&cb);
	mlc_jq_free(q);
	mlc_util_exit(rc);
}
