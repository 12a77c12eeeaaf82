#!/usr/bin/env python3
"""Task synthesis end to end on CPU (ctest synthesis_end_to_end): stage synthesize through scripts/run-local.sh
(dsrl-rollout + dsrl-reward over gRPC) with an untrained tiny model sampled hot (temperature 3: close to uniform
bytes). Its answers are random text up to a random end-of-sentence, whose last digit hits the one-digit answer of
an easiest records task now and then, so some tasks pass and some do not.
  1. pass@k filtering: every kept task was solved at least once and every rejected one never, by the per-sample
     rewards the stage recorded; the counts it logs and summarises match the files;
  2. difficulty raising (pass_threshold below any reward, so every sample passes): each task gets a successor one
     difficulty up, linked to it by provenance, until max_difficulty;
  3. stage grpo trains on the kept tasks, with their database files;
  4. policy-written tasks (synth.policy_tasks): every proposal is either a candidate (template "policy", its
     program and the answer it printed) or in proposals_invalid.jsonl with the reason; the untrained model's
     replies are not proposals, so they are all refused there (tests/agent/records_test.cpp runs valid ones).
Usage: synth_test.py MPIRUN DSRL_TRAIN SOURCE_DIR"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stage_runner import StageRunner  # noqa: E402

MPIRUN, TRAIN, SOURCE = sys.argv[1:4]
runner = StageRunner(MPIRUN, TRAIN, SOURCE, [], "dsrl_synth_")
TMP = runner.tmp
RANDOM_MODEL = ["--set", "model.checkpoint=", "--set", "model.config=configs/model/tiny_4k.yaml",
                "--set", "model.init_seed=3"]


def run_local(run, sets):
    args = ["--ranks", "1", "--workers", "1", "--rollout-config", "configs/rollout_agent.yaml"] + RANDOM_MODEL
    runner.run_local(run, "configs/synth_records_tiny.yaml", args + [a for s in sets for a in ("--set", s)])


def read(run, name):
    return [json.loads(line) for line in open(f"{TMP}/{run}/{name}")]


SMALL = ["grpo.agent.max_turns=2", "grpo.agent.max_new_tokens=64", "synth.tasks_per_batch=16"]

# 1. Filtering.
run_local("filter", SMALL + ["synth.tasks=12", "synth.k=8", "grpo.temperature=3",
                              "grpo.agent.max_new_tokens=1024"])  # room to reach the end-of-sentence
kept, rejected = read("filter", "tasks.jsonl"), read("filter", "rejected.jsonl")
summary = read("filter", "synth_summary.jsonl")[-1]
everything = kept + rejected
runner.check("every candidate is in tasks.jsonl or rejected.jsonl once",
             sorted(t["provenance"]["id"] for t in everything) == list(range(len(everything)))
             and len(everything) >= 12, [t["provenance"]["id"] for t in everything])
runner.check("each task's k samples were all scored", all(t["scored"] == 8 == len(t["rewards"]) for t in everything),
             [(t["scored"], t["first_error"]) for t in everything if t["scored"] != 8][:3])
runner.check("passes count the samples whose reward reached the threshold",
             all(t["passes"] == sum(r >= 1.0 for r in t["rewards"]) for t in everything))
runner.check("kept tasks have pass@k > 0", len(kept) > 0 and all(t["passes"] > 0 for t in kept),
             [t["passes"] for t in kept])
runner.check("rejected tasks have pass@k = 0", len(rejected) > 0 and all(t["passes"] == 0 for t in rejected),
             [t["passes"] for t in rejected])
runner.check("the summary counts match the files",
             summary["kept"] == len(kept) and summary["rejected"] == len(rejected)
             and summary["candidates"] == len(everything), summary)
runner.check("the counts are logged", f"kept {len(kept)} of {len(everything)} tasks" in runner.log("filter"))
runner.check("kept tasks carry their database", all({"customers.csv", "orders.csv"} <= t["files"].keys() for t in kept))

# 2. Raising difficulty: every sample passes, so every task gets a harder successor until difficulty 3.
run_local("raise", SMALL + ["synth.tasks=3", "synth.k=2", "synth.pass_threshold=-1"])
tasks = {t["provenance"]["id"]: t for t in read("raise", "tasks.jsonl")}
by_difficulty = {d: [t for t in tasks.values() if t["difficulty"] == d] for d in (1, 2, 3)}
runner.check("three candidates at each difficulty 1, 2, 3", [len(by_difficulty[d]) for d in (1, 2, 3)] == [3, 3, 3],
             {d: len(v) for d, v in by_difficulty.items()})
runner.check("each successor is one difficulty above its parent, one round later",
             all(tasks[t["provenance"]["parent"]]["difficulty"] == t["difficulty"] - 1
                 and tasks[t["provenance"]["parent"]]["provenance"]["round"] == t["provenance"]["round"] - 1
                 for t in tasks.values() if t["difficulty"] > 1))
runner.check("templates follow difficulty",
             {t["provenance"]["template"] for t in by_difficulty[3]} == {"city_spend"})

# 4. Policy-written tasks only.
run_local("policy", SMALL + ["synth.tasks=0", "synth.policy_tasks=6", "synth.k=2", "grpo.agent.max_new_tokens=200"])
invalid = read("policy", "proposals_invalid.jsonl")
policy = [t for t in read("policy", "tasks.jsonl") + read("policy", "rejected.jsonl")
          if t["provenance"]["template"] == "policy"]
summary = read("policy", "synth_summary.jsonl")[-1]
runner.check("every proposal is a candidate or refused with its reason",
             len(invalid) + len(policy) == 6 and summary["policy_proposals"] == 6
             and summary["policy_valid"] == len(policy) and all(i["why"] and "reply" in i for i in invalid),
             (len(invalid), len(policy), summary))
runner.check("the refusals are logged", f"the policy proposed 6 tasks: {len(policy)} valid, {len(invalid)} invalid"
             in runner.log("policy"))

# 3. GRPO reads the kept set.
run_local("grpo", ["stage=grpo", f"grpo.tasks=[{{task_type: records, path: {TMP}/filter/tasks.jsonl}}]",
                   "train.steps=1", "train.checkpoint_every=0", "grpo.eval_every=0", "grpo.eval_prompts=0",
                   "grpo.prompts_per_step=2", "grpo.samples_per_prompt=2", "grpo.zero_variance=keep",
                   "grpo.agent.max_turns=2", "grpo.agent.max_new_tokens=64"])
step = runner.metrics("grpo")[1]
runner.check("stage grpo trains on the synthesised tasks", step["samples"] == 4 and step["samples_scored"] == 4, step)
print(f"\nsynthesis: {len(everything)} candidates, {len(kept)} kept (pass@8 > 0), {len(rejected)} rejected")
runner.finish("synthesis")
