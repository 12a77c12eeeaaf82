#include "kernels/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace dsrl::kernels {
namespace {

// a ranks above b: NaN above everything, then by value.
bool above(float a, float b) { return (std::isnan(a) && !std::isnan(b)) || a > b; }

// The indices of the n highest-ranked values, best first, ties to the lower index.
std::vector<int64_t> best(const std::vector<float>& values, int64_t n) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return above(values[a], values[b]); });
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
    std::vector<bool> kept(static_cast<size_t>(groups), false);
    for (int64_t g : best(group_score, topk_groups)) kept[g] = true;
    std::vector<float> candidates;  // the kept groups' experts, in index order
    std::vector<int64_t> expert_of;
    for (int64_t e = 0; e < experts; ++e)
      if (kept[e / per_group]) candidates.push_back(biased[e]), expert_of.push_back(e);
    const std::vector<int64_t> chosen = best(candidates, k);
    for (size_t j = 0; j < chosen.size(); ++j) ids[r * k + static_cast<int64_t>(j)] = expert_of[chosen[j]];
  }
}

void route_weights_reference(const float* scores, const int64_t* ids, int64_t rows, int64_t experts, int64_t k,
                             bool normalise, float scaling, float* weights) {
  for (int64_t r = 0; r < rows; ++r) {
    float* w = weights + r * k;
    float sum = 0.f;
    for (int64_t j = 0; j < k; ++j) sum += (w[j] = scores[r * experts + ids[r * k + j]]);
    for (int64_t j = 0; j < k; ++j) w[j] = (normalise ? w[j] / (sum + 1e-20f) : w[j]) * scaling;
  }
}

}  // namespace dsrl::kernels
