#!/usr/bin/env python3
"""One JSON line for a dsrl-train stage run: tokens/s from the median step time (steps after the first 3), and MFU.

MFU = model FLOPs per second / (GPUs x peak), peak = 989 TFLOP/s (dense bf16, H100 SXM and H200). Model FLOPs per
token: the forward of what trains counts 3 times (forward + backward), of what is frozen once. The forward is 2 x
the matmul parameters a token uses (attention, dense MLP or shared + k routed experts and router, lm_head; not the
embedding lookup) + the attention's scores and values over the keys the algorithm needs (causal mean (L+1)/2 dense,
min(index_topk, t+1) averaged over t sparse); the indexer's projections and scores over every causal key where it
runs; and in the indexer stages the KL target's scores. Work a kernel wastes (SDPA computing masked keys, the
dense recall metric) does not count, so MFU reflects what the algorithm needs.
Usage: pretrain_summary.py CONFIG.json METRICS.jsonl STAGE RANKS ROWS SEQ"""
import json
import statistics
import sys

PEAK = 989e12

cfg_path, metrics_path, stage, ranks, rows, seq = sys.argv[1:7]
ranks, rows, seq = int(ranks), int(rows), int(seq)
c = json.load(open(cfg_path))
D, H, V, Lyr = c["hidden_size"], c["num_attention_heads"], c["vocab_size"], c["num_hidden_layers"]
dn, R, dv, C, ql = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"], c["q_lora_rank"]
Hi, d, topk = c["index_n_heads"], c["index_head_dim"], c["index_topk"]
dense_layers = c["first_k_dense_replace"]
attn_params = D * ql + ql * H * (dn + R) + D * (C + R) + C * H * (dn + dv) + H * dv * D
indexer_params = ql * Hi * d + D * d + D * Hi
moe_params = (c["num_experts_per_tok"] + c["n_shared_experts"]) * 3 * D * c["moe_intermediate_size"] + D * c["n_routed_experts"]
mlp_params = dense_layers * 3 * D * c["intermediate_size"] + (Lyr - dense_layers) * moe_params
sparse = stage == "sparse"
keys = sum(min(topk, t + 1) for t in range(seq)) / seq if sparse else (seq + 1) / 2
main_trains, indexer_trains = stage != "dense_warmup", stage != "lm"
# Forward FLOPs per token: the main model's matmuls and its attention over `keys`.
main_fwd = 2 * (Lyr * attn_params + mlp_params + D * V) + Lyr * 2 * H * (dn + R + dv) * keys
per_token = (3 if main_trains else 1) * main_fwd
if sparse or indexer_trains:  # the indexer scores every causal key
    per_token += (3 if indexer_trains else 1) * Lyr * (2 * indexer_params + 2 * Hi * d * (seq + 1) / 2)
if indexer_trains:  # the KL target: attention scores over the attended keys, forward only
    per_token += Lyr * 2 * H * (dn + R) * keys

rows_m = [json.loads(line) for line in open(metrics_path)]
steps = [r["step_s"] for r in rows_m[3:]] or [r["step_s"] for r in rows_m]
step_s = statistics.median(steps)
tps = rows * seq * ranks / step_s
last = rows_m[-1]
print(json.dumps({"stage": stage, "gpus": ranks, "rows_per_gpu": rows, "seq": seq, "step_ms": round(step_s * 1e3, 1),
                  "tokens_per_s": round(tps), "model_tflops_per_token": round(per_token / 1e12, 6),
                  "mfu": round(tps * per_token / (ranks * PEAK), 4), "loss": round(last["loss"], 4),
                  **({"topk_recall": round(last["topk_recall"], 3)} if "topk_recall" in last else {})}))
