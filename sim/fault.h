/*
 * fault.h — the words of a simulator's fault spec, KIND[:key=value,...],
 * shared by sim/mlc-ais-sim.c and sim/mlc-twilio-sim.c: splitting a spec,
 * its numbers, and its path patterns.  What each kind and key means stays
 * with its simulator.  Same prefix rule: mlc_fault_<verb>.
 */
#ifndef MLC_FAULT_H
#define MLC_FAULT_H

/* Split a spec (a copy, changed in place) after KIND: its arguments, or
 * NULL if it has none. */
char *mlc_fault_kind(char *spec);
/* The items of the arguments in turn: the first call with args (NULL:
 * none), the next ones with NULL; *save is the caller's, NULL at first.
 * Returns the item's key, with *val the text after its '=' (NULL if it has
 * none); NULL after the last item.  Empty items are skipped. */
char *mlc_fault_item(char *args, char **save, char **val);
/* A whole decimal number in [lo, hi]: 0 with *out, or -1. */
int mlc_fault_long(const char *s, long lo, long hi, long *out);
/* Does a path pattern match path: the same path, or a pattern ending in
 * '*' and path starting with what comes before it. */
int mlc_fault_path(const char *want, const char *path);

#endif
