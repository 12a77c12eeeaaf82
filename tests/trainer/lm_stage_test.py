#!/usr/bin/env python3
"""Stage lm end to end (CPU, tiny model, synthetic arithmetic): the loss falls; the router-bias update balances
the experts; 2 ranks x b rows equal 1 rank x 2b rows; a run killed with SIGKILL and resumed gives bit-identical losses to an uninterrupted one; a damaged newest
checkpoint is skipped with a warning naming it.
Usage: lm_stage_test.py MPIRUN DSRL_TRAIN SOURCE_DIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MPIRUN, TRAIN, SOURCE = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="dsrl_lm_")
BASE = ["--config", "configs/lm_tiny.yaml", "--set", "data.seq_len=32", "--set", "log.level=warn"]
failures = []


def train(run, ranks=1, sets=(), resume=False, background=False):
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), TRAIN] + BASE
    cmd += ["--set", f"run_dir={TMP}/{run}"] + [a for s in sets for a in ("--set", s)] + (["--resume"] if resume else [])
    log = open(f"{TMP}/{run}.log", "a")
    proc = subprocess.Popen(cmd, cwd=SOURCE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if background:
        return proc
    if proc.wait(timeout=300) != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}:\n" + open(f"{TMP}/{run}.log").read())


def losses(run):
    rows = [json.loads(line) for line in open(f"{TMP}/{run}/metrics.jsonl")]
    return {r["step"]: r["loss"] for r in rows}  # a resumed run appends: later lines win


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


# The loss falls on the arithmetic corpus.
train("learn", sets=["train.steps=40"])
l = losses("learn")
check("loss falls over 40 steps", l[40] < l[1] - 0.5, f"step 1 {l[1]:.4f}, step 40 {l[40]:.4f}")
events = subprocess.run([sys.executable, f"{SOURCE}/tests/trainer/read_events.py", f"{TMP}/learn/tensorboard"],
                        capture_output=True, text=True).stdout
check("TensorBoard's reader sees the loss of every step", events.count("scalar train/loss ") == 40, events[-500:])

# Aux-loss-free balancing: the correction-bias update evens out the experts' load.
def late_load(run):
    rows = [json.loads(line) for line in open(f"{TMP}/{run}/metrics.jsonl")]
    return sum(r["moe_max_load"] for r in rows[-20:]) / 20


train("unbalanced", sets=["train.steps=60", "optim.router_bias_rate=0"])
train("balanced", sets=["train.steps=60", "optim.router_bias_rate=0.02"])
check("the router bias update lowers max/mean expert load", late_load("balanced") < late_load("unbalanced") - 0.5,
      f"{late_load('balanced'):.2f} vs {late_load('unbalanced'):.2f}")

# Data parallel: 2 ranks x 2 rows == 1 rank x 4 rows, 3 steps, fp32.
train("one", sets=["train.steps=3", "train.rows_per_rank=4"])
train("two", ranks=2, sets=["train.steps=3", "train.rows_per_rank=2"])
a, b = losses("one"), losses("two")
worst = max(abs(a[s] - b[s]) for s in (1, 2, 3))
check("2 ranks x b rows == 1 rank x 2b rows (|loss diff| <= 1e-6)", worst <= 1e-6, f"max diff {worst:.3g}: {a} vs {b}")

# Resume: SIGKILL somewhere after step 7, resume, compare with an uninterrupted run (bit-identical losses).
steps = ["train.steps=12", "train.checkpoint_every=1", "train.keep_checkpoints=3"]
train("straight", sets=steps)
proc = train("killed", sets=steps, background=True)
deadline = time.time() + 120
while time.time() < deadline and proc.poll() is None:
    if os.path.exists(f"{TMP}/killed/metrics.jsonl") and max(losses("killed"), default=0) >= 7:
        os.killpg(proc.pid, signal.SIGKILL)
        break
    time.sleep(0.002)
proc.wait()
killed_at = max(losses("killed"))
train("killed", sets=steps + ["log.level=info"], resume=True)
full, resumed = losses("straight"), losses("killed")
check(f"killed after step {killed_at} and resumed: steps 8-12 bit-identical",
      all(full[s] == resumed[s] for s in range(8, 13)), f"{full} vs {resumed}")
check("resume said where it resumed from", "resuming from" in open(f"{TMP}/killed.log").read(),
      open(f"{TMP}/killed.log").read()[-2000:])

# A damaged newest checkpoint is skipped, named in a warning, and the one before it used.
shutil.copytree(f"{TMP}/straight", f"{TMP}/damaged")
ckpts = sorted(os.listdir(f"{TMP}/damaged/checkpoints"))
newest = f"{TMP}/damaged/checkpoints/{ckpts[-1]}"
weights = f"{newest}/model/model.safetensors"
os.truncate(weights, os.path.getsize(weights) // 2)
os.remove(f"{TMP}/damaged/metrics.jsonl")
train("damaged", sets=steps + ["log.level=info"], resume=True)
log = open(f"{TMP}/damaged.log").read()
check("a truncated checkpoint is skipped with a warning naming it", f"skipping checkpoint {newest}" in log, log[-1500:])
check("the run resumed from the checkpoint before it", f"resuming from {TMP}/damaged/checkpoints/{ckpts[-2]}" in log,
      log[-1500:])

shutil.rmtree(TMP, ignore_errors=True)
if failures:
    sys.exit(f"{len(failures)} failed")
print("all lm stage checks passed")
