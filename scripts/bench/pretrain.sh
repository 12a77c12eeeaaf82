#!/usr/bin/env bash
# Throughput of the continued-pretraining stages on the GPU machine (after build-gpu/ has dsrl-train), on the 286M
# config (scripts/bench/dsv32_286m_config.json), bf16, rows of 2048 tokens. In one run, side by side:
#   lm            dense attention: the baseline the sparse stage replaces
#   dense_warmup  dense attention + the indexer's KL (only the indexer trains)
#   sparse        top-k attention + LM loss + KL over the selected keys
# and, with a second argument "hf", the transformers training step (scripts/bench/hf_model.py) on the same shapes.
# Usage: scripts/bench/pretrain.sh [RANKS] [hf]     (RANKS GPUs under mpirun, one per rank; default 1)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -f .gpu-deps/env.sh ]; then source .gpu-deps/env.sh; fi
ranks=${1:-1}
bin=${DSRL_BUILD_DIR:-$root/build-gpu}/trainer/dsrl-train
config=$root/scripts/bench/dsv32_286m_config.json
out=${BENCH_OUT:-/tmp/dsrl-bench-pretrain}
rm -rf "$out"; mkdir -p "$out"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: ${ranks} x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "command: scripts/bench/pretrain.sh $*"
common=(--set device=cuda --set model.config="$config" --set tokenizer=byte --set data.seq_len=2048
        --set "data.synthetic={task: arithmetic, count: 40000, seed: 1, max_value: 999}" --set data.sft=false
        --set train.rows_per_rank=4 --set train.steps=12 --set train.log_every=4 --set optim.warmup_steps=2)
for stage in lm dense_warmup sparse; do
  mpirun --oversubscribe -np "$ranks" "$bin" "${common[@]}" --set stage="$stage" --set run_dir="$out/$stage" \
    > "$out/$stage.log" 2>&1 || { tail -20 "$out/$stage.log"; exit 1; }
  python3 "$root/scripts/bench/pretrain_summary.py" "$config" "$out/$stage/metrics.jsonl" "$stage" "$ranks" 4 2048
done
if [ "${2:-}" = hf ]; then python3 "$root/scripts/bench/hf_model.py" "$config" 4 2048 3 2>/dev/null; fi
