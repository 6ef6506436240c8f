#!/usr/bin/env python3
"""Random-weight Llama checkpoints in the Hugging Face layout, for any config up to the full ReasonIR-8B shape.

    python3 weights-tools/generate_checkpoint.py --preset tiny-h256 --out /tmp/tiny [--seed 0] [--shards 2]
    python3 weights-tools/generate_checkpoint.py --config CONFIG.json --out DIR [--seed N] [--shards K]
        [--prefix model.|none] [--lm-head] [--dtype bf16|f32|f16] [--tokenizer-dir DIR]

Writes DIR/config.json, then `model.safetensors` (K = 1) or `model-0000i-of-0000K.safetensors` plus
`model.safetensors.index.json` (K > 1), and copies the tokenizer files from --tokenizer-dir when given.

Streaming: tensors are produced in chunks of CHUNK_VALUES values and written as they come, so memory stays at a few
tens of MB even for the 15 GB bf16 8B checkpoint (its 128256 x 4096 embedding alone is 2 GB in fp32).

Determinism: tensor `name` (without any `model.` prefix) draws from numpy.random.default_rng(s) with
s = first 8 bytes (little endian) of sha256(f"{seed}/{name}"), so values do not depend on sharding, prefix, tensor
order or which other tensors exist. Only the raw PCG64 output (`bit_generator.random_raw`) is used: numpy keeps bit
generators stream-stable across versions, unlike its distribution samplers (NEP 19), and every value is then built
with exact or correctly rounded IEEE float32 operations (no transcendental functions), so the same bytes come out on
any machine. materialize_fixtures.py still checks sha256 to catch drift.

Distribution: every tensor is uniform with a chosen standard deviation (uniform on (-a, a) has std a / sqrt(3)); a
uniform is one multiply per value from 23 random bits, the fast path the 8B shape needs, and sums of many such terms
(every projection output) are Gaussian by the central limit theorem anyway. See `init_std` for the scales.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import sys
import time
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402

# Values generated per chunk (even, so chunk boundaries never split a 64-bit raw word; 4 Mi values = 16 MB fp32).
CHUNK_VALUES = 1 << 22

# -------------------------------------------------------------------------------------------------------------------
# Configs
# -------------------------------------------------------------------------------------------------------------------
# ReasonIR-8B's config.json: Llama-3.1-8B's architecture (meta-llama/Llama-3.1-8B config.json) with the ReasonIR
# class name. eos_token_id 128001 is <|end_of_text|>, the base Llama-3.1-8B value.
REASONIR_8B: Dict[str, object] = {
    "architectures": ["ReasonIRModel"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.47.0",
    "use_cache": True,
    "vocab_size": 128256,
}


def _tiny_h256() -> Dict[str, object]:
    # ReasonIR-8B scaled down for fast tests; the vocabulary stays 128256 so the real Llama-3.1 tokenizer works.
    cfg = copy.deepcopy(REASONIR_8B)
    cfg.update({"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
                "num_key_value_heads": 4, "head_dim": 32})
    return cfg


def _medium_h1024() -> Dict[str, object]:
    # The benchmark suite's mid-size model (benchmarks/run.sh): big enough that the GEMMs, not per-op overheads,
    # dominate on a CPU, small enough (about 0.45 GB) to generate and run in seconds.
    cfg = copy.deepcopy(REASONIR_8B)
    cfg.update({"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 8, "num_attention_heads": 16,
                "num_key_value_heads": 4, "head_dim": 64})
    return cfg


def _micro_h64() -> Dict[str, object]:
    # One tiny layer: the cost of a call is then mostly the call itself (the suite's Java-to-native overhead).
    cfg = copy.deepcopy(REASONIR_8B)
    cfg.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2,
                "num_key_value_heads": 1, "head_dim": 32})
    return cfg


PRESETS = {"reasonir-8b": lambda: copy.deepcopy(REASONIR_8B), "tiny-h256": _tiny_h256,
           "medium-h1024": _medium_h1024, "micro-h64": _micro_h64}

TORCH_DTYPE = {"bf16": "bfloat16", "f32": "float32", "f16": "float16"}
ST_DTYPE = {"bf16": "BF16", "f32": "F32", "f16": "F16"}


def complete_config(cfg: Dict[str, object], dtype: str = "bf16") -> Dict[str, object]:
    """A full HF-style Llama config.json from a partial one: the architecture fields must be present; the rest
    default to the ReasonIR-8B values (head_dim defaults to hidden/heads, kv heads to heads)."""
    required = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]
    missing = [k for k in required if k not in cfg]
    if missing:
        raise ValueError(f"config lacks {missing}")
    out = copy.deepcopy(REASONIR_8B)
    out.update(copy.deepcopy(cfg))
    if "num_key_value_heads" not in cfg:
        out["num_key_value_heads"] = out["num_attention_heads"]
    if "head_dim" not in cfg:
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
    if out["num_attention_heads"] % out["num_key_value_heads"] != 0:
        raise ValueError(f"num_attention_heads {out['num_attention_heads']} is not a multiple of "
                         f"num_key_value_heads {out['num_key_value_heads']}")
    if out["head_dim"] % 2 != 0:
        raise ValueError(f"head_dim {out['head_dim']} must be even (RoPE rotates pairs)")
    out["torch_dtype"] = TORCH_DTYPE[dtype]
    return out


# -------------------------------------------------------------------------------------------------------------------
# Tensors
# -------------------------------------------------------------------------------------------------------------------
# Scales. Activations stay O(1) through any depth and attention is clearly peaked:
#  - embed_tokens: std 1, so the residual stream starts at rms 1 (RMSNorm makes the absolute scale irrelevant to the
#    first layer, but a unit residual keeps each layer's additions comparable to it).
#  - q_proj, k_proj: std QK_GAIN / sqrt(fan_in). The normed input has rms ~1, so q and k entries have std QK_GAIN and
#    a score q.k / sqrt(head_dim) has std QK_GAIN^2 ~ 2.25: softmax weights spread over roughly an order of magnitude
#    (not uniform, not one-hot), so a wrong mask, position or head mapping changes the output visibly.
#  - v_proj, o_proj, gate/up/down_proj, lm_head: std 1 / sqrt(fan_in) (unit-variance outputs for unit inputs). Each
#    sublayer adds rms <= ~0.7 to the residual, so after 32 layers the residual rms is a few units, not thousands.
#  - RMSNorm weights: 1 + noise of std NORM_NOISE, so a missing or misplaced norm weight shows in the output.
QK_GAIN = 1.5
NORM_NOISE = 0.1


class TensorSpec:
    __slots__ = ("name", "shape", "std", "offset")

    def __init__(self, name: str, shape: Tuple[int, ...], std: float, offset: float = 0.0):
        self.name, self.shape, self.std, self.offset = name, shape, std, offset

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def tensor_specs(cfg: Dict[str, object], lm_head: bool = False) -> List[TensorSpec]:
    """The checkpoint's tensors (unprefixed names, spec "Config and checkpoint"), in file order."""
    h = int(cfg["hidden_size"])
    inter = int(cfg["intermediate_size"])
    heads = int(cfg["num_attention_heads"])
    kv = int(cfg["num_key_value_heads"])
    hd = int(cfg["head_dim"])
    vocab = int(cfg["vocab_size"])

    def proj(name, out_f, in_f, gain=1.0):
        return TensorSpec(name, (out_f, in_f), gain / math.sqrt(in_f))

    specs = [TensorSpec("embed_tokens.weight", (vocab, h), 1.0)]
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"layers.{i}."
        specs += [
            TensorSpec(p + "input_layernorm.weight", (h,), NORM_NOISE, 1.0),
            proj(p + "self_attn.q_proj.weight", heads * hd, h, QK_GAIN),
            proj(p + "self_attn.k_proj.weight", kv * hd, h, QK_GAIN),
            proj(p + "self_attn.v_proj.weight", kv * hd, h),
            proj(p + "self_attn.o_proj.weight", h, heads * hd),
            TensorSpec(p + "post_attention_layernorm.weight", (h,), NORM_NOISE, 1.0),
            proj(p + "mlp.gate_proj.weight", inter, h),
            proj(p + "mlp.up_proj.weight", inter, h),
            proj(p + "mlp.down_proj.weight", h, inter),
        ]
    specs.append(TensorSpec("norm.weight", (h,), NORM_NOISE, 1.0))
    if lm_head:
        specs.append(proj("lm_head.weight", vocab, h))
    return specs


def tensor_seed(seed: int, name: str) -> int:
    """Per-tensor RNG seed: first 8 bytes (little endian) of sha256("{seed}/{unprefixed name}")."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode("utf-8")).digest()[:8], "little")


# float32 constants for the uniform mapping: k in [0, 2^23) -> x = (2k + 1) / 2^23 - 1 in (-1, 1), symmetric, both
# float32 operations exact (k * 2^-22 is a scaled integer < 2; adding 2^-23 - 1 gives an odd multiple of 2^-23 of
# magnitude < 1, representable in 24 bits).
_TWO_POW_M22 = np.float32(2.0 ** -22)
_X_OFFSET = np.float32(2.0 ** -23 - 1.0)
_SHIFT_9 = np.uint32(9)  # keep the top 23 of 32 random bits


def tensor_values(spec: TensorSpec, seed: int) -> Iterator[np.ndarray]:
    """float32 values of `spec` in row-major order, in chunks of at most CHUNK_VALUES.

    Value j uses 32-bit word j of the PCG64 raw stream (each 64-bit word gives its low then its high half):
    v = offset + std * sqrt(3) * ((2 * (w >> 9) + 1) / 2^23 - 1), each step one float32 operation.
    """
    bitgen = np.random.default_rng(tensor_seed(seed, spec.name)).bit_generator
    amp = np.float32(spec.std * math.sqrt(3.0))  # uniform(-amp, amp) has std amp / sqrt(3)
    offset = np.float32(spec.offset)
    remaining = spec.numel
    while remaining > 0:
        n = min(CHUNK_VALUES, remaining)
        words = bitgen.random_raw((n + 1) // 2).astype("<u8", copy=False)
        u = words.view("<u4")[:n]
        x = (u >> _SHIFT_9).astype(np.float32)
        x *= _TWO_POW_M22
        x += _X_OFFSET
        x *= amp
        if spec.offset != 0.0:
            x += offset
        yield x
        remaining -= n


def tensor_array(spec: TensorSpec, seed: int) -> np.ndarray:
    """The whole tensor as float32 (tests and small tensors only)."""
    return np.concatenate(list(tensor_values(spec, seed))).reshape(spec.shape)


# -------------------------------------------------------------------------------------------------------------------
# Writing a checkpoint
# -------------------------------------------------------------------------------------------------------------------
def plan_shards(specs: List[TensorSpec], itemsize: int, k: int) -> List[List[TensorSpec]]:
    """Splits tensors, in order, into k non-empty shards of roughly equal bytes (a tensor is never split)."""
    if not 1 <= k <= len(specs):
        raise ValueError(f"shards must be in [1, {len(specs)}] for this config, got {k}")
    sizes = [s.numel * itemsize for s in specs]
    total = sum(sizes)
    shards: List[List[TensorSpec]] = [[] for _ in range(k)]
    cum, s = 0, 0
    for idx, spec in enumerate(specs):
        left = len(specs) - idx
        if shards[s] and s < k - 1 and (cum + sizes[idx] / 2 > (s + 1) * total / k or left <= k - 1 - s):
            s += 1
        shards[s].append(spec)
        cum += sizes[idx]
    return shards


def shard_file_name(i: int, k: int) -> str:
    return "model.safetensors" if k == 1 else f"model-{i + 1:05d}-of-{k:05d}.safetensors"


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def stored_name(prefix: str, name: str) -> str:
    """Name as stored: the decoder's tensors take the prefix; lm_head sits beside the decoder, never under `model.`
    (transformers' LlamaForCausalLM layout: `model.layers...` and `lm_head.weight`)."""
    return name if name == "lm_head.weight" else prefix + name


def generate(cfg: Dict[str, object], out_dir: str, seed: int = 0, shards: int = 1, prefix: str = "",
             lm_head: bool = False, dtype: str = "bf16", tokenizer_dir: Optional[str] = None,
             progress: Optional[bool] = None) -> Dict[str, str]:
    """Writes a checkpoint into out_dir (created if needed); returns {file name: sha256 hex} of every .safetensors
    file and the index (when sharded). `cfg` is completed with complete_config. `progress`: print per-tensor progress
    to stderr (default: only when the checkpoint exceeds 1 GB)."""
    if dtype not in ST_DTYPE:
        raise ValueError(f"dtype must be one of {sorted(ST_DTYPE)}, got {dtype!r}")
    if prefix not in ("", "model."):
        raise ValueError(f"prefix must be '' or 'model.', got {prefix!r}")
    cfg = complete_config(cfg, dtype)
    st_dtype = ST_DTYPE[dtype]
    itemsize = st.DTYPES[st_dtype].itemsize
    specs = tensor_specs(cfg, lm_head)
    plan = plan_shards(specs, itemsize, shards)
    total_bytes = sum(s.numel * itemsize for s in specs)
    if progress is None:
        progress = total_bytes > (1 << 30)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    digests: Dict[str, str] = {}
    weight_map: Dict[str, str] = {}
    done = 0
    t0 = time.time()
    for i, shard in enumerate(plan):
        fname = shard_file_name(i, shards)

        def producer(spec):
            def chunks():
                nonlocal done
                for x in tensor_values(spec, seed):
                    yield st.to_storage(x, st_dtype)
                    done += x.size * itemsize
                if progress:
                    el = time.time() - t0
                    print(f"  {fname}: {stored_name(prefix, spec.name)} {list(spec.shape)}  {done / 1e9:.2f}/"
                          f"{total_bytes / 1e9:.2f} GB, {el:.0f} s", file=sys.stderr, flush=True)
            return chunks

        entries = [st.TensorEntry(stored_name(prefix, s.name), st_dtype, s.shape, producer(s)) for s in shard]
        hasher = hashlib.sha256()
        tmp = os.path.join(out_dir, fname + ".partial")
        st.write_safetensors(tmp, entries, {"format": "pt"}, hasher=hasher)
        os.replace(tmp, os.path.join(out_dir, fname))
        digests[fname] = hasher.hexdigest()
        for s in shard:
            weight_map[stored_name(prefix, s.name)] = fname
    if shards > 1:
        index = {"metadata": {"total_size": total_bytes}, "weight_map": weight_map}
        text = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8")
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "wb") as f:
            f.write(text)
        digests["model.safetensors.index.json"] = hashlib.sha256(text).hexdigest()
    if tokenizer_dir:
        for name in TOKENIZER_FILES:
            src = os.path.join(tokenizer_dir, name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(out_dir, name))
            elif name == "tokenizer.json":
                raise FileNotFoundError(f"--tokenizer-dir {tokenizer_dir}: no tokenizer.json")
    return digests


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="config.json (at least hidden_size, intermediate_size, num_hidden_layers, "
                                      "num_attention_heads, vocab_size; the rest defaults to ReasonIR-8B)")
    src.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--prefix", choices=["model.", "none"], default="none",
                    help="tensor name prefix (default none, like the ReasonIR-8B checkpoint)")
    ap.add_argument("--lm-head", action="store_true", help="also write lm_head.weight (unused by the embedder)")
    ap.add_argument("--dtype", choices=sorted(ST_DTYPE), default="bf16")
    ap.add_argument("--tokenizer-dir", help="copy tokenizer.json, tokenizer_config.json, special_tokens_map.json")
    args = ap.parse_args(argv)
    if args.config:
        with open(args.config, "r", encoding="utf-8") as f:
            cfg = json.load(f)
    else:
        cfg = PRESETS[args.preset]()
    t0 = time.time()
    try:
        digests = generate(cfg, args.out, seed=args.seed, shards=args.shards,
                           prefix="" if args.prefix == "none" else args.prefix, lm_head=args.lm_head,
                           dtype=args.dtype, tokenizer_dir=args.tokenizer_dir)
    except (ValueError, OSError) as exc:
        print(f"generate_checkpoint: error: {exc}", file=sys.stderr)
        return 2
    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in digests)
    print(f"wrote {args.out}: {len(digests)} file(s), {size / 1e6:.1f} MB in {time.time() - t0:.1f} s")
    for name, digest in digests.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
