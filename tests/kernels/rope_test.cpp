#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dsrl::kernels {
namespace {

// One row, one head, dim 4 (two pairs) at angles 90 and 180 degrees, in both layouts.
TEST(RopeReference, RotatesEachPairByItsAngle) {
  const std::vector<float> x = {1, 2, 3, 4}, cos = {0, -1}, sin = {1, 0};
  std::vector<float> out(4);
  rope_reference(x.data(), cos.data(), sin.data(), out.data(), 1, 1, 4, true, false);  // pairs (1, 2), (3, 4)
  const std::vector<float> interleaved = {-2, 1, -3, -4};
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(out[j], interleaved[j], 1e-6) << j;
  rope_reference(x.data(), cos.data(), sin.data(), out.data(), 1, 1, 4, false, false);  // pairs (1, 3), (2, 4)
  const std::vector<float> half = {-3, -2, 1, -4};
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(out[j], half[j], 1e-6) << j;
}

// The inverse undoes the rotation, in place, for several rows and heads sharing a row's angles.
TEST(RopeReference, InverseUndoesItInPlace) {
  const int64_t rows = 3, heads = 2, dim = 6;
  std::vector<float> x(rows * heads * dim), cos(rows * dim / 2), sin(rows * dim / 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 3;
  for (size_t i = 0; i < cos.size(); ++i) cos[i] = std::cos(0.4f * i), sin[i] = std::sin(0.4f * i);
  for (bool interleaved : {true, false}) {
    std::vector<float> y = x;
    rope_reference(y.data(), cos.data(), sin.data(), y.data(), rows, heads, dim, interleaved, false);
    EXPECT_GT(std::abs(y[1] - x[1]) + std::abs(y[8] - x[8]), 0.1f);
    rope_reference(y.data(), cos.data(), sin.data(), y.data(), rows, heads, dim, interleaved, true);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5) << i << (interleaved ? " interleaved" : "");
  }
}

}  // namespace
}  // namespace dsrl::kernels
