// The scoring library behind dsrl-reward and `dsrl-reward score` (plain C++: no torch, no gRPC). Each item is
// scored by the signals its task type names; the total is their weighted sum and every signal is reported.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "agent/python_tool.h"
#include "common/rate_window.h"
#include "reward/config.h"

namespace dsrl {

// RewardItem's fields (proto/reward.proto).
struct ScoreItem {
  std::string id, task_type, prompt, response, reference_answer, rubric, target_language;
  int64_t response_tokens = 0;
  int64_t length_budget = 0;  // 0: the task type's length.budget
  std::map<std::string, std::string> files;  // code_tests: the repository to run the hidden tests beside
};

struct ItemResult {
  std::string id;
  double total = 0;
  std::vector<std::pair<std::string, double>> signals;  // name -> value before weighting, in config order
  std::string error;                                    // empty on success (then total and signals are set)
  bool judge_failed = false;                            // the error is a failed or unparsable judgement
};

// A malformed batch as a whole (empty, too large, duplicate ids): INVALID_ARGUMENT at the service.
class BatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// With judge.on_failure: fail_batch, a batch in which a judgement failed: UNAVAILABLE at the service.
class JudgeUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The judgements one item needs (judge.h): the judge signal's and the meta-verifier's, when its task type asks.
struct ItemJudgements {
  const Judgement* judge = nullptr;
  const Judgement* meta = nullptr;
};

class Scorer {
 public:
  // judge: where judgements come from (judge_client.h); nullptr: items that need one get an error. Task types
  // with a code_tests signal get their sandboxed interpreter here: throws dsrl::Error when it cannot run.
  explicit Scorer(RewardServiceConfig config, JudgeBackend* judge = nullptr);
  // Scores the batch: judgements first (all of the batch's at once), then the items in parallel
  // (config.threads). Problems of one item go to its error; throws BatchError, or JudgeUnavailable.
  std::vector<ItemResult> score(const std::vector<ScoreItem>& items);
  std::vector<std::string> task_types() const;
  uint64_t items_scored() const { return scored_; }
  uint64_t items_failed() const { return failed_; }
  uint64_t judgements() const { return judgements_; }
  uint64_t judgements_failed() const { return judgements_failed_; }
  double items_per_second() const;  // over the last 10 s

 private:
  // Asks the judge for every judgement the batch needs, all in one go; the result points into *replies.
  std::vector<ItemJudgements> ask_judge(const std::vector<ScoreItem>& items, std::vector<Judgement>* replies);
  // The meta-verifier's prompt for an item, or nullopt when its task type needs none (or the response has no
  // analysis to judge: its format reward is 0 then anyway).
  std::optional<std::string> meta_prompt(const ScoreItem& item, const TaskTypeConfig& t) const;
  ItemResult score_one(const ScoreItem& item, const ItemJudgements& judged) const;

  RewardServiceConfig config_;
  JudgeBackend* judge_;
  std::map<std::string, std::unique_ptr<PythonTool>> sandboxes_;  // task type -> its code_tests interpreter
  std::atomic<uint64_t> scored_{0}, failed_{0}, judgements_{0}, judgements_failed_{0};
  RateWindow recent_{std::chrono::seconds(10)};  // items scored
};

}  // namespace dsrl
