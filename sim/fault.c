/*
 * fault.c — the words of a simulator's fault spec (see fault.h): KIND and
 * its key=value items, numbers and path patterns, for both simulators.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

char *
mlc_fault_kind(char *spec)
{
	char *colon = strchr(spec, ':');

	if (!colon)
		return NULL;
	*colon = '\0';
	return colon + 1;
}

char *
mlc_fault_item(char *args, char **save, char **val)
{
	char *kv, *eq;

	if (args)
		kv = strtok_r(args, ",", save);
	else if (*save)
		kv = strtok_r(NULL, ",", save);
	else
		kv = NULL;
	*val = NULL;
	if (kv && (eq = strchr(kv, '='))) {
		*eq = '\0';
		*val = eq + 1;
	}
	return kv;
}

int
mlc_fault_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
mlc_fault_path(const char *want, const char *path)
{
	size_t n = strlen(want);

	if (n && want[n - 1] == '*')
		return strncmp(path, want, n - 1) == 0;
	return strcmp(path, want) == 0;
}
