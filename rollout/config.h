// dsrl-rollout's config (configs/rollout.yaml).
#pragma once

#include <string>

#include "common/log.h"
#include "common/model_source.h"
#include "common/server_config.h"

namespace dsrl {

// The generation engine: how many sequences run together and how long they may be.
struct RolloutEngineConfig {
  std::string device = "cpu";           // cpu (fp32) or cuda (bf16; -DDSRL_CUDA=ON)
  int64_t max_sequences = 64;           // KV-cache rows: sequences decoded together at most; the rest queue
  int64_t max_context = 0;              // tokens per sequence, prompt + completion (0: the model's
                                        // max_position_embeddings); a longer prompt is refused
  double kv_cache_mb = 0;               // cap on the KV cache in MiB: fewer rows when max_sequences rows of
                                        // max_context would not fit (0: no cap)
  std::string decode_graphs = "auto";   // decode steps with fixed shapes (batch padded to a bucket, keys over the
                                        // whole context) replayed as CUDA graphs: auto (on for cuda, off for cpu),
                                        // on (on cpu: the fixed-shape step runs eagerly, as tests use it), off
  int64_t max_prefill_tokens = 0;       // cap on one prefill's padded tokens (sequences x longest prompt): more
                                        // queued sequences wait for the next one (0: no cap; at least one
                                        // sequence always goes). Long agent contexts need it: a prefill's
                                        // attention scores grow with sequences x length^2
  int64_t max_samples_per_prompt = 1024;  // G above this is refused
  int64_t max_queued = 100000;          // sequences waiting for a row; a request beyond is refused
};
void describe(ConfigIO& io, RolloutEngineConfig& c);

struct RolloutServiceConfig {
  ServerConfig server;         // where to listen
  LogConfig log;               // log level and file
  ModelSourceConfig model;     // the policy it serves (a checkpoint, or a random init of a config)
  RolloutEngineConfig engine;  // batching and memory
};
void describe(ConfigIO& io, RolloutServiceConfig& c);

}  // namespace dsrl
