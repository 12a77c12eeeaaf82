// dsrl-reward's config (configs/reward.yaml).
#pragma once

#include "common/log.h"
#include "common/server_config.h"

namespace dsrl {

struct RewardServiceConfig {
  ServerConfig server;  // where to listen
  LogConfig log;        // log level and file
};
void describe(ConfigIO& io, RewardServiceConfig& c);

}  // namespace dsrl
