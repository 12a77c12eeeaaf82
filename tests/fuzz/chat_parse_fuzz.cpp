// libFuzzer target: parsing what a model generated into reasoning, content and tool calls (model/chat.h). It must
// never throw; a parse that reports no error must render back to a message of the same parts.
#include <string>

#include "model/chat.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool thinking = data[0] & 1;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  dsrl::ParsedAssistant parsed = dsrl::parse_assistant(text, thinking);
  if (parsed.ok()) {
    for (const dsrl::ToolCall& call : parsed.tool_calls)
      dsrl::fuzz::require(!call.name.empty(), "a tool call parsed without error has no name");
  }
  return 0;
}
