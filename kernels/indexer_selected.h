// The lightning indexer's scores over each query's selected keys, and their gradients: what sparse training's KL
// (model/indexer_loss.h) differentiates, without the [queries, keys] scores of the dense path.
//
//   q:       [queries, heads, dim]   indexer queries
//   w:       [queries, heads]        per-head weights (the caller folds dim^-0.5 and heads^-0.5 in)
//   keys:    [n_keys, dim]           indexer keys of every sequence, one row each
//   sel:     [queries, topk] int32   rows of keys each query scores; -1 (or a row outside [0, n_keys)) = none
//   scores:  [queries, topk]         sum_h w[h] * ReLU(q[h] . keys[sel[j]]), -inf where sel names no row
// Backward, for dscores [queries, topk] (ignored where sel names no row), with a = q[h] . keys[sel[j]]:
//   dq[h]           = sum_j dscores[j] * w[h] * (a > 0) * keys[sel[j]]
//   dw[h]           = sum_j dscores[j] * ReLU(a)
//   dkeys[sel[j]]  += dscores[j] * sum_h w[h] * (a > 0) * q[h]      (summed over every query selecting the row)
//
// Plain C++ references here; CUDA launchers in indexer_selected_cuda.h; the autograd op in model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

struct SelectedScoresShape {
  int64_t queries = 0;  // rows of q, w, sel and scores
  int64_t heads = 0;    // indexer heads
  int64_t dim = 0;      // channels per head and per key
  int64_t n_keys = 0;   // rows of keys
  int64_t topk = 0;     // selected keys per query
};

void selected_scores_reference(const float* q, const float* w, const float* keys, const int32_t* sel, float* scores,
                               const SelectedScoresShape& shape);

// dq [queries, heads, dim], dw [queries, heads] and dkeys [n_keys, dim] are overwritten.
void selected_scores_backward_reference(const float* q, const float* w, const float* keys, const int32_t* sel,
                                        const float* dscores, float* dq, float* dw, float* dkeys,
                                        const SelectedScoresShape& shape);

// Whether the CUDA kernels have an instantiation: heads 8, 16, 32 or 64 and dim 64 or 128.
bool selected_scores_cuda_supports(int64_t heads, int64_t dim);

}  // namespace dsrl::kernels
