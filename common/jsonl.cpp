#include "common/jsonl.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/error.h"

namespace dsrl {

void read_jsonl_objects(const std::string& path,
                        const std::function<void(const nlohmann::json& object, const std::string& where)>& visit) {
  std::ifstream in(path);
  DSRL_CHECK(in.good(), "cannot open jsonl file '{}': {}", path, std::strerror(errno));
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, lineno);
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      DSRL_FAIL("{}: not valid JSON ({})", where, e.what());
    }
    DSRL_CHECK(object.is_object(), "{}: expected a JSON object, got {}", where, object.type_name());
    visit(object, where);
  }
  DSRL_CHECK(!in.bad(), "error reading jsonl file '{}': {}", path, std::strerror(errno));
}

}  // namespace dsrl
