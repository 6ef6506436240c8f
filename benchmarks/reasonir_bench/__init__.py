"""reasonir_bench: the benchmark and GPU-check tooling of ReasonIR-8B as one package.

Run its tools as modules with benchmarks/ on the import path:

    PYTHONPATH=benchmarks python3 -m reasonir_bench.<module> ...

Modules (see benchmarks/README.md):
  flops         the model's FLOP count (the one Python copy; native/bench/model_cost.h is the C++ one)
  common        step records, the time budget, statistics, JSON/text helpers; `record` CLI of the check's shell
  engine        ctypes binding of libreasonir.so
  validate      the GPU check's validation parsers (ctest, compute-sanitizer) and their CLI
  hf_common, hf_parity   the parity validation step (ours vs HF transformers vs the fp32 reference)
  gpu_bench, hf_bench    the GPU benchmark step (ours vs HF), gpu_results its suite-schema results.json
  graph_latency          the benchmark's batch-1 latency with CUDA graphs off and on (bits compared)
  check_report  the GPU check's step records -> report.md / report.json with the verdict
  peer_torch    the PyTorch peer of the CPU suite
  suite         the CPU benchmark suite's orchestrator
  report        results.json (schema "reasonir-bench/1", SCHEMA.md) -> report.md + PNG plots
"""
from __future__ import annotations

import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(PACKAGE_DIR)  # benchmarks/
ROOT = os.path.dirname(BENCH_DIR)  # the repository
WEIGHTS_TOOLS = os.path.join(ROOT, "weights-tools")


def use_weights_tools() -> str:
    """Makes weights-tools/ (generate_checkpoint, reference, safetensors_io, ...) importable; returns its path.
    Appended, never prepended: weights-tools has a hf_parity.py of its own, which must not shadow anything."""
    if WEIGHTS_TOOLS not in sys.path:
        sys.path.append(WEIGHTS_TOOLS)
    return WEIGHTS_TOOLS


def pythonpath_env(env=None) -> dict:
    """A copy of env (default os.environ) whose PYTHONPATH starts with benchmarks/, for child processes that run
    `python3 -m reasonir_bench.<module>`."""
    env = dict(os.environ if env is None else env)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BENCH_DIR + (os.pathsep + old if old else "")
    return env
