#!/usr/bin/env python3
"""The CPU peer of the benchmark suite: the ReasonIR forward pass in PyTorch fp32, written the way Hugging Face
transformers' eager `LlamaModel` runs it, so that "ours vs peer" compares the engine with what a user gets from
PyTorch on the same machine (transformers itself is not packaged for Debian; this is its math, op for op).

    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.peer_torch --model DIR --seq-len S --batch-tokens B
        [--iters N] [--warmup W] [--threads T] [--json]         # throughput: floor(B/S) sequences of S tokens
    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.peer_torch --model DIR --lengths L1,L2,... [--iters N]
        [--json]
                                                                # one padded batch of sequences of these lengths
    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.peer_torch --model DIR --latency N [--calls C] [--json]
                                                                # batch 1: one sequence of N tokens, C calls
    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.peer_torch --model DIR --verify LIBREASONIR_SO [--json]
                                                                # same ids through both: pooled vectors must agree

What it computes, per padded batch [n, Lmax] (right padding, attention mask 1 for real tokens):
  h = embed_tokens[ids] (bf16 rows widened to fp32)
  per layer (LlamaDecoderLayer): x = RMSNorm(h) (fp32 variance, x * rsqrt(var + eps), times the weight);
    q, k, v = x Wq^T, x Wk^T, x Wv^T -> [n, heads, L, head_dim]; RoPE (rotate-half, llama3 inv_freq, positions 0..L-1);
    k, v repeated to the query heads (repeat_kv); scores = q k^T / sqrt(head_dim) + mask (0 where the KEY is a real
    token, finfo.min where it is padding: bidirectional, no causal part); softmax in fp32; P v; o_proj; residual;
    RMSNorm; down(silu(gate(x)) * up(x)); residual
  final RMSNorm, masked mean over positions [pool_start, length), L2 normalisation.
Weights are the checkpoint's bf16 values widened once to fp32 (the fp32 model a CPU user loads). Threads: torch's
intra-op pool, `--threads` (default: all cores), the same count the engine gets. Timing covers the forward and the
pooling of a prebuilt padded batch (tokenization is outside, as in the engine's benchmark).

Output: human-readable lines, and with --json one JSON object as the last line (tokens_per_s counts real tokens;
padding costs time but is not counted, as for a user).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from reasonir_bench import flops, use_weights_tools

use_weights_tools()
import reference  # noqa: E402  (Config and the RoPE frequencies: setup only, never timed)
import safetensors_io as st  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - the suite installs python3-torch first
    torch = None
    F = None


class TorchLlama:
    """The fp32 eager Llama encoder with bidirectional attention and masked mean pooling."""

    def __init__(self, model_dir: str):
        if torch is None:
            raise RuntimeError("PyTorch is not importable by this interpreter (Debian: apt-get install python3-torch)")
        self.cfg = reference.Config.load(model_dir)
        self.config = flops.load_config(model_dir)  # config.json as a dict, for the FLOP count
        ck = st.Checkpoint(model_dir)

        def w(name: str) -> "torch.Tensor":
            return torch.from_numpy(np.ascontiguousarray(ck.get_f32(name)))

        c = self.cfg
        self.embed = w("embed_tokens.weight")
        self.layers = []
        for i in range(c.layers):
            p = f"layers.{i}."
            self.layers.append({k: w(p + n) for k, n in (
                ("ln1", "input_layernorm.weight"), ("q", "self_attn.q_proj.weight"), ("k", "self_attn.k_proj.weight"),
                ("v", "self_attn.v_proj.weight"), ("o", "self_attn.o_proj.weight"),
                ("ln2", "post_attention_layernorm.weight"), ("gate", "mlp.gate_proj.weight"),
                ("up", "mlp.up_proj.weight"), ("down", "mlp.down_proj.weight"))})
        self.norm = w("norm.weight")
        self.inv_freq = torch.from_numpy(reference.rope_inv_freq(c))
        self.n_bytes = sum(os.path.getsize(f.path) for f in ck.files.values())

    def _rms(self, x, weight):
        var = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(var + self.cfg.eps))

    @staticmethod
    def _rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, ids, mask, pool_start) -> "torch.Tensor":
        """ids, mask: int64 [n, L] (mask 1 = real token); pool_start: int64 [n]. Returns unit vectors [n, hidden]."""
        with torch.no_grad():  # inference, as a user runs it: no autograd graph
            return self._forward(ids, mask, pool_start)

    def _forward(self, ids, mask, pool_start) -> "torch.Tensor":
        c = self.cfg
        n, L = ids.shape
        h = F.embedding(ids, self.embed)
        pos = torch.arange(L, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        # additive 4-D mask [n, 1, L, L]: a query may attend to every real key of its own sequence
        add = torch.zeros((n, 1, 1, L), dtype=torch.float32)
        add.masked_fill_(mask[:, None, None, :] == 0, torch.finfo(torch.float32).min)
        add = add.expand(n, 1, L, L)
        group = c.heads // c.kv_heads
        scale = 1.0 / math.sqrt(c.head_dim)
        for lw in self.layers:
            x = self._rms(h, lw["ln1"])
            q = F.linear(x, lw["q"]).view(n, L, c.heads, c.head_dim).transpose(1, 2)
            k = F.linear(x, lw["k"]).view(n, L, c.kv_heads, c.head_dim).transpose(1, 2)
            v = F.linear(x, lw["v"]).view(n, L, c.kv_heads, c.head_dim).transpose(1, 2)
            q = q * cos + self._rotate_half(q) * sin
            k = k * cos + self._rotate_half(k) * sin
            if group > 1:  # transformers' repeat_kv
                k = k[:, :, None].expand(n, c.kv_heads, group, L, c.head_dim).reshape(n, c.heads, L, c.head_dim)
                v = v[:, :, None].expand(n, c.kv_heads, group, L, c.head_dim).reshape(n, c.heads, L, c.head_dim)
            scores = torch.matmul(q, k.transpose(2, 3)) * scale + add
            probs = F.softmax(scores, dim=-1, dtype=torch.float32)
            attn = torch.matmul(probs, v).transpose(1, 2).reshape(n, L, c.heads * c.head_dim)
            h = h + F.linear(attn, lw["o"])
            x = self._rms(h, lw["ln2"])
            h = h + F.linear(F.silu(F.linear(x, lw["gate"])) * F.linear(x, lw["up"]), lw["down"])
        h = self._rms(h, self.norm)
        # masked mean over [pool_start, length): the instruction tokens and the padding are left out
        positions = torch.arange(L)[None, :]
        keep = (mask != 0) & (positions >= pool_start[:, None])
        keepf = keep.to(torch.float32)[..., None]
        pooled = (h * keepf).sum(1) / keepf.sum(1)
        return F.normalize(pooled, p=2, dim=-1)


def padded(seqs: Sequence[Tuple[Sequence[int], int]]):
    """Right-padded int64 ids and mask [n, Lmax] plus pool_start [n], as a tokenizer with padding=True builds them."""
    L = max(len(s) for s, _ in seqs)
    ids = torch.zeros((len(seqs), L), dtype=torch.int64)
    mask = torch.zeros((len(seqs), L), dtype=torch.int64)
    for i, (s, _) in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(list(s), dtype=torch.int64)
        mask[i, :len(s)] = 1
    return ids, mask, torch.tensor([p for _, p in seqs], dtype=torch.int64)


def random_seqs(n: int, length: int, vocab: int, seed: int) -> List[Tuple[List[int], int]]:
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, vocab, size=length).tolist(), 0) for _ in range(n)]


def percentile(values: Sequence[float], p: float) -> float:
    xs = sorted(values)
    k = min(len(xs) - 1, max(0, int(math.ceil(p / 100.0 * len(xs))) - 1))  # nearest rank
    return xs[k]


def time_calls(model: TorchLlama, batch, iters: int, warmup: int) -> List[float]:
    for _ in range(warmup):
        model.forward(*batch)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        model.forward(*batch)
        times.append(time.perf_counter() - t0)
    return times


def run_throughput(model: TorchLlama, seq_len: int, batch_tokens: int, iters: int, warmup: int) -> Dict[str, object]:
    n = max(1, batch_tokens // seq_len)
    batch = padded(random_seqs(n, seq_len, model.cfg.vocab, seed=seq_len))
    times = time_calls(model, batch, iters, warmup)
    mean_s = sum(times) / len(times)
    tps = n * seq_len / mean_s
    return {"seq_len": seq_len, "batch_tokens": batch_tokens, "n_seqs": n, "iters": iters,
            "tokens_per_s": tps, "gflops": flops.gflops(tps, model.config, seq_len),
            "mean_ms": mean_s * 1e3, "p50_ms": percentile(times, 50) * 1e3, "p99_ms": percentile(times, 99) * 1e3}


def run_mixed(model: TorchLlama, lengths: Sequence[int], iters: int, warmup: int) -> Dict[str, object]:
    """One batch of sequences of different lengths, padded to the longest, as a user's batch of documents is: the
    padding costs time, only real tokens count."""
    rng = np.random.default_rng(len(lengths))
    seqs = [(rng.integers(0, model.cfg.vocab, size=n).tolist(), 0) for n in lengths]
    times = time_calls(model, padded(seqs), iters, warmup)
    mean_s = sum(times) / len(times)
    tokens = sum(lengths)
    work = flops.flops_of_lengths(model.config, lengths)
    return {"seq_len": max(lengths), "batch_tokens": tokens, "n_seqs": len(lengths), "iters": iters,
            "padded_tokens": len(lengths) * max(lengths), "tokens_per_s": tokens / mean_s,
            "gflops": work / mean_s / 1e9, "mean_ms": mean_s * 1e3, "p50_ms": percentile(times, 50) * 1e3,
            "p99_ms": percentile(times, 99) * 1e3}


def run_latency(model: TorchLlama, tokens: int, calls: int, warmup: int) -> Dict[str, object]:
    batch = padded(random_seqs(1, tokens, model.cfg.vocab, seed=tokens))
    times = time_calls(model, batch, calls, warmup)
    return {"tokens": tokens, "n": calls, "mean_ms": sum(times) / len(times) * 1e3,
            "p50_ms": percentile(times, 50) * 1e3, "p99_ms": percentile(times, 99) * 1e3}


def run_verify(model: TorchLlama, model_dir: str, lib: str, threads: int) -> Dict[str, object]:
    """Embeds mixed-length sequences (padding and a pooled-out prefix included) with this peer and with the engine
    through its C API; the two are independent implementations of one function, so they must agree closely."""
    from reasonir_bench import engine  # ctypes binding of the C API
    rng = np.random.default_rng(7)
    seqs = [(rng.integers(0, model.cfg.vocab, size=n).tolist(), p) for n, p in ((5, 0), (37, 3), (64, 10), (17, 16))]
    ours = model.forward(*padded(seqs)).numpy()
    with engine.Engine(lib, model_dir, device="cpu", precision="fp32", num_threads=threads) as e:
        ref = e.embed(seqs, normalize=True)
    cos = engine.cosine_rows(ours, ref)
    return {"min_cosine": float(cos.min()), "max_abs_diff": float(np.abs(ours - ref).max()), "n": len(seqs)}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint folder (config.json + safetensors)")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--seq-len", type=int, help="throughput: tokens per sequence")
    mode.add_argument("--latency", type=int, metavar="N", help="batch-1 latency of one sequence of N tokens")
    mode.add_argument("--lengths", help="one padded batch of sequences of these comma-separated lengths")
    mode.add_argument("--verify", metavar="LIB", help="compare with the engine (path of libreasonir.so)")
    ap.add_argument("--batch-tokens", type=int, default=8192, help="throughput: tokens per call (default 8192)")
    ap.add_argument("--iters", type=int, default=3, help="timed calls (throughput, default 3)")
    ap.add_argument("--calls", type=int, default=50, help="timed calls (latency, default 50)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (default: all cores)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    a = ap.parse_args(argv)
    for name in ("seq_len", "latency"):
        v = getattr(a, name)
        if v is not None and v <= 0:
            ap.error(f"--{name.replace('_', '-')} must be > 0")
    if a.batch_tokens <= 0 or a.iters <= 0 or a.calls <= 0 or a.warmup < 0 or a.threads < 0:
        ap.error("--batch-tokens, --iters and --calls must be > 0; --warmup and --threads >= 0")
    lengths = None
    if a.lengths is not None:
        try:
            lengths = [int(x) for x in a.lengths.split(",")]
        except ValueError:
            ap.error("--lengths must be comma-separated integers")
        if not lengths or min(lengths) <= 0:
            ap.error("--lengths must be positive")
    threads = a.threads or os.cpu_count() or 1
    if torch is None:
        print("error: PyTorch is not importable by this interpreter (Debian: apt-get install python3-torch)",
              file=sys.stderr)
        return 1
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = TorchLlama(a.model)
    load_s = time.perf_counter() - t0
    if a.seq_len is not None:
        res = run_throughput(model, a.seq_len, a.batch_tokens, a.iters, a.warmup)
        print(f"peer  S={a.seq_len} batch={res['n_seqs']}x{a.seq_len}: {res['tokens_per_s']:.1f} tokens/s, "
              f"{res['gflops']:.1f} GFLOP/s, mean {res['mean_ms']:.1f} ms")
    elif lengths is not None:
        res = run_mixed(model, lengths, a.iters, a.warmup)
        print(f"peer  {len(lengths)} sequences of up to {max(lengths)} tokens, padded: {res['tokens_per_s']:.1f} "
              f"tokens/s, {res['gflops']:.1f} GFLOP/s, mean {res['mean_ms']:.1f} ms")
    elif a.latency is not None:
        res = run_latency(model, a.latency, a.calls, a.warmup)
        print(f"peer  batch 1 x {a.latency} tokens: mean {res['mean_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms")
    else:
        res = run_verify(model, a.model, a.verify, threads)
        print(f"peer vs engine: min cosine {res['min_cosine']:.7f}, max |diff| {res['max_abs_diff']:.2e}")
    res.update({"threads": threads, "torch": torch.__version__, "load_s": load_s,
                "peer": f"PyTorch {torch.__version__} fp32 eager Llama forward, {threads} threads"})
    if a.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
