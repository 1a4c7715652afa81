// The timer service: the jobs waiting for their time (retries, snoozes, delays, debounces) and the
// thread that serves them, moving each onto its ring when it is due; the same thread fires the
// stop tokens of handlers that run past their deadline.
#pragma once

#include <concurrentqueue.h>

#include <cstddef>
#include <thread>
#include <vector>

#include "jobq/internal/timer.hpp"

namespace jobq::internal {

class Engine;

class TimerService {
 public:
  /// `limits`: the most jobs each queue may have waiting (QueueConfig::max_scheduled).
  TimerService(Engine& engine, std::vector<std::size_t> limits);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  /// The jobs waiting, under the timer's own lock.
  Timer& pending() noexcept { return timer_; }
  const Timer& pending() const noexcept { return timer_; }

  /// Starts the thread `jq:timer`: named, pinned (Config::timer_cpus) and announced like a
  /// worker; it reports to the engine's Lifecycle before it serves.
  void start();
  /// Stops the thread and joins it. What is waiting stays, for shutdown() to return.
  void stop();

 private:
  void run();
  void serve(std::vector<moodycamel::ProducerToken>& tokens);
  /// Moves a due job onto its ring; false if intake has closed.
  bool release_due(Timer::Pending& due, std::vector<moodycamel::ProducerToken>& tokens);
  /// Fires the stop tokens of the handlers running past their deadline at `now`.
  void fire_due_deadlines(Timer::time_point now);
  /// The earliest deadline armed by a worker; time_point::max() when none is.
  Timer::time_point earliest_deadline() const noexcept;

  Engine& engine_;
  Timer timer_;
  std::thread thread_;
  bool stop_ = false;  // guarded by the timer's lock
};

}  // namespace jobq::internal
