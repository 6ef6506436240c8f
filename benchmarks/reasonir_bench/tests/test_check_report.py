"""Unit tests of common.py (records, parsers, FLOPs) and report.py (merging, rendering). No GPU; numpy only for
weights-tools' generator (the ReasonIR-8B config) and hf_parity."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

from reasonir_bench import check_report as report
from reasonir_bench import common, flops, pythonpath_env, use_weights_tools, validate

use_weights_tools()
import generate_checkpoint  # noqa: E402

REASONIR_8B = generate_checkpoint.PRESETS["reasonir-8b"]()


class CommonTest(unittest.TestCase):
    def test_flops_match_spec(self):
        # spec: linear layers 13.96 GFLOP per token; attention 0.524 MFLOP x S over 32 layers
        lin = flops.flops_per_token(REASONIR_8B, 0)
        self.assertAlmostEqual(lin / 1e9, 13.96, places=2)
        att = flops.flops_per_token(REASONIR_8B, 512) - lin
        self.assertAlmostEqual(att, 4 * 512 * 4096 * 32)
        self.assertAlmostEqual(att / 512 / 1e6, 0.524, places=3)
        self.assertAlmostEqual(flops.tflops(1e4, REASONIR_8B, 0), lin * 1e4 / 1e12)
        self.assertIsNone(flops.tflops(None, REASONIR_8B, 0))
        # head_dim / kv heads default like HF
        cfg = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
        self.assertEqual(flops.flops_per_token(cfg, 0), 2 * (64 + 2 * 64 + 64 + 3 * 8 * 16))

    def test_percentile_mean_ratio(self):
        self.assertEqual(common.percentile([3, 1, 2], 50), 2)
        self.assertAlmostEqual(common.percentile(list(range(1, 101)), 99), 99.01)
        self.assertIsNone(common.percentile([], 99))
        self.assertEqual(common.percentile([5], 99), 5)
        self.assertEqual(common.mean([1, 2, 3]), 2)
        self.assertIsNone(common.ratio(1, 0))
        self.assertEqual(common.ratio(3, 2), 1.5)

    def test_record_roundtrip_and_sanitize(self):
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "parity", "pass", 1.234, "ok", {"x": float("nan"), "t": (1, 2)})
            rec = common.read_step(d, "parity")
            self.assertEqual(rec["status"], "pass")
            self.assertEqual(rec["elapsed_s"], 1.23)
            self.assertIsNone(rec["data"]["x"])
            self.assertEqual(rec["data"]["t"], [1, 2])
            common.write_step(d, "odd", "weird")
            self.assertEqual(common.read_step(d, "odd")["status"], "error")
            self.assertIsNone(common.read_step(d, "absent"))
            with self.assertRaises(ValueError):
                common.step_path(d, "../x")

    def test_record_cli(self):
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "in.json")
            with open(data, "w") as f:
                json.dump({"a": 1}, f)
            log = os.path.join(d, "log.txt")
            with open(log, "w") as f:
                f.write("x" * 5000 + "END")
            rc = common.main(["record", "--steps-dir", d, "--step", "build", "--status", "fail", "--elapsed", "2",
                              "--summary", "s", "--data", data, "--set", "n=3", "--set", "f=1.5", "--set", "b=true",
                              "--set", "s=hello world", "--error-file", log, "--set-file", "out=" + log])
            self.assertEqual(rc, 0)
            rec = common.read_step(d, "build")
            self.assertEqual(rec["data"], {"a": 1, "n": 3, "f": 1.5, "b": True, "s": "hello world",
                                           "out": rec["data"]["out"]})
            self.assertTrue(rec["data"]["out"].endswith("END") and len(rec["data"]["out"]) < 4100)
            self.assertTrue(rec["error"].endswith("END") and len(rec["error"]) < 3100)

    def test_last_json_object(self):
        self.assertEqual(common.last_json_object('noise\n{"a": 1}\n{"b": 2}\ntrailer'), {"b": 2})
        self.assertEqual(common.last_json_object('x\n{\n "a": [1,\n 2]\n}\n'), {"a": [1, 2]})
        self.assertIsNone(common.last_json_object("nothing here"))
        self.assertIsNone(common.last_json_object(""))

    def test_parse_ctest(self):
        out = validate.parse_ctest("blah\n83% tests passed, 1 tests failed out of 6\n\nTotal Test time (real) = 1 sec"
                                   "\n\nThe following tests FAILED:\n\t  4 - test_cuda_ops (Failed)\n"
                                   "\t  5 - x (Timeout)\nErrors while running CTest\n")
        self.assertEqual((out["passed"], out["failed"], out["total"]), (5, 1, 6))
        self.assertEqual(out["failed_tests"], ["test_cuda_ops (Failed)", "x (Timeout)"])
        self.assertEqual(validate.parse_ctest("100% tests passed, 0 tests failed out of 3")["line"],
                         "3 passed, 0 failed of 3")
        self.assertEqual(validate.parse_ctest("No tests were found!!!")["line"], "no tests matched")

    def test_parse_sanitizer(self):
        p = validate.parse_sanitizer("========= COMPUTE-SANITIZER\nstuff\n========= ERROR SUMMARY: 0 errors\n")
        self.assertEqual(p, {"summary_line": "ERROR SUMMARY: 0 errors", "errors": 0})
        p = validate.parse_sanitizer("========= RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)")
        self.assertEqual(p["errors"], 1)
        self.assertEqual(validate.parse_sanitizer("crash")["summary_line"], None)

    def test_deadline(self):
        self.assertFalse(common.Deadline(None).expired())
        self.assertTrue(common.Deadline(0).expired())
        os.environ["GPU_CHECK_DEADLINE"] = "1"
        try:
            self.assertTrue(common.Deadline().expired())
        finally:
            del os.environ["GPU_CHECK_DEADLINE"]


def sample_steps(d):
    common.write_step(d, "env", "pass", 3, "H100", {"gpu": "NVIDIA H100 80GB HBM3, 580.65, 81559 MiB, 9.0",
                                                     "torch": "2.11.0", "transformers": "5.17.0"})
    common.write_step(d, "build", "pass", 90, "built", {"build_s": 88, "mode": "configured and built"})
    common.write_step(d, "header", "fail", 1, "differs", {}, "static_assert failed: CUBLASLT_MATMUL_DESC_EPILOGUE")
    common.write_step(d, "fixtures", "pass", 1, "3 checkpoints")
    common.write_step(d, "ctest", "pass", 20, "5 passed", {"passed": 5, "failed": 0, "total": 5, "regex": "cuda"})
    common.write_step(d, "sanitizer", "pass", 50, "ok", {"tools": {"memcheck": {"status": "pass", "rc": 0,
                      "elapsed_s": 20, "summary_line": "ERROR SUMMARY: 0 errors"}}})
    cmp = {"min_cosine": 0.99991, "max_abs_diff": 0.01, "ok": True, "finite": True, "per_row_cosine": [0.99991]}
    common.write_step(d, "parity", "pass", 40, "all pass", {"min_cosine_required": 0.9995, "configs": [
        {"config": "llama3_gqa", "sequences": 8, "tokens": 3359, "pass": True,
         "compare": {"ours_vs_hf": cmp, "hf_vs_ref_fp32": cmp, "ours_vs_ref_fp32": cmp},
         "bidirectional": {"bidirectional_max_abs_change_pos0": 0.3, "causal_control_max_abs_change_pos0": 0.0,
                           "ok": True}, "hf_rope": {"ok": True}, "errors": []},
        {"config": "reasonir8b_l2", "skipped": "time budget", "pass": None}]})
    common.write_step(d, "bench", "pass", 120, "fast", {
        "model": {"hidden_size": 4096}, "gemm_ceiling": {"gemm_tflops": 780.0, "source": "torch.matmul bf16"},
        "table": [{"seq_len": 512, "ours_tokens_per_s": 40000.0, "ours_tflops": 569.0, "ours_pct_peak": 57.5,
                   "ours_pct_ceiling": 72.9, "hf_tokens_per_s": 20000.0, "hf_tflops": 284.0, "hf_pct_peak": 28.7,
                   "ours_over_hf": 2.0}],
        "ours": [{"seq_len": 512, "tokens_per_s": 40000.0, "load_s": 4.2}],
        "ours_latency": {"mean_ms": 6.1, "p99_ms": 6.5, "seq_len": 32},
        "hf": {"load_s": 9.5, "latency": {"mean_ms": 25.0, "p99_ms": 30.0}},
        "checkpoint": {"bytes": 16e9, "seconds": 20.0, "reused": False},
        "per_op_ms": {"gemm_qkv": 0.5, "attention": 1.25, "note": "x"}, "errors": [],
        "extrapolated": {"layers": 32, "from_layers": [1, 3], "rows": [
            {"seq_len": 512, "ours_per_layer_ms": 12.0, "ours_overhead_ms": 3.0, "ours_ms": 387.0,
             "ours_tokens_per_s": 42335.9, "ours_tflops": 669.4, "ours_pct_ceiling": 85.8, "hf_per_layer_ms": 30.0,
             "hf_tokens_per_s": 17000.0, "ours_over_hf": 2.49}],
            "latency": {"ours_ms": 6.85, "ours_per_layer_ms": 0.2, "hf_ms": 29.0}}})
    common.write_step(d, "java", "skip", 0, "skipped: no carried JRE")


class ReportTest(unittest.TestCase):
    def test_merge_and_render(self):
        with tempfile.TemporaryDirectory() as d:
            sample_steps(d)
            with open(os.path.join(d, "broken.json"), "w") as f:
                f.write("{not json")
            steps = report.load_steps(d)
            names = [s["step"] for s in steps]
            self.assertEqual(names[:9], report.STEP_ORDER)
            self.assertEqual(names[9], "broken")
            self.assertEqual(steps[9]["status"], "error")
            rep = report.build_report(steps, {"gpu": "H100", "total_elapsed_s": 330}, report.STEP_ORDER)
            self.assertEqual(rep["overall"], "fail")
            self.assertEqual(rep["failed_steps"], ["header", "broken"])
            md = report.render_md(rep)
            for needle in ["# ReasonIR GPU check: FAIL", "| cuBLASLt header check | FAIL |", "0.999910 / 0.01",
                           "| 512 | 40000 | 569.0 | 57.5 | 72.9 | 20000 | 284.0 | 28.7 | 2.00 |",
                           "| ours | 6.10 | 6.50 |", "| HF | 25.00 | 30.00 |", "| attention | 1.250 |",
                           "ours rir_open (bench_embed load_s) | 4.20", "static_assert failed", "skipped",
                           "5 passed, 0 failed of 5", "ERROR SUMMARY: 0 errors", "0.3 (causal 0)",
                           "**Extrapolated, not measured:** 32 layers from the 1- and 3-layer runs",
                           "| 512 | 12.00 | 3.00 | 387.0 | 42336 | 669.4 | 85.8 | 30.00 | 17000 | 2.49 |  |",
                           "extrapolated to 32 layers: ours 6.85 ms (0.200 ms per layer), HF 29.00 ms"]:
                self.assertIn(needle, md)
            text = report.summary_text(rep)
            self.assertIn("overall: FAIL", text)

    def test_missing_steps_and_pass(self):
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "env", "pass", 1, "ok")
            common.write_step(d, "java", "skip", 0, "no JRE")
            rep = report.build_report(report.load_steps(d), {}, ["env", "java"])
            self.assertEqual(rep["overall"], "pass")
            # An expected step without a record was not run (a run cut off from outside): incomplete, not fail.
            rep = report.build_report(report.load_steps(d), {}, ["env", "parity"])
            self.assertEqual((rep["overall"], rep["missing_steps"]), ("incomplete", ["parity"]))
            md = report.render_md(rep)
            self.assertIn("MISSING", md)
            self.assertIn("--steps parity", md)

    def test_verdict_incomplete_is_never_fail(self):
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "env", "pass", 1, "ok")
            common.write_step(d, "sanitizer", "incomplete", 0, "memcheck not run (time budget)")
            rep = report.build_report(report.load_steps(d), {}, ["env", "sanitizer"])
            self.assertEqual(rep["overall"], "incomplete")
            self.assertEqual(rep["incomplete_steps"], ["sanitizer"])
            self.assertIn("rerun them with --steps", report.summary_text(rep))
            # a real failure anywhere wins
            common.write_step(d, "ctest", "fail", 3, "1 failed")
            rep = report.build_report(report.load_steps(d), {}, ["env", "sanitizer", "ctest"])
            self.assertEqual((rep["overall"], rep["failed_steps"]), ("fail", ["ctest"]))
        for overall, code in (("pass", 0), ("fail", 1), ("incomplete", 3)):
            self.assertEqual(report.EXIT_CODES[overall], code)

    def test_same_vectors(self):
        import numpy as np
        from reasonir_bench import hf_parity
        a = np.array([[1.0, 2.0], [3.0, -4.0]], dtype=np.float32)
        self.assertEqual(hf_parity.same_vectors(a, a.copy()), {"equal_bits": True, "max_abs_diff": 0.0,
                                                               "min_cosine": 1.0})
        b = a.copy()
        b[1, 0] = np.nextafter(np.float32(3.0), np.float32(4.0))
        r = hf_parity.same_vectors(a, b)
        self.assertFalse(r["equal_bits"])
        self.assertAlmostEqual(r["max_abs_diff"], 2.384185791015625e-07)
        self.assertGreater(r["min_cosine"], 0.99999)
        r = hf_parity.same_vectors(a, -a)
        self.assertAlmostEqual(r["min_cosine"], -1.0)

    def test_parity_configs_skipped_for_time_are_incomplete(self):
        from reasonir_bench import hf_parity  # numpy only at import time
        ok, bad, late = {"config": "a", "pass": True}, {"config": "b", "pass": False}, \
            {"config": "c", "skipped": "time budget", "pass": None}
        self.assertEqual(hf_parity.verdict([ok, ok], None), "pass")
        self.assertEqual(hf_parity.verdict([ok, late], None), "incomplete")
        self.assertEqual(hf_parity.verdict([late], None), "incomplete")
        self.assertEqual(hf_parity.verdict([ok, bad, late], None), "fail")
        self.assertEqual(hf_parity.verdict([ok], "engine failed to load"), "fail")

    def test_attention_kernels_and_graphs_sections(self):
        # issue 21: parity per attention kernel, the attention sweep, the per-op attention per kernel, and the
        # graphs off/on latency, as the step records carry them
        parity = {"min_cosine_required": 0.9995, "kernel_min_cosine": 0.9999, "attention_kernels": ["sm80", "sm90"],
                  "compute_capability": "9.0",
                  "configs": [{"config": "hd128_l2", "pass": True, "sequences": 4, "tokens": 272,
                               "compare": {"ours_vs_ref_fp32": {"min_cosine": 0.99996, "max_abs_diff": 0.01}},
                               "workflow": {"determinism": {"equal_bits": True}},
                               "kernels": {"sm80": {"status": "pass"},
                                           "sm90": {"status": "pass",
                                                    "compare": {"vs_sm80": {"min_cosine": 0.9999912},
                                                                "vs_ref_fp32": {"min_cosine": 0.9999501}},
                                                    "determinism": {"equal_bits": True}}}},
                              {"config": "h256_l4", "pass": True, "kernels": {
                                  "sm80": {"status": "pass"},
                                  "sm90": {"status": "skip", "reason": "head_dim 32: the sm90 kernel supports 64 and 128"}}}],
                  "kernels": {"sm80": {"status": "pass"}, "sm90": {"status": "pass", "min_cosine_vs_sm80": 0.9999912}}}
        sweep = {"heads": 32, "kv_heads": 8, "head_dim": 128, "batch_tokens": 16384, "peak_tflops": 989.4, "iters": 10,
                 "device": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0",
                 "rows": [{"kernel": "sm80", "seq_len": 8192, "n_seqs": 2, "tokens": 16384,
                           "layout": "packed varlen batch", "tflop": 2.199, "ms": 5.5, "tflops": 399.8,
                           "pct_peak": 40.41, "status": "ok"},
                          {"kernel": "sm90", "seq_len": 32768, "n_seqs": 1, "tokens": 32768, "layout": "one sequence",
                           "tflop": 17.59, "status": "not built", "reason": "this build has no sm90 attention kernel"}]}
        ops = {"layer_ms": 10.0, "attention_ms": 2.0, "attention_kernel": "sm80",
               "attention_kernels": {"sm80": {"status": "ok", "attention_ms": 2.0, "attention_tflops": 275.0,
                                              "layer_ms": 10.0},
                                     "sm90": {"status": "skip", "reason": "compute capability 8.0"}}}
        graphs = {"iters": 50, "warmup": 5, "layers": 3,
                  "rows": [{"tokens": 32, "off": {"mean_ms": 3.0, "p99_ms": 3.5}, "on": {"mean_ms": 2.0, "p99_ms": 2.2},
                            "speedup": 1.5, "equal_bits": True}]}
        ex = {"layers": 32, "from_layers": [1, 3], "rows": [{"tokens": 32, "off_ms": 20.0, "on_ms": 12.5,
                                                             "speedup": 1.6}]}
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "parity", "pass", 10, "ok", parity)
            common.write_step(d, "bench", "pass", 10, "ok", {"per_op_ms": ops, "attention_sweep": sweep,
                                                           "graph_latency": graphs, "extrapolated": {"graph_latency": ex}})
            rep = report.build_report(report.load_steps(d), {}, ["parity", "bench"])
            md = report.render_md(rep)
        for needle in ["### Attention kernels (sm80, sm90)", "min cosine >= 0.9999 per vector against sm80",
                       "| hd128_l2 | sm80 | PASS | (reference) | 0.999960 | n/a | equal bits |  |",
                       "| hd128_l2 | sm90 | PASS | 0.999991 | 0.999950 | n/a | equal bits |  |",
                       "| h256_l4 | sm90 | SKIP | n/a | n/a | n/a | n/a | head_dim 32: the sm90 kernel supports 64 and 128 |",
                       "Per kernel: sm80 PASS; sm90 PASS (min cosine vs sm80 0.999991).",
                       "32 query heads, 8 kv heads, head_dim 128 (8B-shaped)", "% of the 989.4 TFLOP/s",
                       "| sm80 | 8192 | packed varlen batch (2 x 8192) | 2.2 | 5.500 | 399.8 | 40.4 | ok |  |",
                       "| sm90 | 32768 | one sequence (1 x 32768) | 17.6 | n/a | n/a | n/a | not built | this build has no",
                       "| sm80 | ok | 2.000 | 275.0 | 10.000 |  |", "| sm90 | skip | n/a | n/a | n/a | compute capability 8.0 |",
                       "### Batch-1 latency with CUDA graphs off and on",
                       "| 32 | 3.000 | 3.500 | 2.000 | 2.200 | 1.50 | yes |  |",
                       "32 layers from the 1- and 3-layer runs", "| 32 | 20.00 | 12.50 | 1.60 |  |"]:
            self.assertIn(needle, md)
        self.assertNotIn("Other fields", md)  # the kernels' dict has its own table

    def test_sm90_end_to_end_and_graphs_per_kernel(self):
        # gpu_bench's table_sm90 / graph_latency_sm90 (measured only, no extrapolation): one S ran, one failed; the
        # sm90 graphs were refused at open: a skip line, and no per-kernel comparison (nothing to set against)
        t90 = [{"seq_len": 512, "sm80_tokens_per_s": 400000.0, "sm90_tokens_per_s": 440000.0, "sm90_tflops": 590.25,
                "sm90_pct_peak": 59.68, "sm90_over_sm80": 1.1, "sm90_skip": None, "sm90_error": None},
               {"seq_len": 8192, "sm80_tokens_per_s": 270000.0, "sm90_tokens_per_s": None, "sm90_tflops": None,
                "sm90_over_sm80": None, "sm90_skip": None, "sm90_error": "rc 1: CUDA error: boom"}]
        graphs = {"iters": 50, "warmup": 5, "layers": 3,
                  "rows": [{"tokens": 32, "off": {"mean_ms": 3.0}, "on": {"mean_ms": 2.0}, "speedup": 1.5,
                            "equal_bits": True}]}
        g90 = {"iters": 50, "warmup": 5, "layers": 3, "skip": "m: attention sm90 supports head_dim 64 and 128",
               "rows": [{"tokens": 32, "skip": "m: attention sm90 supports head_dim 64 and 128"}]}
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "bench", "fail", 10, "x", {"model": {"num_hidden_layers": 3}, "table_sm90": t90,
                                                          "graph_latency": graphs, "graph_latency_sm90": g90})
            md = report.render_md(report.build_report(report.load_steps(d), {}, ["bench"]))
        self.assertIn("### End to end per attention kernel (sm80 vs sm90)", md)
        self.assertNotIn("**Extrapolated, not measured:** 32 layers", md)
        self.assertIn("| 512 | 400000 | 440000 | 1.100 | 590.2 | 59.7 |  |", md)
        self.assertIn("| 8192 | 270000 | n/a | n/a | n/a | n/a | rc 1: CUDA error: boom |", md)
        self.assertIn("### Batch-1 latency with CUDA graphs off and on, the default attention kernel (auto = sm80)", md)
        self.assertIn("skip: the engine refused sm90 at open: m: attention sm90 supports head_dim 64 and 128", md)
        self.assertNotIn("Batch-1 latency per attention kernel", md)
        # with sm90 graphs measured, the side-by-side table
        g90 = dict(graphs, rows=[{"tokens": 32, "off": {"mean_ms": 2.4}, "on": {"mean_ms": 1.5}}])
        with tempfile.TemporaryDirectory() as d:
            common.write_step(d, "bench", "pass", 10, "x", {"graph_latency": graphs, "graph_latency_sm90": g90})
            md = report.render_md(report.build_report(report.load_steps(d), {}, ["bench"]))
        self.assertIn("| 32 | 3 measured | 3.000 | 2.400 | 0.800 | 2.000 | 1.500 | 0.750 |", md)

    def test_attention_kernel_rules(self):
        from reasonir_bench import hf_parity
        self.assertIsNone(hf_parity.kernel_skip_reason("sm80", 16, "8.0"))
        self.assertIn("compute capability 8.0", hf_parity.kernel_skip_reason("sm90", 128, "8.0"))
        self.assertIn("head_dim 32", hf_parity.kernel_skip_reason("sm90", 32, "9.0"))
        self.assertIsNone(hf_parity.kernel_skip_reason("sm90", 128, "9.0"))
        self.assertIsNone(hf_parity.kernel_skip_reason("sm90", 64, ""))  # unknown GPU: the library decides
        ok = {"config": "a", "pass": True, "kernels": {"sm80": {"status": "pass"}, "sm90": {"status": "skip",
                                                                                          "reason": "not built: x"}}}
        late = {"config": "b", "pass": True, "kernels": {"sm80": {"status": "pass"},
                                                          "sm90": {"status": "skip", "reason": "time budget"}}}
        self.assertEqual(hf_parity.verdict([ok], None), "pass")  # a kernel the build lacks is no failure
        self.assertEqual(hf_parity.verdict([ok, late], None), "incomplete")  # one not run for time: not the end
        summ = hf_parity.kernel_summary([ok, late], ["sm80", "sm90"])
        self.assertEqual(summ["sm80"]["status"], "pass")
        self.assertEqual(summ["sm90"]["status"], "skip")
        self.assertEqual(summ["sm90"]["reasons"], ["not built: x", "time budget"])

    def test_run_kernel_classifies_open_errors(self):
        from unittest import mock
        from reasonir_bench import engine, hf_parity

        class Args:
            kernels = ["sm80", "sm90"]
            lib, engine_device, precision = "lib.so", "cuda", "default"
            min_cosine, kernel_min_cosine = 0.9995, 0.9999

        def refuse(msg):
            def f(*a, **k):
                raise engine.EngineError(engine.RIR_ERR_DEVICE, msg)
            return f
        with mock.patch.object(engine, "Engine", refuse("cuda:0 (H100): attention sm90 is not in this build")):
            e = hf_parity.run_kernel("sm90", "m", [([1], 0)], {}, Args, 16, None)
        self.assertEqual(e["status"], "skip")
        self.assertIn("attention sm90 is not in this build", e["reason"])
        with mock.patch.object(engine, "Engine", refuse("cuda:0: out of memory")):
            e = hf_parity.run_kernel("sm90", "m", [([1], 0)], {}, Args, 16, None)
        self.assertEqual(e["status"], "error")
        self.assertEqual(hf_parity.run_kernel("sm90", "m", [], {}, Args, 16, "head_dim 32")["status"], "skip")

    def test_graphs_extrapolation_and_summary(self):
        from reasonir_bench import gpu_bench, graph_latency
        import numpy as np
        a = {"layers": 1, "graph_latency": {"rows": [{"tokens": 32, "off": {"mean_ms": 1.2}, "on": {"mean_ms": 0.7}}]}}
        b = {"layers": 3, "graph_latency": {"rows": [{"tokens": 32, "off": {"mean_ms": 2.0}, "on": {"mean_ms": 1.1}}]}}
        ex = gpu_bench.extrapolate_graphs(a, b, 32)
        r = ex["rows"][0]
        self.assertAlmostEqual(r["off_ms"], 1.2 + 31 * 0.4)
        self.assertAlmostEqual(r["on_ms"], 0.7 + 31 * 0.2)
        self.assertAlmostEqual(r["speedup"], (1.2 + 31 * 0.4) / (0.7 + 31 * 0.2))
        self.assertEqual(ex["from_layers"], [1, 3])
        s = gpu_bench.extras_summary({"attention_sweep": {"rows": [
            {"kernel": "sm80", "seq_len": 512, "status": "ok", "tflops": 300.0},
            {"kernel": "sm80", "seq_len": 8192, "status": "ok", "tflops": 410.0},
            {"kernel": "sm90", "seq_len": 512, "status": "not built"}]},
            "graph_latency": {"rows": [{"tokens": 32, "speedup": 1.5, "equal_bits": False}]}})
        self.assertEqual(s, "attention sm80 up to 410 TFLOP/s (S=8192); attention sm90 not built; "
                            "graphs 32 tok x1.50 BITS DIFFER")
        x = np.array([[1.0, -2.0]], dtype=np.float32)
        self.assertEqual(graph_latency.compare_bits(x, x.copy()), {"equal_bits": True, "max_abs_diff": 0.0})
        y = x.copy()
        y[0, 1] = np.nextafter(np.float32(-2.0), np.float32(0))
        self.assertFalse(graph_latency.compare_bits(x, y)["equal_bits"])
        self.assertFalse(graph_latency.ok({"rows": [{"equal_bits": False}], "errors": []}))
        self.assertFalse(graph_latency.ok({"rows": [], "errors": []}))
        self.assertTrue(graph_latency.ok({"rows": [{"equal_bits": True}], "errors": []}))

    def test_main_writes_files(self):
        with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as out:
            sample_steps(d)
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.check_report", "--steps-dir", d, "--out-dir", out,
                                "--meta", "gpu=NVIDIA H100", "--meta", "total_elapsed_s=300"],
                               capture_output=True, text=True, env=pythonpath_env())
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("overall: FAIL", p.stdout)
            self.assertEqual(sorted(os.listdir(out)), ["report.json", "report.md"])
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            self.assertEqual(rep["meta"]["gpu"], "NVIDIA H100")
            self.assertEqual(len(rep["steps"]), 9)


if __name__ == "__main__":
    unittest.main()
