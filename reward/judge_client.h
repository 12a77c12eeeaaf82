// The judge over the network: a JudgeBackend that asks a dsrl-rollout worker (judge.endpoint) through Generate.
// Prompts are tokenized with judge.tokenizer and sent judge.batch_size at a time, judge.concurrency calls in
// flight, each call with a deadline (judge.timeout_s). A call that fails in transit is retried with backoff
// (judge.retries); a call the worker refuses (a prompt too long for its context, say) is split in halves, so only
// the prompts at fault fail. Replies are decoded back to text.
#pragma once

#include <atomic>
#include <memory>

#include "proto/rollout.grpc.pb.h"
#include "reward/judge.h"

namespace dsrl {

class Tokenizer;

class RolloutJudge : public JudgeBackend {
 public:
  explicit RolloutJudge(const JudgeConfig& config);  // throws dsrl::Error if the tokenizer cannot be loaded
  ~RolloutJudge() override;
  std::vector<Judgement> judge(const std::vector<std::string>& prompts) override;

 private:
  // Judges prompts [begin, end) into out[begin, end).
  void call(const std::vector<std::vector<int32_t>>& ids, size_t begin, size_t end, std::vector<Judgement>* out);
  // One Generate with retries; returns the final status.
  grpc::Status generate(const std::vector<std::vector<int32_t>>& ids, size_t begin, size_t end,
                        rollout::GenerateResponse* response);

  JudgeConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<rollout::Rollout::Stub> stub_;
  std::atomic<uint64_t> next_seed_{1};
};

}  // namespace dsrl
