#!/usr/bin/env python3
"""Baseline for scripts/bench/model.sh: HF transformers DeepseekV32ForCausalLM training-step (forward + backward +
AdamW) and generation throughput, bf16 on CUDA, for a config.json. Prints one JSON line.
Usage: hf_model.py CONFIG.json [BATCH] [SEQ] [STEPS]"""
import json
import sys
import time

import torch
from transformers import DeepseekV32Config, DeepseekV32ForCausalLM


def timed(fn, n, warm=1):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def main():
    path = sys.argv[1]
    batch, seq, steps = (int(x) for x in (sys.argv[2:5] + ["4", "2048", "5"][len(sys.argv[2:5]):]))
    cfg = DeepseekV32Config.from_dict(json.load(open(path)))
    torch.manual_seed(0)
    model = DeepseekV32ForCausalLM(cfg).to("cuda", torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda")

    def step():
        out = model(input_ids=x, labels=x)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    result = {"impl": "transformers", "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
              "batch": batch, "seq": seq, "train_tokens_per_s": round(batch * seq / timed(step, steps))}
    model.eval()
    prompt = torch.randint(0, cfg.vocab_size, (64, 128), device="cuda")
    with torch.no_grad():
        t = timed(lambda: model.generate(prompt, max_new_tokens=128, min_new_tokens=128, do_sample=True, top_p=0.95),
                  1)
    result.update(gen_batch=64, gen_tokens_per_s=round(64 * 128 / t))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
