// The rollout engine in process (no gRPC): what it records is what it did. A teacher-forced forward over prompt +
// completion with the recorded indexer selections and routes replayed and the recorded kept sets applied gives
// the behaviour log-probs back; a forward that chooses its own routes chooses the recorded ones. Also: per-sample
// streams (same request, same tokens), continuous batching with few rows, and the hand-made kept-set rule.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/error.h"
#include "model/checkpoint.h"
#include "model/sampling.h"
#include "proto/sampling_mask.h"
#include "rollout/engine.h"

namespace dsrl {
namespace {

RolloutServiceConfig engine_config(int64_t rows) {
  RolloutServiceConfig c;
  c.model.config = std::string(DSRL_SOURCE_DIR) + "/configs/model/tiny.yaml";
  c.model.init_seed = 3;
  c.engine.max_sequences = rows;
  c.engine.max_context = 256;
  return c;
}

GenerationRequest request(uint64_t seed) {
  GenerationRequest r;
  r.prompts = {{"a", {256, 72, 101, 108, 108, 111}}, {"b", {256, 50, 43, 50, 61}}};
  r.samples_per_prompt = 3;
  r.sampling.temperature = 0.9;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.9;
  r.sampling.max_new_tokens = 90;  // past index_topk 64: the indexer's selection is sparse at the end
  r.sampling.seed = seed;
  r.record_mask = r.record_routing = r.record_indexer = true;
  return r;
}

std::vector<GeneratedSample> run(Engine& engine, const GenerationRequest& r) {
  auto job = engine.submit(r);
  EXPECT_TRUE(job->wait_for(std::chrono::seconds(120)));
  return job->take_samples();
}

// [layers, T, width] flat -> per layer [1, T, width] int64.
std::vector<at::Tensor> per_layer(const std::vector<int64_t>& flat, int64_t layers, int64_t T, int64_t width) {
  return at::tensor(flat, at::kLong).view({layers, 1, T, width}).unbind(0);
}

// Both decode paths: eager forwards over the cached keys, and the fixed-shape steps CUDA graphs replay (run
// eagerly on CPU: the batch padded to a bucket, keys over the whole context).
class TeacherForced : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(RolloutEngine, TeacherForced, ::testing::Values("off", "on"));

TEST_P(TeacherForced, ReplayReproducesLogprobsAndRoutes) {
  RolloutServiceConfig cfg = engine_config(4);
  cfg.engine.decode_graphs = GetParam();
  auto engine = Engine::create(cfg);
  DeepseekV32 model = load_model_source(cfg.model, at::kCPU, at::kFloat);  // the same weights, for the check
  at::NoGradGuard no_grad;
  const GenerationRequest r = request(5);
  std::vector<GeneratedSample> samples = run(*engine, r);
  ASSERT_EQ(samples.size(), 6u);
  const ModelConfig& c = model->config();
  for (const GeneratedSample& s : samples) {
    const auto& prompt = r.prompts[s.prompt_id == "a" ? 0 : 1].tokens;
    const int64_t n = static_cast<int64_t>(s.tokens.size()), P = static_cast<int64_t>(prompt.size());
    ASSERT_EQ(s.routing_tokens, P + n - 1) << "the last sampled token is never fed";
    ASSERT_EQ(s.indexer_tokens, P + n - 1);
    std::vector<int64_t> seq = prompt;
    seq.insert(seq.end(), s.tokens.begin(), s.tokens.end() - 1);
    at::Tensor tokens = at::tensor(seq, at::kLong).unsqueeze(0);  // [1, T]
    const int64_t T = tokens.size(1);
    std::vector<at::Tensor> topk = per_layer({s.indexer.begin(), s.indexer.end()}, s.indexer_layers, T, s.indexer_topk);
    std::vector<at::Tensor> routes = per_layer({s.routing.begin(), s.routing.end()}, s.routing_layers, T, s.experts_per_token);
    // Own routes (indexer replayed): the recorded ones, exactly.
    ForwardOptions own;
    own.replay_topk = &topk;
    own.record = true;
    ForwardResult chosen = model->forward(tokens, own);
    for (size_t l = 0; l < routes.size(); ++l)
      EXPECT_TRUE(at::equal(std::get<0>(chosen.expert_ids[l].sort(-1)), std::get<0>(routes[l].sort(-1))))
          << s.prompt_id << "/" << s.sample_index << " MoE layer " << l;
    // Everything replayed, the recorded kept sets applied: the behaviour log-probs.
    ForwardOptions replay;
    replay.replay_topk = &topk;
    replay.replay_experts = &routes;
    at::Tensor logits = model->forward(tokens, replay).logits[0].narrow(0, P - 1, n);  // [n, V]
    std::vector<at::Tensor> kept;
    for (const std::string& m : s.mask) kept.push_back(at::tensor(decode_kept_set(m, c.vocab_size), at::kByte));
    at::Tensor logp = masked_log_softmax(logits, at::stack(kept).to(at::kBool), r.sampling.temperature);
    at::Tensor got = logp.gather(1, at::tensor(s.tokens, at::kLong).unsqueeze(1)).squeeze(1);
    EXPECT_LE((got - at::tensor(s.logprobs)).abs().max().item<double>(), 1e-5) << s.prompt_id << "/" << s.sample_index;
    EXPECT_LE(at::stack(kept).sum(1).max().item<int64_t>(), 40) << "top_k 40 bounds every kept set";
  }
}

TEST(RolloutEngine, SameRequestSameTokensWhateverTheBatching) {
  auto engine = Engine::create(engine_config(2));  // 2 rows for 6 samples: they queue and join as rows free up
  GenerationRequest r = request(11);
  r.sampling.max_new_tokens = 20;
  r.record_mask = r.record_routing = r.record_indexer = false;
  auto first = run(*engine, r);
  auto wide = Engine::create(engine_config(8));  // all at once
  auto second = run(*wide, r);
  RolloutServiceConfig one_prefill_each = engine_config(8);
  one_prefill_each.engine.max_prefill_tokens = 8;  // prompts of 5 and 6 tokens: one sequence per prefill
  auto capped = Engine::create(one_prefill_each);
  auto third = run(*capped, r);
  ASSERT_EQ(first.size(), second.size());
  ASSERT_EQ(third.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].tokens, second[i].tokens) << "sample " << i;
    EXPECT_EQ(third[i].tokens, second[i].tokens) << "sample " << i << " with max_prefill_tokens";
    EXPECT_EQ(first[i].policy_versions, std::vector<uint64_t>{0});
  }
  EXPECT_EQ(wide->status().prefills, 1) << "all six in one prefill";
  EXPECT_EQ(capped->status().prefills, 6) << "max_prefill_tokens 8 admits one 5- or 6-token prompt at a time";
  EXPECT_NE(first[0].tokens, first[1].tokens) << "samples of one prompt draw from different streams";
  r.sampling.seed = 12;
  EXPECT_NE(run(*engine, r)[0].tokens, first[0].tokens) << "another seed, other tokens";
}

TEST(RolloutEngine, RefusesBadRequestsWithoutQueueingThem) {
  auto engine = Engine::create(engine_config(2));
  auto refused = [&](GenerationRequest r, RequestError::Code code, const std::string& says) {
    try {
      engine->submit(r);
      ADD_FAILURE() << "accepted a request that should say: " << says;
    } catch (const RequestError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  GenerationRequest r = request(1);
  auto with = [&](auto change) { GenerationRequest x = r; change(x); return x; };
  using E = RequestError;
  refused(with([](auto& x) { x.prompts.clear(); }), E::kInvalidArgument, "prompts is empty");
  refused(with([](auto& x) { x.prompts[1].tokens.clear(); }), E::kInvalidArgument, "prompt 1 ('b') is empty");
  refused(with([](auto& x) { x.prompts[0].tokens[2] = 264; }), E::kInvalidArgument, "token id 264 outside");
  refused(with([](auto& x) { x.samples_per_prompt = 0; }), E::kInvalidArgument, "samples_per_prompt must be in");
  refused(with([](auto& x) { x.sampling.temperature = -1; }), E::kInvalidArgument, "temperature");
  refused(with([](auto& x) { x.sampling.top_p = 1.5; }), E::kInvalidArgument, "top_p");
  refused(with([](auto& x) { x.sampling.vocab_limit = 265; }), E::kInvalidArgument, "vocab_limit must be in [0, 264]");
  refused(with([](auto& x) { x.sampling.max_new_tokens = 257; }), E::kInvalidArgument, "max_new_tokens");
  refused(with([](auto& x) { x.prompts[0].tokens.assign(256, 5); }), E::kResourceExhausted, "no room");
  EXPECT_EQ(engine->status().queued, 0);
  EXPECT_EQ(run(*engine, with([](auto& x) { x.sampling.max_new_tokens = 3; })).size(), 6u) << "still serving";
}

TEST(RolloutEngine, CancelledJobsFreeTheirRows) {
  auto engine = Engine::create(engine_config(2));
  GenerationRequest r = request(2);
  r.sampling.max_new_tokens = 250;
  auto job = engine->submit(r);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine->status().running == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  job->cancel();
  ASSERT_TRUE(job->wait_for(std::chrono::seconds(30)));
  for (const auto& s : job->take_samples()) EXPECT_EQ(s.finish, FinishReason::kAborted);
  EXPECT_EQ(engine->status().running, 0);
  EXPECT_EQ(engine->status().queued, 0);
  r.sampling.max_new_tokens = 4;
  EXPECT_EQ(run(*engine, r).size(), 6u);
}

// The kept set on hand-made logits: top-k ∩ the nucleus of the full distribution.
TEST(Sampling, KeptSetIsTopkIntersectNucleus) {
  at::Tensor logits = at::log(at::tensor({0.05, 0.4, 0.1, 0.3, 0.15})).unsqueeze(0);  // order: 1, 3, 4, 2, 0
  auto kept = [&](int64_t k, double p) {
    return sample_tokens(logits, SamplingParams{1.0, k, p}, at::tensor({0.5}, at::kDouble)).kept[0].to(at::kLong);
  };
  EXPECT_TRUE(at::equal(kept(0, 0.75), at::tensor({0, 1, 0, 1, 1}, at::kLong))) << "nucleus 0.75: 0.4 + 0.3 < 0.75";
  EXPECT_TRUE(at::equal(kept(2, 0.75), at::tensor({0, 1, 0, 1, 0}, at::kLong))) << "top-2 cuts the nucleus";
  EXPECT_TRUE(at::equal(kept(3, 0.6), at::tensor({0, 1, 0, 1, 0}, at::kLong))) << "the nucleus cuts top-3";
  EXPECT_TRUE(at::equal(kept(0, 1.0), at::ones({5}, at::kLong)));
  // Inverse-CDF draws over token ids in the kept, renormalised set {1: 0.4/0.7, 3: 0.3/0.7}: the cdf is 0.571 at
  // id 1 and 1 at id 3, so u = 0.5 draws token 1 and u = 0.6 token 3.
  Sampled s = sample_tokens(logits, SamplingParams{1.0, 2, 1.0}, at::tensor({0.5}, at::kDouble));
  EXPECT_EQ(s.tokens.item<int64_t>(), 1);
  EXPECT_NEAR(s.logprobs.item<double>(), std::log(0.4 / 0.7), 1e-6);
  Sampled t = sample_tokens(logits, SamplingParams{1.0, 2, 1.0}, at::tensor({0.6}, at::kDouble));
  EXPECT_EQ(t.tokens.item<int64_t>(), 3);
}

// A vocab limit takes the ids past it out of every path: greedy, nucleus, no truncation at all, and the kept set
// the rollout records; log-probs renormalise over what is left.
TEST(Sampling, VocabLimitRemovesTheIdsPastIt) {
  at::Tensor logits = at::log(at::tensor({0.05, 0.1, 0.15, 0.3, 0.4})).unsqueeze(0);  // the best two are 3 and 4
  const at::Tensor u = at::tensor({0.999}, at::kDouble);
  Sampled greedy = sample_tokens(logits, SamplingParams{0.0, 0, 1.0, 3}, u);
  EXPECT_EQ(greedy.tokens.item<int64_t>(), 2);
  for (double p : {1.0, 0.5}) {
    Sampled s = sample_tokens(logits, SamplingParams{1.0, 0, p, 3}, u);
    EXPECT_LT(s.tokens.item<int64_t>(), 3) << "top_p " << p;
    EXPECT_EQ(s.kept[0].narrow(0, 3, 2).sum().item<int64_t>(), 0) << "top_p " << p;
  }
  Sampled all = sample_tokens(logits, SamplingParams{1.0, 0, 1.0, 3}, u);
  EXPECT_NEAR(all.logprobs.item<double>(), std::log(0.15 / 0.3), 1e-6) << "u near 1 draws the last kept id, 2";
  EXPECT_TRUE(at::equal(kept_tokens(logits, SamplingParams{1.0, 0, 1.0, 3}), all.kept));
  EXPECT_THROW(sample_tokens(logits, SamplingParams{1.0, 0, 1.0, 6}, u), Error);
  at::Tensor limited = limit_vocab(logits, 3);
  EXPECT_TRUE(std::isinf(limited[0][4].item<double>()));
  EXPECT_TRUE(at::equal(limited.narrow(1, 0, 3), logits.narrow(1, 0, 3)));
}

// Packed kept bits round-trip through the wire encoding for sets of every shape, the vocabulary not a multiple of 8.
TEST(Sampling, PackedKeptBitsRoundTripThroughTheEncoding) {
  const int64_t V = 1003;
  at::Tensor kept = at::rand({6, V}, at::TensorOptions().dtype(at::kFloat)) < at::tensor({0.0, 0.001, 0.01, 0.5,
                                                                                         0.99, 1.0}).unsqueeze(1);
  at::Tensor bits = pack_kept_bits(kept).contiguous();
  ASSERT_EQ(bits.sizes(), (std::vector<int64_t>{6, (V + 7) / 8}));
  EXPECT_TRUE(at::equal(unpack_kept_bits(bits, V), kept));
  std::vector<uint8_t> decoded(static_cast<size_t>(bits.size(1)));
  for (int64_t r = 0; r < 6; ++r) {
    const std::string wire = encode_kept_bits(bits.data_ptr<uint8_t>() + r * bits.size(1), V);
    at::Tensor flags = kept[r].to(at::kByte).contiguous();
    EXPECT_EQ(wire, encode_kept_set(flags.data_ptr<uint8_t>(), V)) << "row " << r;
    decode_kept_bits(wire, V, decoded.data());
    EXPECT_TRUE(at::equal(at::from_blob(decoded.data(), {bits.size(1)}, at::kByte), bits[r])) << "row " << r;
  }
  std::string past_the_end(1 + (V + 7) / 8, '\0');
  past_the_end[0] = '\x02';
  past_the_end.back() = '\x10';  // bit 4 of the last byte: id 1004 of a vocabulary of 1003
  EXPECT_THROW(decode_kept_bits(past_the_end, V, decoded.data()), Error);
}

}  // namespace
}  // namespace dsrl
