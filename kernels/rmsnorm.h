// RMSNorm: y[r, :] = x[r, :] / sqrt(mean_j x[r, j]^2 + eps) * weight[:], and its gradients.
// Plain C++ references here; the CUDA launchers are in rmsnorm_cuda.h; the at::Tensor wrappers in model/kernel_ops.h
// (fp32) and model/norm_ops.h (the model's bf16 layer, an autograd op).
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// x, y: [rows, dim] row-major fp32 (may alias); weight: [dim]. Accumulates in double.
void rms_norm_reference(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps);

// Gradients of rms_norm_reference for dy [rows, dim]. With r = 1 / sqrt(mean(x^2) + eps) and dn = dy * weight:
// dx = r * dn - x * r^3 * sum_j(dn_j x_j) / dim, and dweight = sum over rows of dy * x * r. dx: [rows, dim];
// dweight: [dim] (overwritten). Accumulates in double.
void rms_norm_backward_reference(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                                 int64_t rows, int64_t dim, float eps);

}  // namespace dsrl::kernels
