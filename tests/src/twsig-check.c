/*
 * twsig-check — test driver for src/twsig.c (X-Twilio-Signature).
 *
 *   twsig-check vectors FILE
 *       Check every vector of twilio-signature-vectors.json: the official
 *       Twilio ones (computing the expected signature over the URL that
 *       reproduces it, and validating against the URL the library test gave
 *       its validator), negative variants of each (wrong token, tampered
 *       signature, extra parameter, tampered JSON body), the derived
 *       round-trip vectors, the historical base64 body hash (must be
 *       refused) and the SendGrid ECDSA vector with its negative cases.
 *       Prints "ok - DESC" or "not ok - DESC" per check (tests/0500-twsig.t
 *       numbers them); exits 1 if any failed.
 *   twsig-check sign TOKENFILE URL [NAME=VALUE...]
 *       Print the signature of URL plus the given (already decoded) pairs.
 *   twsig-check validate [-j] TOKENFILE URL SIGNATURE <BODY
 *       Validate a request whose raw body is on stdin (form-encoded, or
 *       JSON with -j).  Exit 0 if valid, 1 if not.
 *   twsig-check form <BODY
 *       Parse stdin as a form and print the pairs as a JSON array.
 * The token is read from a file (first line) so that it is not in argv.
 * Exit status: 0 pass, 1 fail, 64 usage, 66 missing file, 70 internal.
 */
#include <stdlib.h>
#include <string.h>

#include <jv.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "mlc.h"

static const char usage[] =
	"usage: twsig-check vectors FILE\n"
	"       twsig-check sign TOKENFILE URL [NAME=VALUE...]\n"
	"       twsig-check validate [-j] TOKENFILE URL SIGNATURE <BODY\n"
	"       twsig-check form <BODY\n";

static int failures;

static void
check(int cond, const char *fmt, const char *id)
{
	printf("%s - ", cond ? "ok" : "not ok");
	printf(fmt, id);
	putchar('\n');
	if (!cond)
		failures++;
}

/* A string member of obj (not consumed) as a malloc'd copy, or NULL. */
static char *
str_member(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	char *r = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		r = mlc_xstrdup(jv_string_value(v));
	jv_free(v);
	return r;
}

struct params {
	char **n, **v;
	size_t count;
};

/* post_params: [[name, value], ...] of obj (not consumed). */
static void
params_of(jv obj, struct params *p)
{
	jv a = jv_object_get(jv_copy(obj), jv_string("post_params"));
	int i, len;

	p->n = p->v = NULL;
	p->count = 0;
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		return;
	}
	len = jv_array_length(jv_copy(a));
	p->n = mlc_xcalloc((size_t)len + 1, sizeof *p->n);
	p->v = mlc_xcalloc((size_t)len + 1, sizeof *p->v);
	for (i = 0; i < len; i++) {
		jv pair = jv_array_get(jv_copy(a), i);
		jv n = jv_array_get(jv_copy(pair), 0), v = jv_array_get(pair, 1);

		p->n[i] = mlc_xstrdup(jv_get_kind(n) == JV_KIND_STRING ? jv_string_value(n) : "");
		p->v[i] = mlc_xstrdup(jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
		jv_free(n);
		jv_free(v);
	}
	p->count = (size_t)len;
	jv_free(a);
}

static void
params_free(struct params *p)
{
	size_t i;

	for (i = 0; i < p->count; i++) {
		free(p->n[i]);
		free(p->v[i]);
	}
	free(p->n);
	free(p->v);
}

#define CN(p) ((const char *const *)(p)->n)
#define CV(p) ((const char *const *)(p)->v)

static void
tamper(char *sig)
{
	sig[3] = sig[3] == 'A' ? 'B' : 'A';
}

static void
official_vector(jv vec)
{
	char *id = str_member(vec, "id"), *token = str_member(vec, "auth_token");
	char *given = str_member(vec, "url_passed_to_validator");
	char *repro = str_member(vec, "url_that_reproduces_signature");
	char *sts = str_member(vec, "string_to_sign");
	char *want = str_member(vec, "expected_signature");
	char *body = str_member(vec, "raw_body"), *bodyhex = str_member(vec, "body_sha256_hex");
	char sig[MLC_TWSIG_LEN + 1], bad[MLC_TWSIG_LEN + 1], hex[65];
	struct params p;
	int json = body != NULL;
	size_t blen = body ? strlen(body) : 0;

	params_of(vec, &p);
	if (!id || !token || !given || !repro || !sts || !want) {
		check(0, "vector %s: has every field", id ? id : "?");
		goto out;
	}
	mlc_twsig_compute(token, repro, CN(&p), CV(&p), p.count, sig);
	check(strcmp(sig, want) == 0, "%s: compute over the reproducing URL", id);
	mlc_twsig_compute(token, sts, NULL, NULL, 0, sig);
	check(strcmp(sig, want) == 0, "%s: HMAC of string_to_sign", id);
	check(mlc_twsig_validate(token, given, CN(&p), CV(&p), p.count, body, blen, json, want),
	      "%s: validates against the URL given to the library's validator", id);
	if (strcmp(given, repro) != 0)
		check(mlc_twsig_validate(token, repro, CN(&p), CV(&p), p.count, body, blen, json,
		                         want),
		      "%s: validates against the reproducing URL too", id);
	if (p.count > 1) { /* order of arrival must not matter */
		struct params r = p;
		size_t i;

		r.n = mlc_xcalloc(p.count, sizeof *r.n);
		r.v = mlc_xcalloc(p.count, sizeof *r.v);
		for (i = 0; i < p.count; i++) {
			r.n[i] = p.n[p.count - 1 - i];
			r.v[i] = p.v[p.count - 1 - i];
		}
		check(mlc_twsig_validate(token, given, CN(&r), CV(&r), r.count, body, blen, json,
		                         want),
		      "%s: parameters in reverse order validate", id);
		free(r.n);
		free(r.v);
	}
	if (json) {
		mlc_twsig_sha256_hex(body, blen, hex);
		check(bodyhex && strcmp(hex, bodyhex) == 0, "%s: SHA-256 hex of the body", id);
		check(!mlc_twsig_validate(token, given, NULL, NULL, 0, "{}x", 3, 1, want),
		      "%s: NEG tampered body refused", id);
	}
	/* Negative cases. */
	check(!mlc_twsig_validate("12346", given, CN(&p), CV(&p), p.count, body, blen, json, want),
	      "%s: NEG wrong token refused", id);
	snprintf(bad, sizeof bad, "%s", want);
	tamper(bad);
	check(!mlc_twsig_validate(token, given, CN(&p), CV(&p), p.count, body, blen, json, bad),
	      "%s: NEG tampered signature refused", id);
	check(!mlc_twsig_validate(token, given, CN(&p), CV(&p), p.count, body, blen, json, ""),
	      "%s: NEG empty signature refused", id);
	if (!json) {
		struct params x;
		size_t i;

		x.count = p.count + 1;
		x.n = mlc_xcalloc(x.count, sizeof *x.n);
		x.v = mlc_xcalloc(x.count, sizeof *x.v);
		for (i = 0; i < p.count; i++) {
			x.n[i] = p.n[i];
			x.v[i] = p.v[i];
		}
		x.n[p.count] = "Extra";
		x.v[p.count] = "1";
		check(!mlc_twsig_validate(token, given, CN(&x), CV(&x), x.count, NULL, 0, 0, want),
		      "%s: NEG an extra parameter is refused", id);
		free(x.n);
		free(x.v);
		check(!mlc_twsig_validate(token, "https://mycompany.com/myapp.php?foo=1&bar=3",
		                          CN(&p), CV(&p), p.count, NULL, 0, 0, want),
		      "%s: NEG another query string is refused", id);
	}
out:
	params_free(&p);
	free(id);
	free(token);
	free(given);
	free(repro);
	free(sts);
	free(want);
	free(body);
	free(bodyhex);
	jv_free(vec);
}

static void
derived_vectors(jv sect)
{
	jv vs = jv_object_get(jv_copy(sect), jv_string("vectors"));
	int i, len = jv_get_kind(vs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(vs)) : 0;
	char *url[8] = { 0 }, *sig[8] = { 0 }, *tok = NULL, got[MLC_TWSIG_LEN + 1];

	check(len == 5, "%s: five derived vectors", "derived_not_official");
	for (i = 0; i < len && i < 8; i++) {
		jv v = jv_array_get(jv_copy(vs), i);

		url[i] = str_member(v, "url");
		sig[i] = str_member(v, "signature");
		free(tok);
		tok = str_member(v, "auth_token");
		jv_free(v);
		mlc_twsig_compute(tok, url[i], NULL, NULL, 0, got);
		check(strcmp(got, sig[i]) == 0, "derived: compute %s", url[i]);
	}
	if (len == 5) {
		/* 0: ?test=param  1: :443 ?test=param  2: ?test=param2
		 * 3: 'WithQuote  4: %27WithQuote */
		check(mlc_twsig_validate(tok, url[0], NULL, NULL, 0, NULL, 0, 0, sig[1]),
		      "derived: %s", "signature over :443 validates the port-less URL");
		check(mlc_twsig_validate(tok, url[1], NULL, NULL, 0, NULL, 0, 0, sig[0]),
		      "derived: %s", "signature over the port-less URL validates :443");
		check(!mlc_twsig_validate(tok, url[2], NULL, NULL, 0, NULL, 0, 0, sig[0]),
		      "derived: %s", "NEG ?test=param does not validate ?test=param2");
		check(mlc_twsig_validate(tok, url[3], NULL, NULL, 0, NULL, 0, 0, sig[4]),
		      "derived: %s", "%27 signature validates the apostrophe URL");
		check(mlc_twsig_validate(tok, url[4], NULL, NULL, 0, NULL, 0, 0, sig[3]),
		      "derived: %s", "apostrophe signature validates the %27 URL");
	}
	for (i = 0; i < 8; i++) {
		free(url[i]);
		free(sig[i]);
	}
	free(tok);
	jv_free(vs);
	jv_free(sect);
}

static void
historical(jv h, const char *body)
{
	char *url = str_member(h, "url"), *want = str_member(h, "expected_signature");
	char got[MLC_TWSIG_LEN + 1];

	if (!url || !want || !body) {
		check(0, "%s: has its fields", "historical_do_not_use");
	} else {
		mlc_twsig_compute("12345", url, NULL, NULL, 0, got);
		check(strcmp(got, want) == 0, "%s: the old signature is genuine",
		      "historical_do_not_use");
		check(!mlc_twsig_validate("12345", url, NULL, NULL, 0, body, strlen(body), 1, want),
		      "%s: NEG a base64 bodySHA256 is refused (hex only)", "historical_do_not_use");
	}
	free(url);
	free(want);
}

/* ECDSA P-256/SHA-256 over timestamp + payload, DER signature, DER SPKI key. */
static int
ecdsa_ok(const char *key_b64, const char *sig_b64, const char *ts, const char *payload)
{
	unsigned char key[512], sig[256];
	size_t klen, slen;
	const unsigned char *kp = key;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *md = NULL;
	int ok = 0;

	if (sodium_base642bin(key, sizeof key, key_b64, strlen(key_b64), NULL, &klen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &slen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return 0;
	if (!(pk = d2i_PUBKEY(NULL, &kp, (long)klen)) || !(md = EVP_MD_CTX_new()))
		goto out;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestVerifyUpdate(md, ts, strlen(ts)) != 1 ||
	    EVP_DigestVerifyUpdate(md, payload, strlen(payload)) != 1)
		goto out;
	ok = EVP_DigestVerifyFinal(md, sig, slen) == 1;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return ok;
}

static void
sendgrid(jv s)
{
	jv neg = jv_object_get(jv_copy(s), jv_string("negative_cases"));
	char *key = str_member(s, "public_key_b64_der"), *sig = str_member(s, "signature_b64_der");
	char *ts = str_member(s, "timestamp"), *pl = str_member(s, "payload");
	char *wkey = str_member(neg, "wrong_public_key_b64_der");
	char *tpl = str_member(neg, "tampered_payload");
	char *tsig = str_member(neg, "tampered_signature_b64_der");
	char *tts = str_member(neg, "tampered_timestamp");
	const char *id = "sendgrid_event_webhook_ecdsa";

	if (!key || !sig || !ts || !pl || !wkey || !tpl || !tsig || !tts) {
		check(0, "%s: has its fields", id);
	} else {
		check(ecdsa_ok(key, sig, ts, pl), "%s: official vector verifies", id);
		check(!ecdsa_ok(wkey, sig, ts, pl), "%s: NEG wrong public key refused", id);
		check(!ecdsa_ok(key, sig, ts, tpl), "%s: NEG tampered payload refused", id);
		check(!ecdsa_ok(key, tsig, ts, pl), "%s: NEG tampered signature refused", id);
		check(!ecdsa_ok(key, sig, tts, pl), "%s: NEG tampered timestamp refused", id);
	}
	free(key);
	free(sig);
	free(ts);
	free(pl);
	free(wkey);
	free(tpl);
	free(tsig);
	free(tts);
	jv_free(neg);
}

static int
vectors(const char *path)
{
	jv root = jv_load_file(path, 0), vs, common;
	char *jbody;
	int i, len;

	if (!jv_is_valid(root)) {
		jv msg = jv_invalid_get_msg(root);

		if (jv_get_kind(msg) == JV_KIND_STRING)
			mlc_warn("%s: %s", path, jv_string_value(msg));
		else
			mlc_warn("%s: cannot read", path);
		jv_free(msg);
		return MLC_EX_NOINPUT;
	}
	/* jv_load_file wraps the file's values in an array. */
	if (jv_get_kind(root) == JV_KIND_ARRAY)
		root = jv_array_get(root, 0);
	vs = jv_object_get(jv_copy(root), jv_string("twilio_signature_vectors"));
	len = jv_get_kind(vs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(vs)) : 0;
	check(len >= 14, "%s: at least 14 official vectors", path);
	for (i = 0; i < len; i++)
		official_vector(jv_array_get(jv_copy(vs), i));
	jv_free(vs);
	derived_vectors(jv_object_get(jv_copy(root), jv_string("derived_not_official")));
	common = jv_object_get(jv_copy(root), jv_string("common"));
	jbody = str_member(common, "json_body");
	jv_free(common);
	{
		jv h = jv_object_get(jv_copy(root), jv_string("historical_do_not_use"));

		historical(h, jbody);
		jv_free(h);
	}
	free(jbody);
	{
		jv s = jv_object_get(jv_copy(root), jv_string("sendgrid_event_webhook_ecdsa"));

		sendgrid(s);
		jv_free(s);
	}
	jv_free(root);
	return failures ? 1 : 0;
}

static char *
read_token(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		mlc_die(MLC_EX_NOINPUT, "%s: cannot open", path);
	n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0)
		mlc_die(MLC_EX_NOINPUT, "%s: empty", path);
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static void
read_all(FILE *f, struct mlc_buf *b)
{
	char tmp[8192];
	size_t n;

	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		mlc_buf_add(b, tmp, n);
}

static int
do_form(void)
{
	struct mlc_buf in, out;
	char **n, **v;
	size_t c, i;

	mlc_buf_init(&in);
	mlc_buf_init(&out);
	read_all(stdin, &in);
	if (mlc_form_parse(in.p, in.len, &n, &v, &c) < 0) {
		puts("error");
		mlc_buf_free(&in);
		mlc_buf_free(&out);
		return 1;
	}
	mlc_buf_addc(&out, '[');
	for (i = 0; i < c; i++) {
		mlc_buf_adds(&out, i ? ",[" : "[");
		mlc_buf_json_str(&out, n[i], strlen(n[i]));
		mlc_buf_addc(&out, ',');
		mlc_buf_json_str(&out, v[i], strlen(v[i]));
		mlc_buf_addc(&out, ']');
	}
	mlc_buf_addc(&out, ']');
	puts(out.p);
	mlc_form_free(n, v, c);
	mlc_buf_free(&in);
	mlc_buf_free(&out);
	return 0;
}

int
main(int argc, char **argv)
{
	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	if (sodium_init() < 0)
		mlc_die(MLC_EX_SOFTWARE, "sodium_init failed");
	if (argc == 3 && strcmp(argv[1], "vectors") == 0)
		mlc_util_exit(vectors(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "sign") == 0) {
		char *tok = read_token(argv[2]), sig[MLC_TWSIG_LEN + 1];
		size_t n = (size_t)argc - 4, i;
		char **nn = mlc_xcalloc(n + 1, sizeof *nn), **vv = mlc_xcalloc(n + 1, sizeof *vv);

		for (i = 0; i < n; i++) {
			char *eq = strchr(argv[4 + i], '=');

			nn[i] = mlc_xstrndup(argv[4 + i], eq ? (size_t)(eq - argv[4 + i])
			                                     : strlen(argv[4 + i]));
			vv[i] = mlc_xstrdup(eq ? eq + 1 : "");
		}
		mlc_twsig_compute(tok, argv[3], (const char *const *)nn, (const char *const *)vv, n,
		                  sig);
		puts(sig);
		mlc_form_free(nn, vv, n);
		free(tok);
		mlc_util_exit(0);
	}
	if (argc >= 5 && strcmp(argv[1], "validate") == 0) {
		int json = strcmp(argv[2], "-j") == 0, ok;
		char *tok, **n = NULL, **v = NULL;
		size_t c = 0;
		struct mlc_buf body;

		if (argc != 5 + json)
			mlc_die(MLC_EX_USAGE, "%s", usage);
		tok = read_token(argv[2 + json]);
		mlc_buf_init(&body);
		read_all(stdin, &body);
		if (!json && mlc_form_parse(body.p, body.len, &n, &v, &c) < 0)
			mlc_die(1, "bad form body");
		ok = mlc_twsig_validate(tok, argv[3 + json], (const char *const *)n,
		                        (const char *const *)v, c, body.p, body.len, json,
		                        argv[4 + json]);
		mlc_form_free(n, v, c);
		mlc_buf_free(&body);
		free(tok);
		puts(ok ? "valid" : "invalid");
		mlc_util_exit(ok ? 0 : 1);
	}
	if (argc == 2 && strcmp(argv[1], "form") == 0)
		mlc_util_exit(do_form());
	fputs(usage, stderr);
	return MLC_EX_USAGE;
}
