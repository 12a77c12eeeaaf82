#include "trainer/grpo_collect.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "common/utf8.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GrpoCollector::GrpoCollector(const GrpoConfig& config, const std::string& tokenizer, int64_t vocab_limit)
    : config_(config),
      tokenizer_(load_tokenizer(tokenizer)),
      vocab_limit_(vocab_limit),
      pool_(config.rollout_endpoints, RolloutPoolOptions{config.rollout_deadline_s, config.retries}),
      reward_(config.reward_endpoint, config.reward_deadline_s, config.retries, 1.0) {
  const auto eos = tokenizer_->token_id("<｜end▁of▁sentence｜>");
  DSRL_CHECK(eos.has_value(), "tokenizer '{}' has no <｜end▁of▁sentence｜> token to stop generation at", tokenizer);
  stop_ids_ = {*eos};
}

GrpoCollector::~GrpoCollector() = default;

std::vector<std::vector<int32_t>> GrpoCollector::encode(const std::vector<GrpoPrompt>& prompts) const {
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : prompts) out.push_back(tokenizer_->encode(p.text));
  return out;
}

std::vector<RewardResult> GrpoCollector::score(const std::vector<GrpoPrompt>& prompts,
                                               const std::vector<RolloutSample>& samples, int64_t per_prompt) {
  std::vector<RewardRequestItem> items;
  for (size_t i = 0; i < samples.size(); ++i) {
    const GrpoPrompt& p = prompts[i / per_prompt];
    RewardRequestItem item;
    item.id = std::to_string(i);
    item.task_type = config_.tasks[p.task].task_type;
    item.prompt = p.user;
    item.response = valid_utf8(tokenizer_->decode(samples[i].tokens));  // sampled bytes may break a character
    item.reference_answer = p.answer;
    item.rubric = p.rubric;
    item.response_tokens = static_cast<int64_t>(samples[i].tokens.size());
    items.push_back(std::move(item));
  }
  return reward_.score(items);
}

std::vector<GrpoSample> GrpoCollector::collect(PromptMixture& mixture, int64_t step, uint64_t version,
                                               bool keep_mask, bool keep_routing, CollectStats* stats) {
  const int64_t G = config_.samples_per_prompt;
  const std::vector<GrpoPrompt> prompts = mixture.next(config_.prompts_per_step);
  const std::vector<std::vector<int32_t>> ids = encode(prompts);
  RolloutRequest request;
  for (size_t i = 0; i < prompts.size(); ++i) request.prompts.emplace_back(std::to_string(i), ids[i]);
  request.samples_per_prompt = G;
  request.temperature = config_.temperature;
  request.top_p = config_.top_p;
  request.vocab_limit = vocab_limit_;
  request.top_k = config_.top_k;
  request.max_new_tokens = config_.max_new_tokens;
  request.stop_token_ids = stop_ids_;
  request.seed = config_.seed * 1000003 + static_cast<uint64_t>(step);
  request.record_mask = keep_mask;
  request.record_routing = keep_routing;
  auto start = std::chrono::steady_clock::now();
  const std::vector<RolloutSample> samples = pool_.generate(request);
  stats->rollout_s = seconds_since(start);
  DSRL_CHECK(static_cast<int64_t>(samples.size()) == G * static_cast<int64_t>(prompts.size()),
             "rollout returned {} samples for {} prompts x {}", samples.size(), prompts.size(), G);
  start = std::chrono::steady_clock::now();
  const std::vector<RewardResult> rewards = score(prompts, samples, G);
  stats->reward_s = seconds_since(start);

  std::vector<GrpoSample> out;
  std::map<std::string, std::pair<double, int64_t>> signals;
  double reward_sum = 0, length_sum = 0;
  int64_t stopped = 0;
  uint64_t oldest = version;
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<size_t> scored;
    std::vector<double> r;
    for (int64_t g = 0; g < G; ++g) {
      const size_t i = p * G + g;
      const RolloutSample& s = samples[i];
      DSRL_CHECK(s.prompt_id == std::to_string(p) && s.sample_index == g, "rollout sample {} is ({}, {}), expected "
                 "({}, {}): samples must come back in request order", i, s.prompt_id, s.sample_index, p, g);
      length_sum += static_cast<double>(s.tokens.size());
      stopped += s.stopped;
      stats->generated_tokens += static_cast<int64_t>(s.tokens.size());
      for (uint64_t v : s.policy_versions) oldest = std::min(oldest, v);
      if (!rewards[i].error.empty()) {
        if (stats->first_reward_error.empty()) stats->first_reward_error = rewards[i].error;
        continue;
      }
      scored.push_back(i);
      r.push_back(rewards[i].total);
      reward_sum += rewards[i].total;
      for (const auto& [name, value] : rewards[i].signals) {
        signals[name].first += value;
        ++signals[name].second;
      }
    }
    stats->scored += static_cast<int64_t>(scored.size());
    ++stats->groups;
    if (scored.size() < 2) {
      ++stats->dropped_groups;
      continue;
    }
    const bool flat = *std::max_element(r.begin(), r.end()) == *std::min_element(r.begin(), r.end());
    stats->zero_variance_groups += flat;
    if (flat && config_.zero_variance == "skip") continue;
    const std::vector<double> advantages = group_advantages(r, config_.std_normalize);
    const GrpoTaskConfig& task = config_.tasks[prompts[p].task];
    for (size_t k = 0; k < scored.size(); ++k) {
      const RolloutSample& s = samples[scored[k]];
      if (s.tokens.empty()) continue;
      GrpoSample t;
      t.prompt = ids[p];
      t.response = s.tokens;
      t.logprobs = s.logprobs;
      t.masks = s.masks;
      t.vocab_size = s.vocab_size;
      t.routes = s.routes;
      t.route_layers = s.route_layers;
      t.experts = s.experts_per_token;
      t.advantage = static_cast<float>(advantages[k]);
      t.kl_beta = static_cast<float>(kl_beta_of(config_, task));
      out.push_back(std::move(t));
    }
  }
  stats->samples = static_cast<int64_t>(samples.size());
  stats->trained = static_cast<int64_t>(out.size());
  stats->reward_mean = stats->scored ? reward_sum / stats->scored : 0;
  stats->length_mean = samples.empty() ? 0 : length_sum / samples.size();
  stats->stopped_share = samples.empty() ? 0 : static_cast<double>(stopped) / samples.size();
  for (const auto& [name, sum] : signals) stats->signal_means[name] = sum.first / std::max<int64_t>(1, sum.second);
  stats->oldest_version = oldest;  // the stage turns it into version_gap against the weights it trains
  return out;
}

EvalStats GrpoCollector::evaluate(const std::vector<GrpoPrompt>& prompts) {
  EvalStats e;
  if (prompts.empty()) return e;
  const std::vector<std::vector<int32_t>> ids = encode(prompts);
  RolloutRequest request;
  for (size_t i = 0; i < prompts.size(); ++i) request.prompts.emplace_back(std::to_string(i), ids[i]);
  request.samples_per_prompt = config_.eval_samples;
  request.temperature = config_.eval_temperature;
  request.top_p = config_.top_p;
  request.vocab_limit = vocab_limit_;
  request.top_k = config_.top_k;
  request.max_new_tokens = config_.max_new_tokens;
  request.stop_token_ids = stop_ids_;
  request.seed = config_.seed + 17;  // the same draws at every evaluation: only the policy changes
  const std::vector<RolloutSample> samples = pool_.generate(request);
  const std::vector<RewardResult> rewards = score(prompts, samples, config_.eval_samples);
  int64_t right = 0;
  double reward_sum = 0, length_sum = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    right += rewards[i].error.empty() && rewards[i].total >= config_.eval_threshold;
    reward_sum += rewards[i].error.empty() ? rewards[i].total : 0;
    length_sum += static_cast<double>(samples[i].tokens.size());
  }
  e.answers = static_cast<int64_t>(samples.size());
  e.accuracy = static_cast<double>(right) / e.answers;
  e.reward_mean = reward_sum / e.answers;
  e.length_mean = length_sum / e.answers;
  return e;
}

}  // namespace dsrl
