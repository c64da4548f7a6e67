/* Fuzz target: a Twilio status callback request: the form parser and the
 * signature check (twsig.c), as a form body and as a JSON body. */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

#define TOKEN "12345"
#define URL "https://mycompany.com/myapp.php?foo=1&bar=2"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **names = NULL, **values = NULL;
	size_t count = 0, i;
	char sig[MLC_TWSIG_LEN + 1], hex[65], url[256];
	const char *body = (const char *)data;

	if (mlc_form_parse(body, size, &names, &values, &count) == 0) {
		for (i = 0; i < count; i++)
			if (!names[i] || !values[i])
				abort();
		mlc_twsig_compute(TOKEN, URL, (const char *const *)names,
		                  (const char *const *)values, count, sig);
		if (!mlc_twsig_validate(TOKEN, URL, (const char *const *)names,
		                        (const char *const *)values, count, body, size, 0, sig))
			abort(); /* our own signature must validate */
		(void)mlc_twsig_validate(TOKEN, URL, (const char *const *)names,
		                         (const char *const *)values, count, body, size, 0,
		                         "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
		(void)mlc_form_get(names, values, count, "MessageStatus");
		mlc_form_free(names, values, count);
	}
	/* JSON webhook: bodySHA256 in the query. */
	mlc_twsig_sha256_hex(data, size, hex);
	snprintf(url, sizeof url, "https://example.com/cb?bodySHA256=%s", hex);
	mlc_twsig_compute(TOKEN, url, NULL, NULL, 0, sig);
	if (!mlc_twsig_validate(TOKEN, url, NULL, NULL, 0, body, size, 1, sig))
		abort();
	(void)mlc_twsig_validate(TOKEN, "https://example.com/cb?bodySHA256=00", NULL, NULL, 0,
	                         body, size, 1, sig);
	return 0;
}
