// What the lightning indexer learns from (DeepSeek-V3.2, continued pretraining):
//   p_t   = main attention probabilities of query t, summed over heads and L1-normalised (detached)
//   loss  = KL(p_t || softmax(I_t)) over the keys the attention used: every causal key in the dense warm-up, the
//           indexer's own top-k set S_t in sparse training
//   recall_t = share of the dense attention mass (mean over heads) inside the indexer's top-k: the number to watch.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace dsrl {

// Filled by every layer when ForwardOptions::indexer_loss is set.
struct IndexerTerms {
  std::vector<at::Tensor> kl;      // per layer [B, S] fp32; the gradient reaches the indexer's weights only
  std::vector<at::Tensor> recall;  // per layer [B, S] fp32, no gradient
};

struct AttentionTarget {
  at::Tensor probs;   // [B, S, T] fp32: p_t over the attended keys, zero elsewhere
  at::Tensor recall;  // [B, S] fp32
};

// q: [B, H, S, dq], k: [B, H, T, dq] (the MHA layout, scores = q k^T * scale); causal, attended, chosen: [B, S, T]
// bool (attended and chosen within causal; pass `causal` itself as `attended` for dense attention, the faster
// path). Computed without gradient, a block of queries at a time, so the
// [B, H, S, T] probabilities are never held whole.
AttentionTarget attention_target(const at::Tensor& q, const at::Tensor& k, double scale, const at::Tensor& causal,
                                 const at::Tensor& attended, const at::Tensor& chosen);

// Sparse training's target over the selected keys only, [B, S, k] instead of [B, S, T]: the same p_t and recall as
// attention_target with attended = chosen = the selection, from the absorbed (MQA) form of the main attention.
// q: [B, S, H, W] absorbed queries, kv: [B, T, W] (scores = q kv^T * scale), causal: [B, S, T] bool, topk: [B, S, k]
// key positions, valid: [B, S, k] bool (the entry names a causal key; model/attention.h selected_valid).
// -> probs [B, S, k] (0 where not valid), recall [B, S]. No gradient; a block of queries at a time.
AttentionTarget selected_attention_target(const at::Tensor& q, const at::Tensor& kv, double scale,
                                          const at::Tensor& causal, const at::Tensor& topk, const at::Tensor& valid);

// KL(target || softmax(scores restricted to `attended`)) per query. target: [B, S, N] (zero outside attended),
// scores: [B, S, N] fp32 indexer scores with gradient, attended: [B, S, N] bool -> [B, S]. N: every key (T) or the
// selected ones (k).
at::Tensor indexer_kl(const at::Tensor& target, const at::Tensor& scores, const at::Tensor& attended);

// Reference for tests: the same target computed head by head with plain loops over queries. Small inputs only.
AttentionTarget attention_target_reference(const at::Tensor& q, const at::Tensor& k, double scale,
                                           const at::Tensor& causal, const at::Tensor& attended,
                                           const at::Tensor& chosen);

}  // namespace dsrl
