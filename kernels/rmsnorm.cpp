#include "kernels/rmsnorm.h"

#include <cmath>
#include <vector>

namespace dsrl::kernels {
namespace {

double inverse_rms(const float* x, int64_t dim, float eps) {
  double sum_sq = 0;
  for (int64_t j = 0; j < dim; ++j) sum_sq += static_cast<double>(x[j]) * x[j];
  return 1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps);
}

}  // namespace

void rms_norm_reference(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    const double inv_rms = inverse_rms(xr, dim, eps);
    float* yr = y + r * dim;
    for (int64_t j = 0; j < dim; ++j) yr[j] = static_cast<float>(xr[j] * inv_rms * weight[j]);
  }
}

void rms_norm_backward_reference(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                                 int64_t rows, int64_t dim, float eps) {
  std::vector<double> dw(static_cast<size_t>(dim), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim, *dyr = dy + r * dim;
    const double inv_rms = inverse_rms(xr, dim, eps);
    double dot = 0;  // sum_j dn_j x_j
    for (int64_t j = 0; j < dim; ++j) dot += static_cast<double>(dyr[j]) * weight[j] * xr[j];
    const double along_x = inv_rms * inv_rms * inv_rms * dot / static_cast<double>(dim);
    for (int64_t j = 0; j < dim; ++j) {
      dx[r * dim + j] = static_cast<float>(inv_rms * dyr[j] * weight[j] - xr[j] * along_x);
      dw[j] += static_cast<double>(dyr[j]) * xr[j] * inv_rms;
    }
  }
  for (int64_t j = 0; j < dim; ++j) dweight[j] = static_cast<float>(dw[j]);
}

}  // namespace dsrl::kernels
