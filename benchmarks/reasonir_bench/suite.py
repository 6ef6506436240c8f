#!/usr/bin/env python3
"""The benchmark suite's orchestrator: runs every measurement of benchmarks/run.sh (which builds first and then calls
this with /usr/bin/python3) and writes results.json, report.md and the plots (the report package).

    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.suite [--quick] [--out DIR] [--suites LIST] [--threads T]
        [--no-peer] [--native DIR]

Suites (SCHEMA.md names them): ceiling, embed, ops, latency, open, tokenizer, jni, search, server. Each runs the
project's own tools (native/bench/bench_embed, bench_gemm and bench_ops, benchmarks.jar's TokenizerBench, JniBench,
SearchBench and LoadTest) and the PyTorch peer (peer_torch.py) on the same
checkpoints, sequence lengths and token budgets. --native DIR takes the native tools from another build (default
build/native; e.g. a git worktree's build of the code before a change), recorded as "native_dir" in results.json.
A suite that fails is recorded in results.json ("error") and the others still run.
Checkpoints are generated (random weights, deterministic) under build/bench/ckpt and reused by later runs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from reasonir_bench import ROOT, pythonpath_env, report

WORK = os.path.join(ROOT, "build", "bench")
NATIVE = os.path.join(ROOT, "build", "native")  # default of --native
BENCH_JAR = os.path.join(ROOT, "benchmarks", "target", "benchmarks.jar")
CLI_JAR = os.path.join(ROOT, "cli", "target", "reasonir-cli.jar")
TOKENIZER = os.path.join(ROOT, ".cache", "tokenizer", "llama3_1")
PEER = ["-m", "reasonir_bench.peer_torch"]  # run with sys.executable and benchmarks/ on PYTHONPATH (self.env)
PEER_PATH = "benchmarks/reasonir_bench/peer_torch.py"
JAVA = ["java", "--enable-native-access=ALL-UNNAMED"]

# name -> generate_checkpoint.py preset
CHECKPOINTS = {"h256_l4": "tiny-h256", "medium": "medium-h1024", "micro": "micro-h64"}

# REASONIR_CPU_ISA levels, lowest first (native/src/cpu/isa.h); the ops suite's per-ISA rows run avx2 up to the
# engine's own
ISA_LEVELS = ("scalar", "avx2", "avx512", "avx512bf16", "amx")


class SuiteError(RuntimeError):
    pass


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.quick = args.quick
        self.threads = args.threads or os.cpu_count() or 1
        self.results: Dict[str, Any] = {
            "schema": "reasonir-bench/1",
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "elapsed_s": None,
            "command": "benchmarks/run.sh" + (" " + " ".join(args.passthrough) if args.passthrough else ""),
            "mode": "quick" if args.quick else "full",
            "device": "cpu",
            "machine": {},
            "ceiling": {},
            "checkpoints": [],
            "suites": {},
            "errors": [],
        }
        self.native = os.path.abspath(args.native or NATIVE)
        rel = os.path.relpath(self.native, ROOT)
        self.results["native_dir"] = self.native if rel.startswith("..") else rel
        self._drift_ok: Optional[bool] = None
        self.t0 = time.monotonic()
        self.env = pythonpath_env(os.environ)  # children run `python3 -m reasonir_bench.<module>`
        # The peer's BLAS (Debian's OpenBLAS) and torch's OpenMP pool get the same thread count as the engine.
        self.env.update({"OMP_NUM_THREADS": str(self.threads), "OPENBLAS_NUM_THREADS": str(self.threads),
                         "MKL_NUM_THREADS": str(self.threads)})

    # ---- plumbing -----------------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.0f} s] {msg}", flush=True)

    def run_json(self, cmd: List[str], timeout: float, what: str,
                 env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """Runs a tool and returns the JSON object it prints as its last line (stdout)."""
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env or self.env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SuiteError(f"{what}: timed out after {timeout:.0f} s ({shlex.join(cmd)})")
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise SuiteError(f"{what}: exit {p.returncode}: {' | '.join(tail)}")
        for line in reversed(p.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise SuiteError(f"{what}: printed no JSON line")

    def ckpt(self, name: str) -> str:
        return os.path.join(WORK, "ckpt", name)

    def tool(self, name: str) -> str:
        """A native tool of the --native build; SuiteError when that build has none."""
        path = os.path.join(self.native, name)
        if not os.path.isfile(path):
            raise SuiteError(f"{name} not found in {self.native} (build it there, or pick another build with --native)")
        return path

    def drift_flag(self) -> List[str]:
        """["--drift"] when this build's bench_embed has it (an older one has not: its BF16 rows get no min cosine)."""
        if self._drift_ok is None:
            try:
                p = subprocess.run([self.tool("bench_embed"), "--help"], capture_output=True, text=True, timeout=60)
                self._drift_ok = "--drift" in (p.stdout + p.stderr)
            except (OSError, subprocess.SubprocessError):
                self._drift_ok = False
        return ["--drift"] if self._drift_ok else []

    def precision_ceiling(self, precision: str) -> Optional[float]:
        """The measured ceiling of a precision (GFLOP/s): the fp32 or the BF16 mode's GEMM microkernel in cache."""
        c = self.results.get("ceiling") or {}
        v = c.get("bf16_gflops") if precision == "bf16" else c.get("gflops")
        return v if isinstance(v, (int, float)) and v > 0 else None

    # ---- setup --------------------------------------------------------------------------------------------------
    def machine(self) -> None:
        m: Dict[str, Any] = {"cores": os.cpu_count(), "threads": self.threads, "gpu": None, "transformers": None}
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
            with open("/proc/meminfo", encoding="utf-8") as f:
                kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
                m["memory_gb"] = round(kb / 1024 / 1024, 1)
        except (OSError, AttributeError):
            pass
        m["cpu"] = cpu
        m["os"] = platform.platform(terse=True)
        m["python"] = platform.python_version()
        try:
            out = subprocess.run(JAVA[:1] + ["-version"], capture_output=True, text=True, timeout=30).stderr
            m["java"] = re.search(r'version "([^"]+)"', out).group(1)
        except (OSError, subprocess.SubprocessError, AttributeError):
            m["java"] = None
        try:
            import torch  # noqa: F401
            m["torch"] = torch.__version__
        except ImportError:
            m["torch"] = None
        words = re.findall(r"[a-z0-9]+", cpu.lower())
        words = [w for w in words if w not in ("cpu", "processor", "with", "core", "tm", "r")][:2] or ["cpu"]
        m["name"] = "-".join(words) + f"-{m['cores']}c"
        self.results["machine"] = m

    def checkpoints(self) -> None:
        gen = os.path.join(ROOT, "weights-tools", "generate_checkpoint.py")
        for name, preset in CHECKPOINTS.items():
            d = self.ckpt(name)
            if not os.path.exists(os.path.join(d, ".complete")):  # marker written last: no half-made folder
                self.log(f"generating checkpoint {name} ({preset})")
                subprocess.run(["rm", "-rf", d], check=True)
                subprocess.run([sys.executable, gen, "--preset", preset, "--out", d, "--tokenizer-dir", TOKENIZER],
                               cwd=ROOT, check=True, capture_output=True, text=True)
                open(os.path.join(d, ".complete"), "w").close()
            with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
                c = json.load(f)
            self.results["checkpoints"].append({
                "name": name, "hidden": c["hidden_size"], "layers": c["num_hidden_layers"],
                "heads": c["num_attention_heads"], "kv_heads": c["num_key_value_heads"], "head_dim": c["head_dim"],
                "intermediate": c["intermediate_size"], "vocab": c["vocab_size"],
                "bytes": sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".safetensors"))})

    # ---- suites -------------------------------------------------------------------------------------------------
    def suite_ceiling(self) -> None:
        size = 2048
        r = self.run_json([self.tool("bench_gemm"), "--threads", str(self.threads), "--size", str(size),
                           "--iters", "10", "--json"], 300, "bench_gemm")
        self.results["machine"]["isa"] = r["isa"]

        def val(key: str) -> Any:  # an older bench_gemm lacks the bf16_* and mem_read_gbps keys: null
            v = r.get(key)
            return v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else None

        def gf(v: Any) -> str:
            return f"{v:.0f} GFLOP/s" if isinstance(v, (int, float)) else "n/a"

        # The ceiling of each precision is the engine's GEMM microkernel of that mode with its operands in cache, on
        # every thread at once: the most the forward pass's matrix products can reach on this machine in that mode.
        # The register-only peaks (FMA, and vdpbf16ps / tdpbf16ps where the BF16 mode uses them) and the full threaded
        # GEMMs on a large square (memory traffic, packing, threading included) are stated beside them; on a shared
        # virtual machine a full GEMM varies by 10-20 % from run to run, too much to serve as the yardstick.
        bf16 = val("bf16_kernel_gflops")
        how = (f"native/bench/bench_gemm: the engine's fp32 GEMM microkernel ({r['kernel_name']}) "
               + (f"and the BF16 mode's ({val('bf16_kernel_name')}, {val('bf16_instr')}) " if bf16 is not None else "")
               + f"with operands in cache, {self.threads} threads at once; the full threaded GEMM ({size} x {size} x "
               f"{size}, best of 10) reached {gf(r['gemm_gflops'])} (fp32)"
               + (f" and {gf(val('bf16_gemm_gflops'))} (bf16)" if bf16 is not None else "")
               + " in the same run"
               + ("" if bf16 is not None else "; this bench_gemm measures no BF16 ceiling"))
        self.results["ceiling"] = {
            "gflops": r["kernel_gflops"],
            "how": how,
            "fma_peak_gflops": r["fma_peak_gflops"],
            "datasheet_gflops": None,
            "kernel_name": val("kernel_name"),
            "gemm_gflops": val("gemm_gflops"),
            "bf16_gflops": bf16,
            "bf16_peak_gflops": val("bf16_peak_gflops"),
            "bf16_instr": val("bf16_instr"),
            "bf16_kernel_name": val("bf16_kernel_name"),
            "bf16_gemm_gflops": val("bf16_gemm_gflops"),
            "mem_read_gbps": val("mem_read_gbps"),
        }
        mem = val("mem_read_gbps")
        self.log(f"ceiling: fp32 FMA peak {gf(r['fma_peak_gflops'])}, kernel {gf(r['kernel_gflops'])}, "
                 f"GEMM {gf(r['gemm_gflops'])}; bf16 ({val('bf16_instr') or 'n/a'}) peak "
                 f"{gf(val('bf16_peak_gflops'))}, kernel {gf(bf16)}, GEMM {gf(val('bf16_gemm_gflops'))}; memory read "
                 f"{(f'{mem:.1f} GB/s') if mem is not None else 'n/a'} ({r['isa']})")

    def embed_plan(self) -> List[Dict[str, Any]]:
        """(checkpoint, S, batch tokens, ours iters/warmup, peer iters/warmup). Each call on the medium model takes
        seconds, so long ones get one timed call after none or one warm-up."""
        plan = []
        if self.quick:
            for s in (32, 128, 512, 2048):
                plan.append(dict(ck="h256_l4", S=s, B=8192, it=3, wu=1, pit=2, pwu=1))
            for s in (128, 1024):
                plan.append(dict(ck="medium", S=s, B=4096, it=1, wu=0, pit=1, pwu=0))
            # two BF16 rows on shapes the fp32 rows above measured (BF16 / FP32 per shape, min cosine vs FP32)
            plan.append(dict(ck="h256_l4", S=512, B=8192, it=3, wu=1, precision="bf16"))
            plan.append(dict(ck="medium", S=1024, B=4096, it=1, wu=0, precision="bf16"))
            plan.append(dict(ck="medium", S=1024, B=4096, it=1, wu=0, pit=1, pwu=0, mixed=True))
            return plan
        for s in (32, 128, 512, 1024, 2048, 8192):
            long_call = s >= 2048  # the peer takes 5-20 s per call here: one timed call, no warm-up
            plan.append(dict(ck="h256_l4", S=s, B=max(8192, s), it=3 if long_call else 5, wu=1,
                             pit=1 if long_call else 3, pwu=0 if long_call else 1))
        for b in (512, 2048, 32768):  # the token budget at fixed S
            plan.append(dict(ck="h256_l4", S=128, B=b, it=5, wu=1, pit=3, pwu=1))
        # S = 32 and 8192 only on h256_l4 (on this model S = 32 reads like S = 128, and one peer call at S = 8192
        # takes two minutes, which the 15-minute budget of the default run cannot hold).
        for s in (128, 512, 1024, 2048):
            long_call = s >= 2048
            plan.append(dict(ck="medium", S=s, B=max(8192, s), it=1, wu=0 if long_call else 1,
                             pit=1, pwu=0 if long_call else 1))
        # The engine's BF16 mode (transformers-in-bf16 numerics, AVX512_BF16 dot products or AMX tiles where the CPU
        # has them) on the same shapes as the fp32 rows, against the same fp32 peer measurement: what a user who
        # accepts bf16 rounding gets on this CPU, how it compares with FP32 per shape, and (--drift: the same batch
        # once more in FP32, untimed) the smallest cosine between the two.
        for s in (128, 512, 1024, 2048, 8192):
            long_call = s >= 2048
            plan.append(dict(ck="h256_l4", S=s, B=max(8192, s), it=3 if long_call else 5, wu=1, precision="bf16"))
        for s in (128, 512, 1024, 2048):
            long_call = s >= 2048
            plan.append(dict(ck="medium", S=s, B=max(8192, s), it=1, wu=0 if long_call else 1, precision="bf16"))
        # Documents of mixed lengths, as real corpora come: the engine packs them, the peer pads each batch to its
        # longest sequence (what transformers does with padding=True).
        for ck in ("h256_l4", "medium"):
            for s in (512, 2048):
                plan.append(dict(ck=ck, S=s, B=8192, it=2 if ck == "h256_l4" else 1, wu=1,
                                 pit=2 if ck == "h256_l4" else 1, pwu=1 if ck == "h256_l4" else 0, mixed=True))
        return plan

    @staticmethod
    def mixed_lengths(max_len: int, budget: int) -> List[int]:
        """Lengths uniform in [max_len / 8, max_len] (seeded), as many as fit the token budget (at least two)."""
        rng = random.Random(max_len)
        out: List[int] = []
        while len(out) < 2 or sum(out) + max_len <= budget:
            out.append(rng.randint(max(1, max_len // 8), max_len))
        return out

    def suite_embed(self) -> None:
        rows: List[Dict[str, Any]] = []
        suite = {"peer": None, "rows": rows}
        self.results["suites"]["embed"] = suite
        for p in self.embed_plan():
            ck = self.ckpt(p["ck"])
            precision = p.get("precision", "fp32")
            shape = ["--seq-len", str(p["S"]), "--batch-tokens", str(p["B"])]
            label = p["ck"]
            if p.get("mixed"):
                shape = ["--lengths", ",".join(str(n) for n in self.mixed_lengths(p["S"], p["B"]))]
                label = p["ck"] + " mixed"
            drift = self.drift_flag() if precision != "fp32" else []
            ours = self.run_json([self.tool("bench_embed"), "--model", ck] + shape +
                                 ["--iters", str(p["it"]), "--warmup", str(p["wu"]),
                                  "--threads", str(self.threads), "--precision", precision] + drift + ["--json"],
                                 900, f"bench_embed {label} S={p['S']} {precision}")
            ceiling = self.precision_ceiling(precision)  # "of ceiling": against the ceiling of the row's precision
            row = {"checkpoint": label, "seq_len": p["S"], "batch_tokens": ours["batch_tokens"],
                   "n_seqs": ours.get("n_seqs"), "precision": precision,
                   "ours": {"tokens_per_s": ours["tokens_per_s"], "gflops": ours["tflops"] * 1e3,
                            "mean_ms": ours["mean_ms"], "iters": p["it"]},
                   "peer": None, "ratio": None,
                   "fraction_of_ceiling": ours["tflops"] * 1e3 / ceiling if ceiling else None,
                   "min_cos_vs_fp32": ours.get("min_cos_vs_fp32") if precision != "fp32" else None}
            if p.get("mixed"):
                row["lengths"] = (f"{ours['n_seqs']} sequences, uniform in [{max(1, p['S'] // 8)}, {p['S']}] tokens; "
                                  f"the peer pads them to the longest")
            same = [r for r in rows if (r["checkpoint"], r["seq_len"], r["batch_tokens"], r["precision"]) ==
                    (label, p["S"], ours["batch_tokens"], "fp32") and r["peer"]]
            if precision != "fp32" and same:  # the peer is fp32 either way: reuse its measurement of these inputs
                row["peer"] = dict(same[0]["peer"])
                row["ratio"] = ours["tokens_per_s"] / row["peer"]["tokens_per_s"]
            elif precision == "fp32" and not self.args.no_peer:
                try:
                    peer = self.run_json([sys.executable] + PEER + ["--model", ck] + shape + ["--iters", str(p["pit"]),
                                          "--warmup", str(p["pwu"]), "--threads", str(self.threads), "--json"],
                                         1200, f"peer {label} S={p['S']}")
                    suite["peer"] = peer["peer"] + f" ({PEER_PATH})"
                    row["peer"] = {"tokens_per_s": peer["tokens_per_s"], "gflops": peer["gflops"],
                                   "mean_ms": peer["mean_ms"], "iters": p["pit"]}
                    row["ratio"] = ours["tokens_per_s"] / peer["tokens_per_s"]
                except SuiteError as e:
                    self.results["errors"].append({"suite": "embed", "message": str(e)})
            rows.append(row)
            ratio = f", peer {row['peer']['tokens_per_s']:,.0f}, ours/peer {row['ratio']:.2f}x" if row["peer"] else ""
            cos = (f", min cos vs fp32 {row['min_cos_vs_fp32']:.6f}"
                   if isinstance(row["min_cos_vs_fp32"], (int, float)) else "")
            self.log(f"embed {label} {precision} S={p['S']} B={ours['batch_tokens']}: ours "
                     f"{row['ours']['tokens_per_s']:,.0f} tokens/s ({row['ours']['gflops']:.0f} GFLOP/s){ratio}{cos}")

    def ops_plan(self) -> List[Any]:
        """The per-op profile's (checkpoint, S) and the per-ISA rows' (checkpoint, S)."""
        if self.args.ops_shapes:
            return list(self.args.ops_shapes), ("medium", 1024)
        if self.quick:
            return [("h256_l4", 128), ("h256_l4", 1024), ("medium", 128)], ("h256_l4", 1024)
        return [(ck, s) for ck in ("h256_l4", "medium") for s in (128, 1024, 8192)], ("medium", 1024)

    def bench_ops(self, ck: str, seq_len: int, precision: str, isa: Optional[str] = None) -> Dict[str, Any]:
        """One bench_ops call: 4096 tokens (S = 128: 32 sequences, S = 1024: 4), or one sequence of S >= 8192 tokens;
        one warm-up and one timed forward pass. isa caps the kernels (REASONIR_CPU_ISA); None: the engine's own."""
        batch = 4096 if seq_len < 8192 else seq_len
        env = dict(self.env, REASONIR_CPU_ISA=isa) if isa else None
        # medium at S = 8192 in fp32 takes about a minute on 2 cores (two passes); the rest seconds
        timeout = 900 if seq_len >= 8192 else 300
        r = self.run_json([self.tool("bench_ops"), "--model", self.ckpt(ck), "--seq-len", str(seq_len),
                           "--batch-tokens", str(batch), "--precision", precision, "--iters", "1", "--warmup", "1",
                           "--threads", str(self.threads), "--json"], timeout,
                          f"bench_ops {ck} S={seq_len} {precision}" + (f" REASONIR_CPU_ISA={isa}" if isa else ""),
                          env=env)
        ops = [o for o in r.get("ops") or [] if isinstance(o, dict)]
        return {"checkpoint": ck, "precision": r.get("precision", precision), "isa": r.get("isa"),
                "seq_len": r.get("seq_len", seq_len), "batch_tokens": r.get("batch_tokens"), "n_seqs": r.get("n_seqs"),
                "threads": r.get("threads"), "iters": 1, "warmup": 1, "total_ms": r.get("total_ms"),
                "tokens_per_s": r.get("tokens_per_s"), "gflops": r.get("gflops"),
                "ops": [{k: o.get(k) for k in ("op", "ms", "share", "gflops", "gbps")} for o in ops]}

    @staticmethod
    def isa_row(profile: Dict[str, Any], requested: str) -> Dict[str, Any]:
        """A per-ISA row from a bench_ops profile: attention's GFLOP/s against the GEMMs' (qkv + o_proj + gate_up +
        down: their FLOPs, gflops x ms each, over their summed time)."""
        ops = {o.get("op"): o for o in profile["ops"]}
        att = (ops.get("attention") or {}).get("gflops")
        gemm = report.gemm_gflops(profile["ops"])
        return {"checkpoint": profile["checkpoint"], "seq_len": profile["seq_len"],
                "batch_tokens": profile["batch_tokens"], "precision": profile["precision"], "isa_requested": requested,
                "isa": profile["isa"], "attention_gflops": att, "gemm_gflops": gemm,
                "attention_vs_gemm": report.ratio(att, gemm), "tokens_per_s": profile["tokens_per_s"],
                "gflops": profile["gflops"]}

    def suite_ops(self) -> None:
        shapes, (isa_ck, isa_s) = self.ops_plan()
        rows: List[Dict[str, Any]] = []
        isa_rows: List[Dict[str, Any]] = []
        own = self.results["machine"].get("isa")  # what bench_gemm (the ceiling suite) reported
        suite = {"isa": own, "iters": 1, "warmup": 1, "rows": rows, "isa_rows": isa_rows}
        self.results["suites"]["ops"] = suite

        def failed(e: SuiteError) -> None:
            self.log(f"ops: {e}")
            self.results["errors"].append({"suite": "ops", "message": str(e)})

        # 1. where the time goes, op by op, at the engine's own ISA
        for precision in ("fp32", "bf16"):
            for ck, seq_len in shapes:
                try:
                    row = self.bench_ops(ck, seq_len, precision)
                except SuiteError as e:
                    failed(e)
                    continue
                rows.append(row)
                top = max(row["ops"], key=lambda o: o.get("ms") or 0, default={})
                self.log(f"ops {ck} {precision} S={seq_len} ({row['isa']}): {row['total_ms']:.0f} ms per forward, "
                         f"{row['tokens_per_s']:,.0f} tokens/s, {row['gflops']:.0f} GFLOP/s; most: {top.get('op')} "
                         f"{100 * (top.get('share') or 0):.0f}%")
        # 2. attention against the GEMMs at each ISA level from avx2 up to the engine's own: a level whose attention
        # silently lost its vectorization shows as a drop of attention / GEMM
        if own is None and rows:
            own = suite["isa"] = rows[0]["isa"]
        if own not in ISA_LEVELS:
            suite["isa_note"] = f"the engine's ISA ({own}) is not one of {', '.join(ISA_LEVELS)}: no per-ISA rows"
            return
        suite["isa_checkpoint"], suite["isa_seq_len"] = isa_ck, isa_s
        for precision in ("fp32", "bf16"):
            for level in ISA_LEVELS[1:ISA_LEVELS.index(own) + 1]:
                same = [r for r in rows if (r["checkpoint"], r["seq_len"], r["precision"], r["isa"]) ==
                        (isa_ck, isa_s, precision, level)] if level == own else []
                try:
                    prof = same[0] if same else self.bench_ops(isa_ck, isa_s, precision, isa=level)
                except SuiteError as e:
                    failed(e)
                    continue
                row = self.isa_row(prof, level)
                isa_rows.append(row)
                self.log(f"ops per ISA {level} ({row['isa']}) {precision} {isa_ck} S={isa_s}: attention "
                         f"{report.sig(row['attention_gflops'])}, GEMM {report.sig(row['gemm_gflops'])} GFLOP/s "
                         f"(attention/GEMM {report.sig(row['attention_vs_gemm'])}), "
                         f"{report.fmt_rate(row['tokens_per_s'])} tokens/s")

    def suite_latency(self) -> None:
        rows: List[Dict[str, Any]] = []
        self.results["suites"]["latency"] = {"rows": rows}
        calls, pcalls = (30, 10) if self.quick else (100, 20)
        ck = self.ckpt("medium")
        for precision in ("fp32", "bf16"):
            for n in (8, 32, 128):
                drift = self.drift_flag() if precision != "fp32" else []
                ours = self.run_json([self.tool("bench_embed"), "--model", ck, "--seq-len", str(n),
                                      "--batch-tokens", str(n), "--iters", str(calls), "--warmup", "5",
                                      "--threads", str(self.threads), "--precision", precision] + drift + ["--json"],
                                     600, f"bench_embed latency {n} {precision}")
                row = {"checkpoint": "medium", "tokens": n, "precision": precision,
                       "ours": {"mean_ms": ours["mean_ms"], "p50_ms": ours["p50_ms"], "p99_ms": ours["p99_ms"],
                                "n": calls},
                       "peer": None, "ratio": None,
                       "min_cos_vs_fp32": ours.get("min_cos_vs_fp32") if precision != "fp32" else None}
                same = [r for r in rows if r["tokens"] == n and r["precision"] == "fp32" and r["peer"]]
                if precision != "fp32":
                    if same:  # the peer is fp32 either way: reuse its measurement of this length
                        row["peer"] = dict(same[0]["peer"])
                        row["ratio"] = row["peer"]["mean_ms"] / ours["mean_ms"]
                elif not self.args.no_peer:
                    try:
                        peer = self.run_json([sys.executable] + PEER + ["--model", ck, "--latency", str(n), "--calls",
                                              str(pcalls), "--warmup", "3", "--threads", str(self.threads), "--json"],
                                             600, f"peer latency {n}")
                        row["peer"] = {k: peer[k] for k in ("mean_ms", "p50_ms", "p99_ms")}
                        row["peer"]["n"] = pcalls
                        row["ratio"] = peer["mean_ms"] / ours["mean_ms"]
                    except SuiteError as e:
                        self.results["errors"].append({"suite": "latency", "message": str(e)})
                rows.append(row)
                self.log(f"latency {n} tokens {precision}: ours mean {ours['mean_ms']:.2f} ms p99 "
                         f"{ours['p99_ms']:.2f} ms"
                         + (f", peer mean {row['peer']['mean_ms']:.2f} ms" if row["peer"] else ""))

    def suite_open(self) -> None:
        rows: List[Dict[str, Any]] = []
        self.results["suites"]["open"] = {"rows": rows}
        for c in self.results["checkpoints"]:
            r = self.run_json([self.tool("bench_embed"), "--model", self.ckpt(c["name"]), "--seq-len", "8",
                               "--batch-tokens", "8", "--iters", "1", "--warmup", "0", "--threads",
                               str(self.threads), "--json"], 300, f"open {c['name']}")
            rows.append({"checkpoint": c["name"], "bytes": c["bytes"], "seconds": r["load_s"],
                         "gb_per_s": c["bytes"] / r["load_s"] / 1e9 if r["load_s"] else None, "cold": False})
            self.log(f"open {c['name']}: {r['load_s'] * 1e3:.1f} ms")

    def suite_tokenizer(self) -> None:
        secs = "2" if self.quick else "5"
        r = self.run_json(JAVA + ["-cp", BENCH_JAR, "dev.reasonir.bench.TokenizerBench", "--model",
                                  self.ckpt("h256_l4"), "--tokenizer", TOKENIZER, "--docs", "1000" if self.quick else
                                  "3000", "--seconds", secs, "--engine-seconds", secs, "--json"], 600, "TokenizerBench")
        r["pipeline"] = None if self.quick else self.index_pipeline()
        self.results["suites"]["tokenizer"] = r
        self.log(f"tokenizer: {r['rows'][-1]['tokens_per_s']:,.0f} tokens/s on {r['rows'][-1]['threads']} threads, "
                 f"engine {r['engine_tokens_per_s']:,.0f} tokens/s, starves: {r['starves']}")

    def index_pipeline(self) -> Dict[str, Any]:
        """`reasonir index` over a made-up corpus: how long the engine waited for tokenized text."""
        rng = random.Random(5)
        words = ("the of retrieval model vector search query document reasoning engine index corpus theorem proof "
                 "lemma function sequence token attention layer weight bias gradient inference latency cache").split()
        corpus = os.path.join(WORK, "pipeline-corpus.jsonl")
        with open(corpus, "w", encoding="utf-8") as f:
            for i in range(1500):
                text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 400)))
                f.write(json.dumps({"id": f"d{i}", "content": text}) + "\n")
        out = os.path.join(WORK, "pipeline-index")
        subprocess.run(["rm", "-rf", out], check=True)
        cmd = JAVA + ["-jar", CLI_JAR, "index", "--model", self.ckpt("h256_l4"), "--device", "cpu",
                      "--corpus", corpus, "--out", out, "--threads", str(self.threads)]
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=900)
        total = time.monotonic() - t0
        m = re.search(r"engine ([\d.]+) s, waiting for the tokenizer ([\d.]+) s", p.stderr)
        if p.returncode != 0 or not m:
            raise SuiteError(f"reasonir index: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        return {"engine_wait_s": float(m.group(2)), "engine_s": float(m.group(1)), "total_s": total,
                "documents": 1500}

    def suite_jni(self) -> None:
        calls = "5000" if self.quick else "20000"
        r = self.run_json(JAVA + ["-cp", BENCH_JAR, "dev.reasonir.bench.JniBench", "--model", self.ckpt("micro"),
                                  "--calls", calls, "--bench-embed", self.tool("bench_embed"), "--json"],
                          300, "JniBench")
        self.results["suites"]["jni"] = r
        self.log(f"jni: Java {r['java_us']:.1f} us, C {r['native_us']:.1f} us per call, overhead "
                 f"{r['overhead_us']:.1f} us")

    def suite_search(self) -> None:
        rows = 100_000 if self.quick else 1_000_000
        f = os.path.join(WORK, f"search-{rows}.npy")
        out: List[Dict[str, Any]] = []
        self.results["suites"]["search"] = {"rows": out}
        ceiling = self.precision_ceiling("fp32")
        mem = (self.results.get("ceiling") or {}).get("mem_read_gbps")
        # 64 queries at once are a GEMM against the index (compute-bound: measured against the fp32 ceiling); one query
        # reads the whole index for one result (memory-bound: against the streaming read bandwidth of the same run)
        for queries in (64, 1):
            r = self.run_json(JAVA + ["-cp", BENCH_JAR, "dev.reasonir.bench.SearchBench", "--rows", str(rows), "--dim",
                                      "4096", "--queries", str(queries), "--k", "100", "--dtype", "f16", "--file", f,
                                      "--threads", str(self.threads), "--json"], 1200, f"SearchBench {queries} queries")
            r["fraction_of_ceiling"] = r["gflops"] / ceiling if ceiling and r.get("gflops") is not None else None
            r["fraction_of_memory"] = (r["gb_per_s"] / mem if isinstance(mem, (int, float)) and mem > 0
                                       and r.get("gb_per_s") is not None else None)
            out.append(r)
            self.log(f"search {rows:,} x 4096, {queries} quer{'ies' if queries > 1 else 'y'} per batch: "
                     f"{r['queries_per_s']:.2f} queries/s, "
                     f"{r['gflops']:.0f} GFLOP/s, {r['gb_per_s']:.1f} GB/s")

    def suite_server(self) -> None:
        clients, requests = ("1,8", "20") if self.quick else ("1,8,64", "50")
        r = self.run_json(JAVA + ["-cp", BENCH_JAR, "dev.reasonir.bench.LoadTest", "--model", self.ckpt("h256_l4"),
                                  "--device", "cpu", "--clients", clients, "--requests",
                                  requests, "--json"], 600, "LoadTest")
        self.results["suites"]["server"] = r
        for row in r["rows"]:
            self.log(f"server {row['clients']} clients: {row['req_per_s']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, "
                     f"p99 {row['p99_ms']:.1f} ms")

    # ---- main ---------------------------------------------------------------------------------------------------
    def run(self, suites: List[str]) -> int:
        self.machine()
        self.checkpoints()
        for name in suites:
            self.log(f"suite {name}")
            try:
                getattr(self, f"suite_{name}")()
            except (SuiteError, OSError, KeyError, ValueError, subprocess.SubprocessError) as e:
                msg = str(e) if isinstance(e, SuiteError) else f"{type(e).__name__}: {e}"
                self.log(f"suite {name} failed: {msg}")
                self.results["errors"].append({"suite": name, "message": msg})
                if name in self.results["suites"]:
                    self.results["suites"][name]["error"] = msg
                else:
                    self.results["suites"][name] = {"error": msg, "rows": []}
        self.results["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        return 0


SUITES = ["ceiling", "embed", "ops", "latency", "open", "tokenizer", "jni", "search", "server"]


def ops_shapes(text: str) -> List[Any]:
    """--ops-shapes: "ck:S,ck:S" -> [(ck, S)]."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        ck, _, seq = item.partition(":")
        if ck not in CHECKPOINTS or not seq.isdigit() or int(seq) < 1:
            raise argparse.ArgumentTypeError(f"'{item}' is not checkpoint:S with a checkpoint of "
                                             f"{', '.join(CHECKPOINTS)} and S >= 1")
        out.append((ck, int(seq)))
    if not out:
        raise argparse.ArgumentTypeError("no checkpoint:S pair")
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the 3-minute subset")
    ap.add_argument("--out", help="output folder (default benchmarks/results/<date>-<machine>)")
    ap.add_argument("--suites", help=f"comma list of suites (default all: {','.join(SUITES)})")
    ap.add_argument("--threads", type=int, default=0, help="threads for the engine and the peer (default all cores)")
    ap.add_argument("--no-peer", action="store_true", help="skip the PyTorch peer")
    ap.add_argument("--ops-shapes", metavar="LIST", type=ops_shapes, default=None,
                    help="the ops suite's profiles as checkpoint:S pairs, e.g. medium:128,h256_l4:8192 (default: "
                         "h256_l4 and medium at S = 128, 1024, 8192)")
    ap.add_argument("--native", metavar="DIR", help="the native tools' build folder (default build/native): e.g. a "
                    "git worktree's build, to measure the code before a change")
    a = ap.parse_args(argv)
    a.passthrough = argv if argv is not None else sys.argv[1:]
    suites = SUITES
    if a.suites:
        suites = [s.strip() for s in a.suites.split(",") if s.strip()]
        bad = [s for s in suites if s not in SUITES]
        if bad:
            ap.error(f"unknown suite(s) {', '.join(bad)} (suites: {', '.join(SUITES)})")
        if any(s in suites for s in ("embed", "ops", "search")) and "ceiling" not in suites:
            suites = ["ceiling"] + suites  # "achieved vs ceiling" needs it (ops: also the engine's ISA)
    if a.threads < 0:
        ap.error("--threads must be >= 0")
    if a.native and not os.path.isdir(a.native):
        ap.error(f"--native {a.native}: not a folder")
    os.makedirs(WORK, exist_ok=True)
    r = Runner(a)
    r.run(suites)
    out = a.out or os.path.join(ROOT, "benchmarks", "results",
                                f"{dt.date.today().isoformat()}-{r.results['machine']['name']}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(r.results, f, indent=1, sort_keys=False)
        f.write("\n")
    report.write_report(r.results, out)
    r.log(f"wrote {os.path.relpath(out, ROOT)}/report.md, results.json and plots "
          f"({len(r.results['errors'])} error(s))")
    return 1 if r.results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
