#include "reward/scorer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <thread>

#include "agent/code_tasks.h"
#include "agent/derivations.h"
#include "common/error.h"
#include "common/answer.h"
#include "reward/judge.h"
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

// A judgement that failed or could not be read: an ItemError the batch may escalate (judge.on_failure).
struct JudgeFailure : ItemError {
  using ItemError::ItemError;
};

// The normalised score of a judgement (its reply parsed in ask_judge already), or JudgeFailure naming `what`.
double judged_score(const Judgement& j, const char* what, double min, double max) {
  if (!j.error.empty()) throw JudgeFailure(fmt::format("{}: {}", what, j.error));
  return parse_judge_score(j.reply, min, max);
}

void check_size(const ScoreItem& item, int64_t limit) {
  for (auto [name, text] : {std::pair<const char*, const std::string*>{"prompt", &item.prompt},
                            {"response", &item.response}, {"reference_answer", &item.reference_answer},
                            {"rubric", &item.rubric}})
    if (static_cast<int64_t>(text->size()) > limit)
      throw ItemError(fmt::format("{} has {} bytes, above max_text_bytes {}", name, text->size(), limit));
  size_t files_bytes = 0;
  for (const auto& [path, content] : item.files) files_bytes += path.size() + content.size();
  if (static_cast<int64_t>(files_bytes) > limit)
    throw ItemError(
        fmt::format("files has {} bytes (paths and contents), above max_text_bytes {}", files_bytes, limit));
}

// The code_tests signal: 1 when the hidden tests pass beside the item's files in the sandbox.
double code_tests_score(const ScoreItem& item, const PythonTool& python) {
  if (item.reference_answer.empty()) throw ItemError("signal code_tests needs the hidden tests in reference_answer");
  if (item.files.empty()) throw ItemError("signal code_tests needs the repository in files");
  for (const auto& [path, _] : item.files)
    if (!is_relative_inside(path))
      throw ItemError(fmt::format("files: '{}' is not a relative path inside the repository", path));
  return hidden_tests_pass(python, item.files, item.reference_answer) ? 1.0 : 0.0;
}

// R_Y, the score of a generator's proof: annotated in reference_answer, or graded against the claim there by the
// derivation checker. The proof is what comes before the self-analysis (all of the answer when there is none).
double generator_proof_score(const ScoreItem& item, const MathV2Config& m, const VerifierTemplate& tmpl) {
  if (m.proof_score == "reference") return parse_score(item.reference_answer, "signal math_generator");
  std::string why;
  const auto claim = parse_claim(item.reference_answer, &why);
  if (!claim)
    throw ItemError(fmt::format("math_v2.proof_score derivation needs reference_answer to be a true claim "
                                "'EXPR = V', got '{}': {}", item.reference_answer, why));
  return grade_derivation(*claim, proof_and_analysis(item.response, tmpl).proof).score;
}

}  // namespace

Scorer::Scorer(RewardServiceConfig config, JudgeBackend* judge) : config_(std::move(config)), judge_(judge) {
  for (const auto& [name, t] : config_.task_types) {
    if (t.weights.code_tests == 0) continue;
    try {
      sandboxes_[name] = std::make_unique<PythonTool>(t.code_tests);
    } catch (const Error& e) {
      DSRL_FAIL("task_types.{}.code_tests: {}", name, e.what());
    }
  }
}

std::vector<std::string> Scorer::task_types() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : config_.task_types) names.push_back(name);
  return names;
}

std::optional<std::string> Scorer::meta_prompt(const ScoreItem& item, const TaskTypeConfig& t) const {
  if (!t.math_v2.meta_verifier) return std::nullopt;
  const VerifierTemplate tmpl{t.math_v2.evaluation_marker, t.math_v2.score_marker};
  if (t.weights.math_verifier != 0) {
    const std::string analysis = after_reasoning(item.response);
    if (!verifier_score(analysis, tmpl)) return std::nullopt;
    return render_judge_prompt(config_.judge.meta_prompt, item.prompt, analysis, item.reference_answer, "");
  }
  std::string proof, analysis;
  const std::string answer = after_reasoning(item.response);
  if (t.weights.math_generator == 0 || !split_generator_output(answer, tmpl, &proof, &analysis) ||
      !verifier_score(analysis, tmpl))
    return std::nullopt;
  return render_judge_prompt(config_.judge.meta_prompt, item.prompt + "\n\nProof:\n" + proof, analysis,
                             item.reference_answer, "");
}

std::vector<ItemJudgements> Scorer::ask_judge(const std::vector<ScoreItem>& items, std::vector<Judgement>* replies) {
  std::vector<std::string> prompts;
  std::vector<std::pair<size_t, bool>> owner;  // (item, is the meta-verifier's)
  for (size_t i = 0; i < items.size(); ++i) {
    const ScoreItem& item = items[i];
    auto type = config_.task_types.find(item.task_type);
    if (type == config_.task_types.end()) continue;  // score_one reports it
    try {
      check_size(item, config_.max_text_bytes);
    } catch (const ItemError&) {
      continue;
    }
    if (type->second.weights.judge != 0) {
      prompts.push_back(render_judge_prompt(config_.judge.prompt, item.prompt, item.response, item.reference_answer,
                                            item.rubric.empty() ? config_.judge.default_rubric : item.rubric));
      owner.emplace_back(i, false);
    }
    if (auto meta = meta_prompt(item, type->second)) {
      prompts.push_back(std::move(*meta));
      owner.emplace_back(i, true);
    }
  }
  std::vector<ItemJudgements> out(items.size());
  if (prompts.empty()) return out;
  if (judge_) {
    *replies = judge_->judge(prompts);
  } else {
    replies->assign(prompts.size(), Judgement{"", "no judge is configured: set judge.endpoint to a dsrl-rollout "
                                                  "worker serving the judge model"});
  }
  if (replies->size() != prompts.size())
    throw std::logic_error(fmt::format("judge backend returned {} judgements for {} prompts", replies->size(),
                                       prompts.size()));
  for (size_t k = 0; k < owner.size(); ++k) {
    Judgement& j = (*replies)[k];
    const bool meta = owner[k].second;
    if (j.error.empty()) {  // an unusable reply counts as a failed judgement, as a failed call does
      try {
        parse_judge_score(j.reply, meta ? 0.0 : config_.judge.score_min, meta ? 1.0 : config_.judge.score_max);
      } catch (const JudgeError& e) {
        j.error = e.what();
      }
    }
    (meta ? out[owner[k].first].meta : out[owner[k].first].judge) = &j;
  }
  return out;
}

ItemResult Scorer::score_one(const ScoreItem& item, const ItemJudgements& judged) const {
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
    const double meta = judged.meta ? judged_score(*judged.meta, "meta-verifier", 0.0, 1.0) : 1.0;
    if (judged.meta) out.signals.emplace_back("meta", meta);  // R_meta, already inside the math_v2 rewards
    if (w.math_verifier != 0) {
      const double annotated = parse_score(item.reference_answer, "signal math_verifier");
      add("math_verifier", w.math_verifier, verifier_reward(after_reasoning(item.response), annotated, meta, tmpl));
    }
    if (w.math_generator != 0) {
      const double proof_score = generator_proof_score(item, t.math_v2, tmpl);
      out.signals.emplace_back("proof_score", proof_score);  // R_Y, already inside math_generator
      add("math_generator", w.math_generator,
          generator_reward(after_reasoning(item.response), proof_score, meta, {t.math_v2.alpha, t.math_v2.beta}, tmpl));
    }
    if (w.code_tests != 0) add("code_tests", w.code_tests, code_tests_score(item, *sandboxes_.at(item.task_type)));
    if (w.judge != 0)
      add("judge", w.judge, judged_score(*judged.judge, "signal judge", config_.judge.score_min, config_.judge.score_max));
  } catch (const std::exception& e) {
    out.total = 0;
    out.signals.clear();
    out.error = e.what();
    out.judge_failed = dynamic_cast<const JudgeFailure*>(&e) != nullptr;
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
  std::vector<Judgement> replies;
  const std::vector<ItemJudgements> judged = ask_judge(items, &replies);
  std::vector<ItemResult> results(items.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size(); i = next++) results[i] = score_one(items[i], judged[i]);
  };
  const size_t workers = std::min<size_t>(config_.threads, (items.size() + 63) / 64);
  std::vector<std::thread> pool;
  for (size_t k = 1; k < workers; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  uint64_t failed = 0, judge_failed = 0, bad_judgements = 0;
  const ItemResult* first_judge_failure = nullptr;
  for (const auto& r : results) {
    failed += !r.error.empty();
    judge_failed += r.judge_failed;
    if (r.judge_failed && !first_judge_failure) first_judge_failure = &r;
  }
  for (const Judgement& j : replies) bad_judgements += !j.error.empty();
  judgements_ += replies.size();
  judgements_failed_ += bad_judgements;
  if (judge_failed > 0 && config_.judge.on_failure == "fail_batch")
    throw JudgeUnavailable(fmt::format("{} of {} items could not be judged (judge.on_failure: fail_batch), first "
                                       "'{}': {}", judge_failed, items.size(), first_judge_failure->id,
                                       first_judge_failure->error));
  scored_ += items.size();
  failed_ += failed;
  recent_.add(static_cast<int64_t>(items.size()));
  return results;
}

double Scorer::items_per_second() const { return recent_.per_second(); }

}  // namespace dsrl
