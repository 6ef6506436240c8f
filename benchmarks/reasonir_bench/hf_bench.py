#!/usr/bin/env python3
"""Hugging Face transformers throughput / latency on a checkpoint, the way users run ReasonIR with it: LlamaModel in
bf16 with SDPA, padded batches with a bidirectional 4-D mask (hf_common.py). Run by gpu_bench.py in its own process,
so the GPU is free for our engine before and after.

    PYTHONPATH=benchmarks python3 -m reasonir_bench.hf_bench --model DIR [--seq-lens 128,512,2048,8192]
        [--batch-tokens 16384]
        [--iters 5] [--warmup 1] [--latency-len 32] [--latency-iters 50] [--gemm-ceiling] [--json-out FILE]

Per S: batches of max(1, B // S) sequences of S random ids; tokens/s over --iters timed calls after --warmup.
Latency: one sequence of --latency-len tokens per call, each call synchronized; mean, p50, p99 in ms.
--gemm-ceiling also times torch.matmul on 8192^3 bf16 (TFLOP/s), the fallback GEMM ceiling.
Prints (and writes) one JSON object; a failing part is recorded under "errors" and the rest still runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Dict, List

from reasonir_bench import common, hf_common


def gemm_ceiling(n: int = 8192, iters: int = 20) -> Dict[str, object]:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    del a, b
    torch.cuda.empty_cache()
    return {"gemm_tflops": 2.0 * n ** 3 * iters / dt / 1e12, "n": n, "source": "torch.matmul bf16"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="HF transformers bf16/SDPA throughput and latency")
    ap.add_argument("--model", required=True)
    common.add_workload_args(ap)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--gemm-ceiling", action="store_true")
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)

    deadline = common.Deadline()
    res: Dict[str, object] = {"errors": [], "throughput": [], "attn": args.attn}
    model = None
    try:
        import torch
        res["gpu"] = torch.cuda.get_device_name(0)
        model, info = hf_common.load_llama(args.model, args.device, "bf16", args.attn)
        res["load"] = info
        res["load_s"] = info.get("load_s")
        vocab = int(model.config.vocab_size)
        gen = torch.Generator(device="cpu").manual_seed(0)

        def run(ids_list):
            hf_common.forward_padded(model, ids_list, args.device)

        for S in [int(s) for s in args.seq_lens.split(",") if s]:
            row: Dict[str, object] = {"seq_len": S}
            if deadline.expired(15):
                row["skipped"] = "time budget"
                res["throughput"].append(row)
                continue
            n = max(1, args.batch_tokens // S)
            ids = torch.randint(0, vocab, (n, S), generator=gen).tolist()
            try:
                torch.cuda.reset_peak_memory_stats()
                for _ in range(args.warmup):
                    run(ids)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                done = 0
                for _ in range(args.iters):
                    run(ids)
                    done += 1
                    if deadline.expired(10):
                        break
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                row.update({"batch": n, "tokens_per_call": n * S, "iters": done, "ms_per_call": dt / done * 1e3,
                            "tokens_per_s": n * S * done / dt,
                            "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9})
            except Exception as exc:  # noqa: BLE001 - OOM at long S is a result, not a crash
                row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                torch.cuda.empty_cache()
            res["throughput"].append(row)
            print(f"hf_bench: S={S}: {row}", file=sys.stderr, flush=True)

        if not deadline.expired(10):
            try:
                ids = [torch.randint(0, vocab, (args.latency_len,), generator=gen).tolist()]
                for _ in range(5):
                    run(ids)
                torch.cuda.synchronize()
                times: List[float] = []
                for _ in range(args.latency_iters):
                    t0 = time.perf_counter()
                    run(ids)
                    torch.cuda.synchronize()
                    times.append((time.perf_counter() - t0) * 1e3)
                res["latency"] = {"tokens": args.latency_len, "calls": len(times), "mean_ms": common.mean(times),
                                  "p50_ms": common.percentile(times, 50), "p99_ms": common.percentile(times, 99)}
            except Exception as exc:  # noqa: BLE001
                res["errors"].append(f"latency: {type(exc).__name__}: {exc}")
        else:
            res["latency"] = {"skipped": "time budget"}
    except Exception as exc:  # noqa: BLE001
        res["errors"].append(f"{type(exc).__name__}: {exc}\n{common.tail_text(traceback.format_exc(), 1500)}")
    finally:
        del model
        hf_common.free_cuda()  # torch imported inside, guarded: never raises for a missing torch
    if args.gemm_ceiling:
        try:
            res["gemm_ceiling"] = gemm_ceiling()
        except Exception as exc:  # noqa: BLE001
            res["errors"].append(f"gemm ceiling: {type(exc).__name__}: {exc}")
    text = json.dumps(common.sanitize(res))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    return 0 if not res["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
