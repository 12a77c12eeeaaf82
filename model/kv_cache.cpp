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

LayerKeys KVCache::append(int64_t layer, const LayerKeys& fresh, const std::vector<int64_t>& valid) {
  const int64_t B = batch();
  DSRL_CHECK_EQ(static_cast<int64_t>(valid.size()), B, "rows in the valid-token counts");
  int64_t total = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = valid[b], at_len = lengths_[b];
    DSRL_CHECK(n >= 0 && n <= fresh.ckv.size(1), "row {}: {} valid tokens of {} new ones", b, n, fresh.ckv.size(1));
    DSRL_CHECK(at_len + n <= max_len_, "KV cache row {} overflows: {} cached + {} new > capacity {}", b, at_len, n,
               max_len_);
    if (n > 0) {
      ckv_[layer][b].narrow(0, at_len, n).copy_(fresh.ckv[b].narrow(0, 0, n));
      kpe_[layer][b].narrow(0, at_len, n).copy_(fresh.kpe[b].narrow(0, 0, n));
      index_k_[layer][b].narrow(0, at_len, n).copy_(fresh.index_k[b].narrow(0, 0, n));
    }
    total = std::max(total, at_len + std::max<int64_t>(n, 1));
  }
  return LayerKeys{ckv_[layer].narrow(1, 0, total), kpe_[layer].narrow(1, 0, total),
                   index_k_[layer].narrow(1, 0, total)};
}

void KVCache::advance(const std::vector<int64_t>& valid) {
  for (int64_t b = 0; b < batch(); ++b) lengths_[b] += valid[b];
}

}  // namespace dsrl
