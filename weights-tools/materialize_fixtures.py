#!/usr/bin/env python3
"""Generates the checkpoint of every committed fixture (weights-tools/fixtures/<name>/spec.json) into OUT/<name>/.

    python3 weights-tools/materialize_fixtures.py --out DIR [--fixtures weights-tools/fixtures]

A fixture whose folder already holds every file of weights.sha256 with the recorded digest is kept (its config.json is
rewritten if it differs from spec.json); otherwise it is regenerated in a temporary folder next to it and moved into
place. If a freshly generated file's sha256 differs from weights.sha256 the generator has drifted from the committed
golden values (expected_*.npy were computed from those exact bytes): this exits 1 with a message naming the fixture
and file, and leaves OUT/<name> absent so no test runs against wrong weights.

Run by ctest (test `materialize_fixtures`, a FIXTURES_SETUP for the native tests) and by the Java build. Prints one
line per fixture.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate_checkpoint as gen  # noqa: E402
from make_fixtures import generate_from_spec  # noqa: E402


class DriftError(RuntimeError):
    pass


def read_sha256_list(path: str) -> dict:
    out = {}
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or len(parts[0]) != 64:
                raise ValueError(f"{path}:{lineno}: expected '<sha256 hex>  <file name>', got {line.rstrip()!r}")
            out[parts[1]] = parts[0].lower()
    if not out:
        raise ValueError(f"{path}: no entries")
    return out


def config_text(spec: dict) -> str:
    return json.dumps(spec["config"], indent=2, sort_keys=True) + "\n"


def up_to_date(target: str, expected: dict) -> bool:
    """Every listed file present with its digest, and no other weight file (a stale shard layout) beside them."""
    if not os.path.isdir(target):
        return False
    weight_files = {f for f in os.listdir(target) if f.endswith(".safetensors") or f.endswith(".index.json")}
    if weight_files != set(expected):
        return False
    for fname, digest in expected.items():
        path = os.path.join(target, fname)
        if not os.path.isfile(path) or gen.file_sha256(path) != digest:
            return False
    return True


def materialize(fixture_dir: str, out_root: str) -> str:
    """Makes OUT/<name> hold the fixture's checkpoint; returns a one-line status. Raises DriftError on drift."""
    name = os.path.basename(os.path.normpath(fixture_dir))
    with open(os.path.join(fixture_dir, "spec.json"), "r", encoding="utf-8") as f:
        spec = json.load(f)
    expected = read_sha256_list(os.path.join(fixture_dir, "weights.sha256"))
    target = os.path.join(out_root, name)
    t0 = time.time()
    if up_to_date(target, expected):
        cfg_path = os.path.join(target, "config.json")
        text = config_text(spec)
        if not os.path.isfile(cfg_path) or open(cfg_path, "r", encoding="utf-8").read() != text:
            with open(cfg_path, "w", encoding="utf-8") as f:
                f.write(text)
        return f"{name}: up to date in {target} ({time.time() - t0:.2f} s)"
    tmp = f"{target}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        digests = generate_from_spec(spec, tmp)
        wrong = [f for f in sorted(set(expected) | set(digests)) if digests.get(f) != expected.get(f)]
        if wrong:
            lines = [f"  {f}: generated {digests.get(f, '(not generated)')}, weights.sha256 has "
                     f"{expected.get(f, '(not listed)')}" for f in wrong]
            raise DriftError(
                f"{name}: generator drift, the fresh checkpoint differs from {fixture_dir}/weights.sha256:\n"
                + "\n".join(lines)
                + "\n  The golden expected_*.npy no longer describe these weights. If the generator change is "
                  "intended, rerun python3 weights-tools/make_fixtures.py and commit the new fixtures.")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(os.path.getsize(os.path.join(target, f)) for f in expected)
    return f"{name}: generated {len(expected)} file(s), {size / 1e6:.1f} MB in {target} ({time.time() - t0:.2f} s)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="generate the fixture checkpoints and check their sha256")
    ap.add_argument("--out", required=True, help="folder receiving one checkpoint folder per fixture")
    ap.add_argument("--fixtures", default=os.path.join(HERE, "fixtures"), help="committed fixtures folder")
    args = ap.parse_args(argv)
    names = sorted(d for d in os.listdir(args.fixtures)
                   if os.path.isfile(os.path.join(args.fixtures, d, "spec.json")))
    if not names:
        print(f"materialize_fixtures: no fixtures (*/spec.json) under {args.fixtures}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        try:
            print("materialize_fixtures: " + materialize(os.path.join(args.fixtures, name), args.out), flush=True)
        except DriftError as exc:
            print(f"materialize_fixtures: FAILED: {exc}", file=sys.stderr)
            return 1
        except (OSError, ValueError, KeyError) as exc:
            print(f"materialize_fixtures: FAILED: {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
