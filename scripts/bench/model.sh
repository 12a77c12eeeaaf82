#!/usr/bin/env bash
# Model throughput, ours and the transformers baseline side by side in one run (GPU machine, after
# scripts/gpu-test.sh built build-gpu/). Config: ../shared/bench/dsv32_286m_config.json (286M, 8 layers, 16 experts
# top-4, index_topk 256) copied to scripts/bench/ so it travels. Prints the JSON lines and the command and date.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
config=${1:-$root/scripts/bench/dsv32_286m_config.json}
bin=${DSRL_BUILD_DIR:-$root/build-gpu}/trainer/dsrl-bench-model
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "command: scripts/bench/model.sh $config"
"$bin" "$config" --batch 4 --seq 2048 --steps 5 --device cuda --impl mha
"$bin" "$config" --batch 4 --seq 2048 --steps 5 --device cuda --impl mqa --gen-tokens 16
"$bin" "$config" --batch 4 --seq 2048 --steps 5 --device cuda --impl mha --sparse 0 --gen-tokens 16
python3 "$root/scripts/bench/hf_model.py" "$config" 4 2048 3 2>/dev/null
