#include "kernels/sparse_mla.h"

#include <algorithm>
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

void sparse_mla_backward_reference(const float* q, const float* kv, const int32_t* indices, const float* out,
                                   const float* dout, const float* lse, float* dq, float* dkv,
                                   const SparseMlaShape& s, float scale) {
  std::fill(dkv, dkv + s.n_kv * s.d_qk, 0.0f);
  std::vector<double> dq_acc(static_cast<size_t>(s.d_qk));
  for (int64_t i = 0; i < s.s_q; ++i) {
    const int32_t* idx = indices + i * s.topk;
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t row = i * s.heads + h;
      const float *qh = q + row * s.d_qk, *oh = out + row * s.d_v, *gh = dout + row * s.d_v;
      double delta = 0;
      for (int64_t c = 0; c < s.d_v; ++c) delta += static_cast<double>(oh[c]) * gh[c];
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0);
      for (int64_t j = 0; j < s.topk; ++j) {
        if (idx[j] < 0 || idx[j] >= s.n_kv) continue;
        const float* key = kv + static_cast<int64_t>(idx[j]) * s.d_qk;
        double dot = 0, dp = 0;
        for (int64_t c = 0; c < s.d_qk; ++c) dot += static_cast<double>(qh[c]) * key[c];
        for (int64_t c = 0; c < s.d_v; ++c) dp += static_cast<double>(gh[c]) * key[c];
        const double p = std::exp(dot * scale - lse[row]);
        const double ds = scale * p * (dp - delta);
        float* dkey = dkv + static_cast<int64_t>(idx[j]) * s.d_qk;
        for (int64_t c = 0; c < s.d_qk; ++c) {
          dq_acc[c] += ds * key[c];
          dkey[c] += static_cast<float>(ds * qh[c] + (c < s.d_v ? p * gh[c] : 0.0));
        }
      }
      for (int64_t c = 0; c < s.d_qk; ++c) dq[row * s.d_qk + c] = static_cast<float>(dq_acc[c]);
    }
  }
}

bool sparse_mla_cuda_supports(int64_t heads, int64_t d_qk, int64_t d_v) {
  const bool dims = (d_qk == 576 && d_v == 512) || (d_qk == 288 && d_v == 256);
  return dims && heads > 0 && heads % 16 == 0;
}

}  // namespace dsrl::kernels
