#!/usr/bin/env python3
"""Stage lm end to end (CPU, tiny model, synthetic arithmetic): the loss falls; the router-bias update and the
sequence-wise balance loss balance the experts; 2 ranks x b rows equal 1 rank x 2b rows and 2 micro-batches of b
rows; a run killed with SIGKILL and resumed gives bit-identical losses to an uninterrupted one; a damaged newest
checkpoint (truncated, or one byte changed: the manifest's crc32c) is skipped with a warning naming it.
Usage: lm_stage_test.py MPIRUN DSRL_TRAIN SOURCE_DIR"""
import os
import subprocess
import shutil
import sys

from stage_runner import StageRunner

MPIRUN, TRAIN, SOURCE = sys.argv[1:4]
R = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_tiny.yaml", "--set", "data.seq_len=32",
                                        "--set", "log.level=warn"], "dsrl_lm_")
TMP, train, losses, check = R.tmp, R.train, R.losses, R.check


# The loss falls on the arithmetic corpus.
train("learn", sets=["train.steps=40"])
l = losses("learn")
check("loss falls over 40 steps", l[40] < l[1] - 0.5, f"step 1 {l[1]:.4f}, step 40 {l[40]:.4f}")
events = subprocess.run([sys.executable, f"{SOURCE}/tests/trainer/read_events.py", f"{TMP}/learn/tensorboard"],
                        capture_output=True, text=True).stdout
check("TensorBoard's reader sees the loss of every step", events.count("scalar train/loss ") == 40, events[-500:])

# Aux-loss-free balancing: the correction-bias update evens out the experts' load.
def late_load(run):
    rows = list(R.metrics(run).values())
    return sum(r["moe_max_load"] for r in rows[-20:]) / 20


train("unbalanced", sets=["train.steps=60", "optim.router_bias_rate=0"])
train("balanced", sets=["train.steps=60", "optim.router_bias_rate=0.02"])
check("the router bias update lowers max/mean expert load", late_load("balanced") < late_load("unbalanced") - 0.5,
      f"{late_load('balanced'):.2f} vs {late_load('unbalanced'):.2f}")
train("seq_balanced", sets=["train.steps=60", "optim.router_bias_rate=0", "optim.seq_balance_alpha=0.01"])
check("the sequence-wise balance loss lowers max/mean expert load",
      late_load("seq_balanced") < late_load("unbalanced") - 0.5,
      f"{late_load('seq_balanced'):.2f} vs {late_load('unbalanced'):.2f}")

# Data parallel: 2 ranks x 2 rows == 1 rank x 4 rows, 3 steps, fp32.
train("one", sets=["train.steps=3", "train.rows_per_rank=4"])
train("two", ranks=2, sets=["train.steps=3", "train.rows_per_rank=2"])
a, b = losses("one"), losses("two")
worst = max(abs(a[s] - b[s]) for s in (1, 2, 3))
check("2 ranks x b rows == 1 rank x 2b rows (|loss diff| <= 1e-6)", worst <= 1e-6, f"max diff {worst:.3g}: {a} vs {b}")

# Gradient accumulation: 2 micro-batches of 2 rows == one batch of 4 rows (tokens_per_step = 4 rows x 32 tokens).
train("accumulated", sets=["train.steps=3", "train.rows_per_rank=2", "train.tokens_per_step=128"])
c = losses("accumulated")
worst = max(abs(a[s] - c[s]) for s in (1, 2, 3))
check("2 micro-batches x 2 rows == 1 batch x 4 rows (|loss diff| <= 1e-6)", worst <= 1e-6, f"max diff {worst:.3g}")
train("indivisible", sets=["train.steps=3", "train.rows_per_rank=2", "train.tokens_per_step=100"], expect_exit=2)
check("a tokens_per_step that micro-batches cannot fill is refused, naming the key",
      "train.tokens_per_step must be a multiple of" in R.log("indivisible"), R.log("indivisible")[-800:])

# Resume: SIGKILL somewhere after step 7, resume, compare with an uninterrupted run (bit-identical losses).
steps = ["train.steps=12", "train.checkpoint_every=1", "train.keep_checkpoints=3"]
train("straight", sets=steps)
killed_at = R.kill_after_step(train("killed", sets=steps, background=True), "killed", 7, timeout=120)
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

# One changed byte inside a weight (same size, valid header): only the manifest's checksum can see it.
shutil.copytree(f"{TMP}/straight", f"{TMP}/flipped")
os.remove(f"{TMP}/flipped/metrics.jsonl")
moments = f"{TMP}/flipped/checkpoints/{ckpts[-1]}/optimizer/model.safetensors"
with open(moments, "r+b") as f:
    f.seek(os.path.getsize(moments) - 5)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0x10]))
train("flipped", sets=steps + ["log.level=info"], resume=True)
log = open(f"{TMP}/flipped.log").read()
check("a checkpoint with one changed byte is skipped, naming the file and the checksum",
      "optimizer/model.safetensors has crc32c" in log and "the file is corrupted" in log, log[-1500:])
check("the run resumed from the intact checkpoint before it",
      f"resuming from {TMP}/flipped/checkpoints/{ckpts[-2]}" in log, log[-1500:])
full, resumed = losses("straight"), losses("flipped")
check("and its steps match the uninterrupted run", all(full[s] == resumed[s] for s in resumed), f"{full} vs {resumed}")

R.finish("lm stage")
