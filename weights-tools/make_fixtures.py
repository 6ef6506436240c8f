#!/usr/bin/env python3
"""Regenerates the committed golden fixtures in weights-tools/fixtures/<name>/ from the constants below.

    python3 weights-tools/make_fixtures.py [--only NAME]

For each fixture: spec.json (full config.json + generator arguments), inputs.json (token ids and pool_start per
sequence), weights.sha256 (digest of every generated .safetensors file and the index), and expected_fp32.npy /
expected_bf16.npy (float32 [n, hidden]: reference.py's pooled mean BEFORE L2 normalisation, in the two numeric
modes). The checkpoints themselves are not committed: materialize_fixtures.py regenerates them from spec.json and
checks them against weights.sha256.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate_checkpoint as gen  # noqa: E402
import reference  # noqa: E402

FIXTURES_DIR = os.path.join(HERE, "fixtures")

# llama3_gqa: rope_scaling llama3 with original_max_position_embeddings 64 instead of 8192, so all three llama3 bands
# occur at head_dim 16 (theta 500000): inv_freq[i] = 500000^(-i/8), wavelen = 2*pi/inv_freq = 6.28, 32.4, 167, 862,
# ...; with low_wl = 64/1 = 64 and high_wl = 64/4 = 16: i = 0 is high-frequency (6.28 < 16, kept), i = 1 is medium
# (16 <= 32.4 <= 64, smoothed), i = 2..7 are low-frequency (> 64, divided by 8). test_weights_tools.py checks this.
LLAMA3_GQA = {
    "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 2, "num_attention_heads": 8,
    "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 512, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 64},
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
}
# plain_mha: classic MHA with plain RoPE; head_dim 32 given explicitly (hidden/heads would be 24).
PLAIN_MHA = {
    "hidden_size": 96, "intermediate_size": 160, "num_hidden_layers": 3, "num_attention_heads": 4,
    "num_key_value_heads": 4, "head_dim": 32, "vocab_size": 300, "rope_theta": 10000.0, "rope_scaling": None,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "bos_token_id": 1, "eos_token_id": 2,
}

BOS = 128000  # Llama-3.1 <|begin_of_text|>

# name -> generator arguments and sequences as (length, pool_start); ids are drawn from default_rng(ids_seed).
FIXTURES = {
    "llama3_gqa": {
        "config": LLAMA3_GQA, "seed": 101, "shards": 3, "prefix": "model.", "lm_head": True, "ids_seed": 1001,
        "bos_first": False,
        # pool_start = L-1 on the 63-token sequence (a single pooled position); 2048 tokens exceed the "original" 64
        # positions 32 times over.
        "sequences": [(1, 0), (2, 1), (5, 0), (16, 4), (63, 62), (200, 0), (1024, 17), (2048, 100)],
    },
    "plain_mha": {
        "config": PLAIN_MHA, "seed": 202, "shards": 1, "prefix": "", "lm_head": False, "ids_seed": 2002,
        "bos_first": False,
        "sequences": [(1, 0), (3, 2), (9, 0), (40, 7), (130, 0)],
    },
    "h256_l4": {
        "config": gen.PRESETS["tiny-h256"](), "seed": 303, "shards": 2, "prefix": "", "lm_head": False,
        "ids_seed": 3003, "bos_first": True,
        "sequences": [(1, 0), (7, 2), (32, 0), (128, 9), (300, 0)],
    },
}


def fixture_spec(name: str) -> dict:
    f = FIXTURES[name]
    return {"config": gen.complete_config(f["config"], "bf16"), "seed": f["seed"], "shards": f["shards"],
            "prefix": f["prefix"], "lm_head": f["lm_head"], "dtype": "bf16"}


def fixture_inputs(name: str) -> dict:
    f = FIXTURES[name]
    vocab = int(f["config"]["vocab_size"])
    rng = np.random.default_rng(f["ids_seed"])
    seqs = []
    for length, pool_start in f["sequences"]:
        assert 0 <= pool_start < length, (name, length, pool_start)
        ids = [int(t) for t in rng.integers(0, vocab, size=length)]
        if f["bos_first"]:
            ids[0] = BOS
        seqs.append({"ids": ids, "pool_start": pool_start})
    return {"sequences": seqs}


def generate_from_spec(spec: dict, out_dir: str):
    """The checkpoint of a fixture spec.json (shared with materialize_fixtures.py); returns {file: sha256}."""
    return gen.generate(spec["config"], out_dir, seed=int(spec["seed"]), shards=int(spec["shards"]),
                        prefix=spec["prefix"], lm_head=bool(spec["lm_head"]), dtype=spec.get("dtype", "bf16"),
                        progress=False)


def write_json(path: str, obj, compact: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        else:
            f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def make(name: str) -> None:
    t0 = time.time()
    folder = os.path.join(FIXTURES_DIR, name)
    os.makedirs(folder, exist_ok=True)
    spec = fixture_spec(name)
    inputs = fixture_inputs(name)
    work = tempfile.mkdtemp(prefix=f"fixture-{name}-")
    try:
        digests = generate_from_spec(spec, work)
        seqs = [(s["ids"], s["pool_start"]) for s in inputs["sequences"]]
        model = reference.Model(work)
        expected = {mode: reference.embed_packed(model, seqs, mode=mode, normalize=False)
                    for mode in ("fp32", "bf16")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(os.path.join(folder, "spec.json"), spec)
    write_json(os.path.join(folder, "inputs.json"), inputs, compact=True)
    for mode, arr in expected.items():
        np.save(os.path.join(folder, f"expected_{mode}.npy"), arr.astype(np.float32))
    with open(os.path.join(folder, "weights.sha256"), "w", encoding="utf-8") as f:
        for fname in sorted(digests):
            f.write(f"{digests[fname]}  {fname}\n")
    a, b = expected["fp32"], expected["bf16"]
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"{name}: {len(seqs)} sequences, {sum(len(i) for i, _ in seqs)} tokens; fp32 vs bf16 min cosine "
          f"{cos.min():.6f}, max abs diff {np.abs(a - b).max():.3g}; {time.time() - t0:.1f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="regenerate weights-tools/fixtures/*")
    ap.add_argument("--only", choices=sorted(FIXTURES), action="append", help="just these fixtures")
    args = ap.parse_args(argv)
    for name in args.only or sorted(FIXTURES):
        make(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
