#include "kernels/indexer_selected.h"

#include <algorithm>
#include <limits>

namespace dsrl::kernels {
namespace {

bool names_row(int32_t id, const SelectedScoresShape& s) { return id >= 0 && id < s.n_keys; }

double dot(const float* a, const float* b, int64_t n) {
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) sum += static_cast<double>(a[c]) * b[c];
  return sum;
}

}  // namespace

void selected_scores_reference(const float* q, const float* w, const float* keys, const int32_t* sel, float* scores,
                               const SelectedScoresShape& s) {
  for (int64_t n = 0; n < s.queries; ++n)
    for (int64_t j = 0; j < s.topk; ++j) {
      const int32_t id = sel[n * s.topk + j];
      if (!names_row(id, s)) {
        scores[n * s.topk + j] = -std::numeric_limits<float>::infinity();
        continue;
      }
      double total = 0;
      for (int64_t h = 0; h < s.heads; ++h)
        total += w[n * s.heads + h] * std::max(dot(q + (n * s.heads + h) * s.dim, keys + id * s.dim, s.dim), 0.0);
      scores[n * s.topk + j] = static_cast<float>(total);
    }
}

void selected_scores_backward_reference(const float* q, const float* w, const float* keys, const int32_t* sel,
                                        const float* dscores, float* dq, float* dw, float* dkeys,
                                        const SelectedScoresShape& s) {
  std::fill(dq, dq + s.queries * s.heads * s.dim, 0.f);
  std::fill(dw, dw + s.queries * s.heads, 0.f);
  std::fill(dkeys, dkeys + s.n_keys * s.dim, 0.f);
  for (int64_t n = 0; n < s.queries; ++n)
    for (int64_t j = 0; j < s.topk; ++j) {
      const int32_t id = sel[n * s.topk + j];
      if (!names_row(id, s)) continue;
      const float g = dscores[n * s.topk + j];
      const float* key = keys + id * s.dim;
      for (int64_t h = 0; h < s.heads; ++h) {
        const float* qh = q + (n * s.heads + h) * s.dim;
        const double a = dot(qh, key, s.dim);
        if (a <= 0) continue;
        dw[n * s.heads + h] += static_cast<float>(g * a);
        const float gw = g * w[n * s.heads + h];
        for (int64_t c = 0; c < s.dim; ++c) {
          dq[(n * s.heads + h) * s.dim + c] += gw * key[c];
          dkeys[id * s.dim + c] += gw * qh[c];
        }
      }
    }
}

bool selected_scores_cuda_supports(int64_t heads, int64_t dim) {
  return (heads == 8 || heads == 16 || heads == 32 || heads == 64) && (dim == 64 || dim == 128);
}

}  // namespace dsrl::kernels
