#!/usr/bin/env bash
# The main job, end to end on this machine: installs what is missing, builds, starts a dsrl-rollout worker and
# a dsrl-reward service on 127.0.0.1, and runs dsrl-train on 2 MPI ranks against them.
#
# What runs today: the foundation (issue 2): dsrl-train runs stage `preflight` (all-reduce across the ranks and
# GetStatus on every service); the rollout worker generating (issue 5); the model (issue 3): a random tiny
# checkpoint made, inspected and sampled with dsrl-model; and continued pretraining (issue 4) on 2 ranks: stage lm,
# then dense_warmup of the indexer, then sparse training.
# The GRPO pipeline replaces this demo as it lands (rewards: issue 6, GRPO: 7).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh dsrl-train dsrl-rollout dsrl-bench-rollout dsrl-reward dsrl-model
bin=${DSRL_BUILD_DIR:-$root/build}
run=runs/demo-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$run"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

"$bin/rollout/dsrl-rollout" --config configs/rollout.yaml --set server.port_file="$run/rollout.port" \
  --set log.file="$run/rollout.log" & pids+=($!)
"$bin/reward/dsrl-reward" --config configs/reward.yaml --set server.port_file="$run/reward.port" \
  --set log.file="$run/reward.log" & pids+=($!)
for s in rollout reward; do
  for _ in $(seq 200); do [ -s "$run/$s.port" ] && break; sleep 0.05; done
  [ -s "$run/$s.port" ] || { echo "dsrl-$s did not start; see $run/$s.log" >&2; exit 1; }
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/preflight.yaml \
  --set run_dir="$run/train" \
  --set "preflight.rollout_endpoints=[127.0.0.1:$(cat "$run/rollout.port")]" \
  --set "preflight.reward_endpoints=[127.0.0.1:$(cat "$run/reward.port")]"
echo "demo: preflight passed (resolved config, metrics.jsonl and service logs in $run)."
# The rollout worker (issue 5) generates: 8 prompts x 16 new tokens from its tiny model, over gRPC.
"$bin/rollout/dsrl-bench-rollout" "127.0.0.1:$(cat "$run/rollout.port")" --prompts 8 --prompt-len 16 --new 16 \
  --vocab 264

# The model (issue 3): a randomly initialised tiny checkpoint in HF's layout, its summary, and a short sample.
# Untrained, so the sampled bytes are noise; dsrl-model works the same on a real DeepseekV32 checkpoint.
echo
"$bin/model/dsrl-model" init "$run/tiny-model" --config configs/model/tiny.yaml --seed 1
"$bin/model/dsrl-model" info "$run/tiny-model"
"$bin/model/dsrl-model" generate "$run/tiny-model" --prompt "Hello" --max-new 16 --seed 1 > "$run/tiny-model/sample.txt"

# Continued pretraining (issue 4): 2 data-parallel ranks train the tiny model on the built-in arithmetic corpus
# (stage lm, answers only), then warm its lightning indexer up against the dense attention (dense_warmup: watch the
# top-k recall rise), then train with top-k sparse attention (sparse). Each stage starts from the previous one's
# checkpoint, an HF-layout model folder.
echo
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/lm_tiny.yaml --set run_dir="$run/lm"
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/dense_warmup_tiny.yaml \
  --set run_dir="$run/dense_warmup" --set model.checkpoint="$run/lm/checkpoints/step-00000100/model"
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/sparse_tiny.yaml \
  --set run_dir="$run/sparse" --set model.checkpoint="$run/dense_warmup/checkpoints/step-00000100/model"
echo
echo "demo: done; everything is in $run (TensorBoard: tensorboard --logdir $run)."
echo "demo: not built yet: rewards (issue 6), GRPO (7)."
