#!/usr/bin/env python3
"""Loads a checkpoint folder with transformers (DeepseekV32ForCausalLM.from_pretrained, fp32, CPU, eager) and
writes its logits for the given tokens. Used by the tests to check that transformers reads what dsrl writes.
Usage: hf-logits.py CKPT TOKENS(comma-separated) OUT.safetensors"""
import sys

import torch
from safetensors.torch import save_file
from transformers import DeepseekV32ForCausalLM

if len(sys.argv) != 4:
    sys.exit(__doc__)
model = DeepseekV32ForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32, attn_implementation="eager").eval()
tokens = torch.tensor([[int(t) for t in sys.argv[2].split(",")]])
with torch.no_grad():
    save_file({"logits": model(input_ids=tokens).logits[0].float().contiguous()}, sys.argv[3])
