// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it, which is what DeepSeek-V3.2's
// reference encoder puts into prompts (tool definitions, non-string tool arguments): ", " and ": " separators,
// keys in their original order, non-ASCII characters as they are, floats as Python's repr.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dsrl {

std::string python_json(const nlohmann::ordered_json& value);
std::string python_json_string(std::string_view text);  // a JSON string literal, quotes included

}  // namespace dsrl
