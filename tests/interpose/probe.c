/*
 * Load probe, preloaded after libquarry.so in every "with quarry" run.
 *
 * Comparing a program's output with and without LD_PRELOAD proves nothing
 * if the preload silently did not happen (a typo in the path, a static or
 * setuid binary, a wrapper script that scrubs the environment). So each
 * process that starts with this probe loaded appends one line to the file
 * named by $QUARRY_PROBE_OUT:
 *
 *   pid=<pid> exe=<path> malloc=<object defining malloc> new=<object
 *   defining operator new(size_t)> mapped=<0|1>
 *
 * "malloc=" and "new=" are what the dynamic linker actually binds those
 * names to for this process (the first definition in global scope), and
 * "mapped=1" says /proc/self/maps has the file named by $QUARRY_PROBE_LIB.
 * The driver scripts require, for every line, that both resolve into the
 * interposer and that it is mapped, and that the program under test wrote
 * a line at all.
 *
 * The probe sticks to raw system calls and static buffers: it runs inside
 * arbitrary programs, before main, and must not perturb them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *object_of(const char *symbol)
{
    Dl_info info;
    void *addr = dlsym(RTLD_DEFAULT, symbol);
    if (addr == NULL)
        return "none";
    if (!dladdr(addr, &info) || info.dli_fname == NULL)
        return "unknown";
    return info.dli_fname;
}

/* Whether some mapping's path ends in "/<basename of lib>". */
static int is_mapped(const char *lib)
{
    static char maps[1 << 20];
    const char *base = strrchr(lib, '/');
    base = base ? base + 1 : lib;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof maps - 1 &&
           (n = read(fd, maps + len, sizeof maps - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    maps[len] = '\0';
    size_t blen = strlen(base);
    for (char *line = maps; line && *line; ) {
        char *eol = strchr(line, '\n');
        size_t l = eol ? (size_t)(eol - line) : strlen(line);
        if (l > blen && line[l - blen - 1] == '/' &&
            memcmp(line + l - blen, base, blen) == 0)
            return 1;
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

__attribute__((constructor)) static void probe(void)
{
    const char *out = getenv("QUARRY_PROBE_OUT");
    const char *lib = getenv("QUARRY_PROBE_LIB");
    if (out == NULL || lib == NULL)
        return;
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    static char line[3 * 4096 + 128];
    int len = snprintf(line, sizeof line,
                       "pid=%d exe=%s malloc=%s new=%s mapped=%d\n",
                       (int)getpid(), exe, object_of("malloc"),
                       object_of("_Znwm"), is_mapped(lib));
    int fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    /* One write on an O_APPEND file: lines from concurrent processes
     * (gcc's driver and its children) do not interleave. */
    ssize_t ignored = write(fd, line, (size_t)len);
    (void)ignored;
    close(fd);
}
