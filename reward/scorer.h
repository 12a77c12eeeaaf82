// The scoring library behind dsrl-reward and `dsrl-reward score` (plain C++: no torch, no gRPC). Each item is
// scored by the signals its task type names; the total is their weighted sum and every signal is reported.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reward/config.h"

namespace dsrl {

// RewardItem's fields (proto/reward.proto).
struct ScoreItem {
  std::string id, task_type, prompt, response, reference_answer, rubric, target_language;
  int64_t response_tokens = 0;
  int64_t length_budget = 0;  // 0: the task type's length.budget
};

struct ItemResult {
  std::string id;
  double total = 0;
  std::vector<std::pair<std::string, double>> signals;  // name -> value before weighting, in config order
  std::string error;                                    // empty on success (then total and signals are set)
};

// A malformed batch as a whole (empty, too large, duplicate ids): INVALID_ARGUMENT at the service.
class BatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Scorer {
 public:
  explicit Scorer(RewardServiceConfig config);
  // Scores the batch in parallel (config.threads). Problems of one item go to its error; throws BatchError.
  std::vector<ItemResult> score(const std::vector<ScoreItem>& items);
  std::vector<std::string> task_types() const;
  uint64_t items_scored() const { return scored_; }
  uint64_t items_failed() const { return failed_; }

 private:
  ItemResult score_one(const ScoreItem& item) const;

  RewardServiceConfig config_;
  std::atomic<uint64_t> scored_{0}, failed_{0};
};

}  // namespace dsrl
