#!/usr/bin/env python3
"""Interop between our safetensors code and HF's `safetensors` package (used by safetensors_test.cpp).

  safetensors_interop.py write DIR
      writes DIR/python.safetensors with HF's save_file (fp32, bf16, fp16, fp8 e4m3, int64, int32, bool, a scalar,
      an empty tensor; metadata {"format": "pt"}) and, per tensor, DIR/<name>.bin holding its raw bytes.
  safetensors_interop.py check FILE DIR
      loads FILE with HF's safe_open and checks that its tensors are exactly those of DIR/*.bin, bit for bit,
      and that its metadata is {"format": "pt", "writer": "dsrl"}. Exit 0 and 'ok N' on success.
"""
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def raw(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write(folder):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5, generator=g),
        "bf16": torch.randn(4, 3, generator=g).to(torch.bfloat16),
        "f16": torch.randn(2, 2, 2, generator=g).to(torch.float16),
        "fp8": (torch.randn(16, generator=g) * 8).to(torch.float8_e4m3fn),
        "i64": torch.tensor([-(2**63), -1, 0, 2**62 + 7, 2**63 - 1], dtype=torch.int64),
        "i32": torch.arange(-6, 6, dtype=torch.int32).reshape(3, 4),
        "mask": torch.tensor([[True, False, True], [False, False, True]]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 7),
    }
    save_file(tensors, os.path.join(folder, "python.safetensors"), metadata={"format": "pt"})
    for name, t in tensors.items():
        with open(os.path.join(folder, name + ".bin"), "wb") as f:
            f.write(raw(t))


def check(path, folder):
    expected = {n[:-4]: open(os.path.join(folder, n), "rb").read() for n in os.listdir(folder) if n.endswith(".bin")}
    with safe_open(path, framework="pt") as f:
        names = set(f.keys())
        assert names == set(expected), f"tensors {sorted(names)} != expected {sorted(expected)}"
        for name in sorted(names):
            got = raw(f.get_tensor(name))
            assert got == expected[name], f"tensor {name}: bytes differ ({len(got)} vs {len(expected[name])})"
        meta = f.metadata()
        assert meta == {"format": "pt", "writer": "dsrl"}, f"metadata {meta}"
    print("ok", len(names))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
