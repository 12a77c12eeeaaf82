// render_chat: DeepSeek-V3.2's prompt format (see model/chat.h and docs/chat.md). The templates below follow the
// reference encoder encoding_dsv32.py of the DeepSeek-V3.2 model repository marker for marker; the tools preamble is
// our own text unless ChatOptions::tools_preamble supplies another.
#include "model/chat.h"

#include "common/error.h"
#include "model/chat_json.h"

namespace dsrl {

namespace {

using ojson = nlohmann::ordered_json;
using namespace dsv32;

std::string str(std::string_view s) { return std::string(s); }

// The default "## Tools" section appended to the system prompt, in our own words: it describes the DSML call syntax
// V3.2 parses ({dsml} stands for ｜DSML｜, {schemas} for the tool schemas, one JSON object per line). Checkpoints
// trained on DeepSeek's exact wording can pass that text as ChatOptions::tools_preamble (docs/chat.md).
constexpr std::string_view kToolsTemplate = R"(## Tools

Tools are available. To call one or more, write a block in this form in your reply:
<{dsml}function_calls>
<{dsml}invoke name="TOOL_NAME">
<{dsml}parameter name="ARGUMENT_NAME" string="true|false">ARGUMENT_VALUE</{dsml}parameter>
</{dsml}invoke>
</{dsml}function_calls>

Write string arguments as they are, with string="true"; write numbers, booleans, lists and objects as JSON, with
string="false". Results come back inside <function_results>...</function_results>; in thinking mode, think about
them in a <think>...</think> block before going on.

The tools, as JSON Schema:
<functions>
{schemas}
</functions>
)";

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

ojson parse_object(const std::string& text, const std::string& what) {
  ojson v = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  DSRL_CHECK(v.is_object(), "{} must be a JSON object, got {}", what, text);
  return v;
}

std::string render_tools(const std::vector<std::string>& tools, const std::string& preamble) {
  std::string schemas;
  for (size_t i = 0; i < tools.size(); ++i) {
    ojson tool = parse_object(tools[i], "ChatOptions.tools[" + std::to_string(i) + "]");
    if (tool.value("type", "") == "function" && tool.contains("function")) tool = ojson(tool["function"]);
    schemas += (i ? "\n" : "") + python_json(tool);
  }
  std::string out = replace_all(preamble.empty() ? str(kToolsTemplate) : preamble, "{dsml}", kDsml);
  return replace_all(out, "{schemas}", schemas);
}

// <｜DSML｜invoke name="f">\n<｜DSML｜parameter name="k" string="true">v</｜DSML｜parameter>\n...</｜DSML｜invoke>
// String values are written raw, everything else as JSON.
std::string render_tool_call(const ToolCall& call, const std::string& where) {
  const ojson args = parse_object(call.arguments_json, where + " (" + call.name + ") arguments_json");
  std::string params;
  for (const auto& [key, value] : args.items()) {
    if (!params.empty()) params += "\n";
    const bool is_string = value.is_string();
    params += "<" + str(kDsml) + "parameter name=\"" + key + "\" string=\"" + (is_string ? "true" : "false") +
              "\">" + (is_string ? value.get<std::string>() : python_json(value)) + "</" + str(kDsml) + "parameter>";
  }
  return "<" + str(kDsml) + "invoke name=\"" + call.name + "\">\n" + params + "\n</" + str(kDsml) + "invoke>";
}

std::string render_assistant(const ChatMessage& m, size_t index, bool show_reasoning) {
  std::string calls;
  for (size_t k = 0; k < m.tool_calls.size(); ++k) {
    const std::string where = "messages[" + std::to_string(index) + "].tool_calls[" + std::to_string(k) + "]";
    calls += (k ? "\n" : "") + render_tool_call(m.tool_calls[k], where);
  }
  if (!calls.empty()) {
    calls = "\n\n<" + str(kDsml) + "function_calls>\n" + calls + "\n</" + str(kDsml) + "function_calls>";
  }
  const std::string thinking = show_reasoning ? m.reasoning + str(kThinkEnd) : "";
  return thinking + m.content + calls + str(kEos);
}

// The index of the assistant message whose tool calls the tool message at `index` answers, and which answer
// it is (1-based).
std::pair<size_t, size_t> answered_call(const std::vector<ChatMessage>& messages, size_t index) {
  size_t a = index;
  while (a > 0 && messages[a - 1].role == "tool") --a;
  DSRL_CHECK(a > 0 && messages[a - 1].role == "assistant",
             "messages[{}] is a tool result, but no assistant message with tool calls comes before it", index);
  const size_t order = index - a + 1;
  DSRL_CHECK(order <= messages[a - 1].tool_calls.size(), "messages[{}] is tool result #{} for messages[{}], which "
             "made only {} tool call(s)", index, order, a - 1, messages[a - 1].tool_calls.size());
  return {a - 1, order};
}

// Every assistant tool call must be answered before the next non-tool message (or the end).
void check_tool_results_complete(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != "assistant" || messages[i].tool_calls.empty()) continue;
    size_t answers = 0;
    while (i + 1 + answers < messages.size() && messages[i + 1 + answers].role == "tool") ++answers;
    DSRL_CHECK(answers >= messages[i].tool_calls.size(), "messages[{}] made {} tool call(s) but {} tool result(s) "
               "follow it; V3.2 needs one tool message per call, in order", i, messages[i].tool_calls.size(),
               answers);
  }
}

}  // namespace

// Renders the conversation; starts[i] is where message i's text begins in the result.
static std::string render_with_offsets(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                                       std::vector<size_t>* starts) {
  check_tool_results_complete(messages);
  size_t last_user = 0;
  bool has_user = false;
  bool has_system = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") last_user = i, has_user = true;
    has_system = has_system || messages[i].role == "system";
  }
  const std::string tools = options.tools.empty() ? "" : "\n\n" + render_tools(options.tools, options.tools_preamble);
  const std::string open_turn = str(options.thinking ? kThinkStart : kThinkEnd);
  std::string out = options.add_bos ? str(kBos) : "";
  if (!has_system) out += tools;
  bool tools_done = !has_system;
  for (size_t i = 0; i < messages.size(); ++i) {
    starts->push_back(out.size());
    const ChatMessage& m = messages[i];
    const bool after_last_user = has_user ? i > last_user : true;
    if (m.role == "system") {
      out += m.content + (tools_done ? "" : tools);
      tools_done = true;
    } else if (m.role == "user") {
      out += str(kUser) + m.content + str(kAssistant) + (i == last_user ? open_turn : str(kThinkEnd));
    } else if (m.role == "assistant") {
      out += render_assistant(m, i, options.thinking && after_last_user);
    } else if (m.role == "tool") {
      const auto [assistant, order] = answered_call(messages, i);
      if (order == 1) out += "\n\n<function_results>";
      out += "\n<result>" + m.content + "</result>";
      if (order == messages[assistant].tool_calls.size()) {
        out += "\n</function_results>\n\n" + (after_last_user ? open_turn : str(kThinkEnd));
      }
    } else {
      DSRL_FAIL("messages[{}].role must be system, user, assistant or tool, got \"{}\"", i, m.role);
    }
  }
  return out;
}

std::string render_chat(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  std::vector<size_t> starts;
  return render_with_offsets(messages, options, &starts);
}

std::string render_chat_from(const std::vector<ChatMessage>& messages, size_t from, const ChatOptions& options) {
  DSRL_CHECK(from < messages.size(), "render_chat_from: message {} of {}", from, messages.size());
  std::vector<size_t> starts;
  const std::string text = render_with_offsets(messages, options, &starts);
  return text.substr(starts[from]);
}

std::string render_chat_message(const std::vector<ChatMessage>& messages, size_t index, const ChatOptions& options) {
  DSRL_CHECK(index < messages.size(), "render_chat_message: message {} of {}", index, messages.size());
  std::vector<size_t> starts;
  const std::string text = render_with_offsets(messages, options, &starts);
  const size_t end = index + 1 < starts.size() ? starts[index + 1] : text.size();
  return text.substr(starts[index], end - starts[index]);
}

}  // namespace dsrl
