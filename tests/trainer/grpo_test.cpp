// GRPO's pieces on tiny hand-made inputs: every loss term against values computed by hand, OPSM's rule, the
// unbiased KL, the sampling mask's renormalisation, keep routing's gradients, group advantages, the prompt
// mixture, sample packing and micro-batches.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/config.h"
#include "model/sampling.h"
#include "proto/sampling_mask.h"
#include "tests/model/model_fixture.h"
#include "trainer/grpo_batch.h"
#include "trainer/grpo_data.h"
#include "trainer/grpo_loss.h"

namespace dsrl {
namespace {

at::Tensor t2(std::vector<std::vector<double>> rows) {
  std::vector<at::Tensor> r;
  for (auto& row : rows) r.push_back(at::tensor(row, at::kDouble).to(at::kFloat));
  return at::stack(r);
}

TEST(GrpoLoss, SurrogateClipsPerSignOfTheAdvantage) {
  // One sequence of 3 tokens; ratios e^0.5 = 1.649 (above 1 + eps_high), 1, e^-0.5 = 0.607 (below 1 - eps_low).
  const at::Tensor old = t2({{0, 0, 0}}), logp = t2({{0.5, 0, -0.5}}), mask = t2({{1, 1, 1}});
  GrpoLossOptions o;
  o.off_policy_mask = false;
  for (double A : {2.0, -2.0}) {
    GrpoTerms t = grpo_terms(logp, old, at::Tensor(), mask, at::tensor({A}).to(at::kFloat), at::zeros({1}), o);
    const double r0 = std::exp(0.5), r2 = std::exp(-0.5);
    // A > 0: min(rA, clip(r)A) takes the clipped 1.28 for r0, r2 itself (unclipped is smaller).
    // A < 0: takes r0 itself (larger magnitude), the clipped 0.8 for r2.
    const double expected = A > 0 ? (1.28 * A + A + r2 * A) / 3 : (r0 * A + A + 0.8 * A) / 3;
    EXPECT_NEAR(t.objective.item<double>(), expected, 1e-5) << "A " << A;
    EXPECT_EQ(t.clipped.item<double>(), 1.0) << "one token took the clipped branch";
    EXPECT_NEAR(t.ratio_max.item<double>(), r0, 1e-5);
    EXPECT_NEAR(t.ratio_sum.item<double>(), r0 + 1 + r2, 1e-5);
  }
}

TEST(GrpoLoss, OffPolicyMaskDropsExactlyNegativeAdvantageSequencesPastDelta) {
  // Mean log(pi_old / pi) per sequence: 0.6, 0.6, 0.4, and 0.6 over the two real tokens of a padded row.
  const at::Tensor old = t2({{0, 0}, {0, 0}, {0, 0}, {0, 0}});
  const at::Tensor logp = t2({{-0.6, -0.6}, {-0.6, -0.6}, {-0.4, -0.4}, {-0.6, -5.0}});
  const at::Tensor mask = t2({{1, 1}, {1, 1}, {1, 1}, {1, 0}});
  const at::Tensor A = at::tensor({-1.0, 1.0, -1.0, -1.0}).to(at::kFloat);
  const at::Tensor keep = off_policy_mask(logp, old, mask, A, 0.5);
  EXPECT_TRUE(at::equal(keep, at::tensor({0.0, 1.0, 1.0, 0.0}).to(at::kFloat)))
      << "masked: negative advantage and divergence 0.6 > 0.5 (rows 0 and 3); kept: positive advantage (row 1), "
         "divergence 0.4 (row 2)";
  GrpoLossOptions o;
  o.delta = 0.5;
  GrpoTerms t = grpo_terms(logp, old, at::Tensor(), mask, A, at::zeros({4}), o);
  EXPECT_EQ(t.objective[0].item<double>(), 0.0);
  EXPECT_NE(t.objective[2].item<double>(), 0.0);
  EXPECT_TRUE(at::equal(t.masked, at::tensor({1.0, 0.0, 0.0, 1.0}).to(at::kFloat)));
}

TEST(GrpoLoss, UnbiasedKlIsRatioTimesK3) {
  const at::Tensor old = t2({{-1.0, -2.0}}), logp = t2({{-0.8, -2.3}}), ref = t2({{-1.1, -1.9}}), mask = t2({{1, 1}});
  GrpoLossOptions o;
  o.off_policy_mask = false;
  auto k3 = [](double lp, double lr) { return std::exp(lr - lp) - (lr - lp) - 1; };
  const double rho0 = std::exp(-0.8 + 1.0), rho1 = std::exp(-2.3 + 2.0);
  const double biased = (k3(-0.8, -1.1) + k3(-2.3, -1.9)) / 2;
  const double unbiased = (rho0 * k3(-0.8, -1.1) + rho1 * k3(-2.3, -1.9)) / 2;
  o.unbiased_kl = false;
  GrpoTerms a = grpo_terms(logp, old, ref, mask, at::zeros({1}), at::full({1}, 0.5), o);
  EXPECT_NEAR(a.kl.item<double>(), biased, 1e-6);
  EXPECT_NEAR(a.objective.item<double>(), -0.5 * biased, 1e-6) << "A = 0: the objective is -beta KL";
  o.unbiased_kl = true;
  GrpoTerms b = grpo_terms(logp, old, ref, mask, at::zeros({1}), at::full({1}, 0.5), o);
  EXPECT_NEAR(b.kl.item<double>(), unbiased, 1e-6);
  // Without a reference, no KL term at all.
  GrpoTerms c = grpo_terms(logp, old, at::Tensor(), mask, at::zeros({1}), at::full({1}, 0.5), o);
  EXPECT_EQ(c.objective.item<double>(), 0.0);
}

TEST(GrpoLoss, SamplingMaskRenormalisesOverTheKeptSetAtTheTemperature) {
  const at::Tensor logits = at::tensor({2.0, 1.0, 0.5, -1.0}).to(at::kFloat).view({1, 4});
  const at::Tensor kept = at::tensor({1, 0, 1, 0}, at::kByte).to(at::kBool).view({1, 4});
  at::Tensor entropy;
  const double got = token_logprobs(logits, at::tensor({2}, at::kLong), kept, 2.0, &entropy).item<double>();
  const double a = std::exp(2.0 / 2), c = std::exp(0.5 / 2);
  EXPECT_NEAR(got, std::log(c / (a + c)), 1e-6) << "token 2 among the kept {0, 2}, logits / 2";
  const double pa = a / (a + c), pc = c / (a + c);
  EXPECT_NEAR(entropy.item<double>(), -(pa * std::log(pa) + pc * std::log(pc)), 1e-6);
  const double full = token_logprobs(logits, at::tensor({2}, at::kLong), at::Tensor(), 1.0).item<double>();
  EXPECT_NEAR(full, 0.5 - std::log(std::exp(2.0) + std::exp(1.0) + std::exp(0.5) + std::exp(-1.0)), 1e-6);
}

TEST(GrpoAdvantages, GroupNormalisedWithSampleStd) {
  const auto a = group_advantages({1, 0, 0, 1}, true);
  const double sd = std::sqrt(1.0 / 3);  // sample std of {1, 0, 0, 1}
  EXPECT_NEAR(a[0], 0.5 / (sd + 1e-6), 1e-9);
  EXPECT_NEAR(a[1], -0.5 / (sd + 1e-6), 1e-9);
  EXPECT_EQ(group_advantages({2, 2, 2}, true), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(group_advantages({3, 1}, false), (std::vector<double>{1, -1}));
}

GrpoConfig mixture_config() {
  GrpoConfig c;
  GrpoTaskConfig a, b;
  a.task_type = "arithmetic";
  a.synthetic = SyntheticConfig{"arithmetic", 30, 1, 9, 12};
  a.weight = 3;
  b.task_type = "copy";
  b.synthetic = SyntheticConfig{"copy", 10, 2, 9, 5};
  b.weight = 1;
  c.tasks = {a, b};
  c.eval_prompts = 4;
  return c;
}

TEST(GrpoPrompts, MixtureByWeightResumableAndHeldOut) {
  PromptMixture m(mixture_config());
  auto first = m.next(8);
  ASSERT_EQ(first.size(), 8u);
  EXPECT_EQ(std::count_if(first.begin(), first.end(), [](auto& p) { return p.task == 0; }), 6) << "weights 3 : 1";
  EXPECT_NE(first[0].text.find("<｜User｜>" + first[0].user + "<｜Assistant｜>"), std::string::npos)
      << "the chat format the lm stage trained on: " << first[0].text;
  EXPECT_FALSE(first[0].answer.empty());
  const std::string at = m.position_json();
  auto second = m.next(40);  // past an epoch of the copy task (10 prompts)
  PromptMixture again(mixture_config());
  again.seek(at, "test");
  auto replay = again.next(40);
  for (size_t i = 0; i < second.size(); ++i) EXPECT_EQ(replay[i].user, second[i].user) << i;
  EXPECT_EQ(m.held_out().size(), 4u);
  EXPECT_THROW(again.seek("{\"tasks\": [[0, 1]]}", "test"), Error) << "one task given, two configured";
}

GrpoSample sample(std::vector<int32_t> prompt, std::vector<int32_t> response, int64_t vocab) {
  GrpoSample s;
  s.prompt = std::move(prompt);
  s.response = std::move(response);
  for (size_t t = 0; t < s.response.size(); ++t) {
    s.logprobs.push_back(-0.1f * (t + 1));
    std::vector<uint8_t> kept(vocab, 0);
    kept[s.response[t]] = 1;
    kept[(s.response[t] + 1) % vocab] = 1;
    s.masks.push_back(encode_kept_set(kept.data(), vocab));
  }
  s.vocab_size = vocab;
  s.advantage = 0.5f;
  s.kl_beta = 0.1f;
  return s;
}

TEST(GrpoSamples, PackUnpackRoundTripAndRejectsDamage) {
  std::vector<GrpoSample> in = {sample({1, 2, 3}, {4, 5}, 10), sample({7}, {8}, 10)};
  in[0].routes = {1, 2, 3, 4, 5, 6, 7, 8};
  in[0].route_layers = 1;
  in[0].experts = 2;
  in[1].loss_mask = {1};
  const std::string bytes = pack_samples(in);
  const auto out = unpack_samples(bytes);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].prompt, in[0].prompt);
  EXPECT_EQ(out[0].masks, in[0].masks);
  EXPECT_EQ(out[0].routes, in[0].routes);
  EXPECT_EQ(out[1].logprobs, in[1].logprobs);
  EXPECT_TRUE(out[0].loss_mask.empty());
  EXPECT_EQ(out[1].loss_mask, in[1].loss_mask);
  EXPECT_FLOAT_EQ(out[1].advantage, 0.5f);
  EXPECT_THROW(unpack_samples(bytes.substr(0, bytes.size() - 3)), Error);
  EXPECT_THROW(unpack_samples(bytes + "x"), Error);
}

TEST(GrpoSamples, MicroBatchPlacesTargetsMasksAndRoutes) {
  std::vector<GrpoSample> s = {sample({1, 2, 3}, {4, 5}, 10), sample({7}, {8}, 10)};
  s[0].routes = {0, 1, 2, 3, 4, 5, 6, 7};  // 1 layer x 4 fed tokens x k 2
  s[1].routes = {9, 8};                      // 1 fed token
  for (auto& x : s) x.route_layers = 1, x.experts = 2;
  GrpoMicroBatch mb = make_micro_batch({&s[0], &s[1]}, 10, true, true, at::kCPU);
  EXPECT_TRUE(at::equal(mb.inputs, at::tensor({1, 2, 3, 4, 7, 0, 0, 0}, at::kLong).view({2, 4})));
  EXPECT_TRUE(at::equal(mb.targets, at::tensor({0, 0, 4, 5, 8, 0, 0, 0}, at::kLong).view({2, 4})));
  EXPECT_TRUE(at::equal(mb.mask, at::tensor({0, 0, 1, 1, 1, 0, 0, 0}, at::kFloat).view({2, 4})));
  EXPECT_NEAR(mb.old_logp[0][3].item<double>(), -0.2, 1e-6);
  EXPECT_TRUE(mb.kept[0][2][4].item<bool>() && mb.kept[0][2][5].item<bool>() && !mb.kept[0][2][6].item<bool>());
  EXPECT_TRUE(mb.kept[0][0].all().item<bool>()) << "prompt positions keep every token";
  EXPECT_TRUE(at::equal(mb.routes[0][0], at::tensor({0, 1, 2, 3, 4, 5, 6, 7}, at::kLong).view({4, 2})));
  EXPECT_EQ(mb.routes[0][1][0][0].item<int64_t>(), 9);
  EXPECT_EQ(mb.tokens, 3);
  s[1].masks[0] = encode_kept_set(std::vector<uint8_t>(10, 0).data(), 10);
  EXPECT_THROW(make_micro_batch({&s[1]}, 10, true, false, at::kCPU), Error) << "sampled token outside its kept set";
  EXPECT_EQ(split_by_tokens({&s[0], &s[1], &s[0]}, 8).size(), 2u) << "2 x 4 tokens fit a budget of 8, 3 do not";
}

// An agent trajectory: the response holds the model's turn, a tool result (loss mask 0, no kept set) and the next
// model turn. Only the model's tokens are trained; the tool result's token lies outside any recorded set.
TEST(GrpoSamples, LossMaskLeavesToolResultsOutOfTheLoss) {
  GrpoSample s = sample({1, 2}, {3, 9, 9, 4}, 10);
  s.loss_mask = {1, 0, 0, 1};
  s.masks[1] = s.masks[2] = "";
  GrpoMicroBatch mb = make_micro_batch({&s}, 10, true, false, at::kCPU);
  EXPECT_TRUE(at::equal(mb.mask, at::tensor({0, 1, 0, 0, 1}, at::kFloat).view({1, 5})));
  EXPECT_TRUE(at::equal(mb.targets, at::tensor({0, 3, 9, 9, 4}, at::kLong).view({1, 5})));
  EXPECT_TRUE(mb.kept[0][2].all().item<bool>()) << "a tool-result position keeps every token";
  EXPECT_EQ(mb.tokens, 2);
  s.loss_mask = {1, 0, 1};
  EXPECT_THROW(make_micro_batch({&s}, 10, true, false, at::kCPU), Error) << "a loss mask of the wrong length";
}

TEST(GrpoSamples, KeepRoutingGradientsReachOnlyReplayedExperts) {
  ModelConfig c = testing::tiny_config();
  DeepseekV32 model = testing::tiny_model(c, 5);
  const int64_t moe_layers = c.num_moe_layers(), k = c.num_experts_per_tok;
  ASSERT_GE(c.n_routed_experts, k + 2);
  GrpoSample s = sample({3, 4, 5}, {6, 7}, c.vocab_size);
  s.route_layers = moe_layers;
  s.experts = k;
  for (int64_t l = 0; l < moe_layers; ++l)
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t j = 0; j < k; ++j) s.routes.push_back(static_cast<uint16_t>(j));  // experts 0..k-1 only
  GrpoMicroBatch mb = make_micro_batch({&s}, c.vocab_size, false, true, at::kCPU);
  ForwardOptions o;
  o.replay_experts = &mb.routes;
  const at::Tensor logp = token_logprobs(model->forward(mb.inputs, o).logits, mb.targets, mb.kept, 1.0);
  (logp * mb.mask).sum().backward();
  for (auto& p : model->named_parameters()) {
    if (p.key().find(".mlp.experts.gate_proj") == std::string::npos) continue;  // routed experts [E, I, D]
    const at::Tensor per_expert = p.value().grad().abs().flatten(1).sum(1);  // [E]
    EXPECT_GT(per_expert.narrow(0, 0, k).min().item<double>(), 0) << p.key() << ": a replayed expert got no gradient";
    EXPECT_EQ(per_expert.narrow(0, k, c.n_routed_experts - k).max().item<double>(), 0)
        << p.key() << ": an expert the routes never named got a gradient";
  }
}

TEST(GrpoDrift, RouteMismatchMarksWhereTheRouterDisagreesWithTheReplay) {
  ModelConfig c = testing::tiny_config();
  DeepseekV32 model = testing::tiny_model(c, 6);
  at::NoGradGuard no_grad;
  const at::Tensor tokens = (at::arange(18, at::kLong) * 37 + 5).remainder(c.vocab_size).view({2, 9});
  ForwardOptions record;
  record.record = true;
  std::vector<at::Tensor> own = model->forward(tokens, record).expert_ids;
  ForwardOptions replay;
  replay.replay_experts = &own;
  ForwardResult same = model->forward(tokens, replay);
  ASSERT_EQ(same.route_mismatch.size(), own.size());
  for (const auto& m : same.route_mismatch) EXPECT_FALSE(m.any().item<bool>()) << "its own routes: no mismatch";
  std::vector<at::Tensor> shifted;
  for (const auto& ids : own) shifted.push_back((ids + 1).remainder(c.n_routed_experts));
  replay.replay_experts = &shifted;
  const std::vector<at::Tensor> moved = model->forward(tokens, replay).route_mismatch;
  EXPECT_TRUE(moved[0].all().item<bool>()) << "the first MoE layer's input is unchanged: every token disagrees";
  for (size_t l = 1; l < moved.size(); ++l)  // later inputs change with the replay: a route may match by chance
    EXPECT_GE(moved[l].to(at::kFloat).mean().item<double>(), 0.5) << "MoE layer " << l;
  EXPECT_TRUE(model->forward(tokens, record).route_mismatch.empty()) << "nothing replayed, nothing to compare";
}

TEST(GrpoDrift, KeptTokensIsTopkIntersectNucleus) {
  const at::Tensor logits = at::log(at::tensor({0.5, 0.3, 0.15, 0.05}, at::kDouble)).to(at::kFloat).view({1, 4});
  auto kept = [&](int64_t k, double p) {
    return kept_tokens(logits, SamplingParams{1.0, k, p}).to(at::kLong).flatten();
  };
  EXPECT_TRUE(at::equal(kept(0, 1.0), at::tensor({1, 1, 1, 1}, at::kLong)));
  EXPECT_TRUE(at::equal(kept(2, 1.0), at::tensor({1, 1, 0, 0}, at::kLong)));
  EXPECT_TRUE(at::equal(kept(0, 0.7), at::tensor({1, 1, 0, 0}, at::kLong))) << "0.5 + 0.3 >= 0.7";
  EXPECT_TRUE(at::equal(kept(1, 0.9), at::tensor({1, 0, 0, 0}, at::kLong)));
}

}  // namespace
}  // namespace dsrl
