// Eager ATen formulations, in fp32 on q's device, of what the kernels compute: sparse MQA attention (the model's
// attend_mqa without the kernel) and the indexer's scores over selected keys (IndexerImpl::selected_scores without
// it). The independent checks for kernels/sparse_mla and kernels/indexer_selected in the CPU and GPU tests.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <utility>

namespace dsrl::testing {

// q: [N, H, D], kv: [T, D], indices: [N, K] (-1 = none) -> {out [N, H, d_v], lse [N, H]} fp32
inline std::pair<at::Tensor, at::Tensor> sparse_mla_eager(const at::Tensor& q, const at::Tensor& kv,
                                                          const at::Tensor& indices, int64_t d_v, double scale) {
  at::Tensor valid = (indices >= 0) & (indices < kv.size(0));                                     // [N, K]
  at::Tensor rows = kv.to(at::kFloat).index_select(0, at::where(valid, indices, 0).flatten().to(at::kLong))
                        .view({indices.size(0), indices.size(1), kv.size(1)});                    // [N, K, D]
  at::Tensor scores = at::einsum("nhd,nkd->nhk", {q.to(at::kFloat), rows}) * scale;
  scores = scores.masked_fill(valid.logical_not().unsqueeze(1), -INFINITY);
  at::Tensor lse = at::logsumexp(scores, -1);                                                     // [N, H]
  at::Tensor probs = at::exp(scores - lse.unsqueeze(-1)).nan_to_num(0.0);                         // empty rows: 0
  at::Tensor out = at::einsum("nhk,nkc->nhc", {probs, rows.narrow(-1, 0, d_v)});
  return {out, lse};
}

// q: [N, H, D], w: [N, H], keys: [T, D], sel: [N, K] (-1 or past the end = none) -> scores [N, K] fp32, -inf for
// none. Differentiable in q, w and keys.
inline at::Tensor indexer_selected_eager(const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                                         const at::Tensor& sel) {
  at::Tensor valid = (sel >= 0) & (sel < keys.size(0));                                           // [N, K]
  at::Tensor rows = keys.to(at::kFloat).index_select(0, at::where(valid, sel, 0).flatten().to(at::kLong))
                        .view({sel.size(0), sel.size(1), keys.size(1)});                          // [N, K, D]
  at::Tensor dots = at::relu(at::einsum("nhd,nkd->nhk", {q.to(at::kFloat), rows}));               // [N, H, K]
  return at::einsum("nh,nhk->nk", {w.to(at::kFloat), dots}).masked_fill(valid.logical_not(), -INFINITY);
}

}  // namespace dsrl::testing
