// at::Tensor wrappers around kernels/: check shapes, dtypes and devices, then call the CUDA launcher (CUDA
// tensors, -DDSRL_CUDA=ON builds) or the C++ reference (CPU tensors).
#pragma once

#include <ATen/core/Tensor.h>

namespace dsrl {

// x: [..., D] fp32; weight: [D] fp32 on x's device. Returns y with x's shape.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// True when this build has CUDA kernels (DSRL_CUDA) and a GPU is visible.
bool cuda_kernels_available();

}  // namespace dsrl
