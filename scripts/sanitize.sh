#!/usr/bin/env bash
# The ASan + UBSan build (clang, -DDSRL_SANITIZE=ON, in build-san/) of the torch-free code: runs its unit tests,
# then each libFuzzer target for SECONDS from tests/fuzz/corpus/<target>/ (seeds, and every input that once found
# a bug: replayed first on each run). New inputs go to build-san/fuzz-corpus/, a crashing one to
# build-san/fuzz-crashes/. LibTorch is not instrumented, so the torch-linked tests stay in the normal build.
# Usage: scripts/sanitize.sh [SECONDS per fuzzer, default 30]   (scripts/test.sh runs it with 15)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-30}
build=${DSRL_SAN_BUILD_DIR:-$root/build-san}
start=$(date +%s)
if ! command -v clang++ >/dev/null; then
  echo "[sanitize] clang++ not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DDSRL_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    > "$build.cmake.log" 2>&1 || { tail -30 "$build.cmake.log"; exit 1; }
fi
tests=(common_tests text_tests kernels_tests reward_tests metrics_tests)
fuzzers=(safetensors_fuzz tokenizer_fuzz chat_parse_fuzz answer_fuzz config_fuzz)
ninja -C "$build" "${tests[@]}" "${fuzzers[@]}"
echo "[sanitize] built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${tests[@]}"; do
  if ! "$build/tests/$t" --gtest_brief=1 > "$build/$t.log" 2>&1; then
    tail -40 "$build/$t.log"
    echo "[sanitize] $t FAILED"
    exit 1
  fi
  echo "[sanitize] $t: $(grep -E '^\[  PASSED' "$build/$t.log")"
done
mkdir -p "$build/fuzz-crashes"
for f in "${fuzzers[@]}"; do
  work=$build/fuzz-corpus/$f
  mkdir -p "$work"
  if ! "$build/tests/$f" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="$build/fuzz-crashes/$f-" "$work" "tests/fuzz/corpus/$f" > "$build/$f.log" 2>&1; then
    tail -40 "$build/$f.log"
    echo "[sanitize] $f FAILED: the input is in $build/fuzz-crashes/ (add it to tests/fuzz/corpus/$f/ once fixed)"
    exit 1
  fi
  echo "[sanitize] $f: $(grep -E '^Done [0-9]+ runs' "$build/$f.log" | tail -1)"
done
echo "[sanitize] done in $(( $(date +%s) - start )) s"
