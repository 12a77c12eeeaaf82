// Stages lm, dense_warmup and sparse (continued pretraining, docs/training.md), data-parallel over the ranks:
//   lm            next-token loss (pretraining, or SFT with prompt tokens masked); the indexer is frozen
//   dense_warmup  dense attention; only the indexer trains, on KL(p_t || softmax(I_t)) to the main attention
//   sparse        top-k attention; the main model trains on the LM loss, the indexer on KL over its selected set
// Each starts from the previous stage's checkpoint (model.checkpoint), and is the substrate the GRPO stage reuses:
// schedule, gradient accumulation and all-reduce, clipping, checkpoints, resume, metrics.
#pragma once

#include <string>

#include "trainer/config.h"

namespace dsrl {

class Communicator;

// Every rank calls it; rank 0 logs, writes metrics.jsonl and checkpoints. `resume`: continue from the newest
// complete checkpoint in run_dir (saying which), or start fresh when there is none. Returns the exit code.
int run_pretrain_stage(const TrainConfig& config, Communicator& comm, const std::string& run_dir, bool resume);

}  // namespace dsrl
