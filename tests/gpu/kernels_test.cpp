// GPU kernels against their C++ references and the eager ATen formulation (ctest label gpu; -DDSRL_CUDA=ON).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAGuard.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/indexer_cuda.h"
#include "kernels/moe_combine.h"
#include "kernels/sparse_mla_cuda.h"
#include "model/kernel_ops.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/moe_ops.h"
#include "model/norm_ops.h"
#include "model/rope_ops.h"
#include "model/router_ops.h"
#include "model/transformer.h"
#include "tests/model/model_fixture.h"
#include "tests/model/sparse_mla_eager.h"

namespace dsrl {
namespace {

struct MlaCase {
  int64_t s_q, heads, d_qk, d_v, n_kv, topk;
  std::string name() const {
    return "s_q " + std::to_string(s_q) + ", heads " + std::to_string(heads) + ", d " + std::to_string(d_qk) + "/" +
           std::to_string(d_v) + ", n_kv " + std::to_string(n_kv) + ", topk " + std::to_string(topk);
  }
};

// bf16 inputs on the GPU; the references see the same bf16 values in fp32. Indices cover -1, past-the-end rows,
// repeats, a query with nothing selected and a topk that is not a multiple of the kernel's 64-key block. At d 576,
// heads in multiples of 64 run the warpgroup-MMA kernel, 32 and 48 heads the mma.sync one.
TEST(GpuSparseMla, MatchesReferenceAndEagerAcrossShapes) {
  ASSERT_TRUE(cuda_kernels_available());
  at::manual_seed(0);
  const std::vector<MlaCase> cases = {
      {3, 16, 288, 256, 50, 1},    {4, 16, 288, 256, 300, 100}, {2, 32, 576, 512, 130, 64},
      {3, 48, 576, 512, 500, 200}, {2, 64, 576, 512, 2000, 257}, {2, 128, 576, 512, 9000, 2048},
      {5, 192, 576, 512, 3000, 700},
  };
  for (const MlaCase& c : cases) {
    at::Tensor q = at::randn({c.s_q, c.heads, c.d_qk}).to(at::kBFloat16);
    at::Tensor kv = at::randn({c.n_kv, c.d_qk}).to(at::kBFloat16);
    at::Tensor idx = at::randint(-1, c.n_kv + 1, {c.s_q, c.topk}, at::kInt);
    idx[0].fill_(-1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_qk));
    auto [want, want_lse] = testing::sparse_mla_eager(q.cuda(), kv.cuda(), idx.cuda(), c.d_v, scale);
    at::Tensor finite = at::isfinite(want_lse.cpu());
    // One CTA per query, split-KV as chosen for this GPU, and 3 and 7 parts (parts past the selection are empty).
    for (int64_t splits : {1, 0, 3, 7}) {
      const std::string name = c.name() + ", splits " + std::to_string(splits);
      auto [out, lse] = sparse_mla_forward(q.cuda(), kv.cuda(), idx.cuda(), c.d_v, scale, splits);
      ASSERT_EQ(out.scalar_type(), at::kBFloat16) << name;
      at::Tensor got = out.cpu().to(at::kFloat), got_lse = lse.cpu();
      EXPECT_LT((got - want.cpu()).abs().max().item<double>(), 2e-2) << name;
      EXPECT_TRUE(at::equal(finite, at::isfinite(got_lse))) << name;
      EXPECT_TRUE(at::allclose(got_lse.masked_fill(~finite, 0), want_lse.cpu().masked_fill(~finite, 0), 1e-3, 1e-3))
          << name;
      EXPECT_EQ(got[0].abs().max().item<float>(), 0.0f) << name << ": nothing selected must give zeros";
      if (c.s_q * c.heads * c.topk * c.d_qk <= 40'000'000) {  // the C++ reference on the CPU, where it is quick
        auto [ref, ref_lse] = sparse_mla_forward(q, kv, idx, c.d_v, scale);
        EXPECT_LT((got - ref.to(at::kFloat)).abs().max().item<double>(), 2e-2) << name << " vs reference";
      }
    }
  }
  const kernels::SparseMlaShape decode{8, 128, 70000, 576, 512, 2048}, prefill{4096, 128, 8192, 576, 512, 2048};
  EXPECT_GT(kernels::sparse_mla_forward_splits(decode), 1) << "8 queries x 2 CTAs leave most SMs idle";
  EXPECT_EQ(kernels::sparse_mla_forward_splits(prefill), 1);
}

// The mma.sync kernel at the shapes that take the warpgroup-MMA one (d 576, heads a multiple of 64), forced through
// SparseMlaForwardKernel::kMmaSync: the benchmark's comparison row, and the fallback off compute capability 9.0.
TEST(GpuSparseMla, MmaSyncKernelAtTheWarpgroupShapes) {
  at::manual_seed(4);
  for (const MlaCase& c : std::vector<MlaCase>{{2, 64, 576, 512, 2000, 257}, {5, 192, 576, 512, 3000, 700}}) {
    at::Tensor q = at::randn({c.s_q, c.heads, c.d_qk}, at::kCUDA).to(at::kBFloat16);
    at::Tensor kv = at::randn({c.n_kv, c.d_qk}, at::kCUDA).to(at::kBFloat16);
    at::Tensor idx = at::randint(-1, c.n_kv + 1, {c.s_q, c.topk}, at::TensorOptions(at::kCUDA).dtype(at::kInt));
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_qk));
    auto [want, want_lse] = testing::sparse_mla_eager(q, kv, idx, c.d_v, scale);
    at::Tensor out = at::empty({c.s_q, c.heads, c.d_v}, q.options());
    at::Tensor lse = at::empty({c.s_q, c.heads}, q.options().dtype(at::kFloat));
    const kernels::SparseMlaShape shape{c.s_q, c.heads, c.n_kv, c.d_qk, c.d_v, c.topk};
    auto ptr = [](const at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr()); };
    const cudaError_t err = kernels::sparse_mla_forward_cuda(
        ptr(q), ptr(kv), idx.data_ptr<int32_t>(), ptr(out), lse.data_ptr<float>(), shape, static_cast<float>(scale),
        at::cuda::getCurrentCUDAStream(), 1, nullptr, nullptr, kernels::SparseMlaForwardKernel::kMmaSync);
    ASSERT_EQ(err, cudaSuccess) << c.name() << ": " << cudaGetErrorString(err);
    EXPECT_LT((out.to(at::kFloat) - want.to(at::kFloat)).abs().max().item<double>(), 2e-2) << c.name();
    at::Tensor finite = at::isfinite(want_lse);
    EXPECT_TRUE(at::equal(finite, at::isfinite(lse))) << c.name();
    EXPECT_TRUE(at::allclose(lse.masked_fill(~finite, 0), want_lse.masked_fill(~finite, 0), 1e-3, 1e-3)) << c.name();
  }
}

// |got - want| / |want| (Frobenius norms), with |want| taken as at least 1e-2 per element's RMS: a gradient that is
// zero in exact arithmetic (one selected key: p = 1, so dS = 0) is compared by its absolute size.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  at::Tensor w = want.to(at::kFloat).cpu();
  const double floor = 1e-2 * std::sqrt(static_cast<double>(w.numel()));
  return ((got.to(at::kFloat).cpu() - w).norm().item<double>() / std::max(w.norm().item<double>(), floor));
}

// The backward against eager autograd (fp32, of the same bf16 values) and, where quick, the C++ reference. The last
// case has 64 queries over 40 rows, so many atomics land on each row of dkv.
TEST(GpuSparseMla, BackwardMatchesEagerAutogradAndReference) {
  at::manual_seed(5);
  const std::vector<MlaCase> cases = {
      {3, 16, 288, 256, 50, 1},    {4, 16, 288, 256, 300, 100},    {2, 32, 576, 512, 130, 64},
      {3, 48, 576, 512, 500, 200}, {2, 64, 576, 512, 2000, 257},   {2, 128, 576, 512, 9000, 2048},
      {64, 16, 288, 256, 40, 33},
  };
  for (const MlaCase& c : cases) {
    at::Tensor q = at::randn({c.s_q, c.heads, c.d_qk}).to(at::kBFloat16);
    at::Tensor kv = at::randn({c.n_kv, c.d_qk}).to(at::kBFloat16);
    at::Tensor dout = at::randn({c.s_q, c.heads, c.d_v}).to(at::kBFloat16);
    at::Tensor idx = at::randint(-1, c.n_kv + 1, {c.s_q, c.topk}, at::kInt);
    idx[0].fill_(-1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_qk));
    auto [out, lse] = sparse_mla_forward(q.cuda(), kv.cuda(), idx.cuda(), c.d_v, scale);
    auto [dq, dkv] = sparse_mla_backward(q.cuda(), kv.cuda(), idx.cuda(), out, lse, dout.cuda(), c.d_v, scale);
    ASSERT_EQ(dq.scalar_type(), at::kBFloat16) << c.name();
    ASSERT_EQ(dkv.sizes(), kv.sizes()) << c.name();
    at::Tensor qf = q.cuda().to(at::kFloat).requires_grad_(), kvf = kv.cuda().to(at::kFloat).requires_grad_();
    testing::sparse_mla_eager(qf, kvf, idx.cuda(), c.d_v, scale).first.backward(dout.cuda().to(at::kFloat));
    EXPECT_LT(relative_error(dq, qf.grad()), 2e-2) << c.name() << ": dq";
    EXPECT_LT(relative_error(dkv, kvf.grad()), 2e-2) << c.name() << ": dkv";
    EXPECT_EQ(dq[0].abs().max().item<float>(), 0.0f) << c.name() << ": nothing selected must give no gradient";
    if (c.s_q * c.heads * c.topk * c.d_qk <= 40'000'000) {
      auto [ref_out, ref_lse] = sparse_mla_forward(q, kv, idx, c.d_v, scale);
      auto [ref_dq, ref_dkv] = sparse_mla_backward(q, kv, idx, ref_out, ref_lse, dout, c.d_v, scale);
      EXPECT_LT(relative_error(dq, ref_dq), 2e-2) << c.name() << ": dq vs reference";
      EXPECT_LT(relative_error(dkv, ref_dkv), 2e-2) << c.name() << ": dkv vs reference";
    }
  }
}

// The rollout decodes inside CUDA graphs: a split-KV call (its scratch from the graph's pool, two kernels) captured
// and replayed, then replayed again after its inputs changed in place, equals a fresh call each time.
TEST(GpuSparseMla, SplitKvReplaysInACudaGraph) {
  ASSERT_TRUE(cuda_kernels_available());
  at::manual_seed(1);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  at::Tensor q = at::randn({4, 16, 576}, opts), kv = at::randn({5000, 576}, opts);
  at::Tensor idx = at::randint(-1, 5000, {4, 2048}, opts.dtype(at::kInt));
  const double scale = 1.0 / 24;
  at::cuda::device_synchronize();
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  at::cuda::CUDAGraph graph;
  at::Tensor out, lse;
  {
    at::cuda::CUDAStreamGuard guard(side);
    sparse_mla_forward(q, kv, idx, 512, scale, 4);  // warm-up outside the capture
    graph.capture_begin();
    std::tie(out, lse) = sparse_mla_forward(q, kv, idx, 512, scale, 4);
    graph.capture_end();
  }
  for (int round = 0; round < 2; ++round) {
    if (round == 1) q.mul_(-0.5);  // new values in the captured input
    graph.replay();
    at::cuda::device_synchronize();
    auto [want, want_lse] = sparse_mla_forward(q, kv, idx, 512, scale, 1);
    EXPECT_LT((out.to(at::kFloat) - want.to(at::kFloat)).abs().max().item<double>(), 2e-2) << "round " << round;
    EXPECT_TRUE(at::allclose(lse, want_lse, 1e-3, 1e-3)) << "round " << round;
  }
}

TEST(GpuSparseMla, RefusesUnsupportedShapesClearly) {
  at::Tensor q = at::randn({2, 8, 576}, at::kCUDA).to(at::kBFloat16), kv = at::randn({10, 576}, at::kCUDA).to(at::kBFloat16);
  at::Tensor idx = at::zeros({2, 4}, at::TensorOptions().dtype(at::kInt).device(at::kCUDA));
  EXPECT_FALSE(sparse_mla_kernel_applies(q, 512));
  try {
    sparse_mla_forward(q, kv, idx, 512, 1.0);
    ADD_FAILURE() << "8 heads accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("8 heads"), std::string::npos) << e.what();
  }
}

struct IndexerCase {
  int64_t batch, s_q, n_keys, heads, dim;
};

// key_end: causal for a prefill whose queries are the last s_q of n_keys positions, with a few rows cut shorter.
at::Tensor causal_ends(int64_t batch, int64_t s_q, int64_t n_keys) {
  at::Tensor ends = (at::arange(s_q, at::kInt) + (n_keys - s_q + 1)).repeat({batch, 1});
  ends.view(-1)[0] = 0;
  if (ends.numel() > 3) ends.view(-1)[3] = 1;
  return ends;
}

TEST(GpuIndexer, LogitsMatchReferenceAcrossShapes) {
  at::manual_seed(5);
  const std::vector<IndexerCase> cases = {{2, 7, 7, 8, 64},    {1, 70, 200, 16, 64}, {2, 33, 130, 32, 128},
                                          {3, 20, 65, 64, 128}, {1, 9, 1000, 64, 128}, {2, 1, 777, 64, 128}};
  for (const IndexerCase& c : cases) {
    const std::string name = "batch " + std::to_string(c.batch) + ", s_q " + std::to_string(c.s_q) + ", keys " +
                             std::to_string(c.n_keys) + ", heads " + std::to_string(c.heads) + ", dim " +
                             std::to_string(c.dim);
    at::Tensor q = (at::randn({c.batch, c.s_q, c.heads, c.dim}) / std::sqrt(c.dim)).to(at::kBFloat16);
    at::Tensor k = at::randn({c.batch, c.n_keys, c.dim}).to(at::kBFloat16);
    at::Tensor w = at::randn({c.batch, c.s_q, c.heads}) / std::sqrt(c.heads);
    at::Tensor ends = causal_ends(c.batch, c.s_q, c.n_keys);
    at::Tensor got = indexer_logits(q.cuda(), k.cuda(), w.cuda(), ends.cuda()).cpu();
    at::Tensor want = indexer_logits(q, k, w, ends);  // the C++ reference on the same bf16 values
    ASSERT_TRUE(at::equal(at::isinf(got), at::isinf(want))) << name << ": masked keys differ";
    const double err = (got.nan_to_num(0, 0, 0) - want.nan_to_num(0, 0, 0)).abs().max().item<double>();
    EXPECT_LT(err, 1e-3) << name;
  }
}

// The FP8 path: rows Hadamard-rotated and quantised as the model does (one power-of-two scale per row), the queries'
// scales folded into w. The reference sees the same e4m3 values dequantised; the kernel's FP8 MMAs add exact
// products in another order (and Hopper's FP8 accumulation keeps fewer bits), so the bound is relative to the row.
TEST(GpuIndexer, Fp8LogitsMatchReferenceAcrossShapes) {
  at::manual_seed(15);
  // 64 heads x 128 take the warpgroup-MMA kernel on an H100 (several key tiles, a partial CTA of queries, split
  // keys for the single query), the others mma.sync.
  const std::vector<IndexerCase> cases = {{2, 7, 7, 8, 64},     {1, 70, 200, 16, 64},  {2, 33, 130, 32, 128},
                                          {3, 20, 65, 64, 128}, {1, 130, 2000, 64, 128}, {2, 1, 777, 64, 128},
                                          {1, 3, 5000, 64, 128}};
  for (const IndexerCase& c : cases) {
    const std::string name = "batch " + std::to_string(c.batch) + ", s_q " + std::to_string(c.s_q) + ", keys " +
                             std::to_string(c.n_keys) + ", heads " + std::to_string(c.heads) + ", dim " +
                             std::to_string(c.dim);
    Fp8Blocks q = fp8_e4m3_quantize(hadamard_rotate(at::randn({c.batch, c.s_q, c.heads, c.dim})));
    Fp8Blocks k = fp8_e4m3_quantize(hadamard_rotate(at::randn({c.batch, c.n_keys, c.dim}) * 3));
    at::Tensor w = at::randn({c.batch, c.s_q, c.heads}) / std::sqrt(c.heads * c.dim) * q.scales.squeeze(-1);
    at::Tensor ends = causal_ends(c.batch, c.s_q, c.n_keys);
    at::Tensor k_scale = k.scales.squeeze(-1);
    at::Tensor got =
        indexer_logits(q.values.cuda(), k.values.cuda(), w.cuda(), ends.cuda(), k_scale.cuda()).cpu();
    at::Tensor want = indexer_logits(q.values, k.values, w, ends, k_scale);  // the C++ reference, dequantised
    ASSERT_TRUE(at::equal(at::isinf(got), at::isinf(want))) << name << ": masked keys differ";
    at::Tensor g = got.nan_to_num(0, 0, 0), r = want.nan_to_num(0, 0, 0);
    const double err = ((g - r).abs().amax(-1) / r.abs().amax(-1).clamp_min(1e-6)).max().item<double>();
    EXPECT_LT(err, 1e-3) << name << ": worst error relative to its row's largest logit";
    EXPECT_GT(r.abs().max().item<double>(), 0.1) << name << ": the logits are not all near zero";
    if (c.heads == 64 && c.dim == 128 && c.s_q > 1) {
      // Both FP8 kernels through the launcher, for the queries after the first (s_begin 1, as indexer_topk's chunks).
      for (bool allow_wgmma : {true, false}) {
        at::Tensor qv = q.values.cuda(), kv = k.values.cuda(), ks = k_scale.cuda(), wc = w.cuda();
        at::Tensor ec = ends.cuda(), out = at::empty({c.batch, c.s_q - 1, c.n_keys}, wc.options());
        const kernels::IndexerShape shape{c.batch, c.s_q, c.n_keys, c.heads, c.dim};
        const cudaError_t status = kernels::indexer_logits_fp8_cuda(
            static_cast<const uint8_t*>(qv.data_ptr()), static_cast<const uint8_t*>(kv.data_ptr()),
            ks.data_ptr<float>(), wc.data_ptr<float>(), ec.data_ptr<int32_t>(), out.data_ptr<float>(), shape, 1,
            c.s_q - 1, at::cuda::getCurrentCUDAStream(), allow_wgmma);
        ASSERT_EQ(status, cudaSuccess) << name;
        at::Tensor part = out.cpu(), part_want = want.narrow(1, 1, c.s_q - 1);
        ASSERT_TRUE(at::equal(at::isinf(part), at::isinf(part_want))) << name << ", wgmma " << allow_wgmma;
        const double part_err = ((part.nan_to_num(0, 0, 0) - part_want.nan_to_num(0, 0, 0)).abs().amax(-1) /
                                 part_want.nan_to_num(0, 0, 0).abs().amax(-1).clamp_min(1e-6)).max().item<double>();
        EXPECT_LT(part_err, 1e-3) << name << ", queries from 1, wgmma allowed: " << allow_wgmma;
      }
    }
  }
}

TEST(GpuIndexer, TopkMatchesReferenceExactly) {
  at::manual_seed(6);
  for (auto [rows, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {5, 10, 3}, {4, 300, 64}, {3, 5000, 2048}, {2, 131072, 2048}, {3, 2000, 2048}}) {
    // Values on a coarse grid so that ties are common, with -inf stretches as causal masking makes.
    at::Tensor x = at::round(at::randn({rows, n}) * 8) / 8;
    x[0].narrow(0, n / 2, n - n / 2).fill_(-INFINITY);
    at::Tensor want = topk_positions(x, k);
    at::Tensor got = topk_positions(x.cuda(), k).cpu();
    EXPECT_TRUE(at::equal(got, want)) << "rows " << rows << ", n " << n << ", k " << k << ": "
                                      << (got != want).sum().item<int64_t>() << " slots differ";
  }
  at::Tensor zeros = at::tensor({1.0f, -0.0f, 0.0f, -1.0f}).view({1, 4});  // -0 ties +0: the lower position
  EXPECT_TRUE(at::equal(topk_positions(zeros.cuda(), 2).cpu(), topk_positions(zeros, 2)));
}

TEST(GpuIndexer, ChunkedSelectionEqualsTopkOfTheLogits) {
  at::manual_seed(7);
  const int64_t B = 2, S = 300, T = 3000, H = 64, D = 128;
  at::Tensor q = (at::randn({B, S, H, D}, at::kCUDA) / std::sqrt(D)).to(at::kBFloat16);
  at::Tensor k = at::randn({B, T, D}, at::kCUDA).to(at::kBFloat16);
  at::Tensor w = at::randn({B, S, H}, at::kCUDA) / 8;
  at::Tensor ends = causal_ends(B, S, T).cuda();
  at::Tensor picked = indexer_topk(q, k, w, ends, 512);
  EXPECT_TRUE(at::equal(picked, topk_positions(indexer_logits(q, k, w, ends), 512)));
  EXPECT_EQ((picked[0][0] >= 0).sum().item<int64_t>(), 0) << "key_end 0 selects nothing";
  Fp8Blocks q8 = fp8_e4m3_quantize(q), k8 = fp8_e4m3_quantize(k);
  at::Tensor w8 = w * q8.scales.squeeze(-1), k_scale = k8.scales.squeeze(-1);
  EXPECT_TRUE(at::equal(indexer_topk(q8.values, k8.values, w8, ends, 512, k_scale),
                        topk_positions(indexer_logits(q8.values, k8.values, w8, ends, k_scale), 512)))
      << "FP8";
}

// A tiny model whose attention (16 heads, 256 + 32 latent) and indexer (8 x 64) have kernel instantiations.
ModelConfig kernel_sized_config() {
  ModelConfig c = testing::tiny_config();
  c.num_attention_heads = 16;
  c.kv_lora_rank = 256;
  c.qk_rope_head_dim = 32;
  c.index_n_heads = 8;
  c.index_head_dim = 64;
  c.index_topk = 12;
  return c;
}

// The eager MQA paths, recording the selections and routes that a kernel run then replays.
ForwardOptions eager_mqa() {
  ForwardOptions o;
  o.record = true;
  o.impl = AttentionImpl::kMQA;
  o.kernels = false;
  return o;
}

// `options` on the kernels, replaying what the eager run recorded.
ForwardOptions kernels_replaying(ForwardOptions options, const ForwardResult& eager) {
  options.kernels = true;
  options.replay_topk = &eager.indexer_topk;
  options.replay_experts = &eager.expert_ids;
  return options;
}

// One forward of `inputs` and the backward of loss(result): the fp32 gradients of the parameters whose names hold
// `only` ("" for all that got one), flattened into one vector.
at::Tensor gradients_of(DeepseekV32& model, const at::Tensor& inputs, const ForwardOptions& options,
                        ForwardResult* result, const std::function<at::Tensor(const ForwardResult&)>& loss,
                        const std::string& only = "") {
  for (at::Tensor& p : model->parameters()) p.mutable_grad().reset();
  *result = model->forward(inputs, options);
  loss(*result).backward();
  std::vector<at::Tensor> grads;
  for (const auto& p : model->named_parameters())
    if (p.key().find(only) != std::string::npos && p.value().grad().defined())
      grads.push_back(p.value().grad().to(at::kFloat).flatten());
  return at::cat(grads);
}

// The kernels inside the model: a bf16 model whose attention (16 heads, 256 + 32 latent) and indexer (8 x 64) fit
// them, run with ForwardOptions::kernels on and off. The indexer kernels pick the eager path's keys in the first
// layer (same inputs); with the eager run's selection and routes replayed, the attention kernel gives its logits.
TEST(GpuKernelsInModel, MatchTheEagerPathsOfABf16Model) {
  const ModelConfig c = kernel_sized_config();
  DeepseekV32 model = testing::tiny_model(c, 41);
  cast_model(model, at::kCUDA, at::kBFloat16);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong).cuda();
  ForwardOptions eager = eager_mqa();
  ForwardResult e = model->forward(tokens, eager);
  ForwardOptions kernels = eager;
  kernels.kernels = true;
  ForwardResult k = model->forward(tokens, kernels);
  at::Tensor first_eager = std::get<0>(e.indexer_topk[0].sort(-1)), first_kernel = std::get<0>(k.indexer_topk[0].sort(-1));
  EXPECT_LE((first_eager != first_kernel).sum().item<int64_t>(), first_eager.numel() / 100)
      << "layer 0's selection: indexer kernels against the eager scores and at::topk";
  at::Tensor got = model->forward(tokens, kernels_replaying(eager, e)).logits.to(at::kFloat);
  at::Tensor want = e.logits.to(at::kFloat);
  EXPECT_LT(((got - want).norm() / want.norm()).item<double>(), 2e-2) << "attention kernel against the eager MQA";
}

// With indexer_fp8 the kernel path selects on FP8 MMAs what the eager path's simulation (the same quantisation,
// dequantised, fp32 GEMMs) selects: only near-ties may differ.
// Indexers of 8 x 64 (the mma.sync FP8 kernel) and 64 x 128 (the warpgroup-MMA one on an H100).
TEST(GpuKernelsInModel, Fp8IndexerPicksTheSimulationsKeys) {
  for (auto [heads, dim] : std::vector<std::pair<int64_t, int64_t>>{{8, 64}, {64, 128}}) {
    ModelConfig c = kernel_sized_config();
    c.indexer_fp8 = true;
    c.index_n_heads = heads;
    c.index_head_dim = dim;
    DeepseekV32 model = testing::tiny_model(c, 47);
    cast_model(model, at::kCUDA, at::kBFloat16);
    at::NoGradGuard no_grad;
    at::Tensor tokens = at::randint(0, c.vocab_size, {2, 60}, at::kLong).cuda();
    ForwardOptions eager = eager_mqa();
    ForwardOptions kernels = eager;
    kernels.kernels = true;
    at::Tensor want = std::get<0>(model->forward(tokens, eager).indexer_topk[0].sort(-1));
    at::Tensor got = std::get<0>(model->forward(tokens, kernels).indexer_topk[0].sort(-1));
    const std::string name = std::to_string(heads) + " x " + std::to_string(dim);
    EXPECT_GT((want >= 0).sum().item<int64_t>(), want.numel() / 2) << name << ": most slots hold a key";
    EXPECT_LE((want != got).sum().item<int64_t>(), want.numel() / 100)
        << name << ": layer 0's selection, FP8 kernel vs simulation";
  }
}

// Decoding with indexer_fp8, the kernels read the FP8 keys the KV cache quantised once, as they were written
// (LayerKeys::index_k8); the eager simulation re-quantises the cached bf16 keys every step. Layer 0's selections
// (its keys depend on the tokens alone) agree but for near-ties, in the prefill and in every decode step.
TEST(GpuKernelsInModel, Fp8IndexerDecodesFromTheCachedFp8Keys) {
  ModelConfig c = kernel_sized_config();
  c.indexer_fp8 = true;
  c.index_n_heads = 64;
  c.index_head_dim = 128;
  DeepseekV32 model = testing::tiny_model(c, 48);
  cast_model(model, at::kCUDA, at::kBFloat16);
  at::NoGradGuard no_grad;
  const int64_t prompt = 40, steps = 16;
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, prompt + steps}, at::kLong).cuda();
  const auto options = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  KVCache eager_cache(c, 2, 64, options), kernel_cache(c, 2, 64, options);
  int64_t slots = 0, keys = 0, differ = 0;
  for (int64_t step = 0; step <= steps; ++step) {
    at::Tensor input = step == 0 ? tokens.narrow(1, 0, prompt) : tokens.narrow(1, prompt + step - 1, 1);
    ForwardOptions eager = eager_mqa(), kernels = eager_mqa();
    kernels.kernels = true;
    eager.cache = &eager_cache;
    kernels.cache = &kernel_cache;
    at::Tensor want = std::get<0>(model->forward(input, eager).indexer_topk[0].sort(-1));
    at::Tensor got = std::get<0>(model->forward(input, kernels).indexer_topk[0].sort(-1));
    slots += want.numel();
    keys += (want >= 0).sum().item<int64_t>();
    differ += (want != got).sum().item<int64_t>();
  }
  EXPECT_GT(keys, slots / 2) << "most slots hold a key";
  EXPECT_LE(differ, slots / 100) << "layer 0's selections, FP8 kernels on the cached keys vs the simulation";
}

// Training through the sparse MLA kernels (forward and backward) gives the gradients of the eager MQA path, with the
// same selections and experts replayed.
TEST(GpuKernelsInModel, TrainingGradientsMatchTheEagerMqa) {
  const ModelConfig c = kernel_sized_config();
  DeepseekV32 model = testing::tiny_model(c, 43);
  cast_model(model, at::kCUDA, at::kBFloat16);
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 41}, at::kLong).cuda();
  auto lm_loss = [&](const ForwardResult& r) {
    return at::cross_entropy_loss(r.logits.to(at::kFloat).reshape({80, -1}), tokens.narrow(1, 1, 40).reshape({80}));
  };
  ForwardResult e, k;
  at::Tensor want = gradients_of(model, tokens.narrow(1, 0, 40), eager_mqa(), &e, lm_loss);
  at::Tensor got = gradients_of(model, tokens.narrow(1, 0, 40), kernels_replaying(eager_mqa(), e), &k, lm_loss);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LT(relative_error(got, want), 5e-2) << "all parameter gradients";
  at::Tensor kv_proj = model->named_parameters()["model.layers.0.self_attn.kv_a_proj_with_mqa.weight"].grad();
  EXPECT_GT(kv_proj.abs().sum().item<double>(), 0.0) << "the latent keys receive gradient through dkv";
}

// Sparse training's indexer KL through the selected-scores kernels equals the eager gather path: the KL of every
// layer and the gradient it gives every indexer weight, with the eager run's selections and routes replayed.
TEST(GpuKernelsInModel, SparseIndexerKlMatchesTheEagerPath) {
  const ModelConfig c = kernel_sized_config();
  DeepseekV32 model = testing::tiny_model(c, 47);
  cast_model(model, at::kCUDA, at::kBFloat16);
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong).cuda();
  auto kl = [](const ForwardResult& r) { return at::stack(r.indexer.kl).sum(); };
  ForwardOptions eager = eager_mqa();
  eager.indexer_loss = true;
  ForwardResult e, k;
  at::Tensor want = gradients_of(model, tokens, eager, &e, kl, ".indexer.");
  at::Tensor got = gradients_of(model, tokens, kernels_replaying(eager, e), &k, kl, ".indexer.");
  EXPECT_LT(relative_error(at::stack(k.indexer.kl), at::stack(e.indexer.kl)), 2e-2) << "KL per layer and query";
  EXPECT_LT(relative_error(at::stack(k.indexer.recall), at::stack(e.indexer.recall)), 1e-2) << "recall";
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LT(relative_error(got, want), 5e-2) << "indexer weight gradients";
  EXPECT_GT(want.abs().sum().item<double>(), 0.0);
}

// The indexer's scores over selected keys on the GPU against eager autograd (fp32, of the same bf16 values) and,
// where quick, the C++ references: scores, dq, dw and dkeys. Selections hold -1, past-the-end rows, repeats, a query
// with nothing selected and a topk that is not a multiple of the kernels' 32-key block; 8 heads run as a zero-padded
// 16-row tile; the 64 x 40 case lands many atomics on each row of dkeys.
TEST(GpuIndexerSelected, MatchesEagerAutogradAndReference) {
  struct Case {
    int64_t queries, heads, dim, n_keys, topk;
  };
  const std::vector<Case> cases = {{3, 8, 64, 50, 1},      {4, 16, 128, 300, 100},    {2, 32, 64, 130, 33},
                                   {5, 64, 128, 5000, 2048}, {64, 8, 64, 40, 33},     {300, 64, 128, 4096, 512}};
  at::manual_seed(7);
  for (const Case& c : cases) {
    const std::string name = "queries " + std::to_string(c.queries) + ", heads " + std::to_string(c.heads) +
                             ", dim " + std::to_string(c.dim) + ", keys " + std::to_string(c.n_keys) + ", topk " +
                             std::to_string(c.topk);
    at::Tensor q = at::randn({c.queries, c.heads, c.dim}).to(at::kBFloat16);
    at::Tensor w = at::randn({c.queries, c.heads}) * 0.1;
    at::Tensor keys = at::randn({c.n_keys, c.dim}).to(at::kBFloat16);
    at::Tensor sel = at::randint(-1, c.n_keys + 1, {c.queries, c.topk}, at::kInt);
    sel[0].fill_(-1);
    at::Tensor dscores = at::randn({c.queries, c.topk});
    at::Tensor scores = selected_scores_forward(q.cuda(), w.cuda(), keys.cuda(), sel.cuda());
    auto [dq, dw, dkeys] = selected_scores_backward(q.cuda(), w.cuda(), keys.cuda(), sel.cuda(), dscores.cuda());
    ASSERT_EQ(dq.scalar_type(), at::kBFloat16) << name;
    at::Tensor qf = q.cuda().to(at::kFloat).requires_grad_(), wf = w.cuda().requires_grad_();
    at::Tensor kf = keys.cuda().to(at::kFloat).requires_grad_();
    at::Tensor want = testing::indexer_selected_eager(qf, wf, kf, sel.cuda());
    want.backward(dscores.cuda());
    ASSERT_TRUE(at::equal(at::isinf(scores), at::isinf(want))) << name << ": -inf exactly where nothing is selected";
    at::Tensor finite = at::isfinite(want);
    EXPECT_LT(relative_error(scores.masked_select(finite), want.masked_select(finite)), 1e-3) << name << ": scores";
    EXPECT_LT(relative_error(dq, qf.grad()), 2e-2) << name << ": dq";
    EXPECT_LT(relative_error(dw, wf.grad()), 2e-2) << name << ": dw";
    EXPECT_LT(relative_error(dkeys, kf.grad()), 2e-2) << name << ": dkeys";
    EXPECT_EQ(dq[0].abs().max().item<float>(), 0.0f) << name << ": nothing selected must give no gradient";
    if (c.queries * c.heads * c.topk * c.dim <= 20'000'000) {
      at::Tensor ref = selected_scores_forward(q, w, keys, sel);
      auto [ref_dq, ref_dw, ref_dkeys] = selected_scores_backward(q, w, keys, sel, dscores);
      EXPECT_LT(relative_error(scores.masked_select(finite), ref.masked_select(finite.cpu())), 1e-3) << name;
      EXPECT_LT(relative_error(dq, ref_dq), 2e-2) << name << ": dq vs reference";
      EXPECT_LT(relative_error(dw, ref_dw), 2e-2) << name << ": dw vs reference";
      EXPECT_LT(relative_error(dkeys, ref_dkeys), 2e-2) << name << ": dkeys vs reference";
    }
  }
}

// The model's bf16 RMSNorm layer on the kernels against autograd through the ATen formula on the same bf16 tensors:
// the output (the same roundings, so almost every element is bit-equal), dx and dweight. Shapes: one pair, the
// 286M model's norms, a long stack of rows (many rows per backward warp) and V3.2's hidden size (past 48 KiB of
// shared memory in the backward). x is also given as a strided view, and as a contiguous tensor starting at an odd
// element, which the wrapper copies to a pair boundary.
TEST(GpuRmsNorm, MatchesEagerForwardAndGradients) {
  enum class Layout { kContiguous, kStrided, kOddStart };
  struct Case {
    int64_t rows, dim;
    Layout layout;
  };
  at::manual_seed(11);
  for (const Case& c : std::vector<Case>{{1, 2, Layout::kContiguous}, {7, 256, Layout::kStrided},
                                         {9, 256, Layout::kOddStart}, {300, 1024, Layout::kContiguous},
                                         {8192, 384, Layout::kContiguous}, {5, 7168, Layout::kOddStart}}) {
    const std::string name = std::to_string(c.rows) + " x " + std::to_string(c.dim) + ", layout " +
                             std::to_string(static_cast<int>(c.layout));
    at::Tensor base = (at::randn({c.rows, c.dim + 1}) * 3).to(at::kBFloat16).cuda();
    at::Tensor x = c.layout == Layout::kStrided    ? base.narrow(1, 1, c.dim)
                   : c.layout == Layout::kOddStart ? base.view({-1}).narrow(0, 1, c.rows * c.dim).view({c.rows, c.dim})
                                                   : base.narrow(1, 0, c.dim).contiguous();
    if (c.layout == Layout::kOddStart) ASSERT_TRUE(x.is_contiguous() && x.storage_offset() % 2 == 1) << name;
    at::Tensor w = (at::rand({c.dim}) + 0.5).to(at::kBFloat16).cuda();
    at::Tensor dy = at::randn({c.rows, c.dim}).to(at::kBFloat16).cuda();
    ASSERT_TRUE(rms_norm_kernel_applies(x, w)) << name;
    at::Tensor xe = x.detach().requires_grad_(true), we = w.detach().requires_grad_(true);
    at::Tensor want = rms_norm_eager(xe, we, 1e-6);
    auto want_grads = torch::autograd::grad({want}, {xe, we}, {dy});
    at::Tensor xk = x.detach().requires_grad_(true), wk = w.detach().requires_grad_(true);
    at::Tensor got = rms_norm_layer(xk, wk, 1e-6);
    auto got_grads = torch::autograd::grad({got}, {xk, wk}, {dy});
    ASSERT_EQ(got.scalar_type(), at::kBFloat16) << name;
    const at::Tensor gf = got.to(at::kFloat), wf = want.to(at::kFloat);
    // r's last bits may differ (the order of the sum), which can flip the rounding of x * r and then of weight * n:
    // two bf16 ulps at most.
    EXPECT_TRUE(((gf - wf).abs() <= wf.abs() * 2e-2 + 1e-3).all().item<bool>())
        << name << ": max |diff| " << (gf - wf).abs().max().item<float>();
    EXPECT_GT((got == want).to(at::kFloat).mean().item<double>(), 0.98) << name << ": bit-equal share";
    EXPECT_LT(relative_error(got_grads[0], want_grads[0]), 1e-2) << name << ": dx";
    EXPECT_LT(relative_error(got_grads[1], want_grads[1]), 1e-2) << name << ": dweight";
    EXPECT_EQ(got_grads[0].scalar_type(), at::kBFloat16) << name;
    EXPECT_EQ(got_grads[1].scalar_type(), at::kBFloat16) << name;
  }
  // No rows: an empty output, a zero weight gradient.
  at::Tensor none = at::empty({0, 64}, at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA));
  at::Tensor w = at::ones({64}, none.options()).requires_grad_(true);
  at::Tensor y = rms_norm_layer(none, w, 1e-6);
  EXPECT_EQ(y.sizes(), none.sizes());
  auto [dx, dw] = rms_norm_backward(none, w.detach(), none, 1e-6);
  EXPECT_EQ(dx.numel(), 0);
  EXPECT_EQ(dw.abs().sum().item<float>(), 0.f);
}

// The fused RoPE equals the eager formulation bit for bit forward (same roundings) and its gradient closely, on the
// views the model passes: q_pe and k_pe as narrows of wider rows, one decoding position, [B, S] prefixes that do
// not merge (copied first, with and without heads), one row of a wider batch, both layouts.
TEST(GpuRope, MatchesEagerForwardAndGradients) {
  struct Case {
    const char* name;
    std::vector<int64_t> shape;                  // of the tensor x is a view of
    std::function<at::Tensor(at::Tensor)> view;  // x from it
    RopeLayout layout;
  };
  at::manual_seed(13);
  const auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  const auto last = [](int64_t start, int64_t width) {
    return [=](at::Tensor t) { return t.narrow(-1, start, width); };
  };
  for (const Case& c : std::vector<Case>{
           {"q_pe", {2, 5, 3, 48}, last(16, 32), RopeLayout::kInterleaved},
           {"k_pe", {2, 7, 96}, last(64, 32), RopeLayout::kInterleaved},
           {"indexer q", {3, 4, 8, 64}, last(0, 32), RopeLayout::kHalf},
           {"decode", {4, 1, 16, 96}, last(64, 32), RopeLayout::kInterleaved},
           {"rows that do not merge", {2, 9, 40}, [](at::Tensor t) { return t.narrow(1, 2, 6).narrow(2, 0, 32); },
            RopeLayout::kHalf},
           {"heads, rows that do not merge", {2, 9, 3, 40},
            [](at::Tensor t) { return t.narrow(1, 2, 6).narrow(3, 8, 32); }, RopeLayout::kInterleaved},
           {"one row of a wider batch", {2, 9, 40},
            [](at::Tensor t) { return t.narrow(0, 1, 1).narrow(1, 2, 6).narrow(2, 0, 32); }, RopeLayout::kHalf}}) {
    at::Tensor x = c.view((at::randn(c.shape) * 2).to(bf16));
    const int64_t B = x.size(0), S = x.size(1), R = x.size(-1);
    at::Tensor angles = at::rand({B, S, R / 2}, bf16.dtype(at::kFloat)) * 50;
    at::Tensor cos = angles.cos(), sin = angles.sin();
    ASSERT_TRUE(rope_kernel_applies(x, cos, sin)) << c.name;
    at::Tensor dy = at::randn(x.sizes(), bf16.dtype(at::kFloat)).to(at::kBFloat16);
    at::Tensor xe = x.detach().requires_grad_(true), xk = x.detach().requires_grad_(true);
    at::Tensor want = rope_eager(xe, cos, sin, c.layout), got = rope_layer(xk, cos, sin, c.layout);
    EXPECT_TRUE(at::equal(got, want)) << c.name << ": max |diff| "
                                      << (got.to(at::kFloat) - want.to(at::kFloat)).abs().max().item<float>();
    at::Tensor dx_want = torch::autograd::grad({want}, {xe}, {dy})[0];
    at::Tensor dx_got = torch::autograd::grad({got}, {xk}, {dy})[0];
    EXPECT_LT(relative_error(dx_got, dx_want), 1e-2) << c.name;
    EXPECT_GT((dx_got == dx_want).to(at::kFloat).mean().item<double>(), 0.98) << c.name << ": bit-equal share";
    at::Tensor no_grad = rope_layer(x, cos, sin, c.layout);  // the inference path (no autograd)
    EXPECT_TRUE(at::equal(no_grad, want)) << c.name;
  }
  // No heads: not the kernel's; the eager formula returns the empty tensor.
  at::Tensor none = at::empty({2, 3, 0, 32}, bf16), tables = at::zeros({2, 3, 16}, bf16.dtype(at::kFloat));
  EXPECT_FALSE(rope_kernel_applies(none, tables, tables));
  EXPECT_EQ(rope_layer(none, tables, tables, RopeLayout::kHalf).sizes(), none.sizes());
}

// The router's group-limited top-k on the GPU equals the C++ reference exactly (which torch_tests checks against the
// router's ATen formulation), from one token to thousands, at the 286M model's grouping, V3.2's and the kernel's
// limits, with k up to every kept expert; on continuous scores, on tie-heavy ones (three values, no bias: the
// lower-index rule decides), and with NaN and -inf among them (NaN ranks first; no expert is chosen twice).
TEST(GpuRouter, MatchesReferenceExactly) {
  at::manual_seed(14);
  enum class Scores { kContinuous, kTies, kNonFinite };
  for (Scores kind : {Scores::kContinuous, Scores::kTies, Scores::kNonFinite})
    for (auto [tokens, experts, groups, kept, k] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
             {1, 16, 4, 2, 4}, {8192, 16, 4, 2, 4}, {300, 16, 4, 2, 8}, {513, 256, 8, 4, 8}, {64, 1024, 32, 4, 32},
             {65, 1024, 32, 32, 40}, {7, 2, 1, 1, 1}, {9, 2, 1, 1, 2}}) {
      const std::string name = std::to_string(tokens) + " tokens, " + std::to_string(experts) + " experts, k " +
                               std::to_string(k) + ", scores " + std::to_string(static_cast<int>(kind));
      at::Tensor scores = at::sigmoid(at::randn({tokens, experts})), bias = at::randn({experts}) * 0.1;
      if (kind == Scores::kTies) scores = at::randint(0, 3, {tokens, experts}).to(at::kFloat) / 2, bias.zero_();
      if (kind == Scores::kNonFinite) {
        scores.masked_fill_(at::rand({tokens, experts}) < 0.05, NAN);
        scores.masked_fill_(at::rand({tokens, experts}) < 0.3, -INFINITY);
      }
      ASSERT_TRUE(route_kernel_applies(scores.cuda(), experts, groups, kept, k)) << name;
      at::Tensor got = route_topk(scores.cuda(), bias.cuda(), groups, kept, k);
      EXPECT_TRUE(got.is_cuda()) << name;
      EXPECT_TRUE(at::equal(got.cpu(), route_topk(scores, bias, groups, kept, k))) << name;
      EXPECT_TRUE((std::get<0>(got.sort(1)).diff(1, 1) > 0).all().item<bool>()) << name << ": an expert twice";
      if (kind == Scores::kNonFinite) continue;
      // The gate weights from the same kernel equal the reference's bit for bit (same sum order).
      auto [ids, weights] = route_topk_weighted(scores.cuda(), bias.cuda(), groups, kept, k, true, 2.5);
      auto [want_ids, want_weights] = route_topk_weighted(scores, bias, groups, kept, k, true, 2.5);
      EXPECT_TRUE(at::equal(ids.cpu(), want_ids)) << name;
      EXPECT_TRUE(at::equal(weights.cpu(), want_weights)) << name << ": weights";
    }
}

// The slot grouping on the GPU equals the C++ reference exactly (both are the stable order), from one slot to more
// than a chunk of 1024 many times over, with experts that get nothing; past 256 experts the stable-sort path. A
// replay in a CUDA graph gives the same groups.
TEST(GpuMoeDispatch, MatchesReferenceExactly) {
  at::manual_seed(12);
  for (auto [tokens, k, experts] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {0, 4, 16}, {1, 1, 1}, {3, 2, 16}, {64, 4, 16}, {1000, 8, 256}, {8192, 4, 16}, {4096, 8, 300},
           {20000, 6, 64}}) {
    const std::string name = std::to_string(tokens) + " tokens x " + std::to_string(k) + " of " +
                             std::to_string(experts) + " experts";
    // Skewed: half the choices among the first 3 experts, so some groups are large and others empty.
    at::Tensor ids = at::where(at::rand({tokens, k}) < 0.5, at::randint(0, std::min<int64_t>(3, experts), {tokens, k}),
                               at::randint(0, experts, {tokens, k}));
    const SlotGroups want = group_slots(ids, experts);
    const SlotGroups got = group_slots(ids.cuda(), experts);
    EXPECT_TRUE(at::equal(got.order.cpu(), want.order)) << name << ": order";
    EXPECT_TRUE(at::equal(got.rows.cpu(), want.rows)) << name << ": rows";
    EXPECT_TRUE(at::equal(got.ends.cpu(), want.ends)) << name << ": ends";
  }
  at::Tensor ids = at::randint(0, 16, {64, 4}, at::kLong).cuda();
  SlotGroups out;
  at::cuda::CUDAGraph graph;
  {
    const at::cuda::CUDAStreamGuard side(at::cuda::getStreamFromPool());
    group_slots(ids, 16);  // warm-up outside the capture
    graph.capture_begin();
    out = group_slots(ids, 16);
    graph.capture_end();
  }
  ids.copy_(at::randint(0, 16, {64, 4}, at::kLong));
  graph.replay();
  at::cuda::device_synchronize();
  const SlotGroups want = group_slots(ids.cpu(), 16);
  EXPECT_TRUE(at::equal(out.order.cpu(), want.order) && at::equal(out.rows.cpu(), want.rows) &&
              at::equal(out.ends.cpu(), want.ends))
      << "graph replay";
}

// The combine kernel (taken in inference mode) against the ATen formulation it replaces (taken outside it) on the
// same bf16 values, with and without a base: within a bf16 rounding (the k-term sums may add in another order);
// and against the fp32 C++ reference (kernels/moe_combine.h) within bf16's precision of the largest value.
TEST(GpuMoeCombine, MatchesTheAtenFormulation) {
  at::manual_seed(15);
  for (auto [tokens, k, dim] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 2}, {3, 6, 34}, {64, 4, 1024}, {8192, 4, 1024}, {5, 8, 7168}}) {
    const std::string name = std::to_string(tokens) + " tokens x " + std::to_string(k) + ", dim " + std::to_string(dim);
    const SlotGroups g = group_slots(at::randint(0, 16, {tokens, k}, at::kLong).cuda(), 16);
    const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    at::Tensor ys = at::randn({tokens * k, dim}, bf16), base = at::randn({tokens, dim}, bf16);
    at::Tensor w = at::rand({tokens, k}, at::kCUDA) * 2.5;
    for (bool with_base : {false, true}) {
      const at::Tensor b = with_base ? base : at::Tensor();
      at::Tensor want = combine_rows(ys, w, g, b);  // outside inference mode: the ATen formulation
      at::Tensor got;
      {
        c10::InferenceMode inference;
        got = combine_rows(ys, w, g, b);
      }
      ASSERT_EQ(got.scalar_type(), at::kBFloat16) << name;
      EXPECT_TRUE(at::allclose(got.to(at::kFloat), want.to(at::kFloat), 1e-2, 1e-2)) << name << ", base " << with_base;
      const at::Tensor yf = ys.cpu().to(at::kFloat), rows = g.rows.cpu(), wf = w.cpu(), bf = base.cpu().to(at::kFloat);
      at::Tensor ref = at::empty({tokens, dim});
      kernels::moe_combine_reference(yf.data_ptr<float>(), rows.data_ptr<int64_t>(), wf.data_ptr<float>(),
                                     with_base ? bf.data_ptr<float>() : nullptr, ref.data_ptr<float>(), tokens, k, dim);
      // The kernel rounds each weight and product to bf16 (as the ATen formulation does), so its error against fp32
      // scales with the terms, not with the (possibly cancelling) sum: bounded by 1% of the largest value.
      const double err = (got.cpu().to(at::kFloat) - ref).abs().max().item<double>();
      EXPECT_LE(err, 1e-2 * (ref.abs().max().item<double>() + 1)) << name << " vs the fp32 reference";
    }
  }
}

// The fused sampler on the GPU against its C++ reference on the same logits (bf16-valued, so ties are common and
// the tie rules are exercised). Sums are fp32 on the GPU and double in the reference: a nucleus boundary or a draw
// within rounding of its threshold may fall the other way, so a row or two of 64 may differ.
TEST(GpuSampling, MatchesReference) {
  at::manual_seed(9);
  const int64_t B = 64, V = 129280;
  at::Tensor logits = (at::randn({B, V}) * 2).to(at::kBFloat16).to(at::kFloat);
  logits[5].fill_(-INFINITY);  // nothing to keep
  at::Tensor u = at::rand({B}, at::kDouble);
  for (auto [t, k, p, limit] : std::vector<std::tuple<double, int64_t, double, int64_t>>{
           {1.0, 0, 1.0, 0}, {0.7, 50, 1.0, 0}, {1.0, 0, 0.95, 0}, {1.0, 20, 0.9, 100000}, {0.0, 0, 1.0, 129000}}) {
    const std::string what = "temperature " + std::to_string(t) + ", top_k " + std::to_string(k) + ", top_p " +
                             std::to_string(p) + ", limit " + std::to_string(limit);
    SampledBits want = sample_fused(logits, u, t, k, p, limit);
    SampledBits got = sample_fused(logits.cuda(), u, t, k, p, limit);
    at::Tensor same_kept = (got.kept_bits.cpu() == want.kept_bits).all(1);
    at::Tensor same_token = got.tokens.cpu() == want.tokens;
    EXPECT_GE(same_kept.sum().item<int64_t>(), B - 2) << what << ": kept sets";
    EXPECT_GE(same_token.sum().item<int64_t>(), B - 2) << what << ": tokens";
    at::Tensor both = same_kept & same_token;
    at::Tensor lp_got = got.logprobs.cpu().masked_select(both), lp_want = want.logprobs.masked_select(both);
    EXPECT_TRUE(at::allclose(lp_got.nan_to_num(0, -1e30), lp_want.nan_to_num(0, -1e30), 1e-4, 1e-4)) << what;
    EXPECT_EQ(got.kept_bits[5].sum().item<int64_t>(), t == 0 ? 1 : 0) << what << ": the all -inf row";
    EXPECT_TRUE((got.tokens.cpu() >= 0).all().item<bool>() && (got.tokens.cpu() < V).all().item<bool>()) << what;
  }
}

}  // namespace
}  // namespace dsrl
