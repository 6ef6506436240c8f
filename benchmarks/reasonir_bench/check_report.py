#!/usr/bin/env python3
"""Merges the GPU check's per-step JSON records (STEPS_DIR/<step>.json, see common.py) into OUT/report.json and
OUT/report.md, and prints a short summary table.

    PYTHONPATH=benchmarks python3 -m reasonir_bench.check_report --steps-dir DIR --out-dir OUT [--meta key=value ...]
        [--total-elapsed S]

A step that never wrote its record shows as "missing". Overall: "pass" when every recorded step passed or was
skipped, "fail" otherwise.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from typing import Any, Dict, List, Optional

from reasonir_bench import common, flops
from reasonir_bench.report.results import cell, md_table as table

STEP_ORDER = ["env", "build", "header", "fixtures", "ctest", "parity", "bench", "sanitizer", "java"]
STEP_TITLES = {
    "env": "Environment", "build": "Build", "header": "cuBLASLt header check", "fixtures": "Fixtures",
    "ctest": "Native tests (ctest)", "sanitizer": "compute-sanitizer", "parity": "Parity vs HF transformers",
    "bench": "Benchmark vs HF transformers", "java": "Java smoke (optional)",
}


def load_steps(steps_dir: str) -> List[Dict[str, Any]]:
    recs: Dict[str, Dict[str, Any]] = {}
    if os.path.isdir(steps_dir):
        for fn in sorted(os.listdir(steps_dir)):
            if not fn.endswith(".json"):
                continue
            path = os.path.join(steps_dir, fn)
            try:
                rec = common.read_json_file(path)
                if not isinstance(rec, dict) or "status" not in rec:
                    raise ValueError("not a step record")
            except (OSError, ValueError) as exc:
                rec = {"step": fn[:-5], "status": "error", "summary": "unreadable record",
                       "error": f"{type(exc).__name__}: {exc}", "data": {}}
            recs[rec.get("step") or fn[:-5]] = rec
    ordered = [n for n in STEP_ORDER if n in recs] + sorted(n for n in recs if n not in STEP_ORDER)
    return [recs[n] for n in ordered]


def build_report(steps: List[Dict[str, Any]], meta: Optional[Dict[str, Any]] = None,
                 expected: Optional[List[str]] = None) -> Dict[str, Any]:
    """The verdict: fail when a step failed (or broke); else incomplete when a step did not run to its end or an
    expected step left no record (a run cut off by an outside limit); else pass. Incomplete is never fail."""
    present = {s["step"] for s in steps}
    missing = [n for n in (expected or []) if n not in present]
    bad = [s["step"] for s in steps if s.get("status") in ("fail", "error")]
    unfinished = [s["step"] for s in steps if s.get("status") == "incomplete"]
    overall = "fail" if bad else "incomplete" if (unfinished or missing) else "pass"
    return common.sanitize({
        "generated_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "overall": overall, "failed_steps": bad, "incomplete_steps": unfinished, "missing_steps": missing,
        "meta": meta or {}, "steps": steps,
    })


EXIT_CODES = {"pass": 0, "fail": 1, "incomplete": 3}


# ---------------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------------
def f(v, spec: str = ".3g", na: str = "n/a") -> str:
    if v is None:
        return na
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return format(v, spec)
    return str(v)


def step_by_name(report: Dict[str, Any], name: str) -> Optional[Dict[str, Any]]:
    for s in report.get("steps", []):
        if s.get("step") == name:
            return s
    return None


def code_block(text: str, limit: int = 3000) -> str:
    return "```\n" + common.tail_text(text, limit).replace("```", "'''") + "\n```"


def render_md(report: Dict[str, Any]) -> str:
    meta = report.get("meta", {})
    L: List[str] = []
    L.append(f"# ReasonIR GPU check: {report['overall'].upper()}")
    L.append("")
    L.append(f"Generated {report['generated_at']}; GPU {meta.get('gpu', 'n/a')}; total {f(meta.get('total_elapsed_s'), '.1f')} s"
             f" (budget {f(meta.get('budget_s'), '.0f')} s); mode {meta.get('mode', 'full')}; command "
             f"`{meta.get('command', 'benchmarks/gpu-check.sh')}`.")
    L.append("")
    L.append("## Steps")
    rows = [[STEP_TITLES.get(s["step"], s["step"]), s.get("status", "?").upper(), f(s.get("elapsed_s"), ".1f"),
             s.get("summary", "")] for s in report["steps"]]
    for m in report.get("missing_steps", []):
        rows.append([STEP_TITLES.get(m, m), "MISSING", "n/a", "no record written: not run (the run was cut off)"])
    L.append(table(["step", "status", "elapsed (s)", "summary"], rows))
    not_run = report.get("incomplete_steps", []) + report.get("missing_steps", [])
    if not_run:
        L.append("")
        L.append("Not run to the end (INCOMPLETE is not a failure: time budget, a missing package, or a run cut off "
                 "from outside): " + ", ".join(STEP_TITLES.get(n, n) for n in not_run) +
                 ". Rerun them with `--steps " + ",".join(n for n in not_run) + "`.")

    env = step_by_name(report, "env")
    if env:
        d = env.get("data", {})
        L += ["", "## Environment", ""]
        L.append(table(["item", "value"], [[k, d[k]] for k in sorted(d) if not isinstance(d[k], (dict, list))]))

    b = step_by_name(report, "build")
    if b:
        d = b.get("data", {})
        L += ["", "## Build", "", f"Status {b['status']}: {b.get('summary', '')}; build time "
              f"{f(d.get('build_s'), '.1f')} s."]

    h = step_by_name(report, "header")
    if h:
        L += ["", "## cuBLASLt header check", "", f"{h['status'].upper()}: {h.get('summary', '')}"]

    c = step_by_name(report, "ctest")
    if c:
        d = c.get("data", {})
        L += ["", "## Native tests", "", f"{f(d.get('passed'), 'd')} passed, {f(d.get('failed'), 'd')} failed of "
              f"{f(d.get('total'), 'd')} (`ctest -R '{d.get('regex', '')}'`)."]
        if d.get("failed_tests"):
            L.append("Failed: " + ", ".join(d["failed_tests"]))

    sn = step_by_name(report, "sanitizer")
    if sn:
        d = sn.get("data", {})
        L += ["", "## compute-sanitizer", ""]
        tools = d.get("tools", {})
        L.append(table(["tool", "status", "rc", "elapsed (s)", "summary line"],
                       [[t, v.get("status"), v.get("rc"), f(v.get("elapsed_s"), ".1f"), v.get("summary_line", "")]
                        for t, v in tools.items()]) if tools else "(no tool ran)")

    p = step_by_name(report, "parity")
    if p:
        L += ["", "## Parity (pooled means before L2 normalization; per-vector cosine)", ""]
        cfgs = p.get("data", {}).get("configs", [])
        rows = []
        for r in cfgs:
            cmp = r.get("compare", {})

            def pair(k):
                x = cmp.get(k)
                if not x or x.get("min_cosine") is None:
                    return "n/a"
                return f"{x['min_cosine']:.6f} / {x['max_abs_diff']:.3g}"
            bid = r.get("bidirectional") or {}
            rope = r.get("hf_rope") or {}
            rows.append([r.get("config"), f"{r.get('sequences', 'n/a')} / {r.get('tokens', 'n/a')}",
                         pair("ours_vs_hf"), pair("hf_vs_ref_fp32"), pair("ours_vs_ref_fp32"),
                         pair("ours_vs_ref_bf16"),
                         f"{f(bid.get('bidirectional_max_abs_change_pos0'))} (causal {f(bid.get('causal_control_max_abs_change_pos0'))})",
                         f(rope.get("ok")),
                         "skipped" if r.get("skipped") else ("PASS" if r.get("pass") else "FAIL")])
        L.append(table(["config", "seqs / tokens", "ours vs HF: min cos / max abs", "HF vs fp32 ref",
                        "ours vs fp32 ref", "ours vs bf16 ref", "HF pos-0 change (last token changed)",
                        "HF RoPE = ref", "result"], rows))
        L.append("")
        L.append(f"Pass: min cosine >= {p.get('data', {}).get('min_cosine_required', 0.9995)} for ours vs HF and ours "
                 "vs the fp32 reference. The pos-0 change proves HF ran bidirectionally (the causal control must be 0).")
        if p.get("data", {}).get("hf_not_run"):
            L.append(f"HF transformers was not run ({p['data']['hf_not_run']}): ours was compared with the project's "
                     "fp32 and bf16 references only.")
        wf_rows = []
        for r in cfgs:
            wf = r.get("workflow") or {}
            if wf:
                def same(k):
                    x = wf.get(k) or {}
                    if not x:
                        return "n/a"
                    return (f"{'equal bits' if x.get('equal_bits') else 'differ'}; max abs {f(x.get('max_abs_diff'))}; "
                            f"min cos {f(x.get('min_cosine'), '.7f')}")
                wf_rows.append([r.get("config"), same("determinism"), same("batch_invariance"), same("two_handles")])
        if wf_rows:
            L += ["", "What the retrieval workflow relies on (ours): the same call twice (must be equal bits: index "
                  "resume assumes it), each sequence alone vs in the batch, and the same batch on a second handle "
                  "(min cosine >= 0.9999; on a GPU cuBLASLt may pick other kernels for other row counts):", ""]
            L.append(table(["config", "same call twice", "alone vs in the batch", "second handle"], wf_rows))
        L += parity_kernels_md(p.get("data", {}))
        for r in cfgs:
            for e in r.get("errors", []) or []:
                L.append(f"- {r.get('config')}: {cell(e[:400])}")
            for n in r.get("notes", []) or []:
                L.append(f"- {r.get('config')} note: {cell(n)}")

    bn = step_by_name(report, "bench")
    if bn:
        d = bn.get("data", {})
        L += ["", "## Benchmark (bf16, same GPU, sequential)", ""]
        ceil = (d.get("gemm_ceiling") or {})
        L.append(f"Model: {json.dumps(d.get('model', {}))}. GEMM ceiling {f(ceil.get('gemm_tflops'), '.0f')} TFLOP/s "
                 f"({ceil.get('source', 'n/a')}); bf16 dense peak {flops.BF16_PEAK_TFLOPS:.0f} TFLOP/s.")
        if d.get("runs"):
            L.append("The same figures in the benchmark suite's format (extrapolated rows labelled): `bench/report.md` "
                     "and `bench/results.json` next to this report.")
        ex = d.get("extrapolated") or {}
        if ex.get("rows"):
            la, lb = (ex.get("from_layers") or ["?", "?"])[:2]
            L += ["", f"**Extrapolated, not measured:** {ex.get('layers')} layers from the {la}- and {lb}-layer runs "
                      f"(per layer = (T({lb}) - T({la})) / ({lb} - {la}); T(N) = T({la}) + (N - {la}) x per layer):", ""]
            L.append(table(["S", "ours ms per layer", "ours other ms", f"ours T({ex.get('layers')}) ms", "ours tok/s",
                            "ours TFLOP/s", "ours % GEMM ceiling", "HF ms per layer", "HF tok/s", "ours / HF", "note"],
                           [[r["seq_len"], f(r.get("ours_per_layer_ms"), ".2f"), f(r.get("ours_overhead_ms"), ".2f"),
                             f(r.get("ours_ms"), ".1f"), f(r.get("ours_tokens_per_s"), ".0f"),
                             f(r.get("ours_tflops"), ".1f"), f(r.get("ours_pct_ceiling"), ".1f"),
                             f(r.get("hf_per_layer_ms"), ".2f"), f(r.get("hf_tokens_per_s"), ".0f"),
                             f(r.get("ours_over_hf"), ".2f"), r.get("ours_error") or r.get("hf_error") or ""]
                            for r in ex["rows"]]))
            lat = ex.get("latency") or {}
            L += ["", f"Batch-1 latency, extrapolated to {ex.get('layers')} layers: ours {f(lat.get('ours_ms'), '.2f')} "
                      f"ms ({f(lat.get('ours_per_layer_ms'), '.3f')} ms per layer), HF {f(lat.get('hf_ms'), '.2f')} ms.",
                  "", f"Measured at {(d.get('model') or {}).get('num_hidden_layers', '?')} layers:"]
        L.append("")
        rows = [[r["seq_len"], f(r.get("ours_tokens_per_s"), ".0f"), f(r.get("ours_tflops"), ".1f"),
                 f(r.get("ours_pct_peak"), ".1f"), f(r.get("ours_pct_ceiling"), ".1f"),
                 f(r.get("hf_tokens_per_s"), ".0f"), f(r.get("hf_tflops"), ".1f"), f(r.get("hf_pct_peak"), ".1f"),
                 f(r.get("ours_over_hf"), ".2f"), r.get("ours_error") or r.get("hf_error") or ""]
                for r in d.get("table", [])]
        L.append(table(["S", "ours tok/s", "ours TFLOP/s", "ours % peak", "ours % GEMM ceiling", "HF tok/s",
                        "HF TFLOP/s", "HF % peak", "ours / HF", "note"], rows))
        L += kernel_e2e_md(d)
        ol = d.get("ours_latency") or {}
        hl = (d.get("hf") or {}).get("latency") or {}
        L += ["", f"Batch-1 latency ({ol.get('seq_len', hl.get('tokens', 32))}-token query, "
                  f"{ol.get('iters', hl.get('calls', 50))} calls):", ""]
        L.append(table(["engine", "mean ms", "p99 ms"],
                       [["ours", f(ol.get("mean_ms"), ".2f"), f(ol.get("p99_ms"), ".2f")],
                        ["HF", f(hl.get("mean_ms"), ".2f"), f(hl.get("p99_ms"), ".2f")]]))
        ck = d.get("checkpoint") or {}
        ours_rows = d.get("ours") or []
        ours_load = next((r.get("load_s") for r in ours_rows if r.get("load_s") is not None), None)
        L += ["", "Load times:", ""]
        L.append(table(["what", "seconds"],
                       [["ours rir_open (bench_embed load_s)", f(ours_load, ".2f")],
                        ["HF from_pretrained to GPU", f((d.get("hf") or {}).get("load_s"), ".2f")],
                        [f"checkpoint generation ({f(ck.get('bytes', 0) / 1e9 if ck.get('bytes') else None, '.1f')} GB"
                         f"{', reused' if ck.get('reused') else ''})", f(ck.get("seconds"), ".1f")]]))
        ops = d.get("per_op_ms")
        if isinstance(ops, dict) and ops:
            L += ["", f"Per-op time of one layer at {d.get('per_op_tokens', 8192)} tokens (ms):", ""]
            flat = [(k, v) for k, v in ops.items() if isinstance(v, (int, float))]
            flat.sort(key=lambda kv: -kv[1])
            L.append(table(["op", "ms"], [[k, f(v, ".3f")] for k, v in flat]))
            L += per_op_kernels_md(ops)
            other = {k: v for k, v in ops.items() if not isinstance(v, (int, float))
                     and k not in ("attention_kernel", "attention_kernels")}
            if other:
                L.append("")
                L.append("Other fields: " + cell(json.dumps(other)[:1500]))
        L += attention_sweep_md(d.get("attention_sweep"))
        L += graph_latency_md(d.get("graph_latency"), (d.get("extrapolated") or {}).get("graph_latency"))
        L += graph_latency_md(d.get("graph_latency_sm90"), (d.get("extrapolated") or {}).get("graph_latency_sm90"),
                              kernel="sm90")
        L += graph_kernels_md(d)
        if d.get("skipped"):
            L += ["", "Not started for lack of time (the step is incomplete): " + ", ".join(map(str, d["skipped"]))]
        if d.get("errors"):
            L += ["", "Benchmark errors:", ""] + [f"- {cell(common.tail_text(e, 500))}" for e in d["errors"]]

    j = step_by_name(report, "java")
    if j:
        L += ["", "## Java smoke", "", f"{j['status'].upper()}: {j.get('summary', '')}"]
        out = j.get("data", {}).get("output")
        if out:
            L.append(code_block(out, 2000))

    errs = [s for s in report["steps"] if s.get("error")]
    if errs:
        L += ["", "## Errors (tails)", ""]
        for s in errs:
            L.append(f"### {STEP_TITLES.get(s['step'], s['step'])}")
            L.append(code_block(s["error"], 2500))
    L.append("")
    return "\n".join(L)


def parity_kernels_md(d: Dict[str, Any]) -> List[str]:
    """Parity per attention kernel: each config's status on each kernel and the further kernels' comparisons."""
    kernels = d.get("attention_kernels") or []
    cfgs = [r for r in d.get("configs", []) if r.get("kernels")]
    if len(kernels) < 2 or not cfgs:
        return []
    first = kernels[0]
    L = ["", f"### Attention kernels ({', '.join(kernels)})", "",
         f"Every config runs with attention {first} (the columns above) and again with each further kernel through "
         f"an explicit `Engine(attention=...)`. A further kernel passes with min cosine >= "
         f"{f(d.get('kernel_min_cosine'), '.4f')} per vector against {first} (the kernels compute the same function "
         f"with the same bf16 rounding points and differ only in the order of fp32 sums), >= "
         f"{f(d.get('min_cosine_required'), '.4f')} against the fp32 reference and HF, and equal bits on a second "
         f"call. skip: the GPU (compute capability {d.get('compute_capability') or 'unknown'}), a head_dim the kernel "
         f"lacks, or a library built without it; the config's verdict is then {first}'s.", ""]
    rows = []
    for r in cfgs:
        for k in kernels:
            e = (r.get("kernels") or {}).get(k)
            if not e:
                continue
            cmp = e.get("compare") or {}
            det = e.get("determinism") or {}
            if k == first:  # the config's own "ours" figures
                rc = r.get("compare") or {}
                cmp = {"vs_ref_fp32": rc.get("ours_vs_ref_fp32"), "vs_hf": rc.get("ours_vs_hf")}
                det = (r.get("workflow") or {}).get("determinism") or {}

            def mc(key):
                c = cmp.get(key) or {}
                return "n/a" if c.get("min_cosine") is None else f"{c['min_cosine']:.6f}"
            rows.append([r.get("config"), k, e.get("status", "?").upper(),
                         "(reference)" if k == first else mc(f"vs_{first}"), mc("vs_ref_fp32"), mc("vs_hf"),
                         "n/a" if not det else ("equal bits" if det.get("equal_bits") else "differ"),
                         cell((e.get("reason") or "")[:300])])
    L.append(table(["config", "kernel", "status", f"min cos vs {first}", "vs fp32 ref", "vs HF", "same call twice",
                    "reason"], rows))
    summ = d.get("kernels") or {}
    if summ:
        L += ["", "Per kernel: " + "; ".join(
            f"{k} {v.get('status', '?').upper()}" + (f" (min cosine vs {first} {v['min_cosine_vs_' + first]:.6f})"
                                                     if v.get("min_cosine_vs_" + first) is not None else "")
            for k, v in summ.items()) + "."]
    return L


def per_op_kernels_md(ops: Dict[str, Any]) -> List[str]:
    ks = ops.get("attention_kernels")
    if not isinstance(ks, dict) or not ks:
        return []
    L = ["", f"The attention op of that layer per kernel (the table's row is {ops.get('attention_kernel', 'the first')}; "
             "the other ops do not depend on the kernel):", ""]
    L.append(table(["kernel", "status", "attention ms", "attention TFLOP/s", "layer ms", "reason"],
                   [[k, v.get("status"), f(v.get("attention_ms"), ".3f"), f(v.get("attention_tflops"), ".1f"),
                     f(v.get("layer_ms"), ".3f"), cell(v.get("reason") or "")] for k, v in ks.items()]))
    return L


def attention_sweep_md(sw: Optional[Dict[str, Any]]) -> List[str]:
    if not isinstance(sw, dict) or not sw.get("rows"):
        return []
    peak = sw.get("peak_tflops")
    L = ["", f"### Attention kernels alone (`bench_cuda_ops --attention-sweep`)", "",
         f"{sw.get('heads')} query heads, {sw.get('kv_heads')} kv heads, head_dim {sw.get('head_dim')}"
         f"{' (8B-shaped)' if (sw.get('heads'), sw.get('kv_heads'), sw.get('head_dim')) == (32, 8, 128) else ''}; "
         f"a packed varlen batch of {sw.get('batch_tokens')}/S sequences of length S while S <= "
         f"{sw.get('batch_tokens')}, one sequence above. FLOPs = 4 x S^2 x head_dim x heads per sequence "
         f"(non-causal QK^T and PV); % of the {f(peak, '.1f')} TFLOP/s dense bf16 peak (H100 SXM); median of "
         f"{sw.get('iters')} runs after a warm-up, CUDA events. Device {sw.get('device', 'n/a')} (compute capability "
         f"{sw.get('compute_capability', 'n/a')}).", ""]
    rows = []
    for r in sw["rows"]:
        layout = f"{r.get('layout')} ({r.get('n_seqs')} x {r.get('seq_len')})"
        rows.append([r.get("kernel"), r.get("seq_len"), layout, f(r.get("tflop"), ".3g"), f(r.get("ms"), ".3f"),
                     f(r.get("tflops"), ".1f"), f(r.get("pct_peak"), ".1f"),
                     r.get("status") if r.get("status") != "ok" else "ok", cell(r.get("reason") or "")])
    L.append(table(["kernel", "S", "layout", "TFLOP", "ms", "TFLOP/s", "% of peak", "status", "reason"], rows))
    return L


def kernel_e2e_md(d: Dict[str, Any]) -> List[str]:
    """Attention sm90 end to end against the default kernel (sm80): bench_embed with REASONIR_ATTENTION=sm90 at the
    same S, depth and batch (table_sm90), and extrapolated like the default rows (extrapolated.rows_sm90)."""
    rows_m = d.get("table_sm90") or []
    if not rows_m:
        return []
    layers = (d.get("model") or {}).get("num_hidden_layers", "?")
    L = ["", "### End to end per attention kernel (sm80 vs sm90)", "",
         f"`bench_embed` with `REASONIR_ATTENTION=sm90` against the rows above (the default kernel, auto = sm80; "
         f"the environment's REASONIR_ATTENTION: {d.get('default_attention') or 'unset'}): same checkpoint, S and "
         "batch, the attention kernel the only difference. sm90 / sm80 > 1: sm90 is faster end to end. skip: the "
         "engine refused sm90 at open (another compute capability than 9.0, a head_dim other than 64 / 128, or a "
         "build without it).", ""]

    def note(r):
        return cell(str(r.get("sm90_skip") and f"skip: {r['sm90_skip']}" or r.get("sm90_error")
                        or r.get("sm80_error") or "")[:300])
    ex = d.get("extrapolated") or {}
    if ex.get("rows_sm90"):
        la, lb = (ex.get("from_layers") or ["?", "?"])[:2]
        L += [f"**Extrapolated, not measured:** {ex.get('layers')} layers from the {la}- and {lb}-layer runs, "
              "each kernel's call time fitted the same way:", ""]
        L.append(table(["S", "sm80 tok/s", "sm90 tok/s", "sm90 / sm80", "sm90 ms per layer",
                        f"sm90 T({ex.get('layers')}) ms", "sm90 TFLOP/s", "sm90 % GEMM ceiling", "note"],
                       [[r["seq_len"], f(r.get("sm80_tokens_per_s"), ".0f"), f(r.get("sm90_tokens_per_s"), ".0f"),
                         f(r.get("sm90_over_sm80"), ".3f"), f(r.get("sm90_per_layer_ms"), ".2f"),
                         f(r.get("sm90_ms"), ".1f"), f(r.get("sm90_tflops"), ".1f"),
                         f(r.get("sm90_pct_ceiling"), ".1f"), note(r)] for r in ex["rows_sm90"]]))
        L += ["", f"Measured at {layers} layers:", ""]
    L.append(table(["S", "sm80 tok/s", "sm90 tok/s", "sm90 / sm80", "sm90 TFLOP/s", "sm90 % peak", "note"],
                   [[r["seq_len"], f(r.get("sm80_tokens_per_s"), ".0f"), f(r.get("sm90_tokens_per_s"), ".0f"),
                     f(r.get("sm90_over_sm80"), ".3f"), f(r.get("sm90_tflops"), ".1f"),
                     f(r.get("sm90_pct_peak"), ".1f"), note(r)] for r in rows_m]))
    return L


def graph_latency_md(gl: Optional[Dict[str, Any]], ex: Optional[Dict[str, Any]],
                     kernel: Optional[str] = None) -> List[str]:
    """The graphs off/on table of graph_latency.py; kernel: the run with --attention kernel (None: the default)."""
    if not isinstance(gl, dict) or not gl.get("rows"):
        return []
    title = f"attention {kernel}" if kernel else "the default attention kernel (auto = sm80)"
    L = ["", f"### Batch-1 latency with CUDA graphs off and on, {title}", "",
         f"One query of N tokens per `rir_embed`, `Engine(cuda_graphs=\"off\")` and `(\"on\")` in the same process, "
         f"alternating, {gl.get('iters')} timed calls each after {gl.get('warmup')} warm-up(s), at "
         f"{gl.get('layers', '?')} layers (measured). Equal bits: the graph's vector is the plain launch's, bit for "
         "bit (expected: the same kernels on the same inputs).", ""]
    if gl.get("skip"):
        L.append(f"skip: the engine refused {kernel or 'the kernel'} at open: {cell(str(gl['skip'])[:300])}")
        return L
    rows = []
    for r in gl["rows"]:
        off, on = r.get("off") or {}, r.get("on") or {}
        rows.append([r.get("tokens"), f(off.get("mean_ms"), ".3f"), f(off.get("p99_ms"), ".3f"),
                     f(on.get("mean_ms"), ".3f"), f(on.get("p99_ms"), ".3f"), f(r.get("speedup"), ".2f"),
                     f(r.get("equal_bits")), cell(r.get("error") or r.get("skipped") or r.get("skip") or "")])
    L.append(table(["tokens", "off mean ms", "off p99 ms", "on mean ms", "on p99 ms", "speedup (off / on)",
                    "equal bits", "note"], rows))
    if isinstance(ex, dict) and ex.get("rows"):
        la, lb = (ex.get("from_layers") or ["?", "?"])[:2]
        L += ["", f"**Extrapolated, not measured:** {ex.get('layers')} layers from the {la}- and {lb}-layer runs:", ""]
        L.append(table(["tokens", "off ms", "on ms", "speedup", "note"],
                       [[r.get("tokens"), f(r.get("off_ms"), ".2f"), f(r.get("on_ms"), ".2f"),
                         f(r.get("speedup"), ".2f"), cell(r.get("off_error") or r.get("on_error") or "")]
                        for r in ex["rows"]]))
    return L


def graph_kernels_md(d: Dict[str, Any]) -> List[str]:
    """The two graphs tables side by side: per length, the mean ms of the default kernel (sm80) and of sm90 with
    graphs off and on, measured and (when there is) extrapolated; sm90 / sm80 < 1: sm90 answers sooner."""
    def measured_ms(gl):
        return {r.get("tokens"): ((r.get("off") or {}).get("mean_ms"), (r.get("on") or {}).get("mean_ms"))
                for r in (gl or {}).get("rows") or []}

    def fitted_ms(gl):
        return {r.get("tokens"): (None if r.get("off_error") else r.get("off_ms"),
                                  None if r.get("on_error") else r.get("on_ms")) for r in (gl or {}).get("rows") or []}
    ex = d.get("extrapolated") or {}
    rows = []
    for depth, base, k in ((f"{(d.get('graph_latency') or {}).get('layers', '?')} measured",
                            measured_ms(d.get("graph_latency")), measured_ms(d.get("graph_latency_sm90"))),
                           (f"{ex.get('layers')} extrapolated", fitted_ms(ex.get("graph_latency")),
                            fitted_ms(ex.get("graph_latency_sm90")))):
        for n, (b_off, b_on) in base.items():
            k_off, k_on = k.get(n, (None, None))
            if k_off is None and k_on is None:
                continue  # sm90 refused, failed or not run: its own table says why
            rows.append([n, depth, f(b_off, ".3f"), f(k_off, ".3f"), f(common.ratio(k_off, b_off), ".3f"),
                         f(b_on, ".3f"), f(k_on, ".3f"), f(common.ratio(k_on, b_on), ".3f")])
    if not rows:
        return []
    return ["", "Batch-1 latency per attention kernel (mean ms; sm90 / sm80 < 1: sm90 answers sooner):", "",
            table(["tokens", "layers", "sm80 off", "sm90 off", "sm90 / sm80 off", "sm80 on", "sm90 on",
                   "sm90 / sm80 on"], rows)]


def summary_text(report: Dict[str, Any]) -> str:
    w = max([len(STEP_TITLES.get(s["step"], s["step"])) for s in report["steps"]] + [10])
    lines = [f"{'step'.ljust(w)}  {'status':7} {'time':>7}  summary"]
    for s in report["steps"]:
        name = STEP_TITLES.get(s["step"], s["step"])
        summ = s.get("summary", "")
        if len(summ) > 110:
            summ = summ[:107] + "..."
        lines.append(f"{name.ljust(w)}  {s.get('status', '?').upper():7} {f(s.get('elapsed_s'), '.1f'):>6}s  {summ}")
    for m in report.get("missing_steps", []):
        lines.append(f"{STEP_TITLES.get(m, m).ljust(w)}  MISSING (no record: not run)")
    lines.append(f"overall: {report['overall'].upper()}")
    not_run = report.get("incomplete_steps", []) + report.get("missing_steps", [])
    if report["overall"] == "incomplete":
        lines.append("not run to the end: " + ", ".join(STEP_TITLES.get(n, n) for n in not_run) +
                     " (rerun them with --steps)")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="merge GPU check step records into report.md / report.json")
    ap.add_argument("--steps-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--expect", default="", help="comma-separated steps that must have a record")
    args = ap.parse_args(argv)
    meta: Dict[str, Any] = {}
    for kv in args.meta:
        if "=" in kv:
            k, v = kv.split("=", 1)
            meta[k] = common.parse_value(v)
    steps = load_steps(args.steps_dir)
    report = build_report(steps, meta, [s for s in args.expect.split(",") if s])
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True)
        fh.write("\n")
    with open(os.path.join(args.out_dir, "report.md"), "w", encoding="utf-8") as fh:
        fh.write(render_md(report))
    print(summary_text(report))
    return EXIT_CODES.get(report["overall"], 1)


if __name__ == "__main__":
    sys.exit(main())
