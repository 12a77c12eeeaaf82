// The parts of a data-parallel optimizer step that every training stage shares: which parameters train, the
// learning-rate schedule, the gradient all-reduce, clipping, and aux-loss-free MoE balancing.
#pragma once

#include <string>
#include <vector>

#include "model/transformer.h"
#include "trainer/adamw.h"
#include "trainer/config.h"

namespace dsrl {

class Communicator;

// The trainable parameter groups of a stage; everything else gets requires_grad = false.
//   lm:           the main model ("decay": matrices, "no_decay": norms, biases, embedding) at optim.lr;
//                 the indexer is frozen (it learns in dense_warmup / sparse)
//   dense_warmup: the indexer only ("indexer_decay", "indexer_no_decay") at indexer.lr
//   sparse:       both, each at its own learning rate
//   grpo:         as lm (the indexer is frozen)
std::vector<ParamGroup> stage_param_groups(DeepseekV32& model, const TrainConfig& config);

// The schedule's factor at `step` (1-based): linear warm-up from 0 to 1, then cosine to min_lr / lr at `steps`.
// Each group's learning rate is its peak times this factor.
double schedule_factor(const OptimConfig& optim, int64_t step, int64_t steps);

// Sums every trainable gradient over the ranks in one flat buffer (a missing gradient counts as zero, so every
// rank contributes the same layout).
void all_reduce_gradients(std::vector<ParamGroup>& groups, Communicator& comm);

// Scales gradients so their global norm is at most max_norm (0: no clipping); returns the norm before clipping.
double clip_gradients(const std::vector<ParamGroup>& groups, double max_norm);

// Tokens routed to each expert: expert_ids per MoE layer [B, S, k] -> [MoE layers, E] fp32 (undefined if none).
at::Tensor expert_load(const std::vector<at::Tensor>& expert_ids, int64_t experts);

// Aux-loss-free balancing (DeepSeek-V3): loads summed over the ranks move each router's correction bias by
// `rate` towards balance. Returns the mean over layers of max load / mean load (1 with no MoE layer).
double balance_experts(DeepseekV32& model, at::Tensor load, double rate, Communicator& comm);

// Values summed over the ranks (one all-reduce, on the communicator's device).
std::vector<double> all_reduce_values(const std::vector<double>& values, Communicator& comm, const at::Device& device);

}  // namespace dsrl
