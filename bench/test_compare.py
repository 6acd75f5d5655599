#!/usr/bin/env python3
"""Self-check of bench/compare's pure functions; runs no benchmark.

    python3 bench/test_compare.py

Runs the doctests in compare_core.py plus the cases below (plain unittest,
no third-party modules).
"""

import doctest
import importlib.machinery
import importlib.util
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare_chart as chart  # noqa: E402
import compare_core as core  # noqa: E402
import compare_programs as programs  # noqa: E402
import compare_real as real  # noqa: E402
import compare_redis as redis  # noqa: E402
import compare_redis_callgrind as redis_cg  # noqa: E402
import compare_summary as summary  # noqa: E402
import compare_strace as strace  # noqa: E402
import compare_usage as usage  # noqa: E402


def load_compare_script():
    """Import bench/compare (no .py suffix) as a module without running it."""
    path = os.path.join(HERE, "compare")
    loader = importlib.machinery.SourceFileLoader("compare_script", path)
    spec = importlib.util.spec_from_loader("compare_script", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def ok(v):
    return {"status": "ok", "value": v}


class InterleaveTest(unittest.TestCase):
    def test_every_combination_once_per_round(self):
        plan = core.interleave(["a", "b", "c"], ["u", "v"], 3)
        self.assertEqual(len(plan), 3 * 2 * 3)
        for r in range(3):
            got = sorted((u, a) for rr, u, a in plan if rr == r)
            self.assertEqual(got, sorted((u, a) for u in "uv" for a in "abc"))

    def test_allocators_alternate_within_a_unit_and_rotate(self):
        plan = core.interleave(["a", "b", "c"], ["u", "v"], 2)
        self.assertEqual([a for r, u, a in plan if r == 0 and u == "v"],
                         ["a", "b", "c"])
        self.assertEqual([a for r, u, a in plan if r == 1 and u == "u"],
                         ["b", "c", "a"])

    def test_rounds_are_contiguous(self):
        rounds = [r for r, _, _ in core.interleave(["a", "b"], ["u"], 3)]
        self.assertEqual(rounds, sorted(rounds))


class StatsTest(unittest.TestCase):
    def test_median_of_rounds(self):
        cell = core.summarize([ok(10.0), ok(30.0), ok(20.0)])
        self.assertEqual(cell, core.Cell("ok", 20.0, 3, 3))

    def test_failure_wins_over_values(self):
        cell = core.summarize([ok(1.0), {"status": "timeout"}, ok(2.0)])
        self.assertEqual(cell.status, "timeout")
        self.assertEqual(core.format_cell(cell, "time"), "timeout 1/3")

    def test_most_frequent_failure_names_the_cell(self):
        cell = core.summarize([{"status": "crash"}, {"status": "timeout"},
                               {"status": "timeout"}])
        self.assertEqual(core.format_cell(cell, "time"), "timeout")

    def test_geomean_ignores_missing(self):
        self.assertAlmostEqual(core.geomean([2.0, None, 8.0]), 4.0)


class TableTest(unittest.TestCase):
    def setUp(self):
        c = lambda v: core.Cell("ok", v, 3, 3)  # noqa: E731
        crash = core.Cell("crash", None, 0, 3)
        self.rows = [("w1", {"glibc": c(10.0), "quarry": c(5.0)}),
                     ("w2", {"glibc": c(40.0), "quarry": c(80.0)}),
                     ("w3", {"glibc": c(7.0), "quarry": crash})]
        self.table = core.build_table(self.rows, ["glibc", "quarry"],
                                      "quarry")

    def test_ratio_columns_are_subject_over_other(self):
        self.assertEqual(self.table["rows"][0]["ratios"]["glibc"], 0.5)
        self.assertEqual(self.table["rows"][1]["ratios"]["glibc"], 2.0)
        self.assertIsNone(self.table["rows"][2]["ratios"]["glibc"])

    def test_geomeans_use_comparable_rows(self):
        gm = self.table["geomean"]
        self.assertAlmostEqual(gm["ratios"]["glibc"], 1.0)
        self.assertAlmostEqual(gm["cells"]["glibc"], 20.0)  # w1, w2 only
        self.assertEqual(self.table["geomean_rows"]["cells"], 2)

    def test_markdown_shape(self):
        md = core.render_markdown(self.table, "time", "workload").splitlines()
        self.assertEqual(md[0], "| workload | glibc | quarry | quarry/glibc |")
        self.assertEqual(len(md), 2 + 3 + 1)
        self.assertIn("crash", md[4])
        self.assertTrue(md[-1].startswith("| **geomean** (2/3 rows)"))
        self.assertTrue(all(line.count("|") == 5 for line in md))

    def test_no_subject_means_no_ratio_columns(self):
        t = core.build_table(self.rows, ["glibc", "quarry"], None)
        md = core.render_markdown(t, "time", "w").splitlines()
        self.assertEqual(md[0], "| w | glibc | quarry |")

    def test_missing_allocator_does_not_empty_geomeans(self):
        missing = core.Cell("missing", None, 0, 0)
        rows = [(l, dict(c, tcmalloc=missing)) for l, c in self.rows]
        t = core.build_table(rows, ["glibc", "quarry", "tcmalloc"], "quarry")
        self.assertAlmostEqual(t["geomean"]["cells"]["glibc"], 20.0)
        self.assertIsNone(t["geomean"]["cells"]["tcmalloc"])
        self.assertIsNone(t["geomean"]["ratios"]["tcmalloc"])

    def test_json_round_trip(self):
        import json
        js = json.loads(json.dumps(core.table_to_json(self.table)))
        self.assertEqual(js["rows"][2]["cells"]["quarry"]["status"], "crash")


class ParseTest(unittest.TestCase):
    DOC = {
        "context": {"malloc_provider": "/lib/x86_64-linux-gnu/libc.so.6"},
        "benchmarks": [
            {"name": "pair/malloc/16", "run_type": "iteration",
             "real_time": 9.0, "time_unit": "ns", "items_per_second": 1e8},
            {"name": "frag/kv/iterations:1", "run_type": "iteration",
             "real_time": 300.0, "time_unit": "ms", "rss_peak": 1048576.0},
            {"name": "x/err", "run_type": "iteration", "error_occurred": True,
             "error_message": "malloc returned NULL"},
            {"name": "pair/malloc/16_mean", "run_type": "aggregate",
             "real_time": 1.0, "time_unit": "ns"},
        ]}

    def test_parse(self):
        got = core.parse_benchmark_json(self.DOC)
        self.assertEqual(set(got), {"pair/malloc/16", "frag/kv/iterations:1",
                                    "x/err"})
        self.assertAlmostEqual(got["pair/malloc/16"]["time"]["value"], 10.0)
        self.assertEqual(got["frag/kv/iterations:1"]["time"]["value"], 3e8)
        self.assertEqual(got["frag/kv/iterations:1"]["rss_peak"]["value"],
                         1048576.0)
        self.assertEqual(got["x/err"]["time"]["status"], "error")

    def test_plan_units_and_filter(self):
        names = ["pair/malloc/16", "pair/malloc/1M", "frag/a/iterations:1",
                 "frag/b/iterations:1", "huge/touch/5-25M"]
        units = core.plan_units(names, {"frag"})
        self.assertEqual([u for u, _ in units],
                         ["pair", "frag/a/iterations:1",
                          "frag/b/iterations:1", "huge"])
        flt = core.exact_filter(units[0][1])
        import re
        self.assertTrue(re.search(flt, "pair/malloc/16"))
        self.assertFalse(re.search(flt, "pair/malloc/160"))


class UsageParseTest(unittest.TestCase):
    def test_usage_counters_become_metrics(self):
        doc = {"benchmarks": [
            {"name": "xlife/2/real_time", "run_type": "iteration",
             "real_time": 5.0, "time_unit": "ms", "items_per_second": 1e7,
             "cpu_ns_op": 180.0, "sys_ns_op": 20.0, "minflt_kop": 3.5,
             "majflt_kop": 0.0, "rss_hwm": 5e7}]}
        got = core.parse_benchmark_json(doc)["xlife/2/real_time"]
        self.assertEqual(got["time"]["value"], 100.0)
        self.assertEqual(got["cpu_ns_op"], ok(180.0))
        self.assertEqual(got["minflt_kop"], ok(3.5))
        self.assertEqual(got["rss_hwm"], ok(5e7))


class StraceTest(unittest.TestCase):
    START = '100 write(-1, "qb:start\\n", 9) = -1 EBADF (Bad file descriptor)'

    @staticmethod
    def end(ops):
        return f'100 write(-1, "qb:end {ops}\\n", 12) = -1 EBADF'

    def test_no_complete_pair(self):
        self.assertIsNone(core.parse_strace_log(""))
        self.assertIsNone(core.parse_strace_log(
            self.START + "\n100 madvise(0x1, 4096, MADV_DONTNEED) = 0"))
        self.assertIsNone(core.parse_strace_log(self.end(5)))

    def test_last_pair_counts(self):
        log = "\n".join([
            self.START, "100 madvise(0x1, 1, MADV_FREE) = 0", self.end(10),
            "100 munmap(0x2, 4096) = 0",
            self.START,
            "[pid   101] madvise(0x1, 1, MADV_DONTNEED) = 0",
            "101 mmap(NULL, 4194304, PROT_READ|PROT_WRITE, "
            "MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>",
            "100 write(1, \"x\", 1) = 1",
            "101 <... mmap resumed>) = 0x7f0000000000",
            "102 mremap(0x1, 8192, 16384, MREMAP_MAYMOVE) = 0x3",
            "+++ exited with 0 +++",
            self.end(20)])
        r = core.parse_strace_log(log)
        self.assertEqual(r["ops"], 20)
        self.assertEqual(r["calls"], {"madvise": 1, "munmap": 0, "mmap": 1,
                                      "mremap": 1})

    def test_rate(self):
        c = core.rate_cell(core.Cell("ok", 2.0, 1, 1),
                           core.Cell("ok", 1e9, 3, 3))
        self.assertEqual(c.value, 2.0)  # 2 per op at one op per second
        self.assertEqual(core.rate_cell(core.Cell("timeout", None, 0, 1),
                                        core.Cell("ok", 1.0, 3, 3)).status,
                         "timeout")


class UsageReportTest(unittest.TestCase):
    NAMES = ["glibc", "jemalloc", "mimalloc", "quarry"]
    ORDER = ["pair/malloc/16", "xlife/2/real_time", "xshuffle/100000"]

    def setUp(self):
        data = {}
        for i, a in enumerate(self.NAMES, 1):
            for b in self.ORDER:
                data[(a, b, "time")] = [ok(10.0 * i)]
                data[(a, b, "cpu_ns_op")] = [ok(12.0 * i)]
                # glibc faults nowhere; the others only in pair/.
                data[(a, b, "minflt_kop")] = [ok(
                    0.5 * (i - 1) if b.startswith("pair") else 0.0)]
            data[(a, "xlife/2/real_time", "madvise_op")] = [ok(0.01 * i)]
            data[(a, "xlife/2/real_time", "mremap_op")] = [ok(0.0)]
            data[(a, "xlife/2/real_time", "peak_rss")] = [ok(2.0**20 * i)]
        self.get = lambda a, k, m: data.get((a, k, m), [])

    def test_usage_sections_skip_cross_families(self):
        md, js = usage.usage_sections(self.get, self.ORDER, self.NAMES,
                                      "quarry", 3, {"xlife", "xshuffle"})
        text = "\n".join(md)
        self.assertIn("| pair/malloc/16 | 12.0 ns |", text)
        self.assertNotIn("xlife", text)
        self.assertEqual(len(js["cpu_ns_per_op"]["rows"]), 1)
        # Fault counts get no geometric mean (glibc's are zero).
        self.assertNotIn("geomean", text.split("Minor page faults")[1])
        self.assertIn("| pair/malloc/16 | 0 | 0.500 |", text)

    def test_fault_table_left_out_when_nothing_faulted(self):
        md, js = usage.usage_sections(self.get, self.ORDER, self.NAMES,
                                      "quarry", 3, {"pair"})
        self.assertNotIn("Minor page faults", "\n".join(md))
        self.assertIsNone(js["minflt_per_kop"])

    def test_cross_section(self):
        md, js = usage.cross_section(
            self.get, self.ORDER, {}, self.NAMES, "quarry", 3,
            ("xlife", "xshuffle"))
        text = "\n".join(md)
        lines = text.splitlines()
        self.assertIn("### quarry against jemalloc and mimalloc", text)
        head = [ln for ln in lines if ln.startswith("| workload | wall")]
        self.assertEqual(head[0].count("|"), 10)  # 9 columns
        # quarry is allocator 4, jemalloc 2, mimalloc 3.
        row = [ln for ln in lines if ln.startswith("| xlife/2 | 2.00")]
        self.assertEqual(row[0].split(" | ")[1:5],
                         ["2.00", "1.33", "2.00", "1.33"])
        # madvise per second: 0.04 per op at 40 ns per op for quarry.
        self.assertIn("| xlife/2 madvise | 1,000,000 |", text)
        self.assertNotIn("mremap", text)  # zero for every allocator
        self.assertAlmostEqual(
            js["syscalls_per_op"]["xlife/2"]["madvise"]["quarry"], 0.04)
        self.assertIsNone(js["syscalls_per_op"]["xshuffle/100000"]
                          ["madvise"]["quarry"])

    def test_cross_section_note_and_absence(self):
        md, _ = usage.cross_section(self.get, self.ORDER, {}, self.NAMES,
                                    "quarry", 3, ("xlife",), "no strace")
        self.assertIn("no strace", md)
        self.assertEqual(usage.cross_section(self.get, ["pair/malloc/16"], {},
                                             self.NAMES, "quarry", 3,
                                             ("xlife",)), ([], None))

    def test_versus_without_subject_values(self):
        missing = core.Cell("missing", None, 0, 0)
        rows = [("w", {"time": {"q": missing, "j": core.Cell("ok", 1.0, 1,
                                                              1)}})]
        md = core.render_versus(rows, "q", ["j"],
                                [("time", "wall", "ratio", "time")])
        self.assertEqual(md.splitlines()[2], "| w | - |")
        self.assertEqual(md.splitlines()[3], "| **geomean** | - |")


class StracePassTest(unittest.TestCase):
    def test_missing_strace_gives_a_note_and_runs_nothing(self):
        from unittest import mock

        class Col:
            def __init__(self):
                self.samples, self.failures = {}, []

            def add(self, *a):
                self.samples[a[:3]] = a[3]

        col = Col()
        with mock.patch.object(strace.shutil, "which", return_value=None):
            self.assertEqual(strace.strace_command()[0], None)
            note = strace.run_syscall_pass(
                "/nonexistent", ["xlife/2/real_time"],
                {"glibc": {"preload": None, "status": "ok"}},
                {"min_time": 0.01, "timeout": 5}, {}, col, lambda m: None)
        self.assertIn("Debian package `strace`", note)
        self.assertEqual(col.samples, {})

    def test_command_when_strace_exists(self):
        import shutil
        if not shutil.which("strace"):
            self.skipTest("strace not installed")
        argv, note = strace.strace_command()
        if argv is None:  # installed but ptrace is not allowed here
            self.assertIn("cannot trace", note)
            return
        self.assertIsNone(note)
        self.assertIn("-f", argv)
        self.assertEqual(argv[argv.index("-e") + 1], strace.STRACE_TRACE)


class ScriptTest(unittest.TestCase):
    """Checks on bench/compare itself that need no benchmark binary."""

    @classmethod
    def setUpClass(cls):
        cls.cmp = load_compare_script()

    def test_short_selection_matches_real_names(self):
        # Every short-mode pattern must select something from the names the
        # binary registers (kept in sync by hand with bench/*.cc).
        names = ["pair/malloc/16", "pair/malloc/64", "pair/malloc/256",
                 "pair/malloc/1K", "pair/malloc/3584", "pair/malloc/16K",
                 "pair/malloc/1M", "pair/new/64", "batch/lifo/1000",
                 "batch/random/100000", "realloc/double/1M",
                 "prodcons/spsc/real_time/threads:2",
                 "churn/mixed/real_time/threads:1",
                 "larson/pool/real_time/threads:2",
                 "frag/kv_small/iterations:1", "calloc/touch/1M",
                 "aligned/aligned_alloc/64", "huge/touch/5-25M",
                 "xbatch/2/10000/real_time", "xbatch/8/100000/real_time",
                 "xprodcons/2/2/real_time", "xlife/2/real_time",
                 "xlife/8/real_time", "xshuffle/100000"]
        for n in names:
            self.assertTrue(self.cmp.SHORT_SELECT.search(n), n)
        for n in ("pair/malloc/160", "pair/malloc/8", "frag/kv_mixed",
                  "aligned/posix_memalign/64", "calloc/touch/8M",
                  "xbatch/4/10000/real_time", "xprodcons/4/4/real_time",
                  "xlife/4/real_time"):
            self.assertFalse(self.cmp.SHORT_SELECT.search(n), n)

    def test_cross_families_run_one_benchmark_per_process(self):
        names = ["xbatch/2/10000/real_time", "xbatch/8/10000/real_time",
                 "xlife/2/real_time"]
        units = core.plan_units(names, self.cmp.SPLIT_FAMILIES)
        self.assertEqual([u for u, _ in units], names)

    def test_options(self):
        args = self.cmp.parse_args(["--quarry-so", "/tmp/q.so"])
        self.assertEqual(args.quarry_lib, "/tmp/q.so")
        self.assertEqual(args.syscalls, "auto")
        self.assertEqual(self.cmp.parse_args(["--syscalls", "off"]).syscalls,
                         "off")

    def test_strace_trace_expression(self):
        self.assertEqual(strace.STRACE_TRACE,
                         "trace=madvise,munmap,mmap,mremap,write")

    def test_provider_check(self):
        glibc = {"preload": None}
        self.assertTrue(self.cmp.provider_ok(
            glibc, "/lib/x86_64-linux-gnu/libc.so.6"))
        self.assertFalse(self.cmp.provider_ok(
            glibc, "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"))
        self.assertFalse(self.cmp.provider_ok({"preload": "/x/libq.so"},
                                              "/lib/libc.so.6"))

    def test_process_outcomes(self):
        run = self.cmp.run_process
        env = dict(os.environ)
        self.assertEqual(run([sys.executable, "-c", "pass"], env, 30)[0], "ok")
        self.assertEqual(run([sys.executable, "-c",
                              "import os; os.abort()"], env, 30)[0], "crash")
        self.assertEqual(run([sys.executable, "-c", "exit(3)"], env, 30)[0],
                         "error")
        status, detail, wall, _, _ = run(
            [sys.executable, "-c", "import time; time.sleep(30)"], env, 1)
        self.assertEqual(status, "timeout")
        self.assertLess(wall, 10)


class ChartTest(unittest.TestCase):
    def test_svg_is_well_formed(self):
        groups = [("pair/malloc/16", {"glibc": 1.0, "quarry": 0.5,
                                      "jemalloc": 3000.0}),
                  ("huge & <big>", {"glibc": 1.0, "quarry": "crash",
                                    "jemalloc": 0.25})]
        svg = chart.render_svg(groups, ["glibc", "jemalloc", "quarry"],
                               "glibc", "t")
        root = ET.fromstring(svg)
        self.assertTrue(root.tag.endswith("svg"))
        texts = "".join(t.text or "" for t in root.iter()
                        if t.tag.endswith("text"))
        self.assertIn("quarry: crash", texts)
        self.assertIn("huge & <big>", texts)
        # One bar per non-baseline allocator with a number (3 of 4 values).
        rects = [r for r in root.iter() if r.tag.endswith("rect")
                 and r.find("{http://www.w3.org/2000/svg}title") is not None]
        self.assertEqual(len(rects), 3)


class RealFamiliesTest(unittest.TestCase):
    def test_line_chart_is_well_formed(self):
        svg = chart.render_lines(
            {"glibc": [(0.0, 2**20), (1.0, 3 * 2**20)],
             "quarry": [(0.0, 2**20), (2.0, 2**21)]},
            ["glibc", "quarry"], "t <x>", "s", [(1.0, "purge")])
        root = ET.fromstring(svg)
        lines = [e for e in root.iter() if e.tag.endswith("polyline")]
        self.assertEqual(len(lines), 2)

    def test_summary_worst_case_and_missing(self):
        c = core.Cell
        rows = [("a", {"q": c("ok", 2.0, 1, 1), "g": c("ok", 1.0, 1, 1)}),
                ("b", {"q": c("ok", 1.0, 1, 1), "g": c("crash", None, 0, 1)})]
        e = summary.entry("f", "cpu", rows, ["g", "q"], "q")
        self.assertEqual(e["worst"], ("a", "g", 2.0))
        self.assertEqual(e["rows"], {"g": 1})
        md = "\n".join(summary.render([e], ["g", "q"], "q", ["x.svg"]))
        self.assertIn("| f | cpu | 2.00 | a vs g: 2.00 |", md)

    def test_inputs_are_deterministic(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for gen in (programs.gen_sql, programs.gen_c, programs.gen_json):
                gen(os.path.join(d, "1"), 1)
                gen(os.path.join(d, "2"), 1)
                self.assertEqual(open(os.path.join(d, "1")).read(),
                                 open(os.path.join(d, "2")).read())

    def test_redis_info_parsing(self):
        info = redis.parse_info("# Memory\r\nused_memory:123\r\n"
                                "mem_fragmentation_ratio:1.50\r\n")
        self.assertEqual(info["used_memory"], "123")
        self.assertEqual(info["mem_fragmentation_ratio"], "1.50")

    def test_server_cpu_is_read_in_nanoseconds(self):
        # The scheduler's run time, not /proc/PID/stat's 10 ms ticks.
        import time
        t0 = redis.proc_cpu_ns(os.getpid())
        end = time.process_time() + 0.03
        while time.process_time() < end:
            pass
        spent = redis.proc_cpu_ns(os.getpid()) - t0
        self.assertGreater(spent, 0.015e9)
        self.assertLess(spent, 2e9)

    def test_digests_never_taken_are_not_called_identical(self):
        res = {"mode": {"keys": 10, "requests": 10, "rounds": 1},
               "note": None, "commands": ["SET"], "phases": ["fill"],
               "samples": {}, "memory": {}, "traces": {},
               "digests_equal": False, "digests_complete": False}
        md, _ = redis.report(res, ["glibc", "quarry"], "quarry", ["a.svg"])
        text = "\n".join(md)
        self.assertNotIn("identical under every allocator", text)
        self.assertIn("not compared", text)

    def test_selection(self):
        mod = load_compare_script()
        args = mod.parse_args(["--short"])
        self.assertEqual(real.selected(args), (True, programs.ALL, True))
        args = mod.parse_args(["--short", "--filter", "^pair"])
        self.assertEqual(real.selected(args), (True, [], False))
        args = mod.parse_args(["--programs", "jq,gcc"])
        self.assertEqual(real.selected(args), (False, ["jq", "gcc"], False))
        args = mod.parse_args(["--redis"])
        self.assertEqual(real.selected(args), (False, [], True))


class RedisCallgrindTest(unittest.TestCase):
    """--redis-callgrind's parsing and report, without Redis or valgrind."""

    DUMP = """# callgrind format
events: Ir
summary: 990

ob=(1) /usr/bin/redis-server
fl=(1) ???
fn=(1) main
0 500
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfn=(2) memcpy
calls=3 0
0 400
cob=(3) /opt/libquarry.so
cfn=(3) malloc
calls=2 0
0 90

ob=(2)
fn=(2)
0 300
ob=(3)
fn=(3)
+1 60
* 30
fn=(4) free
-1 110
ob=(4) ???
fn=(5) malloc
0 7
fn=(6) 0x00000000001681c8
0 3

totals: 1010
"""

    def test_objects_named_on_cob_lines(self):
        total, objects = redis_cg.parse_callgrind(self.DUMP.splitlines(True))
        self.assertEqual(total, 1010)
        self.assertEqual(objects, {
            "/usr/bin/redis-server": 500,
            "/usr/lib/x86_64-linux-gnu/libc.so.6": 300,
            "/opt/libquarry.so": 200, "???:malloc": 7, "???": 3})
        # Named code outside every .text (tcmalloc's google_malloc
        # section) counts as the allocator's.
        self.assertEqual(redis_cg.own_cost(objects, "/x/libquarry.so"), 207)

    def test_options(self):
        mod = load_compare_script()
        args = mod.parse_args(["--redis-callgrind", "--redis-requests",
                               "500", "--allocators", "jemalloc,quarry"])
        self.assertTrue(args.redis_callgrind)
        self.assertEqual(args.redis_requests, 500)
        import contextlib
        import io
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(SystemExit):
                mod.parse_args(["--redis-callgrind", "--redis"])
            with self.assertRaises(SystemExit):
                mod.parse_args(["--redis-callgrind", "--callgrind"])

    def test_report(self):
        s = {("glibc", "SET", "total"): [ok(4000.0)],
             ("quarry", "SET", "total"): [ok(3000.0)],
             ("glibc", "SET", "own"): [ok(800.0)],
             ("quarry", "SET", "own"): [ok(200.0)],
             ("glibc", "GET", "total"): [ok(2000.0)],
             ("quarry", "GET", "total"): [{"status": "error"}]}
        res = {"commands": ["SET", "GET"], "requests": 100, "samples": s,
               "objects": {}, "failures": ["quarry GET: x"], "note": None,
               "own_object": {"glibc": "/lib/libc.so.6",
                              "quarry": "/b/libquarry.so"}}
        md, js = redis_cg.report(res, ["glibc", "quarry"], "quarry", "hdr",
                                 lambda f: ["## Failures"] if f else [])
        text = "\n".join(md)
        self.assertIn("| SET | 4000.0 | 3000.0 | 0.75 |", text)
        self.assertIn("| GET | 2000.0 | error | - |", text)
        self.assertIn("| SET | 800.0 | 200.0 | 0.25 |", text)
        self.assertIn("all of libc.so.6", text)
        self.assertIn("**0.75**", text)
        self.assertIn("## Failures", text)
        self.assertEqual(js["instructions_per_request"]["rows"][0]["ratios"],
                         {"glibc": 0.75})
        res["note"] = "valgrind not found; apt-get install valgrind"
        md, _ = redis_cg.report(res, ["glibc", "quarry"], "quarry", "hdr",
                                lambda f: [])
        self.assertIn("Not run: valgrind not found", "\n".join(md))


class TestQuarryVersion(unittest.TestCase):
    """The report header names the library measured, not the checkout."""

    @classmethod
    def setUpClass(cls):
        cls.cmp = load_compare_script()

    def test_build_id_of_an_elf_file(self):
        bid = self.cmp.elf_build_id(os.path.realpath(sys.executable))
        self.assertTrue(bid is None or all(c in "0123456789abcdef"
                                           for c in bid))
        self.assertIsNone(self.cmp.elf_build_id(__file__))

    def test_a_copy_elsewhere_has_no_commit_unless_given(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            so = os.path.join(d, "libquarry.so")
            with open(so, "wb") as f:
                f.write(b"not the tree's library")
            v = self.cmp.quarry_version(so, d)
            self.assertIn(so, v)
            self.assertIn("commit unknown", v)
            self.assertNotIn("HEAD", v)
            v = self.cmp.quarry_version(so, d, "abc1234")
            self.assertIn("commit abc1234 (given by --quarry-commit)", v)
            self.assertIn("not found", self.cmp.quarry_version(
                os.path.join(d, "none.so"), d))


def load_tests(loader, tests, ignore):
    tests.addTests(doctest.DocTestSuite(core))
    tests.addTests(doctest.DocTestSuite(usage))
    tests.addTests(doctest.DocTestSuite(summary))
    return tests


if __name__ == "__main__":
    unittest.main(verbosity=1)
