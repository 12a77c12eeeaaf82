#include "kernels/moe_combine.h"

namespace dsrl::kernels {

void moe_combine_reference(const float* ys, const int64_t* rows, const float* weights, const float* base, float* out,
                           int64_t tokens, int64_t k, int64_t dim) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < dim; ++c) {
      float sum = 0.f;
      for (int64_t j = 0; j < k; ++j) sum += weights[t * k + j] * ys[rows[t * k + j] * dim + c];
      out[t * dim + c] = (base ? base[t * dim + c] : 0.f) + sum;
    }
}

}  // namespace dsrl::kernels
