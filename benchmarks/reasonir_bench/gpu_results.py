"""The GPU benchmark's results in the suite's schema ("reasonir-bench/1", SCHEMA.md): gpu_bench.py builds them
with build() from its own data and writes OUT/results.json, rendered by the report package like any CPU run, so that GPU
and CPU reports read alike.

What maps where (everything else is null or left out, never made up):
  machine      env step record: GPU name / driver / memory / compute capability (nvidia-smi), python, torch,
               transformers, CUDA of torch, nvcc, nproc (-> threads), git head; name = the GPU name as gpu-check.sh
               slugs it
  ceiling      bench gemm_ceiling.gemm_tflops x 1000 (bench_cuda_ops --gemm-ceiling or torch.matmul bf16);
               datasheet 989 TFLOP/s (flops.BF16_PEAK_TFLOPS) on an H100 SXM / H200 only
  checkpoints  bench model (config.json) + checkpoint (generate_checkpoint.py: out, bytes); with an extrapolation,
               also the extrapolated model ("extrapolated": true, no size)
  embed        bench ours (bench_embed per S) + hf.throughput (hf_bench.py) + table (combine_table); then the
               extrapolated rows (bench extrapolated.rows), checkpoint "<layers-N> extrapolated", "extrapolated_from"
               then the rows of attention sm90 end to end (bench ours_sm90 + table_sm90, extrapolated.rows_sm90),
               checkpoint "<name> attention sm90", "attention": "sm90", "sm90_over_sm80" (a refused kernel: no row)
  latency      bench ours_latency + hf.latency, then the extrapolated latency
  open         the first ours row with load_s (rir_open wall time) and load_gbps
  errors       bench errors and per-row errors/skips; the summary of every other failed step recorded before it
  gpu_check    (an addition to the schema) the check that ran the benchmark and its step records so far
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from reasonir_bench import flops
from reasonir_bench.report import SCHEMA

# H100 SXM bf16 dense peak (also the H200's), GFLOP/s
DATASHEET_GFLOPS = flops.BF16_PEAK_TFLOPS * 1e3


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


def _machine(meta: Dict[str, Any], env: Dict[str, Any], bench: Dict[str, Any]) -> Dict[str, Any]:
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
            ", measured by the GPU benchmark (gpu_bench.py)"
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
            f"{hf.get('attn') or 'n/a'}, torch {_version(env.get('torch')) or 'n/a'} (hf_bench.py: "
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


def extrapolated_name(layers: Any) -> str:
    """The checkpoint name of the extrapolated model's rows: every table and plot legend says "extrapolated"."""
    return f"layers-{layers} extrapolated"


def _extrapolated(bench: Dict[str, Any], ck: Optional[Dict[str, Any]], ceiling_gflops: Optional[float],
                  precision: Any) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]], Optional[Dict[str, Any]],
                                           List[Tuple[str, str]]]:
    """(checkpoint, embed rows, latency row, errors) of bench data "extrapolated" (gpu_bench.extrapolate): the deep
    model's figures computed from the timed shallow ones, labelled as such; (None, [], None, []) without it."""
    ex = bench.get("extrapolated") if isinstance(bench.get("extrapolated"), dict) else None
    if not ex:
        return None, [], None, []
    layers = ex.get("layers")
    name = extrapolated_name(layers)
    model = ex.get("model") if isinstance(ex.get("model"), dict) else {}
    frm = list(ex.get("from_layers") or [])
    ck_x = dict(ck or {}, name=name, layers=_first(model.get("num_hidden_layers"), layers), bytes=None,
                extrapolated=True, extrapolated_from=frm)
    rows, errors = [], []
    for r in ex.get("rows") or []:
        if not isinstance(r, dict) or _num(r.get("seq_len")) is None:
            continue
        S = int(r["seq_len"])
        tpc = _num(r.get("tokens_per_call"))
        ours = {"tokens_per_s": _num(r.get("ours_tokens_per_s")), "gflops": _scale(r.get("ours_tflops"), 1e3),
                "mean_ms": None if r.get("ours_error") else _num(r.get("ours_ms")), "iters": None}
        peer = None
        if _num(r.get("hf_tokens_per_s")) is not None:
            peer = {"tokens_per_s": _num(r["hf_tokens_per_s"]), "gflops": _scale(r.get("hf_tflops"), 1e3),
                    "mean_ms": None if r.get("hf_error") else _num(r.get("hf_ms")), "iters": None}
        rows.append({"checkpoint": name, "seq_len": S, "batch_tokens": None if tpc is None else int(tpc),
                     "n_seqs": None if tpc is None else max(1, int(tpc) // S), "precision": precision,
                     "ours": ours, "peer": peer,
                     "ratio": _num(_first(r.get("ours_over_hf"), _ratio(ours["tokens_per_s"],
                                                                        (peer or {}).get("tokens_per_s")))),
                     "fraction_of_ceiling": _ratio(ours["gflops"], ceiling_gflops), "extrapolated_from": frm})
        for who in ("ours", "hf"):
            err = str(r.get(f"{who}_error") or "")
            if err.startswith("per-layer time"):  # the fit itself failed (a missing measurement is reported above)
                errors.append(("embed", f"extrapolated S={S}: {'ours' if who == 'ours' else 'peer'}: {err}"))
    lat = ex.get("latency") if isinstance(ex.get("latency"), dict) else {}
    lat_row = None
    o_ms = None if lat.get("ours_error") else _num(lat.get("ours_ms"))
    h_ms = None if lat.get("hf_error") else _num(lat.get("hf_ms"))
    if o_ms is not None or h_ms is not None:
        lat_row = {"checkpoint": name, "tokens": lat.get("tokens"),
                   "ours": None if o_ms is None else {"mean_ms": o_ms, "p50_ms": None, "p99_ms": None, "n": None},
                   "peer": None if h_ms is None else {"mean_ms": h_ms, "p50_ms": None, "p99_ms": None, "n": None},
                   "ratio": _ratio(h_ms, o_ms), "extrapolated_from": frm}
    return ck_x, rows, lat_row, errors


def kernel_name(checkpoint: Any, kernel: str = "sm90") -> str:
    """The checkpoint label of the rows timed with another attention kernel: a line of its own in tables and plots."""
    return f"{checkpoint} attention {kernel}"


def _sm90_rows(bench: Dict[str, Any], ck_name: Optional[str], ceiling_gflops: Optional[float], precision: Any,
               hf_by_s: Dict[int, Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[Tuple[str, str]]]:
    """(embed rows, errors) of attention sm90 end to end: the measured rows of the deepest checkpoint (bench
    ours_sm90, table_sm90) and the extrapolated ones (extrapolated.rows_sm90, computed by gpu_bench.extrapolate_kernel
    with the default rows' fit). peer: the same HF measurement as the default rows of that S. A row the engine refused
    (sm90_skip) or that failed has no figures and no row; a failed fit is an error (the run's own failure is already
    one of the bench errors)."""
    table = {int(r["seq_len"]): r for r in bench.get("table_sm90") or [] if isinstance(r, dict) and "seq_len" in r}
    rows: List[Dict[str, Any]] = []
    errors: List[Tuple[str, str]] = []
    for o in bench.get("ours_sm90") or []:
        if not isinstance(o, dict) or _num(o.get("seq_len")) is None or _num(o.get("tokens_per_s")) is None \
                or o.get("error") or o.get("skip"):
            continue
        S = int(o["seq_len"])
        t, h = table.get(S, {}), hf_by_s.get(S, {})
        ours = {"tokens_per_s": _num(o["tokens_per_s"]), "gflops": _scale(_first(t.get("sm90_tflops"),
                                                                                   o.get("tflops")), 1e3),
                "mean_ms": _num(_first(o.get("mean_ms"), o.get("ms_per_call"))), "iters": None}
        peer = None
        if _num(h.get("tokens_per_s")) is not None:
            peer = {"tokens_per_s": _num(h["tokens_per_s"]), "gflops": None, "mean_ms": _num(h.get("ms_per_call")),
                    "iters": h.get("iters")}
        bt = _num(o.get("batch_tokens"))
        rows.append({"checkpoint": kernel_name(ck_name), "seq_len": S, "batch_tokens": None if bt is None else int(bt),
                     "n_seqs": o.get("n_seqs") or (None if bt is None else max(1, int(bt) // S)),
                     "precision": o.get("precision") or precision, "attention": "sm90", "ours": ours, "peer": peer,
                     "ratio": _ratio(ours["tokens_per_s"], (peer or {}).get("tokens_per_s")),
                     "sm90_over_sm80": _num(t.get("sm90_over_sm80")),
                     "fraction_of_ceiling": _ratio(ours["gflops"], ceiling_gflops)})
    ex = bench.get("extrapolated") if isinstance(bench.get("extrapolated"), dict) else {}
    hf_x = {int(r["seq_len"]): r for r in ex.get("rows") or [] if isinstance(r, dict) and "seq_len" in r}
    name = kernel_name(extrapolated_name(ex.get("layers")))
    for r in ex.get("rows_sm90") or []:
        if not isinstance(r, dict) or _num(r.get("seq_len")) is None:
            continue
        S = int(r["seq_len"])
        err = str(r.get("sm90_error") or "")
        if err.startswith("per-layer time"):
            errors.append(("embed", f"extrapolated attention sm90 S={S}: {err}"))
        tps = _num(r.get("sm90_tokens_per_s"))
        if tps is None or r.get("sm90_skip"):
            continue
        h = hf_x.get(S, {})
        h_tps = _num(h.get("hf_tokens_per_s"))
        tpc = _num(r.get("tokens_per_call"))
        ours = {"tokens_per_s": tps, "gflops": _scale(r.get("sm90_tflops"), 1e3), "mean_ms": _num(r.get("sm90_ms")),
                "iters": None}
        peer = None if h_tps is None else {"tokens_per_s": h_tps, "gflops": _scale(h.get("hf_tflops"), 1e3),
                                           "mean_ms": None if h.get("hf_error") else _num(h.get("hf_ms")),
                                           "iters": None}
        rows.append({"checkpoint": name, "seq_len": S, "batch_tokens": None if tpc is None else int(tpc),
                     "n_seqs": None if tpc is None else max(1, int(tpc) // S), "precision": precision,
                     "attention": "sm90", "ours": ours, "peer": peer, "ratio": _ratio(tps, h_tps),
                     "sm90_over_sm80": _num(r.get("sm90_over_sm80")),
                     "fraction_of_ceiling": _ratio(ours["gflops"], ceiling_gflops),
                     "extrapolated_from": list(r.get("from_layers") or ex.get("from_layers") or [])})
    return rows, errors


def build(bench: Dict[str, Any], env: Optional[Dict[str, Any]] = None, meta: Optional[Dict[str, Any]] = None,
          steps: Optional[List[Dict[str, Any]]] = None, started: Optional[str] = None,
          elapsed: Optional[float] = None) -> Dict[str, Any]:
    """results.json (dict) of one GPU benchmark: bench = gpu_bench's data, env = the env step's data, meta = the
    check's --meta values (gpu, command, mode), steps = the check's step records so far (their failures are listed
    under errors), started / elapsed = the benchmark's own."""
    bench = bench if isinstance(bench, dict) else {}
    env = env if isinstance(env, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    steps = [s for s in steps or [] if isinstance(s, dict)]
    hf = bench.get("hf") if isinstance(bench.get("hf"), dict) else {}
    machine = _machine(meta, env, bench)
    ceiling = _ceiling(bench, machine.get("gpu"))
    ck = _checkpoint(bench)
    ck_name = ck["name"] if ck else None

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
    precision = next((r.get("precision") for r in ours_rows if r.get("precision")), None)
    ck_x, x_rows, x_lat, x_errors = _extrapolated(bench, ck, ceiling["gflops"], precision)
    errors += x_errors
    k_rows, k_errors = _sm90_rows(bench, ck_name, ceiling["gflops"], precision, hf_by_s)
    errors += k_errors
    if rows or bench.get("ours") is not None:
        embed: Dict[str, Any] = {"peer": _peer_text(bench, env), "rows": rows + x_rows + k_rows}
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
    if x_lat is not None:
        suites.setdefault("latency", {"rows": []})["rows"].append(x_lat)
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

    # failed steps of the check so far ---------------------------------------------------------------------------
    for s in steps:
        if s.get("status") not in ("fail", "error") or s.get("step") == "bench":
            continue  # the bench's own errors are the detailed ones above
        msg = str(s.get("summary") or "")
        if s.get("error"):
            first_line = next((ln for ln in str(s["error"]).splitlines() if ln.strip()), "")
            msg += (": " if msg else "") + first_line
        errors.append((str(s.get("step")), _short(msg or s.get("status"))))

    seen = set()
    err_list = []
    for e in errors:
        if e not in seen:
            seen.add(e)
            err_list.append({"suite": e[0], "message": e[1]})

    results: Dict[str, Any] = {
        "schema": SCHEMA,
        "started": started,
        "elapsed_s": _num(elapsed),
        "command": (str(meta["command"]).strip() if meta.get("command") else None),
        "mode": meta.get("mode"),
        "device": "cuda",
        "machine": machine,
        "ceiling": ceiling,
        "checkpoints": [c for c in (ck, ck_x) if c],
        "suites": suites,
        "errors": err_list,
    }
    if steps:
        results["gpu_check"] = {
            "tool": "benchmarks/gpu-check.sh", "report": meta.get("check_report"),
            "steps": [{"step": s.get("step"), "status": s.get("status"), "summary": s.get("summary")} for s in steps],
        }
    return results


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
