#include "common/rate_window.h"

#include <algorithm>

namespace dsrl {

void RateWindow::drop_old(Clock::time_point now) const {
  while (!recent_.empty() && now - recent_.front().first > window_) recent_.pop_front();
}

void RateWindow::add(int64_t count, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  recent_.emplace_back(now, count);
  drop_old(now);
}

double RateWindow::per_second(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  drop_old(now);
  if (recent_.empty()) return 0;
  int64_t total = 0;
  for (const auto& entry : recent_) total += entry.second;
  const double span = std::chrono::duration<double>(now - recent_.front().first).count();
  return total / std::max(1e-3, span);
}

size_t RateWindow::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return recent_.size();
}

}  // namespace dsrl
