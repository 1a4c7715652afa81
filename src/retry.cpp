// The default backoff.
#include "jobq/retry.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace jobq {

std::chrono::nanoseconds ExponentialBackoff::ceiling(std::uint32_t attempt) const noexcept {
  const double exponent = attempt == 0 ? 0.0 : static_cast<double>(attempt - 1);
  const double scaled = static_cast<double>(base.count()) * std::pow(std::max(factor, 1.0), exponent);
  const double capped = std::min(scaled, static_cast<double>(cap.count()));
  // A cap of max() (or a huge base) must not overflow the conversion back: it means "forever".
  if (!(capped < static_cast<double>(std::chrono::nanoseconds::max().count()))) {
    return std::isnan(capped) ? std::chrono::nanoseconds::zero() : std::chrono::nanoseconds::max();
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(capped, 0.0)));
}

std::chrono::nanoseconds ExponentialBackoff::operator()(std::uint32_t attempt, const Status& /*error*/,
                                                        const Message& /*message*/) const {
  // One generator per thread: backoff runs on the worker that saw the failure.
  thread_local std::minstd_rand random(std::random_device{}());
  const std::chrono::nanoseconds top = ceiling(attempt);
  if (top == std::chrono::nanoseconds::max()) return top;  // "forever" takes no jitter
  const double spread = std::clamp(jitter, 0.0, 1.0) * static_cast<double>(top.count());
  std::uniform_real_distribution<double> draw(0.0, spread);
  return top - std::chrono::nanoseconds(static_cast<std::int64_t>(draw(random)));
}

}  // namespace jobq
