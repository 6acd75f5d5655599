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
                 "aligned/aligned_alloc/64", "huge/touch/5-25M"]
        for n in names:
            self.assertTrue(self.cmp.SHORT_SELECT.search(n), n)
        for n in ("pair/malloc/160", "pair/malloc/8", "frag/kv_mixed",
                  "aligned/posix_memalign/64", "calloc/touch/8M"):
            self.assertFalse(self.cmp.SHORT_SELECT.search(n), n)

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


def load_tests(loader, tests, ignore):
    tests.addTests(doctest.DocTestSuite(core))
    return tests


if __name__ == "__main__":
    unittest.main(verbosity=1)
