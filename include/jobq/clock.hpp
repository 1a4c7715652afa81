// The time source of the timer, retries, timeouts and idempotency TTLs.
#pragma once

#include <chrono>

namespace jobq {

/// Every deadline in jobq is a steady_clock time point. Tests may inject their own Clock through
/// Config::clock to step time by hand; the timer then looks for due jobs every millisecond of
/// real time, since it cannot know when such a clock moves.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const noexcept = 0;
  /// The wall clock, which periodic jobs follow; a test clock may move it with now().
  virtual std::chrono::system_clock::time_point wall_now() const noexcept { return std::chrono::system_clock::now(); }
};

}  // namespace jobq
