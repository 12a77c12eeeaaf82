#include "kernels/moe_combine.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsrl::kernels {
namespace {

// 2 tokens x 2 choices, dim 2: out[t] = base[t] + sum_j w[t, j] * ys[rows[t * 2 + j]].
TEST(MoeCombineReference, SumsEachTokensWeightedRowsOntoTheBase) {
  const std::vector<float> ys = {1, 2, 3, 4, 5, 6, 7, 8};  // 4 grouped rows of 2
  const std::vector<int64_t> rows = {2, 0, 3, 1};          // token 0: rows 2, 0; token 1: rows 3, 1
  const std::vector<float> w = {0.5f, 2.f, 1.f, -1.f}, base = {10, 20, 30, 40};
  std::vector<float> out(4);
  moe_combine_reference(ys.data(), rows.data(), w.data(), base.data(), out.data(), 2, 2, 2);
  EXPECT_EQ(out, (std::vector<float>{10 + 2.5f + 2, 20 + 3 + 4, 30 + 7 - 3, 40 + 8 - 4}));
  moe_combine_reference(ys.data(), rows.data(), w.data(), nullptr, out.data(), 2, 2, 2);
  EXPECT_EQ(out, (std::vector<float>{4.5f, 7, 4, 4}));
}

}  // namespace
}  // namespace dsrl::kernels
