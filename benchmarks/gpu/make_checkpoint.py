#!/usr/bin/env python3
"""Random-weight ReasonIR-8B-shaped checkpoint, generated fast with torch on the GPU (the GPU check's benchmark and
full-width parity models; weights-tools/generate_checkpoint.py is the deterministic numpy generator for fixtures).

    python3 benchmarks/gpu/make_checkpoint.py --out DIR [--layers 32] [--shards 4] [--seed 0] [--std 0.02]
        [--device cuda] [--set key=value ...]

The real ReasonIR-8B config.json (generate_checkpoint.REASONIR_8B: hidden 4096, 32/8 heads, head_dim 128, MLP 14336,
the real 128256 vocabulary, llama3 RoPE) with num_hidden_layers = --layers (and any --set overrides), tensor names and
shard layout exactly as generate_checkpoint.py writes them (no `model.` prefix, like the ReasonIR-8B checkpoint;
model-0000i-of-0000K.safetensors + model.safetensors.index.json when K > 1), bf16. Values: every projection and the
embedding ~ N(0, std^2) (std 0.02, Llama's initializer_range), RMSNorm weights ~ N(1, 0.05^2), so activations stay
O(1) through the stack. Generated on the device (torch.Generator seeded with --seed), copied to host one shard at a
time and written with safetensors.torch.save_file.

A folder already holding a complete checkpoint made with the same arguments (marker .make_checkpoint.json) is reused.
Prints one JSON line: {"out", "layers", "bytes", "seconds", "gb_per_s", "reused", ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "weights-tools"))
import common  # noqa: E402
import generate_checkpoint as gen  # noqa: E402

MARKER = ".make_checkpoint.json"
NORM_STD = 0.05


def build_config(layers: int, overrides: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    cfg = gen.PRESETS["reasonir-8b"]()
    cfg["num_hidden_layers"] = int(layers)
    cfg.update(overrides or {})
    return gen.complete_config(cfg, "bf16")


def plan(cfg: Dict[str, object], shards: int) -> List[List[gen.TensorSpec]]:
    """Tensor specs per shard (bf16), in generate_checkpoint's order and balance."""
    return gen.plan_shards(gen.tensor_specs(cfg), 2, shards)


def params_record(cfg, shards: int, seed: int, std: float) -> Dict[str, object]:
    return {"config": cfg, "shards": shards, "seed": seed, "std": std, "norm_std": NORM_STD, "version": 1}


def is_complete(out: str, record: Dict[str, object]) -> bool:
    path = os.path.join(out, MARKER)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "r", encoding="utf-8") as f:
            if json.load(f) != json.loads(json.dumps(record)):
                return False
    except (OSError, ValueError):
        return False
    k = int(record["shards"])
    names = [gen.shard_file_name(i, k) for i in range(k)] + (["model.safetensors.index.json"] if k > 1 else [])
    return all(os.path.isfile(os.path.join(out, n)) for n in names + ["config.json"])


def generate(out: str, layers: int = 32, shards: int = 4, seed: int = 0, std: float = 0.02, device: str = "cuda",
             overrides: Optional[Dict[str, object]] = None, force: bool = False) -> Dict[str, object]:
    import torch
    from safetensors.torch import save_file

    cfg = build_config(layers, overrides)
    record = params_record(cfg, shards, seed, std)
    shard_specs = plan(cfg, shards)
    total = sum(s.numel * 2 for sh in shard_specs for s in sh)
    info: Dict[str, object] = {"out": out, "layers": layers, "shards": shards, "bytes": total, "device": device}
    if not force and is_complete(out, record):
        info.update({"reused": True, "seconds": 0.0})
        return info
    os.makedirs(out, exist_ok=True)
    marker = os.path.join(out, MARKER)
    if os.path.exists(marker):
        os.remove(marker)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    t0 = time.perf_counter()
    gen_t = 0.0
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    weight_map: Dict[str, str] = {}
    for i, shard in enumerate(shard_specs):
        fname = gen.shard_file_name(i, shards)
        t1 = time.perf_counter()
        host: Dict[str, "torch.Tensor"] = {}
        for spec in shard:
            t = torch.empty(spec.shape, dtype=torch.bfloat16, device=device)
            if spec.offset != 0.0:  # RMSNorm weights
                t.normal_(1.0, NORM_STD, generator=g)
            else:
                t.normal_(0.0, std, generator=g)
            host[spec.name] = t.to("cpu")
            del t
            weight_map[spec.name] = fname
        gen_t += time.perf_counter() - t1
        tmp = os.path.join(out, fname + ".partial")
        save_file(host, tmp, metadata={"format": "pt"})
        os.replace(tmp, os.path.join(out, fname))
        del host
    if shards > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        with open(os.path.join(out, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    else:
        stale = os.path.join(out, "model.safetensors.index.json")
        if os.path.exists(stale):
            os.remove(stale)
    secs = time.perf_counter() - t0
    with open(marker, "w", encoding="utf-8") as f:
        json.dump(record, f, sort_keys=True)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    info.update({"reused": False, "seconds": round(secs, 2), "generate_and_copy_s": round(gen_t, 2),
                 "gb_per_s": round(total / 1e9 / secs, 2) if secs > 0 else None})
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="random ReasonIR-8B-shaped checkpoint via torch (GPU)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.02)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--force", action="store_true", help="regenerate even if a matching checkpoint is there")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args(argv)
    if args.layers < 1 or args.shards < 1:
        ap.error("--layers and --shards must be >= 1")
    overrides = {}
    for kv in args.set:
        if "=" not in kv:
            ap.error(f"--set needs KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        overrides[k] = common.parse_value(v)
    try:
        info = generate(args.out, args.layers, args.shards, args.seed, args.std, args.device, overrides, args.force)
    except Exception as exc:  # noqa: BLE001 - one JSON line either way
        print(json.dumps({"out": args.out, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
