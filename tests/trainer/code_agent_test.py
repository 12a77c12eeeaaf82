#!/usr/bin/env python3
"""Code-agent RL end to end on CPU (ctest code_agent_end_to_end): dsrl-agent-data's code task (a small repository
with a failing test), a tiny model taught the workspace tools by stage lm on its cold-start turns, then stage grpo
through scripts/run-local.sh with tools [workspace]: each trajectory edits its own copy of its task's files, the
trainer sends the files it left to dsrl-reward, and the code_tests signal runs the hidden tests beside them in the
sandbox. Checks that trajectories call the workspace tools and edit their files, that every trajectory is scored
by code_tests (no reward errors), and that the reward follows the files: a trajectory is rewarded exactly when its
solution.py is the task's fix or another passing one.
Usage: code_agent_test.py MPIRUN DSRL_TRAIN DSRL_AGENT_DATA SOURCE_DIR"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stage_runner import StageRunner  # noqa: E402

MPIRUN, TRAIN, AGENT_DATA, SOURCE = sys.argv[1:5]
LM_STEPS = int(os.environ.get("DSRL_CODE_LM_STEPS", "300"))  # write_file is learned by ~300
GRPO_STEPS = int(os.environ.get("DSRL_CODE_GRPO_STEPS", "1"))
TEMPERATURE = float(os.environ.get("DSRL_CODE_TEMPERATURE", "0.3"))  # hot, it garbles calls
runner = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_agent_tiny.yaml"], "dsrl_code_")
TMP = runner.tmp
data = f"{TMP}/code"
# No schemas in the tools section: the tool names are in the task's text, and the cold-start turns show every
# call. It halves the tokens the lm stage trains on (agent_end_to_end covers the schemas).
PREAMBLE = 'tools_preamble="## Tools\\n"'
subprocess.run([AGENT_DATA, "--set", "task=code", "--set", f"out={data}", "--set", "count=200", "--set", PREAMBLE],
               check=True)

model = os.environ.get("DSRL_CODE_LM_MODEL")  # reuse a model from an earlier run (by hand)
if not model:
    cold_start = (f"data.sources=[{{path: {data}/cold_start.jsonl, format: jsonl, prompt_field: prompt, "
                  "response_field: response, chat: false}]")
    runner.train("lm", ranks=2, sets=[cold_start, f"train.steps={LM_STEPS}", "train.checkpoint_every=0",
                                      "data.seq_len=1024"],
                 timeout=1500)
    model = runner.model("lm")

run = "grpo"
args = ["--ranks", "1", "--workers", "1", "--rollout-config", "configs/rollout_agent.yaml",
        "--set", f"model.checkpoint={model}",
        "--set", f"grpo.tasks=[{{task_type: code, path: {data}/questions.jsonl}}]",
        "--set", f"train.steps={GRPO_STEPS}", "--set", f"grpo.eval_every={GRPO_STEPS}",
        "--set", "train.checkpoint_every=0", "--set", "grpo.agent." + PREAMBLE,
        "--set", "grpo.prompts_per_step=4", "--set", "grpo.samples_per_prompt=4", "--set", "grpo.eval_prompts=4",
        "--set", "grpo.eval_samples=1", "--set", "grpo.agent.max_turns=5", "--set", "grpo.zero_variance=keep",
        "--set", f"grpo.temperature={TEMPERATURE}", "--set", "grpo.eval_temperature=0"]
runner.run_local(run, "configs/grpo_code_agent_tiny.yaml", args)
rows = runner.metrics(run)
steps = [rows[s] for s in range(1, GRPO_STEPS + 1)]
runner.check("trajectories call the workspace tools", sum(r["agent/tool_calls"] for r in steps) > 0,
             [r["agent/tool_calls"] for r in steps])
runner.check("every trajectory is scored by code_tests",
             all("reward/code_tests" in r and r["samples_scored"] == r["samples"] for r in steps),
             [(r.get("reward/code_tests"), r["samples_scored"], r["samples"]) for r in steps])
logged = [json.loads(line) for line in open(f"{TMP}/{run}/agent_trajectories.jsonl")]
runner.check("every trajectory logs the files it changed", all("changed_files" in t for t in logged), logged[:2])
edited = [t for t in logged if "solution.py" in t["changed_files"]]
runner.check("some trajectories rewrite solution.py", len(edited) > 0, logged[:4])
rewarded = [t for t in logged if t.get("reward", 0) > 0]
runner.check("only trajectories that changed solution.py are rewarded",
             all("solution.py" in t["changed_files"] for t in rewarded), rewarded[:4])
print(f"\n{len(logged)} trajectories: {len(edited)} rewrote solution.py, {len(rewarded)} passed the hidden tests; "
      f"turns/trajectory {sum(r['agent/turns'] for r in steps) / len(steps):.2f}, "
      f"code_tests {[round(r['reward/code_tests'], 3) for r in steps]}")
runner.finish("code agent")
