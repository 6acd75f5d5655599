"""Redis for bench/compare (--redis).

Debian's redis-server, started by the runner on a unix socket in a
temporary directory (no TCP port: --port 0), no persistence, under each
allocator in turn:

  throughput  redis-benchmark (50 clients, pipelining) over SET GET INCR
              LPUSH LPOP SADD HSET ZADD LRANGE_100 MSET, one invocation per
              command; requests/s and the server's CPU time per request
              (its threads' run time from /proc/PID/task/*/schedstat
              around the invocation);
  memory      fill N keys of a size mix, delete a random half, MEMORY
              PURGE, refill with another mix; after each phase INFO
              memory's figures and VmRSS, and DEBUG DIGEST, which must be
              the same under every allocator; VmRSS sampled all along.

Debian's redis-server links libjemalloc, so "glibc" preloads libc.so.6 to
put glibc's malloc first; under glibc, mimalloc and tcmalloc Redis's
allocator_* figures come from the linked (idle) libjemalloc and mean
nothing, so they are shown only for jemalloc and quarry (which answers the
jemalloc API Redis calls).

The fill, delete and refill are Lua scripts run by the server (EVAL, in
chunks), so the key set and every value are the same under every allocator
and no client has to push gigabytes through a socket.

Standard library only.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import compare_core as core

COMMANDS = ["SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "HSET", "ZADD",
            "LRANGE_100", "MSET"]
INFO_FIELDS = ["used_memory", "used_memory_rss", "allocator_active",
               "allocator_resident", "mem_fragmentation_ratio"]
JEMALLOC_API = {"jemalloc", "quarry"}  # allocator_* figures are real
PHASES = ["fill", "delete_half", "purge", "refill"]

MODES = {
    # keys: memory-phase key count; requests: per redis-benchmark command
    "full": {"keys": 1000000, "requests": 200000, "rounds": 3},
    "short": {"keys": 100000, "requests": 40000, "rounds": 1},
    "tiny": {"keys": 20000, "requests": 5000, "rounds": 1},
}
LIBC = None  # path of libc.so.6, set by find_tools

# Size mixes: (weight, min bytes, max bytes). The fill is mostly small
# values with some medium and a few large ones (around the 4 KiB page, where
# size classes change); the refill has larger values, so the freed small
# runs cannot simply be reused.
FILL_MIX = [(60, 8, 64), (25, 65, 512), (12, 513, 4200), (3, 4201, 20000)]
REFILL_MIX = [(30, 20, 200), (40, 201, 2000), (25, 2001, 6000),
              (5, 6001, 40000)]

# One chunk of keys per EVAL: ARGV = prefix, first, last, seed, mix.
FILL_LUA = """
local prefix, first, last = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local x = tonumber(ARGV[4])
local mix = cjson.decode(ARGV[5])
local total = 0
for _, m in ipairs(mix) do total = total + m[1] end
for i = first, last do
  x = (x * 16807) % 2147483647
  local w = x % total
  local lo, hi = 8, 8
  for _, m in ipairs(mix) do
    if w < m[1] then lo, hi = m[2], m[3] break end
    w = w - m[1]
  end
  x = (x * 16807) % 2147483647
  local n = lo + x % (hi - lo + 1)
  redis.call('SET', prefix .. i, string.rep(string.char(97 + i % 26), n))
end
return x
"""
# Delete the keys whose hash of the index is odd: a random-looking half.
DELETE_LUA = """
local prefix, first, last = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = 0
for i = first, last do
  local h = (i * 2654435761) % 4294967296
  if math.floor(h / 65536) % 2 == 1 then
    n = n + redis.call('DEL', prefix .. i)
  end
end
return n
"""
CHUNK = 50000


# ------------------------------------------------------------ a tiny client


class Client:
    """A minimal RESP client over the server's unix socket."""

    def __init__(self, path, timeout=120):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")


def parse_info(text):
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def proc_cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_cpu_ns(pid):
    """CPU time of the whole process in nanoseconds: the sum over its
    threads of the scheduler's run time (/proc/PID/task/*/schedstat, first
    field). /proc/PID/stat's utime+stime come in 10 ms ticks, which at
    40,000 requests is a 250 ns step per request; the scheduler's figure
    is exact for an idle process (it is brought up to date when a thread
    stops running), which the server is before and after redis-benchmark.
    Falls back to the ticks where schedstat is missing. Threads that exit
    in between would be lost here; Redis's threads live as long as the
    server."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total
    except (OSError, ValueError, IndexError):
        return proc_cpu_ticks(pid) * 1e9 / os.sysconf("SC_CLK_TCK")


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


# ------------------------------------------------------------ the server


def find_tools():
    """(server, benchmark, note): paths, or None and why."""
    global LIBC
    server = shutil.which("redis-server")
    bench = shutil.which("redis-benchmark")
    for cand in ("/lib/x86_64-linux-gnu/libc.so.6",
                 "/usr/lib/x86_64-linux-gnu/libc.so.6",
                 "/lib/aarch64-linux-gnu/libc.so.6"):
        if os.path.exists(cand):
            LIBC = cand
            break
    if not server:
        return None, None, "redis-server not found; apt-get install " \
            "redis-server"
    if not bench:
        return None, None, "redis-benchmark not found; apt-get install " \
            "redis-tools"
    return server, bench, None


class Server:
    """redis-server under one allocator in its own temporary directory;
    always stopped (context manager)."""

    def __init__(self, binary, alloc, info):
        self.binary, self.alloc, self.info = binary, alloc, info
        self.proc = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="quarry-redis.")
        self.sock = os.path.join(self.dir, "redis.sock")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        preload = self.info["preload"] or (LIBC if self.alloc == "glibc"
                                           else None)
        if preload:
            env["LD_PRELOAD"] = preload
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--unixsocket", self.sock,
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--enable-debug-command", "local", "--busy-reply-threshold",
             "60000", "--maxmemory", "0"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock):
                try:
                    c = Client(self.sock, 5)
                    if c.call("PING") == "PONG":
                        # 5 s to start; then as long as a chunk of the fill
                        # or DEBUG DIGEST of 1M keys may take (13 s for
                        # 1M keys under jemalloc on 2 cores).
                        c.s.settimeout(600)
                        self.client = c
                        break
                    c.close()
                except (OSError, RuntimeError, ConnectionError):
                    pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"redis-server ({self.alloc}) did not start")
        if self.proc.poll() is not None:
            tail = open(os.path.join(self.dir, "server.log")).read()[-500:]
            self.stop()
            raise RuntimeError(f"redis-server ({self.alloc}) exited: {tail}")
        if preload:
            with open(f"/proc/{self.proc.pid}/maps") as f:
                if os.path.realpath(preload) not in \
                        {os.path.realpath(p.split()[-1]) for p in f
                         if "/" in p}:
                    self.stop()
                    raise RuntimeError(f"{preload} not mapped in the server")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                c = Client(self.sock, 10)
                c.s.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                c.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if getattr(self, "client", None):
            self.client.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------ throughput


def bench_command(bench, srv, cmd, requests, timeout):
    """(rps, cpu seconds per request) for one command."""
    base = [bench, "-s", srv.sock, "-c", "50", "-P", "16", "-n",
            str(requests), "-r", "100000", "-d", "32", "--csv", "-q"]
    if cmd == "LRANGE_100":
        # Prefill the list ourselves so only LRANGE is timed (redis-
        # benchmark's own lrange test first runs an untimed-for-us LPUSH).
        srv.client.call("DEL", "mylist")
        for _ in range(6):
            srv.client.call("RPUSH", "mylist", *(["x" * 32] * 100))
        argv = base + ["LRANGE", "mylist", "0", "99"]
    else:
        argv = base + ["-t", cmd.lower()]
    cpu0 = proc_cpu_ns(srv.proc.pid)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    time.sleep(0.02)  # let the server finish the last replies and go idle
    cpu1 = proc_cpu_ns(srv.proc.pid)
    if r.returncode != 0:
        raise RuntimeError(f"redis-benchmark {cmd}: {r.stderr.strip()[-200:]}")
    rps = None
    for line in r.stdout.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] not in ("test",):
            try:
                rps = float(parts[1])
            except ValueError:
                continue
    if rps is None:
        raise RuntimeError(f"redis-benchmark {cmd}: no result in "
                           f"{r.stdout[-200:]!r}")
    return rps, (cpu1 - cpu0) / 1e9 / requests


# ------------------------------------------------------------ memory phases


class Sampler(threading.Thread):
    """VmRSS of the server every `period` seconds: [(t, bytes)]."""

    def __init__(self, pid, period=0.1):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples, self.marks = [], []
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.samples.append((time.monotonic() - self.t0,
                                     proc_rss(self.pid)))
            except OSError:
                break
            self.stop_ev.wait(self.period)

    def mark(self, label):
        self.marks.append((time.monotonic() - self.t0, label))


def mix_json(mix):
    return "[" + ",".join(f"[{w},{lo},{hi}]" for w, lo, hi in mix) + "]"


def snapshot(srv):
    time.sleep(0.3)  # INFO's allocator figures are sampled by serverCron
    info = parse_info(srv.client.call("INFO", "memory"))
    out = {}
    for k in INFO_FIELDS:
        v = info.get(k)
        if v is not None:
            out[k] = float(v) if "." in v else int(v)
    out["rss_proc"] = proc_rss(srv.proc.pid)
    out["keys"] = srv.client.call("DBSIZE")
    out["digest"] = srv.client.call("DEBUG", "DIGEST")
    return out


def memory_phases(srv, keys, phases, deadline):
    """Run the phases; ({phase: snapshot}, sampler)."""
    c = srv.client
    sampler = Sampler(srv.proc.pid)
    sampler.start()
    out = {}
    try:
        for phase in phases:
            if time.monotonic() > deadline:
                raise RuntimeError(f"time bound reached before {phase}")
            sampler.mark(phase)
            if phase == "fill":
                seed = 12345
                for first in range(0, keys, CHUNK):
                    seed = c.call("EVAL", FILL_LUA, 0, "k:", first,
                                  min(keys, first + CHUNK) - 1, seed,
                                  mix_json(FILL_MIX))
            elif phase == "delete_half":
                for first in range(0, keys, CHUNK):
                    c.call("EVAL", DELETE_LUA, 0, "k:", first,
                           min(keys, first + CHUNK) - 1)
            elif phase == "purge":
                c.call("MEMORY", "PURGE")
            elif phase == "refill":
                seed = 777
                half = keys // 2
                for first in range(0, half, CHUNK):
                    seed = c.call("EVAL", FILL_LUA, 0, "r:", first,
                                  min(half, first + CHUNK) - 1, seed,
                                  mix_json(REFILL_MIX))
            out[phase] = snapshot(srv)
        sampler.mark("end")
        time.sleep(0.3)
    finally:
        sampler.stop_ev.set()
        sampler.join()
    return out, sampler


# ------------------------------------------------------------ driver


def run_redis(allocs, mode_name, log, phases=None, commands=None,
              rounds=None, time_bound=1800, keys=None, requests=None):
    """Throughput rounds and one memory-phase run per allocator, all within
    time_bound seconds (what is left undone is a failure)."""
    mode = dict(MODES[mode_name])
    for k, v in (("rounds", rounds), ("keys", keys), ("requests", requests)):
        if v:
            mode[k] = v
    phases = phases or PHASES
    commands = commands or COMMANDS
    bad = [p for p in phases if p not in PHASES] + \
        [c for c in commands if c not in COMMANDS]
    if bad:
        raise SystemExit(f"compare: unknown Redis phase/command {bad}")
    server, bench, note = find_tools()
    res = {"mode": mode, "phases": phases, "commands": commands,
           "samples": {}, "memory": {}, "traces": {}, "failures": [],
           "note": note}
    if note:
        log(f"warning: redis skipped: {note}")
        return res
    deadline = time.monotonic() + time_bound
    order = [a for a in allocs]
    plan = core.interleave(order, ["throughput"], mode["rounds"])
    for i, (rnd, _, alloc) in enumerate(plan, 1):
        info = allocs[alloc]
        if info["status"] != core.OK:
            for cmd in commands:
                for m in ("rps", "cpu_req"):
                    res["samples"].setdefault((alloc, cmd, m), []).append(
                        {"status": info["status"]})
            continue
        try:
            with Server(server, alloc, info) as srv:
                for cmd in commands:
                    left = deadline - time.monotonic()
                    if left < 1:
                        raise RuntimeError("time bound reached")
                    rps, cpu = bench_command(bench, srv, cmd,
                                             mode["requests"], left)
                    res["samples"].setdefault((alloc, cmd, "rps"), []).append(
                        {"status": core.OK, "value": rps})
                    res["samples"].setdefault((alloc, cmd, "cpu_req"),
                                              []).append(
                        {"status": core.OK, "value": cpu * 1e9})
                log(f"[{i:>2}/{len(plan)}] redis throughput round {rnd + 1} "
                    f"{alloc:<9} " + " ".join(
                        f"{c}:{res['samples'][(alloc, c, 'cpu_req')][-1]['value']:.0f}ns"
                        for c in commands))
        except (RuntimeError, OSError, ConnectionError,
                subprocess.SubprocessError) as e:
            res["failures"].append(f"redis {alloc} throughput: {e}")
            log(f"redis {alloc} throughput: {e}")
            for cmd in commands:
                for m in ("rps", "cpu_req"):
                    lst = res["samples"].setdefault((alloc, cmd, m), [])
                    if len(lst) <= rnd:
                        lst.append({"status": "error"})
    for alloc in order:
        info = allocs[alloc]
        if info["status"] != core.OK:
            continue
        started = time.monotonic()
        try:
            with Server(server, alloc, info) as srv:
                snap, sampler = memory_phases(srv, mode["keys"], phases,
                                              deadline)
            res["memory"][alloc] = snap
            res["traces"][alloc] = {"samples": sampler.samples,
                                    "marks": sampler.marks}
            log(f"redis memory {alloc:<9} " + " ".join(
                f"{p}:{core.format_bytes(s['rss_proc'])}"
                for p, s in snap.items())
                + f" ({time.monotonic() - started:.0f}s)")
        except (RuntimeError, OSError, ConnectionError) as e:
            res["failures"].append(f"redis {alloc} memory phases: {e}")
            log(f"redis {alloc} memory phases: {e}")
    # Digests: every allocator's must equal the first one's, phase by phase.
    for p in phases:
        digests = {a: m[p]["digest"] for a, m in res["memory"].items()
                   if p in m}
        if len(set(digests.values())) > 1:
            res["failures"].append(f"redis DEBUG DIGEST differs after {p}: "
                                   + ", ".join(f"{a} {d[:12]}" for a, d in
                                               digests.items()))
    # Equal only if every allocator that ran finished every phase: a
    # digest never taken is not a digest that matched.
    ran = [a for a in order if allocs[a]["status"] == core.OK]
    complete = ran and all(p in res["memory"].get(a, {}) for a in ran
                           for p in phases)
    res["digests_equal"] = bool(complete) and \
        not any("DIGEST" in f for f in res["failures"])
    res["digests_complete"] = bool(complete)
    return res


# ------------------------------------------------------------ reporting


def cells(res, names, metric):
    return [(cmd, {a: core.summarize(res["samples"].get((a, cmd, metric),
                                                        []))
                   for a in names}) for cmd in res["commands"]]


def memory_cells(res, names):
    """[(phase field, {alloc: Cell})] for the memory table."""
    rows = []
    for p in res["phases"]:
        for f in ["rss_proc"] + INFO_FIELDS:
            row = {}
            for a in names:
                s = res["memory"].get(a, {}).get(p)
                if s is None or f not in s:
                    row[a] = core.Cell("missing", None, 0, 0)
                elif f.startswith("allocator_") and a not in JEMALLOC_API:
                    row[a] = core.Cell("n/a", None, 0, 0)
                else:
                    row[a] = core.Cell(core.OK, s[f], 1, 1)
            rows.append((f"{p} {f}", row))
    return rows


def report(res, names, subject, chart_names):
    """(markdown lines, json) for the Redis section."""
    mode = res["mode"]
    md = ["## Redis", ""]
    if res["note"]:
        return md + [f"Not run: {res['note']}.", ""], {"note": res["note"]}
    md += [f"Debian's redis-server on a unix socket, no persistence, under "
           f"each allocator (glibc: libc.so.6 preloaded, since the package "
           f"links libjemalloc). Throughput: redis-benchmark -c 50 -P 16 -n "
           f"{mode['requests']} -r 100000 -d 32 per command, median of "
           f"{mode['rounds']} round(s), allocators interleaved; server CPU "
           f"per request is the server's CPU time over the invocation (the "
           f"scheduler's run time of all its threads, "
           f"/proc/PID/task/*/schedstat, in ns), steadier than requests/s "
           f"on a shared machine.", ""]
    cpu = core.build_table(cells(res, names, "cpu_req"), names, subject)
    rps = core.build_table(cells(res, names, "rps"), names, subject)
    md += ["### Server CPU time per request (lower is better)", "",
           core.render_markdown(cpu, "time", "command"), "",
           "### Requests per second (higher is better)", "",
           core.render_markdown(rps, "rate", "command"), ""]
    mem = memory_cells(res, names)
    mem_table = core.build_table(mem, names, subject)
    md += [f"### Memory phases ({mode['keys']:,} keys)", "",
           f"fill: {mode['keys']:,} keys `k:<i>` with values of the mix "
           f"{FILL_MIX} (weight, min, max bytes); delete_half: the keys "
           f"whose index hashes odd; purge: MEMORY PURGE; refill: "
           f"{mode['keys'] // 2:,} keys `r:<i>` of the mix {REFILL_MIX}. "
           f"After each phase: VmRSS (rss_proc) and INFO memory. "
           f"allocator_* are n/a where the allocator does not answer the "
           f"jemalloc API Redis reads them through. The ratio columns are "
           f"{subject}/x; mem_fragmentation_ratio is itself a ratio.", ""]
    lines = core.render_markdown(mem_table, "bytes", "phase / figure",
                                 with_geomean=False).splitlines()
    # mem_fragmentation_ratio is not bytes: print it as a plain ratio.
    fixed = []
    for line, row in zip(lines[2:], mem):
        if row[0].endswith("mem_fragmentation_ratio"):
            cells_ = [core.format_ratio(row[1][a].value)
                      if row[1][a].status == core.OK else row[1][a].status
                      for a in names]
            tail = line.split(" | ")[1 + len(names):]
            line = "| " + " | ".join([row[0]] + cells_ + tail)
        fixed.append(line)
    md += lines[:2] + fixed + [""]
    md.append("DEBUG DIGEST after every phase: " + (
        "identical under every allocator." if res.get("digests_equal")
        else "**not compared for every allocator and phase** (see "
        "Failures)." if not res.get("digests_complete")
        else "**DIFFERENT** (see Failures)."))
    md += ["", "Charts: " + ", ".join(f"`{c}`" for c in chart_names), ""]
    js = {"mode": mode, "cpu_ns_per_request": core.table_to_json(cpu),
          "rps": core.table_to_json(rps), "memory": res["memory"],
          "digests_equal": res.get("digests_equal"),
          "traces": res["traces"]}
    return md, js
