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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
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
            # The java step runs only where benchmarks/gpu/prepare-java.sh left a JRE and jars in build/ (then it
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
            tcf = os.path.join(build, "test_cuda_forward")
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
        # ctest's fixture setup runs CMake's Python3_EXECUTABLE: both configure paths must pass the script's one.
        with open(SCRIPT) as f:
            text = f.read()
        self.assertEqual(text.count('-DPython3_EXECUTABLE="$(command -v "$PY")"'), 2)

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


if __name__ == "__main__":
    unittest.main()
