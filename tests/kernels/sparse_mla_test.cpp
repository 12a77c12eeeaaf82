#include "kernels/sparse_mla.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dsrl::kernels {
namespace {

TEST(SparseMlaReference, MatchesHandComputedValues) {
  // One query, one head, d_qk 2, d_v 1; rows 0 and 2 selected, row 1 not, -1 and 7 select nothing.
  const std::vector<float> q = {1, 2};
  const std::vector<float> kv = {1, 0, 5, 5, 0, 1};  // rows [1, 0], [5, 5], [0, 1]
  const std::vector<int32_t> idx = {0, -1, 2, 7};
  std::vector<float> out(1), lse(1);
  SparseMlaShape shape{1, 1, 3, 2, 1, 4};
  sparse_mla_forward_reference(q.data(), kv.data(), idx.data(), out.data(), lse.data(), shape, 0.5f);
  // Scaled scores 0.5 (row 0) and 1.0 (row 2); values 1 and 0.
  const double e0 = std::exp(0.5), e2 = std::exp(1.0);
  EXPECT_NEAR(out[0], e0 / (e0 + e2), 1e-6);
  EXPECT_NEAR(lse[0], std::log(e0 + e2), 1e-6);
}

TEST(SparseMlaReference, NothingSelectedGivesZerosAndMinusInfinity) {
  const std::vector<float> q = {1, 1, 2, 2}, kv = {3, 4};
  const std::vector<int32_t> idx = {-1, 1, -5};  // row 1 is past the single row
  std::vector<float> out(4, 9.f), lse(2);
  SparseMlaShape shape{1, 2, 1, 2, 2, 3};
  sparse_mla_forward_reference(q.data(), kv.data(), idx.data(), out.data(), lse.data(), shape, 1.0f);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  EXPECT_TRUE(std::isinf(lse[0]) && lse[0] < 0);
  EXPECT_TRUE(std::isinf(lse[1]) && lse[1] < 0);
}

// sum(out * dout) of the forward reference, in double, for the finite differences below.
double weighted_output(const std::vector<float>& q, const std::vector<float>& kv, const std::vector<int32_t>& idx,
                       const std::vector<float>& dout, const SparseMlaShape& shape, float scale) {
  std::vector<float> out(dout.size()), lse(static_cast<size_t>(shape.s_q * shape.heads));
  sparse_mla_forward_reference(q.data(), kv.data(), idx.data(), out.data(), lse.data(), shape, scale);
  double sum = 0;
  for (size_t i = 0; i < out.size(); ++i) sum += static_cast<double>(out[i]) * dout[i];
  return sum;
}

TEST(SparseMlaReference, BackwardMatchesFiniteDifferencesOfTheForward) {
  // 3 queries x 2 heads, d_qk 6, d_v 4, 5 rows, 4 slots: a repeated row, -1, a row past the end, and a query (the
  // last) that selects nothing.
  const SparseMlaShape shape{3, 2, 5, 6, 4, 4};
  const std::vector<int32_t> idx = {0, 3, 3, -1, 4, 1, 9, 2, -1, -1, -1, -1};
  uint32_t state = 12345;
  auto uniform = [&state] {  // deterministic values in [-1, 1)
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1 << 23) - 1.0f;
  };
  std::vector<float> q(3 * 2 * 6), kv(5 * 6), dout(3 * 2 * 4);
  for (std::vector<float>* v : {&q, &kv, &dout})
    for (float& x : *v) x = uniform();
  const float scale = 0.7f;
  std::vector<float> out(dout.size()), lse(6), dq(q.size()), dkv(kv.size(), 99.f);
  sparse_mla_forward_reference(q.data(), kv.data(), idx.data(), out.data(), lse.data(), shape, scale);
  sparse_mla_backward_reference(q.data(), kv.data(), idx.data(), out.data(), dout.data(), lse.data(), dq.data(),
                                dkv.data(), shape, scale);
  const float eps = 1e-2f;
  auto check = [&](std::vector<float>& x, const std::vector<float>& grad, const char* name) {
    for (size_t i = 0; i < x.size(); ++i) {
      const float saved = x[i];
      x[i] = saved + eps;
      const double up = weighted_output(q, kv, idx, dout, shape, scale);
      x[i] = saved - eps;
      const double down = weighted_output(q, kv, idx, dout, shape, scale);
      x[i] = saved;
      EXPECT_NEAR(grad[i], (up - down) / (2 * eps), 2e-3) << name << "[" << i << "]";
    }
  };
  check(q, dq, "dq");
  check(kv, dkv, "dkv");
  for (int c = 0; c < 12; ++c) EXPECT_EQ(dq[4 * 6 + c], 0.0f) << "the query that selects nothing has no gradient";
  for (int c = 0; c < 6; ++c) EXPECT_NE(dkv[3 * 6 + c], 99.f) << "dkv is overwritten";
}

TEST(SparseMlaReference, CudaSupportIsNamedByShape) {
  EXPECT_TRUE(sparse_mla_cuda_supports(128, 576, 512));
  EXPECT_TRUE(sparse_mla_cuda_supports(16, 288, 256));
  EXPECT_FALSE(sparse_mla_cuda_supports(8, 576, 512));
  EXPECT_FALSE(sparse_mla_cuda_supports(128, 192, 128));
}

}  // namespace
}  // namespace dsrl::kernels
