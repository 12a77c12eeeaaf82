// CUDA launcher for router.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

constexpr int64_t kRouteMaxExperts = 1024, kRouteMaxGroups = 32, kRouteMaxK = 32;

// route_topk_reference on device pointers: one warp per row, the row's biased scores in shared memory. Needs
// experts <= kRouteMaxExperts, groups <= kRouteMaxGroups, k <= kRouteMaxK (and the reference's conditions).
cudaError_t route_topk_cuda(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                            int64_t topk_groups, int64_t k, int64_t* ids, cudaStream_t stream);

}  // namespace dsrl::kernels
