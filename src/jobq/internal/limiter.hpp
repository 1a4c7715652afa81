// The in-process gates behind Limits: a GCRA rate gate that books start times without a lock, and
// a counting gate for concurrency. Durable queues whose lane keeps limits use the lane instead.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>

#include "jobq/limits.hpp"

namespace jobq::internal {

/// Empty when `limits` are well formed, else what is wrong.
std::string limits_problem(const Limits& limits);

/// GCRA as virtual scheduling: `tat_` is the theoretical arrival time of the next start. Each
/// booking moves it one interval on and answers how long its caller waits, so that callers
/// racing for the budget each get their own start time and none is refused.
class RateGate {
 public:
  explicit RateGate(const RateLimit& rate)
      : interval_(std::max<std::int64_t>(1, rate.per.count() / rate.count)),
        tolerance_(interval_ * (static_cast<std::int64_t>(rate.burst) - 1)) {}

  /// Books one start at `now` (nanoseconds on the engine's clock); the nanoseconds to wait first.
  std::int64_t book(std::int64_t now) noexcept {
    std::int64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const std::int64_t next = std::max(tat, now) + interval_;
      if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return std::max<std::int64_t>(0, tat - tolerance_ - now);
    }
  }

 private:
  const std::int64_t interval_;   // per / count
  const std::int64_t tolerance_;  // (burst - 1) intervals: how far ahead of time a start may be
  std::atomic<std::int64_t> tat_{std::numeric_limits<std::int64_t>::min() / 2};
};

/// At most `limit` holders at once; waiters sleep on a condition variable.
class ConcurrencyGate {
 public:
  explicit ConcurrencyGate(std::uint32_t limit) : limit_(limit) {}

  /// Takes a slot, waiting up to `patience`; false if none came free.
  bool acquire(std::chrono::milliseconds patience) {
    std::unique_lock lock(mutex_);
    if (!freed_.wait_for(lock, patience, [&] { return running_ < limit_; })) return false;
    ++running_;
    return true;
  }
  void release() {
    {
      const std::lock_guard lock(mutex_);
      --running_;
    }
    freed_.notify_one();
  }

 private:
  const std::uint32_t limit_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::uint32_t running_ = 0;
};

/// What is limited (a queue, or a job type) and its gates. `scope` names it to a lane that keeps
/// limits for the fleet: "queue", or the type's name.
struct LimitScope {
  LimitScope(std::string scope_name, const Limits& scope_limits)
      : scope(std::move(scope_name)), limits(scope_limits) {
    if (limits.rate) rate = std::make_unique<RateGate>(*limits.rate);
    if (limits.concurrency != 0) concurrency = std::make_unique<ConcurrencyGate>(limits.concurrency);
  }
  const std::string scope;
  const Limits limits;
  std::unique_ptr<RateGate> rate;
  std::unique_ptr<ConcurrencyGate> concurrency;
};

/// What a job took on its way through its limits, to give back when it ends.
struct LimitHold {
  bool type_slot = false;
  bool queue_slot = false;
};

}  // namespace jobq::internal
