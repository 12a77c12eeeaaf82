// CUDA launcher for router.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/router.h"

namespace dsrl::kernels {

constexpr int64_t kRouteMaxExperts = 1024, kRouteMaxGroups = 32;

// Whether the kernel takes this routing: route_grouping_valid, at most kRouteMaxExperts experts and
// kRouteMaxGroups groups.
inline bool route_kernel_takes(int64_t experts, int64_t groups, int64_t topk_groups, int64_t k) {
  return route_grouping_valid(experts, groups, topk_groups, k) && experts <= kRouteMaxExperts &&
         groups <= kRouteMaxGroups;
}

// route_topk_reference on device pointers: one warp per row, the row's biased scores in shared memory. With
// `weights` ([rows, k] fp32) also route_weights_reference of the chosen ids, in the same kernel. Returns
// cudaErrorInvalidValue unless route_kernel_takes.
cudaError_t route_topk_cuda(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                            int64_t topk_groups, int64_t k, int64_t* ids, cudaStream_t stream,
                            float* weights = nullptr, bool normalise = false, float scaling = 1.f);

}  // namespace dsrl::kernels
