/*
 * twilio-send — deliver alerts: SMS and WhatsApp through Twilio's Messages
 * API, e-mail through Twilio SendGrid's v3 mail send.
 *
 * usage: twilio-send [-n] [-v] [-c CONF] [-d STATEDIR] [-R RATE] [-P N]
 *                    [-t SEC] [-a N] [-b SEC] [-g SEC] [--passphrase-file F]
 *        twilio-send --poll [-T SEC] [-i SEC] [common options]
 *        twilio-send --poll-inbound [-c CONF] [-d STATEDIR]
 *
 * stdin: NDJSON deliveries from alert-render (one object per line).  A line
 * is a delivery when it has "delivery_id" or "channel" and none of the
 * members "status", "event", "suppressed", "deferred", "dropped", "capped"
 * (render's bookkeeping lines and earlier results); every other object is
 * copied to stdout unchanged.  The checks of a line and of a delivery are
 * wire.c's (mlc_wire_line, mlc_wire_delivery): alert-log makes the same in
 * front of this program and quarantines what would fail them.
 *
 * stdout: one result line per delivery, written whole as soon as that
 * delivery is settled, so the order may differ from the input.  A result is
 * the delivery's own bytes minus the closing brace plus the new members
 * (status, sid or message_id, attempts, error, sent_at, reconciled): nothing
 * the upstream wrote is re-encoded (jq 1.6 would turn big numbers into
 * doubles).
 *
 * Sending: libcurl's multi interface drives up to -P transfers at once; our
 * own pacer (a GCRA token bucket, one token per request, refilled at -R per
 * second) decides when the next one may start, so a configured rate below
 * the account's never causes 429s.  A 429 pauses the whole bucket (shared
 * backoff), not just the transfer that got it.  Retries follow retry.c
 * (curl's policy: 408, 429, 503 and "not sent" retry with full-jitter
 * exponential backoff raised to Retry-After or SendGrid's X-RateLimit-Reset,
 * within an attempt count and a time budget).  Permanent errors (4xx with a
 * Twilio code, SendGrid 400/403/413) are never retried.  401 (Twilio 20003,
 * SendGrid 401) stops the run at once: hammering a wrong key helps no one.
 *
 * Unknown outcomes: the Messages API has no idempotency key (the
 * I-Twilio-Idempotency-Token header belongs to webhooks, not to the REST
 * API), so a create POST that left without an answer (timeout, reset after
 * sending, a 201 cut short, 500/502/504) may or may not have created a
 * message, and sending it again may text someone twice.  We never re-send
 * blindly.  We look: GET Messages.json?To=..&From=..&DateSent>=DAY&PageSize=50
 * and search for a message with the same To and Body created at or after the
 * first uncertain attempt (minus a clock-skew allowance) that no other
 * delivery of this run claimed and that the trail does not hold as another
 * delivery's outcome (a frozen or skewed clock, or one second's resolution,
 * cannot tell an older identical message from ours; the trail can).
 * Found: its sid and status are the result
 * ("reconciled":true).  Not found by a lookup made at least the grace period
 * (-g, default 10 s; lists lag behind creates) after the uncertain attempt:
 * now the first attempt demonstrably created nothing and one more send is
 * safe.  When no lookup succeeds, the delivery stays "unknown".  SendGrid
 * has no lookup API: an uncertain e-mail stays "unknown", never re-sent.
 * Every re-send is this policy's: creates are marked mlc_http_once, so
 * libcurl may not send one again by itself on a new connection when a
 * reused one dies under it (http.c); that transfer ends unknown instead.
 * Creates carry an empty Expect: header, so no 417 to Expect: 100-continue
 * can make libcurl send a large e-mail twice.
 *
 * Opt-out: before each create (not when the line is read, so that a STOP
 * recorded during a batch holds back what has not started) the trail is
 * asked whether the recipient opted out of the sender the create uses
 * (optout.c); if so nothing is sent and the result is final,
 * "status":"suppressed" with "suppressed":{"reason":"opted out",
 * "detail":...}.  A 21610 result names the pair ("opted_out":{"from",
 * "to"}) for alert-log to mark.  --poll-inbound (poll_number) lists the
 * messages recipients sent us, for where no webhook can reach twilio-status.
 *
 * Credentials come only from the vault (twilio.auth_token or, with
 * [twilio] api_key_sid, twilio.api_key_secret; sendgrid.api_key) and reach
 * libcurl through CURLOPT_USERNAME/PASSWORD or CURLOPT_XOAUTH2_BEARER; they
 * never appear in URLs, argv, the environment, output or traces.
 *
 * --poll: reads result lines, polls GET Messages/{Sid}.json for every sid
 * not yet final, with doubling intervals, under the same pacer, and writes a
 * status event per change: {"event":"status","sid":..,"delivery_id":..,
 * "status":..,"error_code":..,"at":..,"source":"poll"}; at -T it writes a
 * "poll_timeout" event.
 *
 * --heartbeat ok|fail|start: one ping of a dead man's switch in the style
 * of healthchecks.io: POST to the URL stored in the vault as heartbeat.url
 * (ok), or to that URL with /fail or /start appended; the body is stdin, up
 * to 10000 bytes (a run's summary, text/plain).  The URL is a secret (it is
 * the check's key): it never appears in argv, messages or traces (-v is
 * off for it).  TLS as everywhere (verification on; [heartbeat] ca_bundle
 * a CA bundle of its own); 10 s per try, 3 tries 1 s and 2 s apart when
 * nothing or a 5xx/429 came back.  Exit 0 (a 2xx), 69 (no answer, 5xx,
 * 429), 78 (no secret, refused URL or certificate, another status).
 *
 * Exit (the first that applies): 74 write error (at once); 77 credentials
 * refused (unsent deliveries are not output: the orchestrator runs them
 * again); 78 configuration; 75 outcomes remain unknown (or polls ended
 * before the message left Twilio's queue); 69 transient failures outlasted
 * the retries ("retryable":true results); 65 bad input lines (reported,
 * others processed); 0 every delivery reached a final outcome, including
 * permanent failures, which are results and not errors of this program.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mlc.h"

static const char usage[] =
	"usage: twilio-send [-nv] [-c conf] [-d statedir] [-R rate] [-P inflight] [-t sec]\n"
	"                   [-a attempts] [-b sec] [-g sec] [--passphrase-file file]\n"
	"       twilio-send --poll [-T sec] [-i sec] [options]\n"
	"       twilio-send --reconcile [-g sec] [options]\n"
	"       twilio-send --ping | --ping-sendgrid [-c conf] [-d statedir]\n"
	"       twilio-send --heartbeat ok|fail|start [-c conf] [-d statedir]\n"
	"       twilio-send --poll-inbound [-c conf] [-d statedir]\n"
	"  -n, --dry-run   print the requests that would be made, send nothing\n"
	"  --poll          read results, poll message status until final\n"
	"  --reconcile     deliveries an earlier run left unsettled: look up, then send\n"
	"  --ping          read the Twilio account; send nothing\n"
	"  --ping-sendgrid read the SendGrid key's scopes (mail.send?); send nothing\n"
	"  --poll-inbound  list the messages recipients sent us since the last poll\n"
	"  --heartbeat s   ping the dead man's switch (vault secret heartbeat.url);\n"
	"                  stdin, at most 10000 bytes, is the ping's body\n"
	"  -R rate         requests per second (default [twilio] rate, else 1)\n"
	"  -P n            requests in flight (default [twilio] max_in_flight, else 4)\n"
	"  -t sec          timeout of one request (default 30)\n"
	"  -a n            attempts per delivery (default 5)\n"
	"  -b sec          time budget per delivery (default 300)\n"
	"  -g sec          grace period before an unknown send is re-sent\n"
	"                  (default [twilio] grace, else 10)\n"
	"  -T sec          --poll: give up after (default 600)\n"
	"  -i sec          --poll: first interval, doubled up to 60 (default 2)\n"
	"  -v              trace HTTP headers (redacted) on stderr\n";

#define MAXLINE MLC_NDJSON_MAXLINE
#define CLOCK_SKEW_S 60      /* allowance between our clock and Twilio's */
#define CLAIMED_RING 1024    /* sids settled by this run, for reconciliation */
#define POLL_CAP_MS 60000
#define STOP_AUTH 1
#define STOP_SIGNAL 2
#define STOP_CONFIG 3

enum phase { PH_SEND, PH_LOOKUP, PH_POLL };

struct job {
	struct job *next, *prev; /* waiting list (not in flight) */
	unsigned long lineno;
	char *line;              /* the delivery's own bytes */
	size_t cut;              /* index of its closing brace */
	int empty;               /* "{}" */
	enum mlc_channel ch;
	char *delivery_id, *to, *from, *body;
	char *content_sid, *content_vars; /* a WhatsApp template (no body) */
	struct mlc_buf req;      /* request body: alive until the transfer ends */
	struct mlc_buf url;
	enum phase phase;
	int attempts;            /* create requests that may have reached the server */
	int rt_started;
	int refused_21610;       /* Twilio: unsubscribed recipient */
	struct mlc_retry rt;
	uint64_t not_before;     /* monotonic ms */
	time_t attempt_start;    /* wall clock of the current attempt */
	time_t unknown_since;    /* wall clock of the first uncertain attempt, 0 none */
	uint64_t unknown_at;     /* monotonic ms the uncertainty began (grace) */
	long lookup_delay;
	long unknown_http;       /* HTTP status of the uncertain answer, 0 none */
	int lookups_failed;
	char unknown_why[720];
	/* --poll */
	char sid[40];
	char status[32];
	uint64_t poll_deadline;
	long poll_delay;
	int poll_errors;
	/* transfer */
	CURL *easy;
	struct mlc_http_resp resp;
};

struct pacer {
	double interval_ms;  /* 0: no pacing */
	double tat;          /* theoretical arrival time of the next request */
	uint64_t pause_until;
};

static struct {
	/* options */
	const char *conf_path, *state_dir, *passfile;
	double rate;
	long inflight;
	long timeout_ms;
	int attempts;
	long budget_ms;
	long grace_ms;
	long poll_timeout_ms, poll_first_ms;
	int dry_run, poll, trace, reconcile, ping, ping_sg, grace_set;
	/* configuration */
	struct mlc_conf conf;
	const char *account_sid, *api_key_sid, *from, *mss, *wa_from, *status_cb;
	long validity;
	char *tw_base, *sg_base;
	const char *sg_from, *sg_from_name;
	int sg_hold;             /* [sendgrid] in_doubt = hold (else resend) */
	/* credentials (sodium memory) */
	struct mlc_store *store;
	struct mlc_vault *vault;
	char *tw_pass, *sg_key;
	int tw_ready, sg_ready;   /* 0 not tried, 1 ready, -1 refused */
	/* what Twilio (0) and SendGrid (1) said of the credentials this run:
	 * 0 nothing, 1 accepted a message, -1 refused them (gauge
	 * mlc_auth_refused, which alert-log monitor reads) */
	int auth_word[2];
	/* run state */
	CURLM *multi;
	CURL **pool;
	size_t npool;
	long running;
	struct job *wait_head, *wait_tail;
	size_t nactive;           /* jobs not yet settled (waiting + in flight) */
	struct pacer tw_pace, sg_pace;
	struct curl_slist *h_form, *h_json, *h_get;
	struct mlc_http_opts hopts;
	char claimed[CLAIMED_RING][40];
	size_t nclaimed;
	/* outcome counters */
	int bad_input, config_err, unavailable, unknown, unresolved, db_err;
	unsigned long nsent, nfailed, nunknown; /* results written (progress) */
	int stop;                 /* STOP_* */
	long requests[2];         /* transfers ended: [0] Twilio, [1] SendGrid */
} g;

static volatile sig_atomic_t got_signal; /* SIGINT/SIGTERM (mlc_util_signals) */

/* ---- small helpers ---- */

static time_t
wall_s(void)
{
	struct timespec ts;

	mlc_time_now(&ts);
	return ts.tv_sec;
}

static void
put_line(struct mlc_buf *b)
{
	if (mlc_ndjson_put(1, b) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		_exit(MLC_EX_IOERR); /* in-flight transfers are abandoned: stdout is gone */
	}
}

/* jv helpers: every jv_* call consumes its arguments. */
static jv
jget(jv o, const char *k)
{
	return jv_object_get(jv_copy(o), jv_string(k));
}

/* 1 string (copied to *out), 0 absent or null, -1 wrong type or NUL inside
 * (wire.c reads it). */
static int
jstr(jv o, const char *k, char **out)
{
	const char *p;
	jv v;
	int rc = mlc_wire_str(o, k, &v, &p);

	*out = rc > 0 ? mlc_xstrdup(p) : NULL;
	jv_free(v);
	return rc;
}

static long
jlong(jv o, const char *k, long dflt)
{
	jv v = jget(o, k);
	long r = dflt;

	if (jv_get_kind(v) == JV_KIND_NUMBER)
		r = (long)jv_number_value(v);
	else if (jv_get_kind(v) == JV_KIND_STRING)
		r = strtol(jv_string_value(v), NULL, 10);
	jv_free(v);
	return r;
}

static char *
base_url(const char *v, const char *dflt)
{
	char *s = mlc_xstrdup(v && *v ? v : dflt);
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static int
final_status(const char *s)
{
	static const char *const fin[] = {
		"delivered", "undelivered", "failed", "canceled", "read", "received", NULL
	};
	int i;

	for (i = 0; fin[i]; i++)
		if (strcmp(s, fin[i]) == 0)
			return 1;
	return 0;
}

/* "Thu, 24 Aug 2023 05:01:45 +0000" -> epoch seconds, -1 if not that. */
static time_t
rfc2822(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4], zone[8];
	int d, y, hh, mm, ss, off = 0;
	const char *m;
	struct tm tm;
	time_t t;

	if (!s)
		return -1;
	if (strchr(s, ','))
		s = strchr(s, ',') + 1;
	if (sscanf(s, "%d %3s %d %d:%d:%d %7s", &d, mon, &y, &hh, &mm, &ss, zone) < 6)
		return -1;
	mon[3] = '\0';
	if (strlen(mon) != 3 || !(m = strstr(months, mon)) || (m - months) % 3)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5) {
		off = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 3600 +
		      ((zone[3] - '0') * 10 + (zone[4] - '0')) * 60;
		if (zone[0] == '+')
			t -= off;
		else
			t += off;
	}
	return t;
}

/* ---- output ---- */

/* The delivery's bytes minus the closing brace, ready for more members. */
static void
splice_open(struct mlc_buf *b, const struct job *j)
{
	mlc_buf_reset(b);
	mlc_buf_add(b, j->line, j->cut);
	if (!j->empty)
		mlc_buf_addc(b, ',');
}

static void
add_str_member(struct mlc_buf *b, const char *k, const char *v)
{
	mlc_buf_printf(b, ",\"%s\":", k);
	mlc_buf_json_str(b, v, strlen(v));
}

static void
add_error(struct mlc_buf *b, const char *code_str, long code, const char *msg, long http)
{
	mlc_buf_adds(b, ",\"error\":{\"code\":");
	if (code_str)
		mlc_buf_json_str(b, code_str, strlen(code_str));
	else
		mlc_buf_printf(b, "%ld", code);
	mlc_buf_adds(b, ",\"message\":");
	mlc_buf_json_str(b, msg, strlen(msg));
	if (http > 0)
		mlc_buf_printf(b, ",\"http_status\":%ld", http);
	if (!code_str && mlc_retry_hint(code))
		add_str_member(b, "hint", mlc_retry_hint(code));
	mlc_buf_addc(b, '}');
}

static void
claim(const char *sid)
{
	snprintf(g.claimed[g.nclaimed % CLAIMED_RING], sizeof g.claimed[0], "%s", sid);
	g.nclaimed++;
}

static int
claimed(const char *sid)
{
	size_t i, n = g.nclaimed < CLAIMED_RING ? g.nclaimed : CLAIMED_RING;

	for (i = 0; i < n; i++)
		if (strcmp(g.claimed[i], sid) == 0)
			return 1;
	return 0;
}

static void job_free(struct job *j);

/* On a terminal (util.c decides): the deliveries settled so far. */
static void
progress(void)
{
	if (!g.poll)
		mlc_progress("deliveries sent: %lu, failed: %lu, unknown: %lu", g.nsent, g.nfailed,
		             g.nunknown);
}

static void
settle(struct job *j)
{
	g.nactive--;
	job_free(j);
}

static void
result_ok(struct job *j, const char *status, const char *id, int reconciled)
{
	struct mlc_buf b;
	char ts[32];

	mlc_buf_init(&b);
	splice_open(&b, j);
	mlc_time_now_text(ts);
	mlc_buf_adds(&b, "\"status\":");
	mlc_buf_json_str(&b, status, strlen(status));
	mlc_buf_adds(&b, j->ch == MLC_CH_EMAIL ? ",\"message_id\":" : ",\"sid\":");
	mlc_buf_json_str(&b, id, strlen(id));
	mlc_buf_printf(&b, ",\"attempts\":%d", j->attempts);
	if (reconciled)
		mlc_buf_adds(&b, ",\"reconciled\":true");
	mlc_buf_printf(&b, ",\"sent_at\":\"%s\"}", ts);
	put_line(&b);
	mlc_buf_free(&b);
	if (!g.auth_word[j->ch == MLC_CH_EMAIL])
		g.auth_word[j->ch == MLC_CH_EMAIL] = 1;
	if (j->ch != MLC_CH_EMAIL)
		claim(id);
	g.nsent++;
	progress();
	settle(j);
}

/* The sender Twilio's opt-out is kept for: the Messaging Service when the
 * create names one (build_twilio), else From (optout.c). */
static const char *
job_ours(const struct job *j)
{
	return g.mss && (j->ch == MLC_CH_SMS || !j->from) ? g.mss : j->from;
}

/* retryable: the failure was transient and outlasted the retries. */
static void
result_failed(struct job *j, const char *code_str, long code, const char *msg, long http,
              int retryable)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	splice_open(&b, j);
	mlc_buf_printf(&b, "\"status\":\"failed\",\"attempts\":%d", j->attempts);
	add_error(&b, code_str, code, msg, http);
	if (retryable)
		mlc_buf_adds(&b, ",\"retryable\":true");
	if (j->refused_21610 && job_ours(j)) {
		/* unsubscribed: alert-log marks the pair opted out (optout.c) */
		mlc_buf_adds(&b, ",\"opted_out\":{\"from\":");
		mlc_buf_json_str(&b, job_ours(j), strlen(job_ours(j)));
		mlc_buf_adds(&b, ",\"to\":");
		mlc_buf_json_str(&b, j->to, strlen(j->to));
		mlc_buf_addc(&b, '}');
	}
	mlc_buf_addc(&b, '}');
	put_line(&b);
	mlc_buf_free(&b);
	if (retryable)
		g.unavailable = 1;
	g.nfailed++;
	progress();
	settle(j);
}

static void
result_unknown(struct job *j, const char *why)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	splice_open(&b, j);
	mlc_buf_printf(&b, "\"status\":\"unknown\",\"attempts\":%d", j->attempts);
	/* An e-mail cannot be looked up (SendGrid has no lookup and no
	 * idempotency key): [sendgrid] in_doubt says what becomes of it, and
	 * the line says so for alert-log (hold: stage in_doubt, counted as
	 * sent for the re-alert index, sent again only by ml-connector resend). */
	if (j->ch == MLC_CH_EMAIL)
		mlc_buf_printf(&b, ",\"in_doubt\":\"%s\"", g.sg_hold ? "hold" : "resend");
	add_error(&b, "outcome_unknown", 0, why, j->unknown_http);
	mlc_buf_addc(&b, '}');
	put_line(&b);
	mlc_buf_free(&b);
	mlc_warn("line %lu: delivery %s: outcome unknown: %s", j->lineno,
	         j->delivery_id ? j->delivery_id : "?", why);
	g.unknown = 1;
	g.nunknown++;
	progress();
	settle(j);
}

/*
 * Before each create: a recipient who opted out of this sender (a STOP,
 * or Twilio's 21610 on an earlier send; optout.c) is not sent to.  The
 * result is final, "status":"suppressed" with "suppressed":{"reason":
 * "opted out","detail":how and when}: alert-log records stage suppressed,
 * replay hands it out never again, and twilio-send passes such a line
 * through.  Asked at the create, not when the line is read, so that a
 * STOP recorded while a batch is going out holds back every create that
 * has not yet started; one already in flight goes (Twilio, which blocks
 * the pair itself, refuses it with 21610 if the STOP reached it first).
 * 1 suppressed (settled), 0 send, -1 the trail could not be read (not
 * sent, not output: exit 74, the orchestrator runs it again).
 */
static int
opted_out(struct job *j)
{
	struct mlc_trail_optout row;
	struct mlc_buf b;
	const char *ours = job_ours(j);
	int rc;

	if (j->ch == MLC_CH_EMAIL || !ours || !g.store)
		return 0;
	if ((rc = mlc_trail_optout_get(g.store, ours, j->to, &row)) <= 0) {
		if (rc < 0) {
			mlc_store_warn(g.store, "reading the opt-outs");
			g.db_err = 1;
			g.stop = STOP_CONFIG;
			settle(j);
		}
		return rc;
	}
	mlc_buf_init(&b);
	splice_open(&b, j);
	mlc_buf_printf(&b, "\"status\":\"suppressed\",\"attempts\":%d,\"suppressed\":{\"reason\":"
	               "\"opted out\",\"detail\":", j->attempts);
	{
		struct mlc_buf d;

		mlc_buf_init(&d);
		mlc_optout_detail(&d, ours, &row);
		mlc_buf_json_str(&b, d.p, d.len);
		mlc_buf_free(&d);
	}
	mlc_buf_adds(&b, "}}");
	put_line(&b);
	mlc_buf_free(&b);
	mlc_trail_optout_free(&row);
	settle(j);
	return 1;
}

/* Not sent, and not output: the orchestrator runs it again. */
static void
result_none(struct job *j)
{
	if (j->unknown_since) {
		result_unknown(j, j->unknown_why[0] ? j->unknown_why
		                                    : "the run stopped before reconciliation");
		return;
	}
	settle(j);
}

static void
event_line(const struct job *j, const char *event, const char *status, long error_code)
{
	struct mlc_buf b;
	char ts[32];

	mlc_buf_init(&b);
	mlc_time_now_text(ts);
	mlc_buf_adds(&b, "{\"event\":");
	mlc_buf_json_str(&b, event, strlen(event));
	mlc_buf_adds(&b, ",\"sid\":");
	mlc_buf_json_str(&b, j->sid, strlen(j->sid));
	mlc_buf_adds(&b, ",\"delivery_id\":");
	if (j->delivery_id)
		mlc_buf_json_str(&b, j->delivery_id, strlen(j->delivery_id));
	else
		mlc_buf_adds(&b, "null");
	mlc_buf_adds(&b, ",\"status\":");
	mlc_buf_json_str(&b, status, strlen(status));
	if (error_code > 0)
		mlc_buf_printf(&b, ",\"error_code\":%ld", error_code);
	else
		mlc_buf_adds(&b, ",\"error_code\":null");
	mlc_buf_printf(&b, ",\"at\":\"%s\",\"source\":\"poll\"}", ts);
	put_line(&b);
	mlc_buf_free(&b);
}

/* ---- configuration and credentials ---- */

static const char *
cget(const char *sec, const char *key)
{
	const char *v = mlc_conf_get(&g.conf, sec, key);

	return v && *v ? v : NULL;
}

static MLC_NORETURN void
config_die(const char *fmt, const char *a)
{
	mlc_warn(fmt, g.conf.path ? g.conf.path : "config", a);
	mlc_util_exit(MLC_EX_CONFIG);
}

static void
load_config(int rate_set, int inflight_set)
{
	static const char *const tw_keys[] = {
		"account_sid", "api_key_sid", "from", "messaging_service_sid", "whatsapp_from",
		"status_callback", "validity_period", "rate", "max_in_flight", "base_url", "grace",
		"inbound_url", "inbound", "inbound_page_size", NULL
	};
	static const char *const sg_keys[] = { "from", "from_name", "base_url", "in_doubt", NULL };
	const char *path, *v;
	char err[512];
	int missing = 0;
	size_t i, k;

	mlc_config_use(g.conf_path);
	path = mlc_config_path();
	if (mlc_conf_load(&g.conf, path, err, sizeof err, &missing) < 0) {
		if (!missing || g.conf_path) {
			mlc_warn("%s", err);
			mlc_util_exit(MLC_EX_CONFIG);
		}
		memset(&g.conf, 0, sizeof g.conf); /* no file: defaults, checked per use */
	}
	/* Our sections are checked key by key; the other tools check theirs. */
	for (i = 0; i < g.conf.n; i++) {
		const struct mlc_conf_entry *e = &g.conf.v[i];
		const char *const *keys = strcmp(e->section, "twilio") == 0     ? tw_keys
		                          : strcmp(e->section, "sendgrid") == 0 ? sg_keys
		                                                                : NULL;

		if (!keys)
			continue;
		for (k = 0; keys[k] && strcmp(keys[k], e->key) != 0; k++)
			;
		if (!keys[k]) {
			mlc_warn("%s:%u: unknown key \"%s\" in [%s]", g.conf.path, e->line, e->key,
			         e->section);
			mlc_util_exit(MLC_EX_CONFIG);
		}
	}
	g.account_sid = cget("twilio", "account_sid");
	g.api_key_sid = cget("twilio", "api_key_sid");
	g.from = cget("twilio", "from");
	g.mss = cget("twilio", "messaging_service_sid");
	g.wa_from = cget("twilio", "whatsapp_from");
	g.status_cb = cget("twilio", "status_callback");
	g.sg_from = cget("sendgrid", "from");
	g.sg_from_name = cget("sendgrid", "from_name");
	if ((v = cget("sendgrid", "in_doubt"))) {
		if (strcmp(v, "hold") && strcmp(v, "resend"))
			config_die("%s: [sendgrid] in_doubt \"%s\": expected resend or hold", v);
		g.sg_hold = strcmp(v, "hold") == 0;
	}
	g.tw_base = base_url(cget("twilio", "base_url"), "https://api.twilio.com");
	g.sg_base = base_url(cget("sendgrid", "base_url"), "https://api.sendgrid.com");
	if ((v = cget("twilio", "validity_period"))) {
		char *end;

		g.validity = strtol(v, &end, 10);
		if (*end || g.validity < 1 || g.validity > 36000)
			config_die("%s: [twilio] validity_period \"%s\": expected 1 to 36000", v);
	}
	if (!rate_set && (v = cget("twilio", "rate"))) {
		char *end;

		g.rate = strtod(v, &end);
		if (*end || !(g.rate > 0) || g.rate > 10000)
			config_die("%s: [twilio] rate \"%s\": expected a number above 0", v);
	}
	if (!g.grace_set && (v = cget("twilio", "grace"))) {
		char *end;
		double sec = strtod(v, &end);

		if (*end || !(sec >= 0) || sec > 3600)
			config_die("%s: [twilio] grace \"%s\": expected seconds, 0 to 3600", v);
		g.grace_ms = (long)(sec * 1000);
	}
	if (!inflight_set && (v = cget("twilio", "max_in_flight"))) {
		char *end;

		g.inflight = strtol(v, &end, 10);
		if (*end || g.inflight < 1 || g.inflight > 256)
			config_die("%s: [twilio] max_in_flight \"%s\": expected 1 to 256", v);
	}
	if (g.account_sid && (strncmp(g.account_sid, "AC", 2) != 0 || strlen(g.account_sid) != 34))
		config_die("%s: [twilio] account_sid \"%s\": expected AC and 32 hex digits",
		           g.account_sid);
	if (g.status_cb && mlc_http_url_ok(g.status_cb, MLC_HTTP_ALLOW_HTTP, err, sizeof err) < 0)
		config_die("%s: [twilio] status_callback: %s", err);
	if ((v = cget("twilio", "inbound_url")) &&
	    mlc_http_url_ok(v, MLC_HTTP_ALLOW_HTTP, err, sizeof err) < 0)
		config_die("%s: [twilio] inbound_url: %s", err);
	if ((v = cget("twilio", "inbound")) && strcmp(v, "poll") && strcmp(v, "webhook"))
		config_die("%s: [twilio] inbound: webhook or poll, not \"%s\"", v);
	if (mlc_http_url_ok(g.tw_base, MLC_HTTP_ALLOW_HTTP_LOOPBACK, err, sizeof err) < 0)
		config_die("%s: [twilio] base_url: %s", err);
	if (mlc_http_url_ok(g.sg_base, MLC_HTTP_ALLOW_HTTP_LOOPBACK, err, sizeof err) < 0)
		config_die("%s: [sendgrid] base_url: %s", err);
}

static int
open_vault(void)
{
	char err[512];
	int code = 0;
	const char *dir;

	if (g.vault)
		return 0;
	if (!(dir = mlc_state_dir(g.state_dir, err, sizeof err))) {
		mlc_warn("%s", err);
		return MLC_EX_CONFIG;
	}
	if (!g.store && !(g.store = mlc_store_open(dir, err, sizeof err, &code))) {
		mlc_warn("%s", err);
		return code ? code : MLC_EX_CONFIG;
	}
	if (!(g.vault = mlc_vault_open(g.store, g.passfile, err, sizeof err, &code))) {
		mlc_warn("%s", err);
		return code ? code : MLC_EX_CONFIG;
	}
	return 0;
}

/* Fetch a secret; 0, or an exit code after a message. */
static int
secret(const char *name, char **out)
{
	size_t len;
	int code = open_vault();

	if (code)
		return code;
	if (!(*out = mlc_vault_get(g.vault, name, &len, &code))) {
		if (code == MLC_EX_NOINPUT) {
			mlc_warn("vault: no secret %s (store it with: mlc-vault set %s)", name, name);
			return MLC_EX_CONFIG;
		}
		return code ? code : MLC_EX_CONFIG;
	}
	return 0;
}

/* Make a channel ready once (*ready: 0 not yet, 1 ready, -1 refused): what
 * its configuration lacks (missing, or NULL), then its secret. */
static int
ready_once(int *ready, const char *missing, const char *secret_name, char **out)
{
	int code;

	if (*ready)
		return *ready > 0 ? 0 : MLC_EX_CONFIG;
	*ready = -1;
	if (missing) {
		mlc_warn("%s: %s", g.conf.path ? g.conf.path : "configuration", missing);
		return MLC_EX_CONFIG;
	}
	if (!g.dry_run && (code = secret(secret_name, out)))
		return code;
	*ready = 1;
	return 0;
}

/* Make one channel's configuration and credentials ready: 0 or an exit code. */
static int
channel_ready(enum mlc_channel ch)
{
	if (ch == MLC_CH_EMAIL)
		return ready_once(&g.sg_ready,
		                  g.sg_from ? NULL : "[sendgrid] from is not set; e-mail cannot be sent",
		                  "sendgrid.api_key", &g.sg_key);
	return ready_once(&g.tw_ready, g.account_sid ? NULL : "[twilio] account_sid is not set",
	                  g.api_key_sid ? "twilio.api_key_secret" : "twilio.auth_token", &g.tw_pass);
}

/* ---- input: our own non-blocking line reader ----
 * mlc_ndjson_read reads through stdio, whose fread blocks until its buffer
 * is full; here transfers must keep moving while the upstream is slow, so
 * we read(2) only what poll(2) says is there. */
static struct {
	char *buf;
	size_t cap, start, end;
	unsigned long lineno;
	int eof, skipping;
} in;

/* 1 line, 0 nothing complete yet, -1 end of input. */
static int
in_line(char **line, size_t *len)
{
	for (;;) {
		char *nl = in.end > in.start ? memchr(in.buf + in.start, '\n', in.end - in.start)
		                             : NULL;
		ssize_t n;
		struct pollfd pfd = { 0, POLLIN, 0 };

		if (nl) {
			size_t k = (size_t)(nl - (in.buf + in.start));
			char *p = in.buf + in.start;

			in.start += k + 1;
			in.lineno++;
			if (in.skipping) {
				in.skipping = 0;
				continue;
			}
			*nl = '\0';
			if (k > 0 && p[k - 1] == '\r')
				p[--k] = '\0';
			*line = p;
			*len = k;
			return 1;
		}
		if (in.eof) {
			if (in.end > in.start && !in.skipping) {
				in.lineno++;
				mlc_warn("line %lu: truncated input (no newline at end); line discarded",
				         in.lineno);
				g.bad_input = 1;
			}
			in.start = in.end = 0;
			return -1;
		}
		if (in.start > 0) {
			memmove(in.buf, in.buf + in.start, in.end - in.start);
			in.end -= in.start;
			in.start = 0;
		}
		if (in.end == in.cap && in.skipping) {
			in.end = 0;
		} else if (in.end == in.cap) {
			if (in.cap >= MAXLINE) {
				mlc_warn("line %lu: line longer than %u bytes; skipped", in.lineno + 1,
				         (unsigned)MAXLINE);
				g.bad_input = 1;
				in.skipping = 1;
				in.end = 0;
			} else {
				in.cap *= 2;
				in.buf = mlc_xrealloc(in.buf, in.cap);
			}
		}
		if (poll(&pfd, 1, 0) <= 0)
			return 0;
		n = read(0, in.buf + in.end, in.cap - in.end);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				return 0;
			mlc_warn("read error after line %lu: %s", in.lineno, strerror(errno));
			g.bad_input = 1;
			in.eof = 1;
			continue;
		}
		if (n == 0)
			in.eof = 1;
		in.end += (size_t)n;
	}
}

/* ---- jobs ---- */

static void
job_free(struct job *j)
{
	free(j->line);
	free(j->delivery_id);
	free(j->to);
	free(j->from);
	free(j->body);
	free(j->content_sid);
	free(j->content_vars);
	mlc_buf_free(&j->req);
	mlc_buf_free(&j->url);
	mlc_http_resp_free(&j->resp);
	free(j);
}

static void
wait_push(struct job *j)
{
	j->next = NULL;
	j->prev = g.wait_tail;
	if (g.wait_tail)
		g.wait_tail->next = j;
	else
		g.wait_head = j;
	g.wait_tail = j;
}

static void
wait_remove(struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		g.wait_head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		g.wait_tail = j->prev;
	j->next = j->prev = NULL;
}

static void
build_twilio(struct job *j)
{
	struct mlc_buf *b = &j->req;

	mlc_buf_reset(b);
	mlc_buf_adds(b, "To=");
	mlc_buf_form_enc(b, j->to, strlen(j->to));
	if (j->from) {
		mlc_buf_adds(b, "&From=");
		mlc_buf_form_enc(b, j->from, strlen(j->from));
	}
	if (g.mss && (j->ch == MLC_CH_SMS || !j->from)) {
		mlc_buf_adds(b, "&MessagingServiceSid=");
		mlc_buf_form_enc(b, g.mss, strlen(g.mss));
	}
	if (j->content_sid) {
		/* a template: Twilio's ContentSid and ContentVariables, no Body */
		mlc_buf_adds(b, "&ContentSid=");
		mlc_buf_form_enc(b, j->content_sid, strlen(j->content_sid));
		if (j->content_vars) {
			mlc_buf_adds(b, "&ContentVariables=");
			mlc_buf_form_enc(b, j->content_vars, strlen(j->content_vars));
		}
	} else {
		mlc_buf_adds(b, "&Body=");
		mlc_buf_form_enc(b, j->body, strlen(j->body));
	}
	if (g.status_cb) {
		mlc_buf_adds(b, "&StatusCallback=");
		mlc_buf_form_enc(b, g.status_cb, strlen(g.status_cb));
	}
	if (g.validity)
		mlc_buf_printf(b, "&ValidityPeriod=%ld", g.validity);
	mlc_buf_reset(&j->url);
	mlc_buf_printf(&j->url, "%s/2010-04-01/Accounts/%s/Messages.json", g.tw_base,
	               g.account_sid);
}

static void
jsonstr(struct mlc_buf *b, const char *s)
{
	mlc_buf_json_str(b, s, strlen(s));
}

static void
build_sendgrid(struct job *j, const char *name, const char *subject, const char *text,
               const char *html)
{
	struct mlc_buf *b = &j->req;

	mlc_buf_reset(b);
	mlc_buf_adds(b, "{\"personalizations\":[{\"to\":[{\"email\":");
	jsonstr(b, j->to);
	if (name) {
		mlc_buf_adds(b, ",\"name\":");
		jsonstr(b, name);
	}
	mlc_buf_adds(b, "}]}],\"from\":{\"email\":");
	jsonstr(b, g.sg_from);
	if (g.sg_from_name) {
		mlc_buf_adds(b, ",\"name\":");
		jsonstr(b, g.sg_from_name);
	}
	mlc_buf_adds(b, "},\"subject\":");
	jsonstr(b, subject);
	/* text/plain must come first, then text/html (SendGrid answers 400 otherwise) */
	mlc_buf_adds(b, ",\"content\":[{\"type\":\"text/plain\",\"value\":");
	jsonstr(b, text);
	mlc_buf_addc(b, '}');
	if (html) {
		mlc_buf_adds(b, ",{\"type\":\"text/html\",\"value\":");
		jsonstr(b, html);
		mlc_buf_addc(b, '}');
	}
	mlc_buf_adds(b, "],\"custom_args\":{\"delivery_id\":");
	jsonstr(b, j->delivery_id ? j->delivery_id : "");
	mlc_buf_adds(b, "}}");
	mlc_buf_reset(&j->url);
	mlc_buf_printf(&j->url, "%s/v3/mail/send", g.sg_base);
}

static void
dry_run_line(struct job *j)
{
	struct mlc_buf b;
	char shown[1024];

	mlc_buf_init(&b);
	mlc_http_redact_url(j->url.p, shown, sizeof shown);
	mlc_buf_printf(&b, "{\"dry_run\":true,\"line\":%lu,\"delivery_id\":", j->lineno);
	jsonstr(&b, j->delivery_id ? j->delivery_id : "");
	mlc_buf_adds(&b, ",\"method\":\"POST\",\"url\":");
	jsonstr(&b, shown);
	if (j->ch == MLC_CH_EMAIL) {
		mlc_buf_adds(&b, ",\"auth\":\"Bearer REDACTED\",\"content_type\":\"application/json\","
		                 "\"json\":");
		mlc_buf_add(&b, j->req.p, j->req.len);
	} else {
		char **n = NULL, **v = NULL;
		size_t c = 0, i;

		mlc_buf_adds(&b, ",\"auth\":");
		mlc_buf_printf(&b, "\"Basic %s:REDACTED\"",
		               g.api_key_sid ? g.api_key_sid : g.account_sid);
		mlc_buf_adds(&b, ",\"content_type\":\"application/x-www-form-urlencoded\",\"form\":{");
		if (mlc_form_parse(j->req.p, j->req.len, &n, &v, &c) == 0) {
			for (i = 0; i < c; i++) {
				if (i)
					mlc_buf_addc(&b, ',');
				jsonstr(&b, n[i]);
				mlc_buf_addc(&b, ':');
				jsonstr(&b, v[i]);
			}
			mlc_form_free(n, v, c);
		}
		mlc_buf_addc(&b, '}');
	}
	mlc_buf_addc(&b, '}');
	put_line(&b);
	mlc_buf_free(&b);
}

/* Report a bad delivery: a result line and a message naming line and field. */
static void
invalid(struct job *j, const char *field, const char *what)
{
	char msg[640];
	struct mlc_buf b;

	snprintf(msg, sizeof msg, "line %lu: field \"%s\": %s", j->lineno, field, what);
	mlc_warn("%s", msg);
	g.bad_input = 1;
	if (g.dry_run) {
		settle(j);
		return;
	}
	mlc_buf_init(&b);
	splice_open(&b, j);
	mlc_buf_adds(&b, "\"status\":\"failed\",\"attempts\":0");
	add_error(&b, "invalid_delivery", 0, msg, 0);
	mlc_buf_addc(&b, '}');
	put_line(&b);
	mlc_buf_free(&b);
	settle(j);
}

static void
setup_job_body(struct job *j, jv o)
{
	char *name = NULL, *subject = NULL, *text = NULL, *html = NULL;

	if (j->ch != MLC_CH_EMAIL) {
		build_twilio(j);
		return;
	}
	jstr(o, "name", &name);
	jstr(o, "subject", &subject);
	jstr(o, "text", &text);
	jstr(o, "html", &html);
	build_sendgrid(j, name, subject, text, html);
	free(name);
	free(subject);
	free(text);
	free(html);
}

static void begin_reconcile(struct job *j, const char *why);

/* Decides what the line is: 1 a delivery (*o parsed), 0 passed through or reported. */
static int
delivery_line(unsigned long lineno, const char *line, size_t len, jv *o)
{
	struct mlc_wire_err we;
	char msg[512];

	/* The checks alert-log makes in front of us (wire.c): what fails
	 * them never reaches this program from the orchestrator's pipeline. */
	if (mlc_wire_line(line, len, o, &we) < 0) {
		mlc_wire_errmsg(&we, msg, sizeof msg);
		mlc_warn("line %lu: %s", lineno, msg);
		g.bad_input = 1;
		jv_free(*o);
		return 0;
	}
	if (!mlc_wire_is_delivery(*o)) {
		struct mlc_buf b;

		jv_free(*o);
		if (g.dry_run)
			return 0;
		mlc_buf_init(&b);
		mlc_buf_add(&b, line, len);
		put_line(&b);
		mlc_buf_free(&b);
		return 0;
	}
	return 1;
}

/* A new job for the line, with where its output line is cut to add members. */
static struct job *
job_new(unsigned long lineno, const char *line, size_t len)
{
	struct job *j;
	size_t i;

	j = mlc_xcalloc(1, sizeof *j);
	j->lineno = lineno;
	j->line = mlc_xstrndup(line, len);
	mlc_buf_init(&j->req);
	mlc_buf_init(&j->url);
	mlc_http_resp_init(&j->resp);
	g.nactive++;
	i = len;
	while (i > 0 && j->line[i - 1] != '}')
		i--;
	j->cut = i ? i - 1 : 0;
	for (i = 1, j->empty = 1; i < j->cut; i++)
		if (!isspace((unsigned char)j->line[i]))
			j->empty = 0;
	return j;
}

/* Reads the checked delivery's id, channel, address and body into the job. */
static void
job_fields(struct job *j, jv o)
{
	char *chan = NULL;

	/* checked: every member read below is there, of its type */
	jstr(o, "delivery_id", &j->delivery_id);
	jstr(o, "channel", &chan);
	/* wire.c has checked that it is one of addr.c's channels */
	j->ch = (enum mlc_channel)mlc_addr_channel(chan, strlen(chan));
	free(chan);
	jstr(o, "to", &j->to);
	if (j->ch == MLC_CH_WHATSAPP) {
		char *w = mlc_addr_whatsapp(j->to);

		free(j->to);
		j->to = w;
	}
	if (j->ch == MLC_CH_WHATSAPP && jstr(o, "content_sid", &j->content_sid) > 0) {
		jv v = jget(o, "content_variables");

		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			struct mlc_buf b;

			mlc_buf_init(&b);
			mlc_content_vars_json(v, &b);
			j->content_vars = b.p;
		}
		jv_free(v);
	} else if (j->ch != MLC_CH_EMAIL) {
		jstr(o, "body", &j->body);
	}
}

/* A job whose channel has no sender (key, or messaging_service_sid): said
 * once in a row for its kind (which: g.config_err), settled; -1. */
static int
no_sender(struct job *j, int which, const char *key)
{
	if (g.config_err != which)
		mlc_warn("%s: [twilio] %s (or messaging_service_sid) is not set",
		         g.conf.path ? g.conf.path : "configuration", key);
	g.config_err = which;
	settle(j);
	return -1;
}

/* Decides whether the job's channel can send (credentials, a sender): 0 yes, else -1 (settled). */
static int
job_sender(struct job *j)
{
	int rc;

	if ((rc = channel_ready(j->ch)) != 0) {
		/* configuration or vault: not sent, not output */
		if (rc == MLC_EX_NOPERM) {
			g.stop = STOP_AUTH;
		} else {
			g.config_err = 1;
			if (rc != MLC_EX_CONFIG)
				g.stop = STOP_CONFIG;
		}
		settle(j);
		return -1;
	}
	if (j->ch == MLC_CH_WHATSAPP) {
		if (!g.wa_from && !g.mss)
			return no_sender(j, 2, "whatsapp_from");
		if (g.wa_from)
			j->from = mlc_addr_whatsapp(g.wa_from);
	} else if (j->ch == MLC_CH_SMS) {
		if (!g.from && !g.mss)
			return no_sender(j, 3, "from");
		if (g.from)
			j->from = mlc_xstrdup(g.from);
	}
	return 0;
}

/*
 * --reconcile: the delivery was handed to an earlier run that
 * left no outcome (killed, or unknown).  Look before sending:
 * a message with the same To and Body created since the
 * delivery was rendered is taken as this one.
 */
static void
job_reconcile(struct job *j, jv o)
{
	struct timespec rt;
	char *ra = NULL;

	if (jstr(o, "rendered_at", &ra) > 0 && mlc_time_parse(ra, &rt) == 0)
		j->attempt_start = rt.tv_sec;
	else
		j->attempt_start = wall_s() - 86400;
	free(ra);
	begin_reconcile(j, "an earlier run left its outcome unknown");
}

/* One input line: passed through, refused, dry-run, reconciled or queued to send. */
static void
new_delivery(unsigned long lineno, const char *line, size_t len)
{
	jv o;
	struct job *j;
	struct mlc_wire_err we;

	if (!delivery_line(lineno, line, len, &o))
		return;
	j = job_new(lineno, line, len);
	if (mlc_wire_delivery(o, &we) < 0) {
		invalid(j, we.field, we.what);
		goto out;
	}
	job_fields(j, o);
	if (job_sender(j) < 0)
		goto out;
	setup_job_body(j, o);
	if (g.dry_run) {
		dry_run_line(j);
		settle(j);
	} else if (g.reconcile) {
		job_reconcile(j, o);
	} else {
		j->phase = PH_SEND;
		wait_push(j);
	}
out:
	jv_free(o);
}

static void
new_poll(unsigned long lineno, const char *line, size_t len)
{
	jv o;
	struct job *j;
	struct mlc_wire_err we;
	char *sid = NULL, *status = NULL, msg[512];

	if (mlc_wire_line(line, len, &o, &we) < 0) {
		mlc_wire_errmsg(&we, msg, sizeof msg);
		mlc_warn("line %lu: %s", lineno, msg);
		g.bad_input = 1;
		jv_free(o);
		return;
	}
	if (jstr(o, "sid", &sid) <= 0 || strlen(sid) != 34 ||
	    (strncmp(sid, "SM", 2) != 0 && strncmp(sid, "MM", 2) != 0) ||
	    jstr(o, "status", &status) <= 0 || final_status(status) ||
	    strcmp(status, "unknown") == 0) {
		/* nothing to poll: no sid, an e-mail, or already final */
		free(sid);
		free(status);
		jv_free(o);
		return;
	}
	j = mlc_xcalloc(1, sizeof *j);
	j->lineno = lineno;
	mlc_buf_init(&j->req);
	mlc_buf_init(&j->url);
	mlc_http_resp_init(&j->resp);
	jstr(o, "delivery_id", &j->delivery_id);
	snprintf(j->sid, sizeof j->sid, "%s", sid);
	snprintf(j->status, sizeof j->status, "%s", status);
	free(sid);
	free(status);
	jv_free(o);
	if (channel_ready(MLC_CH_SMS) != 0) {
		g.stop = STOP_CONFIG;
		g.config_err = 1;
		job_free(j);
		return;
	}
	g.nactive++;
	j->phase = PH_POLL;
	j->poll_delay = g.poll_first_ms;
	j->not_before = mlc_time_mono_ms() + (uint64_t)g.poll_first_ms;
	j->poll_deadline = mlc_time_mono_ms() + (uint64_t)g.poll_timeout_ms;
	mlc_buf_printf(&j->url, "%s/2010-04-01/Accounts/%s/Messages/%s.json", g.tw_base,
	               g.account_sid, j->sid);
	wait_push(j);
}

/* ---- pacing ---- */

static int
pace_ok(struct pacer *p, uint64_t now)
{
	if (now < p->pause_until)
		return 0;
	return p->interval_ms <= 0 || (double)now >= p->tat;
}

static void
pace_take(struct pacer *p, uint64_t now)
{
	double t = p->tat;

	if (p->interval_ms <= 0)
		return;
	/* a wake-up that came late may be made up, but never more than one interval */
	if (t < (double)now - p->interval_ms)
		t = (double)now - p->interval_ms;
	p->tat = t + p->interval_ms;
}

static uint64_t
pace_next(const struct pacer *p)
{
	uint64_t t = p->pause_until;

	if (p->interval_ms > 0 && p->tat > (double)t)
		t = (uint64_t)p->tat + 1;
	return t;
}

/* A 429: everyone waits, not just the transfer that got it. */
static void
pace_pause(struct pacer *p, uint64_t until)
{
	if (until > p->pause_until)
		p->pause_until = until;
	if (p->interval_ms > 0 && p->tat < (double)until)
		p->tat = (double)until;
}

/* ---- transfers ---- */

static void
start(struct job *j, uint64_t now)
{
	CURL *c = g.pool[--g.npool];
	char err[512];
	int twilio = j->ch != MLC_CH_EMAIL;

	j->easy = c;
	mlc_http_capture(c, &j->resp);
	if (mlc_http_setup_easy(c, &g.hopts, j->url.p, err, sizeof err) < 0) {
		g.pool[g.npool++] = c;
		j->easy = NULL;
		mlc_warn("%s", err);
		g.config_err = 1;
		g.stop = STOP_CONFIG;
		result_none(j);
		return;
	}
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, -1L);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	if (twilio) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, g.api_key_sid ? g.api_key_sid : g.account_sid);
		curl_easy_setopt(c, CURLOPT_PASSWORD, g.tw_pass);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, (char *)NULL);
	} else {
		curl_easy_setopt(c, CURLOPT_USERNAME, (char *)NULL);
		curl_easy_setopt(c, CURLOPT_PASSWORD, (char *)NULL);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, g.sg_key);
	}
	if (j->phase == PH_SEND) {
		/* POSTFIELDS does not copy: j->req lives until this transfer ends */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->req.p);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req.len);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, twilio ? g.h_form : g.h_json);
		/* a create: libcurl may not send it again on its own (http.c) */
		mlc_http_once(&j->resp);
		j->attempts++;
		j->attempt_start = wall_s();
		if (!j->rt_started) {
			mlc_retry_init(&j->rt);
			j->rt.max_attempts = g.attempts;
			j->rt.budget_ms = g.budget_ms;
			j->rt_started = 1;
		}
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, g.h_get);
	}
	pace_take(twilio ? &g.tw_pace : &g.sg_pace, now);
	if (curl_multi_add_handle(g.multi, c) != CURLM_OK) {
		mlc_warn("curl_multi_add_handle failed");
		mlc_util_exit(MLC_EX_SOFTWARE);
	}
	g.running++;
}

/* The lookup after an uncertain create: GET Messages.json filtered. */
static void
lookup_url(struct job *j)
{
	char day[16];
	struct tm tm;
	time_t t = j->unknown_since;

	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	mlc_buf_reset(&j->url);
	mlc_buf_printf(&j->url, "%s/2010-04-01/Accounts/%s/Messages.json?To=", g.tw_base,
	               g.account_sid);
	mlc_buf_form_enc(&j->url, j->to, strlen(j->to));
	if (j->from) {
		mlc_buf_adds(&j->url, "&From=");
		mlc_buf_form_enc(&j->url, j->from, strlen(j->from));
	}
	mlc_buf_adds(&j->url, "&DateSent%3E=");
	mlc_buf_adds(&j->url, day);
	mlc_buf_adds(&j->url, "&PageSize=50");
}

static void
requeue(struct job *j, uint64_t at)
{
	j->not_before = at;
	wait_push(j);
}

static void
begin_reconcile(struct job *j, const char *why)
{
	uint64_t now = mlc_time_mono_ms();

	snprintf(j->unknown_why, sizeof j->unknown_why, "%s", why);
	j->unknown_http = j->resp.outcome == MLC_HTTP_DONE ? j->resp.status : 0;
	if (j->ch == MLC_CH_EMAIL) {
		/* SendGrid has no way to look a send up: say so, never re-send */
		result_unknown(j, why);
		return;
	}
	if (!j->unknown_since)
		j->unknown_since = j->attempt_start;
	j->unknown_at = now;
	j->phase = PH_LOOKUP;
	j->lookups_failed = 0;
	j->lookup_delay = g.grace_ms < 1000 ? g.grace_ms / 2 : 1000;
	lookup_url(j);
	if (g.stop) {
		result_none(j);
		return;
	}
	requeue(j, now + (uint64_t)j->lookup_delay);
}

static void
next_lookup(struct job *j, uint64_t now)
{
	uint64_t deadline = j->unknown_at + (uint64_t)g.grace_ms;
	uint64_t at = now + (uint64_t)j->lookup_delay;

	if (at > deadline && now < deadline)
		at = deadline;
	j->lookup_delay *= 2;
	if (j->lookup_delay < 250)
		j->lookup_delay = 250;
	if (j->lookup_delay > 4000)
		j->lookup_delay = 4000;
	requeue(j, at);
}

/* Parse Twilio's error body: code and message. */
static void
tw_error(const struct mlc_http_resp *r, long *code, char *msg, size_t msglen)
{
	jv o = jv_parse_sized(r->body.p ? r->body.p : "", (int)r->body.len);

	*code = 0;
	snprintf(msg, msglen, "HTTP %ld", r->status);
	if (jv_get_kind(o) == JV_KIND_OBJECT) {
		jv m = jget(o, "message");

		*code = jlong(o, "code", 0);
		if (jv_get_kind(m) == JV_KIND_STRING)
			snprintf(msg, msglen, "%s", jv_string_value(m));
		jv_free(m);
	}
	jv_free(o);
}

static void
sg_error(const struct mlc_http_resp *r, char *msg, size_t msglen)
{
	jv o = jv_parse_sized(r->body.p ? r->body.p : "", (int)r->body.len);

	snprintf(msg, msglen, "HTTP %ld", r->status);
	if (jv_get_kind(o) == JV_KIND_OBJECT) {
		jv e = jget(o, "errors");

		if (jv_get_kind(e) == JV_KIND_ARRAY && jv_array_length(jv_copy(e)) > 0) {
			jv e0 = jv_array_get(jv_copy(e), 0);
			jv m = jv_get_kind(e0) == JV_KIND_OBJECT ? jget(e0, "message") : jv_null();
			jv f = jv_get_kind(e0) == JV_KIND_OBJECT ? jget(e0, "field") : jv_null();

			if (jv_get_kind(m) == JV_KIND_STRING) {
				if (jv_get_kind(f) == JV_KIND_STRING)
					snprintf(msg, msglen, "%s (field %s)", jv_string_value(m),
					         jv_string_value(f));
				else
					snprintf(msg, msglen, "%s", jv_string_value(m));
			}
			jv_free(m);
			jv_free(f);
			jv_free(e0);
		}
		jv_free(e);
	}
	jv_free(o);
}

static void
auth_refused(struct job *j, const char *what)
{
	if (g.stop != STOP_AUTH)
		mlc_warn("%s refused the credentials (HTTP %ld): stopping; check the vault secret "
		         "%s and the configuration",
		         what, j->resp.status,
		         j->ch == MLC_CH_EMAIL ? "sendgrid.api_key"
		         : g.api_key_sid  ? "twilio.api_key_secret"
		                          : "twilio.auth_token");
	g.stop = STOP_AUTH;
	g.auth_word[j->ch == MLC_CH_EMAIL] = -1;
	result_none(j);
}

static int
auth_tx(struct mlc_store *s, void *arg)
{
	static const char *const sys[2] = { "twilio", "sendgrid" };
	char ts[32];

	(void)arg;
	mlc_time_now_text(ts);
	for (int i = 0; i < 2; i++)
		if (g.auth_word[i] && mlc_trail_metric_put(s, 1, "mlc_auth_refused", NULL, NULL, NULL,
		                                           sys[i], g.auth_word[i] < 0, ts) < 0)
			return -1;
	return 0;
}

/* The credentials' fate as the gauge mlc_auth_refused, when this run
 * learned it: a refusal holds until a message is accepted again.  Best
 * effort: the results are already out. */
static void
auth_record(void)
{
	if ((g.auth_word[0] || g.auth_word[1]) && g.store &&
	    mlc_store_tx(g.store, "record the credentials' refusal", auth_tx, NULL) != 0)
		mlc_warn("the credentials' refusal was not recorded in the trail (above)");
}

/* A transient failure: wait and try again, or give up within the budget. */
static void
transient(struct job *j, const char *why)
{
	uint64_t now = mlc_time_mono_ms();
	struct pacer *p = j->ch == MLC_CH_EMAIL ? &g.sg_pace : &g.tw_pace;
	long ra = j->resp.retry_after_ms, delay;

	if (j->resp.status == 429 && ra < 0 && j->resp.ratelimit_reset >= 0) {
		long left = (long)(j->resp.ratelimit_reset - wall_s());

		ra = left > 0 ? left * 1000 : 0;
	}
	delay = mlc_retry_next(&j->rt, ra);
	if (j->resp.status == 429)
		pace_pause(p, now + (uint64_t)(delay > 0 ? delay : ra > 0 ? ra : 500));
	if (g.stop) {
		result_none(j);
		return;
	}
	if (delay < 0) {
		if (j->unknown_since) {
			result_unknown(j, j->unknown_why);
			return;
		}
		mlc_warn("line %lu: delivery %s: giving up after %d attempts: %s", j->lineno,
		         j->delivery_id, j->attempts, why);
		if (j->resp.outcome == MLC_HTTP_DONE)
			result_failed(j, NULL, j->resp.status == 429 && j->ch != MLC_CH_EMAIL ? 20429
			                                                                : j->resp.status,
			              why, j->resp.status, 1);
		else
			result_failed(j, "unavailable", 0, why, 0, 1);
		return;
	}
	requeue(j, now + (uint64_t)delay);
}

/*
 * A send that is neither accepted, nor retried, nor in doubt: a TLS or URL
 * policy failure stops the run (configuration); a local error is failed
 * and retryable; anything else is failed for good with the service's code
 * (else the HTTP status).
 */
static void
not_sent(struct job *j, const char *service, long code, const char *msg)
{
	const struct mlc_http_resp *r = &j->resp;

	if (r->outcome == MLC_HTTP_TLS || r->outcome == MLC_HTTP_POLICY) {
		mlc_warn("%s: %s%s", service,
		         r->outcome == MLC_HTTP_TLS ? "TLS certificate refused: " : "", msg);
		g.config_err = 1;
		g.stop = STOP_CONFIG;
		result_none(j);
		return;
	}
	if (r->outcome != MLC_HTTP_DONE) {
		result_failed(j, "local_error", 0, msg, 0, 1);
		return;
	}
	result_failed(j, NULL, code ? code : r->status, msg, r->status, 0);
}

static void
twilio_sent(struct job *j)
{
	struct mlc_http_resp *r = &j->resp;
	enum mlc_retry_class cls = mlc_retry_classify(r, 0);
	char msg[600];
	long code = 0;

	if (r->outcome == MLC_HTTP_DONE && r->status >= 200 && r->status < 300) {
		jv o = jv_parse_sized(r->body.p ? r->body.p : "", (int)r->body.len);
		char *sid = NULL, *st = NULL;

		if (jv_get_kind(o) == JV_KIND_OBJECT && jstr(o, "sid", &sid) > 0) {
			if (jstr(o, "status", &st) <= 0)
				st = mlc_xstrdup("queued");
			result_ok(j, st, sid, 0);
		} else {
			/* created, but we cannot tell which message: look it up */
			begin_reconcile(j, "HTTP 2xx without a message sid");
		}
		free(sid);
		free(st);
		jv_free(o);
		return;
	}
	if (r->outcome == MLC_HTTP_DONE)
		tw_error(r, &code, msg, sizeof msg);
	else
		snprintf(msg, sizeof msg, "%s", r->error);
	if (r->outcome == MLC_HTTP_DONE && (r->status == 401 || code == 20003)) {
		auth_refused(j, "Twilio");
		return;
	}
	switch (cls) {
	case MLC_RETRY_YES:
		transient(j, msg);
		return;
	case MLC_RETRY_UNKNOWN: {
		char why[700];

		if (r->outcome == MLC_HTTP_DONE)
			snprintf(why, sizeof why, "HTTP %ld on create: %s", r->status, msg);
		else
			snprintf(why, sizeof why, "no answer after the request was sent: %s", msg);
		begin_reconcile(j, why);
		return;
	}
	default:
		break;
	}
	/* permanent: 21211, 21610, 21612, 21614, 21408, 21606, 21617, 403 ... */
	if (code == 21610)
		j->refused_21610 = 1;
	not_sent(j, "Twilio", code, msg);
}

static void
sendgrid_sent(struct job *j)
{
	struct mlc_http_resp *r = &j->resp;
	enum mlc_retry_class cls = mlc_retry_classify(r, 0);
	char msg[600];

	if (r->outcome == MLC_HTTP_DONE && r->status >= 200 && r->status < 300) {
		/* 202 queued; 200 in sandbox mode (validated, not queued) */
		result_ok(j, "accepted",
		          r->message_id[0] ? r->message_id : "", 0);
		return;
	}
	if (r->outcome == MLC_HTTP_DONE)
		sg_error(r, msg, sizeof msg);
	else
		snprintf(msg, sizeof msg, "%s", r->error);
	if (r->outcome == MLC_HTTP_DONE && r->status == 401) {
		auth_refused(j, "SendGrid");
		return;
	}
	if (cls == MLC_RETRY_YES) {
		transient(j, msg);
		return;
	}
	if (cls == MLC_RETRY_UNKNOWN) {
		char why[700];

		snprintf(why, sizeof why, "%s%s; SendGrid has no lookup, not re-sent",
		         r->outcome == MLC_HTTP_DONE ? "server error: " : "no answer: ", msg);
		begin_reconcile(j, why);
		return;
	}
	not_sent(j, "SendGrid", 0, msg);
}

/* 1 when the trail holds sid as the outcome of a delivery other than j's
 * (an older message with the same To and Body, sent and recorded by an
 * earlier run), 0 when not, -1 when the trail could not be read. */
static int
sid_taken(const struct job *j, const char *sid)
{
	struct mlc_trail_ids ids;
	int rc;

	if (!g.store)
		return 0;
	if ((rc = mlc_trail_sid_delivery(g.store, sid, &ids)) < 0) {
		mlc_store_warn(g.store, "looking up a message sid");
		return -1;
	}
	if (rc > 0)
		rc = !j->delivery_id || !ids.delivery_id || strcmp(ids.delivery_id, j->delivery_id) != 0;
	mlc_trail_ids_free(&ids);
	return rc;
}

/* Find our message in a Messages.json page: same To and Body, created at or
 * after the first uncertain attempt (less the skew), not claimed already by
 * this run, not the recorded outcome of another delivery (the trail's:
 * times alone cannot tell an older identical message from ours when the
 * clocks are frozen, skewed, or the two were created in the same second).
 * The oldest such message is the one that attempt created: the list is
 * newest first, so among equal times the last one.  -1: not decided (no
 * list, or the trail could not be read). */
static int
find_match(struct job *j, jv page, char *sid, size_t sidlen, char *st, size_t stlen)
{
	jv list = jget(page, "messages");
	int i, n, found = 0, taken, unread = 0;
	time_t best = 0;

	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		return -1;
	}
	n = jv_array_length(jv_copy(list));
	for (i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(list), i);
		char *to = NULL, *body = NULL, *s = NULL, *status = NULL, *created = NULL;
		time_t t;

		/* a template's body is Twilio's rendering of it, which we never
		 * see: its To and time alone pick it out */
		if (jv_get_kind(m) == JV_KIND_OBJECT && jstr(m, "to", &to) > 0 &&
		    (jstr(m, "body", &body) > 0 || j->content_sid) && jstr(m, "sid", &s) > 0 &&
		    strcmp(to, j->to) == 0 && (j->content_sid || strcmp(body, j->body) == 0) &&
		    !claimed(s)) {
			jstr(m, "status", &status);
			jstr(m, "date_created", &created);
			t = rfc2822(created);
			if (t >= 0 && t + CLOCK_SKEW_S >= j->unknown_since && (!found || t <= best) &&
			    (taken = sid_taken(j, s)) <= 0) {
				if (taken < 0)
					unread = 1;
				found = 1;
				best = t;
				snprintf(sid, sidlen, "%s", s);
				snprintf(st, stlen, "%s", status ? status : "queued");
			}
		}
		free(to);
		free(body);
		free(s);
		free(status);
		free(created);
		jv_free(m);
	}
	jv_free(list);
	return unread ? -1 : found;
}

static void
lookup_done(struct job *j)
{
	struct mlc_http_resp *r = &j->resp;
	uint64_t now = mlc_time_mono_ms();
	char sid[40], st[32];

	if (r->outcome == MLC_HTTP_DONE && r->status == 200) {
		jv o = jv_parse_sized(r->body.p ? r->body.p : "", (int)r->body.len);
		int f = jv_get_kind(o) == JV_KIND_OBJECT ? find_match(j, o, sid, sizeof sid, st,
		                                                      sizeof st)
		                                         : -1;

		jv_free(o);
		if (f > 0) {
			result_ok(j, st, sid, 1);
			return;
		}
		if (f == 0) {
			if (now >= j->unknown_at + (uint64_t)g.grace_ms) {
				/* Demonstrably not created: one more send is safe. */
				if (j->attempts >= g.attempts || g.stop) {
					result_unknown(j, j->unknown_why);
					return;
				}
				mlc_warn("line %lu: delivery %s: not created by the uncertain attempt "
				         "(%s); sending again",
				         j->lineno, j->delivery_id, j->unknown_why);
				j->phase = PH_SEND;
				build_twilio(j);
				requeue(j, now);
				return;
			}
			next_lookup(j, now);
			return;
		}
	}
	if (r->outcome == MLC_HTTP_DONE && r->status == 401) {
		auth_refused(j, "Twilio");
		return;
	}
	if (r->outcome == MLC_HTTP_DONE && r->status == 429)
		pace_pause(&g.tw_pace, now + (uint64_t)(r->retry_after_ms > 0 ? r->retry_after_ms
		                                                                 : 1000));
	/* the lookup itself failed: try for a while, then leave it unknown */
	if (++j->lookups_failed > 8 || g.stop ||
	    now >= j->unknown_at + 3 * (uint64_t)g.grace_ms + 2000) {
		result_unknown(j, j->unknown_why);
		return;
	}
	next_lookup(j, now);
}

static void
poll_done(struct job *j)
{
	struct mlc_http_resp *r = &j->resp;
	uint64_t now = mlc_time_mono_ms();

	if (r->outcome == MLC_HTTP_DONE && r->status == 200) {
		jv o = jv_parse_sized(r->body.p ? r->body.p : "", (int)r->body.len);
		char *st = NULL;

		if (jv_get_kind(o) == JV_KIND_OBJECT && jstr(o, "status", &st) > 0) {
			long ec = jlong(o, "error_code", 0);

			if (strcmp(st, j->status) != 0) {
				event_line(j, "status", st, ec);
				snprintf(j->status, sizeof j->status, "%s", st);
			}
			if (final_status(st)) {
				free(st);
				jv_free(o);
				settle(j);
				return;
			}
		}
		free(st);
		jv_free(o);
	} else if (r->outcome == MLC_HTTP_DONE && r->status == 401) {
		auth_refused(j, "Twilio");
		return;
	} else if (r->outcome == MLC_HTTP_DONE && r->status == 429) {
		pace_pause(&g.tw_pace, now + (uint64_t)(r->retry_after_ms > 0 ? r->retry_after_ms
		                                                                 : 1000));
	} else if (r->outcome == MLC_HTTP_DONE && r->status == 404 && ++j->poll_errors > 5) {
		/* a 404 right after a create is read-after-write lag; five in a row is not */
		mlc_warn("line %lu: %s: no such message", j->lineno, j->sid);
		g.unresolved = 1;
		settle(j);
		return;
	}
	if (g.stop) {
		settle(j);
		return;
	}
	if (now >= j->poll_deadline) {
		event_line(j, "poll_timeout", j->status, 0);
		if (strcmp(j->status, "sent") != 0)
			g.unresolved = 1; /* never left Twilio's queue while we watched */
		settle(j);
		return;
	}
	j->poll_delay *= 2;
	if (j->poll_delay > POLL_CAP_MS)
		j->poll_delay = POLL_CAP_MS;
	requeue(j, now + (uint64_t)j->poll_delay > j->poll_deadline
	               ? j->poll_deadline
	               : now + (uint64_t)j->poll_delay);
}

static void
completed(CURL *c, CURLcode rc)
{
	struct job *j;
	char *priv = NULL;

	curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
	j = (struct job *)(void *)priv;
	curl_multi_remove_handle(g.multi, c);
	g.running--;
	mlc_http_finish(c, (int)rc, &j->resp);
	g.requests[j->ch == MLC_CH_EMAIL]++;
	/* nothing of this job may stay referenced by the reused handle */
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, -1L);
	curl_easy_setopt(c, CURLOPT_PASSWORD, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)NULL);
	g.pool[g.npool++] = c;
	j->easy = NULL;
	switch (j->phase) {
	case PH_SEND:
		if (j->ch == MLC_CH_EMAIL)
			sendgrid_sent(j);
		else
			twilio_sent(j);
		break;
	case PH_LOOKUP:
		lookup_done(j);
		break;
	case PH_POLL:
		poll_done(j);
		break;
	}
}

/* Start what may start now; returns the next time something could. */
static uint64_t
start_ready(uint64_t now)
{
	struct job *j, *nx;
	uint64_t next = UINT64_MAX;

	for (j = g.wait_head; j; j = nx) {
		struct pacer *p = j->ch == MLC_CH_EMAIL ? &g.sg_pace : &g.tw_pace;

		nx = j->next;
		if (g.stop) {
			wait_remove(j);
			if (j->phase == PH_POLL)
				settle(j);
			else
				result_none(j);
			continue;
		}
		if (j->not_before > now) {
			if (j->not_before < next)
				next = j->not_before;
			continue;
		}
		if (!pace_ok(p, now)) {
			uint64_t t = pace_next(p);

			if (t < next)
				next = t;
			continue;
		}
		if (!g.npool)
			break; /* a handle frees when a transfer completes: curl wakes us */
		wait_remove(j);
		if (j->phase == PH_SEND && opted_out(j) != 0)
			continue;
		start(j, now);
	}
	return next;
}

static void
setup_multi(void)
{
	size_t i;

	mlc_http_global_init();
	if (!(g.multi = curl_multi_init()))
		mlc_die(MLC_EX_SOFTWARE, "curl_multi_init failed");
	g.pool = mlc_xcalloc((size_t)g.inflight, sizeof *g.pool);
	for (i = 0; i < (size_t)g.inflight; i++)
		if (!(g.pool[i] = curl_easy_init()))
			mlc_die(MLC_EX_SOFTWARE, "curl_easy_init failed");
	g.npool = (size_t)g.inflight;
	g.h_form = curl_slist_append(NULL, "Accept: application/json");
	g.h_form = curl_slist_append(g.h_form, "Expect:");
	g.h_json = curl_slist_append(NULL, "Accept: application/json");
	g.h_json = curl_slist_append(g.h_json, "Content-Type: application/json");
	g.h_json = curl_slist_append(g.h_json, "Expect:");
	g.h_get = curl_slist_append(NULL, "Accept: application/json");
	if (!g.h_form || !g.h_json || !g.h_get)
		mlc_die(MLC_EX_SOFTWARE, "out of memory");
	g.tw_pace.interval_ms = 1000.0 / g.rate;
	g.tw_pace.tat = (double)mlc_time_mono_ms();
	g.sg_pace.interval_ms = 0; /* SendGrid: no pacing, but 429 pauses */
	g.hopts.timeout_ms = g.timeout_ms;
	g.hopts.connect_timeout_ms = g.timeout_ms < 10000 ? g.timeout_ms : 10000;
	g.hopts.url_policy = MLC_HTTP_ALLOW_HTTP_LOOPBACK;
	g.hopts.trace = g.trace;
}

/* The requests this run sent, added to the trail's counters
 * mlc_remote_requests_total{rule, system} (alert-log metrics); the rule is
 * the one the messages name (mlc_util_rule, the orchestrator's
 * ML_CONNECTOR_RULE; none: counted for no rule).  Never
 * fatal. */
static void
count_requests(void)
{
	static const char *const sys[2] = { "twilio", "sendgrid" };
	const char *rule = mlc_util_rule();
	char ts[32];

	if (!g.store)
		return;
	mlc_time_now_text(ts);
	for (int i = 0; i < 2; i++)
		if (g.requests[i] > 0 &&
		    mlc_trail_metric_put(g.store, 0, "mlc_remote_requests_total", rule, NULL, NULL,
		                         sys[i], (double)g.requests[i], ts) < 0)
			mlc_warn("the count of %s requests is not recorded (above)", sys[i]);
}

static void
teardown(void)
{
	size_t i;

	count_requests();
	if (g.multi) {
		for (i = 0; i < g.npool; i++)
			curl_easy_cleanup(g.pool[i]);
		curl_multi_cleanup(g.multi);
	}
	free(g.pool);
	curl_slist_free_all(g.h_form);
	curl_slist_free_all(g.h_json);
	curl_slist_free_all(g.h_get);
	if (g.tw_pass)
		mlc_vault_free_secret(g.tw_pass);
	if (g.sg_key)
		mlc_vault_free_secret(g.sg_key);
	mlc_vault_close(g.vault);
	mlc_store_close(g.store);
	mlc_conf_free(&g.conf);
	free(g.tw_base);
	free(g.sg_base);
	free(in.buf);
	curl_global_cleanup();
}

static void
run(void)
{
	size_t window = (size_t)g.inflight * 4 > 64 ? (size_t)g.inflight * 4 : 64;

	in.cap = 65536;
	in.buf = mlc_xmalloc(in.cap);
	for (;;) {
		int still = 0, left;
		CURLMsg *m;
		uint64_t now, next;
		long timeout;
		struct curl_waitfd wfd = { 0, CURL_WAIT_POLLIN, 0 };
		unsigned nfd = 0;

		if (g.running > 0) {
			curl_multi_perform(g.multi, &still);
			while ((m = curl_multi_info_read(g.multi, &left)))
				if (m->msg == CURLMSG_DONE)
					completed(m->easy_handle, m->data.result);
		}
		if (got_signal && !g.stop) {
			mlc_warn("interrupted: finishing the requests in flight");
			g.stop = STOP_SIGNAL;
		}
		/* input, while there is room (--poll keeps every sid it watches) */
		while (!in.eof && !g.stop && (g.poll || g.nactive < window)) {
			char *line;
			size_t len;
			int k = in_line(&line, &len);

			if (k <= 0)
				break;
			if (g.poll)
				new_poll(in.lineno, line, len);
			else
				new_delivery(in.lineno, line, len);
		}
		now = mlc_time_mono_ms();
		next = start_ready(now);
		if (g.running == 0 && !g.wait_head && (in.eof || g.stop))
			break;
		if (g.running > 0) {
			curl_multi_perform(g.multi, &still);
			while ((m = curl_multi_info_read(g.multi, &left)))
				if (m->msg == CURLMSG_DONE)
					completed(m->easy_handle, m->data.result);
		}
		now = mlc_time_mono_ms();
		timeout = next == UINT64_MAX ? 1000 : next > now ? (long)(next - now) : 0;
		if (timeout > 1000)
			timeout = 1000;
		if (!in.eof && !g.stop && (g.poll || g.nactive < window))
			nfd = 1;
		curl_multi_poll(g.multi, nfd ? &wfd : NULL, nfd, (int)timeout, NULL);
	}
}

static double
num_opt(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo) || !(d <= hi))
		mlc_util_usage(usage, "option %s: bad value \"%s\"", name, v);
	return d;
}

/* --heartbeat SIGNAL: ok, fail or start (NULL: not this job). */
static const char *heartbeat;
static int poll_inbound;  /* --poll-inbound */

/* The options, into g; *rate_set and *inflight_set say whether -R and -P
 * were given (they then win over the configuration's). */
static void
parse_args(int argc, char **argv, int *rate_set, int *inflight_set)
{
	enum { O_POLL = 256, O_RECONCILE, O_PING, O_PING_SG, O_PASSFILE, O_HEARTBEAT,
	       O_POLL_INBOUND };
	static const struct option lopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "poll", no_argument, NULL, O_POLL },
		{ "reconcile", no_argument, NULL, O_RECONCILE },
		{ "ping", no_argument, NULL, O_PING },
		{ "ping-sendgrid", no_argument, NULL, O_PING_SG },
		{ "heartbeat", required_argument, NULL, O_HEARTBEAT },
		{ "poll-inbound", no_argument, NULL, O_POLL_INBOUND },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "nvc:d:R:P:t:a:b:g:T:i:", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': g.dry_run = 1; break;
		case O_POLL: g.poll = 1; break;
		case O_RECONCILE: g.reconcile = 1; break;
		case O_PING: g.ping = 1; break;
		case O_PING_SG: g.ping_sg = 1; break;
		case O_POLL_INBOUND: poll_inbound = 1; break;
		case O_HEARTBEAT:
			if (strcmp(optarg, "ok") && strcmp(optarg, "fail") && strcmp(optarg, "start"))
				mlc_util_usage(usage, "--heartbeat: ok, fail or start");
			heartbeat = optarg;
			break;
		case 'v': g.trace = 1; break;
		case O_PASSFILE: g.passfile = optarg; break;
		case 'c': g.conf_path = optarg; break;
		case 'd': g.state_dir = optarg; break;
		case 'R':
			g.rate = num_opt("-R", optarg, 0.001, 10000);
			*rate_set = 1;
			break;
		case 'P':
			g.inflight = (long)num_opt("-P", optarg, 1, 256);
			*inflight_set = 1;
			break;
		case 't': g.timeout_ms = (long)(num_opt("-t", optarg, 0.1, 3600) * 1000); break;
		case 'a': g.attempts = (int)num_opt("-a", optarg, 1, 100); break;
		case 'b': g.budget_ms = (long)(num_opt("-b", optarg, 0, 86400) * 1000); break;
		case 'g':
			g.grace_ms = (long)(num_opt("-g", optarg, 0, 3600) * 1000);
			g.grace_set = 1;
			break;
		case 'T': g.poll_timeout_ms = (long)(num_opt("-T", optarg, 0, 86400 * 7) * 1000); break;
		case 'i': g.poll_first_ms = (long)(num_opt("-i", optarg, 0.05, 3600) * 1000); break;
		default: mlc_util_usage(usage, NULL);
		}
	}
	if (optind < argc)
		mlc_util_usage(usage, "unexpected argument %s (input is read from stdin)", argv[optind]);
	if (g.dry_run + g.poll + g.reconcile + g.ping + g.ping_sg + (heartbeat != NULL) > 1) {
		mlc_warn("--dry-run, --poll, --reconcile, --ping, --ping-sendgrid and --heartbeat do "
		         "not go together");
		mlc_util_exit(MLC_EX_USAGE);
	}
}

/*
 * The exit status of a ping's request: 0 when r is a 200, else an exit
 * code after a message naming sys, what was asked, and (401) the secret.
 * Certificate and URL policy: 78 (configuration); no answer, 429 and 5xx:
 * 69 (try again); 401: 77 (the credentials); 403 is the caller's (it means
 * different things to Twilio and SendGrid); other statuses: 78.
 */
static int
ping_status(const char *sys, const char *what, const char *secret_name,
            const struct mlc_http_resp *r, const char *why)
{
	if (r->outcome != MLC_HTTP_DONE) {
		mlc_warn("%s: %s: %s", sys, mlc_http_outcome_name(r->outcome), r->error);
		return r->outcome == MLC_HTTP_TLS || r->outcome == MLC_HTTP_POLICY ? MLC_EX_CONFIG
		                                                                   : MLC_EX_UNAVAILABLE;
	}
	if (r->status == 200)
		return 0;
	if (r->status == 401) {
		mlc_warn("%s: credentials refused (HTTP 401%s%s); check the vault secret %s", sys,
		         why ? ": " : "", why ? why : "", secret_name);
		return MLC_EX_NOPERM;
	}
	mlc_warn("%s: HTTP %ld %s%s%s", sys, r->status, what, why ? ": " : "", why ? why : "");
	return r->status >= 500 || r->status == 429 ? MLC_EX_UNAVAILABLE : MLC_EX_CONFIG;
}

/* Write one ping line; 0 or 74. */
static int
ping_put(struct mlc_buf *out)
{
	int code = MLC_EX_OK;

	if (mlc_ndjson_put(1, out) < 0) {
		mlc_warn("write error on stdout: %s", strerror(errno));
		code = MLC_EX_IOERR;
	}
	mlc_buf_free(out);
	return code;
}

/*
 * --ping: read the Twilio account (GET Accounts/{Sid}.json), sending
 * nothing.  One line on stdout.  "Ping your real systems."
 */
/* The options of a handle for one request of its own (--ping,
 * --ping-sendgrid, --poll-inbound): the run's timeout and trace. */
static void
oneoff_opts(struct mlc_http_opts *ho)
{
	memset(ho, 0, sizeof *ho);
	ho->timeout_ms = g.timeout_ms;
	ho->url_policy = MLC_HTTP_ALLOW_HTTP_LOOPBACK;
	ho->trace = g.trace;
}

static int
do_ping(void)
{
	struct mlc_http_opts ho;
	struct mlc_http *h;
	struct mlc_http_resp r;
	struct mlc_buf url, out;
	const char *user;
	char *status = NULL, *name = NULL;
	int code;

	if ((code = channel_ready(MLC_CH_SMS)))
		return code;
	oneoff_opts(&ho);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/2010-04-01/Accounts/%s.json", g.tw_base, g.account_sid);
	h = mlc_http_new(&ho);
	mlc_http_resp_init(&r);
	user = g.api_key_sid ? g.api_key_sid : g.account_sid;
	mlc_http_request(h, "GET", url.p, NULL, NULL, 0, user, g.tw_pass, &r);
	if (r.outcome == MLC_HTTP_DONE && r.status == 403) {
		mlc_warn("Twilio: credentials refused (HTTP 403)");
		code = MLC_EX_NOPERM;
	} else if (!(code = ping_status("Twilio", "reading the account",
	                                g.api_key_sid ? "twilio.api_key_secret" : "twilio.auth_token",
	                                &r, NULL))) {
		jv o = jv_parse_sized(r.body.p ? r.body.p : "", (int)r.body.len);

		if (jv_get_kind(o) == JV_KIND_OBJECT) {
			jstr(o, "status", &status);
			jstr(o, "friendly_name", &name);
		}
		jv_free(o);
	}
	mlc_http_resp_free(&r);
	mlc_http_free(h);
	mlc_buf_free(&url);
	if (code)
		return code;
	mlc_buf_init(&out);
	mlc_buf_adds(&out, "{\"ping\":\"ok\",\"system\":\"twilio\",\"account_sid\":");
	mlc_buf_json_str(&out, g.account_sid, strlen(g.account_sid));
	mlc_buf_adds(&out, ",\"status\":");
	if (status)
		mlc_buf_json_str(&out, status, strlen(status));
	else
		mlc_buf_adds(&out, "null");
	mlc_buf_adds(&out, ",\"friendly_name\":");
	if (name)
		mlc_buf_json_str(&out, name, strlen(name));
	else
		mlc_buf_adds(&out, "null");
	mlc_buf_addc(&out, '}');
	free(status);
	free(name);
	return ping_put(&out);
}

/*
 * --ping-sendgrid: GET /v3/scopes with the key, sending nothing.  SendGrid
 * documents it as returning "all the scopes assigned to the key you use to
 * authenticate with it" ({"scopes":[...]}), and 401 with an "errors" body
 * when the key is refused (API reference, "Retrieve a list of scopes for
 * which this user has access", docs.sendgrid.com/api-reference/
 * api-key-permissions/).  It names no scope a key needs to call it, so a
 * key restricted to Mail Send may call it; should SendGrid answer a
 * restricted key 403 all the same (authenticated, not permitted), the key
 * was accepted and whether it may send is not known: a warning, status 0.
 * A key without mail.send has every mail send refused (403): 77.
 */
static int
do_ping_sendgrid(void)
{
	static const char *const hdrs[] = { "Accept: application/json", NULL };
	struct mlc_http_opts ho;
	struct mlc_http *h;
	struct mlc_http_resp r;
	struct mlc_buf url, out;
	char why[256];
	long nscopes = -1;
	int code, mail_send = -1;

	if ((code = channel_ready(MLC_CH_EMAIL)))
		return code;
	oneoff_opts(&ho);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/v3/scopes", g.sg_base);
	h = mlc_http_new(&ho);
	mlc_http_resp_init(&r);
	mlc_http_request(h, "GET", url.p, hdrs, NULL, 0, NULL, g.sg_key, &r);
	why[0] = '\0';
	if (r.outcome == MLC_HTTP_DONE && r.status != 200) {
		sg_error(&r, why, sizeof why);
		if (strncmp(why, "HTTP ", 5) == 0)
			why[0] = '\0'; /* no errors body: the status alone says it */
	}
	if (r.outcome == MLC_HTTP_DONE && r.status == 403) {
		mlc_warn("SendGrid: the key was accepted but may not read its scopes (HTTP 403%s%s); "
		         "whether it may send mail (mail.send) is not known", why[0] ? ": " : "", why);
	} else if (!(code = ping_status("SendGrid", "reading the key's scopes",
	                                "sendgrid.api_key", &r, why[0] ? why : NULL))) {
		jv o = jv_parse_sized(r.body.p ? r.body.p : "", (int)r.body.len);
		jv sc = jv_get_kind(o) == JV_KIND_OBJECT ? jget(o, "scopes") : jv_invalid();

		if (jv_get_kind(sc) != JV_KIND_ARRAY) {
			mlc_warn("SendGrid: GET /v3/scopes answered 200 without a \"scopes\" list");
			code = MLC_EX_UNAVAILABLE;
		} else {
			mail_send = 0;
			nscopes = jv_array_length(jv_copy(sc));
			jv_array_foreach(sc, i, v) {
				if (jv_get_kind(v) == JV_KIND_STRING &&
				    strcmp(jv_string_value(v), "mail.send") == 0)
					mail_send = 1;
				jv_free(v);
			}
			if (!mail_send) {
				mlc_warn("SendGrid: the key lacks the mail.send permission (%ld scopes, none "
				         "mail.send): every e-mail would be refused; give the key Mail Send "
				         "access, or store one that has it (mlc-vault set sendgrid.api_key)",
				         nscopes);
				code = MLC_EX_NOPERM;
			}
		}
		jv_free(sc);
		jv_free(o);
	}
	mlc_http_resp_free(&r);
	mlc_http_free(h);
	mlc_buf_free(&url);
	if (code)
		return code;
	mlc_buf_init(&out);
	mlc_buf_adds(&out, "{\"ping\":\"ok\",\"system\":\"sendgrid\",\"from\":");
	mlc_buf_json_str(&out, g.sg_from, strlen(g.sg_from));
	if (nscopes < 0)
		mlc_buf_adds(&out, ",\"scopes\":null,\"mail_send\":null}");
	else
		mlc_buf_printf(&out, ",\"scopes\":%ld,\"mail_send\":true}", nscopes);
	return ping_put(&out);
}

/*
 * --heartbeat: the dead man's switch.  The URL is the secret: no message
 * names it, nor curl's error text (which may quote it); the outcome and
 * the status say what happened.
 */
static int
do_heartbeat(void)
{
	static const char *const hdrs[] = { "Content-Type: text/plain; charset=utf-8", NULL };
	struct mlc_http_opts ho;
	struct mlc_http *h;
	struct mlc_http_resp r;
	struct mlc_buf url, body;
	struct mlc_retry rt;
	char *base = NULL, chunk[4096];
	int code, tries = 0;
	long wait;
	ssize_t n;

	if ((code = secret("heartbeat.url", &base)))
		return code;
	mlc_buf_init(&body);
	while (body.len < 10000 && (n = read(0, chunk, sizeof chunk)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		mlc_buf_add(&body, chunk, body.len + (size_t)n > 10000 ? 10000 - body.len : (size_t)n);
	}
	mlc_buf_init(&url);
	mlc_buf_adds(&url, base);
	while (url.len && url.p[url.len - 1] == '/')
		url.p[--url.len] = '\0';
	if (strcmp(heartbeat, "ok"))
		mlc_buf_printf(&url, "/%s", heartbeat);
	mlc_vault_free_secret(base);
	memset(&ho, 0, sizeof ho);
	ho.timeout_ms = 10000;
	ho.connect_timeout_ms = 5000;
	ho.url_policy = MLC_HTTP_ALLOW_HTTP_LOOPBACK;
	ho.secret_url = 1; /* its path is the check's key */
	ho.cainfo = mlc_conf_get(&g.conf, "heartbeat", "ca_bundle");
	h = mlc_http_new(&ho);
	mlc_http_resp_init(&r);
	/* retry.c's classes and waits: a ping may be sent twice (the service
	 * counts pings, it does not act on them), so it is idempotent. */
	mlc_retry_init(&rt);
	rt.max_attempts = 3;
	rt.base_ms = 1000;
	rt.cap_ms = 4000;
	rt.retry_after_max_ms = 10000;
	rt.budget_ms = 60000;
	for (;;) {
		char err[256];

		if (mlc_http_url_ok(url.p, ho.url_policy, err, sizeof err) < 0) {
			mlc_warn("heartbeat: the URL in the vault (heartbeat.url) is refused: an https "
			         "URL is needed (http only to loopback)");
			code = MLC_EX_CONFIG;
			break;
		}
		mlc_http_request(h, "POST", url.p, hdrs, body.p ? body.p : "", body.len, NULL, NULL,
		                 &r);
		tries++;
		if (r.outcome == MLC_HTTP_DONE && r.status >= 200 && r.status < 300) {
			code = MLC_EX_OK;
			break;
		}
		if (mlc_retry_classify(&r, 1) != MLC_RETRY_YES) {
			code = MLC_EX_CONFIG;
			break;
		}
		code = MLC_EX_UNAVAILABLE;
		if ((wait = mlc_retry_next(&rt, r.retry_after_ms)) < 0)
			break;
		mlc_retry_sleep(wait, NULL);
	}
	if (code == MLC_EX_CONFIG && r.outcome == MLC_HTTP_DONE)
		mlc_warn("heartbeat: %s ping answered HTTP %ld (404: the check does not exist; "
		         "see the URL stored as heartbeat.url)", heartbeat, r.status);
	else if (code && r.outcome != MLC_HTTP_DONE)
		mlc_warn("heartbeat: %s ping: %s%s%d tr%s", heartbeat, mlc_http_outcome_name(r.outcome),
		         code == MLC_EX_UNAVAILABLE ? " after " : ", ", tries, tries == 1 ? "y" : "ies");
	else if (code)
		mlc_warn("heartbeat: %s ping answered HTTP %ld after %d tr%s", heartbeat, r.status,
		         tries, tries == 1 ? "y" : "ies");
	mlc_buf_wipe(&url);
	mlc_buf_free(&body);
	mlc_http_resp_free(&r);
	mlc_http_free(h);
	return code;
}

/*
 * --poll-inbound: the messages recipients sent to each of our numbers
 * ([twilio] from, whatsapp_from), from Twilio's Messages list, for where
 * no public URL can take the incoming-message webhook: GET Messages.json
 * with To=NUMBER and DateSent>=DAY, following next_page_uri (relative:
 * prefixed with the API base) to the end, keeping the items whose
 * direction is "inbound" (the list has no direction filter), one
 * {"event":"inbound",...} line each (optout.c) for alert-log, which
 * records each sid once.  DAY is the day before the newest date_sent the
 * trail holds for that number (yesterday the first time): the filter
 * has day granularity and lists lag behind, so the window overlaps and
 * the sid dedupes.  Exit 0; 77 credentials refused; 78 configuration; 69
 * a page not read (lines already written stand; the next poll repeats).
 */
static int
poll_number(struct mlc_http *h, const char *user, const char *number, long psize)
{
	struct mlc_buf url, out;
	struct mlc_http_resp r;
	char *since = NULL, day[16];
	time_t t;
	struct tm tm;
	struct timespec ts;
	int code = 0, pages = 0;

	t = wall_s();
	if (g.store && mlc_trail_inbound_since(g.store, number, &since) == 1 &&
	    mlc_time_parse(since, &ts) == 0)
		t = ts.tv_sec;
	free(since);
	t -= 86400;
	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	mlc_buf_init(&url);
	mlc_buf_init(&out);
	mlc_buf_printf(&url, "%s/2010-04-01/Accounts/%s/Messages.json?To=", g.tw_base,
	               g.account_sid);
	mlc_buf_form_enc(&url, number, strlen(number));
	mlc_buf_printf(&url, "&DateSent%%3E=%s&PageSize=%ld", day, psize);
	for (;;) {
		jv o, list, next;
		int i, n;

		mlc_http_resp_init(&r);
		mlc_http_request(h, "GET", url.p, NULL, NULL, 0, user, g.tw_pass, &r);
		if (r.outcome != MLC_HTTP_DONE || r.status != 200) {
			if (r.outcome == MLC_HTTP_DONE && (r.status == 401 || r.status == 403)) {
				mlc_warn("Twilio: credentials refused (HTTP %ld) listing messages", r.status);
				code = MLC_EX_NOPERM;
			} else {
				mlc_warn("Twilio: listing the messages to %s: %s", number,
				         r.outcome == MLC_HTTP_DONE ? "HTTP error" : r.error);
				code = MLC_EX_UNAVAILABLE;
			}
			mlc_http_resp_free(&r);
			break;
		}
		o = jv_parse_sized(r.body.p ? r.body.p : "", (int)r.body.len);
		mlc_http_resp_free(&r);
		list = jget(o, "messages"); /* jget copies o; o is freed below */
		n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
		for (i = 0; i < n; i++) {
			jv m = jv_array_get(jv_copy(list), i);
			char *f[7] = { NULL };
			static const char *const k[7] = { "direction", "sid", "from", "to",
				                          "messaging_service_sid", "body", "date_sent" };
			struct mlc_inbound im;
			char when[32];
			int j;

			for (j = 0; j < 7; j++)
				jstr(m, k[j], &f[j]);
			jv_free(m);
			if (f[0] && strcmp(f[0], "inbound") == 0 && f[1] && f[2] && f[3]) {
				time_t ds = rfc2822(f[6]);

				memset(&im, 0, sizeof im);
				im.sid = f[1], im.from = f[2], im.to = f[3], im.mss = f[4];
				im.body = f[5] ? f[5] : "";
				im.source = "poll";
				if (ds >= 0) {
					ts.tv_sec = ds;
					ts.tv_nsec = 0;
					mlc_time_fmt(when, &ts);
					im.date_sent = when;
				}
				mlc_buf_reset(&out);
				mlc_optout_line(&out, &im);
				put_line(&out);
			}
			for (j = 0; j < 7; j++)
				free(f[j]);
		}
		jv_free(list);
		next = jget(o, "next_page_uri");
		jv_free(o);
		if (jv_get_kind(next) != JV_KIND_STRING || ++pages >= 10000) {
			jv_free(next);
			break;
		}
		mlc_buf_reset(&url);
		mlc_buf_printf(&url, "%s%s", g.tw_base, jv_string_value(next));
		jv_free(next);
	}
	mlc_buf_free(&url);
	mlc_buf_free(&out);
	return code;
}

static int
do_poll_inbound(void)
{
	struct mlc_http_opts ho;
	struct mlc_http *h;
	const char *ps = cget("twilio", "inbound_page_size");
	char *wa = NULL, *end;
	long psize = 50;
	int code, c2 = 0;

	if (ps) {
		psize = strtol(ps, &end, 10);
		if (*end || psize < 1 || psize > 1000)
			config_die("%s: [twilio] inbound_page_size: expected 1 to 1000, not \"%s\"", ps);
	}
	if (!g.from && !g.wa_from)
		config_die("%s: [twilio] from or whatsapp_from: %s", "no number to poll");
	if ((code = channel_ready(MLC_CH_SMS)))
		return code;
	oneoff_opts(&ho);
	h = mlc_http_new(&ho);
	if (g.from)
		code = poll_number(h, g.api_key_sid ? g.api_key_sid : g.account_sid, g.from, psize);
	if (g.wa_from && code != MLC_EX_NOPERM) {
		wa = mlc_addr_whatsapp(g.wa_from);
		c2 = poll_number(h, g.api_key_sid ? g.api_key_sid : g.account_sid, wa, psize);
		free(wa);
	}
	mlc_http_free(h);
	return code ? code : c2;
}

int
main(int argc, char **argv)
{
	int rate_set = 0, inflight_set = 0, code;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	g.rate = 1;
	g.inflight = 4;
	g.timeout_ms = 30000;
	g.attempts = 5;
	g.budget_ms = 300000;
	g.grace_ms = 10000;
	g.poll_timeout_ms = 600000;
	g.poll_first_ms = 2000;
	parse_args(argc, argv, &rate_set, &inflight_set);

	mlc_util_signals(&got_signal);
	mlc_util_nodump(); /* we will hold credentials */
	load_config(rate_set, inflight_set);
	if (g.ping)
		mlc_util_exit(do_ping());
	if (g.ping_sg)
		mlc_util_exit(do_ping_sendgrid());
	if (heartbeat)
		mlc_util_exit(do_heartbeat());
	if (poll_inbound)
		mlc_util_exit(do_poll_inbound());
	setup_multi();
	run();
	auth_record();

	if (g.stop == STOP_AUTH)
		code = MLC_EX_NOPERM;
	else if (g.db_err)
		code = MLC_EX_IOERR;
	else if (g.config_err || g.stop == STOP_CONFIG)
		code = MLC_EX_CONFIG;
	else if (g.unknown || g.unresolved || g.stop == STOP_SIGNAL)
		code = MLC_EX_TEMPFAIL;
	else if (g.unavailable)
		code = MLC_EX_UNAVAILABLE;
	else if (g.bad_input)
		code = MLC_EX_DATAERR;
	else
		code = MLC_EX_OK;
	teardown();
	mlc_util_exit(code);
}
