#!/usr/bin/env python3
"""Shared helpers of the GPU check (benchmarks/gpu-check.sh): per-step JSON records, the time budget, FLOP counts,
small statistics. numpy-free and torch-free so that every script can import it anywhere.

Each step of the check writes one small JSON file STEPS_DIR/<step>.json:

    {"step": "parity", "status": "pass|fail|skip|error", "elapsed_s": 12.3, "summary": "one line",
     "error": "..." (optional), "data": {...} (step-specific, small)}

report.py merges them into report.json / report.md. The shell records its steps with

    python3 benchmarks/gpu/common.py record --steps-dir D --step NAME --status pass --elapsed 1.2 \
        --summary "..." [--error "..."] [--data FILE.json] [--set key=value ...]
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

# H100 SXM bf16 dense peak (TFLOP/s), the spec's "Size of the work".
BF16_PEAK_TFLOPS = 989.0


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
# Model arithmetic
# ---------------------------------------------------------------------------------------------------------------
def model_dims(cfg: Dict[str, Any]) -> Dict[str, int]:
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    kv = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    return {"hidden": hidden, "layers": int(cfg["num_hidden_layers"]), "inter": int(cfg["intermediate_size"]),
            "q_dim": heads * head_dim, "kv_dim": kv * head_dim}


def flops_per_token(cfg: Dict[str, Any], seq_len: int) -> float:
    """2*layers*(hidden*q_dim + 2*hidden*kv_dim + q_dim*hidden + 3*hidden*inter) + 4*S*q_dim*layers (the count of
    native/bench/bench_embed.cpp and the spec: linear layers plus non-causal QK^T and PV over the S keys)."""
    d = model_dims(cfg)
    h, q, kv, layers = d["hidden"], d["q_dim"], d["kv_dim"], d["layers"]
    linear = 2.0 * layers * (h * q + 2 * h * kv + q * h + 3 * h * d["inter"])
    return linear + 4.0 * seq_len * q * layers


def tflops(tokens_per_s: Optional[float], cfg: Dict[str, Any], seq_len: int) -> Optional[float]:
    if tokens_per_s is None:
        return None
    return tokens_per_s * flops_per_token(cfg, seq_len) / 1e12


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


# ---------------------------------------------------------------------------------------------------------------
# Log parsers (ctest, compute-sanitizer)
# ---------------------------------------------------------------------------------------------------------------
_RE_CTEST = re.compile(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)")
_RE_CTEST_FAILED = re.compile(r"^\s*\d+ - (\S+) \((.*)\)\s*$")


def parse_ctest(text: str) -> Dict[str, Any]:
    """passed / failed / total and the failed tests' names of a ctest run's output."""
    out: Dict[str, Any] = {"passed": None, "failed": None, "total": None, "failed_tests": []}
    m = None
    for m in _RE_CTEST.finditer(text or ""):
        pass
    if m:
        total, failed = int(m.group(3)), int(m.group(2))
        out.update({"total": total, "failed": failed, "passed": total - failed})
    if "No tests were found" in (text or ""):
        out["no_tests"] = True
    if out["total"] is not None:
        out["line"] = f"{out['passed']} passed, {out['failed']} failed of {out['total']}"
    elif out.get("no_tests"):
        out["line"] = "no tests matched"
    else:
        first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
        out["line"] = "no ctest summary" + (f" ({first[:120]})" if first else "")
    in_list = False
    for line in (text or "").splitlines():
        if line.startswith("The following tests FAILED"):
            in_list = True
            continue
        if in_list:
            mm = _RE_CTEST_FAILED.match(line)
            if mm:
                out["failed_tests"].append(f"{mm.group(1)} ({mm.group(2)})")
            elif line.strip():
                in_list = False
    return out


_RE_SAN = re.compile(r"=========\s+((?:ERROR|RACECHECK|LEAK|SYNCCHECK|INITCHECK)[A-Z ]*SUMMARY:.*)$")


def parse_sanitizer(text: str) -> Dict[str, Any]:
    """The last '========= ... SUMMARY: ...' line of a compute-sanitizer run and the error count in it."""
    line = None
    for ln in (text or "").splitlines():
        m = _RE_SAN.search(ln.strip())
        if m:
            line = m.group(1).strip()
    out: Dict[str, Any] = {"summary_line": line, "errors": None}
    if line:
        m = re.search(r"(\d+) errors?", line)
        if m:
            out["errors"] = int(m.group(1))
    return out


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
    for name in ("ctest-summary", "sanitizer-summary"):
        p = sub.add_parser(name, help="print the parsed summary of a log as JSON")
        p.add_argument("log")
    args = ap.parse_args(argv)
    if args.cmd in ("ctest-summary", "sanitizer-summary"):
        try:
            with open(args.log, "r", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            text = ""
        print(json.dumps(parse_ctest(text) if args.cmd == "ctest-summary" else parse_sanitizer(text)))
        return 0

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
            print(f"common.py: --set needs KEY=VALUE, got {kv!r}", file=sys.stderr)
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
