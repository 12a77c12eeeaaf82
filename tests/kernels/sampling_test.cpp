#include "kernels/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dsrl::kernels {
namespace {

struct Row {
  int64_t token;
  float logprob;
  std::vector<int> kept;  // ids whose bit is set
};

Row sample_one(const std::vector<float>& logits, double u, const SamplingSpec& spec) {
  const int64_t V = static_cast<int64_t>(logits.size());
  std::vector<uint8_t> bits((V + 7) / 8);
  Row r;
  sample_reference(logits.data(), &u, 1, V, spec, &r.token, &r.logprob, bits.data());
  for (int64_t i = 0; i < V; ++i)
    if (bits[i / 8] >> (i % 8) & 1) r.kept.push_back(static_cast<int>(i));
  return r;
}

TEST(SamplingReference, TopKBreaksTiesTowardTheLowerId) {
  // ids 1, 3 and 4 tie at 2.0; top-2 keeps 1 and 3.
  const std::vector<float> x = {0, 2, 1, 2, 2, -1, 1, 1, 0.5f};
  SamplingSpec spec;
  spec.top_k = 2;
  Row r = sample_one(x, 0.0, spec);
  EXPECT_EQ(r.kept, (std::vector<int>{1, 3}));
  EXPECT_EQ(r.token, 1);  // u = 0: the first kept id
  EXPECT_NEAR(r.logprob, std::log(0.5), 1e-6);
  EXPECT_EQ(sample_one(x, 0.999, spec).token, 3);
}

TEST(SamplingReference, NucleusKeepsTokensWhoseMassBeforeIsBelowTopP) {
  // Probabilities 0.5, 0.25, 0.125, 0.125 (logits log2 scale). Mass before: 0, 0.5, 0.75, 0.875.
  const std::vector<float> x = {std::log(4.f), std::log(2.f), 0, 0};
  SamplingSpec spec;
  spec.top_p = 0.74f;  // the third token's mass before, 0.75, is not below 0.74
  EXPECT_EQ(sample_one(x, 0.5, spec).kept, (std::vector<int>{0, 1}));
  spec.top_p = 0.76f;
  EXPECT_EQ(sample_one(x, 0.5, spec).kept, (std::vector<int>{0, 1, 2}));
  spec.top_k = 1;  // top-k ∩ nucleus
  EXPECT_EQ(sample_one(x, 0.5, spec).kept, (std::vector<int>{0}));
}

TEST(SamplingReference, InverseCdfWalksIdsInOrder) {
  const std::vector<float> x = {0, 0, 0, 0};  // uniform: each kept token owns a quarter of [0, 1)
  SamplingSpec spec;
  EXPECT_EQ(sample_one(x, 0.10, spec).token, 0);
  EXPECT_EQ(sample_one(x, 0.30, spec).token, 1);
  EXPECT_EQ(sample_one(x, 0.99, spec).token, 3);
  EXPECT_NEAR(sample_one(x, 0.6, spec).logprob, std::log(0.25), 1e-6);
}

TEST(SamplingReference, GreedyVocabLimitAndEmptyRows) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1, 3, 3, 9};
  SamplingSpec greedy;
  greedy.temperature = 0;
  Row g = sample_one(x, 0.5, greedy);
  EXPECT_EQ(g.token, 3);
  EXPECT_EQ(g.kept, (std::vector<int>{3}));
  greedy.vocab_limit = 3;  // id 3 is out: ties between 1 and 2 go to 1
  EXPECT_EQ(sample_one(x, 0.5, greedy).token, 1);
  SamplingSpec spec;
  spec.vocab_limit = 3;
  EXPECT_EQ(sample_one(x, 0.5, spec).kept, (std::vector<int>{0, 1, 2}));
  SamplingSpec argmax;
  argmax.temperature = 0;
  EXPECT_EQ(sample_one({std::nanf(""), 2, 5, 5}, 0.5, argmax).token, 2) << "NaN is never the argmax";
  Row none = sample_one({-inf, -inf}, 0.5, SamplingSpec{});
  EXPECT_TRUE(none.kept.empty());
  EXPECT_TRUE(std::isinf(none.logprob) && none.logprob < 0);
}

}  // namespace
}  // namespace dsrl::kernels
