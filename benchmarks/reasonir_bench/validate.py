#!/usr/bin/env python3
"""The GPU check's validation steps, Python side (benchmarks/gpu-check.sh runs them; the benchmark steps are
gpu_bench.py and hf_bench.py):

  env, build, header, java   shell steps of gpu-check.sh, recorded with `python3 -m reasonir_bench.common record`
  ctest, sanitizer           logs parsed here: `python3 -m reasonir_bench.validate ctest-summary|sanitizer-summary LOG`
                             prints the parsed summary as one JSON line
  parity                     hf_parity.py (ours vs HF transformers vs the fp32 reference)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Dict, List, Optional

VALIDATION_STEPS = ("env", "build", "ctest", "sanitizer", "fixtures", "parity", "header", "java")
BENCHMARK_STEPS = ("bench",)


# ---------------------------------------------------------------------------------------------------------------
# Log parsers (ctest, compute-sanitizer)
# ---------------------------------------------------------------------------------------------------------------
_RE_CTEST = re.compile(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)")
_RE_CTEST_FAILED = re.compile(r"^\s*\d+ - (\S+) \((.*)\)\s*$")


def parse_ctest(text: str) -> Dict[str, Any]:
    """passed / failed / total and the failed tests' names of a ctest run's output."""
    out: Dict[str, Any] = {"passed": None, "failed": None, "total": None, "failed_tests": []}
    m = None
    for m in _RE_CTEST.finditer(text or ""):
        pass
    if m:
        total, failed = int(m.group(3)), int(m.group(2))
        out.update({"total": total, "failed": failed, "passed": total - failed})
    if "No tests were found" in (text or ""):
        out["no_tests"] = True
    if out["total"] is not None:
        out["line"] = f"{out['passed']} passed, {out['failed']} failed of {out['total']}"
    elif out.get("no_tests"):
        out["line"] = "no tests matched"
    else:
        first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
        out["line"] = "no ctest summary" + (f" ({first[:120]})" if first else "")
    in_list = False
    for line in (text or "").splitlines():
        if line.startswith("The following tests FAILED"):
            in_list = True
            continue
        if in_list:
            mm = _RE_CTEST_FAILED.match(line)
            if mm:
                out["failed_tests"].append(f"{mm.group(1)} ({mm.group(2)})")
            elif line.strip():
                in_list = False
    return out


_RE_SAN = re.compile(r"=========\s+((?:ERROR|RACECHECK|LEAK|SYNCCHECK|INITCHECK)[A-Z ]*SUMMARY:.*)$")


def parse_sanitizer(text: str) -> Dict[str, Any]:
    """The last '========= ... SUMMARY: ...' line of a compute-sanitizer run and the error count in it."""
    line = None
    for ln in (text or "").splitlines():
        m = _RE_SAN.search(ln.strip())
        if m:
            line = m.group(1).strip()
    out: Dict[str, Any] = {"summary_line": line, "errors": None}
    if line:
        m = re.search(r"(\d+) errors?", line)
        if m:
            out["errors"] = int(m.group(1))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="the GPU check's validation log parsers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("ctest-summary", "sanitizer-summary"):
        p = sub.add_parser(name, help="print the parsed summary of a log as JSON")
        p.add_argument("log")
    args = ap.parse_args(argv)
    try:
        with open(args.log, "r", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        text = ""
    print(json.dumps(parse_ctest(text) if args.cmd == "ctest-summary" else parse_sanitizer(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
