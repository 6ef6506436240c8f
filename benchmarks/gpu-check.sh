#!/usr/bin/env bash
# gpu-check.sh: the one command that validates and benchmarks the CUDA engine on a GPU machine (see
# benchmarks/README.md). Runs offline on a bare H100/H200 box with nvcc, CMake, ninja, compute-sanitizer and a
# python3 holding torch + transformers + safetensors + numpy.
#
#   benchmarks/gpu-check.sh [--build-dir DIR] [--out DIR] [--quick] [--steps LIST] [--budget SECONDS] [--emulate]
#
# Steps (each prints its elapsed time, fails soft: its error is recorded and the next step runs). Validation steps
# (does the CUDA engine build, pass its tests and agree with HF transformers?):
#   env        GPU / driver / toolchain / Python package versions; locates libcublasLt (exports REASONIR_CUBLASLT)
#              and cublasLt.h (always runs: the later steps need what it finds)
#   build      reuses DIR/libreasonir.so when it loads, else configures + builds DIR (CUDA on, sm_90a)
#   header     compiles native/tests/cuda/cublaslt_header_check.cpp against the real cublasLt.h
#   fixtures   weights-tools/materialize_fixtures.py --out build/generated
#   ctest      ctest -R 'cuda|parity|api'
#   parity     python3 -m reasonir_bench.hf_parity: ours vs HF transformers vs the fp32 reference, with attention
#              sm80, then again with sm90 (vs sm80 too: cosine >= 0.9999; skipped on a GPU other than compute
#              capability 9.0 and for head_dims it lacks; the head_dim-128 config hd128_l2 is where it runs)
#   sanitizer  compute-sanitizer memcheck on DIR/test_cuda_forward --small, racecheck on DIR/test_cuda_ops
#              attention (the attention kernels' tests)                                          (optional)
#   java       build/jre/bin/java ... GpuSmoke when a JRE and jars were carried                (optional)
# Benchmark step (how fast, against HF transformers on the same GPU):
#   bench      python3 -m reasonir_bench.gpu_bench: ours vs HF on 8B-shaped checkpoints of 1 and 3 layers, with the
#              32-layer extrapolation, the batch-1 latency, the GEMM ceiling and per-op times (each attention
#              kernel), the attention sweep (sm80 and sm90 alone at S = 512..32768: ms, TFLOP/s, % of peak) and the
#              batch-1 latency of 32/128-token queries with CUDA graphs off and on (speedup, equal bits) (optional)
#              Also writes OUT/bench/results.json in the benchmark suite's schema, with its report.md and plots.
# The steps run in the order env build header fixtures ctest parity bench sanitizer java (most valuable first).
# The Python side is the package benchmarks/reasonir_bench (this script puts benchmarks/ on PYTHONPATH).
# --emulate: the whole check on a machine without a GPU, as a rehearsal (CI runs it): the CUDA emulator build of the
# engine (native/emu; build dir default build/gpu-emu, configured with the emulator, or an existing one such as
# Maven's build/native), the fake cuBLASLt, and the stand-ins in benchmarks/emulate/ for nvidia-smi and
# compute-sanitizer. ctest runs the emulator's CUDA tests, parity compares with HF transformers where it imports
# (else with the project's fp32 reference only), the benchmark times a tiny model, header and java are skipped (no
# real cublasLt.h; the Java API's CUDA path runs under the emulator in core's tests). Timings mean nothing there; the
# verdict and report are those of a GPU run. Scratch build/gpu-check-emu, report build/gpu-check-emu/report.
# reasonir_bench.check_report writes OUT/report.md and OUT/report.json (and OUT/steps.log) after every step, so a run
# cut off from outside still leaves a report of everything done so far (the steps not reached: incomplete), and
# prints a summary at the end.
#
# OUT: --out DIR, else $OUT when set, else benchmarks/results/<date>-<gpu>. Budget: 7 minutes (--budget, default
# 420 s); optional steps are not run once the budget minus 30 s has passed, and the Python steps stop starting new
# parts shortly before the budget ends.
# Environment: PYTHON (interpreter), GPU_CHECK_BUDGET_S, GPU_CHECK_WORK (scratch, default build/gpu-check),
# GPU_CHECK_CUBLASLT_SEARCH (folders to search for libcublasLt / cublasLt.h instead of the wheel, /usr, /opt, /).
# Verdict (report.json "overall"): pass (every step ran and held), fail (a real mismatch or error), incomplete
# (nothing failed, but a step was not run or not run to its end: time budget, a missing package, a run cut off from
# outside; report.md lists them: rerun those with --steps). Incomplete is never reported as fail.
# Exit status: 0 pass, 1 fail, 3 incomplete, 2 no GPU, 64 bad arguments.
set -u -o pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# The Python tools: python3 -m reasonir_bench.<module> (benchmarks/reasonir_bench)
export PYTHONPATH="$SCRIPT_DIR${PYTHONPATH:+:$PYTHONPATH}"
VALIDATION_STEPS="env build header fixtures ctest parity sanitizer java"
BENCHMARK_STEPS="bench"
# In order of value: a run cut short keeps the verdicts that matter most (build, the CUDA tests, parity, the
# benchmark), then the slow sanitizer, then Java.
ALL_STEPS="env build header fixtures ctest parity bench sanitizer java"
OPTIONAL_STEPS="sanitizer bench java"

usage() {
    sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'
}

ORIG_ARGS="$*"
BUILD_DIR=""
EMULATE=0
OUT_ARG=""
QUICK=0
STEPS_ARG=""
BUDGET="${GPU_CHECK_BUDGET_S:-420}"
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) [ $# -ge 2 ] || { echo "gpu-check: --build-dir needs a value" >&2; exit 64; }; BUILD_DIR="$2"; shift 2 ;;
        --build-dir=*) BUILD_DIR="${1#*=}"; shift ;;
        --out) [ $# -ge 2 ] || { echo "gpu-check: --out needs a value" >&2; exit 64; }; OUT_ARG="$2"; shift 2 ;;
        --out=*) OUT_ARG="${1#*=}"; shift ;;
        --quick) QUICK=1; shift ;;
        --emulate) EMULATE=1; shift ;;
        --steps) [ $# -ge 2 ] || { echo "gpu-check: --steps needs a value" >&2; exit 64; }; STEPS_ARG="$2"; shift 2 ;;
        --steps=*) STEPS_ARG="${1#*=}"; shift ;;
        --budget) [ $# -ge 2 ] || { echo "gpu-check: --budget needs a value" >&2; exit 64; }; BUDGET="$2"; shift 2 ;;
        --budget=*) BUDGET="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
case "$BUDGET" in ''|*[!0-9]*) echo "gpu-check: --budget must be a whole number of seconds" >&2; exit 64 ;; esac
case "$ORIG_ARGS" in *--build-dir*) [ -n "$BUILD_DIR" ] || { echo "gpu-check: --build-dir is empty" >&2; exit 64; } ;; esac
if [ "$EMULATE" = 1 ]; then
    BUILD_DIR="${BUILD_DIR:-build/gpu-emu}"
    PATH="$SCRIPT_DIR/emulate:$PATH"  # the nvidia-smi and compute-sanitizer stand-ins
else
    BUILD_DIR="${BUILD_DIR:-build/gpu}"
fi
SELECTED="$ALL_STEPS"
if [ -n "$STEPS_ARG" ]; then
    SELECTED="env"
    for s in ${STEPS_ARG//,/ }; do
        case " $ALL_STEPS " in *" $s "*) ;; *) echo "gpu-check: unknown step '$s' (validation: $VALIDATION_STEPS; benchmark: $BENCHMARK_STEPS)" >&2; exit 64 ;; esac
        [ "$s" = env ] || SELECTED="$SELECTED $s"
    done
fi

# ---- no GPU: fail fast and clearly ---------------------------------------------------------------------------------
no_gpu() {
    echo "gpu-check: no NVIDIA GPU visible: nvidia-smi $1; this script needs one" >&2
    exit 2
}
command -v nvidia-smi >/dev/null 2>&1 || no_gpu "not found on PATH"
GPU_LIST="$(timeout 5 nvidia-smi -L 2>&1)"
rc=$?
if [ $rc -ne 0 ]; then
    no_gpu "-L failed (exit $rc): $(printf '%s' "$GPU_LIST" | head -n 2 | tr '\n' ' ')"
fi
printf '%s\n' "$GPU_LIST" | grep -q '^GPU [0-9]' || no_gpu "-L lists no GPU: $(printf '%s' "$GPU_LIST" | head -n 2 | tr '\n' ' ')"

# ---- setup ---------------------------------------------------------------------------------------------------------
cd "$ROOT"
START=$(date +%s)
SKIP_AT=$((BUDGET - 30))
export GPU_CHECK_DEADLINE=$((START + BUDGET - 15))
elapsed() { echo $(( $(date +%s) - START )); }
left_before_skip() { echo $(( SKIP_AT - $(elapsed) )); }

MODE=full
[ "$QUICK" = 1 ] && MODE=quick
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import numpy' >/dev/null 2>&1 && [ -x /opt/torch/.venv/bin/python3 ]; then
    PY=/opt/torch/.venv/bin/python3
fi
GPU_NAME="$(timeout 5 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
# compute capability (e.g. 9.0): parity skips the sm90 attention kernel on any other; empty when unknown
GPU_CC="$(timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null \
    | head -n 1 | awk -F', *' '{print $NF}')"
case "$GPU_CC" in [0-9]*.[0-9]*) ;; *) GPU_CC="" ;; esac
GPU_SLUG="$(printf '%s' "${GPU_NAME:-gpu}" | tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//' -e 's/-$//')"
DEFAULT_WORK=build/gpu-check
[ "$EMULATE" = 1 ] && DEFAULT_WORK=build/gpu-check-emu
WORK="${GPU_CHECK_WORK:-$DEFAULT_WORK}"
if [ -n "$OUT_ARG" ]; then
    OUT_DIR="$OUT_ARG"
elif [ -n "${OUT:-}" ]; then
    OUT_DIR="$OUT"
elif [ "$EMULATE" = 1 ]; then
    OUT_DIR="$WORK/report"  # a rehearsal's report is not a result
else
    OUT_DIR="benchmarks/results/$(date +%Y%m%d-%H%M)-${GPU_SLUG:-gpu}"
fi
STEPS="$WORK/steps"
LOGS="$WORK/logs"
mkdir -p "$OUT_DIR" "$LOGS" "$WORK/scratch" || { echo "gpu-check: cannot create $OUT_DIR / $WORK" >&2; exit 1; }
rm -rf "$STEPS"
mkdir -p "$STEPS"
rm -f "$LOGS"/*.log
STEPS_LOG="$OUT_DIR/steps.log"
: > "$STEPS_LOG"
abs_path() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
# BIN_DIR holds the programs under their GPU names: the build dir itself, or under --emulate links to the emulator
# build's (emu-lib/libreasonir.so, *_emu), so that every later step runs the same commands either way.
BIN_DIR="$BUILD_DIR"
if [ "$EMULATE" = 1 ]; then
    BIN_DIR="$WORK/emu-bin"
    mkdir -p "$BIN_DIR"
    ln -sfn "$(abs_path "$BUILD_DIR")/emu-lib/libreasonir.so" "$BIN_DIR/libreasonir.so"
    for b in test_cuda_forward test_cuda_ops bench_embed bench_cuda_ops; do
        ln -sfn "$(abs_path "$BUILD_DIR")/${b}_emu" "$BIN_DIR/$b"
    done
    MODE=emulate
fi
LIB="$BIN_DIR/libreasonir.so"
export REASONIR_FIXTURES="$ROOT/weights-tools/fixtures"
export REASONIR_GENERATED="$ROOT/build/generated"
export REASONIR_SCRATCH="$WORK/scratch"
export PYTHONDONTWRITEBYTECODE=1

echo "gpu-check: $GPU_NAME; build dir $BUILD_DIR; out $OUT_DIR; mode $MODE; budget ${BUDGET}s; python $PY"

# record STEP STATUS SUMMARY [reasonir_bench.common record args...]: the step's JSON record (shell steps)
record() {
    local step="$1" status="$2" summary="$3"
    shift 3
    "$PY" -m reasonir_bench.common record --steps-dir "$STEPS" --step "$step" --status "$status" \
        --elapsed "$(( $(date +%s) - STEP_T0 ))" --summary "$summary" "$@" \
        || echo "{\"step\": \"$step\", \"status\": \"error\", \"summary\": \"could not record (python failed)\", \"data\": {}}" \
            > "$STEPS/$step.json"
}

selected() { case " $SELECTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
optional() { case " $OPTIONAL_STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# run_step NAME: runs step_NAME with its output in $LOGS/NAME.log; the function records its own JSON (or the
# wrapper records an error when it did not), appends the log's tail to steps.log and prints status + elapsed.
run_step() {
    local name="$1" log="$LOGS/$1.log" t0 st summ
    selected "$name" || return 0
    STEP_ELAPSED=0
    STEP_T0=$(date +%s)
    if optional "$name" && [ "$(elapsed)" -gt "$SKIP_AT" ]; then
        record "$name" incomplete "not run: time budget (${SKIP_AT}s) used up at $(elapsed)s"
        printf '[%4ss] %-10s INCOMPLETE (time budget)\n' "$(elapsed)" "$name"
        return 0
    fi
    printf '[%4ss] %-10s ...\n' "$(elapsed)" "$name"
    t0=$(date +%s)
    "step_$name" > "$log" 2>&1
    STEP_ELAPSED=$(( $(date +%s) - t0 ))
    if [ ! -s "$STEPS/$name.json" ]; then
        record "$name" error "the step ended without a record" --error-file "$log"
    fi
    {
        echo "===== $name ($(date -u +%H:%M:%S), ${STEP_ELAPSED}s) ====="
        tail -c 1500000 "$log"
        echo
    } >> "$STEPS_LOG"
    read -r st summ < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("status","?"), d.get("summary","").replace("\n"," ")[:150])' "$STEPS/$name.json" 2>/dev/null || echo "? unreadable")
    printf '[%4ss] %-10s %s in %ss: %s\n' "$(elapsed)" "$name" "$(printf '%s' "$st" | tr a-z A-Z)" "$STEP_ELAPSED" "$summ"
    write_report > /dev/null 2>&1 || true  # the report so far: a run killed from outside after this still has it
}

# ---- validation steps ------------------------------------------------------------------------------------------------
CUBLASLT_SO=""
CUBLASLT_INC=""

pick_cublaslt() {  # stdin: candidate paths; prints the preferred libcublasLt (.so.13, then .so.13.*, .so.12*, any)
    awk '{ p=$0; n=p; sub(/.*\//, "", n);
           r = (n == "libcublasLt.so.13") ? 0 : (n ~ /^libcublasLt\.so\.13\./) ? 1 : (n ~ /^libcublasLt\.so\.12/) ? 2 : (n == "libcublasLt.so") ? 3 : 4;
           print r "\t" p }' | sort -k1,1n -s | head -n 1 | cut -f2
}

step_env() {
    local t0 smi wheel cands py_json status=pass problems=""
    smi="$(timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -n 1)"
    echo "nvidia-smi: $smi"
    timeout 10 nvidia-smi 2>&1 | head -n 20
    # cuBLASLt: the pip wheels first, then the file system. The NVIDIA wheels share the namespace package `nvidia`:
    # CUDA 12 ones install nvidia/cublas/{lib,include}, CUDA 13 ones nvidia/cu13/{lib,include}, where a probe of
    # `import nvidia.cublas` finds nothing; so every folder of the namespace is searched.
    wheel="$(timeout 20 "$PY" -c 'import nvidia; print("\n".join(list(nvidia.__path__)))' 2>/dev/null | head -n 4)"
    echo "nvidia wheel dirs: ${wheel:-none}"
    if [ "$EMULATE" = 1 ]; then  # the emulator build's fake cuBLASLt (the build step makes it); no real header
        cands="$(abs_path "$BUILD_DIR")/libfake_cublaslt.so"
    elif [ -n "${GPU_CHECK_CUBLASLT_SEARCH:-}" ]; then  # explicit folders only (no find /)
        # shellcheck disable=SC2086
        cands="$(find $GPU_CHECK_CUBLASLT_SEARCH \( -name 'libcublasLt.so*' -o -name cublasLt.h \) -print 2>/dev/null | sort -u)"
    else
        # shellcheck disable=SC2086
        cands="$( { [ -n "$wheel" ] && find $wheel \( -name 'libcublasLt.so*' -o -name cublasLt.h \) 2>/dev/null;
                    timeout 20 find /usr/local /usr/lib /usr/lib64 /usr/include /opt \
                        \( -name 'libcublasLt.so*' -o -name cublasLt.h \) -print 2>/dev/null; } | sort -u)"
        if ! printf '%s\n' "$cands" | grep -q '/libcublasLt\.so' || ! printf '%s\n' "$cands" | grep -q '/cublasLt\.h$'; then
            echo "searching the whole file system (find /)"
            cands="$( { printf '%s\n' "$cands";
                        timeout 40 find / \( -path /proc -o -path /sys -o -path /dev -o -path "$ROOT" \) -prune -o \
                            \( -name 'libcublasLt.so*' -o -name cublasLt.h \) -print 2>/dev/null; } | grep . | sort -u)"
        fi
    fi
    echo "candidates:"; printf '%s\n' "$cands"
    CUBLASLT_SO="$(printf '%s\n' "$cands" | grep '/libcublasLt\.so' | pick_cublaslt)"
    [ "$EMULATE" = 1 ] && CUBLASLT_SO="$cands"
    local hdr
    hdr="$(printf '%s\n' "$cands" | grep '/cublasLt\.h$' | head -n 1)"
    [ -n "$hdr" ] && CUBLASLT_INC="$(dirname "$hdr")"
    if [ -n "$CUBLASLT_SO" ]; then
        export REASONIR_CUBLASLT="$CUBLASLT_SO"
        # the engine dlopens the path itself; make its directory visible too (cuBLASLt's own dependencies)
        export LD_LIBRARY_PATH="$(dirname "$CUBLASLT_SO")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        status=fail; problems="no libcublasLt.so found; "
    fi
    [ -n "$CUBLASLT_INC" ] || [ "$EMULATE" = 1 ] || problems="${problems}no cublasLt.h found; "
    py_json="$WORK/env_python.json"
    timeout 60 "$PY" - > "$py_json" 2>"$WORK/env_python.err" <<'EOF'
import json, sys
out = {"python": sys.version.split()[0], "python_exe": sys.executable}
for mod in ("numpy", "torch", "transformers", "safetensors", "accelerate"):
    try:
        m = __import__(mod)
        out[mod] = getattr(m, "__version__", "?")
    except Exception as exc:  # noqa: BLE001
        out[mod] = f"missing ({type(exc).__name__})"
try:
    import torch
    out["torch_cuda"] = torch.version.cuda
    out["torch_cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        out["torch_device"] = torch.cuda.get_device_name(0)
except Exception:  # noqa: BLE001
    pass
print(json.dumps(out))
EOF
    cat "$py_json" "$WORK/env_python.err"
    if [ "$EMULATE" = 1 ]; then  # HF runs on the CPU when it imports; parity falls back to the reference otherwise
        grep -q '"transformers": "missing' "$py_json" && problems="${problems}no transformers (parity: reference only); "
    else
        grep -q '"torch_cuda_available": true' "$py_json" || { status=fail; problems="${problems}torch cannot use the GPU; "; }
        grep -q '"transformers": "missing' "$py_json" && { status=fail; problems="${problems}no transformers; "; }
    fi
    record env "$status" "${smi}; cublasLt ${CUBLASLT_SO:-none}${problems:+; $problems}" \
        --data "$py_json" \
        --set "gpu=$smi" \
        --set "gpu_list=$(printf '%s' "$GPU_LIST" | head -n 4 | tr '\n' ';')" \
        --set "nvcc=$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | grep -i release | head -n 1)" \
        --set "cmake=$(cmake --version 2>/dev/null | head -n 1)" \
        --set "ninja=$(ninja --version 2>/dev/null)" \
        --set "gxx=$(g++ --version 2>/dev/null | head -n 1)" \
        --set "compute_sanitizer=$(compute-sanitizer --version 2>/dev/null | grep -i version | head -n 1)" \
        --set "cublaslt_so=${CUBLASLT_SO:-none}" --set "cublaslt_h_dir=${CUBLASLT_INC:-none}" \
        --set "cpu_cores=$(nproc)" --set "git_head=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" \
        --set "git_dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)"
}

lib_loads() { [ -f "$LIB" ] && "$PY" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$LIB" >/dev/null 2>&1; }

# --emulate: the emulator's targets in BUILD_DIR; an existing build dir (e.g. Maven's build/native) is built, never
# reconfigured, and must have been configured with the emulator (REASONIR_EMU_TESTS=ON).
EMU_TARGETS="reasonir_emu_shared fake_cublaslt test_emu test_cuda_forward_emu test_cuda_ops_emu test_cuda_multi_device_emu bench_embed_emu bench_cuda_ops_emu"
build_emulated() {
    if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
        mode="emulator targets built in $BUILD_DIR"
        if ! grep -q '^REASONIR_EMU_TESTS:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
            echo "$BUILD_DIR was configured without the CUDA emulator (REASONIR_EMU_TESTS=OFF): use another --build-dir"
            return 1
        fi
    else
        mode="configured (CUDA off, emulator on) and built"
        timeout 120 cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DREASONIR_CUDA=OFF -DREASONIR_EMU_TESTS=ON \
            -DPython3_EXECUTABLE="$(command -v "$PY")" || return 1
    fi
    # Every CUDA test program of this checkout (test_cuda_*_emu: the ops, the forward, CUDA graphs, ...), so that a
    # test added to the CMake list is built for ctest -R _emu without a change here.
    local tests
    tests="$(cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep -o 'test_cuda_[A-Za-z0-9_]*_emu' | sort -u | tr '\n' ' ')"
    # shellcheck disable=SC2086
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target $EMU_TARGETS $tests
}

step_build() {
    local t0 mode rc=0 home gen
    t0=$(date +%s)
    if [ "$EMULATE" = 1 ]; then
        build_emulated; rc=$?
    elif lib_loads; then
        mode="reused $LIB"
        home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
        if [ -f "$BUILD_DIR/build.ninja" ] && [ "$home" = "$ROOT" ]; then
            mode="$mode (incremental build)"
            # ctest's fixture setup runs CMake's Python3_EXECUTABLE: it must be this run's interpreter (with numpy)
            if [ "$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)" != "$(command -v "$PY")" ]; then
                timeout 120 cmake -S . -B "$BUILD_DIR" -DPython3_EXECUTABLE="$(command -v "$PY")"
            fi
            timeout 420 cmake --build "$BUILD_DIR" -j16; rc=$?
        fi
    else
        mode="configured and built"
        home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
        gen="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
        if [ -f "$BUILD_DIR/CMakeCache.txt" ] && { [ "$home" != "$ROOT" ] || [ "$gen" != "Ninja" ]; }; then
            echo "removing a stale CMake cache (source '$home', generator '$gen')"
            rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
        fi
        # Python3_EXECUTABLE: ctest's fixture setup (materialize_fixtures.py, numpy) must run under this interpreter,
        # not whichever python3 CMake would find first (without numpy every fixture-dependent test would be skipped)
        timeout 120 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREASONIR_CUDA=ON \
            -DCMAKE_CUDA_ARCHITECTURES=90a-real -DREASONIR_EMU_TESTS=OFF -DPython3_EXECUTABLE="$(command -v "$PY")" \
            && timeout 480 cmake --build "$BUILD_DIR" -j16
        rc=$?
    fi
    local secs=$(( $(date +%s) - t0 )) bins="" b
    for b in test_cuda_forward test_cuda_ops bench_embed bench_cuda_ops; do
        [ -x "$BIN_DIR/$b" ] && bins="$bins $b" || bins="$bins !$b"
    done
    local cuda_count lib_abs="$LIB"
    case "$LIB" in /*) ;; *) lib_abs="$ROOT/$LIB" ;; esac
    cuda_count="$("$PY" -c 'import sys; from reasonir_bench import engine; n, why = engine.cuda_device_count(engine.load_library(sys.argv[1])); print(f"{n} device(s)" + (f" ({why})" if why else ""))' "$lib_abs" 2>&1 | tail -n 1)"
    echo "rir_cuda_device_count: $cuda_count"
    if [ $rc -eq 0 ] && lib_loads; then
        record build pass "$mode in ${secs}s; binaries:$bins; CUDA: $cuda_count" --set "build_s=$secs" \
            --set "mode=$mode" --set "binaries=$bins" --set "cuda_devices=$cuda_count"
    else
        record build fail "$mode failed (exit $rc) after ${secs}s" --set "build_s=$secs" --set "mode=$mode" \
            --error-file "$LOGS/build.log"
    fi
}

step_header() {
    local src="native/tests/cuda/cublaslt_header_check.cpp" rc
    if [ "$EMULATE" = 1 ]; then
        record header skip "skipped: emulated run (no real cublasLt.h to check cublaslt_api.h against)"; return
    fi
    if [ ! -f "$src" ]; then record header fail "$src is missing"; return; fi
    if [ -z "$CUBLASLT_INC" ]; then record header fail "no cublasLt.h found on this machine"; return; fi
    echo "g++ -std=c++17 -fsyntax-only -I$CUBLASLT_INC -I/usr/local/cuda/include -Inative/src -Inative/include $src"
    timeout 120 g++ -std=c++17 -fsyntax-only -I"$CUBLASLT_INC" -I/usr/local/cuda/include -Inative/src \
        -Inative/include "$src"
    rc=$?
    if [ $rc -eq 0 ]; then
        record header pass "cublaslt_api.h agrees with $CUBLASLT_INC/cublasLt.h" --set "header=$CUBLASLT_INC/cublasLt.h"
    else
        record header fail "g++ -fsyntax-only failed (exit $rc): declarations differ from cublasLt.h" \
            --set "header=$CUBLASLT_INC/cublasLt.h" --error-file "$LOGS/header.log"
    fi
}

step_fixtures() {
    local rc
    timeout 180 "$PY" weights-tools/materialize_fixtures.py --out build/generated
    rc=$?
    # ctest materializes into BUILD/generated: point it at the same checkpoints instead of generating them again
    if [ $rc -eq 0 ] && [ ! -e "$BUILD_DIR/generated" ] && [ -d "$BUILD_DIR" ]; then
        ln -s "$ROOT/build/generated" "$BUILD_DIR/generated" && echo "linked $BUILD_DIR/generated -> build/generated"
    fi
    if [ $rc -eq 0 ]; then
        record fixtures pass "$(grep -c 'materialize_fixtures: ' "$LOGS/fixtures.log") checkpoints in build/generated"
    else
        record fixtures fail "materialize_fixtures.py exit $rc" --error-file "$LOGS/fixtures.log"
    fi
}

step_ctest() {
    local rc regex='cuda|parity|api' sum="$WORK/ctest_summary.json" t
    t=150; [ "$QUICK" = 1 ] && t=100
    [ "$EMULATE" = 1 ] && { regex='_emu'; t=400; }  # the CUDA tests over the emulator (minutes on a CPU)
    timeout -k 5 "$t" ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -R "$regex" --timeout "$((t - 30))" \
        -j4 > "$WORK/ctest.out" 2>&1
    rc=$?
    cat "$WORK/ctest.out"
    "$PY" -m reasonir_bench.validate ctest-summary "$WORK/ctest.out" > "$sum" 2>/dev/null || echo '{}' > "$sum"
    local line
    line="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("line", ""))' "$sum" 2>/dev/null)"
    if [ $rc -eq 0 ]; then
        record ctest pass "$line" --data "$sum" --set "regex=$regex" --set "rc=$rc"
    else
        [ $rc -eq 124 ] && line="$line; timed out after ${t}s"
        record ctest fail "ctest exit $rc: ${line:-no output}" --data "$sum" --set "regex=$regex" --set "rc=$rc" \
            --error-file "$WORK/ctest.out"
    fi
}

# memcheck on one small forward (every kernel of a layer); racecheck on the attention kernels' tests, the kernels
# with shared-memory tiles written and read by different warps (the rest of the forward is GEMMs and row ops).
sanitizer_cmd() {
    case "$1" in
        memcheck) echo "$BIN_DIR/test_cuda_forward --small" ;;
        racecheck) echo "$BIN_DIR/test_cuda_ops attention" ;;
    esac
}

step_sanitizer() {
    local tools="memcheck racecheck" tool rc t lim t0 st json="{" sep="" fails=0 summ="" cmd
    [ "$QUICK" = 1 ] && tools="memcheck"
    for tool in $tools; do
        cmd="$(sanitizer_cmd "$tool")"
        if [ ! -x "${cmd%% *}" ]; then record sanitizer fail "${cmd%% *} is missing (nothing for $tool to check)"; return; fi
    done
    if ! command -v compute-sanitizer >/dev/null 2>&1; then record sanitizer fail "compute-sanitizer not on PATH"; return; fi
    local unfinished=0
    for tool in $tools; do
        lim=60; [ "$QUICK" = 1 ] && lim=45
        # parity and the benchmark ran before: the rest of the budget; below 15 s a tool cannot finish: not run
        t=$(left_before_skip); [ $t -gt $lim ] && t=$lim
        if [ $t -lt 15 ]; then
            json="$json$sep\"$tool\": {\"status\": \"not run (time budget)\", \"rc\": null, \"elapsed_s\": 0, \"parsed\": {}}"
            sep=", "; summ="$summ$tool not run (time budget); "; unfinished=$((unfinished+1))
            continue
        fi
        t0=$(date +%s)
        cmd="$(sanitizer_cmd "$tool")"
        echo "\$ compute-sanitizer --tool $tool --error-exitcode 1 $cmd   (limit ${t}s)"
        # shellcheck disable=SC2086
        timeout -k 5 "$t" compute-sanitizer --tool "$tool" --error-exitcode 1 $cmd > "$WORK/san_$tool.out" 2>&1
        rc=$?
        tail -c 200000 "$WORK/san_$tool.out"
        local p
        p="$("$PY" -m reasonir_bench.validate sanitizer-summary "$WORK/san_$tool.out" 2>/dev/null)"
        [ -n "$p" ] || p='{}'
        # a timeout is not a finding: the tool did not finish (incomplete), it did not report an error
        if [ $rc -eq 0 ]; then st=pass; elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then st="timeout ${t}s"; unfinished=$((unfinished+1)); else st=fail; fails=$((fails+1)); fi
        json="$json$sep\"$tool\": {\"status\": \"$st\", \"command\": \"$cmd\", \"rc\": $rc, \"elapsed_s\": $(( $(date +%s) - t0 )), \"parsed\": $p}"
        sep=", "
        summ="$summ$tool $st; "
    done
    json="$json}"
    printf '{"tools": %s}\n' "$json" > "$WORK/sanitizer.json"
    # flatten parsed.summary_line for the report
    "$PY" - "$WORK/sanitizer.json" <<'EOF' || true
import json, sys
p = sys.argv[1]
d = json.load(open(p))
for t, v in d["tools"].items():
    v["summary_line"] = (v.get("parsed") or {}).get("summary_line") or ""
json.dump(d, open(p, "w"))
EOF
    if [ $fails -eq 0 ] && [ $unfinished -gt 0 ]; then
        record sanitizer incomplete "${summ% }" --data "$WORK/sanitizer.json"
    elif [ $fails -eq 0 ]; then
        record sanitizer pass "${summ% }" --data "$WORK/sanitizer.json"
    else
        record sanitizer fail "${summ% }" --data "$WORK/sanitizer.json" --error-file "$LOGS/sanitizer.log"
    fi
}

step_parity() {
    local t=300 where
    [ "$QUICK" = 1 ] && t=200
    # On a GPU: the fixtures and a 2-layer 8B-shaped checkpoint, HF on the GPU. Emulated: the fixtures only (an 8B
    # layer would take hours on the emulator), HF on the CPU when transformers imports, else the reference only.
    where=(--big "$WORK/ckpt-8b-l2" --make-big)
    if [ "$EMULATE" = 1 ]; then
        where=(--device cpu)
        "$PY" -c 'import transformers' >/dev/null 2>&1 || where+=(--skip-hf)
    fi
    # both attention kernels: sm80 (the "ours" columns), then sm90 on every config its head_dim and this GPU allow;
    # hd128_l2 (head_dim 128, seconds to make) is the small config where sm90 runs
    timeout -k 10 "$t" "$PY" -m reasonir_bench.hf_parity --lib "$LIB" --generated build/generated \
        --fixtures weights-tools/fixtures "${where[@]}" --steps-dir "$STEPS" --attention-kernels sm80,sm90 \
        --compute-capability "$GPU_CC" --hd128 "$WORK/ckpt-hd128"
    local rc=$?
    echo "reasonir_bench.hf_parity exit $rc"
    if [ ! -s "$STEPS/parity.json" ]; then
        record parity error "reasonir_bench.hf_parity ended (exit $rc) without a record (crash or timeout)" --error-file "$LOGS/parity.log"
    fi
}

step_java() {
    local jars
    if [ "$EMULATE" = 1 ]; then
        record java skip "skipped: emulated run (core's emulated-gpu tests run the Java API's CUDA path on the emulator)"
        return
    fi
    jars="$(ls build/gpu-java/*.jar 2>/dev/null | head -n 1)"
    if [ ! -x build/jre/bin/java ] || [ -z "$jars" ]; then
        record java skip "skipped: no carried JRE"
        return
    fi
    # JavaCPP extracts the native libraries to a cache folder; keep it inside the scratch folder.
    timeout -k 5 120 build/jre/bin/java -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" \
        -cp 'build/gpu-java/*' dev.reasonir.tools.GpuSmoke build/generated/llama3_gqa \
        weights-tools/fixtures/llama3_gqa/inputs.json cuda > "$WORK/java.out" 2>&1
    local rc=$?
    cat "$WORK/java.out"
    if [ $rc -eq 0 ]; then
        record java pass "GpuSmoke ok: $(tail -n 1 "$WORK/java.out" | cut -c1-120)" --set-file "output=$WORK/java.out"
    else
        record java fail "GpuSmoke exit $rc" --set-file "output=$WORK/java.out"
    fi
}

# ---- benchmark steps -------------------------------------------------------------------------------------------------
step_bench() {
    local args=(--build-dir "$BIN_DIR" --steps-dir "$STEPS" --work-dir "$WORK" --log "$LOGS/bench_commands.txt"
                --python "$PY" --results-dir "$OUT_DIR/bench" --meta "gpu=$GPU_NAME" --meta "mode=$MODE"
                --meta "command=benchmarks/gpu-check.sh $ORIG_ARGS" --meta "check_report=../report.md")
    if [ "$EMULATE" = 1 ]; then  # the flow on a tiny fixture; the emulator's timings mean nothing
        args+=(--model build/generated/h256_l4 --seq-lens 64 --batch-tokens 128 --iters 1 --warmup 0
               --latency-len 8 --latency-iters 2 --ops-tokens 128 --gemm-size 128 --no-hf
               --attn-sweep 64,128 --attn-heads 2,1 --attn-tokens 128 --attn-iters 2
               --graph-lens 8,16 --graph-iters 2 --graph-warmup 1)
    else
        args+=(--model "$WORK/ckpt-8b" --make-checkpoint)  # 1 and 3 8B-shaped layers, extrapolated to 32
        [ "$QUICK" = 1 ] && args+=(--seq-lens 512,8192 --iters 3 --latency-iters 30 --graph-iters 30)
    fi
    # the attention sweep (default S = 512,2048,8192,32768 on 32/8 heads of 128) and the per-op layer time both
    # attention kernels; graphs off/on latency at 32 and 128 tokens (gpu_bench.py's defaults)
    args+=(--attn-kernels sm80,sm90)
    timeout -k 10 400 "$PY" -m reasonir_bench.gpu_bench "${args[@]}"
    local rc=$?
    echo "reasonir_bench.gpu_bench exit $rc"
    [ -f "$LOGS/bench_commands.txt" ] && tail -c 400000 "$LOGS/bench_commands.txt"
    if [ ! -s "$STEPS/bench.json" ]; then
        record bench error "reasonir_bench.gpu_bench ended (exit $rc) without a record (crash or timeout)" --error-file "$LOGS/bench.log"
    fi
}

# write_report: OUT/report.{md,json} from the step records so far (steps selected but without a record yet show as
# not run); prints check_report's summary; returns its exit status (0 pass, 1 fail, 3 incomplete).
write_report() {
    "$PY" -m reasonir_bench.check_report --steps-dir "$STEPS" --out-dir "$OUT_DIR" \
        --expect "$(printf '%s' "$SELECTED" | tr ' ' ',')" \
        --meta "gpu=$GPU_NAME" --meta "total_elapsed_s=$(elapsed)" --meta "budget_s=$BUDGET" --meta "mode=$MODE" \
        --meta "build_dir=$BUILD_DIR" --meta "command=benchmarks/gpu-check.sh $ORIG_ARGS" --meta "out_dir=$OUT_DIR"
}

# ---- run -----------------------------------------------------------------------------------------------------------
STEP_ELAPSED=0
STEP_T0=$(date +%s)
for s in $ALL_STEPS; do
    run_step "$s"
done

echo
write_report
RC=$?
if [ $RC -ne 0 ] && [ $RC -ne 1 ] && [ $RC -ne 3 ]; then
    echo "gpu-check: check_report failed (exit $RC); step records are in $STEPS" >&2
    RC=1
fi
echo "gpu-check: total $(elapsed)s; report: $OUT_DIR/report.md, $OUT_DIR/report.json, $OUT_DIR/steps.log"
exit $RC
