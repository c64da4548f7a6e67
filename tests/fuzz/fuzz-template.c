/* Fuzz target: message templates (jqrule.c): compile the input as a
 * template body (plain and @html) and run it on a small record. */
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

static const char record[] =
	"{\"rule\":\"ap-aging\",\"key\":\"00001|PV|1|001\",\"record\":{\"AN8\":4242,"
	"\"ALPH\":\"Acme \\u20ac\",\"AAP\":1234.5,\"DDJ\":\"2026-01-02\"},"
	"\"recipient\":{\"name\":\"Ana\",\"sms\":\"+15551234567\"}}";

static void
one(const char *tmpl, int html)
{
	struct mlc_jq *q;
	char err[512];
	jv out;

	q = html ? mlc_jq_template_html(tmpl, "fuzz", jv_null(), err, sizeof err)
	         : mlc_jq_template(tmpl, "fuzz", jv_null(), err, sizeof err);
	if (!q)
		return;
	if (mlc_jq_run1(q, jv_parse(record), &out, err, sizeof err) == 0)
		jv_free(out);
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
