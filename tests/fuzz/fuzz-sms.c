/* Fuzz target: SMS arithmetic (sms.c): measure, truncate, transliterate,
 * with the invariants checked (abort() so the fuzzer reports a breach). */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

static void
check_truncate(const char *s, size_t n, int maxseg)
{
	struct mlc_buf out;
	struct mlc_sms_info info;
	int enc = -1;
	size_t kept, segs = 0;

	mlc_buf_init(&out);
	kept = mlc_sms_truncate(s, n, maxseg, &enc, &segs, &out);
	if (kept > n)
		abort();
	if (mlc_sms_measure(out.p, out.len, &info) < 0)
		abort(); /* the output must be valid UTF-8 */
	if (info.segments > (size_t)(maxseg < 1 ? 1 : maxseg) || info.utf16 > MLC_SMS_MAXCHARS)
		abort(); /* and within the caps */
	if (out.len && info.encoding != enc)
		abort();
	if (segs != info.segments)
		abort(); /* *segments is the output's */
	mlc_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlc_sms_info info;
	struct mlc_buf tr;
	const char *s = (const char *)data;
	int maxseg = 1;

	if (size > 0) {
		maxseg = (data[0] % 12) - 1; /* -1 .. 10 */
		s++;
		size--;
	}
	(void)mlc_sms_measure(s, size, &info);
	check_truncate(s, size, maxseg);
	mlc_buf_init(&tr);
	mlc_sms_transliterate(s, size, &tr);
	if (strlen(tr.p) > tr.len)
		abort();
	check_truncate(tr.p, tr.len, maxseg);
	mlc_buf_free(&tr);
	return 0;
}
