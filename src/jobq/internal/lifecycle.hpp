// What start() and shutdown() keep under one lock: the engine's threads reporting in and out, why
// start() failed, and the jobs shutdown() returns. The engine's state word itself is Engine's,
// beside the hot path that reads it on every dispatch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "jobq/manager.hpp"

namespace jobq::internal {

class Lifecycle {
 public:
  using Lock = std::unique_lock<std::mutex>;

  /// Held through start() and shutdown(): one lifecycle call at a time.
  std::mutex& calls() noexcept { return calls_; }
  /// Guards everything below; the waits take it held.
  Lock lock() { return Lock(mutex_); }

  enum class Thread { worker, timer };
  /// A worker or the timer reports to start(): whether it made what it keeps for its life
  /// (`prepared`), and why it could not be placed where it was asked (`problem`, or empty). The
  /// first problem becomes start()'s error. A worker counts as live until worker_gone().
  void ready(Thread thread, bool prepared, std::string problem);
  /// A worker's loop has ended.
  void worker_gone();

  void wait_workers_ready(Lock& lock, std::size_t workers) {
    changed_.wait(lock, [&] { return workers_ready_ == workers; });
  }
  void wait_timer_ready(Lock& lock) {
    changed_.wait(lock, [&] { return timer_ready_; });
  }
  /// True once every worker's loop has ended; false at `until`.
  bool wait_workers_gone(Lock& lock, std::chrono::steady_clock::time_point until) {
    return changed_.wait_until(lock, until, [&] { return workers_live_ == 0; });
  }

  // Under lock().
  /// The first thread's problem (empty if none), taken.
  std::string take_problem() { return std::move(problem_); }
  bool out_of_memory() const noexcept { return out_of_memory_; }
  void note_out_of_memory() noexcept { out_of_memory_ = true; }
  bool shut_down() const noexcept { return shut_down_; }
  void mark_shut_down() noexcept { shut_down_ = true; }
  std::vector<ReturnedJob> take_returned() { return std::exchange(returned_, {}); }
  std::vector<ReturnedJob> take_chain_steps() { return std::exchange(chain_steps_, {}); }

  // Locked here.
  /// A job shutdown returns, not run.
  void keep_returned(ReturnedJob job);
  /// A chain's next step that met closed intake.
  void keep_chain_step(ReturnedJob job);

 private:
  std::mutex calls_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t workers_ready_ = 0;
  std::size_t workers_live_ = 0;
  bool timer_ready_ = false;  // the timer thread has been named, pinned and announced
  std::string problem_;
  bool out_of_memory_ = false;  // a thread could not make what it keeps for its life
  std::vector<ReturnedJob> returned_;
  std::vector<ReturnedJob> chain_steps_;
  bool shut_down_ = false;
};

}  // namespace jobq::internal
