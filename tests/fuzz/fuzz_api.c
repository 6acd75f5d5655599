/*
 * libFuzzer harness for the prefixed API, checked against a shadow model.
 *
 * The input is a program: a sequence of operations on SLOTS slots, each
 * holding at most one live block. The model knows, for every live block,
 * the size asked for, the usable size quarry reported, how it was made and
 * the byte pattern written over all of its usable bytes, and checks after
 * every call:
 *   - alignment: 8 for every block, 16 above 8 bytes, the alignment asked
 *     for by the aligned calls;
 *   - malloc_usable_size >= the size asked for, and stable while live;
 *   - no overlap: a new block's [p, p + usable) meets no live block's;
 *   - contents: a block's pattern is intact when it is read (realloc keeps
 *     min(old usable, new size) bytes, calloc gives zeros);
 *   - failures: impossible sizes give NULL and ENOMEM, bad alignments
 *     EINVAL, and a failed realloc leaves the block as it was;
 *   - statistics, after thread.tcache.flush: allocated is the sum of the
 *     live blocks' usable sizes, and allocated <= active <= resident <=
 *     mapped.
 * A failed check prints what differed and aborts, which libFuzzer records
 * as a crash with the input that caused it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quarry.h"

enum { SLOTS = 32 };

/* Live bytes are capped so that a run of huge requests cannot exhaust the
 * fuzzing machine; an allocation over the cap is skipped. */
#define LIVE_CAP ((size_t)192 << 20)
/* Beyond this many bytes a block's pattern is written and checked on one
 * byte per page (and the whole first and last stretch), which still
 * catches an overlap or a stray metadata write at page granularity
 * without making each huge block cost milliseconds. */
#define FULL_CHECK ((size_t)64 << 10)

enum made_by { MADE_MALLOC, MADE_CALLOC, MADE_REALLOC, MADE_ALIGNED };

struct slot {
    unsigned char *p;
    size_t size;   /* asked for */
    size_t usable; /* reported at allocation */
    unsigned char tag;
    enum made_by how;
};

static struct slot slots[SLOTS];
static size_t live_bytes;
static unsigned char next_tag = 1; /* any value: the tape is 256 bytes longer than a period */

/* FUZZ_API_TRACE=1 prints every block made and freed, to replay a crash
 * input by hand: fuzz_api crash-<hash>. */
static bool tracing;

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (tracing)                                                                               \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

static _Noreturn void broken(const char *what, int slot, const void *p, size_t a, size_t b) {
    fprintf(stderr, "fuzz_api: %s (slot %d, block %p, values %zu, %zu)\n", what, slot, p, a, b);
    abort();
}

/* ---- reading the input ------------------------------------------------ */

struct input {
    const uint8_t *data;
    size_t left;
};

static uint8_t take8(struct input *in) {
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->data++;
}

static uint32_t take_bytes(struct input *in, int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | take8(in);
    return v;
}

#define LARGE_MAX_GUESS ((size_t)1019 << 12) /* LARGE_MAX: 4 MiB less the 5 header pages */

/* Sizes spread over the small classes, large runs and huge mappings, plus
 * the boundaries between them and sizes no allocator can serve. */
static size_t take_size(struct input *in) {
    static const size_t edges[] = {
        0, 1, 8, 9, 16, 17, 128, 129, 3584, 3585, 4095, 4096, 4097, 32768, 32769,
        65536, LARGE_MAX_GUESS - 1, LARGE_MAX_GUESS, LARGE_MAX_GUESS + 1, (size_t)4 << 20,
        ((size_t)4 << 20) + 1,
    };
    uint8_t kind = take8(in);
    if (kind < 144)
        return take_bytes(in, 2) % 4200;
    if (kind < 200)
        return take_bytes(in, 3) % (1u << 20);
    if (kind < 216)
        return ((size_t)1 << 20) + take_bytes(in, 3) % (6u << 20);
    if (kind < 248)
        return edges[take8(in) % (sizeof edges / sizeof edges[0])];
    static const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1};
    return impossible[kind % 4];
}

/* Powers of two up to 4 MiB, and now and then one that is not. */
static size_t take_align(struct input *in) {
    uint8_t a = take8(in);
    if (a >= 240)
        return (size_t[]){0, 3, 24, 48, 4097, SIZE_MAX / 2 + 1}[a % 6];
    return (size_t)1 << (a % 23);
}

/* ---- the model ---------------------------------------------------------- */

/* Block contents: byte i of a block tagged t is tape[t + i % PERIOD]. The
 * period is a prime, so blocks with different tags never agree on a page,
 * and filling or checking a stretch is a memcpy or memcmp against the tape
 * (a byte loop here would be instrumented and cost most of the run). */
#define PERIOD 4093
static unsigned char tape[PERIOD + 256];

static void tape_init(void) {
    for (size_t j = 0; j < sizeof tape; j++)
        tape[j] = (unsigned char)((j * 131) ^ (j >> 7) ^ 0x5c);
}

/* Writes (or, with check, compares) the pattern of tag over [from, to) of
 * p; returns the offset of the first difference, or to. */
static size_t pattern_span(unsigned char *p, unsigned char tag, size_t from, size_t to, bool check) {
    size_t i = from;
    while (i < to) {
        size_t phase = i % PERIOD;
        size_t n = PERIOD - phase < to - i ? PERIOD - phase : to - i;
        const unsigned char *want = &tape[tag + phase];
        if (!check) {
            memcpy(p + i, want, n);
        } else if (memcmp(p + i, want, n) != 0) {
            while (p[i] == *want)
                i++, want++;
            return i;
        }
        i += n;
    }
    return to;
}

/* The offsets filled and checked: all of a block up to FULL_CHECK bytes;
 * of a bigger one the first and last FULL_CHECK / 2 bytes and one byte per
 * page between. Calls fn for each stretch; stops at the first one that
 * returns false. */
static bool for_each_stretch(size_t usable, size_t upto, bool (*fn)(size_t from, size_t to, void *), void *arg) {
    if (usable <= FULL_CHECK)
        return fn(0, upto, arg);
    size_t head = FULL_CHECK / 2, tail = usable - FULL_CHECK / 2;
    if (!fn(0, head < upto ? head : upto, arg))
        return false;
    for (size_t i = head; i < tail && i < upto; i += 4096)
        if (!fn(i, i + 1, arg))
            return false;
    return tail >= upto || fn(tail, upto, arg);
}

struct span_job {
    unsigned char *p;
    unsigned char tag;
    bool check;
    size_t bad;
};

static bool span_step(size_t from, size_t to, void *arg) {
    struct span_job *job = arg;
    size_t at = pattern_span(job->p, job->tag, from, to, job->check);
    if (at != to) {
        job->bad = at;
        return false;
    }
    return true;
}

static void fill(struct slot *s) {
    struct span_job job = {s->p, s->tag, false, 0};
    for_each_stretch(s->usable, s->usable, span_step, &job);
}

/* The block in slot k still holds, over [0, upto), the pattern of tag as
 * fill() wrote it into a block of `written` usable bytes. */
static void verify_tag(int k, size_t upto, unsigned char tag, size_t written) {
    struct slot *s = &slots[k];
    struct span_job job = {s->p, tag, true, 0};
    if (!for_each_stretch(written, upto, span_step, &job))
        broken("block contents changed", k, s->p, job.bad, s->p[job.bad]);
}

static void verify(int k, size_t upto) { verify_tag(k, upto, slots[k].tag, slots[k].usable); }

static const unsigned char zeros[FULL_CHECK];

static void check_zeroed(int k, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += FULL_CHECK) {
        size_t len = n - i < FULL_CHECK ? n - i : FULL_CHECK;
        if (memcmp(p + i, zeros, len) != 0)
            broken("calloc block not zeroed", k, p, i, len);
    }
}

static void check_new_block(int k, const void *p, size_t size, size_t align) {
    uintptr_t a = (uintptr_t)p;
    if (a % 8 != 0 || (size > 8 && a % 16 != 0))
        broken("block not aligned for its size", k, p, size, 16);
    if (align != 0 && a % align != 0)
        broken("block not aligned as asked", k, p, size, align);
    size_t usable = quarry_malloc_usable_size(p);
    if (usable < size)
        broken("usable size below the size asked for", k, p, usable, size);
    for (int j = 0; j < SLOTS; j++) {
        const struct slot *o = &slots[j];
        if (j == k || o->p == NULL)
            continue;
        if ((uintptr_t)o->p < a + usable && a < (uintptr_t)o->p + o->usable)
            broken("new block overlaps a live one", k, p, (size_t)j, (size_t)(uintptr_t)o->p);
    }
}

static void set_slot(int k, void *p, size_t size, enum made_by how) {
    struct slot *s = &slots[k];
    s->p = p;
    s->size = size;
    s->usable = quarry_malloc_usable_size(p);
    s->how = how;
    s->tag = next_tag++;
    live_bytes += s->usable;
    TRACE("slot %d: %s %zu -> %p (usable %zu)\n", k,
          (const char *[]){"malloc", "calloc", "realloc", "aligned"}[how], size, p, s->usable);
}

static void release(int k, bool sized) {
    struct slot *s = &slots[k];
    if (s->p == NULL)
        return;
    verify(k, s->usable);
    TRACE("slot %d: free%s %p (size %zu)\n", k, sized && s->how != MADE_ALIGNED ? "_sized" : "", s->p, s->size);
    if (sized && s->how != MADE_ALIGNED)
        quarry_free_sized(s->p, s->size);
    else
        quarry_free(s->p);
    live_bytes -= s->usable;
    s->p = NULL;
}

static void expect_failure(int k, const void *p, int err, int want) {
    if (p != NULL)
        broken("an impossible request succeeded", k, p, 0, 0);
    if (err != want)
        broken("a failed request set the wrong errno", k, p, (size_t)err, (size_t)want);
}

static bool fits(size_t size) { return size <= LIVE_CAP && live_bytes + size <= LIVE_CAP; }

static bool impossible(size_t size) { return size > (size_t)PTRDIFF_MAX; }

/* ---- operations ----------------------------------------------------------- */

static void op_malloc(int k, struct input *in) {
    size_t size = take_size(in);
    if (!impossible(size) && !fits(size))
        return;
    release(k, false);
    errno = 0;
    void *p = quarry_malloc(size);
    if (impossible(size))
        return expect_failure(k, p, errno, ENOMEM);
    if (p == NULL)
        broken("malloc failed", k, p, size, 0);
    check_new_block(k, p, size, 0);
    set_slot(k, p, size, MADE_MALLOC);
    fill(&slots[k]);
}

static void op_calloc(int k, struct input *in) {
    size_t size = take_size(in);
    size_t count = 1 + take8(in) % 4;
    if (take8(in) == 255) /* count * size overflows */
        count = SIZE_MAX / (size | 1) + 2;
    size_t total;
    bool overflow = __builtin_mul_overflow(count, size, &total);
    if (!overflow && !impossible(total) && !fits(total))
        return;
    release(k, false);
    errno = 0;
    unsigned char *p = quarry_calloc(count, size);
    if (overflow || impossible(total))
        return expect_failure(k, p, errno, ENOMEM);
    if (p == NULL)
        broken("calloc failed", k, p, count, size);
    check_new_block(k, p, total, 0);
    check_zeroed(k, p, total);
    set_slot(k, p, total, MADE_CALLOC);
    fill(&slots[k]);
}

static void op_realloc(int k, struct input *in, bool array) {
    size_t size = take_size(in);
    size_t count = 1;
    if (array && take8(in) == 255)
        count = SIZE_MAX / (size | 1) + 2;
    struct slot *s = &slots[k];
    size_t total;
    bool overflow = __builtin_mul_overflow(count, size, &total);
    if (!overflow && !impossible(total) && !fits(total))
        return;
    if (s->p != NULL)
        verify(k, s->usable);
    errno = 0;
    unsigned char *p = array ? quarry_reallocarray(s->p, count, size) : quarry_realloc(s->p, size);
    if (overflow || impossible(total)) {
        expect_failure(k, p, errno, ENOMEM);
        if (s->p != NULL)
            verify(k, s->usable); /* untouched by the failure */
        return;
    }
    if (total == 0 && s->p != NULL) {
        /* realloc(p, 0) frees p, as glibc does. */
        if (p != NULL)
            broken("realloc(p, 0) returned a block", k, p, 0, 0);
        live_bytes -= s->usable;
        s->p = NULL;
        return;
    }
    if (p == NULL)
        broken("realloc failed", k, p, total, 0);
    size_t kept = 0, old_usable = s->usable;
    unsigned char old_tag = s->tag;
    if (s->p != NULL) {
        kept = s->usable < total ? s->usable : total;
        live_bytes -= s->usable;
        s->p = NULL; /* the old block is gone: no overlap check against it */
    }
    check_new_block(k, p, total, 0);
    set_slot(k, p, total, MADE_REALLOC);
    /* realloc keeps what the old block's usable bytes held, up to the new
     * size, moved or not. */
    verify_tag(k, kept, old_tag, old_usable);
    fill(s);
}

static void op_aligned(int k, struct input *in, int which) {
    size_t size = take_size(in);
    size_t align = take_align(in);
    if (!impossible(size) && !fits(size + (align < LIVE_CAP ? align : 0)))
        return;
    release(k, false);
    bool pow2 = align != 0 && (align & (align - 1)) == 0;
    void *p = NULL;
    errno = 0;
    int err;
    if (which == 0) {
        err = quarry_posix_memalign(&p, align, size);
        if (!pow2 || align < sizeof(void *)) {
            if (err != EINVAL || p != NULL)
                broken("posix_memalign took a bad alignment", k, p, align, (size_t)err);
            return;
        }
        if (impossible(size) || align > (size_t)PTRDIFF_MAX / 2) {
            if (err != ENOMEM || p != NULL)
                broken("posix_memalign of an impossible size did not give ENOMEM", k, p, size, (size_t)err);
            return;
        }
        if (err != 0)
            broken("posix_memalign failed", k, p, size, align);
    } else {
        p = which == 1 ? quarry_aligned_alloc(align, size) : quarry_memalign(align, size);
        err = errno;
        if (which == 2 && align <= SIZE_MAX / 2 + 1) {
            /* As glibc's memalign: an alignment that is not a power of two
             * is rounded up to one (0 to 1). */
            size_t up = 1;
            while (up < align)
                up <<= 1;
            align = up;
            pow2 = true;
        }
        if (!pow2)
            return expect_failure(k, p, err, EINVAL);
        if (which == 2 && align > (size_t)PTRDIFF_MAX / 2 + 1) {
            /* glibc says ENOMEM here and quarry EINVAL: either is a
             * clean failure. */
            if (p != NULL || (err != ENOMEM && err != EINVAL))
                broken("memalign with an impossible alignment did not fail cleanly", k, p, align, (size_t)err);
            return;
        }
        if (impossible(size) || align > (size_t)PTRDIFF_MAX / 2)
            return expect_failure(k, p, err, ENOMEM);
        if (p == NULL)
            broken("aligned_alloc failed", k, p, size, align);
    }
    check_new_block(k, p, size, align);
    set_slot(k, p, size, MADE_ALIGNED);
    fill(&slots[k]);
}

static void op_usable(int k) {
    struct slot *s = &slots[k];
    if (s->p == NULL) {
        if (quarry_malloc_usable_size(NULL) != 0)
            broken("usable size of NULL is not 0", k, NULL, 0, 0);
        return;
    }
    size_t usable = quarry_malloc_usable_size(s->p);
    if (usable != s->usable)
        broken("usable size changed while the block was live", k, s->p, usable, s->usable);
    verify(k, s->usable);
}

static size_t read_stat(const char *name) {
    size_t v = 0, len = sizeof(v);
    if (quarry_ctl(name, &v, &len, NULL, 0) != 0 || len != sizeof(v))
        broken("a statistic could not be read", -1, name, 0, 0);
    return v;
}

static void op_stats(void) {
    if (quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0) != 0)
        broken("thread.tcache.flush failed", -1, NULL, 0, 0);
    size_t allocated = read_stat("stats.allocated");
    size_t active = read_stat("stats.active");
    size_t resident = read_stat("stats.resident");
    size_t mapped = read_stat("stats.mapped");
    if (allocated != live_bytes)
        broken("stats.allocated is not the live blocks' usable bytes", -1, NULL, allocated, live_bytes);
    if (allocated > active)
        broken("stats.allocated > stats.active", -1, NULL, allocated, active);
    if (active > resident)
        broken("stats.active > stats.resident", -1, NULL, active, resident);
    if (resident > mapped)
        broken("stats.resident > stats.mapped", -1, NULL, resident, mapped);
}

static void op_purge(uint8_t how) {
    if (how % 2 == 0) {
        quarry_purge();
    } else if (quarry_ctl("arena.4096.purge", NULL, NULL, NULL, 0) != 0) {
        broken("arena.4096.purge failed", -1, NULL, 0, 0);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    tape_init();
    tracing = getenv("FUZZ_API_TRACE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct input in = {data, size};
    while (in.left > 0) {
        uint8_t op = take8(&in);
        int k = take8(&in) % SLOTS;
        switch (op % 13) {
        case 0: case 1:
            op_malloc(k, &in);
            break;
        case 2:
            op_calloc(k, &in);
            break;
        case 3: case 4:
            op_realloc(k, &in, false);
            break;
        case 5:
            op_realloc(k, &in, true);
            break;
        case 6:
            release(k, false);
            break;
        case 7:
            release(k, true);
            break;
        case 8:
            op_aligned(k, &in, take8(&in) % 3);
            break;
        case 9:
            op_usable(k);
            break;
        case 10:
            op_stats();
            break;
        case 11:
            op_purge(take8(&in));
            break;
        case 12:
            /* Free a run of slots, so that runs and chunks empty out. */
            for (int j = k; j < SLOTS && j < k + 8; j++)
                release(j, j % 2 == 0);
            break;
        }
    }
    for (int k = 0; k < SLOTS; k++)
        release(k, k % 2 == 0);
    op_stats();
    return 0;
}
