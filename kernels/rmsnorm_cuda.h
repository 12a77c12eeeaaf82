// CUDA launchers for rmsnorm.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

// Same contract as rms_norm_reference, on device pointers; one block per row. Returns the launch error.
cudaError_t rms_norm_cuda(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream);

}  // namespace dsrl::kernels
