/*
 * retry.c — which failures to retry, and how long to wait.
 *
 * After curl's tool_operate.c: only timeouts, 408, 429 and some 5xx retry;
 * Retry-After raises the wait; the wait grows exponentially up to a cap;
 * a total budget bounds the whole.  Unlike curl we separate requests that
 * may be repeated (idempotent: GET, a status poll, an AIS query) from those
 * that may not (the POST that creates a Twilio message: sending it twice
 * texts someone twice).
 *
 * Classification (mlc_retry_classify):
 *   response 1xx/2xx/3xx             NO (done; redirects are not followed)
 *   408, 429                          YES: the server says it did not act
 *                                     (Twilio 20429: "never processed and is
 *                                     always safe to retry")
 *   401, 403, 444                     AUTH: log in again (AIS answers a bad
 *                                     token with 444 or 403), never a blind
 *                                     retry with the same credentials
 *   other 4xx                         NO: permanent (bad number, opted out...)
 *   500                               idempotent YES, else UNKNOWN: Twilio
 *                                     20500 says GET/DELETE are safe to
 *                                     retry, but creating a message "is not
 *                                     idempotent" and may have happened
 *   503                               YES, also for a POST: Twilio 20503 says
 *                                     "try again a few times with exponential
 *                                     back-off", and a 503 normally comes
 *                                     from a server or gateway that refused
 *                                     the request before handling it.  The
 *                                     reference notes a small, unverified
 *                                     duplicate risk; we accept it because the
 *                                     alternative (UNKNOWN) would strand every
 *                                     message during a routine overload.
 *   502, 504                          idempotent YES, else UNKNOWN: a gateway
 *                                     error means the origin did not answer
 *                                     the gateway, which for a 504 (timeout)
 *                                     and a 502 (connection dropped) may
 *                                     follow a request the origin processed.
 *   501, 505                          NO: the server will never do it
 *   other 5xx                         like 500
 *   NOT_SENT                          YES: no byte reached the server
 *   UNKNOWN                           idempotent YES, else UNKNOWN
 *   TLS, POLICY, ERROR                NO: configuration or local trouble
 *
 * Delays (mlc_retry_next): "full jitter" — uniform in [0, min(cap,
 * base * 2^(n-1))] after the n-th failed attempt, then raised to
 * Retry-After (clamped to retry_after_max_ms).  Nothing is returned that
 * would end past the budget: the time used is the larger of the wall time
 * since mlc_retry_init (which includes the waits when the caller really
 * slept) and the sum of the delays handed out (when it did not, as in
 * tests), so waits are never counted twice.
 *
 * Hints (mlc_retry_hint): a permanent failure that is ours to fix names
 * the fix, wherever it is shown (twilio-send's result, alert-log why).
 * Codes and causes: reference/twilio.md §1.4 and §8.4, and the sources in
 * twilio-send(1) STANDARDS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mlc.h"

enum mlc_retry_class
mlc_retry_classify(const struct mlc_http_resp *r, int idempotent)
{
	long s = r->status;

	switch (r->outcome) {
	case MLC_HTTP_DONE:
		break;
	case MLC_HTTP_NOT_SENT:
		return MLC_RETRY_YES;
	case MLC_HTTP_UNKNOWN:
		return idempotent ? MLC_RETRY_YES : MLC_RETRY_UNKNOWN;
	case MLC_HTTP_TLS:
	case MLC_HTTP_POLICY:
	case MLC_HTTP_ERROR:
	default:
		return MLC_RETRY_NO;
	}
	if (s < 400)
		return MLC_RETRY_NO;
	if (s == 408 || s == 429 || s == 503)
		return MLC_RETRY_YES;
	if (s == 401 || s == 403 || s == 444)
		return MLC_RETRY_AUTH;
	if (s < 500)
		return MLC_RETRY_NO;
	if (s == 501 || s == 505)
		return MLC_RETRY_NO;
	return idempotent ? MLC_RETRY_YES : MLC_RETRY_UNKNOWN;
}

const char *
mlc_retry_class_name(enum mlc_retry_class c)
{
	switch (c) {
	case MLC_RETRY_NO: return "NO";
	case MLC_RETRY_YES: return "YES";
	case MLC_RETRY_UNKNOWN: return "UNKNOWN";
	case MLC_RETRY_AUTH: return "AUTH";
	}
	return "NO";
}

void
mlc_retry_init(struct mlc_retry *rt)
{
	const char *seed = getenv("ML_CONNECTOR_RETRY_SEED");

	memset(rt, 0, sizeof *rt);
	rt->max_attempts = 5;
	rt->base_ms = 500;
	rt->cap_ms = 30000;
	rt->retry_after_max_ms = 120000;
	rt->budget_ms = 300000;
	clock_gettime(CLOCK_MONOTONIC, &rt->start);
	if (seed && *seed) {
		rt->rng = (uint32_t)strtoul(seed, NULL, 10);
	} else {
		if (sodium_init() < 0)
			mlc_die(MLC_EX_SOFTWARE, "sodium_init failed");
		rt->rng = randombytes_random();
	}
	/* murmur3's finaliser: small test seeds (1, 2, ...) would otherwise
	 * give xorshift a run of tiny first values */
	rt->rng ^= rt->rng >> 16;
	rt->rng *= 0x85ebca6bu;
	rt->rng ^= rt->rng >> 13;
	rt->rng *= 0xc2b2ae35u;
	rt->rng ^= rt->rng >> 16;
	if (!rt->rng)
		rt->rng = 0x9e3779b9u; /* xorshift must not start at 0 */
}

/* xorshift32: jitter needs spread, not secrecy. */
static uint32_t
rng_next(struct mlc_retry *rt)
{
	uint32_t x = rt->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rt->rng = x;
}

static long
elapsed_ms(const struct mlc_retry *rt)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - rt->start.tv_sec) * 1000 +
	       (now.tv_nsec - rt->start.tv_nsec) / 1000000;
}

long
mlc_retry_next(struct mlc_retry *rt, long retry_after_ms)
{
	long ceil, delay, used;
	int i;

	rt->attempt++; /* the attempt that just failed */
	if (rt->attempt >= rt->max_attempts)
		return -1;
	ceil = rt->base_ms > 0 ? rt->base_ms : 0;
	for (i = 1; i < rt->attempt && ceil < rt->cap_ms; i++)
		ceil *= 2;
	if (ceil > rt->cap_ms)
		ceil = rt->cap_ms;
	if (ceil < 0)
		ceil = 0;
	/* uniform in [0, ceil]: a 32-bit draw scaled, no modulo bias worth naming */
	delay = (long)(((uint64_t)rng_next(rt) * ((uint64_t)ceil + 1)) >> 32);
	if (retry_after_ms >= 0) {
		long ra = retry_after_ms < rt->retry_after_max_ms ? retry_after_ms
		                                                  : rt->retry_after_max_ms;

		if (ra > delay)
			delay = ra;
	}
	used = elapsed_ms(rt);
	if (used < rt->waited_ms)
		used = rt->waited_ms;
	if (used + delay > rt->budget_ms)
		return -1;
	rt->waited_ms += delay;
	return delay;
}

void
mlc_retry_sleep(long ms, volatile int *stop)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		if (stop && *stop)
			return;
}

int
mlc_retry_bad_address(long code)
{
	/* 21211: "Invalid 'To' Phone Number"; 21614: "'To' number is not a
	 * valid mobile number" (reference/twilio.md §1.4): the address itself,
	 * refused whoever sends to it and whenever.  Not 21612 (a route, which
	 * depends on the sender and the carrier) nor 21610 (an opt-out, which
	 * optout.c keeps per pair and which START undoes). */
	return code == 21211 || code == 21614;
}

const char *
mlc_retry_hint(long code)
{
	switch (code) {
	case 63016:
		/* 63016: outside the 24-hour customer service window */
		return "WhatsApp takes a free-form text only within 24 hours of the recipient's "
		       "last message: give the rule an approved template ([message] "
		       "whatsapp_template and whatsapp_variables, ml-connector(5))";
	case 21655:
		return "[message] whatsapp_template is not a Content SID of this account "
		       "(Twilio Console, Content Template Builder)";
	case 21656:
		return "a [message] whatsapp_variables value is empty or malformed: "
		       "alert-render --check -r RULE";
	case 63028:
		return "[message] whatsapp_variables does not give as many variables as the "
		       "template has placeholders";
	default:
		return NULL;
	}
}
