"""results.json (schema "reasonir-bench/1", ../SCHEMA.md): loading, the schema's constants, number formatting and
the defensive accessors every part of the report reads it with (stdlib only)."""
from __future__ import annotations

import json
import math
import re
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


def load_results(path: str) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a JSON object")
    return obj
