#!/usr/bin/env bash
# Installs what is missing, builds everything (and compiles the CUDA kernels where nvcc exists), checks the layering
# and runs every CPU test with ctest; then the ASan/UBSan build of the torch-free tests and each libFuzzer target
# for DSRL_FUZZ_SECONDS (default 20; 0 skips that part, as do ctest arguments).
# Usage: scripts/test.sh [ctest args...]      e.g. scripts/test.sh -R Config
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
scripts/install-deps.sh
scripts/check-layering.sh
scripts/build.sh
scripts/build-cuda-kernels.sh
echo "[test] built in $(( $(date +%s) - start )) s since start; running ctest"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cd "${DSRL_BUILD_DIR:-$root/build}"
ctest -L cpu -j "$(nproc)" --output-on-failure --timeout 300 "$@"
fuzz_seconds=${DSRL_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" -gt 0 ] && [ $# -eq 0 ]; then "$root/scripts/sanitize.sh" "$fuzz_seconds"; fi
echo "[test] done in $(( $(date +%s) - start )) s"
