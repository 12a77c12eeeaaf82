#include "kernels/indexer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace dsrl::kernels {

void indexer_logits_reference(const float* q, const float* k, const float* w, const int32_t* key_end, float* logits,
                              const IndexerShape& s) {
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t i = 0; i < s.s_q; ++i) {
      const int64_t query = b * s.s_q + i;
      float* row = logits + query * s.n_keys;
      for (int64_t t = 0; t < s.n_keys; ++t) {
        if (t >= key_end[query]) {
          row[t] = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* key = k + (b * s.n_keys + t) * s.dim;
        double total = 0;
        for (int64_t h = 0; h < s.heads; ++h) {
          const float* qh = q + (query * s.heads + h) * s.dim;
          double dot = 0;
          for (int64_t c = 0; c < s.dim; ++c) dot += static_cast<double>(qh[c]) * key[c];
          total += w[query * s.heads + h] * std::max(dot, 0.0);
        }
        row[t] = static_cast<float>(total);
      }
    }
}

void topk_positions_reference(const float* logits, int64_t rows, int64_t n, int64_t k, int32_t* out) {
  std::vector<int32_t> order;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * n;
    order.clear();
    for (int64_t t = 0; t < n; ++t)
      if (x[t] > -std::numeric_limits<float>::infinity()) order.push_back(static_cast<int32_t>(t));
    const size_t take = std::min<size_t>(order.size(), static_cast<size_t>(k));
    // Largest first, ties to the lower position; then the chosen ones back in position order.
    std::partial_sort(order.begin(), order.begin() + take, order.end(),
                      [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
    std::sort(order.begin(), order.begin() + take);
    int32_t* o = out + r * k;
    for (int64_t j = 0; j < k; ++j) o[j] = j < static_cast<int64_t>(take) ? order[j] : -1;
  }
}

bool indexer_cuda_supports(int64_t heads, int64_t dim) {
  return (heads == 8 || heads == 16 || heads == 32 || heads == 64) && (dim == 64 || dim == 128);
}

}  // namespace dsrl::kernels
