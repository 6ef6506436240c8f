#!/usr/bin/env python3
"""Step 8 of the GPU check: our engine vs Hugging Face transformers on ReasonIR-8B-shaped checkpoints, same GPU, one
after the other (every measurement in its own process, so the GPU is free between them).

    PYTHONPATH=benchmarks python3 -m reasonir_bench.gpu_bench --build-dir build/gpu --model DIR [--make-checkpoint
        [--depths 1,3] [--layers 32] [--shards 2] [--seed 0]] [--seq-lens 128,512,2048,8192] [--batch-tokens 16384]
        [--iters 5] [--warmup 1] [--latency-iters 50] [--no-hf] [--device cuda] [--steps-dir D] [--results-dir OUT]
        [--meta KEY=VALUE ...]

Without a 16 GB file: with --make-checkpoint, weights-tools/generate_checkpoint.py (--preset reasonir-8b --layers L
--fill torch --device cuda) writes one checkpoint per depth L in --depths into DIR/layers-L: the real per-layer shapes
(hidden 4096, 32/8 heads of 128, MLP 14336) and the real 128256 x 4096 embedding, L layers (1.5 GB at L = 1, 2.4 GB at
L = 3, against 15 GB at 32). Everything is timed at every depth, and since a forward is the non-layer work (embedding
gather, final norm, pooling, transfers, launches) plus L identical layers, the two extreme depths La < Lb give per S

    per_layer = (T(Lb) - T(La)) / (Lb - La),  overhead = T(La) - La * per_layer,  T(N) = T(La) + (N - La) * per_layer

with N = --layers (32), converted to tokens/s and TFLOP/s with flops.flops_per_token at N layers. Those rows are
labelled extrapolated (data "extrapolated", and the summary); the measured rows of every depth stay next to them.
The same holds for the batch-1 latency. Depths 1 and 3: the cheapest pair whose difference spans two layers, so
per_layer averages two layers of the same kernels; at S = 128 a layer is about 12 ms of a 16384-token call on an H100
(7 TFLOP): with call times that repeat to 0.5 %, the 24 ms difference T(3) - T(1) is good to about 1 %, and T(32)
inherits that 1 % (31 x per_layer dominates it).
Without --make-checkpoint, --model DIR is the one checkpoint timed, measured only (no extrapolation): a real model, or
the tiny model of a CPU rehearsal (--device cpu --no-hf).

Parts, each failing soft (error recorded, next part runs), stopping to start new ones when GPU_CHECK_DEADLINE nears:
  checkpoint  generate_checkpoint.py per depth (timed; a folder made with the same arguments is reused)
  ours        per depth: BUILD/bench_embed --model M --device cuda --precision bf16 --seq-len S --batch-tokens B
              --iters N --warmup W --json per S (S = 8192: 2 sequences of 16384 tokens), then --seq-len 32
              --batch-tokens 32 --iters 50 for batch-1 latency (mean; p99 when reported); JSON parsed, text fallback
  hf          per depth: hf_bench.py (LlamaModel bf16 sdpa, padded batches of B/S sequences, bidirectional mask)
  ceiling     BUILD/bench_cuda_ops --gemm-ceiling [--gemm-size N] --json ({"gemm_tflops"}), else torch.matmul
              N^3 bf16 (N = 8192)
  ops         BUILD/bench_cuda_ops --layer --model M --tokens 8192 --attention-kernels sm80,sm90 --json (op -> ms of
              one layer, deepest M; the attention op per kernel under "attention_kernels")
  attention   BUILD/bench_cuda_ops --attention-sweep 512,2048,8192,32768 --attention-kernels sm80,sm90 --json: each
              kernel alone on 8B-shaped heads (32/8 heads of 128), a packed varlen batch of 16384/S sequences for
              S <= 16384, one sequence above; ms, TFLOP/s (4 S^2 head_dim heads per sequence) and % of the 989.4
              TFLOP/s peak, median of 10 runs ("attention_sweep"; a kernel not built / not for this GPU: its status)
  ours_sm90   with sm90 in --attn-kernels, per depth: bench_embed as in ours with REASONIR_ATTENTION=sm90 in the
              child's environment, at --sm90-seq-lens (512, 8192) among --seq-lens plus the smallest and largest
              (run["ours_sm90"]); combine() sets each against the default (sm80) row of the same S and depth
              ("table_sm90": sm90_over_sm80) and extrapolates it with the default rows' fit (extrapolated
              ["rows_sm90"]). An open that refuses sm90 (kernel_refusal: "needs 9.0", "supports head_dim", "not in
              this build") is the row's "skip" with that line, and the remaining sm90 runs are skipped with it
              without being started (the reason holds for every S and depth); any other failure is an error
  graphs      per depth: python3 -m reasonir_bench.graph_latency: batch-1 latency of 32- and 128-token queries with
              Engine(cuda_graphs="off") and ("on") in one process, the speedup, and whether the graph's vector has
              the plain launch's bits (run["graph_latency"], the deepest as "graph_latency", extrapolated to N layers
              as extrapolated["graph_latency"]); then with sm90 in --attn-kernels the same with --attention sm90
              ("graph_latency_sm90", same keys; a refused kernel: "skip", no error)
FLOPs per token (flops.flops_per_token): 2*layers*(h*q + 2*h*kv + q*h + 3*h*inter) + 4*S*q*layers; TFLOP/s is
reported against the 989 TFLOP/s bf16 dense peak and the GEMM ceiling measured in the same run.

Output (STEPS_DIR/bench.json, common.write_step): "runs" (per depth: layers, model, checkpoint, ours, ours_latency, hf,
table); the deepest run also under the keys check_report.py and gpu_results.py read ("model", "checkpoint",
"ours", "ours_latency", "hf", "table": measured, that depth's config); "extrapolated" {"layers", "from_layers", "rows"
(per S, combine_table's columns plus per-layer and overhead ms), "latency", "graph_latency"} when two depths ran;
"gemm_ceiling", "per_op_ms", "attention_sweep", "graph_latency", "errors", "skipped" (parts not started for time:
the step is then incomplete, never failed), "part_s".
With --results-dir DIR (gpu-check.sh: OUT/bench): DIR/results.json in the suite's schema (SCHEMA.md, gpu_results.py:
the measured rows of the deepest checkpoint, then the extrapolated ones under checkpoint "layers-N extrapolated"), and
its report.md + plots (the report package), so that GPU and CPU benchmark reports read alike.

Time on an H100 (16 cores, page-cached disk), estimated, for the defaults (2 depths x 4 S): generation 2 x ~6 s
(python + torch import and CUDA init, then 1.5 / 2.4 GB at over 1 GB/s; 0 when reused), ours 2 x 5 processes x
~3-4 s (CUDA context, cuBLASLt, loading 2 GB; the timed calls are milliseconds), HF 2 x ~15 s (torch + transformers
import, from_pretrained, runs), ceiling and ops ~10 s: about 100 s, against the step's 400 s limit and the check's
420 s budget. The part that grows with the model, the load, is what a 32-layer checkpoint would make 6 x dearer.
The attention sweep adds about 5 s (one process: 0.6 GB of random Q/K/V, then per kernel 4 x 11 runs of at most
2.2 TFLOP for S <= 8192 and 17.6 TFLOP at S = 32768, about 40 ms each at 450 TFLOP/s), the graphs part 2 x ~6 s (two
opens of the checkpoint, 2 x 2 x 55 calls of a few ms). The sm90 end-to-end rows add 2 x 3 bench_embed processes
(~3-4 s each, like ours; 2 x 2 with --quick's S) and the sm90 graphs 2 x ~6 s: about 30 s; on a GPU that refuses
sm90, one process of ~2 s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional

from reasonir_bench import ROOT, WEIGHTS_TOOLS, common, flops, gpu_results, pythonpath_env, report
from reasonir_bench.check_report import STEP_ORDER

GENERATOR = os.path.join(WEIGHTS_TOOLS, "generate_checkpoint.py")

_RE_TPUT = re.compile(r"throughput\s+([0-9.eE+-]+)\s+tokens/s,\s+([0-9.eE+-]+)\s+GFLOP/s")
_RE_TIME = re.compile(r"time\s+([0-9.eE+-]+)\s+ms per call")
_RE_BATCH = re.compile(r"batch\s+(\d+)\s+sequences x (\d+) tokens = (\d+) tokens")
_RE_P99 = re.compile(r"p99\s+([0-9.eE+-]+)\s*ms")
_RE_LOAD = re.compile(r"load\w*\s+([0-9.eE+-]+)\s*s\b")


def parse_bench_embed(text: str) -> Dict[str, object]:
    """bench_embed's --json object (last JSON line), else its text lines. Keys: tokens_per_s, ms_per_call, tflops,
    seq_len, batch_tokens, n_seqs, load_s, p99_ms (whatever is present), source = json|text."""
    obj = common.last_json_object(text)
    out: Dict[str, object] = {}
    if obj is not None:
        out.update(obj)
        out["source"] = "json"
        if "ms_per_call" not in out:
            for k in ("mean_ms", "ms", "time_ms"):
                if k in obj:
                    out["ms_per_call"] = obj[k]
                    break
        return out
    m = _RE_TPUT.search(text or "")
    if m:
        out["tokens_per_s"] = float(m.group(1))
        out["tflops"] = float(m.group(2)) / 1e3
    m = _RE_TIME.search(text or "")
    if m:
        out["ms_per_call"] = float(m.group(1))
    m = _RE_BATCH.search(text or "")
    if m:
        out["n_seqs"], out["seq_len"], out["batch_tokens"] = int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = _RE_P99.search(text or "")
    if m:
        out["p99_ms"] = float(m.group(1))
    m = _RE_LOAD.search(text or "")
    if m:
        out["load_s"] = float(m.group(1))
    if out:
        out["source"] = "text"
    return out


def run_cmd(cmd: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    """Runs cmd; returns rc, wall seconds, output (stdout+stderr), timed_out."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=max(1.0, timeout),
                           env=env, text=True, errors="replace")
        return {"rc": p.returncode, "wall_s": time.perf_counter() - t0, "output": p.stdout, "timed_out": False}
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"rc": 124, "wall_s": time.perf_counter() - t0, "output": out, "timed_out": True}
    except OSError as exc:
        return {"rc": 127, "wall_s": time.perf_counter() - t0, "output": f"{type(exc).__name__}: {exc}",
                "timed_out": False}


class Bench:
    def __init__(self, args):
        self.args = args
        self.deadline = common.Deadline()
        self.data: Dict[str, object] = {"errors": [], "device": args.device}
        # the kernel of the default rows (ours, graph_latency): the engine's auto (sm80) unless the environment sets
        # REASONIR_ATTENTION, which the sm90/sm80 comparison must then be read against
        self.data["default_attention"] = os.environ.get("REASONIR_ATTENTION") or None
        # the engine's first refusal of sm90 (kernel_refusal): it depends on the GPU, the head_dim and the build, none
        # of which changes between S or depths, so the other sm90 runs are skipped with it instead of started
        self.sm90_refused: Optional[str] = None
        self.log: List[str] = []
        if args.make_checkpoint:
            self.runs = [{"layers": L, "model": os.path.join(args.model, f"layers-{L}")} for L in args.depths]
            self.data["depths"] = list(args.depths)
        else:
            self.runs = [{"layers": None, "model": args.model}]
        self.data["runs"] = self.runs

    def err(self, part: str, msg: str) -> None:
        self.data["errors"].append(f"{part}: {common.tail_text(msg, 1500)}")

    def budget(self, want: float) -> Optional[float]:
        """Seconds a part may take: min(want, time left before the deadline, minus a margin); None = no time."""
        left = self.deadline.remaining() - 10
        if left < 5:
            return None
        return min(want, left)

    def exe(self, name: str) -> str:
        return os.path.join(self.args.build_dir, name)

    def tag(self, run) -> str:
        """Error-part suffix naming the depth, when there are several (gpu_results matches the part's start)."""
        return f" [L={run['layers']}]" if len(self.runs) > 1 else ""

    def call(self, part: str, cmd: List[str], want_s: float, env: Optional[Dict[str, str]] = None
             ) -> Optional[Dict[str, object]]:
        """Runs cmd within the budget (None: not started for time, the part listed under "skipped"); env: variables
        set in the child's environment on top of ours (e.g. REASONIR_ATTENTION=sm90)."""
        t = self.budget(want_s)
        if t is None:
            self.data.setdefault("skipped", []).append(part)
            return None
        self.log.append("$ " + "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
                        + " ".join(shlex.quote(c) for c in cmd))
        child = pythonpath_env()  # the package for `python3 -m reasonir_bench.hf_bench`
        child.update(env or {})
        r = run_cmd(cmd, t, child)
        self.log.append(common.tail_text(r["output"], 6000))
        if r["timed_out"]:
            self.err(part, f"timed out after {t:.0f} s")
        return r

    # parts ------------------------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        a = self.args
        for run in self.runs:
            cmd = [a.python, GENERATOR, "--preset", "reasonir-8b", "--layers", str(run["layers"]), "--out",
                   run["model"], "--shards", str(a.shards), "--seed", str(a.seed), "--fill", "torch", "--device",
                   a.device, "--json"]
            r = self.call("checkpoint" + self.tag(run), cmd, 120)
            if r is None:
                return
            info = common.last_json_object(r["output"]) or {}
            info["wall_s"] = round(r["wall_s"], 2)
            run["checkpoint"] = info
            if r["rc"] != 0 or "error" in info:
                self.err("checkpoint" + self.tag(run), info.get("error") or r["output"])

    def ours_run(self, run, seq_len: int, batch_tokens: int, iters: int, warmup: int,
                 attention: Optional[str] = None) -> Dict[str, object]:
        """One bench_embed row. attention: REASONIR_ATTENTION of the child (None: the environment's, i.e. the
        default kernel); a row of a kernel the engine refused at open (kernel_refusal) gets "skip" with the
        reason instead of "error" and is not an error of the part."""
        a = self.args
        exe = self.exe("bench_embed")
        row: Dict[str, object] = {"seq_len": seq_len, "batch_tokens": batch_tokens}
        if attention:
            row["attention"] = attention
        if not os.path.exists(exe):
            row["error"] = f"{exe} missing"
            return row
        base = [exe, "--model", run["model"], "--device", a.device, "--precision", a.precision, "--seq-len",
                str(seq_len), "--batch-tokens", str(batch_tokens), "--iters", str(iters), "--warmup", str(warmup)]
        part = f"ours{' ' + attention if attention else ''} S={seq_len}{self.tag(run)}"
        env = {"REASONIR_ATTENTION": attention} if attention else None
        r = self.call(part, base + ["--json"], 150, env)
        if r is None:
            row["skipped"] = "time budget"
            return row
        if r["rc"] != 0 and "--json" in r["output"] and ("unknown flag" in r["output"] or "usage" in r["output"]):
            r = self.call(part + " (text)", base, 150, env)  # a bench_embed without --json
            if r is None:
                row["skipped"] = "time budget"
                return row
        parsed = parse_bench_embed(r["output"])
        row.update(parsed)
        row["seq_len"], row["batch_tokens"] = seq_len, batch_tokens
        row["wall_s"] = round(r["wall_s"], 2)
        if r["rc"] != 0 or "tokens_per_s" not in parsed:
            refused = kernel_refusal(r["output"]) if (attention and r["rc"] != 0) else None
            if refused:
                row["skip"] = refused
            else:
                row["error"] = f"rc {r['rc']}: " + common.tail_text(r["output"], 800)
        return row

    def ours(self) -> None:
        a = self.args
        for run in self.runs:
            rows = []
            for S in a.seq_lens:
                row = self.ours_run(run, S, max(a.batch_tokens, S), a.iters, a.warmup)
                rows.append(row)
                print(f"bench: ours{self.tag(run)} S={S}: "
                      f"{row.get('tokens_per_s', row.get('error', row.get('skipped')))}", file=sys.stderr, flush=True)
            run["ours"] = rows
            lat = self.ours_run(run, a.latency_len, a.latency_len, a.latency_iters, 5)
            if "ms_per_call" in lat:
                lat["mean_ms"] = lat["ms_per_call"]
            run["ours_latency"] = lat

    def sm90_seq_lens(self) -> List[int]:
        """S of the sm90 end-to-end rows: those of --sm90-seq-lens (8192 and 512: where attention weighs most and
        least of the long ones) among the configured --seq-lens, plus always the smallest and largest configured."""
        a = self.args
        want = set(a.sm90_seq_lens) & set(a.seq_lens)
        if a.seq_lens:
            want |= {min(a.seq_lens), max(a.seq_lens)}
        return sorted(want)

    def ours_sm90(self) -> None:
        """bench_embed with REASONIR_ATTENTION=sm90 per depth (run["ours_sm90"]): the same rows as ours, the
        attention kernel the only difference, so combine() can set sm90 against the default (sm80) end to end."""
        a = self.args
        for run in self.runs:
            rows = []
            for S in self.sm90_seq_lens():
                if self.sm90_refused:
                    rows.append({"seq_len": S, "batch_tokens": max(a.batch_tokens, S), "attention": "sm90",
                                 "skip": self.sm90_refused})
                    continue
                row = self.ours_run(run, S, max(a.batch_tokens, S), a.iters, a.warmup, attention="sm90")
                self.sm90_refused = row.get("skip")
                if row.get("error"):
                    self.err(f"ours sm90 S={S}{self.tag(run)}", str(row["error"]))
                rows.append(row)
                print(f"bench: ours sm90{self.tag(run)} S={S}: "
                      f"{row.get('tokens_per_s', row.get('error', row.get('skip', row.get('skipped'))))}",
                      file=sys.stderr, flush=True)
            run["ours_sm90"] = rows

    def hf(self) -> None:
        a = self.args
        for i, run in enumerate(self.runs):
            out = os.path.join(a.work_dir, f"hf_bench{'-l%d' % run['layers'] if run['layers'] else ''}.json")
            if os.path.exists(out):
                os.remove(out)
            cmd = [a.python, "-m", "reasonir_bench.hf_bench", "--model", run["model"], "--seq-lens",
                   ",".join(str(s) for s in a.seq_lens), "--batch-tokens", str(a.batch_tokens), "--iters",
                   str(a.iters), "--warmup", str(a.warmup), "--latency-len", str(a.latency_len), "--latency-iters",
                   str(a.latency_iters), "--json-out", out]
            if a.torch_ceiling and i == 0:
                cmd.append("--gemm-ceiling")
            r = self.call("hf" + self.tag(run), cmd, 300)
            if r is None:
                return
            res = None
            if os.path.exists(out):
                try:
                    res = common.read_json_file(out)
                except (OSError, ValueError):
                    res = None
            res = res or common.last_json_object(r["output"])
            if res is None:
                self.err("hf", f"rc {r['rc']}: {r['output']}{self.tag(run)}")
                continue
            for e in res.get("errors", []):
                self.err("hf", f"{e}{self.tag(run)}")  # "hf: latency: ..." keeps gpu_results' routing
            run["hf"] = res

    def ceiling(self) -> None:
        exe = self.exe("bench_cuda_ops")
        if os.path.exists(exe):
            size = ["--gemm-size", str(self.args.gemm_size)] if self.args.gemm_size else []
            r = self.call("ceiling", [exe, "--gemm-ceiling", "--json"] + size, 60)
            if r is not None:
                obj = common.last_json_object(r["output"])
                if r["rc"] == 0 and obj and "gemm_tflops" in obj:
                    obj["source"] = "bench_cuda_ops --gemm-ceiling"
                    self.data["gemm_ceiling"] = obj
                    return
                self.err("ceiling", f"bench_cuda_ops rc {r['rc']}: {r['output']}")
        else:
            self.err("ceiling", f"{exe} missing; using torch.matmul")
        hf_c = next((run["hf"]["gemm_ceiling"] for run in self.runs if (run.get("hf") or {}).get("gemm_ceiling")),
                    None)
        if hf_c:
            self.data["gemm_ceiling"] = hf_c
            return
        r = self.call("ceiling (torch)", [self.args.python, "-c",
                                          "import json; from reasonir_bench import hf_bench; "
                                          "print(json.dumps(hf_bench.gemm_ceiling(%d)))"
                                          % (self.args.gemm_size or 8192)], 60)
        if r is not None:
            obj = common.last_json_object(r["output"])
            if obj and "gemm_tflops" in obj:
                self.data["gemm_ceiling"] = obj
            else:
                self.err("ceiling", f"torch fallback rc {r['rc']}: {r['output']}")

    def ops(self) -> None:
        exe = self.exe("bench_cuda_ops")
        if not os.path.exists(exe):
            self.err("ops", f"{exe} missing")
            return
        r = self.call("ops", [exe, "--layer", "--model", self.runs[-1]["model"], "--tokens",
                              str(self.args.ops_tokens), "--attention-kernels", self.args.attn_kernels, "--json"], 90)
        if r is None:
            return
        obj = common.last_json_object(r["output"])
        if r["rc"] == 0 and obj:
            self.data["per_op_ms"] = obj
            self.data["per_op_tokens"] = self.args.ops_tokens
            kernels = obj.get("attention_kernels") if isinstance(obj.get("attention_kernels"), dict) else {}
            for k, v in kernels.items():  # not built / skip are statuses; a kernel that failed is an error
                if isinstance(v, dict) and v.get("status") == "error":
                    self.err("ops", f"attention {k}: {v.get('reason')}")
        else:
            self.err("ops", f"rc {r['rc']}: {r['output']}")

    def attention(self) -> None:
        """The attention kernels alone over S (bench_cuda_ops --attention-sweep); a kernel that cannot run here
        (not built, another compute capability, a head_dim it lacks) is a row with its status, a kernel that failed
        is an error."""
        a = self.args
        exe = self.exe("bench_cuda_ops")
        if not os.path.exists(exe):
            self.err("attention", f"{exe} missing")
            return
        cmd = [exe, "--attention-sweep", a.attn_sweep, "--attention-kernels", a.attn_kernels, "--attention-heads",
               a.attn_heads, "--attention-head-dim", str(a.attn_head_dim), "--attention-tokens", str(a.attn_tokens),
               "--iters", str(a.attn_iters), "--json"]
        r = self.call("attention", cmd, 120)
        if r is None:
            return
        obj = (common.last_json_object(r["output"]) or {}).get("attention_sweep")
        if r["rc"] != 0 or not isinstance(obj, dict):
            self.err("attention", f"rc {r['rc']}: {r['output']}")
            return
        self.data["attention_sweep"] = obj
        for row in obj.get("rows", []):
            if row.get("status") == "error":
                self.err("attention", f"{row.get('kernel')} S={row.get('seq_len')}: {row.get('reason')}")

    def graphs(self) -> None:
        """Batch-1 latency with CUDA graphs off and on, per depth (graph_latency.py, its own process): with the
        default kernel (run["graph_latency"]), then with --attention sm90 (run["graph_latency_sm90"]) when sm90 is
        among --attn-kernels. A kernel the engine refuses at open (kernel_refusal) is a "skip" with the reason."""
        a = self.args
        lib = a.lib or self.exe("libreasonir.so")
        kernels = [None] + (["sm90"] if "sm90" in a.attn_kernel_list else [])
        for kernel in kernels:
            key = "graph_latency" + (f"_{kernel}" if kernel else "")
            for run in self.runs:
                part = "graphs" + (f" {kernel}" if kernel else "") + self.tag(run)
                if kernel == "sm90" and self.sm90_refused:  # bench_embed's open said why already
                    run[key] = {"skip": self.sm90_refused, "attention": kernel,
                                "rows": [{"tokens": int(n), "skip": self.sm90_refused}
                                         for n in a.graph_lens.split(",") if n]}
                    continue
                cmd = [a.python, "-m", "reasonir_bench.graph_latency", "--lib", lib, "--model", run["model"],
                       "--lens", a.graph_lens, "--iters", str(a.graph_iters), "--warmup", str(a.graph_warmup),
                       "--device", a.device] + (["--attention", kernel] if kernel else [])
                r = self.call(part, cmd, 90)
                if r is None:
                    return
                res = common.last_json_object(r["output"])
                if not isinstance(res, dict):
                    self.err(part, f"rc {r['rc']}: {r['output']}")
                    continue
                run[key] = res
                errors = [str(e) for e in res.get("errors", [])]
                refused = [kernel_refusal(e) for e in errors] if kernel else []
                if errors and all(refused):  # both opens refused the kernel: nothing to time, not an error
                    res["skip"] = self.sm90_refused = refused[0]
                    for row in res.get("rows", []):
                        row.pop("error", None)
                        row["skip"] = refused[0]
                else:
                    for e in errors:
                        self.err(part, e)
                if any(r.get("skipped") for r in res.get("rows", [])):  # lengths not started for time: incomplete
                    self.data.setdefault("skipped", []).append(part)

    # combine ----------------------------------------------------------------------------------------------------
    def combine(self) -> None:
        ceiling = (self.data.get("gemm_ceiling") or {}).get("gemm_tflops")
        cfgs = []
        for run in self.runs:
            try:
                with open(os.path.join(run["model"], "config.json"), "r", encoding="utf-8") as f:
                    cfg = json.load(f)
            except (OSError, ValueError) as exc:
                self.err("combine", f"no config.json in {run['model']}: {exc}")
                continue
            run["layers"] = int(cfg["num_hidden_layers"])
            run["model_config"] = {k: cfg.get(k) for k in MODEL_KEYS}
            run["table"] = combine_table(cfg, run.get("ours", []), run.get("hf") or {}, ceiling)
            cfgs.append((run, cfg))
        if not cfgs:
            return
        # the deepest run under the keys check_report.py and gpu_results.py read
        deepest, cfg = cfgs[-1]
        self.data["model"] = deepest["model_config"]
        for key in ("checkpoint", "ours", "ours_latency", "hf", "table"):
            if key in deepest:
                self.data[key] = deepest[key]
        for key in ("graph_latency", "graph_latency_sm90"):
            if key in deepest:
                self.data[key] = dict(deepest[key], layers=deepest["layers"])
        for run, run_cfg in cfgs:
            if "ours_sm90" in run:
                run["table_sm90"] = kernel_table(run_cfg, run.get("ours", []), run["ours_sm90"], ceiling)
        if "ours_sm90" in deepest:
            self.data["ours_sm90"] = deepest["ours_sm90"]
            self.data["table_sm90"] = deepest["table_sm90"]
        if len(cfgs) > 1:
            ex = self.data["extrapolated"] = extrapolate(cfg, cfgs[0][0], deepest, self.args.layers, ceiling)
            if "ours_sm90" in deepest:
                ex["rows_sm90"] = extrapolate_kernel(cfg, cfgs[0][0], deepest, self.args.layers, ceiling,
                                                     ex["rows"])
            for key in ("graph_latency", "graph_latency_sm90"):
                if key in deepest and not deepest[key].get("skip"):  # a refused kernel: nothing to fit
                    ex[key] = extrapolate_graphs(cfgs[0][0], deepest, self.args.layers, key)


MODEL_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
              "vocab_size")


def call_ms(row: Dict[str, object]) -> Optional[float]:
    """Mean ms per call of a throughput row: ms_per_call, else its tokens per call over tokens_per_s."""
    if row.get("ms_per_call") is not None:
        return float(row["ms_per_call"])
    tps = row.get("tokens_per_s")
    return None if not tps else tokens_per_call(row) / float(tps) * 1e3


def tokens_per_call(row: Dict[str, object]) -> int:
    """Tokens in one call of a row (hf_bench: tokens_per_call; bench_embed: n_seqs x S, n_seqs = max(1, B // S))."""
    S = int(row["seq_len"])
    if row.get("tokens_per_call"):
        return int(row["tokens_per_call"])
    return int(row.get("n_seqs") or max(1, int(row.get("batch_tokens") or S) // S)) * S


def linear_fit(t_a: Optional[float], t_b: Optional[float], la: int, lb: int, n: int,
               problem: Optional[str] = None) -> Dict[str, object]:
    """T(L) = overhead + L * per_layer through (la, t_a) and (lb, t_b), evaluated at n layers; "error" when a
    measurement is missing or failed (`problem`) or the fit is meaningless."""
    if t_a is None or t_b is None:
        return {"error": problem or "not measured at both depths"}
    per_layer = (t_b - t_a) / (lb - la)
    out: Dict[str, object] = {"ms_measured": [t_a, t_b], "per_layer_ms": per_layer,
                              "overhead_ms": t_a - la * per_layer, "ms": t_a + (n - la) * per_layer}
    if problem:
        out["error"] = problem
    elif per_layer <= 0:  # noise larger than the layers' time
        out["error"] = f"per-layer time {per_layer:.4g} ms <= 0"
    return out


def _problem(*rows: Dict[str, object]) -> Optional[str]:
    return next((str(r.get("error") or r.get("skipped") or r.get("skip")) for r in rows
                 if r.get("error") or r.get("skipped") or r.get("skip")), None)


# What the engine says at open when it refuses an attention kernel for this GPU / model / build
# (cuda_backend.cu): another compute capability, a head_dim the kernel lacks, a build without it.
KERNEL_REFUSALS = ("needs 9.0", "supports head_dim", "not in this build")


def kernel_refusal(text: str) -> Optional[str]:
    """The line of text that refuses an attention kernel (KERNEL_REFUSALS), stripped; None when there is none:
    such a run is a skip of that kernel here, anything else that failed is an error."""
    for line in (text or "").splitlines():
        if any(k in line for k in KERNEL_REFUSALS):
            return common.tail_text(line.strip(), 400)
    return None


def kernel_table(cfg, base_rows, k_rows, ceiling_tflops, kernel: str = "sm90") -> List[Dict[str, object]]:
    """Per S of k_rows (bench_embed with REASONIR_ATTENTION=kernel): its tokens/s and TFLOP/s against the default
    kernel's row of the same S and depth (base_rows, sm80): {kernel}_over_sm80 > 1 means the kernel is faster end
    to end. {kernel}_skip: the engine refused the kernel (the reason); {kernel}_error: the run failed or was not
    started; sm80_error: the default row's."""
    base = {int(r["seq_len"]): r for r in base_rows or [] if "seq_len" in r}
    out = []
    for r in k_rows or []:
        S = int(r["seq_len"])
        b = base.get(S, {})
        kt = None if (r.get("error") or r.get("skip") or r.get("skipped")) else r.get("tokens_per_s")
        bt = None if (b.get("error") or b.get("skipped")) else b.get("tokens_per_s")
        tf = flops.tflops(kt, cfg, S)
        out.append({"seq_len": S, "sm80_tokens_per_s": bt, f"{kernel}_tokens_per_s": kt, f"{kernel}_tflops": tf,
                    f"{kernel}_pct_peak": None if tf is None else 100.0 * tf / flops.BF16_PEAK_TFLOPS,
                    f"{kernel}_pct_ceiling": None if (tf is None or not ceiling_tflops) else
                    100.0 * tf / ceiling_tflops,
                    f"{kernel}_over_sm80": common.ratio(kt, bt),
                    f"{kernel}_skip": r.get("skip"), f"{kernel}_error": r.get("error") or r.get("skipped"),
                    "sm80_error": "not measured" if not b else None if bt is not None else
                    (b.get("error") or b.get("skipped") or "not measured")})
    return out


def extrapolate_kernel(cfg, run_a, run_b, n_layers: int, ceiling_tflops, ex_rows, kernel: str = "sm90"
                       ) -> List[Dict[str, object]]:
    """kernel_table at n_layers: the kernel's call time fitted over the two depths exactly as the default rows
    (_fit_throughput), against the extrapolated default rows ex_rows (extrapolate()["rows"]); plus
    {kernel}_{ms_measured,per_layer_ms,overhead_ms,ms}. A refusal at either depth stays a skip."""
    la, lb = int(run_a["layers"]), int(run_b["layers"])
    cfg_n = dict(cfg, num_hidden_layers=int(n_layers))
    by_s = [{int(r["seq_len"]): r for r in run.get(f"ours_{kernel}") or [] if "seq_len" in r}
            for run in (run_a, run_b)]
    base = [{"seq_len": r["seq_len"], "tokens_per_s": r.get("ours_tokens_per_s"), "error": r.get("ours_error")}
            for r in ex_rows or []]
    rows = []
    for S, rb in by_s[1].items():
        ra = by_s[0].get(S, {"error": "not measured"})
        fit, tps = _fit_throughput(ra, rb, la, lb, n_layers)
        skip = ra.get("skip") or rb.get("skip")
        k_row = {"seq_len": S, "tokens_per_s": tps, "skip": skip, "error": None if skip else fit.get("error")}
        row = kernel_table(cfg_n, base, [k_row], ceiling_tflops, kernel)[0]
        row.update({"layers": n_layers, "extrapolated": True, "from_layers": [la, lb],
                    "tokens_per_call": tokens_per_call(rb)})
        row.update({f"{kernel}_{k}": v for k, v in fit.items() if k != "error"})
        rows.append(row)
    return rows


def _fit_throughput(ra: Dict[str, object], rb: Dict[str, object], la: int, lb: int, n: int):
    """(fit of the call times, extrapolated tokens/s or None) of one S at depths la and lb."""
    ms = [call_ms(r) if r.get("tokens_per_s") is not None else None for r in (ra, rb)]
    fit = linear_fit(ms[0], ms[1], la, lb, n, _problem(ra, rb))
    return fit, (None if "error" in fit else tokens_per_call(rb) / fit["ms"] * 1e3)


def extrapolate(cfg, run_a, run_b, n_layers: int, ceiling_tflops) -> Dict[str, object]:
    """The n_layers-deep model from the shallowest (run_a) and deepest (run_b) runs, same shapes but the depth:
    per S, combine_table's columns at n layers plus {ours,hf}_{ms_measured,per_layer_ms,overhead_ms,ms}; and the
    batch-1 latency the same way."""
    la, lb = int(run_a["layers"]), int(run_b["layers"])
    cfg_n = dict(cfg, num_hidden_layers=int(n_layers))
    label = {"layers": n_layers, "extrapolated": True, "from_layers": [la, lb]}

    def by_s(rows):
        return {int(r["seq_len"]): r for r in rows or [] if "seq_len" in r}

    ours = [by_s(r.get("ours")) for r in (run_a, run_b)]
    hf = [by_s((r.get("hf") or {}).get("throughput")) for r in (run_a, run_b)]
    rows = []
    for S, ob in ours[1].items():
        o_fit, o_tps = _fit_throughput(ours[0].get(S, {}), ob, la, lb, n_layers)
        h_fit, h_tps = _fit_throughput(hf[0].get(S, {}), hf[1].get(S, {}), la, lb, n_layers)
        row = combine_table(cfg_n, [{"seq_len": S, "tokens_per_s": o_tps, "error": o_fit.get("error")}],
                            {"throughput": [{"seq_len": S, "tokens_per_s": h_tps, "error": h_fit.get("error")}]},
                            ceiling_tflops)[0]
        row.update(label, tokens_per_call=tokens_per_call(ob))
        row.update({f"ours_{k}": v for k, v in o_fit.items()})
        row.update({f"hf_{k}": v for k, v in h_fit.items()})
        rows.append(row)
    lats = [r.get("ours_latency") or {} for r in (run_a, run_b)]
    hf_lats = [(r.get("hf") or {}).get("latency") or {} for r in (run_a, run_b)]
    lat: Dict[str, object] = dict(label, tokens=lats[1].get("seq_len") or hf_lats[1].get("tokens"))
    for who, (ra, rb) in (("ours", lats), ("hf", hf_lats)):
        fit = linear_fit(ra.get("mean_ms"), rb.get("mean_ms"), la, lb, n_layers, _problem(ra, rb))
        lat.update({f"{who}_{k}": v for k, v in fit.items()})
    lat["hf_over_ours"] = None if ("ours_error" in lat or "hf_error" in lat) else \
        common.ratio(lat["hf_ms"], lat["ours_ms"])
    return dict(label, model={k: cfg_n.get(k) for k in MODEL_KEYS}, rows=rows, latency=lat)


def extrapolate_graphs(run_a, run_b, n_layers: int, key: str = "graph_latency") -> Dict[str, object]:
    """The graphs off/on latency of the n_layers-deep model, per length, from the two depths (as extrapolate);
    key: the runs' graph_latency result (graph_latency_sm90: with attention sm90)."""
    la, lb = int(run_a["layers"]), int(run_b["layers"])
    by_len = [{r.get("tokens"): r for r in (run.get(key) or {}).get("rows", [])} for run in (run_a, run_b)]
    rows = []
    for L, rb in by_len[1].items():
        ra = by_len[0].get(L, {})
        row: Dict[str, object] = {"tokens": L}
        for m in ("off", "on"):
            fit = linear_fit((ra.get(m) or {}).get("mean_ms"), (rb.get(m) or {}).get("mean_ms"), la, lb, n_layers,
                             _problem(ra, rb))
            row.update({f"{m}_{k}": v for k, v in fit.items()})
        row["speedup"] = None if ("off_error" in row or "on_error" in row) else common.ratio(row["off_ms"],
                                                                                            row["on_ms"])
        rows.append(row)
    return {"layers": n_layers, "extrapolated": True, "from_layers": [la, lb], "rows": rows}


def combine_table(cfg, ours_rows, hf_res, ceiling_tflops) -> List[Dict[str, object]]:
    """One row per S: tokens/s and TFLOP/s of ours and HF (same FLOP count), % of peak / ceiling, ours/HF."""
    hf_by_s = {int(r["seq_len"]): r for r in hf_res.get("throughput", []) if "seq_len" in r}
    table = []
    for o in ours_rows:
        S = int(o["seq_len"])
        h = hf_by_s.get(S, {})
        ot = o.get("tokens_per_s")
        ht = h.get("tokens_per_s")
        o_tf = flops.tflops(ot, cfg, S)
        h_tf = flops.tflops(ht, cfg, S)
        table.append({
            "seq_len": S, "gflop_per_token": flops.flops_per_token(cfg, S) / 1e9,
            "ours_tokens_per_s": ot, "ours_tflops": o_tf,
            "ours_pct_peak": None if o_tf is None else 100.0 * o_tf / flops.BF16_PEAK_TFLOPS,
            "ours_pct_ceiling": None if (o_tf is None or not ceiling_tflops) else 100.0 * o_tf / ceiling_tflops,
            "hf_tokens_per_s": ht, "hf_tflops": h_tf,
            "hf_pct_peak": None if h_tf is None else 100.0 * h_tf / flops.BF16_PEAK_TFLOPS,
            "ours_over_hf": common.ratio(ot, ht),
            "ours_error": o.get("error") or o.get("skipped"), "hf_error": h.get("error") or h.get("skipped"),
        })
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="ours vs HF throughput/latency on 8B-shaped checkpoints")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "gpu"))
    ap.add_argument("--model", required=True, help="the checkpoint to time; with --make-checkpoint, the folder "
                                                   "that receives one per depth (DIR/layers-L)")
    ap.add_argument("--make-checkpoint", action="store_true",
                    help="generate 8B-shaped checkpoints of --depths layers and extrapolate to --layers")
    ap.add_argument("--depths", default="1,3", help="layer counts generated and timed (two or more: extrapolated)")
    ap.add_argument("--layers", type=int, default=32, help="depth of the extrapolated model (ReasonIR-8B: 32)")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16")
    common.add_workload_args(ap)
    ap.add_argument("--ops-tokens", type=int, default=8192)
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--no-ops", action="store_true")
    ap.add_argument("--no-ceiling", action="store_true")
    ap.add_argument("--gemm-size", type=int, help="N of the N^3 GEMM ceiling (default the tool's, 8192)")
    ap.add_argument("--attn-sweep", default="512,2048,8192,32768",
                    help="S of the attention sweep (bench_cuda_ops --attention-sweep)")
    ap.add_argument("--attn-kernels", default="sm80,sm90",
                    help="attention kernels of the sweep and the per-op layer; with sm90 among them, bench_embed and "
                         "the graphs latency also run end to end with REASONIR_ATTENTION=sm90 / --attention sm90")
    ap.add_argument("--sm90-seq-lens", default="512,8192",
                    help="S of the sm90 end-to-end rows, among --seq-lens (the smallest and largest always run)")
    ap.add_argument("--attn-heads", default="32,8", help="query heads,kv heads of the sweep (8B: 32,8)")
    ap.add_argument("--attn-head-dim", type=int, default=128)
    ap.add_argument("--attn-tokens", type=int, default=16384,
                    help="tokens of the sweep's packed batch (S above it: one sequence of S)")
    ap.add_argument("--attn-iters", type=int, default=10, help="timed runs per kernel and S (median)")
    ap.add_argument("--no-attn-sweep", action="store_true")
    ap.add_argument("--lib", help="libreasonir.so of the graphs latency (default BUILD/libreasonir.so)")
    ap.add_argument("--graph-lens", default="32,128", help="query lengths of the graphs off/on latency")
    ap.add_argument("--graph-iters", type=int, default=50)
    ap.add_argument("--graph-warmup", type=int, default=5)
    ap.add_argument("--no-graphs", action="store_true")
    ap.add_argument("--torch-ceiling", action="store_true", help="also time torch.matmul in the HF process")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--work-dir", default=None, help="scratch files (default: --steps-dir or /tmp)")
    ap.add_argument("--steps-dir")
    ap.add_argument("--step", default="bench")
    ap.add_argument("--log", help="append the commands and their output tails here")
    ap.add_argument("--results-dir", help="also write the suite-schema results.json there (gpu_results.py), with its "
                                          "report.md and plots (the report package)")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="the check's gpu, command, mode, check_report for results.json")
    ap.add_argument("--no-plots", action="store_true", help="report.md without the PNG plots")
    args = ap.parse_args(argv)
    args.seq_lens = [int(s) for s in args.seq_lens.split(",") if s]
    args.sm90_seq_lens = [int(s) for s in args.sm90_seq_lens.split(",") if s]
    args.attn_kernel_list = [k for k in args.attn_kernels.split(",") if k]
    args.depths = sorted({int(s) for s in args.depths.split(",") if s})
    if not args.depths or args.depths[0] < 1:
        ap.error(f"--depths needs layer counts >= 1, got {args.depths}")
    args.work_dir = args.work_dir or args.steps_dir or "/tmp"
    os.makedirs(args.work_dir, exist_ok=True)

    t0 = time.perf_counter()
    started = gpu_results.now_iso()
    b = Bench(args)
    parts = [("checkpoint", b.checkpoint if args.make_checkpoint else None), ("ours", b.ours),
             ("ours_sm90", b.ours_sm90 if "sm90" in args.attn_kernel_list else None),
             ("hf", None if args.no_hf else b.hf), ("ceiling", None if args.no_ceiling else b.ceiling),
             ("ops", None if args.no_ops else b.ops), ("attention", None if args.no_attn_sweep else b.attention),
             ("graphs", None if args.no_graphs else b.graphs), ("combine", b.combine)]
    for name, fn in parts:
        if fn is None:
            continue
        t1 = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            b.err(name, f"{type(exc).__name__}: {exc}")
        b.data.setdefault("part_s", {})[name] = round(time.perf_counter() - t1, 2)
        print(f"bench: {name} done in {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    if args.log:
        with open(args.log, "a", encoding="utf-8") as f:
            f.write("\n".join(b.log) + "\n")
    # A part or row not started for lack of time makes the step incomplete, never failed.
    ours_ok = all(run.get("ours") and all("tokens_per_s" in r or r.get("skipped") for r in run["ours"])
                  for run in b.runs)
    skipped = b.data.get("skipped") or [r for run in b.runs for r in run.get("ours") or [] if r.get("skipped")]
    status = "fail" if (not ours_ok or b.data["errors"]) else "incomplete" if skipped else "pass"
    summary = bench_summary(b.data)
    extra = extras_summary(b.data)
    summary = f"{summary} | {extra}" if extra else summary
    elapsed = time.perf_counter() - t0  # one figure for the step record and results.json
    if args.steps_dir:
        common.write_step(args.steps_dir, args.step, status, elapsed, summary, b.data,
                          "; ".join(b.data["errors"])[:4000] or None)
    if args.results_dir:
        write_results(args, b.data, started, elapsed)
    print(json.dumps(common.sanitize({"status": status, "summary": summary})))
    return 0 if status == "pass" else 1


def write_results(args, data: Dict[str, object], started: str, elapsed: float) -> None:
    """RESULTS_DIR/results.json in the suite's schema, and its report.md + plots. The env step's record and the
    check's other records so far come from --steps-dir; a failure here is printed, never fatal to the step."""
    meta = dict(kv.split("=", 1) for kv in args.meta if "=" in kv)
    steps: List[Dict[str, object]] = []
    if args.steps_dir and os.path.isdir(args.steps_dir):
        names = [f[:-5] for f in sorted(os.listdir(args.steps_dir)) if f.endswith(".json")]
        order = {n: i for i, n in enumerate(STEP_ORDER)}
        for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
            try:
                rec = common.read_step(args.steps_dir, name)
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict):
                steps.append(rec)
    env = next((s.get("data") for s in steps if s.get("step") == "env"), None)
    try:
        results = gpu_results.build(common.sanitize(data), env, meta, steps, started, round(elapsed, 2))
        os.makedirs(args.results_dir, exist_ok=True)
        path = os.path.join(args.results_dir, "results.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, allow_nan=False)
            f.write("\n")
        md, _ = report.write_report(results, args.results_dir, plots=not args.no_plots)
        print(f"bench: wrote {path} and {md}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001
        print(f"bench: could not write the results in {args.results_dir}: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)


def _summary_parts(rows, ours_ms, hf_ms, tflops: bool = False) -> List[str]:
    parts = []
    for r in rows or []:
        tf = f" ({fmt(r.get('ours_tflops'), '.0f')} TFLOP/s)" if tflops else ""
        parts.append(f"S={r['seq_len']}: ours {fmt(r.get('ours_tokens_per_s'), '.0f')} tok/s{tf}, "
                     f"HF {fmt(r.get('hf_tokens_per_s'), '.0f')}, x{fmt(r.get('ours_over_hf'), '.2f')}")
    if ours_ms is not None:
        parts.append(f"latency ours {ours_ms:.2f} ms")
    if hf_ms is not None:
        parts.append(f"HF {hf_ms:.2f} ms")
    return parts


def bench_summary(data: Dict[str, object]) -> str:
    """One line: the extrapolated rows first (labelled), then the measured rows of the deepest checkpoint."""
    parts = _summary_parts(data.get("table"), (data.get("ours_latency") or {}).get("mean_ms"),
                           ((data.get("hf") or {}).get("latency") or {}).get("mean_ms"))
    ex = data.get("extrapolated")
    if ex:
        la, lb = ex["from_layers"]
        lat = ex.get("latency") or {}
        pick = (lambda who: None if lat.get(f"{who}_error") else lat.get(f"{who}_ms"))
        head = _summary_parts(ex.get("rows"), pick("ours"), pick("hf"), tflops=True)
        measured = "; ".join(parts) or "no results"
        return (f"EXTRAPOLATED to {ex['layers']} layers from {la} and {lb}: " + ("; ".join(head) or "n/a")
                + f" | measured at {lb} layers: {measured}")
    if not parts and data.get("errors"):
        return "no results: " + str(data["errors"][0]).splitlines()[0][:160]
    return "; ".join(parts) or "no results"


def extras_summary(data: Dict[str, object]) -> str:
    """The attention sweep's best S per kernel and the graphs speedup, for the end of the summary line."""
    parts = []
    sweep = data.get("attention_sweep") or {}
    for k in dict.fromkeys(r.get("kernel") for r in sweep.get("rows", [])):
        rows = [r for r in sweep["rows"] if r.get("kernel") == k]
        ran = [r for r in rows if r.get("status") == "ok"]
        if ran:
            top = max(ran, key=lambda r: r.get("tflops") or 0)
            parts.append(f"attention {k} up to {fmt(top.get('tflops'), '.3g')} TFLOP/s (S={top.get('seq_len')})")
        elif rows:
            parts.append(f"attention {k} {rows[0].get('status')}")
    for r in (data.get("graph_latency") or {}).get("rows", []):
        if r.get("speedup") is not None:
            parts.append(f"graphs {r['tokens']} tok x{r['speedup']:.2f}"
                         f"{'' if r.get('equal_bits') else ' BITS DIFFER'}")
    # sm90 end to end against the default kernel: the extrapolated rows when there are, else the measured ones
    ex_rows = (data.get("extrapolated") or {}).get("rows_sm90")
    k_rows = ex_rows or data.get("table_sm90") or []
    label = f"{(data.get('extrapolated') or {}).get('layers')} layers extrapolated" if ex_rows else "measured"
    e2e = [f"S={r['seq_len']} x{r['sm90_over_sm80']:.2f}" for r in k_rows if r.get("sm90_over_sm80") is not None]
    if e2e:
        parts.append(f"sm90/sm80 end to end ({label}): " + ", ".join(e2e))
    elif k_rows and all(r.get("sm90_skip") for r in k_rows):
        parts.append("sm90 end to end skipped: " + str(k_rows[0]["sm90_skip"])[:160])
    return "; ".join(parts)


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


if __name__ == "__main__":
    sys.exit(main())
