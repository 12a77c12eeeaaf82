# The eager PyTorch baselines of issue 10 (the formulations ../shared/bench/baseline_h100.py measured), one JSON line
# per shape, on the same shapes dsrl-bench-kernels times. Usage: python3 kernels_eager.py [sparse_mla | indexer]
import json, sys, time, torch

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

def sparse_mla_backward(s_q, s_kv, h, topk, dqk, dv):
    """Eager autograd through the same chunked formulation: (forward + backward) minus forward."""
    torch.manual_seed(0)
    q = torch.randn(s_q, h, dqk, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    kv = torch.randn(s_kv, dqk, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    idx = torch.randint(0, s_kv, (s_q, topk), device="cuda")
    dout = torch.randn(s_q, h, dv, device="cuda", dtype=torch.bfloat16)
    scale = dqk ** -0.5
    chunk = max(1, 256 * 128 * 2048 // (h * topk))
    def forward():
        outs = []
        for c in range(0, s_q, chunk):
            g = kv[idx[c:c + chunk]]
            sc = torch.einsum("qhd,qkd->qhk", q[c:c + chunk], g).float() * scale
            outs.append(torch.einsum("qhk,qkd->qhd", sc.softmax(-1).to(torch.bfloat16), g[..., :dv]))
        return torch.cat(outs)
    def both():
        torch.autograd.grad(forward(), (q, kv), dout)
    with torch.no_grad():
        fwd = seconds_per_call(forward)
    secs = seconds_per_call(both) - fwd
    flops = 2 * s_q * topk * h * (3 * dqk + 2 * dv)
    print(json.dumps({"kernel": "sparse_mla_bwd", "impl": "eager", "s_q": s_q, "s_kv": s_kv, "heads": h,
                      "topk": topk, "d_qk": dqk, "d_v": dv, "ms": round(secs * 1e3, 3),
                      "tflops": round(flops / secs / 1e12, 1)}), flush=True)

def indexer(batch, seq, h, d, topk):
    torch.manual_seed(0)
    q = torch.randn(batch, seq, h, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(batch, seq, d, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(batch, seq, h, device="cuda", dtype=torch.float32)
    chunk = max(1, 1024 * 16384 * 64 // (seq * h))  # the baseline's 1024 queries at 16K x 64 heads, same memory
    def run():
        sel = []
        for b in range(batch):
            for c in range(0, seq, chunk):
                lg = torch.relu(torch.einsum("qhd,kd->qhk", q[b, c:c + chunk], k[b])).float()
                I = torch.einsum("qhk,qh->qk", lg, w[b, c:c + chunk])
                pos = torch.arange(c, min(c + chunk, seq), device="cuda")[:, None]
                I = I.masked_fill(torch.arange(seq, device="cuda")[None] > pos, float("-inf"))
                sel.append(I.topk(topk, dim=-1).indices)
        return sel
    secs = seconds_per_call(run, warmup=1, iters=3)
    flops = 2 * batch * seq * seq / 2 * h * d
    print(json.dumps({"kernel": "indexer_topk", "impl": "eager", "batch": batch, "seq": seq, "heads": h, "dim": d,
                      "topk": topk, "ms": round(secs * 1e3, 3), "tflops": round(flops / secs / 1e12, 1)}), flush=True)

def indexer_decode(batch, keys, h, d, topk):
    torch.manual_seed(0)
    q = torch.randn(batch, h, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(batch, keys, d, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(batch, h, device="cuda", dtype=torch.float32)
    def run():
        lg = torch.relu(torch.einsum("bhd,bkd->bhk", q, k)).float()
        return torch.einsum("bhk,bh->bk", lg, w).topk(topk, dim=-1).indices
    secs = seconds_per_call(run, warmup=2, iters=20)
    print(json.dumps({"kernel": "indexer_topk_decode", "impl": "eager", "batch": batch, "keys": keys, "heads": h,
                      "dim": d, "topk": topk, "ms": round(secs * 1e3, 3),
                      "key_gbps": round(batch * keys * d * 2 / secs / 1e9)}), flush=True)

group = sys.argv[1] if len(sys.argv) > 1 else ""  # sparse_mla, indexer or sampling (as dsrl-bench-kernels)
if group in ("", "sparse_mla"):
    sparse_mla(4096, 8192, 128, 2048, 576, 512)
    sparse_mla(4096, 8192, 64, 2048, 576, 512)
    sparse_mla(8192, 8192, 16, 256, 288, 256)
    sparse_mla_backward(4096, 8192, 128, 2048, 576, 512)
    sparse_mla_backward(8192, 8192, 16, 256, 288, 256)
    sparse_mla(64, 64 * 8192, 128, 2048, 576, 512)
    sparse_mla(8, 8 * 8192, 128, 2048, 576, 512)
    sparse_mla(64, 64 * 2048, 16, 256, 288, 256)
if group in ("", "indexer"):
    indexer(1, 16384, 64, 128, 2048)
    indexer(4, 2048, 8, 64, 256)
    indexer_decode(64, 8192, 64, 128, 2048)
