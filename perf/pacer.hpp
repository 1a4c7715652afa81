// Open-loop pacing: job i is due at t0 + i / rate, fixed in advance.
//
// The producer busy-waits on the steady clock until a job's intended time and then releases it.
// A producer that is late (descheduled, or blocked on a full queue) does not shift the schedule:
// the late jobs go out at once and keep their original intended times, and latency is measured
// from those. Measuring from the actual send time instead would hide exactly the stalls that
// matter (coordinated omission: the generator backs off whenever the system is slow).
#pragma once

#include <algorithm>
#include <cstdint>

#include "clock.hpp"

namespace jobq_perf {

class Pacer {
 public:
  /// `rate` jobs per second, the first due at `start_ns` (steady clock).
  Pacer(double rate, std::int64_t start_ns) noexcept : start_ns_(start_ns), period_ns_(1e9 / rate) {}

  /// When job `i` is due.
  std::int64_t intended_ns(std::uint64_t i) const noexcept {
    return start_ns_ + static_cast<std::int64_t>(static_cast<double>(i) * period_ns_);
  }

  /// Spins until job `i` is due (at once if it already is) and returns its intended time.
  std::int64_t wait_for(std::uint64_t i) noexcept {
    const std::int64_t due = intended_ns(i);
    std::int64_t now = now_ns();
    while (now < due) {
      cpu_relax();
      now = now_ns();
    }
    max_lag_ns_ = std::max(max_lag_ns_, now - due);
    return due;
  }

  std::int64_t start_ns() const noexcept { return start_ns_; }
  double period_ns() const noexcept { return period_ns_; }
  /// The latest the producer has been, so far, in releasing a job after its intended time.
  std::int64_t max_lag_ns() const noexcept { return max_lag_ns_; }

 private:
  std::int64_t start_ns_;
  double period_ns_;
  std::int64_t max_lag_ns_ = 0;
};

}  // namespace jobq_perf
