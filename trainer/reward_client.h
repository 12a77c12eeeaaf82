// The trainer's side of the reward service (torch-free): plain structs in and out.
#pragma once

#include <cstdint>
#include <memory>
#include <map>
#include <string>
#include <vector>

namespace dsrl {

struct RewardRequestItem {
  std::string id, task_type, prompt, response, reference_answer, rubric, target_language;
  int64_t response_tokens = 0;
  std::map<std::string, std::string> files;  // an agent's repository (the code_tests signal)
};

struct RewardResult {
  double total = 0;
  std::map<std::string, double> signals;
  std::string error;  // non-empty: the item could not be scored (the trainer drops the sample)
};

class RewardClient {
 public:
  // retries: a call that fails in transit (unavailable, deadline) is repeated after backoff_s, doubling; a retry
  // waits up to deadline_s for an unreachable service to come back.
  RewardClient(const std::string& endpoint, double deadline_s, int64_t retries, double backoff_s);
  ~RewardClient();
  // One result per item, in order. Throws dsrl::Error naming the endpoint and status when the call fails.
  std::vector<RewardResult> score(const std::vector<RewardRequestItem>& items);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsrl
