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
