#!/usr/bin/env bash
# GRPO step time on the GPU machine (after build-gpu/ has dsrl-train, dsrl-rollout and dsrl-reward): the 286M config
# (configs/grpo_286m.yaml: 64 prompts x 8 samples, up to 128 new tokens, keep routing and sampling mask), trainer
# ranks and rollout workers placed by scripts/run-local.sh --gpus, the reward service on the CPU with
# scripts/bench/grpo_reward.yaml (rule + length, so that most groups train). One line per run: the median of each
# part of the step over steps 3..STEPS (scripts/bench/grpo_summary.py).
# Usage: scripts/bench/grpo.sh RANKS WORKERS GPUS [STEPS] [--set KEY=VALUE ...]
#   scripts/bench/grpo.sh 1 1 0        everything on GPU 0
#   scripts/bench/grpo.sh 1 1 0,1      trainer on GPU 0, the worker on GPU 1
#   scripts/bench/grpo.sh 4 4 0,1,2,3,4,5,6,7 --set grpo.overlap_rollouts=true
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -f .gpu-deps/env.sh ]; then source .gpu-deps/env.sh; fi
[ $# -ge 3 ] || { sed -n '2,10p' "$0"; exit 2; }
ranks=$1 workers=$2 gpus=$3; shift 3
steps=6
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then steps=$1; shift; fi
tag=$(printf '%s' "$*" | tr -c 'A-Za-z0-9._=-' '_')  # the --set flags, so that runs differing only there keep both
out=${BENCH_OUT:-/tmp/dsrl-bench-grpo}/r${ranks}-w${workers}-g${gpus//,/_}${tag:+-$tag}
rm -rf "$out"; mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "command: scripts/bench/grpo.sh $ranks $workers $gpus $steps $*"
DSRL_BUILD_DIR=${DSRL_BUILD_DIR:-$root/build-gpu} scripts/run-local.sh configs/grpo_286m.yaml --ranks "$ranks" \
  --workers "$workers" --gpus "$gpus" --rollout-config configs/rollout_gpu.yaml \
  --reward-config scripts/bench/grpo_reward.yaml --set run_dir="$out/run" \
  --set train.steps="$steps" "$@" > "$out/log" 2>&1 || { tail -30 "$out/log"; exit 1; }
grep "run-local.sh: trainer on" "$out/log" || true
python3 scripts/bench/grpo_summary.py "$out/run/metrics.jsonl" "ranks $ranks, workers $workers, gpus $gpus $*"
