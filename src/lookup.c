/*
 * lookup.c — a rule's [lookup] section: its one parser (jde-join runs the
 * lookups; alert-match and alert-render --check ask it which
 * .lookups.NAME.COL a rule can read).
 *
 * NAME = TABLE by TERM... -> COLUMN... [largest N COLUMN]   ("→" is a
 * synonym of "->") where TERM is COL (the record's column COL, the table's
 * column COL) or COL=SRC, SRC a record column or NAME.COL of a lookup
 * declared earlier.  "largest N COL" keeps the N rows with the largest COL
 * (an array); a lookup with a key from such a lookup has one result per
 * element of its array.
 */
#include <stdlib.h>
#include <string.h>

#include "mlc.h"

int
mlc_lookup_alias_ok(const char *s, size_t n)
{
	return n >= 1 && n <= 12 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") >= n;
}

static int
is_name(const char *s, size_t n)
{
	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	                         s[0] == '_'))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") >= n;
}

/* The value with each "->" and "→" as a word " -> " of its own. */
static char *
spaced(const char *v)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	while (*v) {
		if (v[0] == '-' && v[1] == '>') {
			mlc_buf_adds(&b, " -> ");
			v += 2;
		} else if ((unsigned char)v[0] == 0xe2 && (unsigned char)v[1] == 0x86 &&
		           (unsigned char)v[2] == 0x92) {
			mlc_buf_adds(&b, " -> ");
			v += 3;
		} else {
			mlc_buf_addc(&b, *v++);
		}
	}
	return b.p;
}

void
mlc_lookup_free(struct mlc_lookups *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct mlc_lookup *k = &l->v[i];

		free(k->name);
		free(k->table);
		for (size_t j = 0; j < k->nby; j++) {
			free(k->by[j]);
			free(k->src[j]);
		}
		for (size_t j = 0; j < k->ncols; j++)
			free(k->cols[j]);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
mlc_lookup_col(const struct mlc_lookup *k, const char *col, size_t n)
{
	for (size_t j = 0; j < k->ncols; j++)
		if (strlen(k->cols[j]) == n && strncmp(k->cols[j], col, n) == 0)
			return (int)j;
	return -1;
}

int
mlc_lookup_find(const struct mlc_lookups *l, const char *name, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i].name) == n && strncmp(l->v[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto bad; } while (0)

int
mlc_lookup_parse(const struct mlc_rule *r, struct mlc_lookups *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof *l);
	for (size_t i = 0; i < r->conf.n; i++) {
		const struct mlc_conf_entry *e = &r->conf.v[i];
		struct mlc_lookup *k;
		char *v, *w[MLC_LOOKUP_MAXBY + MLC_LOOKUP_MAXCOLS + 8], *save = NULL;
		size_t nw = 0, j, arrow, end;

		if (strcmp(e->section, "lookup") != 0)
			continue;
		if (!is_name(e->key, strlen(e->key))) {
			snprintf(err, errlen, "%s:%u: [lookup] %s: the name must be letters, digits and _ "
			         "(at most 32, not first a digit)", r->path, e->line, e->key);
			goto bad0;
		}
		if (mlc_lookup_find(l, e->key, strlen(e->key)) >= 0) {
			snprintf(err, errlen, "%s:%u: [lookup] %s is given twice", r->path, e->line, e->key);
			goto bad0;
		}
		l->v = mlc_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
		k = &l->v[l->n++];
		memset(k, 0, sizeof *k);
		k->name = mlc_xstrdup(e->key);
		k->line = e->line;
		v = spaced(e->value);
		for (char *t = strtok_r(v, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			if (nw == sizeof w / sizeof *w) {
				free(v);
				snprintf(err, errlen, "%s:%u: [lookup] %s: too many words (at most %d key and "
				         "%d result columns)", r->path, e->line, e->key, MLC_LOOKUP_MAXBY,
				         MLC_LOOKUP_MAXCOLS);
				goto bad0;
			}
			w[nw++] = t;
		}
		for (arrow = 0; arrow < nw && strcmp(w[arrow], "->") != 0; arrow++)
			;
		for (end = arrow; end < nw && strcmp(w[end], "largest") != 0; end++)
			;
		if (nw < 1 || !mlc_lookup_alias_ok(w[0], strlen(w[0])))
			FAIL("%s:%u: [lookup] %s: table \"%s\": expected a JDE table such as F4101 "
			     "(TABLE by COLUMN... -> COLUMN...)", r->path, e->line, e->key, nw ? w[0] : "");
		k->table = mlc_xstrdup(w[0]);
		if (nw < 2 || strcmp(w[1], "by") != 0)
			FAIL("%s:%u: [lookup] %s: expected \"by\" after %s (TABLE by COLUMN... -> "
			     "COLUMN...)", r->path, e->line, e->key, w[0]);
		if (arrow == nw)
			FAIL("%s:%u: [lookup] %s: no \"->\" before the columns to read (TABLE by "
			     "COLUMN... -> COLUMN...)", r->path, e->line, e->key);
		if (arrow == 2)
			FAIL("%s:%u: [lookup] %s: no key column after \"by\"", r->path, e->line, e->key);
		if (arrow - 2 > MLC_LOOKUP_MAXBY)
			FAIL("%s:%u: [lookup] %s: more than %d key columns", r->path, e->line, e->key,
			     MLC_LOOKUP_MAXBY);
		if (arrow + 1 == end)
			FAIL("%s:%u: [lookup] %s: no column to read after \"->\"", r->path, e->line,
			     e->key);
		if (end - arrow - 1 > MLC_LOOKUP_MAXCOLS)
			FAIL("%s:%u: [lookup] %s: more than %d columns to read", r->path, e->line, e->key,
			     MLC_LOOKUP_MAXCOLS);
		for (j = 2; j < arrow; j++) {
			char *eq = strchr(w[j], '='), *src = eq ? eq + 1 : w[j], *dot;
			size_t cl = eq ? (size_t)(eq - w[j]) : strlen(w[j]);

			if (!mlc_lookup_alias_ok(w[j], cl))
				FAIL("%s:%u: [lookup] %s: key \"%s\": expected COLUMN or COLUMN=SOURCE, "
				     "COLUMN a JDE alias such as ITM", r->path, e->line, e->key, w[j]);
			for (size_t m = 0; m < k->nby; m++)
				if (strlen(k->by[m]) == cl && strncmp(k->by[m], w[j], cl) == 0)
					FAIL("%s:%u: [lookup] %s: key column %.*s is given twice", r->path,
					     e->line, e->key, (int)cl, w[j]);
			k->by[k->nby] = mlc_xstrndup(w[j], cl);
			k->src_lookup[k->nby] = -1;
			if ((dot = strchr(src, '.'))) {
				int li = mlc_lookup_find(l, src, (size_t)(dot - src));

				if (li < 0 || li == (int)l->n - 1)
					FAIL("%s:%u: [lookup] %s: key \"%s\": no lookup %.*s declared before "
					     "this line", r->path, e->line, e->key, w[j], (int)(dot - src), src);
				if (mlc_lookup_col(&l->v[li], dot + 1, strlen(dot + 1)) < 0)
					FAIL("%s:%u: [lookup] %s: key \"%s\": lookup %s (line %u) reads no "
					     "column %s", r->path, e->line, e->key, w[j], l->v[li].name,
					     l->v[li].line, dot + 1);
				if (l->v[li].each)
					FAIL("%s:%u: [lookup] %s: key \"%s\": lookup %s (line %u) has one result "
					     "per row of a \"largest\" lookup: a chain goes one step from "
					     "\"largest\"", r->path, e->line, e->key, w[j], l->v[li].name,
					     l->v[li].line);
				if (l->v[li].top && k->each && k->each_src != li)
					FAIL("%s:%u: [lookup] %s: key \"%s\": keys from two \"largest\" "
					     "lookups", r->path, e->line, e->key, w[j]);
				if (l->v[li].top) {
					k->each = 1;
					k->each_src = li;
				}
				k->src_lookup[k->nby] = li;
				k->src[k->nby] = mlc_xstrdup(dot + 1);
			} else if (!mlc_lookup_alias_ok(src, strlen(src))) {
				FAIL("%s:%u: [lookup] %s: key \"%s\": the source must be a column of the "
				     "record or NAME.COLUMN of a lookup before", r->path, e->line, e->key,
				     w[j]);
			} else {
				k->src[k->nby] = mlc_xstrdup(src);
			}
			k->nby++;
		}
		for (j = arrow + 1; j < end; j++) {
			if (!mlc_lookup_alias_ok(w[j], strlen(w[j])))
				FAIL("%s:%u: [lookup] %s: column \"%s\": expected a JDE alias such as DSC1",
				     r->path, e->line, e->key, w[j]);
			if (mlc_lookup_col(k, w[j], strlen(w[j])) >= 0)
				FAIL("%s:%u: [lookup] %s: column %s is given twice", r->path, e->line, e->key,
				     w[j]);
			k->cols[k->ncols++] = mlc_xstrdup(w[j]);
		}
		if (end < nw) {
			char *x;
			long top = nw - end == 3 ? strtol(w[end + 1], &x, 10) : 0;

			if (nw - end != 3 || *x || top < 1 || top > MLC_LOOKUP_MAXTOP)
				FAIL("%s:%u: [lookup] %s: expected \"largest N COLUMN\" at the end, N from 1 "
				     "to %d", r->path, e->line, e->key, MLC_LOOKUP_MAXTOP);
			if ((k->topcol = mlc_lookup_col(k, w[end + 2], strlen(w[end + 2]))) < 0)
				FAIL("%s:%u: [lookup] %s: largest %ld %s: %s is not among the columns read",
				     r->path, e->line, e->key, top, w[end + 2], w[end + 2]);
			if (k->each)
				FAIL("%s:%u: [lookup] %s: \"largest\" with a key from a \"largest\" lookup",
				     r->path, e->line, e->key);
			k->top = (int)top;
		}
		free(v);
		continue;
bad:
		free(v);
		goto bad0;
	}
	return 0;
bad0:
	mlc_lookup_free(l);
	return -1;
}

static int
ident(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

int
mlc_lookup_check_refs(const struct mlc_lookups *l, const char *path, unsigned line,
                      const char *what, const char *s, size_t a, size_t b)
{
	static const char pre[] = ".lookups.";
	const size_t pl = sizeof pre - 1;
	int warned = 0;

	for (size_t i = a; i + pl <= b; i++) {
		const char *nm, *col;
		size_t nl, cl;
		unsigned ln;
		int li;

		if (strncmp(s + i, pre, pl) != 0 || (i > 0 && (ident(s[i - 1]) || s[i - 1] == '.')))
			continue;
		nm = s + i + pl;
		for (nl = 0; i + pl + nl < b && ident(nm[nl]); nl++)
			;
		if (!nl)
			continue;
		col = nm + nl;
		cl = 0;
		/* an array's element ("largest", or a chain per element):
		 * .lookups.NAME[...].COL */
		if (i + pl + nl < b && *col == '[') {
			const char *e = memchr(col, ']', b - (i + pl + nl));

			if (e && (size_t)(e + 1 - s) < b && e[1] == '.')
				col = e + 1;
		}
		if ((size_t)(col - s) < b && *col == '.') {
			col++;
			for (; (size_t)(col - s) + cl < b && ident(col[cl]); cl++)
				;
		}
		li = mlc_lookup_find(l, nm, nl);
		if (li >= 0 && (!cl || mlc_lookup_col(&l->v[li], col, cl) >= 0))
			continue;
		ln = line;
		for (size_t j = 0; j < i; j++)
			ln += s[j] == '\n';
		if (li < 0)
			mlc_warn("%s:%u: warning: %s reads .lookups.%.*s, but [lookup] has no %.*s: it is "
			         "always null", path, ln, what,
			         (int)(nl + (cl && col == nm + nl + 1 ? cl + 1 : 0)), nm, (int)nl,
			         nm);
		else
			mlc_warn("%s:%u: warning: %s reads .lookups.%.*s.%.*s, but [lookup] %.*s (line %u) "
			         "reads no %.*s: it is always null", path, ln, what, (int)nl, nm, (int)cl,
			         col, (int)nl, nm, l->v[li].line, (int)cl, col);
		warned = 1;
	}
	return warned;
}
