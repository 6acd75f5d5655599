/*
 * The memory doctor: a diagnosis of the heap a person can act on (where
 * the bytes between allocated and resident lie, and what to change), and
 * the fixed-buffer writer it shares with the heap map (heapmap.h) and the
 * statistics trace (trace.h). docs/doctor.md explains how to read it.
 *
 * None of these allocate: the heap they describe stays the heap they
 * describe, and they work from a signal-free exit path, the background
 * thread, or Redis's DEBUG MALLCTL-STR.
 */
#ifndef QUARRY_DOCTOR_H
#define QUARRY_DOCTOR_H

#include "common.h"

/* Text built in a fixed buffer and handed to write a piece at a time. */
struct outbuf {
    void (*write)(void *, const char *);
    void *opaque;
    size_t len;
    char buf[4096];
};

void out_init(struct outbuf *o, void (*write)(void *, const char *), void *opaque);
void out_str(struct outbuf *o, const char *s);
void out_u64(struct outbuf *o, uint64_t v);
void out_i64(struct outbuf *o, int64_t v);
/* v / 10^decimals, with that many decimals. */
void out_fixed(struct outbuf *o, uint64_t v, unsigned decimals);
/* "12.3 MiB" (B, KiB, MiB, GiB). */
void out_bytes(struct outbuf *o, uint64_t bytes);
/* s left-aligned (width > 0) or right-aligned (width < 0) in |width| columns. */
void out_col(struct outbuf *o, const char *s, int width);
void out_flush(struct outbuf *o);

/* A write callback whose opaque is a pointer to an int file descriptor. */
void out_write_fd(void *opaque, const char *s);
/* Opens path for writing (created, truncated, mode 0644): -1 on failure,
 * errno set. */
int out_open(const char *path);

/* The process's resident set from /proc/self/statm, in bytes; 0 when it
 * cannot be read. */
size_t doctor_rss(void);

/* The diagnosis, to write_cb (NULL: stderr). Returns the number of
 * findings (0: "no issues"). */
unsigned doctor_write(void (*write_cb)(void *, const char *), void *cbopaque);
/* The diagnosis into a file: 0, or an errno value. */
int doctor_to_file(const char *path);

#endif
