/*
 * Options, read once at start-up: first from a `quarry_conf` string the
 * program may define (build-time defaults), then from the environment
 * variable QUARRY_CONF="key:value,key:value" (found by scanning environ: no
 * getenv, no allocation), which wins. A bad key or value prints one warning
 * naming it and keeps the default. docs/tuning.md describes each option.
 */
#ifndef QUARRY_CONF_H
#define QUARRY_CONF_H

#include "common.h"

enum purge_mode { PURGE_DONTNEED, PURGE_FREE };
enum thp_mode { THP_DEFAULT, THP_NEVER, THP_ALWAYS };

extern unsigned opt_narenas; /* 0: 4 per CPU */
extern int opt_lg_dirty_mult; /* -1: never purge */
extern unsigned opt_purge;    /* enum purge_mode */
extern bool opt_tcache;
extern size_t opt_tcache_max;
/* The largest tcache_max accepted: large classes are whole pages, one
 * cache bin each (tcache.h). */
#define TCACHE_MAX_LIMIT ((size_t)1 << 20)
extern bool opt_retain;
extern unsigned opt_thp;      /* enum thp_mode */
extern bool opt_junk;
extern bool opt_zero;
/* Double frees caught at the second free whatever the block holds: a bit
 * per cached block beside its chunk (tcache.h); on in debug builds. */
extern bool opt_safe;
/* opt_abort_on_error is report.h's: the messages it turns into aborts
 * live there. */
extern bool opt_stats_print;
/* Dirty pages younger than this stay for reuse (purge.h); -1: age never
 * purges, only the lg_dirty_mult bound does. */
extern int opt_decay_ms;
/* Purging done by a background thread instead of the freeing threads. */
extern bool opt_background_thread;
/* The memory doctor's diagnosis on stderr at exit (doctor.h). */
extern bool opt_doctor;
/* A heap map SVG written to this path at exit ("" : none; heapmap.h). */
#define CONF_PATH_MAX 256
extern char opt_heapmap[CONF_PATH_MAX];
/* The statistics trace (trace.h): one JSON line every this many ms to
 * opt_stats_file; 0 (or no file): no trace. */
extern unsigned opt_stats_interval;
extern char opt_stats_file[CONF_PATH_MAX];

/* CONF_STRING: value is a char array of max bytes; the text is copied
 * (options are parsed from environ, which the program may change). */
enum conf_type { CONF_BOOL, CONF_UNSIGNED, CONF_INT, CONF_POW2_OR_ZERO, CONF_CHOICE, CONF_STRING };

struct conf_option {
    const char *name;
    enum conf_type type;
    void *value;
    intmax_t min, max;           /* CONF_UNSIGNED, CONF_INT, CONF_POW2_OR_ZERO; CONF_STRING: max is the array's size */
    const char *const *choices;  /* CONF_CHOICE: NULL-terminated; value is the index */
};

extern const struct conf_option conf_options[];
extern const unsigned conf_noptions;

/* Parses text (NULL: nothing) into the option variables; source names it
 * in warnings ("QUARRY_CONF" or "quarry_conf"). */
void conf_parse(const char *text, const char *source);
/* Both sources, in order. */
void conf_init(void);
/* The option called name (length len), or NULL. */
const struct conf_option *conf_find(const char *name, size_t len);

#endif
