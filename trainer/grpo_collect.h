// Rank 0's half of a GRPO step (torch-free, library dsrl_trainer_rpc): draw prompts, get G samples of each from
// the rollout workers, score them on the reward service, and turn rewards into group advantages. Also the
// held-out evaluation. The samples it returns are what every rank trains on.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "trainer/grpo_config.h"
#include "trainer/grpo_data.h"
#include "trainer/reward_client.h"
#include "trainer/rollout_pool.h"

namespace dsrl {

class Tokenizer;

struct CollectStats {
  int64_t samples = 0;            // generated
  int64_t scored = 0;             // with a reward (the others had a reward error and are dropped)
  int64_t trained = 0;            // handed to training
  int64_t groups = 0, zero_variance_groups = 0, dropped_groups = 0;  // dropped: fewer than 2 scored samples
  double reward_mean = 0;         // over the scored samples
  std::map<std::string, double> signal_means;  // each reward signal, over the samples that report it
  double length_mean = 0;         // response tokens
  double stopped_share = 0;       // samples that ended with the stop token
  int64_t generated_tokens = 0;
  uint64_t oldest_version = 0;    // the oldest policy version that generated a sample
  uint64_t version_gap = 0;       // the trainer's policy version minus oldest_version (set by the stage)
  double rollout_s = 0, reward_s = 0;
  std::string first_reward_error; // for the log when some were dropped
};

struct EvalStats {
  int64_t answers = 0;
  double accuracy = 0;            // share of answers with total reward >= eval_threshold
  double reward_mean = 0;
  double length_mean = 0;
};

class GrpoCollector {
 public:
  // vocab_limit: rollouts sample only ids below it (0: the whole vocabulary).
  GrpoCollector(const GrpoConfig& config, const std::string& tokenizer, int64_t vocab_limit);
  ~GrpoCollector();
  // One step's samples: prompts_per_step x samples_per_prompt generated, scored, with advantages and KL weights.
  std::vector<GrpoSample> collect(PromptMixture& prompts, int64_t step, uint64_t version, bool keep_mask,
                                  bool keep_routing, CollectStats* stats);
  EvalStats evaluate(const std::vector<GrpoPrompt>& prompts);
  RolloutPool& pool() { return pool_; }

 private:
  std::vector<std::vector<int32_t>> encode(const std::vector<GrpoPrompt>& prompts) const;
  std::vector<RewardResult> score(const std::vector<GrpoPrompt>& prompts, const std::vector<RolloutSample>& samples,
                                  int64_t per_prompt);

  const GrpoConfig& config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int64_t> stop_ids_;
  int64_t vocab_limit_;
  RolloutPool pool_;
  RewardClient reward_;
};

}  // namespace dsrl
