#include "common/error.h"

#include <gtest/gtest.h>
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

TEST(Check, PassingCheckDoesNothing) {
  EXPECT_NO_THROW(DSRL_CHECK(1 + 1 == 2, "arithmetic"));
  EXPECT_NO_THROW(DSRL_CHECK_EQ(3, 3, "three"));
}

TEST(Check, FailureNamesMessageConditionAndPlace) {
  const int k = 300;
  const std::string msg = error_of([&] { DSRL_CHECK(k <= 64, "moe.num_experts_per_tok must be in [1, 64], got {}", k); });
  EXPECT_NE(msg.find("moe.num_experts_per_tok must be in [1, 64], got 300"), std::string::npos) << msg;
  EXPECT_NE(msg.find("`k <= 64`"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tests/common/error_test.cpp:"), std::string::npos) << msg;  // relative path, with line
}

TEST(Check, EqSaysExpectedAndGot) {
  const int heads = 12;
  const std::string msg = error_of([&] { DSRL_CHECK_EQ(heads, 16, "num_attention_heads"); });
  EXPECT_NE(msg.find("num_attention_heads: expected 16, got 12"), std::string::npos) << msg;
}

TEST(Check, FailAlwaysThrows) {
  const std::string msg = error_of([] { DSRL_FAIL("stage {} is unknown", "foo"); });
  EXPECT_EQ(msg.rfind("stage foo is unknown (at tests/common/error_test.cpp:", 0), 0u) << msg;
}

}  // namespace
}  // namespace dsrl
