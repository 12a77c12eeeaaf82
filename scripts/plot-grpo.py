#!/usr/bin/env python3
"""Plots a GRPO run's reward and KL per step (and the held-out accuracy) from <run_dir>/metrics.jsonl into a PNG.
Usage: scripts/plot-grpo.py RUN_DIR [OUT.png]   (default OUT: RUN_DIR/grpo.png)"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else f"{run}/grpo.png"
    rows = {}
    for line in open(f"{run}/metrics.jsonl"):
        row = json.loads(line)
        rows.setdefault(row["step"], {}).update(row)  # a step's train and eval lines merge; a resume's win
    steps = sorted(s for s, r in rows.items() if "reward" in r)
    evals = sorted(s for s, r in rows.items() if "eval_accuracy" in r)
    if not steps:
        sys.exit(f"{run}/metrics.jsonl has no GRPO steps")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(steps, [rows[s]["reward"] for s in steps], label="train reward (mean)", color="tab:blue")
    if evals:
        top.plot(evals, [rows[s]["eval_accuracy"] for s in evals], "o-", label="held-out accuracy", color="tab:green")
    top.set_ylabel("reward / accuracy")
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    bottom.plot(steps, [rows[s]["kl"] for s in steps], color="tab:red", label="KL to the reference")
    bottom.set_xlabel("step")
    bottom.set_ylabel("KL")
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    fig.suptitle(f"GRPO: {run}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
