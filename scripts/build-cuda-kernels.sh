#!/usr/bin/env bash
# Compiles the CUDA kernels (kernels/*.cu, sm_90a) with nvcc on a machine without a GPU, so that CI catches a
# kernel that no longer builds. Configures build-cuda/ with -DDSRL_CUDA=ON and builds only dsrl_kernels.
# Skips with a notice when nvcc is not installed (the kernels then build on the GPU machine only: docs/gpu.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -z "$nvcc" ]; then
  echo "[cuda] nvcc not found: CUDA kernels not compiled here"
  exit 0
fi
start=$(date +%s)
if [ ! -f build-cuda/build.ninja ]; then
  cmake -S . -B build-cuda -G Ninja -DDSRL_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" > build-cuda.cmake.log 2>&1 ||
    { tail -30 build-cuda.cmake.log; exit 1; }
fi
ninja -C build-cuda dsrl_kernels
echo "[cuda] kernels compiled with $("$nvcc" --version | tail -1) in $(( $(date +%s) - start )) s"
