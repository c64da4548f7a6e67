/* Fuzz target: SMS arithmetic (sms.c): measure, truncate, transliterate,
 * a suffix that costs no segment (the reply code), and the reply parser
 * (ack.c), with the invariants checked (abort() so the fuzzer reports a
 * breach). */
#include <ctype.h>
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

/* The reply code after a cut text: never another segment, nor encoding. */
static void
check_suffix(const char *s, size_t n, int maxseg)
{
	struct mlc_buf b;
	struct mlc_sms_info before, after;
	int form;

	mlc_buf_init(&b);
	mlc_sms_truncate(s, n, maxseg, NULL, NULL, &b);
	mlc_sms_measure(b.p ? b.p : "", b.len, &before);
	form = mlc_ack_suffix(&b, "12", 1);
	mlc_sms_measure(b.p ? b.p : "", b.len, &after);
	if (form < -1 || form > 1 || (form == -1 && after.units != before.units))
		abort();
	if (b.len && (after.segments > before.segments || after.encoding != before.encoding ||
	              after.utf16 > MLC_SMS_MAXCHARS))
		abort();
	mlc_buf_free(&b);
}

/* The reply parser on any bytes: a token of letters and digits, bounded. */
static void
check_ack(const char *s, size_t n)
{
	char *z = malloc(n + 1), tok[MLC_ACK_TOKMAX];
	size_t i, len;

	if (!z)
		return;
	memcpy(z, s, n);
	z[n] = '\0';
	memset(tok, 'x', sizeof tok);
	if (mlc_ack_parse(z, tok)) {
		len = strnlen(tok, sizeof tok);
		if (len >= sizeof tok)
			abort();
		for (i = 0; i < len; i++)
			if (!isalnum((unsigned char)tok[i]))
				abort();
	}
	free(z);
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
	check_suffix(s, size, maxseg);
	check_ack(s, size);
	return 0;
}
