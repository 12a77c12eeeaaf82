#!/usr/bin/env python3
"""The continued-pretraining chain lm -> dense_warmup -> sparse on CPU (tiny model, index_topk 16 = seq_len / 4):
- dense_warmup: the top-k attention-mass recall rises from its starting value to >= 0.9 in under 60 s, and every
  tensor but the indexer's is bit-identical before and after;
- sparse: the LM loss stays within 2% of the dense model's on the same data (with a warmed-up indexer; a random
  one costs far more), and 2 ranks x b rows equal 1 rank x 2b rows.
Usage: indexer_stages_test.py MPIRUN DSRL_TRAIN SOURCE_DIR"""
import glob
import sys
import time

from safetensors.numpy import load_file

from stage_runner import StageRunner

MPIRUN, TRAIN, SOURCE = sys.argv[1:4]
R = StageRunner(MPIRUN, TRAIN, SOURCE, ["--config", "configs/lm_tiny.yaml", "--set", "data.seq_len=64",
                                        "--set", "data.sft=false", "--set", "log.level=warn"], "dsrl_indexer_")
check = R.check

# The tiny model with index_topk 16, a quarter of the 64-token rows.
model_yaml = f"{R.tmp}/tiny_topk16.yaml"
with open(f"{SOURCE}/configs/model/tiny.yaml") as src, open(model_yaml, "w") as out:
    out.write("".join("index_topk: 16\n" if line.startswith("index_topk:") else line for line in src))


def tensors(model_dir):
    merged = {}
    for f in glob.glob(f"{model_dir}/*.safetensors"):
        merged.update(load_file(f))
    return merged


def mean(values):
    values = list(values)
    return sum(values) / len(values)


# lm: a model whose attention has learnt structure (pretraining on the arithmetic text, about 25 s).
R.train("lm", sets=[f"model.config={model_yaml}", "train.steps=1000", "optim.lr=5e-3", "train.checkpoint_every=0"])
dense_model = R.model("lm")

# dense_warmup at the paper's default learning rate (1e-3).
start = time.time()
R.train("warmup", sets=["stage=dense_warmup", f"model.checkpoint={dense_model}", "train.steps=400",
                        "optim.warmup_steps=0"])
took = time.time() - start
recall = R.losses("warmup", "topk_recall")
first, late = recall[1], mean(recall[s] for s in range(391, 401))
print(f"dense_warmup: recall {first:.3f} at step 1, {late:.3f} over steps 391-400, {took:.1f} s")
check("dense_warmup: recall rises to >= 0.9 at index_topk = seq_len / 4", first < 0.8 and late >= 0.9,
      f"step 1 {first:.3f}, steps 391-400 {late:.3f}")
check("dense_warmup: 400 steps in under 60 s", took < 60, f"{took:.1f} s")
kl = R.losses("warmup", "indexer_kl")
check("dense_warmup: the KL falls", mean(kl[s] for s in range(391, 401)) < 0.5 * kl[1], f"{kl[1]:.4f} -> {kl[400]:.4f}")
before, after = tensors(dense_model), tensors(R.model("warmup"))
indexer = sorted(n for n in before if ".indexer." in n)
others = sorted(n for n in before if ".indexer." not in n)
check("dense_warmup: the checkpoints hold the same tensors", sorted(before) == sorted(after))
changed = [n for n in others if not (before[n] == after[n]).all()]
check("dense_warmup: every non-indexer tensor is bit-identical", not changed and len(others) > 20, changed[:5])
moved = [n for n in indexer if not (before[n] == after[n]).all()]
check("dense_warmup: the indexer's weights moved", len(moved) == len(indexer) > 0, f"{len(moved)} of {len(indexer)}")

# sparse vs dense on the same data from the warmed-up model; and sparse from the un-warmed model.
same = ["train.steps=100", "optim.lr=1e-3", "optim.warmup_steps=0"]
R.train("sparse", sets=["stage=sparse", f"model.checkpoint={R.model('warmup')}"] + same)
R.train("dense", sets=["stage=lm", f"model.checkpoint={R.model('warmup')}"] + same)
R.train("sparse_cold", sets=["stage=sparse", f"model.checkpoint={dense_model}", "train.steps=1"])
sparse, dense, cold = R.losses("sparse", "lm_loss"), R.losses("dense", "lm_loss"), R.losses("sparse_cold", "lm_loss")
gap = abs(mean(sparse.values()) / mean(dense.values()) - 1)
print(f"sparse: LM loss {mean(sparse.values()):.4f} vs dense {mean(dense.values()):.4f}; step 1: sparse {sparse[1]:.4f}, "
      f"dense {dense[1]:.4f}, un-warmed indexer {cold[1]:.4f}")
check("sparse: mean LM loss over 100 steps within 2% of the dense model's", gap <= 0.02, f"{gap:.2%}")
first_gap = sparse[1] / dense[1] - 1
check("sparse: already at step 1 within 2% (the warm-up did its job)", abs(first_gap) <= 0.02, f"{first_gap:.2%}")
cold_gap = cold[1] / dense[1] - 1
check("sparse with an un-warmed indexer is worse at step 1 by > 10%", cold_gap > 0.10, f"{cold_gap:.2%}")
check("sparse: the recall is reported and stays high", min(R.losses("sparse", "topk_recall").values()) >= 0.8)

# Data parallel in the sparse stage: 2 ranks x 2 rows == 1 rank x 4 rows, 3 steps.
dp = ["stage=sparse", f"model.checkpoint={R.model('warmup')}", "train.steps=3"]
R.train("sparse_one", sets=dp + ["train.rows_per_rank=4"])
R.train("sparse_two", ranks=2, sets=dp + ["train.rows_per_rank=2"])
a, b = R.losses("sparse_one"), R.losses("sparse_two")
worst = max(abs(a[s] - b[s]) for s in (1, 2, 3))
check("sparse: 2 ranks x b rows == 1 rank x 2b rows (|loss diff| <= 1e-6)", worst <= 1e-6, f"max diff {worst:.3g}")

R.finish("indexer stage")
