#!/usr/bin/env python3
"""Step 8 of the GPU check: our engine vs Hugging Face transformers on a full 8B-shaped checkpoint, same GPU, one
after the other (every measurement in its own process, so the GPU is free between them).

    python3 benchmarks/gpu/bench.py --build-dir build/gpu --model DIR [--make-checkpoint] [--layers 32]
        [--seq-lens 128,512,2048,8192] [--batch-tokens 16384] [--iters 5] [--warmup 1] [--latency-iters 50]
        [--no-hf] [--device cuda] [--steps-dir D]

Parts, each failing soft (error recorded, next part runs), stopping to start new ones when GPU_CHECK_DEADLINE nears:
  checkpoint  make_checkpoint.py --layers L --shards 4 into --model (timed; reused when already there)
  ours        BUILD/bench_embed --model DIR --device cuda --precision bf16 --seq-len S --batch-tokens B --iters N
              --warmup W --json per S (S = 8192: 2 sequences of 16384 tokens), then --seq-len 32 --batch-tokens 32
              --iters 50 for batch-1 latency (mean; p99 when bench_embed reports p99_ms); JSON parsed, text fallback
  hf          hf_bench.py (LlamaModel bf16 sdpa, padded batches of B/S sequences, bidirectional mask)
  ceiling     BUILD/bench_cuda_ops --gemm-ceiling --json ({"gemm_tflops"}), else torch.matmul 8192^3 bf16
  ops         BUILD/bench_cuda_ops --layer --model DIR --tokens 8192 --json (op -> ms of one layer)
FLOPs per token (common.flops_per_token): 2*layers*(h*q + 2*h*kv + q*h + 3*h*inter) + 4*S*q*layers; TFLOP/s is
reported against the 989 TFLOP/s bf16 dense peak and the measured GEMM ceiling. Writes STEPS_DIR/bench.json.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import common  # noqa: E402

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
        self.log: List[str] = []

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

    def call(self, part: str, cmd: List[str], want_s: float) -> Optional[Dict[str, object]]:
        t = self.budget(want_s)
        if t is None:
            self.data.setdefault("skipped", []).append(part)
            return None
        self.log.append("$ " + " ".join(shlex.quote(c) for c in cmd))
        r = run_cmd(cmd, t)
        self.log.append(common.tail_text(r["output"], 6000))
        if r["timed_out"]:
            self.err(part, f"timed out after {t:.0f} s")
        return r

    # parts ------------------------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        a = self.args
        cmd = [a.python, os.path.join(HERE, "make_checkpoint.py"), "--out", a.model, "--layers", str(a.layers),
               "--shards", str(a.shards), "--device", a.device]
        r = self.call("checkpoint", cmd, 240)
        if r is None:
            return
        info = common.last_json_object(r["output"]) or {}
        info["wall_s"] = round(r["wall_s"], 2)
        self.data["checkpoint"] = info
        if r["rc"] != 0 or "error" in info:
            self.err("checkpoint", info.get("error") or r["output"])

    def ours_run(self, seq_len: int, batch_tokens: int, iters: int, warmup: int) -> Dict[str, object]:
        a = self.args
        exe = self.exe("bench_embed")
        row: Dict[str, object] = {"seq_len": seq_len, "batch_tokens": batch_tokens}
        if not os.path.exists(exe):
            row["error"] = f"{exe} missing"
            return row
        base = [exe, "--model", a.model, "--device", a.device, "--precision", a.precision, "--seq-len", str(seq_len),
                "--batch-tokens", str(batch_tokens), "--iters", str(iters), "--warmup", str(warmup)]
        r = self.call(f"ours S={seq_len}", base + ["--json"], 150)
        if r is None:
            row["skipped"] = "time budget"
            return row
        if r["rc"] != 0 and "--json" in r["output"] and ("unknown flag" in r["output"] or "usage" in r["output"]):
            r = self.call(f"ours S={seq_len} (text)", base, 150)  # a bench_embed without --json
            if r is None:
                row["skipped"] = "time budget"
                return row
        parsed = parse_bench_embed(r["output"])
        row.update(parsed)
        row["seq_len"], row["batch_tokens"] = seq_len, batch_tokens
        row["wall_s"] = round(r["wall_s"], 2)
        if r["rc"] != 0 or "tokens_per_s" not in parsed:
            row["error"] = f"rc {r['rc']}: " + common.tail_text(r["output"], 800)
        return row

    def ours(self) -> None:
        a = self.args
        rows = []
        for S in a.seq_lens:
            row = self.ours_run(S, max(a.batch_tokens, S), a.iters, a.warmup)
            rows.append(row)
            print(f"bench: ours S={S}: {row.get('tokens_per_s', row.get('error', row.get('skipped')))}",
                  file=sys.stderr, flush=True)
        self.data["ours"] = rows
        lat = self.ours_run(a.latency_len, a.latency_len, a.latency_iters, 5)
        if "ms_per_call" in lat:
            lat["mean_ms"] = lat["ms_per_call"]
        self.data["ours_latency"] = lat

    def hf(self) -> None:
        a = self.args
        out = os.path.join(a.work_dir, "hf_bench.json")
        if os.path.exists(out):
            os.remove(out)
        cmd = [a.python, os.path.join(HERE, "hf_bench.py"), "--model", a.model, "--seq-lens",
               ",".join(str(s) for s in a.seq_lens), "--batch-tokens", str(a.batch_tokens), "--iters", str(a.iters),
               "--warmup", str(a.warmup), "--latency-len", str(a.latency_len), "--latency-iters",
               str(a.latency_iters), "--json-out", out]
        if a.torch_ceiling:
            cmd.append("--gemm-ceiling")
        r = self.call("hf", cmd, 300)
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
            self.err("hf", f"rc {r['rc']}: {r['output']}")
            return
        for e in res.get("errors", []):
            self.err("hf", e)
        self.data["hf"] = res

    def ceiling(self) -> None:
        exe = self.exe("bench_cuda_ops")
        if os.path.exists(exe):
            r = self.call("ceiling", [exe, "--gemm-ceiling", "--json"], 60)
            if r is not None:
                obj = common.last_json_object(r["output"])
                if r["rc"] == 0 and obj and "gemm_tflops" in obj:
                    obj["source"] = "bench_cuda_ops --gemm-ceiling"
                    self.data["gemm_ceiling"] = obj
                    return
                self.err("ceiling", f"bench_cuda_ops rc {r['rc']}: {r['output']}")
        else:
            self.err("ceiling", f"{exe} missing; using torch.matmul")
        hf_c = (self.data.get("hf") or {}).get("gemm_ceiling")
        if hf_c:
            self.data["gemm_ceiling"] = hf_c
            return
        r = self.call("ceiling (torch)", [self.args.python, "-c",
                                          "import sys, json; sys.path.insert(0, %r); import hf_bench; "
                                          "print(json.dumps(hf_bench.gemm_ceiling()))" % HERE], 60)
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
        r = self.call("ops", [exe, "--layer", "--model", self.args.model, "--tokens", str(self.args.ops_tokens),
                              "--json"], 90)
        if r is None:
            return
        obj = common.last_json_object(r["output"])
        if r["rc"] == 0 and obj:
            self.data["per_op_ms"] = obj
            self.data["per_op_tokens"] = self.args.ops_tokens
        else:
            self.err("ops", f"rc {r['rc']}: {r['output']}")

    # combine ----------------------------------------------------------------------------------------------------
    def combine(self) -> None:
        try:
            with open(os.path.join(self.args.model, "config.json"), "r", encoding="utf-8") as f:
                cfg = json.load(f)
        except (OSError, ValueError) as exc:
            self.err("combine", f"no config.json in {self.args.model}: {exc}")
            return
        self.data["model"] = {k: cfg.get(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                       "num_key_value_heads", "intermediate_size", "vocab_size")}
        self.data["table"] = combine_table(cfg, self.data.get("ours", []), (self.data.get("hf") or {}),
                                           (self.data.get("gemm_ceiling") or {}).get("gemm_tflops"))


def combine_table(cfg, ours_rows, hf_res, ceiling_tflops) -> List[Dict[str, object]]:
    """One row per S: tokens/s and TFLOP/s of ours and HF (same FLOP count), % of peak / ceiling, ours/HF."""
    hf_by_s = {int(r["seq_len"]): r for r in hf_res.get("throughput", []) if "seq_len" in r}
    table = []
    for o in ours_rows:
        S = int(o["seq_len"])
        h = hf_by_s.get(S, {})
        ot = o.get("tokens_per_s")
        ht = h.get("tokens_per_s")
        o_tf = common.tflops(ot, cfg, S)
        h_tf = common.tflops(ht, cfg, S)
        table.append({
            "seq_len": S, "gflop_per_token": common.flops_per_token(cfg, S) / 1e9,
            "ours_tokens_per_s": ot, "ours_tflops": o_tf,
            "ours_pct_peak": None if o_tf is None else 100.0 * o_tf / common.BF16_PEAK_TFLOPS,
            "ours_pct_ceiling": None if (o_tf is None or not ceiling_tflops) else 100.0 * o_tf / ceiling_tflops,
            "hf_tokens_per_s": ht, "hf_tflops": h_tf,
            "hf_pct_peak": None if h_tf is None else 100.0 * h_tf / common.BF16_PEAK_TFLOPS,
            "ours_over_hf": common.ratio(ot, ht),
            "ours_error": o.get("error") or o.get("skipped"), "hf_error": h.get("error") or h.get("skipped"),
        })
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="ours vs HF throughput/latency on an 8B-shaped checkpoint")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "gpu"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--make-checkpoint", action="store_true")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--seq-lens", default="128,512,2048,8192")
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--latency-len", type=int, default=32)
    ap.add_argument("--latency-iters", type=int, default=50)
    ap.add_argument("--ops-tokens", type=int, default=8192)
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--no-ops", action="store_true")
    ap.add_argument("--no-ceiling", action="store_true")
    ap.add_argument("--torch-ceiling", action="store_true", help="also time torch.matmul in the HF process")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--work-dir", default=None, help="scratch files (default: --steps-dir or /tmp)")
    ap.add_argument("--steps-dir")
    ap.add_argument("--step", default="bench")
    ap.add_argument("--log", help="append the commands and their output tails here")
    args = ap.parse_args(argv)
    args.seq_lens = [int(s) for s in args.seq_lens.split(",") if s]
    args.work_dir = args.work_dir or args.steps_dir or "/tmp"
    os.makedirs(args.work_dir, exist_ok=True)

    t0 = time.perf_counter()
    b = Bench(args)
    parts = [("checkpoint", b.checkpoint if args.make_checkpoint else None), ("ours", b.ours),
             ("hf", None if args.no_hf else b.hf), ("ceiling", None if args.no_ceiling else b.ceiling),
             ("ops", None if args.no_ops else b.ops), ("combine", b.combine)]
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
    ours_ok = bool(b.data.get("ours")) and all("tokens_per_s" in r for r in b.data["ours"])
    status = "pass" if ours_ok and not b.data["errors"] else "fail"
    summary = bench_summary(b.data)
    if args.steps_dir:
        common.write_step(args.steps_dir, args.step, status, time.perf_counter() - t0, summary, b.data,
                          "; ".join(b.data["errors"])[:4000] or None)
    print(json.dumps(common.sanitize({"status": status, "summary": summary})))
    return 0 if status == "pass" else 1


def bench_summary(data: Dict[str, object]) -> str:
    parts = []
    for r in data.get("table", []) or []:
        o = r.get("ours_tokens_per_s")
        h = r.get("hf_tokens_per_s")
        q = r.get("ours_over_hf")
        parts.append(f"S={r['seq_len']}: ours {fmt(o, '.0f')} tok/s, HF {fmt(h, '.0f')}, x{fmt(q, '.2f')}")
    lat = data.get("ours_latency") or {}
    if lat.get("mean_ms") is not None:
        parts.append(f"latency ours {lat['mean_ms']:.2f} ms")
    hl = ((data.get("hf") or {}).get("latency") or {}).get("mean_ms")
    if hl is not None:
        parts.append(f"HF {hl:.2f} ms")
    if not parts and data.get("errors"):
        return "no results: " + str(data["errors"][0]).splitlines()[0][:160]
    return "; ".join(parts) or "no results"


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


if __name__ == "__main__":
    sys.exit(main())
