/*
 * twsig.c — X-Twilio-Signature: computing it (the Twilio simulator signs its
 * status callbacks) and validating it (the callback receiver), plus the
 * application/x-www-form-urlencoded parser both need.
 *
 * The validation rules are those of Twilio's own helper libraries
 * (twilio-python request_validator.py, twilio-node webhooks.ts), because
 * Twilio's signing is inconsistent about ports and query encoding and the
 * libraries are what receivers are tested against:
 *   - the URL with any explicit port removed, and with the scheme's default
 *     port added when none is given, are both accepted;
 *   - an apostrophe in the query and its %27 form are treated alike (Node
 *     parses the URL with WHATWG rules, which percent-encode it);
 *   - JSON webhooks sign the URL alone and prove the body with
 *     bodySHA256=<hex SHA-256> in the query.
 * HMAC-SHA1 comes from OpenSSL's libcrypto (libsodium has no SHA-1);
 * SHA-256, base64 and constant-time comparison from libsodium.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "mlc.h"

struct pair {
	const char *name, *value;
};

static int
paircmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* strcmp compares unsigned bytes: UTF-8 byte order is code-point order. */
	return c ? c : strcmp(x->value, y->value);
}

static void
sign_buf(const char *token, const struct mlc_buf *msg, char out[MLC_TWSIG_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)msg->p, msg->len,
	          md, &mdlen) || mdlen != 20) {
		memset(out, 0, MLC_TWSIG_LEN + 1);
		return;
	}
	sodium_bin2base64(out, MLC_TWSIG_LEN + 1, md, mdlen, sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(md, sizeof md);
}

/* The string to sign: url, then the sorted, per-name de-duplicated pairs. */
static void
string_to_sign(struct mlc_buf *b, const char *url, const char *const *names,
               const char *const *values, size_t n)
{
	struct pair *p;
	size_t i;

	mlc_buf_adds(b, url);
	if (!n)
		return;
	p = mlc_xcalloc(n, sizeof *p);
	for (i = 0; i < n; i++) {
		p[i].name = names[i] ? names[i] : "";
		p[i].value = values[i] ? values[i] : "";
	}
	qsort(p, n, sizeof *p, paircmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && paircmp(&p[i - 1], &p[i]) == 0)
			continue;
		mlc_buf_adds(b, p[i].name);
		mlc_buf_adds(b, p[i].value);
	}
	free(p);
}

void
mlc_twsig_compute(const char *token, const char *url, const char *const *names,
                  const char *const *values, size_t n, char out[MLC_TWSIG_LEN + 1])
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	string_to_sign(&b, url, names, values, n);
	sign_buf(token, &b, out);
	mlc_buf_free(&b);
}

void
mlc_twsig_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, data, n);
	sodium_bin2hex(out, 65, h, sizeof h);
}

/*
 * Split url into the parts around the port: [0, host_end) is scheme,
 * userinfo and host; then an optional ":port" up to auth_end; the rest is
 * path, query and fragment.  Returns 0, or -1 if url has no "scheme://".
 */
static int
split_authority(const char *url, size_t *host_end, size_t *auth_end, int *https)
{
	const char *s = strstr(url, "://"), *a, *e, *at, *colon, *q;

	if (!s)
		return -1;
	*https = (size_t)(s - url) == 5 && strncmp(url, "https", 5) == 0;
	a = s + 3;
	e = a + strcspn(a, "/?#");
	/* The host starts after the last '@' of the authority (user:pass@). */
	at = NULL;
	for (q = a; q < e; q++)
		if (*q == '@')
			at = q;
	if (at)
		a = at + 1;
	colon = NULL;
	if (*a == '[') { /* IPv6 literal: a port can only follow the ']' */
		const char *rb = memchr(a, ']', (size_t)(e - a));

		if (rb && rb + 1 < e && rb[1] == ':')
			colon = rb + 1;
	} else {
		for (q = a; q < e; q++)
			if (*q == ':')
				colon = q;
	}
	if (colon) {
		for (q = colon + 1; q < e; q++)
			if (*q < '0' || *q > '9')
				colon = NULL;
	}
	*host_end = (size_t)((colon ? colon : e) - url);
	*auth_end = (size_t)(e - url);
	return 0;
}

/* The URL with its port removed (without_port=1) or with the default port
 * added when none is present (without_port=0).  Unparseable URLs are kept. */
static void
port_variant(struct mlc_buf *b, const char *url, int without_port)
{
	size_t he, ae;
	int https;

	mlc_buf_reset(b);
	if (split_authority(url, &he, &ae, &https) < 0) {
		mlc_buf_adds(b, url);
		return;
	}
	if (without_port) {
		mlc_buf_add(b, url, he);
		mlc_buf_adds(b, url + ae);
	} else if (he != ae) {
		mlc_buf_adds(b, url);
	} else {
		mlc_buf_add(b, url, he);
		mlc_buf_adds(b, https ? ":443" : ":80");
		mlc_buf_adds(b, url + ae);
	}
}

/* Rewrite the apostrophes of the query: to_pct=1 writes ' as %27, else %27
 * as '.  Returns 1 if anything changed. */
static int
quote_variant(struct mlc_buf *out, const char *url, int to_pct)
{
	const char *q = strchr(url, '?'), *p;
	int changed = 0;

	mlc_buf_reset(out);
	if (!q) {
		mlc_buf_adds(out, url);
		return 0;
	}
	mlc_buf_add(out, url, (size_t)(q - url));
	for (p = q; *p; p++) {
		if (to_pct && *p == '\'') {
			mlc_buf_adds(out, "%27");
			changed = 1;
		} else if (!to_pct && p[0] == '%' && p[1] == '2' && p[2] == '7') {
			mlc_buf_addc(out, '\'');
			p += 2;
			changed = 1;
		} else {
			mlc_buf_addc(out, *p);
		}
	}
	return changed;
}

/* The value of the first query parameter called name, decoded, or NULL. */
static char *
query_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?'), *h;
	char **nv = NULL, **vv = NULL, *r = NULL;
	size_t n = 0, i;
	size_t qlen;

	if (!q)
		return NULL;
	q++;
	h = strchr(q, '#');
	qlen = h ? (size_t)(h - q) : strlen(q);
	if (mlc_form_parse(q, qlen, &nv, &vv, &n) < 0)
		return NULL;
	for (i = 0; i < n && !r; i++)
		if (strcmp(nv[i], name) == 0)
			r = mlc_xstrdup(vv[i]);
	mlc_form_free(nv, vv, n);
	return r;
}

/* Constant-time comparison of two signatures (the header may be any length). */
static int
sig_eq(const char *a, const char *b)
{
	if (strlen(a) != MLC_TWSIG_LEN || strlen(b) != MLC_TWSIG_LEN)
		return 0;
	return sodium_memcmp(a, b, MLC_TWSIG_LEN) == 0;
}

int
mlc_twsig_validate(const char *token, const char *url, const char *const *names,
                   const char *const *values, size_t n, const char *raw_body,
                   size_t body_len, int is_json, const char *header_sig)
{
	struct mlc_buf u, v;
	char sig[MLC_TWSIG_LEN + 1];
	int ok = 0, w, k;

	if (!token || !url || !header_sig || strlen(header_sig) != MLC_TWSIG_LEN)
		return 0;
	if (is_json) {
		char hex[65], *want = query_param(url, "bodySHA256");
		int body_ok;

		if (!want)
			return 0;
		mlc_twsig_sha256_hex(raw_body ? raw_body : "", raw_body ? body_len : 0, hex);
		body_ok = strlen(want) == 64 && sodium_memcmp(want, hex, 64) == 0;
		free(want);
		if (!body_ok)
			return 0;
		n = 0; /* the JSON variant signs the URL alone */
	}
	mlc_buf_init(&u);
	mlc_buf_init(&v);
	for (w = 0; w < 2; w++) {
		port_variant(&u, url, w == 0);
		/* k = 0: as given; 1: ' -> %27; 2: %27 -> ' (only when that changes it). */
		for (k = 0; k < 3; k++) {
			const char *cand = u.p;

			if (k > 0) {
				if (!quote_variant(&v, u.p, k == 1))
					continue;
				cand = v.p;
			}
			mlc_twsig_compute(token, cand, names, values, n, sig);
			ok |= sig_eq(sig, header_sig);
		}
	}
	sodium_memzero(sig, sizeof sig);
	mlc_buf_free(&u);
	mlc_buf_free(&v);
	return ok;
}

/* ---- form parsing ---- */

/* Decode s[0..n) into a new string; NULL if it would contain a NUL byte. */
static char *
form_decode(const char *s, size_t n)
{
	char *r = mlc_xmalloc(n + 1), *o = r;
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n && (hi = mlc_hexval((unsigned char)s[i + 1])) >= 0 &&
		           (lo = mlc_hexval((unsigned char)s[i + 2])) >= 0) {
			if (hi == 0 && lo == 0) {
				free(r);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			free(r);
			return NULL;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return r;
}

int
mlc_form_parse(const char *body, size_t n, char ***names, char ***values, size_t *count)
{
	char **nv = NULL, **vv = NULL;
	size_t cnt = 0, cap = 0, i = 0;

	*names = *values = NULL;
	*count = 0;
	while (i < n) {
		size_t j = i, eq;
		char *a, *b;

		while (j < n && body[j] != '&')
			j++;
		if (j > i) {
			for (eq = i; eq < j && body[eq] != '='; eq++)
				;
			a = form_decode(body + i, eq - i);
			b = eq < j ? form_decode(body + eq + 1, j - eq - 1) : mlc_xstrdup("");
			if (!a || !b) {
				free(a);
				free(b);
				mlc_form_free(nv, vv, cnt);
				return -1;
			}
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				nv = mlc_xrealloc(nv, cap * sizeof *nv);
				vv = mlc_xrealloc(vv, cap * sizeof *vv);
			}
			nv[cnt] = a;
			vv[cnt] = b;
			cnt++;
		}
		i = j + 1;
	}
	*names = nv;
	*values = vv;
	*count = cnt;
	return 0;
}

void
mlc_form_free(char **names, char **values, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
}

const char *
mlc_form_get(char *const *names, char *const *values, size_t count, const char *name)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}
