// RMSNorm, the first kernel: y[r, :] = x[r, :] / sqrt(mean_j x[r, j]^2 + eps) * weight[:]
// Plain C++ reference here; the CUDA launcher is in rmsnorm_cuda.h; the at::Tensor wrapper in model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// x, y: [rows, dim] row-major fp32 (may alias); weight: [dim]. Accumulates in double.
void rms_norm_reference(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps);

}  // namespace dsrl::kernels
