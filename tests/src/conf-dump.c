/*
 * conf-dump — test driver for conf.c.
 * Usage: conf-dump FILE [SCHEMA-ENTRY...]
 * Prints each entry as {"line":N,"section":..,"key":..,"value":..}; with
 * schema entries, checks the file against them first.
 * Exit: 0, 78 on a parse or schema error (message on stderr).
 */
#include <string.h>

#include "mlc.h"

int
main(int argc, char **argv)
{
	struct mlc_conf c;
	struct mlc_buf b;
	char err[512];
	size_t i;

	mlc_util_setprogname(argv[0]);
	if (argc < 2)
		return MLC_EX_USAGE;
	if (mlc_conf_load(&c, argv[1], err, sizeof err, NULL) < 0) {
		mlc_warn("%s", err);
		mlc_conf_free(&c);
		return MLC_EX_CONFIG;
	}
	if (argc > 2) {
		argv[argc] = NULL;
		if (mlc_conf_check(&c, (const char *const *)argv + 2, err, sizeof err) < 0) {
			mlc_warn("%s", err);
			mlc_conf_free(&c);
			return MLC_EX_CONFIG;
		}
	}
	mlc_buf_init(&b);
	for (i = 0; i < c.n; i++) {
		mlc_buf_reset(&b);
		mlc_buf_printf(&b, "{\"line\":%u,\"section\":", c.v[i].line);
		mlc_buf_json_str(&b, c.v[i].section, strlen(c.v[i].section));
		mlc_buf_adds(&b, ",\"key\":");
		mlc_buf_json_str(&b, c.v[i].key, strlen(c.v[i].key));
		mlc_buf_adds(&b, ",\"value\":");
		mlc_buf_json_str(&b, c.v[i].value, strlen(c.v[i].value));
		mlc_buf_addc(&b, '}');
		mlc_ndjson_put(1, &b);
	}
	mlc_buf_free(&b);
	mlc_conf_free(&c);
	return 0;
}
