#include "reward/config.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, RewardServiceConfig& c) {
  io.section("server", c.server);
  io.section("log", c.log);
}

}  // namespace dsrl
