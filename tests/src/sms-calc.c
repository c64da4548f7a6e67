/*
 * sms-calc — test driver for sms.c.
 *
 *   sms-calc          measure stdin (the whole of it, newlines included):
 *                     "GSM-7 units=161 segments=2 chars=161 utf16=161"
 *   sms-calc -x       print stdin transliterated (no newline added)
 *   sms-calc -t N     print stdin truncated to N segments (no newline added)
 *   sms-calc -s MAX   sweep: texts of 1..MAX characters built from tricky
 *                     patterns (Müller, €, emoji, escapes, flags, CR LF),
 *                     each truncated to 1..3 segments; checks that the
 *                     result is valid UTF-8, within the cap, an unchanged
 *                     text when it fits, else a prefix ending on a cluster
 *                     boundary plus the right marker, and as long as the
 *                     longest fitting prefix found by brute force.
 *
 * Exit: 0; 65 invalid UTF-8 on stdin (measure); 1 sweep failures; 64 usage.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static void
slurp(struct mlc_buf *b)
{
	char tmp[4096];
	ssize_t r;

	while ((r = read(0, tmp, sizeof tmp)) > 0)
		mlc_buf_add(b, tmp, (size_t)r);
}

static int
fits(const char *s, size_t n, size_t cap)
{
	struct mlc_sms_info in;

	mlc_sms_measure(s, n, &in);
	return in.segments <= cap && in.utf16 <= MLC_SMS_MAXCHARS;
}

/* Byte offsets where a truncation may cut: after each whole code point,
 * except before a code point that joins the one before it (mirrors the
 * cluster rule of sms.c closely enough for the patterns used here). */
static int
joins(const unsigned char *s, size_t n, size_t i)
{
	/* i: offset of a code point start; does it extend the previous one? */
	if (i == 0 || i >= n)
		return 0;
	if (s[i] == '\n' && s[i - 1] == '\r')
		return 1;
	/* U+1F3FB..U+1F3FF skin tones: F0 9F 8F BB..BF */
	if (n - i >= 4 && s[i] == 0xF0 && s[i + 1] == 0x9F && s[i + 2] == 0x8F &&
	    s[i + 3] >= 0xBB && s[i + 3] <= 0xBF)
		return 1;
	/* U+0301 combining acute: CC 81 */
	if (n - i >= 2 && s[i] == 0xCC && s[i + 1] == 0x81)
		return 1;
	/* second regional indicator of a flag: count indicators before */
	if (n - i >= 4 && s[i] == 0xF0 && s[i + 1] == 0x9F && s[i + 2] == 0x87) {
		size_t j = i, k = 0;

		while (j >= 4 && s[j - 4] == 0xF0 && s[j - 3] == 0x9F && s[j - 2] == 0x87) {
			j -= 4;
			k++;
		}
		return k % 2 == 1;
	}
	return 0;
}

static const char *const patterns[] = {
	"Müller € 😀 ",
	"ab{c}€",
	"Ça coûte 5€ – déjà ",
	"👍🏽🇩🇪x",
	"line\r\nnext ",
	"abcdefghij",
	"e\xCC\x81" "z€",
	"[]~|^\\",
};

static int
sweep(size_t maxlen)
{
	struct mlc_buf text, out;
	size_t pi, len, fails = 0, cases = 0;

	mlc_buf_init(&text);
	mlc_buf_init(&out);
	for (pi = 0; pi < sizeof patterns / sizeof patterns[0]; pi++) {
		const char *p = patterns[pi];
		size_t pl = strlen(p), pos = 0;

		mlc_buf_reset(&text);
		for (len = 1; len <= maxlen; len++) {
			int cap;

			/* append one more code point of the pattern */
			do {
				mlc_buf_addc(&text, p[pos]);
				pos = (pos + 1) % pl;
			} while (((unsigned char)p[pos] & 0xC0) == 0x80);
			for (cap = 1; cap <= 3; cap++) {
				const unsigned char *s = (const unsigned char *)text.p;
				struct mlc_sms_info in;
				size_t keep, b, best = 0;
				int enc, found = 0;

				cases++;
				mlc_buf_reset(&out);
				keep = mlc_sms_truncate(text.p, text.len, cap, &enc, NULL, &out);
				mlc_sms_measure(out.p, out.len, &in);
				if (!mlc_utf8_valid(out.p, out.len)) {
					fprintf(stderr, "pattern %zu len %zu cap %d: invalid UTF-8\n",
					        pi, len, cap);
					fails++;
					continue;
				}
				if (in.segments > (size_t)cap || in.encoding != enc) {
					fprintf(stderr,
					        "pattern %zu len %zu cap %d: %zu segments, %s vs %s\n",
					        pi, len, cap, in.segments, mlc_sms_encoding_name(in.encoding),
					        mlc_sms_encoding_name(enc));
					fails++;
					continue;
				}
				if (fits(text.p, text.len, (size_t)cap)) {
					if (keep != text.len || out.len != text.len ||
					    memcmp(out.p, text.p, text.len)) {
						fprintf(stderr, "pattern %zu len %zu cap %d: changed a fitting text\n",
						        pi, len, cap);
						fails++;
					}
					continue;
				}
				/* brute force: the longest boundary b whose prefix + marker fits */
				for (b = text.len;; b--) {
					if ((b == text.len || (s[b] & 0xC0) != 0x80) && !joins(s, text.len, b)) {
						struct mlc_buf t;
						struct mlc_sms_info pin;

						mlc_buf_init(&t);
						mlc_buf_add(&t, text.p, b);
						mlc_sms_measure(t.p, t.len, &pin);
						mlc_buf_adds(&t, pin.encoding == MLC_SMS_GSM7 ? "..." : "\xE2\x80\xA6");
						if (b < text.len && fits(t.p, t.len, (size_t)cap)) {
							found = 1;
							best = b;
						}
						mlc_buf_free(&t);
						if (found)
							break;
					}
					if (b == 0)
						break;
				}
				/* a UCS-2 winner may hide a longer GSM-7 prefix below it: the
				 * brute force's first fit from the top is the longest anyway */
				while (best > 0 && strchr(" \t\r\n\f", text.p[best - 1]))
					best--;
				if (keep != best || (keep < text.len && (s[keep] & 0xC0) == 0x80) ||
				    out.len < keep || memcmp(out.p, text.p, keep) ||
				    strcmp(out.p + keep, enc == MLC_SMS_GSM7 ? "..." : "\xE2\x80\xA6")) {
					fprintf(stderr,
					        "pattern %zu len %zu cap %d: kept %zu bytes, brute force %zu "
					        "(found %d); out=\"%s\"\n",
					        pi, len, cap, keep, best, found, out.p);
					fails++;
				}
			}
		}
	}
	mlc_buf_free(&text);
	mlc_buf_free(&out);
	printf("%zu cases, %zu failures\n", cases, fails);
	return fails ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct mlc_buf in, out;
	struct mlc_sms_info info;
	int rc;

	mlc_util_setprogname(argv[0]);
	if (argc == 3 && strcmp(argv[1], "-s") == 0)
		return sweep((size_t)strtoul(argv[2], NULL, 10));
	mlc_buf_init(&in);
	mlc_buf_init(&out);
	slurp(&in);
	if (argc == 2 && strcmp(argv[1], "-x") == 0) {
		mlc_sms_transliterate(in.p, in.len, &out);
		fwrite(out.p, 1, out.len, stdout);
	} else if (argc == 3 && strcmp(argv[1], "-t") == 0) {
		mlc_sms_truncate(in.p, in.len, atoi(argv[2]), NULL, NULL, &out);
		fwrite(out.p, 1, out.len, stdout);
	} else if (argc == 1) {
		rc = mlc_sms_measure(in.p, in.len, &info);
		printf("%s units=%zu segments=%zu chars=%zu utf16=%zu\n",
		       mlc_sms_encoding_name(info.encoding), info.units, info.segments, info.chars,
		       info.utf16);
		if (rc < 0) {
			mlc_warn("invalid UTF-8");
			mlc_buf_free(&in);
			mlc_buf_free(&out);
			mlc_util_exit(MLC_EX_DATAERR);
		}
	} else {
		mlc_warn("usage: sms-calc [-x | -t N | -s MAX] < text");
		mlc_buf_free(&in);
		mlc_buf_free(&out);
		return MLC_EX_USAGE;
	}
	mlc_buf_free(&in);
	mlc_buf_free(&out);
	mlc_util_exit(0);
}
