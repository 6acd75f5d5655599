/*
 * Options, read once at start-up from QUARRY_CONF="key:value,key:value"
 * (found by scanning environ: no getenv, no allocation). A bad key or value
 * prints one warning naming it and keeps the default.
 */
#ifndef QUARRY_CONF_H
#define QUARRY_CONF_H

#include "common.h"

extern unsigned opt_narenas; /* 0: 4 per CPU */
extern bool opt_tcache;
extern size_t opt_tcache_max;

enum conf_type { CONF_BOOL, CONF_UNSIGNED, CONF_POW2_OR_ZERO };

struct conf_option {
    const char *name;
    enum conf_type type;
    void *value;
    uintmax_t min, max; /* unsigned kinds */
};

extern const struct conf_option conf_options[];
extern const unsigned conf_noptions;

/* Parses text (NULL: nothing) into the option variables. */
void conf_parse(const char *text);
/* The QUARRY_CONF value in the environment, or NULL. */
const char *conf_from_environment(void);

#endif
