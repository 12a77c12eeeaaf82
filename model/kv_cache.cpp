#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "model/attention.h"
#include "model/layers.h"

namespace dsrl {
namespace {
// Whether a model's cache keeps the FP8 copy of the indexer keys: the FP8 indexer with one scale per key.
bool keeps_fp8_keys(const ModelConfig& c) { return c.indexer_fp8 && c.index_head_dim <= 128; }
}  // namespace

KVCache::KVCache(const ModelConfig& c, int64_t rows, int64_t max_len, const at::TensorOptions& options)
    : lengths_(rows, 0), max_len_(max_len), token_bytes_(token_bytes(c, options.dtype().toScalarType())),
      count_(rows) {
  DSRL_CHECK(rows >= 1 && max_len >= 1, "KV cache needs rows >= 1 and max_len >= 1, got {} and {}", rows, max_len);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    // c_kv and k_pe side by side in one buffer, so the MQA attention reads [c_kv, k_pe] rows without a copy.
    at::Tensor latent = at::zeros({rows, max_len, c.kv_lora_rank + c.qk_rope_head_dim}, options);
    ckv_.push_back(latent.narrow(-1, 0, c.kv_lora_rank));
    kpe_.push_back(latent.narrow(-1, c.kv_lora_rank, c.qk_rope_head_dim));
    index_k_.push_back(at::zeros({rows, max_len, c.index_head_dim}, options));
    if (keeps_fp8_keys(c)) {
      index_k8_.push_back(at::zeros({rows, max_len, c.index_head_dim}, options.dtype(at::kByte)));
      index_scale_.push_back(at::ones({rows, max_len}, options.dtype(at::kFloat)));
    }
  }
}

std::vector<int64_t> KVCache::lengths() const {
  return std::vector<int64_t>(lengths_.begin() + first_, lengths_.begin() + first_ + count_);
}

int64_t KVCache::token_bytes(const ModelConfig& c, at::ScalarType dtype) {
  const int64_t fp8_copy = keeps_fp8_keys(c) ? c.index_head_dim + 4 : 0;  // e4m3 values and an fp32 scale
  return c.num_hidden_layers *
         ((c.kv_lora_rank + c.qk_rope_head_dim + c.index_head_dim) * static_cast<int64_t>(c10::elementSize(dtype)) +
          fp8_copy);
}

void KVCache::set_window(int64_t first, int64_t count) {
  DSRL_CHECK(first >= 0 && count >= 1 && first + count <= rows(), "KV cache window [{}, {}) outside its {} rows",
             first, first + count, rows());
  first_ = first;
  count_ = count;
}

void KVCache::move_row(int64_t from, int64_t to) {
  DSRL_CHECK(from >= 0 && from < rows() && to >= 0 && to < rows(), "KV cache move_row({}, {}) outside {} rows", from,
             to, rows());
  if (from == to) return;
  const int64_t n = lengths_[from];
  for (auto* storage : {&ckv_, &kpe_, &index_k_, &index_k8_, &index_scale_})
    for (auto& t : *storage)
      if (n > 0) t[to].narrow(0, 0, n).copy_(t[from].narrow(0, 0, n));
  lengths_[to] = n;
  lengths_[from] = 0;
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (size_t i = 0; i < ckv_.size(); ++i)
    total += ckv_[i].storage().nbytes() + index_k_[i].nbytes();  // c_kv's storage holds k_pe too
  for (size_t i = 0; i < index_k8_.size(); ++i) total += index_k8_[i].nbytes() + index_scale_[i].nbytes();
  return total;
}

at::Tensor KVCache::positions(int64_t new_tokens, const at::Device& device) const {
  at::Tensor start = at::tensor(lengths(), at::kLong).to(device).unsqueeze(1);         // [B, 1]
  return start + at::arange(new_tokens, at::TensorOptions().dtype(at::kLong).device(device));  // [B, S]
}

void KVCache::begin_append(const std::vector<int64_t>& valid, int64_t new_tokens, const at::Device& device) {
  const int64_t B = batch();
  DSRL_CHECK_EQ(static_cast<int64_t>(valid.size()), B, "rows in the valid-token counts");
  // (row, slot, new-token) triples of the entries to write: one scatter per tensor and layer.
  std::vector<int64_t> rows, slots, sources;
  keys_ = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = valid[b], at_len = lengths_[first_ + b];
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
  at::Tensor ckv = window(ckv_[layer]), kpe = window(kpe_[layer]), index_k = window(index_k_[layer]);
  // Decoding (no sources) writes new token 0 of every row, so its entries are plain views; else gather the valid
  // ones.
  auto entries = [&](const at::Tensor& t) { return sources_.defined() ? t.index({rows_, sources_}) : t.select(1, 0); };
  const bool fp8 = !index_k8_.empty();  // the FP8 indexer's copy of the keys (e4m3 bytes and a scale per key)
  at::Tensor index_k8, scale;
  if (fp8) index_k8 = window(index_k8_[layer]), scale = window(index_scale_[layer]);
  if (rows_.numel() > 0) {
    ckv.index_put_({rows_, slots_}, entries(fresh.ckv));
    kpe.index_put_({rows_, slots_}, entries(fresh.kpe));
    at::Tensor new_index_k = entries(fresh.index_k);
    index_k.index_put_({rows_, slots_}, new_index_k);
    if (fp8) {  // the FP8 copy: only the new keys are quantised (the indexer's own quantisation, per key)
      Fp8Blocks q = fp8_e4m3_quantize(hadamard_rotate(new_index_k));  // [n, d], [n, 1]
      index_k8.index_put_({rows_, slots_}, q.values.view(at::kByte));
      scale.index_put_({rows_, slots_}, q.scales.squeeze(-1));
    }
  }
  LayerKeys keys{ckv.narrow(1, 0, keys_), kpe.narrow(1, 0, keys_), index_k.narrow(1, 0, keys_)};
  if (fp8) {
    keys.index_k8 = index_k8.narrow(1, 0, keys_).view(at::kFloat8_e4m3fn);
    keys.index_k_scale = scale.narrow(1, 0, keys_);
  }
  return keys;
}

void KVCache::advance() {
  for (size_t b = 0; b < valid_.size(); ++b) lengths_[first_ + b] += valid_[b];
  valid_.clear();
}

void KVCache::begin_decode(const at::Tensor& lengths) {
  const int64_t B = batch();
  DSRL_CHECK(lengths.dim() == 1 && lengths.size(0) == B, "fixed-shape decode: expected [{}] cache lengths, got {} "
             "values in {} dims", B, lengths.numel(), lengths.dim());
  rows_ = at::arange(B, lengths.options().dtype(at::kLong));
  slots_ = lengths.to(at::kLong);
  sources_ = at::Tensor();  // every row writes its new token 0
  valid_.clear();  // advance() leaves the host lengths alone
  keys_ = max_len_;
}

void KVCache::grow(int64_t row) {
  DSRL_CHECK(row >= 0 && row < rows() && lengths_[row] < max_len_, "KV cache grow({}): row outside {} rows or full "
             "at {} tokens", row, rows(), max_len_);
  ++lengths_[row];
}

}  // namespace dsrl
