#include "reward/offline.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "common/error.h"
#include "common/log.h"

namespace dsrl {
namespace {

ScoreItem parse_item(const std::string& line, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    DSRL_FAIL("{}: not JSON: {}", where, e.what());
  }
  DSRL_CHECK(j.is_object(), "{}: expected a JSON object (a RewardItem), got {}", where, j.type_name());
  static const std::set<std::string> known = {"id", "task_type", "prompt", "response", "reference_answer", "rubric",
                                              "target_language", "response_tokens", "length_budget", "files"};
  for (const auto& [key, _] : j.items())
    DSRL_CHECK(known.count(key), "{}: unknown field '{}' (RewardItem fields: id, task_type, prompt, response, "
               "reference_answer, rubric, target_language, response_tokens, length_budget, files)", where, key);
  ScoreItem item;
  auto text = [&](const char* key, std::string& field) {
    if (!j.contains(key)) return;
    DSRL_CHECK(j[key].is_string(), "{}: field '{}' must be a string", where, key);
    field = j[key].get<std::string>();
  };
  auto count = [&](const char* key, int64_t& field) {
    if (!j.contains(key)) return;
    DSRL_CHECK(j[key].is_number_unsigned() || (j[key].is_number_integer() && j[key].get<int64_t>() >= 0),
               "{}: field '{}' must be an integer >= 0", where, key);
    field = j[key].get<int64_t>();
  };
  text("id", item.id);
  text("task_type", item.task_type);
  text("prompt", item.prompt);
  text("response", item.response);
  text("reference_answer", item.reference_answer);
  text("rubric", item.rubric);
  text("target_language", item.target_language);
  count("response_tokens", item.response_tokens);
  count("length_budget", item.length_budget);
  if (j.contains("files")) {
    DSRL_CHECK(j["files"].is_object(), "{}: field 'files' must be an object of path -> content", where);
    for (const auto& [path, content] : j["files"].items()) {
      DSRL_CHECK(content.is_string(), "{}: files['{}'] must be a string (the file's content)", where, path);
      item.files[path] = content.get<std::string>();
    }
  }
  return item;
}

}  // namespace

int64_t score_file(Scorer& scorer, const std::string& in_path, const std::string& out_path) {
  std::ifstream in(in_path);
  DSRL_CHECK(in.good(), "cannot read {}", in_path);
  std::vector<ScoreItem> items;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    items.push_back(parse_item(line, fmt::format("{}:{}", in_path, n)));
    if (items.back().id.empty()) items.back().id = std::to_string(n);
  }
  std::ofstream out(out_path);
  DSRL_CHECK(out.good(), "cannot write {}", out_path);
  int64_t failed = 0;
  constexpr size_t kBatch = 4096;
  for (size_t start = 0; start < items.size(); start += kBatch) {
    std::vector<ScoreItem> batch(items.begin() + start, items.begin() + std::min(items.size(), start + kBatch));
    for (const ItemResult& r : scorer.score(batch)) {
      nlohmann::json j = {{"id", r.id}, {"total", r.total}, {"signals", nlohmann::json::object()}};
      for (const auto& [name, value] : r.signals) j["signals"][name] = value;
      if (!r.error.empty()) j["error"] = r.error, ++failed;
      out << j.dump() << "\n";
    }
  }
  DSRL_CHECK(out.good(), "writing {} failed", out_path);
  logger("reward")->info("scored {} items from {} into {} ({} failed)", items.size(), in_path, out_path, failed);
  return failed;
}

}  // namespace dsrl
