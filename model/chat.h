// Chat rendering and output parsing in DeepSeek-V3.2's format (torch-free, library dsrl_text).
// Source: DeepSeek-V3.2's reference encoder, encoding/encoding_dsv32.py in the deepseek-ai/DeepSeek-V3.2 model
// repository (encode_messages / parse_message_from_completion_text); docs/chat.md has the format with examples.
//
//   <｜begin▁of▁sentence｜>{system}[\n\n## Tools ...]
//   <｜User｜>{user}<｜Assistant｜><think>            (thinking mode, last user turn; otherwise </think>)
//   {reasoning}</think>{content}\n\n<｜DSML｜function_calls>...</｜DSML｜function_calls><｜end▁of▁sentence｜>
//   \n\n<function_results>\n<result>{tool}</result>\n</function_results>\n\n<think>
//
// Thinking retention: reasoning is rendered only for assistant turns after the last user message. A new user
// message drops the reasoning of every earlier turn; tool calls and tool results never do, and tool calls
// always stay. There is no separate "generation prompt": a user turn always ends with <｜Assistant｜> plus
// <think> / </think>, and the last tool result with <think> / </think>, so a conversation that ends with a user
// or tool message renders as the prompt of the next assistant turn, and
//   render_chat(history + {assistant}) == render_chat(history) + {reasoning}</think>{content}{calls}<｜eos｜>.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsrl {

namespace dsv32 {  // the literal markers of the format
inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";
inline constexpr std::string_view kDsml = "｜DSML｜";  // in <｜DSML｜function_calls>, <｜DSML｜invoke ...>, ...
}  // namespace dsv32

struct ToolCall {
  std::string name;
  std::string arguments_json;  // a JSON object, e.g. {"city": "Paris", "days": 3}
};

struct ChatMessage {
  std::string role;                 // system | user | assistant | tool
  std::string content;              // text; for a tool message the tool's result
  std::string reasoning;            // assistant only: the thinking text (without <think> tags)
  std::vector<ToolCall> tool_calls; // assistant only; answered by the tool messages that follow, in order
};

struct ChatOptions {
  bool thinking = true;  // thinking mode: the open assistant turn starts with <think>; chat mode: with </think>
  bool add_bos = true;   // start with <｜begin▁of▁sentence｜>
  // Tool definitions, each a JSON object {"name", "description", "parameters"} (OpenAI's {"type": "function",
  // "function": {...}} is unwrapped). Rendered in the system prompt (an empty one is added when there is none).
  std::vector<std::string> tools;
  // The "## Tools" text put before the schemas; {dsml} and {schemas} are substituted. Empty: dsrl's own wording.
  // A checkpoint trained on DeepSeek's exact tool prompt should be given that text (e.g. read from a file).
  std::string tools_preamble;
};

// Renders the conversation. Throws dsrl::Error (naming the message index) on an unknown role, a tool message
// that answers no tool call, tool results missing before the next turn, or tool arguments / tool definitions
// that are not JSON objects.
std::string render_chat(const std::vector<ChatMessage>& messages, const ChatOptions& options);

// The part of render_chat(messages) that messages [from, end) contribute, e.g. the tool results (and the <think>
// that opens the next turn) after an assistant turn with tool calls. Throws as render_chat does.
std::string render_chat_from(const std::vector<ChatMessage>& messages, size_t from, const ChatOptions& options);
// The part message `index` alone contributes, e.g. for an assistant turn exactly what the model generates there:
// {reasoning}</think>{content}{calls}<｜end▁of▁sentence｜>. Throws as render_chat does.
std::string render_chat_message(const std::vector<ChatMessage>& messages, size_t index, const ChatOptions& options);

struct ParsedAssistant {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;  // arguments_json as V3.2 writes it: {"key": value, ...}
  bool stopped = false;              // the text ended with <｜end▁of▁sentence｜>
  std::string error;                 // empty when the text is well formed; else what is wrong and where
  bool ok() const { return error.empty(); }
};

// Splits what the model generated after the prompt into reasoning, content and tool calls. In thinking mode the
// text starts inside the reasoning (the prompt ended with <think>). Never throws: malformed text (unclosed
// reasoning, broken tool-call markup, parameters that are not JSON) fills `error` and keeps what was parsed.
ParsedAssistant parse_assistant(const std::string& generated, bool thinking = true);

}  // namespace dsrl
