#!/usr/bin/env python3
"""One JSON line for a GRPO run's metrics.jsonl: the median of each part of the step over steps 3 and later (step 1
has the first push and rollout, step 2 the first backward's warm-up), and the generated tokens per second of step
time over those steps.
Usage: grpo_summary.py METRICS.jsonl LABEL"""
import json
import statistics
import sys

path, label = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path) if '"step_s"' in line]
timed = [r for r in rows if r["step"] >= 3]
if not timed:
    sys.exit(f"grpo_summary.py: {path} has {len(rows)} step rows; need steps 3 and later")
parts = ["rollout_s", "reward_s", "train_s", "sync_s", "step_s"]
out = {"run": label, "steps": len(timed)}
out.update({p: round(statistics.median(r[p] for r in timed), 3) for p in parts})
generated = sum(r["samples"] * r["response_length"] for r in timed)
out["generated_tokens_per_s"] = round(generated / sum(r["step_s"] for r in timed))
out["response_length"] = round(statistics.mean(r["response_length"] for r in timed), 1)
out["samples_trained"] = round(statistics.mean(r["samples_trained"] for r in timed), 1)
out["version_gap"] = max(r["version_gap"] for r in timed)
print(json.dumps(out))
