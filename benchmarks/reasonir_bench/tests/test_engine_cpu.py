"""engine.py, hf_parity.py (our half) and gpu_bench.py against a CPU build of libreasonir.so (device "cpu").

The library: $REASONIR_TEST_LIB, else build/h4/libreasonir.so, else build/native/libreasonir.so (build one with
`cmake -S . -B build/h4 -DREASONIR_CUDA=OFF && cmake --build build/h4 -j2 --target reasonir bench_embed`).
Skipped when none exists. The fixture checkpoints are materialized into a temporary folder (numpy, ~1 s).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from reasonir_bench import ROOT, common, engine, flops, pythonpath_env
from reasonir_bench import gpu_bench as bench

FIXTURES = os.path.join(ROOT, "weights-tools", "fixtures")


def find_lib():
    for p in (os.environ.get("REASONIR_TEST_LIB"), os.path.join(ROOT, "build", "h4", "libreasonir.so"),
              os.path.join(ROOT, "build", "native", "libreasonir.so")):
        if p and os.path.isfile(p):
            return p
    return None


LIB = find_lib()
_GEN = {}


def generated():
    """Fixture checkpoints, materialized once per test run."""
    if "dir" not in _GEN:
        d = tempfile.mkdtemp(prefix="gpucheck-fixtures-")
        subprocess.run([sys.executable, os.path.join(ROOT, "weights-tools", "materialize_fixtures.py"), "--out", d],
                       check=True, capture_output=True)
        _GEN["dir"] = d
    return _GEN["dir"]


def inputs(name):
    with open(os.path.join(FIXTURES, name, "inputs.json")) as f:
        return [(s["ids"], s["pool_start"]) for s in json.load(f)["sequences"]]


class PackTest(unittest.TestCase):
    def test_pack(self):
        ids, cu, ps = engine.pack([([1, 2, 3], 0), ([4], 0), ([5, 6], 1)])
        self.assertEqual(ids.tolist(), [1, 2, 3, 4, 5, 6])
        self.assertEqual(cu.tolist(), [0, 3, 4, 6])
        self.assertEqual(ps.tolist(), [0, 0, 1])
        self.assertEqual(ids.dtype, np.int32)

    def test_compare(self):
        a = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
        c = engine.compare(a, a * 3)
        self.assertAlmostEqual(c["min_cosine"], 1.0)
        self.assertAlmostEqual(c["max_abs_diff"], 4.0)
        self.assertIn("error", engine.compare(a, a[:1]))
        self.assertFalse(engine.compare(a, np.full_like(a, np.nan))["finite"])

    def test_struct_layout(self):
        # reasonir.h: u32, ptr, ptr, i32, i32, i64, u32 (x86-64 / aarch64 LP64 alignment)
        o = engine.RirOpenOptions
        self.assertEqual((o.model_dir.offset, o.device.offset, o.num_threads.offset, o.precision.offset,
                          o.max_batch_tokens.offset, o.flags.offset), (8, 16, 24, 28, 32, 40))


@unittest.skipIf(LIB is None, "no CPU build of libreasonir.so (see the module docstring)")
class EngineCpuTest(unittest.TestCase):
    def test_fixture_parity_fp32(self):
        for name in ("llama3_gqa", "plain_mha", "h256_l4"):
            with engine.Engine(LIB, os.path.join(generated(), name), device="cpu", precision="fp32") as e:
                info = e.info()
                self.assertEqual(info["backend"], "cpu")
                self.assertEqual(info["precision"], "fp32")
                got = e.embed(inputs(name), normalize=False)
                want = np.load(os.path.join(FIXTURES, name, "expected_fp32.npy"))
                c = engine.compare(got, want)
                self.assertGreater(c["min_cosine"], 0.99999, name)
                self.assertLess(c["max_abs_diff"], 1e-4, name)

    def test_normalize_and_batch_split(self):
        seqs = inputs("plain_mha")
        with engine.Engine(LIB, os.path.join(generated(), "plain_mha"), device="cpu", precision="fp32") as e:
            unit = e.embed(seqs)
            np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
            split = e.embed(seqs, normalize=True, batch_tokens=50)  # several rir_embed calls
            np.testing.assert_allclose(split, unit, rtol=1e-5, atol=1e-6)

    def test_errors(self):
        with engine.Engine(LIB, os.path.join(generated(), "plain_mha"), device="cpu") as e:
            with self.assertRaises(engine.EngineError) as cm:
                e.embed([([1, 2], 0), ([1, 99999], 0)])
            self.assertEqual(cm.exception.status, 6)  # RIR_ERR_INPUT
            self.assertIn("99999", str(cm.exception))
            with self.assertRaises(engine.EngineError):
                e.embed([([1, 2], 2)])  # nothing to pool
        with self.assertRaises(engine.EngineError) as cm:
            engine.Engine(LIB, "/nonexistent/model", device="cpu")
        self.assertIn(cm.exception.status, (2, 3, 4, 5))
        e = engine.Engine(LIB, os.path.join(generated(), "plain_mha"), device="cpu")
        e.close()
        e.close()  # idempotent
        with self.assertRaises(RuntimeError):
            e.embed([([1], 0)])

    def test_cuda_count_without_gpu(self):
        n, why = engine.cuda_device_count(engine.load_library(LIB))
        self.assertEqual(n, 0)
        self.assertTrue(why)

    def test_hf_parity_script_ours_only(self):
        with tempfile.TemporaryDirectory() as steps:
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.hf_parity", "--lib", LIB, "--generated",
                                generated(), "--skip-hf", "--engine-device", "cpu", "--precision", "fp32",
                                "--steps-dir", steps], capture_output=True, text=True, timeout=300,
                               env=pythonpath_env())
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            rec = common.read_step(steps, "parity")
            self.assertEqual(rec["status"], "pass")
            rows = rec["data"]["configs"]
            self.assertEqual([r["config"] for r in rows], ["llama3_gqa", "plain_mha", "h256_l4"])
            for r in rows:  # on the CPU all three hold bit for bit
                wf = r["workflow"]
                for k in ("determinism", "batch_invariance", "two_handles"):
                    self.assertTrue(wf[k]["equal_bits"], (r["config"], k, wf[k]))
                    self.assertEqual(wf[k]["max_abs_diff"], 0.0)
                    self.assertEqual(wf[k]["min_cosine"], 1.0)
            for r in rows:
                self.assertGreater(r["compare"]["ours_vs_ref_fp32"]["min_cosine"], 0.99999)
                self.assertIn("ours_vs_ref_bf16", r["compare"])

    def test_hf_parity_second_kernel_on_hd128(self):
        # The sm90 pass of the parity step, end to end on the CPU backend (which ignores rir_open's attention: the
        # "sm90" vectors are sm80's bits): hd128_l2 is generated with its references, sm90 runs there and agrees
        # with sm80 exactly; the fixture's head_dim 32 is skipped with the reason.
        with tempfile.TemporaryDirectory() as steps, tempfile.TemporaryDirectory() as hd:
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.hf_parity", "--lib", LIB, "--generated",
                                generated(), "--skip-hf", "--engine-device", "cpu", "--precision", "fp32",
                                "--configs", "plain_mha", "--hd128", hd, "--compute-capability", "9.0",
                                "--steps-dir", steps], capture_output=True, text=True, timeout=300,
                               env=pythonpath_env())
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            rec = common.read_step(steps, "parity")
            self.assertEqual(rec["status"], "pass", rec["summary"])
            rows = {r["config"]: r for r in rec["data"]["configs"]}
            self.assertEqual(list(rows), ["plain_mha", "hd128_l2"])
            self.assertEqual(rows["plain_mha"]["kernels"]["sm90"]["status"], "skip")
            self.assertIn("head_dim 32", rows["plain_mha"]["kernels"]["sm90"]["reason"])
            sm90 = rows["hd128_l2"]["kernels"]["sm90"]
            self.assertEqual(sm90["status"], "pass", sm90)
            self.assertAlmostEqual(sm90["compare"]["vs_sm80"]["min_cosine"], 1.0, places=12)
            self.assertEqual(sm90["compare"]["vs_sm80"]["max_abs_diff"], 0.0)
            self.assertGreater(sm90["compare"]["vs_ref_fp32"]["min_cosine"], 0.99999)
            self.assertTrue(sm90["determinism"]["equal_bits"])
            self.assertEqual(rows["hd128_l2"]["lengths"], [1, 7, 64, 200])
            self.assertGreater(rows["hd128_l2"]["compare"]["ours_vs_ref_fp32"]["min_cosine"], 0.99999)
            self.assertEqual(rec["data"]["kernels"]["sm90"]["status"], "pass")
            self.assertAlmostEqual(rec["data"]["kernels"]["sm90"]["min_cosine_vs_sm80"], 1.0, places=12)
            # a GPU that is not 9.0: sm90 skipped everywhere, the step still passes on sm80
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.hf_parity", "--lib", LIB, "--generated",
                                generated(), "--skip-hf", "--engine-device", "cpu", "--precision", "fp32",
                                "--configs", "", "--hd128", hd, "--compute-capability", "8.0",
                                "--steps-dir", steps], capture_output=True, text=True, timeout=300,
                               env=pythonpath_env())
            rec = common.read_step(steps, "parity")
            self.assertEqual(rec["status"], "pass", p.stdout + p.stderr)
            self.assertEqual(rec["data"]["configs"][0]["kernels"]["sm90"],
                             {"status": "skip", "reason": "compute capability 8.0: the sm90 kernel needs 9.0"})

    def test_graph_latency_script(self):
        # graphs off and on through the C API: on the CPU backend (no graphs) both handles give the same bits
        p = subprocess.run([sys.executable, "-m", "reasonir_bench.graph_latency", "--lib", LIB, "--model",
                            os.path.join(generated(), "plain_mha"), "--lens", "4,9", "--iters", "3", "--warmup", "1",
                            "--device", "cpu"], capture_output=True, text=True, timeout=120, env=pythonpath_env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        res = common.last_json_object(p.stdout)
        self.assertEqual([r["tokens"] for r in res["rows"]], [4, 9])
        for r in res["rows"]:
            self.assertTrue(r["equal_bits"])
            self.assertEqual(r["max_abs_diff"], 0.0)
            for m in ("off", "on"):
                self.assertEqual(r[m]["n"], 3)
                self.assertGreater(r[m]["mean_ms"], 0)
            self.assertAlmostEqual(r["speedup"], r["off"]["mean_ms"] / r["on"]["mean_ms"])
        self.assertEqual(res["errors"], [])

    def test_hf_parity_script_fails_soft(self):
        # wrong device for this build: every config fails with a recorded error, the script still writes its record
        with tempfile.TemporaryDirectory() as steps:
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.hf_parity", "--lib", LIB, "--generated",
                                generated(), "--skip-hf", "--engine-device", "cuda", "--configs", "plain_mha",
                                "--steps-dir", steps], capture_output=True, text=True, timeout=120,
                               env=pythonpath_env())
            self.assertEqual(p.returncode, 1)
            rec = common.read_step(steps, "parity")
            self.assertEqual(rec["status"], "fail")
            self.assertTrue(any("ours:" in e for e in rec["data"]["configs"][0]["errors"]))

    @unittest.skipIf(LIB is None or not os.path.exists(os.path.join(os.path.dirname(LIB or ""), "bench_embed")),
                     "no bench_embed next to the library")
    def test_bench_script_cpu(self):
        with tempfile.TemporaryDirectory() as steps:
            p = subprocess.run([sys.executable, "-m", "reasonir_bench.gpu_bench", "--build-dir", os.path.dirname(LIB),
                                "--model", os.path.join(generated(), "h256_l4"), "--device", "cpu", "--precision",
                                "fp32", "--seq-lens", "16,32", "--batch-tokens", "64", "--iters", "1", "--warmup", "0",
                                "--latency-len", "8", "--latency-iters", "2", "--no-hf", "--no-ops", "--no-ceiling",
                                "--no-attn-sweep", "--graph-lens", "8", "--graph-iters", "2", "--graph-warmup", "1",
                                "--steps-dir", steps], capture_output=True, text=True, timeout=300,
                               env=pythonpath_env())
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            rec = common.read_step(steps, "bench")
            self.assertEqual(rec["status"], "pass")
            # the graphs part through the C API (the CPU backend has no graphs: the same bits either way)
            gl = rec["data"]["graph_latency"]
            self.assertEqual([r["tokens"] for r in gl["rows"]], [8])
            self.assertTrue(gl["rows"][0]["equal_bits"])
            self.assertGreater(gl["rows"][0]["on"]["mean_ms"], 0)
            self.assertNotIn("attention_sweep", rec["data"])
            table = rec["data"]["table"]
            self.assertEqual([r["seq_len"] for r in table], [16, 32])
            with open(os.path.join(generated(), "h256_l4", "config.json")) as f:
                cfg = json.load(f)
            for r, o in zip(table, rec["data"]["ours"]):
                self.assertGreater(r["ours_tokens_per_s"], 0)
                self.assertAlmostEqual(r["ours_tflops"], o["tokens_per_s"] * flops.flops_per_token(cfg, r["seq_len"])
                                       / 1e12)
                # bench_embed's own GFLOP/s (same formula) agrees with ours to its print precision
                self.assertAlmostEqual(o["tflops"] / r["ours_tflops"], 1.0, delta=0.01)
            self.assertGreater(rec["data"]["ours_latency"]["mean_ms"], 0)


class BenchParseTest(unittest.TestCase):
    TEXT = """device      cpu (2 threads, avx512bf16) (cpu, precision fp32)
model       hidden 256, layers 4, heads 8/4 kv, head_dim 32, intermediate 688
batch       4 sequences x 32 tokens = 128 tokens, 3 timed calls (1 warm-up)
time        18.110 ms per call
throughput  7067.9 tokens/s, 41.9 GFLOP/s (0.006 GFLOP per token: linear 0.006 + attention 0.000)
"""

    def test_text(self):
        p = bench.parse_bench_embed(self.TEXT)
        self.assertEqual(p["source"], "text")
        self.assertEqual((p["tokens_per_s"], p["ms_per_call"], p["n_seqs"], p["seq_len"], p["batch_tokens"]),
                         (7067.9, 18.11, 4, 32, 128))
        self.assertAlmostEqual(p["tflops"], 0.0419)

    def test_json(self):
        p = bench.parse_bench_embed(self.TEXT + '{"tokens_per_s": 5.0e4, "tflops": 700.5, "seq_len": 512, '
                                    '"batch_tokens": 16384, "load_s": 3.5, "p99_ms": 7.25, "mean_ms": 6.0}\n')
        self.assertEqual(p["source"], "json")
        self.assertEqual((p["tokens_per_s"], p["load_s"], p["p99_ms"], p["ms_per_call"]), (5.0e4, 3.5, 7.25, 6.0))

    def test_nothing(self):
        self.assertEqual(bench.parse_bench_embed("rir_open failed: no such file"), {})

    def test_combine_table(self):
        cfg = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
               "num_key_value_heads": 8, "head_dim": 128}
        ours = [{"seq_len": 512, "tokens_per_s": 40000.0}, {"seq_len": 8192, "error": "rc 1"}]
        hf = {"throughput": [{"seq_len": 512, "tokens_per_s": 10000.0}, {"seq_len": 8192, "error": "OOM"}]}
        t = bench.combine_table(cfg, ours, hf, 800.0)
        self.assertAlmostEqual(t[0]["ours_over_hf"], 4.0)
        tf = 40000.0 * flops.flops_per_token(cfg, 512) / 1e12
        self.assertAlmostEqual(t[0]["ours_tflops"], tf)
        self.assertAlmostEqual(t[0]["ours_pct_peak"], 100 * tf / 989.0)
        self.assertAlmostEqual(t[0]["ours_pct_ceiling"], 100 * tf / 800.0)
        self.assertIsNone(t[1]["ours_tokens_per_s"])
        self.assertEqual((t[1]["ours_error"], t[1]["hf_error"]), ("rc 1", "OOM"))

    def test_run_cmd_timeout_and_missing(self):
        r = bench.run_cmd([sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(30)"], 1.0)
        self.assertTrue(r["timed_out"])
        self.assertEqual(r["rc"], 124)
        self.assertEqual(bench.run_cmd(["/nonexistent/binary"], 5)["rc"], 127)


if __name__ == "__main__":
    unittest.main()
