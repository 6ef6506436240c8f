#!/usr/bin/python3
"""Turns a benchmark run's results.json (schema "reasonir-bench/1", see ../SCHEMA.md) into report.md and PNG plots in
the same folder (or --out DIR).

    PYTHONPATH=benchmarks /usr/bin/python3 -m reasonir_bench.report --results DIR/results.json [--out DIR] [--no-plots]

Split by what it does: results.py (loading, the schema's constants, formatting, accessors), markdown.py (one function
per section of report.md), plots.py (matplotlib); this file writes the report and is the command line.

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

Library use (the suite, the GPU benchmark and the tests import this package):
  render_markdown(results, plots=None) -> str       plots: the plot file names to link (None: those the data allows)
  make_plots(results, out_dir) -> [paths]           raises MissingMatplotlib when matplotlib is not installed
  write_report(results, out_dir, plots=True) -> (report.md path, [plot paths])

Stdlib only at import time; matplotlib (3.6+, Debian's python3-matplotlib) is imported when plots are made.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from .results import *  # noqa: F401,F403  (the library surface: constants, formatting, accessors, load_results)
from .results import SCHEMA, load_results
from .markdown import render_markdown  # noqa: F401
from .plots import MissingMatplotlib, make_plots  # noqa: F401


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
            print(f"reasonir_bench.report: warning: {exc}; writing report.md without plots", file=sys.stderr)
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
        print(f"reasonir_bench.report: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    if results.get("schema") != SCHEMA:
        print(f"reasonir_bench.report: warning: schema {results.get('schema')!r}, expected {SCHEMA!r}", file=sys.stderr)
    out = args.out or os.path.dirname(os.path.abspath(args.results))
    md, plots = write_report(results, out, plots=not args.no_plots)
    print(md)
    for p in plots:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
