/*
 * http-get — test driver for src/http.c: one mlc_http_request per --count,
 * on one handle.
 *
 * Each request is printed as a JSON line:
 *   {"outcome":"DONE","status":200,"retry_after_ms":-1,"ratelimit_reset":-1,
 *    "message_id":"","error":"","body":"..."}
 * Exit status: 0 if every request got a response (DONE), 1 otherwise,
 * 64 on usage errors.  The password is read from a file descriptor, never
 * taken from argv.  --parallel N runs N GETs at once through the curl multi
 * interface on raw handles prepared by mlc_http_setup_easy/capture/finish
 * (the way twilio-send drives its transfers); lines come in completion order.
 * --raw runs the --count requests one after another on one raw handle in a
 * multi handle (keep-alive, as twilio-send's pool), with --method, --data
 * and --header; --once marks each of them with mlc_http_once (a create).
 * --data-size N sends a body of N bytes "a" (more than argv can carry).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mlc.h"

static const char usage[] =
	"usage: http-get [--cainfo F] [--allow-http|--allow-loopback] [--trace]\n"
	"                [--method M] [--data D] [--header H]... [--user U --password-fd N]\n"
	"                [--timeout MS] [--connect-timeout MS] [--count N | --parallel N]\n"
	"                [--raw [--once]] [--data-size N] URL\n"
	"       http-get --redact TEXT   (print mlc_http_redact_url(TEXT))\n";

static int
print_resp(const struct mlc_http_resp *r)
{
	struct mlc_buf out;
	int ret;

	mlc_buf_init(&out);
	mlc_buf_printf(&out, "{\"outcome\":\"%s\",\"status\":%ld,\"retry_after_ms\":%ld,"
	               "\"ratelimit_reset\":%ld,\"message_id\":",
	               mlc_http_outcome_name(r->outcome), r->status, r->retry_after_ms,
	               r->ratelimit_reset);
	mlc_buf_json_str(&out, r->message_id, strlen(r->message_id));
	mlc_buf_adds(&out, ",\"error\":");
	mlc_buf_json_str(&out, r->error, strlen(r->error));
	mlc_buf_printf(&out, ",\"body_len\":%zu,\"body\":", r->body.len);
	/* big bodies are summarised, not printed */
	mlc_buf_json_str(&out, r->body.p, r->body.len > 4096 ? 0 : r->body.len);
	mlc_buf_addc(&out, '}');
	ret = mlc_ndjson_put(1, &out);
	mlc_buf_free(&out);
	return ret;
}

/* n GETs of url at once over the multi interface; 0 if all were DONE. */
static int
run_parallel(const struct mlc_http_opts *o, const char *url, int n)
{
	CURLM *m = curl_multi_init();
	CURL **e = mlc_xcalloc((size_t)n, sizeof *e);
	struct mlc_http_resp *r = mlc_xcalloc((size_t)n, sizeof *r);
	int i, running = 0, rc = 0, left;
	CURLMsg *msg;

	for (i = 0; i < n; i++) {
		mlc_http_resp_init(&r[i]);
		e[i] = curl_easy_init();
		mlc_http_capture(e[i], &r[i]);
		if (mlc_http_setup_easy(e[i], o, url, r[i].error, sizeof r[i].error) < 0) {
			r[i].outcome = MLC_HTTP_POLICY;
			print_resp(&r[i]);
			rc = 1;
			continue;
		}
		curl_easy_setopt(e[i], CURLOPT_PRIVATE, (void *)&r[i]);
		curl_multi_add_handle(m, e[i]);
	}
	do {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct mlc_http_resp *ri = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ri);
			mlc_http_finish(msg->easy_handle, (int)msg->data.result, ri);
			if (ri->outcome != MLC_HTTP_DONE)
				rc = 1;
			if (print_resp(ri) < 0)
				mlc_die(MLC_EX_IOERR, "write error on stdout");
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (running);
	for (i = 0; i < n; i++) {
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
		mlc_http_resp_free(&r[i]);
	}
	curl_multi_cleanup(m);
	free(e);
	free(r);
	return rc;
}

/* count requests one after another on one raw handle driven by a multi
 * handle; 0 if all were DONE. */
static int
run_raw(const struct mlc_http_opts *o, const char *url, const char *method, const char *data,
        const char *const *headers, int count, int once)
{
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct mlc_http_resp r;
	int i, running, left, rc = 0;
	CURLMsg *msg;

	for (i = 0; headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	mlc_http_resp_init(&r);
	for (i = 0; i < count; i++) {
		mlc_http_capture(e, &r);
		if (mlc_http_setup_easy(e, o, url, r.error, sizeof r.error) < 0)
			mlc_die(1, "%s", r.error);
		if (once)
			mlc_http_once(&r);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
		if (data) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, data);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
		}
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		curl_multi_add_handle(m, e);
		do {
			curl_multi_perform(m, &running);
			while ((msg = curl_multi_info_read(m, &left)))
				if (msg->msg == CURLMSG_DONE)
					mlc_http_finish(e, (int)msg->data.result, &r);
			if (running)
				curl_multi_poll(m, NULL, 0, 1000, NULL);
		} while (running);
		curl_multi_remove_handle(m, e);
		if (r.outcome != MLC_HTTP_DONE)
			rc = 1;
		if (print_resp(&r) < 0)
			mlc_die(MLC_EX_IOERR, "write error on stdout");
	}
	mlc_http_resp_free(&r);
	curl_easy_cleanup(e);
	curl_multi_cleanup(m);
	curl_slist_free_all(hl);
	return rc;
}

static char *
read_fd(int fd)
{
	struct mlc_buf b;
	char tmp[256];
	ssize_t n;

	mlc_buf_init(&b);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		mlc_buf_add(&b, tmp, (size_t)n);
	while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
		b.p[--b.len] = '\0';
	return b.p;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cainfo", required_argument, NULL, 'c' },
		{ "allow-http", no_argument, NULL, 'H' },
		{ "allow-loopback", no_argument, NULL, 'L' },
		{ "trace", no_argument, NULL, 'x' },
		{ "method", required_argument, NULL, 'm' },
		{ "data", required_argument, NULL, 'd' },
		{ "header", required_argument, NULL, 'h' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-fd", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "redact", required_argument, NULL, 'r' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "raw", no_argument, NULL, 'R' },
		{ "once", no_argument, NULL, 'O' },
		{ "data-size", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct mlc_http_opts o = { 0 };
	struct mlc_http *h;
	struct mlc_http_resp r;
	const char *method = "GET", *data = NULL, *user = NULL;
	const char **headers;
	char *pass = NULL, *bigdata = NULL;
	size_t nh = 0;
	int c, count = 1, parallel = 0, raw = 0, once = 0, i, rc = 0;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	headers = mlc_xcalloc((size_t)argc + 1, sizeof *headers);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o.cainfo = optarg; break;
		case 'H': o.url_policy |= MLC_HTTP_ALLOW_HTTP; break;
		case 'L': o.url_policy |= MLC_HTTP_ALLOW_HTTP_LOOPBACK; break;
		case 'x': o.trace = 1; break;
		case 'm': method = optarg; break;
		case 'd': data = optarg; break;
		case 'h': headers[nh++] = optarg; break;
		case 'u': user = optarg; break;
		case 'p': free(pass); pass = read_fd(atoi(optarg)); break;
		case 't': o.timeout_ms = atol(optarg); break;
		case 'T': o.connect_timeout_ms = atol(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'P': parallel = atoi(optarg); break;
		case 'R': raw = 1; break;
		case 'O': once = 1; break;
		case 'S': {
			size_t sz = (size_t)strtoul(optarg, NULL, 10);

			free(bigdata);
			bigdata = mlc_xmalloc(sz + 1);
			memset(bigdata, 'a', sz);
			bigdata[sz] = '\0';
			data = bigdata;
			break;
		}
		case 'r': {
			char out[1024];

			mlc_http_redact_url(optarg, out, sizeof out);
			puts(out);
			mlc_util_exit(0);
		}
		default: fputs(usage, stderr); return MLC_EX_USAGE;
		}
	}
	if (optind != argc - 1 || count < 1 || parallel < 0 || (once && !raw) ||
	    (raw && parallel)) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	mlc_http_global_init();
	if (raw) {
		rc = run_raw(&o, argv[optind], method, data, headers, count, once);
		free(bigdata);
		free(pass);
		free(headers);
		curl_global_cleanup();
		return rc;
	}
	if (parallel) {
		rc = run_parallel(&o, argv[optind], parallel);
		free(bigdata);
		free(pass);
		free(headers);
		curl_global_cleanup();
		return rc;
	}
	if (!(h = mlc_http_new(&o)))
		return MLC_EX_SOFTWARE;
	mlc_http_resp_init(&r);
	for (i = 0; i < count; i++) {
		if (mlc_http_request(h, method, argv[optind], headers, data,
		                     data ? strlen(data) : 0, user, pass, &r) < 0)
			rc = 1;
		if (print_resp(&r) < 0)
			mlc_die(MLC_EX_IOERR, "write error on stdout");
	}
	mlc_http_resp_free(&r);
	mlc_http_free(h);
	curl_global_cleanup();
	free(bigdata);
	free(pass);
	free(headers);
	return rc;
}
