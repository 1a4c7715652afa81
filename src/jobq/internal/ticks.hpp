// A cheap monotonic tick counter for latency metrics, converted to seconds only when read.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace jobq::internal {

/// The time-stamp counter on x86 (constant and invariant on every CPU of the last 15 years; no
/// system call, no vDSO), steady_clock nanoseconds elsewhere.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

/// Measures the tick rate against steady_clock since it was made, so that no start-up
/// calibration pause is needed: the longer the Manager has run, the more exact the rate.
class TickRate {
 public:
  TickRate() noexcept : ticks_(ticks()), start_(std::chrono::steady_clock::now()) {}
  double seconds_per_tick() const noexcept {
#if defined(__x86_64__) || defined(__i386__)
    const std::uint64_t elapsed_ticks = ticks() - ticks_;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (elapsed_ticks == 0 || elapsed < 1e-4) return 1.0 / 3e9;  // too soon to tell: assume 3 GHz
    return elapsed / static_cast<double>(elapsed_ticks);
#else
    return 1e-9;
#endif
  }

 private:
  std::uint64_t ticks_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace jobq::internal
