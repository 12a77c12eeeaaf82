// The MoE router's expert choice (DeepSeek-V3's group-limited top-k): per token, biased = scores + bias; each of
// the G groups of E/G experts scores the sum of its two best biased scores; the topk_groups best groups stay; the k
// best biased experts inside them are chosen, best first. Ties go to the lower index (group or expert). Plain C++
// reference here; the CUDA launcher in router_cuda.h; the model calls it through model/moe_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// scores: [rows, experts] fp32; bias: [experts]; ids: [rows, k] out. experts divisible by groups with at least 2
// experts per group; topk_groups <= groups; k <= topk_groups * experts / groups.
void route_topk_reference(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                          int64_t topk_groups, int64_t k, int64_t* ids);

}  // namespace dsrl::kernels
