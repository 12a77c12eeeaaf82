#!/usr/bin/env python3
"""Stage grpo end to end on CPU (ctest grpo_end_to_end): a tiny model trained by stage lm on single-digit
arithmetic, then GRPO with 2 trainer ranks against 2 dsrl-rollout workers and dsrl-reward started by
scripts/run-local.sh. Checks: the held-out accuracy rises by a margin; every metric is logged; TensorBoard reads the
events; the checkpoint resumes (weights pushed first); the whole job killed with SIGKILL and resumed repeats the
uninterrupted run's numbers exactly; at learning rate 0 the trainer's log-probs equal the
rollout's (ratio 1, KL 0), which holds only if keep routing and keep sampling mask replay what the workers did.
Usage: grpo_stage_test.py MPIRUN DSRL_TRAIN SOURCE_DIR"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stage_runner import StageRunner  # noqa: E402

MPIRUN, TRAIN, SOURCE = sys.argv[1:4]
BUILD = os.path.dirname(os.path.dirname(TRAIN))
runner = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_tiny.yaml"], "dsrl_grpo_")
TMP = runner.tmp

# The policy: stage lm on the GRPO task's distribution (about 30% right at this point).
runner.train("lm", ranks=2, sets=["data.synthetic.max_value=9", "train.steps=400", "train.log_every=100",
                                  "train.checkpoint_every=0"])
model = runner.model("lm")


def metrics(run):
    """metrics.jsonl as {step: row}, a step's train and eval lines merged (a resume's later lines win)."""
    rows = {}
    for line in open(f"{TMP}/{run}/metrics.jsonl"):
        row = json.loads(line)
        rows.setdefault(row["step"], {}).update(row)
    return rows


def grpo(run, *sets, resume=False, workers=2, background=False):
    """scripts/run-local.sh on the tiny config into <tmp>/<run>; returns the process (its own process group:
    trainer, workers and reward service) when background."""
    cmd = [f"{SOURCE}/scripts/run-local.sh", "configs/grpo_tiny.yaml", "--ranks", "2", "--workers", str(workers),
           "--set", f"run_dir={TMP}/{run}", "--set", f"model.checkpoint={model}"]
    for s in sets:
        cmd += ["--set", s]
    cmd += ["--resume"] if resume else []
    with open(f"{TMP}/{run}.log", "a") as log:
        proc = subprocess.Popen(cmd, cwd=SOURCE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, DSRL_BUILD_DIR=BUILD))
    if background:
        return proc
    code = proc.wait(timeout=400)
    if code != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {code}:\n" + runner.log(run))
    return None


# Learning: 100 steps of 32 prompts x 8 samples. How fast the tiny model learns depends on the CPU's floating-point
# paths (the lm stage ends elsewhere on each): +0.10 in 60 steps on one machine, +0.045 in 100 on another.
N = 100
grpo("learn", f"train.steps={N}")
m = metrics("learn")
evals = {s: r["eval_accuracy"] for s, r in m.items() if "eval_accuracy" in r}
runner.check(f"held-out accuracy rises by 0.03 in {N} steps", evals.get(N, 0) >= evals.get(0, 1) + 0.03, evals)
keys = ["reward", "reward/rule", "kl", "ratio_mean", "ratio_max", "clip_fraction", "opsm_masked_fraction", "entropy",
        "route_mismatch", "outside_nucleus",
        "response_length", "tokens_per_s", "rollout_s", "reward_s", "train_s", "sync_s", "policy_version",
        "version_gap", "zero_variance_groups"]
missing = [(s, k) for s in range(1, N + 1) for k in keys if k not in m.get(s, {})]
runner.check("every step logs every metric", not missing, missing[:5])
runner.check("policy version moves on each step", m[N]["policy_version"] == m[1]["policy_version"] + N - 1,
             (m[1]["policy_version"], m[N]["policy_version"]))
runner.check("no sample from an older policy (no staleness)", all(m[s]["version_gap"] == 0 for s in range(1, N + 1)))
events = subprocess.run([sys.executable, f"{SOURCE}/tests/trainer/read_events.py", f"{TMP}/learn/tensorboard"],
                        capture_output=True, text=True)
tags = {line.split()[1] for line in events.stdout.splitlines() if line.startswith("accumulated")}
runner.check("TensorBoard reads the events", {"grpo/reward", "grpo/kl", "eval/accuracy"} <= tags, sorted(tags)[:8])
for w in (1, 2):
    log = open(f"{TMP}/learn/services/rollout-{w}.log").read()
    runner.check(f"worker {w} received every weight update", f"weights: version {N + 1} installed" in log,
                 log[-300:])
state = json.load(open(f"{TMP}/learn/checkpoints/step-{N:08d}/trainer_state.json"))
runner.check("checkpoint holds the grpo state", state["stage_state"]["policy_version"] == m[N]["policy_version"],
             state)

# Resume: two more steps continue from the checkpoint, pushing its weights before the first rollout.
grpo("learn", f"train.steps={N + 2}", resume=True)
log = runner.log("learn")
m = metrics("learn")
runner.check(f"resume continues from step {N}", "resuming from" in log and N + 1 in m and N + 2 in m, sorted(m)[-3:])
runner.check("resume pushes the weights first", log.count("pushed to the workers") == 2, log.count("pushed"))

# SIGKILL: the whole job (trainer ranks, workers, reward service) killed after step 3 of 6, then --resume: the
# steps after the checkpoint repeat the uninterrupted run's numbers exactly (timings aside).
steps = ["train.steps=6", "train.checkpoint_every=1", "train.keep_checkpoints=2", "grpo.eval_every=0"]
grpo("straight", *steps)
killed_at = runner.kill_after_step(grpo("killed", *steps, background=True), "killed", 3)
runner.check("the job was killed before it finished", killed_at < 6, killed_at)
grpo("killed", *steps, resume=True)
full, resumed = metrics("straight"), metrics("killed")
# Timings differ, and so does policy_version: a resume pushes its weights as a version above anything the workers
# may serve, so the versions after it are one higher.
differ = [(s, k, full[s][k], resumed.get(s, {}).get(k)) for s in range(1, 7) for k in full[s]
          if not k.endswith("_s") and k != "policy_version" and resumed.get(s, {}).get(k) != full[s][k]]
runner.check(f"killed after step {killed_at} and resumed: every step's numbers equal the uninterrupted run's",
             not differ, differ[:6])
versions = [resumed[s]["policy_version"] for s in range(1, 7)]
runner.check("the policy version rises on every step across the resume",
             all(b > a for a, b in zip(versions, versions[1:])), versions)
runner.check("the resume said where it started", "resuming from" in runner.log("killed"), runner.log("killed")[-1500:])

# Consistency: at learning rate 0 the policy never moves, so rho must be 1 and KL 0 on every token.
grpo("frozen", "optim.lr=0", "optim.min_lr=0", "train.steps=2", "grpo.eval_every=0", workers=1)
m = metrics("frozen")
runner.check("trainer log-probs equal the rollout's (ratio 1)",
             all(abs(m[s]["ratio_max"] - 1) < 1e-3 and abs(m[s]["ratio_mean"] - 1) < 1e-4 for s in (1, 2)),
             [(m[s]["ratio_mean"], m[s]["ratio_max"]) for s in (1, 2)])
runner.check("KL 0 against the unchanged reference", all(m[s]["kl"] < 1e-6 for s in (1, 2)),
             [m[s]["kl"] for s in (1, 2)])
runner.check("the trainer's router agrees with the replayed routes", all(m[s]["route_mismatch"] < 0.01 for s in (1, 2)),
             [m[s]["route_mismatch"] for s in (1, 2)])
# Bounded staleness: with overlap_rollouts each step after the first trains samples made by the policy one update
# older, and the workers still take every update.
grpo("overlap", "grpo.overlap_rollouts=true", "train.steps=4", "grpo.eval_every=0", workers=1)
m = metrics("overlap")
runner.check("overlapped rollouts lag the trainer by exactly one version",
             [m[s]["version_gap"] for s in (1, 2, 3, 4)] == [0, 1, 1, 1], [m[s]["version_gap"] for s in (1, 2, 3, 4)])
log = open(f"{TMP}/overlap/services/rollout-1.log").read()
runner.check("the worker installed every update", "weights: version 5 installed" in log, log[-300:])
runner.finish("grpo")
