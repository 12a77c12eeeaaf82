#!/usr/bin/env bash
# Temporary (not committed): code-agent numbers on the GPU for docs/agents.md.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source .gpu-deps/env.sh
t0=$(date +%s)
scripts/gpu-build.sh dsrl-train dsrl-rollout dsrl-reward dsrl-agent-data > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"; nvidia-smi --query-gpu=name --format=csv,noheader
B=build-gpu; D=runs/data/code
[ -s $D/cold_start.jsonl ] || $B/agent/dsrl-agent-data --set task=code --set out=$D --set count=600 > /dev/null
t=$(date +%s)
mpirun --oversubscribe -np 1 $B/trainer/dsrl-train --config configs/lm_agent_tiny.yaml --set device=cuda \
  --set run_dir=runs/lm_code --set train.steps=1500 --set train.rows_per_rank=8 --set optim.warmup_steps=50 \
  --set train.checkpoint_every=0 --set "data.sources=[{path: $D/cold_start.jsonl, format: jsonl, prompt_field: prompt, response_field: response, chat: false}]" \
  > $OUT/lm_code.log 2>&1 || { tail -20 $OUT/lm_code.log; exit 1; }
echo "lm $(( $(date +%s) - t )) s"; grep "step 1500/" $OUT/lm_code.log | tail -1
t=$(date +%s)
DSRL_BUILD_DIR=$B scripts/run-local.sh configs/grpo_code_agent_tiny.yaml --ranks 1 --rollout-config configs/rollout_agent.yaml \
  --set device=cuda --set run_dir=runs/grpo_code --set model.checkpoint=runs/lm_code/checkpoints/step-00001500/model \
  --set "grpo.tasks=[{task_type: code, path: $D/questions.jsonl}]" --set grpo.prompts_per_step=16 \
  --set grpo.samples_per_prompt=8 --set grpo.eval_prompts=32 --set grpo.eval_samples=2 --set train.steps=10 \
  --set grpo.eval_every=10 > $OUT/grpo_code.log 2>&1 || { tail -30 $OUT/grpo_code.log; exit 1; }
echo "grpo $(( $(date +%s) - t )) s"
grep -E "eval at|step [0-9]+/10 reward|step [0-9]+: per" $OUT/grpo_code.log | sed 's/.*\[info\] //'
cp runs/grpo_code/metrics.jsonl $OUT/code_metrics.jsonl
python3 - <<'PY'
import json, collections
n = collections.Counter(); rew = collections.Counter()
for l in open("runs/grpo_code/agent_trajectories.jsonl"):
    t = json.loads(l); n[t["step"]] += 1; rew[t["step"]] += t.get("reward", 0)
    n[("edit", t["step"])] += "solution.py" in t["changed_files"]
for s in sorted(k for k in n if isinstance(k, int)):
    print(f"step {s}: {n[s]} trajectories, rewrote solution.py {n[('edit', s)]}, solved {rew[s]:.0f}")
PY
