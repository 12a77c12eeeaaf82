#include "reward/scorer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <thread>

#include "reward/answer.h"
#include "reward/math_v2.h"
#include "reward/signals.h"

namespace dsrl {
namespace {

// A per-item problem: the item gets this message as its error.
struct ItemError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double parse_score(const std::string& text, const char* what) {
  for (double allowed : {0.0, 0.5, 1.0})
    if (answers_equivalent(text, fmt::format("{}", allowed), MatchOptions{1e-9, true})) return allowed;
  throw ItemError(fmt::format("{} needs reference_answer to be a score 0, 0.5 or 1, got '{}'", what, text));
}

void check_size(const ScoreItem& item, int64_t limit) {
  for (auto [name, text] : {std::pair<const char*, const std::string*>{"prompt", &item.prompt},
                            {"response", &item.response}, {"reference_answer", &item.reference_answer},
                            {"rubric", &item.rubric}})
    if (static_cast<int64_t>(text->size()) > limit)
      throw ItemError(fmt::format("{} has {} bytes, above max_text_bytes {}", name, text->size(), limit));
}

}  // namespace

Scorer::Scorer(RewardServiceConfig config) : config_(std::move(config)) {}

std::vector<std::string> Scorer::task_types() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : config_.task_types) names.push_back(name);
  return names;
}

ItemResult Scorer::score_one(const ScoreItem& item) const {
  ItemResult out;
  out.id = item.id;
  try {
    auto type = config_.task_types.find(item.task_type);
    if (type == config_.task_types.end())
      throw ItemError(fmt::format("unknown task_type '{}' (the config knows: {})", item.task_type,
                                  fmt::join(task_types(), ", ")));
    check_size(item, config_.max_text_bytes);
    const TaskTypeConfig& t = type->second;
    const SignalWeights& w = t.weights;
    auto add = [&](const char* name, double weight, double value) {
      out.signals.emplace_back(name, value);
      out.total += weight * value;
    };
    if (w.rule != 0) {
      if (item.reference_answer.empty()) throw ItemError("signal rule needs a reference_answer");
      const auto answer = extract_answer(item.response, t.rule.extract);
      const MatchOptions match{t.rule.tolerance, t.rule.case_insensitive};
      add("rule", w.rule, answer && answers_equivalent(*answer, item.reference_answer, match) ? 1.0 : 0.0);
    }
    if (w.format != 0) add("format", w.format, format_score(item.response, t.format.require_think, t.format.wrapper));
    if (w.length != 0) {
      const int64_t budget = item.length_budget > 0 ? item.length_budget : t.length.budget;
      if (t.length.mode != "none" && budget <= 0) throw ItemError("signal length needs a length_budget (or length.budget)");
      add("length", w.length, length_penalty(t.length.mode, item.response_tokens, budget, t.length.cache));
    }
    if (w.language != 0 || w.language_reasoning != 0) {
      if (item.target_language.empty()) throw ItemError("signal language needs a target_language");
      uint32_t mask = 0;
      if (!language_scripts(item.target_language, &mask))
        throw ItemError(fmt::format("unknown target_language '{}'", item.target_language));
      if (w.language != 0) add("language", w.language, language_share(item.response, item.target_language));
      if (w.language_reasoning != 0)
        add("language_reasoning", w.language_reasoning, language_share(reasoning_part(item.response), item.target_language));
    }
    const VerifierTemplate tmpl{t.math_v2.evaluation_marker, t.math_v2.score_marker};
    if (w.math_verifier != 0) {
      const double annotated = parse_score(item.reference_answer, "signal math_verifier");
      add("math_verifier", w.math_verifier, verifier_reward(answer_part(item.response), annotated, 1.0, tmpl));
    }
    if (w.math_generator != 0) {
      const double proof_score = parse_score(item.reference_answer, "signal math_generator");
      add("math_generator", w.math_generator,
          generator_reward(answer_part(item.response), proof_score, 1.0, {t.math_v2.alpha, t.math_v2.beta}, tmpl));
    }
    if (w.judge != 0) throw ItemError("signal judge: no judge is configured in this build of the scorer");
  } catch (const std::exception& e) {
    out.total = 0;
    out.signals.clear();
    out.error = e.what();
  }
  return out;
}

std::vector<ItemResult> Scorer::score(const std::vector<ScoreItem>& items) {
  if (items.empty()) throw BatchError("items is empty: send at least one item");
  if (static_cast<int64_t>(items.size()) > config_.max_items)
    throw BatchError(fmt::format("{} items, above max_items {}", items.size(), config_.max_items));
  std::set<std::string> ids;
  for (const auto& item : items)
    if (!ids.insert(item.id).second) throw BatchError(fmt::format("duplicate item id '{}'", item.id));
  std::vector<ItemResult> results(items.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size(); i = next++) results[i] = score_one(items[i]);
  };
  const size_t workers = std::min<size_t>(config_.threads, (items.size() + 63) / 64);
  std::vector<std::thread> pool;
  for (size_t k = 1; k < workers; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  uint64_t failed = 0;
  for (const auto& r : results) failed += !r.error.empty();
  scored_ += items.size();
  failed_ += failed;
  return results;
}

}  // namespace dsrl
