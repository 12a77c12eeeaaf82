#!/usr/bin/env bash
# Inference cost per million tokens against token position, dense attention vs DSA (the shape of DeepSeek-V3.2's
# cost figure), for the 286M config with index_topk 2048 on one GPU (GPU machine):
#   scripts/gpu-build.sh dsrl-bench-cost && scripts/bench/inference_cost.sh [OUT.jsonl]
# Then, where matplotlib is: python3 scripts/bench/plot_inference_cost.py OUT.jsonl docs/images/inference_cost.png
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-inference_cost.jsonl}
bin=${DSRL_BUILD_DIR:-$root/build-gpu}/model/dsrl-bench-cost
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "command: scripts/bench/inference_cost.sh $out"
"$bin" "$root/scripts/bench/dsv32_286m_config.json" --positions 1024,2048,4096,8192,16384,32768,65536 \
  --chunk 512 --batch 64 --topk 2048 --usd-per-hour 2 | tee "$out"
