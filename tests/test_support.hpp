// Helpers shared by the test files.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "jobq/clock.hpp"

namespace jobq::testing {

/// A clock that moves only when told to. Starts at an arbitrary fixed point, so that a test's
/// times do not depend on when it runs.
class ManualClock : public jobq::Clock {
 public:
  time_point now() const noexcept override { return time_point(std::chrono::nanoseconds(now_.load())); }
  void advance(std::chrono::nanoseconds by) { now_.fetch_add(by.count()); }
  void set(time_point when) { now_.store(when.time_since_epoch().count()); }

 private:
  std::atomic<std::int64_t> now_{std::chrono::nanoseconds(std::chrono::hours(1000)).count()};
};

/// Polls `done` until it returns true or `limit` passes; returns its last answer. Used to wait
/// for asynchronous effects without fixed sleeps.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace jobq::testing
