"""The GPU benchmark's results.json in the suite's schema (gpu_bench.py --results-dir, built by gpu_results.py) and
its rendering by the report package, with the 32-layer extrapolation.

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_gpu_results

The input is made by the GPU check's own code (gpu_bench.main with its command runner replaced, common record,
check_report main), not written by hand.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import unittest
from unittest import mock

from reasonir_bench import check_report, common, flops, gpu_results, report, use_weights_tools
from reasonir_bench import gpu_bench as bench
from reasonir_bench.tests.test_report import HAVE_MPL, PNG_SIG, section

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
# The same with REASONIR_ATTENTION=sm90 (bench_embed) / --attention sm90 (graph_latency): a faster attention, so a
# smaller per-layer time, more so at long S
OURS_SM90_MS = {128: (1.5, 12.25), 512: (1.25, 12.5), 2048: (1.0, 13.0), 8192: (1.75, 16.5)}
GRAPHS_MS = {None: {"off": (0.5, 0.3), "on": (0.2, 0.25)}, "sm90": {"off": (0.5, 0.25), "on": (0.25, 0.125)}}
# what cuda_backend.cu says when it refuses sm90 on another GPU
NEEDS_90 = ("error: rir_open: NVIDIA A100-SXM4-80GB has compute capability 8.0; attention sm90 (wgmma + TMA) needs "
            "9.0 (H100, H200): use sm80 or auto")
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

    def __init__(self, hf_oom_at=None, ceiling=True, sm90="run"):
        """sm90: "run" (OURS_SM90_MS, GRAPHS_MS["sm90"]), "refuse" (every sm90 open fails with NEEDS_90),
        "refuse-graphs" (only graph_latency's opens do) or "crash" (bench_embed with sm90 dies with an error that is
        no refusal)."""
        self.hf_oom_at = hf_oom_at
        self.ceiling = ceiling
        self.sm90 = sm90
        self.cmds = []
        self.envs = []

    @staticmethod
    def config(cmd):
        with open(os.path.join(_arg(cmd, "--model"), "config.json"), encoding="utf-8") as f:
            return json.load(f)

    def __call__(self, cmd, timeout, env=None):
        self.cmds.append(cmd)
        self.envs.append(env)
        attention = (env or {}).get("REASONIR_ATTENTION")
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
            if attention == "sm90" and self.sm90 == "refuse":
                return {"rc": 1, "wall_s": 0.5, "output": NEEDS_90 + "\n", "timed_out": False}
            if attention == "sm90" and self.sm90 == "crash":
                return {"rc": 1, "wall_s": 0.5, "output": "CUDA error: an illegal memory access was encountered\n",
                        "timed_out": False}
            ms = ms_at(OURS_SM90_MS if attention == "sm90" else OURS_MS, S, cfg["num_hidden_layers"])
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
        elif exe == "bench_cuda_ops" and "--attention-sweep" in cmd:
            rows = [{"kernel": k, "seq_len": int(S), "n_seqs": max(1, 16384 // int(S)), "status": "ok", "ms": 1.0,
                     "tflops": 400.0, "pct_peak": 40.4} if k == "sm80" else
                    {"kernel": k, "seq_len": int(S), "status": "not built", "reason": "this build has no sm90"}
                    for S in _arg(cmd, "--attention-sweep").split(",") for k in _arg(cmd, "--attention-kernels").split(",")]
            out = json.dumps({"attention_sweep": {"heads": 32, "kv_heads": 8, "head_dim": 128, "peak_tflops": 989.4,
                                                  "rows": rows}}) + "\n"
        elif exe == "bench_cuda_ops":
            out = '{"tokens": 8192, "seq_len": 8192, "layer_ms": 10.2, "qkv_ms": 1.9, "attention_ms": 3.1}\n'
        elif exe == "graph_latency.py":
            layers = self.config(cmd)["num_hidden_layers"]
            kernel = _arg(cmd, "--attention") if "--attention" in cmd else None
            if kernel == "sm90" and self.sm90 in ("refuse", "refuse-graphs"):  # measure()'s output: both opens fail
                errs = [f"open with cuda_graphs={m}: EngineError: {NEEDS_90}" for m in ("off", "on")]
                rows = [{"tokens": int(L), "error": "not measured: " + "; ".join(errs)}
                        for L in _arg(cmd, "--lens").split(",")]
                return {"rc": 1, "wall_s": 1.0, "output": json.dumps({"rows": rows, "errors": errs}) + "\n",
                        "timed_out": False}
            g = GRAPHS_MS[kernel]
            rows = [{"tokens": int(L), "off": {"mean_ms": ms_at(g["off"], None, layers)},
                     "on": {"mean_ms": ms_at(g["on"], None, layers)}, "equal_bits": True}
                    for L in _arg(cmd, "--lens").split(",")]
            out = json.dumps({"rows": rows, "errors": [], "attention": kernel or "default"}) + "\n"
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
        # 4 measured + 4 extrapolated default rows, then sm90 end to end at S = 128 (smallest), 512, 8192
        # (--sm90-seq-lens, the largest): 3 measured + 3 extrapolated
        self.assertEqual(len(all_rows), 14)
        k3 = measured(all_rows, "layers-3 attention sm90")
        k32 = measured(all_rows, "layers-32 extrapolated attention sm90")
        self.assertEqual([r["seq_len"] for r in k3], [128, 512, 8192])
        self.assertEqual([r["seq_len"] for r in k32], [128, 512, 8192])
        for r in k3:  # 3 layers, the fake GPU's sm90 times against its default (sm80) times
            S = r["seq_len"]
            self.assertEqual(r["attention"], "sm90")
            self.assertAlmostEqual(r["ours"]["tokens_per_s"], 16384 / ms_at(OURS_SM90_MS, S, 3) * 1e3)
            self.assertAlmostEqual(r["sm90_over_sm80"], ms_at(OURS_MS, S, 3) / ms_at(OURS_SM90_MS, S, 3))
            self.assertAlmostEqual(r["ratio"], ms_at(HF_MS, S, 3) / ms_at(OURS_SM90_MS, S, 3))
            self.assertNotIn("extrapolated_from", r)
        for r in k32:  # extrapolated with the same fit: T(32) = base + 32 x per_layer of each kernel
            S = r["seq_len"]
            o90, o80 = OURS_SM90_MS[S][0] + 32 * OURS_SM90_MS[S][1], OURS_MS[S][0] + 32 * OURS_MS[S][1]
            self.assertEqual(r["extrapolated_from"], [1, 3])
            self.assertAlmostEqual(r["ours"]["mean_ms"], o90)
            self.assertAlmostEqual(r["ours"]["tokens_per_s"], 16384 / o90 * 1e3)
            self.assertAlmostEqual(r["sm90_over_sm80"], o80 / o90)
            gf = 16384 / o90 * 1e3 * flops.flops_per_token(REASONIR_8B, S) / 1e9
            self.assertAlmostEqual(r["ours"]["gflops"], gf, delta=1e-6 * gf)
        self.assertAlmostEqual(k32[2]["sm90_over_sm80"], 625.75 / 529.75)  # S = 8192: 1.75 + 32 x 19.5 / 16.5
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
        # S = 8192, sm90 at 32 layers: 16384 tokens in 529.75 ms = 30,928 tokens/s; HF 7 + 32 x 50 = 1607 ms
        self.assertIn("| layers-32 extrapolated attention sm90 | 8192 | 16,384 | bf16 | 30,928 | 10,195 | 3.03x |", md)
        self.assertIn("| layers-3 attention sm90 | 8192 | 16,384 | bf16 | 319,688 |", md)  # 16384 / 51.25 ms
        # the check's own report.md: sm90 next to sm80 end to end (extrapolated, then measured) and per-kernel graphs
        cmd = check_report.render_md(rep)
        e2e = cmd[cmd.index("### End to end per attention kernel (sm80 vs sm90)"):]
        # S = 8192 at 32 layers: sm80 16384 / 625.75 ms, sm90 / 529.75 ms, 16.5 ms per layer
        self.assertIn("| 8192 | 26183 | 30928 | 1.181 | 16.50 | 529.8 | 564.5 | 80.4 |  |", e2e)
        self.assertIn("| 8192 | 271934 | 319688 | 1.176 | 547.1 | 55.3 |  |", e2e)  # 3 layers: 60.25, 51.25 ms
        self.assertLess(cmd.index("### End to end per attention kernel"), cmd.index("Batch-1 latency (32-token"))
        self.assertIn("### Batch-1 latency with CUDA graphs off and on, attention sm90", cmd)
        # graphs, 3 layers: sm80 off 0.5 + 3 x 0.3, on 0.2 + 3 x 0.25; sm90 off 0.5 + 3 x 0.25, on 0.25 + 3 x 0.125
        self.assertIn("| 32 | 3 measured | 1.400 | 1.250 | 0.893 | 0.950 | 0.625 | 0.658 |", cmd)
        self.assertIn("| 128 | 32 extrapolated | 10.100 | 8.500 | 0.842 | 8.200 | 4.250 | 0.518 |", cmd)

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
        # issue 21: the per-op layer with both kernels, the attention sweep at the brief's shapes, graphs off / on
        # per depth and extrapolated like the latency
        ops = [c for c in fake.cmds if os.path.basename(c[0]) == "bench_cuda_ops" and "--layer" in c]
        self.assertEqual([_arg(c, "--attention-kernels") for c in ops], ["sm80,sm90"])
        sweep = [c for c in fake.cmds if "--attention-sweep" in c]
        self.assertEqual([(_arg(c, "--attention-sweep"), _arg(c, "--attention-kernels"), _arg(c, "--attention-heads"),
                           _arg(c, "--attention-head-dim"), _arg(c, "--attention-tokens")) for c in sweep],
                         [("512,2048,8192,32768", "sm80,sm90", "32,8", "128", "16384")])
        self.assertEqual([(r["kernel"], r["seq_len"], r["status"]) for r in data["attention_sweep"]["rows"]][:2],
                         [("sm80", 512, "ok"), ("sm90", 512, "not built")])
        graphs = [c for c in fake.cmds if "reasonir_bench.graph_latency" in c]
        self.assertEqual([(_arg(c, "--model"), _arg(c, "--lens"), _arg(c, "--iters"),
                           _arg(c, "--attention") if "--attention" in c else None) for c in graphs],
                         [(os.path.join(model, "layers-1"), "32,128", "50", None),
                          (os.path.join(model, "layers-3"), "32,128", "50", None),
                          (os.path.join(model, "layers-1"), "32,128", "50", "sm90"),
                          (os.path.join(model, "layers-3"), "32,128", "50", "sm90")])
        self.assertEqual(data["graph_latency"]["layers"], 3)  # the deepest, measured
        g = {r["tokens"]: r for r in ex["graph_latency"]["rows"]}
        # off 0.8 and 1.4 ms at 1 and 3 layers -> 0.3 per layer, 10.1 ms at 32; on 0.45, 0.95 -> 8.2 ms
        self.assertAlmostEqual(g[32]["off_ms"], 0.5 + 32 * 0.3)
        self.assertAlmostEqual(g[128]["on_ms"], 0.2 + 32 * 0.25)
        self.assertAlmostEqual(g[32]["speedup"], (0.5 + 32 * 0.3) / (0.2 + 32 * 0.25))
        self.assertIn("| attention sm80 up to 400 TFLOP/s (S=512); attention sm90 not built; sm90/sm80",
                      step["summary"])
        # sm90 end to end: bench_embed with REASONIR_ATTENTION=sm90 in the child's environment, per depth, at the
        # smallest S, 512 and the largest; the default rows' children get no REASONIR_ATTENTION from us
        sm90 = [(c, e) for c, e in zip(fake.cmds, fake.envs) if os.path.basename(c[0]) == "bench_embed"
                and (e or {}).get("REASONIR_ATTENTION") == "sm90"]
        self.assertEqual([(os.path.basename(_arg(c, "--model")), _arg(c, "--seq-len")) for c, _ in sm90],
                         [("layers-1", "128"), ("layers-1", "512"), ("layers-1", "8192"),
                          ("layers-3", "128"), ("layers-3", "512"), ("layers-3", "8192")])
        self.assertTrue(all("PYTHONPATH" in e for _, e in sm90))  # added to the usual child environment
        self.assertEqual(len([c for c in fake.cmds if os.path.basename(c[0]) == "bench_embed"]), 2 * 5 + 6)
        self.assertEqual([r["attention"] for r in data["ours_sm90"]], ["sm90"] * 3)
        t = {r["seq_len"]: r for r in data["table_sm90"]}  # measured, 3 layers
        self.assertAlmostEqual(t[8192]["sm90_tokens_per_s"], 16384 / 51.25e-3)  # 1.75 + 3 x 16.5
        self.assertAlmostEqual(t[8192]["sm80_tokens_per_s"], 16384 / 60.25e-3)  # 1.75 + 3 x 19.5
        self.assertAlmostEqual(t[8192]["sm90_over_sm80"], 60.25 / 51.25)
        self.assertAlmostEqual(t[8192]["sm90_tflops"], 16384 / 51.25e-3 * flops.flops_per_token(
            dict(REASONIR_8B, num_hidden_layers=3), 8192) / 1e12)
        self.assertIsNone(t[8192]["sm90_skip"])
        x = {r["seq_len"]: r for r in ex["rows_sm90"]}
        # sm90 at S = 8192: T(1) = 18.25, T(3) = 51.25 ms -> 16.5 ms per layer, 1.75 ms other, T(32) = 529.75 ms
        self.assertEqual(x[8192]["sm90_ms_measured"], [18.25, 51.25])
        self.assertEqual((x[8192]["sm90_per_layer_ms"], x[8192]["sm90_overhead_ms"], x[8192]["sm90_ms"]),
                         (16.5, 1.75, 529.75))
        self.assertAlmostEqual(x[8192]["sm90_tokens_per_s"], 16384 / 529.75e-3)
        self.assertAlmostEqual(x[8192]["sm80_tokens_per_s"], rows[8192]["ours_tokens_per_s"])
        self.assertAlmostEqual(x[8192]["sm90_over_sm80"], 625.75 / 529.75)
        self.assertEqual((x[8192]["layers"], x[8192]["from_layers"], x[8192]["sm90_error"]), (32, [1, 3], None))
        # graphs with sm90: measured at 3 layers and extrapolated (off 0.5 + 32 x 0.25, on 0.25 + 32 x 0.125)
        self.assertEqual(data["graph_latency_sm90"]["layers"], 3)
        self.assertAlmostEqual(data["graph_latency_sm90"]["rows"][0]["off"]["mean_ms"], 1.25)
        g90 = {r["tokens"]: r for r in ex["graph_latency_sm90"]["rows"]}
        self.assertAlmostEqual(g90[32]["off_ms"], 8.5)
        self.assertAlmostEqual(g90[32]["on_ms"], 4.25)
        self.assertAlmostEqual(g90[128]["speedup"], 2.0)
        self.assertTrue(step["summary"].endswith(
            "; sm90/sm80 end to end (32 layers extrapolated): S=128 x1.02, S=512 x1.02, S=8192 x1.18"),
            step["summary"])

    def test_sm90_refused_is_a_skip(self):
        # Another GPU than compute capability 9.0: every sm90 open says "needs 9.0". Those rows and the sm90 graphs
        # are skips with the engine's reason, not errors: the step passes, the default rows are untouched.
        fake = FakeGpu(sm90="refuse")
        with tempfile.TemporaryDirectory() as d:
            rep, res = run_gpu_check(d, fake=fake)
        step = bench_data(rep)
        data = step["data"]
        self.assertEqual((step["status"], data["errors"]), ("pass", []))
        self.assertNotIn("skipped", data)
        reason = NEEDS_90
        for run in data["runs"]:
            self.assertEqual([(r["seq_len"], r["skip"]) for r in run["ours_sm90"]],
                             [(128, reason), (512, reason), (8192, reason)])
            self.assertNotIn("error", run["ours_sm90"][0])
            self.assertEqual(run["graph_latency_sm90"]["skip"], reason)
            self.assertEqual([r["skip"] for r in run["graph_latency_sm90"]["rows"]], [reason, reason])
        # the refusal holds for every S and depth: one sm90 process was started, the other rows skipped with it
        sm90 = [c for c, e in zip(fake.cmds, fake.envs) if (e or {}).get("REASONIR_ATTENTION") == "sm90"]
        self.assertEqual([(_arg(c, "--seq-len"), os.path.basename(_arg(c, "--model"))) for c in sm90],
                         [("128", "layers-1")])
        self.assertFalse([c for c in fake.cmds if "--attention" in c])
        self.assertEqual([(r["seq_len"], r["sm90_skip"], r["sm90_tokens_per_s"], r["sm90_over_sm80"])
                          for r in data["table_sm90"]], [(128, reason, None, None), (512, reason, None, None),
                                                         (8192, reason, None, None)])
        self.assertAlmostEqual(data["table_sm90"][0]["sm80_tokens_per_s"], 16384 / 39e-3)
        x = data["extrapolated"]["rows_sm90"]
        self.assertEqual([(r["sm90_skip"], r["sm90_tokens_per_s"], r["sm90_error"]) for r in x],
                         [(reason, None, None)] * 3)
        self.assertTrue(step["summary"].endswith("; sm90 end to end skipped: " + reason[:160]), step["summary"])
        # results.json: no sm90 rows (nothing measured), no error; the default rows as before
        names = {r["checkpoint"] for r in res["suites"]["embed"]["rows"]}
        self.assertEqual(names, {"layers-3", "layers-32 extrapolated"})
        self.assertEqual([e["suite"] for e in res["errors"]], ["parity"])
        with tempfile.TemporaryDirectory() as d:
            md = check_report.render_md(check_report.build_report([step], {}, ["bench"]))
        self.assertIn("### End to end per attention kernel (sm80 vs sm90)", md)
        self.assertIn(f"| 8192 | 271934 | n/a | n/a | n/a | n/a | skip: {reason} |", md)  # 16384 / 60.25 ms
        self.assertIn("### Batch-1 latency with CUDA graphs off and on, attention sm90", md)
        self.assertIn(f"skip: the engine refused sm90 at open: {reason}", md)

    def test_sm90_refused_by_graphs_only(self):
        # graph_latency's two opens refuse sm90 (bench_embed's sm90 rows ran): both errors are refusals -> a skip
        # of that result and its rows, no error, the step passes
        fake = FakeGpu(sm90="refuse-graphs")
        with tempfile.TemporaryDirectory() as d:
            rep, _ = run_gpu_check(d, fake=fake)
        step = bench_data(rep)
        self.assertEqual((step["status"], step["data"]["errors"]), ("pass", []))
        for run in step["data"]["runs"]:
            g = run["graph_latency_sm90"]
            self.assertEqual(g["skip"], "open with cuda_graphs=off: EngineError: " + NEEDS_90)
            self.assertEqual([r["skip"] for r in g["rows"]], [g["skip"]] * 2)
            self.assertNotIn("error", g["rows"][0])
        # the first refusal holds for the other depth: one graph_latency process with sm90
        self.assertEqual([os.path.basename(_arg(c, "--model")) for c in fake.cmds if "--attention" in c],
                         ["layers-1"])
        self.assertNotIn("graph_latency_sm90", step["data"]["extrapolated"])  # nothing measured: nothing fitted
        self.assertIsNotNone(step["data"]["table_sm90"][0]["sm90_over_sm80"])

    def test_sm90_failure_is_an_error(self):
        # A failure that is no refusal (here a crash) is an error of the part and fails the step, row by row.
        fake = FakeGpu(sm90="crash")
        with tempfile.TemporaryDirectory() as d:
            rep, res = run_gpu_check(d, fake=fake)
        step = bench_data(rep)
        self.assertEqual(step["status"], "fail")
        errs = step["data"]["errors"]
        self.assertEqual(len(errs), 6)  # 2 depths x 3 S
        self.assertTrue(errs[0].startswith("ours sm90 S=128 [L=1]: rc 1: CUDA error: an illegal memory access"),
                        errs[0])
        self.assertNotIn("skip", step["data"]["ours_sm90"][0])
        x = step["data"]["extrapolated"]["rows_sm90"]
        self.assertTrue(x[0]["sm90_error"].startswith("rc 1: CUDA error"), x[0])
        self.assertIsNone(x[0]["sm90_over_sm80"])
        self.assertTrue(any(e["message"].startswith("ours sm90 S=8192 [L=3]: rc 1: CUDA error")
                            for e in res["errors"]), res["errors"])

    def test_sm90_seq_lens(self):
        class A:
            seq_lens, sm90_seq_lens = [128, 512, 2048, 8192], [512, 8192]
        b = bench.Bench.__new__(bench.Bench)
        b.args = A()
        self.assertEqual(b.sm90_seq_lens(), [128, 512, 8192])
        A.seq_lens = [512, 8192]  # gpu-check.sh --quick
        self.assertEqual(b.sm90_seq_lens(), [512, 8192])
        A.seq_lens = [64]  # the emulated check
        self.assertEqual(b.sm90_seq_lens(), [64])
        self.assertEqual(bench.kernel_refusal("x\nerror: m: attention sm90 supports head_dim 64 and 128, this model "
                                              "has 32: use sm80 or auto\n"),
                         "error: m: attention sm90 supports head_dim 64 and 128, this model has 32: use sm80 or auto")
        self.assertIsNone(bench.kernel_refusal("CUDA error: out of memory"))

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
                                 "--no-ceiling", "--no-attn-sweep", "--no-graphs", "--steps-dir", d, "--work-dir", d])
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
                                         "HF 268590, x2.28; latency ours 1.00 ms; HF 5.50 ms | sm90/sm80 end to "
                                         "end (measured): S=128 x1.02, S=512 x1.02")  # 26.5 / 26, 26.75 / 26.25

    def test_linear_fit(self):
        self.assertEqual(bench.linear_fit(10.0, 16.0, 2, 4, 32),
                         {"ms_measured": [10.0, 16.0], "per_layer_ms": 3.0, "overhead_ms": 4.0, "ms": 100.0})
        self.assertEqual(bench.linear_fit(5.0, 4.0, 1, 3, 32)["error"], "per-layer time -0.5 ms <= 0")
        self.assertEqual(bench.linear_fit(None, 4.0, 1, 3, 32), {"error": "not measured at both depths"})
        self.assertEqual(bench.linear_fit(None, 4.0, 1, 3, 32, "rc 1: boom"), {"error": "rc 1: boom"})
        self.assertEqual(bench.linear_fit(1.0, 4.0, 1, 3, 32, "skipped")["error"], "skipped")


if __name__ == "__main__":
    unittest.main()
