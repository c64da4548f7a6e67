/*
 * alert-render — turn alerts into deliveries: one per recipient and channel.
 *
 * usage: alert-render -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]
 *                     [--no-state] [--strict]            < alerts > deliveries
 *        alert-render -r RULE --release                  (deferred ones only)
 *        alert-render -r RULE --check
 *        alert-render -r RULE --preview FILE
 *
 * stdin: alert lines from alert-match.  stdout: one delivery line per
 * recipient and channel (sms, whatsapp, email), in the order of the input;
 * digests at the end of input.  Lines marked "suppressed" pass through
 * unchanged so that alert-log records the decision.
 *
 * Templates ([message] sms, subject, text, html; [digest] subject, header,
 * row, footer, amount, currency) are jq string bodies, compiled once.
 * Their input is the alert's record merged with {alert_id, rule, severity,
 * channel, recipient}.
 * An interpolation whose value is null renders as "" and is reported on
 * stderr ("template sms: \(.contacts.vendor.name) is null"); with --strict
 * such a delivery is not made and the line counts as bad (65).  To know
 * which interpolation was null, each template with interpolations has a
 * companion program that evaluates them all once more and says which were
 * null, run only when the template succeeded.
 *
 * SMS: transliterated when [message] transliterate = yes, then cut to
 * [message] max_segments (default 2) by removing the end: templates put
 * the essentials (document, party, amount) first.  WhatsApp: the same text,
 * only Twilio's 1600-character limit applies.
 *
 * Digests ([digest] channel): deliveries on that channel are grouped per
 * address into one message at end of input; rows are spooled to a private
 * temporary SQLite database (on disk), so memory does not grow with the
 * number of alerts.  "digest_only" alerts (storm guard) only go to digests.
 * An e-mail digest is a table: a header row ([digest] columns), the row's
 * cells, an amount column with a total per currency ([digest] amount,
 * currency), the same in the plain text, aligned (digest_measure).
 *
 * State (not with --no-state or --preview): quiet hours ([limits]
 * quiet_hours, quiet_action) hold or drop SMS and WhatsApp deliveries (not
 * e-mail, which rings no phone) in the recipient's time zone; held ones are
 * kept in table deferred and released by a later run whose time has come
 * (every run releases first; --release only releases), once: the trail
 * decides (see release()).  Caps ([limits] per_recipient_hour,
 * per_recipient_day) count what the audit trail says was sent to any
 * address of the recipient, across all rules, plus this run's deliveries.
 * A lock on the state database held by another process is waited for.
 *
 * Exit: 0; 64 usage; 65 bad input lines (the others were processed);
 * 66 no such rule or preview file; 74 write error or database I/O;
 * 78 rule, template or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "mlc.h"

static const char usage[] =
	"usage: alert-render -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]\n"
	"                    [--no-state] [--strict] < alerts > deliveries\n"
	"       alert-render -r RULE [--release | --check | --preview FILE]\n"
	"Renders the rule's message templates for each alert: one delivery per\n"
	"recipient and channel, digests at the end.\n";

/* ---- options and global state ---- */

static struct mlc_rule rule;
static int opt_strict, opt_preview, opt_nostate;
static int release_only; /* --release */
static struct mlc_store *store;
static struct timespec now;
static char now_s[32], today[16];
static const char *rule_tz;      /* rule's, else config's, else NULL (UTC) */
static char *conf_tz;
static int max_segments = 2, transliterate;
static int reply_code;           /* [message] reply_code: print ack.c's reply codes */
static int quiet_from = -1, quiet_to = -1; /* minutes of the day */
static enum { Q_DEFER, Q_DROP, Q_DEFER_EXCEPT_CRITICAL } quiet_action = Q_DEFER;
static long cap_hour, cap_day;
static char *digest_channel;     /* NULL: no [digest] */
static long digest_max_items;    /* 0 = no limit */
static unsigned long n_bad, n_noaddr, n_null, n_deliveries;
static int exit_io;              /* an output or database failure code */

/* ---- templates ---- */

struct tmpl {
	const char *name;      /* "sms", "digest row", ... */
	char *src;             /* as written in the rule; NULL: not used */
	unsigned line;
	int html;
	int tried;             /* compiled, or compilation failed */
	struct mlc_jq *q;
	char **exprs;          /* the interpolations, for messages */
	size_t nexpr;
	int c_tried;           /* mlc_tmpl_plain tried */
	struct mlc_tmpl *c;    /* its plain forms in C; NULL: jq renders it */
	size_t *cnulls;        /* room for c's null interpolations */
};
static int config_failed; /* a template did not compile: stop with 78 */

static void
tmpl_free(struct tmpl *t)
{
	size_t i;

	mlc_jq_free(t->q);
	mlc_tmpl_free(t->c);
	free(t->cnulls);
	free(t->src);
	for (i = 0; i < t->nexpr; i++)
		free(t->exprs[i]);
	free(t->exprs);
	memset(t, 0, sizeof *t);
}

static jv
jq_args(void)
{
	char err[256];
	jv a = mlc_jq_time_args(&now, rule_tz, err, sizeof err);

	if (!jv_is_valid(a)) {
		jv_free(a);
		mlc_die(MLC_EX_CONFIG, "rule %s: %s", rule.name, err);
	}
	return a;
}

static void
tmpl_setup(struct tmpl *t, const char *name, const char *src, unsigned line, int html)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	t->src = mlc_xstrdup(src);
	t->line = line;
	t->html = html;
}

/* The interpolations' sources, for the messages that name one (once). */
static void
tmpl_exprs(struct tmpl *t, const struct mlc_jq_span *sp, size_t n)
{
	size_t i;

	if (t->exprs)
		return;
	t->exprs = mlc_xcalloc(n ? n : 1, sizeof *t->exprs);
	t->nexpr = n;
	for (i = 0; i < n; i++)
		t->exprs[i] = mlc_xstrndup(t->src + sp[i].a, sp[i].b - sp[i].a);
}

/*
 * The template's plain forms in C (jqrule.c, mlc_tmpl_plain), made once;
 * NULL when it has other forms, or when MLC_TEMPLATE_JQ=1 (tests only:
 * every template through jq, to compare the two; see tests/0916).
 */
static struct mlc_tmpl *
tmpl_c(struct tmpl *t)
{
	static int force_jq = -1;

	if (t->c_tried)
		return t->c;
	t->c_tried = 1;
	if (force_jq < 0) {
		const char *e = getenv("MLC_TEMPLATE_JQ");

		force_jq = e && strcmp(e, "1") == 0;
	}
	if (!force_jq) {
		jv a = jq_args();

		t->c = mlc_tmpl_plain(t->src, t->html, a);
		jv_free(a);
	}
	if (t->c) {
		struct mlc_jq_span *sp;
		size_t n;

		mlc_jq_template_scan(t->src, &sp, &n); /* terminated: mlc_tmpl_plain took it */
		tmpl_exprs(t, sp, n);
		free(sp);
		t->cnulls = mlc_xcalloc(n + 1, sizeof *t->cnulls);
	}
	return t->c;
}

/*
 * Compile a template (once, on first use; --check compiles all).  Every
 * \(E) becomes \((E) | if . == null then "<U+E000>i<U+E001>" else . end):
 * a missing field does not print as "null", and the marker says which
 * interpolation it was; tmpl_render reports and removes the markers.
 * (A value containing those private-use characters would confuse this;
 * JDE data has none.)  Returns 0, or -1 with the error reported.
 */
static int
tmpl_build(struct tmpl *t)
{
	struct mlc_buf b;
	struct mlc_jq_span *sp;
	size_t n, i, last = 0;
	char err[1024], what[256];
	const char *src = t->src;

	if (t->tried)
		return t->q ? 0 : -1;
	t->tried = 1;
	snprintf(what, sizeof what, "%s:%u: template %s", rule.path, t->line, t->name);
	if (mlc_jq_template_scan(src, &sp, &n) < 0) {
		free(sp);
		mlc_warn("%s: unterminated \\( in template", what);
		config_failed = 1;
		return -1;
	}
	mlc_buf_init(&b);
	tmpl_exprs(t, sp, n);
	for (i = 0; i < n; i++) {
		mlc_buf_add(&b, src + last, sp[i].a - last);
		mlc_buf_addc(&b, '(');
		mlc_buf_add(&b, src + sp[i].a, sp[i].b - sp[i].a);
		mlc_buf_printf(&b, "\n) | if . == null then \"\xEE\x80\x80%zu\xEE\x80\x81\" else . end",
		               i);
		last = sp[i].b;
	}
	mlc_buf_adds(&b, src + last);
	free(sp);
	t->q = t->html ? mlc_jq_template_html(b.p, what, jq_args(), err, sizeof err)
	               : mlc_jq_template(b.p, what, jq_args(), err, sizeof err);
	mlc_buf_free(&b);
	if (!t->q) {
		mlc_warn("%s", err);
		config_failed = 1;
		return -1;
	}
	return 0;
}

static void
null_warn(const struct tmpl *t, size_t i, unsigned long lineno)
{
	const char *x = t->exprs[i];
	int xl = (int)strcspn(x, "\n");

	mlc_warn("line %lu: rule %s: template %s: \\(%.*s%s) is null", lineno, rule.name, t->name,
	         xl > 80 ? 80 : xl, x, xl > 80 || x[xl] ? "..." : "");
}

/*
 * Render t on input (borrowed) into out (appended).  0, 1 if a value was
 * null (reported unless quiet), -1 on an error (reported).  Through C
 * where the template's forms and this input allow (tmpl_c), else jq: the
 * same text and the same messages either way.
 */
static int
tmpl_render2(struct tmpl *t, jv input, unsigned long lineno, struct mlc_buf *out, int quiet)
{
	char err[1024];
	const char *p, *e;
	jv r;
	int nulls = 0;

	if (tmpl_c(t)) {
		int k = mlc_tmpl_run(t->c, input, out, NULL, t->cnulls), j;

		if (k >= 0) {
			for (j = 0; j < k && !quiet; j++)
				null_warn(t, t->cnulls[j], lineno);
			if (k && !quiet)
				n_null++;
			return k > 0;
		}
	}
	if (tmpl_build(t) < 0)
		return -1;
	if (mlc_jq_run1(t->q, jv_copy(input), &r, err, sizeof err) < 0) {
		mlc_warn("line %lu: rule %s: %s", lineno, rule.name, err);
		jv_free(r);
		return -1;
	}
	if (jv_get_kind(r) != JV_KIND_STRING) {
		mlc_warn("line %lu: rule %s: template %s did not give a string", lineno, rule.name,
		         t->name);
		jv_free(r);
		return -1;
	}
	/* A NUL ("\u0000" in a record) would silently end the text here. */
	if (strlen(jv_string_value(r)) != (size_t)jv_string_length_bytes(jv_copy(r))) {
		mlc_warn("line %lu: rule %s: template %s: the text holds a NUL character (\\u0000)",
		         lineno, rule.name, t->name);
		jv_free(r);
		return -1;
	}
	for (p = jv_string_value(r); (e = strstr(p, "\xEE\x80\x80")); p = e) {
		const char *end = strstr(e, "\xEE\x80\x81");
		size_t i;

		mlc_buf_add(out, p, (size_t)(e - p));
		if (!end) { /* not ours after all */
			mlc_buf_add(out, e, 3);
			e += 3;
			continue;
		}
		i = (size_t)strtoul(e + 3, NULL, 10);
		if (!quiet && i < t->nexpr)
			null_warn(t, i, lineno);
		nulls = 1;
		e = end + 3;
	}
	mlc_buf_adds(out, p);
	jv_free(r);
	if (nulls && !quiet)
		n_null++;
	return nulls;
}

static int
tmpl_render(struct tmpl *t, jv input, unsigned long lineno, struct mlc_buf *out)
{
	return tmpl_render2(t, input, lineno, out, 0);
}

/* The templates of this rule. */
static struct tmpl t_sms, t_subject, t_text, t_html;
static struct tmpl d_subject, d_header, d_header_html, d_row, d_footer, d_footer_html;
static struct tmpl *d_cells;     /* the digest row's table cells (e-mail) */
static size_t d_ncells;
static struct tmpl d_amount, d_currency; /* [digest] amount, currency; src NULL: none */
static char **d_labels;          /* [digest] columns: the table's header row */
static size_t d_nlabels;

/* Defaults where a rule leaves a template out. */
static const char def_sms[] = "\\(.rule): \\(.table // \"\") \\(.key // \"\")";
static const char def_subject[] = "[\\(.severity)] \\(.rule): \\(.table // \"\") \\(.key // \"\")";
static const char def_d_subject[] = "\\(.rule): \\(.count) alerts on \\(.today)";
static const char def_d_header[] = "\\(.count) alerts from rule \\(.rule) on \\(.today):";

struct tdef {
	struct tmpl *t;
	const char *section, *key, *name, *deflt;
	int html;
};

/* ---- WhatsApp templates ([message] whatsapp_template, whatsapp_variables) ---- */

static void add_str(struct mlc_buf *b, const char *k, const char *v);

static const char *wa_sid;                   /* NULL: WhatsApp gets the sms text as Body */
static const struct mlc_conf_entry *wa_vars_e; /* NULL: a template without variables */
static struct mlc_jq *wa_vars;
static int wa_vars_tried;

/* Compile [message] whatsapp_variables (once): 0, or -1 reported. */
static int
wa_build(void)
{
	char err[1024], what[256];

	if (wa_vars_tried)
		return wa_vars || !wa_vars_e ? 0 : -1;
	wa_vars_tried = 1;
	if (!wa_vars_e)
		return 0;
	snprintf(what, sizeof what, "%s:%u: [message] whatsapp_variables", rule.path,
	         wa_vars_e->line);
	if (!(wa_vars = mlc_jq_compile(wa_vars_e->value, what, jq_args(), err, sizeof err))) {
		mlc_warn("%s", err);
		config_failed = 1;
		return -1;
	}
	return 0;
}

/*
 * The variables the program gave (r, borrowed) as Twilio takes them: each
 * string value cleaned (content.c), then checked.  placeholder: a null or
 * empty value counts as present (--check, on a record without data).  0 with
 * *out the cleaned object (the caller frees it), or -1 with field and what.
 */
static int
wa_vars_clean(jv r, int placeholder, jv *out, char *field, size_t fl, char *what, size_t wl)
{
	jv keys, o = jv_object();
	int i, n;

	*out = jv_null();
	if (jv_get_kind(r) != JV_KIND_OBJECT) {
		field[0] = '\0';
		snprintf(what, wl, "gave %s, not an object of numbered variables ({\"1\": ..., \"2\": ...})",
		         jv_kind_name(jv_get_kind(r)));
		jv_free(o);
		return -1;
	}
	keys = jv_keys(jv_copy(r));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n; i++) {
		jv k = jv_array_get(jv_copy(keys), i), v = jv_object_get(jv_copy(r), jv_copy(k));

		if (jv_get_kind(v) == JV_KIND_STRING) {
			struct mlc_buf c;

			mlc_buf_init(&c);
			mlc_content_value_clean(jv_string_value(v),
			                        (size_t)jv_string_length_bytes(jv_copy(v)), &c);
			jv_free(v);
			/* (amount and trim of a missing value give "") */
			v = placeholder && !c.len ? jv_string("x") : jv_string_sized(c.p, (int)c.len);
			mlc_buf_free(&c);
		} else if (placeholder && jv_get_kind(v) == JV_KIND_NULL) {
			jv_free(v);
			v = jv_string("x");
		}
		o = jv_object_set(o, k, v);
	}
	jv_free(keys);
	if (mlc_content_vars_check(o, field, fl, what, wl) < 0) {
		jv_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

/*
 * A WhatsApp template delivery's members: content_sid, and the variables
 * evaluated on input (borrowed), in the order of their numbers.  0, or -1
 * (reported: Twilio would refuse what is wrong, 21656).
 */
static int
wa_render(jv input, unsigned long lineno, struct mlc_buf *line)
{
	char err[1024], field[32], what[256];
	jv r, o;

	add_str(line, "content_sid", wa_sid);
	if (!wa_vars_e)
		return 0;
	if (wa_build() < 0)
		return -1;
	if (mlc_jq_run1(wa_vars, jv_copy(input), &r, err, sizeof err) < 0) {
		mlc_warn("line %lu: rule %s: [message] whatsapp_variables: %s", lineno, rule.name,
		         err);
		jv_free(r);
		return -1;
	}
	if (wa_vars_clean(r, 0, &o, field, sizeof field, what, sizeof what) < 0) {
		mlc_warn("line %lu: rule %s: [message] whatsapp_variables%s%s%s: %s; not sent",
		         lineno, rule.name, *field ? ": variable \"" : "", field, *field ? "\"" : "",
		         what);
		jv_free(r);
		return -1;
	}
	jv_free(r);
	mlc_buf_adds(line, ",\"content_variables\":");
	mlc_content_vars_json(o, line);
	jv_free(o);
	return 0;
}

/*
 * --check: the variables program compiles, reads fetched columns, and on a
 * record without data gives an object of numbered string variables (a
 * field that is null there is taken as present; a runtime error there is
 * the empty record's, not the rule's).  1 if something is wrong.
 */
static int check_fields(const struct mlc_conf_entry *e, const char *name, int program);

static int
wa_check(void)
{
	char err[1024], field[32], what[256];
	jv in, r, o = jv_null();
	int bad = 0;

	if (!wa_vars_e)
		return 0;
	if (wa_build() < 0)
		return 1;
	bad |= check_fields(wa_vars_e, "whatsapp_variables", 1);
	in = jv_object();
	in = jv_object_set(in, jv_string("alert_id"), jv_string("check"));
	in = jv_object_set(in, jv_string("rule"), jv_string(rule.name));
	in = jv_object_set(in, jv_string("severity"), jv_string("warning"));
	in = jv_object_set(in, jv_string("channel"), jv_string("whatsapp"));
	in = jv_object_set(in, jv_string("recipient"), jv_object());
	if (mlc_jq_run1(wa_vars, in, &r, err, sizeof err) == 0 &&
	    wa_vars_clean(r, 1, &o, field, sizeof field, what, sizeof what) < 0) {
		mlc_warn("%s:%u: [message] whatsapp_variables%s%s%s: %s", rule.path, wa_vars_e->line,
		         *field ? ": variable \"" : "", field, *field ? "\"" : "", what);
		bad = 1;
	}
	jv_free(o);
	jv_free(r);
	return bad;
}

/* Split a digest row template into table cells at top-level " | " (outside
 * interpolations, where | is jq's pipe). */
static size_t
split_cells(const char *src, char ***cells)
{
	struct mlc_jq_span *sp;
	size_t n, i = 0, start = 0, k = 0, si = 0, len = strlen(src);

	mlc_jq_template_scan(src, &sp, &n); /* unterminated: reported by tmpl_build */

	*cells = mlc_xmalloc((len / 3 + 2) * sizeof **cells);
	while (i < len) {
		if (si < n && i == sp[si].a) {
			i = sp[si].b;
			si++;
			continue;
		}
		if (i + 3 <= len && strncmp(src + i, " | ", 3) == 0) {
			(*cells)[k++] = mlc_xstrndup(src + start, i - start);
			i += 3;
			start = i;
			continue;
		}
		i++;
	}
	(*cells)[k++] = mlc_xstrndup(src + start, len - start);
	free(sp);
	return k;
}

static int
compile_all(int eager)
{
	const struct mlc_conf_entry *e;
	int bad = 0;
	size_t i;
	const struct tdef defs[] = {
		{ &t_sms, "message", "sms", "sms", def_sms, 0 },
		{ &t_subject, "message", "subject", "subject", def_subject, 0 },
		{ &t_text, "message", "text", "text", NULL, 0 },
		{ &t_html, "message", "html", "html", NULL, 1 },
		{ &d_subject, "digest", "subject", "digest subject", def_d_subject, 0 },
		{ &d_header, "digest", "header", "digest header", def_d_header, 0 },
		{ &d_header_html, "digest", "header", "digest header", def_d_header, 1 },
		{ &d_row, "digest", "row", "digest row", NULL, 0 },
		{ &d_footer, "digest", "footer", "digest footer", "", 0 },
		{ &d_footer_html, "digest", "footer", "digest footer", "", 1 },
		{ &d_amount, "digest", "amount", "digest amount", NULL, 0 },
		{ &d_currency, "digest", "currency", "digest currency", NULL, 0 },
	};

	for (i = 0; i < sizeof defs / sizeof defs[0]; i++) {
		const char *src;
		unsigned line = 0;

		if ((e = mlc_conf_find(&rule.conf, defs[i].section, defs[i].key))) {
			src = e->value;
			line = e->line;
		} else if (defs[i].t == &t_text || defs[i].t == &d_row) {
			/* the e-mail text and a digest row default to the SMS text */
			if ((e = mlc_conf_find(&rule.conf, "message", "sms"))) {
				src = e->value;
				line = e->line;
			} else {
				src = def_sms;
			}
		} else if (defs[i].t == &t_html) {
			continue; /* made from the text, escaped */
		} else if (!defs[i].deflt) {
			continue; /* an amount column only where the rule asks for one */
		} else {
			src = defs[i].deflt;
		}
		tmpl_setup(defs[i].t, defs[i].name, src, line, defs[i].html);
		if (eager && tmpl_build(defs[i].t) < 0)
			bad = 1;
	}
	{
		char **cells;
		size_t k;

		d_ncells = split_cells(d_row.src, &cells);
		d_cells = mlc_xcalloc(d_ncells, sizeof *d_cells);
		for (k = 0; k < d_ncells; k++) {
			/* text: the HTML part escapes each cell as it writes it */
			tmpl_setup(&d_cells[k], "digest row", cells[k], d_row.line, 0);
			if (eager && !bad && tmpl_build(&d_cells[k]) < 0)
				bad = 1;
			free(cells[k]);
		}
		free(cells);
	}
	if (d_currency.src && !d_amount.src) {
		mlc_warn("%s:%u: [digest] currency needs [digest] amount", rule.path, d_currency.line);
		bad = 1;
	}
	if ((e = mlc_conf_find(&rule.conf, "digest", "columns"))) {
		size_t want = d_ncells + (d_amount.src != NULL);

		d_nlabels = split_cells(e->value, &d_labels);
		if (d_nlabels != want) {
			mlc_warn("%s:%u: [digest] columns names %zu column%s; the row has %zu cell%s%s, "
			         "so it needs %zu names separated by \" | \"",
			         rule.path, e->line, d_nlabels, d_nlabels == 1 ? "" : "s", d_ncells,
			         d_ncells == 1 ? "" : "s", d_amount.src ? " and [digest] amount one more" : "",
			         want);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/*
 * [resolved]: the notice to those who were sent an alert whose record
 * stopped matching (alert-match --resolved writes it: alert id
 * "RULE:KEY/resolved", a "resolved" member).  Its own templates, compiled
 * and rendered as [message]'s (tmpl_build, tmpl_render); no digest, no
 * html template (made from the text).  Deliveries of a rule with
 * [resolved] say "resolvable": alert-log then opens the alert (trail.c,
 * table open_alert) when it records one sent.
 */
static struct tmpl r_sms, r_subject, r_text;
static int has_resolved;  /* the rule has a [resolved] section */
static int cur_resolved;  /* the alert being rendered is a resolved notice */
static const char def_r_sms[] = "Resolved: \\(.rule): \\(.table // \"\") \\(.key // \"\")";
static const char def_r_subject[] = "[resolved] \\(.rule): \\(.table // \"\") \\(.key // \"\")";

static int
compile_resolved(int eager)
{
	const struct mlc_conf_entry *e, *sms;
	int bad = 0;
	size_t i;

	for (i = 0; i < rule.conf.n && !has_resolved; i++)
		has_resolved = strcmp(rule.conf.v[i].section, "resolved") == 0;
	if (!has_resolved)
		return 0;
	sms = mlc_conf_find(&rule.conf, "resolved", "sms");
	tmpl_setup(&r_sms, "resolved sms", sms ? sms->value : def_r_sms, sms ? sms->line : 0, 0);
	e = mlc_conf_find(&rule.conf, "resolved", "subject");
	tmpl_setup(&r_subject, "resolved subject", e ? e->value : def_r_subject, e ? e->line : 0, 0);
	/* the e-mail text defaults to the SMS text, as in [message] */
	if (!(e = mlc_conf_find(&rule.conf, "resolved", "text")))
		e = sms;
	tmpl_setup(&r_text, "resolved text", e ? e->value : def_r_sms, e ? e->line : 0, 0);
	if (eager)
		bad = tmpl_build(&r_sms) < 0 || tmpl_build(&r_subject) < 0 || tmpl_build(&r_text) < 0;
	return bad ? -1 : 0;
}

/*
 * [escalation]: a step's message to the step's recipients when no one
 * acknowledged the alert in time (alert-match --escalate writes it: alert
 * id "RULE:KEY/escN", an "escalation" member, which the deliveries carry
 * on for alert-log).  Its own templates, sms, subject and text, by default
 * the [message] ones after a line that says so; no html template, no
 * digest.  Deliveries of a rule with [escalation] carry "escalate" (the
 * first step's delay and the steps): alert-log opens the escalation when
 * it records one sent.
 */
static struct tmpl e_sms, e_subject, e_text;
static int has_escalation; /* [escalation] steps */
static int cur_escalation; /* the alert being rendered is an escalation step */
static long esc_first;     /* the first step's delay, seconds */
static char esc_steps_text[MLC_ESC_MAX * 33];
static const char esc_prefix[] = "Escalated, not acknowledged in \\(.escalation.after): ";
static const char esc_text_prefix[] = "Not acknowledged in \\(.escalation.after) (step "
                                      "\\(.escalation.step) of \\(.escalation.of)).\\n\\n";

/* prefix then the [message] template (or its default) as one template */
static void
esc_tmpl(struct tmpl *t, const char *name, const char *key, const char *prefix,
         const char *fallback_key, const char *deflt)
{
	const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, "escalation", key);
	struct mlc_buf b;

	if (e) {
		tmpl_setup(t, name, e->value, e->line, 0);
		return;
	}
	if (!(e = mlc_conf_find(&rule.conf, "message", key)) && fallback_key)
		e = mlc_conf_find(&rule.conf, "message", fallback_key);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, prefix);
	mlc_buf_adds(&b, e ? e->value : deflt);
	tmpl_setup(t, name, b.p, e ? e->line : 0, 0);
	mlc_buf_free(&b);
}

static int
compile_escalation(int eager)
{
	struct mlc_esc_step st[MLC_ESC_MAX];
	char err[1024];
	int n = mlc_rule_escalation(&rule, st, err, sizeof err), i, bad = 0;

	if (n < 0) {
		mlc_warn("%s", err);
		return -1;
	}
	if (!(has_escalation = n > 0))
		return 0;
	esc_first = st[0].after;
	esc_steps_text[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t l = strlen(esc_steps_text);

		snprintf(esc_steps_text + l, sizeof esc_steps_text - l, "%s%s", i ? "," : "",
		         st[i].after_text);
	}
	esc_tmpl(&e_sms, "escalation sms", "sms", esc_prefix, NULL, def_sms);
	esc_tmpl(&e_subject, "escalation subject", "subject", "[escalated] ", NULL, def_subject);
	esc_tmpl(&e_text, "escalation text", "text", esc_text_prefix, "sms", def_sms);
	if (eager)
		bad = tmpl_build(&e_sms) < 0 || tmpl_build(&e_subject) < 0 || tmpl_build(&e_text) < 0;
	return bad ? -1 : 0;
}

static void
free_all_templates(void)
{
	struct tmpl *all[] = { &t_sms, &t_subject, &t_text, &t_html, &d_subject, &d_header,
		               &d_header_html, &d_row, &d_footer, &d_footer_html, &d_amount,
		               &d_currency, &r_sms, &r_subject, &r_text, &e_sms, &e_subject,
		               &e_text };
	size_t i;

	for (i = 0; i < sizeof all / sizeof all[0]; i++)
		tmpl_free(all[i]);
	for (i = 0; i < d_ncells; i++)
		tmpl_free(&d_cells[i]);
	free(d_cells);
	mlc_jq_free(wa_vars);
	for (i = 0; i < d_nlabels; i++)
		free(d_labels[i]);
	free(d_labels);
}

/* ---- --check: fields read from .row/.dates/.trim/.times ---- */

static int
word_in(const char *list, const char *w, size_t wl)
{
	const char *p = list;

	while (p && *p) {
		size_t n;

		p += strspn(p, " \t\n,");
		n = strcspn(p, " \t\n,");
		if (n == wl && strncmp(p, w, wl) == 0)
			return 1;
		p += n;
	}
	return 0;
}

static int
is_ident(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Is column col (bare alias) fetched?  jde-fetch asks for [source]
 * columns, the key ([source] key, else the catalog's) and the incremental
 * columns (catalog.c decides both). */
static int
column_known(const char *table, const char *cols, const char *col, size_t cl)
{
	const char *keys = mlc_rule_get(&rule, "source", "key");
	struct mlc_catalog_incr inc;

	if (!keys)
		keys = mlc_catalog_key(table);
	if (word_in(cols, col, cl) || (keys && word_in(keys, col, cl)))
		return 1;
	if (mlc_catalog_incremental(table, mlc_rule_get(&rule, "source", "incremental"), &inc,
	                            NULL, 0) > 0 &&
	    (word_in(inc.date, col, cl) || word_in(inc.time, col, cl)))
		return 1;
	return 0;
}

/* program: e is a jq program (all of it read as one interpolation), not a template. */
static int
check_fields(const struct mlc_conf_entry *e, const char *name, int program)
{
	const char *table = mlc_rule_get(&rule, "source", "table");
	const char *cols = mlc_rule_get(&rule, "source", "columns");
	static const char *const objs[] = { ".row.", ".dates.", ".trim.", ".times." };
	const char *s = e->value;
	struct mlc_jq_span *sp;
	size_t n, k;
	int bad = 0;

	if (program) {
		sp = mlc_xmalloc(sizeof *sp);
		sp->a = 0;
		sp->b = strlen(s);
		n = 1;
	} else {
		mlc_jq_template_scan(s, &sp, &n); /* unterminated: reported by tmpl_build */
	}

	if (!cols) { /* every column comes back */
		free(sp);
		return 0;
	}
	for (k = 0; k < n; k++) {
		size_t i;

		for (i = sp[k].a; i < sp[k].b; i++) {
			size_t o;

			if (i > 0 && (is_ident(s[i - 1]) || s[i - 1] == '.'))
				continue;
			for (o = 0; o < sizeof objs / sizeof objs[0]; o++) {
				size_t ol = strlen(objs[o]), j, fl, tl;
				const char *f, *col;
				unsigned line;

				if (strncmp(s + i, objs[o], ol) != 0)
					continue;
				f = s + i + ol;
				for (fl = 0; is_ident(f[fl]); fl++)
					;
				if (fl == 0)
					continue;
				col = f;
				tl = 0;
				if (o == 0) { /* .row.TABLE_COL */
					const char *us = memchr(f, '_', fl);

					tl = table ? strlen(table) : 0;
					if (!us || !table || (size_t)(us - f) != tl ||
					    strncmp(f, table, tl) != 0) {
						col = NULL;
					} else {
						col = us + 1;
						tl++;
					}
				}
				if (col && column_known(table, cols, col, fl - tl))
					continue;
				line = e->line;
				for (j = 0; j < i; j++)
					line += s[j] == '\n';
				mlc_warn("%s:%u: template %s reads %.*s%.*s, which is not in [source] "
				         "columns", rule.path, line, name, (int)ol, objs[o], (int)fl,
				         f);
				bad = 1;
			}
		}
	}
	free(sp);
	return bad;
}

static int
check_rule(void)
{
	static const struct {
		const char *section, *key, *name;
	} list[] = {
		{ "message", "sms", "sms" }, { "message", "subject", "subject" },
		{ "message", "text", "text" }, { "message", "html", "html" },
		{ "digest", "subject", "digest subject" }, { "digest", "header", "digest header" },
		{ "digest", "row", "digest row" }, { "digest", "footer", "digest footer" },
		{ "digest", "amount", "digest amount" }, { "digest", "currency", "digest currency" },
		{ "resolved", "sms", "resolved sms" }, { "resolved", "subject", "resolved subject" },
		{ "resolved", "text", "resolved text" },
		{ "escalation", "sms", "escalation sms" },
		{ "escalation", "subject", "escalation subject" },
		{ "escalation", "text", "escalation text" },
	};
	const struct mlc_conf_entry *e;
	struct mlc_lookups lk;
	char err[1024];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof list / sizeof list[0]; i++)
		if ((e = mlc_conf_find(&rule.conf, list[i].section, list[i].key)))
			bad |= check_fields(e, list[i].name, 0);
	/* .lookups.NAME.COL that no [lookup] reads is always null: a warning. */
	if (mlc_lookup_parse(&rule, &lk, err, sizeof err) < 0) {
		mlc_warn("%s", err);
		return 1;
	}
	for (i = 0; i < sizeof list / sizeof list[0]; i++) {
		struct mlc_jq_span *sp;
		size_t n;
		char what[64];

		if (!(e = mlc_conf_find(&rule.conf, list[i].section, list[i].key)))
			continue;
		snprintf(what, sizeof what, "template %s", list[i].name);
		mlc_jq_template_scan(e->value, &sp, &n); /* unterminated: reported by tmpl_build */
		for (size_t k = 0; k < n; k++)
			mlc_lookup_check_refs(&lk, rule.path, e->line, what, e->value, sp[k].a, sp[k].b);
		free(sp);
	}
	mlc_lookup_free(&lk);
	return bad | wa_check();
}

/* ---- small helpers ---- */

static jv
get(jv o, const char *k)
{
	jv v;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(o), mlc_jq_key(k));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

/* A string member copied (malloc'd), or NULL. */
static char *
sget(jv o, const char *k)
{
	jv v = get(o, k);
	char *r = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
		r = mlc_xstrdup(jv_string_value(v));
	jv_free(v);
	return r;
}

/*
 * The members names[0..n) of o in v[0..n), each as get() gives it
 * (jv_null() when absent), in one walk over o's members instead of a
 * lookup each: an alert is read by some 30 lookups of 16 names, most of
 * them absent, a recipient by 11 of 10.  len[i]: strlen(names[i]) (a
 * member name may hold a NUL).
 */
static void
members(jv o, const char *const *names, const size_t *len, size_t n, jv *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = jv_null();
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return;
	jv_object_foreach(o, k, x) {
		const char *ks = jv_string_value(k);
		size_t kl = (size_t)jv_string_length_bytes(jv_copy(k));

		for (i = 0; i < n; i++)
			if (len[i] == kl && ks[0] == names[i][0] && memcmp(ks, names[i], kl) == 0)
				break;
		jv_free(k);
		if (i < n) {
			jv_free(v[i]);
			v[i] = x;
		} else {
			jv_free(x);
		}
	}
}

/* A string value copied (malloc'd) if it is a non-empty one, else NULL; v borrowed. */
static char *
str_of(jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
		return mlc_xstrdup(jv_string_value(v));
	return NULL;
}

/*
 * The alert being rendered: its members read once (members()), for
 * run_input, render_alert and every delivery and digest row of it, but for
 * its record, which the alert gives up (render_alert).
 */
enum {
	AM_ALERT_ID, AM_RULE, AM_SEVERITY, AM_TABLE, AM_KEY, AM_REALERT_KEY, AM_FINGERPRINT,
	AM_RECORD, AM_RECIPIENTS, AM_CHANNELS, AM_DIGEST_ONLY, AM_STORM, AM_RESOLVED,
	AM_ESCALATION, AM_SUPPRESSED, AM_ROW, AM_N
};
static const char *const am_names[AM_N] = {
	"alert_id", "rule", "severity", "table", "key", "realert_key", "fingerprint",
	"record", "recipients", "channels", "digest_only", "storm", "resolved",
	"escalation", "suppressed", "row"
};
static jv am[AM_N];
static int am_have;

static void
am_clear(void)
{
	size_t i;

	if (am_have)
		for (i = 0; i < AM_N; i++)
			jv_free(am[i]);
	am_have = 0;
}

static void
am_load(jv alert)
{
	static size_t len[AM_N];
	size_t i;

	am_clear();
	if (!len[0])
		for (i = 0; i < AM_N; i++)
			len[i] = strlen(am_names[i]);
	members(alert, am_names, len, AM_N, am);
	am_have = 1;
}

/* The alert's member i (a copy): get(alert, am_names[i]). */
static jv
am_get(int i)
{
	return jv_copy(am[i]);
}

/* Append a member as JSON text ("key":value) if present and not null. */
static void
add_member(struct mlc_buf *b, const char *k, jv v)
{
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return;
	}
	mlc_buf_adds(b, ",\"");
	mlc_buf_adds(b, k);
	mlc_buf_adds(b, "\":");
	mlc_jq_dump(b, v);
}

static void
add_str(struct mlc_buf *b, const char *k, const char *v)
{
	if (!v)
		return;
	mlc_buf_adds(b, ",\"");
	mlc_buf_adds(b, k);
	mlc_buf_adds(b, "\":");
	mlc_buf_json_str(b, v, strlen(v));
}

/* s[0..n) escaped for HTML (up to a NUL), the plain runs appended whole */
static void
html_escape_n(struct mlc_buf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n && s[i]; i++) {
		const char *e;

		switch (s[i]) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '"': e = "&quot;"; break;
		case '\'': e = "&#39;"; break;
		default: continue;
		}
		mlc_buf_add(b, s + run, i - run);
		mlc_buf_adds(b, e);
		run = i + 1;
	}
	mlc_buf_add(b, s + run, i - run);
}

static void
html_escape(struct mlc_buf *b, const char *s)
{
	html_escape_n(b, s, strlen(s));
}

static int
sev_rank(const char *s)
{
	if (!s)
		return 1;
	return strcmp(s, "critical") == 0 ? 2 : strcmp(s, "info") == 0 ? 0 : 1;
}

static const char *const sev_names[] = { "info", "warning", "critical" };

/* Write one line; a failure stops the run. */
static void
put(struct mlc_buf *b)
{
	if (exit_io)
		return;
	if (mlc_ndjson_put(1, b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		exit_io = MLC_EX_IOERR;
	}
}

/* ---- time zones and quiet hours ---- */

static int
tz_ok(const char *tz)
{
	return mlc_tz_valid(tz);
}

/* localtime_r in zone tz (checked by tz_ok), then TZ put back. */
static void
in_zone(const char *tz, time_t t, struct tm *tm)
{
	struct mlc_tz_saved sv;
	int entered = tz && mlc_tz_enter(&sv, tz) == 0;

	localtime_r(&t, tm);
	if (entered)
		mlc_tz_leave(&sv);
}

/* The first instant after t at which zone tz's clock shows wall minute
 * cmin (sched.c's rule: a time in a DST gap at the gap's end; in a repeated
 * hour, the next time the clock shows it), never mktime's guess with
 * tm_isdst = -1. */
static time_t
reach_in_zone(const char *tz, long long cmin, time_t t)
{
	struct mlc_tz_saved sv;
	int entered = tz && mlc_tz_enter(&sv, tz) == 0;
	time_t r = mlc_sched_reach_after(cmin, t);

	if (entered)
		mlc_tz_leave(&sv);
	return r;
}

static int
parse_hhmm(const char *s, const char **end)
{
	int h, m;

	if (!(s[0] >= '0' && s[0] <= '9'))
		return -1;
	h = s[0] - '0';
	s++;
	if (*s >= '0' && *s <= '9')
		h = h * 10 + (*s++ - '0');
	if (*s++ != ':' || !(s[0] >= '0' && s[0] <= '5') || !(s[1] >= '0' && s[1] <= '9'))
		return -1;
	m = (s[0] - '0') * 10 + (s[1] - '0');
	if (h > 23)
		return -1;
	*end = s + 2;
	return h * 60 + m;
}

/*
 * If now is inside the quiet window in zone tz: 1, with *until = when the
 * window ends; else 0.
 */
static int
quiet_now(const char *tz, time_t *until)
{
	struct tm tm;
	time_t t = now.tv_sec;
	long long day;
	int cur, in;

	if (quiet_from < 0)
		return 0;
	in_zone(tz, t, &tm);
	cur = tm.tm_hour * 60 + tm.tm_min;
	if (quiet_from < quiet_to)
		in = cur >= quiet_from && cur < quiet_to;
	else
		in = cur >= quiet_from || cur < quiet_to;
	if (!in)
		return 0;
	/* The window ends at quiet_to today, or tomorrow if that has passed,
	 * counted in wall minutes (sched.c's civil minutes). */
	day = ((long long)t + tm.tm_gmtoff) / 60 - cur;
	*until = reach_in_zone(tz, day + quiet_to + (cur >= quiet_to ? 1440 : 0), t);
	if (*until <= t)
		*until = t + 60;
	return 1;
}

/* ---- caps ---- */

struct rcount {
	char *id;
	long hour, day; /* from the audit trail */
	long run;       /* made in this run */
};
static struct rcount *rc_v;
static size_t rc_n, rc_cap;

static long
audit_count(char *const *addr, const char *since)
{
	const char *const a[3] = { addr[0], addr[1], addr[2] };
	long n = 0;

	mlc_store_doing(store, "count the messages sent to a recipient");
	if (mlc_trail_sent_count(store, a, since, &n) < 0) {
		exit_io = mlc_store_code(store);
		mlc_store_warn(store, "counting sent messages");
	}
	return n;
}

/*
 * Counts one more delivery for the recipient with identity id and the
 * given addresses; returns the cap it would exceed ("hour", "day") or NULL.
 */
static const char *
cap_take(const char *id, char *const *addr)
{
	struct rcount *r = NULL;
	size_t i;

	if (!cap_hour && !cap_day)
		return NULL;
	for (i = 0; i < rc_n; i++)
		if (strcmp(rc_v[i].id, id) == 0) {
			r = &rc_v[i];
			break;
		}
	if (!r) {
		if (rc_n == rc_cap)
			rc_v = mlc_xrealloc(rc_v, (rc_cap = rc_cap ? rc_cap * 2 : 16) * sizeof *rc_v);
		r = &rc_v[rc_n++];
		memset(r, 0, sizeof *r);
		r->id = mlc_xstrdup(id);
		if (store) {
			struct timespec h = now, d = now;
			char hs[32], ds[32];

			h.tv_sec -= 3600;
			d.tv_sec -= 86400;
			mlc_time_fmt(hs, &h);
			mlc_time_fmt(ds, &d);
			if (cap_hour)
				r->hour = audit_count(addr, hs);
			if (cap_day)
				r->day = audit_count(addr, ds);
		}
	}
	if (cap_hour && r->hour + r->run >= cap_hour)
		return "per_recipient_hour";
	if (cap_day && r->day + r->run >= cap_day)
		return "per_recipient_day";
	r->run++;
	return NULL;
}

/* ---- deliveries ---- */

/* One recipient as the alert gave it. */
enum { RM_TO, RM_NAME, RM_AN8, RM_SMS, RM_WHATSAPP, RM_EMAIL, RM_TZ, RM_ID, RM_ERROR,
       RM_SUPCH, RM_N };
static const char *const rm_names[RM_N] = {
	"to", "name", "an8", "sms", "whatsapp", "email", "tz", "id", "error",
	"suppressed_channels"
};
struct recip {
	jv obj;        /* the alert's recipient object */
	jv m[RM_N];    /* its members (members()) */
	char *name, *sms, *whatsapp, *email, *tz;
	char id[160];  /* identity for caps */
	char *addr[3]; /* its addresses (borrowed) */
	struct mlc_buf text; /* add_recipient's text, made on its first delivery */
	int have_text;
};

static void
recip_load(struct recip *r, jv o)
{
	static size_t len[RM_N];
	size_t i;
	jv an8;

	memset(r, 0, sizeof *r);
	r->obj = o;
	if (!len[0])
		for (i = 0; i < RM_N; i++)
			len[i] = strlen(rm_names[i]);
	members(o, rm_names, len, RM_N, r->m);
	r->name = str_of(r->m[RM_NAME]);
	r->sms = str_of(r->m[RM_SMS]);
	r->whatsapp = str_of(r->m[RM_WHATSAPP]);
	r->email = str_of(r->m[RM_EMAIL]);
	r->tz = str_of(r->m[RM_TZ]);
	if (r->whatsapp || r->sms) {
		char *w = mlc_addr_whatsapp(r->whatsapp ? r->whatsapp : r->sms);

		free(r->whatsapp);
		r->whatsapp = w;
	}
	an8 = jv_copy(r->m[RM_AN8]);
	if (jv_get_kind(an8) == JV_KIND_NUMBER) {
		double d = jv_number_value(an8);

		/* "%.0f" of a whole number is its digits */
		if (d == floor(d) && d >= 1 && d < 1e15) {
			memcpy(r->id, "an8:", 4);
			mlc_ull_digits(r->id + 4, (unsigned long long)d, 1);
		} else {
			snprintf(r->id, sizeof r->id, "an8:%.0f", d);
		}
	}
	else if (jv_get_kind(an8) == JV_KIND_STRING)
		snprintf(r->id, sizeof r->id, "an8:%s", jv_string_value(an8));
	else
		snprintf(r->id, sizeof r->id, "%s",
		         r->sms ? r->sms : r->email ? r->email : r->whatsapp ? r->whatsapp : "?");
	jv_free(an8);
	r->addr[0] = r->sms;
	r->addr[1] = r->whatsapp;
	r->addr[2] = r->email;
}

static void
recip_free(struct recip *r)
{
	size_t i;

	for (i = 0; i < RM_N; i++)
		jv_free(r->m[i]);
	if (r->have_text)
		mlc_buf_free(&r->text);
	jv_free(r->obj);
	free(r->name);
	free(r->sms);
	free(r->whatsapp);
	free(r->email);
	free(r->tz);
}

static const char *
recip_addr(const struct recip *r, const char *channel)
{
	if (strcmp(channel, "sms") == 0)
		return r->sms;
	if (strcmp(channel, "whatsapp") == 0)
		return r->whatsapp;
	if (strcmp(channel, "email") == 0)
		return r->email;
	return NULL;
}

/* The small recipient object put into deliveries: the re-alert id that
 * alert-match checked (alert-log marks it), name, an8, the rule's ref.
 * id, name, an8, to: the recipient's members (consumed). */
static void
add_recipient_of(struct mlc_buf *b, jv id, jv name, jv an8, jv to)
{
	size_t at;

	mlc_buf_adds(b, ",\"recipient\":{");
	at = b->len;
	add_member(b, "id", id);
	add_member(b, "name", name);
	add_member(b, "an8", an8);
	add_member(b, "ref", to);
	if (b->len > at) { /* the first member's comma */
		memmove(b->p + at, b->p + at + 1, b->len - at);
		b->len--;
	}
	mlc_buf_addc(b, '}');
}

static void
add_recipient(struct mlc_buf *b, jv o)
{
	add_recipient_of(b, get(o, "id"), get(o, "name"), get(o, "an8"), get(o, "to"));
}

/* add_recipient of an alert's recipient: its text made once for its deliveries. */
static void
add_recip(struct mlc_buf *b, struct recip *r)
{
	if (!r->have_text) {
		mlc_buf_init(&r->text);
		r->have_text = 1;
		add_recipient_of(&r->text, jv_copy(r->m[RM_ID]), jv_copy(r->m[RM_NAME]),
		                 jv_copy(r->m[RM_AN8]), jv_copy(r->m[RM_TO]));
	}
	mlc_buf_add(b, r->text.p, r->text.len);
}

static const char *
zone_of(const struct recip *r, unsigned long lineno)
{
	if (r->tz) {
		if (tz_ok(r->tz))
			return r->tz;
		mlc_warn("line %lu: rule %s: recipient %s: unknown time zone \"%s\"; using %s",
		         lineno, rule.name, r->name ? r->name : r->id, r->tz,
		         rule_tz ? rule_tz : "UTC");
	}
	return rule_tz;
}

static void preview_print(const struct mlc_buf *line);

/* A delivery held by quiet hours, for defer_tx. */
struct defer {
	const char *delivery_id, *to, *channel, *not_before;
	const struct mlc_buf *line;
};

/*
 * Into table deferred, before the "deferred" line goes out.  Deferring the
 * same delivery again keeps one row with the newest rendering: a row that
 * release() emitted stays until the trail shows its release, and a new
 * deferral of the same id (a re-alert) must not revive the old line.
 */
static int
defer_tx(struct mlc_store *s, void *arg)
{
	struct defer *d = arg;

	if (mlc_trail_defer(s, d->delivery_id, rule.name, d->to, d->channel, d->not_before,
	                    d->line->p, d->line->len) < 0) {
		mlc_store_warn(s, "storing a deferred delivery");
		return -1;
	}
	return 0;
}

/*
 * The last step of every delivery (line = the delivery object, complete):
 * quiet hours, caps, then out.  channel decides whether quiet hours apply.
 */
static void
dispatch(struct mlc_buf *line, const char *delivery_id, const char *channel, const char *to,
         const char *severity, const char *zone, const char *capid, char *const *addr)
{
	struct mlc_buf o;
	time_t until;
	const char *cap;

	n_deliveries++;
	if (opt_preview) {
		preview_print(line);
		return;
	}
	mlc_buf_init(&o);
	if (strcmp(channel, "email") != 0 && quiet_now(zone, &until) &&
	    !(quiet_action == Q_DEFER_EXCEPT_CRITICAL && strcmp(severity, "critical") == 0)) {
		if (quiet_action == Q_DROP) {
			mlc_buf_adds(&o, "{\"dropped\":\"quiet_hours\",");
		} else {
			struct timespec u = { until, 0 };
			char nb[32];

			mlc_time_fmt(nb, &u);
			mlc_buf_printf(&o, "{\"deferred\":true,\"not_before\":\"%s\",", nb);
			if (store) {
				struct defer d = { delivery_id, to, channel, nb, line };
				int c = mlc_store_tx(store, "hold a delivery for quiet hours",
				                     defer_tx, &d);

				if (c) {
					exit_io = c;
					mlc_buf_free(&o);
					return;
				}
			}
		}
		mlc_buf_add(&o, line->p + 1, line->len - 1);
		put(&o);
		mlc_buf_free(&o);
		return;
	}
	if ((cap = cap_take(capid, addr))) {
		mlc_buf_printf(&o, "{\"capped\":true,\"cap\":\"%s\",", cap);
		mlc_buf_add(&o, line->p + 1, line->len - 1);
		put(&o);
	} else {
		put(line);
	}
	mlc_buf_free(&o);
}

/* 1 for a storm summary (one message for many alerts: it escalates none). */
static int
storm_alert(void)
{
	return jv_get_kind(am[AM_STORM]) == JV_KIND_TRUE;
}

/* The common head of a delivery line (of the alert in am[]). */
static void
head(struct mlc_buf *b, const char *delivery_id, const char *alert_id,
     const char *severity, const char *channel, const char *to, struct recip *r)
{
	mlc_buf_adds(b, "{\"delivery_id\":");
	mlc_buf_json_str(b, delivery_id, strlen(delivery_id));
	add_str(b, "alert_id", alert_id);
	add_str(b, "rule", rule.name);
	add_str(b, "severity", severity);
	add_member(b, "table", am_get(AM_TABLE));
	add_member(b, "key", am_get(AM_KEY));
	add_member(b, "realert_key", am_get(AM_REALERT_KEY));
	add_member(b, "fingerprint", am_get(AM_FINGERPRINT));
	add_str(b, "channel", channel);
	add_str(b, "to", to);
	add_recip(b, r);
	if (has_resolved && !cur_resolved)
		mlc_buf_adds(b, ",\"resolvable\":true");
	if (cur_escalation) {
		add_member(b, "escalation", am_get(AM_ESCALATION));
	} else if (has_escalation && !cur_resolved && !storm_alert()) {
		mlc_buf_printf(b, ",\"escalate\":{\"first\":%ld,\"steps\":", esc_first);
		mlc_buf_json_str(b, esc_steps_text, strlen(esc_steps_text));
		mlc_buf_addc(b, '}');
	}
}

/* SMS/WhatsApp body: transliterate, then cut.  Returns the encoding. */
static void
sms_body(struct mlc_buf *b, const char *text, size_t n, int whatsapp, int *enc,
         size_t *segs, int *cut)
{
	static struct mlc_buf t; /* kept from call to call */
	size_t keep;

	if (!t.p)
		mlc_buf_init(&t);
	mlc_buf_reset(&t);
	if (transliterate && !whatsapp)
		mlc_sms_transliterate(text, n, &t);
	else
		mlc_buf_add(&t, text, n);
	keep = mlc_sms_truncate(t.p, t.len, whatsapp ? 1000000 : max_segments, enc, segs, b);
	*cut = keep < t.len;
}

/* ---- digest spool ---- */

static sqlite3 *spool;
/* prepared once per run: the SQL parser was 3 % of a large digest's cost */
static sqlite3_stmt *sp_grp, *sp_gid, *sp_row, *sp_upd;
/*
 * The groups met lately, by key (channel, address): their gid.  A group's
 * recipient, zone and addresses are those of its first row (the upsert
 * keeps them), so a known group only needs its count and severity
 * updated, without the recipient's JSON, the upsert and the select.
 * Bounded: a slot holds the last key that hashed to it.
 */
#define GRP_SLOTS 64
static struct {
	char *k;
	sqlite3_int64 gid;
	long more;   /* rows counted here, not yet added to grp.count */
	int sev;     /* their highest severity */
} grp_seen[GRP_SLOTS];
static sqlite3_int64 row_seq; /* rowv.seq of the last row */

static unsigned
grp_slot(const char *k)
{
	unsigned h = 2166136261u;

	while (*k)
		h = (h ^ (unsigned char)*k++) * 16777619u;
	return h % GRP_SLOTS;
}

static void
spool_fail(const char *what)
{
	mlc_die(MLC_EX_IOERR, "digest spool: %s: %s", what, spool ? sqlite3_errmsg(spool) : "");
}

static void
spool_open(void)
{
	if (spool)
		return;
	/*
	 * "" = a private temporary database on disk, removed at close.  No
	 * other connection can open it, so no lock is ever met here: this is
	 * the one database used without store.c.
	 */
	/* one thread uses it: no mutex per call (some 60 an alert) */
	if (sqlite3_open_v2("", &spool,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		spool_fail("open");
	if (sqlite3_exec(spool,
	                 "PRAGMA cache_size = -2000;"
	                 "CREATE TABLE grp (gid INTEGER PRIMARY KEY, k TEXT UNIQUE, channel TEXT,"
	                 " addr TEXT, recipient TEXT, zone TEXT, capid TEXT, sms TEXT, wa TEXT,"
	                 " email TEXT, count INTEGER, sev INTEGER);"
	                 /* one b-tree, in the order the digests read it */
	                 "CREATE TABLE rowv (gid INTEGER, seq INTEGER, alert_id TEXT,"
	                 " text TEXT, akey TEXT, fp TEXT, cents REAL, cur TEXT, amt TEXT,"
	                 " PRIMARY KEY (gid, seq)) WITHOUT ROWID;"
	                 "BEGIN;",
	                 NULL, NULL, NULL) != SQLITE_OK)
		spool_fail("create");
	if (sqlite3_prepare_v2(spool,
	                       "INSERT INTO grp (k, channel, addr, recipient, zone, capid, sms, wa,"
	                       " email, count, sev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)"
	                       " ON CONFLICT (k) DO UPDATE SET count = count + 1,"
	                       " sev = max(sev, excluded.sev)",
	                       -1, &sp_grp, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(spool, "SELECT gid FROM grp WHERE k = ?1", -1, &sp_gid, NULL) !=
	            SQLITE_OK ||
	    sqlite3_prepare_v2(spool,
	                       "INSERT INTO rowv (gid, alert_id, text, akey, fp, cents, cur, amt,"
	                       " seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	                       -1, &sp_row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(spool,
	                       "UPDATE grp SET count = count + ?3, sev = max(sev, ?2) WHERE gid = ?1",
	                       -1, &sp_upd, NULL) != SQLITE_OK)
		spool_fail("prepare");
}

/* A cached statement, ready for its next use. */
static sqlite3_stmt *
spool_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Adds the rows a slot counted to its group (before the slot is reused, and before the digests). */
static void
grp_flush(unsigned slot)
{
	sqlite3_stmt *st;

	if (!grp_seen[slot].k || !grp_seen[slot].more)
		return;
	st = spool_stmt(sp_upd);
	sqlite3_bind_int64(st, 1, grp_seen[slot].gid);
	sqlite3_bind_int(st, 2, grp_seen[slot].sev);
	sqlite3_bind_int64(st, 3, grp_seen[slot].more);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(spool) != 1)
		spool_fail("update");
	grp_seen[slot].more = 0;
}

static void
spool_close(void)
{
	sqlite3_finalize(sp_grp);
	sqlite3_finalize(sp_gid);
	sqlite3_finalize(sp_row);
	sqlite3_finalize(sp_upd);
	sp_grp = sp_gid = sp_row = sp_upd = NULL;
	for (size_t i = 0; i < GRP_SLOTS; i++) {
		free(grp_seen[i].k);
		grp_seen[i].k = NULL;
	}
	sqlite3_close(spool);
	spool = NULL;
}

static void
bind_s(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* bind_s for a text that stays put until the statement's step */
static void
bind_in_place(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A table cell is one line: line breaks, tabs and the cell separator become spaces. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t' || *s == '\037')
			*s = ' ';
}

/*
 * [digest] amount as rendered: a plain number ("1234.5", "-990", "1e3";
 * not "1,234.50", hex, inf or nan), below 10^13 in magnitude so that its
 * cents are exact in a double, and so are sums up to 2^53 cents.  Sets
 * *cents (rounded); 0, or -1 if it is no such number.
 */
static int
parse_amount(const char *s, double *cents)
{
	char *end;
	double v;

	s += strspn(s, " ");
	if (!*s || strspn(s, "0123456789+-.eE ") != strlen(s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	end += strspn(end, " ");
	if (errno || *end || !(v > -1e13 && v < 1e13))
		return -1;
	*cents = round(v * 100);
	return 0;
}

/*
 * An e-mail digest row: each cell of the row template, then the amount and
 * its currency.  *cents set, or NAN when there is no number to add up;
 * amt keeps a text that is no number, to show as it is.
 */
static int
spool_cells(jv input, unsigned long lineno, struct mlc_buf *text, struct mlc_buf *cur,
            struct mlc_buf *amt, double *cents)
{
	size_t i, start;
	int x, nul = 0;

	*cents = NAN;
	for (i = 0; i < d_ncells; i++) {
		if (i)
			mlc_buf_addc(text, '\037');
		start = text->len;
		if ((x = tmpl_render(&d_cells[i], input, lineno, text)) < 0)
			return -1;
		nul |= x;
		one_line(text->p + start);
	}
	if (!d_amount.src)
		return nul;
	if ((x = tmpl_render(&d_amount, input, lineno, amt)) < 0)
		return -1;
	nul |= x;
	if (parse_amount(amt->p, cents) == 0) {
		amt->len = 0;
		amt->p[0] = '\0';
	} else if (amt->len && !x) {
		mlc_warn("line %lu: rule %s: template digest amount gave \"%.40s\", not a number: "
		         "shown, left out of the total", lineno, rule.name, amt->p);
		nul = 1;
	}
	one_line(amt->p);
	if (d_currency.src) {
		if ((x = tmpl_render(&d_currency, input, lineno, cur)) < 0)
			return -1;
		nul |= x;
		one_line(cur->p);
	}
	return nul;
}

/*
 * An e-mail digest row is the same for every recipient of one alert when
 * no template of it reads .recipient (the one member of the input that
 * differs between them; the channel is "email" for all): rendered once
 * per alert, then copied.  Only with the C forms, which say what they
 * read, and only a row without nulls or errors (their messages are
 * repeated per recipient, as before).
 */
static unsigned long alert_serial; /* render_alert's count */
static struct {
	unsigned long serial; /* 0: empty */
	struct mlc_buf text, cur, amt;
	double cents;
} rowc;

static int
row_cache_ok(void)
{
	static int ok = -1;
	size_t i;

	if (ok >= 0)
		return ok;
	ok = 1;
	for (i = 0; i < d_ncells && ok; i++)
		ok = tmpl_c(&d_cells[i]) && !mlc_tmpl_reads(d_cells[i].c, "recipient");
	if (ok && d_amount.src)
		ok = tmpl_c(&d_amount) && !mlc_tmpl_reads(d_amount.c, "recipient");
	if (ok && d_currency.src)
		ok = tmpl_c(&d_currency) && !mlc_tmpl_reads(d_currency.c, "recipient");
	if (ok) {
		mlc_buf_init(&rowc.text);
		mlc_buf_init(&rowc.cur);
		mlc_buf_init(&rowc.amt);
	}
	return ok;
}

static void
buf_set(struct mlc_buf *to, const struct mlc_buf *from)
{
	mlc_buf_reset(to);
	mlc_buf_add(to, from->p, from->len);
}

/* spool_cells, or its copy from the alert's first recipient */
static int
spool_cells_once(jv input, unsigned long lineno, struct mlc_buf *text, struct mlc_buf *cur,
                 struct mlc_buf *amt, double *cents)
{
	int x;

	if (!row_cache_ok())
		return spool_cells(input, lineno, text, cur, amt, cents);
	if (rowc.serial == alert_serial) {
		buf_set(text, &rowc.text);
		buf_set(cur, &rowc.cur);
		buf_set(amt, &rowc.amt);
		*cents = rowc.cents;
		return 0;
	}
	rowc.serial = 0;
	x = spool_cells(input, lineno, text, cur, amt, cents);
	if (x == 0) {
		buf_set(&rowc.text, text);
		buf_set(&rowc.cur, cur);
		buf_set(&rowc.amt, amt);
		rowc.cents = *cents;
		rowc.serial = alert_serial;
	}
	return x;
}

/* Add one alert to the digest of (channel, address). */
static int
spool_add(const char *channel, const char *addr, const struct recip *r,
          const char *zone,
          const char *alert_id, const char *severity, jv input, unsigned long lineno)
{
	/* one row's texts, kept from row to row (no allocation per row) */
	static struct mlc_buf text, cur, amt, k, rj;
	sqlite3_stmt *st;
	sqlite3_int64 gid;
	double cents = NAN;
	int rc = 0, x;
	unsigned slot;

	spool_open();
	if (!text.p) {
		mlc_buf_init(&text);
		mlc_buf_init(&cur);
		mlc_buf_init(&amt);
		mlc_buf_init(&k);
		mlc_buf_init(&rj);
	}
	mlc_buf_reset(&text);
	mlc_buf_reset(&cur);
	mlc_buf_reset(&amt);
	mlc_buf_reset(&k);
	mlc_buf_reset(&rj);
	if (strcmp(channel, "email") == 0)
		x = spool_cells_once(input, lineno, &text, &cur, &amt, &cents);
	else
		x = tmpl_render(&d_row, input, lineno, &text);
	if (x < 0 || (opt_strict && x)) {
		rc = -1;
		goto out;
	}
	mlc_buf_adds(&k, channel);
	mlc_buf_addc(&k, '\037');
	mlc_buf_adds(&k, addr);
	slot = grp_slot(k.p);
	if (grp_seen[slot].k && strcmp(grp_seen[slot].k, k.p) == 0) {
		int sv = sev_rank(severity);

		gid = grp_seen[slot].gid;
		grp_seen[slot].more++;
		if (sv > grp_seen[slot].sev)
			grp_seen[slot].sev = sv;
		goto row;
	}
	grp_flush(slot);
	mlc_jq_dump(&rj, jv_copy(r->obj));
	st = spool_stmt(sp_grp);
	bind_s(st, 1, k.p);
	bind_s(st, 2, channel);
	bind_s(st, 3, addr);
	bind_s(st, 4, rj.p);
	bind_s(st, 5, zone);
	bind_s(st, 6, r->id);
	bind_s(st, 7, r->addr[0]);
	bind_s(st, 8, r->addr[1]);
	bind_s(st, 9, r->addr[2]);
	sqlite3_bind_int(st, 10, sev_rank(severity));
	if (sqlite3_step(st) != SQLITE_DONE)
		spool_fail("insert");
	st = spool_stmt(sp_gid);
	bind_s(st, 1, k.p);
	if (sqlite3_step(st) != SQLITE_ROW)
		spool_fail("select");
	gid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	free(grp_seen[slot].k);
	grp_seen[slot].k = mlc_xstrdup(k.p);
	grp_seen[slot].gid = gid;
	grp_seen[slot].more = 0;
	grp_seen[slot].sev = 0;
row:
	{
		/*
		 * Every parameter bound on every row (no clear_bindings), and
		 * bound in place: each text outlives the step.  What alert-log
		 * needs to mark the re-alert index per alert: akey, fp.
		 */
		jv rk = am_get(AM_REALERT_KEY), fp = am_get(AM_FINGERPRINT), d = jv_invalid();

		st = sp_row;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, gid);
		bind_in_place(st, 2, alert_id);
		bind_in_place(st, 3, text.p);
		sqlite3_bind_int64(st, 9, ++row_seq);
		if (!isnan(cents))
			sqlite3_bind_double(st, 6, cents);
		else
			sqlite3_bind_null(st, 6);
		bind_in_place(st, 7, d_currency.src ? cur.p : NULL);
		bind_in_place(st, 8, amt.len ? amt.p : NULL);
		if (jv_get_kind(rk) != JV_KIND_STRING) {
			jv_free(rk);
			rk = am_get(AM_KEY);
		}
		bind_in_place(st, 4, jv_get_kind(rk) == JV_KIND_STRING ? jv_string_value(rk) : NULL);
		if (jv_get_kind(fp) == JV_KIND_STRING) {
			bind_in_place(st, 5, jv_string_value(fp));
		} else if (jv_get_kind(fp) != JV_KIND_NULL) {
			d = jv_dump_string(jv_copy(fp), 0);
			bind_in_place(st, 5, jv_string_value(d));
		} else {
			sqlite3_bind_null(st, 5);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			spool_fail("insert row");
		jv_free(d);
		jv_free(rk);
		jv_free(fp);
	}
	sqlite3_reset(st);
out:
	return rc;
}

/*
 * The e-mails' look, inline: mail clients drop <style> blocks, and a
 * report that fetches nothing works offline and behind a proxy.  The font
 * is repeated on the table: some clients do not inherit it into cells.
 */
#define MAIL_FONT "font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222222"
/* per cell, so short: a digest of 10,000 rows is a line of a few MB (the padding is
 * the table's cellpadding) */
#define MAIL_CELL "border-bottom:1px solid #ddd"
#define MAIL_HEAD "border-bottom:2px solid #333;background-color:#eee"
#define MAIL_TOTAL "border-top:2px solid #333;font-weight:bold"
#define MAIL_NUM ";text-align:right;white-space:nowrap"
#define TEXT_COL_MAX 40 /* a longer cell is not padded to: the text table stays readable */

/* An e-mail's HTML up to its body's content: the subject as its title. */
static void
html_open(struct mlc_buf *h, const char *subject)
{
	mlc_buf_adds(h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	                "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	html_escape(h, subject);
	mlc_buf_adds(h, "</title></head>\n<body style=\"margin:0;padding:16px;"
	                "background-color:#ffffff;line-height:1.4;" MAIL_FONT "\">\n");
}

/* Characters (code points) of s[0..n), capped: the plain-text table's measure. */
static size_t
text_width(const char *s, size_t n)
{
	size_t i, w = 0;

	for (i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xC0) != 0x80;
	return w;
}

static void
pad(struct mlc_buf *b, size_t have, size_t want)
{
	for (; have < want; have++)
		mlc_buf_addc(b, ' ');
}

/* Ends a line of the plain-text table, without trailing blanks. */
static void
end_line(struct mlc_buf *b)
{
	while (b->len && b->p[b->len - 1] == ' ')
		b->p[--b->len] = '\0';
	mlc_buf_addc(b, '\n');
}

/* cents as an amount: -1,234.50 (two decimals, "," between thousands), in
 * out (FMT_CENTS_MAX bytes): its length. */
#define FMT_CENTS_MAX 600
static size_t
fmt_cents_s(char *out, double c)
{
	char dig[400], *o = out;
	size_t n, i;

	c = round(c);
	if (c < 0)
		*o++ = '-';
	if (fabs(c) < 1e18) /* "%03.0f" of a whole number, without printf's big-number code */
		mlc_ull_digits(dig, (unsigned long long)fabs(c), 3);
	else
		snprintf(dig, sizeof dig, "%03.0f", fabs(c));
	n = strlen(dig) - 2;
	for (i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			*o++ = ',';
		*o++ = dig[i];
	}
	*o++ = '.';
	*o++ = dig[n];
	*o++ = dig[n + 1];
	*o = '\0';
	return (size_t)(o - out);
}

/* One digest being built: its rendered parts and what its rows added so far. */
struct digest {
	struct mlc_buf subj, hdr, hdrh, ftr, ftrh, text, html, idl, body, kl, fpl;
	long count, shown, ids;
	int full, email;
	sqlite3_int64 gid;
	/* e-mail: the plain-text columns' widths (the cells, then the amount), and
	 * the amount's number and currency within it */
	size_t *w, numw, curw;
	/* the totals (digest_totals' rows), read once for the widths and the
	 * table's foot: cur (NULL: none), total, rows with a number, all rows */
	struct dtotal {
		char *cur;
		double total;
		sqlite3_int64 with, all;
	} *tot;
	size_t ntot;
};

/* The amount column exists: [digest] amount. */
#define HAS_AMOUNT (d_amount.src != NULL)

/* The digest's totals, one row per currency (first seen first): cur, total, with, all. */
static sqlite3_stmt *
digest_totals(const struct digest *d)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(spool, "SELECT cur, total(cents), count(cents), count(*) FROM rowv"
	                              " WHERE gid = ?1 GROUP BY cur ORDER BY min(seq)",
	                       -1, &st, NULL) != SQLITE_OK)
		spool_fail("select totals");
	sqlite3_bind_int64(st, 1, d->gid);
	return st;
}

static void
widen(size_t *w, const char *s, size_t n)
{
	size_t x = text_width(s, n);

	if (x > TEXT_COL_MAX)
		x = TEXT_COL_MAX;
	if (x > *w)
		*w = x;
}

/* The number and currency of an amount, widening the amount column's parts. */
static void
widen_amount(struct digest *d, double cents, const char *cur)
{
	char n[FMT_CENTS_MAX];
	size_t nl = fmt_cents_s(n, cents);

	if (nl > d->numw)
		d->numw = nl;
	if (cur)
		widen(&d->curw, cur, strlen(cur));
}

/*
 * An e-mail digest's plain text is a table: its columns are as wide as
 * their widest cell among the rows shown, the labels and the totals.  One
 * pass over the spooled rows before the rows are written.
 */
static void
digest_measure(struct digest *d)
{
	size_t k, nc = d_ncells + HAS_AMOUNT;
	sqlite3_stmt *st;

	d->w = mlc_xcalloc(nc, sizeof *d->w);
	for (k = 0; k < d_nlabels && k < nc; k++)
		widen(&d->w[k], d_labels[k], strlen(d_labels[k]));
	if (sqlite3_prepare_v2(spool, "SELECT text, cents, cur, amt FROM rowv WHERE gid = ?1"
	                              " ORDER BY seq LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		spool_fail("select widths");
	sqlite3_bind_int64(st, 1, d->gid);
	sqlite3_bind_int64(st, 2, digest_max_items ? digest_max_items : -1);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);

		for (k = 0; p && k < d_ncells; k++) {
			size_t n = strcspn(p, "\037");

			widen(&d->w[k], p, n);
			p = p[n] ? p + n + 1 : NULL;
		}
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			widen_amount(d, sqlite3_column_double(st, 1),
			             (const char *)sqlite3_column_text(st, 2));
		else if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			widen(&d->w[d_ncells], (const char *)sqlite3_column_text(st, 3),
			      (size_t)sqlite3_column_bytes(st, 3));
	}
	sqlite3_finalize(st);
	if (!HAS_AMOUNT)
		return;
	st = digest_totals(d);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *cur = (const char *)sqlite3_column_text(st, 0);
		struct dtotal *t;

		d->tot = mlc_xrealloc(d->tot, (d->ntot + 1) * sizeof *d->tot);
		t = &d->tot[d->ntot++];
		t->cur = cur ? mlc_xstrdup(cur) : NULL;
		t->total = sqlite3_column_double(st, 1);
		t->with = sqlite3_column_int64(st, 2);
		t->all = sqlite3_column_int64(st, 3);
		if (t->with > 0)
			widen_amount(d, t->total, t->cur);
	}
	sqlite3_finalize(st);
	if (d->numw + (d->curw ? 1 + d->curw : 0) > d->w[d_ncells])
		d->w[d_ncells] = d->numw + (d->curw ? 1 + d->curw : 0);
}

/* The text table's rule: a line of dashes under each column. */
static void
text_rule(struct digest *d)
{
	size_t k, i;

	for (k = 0; k < d_ncells + HAS_AMOUNT; k++) {
		if (k)
			mlc_buf_adds(&d->text, "  ");
		for (i = 0; i < d->w[k]; i++)
			mlc_buf_addc(&d->text, '-');
	}
	end_line(&d->text);
}

/* An amount in both parts: the number, then its currency (cur NULL or ""
 * for none); the text one right-aligned in its column, numbers under numbers. */
static void
put_amount(struct digest *d, double cents, const char *cur, const char *style)
{
	char n[FMT_CENTS_MAX];
	size_t nl = fmt_cents_s(n, cents);
	size_t cw = cur ? text_width(cur, strlen(cur)) : 0;
	size_t inner = d->numw + (d->curw ? 1 + d->curw : 0);

	pad(&d->text, inner, d->w[d_ncells]);
	pad(&d->text, nl, d->numw);
	mlc_buf_add(&d->text, n, nl);
	if (d->curw) {
		mlc_buf_addc(&d->text, ' ');
		if (cur)
			mlc_buf_adds(&d->text, cur);
		pad(&d->text, cw, d->curw);
	}
	mlc_buf_adds(&d->html, "<td style=\"");
	mlc_buf_adds(&d->html, style);
	mlc_buf_adds(&d->html, MAIL_NUM "\">");
	mlc_buf_add(&d->html, n, nl);
	if (cur && *cur) {
		mlc_buf_adds(&d->html, "&nbsp;");
		html_escape(&d->html, cur);
	}
	mlc_buf_adds(&d->html, "</td>");
}

/* Renders the digest's header, footer and (e-mail) subject, and starts its body. */
static void
digest_open(struct digest *d, jv din)
{
	size_t k;
	int i;

	mlc_buf_init(&d->subj);
	mlc_buf_init(&d->hdr);
	mlc_buf_init(&d->hdrh);
	mlc_buf_init(&d->ftr);
	mlc_buf_init(&d->ftrh);
	mlc_buf_init(&d->text);
	mlc_buf_init(&d->html);
	mlc_buf_init(&d->idl);
	mlc_buf_init(&d->kl);
	mlc_buf_init(&d->fpl);
	mlc_buf_init(&d->body);
	tmpl_render(&d_header, din, 0, &d->hdr);
	tmpl_render(&d_footer, din, 0, &d->ftr);
	if (!d->email) {
		mlc_buf_adds(&d->body, d->hdr.p);
		return;
	}
	tmpl_render(&d_subject, din, 0, &d->subj);
	for (i = 0; d->subj.p[i]; i++)
		if (d->subj.p[i] == '\n' || d->subj.p[i] == '\r')
			d->subj.p[i] = ' ';
	tmpl_render(&d_header_html, din, 0, &d->hdrh);
	tmpl_render(&d_footer_html, din, 0, &d->ftrh);
	digest_measure(d);
	mlc_buf_adds(&d->text, d->hdr.p);
	mlc_buf_adds(&d->text, "\n\n");
	html_open(&d->html, d->subj.p);
	mlc_buf_printf(&d->html, "<p style=\"margin:0 0 12px 0;font-size:16px;font-weight:bold\">"
	                         "%s</p>\n<table cellpadding=\"6\" cellspacing=\"0\" border=\"0\" "
	                         "style=\"border-collapse:collapse;" MAIL_FONT "\">\n", d->hdrh.p);
	if (d_nlabels) {
		mlc_buf_adds(&d->html, "<thead><tr>");
		for (k = 0; k < d_nlabels; k++) {
			int num = HAS_AMOUNT && k == d_ncells;
			size_t lw = text_width(d_labels[k], strlen(d_labels[k]));

			if (k)
				mlc_buf_adds(&d->text, "  ");
			if (num)
				pad(&d->text, lw, d->w[k]);
			mlc_buf_adds(&d->text, d_labels[k]);
			if (!num)
				pad(&d->text, lw, d->w[k]);
			mlc_buf_printf(&d->html, "<th style=\"%s%s\">", MAIL_HEAD,
			               num ? MAIL_NUM : ";text-align:left");
			html_escape(&d->html, d_labels[k]);
			mlc_buf_adds(&d->html, "</th>");
		}
		end_line(&d->text);
		text_rule(d);
		mlc_buf_adds(&d->html, "</tr></thead>\n");
	}
	mlc_buf_adds(&d->html, "<tbody>\n");
}

/* Frees what digest_open and the rows built. */
static void
digest_close(struct digest *d)
{
	mlc_buf_free(&d->subj);
	mlc_buf_free(&d->hdr);
	mlc_buf_free(&d->hdrh);
	mlc_buf_free(&d->ftr);
	mlc_buf_free(&d->ftrh);
	mlc_buf_free(&d->text);
	mlc_buf_free(&d->html);
	mlc_buf_free(&d->idl);
	mlc_buf_free(&d->kl);
	mlc_buf_free(&d->fpl);
	mlc_buf_free(&d->body);
	free(d->w);
	for (size_t i = 0; i < d->ntot; i++)
		free(d->tot[i].cur);
	free(d->tot);
}

/* Decides whether an SMS digest row goes in: it and the "and N more" still fit. */
static int
digest_sms_fits(const struct digest *d, const char *rt)
{
	struct mlc_buf c;
	struct mlc_sms_info in;
	long rest = d->count - d->shown - 1;
	int fits;

	mlc_buf_init(&c);
	mlc_buf_add(&c, d->body.p, d->body.len);
	mlc_buf_addc(&c, '\n');
	mlc_buf_adds(&c, rt);
	if (rest > 0)
		mlc_buf_printf(&c, "\nand %ld more", rest);
	if (transliterate) {
		struct mlc_buf tc;

		mlc_buf_init(&tc);
		mlc_sms_transliterate(c.p, c.len, &tc);
		mlc_sms_measure(tc.p, tc.len, &in);
		mlc_buf_free(&tc);
	} else {
		mlc_sms_measure(c.p, c.len, &in);
	}
	fits = in.segments <= (size_t)max_segments && in.utf16 <= MLC_SMS_MAXCHARS;
	mlc_buf_free(&c);
	return fits;
}

/* An e-mail digest's row in both parts: the cells (\037 between them), then the amount. */
static void
digest_email_row(struct digest *d, const char *cells, int has_cents, double cents,
                 const char *cur, const char *amt)
{
	const char *p = cells ? cells : "";
	size_t k;

	mlc_buf_adds(&d->html, d->shown % 2 ? "<tr style=\"background-color:#f7f7f7\">" : "<tr>");
	for (k = 0; k < d_ncells; k++) {
		size_t n = strcspn(p, "\037");

		if (k)
			mlc_buf_adds(&d->text, "  ");
		mlc_buf_add(&d->text, p, n);
		pad(&d->text, text_width(p, n), d->w[k]);
		mlc_buf_adds(&d->html, "<td style=\"" MAIL_CELL "\">");
		html_escape_n(&d->html, p, n);
		mlc_buf_adds(&d->html, "</td>");
		p += n + (p[n] != '\0');
	}
	if (HAS_AMOUNT) {
		mlc_buf_adds(&d->text, "  ");
		if (has_cents) {
			put_amount(d, cents, cur, MAIL_CELL);
		} else {
			const char *a = amt ? amt : "";

			pad(&d->text, text_width(a, strlen(a)), d->w[d_ncells]);
			mlc_buf_adds(&d->text, a);
			mlc_buf_adds(&d->html, "<td style=\"" MAIL_CELL MAIL_NUM "\">");
			html_escape(&d->html, a);
			mlc_buf_adds(&d->html, "</td>");
		}
	}
	end_line(&d->text);
	mlc_buf_adds(&d->html, "</tr>\n");
}

/* Decides what one spooled row adds: its ids (first 1000), its text if max_items and SMS allow. */
static void
digest_row(struct digest *d, sqlite3_stmt *rs)
{
	const char *aid = (const char *)sqlite3_column_text(rs, 0);
	const char *rt = (const char *)sqlite3_column_text(rs, 1);
	const char *ak = (const char *)sqlite3_column_text(rs, 2);
	const char *fp = (const char *)sqlite3_column_text(rs, 3);

	if (d->ids < 1000) {
		mlc_buf_adds(&d->idl, d->ids ? "," : "");
		mlc_buf_json_str(&d->idl, aid, strlen(aid));
		mlc_buf_adds(&d->kl, d->ids ? "," : "");
		mlc_buf_adds(&d->fpl, d->ids ? "," : "");
		if (ak)
			mlc_buf_json_str(&d->kl, ak, strlen(ak));
		else
			mlc_buf_adds(&d->kl, "null");
		if (fp)
			mlc_buf_json_str(&d->fpl, fp, strlen(fp));
		else
			mlc_buf_adds(&d->fpl, "null");
		d->ids++;
	}
	if (digest_max_items && d->shown >= digest_max_items)
		return;
	if (d->email) {
		digest_email_row(d, rt, sqlite3_column_type(rs, 4) != SQLITE_NULL,
		                 sqlite3_column_double(rs, 4), (const char *)sqlite3_column_text(rs, 5),
		                 (const char *)sqlite3_column_text(rs, 6));
		d->shown++;
	} else if (!d->full) {
		if (digest_sms_fits(d, rt)) {
			mlc_buf_addc(&d->body, '\n');
			mlc_buf_adds(&d->body, rt);
			d->shown++;
		} else {
			d->full = 1; /* later rows are only counted */
		}
	}
}

/*
 * The total of an e-mail digest, under its amount column: one line per
 * currency, in the order first seen (amounts in two currencies are never
 * added up), over all its alerts, the ones past "and N more" too.  Rows
 * whose amount was no number are counted apart.
 */
static void
digest_total(struct digest *d)
{
	sqlite3_int64 without = 0;
	size_t span = 0, k, j;
	int first = 1;
	struct mlc_buf label;

	mlc_buf_init(&label);
	if (d->shown < d->count)
		mlc_buf_printf(&label, "Total of all %ld", d->count);
	else
		mlc_buf_adds(&label, "Total");
	for (k = 0; k < d_ncells; k++)
		span += d->w[k] + (k ? 2 : 0);
	text_rule(d);
	mlc_buf_adds(&d->html, "</tbody>\n<tfoot>\n");
	for (j = 0; j < d->ntot; j++) {
		const char *cur = d->tot[j].cur, *style;

		without += d->tot[j].all - d->tot[j].with;
		if (d->tot[j].with == 0)
			continue;
		mlc_buf_adds(&d->text, first ? label.p : "");
		pad(&d->text, first ? text_width(label.p, label.len) : 0, span);
		mlc_buf_adds(&d->text, "  ");
		/* under the first currency's total, the next ones without a rule */
		style = first ? MAIL_TOTAL : MAIL_TOTAL ";border-top:0";
		mlc_buf_printf(&d->html, "<tr><td colspan=\"%zu\" style=\"%s\">%s</td>", d_ncells,
		               style, first ? label.p : "");
		put_amount(d, d->tot[j].total, cur, style);
		end_line(&d->text);
		mlc_buf_adds(&d->html, "</tr>\n");
		first = 0;
	}
	if (without) {
		mlc_buf_printf(&d->text, "%lld without an amount, not in the total\n",
		               (long long)without);
		mlc_buf_printf(&d->html, "<tr><td colspan=\"%zu\" style=\"" MAIL_CELL
		               ";font-style:italic\">%lld without an amount, not in the total</td></tr>\n",
		               d_ncells + 1, (long long)without);
	}
	mlc_buf_adds(&d->html, "</tfoot>\n");
	mlc_buf_free(&label);
}

/* Ends the digest's message: "and N more" for the rows not shown, then its footer. */
static void
digest_finish(struct digest *d)
{
	if (d->shown < d->count) {
		if (d->email) {
			mlc_buf_printf(&d->text, "and %ld more\n", d->count - d->shown);
			mlc_buf_printf(&d->html, "<tr><td colspan=\"%zu\" style=\"" MAIL_CELL
			               ";font-style:italic\">and %ld more</td></tr>\n",
			               d_ncells + HAS_AMOUNT, d->count - d->shown);
		} else {
			mlc_buf_printf(&d->body, "\nand %ld more", d->count - d->shown);
		}
	}
	if (d->email) {
		if (HAS_AMOUNT)
			digest_total(d);
		else
			mlc_buf_adds(&d->html, "</tbody>\n");
		if (d->ftr.len)
			mlc_buf_printf(&d->text, "\n%s\n", d->ftr.p);
		mlc_buf_adds(&d->html, "</table>\n");
		if (d->ftrh.len)
			mlc_buf_printf(&d->html, "<p style=\"margin:12px 0 0 0;font-size:12px;"
			                         "color:#666666\">%s</p>\n", d->ftrh.p);
		mlc_buf_adds(&d->html, "</body></html>\n");
	} else if (d->ftr.len) {
		struct mlc_sms_info in;
		size_t l = d->body.len;

		mlc_buf_addc(&d->body, '\n');
		mlc_buf_adds(&d->body, d->ftr.p);
		mlc_sms_measure(d->body.p, d->body.len, &in);
		if (in.segments > (size_t)max_segments) {
			d->body.len = l; /* the footer only if it fits */
			d->body.p[l] = '\0';
		}
	}
}

/* One digest: its rows are streamed from the spool. */
static void
digest_one(sqlite3_stmt *g)
{
	const char *channel = (const char *)sqlite3_column_text(g, 1);
	const char *addr = (const char *)sqlite3_column_text(g, 2);
	const char *rjson = (const char *)sqlite3_column_text(g, 3);
	const char *zone = (const char *)sqlite3_column_text(g, 4);
	const char *capid = (const char *)sqlite3_column_text(g, 5);
	char *addrs[3];
	const char *sev = sev_names[sqlite3_column_int(g, 10) & 3];
	struct mlc_buf line, did;
	struct digest d = { .count = sqlite3_column_int64(g, 9) };
	sqlite3_stmt *rs;
	jv robj = jv_parse(rjson), din;
	int i;

	d.email = strcmp(channel, "email") == 0;
	for (i = 0; i < 3; i++)
		addrs[i] = (char *)sqlite3_column_text(g, 6 + i);
	din = jv_object_set(jv_object(), jv_string("rule"), jv_string(rule.name));
	din = jv_object_set(din, jv_string("count"), jv_number((double)d.count));
	din = jv_object_set(din, jv_string("today"), jv_string(today));
	din = jv_object_set(din, jv_string("severity"), jv_string(sev));
	din = jv_object_set(din, jv_string("channel"), jv_string(channel));
	din = jv_object_set(din, jv_string("recipient"), jv_copy(robj));
	mlc_buf_init(&line);
	mlc_buf_init(&did);
	mlc_buf_printf(&did, "digest:%s/%s/%s/%s", rule.name, channel, addr, today);
	d.gid = sqlite3_column_int64(g, 0);
	digest_open(&d, din);
	if (sqlite3_prepare_v2(spool, "SELECT alert_id, text, akey, fp, cents, cur, amt FROM rowv"
	                              " WHERE gid = ?1 ORDER BY seq", -1, &rs, NULL) != SQLITE_OK)
		spool_fail("select rows");
	sqlite3_bind_int64(rs, 1, d.gid);
	while (sqlite3_step(rs) == SQLITE_ROW)
		digest_row(&d, rs);
	sqlite3_finalize(rs);
	digest_finish(&d);
	{
		/* Two digests to one address on one day (an hourly rule) are
		 * two deliveries; the same alerts digested again (a re-run after
		 * a crash) are the same one: the id ends in a hash of its alerts. */
		unsigned char h[4];

		crypto_generichash(h, sizeof h, (const unsigned char *)(d.idl.p ? d.idl.p : ""),
		                   d.idl.len, NULL, 0);
		mlc_buf_printf(&did, "/%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
	}
	mlc_buf_adds(&line, "{\"delivery_id\":");
	mlc_buf_json_str(&line, did.p, did.len);
	mlc_buf_adds(&line, ",\"digest\":true");
	add_str(&line, "rule", rule.name);
	add_str(&line, "severity", sev);
	add_str(&line, "channel", channel);
	add_str(&line, "to", addr);
	add_recipient(&line, robj);
	/* the lists can be megabytes: added, not printed */
	mlc_buf_printf(&line, ",\"alert_count\":%ld,\"alert_ids\":[", d.count);
	mlc_buf_adds(&line, d.idl.p ? d.idl.p : "");
	mlc_buf_adds(&line, "],\"keys\":[");
	mlc_buf_adds(&line, d.kl.p ? d.kl.p : "");
	mlc_buf_adds(&line, "],\"fingerprints\":[");
	mlc_buf_adds(&line, d.fpl.p ? d.fpl.p : "");
	mlc_buf_addc(&line, ']');
	if (d.email) {
		add_str(&line, "subject", d.subj.p);
		add_str(&line, "text", d.text.p);
		add_str(&line, "html", d.html.p);
	} else {
		struct mlc_buf b;
		int enc, cut;
		size_t segs;

		mlc_buf_init(&b);
		sms_body(&b, d.body.p, d.body.len, strcmp(channel, "whatsapp") == 0, &enc, &segs,
		         &cut);
		add_str(&line, "body", b.p);
		if (strcmp(channel, "sms") == 0)
			mlc_buf_printf(&line, ",\"encoding\":\"%s\",\"segments\":%zu%s",
			               mlc_sms_encoding_name(enc), segs, cut ? ",\"truncated\":true" : "");
		mlc_buf_free(&b);
	}
	add_str(&line, "rendered_at", now_s);
	mlc_buf_addc(&line, '}');
	dispatch(&line, did.p, channel, addr, sev, zone, capid, addrs);
	jv_free(robj);
	jv_free(din);
	mlc_buf_free(&line);
	mlc_buf_free(&did);
	digest_close(&d);
}

static void
digests(void)
{
	sqlite3_stmt *g;

	if (!spool)
		return;
	for (unsigned i = 0; i < GRP_SLOTS; i++)
		grp_flush(i);
	if (sqlite3_prepare_v2(spool,
	                       "SELECT gid, channel, addr, recipient, zone, capid, sms, wa, email,"
	                       " count, sev FROM grp ORDER BY gid",
	                       -1, &g, NULL) != SQLITE_OK)
		spool_fail("select");
	while (!exit_io && sqlite3_step(g) == SQLITE_ROW)
		digest_one(g);
	sqlite3_finalize(g);
	sqlite3_exec(spool, "COMMIT", NULL, NULL, NULL);
	spool_close();
}

/* ---- one alert ---- */

static int
has_word(jv arr, const char *w)
{
	int i, n;

	if (jv_get_kind(arr) != JV_KIND_ARRAY)
		return 0;
	n = jv_array_length(jv_copy(arr));
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(arr), i);
		int m = jv_get_kind(e) == JV_KIND_STRING && strcmp(jv_string_value(e), w) == 0;

		jv_free(e);
		if (m)
			return 1;
	}
	return 0;
}

/* One delivery of an alert to a recipient on a channel. */
static const char *rule_channels(void);

/*
 * A storm summary (alert-match's storm guard) has no record to fill the
 * rule's templates: its texts are fixed, built from the summary itself.
 * what: 0 SMS text, 1 e-mail subject, 2 e-mail text.
 */
static void
storm_text(jv alert, int what, struct mlc_buf *out)
{
	jv rec = get(alert, "record"), ids = get(alert, "alerts");
	jv cnt = get(alert, "count"), lim = get(rec, "storm_limit"), date = get(rec, "date");
	long n = jv_get_kind(cnt) == JV_KIND_NUMBER ? (long)jv_number_value(cnt) : 0;
	long l = jv_get_kind(lim) == JV_KIND_NUMBER ? (long)jv_number_value(lim) : 0;
	const char *d = jv_get_kind(date) == JV_KIND_STRING ? jv_string_value(date) : "today";
	int i, k = jv_get_kind(ids) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ids)) : 0;

	if (what == 0) {
		/* "by e-mail" only where the rule sends e-mail: else it points nowhere */
		int mail = word_in(rule_channels(), "email", 5) ||
		           (digest_channel && strcmp(digest_channel, "email") == 0);

		mlc_buf_printf(out, "Alert storm: rule %s fired %ld alerts on %s (limit %ld). "
		               "One summary instead of %ld messages; %s.",
		               rule.name, n, d, l, n,
		               mail ? "details by e-mail" : "details in the audit trail (ml-connector why)");
	} else if (what == 1) {
		mlc_buf_printf(out, "Alert storm: %ld alerts from rule %s on %s", n, rule.name, d);
	} else {
		mlc_buf_printf(out, "Rule %s fired %ld alerts on %s, more than its storm limit of %ld,\n"
		               "so this one summary replaces them.  The alerts:\n\n", rule.name, n, d, l);
		for (i = 0; i < k; i++) {
			jv id = jv_array_get(jv_copy(ids), i);

			if (jv_get_kind(id) == JV_KIND_STRING)
				mlc_buf_printf(out, "- %s\n", jv_string_value(id));
			jv_free(id);
		}
		if (n > k)
			mlc_buf_printf(out, "and %ld more\n", n - k);
		mlc_buf_printf(out, "\nEvery alert is in the audit trail: ml-connector why ALERT_ID\n");
	}
	jv_free(rec);
	jv_free(ids);
	jv_free(cnt);
	jv_free(lim);
	jv_free(date);
}

/* Decides the e-mail's "html": the template's page, its fragment in a page, or the text escaped. */
static void
email_html(struct mlc_buf *line, const char *subject, const char *text,
           const struct mlc_buf *c, int use_html)
{
	struct mlc_buf h;
	int full = strncmp(c->p, "<!DOCTYPE", 9) == 0 || strncmp(c->p, "<html", 5) == 0;

	mlc_buf_init(&h);
	if (full) {
		mlc_buf_add(&h, c->p, c->len);
	} else {
		const char *p;

		html_open(&h, subject);
		if (use_html) {
			mlc_buf_add(&h, c->p, c->len);
		} else { /* the text, escaped, line breaks kept */
			mlc_buf_adds(&h, "<p>");
			for (p = text; *p; p++) {
				char one[2] = { *p, 0 };

				if (*p == '\n')
					mlc_buf_adds(&h, "<br>\n");
				else
					html_escape(&h, one);
			}
			mlc_buf_adds(&h, "</p>");
		}
		mlc_buf_adds(&h, "\n</body></html>\n");
	}
	add_str(line, "html", h.p);
	mlc_buf_free(&h);
}

/* ---- reply codes ([message] reply_code, ack.c) ---- */

struct code_tx {
	const char *to, *alert_id, *key;
	char code[MLC_ACK_CODEMAX];
};

static int
code_tx(struct mlc_store *s, void *arg)
{
	struct code_tx *c = arg;

	if (mlc_ack_code(s, c->to, c->alert_id, rule.name, c->key, now_s, 1, c->code) < 0) {
		mlc_store_warn(s, "assigning a reply code");
		return -1;
	}
	return 0;
}

/*
 * The alert's reply code for this address, appended to body b when it
 * costs no SMS segment ("reply_code_shown" says which form, or none) and
 * named on the line.  Without the state (--no-state, --preview) the code
 * is the one a recipient with no other alert gets: 1.  0, or -1 (said).
 */
static int
add_reply_code(struct mlc_buf *line, struct mlc_buf *b, jv alert, const char *alert_id,
               const char *to, int sms, int *enc, size_t *segs)
{
	struct code_tx c = { to, alert_id, NULL, "1" };
	struct mlc_sms_info in;
	jv k = get(alert, "key");
	int form;

	if (jv_get_kind(k) != JV_KIND_STRING) {
		jv_free(k);
		return 0; /* a digest, a storm: no one alert to acknowledge */
	}
	c.key = jv_string_value(k);
	if (store) {
		int code = mlc_store_tx(store, "assign a reply code", code_tx, &c);

		if (code) {
			exit_io = code;
			jv_free(k);
			return -1;
		}
	}
	jv_free(k);
	form = mlc_ack_suffix(b, c.code, sms);
	mlc_sms_measure(b->p, b->len, &in);
	*enc = in.encoding;
	*segs = in.segments;
	add_str(line, "reply_code", c.code);
	add_str(line, "reply_code_shown", mlc_ack_shown_name(form));
	return 0;
}

/* One delivery to one address on one channel: rendered, checked, dispatched; -1 a bad line. */
static int
deliver(jv alert, jv input, struct recip *r, const char *channel, const char *addr,
        const char *alert_id, const char *severity, const char *zone, int storm,
        unsigned long lineno)
{
	/* kept from delivery to delivery (no allocation per delivery) */
	static struct mlc_buf line, did, a, b2, c;
	int rc = 0, nul = 0, x;

	if (!line.p) {
		mlc_buf_init(&line);
		mlc_buf_init(&did);
		mlc_buf_init(&a);
		mlc_buf_init(&b2);
		mlc_buf_init(&c);
	}
	mlc_buf_reset(&line);
	mlc_buf_reset(&did);
	mlc_buf_reset(&a);
	mlc_buf_reset(&b2);
	mlc_buf_reset(&c);
	mlc_buf_adds(&did, alert_id);
	mlc_buf_addc(&did, '/');
	mlc_buf_adds(&did, channel);
	mlc_buf_addc(&did, '/');
	mlc_buf_adds(&did, addr);
	head(&line, did.p, alert_id, severity, channel, addr, r);
	if (strcmp(channel, "email") == 0 && storm) {
		storm_text(alert, 1, &a);
		storm_text(alert, 2, &b2);
	} else if (strcmp(channel, "email") == 0) {
		if ((x = tmpl_render(cur_resolved ? &r_subject : cur_escalation ? &e_subject : &t_subject,
		                     input, lineno, &a)) < 0 ||
		    (nul |= x, x = tmpl_render(cur_resolved ? &r_text : cur_escalation ? &e_text : &t_text,
		                               input, lineno, &b2)) < 0) {
			rc = -1;
			goto out;
		}
		nul |= x;
	}
	if (strcmp(channel, "email") == 0) {
		if (t_html.src && !storm && !cur_resolved && !cur_escalation) {
			if ((x = tmpl_render(&t_html, input, lineno, &c)) < 0) {
				rc = -1;
				goto out;
			}
			nul |= x;
		}
		{
			/* a subject is one line: no header injection, no folding surprises */
			size_t i;

			for (i = 0; i < a.len; i++)
				if (a.p[i] == '\n' || a.p[i] == '\r')
					a.p[i] = ' ';
		}
		add_str(&line, "subject", a.p);
		add_str(&line, "text", b2.p);
		email_html(&line, a.p, b2.p, &c, t_html.src && !storm && !cur_resolved && !cur_escalation);
	} else {
		int enc, cut;
		size_t segs;

		if (!storm && wa_sid && strcmp(channel, "whatsapp") == 0) {
			/* a template: ContentSid and its variables, no Body */
			if (wa_render(input, lineno, &line) < 0) {
				rc = -1;
				goto out;
			}
			goto done;
		}
		if (storm) {
			storm_text(alert, 0, &a);
		} else if ((x = tmpl_render(cur_resolved ? &r_sms : cur_escalation ? &e_sms : &t_sms,
		                            input, lineno, &a)) < 0) {
			rc = -1;
			goto out;
		} else {
			nul |= x;
		}
		if (a.len == 0) {
			mlc_warn("line %lu: rule %s: template sms gave an empty text", lineno, rule.name);
			rc = -1;
			goto out;
		}
		sms_body(&b2, a.p, a.len, strcmp(channel, "whatsapp") == 0, &enc, &segs, &cut);
		if (reply_code && !storm && !cur_resolved &&
		    add_reply_code(&line, &b2, alert, alert_id, addr, strcmp(channel, "sms") == 0,
		                   &enc, &segs) < 0) {
			rc = -1;
			goto out;
		}
		add_str(&line, "body", b2.p);
		if (strcmp(channel, "sms") == 0) {
			char dig[MLC_ULL_DIGITS];
			size_t dn = mlc_ull_digits(dig, segs, 1);

			mlc_buf_adds(&line, ",\"encoding\":\"");
			mlc_buf_adds(&line, mlc_sms_encoding_name(enc));
			mlc_buf_adds(&line, "\",\"segments\":");
			mlc_buf_add(&line, dig, dn);
		}
		if (cut)
			mlc_buf_adds(&line, ",\"truncated\":true");
	}
done:
	if (nul && opt_strict) {
		rc = -1;
		goto out;
	}
	add_str(&line, "rendered_at", now_s);
	mlc_buf_addc(&line, '}');
	if (line.len > MLC_NDJSON_MAXLINE) {
		/* alert-log and twilio-send would skip it; say so here, once */
		mlc_warn("line %lu: rule %s: the %s delivery to %s would be a line of %zu bytes, "
		         "over the %u-byte limit; not made",
		         lineno, rule.name, channel, addr, line.len, MLC_NDJSON_MAXLINE);
		rc = -1;
		goto out;
	}
	dispatch(&line, did.p, channel, addr, severity, zone, r->id, r->addr);
out:
	return rc;
}

static const char *
rule_channels(void)
{
	const char *c = mlc_rule_get(&rule, "recipients", "channels");

	return c ? c : "sms";
}

/*
 * Decides, per channel of one recipient: a delivery, a digest row or a
 * warning; -1 a bad line.  *shared: the templates' input, the record's
 * members and the alert's, one object for all the recipients of one alert
 * (each sets its members again, in the same order, before a template
 * reads them), not copied when the alert has given up its record.
 */
static unsigned long input_serial; /* the alert_serial whose members *shared holds */

static int
render_recipient(jv alert, jv *shared, jv chans, unsigned chm, struct recip *r,
                 const char *alert_id, const char *sev, int digest_only, int is_storm,
                 unsigned long lineno)
{
	jv input, err, supch;
	int c;
	int any = 0, bad = 0;

	err = jv_copy(r->m[RM_ERROR]);
	if (jv_get_kind(err) != JV_KIND_NULL || jv_get_kind(r->obj) != JV_KIND_OBJECT) {
		jv to = jv_copy(r->m[RM_TO]);

		mlc_warn("line %lu: rule %s: recipient %s: %s; nothing sent to it", lineno,
		         rule.name,
		         jv_get_kind(to) == JV_KIND_STRING ? jv_string_value(to) :
		         r->name ? r->name : "?",
		         jv_get_kind(err) == JV_KIND_STRING ? jv_string_value(err) :
		                                              "not a recipient object");
		n_noaddr++;
		jv_free(to);
		jv_free(err);
		return 0;
	}
	jv_free(err);
	/* channels alert-match found inside their re-alert window */
	supch = jv_copy(r->m[RM_SUPCH]);
	input = *shared;
	*shared = jv_invalid();
	if (input_serial != alert_serial) {
		/* the alert's members: the same for each recipient, set by the first */
		input_serial = alert_serial;
		/* the alert's own strings where they are the same text (wire.c: no NUL) */
		input = jv_object_set(input, mlc_jq_key("alert_id"),
		                      jv_get_kind(am[AM_ALERT_ID]) == JV_KIND_STRING ?
		                              jv_copy(am[AM_ALERT_ID]) : jv_string(alert_id));
		input = jv_object_set(input, mlc_jq_key("rule"), mlc_jq_key(rule.name));
		input = jv_object_set(input, mlc_jq_key("severity"),
		                      jv_get_kind(am[AM_SEVERITY]) == JV_KIND_STRING &&
		                                      strcmp(jv_string_value(am[AM_SEVERITY]), sev) == 0 ?
		                              jv_copy(am[AM_SEVERITY]) : jv_string(sev));
	}
	input = jv_object_set(input, mlc_jq_key("recipient"), jv_copy(r->obj));
	if (cur_resolved)
		input = jv_object_set(input, mlc_jq_key("resolved"), am_get(AM_RESOLVED));
	if (cur_escalation)
		input = jv_object_set(input, mlc_jq_key("escalation"), am_get(AM_ESCALATION));
	/* every channel, in addr.c's order */
	for (c = 0; c < MLC_CH_COUNT; c++) {
		const char *ch = mlc_addr_channel_name(c), *addr;
		const char *zone;
		int want, to_digest;

		want = jv_get_kind(chans) == JV_KIND_ARRAY ?
		               (int)(chm >> c & 1) :
		               word_in(rule_channels(), ch, strlen(ch));
		/* A storm summary is the one message that must stand alone. */
		to_digest = digest_channel && strcmp(digest_channel, ch) == 0 && !is_storm &&
		            !cur_resolved && !cur_escalation;
		if (digest_only)
			want = digest_channel ? to_digest : want;
		if (!want)
			continue;
		if (has_word(supch, ch)) {
			any = 1;
			continue;
		}
		if (!(addr = recip_addr(r, ch)))
			continue;
		/* addr.c's check, which twilio-send applies too */
		if (!mlc_addr_ok(c, addr)) {
			mlc_warn("line %lu: rule %s: recipient %s: %s \"%s\" is not %s", lineno,
			         rule.name, r->name ? r->name : r->id,
			         c == 0 ? "sms number" : c == 1 ? "whatsapp address" : "e-mail",
			         addr, c == 0 ? "E.164" : c == 1 ? "whatsapp:+E.164"
			                                          : "an e-mail address");
			n_noaddr++;
			continue;
		}
		any = 1;
		zone = zone_of(r, lineno);
		input = jv_object_set(input, mlc_jq_key("channel"), mlc_jq_key(ch));
		if (to_digest || digest_only) {
			if (spool_add(ch, addr, r, zone, alert_id, sev, input, lineno) < 0)
				bad = 1;
		} else if (deliver(alert, input, r, ch, addr, alert_id, sev, zone, is_storm, lineno) < 0) {
			bad = 1;
		}
	}
	if (!any) {
		mlc_warn("line %lu: rule %s: recipient %s has no address for the alert's "
		         "channels", lineno, rule.name, r->name ? r->name : r->id);
		n_noaddr++;
	}
	*shared = input;
	jv_free(supch);
	return bad ? -1 : 0;
}

/* 0 ok, -1 a bad line (reported).  alert consumed; its members in am[] (am_load). */
static int
render_alert(jv alert, unsigned long lineno)
{
	char *alert_id = str_of(am[AM_ALERT_ID]), *arule = str_of(am[AM_RULE]), *sev;
	jv record = am[AM_RECORD], recips = am_get(AM_RECIPIENTS), chans = am_get(AM_CHANNELS);
	int digest_only = jv_get_kind(am[AM_DIGEST_ONLY]) == JV_KIND_TRUE, i, n, bad = 0;
	int is_storm = storm_alert();
	unsigned chm = 0;
	struct mlc_wire_err we;

	am[AM_RECORD] = jv_null(); /* taken: see below */
	alert_serial++;
	/* a path read by several templates of this alert is looked up once */
	mlc_tmpl_memo(alert_serial);
	sev = str_of(am[AM_SEVERITY]);
	/* what alert-log --before alert-render refuses in front of us (wire.c) */
	if (mlc_wire_alert_of(am[AM_SUPPRESSED], am[AM_ALERT_ID], am[AM_RULE], record, recips,
	                      &we) < 0) {
		char m[512];

		mlc_wire_errmsg(&we, m, sizeof m);
		mlc_warn("line %lu: %s", lineno, m);
		bad = 1;
		goto out;
	}
	if (strcmp(arule, rule.name) != 0) {
		mlc_warn("line %lu: alert of rule \"%s\", not \"%s\"", lineno, arule, rule.name);
		bad = 1;
		goto out;
	}
	cur_resolved = jv_get_kind(am[AM_RESOLVED]) == JV_KIND_OBJECT;
	cur_escalation = jv_get_kind(am[AM_ESCALATION]) == JV_KIND_OBJECT;
	if (cur_escalation && !has_escalation) {
		mlc_warn("line %lu: an escalation step, and rule %s has no [escalation]", lineno,
		         rule.name);
		bad = 1;
		goto out;
	}
	if (cur_resolved && !has_resolved) {
		mlc_warn("line %lu: a resolved notice, and rule %s has no [resolved]", lineno,
		         rule.name);
		bad = 1;
		goto out;
	}
	if (!sev || (strcmp(sev, "info") && strcmp(sev, "warning") && strcmp(sev, "critical"))) {
		free(sev);
		sev = mlc_xstrdup(rule.severity);
	}
	/*
	 * The templates' input is the record with the alert's members set in
	 * it.  Nothing reads the alert's record after this point but a storm
	 * summary's texts: taken out of the alert, it has one holder, and is
	 * made the input in place instead of copied for each recipient.
	 */
	if (jv_get_kind(record) == JV_KIND_OBJECT) {
		if (!is_storm)
			alert = jv_object_delete(alert, mlc_jq_key("record"));
	} else {
		record = jv_object_merge(record, jv_object());
	}
	/* the alert's channels (an array): bit c for addr.c's channel c, in one pass */
	n = jv_get_kind(chans) == JV_KIND_ARRAY ? jv_array_length(jv_copy(chans)) : 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(chans), i);

		if (jv_get_kind(e) == JV_KIND_STRING) {
			const char *w = jv_string_value(e);
			int c = mlc_addr_channel(w, strlen(w)); /* as has_word's strcmp */

			if (c >= 0)
				chm |= 1u << c;
		}
		jv_free(e);
	}
	n = jv_array_length(jv_copy(recips));
	for (i = 0; i < n; i++) {
		struct recip r;

		recip_load(&r, jv_array_get(jv_copy(recips), i));
		if (render_recipient(alert, &record, chans, chm, &r, alert_id, sev, digest_only,
		                     is_storm, lineno) < 0)
			bad = 1;
		recip_free(&r);
	}
out:
	free(alert_id);
	free(arule);
	free(sev);
	jv_free(record);
	jv_free(recips);
	jv_free(chans);
	jv_free(alert);
	am_clear();
	mlc_tmpl_memo(0);
	return bad ? -1 : 0;
}

/* A record (preview only): wrapped into an alert to a preview recipient. */
static jv
record_to_alert(jv rec)
{
	jv a = jv_object(), k = get(rec, "key"), r;
	char id[1024];

	snprintf(id, sizeof id, "%s:%s", rule.name,
	         jv_get_kind(k) == JV_KIND_STRING ? jv_string_value(k) : "?");
	jv_free(k);
	a = jv_object_set(a, jv_string("alert_id"), jv_string(id));
	a = jv_object_set(a, jv_string("rule"), jv_string(rule.name));
	a = jv_object_set(a, jv_string("severity"), jv_string(rule.severity));
	a = jv_object_set(a, jv_string("table"), get(rec, "table"));
	a = jv_object_set(a, jv_string("key"), get(rec, "key"));
	r = jv_parse("[{\"to\":\"preview\",\"name\":\"Preview\",\"sms\":\"+15555550100\","
	             "\"email\":\"preview@example.invalid\"}]");
	a = jv_object_set(a, jv_string("recipients"), r);
	a = jv_object_set(a, jv_string("record"), rec);
	return a;
}

static void
preview_print(const struct mlc_buf *line)
{
	jv o = jv_parse_sized(line->p, (int)line->len);
	char *ch = sget(o, "channel"), *to = sget(o, "to"), *id = sget(o, "delivery_id"), *sid;
	jv ro = get(o, "recipient"), rn = get(ro, "name");
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_printf(&b, "=== %s to %s", ch ? ch : "?", to ? to : "?");
	if (jv_get_kind(rn) == JV_KIND_STRING)
		mlc_buf_printf(&b, " (%s)", jv_string_value(rn));
	mlc_buf_printf(&b, "\n    %s\n", id ? id : "");
	if (ch && strcmp(ch, "email") == 0) {
		char *s = sget(o, "subject"), *t = sget(o, "text"), *h = sget(o, "html");

		mlc_buf_printf(&b, "Subject: %s\n\n%s\n", s ? s : "", t ? t : "");
		mlc_buf_printf(&b, "[html part: %zu bytes]\n", h ? strlen(h) : 0);
		free(s);
		free(t);
		free(h);
	} else if ((sid = sget(o, "content_sid"))) {
		jv vars = get(o, "content_variables");
		int i, n = jv_get_kind(vars) == JV_KIND_OBJECT ? jv_object_length(jv_copy(vars)) : 0;

		mlc_buf_printf(&b, "[WhatsApp template %s]\n", sid);
		for (i = 1; i <= n; i++) {
			char k[16];
			jv v;

			snprintf(k, sizeof k, "%d", i);
			v = get(vars, k);
			mlc_buf_printf(&b, "{{%d}} %s\n", i,
			               jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
			jv_free(v);
		}
		free(sid);
		jv_free(vars);
	} else {
		char *body = sget(o, "body"), *enc = sget(o, "encoding");
		jv tr = get(o, "truncated");
		struct mlc_sms_info in;

		mlc_sms_measure(body ? body : "", body ? strlen(body) : 0, &in);
		if (enc)
			mlc_buf_printf(&b, "[%s, %zu segment%s, %zu characters%s]\n", enc, in.segments,
			               in.segments == 1 ? "" : "s", in.chars,
			               jv_get_kind(tr) == JV_KIND_TRUE ? ", truncated" : "");
		mlc_buf_printf(&b, "%s\n", body ? body : "");
		free(body);
		free(enc);
		jv_free(tr);
	}
	mlc_buf_addc(&b, '\n');
	if (!exit_io && fwrite(b.p, 1, b.len, stdout) != b.len)
		exit_io = MLC_EX_IOERR;
	mlc_buf_free(&b);
	free(ch);
	free(to);
	free(id);
	jv_free(rn);
	jv_free(ro);
	jv_free(o);
}

/* ---- release of deferred deliveries ---- */

/*
 * A deferred delivery is released once, and the trail says whether it
 * was.  For each row of table deferred whose time has come, the newest
 * audit row with its delivery_id decides:
 *   none, or "deferred"  never released, or released without the release
 *                        reaching the trail, so without reaching
 *                        twilio-send (alert-log forwards only what it has
 *                        recorded): emit it now;
 *   anything else        released before ("queued": recorded, perhaps
 *                        sent by a run that died, so the next run's replay
 *                        hands it to twilio-send --reconcile, which looks
 *                        it up before any send; "sent", "failed",
 *                        "unknown", "delivered"...), or settled by a later
 *                        rendering ("capped", "queued" by a run just
 *                        outside quiet hours): never emitted again, and
 *                        the row is removed.
 * So removal follows the trail, not the emission: a removal that fails or
 * a run that dies costs one lookup later, never a second SMS.
 *
 * Rows are read in batches in (not_before, delivery_id) order; a batch's
 * lookups and removals are one transaction, and its lines are emitted
 * after COMMIT: a transaction that runs again (a lock, see store.c) emits
 * nothing twice.  Memory: one batch.
 */
#define RELEASE_BATCH 64

struct release {
	char *id[RELEASE_BATCH], *line[RELEASE_BATCH], *to[RELEASE_BATCH];
	int stopped[RELEASE_BATCH];        /* an escalation step stopped meanwhile */
	size_t n;
	char after_nb[32], after_id[1200]; /* the keyset position */
	int more;                          /* the batch was full: read on */
	unsigned long removed;
};

static void
release_reset(struct release *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->id[i]);
		free(r->line[i]);
		free(r->to[i]);
	}
	r->n = 0;
}

/* One held delivery of release_tx's scan (row: mlc_trail_deferred_due's). */
struct release_scan {
	struct mlc_store *s;
	struct release *r;
	struct mlc_buf *gone;
	size_t rows;
	char nb[32], id[1200]; /* the keyset position reached */
};

static int
release_row(const struct mlc_trail_row *row, void *arg)
{
	struct release_scan *sc = arg;
	struct release *r = sc->r;
	const char *did = row->c[0].s, *l = row->c[1].s, *to = row->c[2].s, *n = row->c[3].s;
	char stage[64];
	int seen;

	sc->rows++;
	snprintf(sc->nb, sizeof sc->nb, "%s", n ? n : "");
	snprintf(sc->id, sizeof sc->id, "%s", did ? did : "");
	if (!did || !l || !to)
		return 0;
	if ((seen = mlc_trail_latest_stage(sc->s, did, stage, sizeof stage)) < 0)
		return -1;
	if (seen == 0 || strcmp(stage, "deferred") == 0) {
		/*
		 * An escalation step held by quiet hours goes out only if its
		 * alert still escalates: acknowledged or resolved meanwhile, it
		 * is dropped, said in the trail, and its row removed.
		 */
		jv o = jv_parse(l), ev = get(o, "escalation");
		char *key = sget(o, "key"), *since = sget(ev, "started_at");
		int active = 1, esc = jv_get_kind(ev) == JV_KIND_OBJECT && key;
		struct mlc_trail_acked ack;

		jv_free(ev);
		jv_free(o);
		if (esc && !release_only) {
			/* a step waits for --release, which comes after the steps'
			 * stops: see ml-connector(8), a run's steps 1b and 2 */
			free(key);
			free(since);
			return 0;
		}
		if (esc && (active = mlc_trail_esc_active(sc->s, rule.name, key)) == 1) {
			if ((active = mlc_trail_ack_get_key(sc->s, rule.name, key, since, &ack)) == 1)
				mlc_trail_acked_free(&ack);
			active = active < 0 ? -1 : !active;
		}
		free(key);
		free(since);
		if (active < 0)
			return -1;
		r->id[r->n] = mlc_xstrdup(did);
		r->line[r->n] = mlc_xstrdup(l);
		r->to[r->n] = mlc_xstrdup(to);
		r->stopped[r->n] = !active;
		r->n++;
		if (!active)
			mlc_buf_add(sc->gone, did, strlen(did) + 1);
		return 0;
	}
	mlc_buf_add(sc->gone, did, strlen(did) + 1);
	return 0;
}

static int
release_tx(struct mlc_store *s, void *arg)
{
	struct release *r = arg;
	struct mlc_buf gone; /* ids to remove, each with its NUL */
	struct release_scan sc = { s, r, &gone, 0, "", "" };
	unsigned long removed = 0;
	size_t off;
	int rc = -1;

	mlc_buf_init(&gone);

	release_reset(r);
	r->more = 0;
	snprintf(sc.nb, sizeof sc.nb, "%s", r->after_nb);
	snprintf(sc.id, sizeof sc.id, "%s", r->after_id);
	if (mlc_trail_deferred_due(s, rule.name, now_s, r->after_nb, r->after_id, RELEASE_BATCH,
	                           release_row, &sc) != 0)
		goto out;
	/* removed after the scan, not under it */
	for (off = 0; off < gone.len; off += strlen(gone.p + off) + 1) {
		if (mlc_trail_deferred_drop(s, gone.p + off) < 0)
			goto out;
		removed++;
	}
	r->more = sc.rows == RELEASE_BATCH;
	snprintf(r->after_nb, sizeof r->after_nb, "%s", sc.nb);
	snprintf(r->after_id, sizeof r->after_id, "%s", sc.id);
	r->removed += removed;
	rc = 0;
out:
	if (rc < 0)
		mlc_store_warn(s, "releasing deferred deliveries");
	mlc_buf_free(&gone);
	return rc;
}

static int
release(void)
{
	struct release r;
	size_t i;
	int c;

	memset(&r, 0, sizeof r);
	do {
		if ((c = mlc_store_tx(store, "release deliveries held by quiet hours", release_tx,
		                      &r)) != 0) {
			release_reset(&r);
			return exit_io = c;
		}
		for (i = 0; i < r.n && !exit_io; i++) {
			const char *l = r.line[i];
			char *addr[3] = { r.to[i], NULL, NULL };
			jv o = jv_parse(l), rn = get(o, "recipient"), an8 = get(rn, "an8");
			char cid[160];
			const char *cap;
			struct mlc_buf b;
			size_t ll = strlen(l);

			if (jv_get_kind(an8) == JV_KIND_NUMBER)
				snprintf(cid, sizeof cid, "an8:%.0f", jv_number_value(an8));
			else
				snprintf(cid, sizeof cid, "%s", r.to[i]);
			jv_free(an8);
			jv_free(rn);
			jv_free(o);
			mlc_buf_init(&b);
			if (r.stopped[i])
				mlc_buf_adds(&b, "{\"dropped\":\"escalation stopped\",");
			else if ((cap = cap_take(cid, addr)))
				mlc_buf_printf(&b, "{\"capped\":true,\"cap\":\"%s\",", cap);
			else
				mlc_buf_addc(&b, '{');
			mlc_buf_add(&b, l + 1, ll - 2);
			mlc_buf_printf(&b, ",\"released_at\":\"%s\"}", now_s);
			put(&b);
			mlc_buf_free(&b);
			n_deliveries += !r.stopped[i];
		}
		release_reset(&r);
	} while (r.more && !exit_io);
	return exit_io;
}

/* ---- configuration of the rule's [message], [digest], [limits] ---- */

static long
num(const char *section, const char *key, long lo, long hi, long def)
{
	const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, section, key);
	char *end;
	long v;

	if (!e)
		return def;
	errno = 0;
	v = strtol(e->value, &end, 10);
	if (errno || end == e->value || *end || v < lo || v > hi)
		mlc_die(MLC_EX_CONFIG, "%s:%u: [%s] %s must be a number from %ld to %ld",
		        rule.path, e->line, section, key, lo, hi);
	return v;
}

static void
read_settings(void)
{
	const struct mlc_conf_entry *e;
	const char *v;

	max_segments = (int)num("message", "max_segments", 1, 10, 2);
	if ((e = mlc_conf_find(&rule.conf, "message", "whatsapp_template"))) {
		if (!mlc_content_sid_ok(e->value))
			mlc_die(MLC_EX_CONFIG, "%s:%u: [message] whatsapp_template \"%s\" is not a Content "
			        "SID (HX and 32 hex digits: Twilio Console, Content Template Builder)",
			        rule.path, e->line, e->value);
		wa_sid = e->value;
	}
	if ((wa_vars_e = mlc_conf_find(&rule.conf, "message", "whatsapp_variables")) && !wa_sid)
		mlc_die(MLC_EX_CONFIG, "%s:%u: [message] whatsapp_variables needs [message] "
		        "whatsapp_template (Twilio: 21654)", rule.path, wa_vars_e->line);
	if ((e = mlc_conf_find(&rule.conf, "message", "transliterate"))) {
		if (strcmp(e->value, "yes") == 0 || strcmp(e->value, "true") == 0)
			transliterate = 1;
		else if (strcmp(e->value, "no") && strcmp(e->value, "false"))
			mlc_die(MLC_EX_CONFIG, "%s:%u: [message] transliterate must be yes or no",
			        rule.path, e->line);
	}
	if ((e = mlc_conf_find(&rule.conf, "message", "reply_code"))) {
		if (strcmp(e->value, "yes") == 0 || strcmp(e->value, "true") == 0)
			reply_code = 1;
		else if (strcmp(e->value, "no") && strcmp(e->value, "false"))
			mlc_die(MLC_EX_CONFIG, "%s:%u: [message] reply_code must be yes or no",
			        rule.path, e->line);
	}
	if ((e = mlc_conf_find(&rule.conf, "digest", "channel"))) {
		if (mlc_addr_channel(e->value, strlen(e->value)) < 0)
			mlc_die(MLC_EX_CONFIG, "%s:%u: [digest] channel must be " MLC_CHANNELS_WORDS,
			        rule.path, e->line);
		digest_channel = e->value;
	}
	digest_max_items = num("digest", "max_items", 1, 100000, 0);
	if ((e = mlc_conf_find(&rule.conf, "limits", "quiet_hours"))) {
		const char *p;

		if ((quiet_from = parse_hhmm(e->value, &p)) < 0 || *p != '-' ||
		    (quiet_to = parse_hhmm(p + 1, &p)) < 0 || *p || quiet_from == quiet_to)
			mlc_die(MLC_EX_CONFIG, "%s:%u: [limits] quiet_hours must be HH:MM-HH:MM",
			        rule.path, e->line);
	}
	if ((e = mlc_conf_find(&rule.conf, "limits", "quiet_action"))) {
		if (strcmp(e->value, "defer") == 0)
			quiet_action = Q_DEFER;
		else if (strcmp(e->value, "drop") == 0)
			quiet_action = Q_DROP;
		else if (strcmp(e->value, "defer-except-critical") == 0)
			quiet_action = Q_DEFER_EXCEPT_CRITICAL;
		else
			mlc_die(MLC_EX_CONFIG, "%s:%u: [limits] quiet_action must be defer, drop or "
			        "defer-except-critical", rule.path, e->line);
	}
	cap_hour = num("limits", "per_recipient_hour", 1, 1000000, 0);
	cap_day = num("limits", "per_recipient_day", 1, 1000000, 0);
	v = mlc_rule_get(&rule, "rule", "timezone");
	if (!v)
		v = conf_tz;
	if (v && !tz_ok(v))
		mlc_die(MLC_EX_CONFIG, "rule %s: unknown time zone \"%s\"", rule.name, v);
	rule_tz = v;
}

static void
load_config(const char *path)
{
	struct mlc_conf c;
	char err[512];
	int missing = 0;
	const char *p;

	mlc_config_use(path);
	p = mlc_config_path();
	if (mlc_conf_load(&c, p, err, sizeof err, &missing) < 0) {
		if (missing && !path) {
			mlc_conf_free(&c);
			return;
		}
		mlc_die(missing ? MLC_EX_NOINPUT : MLC_EX_CONFIG, "%s", err);
	}
	if (mlc_conf_get(&c, "general", "timezone"))
		conf_tz = mlc_xstrdup(mlc_conf_get(&c, "general", "timezone"));
	mlc_conf_free(&c);
}

/* ---- main ---- */

/*
 * The record's members the templates read: the line is built without the
 * others (mlc_wire_line_keep: on JDE lines the row's unused columns and
 * the contacts' other members are most of it).  Only when every template
 * that reads the record is in C, which says what it reads (a jq template
 * may read anything; so may the WhatsApp variables program); never in
 * preview.  A storm summary's texts read the record's storm_limit and
 * date; nothing else reads the record (the alert's members are read
 * whole).  A path's last member is built whole, and so is any value on
 * the way that is no object.
 */
static struct mlc_wire_keep keep_top;
static int keep_ok = -1;

static void
keep_free(struct mlc_wire_keep *k)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		free(k->name[i]);
		if (k->sub[i]) {
			keep_free(k->sub[i]);
			free(k->sub[i]);
		}
	}
	free(k->name);
	free(k->len);
	free(k->sub);
	memset(k, 0, sizeof *k);
}

static struct mlc_wire_keep *
keep_add(struct mlc_wire_keep *k, const char *name, size_t len, int whole)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->len[i] == len && memcmp(k->name[i], name, len) == 0)
			break;
	if (i == k->n) {
		k->name = mlc_xrealloc(k->name, (k->n + 1) * sizeof *k->name);
		k->len = mlc_xrealloc(k->len, (k->n + 1) * sizeof *k->len);
		k->sub = mlc_xrealloc(k->sub, (k->n + 1) * sizeof *k->sub);
		k->name[i] = mlc_xstrndup(name, len);
		k->len[i] = len;
		k->sub[i] = whole ? NULL : mlc_xcalloc(1, sizeof **k->sub);
		k->n++;
	} else if (whole && k->sub[i]) {
		/* read whole as well: all of it built */
		keep_free(k->sub[i]);
		free(k->sub[i]);
		k->sub[i] = NULL;
	}
	return k->sub[i];
}

static void
keep_path(void *arg, const jv *keys, size_t n)
{
	struct mlc_wire_keep *k = arg;
	size_t i;

	for (i = 0; i < n && k; i++)
		k = keep_add(k, jv_string_value(keys[i]),
		             (size_t)jv_string_length_bytes(jv_copy(keys[i])), i + 1 == n);
}

static void
line_keep_free(void)
{
	if (keep_ok == 1)
		keep_free(&keep_top);
	keep_ok = -1;
}

/* The keep for this run's lines, or NULL (all of every line). */
static const struct mlc_wire_keep *
line_keep(void)
{
	struct tmpl *const list[] = { &t_sms, &t_subject, &t_text, &t_html, &d_row, &d_amount,
		                      &d_currency, &r_sms, &r_subject, &r_text, &e_sms,
		                      &e_subject, &e_text };
	struct mlc_wire_keep *rec;
	size_t i;

	if (keep_ok >= 0)
		return keep_ok ? &keep_top : NULL;
	keep_ok = 0;
	if (opt_preview || wa_vars_e)
		return NULL;
	for (i = 0; i < sizeof list / sizeof list[0]; i++)
		if (list[i]->src && !tmpl_c(list[i]))
			return NULL;
	for (i = 0; i < d_ncells; i++)
		if (d_cells[i].src && !tmpl_c(&d_cells[i]))
			return NULL;
	/* the alert's members all, its record's those read */
	keep_top.rest = 1;
	rec = keep_add(&keep_top, "record", 6, 0);
	for (i = 0; i < sizeof list / sizeof list[0]; i++)
		if (list[i]->src)
			mlc_tmpl_paths(list[i]->c, keep_path, rec);
	for (i = 0; i < d_ncells; i++)
		if (d_cells[i].src)
			mlc_tmpl_paths(d_cells[i].c, keep_path, rec);
	keep_add(rec, "storm_limit", 11, 1);
	keep_add(rec, "date", 4, 1);
	keep_ok = 1;
	return &keep_top;
}

static int
run_input(FILE *f, const char *name)
{
	struct mlc_ndjson_reader *rd = mlc_ndjson_open(f, name, 0);
	char *l;
	size_t len;
	int r, code = 0;

	while (!exit_io && !config_failed && (r = mlc_ndjson_read(rd, &l, &len)) != 0) {
		unsigned long lineno = mlc_ndjson_lineno(rd);
		struct mlc_wire_err we;
		jv o;

		if (r < 0) {
			code = mlc_ndjson_error(rd);
			if (code == MLC_EX_IOERR)
				break;
			n_bad++;
			continue;
		}
		/* the checks every program makes, and alert-log in front of us */
		if (mlc_wire_line_keep(l, len, &o, &we, line_keep()) < 0) {
			char m[512];

			mlc_wire_errmsg(&we, m, sizeof m);
			mlc_warn("line %lu: %s", lineno, m);
			jv_free(o);
			n_bad++;
			continue;
		}
		am_load(o);
		if (jv_get_kind(am[AM_SUPPRESSED]) != JV_KIND_NULL &&
		    jv_get_kind(am[AM_SUPPRESSED]) != JV_KIND_FALSE) {
			am_clear();
			jv_free(o);
			if (!opt_preview && mlc_ndjson_write(1, l, len) < 0) {
				mlc_warn("write error on stdout: %s", strerror(errno));
				exit_io = MLC_EX_IOERR;
			}
			continue;
		}
		if (opt_preview && jv_get_kind(am[AM_ALERT_ID]) == JV_KIND_NULL &&
		    jv_get_kind(am[AM_ROW]) == JV_KIND_OBJECT) {
			am_clear();
			o = record_to_alert(o);
			am_load(o);
		}
		if (render_alert(o, lineno) < 0)
			n_bad++;
	}
	mlc_ndjson_close(rd);
	return code == MLC_EX_IOERR ? code : 0;
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'N' },
		{ "no-state", no_argument, NULL, 'n' },
		{ "strict", no_argument, NULL, 's' },
		{ "release", no_argument, NULL, 'L' },
		{ "check", no_argument, NULL, 'C' },
		{ "preview", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rulearg = NULL, *rulesdir = NULL, *statedir = NULL, *confpath = NULL,
	           *nowarg = NULL, *previewf = NULL;
	int c, check = 0, code;
	char err[1024];
	FILE *pf = NULL;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	/* no memory statistics (a global mutex on every SQLite allocation): none are read */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	{
		/* what render_recipient sets in the input for each recipient and channel */
		static const char *const per_delivery[] = { "recipient", "channel", NULL };

		mlc_tmpl_memo_skip(per_delivery);
	}
	while ((c = getopt_long(argc, argv, "r:R:c:d:", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': rulearg = optarg; break;
		case 'R': rulesdir = optarg; break;
		case 'c': confpath = optarg; break;
		case 'd': statedir = optarg; break;
		case 'N': nowarg = optarg; break;
		case 'n': opt_nostate = 1; break;
		case 's': opt_strict = 1; break;
		case 'L': release_only = 1; break;
		case 'C': check = 1; break;
		case 'P': previewf = optarg; opt_preview = 1; break;
		default:
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	if (!rulearg || optind != argc || check + release_only + opt_preview > 1 ||
	    (release_only && opt_nostate)) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	mlc_util_signals(NULL);
	if (nowarg ? mlc_time_parse(nowarg, &now) < 0 : mlc_time_now(&now) < 0)
		mlc_die(MLC_EX_USAGE, "bad time \"%s\" (RFC 3339 or @epoch)",
		        nowarg ? nowarg : getenv("ML_CONNECTOR_NOW"));
	mlc_time_fmt(now_s, &now);
	load_config(confpath);
	if (mlc_rule_load(&rule, rulearg, rulesdir, err, sizeof err, &code) < 0)
		mlc_die(code, "%s", err);
	read_settings();
	{
		jv a = jq_args(), t = get(a, "today");

		snprintf(today, sizeof today, "%s", jv_string_value(t));
		jv_free(t);
		jv_free(a);
	}
	code = compile_all(check) < 0 || compile_resolved(check) < 0 ||
	       compile_escalation(check) < 0 ? MLC_EX_CONFIG : 0;
	if (!check && !tmpl_c(&t_sms) && tmpl_build(&t_sms) < 0)
		code = MLC_EX_CONFIG;
	if (check) {
		if (check_rule())
			code = MLC_EX_CONFIG;
		goto done;
	}
	if (code)
		goto done;
	if (opt_preview) {
		if (!(pf = fopen(previewf, "r"))) {
			mlc_warn("%s: %s", previewf, strerror(errno));
			code = MLC_EX_NOINPUT;
			goto done;
		}
	} else if (!opt_nostate) {
		const char *d = mlc_state_dir(statedir, err, sizeof err);

		if (!d) {
			mlc_warn("%s", err);
			code = MLC_EX_CONFIG;
			goto done;
		}
		if (!(store = mlc_store_open(d, err, sizeof err, &code))) {
			mlc_warn("%s", err);
			goto done;
		}
		/* what it writes matters once alert-log has recorded a later line (store.c) */
		if (mlc_store_sync_later(store) < 0) {
			mlc_store_warn(store, "the state database");
			code = mlc_store_code(store);
			goto done;
		}
		if ((code = release()))
			goto done;
	}
	if (!release_only) {
		code = run_input(pf ? pf : stdin, pf ? previewf : "-");
		if (!code && !exit_io && !config_failed)
			digests();
	}
	if (n_noaddr)
		mlc_warn("rule %s: %lu recipient%s without a usable address (see above)", rule.name,
		         n_noaddr, n_noaddr == 1 ? "" : "s");
	if (exit_io)
		code = exit_io;
	else if (config_failed)
		code = MLC_EX_CONFIG;
	else if (!code && n_bad)
		code = MLC_EX_DATAERR;
done:
	if (pf)
		fclose(pf);
	if (spool)
		spool_close();
	mlc_store_close(store);
	line_keep_free();
	free_all_templates();
	mlc_tmpl_memo_free();
	mlc_buf_free(&rowc.text);
	mlc_buf_free(&rowc.cur);
	mlc_buf_free(&rowc.amt);
	for (c = 0; (size_t)c < rc_n; c++)
		free(rc_v[c].id);
	free(rc_v);
	free(conf_tz);
	mlc_rule_free(&rule);
	mlc_util_exit(code);
}
