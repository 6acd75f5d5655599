"""Real programs for bench/compare (--programs).

Each program runs under every allocator (LD_PRELOAD; glibc = nothing),
interleaved with the order rotated per round (compare_core.interleave),
and reports medians of wall time, CPU time (user+sys) and peak RSS
(ru_maxrss), all from wait4() in a small launcher (programs/rusage_exec.c:
Linux keeps the RSS high-water mark across fork and exec, so a program
started from the Python runner would report at least the runner's RSS).
The stdout and exit status of every run are compared with glibc's; a
mismatch is an error, not a figure. Inputs are generated here,
deterministically; nothing is downloaded.

Standard library only.
"""

import hashlib
import os
import random
import shutil
import subprocess
import tempfile

import compare_core as core
from compare_proc import run_process

HERE = os.path.dirname(os.path.abspath(__file__))
PROG_DIR = os.path.join(HERE, "programs")

# name -> (tool looked up on PATH or built, Debian package, what it does)
PROGRAMS = {
    "python3": ("/usr/bin/python3", "python3",
                "dicts, lists, strings, object churn (PYTHONMALLOC=malloc)"),
    "sqlite3": ("sqlite3", "sqlite3",
                "generated SQL: inserts, index, joins, deletes, vacuum"),
    "lua5.4": ("lua5.4", "lua5.4", "tables and strings built and dropped"),
    "perl": ("perl", "perl", "hashes and regexes over generated text"),
    "gcc": ("gcc", "gcc", "gcc -O2 -S on a generated C file"),
    "clang": ("clang", "clang", "clang -O2 -S on the same C file"),
    "jq": ("jq", "jq", "filters over a generated JSON document"),
    "mt_containers": (None, None,
                      "C++: 4 threads, std containers, cross-thread frees "
                      "(bench/programs/mt_containers.cc)"),
}
ALL = list(PROGRAMS)

# Input scale per mode. Short: about 0.1-0.3 s of CPU per run under glibc;
# full: 8 times the input.
SCALES = {"short": 1, "full": 8}


def _run(argv, timeout=300):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()[-500:]}")


def build_helpers(build_dir, work):
    """The launcher and mt_containers: from the meson build directory when
    it has them, else compiled here with cc/c++ (base tools only)."""
    out = {}
    for name, src, cc in (("rusage_exec", "rusage_exec.c",
                           ["cc", "-O2", "-D_GNU_SOURCE"]),
                          ("mt_containers", "mt_containers.cc",
                           ["c++", "-O2", "-std=c++17", "-pthread"])):
        built = os.path.join(build_dir, "bench", name)
        if os.access(built, os.X_OK) and os.path.getmtime(built) >= \
                os.path.getmtime(os.path.join(PROG_DIR, src)):
            out[name] = built
            continue
        dst = os.path.join(work, name)
        _run(cc + ["-o", dst, os.path.join(PROG_DIR, src)])
        out[name] = dst
    return out


# ------------------------------------------------------------ inputs


def gen_sql(path, scale):
    rng = random.Random(42)
    n = 6000 * scale
    with open(path, "w") as f:
        w = f.write
        w("PRAGMA journal_mode=OFF;\nPRAGMA synchronous=OFF;\n")
        w("CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, city INT,"
          " bio TEXT);\n")
        w("CREATE TABLE orders(id INTEGER PRIMARY KEY, person INT, amount"
          " INT, note TEXT);\n")
        w("BEGIN;\n")
        for i in range(n):
            name = "".join(rng.choice("abcdefghij") for _ in range(
                rng.randint(4, 12)))
            bio = "x" * rng.randint(0, 300)
            w(f"INSERT INTO person VALUES({i},'{name}',{rng.randint(0, 99)},"
              f"'{bio}');\n")
        for i in range(2 * n):
            w(f"INSERT INTO orders VALUES({i},{rng.randrange(n)},"
              f"{rng.randint(1, 10000)},'{'n' * rng.randint(0, 60)}');\n")
        w("COMMIT;\n")
        w("CREATE INDEX orders_person ON orders(person);\n")
        w("CREATE INDEX person_city ON person(city, name);\n")
        w("SELECT p.city, count(*), sum(o.amount) FROM person p JOIN orders o"
          " ON o.person = p.id GROUP BY p.city ORDER BY p.city;\n")
        w("SELECT name, length(bio) FROM person WHERE city = 7 ORDER BY name"
          " LIMIT 20;\n")
        w("DELETE FROM orders WHERE amount % 3 = 0;\n")
        w("DELETE FROM person WHERE id % 5 = 0;\n")
        w("VACUUM;\n")
        w("SELECT count(*), sum(amount) FROM orders o WHERE EXISTS (SELECT 1"
          " FROM person p WHERE p.id = o.person);\n")
        w("SELECT group_concat(name, ',') FROM (SELECT name FROM person"
          " ORDER BY bio DESC, id LIMIT 50);\n")


def gen_c(path, scale):
    """A large C file: many functions with loops, switches and structs."""
    rng = random.Random(7)
    n = 10 * scale
    with open(path, "w") as f:
        w = f.write
        w("struct s { int a, b; double c; char name[16]; };\n")
        for i in range(n):
            k = rng.randint(3, 9)
            w(f"int f{i}(int x, struct s *p) {{\n  int acc = {i};\n")
            w(f"  for (int i = 0; i < x; i++) {{\n")
            w("    switch ((i + acc) % " + str(k) + ") {\n")
            for c in range(k):
                w(f"    case {c}: acc += p[i % 4].a * {rng.randint(1, 99)} "
                  f"^ (acc >> {rng.randint(1, 9)}); p[i % 4].c += acc * "
                  f"{rng.random():.3f}; break;\n")
            w("    }\n  }\n")
            if i:
                w(f"  if (acc & 1) acc += f{rng.randrange(i)}(x - 1, p);\n")
            w("  return acc;\n}\n")
        w("int main(void) { struct s v[4] = {{0}}; return f%d(3, v) & 1; }\n"
          % (n - 1))


def gen_json(path, scale):
    rng = random.Random(3)
    n = 6000 * scale
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma"]
    with open(path, "w") as f:
        f.write("[")
        for i in range(n):
            if i:
                f.write(",")
            tags = ",".join('"%s"' % rng.choice(words)
                            for _ in range(rng.randint(0, 6)))
            f.write('{"id":%d,"name":"%s","n":%d,"tags":[%s],"nested":'
                    '{"x":%d,"s":"%s"}}' % (
                        i, rng.choice(words) * rng.randint(1, 5),
                        rng.randint(0, 1000000), tags, rng.randint(0, 99),
                        "z" * rng.randint(0, 200)))
        f.write("]\n")


JQ_FILTER = ('[.[] | select(.n % 3 == 0) | {id, t: (.tags | sort | unique), '
             'u: (.name | ascii_upcase), l: (.nested.s | length)}] '
             '| group_by(.t | length) | map({k: .[0].t, n: length, '
             's: (map(.l) | add)})')


def prepare(names, tools, helpers, work, scale):
    """name -> {"argv", "env", "stdin"} for the selected programs."""
    specs = {}
    need = set(names)
    if need & {"gcc", "clang"}:
        gen_c(os.path.join(work, "gen.c"), scale)
    if "sqlite3" in need:
        gen_sql(os.path.join(work, "gen.sql"), scale)
    if "jq" in need:
        gen_json(os.path.join(work, "gen.json"), scale)
    base_env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": work, "TMPDIR": work}
    for n in names:
        t = tools.get(n)
        s = str(scale)
        if n == "python3":
            argv = [t, "-S", os.path.join(PROG_DIR, "workload.py"), s]
            env = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0",
                   "PYTHONDONTWRITEBYTECODE": "1"}
        elif n == "sqlite3":
            argv = [t, ":memory:", ".read " + os.path.join(work, "gen.sql")]
            env = {}
        elif n == "lua5.4":
            argv = [t, os.path.join(PROG_DIR, "workload.lua"), s]
            env = {}
        elif n == "perl":
            argv = [t, os.path.join(PROG_DIR, "workload.pl"), s]
            env = {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"}
        elif n in ("gcc", "clang"):
            argv = [t, "-O2", "-S", "-w", "-o", "-",
                    os.path.join(work, "gen.c")]
            env = {}
        elif n == "jq":
            argv = [t, "-c", JQ_FILTER, os.path.join(work, "gen.json")]
            env = {}
        elif n == "mt_containers":
            argv = [helpers["mt_containers"], s, "4"]
            env = {}
        else:
            raise ValueError(n)
        specs[n] = {"argv": argv, "env": dict(base_env, **env)}
    return specs


def find_tools(names):
    """name -> path, and name -> note for the ones not installed."""
    tools, missing = {}, {}
    for n in names:
        tool, pkg, _ = PROGRAMS[n]
        if tool is None:
            continue
        path = tool if os.path.isabs(tool) and os.access(tool, os.X_OK) \
            else shutil.which(tool)
        if path:
            tools[n] = path
        else:
            missing[n] = f"{tool} not found; apt-get install {pkg}"
    return tools, missing


# ------------------------------------------------------------ running


def run_one(launcher, spec, info, timeout, work):
    """One run: an outcome dict with wall/cpu/rss (seconds, seconds,
    bytes), the digest of stdout + exit status, and the first lines of
    stdout for a mismatch report."""
    res = os.path.join(work, "rusage.txt")
    if os.path.exists(res):
        os.unlink(res)
    argv = [launcher, res, info["preload"] or "-"] + spec["argv"]
    status, detail, wall, stdout, stderr = run_process(
        argv, spec["env"], timeout)
    try:
        with open(res) as f:
            wall_ns, user, sys_, maxrss, wst = (int(v) for v in
                                                f.read().split())
    except (OSError, ValueError):
        return {"status": status if status != core.OK else "error",
                "detail": (detail + " " + stderr.strip()[-300:]).strip()}
    if status == "timeout":
        return {"status": "timeout", "detail": detail}
    if os.WIFSIGNALED(wst):
        return {"status": "crash", "detail": f"signal {os.WTERMSIG(wst)}: "
                + stderr.strip()[-300:]}
    digest = hashlib.sha256(stdout.encode() + b"\0" +
                            str(os.waitstatus_to_exitcode(wst)).encode()
                            ).hexdigest()
    return {"status": core.OK, "wall": float(wall_ns),
            "cpu": (user + sys_) * 1e3, "rss": maxrss * 1024,
            "digest": digest, "head": stdout[:200],
            "exit": os.waitstatus_to_exitcode(wst),
            "stderr": stderr.strip()[-300:]}


def run_programs(names, allocs, rounds, mode_name, timeout, build_dir, log):
    """Run every program under every allocator. Returns the collected
    outcomes: {"samples": {(alloc, prog, metric): [outcome]}, "failures",
    "specs", "missing"}."""
    samples, failures = {}, []
    order = list(allocs)
    scale = SCALES[mode_name]
    with tempfile.TemporaryDirectory(prefix="quarry-programs.") as work:
        helpers = build_helpers(build_dir, work)
        tools, missing = find_tools(names)
        for n, note in missing.items():
            log(f"warning: program {n} skipped: {note}")
        present = [n for n in names if n not in missing]
        specs = prepare(present, tools, helpers, work, scale)
        reference = {}  # prog -> digest of the glibc run (or first run)
        plan = core.interleave(order, present, rounds)
        # The reference output comes from glibc, so run glibc once first.
        ref_alloc = "glibc" if "glibc" in allocs and \
            allocs["glibc"]["status"] == core.OK else None
        for n in present:
            if ref_alloc:
                o = run_one(helpers["rusage_exec"], specs[n],
                            allocs[ref_alloc], timeout, work)
                if o["status"] == core.OK:
                    reference[n] = o
                else:
                    failures.append(f"glibc {n} (reference run): "
                                    f"{o['status']} {o.get('detail', '')}")
        for i, (rnd, n, alloc) in enumerate(plan, 1):
            info = allocs[alloc]
            if info["status"] != core.OK:
                o = {"status": info["status"]}
            else:
                o = run_one(helpers["rusage_exec"], specs[n], info, timeout,
                            work)
            if o["status"] == core.OK:
                ref = reference.setdefault(n, o)
                if o["digest"] != ref["digest"]:
                    failures.append(
                        f"{alloc} {n}: output differs from "
                        f"{ref_alloc or 'the first run'}'s (exit "
                        f"{o['exit']} vs {ref['exit']}; stdout starts "
                        f"{o['head'][:60]!r} vs {ref['head'][:60]!r})")
                    o = {"status": "error", "detail": "output mismatch"}
                elif o["exit"] != 0:
                    failures.append(f"{alloc} {n}: exit {o['exit']} "
                                    f"(same as the reference) {o['stderr']}")
            elif info["status"] == core.OK:
                failures.append(f"{alloc} {n}: {o['status']} "
                                f"{o.get('detail', '')}")
            for m in ("wall", "cpu", "rss"):
                samples.setdefault((alloc, n, m), []).append(
                    {"status": core.OK, "value": o[m]}
                    if o["status"] == core.OK else {"status": o["status"]})
            desc = (f"wall {o['wall'] / 1e9:.2f}s cpu {o['cpu'] / 1e9:.2f}s rss "
                    f"{core.format_bytes(o['rss'])}"
                    if o["status"] == core.OK else o["status"])
            log(f"[{i:>3}/{len(plan)}] round {rnd + 1} {n:<14} {alloc:<9} "
                f"{desc}")
        argvs = {n: " ".join(a.replace(work + "/", "").replace(
            PROG_DIR + "/", "") for a in specs[n]["argv"]) for n in present}
    return {"samples": samples, "failures": failures, "programs": present,
            "missing": missing, "argv": argvs, "scale": scale}


# ------------------------------------------------------------ reporting

METRICS = (("cpu", "CPU time (user+sys)", "time"),
           ("wall", "wall time", "time"),
           ("rss", "peak RSS (ru_maxrss)", "bytes"))


def cells(result, names):
    """metric -> [(program, {alloc: Cell})]."""
    out = {}
    for m, _, _ in METRICS:
        out[m] = [(p, {a: core.summarize(result["samples"].get((a, p, m),
                                                               []))
                       for a in names}) for p in result["programs"]]
    return out


def report(result, names, subject, rounds):
    """(markdown lines, json, chart groups) for the programs section."""
    c = cells(result, names)
    md = ["## Real programs", "",
          f"Each program under each allocator, interleaved, allocator order "
          f"rotated per round; median of {rounds} rounds (a shared 2-core "
          f"machine is noisy: medians, not means). CPU time is user+sys and "
          f"peak RSS is ru_maxrss, both from wait4() (children included: "
          f"gcc's cc1). Every run's stdout and exit status matched glibc's "
          f"unless listed under Failures. Input scale {result['scale']}.",
          "",
          "| program | what | command |", "|---|---|---|"]
    for p in result["programs"]:
        md.append(f"| {p} | {PROGRAMS[p][2]} | `{result['argv'][p]}` |")
    for n, note in result["missing"].items():
        md.append(f"| {n} | not run | {note} |")
    md.append("")
    js = {"scale": result["scale"], "argv": result["argv"],
          "missing": result["missing"]}
    for m, title, kind in METRICS:
        table = core.build_table(c[m], names, subject)
        md += [f"### {title} (median; lower is better)", "",
               core.render_markdown(table, kind, "program"), ""]
        js[m] = core.table_to_json(table)
    baseline = "glibc" if "glibc" in names else names[0]
    groups = []
    for m, label in (("cpu", "CPU"), ("rss", "peak RSS")):
        for p, row in c[m]:
            g = {}
            for a in names:
                r = core.ratio(row[a], row[baseline])
                g[a] = r if r is not None else (
                    row[a].status if row[a].status != core.OK else "n/a")
            groups.append((f"{p} {label}", g))
    return md, js, groups, c
