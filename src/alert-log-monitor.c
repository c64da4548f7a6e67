/*
 * alert-log-monitor.c — alert-log monitor: the connector's own health,
 * evaluated from the trail, as notices to the [monitor] recipients.
 *
 *   alert-log monitor [--fallback | --check]
 *
 * Reads the trail (runs, deliveries, the quarantine, the metric table's
 * auth gauges, the AIS refusal record, the watermarks), decides each
 * condition of ml-connector(5) [monitor] per subject (a rule, a remote
 * system), compares it with table monitor, and writes on stdout at most one
 * alert line of the built-in rule _monitor (monitor.c), in the wire format
 * alert-render reads: the conditions that started or cleared and are due.
 * The orchestrator sends it through the delivery path like any alert
 * (ml-connector(8), "The monitor").
 *
 * No storm, no loop, no duplicate:
 *   - a condition is told when its state differs from the one the last
 *     notice told, and at most once per [monitor] window: what starts and
 *     clears inside a window is never told (it is on stderr and in the
 *     trail); the state at the end of the window is;
 *   - the transitions due at one evaluation go out as one notice;
 *   - each notice is kept whole in table monitor_notice, made in the same
 *     transaction that marks its conditions told: until the trail holds its
 *     deliveries, every evaluation writes that same line again (same alert
 *     and delivery ids) and makes no new one (for a day at most: a line
 *     that never reaches the trail is given up, said), so a run killed anywhere
 *     sends it once (the orchestrator's reconcile owns it from there);
 *   - the monitor's own rule is left out of every rule condition, so a
 *     notice that fails never starts a condition of its own;
 *   - a remote system's auth refusal is one condition however many
 *     programs meet it, the monitor's own twilio-send among them.
 *
 * --fallback: when no delivery of the newest notice was accepted (each
 * failed, unknown, or left queued by a refusal), the same notice again to the recipients' addresses
 * on the channels it did not go on (e-mail when SMS cannot reach Twilio),
 * once, as alert ID:fallback.
 *
 * Every start and clear is said on stderr and recorded as an audit row of
 * stage "monitor" (rule _monitor), whether or not a notice goes out.
 *
 * --check: the [monitor] settings only (ml-connector check): 0, or 78 named.
 *
 * Exit: 0; 64 usage; 74 write error or database I/O; 75 the database
 * stayed locked; 78 a [monitor] setting is wrong (named with its line).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert-log.h"

static struct mlc_monitor mon;
static struct timespec now;
static char now_s[32];

/* One condition of one subject: as stored, and as seen now. */
struct cond {
	char *cond, *subject, *since, *value, *told_at, *notice;
	int active, told;
	int seen, now_active;
	char *now_value;
};
static struct cond *cv;
static size_t cn;

/* The conditions, the words of their clearing (ml-connector(5) [monitor]). */
static const struct {
	const char *name, *cleared;
} conds[] = {
	{ "auth", "accepts the credentials again" },
	{ "failed_runs", "runs go through again" },
	{ "no_success", "a run went through" },
	{ "unknown", "no delivery is left unknown or in doubt" },
	{ "refused", "the last run's refused deliveries are back under the threshold" },
	{ "watermark", "the watermark moved" },
	{ "quarantine", "the quarantine is back under the threshold" },
};

static const char *
cleared_words(const char *c)
{
	for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++)
		if (!strcmp(conds[i].name, c))
			return conds[i].cleared;
	return "cleared";
}

static char *
dup0(const char *s)
{
	return s ? mlc_xstrdup(s) : NULL;
}

static const char *
col(const struct mlc_trail_row *r, int i)
{
	return r->c[i].type == MLC_TRAIL_NULL ? NULL : r->c[i].s;
}

static void
conds_free(void)
{
	for (size_t i = 0; i < cn; i++) {
		free(cv[i].cond);
		free(cv[i].subject);
		free(cv[i].since);
		free(cv[i].value);
		free(cv[i].told_at);
		free(cv[i].notice);
		free(cv[i].now_value);
	}
	free(cv);
	cv = NULL;
	cn = 0;
}

static struct cond *
cond_find(const char *c, const char *subject)
{
	for (size_t i = 0; i < cn; i++)
		if (!strcmp(cv[i].cond, c) && !strcmp(cv[i].subject, subject))
			return &cv[i];
	cv = mlc_xrealloc(cv, (cn + 1) * sizeof *cv);
	memset(&cv[cn], 0, sizeof *cv);
	cv[cn].cond = mlc_xstrdup(c);
	cv[cn].subject = mlc_xstrdup(subject);
	cv[cn].since = mlc_xstrdup(now_s);
	return &cv[cn++];
}

static int
state_row(const struct mlc_trail_row *r, void *arg)
{
	struct cond *c;

	(void)arg;
	c = cond_find(col(r, 0), col(r, 1) ? col(r, 1) : "");
	c->active = (int)r->c[2].i;
	free(c->since);
	c->since = dup0(col(r, 3));
	c->value = dup0(col(r, 4));
	c->told = (int)r->c[5].i;
	c->told_at = dup0(col(r, 6));
	c->notice = dup0(col(r, 7));
	return 0;
}

/* Seen now: the condition holds (value says how) or not. */
static void
seen(const char *c, const char *subject, int active, const char *value)
{
	struct cond *k = cond_find(c, subject);

	k->seen = 1;
	k->now_active = active;
	free(k->now_value);
	k->now_value = active ? dup0(value) : NULL;
}

static double
secs_of(const char *t)
{
	struct timespec ts;

	if (!t || mlc_time_parse(t, &ts) < 0)
		return -1;
	return (double)ts.tv_sec;
}

/* "26h", "3d 2h", "45m": a duration for people. */
static void
ago(char *out, size_t n, double s)
{
	long v = s < 0 ? 0 : (long)s;

	if (v >= 2 * 86400)
		snprintf(out, n, "%ldd %ldh", v / 86400, v % 86400 / 3600);
	else if (v >= 3600)
		snprintf(out, n, "%ldh", v / 3600);
	else
		snprintf(out, n, "%ldm", v / 60);
}

/* ---- the facts ---- */

static int
rule_row(const struct mlc_trail_row *r, void *arg)
{
	const char *rule = col(r, 0), *last_ok = col(r, 2), *first = col(r, 3),
	           *status = col(r, 4), *fin = col(r, 6);
	long long fails = r->c[1].i, unknown = r->c[7].i, doubt = r->c[8].i,
	          refused = r->c[9].i, quar = r->c[10].i;
	double t = (double)now.tv_sec, since;
	char v[512], d[32];
	char *wm = NULL;

	(void)arg;
	snprintf(v, sizeof v, "rule %s: %lld runs failed in a row (the last ended %s)", rule,
	         fails, fin ? fin : "?");
	seen("failed_runs", rule, mon.failed_runs > 0 && fails >= mon.failed_runs, v);
	/* only while the rule's runs fail: a weekly rule that went through
	 * last week is not "without success" */
	since = secs_of(last_ok ? last_ok : first);
	ago(d, sizeof d, t - since);
	snprintf(v, sizeof v, "rule %s: no run went through for %s (%s %s)", rule, d,
	         last_ok ? "the last ended" : "the first began", last_ok ? last_ok : first);
	seen("no_success", rule, mon.no_success_s > 0 && status && strcmp(status, "ok") &&
	     since >= 0 && t - since >= (double)mon.no_success_s, v);
	snprintf(v, sizeof v, "rule %s: %lld deliveries left unknown after reconcile, %lld "
	         "e-mails held in doubt (ml-connector status %s)", rule, unknown, doubt, rule);
	seen("unknown", rule, mon.unknown >= 0 && unknown + doubt > mon.unknown, v);
	snprintf(v, sizeof v, "rule %s: %lld deliveries refused for good in the last run "
	         "(ml-connector status %s)", rule, refused, rule);
	seen("refused", rule, mon.refused >= 0 && refused > mon.refused, v);
	snprintf(v, sizeof v, "rule %s: %lld lines quarantined (ml-connector quarantine --rule "
	         "%s)", rule, quar, rule);
	seen("quarantine", rule, mon.quarantine >= 0 && quar > mon.quarantine, v);
	/* the watermark: when its value last changed, in row .watermark */
	if (mlc_store_wm_get(store, rule, &wm) < 0)
		return -1;
	if (wm) {
		struct cond *w = cond_find(".watermark", rule);

		if (!w->value || strcmp(w->value, wm)) {
			free(w->value);
			w->value = mlc_xstrdup(wm);
			free(w->since);
			w->since = mlc_xstrdup(now_s);
		}
		w->seen = 1;
		since = secs_of(w->since);
		ago(d, sizeof d, t - since);
		snprintf(v, sizeof v, "rule %s: the watermark has not moved for %s (since %s)",
		         rule, d, w->since);
		seen("watermark", rule, mon.watermark_s > 0 && since >= 0 &&
		     t - since >= (double)mon.watermark_s, v);
		free(wm);
	}
	return 0;
}

static int auth_seen[3];

static int
metric_row(const struct mlc_trail_row *r, void *arg)
{
	static const char *const sys[] = { "ais", "twilio", "sendgrid" };

	(void)arg;
	if (strcmp(col(r, 0), "mlc_auth_refused"))
		return 0;
	for (int i = 0; i < 3; i++)
		if (col(r, 5) && !strcmp(col(r, 5), sys[i]) && strtod(col(r, 6), NULL) > 0)
			auth_seen[i] = 1;
	return 0;
}

/* Every condition as it holds now. */
static int
evaluate(void)
{
	static const char *const sys[] = { "ais", "twilio", "sendgrid" };
	static const char *const who[] = { "AIS", "Twilio", "SendGrid" };
	static const char *const secret[] = { "ais.password", "twilio.auth_token",
		                              "sendgrid.api_key" };
	char why[1024], v[1200];

	memset(auth_seen, 0, sizeof auth_seen);
	if (mlc_trail_monitor_rules(store, MLC_MONITOR_RULE, rule_row, NULL) < 0 ||
	    mlc_trail_metrics(store, metric_row, NULL) < 0)
		return -1;
	why[0] = '\0';
	if (mlc_ais_refusal(mlc_store_statedir(store), why, sizeof why))
		auth_seen[0] = 1;
	for (int i = 0; i < 3; i++) {
		if (i == 0 && why[0])
			snprintf(v, sizeof v, "%s", why);
		else
			snprintf(v, sizeof v, "%s refused the credentials: it will not heal by "
			         "itself (ml-connector secret set %s)", who[i], secret[i]);
		seen("auth", sys[i], auth_seen[i], v);
	}
	/* what is no longer there (a rule removed, a watermark gone) holds no more */
	for (size_t i = 0; i < cn; i++)
		if (!cv[i].seen && cv[i].cond[0] != '.')
			seen(cv[i].cond, cv[i].subject, 0, NULL);
	return 0;
}

/* ---- the notice ---- */

static void
recipients(struct mlc_buf *b, int chmask)
{
	static const char *const key[] = { "sms", "whatsapp", "email" };
	int first = 1;

	mlc_buf_adds(b, "[");
	for (size_t i = 0; i < mon.nto; i++) {
		if (chmask >= 0 && !(chmask & (1 << mon.to_ch[i])))
			continue;
		mlc_buf_printf(b, "%s{\"id\":\"monitor:%zu\",\"name\":\"ml-connector monitor\",\"%s\":",
		               first ? "" : ",", i + 1, key[mon.to_ch[i]]);
		mlc_buf_json_str(b, mon.to[i], strlen(mon.to[i]));
		mlc_buf_adds(b, "}");
		first = 0;
	}
	mlc_buf_adds(b, "]");
}

static void
channels(struct mlc_buf *b, int chmask)
{
	int first = 1;

	mlc_buf_adds(b, "[");
	for (int c = 0; c < MLC_CH_COUNT; c++)
		if (chmask & (1 << c)) {
			mlc_buf_printf(b, "%s\"%s\"", first ? "" : ",", mlc_addr_channel_name(c));
			first = 0;
		}
	mlc_buf_adds(b, "]");
}

/* The alert line of a notice: summary (the SMS, the subject) and text. */
static void
notice_line(struct mlc_buf *b, const char *id, const char *summary, const char *text,
            const char *conds_json, int chmask)
{
	char host[256];

	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	mlc_buf_adds(b, "{\"alert_id\":");
	mlc_buf_json_str(b, id, strlen(id));
	mlc_buf_adds(b, ",\"rule\":\"" MLC_MONITOR_RULE "\",\"severity\":\"critical\","
	                "\"table\":\"monitor\",\"key\":");
	mlc_buf_json_str(b, id, strlen(id));
	mlc_buf_adds(b, ",\"record\":{\"summary\":");
	mlc_buf_json_str(b, summary, strlen(summary));
	mlc_buf_adds(b, ",\"text\":");
	mlc_buf_json_str(b, text, strlen(text));
	mlc_buf_adds(b, ",\"host\":");
	mlc_buf_json_str(b, host, strlen(host));
	mlc_buf_printf(b, ",\"conditions\":%s},\"recipients\":", conds_json);
	recipients(b, chmask);
	mlc_buf_adds(b, ",\"channels\":");
	channels(b, chmask);
	mlc_buf_adds(b, ",\"matched_at\":");
	mlc_buf_json_str(b, now_s, strlen(now_s));
	mlc_buf_adds(b, "}\n");
}

struct pend {
	struct mlc_buf *out;
	int resent; /* a notice not yet in the trail was written again */
};

/* A notice made earlier: done when the trail holds its deliveries, else
 * written again as it was (it may never have reached alert-render). */
static int
pending_row(const struct mlc_trail_row *r, void *arg)
{
	struct pend *p = arg;

	if (r->c[5].i > 0)
		return mlc_trail_notice_done(store, col(r, 0)) < 0 ? -1 : 0;
	/* a line that never reaches the trail (refused in front of
	 * alert-render, quarantined) must not hold every later notice back */
	if ((double)now.tv_sec - secs_of(col(r, 2)) > 86400) {
		mlc_warn("monitor: notice %s made %s never reached the trail: given up (see "
		         "ml-connector quarantine --rule " MLC_MONITOR_RULE ")", col(r, 0), col(r, 2));
		return mlc_trail_notice_done(store, col(r, 0)) < 0 ? -1 : 0;
	}
	mlc_buf_add(p->out, col(r, 4), r->c[4].len);
	p->resent = 1;
	mlc_warn("monitor: notice %s is not in the trail yet: written again", col(r, 0));
	return 0;
}

static int
due(const struct cond *c)
{
	double t = (double)now.tv_sec, at = secs_of(c->told_at);

	if (c->cond[0] == '.' || c->active == c->told)
		return 0;
	return !c->told_at || at < 0 || t - at >= (double)mon.window_s;
}

static int
record_change(const struct cond *c, int active, const char *what)
{
	struct mlc_trail_event e;
	char key[256];

	memset(&e, 0, sizeof e);
	snprintf(key, sizeof key, "%s/%s", c->cond, c->subject);
	e.ts = now_s;
	e.stage = "monitor";
	e.rule = MLC_MONITOR_RULE;
	e.table = "monitor";
	e.key = key;
	e.status = active ? "start" : "clear";
	e.detail = what;
	return mlc_trail_record(store, &e);
}

/* The daily summary: due when a slot of [monitor] summary was reached in
 * [general] timezone since the last one (sched.c, as a rule's schedule). */
static int
summary(struct mlc_buf *out, int nactive, const char *active_text)
{
	struct mlc_tz_saved sv;
	struct cond *s = cond_find(".summary", "");
	long long last = MLC_SCHED_NONE, upto = 0;
	char slot[32], id[96], sum[256];
	struct mlc_buf text, line;
	int isdue = 0;

	s->seen = 1;
	if (s->value && mlc_sched_scan(s->value, &last) < 0)
		last = MLC_SCHED_NONE;
	if (mlc_tz_enter(&sv, mon.timezone ? mon.timezone : "UTC") < 0)
		return 0;
	if (!s->value)
		last = mlc_sched_baseline(&mon.summary_sched, now.tv_sec);
	else
		isdue = mlc_sched_due(&mon.summary_sched, last, now.tv_sec, &upto);
	mlc_tz_leave(&sv);
	if (!s->value) {
		mlc_sched_fmt(last, slot);
		s->value = mlc_xstrdup(slot);
		return 0;
	}
	if (!isdue)
		return 0;
	mlc_sched_fmt(upto, slot);
	free(s->value);
	s->value = mlc_xstrdup(slot);
	free(s->since);
	s->since = mlc_xstrdup(now_s);
	snprintf(id, sizeof id, MLC_MONITOR_RULE ":summary:%s", slot);
	if (nactive)
		snprintf(sum, sizeof sum, "ml-connector daily summary: %d condition%s hold%s", nactive,
		         nactive == 1 ? "" : "s", nactive == 1 ? "s" : "");
	else
		snprintf(sum, sizeof sum, "ml-connector: all quiet");
	mlc_buf_init(&text);
	mlc_buf_init(&line);
	mlc_buf_printf(&text, "%s (%s, %s).\n", sum, slot,
	               mon.timezone ? mon.timezone : "UTC");
	if (nactive)
		mlc_buf_printf(&text, "\nHolding now:\n%s", active_text);
	else
		mlc_buf_adds(&text, "\nNo condition of [monitor] holds.\n");
	mlc_buf_adds(&text, "\nml-connector status shows each rule.\n");
	notice_line(&line, id, sum, text.p, "[]", mon.channels);
	if (mlc_trail_notice_put(store, id, "summary", line.p, now_s) < 0) {
		mlc_buf_free(&text);
		mlc_buf_free(&line);
		return -1;
	}
	mlc_buf_add(out, line.p, line.len);
	mlc_buf_free(&text);
	mlc_buf_free(&line);
	return 0;
}

static int
monitor_tx(struct mlc_store *s, void *arg)
{
	struct mlc_buf *out = arg, sum, text, cj, act, line;
	struct pend p = { out, 0 };
	int nstart = 0, nclear = 0, nactive = 0, rc = -1;
	char id[96];

	(void)s;
	mlc_buf_reset(out);
	conds_free();
	if (mlc_trail_monitor_state(store, state_row, NULL) < 0 || evaluate() < 0)
		return -1;
	mlc_buf_init(&sum);
	mlc_buf_init(&text);
	mlc_buf_init(&cj);
	mlc_buf_init(&act);
	mlc_buf_init(&line);
	/* each change: said, in the trail, kept */
	for (size_t i = 0; i < cn; i++) {
		struct cond *c = &cv[i];

		if (c->cond[0] == '.' || !c->seen)
			continue;
		if (c->now_active != c->active) {
			const char *what = c->now_active ? c->now_value : NULL;
			char w[600];

			if (!what) {
				snprintf(w, sizeof w, "%s%s %s", !strcmp(c->cond, "auth") ? "" : "rule ",
				         c->subject, cleared_words(c->cond));
				what = w;
			}
			mlc_warn("monitor: %s %s: %s", c->cond, c->now_active ? "started" : "cleared",
			         what);
			if (record_change(c, c->now_active, what) < 0)
				goto out;
			c->active = c->now_active;
			free(c->since);
			c->since = mlc_xstrdup(now_s);
		}
		if (c->now_active) {
			free(c->value);
			c->value = dup0(c->now_value);
			nactive++;
			mlc_buf_printf(&act, "- %s\n", c->value ? c->value : c->cond);
		}
	}
	if (mlc_trail_notices(store, 0, pending_row, &p) < 0)
		goto out;
	/* one notice at a time: a notice not yet in the trail goes first */
	snprintf(id, sizeof id, MLC_MONITOR_RULE ":notice:%s", now_s);
	mlc_buf_adds(&cj, "[");
	for (size_t i = 0; !p.resent && i < cn; i++) {
		struct cond *c = &cv[i];
		char w[600];

		if (!due(c))
			continue;
		if (c->active) {
			nstart++;
			snprintf(w, sizeof w, "%s", c->value ? c->value : c->cond);
		} else {
			nclear++;
			snprintf(w, sizeof w, "%s%s %s", !strcmp(c->cond, "auth") ? "" : "rule ",
			         c->subject, cleared_words(c->cond));
		}
		mlc_buf_printf(&text, "%s %s\n", c->active ? "STARTED:" : "CLEARED:", w);
		if (nstart + nclear == 1)
			mlc_buf_adds(&sum, w);
		mlc_buf_printf(&cj, "%s{\"condition\":\"%s\",\"subject\":", cj.len > 1 ? "," : "",
		               c->cond);
		mlc_buf_json_str(&cj, c->subject, strlen(c->subject));
		mlc_buf_printf(&cj, ",\"state\":\"%s\",\"since\":\"%s\"}",
		               c->active ? "start" : "clear", c->since);
		c->told = c->active;
		free(c->told_at);
		c->told_at = mlc_xstrdup(now_s);
		free(c->notice);
		c->notice = mlc_xstrdup(id);
	}
	mlc_buf_adds(&cj, "]");
	if (nstart + nclear > 0) {
		struct mlc_buf s1;

		mlc_buf_init(&s1);
		if (nstart + nclear == 1)
			mlc_buf_printf(&s1, "ml-connector %s: %s", nstart ? "problem" : "recovered",
			               sum.p);
		else if (!nclear || !nstart)
			mlc_buf_printf(&s1, "ml-connector: %d %s: %s; ...", nstart + nclear,
			               nstart ? "problems" : "recovered", sum.p);
		else
			mlc_buf_printf(&s1, "ml-connector: %d problem%s, %d recovered: %s; ...",
			               nstart, nstart == 1 ? "" : "s", nclear, sum.p);
		mlc_buf_printf(&text, "\n%s\n", nactive ? "Holding now:" : "Nothing holds now.");
		if (nactive)
			mlc_buf_add(&text, act.p, act.len);
		mlc_buf_printf(&text, "\nAt most one notice per condition every %lds ([monitor] "
		               "window).  ml-connector status shows each rule.\n", mon.window_s);
		notice_line(&line, id, s1.p, text.p, cj.p, mon.channels);
		mlc_buf_free(&s1);
		if (mlc_trail_notice_put(store, id, "notice", line.p, now_s) < 0)
			goto out;
		mlc_buf_add(out, line.p, line.len);
	}
	if (mon.summary && summary(out, nactive, act.len ? act.p : "") < 0)
		goto out;
	for (size_t i = 0; i < cn; i++) {
		struct cond *c = &cv[i];
		struct mlc_trail_cond tc = { c->cond, c->subject, c->since, c->value, c->told_at,
			                     c->notice, c->active, c->told };

		if (!c->seen)
			continue;
		if (mlc_trail_monitor_put(store, &tc, now_s) < 0)
			goto out;
	}
	rc = 0;
out:
	mlc_buf_free(&sum);
	mlc_buf_free(&text);
	mlc_buf_free(&cj);
	mlc_buf_free(&act);
	mlc_buf_free(&line);
	return rc;
}

/* ---- the other channel ---- */

struct latest {
	char *id, *line, *kind;
};

static int
latest_row(const struct mlc_trail_row *r, void *arg)
{
	struct latest *l = arg;

	l->id = dup0(col(r, 0));
	l->kind = dup0(col(r, 1));
	l->line = dup0(col(r, 4));
	return 0;
}

struct tally {
	int n, accepted, chmask;
};

static int
delivery_row(const struct mlc_trail_row *r, void *arg)
{
	struct tally *t = arg;
	const char *ch = col(r, 1), *st = col(r, 2);
	int c = ch ? mlc_addr_channel(ch, strlen(ch)) : -1;

	t->n++;
	if (c >= 0)
		t->chmask |= 1 << c;
	if (st && (!strcmp(st, "sent") || !strcmp(st, "in_doubt") || !strcmp(st, "delivered") ||
	           !strcmp(st, "read")))
		t->accepted++;
	return 0;
}

static int
fallback_tx(struct mlc_store *s, void *arg)
{
	struct mlc_buf *out = arg;
	struct latest l = { 0 };
	struct tally t = { 0 };
	int rc = 0, other = 0;
	char fid[160];
	jv o = jv_invalid(), v;

	(void)s;
	mlc_buf_reset(out);
	if (mlc_trail_notices(store, 1, latest_row, &l) < 0)
		return -1;
	if (!l.id)
		return 0;
	if (mlc_trail_alert_deliveries(store, l.id, delivery_row, &t) < 0) {
		rc = -1;
		goto out;
	}
	/* nothing recorded yet (the next evaluation writes it again), or one
	 * went through: no fallback.  A delivery still queued counts as not
	 * reached: twilio-send leaves its deliveries unsent when Twilio refuses
	 * the credentials (77), the case the other channel is for. */
	if (!t.n || t.accepted)
		goto out;
	for (size_t i = 0; i < mon.nto; i++)
		if (!(t.chmask & (1 << mon.to_ch[i])))
			other |= 1 << mon.to_ch[i];
	if (!other) {
		mlc_warn("monitor: notice %s reached no one, and [monitor] names no address on "
		         "another channel; it is in the trail and above", l.id);
		goto out;
	}
	snprintf(fid, sizeof fid, "%s:fallback", l.id);
	o = jv_parse(l.line);
	if (!jv_is_valid(o))
		goto out;
	{
		struct mlc_buf rb, cb;
		jv rj, cjv;

		mlc_buf_init(&rb);
		mlc_buf_init(&cb);
		recipients(&rb, other);
		channels(&cb, other);
		rj = jv_parse(rb.p);
		cjv = jv_parse(cb.p);
		mlc_buf_free(&rb);
		mlc_buf_free(&cb);
		o = jv_object_set(o, jv_string("alert_id"), jv_string(fid));
		o = jv_object_set(o, jv_string("key"), jv_string(fid));
		o = jv_object_set(o, jv_string("recipients"), rj);
		o = jv_object_set(o, jv_string("channels"), cjv);
		o = jv_object_set(o, jv_string("matched_at"), jv_string(now_s));
	}
	v = jv_dump_string(o, 0);
	o = jv_invalid();
	mlc_buf_adds(out, jv_string_value(v));
	mlc_buf_addc(out, '\n');
	jv_free(v);
	/* made once: an existing one is written again only while not in the
	 * trail (monitor_tx's pending notices do the same) */
	if (mlc_trail_notice_put(store, fid, "fallback", out->p, now_s) < 0) {
		rc = -1;
		goto out;
	}
	{
		struct tally f = { 0 };

		if (mlc_trail_alert_deliveries(store, fid, delivery_row, &f) < 0) {
			rc = -1;
			goto out;
		}
		if (f.n)
			mlc_buf_reset(out);
		else
			mlc_warn("monitor: notice %s reached no one on %s: sent again on the other "
			         "channel", l.id, t.chmask & (1 << MLC_CH_SMS) ? "sms" : "its channel");
	}
out:
	jv_free(o);
	free(l.id);
	free(l.kind);
	free(l.line);
	return rc;
}

int
cmd_monitor(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "fallback", no_argument, NULL, 'F' },
		{ "check", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	struct mlc_conf conf;
	struct mlc_buf out;
	char err[1024];
	int c, rc, fallback = 0, check = 0, missing = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'F': fallback = 1; break;
		case 'C': check = 1; break;
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc || fallback + check > 1)
		mlc_die(MLC_EX_USAGE, "usage: alert-log monitor [--fallback | --check]");
	if (mlc_time_now(&now) < 0)
		mlc_die(MLC_EX_USAGE, "bad ML_CONNECTOR_NOW \"%s\" (RFC 3339 or @epoch)",
		        getenv("ML_CONNECTOR_NOW"));
	mlc_time_fmt(now_s, &now);
	if (mlc_conf_load(&conf, mlc_config_path(), err, sizeof err, &missing) < 0 && !missing)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	if (mlc_monitor_load(&mon, &conf, err, sizeof err) < 0) {
		mlc_conf_free(&conf);
		mlc_die(MLC_EX_CONFIG, "%s", err);
	}
	mlc_conf_free(&conf);
	if (check || !mon.configured) {
		mlc_monitor_free(&mon);
		return MLC_EX_OK; /* no [monitor]: nobody to tell */
	}
	open_store();
	mlc_buf_init(&out);
	rc = mlc_store_tx(store, fallback ? "make the monitor's fallback" : "evaluate the monitor",
	                  fallback ? fallback_tx : monitor_tx, &out);
	if (rc == 0 && out.len &&
	    (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout) != 0)) {
		mlc_warn("monitor: standard output: %s", strerror(errno));
		rc = MLC_EX_IOERR;
	}
	mlc_buf_free(&out);
	conds_free();
	mlc_store_close(store);
	mlc_monitor_free(&mon);
	return rc;
}
