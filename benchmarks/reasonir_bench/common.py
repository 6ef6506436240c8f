#!/usr/bin/env python3
"""Shared helpers of the GPU check (benchmarks/gpu-check.sh) and the suite: per-step JSON records, the time budget,
small statistics, JSON/text helpers. numpy-free and torch-free so that every tool can import it anywhere. The FLOP
count is flops.py; the validation steps' log parsers are validate.py.

Each step of the check writes one small JSON file STEPS_DIR/<step>.json:

    {"step": "parity", "status": "pass|fail|skip|error", "elapsed_s": 12.3, "summary": "one line",
     "error": "..." (optional), "data": {...} (step-specific, small)}

check_report.py merges them into report.json / report.md. The shell records its steps with

    PYTHONPATH=benchmarks python3 -m reasonir_bench.common record --steps-dir D --step NAME --status pass \
        --elapsed 1.2         --summary "..." [--error "..."] [--data FILE.json] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

# pass: ran and held; fail: a real mismatch or error; incomplete: not run, or not run to the end, for a reason
# outside the engine (time budget, a missing package): never a failure; skip: not asked for (an optional step
# without its inputs); error: the step's own machinery broke (treated as fail).
STATUSES = ("pass", "fail", "incomplete", "skip", "error")



# ---------------------------------------------------------------------------------------------------------------
# Step records
# ---------------------------------------------------------------------------------------------------------------
def step_path(steps_dir: str, step: str) -> str:
    if not step or any(c in step for c in "/\\ ") or step.startswith("."):
        raise ValueError(f"bad step name {step!r}")
    return os.path.join(steps_dir, f"{step}.json")


def write_step(steps_dir: str, step: str, status: str, elapsed_s: Optional[float] = None, summary: str = "",
               data: Optional[Dict[str, Any]] = None, error: Optional[str] = None) -> str:
    """Writes (atomically) the record of one step; returns its path. Unknown statuses become "error"."""
    if status not in STATUSES:
        error = (error + "; " if error else "") + f"unknown status {status!r}"
        status = "error"
    rec: Dict[str, Any] = {"step": step, "status": status, "summary": summary}
    if elapsed_s is not None:
        rec["elapsed_s"] = round(float(elapsed_s), 2)
    if error:
        rec["error"] = tail_text(error, 4000)
    rec["data"] = sanitize(data or {})
    os.makedirs(steps_dir, exist_ok=True)
    path = step_path(steps_dir, step)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, indent=1, sort_keys=True, default=_json_default, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_step(steps_dir: str, step: str) -> Optional[Dict[str, Any]]:
    path = step_path(steps_dir, step)
    if not os.path.exists(path):
        return None
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def _json_default(o):
    # numpy scalars / arrays without importing numpy here
    if hasattr(o, "item") and callable(o.item):
        try:
            return o.item()
        except (ValueError, TypeError):
            pass
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def sanitize(obj):
    """JSON-safe copy: NaN/Inf become None (allow_nan=False would refuse them), tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if hasattr(obj, "item") and callable(getattr(obj, "item")) and not isinstance(obj, (str, bytes)):
        try:
            return sanitize(obj.item())
        except (ValueError, TypeError):
            return str(obj)
    return obj


def tail_text(text: str, limit: int) -> str:
    """The last `limit` characters of text (with a marker when cut)."""
    if text is None:
        return ""
    text = str(text)
    return text if len(text) <= limit else "[...]" + text[-limit:]


def parse_value(v: str):
    """--set value typing: int, float, true/false/null, JSON object/list, else the string."""
    low = v.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    if v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            pass
    return v


# ---------------------------------------------------------------------------------------------------------------
# Time budget
# ---------------------------------------------------------------------------------------------------------------
class Deadline:
    """Wall-clock deadline (epoch seconds) shared by the shell and the Python steps (env GPU_CHECK_DEADLINE)."""

    def __init__(self, at: Optional[float] = None):
        if at is None:
            env = os.environ.get("GPU_CHECK_DEADLINE")
            at = float(env) if env else None
        self.at = at

    def remaining(self) -> float:
        return float("inf") if self.at is None else self.at - time.time()

    def expired(self, margin: float = 0.0) -> bool:
        return self.remaining() <= margin


# ---------------------------------------------------------------------------------------------------------------
# Statistics and JSON helpers (the FLOP count is in flops.py)
# ---------------------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> Optional[float]:
    """Linear-interpolated percentile (numpy's default method); None for no values."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100.0
    lo = int(math.floor(k))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def mean(values: Iterable[float]) -> Optional[float]:
    xs = [float(v) for v in values]
    return sum(xs) / len(xs) if xs else None


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def read_json_file(path: str):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def last_json_object(text: str) -> Optional[Dict[str, Any]]:
    """The last line of `text` that parses as a JSON object (tools print one JSON line among other output)."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    # A pretty-printed object spanning lines: try from the last line that starts with "{".
    lines = (text or "").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip().startswith("{"):
            try:
                obj = json.loads("\n".join(lines[i:]))
                if isinstance(obj, dict):
                    return obj
            except json.JSONDecodeError:
                continue
    return None

def add_workload_args(ap) -> None:
    """The GPU benchmark's workload options, shared by gpu_bench (ours) and hf_bench (HF), which must time the same
    shapes: sequence lengths, the tokens per call, iterations, and the batch-1 latency run."""
    ap.add_argument("--seq-lens", default="128,512,2048,8192")
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--latency-len", type=int, default=32)
    ap.add_argument("--latency-iters", type=int, default=50)


# ---------------------------------------------------------------------------------------------------------------
# CLI: record a step from the shell
# ---------------------------------------------------------------------------------------------------------------
def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="GPU check helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="write STEPS_DIR/<step>.json")
    rec.add_argument("--steps-dir", required=True)
    rec.add_argument("--step", required=True)
    rec.add_argument("--status", required=True)
    rec.add_argument("--elapsed", type=float)
    rec.add_argument("--summary", default="")
    rec.add_argument("--error")
    rec.add_argument("--error-file", help="use the tail of this file as the error text")
    rec.add_argument("--data", help="JSON file whose object becomes data (merged under --set values)")
    rec.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    rec.add_argument("--set-file", action="append", default=[], metavar="KEY=FILE",
                     help="data[KEY] = the tail (4000 chars) of FILE's text")
    args = ap.parse_args(argv)
    data: Dict[str, Any] = {}
    error = args.error
    if args.data:
        try:
            loaded = read_json_file(args.data)
            data.update(loaded if isinstance(loaded, dict) else {"value": loaded})
        except (OSError, ValueError) as exc:
            error = (error + "; " if error else "") + f"could not read --data {args.data}: {exc}"
    for kv in args.set:
        if "=" not in kv:
            print(f"reasonir_bench.common: --set needs KEY=VALUE, got {kv!r}", file=sys.stderr)
            return 2
        k, v = kv.split("=", 1)
        data[k] = parse_value(v)
    for kv in args.set_file:
        k, path = kv.split("=", 1)
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as f:
                data[k] = tail_text(f.read(), 4000)
        except OSError as exc:
            data[k] = f"(could not read {path}: {exc})"
    if args.error_file:
        try:
            with open(args.error_file, "r", encoding="utf-8", errors="replace") as f:
                text = tail_text(f.read(), 3000)
            error = (error + "\n" if error else "") + text
        except OSError:
            pass
    write_step(args.steps_dir, args.step, args.status, args.elapsed, args.summary, sanitize(data), error)
    return 0


if __name__ == "__main__":
    sys.exit(main())

