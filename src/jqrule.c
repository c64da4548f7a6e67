/*
 * jqrule.c — libjq (Debian 12: jq 1.6), compiled once, run per record, and
 * the one scanner of the template syntax (mlc_jq_template_scan).
 *
 * Every program (a [match] expression, a template) gets its own jq_state,
 * compiled once with the function library below prepended, our own error
 * callback (messages go into the caller's err buffer, never to stderr),
 * JQ_LIBRARY_PATH set to an empty array (unset, an `import` aborts the
 * process in 1.6) and its named arguments given as an object ($now, $today,
 * $now_local; the array form of jq_compile_args is avoided on purpose).
 *
 * Per input: jq_start + jq_next until the terminal invalid, counting
 * outputs.  Exactly one is expected; a second output stops the loop (a
 * generator may be endless).  The terminal invalid is freed, and its
 * message taken only after jv_invalid_has_msg on a copy, because every
 * jv_invalid_* call consumes its argument.  A program that halts (halt,
 * halt_error) is marked and never started again: restarting a halted
 * state double-frees before jq 1.8.
 *
 * The function library (documented in ml-connector.5, "jq functions"):
 *
 *   days_since($d)     whole days from the ISO date $d ("YYYY-MM-DD...") to
 *                      $today: positive when $d is in the past.
 *   days_ago           days_since(.): .dates.DDJ | days_ago
 *   days_until         the other way: days from $today to the date .
 *   trim               string without leading and trailing white space
 *                      (JDE pads business units and codes); non-strings as is.
 *   blank              true for null, and for strings that are empty after trim.
 *   first_nonblank(f)  the first output of f that is not blank, else "".
 *   amount             a number as text: whole numbers without ".0", others
 *                      rounded to two decimals (25000, 1234.50); a numeric
 *                      string is converted first; null gives "".
 *   amount($sep)       the same with $sep between groups of three digits:
 *                      amount(",") gives 25,000.
 *
 * The library is written on one line so that line numbers in compile errors
 * are those of the caller's program: messages are rewritten to "line N" of
 * the program, and jq's echo of the source line is dropped.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jq.h>

#include "mlc.h"

static const char mlc_jq_library[] =
	"def _mlc_days: if type != \"string\" or (test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}\") | not)"
	" then error(\"not an ISO date: \\(tojson)\") else"
	" (.[0:4] | tonumber) as $y | (.[5:7] | tonumber) as $m | (.[8:10] | tonumber) as $d"
	" | (if $m <= 2 then $y - 1 else $y end) as $yy | ($yy / 400 | floor) as $era"
	" | ($yy - $era * 400) as $yoe"
	" | (((153 * ($m + (if $m > 2 then -3 else 9 end)) + 2) / 5 | floor) + $d - 1) as $doy"
	" | $era * 146097 + $yoe * 365 + ($yoe / 4 | floor) - ($yoe / 100 | floor) + $doy - 719468"
	" end; "
	"def days_since($d): ($today | _mlc_days) - ($d | _mlc_days); "
	"def days_ago: days_since(.); "
	"def days_until: - days_since(.); "
	"def trim: if type == \"string\" then sub(\"^[ \\t\\r\\n]+\"; \"\") | sub(\"[ \\t\\r\\n]+$\"; \"\")"
	" else . end; "
	"def blank: . == null or (type == \"string\" and (trim == \"\")); "
	"def first_nonblank(f): [limit(1; f | select(blank | not))] | if length > 0 then .[0]"
	" else \"\" end; "
	"def _mlc_group($sep): if length <= 3 then . else"
	" (.[0:length - 3] | _mlc_group($sep)) + $sep + .[length - 3:] end; "
	"def amount($sep): if . == null then \"\" else"
	" (if type == \"string\" then trim | tonumber else . end)"
	" | if type != \"number\" then error(\"amount: not a number: \\(tojson)\") else"
	" (if . < 0 then \"-\" else \"\" end) as $sign | (if . < 0 then - . else . end)"
	" | (. * 100 | round) as $c | ($c / 100 | floor) as $i | ($c - $i * 100) as $f"
	" | $sign + ($i | tostring | _mlc_group($sep))"
	" + (if $f == 0 then \"\" elif $f < 10 then \".0\\($f)\" else \".\\($f)\" end) end end; "
	"def amount: amount(\"\"); ";

struct mlc_jq {
	jq_state *jq;
	char *what;
	int halted;
	struct mlc_buf msgs; /* compile messages collected by the error callback */
};

/*
 * jq 1.6 reports "jq: error: MSG at <top-level>, line N:\nSOURCE LINE" and
 * then "jq: 1 compile error".  Keep MSG, say "line N", drop the rest.
 */
static void
error_cb(void *data, jv msg)
{
	struct mlc_jq *q = data;
	const char *s, *nl, *at;
	size_t n;

	if (jv_get_kind(msg) != JV_KIND_STRING) {
		msg = jv_dump_string(msg, 0);
	}
	s = jv_string_value(msg);
	if (strncmp(s, "jq: error: ", 11) == 0)
		s += 11;
	else if (strncmp(s, "jq: ", 4) == 0 && strstr(s, " compile error"))
		goto out;
	nl = strchr(s, '\n');
	n = nl ? (size_t)(nl - s) : strlen(s);
	if (q->msgs.len > 0)
		mlc_buf_adds(&q->msgs, "; ");
	at = strstr(s, " at <top-level>, line ");
	if (at && at < s + n) {
		mlc_buf_add(&q->msgs, s, (size_t)(at - s));
		mlc_buf_printf(&q->msgs, " (line %ld)", strtol(at + 22, NULL, 10));
	} else {
		while (n > 0 && (s[n - 1] == ':' || s[n - 1] == ' '))
			n--;
		mlc_buf_add(&q->msgs, s, n);
	}
out:
	jv_free(msg);
}

/* Make sure $now, $today and $now_local exist, so that the library (which
 * reads $today) always compiles; the caller's values win. */
static jv
complete_args(jv args)
{
	if (jv_get_kind(args) != JV_KIND_OBJECT) {
		jv_free(args);
		args = jv_object();
	}
	if (!jv_object_has(jv_copy(args), jv_string("now")) ||
	    !jv_object_has(jv_copy(args), jv_string("today")) ||
	    !jv_object_has(jv_copy(args), jv_string("now_local"))) {
		struct timespec ts;
		char e[128];
		jv def;

		if (mlc_time_now(&ts) < 0)
			clock_gettime(CLOCK_REALTIME, &ts);
		def = mlc_jq_time_args(&ts, "UTC", e, sizeof e);
		if (!jv_is_valid(def)) {
			jv_free(def);
			return args;
		}
		/* Object addition: the right-hand side's keys win. */
		args = jv_object_merge(def, args);
	}
	return args;
}

static struct mlc_jq *
compile(const char *prefix, const char *program, const char *suffix, const char *what,
        jv args, char *err, size_t errlen)
{
	struct mlc_jq *q = mlc_xcalloc(1, sizeof *q);
	struct mlc_buf src;
	int ok;

	q->what = mlc_xstrdup(what ? what : "jq program");
	mlc_buf_init(&q->msgs);
	if (!(q->jq = jq_init())) {
		jv_free(args);
		mlc_errf(err, errlen, "%s: cannot initialise libjq", q->what);
		mlc_jq_free(q);
		return NULL;
	}
	jq_set_error_cb(q->jq, error_cb, q);
	jq_set_attr(q->jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
	mlc_buf_init(&src);
	mlc_buf_adds(&src, mlc_jq_library);
	mlc_buf_adds(&src, prefix);
	mlc_buf_adds(&src, program);
	mlc_buf_adds(&src, suffix);
	ok = jq_compile_args(q->jq, src.p, complete_args(args));
	mlc_buf_free(&src);
	if (!ok) {
		mlc_errf(err, errlen, "%s: %s", q->what,
		     q->msgs.len ? q->msgs.p : "does not compile");
		mlc_jq_free(q);
		return NULL;
	}
	mlc_buf_reset(&q->msgs);
	return q;
}

struct mlc_jq *
mlc_jq_compile(const char *program, const char *what, jv args, char *err, size_t errlen)
{
	const char *p = program;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (!*p) {
		jv_free(args);
		mlc_errf(err, errlen, "%s: empty expression", what ? what : "jq program");
		return NULL;
	}
	/* Appended to the library's defs as it is: the defs scope over the
	 * whole program, and an `import` is then a compile error. */
	return compile("", program, "", what, args, err, errlen);
}

/*
 * A template is the body of a jq string, as a rule writes it: literal text
 * and \( ... ) interpolations.  The one scanner of that syntax, used here
 * to compile templates and by alert-render to find what each one reads.
 * jq 1.6's lexical rules, in the three places a template has:
 *   text       (the template itself, and strings inside interpolations):
 *              \( opens an interpolation, \x is an escape, # is a
 *              character; a string inside an interpolation ends at '"'.
 *   jq code    (inside \( ... )): '"' opens a string, # starts a comment
 *              to the end of the line (a backslash does not continue it
 *              in 1.6), parentheses nest, ')' at depth 0 ends it.
 * So a \( in a comment opens nothing, a ')' or '"' in a comment is no
 * delimiter, and a # in a string is no comment, at any depth.
 */
static size_t scan_code(const char *t, size_t i, size_t n, int *open);

/* In text after the opening '"' of a string inside code: the offset after
 * its closing quote, or n (*open set) when it has none. */
static size_t
scan_str(const char *t, size_t i, size_t n, int *open)
{
	while (i < n) {
		if (t[i] == '\\' && i + 1 < n && t[i + 1] == '(')
			i = scan_code(t, i + 2, n, open);
		else if (t[i] == '\\')
			i += 2;
		else if (t[i] == '"')
			return i + 1;
		else
			i++;
	}
	*open = 1;
	return n;
}

/* In code after "\(": the offset after the matching ')', or n (*open set). */
static size_t
scan_code(const char *t, size_t i, size_t n, int *open)
{
	int depth = 1;

	while (i < n) {
		if (t[i] == '"') {
			i = scan_str(t, i + 1, n, open);
		} else if (t[i] == '#') {
			while (i < n && t[i] != '\n')
				i++;
		} else if (t[i] == '(') {
			depth++;
			i++;
		} else if (t[i] == ')' && --depth == 0) {
			return i + 1;
		} else {
			i++;
		}
	}
	*open = 1;
	return n;
}

int
mlc_jq_template_scan(const char *t, struct mlc_jq_span **v, size_t *nv)
{
	size_t n = strlen(t), i = 0, k = 0, cap = 4;
	int open = 0;

	*v = mlc_xmalloc(cap * sizeof **v);
	while (i < n) {
		if (t[i] == '\\' && i + 1 < n && t[i + 1] == '(') {
			size_t e = scan_code(t, i + 2, n, &open);

			if (k == cap)
				*v = mlc_xrealloc(*v, (cap *= 2) * sizeof **v);
			(*v)[k].a = i + 2;
			(*v)[k].b = open ? n : e - 1;
			k++;
			i = e;
		} else {
			i += t[i] == '\\' ? 2 : 1;
		}
	}
	*nv = k;
	return open ? -1 : 0;
}

/* The template as the body of a jq string literal: a bare '"' of the text
 * is escaped (an escaped \" stays as it is), interpolations are copied
 * unchanged.  -1 on an unterminated interpolation. */
static int
escape_template(struct mlc_buf *b, const char *s)
{
	struct mlc_jq_span *sp;
	size_t n, i, at = 0, len = strlen(s);

	if (mlc_jq_template_scan(s, &sp, &n) < 0) {
		free(sp);
		return -1;
	}
	for (i = 0; i <= n; i++) {
		size_t end = i < n ? sp[i].a - 2 : len; /* the text before "\(" */

		while (at < end) {
			if (s[at] == '\\' && at + 1 < end) {
				mlc_buf_add(b, s + at, 2);
				at += 2;
				continue;
			}
			if (s[at] == '"')
				mlc_buf_addc(b, '\\');
			mlc_buf_addc(b, s[at++]);
		}
		if (i < n) {
			mlc_buf_add(b, s + end, sp[i].b + 1 - end); /* "\(" EXPR ")" */
			at = sp[i].b + 1;
		}
	}
	free(sp);
	return 0;
}

static struct mlc_jq *
template(const char *tmpl, int html, const char *what, jv args, char *err, size_t errlen)
{
	struct mlc_buf b;
	struct mlc_jq *q;

	mlc_buf_init(&b);
	if (escape_template(&b, tmpl) < 0) {
		mlc_buf_free(&b);
		jv_free(args);
		mlc_errf(err, errlen, "%s: unterminated \\( in template", what ? what : "template");
		return NULL;
	}
	q = compile(html ? "@html \"" : "\"", b.p, "\"", what, args, err, errlen);
	mlc_buf_free(&b);
	return q;
}

struct mlc_jq *
mlc_jq_template(const char *tmpl, const char *what, jv args, char *err, size_t errlen)
{
	return template(tmpl, 0, what, args, err, errlen);
}

struct mlc_jq *
mlc_jq_template_html(const char *tmpl, const char *what, jv args, char *err, size_t errlen)
{
	return template(tmpl, 1, what, args, err, errlen);
}

/* A value for a message, shortened. */
static void
msg_text(jv msg, char *out, size_t outlen)
{
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		size_t n;

		snprintf(out, outlen, "%s", jv_string_value(msg));
		n = strlen(out);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			out[--n] = '\0';
	} else {
		jv s = jv_dump_string(jv_copy(msg), 0);

		snprintf(out, outlen, "%s (not a string)", jv_string_value(s));
		jv_free(s);
	}
	jv_free(msg);
}

int
mlc_jq_run1(struct mlc_jq *q, jv input, jv *out, char *err, size_t errlen)
{
	jv r, first = jv_invalid();
	int n = 0;

	*out = jv_invalid();
	if (q->halted) {
		jv_free(input);
		mlc_errf(err, errlen, "%s: the program halted earlier; not run again", q->what);
		return -3;
	}
	jq_start(q->jq, input, 0);
	for (;;) {
		r = jq_next(q->jq);
		if (!jv_is_valid(r))
			break;
		if (++n == 1) {
			first = r;
		} else {
			jv_free(r);
			r = jv_invalid();
			break; /* a second output: stop, the generator may be endless */
		}
	}
	if (jq_halted(q->jq)) {
		jv code = jq_get_exit_code(q->jq), m = jq_get_error_message(q->jq);
		char mt[200] = "";

		q->halted = 1;
		if (jv_is_valid(m) && jv_get_kind(m) != JV_KIND_NULL)
			msg_text(jv_copy(m), mt, sizeof mt);
		jv_free(m);
		mlc_errf(err, errlen, "%s: the program called halt%s%s", q->what, *mt ? ": " : "",
		     mt);
		jv_free(code);
		jv_free(r);
		jv_free(first);
		return -3;
	}
	if (jv_invalid_has_msg(jv_copy(r))) {
		char mt[400];

		msg_text(jv_invalid_get_msg(r), mt, sizeof mt);
		mlc_errf(err, errlen, "%s: %s", q->what, mt);
		jv_free(first);
		return -1;
	}
	jv_free(r);
	if (n != 1) {
		mlc_errf(err, errlen, "%s: gave %s", q->what, n == 0 ? "no output" : "more than one output");
		jv_free(first);
		return -2;
	}
	*out = first;
	return 0;
}

void
mlc_jq_free(struct mlc_jq *q)
{
	if (!q)
		return;
	if (q->jq)
		jq_teardown(&q->jq);
	mlc_buf_free(&q->msgs);
	free(q->what);
	free(q);
}

/*
 * $now is UTC with milliseconds, $today and $now_local are in tz (an IANA
 * name; NULL or "" = the process's own TZ).  localtime_r under a temporary
 * TZ is the only portable way to convert to an arbitrary zone; the old TZ
 * is put back at once.
 */
jv
mlc_jq_time_args(const struct timespec *now, const char *tz, char *err, size_t errlen)
{
	char nowbuf[32], today[16], local[40], off[8];
	struct mlc_tz_saved sv;
	struct tm tm;
	time_t t = now->tv_sec;
	int bad = 0, zoned = tz && *tz;

	mlc_time_fmt(nowbuf, now);
	if (zoned && mlc_tz_enter(&sv, tz) < 0) {
		mlc_errf(err, errlen, "unknown time zone \"%s\"", tz);
		return jv_invalid();
	}
	if (!localtime_r(&t, &tm))
		bad = 1;
	if (zoned)
		mlc_tz_leave(&sv);
	if (bad) {
		mlc_errf(err, errlen, "time out of range");
		return jv_invalid();
	}
	strftime(today, sizeof today, "%Y-%m-%d", &tm);
	strftime(off, sizeof off, "%z", &tm); /* +hhmm */
	snprintf(local, sizeof local, "%sT%02d:%02d:%02d%.3s:%.2s", today, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, off, off + 3);
	return jv_object_set(jv_object_set(jv_object_set(jv_object(), jv_string("now"),
	                                                 jv_string(nowbuf)),
	                                   jv_string("today"), jv_string(today)),
	                     jv_string("now_local"), jv_string(local));
}

/*
 * The plain template forms, evaluated in C (mlc_tmpl_plain): what most
 * rules write, at a fraction of a jq run (no jq_start, no Oniguruma
 * compile per trim or days_ago: jq 1.6 compiles a regex on every call).
 * A template is taken only when every interpolation is, with blanks
 * around its tokens:
 *
 *   expr   := term ( "|" filter )*
 *   term   := prim ( "//" prim )*
 *   prim   := path | string | "first_nonblank(" term ( "," term )* ")"
 *   path   := .NAME ( .NAME )*          (NAME: [A-Za-z_][A-Za-z0-9_]*, no blanks)
 *   string := "..." without backslashes or control characters
 *   filter := trim | amount | amount(string) | days_ago
 *
 * and its text is lexed as jq 1.6 lexes a string's body (raw runs as
 * jv_string_sized takes them, runs of escapes through jv_parse_sized, as
 * its lexer does).  Each form computes what the library's definition
 * above computes, with the same double operations, libm's round and floor,
 * jv_parse for tonumber and jv_dump_string for tostring.  Whatever these
 * cannot decide the same way is left to jq, at compile time (any other
 * syntax) or per input (mlc_tmpl_run returns -1): an error of jq's (a
 * path into a number, amount of a non-number, days_ago of a non-date, all
 * of which jq reports with its own message), a text holding a NUL or
 * U+E000 (alert-render's null marker).  tests/0916 and the fuzz target
 * template-diff compare the two on the same inputs.
 */
enum { P_PATH, P_STR, P_FNB };
enum { F_TRIM, F_AMOUNT, F_DAYS_AGO };

struct tc_term;
struct tc_prim {
	int kind;
	jv *keys;             /* P_PATH */
	size_t nkeys;
	size_t pid;           /* P_PATH: its slot in the memo + 1 (0: none) */
	jv str;               /* P_STR */
	struct tc_term *alts; /* P_FNB */
	size_t nalts;
};
struct tc_term {
	struct tc_prim *p;
	size_t np;
};
struct tc_filt {
	int kind;
	jv sep; /* F_AMOUNT: a string */
};
struct tc_expr {
	struct tc_term t;
	struct tc_filt *f;
	size_t nf;
};
struct tc_seg {
	jv lit;             /* the text before the interpolation (a string) */
	const char *lits;   /* its bytes (held by lit), litn of them */
	size_t litn;
	struct tc_expr *e;  /* NULL: the last text */
};
struct mlc_tmpl {
	int html;
	struct tc_seg *s;
	size_t ns, nexpr;
	int today_ok;
	double today_days;
};

static void
tc_term_free(struct tc_term *t)
{
	size_t i, j;

	for (i = 0; i < t->np; i++) {
		struct tc_prim *p = &t->p[i];

		for (j = 0; j < p->nkeys; j++)
			jv_free(p->keys[j]);
		free(p->keys);
		if (p->kind == P_STR)
			jv_free(p->str);
		for (j = 0; j < p->nalts; j++)
			tc_term_free(&p->alts[j]);
		free(p->alts);
	}
	free(t->p);
}

void
mlc_tmpl_free(struct mlc_tmpl *t)
{
	size_t i, j;

	if (!t)
		return;
	for (i = 0; i < t->ns; i++) {
		jv_free(t->s[i].lit);
		if (t->s[i].e) {
			tc_term_free(&t->s[i].e->t);
			for (j = 0; j < t->s[i].e->nf; j++)
				if (t->s[i].e->f[j].kind == F_AMOUNT)
					jv_free(t->s[i].e->f[j].sep);
			free(t->s[i].e->f);
			free(t->s[i].e);
		}
	}
	free(t->s);
	free(t);
}

/* The parser: over s[*i..n), -1 on anything outside the forms above. */
struct tc_lex {
	const char *s;
	size_t i, n;
};

static void
tc_blank(struct tc_lex *x)
{
	while (x->i < x->n && strchr(" \t\r\n", x->s[x->i]) && x->s[x->i])
		x->i++;
}

static int
tc_isname(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* A punctuation token (after blanks): 1 and consumed, or 0. */
static int
tc_punct(struct tc_lex *x, const char *p)
{
	size_t l = strlen(p);

	tc_blank(x);
	if (x->n - x->i >= l && memcmp(x->s + x->i, p, l) == 0) {
		x->i += l;
		return 1;
	}
	return 0;
}

/* A name token: its length (not consumed), 0 if none. */
static size_t
tc_name(struct tc_lex *x)
{
	size_t j = x->i;

	tc_blank(x);
	j = x->i;
	if (j >= x->n || !tc_isname(x->s[j], 1))
		return 0;
	while (j < x->n && tc_isname(x->s[j], 0))
		j++;
	return j - x->i;
}

static int
tc_word(struct tc_lex *x, const char *w)
{
	size_t l = tc_name(x);

	if (l == strlen(w) && memcmp(x->s + x->i, w, l) == 0) {
		x->i += l;
		return 1;
	}
	return 0;
}

/* "..." without escapes or control characters, valid UTF-8 (jq would
 * replace bad bytes; then it is not ours). */
static int
tc_string(struct tc_lex *x, jv *out)
{
	size_t j;
	jv s;

	tc_blank(x);
	if (x->i >= x->n || x->s[x->i] != '"')
		return -1;
	for (j = x->i + 1; j < x->n && x->s[j] != '"'; j++)
		if (x->s[j] == '\\' || (unsigned char)x->s[j] < 0x20 || x->s[j] == 0x7f)
			return -1;
	if (j >= x->n)
		return -1;
	s = jv_string_sized(x->s + x->i + 1, (int)(j - x->i - 1));
	if ((size_t)jv_string_length_bytes(jv_copy(s)) != j - x->i - 1 ||
	    memcmp(jv_string_value(s), x->s + x->i + 1, j - x->i - 1) != 0) {
		jv_free(s);
		return -1;
	}
	*out = s;
	x->i = j + 1;
	return 0;
}

static int tc_parse_term(struct tc_lex *x, struct tc_term *t);

/*
 * The memo of path values (mlc_tmpl_memo): every path of every plain
 * template has a slot, the same for the same path, which holds the value
 * it gave in generation gen.  A path whose first member is one of skip's
 * (what changes between the runs of one generation) has none.
 */
static struct pm_slot {
	char *path; /* the keys joined by '.' */
	int memo;
	unsigned long gen;
	jv v;
} *pm;
static size_t npm;
static unsigned long pm_gen;
static const char *const *pm_skip;

static size_t
pm_intern(const jv *keys, size_t n)
{
	struct mlc_buf b;
	size_t i;

	mlc_buf_init(&b);
	for (i = 0; i < n; i++) {
		if (i)
			mlc_buf_addc(&b, '.');
		mlc_buf_adds(&b, jv_string_value(keys[i]));
	}
	for (i = 0; i < npm; i++)
		if (strcmp(pm[i].path, b.p) == 0) {
			mlc_buf_free(&b);
			return i + 1;
		}
	pm = mlc_xrealloc(pm, (npm + 1) * sizeof *pm);
	pm[npm].path = b.p;
	pm[npm].memo = 1;
	for (i = 0; pm_skip && pm_skip[i]; i++)
		if (strcmp(pm_skip[i], jv_string_value(keys[0])) == 0)
			pm[npm].memo = 0;
	pm[npm].gen = 0;
	pm[npm].v = jv_invalid();
	return ++npm;
}

void
mlc_tmpl_memo_skip(const char *const *first)
{
	pm_skip = first;
}

void
mlc_tmpl_memo(unsigned long gen)
{
	size_t i;

	pm_gen = gen;
	if (gen)
		return;
	for (i = 0; i < npm; i++) {
		jv_free(pm[i].v);
		pm[i].v = jv_invalid();
		pm[i].gen = 0;
	}
}

void
mlc_tmpl_memo_free(void)
{
	size_t i;

	for (i = 0; i < npm; i++) {
		free(pm[i].path);
		jv_free(pm[i].v);
	}
	free(pm);
	pm = NULL;
	npm = 0;
	pm_gen = 0;
}

static int
tc_parse_prim(struct tc_lex *x, struct tc_prim *p)
{
	memset(p, 0, sizeof *p);
	tc_blank(x);
	if (x->i < x->n && x->s[x->i] == '.') {
		p->kind = P_PATH;
		while (x->i < x->n && x->s[x->i] == '.') {
			size_t j = x->i + 1;

			if (j >= x->n || !tc_isname(x->s[j], 1))
				return -1;
			while (j < x->n && tc_isname(x->s[j], 0))
				j++;
			p->keys = mlc_xrealloc(p->keys, (p->nkeys + 1) * sizeof *p->keys);
			p->keys[p->nkeys++] = jv_string_sized(x->s + x->i + 1, (int)(j - x->i - 1));
			x->i = j;
		}
		p->pid = pm_intern(p->keys, p->nkeys);
		return 0;
	}
	if (x->i < x->n && x->s[x->i] == '"') {
		p->kind = P_STR;
		p->str = jv_null();
		return tc_string(x, &p->str);
	}
	if (tc_word(x, "first_nonblank")) {
		p->kind = P_FNB;
		if (!tc_punct(x, "("))
			return -1;
		do {
			p->alts = mlc_xrealloc(p->alts, (p->nalts + 1) * sizeof *p->alts);
			memset(&p->alts[p->nalts], 0, sizeof *p->alts);
			if (tc_parse_term(x, &p->alts[p->nalts++]) < 0)
				return -1;
		} while (tc_punct(x, ","));
		return tc_punct(x, ")") ? 0 : -1;
	}
	return -1;
}

static int
tc_parse_term(struct tc_lex *x, struct tc_term *t)
{
	do {
		t->p = mlc_xrealloc(t->p, (t->np + 1) * sizeof *t->p);
		if (tc_parse_prim(x, &t->p[t->np++]) < 0)
			return -1;
	} while (tc_punct(x, "//"));
	return 0;
}

static int
tc_parse_expr(struct tc_lex *x, struct tc_expr *e)
{
	if (tc_parse_term(x, &e->t) < 0)
		return -1;
	while (tc_punct(x, "|")) {
		struct tc_filt f = { 0, jv_null() };

		if (tc_word(x, "trim")) {
			f.kind = F_TRIM;
		} else if (tc_word(x, "days_ago")) {
			f.kind = F_DAYS_AGO;
		} else if (tc_word(x, "amount")) {
			f.kind = F_AMOUNT;
			f.sep = jv_string("");
			if (tc_punct(x, "(")) {
				jv_free(f.sep);
				f.sep = jv_null();
				if (tc_string(x, &f.sep) < 0 || !tc_punct(x, ")")) {
					jv_free(f.sep);
					return -1;
				}
			}
		} else {
			return -1;
		}
		e->f = mlc_xrealloc(e->f, (e->nf + 1) * sizeof *e->f);
		e->f[e->nf++] = f;
	}
	tc_blank(x);
	return x->i == x->n ? 0 : -1;
}

/*
 * A text as jq 1.6's lexer reads a string's body, after escape_template's
 * rewriting (a bare '"' becomes \"): runs of [^\\"] through jv_string_sized,
 * runs of escapes (\X for X not 'u' or '(', \u and up to four [A-Za-z0-9])
 * through jv_parse_sized of the run in quotes.  jv_invalid() when the text
 * is not one jq would take as it is.
 */
static jv
tc_text(const char *s, size_t n)
{
	struct mlc_buf esc;
	jv r = jv_string("");
	size_t i = 0;

	mlc_buf_init(&esc);
	while (i < n) {
		if (s[i] != '\\' && s[i] != '"') {
			size_t j = i;

			while (j < n && s[j] != '\\' && s[j] != '"')
				j++;
			r = jv_string_concat(r, jv_string_sized(s + i, (int)(j - i)));
			i = j;
			continue;
		}
		mlc_buf_reset(&esc);
		mlc_buf_addc(&esc, '"');
		while (i < n && (s[i] == '\\' || s[i] == '"')) {
			if (s[i] == '"') {
				mlc_buf_adds(&esc, "\\\"");
				i++;
			} else if (i + 1 >= n || s[i + 1] == '(') {
				goto bad;
			} else if (s[i + 1] == 'u') {
				size_t j = i + 2;

				while (j < n && j < i + 6 &&
				       ((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'a' && s[j] <= 'z') ||
				        (s[j] >= 'A' && s[j] <= 'Z')))
					j++;
				mlc_buf_add(&esc, s + i, j - i);
				i = j;
			} else {
				mlc_buf_add(&esc, s + i, 2);
				i += 2;
			}
		}
		mlc_buf_addc(&esc, '"');
		{
			jv v = jv_parse_sized(esc.p, (int)esc.len);

			if (jv_get_kind(v) != JV_KIND_STRING) {
				jv_free(v);
				goto bad;
			}
			r = jv_string_concat(r, v);
		}
	}
	mlc_buf_free(&esc);
	/* alert-render's null marker, or a NUL: jq's path reports those */
	if (memchr(jv_string_value(r), 0, (size_t)jv_string_length_bytes(jv_copy(r))) ||
	    strstr(jv_string_value(r), "\xEE\x80\x80"))
		goto bad2;
	return r;
bad:
	mlc_buf_free(&esc);
bad2:
	jv_free(r);
	return jv_invalid();
}

/* _mlc_days of a string: 0 and *d, or -1 (not a date: jq says why). */
static int
tc_days(jv s, double *days)
{
	const char *p;
	double y, m, d, yy, era, yoe, doy;
	jv v[3];
	int i, k, ok = 1;
	static const int at[3][2] = { { 0, 4 }, { 5, 2 }, { 8, 2 } };

	if (jv_get_kind(s) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(s)) < 10)
		return -1;
	static char last[10];  /* the last date's days: a pure function of its 10 bytes */
	static double last_days;
	static int have_last;

	p = jv_string_value(s);
	for (i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? p[i] != '-' : !(p[i] >= '0' && p[i] <= '9'))
			return -1;
	if (have_last && memcmp(p, last, 10) == 0) {
		*days = last_days;
		return 0;
	}
	for (k = 0; k < 3; k++) { /* .[a:b] | tonumber: jv_parse of the digits */
		char b[5];

		memcpy(b, p + at[k][0], (size_t)at[k][1]);
		b[at[k][1]] = '\0';
		v[k] = jv_parse(b);
		if (jv_get_kind(v[k]) != JV_KIND_NUMBER)
			ok = 0;
	}
	if (ok) {
		y = jv_number_value(v[0]);
		m = jv_number_value(v[1]);
		d = jv_number_value(v[2]);
	}
	for (k = 0; k < 3; k++)
		jv_free(v[k]);
	if (!ok)
		return -1;
	yy = m <= 2 ? y - 1 : y;
	era = floor(yy / 400);
	yoe = yy - era * 400;
	doy = floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
	*days = era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468;
	memcpy(last, p, 10);
	last_days = *days;
	have_last = 1;
	return 0;
}

/* trim: [ \t\r\n] off both ends of a string (what the two sub()s do). */
static jv
tc_trim(jv v)
{
	const char *p;
	size_t n, a = 0;

	if (jv_get_kind(v) != JV_KIND_STRING)
		return v;
	p = jv_string_value(v);
	n = (size_t)jv_string_length_bytes(jv_copy(v));
	while (a < n && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r' || p[a] == '\n'))
		a++;
	while (n > a && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
	                 p[n - 1] == '\n'))
		n--;
	if (a == 0 && n == (size_t)jv_string_length_bytes(jv_copy(v)))
		return v;
	{
		jv r = jv_string_sized(p + a, (int)(n - a));

		jv_free(v);
		return r;
	}
}

/* _mlc_group($sep) on the ASCII text of a number */
static void
tc_group(struct mlc_buf *b, const char *s, size_t n, const char *sep, size_t sl)
{
	if (n <= 3) {
		mlc_buf_add(b, s, n);
		return;
	}
	tc_group(b, s, n - 3, sep, sl);
	mlc_buf_add(b, sep, sl);
	mlc_buf_add(b, s + n - 3, 3);
}

static void
tc_dump_num(struct mlc_buf *b, double x)
{
	mlc_jq_dump(b, jv_number(x));
}

/* amount($sep); jv_invalid() when jq would stop with an error. */
static jv
tc_amount(jv v, jv sep)
{
	struct mlc_buf b;
	double x, c, i, f;
	jv r;

	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return jv_string("");
	}
	if (jv_get_kind(v) == JV_KIND_STRING) { /* trim | tonumber */
		v = tc_trim(v);
		r = jv_parse(jv_string_value(v));
		jv_free(v);
		v = r;
	}
	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		return jv_invalid();
	}
	x = jv_number_value(v);
	jv_free(v);
	/* jq 1.6 orders nan below every number (nan < 0 is true): not C's */
	if (isnan(x) || isnan(round(fabs(x) * 100) - floor(round(fabs(x) * 100) / 100) * 100))
		return jv_invalid();
	mlc_buf_init(&b);
	if (x < 0) {
		mlc_buf_addc(&b, '-');
		x = -x;
	}
	c = round(x * 100);
	i = floor(c / 100);
	f = c - i * 100;
	{
		struct mlc_buf is;

		mlc_buf_init(&is);
		mlc_jq_dump(&is, jv_number(i));
		tc_group(&b, is.p, is.len, jv_string_value(sep),
		         (size_t)jv_string_length_bytes(jv_copy(sep)));
		mlc_buf_free(&is);
	}
	if (f != 0) {
		mlc_buf_adds(&b, f < 10 ? ".0" : ".");
		tc_dump_num(&b, f);
	}
	r = jv_string_sized(b.p, (int)b.len);
	mlc_buf_free(&b);
	return r;
}

static jv tc_eval_term(const struct mlc_tmpl *t, const struct tc_term *e, jv in);

static int
tc_blankv(jv v)
{
	int r = jv_get_kind(v) == JV_KIND_NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		jv x = tc_trim(jv_copy(v));

		r = jv_string_length_bytes(jv_copy(x)) == 0;
		jv_free(x);
	}
	return r;
}

/* One primary on in (borrowed): its value, or jv_invalid() (jq's to say). */
static jv
tc_eval_prim(const struct mlc_tmpl *t, const struct tc_prim *p, jv in)
{
	size_t i;
	jv v;

	switch (p->kind) {
	case P_PATH:
		if (pm_gen && p->pid && pm[p->pid - 1].memo && pm[p->pid - 1].gen == pm_gen)
			return jv_copy(pm[p->pid - 1].v);
		v = jv_copy(in);
		for (i = 0; i < p->nkeys; i++) {
			if (jv_get_kind(v) == JV_KIND_NULL)
				continue;
			if (jv_get_kind(v) != JV_KIND_OBJECT) {
				jv_free(v);
				return jv_invalid();
			}
			v = jv_object_get(v, jv_copy(p->keys[i]));
			if (!jv_is_valid(v))
				v = jv_null();
		}
		if (pm_gen && p->pid && pm[p->pid - 1].memo) {
			jv_free(pm[p->pid - 1].v);
			pm[p->pid - 1].v = jv_copy(v);
			pm[p->pid - 1].gen = pm_gen;
		}
		return v;
	case P_STR:
		return jv_copy(p->str);
	default: /* first_nonblank(f) */
		for (i = 0; i < p->nalts; i++) {
			v = tc_eval_term(t, &p->alts[i], in);
			if (!jv_is_valid(v) || !tc_blankv(v))
				return v;
			jv_free(v);
		}
		return jv_string("");
	}
}

static jv
tc_eval_term(const struct mlc_tmpl *t, const struct tc_term *e, jv in)
{
	size_t i;
	jv v = jv_invalid();

	for (i = 0; i < e->np; i++) {
		v = tc_eval_prim(t, &e->p[i], in);
		if (!jv_is_valid(v) || i + 1 == e->np)
			return v;
		if (jv_get_kind(v) != JV_KIND_NULL && jv_get_kind(v) != JV_KIND_FALSE)
			return v;
		jv_free(v);
	}
	return v;
}

static jv
tc_eval(const struct mlc_tmpl *t, const struct tc_expr *e, jv in)
{
	jv v = tc_eval_term(t, &e->t, in);
	size_t i;
	double d;

	for (i = 0; i < e->nf && jv_is_valid(v); i++) {
		switch (e->f[i].kind) {
		case F_TRIM:
			v = tc_trim(v);
			break;
		case F_AMOUNT:
			v = tc_amount(v, e->f[i].sep);
			break;
		default: /* days_ago: days_since(.) */
			if (!t->today_ok || tc_days(v, &d) < 0) {
				jv_free(v);
				return jv_invalid();
			}
			jv_free(v);
			v = jv_number(t->today_days - d);
		}
	}
	return v;
}

struct mlc_tmpl *
mlc_tmpl_plain(const char *tmpl, int html, jv args)
{
	struct mlc_tmpl *t;
	struct mlc_jq_span *sp;
	size_t n, i, at = 0;
	jv today;

	if (mlc_jq_template_scan(tmpl, &sp, &n) < 0) {
		free(sp);
		return NULL;
	}
	t = mlc_xcalloc(1, sizeof *t);
	t->html = html;
	t->s = mlc_xcalloc(n + 1, sizeof *t->s);
	t->nexpr = n;
	for (i = 0; i <= n; i++) {
		size_t end = i < n ? sp[i].a - 2 : strlen(tmpl);
		struct tc_seg *g = &t->s[t->ns++];

		g->lit = tc_text(tmpl + at, end - at);
		if (!jv_is_valid(g->lit))
			goto fail;
		g->lits = jv_string_value(g->lit);
		g->litn = (size_t)jv_string_length_bytes(jv_copy(g->lit));
		if (i < n) {
			struct tc_lex x = { tmpl, sp[i].a, sp[i].b };

			g->e = mlc_xcalloc(1, sizeof *g->e);
			if (tc_parse_expr(&x, g->e) < 0)
				goto fail;
			at = sp[i].b + 1;
		}
	}
	free(sp);
	args = complete_args(jv_copy(args));
	today = jv_object_get(args, jv_string("today"));
	t->today_ok = jv_is_valid(today) && tc_days(today, &t->today_days) == 0;
	jv_free(today);
	return t;
fail:
	free(sp);
	mlc_tmpl_free(t);
	return NULL;
}

size_t
mlc_tmpl_nexpr(const struct mlc_tmpl *t)
{
	return t->nexpr;
}

static int
tc_term_reads(const struct tc_term *e, const char *field)
{
	size_t i, j;

	for (i = 0; i < e->np; i++) {
		const struct tc_prim *p = &e->p[i];

		if (p->kind == P_PATH && strcmp(jv_string_value(p->keys[0]), field) == 0)
			return 1;
		for (j = 0; j < p->nalts; j++)
			if (tc_term_reads(&p->alts[j], field))
				return 1;
	}
	return 0;
}

int
mlc_tmpl_reads(const struct mlc_tmpl *t, const char *field)
{
	size_t i;

	for (i = 0; i < t->ns; i++)
		if (t->s[i].e && tc_term_reads(&t->s[i].e->t, field))
			return 1;
	return 0;
}

static void
tc_term_paths(const struct tc_term *e, void (*cb)(void *, const jv *, size_t), void *arg)
{
	size_t i, j;

	for (i = 0; i < e->np; i++) {
		const struct tc_prim *p = &e->p[i];

		if (p->kind == P_PATH)
			cb(arg, p->keys, p->nkeys);
		for (j = 0; j < p->nalts; j++)
			tc_term_paths(&p->alts[j], cb, arg);
	}
}

void
mlc_tmpl_paths(const struct mlc_tmpl *t, void (*cb)(void *arg, const jv *keys, size_t n),
               void *arg)
{
	size_t i;

	for (i = 0; i < t->ns; i++)
		if (t->s[i].e)
			tc_term_paths(&t->s[i].e->t, cb, arg);
}

/* @html: jq 1.6 escapes these five, byte by byte (' as &apos;). */
static void
tc_html(struct mlc_buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '<': mlc_buf_adds(b, "&lt;"); break;
		case '>': mlc_buf_adds(b, "&gt;"); break;
		case '&': mlc_buf_adds(b, "&amp;"); break;
		case '\'': mlc_buf_adds(b, "&apos;"); break;
		case '"': mlc_buf_adds(b, "&quot;"); break;
		default: mlc_buf_addc(b, s[i]);
		}
	}
}

int
mlc_tmpl_run(const struct mlc_tmpl *t, jv input, struct mlc_buf *out, const char *null_text,
             size_t *nulls)
{
	size_t i, start = out->len, k = 0;

	for (i = 0; i < t->ns; i++) {
		const struct tc_seg *g = &t->s[i];
		jv v, s;
		const char *p;
		size_t n;

		mlc_buf_add(out, g->lits, g->litn);
		if (!g->e)
			break;
		v = tc_eval(t, g->e, input);
		if (!jv_is_valid(v))
			goto fallback;
		if (jv_get_kind(v) == JV_KIND_NULL) {
			jv_free(v);
			nulls[k++] = i;
			if (null_text)
				mlc_buf_adds(out, null_text);
			continue;
		}
		if (jv_get_kind(v) == JV_KIND_NUMBER) { /* digits, '.', 'e', '+', '-': nothing to escape */
			mlc_jq_dump(out, v);
			continue;
		}
		s = jv_get_kind(v) == JV_KIND_STRING ? v : jv_dump_string(v, 0);
		p = jv_string_value(s);
		n = (size_t)jv_string_length_bytes(jv_copy(s));
		if (memchr(p, 0, n) || strstr(p, "\xEE\x80\x80")) {
			jv_free(s);
			goto fallback;
		}
		if (t->html)
			tc_html(out, p, n);
		else
			mlc_buf_add(out, p, n);
		jv_free(s);
	}
	return (int)k;
fallback:
	out->len = start;
	out->p[start] = '\0';
	return -1;
}

/*
 * jv_dump_string(v, 0)'s text appended to b, without building it where
 * the text is known: a string of bytes from U+0020 up, without DEL, is
 * itself in quotes with " and \ escaped (jq escapes the control
 * characters and DEL, and writes every other character as its UTF-8
 * bytes); a whole number from 1 to 10^15 in magnitude is its digits (jq's
 * shortest form writes an exponent only when there are more than 15
 * zeros after the last significant digit).  Anything else: jq's dump.
 */
void
mlc_jq_dump(struct mlc_buf *b, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		size_t n = (size_t)jv_string_length_bytes(jv_copy(v)), i;

		for (i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				break;
		if (i == n) {
			size_t run = 0;

			mlc_buf_addc(b, '"');
			for (i = 0; i < n; i++) {
				if (s[i] == '"' || s[i] == '\\') {
					mlc_buf_add(b, s + run, i - run);
					mlc_buf_addc(b, '\\');
					run = i;
				}
			}
			mlc_buf_add(b, s + run, n - run);
			mlc_buf_addc(b, '"');
			jv_free(v);
			return;
		}
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);

		if (d == floor(d) && fabs(d) >= 1 && fabs(d) < 1e15) {
			char dig[MLC_ULL_DIGITS];
			size_t n = mlc_ull_digits(dig, (unsigned long long)fabs(d), 1);

			if (d < 0)
				mlc_buf_addc(b, '-');
			mlc_buf_add(b, dig, n);
			jv_free(v);
			return;
		}
	}
	v = jv_dump_string(v, 0);
	mlc_buf_add(b, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
	jv_free(v);
}

/*
 * A member name as a jv string, made once for each name met (a jv string
 * keeps its hash): alert-render looks up some 40 members an alert, wire.c
 * checks a few on every line.  Direct-mapped by the name's address (most
 * callers pass a literal) and checked by its text, so a name in a reused
 * buffer is never taken for another; bounded.
 */
jv
mlc_jq_key(const char *k)
{
	static struct {
		const char *p;
		char *s;
		jv v;
	} c[256];
	size_t i = (size_t)(((uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15u) >> 56);

	if (c[i].p == k && strcmp(c[i].s, k) == 0)
		return jv_copy(c[i].v);
	if (c[i].p) {
		free(c[i].s);
		jv_free(c[i].v);
	}
	c[i].p = k;
	c[i].s = mlc_xstrdup(k);
	c[i].v = jv_string(k);
	return jv_copy(c[i].v);
}
