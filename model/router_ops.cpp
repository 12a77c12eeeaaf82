// The router's group-limited top-k (model/router_ops.h): checks, then the CUDA kernel or the C++ reference.
#include "model/router_ops.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "kernels/router.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/router_cuda.h"
#endif

namespace dsrl {

namespace {

// route_topk, and the gate weights into `weights` when it is defined ([N, k] fp32).
at::Tensor route(const at::Tensor& scores, const at::Tensor& bias, int64_t groups, int64_t topk_groups, int64_t k,
                 at::Tensor weights, bool normalise, double scaling) {
  DSRL_CHECK(scores.dim() == 2 && bias.dim() == 1 && bias.size(0) == scores.size(1) && bias.device() == scores.device(),
             "route_topk: expected scores [N, E] and bias [E] on one device, got [{}] on {} and [{}] on {}",
             fmt::join(scores.sizes(), ", "), scores.device().str(), fmt::join(bias.sizes(), ", "),
             bias.device().str());
  const int64_t N = scores.size(0), E = scores.size(1);
  DSRL_CHECK(kernels::route_grouping_valid(E, groups, topk_groups, k),
             "route_topk: {} experts in {} groups, {} groups kept, k {}: expected groups dividing the experts with at "
             "least 2 each, 1 <= kept groups <= groups and 1 <= k <= the experts kept",
             E, groups, topk_groups, k);
  const at::Tensor s = scores.to(at::kFloat).contiguous(), b = bias.to(at::kFloat).contiguous();
  at::Tensor ids = at::empty({N, k}, scores.options().dtype(at::kLong));
  float* w = weights.defined() ? weights.data_ptr<float>() : nullptr;
  if (scores.is_cuda()) {
#ifdef DSRL_CUDA
    DSRL_CHECK(kernels::route_kernel_takes(E, groups, topk_groups, k),
               "route_topk: the kernel takes at most {} experts and {} groups; got {} and {}",
               kernels::kRouteMaxExperts, kernels::kRouteMaxGroups, E, groups);
    const c10::cuda::CUDAGuard device(scores.device());
    const cudaError_t err = kernels::route_topk_cuda(s.data_ptr<float>(), b.data_ptr<float>(), N, E, groups,
                                                     topk_groups, k, ids.data_ptr<int64_t>(),
                                                     at::cuda::getCurrentCUDAStream(), w, normalise,
                                                     static_cast<float>(scaling));
    DSRL_CHECK(err == cudaSuccess, "route_topk_cuda failed: {}", cudaGetErrorString(err));
    return ids;
#else
    DSRL_CHECK(false, "route_topk: CUDA tensors given but this build has no CUDA kernels");
#endif
  }
  kernels::route_topk_reference(s.data_ptr<float>(), b.data_ptr<float>(), N, E, groups, topk_groups, k,
                                ids.data_ptr<int64_t>());
  if (w) kernels::route_weights_reference(s.data_ptr<float>(), ids.data_ptr<int64_t>(), N, E, k, normalise,
                                          static_cast<float>(scaling), w);
  return ids;
}

}  // namespace

at::Tensor route_topk(const at::Tensor& scores, const at::Tensor& bias, int64_t groups, int64_t topk_groups,
                      int64_t k) {
  return route(scores, bias, groups, topk_groups, k, at::Tensor(), false, 1.0);
}

std::pair<at::Tensor, at::Tensor> route_topk_weighted(const at::Tensor& scores, const at::Tensor& bias,
                                                      int64_t groups, int64_t topk_groups, int64_t k, bool normalise,
                                                      double scaling) {
  DSRL_CHECK(scores.dim() == 2, "route_topk_weighted: expected scores [N, E], got [{}]",
             fmt::join(scores.sizes(), ", "));
  // route() checks k; a bad one must reach that message, not a negative size here.
  at::Tensor weights = at::empty({scores.size(0), std::max<int64_t>(k, 0)}, scores.options().dtype(at::kFloat));
  at::Tensor ids = route(scores, bias, groups, topk_groups, k, weights, normalise, scaling);
  return {ids, weights};
}

bool route_kernel_applies(const at::Tensor& scores, int64_t experts, int64_t groups, int64_t topk_groups, int64_t k) {
#ifdef DSRL_CUDA
  return scores.is_cuda() && scores.dim() == 2 && scores.size(1) == experts &&
         kernels::route_kernel_takes(experts, groups, topk_groups, k);
#else
  (void)scores, (void)experts, (void)groups, (void)topk_groups, (void)k;
  return false;
#endif
}

}  // namespace dsrl
