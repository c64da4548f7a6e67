/*
 * realert.c — the re-alert index: may this alert go to this recipient now?
 *
 * Table realert (store.c) holds, per (rule, alert key, recipient id), when
 * an alert was first and last *sent*, how often, and the fingerprint it was
 * sent with.  Two halves, kept in different programs on purpose:
 *
 *   check  alert-match asks before it emits an alert; it never writes, so a
 *          match that is never delivered (killed run, failed send) does not
 *          count as sent and the next run alerts again.
 *   mark   alert-log records a send when a delivery is recorded as sent;
 *          only then does the window start.  Marking the same send twice
 *          (a replayed log line) changes nothing.
 *
 * Window semantics: window_s < 0 ("never"): once sent, never again while
 * the fingerprint stays the same; window_s == 0: no suppression; > 0:
 * suppressed while now - last_sent < window_s and the fingerprint is the
 * same.  A changed fingerprint (e.g. the open amount) always may send.
 */
#include <string.h>

#include <sqlite3.h>

#include "mlc.h"

static int
same_fp(const unsigned char *stored, const char *fp)
{
	if (!stored || !fp)
		return !stored && !fp;
	return strcmp((const char *)stored, fp) == 0;
}

int
mlc_realert_check(struct mlc_store *s, const char *rule, const char *key,
                  const char *recipient, const char *fingerprint, time_t now, long window_s,
                  char last_sent[32], long *count)
{
	sqlite3_stmt *st = NULL;
	int rc, verdict = 0;

	if (last_sent)
		last_sent[0] = '\0';
	if (count)
		*count = 0;
	if (mlc_store_prepare(s, "SELECT last_sent, count, fingerprint FROM realert"
	                         " WHERE rule = ?1 AND alert_key = ?2 AND recipient = ?3",
	                      &st) < 0) {
		mlc_store_warn(s, "re-alert check");
		return -1;
	}
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
	rc = mlc_store_step(s, st);
	if (rc == SQLITE_ROW) {
		const unsigned char *ls = sqlite3_column_text(st, 0);
		struct timespec t;

		if (last_sent && ls)
			snprintf(last_sent, 32, "%s", (const char *)ls);
		if (count)
			*count = (long)sqlite3_column_int64(st, 1);
		if (ls && same_fp(sqlite3_column_text(st, 2), fingerprint) && window_s != 0) {
			if (window_s < 0)
				verdict = 1;
			else if (mlc_time_parse((const char *)ls, &t) == 0 &&
			         (long long)now - (long long)t.tv_sec < (long long)window_s)
				verdict = 1;
		}
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		mlc_store_warn(s, "re-alert check");
		return -1;
	}
	sqlite3_finalize(st);
	return verdict;
}

int
mlc_realert_mark(struct mlc_store *s, const char *rule, const char *key, const char *recipient,
                 const char *fingerprint, const char *sent_at)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (mlc_store_prepare(s,
	                       "INSERT INTO realert (rule, alert_key, recipient, first_sent,"
	                       " last_sent, count, fingerprint) VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)"
	                       " ON CONFLICT (rule, alert_key, recipient) DO UPDATE SET"
	                       " first_sent = coalesce(first_sent, excluded.first_sent),"
	                       " last_sent = excluded.last_sent, count = count + 1,"
	                       " fingerprint = excluded.fingerprint"
	                       " WHERE last_sent IS NOT excluded.last_sent"
	                       " OR fingerprint IS NOT excluded.fingerprint",
	                       &st) < 0) {
		mlc_store_warn(s, "re-alert mark");
		return -1;
	}
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sent_at, -1, SQLITE_STATIC);
	if (fingerprint)
		sqlite3_bind_text(st, 5, fingerprint, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	rc = mlc_store_step(s, st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mlc_store_warn(s, "re-alert mark");
		return -1;
	}
	return 0;
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
