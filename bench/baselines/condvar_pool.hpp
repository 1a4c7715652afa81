// The classic thread pool, as a baseline for the benchmarks: one std::mutex, one
// std::condition_variable and one std::deque<std::function<void()>> shared by every producer and
// every worker. Workers block on the condition variable while the deque is empty; post() takes the
// lock, appends, and notifies one worker. Unbounded: there is no backpressure.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <latch>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace jobq_bench {

class CondvarPool {
 public:
  /// Starts `workers` threads and returns once each has run `on_start(index)` (for pinning).
  explicit CondvarPool(unsigned workers, std::function<void(unsigned)> on_start = {})
      : started_(static_cast<std::ptrdiff_t>(workers)) {
    threads_.reserve(workers);
    for (unsigned index = 0; index < workers; ++index) {
      threads_.emplace_back([this, index, &on_start] {
        if (on_start) on_start(index);
        started_.count_down();
        run();
      });
    }
    started_.wait();  // `on_start` is borrowed: every worker has finished with it here
  }

  /// Runs every task still queued, then joins the workers.
  ~CondvarPool() { join(); }

  CondvarPool(const CondvarPool&) = delete;
  CondvarPool& operator=(const CondvarPool&) = delete;

  void post(std::function<void()> task) {
    {
      const std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

  /// Runs every task still queued, then joins the workers. Idempotent.
  void join() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::latch started_;
  std::vector<std::thread> threads_;
};

}  // namespace jobq_bench
