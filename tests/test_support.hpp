// Helpers shared by the test files.
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "jobq/clock.hpp"
#include "jobq/error.hpp"
#include "jobq/message.hpp"
#include "jobq/retry.hpp"
#include "jobq/status.hpp"

namespace jobq::testing {

/// True in the ThreadSanitizer and AddressSanitizer builds, which run the big counts smaller.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

/// A count from the environment (for the long versions of a test), else `fallback`.
inline std::uint64_t count_from_environment(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

/// A backoff that retries at once, so that policy tests run in microseconds.
inline const jobq::Backoff no_wait = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
  return std::chrono::nanoseconds(0);
};

/// The number after the first ':' of a payload written as {"index":N}; ~0 if there is none.
/// Cheaper than binding, for handlers that only need to know which job they run.
inline std::uint64_t index_of(std::string_view payload) {
  const std::size_t colon = payload.find(':');
  std::uint64_t index = ~std::uint64_t{0};
  if (colon != std::string_view::npos) std::from_chars(payload.data() + colon + 1, payload.data() + payload.size(), index);
  return index;
}

/// Counts its own constructions, copies, moves and destructions: a payload that carries one
/// shows every lifetime event the engine causes.
struct Lifetime {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> copies{0};
  static inline std::atomic<long> moves{0};
  static void reset() {
    live = 0;
    copies = 0;
    moves = 0;
  }

  Lifetime() noexcept { ++live; }
  Lifetime(const Lifetime&) noexcept {
    ++live;
    ++copies;
  }
  Lifetime(Lifetime&&) noexcept {
    ++live;
    ++moves;
  }
  Lifetime& operator=(const Lifetime&) noexcept {
    ++copies;
    return *this;
  }
  Lifetime& operator=(Lifetime&&) noexcept {
    ++moves;
    return *this;
  }
  ~Lifetime() { --live; }
};

/// A clock that moves only when told to. Starts at an arbitrary fixed point, so that a test's
/// times do not depend on when it runs.
class ManualClock : public jobq::Clock {
 public:
  time_point now() const noexcept override { return time_point(std::chrono::nanoseconds(now_.load())); }
  /// The wall clock moves with now(), from where set_wall() put it.
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(now_.load() + wall_offset_.load())));
  }
  void advance(std::chrono::nanoseconds by) { now_.fetch_add(by.count()); }
  void set(time_point when) { now_.store(when.time_since_epoch().count()); }
  void set_wall(std::chrono::system_clock::time_point wall) {
    wall_offset_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count() - now_.load());
  }

 private:
  std::atomic<std::int64_t> now_{std::chrono::nanoseconds(std::chrono::hours(1000)).count()};
  std::atomic<std::int64_t> wall_offset_{0};
};

/// How many of something run at once, and the most seen: enter() on the way in, leave() on the
/// way out (handlers under a concurrency limit).
struct Overlap {
  std::atomic<int> now{0};
  std::atomic<int> most{0};
  void enter() {
    const int inside = now.fetch_add(1) + 1;
    int seen = most.load();
    while (inside > seen && !most.compare_exchange_weak(seen, inside)) {
    }
  }
  void leave() { now.fetch_sub(1); }
};

/// True once a started Manager's shutdown() has closed intake: from then on an empty bulk
/// dispatch, which changes nothing, is refused with Errc::shutting_down. Tests that must act
/// while a shutdown is under way wait on this rather than sleep.
template <class Manager>
bool intake_closed(Manager& queues) {
  return queues.dispatch_bulk({}).code() == jobq::Errc::shutting_down;
}

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
