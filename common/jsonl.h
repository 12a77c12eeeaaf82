// JSONL files: one JSON object per line (plain C++ with nlohmann/json).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <string>

namespace dsrl {

// Calls visit(object, "file:line") for each JSON object of a JSONL file (blank lines skipped). Throws dsrl::Error
// naming file and line on a line that is not a JSON object, and on a file that cannot be read.
void read_jsonl_objects(const std::string& path,
                        const std::function<void(const nlohmann::json& object, const std::string& where)>& visit);

}  // namespace dsrl
