/* Messages to stderr without stdio or allocation: a fixed buffer, write(2). */
#ifndef QUARRY_REPORT_H
#define QUARRY_REPORT_H

#include "common.h"

struct msg {
    char buf[512];
    size_t len;
};

void msg_str(struct msg *m, const char *s);
void msg_hex(struct msg *m, uintptr_t v);
void msg_dec(struct msg *m, uintmax_t v);
/* Appends a newline and writes the message to stderr in one write(2). */
void msg_emit(struct msg *m);

/* "quarry: <func>(): invalid pointer 0x..." and abort(): a double free, a
 * free of an interior or foreign pointer, or metadata that contradicts
 * itself. */
NORETURN COLD void report_invalid_pointer(const char *func, const void *ptr);
/* "quarry: <func>(): <what> 0x..." and abort(): heap corruption that the
 * metadata shows (a block or a header overwritten). */
NORETURN COLD void report_corruption(const char *func, const char *what, const void *ptr);
/* The abort_on_error option (set by conf.c from the options): out of
 * memory, and a bad option's warning, abort instead of going on. */
extern bool opt_abort_on_error;
/* Sets errno to ENOMEM and returns NULL; with opt_abort_on_error, says
 * "quarry: out of memory" and aborts instead. */
COLD void *fail_enomem(void);
/* "quarry: <what>" and abort(): an internal invariant does not hold. */
NORETURN COLD void report_fatal(const char *what);

#define qassert(cond)                                                          \
    do {                                                                       \
        if (config_debug && unlikely(!(cond)))                                 \
            report_fatal("assertion failed: " #cond " (" __FILE__ ")");        \
    } while (0)

#endif
