/* Options: the quarry_conf symbol, QUARRY_CONF winning over it, every bad
 * form warned about by name and ignored, and the control names
 * that read them back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "helpers.h"
#include "init.h"
#include "quarry.h"
#include "tcache.h"
#include "valgrind_shim.h"

/* Build-time defaults of this test program. */
const char *quarry_conf = "lg_dirty_mult:5,retain:false";

Test(conf, the_program_symbol_sets_defaults) {
    void *p = quarry_malloc(1);
    ssize_t lg = 0;
    size_t len = sizeof(lg);
    cr_assert_eq(quarry_ctl("opt.lg_dirty_mult", &lg, &len, NULL, 0), 0);
    cr_assert_eq(lg, 5);
    bool retain = true;
    len = sizeof(retain);
    cr_assert_eq(quarry_ctl("opt.retain", &retain, &len, NULL, 0), 0);
    cr_assert_eq(retain, false);
    quarry_free(p);
}

static void env_wins(void) { setenv("QUARRY_CONF", "lg_dirty_mult:7,purge:free,thp:never,tcache_max:65536", 1); }

Test(conf, the_environment_wins, .init = env_wins) {
    void *p = quarry_malloc(1);
    cr_assert_eq(opt_lg_dirty_mult, 7);
    cr_assert_eq(opt_retain, false, "set by quarry_conf, untouched by QUARRY_CONF");
    const char *purge = NULL;
    size_t len = sizeof(purge);
    cr_assert_eq(quarry_ctl("opt.purge", &purge, &len, NULL, 0), 0);
    cr_assert_str_eq(purge, "free");
    const char *thp = NULL;
    cr_assert_eq(quarry_ctl("opt.thp", &thp, &len, NULL, 0), 0);
    cr_assert_str_eq(thp, "never");
    size_t tmax = 0;
    len = sizeof(tmax);
    cr_assert_eq(quarry_ctl("opt.tcache_max", &tmax, &len, NULL, 0), 0);
    cr_assert_eq(tmax, 65536);
    quarry_free(p);
}

/* ---- bad forms: one warning naming the problem, program runs on -------- */

struct bad_case {
    const char *conf;
    const char *warning; /* what the one line must contain */
};

static void start_with_conf(void *arg) {
    const struct bad_case *c = arg;
    setenv("QUARRY_CONF", c->conf, 1);
    /* Start quarry and use it: the program must run on. */
    char *p = quarry_malloc(100);
    memset(p, 1, 100);
    quarry_free(p);
    void *q = quarry_malloc(1 << 20);
    quarry_free(q);
    /* Defaults kept (only lg_dirty_mult:5 from quarry_conf applies). */
    bool tcache_default = !RUNNING_ON_VALGRIND; /* valgrind turns the cache off */
    if (opt_lg_dirty_mult != 5 || opt_tcache != tcache_default || opt_narenas != 0 || opt_tcache_max != 32768)
        _exit(3);
    _exit(0);
}

static void check_bad(const char *conf, const char *warning) {
    struct bad_case c = {conf, warning};
    struct child_result res = run_in_child(start_with_conf, &c);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "QUARRY_CONF=\"%.40s\": status 0x%x, %s",
              conf, res.status, res.err);
    cr_assert(strstr(res.err, warning) != NULL, "QUARRY_CONF=\"%.40s\": stderr \"%s\" lacks \"%s\"", conf,
              res.err, warning);
    cr_assert(strncmp(res.err, "quarry: QUARRY_CONF: ", 21) == 0, "stderr: %s", res.err);
    char *nl = strchr(res.err, '\n');
    cr_assert(nl != NULL && nl[1] == '\0', "expected one line, got: %s", res.err);
}

Test(conf, every_bad_form_is_named_and_ignored) {
    check_bad("", "empty option");
    check_bad("tcache", "missing ':' in 'tcache'");
    check_bad("foo:1", "unknown option 'foo'");
    check_bad("narenas:abc", "bad value for option 'narenas:abc'");
    check_bad("narenas:99999999999999999999999", "bad value for option 'narenas:");
    check_bad("tcache_max:-4096", "bad value for option 'tcache_max:-4096'");
    check_bad("tcache_max:5000", "bad value for option 'tcache_max:5000'");
    check_bad("lg_dirty_mult:-2", "bad value for option 'lg_dirty_mult:-2'");
    check_bad("purge:sometimes", "bad value for option 'purge:sometimes'");
    check_bad("tcache:yes", "bad value for option 'tcache:yes'");
    check_bad("junk:false,", "empty option");
}

Test(conf, ten_kilobytes_of_garbage_get_a_few_warnings_and_no_crash) {
    static char garbage[10 * 1024 + 1];
    for (size_t i = 0; i < sizeof(garbage) - 1; i++)
        garbage[i] = (char)('!' + (i * 7919) % 90); /* printable, commas included */
    garbage[sizeof(garbage) - 1] = '\0';
    struct bad_case c = {garbage, "quarry: QUARRY_CONF: "};
    struct child_result res = run_in_child(start_with_conf, &c);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "status 0x%x", res.status);
    cr_assert(strncmp(res.err, "quarry: QUARRY_CONF: ", 21) == 0);
    /* Eight warnings, then one line saying there are more. */
    size_t lines = 0;
    for (const char *s = res.err; *s != '\0'; s++)
        lines += *s == '\n';
    cr_assert_eq(lines, 9, "stderr: %s", res.err);
    cr_assert(strstr(res.err, "quarry: QUARRY_CONF: more problems, not shown\n") != NULL);
}

static void abort_on_bad(void *arg) {
    (void)arg;
    setenv("QUARRY_CONF", "abort_on_error:true,bogus:1", 1);
    quarry_free(quarry_malloc(1));
    _exit(0);
}

Test(conf, abort_on_error_turns_a_warning_into_an_abort) {
    assert_aborts_with(abort_on_bad, NULL, "quarry: QUARRY_CONF: unknown option 'bogus'");
}

/* ---- the control namespace --------------------------------------------- */

Test(ctl, names_types_and_errors) {
    void *p = quarry_malloc(10);
    unsigned n = 0;
    size_t len = sizeof(n);
    cr_assert_eq(quarry_ctl("arenas.narenas", &n, &len, NULL, 0), 0);
    cr_assert_eq(n, narenas);
    len = 1;
    cr_assert_eq(quarry_ctl("arenas.narenas", &n, &len, NULL, 0), EINVAL, "wrong size");
    len = sizeof(n);
    cr_assert_eq(quarry_ctl("arenas.narenas", &n, &len, &n, sizeof(n)), EPERM, "read-only");
    cr_assert_eq(quarry_ctl("no.such.name", NULL, NULL, NULL, 0), ENOENT);
    cr_assert_eq(quarry_ctl("opt.nonsense", &n, &len, NULL, 0), ENOENT);
    size_t size = 0;
    len = sizeof(size);
    cr_assert_eq(quarry_ctl("arenas.bin.27.size", &size, &len, NULL, 0), 0);
    cr_assert_eq(size, 3584);
    const char *version = NULL;
    len = sizeof(version);
    cr_assert_eq(quarry_ctl("version", &version, &len, NULL, 0), 0);
    cr_assert_not_null(version);
    cr_assert_eq(quarry_ctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("arena.0.purge", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("arena.99999.purge", NULL, NULL, NULL, 0), ENOENT);
    /* jemalloc's older "all arenas": index narenas (Redis's MEMORY PURGE). */
    char all[32];
    snprintf(all, sizeof(all), "arena.%u.purge", narenas);
    cr_assert_eq(quarry_ctl(all, NULL, NULL, NULL, 0), 0);
    quarry_free(p);
}

Test(ctl, allocated_is_exact_once_the_cache_is_flushed) {
    size_t before = 0, after = 0, len = sizeof(size_t);
    cr_assert_eq(quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("stats.allocated", &before, &len, NULL, 0), 0);
    void *a = quarry_malloc(100), *b = quarry_malloc(5000), *c = quarry_malloc(100000), *d = quarry_malloc(9 << 20);
    cr_assert_eq(quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("stats.allocated", &after, &len, NULL, 0), 0);
    cr_assert_eq(after - before, 112 + 8192 + 102400 + (9 << 20));
    quarry_free(a);
    quarry_free(b);
    quarry_free(c);
    quarry_free(d);
    cr_assert_eq(quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("stats.allocated", &after, &len, NULL, 0), 0);
    cr_assert_eq(after, before);
}
