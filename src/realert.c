/*
 * realert.c — the re-alert index: may this alert go to this recipient now?
 *
 * Table realert (store.c; its statements in trail.c) holds, per (rule,
 * alert key, recipient id), when an alert was first and last *sent*, how
 * often, and the fingerprint it was sent with.  Two halves, kept in different programs on purpose:
 *
 *   check  alert-match asks before it emits an alert; it never writes, so a
 *          match that is never delivered (killed run, failed send) does not
 *          count as sent and the next run alerts again.
 *   mark   alert-log records a send (mlc_trail_realert_mark) when a delivery is recorded as sent;
 *          only then does the window start.  Marking the same send twice
 *          (a replayed log line) changes nothing.
 *
 * Window semantics: window_s < 0 ("never"): once sent, never again while
 * the fingerprint stays the same; window_s == 0: no suppression; > 0:
 * suppressed while now - last_sent < window_s and the fingerprint is the
 * same.  A changed fingerprint (e.g. the open amount) always may send.
 *
 * Refused for good: when Twilio refused the recipient's address itself
 * (mlc_retry_bad_address: 21211, 21614), alert-log records the address on
 * the row (mlc_trail_realert_refuse) and the delivery stays "failed" once.
 * The check says so (2) and alert-match holds the alert back from that
 * address whatever the window and the fingerprint: the number will not
 * become valid by itself, and texting it at every run only fills the trail
 * with the same refusal.  A corrected address in JDE is another address and
 * is sent to; a send clears the refusal.
 */
#include <string.h>

#include "mlc.h"

static int
same_fp(const char *stored, const char *fp)
{
	if (!stored || !fp)
		return !stored && !fp;
	return strcmp(stored, fp) == 0;
}

int
mlc_realert_check(struct mlc_store *s, const char *rule, const char *key,
                  const char *recipient, const char *fingerprint, time_t now, long window_s,
                  char last_sent[32], long *count, struct mlc_realert_refusal *refused)
{
	struct mlc_trail_realert row;
	int rc, verdict = 0;

	if (last_sent)
		last_sent[0] = '\0';
	if (count)
		*count = 0;
	if ((rc = mlc_trail_realert_get(s, rule, key, recipient, &row)) < 0) {
		mlc_store_warn(s, "re-alert check");
		return -1;
	}
	if (rc == 1 && row.refused_to && refused) {
		snprintf(refused->to, sizeof refused->to, "%s", row.refused_to);
		snprintf(refused->at, sizeof refused->at, "%s", row.refused_at ? row.refused_at : "");
		refused->code = row.refused_code;
		verdict = 2;
	}
	if (rc == 1) {
		const char *ls = row.last_sent;
		struct timespec t;

		if (last_sent && ls)
			snprintf(last_sent, 32, "%s", ls);
		if (count)
			*count = row.count;
		if (verdict == 0 && ls && same_fp(row.fingerprint, fingerprint) && window_s != 0) {
			if (window_s < 0)
				verdict = 1;
			else if (mlc_time_parse(ls, &t) == 0 &&
			         (long long)now - (long long)t.tv_sec < (long long)window_s)
				verdict = 1;
		}
	}
	mlc_trail_realert_free(&row);
	return verdict;
}

/* "never" -> -1, "0" -> 0, "90m" "24h" "7d" "2w" -> seconds; -2 if bad. */
long
mlc_realert_window(const char *s)
{
	long n = 0, mul;
	const char *p = s;

	if (!s || !*s || strcmp(s, "never") == 0)
		return -1;
	if (strcmp(s, "always") == 0 || strcmp(s, "0") == 0)
		return 0;
	if (!(*p >= '0' && *p <= '9'))
		return -2;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (*p - '0');
		if (n > 100000000L)
			return -2;
		p++;
	}
	switch (*p) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	case 'w': mul = 7 * 86400; break;
	default: return -2;
	}
	if (p[1] || n == 0 || n > 3650L * 86400 / mul)
		return -2;
	return n * mul;
}
