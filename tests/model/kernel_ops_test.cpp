#include "model/kernel_ops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "model/moe_ops.h"
#include "kernels/rope.h"
#include "model/moe.h"
#include "model/norm_ops.h"
#include "model/rope_ops.h"
#include "model/router_ops.h"
#include "model/sampling.h"
#include "tests/common/error_of.h"
#include "tests/model/sparse_mla_eager.h"

namespace dsrl {
namespace {

TEST(RmsNormOp, MatchesAtenFormulaOnCpu) {
  at::manual_seed(0);
  at::Tensor x = at::randn({2, 3, 16});
  at::Tensor w = at::rand({16}) + 0.5;
  at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * w;
  at::Tensor y = rms_norm(x, w, 1e-6);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-6)) << (y - expected).abs().max().item<float>();
}

TEST(RmsNormOp, NonContiguousInput) {
  at::Tensor x = at::randn({8, 4}).t();  // [4, 8], strided
  at::Tensor w = at::ones({8});
  at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6);
  EXPECT_TRUE(at::allclose(rms_norm(x, w, 1e-6), expected, 1e-5, 1e-6));
}

TEST(RmsNormOp, RejectsBadInputsWithClearErrors) {
  std::string msg = testing::error_of([] { rms_norm(at::ones({2, 4}, at::kDouble), at::ones({4}, at::kDouble), 1e-6); });
  EXPECT_NE(msg.find("expected fp32 x and weight, got Double and Double"), std::string::npos) << msg;
  msg = testing::error_of([] { rms_norm(at::ones({2, 4}), at::ones({5}), 1e-6); });
  EXPECT_NE(msg.find("weight must be [4], got [5]"), std::string::npos) << msg;
}

// The fused layer's op on the CPU (the C++ references) against autograd through the ATen formula: the output and
// both gradients, for a strided x.
TEST(RmsNormLayerOp, ReferenceGradientsMatchEagerAutograd) {
  at::manual_seed(3);
  at::Tensor x = at::randn({6, 2, 24}).transpose(0, 1).requires_grad_(true);  // [2, 6, 24], not contiguous
  at::Tensor w = (at::rand({24}) + 0.5).requires_grad_(true);
  at::Tensor dy = at::randn({2, 6, 24});
  at::Tensor want = rms_norm_eager(x, w, 1e-5);
  auto want_grads = torch::autograd::grad({want}, {x, w}, {dy});
  at::Tensor got = rms_norm_fused(x, w, 1e-5);
  auto got_grads = torch::autograd::grad({got}, {x, w}, {dy});
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6)) << (got - want).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(got_grads[0], want_grads[0], 1e-4, 1e-5))
      << "dx: " << (got_grads[0] - want_grads[0]).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(got_grads[1], want_grads[1], 1e-4, 1e-5))
      << "dweight: " << (got_grads[1] - want_grads[1]).abs().max().item<float>();
  EXPECT_GT(want_grads[1].abs().sum().item<float>(), 0.f);
}

TEST(RmsNormLayerOp, RefusesMismatchedTensorsClearly) {
  const at::Tensor x = at::randn({3, 8}), w = at::ones({8});
  std::string msg = testing::error_of([&] { rms_norm_backward(x, w, at::randn({3, 7}), 1e-6); });
  EXPECT_NE(msg.find("rms_norm_backward: dy must match x ([3, 8] Float on cpu), got [3, 7] Float on cpu"),
            std::string::npos) << msg;
  msg = testing::error_of([&] { rms_norm_fused(x.to(at::kBFloat16), w.to(at::kBFloat16), 1e-6); });
  EXPECT_NE(msg.find("rms_norm_fused: expected bf16 CUDA tensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got x BFloat16 on cpu"), std::string::npos) << msg;
  msg = testing::error_of([&] { rms_norm_fused(x, at::ones({9}), 1e-6); });
  EXPECT_NE(msg.find("with D >= 1, got [3, 8] and [9]"), std::string::npos) << msg;
  msg = testing::error_of([&] { rms_norm_fused(at::ones({3, 0}), at::ones({0}), 1e-6); });
  EXPECT_NE(msg.find("with D >= 1, got [3, 0] and [0]"), std::string::npos) << msg;
  // The layer keeps the ATen formula where the kernels do not apply, such as bf16 on the CPU.
  EXPECT_FALSE(rms_norm_kernel_applies(x.to(at::kBFloat16), w.to(at::kBFloat16)));
}

// The eager RoPE (the fused op's definition) equals the C++ reference in fp32, both layouts, with and without heads;
// without a CUDA kernel, rope_layer is the eager formula.
TEST(RopeOp, EagerMatchesTheReferenceOnCpu) {
  at::manual_seed(5);
  const int64_t B = 2, S = 3, H = 4, R = 8;
  at::Tensor angles = at::rand({B, S, R / 2}) * 6;
  at::Tensor cos = angles.cos(), sin = angles.sin();
  for (bool heads : {true, false})
    for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalf}) {
      at::Tensor x = heads ? at::randn({B, S, H, R}) : at::randn({B, S, R});
      at::Tensor want = at::empty_like(x);
      kernels::rope_reference(x.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                              want.data_ptr<float>(), B * S, heads ? H : 1, R, layout == RopeLayout::kInterleaved,
                              false);
      EXPECT_TRUE(at::allclose(rope_eager(x, cos, sin, layout), want, 1e-5, 1e-5)) << heads;
      EXPECT_TRUE(at::equal(rope_layer(x, cos, sin, layout), rope_eager(x, cos, sin, layout)));
      EXPECT_FALSE(rope_kernel_applies(x, cos, sin));
    }
}

// The router's fused choice (on its C++ reference here) equals RouterImpl's ATen formulation, at the 286M model's
// grouping and at V3.2's; bad groupings and shapes are refused with the numbers in the message.
TEST(RouterOp, ReferenceMatchesTheRoutersAtenChoice) {
  at::manual_seed(6);
  for (auto [experts, groups, kept, k] : std::vector<std::tuple<int, int, int, int>>{{16, 4, 2, 4}, {256, 8, 4, 8}}) {
    ModelConfig c;
    c.hidden_size = 32;
    c.n_routed_experts = experts, c.n_group = groups, c.topk_group = kept, c.num_experts_per_tok = k;
    Router router(c);
    router->weight.set_data(at::randn({experts, 32}));
    router->e_score_correction_bias.copy_(at::randn({experts}) * 0.1);
    const at::Tensor x = at::randn({300, 32});
    const Routing eager = router->forward(x, at::Tensor());  // CPU: the ATen formulation
    const at::Tensor scores = at::sigmoid(at::linear(x, router->weight));
    EXPECT_TRUE(at::equal(route_topk(scores, router->e_score_correction_bias, groups, kept, k), eager.ids))
        << experts << " experts";
    // With the gate weights (what the router takes on the GPU without a gradient): the same ids, and the weights
    // of the ATen formulation up to the order of the k-term sum.
    auto [ids, weights] = route_topk_weighted(scores, router->e_score_correction_bias, groups, kept, k,
                                              c.norm_topk_prob, c.routed_scaling_factor);
    EXPECT_TRUE(at::equal(ids, eager.ids)) << experts << " experts";
    EXPECT_TRUE(at::allclose(weights, eager.weights, 1e-6, 1e-6)) << experts << " experts";
  }
  const at::Tensor scores = at::rand({3, 16});
  std::string msg = testing::error_of([&] { route_topk(scores, at::zeros({15}), 4, 2, 4); });
  EXPECT_NE(msg.find("expected scores [N, E] and bias [E]"), std::string::npos) << msg;
  msg = testing::error_of([&] { route_topk(scores, at::zeros({16}), 4, 2, 9); });
  EXPECT_NE(msg.find("16 experts in 4 groups, 2 groups kept, k 9"), std::string::npos) << msg;
  msg = testing::error_of([&] { route_topk_weighted(scores, at::zeros({16}), 4, 2, -1, true, 1.0); });
  EXPECT_NE(msg.find("16 experts in 4 groups, 2 groups kept, k -1"), std::string::npos) << msg;
}

TEST(MoeOps, GroupSlotsIsAStableSortByExpert) {
  at::manual_seed(5);
  at::Tensor ids = at::randint(0, 6, {40, 3}, at::kLong);
  const SlotGroups g = group_slots(ids, 7);  // expert 6 gets nothing
  at::Tensor want_order = ids.flatten().argsort(/*stable=*/true);
  EXPECT_TRUE(at::equal(g.order, want_order));
  EXPECT_TRUE(at::equal(g.rows.index_select(0, g.order), at::arange(120, at::kLong)));
  at::Tensor counts = at::bincount(ids.flatten(), {}, 7);
  EXPECT_TRUE(at::equal(g.ends, counts.cumsum(0).to(at::kInt)));
  const std::string msg = testing::error_of([] { group_slots(at::tensor({0, 3, 1, 9}, at::kLong).view({2, 2}), 4); });
  EXPECT_NE(msg.find("group_slots: slot 3 (token 1, choice 1) names expert 9, outside [0, 4)"), std::string::npos)
      << msg;
}

// The gather-only row moves against the scatter formulation they replaced (index_select to the groups, index_add_
// back): outputs and the gradients of x, the expert outputs and the weights.
TEST(MoeOps, RowMovesMatchTheScatterFormulation) {
  at::manual_seed(6);
  const int64_t N = 9, k = 3, D = 5, E = 4;
  at::Tensor ids = at::randint(0, E, {N, k}, at::kLong);
  at::Tensor x = at::randn({N, D}, at::kDouble).requires_grad_(true);
  at::Tensor w = at::rand({N, k}, at::kDouble).requires_grad_(true);
  at::Tensor scale = at::randn({N * k, D}, at::kDouble);  // stands in for the experts: ys = xs * scale
  at::Tensor dout = at::randn({N, D}, at::kDouble);
  const SlotGroups g = group_slots(ids, E);
  at::Tensor got = combine_rows(dispatch_rows(x, g, k) * scale, w, g);
  auto got_grads = torch::autograd::grad({got}, {x, w}, {dout});
  at::Tensor tokens = g.order.div(k, "floor");
  at::Tensor ys = x.index_select(0, tokens) * scale;
  at::Tensor want = at::zeros_like(x).index_add_(0, tokens, ys * w.flatten().index_select(0, g.order).unsqueeze(1));
  auto want_grads = torch::autograd::grad({want}, {x, w}, {dout});
  EXPECT_TRUE(at::allclose(got, want, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(got_grads[0], want_grads[0], 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(got_grads[1], want_grads[1], 1e-12, 1e-12));
  // With a base (the shared experts' output): added, and its gradient is dout.
  at::Tensor base = at::randn({N, D}, at::kDouble).requires_grad_(true);
  at::Tensor on_base = combine_rows(dispatch_rows(x, g, k) * scale, w, g, base);
  EXPECT_TRUE(at::allclose(on_base, want + base, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(torch::autograd::grad({on_base}, {base}, {dout})[0], dout));
  std::string msg = testing::error_of([&] { combine_rows(ys, w.narrow(0, 0, 4), g); });
  EXPECT_NE(msg.find("combine_rows: expected ys [N * k, D] and weights [N, k] over 27 slots, got [27, 5] and [4, 3]"),
            std::string::npos) << msg;
  msg = testing::error_of([&] { combine_rows(ys, w, g, at::zeros({N, D + 1}, at::kDouble)); });
  EXPECT_NE(msg.find("combine_rows: expected base [9, 5], got [9, 6]"), std::string::npos) << msg;
}

// Random indices over [-1, n_kv] (so some select nothing and one is past the end), with repeats.
at::Tensor random_selection(int64_t queries, int64_t topk, int64_t n_kv) {
  return at::randint(-1, n_kv + 1, {queries, topk}, at::kInt);
}

TEST(SparseMlaOp, ReferenceMatchesEagerAtenOnCpu) {
  at::manual_seed(1);
  const int64_t N = 5, H = 3, D = 40, dv = 24, T = 70, K = 33;
  at::Tensor q = at::randn({N, H, D}), kv = at::randn({T, D});
  at::Tensor idx = random_selection(N, K, T);
  idx[2].fill_(-1);  // a query that selects nothing
  auto [out, lse] = sparse_mla_forward(q, kv, idx, dv, 0.2);
  auto [want, want_lse] = testing::sparse_mla_eager(q, kv, idx, dv, 0.2);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{N, H, dv}));
  EXPECT_TRUE(at::allclose(out, want, 1e-5, 1e-5)) << (out - want).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(lse.narrow(0, 0, 2), want_lse.narrow(0, 0, 2), 1e-5, 1e-5));
  EXPECT_TRUE(at::isinf(lse[2]).all().item<bool>());
  EXPECT_EQ(out[2].abs().max().item<float>(), 0.0f);
}

TEST(SparseMlaOp, Int64IndicesAndBf16InputsGiveTheSameAnswer) {
  at::manual_seed(2);
  at::Tensor q = at::randn({4, 2, 16}), kv = at::randn({30, 16}), idx = random_selection(4, 9, 30);
  auto [a, lse_a] = sparse_mla_forward(q, kv, idx, 8, 0.25);
  auto [b, lse_b] = sparse_mla_forward(q, kv, idx.to(at::kLong), 8, 0.25);
  EXPECT_TRUE(at::equal(a, b));
  // int64 rows past int32 select nothing (they must not wrap onto a real row).
  at::Tensor wide = idx.to(at::kLong);
  wide.select(1, 0).fill_((int64_t{1} << 32) + 3);
  at::Tensor none = idx.clone();
  none.select(1, 0).fill_(-1);
  EXPECT_TRUE(at::equal(sparse_mla_forward(q, kv, wide, 8, 0.25).first, sparse_mla_forward(q, kv, none, 8, 0.25).first));
  auto [c, lse_c] = sparse_mla_forward(q.to(at::kBFloat16), kv.to(at::kBFloat16), idx, 8, 0.25);
  EXPECT_EQ(c.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::allclose(c.to(at::kFloat), a, 5e-2, 5e-2));
}

TEST(SparseMlaOp, RejectsBadInputsWithClearErrors) {
  at::Tensor q = at::randn({4, 2, 16}), kv = at::randn({30, 16}), idx = at::zeros({4, 3}, at::kInt);
  std::string msg = testing::error_of([&] { sparse_mla_forward(q, at::randn({30, 12}), idx, 8, 1.0); });
  EXPECT_NE(msg.find("kv rows have 12 channels but q has 16"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_forward(q, kv, at::zeros({3, 3}, at::kInt), 8, 1.0); });
  EXPECT_NE(msg.find("3 index rows for 4 queries"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_forward(q, kv, idx.to(at::kFloat), 8, 1.0); });
  EXPECT_NE(msg.find("indices must be int32 or int64, got Float"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_forward(q, kv, idx, 17, 1.0); });
  EXPECT_NE(msg.find("d_v must be in [1, 16], got 17"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_forward(q.view({8, 16}), kv, idx, 8, 1.0); });
  EXPECT_NE(msg.find("expected q [N, H, d_qk]"), std::string::npos) << msg;
}

TEST(SparseMlaOp, BackwardMatchesEagerAutogradOnCpu) {
  at::manual_seed(3);
  const int64_t N = 4, H = 3, D = 24, dv = 16, T = 40, K = 21;
  at::Tensor idx = random_selection(N, K, T);
  idx[1].fill_(-1);  // a query that selects nothing
  at::Tensor q = at::randn({N, H, D}).requires_grad_(), kv = at::randn({T, D}).requires_grad_();
  at::Tensor dout = at::randn({N, H, dv});
  testing::sparse_mla_eager(q, kv, idx, dv, 0.3).first.backward(dout);
  at::Tensor want_dq = q.grad().clone(), want_dkv = kv.grad().clone();
  q.mutable_grad().reset();
  kv.mutable_grad().reset();
  sparse_mla_attention(q, kv, idx, dv, 0.3).backward(dout);
  EXPECT_TRUE(at::allclose(q.grad(), want_dq, 1e-4, 1e-5)) << (q.grad() - want_dq).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(kv.grad(), want_dkv, 1e-4, 1e-5)) << (kv.grad() - want_dkv).abs().max().item<float>();
  EXPECT_EQ(q.grad()[1].abs().max().item<float>(), 0.0f);
  EXPECT_GT(want_dkv.abs().sum().item<float>(), 0.0f);
}

TEST(SparseMlaOp, BackwardRejectsMismatchedSavedTensors) {
  at::Tensor q = at::randn({4, 2, 16}), kv = at::randn({30, 16}), idx = at::zeros({4, 3}, at::kInt);
  auto [out, lse] = sparse_mla_forward(q, kv, idx, 8, 1.0);
  std::string msg = testing::error_of([&] { sparse_mla_backward(q, kv, idx, out, lse, at::ones({4, 2, 7}), 8, 1.0); });
  EXPECT_NE(msg.find("out and dout must be [4, 2, 8], got [4, 2, 8] and [4, 2, 7]"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_backward(q, kv, idx, out, lse.to(at::kDouble), out, 8, 1.0); });
  EXPECT_NE(msg.find("lse must be fp32 [4, 2], got Double [4, 2]"), std::string::npos) << msg;
  msg = testing::error_of([&] { sparse_mla_backward(q, kv, idx.narrow(0, 0, 2), out, lse, out, 8, 1.0); });
  EXPECT_NE(msg.find("sparse_mla_backward: 2 index rows for 4 queries"), std::string::npos) << msg;
}

// The model's indexer formula (IndexerImpl::scores) on explicit tensors.
at::Tensor eager_indexer_logits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w,
                                const at::Tensor& key_end) {
  at::Tensor dots = at::relu(at::einsum("bshd,btd->bsht", {q, k}));
  at::Tensor logits = at::einsum("bsht,bsh->bst", {dots, w});
  at::Tensor visible = at::arange(k.size(1)).view({1, 1, -1}) < key_end.unsqueeze(-1);
  return logits.masked_fill(visible.logical_not(), -INFINITY);
}

TEST(IndexerOp, LogitsReferenceMatchesTheModelFormulaOnCpu) {
  at::manual_seed(3);
  at::Tensor q = at::randn({2, 5, 3, 8}), k = at::randn({2, 9, 8}), w = at::rand({2, 5, 3});
  // 12 and 2^33 are past the 9 keys (2^33 would wrap if narrowed to int32 unclamped)
  at::Tensor ends = at::tensor(std::vector<int64_t>{1, 4, 9, 0, 12, 3, 3, 5, 7, int64_t{1} << 33}).view({2, 5});
  at::Tensor got = indexer_logits(q, k, w, ends);
  at::Tensor want = eager_indexer_logits(q, k, w, ends.clamp_max(9));
  EXPECT_TRUE(at::equal(at::isinf(got), at::isinf(want)));
  EXPECT_TRUE(at::allclose(got.nan_to_num(0, 0, 0), want.nan_to_num(0, 0, 0), 1e-5, 1e-5));
  EXPECT_TRUE(at::isinf(got[0][3]).all().item<bool>()) << "key_end 0 sees nothing";
}

// FP8 operands (e4m3 q and k, a scale per key) give the logits of their dequantised values.
TEST(IndexerOp, Fp8OperandsGiveTheLogitsOfTheirDequantisedValues) {
  at::manual_seed(13);
  at::Tensor q8 = (at::randn({2, 5, 3, 8}) * 20).to(at::kFloat8_e4m3fn);
  at::Tensor k8 = (at::randn({2, 9, 8}) * 20).to(at::kFloat8_e4m3fn);
  at::Tensor k_scale = at::exp2(at::randint(-8, 2, {2, 9})).to(at::kFloat), w = at::randn({2, 5, 3});
  at::Tensor ends = at::tensor(std::vector<int32_t>{1, 4, 9, 0, 12, 3, 3, 5, 7, 9}).view({2, 5});
  at::Tensor got = indexer_logits(q8, k8, w, ends, k_scale);
  at::Tensor want = eager_indexer_logits(q8.to(at::kFloat), k8.to(at::kFloat) * k_scale.unsqueeze(-1), w,
                                         ends.clamp_max(9));
  EXPECT_TRUE(at::equal(at::isinf(got), at::isinf(want)));
  EXPECT_TRUE(at::allclose(got.nan_to_num(0, 0, 0), want.nan_to_num(0, 0, 0), 1e-4, 1e-4));
  std::string msg = testing::error_of([&] { indexer_logits(q8, k8, w, ends); });
  EXPECT_NE(msg.find("FP8 takes e4m3 q and k with k_scale"), std::string::npos) << msg;
  msg = testing::error_of([&] { indexer_logits(q8, k8, w, ends, k_scale.narrow(1, 0, 8)); });
  EXPECT_NE(msg.find("k_scale must be fp32 [2, 9], got Float [2, 8]"), std::string::npos) << msg;
  msg = testing::error_of([&] { indexer_logits(q8.to(at::kFloat), k8.to(at::kFloat), w, ends, k_scale); });
  EXPECT_NE(msg.find("other dtypes neither; got Float q, Float k and a k_scale"), std::string::npos) << msg;
}

TEST(IndexerOp, TopkPositionsAgreeWithAtenTopkAsSets) {
  at::manual_seed(4);
  at::Tensor x = at::randn({6, 50});
  x[1].narrow(0, 10, 45 - 10).fill_(-INFINITY);  // only 15 present: 5 slots of -1 with k = 20
  at::Tensor got = topk_positions(x, 20);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{6, 20}));
  for (int64_t r = 0; r < 6; ++r) {
    at::Tensor row = got[r];
    at::Tensor chosen = row.masked_select(row >= 0).to(at::kLong);
    EXPECT_TRUE(at::equal(chosen, std::get<0>(chosen.sort()))) << "ascending positions";
    const int64_t present = at::isfinite(x[r]).sum().item<int64_t>();
    ASSERT_EQ(chosen.numel(), std::min<int64_t>(20, present));
    at::Tensor want = std::get<1>(x[r].topk(chosen.numel()));
    EXPECT_TRUE(at::equal(chosen, std::get<0>(want.sort())));
  }
  EXPECT_EQ((got[1] < 0).sum().item<int64_t>(), 5);
}

TEST(IndexerOp, RejectsBadInputsWithClearErrors) {
  at::Tensor q = at::randn({2, 5, 3, 8}), k = at::randn({2, 9, 8}), w = at::rand({2, 5, 3});
  at::Tensor ends = at::ones({2, 5}, at::kInt);
  std::string msg = testing::error_of([&] { indexer_logits(q, at::randn({2, 9, 7}), w, ends); });
  EXPECT_NE(msg.find("k must be [2, T, 8], got [2, 9, 7]"), std::string::npos) << msg;
  msg = testing::error_of([&] { indexer_logits(q, k, at::rand({2, 5, 4}), ends); });
  EXPECT_NE(msg.find("w must be [2, 5, 3], got [2, 5, 4]"), std::string::npos) << msg;
  msg = testing::error_of([&] { indexer_logits(q, k, w, ends.to(at::kFloat)); });
  EXPECT_NE(msg.find("key_end must be int32 or int64, got Float"), std::string::npos) << msg;
  msg = testing::error_of([&] { topk_positions(at::randn({3, 4}, at::kDouble), 2); });
  EXPECT_NE(msg.find("expected fp32 logits"), std::string::npos) << msg;
  msg = testing::error_of([&] { indexer_topk(q, k, w, ends, 4); });
  EXPECT_NE(msg.find("runs on CUDA tensors only"), std::string::npos) << msg;
}

// The indexer's scores over selected keys: the C++ references (through the autograd op) against eager autograd.
TEST(IndexerSelectedOp, ReferenceMatchesEagerAutogradOnCpu) {
  at::manual_seed(8);
  const int64_t N = 5, H = 3, D = 16, T = 30, K = 12;
  at::Tensor sel = random_selection(N, K, T);
  sel[2].fill_(-1);  // a query that selects nothing
  at::Tensor dscores = at::randn({N, K});
  auto leaves = [] {
    return std::vector<at::Tensor>{at::randn({N, H, D}).requires_grad_(), at::rand({N, H}).requires_grad_(),
                                   at::randn({T, D}).requires_grad_()};
  };
  at::manual_seed(9);
  std::vector<at::Tensor> eager = leaves();
  at::manual_seed(9);
  std::vector<at::Tensor> ours = leaves();
  at::Tensor want = testing::indexer_selected_eager(eager[0], eager[1], eager[2], sel);
  at::Tensor got = indexer_selected_scores(ours[0], ours[1], ours[2], sel);
  ASSERT_TRUE(at::equal(at::isinf(got), at::isinf(want)));
  at::Tensor finite = at::isfinite(want);
  EXPECT_TRUE(at::allclose(got.masked_select(finite), want.masked_select(finite), 1e-4, 1e-5));
  EXPECT_TRUE(at::isinf(got[2]).all().item<bool>());
  // Finite gradients only: the eager masked_fill passes none to the -inf entries, and neither may the op.
  want.backward(dscores);
  got.backward(dscores);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::allclose(ours[i].grad(), eager[i].grad(), 1e-4, 1e-5))
        << "input " << i << ": " << (ours[i].grad() - eager[i].grad()).abs().max().item<float>();
    EXPECT_GT(eager[i].grad().abs().sum().item<float>(), 0.0f) << "input " << i;
  }
  EXPECT_EQ(ours[0].grad()[2].abs().max().item<float>(), 0.0f) << "nothing selected: no gradient";
}

TEST(IndexerSelectedOp, RejectsBadInputsWithClearErrors) {
  at::Tensor q = at::randn({4, 2, 8}), w = at::rand({4, 2}), keys = at::randn({9, 8});
  at::Tensor sel = at::zeros({4, 3}, at::kInt);
  std::string msg = testing::error_of([&] { selected_scores_forward(q, w, at::randn({9, 7}), sel); });
  EXPECT_NE(msg.find("keys have 7 channels but q has 8"), std::string::npos) << msg;
  msg = testing::error_of([&] { selected_scores_forward(q, at::rand({4, 3}), keys, sel); });
  EXPECT_NE(msg.find("w [4, 3] and sel [4, 3] must match q's 4 queries x 2 heads"), std::string::npos) << msg;
  msg = testing::error_of([&] { selected_scores_forward(q, w.to(at::kDouble), keys, sel); });
  EXPECT_NE(msg.find("w must be fp32, got Double"), std::string::npos) << msg;
  msg = testing::error_of([&] { selected_scores_forward(q, w, keys, sel.to(at::kFloat)); });
  EXPECT_NE(msg.find("sel must be int32 or int64, got Float"), std::string::npos) << msg;
  msg = testing::error_of([&] { selected_scores_backward(q, w, keys, sel, at::ones({4, 2})); });
  EXPECT_NE(msg.find("dscores must be [4, 3], got [4, 2]"), std::string::npos) << msg;
}

// The fused sampler's reference (CPU) against model/sampling.h on tie-free logits: same tokens, kept sets and
// log-probs for each combination of the truncations.
TEST(SampleFused, ReferenceAgreesWithModelSampling) {
  at::manual_seed(8);
  const int64_t B = 16, V = 300;
  at::Tensor logits = at::randn({B, V}) * 3;
  at::Tensor u = at::rand({B}, at::kDouble);
  for (auto [t, k, p, limit] : std::vector<std::tuple<double, int64_t, double, int64_t>>{
           {1.0, 0, 1.0, 0}, {0.7, 20, 1.0, 0}, {1.0, 0, 0.9, 0}, {1.3, 40, 0.8, 250}, {0.0, 0, 1.0, 200}}) {
    SamplingParams params;
    params.temperature = t, params.top_k = k, params.top_p = p, params.vocab_limit = limit;
    Sampled want = sample_tokens(logits, params, u);
    SampledBits got = sample_fused(logits, u, t, k, p, limit);
    const std::string what = "temperature " + std::to_string(t) + ", top_k " + std::to_string(k) + ", top_p " +
                             std::to_string(p) + ", limit " + std::to_string(limit);
    EXPECT_TRUE(at::equal(got.tokens, want.tokens)) << what;
    EXPECT_TRUE(at::equal(unpack_kept_bits(got.kept_bits, V), want.kept)) << what;
    EXPECT_TRUE(at::allclose(got.logprobs, want.logprobs.to(at::kFloat), 1e-4, 1e-5)) << what;
  }
}

TEST(SampleFused, RejectsBadParametersClearly) {
  at::Tensor logits = at::randn({2, 10}), u = at::rand({2}, at::kDouble);
  std::string msg = testing::error_of([&] { sample_fused(logits, u, 1.0, 0, 1.5, 0); });
  EXPECT_NE(msg.find("top_p must be in [0, 1], got 1.5"), std::string::npos) << msg;
  msg = testing::error_of([&] { sample_fused(logits, at::rand({3}, at::kDouble), 1.0, 0, 1.0, 0); });
  EXPECT_NE(msg.find("one uniform per row: expected [2], got [3]"), std::string::npos) << msg;
  msg = testing::error_of([&] { sample_fused(logits, u, -1.0, 0, 1.0, 0); });
  EXPECT_NE(msg.find("temperature must be >= 0, got -1"), std::string::npos) << msg;
  msg = testing::error_of([&] { sample_fused(logits, u, 1.0, 0, 1.0, 11); });
  EXPECT_NE(msg.find("vocab_limit must be in [0, 10]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace dsrl
