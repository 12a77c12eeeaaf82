// dsrl-bench-kernels (CUDA builds): times our kernels at the shapes of issue 10 and prints one JSON line per
// measurement, with a check against the eager formulation on a slice of the same inputs (sparse MLA: max
// difference; indexer: how far the k-th chosen logit falls below the eager k-th largest, 0 when exact).
// scripts/bench/kernels.sh runs it beside the eager PyTorch baseline (scripts/bench/kernels_eager.py).
#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>
#include <utility>

#include "kernels/sparse_mla_cuda.h"
#include "model/attention.h"
#include "model/indexer_loss.h"
#include "model/kernel_ops.h"
#include "model/layers.h"
#include "model/sampling.h"

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
  at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
  return at::einsum("qhk,qkd->qhd", {probs, rows.narrow(-1, 0, d_v)});
}

// splits: 0 = as sparse_mla_forward picks (split-KV for few queries), reported as impl "dsrl"; 1 = one CTA per
// query and head group, reported as "dsrl_no_split".
void bench_sparse_mla(int64_t s_q, int64_t s_kv, int64_t heads, int64_t topk, int64_t d_qk, int64_t d_v,
                      int64_t splits = 0) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({s_q, heads, d_qk}, opts), kv = at::randn({s_kv, d_qk}, opts);
  at::Tensor idx = at::randint(0, s_kv, {s_q, topk}, opts.dtype(at::kInt));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d_qk));
  const double secs = seconds_per_call([&] { sparse_mla_forward(q, kv, idx, d_v, scale, splits); }, 2, 10);
  const double flops = 2.0 * s_q * topk * heads * (d_qk + d_v);
  const kernels::SparseMlaShape shape{s_q, heads, s_kv, d_qk, d_v, topk};
  const int64_t parts = splits > 0 ? splits : kernels::sparse_mla_forward_splits(shape);
  const int64_t check = std::min<int64_t>(s_q, 128);
  at::Tensor ours = sparse_mla_forward(q.narrow(0, 0, check), kv, idx.narrow(0, 0, check), d_v, scale, parts).first;
  at::Tensor eager = eager_sparse_mla(q.narrow(0, 0, check), kv, idx.narrow(0, 0, check), d_v, scale);
  const double max_diff = (ours.to(at::kFloat) - eager.to(at::kFloat)).abs().max().item<double>();
  std::printf(
      "{\"kernel\": \"sparse_mla_fwd\", \"impl\": \"%s\", \"s_q\": %ld, \"s_kv\": %ld, \"heads\": %ld, \"topk\": %ld, "
      "\"d_qk\": %ld, \"d_v\": %ld, \"splits\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"max_diff_vs_eager\": %.4f}\n",
      splits == 1 ? "dsrl_no_split" : "dsrl", s_q, s_kv, heads, topk, d_qk, d_v, parts, secs * 1e3, flops / secs / 1e12,
      max_diff);
  std::fflush(stdout);
}

// The V3.2 shape forced onto the mma.sync kernel that every other shape runs (sparse_mla_cuda.h), one CTA per
// query, beside the warpgroup-MMA kernel that bench_sparse_mla times there: reported as "dsrl_mma_sync".
void bench_sparse_mla_mma_sync(int64_t s_q, int64_t s_kv, int64_t heads, int64_t topk) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({s_q, heads, 576}, opts), kv = at::randn({s_kv, 576}, opts);
  at::Tensor idx = at::randint(0, s_kv, {s_q, topk}, opts.dtype(at::kInt));
  at::Tensor out = at::empty({s_q, heads, 512}, opts), lse = at::empty({s_q, heads}, opts.dtype(at::kFloat));
  const kernels::SparseMlaShape shape{s_q, heads, s_kv, 576, 512, topk};
  auto ptr = [](const at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr()); };
  cudaError_t err = cudaSuccess;
  const double secs = seconds_per_call([&] {
    err = kernels::sparse_mla_forward_cuda(ptr(q), ptr(kv), idx.data_ptr<int32_t>(), ptr(out), lse.data_ptr<float>(),
                                           shape, 1.0f / 24.0f, nullptr, 1, nullptr, nullptr,
                                           kernels::SparseMlaForwardKernel::kMmaSync);
  }, 2, 10);
  if (err != cudaSuccess) {
    std::fprintf(stderr, "sparse_mla_forward_cuda (mma.sync) failed: %s\n", cudaGetErrorString(err));
    return;
  }
  const double flops = 2.0 * s_q * topk * heads * (576 + 512);
  std::printf(
      "{\"kernel\": \"sparse_mla_fwd\", \"impl\": \"dsrl_mma_sync\", \"s_q\": %ld, \"s_kv\": %ld, \"heads\": %ld, "
      "\"topk\": %ld, \"d_qk\": 576, \"d_v\": 512, \"ms\": %.3f, \"tflops\": %.1f}\n",
      s_q, s_kv, heads, topk, secs * 1e3, flops / secs / 1e12);
  std::fflush(stdout);
}

// Relative difference |a - b| / |b| over all elements (Frobenius norms), in fp32.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor bf = b.to(at::kFloat);
  return ((a.to(at::kFloat) - bf).norm() / bf.norm()).item<double>();
}

// Backward (dq, dkv) given the forward's out and lse; checked against eager autograd (fp32, of the same bf16
// values) on the first queries.
void bench_sparse_mla_backward(int64_t s_q, int64_t s_kv, int64_t heads, int64_t topk, int64_t d_qk, int64_t d_v) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({s_q, heads, d_qk}, opts), kv = at::randn({s_kv, d_qk}, opts);
  at::Tensor idx = at::randint(0, s_kv, {s_q, topk}, opts.dtype(at::kInt));
  at::Tensor dout = at::randn({s_q, heads, d_v}, opts);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d_qk));
  auto [out, lse] = sparse_mla_forward(q, kv, idx, d_v, scale);
  const double secs = seconds_per_call([&] { sparse_mla_backward(q, kv, idx, out, lse, dout, d_v, scale); }, 2, 10);
  const double flops = 2.0 * s_q * topk * heads * (3 * d_qk + 2 * d_v);
  const int64_t check = std::min<int64_t>(s_q, 64);
  at::Tensor qs = q.narrow(0, 0, check), is = idx.narrow(0, 0, check), gs = dout.narrow(0, 0, check);
  auto [os, ls] = sparse_mla_forward(qs, kv, is, d_v, scale);
  auto [dq, dkv] = sparse_mla_backward(qs, kv, is, os, ls, gs, d_v, scale);
  at::Tensor qf = qs.to(at::kFloat).requires_grad_(), kvf = kv.to(at::kFloat).requires_grad_();
  at::Tensor eager = eager_sparse_mla(qf, kvf, is, d_v, scale);
  eager.backward(gs.to(at::kFloat));
  const double err = std::max(relative_error(dq, qf.grad()), relative_error(dkv, kvf.grad()));
  std::printf(
      "{\"kernel\": \"sparse_mla_bwd\", \"impl\": \"dsrl\", \"s_q\": %ld, \"s_kv\": %ld, \"heads\": %ld, \"topk\": %ld, "
      "\"d_qk\": %ld, \"d_v\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"rel_err_vs_eager\": %.4f}\n",
      s_q, s_kv, heads, topk, d_qk, d_v, secs * 1e3, flops / secs / 1e12, err);
  std::fflush(stdout);
}

// The indexer's operands as a kernel takes them: bf16, or (fp8) e4m3 with a power-of-two scale per row, the
// queries' folded into w (the model's FP8 path; the Hadamard rotation is left out, random rows need none).
struct IndexerOperands {
  at::Tensor q, k, w, k_scale;
  // The fp32 values the kernel multiplies: q [B, S, H, D] and k [B, T, D], w [B, S, H].
  at::Tensor qf() const { return q.to(at::kFloat); }
  at::Tensor kf() const { return k_scale.defined() ? k.to(at::kFloat) * k_scale.unsqueeze(-1) : k.to(at::kFloat); }
};

IndexerOperands indexer_operands(int64_t batch, int64_t s_q, int64_t keys, int64_t heads, int64_t dim, bool fp8) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  IndexerOperands o{at::randn({batch, s_q, heads, dim}, opts), at::randn({batch, keys, dim}, opts),
                    at::randn({batch, s_q, heads}, opts.dtype(at::kFloat)), at::Tensor()};
  if (!fp8) return o;
  Fp8Blocks q8 = fp8_e4m3_quantize(o.q), k8 = fp8_e4m3_quantize(o.k);
  return {q8.values, k8.values, o.w * q8.scales.squeeze(-1), k8.scales.squeeze(-1)};
}

// Indexer logits + causal top-k over whole sequences (queries = keys = seq), chunked so [S, S] is never stored.
// impl "dsrl_fp8" for the FP8 kernel.
void bench_indexer(int64_t batch, int64_t seq, int64_t heads, int64_t dim, int64_t topk, bool fp8 = false) {
  const IndexerOperands o = indexer_operands(batch, seq, seq, heads, dim, fp8);
  at::Tensor ends = (at::arange(seq, o.w.options().dtype(at::kInt)) + 1).repeat({batch, 1});
  auto select = [&] { return indexer_topk(o.q, o.k, o.w, ends, topk, o.k_scale); };
  auto logits_of_all = [&] { return indexer_logits(o.q, o.k, o.w, ends, o.k_scale); };
  const double secs = seconds_per_call([&] { select(); }, 1, 5);
  const double flops = 2.0 * batch * seq * seq / 2 * heads * dim;  // the causal half
  // The two halves on their own: logits of every query at once, then the top-k of those rows.
  at::Tensor all_logits = logits_of_all();
  const double logits_secs = seconds_per_call([&] { logits_of_all(); }, 1, 5);
  const double topk_secs = seconds_per_call([&] { topk_positions(all_logits, topk); }, 1, 5);
  all_logits = at::Tensor();
  // Check a slice: the chosen keys' logits must be the largest (eager fp32 logits of the same operand values).
  const int64_t rows = std::min<int64_t>(seq, 64);
  at::Tensor picked = select().select(0, 0).narrow(0, seq - rows, rows).to(at::kLong);
  at::Tensor logits = at::einsum("shd,td->sht", {o.qf()[0].narrow(0, seq - rows, rows), o.kf()[0]});
  logits = at::einsum("sht,sh->st", {at::relu(logits), o.w[0].narrow(0, seq - rows, rows)});
  at::Tensor future = at::arange(seq, logits.options()).view({1, -1}) >
                      at::arange(seq - rows, seq, logits.options()).view({-1, 1});
  logits = logits.masked_fill(future, -INFINITY);
  at::Tensor chosen_min = logits.gather(1, picked.clamp_min(0)).amin(1);
  at::Tensor best = std::get<0>(logits.topk(topk, 1)).select(1, topk - 1);
  const double worst_gap = (best - chosen_min).max().item<double>();
  std::printf(
      "{\"kernel\": \"indexer_topk\", \"impl\": \"%s\", \"batch\": %ld, \"seq\": %ld, "
      "\"heads\": %ld, \"dim\": %ld, \"topk\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"kth_gap_vs_eager\": %.5f, "
      "\"logits_only_ms\": %.3f, \"logits_only_tflops\": %.1f, \"topk_only_ms\": %.3f}\n",
      fp8 ? "dsrl_fp8" : "dsrl", batch, seq, heads, dim, topk, secs * 1e3, flops / secs / 1e12, worst_gap,
      logits_secs * 1e3, flops / logits_secs / 1e12, topk_secs * 1e3);
  std::fflush(stdout);
}

// Decoding: one new query per sequence over `keys` cached keys. Memory-bound: reports the keys' bytes per second.
// FP8 also reports what quantising every cached key (Hadamard rotation, scales, e4m3) costs: the model did that each
// step before the KV cache kept the keys in FP8 as written.
void bench_indexer_decode(int64_t batch, int64_t keys, int64_t heads, int64_t dim, int64_t topk, bool fp8 = false) {
  const IndexerOperands o = indexer_operands(batch, 1, keys, heads, dim, fp8);
  at::Tensor ends = at::full({batch, 1}, keys, o.w.options().dtype(at::kInt));
  const double secs = seconds_per_call([&] { indexer_topk(o.q, o.k, o.w, ends, topk, o.k_scale); }, 2, 20);
  double requantise_secs = 0;
  if (fp8) {
    at::Tensor cached = at::randn({batch, keys, dim}, o.w.options().dtype(at::kBFloat16));
    requantise_secs = seconds_per_call([&] { fp8_e4m3_quantize(hadamard_rotate(cached)); }, 2, 20);
  }
  std::printf(
      "{\"kernel\": \"indexer_topk_decode\", \"impl\": \"%s\", \"batch\": %ld, "
      "\"keys\": %ld, \"heads\": %ld, \"dim\": %ld, \"topk\": %ld, \"ms\": %.3f, \"key_gbps\": %.0f, "
      "\"requantise_keys_ms\": %.3f}\n",
      fp8 ? "dsrl_fp8" : "dsrl", batch, keys, heads, dim, topk, secs * 1e3,
      batch * keys * dim * o.k.element_size() / secs / 1e9, requantise_secs * 1e3);
  std::fflush(stdout);
}

// Peak bytes the caching allocator held while fn ran (after a warm-up call), in MiB.
double peak_mib(const std::function<void()>& fn) {
  fn();
  cudaDeviceSynchronize();
  c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
  const auto before = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  fn();
  cudaDeviceSynchronize();
  const auto after = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  return (after.allocated_bytes[all].peak - before.allocated_bytes[all].current) / 1048576.0;
}

// Sparse training's indexer scores over the selected keys, forward + backward (what its KL differentiates): the
// kernels of kernels/indexer_selected.h against the eager gather formulation (IndexerImpl::selected_scores without
// kernels) with autograd, in the same run. FLOPs: the forward's q.k and the backward's dq and dkeys products.
void bench_indexer_selected(int64_t queries, int64_t heads, int64_t dim, int64_t n_keys, int64_t topk) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({queries, heads, dim}, opts), keys = at::randn({n_keys, dim}, opts);
  at::Tensor w = at::randn({queries, heads}, opts.dtype(at::kFloat)) * 0.1;
  at::Tensor sel = at::randint(0, n_keys, {queries, topk}, opts.dtype(at::kInt));
  at::Tensor dscores = at::randn({queries, topk}, opts.dtype(at::kFloat));
  at::Tensor dq;
  auto ours = [&] {
    selected_scores_forward(q, w, keys, sel);
    dq = std::get<0>(selected_scores_backward(q, w, keys, sel, dscores));
  };
  at::Tensor qf, wf, kf;
  auto eager = [&] {
    qf = q.detach().requires_grad_();
    wf = w.detach().requires_grad_();
    kf = keys.detach().requires_grad_();
    at::Tensor rows = kf.to(at::kFloat).index_select(0, sel.flatten().to(at::kLong)).view({queries, topk, dim});
    at::Tensor dots = at::relu(at::matmul(qf.to(at::kFloat), rows.transpose(1, 2)));  // [N, H, K], fp32 as the model
    at::matmul(wf.unsqueeze(1), dots).squeeze(1).backward(dscores);
  };
  const double flops = 3 * 2.0 * queries * heads * topk * dim;
  const double ours_s = seconds_per_call(ours, 2, 10), eager_s = seconds_per_call(eager, 2, 10);
  const double ours_mib = peak_mib(ours), eager_mib = peak_mib(eager);
  const double err = relative_error(dq, qf.grad());
  for (auto [impl, secs, mib] : {std::tuple<const char*, double, double>{"dsrl", ours_s, ours_mib},
                                 {"eager", eager_s, eager_mib}})
    std::printf("{\"kernel\": \"indexer_selected_fwd_bwd\", \"impl\": \"%s\", \"queries\": %ld, \"heads\": %ld, "
                "\"dim\": %ld, \"keys\": %ld, \"topk\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"peak_mib\": %.0f, "
                "\"rel_err_vs_eager\": %.4f}\n",
                impl, queries, heads, dim, n_keys, topk, secs * 1e3, flops / secs / 1e12, mib, err);
  std::fflush(stdout);
}

// Sparse training's indexer-KL target (the head-averaged attention probabilities over the selected keys and the
// recall) for `batch` causal sequences of `seq` tokens: the kernels of kernels/attention_target.h against the ATen
// formulation the model runs without them (selected_attention_target), in the same run. FLOPs: the causal scores and
// the selected ones, once each (the kernels' second walk, where the scores do not stay in shared memory, and ATen's
// scores of the keys after each query are not counted).
void bench_selected_target(int64_t batch, int64_t seq, int64_t heads, int64_t dim, int64_t topk) {
  at::manual_seed(0);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({batch, seq, heads, dim}, opts), kv = at::randn({batch, seq, dim}, opts);
  at::Tensor positions = at::arange(seq, opts.dtype(at::kLong)).unsqueeze(0).repeat({batch, 1});
  at::Tensor topk_idx = (at::rand({batch, seq, topk}, opts.dtype(at::kFloat)) * (positions + 1).unsqueeze(-1))
                            .to(at::kLong);  // causal keys, some repeated (both sides count a repeat twice)
  at::Tensor causal = causal_mask(positions, seq), valid = selected_valid(topk_idx, positions);
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  SelectedTarget ours_out;
  AttentionTarget eager_out;
  auto ours = [&] { ours_out = selected_target_forward(q, kv, positions + 1, topk_idx, scale); };
  auto eager = [&] { eager_out = selected_attention_target(q, kv, scale, causal, topk_idx, valid); };
  const double flops = 2.0 * batch * heads * dim * (seq * (seq + 1) / 2.0 + seq * topk);
  const double ours_s = seconds_per_call(ours, 2, 10), eager_s = seconds_per_call(eager, 2, 5);
  const double ours_mib = peak_mib(ours), eager_mib = peak_mib(eager);
  const double diff = (ours_out.probs - eager_out.probs).abs().max().item<double>();
  const double recall_diff = (ours_out.recall - eager_out.recall).abs().max().item<double>();
  for (auto [impl, secs, mib] : {std::tuple<const char*, double, double>{"dsrl", ours_s, ours_mib},
                                 {"eager", eager_s, eager_mib}})
    std::printf("{\"kernel\": \"selected_target\", \"impl\": \"%s\", \"batch\": %ld, \"seq\": %ld, \"heads\": %ld, "
                "\"dim\": %ld, \"topk\": %ld, \"ms\": %.3f, \"tflops\": %.1f, \"peak_mib\": %.0f, "
                "\"max_diff_vs_eager\": %.2g, \"recall_max_diff\": %.2g}\n",
                impl, batch, seq, heads, dim, topk, secs * 1e3, flops / secs / 1e12, mib, diff, recall_diff);
  std::fflush(stdout);
}

// Sampling 64 rows of a 129,280-token vocabulary at top-p 0.95 with the kept sets as packed bits (what a recording
// rollout step needs): the fused kernel against model/sampling.h's ATen path (sort, softmax, cumsum) + packing.
void bench_sampling(int64_t rows, int64_t vocab, double top_p) {
  at::manual_seed(0);
  at::Tensor logits = at::randn({rows, vocab}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16)) * 2;
  at::Tensor u = at::rand({rows}, at::TensorOptions().dtype(at::kDouble));
  SamplingParams params;
  params.top_p = top_p;
  const double ours = seconds_per_call([&] { sample_fused(logits, u, 1.0, 0, top_p, 0); }, 3, 20);
  const double eager = seconds_per_call([&] { pack_kept_bits(sample_tokens(logits, params, u).kept); }, 3, 20);
  const SampledBits a = sample_fused(logits, u, 1.0, 0, top_p, 0);
  const at::Tensor b = pack_kept_bits(sample_tokens(logits, params, u).kept);
  const int64_t same = (a.kept_bits == b).all(1).sum().item<int64_t>();
  for (auto [impl, secs] : {std::pair<const char*, double>{"dsrl", ours}, {"eager", eager}})
    std::printf("{\"kernel\": \"sampling\", \"impl\": \"%s\", \"rows\": %ld, \"vocab\": %ld, \"top_p\": %.2f, "
                "\"ms\": %.3f, \"rows_with_equal_kept_sets\": %ld}\n", impl, rows, vocab, top_p, secs * 1e3, same);
  std::fflush(stdout);
}

}  // namespace
}  // namespace dsrl

// dsrl-bench-kernels [sparse_mla | indexer | sampling]: every group, or the one named.
int main(int argc, char** argv) {
  if (!dsrl::cuda_kernels_available()) {
    std::fprintf(stderr, "dsrl-bench-kernels: no CUDA kernels in this build or no GPU visible\n");
    return 1;
  }
  const std::string only = argc > 1 ? argv[1] : "";
  if (!only.empty() && only != "sparse_mla" && only != "indexer" && only != "sampling") {
    std::fprintf(stderr, "dsrl-bench-kernels: unknown group '%s' (expected sparse_mla, indexer or sampling)\n",
                 only.c_str());
    return 2;
  }
  auto run = [&](const char* group) { return only.empty() || only == group; };
  if (run("sparse_mla")) {
    dsrl::bench_sparse_mla(4096, 8192, 128, 2048, 576, 512);  // DeepSeek-V3.2's shape (issue 10's goal)
    dsrl::bench_sparse_mla_mma_sync(4096, 8192, 128, 2048);    // the same on the mma.sync kernel
    dsrl::bench_sparse_mla(4096, 8192, 64, 2048, 576, 512);   // half the heads (tensor parallel 2)
    dsrl::bench_sparse_mla(8192, 8192, 16, 256, 288, 256);    // the 286M benchmark model's attention
    dsrl::bench_sparse_mla_backward(4096, 8192, 128, 2048, 576, 512);
    dsrl::bench_sparse_mla_backward(8192, 8192, 16, 256, 288, 256);
    // Decoding, one query per sequence: split-KV (as picked) beside one CTA per query.
    for (int64_t splits : {0, 1}) {
      dsrl::bench_sparse_mla(64, 64 * 8192, 128, 2048, 576, 512, splits);  // 64 sequences, V3.2's attention
      dsrl::bench_sparse_mla(8, 8 * 8192, 128, 2048, 576, 512, splits);    // 8 sequences
      dsrl::bench_sparse_mla(64, 64 * 2048, 16, 256, 288, 256, splits);    // the 286M model's rollout
    }
  }
  if (run("indexer")) {
    for (bool fp8 : {false, true}) {
      dsrl::bench_indexer(1, 16384, 64, 128, 2048, fp8);  // issue 10's indexer goal: causal 16K, 64 x 128
      dsrl::bench_indexer(4, 2048, 8, 64, 256, fp8);      // the 286M benchmark model's indexer
    }
    dsrl::bench_indexer_selected(4096, 64, 128, 4096, 2048);  // sparse training's KL at V3.2's indexer shape
    dsrl::bench_indexer_selected(8192, 8, 64, 8192, 256);     // the 286M model's (4 x 2048 tokens)
    dsrl::bench_selected_target(4, 2048, 16, 288, 256);       // its KL target, the 286M model's attention
    dsrl::bench_selected_target(1, 4096, 128, 576, 2048);     // at V3.2's attention shape
    dsrl::bench_indexer_decode(64, 8192, 64, 128, 2048);
    dsrl::bench_indexer_decode(64, 8192, 64, 128, 2048, true);
  }
  if (run("sampling")) {
    dsrl::bench_sampling(64, 129280, 0.95);
    dsrl::bench_sampling(64, 32000, 0.95);  // the 286M model's vocabulary (its rollout)
  }
  return 0;
}
