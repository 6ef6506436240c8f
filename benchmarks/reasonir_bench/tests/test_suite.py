"""Tests of suite.py's plumbing (what it runs, and what it stores in results.json) with the tools faked: the
ceilings of both precisions, BF16 embed rows against their own ceiling with their drift, the ops suite (per-op profile
and per-ISA rows), latency in both precisions, search with 64 and 1 queries, and --native.

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_suite

No native tool, JVM or checkpoint is needed: Runner.run_json is replaced by FakeTools, which answers in the JSON
formats of native/bench/bench_gemm.cpp, bench_embed.cpp, bench_ops.cpp, SearchBench and peer_torch.py.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import stat
import sys
import tempfile
import unittest

from reasonir_bench import suite as run_suite

GEMM_NEW = {"isa": "avx512bf16", "threads": 2, "kernel_name": "avx512", "fma_peak_gflops": 270.0,
            "kernel_gflops": 250.0, "gemm_gflops": 200.0, "bf16_kernel_name": "avx512bf16", "bf16_instr": "vdpbf16ps",
            "bf16_peak_gflops": 540.0, "bf16_kernel_gflops": 500.0, "bf16_gemm_gflops": 400.0,
            "mem_read_gbps": 20.0, "size": 2048, "iters": 10}
GEMM_OLD = {k: GEMM_NEW[k] for k in ("isa", "threads", "kernel_name", "fma_peak_gflops", "kernel_gflops",
                                     "gemm_gflops", "size", "iters")}
# per ISA level: (attention, GEMM) GFLOP/s the fake bench_ops reports
ISA_RATES = {"avx2": (70.0, 90.0), "avx512": (100.0, 140.0), "avx512bf16": (130.0, 170.0), "amx": (190.0, 600.0)}


def _arg(cmd, flag):
    return cmd[cmd.index(flag) + 1]


class FakeTools:
    """Stands in for Runner.run_json: records each call and answers as the tool would."""

    def __init__(self, runner, gemm=None, fail=None):
        self.runner = runner
        self.gemm = gemm or GEMM_NEW
        self.fail = fail  # predicate(cmd, env) -> raise SuiteError
        self.calls = []

    def __call__(self, cmd, timeout, what, env=None):
        env = env or self.runner.env
        self.calls.append({"cmd": list(cmd), "timeout": timeout, "what": what, "isa": env.get("REASONIR_CPU_ISA")})
        if self.fail and self.fail(cmd, env):
            raise run_suite.SuiteError(f"{what}: exit 1: fake failure")
        exe = os.path.basename(cmd[1] if cmd[0] == sys.executable else cmd[0])
        if cmd[0] == sys.executable and cmd[1] == "-m":
            exe = cmd[2]
        if exe == "bench_gemm":
            return dict(self.gemm)
        if exe == "bench_ops":
            return self.bench_ops(cmd, env)
        if exe == "bench_embed":
            prec = _arg(cmd, "--precision")
            total = int(_arg(cmd, "--batch-tokens")) if "--batch-tokens" in cmd else 1000
            tps = 2000.0 if prec == "bf16" else 1000.0
            return {"tokens_per_s": tps, "tflops": tps * 0.2 / 1e3, "seq_len": int(_arg(cmd, "--seq-len"))
                    if "--seq-len" in cmd else 512, "batch_tokens": total, "n_seqs": 4, "mean_ms": 10.0 if
                    prec == "bf16" else 20.0, "p50_ms": 9.0, "p99_ms": 12.0, "load_s": 0.1, "precision": prec,
                    "min_cos_vs_fp32": 0.99991 if "--drift" in cmd and prec != "fp32" else None}
        if exe == "reasonir_bench.peer_torch":
            return {"peer": "fake torch", "tokens_per_s": 500.0, "gflops": 100.0, "mean_ms": 60.0, "p50_ms": 59.0,
                    "p99_ms": 70.0}
        if "dev.reasonir.bench.SearchBench" in cmd:
            q = int(_arg(cmd, "--queries"))
            return {"rows": int(_arg(cmd, "--rows")), "dim": 4096, "dtype": "f16", "queries": q, "k": 100,
                    "threads": int(_arg(cmd, "--threads")), "queries_per_s": 9.0 if q > 1 else 1.5,
                    "gflops": 75.0 if q > 1 else 12.0, "gb_per_s": 1.2 if q > 1 else 12.0}
        raise AssertionError(f"unexpected command {cmd}")

    @staticmethod
    def bench_ops(cmd, env):
        own = "avx512bf16"
        isa = env.get("REASONIR_CPU_ISA") or own
        att, gemm = ISA_RATES[isa]
        S, B = int(_arg(cmd, "--seq-len")), int(_arg(cmd, "--batch-tokens"))
        # the GEMMs at different times but one rate each: their FLOPs over their time is `gemm`, except that qkv runs
        # at twice the rate for a quarter of the time of gate_up (checks the FLOP-weighted mean below)
        ops = [{"op": "attn_norm", "ms": 2.0, "share": 0.01, "gflops": None, "gbps": 9.0},
               {"op": "qkv", "ms": 100.0, "share": 0.1, "gflops": 2 * gemm, "gbps": None},
               {"op": "attention", "ms": 300.0, "share": 0.3, "gflops": att, "gbps": None},
               {"op": "o_proj", "ms": 100.0, "share": 0.1, "gflops": gemm, "gbps": None},
               {"op": "gate_up", "ms": 400.0, "share": 0.4, "gflops": gemm, "gbps": None},
               {"op": "down", "ms": 98.0, "share": 0.09, "gflops": gemm, "gbps": None}]
        return {"isa": isa, "precision": _arg(cmd, "--precision"), "threads": int(_arg(cmd, "--threads")),
                "seq_len": S, "batch_tokens": B, "n_seqs": max(1, B // S), "total_ms": 1000.0,
                "tokens_per_s": B / 1.0, "gflops": 150.0, "ops": ops}


def expected_gemm(gemm):
    return (2 * gemm * 100 + gemm * (100 + 400 + 98)) / (100 + 100 + 400 + 98)


class RunnerTestBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        for name in ("bench_gemm", "bench_embed", "bench_ops"):
            path = os.path.join(self.tmp.name, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho 'usage: bench_embed --model DIR [--drift] [--json]'\n")
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)

    def runner(self, quick=False, no_peer=False, gemm=None, fail=None, native=None, ops_shapes=None):
        args = argparse.Namespace(quick=quick, threads=2, passthrough=[], native=native or self.tmp.name,
                                  no_peer=no_peer, suites=None, out=None, ops_shapes=ops_shapes)
        r = run_suite.Runner(args)
        r.results["machine"] = {"threads": 2}
        fake = FakeTools(r, gemm=gemm, fail=fail)
        r.run_json = fake
        r.log = lambda msg: None
        return r, fake


class CeilingTest(RunnerTestBase):
    def test_both_precisions_and_memory(self):
        r, _ = self.runner()
        r.suite_ceiling()
        c = r.results["ceiling"]
        self.assertEqual(c["gflops"], 250.0)
        self.assertEqual((c["bf16_gflops"], c["bf16_peak_gflops"], c["bf16_instr"], c["bf16_kernel_name"],
                          c["bf16_gemm_gflops"]), (500.0, 540.0, "vdpbf16ps", "avx512bf16", 400.0))
        self.assertEqual((c["fma_peak_gflops"], c["gemm_gflops"], c["kernel_name"], c["mem_read_gbps"]),
                         (270.0, 200.0, "avx512", 20.0))
        self.assertIn("fp32 GEMM microkernel (avx512) and the BF16 mode's (avx512bf16, vdpbf16ps)", c["how"])
        self.assertIn("reached 200 GFLOP/s (fp32) and 400 GFLOP/s (bf16)", c["how"])
        self.assertEqual(r.results["machine"]["isa"], "avx512bf16")
        self.assertEqual(r.precision_ceiling("bf16"), 500.0)
        self.assertEqual(r.precision_ceiling("fp32"), 250.0)

    def test_older_bench_gemm(self):
        r, _ = self.runner(gemm=GEMM_OLD)
        r.suite_ceiling()
        c = r.results["ceiling"]
        self.assertEqual(c["gflops"], 250.0)
        for k in ("bf16_gflops", "bf16_peak_gflops", "bf16_instr", "bf16_kernel_name", "bf16_gemm_gflops",
                  "mem_read_gbps"):
            self.assertIn(k, c)
            self.assertIsNone(c[k], k)
        self.assertIn("this bench_gemm measures no BF16 ceiling", c["how"])
        self.assertIsNone(r.precision_ceiling("bf16"))


class EmbedTest(RunnerTestBase):
    def test_bf16_rows_own_ceiling_drift_and_peer(self):
        r, fake = self.runner(quick=True)
        r.suite_ceiling()
        r.suite_embed()
        rows = r.results["suites"]["embed"]["rows"]
        bf16 = [x for x in rows if x["precision"] == "bf16"]
        self.assertEqual([(x["checkpoint"], x["seq_len"], x["batch_tokens"]) for x in bf16],
                         [("h256_l4", 512, 8192), ("medium", 1024, 4096)])
        for x in bf16:
            self.assertAlmostEqual(x["ours"]["gflops"], 400.0)
            self.assertAlmostEqual(x["fraction_of_ceiling"], 400.0 / 500.0)  # bf16 ceiling, not 250
            self.assertEqual(x["min_cos_vs_fp32"], 0.99991)
            self.assertEqual(x["peer"]["tokens_per_s"], 500.0)  # the fp32 row's peer, reused
            self.assertAlmostEqual(x["ratio"], 4.0)
        fp32 = [x for x in rows if x["precision"] == "fp32"]
        for x in fp32:
            self.assertAlmostEqual(x["fraction_of_ceiling"], 200.0 / 250.0)
            self.assertIsNone(x["min_cos_vs_fp32"])
        embed_calls = [c["cmd"] for c in fake.calls if os.path.basename(c["cmd"][0]) == "bench_embed"]
        for cmd in embed_calls:
            self.assertEqual("--drift" in cmd, _arg(cmd, "--precision") == "bf16", cmd)
        peers = [c for c in fake.calls if c["cmd"][0] == sys.executable]
        self.assertEqual(len(peers), len(fp32))  # never for a bf16 row

    def test_full_plan_bf16_shapes(self):
        r, _ = self.runner()
        plan = r.embed_plan()
        bf16 = [(p["ck"], p["S"], p["B"]) for p in plan if p.get("precision") == "bf16"]
        self.assertEqual([(ck, s) for ck, s, _ in bf16],
                         [("h256_l4", s) for s in (128, 512, 1024, 2048, 8192)] +
                         [("medium", s) for s in (128, 512, 1024, 2048)])
        fp32 = {(p["ck"], p["S"], p["B"]) for p in plan if p.get("precision", "fp32") == "fp32" and not p.get("mixed")}
        for shape in bf16:
            self.assertIn(shape, fp32)  # the same shape in fp32: BF16 / FP32 per shape, the peer reused
        first_bf16 = min(i for i, p in enumerate(plan) if p.get("precision") == "bf16")
        self.assertTrue(all(p.get("precision") == "bf16" or p.get("mixed") for p in plan[first_bf16:]))

    def test_older_bench_embed_without_drift(self):
        with open(os.path.join(self.tmp.name, "bench_embed"), "w") as f:
            f.write("#!/bin/sh\necho 'usage: bench_embed --model DIR [--json]'\n")
        r, _ = self.runner()
        self.assertEqual(r.drift_flag(), [])
        r2, _ = self.runner()
        with open(os.path.join(self.tmp.name, "bench_embed"), "w") as f:
            f.write("#!/bin/sh\necho 'usage: bench_embed --model DIR [--drift] [--json]'\n")
        self.assertEqual(r2.drift_flag(), ["--drift"])


class OpsTest(RunnerTestBase):
    def test_ops_shapes_option(self):
        self.assertEqual(run_suite.ops_shapes("medium:128, h256_l4:8192"), [("medium", 128), ("h256_l4", 8192)])
        for bad in ("medium", "large:128", "medium:0", "medium:x", ","):
            with self.assertRaises(argparse.ArgumentTypeError):
                run_suite.ops_shapes(bad)
        r = self.runner(ops_shapes=[("medium", 128)])[0]
        shapes, isa = r.ops_plan()
        self.assertEqual(shapes, [("medium", 128)])
        self.assertEqual(isa, ("medium", 1024))

    def test_full_profile_and_per_isa(self):
        r, fake = self.runner()
        r.suite_ceiling()
        r.suite_ops()
        s = r.results["suites"]["ops"]
        self.assertEqual((s["isa"], s["iters"], s["warmup"], s["isa_checkpoint"], s["isa_seq_len"]),
                         ("avx512bf16", 1, 1, "medium", 1024))
        ops_calls = [c for c in fake.calls if os.path.basename(c["cmd"][0]) == "bench_ops"]
        prof = [c for c in ops_calls if c["isa"] is None]
        self.assertEqual(len(prof), 12)  # 2 precisions x 2 checkpoints x S 128, 1024, 8192
        for c in prof:
            S = int(_arg(c["cmd"], "--seq-len"))
            self.assertEqual(int(_arg(c["cmd"], "--batch-tokens")), 8192 if S == 8192 else 4096)
            self.assertEqual((_arg(c["cmd"], "--iters"), _arg(c["cmd"], "--warmup")), ("1", "1"))
            self.assertEqual(c["timeout"], 900 if S == 8192 else 300)
        self.assertEqual({(r_["checkpoint"], r_["seq_len"], r_["precision"]) for r_ in s["rows"]},
                         {(ck, S, p) for ck in ("h256_l4", "medium") for S in (128, 1024, 8192)
                          for p in ("fp32", "bf16")})
        self.assertEqual(s["rows"][0]["ops"][1], {"op": "qkv", "ms": 100.0, "share": 0.1, "gflops": 340.0,
                                                  "gbps": None})
        # avx2 and avx512 run capped; the engine's own level (avx512bf16) is the profile's medium S=1024 row
        capped = [(c["isa"], _arg(c["cmd"], "--precision"), _arg(c["cmd"], "--model")) for c in ops_calls if c["isa"]]
        self.assertEqual([(i, p) for i, p, _ in capped],
                         [("avx2", "fp32"), ("avx512", "fp32"), ("avx2", "bf16"), ("avx512", "bf16")])
        self.assertTrue(all(m.endswith(os.path.join("ckpt", "medium")) for _, _, m in capped))
        rows = s["isa_rows"]
        self.assertEqual([(x["isa_requested"], x["isa"], x["precision"]) for x in rows],
                         [(lvl, lvl, p) for p in ("fp32", "bf16") for lvl in ("avx2", "avx512", "avx512bf16")])
        for x in rows:
            att, gemm = ISA_RATES[x["isa"]]
            self.assertEqual(x["attention_gflops"], att)
            self.assertAlmostEqual(x["gemm_gflops"], expected_gemm(gemm))
            self.assertAlmostEqual(x["attention_vs_gemm"], att / expected_gemm(gemm))
            self.assertEqual((x["checkpoint"], x["seq_len"], x["batch_tokens"], x["tokens_per_s"]),
                             ("medium", 1024, 4096, 4096.0))
        self.assertEqual(r.results["errors"], [])

    def test_quick_plan_and_failures_continue(self):
        r, fake = self.runner(quick=True, fail=lambda cmd, env: env.get("REASONIR_CPU_ISA") == "avx2"
                              and _arg(cmd, "--precision") == "bf16")
        r.suite_ceiling()
        r.suite_ops()
        s = r.results["suites"]["ops"]
        self.assertEqual([(x["checkpoint"], x["seq_len"]) for x in s["rows"]],
                         [("h256_l4", 128), ("h256_l4", 1024), ("medium", 128)] * 2)
        self.assertEqual((s["isa_checkpoint"], s["isa_seq_len"]), ("h256_l4", 1024))
        self.assertEqual([(x["isa"], x["precision"]) for x in s["isa_rows"]],
                         [("avx2", "fp32"), ("avx512", "fp32"), ("avx512bf16", "fp32"), ("avx512", "bf16"),
                          ("avx512bf16", "bf16")])
        self.assertEqual(len(r.results["errors"]), 1)
        self.assertEqual(r.results["errors"][0]["suite"], "ops")
        self.assertIn("REASONIR_CPU_ISA=avx2", r.results["errors"][0]["message"])

    def test_levels_follow_the_engines_isa(self):
        for own, levels in (("avx2", ["avx2"]), ("amx", ["avx2", "avx512", "avx512bf16", "amx"]),
                            ("scalar", [])):
            r, fake = self.runner(quick=True, gemm=dict(GEMM_NEW, isa=own))
            if own == "scalar":
                fake.bench_ops = lambda cmd, env: dict(FakeTools.bench_ops(cmd, env), isa="scalar")
            r.suite_ceiling()
            r.suite_ops()
            got = [x["isa_requested"] for x in r.results["suites"]["ops"]["isa_rows"] if x["precision"] == "fp32"]
            self.assertEqual(got, levels, own)
        self.assertNotIn("isa_note", r.results["suites"]["ops"])


class LatencySearchTest(RunnerTestBase):
    def test_latency_both_precisions(self):
        r, fake = self.runner()
        r.suite_latency()
        rows = r.results["suites"]["latency"]["rows"]
        self.assertEqual([(x["precision"], x["tokens"]) for x in rows],
                         [(p, n) for p in ("fp32", "bf16") for n in (8, 32, 128)])
        self.assertEqual(len([c for c in fake.calls if c["cmd"][0] == sys.executable]), 3)  # peer: fp32 only
        for x in rows:
            self.assertEqual(x["peer"]["mean_ms"], 60.0)
            self.assertAlmostEqual(x["ratio"], 60.0 / x["ours"]["mean_ms"])
            self.assertEqual(x["min_cos_vs_fp32"], 0.99991 if x["precision"] == "bf16" else None)

    def test_search_64_and_1(self):
        r, fake = self.runner()
        r.suite_ceiling()
        r.suite_search()
        rows = r.results["suites"]["search"]["rows"]
        self.assertEqual([x["queries"] for x in rows], [64, 1])
        self.assertAlmostEqual(rows[0]["fraction_of_ceiling"], 75.0 / 250.0)
        self.assertAlmostEqual(rows[1]["fraction_of_memory"], 12.0 / 20.0)
        for c in fake.calls[1:]:
            self.assertEqual(_arg(c["cmd"], "--threads"), "2")


class NativeOptionTest(RunnerTestBase):
    def test_native_dir_recorded_and_used(self):
        r, fake = self.runner()
        self.assertEqual(r.results["native_dir"], self.tmp.name)  # outside the repository: absolute
        r.suite_ceiling()
        self.assertEqual(fake.calls[0]["cmd"][0], os.path.join(self.tmp.name, "bench_gemm"))
        os.remove(os.path.join(self.tmp.name, "bench_ops"))
        with self.assertRaises(run_suite.SuiteError) as cm:
            r.tool("bench_ops")
        self.assertIn("bench_ops not found in " + self.tmp.name, str(cm.exception))
        inside = os.path.join(run_suite.ROOT, "build", "native")
        r2, _ = self.runner(native=inside)
        self.assertEqual(r2.results["native_dir"], os.path.join("build", "native"))

    def test_cli_rejects_missing_native_and_adds_ceiling(self):
        with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
            run_suite.main(["--native", os.path.join(self.tmp.name, "nope"), "--suites", "ops"])
        self.assertIn("--native", err.getvalue())
        self.assertEqual(run_suite.SUITES.index("ops"), run_suite.SUITES.index("embed") + 1)
        seen = {}

        class Stop(Exception):
            pass

        def fake_run(self_, suites):
            seen["suites"] = suites
            raise Stop()

        orig = run_suite.Runner.run
        run_suite.Runner.run = fake_run
        try:
            with self.assertRaises(Stop):
                run_suite.main(["--suites", "ops", "--native", self.tmp.name])
        finally:
            run_suite.Runner.run = orig
        self.assertEqual(seen["suites"], ["ceiling", "ops"])


if __name__ == "__main__":
    unittest.main()
