// The agent loop (torch-free): drives many conversations at once through a batched generator, in DeepSeek-V3.2's
// chat format with tools (model/chat.h).
//
// Per trajectory, per turn: the model continues the context until it stops; the text is parsed; tool calls are
// run through the registry and their results appended; the loop goes on until an answer without tool calls, the
// turn budget, or a full window. The context only ever grows by appending: the model's own tokens exactly as it
// sampled them, then the tokens of the rendered tool results (and the <think> that opens the next turn), so
// reasoning and tool calls of earlier turns stay in view (thinking retention: tool results never remove
// reasoning; only a new user message would, and the loop adds none except for a summary, below).
//
// Context management, once a context passes `context_trigger` of the window (config `context_policy`):
//   none         go on until the window is full;
//   discard_all  drop every tool round (an assistant turn with calls and its results) since the user message
//                and go on in a fresh context rendered from what is left;
//   discard_75   drop the first ceil(75%) of those rounds, the same way;
//   summary      ask the model (a new user message in a fresh context) to summarise its progress, then restart
//                from the original messages with the summary appended to the last user message.
// Each reset starts a new AgentContext; the trainer scores every context, each token the model produced exactly
// once (in the context where it produced it) with loss mask 1, everything else 0.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/tools.h"
#include "model/chat.h"

namespace dsrl {

class Tokenizer;

// One generation: continue `context` by at most max_new_tokens tokens (stopping at the end-of-sentence token).
struct TurnRequest {
  std::vector<int32_t> context;
  int64_t max_new_tokens = 0;
};

// What the policy generated for one TurnRequest (what a rollout Sample carries).
struct TurnOutput {
  std::vector<int32_t> tokens;     // [n]; ends with the stop token when `stopped`
  std::vector<float> logprobs;     // [n] behaviour log-probs
  std::vector<std::string> masks;  // [n] encoded kept sets, or empty when not recorded
  int64_t vocab_size = 0;          // of the masks
  std::vector<uint16_t> routes;    // [route_layers, context + n - 1, experts], or empty when not recorded
  int64_t route_layers = 0, experts = 0;
  bool stopped = false;            // ended with the stop token (else cut at max_new_tokens)
  uint64_t version = 0;            // policy version that generated it
};

// Runs one batch of requests (in order; the result has one output per request). May throw dsrl::Error.
using TurnGenerator = std::function<std::vector<TurnOutput>(const std::vector<TurnRequest>&)>;

// One context window of a trajectory, as the trainer scores it.
struct AgentContext {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // [tokens]: 1 where the model produced the token in this context
  std::vector<float> logprobs;     // [tokens]: behaviour log-probs where loss_mask is 1, else 0
  std::vector<std::string> masks;  // [tokens] encoded kept sets where recorded and loss_mask is 1, else ""
  int64_t vocab_size = 0;          // of the masks
  // [route_layers, tokens - 1, experts]: each fed position's experts as the worker chose them the first time it
  // processed that position (later calls re-prefill it and may differ). Empty when not recorded.
  std::vector<uint16_t> routes;
  int64_t route_layers = 0, experts = 0;
  uint64_t oldest_version = 0;     // oldest policy version that generated tokens here
  int64_t prompt_tokens() const;   // tokens before the first one with loss mask 1 (all when none)
};

struct AgentTrajectory {
  std::vector<AgentContext> contexts;  // in order; more than one after resets
  std::vector<ChatMessage> messages;   // the conversation as the last context renders it
  std::string answer;                  // content of the final assistant turn ("" when it never answered)
  std::string finish;                  // answered | malformed | max_turns | context_full | length | error
  std::string error;                   // for finish == error: what went wrong (the trajectory is not to be trained)
  int64_t turns = 0;                   // model turns (summaries excluded)
  int64_t tool_calls = 0, tool_errors = 0;
  int64_t resets = 0;
  int64_t generated_tokens = 0;        // over all contexts
};

// Runs every conversation (each ends with a user message) to the end. A generator exception propagates;
// everything the model does wrong ends up in the trajectory (error results, finish reasons), and anything else
// that goes wrong with one trajectory (an output that does not fit its request) ends that one with finish
// "error" while the others go on.
std::vector<AgentTrajectory> run_agents(const std::vector<std::vector<ChatMessage>>& conversations,
                                        const Tokenizer& tokenizer, const ToolRegistry& tools,
                                        const AgentConfig& config, const TurnGenerator& generate);
// The same with a registry per conversation (tools with per-trajectory state, such as a code workspace). The
// registries must outlive the call; the same one may serve several conversations when its tools are stateless.
std::vector<AgentTrajectory> run_agents(const std::vector<std::vector<ChatMessage>>& conversations,
                                        const Tokenizer& tokenizer, const std::vector<const ToolRegistry*>& tools,
                                        const AgentConfig& config, const TurnGenerator& generate);

// The text a tool message carries for a call that could not be parsed (the model reads it).
std::string malformed_call_message(const std::string& parse_error);

}  // namespace dsrl
