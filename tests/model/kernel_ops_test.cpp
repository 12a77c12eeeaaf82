#include "model/kernel_ops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
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

}  // namespace
}  // namespace dsrl
