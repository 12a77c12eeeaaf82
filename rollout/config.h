// dsrl-rollout's config (configs/rollout.yaml).
#pragma once

#include "common/log.h"
#include "common/server_config.h"

namespace dsrl {

struct RolloutServiceConfig {
  ServerConfig server;  // where to listen
  LogConfig log;        // log level and file
};
void describe(ConfigIO& io, RolloutServiceConfig& c);

}  // namespace dsrl
