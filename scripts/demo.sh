#!/usr/bin/env bash
# The main job, end to end on this machine (CPU, about 70 s after the build): installs what is missing,
# builds, then takes a tiny DeepSeek-V3.2-style model through every stage on 2 MPI ranks:
#   lm            SFT on the built-in single-digit arithmetic task (answers only)
#   dense_warmup  the lightning indexer learns to follow the dense attention (watch the top-k recall rise)
#   sparse        training with top-k sparse attention (DSA)
#   grpo          RL against 2 dsrl-rollout workers and dsrl-reward on 127.0.0.1 (scripts/run-local.sh), with
#                 unbiased KL, off-policy sequence masking, keep routing and keep sampling mask
# and plots the reward and KL per step to <run>/grpo/grpo.png. TensorBoard: tensorboard --logdir <run>.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh dsrl-train dsrl-rollout dsrl-reward
bin=${DSRL_BUILD_DIR:-$root/build}
run=runs/demo-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$run"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
task=(--set data.synthetic.max_value=9)  # single digits: a task the tiny model half learns, so RL has room

echo "demo: stage lm (SFT)"
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/lm_tiny.yaml --set run_dir="$run/lm" \
  "${task[@]}" --set train.steps=400 --set train.log_every=50 --set train.checkpoint_every=0
echo "demo: stage dense_warmup (the indexer learns the attention)"
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/dense_warmup_tiny.yaml \
  --set run_dir="$run/dense_warmup" --set model.checkpoint="$run/lm/checkpoints/step-00000400/model" "${task[@]}"
echo "demo: stage sparse (top-k attention)"
mpirun --oversubscribe -np 2 "$bin/trainer/dsrl-train" --config configs/sparse_tiny.yaml \
  --set run_dir="$run/sparse" --set model.checkpoint="$run/dense_warmup/checkpoints/step-00000100/model" "${task[@]}"
echo "demo: stage grpo (RL against live rollout workers and the reward service)"
scripts/run-local.sh configs/grpo_tiny.yaml --ranks 2 --workers 2 --set run_dir="$run/grpo" \
  --set model.checkpoint="$run/sparse/checkpoints/step-00000100/model" --set train.log_every=5
python3 scripts/plot-grpo.py "$run/grpo"
echo
grep -h '"eval_accuracy"' "$run/grpo/metrics.jsonl" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
print("demo: held-out accuracy by step: " + ", ".join("%d: %.3f" % (r["step"], r["eval_accuracy"]) for r in rows))'
echo "demo: done; everything is in $run (plot: $run/grpo/grpo.png; TensorBoard: tensorboard --logdir $run)."
