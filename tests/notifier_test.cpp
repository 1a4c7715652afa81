// The notifier on its own: producers and spinning, parking workers over a counted stand-in for
// the ring. No job may be left while every worker sleeps, and dispatches to an awake worker wake
// nobody.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "jobq/internal/cpu.hpp"
#include "jobq/internal/notifier.hpp"
#include "test_support.hpp"

namespace {

using jobq::internal::Notifier;
using namespace std::chrono_literals;

/// Workers that behave as the engine's do, over a counter of queued jobs.
struct Bench {
  Notifier notifier;
  std::atomic<std::int64_t> queued{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> stop{false};

  bool take() {
    std::int64_t now = queued.load(std::memory_order_seq_cst);
    while (now > 0) {
      if (queued.compare_exchange_weak(now, now - 1, std::memory_order_seq_cst)) return true;
    }
    return false;
  }
  void work(unsigned spin_polls) {
    bool spinning = false;
    unsigned polls = 0;
    while (!stop.load(std::memory_order_seq_cst)) {
      if (take()) {
        if (spinning) {
          spinning = false;
          notifier.end_spin([&] { return queued.load(std::memory_order_seq_cst) > 0; });
        }
        done.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (!spinning) {
        spinning = true;
        polls = 0;
        notifier.begin_spin();
      }
      if (++polls < spin_polls) {
        jobq::internal::cpu_relax();
        continue;
      }
      const Notifier::Key key = notifier.prepare_wait();
      if (queued.load(std::memory_order_seq_cst) == 0 && !stop.load(std::memory_order_seq_cst)) {
        notifier.commit_wait(key);
      } else {
        notifier.cancel_wait();
      }
      polls = 0;
    }
    if (spinning) notifier.end_spin([] { return false; });
  }
  void dispatch(std::int64_t count) {
    queued.fetch_add(count, std::memory_order_seq_cst);
    notifier.notify();
  }
};

TEST(Notifier, NoJobIsLeftWhileEveryWorkerSleeps) {
  const std::uint64_t total = jobq::testing::sanitized ? 100'000 : 2'000'000;
  constexpr unsigned workers = 4;
  constexpr unsigned producers = 3;
  Bench bench;
  std::vector<std::thread> threads;
  for (unsigned index = 0; index < workers; ++index) threads.emplace_back([&] { bench.work(8); });
  std::vector<std::thread> sources;
  std::atomic<std::uint64_t> dispatched{0};
  for (unsigned index = 0; index < producers; ++index) {
    sources.emplace_back([&, index] {
      std::uint64_t sent = 0;
      while (sent < total / producers) {
        const std::int64_t burst = 1 + static_cast<std::int64_t>((sent * 7 + index) % 5);
        bench.dispatch(burst);
        sent += static_cast<std::uint64_t>(burst);
        if (sent % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(sent % 50));
      }
      dispatched.fetch_add(sent);
    });
  }
  for (std::thread& source : sources) source.join();
  const auto expected = static_cast<std::int64_t>(dispatched.load());
  // Each job is taken within a bounded time, with no dispatch after the last to wake anyone.
  const bool drained = jobq::testing::eventually([&] { return bench.queued.load() == 0; }, 10s);
  EXPECT_TRUE(drained) << bench.queued.load() << " jobs left with every worker asleep";
  // A worker counts a job just after taking it: the last count may trail `queued` reaching 0.
  jobq::testing::eventually([&] { return static_cast<std::int64_t>(bench.done.load()) == expected; }, 10s);
  EXPECT_EQ(static_cast<std::int64_t>(bench.done.load()), expected);
  bench.stop = true;
  bench.notifier.wake_everyone();
  for (std::thread& thread : threads) thread.join();
}

TEST(Notifier, ADispatchToASpinningWorkerWakesNobody) {
  Bench bench;
  std::thread worker([&] { bench.work(1u << 30); });  // spins, never parks
  while (bench.done.load() == 0) {
    bench.dispatch(1);
    std::this_thread::sleep_for(1ms);
  }
  const std::uint64_t before = bench.notifier.wakes();
  for (int index = 0; index < 10'000; ++index) bench.dispatch(1);
  EXPECT_EQ(bench.notifier.wakes(), before);
  bench.stop = true;
  bench.notifier.wake_everyone();
  worker.join();
}

}  // namespace
