#!/usr/bin/python3
"""Converts the GPU check's report.json (benchmarks/gpu-check.sh -> benchmarks/gpu/report.py) into the suite's
results.json (schema "reasonir-bench/1", SCHEMA.md) and writes report.md + plots with report.py, so that GPU and CPU
reports read alike.

    /usr/bin/python3 benchmarks/suite/from_gpu_check.py --report path/to/gpu-check/report.json --out DIR [--no-plots]

What maps where (everything else is null or left out, never made up):
  machine      env step: GPU name / driver / memory / compute capability (nvidia-smi), python, torch, transformers,
               CUDA of torch, nvcc, nproc (-> threads), git head; name = the GPU name as gpu-check.sh slugs it
  ceiling      bench data.gemm_ceiling.gemm_tflops x 1000 (bench_cuda_ops --gemm-ceiling or torch.matmul bf16);
               datasheet 989 TFLOP/s (benchmarks/gpu/common.py BF16_PEAK_TFLOPS) on an H100 SXM / H200 only
  checkpoints  bench data.model (config.json) + data.checkpoint (make_checkpoint.py: out, bytes)
  embed        bench data.ours (bench_embed per S) + data.hf.throughput (hf_bench.py) + data.table (combine_table)
  latency      bench data.ours_latency + data.hf.latency
  open         the first ours row with load_s (rir_open wall time) and load_gbps
  errors       bench data.errors and per-row errors/skips; the summary of every other failed step
  converted_from  (an addition to the schema) the source report, its overall status and its steps
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))

# benchmarks/gpu/common.py BF16_PEAK_TFLOPS: H100 SXM bf16 dense peak (also the H200's), GFLOP/s
DATASHEET_GFLOPS = 989000.0
SCHEMA = "reasonir-bench/1"


def _load_report_module():
    """report.py next to this file, loaded by path (benchmarks/gpu has a report.py of its own)."""
    name = "reasonir_suite_report"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "report.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _scale(v: Any, k: float) -> Optional[float]:
    v = _num(v)
    return None if v is None else v * k


def _ratio(a: Any, b: Any) -> Optional[float]:
    a, b = _num(a), _num(b)
    return None if a is None or b is None or b == 0 else a / b


def _first(*vals: Any) -> Any:
    for v in vals:
        if v is not None and v != "":
            return v
    return None


def _short(text: Any, limit: int = 400) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _step(report: Dict[str, Any], name: str) -> Optional[Dict[str, Any]]:
    for s in report.get("steps") or []:
        if isinstance(s, dict) and s.get("step") == name:
            return s
    return None


def _data(step: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    d = (step or {}).get("data")
    return d if isinstance(d, dict) else {}


def slug(name: str) -> str:
    """gpu-check.sh's GPU_SLUG: lower case, runs of other characters -> '-'."""
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")


def _version(v: Any) -> Optional[str]:
    """A package version from the env step; 'missing (...)' -> None."""
    if v is None or (isinstance(v, str) and (not v or v.startswith("missing"))):
        return None
    return str(v)


def datasheet_for(gpu: Optional[str]) -> Optional[float]:
    """989 TFLOP/s (bf16 dense) is the H100 SXM / H200 SXM figure the GPU check uses; other GPUs (H100 PCIe/NVL,
    H200 NVL, anything else) have other peaks, so none is claimed for them."""
    g = (gpu or "").upper()
    if ("H100" in g or "H200" in g) and "PCIE" not in g and "NVL" not in g:
        return DATASHEET_GFLOPS
    return None


def _started(generated_at: Optional[str], elapsed: Optional[float]) -> Optional[str]:
    if not generated_at:
        return None
    if elapsed is None:
        return generated_at
    try:
        t = _dt.datetime.fromisoformat(generated_at)
    except ValueError:
        return generated_at
    return (t - _dt.timedelta(seconds=elapsed)).isoformat(timespec="seconds")


def _machine(report: Dict[str, Any], env: Dict[str, Any], bench: Dict[str, Any]) -> Dict[str, Any]:
    meta = report.get("meta") if isinstance(report.get("meta"), dict) else {}
    smi = [p.strip() for p in str(env.get("gpu") or "").split(",")] if env.get("gpu") else []
    gpu = _first(meta.get("gpu"), env.get("torch_device"), smi[0] if smi else None, (bench.get("hf") or {}).get("gpu"))
    ours = [r for r in bench.get("ours") or [] if isinstance(r, dict)]
    backend = next((r.get("backend") for r in ours if r.get("backend")), None)
    precision = next((r.get("precision") for r in ours if r.get("precision")), None)
    m: Dict[str, Any] = {
        "name": slug(str(gpu)) if gpu else "gpu",
        "cpu": None, "cores": None, "threads": _num(env.get("cpu_cores")),
        "memory_gb": None,
        "isa": " ".join(str(x) for x in (backend, precision) if x) or None,
        "gpu": str(gpu) if gpu else None,
        "os": None, "java": None,
        "python": _version(env.get("python")), "torch": _version(env.get("torch")),
        "transformers": _version(env.get("transformers")),
    }
    if isinstance(m["threads"], float) and m["threads"].is_integer():
        m["threads"] = int(m["threads"])
    extras = {"gpu_driver": smi[1] if len(smi) > 1 else None, "gpu_memory": smi[2] if len(smi) > 2 else None,
              "compute_capability": smi[3] if len(smi) > 3 else None, "torch_cuda": env.get("torch_cuda"),
              "nvcc": env.get("nvcc") or None, "git_head": env.get("git_head") or None}
    m.update({k: v for k, v in extras.items() if v not in (None, "")})
    return m


def _ceiling(bench: Dict[str, Any], gpu: Optional[str]) -> Dict[str, Any]:
    gc = bench.get("gemm_ceiling") if isinstance(bench.get("gemm_ceiling"), dict) else {}
    tf = _num(gc.get("gemm_tflops"))
    how = None
    if tf is not None:
        n = _num(gc.get("n"))
        how = f"{gc.get('source') or 'GEMM ceiling'}" + (f": bf16 {n:.0f}x{n:.0f}x{n:.0f} GEMM" if n else "") + \
            ", measured by benchmarks/gpu/bench.py in the GPU check"
    ds = datasheet_for(gpu)
    return {"gflops": None if tf is None else tf * 1e3, "how": how, "fma_peak_gflops": None,
            "datasheet_gflops": ds}


def _checkpoint(bench: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    model = bench.get("model") if isinstance(bench.get("model"), dict) else {}
    ck = bench.get("checkpoint") if isinstance(bench.get("checkpoint"), dict) else {}
    if not model and not ck:
        return None
    layers = _first(model.get("num_hidden_layers"), ck.get("layers"))
    name = os.path.basename(str(ck["out"]).rstrip("/")) if ck.get("out") else (
        f"reasonir-8b-shape-l{layers}" if layers is not None else "gpu-check-model")
    hidden, heads = model.get("hidden_size"), model.get("num_attention_heads")
    head_dim = model.get("head_dim")
    if head_dim is None and isinstance(hidden, int) and isinstance(heads, int) and heads:
        head_dim = hidden // heads  # HF's default, which common.model_dims uses too
    return {"name": name, "hidden": hidden, "layers": layers, "heads": heads,
            "kv_heads": _first(model.get("num_key_value_heads"), heads), "head_dim": head_dim,
            "intermediate": model.get("intermediate_size"), "vocab": model.get("vocab_size"),
            "bytes": ck.get("bytes")}


def _peer_text(bench: Dict[str, Any], env: Dict[str, Any]) -> Optional[str]:
    hf = bench.get("hf")
    if not isinstance(hf, dict):
        return None
    tv = _version(env.get("transformers"))
    return (f"Hugging Face transformers{' ' + tv if tv else ''} LlamaModel, bf16, attention "
            f"{hf.get('attn') or 'n/a'}, torch {_version(env.get('torch')) or 'n/a'} (benchmarks/gpu/hf_bench.py: "
            "padded batches of batch_tokens/S sequences, bidirectional mask), same GPU, own process")


def _errors_of_bench(bench: Dict[str, Any], seq_lens: List[int], latency_len: Optional[int]
                     ) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []
    for e in bench.get("errors") or []:
        e = str(e)
        part, _, msg = e.partition(": ")
        m = re.match(r"ours S=(\d+)", part)
        if m:
            S = int(m.group(1))
            suite = "latency" if (S == latency_len and S not in seq_lens) else "embed"
        elif part == "hf":
            suite = "latency" if msg.startswith("latency") else "embed"
        elif part in ("ceiling", "ops", "checkpoint"):
            suite = part
        else:
            suite = "embed"
        out.append((suite, _short(msg if part == suite and msg else e)))
    return out


def convert(report: Dict[str, Any], source: Optional[str] = None) -> Dict[str, Any]:
    """results.json (dict) from a GPU check report.json (dict)."""
    meta = report.get("meta") if isinstance(report.get("meta"), dict) else {}
    env = _data(_step(report, "env"))
    bench_step = _step(report, "bench")
    bench = _data(bench_step)
    hf = bench.get("hf") if isinstance(bench.get("hf"), dict) else {}
    machine = _machine(report, env, bench)
    ceiling = _ceiling(bench, machine.get("gpu"))
    ck = _checkpoint(bench)
    ck_name = ck["name"] if ck else None
    elapsed = _num(meta.get("total_elapsed_s"))

    errors: List[Tuple[str, str]] = []
    suites: Dict[str, Any] = {}
    ours_rows = [r for r in bench.get("ours") or [] if isinstance(r, dict) and _num(r.get("seq_len")) is not None]
    seq_lens = [int(r["seq_len"]) for r in ours_rows]
    lat = bench.get("ours_latency") if isinstance(bench.get("ours_latency"), dict) else {}
    errors += _errors_of_bench(bench, seq_lens, _num(lat.get("seq_len")) and int(lat["seq_len"]))

    # embed ------------------------------------------------------------------------------------------------------
    table = {int(r["seq_len"]): r for r in bench.get("table") or [] if isinstance(r, dict) and "seq_len" in r}
    hf_by_s = {int(r["seq_len"]): r for r in hf.get("throughput") or [] if isinstance(r, dict) and "seq_len" in r}
    rows = []
    ours_problems = []
    for o in ours_rows:
        S = int(o["seq_len"])
        t, h = table.get(S, {}), hf_by_s.get(S, {})
        ours = {"tokens_per_s": _num(o.get("tokens_per_s")),
                "gflops": _scale(_first(t.get("ours_tflops"), o.get("tflops")), 1e3),
                "mean_ms": _num(_first(o.get("mean_ms"), o.get("ms_per_call"))), "iters": None}
        peer = None
        if _num(h.get("tokens_per_s")) is not None:
            peer = {"tokens_per_s": _num(h["tokens_per_s"]), "gflops": _scale(t.get("hf_tflops"), 1e3),
                    "mean_ms": _num(h.get("ms_per_call")), "iters": h.get("iters")}
        bt = _num(o.get("batch_tokens"))
        n_seqs = o.get("n_seqs")
        if n_seqs is None and bt is not None:
            n_seqs = max(1, int(bt) // S)  # bench_embed's rule
        rows.append({"checkpoint": ck_name, "seq_len": S, "batch_tokens": None if bt is None else int(bt),
                     "n_seqs": n_seqs, "precision": o.get("precision"), "ours": ours, "peer": peer,
                     "ratio": _num(_first(t.get("ours_over_hf"), _ratio(ours["tokens_per_s"],
                                                                        (peer or {}).get("tokens_per_s")))),
                     "fraction_of_ceiling": _ratio(ours["gflops"], ceiling["gflops"])})
        if o.get("error") or o.get("skipped"):
            msg = f"ours S={S}: " + (f"skipped ({o['skipped']})" if o.get("skipped") else _short(o["error"]))
            ours_problems.append(msg)
            errors.append(("embed", msg))
        if h.get("error") or h.get("skipped"):
            errors.append(("embed", f"peer S={S}: " + (f"skipped ({h['skipped']})" if h.get("skipped")
                                                         else _short(h["error"]))))
    if rows or bench.get("ours") is not None:
        embed: Dict[str, Any] = {"peer": _peer_text(bench, env), "rows": rows}
        if ours_problems or not rows:
            embed["error"] = "; ".join(ours_problems) or "no rows"
        suites["embed"] = embed

    # latency ----------------------------------------------------------------------------------------------------
    hl = hf.get("latency") if isinstance(hf.get("latency"), dict) else {}
    o_mean = _num(_first(lat.get("mean_ms"), lat.get("ms_per_call")))
    if o_mean is not None or _num(hl.get("mean_ms")) is not None:
        ours_l = {"mean_ms": o_mean, "p50_ms": _num(lat.get("p50_ms")), "p99_ms": _num(lat.get("p99_ms")),
                  "n": None} if o_mean is not None else None
        peer_l = {"mean_ms": _num(hl.get("mean_ms")), "p50_ms": _num(hl.get("p50_ms")),
                  "p99_ms": _num(hl.get("p99_ms")), "n": hl.get("calls")} if _num(hl.get("mean_ms")) is not None \
            else None
        suites["latency"] = {"rows": [{"checkpoint": ck_name, "tokens": _first(lat.get("seq_len"), hl.get("tokens")),
                                       "ours": ours_l, "peer": peer_l,
                                       "ratio": _ratio((peer_l or {}).get("mean_ms"), o_mean)}]}
    if lat.get("error") or lat.get("skipped"):
        errors.append(("latency", "ours: " + (f"skipped ({lat['skipped']})" if lat.get("skipped")
                                              else _short(lat["error"]))))
    if hl.get("skipped"):
        errors.append(("latency", f"peer: skipped ({hl['skipped']})"))

    # open -------------------------------------------------------------------------------------------------------
    first = next((r for r in ours_rows if _num(r.get("load_s")) is not None), None)
    if first is not None:
        size = (ck or {}).get("bytes")
        suites["open"] = {"rows": [{"checkpoint": ck_name, "bytes": size, "seconds": _num(first["load_s"]),
                                    "gb_per_s": _num(_first(first.get("load_gbps"),
                                                            _ratio(_scale(size, 1e-9), first["load_s"]))),
                                    "cold": None}]}

    # failed steps -----------------------------------------------------------------------------------------------
    bench_detailed = bool(errors)
    for s in report.get("steps") or []:
        if not isinstance(s, dict) or s.get("status") not in ("fail", "error"):
            continue
        if s.get("step") == "bench" and bench_detailed:
            continue  # the detailed bench errors above say it better
        msg = str(s.get("summary") or "")
        if s.get("error"):
            first_line = next((ln for ln in str(s["error"]).splitlines() if ln.strip()), "")
            msg += (": " if msg else "") + first_line
        errors.append((str(s.get("step")), _short(msg or s.get("status"))))
    for m in report.get("missing_steps") or []:
        errors.append((str(m), "no record written (missing step)"))

    seen = set()
    err_list = []
    for e in errors:
        if e not in seen:
            seen.add(e)
            err_list.append({"suite": e[0], "message": e[1]})

    return {
        "schema": SCHEMA,
        "started": _started(report.get("generated_at"), elapsed),
        "elapsed_s": elapsed,
        "command": (str(meta["command"]).strip() if meta.get("command") else None),
        "mode": meta.get("mode"),
        "device": "cuda",
        "machine": machine,
        "ceiling": ceiling,
        "checkpoints": [ck] if ck else [],
        "suites": suites,
        "errors": err_list,
        "converted_from": {
            "tool": "benchmarks/gpu-check.sh", "report": source, "generated_at": report.get("generated_at"),
            "overall": report.get("overall"),
            "steps": [{"step": s.get("step"), "status": s.get("status"), "summary": s.get("summary")}
                      for s in report.get("steps") or [] if isinstance(s, dict)],
        },
    }


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="GPU check report.json -> results.json + report.md + plots")
    ap.add_argument("--report", required=True, help="the GPU check's report.json")
    ap.add_argument("--out", required=True, help="folder for results.json, report.md and the plots")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    try:
        with open(args.report, "r", encoding="utf-8") as f:
            report = json.load(f)
        if not isinstance(report, dict) or not isinstance(report.get("steps"), list):
            raise ValueError("not a GPU check report (no steps list)")
    except (OSError, ValueError) as exc:
        print(f"from_gpu_check.py: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    results = convert(report, args.report)
    os.makedirs(args.out, exist_ok=True)
    out_json = os.path.join(args.out, "results.json")
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, allow_nan=False)
        f.write("\n")
    md, plots = _load_report_module().write_report(results, args.out, plots=not args.no_plots)
    for p in [out_json, md] + plots:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
