// The policy update of one GRPO step on every rank (torch): the step's samples split into updates_per_batch
// mini-batches (one optimizer step each), each rank training its share, in micro-batches by token budget.
#pragma once

#include <vector>

#include "model/transformer.h"
#include "trainer/adamw.h"
#include "trainer/config.h"
#include "trainer/grpo_data.h"
#include "trainer/grpo_batch.h"
#include "trainer/grpo_loss.h"

namespace dsrl {

class Communicator;

struct GrpoTrainStats {   // over all ranks and updates
  double objective = 0;   // mean J_i
  double kl = 0;          // mean per-sequence KL
  double ratio_mean = 1, ratio_max = 1;
  double clip_fraction = 0;   // tokens where the clipped branch was taken
  double masked_fraction = 0; // sequences OPSM masked
  double entropy = 0;         // mean per-token entropy of the (masked, tempered) policy
  double grad_norm = 0;       // of the last update, before clipping
  double route_mismatch = 0;  // share of (token, MoE layer) where the router's own choice differs from the replayed
  double outside_nucleus = 0; // share of sampled tokens outside the top-k/top-p set recomputed from the policy
  int64_t tokens = 0;         // response tokens trained (per update, summed)
};

class GrpoLearner {
 public:
  // The policy trains (groups from stage_param_groups); `reference` is undefined when no task has a KL weight.
  // vocab_limit: the rollout's (ids at or past it were never sampleable; 0: none).
  GrpoLearner(const TrainConfig& config, DeepseekV32 policy, DeepseekV32 reference, AdamW& optimizer,
              std::vector<ParamGroup>& groups, Communicator& comm, const at::Device& device, int64_t vocab_limit);
  // pi_old: recompute replaces the samples' behaviour log-probs with the current policy's before any update.
  GrpoTrainStats update(std::vector<GrpoSample>& samples);

 private:
  struct Sums;
  // What a forward shows about how far the trainer's view is from the rollout's: [B, S] each.
  struct Drift {
    at::Tensor mismatch;  // fp32: share of MoE layers whose own route differs from the replayed one
    at::Tensor outside;   // bool: the sampled token is outside the recomputed top-k/top-p set
  };
  // Forward of one micro-batch: the policy's log-probs [B, S] (and entropy, drift), replaying routes and masks.
  at::Tensor logprobs(DeepseekV32& model, const GrpoMicroBatch& mb, at::Tensor* entropy, Drift* drift = nullptr);
  void recompute_old(std::vector<GrpoSample>& samples);
  std::vector<const GrpoSample*> my_share(const std::vector<GrpoSample>& samples, int64_t update) const;

  const TrainConfig& config_;
  DeepseekV32 policy_, reference_;
  AdamW& optimizer_;
  std::vector<ParamGroup>& groups_;
  Communicator& comm_;
  at::Device device_;
  int64_t vocab_limit_;
  GrpoLossOptions loss_;
};

}  // namespace dsrl
