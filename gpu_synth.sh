#!/usr/bin/env bash
# Temporary (not committed): synthesis numbers on the GPU for docs/synthesis.md.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source .gpu-deps/env.sh
scripts/gpu-build.sh dsrl-train dsrl-rollout dsrl-reward dsrl-agent-data > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
B=build-gpu; D=runs/data/records
[ -s $D/cold_start.jsonl ] || $B/agent/dsrl-agent-data --set task=records --set out=$D --set count=700 > /dev/null
t=$(date +%s)
mpirun --oversubscribe -np 1 $B/trainer/dsrl-train --config configs/lm_agent_tiny.yaml --set device=cuda \
  --set run_dir=runs/lm_records --set train.steps=1500 --set train.rows_per_rank=8 --set optim.warmup_steps=50 \
  --set train.checkpoint_every=0 --set data.seq_len=4096 --set "data.sources=[{path: $D/cold_start.jsonl, format: jsonl, prompt_field: prompt, response_field: response, chat: false}]" \
  > $OUT/lm_records.log 2>&1 || { tail -20 $OUT/lm_records.log; exit 1; }
echo "lm $(( $(date +%s) - t )) s"; grep "step 1500/" $OUT/lm_records.log | tail -1
sed 's/max_sequences: 64 /max_sequences: 512/' configs/rollout_agent.yaml > runs/rollout_wide.yaml
M=runs/lm_records/checkpoints/step-00001500/model
t=$(date +%s)
DSRL_BUILD_DIR=$B scripts/run-local.sh configs/synth_records_tiny.yaml --ranks 1 --rollout-config runs/rollout_wide.yaml \
  --set device=cuda --set run_dir=runs/synth --set model.checkpoint=$M --set synth.tasks=48 --set synth.k=32 \
  --set synth.tasks_per_batch=16 --set grpo.agent.max_new_tokens=400 > $OUT/synth.log 2>&1 || { tail -30 $OUT/synth.log; exit 1; }
echo "synth $(( $(date +%s) - t )) s"
grep "synthesize" $OUT/synth.log | sed 's/.*\[info\] //'
python3 - <<'PY'
import json, collections
for f in ("tasks.jsonl", "rejected.jsonl"):
    hist = collections.defaultdict(list)
    for l in open(f"runs/synth/{f}"):
        t = json.loads(l); hist[t["difficulty"]].append(round(t["pass_rate"], 2))
    for d in sorted(hist): print(f, "difficulty", d, "pass rates", sorted(hist[d]))
PY
t=$(date +%s)
DSRL_BUILD_DIR=$B scripts/run-local.sh configs/synth_records_tiny.yaml --ranks 1 --rollout-config runs/rollout_wide.yaml \
  --set device=cuda --set stage=grpo --set run_dir=runs/grpo_records --set model.checkpoint=$M \
  --set "grpo.tasks=[{task_type: records, path: runs/synth/tasks.jsonl}]" --set grpo.prompts_per_step=16 \
  --set grpo.samples_per_prompt=8 --set grpo.eval_prompts=16 --set grpo.eval_samples=4 --set train.steps=6 \
  --set grpo.eval_every=6 --set grpo.agent.max_new_tokens=400 > $OUT/grpo_records.log 2>&1 || { tail -30 $OUT/grpo_records.log; exit 1; }
echo "grpo $(( $(date +%s) - t )) s"
grep -E "eval at|step [0-9]+/6 reward|prompts" $OUT/grpo_records.log | sed 's/.*\[info\] //' | cut -c1-200
