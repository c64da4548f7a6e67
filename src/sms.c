/*
 * sms.c — SMS encoding arithmetic: GSM-7 or UCS-2, septets or UTF-16 code
 * units, segment counts as Twilio bills them, transliteration of
 * typographic look-alikes to GSM-7, and truncation to a segment cap.
 *
 * Facts (reference/twilio.md §5.1): one segment carries 160 GSM-7 septets
 * or 70 UCS-2 code units; a multi-part message reserves a 6-octet header
 * per segment, leaving 153 or 67.  One character outside the GSM 03.38 set
 * (basic table plus the extension table, whose characters cost two
 * septets) turns the whole message into UCS-2.
 *
 * Segments are packed the way Twilio's segment calculator packs them:
 * greedily, and a unit that does not fit in the rest of a segment moves
 * whole to the next one.  A unit is a character cluster: one code point,
 * plus what cannot be separated from it (an escape pair costs 2 septets, a
 * code point beyond the BMP is a surrogate pair of 2 code units; combining
 * marks, variation selectors, skin tone modifiers, ZWJ sequences, flag
 * pairs and CR LF stay with the character before them).  A cluster is cut
 * only if it alone would exceed a segment (67 code units), which no real
 * text does.
 *
 * Truncation keeps the longest prefix made of whole clusters that fits the
 * cap together with an ellipsis marker ("..." in GSM-7, "…" in UCS-2); the
 * prefix may be GSM-7 even where the whole text was UCS-2 (the character
 * that forced UCS-2 was cut off), and the longer of the two candidates
 * wins.  Twilio also refuses bodies over 1600 characters: counted here in
 * UTF-16 code units, the safe reading of error 21617.
 *
 * A suffix (the reply code of an acknowledgement, ack.c) is appended in
 * the first of its forms that costs no segment: the text's segment count
 * and encoding stay as they are, else the next, shorter form is tried,
 * else none is appended, and the caller says so.
 */
#include <string.h>

#include "mlc.h"

#define GSM_SINGLE 160
#define GSM_MULTI 153
#define UCS_SINGLE 70
#define UCS_MULTI 67

/* Septets of code point c in GSM-7: 1 basic table, 2 extension table, 0 not encodable. */
static int
gsm_septets(uint32_t c)
{
	if (c < 0x80) {
		if (c == '\n' || c == '\r' || (c >= 0x20 && c <= 0x5A) || c == '_' ||
		    (c >= 'a' && c <= 'z'))
			return 1;
		if (c == 0x0C || c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' ||
		    c == '~' || c == ']' || c == '|')
			return 2;
		return 0;
	}
	switch (c) {
	case 0xA1: case 0xA3: case 0xA4: case 0xA5: case 0xA7: case 0xBF:
	case 0xC4: case 0xC5: case 0xC6: case 0xC7: case 0xC9: case 0xD1:
	case 0xD6: case 0xD8: case 0xDC: case 0xDF:
	case 0xE0: case 0xE4: case 0xE5: case 0xE6: case 0xE8: case 0xE9:
	case 0xEC: case 0xF1: case 0xF2: case 0xF6: case 0xF8: case 0xF9: case 0xFC:
	case 0x393: case 0x394: case 0x398: case 0x39B: case 0x39E:
	case 0x3A0: case 0x3A3: case 0x3A6: case 0x3A8: case 0x3A9:
		return 1;
	case 0x20AC:
		return 2;
	}
	return 0;
}

/* Decode one code point at s[0..n): its length (1..4), or 0 if invalid. */
static size_t
decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		*cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
		return 2;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
			return 0;
		*cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80 || (c == 0xF0 && s[1] < 0x90) ||
		    (c == 0xF4 && s[1] >= 0x90))
			return 0;
		*cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
		      ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
		return 4;
	}
	return 0;
}

/* Code points that belong to the cluster of the code point before them. */
static int
extends(uint32_t c)
{
	return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
	       (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
	       (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) ||
	       (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F) ||
	       (c >= 0xE0100 && c <= 0xE01EF) || c == 0x200D;
}

static int
regional(uint32_t c)
{
	return c >= 0x1F1E6 && c <= 0x1F1FF;
}

struct cluster {
	size_t len;     /* bytes */
	unsigned sept;  /* GSM-7 septets (meaningful when gsm) */
	unsigned u16;   /* UTF-16 code units */
	unsigned cps;   /* code points */
	int gsm;        /* every code point is GSM-7 */
};

/*
 * The cluster at s[0..n).  Returns its byte length, or 0 if s starts with
 * invalid UTF-8; stops before an invalid sequence inside.
 */
static size_t
next_cluster(const unsigned char *s, size_t n, struct cluster *c)
{
	uint32_t cp, prev;
	size_t k, i;
	int ri = 0;

	if (!(k = decode(s, n, &cp)))
		return 0;
	c->len = k;
	c->cps = 1;
	c->u16 = cp > 0xFFFF ? 2 : 1;
	c->sept = (unsigned)gsm_septets(cp);
	c->gsm = c->sept > 0;
	ri = regional(cp);
	prev = cp;
	for (i = k; i < n; i += k) {
		unsigned u;

		if (!(k = decode(s + i, n - i, &cp)))
			break;
		if (!((prev == '\r' && cp == '\n') || extends(cp) || prev == 0x200D ||
		      (ri == 1 && regional(cp))))
			break;
		u = cp > 0xFFFF ? 2 : 1;
		if (c->u16 + u > UCS_MULTI)
			break;
		if (regional(cp))
			ri++;
		c->len += k;
		c->cps++;
		c->u16 += u;
		if (gsm_septets(cp))
			c->sept += (unsigned)gsm_septets(cp);
		else
			c->gsm = 0;
		prev = cp;
	}
	return c->len;
}

/* Greedy packing state: segments used (at multi-part capacity) and fill of the last. */
struct pack {
	size_t segs, fill;
};

static void
pack_add(struct pack *p, size_t units, size_t cap)
{
	if (p->segs == 0 || p->fill + units > cap) {
		p->segs++;
		p->fill = 0;
	}
	p->fill += units;
}

const char *
mlc_sms_encoding_name(int enc)
{
	return enc == MLC_SMS_UCS2 ? "UCS-2" : "GSM-7";
}

/*
 * The common case, a text all ASCII without CR: every byte is a cluster of
 * its own (no ASCII code point extends another; CR LF is the one pair),
 * so the two passes below reduce to one over the bytes.  0 if the text is
 * not such a text (then out is untouched).
 */
static int
ascii_measure(const unsigned char *s, size_t n, struct mlc_sms_info *out)
{
	struct pack pk = { 0, 0 };
	size_t i, total = 0;
	int gsm = 1;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80 || s[i] == '\r')
			return 0;
		if (!gsm_septets(s[i]))
			gsm = 0;
	}
	for (i = 0; i < n; i++) {
		size_t u = gsm ? (size_t)gsm_septets(s[i]) : 1;

		total += u;
		pack_add(&pk, u, gsm ? GSM_MULTI : UCS_MULTI);
	}
	out->chars = n;
	out->utf16 = n;
	out->encoding = gsm ? MLC_SMS_GSM7 : MLC_SMS_UCS2;
	out->units = total;
	if (total == 0)
		out->segments = 0;
	else if (total <= (gsm ? GSM_SINGLE : UCS_SINGLE))
		out->segments = 1;
	else
		out->segments = pk.segs;
	return 1;
}

int
mlc_sms_measure(const char *utf8, size_t n, struct mlc_sms_info *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct cluster c;
	struct pack pk = { 0, 0 };
	size_t i, k, total = 0;
	int gsm = 1, bad = 0;

	memset(out, 0, sizeof *out);
	if (ascii_measure(s, n, out))
		return 0;
	/* Pass 1: validity, the encoding, characters. */
	for (i = 0; i < n; i += k) {
		if (!(k = next_cluster(s + i, n - i, &c))) {
			bad = 1;
			break;
		}
		if (!c.gsm)
			gsm = 0;
		out->chars += c.cps;
		out->utf16 += c.u16;
	}
	/* Pass 2: pack the valid part. */
	n = i;
	for (i = 0; i < n; i += c.len) {
		size_t u;

		next_cluster(s + i, n - i, &c);
		u = gsm ? c.sept : c.u16;
		total += u;
		pack_add(&pk, u, gsm ? GSM_MULTI : UCS_MULTI);
	}
	out->encoding = gsm ? MLC_SMS_GSM7 : MLC_SMS_UCS2;
	out->units = total;
	if (total == 0)
		out->segments = 0;
	else if (total <= (gsm ? GSM_SINGLE : UCS_SINGLE))
		out->segments = 1;
	else
		out->segments = pk.segs;
	return bad ? -1 : 0;
}

/*
 * Segments of a prefix followed by a marker of mlen units (each marker
 * unit a cluster of 1), given the prefix's packing state and total.
 */
static size_t
segs_with_marker(struct pack pk, size_t total, size_t mlen, size_t single, size_t multi)
{
	size_t j;

	if (total + mlen <= single)
		return 1;
	for (j = 0; j < mlen; j++)
		pack_add(&pk, 1, multi);
	return pk.segs;
}

static int
is_space_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

size_t
mlc_sms_truncate(const char *utf8, size_t n, int max_segments, int *encoding,
                 size_t *segments, struct mlc_buf *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct mlc_sms_info info;
	struct cluster c;
	struct pack pg = { 0, 0 }, pu = { 0, 0 };
	size_t i, tg = 0, tu = 0, u16 = 0;
	size_t best_g = 0, best_u = 0, keep;
	size_t maxseg = max_segments < 1 ? 1 : (size_t)max_segments;
	int gsm = 1, use_gsm;

	/* An invalid sequence ends the text: callers check validity first. */
	if (mlc_sms_measure(utf8, n, &info) < 0) {
		for (i = 0; i < n && next_cluster(s + i, n - i, &c); i += c.len)
			;
		n = i;
		mlc_sms_measure(utf8, n, &info);
	}
	if (info.segments <= maxseg && info.utf16 <= MLC_SMS_MAXCHARS) {
		mlc_buf_add(out, utf8, n);
		if (encoding)
			*encoding = info.encoding;
		if (segments)
			*segments = info.segments;
		return n;
	}
	/*
	 * One walk over the clusters keeps the packing state of the prefix
	 * for both encodings; at each boundary, would prefix + marker fit?
	 * A prefix is GSM-7 only until the first non-GSM cluster.
	 */
	for (i = 0;;) {
		if (gsm && segs_with_marker(pg, tg, 3, GSM_SINGLE, GSM_MULTI) <= maxseg &&
		    u16 + 3 <= MLC_SMS_MAXCHARS)
			best_g = i;
		if (!gsm && segs_with_marker(pu, tu, 1, UCS_SINGLE, UCS_MULTI) <= maxseg &&
		    u16 + 1 <= MLC_SMS_MAXCHARS)
			best_u = i;
		if (i >= n)
			break;
		next_cluster(s + i, n - i, &c);
		if (!c.gsm)
			gsm = 0;
		if (gsm) {
			tg += c.sept;
			pack_add(&pg, c.sept, GSM_MULTI);
		}
		tu += c.u16;
		pack_add(&pu, c.u16, UCS_MULTI);
		u16 += c.u16;
		i += c.len;
	}
	use_gsm = best_g >= best_u;
	keep = use_gsm ? best_g : best_u;
	/* Blanks before the marker only waste room ("Acme ..." -> "Acme..."). */
	while (keep > 0 && is_space_byte(s[keep - 1]))
		keep--;
	{
		size_t at = out->len;

		mlc_buf_add(out, utf8, keep);
		mlc_buf_adds(out, use_gsm ? "..." : "\xE2\x80\xA6");
		if (segments) {
			mlc_sms_measure(out->p + at, out->len - at, &info);
			*segments = info.segments;
		}
	}
	if (encoding)
		*encoding = use_gsm ? MLC_SMS_GSM7 : MLC_SMS_UCS2;
	return keep;
}

/*
 * Look-alikes replaced by transliteration, in the spirit of Twilio's Smart
 * Encoding: punctuation and spaces only.  Letters are never changed (a
 * name is written as the Address Book has it), so "François" still makes
 * a message UCS-2.  An empty replacement deletes the character.
 */
static const struct {
	uint32_t cp;
	const char *to;
} translit[] = {
	{ 0x0009, " " },   /* tab */
	{ 0x0060, "'" },   /* grave accent */
	{ 0x00A0, " " },   /* no-break space */
	{ 0x00AB, "\"" },  /* « */
	{ 0x00AD, "" },    /* soft hyphen */
	{ 0x00B4, "'" },   /* acute accent */
	{ 0x00BB, "\"" },  /* » */
	{ 0x02B9, "'" },   /* modifier prime */
	{ 0x02BA, "\"" },
	{ 0x02BB, "'" },
	{ 0x02BC, "'" },   /* modifier apostrophe */
	{ 0x02C6, "^" },
	{ 0x02C8, "'" },
	{ 0x02DC, "~" },
	{ 0x2000, " " }, { 0x2001, " " }, { 0x2002, " " }, { 0x2003, " " },
	{ 0x2004, " " }, { 0x2005, " " }, { 0x2006, " " }, { 0x2007, " " },
	{ 0x2008, " " }, { 0x2009, " " }, { 0x200A, " " },
	{ 0x200B, "" },    /* zero width space */
	{ 0x2010, "-" }, { 0x2011, "-" }, { 0x2012, "-" }, { 0x2013, "-" },
	{ 0x2014, "-" }, { 0x2015, "-" },
	{ 0x2016, "||" },
	{ 0x2017, "_" },
	{ 0x2018, "'" }, { 0x2019, "'" }, { 0x201A, "'" }, { 0x201B, "'" },
	{ 0x201C, "\"" }, { 0x201D, "\"" }, { 0x201E, "\"" }, { 0x201F, "\"" },
	{ 0x2022, "-" },   /* bullet */
	{ 0x2024, "." },
	{ 0x2025, ".." },
	{ 0x2026, "..." }, /* ellipsis */
	{ 0x2028, "\n" }, { 0x2029, "\n" },
	{ 0x202F, " " },   /* narrow no-break space */
	{ 0x2032, "'" }, { 0x2033, "\"" },
	{ 0x2039, "<" }, { 0x203A, ">" },
	{ 0x2043, "-" },
	{ 0x2044, "/" },
	{ 0x205F, " " },
	{ 0x2060, "" },    /* word joiner */
	{ 0x2212, "-" },   /* minus */
	{ 0x2215, "/" },
	{ 0x2216, "\\" },
	{ 0x2223, "|" },
	{ 0x3000, " " },
	{ 0xFEFF, "" },    /* BOM / zero width no-break space */
	{ 0xFF01, "!" }, { 0xFF02, "\"" }, { 0xFF07, "'" }, { 0xFF08, "(" },
	{ 0xFF09, ")" }, { 0xFF0C, "," }, { 0xFF0D, "-" }, { 0xFF0E, "." },
	{ 0xFF1A, ":" }, { 0xFF1B, ";" }, { 0xFF1F, "?" },
};

const char *
mlc_sms_translit_char(uint32_t cp)
{
	size_t lo = 0, hi = sizeof translit / sizeof translit[0];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (translit[mid].cp == cp)
			return translit[mid].to;
		if (translit[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
mlc_sms_transliterate(const char *in, size_t n, struct mlc_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, run = 0, k;

	while (i < n) {
		uint32_t cp;
		const char *to;

		if (s[i] < 0x80 && s[i] != '\t' && s[i] != '`') {
			i++;
			continue;
		}
		if (!(k = decode(s + i, n - i, &cp))) {
			i++; /* invalid bytes are copied; measuring reports them */
			continue;
		}
		if (!(to = mlc_sms_translit_char(cp))) {
			i += k;
			continue;
		}
		mlc_buf_add(out, in + run, i - run);
		mlc_buf_adds(out, to);
		i += k;
		run = i;
	}
	mlc_buf_add(out, in + run, n - run);
}

int
mlc_sms_suffix(struct mlc_buf *b, const char *const *forms, int n, int keep_segments)
{
	struct mlc_sms_info before, after;
	size_t len = b->len;
	int i;

	mlc_sms_measure(b->p ? b->p : "", b->len, &before);
	for (i = 0; i < n; i++) {
		mlc_buf_adds(b, forms[i]);
		mlc_sms_measure(b->p, b->len, &after);
		if (after.utf16 <= MLC_SMS_MAXCHARS &&
		    (!keep_segments || (after.segments <= before.segments &&
		                        after.encoding == before.encoding)))
			return i;
		b->len = len;
		b->p[len] = '\0';
	}
	return -1;
}
