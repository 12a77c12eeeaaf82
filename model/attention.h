// Multi-head Latent Attention with the DSA lightning indexer.
//
//   q_lat = RMSNorm(x Wq_a)                       [B, S, q_lora]      (also the indexer's query input)
//   q     = q_lat Wq_b -> (q_nope, q_pe)           [B, S, H, dn], [B, S, H, R]   q_pe: interleaved RoPE
//   c_kv  = RMSNorm((x Wkv_a)[:kv_lora])           [B, T, C]          the KV cache holds c_kv and k_pe
//   k_pe  = RoPE((x Wkv_a)[kv_lora:])              [B, T, R]          one rotary key shared by all heads
//   MHA mode: (k_nope, v) = c_kv Wkv_b per head; MQA ("absorbed") mode folds Wkv_b into q and the output.
//   Sparse mode attends only to the indexer's top-k keys per query (index_topk >= keys gives dense attention).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <utility>

#include "model/indexer_loss.h"
#include "model/layers.h"

namespace dsrl {

enum class AttentionImpl { kAuto, kMHA, kMQA };  // auto: MHA without a cache (training), MQA with one (decode)

// What every layer's attention needs to know about this forward.
struct AttentionContext {
  at::Tensor positions;   // [B, S] int64 absolute positions of the new tokens
  at::Tensor cos, sin;    // [B, S, R/2] fp32 rotary tables at those positions
  bool sparse = true;     // attend to the indexer's top-k (true) or to every causal key (false)
  AttentionImpl impl = AttentionImpl::kAuto;
  bool kernels = true;    // our CUDA kernels where they apply (the indexer's selection, decode attention)
  IndexerTerms* indexer_terms = nullptr;  // training the indexer: each layer appends its KL and recall
  // Shared by the layers of one forward when its key count is known up front (set with kernels on; else the
  // layers compute them): keys T, queries' causal key counts min(position + 1, T) [B, S] int32, and b * T [B, 1, 1]
  // int64, the first row of sequence b in the flattened [B * T] keys.
  int64_t keys = -1;
  at::Tensor key_end, row_offset;
};

// Keys and values of one layer: either this forward's tokens or the KV cache after appending them.
struct LayerKeys {
  at::Tensor ckv;      // [B, T, C]  normalised kv latent
  at::Tensor kpe;      // [B, T, R]  roped shared key
  at::Tensor index_k;  // [B, T, d]  indexer keys (roped, LayerNorm'd)
  // With indexer_fp8, from a KV cache: the indexer keys as the FP8 kernels take them, quantised once when cached
  // (fp8_e4m3_quantize of hadamard_rotate(index_k)): e4m3 values [B, T, d] and power-of-two scales [B, T] fp32.
  // Undefined otherwise (the indexer then quantises index_k itself).
  at::Tensor index_k8, index_k_scale;
};

// Lightning indexer: I[t, s] = sum_j w[t, j] * ReLU(q[t, j] . k[s]) * d^-0.5, w = weights_proj(x) * Hi^-0.5 (fp32).
// Its inputs are detached: the indexer learns from its KL loss only, and no gradient of it reaches the main model.
class IndexerImpl : public torch::nn::Module {
 public:
  explicit IndexerImpl(const ModelConfig& config);
  // Roped, normalised keys of the new tokens. x: [B, S, D] -> [B, S, d]
  at::Tensor keys(const at::Tensor& x, const AttentionContext& ctx);
  // Causally masked scores (-inf for future keys). x: [B, S, D], q_lat: [B, S, q_lora], keys: [B, T, d] -> [B, S, T] fp32
  at::Tensor scores(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& keys, const AttentionContext& ctx);
  // Top-k key positions per query, -1 where fewer than k causal keys exist. scores: [B, S, T] -> [B, S, min(k, T)] int64
  at::Tensor select(const at::Tensor& scores) const;
  // The same selection from the inputs, for when the scores are not needed (it carries no gradient either way): with
  // ctx.kernels on CUDA bf16 it runs the indexer kernels (positions in ascending order, [B, S, T] never stored; with
  // fp8, on keys.index_k8 where the cache has them); else select(scores(...)).
  at::Tensor choose(const at::Tensor& x, const at::Tensor& q_lat, const LayerKeys& keys, const AttentionContext& ctx);

  // Scores of the selected keys only, with gradient (sparse training's KL). topk: [B, S, k] key positions (-1 or
  // a key after the query: -inf) -> [B, S, k] fp32. Never [B, S, T]: with ctx.kernels on CUDA bf16 the kernels of
  // kernels/indexer_selected.h gather the keys themselves, else the gathered keys take [B, S, k, d].
  at::Tensor selected_scores(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& keys,
                             const at::Tensor& topk, const AttentionContext& ctx);

  // Roped queries [B, S, Hi, d] and head weights w [B, S, Hi] fp32 (already times Hi^-0.5).
  std::pair<at::Tensor, at::Tensor> queries(const at::Tensor& x, const at::Tensor& q_lat, const AttentionContext& ctx);
  // What the scores multiply: fp32 queries times d^-0.5 [B, S, Hi, d] and keys [B, T, d], through FP8 when fp8.
  std::pair<at::Tensor, at::Tensor> score_operands(const at::Tensor& q, const at::Tensor& keys) const;

  torch::nn::Linear wq_b{nullptr}, wk{nullptr}, weights_proj{nullptr};
  torch::nn::LayerNorm k_norm{nullptr};
  int64_t heads, head_dim, rope_dim, topk;
  bool fp8;
};
TORCH_MODULE(Indexer);

class MLAImpl : public torch::nn::Module {
 public:
  explicit MLAImpl(const ModelConfig& config);

  // The latents of the new tokens (what a KV cache stores). x: [B, S, D]
  LayerKeys new_keys(const at::Tensor& x, const AttentionContext& ctx);
  // x: [B, S, D]; keys: this forward's (no cache) or the cache's after appending; replay_topk: [B, S, k] recorded
  // indexer selection or undefined; chosen_topk (optional) receives the selection used. Returns [B, S, D].
  at::Tensor forward(const at::Tensor& x, const LayerKeys& keys, const AttentionContext& ctx,
                     const at::Tensor& replay_topk, at::Tensor* chosen_topk);

  torch::nn::Linear q_a_proj{nullptr}, q_b_proj{nullptr}, kv_a_proj_with_mqa{nullptr}, kv_b_proj{nullptr},
      o_proj{nullptr};
  RMSNorm q_a_layernorm{nullptr}, kv_a_layernorm{nullptr};
  Indexer indexer{nullptr};

 private:
  // Per-head queries, keys and values: [B, H, S, dn + R], [B, H, T, dn + R], [B, H, T, dv]
  std::tuple<at::Tensor, at::Tensor, at::Tensor> mha_heads(const at::Tensor& q_nope, const at::Tensor& q_pe,
                                                           const LayerKeys& keys);
  // The indexer's KL and recall for this layer into ctx.indexer_terms; topk: [B, S, k] the selection.
  // Dense warm-up: over every causal key; scores: [B, S, T] with gradient.
  void add_dense_indexer_terms(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                               const AttentionContext& ctx, const at::Tensor& scores, const at::Tensor& topk);
  // Sparse training: over the selected keys only, [B, S, k] instead of [B, S, T].
  void add_sparse_indexer_terms(const at::Tensor& x, const at::Tensor& q_lat, const at::Tensor& q_nope,
                                const at::Tensor& q_pe, const LayerKeys& keys, const AttentionContext& ctx,
                                const at::Tensor& topk);
  // The query with W_uk folded in, against the MQA key [c_kv, k_pe]. q_nope: [B, S, H, dn] -> [B, S, H, C + R]
  at::Tensor absorbed_query(const at::Tensor& q_nope, const at::Tensor& q_pe);
  // q_nope: [B, S, H, dn], q_pe: [B, S, H, R]; allowed: [B, S, T] bool -> [B, S, H, dv]
  at::Tensor attend_mha(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                        const at::Tensor& allowed);
  // topk: [B, S, k] key positions (-1 = none) or undefined for every causal key -> [B, S, H, dv]
  at::Tensor attend_mqa(const at::Tensor& q_nope, const at::Tensor& q_pe, const LayerKeys& keys,
                        const at::Tensor& topk, const AttentionContext& ctx);

  int64_t heads_, nope_dim_, rope_dim_, v_dim_, kv_rank_;
  double scale_;
};
TORCH_MODULE(MLA);

// [B, S, T] bool: key t is at or before the query's position.
at::Tensor causal_mask(const at::Tensor& positions, int64_t num_keys);
// [B, S, T] bool: key t is among the selected ones (-1 entries select nothing).
at::Tensor selection_mask(const at::Tensor& topk, int64_t num_keys);
// [B, S, k] bool: the selected entry names a key at or before the query (not -1, not a future key).
at::Tensor selected_valid(const at::Tensor& topk, const at::Tensor& positions);

}  // namespace dsrl
