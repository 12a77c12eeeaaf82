#include "model/kernel_ops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

TEST(RmsNormOp, MatchesAtenFormulaOnCpu) {
  at::manual_seed(0);
  at::Tensor x = at::randn({2, 3, 16});
  at::Tensor w = at::rand({16}) + 0.5;
  at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * w;
  at::Tensor y = rms_norm(x, w, 1e-6);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-6)) << (y - expected).abs().max().item<float>();
}

TEST(RmsNormOp, NonContiguousInput) {
  at::Tensor x = at::randn({8, 4}).t();  // [4, 8], strided
  at::Tensor w = at::ones({8});
  at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6);
  EXPECT_TRUE(at::allclose(rms_norm(x, w, 1e-6), expected, 1e-5, 1e-6));
}

TEST(RmsNormOp, RejectsBadInputsWithClearErrors) {
  std::string msg = testing::error_of([] { rms_norm(at::ones({2, 4}, at::kDouble), at::ones({4}, at::kDouble), 1e-6); });
  EXPECT_NE(msg.find("expected fp32 x and weight, got Double and Double"), std::string::npos) << msg;
  msg = testing::error_of([] { rms_norm(at::ones({2, 4}), at::ones({5}), 1e-6); });
  EXPECT_NE(msg.find("weight must be [4], got [5]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace dsrl
