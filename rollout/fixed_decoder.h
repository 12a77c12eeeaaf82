// Decode steps with fixed shapes: the running rows padded up to a bucket size, keys over the whole KV cache
// (ForwardOptions::decode_lengths), inputs in device buffers that stay put. On CUDA each bucket's step is
// captured once as a CUDA graph and then replayed: one launch per step instead of about a thousand small
// kernels, which is what an eager decode of a small model spends its time on. On CPU (tests) the same step runs
// eagerly, padding included.
//
// A replay reads the model's parameters where they were at capture, so weight updates must copy into them in
// place (the engine's apply_swap does). Outputs live in the bucket's graph memory: read them before the next step.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <vector>

#include "model/kv_cache.h"
#include "model/transformer.h"

namespace dsrl::rollout_engine {

class FixedDecoder {
 public:
  FixedDecoder(DeepseekV32 model, KVCache* cache, const at::Device& device);
  ~FixedDecoder();
  // One step for the running rows [0, n): row b is fed tokens[b] at cache length lengths[b] (the cache's host
  // lengths are not moved: call KVCache::grow per row). Returns logits [P, 1, V] and the routing and indexer
  // traces for P >= n rows (the first n are the running ones).
  const ForwardResult& step(const std::vector<int64_t>& tokens, const std::vector<int64_t>& lengths);

 private:
  struct Bucket;
  int64_t bucket_size(int64_t n) const;
  ForwardResult run(const at::Tensor& tokens, const at::Tensor& lengths);
  Bucket& prepare(int64_t size);
  void capture(Bucket& b);  // CUDA builds: b.graph, or graphs_failed_ and a logged reason

  DeepseekV32 model_;
  KVCache* cache_;
  at::Device device_;
  std::map<int64_t, std::unique_ptr<Bucket>> buckets_;
  bool graphs_failed_ = false;
};

}  // namespace dsrl::rollout_engine
