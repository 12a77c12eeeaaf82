#!/usr/bin/env bash
# On the GPU machine: configure build-gpu/ (CUDA on) if needed and build the named targets (all when none).
# Needs .gpu-deps/ from ../shared/gpu/prepare.sh + scripts/gpu-prepare.sh (docs/gpu.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source .gpu-deps/env.sh
if [ ! -f build-gpu/build.ninja ]; then
  cmake -S . -B build-gpu -G Ninja -DDSRL_CUDA=ON -DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH" -DNCCL_ROOT="$NCCL_ROOT" \
    -DDSRL_GTEST_SOURCE="$root/.gpu-deps/googletest" -DDSRL_JSON_INCLUDE_DIR="$root/.gpu-deps/include" \
    > build-gpu.cmake.log 2>&1 || { tail -40 build-gpu.cmake.log; exit 1; }
fi
ninja -C build-gpu -j "$(nproc)" "$@"
