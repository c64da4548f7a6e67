/*
 * monitor.c — the [monitor] settings (who hears about the connector itself,
 * and the thresholds of its conditions, with their defaults) and the text
 * of the built-in rule whose templates render the monitor's notices.
 *
 * The defaults are the ones ml-connector(5) [monitor] documents; each
 * threshold is a count or a duration (mlc_realert_window's forms: 30m, 24h,
 * 7d), and 0 or "off" turns its condition off.  Recipients are addresses
 * in the forms of addr.c: an E.164 number (or a national one, completed
 * with [general] default_country), whatsapp:+E.164, or an e-mail address.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

/* The keys of [monitor] (anything else there is refused, named). */
static const char *const keys[] = { "to", "channels", "failed_runs", "no_success", "unknown",
	                            "refused", "watermark", "quarantine", "window", "summary",
	                            NULL };

/* A count: digits, or "off" (0). */
static int
count(const struct mlc_conf_entry *e, long *v, const char *path, char *err, size_t errlen)
{
	char *end;

	if (!e)
		return 0;
	if (!strcmp(e->value, "off")) {
		*v = 0;
		return 0;
	}
	*v = strtol(e->value, &end, 10);
	if (end == e->value || *end || *v < 0 || *v > 1000000)
		return mlc_errf(err, errlen, "%s:%u: [monitor] %s \"%s\": expected a number or off",
		            path, e->line, e->key, e->value);
	return 0;
}

/* A duration (realert.c's forms), or "off"/"0" (0). */
static int
duration(const struct mlc_conf_entry *e, long *v, const char *path, char *err, size_t errlen)
{
	long d;

	if (!e)
		return 0;
	if (!strcmp(e->value, "off") || !strcmp(e->value, "0")) {
		*v = 0;
		return 0;
	}
	d = mlc_realert_window(e->value);
	if (d <= 0)
		return mlc_errf(err, errlen, "%s:%u: [monitor] %s \"%s\": expected a duration "
		            "(30m, 24h, 7d) or off", path, e->line, e->key, e->value);
	*v = d;
	return 0;
}

/* One "to" value: its address, normalized, and channel. */
static int
address(struct mlc_monitor *m, const struct mlc_conf_entry *e, const char *cc,
        const char *path, char *err, size_t errlen)
{
	char e164[MLC_ADDR_E164_SIZE];
	const char *v = e->value;
	int ch;

	if (m->nto >= MLC_MONITOR_MAXTO)
		return mlc_errf(err, errlen, "%s:%u: [monitor] more than %d recipients", path, e->line,
		            MLC_MONITOR_MAXTO);
	if (strchr(v, '@')) {
		ch = MLC_CH_EMAIL;
		if (!mlc_addr_email_ok(v))
			return mlc_errf(err, errlen, "%s:%u: [monitor] to \"%s\": not an e-mail address",
			            path, e->line, v);
		m->to[m->nto] = mlc_xstrdup(v);
	} else if (mlc_addr_is_whatsapp(v)) {
		ch = MLC_CH_WHATSAPP;
		if (!mlc_addr_whatsapp_ok(v))
			return mlc_errf(err, errlen, "%s:%u: [monitor] to \"%s\": not whatsapp:+ and an "
			            "E.164 number (%s)", path, e->line, v, MLC_ADDR_E164_RULE);
		m->to[m->nto] = mlc_xstrdup(v);
	} else {
		ch = MLC_CH_SMS;
		if (mlc_addr_e164_norm(v, cc, e164) < 0)
			return mlc_errf(err, errlen, "%s:%u: [monitor] to \"%s\": not a phone number "
			            "(%s) nor an e-mail address", path, e->line, v, MLC_ADDR_E164_RULE);
		m->to[m->nto] = mlc_xstrdup(e164);
	}
	m->to_ch[m->nto++] = ch;
	return 0;
}

int
mlc_monitor_load(struct mlc_monitor *m, const struct mlc_conf *c, char *err, size_t errlen)
{
	const char *path = c->path ? c->path : "configuration", *cc, *tz;
	const struct mlc_conf_entry *e;
	size_t i;
	int k, any = 0;

	memset(m, 0, sizeof *m);
	m->failed_runs = 3;
	m->no_success_s = 24 * 3600;
	m->unknown = 0;
	m->refused = 3;
	m->watermark_s = 0;
	m->quarantine = 0;
	m->window_s = 3600;
	cc = mlc_conf_get(c, "general", "default_country");
	if (!cc || !*cc)
		cc = "1";
	if ((tz = mlc_conf_get(c, "general", "timezone")) && *tz)
		m->timezone = mlc_xstrdup(tz);
	for (i = 0; i < c->n; i++) {
		e = &c->v[i];
		if (strcmp(e->section, "monitor"))
			continue;
		any = 1;
		for (k = 0; keys[k] && strcmp(keys[k], e->key); k++)
			;
		if (!keys[k])
			return mlc_errf(err, errlen, "%s:%u: unknown key \"%s\" in [monitor]", path,
			            e->line, e->key);
		if (!strcmp(e->key, "to") && address(m, e, cc, path, err, errlen) < 0)
			return -1;
	}
	if (!any)
		return 0;
	if ((e = mlc_conf_find(c, "monitor", "channels"))) {
		const char *p = e->value;

		while (*p) {
			size_t n;

			p += strspn(p, " ,\t");
			n = strcspn(p, " ,\t");
			if (!n)
				break;
			if ((k = mlc_addr_channel(p, n)) < 0)
				return mlc_errf(err, errlen, "%s:%u: [monitor] channels: \"%.*s\" is not a "
				            "channel (%s)", path, e->line, (int)n, p, MLC_CHANNELS_WORDS);
			m->channels |= 1 << k;
			p += n;
		}
	} else {
		for (i = 0; i < m->nto; i++)
			m->channels |= 1 << m->to_ch[i];
	}
	if (count(mlc_conf_find(c, "monitor", "failed_runs"), &m->failed_runs, path, err, errlen) ||
	    duration(mlc_conf_find(c, "monitor", "no_success"), &m->no_success_s, path, err,
	             errlen) ||
	    count(mlc_conf_find(c, "monitor", "unknown"), &m->unknown, path, err, errlen) ||
	    count(mlc_conf_find(c, "monitor", "refused"), &m->refused, path, err, errlen) ||
	    duration(mlc_conf_find(c, "monitor", "watermark"), &m->watermark_s, path, err,
	             errlen) ||
	    count(mlc_conf_find(c, "monitor", "quarantine"), &m->quarantine, path, err, errlen) ||
	    duration(mlc_conf_find(c, "monitor", "window"), &m->window_s, path, err, errlen))
		return -1;
	/* "unknown = off" and the like: a count of 0 is a threshold, not off */
	if ((e = mlc_conf_find(c, "monitor", "unknown")) && !strcmp(e->value, "off"))
		m->unknown = -1;
	if ((e = mlc_conf_find(c, "monitor", "quarantine")) && !strcmp(e->value, "off"))
		m->quarantine = -1;
	if ((e = mlc_conf_find(c, "monitor", "refused")) && !strcmp(e->value, "off"))
		m->refused = -1;
	if ((e = mlc_conf_find(c, "monitor", "summary")) && strcmp(e->value, "off") &&
	    *e->value) {
		char sch[160], e2[256];

		/* "08:00" is "daily 08:00"; any schedule of a rule is taken */
		snprintf(sch, sizeof sch, "%s%s",
		         e->value[0] >= '0' && e->value[0] <= '9' ? "daily " : "", e->value);
		if (mlc_sched_parse(&m->summary_sched, sch, e2, sizeof e2) < 0)
			return mlc_errf(err, errlen, "%s:%u: [monitor] summary: %s", path, e->line, e2);
		m->summary = mlc_xstrdup(sch);
	}
	if (m->timezone && !mlc_tz_valid(m->timezone))
		return mlc_errf(err, errlen, "%s: [general] timezone \"%s\": unknown time zone", path,
		            m->timezone);
	if (!m->nto)
		return mlc_errf(err, errlen, "%s: [monitor] names no recipient (to = ...)", path);
	for (i = 0; i < m->nto; i++)
		if (m->channels & (1 << m->to_ch[i]))
			break;
	if (i == m->nto)
		return mlc_errf(err, errlen, "%s: [monitor] channels: no recipient has an address on "
		            "them", path);
	m->configured = 1;
	return 0;
}

void
mlc_monitor_free(struct mlc_monitor *m)
{
	size_t i;

	for (i = 0; i < m->nto; i++)
		free(m->to[i]);
	free(m->summary);
	free(m->timezone);
	memset(m, 0, sizeof *m);
}

/*
 * The notices' templates.  Their input is the alert's record: summary (one
 * line, the SMS), text (the e-mail's body: every condition with what was
 * seen, and where to look).  No quiet hours, caps or digest: a notice about
 * the connector is wanted when it happens, and it is one line per
 * evaluation at most.
 */
static const char rule_text[] =
	"[rule]\n"
	"name = " MLC_MONITOR_RULE "\n"
	"severity = critical\n"
	"[message]\n"
	"sms = \\(.summary)\n"
	"subject = \\(.summary)\n"
	"text = \\(.text)\n";

const char *
mlc_monitor_rule_text(void)
{
	return rule_text;
}
