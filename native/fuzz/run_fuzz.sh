#!/usr/bin/env bash
# run_fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target built in BUILD_DIR (see fuzz.cmake) for SECONDS each,
# starting from a temporary copy of its committed seed corpus (native/fuzz/corpus/<target>/, never modified).
# Crashing inputs are kept under BUILD_DIR/fuzz-artifacts/<target>/. Exits non-zero if any target crashes,
# leaks, times out on an input or runs out of memory.
set -euo pipefail

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
  echo "usage: $0 BUILD_DIR SECONDS   (BUILD_DIR configured with -DREASONIR_FUZZ=ON and built with --target fuzz)" >&2
  exit 2
fi
build_dir=$1
duration=$2
here=$(cd "$(dirname "$0")" && pwd)
targets="fuzz_safetensors fuzz_json_config fuzz_index"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for t in $targets; do
  bin="$build_dir/$t"
  if [ ! -x "$bin" ]; then
    echo "$t: $bin not found (build it with: cmake --build $build_dir --target fuzz)" >&2
    exit 2
  fi
  mkdir -p "$work/$t" "$build_dir/fuzz-artifacts/$t"
  cp "$here/corpus/$t/"* "$work/$t/"
  log="$work/$t.log"
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: the parsers must stay far below 2 GB.
  if "$bin" -max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 -dict="$here/json.dict" \
      -artifact_prefix="$build_dir/fuzz-artifacts/$t/" -print_final_stats=1 "$work/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ok, ${execs:-?} runs in ${duration} s (${rate:-?} exec/s), ${cov:-cov: ?}, corpus $(ls "$work/$t" | wc -l) inputs"
  else
    failed=1
    echo "$t: FAILED (crash inputs in $build_dir/fuzz-artifacts/$t/); last lines of the log:" >&2
    tail -n 60 "$log" >&2
  fi
done
exit $failed
