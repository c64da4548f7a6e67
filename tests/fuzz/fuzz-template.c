/* Fuzz target: message templates (jqrule.c): compile the input as a
 * template body (plain and @html) and run it on a few records; where the
 * C forms (mlc_tmpl_plain) take the template and the record, their text
 * must be jq's, byte for byte (a difference aborts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

/* libjq 1.6 itself: inputs are capped (see tests/fuzz/README.md). */
#define MAXTMPL 512

/*
 * libjq 1.6's parser leaks a string token on some syntax errors (found by
 * this target: "x \\(.a \\(.b): \\| c) y"; the leak is inside jq_parse, fixed
 * in jq 1.7).  Not ours: ignored (fuzz.h says how); jq compiles are
 * already ~10/s, too slow for the slow stacks while fuzzing.
 */
MLC_FUZZ_JQ_LEAK("leak:jq_parse\n")

static const char *const records[] = {
	"{\"rule\":\"ap-aging\",\"key\":\"00001|PV|1|001\",\"record\":{\"AN8\":4242,"
	"\"ALPH\":\"Acme \\u20ac\",\"AAP\":1234.5,\"DDJ\":\"2026-01-02\"},"
	"\"recipient\":{\"name\":\"Ana\",\"sms\":\"+15551234567\"}}",
	"{\"rule\":null,\"key\":-0,\"record\":{\"AN8\":null,\"ALPH\":\"  <b>&'\\\"  \\n\","
	"\"AAP\":\" -2.675 \",\"DDJ\":\"2024-02-29T00:00:00Z\"},\"recipient\":\"\"}",
	"{\"key\":1e17,\"record\":{\"AN8\":\"\",\"ALPH\":\"\\u0000\",\"AAP\":1e300,"
	"\"DDJ\":\"2024-1-1\"},\"recipient\":{\"name\":[1]}}",
	"{\"rule\":\"\\ud83d\\ude00 \\t\",\"record\":null}",
};

static void
one(const char *tmpl, int html)
{
	struct mlc_jq *q;
	struct mlc_tmpl *c;
	struct mlc_buf b;
	size_t i, *nulls;
	char err[512];
	jv out, args;

	args = jv_parse("{\"today\":\"2026-01-15\",\"now\":\"2026-01-15T14:00:00.000Z\","
	                "\"now_local\":\"2026-01-15T08:00:00-06:00\"}");
	q = html ? mlc_jq_template_html(tmpl, "fuzz", jv_copy(args), err, sizeof err)
	         : mlc_jq_template(tmpl, "fuzz", jv_copy(args), err, sizeof err);
	c = mlc_tmpl_plain(tmpl, html, args);
	jv_free(args);
	if (!q) {
		if (c) /* a form C takes is one jq compiles */
			abort();
		return;
	}
	nulls = c ? mlc_xcalloc(mlc_tmpl_nexpr(c) + 1, sizeof *nulls) : NULL;
	mlc_buf_init(&b);
	for (i = 0; i < sizeof records / sizeof records[0]; i++) {
		int k = mlc_jq_run1(q, jv_parse(records[i]), &out, err, sizeof err);

		mlc_buf_reset(&b);
		if (c) {
			jv in = jv_parse(records[i]);
			int x = mlc_tmpl_run(c, in, &b, "null", nulls);

			jv_free(in);
			if (x >= 0 && (k != 0 || jv_get_kind(out) != JV_KIND_STRING ||
			               (size_t)jv_string_length_bytes(jv_copy(out)) != b.len ||
			               memcmp(jv_string_value(out), b.p, b.len) != 0)) {
				fprintf(stderr, "C and jq differ on record %zu: C \"%s\", jq %s\n", i,
				        b.p, k == 0 ? jv_string_value(out) : err);
				abort();
			}
		}
		if (k == 0)
			jv_free(out);
	}
	mlc_buf_free(&b);
	free(nulls);
	mlc_tmpl_free(c);
	mlc_jq_free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t;

	if (size > MAXTMPL || memchr(data, 0, size))
		return 0;
	t = mlc_xstrndup((const char *)data, size);
	one(t, 0);
	one(t, 1);
	free(t);
	return 0;
}
