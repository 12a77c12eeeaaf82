// run_agents: one AgentRun per conversation, stepped together so each round is one batched generator call.
#include "agent/loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "common/error.h"
#include "common/utf8.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

bool is_policy(const std::string& p) {
  return p == "none" || p == "summary" || p == "discard_75" || p == "discard_all";
}

std::string cut_result(const std::string& text, int64_t max_bytes) {
  if (static_cast<int64_t>(text.size()) <= max_bytes) return text;
  return std::string(utf8_prefix(text, static_cast<size_t>(max_bytes))) +
         fmt::format("\n[cut at {} of {} bytes]", max_bytes, text.size());
}

// [positions][layers][k] (at least `positions` of them) -> [layers][positions][k].
std::vector<uint16_t> layer_major(const std::vector<uint16_t>& pm, int64_t positions, int64_t layers, int64_t k) {
  std::vector<uint16_t> out(static_cast<size_t>(layers * positions * k));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t e = 0; e < k; ++e) out[(l * positions + p) * k + e] = pm[(p * layers + l) * k + e];
  return out;
}

// What one trajectory runs with: the shared tokenizer and settings, its own tools and their prompt.
struct Env {
  const Tokenizer& tokenizer;
  const ToolRegistry& tools;
  const AgentConfig& config;
  ChatOptions chat;
};

Env make_env(const Tokenizer& tokenizer, const ToolRegistry& tools, const AgentConfig& config) {
  ChatOptions chat;
  chat.thinking = config.thinking;
  chat.tools = tools.schemas();
  chat.tools_preamble = config.tools_preamble;
  return {tokenizer, tools, config, chat};
}

class AgentRun {
 public:
  AgentRun(std::vector<ChatMessage> conversation, Env env) : env_(std::move(env)), original_(std::move(conversation)) {
    messages_ = original_;
    start_context(messages_);
    if (too_long()) finish("context_full");
  }
  bool done() const { return done_; }
  // Ends the trajectory on an error (a reply that does not fit its request, say); the others go on.
  void fail(const std::string& what) {
    traj_.error = what;
    finish("error");
  }
  TurnRequest request() const { return {context().tokens, room()}; }
  void accept(const TurnOutput& out);
  AgentTrajectory take();

 private:
  AgentContext& context() { return traj_.contexts.back(); }
  const AgentContext& context() const { return traj_.contexts.back(); }
  int64_t length() const { return static_cast<int64_t>(context().tokens.size()); }
  int64_t room() const { return std::min(env_.config.max_new_tokens, env_.config.context_window - length()); }
  bool too_long() const { return length() >= env_.config.context_window; }
  bool past_trigger() const { return length() > env_.config.context_trigger * env_.config.context_window; }
  void finish(const std::string& why) { traj_.finish = why, done_ = true; }
  // The model's text with stray bytes (a byte token can end inside a character) made U+FFFD, so the messages it
  // becomes always render; the context keeps the tokens exactly as sampled.
  std::string model_text(const std::vector<int32_t>& tokens) const {
    return valid_utf8(env_.tokenizer.decode(tokens));
  }

  void start_context(const std::vector<ChatMessage>& messages);
  void append_fixed(const std::string& text);
  void append_generated(const TurnOutput& out);
  void act(const TurnOutput& out);
  void summarised(const TurnOutput& out);
  void run_calls(const ParsedAssistant& parsed, bool malformed);
  void manage_context();
  void discard_rounds(bool all);

  Env env_;
  std::vector<ChatMessage> original_, messages_;
  AgentTrajectory traj_;
  // Per context: every call returned routes (else the context gets none). While a context is built its routes
  // are position-major [positions][layers][experts]; take() turns them layer-major.
  std::vector<bool> routes_complete_;
  bool summarising_ = false;
  bool done_ = false;
};

void AgentRun::start_context(const std::vector<ChatMessage>& messages) {
  traj_.contexts.emplace_back();
  routes_complete_.push_back(true);
  append_fixed(render_chat(messages, env_.chat));
}

void AgentRun::append_fixed(const std::string& text) {
  const std::vector<int32_t> ids = env_.tokenizer.encode(text);
  AgentContext& c = context();
  c.tokens.insert(c.tokens.end(), ids.begin(), ids.end());
  c.loss_mask.resize(c.tokens.size(), 0);
  c.logprobs.resize(c.tokens.size(), 0.f);
  c.masks.resize(c.tokens.size());
}

// Appends the model's tokens, and the routes of positions no earlier call of this context fed.
void AgentRun::append_generated(const TurnOutput& out) {
  AgentContext& c = context();
  const int64_t before = length(), n = static_cast<int64_t>(out.tokens.size());
  const int64_t fed = before + n - 1, layers = out.route_layers, k = out.experts;
  const bool first_turn_here = c.prompt_tokens() == before;
  if (out.routes.empty() || (!c.routes.empty() && (layers != c.route_layers || k != c.experts))) {
    routes_complete_.back() = false;
  } else if (routes_complete_.back()) {
    c.route_layers = layers, c.experts = k;
    const int64_t have = static_cast<int64_t>(c.routes.size()) / std::max<int64_t>(1, layers * k);
    for (int64_t pos = have; pos < fed; ++pos)
      for (int64_t l = 0; l < layers; ++l)
        for (int64_t e = 0; e < k; ++e) c.routes.push_back(out.routes[(l * fed + pos) * k + e]);
  }
  c.tokens.insert(c.tokens.end(), out.tokens.begin(), out.tokens.end());
  c.loss_mask.resize(c.tokens.size(), 1);
  c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
  for (int64_t t = 0; t < n; ++t) c.masks.push_back(out.masks.empty() ? std::string() : out.masks[t]);
  if (!out.masks.empty()) c.vocab_size = out.vocab_size;
  c.oldest_version = first_turn_here ? out.version : std::min(c.oldest_version, out.version);
  traj_.generated_tokens += n;
}

void AgentRun::accept(const TurnOutput& out) {
  const int64_t n = static_cast<int64_t>(out.tokens.size()), fed = length() + n - 1;
  DSRL_CHECK(n >= 1 && n <= room(), "agent loop: the generator returned {} tokens for a request of at most {}", n,
             room());
  DSRL_CHECK(static_cast<int64_t>(out.logprobs.size()) == n && (out.masks.empty() || static_cast<int64_t>(out.masks.size()) == n),
             "agent loop: {} tokens but {} log-probs and {} masks", n, out.logprobs.size(), out.masks.size());
  DSRL_CHECK(out.routes.empty() || static_cast<int64_t>(out.routes.size()) == out.route_layers * fed * out.experts,
             "agent loop: routing trace of {} ids, expected {} layers x {} positions x {}", out.routes.size(),
             out.route_layers, fed, out.experts);
  const bool window_cut = !out.stopped && room() < env_.config.max_new_tokens;
  append_generated(out);
  if (!summarising_) ++traj_.turns;
  if (!out.stopped) return finish(window_cut ? "context_full" : "length");
  if (summarising_) return summarised(out);
  act(out);
}

void AgentRun::act(const TurnOutput& out) {
  const std::string text = model_text(out.tokens);
  const ParsedAssistant parsed = parse_assistant(text, env_.config.thinking);
  const bool has_calls = !parsed.tool_calls.empty() || text.find("function_calls>") != std::string::npos;
  if (!has_calls) {
    messages_.push_back({"assistant", parsed.content, parsed.reasoning, {}});
    traj_.answer = parsed.content;
    return finish(parsed.ok() ? "answered" : "malformed");
  }
  run_calls(parsed, !parsed.ok());
  if (traj_.turns >= env_.config.max_turns) return finish("max_turns");
  if (past_trigger()) manage_context();
  if (!done_ && too_long()) finish("context_full");
}

// Adds the assistant turn and one tool message per call; a malformed block is answered with an error instead.
void AgentRun::run_calls(const ParsedAssistant& parsed, bool malformed) {
  ChatMessage assistant{"assistant", parsed.content, parsed.reasoning, parsed.tool_calls};
  if (assistant.tool_calls.empty()) assistant.tool_calls.push_back({"invalid", "{}"});
  messages_.push_back(assistant);
  const size_t first_result = messages_.size();
  for (const ToolCall& call : assistant.tool_calls) {
    ToolResult result = malformed ? ToolResult{malformed_call_message(parsed.error), false}
                                  : env_.tools.call(call.name, call.arguments_json);
    ++traj_.tool_calls;
    traj_.tool_errors += result.ok ? 0 : 1;
    messages_.push_back({"tool", cut_result(result.text, env_.config.max_tool_result_bytes), "", {}});
  }
  append_fixed(render_chat_from(messages_, first_result, env_.chat));
}

void AgentRun::manage_context() {
  const std::string& policy = env_.config.context_policy;
  if (policy == "none") return;
  if (traj_.resets >= env_.config.max_resets) return finish("context_full");
  ++traj_.resets;
  if (policy == "summary") {
    std::vector<ChatMessage> ask = messages_;
    ask.push_back({"user", env_.config.summary_request, "", {}});
    summarising_ = true;
    start_context(ask);
    if (too_long()) finish("context_full");  // no room left for the summary
  } else {
    discard_rounds(policy == "discard_all");
    start_context(messages_);
    if (past_trigger()) finish("context_full");  // what is left is still too long
  }
}

// Drops the first tool rounds after the last user message: all of them, or ceil(75%).
void AgentRun::discard_rounds(bool all) {
  size_t user = 0;
  for (size_t i = 0; i < messages_.size(); ++i) if (messages_[i].role == "user") user = i;
  std::vector<size_t> rounds;
  for (size_t i = user + 1; i < messages_.size(); ++i)
    if (messages_[i].role == "assistant" && !messages_[i].tool_calls.empty()) rounds.push_back(i);
  const size_t drop = all ? rounds.size() : static_cast<size_t>(std::ceil(0.75 * static_cast<double>(rounds.size())));
  if (drop == 0) return;
  size_t end = rounds[drop - 1] + 1;
  while (end < messages_.size() && messages_[end].role == "tool") ++end;
  messages_.erase(messages_.begin() + static_cast<std::ptrdiff_t>(rounds[0]), messages_.begin() + static_cast<std::ptrdiff_t>(end));
}

void AgentRun::summarised(const TurnOutput& out) {
  summarising_ = false;
  const ParsedAssistant parsed = parse_assistant(model_text(out.tokens), env_.config.thinking);
  messages_ = original_;
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->role != "user") continue;
    it->content += "\n\nProgress so far (your own summary):\n" + parsed.content;
    break;
  }
  start_context(messages_);
  if (past_trigger()) finish("context_full");
}

AgentTrajectory AgentRun::take() {
  // Trailing tokens the model never saw (a tool result after the last call) are dropped, so each context ends
  // with a model token and the routes cover every fed position; a context without model tokens is dropped.
  std::vector<AgentContext> kept;
  for (size_t i = 0; i < traj_.contexts.size(); ++i) {
    AgentContext& c = traj_.contexts[i];
    size_t end = c.tokens.size();
    while (end > 0 && !c.loss_mask[end - 1]) --end;
    if (end == 0) continue;
    c.tokens.resize(end), c.loss_mask.resize(end), c.logprobs.resize(end), c.masks.resize(end);
    c.routes = routes_complete_[i] ? layer_major(c.routes, static_cast<int64_t>(end) - 1, c.route_layers, c.experts)
                                   : std::vector<uint16_t>();
    if (c.routes.empty()) c.route_layers = c.experts = 0;
    kept.push_back(std::move(c));
  }
  traj_.contexts = std::move(kept);
  traj_.messages = messages_;
  return std::move(traj_);
}

}  // namespace

int64_t AgentContext::prompt_tokens() const {
  const auto first = std::find(loss_mask.begin(), loss_mask.end(), 1);
  return static_cast<int64_t>(first - loss_mask.begin());
}

void validate(const AgentConfig& c, const std::string& where) {
  DSRL_CHECK(c.max_turns >= 1, "{}.max_turns must be >= 1, got {}", where, c.max_turns);
  DSRL_CHECK(c.context_window >= 2, "{}.context_window must be >= 2, got {}", where, c.context_window);
  DSRL_CHECK(c.max_new_tokens >= 1, "{}.max_new_tokens must be >= 1, got {}", where, c.max_new_tokens);
  DSRL_CHECK(c.max_tool_result_bytes >= 1, "{}.max_tool_result_bytes must be >= 1, got {}", where,
             c.max_tool_result_bytes);
  DSRL_CHECK(is_policy(c.context_policy), "{}.context_policy must be none, summary, discard_75 or discard_all, got '{}'",
             where, c.context_policy);
  DSRL_CHECK(c.context_trigger > 0 && c.context_trigger <= 1, "{}.context_trigger must be in (0, 1], got {}", where,
             c.context_trigger);
  DSRL_CHECK(c.max_resets >= 0, "{}.max_resets must be >= 0, got {}", where, c.max_resets);
}

std::string malformed_call_message(const std::string& parse_error) {
  return "error: your tool call could not be parsed (" + parse_error +
         "). Write each call as an invoke block inside function_calls, one parameter element per argument, as the "
         "Tools section shows.";
}

std::vector<AgentTrajectory> run_agents(const std::vector<std::vector<ChatMessage>>& conversations,
                                        const Tokenizer& tokenizer, const ToolRegistry& tools,
                                        const AgentConfig& config, const TurnGenerator& generate) {
  return run_agents(conversations, tokenizer, std::vector<const ToolRegistry*>(conversations.size(), &tools), config,
                    generate);
}

std::vector<AgentTrajectory> run_agents(const std::vector<std::vector<ChatMessage>>& conversations,
                                        const Tokenizer& tokenizer, const std::vector<const ToolRegistry*>& tools,
                                        const AgentConfig& config, const TurnGenerator& generate) {
  validate(config, "agent");
  DSRL_CHECK(tools.size() == conversations.size(), "run_agents: {} tool registries for {} conversations",
             tools.size(), conversations.size());
  std::vector<AgentRun> runs;
  runs.reserve(conversations.size());
  for (size_t i = 0; i < conversations.size(); ++i)
    runs.emplace_back(conversations[i], make_env(tokenizer, *tools[i], config));
  for (;;) {
    std::vector<size_t> active;
    std::vector<TurnRequest> requests;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].done()) continue;
      active.push_back(i);
      requests.push_back(runs[i].request());
    }
    if (active.empty()) break;
    const std::vector<TurnOutput> outputs = generate(requests);
    DSRL_CHECK(outputs.size() == requests.size(), "agent loop: the generator returned {} outputs for {} requests",
               outputs.size(), requests.size());
    // Tool calls (a python run takes up to its wall-clock limit) go on in parallel across trajectories.
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t k; (k = next++) < active.size();) {
        try {
          runs[active[k]].accept(outputs[k]);
        } catch (const std::exception& e) {
          runs[active[k]].fail(e.what());
        }
      }
    };
    std::vector<std::thread> threads;
    const size_t workers = std::min<size_t>(8, active.size());
    for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
  }
  std::vector<AgentTrajectory> out;
  for (auto& r : runs) out.push_back(r.take());
  return out;
}

}  // namespace dsrl
