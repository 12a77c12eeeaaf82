// Rotary position embedding (RoPE) of x [rows, heads, dim] by per-row angle tables cos, sin [rows, dim / 2]. Pair i
// of a head is (x[2i], x[2i + 1]) in the interleaved layout (MLA's q_pe and k_pe) or (x[i], x[i + dim / 2]) in the
// half layout (the indexer's); it becomes (a c - b s, b c + a s). The inverse rotation (s -> -s) undoes it and is
// also its gradient. Plain C++ reference here; the CUDA launcher in rope_cuda.h; the at::Tensor op (the model's
// bf16 layer, with autograd) in model/rope_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// x, out: [rows, heads, dim] row-major fp32 (may alias); cos, sin: [rows, dim / 2]; dim even. Products in double.
void rope_reference(const float* x, const float* cos, const float* sin, float* out, int64_t rows, int64_t heads,
                    int64_t dim, bool interleaved, bool inverse);

}  // namespace dsrl::kernels
