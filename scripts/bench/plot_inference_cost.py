# Plots scripts/bench/inference_cost.sh's JSON lines: cost per million tokens against token position, prefill and
# decode side by side, dense attention vs DSA. Usage: plot_inference_cost.py IN.jsonl OUT.png [TITLE]
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, phase in zip(axes, ["prefill", "decode"]):
    for attention, label, style in [("dense", "dense attention", "o-"), ("dsa", "DSA (top-2048)", "s-")]:
        pts = sorted((r["position"], r["usd_per_million_tokens"]) for r in rows
                     if r["phase"] == phase and r["attention"] == attention)
        ax.plot([p / 1024 for p, _ in pts], [c for _, c in pts], style, label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted({r["position"] / 1024 for r in rows})
    ax.set_xticks(ticks, [f"{t:g}K" for t in ticks])
    ax.set_xlabel("token position")
    ax.set_ylabel(r"\$ per million tokens (\$2 per GPU-hour)")
    ax.set_title(phase)
    ax.grid(alpha=0.3)
    ax.legend()
fig.suptitle(sys.argv[3] if len(sys.argv) > 3 else "286M DeepseekV32, one H100: dense attention vs DSA")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
