"""Tests of the report package (results.json -> report.md + plots) and of the GPU benchmark's results.json in the
suite's schema (gpu_bench.py --results-dir, built by gpu_results.py).

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_report

The plot tests skip when matplotlib is not importable (the pyenv python3 on PATH has none); the markdown tests run
anywhere. The GPU benchmark's input is made by the GPU check's own code (gpu_bench.main with its command runner
replaced, common record, check_report main), not written by hand.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from reasonir_bench import ROOT, check_report, common, flops, gpu_results, pythonpath_env, report, use_weights_tools
from reasonir_bench import gpu_bench as bench

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
NO_MPL = ("matplotlib is not installed for this interpreter (" + sys.executable + "); run the suite with "
          "/usr/bin/python3, which has Debian's python3-matplotlib")
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def op(name, ms, share, gflops=None, gbps=None):
    return {"op": name, "ms": ms, "share": share, "gflops": gflops, "gbps": gbps}


# bench_ops profiles of medium at S = 1024 (4096 tokens): the GEMMs' FLOPs over their time are
# (170 x 600 + 175 x 400 + 168 x 2200 + 166 x 1100) / (600 + 400 + 2200 + 1100) = 724200 / 4300 = 168.42 GFLOP/s
MEDIUM_FP32_OPS = [op("embed", 1.96, 0.0004, gbps=12.8), op("attn_norm", 25.4, 0.0046, gbps=10.55),
                   op("qkv", 600.0, 0.112, gflops=170.0), op("attention", 1000.0, 0.187, gflops=130.0),
                   op("o_proj", 400.0, 0.075, gflops=175.0), op("gate_up", 2200.0, 0.41, gflops=168.0),
                   op("down", 1100.0, 0.205, gflops=166.0), op("pool", 8.87, 0.0016, gbps=1.89)]
MEDIUM_FP32_GEMM = 724200.0 / 4300.0
# bf16: (240 x 160 + 200 x 130 + 250 x 550 + 230 x 310) / (160 + 130 + 550 + 310) = 273200 / 1150 = 237.57
MEDIUM_BF16_OPS = [op("attn_norm", 29.6, 0.0136, gbps=9.06), op("qkv", 160.0, 0.074, gflops=240.0),
                   op("attention", 700.0, 0.33, gflops=192.0), op("o_proj", 130.0, 0.059, gflops=200.0),
                   op("gate_up", 550.0, 0.25, gflops=250.0), op("swiglu", 197.0, 0.09, gbps=5.62),
                   op("down", 310.0, 0.143, gflops=230.0)]
MEDIUM_BF16_GEMM = 273200.0 / 1150.0


def sample_results() -> dict:
    """A complete CPU run: every suite, two checkpoints, null peers, a ratio left for the report to compute, and
    one suite (search) that failed part-way. Ceilings of both precisions (fp32 251, bf16 480 GFLOP/s), BF16 embed
    rows (one with its fraction of the ceiling left for the report to compute), the per-op profile and per-ISA rows,
    latency in both precisions and search with 64 and 1 queries."""
    def embed_row(ck, S, bt, ours_tps, ours_gf, peer_tps, peer_gf, ratio="auto", precision="fp32", min_cos=None,
                  fraction="auto"):
        row = {"checkpoint": ck, "seq_len": S, "batch_tokens": bt, "n_seqs": bt // S, "precision": precision,
               "ours": {"tokens_per_s": ours_tps, "gflops": ours_gf, "mean_ms": bt / ours_tps * 1e3, "iters": 5},
               "peer": None if peer_tps is None else {"tokens_per_s": peer_tps, "gflops": peer_gf,
                                                      "mean_ms": bt / peer_tps * 1e3, "iters": 3},
               "fraction_of_ceiling": ours_gf / (480.0 if precision == "bf16" else 251.0),
               "min_cos_vs_fp32": min_cos}
        if fraction == "absent":
            del row["fraction_of_ceiling"]
        if ratio == "auto":
            row["ratio"] = None if peer_tps is None else ours_tps / peer_tps
        elif ratio != "absent":
            row["ratio"] = ratio
        return row

    return {
        "schema": "reasonir-bench/1",
        "started": "2026-11-26T18:40:00+00:00",
        "elapsed_s": 812.4,
        "command": "benchmarks/run.sh --quick",
        "mode": "quick",
        "device": "cpu",
        "machine": {"name": "epyc-2c", "cpu": "AMD EPYC 9R14 (Zen 4)", "cores": 2, "threads": 2, "memory_gb": 24.0,
                    "isa": "avx512bf16", "gpu": None, "os": "Debian GNU/Linux 12", "java": "17.0.13",
                    "python": "3.11.2", "torch": "1.13.0a0", "transformers": None},
        "native_dir": "build/native",
        "ceiling": {"gflops": 251.0, "how": "bench_gemm: 4096 x 4096 x 4096 fp32, 2 threads, best of 5",
                    "fma_peak_gflops": 270.0, "datasheet_gflops": None, "kernel_name": "avx512", "gemm_gflops": 198.0,
                    "bf16_gflops": 480.0, "bf16_peak_gflops": 540.0, "bf16_instr": "vdpbf16ps",
                    "bf16_kernel_name": "avx512bf16", "bf16_gemm_gflops": 350.0, "mem_read_gbps": 20.0},
        "checkpoints": [
            {"name": "h256_l4", "hidden": 256, "layers": 4, "heads": 8, "kv_heads": 4, "head_dim": 32,
             "intermediate": 688, "vocab": 128256, "bytes": 71000000},
            {"name": "medium", "hidden": 1024, "layers": 8, "heads": 16, "kv_heads": 8, "head_dim": 64,
             "intermediate": 2816, "vocab": 128256, "bytes": 440000000},
        ],
        "suites": {
            "embed": {
                "peer": "PyTorch 1.13.0a0 fp32 eager Llama forward (benchmarks/peer/torch_llama.py), 2 threads",
                "rows": [
                    embed_row("h256_l4", 128, 8192, 61234.7, 95.5, 20100.0, 31.3),
                    embed_row("h256_l4", 512, 8192, 48200.0, 88.0, 18000.0, 32.9),
                    embed_row("medium", 128, 8192, 5000.0, 120.0, 1500.0, 36.0),
                    embed_row("medium", 512, 8192, 4820.0, 125.4, 2000.0, 52.0, ratio="absent"),
                    embed_row("medium", 2048, 8192, 3900.0, 118.7, None, None),
                    # BF16: peer reused from the fp32 row; of ceiling against 480 (not 251)
                    embed_row("h256_l4", 512, 8192, 96400.0, 176.0, 18000.0, 32.9, precision="bf16",
                              min_cos=0.999912),
                    embed_row("medium", 128, 8192, 9000.0, 216.0, 1500.0, 36.0, precision="bf16",
                              min_cos=0.999871, fraction="absent"),
                    embed_row("medium", 1024, 8192, 8000.0, 230.0, None, None, precision="bf16", min_cos=None),
                ],
            },
            "ops": {"isa": "avx512bf16", "iters": 1, "warmup": 1, "isa_checkpoint": "medium", "isa_seq_len": 1024,
                    "rows": [
                        {"checkpoint": "medium", "precision": "bf16", "isa": "avx512bf16", "seq_len": 1024,
                         "batch_tokens": 4096, "n_seqs": 4, "threads": 2, "iters": 1, "warmup": 1, "total_ms": 2178.0,
                         "tokens_per_s": 1880.7, "gflops": 402.3, "ops": MEDIUM_BF16_OPS},
                        {"checkpoint": "medium", "precision": "fp32", "isa": "avx512bf16", "seq_len": 1024,
                         "batch_tokens": 4096, "n_seqs": 4, "threads": 2, "iters": 1, "warmup": 1, "total_ms": 5560.0,
                         "tokens_per_s": 736.7, "gflops": 157.6, "ops": MEDIUM_FP32_OPS},
                        {"checkpoint": "h256_l4", "precision": "fp32", "isa": "avx512bf16", "seq_len": 128,
                         "batch_tokens": 4096, "n_seqs": 32, "threads": 2, "iters": 1, "warmup": 1, "total_ms": 61.0,
                         "tokens_per_s": 67150.0, "gflops": 80.1,
                         "ops": [op("qkv", 10.0, 0.2, gflops=None), op("rope", 1.0, 0.02)]},
                    ],
                    "isa_rows": [
                        {"checkpoint": "medium", "seq_len": 1024, "batch_tokens": 4096, "precision": "fp32",
                         "isa_requested": "avx2", "isa": "avx2", "attention_gflops": 72.0, "gemm_gflops": 90.0,
                         "attention_vs_gemm": 0.8, "tokens_per_s": 401.7, "gflops": 85.9},
                        {"checkpoint": "medium", "seq_len": 1024, "batch_tokens": 4096, "precision": "fp32",
                         "isa_requested": "avx512", "isa": "avx512", "attention_gflops": 101.0, "gemm_gflops": 140.0,
                         "tokens_per_s": 606.9, "gflops": 129.8},
                        {"checkpoint": "medium", "seq_len": 1024, "batch_tokens": 4096, "precision": "bf16",
                         "isa_requested": "avx512bf16", "isa": "avx512", "attention_gflops": 8.0, "gemm_gflops": 200.0,
                         "attention_vs_gemm": 0.04, "tokens_per_s": 500.0, "gflops": 100.0},
                    ]},
            "latency": {"rows": [
                {"checkpoint": "medium", "tokens": 8, "precision": "fp32",
                 "ours": {"mean_ms": 3.1, "p50_ms": 3.0, "p99_ms": 4.2, "n": 200},
                 "peer": {"mean_ms": 9.0, "p50_ms": 8.8, "p99_ms": 12.0, "n": 50}, "ratio": 9.0 / 3.1},
                {"checkpoint": "medium", "tokens": 32, "precision": "fp32",
                 "ours": {"mean_ms": 7.9, "p50_ms": 7.7, "p99_ms": 9.6, "n": 200},
                 "peer": {"mean_ms": 21.5, "p50_ms": 21.0, "p99_ms": 30.2, "n": 50}, "ratio": 21.5 / 7.9},
                {"checkpoint": "medium", "tokens": 128, "precision": "fp32",
                 "ours": {"mean_ms": 25.0, "p50_ms": 24.8, "p99_ms": 27.9, "n": 100},
                 "peer": None, "ratio": None},
                {"checkpoint": "medium", "tokens": 8, "precision": "bf16",
                 "ours": {"mean_ms": 2.0, "p50_ms": 1.9, "p99_ms": 2.6, "n": 200},
                 "peer": {"mean_ms": 9.0, "p50_ms": 8.8, "p99_ms": 12.0, "n": 50}, "min_cos_vs_fp32": 0.99995},
            ]},
            "open": {"rows": [{"checkpoint": "medium", "bytes": 440000000, "seconds": 0.21, "gb_per_s": 2.1,
                               "cold": False},
                              {"checkpoint": "medium", "bytes": 440000000, "seconds": 1.9, "gb_per_s": 0.232,
                               "cold": None}]},
            "tokenizer": {"rows": [{"threads": 1, "texts_per_s": 900.0, "tokens_per_s": 250000.0},
                                   {"threads": 2, "texts_per_s": 1700.0, "tokens_per_s": 480000.0}],
                          "engine_tokens_per_s": 5000.0, "starves": False,
                          "pipeline": {"engine_wait_s": 0.9, "total_s": 30.0}},
            "jni": {"checkpoint": "micro", "tokens": 1, "java_us": 45.0, "native_us": 38.0, "overhead_us": 7.0},
            "search": {"error": "bench_search exited 137 (killed: out of memory) at 4000000 rows",
                       "rows": [{"rows": 1000000, "dim": 4096, "dtype": "f16", "queries": 64, "k": 100, "threads": 2,
                                 "queries_per_s": 9.6, "gflops": 79.0, "gb_per_s": 1.2},
                                {"rows": 1000000, "dim": 4096, "dtype": "f16", "queries": 1, "k": 100, "threads": 2,
                                 "queries_per_s": 1.71, "gflops": 14.0, "gb_per_s": 14.0,
                                 "fraction_of_ceiling": 14.0 / 251.0, "fraction_of_memory": 0.7}]},
            "server": {"checkpoint": "h256_l4", "rows": [
                {"clients": 1, "requests": 50, "req_per_s": 128.6, "p50_ms": 7.5, "p99_ms": 12.0, "errors": 0},
                {"clients": 2, "requests": 100, "req_per_s": 231.0, "p50_ms": 8.4, "p99_ms": 14.1, "errors": 0},
                {"clients": 4, "requests": 200, "req_per_s": 240.2, "p50_ms": 16.2, "p99_ms": 25.0, "errors": 0},
                {"clients": 8, "requests": 400, "req_per_s": 238.9, "p50_ms": 33.1, "p99_ms": None, "errors": 1}]},
        },
        "errors": [{"suite": "search", "message": "bench_search exited 137 (killed: out of memory) at 4000000 rows"}],
    }


def section(md: str, title_start: str) -> str:
    """The text of the '## title...' section (up to the next '## ')."""
    start = md.index("\n## " + title_start)
    end = md.find("\n## ", start + 4)
    return md[start:end if end >= 0 else len(md)]


class FormatTest(unittest.TestCase):
    def test_sig_and_friends(self):
        self.assertEqual(report.sig(2.4138), "2.41")
        self.assertEqual(report.sig(48.0), "48.0")
        self.assertEqual(report.sig(0.41234), "0.412")
        self.assertEqual(report.sig(1234.5), "1,230")
        self.assertEqual(report.sig(9.996), "10.0")
        self.assertEqual(report.sig(0), "0")
        self.assertEqual(report.sig(None), "n/a")
        self.assertEqual(report.sig(float("nan")), "n/a")
        self.assertEqual(report.fmt_rate(61234.7), "61,235")
        self.assertEqual(report.fmt_rate(9.61), "9.61")
        self.assertEqual(report.fmt_ratio(3.3333), "3.33x")
        self.assertEqual(report.fmt_ratio(None), "n/a")
        self.assertEqual(report.fmt_pct(0.478), "47.8%")
        self.assertEqual(report.fmt_pct(0.0041), "0.410%")
        self.assertEqual(report.fmt_bytes(440000000), "440 MB")
        self.assertEqual(report.fmt_bytes(16060522496), "16.1 GB")
        self.assertEqual(report.fmt_duration(812.4), "13 min 32 s")
        self.assertEqual(report.fmt_bool(True), "yes")
        self.assertEqual(report.fmt_bool(None), "n/a")


class MarkdownTest(unittest.TestCase):
    def setUp(self):
        self.res = sample_results()
        self.md = report.render_markdown(self.res)

    def test_title_and_how(self):
        md = self.md
        self.assertTrue(md.startswith("# ReasonIR benchmark: epyc-2c, 2026-11-26 (quick, cpu)\n"))
        how = section(md, "How this was made")
        self.assertIn("- Command: `benchmarks/run.sh --quick` (mode quick, device cpu)", how)
        self.assertIn("elapsed 13 min 32 s", how)
        self.assertIn("251 GFLOP/s measured (bench_gemm: 4096 x 4096 x 4096 fp32, 2 threads, best of 5)", how)
        self.assertIn("register-only FMA peak 270 GFLOP/s", how)
        self.assertNotIn("datasheet", how)
        self.assertIn("- Peer: PyTorch 1.13.0a0 fp32 eager Llama forward", how)
        self.assertIn("| CPU | AMD EPYC 9R14 (Zen 4) |", how)
        self.assertIn("| engine kernels | avx512bf16 |", how)
        self.assertIn("| GPU | n/a |", how)
        self.assertIn("| transformers | n/a |", how)
        self.assertIn("| medium | 1,024 | 8 | 16 / 8 | 64 | 2,816 | 128,256 | 440 MB |", how)
        self.assertNotIn("Suites not in this run", how)

    def test_headline_table(self):
        emb = section(self.md, "Embedding throughput")
        self.assertIn("| checkpoint | S | batch tokens | ours precision | tokens/s ours | tokens/s peer | ours/peer | "
                      "achieved GFLOP/s | of ceiling |", emb)
        # given ratios, formatted to 3 significant digits
        self.assertIn("| h256_l4 | 128 | 8,192 | fp32 | 61,235 | 20,100 | 3.05x | 95.5 | 38.0% |", emb)
        self.assertIn("| medium | 128 | 8,192 | fp32 | 5,000 | 1,500 | 3.33x | 120 | 47.8% |", emb)
        # ratio absent in the row: computed from the two throughputs (4820 / 2000 = 2.41)
        self.assertIn("| medium | 512 | 8,192 | fp32 | 4,820 | 2,000 | 2.41x | 125 | 50.0% |", emb)
        # null peer
        self.assertIn("| medium | 2048 | 8,192 | fp32 | 3,900 | n/a | n/a | 119 | 47.3% |", emb)
        # the rows follow the checkpoints list, then S
        self.assertLess(emb.index("| h256_l4 | 512 |"), emb.index("| medium | 128 |"))
        self.assertIn("![tokens/s vs sequence length, ours vs peer](embed-throughput.png)", emb)
        self.assertIn("](achieved-vs-ceiling.png)", emb)

    def test_suite_sections(self):
        lat = section(self.md, "Batch-1 latency")
        self.assertIn("| medium | 8 | fp32 | 3.10 | 3.00 | 4.20 | 200 | 9.00 | 8.80 | 12.0 | 50 | 2.90x | n/a |", lat)
        self.assertIn("| medium | 128 | fp32 | 25.0 | 24.8 | 27.9 | 100 | n/a | n/a | n/a | n/a | n/a | n/a |", lat)
        # BF16 row: the reused fp32 peer, speed-up computed (9.0 / 2.0), its min cosine vs FP32
        self.assertIn("| medium | 8 | bf16 | 2.00 | 1.90 | 2.60 | 200 | 9.00 | 8.80 | 12.0 | 50 | 4.50x | 0.999950 |",
                      lat)
        self.assertIn("](latency.png)", lat)
        op = section(self.md, "Model open")
        self.assertIn("| medium | 440 MB | 0.210 | 2.10 | no |", op)
        self.assertIn("| medium | 440 MB | 1.90 | 0.232 | n/a |", op)
        tok = section(self.md, "Tokenizer")
        self.assertIn("| 2 | 1,700 | 480,000 |", tok)
        self.assertIn("Engine on the same texts: 5,000 tokens/s; fastest tokenizer row 480,000 tokens/s (96.0x", tok)
        self.assertIn("(starves it): no", tok)
        self.assertIn("the engine waited 0.900 s for text of 30.0 s total (3.00%)", tok)
        self.assertIn("| micro | 1 | 45.0 | 38.0 | 7.00 |", section(self.md, "JNI overhead"))
        se = section(self.md, "Brute-force search")
        self.assertIn("> **Suite error:** bench_search exited 137", se)
        # 64 queries against the fp32 ceiling (79 / 251, computed), 1 query against the memory bandwidth (stored 0.7)
        self.assertIn("| 1,000,000 | 4,096 | f16 | 64 | 100 | 2 | 9.60 | 79.0 | 1.20 | 31.5% | - |", se)
        self.assertIn("| 1,000,000 | 4,096 | f16 | 1 | 100 | 2 | 1.71 | 14.0 | 14.0 | - | 70.0% |", se)
        self.assertIn("streaming read bandwidth of the same run (20.0 GB/s)", se)
        sv = section(self.md, "HTTP server")
        self.assertIn("| 8 | 400 | 239 | 33.1 | n/a | 1 |", sv)
        self.assertIn("](server.png)", sv)

    def test_errors_section(self):
        err = section(self.md, "Errors")
        self.assertIn("- **search**: bench_search exited 137 (killed: out of memory) at 4000000 rows", err)
        self.assertEqual(err.count("- **"), 1)  # the suite-level error of search is the same one, listed once
        res = copy.deepcopy(self.res)
        res["errors"] = []
        res["suites"]["jni"]["error"] = "java not found"
        err = section(report.render_markdown(res), "Errors")
        self.assertIn("- **jni**: java not found", err)
        self.assertIn("- **search**: bench_search exited 137", err)
        res["suites"] = {}
        res["errors"] = []
        md = report.render_markdown(res)
        self.assertIn("## Errors\n\nNone.", md)
        self.assertIn("Suites not in this run: embed, ops, latency, open, tokenizer, jni, search, server.", md)
        self.assertIn("## Embedding throughput (embed): the headline\n\nNot run.", md)
        self.assertNotIn(".png", md)

    def test_missing_everything_is_na(self):
        md = report.render_markdown({"suites": {"embed": {"rows": [{"checkpoint": "x", "seq_len": 64,
                                                                    "ours": {}, "peer": None}]}}})
        self.assertIn("| x | 64 | n/a | n/a | n/a | n/a | n/a | n/a |", md)
        self.assertIn("# ReasonIR benchmark: unknown machine, undated (n/a, n/a)", md)
        self.assertNotIn("embed-throughput.png", md)  # nothing to plot

    def test_plots_argument_limits_links(self):
        md = report.render_markdown(self.res, plots=["/x/latency.png"])
        self.assertIn("](latency.png)", md)
        self.assertNotIn("](embed-throughput.png)", md)
        self.assertNotIn("](server.png)", md)

    def test_cuda_labels_tflops(self):
        res = copy.deepcopy(self.res)
        res["device"] = "cuda"
        res["ceiling"] = {"gflops": 702400.0, "how": "bench_cuda_ops --gemm-ceiling", "fma_peak_gflops": None,
                          "datasheet_gflops": 989000.0}
        res["suites"]["embed"]["rows"] = [{"checkpoint": "big", "seq_len": 512, "batch_tokens": 16384, "n_seqs": 32,
                                           "ours": {"tokens_per_s": 30000.0, "gflops": 427000.0},
                                           "peer": {"tokens_per_s": 12000.0}, "ratio": 2.5,
                                           "fraction_of_ceiling": 427000.0 / 702400.0}]
        md = report.render_markdown(res)
        self.assertIn("702 TFLOP/s measured", md)
        self.assertIn("datasheet peak 989 TFLOP/s", md)
        self.assertIn("achieved TFLOP/s | of ceiling |", md)
        self.assertIn("| big | 512 | 16,384 | n/a | 30,000 | 12,000 | 2.50x | 427 | 60.8% |", md)
        self.assertNotIn("GFLOP/s measured", md)


class NewMeasurementsTest(unittest.TestCase):
    """The ceilings of both precisions, BF16 rows against their own ceiling with their drift, the per-op profile and
    the per-ISA rows, latency in both precisions, search with 64 and 1 queries."""

    def setUp(self):
        self.res = sample_results()
        self.md = report.render_markdown(self.res)

    def test_ceilings_table(self):
        how = section(self.md, "How this was made")
        self.assertIn("| precision | instruction | register-only peak | kernel | kernel in cache (the ceiling) | "
                      "full GEMM |", how)
        self.assertIn("| fp32 | fma | 270 GFLOP/s | `avx512` | 251 GFLOP/s | 198 GFLOP/s |", how)
        self.assertIn("| bf16 | vdpbf16ps | 540 GFLOP/s | `avx512bf16` | 480 GFLOP/s | 350 GFLOP/s |", how)
        self.assertIn("Memory read bandwidth (streaming read, all threads, same run): 20.0 GB/s", how)
        self.assertIn("BF16 rows against the BF16 mode's ceiling 480 GFLOP/s", how)
        self.assertIn("- Native tools from `build/native`", how)

    def test_embed_bf16_against_its_own_ceiling(self):
        emb = section(self.md, "Embedding throughput")
        self.assertIn("(fp32 251 GFLOP/s, bf16 480 GFLOP/s)", emb)
        self.assertIn("| checkpoint | S | batch tokens | ours precision | tokens/s ours | tokens/s peer | ours/peer | "
                      "achieved GFLOP/s | of ceiling | min cos vs FP32 |", emb)
        # stored fraction (176 / 480), reused peer 96400 / 18000
        self.assertIn("| h256_l4 | 512 | 8,192 | bf16 | 96,400 | 18,000 | 5.36x | 176 | 36.7% | 0.999912 |", emb)
        # no stored fraction: computed against the bf16 ceiling, 216 / 480 = 45.0% (not 216 / 251 = 86.1%)
        self.assertIn("| medium | 128 | 8,192 | bf16 | 9,000 | 1,500 | 6.00x | 216 | 45.0% | 0.999871 |", emb)
        self.assertNotIn("86.1%", emb)
        self.assertIn("| medium | 1024 | 8,192 | bf16 | 8,000 | n/a | n/a | 230 | 47.9% | n/a |", emb)
        self.assertIn("| medium | 128 | 8,192 | fp32 | 5,000 | 1,500 | 3.33x | 120 | 47.8% | n/a |", emb)
        # fp32 before bf16 within a checkpoint
        self.assertLess(emb.index("| medium | 2048 | 8,192 | fp32 |"), emb.index("| medium | 128 | 8,192 | bf16 |"))
        # the BF16 vs FP32 table: the two shapes measured in both precisions, not medium 1024 (bf16 only)
        pairs = emb[emb.index("BF16 vs FP32"):emb.index("Per call:")]
        self.assertIn("| checkpoint | S | batch tokens | tokens/s FP32 | tokens/s BF16 | BF16/FP32 | min cos vs FP32 |",
                      pairs)
        self.assertIn("| h256_l4 | 512 | 8,192 | 48,200 | 96,400 | 2.00x | 0.999912 |", pairs)
        self.assertIn("| medium | 128 | 8,192 | 5,000 | 9,000 | 1.80x | 0.999871 |", pairs)
        self.assertNotIn("| medium | 1024 |", pairs)
        self.assertEqual(pairs.count("\n| h256_l4 ") + pairs.count("\n| medium "), 2)

    def test_embed_fraction_helpers(self):
        rows = {(r["checkpoint"], r["seq_len"], r["precision"]): r for r in self.res["suites"]["embed"]["rows"]}
        self.assertAlmostEqual(report.embed_fraction(self.res, rows[("medium", 128, "bf16")]), 216.0 / 480.0)
        self.assertEqual(report.precision_ceiling(self.res, "bf16"), 480.0)
        self.assertEqual(report.precision_ceiling(self.res, "fp32"), 251.0)
        res = copy.deepcopy(self.res)
        res["ceiling"]["bf16_gflops"] = None  # a new results.json whose bench_gemm measured no bf16 ceiling: n/a
        row = [r for r in res["suites"]["embed"]["rows"] if r["precision"] == "bf16" and r["seq_len"] == 128][0]
        self.assertIsNone(report.embed_fraction(res, row))
        self.assertIn("| medium | 128 | 8,192 | bf16 | 9,000 | 1,500 | 6.00x | 216 | n/a | 0.999871 |",
                      report.render_markdown(res))
        res["device"] = "cuda"  # on a GPU the one ceiling is a bf16 GEMM: bf16 rows against ceiling.gflops
        self.assertAlmostEqual(report.embed_fraction(res, row), 216.0 / 251.0)

    def test_ops_tables(self):
        ops = section(self.md, "Where the time goes (ops)")
        self.assertLess(self.md.index("## Embedding throughput"), self.md.index("## Where the time goes"))
        self.assertLess(self.md.index("## Where the time goes"), self.md.index("## Batch-1 latency"))
        self.assertIn("Kernels: the engine's own (avx512bf16).", ops)
        # one table per (precision, checkpoint, S): fp32 first, checkpoints in their order
        heads = [line for line in ops.splitlines() if line.startswith("### ")]
        self.assertEqual(heads, ["### fp32, h256_l4, S = 128", "### fp32, medium, S = 1024",
                                 "### bf16, medium, S = 1024", "### Attention vs the GEMMs per ISA (medium, S = 1024)"])
        fp32 = ops[ops.index("### fp32, medium, S = 1024"):ops.index("### bf16, medium")]
        self.assertIn("4,096 tokens in 4 sequences, kernels avx512bf16, 2 threads: 5,560 ms per forward pass, "
                      "737 tokens/s, 158 GFLOP/s.", fp32)
        self.assertIn("| op | ms | share | achieved | of ceiling |", fp32)
        self.assertIn("| qkv | 600 | 11.2% | 170 GFLOP/s | 67.7% |", fp32)          # 170 / 251
        self.assertIn("| attention | 1,000 | 18.7% | 130 GFLOP/s | 51.8% |", fp32)  # 130 / 251
        self.assertIn("| attn_norm | 25.4 | 0.460% | 10.6 GB/s | - |", fp32)       # memory op: no ceiling
        bf16 = ops[ops.index("### bf16, medium"):ops.index("### Attention vs")]
        self.assertIn("| qkv | 160 | 7.40% | 240 GFLOP/s | 50.0% |", bf16)          # 240 / 480, not / 251
        self.assertIn("| attention | 700 | 33.0% | 192 GFLOP/s | 40.0% |", bf16)
        self.assertIn("| swiglu | 197 | 9.00% | 5.62 GB/s | - |", bf16)
        self.assertNotIn("| residual |", bf16)  # fused ops are absent, not invented
        h256 = ops[ops.index("### fp32, h256_l4"):ops.index("### fp32, medium")]
        self.assertIn("| qkv | 10.0 | 20.0% | n/a | n/a |", h256)
        per_isa = ops[ops.index("### Attention vs"):]
        self.assertIn("| isa | precision | attention GFLOP/s | GEMM GFLOP/s | attention / GEMM | tokens/s |", per_isa)
        self.assertIn("| avx2 | fp32 | 72.0 | 90.0 | 0.800 | 402 |", per_isa)
        self.assertIn("| avx512 | fp32 | 101 | 140 | 0.721 | 607 |", per_isa)  # ratio computed: 101 / 140
        self.assertIn("| avx512 (asked avx512bf16) | bf16 | 8.00 | 200 | 0.0400 | 500 |", per_isa)

    def test_gemm_gflops(self):
        self.assertAlmostEqual(report.gemm_gflops(MEDIUM_FP32_OPS), MEDIUM_FP32_GEMM)
        self.assertAlmostEqual(report.gemm_gflops(MEDIUM_BF16_OPS), MEDIUM_BF16_GEMM)
        self.assertAlmostEqual(MEDIUM_FP32_GEMM, 168.4186, places=3)
        self.assertIsNone(report.gemm_gflops([op("attention", 10.0, 1.0, gflops=100.0)]))
        self.assertIsNone(report.gemm_gflops(None))

    def test_ops_missing_parts(self):
        res = copy.deepcopy(self.res)
        res["ceiling"] = {"gflops": 251.0}  # no bf16 ceiling: bf16 matrix ops' "of ceiling" unknown
        res["suites"]["ops"]["isa_rows"] = []
        res["suites"]["ops"]["isa_note"] = "the engine's ISA (neon) is not one of scalar, avx2: no per-ISA rows"
        ops = section(report.render_markdown(res), "Where the time goes (ops)")
        self.assertIn("| qkv | 160 | 7.40% | 240 GFLOP/s | n/a |", ops)
        self.assertIn("| qkv | 600 | 11.2% | 170 GFLOP/s | 67.7% |", ops)
        self.assertIn("_the engine's ISA (neon) is not one of scalar, avx2: no per-ISA rows_", ops)
        self.assertNotIn("| isa | precision |", ops)
        res["suites"]["ops"] = {"error": "bench_ops not found in /x", "rows": []}
        ops = section(report.render_markdown(res), "Where the time goes (ops)")
        self.assertIn("> **Suite error:** bench_ops not found in /x", ops)


# A results.json written before the BF16 ceiling, the ops suite, BF16 latency and the 1-query search existed (the
# shape of benchmarks/results/2026-11-26-amd-epyc-2c, trimmed): it must still render.
OLD_RESULTS = {
    "schema": "reasonir-bench/1", "started": "2026-11-26T20:03:11+00:00", "elapsed_s": 673.1,
    "command": "benchmarks/run.sh", "mode": "full", "device": "cpu",
    "machine": {"cores": 2, "threads": 2, "gpu": None, "transformers": None, "memory_gb": 23.5, "cpu": "AMD EPYC",
                "name": "amd-epyc-2c", "isa": "avx512bf16"},
    "ceiling": {"gflops": 229.251, "how": "native/bench/bench_gemm: the engine's fp32 GEMM microkernel (avx512)",
                "fma_peak_gflops": 226.351, "datasheet_gflops": None},
    "checkpoints": [{"name": "medium", "hidden": 1024, "layers": 8, "heads": 16, "kv_heads": 4, "head_dim": 64,
                     "intermediate": 2816, "vocab": 128256, "bytes": 443066112}],
    "suites": {
        "embed": {"peer": "PyTorch 1.13.0a0 fp32", "rows": [
            {"checkpoint": "medium", "seq_len": 128, "batch_tokens": 8192, "n_seqs": 64, "precision": "fp32",
             "ours": {"tokens_per_s": 922.0, "gflops": 170.09, "mean_ms": 8885.0, "iters": 1},
             "peer": {"tokens_per_s": 643.0, "gflops": 118.6, "mean_ms": 12740.0, "iters": 1},
             "ratio": 922.0 / 643.0, "fraction_of_ceiling": 170.09 / 229.251},
            {"checkpoint": "medium", "seq_len": 128, "batch_tokens": 8192, "n_seqs": 64, "precision": "bf16",
             "ours": {"tokens_per_s": 1439.0, "gflops": 265.52, "mean_ms": 5693.0, "iters": 2},
             "peer": {"tokens_per_s": 643.0, "gflops": 118.6, "mean_ms": 12740.0, "iters": 1},
             "ratio": 1439.0 / 643.0, "fraction_of_ceiling": 265.52 / 229.251}]},
        "latency": {"rows": [
            {"checkpoint": "medium", "tokens": 8, "ours": {"mean_ms": 28.5, "p50_ms": 26.1, "p99_ms": 64.8, "n": 100},
             "peer": {"mean_ms": 45.1, "p50_ms": 44.3, "p99_ms": 55.0, "n": 20}, "ratio": 45.1 / 28.5}]},
        "search": {"rows": [{"rows": 1000000, "dim": 4096, "dtype": "f16", "queries": 64, "k": 100, "threads": 2,
                             "queries_per_s": 9.4241, "gflops": 77.203, "gb_per_s": 1.2063}]},
    },
    "errors": [],
}


class OldResultsTest(unittest.TestCase):
    def test_old_format_renders(self):
        md = report.render_markdown(copy.deepcopy(OLD_RESULTS))
        how = section(md, "How this was made")
        self.assertIn("| fp32 | fma | 226 GFLOP/s | n/a | 229 GFLOP/s | n/a |", how)
        self.assertIn("| bf16 | n/a | n/a | n/a | n/a | n/a |", how)
        self.assertIn("Memory read bandwidth (streaming read, all threads, same run): n/a", how)
        self.assertIn("Suites not in this run: ops, open, tokenizer, jni, server.", how)
        self.assertNotIn("Native tools from", how)
        emb = section(md, "Embedding throughput")
        self.assertIn("| medium | 128 | 8,192 | fp32 | 922 | 643 | 1.43x | 170 | 74.2% | n/a |", emb)
        # its BF16 row was measured against the fp32 ceiling (no BF16 ceiling then): said so, not passed off
        self.assertIn("| medium | 128 | 8,192 | bf16 | 1,439 | 643 | 2.24x | 266 | 116% of fp32 | n/a |", emb)
        self.assertIn("This run measured no BF16 ceiling", emb)
        self.assertIn("| medium | 128 | 8,192 | 922 | 1,439 | 1.56x | n/a |", emb)
        self.assertNotIn("## Where the time goes", md)
        self.assertIn("| medium | 8 | n/a | 28.5 | 26.1 | 64.8 | 100 | 45.1 | 44.3 | 55.0 | 20 | 1.58x | n/a |",
                      section(md, "Batch-1 latency"))
        self.assertIn("| 1,000,000 | 4,096 | f16 | 64 | 100 | 2 | 9.42 | 77.2 | 1.21 | 33.7% | - |",
                      section(md, "Brute-force search"))
        self.assertIn("## Errors\n\nNone.", md)

    def test_committed_results_render(self):
        root = os.path.join(ROOT, "benchmarks", "results")
        found = 0
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, name, "results.json")
            if not os.path.isfile(path):
                continue
            found += 1
            res = report.load_results(path)
            md = report.render_markdown(res)
            self.assertTrue(md.startswith("# ReasonIR benchmark: "), name)
            self.assertIn("## Embedding throughput", md, name)
            self.assertNotIn("Traceback", md)
        self.assertGreater(found, 0, "no committed results.json under benchmarks/results")

    @unittest.skipUnless(HAVE_MPL, NO_MPL)
    def test_old_format_plots(self):
        with tempfile.TemporaryDirectory() as d:
            paths = report.make_plots(copy.deepcopy(OLD_RESULTS), d)
            self.assertEqual([os.path.basename(p) for p in paths],
                             ["embed-throughput.png", "achieved-vs-ceiling.png", "latency.png"])


class WithoutMatplotlibTest(unittest.TestCase):
    def test_markdown_without_matplotlib(self):
        with mock.patch.dict(sys.modules, {"matplotlib": None}), tempfile.TemporaryDirectory() as d:
            with self.assertRaises(report.MissingMatplotlib) as cm:
                report.make_plots(sample_results(), d)
            self.assertIn("python3-matplotlib", str(cm.exception))
            with contextlib.redirect_stderr(io.StringIO()):
                md_path, plots = report.write_report(sample_results(), d)
            self.assertEqual(plots, [])
            with open(md_path, encoding="utf-8") as f:
                text = f.read()
            self.assertIn("| medium | 128 | 8,192 | fp32 | 5,000 | 1,500 | 3.33x | 120 | 47.8% |", text)
            self.assertNotIn(".png)", text)
            self.assertIn("_Plots were not made: matplotlib is not importable", text)
            self.assertEqual([f for f in os.listdir(d) if f.endswith(".png")], [])

    def test_module_imports_without_matplotlib(self):
        code = ("import sys; sys.modules['matplotlib'] = None; from reasonir_bench import report; "
                "print(report.render_markdown({'suites': {}}).splitlines()[0])")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=pythonpath_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("# ReasonIR benchmark", p.stdout)


@unittest.skipUnless(HAVE_MPL, NO_MPL)
class PlotTest(unittest.TestCase):
    def test_plots_written_and_deterministic(self):
        res = sample_results()
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            pa = report.make_plots(res, a)
            pb = report.make_plots(copy.deepcopy(res), b)
            names = [os.path.basename(p) for p in pa]
            self.assertEqual(names, ["embed-throughput.png", "achieved-vs-ceiling.png", "latency.png", "server.png"])
            for x, y in zip(pa, pb):
                with open(x, "rb") as fx, open(y, "rb") as fy:
                    bx, by = fx.read(), fy.read()
                self.assertTrue(bx.startswith(PNG_SIG), x)
                self.assertGreater(len(bx), 5000)
                self.assertLess(len(bx), 400000)
                self.assertEqual(bx, by, f"{os.path.basename(x)} differs between two renders")
                self.assertNotIn(b"Software", bx)
                self.assertNotIn(b"matplotlib version", bx)

    def test_plot_size_and_cuda(self):
        res = sample_results()
        res["device"] = "cuda"
        res["ceiling"]["datasheet_gflops"] = 400.0
        with tempfile.TemporaryDirectory() as d:
            paths = report.make_plots(res, d)
            with open(paths[0], "rb") as f:
                head = f.read(24)
            width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            self.assertEqual((width, height), (800, 500))

    def test_only_plots_with_data(self):
        res = sample_results()
        del res["suites"]["server"]
        res["ceiling"]["gflops"] = None
        res["suites"]["latency"]["rows"] = []
        with tempfile.TemporaryDirectory() as d:
            paths = report.make_plots(res, d)
            self.assertEqual([os.path.basename(p) for p in paths], ["embed-throughput.png"])
            self.assertEqual(sorted(os.listdir(d)), ["embed-throughput.png"])

    def test_cli(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "results.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(sample_results(), f)
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.report", "--results", path],
                               capture_output=True, text=True, timeout=120, env=pythonpath_env())
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(sorted(os.listdir(d)), ["achieved-vs-ceiling.png", "embed-throughput.png",
                                                     "latency.png", "report.md", "results.json", "server.png"])
            with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
                md = f.read()
            self.assertEqual(md, report.render_markdown(sample_results()))


# ---------------------------------------------------------------------------------------------------------------
# The GPU benchmark's results.json: a GPU check run by the GPU check's own code
# ---------------------------------------------------------------------------------------------------------------
use_weights_tools()
import generate_checkpoint as gen  # noqa: E402

REASONIR_8B = gen.PRESETS["reasonir-8b"]()
# Call times (ms) of the fake GPU at depth L: base + L * per_layer, exact in binary so the expected values below are
# exact. Key 32 of OURS_MS is the batch-1 latency query (32 tokens).
OURS_MS = {128: (1.5, 12.5), 512: (1.25, 12.75), 2048: (1.0, 14.0), 8192: (1.75, 19.5), 32: (0.5, 0.25)}
HF_MS = {128: (6.0, 30.0), 512: (5.0, 28.0), 2048: (5.5, 32.0), 8192: (7.0, 50.0)}
HF_LATENCY_MS = (4.0, 0.75)
# 2 x (128256 x 4096 embedding + final norm + 3 x 218,112,000 per layer) bf16 bytes
L3_BYTES = 2359353344


def _arg(cmd, flag):
    return cmd[cmd.index(flag) + 1]


def ms_at(table, key, layers):
    base, per_layer = table[key] if key in table else table
    return base + layers * per_layer


class FakeGpu:
    """Stands in for gpu_bench.py's subprocesses: prints what generate_checkpoint.py --json / bench_embed / hf_bench.py
    / bench_cuda_ops print (their formats, read from their sources), with call times linear in the model's depth
    (read from the config.json the fake generator wrote). Every command is kept in `cmds`."""

    def __init__(self, hf_oom_at=None, ceiling=True):
        self.hf_oom_at = hf_oom_at
        self.ceiling = ceiling
        self.cmds = []

    @staticmethod
    def config(cmd):
        with open(os.path.join(_arg(cmd, "--model"), "config.json"), encoding="utf-8") as f:
            return json.load(f)

    def __call__(self, cmd, timeout, env=None):
        self.cmds.append(cmd)
        exe = os.path.basename(cmd[1] if cmd[0].endswith("python3") or "python" in os.path.basename(cmd[0])
                               else cmd[0])
        if exe == "-m":  # python3 -m reasonir_bench.hf_bench
            exe = cmd[2].rsplit(".", 1)[-1] + ".py"
        if exe == "generate_checkpoint.py":
            if [_arg(cmd, k) for k in ("--preset", "--fill", "--device")] != ["reasonir-8b", "torch", "cuda"] \
                    or "--json" not in cmd:
                raise AssertionError(f"unexpected generator command {cmd}")
            layers, folder = int(_arg(cmd, "--layers")), _arg(cmd, "--out")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
                json.dump(gen.build_config("reasonir-8b", layers=layers), f)
            size = 2 * sum(s.numel for s in gen.tensor_specs(gen.build_config("reasonir-8b", layers=layers)))
            out = "  model-00001-of-00004.safetensors: embed_tokens.weight [128256, 4096]  1.05/2.36 GB, 0 s\n" + \
                json.dumps({"out": folder, "layers": layers, "shards": int(_arg(cmd, "--shards")), "bytes": size,
                            "fill": "torch", "device": "cuda", "reused": False, "seconds": 1.25,
                            "gb_per_s": round(size / 1e9 / 1.25, 3)})
        elif exe == "bench_embed":
            cfg = self.config(cmd)
            S, B = int(_arg(cmd, "--seq-len")), int(_arg(cmd, "--batch-tokens"))
            n = max(1, B // S)
            ms = ms_at(OURS_MS, S, cfg["num_hidden_layers"])
            tps = n * S / ms * 1e3
            tf = tps * flops.flops_per_token(cfg, S) / 1e12
            out = (f"device      cuda:0 (NVIDIA H100 80GB HBM3) (cuda, precision bf16)\n"
                   f"throughput  {tps:.1f} tokens/s, {tf * 1e3:.1f} GFLOP/s\n" + json.dumps(
                       {"tokens_per_s": tps, "tflops": tf, "seq_len": S, "batch_tokens": n * S, "n_seqs": n,
                        "mean_ms": ms, "p50_ms": ms * 0.99, "p99_ms": ms * 1.2, "load_s": 7.512,
                        "load_gbps": L3_BYTES / 1e9 / 7.512, "device": "cuda:0 (NVIDIA H100 80GB HBM3)",
                        "backend": "cuda", "precision": "bf16"}) + "\n")
        elif exe == "hf_bench.py":
            layers = self.config(cmd)["num_hidden_layers"]
            res = {"errors": [], "throughput": [], "attn": "sdpa", "gpu": "NVIDIA H100 80GB HBM3",
                   "load": {"load_s": 11.2}, "load_s": 11.2}
            B = int(_arg(cmd, "--batch-tokens"))
            for S in [int(s) for s in _arg(cmd, "--seq-lens").split(",")]:
                row = {"seq_len": S}
                if S == self.hf_oom_at:
                    row["error"] = "OutOfMemoryError: CUDA out of memory. Tried to allocate 8.00 GiB"
                else:
                    n = max(1, B // S)
                    ms = ms_at(HF_MS, S, layers)
                    row.update({"batch": n, "tokens_per_call": n * S, "iters": 5, "ms_per_call": ms,
                                "tokens_per_s": n * S / ms * 1e3, "peak_mem_gb": 31.5})
                res["throughput"].append(row)
            ms = ms_at(HF_LATENCY_MS, None, layers)
            res["latency"] = {"tokens": 32, "calls": 50, "mean_ms": ms, "p50_ms": ms * 0.99, "p99_ms": ms * 1.2}
            with open(_arg(cmd, "--json-out"), "w", encoding="utf-8") as f:
                json.dump(res, f)
            out = json.dumps(res)
        elif exe == "bench_cuda_ops" and "--gemm-ceiling" in cmd:
            if not self.ceiling:
                return {"rc": 1, "wall_s": 0.5, "output": "no usable CUDA device: fake", "timed_out": False}
            out = "gemm bf16 8192x8192x8192: 1.565 ms, 702.4 TFLOP/s\n" \
                  '{"gemm_tflops": 702.400, "gemm_ms": 1.5654, "n": 8192}\n'
        elif exe == "bench_cuda_ops":
            out = '{"tokens": 8192, "seq_len": 8192, "layer_ms": 10.2, "qkv_ms": 1.9, "attention_ms": 3.1}\n'
        elif exe == "python3" or "-c" in cmd:  # the torch.matmul ceiling fallback
            return {"rc": 1, "wall_s": 0.5, "output": "ModuleNotFoundError: No module named 'torch'",
                    "timed_out": False}
        else:
            raise AssertionError(f"unexpected command {cmd}")
        return {"rc": 0, "wall_s": 1.0, "output": out, "timed_out": False}


def run_gpu_check(tmp: str, hf_oom_at=None, ceiling=True, with_bench=True, gpu="NVIDIA H100 80GB HBM3",
                  fake=None):
    """A GPU check's records as gpu-check.sh makes them (env, build, a failed parity, then gpu_bench.py on 8B-shaped
    checkpoints of 1 and 3 layers, extrapolated to 32, with --results-dir), then check_report.py. Returns
    (report.json, the bench's results.json or None) as dicts."""
    steps = os.path.join(tmp, "steps")
    model = os.path.join(tmp, "ckpt-8b")
    build = os.path.join(tmp, "build")
    out = os.path.join(tmp, "gpu-out")
    for d in (steps, build):
        os.makedirs(d, exist_ok=True)
    for exe in ("bench_embed", "bench_cuda_ops"):
        open(os.path.join(build, exe), "w").close()
    py_json = os.path.join(tmp, "env_python.json")
    with open(py_json, "w") as f:
        json.dump({"python": "3.12.3", "python_exe": "/opt/torch/.venv/bin/python3", "numpy": "2.1.3",
                   "torch": "2.9.1+cu130", "transformers": "5.0.0", "safetensors": "0.6.2",
                   "accelerate": "missing (ModuleNotFoundError)", "torch_cuda": "13.0",
                   "torch_cuda_available": True, "torch_device": gpu}, f)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        common.main(["record", "--steps-dir", steps, "--step", "env", "--status", "pass", "--elapsed", "4",
                     "--summary", f"{gpu}, 580.82.07, 81559 MiB, 9.0; cublasLt /x/libcublasLt.so.13",
                     "--data", py_json, "--set", f"gpu={gpu}, 580.82.07, 81559 MiB, 9.0",
                     "--set", "nvcc=Cuda compilation tools, release 13.0, V13.0.88", "--set", "cpu_cores=16",
                     "--set", "git_head=9cb14ec", "--set", "git_dirty=0"])
        common.write_step(steps, "build", "pass", 95.0, "configured and built", {"build_s": 95.0})
        common.write_step(steps, "parity", "fail", 40.0, "1 of 3 configs failed", {"configs": []},
                          "llama3_gqa: min cosine 0.9981 < 0.9995")
        if with_bench:
            with mock.patch.object(bench, "run_cmd", fake or FakeGpu(hf_oom_at, ceiling)):
                bench.main(["--build-dir", build, "--model", model, "--make-checkpoint", "--layers", "32",
                            "--shards", "4", "--steps-dir", steps, "--work-dir", tmp,
                            "--python", "/opt/torch/.venv/bin/python3", "--results-dir", os.path.join(out, "bench"),
                            "--meta", f"gpu={gpu}", "--meta", "mode=full",
                            "--meta", "command=benchmarks/gpu-check.sh ", "--meta", "check_report=../report.md"]
                           + ([] if HAVE_MPL else ["--no-plots"]))
        else:
            common.write_step(steps, "bench", "skip", 0, "skipped: time budget (330s) used up at 331s")
        check_report.main(["--steps-dir", steps, "--out-dir", out, "--expect", "env,build,parity,bench",
                           "--meta", f"gpu={gpu}", "--meta", "total_elapsed_s=341", "--meta", "budget_s=360",
                           "--meta", "mode=full", "--meta", "build_dir=build/gpu",
                           "--meta", "command=benchmarks/gpu-check.sh ", "--meta", f"out_dir={out}"])
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    res_path = os.path.join(out, "bench", "results.json")
    res = None
    if os.path.exists(res_path):
        with open(res_path, encoding="utf-8") as f:
            res = json.load(f)
    return rep, res


def make_gpu_check_report(tmp: str, **kw):
    """The path of a GPU check's report.json (see run_gpu_check)."""
    run_gpu_check(tmp, **kw)
    return os.path.join(tmp, "gpu-out", "report.json")


def bench_data(rep):
    return next(s for s in rep["steps"] if s["step"] == "bench")


def measured(rows, name="layers-3"):
    return [r for r in rows if r["checkpoint"] == name]


class GpuResultsTest(unittest.TestCase):
    """gpu_bench.py --results-dir: the suite's results.json and report.md of the GPU benchmark, directly."""

    def results(self, **kw):
        with tempfile.TemporaryDirectory() as d:
            return run_gpu_check(d, **kw)

    def test_full_report(self):
        # The suite's report shows what was measured (the deepest checkpoint, 3 layers) and, labelled, the
        # extrapolation to 32 layers.
        rep, res = self.results()
        self.assertEqual(rep["overall"], "fail")  # parity failed in this fake run
        self.assertEqual(res["schema"], "reasonir-bench/1")
        self.assertEqual(res["device"], "cuda")
        self.assertEqual(res["mode"], "full")
        self.assertEqual(res["command"], "benchmarks/gpu-check.sh")
        self.assertEqual(res["elapsed_s"], bench_data(rep)["elapsed_s"])  # the benchmark's own time
        self.assertRegex(res["started"], r"^\d{4}-\d{2}-\d{2}T")
        m = res["machine"]
        self.assertEqual(m["name"], "nvidia-h100-80gb-hbm3")
        self.assertEqual(m["gpu"], "NVIDIA H100 80GB HBM3")
        self.assertEqual((m["threads"], m["cores"], m["cpu"], m["memory_gb"]), (16, None, None, None))
        self.assertEqual((m["python"], m["torch"], m["transformers"]), ("3.12.3", "2.9.1+cu130", "5.0.0"))
        self.assertEqual((m["gpu_driver"], m["compute_capability"], m["isa"]), ("580.82.07", "9.0", "cuda bf16"))
        self.assertEqual(res["ceiling"]["gflops"], 702400.0)
        self.assertEqual(res["ceiling"]["datasheet_gflops"], 989000.0)
        self.assertIsNone(res["ceiling"]["fma_peak_gflops"])
        self.assertIn("bench_cuda_ops --gemm-ceiling: bf16 8192x8192x8192 GEMM", res["ceiling"]["how"])
        ck, ck32 = res["checkpoints"]
        self.assertEqual(ck, {"name": "layers-3", "hidden": 4096, "layers": 3, "heads": 32, "kv_heads": 8,
                              "head_dim": 128, "intermediate": 14336, "vocab": 128256, "bytes": L3_BYTES})
        self.assertEqual(ck32, dict(ck, name="layers-32 extrapolated", layers=32, bytes=None, extrapolated=True,
                                    extrapolated_from=[1, 3]))
        all_rows = res["suites"]["embed"]["rows"]
        rows = measured(all_rows)
        self.assertEqual([r["seq_len"] for r in rows], [128, 512, 2048, 8192])
        cfg3 = dict(REASONIR_8B, num_hidden_layers=3)
        for r in rows:
            S = r["seq_len"]
            ours, hf = 16384 / ms_at(OURS_MS, S, 3) * 1e3, 16384 / ms_at(HF_MS, S, 3) * 1e3
            self.assertAlmostEqual(r["ours"]["tokens_per_s"], ours)
            self.assertAlmostEqual(r["peer"]["tokens_per_s"], hf)
            self.assertAlmostEqual(r["ratio"], ours / hf)
            gf = ours * flops.flops_per_token(cfg3, S) / 1e9
            self.assertAlmostEqual(r["ours"]["gflops"], gf, delta=1e-6 * gf)
            self.assertAlmostEqual(r["fraction_of_ceiling"], gf / 702400.0, places=6)
            self.assertEqual(r["precision"], "bf16")
            self.assertEqual(r["batch_tokens"], 16384)
            self.assertNotIn("extrapolated_from", r)
        self.assertEqual(rows[0]["n_seqs"], 128)
        # the extrapolated rows, after the measured ones: T(32) = base + 32 x per_layer of the fake GPU
        xrows = measured(all_rows, "layers-32 extrapolated")
        self.assertEqual(len(all_rows), 8)
        self.assertEqual([r["seq_len"] for r in xrows], [128, 512, 2048, 8192])
        for r in xrows:
            S = r["seq_len"]
            o_ms, h_ms = OURS_MS[S][0] + 32 * OURS_MS[S][1], HF_MS[S][0] + 32 * HF_MS[S][1]
            self.assertEqual(r["extrapolated_from"], [1, 3])
            self.assertAlmostEqual(r["ours"]["mean_ms"], o_ms)
            self.assertAlmostEqual(r["peer"]["mean_ms"], h_ms)
            self.assertAlmostEqual(r["ours"]["tokens_per_s"], 16384 / o_ms * 1e3)
            self.assertAlmostEqual(r["ratio"], h_ms / o_ms)
            gf = 16384 / o_ms * 1e3 * flops.flops_per_token(REASONIR_8B, S) / 1e9
            self.assertAlmostEqual(r["ours"]["gflops"], gf, delta=1e-6 * gf)
            self.assertAlmostEqual(r["fraction_of_ceiling"], gf / 702400.0, places=6)
            self.assertEqual((r["batch_tokens"], r["precision"]), (16384, "bf16"))
        self.assertAlmostEqual(xrows[0]["ours"]["tokens_per_s"], 40806.973848, places=5)  # 16384 / 0.4015 s
        self.assertAlmostEqual(xrows[0]["ours"]["gflops"], 572348.519, places=2)
        self.assertIn("transformers 5.0.0", res["suites"]["embed"]["peer"])
        self.assertNotIn("error", res["suites"]["embed"])
        lat, xlat = res["suites"]["latency"]["rows"]
        self.assertEqual(lat["tokens"], 32)
        self.assertEqual((lat["ours"]["mean_ms"], lat["peer"]["mean_ms"]), (1.25, 6.25))  # 0.5 + 3 x 0.25, 4 + 3 x 0.75
        self.assertAlmostEqual(lat["ratio"], 5.0)
        self.assertEqual(lat["peer"]["n"], 50)
        # extrapolated: ours 0.5 + 32 x 0.25 = 8.5 ms, HF 4 + 32 x 0.75 = 28 ms
        self.assertEqual((xlat["checkpoint"], xlat["tokens"], xlat["extrapolated_from"]),
                         ("layers-32 extrapolated", 32, [1, 3]))
        self.assertEqual((xlat["ours"]["mean_ms"], xlat["peer"]["mean_ms"]), (8.5, 28.0))
        self.assertAlmostEqual(xlat["ratio"], 28.0 / 8.5)
        op = res["suites"]["open"]["rows"][0]
        self.assertEqual((op["seconds"], op["bytes"], op["cold"]), (7.512, L3_BYTES, None))
        self.assertAlmostEqual(op["gb_per_s"], L3_BYTES / 1e9 / 7.512, places=2)
        self.assertEqual(len(res["suites"]["open"]["rows"]), 1)  # nothing invented: open was measured only
        self.assertEqual(sorted(res["suites"]), ["embed", "latency", "open"])  # nothing invented
        # the bench ran clean; only the failed parity step is reported
        self.assertEqual(res["errors"], [{"suite": "parity", "message":
                                          "1 of 3 configs failed: llama3_gqa: min cosine 0.9981 < 0.9995"}])
        self.assertEqual(rep["failed_steps"], ["parity"])
        self.assertEqual([(s["step"], s["status"]) for s in res["gpu_check"]["steps"]],
                         [("env", "pass"), ("build", "pass"), ("parity", "fail"), ("bench", "pass")])
        md = report.render_markdown(res)
        self.assertIn("# ReasonIR benchmark: nvidia-h100-80gb-hbm3, ", md)
        self.assertIn("(full, cuda)", md)
        self.assertIn("702 TFLOP/s measured", md)
        self.assertIn("datasheet peak 989 TFLOP/s", md)
        self.assertIn("- Benchmark step of benchmarks/gpu-check.sh (its verdict: `../report.md`)", md)
        self.assertIn("- GPU check steps so far: env PASS, build PASS, parity FAIL, bench PASS", md)
        # S = 512 at 3 layers: ours 16384 tokens in 1.25 + 3 x 12.75 = 39.5 ms, HF in 5 + 3 x 28 = 89 ms
        tf = 16384 / 39.5e-3 * flops.flops_per_token(cfg3, 512) / 1e12
        self.assertIn(f"| layers-3 | 512 | 16,384 | bf16 | 414,785 | 184,090 | 2.25x | {report.sig(tf)} | "
                      f"{report.fmt_pct(tf / 702.4)} |", md)
        # S = 128 at 32 layers, extrapolated: 40,807 tokens/s, 572 TFLOP/s, 81.5 % of the 702.4 ceiling
        self.assertIn("| layers-32 extrapolated | 128 | 16,384 | bf16 | 40,807 | 16,961 | 2.41x | 572 | 81.5% |", md)
        self.assertIn("> **Extrapolated, not measured:** the rows of `layers-32 extrapolated` are computed from the "
                      "timed checkpoints of 1 and 3 layers", md)
        self.assertIn("| layers-32 extrapolated | 32 | n/a | 8.50 |", section(md, "Batch-1 latency"))
        self.assertIn("| layers-32 extrapolated | 4,096 | 32 |", md)  # the checkpoints table
        self.assertIn("- **parity**: 1 of 3 configs failed", md)

    def test_peer_oom_and_no_ceiling(self):
        rep, res = self.results(hf_oom_at=8192, ceiling=False)
        rows = {r["seq_len"]: r for r in measured(res["suites"]["embed"]["rows"])}
        self.assertIsNone(rows[8192]["peer"])
        self.assertIsNone(rows[8192]["ratio"])
        self.assertIsNotNone(rows[512]["peer"])
        self.assertIsNone(res["ceiling"]["gflops"])
        self.assertIsNone(rows[512]["fraction_of_ceiling"])
        msgs = [(e["suite"], e["message"]) for e in res["errors"]]
        self.assertIn(("embed", "peer S=8192: OutOfMemoryError: CUDA out of memory. Tried to allocate 8.00 GiB"), msgs)
        self.assertTrue(any(s == "ceiling" and "bench_cuda_ops rc 1" in m for s, m in msgs), msgs)
        md = report.render_markdown(res)
        self.assertIn("| layers-3 | 8192 | 16,384 | bf16 | 271,934 | n/a | n/a |", md)  # 16384 / 60.25 ms
        self.assertIn("| n/a |\n", section(md, "Embedding throughput"))  # of ceiling unknown
        self.assertIn("- **embed**: peer S=8192: OutOfMemoryError", md)
        self.assertNotIn(report.PLOT_CEILING, md)
        # the extrapolation carries the peer's failure instead of inventing a figure; ours still extrapolates
        ex = {r["seq_len"]: r for r in bench_data(rep)["data"]["extrapolated"]["rows"]}
        self.assertTrue(ex[8192]["hf_error"].startswith("OutOfMemoryError"), ex[8192])
        self.assertIsNone(ex[8192]["hf_tokens_per_s"])
        self.assertIsNone(ex[8192]["ours_over_hf"])
        self.assertAlmostEqual(ex[8192]["ours_ms"], 1.75 + 32 * 19.5)
        self.assertIsNone(ex[8192]["ours_pct_ceiling"])
        x = {r["seq_len"]: r for r in measured(res["suites"]["embed"]["rows"], "layers-32 extrapolated")}
        self.assertIsNone(x[8192]["peer"])
        self.assertIsNone(x[8192]["fraction_of_ceiling"])
        self.assertAlmostEqual(x[8192]["ours"]["mean_ms"], 1.75 + 32 * 19.5)

    def test_bench_skipped_and_other_gpus(self):
        # A skipped bench writes no results.json; the builder given no bench data invents nothing.
        with tempfile.TemporaryDirectory() as d:
            rep, res = run_gpu_check(d, with_bench=False, gpu="NVIDIA H100 PCIe")
            steps = [common.read_step(os.path.join(d, "steps"), n) for n in ("env", "build", "parity", "bench")]
        self.assertIsNone(res)
        env = steps[0]["data"]
        res = gpu_results.build({}, env, {"gpu": "NVIDIA H100 PCIe", "mode": "full"}, steps)
        self.assertEqual(res["suites"], {})
        self.assertEqual(res["checkpoints"], [])
        self.assertEqual(res["ceiling"], {"gflops": None, "how": None, "fma_peak_gflops": None,
                                          "datasheet_gflops": None})
        self.assertEqual([e["suite"] for e in res["errors"]], ["parity"])  # a skip is not an error
        md = report.render_markdown(res)
        self.assertIn("bench SKIP", md)
        self.assertIn("Not run.", md)
        self.assertEqual(gpu_results.datasheet_for("NVIDIA H200"), 989000.0)
        self.assertIsNone(gpu_results.datasheet_for("NVIDIA H200 NVL"))
        self.assertIsNone(gpu_results.datasheet_for("NVIDIA A100-SXM4-80GB"))

    def test_results_dir_has_report_and_plots(self):
        with tempfile.TemporaryDirectory() as d:
            _, res = run_gpu_check(d, hf_oom_at=8192)
            out = os.path.join(d, "gpu-out", "bench")
            self.assertEqual(res["device"], "cuda")
            with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
                md = f.read()
            self.assertIn("achieved TFLOP/s", md)
            self.assertIn("layers-32 extrapolated", md)
            if HAVE_MPL:
                for name in ("embed-throughput.png", "achieved-vs-ceiling.png", "latency.png"):
                    with open(os.path.join(out, name), "rb") as f:
                        self.assertTrue(f.read(8) == PNG_SIG, name)
                    self.assertIn(f"]({name})", md)
                self.assertFalse(os.path.exists(os.path.join(out, "server.png")))
            # the check's own report stays next to it, untouched
            self.assertTrue(os.path.exists(os.path.join(d, "gpu-out", "report.md")))


class BenchExtrapolationTest(unittest.TestCase):
    """gpu_bench.py's few-layer flow: checkpoints of 1 and 3 layers, both timed, the 32-layer model extrapolated."""

    def test_checkpoints_runs_and_extrapolated_rows(self):
        fake = FakeGpu()
        with tempfile.TemporaryDirectory() as d:
            with open(make_gpu_check_report(d, fake=fake), encoding="utf-8") as f:
                step = bench_data(json.load(f))
            model = os.path.join(d, "ckpt-8b")
        gens = [c for c in fake.cmds if os.path.basename(c[1]) == "generate_checkpoint.py"]
        self.assertEqual([(_arg(c, "--layers"), _arg(c, "--out"), _arg(c, "--shards")) for c in gens],
                         [("1", os.path.join(model, "layers-1"), "4"), ("3", os.path.join(model, "layers-3"), "4")])
        self.assertEqual(sorted({_arg(c, "--model") for c in fake.cmds if c[0].endswith("bench_embed")}),
                         [os.path.join(model, "layers-1"), os.path.join(model, "layers-3")])
        self.assertEqual(step["status"], "pass")
        data = step["data"]
        self.assertEqual(data["errors"], [])
        self.assertEqual(data["depths"], [1, 3])
        self.assertEqual([r["layers"] for r in data["runs"]], [1, 3])
        self.assertEqual([r["checkpoint"]["bytes"] for r in data["runs"]], [1486905344, L3_BYTES])
        # measured at 1 layer, S = 128: 16384 tokens in 1.5 + 12.5 = 14 ms
        self.assertAlmostEqual(data["runs"][0]["table"][0]["ours_tokens_per_s"], 16384 / 14e-3)
        self.assertEqual(data["model"]["num_hidden_layers"], 3)  # the keys the reports read: the deepest run
        self.assertEqual(data["table"], data["runs"][1]["table"])
        ex = data["extrapolated"]
        self.assertEqual((ex["layers"], ex["from_layers"], ex["model"]["num_hidden_layers"]), (32, [1, 3], 32))
        rows = {r["seq_len"]: r for r in ex["rows"]}
        self.assertEqual(sorted(rows), [128, 512, 2048, 8192])
        r = rows[128]
        self.assertTrue(r["extrapolated"])
        self.assertEqual((r["layers"], r["tokens_per_call"]), (32, 16384))
        # ours: T(1) = 14, T(3) = 39 ms -> 12.5 ms per layer, overhead 1.5 ms, T(32) = 14 + 31 x 12.5 = 401.5 ms
        self.assertEqual(r["ours_ms_measured"], [14.0, 39.0])
        self.assertAlmostEqual(r["ours_per_layer_ms"], 12.5)
        self.assertAlmostEqual(r["ours_overhead_ms"], 1.5)
        self.assertAlmostEqual(r["ours_ms"], 401.5)
        self.assertAlmostEqual(r["ours_tokens_per_s"], 40806.973848, places=5)  # 16384 / 0.4015 s
        # 14,025,752,576 FLOP per token at 32 layers and S = 128 (flops.flops_per_token)
        self.assertAlmostEqual(r["gflop_per_token"], 14.025752576)
        self.assertAlmostEqual(r["ours_tflops"], 572.348519, places=5)
        self.assertAlmostEqual(r["ours_pct_ceiling"], 100 * 572.348519 / 702.4, places=5)
        self.assertAlmostEqual(r["ours_pct_peak"], 100 * 572.348519 / 989.0, places=5)
        # HF: 36 and 96 ms -> 30 ms per layer, overhead 6 ms, T(32) = 966 ms
        self.assertEqual((r["hf_per_layer_ms"], r["hf_overhead_ms"], r["hf_ms"]), (30.0, 6.0, 966.0))
        self.assertAlmostEqual(r["hf_tokens_per_s"], 16960.662526, places=5)
        self.assertAlmostEqual(r["ours_over_hf"], 966.0 / 401.5)
        self.assertIsNone(r["ours_error"])
        for S, row in rows.items():  # every S: T(32) = base + 32 x per_layer
            self.assertAlmostEqual(row["ours_ms"], OURS_MS[S][0] + 32 * OURS_MS[S][1])
            self.assertAlmostEqual(row["hf_ms"], HF_MS[S][0] + 32 * HF_MS[S][1])
            self.assertAlmostEqual(row["ours_tflops"], 16384 / row["ours_ms"] * 1e3 *
                                   flops.flops_per_token(REASONIR_8B, S) / 1e12)
        # batch-1 latency: ours 0.75 and 1.25 ms -> 0.25 ms per layer, 8.5 ms at 32; HF 4.75 and 6.25 -> 28 ms
        lat = ex["latency"]
        self.assertEqual((lat["tokens"], lat["layers"], lat["extrapolated"]), (32, 32, True))
        self.assertEqual(lat["ours_ms_measured"], [0.75, 1.25])
        self.assertEqual((lat["ours_per_layer_ms"], lat["ours_overhead_ms"], lat["ours_ms"]), (0.25, 0.5, 8.5))
        self.assertEqual((lat["hf_per_layer_ms"], lat["hf_ms"]), (0.75, 28.0))
        self.assertAlmostEqual(lat["hf_over_ours"], 28.0 / 8.5)
        self.assertTrue(step["summary"].startswith(
            "EXTRAPOLATED to 32 layers from 1 and 3: S=128: ours 40807 tok/s (572 TFLOP/s), HF 16961, x2.41; "),
            step["summary"])
        self.assertIn("; latency ours 8.50 ms; HF 28.00 ms | measured at 3 layers: S=128: ours 420103 tok/s, HF "
                      "170667, x2.46;", step["summary"])  # 16384 / 39 ms, 16384 / 96 ms

    def test_existing_model_is_measured_only(self):
        # --model DIR without --make-checkpoint (the CPU rehearsal's way): that checkpoint, nothing generated or
        # extrapolated, the record as before this flow existed
        fake = FakeGpu()
        with tempfile.TemporaryDirectory() as d:
            model = os.path.join(d, "given")
            os.makedirs(model)
            with open(os.path.join(model, "config.json"), "w") as f:
                json.dump(gen.build_config("reasonir-8b", layers=2), f)
            build = os.path.join(d, "build")
            os.makedirs(build)
            open(os.path.join(build, "bench_embed"), "w").close()
            with mock.patch.object(bench, "run_cmd", fake), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                rc = bench.main(["--build-dir", build, "--model", model, "--seq-lens", "128,512", "--no-ops",
                                 "--no-ceiling", "--steps-dir", d, "--work-dir", d])
            rec = common.read_step(d, "bench")
        self.assertEqual((rc, rec["status"]), (0, "pass"))
        self.assertEqual({(c[2] if c[1] == "-m" else c[1]) if "python" in c[0] else os.path.basename(c[0])
                          for c in fake.cmds}, {"bench_embed", "reasonir_bench.hf_bench"})
        data = rec["data"]
        self.assertNotIn("extrapolated", data)
        self.assertNotIn("depths", data)
        self.assertEqual([(r["layers"], r["model"]) for r in data["runs"]], [(2, model)])
        # 2 layers: S = 128 ours 1.5 + 25 = 26.5 ms, HF 6 + 60 = 66 ms; S = 512 ours 1.25 + 25.5 = 26.75 ms, HF
        # 5 + 56 = 61 ms; latency ours 0.5 + 0.5 = 1.0 ms, HF 4 + 1.5 = 5.5 ms
        self.assertAlmostEqual(data["table"][0]["ours_tokens_per_s"], 16384 / 26.5e-3)
        self.assertEqual(rec["summary"], "S=128: ours 618264 tok/s, HF 248242, x2.49; S=512: ours 612486 tok/s, "
                                         "HF 268590, x2.28; latency ours 1.00 ms; HF 5.50 ms")

    def test_linear_fit(self):
        self.assertEqual(bench.linear_fit(10.0, 16.0, 2, 4, 32),
                         {"ms_measured": [10.0, 16.0], "per_layer_ms": 3.0, "overhead_ms": 4.0, "ms": 100.0})
        self.assertEqual(bench.linear_fit(5.0, 4.0, 1, 3, 32)["error"], "per-layer time -0.5 ms <= 0")
        self.assertEqual(bench.linear_fit(None, 4.0, 1, 3, 32), {"error": "not measured at both depths"})
        self.assertEqual(bench.linear_fit(None, 4.0, 1, 3, 32, "rc 1: boom"), {"error": "rc 1: boom"})
        self.assertEqual(bench.linear_fit(1.0, 4.0, 1, 3, 32, "skipped")["error"], "skipped")


if __name__ == "__main__":
    unittest.main()
