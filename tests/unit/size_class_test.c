/* Size classes: the table of the specification, the size -> class lookup,
 * the run sizes chosen for each class, and the division by multiply. */
#include <criterion/criterion.h>
#include <string.h>

#include "arena.h"
#include "quarry.h"
#include "size_class.h"

static const uint32_t spec_sizes[NSMALL] = {
    8,   16,  32,  48,  64,   80,   96,   112,  128,  160,  192,  224,  256,  320,
    384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584,
};

/* The class a size belongs in, by a linear search the table must agree with. */
static unsigned reference_class(size_t size) {
    unsigned c = 0;
    while (spec_sizes[c] < size)
        c++;
    return c;
}

Test(size_class, table_is_the_specification) {
    cr_assert_eq(NSMALL, 28);
    for (unsigned c = 0; c < NSMALL; c++)
        cr_assert_eq(class_size(c), spec_sizes[c], "class %u", c);
    cr_assert_eq(SMALL_MAX, 3584);
}

Test(size_class, every_small_size_maps_to_the_smallest_fitting_class) {
    for (size_t s = 0; s <= SMALL_MAX; s++)
        cr_assert_eq(size_to_class(s), reference_class(s), "size %zu", s);
    cr_assert_eq(class_size(size_to_class(24)), 32);
    cr_assert_eq(class_size(size_to_class(130)), 160);
    cr_assert_eq(class_size(size_to_class(17)), 32);
}

Test(size_class, runs_hold_whole_regions_with_little_waste) {
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct size_class *sc = &size_classes[c];
        size_t run = (size_t)sc->run_pages * PAGE;
        cr_assert_eq(sc->nregs, run / sc->size, "class %u", c);
        cr_assert_leq(sc->nregs, RUN_MAX_REGIONS);
        cr_assert_leq((run - sc->nregs * sc->size) * 64, run, "class %u wastes more than 1/64", c);
        /* At least 32 regions where 16 pages hold them, so that a run does
         * not empty and get carved again every few frees; beyond, the most
         * 16 pages hold within the waste limit, 18 to 24 (docs/design.md,
         * "Size classes and runs"). */
        cr_assert_leq(sc->run_pages, 16, "class %u", c);
        if (sc->size * 32 <= 16 * PAGE)
            cr_assert_geq(sc->nregs, 32, "class %u: %u regions", c, sc->nregs);
        else
            cr_assert_geq(sc->nregs, 16, "class %u: %u regions", c, sc->nregs);
    }
}

Test(size_class, region_index_divides_exactly_or_refuses) {
    /* free(), malloc_usable_size(), realloc() and the bins take "offset
     * starts a region" and the region's index from region_index() (chunk.h):
     * every offset of every run must give offset / size exactly when the
     * division is exact and within the run, and at least nregs otherwise;
     * so must every offset below the run's base within a chunk's reach,
     * and offsets a multiple of 2^32 away from a region start (a stale
     * page-map entry can name a run in another chunk). */
    for (unsigned c = 0; c < NSMALL; c++) {
        uint64_t size = class_size(c), nregs = size_classes[c].nregs;
        unsigned shift = (unsigned)__builtin_ctzll(size);
        uint64_t inverse = odd_inverse(size >> shift);
        cr_assert_eq((size >> shift) * inverse, 1, "class %u", c);
        size_t run = (size_t)size_classes[c].run_pages * PAGE;
        for (uint64_t off = 0; off < 16 * PAGE || off < run; off++) {
            uint64_t i = region_index(off, inverse, shift);
            bool starts = off % size == 0 && off / size < nregs;
            cr_assert_eq(i < nregs, starts, "class %u offset %lu", c, (unsigned long)off);
            if (starts)
                cr_assert_eq(i, off / size, "class %u offset %lu", c, (unsigned long)off);
        }
        /* Every one near the base, then a stride prime to every size. */
        for (uint64_t below = 1; below <= CHUNK; below += below < 16 * PAGE ? 1 : 7)
            cr_assert_geq(region_index(-below, inverse, shift), nregs, "class %u offset -%lu", c, (unsigned long)below);
        for (uint64_t k = 0; k < nregs; k++)
            for (int sign = -1; sign <= 1; sign += 2) {
                uint64_t far = k * size + (uint64_t)(int64_t)sign * ((uint64_t)1 << 32);
                cr_assert_geq(region_index(far, inverse, shift), nregs, "class %u region %lu, 2^32 away", c,
                              (unsigned long)k);
            }
    }
}

Test(size_class, the_fast_paths_32_bit_region_test_divides_exactly_or_refuses_within_a_chunk) {
    /* page_region_at() (chunk.h) tests (p - base) * inverse modulo 2^32,
     * from the low bits of p and of a run's base: for a run at the lowest
     * and at the highest place in a chunk, every offset of the run and of
     * the page either side gives offset / size exactly when the division
     * is exact and within the run, and every other point of the chunk
     * (a stride prime to every size) at least nregs. The facts table is
     * the class table's, with no regions past the last class. */
    quarry_free(quarry_malloc(1)); /* start-up fills the facts */
    uintptr_t chunk = (uintptr_t)0x7f3a5c400000; /* any CHUNK-aligned address */
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct class_facts *f = class_facts_at((size_t)c << CLASS_OFFSET_SHIFT);
        uint32_t size = f->size, nregs = f->nregs;
        cr_assert_eq(size, class_size(c));
        cr_assert_eq(nregs, size_classes[c].nregs);
        cr_assert_eq((size >> f->shift) * f->inverse, 1, "class %u", c);
        cr_assert_eq(size >> f->shift & 1, 1, "class %u", c);
        size_t run = (size_t)size_classes[c].run_pages * PAGE;
        uintptr_t bases[] = {chunk + CHUNK_HEADER_PAGES * PAGE, chunk + CHUNK - run};
        size_t bad = 0;
        for (int b = 0; b < 2; b++) {
            uint32_t product = (uint32_t)bases[b] * f->inverse;
            for (uintptr_t p = bases[b] - PAGE; p < bases[b] + run + PAGE && p < chunk + CHUNK; p++) {
                uint32_t i = region_index32((uint32_t)p * f->inverse - product, f->shift);
                intptr_t o = (intptr_t)(p - bases[b]);
                bool starts = o >= 0 && o % size == 0 && (size_t)o / size < nregs;
                bad += (i < nregs) != starts || (starts && i != (size_t)o / size);
            }
            for (uintptr_t p = chunk; p < chunk + CHUNK; p += 7) {
                intptr_t o = (intptr_t)(p - bases[b]);
                bool starts = o >= 0 && o % size == 0 && (size_t)o / size < nregs;
                bad += (region_index32((uint32_t)p * f->inverse - product, f->shift) < nregs) != starts;
            }
        }
        cr_assert_eq(bad, 0, "class %u: %zu offsets misjudged", c, bad);
    }
    cr_assert_eq(class_facts_at(CLASS_NONE_OFFSET)->nregs, 0, "the entry past the last class has no regions");
}

Test(size_class, class_offsets_follow_the_classes) {
    for (size_t s = 0; s <= SMALL_MAX; s++)
        cr_assert_eq(size_to_class_offset(s), (size_t)size_to_class(s) << CLASS_OFFSET_SHIFT, "size %zu", s);
}

/* Through the public API: every size up to the first large one, and every
 * page boundary of the large range (and one byte either side), lands in the
 * class the specification names. */
Test(size_class, usable_size_of_every_size) {
    for (size_t s = 0; s <= SMALL_MAX + 1; s++) {
        void *p = quarry_malloc(s);
        cr_assert_not_null(p);
        size_t want = s <= SMALL_MAX ? spec_sizes[reference_class(s)] : PAGE;
        cr_assert_eq(quarry_malloc_usable_size(p), want, "size %zu", s);
        quarry_free(p);
    }
    for (size_t pages = 1; pages <= RUN_PAGES_MAX; pages++) {
        for (size_t s = pages * PAGE - 1; s <= pages * PAGE + 1; s++) {
            if (s <= SMALL_MAX)
                continue;
            void *p = quarry_malloc(s);
            cr_assert_not_null(p);
            size_t want = page_ceil(s); /* large, or huge past LARGE_MAX */
            cr_assert_eq(quarry_malloc_usable_size(p), want, "size %zu", s);
            quarry_free(p);
        }
    }
    /* The first huge sizes: their own chunk-aligned mapping. */
    size_t sizes[] = {LARGE_MAX + 1, CHUNK, CHUNK + 1};
    for (size_t i = 0; i < 3; i++) {
        void *p = quarry_malloc(sizes[i]);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p & CHUNK_MASK, 0, "huge block not chunk-aligned");
        cr_assert_eq(quarry_malloc_usable_size(p), page_ceil(sizes[i]));
        quarry_free(p);
    }
}

Test(size_class, worked_example_of_a_key_value_store) {
    /* 90,000 entries of 24 + 16 + 16 + 16 bytes and a bucket array of
     * 131,072 pointers. */
    enum { N = 90000 };
    static void *blocks[N * 4];
    size_t sizes[4] = {24, 16, 16, 16};
    size_t total = 0;
    for (size_t i = 0; i < N * 4; i++) {
        blocks[i] = quarry_malloc(sizes[i % 4]);
        cr_assert_not_null(blocks[i]);
        total += quarry_malloc_usable_size(blocks[i]);
    }
    void *buckets = quarry_malloc(131072 * 8);
    total += quarry_malloc_usable_size(buckets);
    cr_assert_eq(total, 8248576);
    void *p = quarry_malloc(130);
    cr_assert_eq(quarry_malloc_usable_size(p), 160);
    quarry_free(p);
    quarry_free(buckets);
    for (size_t i = 0; i < N * 4; i++)
        quarry_free(blocks[i]);
}

/* ---- start-up: quarry works before main ---------------------------------- */

static void *early_block;
static size_t early_usable;

__attribute__((constructor)) static void allocate_before_main(void) {
    early_block = quarry_malloc(77);
    if (early_block != NULL)
        memset(early_block, 0x42, 77);
    early_usable = quarry_malloc_usable_size(early_block);
}

Test(startup, a_constructor_allocates_before_main) {
    cr_assert_not_null(early_block);
    cr_assert_eq(early_usable, 80);
    for (int i = 0; i < 77; i++)
        cr_assert_eq(((unsigned char *)early_block)[i], 0x42);
    quarry_free(early_block);
}
