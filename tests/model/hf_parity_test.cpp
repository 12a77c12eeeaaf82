// Same numbers as transformers: our logits for HF-saved tiny DeepseekV32 models equal HF's (fp32, CPU).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/checkpoint.h"
#include "model/checkpoint_io.h"
#include "tests/model/model_fixture.h"

namespace dsrl {
namespace {

struct Case {
  std::string model, length;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << "/" << c.length; }

class HfParity : public ::testing::TestWithParam<Case> {};

TEST_P(HfParity, LogitsMatchTransformers) {
  const std::string dir = testing::hf_fixture_dir();
  const Case& c = GetParam();
  DeepseekV32 model = load_model(dir + "/" + c.model, at::kCPU, at::kFloat);
  CheckpointReader io(dir + "/" + c.model + "_io.safetensors");
  at::Tensor tokens = io.load("tokens_" + c.length), expected = io.load("logits_" + c.length);
  at::NoGradGuard no_grad;
  ForwardOptions options;
  options.record = true;
  ForwardResult ours = model->forward(tokens, options);
  const double diff = (ours.logits - expected).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4) << c.model << "/" << c.length;
  // The long case must really select: some query attends to fewer keys than it could see.
  const int64_t S = tokens.size(1), k = model->config().index_topk;
  if (c.length == "long") {
    ASSERT_GT(S, k);
    EXPECT_EQ(ours.indexer_topk[0].size(-1), k);
    EXPECT_EQ((ours.indexer_topk[0].select(1, S - 1) >= 0).sum().item<int64_t>(), 2 * k);  // k of S keys, both rows
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParity,
                         ::testing::Values(Case{"plain", "short"}, Case{"plain", "long"}, Case{"yarn", "short"},
                                           Case{"yarn", "long"}),
                         [](const auto& info) { return info.param.model + "_" + info.param.length; });

TEST(HfParityConfig, ReadsTransformersConfigJson) {
  ModelConfig c = load_model_config(testing::hf_fixture_dir() + "/yarn");
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.index_topk, 16);
  EXPECT_EQ(c.num_moe_layers(), 2);
}

}  // namespace
}  // namespace dsrl
