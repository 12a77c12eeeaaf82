#include "kernels/moe_dispatch.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsrl::kernels {
namespace {

// 3 tokens x 2 choices over 4 experts: slots 0..5 name experts 2, 0 | 1, 2 | 0, 2 (expert 3 gets nothing).
TEST(MoeDispatchReference, GroupsSlotsByExpertInSlotOrder) {
  const std::vector<int64_t> ids = {2, 0, 1, 2, 0, 2};
  std::vector<int64_t> order(6), rows(6);
  std::vector<int32_t> ends(4);
  moe_dispatch_reference(ids.data(), 6, 4, order.data(), rows.data(), ends.data());
  EXPECT_EQ(order, (std::vector<int64_t>{1, 4, 2, 0, 3, 5}));
  EXPECT_EQ(rows, (std::vector<int64_t>{3, 0, 2, 4, 1, 5}));
  EXPECT_EQ(ends, (std::vector<int32_t>{2, 3, 6, 6}));
}

TEST(MoeDispatchReference, NoSlotsGiveEmptyGroups) {
  std::vector<int32_t> ends(3, -1);
  moe_dispatch_reference(nullptr, 0, 3, nullptr, nullptr, ends.data());
  EXPECT_EQ(ends, (std::vector<int32_t>{0, 0, 0}));
}

}  // namespace
}  // namespace dsrl::kernels
