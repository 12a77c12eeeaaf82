#include "model/attention.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>
#include <vector>

#include "model/kernel_ops.h"

namespace dsrl {

at::Tensor causal_mask(const at::Tensor& positions, int64_t num_keys) {
  at::Tensor keys = at::arange(num_keys, positions.options());
  return keys.view({1, 1, num_keys}) <= positions.unsqueeze(-1);
}

at::Tensor selection_mask(const at::Tensor& topk, int64_t num_keys) {
  at::Tensor mask = at::zeros({topk.size(0), topk.size(1), num_keys + 1}, topk.options().dtype(at::kBool));
  at::Tensor slot = at::where(topk < 0, at::full_like(topk, num_keys), topk);  // -1 -> a spare column
  return mask.scatter_(-1, slot, true).narrow(-1, 0, num_keys);
}

at::Tensor selected_valid(const at::Tensor& topk, const at::Tensor& positions) {
  return (topk >= 0) & (topk <= positions.unsqueeze(-1));
}

namespace {
// [a, b] along the last dim. A view, not a copy, when b's columns follow a's in the same storage with the same
// strides (the KV cache keeps c_kv and k_pe that way) and neither needs a gradient; at::cat otherwise.
at::Tensor join_last_dim(const at::Tensor& a, const at::Tensor& b) {
  const int64_t d = a.dim();
  bool adjacent = d >= 1 && b.dim() == d && !a.requires_grad() && !b.requires_grad() && a.has_storage() &&
                  b.has_storage() && a.storage().is_alias_of(b.storage()) && a.stride(-1) == 1 && b.stride(-1) == 1 &&
                  a.dtype() == b.dtype() && b.storage_offset() == a.storage_offset() + a.size(-1);
  for (int64_t i = 0; adjacent && i + 1 < d; ++i) adjacent = a.size(i) == b.size(i) && a.stride(i) == b.stride(i);
  if (!adjacent) return at::cat({a, b}, -1);
  std::vector<int64_t> sizes = a.sizes().vec();
  sizes.back() += b.size(-1);
  return a.as_strided(sizes, a.strides(), a.storage_offset());
}

// Rows of the flattened [B * T] keys: sequence b's key t is row b * T + t; where `keep` is false, -1 (no key).
at::Tensor flat_rows(const at::Tensor& topk, const at::Tensor& keep, int64_t T, const AttentionContext& ctx) {
  const int64_t B = topk.size(0);
  const bool shared = ctx.keys == T && ctx.row_offset.defined() && ctx.row_offset.size(0) == B &&
                      ctx.row_offset.device() == topk.device();
  return at::where(keep, topk + (shared ? ctx.row_offset : at::arange(B, topk.options()).view({B, 1, 1}) * T), -1);
}
}  // namespace

// --- indexer ------------------------------------------------------------------------------------------------

IndexerImpl::IndexerImpl(const ModelConfig& c)
    : heads(c.index_n_heads), head_dim(c.index_head_dim), rope_dim(c.qk_rope_head_dim), topk(c.index_topk),
      fp8(c.indexer_fp8) {
  wq_b = register_module("wq_b", linear(c.q_lora_rank, heads * head_dim));
  wk = register_module("wk", linear(c.hidden_size, head_dim));
  k_norm = register_module("k_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({head_dim}).eps(1e-6)));
  weights_proj = register_module("weights_proj", linear(c.hidden_size, heads));  // kept in fp32
}

namespace {
// RoPE (half-split layout) on the first rope_dim channels. x: [B, S, (H,) d]
at::Tensor rope_prefix(const at::Tensor& x, int64_t rope_dim, const AttentionContext& ctx) {
  at::Tensor rotated = rope_half(x.narrow(-1, 0, rope_dim), ctx.cos, ctx.sin);
  return at::cat({rotated, x.narrow(-1, rope_dim, x.size(-1) - rope_dim)}, -1);
}
}  // namespace

at::Tensor IndexerImpl::keys(const at::Tensor& x, const AttentionContext& ctx) {
  return rope_prefix(k_norm(wk(x)), rope_dim, ctx);  // [B, S, d]
}

std::pair<at::Tensor, at::Tensor> IndexerImpl::queries(const at::Tensor& x, const at::Tensor& q_lat,
                                                       const AttentionContext& ctx) {
  const int64_t B = x.size(0), S = x.size(1);
  at::Tensor q = rope_prefix(wq_b(q_lat).view({B, S, heads, head_dim}), rope_dim, ctx);  // [B, S, Hi, d]
  at::Tensor w = weights_proj(x.to(weights_proj->weight.scalar_type())).to(at::kFloat) *
                 (1.0 / std::sqrt(static_cast<double>(heads)));                         // [B, S, Hi]
  return {q, w};
}

std::pair<at::Tensor, at::Tensor> IndexerImpl::score_operands(const at::Tensor& q, const at::Tensor& keys) const {
  at::Tensor qs = q, k = keys;
  if (fp8) {
    qs = fp8_e4m3_roundtrip(hadamard_rotate(qs));
    k = fp8_e4m3_roundtrip(hadamard_rotate(k));
  }
  // d^-0.5 goes into q (ReLU commutes with a positive scale).
  return {qs.to(at::kFloat) * (1.0 / std::sqrt(static_cast<double>(head_dim))), k.to(at::kFloat)};
}

at::Tensor IndexerImpl::scores(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& keys,
                               const AttentionContext& ctx) {
  const int64_t B = x.size(0), S = x.size(1), T = keys.size(1);
  auto [q, w] = queries(x, q_lat, ctx);
  auto [qs, k] = score_operands(q, keys);  // [B, S, Hi, d], [B, T, d]
  // One batched GEMM per sequence: [B, S*Hi, d] x [B, d, T] (a broadcast matmul would copy k for every query).
  at::Tensor logits = at::relu(at::bmm(qs.reshape({B, S * heads, head_dim}), k.transpose(1, 2)));  // [B, S*Hi, T]
  at::Tensor index = at::bmm(w.reshape({B * S, 1, heads}), logits.view({B * S, heads, T})).view({B, S, T});
  return index.masked_fill(causal_mask(ctx.positions, T).logical_not(), -INFINITY);
}

at::Tensor IndexerImpl::selected_scores(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& keys,
                                        const at::Tensor& topk, const AttentionContext& ctx) {
  const int64_t B = x.size(0), S = x.size(1), T = keys.size(1), K = topk.size(-1);
  auto [q, w] = queries(x, q_lat, ctx);
  at::Tensor valid = selected_valid(topk, ctx.positions);  // [B, S, K]
  at::Tensor rows = flat_rows(topk, valid, T, ctx);
  if (ctx.kernels && !fp8 && keys.scalar_type() == at::kBFloat16 && selected_scores_kernel_applies(q)) {
    // The GPU kernels gather the selected keys themselves, forward and backward; d^-0.5 goes into w.
    at::Tensor wd = w * (1.0 / std::sqrt(static_cast<double>(head_dim)));
    return indexer_selected_scores(q.reshape({B * S, heads, head_dim}), wd.reshape({B * S, heads}),
                                   keys.reshape({B * T, head_dim}), rows.view({B * S, K})).view({B, S, K});
  }
  auto [qs, k] = score_operands(q, keys);  // [B, S, Hi, d], [B, T, d]
  at::Tensor picked = k.reshape({B * T, head_dim}).index_select(0, rows.clamp_min(0).flatten());
  at::Tensor logits = at::relu(at::matmul(qs, picked.view({B, S, K, head_dim}).transpose(-1, -2)));  // [B, S, Hi, K]
  at::Tensor index = at::matmul(w.unsqueeze(2), logits).squeeze(2);                                    // [B, S, K]
  return index.masked_fill(valid.logical_not(), -INFINITY);
}

at::Tensor IndexerImpl::choose(const at::Tensor& x, const at::Tensor& q_lat, const LayerKeys& cached,
                               const AttentionContext& ctx) {
  const at::Tensor& keys = cached.index_k;
  if (!ctx.kernels || keys.scalar_type() != at::kBFloat16) return select(scores(x, q_lat, keys, ctx));
  auto [q, w] = queries(x, q_lat, ctx);
  if (!indexer_kernel_applies(q)) return select(scores(x, q_lat, keys, ctx));
  // The GPU kernels: logits by chunks of queries and a radix top-k; d^-0.5 goes into w this time.
  const int64_t T = keys.size(1);
  at::Tensor key_end = ctx.keys == T && ctx.key_end.defined() ? ctx.key_end  // causal: keys up to the query's position
                                                              : (ctx.positions + 1).clamp_max(T).to(at::kInt);
  at::Tensor wd = w * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const int64_t k = std::min<int64_t>(topk, T);
  if (!fp8) return indexer_topk(q, keys, wd, key_end, k).to(at::kLong);
  // FP8 on FP8 MMAs, with the simulation's quantisation (score_operands): one power-of-two scale per row (d <= 128),
  // the queries' folded into w. The KV cache quantises each key once, when written; without a cache (training) the
  // keys are quantised here. A device without FP8 MMAs keeps the simulation.
  Fp8Blocks q8 = fp8_e4m3_quantize(hadamard_rotate(q));
  if (!indexer_kernel_applies(q8.values)) return select(scores(x, q_lat, keys, ctx));
  Fp8Blocks k8 = cached.index_k8.defined() ? Fp8Blocks{cached.index_k8, cached.index_k_scale}
                                           : fp8_e4m3_quantize(hadamard_rotate(keys));
  return indexer_topk(q8.values, k8.values, wd * q8.scales.squeeze(-1), key_end, k, k8.scales.reshape({-1, T}))
      .to(at::kLong);
}

at::Tensor IndexerImpl::select(const at::Tensor& scores) const {
  const int64_t k = std::min<int64_t>(topk, scores.size(-1));
  auto [values, indices] = scores.topk(k, -1);  // sorted, best first
  return at::where(at::isinf(values), at::full_like(indices, -1), indices);
}

// --- MLA ------------------------------------------------------------------------------------------------------

MLAImpl::MLAImpl(const ModelConfig& c)
    : heads_(c.num_attention_heads), nope_dim_(c.qk_nope_head_dim), rope_dim_(c.qk_rope_head_dim),
      v_dim_(c.v_head_dim), kv_rank_(c.kv_lora_rank), scale_(c.softmax_scale()) {
  q_a_proj = register_module("q_a_proj", linear(c.hidden_size, c.q_lora_rank));
  q_a_layernorm = register_module("q_a_layernorm", RMSNorm(c.q_lora_rank, 1e-6));
  q_b_proj = register_module("q_b_proj", linear(c.q_lora_rank, heads_ * c.qk_head_dim()));
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa", linear(c.hidden_size, kv_rank_ + rope_dim_));
  kv_a_layernorm = register_module("kv_a_layernorm", RMSNorm(kv_rank_, 1e-6));
  kv_b_proj = register_module("kv_b_proj", linear(kv_rank_, heads_ * (nope_dim_ + v_dim_)));
  o_proj = register_module("o_proj", linear(heads_ * v_dim_, c.hidden_size));
  indexer = register_module("indexer", Indexer(c));
}

LayerKeys MLAImpl::new_keys(const at::Tensor& x, const AttentionContext& ctx) {
  at::Tensor kv = kv_a_proj_with_mqa(x);  // [B, S, C + R]
  LayerKeys keys;
  keys.ckv = kv_a_layernorm(kv.narrow(-1, 0, kv_rank_));                              // [B, S, C]
  keys.kpe = rope_interleaved(kv.narrow(-1, kv_rank_, rope_dim_), ctx.cos, ctx.sin);  // [B, S, R]
  keys.index_k = indexer->keys(x.detach(), ctx);                                      // [B, S, d]
  return keys;
}

at::Tensor MLAImpl::forward(const at::Tensor& x, const LayerKeys& keys, const AttentionContext& ctx,
                            const at::Tensor& replay_topk, at::Tensor* chosen_topk) {
  const int64_t B = x.size(0), S = x.size(1), T = keys.ckv.size(1);
  at::Tensor q_lat = q_a_layernorm(q_a_proj(x));                              // [B, S, q_lora]
  at::Tensor q = q_b_proj(q_lat).view({B, S, heads_, nope_dim_ + rope_dim_});  // [B, S, H, dn + R]
  at::Tensor q_nope = q.narrow(-1, 0, nope_dim_);
  at::Tensor q_pe = rope_interleaved(q.narrow(-1, nope_dim_, rope_dim_), ctx.cos, ctx.sin);

  at::Tensor topk;  // [B, S, k] selected key positions, undefined in dense mode
  // Dense warm-up trains the indexer on every causal key: [B, S, T] scores with gradient to its weights. Sparse
  // training scores the selected keys only (add_sparse_indexer_terms).
  at::Tensor index_scores;
  if (ctx.indexer_terms && !ctx.sparse) index_scores = indexer->scores(x.detach(), q_lat.detach(), keys.index_k, ctx);
  if (replay_topk.defined()) {
    TORCH_CHECK(replay_topk.dim() == 3 && replay_topk.size(0) == B && replay_topk.size(1) == S,
                "replayed indexer top-k must be [", B, ", ", S, ", k], got ", replay_topk.sizes());
    TORCH_CHECK(replay_topk.numel() == 0 || replay_topk.max().item<int64_t>() < T, "replayed indexer top-k names a key "
                "beyond the ", T, " keys present");
    topk = replay_topk.to(at::kLong);
  } else if (ctx.sparse || chosen_topk || ctx.indexer_terms) {
    at::NoGradGuard no_grad;  // the selection is discrete; the indexer learns from its own KL loss
    topk = index_scores.defined() ? indexer->select(index_scores.detach())
                                  : indexer->choose(x, q_lat, keys, ctx);
  }
  if (chosen_topk) *chosen_topk = topk;
  if (ctx.indexer_terms && ctx.sparse) {
    add_sparse_indexer_terms(x, q_lat, q_nope, q_pe, keys, ctx, topk);
  } else if (ctx.indexer_terms) {
    add_dense_indexer_terms(q_nope, q_pe, keys, ctx, index_scores, topk);
  }
  if (!ctx.sparse && !replay_topk.defined()) topk = at::Tensor();

  const bool mqa = ctx.impl == AttentionImpl::kMQA;
  at::Tensor out;
  if (mqa) {
    out = attend_mqa(q_nope, q_pe, keys, topk, ctx);
  } else {
    at::Tensor allowed = causal_mask(ctx.positions, T);
    if (topk.defined()) allowed = allowed & selection_mask(topk, T);
    out = attend_mha(q_nope, q_pe, keys, allowed);
  }
  return o_proj(out.reshape({B, S, heads_ * v_dim_}));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> MLAImpl::mha_heads(const at::Tensor& q_nope, const at::Tensor& q_pe,
                                                                  const LayerKeys& keys) {
  const int64_t B = keys.ckv.size(0), T = keys.ckv.size(1);
  at::Tensor kv = kv_b_proj(keys.ckv).view({B, T, heads_, nope_dim_ + v_dim_});  // [B, T, H, dn + dv]
  // Full-width heads: q = [q_nope, q_pe], k = [k_nope, k_pe shared by the heads].
  at::Tensor q = at::cat({q_nope, q_pe}, -1).transpose(1, 2);                                   // [B, H, S, dn + R]
  at::Tensor k = at::cat({kv.narrow(-1, 0, nope_dim_), keys.kpe.unsqueeze(2).expand({B, T, heads_, rope_dim_})}, -1)
                     .transpose(1, 2);                                                          // [B, H, T, dn + R]
  at::Tensor v = kv.narrow(-1, nope_dim_, v_dim_).transpose(1, 2);                              // [B, H, T, dv]
  return {q, k, v};
}

at::Tensor MLAImpl::attend_mha(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                               const at::Tensor& allowed) {
  auto [q, k, v] = mha_heads(q_nope, q_pe, keys);
  // Fused attention with the boolean mask (true = may attend): the [B, H, S, T] scores are never stored.
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, allowed.unsqueeze(1), 0.0, false, scale_);
  return out.transpose(1, 2);  // [B, S, H, dv]
}

void MLAImpl::add_dense_indexer_terms(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                                      const AttentionContext& ctx, const at::Tensor& scores, const at::Tensor& topk) {
  const int64_t T = keys.ckv.size(1);
  at::Tensor causal = causal_mask(ctx.positions, T);              // [B, S, T]
  at::Tensor chosen = causal & selection_mask(topk, T);           // the indexer's top-k
  at::Tensor q, k;
  {
    at::NoGradGuard no_grad;
    std::tie(q, k, std::ignore) = mha_heads(q_nope.detach(), q_pe.detach(), keys);
  }
  AttentionTarget target = attention_target(q, k, scale_, causal, causal, chosen);
  ctx.indexer_terms->kl.push_back(indexer_kl(target.probs, scores, causal));  // [B, S]
  ctx.indexer_terms->recall.push_back(target.recall);                         // [B, S]
}

void MLAImpl::add_sparse_indexer_terms(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& q_nope,
                                       const at::Tensor& q_pe, const LayerKeys& keys, const AttentionContext& ctx,
                                       const at::Tensor& topk) {
  at::Tensor scores = indexer->selected_scores(x.detach(), q_lat.detach(), keys.index_k, topk, ctx);  // [B, S, k]
  at::Tensor valid = selected_valid(topk, ctx.positions);                                             // [B, S, k]
  AttentionTarget target;
  {
    at::NoGradGuard no_grad;
    at::Tensor q = absorbed_query(q_nope, q_pe);                          // [B, S, H, C + R]
    at::Tensor kv = join_last_dim(keys.ckv, keys.kpe);                   // [B, T, C + R]
    if (ctx.kernels && selected_target_kernel_applies(q, kv)) {
      // On the GPU: the causal and selected log-sum-exps without the [B, S, H, T] scores (valid = within key_end).
      SelectedTarget fused = selected_target_forward(q, kv, ctx.positions + 1, topk, scale_);
      target = {fused.probs, fused.recall};
    } else {
      target = selected_attention_target(q, kv, scale_, causal_mask(ctx.positions, kv.size(1)), topk, valid);
    }
  }
  ctx.indexer_terms->kl.push_back(indexer_kl(target.probs, scores, valid));  // [B, S]
  ctx.indexer_terms->recall.push_back(target.recall);                        // [B, S]
}

at::Tensor MLAImpl::absorbed_query(const at::Tensor& q_nope, const at::Tensor& q_pe) {
  at::Tensor w_uk = kv_b_proj->weight.view({heads_, nope_dim_ + v_dim_, kv_rank_}).narrow(1, 0, nope_dim_);
  return at::cat({at::einsum("bshd,hdc->bshc", {q_nope, w_uk}), q_pe}, -1);  // [B, S, H, C + R]
}

at::Tensor MLAImpl::attend_mqa(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                               const at::Tensor& topk, const AttentionContext& ctx) {
  const int64_t B = keys.ckv.size(0), T = keys.ckv.size(1), S = q_nope.size(1), W = kv_rank_ + rope_dim_;
  at::Tensor w_uv = kv_b_proj->weight.view({heads_, nope_dim_ + v_dim_, kv_rank_}).narrow(1, nope_dim_, v_dim_);
  // Absorbed query against the MQA key [c_kv, k_pe]: one GEMM per score, one gather per selection.
  at::Tensor q = absorbed_query(q_nope, q_pe);                                          // [B, S, H, C + R]
  at::Tensor kv = join_last_dim(keys.ckv, keys.kpe);  // [B, T, C + R], a view of the KV cache when decoding
  at::Tensor probs, o_lat;
  if (topk.defined() && ctx.kernels && sparse_mla_kernel_applies(q, kv_rank_)) {
    // On the GPU (decoding and training): the tensor-core kernels gather the selected rows themselves, forward and
    // backward.
    const int64_t K = topk.size(-1);
    at::Tensor rows = flat_rows(topk, topk >= 0, T, ctx);
    o_lat = sparse_mla_attention(q.reshape({B * S, heads_, W}), kv.reshape({B * T, W}), rows.view({B * S, K}),
                                 kv_rank_, scale_).view({B, S, heads_, kv_rank_});                  // [B, S, H, C]
  } else if (topk.defined()) {  // each query's selected keys: [B, S, K, C + R]
    const int64_t K = topk.size(-1);
    at::Tensor rows = (topk.clamp_min(0) + at::arange(B, topk.options()).view({B, 1, 1}) * T).flatten();
    at::Tensor selected = kv.reshape({B * T, W}).index_select(0, rows).view({B, S, K, W});
    at::Tensor scores = at::einsum("bshc,bskc->bshk", {q, selected}) * scale_;
    scores = scores.masked_fill((topk < 0).unsqueeze(2), -INFINITY);
    probs = at::softmax(scores, -1, at::kFloat).to(kv.scalar_type());                     // [B, S, H, K]
    o_lat = at::einsum("bshk,bskc->bshc", {probs, selected.narrow(-1, 0, kv_rank_)});    // [B, S, H, C]
  } else {
    at::Tensor scores = at::einsum("bshc,btc->bsht", {q, kv}) * scale_;
    scores = scores.masked_fill(causal_mask(ctx.positions, T).logical_not().unsqueeze(2), -INFINITY);
    probs = at::softmax(scores, -1, at::kFloat).to(kv.scalar_type());                     // [B, S, H, T]
    o_lat = at::einsum("bsht,btc->bshc", {probs, keys.ckv});                              // [B, S, H, C]
  }
  return at::einsum("bshc,hvc->bshv", {o_lat, w_uv});                                     // [B, S, H, dv]
}

}  // namespace dsrl
