/*
 * catalog.c — the JD Edwards tables ml-connector knows by name: each one's
 * primary key columns and the time column JDE stamps beside UPMJ.
 *
 * Adding a table is one line of catalog[] below and nothing else:
 * jde-fetch takes the record key, the read order and a rule's incremental
 * columns from here, jde-join the key its [sums] queries and Address Book
 * lookups are ordered by (and ask for first), and alert-render --check the
 * columns jde-fetch always asks for.  jde-fetch(1) lists the table (The
 * table catalog) and jde-join(1) names this file (Joining another table);
 * tests/0615 checks that page, the sample data (data/jde/columns.json) and
 * the three programs against it.
 *
 * The key is written in the order of the record key ("00001|PV|123456|001":
 * company, document type, number, pay item), which is what alert ids are
 * made of: reordering or extending a key changes every alert id of the
 * table, and the re-alert index would then alert again on every record.
 *
 * Where the facts come from (reference/ais-rest-api.md §4 and §5):
 *   F0101            key and UPMT: the real AIS sample (ais-samples/).
 *   F0411 F0911      key: the reference's table; UPMT: the reference says
 *                    these use UPMT, [unverified].  F0411's key leaves out
 *                    the pay item extension SFXE (the reference lists it
 *                    as "+SFXE"), F0911's keeps EXTL.
 *   F4301 F4311      key: the reference (krisesystems B4305240, N1701030);
 *                    TDAY: the reference's table, [unverified].
 *   F0115 F01151     key: the reference; UPMT [unverified], from the sample
 *                    data only.
 *   F0011            key ICUT ICU: the batch type and number, which name a
 *                    batch (krisesystems D0000017); UPMT [unverified].
 *   F4101            key ITM and TDAY: the real F4101 response (ggsbv, §6).
 *   F0901            key AID: the reference (prefix GM, columns [unverified]);
 *                    UPMT [unverified], from the sample data only.
 *   F0006 F4102      key: the reference; time column [unverified] (F4102 and
 *   F41021           F41021 TDAY: the reference's list; F0006 UPMT: the
 *                    sample data).
 *   F03012 F4201     not in the reference at all: key and time column are
 *   F4211            [unverified], from general JDE knowledge and the sample
 *                    data (data/jde/README.md).
 * An install whose table differs gives the key in [source] key (or -k);
 * a time column given in [source] incremental wins over the one here, with
 * a warning.
 */
#include <string.h>

#include "mlc.h"

static const struct mlc_catalog_table catalog[] = {
	{ "F0006", "MCU", "UPMT" },
	{ "F0011", "ICUT ICU", "UPMT" },
	{ "F0101", "AN8", "UPMT" },
	{ "F0115", "AN8 IDLN RCK7", "UPMT" },
	{ "F01151", "AN8 IDLN RCK7", "UPMT" },
	{ "F03012", "AN8 CO", "UPMT" },
	{ "F0411", "KCO DCT DOC SFX", "UPMT" },
	{ "F0901", "AID", "UPMT" },
	{ "F0911", "KCO DCT DOC DGJ JELN LT EXTL", "UPMT" },
	{ "F4101", "ITM", "TDAY" },
	{ "F4102", "ITM MCU", "TDAY" },
	{ "F41021", "ITM MCU LOCN LOTN", "TDAY" },
	{ "F4201", "KCOO DCTO DOCO SFXO", "TDAY" },
	{ "F4211", "KCOO DCTO DOCO LNID", "TDAY" },
	{ "F4301", "KCOO DCTO DOCO SFXO", "TDAY" },
	{ "F4311", "KCOO DCTO DOCO SFXO LNID", "TDAY" },
};

const struct mlc_catalog_table *
mlc_catalog_entry(size_t i)
{
	return i < sizeof catalog / sizeof *catalog ? &catalog[i] : NULL;
}

static const struct mlc_catalog_table *
find(const char *table)
{
	for (size_t i = 0; table && i < sizeof catalog / sizeof *catalog; i++)
		if (strcmp(catalog[i].table, table) == 0)
			return &catalog[i];
	return NULL;
}

const char *
mlc_catalog_key(const char *table)
{
	const struct mlc_catalog_table *t = find(table);

	return t ? t->key : NULL;
}

/* The next blank-separated word of *p into w (at most wl - 1 bytes); its
 * length, 0 at the end, or wl if it is too long. */
static size_t
word(const char **p, char *w, size_t wl)
{
	const char *s = *p + strspn(*p, " \t\n,");
	size_t n = strcspn(s, " \t\n,");

	*p = s + n;
	if (n >= wl)
		return wl;
	memcpy(w, s, n);
	w[n] = '\0';
	return n;
}

int
mlc_catalog_incremental(const char *table, const char *spec, struct mlc_catalog_incr *inc,
                        char *err, size_t errlen)
{
	const struct mlc_catalog_table *t = find(table);
	const char *p = spec;
	char extra[2];
	size_t nd, nt;

	memset(inc, 0, sizeof *inc);
	if (err && errlen)
		err[0] = '\0';
	if (!spec || strcmp(spec, "none") == 0)
		return 0;
	nd = word(&p, inc->date, sizeof inc->date);
	nt = word(&p, inc->time, sizeof inc->time);
	if (nd == 0 || nd == sizeof inc->date || nt == sizeof inc->time || word(&p, extra, sizeof extra) ||
	    !mlc_jde_is_date(inc->date) || (nt && !mlc_jde_is_time(inc->time))) {
		snprintf(err, errlen, "incremental \"%s\" (UPMJ UPMT, UPMJ TDAY, DGJ or none)", spec);
		memset(inc, 0, sizeof *inc);
		return -1;
	}
	/* The time column belongs to UPMJ, the date JDE stamps with it. */
	if (t && strcmp(inc->date, "UPMJ") == 0) {
		if (!nt)
			snprintf(inc->time, sizeof inc->time, "%s", t->time);
		else if (strcmp(inc->time, t->time) != 0)
			snprintf(err, errlen, "incremental \"%s\": %s stamps UPMJ with %s in "
			         "jde-fetch's catalog; %s as given is used", spec, t->table, t->time,
			         inc->time);
	}
	return 1;
}
