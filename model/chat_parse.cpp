// parse_assistant: the inverse of the assistant turn render_chat writes (model/chat.h), following the reference
// parser of encoding_dsv32.py but reporting problems in ParsedAssistant::error instead of asserting.
#include <nlohmann/json.hpp>

#include "model/chat.h"
#include "model/chat_json.h"

namespace dsrl {

namespace {

using namespace dsv32;

// A cursor over the generated text that records the first error.
struct Reader {
  std::string_view text;
  size_t pos = 0;
  std::string error;

  bool at(std::string_view s) const { return text.substr(pos, s.size()) == s; }
  bool eat(std::string_view s) {
    if (!at(s)) return false;
    pos += s.size();
    return true;
  }
  bool fail(const std::string& what) {
    if (error.empty()) {
      error = what + " at byte " + std::to_string(pos) + " (got " +
              python_json_string(text.substr(pos, 40)) + (pos + 40 < text.size() ? "..." : "") + ")";
    }
    return false;
  }
  bool expect(std::string_view s) { return eat(s) || fail("expected " + python_json_string(s)); }
  // The text up to `end` (not included), and moves past `end`; fails when `end` does not occur.
  bool until(std::string_view end, std::string& out) {
    const size_t at = text.find(end, pos);
    if (at == std::string_view::npos) return fail("missing " + python_json_string(end));
    out = std::string(text.substr(pos, at - pos));
    pos = at + end.size();
    return true;
  }
};

std::string dsml(std::string_view tail) { return std::string(kDsml) + std::string(tail); }

// <｜DSML｜parameter name="k" string="true|false">value</｜DSML｜parameter> -> "k": value, into `args`.
bool read_parameter(Reader& r, const std::string& tool, std::vector<std::string>& keys, std::string& args) {
  std::string key, is_string, value;
  if (!r.expect(" name=\"") || !r.until("\" string=\"", key) || !r.until("\">", is_string)) return false;
  if (is_string != "true" && is_string != "false") return r.fail("string=\"" + is_string + "\" must be true or false");
  if (!r.until("</" + dsml("parameter>"), value)) return false;
  for (const std::string& k : keys) {
    if (k == key) return r.fail("tool call " + tool + ": duplicate parameter " + python_json_string(key));
  }
  keys.push_back(key);
  if (is_string == "false" && !nlohmann::json::accept(value)) {
    return r.fail("tool call " + tool + ": parameter " + python_json_string(key) + " has string=\"false\" but its "
                  "value is not JSON: " + python_json_string(value));
  }
  args += (args.size() > 1 ? ", " : "") + python_json_string(key) + ": " +
          (is_string == "true" ? python_json_string(value) : value);
  return true;
}

// <｜DSML｜invoke name="f">\n{parameter\n}*</｜DSML｜invoke>, the "<｜DSML｜invoke" already consumed.
bool read_invoke(Reader& r, std::vector<ToolCall>& calls) {
  ToolCall call;
  if (!r.expect(" name=\"") || !r.until("\">\n", call.name)) return false;
  std::string args = "{";
  std::vector<std::string> keys;
  while (r.eat("<" + dsml("parameter"))) {
    if (!read_parameter(r, call.name, keys, args) || !r.expect("\n")) return false;
  }
  if (keys.empty()) r.eat("\n");  // no parameters: an empty line
  if (!r.expect("</" + dsml("invoke>"))) return false;
  call.arguments_json = args + "}";
  calls.push_back(std::move(call));
  return true;
}

// After "\n\n<｜DSML｜function_calls": ">\n", invokes joined by "\n", "\n</｜DSML｜function_calls>".
bool read_tool_calls(Reader& r, std::vector<ToolCall>& calls) {
  if (!r.expect(">\n")) return false;
  do {
    if (!r.expect("<" + dsml("invoke")) || !read_invoke(r, calls) || !r.expect("\n")) return false;
  } while (!r.eat("</" + dsml("function_calls>")));
  return true;
}

std::string first_marker_in(const std::string& s) {
  for (std::string_view m : {kBos, kEos, kThinkStart, kThinkEnd, kDsml}) {
    if (s.find(m) != std::string::npos) return std::string(m);
  }
  return "";
}

}  // namespace

ParsedAssistant parse_assistant(const std::string& generated, bool thinking) {
  ParsedAssistant out;
  Reader r{generated, 0, {}};
  if (thinking) {
    r.eat(kThinkStart);  // tolerated: the prompt normally ends with it
    const size_t end = generated.find(kThinkEnd, r.pos);
    if (end == std::string::npos) {
      const size_t eos = generated.find(kEos, r.pos);
      out.reasoning = generated.substr(r.pos, eos == std::string::npos ? std::string::npos : eos - r.pos);
      out.error = "the reasoning is not closed by </think> (generation cut off, or thinking mode off?)";
      return out;
    }
    out.reasoning = generated.substr(r.pos, end - r.pos);
    r.pos = end + kThinkEnd.size();
  }
  const std::string calls_start = "\n\n<" + dsml("function_calls");
  const size_t calls = generated.find(calls_start, r.pos);
  const size_t eos = generated.find(kEos, r.pos);
  const size_t content_end = std::min(calls, eos);
  out.content = generated.substr(r.pos, content_end == std::string::npos ? std::string::npos : content_end - r.pos);
  r.pos = content_end == std::string::npos ? generated.size() : content_end;
  if (calls != std::string::npos && calls < eos) {
    r.pos += calls_start.size();
    read_tool_calls(r, out.tool_calls);
  }
  if (r.error.empty()) {
    out.stopped = r.eat(kEos);
    if (r.pos != generated.size()) r.fail(out.stopped ? "text after <｜end▁of▁sentence｜>" : "text after the tool calls");
  }
  out.error = r.error;
  for (const std::string* part : {&out.reasoning, &out.content}) {
    const std::string marker = first_marker_in(*part);
    if (out.error.empty() && !marker.empty()) {
      out.error = "unexpected " + marker + " inside the " + (part == &out.content ? "content" : "reasoning");
    }
  }
  return out;
}

}  // namespace dsrl
