#!/usr/bin/env python3
"""Agent RL end to end on CPU (ctest agent_end_to_end): the built-in multi-hop search task written by
dsrl-agent-data, a tiny model taught the tool-call format by stage lm on its cold-start turns, then stage grpo with
tool use through scripts/run-local.sh (dsrl-rollout + dsrl-reward over gRPC), once per context policy (none and
discard_all) on the same questions. Checks that trajectories really call tools and get trained, that discard_all
resets where none does not, and prints the table the issue asks for: steps per trajectory and accuracy per policy.
Usage: agent_stage_test.py MPIRUN DSRL_TRAIN DSRL_AGENT_DATA SOURCE_DIR"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stage_runner import StageRunner  # noqa: E402

MPIRUN, TRAIN, AGENT_DATA, SOURCE = sys.argv[1:5]
BUILD = os.path.dirname(os.path.dirname(TRAIN))
LM_STEPS = int(os.environ.get("DSRL_AGENT_LM_STEPS", "300"))
GRPO_STEPS = int(os.environ.get("DSRL_AGENT_GRPO_STEPS", "4"))
runner = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_agent_tiny.yaml"], "dsrl_agent_")
TMP = runner.tmp
data = f"{TMP}/multihop"
subprocess.run([AGENT_DATA, "--set", f"out={data}", "--set", "multihop.people=300"], check=True)

cold_start = (f"data.sources=[{{path: {data}/cold_start.jsonl, format: jsonl, prompt_field: prompt, "
              "response_field: response, chat: false}]")
runner.train("lm", ranks=2, sets=[cold_start, f"train.steps={LM_STEPS}", "train.checkpoint_every=0"])
model = runner.model("lm")


def grpo(run, policy):
    cmd = [f"{SOURCE}/scripts/run-local.sh", "configs/grpo_agent_tiny.yaml", "--ranks", "1", "--workers", "1",
           "--rollout-config", "configs/rollout_agent.yaml", "--set", f"run_dir={TMP}/{run}",
           "--set", f"model.checkpoint={model}", "--set", f"grpo.tasks=[{{task_type: multihop, path: {data}/questions.jsonl}}]",
           "--set", f"grpo.agent.corpus={data}/corpus.jsonl", "--set", f"grpo.agent.context_policy={policy}",
           "--set", f"train.steps={GRPO_STEPS}", "--set", f"grpo.eval_every={GRPO_STEPS}",
           "--set", "train.checkpoint_every=0"]
    with open(f"{TMP}/{run}.log", "a") as log:
        code = subprocess.run(cmd, cwd=SOURCE, stdout=log, stderr=subprocess.STDOUT, timeout=900,
                              env=dict(os.environ, DSRL_BUILD_DIR=BUILD)).returncode
    if code != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {code}:\n" + runner.log(run)[-4000:])
    rows = {}
    for line in open(f"{TMP}/{run}/metrics.jsonl"):
        row = json.loads(line)
        rows.setdefault(row["step"], {}).update(row)
    return rows


table = {}
for policy in ("none", "discard_all"):
    m = grpo(policy, policy)
    steps = [m[s] for s in range(1, GRPO_STEPS + 1)]
    runner.check(f"{policy}: every step logs the agent metrics",
                 all("agent/turns" in r and "agent/resets" in r for r in steps), steps[0].keys())
    runner.check(f"{policy}: trajectories call tools", sum(r["agent/tool_calls"] for r in steps) > 0,
                 [r["agent/tool_calls"] for r in steps])
    runner.check(f"{policy}: trajectories go past one turn", max(r["agent/turns"] for r in steps) > 1,
                 [r["agent/turns"] for r in steps])
    evals = {s: r for s, r in m.items() if "eval_accuracy" in r}
    last = evals[max(evals)]
    table[policy] = (sum(r["agent/turns"] for r in steps) / len(steps), sum(r["agent/resets"] for r in steps) / len(steps),
                     last["eval_agent/turns"], last["eval_accuracy"], sum(r["samples_trained"] for r in steps))
    if policy == "none":
        runner.check("none never resets", all(r["agent/resets"] == 0 for r in steps))
runner.check("discard_all resets once contexts pass the trigger", table["discard_all"][1] > 0, table["discard_all"])
runner.check("some samples were trained", all(t[4] > 0 for t in table.values()), table)

print(f"\n{'policy':<12} {'turns/traj (train)':>18} {'resets/traj':>11} {'turns/traj (eval)':>17} {'eval accuracy':>13}")
for policy, (turns, resets, eval_turns, accuracy, _) in table.items():
    print(f"{policy:<12} {turns:>18.2f} {resets:>11.2f} {eval_turns:>17.2f} {accuracy:>13.3f}")
runner.finish("agent")
