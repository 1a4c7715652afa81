// The one timer of a Manager: delayed jobs, retry backoff and snoozes wait here until due. A
// binary heap of small keys under a mutex: only jobs that wait go through it, and the thread that
// serves it sleeps until the earliest due time, so thousands of pending jobs cost no CPU while
// nothing is due. Each pending job lives in its own node, made before the lock is taken and freed
// when the job leaves: envelopes never move while they wait, and a backlog's memory goes back
// when the backlog does. Each queue may hold at most its QueueConfig::max_scheduled jobs here.
//
// A debounced job waits here under its debounce key: a later dispatch with the key finds it
// (debounced_locked), takes its place and postpones it (postpone_locked). A postponed job keeps its
// old place in the heap and is put back at its new due time when that place comes up, so that
// postponing costs no search of the heap.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "jobq/ids.hpp"
#include "jobq/internal/envelope.hpp"

namespace jobq::internal {

class Timer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// A job waiting to go (back) onto its queue.
  struct Pending {
    time_point due;
    QueueId queue = 0;
    Envelope envelope;
  };
  using Node = std::unique_ptr<Pending>;

  /// `limits`: the most jobs each queue may have waiting here.
  explicit Timer(std::vector<std::size_t> limits);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// A node for `envelope`, made outside the lock (the allocation is the slow part). Throws
  /// std::bad_alloc with `envelope` untouched.
  static Node make(time_point due, QueueId queue, Envelope&& envelope);

  /// Adds a job if its queue has room; wakes the serving thread if the job is now the earliest.
  /// Lock held. On false (no room) or a throw, `node` is left as it was.
  bool add_locked(Node& node);
  /// Moves the jobs due at `now` (at most `limit`) into `out`. Lock held.
  void take_due_locked(time_point now, std::vector<Node>& out, std::size_t limit);
  /// The earliest due time; time_point::max() when nothing waits. Lock held.
  time_point next_due_locked() const noexcept { return heap_.empty() ? time_point::max() : heap_.front().due; }
  /// Every job still waiting, emptying the timer. Lock held.
  std::vector<Node> take_all_locked();

  /// The job waiting under debounce key `key` (extras->key of a debounced job), or null. Lock held.
  Pending* debounced_locked(const std::string& key) const;
  /// Moves a waiting job's due time later. Lock held.
  static void postpone_locked(Pending& pending, time_point due) noexcept { pending.due = due; }

  std::size_t size_locked() const noexcept { return heap_.size(); }
  std::uint64_t size_locked(QueueId queue) const noexcept { return scheduled_[queue]; }
  std::size_t limit(QueueId queue) const noexcept { return limits_[queue]; }

  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mutex_); }
  /// Sleeps until notified or `until` (steady_clock). Lock held by `lock`.
  void wait_until(std::unique_lock<std::mutex>& lock, time_point until) { changed_.wait_until(lock, until); }
  void wait(std::unique_lock<std::mutex>& lock) { changed_.wait(lock); }
  void notify() { changed_.notify_all(); }

  /// The serving thread's plan: when it will look next unless woken. Stored under the lock just
  /// before it sleeps; time_point::min() when it polls instead.
  void plan_locked(time_point wake) noexcept { planned_.store(wake.time_since_epoch().count(), std::memory_order_seq_cst); }
  /// Wakes the serving thread if `deadline` (a handler's timeout, armed without the lock) comes
  /// before its plan. Costs one load when it does not.
  void nudge(time_point deadline) {
    if (deadline.time_since_epoch().count() >= planned_.load(std::memory_order_seq_cst)) return;
    const std::lock_guard guard(mutex_);
    changed_.notify_all();
  }

 private:
  struct Key {
    time_point due;
    std::uint64_t sequence;  // ties broken in insertion order
    Pending* node;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const noexcept {
      return a.due != b.due ? a.due > b.due : a.sequence > b.sequence;
    }
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Key> heap_;  // min-heap by due time; owns the nodes it points to
  std::vector<std::size_t> limits_;
  std::vector<std::uint64_t> scheduled_;  // per queue
  std::uint64_t sequence_ = 0;
  std::atomic<std::int64_t> planned_{0};
  std::unordered_map<std::string, Pending*> debounced_;  // debounce key → its waiting job
};

}  // namespace jobq::internal
