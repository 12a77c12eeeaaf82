// Stage grpo (docs/grpo.md): the RL loop of DeepSeek-V3.2 against dsrl-rollout workers and a dsrl-reward service.
// Per step, rank 0 draws prompts, gets G samples of each (with sampling masks and routes), scores them and
// computes group advantages (grpo_collect.h); every rank trains its share (grpo_train.h); rank 0 pushes the new
// weights to every worker as the next policy version, logs metrics and checkpoints.
#pragma once

#include <string>

#include "trainer/config.h"

namespace dsrl {

class Communicator;
class MpiSession;

int run_grpo_stage(const TrainConfig& config, Communicator& comm, const MpiSession& mpi, const std::string& run_dir,
                   bool resume);

}  // namespace dsrl
