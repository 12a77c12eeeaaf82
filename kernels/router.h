// The MoE router's expert choice (DeepSeek-V3's group-limited top-k): per token, biased = scores + bias; each of
// the G groups of E/G experts scores the sum of its two best biased scores; the topk_groups best groups stay; the k
// best biased experts inside them are chosen, best first. NaN ranks above every number (as in ATen's topk); ties go
// to the lower index (group or expert), where ATen leaves them unspecified. Plain C++ reference here; the CUDA
// launcher in router_cuda.h; the model calls it through model/router_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// The groupings both take: experts divisible by groups with at least 2 experts a group, 1 <= topk_groups <=
// groups, 1 <= k <= topk_groups * experts / groups.
inline bool route_grouping_valid(int64_t experts, int64_t groups, int64_t topk_groups, int64_t k) {
  return groups >= 1 && experts % groups == 0 && experts / groups >= 2 && topk_groups >= 1 && topk_groups <= groups &&
         k >= 1 && k <= topk_groups * (experts / groups);
}

// scores: [rows, experts] fp32; bias: [experts]; ids: [rows, k] out. Needs route_grouping_valid.
void route_topk_reference(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                          int64_t topk_groups, int64_t k, int64_t* ids);

// The chosen experts' gate weights (RouterImpl's formula): w[r, j] = scores[r, ids[r, j]] (unbiased), divided by
// (w[r, 0] + ... + w[r, k - 1] + 1e-20, summed in that order) when normalise, then times scaling. weights: [rows, k].
void route_weights_reference(const float* scores, const int64_t* ids, int64_t rows, int64_t experts, int64_t k,
                             bool normalise, float scaling, float* weights);

}  // namespace dsrl::kernels
