// The latent KV cache of a batch of sequences: per layer c_kv [rows, Smax, C] and k_pe [rows, Smax, R] (two views
// of one [rows, Smax, C + R] buffer, so the MQA attention reads [c_kv, k_pe] rows without a copy) and the indexer
// keys [rows, Smax, d], with a length per row. Slot j holds the token at position j of that row. With indexer_fp8
// (and d <= 128, one scale per key) it also keeps the indexer keys as the FP8 kernels take them, quantised once as
// they are written: e4m3 values [rows, Smax, d] and a scale per key [rows, Smax] (LayerKeys::index_k8).
// A forward covers a window of consecutive rows (all of them unless set_window narrows it), so a continuous-
// batching engine can prefill new rows and decode the running ones as separate forwards.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "model/config.h"

namespace dsrl {

struct LayerKeys;

class KVCache {
 public:
  // Allocates zeroed storage for `rows` rows of up to `max_len` tokens; the window is every row.
  KVCache(const ModelConfig& config, int64_t rows, int64_t max_len, const at::TensorOptions& options);

  int64_t rows() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t batch() const { return count_; }  // rows in the window: the B of the next forward
  int64_t max_len() const { return max_len_; }
  std::vector<int64_t> lengths() const;     // of the window's rows
  int64_t length(int64_t row) const { return lengths_.at(row); }
  // Bytes held by the storage (all layers), and per cached token of one row.
  int64_t bytes() const;
  int64_t bytes_per_token() const { return token_bytes_; }
  // Bytes per cached token of one row for a model, before allocating (all layers: c_kv, k_pe, indexer key, and its
  // FP8 copy with the FP8 indexer).
  static int64_t token_bytes(const ModelConfig& config, at::ScalarType dtype);

  // The next forwards cover rows [first, first + count).
  void set_window(int64_t first, int64_t count);
  // Moves row `from` (entries and length) to row `to`, leaving `from` empty: compacts the running rows.
  void move_row(int64_t from, int64_t to);

  // Positions of S new tokens per window row: [B, S] int64 = lengths[b] + s.
  at::Tensor positions(int64_t new_tokens, const at::Device& device) const;
  // One forward's writes, in three calls: begin_append (valid[b] of the S new tokens of row b are real; the rest
  // is right padding), append per layer (writes them after each row's length and returns views of keys
  // [0, max_b(lengths[b] + valid[b]))), advance (moves the lengths on).
  void begin_append(const std::vector<int64_t>& valid, int64_t new_tokens, const at::Device& device);
  LayerKeys append(int64_t layer, const LayerKeys& fresh);
  int64_t keys() const { return keys_; }  // T of the keys append() returns in the forward in progress
  void advance();
  // The fixed-shape decode (ForwardOptions::decode_lengths): one new token per window row, written at slot
  // lengths[b] ([B] int64 on the device), and append() returns keys over the whole capacity (slots past a
  // row's length hold stale entries the causal mask hides). Nothing is read from or written to the host, so
  // the forward can be captured as a CUDA graph; the caller moves each row on with grow() after the step.
  void begin_decode(const at::Tensor& lengths);
  void grow(int64_t row);
  // Forgets row b (its slots are reused by the next sequence placed there).
  void reset_row(int64_t row) { lengths_.at(row) = 0; }

 private:
  at::Tensor window(const at::Tensor& storage) const { return storage.narrow(0, first_, count_); }

  // Per layer; index_k8_ (uint8 storage of e4m3) and index_scale_ only with the FP8 indexer.
  std::vector<at::Tensor> ckv_, kpe_, index_k_, index_k8_, index_scale_;
  std::vector<int64_t> lengths_;  // per row
  int64_t max_len_;
  int64_t token_bytes_;
  int64_t first_ = 0, count_ = 0;                // the window
  // The forward in progress (begin_append): where its entries go and how many keys the layers see.
  at::Tensor rows_, slots_, sources_;  // sources_ undefined after begin_decode: new token 0 of every row
  std::vector<int64_t> valid_;
  int64_t keys_ = 0;
};

}  // namespace dsrl
