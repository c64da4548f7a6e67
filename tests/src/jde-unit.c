/*
 * jde-unit — drive the pure functions of src/jde.c and src/catalog.c from
 * the command line,
 * for tests/0610-jde-unit.t.  One call per invocation; results on stdout:
 *
 *   jde-unit e164 CC RAW          "+E164" or "invalid"
 *   jde-unit julian CYYDDD        "YYYY-MM-DD" or "none"
 *   jde-unit hms HHMMSS           "HH:MM:SS" or "invalid"
 *   jde-unit literal FMT SEP DATE the date in the user's format (FMT is a
 *                                 simpleDateFormat or a code: MDE DME YMD)
 *   jde-unit cond FMT TABLE TEXT  the AIS condition JSON, or the error on
 *                                 stderr with status 1
 *   jde-unit page FILE            the envelope summary, one field a line
 *   jde-unit key TABLE            the catalog key, or "unknown"
 *   jde-unit catalog              the catalog: "TABLE TIME KEY..." a line
 *   jde-unit incremental TABLE SPEC
 *                                 "DATE TIME" (TIME "-" when none), "none",
 *                                 or the error on stderr with status 1; a
 *                                 warning goes to stderr
 *   jde-unit cmp TABLE COLS A B   -1, 0 or 1: row object A against row B
 *                                 in the order of COLS (blank separated)
 *   jde-unit after FMT TABLE COLS ROW FORM
 *                                 the query object for "after ROW"
 *
 * Exit status: 0, 1 (the function refused its input), 64 usage.
 */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

static int
page(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct mlc_buf b;
	struct mlc_jde_page pg;
	char buf[65536], err[256];
	size_t n, pos = 0, rn, rows = 0;
	const char *row;
	int rc;

	if (!f) {
		perror(path);
		return 66;
	}
	mlc_buf_init(&b);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		mlc_buf_add(&b, buf, n);
	fclose(f);
	if (mlc_jde_page_parse(b.p ? b.p : "", b.len, &pg, err, sizeof err) < 0) {
		printf("error: %s\n", err);
		mlc_buf_free(&b);
		return 1;
	}
	while ((rc = mlc_jde_page_row(&pg, &pos, &row, &rn)) == 1)
		rows++;
	printf("target: %s\nfound: %d\nrecords: %ld\nmore: %d\nrows: %zu%s\nnerrors: %d\n",
	       pg.target, pg.found, pg.records, pg.more, rows, rc < 0 ? " (bad element)" : "",
	       pg.nerrors);
	if (pg.error)
		printf("error: %s\n", pg.error);
	if (pg.next) {
		char red[4096];

		mlc_http_redact_url(pg.next, red, sizeof red);
		printf("next: %s\n", red);
	}
	if (pg.stack_id[0] || pg.rid[0])
		printf("ids: stackId %s stateId %s rid %s fullGridId %s\n", pg.stack_id, pg.state_id,
		       pg.rid, pg.grid_id);
	mlc_jde_page_free(&pg);
	mlc_buf_free(&b);
	return 0;
}

int
main(int argc, char **argv)
{
	char out[64];

	mlc_util_setprogname(argv[0]);
	if (argc == 4 && strcmp(argv[1], "e164") == 0) {
		puts(mlc_addr_e164_norm(argv[3], argv[2], out) == 0 ? out : "invalid");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "julian") == 0) {
		long v = mlc_jde_julian(strtol(argv[2], NULL, 10));

		if (v)
			mlc_jde_iso(v, out);
		puts(v ? out : "none");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "hms") == 0) {
		puts(mlc_jde_hms(strtol(argv[2], NULL, 10), out) == 0 ? out : "invalid");
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "literal") == 0) {
		struct mlc_jde_datefmt f;
		long ymd = mlc_jde_parse_ymd(argv[4], strlen(argv[4]));

		if (mlc_jde_datefmt_set(&f, argv[2], *argv[3] ? argv[3] : NULL) < 0 || !ymd) {
			puts("invalid");
			return 1;
		}
		mlc_jde_date_literal(&f, ymd, out);
		puts(out);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "cond") == 0) {
		struct mlc_jde_datefmt f;
		struct mlc_jde_cond c;
		struct mlc_buf b;
		char err[512];

		if (mlc_jde_datefmt_set(&f, argv[2], NULL) < 0)
			return 64;
		if (mlc_jde_cond_parse(argv[4], &c, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		mlc_buf_init(&b);
		mlc_jde_cond_json(&b, argv[3], &c, &f);
		puts(b.p);
		mlc_buf_free(&b);
		mlc_jde_cond_free(&c);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "page") == 0)
		return page(argv[2]);
	if ((argc == 6 && strcmp(argv[1], "cmp") == 0) || (argc == 7 && strcmp(argv[1], "after") == 0)) {
		int after = argv[1][0] == 'a';
		const char *table = argv[after ? 3 : 2], *cols[MLC_JDE_MAXPOS];
		char *cc = strdup(argv[after ? 4 : 3]), err[256];
		size_t n = 0;
		struct mlc_jde_pos a, b;
		struct mlc_jde_datefmt f;
		int rc = 0;

		for (char *sv = NULL, *w = strtok_r(cc, " ", &sv); w && n < MLC_JDE_MAXPOS;
		     w = strtok_r(NULL, " ", &sv))
			cols[n++] = w;
		mlc_jde_pos_init(&a);
		mlc_jde_pos_init(&b);
		if (mlc_jde_pos_read(&a, table, cols, n, argv[after ? 5 : 4],
		                     strlen(argv[after ? 5 : 4]), err, sizeof err) < 0 ||
		    (!after && mlc_jde_pos_read(&b, table, cols, n, argv[5], strlen(argv[5]), err,
		                                sizeof err) < 0)) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
		} else if (after) {
			struct mlc_buf o;

			mlc_buf_init(&o);
			if (mlc_jde_datefmt_set(&f, argv[2], NULL) < 0 ||
			    mlc_jde_after_json(&o, table, cols, &a, &f, atoi(argv[6])) < 0)
				puts("none");
			else
				puts(o.p);
			mlc_buf_free(&o);
		} else {
			printf("%d\n", mlc_jde_pos_cmp(&a, &b));
		}
		mlc_jde_pos_free(&a);
		mlc_jde_pos_free(&b);
		free(cc);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "key") == 0) {
		const char *k = mlc_catalog_key(argv[2]);

		puts(k ? k : "unknown");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "catalog") == 0) {
		const struct mlc_catalog_table *t;

		for (size_t i = 0; (t = mlc_catalog_entry(i)); i++)
			printf("%s %s %s\n", t->table, t->time, t->key);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "incremental") == 0) {
		struct mlc_catalog_incr inc;
		char err[256];
		int r = mlc_catalog_incremental(argv[2], argv[3], &inc, err, sizeof err);

		if (r < 0 || err[0])
			fprintf(stderr, "%s\n", err);
		if (r < 0)
			return 1;
		if (r == 0)
			puts("none");
		else
			printf("%s %s\n", inc.date, inc.time[0] ? inc.time : "-");
		return 0;
	}
	fprintf(stderr, "usage: jde-unit e164|julian|hms|literal|cond|page|key|catalog|incremental|"
	        "cmp|after ...\n");
	return 64;
}
