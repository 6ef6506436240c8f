"""The PNG plots (matplotlib, Agg, imported only when plots are made): embed throughput, achieved vs ceiling, latency,
server. No software/date metadata, so the same results.json gives the same bytes."""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Sequence

from .results import (DPI, NA, PLOT_CEILING, PLOT_EMBED, PLOT_LATENCY, PLOT_SERVER, ceiling_gflops, dig,
    embed_fraction_basis, embed_ratio, embed_series, flop_unit, fmt_plain, fmt_ratio, is_cuda, is_num, machine_name,
    num, old_bf16_basis, possible_plots, precision_ceiling, rows_of, run_date, sig, suite)

class MissingMatplotlib(RuntimeError):
    """matplotlib cannot be imported: plots cannot be made (report.md still can)."""


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
