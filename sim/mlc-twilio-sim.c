/*
 * mlc-twilio-sim — a Twilio Programmable Messaging and Twilio SendGrid
 * simulator: a real HTTP(S) server on loopback for the test suite, the demo
 * and the benchmarks.  It follows Twilio's documented behaviour (see
 * shared/reference/twilio.md), not what our own client happens to send.
 *
 * Twilio (HTTP Basic: Account SID + Auth Token, or API Key SID + secret):
 *   POST /2010-04-01/Accounts/{AC}/Messages.json         create (201)
 *   GET  /2010-04-01/Accounts/{AC}/Messages/{SM}.json    fetch
 *   GET  /2010-04-01/Accounts/{AC}/Messages.json         list (To, From, DateSent...)
 *   GET  /2010-04-01/Accounts/{AC}.json                  account fetch
 * SendGrid (Authorization: Bearer KEY):
 *   POST /v3/mail/send                                    202 + X-Message-Id
 *   GET  /v3/scopes                                       200 {"scopes":[...]}
 * Control (no auth; loopback test use):
 *   GET /_sim/messages (NDJSON)  GET /_sim/faults  POST /_sim/fault  POST /_sim/reset
 *   POST /_sim/window (a WhatsApp user's last inbound message)
 *   POST /_sim/clock  the simulator's clock set (a test's ML_CONNECTOR_NOW)
 *   POST /_sim/inbound   a recipient's message: listed (direction inbound),
 *                        its STOP obeyed (21610 on a create to them), the
 *                        webhook POSTed to --inbound-url (sim_inbound)
 *
 * WhatsApp: a free-form message (Body or media, no ContentSid) to a user
 * whose 24-hour customer service window is not open is created and then
 * fails with 63016, as Twilio reports it (reference §8.4: async).  A
 * template (ContentSid) is sent at any time; --content-sid lists the
 * account's templates (any other is 21655), none given takes any HX sid.
 *
 * Created messages walk a status lifecycle on a timer (queued or accepted,
 * sending, sent, delivered, or a scripted failure) and, when the request
 * named a StatusCallback, each later status is POSTed there form-encoded and
 * signed with X-Twilio-Signature (src/twsig.c) under the account's Auth Token.
 *
 * Faults (--fault or POST /_sim/fault), the request log format and the exit
 * codes are documented in mlc-twilio-sim(1).  stdin and stdout are unused;
 * diagnostics go to stderr.  Exit: 0 after SIGTERM/SIGINT, 64 usage,
 * 66 unreadable file, 70 internal error (cannot listen).
 *
 * Threads: libmicrohttpd runs one thread per connection (so --latency does
 * not serialise requests); one lifecycle thread advances statuses; one
 * callback thread sends status callbacks with libcurl.  All shared state is
 * under one mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <jv.h>
#include <sodium.h>

#include "fault.h"
#include "httpd.h"

static const char usage[] =
	"usage: mlc-twilio-sim [--port N] [--port-file F] [--request-log F]\n"
	"                      [--tls-cert F --tls-key F] [--account-sid AC...]\n"
	"                      --auth-token-file F [--api-key-sid SK... --api-key-secret-file F]\n"
	"                      [--sendgrid-key-file F] [--sendgrid-scopes LIST]\n"
	"                      [--rate N] [--latency MS]\n"
	"                      [--callback-delay MS] [--callback-cainfo F] [--inbound-url URL]\n"
	"                      [--fault SPEC]... [--content-sid HX...]...\n";

#define MAX_BODY (32u << 20)
#define SG_MAX_BODY (20u << 20)
#define TW_MAX_BODY (1u << 20)

/* ---- configuration ---- */

static struct {
	char account_sid[35];
	char *auth_token;
	char *api_key_sid, *api_key_secret;
	char *sendgrid_key;
	const char *sendgrid_scopes; /* comma-separated, GET /v3/scopes */
	double rate;
	long latency_ms;
	long step_ms;
	const char *callback_cainfo;
	const char *inbound_url;     /* the numbers' incoming-message webhook */
	int logfd;
	int tls;
} cfg = { .logfd = -1, .step_ms = 200, .sendgrid_scopes = "mail.send" };

/* ---- shared state ---- */

enum status {
	ST_ACCEPTED, ST_QUEUED, ST_SENDING, ST_SENT, ST_DELIVERED, ST_UNDELIVERED,
	ST_FAILED, ST_READ, ST_RECEIVED, ST_N
};
static const char *const status_name[ST_N] = {
	"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read",
	"received"
};

struct msg {
	char sid[35];
	char *to, *from, *body, *mss, *callback;
	char *content, *content_vars; /* ContentSid, ContentVariables as sent */
	unsigned num_media, num_segments;
	unsigned char path[8]; /* statuses, walked one step per --callback-delay */
	unsigned char npath, step;
	int error_code;        /* set when the last status is failed or undelivered */
	int inbound;           /* sent to us by a recipient (POST /_sim/inbound) */
	time_t created, updated;
};

struct mail {
	char id[23];
	char *json;
	time_t at;
};

enum fkind { F_429, F_5XX, F_SLOW, F_DROP_AFTER, F_DROP_BEFORE, F_ERROR, F_RATE, F_OUTCOME };

struct fault {
	enum fkind kind;
	char *spec, *path, *method, *to;
	long count;   /* uses left; -1 = unlimited */
	long skip;    /* matching requests to let through first */
	long nth;     /* only the nth request of its connection; 0 = any */
	int reused;   /* only a request on a connection that carried one before */
	long hits;
	int code;     /* 5xx/error: code; outcome: error code */
	long ms;      /* slow */
	long retry_after; /* 429: seconds, -1 = no header */
	int status;   /* outcome */
	double rate;
};

struct bucket {
	double rate, tokens;
	struct timespec last;
};

struct ev {
	uint64_t due;
	size_t idx;
};

struct cbjob {
	struct cbjob *next;
	char *url, *body, *params_json;
	char sig[MLC_TWSIG_LEN + 1];
	char sid[35];
	const char *status;
	const char *kind;      /* in the log: NULL "callback", or "inbound" */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cb_cv = PTHREAD_COND_INITIALIZER;
static int stopping;

static struct msg **msgs;
static size_t nmsg, capmsg;

/* WhatsApp's 24-hour customer service window: the last inbound message
 * of each user (POST /_sim/window), any of our senders. */
#define WA_WINDOW_S 86400
struct window {
	char *addr; /* whatsapp:+E164 */
	time_t last_in;
};
static struct window *windows;
static size_t nwindow;
/* --content-sid: the templates the account has; none given, any HX sid. */
static char **content_sids;
static size_t ncontent;
static size_t *sidtab; /* open addressing: index + 1, 0 = empty */
static size_t sidcap;
static struct mail *mails;
static size_t nmail, capmail;
static struct fault *faults;
static size_t nfault;
static struct bucket buckets[2]; /* 0: Twilio message create, 1: SendGrid mail send */
static struct ev *heap;
static size_t nheap, capheap;
static struct cbjob *cbhead, *cbtail;

/* ---- small helpers ---- */

static void
rfc2822(char out[40], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static int
is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* prefix + 32 hex digits, nothing more. */
static int
is_sid(const char *s, const char *prefix)
{
	return s && strlen(s) == 34 && strncmp(s, prefix, 2) == 0 && is_hex(s + 2, 32);
}

/* Addresses are checked by the rules twilio-send applies (addr.c), so that
 * what the pipeline would refuse, the simulator refuses too (21211). */
static int
is_e164(const char *s)
{
	return mlc_addr_e164_ok(s);
}

static int
is_whatsapp(const char *s)
{
	return mlc_addr_is_whatsapp(s);
}

static int
valid_to(const char *s)
{
	return is_whatsapp(s) ? mlc_addr_whatsapp_ok(s) : is_e164(s);
}

/* E.164, whatsapp:+E164, a short code, or an alphanumeric sender ID. */
static int
valid_from(const char *s)
{
	size_t i, n = strlen(s);
	int alpha = 0, ok = 1;

	if (is_whatsapp(s))
		return mlc_addr_whatsapp_ok(s);
	if (s[0] == '+')
		return is_e164(s);
	if (n == 0 || n > 11)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			alpha = 1;
		else if (!(c >= '0' && c <= '9') && c != ' ')
			ok = 0;
	}
	if (!ok)
		return 0;
	return alpha || (n >= 3 && n <= 8); /* alphanumeric, or a short code */
}

static const char *
hdr(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- the request log ---- */

static void
log_line(struct mlc_buf *b)
{
	/* O_APPEND and one write per line: lines from threads never interleave. */
	if (cfg.logfd >= 0)
		mlc_ndjson_put(cfg.logfd, b);
}

static void
log_time(struct mlc_buf *b)
{
	struct timespec ts;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	mlc_time_fmt(t, &ts);
	mlc_buf_adds(b, "{\"time\":\"");
	mlc_buf_adds(b, t);
	mlc_buf_addc(b, '"');
}

static void
json_str(struct mlc_buf *b, const char *s)
{
	if (s)
		mlc_buf_json_str(b, s, strlen(s));
	else
		mlc_buf_adds(b, "null");
}

/* A form as a JSON object; a repeated name becomes an array of its values. */
static void
json_form(struct mlc_buf *b, char **n, char **v, size_t c)
{
	size_t i, j, k;
	int first = 1;

	mlc_buf_addc(b, '{');
	for (i = 0; i < c; i++) {
		size_t reps = 0;

		for (j = 0; j < i; j++)
			if (strcmp(n[j], n[i]) == 0)
				break;
		if (j < i)
			continue; /* already written */
		for (k = i; k < c; k++)
			reps += strcmp(n[k], n[i]) == 0;
		if (!first)
			mlc_buf_addc(b, ',');
		first = 0;
		json_str(b, n[i]);
		mlc_buf_addc(b, ':');
		if (reps == 1) {
			json_str(b, v[i]);
			continue;
		}
		mlc_buf_addc(b, '[');
		for (k = i, reps = 0; k < c; k++) {
			if (strcmp(n[k], n[i]) != 0)
				continue;
			if (reps++)
				mlc_buf_addc(b, ',');
			json_str(b, v[k]);
		}
		mlc_buf_addc(b, ']');
	}
	mlc_buf_addc(b, '}');
}

/* ---- segments (reference §5.1) ---- */

static const char gsm_basic[] =
	"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
static const char gsm_ext[] = "\f^{}\\[~]|€";

static uint32_t
utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint32_t c = *p++;
	int k = 0;

	if (c >= 0xF0) {
		c &= 0x07;
		k = 3;
	} else if (c >= 0xE0) {
		c &= 0x0F;
		k = 2;
	} else if (c >= 0xC0) {
		c &= 0x1F;
		k = 1;
	}
	while (k-- > 0 && p < end)
		c = c << 6 | (*p++ & 0x3F);
	*pp = p;
	return c;
}

static int
in_set(const char *set, uint32_t cp)
{
	const unsigned char *p = (const unsigned char *)set, *end = p + strlen(set);

	while (p < end)
		if (utf8_next(&p, end) == cp)
			return 1;
	return 0;
}

/* UTF-16 code units of a UTF-8 string (the 1,600-character limit). */
static size_t
utf16_units(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t n = 0;

	while (p < end)
		n += utf8_next(&p, end) >= 0x10000 ? 2 : 1;
	return n;
}

/* GSM-7 when every character is in the basic or extension table (extension
 * characters take two septets), else UCS-2; one segment holds 160/70, a
 * multi-part one 153/67, and an escape pair or a surrogate pair never
 * straddles two segments. */
static unsigned
segments(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	int gsm = 1;
	size_t total = 0, seg = 1, fill = 0, cap;

	while (p < end) {
		uint32_t c = utf8_next(&p, end);

		if (!in_set(gsm_basic, c) && !in_set(gsm_ext, c)) {
			gsm = 0;
			break;
		}
	}
	if (!*s)
		return 1;
	p = (const unsigned char *)s;
	while (p < end) {
		uint32_t c = utf8_next(&p, end);

		total += gsm ? (in_set(gsm_ext, c) ? 2 : 1) : (c >= 0x10000 ? 2 : 1);
	}
	if (total <= (gsm ? 160u : 70u))
		return 1;
	cap = gsm ? 153 : 67;
	p = (const unsigned char *)s;
	while (p < end) {
		uint32_t c = utf8_next(&p, end);
		size_t w = gsm ? (in_set(gsm_ext, c) ? 2 : 1) : (c >= 0x10000 ? 2 : 1);

		if (fill + w > cap) {
			seg++;
			fill = 0;
		}
		fill += w;
	}
	return (unsigned)seg;
}

/* ---- messages: storage, lookup, JSON ---- */

static uint64_t
sid_hash(const char *sid)
{
	uint64_t h = 1469598103934665603u;

	for (; *sid; sid++)
		h = (h ^ (unsigned char)*sid) * 1099511628211u;
	return h;
}

static void
sidtab_put(size_t idx)
{
	size_t i;

	if ((nmsg + 1) * 2 > sidcap) {
		size_t old = sidcap, j;
		size_t *ot = sidtab;

		sidcap = sidcap ? sidcap * 2 : 1024;
		sidtab = mlc_xcalloc(sidcap, sizeof *sidtab);
		for (j = 0; j < old; j++) {
			if (!ot[j])
				continue;
			i = sid_hash(msgs[ot[j] - 1]->sid) & (sidcap - 1);
			while (sidtab[i])
				i = (i + 1) & (sidcap - 1);
			sidtab[i] = ot[j];
		}
		free(ot);
	}
	i = sid_hash(msgs[idx]->sid) & (sidcap - 1);
	while (sidtab[i])
		i = (i + 1) & (sidcap - 1);
	sidtab[i] = idx + 1;
}

static struct msg *
msg_find(const char *sid)
{
	size_t i;

	if (!sidcap)
		return NULL;
	for (i = sid_hash(sid) & (sidcap - 1); sidtab[i]; i = (i + 1) & (sidcap - 1))
		if (strcmp(msgs[sidtab[i] - 1]->sid, sid) == 0)
			return msgs[sidtab[i] - 1];
	return NULL;
}

static enum status
msg_status(const struct msg *m)
{
	return (enum status)m->path[m->step];
}

static const char *
error_text(int code)
{
	switch (code) {
	case 30001: return "Queue overflow";
	case 30002: return "Account suspended";
	case 30003: return "Unreachable destination handset";
	case 30004: return "Message blocked";
	case 30005: return "Unknown destination handset";
	case 30006: return "Landline or unreachable carrier";
	case 30007: return "Carrier violation";
	case 30008: return "Unknown error";
	case 63016: return "Failed to send freeform message because you are outside the allowed window. "
	                   "If you are using WhatsApp, please use a Message Template.";
	default: return "Message delivery failed";
	}
}

static const char *
msg_from(const struct msg *m)
{
	/* With only a Messaging Service the sender is chosen after "accepted". */
	if (m->from || msg_status(m) == ST_ACCEPTED)
		return m->from;
	return is_whatsapp(m->to) ? "whatsapp:+15005550006" : "+15005550006";
}

static void
msg_json(struct mlc_buf *b, const struct msg *m)
{
	char dc[40], du[40];
	const char *base = "/2010-04-01/Accounts/";
	enum status st = msg_status(m);
	int err = (st == ST_FAILED || st == ST_UNDELIVERED) ? m->error_code : 0;

	rfc2822(dc, m->created);
	rfc2822(du, m->updated);
	mlc_buf_adds(b, "{\"account_sid\":\"");
	mlc_buf_adds(b, cfg.account_sid);
	mlc_buf_adds(b, "\",\"api_version\":\"2010-04-01\",\"body\":");
	json_str(b, m->body);
	mlc_buf_printf(b, ",\"date_created\":\"%s\",\"date_sent\":\"%s\",\"date_updated\":\"%s\"", dc,
	               dc, du);
	mlc_buf_printf(b, ",\"direction\":\"%s\",\"error_code\":",
	               m->inbound ? "inbound" : "outbound-api");
	if (err)
		mlc_buf_printf(b, "%d,\"error_message\":", err);
	else
		mlc_buf_adds(b, "null,\"error_message\":");
	json_str(b, err ? error_text(err) : NULL);
	mlc_buf_adds(b, ",\"from\":");
	json_str(b, msg_from(m));
	mlc_buf_adds(b, ",\"messaging_service_sid\":");
	json_str(b, m->mss);
	mlc_buf_printf(b, ",\"num_media\":\"%u\",\"num_segments\":\"%u\"", m->num_media,
	               m->num_segments);
	mlc_buf_adds(b, ",\"price\":null,\"price_unit\":\"USD\",\"sid\":\"");
	mlc_buf_adds(b, m->sid);
	mlc_buf_printf(b, "\",\"status\":\"%s\",\"subresource_uris\":{", status_name[st]);
	mlc_buf_printf(b, "\"media\":\"%s%s/Messages/%s/Media.json\",", base, cfg.account_sid,
	               m->sid);
	mlc_buf_printf(b, "\"feedback\":\"%s%s/Messages/%s/Feedback.json\"},\"to\":", base,
	               cfg.account_sid, m->sid);
	json_str(b, m->to);
	mlc_buf_printf(b, ",\"uri\":\"%s%s/Messages/%s.json\"}", base, cfg.account_sid, m->sid);
}

/* ---- the lifecycle timer (a min-heap of due times) ---- */

static void
heap_push(uint64_t due, size_t idx)
{
	size_t i;

	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 256;
		heap = mlc_xrealloc(heap, capheap * sizeof *heap);
	}
	i = nheap++;
	while (i > 0 && heap[(i - 1) / 2].due > due) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].due = due;
	heap[i].idx = idx;
}

static struct ev
heap_pop(void)
{
	struct ev top = heap[0], last = heap[--nheap];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < nheap) {
		if (c + 1 < nheap && heap[c + 1].due < heap[c].due)
			c++;
		if (heap[c].due >= last.due)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap)
		heap[i] = last;
	return top;
}

static void webhook_enqueue(const char *url, const char *const *n, const char *const *v,
                            size_t k, const char *sid, const char *status, const char *kind);

/* Queue the status callback for m's current status (lock held). */
static void
callback_enqueue(const struct msg *m)
{
	const char *n[12], *v[12];
	size_t k = 0;
	enum status st = msg_status(m);
	char err[16], dlr[64];

	n[k] = "MessageSid", v[k++] = m->sid;
	n[k] = "SmsSid", v[k++] = m->sid;
	n[k] = "MessageStatus", v[k++] = status_name[st];
	n[k] = "SmsStatus", v[k++] = status_name[st];
	n[k] = "AccountSid", v[k++] = cfg.account_sid;
	if (msg_from(m))
		n[k] = "From", v[k++] = msg_from(m);
	n[k] = "To", v[k++] = m->to;
	n[k] = "ApiVersion", v[k++] = "2010-04-01";
	if (m->mss)
		n[k] = "MessagingServiceSid", v[k++] = m->mss;
	if (st == ST_FAILED || st == ST_UNDELIVERED) {
		snprintf(err, sizeof err, "%d", m->error_code);
		n[k] = "ErrorCode", v[k++] = err;
	}
	if (st == ST_DELIVERED || st == ST_UNDELIVERED) {
		struct tm tm;
		time_t t = mlc_httpd_now_s();

		gmtime_r(&t, &tm);
		snprintf(dlr, sizeof dlr, "%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1,
		         tm.tm_mday, tm.tm_hour, tm.tm_min);
		n[k] = "RawDlrDoneDate", v[k++] = dlr;
	}
	webhook_enqueue(m->callback, n, v, k, m->sid, status_name[st], NULL);
}

/* Queue a form POST of the k parameters n=v to url, signed (lock held);
 * kind names it in the request log (NULL: "callback"). */
static void
webhook_enqueue(const char *url, const char *const *n, const char *const *v, size_t k,
                const char *sid, const char *status, const char *kind)
{
	struct cbjob *j;
	struct mlc_buf body, pj;
	size_t i;

	j = mlc_xcalloc(1, sizeof *j);
	j->url = mlc_xstrdup(url);
	j->kind = kind;
	mlc_twsig_compute(cfg.auth_token, url, n, v, k, j->sig);
	mlc_buf_init(&body);
	mlc_buf_init(&pj);
	mlc_buf_addc(&pj, '{');
	for (i = 0; i < k; i++) {
		if (i) {
			mlc_buf_addc(&body, '&');
			mlc_buf_addc(&pj, ',');
		}
		mlc_buf_form_enc(&body, n[i], strlen(n[i]));
		mlc_buf_addc(&body, '=');
		mlc_buf_form_enc(&body, v[i], strlen(v[i]));
		json_str(&pj, n[i]);
		mlc_buf_addc(&pj, ':');
		json_str(&pj, v[i]);
	}
	mlc_buf_addc(&pj, '}');
	j->body = body.p;
	j->params_json = pj.p;
	snprintf(j->sid, sizeof j->sid, "%s", sid);
	j->status = status;
	if (cbtail)
		cbtail->next = j;
	else
		cbhead = j;
	cbtail = j;
	pthread_cond_signal(&cb_cv);
}

static void *
lifecycle_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		uint64_t now = mlc_time_mono_ms();

		if (!nheap) {
			pthread_cond_wait(&ev_cv, &mu);
			continue;
		}
		if (heap[0].due > now) {
			struct timespec ts;
			uint64_t wait = heap[0].due - now;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ev_cv, &mu, &ts);
			continue;
		}
		{
			struct ev e = heap_pop();
			struct msg *m;

			if (e.idx >= nmsg)
				continue;
			m = msgs[e.idx];
			if (m->step + 1 >= m->npath)
				continue;
			m->step++;
			m->updated = mlc_httpd_now_s();
			if (m->callback)
				callback_enqueue(m);
			if (m->step + 1 < m->npath)
				heap_push(now + (uint64_t)cfg.step_ms, e.idx);
		}
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static size_t
discard_cb(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static void *
callback_thread(void *arg)
{
	CURL *h = curl_easy_init();
	struct curl_slist *base = NULL;

	(void)arg;
	base = curl_slist_append(base, "Content-Type: application/x-www-form-urlencoded");
	base = curl_slist_append(base, "Accept: */*");
	pthread_mutex_lock(&mu);
	for (;;) {
		struct cbjob *j;
		struct curl_slist *hl = NULL, *p;
		char sigh[64], idem[80], idk[33], errbuf[CURL_ERROR_SIZE] = "";
		long code = 0;
		CURLcode rc;
		struct mlc_buf lb;

		while (!stopping && !cbhead)
			pthread_cond_wait(&cb_cv, &mu);
		if (stopping)
			break;
		j = cbhead;
		cbhead = j->next;
		if (!cbhead)
			cbtail = NULL;
		pthread_mutex_unlock(&mu);

		for (p = base; p; p = p->next)
			hl = curl_slist_append(hl, p->data);
		snprintf(sigh, sizeof sigh, "X-Twilio-Signature: %s", j->sig);
		mlc_httpd_hex(idk, 16);
		snprintf(idem, sizeof idem, "I-Twilio-Idempotency-Token: %s", idk);
		hl = curl_slist_append(hl, sigh);
		hl = curl_slist_append(hl, idem);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, j->url);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "TwilioProxy/1.1");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		if (cfg.callback_cainfo)
			curl_easy_setopt(h, CURLOPT_CAINFO, cfg.callback_cainfo);
		rc = curl_easy_perform(h);
		if (rc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_slist_free_all(hl);

		mlc_buf_init(&lb);
		log_time(&lb);
		mlc_buf_printf(&lb, ",\"kind\":\"%s\",\"url\":", j->kind ? j->kind : "callback");
		json_str(&lb, j->url);
		mlc_buf_printf(&lb, ",\"sid\":\"%s\",\"status\":\"%s\",\"signature\":\"%s\",\"params\":%s",
		               j->sid, j->status, j->sig, j->params_json);
		mlc_buf_printf(&lb, ",\"http_status\":%ld", code);
		if (rc != CURLE_OK) {
			mlc_buf_adds(&lb, ",\"error\":");
			json_str(&lb, *errbuf ? errbuf : curl_easy_strerror(rc));
		}
		mlc_buf_addc(&lb, '}');
		log_line(&lb);
		mlc_buf_free(&lb);
		free(j->url);
		free(j->body);
		free(j->params_json);
		free(j);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	curl_slist_free_all(base);
	curl_easy_cleanup(h);
	return NULL;
}

/* ---- faults ---- */

static void
fault_free(struct fault *f)
{
	free(f->spec);
	free(f->path);
	free(f->method);
	free(f->to);
}

static int
status_from_name(const char *s)
{
	int i;

	for (i = 0; i < ST_N; i++)
		if (strcmp(s, status_name[i]) == 0)
			return i;
	return -1;
}

/* Parse "KIND[:key=value,...]" into f; 0, or -1 with a message in err. */
static int
fault_parse(const char *spec, struct fault *f, char *err, size_t errlen)
{
	char *s = mlc_xstrdup(spec), *args = mlc_fault_kind(s), *tok, *val, *save = NULL;
	long v;

	memset(f, 0, sizeof *f);
	f->count = -1;
	f->retry_after = -1;
	f->spec = mlc_xstrdup(spec);
	if (strcmp(s, "429") == 0)
		f->kind = F_429;
	else if (strcmp(s, "5xx") == 0)
		f->kind = F_5XX, f->code = 500;
	else if (strcmp(s, "slow") == 0)
		f->kind = F_SLOW, f->ms = 1000;
	else if (strcmp(s, "drop-after-receipt") == 0)
		f->kind = F_DROP_AFTER;
	else if (strcmp(s, "drop-before") == 0)
		f->kind = F_DROP_BEFORE;
	else if (strcmp(s, "error") == 0)
		f->kind = F_ERROR;
	else if (strcmp(s, "rate") == 0)
		f->kind = F_RATE;
	else if (strcmp(s, "outcome") == 0)
		f->kind = F_OUTCOME, f->status = ST_DELIVERED;
	else {
		snprintf(err, errlen, "fault \"%s\": unknown kind \"%s\"", spec, s);
		goto bad;
	}
	for (tok = mlc_fault_item(args, &save, &val); tok; tok = mlc_fault_item(NULL, &save, &val)) {
		if (!val && strcmp(tok, "reused") == 0) {
			f->reused = 1;
			continue;
		}
		if (!val && f->kind == F_RATE) {
			char *end;

			f->rate = strtod(tok, &end);
			if (end == tok || *end || f->rate < 0) {
				snprintf(err, errlen, "fault \"%s\": bad rate", spec);
				goto bad;
			}
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "fault \"%s\": expected key=value at \"%s\"", spec, tok);
			goto bad;
		}
		if (strcmp(tok, "count") == 0) {
			if (mlc_fault_long(val, 0, 1000000000L, &f->count) < 0)
				goto badval;
		} else if (strcmp(tok, "skip") == 0) {
			if (mlc_fault_long(val, 0, 1000000000L, &f->skip) < 0)
				goto badval;
		} else if (strcmp(tok, "path") == 0) {
			free(f->path);
			f->path = mlc_xstrdup(val);
		} else if (strcmp(tok, "method") == 0) {
			free(f->method);
			f->method = mlc_xstrdup(val);
		} else if (strcmp(tok, "nth") == 0) {
			if (mlc_fault_long(val, 1, 1000000000L, &f->nth) < 0)
				goto badval;
		} else if (strcmp(tok, "to") == 0) {
			free(f->to);
			f->to = mlc_xstrdup(val);
		} else if (strcmp(tok, "retry-after") == 0 && f->kind == F_429) {
			if (mlc_fault_long(val, 0, 86400, &f->retry_after) < 0)
				goto badval;
		} else if (strcmp(tok, "code") == 0 && (f->kind == F_5XX || f->kind == F_ERROR)) {
			if (mlc_fault_long(val, 100, 99999, &v) < 0)
				goto badval;
			if (f->kind == F_5XX && v != 500 && v != 502 && v != 503 && v != 504)
				goto badval;
			f->code = (int)v;
		} else if (strcmp(tok, "ms") == 0 && f->kind == F_SLOW) {
			if (mlc_fault_long(val, 0, 3600000L, &f->ms) < 0)
				goto badval;
		} else if (strcmp(tok, "status") == 0 && f->kind == F_OUTCOME) {
			int st = status_from_name(val);

			if (st != ST_DELIVERED && st != ST_UNDELIVERED && st != ST_FAILED &&
			    st != ST_SENT && st != ST_READ)
				goto badval;
			f->status = st;
		} else if (strcmp(tok, "error") == 0 && f->kind == F_OUTCOME) {
			if (mlc_fault_long(val, 1, 99999, &v) < 0)
				goto badval;
			f->code = (int)v;
		} else if ((strcmp(tok, "n") == 0 || strcmp(tok, "rate") == 0) && f->kind == F_RATE) {
			char *end;

			f->rate = strtod(val, &end);
			if (end == val || *end || f->rate < 0)
				goto badval;
		} else {
			snprintf(err, errlen, "fault \"%s\": unknown key \"%s\"", spec, tok);
			goto bad;
		}
		continue;
badval:
		snprintf(err, errlen, "fault \"%s\": bad value for %s: \"%s\"", spec, tok, val);
		goto bad;
	}
	if (f->kind == F_ERROR && !f->code) {
		snprintf(err, errlen, "fault \"%s\": error needs code=", spec);
		goto bad;
	}
	if (f->kind == F_OUTCOME && !f->code)
		f->code = f->status == ST_FAILED ? 30008 : f->status == ST_UNDELIVERED ? 30003 : 0;
	free(s);
	return 0;
bad:
	free(s);
	fault_free(f);
	return -1;
}

static int
is_sendgrid_path(const char *p)
{
	return p && strncmp(p, "/v3/", 4) == 0;
}

static void
bucket_set(int which, double rate)
{
	buckets[which].rate = rate;
	buckets[which].tokens = rate > 1 ? rate : 1;
	clock_gettime(CLOCK_MONOTONIC, &buckets[which].last);
}

/* Add a parsed fault (lock held). A rate fault only sets the buckets. */
static void
fault_add(struct fault *f)
{
	if (f->kind == F_RATE) {
		if (!f->path || !is_sendgrid_path(f->path))
			bucket_set(0, f->rate);
		if (!f->path || is_sendgrid_path(f->path))
			bucket_set(1, f->rate);
		fault_free(f);
		return;
	}
	faults = mlc_xrealloc(faults, (nfault + 1) * sizeof *faults);
	faults[nfault++] = *f;
}

/* fault.c's patterns, and a path without '*' also matches the end of the
 * request's (path=/Messages.json: any account's). */
static int
path_match(const char *want, const char *path)
{
	size_t w = strlen(want), p = strlen(path);

	if (mlc_fault_path(want, path))
		return 1;
	return !(w && want[w - 1] == '*') && p >= w && strcmp(path + p - w, want) == 0;
}

/* Does f apply to this request, the conn_req-th of its connection?
 * Consumes a use when it does (lock held). */
static int
fault_take(struct fault *f, const char *method, const char *path, const char *to,
           unsigned long conn_req)
{
	if (f->count == 0)
		return 0;
	if (f->nth && conn_req != (unsigned long)f->nth)
		return 0;
	if (f->reused && conn_req < 2)
		return 0;
	if (f->path && !path_match(f->path, path))
		return 0;
	if (f->method && strcasecmp(f->method, method) != 0)
		return 0;
	if (f->to && (!to || strcmp(f->to, to) != 0))
		return 0;
	if (f->skip > 0) {
		f->skip--;
		return 0;
	}
	if (f->count > 0)
		f->count--;
	f->hits++;
	return 1;
}

static int
bucket_take(int which)
{
	struct bucket *b = &buckets[which];
	struct timespec now;
	double el, cap;

	if (b->rate <= 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	el = (double)(now.tv_sec - b->last.tv_sec) + (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
	b->last = now;
	cap = b->rate > 1 ? b->rate : 1;
	b->tokens += el * b->rate;
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

/* ---- responses ---- */

struct reply {
	int status;
	struct mlc_buf body;
	const char *ctype;
	char retry_after[24];
	char message_id[32];
	int www_auth;
	int sg_ratelimit;
	long sg_reset;
	int drop;           /* close the connection without an answer */
	unsigned long conn, conn_req; /* connection number, request number on it */
	const char *expect; /* the request's Expect header, for the log */
	char sid[35];
	const char *fault;  /* spec of the fault applied, for the log */
};

static void
tw_error(struct reply *r, int http, int code, const char *fmt, ...) MLC_PRINTF(4, 5);

static void
tw_error(struct reply *r, int http, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->status = http;
	r->ctype = "application/json; charset=utf-8";
	mlc_buf_reset(&r->body);
	mlc_buf_printf(&r->body, "{\"code\":%d,\"message\":", code);
	json_str(&r->body, msg);
	mlc_buf_printf(&r->body,
	               ",\"more_info\":\"https://www.twilio.com/docs/errors/%d\",\"status\":%d}",
	               code, http);
}

static void
sg_error1(struct mlc_buf *b, const char *message, const char *field, const char *help)
{
	if (b->len > 1)
		mlc_buf_addc(b, ',');
	mlc_buf_adds(b, "{\"message\":");
	json_str(b, message);
	mlc_buf_adds(b, ",\"field\":");
	json_str(b, field);
	mlc_buf_adds(b, ",\"help\":");
	json_str(b, help);
	mlc_buf_addc(b, '}');
}

static void
sg_error(struct reply *r, int http, const char *message, const char *field, const char *help)
{
	struct mlc_buf e;

	mlc_buf_init(&e);
	mlc_buf_addc(&e, '[');
	sg_error1(&e, message, field, help);
	mlc_buf_addc(&e, ']');
	r->status = http;
	r->ctype = "application/json";
	mlc_buf_reset(&r->body);
	mlc_buf_printf(&r->body, "{\"errors\":%s}", e.p);
	mlc_buf_free(&e);
}

static const char *
tw_code_text(int code)
{
	switch (code) {
	case 20003: return "Authenticate";
	case 20404: return "The requested resource was not found";
	case 20429: return "Too Many Requests";
	case 20500: return "Internal Server Error";
	case 20503: return "Service Unavailable";
	case 21211: return "The 'To' number is not a valid phone number.";
	case 21212: return "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID.";
	case 21408: return "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.";
	case 21606: return "The 'From' phone number provided is not a valid, message-capable Twilio phone number.";
	case 21610: return "Attempt to send to unsubscribed recipient";
	case 21611: return "This 'From' number has exceeded the maximum number of queued messages";
	case 21612: return "The 'To' phone number is not currently reachable via SMS.";
	case 21614: return "'To' number is not a valid mobile number";
	case 21617: return "The concatenated message body exceeds the 1600 character limit.";
	case 63016: return error_text(63016);
	default: return "Error";
	}
}

static int
tw_code_http(int code)
{
	switch (code) {
	case 20003: return 401;
	case 20404: return 404;
	case 20429: return 429;
	case 20500: return 500;
	case 20503: return 503;
	default: return code < 1000 ? code : 400;
	}
}

/* A fault's answer on either API. */
static void
fault_reply(struct reply *r, const struct fault *f, int sendgrid)
{
	int code = f->code;

	r->fault = f->spec;
	if (f->kind == F_429) {
		if (f->retry_after >= 0)
			snprintf(r->retry_after, sizeof r->retry_after, "%ld", f->retry_after);
		if (sendgrid) {
			r->status = 429;
			r->ctype = "application/json";
			mlc_buf_reset(&r->body);
			mlc_buf_adds(&r->body, "{\"errors\":[{\"field\":null,\"message\":\"too many requests\"}]}");
			r->sg_ratelimit = 1;
			r->sg_reset = (long)mlc_httpd_now_s() + (f->retry_after > 0 ? f->retry_after : 1);
		} else {
			tw_error(r, 429, 20429, "%s", tw_code_text(20429));
		}
		return;
	}
	if (f->kind == F_5XX) {
		if (sendgrid)
			sg_error(r, code, code == 503 ? "Service Unavailable" : "Internal Server Error",
			         NULL, NULL);
		else
			tw_error(r, code, code == 503 ? 20503 : 20500, "%s",
			         tw_code_text(code == 503 ? 20503 : 20500));
		return;
	}
	/* F_ERROR: Twilio codes (>= 10000) or a bare HTTP status. */
	if (sendgrid) {
		int http = tw_code_http(code);

		if (http == 401)
			sg_error(r, 401, "The provided authorization grant is invalid, expired, or revoked",
			         NULL, NULL);
		else if (http == 403)
			sg_error(r, 403,
			         "The from address does not match a verified Sender Identity. Mail cannot be "
			         "sent until this error is resolved. Visit "
			         "https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to "
			         "see the Sender Identity requirements",
			         "from", NULL);
		else
			sg_error(r, http, http == 413 ? "Payload Too Large" : "Bad Request", NULL, NULL);
		return;
	}
	if (code < 1000) {
		int tc = code == 401 ? 20003 : code == 404 ? 20404 : code == 429 ? 20429 :
		         code == 503 ? 20503 : code >= 500 ? 20500 : 20001;

		tw_error(r, code, tc, "%s", tc == 20001 ? "Simulated error" : tw_code_text(tc));
	} else
		tw_error(r, tw_code_http(code), code, "%s", tw_code_text(code));
	if (r->status == 401)
		r->www_auth = 1;
}

/* ---- per-request context ---- */

static size_t
form_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *o = s, *p = s;

	(void)cls;
	(void)c;
	/* Query strings are form-encoded, so '+' is a space, as Twilio reads them. */
	while (*p) {
		if (*p == '+') {
			*o++ = ' ';
			p++;
		} else if (p[0] == '%' && p[1] && p[2] && is_hex(p + 1, 2)) {
			char h[3] = { p[1], p[2], 0 };

			*o++ = (char)strtol(h, NULL, 16);
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}

struct kv {
	char **n, **v;
	size_t c;
};

static enum MHD_Result
kv_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct kv *q = cls;

	(void)kind;
	q->n = mlc_xrealloc(q->n, (q->c + 1) * sizeof *q->n);
	q->v = mlc_xrealloc(q->v, (q->c + 1) * sizeof *q->v);
	q->n[q->c] = mlc_xstrdup(key);
	q->v[q->c] = mlc_xstrdup(value ? value : "");
	q->c++;
	return MHD_YES;
}

/* ---- Twilio: auth ---- */

/* The Basic username (malloc'd) for the log; *ok = 1 if the pair is valid. */
static char *
basic_auth(struct MHD_Connection *c, int *ok)
{
	char *pass, *user = mlc_httpd_basic(hdr(c, "Authorization"), &pass);

	*ok = 0;
	if (!user)
		return NULL;
	if (strcmp(user, cfg.account_sid) == 0)
		*ok = strlen(pass) == strlen(cfg.auth_token) &&
		      sodium_memcmp(pass, cfg.auth_token, strlen(pass)) == 0;
	else if (cfg.api_key_sid && strcmp(user, cfg.api_key_sid) == 0)
		*ok = strlen(pass) == strlen(cfg.api_key_secret) &&
		      sodium_memcmp(pass, cfg.api_key_secret, strlen(pass)) == 0;
	sodium_memzero(pass, strlen(pass));
	free(pass);
	return user;
}

/* ---- Twilio: WhatsApp templates and the 24-hour window ---- */

/* Under mu: the window of to is open (its user wrote within 24 hours). */
static int
window_open(const char *to)
{
	size_t i;

	for (i = 0; i < nwindow; i++)
		if (strcmp(windows[i].addr, to) == 0)
			return mlc_httpd_now_s() - windows[i].last_in < WA_WINDOW_S;
	return 0;
}

/* Under mu: open (or move) the window of addr, its last inbound at t. */
static void
window_set(const char *addr, time_t t)
{
	size_t i;

	for (i = 0; i < nwindow; i++)
		if (strcmp(windows[i].addr, addr) == 0) {
			windows[i].last_in = t;
			return;
		}
	windows = mlc_xrealloc(windows, (nwindow + 1) * sizeof *windows);
	windows[nwindow].addr = mlc_xstrdup(addr);
	windows[nwindow].last_in = t;
	nwindow++;
}

static int
content_known(const char *sid)
{
	size_t i;

	if (!ncontent)
		return 1;
	for (i = 0; i < ncontent; i++)
		if (strcasecmp(content_sids[i], sid) == 0)
			return 1;
	return 0;
}

/* ContentVariables as Twilio's 21656 describes it: a JSON object whose
 * values are non-empty strings without a newline, a tab or more than 4
 * consecutive spaces. */
static int
content_vars_ok(const char *cv)
{
	jv o = jv_parse(cv), keys;
	int i, n, ok = jv_get_kind(o) == JV_KIND_OBJECT;

	if (!ok) {
		jv_free(o);
		return 0;
	}
	keys = jv_keys(jv_copy(o));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n && ok; i++) {
		jv v = jv_object_get(jv_copy(o), jv_array_get(jv_copy(keys), i));
		const char *t = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;

		ok = t && *t && !strpbrk(t, "\n\t") && !strstr(t, "     ");
		jv_free(v);
	}
	jv_free(keys);
	jv_free(o);
	return ok;
}

/* ---- opt-out: the pairs a STOP blocked (Twilio's default STOP filtering) ---- */

/*
 * A recipient's STOP (optout.c's keywords, or OptOutType STOP) to one of
 * our numbers, or to a number of a Messaging Service, blocks that pair: a
 * create from that number or service to them gets 21610 until START, YES
 * or UNSTOP (shared/reference/twilio.md §8.3, [STOP-KB]).  Lock held.
 */
struct stop {
	char *ours, *theirs;
};
static struct stop *stops;
static size_t nstop;

static size_t
stop_find(const char *ours, const char *theirs)
{
	size_t i;

	for (i = 0; i < nstop; i++)
		if (!strcmp(stops[i].ours, ours) && !strcmp(stops[i].theirs, theirs))
			return i;
	return (size_t)-1;
}

static int
stopped(const char *ours, const char *theirs)
{
	int r;

	if (!ours)
		return 0;
	pthread_mutex_lock(&mu);
	r = stop_find(ours, theirs) != (size_t)-1;
	pthread_mutex_unlock(&mu);
	return r;
}

static void
stop_set(const char *ours, const char *theirs, int on)
{
	size_t i = stop_find(ours, theirs);

	if (on && i == (size_t)-1) {
		stops = mlc_xrealloc(stops, (nstop + 1) * sizeof *stops);
		stops[nstop].ours = mlc_xstrdup(ours);
		stops[nstop].theirs = mlc_xstrdup(theirs);
		nstop++;
	} else if (!on && i != (size_t)-1) {
		free(stops[i].ours);
		free(stops[i].theirs);
		stops[i] = stops[--nstop];
	}
}

/* ---- Twilio: create ---- */

struct outcome {
	int status, error;
};

/* Under mu: m appended to the message list and its sid table; its index. */
static size_t
msg_add(struct msg *m)
{
	if (nmsg == capmsg) {
		capmsg = capmsg ? capmsg * 2 : 1024;
		msgs = mlc_xrealloc(msgs, capmsg * sizeof *msgs);
	}
	msgs[nmsg] = m;
	sidtab_put(nmsg);
	return nmsg++;
}

static void
create_message(struct reply *r, char **fn, char **fv, size_t fc, int have_form,
               const struct outcome *oc)
{
	const char *to = have_form ? mlc_form_get(fn, fv, fc, "To") : NULL;
	const char *from = have_form ? mlc_form_get(fn, fv, fc, "From") : NULL;
	const char *mss = have_form ? mlc_form_get(fn, fv, fc, "MessagingServiceSid") : NULL;
	const char *body = have_form ? mlc_form_get(fn, fv, fc, "Body") : NULL;
	const char *content = have_form ? mlc_form_get(fn, fv, fc, "ContentSid") : NULL;
	const char *cvars = have_form ? mlc_form_get(fn, fv, fc, "ContentVariables") : NULL;
	const char *cb = have_form ? mlc_form_get(fn, fv, fc, "StatusCallback") : NULL;
	unsigned media = 0;
	size_t i, idx;
	struct msg *m;
	uint64_t due;
	struct outcome out = *oc;
	int known;

	for (i = 0; i < fc; i++)
		media += strcmp(fn[i], "MediaUrl") == 0;
	if (from && !*from)
		from = NULL;
	if (mss && !*mss)
		mss = NULL;
	if (content && !*content)
		content = NULL;
	if (!to || !*to)
		return tw_error(r, 400, 21604, "A 'To' phone number is required.");
	if (!valid_to(to))
		return tw_error(r, 400, 21211, "The 'To' number %s is not a valid phone number.", to);
	if (!from && !mss)
		return tw_error(r, 400, 21603, "A 'From' phone number is required.");
	if (from && !valid_from(from))
		return tw_error(r, 400, 21212,
		                "The 'From' number %s is not a valid phone number, shortcode, or "
		                "alphanumeric sender ID.",
		                from);
	if (mss && !is_sid(mss, "MG"))
		return tw_error(r, 400, 21701, "The Messaging Service Sid %s is invalid.", mss);
	if (from && is_whatsapp(to) != is_whatsapp(from))
		return tw_error(r, 400, 21910,
		                "Invalid From and To pair. From and To should be of the same channel");
	if (from && strcmp(from, to) == 0)
		return tw_error(r, 400, 21211, "'To' and 'From' number cannot be the same: %s", to);
	if (!media && !content && (!body || !*body)) {
		if (body)
			return tw_error(r, 400, 21602, "Message body is required.");
		return tw_error(r, 400, 21619, "A text message body or media urls must be specified.");
	}
	if (body && !mlc_utf8_valid(body, strlen(body)))
		return tw_error(r, 400, 21618, "The message body cannot be sent.");
	if (body && utf16_units(body) > 1600)
		return tw_error(r, 400, 21617,
		                "The concatenated message body exceeds the 1600 character limit.");
	if (media > 10)
		return tw_error(r, 400, 21623, "Number of media files exceeds allowed limit");
	if (content && !is_sid(content, "HX"))
		return tw_error(r, 400, 21655, "The ContentSid is Invalid.");
	if (cvars && *cvars && !content)
		return tw_error(r, 400, 21654, "A ContentSid must be specified if ContentVariables are "
		                               "provided in the request.");
	pthread_mutex_lock(&mu);
	known = !content || content_known(content);
	/* A free-form WhatsApp message (Body or media, no template) outside the
	 * window is created, then fails with 63016 (reference §8.4: async). */
	if (is_whatsapp(to) && !content && !window_open(to))
		out.status = ST_FAILED, out.error = 63016;
	pthread_mutex_unlock(&mu);
	if (!known)
		return tw_error(r, 400, 21655, "The ContentSid is Invalid.");
	if (cvars && *cvars && !content_vars_ok(cvars))
		return tw_error(r, 400, 21656, "The ContentVariables Parameter is invalid.");
	if (cb) {
		const char *h = strstr(cb, "://"), *e;

		if ((strncmp(cb, "http://", 7) != 0 && strncmp(cb, "https://", 8) != 0) || !h ||
		    !h[3] || memchr(h + 3, '_', (e = h + 3 + strcspn(h + 3, "/?#")) - (h + 3)))
			return tw_error(r, 400, 21609, "Invalid StatusCallback url: %s", cb);
		(void)e;
	}
	/* Test-credential magic numbers (reference §1.1). */
	if (from && strcmp(from, "+15005550001") == 0)
		return tw_error(r, 400, 21212,
		                "The 'From' number %s is not a valid phone number, shortcode, or "
		                "alphanumeric sender ID.",
		                from);
	if (from && strcmp(from, "+15005550007") == 0)
		return tw_error(r, 400, 21606, "%s", tw_code_text(21606));
	if (from && strcmp(from, "+15005550008") == 0)
		return tw_error(r, 400, 21611, "%s", tw_code_text(21611));
	if (strcmp(to, "+15005550001") == 0)
		return tw_error(r, 400, 21211, "The 'To' number %s is not a valid phone number.", to);
	if (strcmp(to, "+15005550002") == 0)
		return tw_error(r, 400, 21612,
		                "The 'To' phone number: %s, is not currently reachable using the "
		                "'From' phone number: %s via SMS.",
		                to, from ? from : "");
	if (strcmp(to, "+15005550003") == 0)
		return tw_error(r, 400, 21408,
		                "Permission to send an SMS has not been enabled for the region "
		                "indicated by the 'To' number: %s.",
		                to);
	if (strcmp(to, "+15005550004") == 0 || stopped(mss ? mss : from, to))
		return tw_error(r, 400, 21610, "%s", tw_code_text(21610));
	if (strcmp(to, "+15005550009") == 0)
		return tw_error(r, 400, 21614, "%s", tw_code_text(21614));

	m = mlc_xcalloc(1, sizeof *m);
	m->sid[0] = media ? 'M' : 'S';
	m->sid[1] = 'M';
	mlc_httpd_hex(m->sid + 2, 16);
	m->to = mlc_xstrdup(to);
	m->from = from ? mlc_xstrdup(from) : NULL;
	m->body = mlc_xstrdup(body ? body : "");
	m->mss = mss ? mlc_xstrdup(mss) : NULL;
	m->callback = cb && *cb ? mlc_xstrdup(cb) : NULL;
	m->content = content ? mlc_xstrdup(content) : NULL;
	m->content_vars = content && cvars && *cvars ? mlc_xstrdup(cvars) : NULL;
	m->num_media = media;
	m->num_segments = segments(m->body);
	m->created = m->updated = mlc_httpd_now_s();
	if (mss)
		m->path[m->npath++] = ST_ACCEPTED;
	m->path[m->npath++] = ST_QUEUED;
	if (out.status == ST_FAILED) {
		m->path[m->npath++] = ST_FAILED;
	} else {
		m->path[m->npath++] = ST_SENDING;
		m->path[m->npath++] = ST_SENT;
		if (out.status == ST_UNDELIVERED)
			m->path[m->npath++] = ST_UNDELIVERED;
		else if (out.status == ST_DELIVERED || out.status == ST_READ)
			m->path[m->npath++] = ST_DELIVERED;
		if (out.status == ST_READ)
			m->path[m->npath++] = ST_READ;
	}
	m->error_code = out.error;

	pthread_mutex_lock(&mu);
	idx = msg_add(m);
	due = mlc_time_mono_ms() + (uint64_t)cfg.step_ms;
	heap_push(due, idx);
	pthread_cond_signal(&ev_cv);
	r->status = 201;
	r->ctype = "application/json; charset=utf-8";
	mlc_buf_reset(&r->body);
	msg_json(&r->body, m);
	memcpy(r->sid, m->sid, sizeof r->sid);
	pthread_mutex_unlock(&mu);
}

/* ---- Twilio: list ---- */

/* DateSent filter value: a day (YYYY-MM-DD) or an RFC 3339 time. */
static int
parse_day_or_time(const char *s, time_t *t, int *is_day)
{
	struct timespec ts;
	char buf[32];

	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
		*is_day = 1;
	} else {
		snprintf(buf, sizeof buf, "%s", s);
		*is_day = 0;
	}
	if (mlc_time_parse(buf, &ts) < 0)
		return -1;
	*t = ts.tv_sec;
	return 0;
}

static void
add_query(struct mlc_buf *b, const char *name, const char *value)
{
	mlc_buf_addc(b, b->p[b->len - 1] == '?' ? '\0' : '&');
	if (b->p[b->len - 1] == '\0')
		b->len--;
	mlc_buf_form_enc(b, name, strlen(name));
	mlc_buf_addc(b, '=');
	mlc_buf_form_enc(b, value, strlen(value));
}

static void
list_messages(struct reply *r, const struct kv *q)
{
	const char *to = mlc_form_get(q->n, q->v, q->c, "To");
	const char *from = mlc_form_get(q->n, q->v, q->c, "From");
	const char *names[3] = { "DateSent", "DateSent>", "DateSent<" };
	time_t t[3] = { 0, 0, 0 };
	int has[3] = { 0, 0, 0 }, day[3] = { 0, 0, 0 }, k;
	long size = 50, page = 0;
	const char *s;
	struct mlc_buf base, uri;
	size_t i, skipped = 0, count = 0;
	int more = 0;
	char lastsid[35] = "";

	for (k = 0; k < 3; k++) {
		if (!(s = mlc_form_get(q->n, q->v, q->c, names[k])))
			continue;
		if (parse_day_or_time(s, &t[k], &day[k]) < 0)
			return tw_error(r, 400, 20001, "Invalid %s: %s", names[k], s);
		has[k] = 1;
	}
	if ((s = mlc_form_get(q->n, q->v, q->c, "PageSize")) && mlc_fault_long(s, 1, 1000, &size) < 0)
		return tw_error(r, 400, 20001, "Invalid PageSize: %s", s);
	if ((s = mlc_form_get(q->n, q->v, q->c, "Page")) && mlc_fault_long(s, 0, 1000000, &page) < 0)
		return tw_error(r, 400, 20001, "Invalid Page: %s", s);

	mlc_buf_init(&base);
	mlc_buf_printf(&base, "/2010-04-01/Accounts/%s/Messages.json?", cfg.account_sid);
	if (to)
		add_query(&base, "To", to);
	if (from)
		add_query(&base, "From", from);
	for (k = 0; k < 3; k++)
		if (has[k])
			add_query(&base, names[k], mlc_form_get(q->n, q->v, q->c, names[k]));
	{
		char ps[24];

		snprintf(ps, sizeof ps, "%ld", size);
		add_query(&base, "PageSize", ps);
	}
	r->status = 200;
	r->ctype = "application/json; charset=utf-8";
	mlc_buf_reset(&r->body);
	mlc_buf_adds(&r->body, "{\"messages\":[");
	pthread_mutex_lock(&mu);
	/* Newest first, as Twilio lists them. */
	for (i = nmsg; i-- > 0;) {
		const struct msg *m = msgs[i];
		time_t ds = m->created;

		if (to && strcmp(m->to, to) != 0)
			continue;
		if (from && (!msg_from(m) || strcmp(msg_from(m), from) != 0))
			continue;
		if (has[0] && (day[0] ? (ds < t[0] || ds >= t[0] + 86400) : ds != t[0]))
			continue;
		if (has[1] && ds < t[1])
			continue;
		if (has[2] && (day[2] ? ds >= t[2] + 86400 : ds > t[2]))
			continue;
		if (skipped < (size_t)(page * size)) {
			skipped++;
			continue;
		}
		if (count == (size_t)size) {
			more = 1;
			break;
		}
		if (count++)
			mlc_buf_addc(&r->body, ',');
		msg_json(&r->body, m);
		memcpy(lastsid, m->sid, sizeof lastsid);
	}
	pthread_mutex_unlock(&mu);
	mlc_buf_init(&uri);
	mlc_buf_printf(&r->body, "],\"page\":%ld,\"page_size\":%ld", page, size);
	mlc_buf_printf(&r->body, ",\"uri\":\"%s&Page=%ld\"", base.p, page);
	mlc_buf_printf(&r->body, ",\"first_page_uri\":\"%s&Page=0\"", base.p);
	if (more)
		mlc_buf_printf(&r->body, ",\"next_page_uri\":\"%s&Page=%ld&PageToken=PA%s\"", base.p,
		               page + 1, lastsid + 2);
	else
		mlc_buf_adds(&r->body, ",\"next_page_uri\":null");
	if (page > 0)
		mlc_buf_printf(&r->body, ",\"previous_page_uri\":\"%s&Page=%ld\"", base.p, page - 1);
	else
		mlc_buf_adds(&r->body, ",\"previous_page_uri\":null");
	mlc_buf_printf(&r->body, ",\"start\":%ld,\"end\":%ld}", page * size,
	               count ? page * size + (long)count - 1 : page * size);
	mlc_buf_free(&uri);
	mlc_buf_free(&base);
}

static void
account_json(struct reply *r)
{
	static const char *const subs[] = {
		"available_phone_numbers", "AvailablePhoneNumbers", "calls", "Calls",
		"conferences", "Conferences", "incoming_phone_numbers", "IncomingPhoneNumbers",
		"notifications", "Notifications", "outgoing_caller_ids", "OutgoingCallerIds",
		"recordings", "Recordings", "transcriptions", "Transcriptions", "addresses",
		"Addresses", "signing_keys", "SigningKeys", "connect_apps", "ConnectApps", "sip",
		"SIP", "authorized_connect_apps", "AuthorizedConnectApps", "usage", "Usage", "keys",
		"Keys", "applications", "Applications", "short_codes", "SMS/ShortCodes", "queues",
		"Queues", "messages", "Messages", "balance", "Balance"
	};
	const char *a = cfg.account_sid;
	size_t i;

	r->status = 200;
	r->ctype = "application/json; charset=utf-8";
	mlc_buf_reset(&r->body);
	mlc_buf_adds(&r->body, "{\"auth_token\":");
	json_str(&r->body, cfg.auth_token);
	mlc_buf_printf(&r->body,
	               ",\"date_created\":\"Thu, 30 Jul 2015 20:00:00 +0000\","
	               "\"date_updated\":\"Thu, 30 Jul 2015 20:00:00 +0000\","
	               "\"friendly_name\":\"ml-connector simulator\",\"owner_account_sid\":\"%s\","
	               "\"sid\":\"%s\",\"status\":\"active\",\"subresource_uris\":{",
	               a, a);
	for (i = 0; i < sizeof subs / sizeof *subs; i += 2)
		mlc_buf_printf(&r->body, "%s\"%s\":\"/2010-04-01/Accounts/%s/%s.json\"", i ? "," : "",
		               subs[i], a, subs[i + 1]);
	mlc_buf_printf(&r->body, "},\"type\":\"Full\",\"uri\":\"/2010-04-01/Accounts/%s.json\"}", a);
}

/* ---- SendGrid ---- */

static jv
jget(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(o), jv_string(k));
}

/* An e-mail address by the rules twilio-send applies (addr.c); a NUL
 * inside (\u0000) is a control character too. */
static int
valid_email(jv e)
{
	const char *s;

	if (jv_get_kind(e) != JV_KIND_STRING)
		return 0;
	s = jv_string_value(e);
	return (size_t)jv_string_length_bytes(jv_copy(e)) == strlen(s) && mlc_addr_email_ok(s);
}

static const char *
kind_word(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING: return "string";
	case JV_KIND_NUMBER: return "number";
	case JV_KIND_ARRAY: return "array";
	case JV_KIND_OBJECT: return "object";
	case JV_KIND_NULL: return "null";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return "boolean";
	default: return "invalid";
	}
}

/* ca is consumed. */
static void
sg_custom_args(struct mlc_buf *e, jv ca, const char *field)
{
	char msg[128], f[160];

	if (!jv_is_valid(ca)) {
		jv_free(ca);
		return;
	}
	if (jv_get_kind(ca) != JV_KIND_OBJECT) {
		snprintf(msg, sizeof msg, "Invalid type. Expected: object, given: %s.", kind_word(ca));
		sg_error1(e, msg, field, NULL);
		jv_free(ca);
		return;
	}
	/* The iterator functions do not consume ca; keys and values are copies. */
	jv_object_foreach(ca, key, val) {
		if (jv_get_kind(val) != JV_KIND_STRING) {
			snprintf(msg, sizeof msg, "Invalid type. Expected: string, given: %s.",
			         kind_word(val));
			snprintf(f, sizeof f, "%s.%s", field, jv_string_value(key));
			sg_error1(e, msg, f, NULL);
		}
		jv_free(key);
		jv_free(val);
	}
	jv_free(ca);
}

#define SG_HELP "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

/* Validate a mail send body; errors go to e (a JSON array body).  Returns
 * 1 for sandbox mode (valid, 200, not sent). */
static int
sg_validate(jv mail, struct mlc_buf *e)
{
	jv ps = jget(mail, "personalizations"), from = jget(mail, "from");
	jv subject = jget(mail, "subject"), content = jget(mail, "content");
	jv tmpl = jget(mail, "template_id"), ms = jget(mail, "mail_settings");
	jv sb = jget(ms, "sandbox_mode"), en = jget(sb, "enable");
	int np = jv_get_kind(ps) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ps)) : 0;
	int has_tmpl = jv_get_kind(tmpl) == JV_KIND_STRING && *jv_string_value(tmpl);
	int all_subj = np > 0, i, j, recipients = 0, sandbox = jv_get_kind(en) == JV_KIND_TRUE;
	char f[96];

	if (np == 0)
		sg_error1(e, "The personalizations field is required and must have at least one "
		             "personalization.",
		          "personalizations", SG_HELP "#-Personalizations-Errors");
	else if (np > 1000)
		sg_error1(e, "The personalizations field may not have more than 1000 personalizations.",
		          "personalizations", SG_HELP "#-Personalizations-Errors");
	for (i = 0; i < np && i < 1000; i++) {
		jv p = jv_array_get(jv_copy(ps), i);
		jv ps_subj = jget(p, "subject");
		static const char *const lists[] = { "to", "cc", "bcc" };
		int l;

		if (jv_get_kind(ps_subj) != JV_KIND_STRING || !*jv_string_value(ps_subj))
			all_subj = 0;
		jv_free(ps_subj);
		for (l = 0; l < 3; l++) {
			jv to = jget(p, lists[l]);
			int nt = jv_get_kind(to) == JV_KIND_ARRAY ? jv_array_length(jv_copy(to)) : 0;

			if (l == 0 && nt == 0) {
				snprintf(f, sizeof f, "personalizations.%d.to", i);
				sg_error1(e, "The to array is required for all personalization objects, and "
				             "must have at least one email object with a valid email address.",
				          f, SG_HELP "#message.personalizations.to");
			}
			for (j = 0; j < nt; j++) {
				jv r = jv_array_get(jv_copy(to), j);
				jv em = jget(r, "email");

				recipients++;
				if (!valid_email(em)) {
					snprintf(f, sizeof f, "personalizations.%d.%s.%d.email", i, lists[l], j);
					sg_error1(e, "Does not contain a valid address.", f,
					          SG_HELP "#message.personalizations.to");
				}
				jv_free(em);
				jv_free(r);
			}
			jv_free(to);
		}
		snprintf(f, sizeof f, "personalizations.%d.custom_args", i);
		sg_custom_args(e, jget(p, "custom_args"), f);
		jv_free(p);
	}
	if (recipients > 1000)
		sg_error1(e, "The total number of recipients (to, cc and bcc) must be less than or "
		             "equal to 1000.",
		          "personalizations", SG_HELP "#-Personalizations-Errors");
	if (jv_get_kind(from) != JV_KIND_OBJECT) {
		sg_error1(e, "The from object must be provided for every email send. It is an object "
		             "that requires an email parameter, but may also contain a name parameter.",
		          "from", SG_HELP "#message.from");
	} else {
		jv em = jget(from, "email");

		if (!valid_email(em))
			sg_error1(e, "The from email does not contain a valid address.", "from.email",
			          SG_HELP "#message.from");
		jv_free(em);
	}
	if (!has_tmpl && !all_subj &&
	    (jv_get_kind(subject) != JV_KIND_STRING || !*jv_string_value(subject)))
		sg_error1(e, "The subject is required. You can get around this requirement if you use "
		             "a template with a subject defined or if every personalization has a "
		             "subject defined.",
		          "subject", SG_HELP "#message.subject");
	if (jv_get_kind(content) != JV_KIND_ARRAY || jv_array_length(jv_copy(content)) == 0) {
		if (!has_tmpl)
			sg_error1(e, "Unless a valid template_id is provided, the content parameter is "
			             "required. There must be at least one defined content block. We "
			             "typically suggest both text/plain and text/html blocks are included, "
			             "but only one block is required.",
			          "content", SG_HELP "#message.content");
	} else {
		int nc = jv_array_length(jv_copy(content)), plain = -1, html = -1;

		for (i = 0; i < nc; i++) {
			jv c = jv_array_get(jv_copy(content), i);
			jv t = jget(c, "type"), v = jget(c, "value");

			if (jv_get_kind(t) != JV_KIND_STRING || !*jv_string_value(t) ||
			    strpbrk(jv_string_value(t), ";\r\n")) {
				snprintf(f, sizeof f, "content.%d.type", i);
				sg_error1(e, "The content type cannot contain ';', or CRLF characters, and "
				             "must be at least one character.",
				          f, SG_HELP "#message.content.type");
			} else if (strcmp(jv_string_value(t), "text/plain") == 0 && plain < 0) {
				plain = i;
			} else if (strcmp(jv_string_value(t), "text/html") == 0 && html < 0) {
				html = i;
			}
			if (jv_get_kind(v) != JV_KIND_STRING || !*jv_string_value(v)) {
				snprintf(f, sizeof f, "content.%d.value", i);
				sg_error1(e, "The content value must be a string at least one character in "
				             "length.",
				          f, SG_HELP "#message.content.value");
			}
			jv_free(t);
			jv_free(v);
			jv_free(c);
		}
		if ((plain > 0) || (html >= 0 && html != (plain == 0 ? 1 : 0)))
			sg_error1(e, "text/plain must be first, followed by text/html", "content",
			          SG_HELP "#message.content");
	}
	sg_custom_args(e, jget(mail, "custom_args"), "custom_args");
	jv_free(ps);
	jv_free(from);
	jv_free(subject);
	jv_free(content);
	jv_free(tmpl);
	jv_free(ms);
	jv_free(sb);
	jv_free(en);
	return sandbox;
}

static void
mail_send(struct reply *r, const char *ctype, const char *body, size_t len, jv *parsed)
{
	jv mail;
	struct mlc_buf e;
	int sandbox;
	static const char idc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	if (len > SG_MAX_BODY)
		return sg_error(r, 413, "Payload Too Large", NULL, NULL);
	if (!ctype || strncasecmp(ctype, "application/json", 16) != 0)
		return sg_error(r, 415, "Content-Type should be application/json.", NULL, NULL);
	mail = jv_parse_sized(body, (int)len);
	if (jv_get_kind(mail) != JV_KIND_OBJECT) {
		jv_free(mail);
		return sg_error(r, 400, "Bad Request", NULL, NULL);
	}
	*parsed = jv_copy(mail);
	mlc_buf_init(&e);
	mlc_buf_addc(&e, '[');
	sandbox = sg_validate(mail, &e);
	jv_free(mail);
	if (e.len > 1) {
		mlc_buf_addc(&e, ']');
		r->status = 400;
		r->ctype = "application/json";
		mlc_buf_reset(&r->body);
		mlc_buf_printf(&r->body, "{\"errors\":%s}", e.p);
		mlc_buf_free(&e);
		return;
	}
	mlc_buf_free(&e);
	mlc_buf_reset(&r->body);
	r->ctype = NULL;
	if (sandbox) {
		r->status = 200;
		return;
	}
	r->status = 202;
	for (i = 0; i < 22; i++)
		r->message_id[i] = idc[randombytes_uniform(sizeof idc - 1)];
	r->message_id[22] = '\0';
	pthread_mutex_lock(&mu);
	if (nmail == capmail) {
		capmail = capmail ? capmail * 2 : 256;
		mails = mlc_xrealloc(mails, capmail * sizeof *mails);
	}
	memcpy(mails[nmail].id, r->message_id, sizeof mails[nmail].id);
	mails[nmail].json = mlc_xstrndup(body, len);
	mails[nmail].at = mlc_httpd_now_s();
	nmail++;
	pthread_mutex_unlock(&mu);
}

/* ---- /_sim control ---- */

static void
reset_state(void)
{
	size_t i;
	struct cbjob *j;

	for (i = 0; i < nmsg; i++) {
		free(msgs[i]->to);
		free(msgs[i]->from);
		free(msgs[i]->body);
		free(msgs[i]->mss);
		free(msgs[i]->callback);
		free(msgs[i]->content);
		free(msgs[i]->content_vars);
		free(msgs[i]);
	}
	free(msgs);
	msgs = NULL;
	nmsg = capmsg = 0;
	free(sidtab);
	sidtab = NULL;
	sidcap = 0;
	for (i = 0; i < nwindow; i++)
		free(windows[i].addr);
	free(windows);
	windows = NULL;
	nwindow = 0;
	for (i = 0; i < nstop; i++) {
		free(stops[i].ours);
		free(stops[i].theirs);
	}
	free(stops);
	stops = NULL;
	nstop = 0;
	for (i = 0; i < nmail; i++)
		free(mails[i].json);
	free(mails);
	mails = NULL;
	nmail = capmail = 0;
	for (i = 0; i < nfault; i++)
		fault_free(&faults[i]);
	free(faults);
	faults = NULL;
	nfault = 0;
	nheap = 0;
	while ((j = cbhead)) {
		cbhead = j->next;
		free(j->url);
		free(j->body);
		free(j->params_json);
		free(j);
	}
	cbtail = NULL;
	bucket_set(0, cfg.rate);
	bucket_set(1, cfg.rate);
}

/*
 * POST /_sim/inbound: a recipient sends us a message.  Form fields From,
 * To (ours), Body, and optionally MessagingServiceSid, OptOutType (as
 * Advanced Opt-Out adds it) and Deliveries (1 to 5, default 1: how often
 * the webhook is delivered, for Twilio's retries).  The message joins the
 * Messages list (direction inbound, status received); a STOP blocks the
 * pair, START lifts it (stop_set); with --inbound-url the incoming-message
 * webhook is POSTed there, signed, with Twilio's parameters
 * (shared/reference/twilio.md §8.1).  201 and the message resource.
 */
static void
sim_inbound(struct reply *r, const char *body, size_t len)
{
	char **fn = NULL, **fv = NULL, segs[16], waid[40];
	size_t fc = 0, k = 0;
	const char *from, *to, *text, *mss, *oot, *d, *n[20], *v[20];
	long times = 1, t;
	struct msg *m;
	int kw;

	if (mlc_form_parse(body, len, &fn, &fv, &fc) < 0) {
		r->status = 400;
		mlc_buf_adds(&r->body, "{\"error\":\"malformed form\"}");
		return;
	}
	from = mlc_form_get(fn, fv, fc, "From");
	to = mlc_form_get(fn, fv, fc, "To");
	text = mlc_form_get(fn, fv, fc, "Body");
	mss = mlc_form_get(fn, fv, fc, "MessagingServiceSid");
	oot = mlc_form_get(fn, fv, fc, "OptOutType");
	if ((d = mlc_form_get(fn, fv, fc, "Deliveries")) && mlc_fault_long(d, 1, 5, &times) < 0)
		times = -1;
	if (!from || !to || !valid_to(from) || !valid_to(to) || is_whatsapp(from) != is_whatsapp(to) ||
	    (mss && !is_sid(mss, "MG")) || times < 0) {
		mlc_form_free(fn, fv, fc);
		r->status = 400;
		mlc_buf_adds(&r->body, "{\"error\":\"From, To: numbers of one channel; "
		                       "MessagingServiceSid MG...; Deliveries 1 to 5\"}");
		return;
	}
	m = mlc_xcalloc(1, sizeof *m);
	memcpy(m->sid, "SM", 2);
	mlc_httpd_hex(m->sid + 2, 16);
	m->to = mlc_xstrdup(to);
	m->from = mlc_xstrdup(from);
	m->body = mlc_xstrdup(text ? text : "");
	m->mss = mss ? mlc_xstrdup(mss) : NULL;
	m->inbound = 1;
	m->num_segments = segments(m->body);
	m->created = m->updated = mlc_httpd_now_s();
	m->path[m->npath++] = ST_RECEIVED;
	kw = mlc_optout_classify(m->body, oot);
	snprintf(segs, sizeof segs, "%u", m->num_segments);
	n[k] = "MessageSid", v[k++] = m->sid;
	n[k] = "SmsSid", v[k++] = m->sid;
	n[k] = "SmsMessageSid", v[k++] = m->sid;
	n[k] = "AccountSid", v[k++] = cfg.account_sid;
	if (mss)
		n[k] = "MessagingServiceSid", v[k++] = mss;
	n[k] = "From", v[k++] = from;
	n[k] = "To", v[k++] = to;
	n[k] = "Body", v[k++] = m->body;
	n[k] = "NumMedia", v[k++] = "0";
	n[k] = "NumSegments", v[k++] = segs;
	n[k] = "SmsStatus", v[k++] = "received";
	n[k] = "ApiVersion", v[k++] = "2010-04-01";
	if (oot)
		n[k] = "OptOutType", v[k++] = oot;
	if (is_whatsapp(from)) {
		snprintf(waid, sizeof waid, "%s", from + strlen("whatsapp:+"));
		n[k] = "ProfileName", v[k++] = "Sim User";
		n[k] = "WaId", v[k++] = waid;
	}
	pthread_mutex_lock(&mu);
	msg_add(m);
	if (kw == MLC_KW_STOP || kw == MLC_KW_START)
		stop_set(mss ? mss : to, from, kw == MLC_KW_STOP);
	if (is_whatsapp(from))
		window_set(from, mlc_httpd_now_s()); /* a user who writes opens the 24-hour window */
	for (t = 0; cfg.inbound_url && t < times; t++)
		webhook_enqueue(cfg.inbound_url, n, v, k, m->sid, "received", "inbound");
	r->status = 201;
	msg_json(&r->body, m);
	pthread_mutex_unlock(&mu);
	mlc_form_free(fn, fv, fc);
}

static void
sim_control(struct reply *r, const char *method, const char *path, const char *body, size_t len)
{
	size_t i;

	r->status = 200;
	r->ctype = "application/json";
	mlc_buf_reset(&r->body);
	if (strcmp(path, "/_sim/messages") == 0 && strcmp(method, "GET") == 0) {
		r->ctype = "application/x-ndjson";
		pthread_mutex_lock(&mu);
		for (i = 0; i < nmsg; i++) {
			size_t k;

			mlc_buf_adds(&r->body, "{\"kind\":\"message\",\"status_history\":[");
			for (k = 0; k <= msgs[i]->step; k++)
				mlc_buf_printf(&r->body, "%s\"%s\"", k ? "," : "",
				               status_name[msgs[i]->path[k]]);
			mlc_buf_adds(&r->body, "],\"status_callback\":");
			json_str(&r->body, msgs[i]->callback);
			mlc_buf_adds(&r->body, ",\"content_sid\":");
			json_str(&r->body, msgs[i]->content);
			mlc_buf_adds(&r->body, ",\"content_variables\":");
			json_str(&r->body, msgs[i]->content_vars);
			mlc_buf_adds(&r->body, ",\"resource\":");
			msg_json(&r->body, msgs[i]);
			mlc_buf_adds(&r->body, "}\n");
		}
		for (i = 0; i < nmail; i++) {
			char t[32];
			struct timespec ts = { mails[i].at, 0 };

			mlc_time_fmt(t, &ts);
			mlc_buf_printf(&r->body,
			               "{\"kind\":\"mail\",\"x_message_id\":\"%s\",\"accepted_at\":\"%s\","
			               "\"mail\":%s}\n",
			               mails[i].id, t, mails[i].json);
		}
		pthread_mutex_unlock(&mu);
		return;
	}
	if (strcmp(path, "/_sim/faults") == 0 && strcmp(method, "GET") == 0) {
		pthread_mutex_lock(&mu);
		mlc_buf_adds(&r->body, "{\"faults\":[");
		for (i = 0; i < nfault; i++) {
			mlc_buf_adds(&r->body, i ? ",{\"spec\":" : "{\"spec\":");
			json_str(&r->body, faults[i].spec);
			mlc_buf_printf(&r->body, ",\"left\":%ld,\"hits\":%ld}", faults[i].count,
			               faults[i].hits);
		}
		mlc_buf_printf(&r->body, "],\"rate\":%g,\"mail_rate\":%g}", buckets[0].rate,
		               buckets[1].rate);
		pthread_mutex_unlock(&mu);
		return;
	}
	if (strcmp(path, "/_sim/inbound") == 0 && strcmp(method, "POST") == 0)
		return sim_inbound(r, body, len);
	if (strcmp(path, "/_sim/clock") == 0 && strcmp(method, "POST") == 0) {
		/* the body: a time as ML_CONNECTOR_NOW takes it (RFC 3339 or
		 * @epoch); the simulator's clock stays there until set again */
		char *text = mlc_xstrndup(body, len), t[32];
		struct timespec ts;

		text[strcspn(text, "\r\n")] = '\0';
		if (mlc_time_parse(text, &ts) != 0 || ts.tv_sec <= 0) {
			r->status = 400;
			mlc_buf_adds(&r->body, "{\"error\":");
			json_str(&r->body, "expected a time (RFC 3339 or @epoch)");
			mlc_buf_addc(&r->body, '}');
		} else {
			mlc_httpd_set_now(ts.tv_sec);
			ts.tv_nsec = 0;
			mlc_time_fmt(t, &ts);
			mlc_buf_printf(&r->body, "{\"ok\":true,\"now\":\"%s\"}", t);
		}
		free(text);
		return;
	}
	if (strcmp(path, "/_sim/reset") == 0 && strcmp(method, "POST") == 0) {
		pthread_mutex_lock(&mu);
		reset_state();
		pthread_mutex_unlock(&mu);
		mlc_buf_adds(&r->body, "{\"ok\":true}");
		return;
	}
	if (strcmp(path, "/_sim/window") == 0 && strcmp(method, "POST") == 0) {
		/* lines "ADDRESS [SECONDS_AGO]": the user's last inbound message */
		char *text = mlc_xstrndup(body, len), *line, *save = NULL, err[256] = "";
		char **addr = NULL;
		long *ago = NULL;
		size_t na = 0;

		for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
			char a[64], extra[2];
			long sec = 0;
			int k;

			if (!*line || *line == '#')
				continue;
			k = sscanf(line, "%63s %ld %1s", a, &sec, extra);
			if (k < 1 || k > 2 || sec < 0 || !mlc_addr_whatsapp_ok(a)) {
				snprintf(err, sizeof err, "bad line \"%.100s\" (whatsapp:+E164 [SECONDS_AGO])",
				         line);
				break;
			}
			addr = mlc_xrealloc(addr, (na + 1) * sizeof *addr);
			ago = mlc_xrealloc(ago, (na + 1) * sizeof *ago);
			addr[na] = mlc_addr_whatsapp(a);
			ago[na++] = sec;
		}
		if (*err) {
			r->status = 400;
			mlc_buf_adds(&r->body, "{\"error\":");
			json_str(&r->body, err);
			mlc_buf_addc(&r->body, '}');
		} else {
			pthread_mutex_lock(&mu);
			for (i = 0; i < na; i++)
				window_set(addr[i], mlc_httpd_now_s() - ago[i]);
			pthread_mutex_unlock(&mu);
			mlc_buf_printf(&r->body, "{\"ok\":true,\"windows\":%zu}", na);
		}
		for (i = 0; i < na; i++)
			free(addr[i]);
		free(addr);
		free(ago);
		free(text);
		return;
	}
	if (strcmp(path, "/_sim/fault") == 0 && strcmp(method, "POST") == 0) {
		char *text = mlc_xstrndup(body, len), *line, *save = NULL;
		char err[256] = "";
		struct fault *tmp = NULL;
		size_t nt = 0;

		/* All or nothing: parse every line before adding any. */
		for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
			if (!*line || *line == '#')
				continue;
			tmp = mlc_xrealloc(tmp, (nt + 1) * sizeof *tmp);
			if (fault_parse(line, &tmp[nt], err, sizeof err) < 0)
				break;
			nt++;
		}
		if (*err) {
			for (i = 0; i < nt; i++)
				fault_free(&tmp[i]);
			r->status = 400;
			mlc_buf_adds(&r->body, "{\"error\":");
			json_str(&r->body, err);
			mlc_buf_addc(&r->body, '}');
		} else {
			pthread_mutex_lock(&mu);
			for (i = 0; i < nt; i++)
				fault_add(&tmp[i]);
			pthread_mutex_unlock(&mu);
			mlc_buf_printf(&r->body, "{\"ok\":true,\"added\":%zu}", nt);
		}
		free(tmp);
		free(text);
		return;
	}
	r->status = 404;
	mlc_buf_adds(&r->body, "{\"error\":\"unknown /_sim endpoint\"}");
}

/* GET /v3/scopes: the key's permissions, {"scopes":[...]} (SendGrid's API
 * reference, "Retrieve a list of scopes for which this user has access"). */
static void
scopes_json(struct reply *r)
{
	const char *p = cfg.sendgrid_scopes, *e;
	int n = 0;

	r->status = 200;
	r->ctype = "application/json";
	mlc_buf_reset(&r->body);
	mlc_buf_adds(&r->body, "{\"scopes\":[");
	while (*p) {
		e = p + strcspn(p, ",");
		if (e > p) {
			mlc_buf_adds(&r->body, n++ ? ",\"" : "\"");
			mlc_buf_add(&r->body, p, (size_t)(e - p));
			mlc_buf_addc(&r->body, '"');
		}
		p = *e ? e + 1 : e;
	}
	mlc_buf_adds(&r->body, "]}");
}

/* ---- routing ---- */

enum route { R_NONE, R_CREATE, R_LIST, R_FETCH, R_ACCOUNT, R_MAIL, R_SCOPES, R_SIM, R_TW_OTHER };

/* Parse /2010-04-01/Accounts/{AC}[.json | /Messages.json | /Messages/{SM}.json]. */
static enum route
route_of(const char *method, const char *path, char acct[64], char sid[64])
{
	const char *p, *slash;
	static const char pre[] = "/2010-04-01/Accounts/";
	size_t n;

	acct[0] = sid[0] = '\0';
	if (strncmp(path, "/_sim/", 6) == 0)
		return R_SIM;
	if (strcmp(path, "/v3/mail/send") == 0)
		return R_MAIL;
	if (strcmp(path, "/v3/scopes") == 0 && strcmp(method, "GET") == 0)
		return R_SCOPES;
	if (strncmp(path, pre, sizeof pre - 1) != 0)
		return is_sendgrid_path(path) ? R_NONE : (strncmp(path, "/2010-04-01", 11) == 0 ?
		                                          R_TW_OTHER : R_NONE);
	p = path + sizeof pre - 1;
	slash = strchr(p, '/');
	if (!slash) {
		n = strlen(p);
		if (n < 6 || n > 60 || strcmp(p + n - 5, ".json") != 0)
			return R_TW_OTHER;
		memcpy(acct, p, n - 5);
		acct[n - 5] = '\0';
		return strcmp(method, "GET") == 0 ? R_ACCOUNT : R_TW_OTHER;
	}
	n = (size_t)(slash - p);
	if (n > 60)
		return R_TW_OTHER;
	memcpy(acct, p, n);
	acct[n] = '\0';
	p = slash;
	if (strcmp(p, "/Messages.json") == 0)
		return strcmp(method, "POST") == 0 ? R_CREATE :
		       strcmp(method, "GET") == 0 ? R_LIST : R_TW_OTHER;
	if (strncmp(p, "/Messages/", 10) == 0) {
		p += 10;
		n = strlen(p);
		if (n > 5 && n < 60 && strcmp(p + n - 5, ".json") == 0 && !strchr(p, '/')) {
			memcpy(sid, p, n - 5);
			sid[n - 5] = '\0';
			return strcmp(method, "GET") == 0 ? R_FETCH : R_TW_OTHER;
		}
	}
	return R_TW_OTHER;
}

static void
log_request(const char *method, const char *path, const struct kv *q, const char *user,
            const char *auth, const char *ctype, char **fn, char **fv, size_t fc, int have_form,
            jv parsed, const struct reply *r)
{
	struct mlc_buf b;

	if (cfg.logfd < 0)
		return;
	mlc_buf_init(&b);
	log_time(&b);
	mlc_buf_adds(&b, ",\"kind\":\"request\",\"method\":");
	json_str(&b, method);
	mlc_buf_adds(&b, ",\"path\":");
	json_str(&b, path);
	mlc_buf_adds(&b, ",\"query\":");
	json_form(&b, q->n, q->v, q->c);
	mlc_buf_adds(&b, ",\"auth\":");
	json_str(&b, auth);
	mlc_buf_adds(&b, ",\"user\":");
	json_str(&b, user);
	mlc_buf_adds(&b, ",\"content_type\":");
	json_str(&b, ctype);
	if (have_form) {
		mlc_buf_adds(&b, ",\"form\":");
		json_form(&b, fn, fv, fc);
	}
	if (jv_is_valid(parsed)) {
		jv d = jv_dump_string(jv_copy(parsed), 0);

		mlc_buf_adds(&b, ",\"json\":");
		mlc_buf_adds(&b, jv_string_value(d));
		jv_free(d);
	}
	mlc_buf_printf(&b, ",\"conn\":%lu,\"conn_req\":%lu", r->conn, r->conn_req);
	if (r->expect) {
		mlc_buf_adds(&b, ",\"expect\":");
		json_str(&b, r->expect);
	}
	mlc_buf_printf(&b, ",\"status\":%d", r->drop ? 0 : r->status);
	if (r->drop)
		mlc_buf_adds(&b, ",\"dropped\":true");
	if (r->sid[0])
		mlc_buf_printf(&b, ",\"sid\":\"%s\"", r->sid);
	if (r->message_id[0])
		mlc_buf_printf(&b, ",\"message_id\":\"%s\"", r->message_id);
	if (r->fault) {
		mlc_buf_adds(&b, ",\"fault\":");
		json_str(&b, r->fault);
	}
	mlc_buf_addc(&b, '}');
	log_line(&b);
	mlc_buf_free(&b);
}

static void
handle(struct MHD_Connection *conn, const char *method, const char *path,
       const struct mlc_httpd_req *rq, unsigned long conn_req,
       struct reply *r)
{
	char acct[64], sid[64];
	enum route rt = route_of(method, path, acct, sid);
	const char *ctype = hdr(conn, "Content-Type");
	struct kv q = { NULL, NULL, 0 };
	char **fn = NULL, **fv = NULL, *user = NULL;
	size_t fc = 0, i;
	int have_form = 0, auth_ok = 0, sendgrid = rt == R_MAIL || rt == R_SCOPES, drop_after = 0;
	const char *auth = NULL, *to = NULL;
	long slow = cfg.latency_ms;
	jv parsed = jv_invalid();
	struct outcome oc = { ST_DELIVERED, 0 };

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, kv_iter, &q);
	r->expect = hdr(conn, "Expect");
	if (rt == R_SIM) {
		sim_control(r, method, path, rq->body.p, rq->body.len);
		goto out; /* not logged: the log records the API traffic */
	}
	if (rt == R_CREATE && ctype &&
	    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
		/* A body in any other type is not read at all, as on Twilio: To is then missing. */
		if (mlc_form_parse(rq->body.p, rq->body.len, &fn, &fv, &fc) == 0)
			have_form = 1;
		to = have_form ? mlc_form_get(fn, fv, fc, "To") : NULL;
	}
	/* Faults can be scoped to a recipient: for mail, the first "to" address. */
	if (sendgrid && rq->body.len && rq->body.len <= SG_MAX_BODY) {
		jv m = jv_parse_sized(rq->body.p, (int)rq->body.len);

		if (jv_get_kind(m) == JV_KIND_OBJECT) {
			jv ps = jget(m, "personalizations");

			if (jv_get_kind(ps) == JV_KIND_ARRAY && jv_array_length(jv_copy(ps)) > 0) {
				jv p0 = jv_array_get(jv_copy(ps), 0), tl = jget(p0, "to");

				if (jv_get_kind(tl) == JV_KIND_ARRAY && jv_array_length(jv_copy(tl)) > 0) {
					jv t0 = jv_array_get(jv_copy(tl), 0), em = jget(t0, "email");

					if (jv_get_kind(em) == JV_KIND_STRING) {
						fn = mlc_xcalloc(1, sizeof *fn);
						fv = mlc_xcalloc(1, sizeof *fv);
						fn[0] = mlc_xstrdup("to");
						fv[0] = mlc_xstrdup(jv_string_value(em));
						to = fv[0];
						fc = 1;
					}
					jv_free(em);
					jv_free(t0);
				}
				jv_free(tl);
				jv_free(p0);
			}
			jv_free(ps);
		}
		jv_free(m);
	}

	/* Every answer waits --latency plus any matching slow faults. */
	pthread_mutex_lock(&mu);
	for (i = 0; i < nfault; i++)
		if (faults[i].kind == F_SLOW && fault_take(&faults[i], method, path, to, conn_req))
			slow += faults[i].ms;
	pthread_mutex_unlock(&mu);
	mlc_retry_sleep(slow, NULL);

	if (rt == R_NONE) {
		if (is_sendgrid_path(path))
			sg_error(r, 404, "not found", NULL, NULL);
		else
			tw_error(r, 404, 20404, "The requested resource %s was not found", path);
		goto done;
	}
	/* Authentication. */
	if (sendgrid) {
		const char *a = hdr(conn, "Authorization");

		if (a && strncasecmp(a, "Bearer ", 7) == 0) {
			auth = "bearer";
			a += 7;
			while (*a == ' ')
				a++;
			auth_ok = cfg.sendgrid_key && strlen(a) == strlen(cfg.sendgrid_key) &&
			          sodium_memcmp(a, cfg.sendgrid_key, strlen(a)) == 0;
		} else if (a) {
			auth = "other";
		}
		if (!auth_ok) {
			sg_error(r, 401, "The provided authorization grant is invalid, expired, or revoked",
			         NULL, NULL);
			goto done;
		}
	} else {
		user = basic_auth(conn, &auth_ok);
		auth = hdr(conn, "Authorization") ? (user ? "basic" : "other") : NULL;
		if (!auth_ok) {
			tw_error(r, 401, 20003, "Authenticate");
			r->www_auth = 1;
			goto done;
		}
		if (!is_sid(acct, "AC")) {
			tw_error(r, 404, 20404, "The requested resource %s was not found", path);
			goto done;
		}
		if (strcmp(acct, cfg.account_sid) != 0) {
			/* Valid credentials of another account (or of a subaccount on its parent). */
			tw_error(r, 401, 20003, "Authenticate");
			r->www_auth = 1;
			goto done;
		}
		if (rt == R_TW_OTHER) {
			tw_error(r, 404, 20404, "The requested resource %s was not found", path);
			goto done;
		}
	}
	/* Faults, in the order they were added; the first that applies answers. */
	pthread_mutex_lock(&mu);
	for (i = 0; i < nfault; i++) {
		struct fault *f = &faults[i];

		if (f->kind == F_SLOW || f->kind == F_OUTCOME || f->kind == F_RATE)
			continue;
		if (!fault_take(f, method, path, to, conn_req))
			continue;
		if (f->kind == F_DROP_BEFORE) {
			r->drop = 1;
			r->fault = f->spec;
		} else if (f->kind == F_DROP_AFTER) {
			drop_after = 1;
			r->fault = f->spec;
			continue; /* the request still runs; only its answer is lost */
		} else {
			fault_reply(r, f, sendgrid);
		}
		break;
	}
	if (r->status || r->drop) {
		pthread_mutex_unlock(&mu);
		goto done;
	}
	if ((rt == R_CREATE || rt == R_MAIL) && !bucket_take(sendgrid)) {
		pthread_mutex_unlock(&mu);
		r->fault = "rate";
		if (sendgrid) {
			r->status = 429;
			r->ctype = "application/json";
			mlc_buf_reset(&r->body);
			mlc_buf_adds(&r->body, "{\"errors\":[{\"field\":null,\"message\":\"too many requests\"}]}");
			r->sg_ratelimit = 1;
			r->sg_reset = (long)mlc_httpd_now_s() + 1;
		} else {
			tw_error(r, 429, 20429, "Too Many Requests");
		}
		goto done;
	}
	if (rt == R_CREATE) {
		for (i = 0; i < nfault; i++) {
			if (faults[i].kind == F_OUTCOME && fault_take(&faults[i], method, path, to, conn_req)) {
				oc.status = faults[i].status;
				oc.error = faults[i].code;
				break;
			}
		}
	}
	pthread_mutex_unlock(&mu);

	switch (rt) {
	case R_CREATE:
		if (rq->body.len > TW_MAX_BODY)
			tw_error(r, 413, 20001, "Request entity too large");
		else
			create_message(r, fn, fv, fc, have_form, &oc);
		break;
	case R_LIST:
		list_messages(r, &q);
		break;
	case R_FETCH: {
		struct msg *m;

		pthread_mutex_lock(&mu);
		m = (is_sid(sid, "SM") || is_sid(sid, "MM")) ? msg_find(sid) : NULL;
		if (m) {
			r->status = 200;
			r->ctype = "application/json; charset=utf-8";
			msg_json(&r->body, m);
		}
		pthread_mutex_unlock(&mu);
		if (!m)
			tw_error(r, 404, 20404, "The requested resource %s was not found", path);
		break;
	}
	case R_ACCOUNT:
		account_json(r);
		break;
	case R_MAIL:
		mail_send(r, ctype, rq->body.p, rq->body.len, &parsed);
		break;
	case R_SCOPES:
		scopes_json(r);
		break;
	default:
		tw_error(r, 404, 20404, "The requested resource %s was not found", path);
	}
	if (drop_after)
		r->drop = 1;
done:
	if (sendgrid && !jv_is_valid(parsed) && rq->body.len && rq->body.len <= SG_MAX_BODY) {
		jv m = jv_parse_sized(rq->body.p, (int)rq->body.len);

		if (jv_is_valid(m))
			parsed = m;
		else
			jv_free(m);
	}
	log_request(method, path, &q, user, auth, ctype, sendgrid ? NULL : fn, fv,
	            sendgrid ? 0 : fc, have_form, parsed, r);
	jv_free(parsed);
out:
	free(user);
	mlc_form_free(fn, fv, fc);
	mlc_form_free(q.n, q.v, q.c);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct mlc_httpd_req *rq = mlc_httpd_body(con_cls, upload, upload_size, MAX_BODY);
	struct reply r;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!rq)
		return MHD_YES;
	memset(&r, 0, sizeof r);
	mlc_buf_init(&r.body);
	/* which connection, which of its requests (keep-alive reuse, nth=) */
	r.conn_req = mlc_httpd_conn_request(conn, &r.conn);
	if (rq->too_big) {
		r.status = 413;
		r.ctype = "application/json";
		mlc_buf_adds(&r.body, "{\"errors\":[{\"field\":null,\"message\":\"Payload Too Large\"}]}");
	} else {
		handle(conn, method, url, rq, r.conn_req, &r);
	}
	if (r.drop) {
		mlc_buf_free(&r.body);
		return MHD_NO; /* close the connection without an answer */
	}
	resp = MHD_create_response_from_buffer(r.body.len, r.body.p, MHD_RESPMEM_MUST_COPY);
	if (!resp) {
		mlc_buf_free(&r.body);
		return MHD_NO;
	}
	if (r.ctype)
		MHD_add_response_header(resp, "Content-Type", r.ctype);
	if (r.retry_after[0])
		MHD_add_response_header(resp, "Retry-After", r.retry_after);
	if (r.message_id[0])
		MHD_add_response_header(resp, "X-Message-Id", r.message_id);
	if (r.ctype && strncmp(r.ctype, "application/json; charset", 25) == 0) {
		char rqid[40] = "RQ";

		mlc_httpd_hex(rqid + 2, 16);
		MHD_add_response_header(resp, "Twilio-Request-Id", rqid);
	}
	if (r.www_auth)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"Twilio API\"");
	if (r.sg_ratelimit) {
		char reset[32];

		snprintf(reset, sizeof reset, "%ld", r.sg_reset);
		MHD_add_response_header(resp, "X-RateLimit-Limit", "600");
		MHD_add_response_header(resp, "X-RateLimit-Remaining", "0");
		MHD_add_response_header(resp, "X-RateLimit-Reset", reset);
	}
	ret = MHD_queue_response(conn, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	mlc_buf_free(&r.body);
	return ret;
}

/* ---- main ---- */

static char *
read_secret(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		mlc_die(MLC_EX_NOINPUT, "%s: %s: %s", what, path, strerror(errno));
	n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0)
		mlc_die(MLC_EX_NOINPUT, "%s: %s: empty", what, path);
	line[strcspn(line, "\r\n")] = '\0';
	if (!*line)
		mlc_die(MLC_EX_NOINPUT, "%s: %s: empty", what, path);
	return line;
}

static long
num_arg(const char *opt, const char *s, long lo, long hi)
{
	long v;

	if (mlc_fault_long(s, lo, hi, &v) < 0)
		mlc_die(MLC_EX_USAGE, "%s: bad value \"%s\"", opt, s);
	return v;
}

struct args {
	const char *port_file, *log_file, *cert, *key;
	const char *token_file, *api_secret_file, *sg_file;
	long port;
	struct fault *cli;    /* --fault, in order */
	size_t ncli;
};

/* The options: the files to read into a, the rest into cfg. */
static void
parse_args(int argc, char **argv, struct args *a)
{
	enum { O_PORT = 256, O_PORT_FILE, O_REQUEST_LOG, O_TLS_CERT, O_TLS_KEY, O_ACCOUNT_SID,
	       O_AUTH_TOKEN_FILE, O_API_KEY_SID, O_API_KEY_SECRET_FILE, O_SENDGRID_KEY_FILE,
	       O_SENDGRID_SCOPES, O_RATE, O_LATENCY, O_CALLBACK_DELAY, O_CALLBACK_CAINFO, O_FAULT,
	       O_CONTENT_SID, O_INBOUND_URL };
	static const struct option lopts[] = {
		{ "port", required_argument, NULL, O_PORT },
		{ "port-file", required_argument, NULL, O_PORT_FILE },
		{ "request-log", required_argument, NULL, O_REQUEST_LOG },
		{ "tls-cert", required_argument, NULL, O_TLS_CERT },
		{ "tls-key", required_argument, NULL, O_TLS_KEY },
		{ "account-sid", required_argument, NULL, O_ACCOUNT_SID },
		{ "auth-token-file", required_argument, NULL, O_AUTH_TOKEN_FILE },
		{ "api-key-sid", required_argument, NULL, O_API_KEY_SID },
		{ "api-key-secret-file", required_argument, NULL, O_API_KEY_SECRET_FILE },
		{ "sendgrid-key-file", required_argument, NULL, O_SENDGRID_KEY_FILE },
		{ "sendgrid-scopes", required_argument, NULL, O_SENDGRID_SCOPES },
		{ "rate", required_argument, NULL, O_RATE },
		{ "latency", required_argument, NULL, O_LATENCY },
		{ "callback-delay", required_argument, NULL, O_CALLBACK_DELAY },
		{ "callback-cainfo", required_argument, NULL, O_CALLBACK_CAINFO },
		{ "inbound-url", required_argument, NULL, O_INBOUND_URL },
		{ "fault", required_argument, NULL, O_FAULT },
		{ "content-sid", required_argument, NULL, O_CONTENT_SID },
		{ NULL, 0, NULL, 0 }
	};
	char err[256], *end;
	int c;

	memset(a, 0, sizeof *a);
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case O_PORT: a->port = num_arg("--port", optarg, 0, 65535); break;
		case O_PORT_FILE: a->port_file = optarg; break;
		case O_REQUEST_LOG: a->log_file = optarg; break;
		case O_TLS_CERT: a->cert = optarg; break;
		case O_TLS_KEY: a->key = optarg; break;
		case O_ACCOUNT_SID:
			if (!is_sid(optarg, "AC"))
				mlc_die(MLC_EX_USAGE, "--account-sid: expected AC and 32 hex digits");
			snprintf(cfg.account_sid, sizeof cfg.account_sid, "%s", optarg);
			break;
		case O_AUTH_TOKEN_FILE: a->token_file = optarg; break;
		case O_API_KEY_SID:
			if (!is_sid(optarg, "SK"))
				mlc_die(MLC_EX_USAGE, "--api-key-sid: expected SK and 32 hex digits");
			free(cfg.api_key_sid);
			cfg.api_key_sid = mlc_xstrdup(optarg);
			break;
		case O_API_KEY_SECRET_FILE: a->api_secret_file = optarg; break;
		case O_SENDGRID_KEY_FILE: a->sg_file = optarg; break;
		case O_SENDGRID_SCOPES:
			if (optarg[strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789._,")])
				mlc_die(MLC_EX_USAGE, "--sendgrid-scopes: expected names like mail.send, "
				                      "comma-separated");
			cfg.sendgrid_scopes = optarg;
			break;
		case O_RATE:
			cfg.rate = strtod(optarg, &end);
			if (end == optarg || *end || cfg.rate < 0)
				mlc_die(MLC_EX_USAGE, "--rate: bad value \"%s\"", optarg);
			break;
		case O_LATENCY: cfg.latency_ms = num_arg("--latency", optarg, 0, 600000); break;
		case O_CALLBACK_DELAY: cfg.step_ms = num_arg("--callback-delay", optarg, 0, 3600000); break;
		case O_CALLBACK_CAINFO: cfg.callback_cainfo = optarg; break;
		case O_CONTENT_SID:
			if (!is_sid(optarg, "HX"))
				mlc_die(MLC_EX_USAGE, "--content-sid: expected HX and 32 hex digits");
			content_sids = mlc_xrealloc(content_sids, (ncontent + 1) * sizeof *content_sids);
			content_sids[ncontent++] = optarg;
			break;
		case O_INBOUND_URL: cfg.inbound_url = optarg; break;
		case O_FAULT:
			a->cli = mlc_xrealloc(a->cli, (a->ncli + 1) * sizeof *a->cli);
			if (fault_parse(optarg, &a->cli[a->ncli], err, sizeof err) < 0)
				mlc_die(MLC_EX_USAGE, "--fault: %s", err);
			a->ncli++;
			break;
		default: mlc_util_usage(usage, NULL);
		}
	}
	if (optind < argc)
		mlc_die(MLC_EX_USAGE, "unexpected argument \"%s\"\n%s", argv[optind], usage);
	if (!a->token_file)
		mlc_die(MLC_EX_USAGE, "--auth-token-file is required\n%s", usage);
	if (!!cfg.api_key_sid != !!a->api_secret_file)
		mlc_die(MLC_EX_USAGE, "--api-key-sid and --api-key-secret-file go together");
	if (!!a->cert != !!a->key)
		mlc_die(MLC_EX_USAGE, "--tls-cert and --tls-key go together");
}

int
main(int argc, char **argv)
{
	struct args a;
	char *cert_pem = NULL, *key_pem = NULL;
	long port;
	size_t i;
	struct MHD_Daemon *d;
	struct sockaddr_in sin;
	sigset_t set;
	pthread_t lt, ct;
	const struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mlc_httpd_log, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, 4000, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)form_unescape, NULL },
		{ MHD_OPTION_END, 0, NULL }
	};

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	snprintf(cfg.account_sid, sizeof cfg.account_sid, "AC%s",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	parse_args(argc, argv, &a);
	port = a.port;
	mlc_util_signals(NULL);
	mlc_util_nodump();
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		mlc_die(MLC_EX_SOFTWARE, "library initialisation failed");
	cfg.auth_token = read_secret(a.token_file, "--auth-token-file");
	if (a.api_secret_file)
		cfg.api_key_secret = read_secret(a.api_secret_file, "--api-key-secret-file");
	if (a.sg_file)
		cfg.sendgrid_key = read_secret(a.sg_file, "--sendgrid-key-file");
	if (a.cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			mlc_die(MLC_EX_SOFTWARE, "libmicrohttpd was built without TLS");
		cert_pem = mlc_httpd_read_pem(a.cert);
		key_pem = mlc_httpd_read_pem(a.key);
		cfg.tls = 1;
	}
	if (a.log_file)
		cfg.logfd = mlc_httpd_open_log(a.log_file, MLC_EX_NOINPUT);
	bucket_set(0, cfg.rate);
	bucket_set(1, cfg.rate);
	for (i = 0; i < a.ncli; i++)
		fault_add(&a.cli[i]);
	free(a.cli);

	/* Threads inherit this mask: only main sees SIGTERM/SIGINT, in sigwait. */
	mlc_httpd_signals(&set);
	mlc_httpd_addr(&sin, "127.0.0.1", (unsigned)port);
	d = mlc_httpd_start(&sin, MHD_USE_POLL, access_cb, cert_pem, key_pem, opts);
	if (!d)
		mlc_die(MLC_EX_SOFTWARE, "cannot listen on 127.0.0.1:%ld", port);
	port = mlc_httpd_port(d, (unsigned)port);
	if (pthread_create(&lt, NULL, lifecycle_thread, NULL) != 0 ||
	    pthread_create(&ct, NULL, callback_thread, NULL) != 0)
		mlc_die(MLC_EX_SOFTWARE, "cannot start threads");
	if (a.port_file)
		mlc_httpd_write_port(a.port_file, (unsigned)port);
	mlc_warn("listening on %s://127.0.0.1:%ld/ (account %s)", cfg.tls ? "https" : "http", port,
	         cfg.account_sid);

	mlc_httpd_wait(&set);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_broadcast(&ev_cv);
	pthread_cond_broadcast(&cb_cv);
	pthread_mutex_unlock(&mu);
	pthread_join(lt, NULL);
	pthread_join(ct, NULL);
	pthread_mutex_lock(&mu);
	reset_state();
	pthread_mutex_unlock(&mu);
	free(heap);
	if (cfg.logfd >= 0)
		close(cfg.logfd);
	sodium_memzero(cfg.auth_token, strlen(cfg.auth_token));
	free(cfg.auth_token);
	if (cfg.api_key_secret) {
		sodium_memzero(cfg.api_key_secret, strlen(cfg.api_key_secret));
		free(cfg.api_key_secret);
	}
	if (cfg.sendgrid_key) {
		sodium_memzero(cfg.sendgrid_key, strlen(cfg.sendgrid_key));
		free(cfg.sendgrid_key);
	}
	free(cfg.api_key_sid);
	free(cert_pem);
	if (key_pem) {
		sodium_memzero(key_pem, strlen(key_pem));
		free(key_pem);
	}
	curl_global_cleanup();
	return MLC_EX_OK;
}
