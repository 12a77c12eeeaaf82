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
  // One forward's writes, in three calls: begin_append (valid[b] of the S new tokens of row b are real; the rest
  // is right padding), append per layer (writes them after each row's length and returns views of keys
  // [0, max_b(lengths[b] + valid[b]))), advance (moves the lengths on).
  void begin_append(const std::vector<int64_t>& valid, int64_t new_tokens, const at::Device& device);
  LayerKeys append(int64_t layer, const LayerKeys& fresh);
  void advance();
  // Forgets row b (its slots are reused by the next sequence placed there).
  void reset_row(int64_t row) { lengths_.at(row) = 0; }

 private:
  std::vector<at::Tensor> ckv_, kpe_, index_k_;  // per layer
  std::vector<int64_t> lengths_;
  int64_t max_len_;
  // The forward in progress (begin_append): where its entries go and how many keys the layers see.
  at::Tensor rows_, slots_, sources_;
  std::vector<int64_t> valid_;
  int64_t keys_ = 0;
};

}  // namespace dsrl
