// The MoE router's expert choice as one kernel (kernels/router.h): the group-limited top-k that RouterImpl::choose
// writes in ATen as three topk calls, a scatter and masks (each topk a gather and a sort kernel on CUDA).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace dsrl {

// ids [N, k] int64, best first, for scores [N, E] and bias [E] (both cast to fp32): CUDA tensors on the kernel, CPU
// ones on the C++ reference. Ties go to the lower index (ATen's topk leaves them unspecified). Checks shapes and the
// grouping (kernels::route_grouping_valid: E divisible by groups, at least 2 experts a group, topk_groups <= groups,
// k <= the experts kept).
at::Tensor route_topk(const at::Tensor& scores, const at::Tensor& bias, int64_t groups, int64_t topk_groups,
                      int64_t k);

// route_topk and the chosen experts' gate weights in one call, for inference (RouterImpl in inference mode; no
// gradient reaches the scores):
// returns {ids [N, k] int64, weights [N, k] fp32}, weights as kernels::route_weights_reference (scores[ids], over
// their sum + 1e-20 when normalise, times scaling). One kernel on CUDA, the references on the CPU.
std::pair<at::Tensor, at::Tensor> route_topk_weighted(const at::Tensor& scores, const at::Tensor& bias,
                                                      int64_t groups, int64_t topk_groups, int64_t k, bool normalise,
                                                      double scaling);

// Whether RouterImpl takes the kernel: a CUDA build, scores [N, experts] on a GPU, a grouping route_topk accepts,
// at most 1024 experts and 32 groups. Otherwise the router keeps its ATen formulation.
bool route_kernel_applies(const at::Tensor& scores, int64_t experts, int64_t groups, int64_t topk_groups, int64_t k);

}  // namespace dsrl
