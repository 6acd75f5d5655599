#include "conf.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"

unsigned opt_narenas = 0;
int opt_lg_dirty_mult = 2;
unsigned opt_purge = PURGE_DONTNEED;
bool opt_tcache = true;
size_t opt_tcache_max = (size_t)32 << 10;
bool opt_retain = true;
unsigned opt_thp = THP_DEFAULT;
bool opt_junk = false;
bool opt_zero = false;
bool opt_safe = QUARRY_CONFIG_DEBUG;
bool opt_stats_print = false;
int opt_decay_ms = 10000;
bool opt_background_thread = false;
bool opt_doctor = false;
char opt_heapmap[CONF_PATH_MAX];
unsigned opt_stats_interval = 0;
char opt_stats_file[CONF_PATH_MAX];

static const char *const purge_choices[] = {"dontneed", "free", NULL};
static const char *const thp_choices[] = {"default", "never", "always", NULL};

const struct conf_option conf_options[] = {
    {"narenas", CONF_UNSIGNED, &opt_narenas, 1, 4096, NULL},
    {"lg_dirty_mult", CONF_INT, &opt_lg_dirty_mult, -1, 30, NULL},
    {"purge", CONF_CHOICE, &opt_purge, 0, 0, purge_choices},
    {"tcache", CONF_BOOL, &opt_tcache, 0, 1, NULL},
    {"tcache_max", CONF_POW2_OR_ZERO, &opt_tcache_max, 0, (intmax_t)TCACHE_MAX_LIMIT, NULL},
    {"retain", CONF_BOOL, &opt_retain, 0, 1, NULL},
    {"thp", CONF_CHOICE, &opt_thp, 0, 0, thp_choices},
    {"junk", CONF_BOOL, &opt_junk, 0, 1, NULL},
    {"zero", CONF_BOOL, &opt_zero, 0, 1, NULL},
    {"safe", CONF_BOOL, &opt_safe, 0, 1, NULL},
    {"abort_on_error", CONF_BOOL, &opt_abort_on_error, 0, 1, NULL},
    {"stats_print", CONF_BOOL, &opt_stats_print, 0, 1, NULL},
    {"decay_ms", CONF_INT, &opt_decay_ms, -1, 3600000, NULL},
    {"background_thread", CONF_BOOL, &opt_background_thread, 0, 1, NULL},
    {"doctor", CONF_BOOL, &opt_doctor, 0, 1, NULL},
    {"heapmap", CONF_STRING, opt_heapmap, 0, CONF_PATH_MAX, NULL},
    {"stats_interval", CONF_UNSIGNED, &opt_stats_interval, 0, 3600000, NULL},
    {"stats_file", CONF_STRING, opt_stats_file, 0, CONF_PATH_MAX, NULL},
};
const unsigned conf_noptions = sizeof(conf_options) / sizeof(conf_options[0]);

/* A program may define this (const char *quarry_conf = "...") to set its
 * own defaults; QUARRY_CONF in the environment still wins. */
extern const char *quarry_conf __attribute__((weak, visibility("default")));

extern char **environ;

static const char *conf_from_environment(void) {
    static const char prefix[] = "QUARRY_CONF=";
    if (environ == NULL)
        return NULL;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, prefix, sizeof(prefix) - 1) == 0)
            return *e + sizeof(prefix) - 1;
    return NULL;
}

/* At most this many warnings per start-up: a long garbage string gets a
 * few lines, not hundreds. */
#define MAX_WARNINGS 8
static unsigned nwarnings;

/* "quarry: <source>: <what> '<text>'", text cut to 64 bytes. */
static void warn(const char *source, const char *what, const char *text, size_t len) {
    struct msg m = {.len = 0};
    if (++nwarnings > MAX_WARNINGS) {
        if (nwarnings == MAX_WARNINGS + 1) {
            msg_str(&m, "quarry: ");
            msg_str(&m, source);
            msg_str(&m, ": more problems, not shown");
            msg_emit(&m);
        }
        return;
    }
    msg_str(&m, "quarry: ");
    msg_str(&m, source);
    msg_str(&m, ": ");
    msg_str(&m, what);
    msg_str(&m, " '");
    char part[65];
    size_t n = len < 64 ? len : 64;
    memcpy(part, text, n);
    part[n] = '\0';
    msg_str(&m, part);
    msg_str(&m, len > 64 ? "...'" : "'");
    msg_str(&m, ", ignored");
    msg_emit(&m);
    if (opt_abort_on_error)
        abort();
}

static bool parse_number(const char *s, size_t len, intmax_t *out) {
    bool negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len)
        return false;
    intmax_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return false;
    }
    *out = negative ? -v : v;
    return true;
}

static bool set_option(const struct conf_option *o, const char *val, size_t len) {
    intmax_t v;
    switch (o->type) {
    case CONF_BOOL:
        if (len == 4 && memcmp(val, "true", 4) == 0)
            *(bool *)o->value = true;
        else if (len == 5 && memcmp(val, "false", 5) == 0)
            *(bool *)o->value = false;
        else
            return false;
        return true;
    case CONF_UNSIGNED:
    case CONF_INT:
        if (!parse_number(val, len, &v) || v < o->min || v > o->max)
            return false;
        if (o->type == CONF_INT)
            *(int *)o->value = (int)v;
        else
            *(unsigned *)o->value = (unsigned)v;
        return true;
    case CONF_POW2_OR_ZERO:
        if (!parse_number(val, len, &v) || v < 0 || v > o->max || (v != 0 && (v & (v - 1)) != 0) ||
            (v != 0 && (size_t)v < PAGE))
            return false;
        *(size_t *)o->value = (size_t)v;
        return true;
    case CONF_CHOICE:
        for (unsigned i = 0; o->choices[i] != NULL; i++)
            if (strlen(o->choices[i]) == len && memcmp(o->choices[i], val, len) == 0) {
                *(unsigned *)o->value = i;
                return true;
            }
        return false;
    case CONF_STRING:
        /* A path cut short would name another file: refuse it. */
        if (len >= (size_t)o->max)
            return false;
        memcpy(o->value, val, len);
        ((char *)o->value)[len] = '\0';
        return true;
    }
    return false;
}

const struct conf_option *conf_find(const char *name, size_t len) {
    for (unsigned i = 0; i < conf_noptions; i++)
        if (strlen(conf_options[i].name) == len && memcmp(conf_options[i].name, name, len) == 0)
            return &conf_options[i];
    return NULL;
}

static void parse_pair(const char *s, size_t len, const char *source) {
    if (len == 0) {
        warn(source, "empty option", s, 0);
        return;
    }
    const char *colon = memchr(s, ':', len);
    if (colon == NULL) {
        warn(source, "missing ':' in", s, len);
        return;
    }
    size_t klen = (size_t)(colon - s);
    const struct conf_option *o = conf_find(s, klen);
    if (o == NULL)
        warn(source, "unknown option", s, klen);
    else if (!set_option(o, colon + 1, len - klen - 1))
        warn(source, "bad value for option", s, len);
}

void conf_parse(const char *text, const char *source) {
    if (text == NULL)
        return;
    const char *s = text;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        parse_pair(s, len, source);
        if (comma == NULL)
            break;
        s = comma + 1;
    }
}

void conf_init(void) {
    if (&quarry_conf != NULL)
        conf_parse(quarry_conf, "quarry_conf");
    conf_parse(conf_from_environment(), "QUARRY_CONF");
}
