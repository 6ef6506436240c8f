#!/usr/bin/env bash
# ci_fuzz.sh BUILD_DIR SECONDS: the bounded fuzz step of `mvn verify`. Configures and builds the libFuzzer targets
# with clang-14 in BUILD_DIR, then runs each for SECONDS (run_fuzz.sh). Without clang-14 + libFuzzer (Debian:
# clang-14 libclang-rt-14-dev, which .ci/run installs) it says so and skips: the rest of the suite does not need it.
set -euo pipefail
build_dir=$1
seconds=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v clang++-14 >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: clang-14 with libFuzzer is not installed (apt-get install clang-14 libclang-rt-14-dev)"
  exit 0
fi
cmake -S "$root" -B "$build_dir" -DREASONIR_FUZZ=ON -DREASONIR_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
cmake --build "$build_dir" --target fuzz -j 2 >/dev/null
bash "$root/native/fuzz/run_fuzz.sh" "$build_dir" "$seconds"
