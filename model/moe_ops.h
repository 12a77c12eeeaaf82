// The MoE layer's token movement (model/moe.cpp): slots grouped by expert (kernels/moe_dispatch.h), each token's
// row copied to its experts' groups, and the experts' outputs summed back per token. Both directions move rows by
// gathers, forward and backward: no row is summed with atomics (the index_add_ this replaced was, in an order that
// varied between runs).
#pragma once

#include <ATen/core/Tensor.h>

namespace dsrl {

// Slot s = token * k + j: the j-th expert chosen for a token.
struct SlotGroups {
  at::Tensor order;  // [N * k] int64: the slot at grouped row i (expert 0's first, each expert's in slot order)
  at::Tensor rows;   // [N * k] int64: the grouped row of slot s (order's inverse)
  at::Tensor ends;   // [E] int32: one past expert e's last row (the offsets at::_grouped_mm takes)
};

// Groups the slots of ids [N, k] (int64 in [0, experts)) by expert. CUDA: the kernel for up to 256 experts (a
// stable sort beyond), with ids outside the range clamped into it: checking them would wait for the GPU, and the
// router's ids are in range (its own choices, or replayed ones it has checked). CPU: the C++ reference, after a
// check of the range.
SlotGroups group_slots(const at::Tensor& ids, int64_t experts);

// xs [N * k, D]: row i is x[order[i] / k]. Differentiable in x: dx[t] = sum_j dxs[rows[t * k + j]].
at::Tensor dispatch_rows(const at::Tensor& x, const SlotGroups& groups, int64_t k);

// out [N, D]: out[t] = base[t] + sum_j weights[t, j] * ys[rows[t * k + j]] for ys [N * k, D] in grouped order,
// weights [N, k] (cast to ys' dtype; the sum over k accumulates in fp32) and base [N, D] (none: zeros).
// Differentiable in ys, weights and base. In inference mode on a GPU (the rollout engine), one kernel
// (kernels/moe_combine.h) with the same roundings but possibly another order of the k-term sum.
at::Tensor combine_rows(const at::Tensor& ys, const at::Tensor& weights, const SlotGroups& groups,
                        const at::Tensor& base = at::Tensor());

}  // namespace dsrl
