#include "conf.h"

#include <string.h>

#include "report.h"
#include "tcache.h"

unsigned opt_narenas = 0;
bool opt_tcache = true;
size_t opt_tcache_max = (size_t)32 << 10;

const struct conf_option conf_options[] = {
    {"narenas", CONF_UNSIGNED, &opt_narenas, 1, 4096},
    {"tcache", CONF_BOOL, &opt_tcache, 0, 1},
    {"tcache_max", CONF_POW2_OR_ZERO, &opt_tcache_max, 0, TCACHE_MAX_LIMIT},
};
const unsigned conf_noptions = sizeof(conf_options) / sizeof(conf_options[0]);

extern char **environ;

const char *conf_from_environment(void) {
    static const char prefix[] = "QUARRY_CONF=";
    if (environ == NULL)
        return NULL;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, prefix, sizeof(prefix) - 1) == 0)
            return *e + sizeof(prefix) - 1;
    return NULL;
}

/* "quarry: QUARRY_CONF: <what> '<text>'", text cut to len bytes. */
static void warn(const char *what, const char *text, size_t len) {
    struct msg m = {.len = 0};
    msg_str(&m, "quarry: QUARRY_CONF: ");
    msg_str(&m, what);
    msg_str(&m, " '");
    for (size_t i = 0; i < len && i < 64; i++) {
        char s[2] = {text[i], '\0'};
        msg_str(&m, s);
    }
    if (len > 64)
        msg_str(&m, "...");
    msg_str(&m, "'");
    msg_emit(&m);
}

static bool parse_unsigned(const char *s, size_t len, uintmax_t *out) {
    if (len == 0)
        return false;
    uintmax_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uintmax_t)(s[i] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

static bool set_option(const struct conf_option *o, const char *val, size_t len) {
    uintmax_t v;
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
        if (!parse_unsigned(val, len, &v) || v < o->min || v > o->max)
            return false;
        *(unsigned *)o->value = (unsigned)v;
        return true;
    case CONF_POW2_OR_ZERO:
        if (!parse_unsigned(val, len, &v) || v > o->max || (v != 0 && (v & (v - 1)) != 0) ||
            (v != 0 && v < PAGE))
            return false;
        *(size_t *)o->value = (size_t)v;
        return true;
    }
    return false;
}

static void parse_pair(const char *s, size_t len) {
    const char *colon = memchr(s, ':', len);
    if (len == 0) {
        warn("empty option in", "", 0);
        return;
    }
    if (colon == NULL) {
        warn("missing ':' in", s, len);
        return;
    }
    size_t klen = (size_t)(colon - s);
    const char *val = colon + 1;
    size_t vlen = len - klen - 1;
    for (unsigned i = 0; i < conf_noptions; i++) {
        const struct conf_option *o = &conf_options[i];
        if (strlen(o->name) == klen && memcmp(o->name, s, klen) == 0) {
            if (!set_option(o, val, vlen))
                warn("bad value for option", s, len);
            return;
        }
    }
    warn("unknown option", s, klen);
}

void conf_parse(const char *text) {
    if (text == NULL)
        return;
    const char *s = text;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        parse_pair(s, len);
        if (comma == NULL)
            break;
        s = comma + 1;
    }
}
