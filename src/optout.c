/*
 * optout.c — what a recipient's message means (STOP, START, HELP, as
 * Twilio reads them) and its record: the inbound message once per
 * MessageSid, the opt-out state per sender and recipient, an audit row.
 *
 * Keywords (shared/reference/twilio.md §8.3, sources [STOP-KB], [FCC],
 * [OOT]): the whole body, blanks around it cut, case ignored, is compared
 * with each set; "stop please" is no keyword, nor "OPT OUT" with a space.
 *   opt-out  STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT
 *   opt-in   START YES UNSTOP
 *   help     HELP INFO
 * Under Advanced Opt-Out Twilio sends OptOutType (STOP, START, HELP) with
 * the message, also for a service's own keywords: when present it wins.
 * A message that is none of these may be an acknowledgement ("ACK 2"),
 * ours, not Twilio's: ack.c reads it and records it.
 *
 * Scope: Twilio blocks the pair (the number replied to, or the whole
 * Messaging Service the number is in; their number).  So "ours" is the
 * message's MessagingServiceSid when it has one (and its To as well),
 * else its To, and twilio-send asks with the key it sends from (the
 * service when the create names one, else From).  Addresses are Twilio's ("+1...",
 * "whatsapp:+1..."); an SMS opt-out does not stop WhatsApp, as at Twilio.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mlc.h"

static const char *const kw_stop[] = { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
	                               "QUIT", "REVOKE", "OPTOUT", NULL };
static const char *const kw_start[] = { "START", "YES", "UNSTOP", NULL };
static const char *const kw_help[] = { "HELP", "INFO", NULL };

static int
in_set(const char *const *set, const char *s, size_t n)
{
	for (; *set; set++)
		if (strlen(*set) == n && strncasecmp(*set, s, n) == 0)
			return 1;
	return 0;
}

int
mlc_optout_classify(const char *body, const char *opt_out_type)
{
	const char *s = body ? body : "", *e;

	if (opt_out_type && *opt_out_type) {
		if (!strcasecmp(opt_out_type, "STOP"))
			return MLC_KW_STOP;
		if (!strcasecmp(opt_out_type, "START"))
			return MLC_KW_START;
		if (!strcasecmp(opt_out_type, "HELP"))
			return MLC_KW_HELP;
	}
	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (in_set(kw_stop, s, (size_t)(e - s)))
		return MLC_KW_STOP;
	if (in_set(kw_start, s, (size_t)(e - s)))
		return MLC_KW_START;
	if (in_set(kw_help, s, (size_t)(e - s)))
		return MLC_KW_HELP;
	{
		char tok[MLC_ACK_TOKMAX];

		if (mlc_ack_parse(s, tok))
			return MLC_KW_ACK;
	}
	return MLC_KW_NONE;
}

const char *
mlc_optout_kw_name(int kw)
{
	switch (kw) {
	case MLC_KW_STOP: return "STOP";
	case MLC_KW_START: return "START";
	case MLC_KW_HELP: return "HELP";
	case MLC_KW_ACK: return "ACK";
	default: return NULL;
	}
}

static void
member(struct mlc_buf *b, const char *name, const char *v)
{
	mlc_buf_printf(b, ",\"%s\":", name);
	if (v)
		mlc_buf_json_str(b, v, strlen(v));
	else
		mlc_buf_adds(b, "null");
}

void
mlc_optout_line(struct mlc_buf *b, const struct mlc_inbound *m)
{
	mlc_buf_adds(b, "{\"event\":\"inbound\"");
	member(b, "sid", m->sid);
	member(b, "from", m->from);
	member(b, "to", m->to);
	if (m->mss)
		member(b, "messaging_service_sid", m->mss);
	member(b, "body", m->body);
	if (m->opt_out_type)
		member(b, "opt_out_type", m->opt_out_type);
	member(b, "keyword", mlc_optout_kw_name(mlc_optout_classify(m->body, m->opt_out_type)));
	member(b, "date_sent", m->date_sent);
	member(b, "source", m->source);
	mlc_buf_addc(b, '}');
}

/* The number without "whatsapp:", for the audit row's recipient column. */
static const char *
bare(const char *a)
{
	return mlc_addr_is_whatsapp(a) ? a + strlen(MLC_ADDR_WHATSAPP) : a;
}

int
mlc_optout_record(struct mlc_store *s, const struct mlc_inbound *m, const char *ts,
                  const char *line, size_t len, int *fresh)
{
	int kw = mlc_optout_classify(m->body, m->opt_out_type);
	const char *name = mlc_optout_kw_name(kw);
	const char *ours = m->mss && *m->mss ? m->mss : m->to;
	const char *chan = mlc_addr_is_whatsapp(m->from) ? "whatsapp" : "sms";
	const char *when = m->date_sent && *m->date_sent ? m->date_sent : ts;
	struct mlc_trail_inbound row = { m->sid, ts, when, ours, m->to, m->from, chan,
		                         m->body, name, m->source };
	struct mlc_trail_event e = { 0 };
	struct mlc_buf how, detail;
	int rc = -1;

	if (mlc_trail_inbound_put(s, &row, fresh) < 0)
		return -1;
	if (!*fresh)
		return 0;
	/* an acknowledgement (ack.c): its record in the same transaction */
	if (kw == MLC_KW_ACK)
		return mlc_ack_record(s, m, ts, when, line, len);
	mlc_buf_init(&how);
	mlc_buf_init(&detail);
	mlc_buf_printf(&how, "keyword %s", name ? name : "");
	if (m->opt_out_type && *m->opt_out_type)
		mlc_buf_adds(&how, " (OptOutType)");
	/* a service's block covers its numbers too: also kept for the number,
	 * for a sender configured with From alone */
	if ((kw == MLC_KW_STOP || kw == MLC_KW_START) &&
	    (mlc_trail_optout_set(s, ours, m->from, kw == MLC_KW_STOP, when, how.p, m->sid) < 0 ||
	     (ours != m->to &&
	      mlc_trail_optout_set(s, m->to, m->from, kw == MLC_KW_STOP, when, how.p, m->sid) < 0)))
		goto out;
	if (name)
		mlc_buf_printf(&detail, "%s: ", how.p);
	mlc_buf_printf(&detail, "message from %s to %s%s%s via %s", m->from, m->to,
	               ours == m->to ? "" : " in ", ours == m->to ? "" : ours,
	               m->source ? m->source : "?");
	e.ts = ts;
	e.stage = kw == MLC_KW_STOP ? "opt_out" : kw == MLC_KW_START ? "opt_in" :
	          kw == MLC_KW_HELP ? "help" : "inbound";
	e.to = bare(m->from);
	e.channel = chan;
	e.sid = m->sid;
	e.status = "received";
	e.detail = detail.p;
	e.line = line;
	e.len = len;
	rc = mlc_trail_record(s, &e);
out:
	mlc_buf_free(&how);
	mlc_buf_free(&detail);
	return rc;
}

int
mlc_optout_refused(struct mlc_store *s, const char *ours, const char *theirs,
                   const char *delivery_id, const char *ts)
{
	const char *chan = mlc_addr_is_whatsapp(theirs) ? "whatsapp" : "sms";
	struct mlc_trail_event e = { 0 };
	struct mlc_buf detail;
	int rc;

	if (mlc_trail_optout_set(s, ours, theirs, 1, ts, "error 21610", NULL) < 0)
		return -1;
	mlc_buf_init(&detail);
	mlc_buf_printf(&detail, "error 21610: Twilio refused a send from %s to %s as unsubscribed"
	               " (delivery %s)", ours, theirs, delivery_id ? delivery_id : "?");
	e.ts = ts;
	e.stage = "opt_out";
	e.to = bare(theirs);
	e.channel = chan;
	e.error_code = 21610;
	e.has_error_code = 1;
	e.detail = detail.p;
	rc = mlc_trail_record(s, &e);
	mlc_buf_free(&detail);
	return rc;
}

void
mlc_optout_detail(struct mlc_buf *b, const char *ours, const struct mlc_trail_optout *row)
{
	mlc_buf_printf(b, "%s at %s, our sender %s", row->how ? row->how : "?",
	               row->since ? row->since : "?", ours);
	if (row->sid)
		mlc_buf_printf(b, " (%s)", row->sid);
}
