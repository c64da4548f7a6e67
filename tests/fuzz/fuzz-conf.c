/* Fuzz target: the key = value parser (conf.c) and its schema check, with
 * the rule schema of rule.c. */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlc_conf c;
	char err[512];
	const char *v;
	size_t i;

	memset(&c, 0, sizeof c);
	if (mlc_conf_parse(&c, "fuzz.rule", (const char *)data, size, err, sizeof err) == 0) {
		(void)mlc_conf_check(&c, mlc_rule_schema, err, sizeof err);
		for (i = 0; i < c.n; i++) {
			if (!c.v[i].section || !c.v[i].key || !c.v[i].value)
				abort();
			v = mlc_conf_get(&c, c.v[i].section, c.v[i].key);
			if (!v)
				abort(); /* a parsed key must be found again */
		}
		if (c.n) {
			char cron[128];
			if ((v = mlc_conf_get(&c, "rule", "schedule")))
				(void)mlc_rule_cron(v, cron, sizeof cron, err, sizeof err);
		}
	}
	mlc_conf_free(&c);
	return 0;
}
