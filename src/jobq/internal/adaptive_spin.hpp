// How long an idle spin_then_park worker polls an empty ring before it parks. A fixed budget is
// wrong both ways: long enough to catch the gaps of a busy queue, it keeps a worker at a full core
// under steady moderate traffic, where most gaps outlast it. So the budget follows the gaps the
// worker has been seeing: it moves toward twice the polls that found work, and shrinks by a
// quarter each time the worker had to park (the polls were spent for nothing). Shrinking alone
// would never find its way back up once the gaps got shorter (a parked worker sees no gap it
// could have caught), so every eighth park doubles the budget instead, as a probe: if the next
// gap is caught the budget follows it, if not the next parks take it down again.
#pragma once

#include <algorithm>
#include <cstdint>

namespace jobq::internal {

class AdaptiveSpin {
 public:
  /// `ceiling`: QueueConfig::spin_iterations, the most a worker ever polls before it parks.
  explicit AdaptiveSpin(std::uint32_t ceiling) noexcept
      : ceiling_(std::max<std::uint32_t>(ceiling, 1)), floor_(std::max<std::uint32_t>(std::min<std::uint32_t>(ceiling_, 16), ceiling_ / 64)), limit_(ceiling_) {}

  std::uint32_t limit() const noexcept { return limit_; }
  /// Work arrived after `polls` empty polls.
  void caught(std::uint32_t polls) noexcept {
    const std::int64_t target = std::int64_t{2} * polls;
    limit_ = clamp(static_cast<std::int64_t>(limit_) + (target - static_cast<std::int64_t>(limit_)) / 8);
  }
  /// The budget ran out and the worker parked.
  void parked() noexcept {
    if (++parks_ % probe_every == 0) {
      limit_ = clamp(std::int64_t{2} * limit_);
    } else {
      limit_ = clamp(static_cast<std::int64_t>(limit_) - limit_ / 4);
    }
  }

 private:
  std::uint32_t clamp(std::int64_t value) const noexcept {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(value, floor_, ceiling_));
  }

  static constexpr std::uint32_t probe_every = 8;

  std::uint32_t ceiling_;
  std::uint32_t floor_;
  std::uint32_t limit_;
  std::uint32_t parks_ = 0;
};

}  // namespace jobq::internal
