// One worker's armed deadline: the worker and the timer agree on every run, whoever is first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "jobq/internal/run_deadline.hpp"
#include "test_support.hpp"

namespace {

using jobq::internal::RunDeadline;
using namespace std::chrono_literals;

const RunDeadline::time_point epoch{};

TEST(RunDeadline, ARunThatEndsInTimeIsNeverClaimed) {
  RunDeadline deadline;
  EXPECT_EQ(deadline.armed_until(), RunDeadline::time_point::max());
  deadline.arm(1, epoch + 10ms, 10ms);
  EXPECT_EQ(deadline.armed_until(), epoch + 10ms);
  std::uint64_t run = 0;
  std::chrono::nanoseconds timeout{0};
  EXPECT_FALSE(deadline.claim_due(epoch + 9ms, run, timeout));  // not yet
  EXPECT_FALSE(deadline.disarm(1));
  EXPECT_EQ(deadline.armed_until(), RunDeadline::time_point::max());
  EXPECT_FALSE(deadline.claim_due(epoch + 1h, run, timeout));  // ended: nothing to claim
}

TEST(RunDeadline, AClaimedRunIsReportedFiredToTheWorkerOnceTheTimerIsDone) {
  RunDeadline deadline;
  deadline.arm(7, epoch + 10ms, 10ms);
  std::uint64_t run = 0;
  std::chrono::nanoseconds timeout{0};
  ASSERT_TRUE(deadline.claim_due(epoch + 10ms, run, timeout));
  EXPECT_EQ(run, 7u);
  EXPECT_EQ(timeout, 10ms);
  EXPECT_EQ(deadline.armed_until(), RunDeadline::time_point::max());  // claimed: not armed any more
  std::atomic<bool> disarmed{false};
  std::atomic<bool> fired_seen{false};
  std::thread worker([&] {
    fired_seen = deadline.disarm(7);
    disarmed = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(disarmed.load()) << "the worker went on while the timer was still firing its run";
  deadline.fired(7);
  worker.join();
  EXPECT_TRUE(fired_seen.load());
  deadline.arm(8, epoch + 1h, 1h);  // and the next run arms as usual
  EXPECT_EQ(deadline.armed_until(), epoch + 1h);
}

TEST(RunDeadline, RacingClaimsAndDisarmsAgreeOnEveryRun) {
  const std::uint64_t runs = jobq::testing::sanitized ? 20'000 : 200'000;
  RunDeadline deadline;
  std::atomic<bool> done{false};
  std::atomic<bool> timer_running{false};
  std::atomic<std::uint64_t> claimed{0};
  std::thread timer([&] {
    timer_running = true;
    std::uint64_t run = 0;
    std::chrono::nanoseconds timeout{0};
    while (!done.load(std::memory_order_relaxed)) {
      if (deadline.claim_due(epoch + 1s, run, timeout)) {
        claimed.fetch_add(1, std::memory_order_relaxed);
        deadline.fired(run);
      }
    }
  });
  while (!timer_running.load()) std::this_thread::yield();
  std::uint64_t fired = 0;
  // Past `runs`, on until the timer has won at least once: on a busy machine its thread may get
  // no CPU for a while, so this one gives its CPU up now and then.
  const auto give_up_at = std::chrono::steady_clock::now() + 30s;
  for (std::uint64_t run = 1; run <= runs || (fired == 0 && std::chrono::steady_clock::now() < give_up_at); ++run) {
    deadline.arm(run, epoch, 1ns);  // always due: every run races the timer
    if (deadline.disarm(run)) ++fired;
    if (run % 1024 == 0) std::this_thread::yield();
  }
  done = true;
  timer.join();
  EXPECT_EQ(fired, claimed.load());
  EXPECT_GT(fired, 0u);
  EXPECT_EQ(deadline.armed_until(), RunDeadline::time_point::max());
}

}  // namespace
