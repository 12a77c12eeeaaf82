#!/usr/bin/env python3
"""Reference numbers for the model parity tests: tiny random DeepseekV32ForCausalLM models saved with
transformers' save_pretrained, and their fp32 CPU logits on fixed token batches.

Usage: make-model-fixture.py OUT_DIR
Writes OUT_DIR/<name>/{config.json, model.safetensors} and OUT_DIR/<name>_io.safetensors holding
tokens_short [2, 12] (shorter than index_topk = 16: dense-equivalent), tokens_long [2, 40] (the sparse path
selects) and their logits. <name> is "plain" (default RoPE) and "yarn" (YaRN factor 4, mscale_all_dim 1).
Deterministic: the same transformers/torch give the same files.
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import DeepseekV32Config, DeepseekV32ForCausalLM

SHAPES = dict(vocab_size=128, hidden_size=64, intermediate_size=96, moe_intermediate_size=32, num_hidden_layers=3,
              first_k_dense_replace=1, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=48, kv_lora_rank=32,
              qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8, num_experts_per_tok=2,
              n_shared_experts=1, n_group=4, topk_group=2, routed_scaling_factor=2.5, index_n_heads=8,
              index_head_dim=16, index_topk=16, max_position_embeddings=128)
ROPE = {
    "plain": {"rope_type": "default", "rope_theta": 10000.0},
    "yarn": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 32,
             "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
}


def build(name, seed):
    torch.manual_seed(seed)
    config = DeepseekV32Config(**SHAPES, rope_parameters=ROPE[name])
    config._attn_implementation = "eager"
    model = DeepseekV32ForCausalLM(config).eval()
    with torch.no_grad():  # make every parameter matter: random norms and router biases, larger weights
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.08)
        for bname, b in model.named_buffers():
            if "e_score_correction_bias" in bname:
                b.copy_(0.05 * torch.randn_like(b))
    return model


def main(out):
    os.makedirs(out, exist_ok=True)
    for seed, name in enumerate(ROPE):
        model = build(name, seed + 1)
        model.save_pretrained(os.path.join(out, name))
        gen = torch.Generator().manual_seed(100 + seed)
        io = {"tokens_short": torch.randint(0, SHAPES["vocab_size"], (2, 12), generator=gen),
              "tokens_long": torch.randint(0, SHAPES["vocab_size"], (2, 40), generator=gen)}
        with torch.no_grad():
            for key in ("short", "long"):
                io["logits_" + key] = model(input_ids=io["tokens_" + key]).logits.float().contiguous()
        save_file(io, os.path.join(out, name + "_io.safetensors"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
