// CUDA launcher for rope.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

// rope_reference on bf16 device tensors with the model's eager roundings (model/rope_ops.h): cos and sin rounded
// to bf16, each product rounded to bf16, then the difference or sum rounded. x is read through strides (its last
// dim contiguous: element (r, h, j) at x[r * row_stride + h * head_stride + j]); out is [rows, heads, dim]
// contiguous and must not overlap x. cos, sin: [rows, dim / 2] fp32 contiguous. One thread per pair.
cudaError_t rope_bf16_cuda(const __nv_bfloat16* x, int64_t row_stride, int64_t head_stride, const float* cos,
                           const float* sin, __nv_bfloat16* out, int64_t rows, int64_t heads, int64_t dim,
                           bool interleaved, bool inverse, cudaStream_t stream);

}  // namespace dsrl::kernels
