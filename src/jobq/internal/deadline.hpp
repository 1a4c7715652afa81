// Deadlines that never wrap. Every "now + wait" in the engine goes through later(), so that a
// duration of max() (a delay, a timeout, a TTL, a backoff) means "forever" rather than a signed
// overflow into the past.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace jobq::internal {

/// `start + wait`, saturated: time_point::max() when the sum would pass it. A negative or zero
/// wait gives `start` (nothing in the engine waits into the past).
template <class TimePoint>
constexpr TimePoint later(TimePoint start, typename TimePoint::duration wait) noexcept {
  using Duration = typename TimePoint::duration;
  if (wait <= Duration::zero()) return start;
  // With a negative start, start + wait stays below max() for every wait that fits a duration.
  if (start.time_since_epoch() >= Duration::zero() && wait >= TimePoint::max() - start) return TimePoint::max();
  return start + wait;
}

/// A duration converted to a finer one, saturated at its max() rather than overflowing:
/// milliseconds::max() becomes nanoseconds::max().
template <class To, class Rep, class Period>
constexpr To saturating_cast(std::chrono::duration<Rep, Period> from) noexcept {
  using Wide = std::chrono::duration<long double, typename To::period>;
  const Wide wide = std::chrono::duration_cast<Wide>(from);
  if (wide >= Wide(static_cast<long double>(To::max().count()))) return To::max();
  if (wide <= Wide(static_cast<long double>(To::min().count()))) return To::min();
  return std::chrono::duration_cast<To>(from);
}

}  // namespace jobq::internal
