#include "trainer/config.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, PreflightConfig& c) {
  io.field("rollout_endpoints", c.rollout_endpoints);
  io.field("reward_endpoints", c.reward_endpoints);
  io.field("deadline_s", c.deadline_s, 0.001, 3600.0);
  io.field("allreduce_mb", c.allreduce_mb, 1, 4096);
  io.field("allreduce_iters", c.allreduce_iters, 1, 1000);
}

void describe(ConfigIO& io, TrainConfig& c) {
  io.choice("stage", c.stage, {"preflight"});
  io.choice("device", c.device, {"cpu", "cuda"});
  io.field("run_dir", c.run_dir);
  io.section("log", c.log);
  io.section("preflight", c.preflight);
}

}  // namespace dsrl
