#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void msg_str(struct msg *m, const char *s) {
    while (*s != '\0' && m->len < sizeof(m->buf) - 1)
        m->buf[m->len++] = *s++;
}

void msg_hex(struct msg *m, uintptr_t v) {
    char tmp[2 + 2 * sizeof(v)];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    msg_str(m, "0x");
    while (n > 0 && m->len < sizeof(m->buf) - 1)
        m->buf[m->len++] = tmp[--n];
}

void msg_dec(struct msg *m, uintmax_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && m->len < sizeof(m->buf) - 1)
        m->buf[m->len++] = tmp[--n];
}

void msg_emit(struct msg *m) {
    m->buf[m->len++] = '\n';
    size_t off = 0;
    while (off < m->len) {
        ssize_t w = write(STDERR_FILENO, m->buf + off, m->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    m->len = 0;
}

void report_invalid_pointer(const char *func, const void *ptr) {
    struct msg m = {.len = 0};
    msg_str(&m, "quarry: ");
    msg_str(&m, func);
    msg_str(&m, "(): invalid pointer ");
    msg_hex(&m, (uintptr_t)ptr);
    msg_emit(&m);
    abort();
}

void report_corruption(const char *func, const char *what, const void *ptr) {
    struct msg m = {.len = 0};
    msg_str(&m, "quarry: ");
    msg_str(&m, func);
    msg_str(&m, "(): heap corruption: ");
    msg_str(&m, what);
    msg_str(&m, " at ");
    msg_hex(&m, (uintptr_t)ptr);
    msg_emit(&m);
    abort();
}

bool opt_abort_on_error = false;

void report_fatal(const char *what) {
    struct msg m = {.len = 0};
    msg_str(&m, "quarry: ");
    msg_str(&m, what);
    msg_emit(&m);
    abort();
}

void *fail_enomem(void) {
    if (opt_abort_on_error)
        report_fatal("out of memory (abort_on_error is set)");
    errno = ENOMEM;
    return NULL;
}
