#!/usr/bin/env bash
# Issue 10's kernels, ours and the eager PyTorch baseline side by side in one run (GPU machine):
#   scripts/gpu-build.sh dsrl-bench-kernels && scripts/bench/kernels.sh [sparse_mla | indexer | sampling]
# Prints the JSON lines of both and a table with the published anchors; a group name runs that group only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${DSRL_BUILD_DIR:-$root/build-gpu}/model/dsrl-bench-kernels
lines=$(mktemp)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
group=${1:-}
echo "command: scripts/bench/kernels.sh $group"
"$bin" $group | tee -a "$lines"
python3 "$root/scripts/bench/kernels_eager.py" $group | tee -a "$lines"
python3 "$root/scripts/bench/kernels_table.py" "$lines"
