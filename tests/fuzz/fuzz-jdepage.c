/* Fuzz target: the AIS data-service page scanner (jde.c) as jde-fetch uses
 * it for table F0411: parse, then turn every row into a record line. */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const key[] = { "KCO", "DCT", "DOC", "SFX" };
	struct mlc_jde_page pg;
	struct mlc_jde_fmt fmt;
	struct mlc_jde_rowinfo ri;
	struct mlc_buf out;
	char err[512];
	const char *row;
	size_t pos = 0, rowlen;
	int rc, n = 0;

	memset(&pg, 0, sizeof pg);
	if (mlc_jde_page_parse((const char *)data, size, &pg, err, sizeof err) < 0)
		return 0;
	memset(&fmt, 0, sizeof fmt);
	fmt.table = "F0411";
	fmt.key = key;
	fmt.nkey = 4;
	fmt.rule = "ap-aging";
	fmt.fetched_at = "2026-01-02T03:04:05.000Z";
	fmt.wm_date = "UPMJ";
	fmt.wm_time = "UPMT";
	mlc_jde_rowinfo_init(&ri);
	mlc_buf_init(&out);
	while ((rc = mlc_jde_page_row(&pg, &pos, &row, &rowlen)) == 1 && n++ < 10000) {
		if (row < (const char *)data || row + rowlen > (const char *)data + size)
			abort(); /* a row span must lie inside the body */
		mlc_buf_reset(&out);
		(void)mlc_jde_row_record(row, rowlen, &fmt, &out, &ri, err, sizeof err);
	}
	mlc_buf_free(&out);
	mlc_jde_rowinfo_free(&ri);
	mlc_jde_page_free(&pg);
	return 0;
}
