#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "model/attention.h"

namespace dsrl {

KVCache::KVCache(const ModelConfig& c, int64_t batch, int64_t max_len, const at::TensorOptions& options)
    : lengths_(batch, 0), max_len_(max_len) {
  DSRL_CHECK(batch >= 1 && max_len >= 1, "KV cache needs batch >= 1 and max_len >= 1, got {} and {}", batch, max_len);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    ckv_.push_back(at::zeros({batch, max_len, c.kv_lora_rank}, options));
    kpe_.push_back(at::zeros({batch, max_len, c.qk_rope_head_dim}, options));
    index_k_.push_back(at::zeros({batch, max_len, c.index_head_dim}, options));
  }
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (size_t i = 0; i < ckv_.size(); ++i)
    total += ckv_[i].nbytes() + kpe_[i].nbytes() + index_k_[i].nbytes();
  return total;
}

at::Tensor KVCache::positions(int64_t new_tokens, const at::Device& device) const {
  at::Tensor start = at::tensor(lengths_, at::kLong).to(device).unsqueeze(1);           // [B, 1]
  return start + at::arange(new_tokens, at::TensorOptions().dtype(at::kLong).device(device));  // [B, S]
}

void KVCache::begin_append(const std::vector<int64_t>& valid, int64_t new_tokens, const at::Device& device) {
  const int64_t B = batch();
  DSRL_CHECK_EQ(static_cast<int64_t>(valid.size()), B, "rows in the valid-token counts");
  // (row, slot, new-token) triples of the entries to write: one scatter per tensor and layer.
  std::vector<int64_t> rows, slots, sources;
  keys_ = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = valid[b], at_len = lengths_[b];
    DSRL_CHECK(n >= 0 && n <= new_tokens, "row {}: {} valid tokens of {} new ones", b, n, new_tokens);
    DSRL_CHECK(at_len + n <= max_len_, "KV cache row {} overflows: {} cached + {} new > capacity {}", b, at_len, n,
               max_len_);
    for (int64_t s = 0; s < n; ++s) rows.push_back(b), slots.push_back(at_len + s), sources.push_back(s);
    keys_ = std::max(keys_, at_len + std::max<int64_t>(n, 1));
  }
  const auto on = at::TensorOptions().dtype(at::kLong).device(device);
  rows_ = at::tensor(rows, at::kLong).to(on);
  slots_ = at::tensor(slots, at::kLong).to(on);
  sources_ = at::tensor(sources, at::kLong).to(on);
  valid_ = valid;
}

LayerKeys KVCache::append(int64_t layer, const LayerKeys& fresh) {
  if (rows_.numel() > 0) {
    ckv_[layer].index_put_({rows_, slots_}, fresh.ckv.index({rows_, sources_}));
    kpe_[layer].index_put_({rows_, slots_}, fresh.kpe.index({rows_, sources_}));
    index_k_[layer].index_put_({rows_, slots_}, fresh.index_k.index({rows_, sources_}));
  }
  return LayerKeys{ckv_[layer].narrow(1, 0, keys_), kpe_[layer].narrow(1, 0, keys_),
                   index_k_[layer].narrow(1, 0, keys_)};
}

void KVCache::advance() {
  for (int64_t b = 0; b < batch(); ++b) lengths_[b] += valid_[b];
  valid_.assign(batch(), 0);
}

}  // namespace dsrl
