#!/usr/bin/env python3
"""Hugging Face transformers helpers of the GPU check: load a generated checkpoint as LlamaModel, run it
bidirectionally on a padded batch, pool like ReasonIR. torch / transformers are imported inside the functions, so this
module imports (and its pure parts are testable) on a machine without them.

How attention is made bidirectional (checked against transformers 5.x source, masking_utils.py and
integrations/sdpa_attention.py):
  * LlamaModel.forward builds its mask with masking_utils.create_causal_mask(...), whose
    _preprocess_mask_arguments returns a mask that is already 4-D unchanged ("If the mask is already 4D, simply
    return as-is"), in every 4.5x and 5.x version. So we pass our own 4-D mask [batch, 1, L, L]: a bool mask
    (True = attend) for sdpa / flex, an additive float mask (0 / dtype min) for eager, with every real query
    attending to every real key of its own row and never to padding keys.
  * sdpa_attention_forward sets is_causal = (q_len > 1 and attention_mask is None and module.is_causal): with a mask
    given it is False. We also set `is_causal = False` on every attention module, so that even a path that drops
    the mask (e.g. a config-level bidirectional skip) cannot silently turn causal.
  * prove_bidirectional() checks it on the real model: changing the last token must change position 0's final
    hidden state under our mask and must leave it bit-identical under a causal 4-D mask (the control).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from reasonir_bench import WEIGHTS_TOOLS, use_weights_tools  # noqa: F401  (WEIGHTS_TOOLS: the tests read it)


def transformers_dtype_kwarg(version: str) -> str:
    """from_pretrained's dtype argument: `dtype` since transformers 4.56 (torch_dtype before; v5 drops it)."""
    parts = []
    for p in version.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return "dtype" if tuple(parts) >= (4, 56) else "torch_dtype"


def padded_layout(lengths: Sequence[int]) -> Tuple[int, List[List[bool]]]:
    """(max length, per-row validity) of a right-padded batch (pure helper, tested without torch)."""
    L = max(lengths) if lengths else 0
    return L, [[j < n for j in range(L)] for n in lengths]


def load_llama(model_dir: str, device: str = "cuda", dtype: str = "bf16", attn: str = "sdpa"):
    """LlamaModel in eval mode on `device`, made bidirectional; returns (model, info dict)."""
    import torch
    import transformers
    from transformers import LlamaModel

    tdtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[dtype]
    kw = {transformers_dtype_kwarg(transformers.__version__): tdtype}
    info: Dict[str, object] = {"transformers": transformers.__version__, "torch": torch.__version__,
                               "attn_implementation": attn, "dtype": dtype}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        model = LlamaModel.from_pretrained(model_dir, attn_implementation=attn, device_map=device, **kw)
        info["load_path"] = f"from_pretrained(device_map={device!r})"
    except Exception as exc:  # noqa: BLE001 - e.g. no accelerate on an older transformers: load on CPU, then move
        info["device_map_error"] = f"{type(exc).__name__}: {exc}"[:300]
        model = LlamaModel.from_pretrained(model_dir, attn_implementation=attn, **kw).to(device)
        info["load_path"] = "from_pretrained on CPU, then .to(device)"
    model.eval()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    info["load_s"] = round(time.perf_counter() - t0, 3)
    info["attn_in_config"] = getattr(model.config, "_attn_implementation", None)
    info["param_dtype"] = str(next(model.parameters()).dtype)
    info["bidirectional_modules"] = make_bidirectional(model)
    return model, info


def make_bidirectional(model) -> int:
    """Sets is_causal = False on every module that has the attribute (the attention modules); returns the count."""
    n = 0
    for m in model.modules():
        if hasattr(m, "is_causal") and isinstance(getattr(m, "is_causal"), bool):
            try:
                m.is_causal = False
                n += 1
            except (AttributeError, TypeError):
                pass
    return n


def rope_check(model, model_dir: str) -> Dict[str, object]:
    """HF's inverse frequencies and rotary width vs weights-tools/reference.py (catches a config field v5 reads
    differently, e.g. the legacy rope_scaling dict or an explicit head_dim)."""
    import numpy as np

    use_weights_tools()
    import reference  # noqa: E402

    out: Dict[str, object] = {}
    cfg = reference.Config.load(model_dir)
    want = reference.rope_inv_freq(cfg).astype(np.float64)
    rot = getattr(model, "rotary_emb", None)
    inv = getattr(rot, "inv_freq", None) if rot is not None else None
    if inv is None:
        out["error"] = "model.rotary_emb.inv_freq not found"
        return out
    got = inv.detach().float().cpu().numpy().astype(np.float64)
    out["rope_type"] = getattr(rot, "rope_type", None)
    out["attention_scaling"] = float(getattr(rot, "attention_scaling", 1.0))
    out["rotary_dim"] = int(got.size * 2)
    out["head_dim"] = int(cfg.head_dim)
    if got.shape != want.shape:
        out["ok"] = False
        out["error"] = f"inv_freq has {got.size} entries, reference {want.size} (head_dim {cfg.head_dim})"
        return out
    rel = float(np.max(np.abs(got - want) / np.abs(want)))
    out["inv_freq_max_rel_diff"] = rel
    out["ok"] = bool(rel < 1e-5 and abs(out["attention_scaling"] - 1.0) < 1e-6)
    return out


def _mask(lengths: Sequence[int], L: int, attn: str, dtype, device, causal: bool = False):
    """4-D mask [n, 1, L, L]: query i of row r attends key j iff j < lengths[r] (and j <= i when causal)."""
    import torch

    lens = torch.tensor(list(lengths), device=device)
    key_ok = torch.arange(L, device=device)[None, :] < lens[:, None]           # [n, L]
    m = key_ok[:, None, None, :].expand(len(lengths), 1, L, L)
    if causal:
        m = m & torch.ones(L, L, dtype=torch.bool, device=device).tril()[None, None]
    m = m.contiguous()
    if attn == "eager":
        zero = torch.zeros((), dtype=dtype, device=device)
        return torch.where(m, zero, torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=device))
    return m


def forward_padded(model, id_lists: Sequence[Sequence[int]], device: str = "cuda", causal: bool = False,
                   pad_id: int = 0):
    """Final hidden states [n, L, hidden] (model dtype) of a right-padded batch with our 4-D mask."""
    import torch

    lengths = [len(x) for x in id_lists]
    L = max(lengths)
    ids = torch.full((len(id_lists), L), pad_id, dtype=torch.long)
    for r, x in enumerate(id_lists):
        ids[r, :len(x)] = torch.tensor(list(x), dtype=torch.long)
    ids = ids.to(device)
    pos = torch.arange(L, device=device)[None, :].expand(len(id_lists), L)
    dtype = next(model.parameters()).dtype
    attn = getattr(model.config, "_attn_implementation", "sdpa") or "sdpa"
    mask = _mask(lengths, L, attn, dtype, device, causal)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    return out.last_hidden_state


def pooled_means(hidden, lengths: Sequence[int], pool_starts: Sequence[int]):
    """Mean over [pool_start, len) of each row in float32 (numpy [n, hidden]); no L2 normalization."""
    import torch

    rows = []
    for r, (n, ps) in enumerate(zip(lengths, pool_starts)):
        rows.append(hidden[r, ps:n].to(torch.float32).sum(dim=0) / float(n - ps))
    return torch.stack(rows).cpu().numpy()


def hf_pooled(model, seqs: Sequence[Tuple[Sequence[int], int]], device: str = "cuda",
              max_batch_tokens: int = 1 << 16):
    """Pooled means [n, hidden] of (ids, pool_start) sequences, padded batches of <= max_batch_tokens (padded)."""
    import numpy as np

    order = list(range(len(seqs)))
    out = [None] * len(seqs)
    i = 0
    while i < len(order):
        j = i + 1
        L = len(seqs[order[i]][0])
        while j < len(order) and max(L, len(seqs[order[j]][0])) * (j - i + 1) <= max_batch_tokens:
            L = max(L, len(seqs[order[j]][0]))
            j += 1
        chunk = [seqs[k] for k in order[i:j]]
        h = forward_padded(model, [c[0] for c in chunk], device)
        pooled = pooled_means(h, [len(c[0]) for c in chunk], [int(c[1]) for c in chunk])
        for k, v in zip(order[i:j], pooled):
            out[k] = v
        i = j
    return np.stack(out).astype(np.float32)


def prove_bidirectional(model, ids: Sequence[int], vocab: int, device: str = "cuda") -> Dict[str, object]:
    """Changes the last token; position 0's final hidden state must move with our mask and must not move under a
    causal 4-D mask (control). Returns the max abs changes."""
    import torch

    ids = list(ids)
    if len(ids) < 2:
        return {"ok": False, "error": "need a sequence of at least 2 tokens"}
    changed = ids[:-1] + [(ids[-1] + 1) % vocab]
    res: Dict[str, object] = {"probe_length": len(ids)}
    for name, causal in (("bidirectional", False), ("causal_control", True)):
        a = forward_padded(model, [ids], device, causal=causal)[0, 0].float()
        b = forward_padded(model, [changed], device, causal=causal)[0, 0].float()
        res[f"{name}_max_abs_change_pos0"] = float(torch.max(torch.abs(a - b)).item())
    bi = res["bidirectional_max_abs_change_pos0"]
    ca = res["causal_control_max_abs_change_pos0"]
    res["ok"] = bool(bi > 0.0 and bi > 10.0 * ca)
    return res


def free_cuda(*objs) -> None:
    import gc

    for o in objs:
        del o
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass
