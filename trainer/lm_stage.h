// Stage `lm`: next-token training (pretraining, or SFT with prompt tokens masked) of the DSA model,
// data-parallel over the ranks. The training substrate the later stages reuse: schedule, gradient all-reduce,
// clipping, checkpoints, resume, metrics.
#pragma once

#include <string>

#include "trainer/config.h"

namespace dsrl {

class Communicator;

// Every rank calls it; rank 0 logs, writes metrics.jsonl and checkpoints. `resume`: continue from the newest
// complete checkpoint in run_dir (saying which), or start fresh when there is none. Returns the exit code.
int run_lm_stage(const TrainConfig& config, Communicator& comm, const std::string& run_dir, bool resume);

// Learning rate at `step` (1-based): linear warm-up to lr, then cosine to min_lr at `steps`.
double learning_rate(const OptimConfig& optim, int64_t step, int64_t steps);

}  // namespace dsrl
