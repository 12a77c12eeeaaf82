#include "rollout/config.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, RolloutEngineConfig& c) {
  io.choice("device", c.device, {"cpu", "cuda"});
  io.field("max_sequences", c.max_sequences, int64_t{1}, int64_t{1} << 20);
  io.field("max_context", c.max_context, int64_t{0}, int64_t{1} << 30);
  io.field("kv_cache_mb", c.kv_cache_mb, 0.0, 1e9);
  io.choice("decode_graphs", c.decode_graphs, {"auto", "on", "off"});
  io.field("max_prefill_tokens", c.max_prefill_tokens, int64_t{0}, int64_t{1} << 40);
  io.field("max_samples_per_prompt", c.max_samples_per_prompt, int64_t{1}, int64_t{1} << 20);
  io.field("max_queued", c.max_queued, int64_t{1}, int64_t{1} << 30);
}

void describe(ConfigIO& io, RolloutServiceConfig& c) {
  io.section("server", c.server);
  io.section("log", c.log);
  io.section("model", c.model);
  io.section("engine", c.engine);
  if (io.reading() && c.model.checkpoint.empty() && c.model.config.empty())
    io.fail("model", "needs model.checkpoint (a folder) or model.config (a model config to initialise)");
}

}  // namespace dsrl
