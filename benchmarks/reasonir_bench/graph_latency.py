#!/usr/bin/env python3
"""Batch-1 latency with and without CUDA graphs, in one process, through the C API (a part of the GPU benchmark).

    PYTHONPATH=benchmarks python3 -m reasonir_bench.graph_latency --lib build/gpu/libreasonir.so --model DIR \
        [--lens 32,128] [--iters 50] [--warmup 5] [--attention default] [--seed 3] [--device cuda]

Opens the model twice, Engine(cuda_graphs="off") and Engine(cuda_graphs="on") (reasonir.h's rir_open_options
.cuda_graphs: "on" replays batches of at most RIR_CUDA_GRAPH_MAX_TOKENS tokens as graphs captured once per shape),
and per length L times one rir_embed of one sequence of L random ids, `iters` calls after `warmup` untimed ones, on
each handle in turn (off, on, off, on, ...: the two see the same clocks and the same GPU state). Each call is timed on
the host with perf_counter around the whole rir_embed (it returns when the vector is on the host: what a query
waits). Reported per L: mean, p50 and p99 ms of each, the speedup off/on of the means, and whether the graph's vector
has the same bits as the plain launch's (the same kernels on the same inputs: equal bits are expected; a graph that
differs is an error of the graph path). The vectors compared are those of the first call of each handle.

Prints one JSON line: {"lens", "iters", "warmup", "attention", "rows": [{"tokens", "off": {...}, "on": {...},
"speedup", "equal_bits", "max_abs_diff"}], "errors": [...]}; exit 0 when every length ran on both handles and the
vectors were equal, else 1. A handle that cannot open (e.g. an engine without graph support refusing "on") is an
error of its rows, never a crash.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from reasonir_bench import common, engine

MODES = ("off", "on")


def stats(ms: List[float]) -> Dict[str, Optional[float]]:
    return {"mean_ms": float(np.mean(ms)) if ms else None, "p50_ms": common.percentile(ms, 50),
            "p99_ms": common.percentile(ms, 99), "n": len(ms)}


def query(vocab: int, length: int, seed: int):
    """One sequence of `length` random ids (BOS first where the vocabulary has it), pooled from position 0."""
    rng = np.random.default_rng(seed + length)
    ids = [int(t) for t in rng.integers(0, vocab, size=length)]
    if vocab > 128000:
        ids[0] = 128000
    return (ids, 0)


def compare_bits(a: np.ndarray, b: np.ndarray) -> Dict[str, object]:
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    same_shape = a.shape == b.shape
    return {"equal_bits": bool(same_shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))),
            "max_abs_diff": float(np.max(np.abs(a - b))) if same_shape and a.size else None}


def measure(lib: str, model: str, lens: List[int], iters: int, warmup: int, attention: str = "default",
            seed: int = 3, deadline: Optional[common.Deadline] = None, device: str = "cuda") -> Dict[str, object]:
    deadline = deadline or common.Deadline()
    out: Dict[str, object] = {"lens": lens, "iters": iters, "warmup": warmup, "attention": attention, "rows": [],
                              "errors": []}
    engines: Dict[str, engine.Engine] = {}
    try:
        for mode in MODES:
            try:
                engines[mode] = engine.Engine(lib, model, device=device, attention=attention, cuda_graphs=mode)
            except Exception as exc:  # noqa: BLE001
                out["errors"].append(f"open with cuda_graphs={mode}: {type(exc).__name__}: {exc}")
        if engines:
            any_e = next(iter(engines.values()))
            out["engine"] = any_e.info()
            vocab = any_e.vocab
        for L in lens:
            row: Dict[str, object] = {"tokens": L}
            out["rows"].append(row)
            if len(engines) < len(MODES):
                row["error"] = "not measured: " + "; ".join(out["errors"])
                continue
            if deadline.expired(5):
                row["skipped"] = "time budget"
                continue
            q = [query(vocab, L, seed)]
            first: Dict[str, np.ndarray] = {}
            times: Dict[str, List[float]] = {m: [] for m in MODES}
            try:
                for m in MODES:
                    first[m] = engines[m].embed_batch(q)
                    for _ in range(max(0, warmup - 1)):
                        engines[m].embed_batch(q)
                for _ in range(iters):
                    for m in MODES:
                        t0 = time.perf_counter()
                        engines[m].embed_batch(q)
                        times[m].append((time.perf_counter() - t0) * 1e3)
            except Exception as exc:  # noqa: BLE001
                row["error"] = f"{type(exc).__name__}: {exc}"
                out["errors"].append(f"L={L}: {row['error']}")
                continue
            for m in MODES:
                row[m] = stats(times[m])
            row["speedup"] = common.ratio(row["off"]["mean_ms"], row["on"]["mean_ms"])
            row.update(compare_bits(first["off"], first["on"]))
            if not row["equal_bits"]:
                out["errors"].append(f"L={L}: the graph's vector differs from the plain launch's (max |diff| "
                                     f"{row['max_abs_diff']})")
    finally:
        for e in engines.values():
            e.close()
    return out


def ok(res: Dict[str, object]) -> bool:
    rows = res.get("rows") or []
    return bool(rows) and not res.get("errors") and all(r.get("equal_bits") for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="batch-1 latency with CUDA graphs off and on")
    ap.add_argument("--lib", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--lens", default="32,128")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--attention", default="default", choices=sorted(engine.ATTENTION))
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--device", default="cuda", help="rir_open device (the CPU backend ignores cuda_graphs: tests)")
    args = ap.parse_args(argv)
    lens = [int(x) for x in args.lens.split(",") if x]
    res = measure(args.lib, args.model, lens, max(1, args.iters), max(1, args.warmup), args.attention, args.seed,
                  device=args.device)
    print(json.dumps(common.sanitize(res)))
    return 0 if ok(res) else 1


if __name__ == "__main__":
    sys.exit(main())
