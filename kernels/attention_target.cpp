#include "kernels/attention_target.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dsrl::kernels {
namespace {

double dot(const float* a, const float* b, int64_t n) {
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) sum += static_cast<double>(a[c]) * b[c];
  return sum;
}

// log sum exp of `scores`, -inf for none.
double log_sum_exp(const std::vector<double>& scores) {
  if (scores.empty()) return -std::numeric_limits<double>::infinity();
  const double top = *std::max_element(scores.begin(), scores.end());
  double total = 0;
  for (double s : scores) total += std::exp(s - top);
  return top + std::log(total);
}

}  // namespace

void selected_target_reference(const float* q, const float* kv, const int32_t* key_end, const int32_t* sel,
                               const SelectedTargetOut& out, const SelectedTargetShape& s, float scale) {
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t n = 0; n < s.batch * s.s_q; ++n) {
    const float* rows = kv + (n / s.s_q) * s.n_kv * s.dim;
    const int64_t end = std::clamp<int64_t>(key_end[n], 0, s.n_kv);
    const int32_t* picked = sel + n * s.topk;
    std::vector<double> probs(s.topk, 0.0);
    double recall = 0;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* qh = q + (n * s.heads + h) * s.dim;
      std::vector<double> causal, selected, at_slot(s.topk, -inf);
      for (int64_t t = 0; t < end; ++t) causal.push_back(scale * dot(qh, rows + t * s.dim, s.dim));
      for (int64_t j = 0; j < s.topk; ++j)
        if (picked[j] >= 0 && picked[j] < end) selected.push_back(at_slot[j] = causal[picked[j]]);
      const double lse_causal = log_sum_exp(causal), lse_selected = log_sum_exp(selected);
      out.lse_causal[n * s.heads + h] = static_cast<float>(lse_causal);
      out.lse_selected[n * s.heads + h] = static_cast<float>(lse_selected);
      if (selected.empty()) continue;
      recall += std::exp(lse_selected - lse_causal) / s.heads;
      for (int64_t j = 0; j < s.topk; ++j) probs[j] += std::exp(at_slot[j] - lse_selected) / s.heads;
    }
    for (int64_t j = 0; j < s.topk; ++j) out.probs[n * s.topk + j] = static_cast<float>(probs[j]);
    out.recall[n] = static_cast<float>(recall);
  }
}

bool selected_target_cuda_supports(int64_t heads, int64_t dim) {
  return heads > 0 && heads % 16 == 0 && (dim == 288 || dim == 576);
}

}  // namespace dsrl::kernels
