// Wake-ups only when needed: no futex wake for a paused queue or while the queue's worker is
// awake, and none lost (every job runs, however the workers park and wake).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

jobq::Config parked(unsigned workers, unsigned spin_iterations = 4096) {
  return jobq::Config{.queues = {{.name = "default",
                                  .workers = workers,
                                  .capacity = 1 << 16,
                                  .idle = jobq::IdleStrategy::spin_then_park,
                                  .spin_iterations = spin_iterations}}};
}

TEST(Wakeup, DispatchesToAPausedQueueWakeNobody) {
  jobq::Manager queues(parked(2, 16));
  std::atomic<int> runs{0};
  queues.register_handler("wake:run", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  std::this_thread::sleep_for(20ms);  // both workers parked
  queues.pause("default");
  const std::uint64_t before = queues.stats("default").wakeups;
  for (int index = 0; index < 1000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("wake:run").payload("{}")));
  // pause() moves the parked workers to the pause word; one not yet scheduled after that is
  // still counted as parked, and a dispatch may send it one wake, once per worker at most.
  EXPECT_LE(queues.stats("default").wakeups - before, 2u);
  std::this_thread::sleep_for(20ms);
  for (int index = 0; index < 1000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("wake:run").payload("{}")));
  EXPECT_LE(queues.stats("default").wakeups - before, 2u) << "over both batches of 1000";
  EXPECT_EQ(runs.load(), 0);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 2000);
}

TEST(Wakeup, DispatchesWhileTheOnlyWorkerRunsWakeNobody) {
  jobq::Manager queues(parked(1));
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  std::atomic<int> runs{0};
  queues.register_handler("wake:block", [&](Context&, const Message&) {
    started = true;
    while (!release.load()) std::this_thread::sleep_for(100us);
    return Status::success();
  });
  queues.register_handler("wake:run", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("wake:block").payload("{}")));
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load(); }));
  const std::uint64_t before = queues.stats("default").wakeups;
  for (int index = 0; index < 1000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("wake:run").payload("{}")));
  EXPECT_EQ(queues.stats("default").wakeups - before, 0u);
  release = true;
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1000);
}

TEST(Wakeup, NoJobWaitsForAWakeThatNeverComes) {
  // Sparse dispatches, bursts and bulk batches to workers that park after a few polls: every job
  // must run, whichever worker was spinning, parking or handing off when it came.
  constexpr int rounds = jobq::testing::sanitized ? 200 : 2000;
  jobq::Manager queues(parked(4, 16));
  std::atomic<int> runs{0};
  queues.register_handler("wake:run", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  std::minstd_rand random(7);
  int dispatched = 0;
  const std::vector<jobq::Job> batch(16, jobq::Job("wake:run").payload("{}"));
  for (int round = 0; round < rounds; ++round) {
    switch (random() % 3) {
      case 0:
        ASSERT_TRUE(queues.dispatch(jobq::Job("wake:run").payload("{}")));
        ++dispatched;
        break;
      case 1:
        ASSERT_TRUE(queues.dispatch_bulk(batch));
        dispatched += static_cast<int>(batch.size());
        break;
      default:
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 200));
    }
    if (round % 100 == 99) {
      // Each job is run within a bounded time, not just eventually by a later dispatch's wake.
      ASSERT_TRUE(jobq::testing::eventually([&] { return runs.load() == dispatched; }, 10s))
          << runs.load() << " of " << dispatched << " ran";
    }
  }
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), dispatched);
}

}  // namespace
