/*
 * jde.c — JD Edwards conventions and the AIS data service, as pure logic:
 * the data items that hold dates and times, the [source] where-clause
 * syntax turned into AIS query conditions, date literals in the user's date
 * format, Julian (CYYDDD) and HHMMSS decoding, and a strict JSON scanner
 * that reads data-service responses without building a tree.  The tables
 * themselves (keys, time columns) are catalog.c's; Address Book phone
 * numbers become E.164 in addr.c.
 *
 * Why a scanner and not jv: a page is parsed once and each row's bytes are
 * copied to the output as received, so big identifiers and decimals keep
 * their exact text (libjq 1.6 numbers are doubles) and the per-row cost is a
 * single pass over the bytes, with no allocation per value.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

/* ---- data dictionary items ------------------------------------------ */

/* Data dictionary items that hold a Julian date (over AIS: "yyyyMMdd"). */
static const char *const date_aliases[] = {
	"ADDJ", "ASOF", "CDDJ", "CNDJ", "DAJ", "DDJ", "DDNJ", "DGJ", "DICJ", "DIVJ", "DLC", "DOCJ",
	"DRQJ", "DSVJ", "EFDJ", "EFFF", "EFFT", "EFTB", "EFTE", "ENTJ", "IVD", "JCD",
	"LUDJ", "NDTJ", "OPDJ", "OSDJ", "PDDJ", "PEFJ", "PPDJ", "RSDJ", "TRDJ", "UPMJ",
	"URDT", "VDGJ",
};
static const char *const time_aliases[] = { "TDAY", "UPMT" };

static int
in_list(const char *const *v, size_t n, const char *a, size_t an)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == an && memcmp(v[i], a, an) == 0)
			return 1;
	return 0;
}

int
mlc_jde_is_date(const char *alias)
{
	return in_list(date_aliases, sizeof date_aliases / sizeof *date_aliases, alias,
	               strlen(alias));
}

int
mlc_jde_is_time(const char *alias)
{
	return in_list(time_aliases, sizeof time_aliases / sizeof *time_aliases, alias,
	               strlen(alias));
}

/* ---- dates and times -------------------------------------------------- */

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
mdays(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

int
mlc_jde_ymd_ok(long ymd)
{
	int y = (int)(ymd / 10000), m = (int)(ymd / 100 % 100), d = (int)(ymd % 100);

	return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= mdays(y, m);
}

/* Digits by hand: this runs for every date of every row. */
static void
digits(char *out, unsigned long v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
mlc_jde_iso(long ymd, char out[11])
{
	unsigned long v = ymd < 0 ? 0 : (unsigned long)ymd;

	digits(out, v / 10000 % 10000, 4);
	out[4] = '-';
	digits(out + 5, v / 100 % 100, 2);
	out[7] = '-';
	digits(out + 8, v % 100, 2);
	out[10] = '\0';
}

long
mlc_jde_julian(long v)
{
	int y, doy, m;

	if (v <= 0 || v > 8099365)
		return 0;
	y = 1900 + (int)(v / 1000);
	doy = (int)(v % 1000);
	if (doy < 1 || doy > (leap(y) ? 366 : 365))
		return 0;
	for (m = 1; doy > mdays(y, m); m++)
		doy -= mdays(y, m);
	return (long)y * 10000 + m * 100 + doy;
}

long
mlc_jde_parse_ymd(const char *s, size_t n)
{
	long v = 0;

	if (n == 10 && s[4] == '-' && s[7] == '-') {
		for (size_t i = 0; i < 10; i++)
			if (i != 4 && i != 7) {
				if (s[i] < '0' || s[i] > '9')
					return 0;
				v = v * 10 + (s[i] - '0');
			}
	} else if (n == 8) {
		for (size_t i = 0; i < 8; i++) {
			if (s[i] < '0' || s[i] > '9')
				return 0;
			v = v * 10 + (s[i] - '0');
		}
	} else {
		return 0;
	}
	return mlc_jde_ymd_ok(v) ? v : 0;
}

int
mlc_jde_hms(long v, char out[9])
{
	if (v < 0 || v > 235959 || v % 100 > 59 || v / 100 % 100 > 59)
		return -1;
	digits(out, (unsigned long)v / 10000, 2);
	out[2] = ':';
	digits(out + 3, (unsigned long)v / 100 % 100, 2);
	out[5] = ':';
	digits(out + 6, (unsigned long)v % 100, 2);
	out[8] = '\0';
	return 0;
}

int
mlc_jde_datefmt_set(struct mlc_jde_datefmt *f, const char *simple, const char *sep)
{
	char order[4] = "";
	size_t k = 0;
	const char *p;
	char s = 0;

	if (!simple || !*simple)
		return -1;
	for (p = simple; *p && k < 3; p++) {
		char c = *p;

		if (c == 'M' || c == 'd' || c == 'D' || c == 'y' || c == 'Y' || c == 'E') {
			char u = c == 'M' ? 'M' : (c == 'd' || c == 'D') ? 'D' : 'Y';

			if (k == 0 || order[k - 1] != u) {
				if (memchr(order, u, k))
					return -1;
				order[k++] = u;
			}
		} else if (!s && strlen(simple) > 3) {
			s = c;
		}
	}
	order[k] = '\0';
	if (k != 3)
		return -1;
	memcpy(f->order, order, 4);
	f->sep = sep && *sep ? sep[0] : s ? s : '/';
	return 0;
}

void
mlc_jde_date_literal(const struct mlc_jde_datefmt *f, long ymd, char out[16])
{
	unsigned long v = ymd < 0 ? 0 : (unsigned long)ymd;
	char *o = out;
	int i;

	for (i = 0; i < 3; i++) {
		if (i)
			*o++ = f->sep;
		switch (f->order[i]) {
		case 'Y': digits(o, v / 10000 % 10000, 4); o += 4; break;
		case 'M': digits(o, v / 100 % 100, 2); o += 2; break;
		default: digits(o, v % 100, 2); o += 2; break;
		}
	}
	*o = '\0';
}

/* ---- where conditions ------------------------------------------------- */

static const struct {
	const char *word, *ais;
	int nv; /* -1: one or more; -2: exactly two */
} ops[] = {
	{ "=", "EQUAL", 1 }, { "!=", "NOT_EQUAL", 1 }, { "<", "LESS", 1 },
	{ "<=", "LESS_EQUAL", 1 }, { ">", "GREATER", 1 }, { ">=", "GREATER_EQUAL", 1 },
	{ "between", "BETWEEN", -2 }, { "in", "LIST", -1 },
	{ "starts-with", "STR_START_WITH", 1 }, { "ends-with", "STR_END_WITH", 1 },
	{ "contains", "STR_CONTAIN", 1 }, { "blank", "STR_BLANK", 0 },
	{ "not-blank", "STR_NOT_BLANK", 0 },
};

/* One token: a "quoted string" (\" and \\ escapes) or a run of non-blanks. */
static const char *
token(const char *p, struct mlc_buf *t, int *quoted, char *err, size_t errlen)
{
	mlc_buf_reset(t);
	*quoted = 0;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (!*p)
		return NULL;
	if (*p == '"') {
		*quoted = 1;
		for (p++; *p != '"'; p++) {
			if (!*p) {
				snprintf(err, errlen, "unterminated quoted string");
				return NULL;
			}
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			mlc_buf_addc(t, *p);
		}
		return p + 1;
	}
	while (*p && *p != ' ' && *p != '\t' && *p != '\n')
		mlc_buf_addc(t, *p++);
	return p;
}

static int
parse_value(const char *s, int quoted, struct mlc_jde_val *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof *v);
	v->special = "LITERAL";
	if (!quoted && strncmp(s, "today", 5) == 0) {
		const char *p = s + 5;
		char *end;
		long n;
		int minus;

		if (!*p) {
			v->special = "TODAY";
			v->content = mlc_xstrdup("0");
			return 0;
		}
		if (*p != '-' && *p != '+')
			goto bad;
		minus = *p++ == '-';
		if (!(*p >= '0' && *p <= '9'))
			goto bad;
		n = strtol(p, &end, 10);
		if (n > 100000)
			goto bad;
		if (!*end || strcmp(end, "d") == 0)
			v->special = minus ? "TODAY_MINUS_DAY" : "TODAY_PLUS_DAY";
		else if (strcmp(end, "m") == 0)
			v->special = minus ? "TODAY_MINUS_MONTH" : "TODAY_PLUS_MONTH";
		else if (strcmp(end, "y") == 0)
			v->special = minus ? "TODAY_MINUS_YEAR" : "TODAY_PLUS_YEAR";
		else
			goto bad;
		v->content = mlc_xmalloc(24);
		snprintf(v->content, 24, "%ld", n);
		return 0;
bad:
		snprintf(err, errlen, "bad relative date \"%s\" (today, today-N, today+N, "
		         "today-Nm, today-Ny)", s);
		return -1;
	}
	if (!quoted && strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		if (!(v->ymd = mlc_jde_parse_ymd(s, 10))) {
			snprintf(err, errlen, "bad date \"%s\" (YYYY-MM-DD)", s);
			return -1;
		}
	}
	v->content = mlc_xstrdup(s);
	return 0;
}

int
mlc_jde_cond_parse(const char *text, struct mlc_jde_cond *c, char *err, size_t errlen)
{
	struct mlc_buf t;
	const char *p = text;
	int quoted, want = 0;
	size_t i, k;
	char e2[160] = "";

	memset(c, 0, sizeof *c);
	mlc_buf_init(&t);
	if (!(p = token(p, &t, &quoted, e2, sizeof e2)) || quoted) {
		snprintf(err, errlen, "condition \"%s\": expected a column first", text);
		goto fail;
	}
	{
		const char *col = strchr(t.p, '.') ? strchr(t.p, '.') + 1 : t.p;

		if (!*col || strlen(col) > 12)
			goto badcol;
		for (k = 0; col[k]; k++)
			if (!((col[k] >= 'A' && col[k] <= 'Z') || (col[k] >= '0' && col[k] <= '9') ||
			      col[k] == '$' || col[k] == '#' || col[k] == '@'))
				goto badcol;
		c->column = mlc_xstrdup(col);
	}
	if (!(p = token(p, &t, &quoted, e2, sizeof e2)) || quoted) {
		snprintf(err, errlen, "condition \"%s\": expected an operator after %s", text,
		         c->column);
		goto fail;
	}
	for (i = 0; i < sizeof ops / sizeof *ops; i++)
		if (strcmp(t.p, ops[i].word) == 0 || strcmp(t.p, ops[i].ais) == 0)
			break;
	if (i == sizeof ops / sizeof *ops) {
		snprintf(err, errlen, "condition \"%s\": unknown operator \"%s\" (= != < <= > >= "
		         "between in starts-with ends-with contains blank not-blank)", text, t.p);
		goto fail;
	}
	c->op = ops[i].ais;
	want = ops[i].nv;
	e2[0] = '\0';
	while ((p = token(p, &t, &quoted, e2, sizeof e2))) {
		c->v = mlc_xrealloc(c->v, (c->nv + 1) * sizeof *c->v);
		if (parse_value(t.p, quoted, &c->v[c->nv], e2, sizeof e2) < 0) {
			snprintf(err, errlen, "condition \"%s\": %s", text, e2);
			goto fail;
		}
		c->nv++;
	}
	if (e2[0]) {
		snprintf(err, errlen, "condition \"%s\": %s", text, e2);
		goto fail;
	}
	if ((want >= 0 && c->nv != (size_t)want) || (want == -2 && c->nv != 2) ||
	    (want == -1 && c->nv < 1)) {
		snprintf(err, errlen, "condition \"%s\": %s takes %s", text, ops[i].word,
		         want == 0 ? "no value" : want == 1 ? "one value" :
		         want == -2 ? "two values" : "one or more values");
		goto fail;
	}
	mlc_buf_free(&t);
	return 0;
badcol:
	snprintf(err, errlen, "condition \"%s\": bad column \"%s\" (a JDE alias such as DDJ)",
	         text, t.p);
fail:
	mlc_buf_free(&t);
	mlc_jde_cond_free(c);
	return -1;
}

void
mlc_jde_cond_free(struct mlc_jde_cond *c)
{
	for (size_t i = 0; i < c->nv; i++)
		free(c->v[i].content);
	free(c->v);
	free(c->column);
	memset(c, 0, sizeof *c);
}

void
mlc_jde_cond_json(struct mlc_buf *b, const char *table, const struct mlc_jde_cond *c,
                  const struct mlc_jde_datefmt *f)
{
	mlc_buf_adds(b, "{\"controlId\":");
	{
		char id[64];

		snprintf(id, sizeof id, "%s.%s", table, c->column);
		mlc_buf_json_str(b, id, strlen(id));
	}
	mlc_buf_adds(b, ",\"operator\":\"");
	mlc_buf_adds(b, c->op);
	mlc_buf_adds(b, "\",\"value\":[");
	for (size_t i = 0; i < c->nv; i++) {
		const char *content = c->v[i].content;
		char lit[16];

		if (c->v[i].ymd) {
			mlc_jde_date_literal(f, c->v[i].ymd, lit);
			content = lit;
		}
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, "{\"content\":");
		mlc_buf_json_str(b, content, strlen(content));
		mlc_buf_adds(b, ",\"specialValueId\":\"");
		mlc_buf_adds(b, c->v[i].special);
		mlc_buf_adds(b, "\"}");
	}
	mlc_buf_adds(b, "]}");
}

/* ---- the JSON scanner ------------------------------------------------- */

struct scan {
	const char *base, *end;
	const char *errp;
	const char *why;
};

static const char *
fail(struct scan *s, const char *p, const char *why)
{
	if (!s->errp) {
		s->errp = p;
		s->why = p >= s->end ? "the body ends in the middle of a JSON value" : why;
	}
	return NULL;
}

static const char *
ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* p at '"'; returns the position after the closing quote. *esc: it holds
 * escapes (the decoded text differs from the bytes). */
static const char *
scan_string(struct scan *s, const char *p, int *esc)
{
	const char *e = s->end, *start = p + 1;
	int high = 0;

	*esc = 0;
	for (p++; p < e; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			if (high && !mlc_utf8_valid(start, (size_t)(p - start)))
				return fail(s, start, "invalid UTF-8 in a string");
			return p + 1;
		}
		if (c < 0x20)
			return fail(s, p, "control character in a string");
		if (c >= 0x80)
			high = 1;
		if (c == '\\') {
			*esc = 1;
			if (++p >= e)
				break;
			if (*p == 'u') {
				if (e - p < 5 || mlc_hexval(p[1]) < 0 || mlc_hexval(p[2]) < 0 || mlc_hexval(p[3]) < 0 ||
				    mlc_hexval(p[4]) < 0)
					return fail(s, p, "bad \\u escape");
				p += 4;
			} else if (!strchr("\"\\/bfnrt", *p)) {
				return fail(s, p, "bad escape in a string");
			}
		}
	}
	return fail(s, e, "");
}

static const char *
scan_number(struct scan *s, const char *p)
{
	const char *e = s->end, *q = p;

	if (q < e && *q == '-')
		q++;
	if (q < e && *q == '0')
		q++;
	else if (q < e && *q >= '1' && *q <= '9')
		while (q < e && *q >= '0' && *q <= '9')
			q++;
	else
		return fail(s, q, "bad number");
	if (q < e && *q == '.') {
		q++;
		if (!(q < e && *q >= '0' && *q <= '9'))
			return fail(s, q, "bad number");
		while (q < e && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < e && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < e && (*q == '+' || *q == '-'))
			q++;
		if (!(q < e && *q >= '0' && *q <= '9'))
			return fail(s, q, "bad number");
		while (q < e && *q >= '0' && *q <= '9')
			q++;
	}
	if (q >= e)
		return fail(s, q, "");
	return q;
}

static const char *scan_value(struct scan *s, const char *p, int depth);

static const char *
scan_object(struct scan *s, const char *p, int depth)
{
	const char *e = s->end;
	int esc;

	p = ws(p + 1, e);
	if (p < e && *p == '}')
		return p + 1;
	for (;;) {
		if (p >= e || *p != '"')
			return fail(s, p, "expected a member name");
		if (!(p = scan_string(s, p, &esc)))
			return NULL;
		p = ws(p, e);
		if (p >= e || *p != ':')
			return fail(s, p, "expected ':'");
		if (!(p = scan_value(s, ws(p + 1, e), depth + 1)))
			return NULL;
		p = ws(p, e);
		if (p < e && *p == '}')
			return p + 1;
		if (p >= e || *p != ',')
			return fail(s, p, "expected ',' or '}'");
		p = ws(p + 1, e);
	}
}

static const char *
scan_array(struct scan *s, const char *p, int depth)
{
	const char *e = s->end;

	p = ws(p + 1, e);
	if (p < e && *p == ']')
		return p + 1;
	for (;;) {
		if (!(p = scan_value(s, p, depth + 1)))
			return NULL;
		p = ws(p, e);
		if (p < e && *p == ']')
			return p + 1;
		if (p >= e || *p != ',')
			return fail(s, p, "expected ',' or ']'");
		p = ws(p + 1, e);
	}
}

static const char *
scan_lit(struct scan *s, const char *p, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - p) < n)
		return fail(s, s->end, "");
	if (memcmp(p, lit, n) != 0)
		return fail(s, p, "unexpected character");
	return p + n;
}

static const char *
scan_value(struct scan *s, const char *p, int depth)
{
	int esc;

	if (depth > 64)
		return fail(s, p, "nested too deeply");
	if (p >= s->end)
		return fail(s, p, "");
	switch (*p) {
	case '{': return scan_object(s, p, depth);
	case '[': return scan_array(s, p, depth);
	case '"': return scan_string(s, p, &esc);
	case 't': return scan_lit(s, p, "true");
	case 'f': return scan_lit(s, p, "false");
	case 'n': return scan_lit(s, p, "null");
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9'))
			return scan_number(s, p);
		return fail(s, p, "unexpected character");
	}
}

static void
put_utf8(struct mlc_buf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		mlc_buf_addc(b, (char)cp);
		return;
	}
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		mlc_buf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		mlc_buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		mlc_buf_add(b, u, 4);
	}
}

int
mlc_jde_json_string(const char *v, size_t n, struct mlc_buf *b)
{
	const char *p, *e;

	if (n < 2 || v[0] != '"' || v[n - 1] != '"')
		return -1;
	e = v + n - 1;
	for (p = v + 1; p < e; p++) {
		const char *q = p;

		while (q < e && *q != '\\')
			q++;
		mlc_buf_add(b, p, (size_t)(q - p));
		if ((p = q) >= e)
			break;
		p++;
		switch (*p) {
		case 'b': mlc_buf_addc(b, '\b'); break;
		case 'f': mlc_buf_addc(b, '\f'); break;
		case 'n': mlc_buf_addc(b, '\n'); break;
		case 'r': mlc_buf_addc(b, '\r'); break;
		case 't': mlc_buf_addc(b, '\t'); break;
		case 'u': {
			unsigned long cp = 0, lo = 0;

			if (e - p < 5)
				return -1;
			for (int i = 1; i <= 4; i++)
				cp = cp << 4 | (unsigned long)mlc_hexval(p[i]);
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 7 && p[1] == '\\' && p[2] == 'u') {
				for (int i = 3; i <= 6; i++)
					lo = lo << 4 | (unsigned long)mlc_hexval(p[i]);
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if ((cp >= 0xd800 && cp < 0xe000) || cp == 0)
				cp = 0xfffd;
			put_utf8(b, cp);
			break;
		}
		default: mlc_buf_addc(b, *p); break;
		}
	}
	return 0;
}

/* The bytes of set cut from both ends of b. */
static void
buf_trim(struct mlc_buf *b, const char *set)
{
	size_t lead;

	while (b->len && b->p[b->len - 1] && strchr(set, b->p[b->len - 1]))
		b->p[--b->len] = '\0';
	lead = strspn(b->p, set);
	memmove(b->p, b->p + lead, b->len - lead + 1);
	b->len -= lead;
}

int
mlc_jde_member_str(const char *obj, size_t n, const char *name, const char *trim,
                   struct mlc_buf *b)
{
	const char *v;
	size_t vn;

	mlc_buf_reset(b);
	if (!mlc_jde_json_member(obj, n, name, &v, &vn) || !vn || *v != '"' ||
	    mlc_jde_json_string(v, vn, b) < 0)
		return 0;
	buf_trim(b, trim);
	return 1;
}

/* Member iteration over a validated object: *p is after '{' or after a
 * previous value.  Returns 1 with the name and value spans, 0 at '}'. */
static int
member(const char **p, const char *e, const char **k, size_t *kn, const char **v, size_t *vn)
{
	struct scan s = { NULL, e, NULL, NULL };
	const char *q = ws(*p, e);
	int esc;

	if (q < e && *q == ',')
		q = ws(q + 1, e);
	if (q >= e || *q != '"')
		return 0;
	*k = q;
	if (!(q = scan_string(&s, q, &esc)))
		return 0;
	*kn = (size_t)(q - *k);
	q = ws(q, e);
	q = ws(q + 1, e); /* ':' */
	*v = q;
	if (!(q = scan_value(&s, q, 0)))
		return 0;
	*vn = (size_t)(q - *v);
	*p = q;
	return 1;
}

static int
key_is(const char *k, size_t kn, const char *name)
{
	size_t n = strlen(name);

	return kn == n + 2 && memcmp(k + 1, name, n) == 0;
}

int
mlc_jde_json_member(const char *obj, size_t n, const char *name, const char **v,
                    size_t *vn)
{
	const char *p = ws(obj, obj + n), *e = obj + n, *k;
	size_t kn;

	if (p >= e || *p != '{')
		return 0;
	p++;
	while (member(&p, e, &k, &kn, v, vn))
		if (key_is(k, kn, name))
			return 1;
	return 0;
}

static int
span_true(const char *v, size_t vn)
{
	return vn == 4 && memcmp(v, "true", 4) == 0;
}

/* A scalar's text into out: a string decoded, a number as written; ""
 * for anything else or when it does not fit. */
static void
span_text(const char *v, size_t vn, char *out, size_t outlen)
{
	struct mlc_buf t;

	out[0] = '\0';
	if (*v == '"') {
		mlc_buf_init(&t);
		if (mlc_jde_json_string(v, vn, &t) == 0 && t.len < outlen && !memchr(t.p, '\0', t.len))
			memcpy(out, t.p, t.len + 1);
		mlc_buf_free(&t);
	} else if ((*v == '-' || (*v >= '0' && *v <= '9')) && vn < outlen) {
		memcpy(out, v, vn);
		out[vn] = '\0';
	}
}

/* First item of an errors/sysErrors array as one message. */
static void
error_items(const char *v, size_t vn, struct mlc_jde_page *pg)
{
	const char *p = v + 1, *e = v + vn - 1;
	struct scan s = { NULL, e, NULL, NULL };

	if (vn < 2 || *v != '[')
		return;
	for (;;) {
		const char *item, *q;

		p = ws(p, e);
		if (p < e && *p == ',')
			p = ws(p + 1, e);
		if (p >= e)
			break;
		item = p;
		if (!(q = scan_value(&s, p, 0)))
			break;
		pg->nerrors++;
		if (!pg->error) {
			struct mlc_buf m;
			static const char *const f[] = { "CODE", "TITLE", "DESC", "message" };

			mlc_buf_init(&m);
			for (size_t i = 0; i < 4; i++) {
				const char *fv;
				size_t fn;
				struct mlc_buf t;

				if (!mlc_jde_json_member(item, (size_t)(q - item), f[i], &fv, &fn))
					continue;
				mlc_buf_init(&t);
				if (mlc_jde_json_string(fv, fn, &t) == 0) {
					char *a = t.p;
					size_t an = t.len;

					while (an && (*a == ' '))
						a++, an--;
					while (an && a[an - 1] == ' ')
						an--;
					/* TITLE and DESC often repeat each other. */
					if (an && !(m.len && m.len >= an && strstr(m.p, a) && an == strlen(a))) {
						if (m.len)
							mlc_buf_adds(&m, ": ");
						mlc_buf_add(&m, a, an);
					}
				}
				mlc_buf_free(&t);
			}
			if (!m.len)
				mlc_buf_adds(&m, "(an error without a message)");
			pg->error = m.p;
		}
		p = q;
	}
}

int
mlc_jde_page_parse(const char *body, size_t n, struct mlc_jde_page *pg, char *err,
                   size_t errlen)
{
	struct scan s = { body, body + n, NULL, NULL };
	const char *p, *end, *k, *v;
	size_t kn, vn;

	memset(pg, 0, sizeof *pg);
	pg->records = -1;
	p = ws(body, body + n);
	if (p >= s.end || *p != '{') {
		snprintf(err, errlen, "%s", p >= s.end ? "empty response body" :
		         "the response body is not a JSON object");
		return -1;
	}
	end = scan_value(&s, p, 0);
	if (end && ws(end, s.end) != s.end)
		end = fail(&s, ws(end, s.end), "text after the JSON value");
	if (!end) {
		snprintf(err, errlen, "malformed JSON at byte %zu of %zu: %s",
		         (size_t)(s.errp - body), n, s.why);
		return -1;
	}
	p++;
	while (member(&p, end, &k, &kn, &v, &vn)) {
		if (kn > 16 && memcmp(k, "\"fs_DATABROWSE_", 15) == 0 && !pg->target[0] && *v == '{') {
			const char *d, *g, *x;
			size_t dn, gn, xn;

			snprintf(pg->target, sizeof pg->target, "%.*s", (int)(kn - 16), k + 15);
			pg->found = 1;
			if (mlc_jde_json_member(v, vn, "data", &d, &dn) &&
			    mlc_jde_json_member(d, dn, "gridData", &g, &gn)) {
				if (mlc_jde_json_member(g, gn, "rowset", &x, &xn) && *x == '[') {
					pg->rowset = x;
					pg->rowset_len = xn;
				}
				if (mlc_jde_json_member(g, gn, "fullGridId", &x, &xn))
					span_text(x, xn, pg->grid_id, sizeof pg->grid_id);
				if (mlc_jde_json_member(g, gn, "summary", &x, &xn)) {
					const char *y;
					size_t yn;

					if (mlc_jde_json_member(x, xn, "records", &y, &yn))
						pg->records = strtol(y, NULL, 10);
					if (mlc_jde_json_member(x, xn, "moreRecords", &y, &yn))
						pg->more = span_true(y, yn);
				}
			}
			if (mlc_jde_json_member(v, vn, "errors", &x, &xn))
				error_items(x, xn, pg);
		} else if (key_is(k, kn, "sysErrors")) {
			error_items(v, vn, pg);
		} else if (key_is(k, kn, "stackId")) {
			span_text(v, vn, pg->stack_id, sizeof pg->stack_id);
		} else if (key_is(k, kn, "stateId")) {
			span_text(v, vn, pg->state_id, sizeof pg->state_id);
		} else if (key_is(k, kn, "rid")) {
			span_text(v, vn, pg->rid, sizeof pg->rid);
		} else if (key_is(k, kn, "links") && *v == '[') {
			const char *q = v + 1, *qe = v + vn - 1;
			struct scan s2 = { NULL, qe, NULL, NULL };

			for (;;) {
				const char *item, *r, *h;
				size_t rn, hn;

				q = ws(q, qe);
				if (q < qe && *q == ',')
					q = ws(q + 1, qe);
				if (q >= qe || !(r = scan_value(&s2, q, 0)))
					break;
				item = q;
				q = r;
				if (!pg->next && mlc_jde_json_member(item, (size_t)(q - item), "rel", &r, &rn) &&
				    rn == 6 && memcmp(r, "\"next\"", 6) == 0 &&
				    mlc_jde_json_member(item, (size_t)(q - item), "href", &h, &hn)) {
					struct mlc_buf b;

					mlc_buf_init(&b);
					if (mlc_jde_json_string(h, hn, &b) == 0)
						pg->next = b.p;
					else
						mlc_buf_free(&b);
				}
			}
		}
	}
	return 0;
}

void
mlc_jde_page_free(struct mlc_jde_page *pg)
{
	free(pg->next);
	free(pg->error);
	memset(pg, 0, sizeof *pg);
}

int
mlc_jde_page_row(const struct mlc_jde_page *pg, size_t *pos, const char **row, size_t *rowlen)
{
	const char *b = pg->rowset, *e, *p, *q;
	struct scan s;

	if (!b || pg->rowset_len < 2)
		return 0;
	e = b + pg->rowset_len - 1;
	s.base = b;
	s.end = e;
	s.errp = NULL;
	p = ws(b + (*pos ? *pos : 1), e);
	if (p < e && *p == ',')
		p = ws(p + 1, e);
	if (p >= e)
		return 0;
	if (*p != '{')
		return -1;
	if (!(q = scan_object(&s, p, 1)))
		return -1;
	*row = p;
	*rowlen = (size_t)(q - p);
	*pos = (size_t)(q - b);
	return 1;
}

/* ---- positions in an ordered read ------------------------------------- */

/* Business-unit items: stored right-justified (blank-padded on the left),
 * so the database orders them by length first. */
static const char *const bu_aliases[] = { "EMCU", "MCU", "MCUZ", "MMCU" };

int
mlc_jde_is_bu(const char *alias)
{
	return in_list(bu_aliases, sizeof bu_aliases / sizeof *bu_aliases, alias, strlen(alias));
}

void
mlc_jde_pos_init(struct mlc_jde_pos *p)
{
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < MLC_JDE_MAXPOS; i++)
		mlc_buf_init(&p->v[i].raw);
}

void
mlc_jde_pos_free(struct mlc_jde_pos *p)
{
	for (size_t i = 0; i < MLC_JDE_MAXPOS; i++)
		mlc_buf_free(&p->v[i].raw);
	p->n = 0;
}

void
mlc_jde_pos_copy(struct mlc_jde_pos *dst, const struct mlc_jde_pos *src)
{
	dst->n = src->n;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i].kind = src->v[i].kind;
		dst->v[i].bu = src->v[i].bu;
		dst->v[i].num = src->v[i].num;
		mlc_buf_reset(&dst->v[i].raw);
		mlc_buf_add(&dst->v[i].raw, src->v[i].raw.p, src->v[i].raw.len);
	}
}

int
mlc_jde_pos_read(struct mlc_jde_pos *p, const char *table, const char *const *cols, size_t n,
                 const char *row, size_t rowlen, char *err, size_t errlen)
{
	char name[80];

	p->n = 0;
	if (n > MLC_JDE_MAXPOS) {
		snprintf(err, errlen, "more than %d order columns", MLC_JDE_MAXPOS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct mlc_jde_posval *pv = &p->v[i];
		const char *v;
		size_t vn;

		snprintf(name, sizeof name, "%s_%s", table, cols[i]);
		if (!mlc_jde_json_member(row, rowlen, name, &v, &vn)) {
			snprintf(err, errlen, "row has no column %s", name);
			return -1;
		}
		mlc_buf_reset(&pv->raw);
		pv->bu = mlc_jde_is_bu(cols[i]);
		pv->num = 0;
		if (*v == 'n') {
			pv->kind = 0;
		} else if (*v == '"') {
			pv->kind = 2;
			mlc_jde_json_string(v, vn, &pv->raw);
		} else if (*v == '-' || (*v >= '0' && *v <= '9')) {
			pv->kind = 1;
			mlc_buf_add(&pv->raw, v, vn);
			pv->num = strtod(pv->raw.p, NULL);
		} else {
			snprintf(err, errlen, "column %s is not a number, string or null", name);
			return -1;
		}
	}
	p->n = n;
	return 0;
}

/* s[0..*n) without the blanks the database does not compare. */
static const char *
cmp_span(const struct mlc_jde_posval *v, size_t *n)
{
	const char *s = v->raw.p;

	*n = v->raw.len;
	while (*n && s[*n - 1] == ' ')
		(*n)--;
	if (v->bu)
		while (*n && *s == ' ')
			s++, (*n)--;
	return s;
}

int
mlc_jde_pos_cmp(const struct mlc_jde_pos *a, const struct mlc_jde_pos *b)
{
	size_t n = a->n < b->n ? a->n : b->n;

	for (size_t i = 0; i < n; i++) {
		const struct mlc_jde_posval *x = &a->v[i], *y = &b->v[i];

		if (x->kind != y->kind)
			return x->kind < y->kind ? -1 : 1;
		if (x->kind == 1 && x->num != y->num)
			return x->num < y->num ? -1 : 1;
		if (x->kind == 2) {
			size_t xn, yn, m;
			const char *xs = cmp_span(x, &xn), *ys = cmp_span(y, &yn);
			int r;

			if (x->bu && xn != yn)
				return xn < yn ? -1 : 1;
			m = xn < yn ? xn : yn;
			if ((r = memcmp(xs, ys, m)) != 0)
				return r < 0 ? -1 : 1;
			if (xn != yn)
				return xn < yn ? -1 : 1;
		}
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

void
mlc_jde_orderby_json(struct mlc_buf *b, const char *table, const char *const *cols, size_t n)
{
	mlc_buf_adds(b, "\"aggregation\":{\"orderBy\":[");
	for (size_t i = 0; i < n; i++) {
		char id[80];

		snprintf(id, sizeof id, "%s.%s", table, cols[i]);
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, "{\"column\":");
		mlc_buf_json_str(b, id, strlen(id));
		mlc_buf_adds(b, ",\"direction\":\"ASC\"}");
	}
	mlc_buf_adds(b, "]}");
}

/* One condition "col OP value" on a position value; op is EQUAL, GREATER
 * or GREATER_EQUAL.  0, or -1 for "GREATER_EQUAL null" (always true). */
static int
after_cond(struct mlc_buf *b, const char *table, const char *col, const struct mlc_jde_posval *v,
           const char *op, const struct mlc_jde_datefmt *df)
{
	char id[80], lit[16];
	const char *content = v->raw.p;

	if (v->kind == 0) {
		/* A blank date or value is the smallest. */
		if (strcmp(op, "GREATER_EQUAL") == 0)
			return -1;
		op = strcmp(op, "EQUAL") == 0 ? "STR_BLANK" : "STR_NOT_BLANK";
		content = NULL;
	} else if (v->kind == 2 && mlc_jde_is_date(col)) {
		long ymd = mlc_jde_parse_ymd(v->raw.p, v->raw.len);

		if (ymd) {
			mlc_jde_date_literal(df, ymd, lit);
			content = lit;
		}
	}
	snprintf(id, sizeof id, "%s.%s", table, col);
	mlc_buf_adds(b, "{\"controlId\":");
	mlc_buf_json_str(b, id, strlen(id));
	mlc_buf_printf(b, ",\"operator\":\"%s\",\"value\":[", op);
	if (content) {
		mlc_buf_adds(b, "{\"content\":");
		mlc_buf_json_str(b, content, strlen(content));
		mlc_buf_adds(b, ",\"specialValueId\":\"LITERAL\"}");
	}
	mlc_buf_adds(b, "]}");
	return 0;
}

int
mlc_jde_after_cond(struct mlc_buf *b, const char *table, const char *const *cols,
                   const struct mlc_jde_pos *p, const struct mlc_jde_datefmt *df, int form)
{
	size_t start = b->len;

	if (!(form == 1 || p->n == 1))
		return -1;
	if (after_cond(b, table, cols[0], &p->v[0], form == 1 ? "GREATER_EQUAL" : "GREATER",
	               df) < 0) {
		b->len = start;
		b->p[start] = '\0';
		return -1;
	}
	return 0;
}

int
mlc_jde_after_json(struct mlc_buf *b, const char *table, const char *const *cols,
                   const struct mlc_jde_pos *p, const struct mlc_jde_datefmt *df, int form)
{
	size_t n = p->n, start = b->len;

	if (form == 1 || n == 1) {
		mlc_buf_adds(b, "{\"matchType\":\"MATCH_ALL\",\"condition\":[");
		if (mlc_jde_after_cond(b, table, cols, p, df, form) < 0) {
			b->len = start;
			b->p[start] = '\0';
			return -1;
		}
		mlc_buf_adds(b, "]}");
		return 0;
	}
	/* c1 > v1 OR (c1 = v1 AND c2 > v2) OR ... (c1 = v1 AND ... AND cn > vn) */
	mlc_buf_adds(b, "{\"matchType\":\"MATCH_ANY\",\"complexQuery\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, "{\"andOr\":\"OR\",\"query\":{\"matchType\":\"MATCH_ALL\",\"condition\":[");
		for (size_t k = 0; k <= i; k++) {
			if (k)
				mlc_buf_addc(b, ',');
			after_cond(b, table, cols[k], &p->v[k], k < i ? "EQUAL" : "GREATER", df);
		}
		mlc_buf_adds(b, "]}}");
	}
	mlc_buf_adds(b, "]}");
	return 0;
}

/* ---- one row as a record line ----------------------------------------- */

void
mlc_jde_rowinfo_init(struct mlc_jde_rowinfo *ri)
{
	memset(ri, 0, sizeof *ri);
	mlc_buf_init(&ri->key);
	mlc_buf_init(&ri->dates);
	mlc_buf_init(&ri->times);
	mlc_buf_init(&ri->trim);
	mlc_buf_init(&ri->tmp);
	for (size_t i = 0; i < MLC_JDE_MAXKEY; i++)
		mlc_buf_init(&ri->part[i]);
}

void
mlc_jde_rowinfo_free(struct mlc_jde_rowinfo *ri)
{
	mlc_buf_free(&ri->key);
	mlc_buf_free(&ri->dates);
	mlc_buf_free(&ri->times);
	mlc_buf_free(&ri->trim);
	mlc_buf_free(&ri->tmp);
	for (size_t i = 0; i < MLC_JDE_MAXKEY; i++)
		mlc_buf_free(&ri->part[i]);
}

/* Copy a validated JSON value without insignificant white space. */
static void
compact(struct mlc_buf *b, const char *v, size_t n)
{
	const char *p = v, *e = v + n, *run = v;
	int instr = 0;

	for (; p < e; p++) {
		if (instr) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				instr = 0;
		} else if (*p == '"') {
			instr = 1;
		} else if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
			mlc_buf_add(b, run, (size_t)(p - run));
			run = p + 1;
		}
	}
	mlc_buf_add(b, run, (size_t)(e - run));
}

static void
field_sep(struct mlc_buf *b)
{
	if (b->len)
		mlc_buf_addc(b, ',');
}

/* A JSON value span as an integer; 1 if it is one (number or digit string). */
static int
span_long(const char *v, size_t n, long *out)
{
	long x = 0;
	size_t i = 0;

	if (n && v[0] == '"') {
		v++;
		n -= 2;
		while (n && *v == ' ')
			v++, n--;
		while (n && v[n - 1] == ' ')
			n--;
	}
	if (n == 0 || n > 12)
		return 0;
	for (; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 1;
}

/* The alias a column name stands for: F0411_DOC is DOC (the table's own
 * prefix, or any one before a "_"). */
static void
col_alias(const struct mlc_jde_fmt *f, size_t tl, const char **a, size_t *an)
{
	if (*an > tl + 1 && memcmp(*a, f->table, tl) == 0 && (*a)[tl] == '_') {
		*a += tl + 1;
		*an -= tl + 1;
	} else {
		const char *u = memchr(*a, '_', *an);

		if (u) {
			*an -= (size_t)(u + 1 - *a);
			*a = u + 1;
		}
	}
}

/* A key column: its value, blanks trimmed, becomes its part of the key. */
static void
col_key(const struct mlc_jde_fmt *f, struct mlc_jde_rowinfo *ri, unsigned long *have,
        const char *a, size_t an, const char *v, size_t vn)
{
	size_t i;

	for (i = 0; i < f->nkey; i++) {
		struct mlc_buf *pt = &ri->part[i];

		if ((*have & (1ul << i)) || strlen(f->key[i]) != an || memcmp(f->key[i], a, an) != 0)
			continue;
		*have |= 1ul << i;
		mlc_buf_reset(pt);
		if (*v == '"') {
			mlc_jde_json_string(v, vn, pt);
			buf_trim(pt, " \t");
		} else if (*v != 'n') {
			mlc_buf_add(pt, v, vn);
		}
	}
}

/* A date column (Julian CYYDDD or a date string): its ISO date in "dates",
 * and the watermark's date when it is the watermark column. */
static void
col_date(const struct mlc_jde_fmt *f, struct mlc_jde_rowinfo *ri, const char *a, size_t an,
         const char *v, size_t vn)
{
	long ymd = 0, x;
	char iso[11];

	if (*v == 'n') {
		ymd = 0;
	} else if (*v == '"') {
		const char *s = v + 1;
		size_t sn = vn - 2;

		while (sn && *s == ' ')
			s++, sn--;
		while (sn && s[sn - 1] == ' ')
			sn--;
		if (sn == 0 || (sn == 1 && *s == '0'))
			ymd = 0;
		else if (!(ymd = mlc_jde_parse_ymd(s, sn)))
			return;
	} else if (span_long(v, vn, &x)) {
		if (x != 0 && !(ymd = mlc_jde_julian(x)))
			return;
	} else {
		return;
	}
	field_sep(&ri->dates);
	mlc_buf_addc(&ri->dates, '"');
	mlc_buf_add(&ri->dates, a, an);
	mlc_buf_adds(&ri->dates, "\":");
	if (ymd) {
		mlc_jde_iso(ymd, iso);
		mlc_buf_addc(&ri->dates, '"');
		mlc_buf_add(&ri->dates, iso, 10);
		mlc_buf_addc(&ri->dates, '"');
	} else {
		mlc_buf_adds(&ri->dates, "null");
	}
	if (f->wm_date && strlen(f->wm_date) == an && memcmp(f->wm_date, a, an) == 0) {
		ri->wm_date = ymd;
		ri->has_wm = ymd != 0;
	}
}

/* A time column (HHMMSS): its "HH:MM:SS" in "times", and the watermark's
 * time (the raw number, even when it is no valid time) when it is the
 * watermark column. */
static void
col_time(const struct mlc_jde_fmt *f, struct mlc_jde_rowinfo *ri, const char *a, size_t an,
         const char *v, size_t vn)
{
	long x = 0;
	char hms[9];
	int ok;

	if (*v != 'n' && !span_long(v, vn, &x))
		return;
	ok = *v != 'n' && mlc_jde_hms(x, hms) == 0;
	if (*v == 'n' || ok) {
		field_sep(&ri->times);
		mlc_buf_addc(&ri->times, '"');
		mlc_buf_add(&ri->times, a, an);
		mlc_buf_adds(&ri->times, "\":");
		if (ok) {
			mlc_buf_addc(&ri->times, '"');
			mlc_buf_adds(&ri->times, hms);
			mlc_buf_addc(&ri->times, '"');
		} else {
			mlc_buf_adds(&ri->times, "null");
		}
	}
	if (*v != 'n' && x <= 999999 && f->wm_time && strlen(f->wm_time) == an &&
	    memcmp(f->wm_time, a, an) == 0)
		ri->wm_time = x;
}

/* A string with blanks around it: the trimmed value in "trim". */
static void
col_trim(struct mlc_jde_rowinfo *ri, const char *a, size_t an, const char *v, size_t vn)
{
	const char *s = v + 1;
	size_t sn = vn - 2;

	if (*v != '"' || vn <= 2 ||
	    !(v[1] == ' ' || v[1] == '\t' || v[vn - 2] == ' ' || v[vn - 2] == '\t'))
		return;
	while (sn && (*s == ' ' || *s == '\t'))
		s++, sn--;
	while (sn && (s[sn - 1] == ' ' || s[sn - 1] == '\t'))
		sn--;
	field_sep(&ri->trim);
	mlc_buf_addc(&ri->trim, '"');
	mlc_buf_add(&ri->trim, a, an);
	mlc_buf_adds(&ri->trim, "\":\"");
	mlc_buf_add(&ri->trim, s, sn);
	mlc_buf_addc(&ri->trim, '"');
}

/* The record after its key: the row, dates, times, trim, and where from. */
static void
record_close(const struct mlc_jde_fmt *f, struct mlc_jde_rowinfo *ri, struct mlc_buf *out)
{
	mlc_buf_json_str(out, ri->key.p, ri->key.len);
	mlc_buf_adds(out, ",\"row\":");
	mlc_buf_add(out, ri->tmp.p, ri->tmp.len);
	mlc_buf_adds(out, ",\"dates\":{");
	mlc_buf_add(out, ri->dates.p, ri->dates.len);
	mlc_buf_adds(out, "},\"times\":{");
	mlc_buf_add(out, ri->times.p, ri->times.len);
	mlc_buf_adds(out, "},\"trim\":{");
	mlc_buf_add(out, ri->trim.p, ri->trim.len);
	mlc_buf_adds(out, "}");
	if (f->fetched_at) {
		mlc_buf_adds(out, ",\"fetched_at\":\"");
		mlc_buf_adds(out, f->fetched_at);
		mlc_buf_addc(out, '"');
	}
	if (f->rule) {
		mlc_buf_adds(out, ",\"rule\":");
		mlc_buf_json_str(out, f->rule, strlen(f->rule));
	}
	mlc_buf_addc(out, '}');
}

int
mlc_jde_row_record(const char *row, size_t n, const struct mlc_jde_fmt *f, struct mlc_buf *out,
                   struct mlc_jde_rowinfo *ri, char *err, size_t errlen)
{
	const char *p = row + 1, *e = row + n, *k, *v;
	size_t kn, vn, tl = strlen(f->table), i;
	unsigned long have = 0;

	mlc_buf_reset(out);
	mlc_buf_reset(&ri->key);
	mlc_buf_reset(&ri->dates);
	mlc_buf_reset(&ri->times);
	mlc_buf_reset(&ri->trim);
	ri->wm_date = 0;
	ri->wm_time = 0;
	ri->has_wm = 0;
	mlc_buf_adds(out, "{\"table\":");
	mlc_buf_json_str(out, f->table, tl);
	mlc_buf_adds(out, ",\"key\":");
	/* The row is built in tmp: the key comes before it and is known last. */
	mlc_buf_reset(&ri->tmp);
	mlc_buf_addc(&ri->tmp, '{');
	while (member(&p, e, &k, &kn, &v, &vn)) {
		const char *a = k + 1;
		size_t an = kn - 2;
		int esc = memchr(a, '\\', an) != NULL;

		if (ri->tmp.len > 1)
			mlc_buf_addc(&ri->tmp, ',');
		mlc_buf_add(&ri->tmp, k, kn);
		mlc_buf_addc(&ri->tmp, ':');
		if (*v == '{' || *v == '[')
			compact(&ri->tmp, v, vn);
		else
			mlc_buf_add(&ri->tmp, v, vn);
		if (esc)
			continue; /* no JDE alias has an escape in it */
		col_alias(f, tl, &a, &an);
		col_key(f, ri, &have, a, an, v, vn);
		if (in_list(date_aliases, sizeof date_aliases / sizeof *date_aliases, a, an))
			col_date(f, ri, a, an, v, vn);
		else if (in_list(time_aliases, sizeof time_aliases / sizeof *time_aliases, a, an))
			col_time(f, ri, a, an, v, vn);
		col_trim(ri, a, an, v, vn);
	}
	mlc_buf_addc(&ri->tmp, '}');
	for (i = 0; i < f->nkey; i++) {
		if (!(have & (1ul << i))) {
			snprintf(err, errlen, "row has no key column %s_%s", f->table, f->key[i]);
			return -1;
		}
		if (i)
			mlc_buf_addc(&ri->key, '|');
		mlc_buf_add(&ri->key, ri->part[i].p, ri->part[i].len);
	}
	record_close(f, ri, out);
	return 0;
}
