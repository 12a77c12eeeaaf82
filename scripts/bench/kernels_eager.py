# The eager PyTorch baselines of issue 10 (the formulation ../shared/bench/baseline_h100.py measured), one JSON line
# per shape, on the same shapes dsrl-bench-kernels times. Usage: python3 kernels_eager.py
import json, time, torch

def seconds_per_call(fn, warmup=2, iters=5):
    for _ in range(warmup): fn()
    torch.cuda.synchronize(); start = time.perf_counter()
    for _ in range(iters): fn()
    torch.cuda.synchronize(); return (time.perf_counter() - start) / iters

def sparse_mla(s_q, s_kv, h, topk, dqk, dv):
    torch.manual_seed(0)
    q = torch.randn(s_q, h, dqk, device="cuda", dtype=torch.bfloat16)
    kv = torch.randn(s_kv, dqk, device="cuda", dtype=torch.bfloat16)
    idx = torch.randint(0, s_kv, (s_q, topk), device="cuda")
    scale = dqk ** -0.5
    chunk = max(1, 256 * 128 * 2048 // (h * topk))  # the baseline's 256 queries at V3.2 shapes, same memory
    def run():
        outs = []
        for c in range(0, s_q, chunk):
            g = kv[idx[c:c + chunk]]
            sc = torch.einsum("qhd,qkd->qhk", q[c:c + chunk], g).float() * scale
            p = sc.softmax(-1).to(torch.bfloat16)
            outs.append(torch.einsum("qhk,qkd->qhd", p, g[..., :dv]))
        return torch.cat(outs)
    secs = seconds_per_call(run)
    flops = 2 * s_q * topk * h * (dqk + dv)
    print(json.dumps({"kernel": "sparse_mla_fwd", "impl": "eager", "s_q": s_q, "s_kv": s_kv, "heads": h,
                      "topk": topk, "d_qk": dqk, "d_v": dv, "ms": round(secs * 1e3, 3),
                      "tflops": round(flops / secs / 1e12, 1)}), flush=True)

sparse_mla(4096, 8192, 128, 2048, 576, 512)
sparse_mla(4096, 8192, 64, 2048, 576, 512)
sparse_mla(8192, 8192, 16, 256, 288, 256)
