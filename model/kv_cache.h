// The latent KV cache of a batch of sequences: per layer c_kv [B, Smax, C], k_pe [B, Smax, R] and the indexer
// keys [B, Smax, d], with a length per row. Slot j holds the token at position j of that row.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "model/config.h"

namespace dsrl {

struct LayerKeys;

class KVCache {
 public:
  // Allocates zeroed storage for `batch` rows of up to `max_len` tokens.
  KVCache(const ModelConfig& config, int64_t batch, int64_t max_len, const at::TensorOptions& options);

  int64_t batch() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t max_len() const { return max_len_; }
  const std::vector<int64_t>& lengths() const { return lengths_; }
  // Bytes held by the storage (all layers).
  int64_t bytes() const;

  // Positions of S new tokens per row: [B, S] int64 = lengths[b] + s.
  at::Tensor positions(int64_t new_tokens, const at::Device& device) const;
  // Writes the first valid[b] of the new tokens' latents of `layer` after each row's current length and returns
  // views of the cache covering keys [0, max_b(lengths[b] + valid[b])).
  LayerKeys append(int64_t layer, const LayerKeys& fresh, const std::vector<int64_t>& valid);
  // Moves every row's length forward by valid[b] (call once after all layers appended).
  void advance(const std::vector<int64_t>& valid);
  // Forgets row b (its slots are reused by the next sequence placed there).
  void reset_row(int64_t row) { lengths_.at(row) = 0; }

 private:
  std::vector<at::Tensor> ckv_, kpe_, index_k_;  // per layer
  std::vector<int64_t> lengths_;
  int64_t max_len_;
};

}  // namespace dsrl
