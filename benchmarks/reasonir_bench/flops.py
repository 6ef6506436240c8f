"""The model's FLOP count, once for all Python tools: tools measure tokens and seconds, this turns them into FLOP/s.

FLOPs per token of a Llama config at sequence length S (the spec's "Size of the work"; embedding gather, norms and
softmax not counted):

    2*layers*(hidden*q_dim + 2*hidden*kv_dim + q_dim*hidden + 3*hidden*inter) + 4*S*q_dim*layers

linear layers plus the non-causal QK^T and PV over the S keys. native/bench/model_cost.h is the C++ copy the native
tools (bench_embed, bench_cuda_ops) print their own GFLOP/s with; tests/test_flops.py holds the two equal.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Optional

# H100 SXM bf16 dense peak (TFLOP/s), the spec's "Size of the work" (also the H200 SXM's).
BF16_PEAK_TFLOPS = 989.0


def load_config(model_dir: str) -> Dict[str, Any]:
    """config.json of a checkpoint folder."""
    with open(os.path.join(model_dir, "config.json"), "r", encoding="utf-8") as f:
        return json.load(f)


def model_dims(cfg: Dict[str, Any]) -> Dict[str, int]:
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    kv = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    return {"hidden": hidden, "layers": int(cfg["num_hidden_layers"]), "inter": int(cfg["intermediate_size"]),
            "q_dim": heads * head_dim, "kv_dim": kv * head_dim}


def flops_per_token(cfg: Dict[str, Any], seq_len: int) -> float:
    """FLOPs of one token of a sequence of seq_len tokens (see the module's formula)."""
    d = model_dims(cfg)
    h, q, kv, layers = d["hidden"], d["q_dim"], d["kv_dim"], d["layers"]
    linear = 2.0 * layers * (h * q + 2 * h * kv + q * h + 3 * h * d["inter"])
    return linear + 4.0 * seq_len * q * layers


def flops_of_lengths(cfg: Dict[str, Any], lengths: Iterable[int]) -> float:
    """FLOPs of one call over sequences of these lengths (each attends over its own keys)."""
    return sum(n * flops_per_token(cfg, n) for n in lengths)


def tflops(tokens_per_s: Optional[float], cfg: Dict[str, Any], seq_len: int) -> Optional[float]:
    """TFLOP/s of a throughput at sequence length seq_len; None for None."""
    if tokens_per_s is None:
        return None
    return tokens_per_s * flops_per_token(cfg, seq_len) / 1e12


def gflops(tokens_per_s: Optional[float], cfg: Dict[str, Any], seq_len: int) -> Optional[float]:
    """GFLOP/s of a throughput at sequence length seq_len; None for None."""
    if tokens_per_s is None:
        return None
    return tokens_per_s * flops_per_token(cfg, seq_len) / 1e9
