// The agent loop's settings (agent/loop.h), in a header of their own so configs can hold them cheaply.
#pragma once

#include <cstdint>
#include <string>

namespace dsrl {

struct AgentConfig {
  int64_t max_turns = 8;             // model turns per trajectory (tool rounds and the answer; summaries excluded)
  int64_t context_window = 4096;     // tokens a context may hold (prompt + everything appended)
  int64_t max_new_tokens = 512;      // per model turn (less when the window has less room)
  int64_t max_tool_result_bytes = 4096;  // a longer tool result is cut (on a UTF-8 boundary) and says so
  std::string context_policy = "none";   // none | summary | discard_75 | discard_all
  double context_trigger = 0.8;      // share of context_window past which the policy acts, in (0, 1]
  int64_t max_resets = 4;            // resets per trajectory; past it the trajectory ends as context_full
  bool thinking = true;              // thinking mode (the turn opens with <think>)
  // The "## Tools" text before the tool schemas ({dsml} and {schemas} substituted; model/chat.h); "": dsrl's own
  // (about 730 bytes). A small model trained from scratch learns faster with a shorter one.
  std::string tools_preamble;
  // The user message that asks for a summary (policy summary).
  std::string summary_request =
      "Your context is nearly full. Summarise what you have found so far: the facts you established, with the "
      "document ids they came from, and what remains to find. Write only the summary.";
};

// Throws dsrl::Error naming the field (prefixed by `where`) when a value is out of range or the policy unknown.
void validate(const AgentConfig& config, const std::string& where);

}  // namespace dsrl
