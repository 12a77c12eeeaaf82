#include "kernels/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dsrl::kernels {
namespace {

TEST(RmsNormReference, MatchesHandComputedValues) {
  // Row [3, 4]: mean square 12.5, rms 3.5355339; weight [1, 2].
  const std::vector<float> x = {3, 4, 0, -2}, w = {1, 2};
  std::vector<float> y(4);
  rms_norm_reference(x.data(), w.data(), y.data(), 2, 2, 0.0f);
  EXPECT_NEAR(y[0], 3 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[1], 2 * 4 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[2], 0.0, 1e-6);           // row [0, -2]: rms sqrt(2)
  EXPECT_NEAR(y[3], 2 * -2 / std::sqrt(2.0), 1e-6);
}

TEST(RmsNormReference, EpsGuardsZeroRowsAndInPlaceWorks) {
  std::vector<float> x = {0, 0, 0, 1, 1, 1}, w = {1, 1, 1};
  rms_norm_reference(x.data(), w.data(), x.data(), 2, 3, 1e-6f);  // in place
  for (int j = 0; j < 3; ++j) EXPECT_EQ(x[j], 0.0f);
  for (int j = 3; j < 6; ++j) EXPECT_NEAR(x[j], 1 / std::sqrt(1 + 1e-6), 1e-6);
}

// The backward reference against central differences of the forward reference (in double via small steps on fp32
// inputs): d/dx_ij and d/dw_j of sum(y * dy).
TEST(RmsNormReference, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 3, dim = 5;
  std::vector<float> x = {0.3f, -1.2f, 2.0f, 0.7f, -0.4f, 1.5f, 0.1f, -0.9f,
                          0.6f, 1.1f, -2.2f, 0.8f, 0.5f, -0.3f, 1.9f};
  std::vector<float> w = {0.9f, 1.3f, -0.7f, 0.4f, 1.1f};
  std::vector<float> dy = {0.2f, -0.5f, 1.0f, 0.3f, -0.8f, 0.6f, 0.1f, -0.2f,
                           0.9f, 0.4f, -1.1f, 0.7f, 0.3f, 0.5f, -0.6f};
  std::vector<float> dx(rows * dim), dw(dim);
  rms_norm_backward_reference(x.data(), w.data(), dy.data(), dx.data(), dw.data(), rows, dim, 1e-3f);
  auto loss = [&](const std::vector<float>& xs, const std::vector<float>& ws) {
    std::vector<float> y(rows * dim);
    rms_norm_reference(xs.data(), ws.data(), y.data(), rows, dim, 1e-3f);
    double total = 0;
    for (size_t i = 0; i < y.size(); ++i) total += static_cast<double>(y[i]) * dy[i];
    return total;
  };
  const float h = 1e-2f;
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<float> up = x, down = x;
    up[i] += h;
    down[i] -= h;
    EXPECT_NEAR(dx[i], (loss(up, w) - loss(down, w)) / (2 * h), 2e-3) << "dx[" << i << "]";
  }
  for (int64_t j = 0; j < dim; ++j) {
    std::vector<float> up = w, down = w;
    up[j] += h;
    down[j] -= h;
    EXPECT_NEAR(dw[j], (loss(x, up) - loss(x, down)) / (2 * h), 2e-3) << "dw[" << j << "]";
  }
}

}  // namespace
}  // namespace dsrl::kernels
