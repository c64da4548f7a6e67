/* Fuzz target: the wire checks (wire.c) on any bytes as one line:
 * mlc_wire_line (UTF-8, NUL, the escape scan, the walk that names the
 * member at a byte offset), then on an object the alert and delivery
 * checks.  Invariants: 0 only for a valid UTF-8, NUL-free JSON object; a
 * refusal always says what; the member path, stored as text in the
 * quarantine, is valid UTF-8 without control characters. */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

/*
 * libjq 1.6's parser leaks the pending value of a malformed object ('{"a"
 * "b"}': 18 bytes, inside jv_parser_next; fixed in jq 1.7), found by this
 * target (tests/fuzz/regress/wire/crash-3115...).  Not ours: ignored, as
 * fuzz.h says.
 */
MLC_FUZZ_JQ_LEAK("leak:jv_parser_next\n")

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mlc_wire_err e;
	char msg[600];
	size_t i;
	jv o;

	if (mlc_wire_line(s, size, &o, &e) == 0) {
		if (jv_get_kind(o) != JV_KIND_OBJECT || !mlc_utf8_valid(s, size) ||
		    memchr(s, '\0', size))
			abort();
		if (mlc_wire_alert(o, &e) < 0 && !e.what[0])
			abort();
		if (mlc_wire_is_delivery(o) && mlc_wire_delivery(o, &e) < 0 && !e.what[0])
			abort();
	} else {
		if (!e.what[0] || !mlc_utf8_valid(e.field, strlen(e.field)))
			abort();
		for (i = 0; e.field[i]; i++)
			if ((unsigned char)e.field[i] < 0x20)
				abort();
	}
	mlc_wire_errmsg(&e, msg, sizeof msg);
	jv_free(o);
	return 0;
}
