// One worker's deadline for the handler it runs. The worker arms and disarms it with an atomic
// store and a compare-exchange on its own cache line, without a lock or an allocation; the
// timer thread looks at every worker's deadline when it wakes, and claims one that has passed
// before firing it. So a timed run costs O(1) and the timer's memory is O(workers), whatever the
// rate of timed jobs and the length of their timeouts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace jobq::internal {

class RunDeadline {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Worker: run `run` (numbered from 1) must end by `deadline`.
  void arm(std::uint64_t run, time_point deadline, std::chrono::nanoseconds timeout) noexcept {
    deadline_.store(deadline.time_since_epoch().count(), std::memory_order_relaxed);
    timeout_.store(timeout.count(), std::memory_order_relaxed);
    state_.store(run * 4 + tag_armed, std::memory_order_seq_cst);
  }
  /// Worker, after the handler returned: true if the timer fired this run, in which case it
  /// returns only once the firing (its count, log line, hook and stop request) is complete.
  bool disarm(std::uint64_t run) noexcept {
    std::uint64_t expected = run * 4 + tag_armed;
    if (state_.compare_exchange_strong(expected, tag_idle, std::memory_order_acq_rel)) return false;
    while (state_.load(std::memory_order_acquire) != run * 4 + tag_fired) std::this_thread::yield();
    state_.store(tag_idle, std::memory_order_relaxed);
    return true;
  }

  /// Timer: the armed deadline, or time_point::max() when none is armed.
  time_point armed_until() const noexcept {
    if ((state_.load(std::memory_order_seq_cst) & 3) != tag_armed) return time_point::max();
    return time_point(time_point::duration(deadline_.load(std::memory_order_relaxed)));
  }
  /// Timer: claims the armed run if its deadline has passed at `now`; the worker then waits in
  /// disarm() until fired() is called. False if nothing is due or the run ended meanwhile.
  bool claim_due(time_point now, std::uint64_t& run, std::chrono::nanoseconds& timeout) noexcept {
    std::uint64_t state = state_.load(std::memory_order_acquire);
    if ((state & 3) != tag_armed) return false;
    // A deadline newer than `state` (the run ended and another began) fails the exchange below.
    if (time_point(time_point::duration(deadline_.load(std::memory_order_relaxed))) > now) return false;
    const std::chrono::nanoseconds armed_timeout(timeout_.load(std::memory_order_relaxed));
    if (!state_.compare_exchange_strong(state, state - tag_armed + tag_firing, std::memory_order_acq_rel)) return false;
    run = state / 4;
    timeout = armed_timeout;
    return true;
  }
  void fired(std::uint64_t run) noexcept { state_.store(run * 4 + tag_fired, std::memory_order_release); }

 private:
  static constexpr std::uint64_t tag_idle = 0;
  static constexpr std::uint64_t tag_armed = 1;
  static constexpr std::uint64_t tag_firing = 2;
  static constexpr std::uint64_t tag_fired = 3;

  std::atomic<std::uint64_t> state_{tag_idle};  // run * 4 + one of the tags above
  std::atomic<std::int64_t> deadline_{0};   // steady-clock ticks
  std::atomic<std::int64_t> timeout_{0};    // for the report, in nanoseconds
};

}  // namespace jobq::internal
