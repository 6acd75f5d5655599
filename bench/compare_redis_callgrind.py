"""Redis under callgrind for bench/compare (--redis-callgrind).

Debian's redis-server runs under `valgrind --tool=callgrind`, once per
allocator, on a unix socket in a temporary directory (no TCP port, no
persistence), with the allocator's environment as in compare_redis.Server
(glibc: libc.so.6 preloaded, since the package links libjemalloc; the
others: their shared object preloaded) plus bench/compare's callgrind
options (quarry's thread caches switched back on). For each command:

  warm-up   redis-benchmark once, untimed, so the keys exist (LPOP: the
            list first gets twice N elements, LRANGE_100 its 600);
  measure   callgrind_control -z, redis-benchmark -c 20 -P 16 -n N -r 100000
            -d 32, callgrind_control -d; the dump's total over N is the
            server's user-space instructions per request, and the self cost
            of the allocator's own object over N its allocator's share
            (glibc: all of libc.so.6, memcpy and the rest included).

Instruction counts repeat within about 1% from run to run, where the wall
and CPU time of Redis on a shared machine vary by much more than the
allocator's share of it. Standard library only.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import compare_core as core
import compare_redis as redis

REQUESTS = 20000  # per measured redis-benchmark invocation
CLIENTS = 20
START_TIMEOUT = 60  # callgrind's start-up takes ~20 s on 2 cores
DUMP_TIMEOUT = 60
# No TCP port, no persistence; --unixsocket and --dir are added per run.
SERVER_OPTIONS = ["--port", "0", "--save", "", "--appendonly", "no"]

# `ob=(7) /path` names object 7 the first time it is used, on an ob= line
# or a cob= line (the callee's object); later lines say just `ob=(7)`.
# Without name compression the line is `ob=/path`. Functions (fn=, cfn=)
# are named the same way.
NAME_LINE = re.compile(r"^(c?ob|c?fn)=(?:\((\d+)\))?\s*(.*)$")
UNKNOWN = "???"  # callgrind's object for code outside every object's .text


def parse_callgrind(lines):
    """(total Ir, {object: self Ir}) of one callgrind out file.

    The total is the file's totals: line (the sum of all self costs),
    else its summary: line. A cost line right after calls= is the call's
    inclusive cost and belongs to the callee, so it is not self cost.
    Code in the unknown object that callgrind still names by a symbol
    (tcmalloc keeps malloc and free in a section of their own,
    google_malloc, outside .text) is keyed "???:function".
    """
    names = {"ob": {}, "fn": {}}
    current = {"ob": UNKNOWN, "fn": UNKNOWN}
    objects, after_call = {}, False
    totals = summary = None
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        m = NAME_LINE.match(line)
        if m:
            key, ident, name = m.groups()
            kind = key[-2:]
            if ident is None:
                ident = name
            if name:
                names[kind][ident] = name
            if key == kind:
                current[kind] = names[kind].get(ident, f"({ident})")
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if line[0].isdigit() or line[0] in "+-*":
            if after_call:
                after_call = False
                continue
            parts = line.split()
            ob, fn = current["ob"], current["fn"]
            if ob == UNKNOWN and not fn.startswith(("0x", "(")):
                ob = f"{UNKNOWN}:{fn}"
            if len(parts) >= 2:
                objects[ob] = objects.get(ob, 0) + int(parts[1])
        elif line.startswith("totals:"):
            totals = int(line.split()[1])
        elif line.startswith("summary:"):
            summary = int(line.split()[1])
    total = totals if totals is not None else summary
    if total is None:
        total = sum(objects.values())
    return total, objects


def own_object(alloc, info):
    """The shared object whose self cost is the allocator's own."""
    return redis.LIBC if alloc == "glibc" else info["preload"]


def own_cost(objects, target):
    """Self cost of `target` in {object: Ir}, matched by real path or by
    file name (callgrind names an object by the path it was mapped from),
    plus the named functions of the unknown object (see parse_callgrind);
    the allocator is the only library here that has any."""
    if not target:
        return None
    want = (os.path.realpath(target), os.path.basename(target))
    return sum(c for ob, c in objects.items()
               if os.path.realpath(ob) == want[0]
               or os.path.basename(ob) == want[1]
               or ob.startswith(UNKNOWN + ":"))


def bench_argv(bench, sock, cmd, requests):
    base = [bench, "-s", sock, "-c", str(CLIENTS), "-P", "16", "-n",
            str(requests), "-r", "100000", "-d", "32", "-q"]
    if cmd == "LRANGE_100":
        return base + ["LRANGE", "mylist", "0", "99"]
    return base + ["-t", cmd.lower()]


def run_checked(argv, timeout, what):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{what}: exit {r.returncode}: "
                           f"{(r.stderr or r.stdout).strip()[-200:]}")
    return r.stdout


class CallgrindServer:
    """redis-server under callgrind in its own temporary directory; always
    stopped and its directory removed (context manager)."""

    def __init__(self, binary, env):
        self.binary, self.env, self.proc = binary, env, None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="quarry-redis-cg.")
        self.sock = os.path.join(self.dir, "redis.sock")
        with open(os.path.join(self.dir, "server.log"), "w") as log:
            self.proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind",
                 f"--callgrind-out-file={self.dir}/cg.%p", self.binary]
                + SERVER_OPTIONS + ["--unixsocket", self.sock,
                                    "--dir", self.dir],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.sock):
                try:
                    c = redis.Client(self.sock, 30)
                    pong = c.call("PING")
                    c.close()
                    if pong == "PONG":
                        return self
                except (OSError, RuntimeError, ConnectionError):
                    pass
            time.sleep(0.2)
        tail = open(os.path.join(self.dir, "server.log")).read()[-300:]
        self.stop()
        raise RuntimeError(f"redis-server under callgrind did not start "
                           f"within {START_TIMEOUT} s: {tail!r}")

    def call(self, *args):
        c = redis.Client(self.sock, 120)
        try:
            return c.call(*args)
        finally:
            c.close()

    def dump(self):
        """Dump the counters (callgrind_control -d) and parse the new file."""
        before = set(os.listdir(self.dir))
        run_checked(["callgrind_control", "-d", str(self.proc.pid)], 120,
                    "callgrind_control -d")
        deadline = time.monotonic() + DUMP_TIMEOUT
        while time.monotonic() < deadline:
            for name in sorted(set(os.listdir(self.dir)) - before):
                if not name.startswith("cg."):
                    continue
                path = os.path.join(self.dir, name)
                with open(path) as f:
                    lines = f.readlines()
                # Complete once the closing totals: line is written.
                if any(ln.startswith("totals:") for ln in lines[-5:]):
                    os.remove(path)
                    return parse_callgrind(lines)
            time.sleep(0.2)
        raise RuntimeError("callgrind_control -d wrote no dump")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.stop()


def measure(srv, bench, cmd, requests, timeout):
    """(total Ir, {object: self Ir}) of one measured invocation."""
    if cmd == "LRANGE_100":
        srv.call("DEL", "mylist")
        for _ in range(6):
            srv.call("RPUSH", "mylist", *(["x" * 32] * 100))
    elif cmd == "LPOP":
        # Enough elements for the warm-up and the measured run, whichever
        # commands ran before: LPOP of an empty list frees nothing.
        srv.call("DEL", "mylist")
        push = bench_argv(bench, srv.sock, "LPUSH", 2 * requests)
        run_checked(push, timeout, "redis-benchmark LPUSH (list for LPOP)")
    argv = bench_argv(bench, srv.sock, cmd, requests)
    run_checked(argv, timeout, f"redis-benchmark {cmd} (warm-up)")
    run_checked(["callgrind_control", "-z", str(srv.proc.pid)], 120,
                "callgrind_control -z")
    run_checked(argv, timeout, f"redis-benchmark {cmd}")
    return srv.dump()


def find_tools():
    """(server, benchmark, note), as compare_redis.find_tools, with
    valgrind and callgrind_control also required."""
    server, bench, note = redis.find_tools()
    for tool in ("valgrind", "callgrind_control"):
        if not note and not shutil.which(tool):
            note = f"{tool} not found; apt-get install valgrind"
    return server, bench, note


def run_redis_callgrind(allocs, env_of, log, commands=None, requests=None,
                        timeout=600):
    """Instructions per request for every command under every allocator.
    env_of(alloc, info) is the callgrind environment of an allocator."""
    commands = commands or redis.COMMANDS
    bad = [c for c in commands if c not in redis.COMMANDS]
    if bad:
        raise SystemExit(f"compare: unknown Redis command(s) {bad}")
    requests = requests or REQUESTS
    server, bench, note = find_tools()
    res = {"commands": commands, "requests": requests, "samples": {},
           "objects": {}, "own_object": {}, "failures": [], "note": note,
           "server": server}
    if note:
        log(f"warning: redis-callgrind skipped: {note}")
        return res
    for alloc, info in allocs.items():
        if info["status"] != core.OK:
            for cmd in commands:
                for m in ("total", "own"):
                    res["samples"][(alloc, cmd, m)] = [
                        {"status": info["status"]}]
            continue
        env = env_of(alloc, info)
        if alloc == "glibc":
            env["LD_PRELOAD"] = redis.LIBC  # ahead of the linked jemalloc
        target = own_object(alloc, info)
        res["own_object"][alloc] = target
        started = time.monotonic()
        try:
            with CallgrindServer(server, env) as srv:
                for cmd in commands:
                    total, objects = measure(srv, bench, cmd, requests,
                                             timeout)
                    own = own_cost(objects, target)
                    res["samples"][(alloc, cmd, "total")] = [
                        {"status": core.OK, "value": total / requests}]
                    res["samples"][(alloc, cmd, "own")] = [
                        {"status": core.OK, "value": own / requests}
                        if own else {"status": "no-object"}]
                    if not own:
                        res["failures"].append(
                            f"{alloc} {cmd}: no instructions in {target}; "
                            "is the allocator loaded?")
                    res["objects"].setdefault(alloc, {})[cmd] = {
                        ob: round(c / requests, 1) for ob, c in sorted(
                            objects.items(), key=lambda kv: -kv[1])[:8]}
                    log(f"redis-callgrind {alloc:<9} {cmd:<10} "
                        f"{total / requests:9.1f} instructions/request, "
                        f"{(own or 0) / requests:7.1f} in the allocator")
        except (RuntimeError, OSError, ConnectionError,
                subprocess.SubprocessError) as e:
            res["failures"].append(f"redis-callgrind {alloc}: {e}")
            log(f"redis-callgrind {alloc}: {e}")
            for cmd in commands:
                for m in ("total", "own"):
                    res["samples"].setdefault((alloc, cmd, m),
                                              [{"status": "error"}])
        log(f"redis-callgrind {alloc}: {time.monotonic() - started:.0f} s")
    return res


def report(res, names, subject, header, failure_section):
    """(markdown lines, json) of the whole redis-callgrind report. header:
    the metadata line; failure_section: bench/compare's."""
    md = ["# Redis under callgrind: instructions per request", "", header,
          ""]
    if res["note"]:
        return md + [f"Not run: {res['note']}.", ""], {"note": res["note"]}

    def table(metric):
        rows = [(cmd, {a: core.summarize(res["samples"].get((a, cmd, metric),
                                                            []))
                       for a in names}) for cmd in res["commands"]]
        return core.build_table(rows, names, subject)

    total, own = table("total"), table("own")
    n = res["requests"]
    md += [f"Debian's redis-server under `valgrind --tool=callgrind` on a "
           f"unix socket, no persistence, once per allocator (glibc: "
           f"libc.so.6 preloaded, since the package links libjemalloc; "
           f"quarry: `QUARRY_CONF=tcache:true`, as quarry turns its thread "
           f"caches off under valgrind otherwise). Per command: one untimed "
           f"redis-benchmark run so the keys exist, then counters zeroed, "
           f"`redis-benchmark -c {CLIENTS} -P 16 -n {n} -r 100000 -d 32`, "
           f"counters dumped; instructions over {n:,} requests, all server "
           f"threads, user space only. Lower is better; `{subject}/x` < 1: "
           f"{subject} executes fewer.", "",
           "## Whole server", "",
           core.render_markdown(total, "instr", "command"), "",
           "## Inside the allocator's own object", "",
           "Self cost of the allocator's shared object: " + ", ".join(
               f"{a} `{os.path.basename(t)}`" for a, t in
               res["own_object"].items()) + ", plus code that callgrind "
           "places in no object but names by symbol (tcmalloc's malloc, "
           "free and malloc_size live in a section of their own, "
           "google_malloc, outside .text)." + (
               " For glibc this is all of libc.so.6 (memcpy, string and "
               "I/O functions included), so it overstates glibc malloc's "
               "share." if "glibc" in res["own_object"] else ""), "",
           core.render_markdown(own, "instr", "command"), ""]
    md += failure_section(res["failures"])
    js = {"requests": n, "clients": CLIENTS,
          "instructions_per_request": core.table_to_json(total),
          "allocator_instructions_per_request": core.table_to_json(own),
          "own_object": res["own_object"],
          "top_objects_per_request": res["objects"],
          "failures": res["failures"]}
    return md, js
