// The agent loop with a scripted policy over the byte tokenizer: what the model sees at every turn is what the
// chat rules render (thinking retained across tool turns, dropped for a new user message), the trainer's tokens
// with loss mask 1 are exactly the generated ones, routes come from the first call that fed each position, a
// malformed call is answered with an error, and each context policy keeps the window and makes its edit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "agent/calculator.h"
#include "agent/loop.h"
#include "common/error.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

const Tokenizer& bytes() {
  static const auto t = make_byte_tokenizer();
  return *t;
}

int64_t count(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The text a model writes for `message` (reasoning</think>content calls<eos>), as the format renders it.
std::string written(const ChatMessage& message) {
  std::vector<ChatMessage> messages = {{"user", "x", "", {}}, message};
  for (size_t k = 0; k < message.tool_calls.size(); ++k) messages.push_back({"tool", "", "", {}});
  return render_chat_message(messages, 1, ChatOptions());
}

ChatMessage call(const std::string& reasoning, const std::string& tool, const std::string& args) {
  return {"assistant", "", reasoning, {{tool, args}}};
}

// A policy that writes `next(context text)` and records every request; log-probs and routes carry the call
// number so the test can tell where each value came from.
struct ScriptedPolicy {
  std::function<ChatMessage(const std::string&)> next;
  std::vector<TurnRequest> requests;
  std::vector<TurnOutput> outputs;
  int64_t layers = 2, experts = 2;

  std::vector<TurnOutput> operator()(const std::vector<TurnRequest>& batch) {
    std::vector<TurnOutput> out;
    for (const TurnRequest& r : batch) {
      const int64_t id = static_cast<int64_t>(requests.size());
      requests.push_back(r);
      TurnOutput o;
      o.tokens = bytes().encode(written(next(bytes().decode(r.context))));
      o.stopped = true;
      if (static_cast<int64_t>(o.tokens.size()) > r.max_new_tokens) {
        o.tokens.resize(r.max_new_tokens);
        o.stopped = false;
      }
      for (size_t t = 0; t < o.tokens.size(); ++t) o.logprobs.push_back(-0.001f * (id * 1000 + t + 1));
      const int64_t fed = static_cast<int64_t>(r.context.size() + o.tokens.size()) - 1;
      o.route_layers = layers, o.experts = experts;
      for (int64_t l = 0; l < layers; ++l)
        for (int64_t p = 0; p < fed; ++p)
          for (int64_t e = 0; e < experts; ++e) o.routes.push_back(static_cast<uint16_t>(id * 100 + l * 10 + e));
      o.version = 7 + id;
      outputs.push_back(o);
      out.push_back(o);
    }
    return out;
  }
};

std::vector<ChatMessage> question(const std::string& q) {
  return {{"system", "You are careful.", "", {}}, {"user", q, "", {}}};
}

ToolRegistry calculator_only() {
  ToolRegistry tools;
  tools.add(std::make_unique<CalculatorTool>());
  return tools;
}

TEST(AgentLoop, ModelSeesWhatTheRulesRenderAndTrainerScoresExactlyItsTokens) {
  const ToolRegistry tools = calculator_only();
  const std::vector<ChatMessage> script = {
      call("I need 6*7 first.", "calculator", R"({"expression": "6*7"})"),
      call("It is 42; now add 1.", "calculator", R"({"expression": "42+1"})"),
      {"assistant", "The answer is 43.", "Both steps done.", {}}};
  ScriptedPolicy policy;
  policy.next = [&](const std::string& context) { return script[count(context, "<result>")]; };
  AgentConfig config;
  const std::vector<std::vector<ChatMessage>> conversations(3, question("What is 6*7 plus 1?"));
  const std::vector<AgentTrajectory> out =
      run_agents(conversations, bytes(), tools, config, std::ref(policy));

  // What the rules say the model sees before turn k: the conversation so far, reasoning of earlier tool turns kept.
  ChatOptions chat;
  chat.tools = tools.schemas();
  std::vector<std::vector<ChatMessage>> expected(3, question("What is 6*7 plus 1?"));
  expected[1] = expected[0];
  expected[1].push_back(script[0]);
  expected[1].push_back({"tool", "42", "", {}});
  expected[2] = expected[1];
  expected[2].push_back(script[1]);
  expected[2].push_back({"tool", "43", "", {}});
  ASSERT_EQ(policy.requests.size(), 9u) << "3 turns x 3 trajectories, batched per turn";
  for (size_t r = 0; r < policy.requests.size(); ++r) {
    const size_t turn = r / 3;
    EXPECT_EQ(policy.requests[r].context, bytes().encode(render_chat(expected[turn], chat))) << "request " << r;
  }
  EXPECT_NE(bytes().decode(policy.requests[8].context).find("I need 6*7 first.</think>"), std::string::npos)
      << "tool turns keep earlier reasoning";

  for (size_t i = 0; i < out.size(); ++i) {
    const AgentTrajectory& t = out[i];
    EXPECT_EQ(t.finish, "answered");
    EXPECT_EQ(t.answer, "The answer is 43.");
    EXPECT_EQ(t.turns, 3);
    EXPECT_EQ(t.tool_calls, 2);
    EXPECT_EQ(t.tool_errors, 0);
    ASSERT_EQ(t.contexts.size(), 1u);
    const AgentContext& c = t.contexts[0];
    std::vector<ChatMessage> all = expected[2];
    all.push_back(script[2]);
    EXPECT_EQ(c.tokens, bytes().encode(render_chat(all, chat)));
    // Loss mask 1 exactly on the generated tokens, with their log-probs and in order.
    std::vector<int32_t> scored, generated;
    std::vector<float> scored_lp, generated_lp;
    for (size_t p = 0; p < c.tokens.size(); ++p) {
      if (c.loss_mask[p]) scored.push_back(c.tokens[p]), scored_lp.push_back(c.logprobs[p]);
      else EXPECT_EQ(c.logprobs[p], 0.f);
    }
    for (size_t turn = 0; turn < 3; ++turn) {
      const TurnOutput& o = policy.outputs[turn * 3 + i];
      generated.insert(generated.end(), o.tokens.begin(), o.tokens.end());
      generated_lp.insert(generated_lp.end(), o.logprobs.begin(), o.logprobs.end());
    }
    EXPECT_EQ(scored, generated);
    EXPECT_EQ(scored_lp, generated_lp);
    EXPECT_EQ(c.prompt_tokens(), static_cast<int64_t>(policy.requests[i].context.size()));
    EXPECT_EQ(c.oldest_version, 7u + i);
    // Routes: [layers, tokens - 1, experts], each position from the first call that fed it.
    ASSERT_EQ(c.route_layers, 2);
    const int64_t fed = static_cast<int64_t>(c.tokens.size()) - 1;
    ASSERT_EQ(static_cast<int64_t>(c.routes.size()), 2 * fed * 2);
    for (int64_t p = 0; p < fed; ++p) {
      size_t first = 0;
      while (p >= static_cast<int64_t>(policy.requests[first * 3 + i].context.size() +
                                        policy.outputs[first * 3 + i].tokens.size()) - 1) ++first;
      EXPECT_EQ(c.routes[(1 * fed + p) * 2 + 1], (first * 3 + i) * 100 + 11) << "position " << p;
    }
  }
}

TEST(AgentLoop, AMalformedCallIsAnsweredWithAnErrorTheModelReads) {
  const ToolRegistry tools = calculator_only();
  ScriptedPolicy policy;
  policy.next = [&](const std::string& context) -> ChatMessage {
    if (count(context, "<result>") == 0) return call("Try.", "calculator", R"({"expression": "6*"})");
    return {"assistant", "I could not compute it.", "The call failed.", {}};
  };
  AgentConfig config;
  TurnGenerator broken = [&](const std::vector<TurnRequest>& batch) {
    std::vector<TurnOutput> out = policy(batch);
    for (TurnOutput& o : out) {
      std::string text = bytes().decode(o.tokens);
      // Make the markup malformed: a non-string parameter whose value is not JSON.
      const std::string from = "string=\"true\">6*<", to = "string=\"false\">6*<";
      const size_t at = text.find(from);
      if (at == std::string::npos) continue;
      text.replace(at, from.size(), to);
      o.tokens = bytes().encode(text);
      o.logprobs.assign(o.tokens.size(), -0.5f);
      o.routes.clear();
    }
    return out;
  };
  const auto out = run_agents({question("6 times what?")}, bytes(), tools, config, broken);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].finish, "answered");
  EXPECT_EQ(out[0].tool_calls, 1);
  EXPECT_EQ(out[0].tool_errors, 1);
  ASSERT_EQ(policy.requests.size(), 2u);
  const std::string seen = bytes().decode(policy.requests[1].context);
  EXPECT_NE(seen.find("<result>error: your tool call could not be parsed"), std::string::npos) << seen;
  EXPECT_TRUE(out[0].contexts[0].routes.empty()) << "a call without routes leaves the context without routes";
}

// A byte token can end inside a character: a call whose argument holds a broken character still renders (the
// messages hold U+FFFD; the context keeps the sampled bytes) and the tool gets the repaired text.
TEST(AgentLoop, BrokenUtf8InACallIsRepairedNotFatal) {
  ToolRegistry tools;
  tools.add(std::make_unique<CalculatorTool>());
  ScriptedPolicy policy;
  policy.next = [&](const std::string& context) -> ChatMessage {
    if (count(context, "<result>") == 0) return call("", "calculator", R"({"expression": "1+1 XX"})");
    return {"assistant", "done", "", {}};
  };
  TurnGenerator broken = [&](const std::vector<TurnRequest>& batch) {
    std::vector<TurnOutput> out = policy(batch);
    for (TurnOutput& o : out) {
      std::string text = bytes().decode(o.tokens);
      const size_t at = text.find("XX");
      if (at == std::string::npos) continue;
      text.replace(at, 2, "\xC3");  // the first byte of a two-byte character, alone
      const size_t n = o.tokens.size();
      o.tokens = bytes().encode(text);
      o.logprobs.resize(o.tokens.size(), -1.f);
      o.routes.clear();
      EXPECT_EQ(o.tokens.size(), n - 1);
    }
    return out;
  };
  const auto out = run_agents({question("1+1?")}, bytes(), tools, AgentConfig(), broken);
  EXPECT_EQ(out[0].finish, "answered") << out[0].error;
  EXPECT_NE(bytes().decode(policy.requests[1].context).find("\xEF\xBF\xBD"), std::string::npos)
      << "the model read the error for its repaired expression";
  EXPECT_NE(out[0].contexts[0].tokens.end(),
            std::find(out[0].contexts[0].tokens.begin(), out[0].contexts[0].tokens.end(), 0xC3))
      << "the context keeps the sampled byte";
}

// An output that does not fit its request ends that trajectory with an error; the others go on.
TEST(AgentLoop, AnOutputThatDoesNotFitEndsOnlyItsTrajectory) {
  const ToolRegistry tools = calculator_only();
  ScriptedPolicy policy;
  policy.next = [](const std::string&) { return ChatMessage{"assistant", "4", "", {}}; };
  TurnGenerator short_logprobs = [&](const std::vector<TurnRequest>& batch) {
    std::vector<TurnOutput> out = policy(batch);
    out[1].logprobs.pop_back();
    return out;
  };
  const auto out = run_agents({question("2+2?"), question("2+2?")}, bytes(), tools, AgentConfig(), short_logprobs);
  EXPECT_EQ(out[0].finish, "answered");
  EXPECT_EQ(out[1].finish, "error");
  EXPECT_NE(out[1].error.find("log-probs"), std::string::npos) << out[1].error;
}

// A tool returning a long page, so a few rounds fill the window.
class PageTool : public Tool {
 public:
  std::string name() const override { return "page"; }
  std::string schema_json() const override { return tool_schema("page", "Reads the next page.", {}); }
  ToolResult call(const std::string&) override {
    return {"page " + std::to_string(++calls_) + " " + std::string(300, 'x'), true};
  }

 private:
  int calls_ = 0;
};

constexpr int64_t kWindow = 3000;

struct PolicyRun {
  AgentTrajectory trajectory;
  ScriptedPolicy policy;
};

// A searcher that reads pages forever (and writes a summary when asked), in a 3,000-token window (the system
// prompt with the tool schema takes about 730, a round about 400).
PolicyRun run_policy(const std::string& policy_name, int64_t max_turns) {
  ToolRegistry tools;
  tools.add(std::make_unique<PageTool>());
  AgentConfig config;
  config.context_window = kWindow;
  config.max_new_tokens = 200;
  config.max_turns = max_turns;
  config.context_policy = policy_name;
  config.max_resets = 10;
  PolicyRun run;
  int round = 0;
  run.policy.next = [&](const std::string& context) -> ChatMessage {
    if (context.find(config.summary_request) != std::string::npos)
      return {"assistant", "Read pages up to " + std::to_string(round) + ".", "Summarising.", {}};
    ++round;
    return call("thinking round " + std::to_string(round), "page", "{}");
  };
  run.trajectory = std::move(run_agents({question("Find the last page.")}, bytes(), tools, config,
                                        std::ref(run.policy))[0]);
  for (const TurnRequest& r : run.policy.requests)
    EXPECT_LE(static_cast<int64_t>(r.context.size()) + r.max_new_tokens, kWindow) << policy_name << ": a request past the window";
  return run;
}

TEST(ContextPolicy, NoneRunsUntilTheWindowIsFull) {
  const PolicyRun run = run_policy("none", 100);
  EXPECT_EQ(run.trajectory.finish, "context_full");
  EXPECT_EQ(run.trajectory.resets, 0);
  EXPECT_EQ(run.trajectory.contexts.size(), 1u);
  EXPECT_GE(run.trajectory.turns, 3);
}

TEST(ContextPolicy, DiscardAllDropsEveryToolRound) {
  const PolicyRun run = run_policy("discard_all", 12);
  EXPECT_EQ(run.trajectory.finish, "max_turns");
  EXPECT_EQ(run.trajectory.turns, 12);
  EXPECT_GE(run.trajectory.resets, 2);
  EXPECT_EQ(run.trajectory.contexts.size(), static_cast<size_t>(run.trajectory.resets + 1));
  // Right after a reset the model sees the original question and nothing else.
  ChatOptions chat;
  chat.tools = {PageTool().schema_json()};
  const std::vector<int32_t> fresh = bytes().encode(render_chat(question("Find the last page."), chat));
  int64_t fresh_starts = 0;
  for (const TurnRequest& r : run.policy.requests) fresh_starts += r.context == fresh;
  EXPECT_EQ(fresh_starts, run.trajectory.resets + 1);
}

TEST(ContextPolicy, Discard75KeepsTheLastQuarterOfRounds) {
  const PolicyRun run = run_policy("discard_75", 12);
  EXPECT_GE(run.trajectory.resets, 1);
  // Find the first request after a reset: it has fewer tool rounds than the one before.
  const auto& reqs = run.policy.requests;
  for (size_t r = 1; r < reqs.size(); ++r) {
    const std::string before = bytes().decode(reqs[r - 1].context), now = bytes().decode(reqs[r].context);
    const int64_t n = count(before, "<result>") + 1;  // rounds when the policy acted
    if (count(now, "<result>") >= n) continue;
    const int64_t kept = n - static_cast<int64_t>(std::ceil(0.75 * n));
    EXPECT_GE(kept, 1) << "the window should hold enough rounds for a quarter to survive";
    EXPECT_EQ(count(now, "<result>"), kept);
    for (int64_t k = n - kept + 1; k <= n; ++k)
      EXPECT_NE(now.find("thinking round " + std::to_string(k) + "</think>"), std::string::npos) << k;
    EXPECT_EQ(now.find("thinking round 1</think>"), std::string::npos);
    return;
  }
  FAIL() << "no reset seen";
}

TEST(ContextPolicy, SummaryRestartsFromTheModelsSummary) {
  const PolicyRun run = run_policy("summary", 12);
  EXPECT_GE(run.trajectory.resets, 1);
  const auto& reqs = run.policy.requests;
  bool asked = false;
  for (size_t r = 0; r + 1 < reqs.size(); ++r) {
    const std::string ask = bytes().decode(reqs[r].context);
    if (ask.find("Summarise what you have found") == std::string::npos) continue;
    asked = true;
    // A new user message: earlier reasoning is dropped, tool calls and results stay.
    EXPECT_EQ(ask.find("thinking round 1</think>"), std::string::npos);
    EXPECT_NE(ask.find("page 1 "), std::string::npos);
    // The next context is the question with the summary appended.
    const std::string restart = bytes().decode(reqs[r + 1].context);
    EXPECT_NE(restart.find("Find the last page.\n\nProgress so far (your own summary):\nRead pages up to"),
              std::string::npos) << restart;
    EXPECT_EQ(count(restart, "<result>"), 0);
    break;
  }
  EXPECT_TRUE(asked);
  // The summary was generated in its own context, and trained there.
  EXPECT_GE(run.trajectory.contexts.size(), 3u);
}

TEST(AgentConfig, RejectsBadValuesNamingTheField) {
  AgentConfig c;
  c.context_policy = "forget";
  try {
    validate(c, "grpo.agent");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("grpo.agent.context_policy"), std::string::npos) << e.what();
  }
  c = AgentConfig();
  c.context_trigger = 1.5;
  EXPECT_THROW(validate(c, "agent"), Error);
}

}  // namespace
}  // namespace dsrl
