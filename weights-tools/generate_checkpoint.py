#!/usr/bin/env python3
"""Random-weight Llama checkpoints in the Hugging Face layout, for any config up to the full ReasonIR-8B shape.

    python3 weights-tools/generate_checkpoint.py --preset tiny-h256 --out /tmp/tiny [--seed 0] [--shards 2]
    python3 weights-tools/generate_checkpoint.py --config CONFIG.json --out DIR [--seed N] [--shards K]
        [--prefix model.|none] [--lm-head] [--dtype bf16|f32|f16] [--tokenizer-dir DIR] [--layers N]
        [--fill numpy|torch] [--device cpu|cuda] [--force] [--json]

Writes DIR/config.json, then `model.safetensors` (K = 1) or `model-0000i-of-0000K.safetensors` plus
`model.safetensors.index.json` (K > 1), and copies the tokenizer files from --tokenizer-dir when given. --layers N
replaces num_hidden_layers of the preset or config (the GPU benchmark's few-layer 8B-shaped checkpoints).

Reuse: the command line (and `make`, the function for callers) writes DIR/.generate_checkpoint.json last, a record of
the completed config, shards, seed, fill, device type, prefix, lm_head, dtype and tokenizer folder; a later run with the
same arguments finds it and the files it names and reuses the folder (--force regenerates). It prints the sha256 of each
file, or with --json one line {"out", "layers", "shards", "bytes", "seconds", "gb_per_s", "reused", "fill", "device"}.

Streaming: tensors are produced in chunks of CHUNK_VALUES values and written as they come, so memory stays at a few
tens of MB even for the 15 GB bf16 8B checkpoint (its 128256 x 4096 embedding alone is 2 GB in fp32). The torch fill
works in chunks of TORCH_CHUNK_VALUES: the 1-layer 8B shape peaked at 442 MB resident on a CPU, 240 MB of them torch's.

Determinism (--fill numpy, the default): tensor `name` (without any `model.` prefix) draws from
numpy.random.default_rng(s) with s = first 8 bytes (little endian) of sha256(f"{seed}/{name}"), so values do not depend
on sharding, prefix, tensor order or which other tensors exist. Only the raw PCG64 output (`bit_generator.random_raw`)
is used: numpy keeps bit generators stream-stable across versions, unlike its distribution samplers (NEP 19), and every
value is then built with exact or correctly rounded IEEE float32 operations (no transcendental functions), so the same
bytes come out on any machine. materialize_fixtures.py still checks sha256 to catch drift.

--fill torch [--device cuda]: the fast path for multi-GB checkpoints (the GPU check's 8B-shaped models). numpy makes
about 0.2 GB/s on one core; on a GPU the draws cost nothing and the rate is that of the copy to the host and the file
writes (expected above 1 GB/s; the --json line reports it). Same plan (tensor_specs, plan_shards, file names, index,
prefix) and same distribution (uniform with each spec's std and offset, drawn in float32, then rounded to the storage
dtype to nearest even), but torch's generators: tensor `name` draws from torch.Generator(device) seeded with the same
tensor_seed(seed, name), TORCH_CHUNK_VALUES values per call, converted on the device and copied to the host one chunk
at a time. The bytes therefore differ from the numpy fill, and between CPU and CUDA generators (and possibly torch
versions); they repeat for the same seed, device type and torch. torch is imported only for this fill. Fixtures use
the numpy fill, whose bytes are pinned by sha256.

Distribution: every tensor is uniform with a chosen standard deviation (uniform on (-a, a) has std a / sqrt(3)); a
uniform is one multiply per value from 23 random bits, the fast path the 8B shape needs, and sums of many such terms
(every projection output) are Gaussian by the central limit theorem anyway. The scales are explained above TensorSpec.
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
# Values per torch draw (64 MB fp32 on the device, 32 MB bf16 on the host): big enough that per-call overheads vanish
# on a GPU, small enough to bound memory. Part of what fixes the torch fill's bytes (generator calls per tensor).
TORCH_CHUNK_VALUES = 1 << 24
MARKER = ".generate_checkpoint.json"
FILLS = ("numpy", "torch")

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


def torch_storage_chunks(spec: TensorSpec, seed: int, st_dtype: str, device: str = "cpu") -> Iterator[np.ndarray]:
    """Storage-dtype chunks (row-major) of `spec` drawn with torch on `device`: uniform(-amp, amp) + offset in float32,
    as tensor_values, rounded to `st_dtype` on the device (torch rounds to nearest even, like st.to_storage)."""
    import torch  # optional: only this fill needs it

    g = torch.Generator(device=device)
    g.manual_seed(tensor_seed(seed, spec.name))
    amp = spec.std * math.sqrt(3.0)
    tdt = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}[st_dtype]
    remaining = spec.numel
    while remaining > 0:
        n = min(TORCH_CHUNK_VALUES, remaining)
        x = torch.empty(n, dtype=torch.float32, device=device).uniform_(-amp, amp, generator=g)
        if spec.offset != 0.0:
            x += spec.offset
        y = x.to(tdt).cpu()
        # numpy has no bfloat16: hand over the raw bits, as st.to_storage does
        yield y.view(torch.int16).numpy().view(np.uint16) if st_dtype == "BF16" else y.numpy()
        remaining -= n


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
             progress: Optional[bool] = None, fill: str = "numpy", device: str = "cpu",
             sha256: bool = True) -> Dict[str, Optional[str]]:
    """Writes a checkpoint into out_dir (created if needed); returns {file name: sha256 hex} of every .safetensors
    file and the index (when sharded); the digests are None with sha256=False (hashing costs about 1 s per GB).
    `cfg` is completed with complete_config. `fill`: "numpy" (deterministic bytes) or "torch" on `device` (see the
    module docstring). `progress`: print per-tensor progress to stderr (default: only when the checkpoint exceeds
    1 GB). Checkpoint files of another layout left in out_dir are removed: a stale model.safetensors would win over
    a new index in every reader."""
    if dtype not in ST_DTYPE:
        raise ValueError(f"dtype must be one of {sorted(ST_DTYPE)}, got {dtype!r}")
    if prefix not in ("", "model."):
        raise ValueError(f"prefix must be '' or 'model.', got {prefix!r}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {list(FILLS)}, got {fill!r}")
    cfg = complete_config(cfg, dtype)
    st_dtype = ST_DTYPE[dtype]
    itemsize = st.DTYPES[st_dtype].itemsize
    specs = tensor_specs(cfg, lm_head)
    plan = plan_shards(specs, itemsize, shards)
    total_bytes = sum(s.numel * itemsize for s in specs)
    if progress is None:
        progress = total_bytes > (1 << 30)
    os.makedirs(out_dir, exist_ok=True)
    names = [shard_file_name(i, shards) for i in range(shards)] + (["model.safetensors.index.json"] if shards > 1
                                                                     else [])
    for old in os.listdir(out_dir):
        if old not in names and (old == "model.safetensors.index.json" or
                                 (old.startswith("model") and old.endswith(".safetensors"))):
            os.remove(os.path.join(out_dir, old))
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    def storage_chunks(spec):
        if fill == "torch":
            return torch_storage_chunks(spec, seed, st_dtype, device)
        return (st.to_storage(x, st_dtype) for x in tensor_values(spec, seed))

    digests: Dict[str, Optional[str]] = {}
    weight_map: Dict[str, str] = {}
    done = 0
    t0 = time.time()
    for i, shard in enumerate(plan):
        fname = shard_file_name(i, shards)

        def producer(spec):
            def chunks():
                nonlocal done
                for x in storage_chunks(spec):
                    yield x
                    done += x.nbytes
                if progress:
                    el = time.time() - t0
                    print(f"  {fname}: {stored_name(prefix, spec.name)} {list(spec.shape)}  {done / 1e9:.2f}/"
                          f"{total_bytes / 1e9:.2f} GB, {el:.0f} s", file=sys.stderr, flush=True)
            return chunks

        entries = [st.TensorEntry(stored_name(prefix, s.name), st_dtype, s.shape, producer(s)) for s in shard]
        hasher = hashlib.sha256() if sha256 else None
        tmp = os.path.join(out_dir, fname + ".partial")
        st.write_safetensors(tmp, entries, {"format": "pt"}, hasher=hasher)
        os.replace(tmp, os.path.join(out_dir, fname))
        digests[fname] = hasher.hexdigest() if hasher else None
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


def build_config(preset: Optional[str] = "reasonir-8b", config: Optional[Dict[str, object]] = None,
                 layers: Optional[int] = None, dtype: str = "bf16") -> Dict[str, object]:
    """The completed config of a preset (or of `config`), with num_hidden_layers = layers when given."""
    if config is None and preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    cfg = copy.deepcopy(config) if config is not None else PRESETS[preset]()
    if layers is not None:
        if int(layers) < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        cfg["num_hidden_layers"] = int(layers)
    return complete_config(cfg, dtype)


def reuse_record(cfg: Dict[str, object], shards: int, seed: int, fill: str, device: str, prefix: str,
                 lm_head: bool, dtype: str, tokenizer_dir: Optional[str]) -> Dict[str, object]:
    """What fixes a checkpoint's bytes: the marker's content. Only the device type matters (cuda:0 and cuda:1 share
    a generator), and the numpy fill ignores the device."""
    dev = device.split(":")[0] if fill == "torch" else None
    return {"config": cfg, "shards": shards, "seed": seed, "fill": fill, "device": dev, "prefix": prefix,
            "lm_head": lm_head, "dtype": dtype, "tokenizer_dir": tokenizer_dir, "version": 1}


def is_complete(out: str, record: Dict[str, object]) -> bool:
    """out holds a checkpoint made with `record` (the marker matches, every file it implies exists)."""
    try:
        with open(os.path.join(out, MARKER), "r", encoding="utf-8") as f:
            if json.load(f) != json.loads(json.dumps(record)):
                return False
    except (OSError, ValueError):
        return False
    k = int(record["shards"])
    names = [shard_file_name(i, k) for i in range(k)] + (["model.safetensors.index.json"] if k > 1 else [])
    return all(os.path.isfile(os.path.join(out, n)) for n in names + ["config.json"])


def make(out: str, preset: Optional[str] = "reasonir-8b", config: Optional[Dict[str, object]] = None,
         layers: Optional[int] = None, shards: int = 1, fill: str = "numpy", device: str = "cpu", seed: int = 0,
         prefix: str = "", lm_head: bool = False, dtype: str = "bf16", tokenizer_dir: Optional[str] = None,
         force: bool = False, digests: bool = False, progress: Optional[bool] = None) -> Dict[str, object]:
    """generate() behind the reuse marker, for callers and the command line: returns {"out", "layers", "shards",
    "bytes" (tensor data), "seconds", "gb_per_s", "reused", "fill", "device"} (+ "files": {name: sha256} with
    digests=True, read back from disk when reused). A folder made with the same arguments is reused unless force."""
    cfg = build_config(preset, config, layers, dtype)
    record = reuse_record(cfg, shards, seed, fill, device, prefix, lm_head, dtype, tokenizer_dir)
    itemsize = st.DTYPES[ST_DTYPE[dtype]].itemsize
    total = sum(s.numel * itemsize for s in tensor_specs(cfg, lm_head))
    info: Dict[str, object] = {"out": out, "layers": cfg["num_hidden_layers"], "shards": shards, "bytes": total,
                               "fill": fill, "device": record["device"] or "cpu"}
    if not force and is_complete(out, record):
        info.update({"reused": True, "seconds": 0.0, "gb_per_s": None})
        if digests:
            names = [shard_file_name(i, shards) for i in range(shards)]
            names += ["model.safetensors.index.json"] if shards > 1 else []
            info["files"] = {n: file_sha256(os.path.join(out, n)) for n in names}
        return info
    marker = os.path.join(out, MARKER)
    if os.path.exists(marker):
        os.remove(marker)  # a run cut off below must not leave a folder that looks complete
    t0 = time.perf_counter()
    files = generate(cfg, out, seed=seed, shards=shards, prefix=prefix, lm_head=lm_head, dtype=dtype,
                     tokenizer_dir=tokenizer_dir, progress=progress, fill=fill, device=device, sha256=digests)
    secs = time.perf_counter() - t0
    with open(marker, "w", encoding="utf-8") as f:
        json.dump(record, f, sort_keys=True)
    info.update({"reused": False, "seconds": round(secs, 3),
                 "gb_per_s": round(total / 1e9 / secs, 3) if secs > 0 else None})
    if digests:
        info["files"] = files
    return info


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
    ap.add_argument("--layers", type=int, help="num_hidden_layers instead of the preset's or config's")
    ap.add_argument("--prefix", choices=["model.", "none"], default="none",
                    help="tensor name prefix (default none, like the ReasonIR-8B checkpoint)")
    ap.add_argument("--lm-head", action="store_true", help="also write lm_head.weight (unused by the embedder)")
    ap.add_argument("--dtype", choices=sorted(ST_DTYPE), default="bf16")
    ap.add_argument("--tokenizer-dir", help="copy tokenizer.json, tokenizer_config.json, special_tokens_map.json")
    ap.add_argument("--fill", choices=FILLS, default="numpy",
                    help="numpy: deterministic bytes (default); torch: fast, same distribution, other bytes")
    ap.add_argument("--device", default="cpu", help="torch device of --fill torch (cpu, cuda, cuda:1)")
    ap.add_argument("--force", action="store_true", help="regenerate even if a matching checkpoint is there")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the sha256 list")
    args = ap.parse_args(argv)
    try:
        cfg = None
        if args.config:
            with open(args.config, "r", encoding="utf-8") as f:
                cfg = json.load(f)
        info = make(args.out, preset=args.preset, config=cfg, layers=args.layers, shards=args.shards,
                    fill=args.fill, device=args.device, seed=args.seed,
                    prefix="" if args.prefix == "none" else args.prefix, lm_head=args.lm_head, dtype=args.dtype,
                    tokenizer_dir=args.tokenizer_dir, force=args.force, digests=not args.json)
    except (ValueError, OSError, ImportError, RuntimeError) as exc:  # ImportError/RuntimeError: torch, its device
        if args.json:
            print(json.dumps({"out": args.out, "error": f"{type(exc).__name__}: {exc}"}))
        print(f"generate_checkpoint: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info))
        return 0
    files = info["files"]
    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in files)
    print(f"{'reused' if info['reused'] else 'wrote'} {args.out}: {len(files)} file(s), {size / 1e6:.1f} MB in "
          f"{info['seconds']:.1f} s")
    for name, digest in files.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
