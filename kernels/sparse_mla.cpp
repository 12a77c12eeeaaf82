#include "kernels/sparse_mla.h"

#include <cmath>
#include <limits>
#include <vector>

namespace dsrl::kernels {

void sparse_mla_forward_reference(const float* q, const float* kv, const int32_t* indices, float* out, float* lse,
                                  const SparseMlaShape& s, float scale) {
  std::vector<double> scores(static_cast<size_t>(s.topk));
  std::vector<double> acc(static_cast<size_t>(s.d_v));
  for (int64_t i = 0; i < s.s_q; ++i) {
    const int32_t* idx = indices + i * s.topk;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* qh = q + (i * s.heads + h) * s.d_qk;
      double max_score = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < s.topk; ++j) {
        scores[j] = -std::numeric_limits<double>::infinity();
        if (idx[j] < 0 || idx[j] >= s.n_kv) continue;
        const float* row = kv + static_cast<int64_t>(idx[j]) * s.d_qk;
        double dot = 0;
        for (int64_t c = 0; c < s.d_qk; ++c) dot += static_cast<double>(qh[c]) * row[c];
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double sum = 0;
      if (std::isfinite(max_score)) {
        for (int64_t j = 0; j < s.topk; ++j) {
          if (!std::isfinite(scores[j])) continue;
          const double p = std::exp(scores[j] - max_score);
          sum += p;
          const float* row = kv + static_cast<int64_t>(idx[j]) * s.d_qk;
          for (int64_t c = 0; c < s.d_v; ++c) acc[c] += p * row[c];
        }
      }
      float* o = out + (i * s.heads + h) * s.d_v;
      for (int64_t c = 0; c < s.d_v; ++c) o[c] = sum > 0 ? static_cast<float>(acc[c] / sum) : 0.0f;
      lse[i * s.heads + h] = sum > 0 ? static_cast<float>(max_score + std::log(sum))
                                     : -std::numeric_limits<float>::infinity();
    }
  }
}

bool sparse_mla_cuda_supports(int64_t heads, int64_t d_qk, int64_t d_v) {
  const bool dims = (d_qk == 576 && d_v == 512) || (d_qk == 288 && d_v == 256);
  return dims && heads > 0 && heads % 16 == 0;
}

}  // namespace dsrl::kernels
