/*
 * rule.c — loading rule files: one NAME.rule per alert rule, in the
 * key = value format of conf.c; the keys are listed in ml-connector.5 and
 * in the schema below, which must stay in step with it.
 *
 * The loader checks what every tool relies on (schema, name, severity,
 * schedule, time zone); each tool then reads and checks the sections it
 * owns.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

const char *const mlc_rule_schema[] = {
	"rule.name", "rule.description", "rule.schedule", "rule.timezone", "rule.severity",
	"rule.enabled",
	"source.table", "source.columns", "source.where*", "source.match",
	"source.incremental", "source.key", "source.page_size",
	"join.*", "sums.*", "lookup.*",
	"match.expr", "match.fingerprint", "match.realert", "match.storm", "match.key",
	"recipients.to*", "recipients.channels",
	"message.sms", "message.subject", "message.text", "message.html",
	"message.max_segments", "message.transliterate", "message.whatsapp_template",
	"message.whatsapp_variables", "message.reply_code",
	"digest.channel", "digest.subject", "digest.header", "digest.row", "digest.footer",
	"digest.max_items", "digest.columns", "digest.amount", "digest.currency",
	"limits.quiet_hours", "limits.quiet_action", "limits.per_recipient_hour",
	"limits.per_recipient_day",
	"resolved.sms", "resolved.subject", "resolved.text", "resolved.batch",
	"escalation.step*", "escalation.sms", "escalation.subject", "escalation.text",
	NULL
};

int
mlc_rule_name_ok(const char *s)
{
	/* not "-x": a name is an argument of programs and scripts */
	if (!*s || *s == '-' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return 0;
	return 1;
}

/* "HH:MM" -> hour, minute. */
static int
hhmm(const char *s, int *h, int *m)
{
	char *end;
	long hv, mv;

	if (!(s[0] >= '0' && s[0] <= '9'))
		return -1;
	hv = strtol(s, &end, 10);
	if (*end != ':' || !(end[1] >= '0' && end[1] <= '9'))
		return -1;
	mv = strtol(end + 1, &end, 10);
	if (*end || hv < 0 || hv > 23 || mv < 0 || mv > 59)
		return -1;
	*h = (int)hv;
	*m = (int)mv;
	return 0;
}

/* One cron field: '*', numbers, ranges, lists and steps within lo..hi. */
static int
cron_field(const char *f, size_t n, int lo, int hi)
{
	uint64_t bits;

	return mlc_sched_field(f, n, lo, hi, &bits);
}

int
mlc_rule_cron(const char *s, char *out, size_t outlen, char *err, size_t errlen)
{
	int h, m;

	if (strcmp(s, "hourly") == 0) {
		snprintf(out, outlen, "0 * * * *");
		return 0;
	}
	if (strncmp(s, "hourly :", 8) == 0) {
		char *end;
		long mm = strtol(s + 8, &end, 10);

		if (end == s + 8 || *end || mm < 0 || mm > 59)
			return mlc_errf(err, errlen, "bad minute in \"%s\" (hourly :MM)", s);
		snprintf(out, outlen, "%ld * * * *", mm);
		return 0;
	}
	if (strncmp(s, "daily ", 6) == 0 || strncmp(s, "weekdays ", 9) == 0) {
		int wd = s[0] == 'w';

		if (hhmm(s + (wd ? 9 : 6), &h, &m) < 0)
			return mlc_errf(err, errlen, "bad time in \"%s\" (expected HH:MM)", s);
		snprintf(out, outlen, "%d %d * * %s", m, h, wd ? "1-5" : "*");
		return 0;
	}
	if (strncmp(s, "every ", 6) == 0) {
		char *end;
		long n = strtol(s + 6, &end, 10);

		if (end == s + 6 || strcmp(end, "m") != 0 || n < 1 || n > 59 || 60 % n != 0)
			return mlc_errf(err, errlen,
			            "bad interval in \"%s\" (every Nm, N dividing 60)", s);
		snprintf(out, outlen, "*/%ld * * * *", n);
		return 0;
	}
	if (strncmp(s, "cron ", 5) == 0) {
		static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
		const char *p = s + 5;
		int i;

		for (i = 0; i < 5; i++) {
			size_t n;

			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, " \t");
			if (cron_field(p, n, lo[i], hi[i]) < 0)
				return mlc_errf(err, errlen, "bad cron field %d in \"%s\"", i + 1, s);
			p += n;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			return mlc_errf(err, errlen, "too many cron fields in \"%s\"", s);
		snprintf(out, outlen, "%s", s + 5);
		return 0;
	}
	return mlc_errf(err, errlen,
	            "unknown schedule \"%s\" (hourly [:MM], daily HH:MM, weekdays HH:MM, "
	            "every Nm, cron ...)", s);
}

int
mlc_rule_load(struct mlc_rule *r, const char *arg, const char *rules_dir, char *err,
              size_t errlen, int *code)
{
	char path[4096], e2[512];
	struct mlc_sched sched;
	const struct mlc_conf_entry *e;
	const char *base, *v;
	size_t bl;
	int missing = 0;

	memset(r, 0, sizeof *r);
	*code = MLC_EX_CONFIG;
	bl = strlen(arg);
	if (strcmp(arg, MLC_MONITOR_RULE) == 0) {
		/* the monitor's notices (monitor.c): built in, no file can take the name */
		const char *t = mlc_monitor_rule_text();

		snprintf(path, sizeof path, "(built-in rule %s)", arg);
		if (mlc_conf_parse(&r->conf, path, t, strlen(t), err, errlen) < 0)
			return -1;
	} else if (strchr(arg, '/') || (bl > 5 && strcmp(arg + bl - 5, ".rule") == 0)) {
		snprintf(path, sizeof path, "%s", arg);
	} else {
		if (!mlc_rule_name_ok(arg))
			return mlc_errf(err, errlen, "bad rule name \"%s\" (a-z 0-9 - _, not first -)", arg);
		const char *dir = mlc_rule_dir(rules_dir, err, errlen);

		if (!dir)
			return -1;
		snprintf(path, sizeof path, "%s/%s.rule", dir, arg);
	}
	if (!r->conf.path && mlc_conf_load(&r->conf, path, err, errlen, &missing) < 0) {
		if (missing) {
			*code = MLC_EX_NOINPUT;
			if (!strchr(arg, '/'))
				mlc_errf(err, errlen, "no rule \"%s\" (%s: not found)", arg, path);
		}
		return -1;
	}
	r->path = mlc_xstrdup(path);
	if (mlc_conf_check(&r->conf, mlc_rule_schema, err, errlen) < 0)
		return -1;
	if (!(e = mlc_conf_find(&r->conf, "rule", "name")))
		return mlc_errf(err, errlen, "%s: [rule] name is missing", path);
	if (!mlc_rule_name_ok(e->value))
		return mlc_errf(err, errlen, "%s:%u: bad rule name \"%s\" (a-z 0-9 - _, not first -, at most 64)",
		            path, e->line, e->value);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	bl = strlen(base);
	if (bl > 5 && strcmp(base + bl - 5, ".rule") == 0 &&
	    (strlen(e->value) != bl - 5 || strncmp(base, e->value, bl - 5) != 0))
		return mlc_errf(err, errlen, "%s:%u: rule name \"%s\" does not match the file name",
		            path, e->line, e->value);
	r->name = mlc_xstrdup(e->value);
	r->severity = mlc_xstrdup("warning");
	if ((e = mlc_conf_find(&r->conf, "rule", "severity"))) {
		if (strcmp(e->value, "info") && strcmp(e->value, "warning") &&
		    strcmp(e->value, "critical"))
			return mlc_errf(err, errlen,
			            "%s:%u: severity \"%s\" (expected info, warning or critical)",
			            path, e->line, e->value);
		free(r->severity);
		r->severity = mlc_xstrdup(e->value);
	}
	/* enabled = no: checked and previewable, never run by run --all or a
	 * schedule (the orchestrator asks mlc-rule enabled). */
	r->enabled = 1;
	if ((e = mlc_conf_find(&r->conf, "rule", "enabled"))) {
		if (!strcmp(e->value, "no"))
			r->enabled = 0;
		else if (strcmp(e->value, "yes"))
			return mlc_errf(err, errlen, "%s:%u: enabled \"%s\" (expected yes or no)", path,
			            e->line, e->value);
	}
	if ((e = mlc_conf_find(&r->conf, "rule", "schedule")) &&
	    mlc_sched_parse(&sched, e->value, e2, sizeof e2) < 0)
		return mlc_errf(err, errlen, "%s:%u: %s", path, e->line, e2);
	/* An unknown zone would be UTC without a word (the C library's
	 * fallback): refuse it.  Empty means the configuration's. */
	if ((e = mlc_conf_find(&r->conf, "rule", "timezone")) && *e->value &&
	    !mlc_tz_valid(e->value))
		return mlc_errf(err, errlen, "%s:%u: unknown time zone \"%s\" (an IANA name, e.g. "
		            "Asia/Kolkata)", path, e->line, e->value);
	if ((v = mlc_rule_get(r, "source", "table")) == NULL &&
	    mlc_conf_find(&r->conf, "source", "where"))
		return mlc_errf(err, errlen, "%s: [source] has conditions but no table", path);
	*code = MLC_EX_OK;
	return 0;
}

void
mlc_rule_free(struct mlc_rule *r)
{
	free(r->path);
	free(r->name);
	free(r->severity);
	mlc_conf_free(&r->conf);
	memset(r, 0, sizeof *r);
}

const char *
mlc_rule_get(const struct mlc_rule *r, const char *section, const char *key)
{
	return mlc_conf_get(&r->conf, section, key);
}

int
mlc_rule_joins(const struct mlc_rule *r)
{
	for (size_t i = 0; i < r->conf.n; i++)
		if (!strcmp(r->conf.v[i].section, "join") || !strcmp(r->conf.v[i].section, "lookup") ||
		    !strcmp(r->conf.v[i].section, "sums"))
			return 1;
	return 0;
}

int
mlc_rule_escalation(const struct mlc_rule *r, struct mlc_esc_step *steps, char *err,
                    size_t errlen)
{
	size_t i;
	int n = 0;

	for (i = 0; i < r->conf.n; i++) {
		const struct mlc_conf_entry *e = &r->conf.v[i];
		const char *p = e->value, *w;
		size_t wl;
		char d[32];
		long after;

		if (strcmp(e->section, "escalation") != 0 || strcmp(e->key, "step") != 0)
			continue;
		if (n == MLC_ESC_MAX)
			return mlc_errf(err, errlen, "%s:%u: [escalation] more than %d steps",
			                r->path, e->line, MLC_ESC_MAX);
		wl = strcspn(p, " \t\n");
		w = p + wl + strspn(p + wl, " \t\n");
		if (wl >= sizeof d || !*w)
			return mlc_errf(err, errlen, "%s:%u: [escalation] step \"%s\": expected a delay "
			                "and recipients, e.g. \"2h contact:director\"", r->path,
			                e->line, e->value);
		memcpy(d, p, wl);
		d[wl] = '\0';
		after = mlc_realert_window(d);
		if (after <= 0)
			return mlc_errf(err, errlen, "%s:%u: [escalation] step delay \"%s\" (expected a "
			                "duration such as 30m, 2h, 1d)", r->path, e->line, d);
		if (n > 0 && after <= steps[n - 1].after)
			return mlc_errf(err, errlen, "%s:%u: [escalation] step delay \"%s\" is not "
			                "longer than the step before it (%s): delays count from the "
			                "alert's first delivery", r->path, e->line, d,
			                steps[n - 1].after_text);
		steps[n].after = after;
		snprintf(steps[n].after_text, sizeof steps[n].after_text, "%s", d);
		steps[n].to = w;
		steps[n].line = e->line;
		n++;
	}
	return n;
}
