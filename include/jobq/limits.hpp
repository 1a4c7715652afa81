// Rate and concurrency limits: how fast, and how many at once, a queue's jobs or one job type's
// jobs may start. Set on QueueConfig::limits and RegisterOptions::limits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace jobq {

/// At most `count` starts per `per` on average, and up to `burst` at once after a quiet spell: the
/// generic cell rate algorithm (GCRA), a token bucket of `burst` tokens refilled one every
/// per / count. Over any window of length w, at most burst + count · w / per jobs start.
struct RateLimit {
  std::uint32_t count = 0;                                   ///< at least 1
  std::chrono::nanoseconds per = std::chrono::seconds(1);
  std::uint32_t burst = 1;                                   ///< at least 1

  /// `count` per second, with bursts of `burst`.
  static constexpr RateLimit per_second(std::uint32_t count, std::uint32_t burst = 1) noexcept {
    return RateLimit{count, std::chrono::seconds(1), burst};
  }
};

/// Limits on starting jobs. A job over a limit waits, held by the worker that took it, until it
/// may start: it spends no attempt, is not dropped, and shows in QueueStats::limit_waiting.
/// On a durable queue whose lane keeps limits (jobq::redis does), they hold for the fleet: every
/// process sharing the queue draws from one budget in the store.
struct Limits {
  std::optional<RateLimit> rate = std::nullopt;  ///< none: no rate limit (a rate of 0 is refused)
  std::uint32_t concurrency = 0;  ///< at most this many running at once; 0: no limit

  constexpr bool any() const noexcept { return rate.has_value() || concurrency != 0; }
};

}  // namespace jobq
