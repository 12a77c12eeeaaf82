// The target of sparse training's indexer KL (model/indexer_loss.h) over each query's selected keys, from the main
// attention in absorbed (MQA) form, without the [queries, heads, keys] scores the ATen formulation stores:
//
//   q:        [batch, s_q, heads, dim]   absorbed queries (latent part then rope part)
//   kv:       [batch, n_kv, dim]         each sequence's rows [c_kv, k_pe]
//   key_end:  [batch, s_q] int32         a query's causal keys: rows [0, key_end) of its sequence (clamped to n_kv)
//   sel:      [batch, s_q, topk] int32   its selected rows; an entry outside [0, key_end) selects nothing
//
// With s_h(t) = scale * q[h] . kv[t] (natural log units):
//   lse_causal[h]   = log sum_{t < key_end} exp(s_h(t))             -inf when key_end <= 0
//   lse_selected[h] = log sum_{valid j} exp(s_h(sel[j]))            -inf when nothing is selected
//   probs[j]        = mean_h exp(s_h(sel[j]) - lse_selected[h])     0 where sel[j] selects nothing
//   recall          = mean_h exp(lse_selected[h] - lse_causal[h])   0 where nothing is selected
// Outputs: probs [batch, s_q, topk], recall [batch, s_q], lse_causal and lse_selected [batch, s_q, heads].
// A row named twice counts twice, as in the ATen formulation (the indexer's top-k never repeats one).
//
// Plain C++ reference here (double accumulation); CUDA launcher in attention_target_cuda.h; the at::Tensor wrapper
// in model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

struct SelectedTargetShape {
  int64_t batch = 0;  // sequences
  int64_t s_q = 0;    // queries per sequence
  int64_t heads = 0;  // query heads, all sharing kv
  int64_t n_kv = 0;   // rows of kv per sequence
  int64_t dim = 0;    // channels of a query and of a kv row
  int64_t topk = 0;   // selected rows per query
};

struct SelectedTargetOut {
  float* probs;         // [batch, s_q, topk]
  float* recall;        // [batch, s_q]
  float* lse_causal;    // [batch, s_q, heads]
  float* lse_selected;  // [batch, s_q, heads]
};

void selected_target_reference(const float* q, const float* kv, const int32_t* key_end, const int32_t* sel,
                               const SelectedTargetOut& out, const SelectedTargetShape& shape, float scale);

// Whether the CUDA kernels have an instantiation: heads a multiple of 16 and dim 288 or 576 (the shapes the sparse
// MLA kernels take).
bool selected_target_cuda_supports(int64_t heads, int64_t dim);

}  // namespace dsrl::kernels
