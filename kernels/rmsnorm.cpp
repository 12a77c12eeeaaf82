#include "kernels/rmsnorm.h"

#include <cmath>

namespace dsrl::kernels {

void rms_norm_reference(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double sum_sq = 0;
    for (int64_t j = 0; j < dim; ++j) sum_sq += static_cast<double>(xr[j]) * xr[j];
    const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps);
    float* yr = y + r * dim;
    for (int64_t j = 0; j < dim; ++j) yr[j] = static_cast<float>(xr[j] * inv_rms * weight[j]);
  }
}

}  // namespace dsrl::kernels
