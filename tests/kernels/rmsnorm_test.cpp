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

}  // namespace
}  // namespace dsrl::kernels
