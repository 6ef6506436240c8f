#!/usr/bin/python3
"""Turns a benchmark run's results.json (schema "reasonir-bench/1", see SCHEMA.md next to this file) into report.md
and PNG plots in the same folder (or --out DIR).

    /usr/bin/python3 benchmarks/suite/report.py --results DIR/results.json [--out DIR] [--no-plots]

Plots (matplotlib, Agg; written only when the data for them is there):
  embed-throughput.png     tokens/s vs S, ours (solid) vs peer (dashed), log-log, ours/peer annotated at each S
  achieved-vs-ceiling.png  ours' achieved FLOP/s per S as a fraction of the measured ceiling of the row's precision
                           (1.0: fp32 rows against the fp32 kernel, bf16 rows against the BF16 mode's) and the datasheet
  latency.png              batch-1 latency, mean and p99, ours vs peer, by token count (grouped bars, log y)
  server.png               req/s and p50/p99 latency vs concurrent clients

report.md: how it was made (with the ceilings of both precisions and the memory bandwidth), then one section per suite
(embed with its BF16 vs FP32 table, ops: one table per precision, checkpoint and S, and attention vs the GEMMs per ISA;
latency, open, tokenizer, jni, search, server) and the errors. Every figure in report.md comes from results.json;
missing values show as "n/a", "-" marks a cell that does not apply (a memory op's "of ceiling"). The PNGs carry no
software/date metadata, so rendering the same results.json twice gives the same bytes (same matplotlib and FreeType).

Library use (the orchestrator and the tests import this file):
  render_markdown(results, plots=None) -> str       plots: the plot file names to link (None: those the data allows)
  make_plots(results, out_dir) -> [paths]           raises MissingMatplotlib when matplotlib is not installed
  write_report(results, out_dir, plots=True) -> (report.md path, [plot paths])

Stdlib only at import time; matplotlib (3.6+, Debian's python3-matplotlib) is imported when plots are made.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

SCHEMA = "reasonir-bench/1"
NA = "n/a"

PLOT_EMBED = "embed-throughput.png"
PLOT_CEILING = "achieved-vs-ceiling.png"
PLOT_LATENCY = "latency.png"
PLOT_SERVER = "server.png"
ALL_PLOTS = (PLOT_EMBED, PLOT_CEILING, PLOT_LATENCY, PLOT_SERVER)

SUITE_ORDER = ("embed", "ops", "latency", "open", "tokenizer", "jni", "search", "server")
SUITE_TITLES = {
    "embed": "Embedding throughput", "ops": "Where the time goes", "latency": "Batch-1 latency", "open": "Model open",
    "tokenizer": "Tokenizer", "jni": "JNI overhead", "search": "Brute-force search", "server": "HTTP server",
}
MATRIX_OPS = ("qkv", "o_proj", "gate_up", "down")  # the GEMMs of a layer (bench_ops names); attention is the other
NOT_APPLICABLE = "-"
DPI = 100


class MissingMatplotlib(RuntimeError):
    """matplotlib cannot be imported: plots cannot be made (report.md still can)."""


# ---------------------------------------------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------------------------------------------
def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num(v: Any) -> Optional[float]:
    return float(v) if is_num(v) else None


def sig(v: Any, digits: int = 3) -> str:
    """`digits` significant digits without an exponent: 2.41, 48.0, 0.412, 1,230 (thousands separators)."""
    if not is_num(v):
        return NA
    v = float(v)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    dec = digits - 1 - mag
    r = round(v, dec)
    if r != 0 and math.floor(math.log10(abs(r))) > mag:  # 9.996 -> 10.0, not 10.00
        dec -= 1
        r = round(v, dec)
    if dec <= 0:
        return f"{r:,.0f}"
    return f"{r:.{dec}f}"


def fmt_rate(v: Any) -> str:
    """Throughputs (tokens/s, texts/s): whole numbers with thousands separators from 100 up, else 3 digits."""
    if not is_num(v):
        return NA
    return f"{v:,.0f}" if abs(v) >= 100 else sig(v)


def fmt_ratio(v: Any) -> str:
    return NA if not is_num(v) else sig(v) + "x"


def fmt_pct(fraction: Any) -> str:
    return NA if not is_num(fraction) else sig(100.0 * fraction) + "%"


def fmt_int(v: Any) -> str:
    if not is_num(v):
        return NA
    return f"{v:,.0f}" if float(v).is_integer() else sig(v)


def fmt_cos(v: Any) -> str:
    """A cosine near 1 (min cos vs FP32): six decimals, as bench_embed prints it."""
    return NA if not is_num(v) else f"{v:.6f}"


def fmt_plain(v: Any) -> str:
    """Sizes that read as names (sequence length 2048, token counts): no thousands separator."""
    if not is_num(v):
        return NA
    return f"{v:.0f}" if float(v).is_integer() else sig(v)


def fmt_bytes(b: Any) -> str:
    if not is_num(b):
        return NA
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= scale:
            return f"{sig(b / scale)} {unit}"
    return f"{b:.0f} B"


def fmt_bool(v: Any) -> str:
    return NA if not isinstance(v, bool) else ("yes" if v else "no")


def fmt_text(v: Any) -> str:
    if v is None or v == "":
        return NA
    if isinstance(v, bool):
        return fmt_bool(v)
    if is_num(v):
        return fmt_int(v) if float(v).is_integer() else sig(v)
    return str(v)


def fmt_duration(s: Any) -> str:
    if not is_num(s):
        return NA
    s = float(s)
    if s < 60:
        return f"{sig(s)} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def ratio(a: Any, b: Any) -> Optional[float]:
    if not is_num(a) or not is_num(b) or b == 0:
        return None
    return float(a) / float(b)


def cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(cell(c) for c in r) + " |")
    return "\n".join(out)


def one_line(text: Any, limit: int = 2000) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Access to results.json (defensive: any part may be missing)
# ---------------------------------------------------------------------------------------------------------------
def dig(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def suite(results: Dict[str, Any], name: str) -> Optional[Dict[str, Any]]:
    s = dig(results, "suites", name)
    return s if isinstance(s, dict) else None


def rows_of(s: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = s.get("rows") if isinstance(s, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def is_cuda(results: Dict[str, Any]) -> bool:
    return results.get("device") == "cuda"


def flop_unit(results: Dict[str, Any]) -> Tuple[str, float]:
    """('TFLOP/s', 1e3) on cuda, else ('GFLOP/s', 1): divide GFLOP/s values by the scale."""
    return ("TFLOP/s", 1e3) if is_cuda(results) else ("GFLOP/s", 1.0)


def fmt_flops(results: Dict[str, Any], gflops: Any) -> str:
    unit, scale = flop_unit(results)
    return NA if not is_num(gflops) else f"{sig(gflops / scale)} {unit}"


def ceiling_gflops(results: Dict[str, Any]) -> Optional[float]:
    c = num(dig(results, "ceiling", "gflops"))
    return c if c and c > 0 else None


def precision_ceiling(results: Dict[str, Any], precision: Any) -> Optional[float]:
    """The measured ceiling of a precision: ceiling.bf16_gflops for bf16 on a CPU (the BF16 mode's kernel), else
    ceiling.gflops (fp32 on a CPU; on a GPU the one ceiling there is, a bf16 GEMM)."""
    if precision == "bf16" and not is_cuda(results):
        c = num(dig(results, "ceiling", "bf16_gflops"))
        return c if c and c > 0 else None
    return ceiling_gflops(results)


def old_bf16_basis(results: Dict[str, Any], row: Dict[str, Any]) -> bool:
    """A CPU BF16 row of a results.json made before the BF16 ceiling existed (no ceiling.bf16_gflops key): its
    fraction_of_ceiling is against the fp32 ceiling."""
    c = results.get("ceiling") if isinstance(results.get("ceiling"), dict) else {}
    return row.get("precision") == "bf16" and not is_cuda(results) and "bf16_gflops" not in c


def gemm_gflops(ops: Any) -> Optional[float]:
    """The GEMMs' (qkv, o_proj, gate_up, down) GFLOP/s in a bench_ops profile: their FLOPs (gflops x ms of each)
    over their summed time. None when none of them has both numbers."""
    flop = ms = 0.0
    for o in ops if isinstance(ops, list) else []:
        if isinstance(o, dict) and o.get("op") in MATRIX_OPS and is_num(o.get("gflops")) and is_num(o.get("ms")) \
                and o["ms"] > 0:
            flop += o["gflops"] * o["ms"]
            ms += o["ms"]
    return flop / ms if ms > 0 else None


def machine_name(results: Dict[str, Any]) -> str:
    return str(dig(results, "machine", "name") or "unknown machine")


def run_date(results: Dict[str, Any]) -> str:
    m = re.match(r"\d{4}-\d{2}-\d{2}", str(results.get("started") or ""))
    return m.group(0) if m else "undated"


def checkpoint_order(results: Dict[str, Any]) -> List[str]:
    names: List[str] = []
    for c in results.get("checkpoints") or []:
        if isinstance(c, dict) and c.get("name") is not None and str(c["name"]) not in names:
            names.append(str(c["name"]))
    for name in SUITE_ORDER:
        for r in rows_of(suite(results, name)):
            if r.get("checkpoint") is not None and str(r["checkpoint"]) not in names:
                names.append(str(r["checkpoint"]))
    return names


def embed_ratio(row: Dict[str, Any]) -> Optional[float]:
    """ours.tokens_per_s / peer.tokens_per_s: the row's ratio, else computed from the two."""
    r = num(row.get("ratio"))
    if r is not None:
        return r
    return ratio(dig(row, "ours", "tokens_per_s"), dig(row, "peer", "tokens_per_s"))


def embed_fraction_basis(results: Dict[str, Any], row: Dict[str, Any]) -> Tuple[Optional[float], str]:
    """(ours.gflops / the ceiling, the precision of that ceiling): the row's fraction_of_ceiling, else computed
    against the ceiling of the row's precision. A BF16 row of an old results.json (no BF16 ceiling) was measured
    against the fp32 ceiling: its basis is "fp32"."""
    own = str(row.get("precision") or "fp32")
    basis = "fp32" if old_bf16_basis(results, row) else own
    f = num(row.get("fraction_of_ceiling"))
    if f is not None:
        return f, basis
    return ratio(dig(row, "ours", "gflops"), precision_ceiling(results, basis)), basis


def embed_fraction(results: Dict[str, Any], row: Dict[str, Any]) -> Optional[float]:
    """ours.gflops / the ceiling of the row's precision (the row's fraction_of_ceiling, else computed); None for a BF16
    row of an old results.json, whose stored fraction is against the fp32 ceiling (embed_fraction_basis has it)."""
    f, basis = embed_fraction_basis(results, row)
    return f if basis == str(row.get("precision") or "fp32") else None


def fmt_embed_fraction(results: Dict[str, Any], row: Dict[str, Any]) -> str:
    f, basis = embed_fraction_basis(results, row)
    if f is not None and basis != str(row.get("precision") or "fp32"):
        return f"{fmt_pct(f)} of {basis}"
    return fmt_pct(f)


def latency_ratio(row: Dict[str, Any]) -> Optional[float]:
    """peer.mean_ms / ours.mean_ms (how many times faster we are): the row's ratio, else computed."""
    r = num(row.get("ratio"))
    if r is not None:
        return r
    return ratio(dig(row, "peer", "mean_ms"), dig(row, "ours", "mean_ms"))


def embed_series(results: Dict[str, Any]) -> List[Tuple[str, List[Dict[str, Any]]]]:
    """embed rows grouped into lines: one per checkpoint (and precision, when the rows mix precisions), ordered by
    the checkpoints list, fp32 before bf16; each line's rows sorted by S (the first row of a repeated S wins)."""
    rows = [r for r in rows_of(suite(results, "embed")) if is_num(r.get("seq_len"))]
    precisions = {r.get("precision") for r in rows}
    order = checkpoint_order(results)
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for r in rows:
        ck = str(r.get("checkpoint") if r.get("checkpoint") is not None else "?")
        pr = str(r.get("precision") or "") if len(precisions) > 1 else ""
        lst = groups.setdefault((ck, pr), [])
        if all(x["seq_len"] != r["seq_len"] for x in lst):
            lst.append(r)
    rank = {"": 0, "fp32": 0, "bf16": 1}  # fp32 before bf16, then any other precision by name
    keys = sorted(groups, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0],
                                         rank.get(k[1], 2), k[1]))
    return [((f"{k[0]} {k[1]}" if k[1] else k[0]), sorted(groups[k], key=lambda r: r["seq_len"])) for k in keys]


# which plots the data allows (make_plots and render_markdown agree on this)
def wants_embed_plot(results: Dict[str, Any]) -> bool:
    return any(is_num(dig(r, "ours", "tokens_per_s")) or is_num(dig(r, "peer", "tokens_per_s"))
               for _, rows in embed_series(results) for r in rows)


def wants_ceiling_plot(results: Dict[str, Any]) -> bool:
    return ceiling_gflops(results) is not None and any(
        embed_fraction_basis(results, r)[0] is not None for _, rows in embed_series(results) for r in rows)


def wants_latency_plot(results: Dict[str, Any]) -> bool:
    return any(is_num(dig(r, side, k)) for r in rows_of(suite(results, "latency"))
               for side in ("ours", "peer") for k in ("mean_ms", "p99_ms"))


def wants_server_plot(results: Dict[str, Any]) -> bool:
    return any(is_num(r.get("clients")) and any(is_num(r.get(k)) for k in ("req_per_s", "p50_ms", "p99_ms"))
               for r in rows_of(suite(results, "server")))


def possible_plots(results: Dict[str, Any]) -> List[str]:
    checks = ((PLOT_EMBED, wants_embed_plot), (PLOT_CEILING, wants_ceiling_plot),
              (PLOT_LATENCY, wants_latency_plot), (PLOT_SERVER, wants_server_plot))
    return [name for name, ok in checks if ok(results)]


def all_errors(results: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(suite, message): the top-level errors list, then suite-level "error"s of suites the list does not cover."""
    out: List[Tuple[str, str]] = []
    for e in results.get("errors") or []:
        if isinstance(e, dict):
            out.append((str(e.get("suite") or "?"), str(e.get("message") or "")))
        elif e:
            out.append(("?", str(e)))
    covered = {s for s, _ in out}
    suites = results.get("suites") if isinstance(results.get("suites"), dict) else {}
    names = [n for n in SUITE_ORDER if n in suites] + sorted(n for n in suites if n not in SUITE_ORDER)
    for n in names:
        err = dig(suites, n, "error")
        if err and n not in covered:
            out.append((n, str(err)))
    seen = set()
    uniq = []
    for e in out:
        if e not in seen:
            seen.add(e)
            uniq.append(e)
    return uniq


# ---------------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------------
MACHINE_KEYS = (("cpu", "CPU"), ("cores", "cores"), ("threads", "threads"), ("memory_gb", "memory (GB)"),
                ("isa", "engine kernels"), ("gpu", "GPU"), ("os", "OS"), ("java", "Java"), ("python", "Python"),
                ("torch", "torch"), ("transformers", "transformers"))


def _image(lines: List[str], plots: Sequence[str], name: str, alt: str) -> None:
    if name in plots:
        lines += ["", f"![{alt}]({name})"]


def _suite_error_line(lines: List[str], s: Optional[Dict[str, Any]]) -> None:
    if s and s.get("error"):
        lines += ["", f"> **Suite error:** {cell(one_line(s['error'], 500))} (rows below are what it finished)"]


def _how_section(results: Dict[str, Any], L: List[str]) -> None:
    L += ["## How this was made", ""]
    cmd = results.get("command")
    L.append(f"- Command: {('`' + str(cmd).strip() + '`') if cmd else NA} (mode {fmt_text(results.get('mode'))}, "
             f"device {fmt_text(results.get('device'))})")
    L.append(f"- Started {fmt_text(results.get('started'))}; elapsed {fmt_duration(results.get('elapsed_s'))}")
    if results.get("schema") != SCHEMA:
        L.append(f"- Note: schema is {fmt_text(results.get('schema'))!s}, this report reads {SCHEMA}")
    conv = results.get("converted_from")
    if isinstance(conv, dict):
        L.append(f"- Converted from {fmt_text(conv.get('tool'))} report `{fmt_text(conv.get('report'))}` "
                 f"(overall {str(conv.get('overall') or NA).upper()}, generated {fmt_text(conv.get('generated_at'))})")
        steps = [s for s in conv.get("steps") or [] if isinstance(s, dict)]
        if steps:
            L.append("- GPU check steps: " + ", ".join(f"{s.get('step')} {str(s.get('status') or '?').upper()}"
                                                       for s in steps))
    ceil = results.get("ceiling") if isinstance(results.get("ceiling"), dict) else {}
    parts = [(f"{fmt_flops(results, ceil['gflops'])} measured" if is_num(ceil.get("gflops")) else "not measured")
             + (f" ({cell(ceil['how'])})" if ceil.get("how") else "")]
    if is_num(ceil.get("fma_peak_gflops")):
        parts.append(f"register-only FMA peak {fmt_flops(results, ceil['fma_peak_gflops'])}")
    if is_num(ceil.get("datasheet_gflops")):
        parts.append(f"datasheet peak {fmt_flops(results, ceil['datasheet_gflops'])}")
    if is_num(ceil.get("bf16_gflops")):
        parts.append(f"BF16 rows against the BF16 mode's ceiling {fmt_flops(results, ceil['bf16_gflops'])}")
    L.append("- Ceiling (for \"of ceiling\"): " + "; ".join(parts))
    peer = dig(results, "suites", "embed", "peer")
    L.append(f"- Peer: {cell(peer) if peer else NA}")
    if results.get("native_dir"):
        L.append(f"- Native tools from `{cell(results['native_dir'])}`")
    if not is_cuda(results):
        _ceilings_table(results, L)

    m = results.get("machine") if isinstance(results.get("machine"), dict) else {}
    L += ["", f"Machine `{machine_name(results)}`:", ""]
    rows = [[label, fmt_text(m.get(k))] for k, label in MACHINE_KEYS]
    known = {k for k, _ in MACHINE_KEYS} | {"name"}
    rows += [[k.replace("_", " "), fmt_text(m[k])] for k in sorted(m)
             if k not in known and not isinstance(m[k], (dict, list))]
    L.append(md_table(["item", "value"], rows))

    cks = [c for c in results.get("checkpoints") or [] if isinstance(c, dict)]
    if cks:
        L += ["", "Checkpoints:", ""]
        L.append(md_table(["name", "hidden", "layers", "heads / kv heads", "head dim", "intermediate", "vocab", "size"],
                          [[fmt_text(c.get("name")), fmt_int(c.get("hidden")), fmt_int(c.get("layers")),
                            f"{fmt_int(c.get('heads'))} / {fmt_int(c.get('kv_heads'))}", fmt_int(c.get("head_dim")),
                            fmt_int(c.get("intermediate")), fmt_int(c.get("vocab")), fmt_bytes(c.get("bytes"))]
                           for c in cks]))
    absent = [n for n in SUITE_ORDER if suite(results, n) is None]
    if absent:
        L += ["", "Suites not in this run: " + ", ".join(absent) + "."]


def _ceilings_table(results: Dict[str, Any], L: List[str]) -> None:
    """Ceilings of both precisions (CPU): the instruction, its register-only peak, the GEMM microkernel with operands
    in cache (the ceiling "of ceiling" refers to) and the full threaded GEMM; then the memory read bandwidth."""
    ceil = results.get("ceiling") if isinstance(results.get("ceiling"), dict) else {}
    unit, _ = flop_unit(results)

    def kernel(name: Any) -> str:
        return f"`{cell(name)}`" if name else NA

    rows = [["fp32", "fma", fmt_flops(results, ceil.get("fma_peak_gflops")), kernel(ceil.get("kernel_name")),
             fmt_flops(results, ceil.get("gflops")), fmt_flops(results, ceil.get("gemm_gflops"))],
            ["bf16", fmt_text(ceil.get("bf16_instr")), fmt_flops(results, ceil.get("bf16_peak_gflops")),
             kernel(ceil.get("bf16_kernel_name")), fmt_flops(results, ceil.get("bf16_gflops")),
             fmt_flops(results, ceil.get("bf16_gemm_gflops"))]]
    mem = ceil.get("mem_read_gbps")
    L += ["", "Ceilings (`native/bench/bench_gemm`, all threads at once; \"of ceiling\" in this report is a row's "
              f"achieved {unit} over the kernel in cache of its own precision):", "",
          md_table(["precision", "instruction", "register-only peak", "kernel", "kernel in cache (the ceiling)",
                    "full GEMM"], rows), "",
          f"Memory read bandwidth (streaming read, all threads, same run): {sig(mem) + ' GB/s' if is_num(mem) else NA}"]


def _embed_section(results: Dict[str, Any], plots: Sequence[str], L: List[str]) -> None:
    s = suite(results, "embed")
    unit, scale = flop_unit(results)
    L += ["", "## Embedding throughput (embed): the headline"]
    if s is None:
        L += ["", "Not run."]
        return
    bf16_ceiling = precision_ceiling(results, "bf16")
    if is_cuda(results) or bf16_ceiling is None:
        basis = f"measured ceiling ({fmt_flops(results, ceiling_gflops(results))})"
    else:
        basis = (f"measured ceiling of the row's precision (fp32 {fmt_flops(results, ceiling_gflops(results))}, "
                 f"bf16 {fmt_flops(results, bf16_ceiling)})")
    L += ["", "Same inputs for ours and the peer (above). ours/peer > 1 means we are faster. "
              f"\"of ceiling\" = achieved {unit} / {basis}. \"min cos vs FP32\": the smallest cosine between a BF16 "
              "row's vectors and the engine's FP32 vectors of the same inputs."]
    if any(old_bf16_basis(results, r) for r in rows_of(s)):
        L += ["", "This run measured no BF16 ceiling: its BF16 rows' \"of ceiling\" is against the fp32 one "
                  "(\"of fp32\")."]
    _suite_error_line(L, s)

    def cos(r: Dict[str, Any]) -> str:
        return NA if r.get("precision") != "bf16" else fmt_cos(r.get("min_cos_vs_fp32"))

    rows = []
    for _, series in embed_series(results):
        for r in series:
            rows.append([fmt_text(r.get("checkpoint")), fmt_plain(r.get("seq_len")), fmt_int(r.get("batch_tokens")),
                         fmt_text(r.get("precision")), fmt_rate(dig(r, "ours", "tokens_per_s")),
                         fmt_rate(dig(r, "peer", "tokens_per_s")), fmt_ratio(embed_ratio(r)),
                         sig(None if not is_num(dig(r, "ours", "gflops")) else dig(r, "ours", "gflops") / scale),
                         fmt_embed_fraction(results, r), cos(r)])
    rows += [[fmt_text(r.get("checkpoint")), NA, fmt_int(r.get("batch_tokens")),  # rows without S: not plotted
              fmt_text(r.get("precision")), fmt_rate(dig(r, "ours", "tokens_per_s")),
              fmt_rate(dig(r, "peer", "tokens_per_s")), fmt_ratio(embed_ratio(r)), NA, NA, cos(r)]
             for r in rows_of(s) if not is_num(r.get("seq_len"))]
    L += ["", md_table(["checkpoint", "S", "batch tokens", "ours precision", "tokens/s ours", "tokens/s peer",
                        "ours/peer", f"achieved {unit}", "of ceiling", "min cos vs FP32"], rows)]
    pairs = bf16_pairs(results)
    if pairs:
        L += ["", "BF16 vs FP32 (the engine on the same shapes; BF16/FP32 > 1: the BF16 mode is faster):", "",
              md_table(["checkpoint", "S", "batch tokens", "tokens/s FP32", "tokens/s BF16", "BF16/FP32",
                        "min cos vs FP32"],
                       [[fmt_text(b.get("checkpoint")), fmt_plain(b.get("seq_len")), fmt_int(b.get("batch_tokens")),
                         fmt_rate(dig(f, "ours", "tokens_per_s")), fmt_rate(dig(b, "ours", "tokens_per_s")),
                         fmt_ratio(ratio(dig(b, "ours", "tokens_per_s"), dig(f, "ours", "tokens_per_s"))),
                         fmt_cos(b.get("min_cos_vs_fp32"))] for f, b in pairs])]
    mixed = {}
    for r in rows_of(s):
        if r.get("lengths"):
            mixed.setdefault(f"{r.get('checkpoint')} (S = {r.get('seq_len')})", r["lengths"])
    if mixed:
        L += ["", "Rows marked \"mixed\" embed documents of different lengths in one batch (S is the longest): "
                  "the engine packs them, the peer pads them to the longest, as transformers does with "
                  "`padding=True`; tokens/s counts real tokens only."]
        L += [""] + [f"- {k}: {v}" for k, v in mixed.items()]
    details = []
    for _, series in embed_series(results):
        for r in series:
            details.append([fmt_text(r.get("checkpoint")), fmt_plain(r.get("seq_len")), fmt_int(r.get("n_seqs")),
                            fmt_text(r.get("precision")), sig(dig(r, "ours", "mean_ms")),
                            fmt_int(dig(r, "ours", "iters")),
                            sig(dig(r, "peer", "mean_ms")), fmt_int(dig(r, "peer", "iters")),
                            sig(None if not is_num(dig(r, "peer", "gflops")) else dig(r, "peer", "gflops") / scale)])
    if details:
        L += ["", "Per call:", "", md_table(["checkpoint", "S", "sequences", "precision", "ours ms/call", "ours iters",
                                             "peer ms/call", "peer iters", f"peer {unit}"], details)]
    _image(L, plots, PLOT_EMBED, "tokens/s vs sequence length, ours vs peer")
    _image(L, plots, PLOT_CEILING, "achieved FLOP/s as a fraction of the measured ceiling")


def bf16_pairs(results: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(fp32 row, bf16 row) of the embed suite with the same checkpoint, S and batch tokens (the first of each), in
    the order of embed_series."""
    rows = rows_of(suite(results, "embed"))
    key = lambda r: (r.get("checkpoint"), r.get("seq_len"), r.get("batch_tokens"))  # noqa: E731
    fp32: Dict[Any, Dict[str, Any]] = {}
    for r in rows:
        if r.get("precision") == "fp32" and is_num(r.get("seq_len")):
            fp32.setdefault(key(r), r)
    out, seen = [], set()
    for _, series in embed_series(results):
        for r in series:
            if r.get("precision") == "bf16" and key(r) in fp32 and key(r) not in seen:
                seen.add(key(r))
                out.append((fp32[key(r)], r))
    for r in rows:  # repeated S in a series (embed_series keeps the first): still paired
        if r.get("precision") == "bf16" and key(r) in fp32 and key(r) not in seen:
            seen.add(key(r))
            out.append((fp32[key(r)], r))
    return out


def _ops_section(results: Dict[str, Any], L: List[str]) -> None:
    s = suite(results, "ops")
    if s is None:
        return
    unit, scale = flop_unit(results)
    L += ["", "## Where the time goes (ops)", "",
          f"`native/bench/bench_ops`: each op of the CPU forward pass, milliseconds per forward pass "
          f"({fmt_int(s.get('warmup'))} warm-up, {fmt_int(s.get('iters'))} timed), its share of the time the ops "
          f"took, and what it achieved: {unit} for the matrix products, GB/s of activations for the memory-bound ops. "
          "\"of ceiling\" = a matrix op's achieved rate / the measured ceiling of its precision (How this was made). "
          f"Kernels: the engine's own ({fmt_text(s.get('isa'))})."]
    _suite_error_line(L, s)
    order = checkpoint_order(results)
    profiles = [r for r in rows_of(s) if isinstance(r.get("ops"), list)]
    prec_rank = {"fp32": 0, "bf16": 1}
    profiles.sort(key=lambda r: (prec_rank.get(r.get("precision"), 2), str(r.get("precision")),
                                 order.index(r.get("checkpoint")) if r.get("checkpoint") in order else len(order),
                                 str(r.get("checkpoint")), num(r.get("seq_len")) or 0))
    for r in profiles:
        prec = r.get("precision")
        ceil = precision_ceiling(results, prec)
        L += ["", f"### {fmt_text(prec)}, {fmt_text(r.get('checkpoint'))}, S = {fmt_plain(r.get('seq_len'))}", "",
              f"{fmt_int(r.get('batch_tokens'))} tokens in {fmt_int(r.get('n_seqs'))} "
              f"sequence{'' if r.get('n_seqs') == 1 else 's'}, kernels "
              f"{fmt_text(r.get('isa'))}, {fmt_int(r.get('threads'))} threads: {sig(r.get('total_ms'))} ms per "
              f"forward pass, {fmt_rate(r.get('tokens_per_s'))} tokens/s, {fmt_flops(results, r.get('gflops'))}.", ""]
        rows = []
        for o in r["ops"]:
            if not isinstance(o, dict):
                continue
            gf, gb = o.get("gflops"), o.get("gbps")
            if is_num(gf):
                achieved, frac = f"{sig(gf / scale)} {unit}", fmt_pct(ratio(gf, ceil))
            elif is_num(gb):
                achieved, frac = f"{sig(gb)} GB/s", NOT_APPLICABLE
            else:
                achieved, frac = NA, NA
            rows.append([fmt_text(o.get("op")), sig(o.get("ms")), fmt_pct(o.get("share")), achieved, frac])
        L.append(md_table(["op", "ms", "share", "achieved", "of ceiling"], rows))
    isa_rows = [r for r in s.get("isa_rows") or [] if isinstance(r, dict)]
    if isa_rows or s.get("isa_note"):
        L += ["", f"### Attention vs the GEMMs per ISA ({fmt_text(s.get('isa_checkpoint'))}, "
                  f"S = {fmt_plain(s.get('isa_seq_len'))})", "",
              "The same forward pass with the kernels capped at each ISA level from avx2 up to the engine's own "
              "(`REASONIR_CPU_ISA`). GEMM = qkv + o_proj + gate_up + down: their FLOPs over their time. A level whose "
              "attention lost its vectorization shows as a low attention / GEMM."]
        if s.get("isa_note"):
            L += ["", f"_{cell(s['isa_note'])}_"]
        rows = []
        for r in isa_rows:
            isa = fmt_text(r.get("isa"))
            if r.get("isa_requested") and r.get("isa_requested") != r.get("isa"):
                isa += f" (asked {r['isa_requested']})"
            att, gemm = r.get("attention_gflops"), r.get("gemm_gflops")
            q = num(r.get("attention_vs_gemm"))
            rows.append([isa, fmt_text(r.get("precision")), sig(None if not is_num(att) else att / scale),
                         sig(None if not is_num(gemm) else gemm / scale),
                         sig(q if q is not None else ratio(att, gemm)), fmt_rate(r.get("tokens_per_s"))])
        if rows:
            L += ["", md_table(["isa", "precision", f"attention {unit}", f"GEMM {unit}", "attention / GEMM",
                                "tokens/s"], rows)]


def _latency_section(results: Dict[str, Any], plots: Sequence[str], L: List[str]) -> None:
    s = suite(results, "latency")
    if s is None:
        return
    L += ["", "## Batch-1 latency (latency)", "", "One sequence of N tokens per call, ours in the precision shown; the "
          "peer is fp32 (a BF16 row shows the same peer measurement). Speed-up = peer mean / ours mean "
          "(how many times faster we are)."]
    _suite_error_line(L, s)
    rows = [[fmt_text(r.get("checkpoint")), fmt_plain(r.get("tokens")), fmt_text(r.get("precision")),
             sig(dig(r, "ours", "mean_ms")), sig(dig(r, "ours", "p50_ms")), sig(dig(r, "ours", "p99_ms")),
             fmt_int(dig(r, "ours", "n")),
             sig(dig(r, "peer", "mean_ms")), sig(dig(r, "peer", "p50_ms")), sig(dig(r, "peer", "p99_ms")),
             fmt_int(dig(r, "peer", "n")), fmt_ratio(latency_ratio(r)),
             NA if r.get("precision") != "bf16" else fmt_cos(r.get("min_cos_vs_fp32"))] for r in rows_of(s)]
    L += ["", md_table(["checkpoint", "tokens", "precision", "ours mean ms", "ours p50 ms", "ours p99 ms", "ours n",
                        "peer mean ms", "peer p50 ms", "peer p99 ms", "peer n", "speed-up", "min cos vs FP32"], rows)]
    _image(L, plots, PLOT_LATENCY, "batch-1 latency, mean and p99, ours vs peer")


def _open_section(results: Dict[str, Any], L: List[str]) -> None:
    s = suite(results, "open")
    if s is None:
        return
    L += ["", "## Model open (open)", "", "Time to open the checkpoint, and the rate it implies."]
    _suite_error_line(L, s)
    rows = [[fmt_text(r.get("checkpoint")), fmt_bytes(r.get("bytes")), sig(r.get("seconds")),
             sig(r.get("gb_per_s")), fmt_bool(r.get("cold"))] for r in rows_of(s)]
    L += ["", md_table(["checkpoint", "size", "seconds", "GB/s", "cold page cache"], rows)]


def _tokenizer_section(results: Dict[str, Any], L: List[str]) -> None:
    s = suite(results, "tokenizer")
    if s is None:
        return
    L += ["", "## Tokenizer (tokenizer)"]
    _suite_error_line(L, s)
    rows = [[fmt_int(r.get("threads")), fmt_rate(r.get("texts_per_s")), fmt_rate(r.get("tokens_per_s"))]
            for r in rows_of(s)]
    L += ["", md_table(["threads", "texts/s", "tokens/s"], rows), ""]
    eng = s.get("engine_tokens_per_s")
    best = max((num(r.get("tokens_per_s")) for r in rows_of(s) if is_num(r.get("tokens_per_s"))), default=None)
    L.append(f"- Engine on the same texts: {fmt_rate(eng)} tokens/s; fastest tokenizer row {fmt_rate(best)} tokens/s "
             f"({fmt_ratio(ratio(best, eng))} the engine)")
    L.append(f"- Tokenizer (all cores) slower than the engine (starves it): {fmt_bool(s.get('starves'))}")
    p = s.get("pipeline")
    if isinstance(p, dict):
        w, t = p.get("engine_wait_s"), p.get("total_s")
        L.append(f"- Index build pipeline: the engine waited {sig(w)} s for text of {sig(t)} s total "
                 f"({fmt_pct(ratio(w, t))})")
    else:
        L.append(f"- Index build pipeline wait: {NA}")


def _jni_section(results: Dict[str, Any], L: List[str]) -> None:
    s = suite(results, "jni")
    if s is None:
        return
    L += ["", "## JNI overhead (jni)", "", "One call on a tiny model: the Java API vs the C API alone."]
    _suite_error_line(L, s)
    L += ["", md_table(["checkpoint", "tokens", "Java API µs", "C API µs", "overhead µs"],
                       [[fmt_text(s.get("checkpoint")), fmt_plain(s.get("tokens")), sig(s.get("java_us")),
                         sig(s.get("native_us")), sig(s.get("overhead_us"))]])]


def _search_section(results: Dict[str, Any], L: List[str]) -> None:
    s = suite(results, "search")
    if s is None:
        return
    mem = num(dig(results, "ceiling", "mem_read_gbps"))
    L += ["", "## Brute-force search (search)", "",
          "A batch of queries is a GEMM against the index (compute-bound): \"of fp32 ceiling\" = its GFLOP/s / the "
          f"fp32 ceiling ({fmt_flops(results, ceiling_gflops(results))}). One query reads the whole index for one "
          "result (memory-bound): \"of memory bandwidth\" = its GB/s / the streaming read bandwidth of the same run "
          f"({sig(mem) + ' GB/s' if mem else NA})."]
    _suite_error_line(L, s)
    rows = []
    for r in rows_of(s):
        q = num(r.get("queries"))
        f = num(r.get("fraction_of_ceiling"))
        m = num(r.get("fraction_of_memory"))
        batched = q is None or q > 1
        rows.append([fmt_int(r.get("rows")), fmt_int(r.get("dim")), fmt_text(r.get("dtype")), fmt_int(r.get("queries")),
                     fmt_int(r.get("k")), fmt_int(r.get("threads")), sig(r.get("queries_per_s")), sig(r.get("gflops")),
                     sig(r.get("gb_per_s")),
                     fmt_pct(f if f is not None else ratio(r.get("gflops"), ceiling_gflops(results)))
                     if batched else NOT_APPLICABLE,
                     fmt_pct(m if m is not None else ratio(r.get("gb_per_s"), mem)) if not batched else NOT_APPLICABLE])
    L += ["", md_table(["rows", "dim", "dtype", "queries", "k", "threads", "queries/s", "GFLOP/s", "GB/s",
                        "of fp32 ceiling", "of memory bandwidth"], rows)]


def _server_section(results: Dict[str, Any], plots: Sequence[str], L: List[str]) -> None:
    s = suite(results, "server")
    if s is None:
        return
    L += ["", "## HTTP server (server)", "", f"Checkpoint {fmt_text(s.get('checkpoint'))}; N concurrent clients."]
    _suite_error_line(L, s)
    rows = [[fmt_int(r.get("clients")), fmt_int(r.get("requests")), sig(r.get("req_per_s")), sig(r.get("p50_ms")),
             sig(r.get("p99_ms")), fmt_int(r.get("errors"))] for r in rows_of(s)]
    L += ["", md_table(["clients", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)]
    _image(L, plots, PLOT_SERVER, "server requests/s and latency vs clients")


def _other_suites(results: Dict[str, Any], L: List[str]) -> None:
    suites = results.get("suites") if isinstance(results.get("suites"), dict) else {}
    for n in sorted(k for k in suites if k not in SUITE_ORDER):
        s = suites[n]
        L += ["", f"## {n}", "", "(a suite this report does not know; its JSON)", "", "```",
              json.dumps(s, indent=1, sort_keys=True)[:4000].replace("```", "'''"), "```"]


def render_markdown(results: Dict[str, Any], plots: Optional[Iterable[str]] = None) -> str:
    """report.md's text. plots: file names of the plots that exist (linked where they belong); None = every plot
    the data allows (what make_plots writes)."""
    plots = list(possible_plots(results) if plots is None else [os.path.basename(p) for p in plots])
    L: List[str] = [f"# ReasonIR benchmark: {machine_name(results)}, {run_date(results)} "
                    f"({fmt_text(results.get('mode'))}, {fmt_text(results.get('device'))})", ""]
    _how_section(results, L)
    _embed_section(results, plots, L)
    _ops_section(results, L)
    _latency_section(results, plots, L)
    _open_section(results, L)
    _tokenizer_section(results, L)
    _jni_section(results, L)
    _search_section(results, L)
    _server_section(results, plots, L)
    _other_suites(results, L)
    L += ["", "## Errors", ""]
    errs = all_errors(results)
    L += [f"- **{cell(s)}**: {cell(one_line(m))}" for s, m in errs] if errs else ["None."]
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------
def _matplotlib():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib import style as mstyle
        from matplotlib import ticker
    except ImportError as exc:
        raise MissingMatplotlib(f"matplotlib is not importable ({exc}); install python3-matplotlib (Debian) or "
                                "run with /usr/bin/python3") from exc
    return matplotlib, FigureCanvasAgg, Figure, mstyle, ticker


def _title(results: Dict[str, Any], what: str) -> str:
    return f"{what}\n{machine_name(results)}, {run_date(results)} ({results.get('mode') or NA}, " \
           f"{results.get('device') or NA})"


def _log_ticks(ax, ticker, values: Sequence[float]) -> None:
    vals = sorted({float(v) for v in values})
    ax.xaxis.set_major_locator(ticker.FixedLocator(vals))
    ax.xaxis.set_major_formatter(ticker.FixedFormatter([f"{v:g}" for v in vals]))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    if len(vals) == 1:
        ax.set_xlim(vals[0] / 2, vals[0] * 2)


def _plain_number(v, _pos=None) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}"


def _log_y(ax, ticker, values: Sequence[float]) -> None:
    """Log y axis labelled with plain numbers (1, 2, 5 per decade when the data spans under 3 decades)."""
    vals = [v for v in values if is_num(v) and v > 0]
    span = math.log10(max(vals) / min(vals)) if vals else 0.0
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if span < 3 else (1.0,)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _plot_embed(results, ax, ticker) -> None:
    xs_all, ys_all = [], []
    for i, (label, rows) in enumerate(embed_series(results)):
        colour = f"C{i % 10}"
        o = [(r["seq_len"], dig(r, "ours", "tokens_per_s")) for r in rows if is_num(dig(r, "ours", "tokens_per_s"))]
        p = [(r["seq_len"], dig(r, "peer", "tokens_per_s")) for r in rows if is_num(dig(r, "peer", "tokens_per_s"))]
        if o:
            ax.plot([x for x, _ in o], [y for _, y in o], "-o", color=colour, label=f"{label} ours", lw=1.8, ms=5)
        if p:
            ax.plot([x for x, _ in p], [y for _, y in p], "--s", color=colour, label=f"{label} peer", lw=1.4, ms=4,
                    mfc="white")
        xs_all += [x for x, _ in o + p]
        ys_all += [y for _, y in o + p]
        for r in rows:
            q = embed_ratio(r)
            ot, pt = dig(r, "ours", "tokens_per_s"), dig(r, "peer", "tokens_per_s")
            if q is None or not is_num(ot) or not is_num(pt) or ot <= 0 or pt <= 0:
                continue
            ax.annotate(fmt_ratio(q), (r["seq_len"], math.sqrt(ot * pt)), xytext=(5, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=8, color=colour, fontweight="bold")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_y(ax, ticker, ys_all)
    if xs_all:
        _log_ticks(ax, ticker, xs_all)
        lo, hi = min(xs_all), max(xs_all)
        ax.set_xlim(lo / 1.4, hi * 1.6)  # room for the ratio labels right of the last S
    ax.set_xlabel("sequence length S (tokens, log scale)")
    ax.set_ylabel("throughput (tokens/s, log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _plot_ceiling(results, ax, ticker) -> None:
    unit, scale = flop_unit(results)
    ceil = ceiling_gflops(results)
    top = 1.1
    xs_all = []
    bf16 = None if is_cuda(results) else precision_ceiling(results, "bf16")
    for i, (label, rows) in enumerate(embed_series(results)):
        # each row against the ceiling of its precision (a BF16 row of an old results.json: against fp32's)
        pts, bases = [], set()
        for r in rows:
            f, basis = embed_fraction_basis(results, r)
            if f is not None:
                pts.append((r["seq_len"], f, dig(r, "ours", "gflops")))
                bases.add(basis)
        if not pts:
            continue
        xs = [x for x, _, _ in pts]
        ys = [f for _, f, _ in pts]
        xs_all += xs
        top = max(top, max(ys) * 1.15)
        old = any(old_bf16_basis(results, r) for r in rows)
        ax.plot(xs, ys, "-o", color=f"C{i % 10}", label=f"{label} ours" + (" (vs fp32 ceiling)" if old else ""),
                lw=1.8, ms=5)
        for x, f, g in pts:
            if is_num(g):
                ax.annotate(sig(g / scale), (x, f), xytext=(0, 7), textcoords="offset points", ha="center",
                            fontsize=8, color=f"C{i % 10}")
    what = f"measured ceiling {sig(ceil / scale)} {unit}" if bf16 is None else \
        f"measured ceiling: fp32 {sig(ceil / scale)}, bf16 {sig(bf16 / scale)} {unit}"
    ax.axhline(1.0, color="black", ls="--", lw=1.2, label=what)
    ds = num(dig(results, "ceiling", "datasheet_gflops"))
    if ds and ds > 0:
        ax.axhline(ds / ceil, color="grey", ls=":", lw=1.4, label=f"datasheet {sig(ds / scale)} {unit}")
        top = max(top, ds / ceil * 1.08)
    ax.set_xscale("log")
    if xs_all:
        _log_ticks(ax, ticker, xs_all)
    ax.set_ylim(0, top)
    ax.set_xlabel("sequence length S (tokens, log scale)")
    ax.set_ylabel(f"achieved / measured ceiling of its precision (labels: {unit})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _plot_latency(results, ax, ticker) -> None:
    rows = rows_of(suite(results, "latency"))
    many = len({r.get("checkpoint") for r in rows}) > 1
    precisions = len({r.get("precision") for r in rows}) > 1
    labels = [(f"{r.get('checkpoint')}\n" if many else "") + f"{fmt_plain(r.get('tokens'))}"
              + (f"\n{r.get('precision') or NA}" if precisions else "") for r in rows]
    bars = (("ours", "mean_ms", "ours mean", "C0", None, 1.0), ("ours", "p99_ms", "ours p99", "C0", "//", 0.45),
            ("peer", "mean_ms", "peer mean", "C1", None, 1.0), ("peer", "p99_ms", "peer p99", "C1", "//", 0.45))
    width = 0.2
    values = [dig(r, side, key) for r in rows for side, key, *_ in bars]
    from matplotlib.transforms import blended_transform_factory
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for j, (side, key, label, colour, hatch, alpha) in enumerate(bars):
        off = (j - 1.5) * width
        xs, ys = [], []
        for i, r in enumerate(rows):
            v = dig(r, side, key)
            if is_num(v) and v > 0:
                xs.append(i + off)
                ys.append(v)
            else:
                ax.text(i + off, 0.02, NA, transform=trans, rotation=90, ha="center", va="bottom", fontsize=7,
                        color="grey")
        ax.bar(xs, ys, width, label=label, color=colour, alpha=alpha, hatch=hatch, edgecolor=colour, log=True)
    ax.set_xticks(list(range(len(rows))))
    ax.set_xticklabels(labels)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    pos = [v for v in values if is_num(v) and v > 0]
    if pos:
        ax.set_ylim(min(pos) / 2, max(pos) * 2.5)  # bars visibly above the floor, room for the legend
    _log_y(ax, ticker, values)
    ax.set_xlabel("tokens in the one sequence (batch 1)")
    ax.set_ylabel("latency per call (ms, log scale)")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncol=2)


def _plot_server(results, ax, ticker) -> None:
    rows = sorted((r for r in rows_of(suite(results, "server")) if is_num(r.get("clients"))),
                  key=lambda r: r["clients"])
    xs = [r["clients"] for r in rows]
    handles = []

    def series(axis, key, fmt, colour, label):
        pts = [(r["clients"], r.get(key)) for r in rows if is_num(r.get(key))]
        if pts:
            handles.extend(axis.plot([x for x, _ in pts], [y for _, y in pts], fmt, color=colour, label=label,
                                     lw=1.6, ms=5))

    series(ax, "req_per_s", "-o", "C0", "requests/s")
    ax2 = ax.twinx()
    series(ax2, "p50_ms", "-s", "C1", "p50 latency")
    series(ax2, "p99_ms", "--^", "C3", "p99 latency")
    if xs and min(xs) > 0 and max(xs) / min(xs) >= 4:
        ax.set_xscale("log", base=2)
    if xs:
        vals = sorted({float(x) for x in xs})
        ax.xaxis.set_major_locator(ticker.FixedLocator(vals))
        ax.xaxis.set_major_formatter(ticker.FixedFormatter([f"{v:g}" for v in vals]))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("throughput (requests/s)")
    ax2.set_ylabel("latency (ms)")
    ax.grid(True, alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ck = dig(results, "suites", "server", "checkpoint")
    if ck:
        ax.text(0.99, 0.02, f"checkpoint {ck}", transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="grey")


def make_plots(results: Dict[str, Any], out_dir: str) -> List[str]:
    """Writes the plots the data allows into out_dir; returns their paths (in ALL_PLOTS order). Raises
    MissingMatplotlib when matplotlib cannot be imported."""
    matplotlib, FigureCanvasAgg, Figure, mstyle, ticker = _matplotlib()
    os.makedirs(out_dir, exist_ok=True)
    unit, _ = flop_unit(results)
    jobs = {
        PLOT_EMBED: ("Embedding throughput, ours vs peer (solid = ours, dashed = peer; labels = ours/peer)",
                     _plot_embed),
        PLOT_CEILING: (f"Achieved {unit} (ours) as a fraction of the measured ceiling of its precision",
                       _plot_ceiling),
        PLOT_LATENCY: ("Batch-1 latency, mean and p99, ours vs peer", _plot_latency),
        PLOT_SERVER: ("HTTP server: throughput and latency vs clients", _plot_server),
    }
    written = []
    # "default" style: the user's matplotlibrc does not change the pictures; fixed hash salt, no metadata.
    with mstyle.context("default"), matplotlib.rc_context({"svg.hashsalt": "reasonir", "font.size": 9,
                                                           "axes.titlesize": 10}):
        for name in possible_plots(results):
            title, fn = jobs[name]
            fig = Figure(figsize=(8, 5), dpi=DPI)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            fn(results, ax, ticker)
            ax.set_title(_title(results, title))
            fig.tight_layout()
            path = os.path.join(out_dir, name)
            fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
            written.append(path)
    return written


# ---------------------------------------------------------------------------------------------------------------
# Files / CLI
# ---------------------------------------------------------------------------------------------------------------
def load_results(path: str) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a JSON object")
    return obj


def write_report(results: Dict[str, Any], out_dir: str, plots: bool = True) -> Tuple[str, List[str]]:
    """Writes out_dir/report.md and (plots=True, matplotlib present) the plots; returns (report.md, [plots]).
    Without matplotlib report.md is still written, links no plot and says why."""
    os.makedirs(out_dir, exist_ok=True)
    written: List[str] = []
    note = None
    if plots:
        try:
            written = make_plots(results, out_dir)
        except MissingMatplotlib as exc:
            note = f"Plots were not made: {exc}."
            print(f"report.py: warning: {exc}; writing report.md without plots", file=sys.stderr)
    else:
        note = "Plots were not made (--no-plots)."
    md = render_markdown(results, plots=written)
    if note:
        md = md.rstrip("\n") + f"\n\n_{note}_\n"
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(md)
    return path, written


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="results.json -> report.md + PNG plots")
    ap.add_argument("--results", required=True, help="the run's results.json")
    ap.add_argument("--out", help="folder for report.md and the plots (default: the folder of --results)")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    try:
        results = load_results(args.results)
    except (OSError, ValueError) as exc:
        print(f"report.py: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    if results.get("schema") != SCHEMA:
        print(f"report.py: warning: schema {results.get('schema')!r}, expected {SCHEMA!r}", file=sys.stderr)
    out = args.out or os.path.dirname(os.path.abspath(args.results))
    md, plots = write_report(results, out, plots=not args.no_plots)
    print(md)
    for p in plots:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
