#include "trainer/grpo_collect.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "agent/bm25.h"
#include "agent/calculator.h"
#include "agent/code_tasks.h"
#include "agent/loop.h"
#include "agent/multihop.h"
#include "agent/python_tool.h"
#include "agent/records.h"
#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/utf8.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A rollout sample as the agent loop takes it (plain completions use it too).
TurnOutput turn_output(RolloutSample&& s) {
  TurnOutput o;
  o.tokens = std::move(s.tokens);
  o.logprobs = std::move(s.logprobs);
  o.masks = std::move(s.masks);
  o.vocab_size = s.vocab_size;
  o.routes = std::move(s.routes);
  o.route_layers = s.route_layers;
  o.experts = s.experts_per_token;
  o.stopped = s.stopped;
  o.version = s.policy_versions.empty() ? 0 : *std::min_element(s.policy_versions.begin(), s.policy_versions.end());
  return o;
}

// A plain completion as a trained sequence.
GrpoSample completion_sample(const std::vector<int32_t>& prompt, TurnOutput&& o) {
  GrpoSample s;
  s.prompt = prompt;
  s.response = std::move(o.tokens);
  s.logprobs = std::move(o.logprobs);
  s.masks = std::move(o.masks);
  s.vocab_size = o.vocab_size;
  s.routes = std::move(o.routes);
  s.route_layers = o.route_layers;
  s.experts = o.experts;
  return s;
}

// One context of a trajectory as a trained sequence: the tokens before the model's first one are the prompt.
GrpoSample context_sample(const AgentContext& c) {
  const auto P = static_cast<std::ptrdiff_t>(c.prompt_tokens());
  GrpoSample s;
  s.prompt.assign(c.tokens.begin(), c.tokens.begin() + P);
  s.response.assign(c.tokens.begin() + P, c.tokens.end());
  s.loss_mask.assign(c.loss_mask.begin() + P, c.loss_mask.end());
  s.logprobs.assign(c.logprobs.begin() + P, c.logprobs.end());
  if (c.vocab_size > 0) s.masks.assign(c.masks.begin() + P, c.masks.end());
  s.vocab_size = c.vocab_size;
  s.routes = c.routes;
  s.route_layers = c.route_layers;
  s.experts = c.experts;
  return s;
}

// The trajectory's account for agent_trajectories.jsonl (the answer cut to 200 bytes).
nlohmann::json agent_log(const AgentTrajectory& t) {
  return {{"turns", t.turns}, {"tool_calls", t.tool_calls}, {"tool_errors", t.tool_errors}, {"resets", t.resets},
          {"contexts", t.contexts.size()}, {"finish", t.finish}, {"error", t.error},
          {"answer", valid_utf8(utf8_prefix(t.answer, 200))}};
}

// The paths a trajectory created, changed or (never, the tools cannot) removed in its workspace.
std::vector<std::string> changed_files(const std::map<std::string, std::string>& before,
                                       const std::map<std::string, std::string>& after) {
  std::vector<std::string> out;
  for (const auto& [path, content] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != content) out.push_back(path);
  }
  return out;
}

void add_up(AgentStats* a, const AgentTrajectory& t) {
  ++a->trajectories;
  a->turns += static_cast<double>(t.turns);
  a->tool_calls += static_cast<double>(t.tool_calls);
  a->tool_errors += static_cast<double>(t.tool_errors);
  a->resets += static_cast<double>(t.resets);
  a->contexts += static_cast<double>(t.contexts.size());
  a->answered += t.finish == "answered";
  a->context_full += t.finish == "context_full";
  a->errors += t.finish == "error";
}

void to_means(AgentStats* a) {
  const double n = static_cast<double>(std::max<int64_t>(1, a->trajectories));
  for (double* v : {&a->turns, &a->tool_calls, &a->tool_errors, &a->resets, &a->contexts, &a->answered,
                    &a->context_full, &a->errors})
    *v /= n;
}

}  // namespace

int64_t sampling_vocab_limit(const std::string& tokenizer, int64_t model_vocab) {
  const int64_t ids = load_tokenizer(tokenizer)->vocab_size();
  if (ids > model_vocab)
    throw ConfigError(fmt::format("tokenizer '{}' has {} ids but the model's vocab_size is {}: the model cannot "
                                  "embed every token (wrong tokenizer for this model?)", tokenizer, ids, model_vocab));
  return ids < model_vocab ? ids : 0;
}

// The tools of grpo.agent: the ones all trajectories share (and the corpus index search and open read), and
// whether each trajectory also gets the workspace tools over its own copy of its task's files.
struct GrpoCollector::Toolbox {
  std::vector<std::string> names;            // grpo.agent.tools, in the order the prompt lists them
  std::unique_ptr<Bm25Index> index;
  std::unique_ptr<PythonTool> python;        // the python tool's and run_tests' interpreter (checked once)
  std::map<std::string, std::unique_ptr<Tool>> shared;  // calculator, search, open

  explicit Toolbox(const GrpoAgentConfig& c) : names(c.tools) {
    if (!c.corpus.empty()) index = std::make_unique<Bm25Index>(read_corpus(c.corpus));
    for (const std::string& name : c.tools) {
      if (name == "calculator") shared[name] = std::make_unique<CalculatorTool>();
      else if (name == "search") shared[name] = std::make_unique<SearchTool>(*index, c.search_results);
      else if (name == "open") shared[name] = std::make_unique<OpenTool>(*index, c.open_max_bytes);
      else if (name != "python" && name != "workspace" && name != "records")
        DSRL_FAIL("grpo.agent.tools: unknown tool '{}'", name);
      if ((name == "python" || name == "workspace") && !python) python = std::make_unique<PythonTool>(c.python);
    }
  }
  // Whether trajectories can change their files (then the reward gets them).
  bool has_workspace() const { return std::count(names.begin(), names.end(), "workspace") > 0; }

  // One trajectory's tools, the workspace's over its own `files`.
  ToolRegistry registry(Workspace& files) const {
    ToolRegistry r;
    for (const std::string& name : names) {
      if (name == "python") r.add(borrow_tool(*python));
      else if (name == "workspace") add_workspace_tools(r, files, *python);
      else if (name == "records") add_records_tools(r, files);
      else r.add(borrow_tool(*shared.at(name)));
    }
    return r;
  }
};

GrpoCollector::GrpoCollector(const GrpoConfig& config, const std::string& tokenizer, int64_t vocab_limit)
    : config_(config),
      tokenizer_(load_tokenizer(tokenizer)),
      vocab_limit_(vocab_limit),
      pool_(config.rollout_endpoints, RolloutPoolOptions{config.rollout_deadline_s, config.retries}),
      reward_(config.reward_endpoint, config.reward_deadline_s, config.retries, 1.0) {
  const auto eos = tokenizer_->token_id("<｜end▁of▁sentence｜>");
  DSRL_CHECK(eos.has_value(), "tokenizer '{}' has no <｜end▁of▁sentence｜> token to stop generation at", tokenizer);
  stop_ids_ = {*eos};
  if (config.agent.enabled) {
    validate(config.agent.loop, "grpo.agent");
    tools_ = std::make_unique<Toolbox>(config.agent);
    logger("trainer")->info("agent rollouts: tools {}, corpus {} ({} documents), context policy {}",
                            fmt::join(config.agent.tools, ", "), config.agent.corpus.empty() ? "-" : config.agent.corpus,
                            tools_->index ? tools_->index->documents().size() : 0, config.agent.loop.context_policy);
  }
}

GrpoCollector::~GrpoCollector() = default;

RolloutRequest GrpoCollector::request(const Sampling& s) const {
  RolloutRequest r;
  r.samples_per_prompt = s.per_prompt;
  r.temperature = s.temperature;
  r.top_p = config_.top_p;
  r.top_k = config_.top_k;
  r.vocab_limit = vocab_limit_;
  r.max_new_tokens = s.max_new_tokens > 0 ? s.max_new_tokens : config_.max_new_tokens;
  r.stop_token_ids = stop_ids_;
  r.seed = s.seed;
  r.record_mask = s.record_mask;
  r.record_routing = s.record_routing;
  return r;
}

// Plain rollouts: G completions of each prompt, in one Generate call over the pool.
std::vector<GrpoCollector::Episode> GrpoCollector::completions(const std::vector<GrpoPrompt>& prompts,
                                                               const Sampling& s) {
  RolloutRequest r = request(s);
  std::vector<std::vector<int32_t>> ids;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ids.push_back(tokenizer_->encode(prompts[i].text));
    r.prompts.emplace_back(std::to_string(i), ids.back());
  }
  std::vector<RolloutSample> samples = pool_.generate(r);
  DSRL_CHECK(samples.size() == prompts.size() * static_cast<size_t>(s.per_prompt),
             "rollout returned {} samples for {} prompts x {}", samples.size(), prompts.size(), s.per_prompt);
  std::vector<Episode> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    RolloutSample& x = samples[i];
    const size_t p = i / static_cast<size_t>(s.per_prompt);
    const auto g = static_cast<int64_t>(i % static_cast<size_t>(s.per_prompt));
    DSRL_CHECK(x.prompt_id == std::to_string(p) && x.sample_index == g, "rollout sample {} is ({}, {}), expected "
               "({}, {}): samples must come back in request order", i, x.prompt_id, x.sample_index, p, g);
    TurnOutput o = turn_output(std::move(x));
    Episode e;
    // The text the model wrote, without the stop token that ended it; sampled bytes may break a character.
    const auto text_end = o.tokens.end() - (o.stopped && !o.tokens.empty() ? 1 : 0);
    e.response = valid_utf8(tokenizer_->decode(std::vector<int32_t>(o.tokens.begin(), text_end)));
    e.response_tokens = static_cast<int64_t>(o.tokens.size());
    e.stopped = o.stopped;
    e.oldest_version = o.version;
    if (!o.tokens.empty()) e.pieces.push_back(completion_sample(ids[p], std::move(o)));
    out.push_back(std::move(e));
  }
  return out;
}

// Agent rollouts: G trajectories of each prompt through the agent loop; each round of turns is one Generate call
// per distinct token budget.
std::vector<GrpoCollector::Episode> GrpoCollector::trajectories(const std::vector<GrpoPrompt>& prompts,
                                                                const Sampling& s, AgentStats* stats) {
  const GrpoAgentConfig& a = config_.agent;
  std::vector<std::vector<ChatMessage>> conversations;
  std::vector<Workspace> workspaces;  // each trajectory edits its own copy of its task's files
  for (const GrpoPrompt& p : prompts) {
    std::vector<ChatMessage> c;
    if (!a.system_prompt.empty()) c.push_back({"system", a.system_prompt, "", {}});
    c.push_back({"user", p.user, "", {}});
    for (int64_t g = 0; g < s.per_prompt; ++g) {
      conversations.push_back(c);
      workspaces.emplace_back().files = p.files;
    }
  }
  uint64_t round = 0;
  const TurnGenerator generate = [&](const std::vector<TurnRequest>& turns) {
    std::map<int64_t, std::vector<size_t>> by_budget;
    for (size_t i = 0; i < turns.size(); ++i) by_budget[turns[i].max_new_tokens].push_back(i);
    std::vector<TurnOutput> out(turns.size());
    for (const auto& [budget, which] : by_budget) {
      Sampling one = s;
      one.per_prompt = 1;
      one.seed = s.seed + 7919 * ++round;  // every round draws afresh
      RolloutRequest r = request(one);
      r.max_new_tokens = budget;
      for (size_t k : which) r.prompts.emplace_back(std::to_string(k), turns[k].context);
      std::vector<RolloutSample> samples = pool_.generate(r);
      DSRL_CHECK(samples.size() == which.size(), "rollout returned {} samples for {} agent turns", samples.size(),
                 which.size());
      for (size_t j = 0; j < which.size(); ++j) out[which[j]] = turn_output(std::move(samples[j]));
    }
    return out;
  };
  std::vector<ToolRegistry> registries;
  std::vector<const ToolRegistry*> tools;
  registries.reserve(workspaces.size());
  for (Workspace& w : workspaces) tools.push_back(&registries.emplace_back(tools_->registry(w)));
  std::vector<AgentTrajectory> done = run_agents(conversations, *tokenizer_, tools, a.loop, generate);
  std::vector<Episode> out;
  for (size_t i = 0; i < done.size(); ++i) {
    AgentTrajectory& t = done[i];
    add_up(stats, t);
    Episode e;
    nlohmann::json log = agent_log(t);
    if (tools_->has_workspace()) {
      e.files = std::move(workspaces[i].files);
      log["changed_files"] = changed_files(prompts[i / static_cast<size_t>(s.per_prompt)].files, e.files);
    }
    e.agent_log = log.dump();
    e.response = valid_utf8(t.answer);
    e.response_tokens = t.generated_tokens;
    e.stopped = t.finish == "answered";
    e.oldest_version = UINT64_MAX;
    for (const AgentContext& c : t.contexts) {
      e.oldest_version = std::min(e.oldest_version, c.oldest_version);
      e.pieces.push_back(context_sample(c));
    }
    if (t.contexts.empty()) e.oldest_version = 0;
    if (t.finish == "error") {
      e.error = "agent trajectory: " + t.error;
      e.pieces.clear();
    }
    out.push_back(std::move(e));
  }
  to_means(stats);
  return out;
}

std::vector<GrpoCollector::Episode> GrpoCollector::episodes(const std::vector<GrpoPrompt>& prompts, const Sampling& s,
                                                            AgentStats* stats) {
  return config_.agent.enabled ? trajectories(prompts, s, stats) : completions(prompts, s);
}

std::vector<RewardResult> GrpoCollector::score(const std::vector<GrpoPrompt>& prompts,
                                               const std::vector<Episode>& episodes, int64_t per_prompt) {
  std::vector<RewardRequestItem> items;
  for (size_t i = 0; i < episodes.size(); ++i) {
    const GrpoPrompt& p = prompts[i / per_prompt];
    RewardRequestItem item;
    item.id = std::to_string(i);
    item.task_type = config_.tasks[p.task].task_type;
    item.prompt = p.user;
    item.response = episodes[i].response;
    item.reference_answer = p.answer;
    item.rubric = p.rubric;
    item.response_tokens = episodes[i].response_tokens;
    item.files = episodes[i].files;
    items.push_back(std::move(item));
  }
  return reward_.score(items);
}

std::vector<GrpoSample> GrpoCollector::collect(PromptMixture& mixture, int64_t step, uint64_t version,
                                               bool keep_mask, bool keep_routing, CollectStats* stats) {
  const int64_t G = config_.samples_per_prompt;
  const std::vector<GrpoPrompt> prompts = mixture.next(config_.prompts_per_step);
  const Sampling sampling{config_.temperature, G, config_.seed * 1000003 + static_cast<uint64_t>(step), keep_mask,
                          keep_routing};
  auto start = std::chrono::steady_clock::now();
  std::vector<Episode> answers = episodes(prompts, sampling, &stats->agent);
  stats->rollout_s = seconds_since(start);
  start = std::chrono::steady_clock::now();
  const std::vector<RewardResult> rewards = score(prompts, answers, G);
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
      const Episode& e = answers[i];
      if (!e.agent_log.empty()) {
        nlohmann::json line = nlohmann::json::parse(e.agent_log);
        line["step"] = step, line["prompt"] = p, line["sample"] = g;
        if (rewards[i].error.empty()) line["reward"] = rewards[i].total;
        stats->trajectory_lines.push_back(line.dump());
      }
      length_sum += static_cast<double>(e.response_tokens);
      stopped += e.stopped;
      stats->generated_tokens += e.response_tokens;
      if (!e.pieces.empty()) oldest = std::min(oldest, e.oldest_version);
      const std::string& error = e.error.empty() ? rewards[i].error : e.error;
      if (!error.empty()) {
        if (stats->first_reward_error.empty()) stats->first_reward_error = error;
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
      for (GrpoSample& t : answers[scored[k]].pieces) {
        t.advantage = static_cast<float>(advantages[k]);
        t.kl_beta = static_cast<float>(kl_beta_of(config_, task));
        out.push_back(std::move(t));
      }
    }
  }
  stats->samples = static_cast<int64_t>(answers.size());
  stats->trained = static_cast<int64_t>(out.size());
  stats->reward_mean = stats->scored ? reward_sum / stats->scored : 0;
  stats->length_mean = answers.empty() ? 0 : length_sum / answers.size();
  stats->stopped_share = answers.empty() ? 0 : static_cast<double>(stopped) / answers.size();
  for (const auto& [name, sum] : signals) stats->signal_means[name] = sum.first / std::max<int64_t>(1, sum.second);
  stats->oldest_version = oldest;  // the stage turns it into version_gap against the weights it trains
  return out;
}

std::vector<PassCount> GrpoCollector::pass_counts(const std::vector<GrpoPrompt>& prompts, int64_t k,
                                                  double threshold, uint64_t seed, AgentStats* stats) {
  const std::vector<ScoredAnswer> answers = scored_answers(prompts, k, config_.temperature, seed, stats);
  std::vector<PassCount> out(prompts.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    PassCount& p = out[i / static_cast<size_t>(k)];
    const RewardResult& reward = answers[i].reward;
    if (p.answers.size() < 3) p.answers.push_back(valid_utf8(utf8_prefix(answers[i].response, 200)));
    if (!reward.error.empty()) {
      if (p.first_error.empty()) p.first_error = reward.error;
      continue;
    }
    ++p.scored;
    p.rewards.push_back(reward.total);
    p.passes += reward.total >= threshold;
  }
  return out;
}

std::vector<std::string> GrpoCollector::completion_texts(const std::vector<GrpoPrompt>& prompts, int64_t per_prompt,
                                                         double temperature, int64_t max_new_tokens,
                                                         uint64_t seed) {
  std::vector<std::string> out;
  for (Episode& e : completions(prompts, {temperature, per_prompt, seed, false, false, max_new_tokens}))
    out.push_back(std::move(e.response));
  return out;
}

std::vector<ScoredAnswer> GrpoCollector::scored_answers(const std::vector<GrpoPrompt>& prompts, int64_t per_prompt,
                                                        double temperature, uint64_t seed, AgentStats* stats) {
  AgentStats agent;
  const std::vector<Episode> answers =
      episodes(prompts, {temperature, per_prompt, seed, false, false}, stats ? stats : &agent);
  const std::vector<RewardResult> rewards = score(prompts, answers, per_prompt);
  std::vector<ScoredAnswer> out;
  for (size_t i = 0; i < answers.size(); ++i) {
    out.push_back({answers[i].response, rewards[i]});
    if (!answers[i].error.empty()) out.back().reward.error = answers[i].error;
  }
  return out;
}

EvalStats GrpoCollector::evaluate(const std::vector<GrpoPrompt>& prompts) {
  EvalStats e;
  if (prompts.empty()) return e;
  // The same draws at every evaluation: only the policy changes.
  const Sampling sampling{config_.eval_temperature, config_.eval_samples, config_.seed + 17, false, false};
  const std::vector<Episode> answers = episodes(prompts, sampling, &e.agent);
  const std::vector<RewardResult> rewards = score(prompts, answers, config_.eval_samples);
  int64_t right = 0;
  double reward_sum = 0, length_sum = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    const bool scored = rewards[i].error.empty() && answers[i].error.empty();
    right += scored && rewards[i].total >= config_.eval_threshold;
    reward_sum += scored ? rewards[i].total : 0;
    length_sum += static_cast<double>(answers[i].response_tokens);
  }
  e.answers = static_cast<int64_t>(answers.size());
  e.accuracy = static_cast<double>(right) / e.answers;
  e.reward_mean = reward_sum / e.answers;
  e.length_mean = length_sum / e.answers;
  return e;
}

}  // namespace dsrl
