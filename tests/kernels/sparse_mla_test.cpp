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

TEST(SparseMlaReference, CudaSupportIsNamedByShape) {
  EXPECT_TRUE(sparse_mla_cuda_supports(128, 576, 512));
  EXPECT_TRUE(sparse_mla_cuda_supports(16, 288, 256));
  EXPECT_FALSE(sparse_mla_cuda_supports(8, 576, 512));
  EXPECT_FALSE(sparse_mla_cuda_supports(128, 192, 128));
}

}  // namespace
}  // namespace dsrl::kernels
