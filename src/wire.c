/*
 * wire.c — what the filters accept: the checks of one line of the wire
 * format (ml-connector.7), in one place for every program that reads one.
 *
 * Each filter calls the checks of what it reads, and alert-log, the tee in
 * front of each filter, calls the same ones for the filter it feeds
 * (alert-log --before PROGRAM, alert-log replay), so that it refuses what
 * the next program would refuse instead of recording the line as good and
 * passing it on to be refused there, run after run.
 *
 *   mlc_wire_line      every line, every program.  Valid UTF-8, checked
 *                      before parsing: jq turns bad bytes into U+FFFD
 *                      without a word, and the message would go out other
 *                      than it was rendered.  No NUL, neither a raw byte
 *                      (jq drops one between tokens, keeps one in a
 *                      string) nor escaped as \u0000: C strings, SQLite
 *                      text and Twilio's form would end the text there.  No
 *                      unpaired UTF-16 surrogate escape (\udc00): jq makes
 *                      it U+FFFD, as it does with bad bytes.  One JSON
 *                      object.  The line cap (MLC_NDJSON_MAXLINE) is the
 *                      readers' own (ndjson.c); this check refuses a longer
 *                      line handed to it from elsewhere (the trail).
 *   mlc_wire_alert     what alert-render renders: alert_id, rule, record,
 *                      recipients; a "suppressed" line passes through.
 *   mlc_wire_delivery  what twilio-send sends: delivery_id, channel, an
 *                      address of the channel's kind (checked by addr.c),
 *                      the texts, Twilio's 1600-character Body limit; or,
 *                      for a WhatsApp template, content_sid and
 *                      content_variables (checked by content.c) instead of
 *                      the body.
 *
 * A refusal names the member it is about as a path ("body",
 * "row.F0411_RMK", "recipients[0].name"): for bad bytes, the member whose
 * text holds them, found by walking the JSON text up to their offset.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

#define PATH_DEPTH 32 /* members named in a path; deeper ones show as "..." */
#define KEY_SHOWN 48  /* bytes of one member name shown */

static void set_err(struct mlc_wire_err *e, const char *field, const char *fmt, ...)
	MLC_PRINTF(3, 4);

static void
set_err(struct mlc_wire_err *e, const char *field, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	/* a long path is cut on a character boundary: the reason is stored as text */
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	n = strlen(e->field);
	if (n == sizeof e->field - 1 && field && strlen(field) > n)
		e->field[mlc_utf8_valid_len(e->field, n)] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof e->what, fmt, ap);
	va_end(ap);
}

void
mlc_wire_errmsg(const struct mlc_wire_err *e, char *out, size_t outlen)
{
	if (e->field[0])
		snprintf(out, outlen, "field \"%s\": %s", e->field, e->what);
	else
		snprintf(out, outlen, "%s", e->what);
}

/* ---- the member at a byte offset ---- */

struct frame {
	int obj;          /* an object, else an array */
	size_t idx;       /* arrays: the element's index */
	const char *key;  /* objects: the current member's name (raw JSON text) */
	size_t keylen;
};

/* Append a member name for a message: control bytes as '?', cut to
 * KEY_SHOWN bytes on a character boundary. */
static void
add_key(struct mlc_buf *b, const char *k, size_t n)
{
	size_t i;

	if (n > KEY_SHOWN) {
		n = KEY_SHOWN;
		while (n > 0 && ((unsigned char)k[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		mlc_buf_addc(b, (unsigned char)k[i] < 0x20 ? '?' : k[i]);
}

/*
 * The path of the member whose text holds byte off of the JSON text s[0..n)
 * (best effort: the text before off is read as JSON, whatever follows).
 * *in_name: off is inside a member name (the path is then the object's).
 */
static void
path_at(const char *s, size_t n, size_t off, struct mlc_buf *out, int *in_name)
{
	struct frame st[PATH_DEPTH];
	int depth = 0, deeper = 0, want_key = 0, i;
	size_t p = 0;

	*in_name = 0;
	if (off > n)
		off = n;
	while (p < off) {
		char c = s[p];

		if (c == '"') {
			size_t q = p + 1;

			while (q < off && s[q] != '"')
				q += s[q] == '\\' ? 2 : 1;
			if (q >= off) {
				*in_name = depth > 0 && !deeper && st[depth - 1].obj && want_key;
				break;
			}
			if (depth > 0 && !deeper && st[depth - 1].obj && want_key) {
				st[depth - 1].key = s + p + 1;
				st[depth - 1].keylen = q - p - 1;
			}
			p = q + 1;
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			if (depth < PATH_DEPTH && !deeper) {
				st[depth].obj = c == '{';
				st[depth].idx = 0;
				st[depth].key = NULL;
				st[depth].keylen = 0;
				depth++;
			} else {
				deeper++;
			}
			want_key = c == '{';
			break;
		case '}':
		case ']':
			if (deeper)
				deeper--;
			else if (depth > 0)
				depth--;
			want_key = 0;
			break;
		case ',':
			if (depth > 0 && !deeper && !st[depth - 1].obj)
				st[depth - 1].idx++;
			else
				want_key = 1;
			break;
		case ':':
			want_key = 0;
			break;
		default:
			break;
		}
		p++;
	}
	for (i = 0; i < depth - (*in_name ? 1 : 0); i++) {
		if (st[i].obj) {
			if (!st[i].key)
				break;
			if (out->len)
				mlc_buf_addc(out, '.');
			add_key(out, st[i].key, st[i].keylen);
		} else {
			mlc_buf_printf(out, "[%zu]", st[i].idx);
		}
	}
	if (deeper && !*in_name)
		mlc_buf_adds(out, "...");
}

/* Refuse the line because of byte off: name the member that holds it. */
static void
refuse_at(struct mlc_wire_err *e, const char *s, size_t n, size_t off, const char *what)
{
	struct mlc_buf path;
	int in_name;

	mlc_buf_init(&path);
	path_at(s, n, off, &path, &in_name);
	if (in_name)
		set_err(e, path.p, "a member name %s (at byte %zu)", what, off);
	else
		set_err(e, path.p, "%s (at byte %zu)", what, off);
	mlc_buf_free(&path);
}

/* The value of four hex digits, or -1. */
static int
hex4(const char *p)
{
	int i, v = 0, d;

	for (i = 0; i < 4; i++) {
		if ((d = mlc_hexval((unsigned char)p[i])) < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* The first \u0000 or unpaired surrogate escape in JSON text that parsed,
 * so every backslash is an escape inside a string: its offset, or n. */
static size_t
bad_escape(const char *s, size_t n, unsigned *cu)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		int v, w;

		if (end - p < 6 || p[1] != 'u' || (v = hex4(p + 2)) < 0) {
			if (end - p <= 2)
				break;
			p += 2; /* an escape of one character: \" \\ \n ... */
			continue;
		}
		if (v == 0 || (v >= 0xDC00 && v <= 0xDFFF)) {
			*cu = (unsigned)v;
			return (size_t)(p - s);
		}
		if (v >= 0xD800 && v <= 0xDBFF) {
			/* jq refuses a high half without its low half itself */
			if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' && (w = hex4(p + 8)) >= 0) {
				if (w >= 0xDC00 && w <= 0xDFFF) {
					p += 12;
					continue;
				}
			}
			*cu = (unsigned)v;
			return (size_t)(p - s);
		}
		p += 6;
	}
	return n;
}

/*
 * The line as jv_parse_sized reads it, faster: jq 1.6's parser costs some
 * 150 instructions a byte, most of it its per-character state machine.
 * This one takes only plain JSON: objects, arrays, strings whose escapes
 * are the one-character ones (\" \\ \/ \b \f \n \r \t) and no control
 * bytes, numbers of JSON's grammar of at most 24 characters, true, false,
 * null, JSON's four blanks, depth below 200.  It builds the value with the
 * calls jq's parser makes (jv_string_sized on the unescaped bytes,
 * jv_object_set in the order of the text, so a repeated name keeps its
 * first place and its last value; strtod, correctly rounded as jq's own
 * jvp_strtod is, for the numbers).  Anything else (a \u escape, a long or
 * odd number, a literal jq accepts and JSON does not, trailing bytes) gives
 * jv_invalid() and jq's parser reads the line: it decides, not us.
 * tests/0916 compares the two on a corpus.  MLC_WIRE_JQPARSE=1 (tests only)
 * turns this off.
 */
#define FAST_DEPTH 200
struct fast {
	const char *p, *end;
	struct mlc_buf sb; /* a string's unescaped bytes */
};

static void
fast_blank(struct fast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* A string's closing quote, after its opening one: *end, *esc (it has
 * escapes), 0; or -1 (not a string of this parser's). */
static int
fast_string_end(const struct fast *f, const char **end, int *esc)
{
	const char *q;

	*esc = 0;
	for (q = f->p; q < f->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20)
			return -1;
		if (*q == '\\') {
			if (q + 1 >= f->end || !strchr("\"\\/bfnrt", q[1]) || !q[1])
				return -1;
			*esc = 1;
			q++;
		}
	}
	if (q >= f->end)
		return -1;
	*end = q;
	return 0;
}

/* A string after its opening quote: 0 with *out, or -1. */
static int
fast_string(struct fast *f, jv *out)
{
	const char *a = f->p, *q;
	int esc;

	if (fast_string_end(f, &q, &esc) < 0)
		return -1;
	if (!esc) {
		*out = jv_string_sized(a, (int)(q - a));
	} else {
		const char *r;

		if (!f->sb.p)
			mlc_buf_init(&f->sb);
		mlc_buf_reset(&f->sb);
		for (r = a; r < q; r++) {
			char c = *r;

			if (c == '\\') {
				switch (*++r) {
				case 'b': c = '\b'; break;
				case 'f': c = '\f'; break;
				case 'n': c = '\n'; break;
				case 'r': c = '\r'; break;
				case 't': c = '\t'; break;
				default: c = *r; /* " \ / */
				}
			}
			mlc_buf_addc(&f->sb, c);
		}
		*out = jv_string_sized(f->sb.p, (int)f->sb.len);
	}
	f->p = q + 1;
	return 0;
}

static int
fast_digits(const char **p, const char *end)
{
	const char *a = *p;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return *p > a;
}

static int
fast_number(struct fast *f, jv *out)
{
	const char *a = f->p, *p = f->p;
	char b[32], *e;
	double d;

	if (p < f->end && *p == '-')
		p++;
	if (p < f->end && *p == '0')
		p++;
	else if (!fast_digits(&p, f->end))
		return -1;
	if (p < f->end && *p == '.') {
		p++;
		if (!fast_digits(&p, f->end))
			return -1;
	}
	if (p < f->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < f->end && (*p == '+' || *p == '-'))
			p++;
		if (!fast_digits(&p, f->end))
			return -1;
	}
	if (p - a > 24 || (p < f->end && ((*p >= '0' && *p <= '9') || *p == '.' ||
	                                  (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))))
		return -1;
	memcpy(b, a, (size_t)(p - a));
	b[p - a] = '\0';
	d = strtod(b, &e);
	if (*e)
		return -1;
	*out = jv_number(d);
	f->p = p;
	return 0;
}

static int fast_value(struct fast *f, jv *out, int depth, const struct mlc_wire_keep *keep);

/*
 * Member names repeat from line to line (a table's columns), and so do
 * most short values (the rule, the table, company and document type,
 * dates, the recipients' names and addresses, the channels): each plain
 * one (no escape, at most 48 bytes) is made into a jv string once and
 * shared, as jq values are (immutable, counted), with its hash kept in it.
 * What jv_string_sized would make of the same bytes, so the values are
 * the same; a slot holds the last string that hashed to it.  Names and
 * values have a table each, so that values met once (ids, keys) do not
 * push the names out.
 */
#define STR_SLOTS 512
#define STR_MAX_LEN 48
struct str_slot {
	size_t n;
	char s[STR_MAX_LEN];
	jv v;
	int set;
};
static struct str_slot names[STR_SLOTS], values[STR_SLOTS];

static int
fast_shared(struct fast *f, jv *out, struct str_slot *tab)
{
	const char *a = f->p, *q;
	unsigned h = 2166136261u;
	size_t n, slot;

	for (q = a; q < f->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20; q++)
		h = (h ^ (unsigned char)*q) * 16777619u;
	n = (size_t)(q - a);
	if (q >= f->end || *q != '"' || n > STR_MAX_LEN)
		return fast_string(f, out);
	slot = h % STR_SLOTS;
	if (!tab[slot].set || tab[slot].n != n || memcmp(tab[slot].s, a, n) != 0) {
		if (tab[slot].set)
			jv_free(tab[slot].v);
		tab[slot].v = jv_string_sized(a, (int)n);
		memcpy(tab[slot].s, a, n);
		tab[slot].n = n;
		tab[slot].set = 1;
	}
	*out = jv_copy(tab[slot].v);
	f->p = q + 1;
	return 0;
}

/*
 * A value this parser takes, passed over without building it (a member
 * that mlc_wire_line_keep leaves out): the same grammar as fast_value,
 * so that a line is read the fast way, or by jq, as it would be whole.
 */
static int
fast_skip(struct fast *f, int depth)
{
	const char *q;
	int esc;
	jv n;

	fast_blank(f);
	if (f->p >= f->end || depth >= FAST_DEPTH)
		return -1;
	switch (*f->p) {
	case '{':
	case '[': {
		char close = *f->p == '{' ? '}' : ']';

		f->p++;
		fast_blank(f);
		if (f->p < f->end && *f->p == close) {
			f->p++;
			return 0;
		}
		for (;;) {
			fast_blank(f);
			if (close == '}') {
				if (f->p >= f->end || *f->p != '"')
					return -1;
				f->p++;
				if (fast_string_end(f, &q, &esc) < 0)
					return -1;
				f->p = q + 1;
				fast_blank(f);
				if (f->p >= f->end || *f->p != ':')
					return -1;
				f->p++;
			}
			if (fast_skip(f, depth + 1) < 0)
				return -1;
			fast_blank(f);
			if (f->p < f->end && *f->p == ',') {
				f->p++;
				continue;
			}
			if (f->p < f->end && *f->p == close) {
				f->p++;
				return 0;
			}
			return -1;
		}
	}
	case '"':
		f->p++;
		if (fast_string_end(f, &q, &esc) < 0)
			return -1;
		f->p = q + 1;
		return 0;
	default:
		/* the literals and numbers as fast_value reads them (no allocation) */
		if (fast_value(f, &n, depth, NULL) < 0)
			return -1;
		jv_free(n);
		return 0;
	}
}

/* Is member k (a string, raw[0..rn) its text between the quotes) one of
 * keep's?  *sub: its own keep (NULL: all of it). */
static int
keep_member(const struct mlc_wire_keep *keep, jv k, const char *raw, size_t rn,
            const struct mlc_wire_keep **sub)
{
	const char *s = raw;
	size_t n = rn, i;

	*sub = NULL;
	if (memchr(raw, '\\', rn)) { /* escaped: its unescaped bytes */
		s = jv_string_value(k);
		n = (size_t)jv_string_length_bytes(jv_copy(k));
	}
	for (i = 0; i < keep->n; i++)
		if (keep->len[i] == n && memcmp(keep->name[i], s, n) == 0) {
			*sub = keep->sub[i];
			return 1;
		}
	return keep->rest;
}

static int
fast_container(struct fast *f, jv *out, int depth, const struct mlc_wire_keep *keep)
{
	int obj = *f->p == '{';
	jv c = obj ? jv_object() : jv_array(), k, v;
	const char *ka;
	size_t kn;

	f->p++;
	fast_blank(f);
	if (f->p < f->end && *f->p == (obj ? '}' : ']')) {
		f->p++;
		*out = c;
		return 0;
	}
	for (;;) {
		fast_blank(f);
		if (obj) {
			if (f->p >= f->end || *f->p != '"')
				goto bad;
			f->p++;
			ka = f->p;
			if (fast_shared(f, &k, names) < 0)
				goto bad;
			kn = (size_t)(f->p - 1 - ka);
			fast_blank(f);
			if (f->p >= f->end || *f->p != ':') {
				jv_free(k);
				goto bad;
			}
			f->p++;
			if (keep) {
				const struct mlc_wire_keep *sub;

				if (!keep_member(keep, k, ka, kn, &sub)) {
					jv_free(k);
					if (fast_skip(f, depth + 1) < 0)
						goto bad;
					goto next;
				}
				if (fast_value(f, &v, depth + 1, sub) < 0) {
					jv_free(k);
					goto bad;
				}
			} else if (fast_value(f, &v, depth + 1, NULL) < 0) {
				jv_free(k);
				goto bad;
			}
			c = jv_object_set(c, k, v);
		} else {
			if (fast_value(f, &v, depth + 1, NULL) < 0)
				goto bad;
			c = jv_array_append(c, v);
		}
	next:
		fast_blank(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->end && *f->p == (obj ? '}' : ']')) {
			f->p++;
			*out = c;
			return 0;
		}
		goto bad;
	}
bad:
	jv_free(c);
	return -1;
}

static int
fast_value(struct fast *f, jv *out, int depth, const struct mlc_wire_keep *keep)
{
	fast_blank(f);
	if (f->p >= f->end || depth >= FAST_DEPTH)
		return -1;
	switch (*f->p) {
	case '{':
		return fast_container(f, out, depth, keep);
	case '[':
		return fast_container(f, out, depth, NULL);
	case '"':
		f->p++;
		return fast_shared(f, out, values);
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[] = { "true", "false", "null" };
		int i = *f->p == 't' ? 0 : *f->p == 'f' ? 1 : 2;
		size_t l = strlen(lit[i]);

		if ((size_t)(f->end - f->p) < l || memcmp(f->p, lit[i], l) != 0 ||
		    ((size_t)(f->end - f->p) > l && ((f->p[l] >= 'a' && f->p[l] <= 'z') ||
		                                     (f->p[l] >= 'A' && f->p[l] <= 'Z') ||
		                                     (f->p[l] >= '0' && f->p[l] <= '9'))))
			return -1;
		f->p += l;
		*out = i == 0 ? jv_true() : i == 1 ? jv_false() : jv_null();
		return 0;
	}
	default:
		return fast_number(f, out);
	}
}

/* The line parsed: the fast way when it can (keep: the members to build),
 * else jq's (all of them). */
static jv
parse_line(const char *line, size_t len, const struct mlc_wire_keep *keep)
{
	static int off = -1;
	struct fast f;
	jv v;
	int r;

	if (off < 0) {
		const char *e = getenv("MLC_WIRE_JQPARSE");

		off = e && strcmp(e, "1") == 0;
	}
	if (off)
		return jv_parse_sized(line, (int)len);
	f.p = line;
	f.end = line + len;
	f.sb.p = NULL;
	r = fast_value(&f, &v, 0, keep);
	if (f.sb.p)
		mlc_buf_free(&f.sb);
	if (r == 0) {
		fast_blank(&f);
		if (f.p == f.end)
			return v;
		jv_free(v);
	}
	return jv_parse_sized(line, (int)len);
}

int
mlc_wire_line(const char *line, size_t len, jv *obj, struct mlc_wire_err *e)
{
	return mlc_wire_line_keep(line, len, obj, e, NULL);
}

int
mlc_wire_line_keep(const char *line, size_t len, jv *obj, struct mlc_wire_err *e,
                   const struct mlc_wire_keep *keep)
{
	const char *z;
	size_t off;
	unsigned cu = 0;
	jv o;

	*obj = jv_invalid();
	e->field[0] = e->what[0] = '\0';
	if (len > MLC_NDJSON_MAXLINE) {
		set_err(e, NULL, "line longer than %u bytes", (unsigned)MLC_NDJSON_MAXLINE);
		return -1;
	}
	off = mlc_utf8_valid_len(line, len);
	z = off == len ? memchr(line, '\0', len) : NULL;
	o = off < len || z ? jv_parse_sized(line, (int)len) : parse_line(line, len, keep);
	if (off < len || z) {
		refuse_at(e, line, len, z ? (size_t)(z - line) : off,
		          z ? "holds a NUL byte" : "not valid UTF-8");
		/* the object as jq reads it, only to name the line's ids */
		if (jv_get_kind(o) == JV_KIND_OBJECT)
			*obj = o;
		else
			jv_free(o);
		return -1;
	}
	if (!jv_is_valid(o)) {
		jv m = jv_invalid_get_msg(o);
		const char *ms = jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "?";
		const char *wp = strstr(ms, " (while parsing");

		const char *lp = strstr(ms, " at line 1, column ");
		int cut = (int)(wp ? (size_t)(wp - ms) : strlen(ms));

		/* jq's "line 1" is not the input's line: say the column alone */
		if (lp && lp < ms + cut)
			set_err(e, NULL, "not JSON: %.*s at column %.*s", (int)(lp - ms), ms,
			        (int)(ms + cut - (lp + 19)), lp + 19);
		else if (!jv_is_valid(m) || jv_get_kind(m) != JV_KIND_STRING)
			set_err(e, NULL, "not JSON: %s", len ? "no value" : "an empty line");
		else
			set_err(e, NULL, "not JSON: %.*s", cut, ms);
		jv_free(m);
		return -1;
	}
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		set_err(e, NULL, "not a JSON object");
		jv_free(o);
		return -1;
	}
	*obj = o;
	if ((off = bad_escape(line, len, &cu)) < len) {
		char what[96];

		if (cu == 0)
			snprintf(what, sizeof what, "holds \\u0000, a NUL character");
		else
			snprintf(what, sizeof what, "holds \\u%04x, an unpaired UTF-16 surrogate", cu);
		refuse_at(e, line, len, off, what);
		return -1;
	}
	return 0;
}

/* ---- members ---- */

static jv
get(jv o, const char *k)
{
	return jv_object_get(jv_copy(o), mlc_jq_key(k));
}

static int
has(jv o, const char *k)
{
	return jv_object_has(jv_copy(o), mlc_jq_key(k));
}

int
mlc_wire_str(jv o, const char *k, jv *v, const char **s)
{
	*s = NULL;
	*v = jv_null();
	if (!has(o, k))
		return 0;
	*v = get(o, k);
	if (jv_get_kind(*v) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(*v) != JV_KIND_STRING ||
	    (size_t)jv_string_length_bytes(jv_copy(*v)) != strlen(jv_string_value(*v)))
		return -1;
	*s = jv_string_value(*v);
	return 1;
}

/* ---- alert-render ---- */

int
mlc_wire_alert_of(jv suppressed, jv alert_id, jv rule, jv record, jv recipients,
                  struct mlc_wire_err *e)
{
	static const struct {
		const char *name;
		jv_kind kind;
		const char *want;
	} need[] = {
		{ "alert_id", JV_KIND_STRING, "a non-empty string" },
		{ "rule", JV_KIND_STRING, "a non-empty string" },
		{ "record", JV_KIND_OBJECT, "an object" },
		{ "recipients", JV_KIND_ARRAY, "an array" },
	};
	jv v[4];
	size_t i;
	int k = jv_get_kind(suppressed);

	if (k != JV_KIND_INVALID && k != JV_KIND_NULL && k != JV_KIND_FALSE)
		return 1;
	v[0] = alert_id;
	v[1] = rule;
	v[2] = record;
	v[3] = recipients;
	for (i = 0; i < sizeof need / sizeof need[0]; i++) {
		if (jv_get_kind(v[i]) != need[i].kind ||
		    (need[i].kind == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v[i])) == 0)) {
			set_err(e, need[i].name, "expected %s: not an alert (it needs alert_id, rule,"
			        " record and recipients)", need[i].want);
			return -1;
		}
	}
	return 0;
}

int
mlc_wire_alert(jv o, struct mlc_wire_err *e)
{
	static const char *const member[] = { "suppressed", "alert_id", "rule", "record",
		                             "recipients" };
	jv v[5];
	size_t i;
	int r;

	for (i = 0; i < 5; i++)
		v[i] = get(o, member[i]);
	r = mlc_wire_alert_of(v[0], v[1], v[2], v[3], v[4], e);
	for (i = 0; i < 5; i++)
		jv_free(v[i]);
	return r;
}

/* ---- the trailer (jde-fetch --trailer) ---- */

int
mlc_wire_is_trailer(jv o)
{
	jv e;
	int yes;

	if (jv_get_kind(o) != JV_KIND_OBJECT || !has(o, "end"))
		return 0;
	e = jv_object_get(jv_copy(o), jv_string("end"));
	yes = jv_get_kind(e) == JV_KIND_OBJECT;
	jv_free(e);
	return yes;
}

/* ---- twilio-send ---- */

int
mlc_wire_is_delivery(jv o)
{
	static const char *const not[] = {
		"status", "event", "suppressed", "deferred", "dropped", "capped", "dry_run", NULL
	};
	int i;

	if (jv_get_kind(o) != JV_KIND_OBJECT || (!has(o, "delivery_id") && !has(o, "channel")))
		return 0;
	for (i = 0; not[i]; i++)
		if (has(o, not[i]))
			return 0;
	return 1;
}

/*
 * A WhatsApp template send (content.c): content_sid, content_variables an
 * object of numbered strings if present, and no body, since Twilio sends
 * a template with ContentSid instead of Body.  1 a template, 0 none, -1
 * refused (e set).
 */
static int
content_parts(jv o, int ch, struct mlc_wire_err *e)
{
	jv v, vars;
	const char *s;
	int rc, ret = -1;

	rc = mlc_wire_str(o, "content_sid", &v, &s);
	vars = get(o, "content_variables");
	if (rc == 0 && jv_is_valid(vars) && jv_get_kind(vars) != JV_KIND_NULL) {
		set_err(e, "content_variables", "without content_sid (Twilio: 21654)");
	} else if (rc == 0) {
		ret = 0;
	} else if (rc < 0 || !mlc_content_sid_ok(s)) {
		set_err(e, "content_sid", "not a Content SID (HX and 32 hex digits)");
	} else if (ch != MLC_CH_WHATSAPP) {
		set_err(e, "content_sid", "a template is sent on whatsapp only");
	} else if (has(o, "body")) {
		set_err(e, "body", "a template delivery has no body (content_sid is its text)");
	} else {
		ret = 1;
		if (jv_is_valid(vars) && jv_get_kind(vars) != JV_KIND_NULL) {
			char f[32], what[200], path[64];

			if (mlc_content_vars_check(vars, f, sizeof f, what, sizeof what) < 0) {
				snprintf(path, sizeof path, "content_variables%s%s", *f ? "." : "", f);
				set_err(e, path, "%s", what);
				ret = -1;
			}
		}
	}
	jv_free(vars);
	jv_free(v);
	return ret;
}

int
mlc_wire_delivery(jv o, struct mlc_wire_err *e)
{
	jv v = jv_null(), t = jv_null();
	const char *s, *to;
	int rc, ch, ret = -1;

	if ((rc = mlc_wire_str(o, "delivery_id", &v, &s)) <= 0) {
		set_err(e, "delivery_id", "%s", rc < 0 ? "expected a string" : "missing");
		goto out;
	}
	jv_free(v);
	if (mlc_wire_str(o, "channel", &v, &s) <= 0) {
		set_err(e, "channel", "missing or not a string");
		goto out;
	}
	ch = mlc_addr_channel(s, strlen(s));
	if (ch < 0) {
		set_err(e, "channel", "expected " MLC_CHANNELS_WORDS);
		goto out;
	}
	if ((rc = mlc_wire_str(o, "to", &t, &to)) <= 0 || !*to) {
		set_err(e, "to", "%s", rc < 0 ? "expected a string" : "missing");
		goto out;
	}
	if (!mlc_addr_ok(ch, to)) {
		set_err(e, "to", "not %s", mlc_addr_what(ch));
		goto out;
	}
	if (ch == MLC_CH_EMAIL) {
		static const char *const need[] = { "subject", "text", NULL };
		int i;

		for (i = 0; need[i]; i++) {
			jv_free(v);
			if ((rc = mlc_wire_str(o, need[i], &v, &s)) <= 0 || !*s) {
				set_err(e, need[i], "%s", rc < 0 ? "expected a string" : "missing");
				goto out;
			}
		}
		jv_free(v);
		if (mlc_wire_str(o, "html", &v, &s) < 0) {
			set_err(e, "html", "expected a string");
			goto out;
		}
	} else {
		struct mlc_sms_info info;

		jv_free(v);
		if ((rc = content_parts(o, ch, e)) != 0) {
			v = jv_null();
			if (rc < 0)
				goto out;
			ret = 0; /* a template: ContentSid, ContentVariables, no Body */
			goto out;
		}
		if ((rc = mlc_wire_str(o, "body", &v, &s)) <= 0 || !*s) {
			set_err(e, "body", "%s", rc < 0 ? "expected a string" : "missing");
			goto out;
		}
		mlc_sms_measure(s, strlen(s), &info);
		if (info.utf16 > MLC_SMS_MAXCHARS) {
			set_err(e, "body", "%zu characters (UTF-16 code units), over %d", info.utf16,
			        MLC_SMS_MAXCHARS);
			goto out;
		}
	}
	ret = 0;
out:
	jv_free(v);
	jv_free(t);
	return ret;
}
