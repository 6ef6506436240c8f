"""Tests of the report package (results.json -> report.md + plots). The GPU benchmark's results.json in the suite's
schema is tested in test_gpu_results.py.

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_report

The plot tests skip when matplotlib is not importable (the pyenv python3 on PATH has none); the markdown tests run
anywhere.
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

from reasonir_bench import ROOT, pythonpath_env, report

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


if __name__ == "__main__":
    unittest.main()
