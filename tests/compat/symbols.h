/* For the preloaded test programs: which object each name binds to. */
#ifndef QUARRY_COMPAT_SYMBOLS_H
#define QUARRY_COMPAT_SYMBOLS_H

#include <stddef.h>

/* The file name of the object that defines the first definition of name in
 * the process's global scope (what a call binds to), or "none". */
const char *symbol_object(const char *name);
/* The object holding address addr (a function as the program calls it). */
const char *address_object(const void *addr);
/* Checks that every name binds to libquarry.so; prints each that does not
 * and returns how many. */
int expect_quarry(const char *const *names, size_t n);

#endif
