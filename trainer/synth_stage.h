// Stage synthesize (docs/synthesis.md): agentic task synthesis with pass@k filtering. Rank 0 makes candidate
// tasks from synth.environment's templates (environment files, task, verifier answer), and with
// synth.policy_tasks has the policy write more (a question and a program that prints its answer, run in the
// sandbox). It runs each synth.k times through the rollout workers with grpo.agent's loop and tools, scores every
// sample on the reward service, and writes the tasks solved at least once to <out>/tasks.jsonl (a grpo.tasks file)
// and the others to <out>/rejected.jsonl, each with its provenance and pass rate. A task every sample solved gets a
// harder successor in the next round, up to synth.max_difficulty. Other ranks have nothing to do and return.
#pragma once

#include <string>

#include "trainer/config.h"

namespace dsrl {

int run_synth_stage(const TrainConfig& config, int rank, const std::string& run_dir);

}  // namespace dsrl
