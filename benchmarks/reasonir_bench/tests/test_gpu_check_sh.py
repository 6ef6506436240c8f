"""benchmarks/gpu-check.sh without a GPU: argument handling, the fast no-GPU failure (exit 2, < 5 s), and an end-to-end
run with a fake nvidia-smi over cheap steps (report files, $OUT, fail-soft recording)."""
import json
import os
import signal  # noqa: F401  (os.killpg)
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from reasonir_bench import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu-check.sh")

FAKE_SMI_OK = """#!/bin/sh
case "$*" in
  -L) echo "GPU 0: Fake H100 80GB HBM3 (UUID: GPU-0)";;
  *query-gpu=name,driver*) echo "Fake H100 80GB HBM3, 580.00, 81559 MiB, 9.0";;
  *query-gpu=name*) echo "Fake H100 80GB HBM3";;
  *) echo "fake";;
esac
"""
FAKE_SMI_FAIL = """#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
exit 9
"""


def fake_bin(d, body):
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "nvidia-smi")
    with open(p, "w") as f:
        f.write(body)
    os.chmod(p, os.stat(p).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return d


def run(args, env_extra=None, path_prefix=None, timeout=120):
    env = dict(os.environ)
    env.pop("OUT", None)
    if path_prefix:
        env["PATH"] = path_prefix + os.pathsep + env["PATH"]
    env.update(env_extra or {})
    t0 = time.time()
    p = subprocess.run(["bash", SCRIPT] + args, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    return p, time.time() - t0


class GpuCheckShTest(unittest.TestCase):
    def test_help_and_bad_args(self):
        p, _ = run(["--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("--build-dir", p.stdout)
        for bad in (["--bogus"], ["--steps", "env,nope"], ["--budget", "abc"], ["--out"]):
            p, _ = run(bad)
            self.assertEqual(p.returncode, 64, (bad, p.stderr))

    @unittest.skipIf(shutil.which("nvidia-smi") is not None, "this machine has nvidia-smi")
    def test_no_nvidia_smi(self):
        p, dt = run([])
        self.assertEqual(p.returncode, 2)
        self.assertIn("no NVIDIA GPU visible: nvidia-smi", p.stderr)
        self.assertIn("this script needs one", p.stderr)
        self.assertLess(dt, 5.0)

    def test_nvidia_smi_fails(self):
        with tempfile.TemporaryDirectory() as d:
            p, dt = run(["--quick"], path_prefix=fake_bin(d, FAKE_SMI_FAIL))
            self.assertEqual(p.returncode, 2)
            self.assertIn("no NVIDIA GPU visible: nvidia-smi -L failed (exit 9)", p.stderr)
            self.assertLess(dt, 5.0)

    def test_fake_gpu_end_to_end(self):
        with tempfile.TemporaryDirectory() as d:
            binp = fake_bin(os.path.join(d, "bin"), FAKE_SMI_OK)
            cub = os.path.join(d, "cublas")
            os.makedirs(os.path.join(cub, "lib"))
            os.makedirs(os.path.join(cub, "include"))
            for name in ("lib/libcublasLt.so.12", "lib/libcublasLt.so.13", "include/cublasLt.h"):
                open(os.path.join(cub, name), "w").close()
            out = os.path.join(d, "out-from-env")
            env = {"GPU_CHECK_WORK": os.path.join(d, "work"), "GPU_CHECK_CUBLASLT_SEARCH": cub, "OUT": out}
            # java (skips: no JRE) and sanitizer (fails: no test binary in the empty build dir): cheap steps
            p, _ = run(["--build-dir", os.path.join(d, "nobuild"), "--steps", "sanitizer,java"], env, binp)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            self.assertIn("overall:", p.stdout)
            self.assertEqual(sorted(os.listdir(out)), ["report.json", "report.md", "steps.log"])
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            steps = {s["step"]: s for s in rep["steps"]}
            self.assertEqual(sorted(steps), ["env", "java", "sanitizer"])
            self.assertEqual(steps["env"]["data"]["cublaslt_so"], os.path.join(cub, "lib", "libcublasLt.so.13"))
            self.assertEqual(steps["env"]["data"]["cublaslt_h_dir"], os.path.join(cub, "include"))
            # The java step runs only where benchmarks/prepare-java.sh left a JRE and jars in build/ (then it
            # fails here: the GPU is fake); in a fresh clone it is skipped.
            jars = os.path.join(ROOT, "build", "gpu-java")
            carried = (os.access(os.path.join(ROOT, "build", "jre", "bin", "java"), os.X_OK) and os.path.isdir(jars)
                       and any(f.endswith(".jar") for f in os.listdir(jars)))
            self.assertEqual(steps["java"]["status"], "fail" if carried else "skip")
            self.assertEqual(steps["sanitizer"]["status"], "fail")
            self.assertIn("missing", steps["sanitizer"]["summary"])
            self.assertEqual(rep["overall"], "fail")
            self.assertEqual(p.returncode, 1)
            # --out wins over $OUT
            out2 = os.path.join(d, "explicit")
            p, _ = run(["--build-dir", os.path.join(d, "nobuild"), "--steps", "java", "--out", out2], env, binp)
            self.assertTrue(os.path.exists(os.path.join(out2, "report.md")))

    def test_cuda13_wheel_layout_is_found(self):
        # The CUDA 13 wheels install under nvidia/cu13/ (not nvidia/cublas/): the env step must find them there.
        with tempfile.TemporaryDirectory() as d:
            binp = fake_bin(os.path.join(d, "bin"), FAKE_SMI_OK)
            site = os.path.join(d, "site")
            cu13 = os.path.join(site, "nvidia", "cu13")
            os.makedirs(os.path.join(cu13, "lib"))
            os.makedirs(os.path.join(cu13, "include"))
            for name in ("lib/libcublasLt.so.13", "include/cublasLt.h"):
                open(os.path.join(cu13, name), "w").close()
            out = os.path.join(d, "out")
            env = {"GPU_CHECK_WORK": os.path.join(d, "work"), "PYTHONPATH": site, "PYTHON": sys.executable}
            env.pop("GPU_CHECK_CUBLASLT_SEARCH", None)
            p, _ = run(["--build-dir", os.path.join(d, "nobuild"), "--steps", "java", "--out", out], env, binp,
                       timeout=180)
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            env_step = [s for s in rep["steps"] if s["step"] == "env"][0]
            self.assertEqual(env_step["data"]["cublaslt_so"], os.path.join(cu13, "lib", "libcublasLt.so.13"),
                             p.stdout[-2000:])
            self.assertEqual(env_step["data"]["cublaslt_h_dir"], os.path.join(cu13, "include"))
            with open(os.path.join(d, "work", "logs", "env.log")) as f:
                log = f.read()
            self.assertIn("nvidia wheel dirs: " + os.path.join(site, "nvidia"), log)  # found through the wheel,
            self.assertNotIn("searching the whole file system", log)                 # not by the slow fallback

    def test_run_cut_off_from_outside_leaves_a_report(self):
        # The report is rewritten after every step: killing the script in the middle of a step (an outside time
        # limit) leaves report.json with the steps done and the rest listed as not run.
        with tempfile.TemporaryDirectory() as d:
            binp = fake_bin(os.path.join(d, "bin"), FAKE_SMI_OK)
            san = os.path.join(binp, "compute-sanitizer")
            with open(san, "w") as f:
                f.write('#!/bin/sh\ncase "$1" in --tool) sleep 60;; *) echo "fake compute-sanitizer";; esac\n')
            os.chmod(san, 0o755)
            build = os.path.join(d, "build")
            os.makedirs(build)
            for prog in ("test_cuda_forward", "test_cuda_ops"):  # what memcheck and racecheck run
                tcf = os.path.join(build, prog)
                with open(tcf, "w") as f:
                    f.write("#!/bin/sh\nexit 0\n")
                os.chmod(tcf, 0o755)
            out = os.path.join(d, "out")
            env = dict(os.environ, GPU_CHECK_WORK=os.path.join(d, "work"), GPU_CHECK_CUBLASLT_SEARCH=d)
            env.pop("OUT", None)
            env["PATH"] = binp + os.pathsep + env["PATH"]
            proc = subprocess.Popen(["bash", SCRIPT, "--steps", "sanitizer,java", "--out", out, "--build-dir", build],
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
            deadline = time.time() + 60
            while time.time() < deadline and not os.path.exists(os.path.join(out, "report.json")):
                time.sleep(0.2)
            time.sleep(1.0)  # now inside the sanitizer step (the fake tool sleeps)
            os.killpg(proc.pid, 9)
            proc.communicate()
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            self.assertEqual([s["step"] for s in rep["steps"]], ["env"])
            self.assertEqual(rep["missing_steps"], ["sanitizer", "java"])
            self.assertIn(rep["overall"], ("incomplete", "fail"))  # env fails where torch cannot see a GPU
            with open(os.path.join(out, "report.md")) as f:
                self.assertIn("--steps sanitizer,java", f.read())

    def test_cmake_gets_this_runs_python(self):
        # ctest's fixture setup runs CMake's Python3_EXECUTABLE: every configure path (GPU: fresh and incremental;
        # the emulator's) must pass the script's one.
        with open(SCRIPT) as f:
            text = f.read()
        self.assertEqual(text.count('-DPython3_EXECUTABLE="$(command -v "$PY")"'), 3)
        self.assertEqual(text.count("cmake -S . -B"), 3)

    def test_budget_skips_optional_steps(self):
        with tempfile.TemporaryDirectory() as d:
            binp = fake_bin(os.path.join(d, "bin"), FAKE_SMI_OK)
            env = {"GPU_CHECK_WORK": os.path.join(d, "work"), "GPU_CHECK_CUBLASLT_SEARCH": d}
            out = os.path.join(d, "out")
            # budget 0: optional steps (java) are skipped for time
            p, _ = run(["--budget", "0", "--steps", "java", "--out", out, "--build-dir", d], env, binp)
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            java = [s for s in rep["steps"] if s["step"] == "java"][0]
            self.assertEqual(java["status"], "incomplete")  # not run for time: never a failure
            self.assertIn("time budget", java["summary"])
            self.assertIn(rep["overall"], ("incomplete", "fail"))  # env may fail here (no torch on the GPU)
            if rep["overall"] == "incomplete":
                self.assertEqual(p.returncode, 3)


# The sm90 attention kernel (issue 21) is in the library and runs on the emulator (compute capability 9.0): its
# parity, sweep and per-op rows must pass with real figures. (False would expect the rows of a build without it.)
SM90_BUILT = True


def emulator_build_dir():
    """Maven's native build (configured with the CUDA emulator) when there, so the rehearsal only builds what it
    lacks; else the script's own default (build/gpu-emu, configured and built from scratch: minutes)."""
    native = os.path.join(ROOT, "build", "native")
    try:
        with open(os.path.join(native, "CMakeCache.txt")) as f:
            if "REASONIR_EMU_TESTS:BOOL=ON" in f.read():
                return native
    except OSError:
        pass
    return os.path.join(ROOT, "build", "gpu-emu")


class GpuCheckEmulatedTest(unittest.TestCase):
    """`gpu-check.sh --emulate`: the whole check, end to end, on the CUDA emulator (issue 17): the flow, the time
    limits, the step records and the report run here before any GPU sees them."""

    def emulate(self, d, *args, timeout=1500):
        out = os.path.join(d, "out")
        env = {"GPU_CHECK_WORK": os.path.join(d, "work"), "PYTHON": sys.executable}
        p, _ = run(["--emulate", "--build-dir", emulator_build_dir(), "--out", out] + list(args), env,
                   timeout=timeout)
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        return p, rep, {s["step"]: s for s in rep["steps"]}, out

    def test_emulated_check_passes_with_every_step(self):
        with tempfile.TemporaryDirectory() as d:
            # The default budget (420 s) is sized for the GPU machine; the emulator runs the same steps on the CPU,
            # near that limit on a 2-core machine and past it on a busy one, so this run of the whole flow gets more.
            # The budget logic itself is tested with a budget that is too small (below).
            p, rep, steps, out = self.emulate(d, "--budget", "1200")
            msg = p.stdout[-4000:] + p.stderr[-2000:]
            self.assertEqual(rep["overall"], "pass", msg)
            self.assertEqual(p.returncode, 0, msg)
            self.assertEqual(list(steps), ["env", "build", "header", "fixtures", "ctest", "parity", "bench",
                                           "sanitizer", "java"])
            self.assertEqual(rep["meta"]["mode"], "emulate")
            self.assertEqual(rep["meta"]["gpu"], "CUDA emulator (CPU)")
            for name in ("header", "java"):  # no real cublasLt.h; the Java CUDA path runs in core's emulated tests
                self.assertEqual(steps[name]["status"], "skip")
            for name in ("env", "build", "fixtures", "ctest", "parity", "bench", "sanitizer"):
                self.assertEqual(steps[name]["status"], "pass", (name, steps[name].get("summary")))
            self.assertTrue(steps["env"]["data"]["cublaslt_so"].endswith("libfake_cublaslt.so"))
            self.assertRegex(steps["ctest"]["summary"], r"^[1-9][0-9]* passed, 0 failed")
            # parity: the three fixtures, each within the tolerance of the fp32 reference, bit-deterministic
            cfgs = steps["parity"]["data"]["configs"]
            self.assertEqual([c["config"] for c in cfgs], ["llama3_gqa", "plain_mha", "h256_l4", "hd128_l2"])
            for c in cfgs:
                self.assertTrue(c["pass"], c)
                self.assertGreaterEqual(c["compare"]["ours_vs_ref_fp32"]["min_cosine"], 0.9995)
                self.assertTrue(c["workflow"]["determinism"]["equal_bits"])
            # ... with attention sm80, then sm90: skipped for the fixtures' head_dims (16, 32), run on hd128_l2
            self.assertEqual(steps["parity"]["data"]["attention_kernels"], ["sm80", "sm90"])
            self.assertEqual(steps["parity"]["data"]["compute_capability"], "9.0")  # the emulator's
            for c in cfgs:
                self.assertEqual(c["kernels"]["sm80"], {"status": "pass"}, c["config"])
            for c in cfgs[:3]:
                self.assertEqual(c["kernels"]["sm90"]["status"], "skip")
                self.assertRegex(c["kernels"]["sm90"]["reason"], r"^head_dim (16|32): the sm90 kernel supports 64 and 128")
            sm90 = cfgs[3]["kernels"]["sm90"]
            if SM90_BUILT:
                self.assertEqual(sm90["status"], "pass", sm90)
                self.assertGreaterEqual(sm90["compare"]["vs_sm80"]["min_cosine"], 0.9999)
                self.assertGreaterEqual(sm90["compare"]["vs_ref_fp32"]["min_cosine"], 0.9995)
                self.assertTrue(sm90["determinism"]["equal_bits"])
            else:
                self.assertEqual(sm90["status"], "skip", sm90)
                self.assertIn("attention sm90 is not in this build", sm90["reason"])
            self.assertEqual(steps["parity"]["data"]["kernels"]["sm80"]["status"], "pass")
            self.assertEqual(steps["parity"]["data"]["kernels"]["sm90"]["status"], "pass" if SM90_BUILT else "skip")
            try:
                import transformers  # noqa: F401
                self.assertNotIn("hf_not_run", steps["parity"]["data"])
            except ImportError:
                self.assertIn("transformers does not import", steps["parity"]["data"]["hf_not_run"])
            # bench: the tiny model through bench_embed, the latency run, the GEMM ceiling and the per-op layer
            bench = steps["bench"]["data"]
            self.assertGreater(bench["ours"][0]["tokens_per_s"], 0)
            self.assertEqual(bench["ours"][0]["seq_len"], 64)
            self.assertIn("cuda", bench["ours"][0]["backend"])
            self.assertGreater(bench["ours_latency"]["mean_ms"], 0)
            self.assertGreater(bench["gemm_ceiling"]["gemm_tflops"], 0)
            self.assertGreater(bench["per_op_ms"]["layer_ms"], 0)
            # the per-op attention with each kernel, the attention sweep (2 heads of 128, S = 64 and 128 in 128
            # tokens), and the batch-1 latency with graphs off and on
            sm90_ran = "ok" if SM90_BUILT else "not built"
            kops = bench["per_op_ms"]["attention_kernels"]
            # the per-op layer runs the tiny model, whose head_dim (32) the sm90 kernel does not take: a skip that says
            # so (on a GPU the layer is 8B-shaped, head_dim 128, and sm90 runs there)
            self.assertEqual((kops["sm80"]["status"], kops["sm90"]["status"]), ("ok", "skip" if SM90_BUILT else "not built"))
            if SM90_BUILT:
                self.assertIn("head_dim 32", kops["sm90"]["reason"] if "reason" in kops["sm90"] else str(kops["sm90"]))
            self.assertGreater(kops["sm80"]["attention_ms"], 0)
            self.assertAlmostEqual(kops["sm80"]["attention_ms"], bench["per_op_ms"]["attention_ms"], places=3)
            sweep = bench["attention_sweep"]
            self.assertEqual((sweep["heads"], sweep["kv_heads"], sweep["head_dim"], sweep["peak_tflops"]),
                             (2, 1, 128, 989.4))
            self.assertEqual([(r["kernel"], r["seq_len"], r["n_seqs"], r["layout"], r["status"]) for r in sweep["rows"]],
                             [("sm80", 64, 2, "packed varlen batch", "ok"), ("sm90", 64, 2, "packed varlen batch", sm90_ran),
                              ("sm80", 128, 1, "one sequence", "ok"), ("sm90", 128, 1, "one sequence", sm90_ran)])
            for r in sweep["rows"]:
                self.assertEqual(r["tokens"], 128)
                self.assertAlmostEqual(r["tflop"], 4 * r["seq_len"] ** 2 * 128 * 2 * r["n_seqs"] / 1e12, delta=1e-10)
                if r["status"] == "ok":
                    self.assertGreater(r["ms"], 0)
                    self.assertGreater(r["tflops"], 0)
                    self.assertAlmostEqual(r["pct_peak"], 100 * r["tflops"] / 989.4, delta=1e-3 * r["pct_peak"])
                else:
                    self.assertIn("no sm90 attention kernel", r["reason"])
            gl = bench["graph_latency"]
            self.assertEqual([r["tokens"] for r in gl["rows"]], [8, 16])
            for r in gl["rows"]:
                self.assertTrue(r["equal_bits"], r)
                self.assertEqual(r["max_abs_diff"], 0.0)
                for m in ("off", "on"):
                    self.assertEqual(r[m]["n"], 2)
                    self.assertGreater(r[m]["mean_ms"], 0)
                self.assertGreater(r["speedup"], 0)
            self.assertIn("graphs 8 tok x", steps["bench"]["summary"])
            k90 = bench["ours_sm90"]  # sm90 end to end: the tiny model's head_dim 32 is refused at open, a skip
            self.assertEqual([r["seq_len"] for r in k90], [64])
            self.assertIn("attention sm90 supports head_dim 64 and 128, this model has 32", k90[0]["skip"])
            self.assertNotIn("error", k90[0])
            self.assertEqual(bench["table_sm90"][0]["sm90_skip"], k90[0]["skip"])
            self.assertEqual(bench["graph_latency_sm90"]["skip"], k90[0]["skip"])
            self.assertIn("sm90 end to end skipped:", steps["bench"]["summary"])
            # ... and its results in the benchmark suite's schema, rendered like a CPU run's (OUT/bench)
            with open(os.path.join(out, "bench", "results.json")) as f:
                res = json.load(f)
            self.assertEqual((res["schema"], res["device"]), ("reasonir-bench/1", "cuda"))
            self.assertAlmostEqual(res["suites"]["embed"]["rows"][0]["ours"]["tokens_per_s"],
                                   bench["ours"][0]["tokens_per_s"])
            with open(os.path.join(out, "bench", "report.md")) as f:
                self.assertTrue(f.readline().startswith("# ReasonIR benchmark: "))
            tools = steps["sanitizer"]["data"]["tools"]
            self.assertEqual(sorted(tools), ["memcheck", "racecheck"])
            self.assertTrue(tools["memcheck"]["command"].endswith("test_cuda_forward --small"))
            self.assertTrue(tools["racecheck"]["command"].endswith("test_cuda_ops attention"))
            for t in tools.values():
                self.assertEqual((t["status"], t["summary_line"]), ("pass", "ERROR SUMMARY: 0 errors"))
            with open(os.path.join(out, "report.md")) as f:
                md = f.read()
            self.assertEqual(md.splitlines()[0].strip(), "# ReasonIR GPU check: PASS")
            for section in ("### Attention kernels (sm80, sm90)", "### End to end per attention kernel (sm80 vs sm90)",
                            "### Attention kernels alone",
                            "### Batch-1 latency with CUDA graphs off and on", "| hd128_l2 | sm90 | "):
                self.assertIn(section, md)

    def test_budget_too_small_gives_a_partial_incomplete_report(self):
        # 50 s: the parity step starts its first config, runs out of time for the others (each takes tens of seconds
        # on the emulator), and the optional steps after it are not started: nothing failed, so incomplete (exit 3).
        with tempfile.TemporaryDirectory() as d:
            p, rep, steps, out = self.emulate(d, "--budget", "50", "--steps", "build,fixtures,parity,bench,sanitizer")
            msg = p.stdout[-4000:] + p.stderr[-2000:]
            self.assertEqual(rep["overall"], "incomplete", msg)
            self.assertEqual(p.returncode, 3, msg)
            self.assertEqual(steps["parity"]["status"], "incomplete", msg)
            cfgs = steps["parity"]["data"]["configs"]
            skipped = [c for c in cfgs if c.get("skipped")]
            self.assertTrue(skipped, cfgs)
            self.assertTrue(all(c["skipped"] == "time budget" for c in skipped))
            self.assertTrue(all(c["pass"] for c in cfgs if not c.get("skipped")), cfgs)
            for name in ("bench", "sanitizer"):
                self.assertEqual(steps[name]["status"], "incomplete")
                self.assertIn("time budget", steps[name]["summary"])
            self.assertEqual(sorted(rep["incomplete_steps"]), ["bench", "parity", "sanitizer"])
            with open(os.path.join(out, "report.md")) as f:
                md = f.read()
            self.assertTrue(md.startswith("# ReasonIR GPU check: INCOMPLETE"), md[:200])
            self.assertIn("parity", md)


if __name__ == "__main__":
    unittest.main()
