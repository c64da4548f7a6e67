/*
 * conf.c — the "key = value" format shared by ml-connector.conf and the
 * rule files (see ml-connector.5 for the format as users read it), and the
 * one resolver of where the configuration, the rules and the state live.
 *
 * Parsing keeps every entry with its line number, in file order, so that
 * later checks (unknown keys, repeats, bad values) can name the line.
 * Continuation lines (starting with white space) let jq expressions and
 * templates span lines without any quoting language.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static int
is_name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static int
is_space(int c)
{
	return c == ' ' || c == '\t';
}

static void
push(struct mlc_conf *c, const char *section, const char *key, size_t keylen,
     const char *val, size_t vallen, unsigned line)
{
	struct mlc_conf_entry *e;

	/* Capacity is implicit: 8, then doubling at each power of two. */
	if (c->n == 0 || (c->n >= 8 && (c->n & (c->n - 1)) == 0))
		c->v = mlc_xrealloc(c->v, (c->n ? c->n * 2 : 8) * sizeof *c->v);
	e = &c->v[c->n++];
	e->section = mlc_xstrdup(section);
	e->key = mlc_xstrndup(key, keylen);
	e->value = mlc_xstrndup(val, vallen);
	e->line = line;
}

/* Append a continuation line to the last entry's value. */
static void
append(struct mlc_conf *c, const char *s, size_t n)
{
	struct mlc_conf_entry *e = &c->v[c->n - 1];
	size_t old = strlen(e->value);

	e->value = mlc_xrealloc(e->value, old + 1 + n + 1);
	if (old > 0)
		e->value[old++] = '\n';
	memcpy(e->value + old, s, n);
	e->value[old + n] = '\0';
}

int
mlc_conf_parse(struct mlc_conf *c, const char *path, const char *text, size_t n, char *err,
               size_t errlen)
{
	char section[128] = "";
	const char *p = text, *end = text + n;
	unsigned line = 0;
	int in_value = 0; /* the previous line was a key line or a continuation */

	memset(c, 0, sizeof *c);
	c->path = mlc_xstrdup(path);
	if (!mlc_utf8_valid(text, n))
		return mlc_errf(err, errlen, "%s: not valid UTF-8", path);
	if (memchr(text, '\0', n))
		return mlc_errf(err, errlen, "%s: contains a NUL byte", path);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *s, *e;

		if (!eol)
			eol = end;
		line++;
		s = p;
		e = eol;
		p = eol < end ? eol + 1 : end;
		if (e > s && e[-1] == '\r')
			e--;
		while (e > s && is_space((unsigned char)e[-1]))
			e--; /* trailing white space never matters */
		if (s < e && is_space((unsigned char)*s)) {
			/* A continuation line, or an indented comment/blank. */
			const char *t = s;

			while (t < e && is_space((unsigned char)*t))
				t++;
			if (t == e) {
				in_value = 0;
				continue;
			}
			if (!in_value)
				return mlc_errf(err, errlen,
				            "%s:%u: indented line does not continue a value "
				            "(continuation lines must follow a key line)", path, line);
			append(c, t, (size_t)(e - t));
			continue;
		}
		in_value = 0;
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			const char *q = s + 1;

			while (q < e && is_name_char((unsigned char)*q))
				q++;
			if (q == s + 1 || q >= e || *q != ']' || q + 1 != e)
				return mlc_errf(err, errlen,
				            "%s:%u: bad section header (expected [name] with "
				            "a-z 0-9 _ . -)", path, line);
			if ((size_t)(q - s - 1) >= sizeof section)
				return mlc_errf(err, errlen, "%s:%u: section name too long", path, line);
			memcpy(section, s + 1, (size_t)(q - s - 1));
			section[q - s - 1] = '\0';
			continue;
		}
		{
			const char *k = s, *ke, *v;

			while (k < e && is_name_char((unsigned char)*k))
				k++;
			ke = k;
			if (ke == s)
				return mlc_errf(err, errlen,
				            "%s:%u: expected \"key = value\" (keys use a-z 0-9 _ . -)",
				            path, line);
			while (k < e && is_space((unsigned char)*k))
				k++;
			if (k >= e || *k != '=')
				return mlc_errf(err, errlen, "%s:%u: expected \"=\" after key \"%.*s\"",
				            path, line, (int)(ke - s), s);
			v = k + 1;
			while (v < e && is_space((unsigned char)*v))
				v++;
			push(c, section, s, (size_t)(ke - s), v, (size_t)(e - v), line);
			in_value = 1;
		}
	}
	return 0;
}

int
mlc_conf_load(struct mlc_conf *c, const char *path, char *err, size_t errlen, int *missing)
{
	struct mlc_buf b;
	FILE *f;
	char chunk[8192];
	size_t n;
	int r;

	if (missing)
		*missing = 0;
	memset(c, 0, sizeof *c);
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else if (!(f = fopen(path, "r"))) {
		if (missing && errno == ENOENT)
			*missing = 1;
		return mlc_errf(err, errlen, "%s: %s", path, strerror(errno));
	}
	mlc_buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		mlc_buf_add(&b, chunk, n);
		if (b.len > (4u << 20)) {
			mlc_buf_free(&b);
			if (f != stdin)
				fclose(f);
			return mlc_errf(err, errlen, "%s: larger than 4 MiB", path);
		}
	}
	if (ferror(f)) {
		int e = errno;

		mlc_buf_free(&b);
		if (f != stdin)
			fclose(f);
		return mlc_errf(err, errlen, "%s: read error: %s", path, strerror(e));
	}
	if (f != stdin)
		fclose(f);
	r = mlc_conf_parse(c, path, b.p, b.len, err, errlen);
	mlc_buf_free(&b);
	return r;
}

void
mlc_conf_free(struct mlc_conf *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].section);
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	free(c->path);
	memset(c, 0, sizeof *c);
}

const struct mlc_conf_entry *
mlc_conf_find(const struct mlc_conf *c, const char *section, const char *key)
{
	size_t i;

	for (i = c->n; i-- > 0;)
		if (strcmp(c->v[i].section, section) == 0 && strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

const char *
mlc_conf_get(const struct mlc_conf *c, const char *section, const char *key)
{
	const struct mlc_conf_entry *e = mlc_conf_find(c, section, key);

	return e ? e->value : NULL;
}

/* Find the schema entry for section.key: 0 none, 1 single, 2 repeatable. */
static int
schema_kind(const char *const *schema, const char *section, const char *key, int *sec_known)
{
	size_t sl = strlen(section), kl = strlen(key);
	int i;

	*sec_known = 0;
	for (i = 0; schema[i]; i++) {
		const char *s = schema[i];
		size_t n = strlen(s);

		if (n <= sl || strncmp(s, section, sl) != 0 || s[sl] != '.')
			continue;
		*sec_known = 1;
		s += sl + 1;
		n -= sl + 1;
		if (strcmp(s, "*") == 0)
			return 2;
		if (n == kl + 1 && s[kl] == '*' && strncmp(s, key, kl) == 0)
			return 2;
		if (n == kl && strncmp(s, key, kl) == 0)
			return 1;
	}
	return 0;
}

int
mlc_conf_check(const struct mlc_conf *c, const char *const *schema, char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < c->n; i++) {
		const struct mlc_conf_entry *e = &c->v[i];
		int known, kind = schema_kind(schema, e->section, e->key, &known);

		if (kind == 0) {
			if (!known && *e->section)
				return mlc_errf(err, errlen, "%s:%u: unknown section [%s]", c->path,
				            e->line, e->section);
			if (*e->section)
				return mlc_errf(err, errlen, "%s:%u: unknown key \"%s\" in [%s]", c->path,
				            e->line, e->key, e->section);
			return mlc_errf(err, errlen, "%s:%u: unknown key \"%s\" (before any [section])",
			            c->path, e->line, e->key);
		}
		if (kind == 1) {
			for (j = 0; j < i; j++)
				if (strcmp(c->v[j].section, e->section) == 0 &&
				    strcmp(c->v[j].key, e->key) == 0)
					return mlc_errf(err, errlen,
					            "%s:%u: \"%s\" given twice (first on line %u)",
					            c->path, e->line, e->key, c->v[j].line);
		}
	}
	return 0;
}

/*
 * Where things live.  Every program and the orchestrator (through mlc-conf)
 * ask these functions, so one configuration never names two state
 * directories.  One order for every setting: the command line, then the
 * environment, then the configuration file, then the default.  The
 * environment is set for one invocation (a crontab line, a systemd unit's
 * Environment=, a web server's fastcgi_param, a test) while the
 * configuration file is shared by all of them, so a variable that is set is
 * the narrower, deliberate choice; an option is narrower still.
 */

static const char *config_opt; /* the -c of this process, or NULL */

void
mlc_config_use(const char *path)
{
	config_opt = path && *path ? path : NULL;
}

/* XDG base directories: a relative value is ignored, as the spec says. */
static const char *
xdg(const char *var)
{
	const char *e = getenv(var);

	return e && *e == '/' ? e : NULL;
}

const char *
mlc_config_path(void)
{
	static char buf[PATH_MAX];
	const char *e;
	int n = -1;

	if (config_opt)
		return config_opt;
	if ((e = getenv("ML_CONNECTOR_CONF")) && *e)
		return e;
	if ((e = xdg("XDG_CONFIG_HOME")))
		n = snprintf(buf, sizeof buf, "%s/ml-connector/ml-connector.conf", e);
	else if ((e = getenv("HOME")) && *e)
		n = snprintf(buf, sizeof buf, "%s/.config/ml-connector/ml-connector.conf", e);
	if (n > 0 && (size_t)n < sizeof buf && access(buf, F_OK) == 0)
		return buf;
	return "/etc/ml-connector/ml-connector.conf";
}

int
mlc_config_lookup(const char *section, const char *key, char **val, char *err, size_t errlen)
{
	struct mlc_conf c;
	const char *path = mlc_config_path(), *v;
	int missing = 0;

	*val = NULL;
	if (strcmp(path, "-") == 0)
		return mlc_errf(err, errlen, "the configuration cannot be read from standard input "
		            "here: give its path");
	if (mlc_conf_load(&c, path, err, errlen, &missing) < 0) {
		mlc_conf_free(&c);
		return missing ? 0 : -1;
	}
	if ((v = mlc_conf_get(&c, section, key)))
		*val = mlc_xstrdup(v);
	mlc_conf_free(&c);
	return *val != NULL;
}

/* Into buf: opt, else $var, else the configuration's [general] key if not
 * empty; 1 when one of them was set, 0 when none, -1 (err) when the
 * configuration had to be read and could not be. */
static int
setting(const char *opt, const char *var, const char *key, char *buf, size_t buflen,
        char *err, size_t errlen)
{
	const char *e = opt;
	char *v = NULL;
	int r;

	if (!e || !*e)
		e = getenv(var);
	if (!e || !*e) {
		if (mlc_config_lookup("general", key, &v, err, errlen) < 0)
			return -1;
		e = v;
	}
	if (!e || !*e)
		r = 0;
	else if ((size_t)snprintf(buf, buflen, "%s", e) >= buflen)
		r = mlc_errf(err, errlen, "%s \"%.60s...\" is too long for a path", key, e);
	else
		r = 1;
	free(v);
	return r;
}

const char *
mlc_state_dir(const char *opt, char *err, size_t errlen)
{
	static char buf[PATH_MAX];
	const char *e;
	int r = setting(opt, "ML_CONNECTOR_STATE", "state_dir", buf, sizeof buf, err, errlen);

	if (r < 0)
		return NULL;
	if (r > 0)
		return buf;
	if ((e = xdg("XDG_STATE_HOME")))
		r = snprintf(buf, sizeof buf, "%s/ml-connector", e);
	else if (geteuid() != 0 && (e = getenv("HOME")) && *e)
		r = snprintf(buf, sizeof buf, "%s/.local/state/ml-connector", e);
	else
		r = snprintf(buf, sizeof buf, "/var/lib/ml-connector"); /* a system install */
	if (r < 0 || (size_t)r >= sizeof buf) {
		mlc_errf(err, errlen, "the default state directory is too long for a path");
		return NULL;
	}
	return buf;
}

const char *
mlc_rule_dir(const char *opt, char *err, size_t errlen)
{
	static char buf[PATH_MAX];
	const char *conf, *slash;
	int r = setting(opt, "ML_CONNECTOR_RULES", "rules_dir", buf, sizeof buf, err, errlen);

	if (r < 0)
		return NULL;
	if (r > 0)
		return buf;
	conf = mlc_config_path();
	slash = strrchr(conf, '/');
	if (slash)
		r = snprintf(buf, sizeof buf, "%.*s/rules", (int)(slash - conf), conf);
	else
		r = snprintf(buf, sizeof buf, "rules");
	if (r < 0 || (size_t)r >= sizeof buf) {
		mlc_errf(err, errlen, "%s: too long for a path", conf);
		return NULL;
	}
	return buf;
}
