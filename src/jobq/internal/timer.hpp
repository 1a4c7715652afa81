// The one timer of a Manager: delayed jobs, retry backoff and snoozes wait here until due, and
// handler timeouts are watched here. A binary heap under a mutex: only jobs that wait go through
// it, and the thread that serves it sleeps until the earliest deadline, so thousands of pending
// jobs cost no CPU while nothing is due.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "jobq/ids.hpp"
#include "jobq/internal/envelope.hpp"

namespace jobq::internal {

struct Worker;

class Timer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// A job waiting to go (back) onto its queue.
  struct Pending {
    time_point due;
    QueueId queue = 0;
    Envelope envelope;
  };

  /// A running handler with a timeout: when `due` passes and the worker still runs run `run`,
  /// its stop token fires.
  struct Watch {
    time_point due;
    Worker* worker = nullptr;
    std::uint64_t run = 0;
    JobId id = 0;
    TypeId type = 0;
    QueueId queue = 0;
    std::uint32_t attempt = 0;
    std::chrono::nanoseconds timeout{0};
  };

  explicit Timer(std::size_t queues) : scheduled_per_queue_(queues, 0) {}

  /// Adds a job. Called with the lock held (see lock()); wakes the serving thread if this job
  /// is now the earliest.
  void add_locked(time_point due, QueueId queue, Envelope&& envelope);
  void watch(const Watch& watch);

  /// Moves the jobs due at `now` (at most `limit`) into `out`. Lock held.
  void take_due_locked(time_point now, std::vector<Pending>& out, std::size_t limit);
  /// Moves the timeouts due at `now` into `out`. Lock held.
  void take_due_watches_locked(time_point now, std::vector<Watch>& out);
  /// The earliest deadline of a job or a watch; time_point::max() when there is none. Lock held.
  time_point next_due_locked() const noexcept;
  /// The earliest timeout watch; time_point::max() when there is none. Lock held.
  time_point next_watch_locked() const noexcept {
    return watches_.empty() ? time_point::max() : watches_.front().due;
  }
  /// Every job still waiting, emptying the timer. Lock held.
  std::vector<Pending> take_all_locked();

  std::size_t size_locked() const noexcept { return heap_.size(); }
  std::uint64_t size_locked(QueueId queue) const noexcept { return scheduled_per_queue_[queue]; }

  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mutex_); }
  /// Sleeps until notified or `until` (steady_clock). Lock held by `lock`.
  void wait_until(std::unique_lock<std::mutex>& lock, time_point until) { changed_.wait_until(lock, until); }
  void wait(std::unique_lock<std::mutex>& lock) { changed_.wait(lock); }
  void notify() { changed_.notify_all(); }

 private:
  struct Key {
    time_point due;
    std::uint64_t sequence;  // ties broken in insertion order
    std::uint32_t slot;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const noexcept {
      return a.due != b.due ? a.due > b.due : a.sequence > b.sequence;
    }
  };
  struct WatchLater {
    bool operator()(const Watch& a, const Watch& b) const noexcept { return a.due > b.due; }
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Key> heap_;                  // min-heap by due time, of slots below
  std::vector<Pending> slots_;             // envelopes stay put; the heap moves 24-byte keys
  std::vector<std::uint32_t> free_slots_;
  std::vector<Watch> watches_;             // min-heap by due time
  std::vector<std::uint64_t> scheduled_per_queue_;
  std::uint64_t sequence_ = 0;
};

}  // namespace jobq::internal
