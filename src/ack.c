/*
 * ack.c — acknowledgement by reply: what a reply "ACK ..." means, the
 * short reply code printed in an alert's SMS, and the record of who
 * acknowledged what and when.
 *
 * A reply is an acknowledgement when its first word is ACK, ACKNOWLEDGE
 * or ACKNOWLEDGED, case ignored, with any blanks and punctuation around
 * ("ack", " Ack. ", "ACK!", "ACK2", "ack #2", "Ack: 123456", "ACK '2'").
 * What follows picks the alert: the first word with a digit in it is the
 * token ("ACK PO 123456" gives 123456, "ACK 2 thanks" gives 2); none
 * ("Ack, thanks!") means the latest.  The other keywords (STOP, START,
 * HELP) are optout.c's and come first; the classifier (mlc_optout_classify)
 * is the one door for the webhook (twilio-status) and the poll
 * (twilio-send --poll-inbound), and mlc_optout_record hands an ACK here.
 *
 * Which alert (the sender's number, "whatsapp:" removed, is who):
 *   - no token: the alert sent last to that number on the channel the reply
 *     came on (SMS, WhatsApp), else on any; none while a newer delivery to
 *     them has no outcome recorded (in_doubt);
 *   - a token that is a reply code the number was given (table
 *     reply_code): that code's alert, as printed in the message they read;
 *   - else a document number: the alerts sent to that number whose key has
 *     a part equal to it ("00001|OP|4711|000" and 4711; digits compared
 *     without leading zeros, as ml-connector why does); one such alert is
 *     acknowledged, several are ambiguous and none is.
 * An ACK that picks nothing (a number never alerted, a code or a document
 * it was not sent) is recorded all the same, as an audit row of stage
 * ack_unmatched that says why: it is the person's message, not an error.
 * Nothing is sent back: a confirmation would be a send from the receiver,
 * which answers Twilio and polls, with its own duplicates to guard.
 *
 * Reply codes: per number, the smallest positive number no alert holds:
 * a code is held from the render that printed it until its alert is
 * acknowledged or MLC_ACK_CODE_DAYS have passed; an alert rendered again
 * (a re-alert, a run after a crash) keeps its code.  The suffix is
 * "\nReply ACK 2", else "\nACK 2" when the first would cost another SMS
 * segment (or change the encoding), else nothing: the delivery line says
 * which ("reply_code_shown": full, short or none; mlc_sms_suffix decides),
 * and ACK alone and ACK with the document number still work.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mlc.h"

static const char *const ack_words[] = { "ACKNOWLEDGED", "ACKNOWLEDGE", "ACK", NULL };

int
mlc_ack_parse(const char *body, char tok[MLC_ACK_TOKMAX])
{
	const unsigned char *s = (const unsigned char *)(body ? body : "");
	size_t i, n = 0;

	tok[0] = '\0';
	while (*s && !isalnum(*s))
		s++;
	for (i = 0; ack_words[i]; i++) {
		n = strlen(ack_words[i]);
		/* the word whole: "ACKME" is not ACK, "ACK2" is ACK 2 */
		if (strncasecmp((const char *)s, ack_words[i], n) == 0 && !isalpha(s[n]))
			break;
	}
	if (!ack_words[i])
		return 0;
	for (s += n; *s;) {
		const unsigned char *w;
		int digit = 0;

		while (*s && !isalnum(*s))
			s++;
		for (w = s; isalnum(*s); s++)
			digit |= isdigit(*s) != 0;
		if (digit) {
			n = (size_t)(s - w) < MLC_ACK_TOKMAX - 1 ? (size_t)(s - w) : MLC_ACK_TOKMAX - 1;
			memcpy(tok, w, n);
			tok[n] = '\0';
			break;
		}
	}
	return 1;
}

/* Key part p (len n) names what: equal (case ignored), or both digits and
 * equal without leading zeros. */
static int
part_is(const char *p, size_t n, const char *what)
{
	size_t w = strlen(what), i;
	int digits = n > 0 && w > 0;

	while (n > 0 && *p == ' ')
		p++, n--;
	while (n > 0 && p[n - 1] == ' ')
		n--;
	if (n == w && strncasecmp(p, what, n) == 0)
		return 1;
	for (i = 0; i < n && digits; i++)
		digits = p[i] >= '0' && p[i] <= '9';
	for (i = 0; i < w && digits; i++)
		digits = what[i] >= '0' && what[i] <= '9';
	if (!digits)
		return 0;
	while (n > 1 && *p == '0')
		p++, n--;
	while (w > 1 && *what == '0')
		what++, w--;
	return n == w && memcmp(p, what, n) == 0;
}

int
mlc_key_has_part(const char *key, const char *what)
{
	const char *k, *e;

	if (!key || !what || !*what)
		return 0;
	for (k = key; k; k = *e ? e + 1 : NULL) {
		e = strchr(k, '|');
		if (!e)
			e = k + strlen(k);
		if (part_is(k, (size_t)(e - k), what))
			return 1;
	}
	return 0;
}

/* The number without "whatsapp:": codes and who are per person. */
static const char *
bare(const char *a)
{
	return mlc_addr_is_whatsapp(a) ? a + strlen(MLC_ADDR_WHATSAPP) : a;
}

/* ---- reply codes ---- */

#define CODE_BITS 1024
struct held {
	unsigned char bit[CODE_BITS];
	long max;
};

static int
held_row(const struct mlc_trail_row *r, void *arg)
{
	struct held *h = arg;
	const char *c = r->c[0].s;
	char *end;
	long v;

	if (!c)
		return 0;
	v = strtol(c, &end, 10);
	if (*end || v < 1 || v > 999999)
		return 0; /* not one of ours */
	if (v < CODE_BITS)
		h->bit[v] = 1;
	if (v > h->max)
		h->max = v;
	return 0;
}

int
mlc_ack_code(struct mlc_store *s, const char *to, const char *alert_id, const char *rule,
             const char *key, const char *now, int assign, char code[MLC_ACK_CODEMAX])
{
	const char *theirs = bare(to);
	struct held *h;
	struct timespec t;
	char expired[32], *was = NULL;
	long v;
	int rc;

	code[0] = '\0';
	if ((rc = mlc_trail_code_of(s, theirs, alert_id, &was)) < 0)
		return -1;
	if (rc == 1) {
		snprintf(code, MLC_ACK_CODEMAX, "%s", was);
		free(was);
		/* held again from now: a re-alert is read as a new message */
		return assign ? mlc_trail_code_put(s, theirs, code, alert_id, rule, key, now) : 0;
	}
	if (mlc_time_parse(now, &t) < 0)
		mlc_time_now(&t);
	t.tv_sec -= (time_t)MLC_ACK_CODE_DAYS * 86400;
	mlc_time_fmt(expired, &t);
	h = mlc_xcalloc(1, sizeof *h);
	rc = mlc_trail_codes_held(s, theirs, expired, held_row, h);
	if (rc < 0) {
		free(h);
		return -1;
	}
	for (v = 1; v < CODE_BITS && h->bit[v]; v++)
		;
	if (v == CODE_BITS)
		v = h->max + 1; /* a thousand open alerts on one phone: past them all */
	free(h);
	snprintf(code, MLC_ACK_CODEMAX, "%ld", v);
	return assign ? mlc_trail_code_put(s, theirs, code, alert_id, rule, key, now) : 0;
}

int
mlc_ack_suffix(struct mlc_buf *body, const char *code, int sms)
{
	struct mlc_buf full, brief;
	const char *forms[2];
	int rc;

	mlc_buf_init(&full);
	mlc_buf_init(&brief);
	mlc_buf_printf(&full, "\nReply ACK %s", code);
	mlc_buf_printf(&brief, "\nACK %s", code);
	forms[0] = full.p;
	forms[1] = brief.p;
	rc = mlc_sms_suffix(body, forms, 2, sms);
	mlc_buf_free(&full);
	mlc_buf_free(&brief);
	return rc;
}

const char *
mlc_ack_shown_name(int form)
{
	return form == 0 ? "full" : form == 1 ? "short" : "none";
}

/* ---- an acknowledgement received ---- */

/* The alert an ACK picks, and how many a document named. */
struct pick {
	const char *tok;      /* the document number sought, or NULL */
	long n;
	char *alert_id, *rule, *table, *key, *sent_at;
};

static void
pick_free(struct pick *p)
{
	free(p->alert_id);
	free(p->rule);
	free(p->table);
	free(p->key);
	free(p->sent_at);
}

static int
pick_row(const struct mlc_trail_row *r, void *arg)
{
	struct pick *p = arg;

	if (p->tok && !mlc_key_has_part(r->c[3].s, p->tok))
		return 0;
	if (p->n++ == 0) {
		p->alert_id = mlc_xstrdup(r->c[0].s);
		p->rule = r->c[1].s ? mlc_xstrdup(r->c[1].s) : NULL;
		p->table = r->c[2].s ? mlc_xstrdup(r->c[2].s) : NULL;
		p->key = mlc_xstrdup(r->c[3].s);
		p->sent_at = r->c[4].s ? mlc_xstrdup(r->c[4].s) : NULL;
	}
	return 0;
}

static int
doubt_row(const struct mlc_trail_row *r, void *arg)
{
	struct mlc_buf *b = arg;

	mlc_buf_printf(b, "%s (%s at %s)", r->c[0].s, r->c[2].s, r->c[3].s);
	return 0;
}

/*
 * ACK alone: a delivery to the number newer than the alert picked (or, none
 * picked, any) whose outcome is not recorded yet (queued or unknown: a run
 * killed between Twilio's accept and the trail's record, or still sending)
 * may be the message they answer, or not.  Guessing the older alert would
 * acknowledge what nobody acknowledged and stop its escalation; so none
 * is, said (ack_unmatched), and ACK with the code or the document still
 * works.  Deliveries queued more than a day before the ACK are left out.
 */
static int
in_doubt(struct mlc_store *s, const char *theirs, struct pick *p, const char *when,
         const char *from, struct mlc_buf *detail)
{
	struct mlc_buf d;
	struct timespec ts;
	char since[32] = "";

	if (when && mlc_time_parse(when, &ts) == 0) {
		ts.tv_sec -= 86400;
		mlc_time_fmt(since, &ts);
	}
	mlc_buf_init(&d);
	if (mlc_trail_in_doubt_to(s, theirs, p->n ? p->alert_id : NULL, since, doubt_row, &d) < 0) {
		mlc_buf_free(&d);
		return -1;
	}
	if (d.len) {
		mlc_buf_printf(detail, "ACK from %s: the latest delivery to that number, %s, has no"
		               " outcome recorded yet (it may be the message answered)%s%s; none"
		               " acknowledged: reply ACK with the code or the document number the"
		               " message shows", from, d.p, p->n ? ", not the alert sent before it, " : "",
		               p->n ? p->alert_id : "");
		pick_free(p);
		memset(p, 0, sizeof *p);
	}
	mlc_buf_free(&d);
	return 0;
}

static int
all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int
mlc_ack_record(struct mlc_store *s, const struct mlc_inbound *m, const char *ts,
               const char *when, const char *line, size_t len)
{
	const char *theirs = bare(m->from), *ours = m->mss && *m->mss ? m->mss : m->to;
	const char *chan = mlc_addr_is_whatsapp(m->from) ? "whatsapp" : "sms", *how = NULL;
	char tok[MLC_ACK_TOKMAX];
	struct pick p = { 0 };
	struct mlc_trail_event e = { 0 };
	struct mlc_trail_acked before = { 0 };
	struct mlc_buf detail;
	int rc = -1, had = 0, fresh;

	mlc_ack_parse(m->body, tok);
	mlc_buf_init(&detail);
	if (!tok[0]) {
		how = "latest";
		if (mlc_trail_sent_alerts(s, theirs, chan, 1, pick_row, &p) < 0 ||
		    (p.n == 0 && mlc_trail_sent_alerts(s, theirs, NULL, 1, pick_row, &p) < 0))
			goto out;
		if (in_doubt(s, theirs, &p, when, m->from, &detail) < 0)
			goto out;
		if (p.n == 0 && !detail.len)
			mlc_buf_printf(&detail, "ACK from %s: no alert was sent to that number", m->from);
	} else {
		struct mlc_trail_ids ids;
		int c = all_digits(tok) ? mlc_trail_code_get(s, theirs, tok, &ids) : 0;

		if (c < 0)
			goto out;
		if (c == 1) {
			how = "code";
			p.n = 1;
			p.alert_id = ids.alert_id, p.rule = ids.rule, p.key = ids.key;
			ids.alert_id = ids.rule = ids.key = NULL;
			mlc_trail_ids_free(&ids);
		} else {
			how = "document";
			p.tok = tok;
			if (mlc_trail_sent_alerts(s, theirs, NULL, 0, pick_row, &p) < 0)
				goto out;
			if (p.n == 0)
				mlc_buf_printf(&detail, "ACK %s from %s: no reply code %s and no alert"
				               " sent to that number with document %s", tok, m->from,
				               tok, tok);
			else if (p.n > 1)
				mlc_buf_printf(&detail, "ACK %s from %s: document %s names %ld alerts sent"
				               " to that number (the newest %s); none acknowledged:"
				               " reply ACK with the code the message shows", tok, m->from,
				               tok, p.n, p.alert_id);
		}
	}
	e.ts = ts;
	e.to = theirs;
	e.channel = chan;
	e.sid = m->sid;
	e.status = "received";
	e.line = line;
	e.len = len;
	if (p.n != 1) {
		e.stage = "ack_unmatched";
		e.detail = detail.p;
		rc = mlc_trail_record(s, &e);
		goto out;
	}
	{
		struct mlc_trail_ack a = { m->sid, p.alert_id, p.rule ? p.rule : "", p.key, when,
			                   m->from, ours, how, tok[0] ? tok : NULL };

		if ((had = mlc_trail_ack_get(s, p.alert_id, NULL, &before)) < 0 ||
		    mlc_trail_ack_put(s, &a, &fresh) < 0)
			goto out;
	}
	mlc_buf_printf(&detail, "acknowledged by %s (%s%s%s) at %s: alert %s", m->from, how,
	               tok[0] ? " " : "", tok, when, p.alert_id);
	if (p.sent_at)
		mlc_buf_printf(&detail, ", sent %s", p.sent_at);
	mlc_buf_printf(&detail, "; via %s", m->source ? m->source : "?");
	if (had == 1)
		mlc_buf_printf(&detail, "; acknowledged before by %s at %s", before.by, before.acked_at);
	e.stage = "acked";
	e.rule = p.rule;
	e.table = p.table;
	e.key = p.key;
	e.detail = detail.p;
	/* the counter grows with its record, as alert-log's do (retention spares it) */
	rc = mlc_trail_record(s, &e) < 0 ||
	     mlc_trail_metric_put(s, 0, "mlc_acknowledgements_total", p.rule, NULL, how, NULL, 1,
	                          ts) < 0 ? -1 : 0;
out:
	mlc_trail_acked_free(&before);
	pick_free(&p);
	mlc_buf_free(&detail);
	return rc;
}
