// dsrl-train's config (configs/<stage>.yaml). Stages arrive with their issues; today: preflight.
#pragma once

#include <string>
#include <vector>

#include "common/log.h"

namespace dsrl {

// Stage `preflight`: checks a cluster before a long job: the all-reduce on every rank (MPI on CPU, NCCL on
// GPU: correct sum and bandwidth) and that every service endpoint answers GetStatus.
struct PreflightConfig {
  std::vector<std::string> rollout_endpoints;  // host:port of dsrl-rollout workers to probe
  std::vector<std::string> reward_endpoints;   // host:port of dsrl-reward replicas to probe
  double deadline_s = 5;                       // per GetStatus call, seconds
  int allreduce_mb = 16;                       // size of the timed all-reduce buffer, MiB (fp32)
  int allreduce_iters = 5;                     // timed all-reduce repetitions (after one warm-up)
};
void describe(ConfigIO& io, PreflightConfig& c);

struct TrainConfig {
  std::string stage = "preflight";  // what to run: preflight (lm, dense_warmup, sparse, grpo to come)
  std::string device = "cpu";       // cpu (MPI all-reduce) or cuda (NCCL, one GPU per rank; -DDSRL_CUDA=ON)
  std::string run_dir;              // where the resolved config, metrics and checkpoints go;
                                    // empty: runs/<stage>-<UTC time>
  LogConfig log;                    // log level and file
  PreflightConfig preflight;        // stage preflight
};
void describe(ConfigIO& io, TrainConfig& c);

}  // namespace dsrl
