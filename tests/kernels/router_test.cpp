#include "kernels/router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dsrl::kernels {
namespace {

// 8 experts in 4 groups of 2, 2 groups kept. Group sums: {0.9 + 0.1, 0.5 + 0.4, 0.8 + 0.7, 0.3 + 0.3}: groups 2
// (1.5) and 0 (1.0) stay. With k = 4, expert 1 (0.1) is chosen over experts 2 and 3 (0.5, 0.4): their group is out.
TEST(RouterReference, KeepsTheBestGroupsThenTheBestExperts) {
  const std::vector<float> scores = {0.9f, 0.1f, 0.5f, 0.4f, 0.8f, 0.7f, 0.3f, 0.3f};
  const std::vector<float> bias(8, 0.f);
  std::vector<int64_t> ids(3);
  route_topk_reference(scores.data(), bias.data(), 1, 8, 4, 2, 3, ids.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 4, 5}));
  ids.resize(4);  // k = all 4 kept experts
  route_topk_reference(scores.data(), bias.data(), 1, 8, 4, 2, 4, ids.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 4, 5, 1}));
}

// The bias moves the choice (it balances load), and ties go to the lower index, for groups and experts alike.
TEST(RouterReference, BiasCountsAndTiesGoToTheLowerIndex) {
  const std::vector<float> scores = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};  // 3 groups of 2, all tied
  std::vector<float> bias(6, 0.f);
  std::vector<int64_t> ids(2);
  route_topk_reference(scores.data(), bias.data(), 1, 6, 3, 1, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1}));  // group 0, then experts 0 and 1
  bias[5] = 0.2f;                                // group 2 now sums highest, its expert 5 first
  route_topk_reference(scores.data(), bias.data(), 1, 6, 3, 1, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{5, 4}));
}

// NaN ranks above every number (as in ATen's topk); a -inf expert of a kept group comes last but only once.
TEST(RouterReference, NanRanksFirstAndMinusInfinityOnce) {
  const std::vector<float> scores = {0.2f, -INFINITY, NAN, 0.1f};  // one group of 4
  const std::vector<float> bias(4, 0.f);
  std::vector<int64_t> ids(4);
  route_topk_reference(scores.data(), bias.data(), 1, 4, 1, 1, 4, ids.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 0, 3, 1}));
}

// Gate weights: the chosen experts' unbiased scores, over their sum when normalising, times the scaling.
TEST(RouterReference, WeightsAreTheChosenScoresNormalisedAndScaled) {
  const std::vector<float> scores = {0.9f, 0.1f, 0.5f, 0.4f, 0.8f, 0.7f, 0.3f, 0.3f,   // row 0
                                     0.2f, 0.2f, 0.6f, 0.1f, 0.0f, 0.0f, 0.0f, 0.0f};  // row 1
  const std::vector<int64_t> ids = {0, 4, 2, 3};  // k = 2
  std::vector<float> w(4);
  route_weights_reference(scores.data(), ids.data(), 2, 8, 2, true, 2.5f, w.data());
  EXPECT_FLOAT_EQ(w[0], 0.9f / (0.9f + 0.8f) * 2.5f);
  EXPECT_FLOAT_EQ(w[1], 0.8f / (0.9f + 0.8f) * 2.5f);
  EXPECT_FLOAT_EQ(w[2], 0.6f / 0.7f * 2.5f);
  EXPECT_FLOAT_EQ(w[3], 0.1f / 0.7f * 2.5f);
  route_weights_reference(scores.data(), ids.data(), 2, 8, 2, false, 2.f, w.data());
  EXPECT_EQ(w, (std::vector<float>{1.8f, 1.6f, 1.2f, 0.2f}));
}

}  // namespace
}  // namespace dsrl::kernels
