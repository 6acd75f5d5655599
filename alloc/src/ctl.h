/*
 * The control namespace as a tree, walked by name (quarry_ctl, mallctl) or
 * by MIB (quarry_ctlbymib, mallctlbymib): each dotted component names a
 * child, or is a number for an indexed node (arena, bin or large class).
 * A MIB holds one size_t per component: the child's position, or the
 * number. ctl.c walks the tree; ctl_names.c and ctl_stats.c define it.
 *
 * Conventions, as jemalloc's mallctl: 0 on success; ENOENT for a name or
 * index that does not exist; EINVAL when *oldlenp or newlen is not the
 * value's size (a short read still copies what fits); EPERM for writing a
 * read-only name, or passing a value to an action that takes none.
 */
#ifndef QUARRY_CTL_H
#define QUARRY_CTL_H

#include "common.h"

/* The deepest name: stats.arenas.<i>.bins.<j>.nmalloc. */
#define CTL_MAX_DEPTH 8

struct ctl_req {
    void *oldp;
    size_t *oldlenp;
    void *newp;
    size_t newlen;
};

/* mib: the whole path (mib[k] is component k's number or child position);
 * arg: the leaf's own constant. */
typedef int ctl_handler(const size_t *mib, struct ctl_req *req, intptr_t arg);

struct ctl_node {
    const char *name;
    /* A named inner node. */
    const struct ctl_node *children;
    size_t nchildren;
    /* An indexed inner node: every number index_ok accepts reaches
     * element. A node whose components are names rather than numbers (the
     * options) sets index_of to translate them. */
    const struct ctl_node *element;
    bool (*index_ok)(size_t index);
    bool (*index_of)(const char *name, size_t len, size_t *index);
    /* A leaf. */
    ctl_handler *handler;
    intptr_t arg;
    /* A subtree defined in another file: this node is that one. */
    const struct ctl_node *same_as;
};

#define CTL_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define CTL_LEAF(n, h, a) {.name = (n), .handler = (h), .arg = (intptr_t)(a)}
#define CTL_NODE(n, kids) {.name = (n), .children = (kids), .nchildren = CTL_COUNT(kids)}
#define CTL_INDEXED(n, elem, ok) {.name = (n), .element = &(elem), .index_ok = (ok)}

/* Value types of the leaves. */
enum ctl_type { CTL_BOOL, CTL_UNSIGNED, CTL_U32, CTL_SIZE, CTL_SSIZE, CTL_U64, CTL_STR, CTL_PTR };

/* A leaf argument that names a field of a struct and its type. */
#define CTL_FIELD(type, st, member) ((intptr_t)(offsetof(st, member) << 4 | (type)))
static inline enum ctl_type ctl_field_type(intptr_t arg) { return (enum ctl_type)(arg & 15); }
static inline size_t ctl_field_offset(intptr_t arg) { return (size_t)arg >> 4; }

size_t ctl_type_size(enum ctl_type type);
/* Whether the request passes a new value. */
static inline bool ctl_writes(const struct ctl_req *req) { return req->newp != NULL || req->newlen != 0; }
/* Copies the value out (when oldp and oldlenp are given). */
int ctl_read(struct ctl_req *req, const void *value, size_t size);
/* EPERM when the request writes, else ctl_read. */
int ctl_read_only(struct ctl_req *req, const void *value, size_t size);
/* The value at base + the field's offset, read-only. */
int ctl_read_field(struct ctl_req *req, const void *base, intptr_t field);
/* The new value into *value: 0 (nothing passed), 1 (taken), or -EINVAL. */
int ctl_take(const struct ctl_req *req, void *value, size_t size);
/* An action that takes no value: EPERM when one is passed. */
int ctl_no_value(const struct ctl_req *req);

int ctl_read_bool(struct ctl_req *req, bool v);
int ctl_read_unsigned(struct ctl_req *req, unsigned v);
int ctl_read_size(struct ctl_req *req, size_t v);
int ctl_read_u64(struct ctl_req *req, uint64_t v);
int ctl_read_str(struct ctl_req *req, const char *v);

/* A decimal index that fits a size_t (no sign, no spaces). */
bool ctl_parse_index(const char *s, size_t len, size_t *out);

/* Index checks shared by the trees: arena i exists; arena i or "all"
 * (4096, or narenas in jemalloc's older spelling); a small class; a large
 * class. */
bool ctl_arena_exists(size_t i);
bool ctl_arena_or_all(size_t i);
bool ctl_small_class(size_t j);
bool ctl_large_class(size_t j);
/* The arena index a request names, with "all" folded to 4096. */
unsigned ctl_arena_index(size_t i);

/* A write of "epoch": the calling thread's stats.* totals are taken now
 * and read from then on, until its next write (ctl_stats.c). */
void ctl_stats_epoch(void);

extern const struct ctl_node ctl_root;
extern const struct ctl_node ctl_stats_node;

#endif
