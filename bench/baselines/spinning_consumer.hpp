// The consumer side of the bare-ring baselines: one thread, pinned, that polls until stopped.
#pragma once

#include <atomic>
#include <thread>

#include <jobq/internal/cpu.hpp>

#include "../common/affinity.hpp"

namespace jobq_bench {

/// Runs `poll()` on its own thread, pinned to `cpu`, until destroyed; `poll` returns whether it
/// found work, and the thread pauses between empty polls. The constructor returns once the thread
/// runs (or failed to pin: see pinned()), so the benchmark never times a thread start.
template <class Poll>
class SpinningConsumer {
 public:
  SpinningConsumer(int cpu, Poll poll) : poll_(std::move(poll)) {
    thread_ = std::thread([this, cpu] {
      if (!pin_this_thread(cpu)) {
        ready_.store(-1, std::memory_order_release);
        return;
      }
      ready_.store(1, std::memory_order_release);
      for (;;) {
        if (poll_()) continue;
        if (stop_.load(std::memory_order_acquire)) break;
        jobq::internal::cpu_relax();
      }
    });
    while (ready_.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  }
  /// Stops after the first empty poll, then joins.
  ~SpinningConsumer() {
    stop_.store(true, std::memory_order_release);
    thread_.join();
  }
  SpinningConsumer(const SpinningConsumer&) = delete;
  SpinningConsumer& operator=(const SpinningConsumer&) = delete;

  bool pinned() const noexcept { return ready_.load(std::memory_order_acquire) > 0; }

 private:
  Poll poll_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ready_{0};  // 1: running, -1: could not pin
  std::thread thread_;
};

}  // namespace jobq_bench
