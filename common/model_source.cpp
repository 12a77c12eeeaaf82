#include "common/model_source.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, ModelSourceConfig& c) {
  io.field("checkpoint", c.checkpoint);
  io.field("config", c.config);
  io.field("init_seed", c.init_seed);
}

}  // namespace dsrl
