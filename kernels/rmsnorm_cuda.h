// CUDA launchers for rmsnorm.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

// Same contract as rms_norm_reference, on device pointers; one block per row. Returns the launch error.
cudaError_t rms_norm_cuda(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream);

// The model's bf16 RMSNorm layer (model/layers.h), with its roundings: n = bf16(x * r) with r computed in fp32,
// then y = bf16(weight * n). One warp per row; dim must be even and at most kRmsNormMaxDim.
constexpr int64_t kRmsNormMaxDim = 8192;
cudaError_t rms_norm_bf16_cuda(const __nv_bfloat16* x, const __nv_bfloat16* weight, __nv_bfloat16* y, int64_t rows,
                               int64_t dim, float eps, cudaStream_t stream);

// Its gradients for dy [rows, dim] (the forward's r is recomputed from x; dn = bf16(dy * weight) as in the
// layer's autograd): dx [rows, dim] bf16, and dweight as fp32 partial sums [parts, dim] that the caller adds up
// over parts, with parts = rms_norm_backward_parts(rows).
int64_t rms_norm_backward_parts(int64_t rows);
cudaError_t rms_norm_bf16_backward_cuda(const __nv_bfloat16* x, const __nv_bfloat16* weight,
                                        const __nv_bfloat16* dy, __nv_bfloat16* dx, float* dweight_parts,
                                        int64_t rows, int64_t dim, float eps, cudaStream_t stream);

}  // namespace dsrl::kernels
