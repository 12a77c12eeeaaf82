#include "kernels/router.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

namespace dsrl::kernels {
namespace {

// The indices of the n largest values, largest first, ties to the lower index.
std::vector<int64_t> best(const std::vector<float>& values, int64_t n) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  order.resize(static_cast<size_t>(n));
  return order;
}

}  // namespace

void route_topk_reference(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                          int64_t topk_groups, int64_t k, int64_t* ids) {
  const int64_t per_group = experts / groups;
  std::vector<float> biased(static_cast<size_t>(experts)), group_score(static_cast<size_t>(groups));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < experts; ++e) biased[e] = scores[r * experts + e] + bias[e];
    for (int64_t g = 0; g < groups; ++g) {
      const std::vector<float> members(biased.begin() + g * per_group, biased.begin() + (g + 1) * per_group);
      const std::vector<int64_t> two = best(members, 2);
      group_score[g] = members[two[0]] + members[two[1]];
    }
    std::vector<float> candidates(static_cast<size_t>(experts), -std::numeric_limits<float>::infinity());
    for (int64_t g : best(group_score, topk_groups)) {
      const auto first = biased.begin() + g * per_group;
      std::copy(first, first + per_group, candidates.begin() + g * per_group);
    }
    const std::vector<int64_t> chosen = best(candidates, k);
    std::copy(chosen.begin(), chosen.end(), ids + r * k);
  }
}

}  // namespace dsrl::kernels
