#include "kernels/indexer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dsrl::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(IndexerReference, LogitsAreWeightedReluDotsWithKeysPastTheEndMasked) {
  // One sequence, 2 queries, 2 heads of dim 2, 3 keys; query 0 sees 1 key, query 1 sees 3.
  const std::vector<float> q = {1, 0, 0, 1,    // query 0: heads [1, 0], [0, 1]
                                1, 1, -1, 0};  // query 1: heads [1, 1], [-1, 0]
  const std::vector<float> k = {2, 3, -1, 4, 5, -6};
  const std::vector<float> w = {0.5f, 2.f, 1.f, 3.f};
  const std::vector<int32_t> ends = {1, 3};
  std::vector<float> logits(6);
  indexer_logits_reference(q.data(), k.data(), w.data(), ends.data(), logits.data(), IndexerShape{1, 2, 3, 2, 2});
  EXPECT_FLOAT_EQ(logits[0], 0.5f * 2 + 2.f * 3);  // ReLU(2) and ReLU(3)
  EXPECT_EQ(logits[1], -kInf);
  EXPECT_EQ(logits[2], -kInf);
  EXPECT_FLOAT_EQ(logits[3], 1.f * 5 + 3.f * 0);   // ReLU(5), ReLU(-2) = 0
  EXPECT_FLOAT_EQ(logits[4], 1.f * 3 + 3.f * 1);   // ReLU(3), ReLU(1)
  EXPECT_FLOAT_EQ(logits[5], 0.f + 3.f * 0);       // ReLU(-1) = 0, ReLU(-5) = 0
}

TEST(IndexerReference, TopkTakesTheLargestInPositionOrderWithTiesToTheLowerPosition) {
  const std::vector<float> x = {1, 5, 3, 5, -kInf, 2, 5};
  std::vector<int32_t> out(3);
  topk_positions_reference(x.data(), 1, 7, 3, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{1, 3, 6}));
  topk_positions_reference(x.data(), 1, 7, 2, out.data());  // three 5s tie for two places
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + 2), (std::vector<int32_t>{1, 3}));
}

TEST(IndexerReference, TopkTiesMinusZeroWithZero) {
  const std::vector<float> x = {1, -0.0f, 0.0f, -1};
  std::vector<int32_t> out(2);
  topk_positions_reference(x.data(), 1, 4, 2, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{0, 1}));  // -0 and +0 tie: the lower position wins
}

TEST(IndexerReference, TopkPadsWithMinusOneAndSkipsMaskedAndNan) {
  const std::vector<float> x = {-kInf, 7, std::nanf(""), -kInf, -3};
  std::vector<int32_t> out(4);
  topk_positions_reference(x.data(), 1, 5, 4, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{1, 4, -1, -1}));
}

TEST(IndexerReference, CudaSupportIsNamedByShape) {
  EXPECT_TRUE(indexer_cuda_supports(64, 128));
  EXPECT_TRUE(indexer_cuda_supports(8, 64));
  EXPECT_FALSE(indexer_cuda_supports(4, 32));
  EXPECT_FALSE(indexer_cuda_supports(64, 96));
}

}  // namespace
}  // namespace dsrl::kernels
