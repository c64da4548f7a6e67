/*
 * content.c — what a WhatsApp Content template send is: the one check of a
 * ContentSid and of a ContentVariables object, and the one cleaning of a
 * variable's value, for alert-render and wire.c (twilio-send, alert-log).
 * The simulator checks the variables by Twilio's own, looser 21656: it
 * answers as Twilio would, not as we would write.
 *
 * Facts (reference/twilio.md §8.4 and the sources in twilio-send(1)
 * STANDARDS):
 *   - ContentSid is "HX" and 32 hex digits, 34 characters (the OpenAPI
 *     pattern ^HX[0-9a-fA-F]{32}$); Twilio answers 21655 otherwise.
 *   - ContentVariables is one form field holding a JSON object of at most
 *     100 pairs; a key is at most 16 characters; a value at most 1,600
 *     characters ("Using Variables with Content Templates").  WhatsApp
 *     templates number their placeholders {{1}}, {{2}}...: we take the
 *     keys "1" to "N", each once, no gap, so a rule cannot skip one.
 *   - 21656: a value that is null or empty, or holds a newline, a tab or
 *     more than 4 consecutive spaces, is refused.  JDE text often has all
 *     three (padded CHAR columns, multi-line remarks), so alert-render
 *     cleans every value (mlc_content_value_clean) and then checks it:
 *     what is still refused is a value with no text at all.
 */
#include <string.h>

#include "mlc.h"

int
mlc_content_sid_ok(const char *s)
{
	size_t i;

	if (!s || strlen(s) != 34 || s[0] != 'H' || s[1] != 'X')
		return 0;
	for (i = 2; i < 34; i++)
		if (mlc_hexval((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

void
mlc_content_value_clean(const char *s, size_t n, struct mlc_buf *out)
{
	size_t i, start = out->len;
	int blank = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
			blank = 1;
			continue;
		}
		/* one space for each run of blanks, none at either end */
		if (blank && out->len > start)
			mlc_buf_addc(out, ' ');
		blank = 0;
		mlc_buf_addc(out, c);
	}
	if (out->len == start)
		mlc_buf_adds(out, ""); /* a NUL-terminated empty text */
}

/* A key for a message: control bytes as '?', cut on a character boundary
 * (a key is any JSON string; the field names it in a quarantine record). */
static void
show_key(char *field, size_t flen, const char *k)
{
	size_t i, n = strlen(k);

	if (n > flen - 1) {
		n = flen - 1;
		while (n > 0 && ((unsigned char)k[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		field[i] = (unsigned char)k[i] < 0x20 ? '?' : k[i];
	field[n] = '\0';
}

/* The key "1".."100" as a number, or 0. */
static long
key_number(const char *k)
{
	long v = 0;

	if (!*k || *k == '0' || strlen(k) > 3)
		return 0;
	for (; *k; k++) {
		if (*k < '0' || *k > '9')
			return 0;
		v = v * 10 + (*k - '0');
	}
	return v <= MLC_CONTENT_MAX_VARS ? v : 0;
}

int
mlc_content_vars_check(jv vars, char *field, size_t flen, char *what, size_t wlen)
{
	unsigned char seen[MLC_CONTENT_MAX_VARS + 1];
	long n, i, top = 0;
	jv keys;
	int ret = 0;

	field[0] = what[0] = '\0';
	if (jv_get_kind(vars) != JV_KIND_OBJECT) {
		snprintf(what, wlen, "expected an object of numbered variables ({\"1\": \"...\"})");
		return -1;
	}
	keys = jv_keys(jv_copy(vars));
	n = jv_array_length(jv_copy(keys));
	if (n > MLC_CONTENT_MAX_VARS) {
		snprintf(what, wlen, "%ld variables, over Twilio's %d", n, MLC_CONTENT_MAX_VARS);
		jv_free(keys);
		return -1;
	}
	memset(seen, 0, sizeof seen);
	for (i = 0; i < n && !ret; i++) {
		jv k = jv_array_get(jv_copy(keys), (int)i), v;
		const char *ks = jv_string_value(k);
		long num = key_number(ks);
		struct mlc_sms_info info;
		const char *s;
		size_t sl;

		show_key(field, flen, ks);
		v = jv_object_get(jv_copy(vars), jv_copy(k));
		if (!num) {
			snprintf(what, wlen, "a key is a placeholder's number, 1 to %d ({{1}} is \"1\")",
			         MLC_CONTENT_MAX_VARS);
			ret = -1;
		} else if (jv_get_kind(v) == JV_KIND_NULL) {
			snprintf(what, wlen, "null (the record has no such value): Twilio refuses an "
			         "empty variable (21656)");
			ret = -1;
		} else if (jv_get_kind(v) != JV_KIND_STRING) {
			snprintf(what, wlen, "%s: a value must be a string (tostring, or amount for "
			         "money)", jv_get_kind(v) == JV_KIND_NUMBER ? "a number" : "not a string");
			ret = -1;
		} else if ((sl = (size_t)jv_string_length_bytes(jv_copy(v))) == 0) {
			snprintf(what, wlen, "empty: Twilio refuses an empty variable (21656)");
			ret = -1;
		} else if (strlen(s = jv_string_value(v)) != sl ||
		           strpbrk(s, "\n\r\t") || strstr(s, "     ")) {
			snprintf(what, wlen, "holds a NUL, a line break, a tab or more than 4 spaces in "
			         "a row (Twilio: 21656)");
			ret = -1;
		} else if (mlc_sms_measure(s, sl, &info) < 0 ||
		           info.utf16 > MLC_CONTENT_VALUE_MAX) {
			snprintf(what, wlen, "%zu characters, over Twilio's %d", info.utf16,
			         MLC_CONTENT_VALUE_MAX);
			ret = -1;
		} else {
			seen[num] = 1;
			if (num > top)
				top = num;
		}
		jv_free(v);
		jv_free(k);
	}
	jv_free(keys);
	if (ret)
		return ret;
	field[0] = '\0';
	for (i = 1; i <= top; i++)
		if (!seen[i]) {
			snprintf(what, wlen, "no variable \"%ld\" but one numbered %ld: the template's "
			         "placeholders are numbered from 1 without a gap", i, top);
			return -1;
		}
	return 0;
}

void
mlc_content_vars_json(jv vars, struct mlc_buf *out)
{
	int i, n = jv_get_kind(vars) == JV_KIND_OBJECT ? jv_object_length(jv_copy(vars)) : 0;

	mlc_buf_addc(out, '{');
	for (i = 1; i <= n; i++) {
		char k[16];
		jv v;

		snprintf(k, sizeof k, "%d", i);
		v = jv_object_get(jv_copy(vars), jv_string(k));
		mlc_buf_printf(out, "%s\"%s\":", i > 1 ? "," : "", k);
		if (jv_get_kind(v) == JV_KIND_STRING)
			mlc_buf_json_str(out, jv_string_value(v),
			                 (size_t)jv_string_length_bytes(jv_copy(v)));
		else
			mlc_buf_adds(out, "\"\"");
		jv_free(v);
	}
	mlc_buf_addc(out, '}');
}
