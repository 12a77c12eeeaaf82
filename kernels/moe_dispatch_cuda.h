// CUDA launcher for moe_dispatch.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

// Same contract as moe_dispatch_reference, on device pointers, for up to kMoeDispatchMaxExperts experts and fewer
// than 2^31 slots. One CTA: a shared-memory count per expert, then the slots in chunks of 1024 ranked with warp
// match masks. Returns the launch error.
constexpr int64_t kMoeDispatchMaxExperts = 256;
cudaError_t moe_dispatch_cuda(const int64_t* ids, int64_t slots, int64_t experts, int64_t* order, int64_t* rows,
                              int32_t* ends, cudaStream_t stream);

}  // namespace dsrl::kernels
