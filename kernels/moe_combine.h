// MoE combine: each token's expert outputs summed back, weighted, onto a base (the shared experts' output):
//   out[t] = base[t] + sum_j weights[t, j] * ys[rows[t * k + j]]
// for ys [N * k, D] in grouped order (model/moe_ops.h), rows [N * k] the grouped row of each slot, weights [N, k]
// fp32 and base [N, D] (or none). The model runs it at inference only; with a gradient it keeps the ATen
// formulation. Plain C++ reference here (fp32 throughout); the CUDA launcher in moe_combine_cuda.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// rows in [0, N * k) (callers check). base may be null.
void moe_combine_reference(const float* ys, const int64_t* rows, const float* weights, const float* base, float* out,
                           int64_t tokens, int64_t k, int64_t dim);

}  // namespace dsrl::kernels
