#!/usr/bin/env bash
# benchmarks/run.sh: the one command that measures the engine against the alternative a user would pick and writes
# a report (benchmarks/results/<date>-<machine>/report.md, results.json, PNG plots).
#
#   benchmarks/run.sh [--quick] [--out DIR] [--suites LIST] [--threads T] [--no-peer] [--native DIR]
#                     [--ops-shapes LIST]
#   benchmarks/run.sh --gpu [--out DIR]
#
#   --quick        the ~3-minute subset (default run: ~20 minutes on a 2-core machine)
#   --out DIR      output folder (default benchmarks/results/<date>-<machine>)
#   --suites LIST  comma list of: ceiling, embed, ops, latency, open, tokenizer, jni, search, server (default all)
#   --threads T    threads for the engine and the PyTorch peer (default all cores)
#   --no-peer      skip the PyTorch peer
#   --native DIR   the native tools' build folder (default build/native; e.g. a git worktree's build of older code)
#   --ops-shapes LIST  the ops suite's per-op profiles as checkpoint:S pairs (default h256_l4 and medium at
#                  S = 128, 1024, 8192)
#   REASONIR_CPU_ISA=avx2|avx512|...  in the environment caps the engine's kernels for every suite
#   --gpu          on a GPU machine: run benchmarks/gpu-check.sh (the CUDA engine vs HF transformers on the 8B shape,
#                  plus parity), whose benchmark step writes its figures in this same report format (results.json,
#                  report.md, plots; copied here next to the check's own report in gpu-check/)
#
# What it does: installs what it needs that is missing (Debian's python3-torch and python3-matplotlib, for
# /usr/bin/python3; the Llama-3.1 tokenizer), builds the native tools and the Java jars (Maven, incremental), then runs
# `python3 -m reasonir_bench.suite` (benchmarks/reasonir_bench/suite.py), which generates the random-weight
# checkpoints under build/bench and runs each suite.
# The 8B shape runs only on a GPU (--gpu): on a CPU one call of it takes minutes.
# Exit status: 0 every suite ran, 1 some suite failed (the report says which), 2 setup failed, 64 bad arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3   # Debian's interpreter: the one python3-torch and python3-matplotlib install into

for a in "$@"; do
    case "$a" in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    esac
done

step() { echo "run.sh: $*" >&2; }
fail() { echo "run.sh: $*" >&2; exit 2; }

if [ "${1:-}" = "--gpu" ]; then
    shift
    OUT_DIR=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) [ $# -ge 2 ] || { echo "run.sh: --out needs a value" >&2; exit 64; }; OUT_DIR="$2"; shift 2 ;;
            *) echo "run.sh: --gpu takes only --out DIR (got '$1')" >&2; exit 64 ;;
        esac
    done
    GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 | tr 'A-Z ' 'a-z-')"
    [ -n "$GPU_NAME" ] || fail "--gpu: no NVIDIA GPU visible (nvidia-smi)"
    OUT_DIR="${OUT_DIR:-$ROOT/benchmarks/results/$(date +%F)-$GPU_NAME}"
    rc=0
    bash "$ROOT/benchmarks/gpu-check.sh" --out "$OUT_DIR/gpu-check" || rc=$?
    [ -f "$OUT_DIR/gpu-check/report.json" ] || fail "gpu-check.sh wrote no report (exit $rc)"
    # The benchmark step's results.json (suite schema), rendered here: plots need matplotlib; without it report.md
    # is still written and says so.
    [ -f "$OUT_DIR/gpu-check/bench/results.json" ] || fail "the GPU check's benchmark step wrote no results.json (exit $rc)"
    cp "$OUT_DIR/gpu-check/bench/results.json" "$OUT_DIR/results.json"
    PYTHONPATH="$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -m reasonir_bench.report \
        --results "$OUT_DIR/results.json" || fail "could not render the GPU benchmark's report"
    exit $(( rc == 0 ? 0 : 1 ))
fi

# 1. Python packages (the peer and the plots)
if ! "$PY" -c 'import torch, matplotlib, numpy' >/dev/null 2>&1; then
    step "installing python3-torch and python3-matplotlib (Debian packages, once) ..."
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    if ! ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch \
            python3-matplotlib >/dev/null); then
        fail "could not install python3-torch python3-matplotlib (needs root or passwordless sudo); install them and rerun"
    fi
fi

# 2. the tokenizer and the build
mkdir -p "$ROOT/build"
bash "$ROOT/weights-tools/fetch_tokenizer.sh" >/dev/null || fail "could not fetch the Llama-3.1 tokenizer (see above)"
step "building the native tools and the Java jars (log: build/bench-build.log) ..."
if ! (cd "$ROOT" && mvn -B -ntp -q -DskipTests -pl benchmarks,cli -am package) >"$ROOT/build/bench-build.log" 2>&1; then
    tail -30 "$ROOT/build/bench-build.log" >&2
    fail "build failed; full log in build/bench-build.log"
fi
for f in build/native/bench_embed build/native/bench_gemm benchmarks/target/benchmarks.jar cli/target/reasonir-cli.jar; do
    [ -e "$ROOT/$f" ] || fail "the build did not produce $f"
done

# 3. the suites
cd "$ROOT"
export PYTHONPATH="$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m reasonir_bench.suite "$@"
