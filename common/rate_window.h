// A rate over the last few seconds (items scored, tokens generated) for a service's status. Entries older than the
// window are dropped on every add as well as on every read, so a service that nobody polls does not grow.
//   RateWindow tokens(std::chrono::seconds(5));
//   tokens.add(64);                   // after each decode step
//   status.tokens_per_second = tokens.per_second();
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

namespace dsrl {

class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateWindow(Clock::duration window) : window_(window) {}

  void add(int64_t count, Clock::time_point now = Clock::now());
  // The counts added within the window, per second of the time from the oldest of them to now (at least 1 ms);
  // 0 when there are none.
  double per_second(Clock::time_point now = Clock::now()) const;
  // Entries held: at most the adds of one window.
  size_t entries() const;

 private:
  void drop_old(Clock::time_point now) const;  // with mutex_ held

  Clock::duration window_;
  mutable std::mutex mutex_;
  mutable std::deque<std::pair<Clock::time_point, int64_t>> recent_;  // (when, count), oldest first
};

}  // namespace dsrl
