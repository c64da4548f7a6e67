/*
 * alert-match — apply one rule to a stream of JDE records; emit alerts.
 *
 * usage: alert-match -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]
 *                    [--no-state] [--emit-suppressed] [--trailer] < records > alerts
 *        alert-match -r RULE [-c CONF] [-R RULES_DIR] [--now TIME] --resolved OPEN
 *                                                   < records > resolved
 *        alert-match -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]
 *                    --escalate DUE [--stale]        < records > escalations
 *        alert-match -r RULE [-c CONF] [-R RULES_DIR] --check
 *
 * stdin: record lines from jde-fetch ({"table","key","row","dates",...,
 * "contacts"}).  stdout: one alert line per record the rule's [match] expr
 * fires on (format: alert-match.1), with the record spliced in as the
 * bytes received (jq 1.6 numbers are doubles: re-dumping would change big
 * numbers and 1.0).  stderr: "alert-match: line N: rule R: ...".
 *
 * The [match] expressions (expr, key, fingerprint) are compiled once with
 * jqrule.c; $now, $today and $now_local are bound in the rule's time zone
 * ([rule] timezone, else the configuration's [general] timezone, else TZ).
 *
 * Re-alert: an alert to a recipient is suppressed while the re-alert index
 * says it was *sent* to that recipient inside the window with the same
 * fingerprint (realert.c).  alert-match never marks: alert-log does, when a
 * delivery is recorded as sent, so a match that was never delivered alerts
 * again on the next run (exactly-once is decided by what was sent).  A
 * fully suppressed alert writes nothing on stdout, unless
 * --emit-suppressed, which writes a line with a "suppressed" member that
 * every later stage passes through untouched and never delivers.
 *
 * Storm guard ([match] storm = N): the first N alerts are spooled to an
 * unlinked temporary file (memory stays constant) until the count is known.
 * At end of input with N or fewer fired, they follow as they are.  The
 * moment the N+1th fires, it is a storm: the spooled alerts go out with
 * "digest_only":true, and so does every later alert as it fires, so that
 * alert-render builds the digest while the fetch is still running (issue
 * 17); at end of input one summary alert (severity critical,
 * "storm":true, the final count) follows them.  No per-alert message can
 * leave before the count is known: until then nothing is written, and
 * after it every alert is digest_only.
 *
 * Exit: 0; 64 usage; 65 a bad record (the others were processed); 66 no
 * such rule; 74 write error or database I/O; 78 rule or configuration
 * error (also a program that calls halt).  A lock on the state database
 * held by another process is waited for (store.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: alert-match -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]\n"
	"                   [--no-state] [--emit-suppressed] [--trailer] < records > alerts\n"
	"       alert-match -r RULE [-c CONF] [-R RULES_DIR] [--now TIME] --resolved OPEN\n"
	"                                                  < records > resolved\n"
	"       alert-match -r RULE [-c CONF] [-R RULES_DIR] [-d STATEDIR] [--now TIME]\n"
	"                   --escalate DUE [--stale] < records > escalations\n"
	"       alert-match -r RULE [-c CONF] [-R RULES_DIR] --check\n";

#define STORM_LIST 50 /* alert ids named in a storm summary */
#define MAXR 64       /* recipients of one alert (after expanding groups) */

/* Channel bits: which addresses a recipient has, which the rule uses;
 * bit c is channel c of addr.c (mlc_addr_channel_name). */
enum { CH_SMS = 1 << MLC_CH_SMS, CH_WHATSAPP = 1 << MLC_CH_WHATSAPP, CH_EMAIL = 1 << MLC_CH_EMAIL };

/* One resolved [recipients] to (groups expanded). */
struct spec {
	int mask;      /* fixed recipients: CH_* for the addresses it has */
	char *to;      /* as written: "contact:vendor", "sms:+1..." */
	char *contact; /* the contact name, or NULL for a fixed recipient */
	char *group;   /* the group it came from, or NULL */
	char *json;    /* fixed recipients: the recipient object */
	char *id;      /* fixed recipients: the re-alert id */
	int step;      /* 0: [recipients]; N: [escalation] step N */
};

static struct mlc_rule rule;
static struct mlc_conf conf;
static int have_conf;
static struct spec *specs;
static size_t nspecs;
static int spec_step;   /* the step add_spec gives a spec (load) */
static int want_step;   /* the step resolve_recipients resolves */
static struct mlc_esc_step esc_steps[MLC_ESC_MAX];
static int nesc;        /* [escalation] steps */
static struct mlc_jq *q_expr, *q_key, *q_fp;
static struct mlc_store *store;
static long window_s = -1;
static const char *window_text = "never";
static long storm = -1;
static char *channels_json; /* ["sms","email"] or NULL */
static int rule_chmask = CH_SMS; /* [recipients] channels (alert-render's default: sms) */
static char now_text[32], today[16];
static struct timespec now_ts;
static int opt_emit_suppressed;
static int opt_trailer;     /* --trailer: the input is whole only with jde-fetch's trailer */
static int saw_trailer;

static unsigned long n_bad, n_fired, n_suppressed;
static int fatal; /* an exit code that stops the run */

/* storm spool */
static FILE *spool;
static char *storm_ids[STORM_LIST];
static size_t nstorm_ids;
static char *storm_rcpt_ids[STORM_LIST], *storm_rcpt_json[STORM_LIST];
static size_t nstorm_rcpt;

/* ---- helpers ---- */

static jv
get(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_null();
	return jv_object_get(jv_copy(o), jv_string(k));
}

/* A non-blank string member, malloc'd; else NULL. */
static char *
sget(jv o, const char *k)
{
	jv v = get(o, k);
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *p = jv_string_value(v);

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p) {
			size_t n = strlen(p);

			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			s = mlc_xstrndup(p, n);
		}
	}
	jv_free(v);
	return s;
}

static void
json_str_or_null(struct mlc_buf *b, const char *s)
{
	if (s)
		mlc_buf_json_str(b, s, strlen(s));
	else
		mlc_buf_adds(b, "null");
}

static const char *
kind_phrase(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING: return "a string";
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_OBJECT: return "an object";
	case JV_KIND_ARRAY: return "an array";
	case JV_KIND_NULL: return "null";
	default: return "something else";
	}
}

/*
 * The re-alert id of a recipient: "an8:N" when it has an address number,
 * else its first address (sms, email, whatsapp).  alert-render derives the
 * same id from the same members; the alert carries it as "id".
 */
static void
recipient_id(struct mlc_buf *b, const char *an8, const char *sms, const char *email,
             const char *wa)
{
	if (an8)
		mlc_buf_printf(b, "an8:%s", an8);
	else if (sms || email)
		mlc_buf_adds(b, sms ? sms : email);
	else if (wa)
		mlc_addr_whatsapp_add(b, wa);
	else
		mlc_buf_adds(b, "?");
}

/* {"to":..,"id":..,"name":..,"an8":..,"sms":..,"whatsapp":..,"email":..[,"group"]};
 * returns the CH_* bits of the addresses given. */
static int
recipient_json(struct mlc_buf *b, const char *to, const char *id, const char *name,
               const char *an8, const char *sms, const char *wa, const char *email,
               const char *group, const char *error)
{
	mlc_buf_adds(b, "{\"to\":");
	json_str_or_null(b, to);
	if (id) {
		mlc_buf_adds(b, ",\"id\":");
		json_str_or_null(b, id);
	}
	mlc_buf_adds(b, ",\"name\":");
	json_str_or_null(b, name);
	mlc_buf_adds(b, ",\"an8\":");
	mlc_buf_adds(b, an8 ? an8 : "null");
	mlc_buf_adds(b, ",\"sms\":");
	json_str_or_null(b, sms);
	mlc_buf_adds(b, ",\"whatsapp\":");
	json_str_or_null(b, wa);
	mlc_buf_adds(b, ",\"email\":");
	json_str_or_null(b, email);
	if (group) {
		mlc_buf_adds(b, ",\"group\":");
		json_str_or_null(b, group);
	}
	if (error) {
		mlc_buf_adds(b, ",\"error\":");
		json_str_or_null(b, error);
	}
	mlc_buf_addc(b, '}');
	return (sms ? CH_SMS : 0) | (wa ? CH_WHATSAPP : 0) | (email ? CH_EMAIL : 0);
}

/* ---- loading ---- */

static int
cfgerr(const char *path, unsigned line, const char *fmt, ...) MLC_PRINTF(3, 4);

static int
cfgerr(const char *path, unsigned line, const char *fmt, ...)
{
	struct mlc_buf b;
	va_list ap;
	char tmp[1024];

	mlc_buf_init(&b);
	if (line)
		mlc_buf_printf(&b, "%s:%u: ", path, line);
	else
		mlc_buf_printf(&b, "%s: ", path);
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	mlc_buf_adds(&b, tmp);
	mlc_warn("%s", b.p);
	mlc_buf_free(&b);
	return -1;
}

static void
add_spec(const char *to, const char *contact, const char *group, const char *json,
         const char *id, int mask)
{
	struct spec *s;

	specs = mlc_xrealloc(specs, (nspecs + 1) * sizeof *specs);
	s = &specs[nspecs++];
	s->mask = mask;
	s->to = mlc_xstrdup(to);
	s->contact = contact ? mlc_xstrdup(contact) : NULL;
	s->group = group ? mlc_xstrdup(group) : NULL;
	s->json = json ? mlc_xstrdup(json) : NULL;
	s->id = id ? mlc_xstrdup(id) : NULL;
	s->step = spec_step;
}

/* One "to" or group "member" value.  0 or -1 (reported). */
static int
parse_to(const char *v, const char *path, unsigned line, const char *group)
{
	const char *colon = strchr(v, ':');
	const char *arg;
	struct mlc_buf j, id;
	int mask;

	if (!colon || colon == v || !colon[1])
		return cfgerr(path, line,
		              "recipient \"%s\": expected contact:NAME, sms:+E164, "
		              "whatsapp:+E164, email:ADDRESS or group:NAME", v);
	arg = colon + 1;
	if (strncmp(v, "contact:", 8) == 0) {
		const char *p;

		for (p = arg; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			      *p == '-' || *p == '.'))
				return cfgerr(path, line, "recipient \"%s\": bad contact name", v);
		if (!mlc_conf_find(&rule.conf, "join", arg))
			mlc_warn("%s:%u: warning: recipient \"%s\": no [join] entry \"%s\" in the "
			         "rule; the records must bring contacts.%s", path, line, v, arg, arg);
		add_spec(v, arg, group, NULL, NULL, 0);
		return 0;
	}
	if (strncmp(v, "group:", 6) == 0) {
		char sec[160];
		size_t i;
		int any = 0;

		if (group)
			return cfgerr(path, line, "group \"%s\": a group may not contain a group (%s)",
			              group, v);
		if (!have_conf)
			return cfgerr(path, line, "recipient \"%s\": no configuration file (%s) to "
			              "define [group.%s]", v, mlc_config_path(), arg);
		snprintf(sec, sizeof sec, "group.%s", arg);
		for (i = 0; i < conf.n; i++) {
			if (strcmp(conf.v[i].section, sec) != 0)
				continue;
			if (strcmp(conf.v[i].key, "member") != 0)
				return cfgerr(conf.path, conf.v[i].line,
				              "unknown key \"%s\" in [%s] (expected member)",
				              conf.v[i].key, sec);
			any = 1;
			if (parse_to(conf.v[i].value, conf.path, conf.v[i].line, arg) < 0)
				return -1;
		}
		if (!any)
			return cfgerr(path, line, "recipient \"%s\": no [%s] with members in %s", v,
			              sec, conf.path);
		return 0;
	}
	if (strncmp(v, "an8:", 4) == 0)
		return cfgerr(path, line,
		              "recipient \"%s\": write a fixed address number as a [join] entry "
		              "(e.g. director = %s) and use contact:director", v, arg);
	mlc_buf_init(&j);
	mlc_buf_init(&id);
	if (strncmp(v, "sms:", 4) == 0 || strncmp(v, "whatsapp:", 9) == 0) {
		int wa = v[0] == 'w';

		if (!mlc_addr_e164_ok(arg)) {
			mlc_buf_free(&j);
			mlc_buf_free(&id);
			return cfgerr(path, line, "recipient \"%s\": not an E.164 number ("
			              MLC_ADDR_E164_RULE ")", v);
		}
		recipient_id(&id, NULL, wa ? NULL : arg, NULL, wa ? arg : NULL);
		mask = recipient_json(&j, v, id.p, NULL, NULL, wa ? NULL : arg, wa ? arg : NULL,
		                      NULL, group, NULL);
	} else if (strncmp(v, "email:", 6) == 0) {
		if (!mlc_addr_email_ok(arg)) {
			mlc_buf_free(&j);
			mlc_buf_free(&id);
			return cfgerr(path, line, "recipient \"%s\": not an e-mail address", v);
		}
		recipient_id(&id, NULL, NULL, arg, NULL);
		mask = recipient_json(&j, v, id.p, NULL, NULL, NULL, NULL, arg, group, NULL);
	} else {
		mlc_buf_free(&j);
		mlc_buf_free(&id);
		return cfgerr(path, line,
		              "recipient \"%s\": unknown form (contact:, sms:, whatsapp:, email:, "
		              "group:)", v);
	}
	add_spec(v, NULL, group, j.p, id.p, mask);
	mlc_buf_free(&j);
	mlc_buf_free(&id);
	return 0;
}

/* Compile one [match] expression; NULL with a message (PATH:LINE) on error. */
static struct mlc_jq *
compile_key(const char *key, jv args, int *bad)
{
	const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, "match", key);
	struct mlc_jq *q;
	char what[64], err[2048];
	const char *l;
	unsigned line;

	if (!e) {
		jv_free(args);
		return NULL;
	}
	snprintf(what, sizeof what, "[match] %s", key);
	q = mlc_jq_compile(e->value, what, args, err, sizeof err);
	if (q)
		return q;
	/* "(line N)" of the expression -> the file's line */
	line = e->line;
	if ((l = strstr(err, "(line ")))
		line = e->line + (unsigned)strtoul(l + 6, NULL, 10) - 1;
	cfgerr(rule.path, line, "%s", err);
	*bad = 1;
	return NULL;
}

/* Run a compiled program once on {} to find a program that halts no
 * matter what. */
static int
halts(struct mlc_jq *q, const char *key)
{
	jv out;
	char err[1024];

	if (q && mlc_jq_run1(q, jv_object(), &out, err, sizeof err) == -3) {
		const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, "match", key);

		cfgerr(rule.path, e ? e->line : 0, "%s", err);
		return 1;
	}
	if (q)
		jv_free(out);
	return 0;
}

static int
load_channels(void)
{
	const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, "recipients", "channels");
	struct mlc_buf b;
	const char *p;
	int n = 0, c;

	if (!e)
		return 0;
	mlc_buf_init(&b);
	mlc_buf_addc(&b, '[');
	for (p = e->value; *p;) {
		size_t w;

		p += strspn(p, " \t\n,");
		w = strcspn(p, " \t\n,");
		if (!w)
			break;
		if ((c = mlc_addr_channel(p, w)) < 0) {
			mlc_buf_free(&b);
			return cfgerr(rule.path, e->line, "channel \"%.*s\" (expected "
			              MLC_CHANNELS_WORDS ")", (int)w, p);
		}
		if (n++ == 0)
			rule_chmask = 0;
		else
			mlc_buf_addc(&b, ',');
		rule_chmask |= 1 << c;
		mlc_buf_json_str(&b, p, w);
		p += w;
	}
	mlc_buf_addc(&b, ']');
	if (!n) {
		mlc_buf_free(&b);
		return cfgerr(rule.path, e->line, "[recipients] channels is empty");
	}
	channels_json = b.p;
	return 0;
}

/* [escalation] steps: each one's recipients as [recipients] to's, the
 * specs of step N.  0, or -1 (reported). */
static int
load_escalation(void)
{
	char err[1024];
	int i, bad = 0;

	if ((nesc = mlc_rule_escalation(&rule, esc_steps, err, sizeof err)) < 0) {
		mlc_warn("%s", err);
		nesc = 0;
		return -1;
	}
	for (i = 0; i < nesc; i++) {
		const char *p = esc_steps[i].to;
		size_t before = nspecs;

		spec_step = i + 1;
		while (*p) {
			size_t w = strcspn(p, " \t\n");
			char *word = mlc_xstrndup(p, w);

			if (parse_to(word, rule.path, esc_steps[i].line, NULL) < 0)
				bad = 1;
			free(word);
			p += w;
			p += strspn(p, " \t\n");
		}
		if (nspecs - before > MAXR) {
			cfgerr(rule.path, esc_steps[i].line, "[escalation] step %d: more than %d "
			       "recipients after expanding groups", i + 1, MAXR);
			bad = 1;
		}
	}
	spec_step = 0;
	return bad ? -1 : 0;
}

/* Everything that can be checked without input.  0, or -1 (reported). */
static int
load(const char *conf_opt)
{
	const struct mlc_conf_entry *e;
	const char *tz, *cpath = mlc_config_path();
	char err[1024];
	int missing = 0, bad = 0;
	size_t i, n0;
	jv targs;

	if (mlc_conf_load(&conf, cpath, err, sizeof err, &missing) == 0) {
		have_conf = 1;
	} else {
		mlc_conf_free(&conf);
		if (!missing || (conf_opt && *conf_opt)) {
			mlc_warn("%s", err);
			return -1;
		}
	}
	tz = mlc_rule_get(&rule, "rule", "timezone");
	e = mlc_conf_find(&rule.conf, "rule", "timezone");
	if (!tz && have_conf)
		tz = mlc_conf_get(&conf, "general", "timezone");
	targs = mlc_jq_time_args(&now_ts, tz, err, sizeof err);
	if (!jv_is_valid(targs)) {
		jv_free(targs);
		return cfgerr(e ? rule.path : cpath, e ? e->line : 0, "%s", err);
	}
	{
		jv t = get(targs, "today");

		snprintf(today, sizeof today, "%s", jv_string_value(t));
		jv_free(t);
	}
	mlc_time_fmt(now_text, &now_ts);

	if (!mlc_conf_find(&rule.conf, "match", "expr")) {
		cfgerr(rule.path, 0, "[match] expr is missing");
		bad = 1;
	}
	q_expr = compile_key("expr", jv_copy(targs), &bad);
	q_key = compile_key("key", jv_copy(targs), &bad);
	q_fp = compile_key("fingerprint", jv_copy(targs), &bad);
	jv_free(targs);
	/* A program that halts whatever its input is a configuration error,
	 * found before any record (and by --check) by one run on {}. */
	if (!bad)
		bad = halts(q_expr, "expr") | halts(q_key, "key") | halts(q_fp, "fingerprint");

	if ((e = mlc_conf_find(&rule.conf, "match", "realert"))) {
		window_s = mlc_realert_window(e->value);
		window_text = e->value;
		if (window_s == -2) {
			cfgerr(rule.path, e->line, "realert \"%s\" (expected never, or a duration "
			       "such as 30m, 24h, 7d, 2w)", e->value);
			bad = 1;
		}
	}
	if ((e = mlc_conf_find(&rule.conf, "match", "storm"))) {
		char *end;

		errno = 0;
		storm = strtol(e->value, &end, 10);
		if (errno || end == e->value || *end || storm < 1) {
			cfgerr(rule.path, e->line, "storm \"%s\" (expected a number of alerts, 1 or "
			       "more)", e->value);
			bad = 1;
		}
	}
	if (load_channels() < 0)
		bad = 1;
	for (i = 0; i < rule.conf.n; i++) {
		e = &rule.conf.v[i];
		if (strcmp(e->section, "recipients") == 0 && strcmp(e->key, "to") == 0 &&
		    parse_to(e->value, rule.path, e->line, NULL) < 0)
			bad = 1;
	}
	n0 = nspecs; /* [recipients] to's: the steps' come after them */
	if (n0 > MAXR) {
		cfgerr(rule.path, 0, "more than %d recipients after expanding groups", MAXR);
		bad = 1;
	}
	if (load_escalation() < 0)
		bad = 1;
	if (!bad && n0 == 0) {
		cfgerr(rule.path, 0, "[recipients] has no \"to\"");
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* ---- output ---- */

static void
put_line(const char *p, size_t n)
{
	if (fatal)
		return;
	if (spool) {
		if (fwrite(p, 1, n, spool) != n || putc('\n', spool) == EOF) {
			mlc_warn("temporary spool file: write error: %s", strerror(errno));
			fatal = MLC_EX_IOERR;
		}
		return;
	}
	if (mlc_ndjson_write(1, p, n) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		fatal = MLC_EX_IOERR;
	}
}

static void spool_flush(int digest_only);

static void
storm_note(const char *alert_id, struct mlc_buf *ids, size_t nids, struct mlc_buf *jsons)
{
	size_t i, j;

	if (storm <= 0)
		return;
	if (nstorm_ids < STORM_LIST)
		storm_ids[nstorm_ids++] = mlc_xstrdup(alert_id);
	for (i = 0; i < nids && nstorm_rcpt < STORM_LIST; i++) {
		for (j = 0; j < nstorm_rcpt; j++)
			if (strcmp(storm_rcpt_ids[j], ids[i].p) == 0)
				break;
		if (j == nstorm_rcpt) {
			storm_rcpt_ids[nstorm_rcpt] = mlc_xstrdup(ids[i].p);
			storm_rcpt_json[nstorm_rcpt++] = mlc_xstrdup(jsons[i].p);
		}
	}
}

/* ---- one record ---- */


static void
record_error(unsigned long ln, const char *msg)
{
	mlc_warn("line %lu: rule %s: %s", ln, rule.name, msg);
	n_bad++;
}

/* The recipients of one alert, resolved from the rule's specs and the record. */
struct rset {
	struct mlc_buf json[MAXR], id[MAXR];
	int valid[MAXR], suppressed[MAXR], chmask[MAXR];
	char last[MAXR][32];
	long cnt[MAXR];
	struct mlc_realert_refusal refused[MAXR]; /* .code 0: none */
	size_t n, nsup, nvalid;
};

/* Whether the address recipient object b gives for channel c is still the
 * one Twilio refused for good ("whatsapp:" aside, which the delivery's
 * "to" may carry and the recipient's member does not). */
static int
still_refused(const struct mlc_buf *b, int c, const char *refused)
{
	jv o = jv_parse_sized(b->p, (int)b->len);
	jv a = jv_get_kind(o) == JV_KIND_OBJECT
	           ? jv_object_get(jv_copy(o), jv_string(mlc_addr_channel_name(c)))
	           : jv_null();
	int same = 0;

	if (jv_get_kind(a) == JV_KIND_STRING) {
		const char *x = jv_string_value(a);

		if (strncmp(x, "whatsapp:", 9) == 0)
			x += 9;
		if (strncmp(refused, "whatsapp:", 9) == 0)
			refused += 9;
		same = strcmp(x, refused) == 0;
	}
	jv_free(a);
	jv_free(o);
	return same;
}

/* A jq step failed: a halt (k == -3) stops the run, anything else is this record's error. */
static void
step_error(int k, unsigned long ln, const char *err)
{
	if (k == -3) {
		mlc_warn("line %lu: rule %s: %s", ln, rule.name, err);
		fatal = MLC_EX_CONFIG;
	} else {
		record_error(ln, err);
	}
}

/* Decides whether the [match] expr fires on the line: 1 with *rec parsed, else 0 (reported). */
static int
match_fires(const char *line, size_t len, unsigned long ln, jv *rec)
{
	struct mlc_wire_err we;
	char err[2048];
	jv res;
	int k;

	/* the checks every program makes, and alert-log in front of us (wire.c) */
	if (mlc_wire_line(line, len, rec, &we) < 0) {
		mlc_wire_errmsg(&we, err, sizeof err);
		mlc_warn("line %lu: %s", ln, err);
		jv_free(*rec);
		n_bad++;
		return 0;
	}
	if (mlc_wire_is_trailer(*rec)) {
		saw_trailer = 1; /* the read went through: no record */
		jv_free(*rec);
		return 0;
	}
	k = mlc_jq_run1(q_expr, jv_copy(*rec), &res, err, sizeof err);
	if (k < 0) {
		step_error(k, ln, err);
		jv_free(*rec);
		return 0;
	}
	if (jv_get_kind(res) != JV_KIND_TRUE && jv_get_kind(res) != JV_KIND_FALSE) {
		char m[128];

		snprintf(m, sizeof m, "[match] expr gave %s, not a boolean", kind_phrase(res));
		record_error(ln, m);
		jv_free(res);
		jv_free(*rec);
		return 0;
	}
	if (jv_get_kind(res) == JV_KIND_FALSE) {
		jv_free(*rec);
		return 0;
	}
	jv_free(res);
	return 1;
}

/* Decides the alert key: [match] key, else the record's "key"; NULL (reported) if none. */
static char *
alert_key(jv rec, unsigned long ln)
{
	char err[2048], *key = NULL;
	jv res;
	int k;

	if (q_key) {
		k = mlc_jq_run1(q_key, jv_copy(rec), &res, err, sizeof err);
		if (k == 0 && jv_get_kind(res) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(res)))
			key = mlc_xstrdup(jv_string_value(res));
		else if (k == 0 && jv_get_kind(res) == JV_KIND_NUMBER) {
			jv s = jv_dump_string(jv_copy(res), 0);

			key = mlc_xstrdup(jv_string_value(s));
			jv_free(s);
		} else if (k == 0) {
			snprintf(err, sizeof err, "[match] key gave %s, not a non-empty string",
			         kind_phrase(res));
		}
		if (k == 0)
			jv_free(res);
	} else {
		k = 0;
		if (!(key = sget(rec, "key")))
			snprintf(err, sizeof err, "record has no \"key\" string");
	}
	if (!key)
		step_error(k, ln, err);
	return key;
}

/* Decides the fingerprint ([match] fingerprint, as text): 0 with *fp or NULL; -1 reported. */
static int
alert_fingerprint(jv rec, unsigned long ln, char **fp)
{
	char err[2048];
	jv res;
	int k;

	*fp = NULL;
	if (!q_fp)
		return 0;
	k = mlc_jq_run1(q_fp, jv_copy(rec), &res, err, sizeof err);
	if (k < 0) {
		step_error(k, ln, err);
		return -1;
	}
	if (jv_get_kind(res) == JV_KIND_STRING) {
		*fp = mlc_xstrdup(jv_string_value(res));
		jv_free(res);
	} else if (jv_get_kind(res) != JV_KIND_NULL) {
		jv s = jv_dump_string(res, JV_PRINT_SORTED);

		*fp = mlc_xstrdup(jv_string_value(s));
		jv_free(s);
	} else {
		jv_free(res);
	}
	return 0;
}

/* Decides a contact: recipient from the record's contact c: its id, object, channels. */
static void
contact_recipient(struct rset *r, const struct spec *s, jv c, unsigned long ln)
{
	size_t n = r->n;

	if (jv_get_kind(c) != JV_KIND_OBJECT) {
		mlc_warn("line %lu: rule %s: recipient %s: no contact \"%s\" in the "
		         "record", ln, rule.name, s->to, s->contact);
		mlc_buf_adds(&r->json[n], "{\"to\":");
		mlc_buf_json_str(&r->json[n], s->to, strlen(s->to));
		if (s->group) {
			mlc_buf_adds(&r->json[n], ",\"group\":");
			mlc_buf_json_str(&r->json[n], s->group, strlen(s->group));
		}
		mlc_buf_adds(&r->json[n], ",\"error\":\"no contact\"}");
	} else {
		char *name = sget(c, "name"), *sms = sget(c, "sms"),
		     *wa = sget(c, "whatsapp"), *email = sget(c, "email"), *an8 = NULL;
		jv a = get(c, "an8");

		if (jv_get_kind(a) == JV_KIND_NUMBER) {
			char nb[32];

			snprintf(nb, sizeof nb, "%.0f", jv_number_value(a));
			an8 = mlc_xstrdup(nb);
		} else if (jv_get_kind(a) == JV_KIND_STRING && *jv_string_value(a)) {
			struct mlc_buf t;

			mlc_buf_init(&t);
			mlc_buf_json_str(&t, jv_string_value(a), strlen(jv_string_value(a)));
			an8 = t.p;
		}
		jv_free(a);
		if (an8 && an8[0] == '"') {
			/* an8 given as a string: the id uses its text */
			char *raw = mlc_xstrndup(an8 + 1, strlen(an8) - 2);

			recipient_id(&r->id[n], raw, sms, email, wa);
			free(raw);
		} else {
			recipient_id(&r->id[n], an8, sms, email, wa);
		}
		if (!sms && !wa && !email) {
			mlc_warn("line %lu: rule %s: recipient %s (%s): neither phone nor "
			         "e-mail", ln, rule.name, s->to, name ? name : r->id[n].p);
			recipient_json(&r->json[n], s->to, r->id[n].p, name, an8, NULL, NULL,
			               NULL, s->group, "no address");
		} else {
			r->chmask[n] = recipient_json(&r->json[n], s->to, r->id[n].p, name,
			                              an8, sms, wa, email, s->group, NULL);
			r->valid[n] = 1;
		}
		free(name);
		free(sms);
		free(wa);
		free(email);
		free(an8);
	}
}

/* Decides the alert's recipients: every spec resolved, the same person only once. */
static void
resolve_recipients(struct rset *r, jv contacts, unsigned long ln)
{
	size_t i, j, n;

	r->n = 0;
	for (i = 0; i < nspecs && r->n < MAXR; i++) {
		const struct spec *s = &specs[i];

		if (s->step != want_step)
			continue;
		n = r->n;
		mlc_buf_init(&r->json[n]);
		mlc_buf_init(&r->id[n]);
		r->valid[n] = r->suppressed[n] = r->chmask[n] = 0;
		if (!s->contact) {
			mlc_buf_adds(&r->json[n], s->json);
			mlc_buf_adds(&r->id[n], s->id);
			r->chmask[n] = s->mask;
			r->valid[n] = 1;
		} else {
			jv c = get(contacts, s->contact);

			contact_recipient(r, s, c, ln);
			jv_free(c);
		}
		/* the same person twice (buyer who is also the director): once */
		if (r->valid[n]) {
			for (j = 0; j < n; j++)
				if (r->valid[j] && strcmp(r->id[j].p, r->id[n].p) == 0)
					break;
			if (j < n) {
				mlc_buf_free(&r->json[n]);
				mlc_buf_free(&r->id[n]);
				continue;
			}
		}
		r->n++;
	}
}

/* Decides re-alert: which recipients, and which of their channels, are inside the window. */
static void
realert_filter(struct rset *r, const char *key, const char *fp)
{
	size_t i;
	int k;

	/*
	 * Per recipient and channel: a person texted before a crash
	 * still gets the e-mail the crash kept from them.  Only the channels
	 * the rule uses and the recipient has an address for count; when
	 * every one of them is inside its window the recipient is suppressed,
	 * when some are, the recipient names them in "suppressed_channels".
	 */
	r->nsup = r->nvalid = 0;
	for (i = 0; i < r->n; i++) {
		int c, want, nch = 0, nin = 0;
		struct mlc_buf ck, sc;

		r->last[i][0] = '\0';
		r->cnt[i] = 0;
		r->refused[i].code = 0;
		if (!r->valid[i])
			continue;
		r->nvalid++;
		if (!store)
			continue;
		want = r->chmask[i] & rule_chmask;
		k = 0;
		mlc_buf_init(&ck);
		mlc_buf_init(&sc);
		for (c = 0; c < 3 && k >= 0; c++) {
			char l[32];
			long n;
			struct mlc_realert_refusal ref;

			if (!(want & (1 << c)))
				continue;
			nch++;
			mlc_buf_reset(&ck);
			mlc_buf_printf(&ck, "%s/%s", r->id[i].p, mlc_addr_channel_name(c));
			k = mlc_realert_check(store, rule.name, key, ck.p, fp, now_ts.tv_sec,
			                      window_s, l, &n, &ref);
			if (k == 2) {
				/* refused for good: held back while it is the same address */
				if (still_refused(&r->json[i], c, ref.to)) {
					if (!r->refused[i].code)
						r->refused[i] = ref;
					k = 1;
				} else {
					k = 0;
				}
			}
			if (k == 1) {
				if (nin++ == 0) {
					memcpy(r->last[i], l, sizeof l);
					r->cnt[i] = n;
				}
				mlc_buf_adds(&sc, sc.len ? ",\"" : "[\"");
				mlc_buf_adds(&sc, mlc_addr_channel_name(c));
				mlc_buf_addc(&sc, '"');
			}
		}
		if (k < 0) {
			mlc_buf_free(&ck);
			mlc_buf_free(&sc);
			fatal = mlc_store_code(store);
			break;
		}
		if (nch > 0 && nin == nch) {
			r->suppressed[i] = 1;
			r->nsup++;
		} else if (nin > 0 && r->json[i].len && r->json[i].p[r->json[i].len - 1] == '}') {
			r->json[i].len--;
			mlc_buf_adds(&r->json[i], ",\"suppressed_channels\":");
			mlc_buf_add(&r->json[i], sc.p, sc.len);
			mlc_buf_adds(&r->json[i], "]}");
		}
		mlc_buf_free(&ck);
		mlc_buf_free(&sc);
	}
}

/* The "suppressed_recipients" array: who is inside the window, when, how often. */
static void
suppressed_json(struct mlc_buf *sup, const struct rset *r)
{
	size_t i;

	mlc_buf_adds(sup, "[");
	for (i = 0; i < r->n; i++) {
		if (!r->suppressed[i])
			continue;
		if (sup->len > 1)
			mlc_buf_addc(sup, ',');
		mlc_buf_adds(sup, "{\"id\":");
		mlc_buf_json_str(sup, r->id[i].p, r->id[i].len);
		mlc_buf_adds(sup, ",\"last_sent\":");
		json_str_or_null(sup, r->last[i][0] ? r->last[i] : NULL);
		mlc_buf_printf(sup, ",\"count\":%ld", r->cnt[i]);
		if (r->refused[i].code) {
			const struct mlc_realert_refusal *f = &r->refused[i];

			mlc_buf_adds(sup, ",\"refused\":{\"to\":");
			mlc_buf_json_str(sup, f->to, strlen(f->to));
			mlc_buf_printf(sup, ",\"code\":%ld,\"at\":", f->code);
			json_str_or_null(sup, f->at[0] ? f->at : NULL);
			mlc_buf_addc(sup, '}');
		}
		mlc_buf_addc(sup, '}');
	}
	mlc_buf_addc(sup, ']');
}

/* Decides what the alert line is and writes it: the alert, a suppressed line, or nothing. */

/* The head of an alert line (an alert, a resolved notice): alert_id, rule,
 * severity, table and key, the object left open. */
static void
alert_head(struct mlc_buf *out, const struct mlc_buf *aid, const char *table, const char *key)
{
	mlc_buf_adds(out, "{\"alert_id\":");
	mlc_buf_json_str(out, aid->p, aid->len);
	mlc_buf_adds(out, ",\"rule\":");
	mlc_buf_json_str(out, rule.name, strlen(rule.name));
	mlc_buf_adds(out, ",\"severity\":");
	mlc_buf_json_str(out, rule.severity, strlen(rule.severity));
	mlc_buf_adds(out, ",\"table\":");
	json_str_or_null(out, table);
	mlc_buf_adds(out, ",\"key\":");
	mlc_buf_json_str(out, key, strlen(key));
}

static void
emit_alert(const char *line, size_t len, const char *table, const char *key,
           const char *fp, const struct rset *r)
{
	struct mlc_buf out, aid, sup;
	size_t i;

	mlc_buf_init(&out);
	mlc_buf_init(&aid);
	mlc_buf_init(&sup);
	mlc_buf_printf(&aid, "%s:%s", rule.name, key);
	alert_head(&out, &aid, table, key);
	if (r->nsup > 0)
		suppressed_json(&sup, r);
	if (r->nvalid > 0 && r->nsup == r->nvalid) {
		/* every deliverable recipient is inside its window */
		n_suppressed++;
		if (!opt_emit_suppressed)
			goto done;
		mlc_buf_adds(&out, ",\"suppressed\":{\"reason\":\"realert\",\"realert\":");
		mlc_buf_json_str(&out, window_text, strlen(window_text));
		mlc_buf_adds(&out, ",\"recipients\":");
		mlc_buf_add(&out, sup.p, sup.len);
		mlc_buf_adds(&out, "},\"fingerprint\":");
		json_str_or_null(&out, fp);
		mlc_buf_adds(&out, ",\"matched_at\":");
		mlc_buf_json_str(&out, now_text, strlen(now_text));
		mlc_buf_addc(&out, '}');
		put_line(out.p, out.len);
		goto done;
	}
	mlc_buf_adds(&out, ",\"record\":");
	mlc_buf_add(&out, line, len);
	mlc_buf_adds(&out, ",\"recipients\":[");
	{
		int first = 1;

		for (i = 0; i < r->n; i++) {
			if (r->suppressed[i])
				continue;
			if (!first)
				mlc_buf_addc(&out, ',');
			first = 0;
			mlc_buf_add(&out, r->json[i].p, r->json[i].len);
		}
	}
	mlc_buf_addc(&out, ']');
	if (r->nsup > 0) {
		mlc_buf_adds(&out, ",\"suppressed_recipients\":");
		mlc_buf_add(&out, sup.p, sup.len);
	}
	if (channels_json) {
		mlc_buf_adds(&out, ",\"channels\":");
		mlc_buf_adds(&out, channels_json);
	}
	mlc_buf_adds(&out, ",\"fingerprint\":");
	json_str_or_null(&out, fp);
	mlc_buf_adds(&out, ",\"matched_at\":");
	mlc_buf_json_str(&out, now_text, strlen(now_text));
	n_fired++;
	if (storm > 0 && n_fired > (unsigned long)storm) {
		/* a storm: the spooled alerts first, all digest_only from now on */
		if (spool)
			spool_flush(1);
		mlc_buf_adds(&out, ",\"digest_only\":true");
	}
	mlc_buf_addc(&out, '}');
	{
		struct mlc_buf ids[MAXR], js[MAXR];
		size_t m = 0;

		for (i = 0; i < r->n; i++)
			if (r->valid[i] && !r->suppressed[i]) {
				ids[m] = r->id[i];
				js[m++] = r->json[i];
			}
		storm_note(aid.p, ids, m, js);
	}
	put_line(out.p, out.len);
done:
	mlc_buf_free(&out);
	mlc_buf_free(&aid);
	mlc_buf_free(&sup);
}

/* One record: does the rule fire, for which key, to whom, and is it a repeat. */
static void
process(const char *line, size_t len, unsigned long ln)
{
	jv rec, contacts;
	char *key, *fp, *table;
	struct rset r;
	size_t i;

	if (!match_fires(line, len, ln, &rec))
		return;
	if (!(key = alert_key(rec, ln))) {
		jv_free(rec);
		return;
	}
	if (alert_fingerprint(rec, ln, &fp) < 0) {
		free(key);
		jv_free(rec);
		return;
	}
	table = sget(rec, "table");
	contacts = get(rec, "contacts");
	resolve_recipients(&r, contacts, ln);
	jv_free(contacts);
	realert_filter(&r, key, fp);
	if (!fatal)
		emit_alert(line, len, table, key, fp, &r);
	for (i = 0; i < r.n; i++) {
		mlc_buf_free(&r.json[i]);
		mlc_buf_free(&r.id[i]);
	}
	free(key);
	free(fp);
	free(table);
	jv_free(rec);
}

/* ---- --resolved: the open alerts whose record stopped matching ---- */

/*
 * alert-match --resolved OPEN: OPEN is what alert-log open wrote (the
 * alerts of the rule sent and not yet resolved, one line per alert key);
 * stdin is what jde-fetch --keys read again of their records (the rule's
 * [source] conditions applied).  An open alert whose records are read and
 * none fires any more, or whose record was not read at all (deleted from
 * JDE, or no longer selected by [source]: "gone"), is resolved: one line
 * for the recipients and channels it was sent to, at the end of input.
 */
struct open_alert {
	char *line;   /* the line of OPEN */
	size_t len;
	char *key;    /* its alert key */
	int state;    /* 0 no record read, 1 a record still fires, 2 none does */
	char *rec;    /* state 2: a record read (its bytes) */
	size_t reclen;
};
static struct open_alert *opens;
static size_t nopens;
static jv open_index; /* alert key -> index in opens */
static const char *opt_resolved;
static const char *opt_escalate; /* --escalate DUE: OPEN is alert-log escalations' */
static int opt_stale;            /* --stale: the records could not be read again */

/* Read OPEN: 0, or an exit code (reported). */
static int
resolved_load(const char *path)
{
	FILE *f = fopen(path, "r");
	struct mlc_ndjson_reader *r;
	char *line, m[1024];
	size_t len;
	int k, code = 0;

	if (!f) {
		mlc_warn("%s: %s", path, strerror(errno));
		return MLC_EX_NOINPUT;
	}
	open_index = jv_object();
	r = mlc_ndjson_open(f, path, 0);
	while ((k = mlc_ndjson_read(r, &line, &len)) != 0) {
		struct mlc_wire_err we;
		jv o, sent;
		char *key;

		if (k < 0) {
			code = mlc_ndjson_error(r);
			continue;
		}
		if (mlc_wire_line(line, len, &o, &we) < 0) {
			mlc_wire_errmsg(&we, m, sizeof m);
			mlc_warn("%s: line %lu: %s", path, mlc_ndjson_lineno(r), m);
			jv_free(o);
			code = MLC_EX_DATAERR;
			continue;
		}
		key = sget(o, "key");
		sent = get(o, opt_escalate ? "escalation" : "sent");
		if (!key || jv_get_kind(sent) != (opt_escalate ? JV_KIND_OBJECT : JV_KIND_ARRAY)) {
			mlc_warn("%s: line %lu: field \"%s\": expected %s", path, mlc_ndjson_lineno(r),
			         !key ? "key" : opt_escalate ? "escalation" : "sent",
			         !key ? "a non-empty string" : opt_escalate ? "an object" : "an array");
			free(key);
			code = MLC_EX_DATAERR;
		} else {
			opens = mlc_xrealloc(opens, (nopens + 1) * sizeof *opens);
			memset(&opens[nopens], 0, sizeof *opens);
			opens[nopens].line = mlc_xstrndup(line, len);
			opens[nopens].len = len;
			opens[nopens].key = key;
			open_index = jv_object_set(open_index, jv_string(key), jv_number((double)nopens));
			nopens++;
		}
		jv_free(sent);
		jv_free(o);
	}
	mlc_ndjson_close(r);
	fclose(f);
	return code;
}

/* One record read again: does its alert still fire? */
/* The open alerts read for --resolved or --escalate, let go at its end. */
static void
opens_free(void)
{
	size_t i;

	for (i = 0; i < nopens; i++) {
		free(opens[i].line);
		free(opens[i].key);
		free(opens[i].rec);
	}
	free(opens);
	jv_free(open_index);
}

static void
resolved_record(const char *line, size_t len, unsigned long ln)
{
	struct mlc_wire_err we;
	char err[2048], *key;
	jv rec, res, ix;
	int k, fires;
	struct open_alert *oa;

	if (mlc_wire_line(line, len, &rec, &we) < 0) {
		mlc_wire_errmsg(&we, err, sizeof err);
		mlc_warn("line %lu: %s", ln, err);
		jv_free(rec);
		n_bad++;
		return;
	}
	k = mlc_jq_run1(q_expr, jv_copy(rec), &res, err, sizeof err);
	if (k < 0) {
		step_error(k, ln, err);
		jv_free(rec);
		return;
	}
	fires = jv_get_kind(res) == JV_KIND_TRUE;
	if (!fires && jv_get_kind(res) != JV_KIND_FALSE) {
		snprintf(err, sizeof err, "[match] expr gave %s, not a boolean", kind_phrase(res));
		record_error(ln, err);
		jv_free(res);
		jv_free(rec);
		return;
	}
	jv_free(res);
	key = alert_key(rec, ln);
	jv_free(rec);
	if (!key)
		return;
	ix = jv_object_get(jv_copy(open_index), jv_string(key));
	free(key);
	if (jv_get_kind(ix) != JV_KIND_NUMBER) {
		jv_free(ix); /* a record of the read that was not open (a wider LIST) */
		return;
	}
	oa = &opens[(size_t)jv_number_value(ix)];
	jv_free(ix);
	if (fires) {
		if (oa->state != 1 && opt_escalate) {
			/* the escalation's message shows the record as it is now */
			free(oa->rec);
			oa->rec = mlc_xstrndup(line, len);
			oa->reclen = len;
		}
		oa->state = 1; /* one record of the key still fires: still open */
	} else if (oa->state == 0) {
		oa->state = 2;
		oa->rec = mlc_xstrndup(line, len);
		oa->reclen = len;
	}
}

/* The channel bit of a channel name, 0 if none. */
static int
chan_bit(const char *ch)
{
	int c = mlc_addr_channel(ch, strlen(ch));

	return c < 0 ? 0 : 1 << c;
}

/* The recipients of a resolved line: those of OPEN's "sent", one object
 * each, with the addresses sent to and suppressed_channels for the
 * line's other channels (alert-render renders for the channels listed). */
static void
resolved_recipients(struct mlc_buf *out, jv sent, int *mask)
{
	size_t n = (size_t)jv_array_length(jv_copy(sent)), i, j, m = 0;
	jv *objs = mlc_xcalloc(n ? n : 1, sizeof *objs);
	int *bits = mlc_xcalloc(n ? n : 1, sizeof *bits);
	char **ids = mlc_xcalloc(n ? n : 1, sizeof *ids);

	*mask = 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(sent), (int)i), rcp = get(e, "recipient");
		char *ch = sget(e, "channel"), *to = sget(e, "to");
		jv d;
		int b = ch ? chan_bit(ch) : 0;

		if (!b || !to || jv_get_kind(rcp) != JV_KIND_OBJECT) {
			free(ch);
			free(to);
			jv_free(rcp);
			jv_free(e);
			continue;
		}
		d = jv_dump_string(jv_copy(rcp), JV_PRINT_SORTED);
		for (j = 0; j < m && strcmp(ids[j], jv_string_value(d)); j++)
			;
		if (j == m) {
			jv ref = get(rcp, "ref");

			ids[m] = mlc_xstrdup(jv_string_value(d));
			objs[m] = jv_object_delete(jv_copy(rcp), jv_string("ref"));
			if (jv_get_kind(ref) == JV_KIND_STRING)
				objs[m] = jv_object_set(objs[m], jv_string("to"), jv_copy(ref));
			jv_free(ref);
			m++;
		}
		objs[j] = jv_object_set(objs[j], jv_string(ch), jv_string(to));
		bits[j] |= b;
		*mask |= b;
		jv_free(d);
		free(ch);
		free(to);
		jv_free(rcp);
		jv_free(e);
	}
	mlc_buf_addc(out, '[');
	for (j = 0; j < m; j++) {
		jv sup = jv_array(), d;
		int c;

		for (c = 0; c < MLC_CH_COUNT; c++)
			if ((*mask & (1 << c)) && !(bits[j] & (1 << c)))
				sup = jv_array_append(sup, jv_string(mlc_addr_channel_name(c)));
		if (jv_array_length(jv_copy(sup)) > 0)
			objs[j] = jv_object_set(objs[j], jv_string("suppressed_channels"), sup);
		else
			jv_free(sup);
		d = jv_dump_string(objs[j], 0);
		if (j)
			mlc_buf_addc(out, ',');
		mlc_buf_adds(out, jv_string_value(d));
		jv_free(d);
		free(ids[j]);
	}
	mlc_buf_addc(out, ']');
	free(objs);
	free(bits);
	free(ids);
}

/* At end of input: a resolved line for each open alert that no longer fires. */
static void
resolved_emit(void)
{
	struct mlc_buf out, aid, rc;
	size_t i;

	mlc_buf_init(&out);
	mlc_buf_init(&aid);
	mlc_buf_init(&rc);
	for (i = 0; i < nopens && !fatal; i++) {
		struct open_alert *oa = &opens[i];
		jv o = jv_parse_sized(oa->line, (int)oa->len), sent = get(o, "sent");
		char *table = sget(o, "table"), *was = sget(o, "alert_id");
		const char *rec = oa->rec;
		size_t rn = oa->reclen;
		int mask, c, first = 1;

		if (oa->state != 1) {
			if (!rec && (!mlc_jde_json_member(oa->line, oa->len, "record", &rec, &rn) ||
			             !rn || rec[0] != '{')) {
				rec = "{}";
				rn = 2;
			}
			mlc_buf_reset(&out);
			mlc_buf_reset(&aid);
			mlc_buf_reset(&rc);
			mlc_buf_printf(&aid, "%s:%s/resolved", rule.name, oa->key);
			resolved_recipients(&rc, sent, &mask);
			alert_head(&out, &aid, table, oa->key);
			mlc_buf_adds(&out, ",\"record\":");
			mlc_buf_add(&out, rec, rn);
			mlc_buf_adds(&out, ",\"recipients\":");
			mlc_buf_add(&out, rc.p, rc.len);
			mlc_buf_adds(&out, ",\"channels\":[");
			for (c = 0; c < MLC_CH_COUNT; c++)
				if (mask & (1 << c)) {
					mlc_buf_printf(&out, "%s\"%s\"", first ? "" : ",",
					               mlc_addr_channel_name(c));
					first = 0;
				}
			mlc_buf_adds(&out, "],\"resolved\":{\"alert_id\":");
			json_str_or_null(&out, was);
			mlc_buf_printf(&out, ",\"gone\":%s,\"at\":", oa->state == 0 ? "true" : "false");
			mlc_buf_json_str(&out, now_text, strlen(now_text));
			mlc_buf_adds(&out, "},\"matched_at\":");
			mlc_buf_json_str(&out, now_text, strlen(now_text));
			mlc_buf_addc(&out, '}');
			if (mask)
				put_line(out.p, out.len);
		}
		free(table);
		free(was);
		jv_free(sent);
		jv_free(o);
	}
	opens_free();
	mlc_buf_free(&out);
	mlc_buf_free(&aid);
	mlc_buf_free(&rc);
}

/* ---- --escalate: the [escalation] steps due ---- */

/*
 * alert-match --escalate DUE: DUE is what alert-log escalations wrote (the
 * alerts of the rule with a step due, or a step's delivery held by quiet
 * hours and due for release); stdin is what jde-fetch --keys read again of
 * their records, as for --resolved (with --stale, nothing: the read
 * failed, and the alerts escalate on their records as they alerted).  At
 * end of input, per alert: acknowledged since its first delivery
 * (mlc_trail_ack_get_key, any alert id of its key: the alert or a step), or
 * its record no longer fires or is gone: a "suppressed" line with
 * "escalation":{"stopped":why}, which alert-log records and which ends the
 * escalation (a held step's delivery is then dropped, not released);
 * else, when its next step is due, that step: an alert line
 * "RULE:KEY/escN" to the step's recipients, with "escalation":{"alert_id",
 * "step","of","after","started_at","next_at"} (next_at: when the step
 * after it is due, null for the last); a step that reaches no one (no
 * recipient with an address on the rule's channels) is a "suppressed" line
 * of that step, so that it is taken and said, not tried every minute.
 */
static void
esc_stop_line(struct mlc_buf *out, const char *table, const char *key, const char *was,
              const char *why, const char *detail)
{
	struct mlc_buf aid;

	mlc_buf_init(&aid);
	mlc_buf_printf(&aid, "%s:%s/esc", rule.name, key);
	mlc_buf_reset(out);
	alert_head(out, &aid, table, key);
	mlc_buf_adds(out, ",\"suppressed\":{\"reason\":");
	mlc_buf_json_str(out, why, strlen(why));
	mlc_buf_adds(out, ",\"detail\":");
	mlc_buf_json_str(out, detail, strlen(detail));
	mlc_buf_adds(out, "},\"escalation\":{\"alert_id\":");
	json_str_or_null(out, was);
	mlc_buf_adds(out, ",\"stopped\":");
	mlc_buf_json_str(out, why, strlen(why));
	mlc_buf_adds(out, "},\"matched_at\":");
	mlc_buf_json_str(out, now_text, strlen(now_text));
	mlc_buf_addc(out, '}');
	put_line(out->p, out->len);
	mlc_buf_free(&aid);
}

static void
esc_step_line(struct mlc_buf *out, const char *table, const char *key, const char *was,
              const char *rec, size_t rn, int step, const char *started)
{
	struct mlc_buf aid, d;
	struct timespec t;
	struct rset r;
	jv rj = jv_parse_sized(rec, (int)rn), contacts = get(rj, "contacts");
	size_t i, reach = 0;
	char nx[32] = "";

	want_step = step;
	resolve_recipients(&r, contacts, 0);
	want_step = 0;
	jv_free(contacts);
	jv_free(rj);
	/* WhatsApp goes to the SMS number when there is no other (alert-render) */
	for (i = 0; i < r.n; i++)
		if (r.valid[i] &&
		    ((r.chmask[i] | (r.chmask[i] & CH_SMS ? CH_WHATSAPP : 0)) & rule_chmask))
			reach++;
	if (step < nesc && mlc_time_parse(started, &t) == 0) {
		t.tv_sec += esc_steps[step].after;
		t.tv_nsec = 0;
		mlc_time_fmt(nx, &t);
	}
	mlc_buf_init(&aid);
	mlc_buf_init(&d);
	mlc_buf_printf(&aid, "%s:%s/esc%d", rule.name, key, step);
	mlc_buf_reset(out);
	alert_head(out, &aid, table, key);
	if (!reach) {
		mlc_buf_printf(&d, "escalation step %d (%s): no recipient with an address on the "
		               "rule's channels", step, esc_steps[step - 1].after_text);
		mlc_warn("rule %s: alert %s: %s", rule.name, was ? was : key, d.p);
		mlc_buf_adds(out, ",\"suppressed\":{\"reason\":\"no address\",\"detail\":");
		mlc_buf_json_str(out, d.p, d.len);
		mlc_buf_addc(out, '}');
	} else {
		int first = 1;

		mlc_buf_adds(out, ",\"record\":");
		mlc_buf_add(out, rec, rn);
		mlc_buf_adds(out, ",\"recipients\":[");
		for (i = 0; i < r.n; i++) {
			if (!first)
				mlc_buf_addc(out, ',');
			first = 0;
			mlc_buf_add(out, r.json[i].p, r.json[i].len);
		}
		mlc_buf_addc(out, ']');
		if (channels_json) {
			mlc_buf_adds(out, ",\"channels\":");
			mlc_buf_adds(out, channels_json);
		}
	}
	mlc_buf_adds(out, ",\"escalation\":{\"alert_id\":");
	json_str_or_null(out, was);
	mlc_buf_printf(out, ",\"step\":%d,\"of\":%d,\"after\":", step, nesc);
	mlc_buf_json_str(out, esc_steps[step - 1].after_text, strlen(esc_steps[step - 1].after_text));
	mlc_buf_adds(out, ",\"started_at\":");
	json_str_or_null(out, started);
	mlc_buf_adds(out, ",\"next_at\":");
	json_str_or_null(out, nx[0] ? nx : NULL);
	mlc_buf_adds(out, "},\"matched_at\":");
	mlc_buf_json_str(out, now_text, strlen(now_text));
	mlc_buf_addc(out, '}');
	put_line(out->p, out->len);
	for (i = 0; i < r.n; i++) {
		mlc_buf_free(&r.json[i]);
		mlc_buf_free(&r.id[i]);
	}
	mlc_buf_free(&aid);
	mlc_buf_free(&d);
}

/* At end of input: per due alert, its stop, its next step, or nothing. */
static void
escalate_emit(void)
{
	struct mlc_buf out, why;
	size_t i;

	mlc_buf_init(&out);
	mlc_buf_init(&why);
	for (i = 0; i < nopens && !fatal; i++) {
		struct open_alert *oa = &opens[i];
		jv o = jv_parse_sized(oa->line, (int)oa->len), e = get(o, "escalation");
		jv stepv = get(e, "step");
		char *table = sget(o, "table"), *was = sget(o, "alert_id");
		char *started = sget(e, "started_at"), *next = sget(e, "next_at");
		struct mlc_trail_acked ack;
		const char *rec = oa->rec;
		size_t rn = oa->reclen;
		int step = jv_get_kind(stepv) == JV_KIND_NUMBER ? (int)jv_number_value(stepv) : 0;
		int k;

		k = mlc_trail_ack_get_key(store, rule.name, oa->key, started, &ack);
		if (k < 0) {
			fatal = mlc_store_code(store);
			mlc_store_warn(store, "reading acknowledgements");
		} else if (k == 1) {
			mlc_buf_reset(&why);
			mlc_buf_printf(&why, "acknowledged by %s at %s", ack.by ? ack.by : "?",
			               ack.acked_at ? ack.acked_at : "?");
			esc_stop_line(&out, table, oa->key, was, "acknowledged", why.p);
			mlc_trail_acked_free(&ack);
		} else if (!opt_stale && oa->state != 1) {
			esc_stop_line(&out, table, oa->key, was, "resolved",
			              oa->state == 0 ? "the record was not read again (deleted, or no "
			                               "longer selected by [source])"
			                             : "the record no longer matches");
		} else if (next && strcmp(next, now_text) <= 0 && step >= nesc) {
			/* the rule lost steps since: stop, or it would be due for ever */
			mlc_buf_reset(&why);
			mlc_buf_printf(&why, "step %d taken, and [escalation] now has %d", step, nesc);
			esc_stop_line(&out, table, oa->key, was, "no more steps", why.p);
		} else if (next && strcmp(next, now_text) <= 0 && step >= 0) {
			if (!rec && (!mlc_jde_json_member(oa->line, oa->len, "record", &rec, &rn) ||
			             !rn || rec[0] != '{')) {
				rec = "{}";
				rn = 2;
			}
			esc_step_line(&out, table, oa->key, was, rec, rn, step + 1, started);
		}
		free(table);
		free(was);
		free(started);
		free(next);
		jv_free(stepv);
		jv_free(e);
		jv_free(o);
	}
	opens_free();
	mlc_buf_free(&out);
	mlc_buf_free(&why);
}

/* ---- storm guard ---- */

/* The spooled lines on stdout, in their order, each alert with
 * "digest_only":true when digest_only (suppressed lines never count and
 * are never digest_only); the spool is closed, and later lines are
 * written as they come. */
static void
spool_flush(int digest_only)
{
	FILE *f = spool;
	char *l = NULL;
	size_t cap = 0;
	ssize_t n;

	spool = NULL;
	if (fflush(f) == EOF || fseek(f, 0, SEEK_SET) < 0) {
		mlc_warn("temporary spool file: %s", strerror(errno));
		fatal = MLC_EX_IOERR;
	}
	while (!fatal && (n = getline(&l, &cap, f)) > 0) {
		if (l[n - 1] == '\n')
			l[--n] = '\0';
		if (digest_only && n > 1 && l[n - 1] == '}' && !strstr(l, "\"suppressed\":{")) {
			struct mlc_buf b;

			mlc_buf_init(&b);
			mlc_buf_add(&b, l, (size_t)n - 1);
			mlc_buf_adds(&b, ",\"digest_only\":true}");
			put_line(b.p, b.len);
			mlc_buf_free(&b);
		} else {
			put_line(l, (size_t)n);
		}
	}
	if (!fatal && ferror(f)) {
		mlc_warn("temporary spool file: read error: %s", strerror(errno));
		fatal = MLC_EX_IOERR;
	}
	free(l);
	fclose(f);
}

/* End of input: no storm, the spooled alerts as they are; a storm (its
 * alerts already written, digest_only), the summary alert. */
static void
storm_finish(void)
{
	struct mlc_buf b;
	size_t i;
	int any = 0;

	if (spool) {
		spool_flush(0);
		return;
	}
	if (fatal || storm <= 0 || n_fired <= (unsigned long)storm)
		return;
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "{\"alert_id\":\"%s:storm:%s\",\"rule\":", rule.name, today);
	mlc_buf_json_str(&b, rule.name, strlen(rule.name));
	mlc_buf_printf(&b, ",\"severity\":\"critical\",\"table\":");
	json_str_or_null(&b, mlc_rule_get(&rule, "source", "table"));
	mlc_buf_printf(&b, ",\"key\":\"storm:%s\",\"storm\":true,\"count\":%lu,\"alerts\":[",
	               today, n_fired);
	for (i = 0; i < nstorm_ids; i++) {
		if (i)
			mlc_buf_addc(&b, ',');
		mlc_buf_json_str(&b, storm_ids[i], strlen(storm_ids[i]));
	}
	mlc_buf_printf(&b, "],\"record\":{\"storm\":true,\"rule\":");
	mlc_buf_json_str(&b, rule.name, strlen(rule.name));
	mlc_buf_printf(&b, ",\"count\":%lu,\"storm_limit\":%ld,\"date\":\"%s\"}", n_fired,
	               storm, today);
	mlc_buf_adds(&b, ",\"recipients\":[");
	for (i = 0; i < nspecs; i++) {
		if (specs[i].contact || specs[i].step)
			continue;
		if (any++)
			mlc_buf_addc(&b, ',');
		mlc_buf_adds(&b, specs[i].json);
	}
	for (i = 0; i < nstorm_rcpt; i++) {
		size_t j;

		for (j = 0; j < nspecs; j++)
			if (!specs[j].contact && !specs[j].step &&
			    strcmp(specs[j].id, storm_rcpt_ids[i]) == 0)
				break;
		if (j < nspecs)
			continue;
		if (any++)
			mlc_buf_addc(&b, ',');
		mlc_buf_adds(&b, storm_rcpt_json[i]);
	}
	mlc_buf_addc(&b, ']');
	if (channels_json) {
		mlc_buf_adds(&b, ",\"channels\":");
		mlc_buf_adds(&b, channels_json);
	}
	mlc_buf_adds(&b, ",\"fingerprint\":null,\"matched_at\":");
	mlc_buf_json_str(&b, now_text, strlen(now_text));
	mlc_buf_addc(&b, '}');
	put_line(b.p, b.len);
	mlc_buf_free(&b);
	mlc_warn("rule %s: %lu alerts (storm = %ld): one summary alert, the alerts go to "
	         "the digest only", rule.name, n_fired, storm);
}

/* Free everything before exit: the valgrind and ASan runs count leaks. */
static void
release(void)
{
	size_t i;

	for (i = 0; i < nspecs; i++) {
		free(specs[i].to);
		free(specs[i].contact);
		free(specs[i].group);
		free(specs[i].json);
		free(specs[i].id);
	}
	free(specs);
	for (i = 0; i < nstorm_ids; i++)
		free(storm_ids[i]);
	for (i = 0; i < nstorm_rcpt; i++) {
		free(storm_rcpt_ids[i]);
		free(storm_rcpt_json[i]);
	}
	free(channels_json);
	mlc_jq_free(q_expr);
	mlc_jq_free(q_key);
	mlc_jq_free(q_fp);
	if (store)
		mlc_store_close(store);
	mlc_rule_free(&rule);
	if (have_conf)
		mlc_conf_free(&conf);
	specs = NULL;
	nspecs = 0;
	q_expr = q_key = q_fp = NULL;
	store = NULL;
	channels_json = NULL;
	rule_chmask = CH_SMS;
	nstorm_ids = nstorm_rcpt = 0;
	have_conf = 0;
}

static FILE *
spool_open(void)
{
	const char *d = getenv("TMPDIR");
	char path[4096];
	int fd;
	FILE *f;

	snprintf(path, sizeof path, "%s/alert-match.XXXXXX", d && *d ? d : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		mlc_warn("%s: %s", path, strerror(errno));
		return NULL;
	}
	unlink(path); /* gone when we exit, however we exit */
	if (!(f = fdopen(fd, "w+"))) {
		close(fd);
		return NULL;
	}
	return f;
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'N' },
		{ "check", no_argument, NULL, 'C' },
		{ "no-state", no_argument, NULL, 'n' },
		{ "emit-suppressed", no_argument, NULL, 'S' },
		{ "trailer", no_argument, NULL, 'T' },
		{ "resolved", required_argument, NULL, 'O' },
		{ "escalate", required_argument, NULL, 'E' },
		{ "stale", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rule_arg = NULL, *conf_opt = NULL, *rules_dir = NULL, *state_opt = NULL;
	const char *now_opt = NULL;
	int c, check = 0, nostate = 0, code, k;
	char err[2048], *line;
	size_t len;
	struct mlc_ndjson_reader *r;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	while ((c = getopt_long(argc, argv, "r:c:R:d:", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': rule_arg = optarg; break;
		case 'c': conf_opt = optarg; break;
		case 'R': rules_dir = optarg; break;
		case 'd': state_opt = optarg; break;
		case 'N': now_opt = optarg; break;
		case 'C': check = 1; break;
		case 'n': nostate = 1; break;
		case 'S': opt_emit_suppressed = 1; break;
		case 'T': opt_trailer = 1; break;
		case 'O': opt_resolved = optarg; break;
		case 'E': opt_escalate = optarg; break;
		case 'X': opt_stale = 1; break;
		case 'h': fputs(usage, stdout); mlc_util_exit(MLC_EX_OK);
		case 'V':
			printf("%s (ml-connector) %s\n", mlc_progname, MLC_VERSION);
			mlc_util_exit(MLC_EX_OK);
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc || !rule_arg) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	mlc_config_use(conf_opt);
	if (now_opt) {
		if (mlc_time_parse(now_opt, &now_ts) < 0) {
			mlc_warn("--now %s: expected RFC 3339 (2026-03-08T07:30:00Z) or @EPOCH",
			         now_opt);
			return MLC_EX_USAGE;
		}
	} else if (mlc_time_now(&now_ts) < 0) {
		mlc_warn("ML_CONNECTOR_NOW: expected RFC 3339 or @EPOCH");
		return MLC_EX_USAGE;
	}
	mlc_util_signals(NULL);

	if (mlc_rule_load(&rule, rule_arg, rules_dir, err, sizeof err, &code) < 0) {
		mlc_warn("%s", err);
		mlc_rule_free(&rule);
		return code;
	}
	if (load(conf_opt) < 0) {
		release();
		return MLC_EX_CONFIG;
	}
	if (check) {
		/* .lookups.NAME.COL that no [lookup] reads is always null: a warning. */
		struct mlc_lookups lk;
		static const char *const keys[] = { "expr", "key", "fingerprint" };
		int rc = MLC_EX_OK;

		if (mlc_lookup_parse(&rule, &lk, err, sizeof err) < 0) {
			mlc_warn("%s", err);
			rc = MLC_EX_CONFIG;
		}
		for (size_t i = 0; rc == MLC_EX_OK && i < sizeof keys / sizeof *keys; i++) {
			const struct mlc_conf_entry *e = mlc_conf_find(&rule.conf, "match", keys[i]);
			char what[32];

			snprintf(what, sizeof what, "[match] %s", keys[i]);
			if (e)
				mlc_lookup_check_refs(&lk, rule.path, e->line, what, e->value, 0,
				                      strlen(e->value));
		}
		mlc_lookup_free(&lk);
		release();
		mlc_util_exit(rc);
	}
	if (opt_resolved) {
		/* no re-alert index (a notice is sent once) and no storm guard */
		nostate = 1;
		storm = -1;
		if ((code = resolved_load(opt_resolved)) != 0) {
			release();
			return code;
		}
	}
	if (opt_escalate) {
		/* the acknowledgements are in the state; no storm guard */
		if (opt_resolved || nostate || !nesc) {
			mlc_warn(opt_resolved || nostate ? "--escalate goes with neither --resolved nor "
			         "--no-state" : "rule %s has no [escalation] step", rule.name);
			release();
			return opt_resolved || nostate ? MLC_EX_USAGE : MLC_EX_CONFIG;
		}
		storm = -1;
		if ((code = resolved_load(opt_escalate)) != 0) {
			release();
			return code;
		}
	} else if (opt_stale) {
		mlc_warn("--stale goes with --escalate");
		release();
		return MLC_EX_USAGE;
	}

	if (!nostate) {
		const char *d = mlc_state_dir(state_opt, err, sizeof err);

		if (!d) {
			mlc_warn("%s", err);
			release();
			return MLC_EX_CONFIG;
		}
		if (!(store = mlc_store_open(d, err, sizeof err, &code))) {
			mlc_warn("%s", err);
			release();
			return code;
		}
		mlc_store_doing(store, "check the re-alert index");
	}
	if (storm > 0 && !(spool = spool_open())) {
		release();
		return MLC_EX_IOERR;
	}

	r = mlc_ndjson_open(stdin, "-", 0);
	while (!fatal && (k = mlc_ndjson_read(r, &line, &len)) != 0) {
		if (k < 0) {
			if (mlc_ndjson_error(r) == MLC_EX_IOERR)
				fatal = MLC_EX_IOERR;
			n_bad++;
			continue;
		}
		if (opt_resolved || opt_escalate)
			resolved_record(line, len, mlc_ndjson_lineno(r));
		else
			process(line, len, mlc_ndjson_lineno(r));
	}
	mlc_ndjson_close(r);
	if (opt_trailer && !saw_trailer && !fatal) {
		/* cut short (the fetch failed, a stage was killed): the count is
		 * not known, so nothing held goes out; the next run decides */
		mlc_warn("rule %s: the input ended without jde-fetch's trailer (a read cut short): "
		         "%s; the next run reads again", rule.name,
		         storm <= 0 ? "the alerts so far were written"
		         : n_fired > (unsigned long)storm ? "a storm, its alerts in the digest, no summary"
		                                          : "the held alerts are not written");
		if (spool) {
			fclose(spool);
			spool = NULL;
		}
		release();
		mlc_util_exit(MLC_EX_DATAERR);
	}
	if (opt_resolved)
		resolved_emit();
	if (opt_escalate)
		escalate_emit();
	storm_finish();

	release();
	if (fatal)
		mlc_util_exit(fatal);
	mlc_util_exit(n_bad ? MLC_EX_DATAERR : MLC_EX_OK);
}
