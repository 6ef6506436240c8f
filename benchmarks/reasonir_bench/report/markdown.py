"""report.md: one function per section (how it was made, embed, ops, latency, open, tokenizer, jni, search, server,
other suites, errors) and render_markdown, which joins them."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .results import (NA, NOT_APPLICABLE, PLOT_CEILING, PLOT_EMBED, PLOT_LATENCY, PLOT_SERVER, SCHEMA, SUITE_ORDER,
    all_errors, ceiling_gflops, cell, checkpoint_order, dig, embed_ratio, embed_series, flop_unit, fmt_bool,
    fmt_bytes, fmt_cos, fmt_duration, fmt_embed_fraction, fmt_flops, fmt_int, fmt_pct, fmt_plain, fmt_rate,
    fmt_ratio, fmt_text, is_cuda, is_num, latency_ratio, machine_name, md_table, num, old_bf16_basis, one_line,
    possible_plots, precision_ceiling, ratio, rows_of, run_date, sig, suite)

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
    check = results.get("gpu_check")
    if isinstance(check, dict):
        where = f" (its verdict: `{cell(check['report'])}`)" if check.get("report") else ""
        L.append(f"- Benchmark step of {fmt_text(check.get('tool'))}{where}")
        steps = [s for s in check.get("steps") or [] if isinstance(s, dict)]
        if steps:
            L.append("- GPU check steps so far: " + ", ".join(
                f"{s.get('step')} {str(s.get('status') or '?').upper()}" for s in steps))
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
    _extrapolated_note(L, rows_of(s))

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


def _extrapolated_note(L: List[str], rows: Sequence[Dict[str, Any]]) -> None:
    """Says which rows were not measured but extrapolated from shallower checkpoints (the GPU benchmark's deep model:
    T(N) = T(La) + (N - La) x per-layer time, per-layer time = (T(Lb) - T(La)) / (Lb - La))."""
    names: Dict[str, Any] = {}
    for r in rows:
        if r.get("extrapolated_from"):
            names.setdefault(str(r.get("checkpoint")), r["extrapolated_from"])
    for name, frm in names.items():
        depths = " and ".join(fmt_plain(x) for x in frm) if isinstance(frm, list) else fmt_text(frm)
        L += ["", f"> **Extrapolated, not measured:** the rows of `{cell(name)}` are computed from the timed "
                  f"checkpoints of {depths} layers (call time linear in the depth: overhead + layers x per-layer "
                  "time); the measured rows are next to them."]


def _latency_section(results: Dict[str, Any], plots: Sequence[str], L: List[str]) -> None:
    s = suite(results, "latency")
    if s is None:
        return
    L += ["", "## Batch-1 latency (latency)", "", "One sequence of N tokens per call, ours in the precision shown; the "
          "peer is fp32 (a BF16 row shows the same peer measurement). Speed-up = peer mean / ours mean "
          "(how many times faster we are)."]
    _suite_error_line(L, s)
    _extrapolated_note(L, rows_of(s))
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
