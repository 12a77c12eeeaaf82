// dsrl-bench-kernels (CUDA builds): times our kernels at the shapes of issue 10 and prints one JSON line per
// measurement, with the max difference from the eager formulation on a slice of the same inputs.
// scripts/bench/kernels.sh runs it beside the eager PyTorch baseline (scripts/bench/kernels_eager.py).
#include <ATen/ATen.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "model/kernel_ops.h"

namespace dsrl {
namespace {

// Mean seconds per call over `iters` calls after `warmup` calls.
double seconds_per_call(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  cudaDeviceSynchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  cudaDeviceSynchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
}

// The eager formulation (gather, fp32 scores, softmax, bf16 product) on the first `rows` queries.
at::Tensor eager_sparse_mla(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& idx, int64_t d_v,
                            double scale) {
  at::Tensor rows = kv.index_select(0, idx.flatten().to(at::kLong)).view({idx.size(0), idx.size(1), kv.size(1)});
  at::Tensor scores = at::einsum("qhd,qkd->qhk", {q, rows}).to(at::kFloat) * scale;
  at::Tensor probs = at::softmax(scores, -1).to(at::kBFloat16);
  return at::einsum("qhk,qkd->qhd", {probs, rows.narrow(-1, 0, d_v)});
}

void bench_sparse_mla(int64_t s_q, int64_t s_kv, int64_t heads, int64_t topk, int64_t d_qk, int64_t d_v) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({s_q, heads, d_qk}, opts), kv = at::randn({s_kv, d_qk}, opts);
  at::Tensor idx = at::randint(0, s_kv, {s_q, topk}, opts.dtype(at::kInt));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d_qk));
  const double secs = seconds_per_call([&] { sparse_mla_forward(q, kv, idx, d_v, scale); }, 2, 10);
  const double flops = 2.0 * s_q * topk * heads * (d_qk + d_v);
  const int64_t check = std::min<int64_t>(s_q, 128);
  at::Tensor ours = sparse_mla_forward(q.narrow(0, 0, check), kv, idx.narrow(0, 0, check), d_v, scale).first;
  at::Tensor eager = eager_sparse_mla(q.narrow(0, 0, check), kv, idx.narrow(0, 0, check), d_v, scale);
  const double max_diff = (ours.to(at::kFloat) - eager.to(at::kFloat)).abs().max().item<double>();
  std::printf(
      "{\"kernel\": \"sparse_mla_fwd\", \"impl\": \"dsrl\", \"s_q\": %ld, \"s_kv\": %ld, \"heads\": %ld, \"topk\": %ld, "
      "\"d_qk\": %ld, \"d_v\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"max_diff_vs_eager\": %.4f}\n",
      s_q, s_kv, heads, topk, d_qk, d_v, secs * 1e3, flops / secs / 1e12, max_diff);
  std::fflush(stdout);
}

}  // namespace
}  // namespace dsrl

int main() {
  if (!dsrl::cuda_kernels_available()) {
    std::fprintf(stderr, "dsrl-bench-kernels: no CUDA kernels in this build or no GPU visible\n");
    return 1;
  }
  dsrl::bench_sparse_mla(4096, 8192, 128, 2048, 576, 512);  // DeepSeek-V3.2's shape (issue 10's goal)
  dsrl::bench_sparse_mla(4096, 8192, 64, 2048, 576, 512);   // half the heads (tensor parallel 2)
  dsrl::bench_sparse_mla(8192, 8192, 16, 256, 288, 256);    // the 286M benchmark model's attention
  return 0;
}
