#!/usr/bin/env python3
"""Cross-check reference.py against Hugging Face transformers' LlamaModel on a generated checkpoint.

Needs torch + transformers (a GPU machine of this project has them; the build machine does not, so this script is
not part of any automatic test and imports torch/transformers only inside main()).

    python3 weights-tools/hf_parity.py --model build/generated/h256_l4 \
        --input weights-tools/fixtures/h256_l4/inputs.json [--modes fp32,bf16] [--device cuda] [--attn sdpa]

For each mode the checkpoint is loaded as LlamaModel in that dtype (fp32 runs with TF32 disabled, so its GEMMs are
true fp32). Each sequence runs alone (no padding) with an explicit all-zero additive 4-D attention mask [1, 1, L, L],
which transformers (4.4x and 5.x) uses as given: every token attends to every token, i.e. bidirectional, the
ReasonIR setting. Positions are 0..L-1. The final-norm output is pooled over [pool_start, L) in float32 and compared
with reference.embed_packed(mode, normalize=False): max abs difference of the pooled means, and min cosine. The
script also checks that the HF run really is bidirectional (changing the last token changes position 0's state).
Exit status 1 when a mode's min cosine is below --min-cosine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402


def read_inputs(path: str):
    """inputs.json ({"sequences": [{"ids", "pool_start"}]}) or JSON lines of {"ids", "pool_start"}."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict) and "sequences" in obj:
            return [([int(t) for t in s["ids"]], int(s.get("pool_start", 0))) for s in obj["sequences"]]
    except json.JSONDecodeError:
        pass
    return reference.read_jsonl(path)


def load_hf(model_dir: str, mode: str, device: str, attn: str):
    import torch
    import transformers
    from transformers import LlamaModel

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[mode]
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    # transformers 4.56 renamed from_pretrained's torch_dtype argument to dtype.
    kw = {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
    model = LlamaModel.from_pretrained(model_dir, attn_implementation=attn, **kw)
    return model.to(device).eval()


def hf_hidden(model, ids, device):
    """Final RMSNorm output [L, hidden] as float32 numpy for one sequence, bidirectional."""
    import torch

    n = len(ids)
    dtype = next(model.parameters()).dtype
    x = torch.tensor([ids], dtype=torch.long, device=device)
    pos = torch.arange(n, device=device)[None, :]
    mask = torch.zeros((1, 1, n, n), dtype=dtype, device=device)  # additive: 0 = attend, everywhere
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
    return out[0].float().cpu().numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="compare reference.py with transformers' LlamaModel (needs torch)")
    ap.add_argument("--model", required=True, help="generated checkpoint folder")
    ap.add_argument("--input", required=True, help="fixture inputs.json or JSON lines {ids, pool_start}")
    ap.add_argument("--modes", default="fp32,bf16")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--attn", default="sdpa", help="transformers attn_implementation (sdpa, eager, ...)")
    ap.add_argument("--min-cosine", type=float, default=0.999)
    args = ap.parse_args(argv)

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    seqs = read_inputs(args.input)
    ref_model = reference.Model(args.model)
    status = 0
    for mode in args.modes.split(","):
        model = load_hf(args.model, mode, args.device, args.attn)
        # Bidirectionality check on the longest sequence with at least 2 tokens.
        probe = max((s for s in seqs if len(s[0]) > 1), key=lambda s: len(s[0]), default=None)
        if probe is not None:
            ids = list(probe[0])
            changed = ids[:-1] + [(ids[-1] + 1) % ref_model.cfg.vocab]
            d0 = np.abs(hf_hidden(model, ids, args.device)[0] - hf_hidden(model, changed, args.device)[0]).max()
            if d0 == 0.0:
                print(f"{mode}: HF attention is NOT bidirectional (position 0 ignores the last token)")
                status = 1
        t0 = time.time()
        got = np.stack([reference.pool(hf_hidden(model, ids, args.device), ps, False) for ids, ps in seqs])
        t_hf = time.time() - t0
        t0 = time.time()
        want = reference.embed_packed(ref_model, seqs, mode=mode, normalize=False)
        t_ref = time.time() - t0
        cos = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        print(f"{mode}: {len(seqs)} sequences, max abs diff {np.abs(got - want).max():.3g}, min cosine "
              f"{cos.min():.7f} (per sequence: {', '.join(f'{c:.6f}' for c in cos)}); HF {t_hf:.2f} s, "
              f"reference {t_ref:.2f} s")
        if cos.min() < args.min_cosine:
            status = 1
        del model
    return status


if __name__ == "__main__":
    sys.exit(main())
