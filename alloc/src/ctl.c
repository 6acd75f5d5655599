/*
 * The control namespace's walker: quarry_ctl (mallctl), quarry_ctlnametomib
 * (mallctlnametomib) and quarry_ctlbymib (mallctlbymib) over the tree of
 * ctl.h, and the helpers every leaf uses to read and write values. Nothing
 * here allocates, and no name or length a caller passes can crash it.
 */
#include "ctl.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "init.h"
#include "quarry.h"
#include "reclaim.h"
#include "size_class.h"

/* ---- values ------------------------------------------------------------ */

size_t ctl_type_size(enum ctl_type type) {
    switch (type) {
    case CTL_BOOL:
        return sizeof(bool);
    case CTL_UNSIGNED:
        return sizeof(unsigned);
    case CTL_U32:
        return sizeof(uint32_t);
    case CTL_SIZE:
        return sizeof(size_t);
    case CTL_SSIZE:
        return sizeof(ssize_t);
    case CTL_U64:
        return sizeof(uint64_t);
    case CTL_STR:
        return sizeof(const char *);
    case CTL_PTR:
        return sizeof(void *);
    }
    return 0;
}

/* As jemalloc: a size mismatch still copies what fits (callers such as
 * Redis's DEBUG MALLCTL probe sizes from the largest down), leaves
 * *oldlenp alone and fails. */
int ctl_read(struct ctl_req *req, const void *value, size_t size) {
    if (req->oldp == NULL || req->oldlenp == NULL)
        return 0;
    if (*req->oldlenp != size) {
        memcpy(req->oldp, value, *req->oldlenp < size ? *req->oldlenp : size);
        return EINVAL;
    }
    memcpy(req->oldp, value, size);
    return 0;
}

int ctl_read_only(struct ctl_req *req, const void *value, size_t size) {
    return ctl_writes(req) ? EPERM : ctl_read(req, value, size);
}

int ctl_read_field(struct ctl_req *req, const void *base, intptr_t field) {
    return ctl_read_only(req, (const char *)base + ctl_field_offset(field), ctl_type_size(ctl_field_type(field)));
}

int ctl_take(const struct ctl_req *req, void *value, size_t size) {
    if (!ctl_writes(req))
        return 0;
    if (req->newp == NULL || req->newlen != size)
        return -EINVAL;
    memcpy(value, req->newp, size);
    return 1;
}

int ctl_no_value(const struct ctl_req *req) {
    return req->oldp != NULL || req->oldlenp != NULL || ctl_writes(req) ? EPERM : 0;
}

int ctl_read_bool(struct ctl_req *req, bool v) { return ctl_read_only(req, &v, sizeof(v)); }
int ctl_read_unsigned(struct ctl_req *req, unsigned v) { return ctl_read_only(req, &v, sizeof(v)); }
int ctl_read_size(struct ctl_req *req, size_t v) { return ctl_read_only(req, &v, sizeof(v)); }
int ctl_read_u64(struct ctl_req *req, uint64_t v) { return ctl_read_only(req, &v, sizeof(v)); }
int ctl_read_str(struct ctl_req *req, const char *v) { return ctl_read_only(req, &v, sizeof(v)); }

/* ---- indices ----------------------------------------------------------- */

bool ctl_parse_index(const char *s, size_t len, size_t *out) {
    if (len == 0)
        return false;
    size_t v = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (size_t)(s[k] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

bool ctl_arena_exists(size_t i) { return i < narenas && __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE) != NULL; }
bool ctl_arena_or_all(size_t i) { return i < narenas || i == ARENAS_ALL || i == narenas; }
bool ctl_small_class(size_t j) { return j < NSMALL; }
bool ctl_large_class(size_t j) { return j < RUN_PAGES_MAX; }
unsigned ctl_arena_index(size_t i) { return i == narenas ? ARENAS_ALL : (unsigned)i; }

/* ---- walking the tree --------------------------------------------------- */

static const struct ctl_node *resolve(const struct ctl_node *node) {
    return node->same_as != NULL ? node->same_as : node;
}

/* The child of node that component (s, len) names, and its MIB number. */
static const struct ctl_node *child_named(const struct ctl_node *node, const char *s, size_t len, size_t *number) {
    if (node->children != NULL) {
        for (size_t k = 0; k < node->nchildren; k++) {
            const char *name = node->children[k].name;
            if (strncmp(name, s, len) == 0 && name[len] == '\0') {
                *number = k;
                return resolve(&node->children[k]);
            }
        }
        return NULL;
    }
    if (node->element == NULL)
        return NULL;
    bool found = node->index_of != NULL ? node->index_of(s, len, number) : ctl_parse_index(s, len, number);
    return found && node->index_ok(*number) ? node->element : NULL;
}

/* The child of node that MIB number selects. */
static const struct ctl_node *child_numbered(const struct ctl_node *node, size_t number) {
    if (node->children != NULL)
        return number < node->nchildren ? resolve(&node->children[number]) : NULL;
    if (node->element != NULL && node->index_ok(number))
        return node->element;
    return NULL;
}

/* Translates name into mib (at most *depth components; *depth becomes how
 * many were filled). A name longer than *depth stops there: a partial MIB,
 * as jemalloc allows. *end is the node reached. */
static int lookup(const char *name, size_t *mib, size_t *depth, const struct ctl_node **end) {
    const struct ctl_node *node = &ctl_root;
    size_t n = 0;
    const char *s = name;
    for (;;) {
        if (n == *depth)
            break;
        size_t len = strcspn(s, ".");
        const struct ctl_node *next = child_named(node, s, len, &mib[n]);
        if (next == NULL)
            return ENOENT;
        node = next;
        n++;
        s += len;
        if (*s == '\0')
            break;
        s++; /* the dot; a trailing one leaves an empty component: ENOENT */
    }
    *depth = n;
    *end = node;
    return 0;
}

static int call_leaf(const struct ctl_node *node, const size_t *mib, struct ctl_req *req) {
    return node->handler != NULL ? node->handler(mib, req, node->arg) : ENOENT;
}

/* The namespace needs the arenas' table (narenas): start quarry if no
 * allocation has yet. */
static bool ready(void) { return arena_choose() != NULL; }

int quarry_ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    if (name == NULL)
        return EINVAL;
    if (!ready())
        return EAGAIN;
    size_t mib[CTL_MAX_DEPTH];
    size_t depth = CTL_MAX_DEPTH;
    const struct ctl_node *node;
    int err = lookup(name, mib, &depth, &node);
    if (err != 0)
        return err;
    struct ctl_req req = {oldp, oldlenp, newp, newlen};
    return call_leaf(node, mib, &req);
}

int quarry_ctlnametomib(const char *name, size_t *mibp, size_t *miblenp) {
    if (name == NULL || mibp == NULL || miblenp == NULL)
        return EINVAL;
    if (!ready())
        return EAGAIN;
    size_t mib[CTL_MAX_DEPTH];
    size_t depth = *miblenp < CTL_MAX_DEPTH ? *miblenp : CTL_MAX_DEPTH;
    const struct ctl_node *node;
    int err = lookup(name, mib, &depth, &node);
    if (err != 0)
        return err;
    memcpy(mibp, mib, depth * sizeof(size_t));
    *miblenp = depth;
    return 0;
}

int quarry_ctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    if (mib == NULL || miblen == 0)
        return mib == NULL && miblen != 0 ? EINVAL : ENOENT;
    if (!ready())
        return EAGAIN;
    if (miblen > CTL_MAX_DEPTH)
        return ENOENT;
    const struct ctl_node *node = &ctl_root;
    for (size_t k = 0; k < miblen; k++) {
        node = child_numbered(node, mib[k]);
        if (node == NULL)
            return ENOENT;
    }
    struct ctl_req req = {oldp, oldlenp, newp, newlen};
    return call_leaf(node, mib, &req);
}
