// RateWindow: the rate over the window, and a size bounded by the window when nobody reads it (the reward service's
// load run found its status deque growing by one entry per call until GetStatus trimmed it).
#include "common/rate_window.h"

#include <gtest/gtest.h>

namespace dsrl {
namespace {

using namespace std::chrono_literals;

TEST(RateWindow, CountsOnlyTheWindowPerSecondOfItsSpan) {
  RateWindow rate(10s);
  const auto t0 = RateWindow::Clock::time_point() + 1000s;
  EXPECT_EQ(rate.per_second(t0), 0.0);
  rate.add(100, t0);
  rate.add(300, t0 + 2s);
  EXPECT_DOUBLE_EQ(rate.per_second(t0 + 4s), 400.0 / 4);  // 400 counted over the 4 s since the first
  EXPECT_DOUBLE_EQ(rate.per_second(t0 + 11s), 300.0 / 9);  // the first has left the window
  EXPECT_EQ(rate.per_second(t0 + 30s), 0.0);
  EXPECT_EQ(rate.entries(), 0u);
}

TEST(RateWindow, StaysBoundedWhenNobodyReadsIt) {
  RateWindow rate(5s);
  const auto t0 = RateWindow::Clock::time_point() + 1000s;
  for (int i = 0; i < 100000; ++i) rate.add(1, t0 + i * 10ms);  // 1000 s of adds, 100 per second
  EXPECT_LE(rate.entries(), 501u);
  EXPECT_NEAR(rate.per_second(t0 + 100000 * 10ms), 100.0, 1.0);
}

}  // namespace
}  // namespace dsrl
