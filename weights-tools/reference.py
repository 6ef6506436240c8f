#!/usr/bin/env python3
"""Independent numpy reference of the ReasonIR forward pass (spec: shared/spec/reasonir.md), written from the spec
and Hugging Face transformers' Llama math (modeling_llama.py / modeling_rope_utils.py), not from this repo's C++.

    embed_packed(checkpoint_dir, [(ids, pool_start), ...], mode="fp32"|"bf16", normalize=True) -> float32 [n, hidden]

    python3 weights-tools/reference.py --model DIR --input in.jsonl --output out.npy [--mode fp32|bf16]
        [--no-normalize]        # in.jsonl: one {"ids": [...], "pool_start": k} per line

Each sequence is its own bidirectional attention block (every token sees every token of its sequence, nothing else),
positions 0..L-1, GQA (query head h reads kv head h // (heads / kv_heads)), RoPE rotate-half with llama3 scaling or
plain inv_freq, final RMSNorm, masked mean over positions [pool_start, L), optional L2 normalisation.

Numeric modes (identical to the C++ CPU backend's definition). r(x) = round to nearest bf16, ties to even.
  fp32: weights widened exactly from the checkpoint; every operation in float32; no r() anywhere.
  bf16: mimics transformers running the model in bf16 with SDPA/flash attention; r() applied exactly at:
        embedding rows (already bf16); RMSNorm out = r(r(x * rsqrt(mean(x^2) + eps)) * w); q, k, v = r(X W^T);
        RoPE c = r(cos), s = r(sin), q' = r(r(q * c) + r(rot_half(q) * s)); attention scores, softmax and P.V in
        float32, attn = r(P V); o = r(attn Wo^T); h = r(h + o); g = r(x2 Wg^T), u = r(x2 Wu^T), a = r(silu(g)),
        m = r(a * u), d = r(m Wd^T), h = r(h + d); final RMSNorm as above; pooling and normalisation in float32.
Matrix products accumulate in float32 (numpy's BLAS sgemm; summation order differs from any GPU kernel, which is the
irreducible difference between implementations). Two choices that make the reference well defined and accurate:
cos/sin of the float32 angle are evaluated in float64 and rounded once to float32 (torch's float32 cos is within an ulp
of this), and the pooled mean is summed in float64 before the division and the cast to float32.

Weights are read layer by layer (layer-major loop over all sequences), so even the 8B checkpoint needs only one
layer's float32 weights (~0.9 GB) in memory at a time; it is slow there (CPU BLAS), meant for small checkpoints.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402

r = st.round_to_bf16
F32 = np.float32


# -------------------------------------------------------------------------------------------------------------------
# Config and RoPE
# -------------------------------------------------------------------------------------------------------------------
class Config:
    """The config.json fields the forward needs (spec "Config and checkpoint")."""

    def __init__(self, raw: Dict[str, object]):
        self.raw = raw
        self.hidden = int(raw["hidden_size"])
        self.intermediate = int(raw["intermediate_size"])
        self.layers = int(raw["num_hidden_layers"])
        self.heads = int(raw["num_attention_heads"])
        self.kv_heads = int(raw.get("num_key_value_heads") or self.heads)
        self.head_dim = int(raw.get("head_dim") or self.hidden // self.heads)
        self.vocab = int(raw["vocab_size"])
        self.max_position = int(raw.get("max_position_embeddings", 2048))  # transformers' LlamaConfig default
        self.eps = float(raw.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(raw.get("rope_theta", 10000.0))
        self.rope_scaling = raw.get("rope_scaling")
        if self.heads % self.kv_heads != 0:
            raise ValueError(f"num_attention_heads {self.heads} not a multiple of num_key_value_heads {self.kv_heads}")
        if self.rope_scaling is not None:
            kind = self.rope_scaling.get("rope_type", self.rope_scaling.get("type"))
            if kind != "llama3":
                raise ValueError(f"rope_scaling type {kind!r} not supported (only llama3 or null)")

    @staticmethod
    def load(directory: str) -> "Config":
        with open(os.path.join(directory, "config.json"), "r", encoding="utf-8") as f:
            return Config(json.load(f))


def default_inv_freq(theta: float, head_dim: int) -> np.ndarray:
    """inv_freq[i] = 1 / theta^(2i/head_dim), as transformers' _compute_default_rope_parameters: the exponent
    arange(0, d, 2).float() / d and the power in float32, then the float32 reciprocal."""
    exponent = np.arange(0, head_dim, 2, dtype=np.int64).astype(F32) / F32(head_dim)
    return (F32(1.0) / np.power(F32(theta), exponent)).astype(F32)


def llama3_inv_freq(inv_freq: np.ndarray, scaling: Dict[str, object]) -> np.ndarray:
    """transformers' _compute_llama3_parameters, op for op in float32 (python scalars promote to float32; `c / t`
    on a tensor is reciprocal(t) * c in torch):
        wavelen = 2*pi / inv;  low_wl = old_ctx / low_ff;  high_wl = old_ctx / high_ff
        inv_l = inv / factor where wavelen > low_wl, else inv                       (low-frequency band)
        smooth = (old_ctx / wavelen - low_ff) / (high_ff - low_ff)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium band (high_wl <= wavelen <= low_wl): smoothed; high band (wavelen < high_wl): inv unchanged."""
    factor = F32(scaling["factor"])
    low_ff = float(scaling["low_freq_factor"])
    high_ff = float(scaling["high_freq_factor"])
    old_ctx = float(scaling["original_max_position_embeddings"])
    low_wl = old_ctx / low_ff   # python floats, compared against float32 tensors as torch does (promoted to f32)
    high_wl = old_ctx / high_ff
    inv = inv_freq.astype(F32)
    wavelen = (F32(1.0) / inv) * F32(2 * math.pi)
    inv_l = np.where(wavelen > F32(low_wl), inv / factor, inv).astype(F32)
    smooth = ((F32(1.0) / wavelen) * F32(old_ctx) - F32(low_ff)) / F32(high_ff - low_ff)
    smoothed = (F32(1.0) - smooth) * inv_l / factor + smooth * inv_l
    medium = ~(wavelen < F32(high_wl)) & ~(wavelen > F32(low_wl))
    return np.where(medium, smoothed, inv_l).astype(F32)


def rope_inv_freq(cfg: Config) -> np.ndarray:
    inv = default_inv_freq(cfg.rope_theta, cfg.head_dim)
    return llama3_inv_freq(inv, cfg.rope_scaling) if cfg.rope_scaling is not None else inv


def rope_cos_sin(inv_freq: np.ndarray, length: int) -> Tuple[np.ndarray, np.ndarray]:
    """cos, sin [length, head_dim/2] float32 of the float32 angles pos * inv_freq (see the module docstring)."""
    angles = np.arange(length, dtype=F32)[:, None] * inv_freq[None, :]  # one float32 product, like torch's matmul
    a64 = angles.astype(np.float64)
    return np.cos(a64).astype(F32), np.sin(a64).astype(F32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, bf16: bool) -> np.ndarray:
    """x [L, n_heads, d]; rotate-half layout: x'[i] = x[i] c_i - x[i+d/2] s_i, x'[i+d/2] = x[i+d/2] c_i + x[i] s_i."""
    half = x.shape[-1] // 2
    c = np.concatenate([cos, cos], axis=-1)[:, None, :]
    s = np.concatenate([sin, sin], axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    if bf16:
        c, s = r(c), r(s)  # torch's cos.to(x.dtype), sin.to(x.dtype)
        return r(r(x * c) + r(rot * s))
    return x * c + rot * s


# -------------------------------------------------------------------------------------------------------------------
# Layers
# -------------------------------------------------------------------------------------------------------------------
def rms_norm(x: np.ndarray, w: np.ndarray, eps: float, bf16: bool) -> np.ndarray:
    var = np.mean(x * x, axis=-1, keepdims=True, dtype=F32)
    y = x * (F32(1.0) / np.sqrt(var + F32(eps)))
    return r(r(y) * w) if bf16 else y * w


def linear(x: np.ndarray, w: np.ndarray, bf16: bool) -> np.ndarray:
    """x [L, in] @ w[out, in]^T, float32 accumulation; rounded to bf16 in bf16 mode."""
    y = x @ w.T
    return r(y) if bf16 else y


def silu(x: np.ndarray) -> np.ndarray:
    return x / (F32(1.0) + np.exp(-x))


def attention_core(q: np.ndarray, k: np.ndarray, v: np.ndarray, bf16: bool,
                   return_probs: bool = False):
    """q [L, H, d], k/v [L, KV, d] -> [L, H*d]. Bidirectional: no mask inside the sequence. Scores, softmax and
    P.V in float32; output rounded in bf16 mode. With return_probs, also the probabilities [H, L, L]."""
    length, heads, d = q.shape
    group = heads // k.shape[1]
    scale = F32(1.0 / math.sqrt(d))
    out = np.empty((length, heads, d), dtype=F32)
    probs = np.empty((heads, length, length), dtype=F32) if return_probs else None
    for h in range(heads):
        kv = h // group
        scores = (q[:, h, :] @ k[:, kv, :].T) * scale
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True, dtype=F32)
        out[:, h, :] = p @ v[:, kv, :]
        if return_probs:
            probs[h] = p
    out = out.reshape(length, heads * d)
    if bf16:
        out = r(out)
    return (out, probs) if return_probs else out


class Model:
    """A checkpoint folder opened for the reference: config plus lazily widened weights."""

    def __init__(self, directory: str):
        self.directory = directory
        self.cfg = Config.load(directory)
        self.ckpt = st.Checkpoint(directory)
        self.inv_freq = rope_inv_freq(self.cfg)

    def tensor(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        got = self.ckpt.info(name).shape
        if tuple(got) != tuple(shape):
            raise ValueError(f"{self.directory}: tensor {name!r} has shape {list(got)}, config needs {list(shape)}")
        w = self.ckpt.get_f32(name)
        # The model runs on bf16 weights: transformers loads a bf16 model's F32/F16 tensors cast to bf16, and the
        # engine converts them on load (round to nearest even). Mirror that in both modes.
        return w if self.ckpt.dtype(name) == "BF16" else st.round_to_bf16(w)

    def layer(self, i: int) -> Dict[str, np.ndarray]:
        c = self.cfg
        p = f"layers.{i}."
        q_out, kv_out = c.heads * c.head_dim, c.kv_heads * c.head_dim
        return {
            "attn_norm": self.tensor(p + "input_layernorm.weight", (c.hidden,)),
            "wq": self.tensor(p + "self_attn.q_proj.weight", (q_out, c.hidden)),
            "wk": self.tensor(p + "self_attn.k_proj.weight", (kv_out, c.hidden)),
            "wv": self.tensor(p + "self_attn.v_proj.weight", (kv_out, c.hidden)),
            "wo": self.tensor(p + "self_attn.o_proj.weight", (c.hidden, q_out)),
            "mlp_norm": self.tensor(p + "post_attention_layernorm.weight", (c.hidden,)),
            "w_gate": self.tensor(p + "mlp.gate_proj.weight", (c.intermediate, c.hidden)),
            "w_up": self.tensor(p + "mlp.up_proj.weight", (c.intermediate, c.hidden)),
            "w_down": self.tensor(p + "mlp.down_proj.weight", (c.hidden, c.intermediate)),
        }

    def embed(self, ids: np.ndarray) -> np.ndarray:
        c = self.cfg
        name = "embed_tokens.weight"
        got = self.ckpt.info(name).shape
        if tuple(got) != (c.vocab, c.hidden):
            raise ValueError(f"{self.directory}: tensor {name!r} has shape {list(got)}, "
                             f"config needs {[c.vocab, c.hidden]}")
        rows = st.to_float32(self.ckpt.get(name)[ids], self.ckpt.dtype(name))
        return rows if self.ckpt.dtype(name) == "BF16" else st.round_to_bf16(rows)  # see tensor()

    def final_norm(self) -> np.ndarray:
        return self.tensor("norm.weight", (self.cfg.hidden,))


def layer_forward(h: np.ndarray, w: Dict[str, np.ndarray], cfg: Config, cos: np.ndarray, sin: np.ndarray,
                  bf16: bool) -> np.ndarray:
    """One pre-norm decoder layer on one sequence h [L, hidden] (spec "The Llama math")."""
    length = h.shape[0]
    x = rms_norm(h, w["attn_norm"], cfg.eps, bf16)
    q = linear(x, w["wq"], bf16).reshape(length, cfg.heads, cfg.head_dim)
    k = linear(x, w["wk"], bf16).reshape(length, cfg.kv_heads, cfg.head_dim)
    v = linear(x, w["wv"], bf16).reshape(length, cfg.kv_heads, cfg.head_dim)
    q = apply_rope(q, cos, sin, bf16)
    k = apply_rope(k, cos, sin, bf16)
    attn = attention_core(q, k, v, bf16)
    o = linear(attn, w["wo"], bf16)
    h = r(h + o) if bf16 else h + o
    x2 = rms_norm(h, w["mlp_norm"], cfg.eps, bf16)
    g = linear(x2, w["w_gate"], bf16)
    u = linear(x2, w["w_up"], bf16)
    if bf16:
        m = r(r(silu(g)) * u)
    else:
        m = silu(g) * u
    d = linear(m, w["w_down"], bf16)
    return r(h + d) if bf16 else h + d


def _check_mode(mode: str) -> bool:
    if mode not in ("fp32", "bf16"):
        raise ValueError(f"mode must be 'fp32' or 'bf16', got {mode!r}")
    return mode == "bf16"


def forward_hidden(model: Model, id_lists: Sequence[Sequence[int]], mode: str = "fp32") -> List[np.ndarray]:
    """Final RMSNorm output [L_i, hidden] float32 for each sequence (each attends only within itself)."""
    bf16 = _check_mode(mode)
    cfg = model.cfg
    ids_arr = []
    for i, ids in enumerate(id_lists):
        a = np.asarray(ids, dtype=np.int64)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"sequence {i}: ids must be a non-empty 1-D list")
        if a.size > cfg.max_position:
            raise ValueError(f"sequence {i}: length {a.size} exceeds max_position_embeddings {cfg.max_position}")
        bad = np.nonzero((a < 0) | (a >= cfg.vocab))[0]
        if bad.size:
            raise ValueError(f"sequence {i}: token {bad[0]} is id {a[bad[0]]}, outside [0, {cfg.vocab})")
        ids_arr.append(a)
    states = [model.embed(a) for a in ids_arr]
    max_len = max(a.size for a in ids_arr)
    cos, sin = rope_cos_sin(model.inv_freq, max_len)
    for li in range(cfg.layers):
        w = model.layer(li)
        states = [layer_forward(h, w, cfg, cos[:h.shape[0]], sin[:h.shape[0]], bf16) for h in states]
    wn = model.final_norm()
    return [rms_norm(h, wn, cfg.eps, bf16) for h in states]


def pool(final: np.ndarray, pool_start: int, normalize: bool) -> np.ndarray:
    """Mean over positions [pool_start, L) (summed in float64), then optionally e / max(||e||2, 1e-12)."""
    pooled = (final[pool_start:].astype(np.float64).sum(axis=0) / (final.shape[0] - pool_start)).astype(F32)
    if normalize:
        norm = F32(np.sqrt(np.sum(pooled.astype(np.float64) ** 2)))
        pooled = pooled / max(norm, F32(1e-12))  # spec: e / max(||e||2, 1e-12)
    return pooled.astype(F32)


def embed_packed(checkpoint_dir, sequences: Sequence[Tuple[Sequence[int], int]], mode: str = "fp32",
                 normalize: bool = True) -> np.ndarray:
    """Embeddings float32 [n, hidden] of sequences [(ids, pool_start), ...]. `checkpoint_dir` may also be a Model."""
    model = checkpoint_dir if isinstance(checkpoint_dir, Model) else Model(checkpoint_dir)
    for i, (ids, ps) in enumerate(sequences):
        if not 0 <= int(ps) < len(ids):
            raise ValueError(f"sequence {i}: pool_start {ps} outside [0, {len(ids)}) (nothing to pool)")
    finals = forward_hidden(model, [ids for ids, _ in sequences], mode)
    out = np.stack([pool(f, int(ps), normalize) for f, (_, ps) in zip(finals, sequences)]) if finals else \
        np.zeros((0, model.cfg.hidden), dtype=F32)
    return out.astype(F32)


def read_jsonl(path: str) -> List[Tuple[List[int], int]]:
    seqs = []
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                seqs.append(([int(t) for t in obj["ids"]], int(obj.get("pool_start", 0))))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: expected {{\"ids\": [...], \"pool_start\": k}}: {exc}") from None
    return seqs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="numpy reference ReasonIR embedder")
    ap.add_argument("--model", required=True, help="checkpoint folder (config.json + safetensors)")
    ap.add_argument("--input", required=True, help='JSON lines {"ids": [...], "pool_start": k}')
    ap.add_argument("--output", required=True, help="output .npy, float32 [n, hidden]")
    ap.add_argument("--mode", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--no-normalize", action="store_true", help="write the pooled mean before L2 normalisation")
    args = ap.parse_args(argv)
    seqs = read_jsonl(args.input)
    t0 = time.time()
    emb = embed_packed(args.model, seqs, mode=args.mode, normalize=not args.no_normalize)
    np.save(args.output, emb)
    tokens = sum(len(ids) for ids, _ in seqs)
    print(f"{len(seqs)} sequences, {tokens} tokens, mode {args.mode}: {time.time() - t0:.2f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
