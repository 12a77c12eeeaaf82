#!/usr/bin/env bash
# On the GPU machine (see docs/gpu.md): CUDA build into build-gpu/, the gpu-labelled tests, the CPU tests, and
# dsrl-train's preflight on the GPU (NCCL). Needs .gpu-deps/ from ../shared/gpu/prepare.sh + scripts/gpu-prepare.sh.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source .gpu-deps/env.sh
set -e
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
scripts/gpu-build.sh
cd build-gpu
set +e
ctest -L gpu --output-on-failure -V 2>&1 | grep -E '^\[|Test #|tests passed|Failure|Expected|Which is|error' ; gpu_rc=${PIPESTATUS[0]}
ctest -L cpu -j "$(nproc)" --output-on-failure | tail -4; cpu_rc=${PIPESTATUS[0]}
mpirun -np 1 trainer/dsrl-train --set stage=preflight --set device=cuda --set run_dir=/tmp/dsrl-gpu-preflight \
  --set preflight.allreduce_mb=256; train_rc=$?
cd "$root"
mpirun -np 1 build-gpu/trainer/dsrl-train --config configs/lm_tiny.yaml --set device=cuda --set train.steps=30 \
  --set train.log_every=10 --set run_dir=/tmp/dsrl-gpu-lm; lm_rc=$?
echo "gpu tests rc=$gpu_rc, cpu tests rc=$cpu_rc, preflight on cuda rc=$train_rc, lm on cuda rc=$lm_rc"
exit $(( gpu_rc || cpu_rc || train_rc || lm_rc ))
