// The reliability proof: every accepted job ends in exactly one terminal state (succeeded,
// revoked, dead-lettered), the way its plan says, under load from 8 producers across 4 queues with
// failures, retries, skips, revokes and snoozes injected by job index; the counters match the plan.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "reliability_support.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace jobq::testing::reliability;
using namespace std::chrono_literals;

/// 8 producers × 4 queues × 2 workers; every job follows its plan; afterwards every index must
/// have ended exactly once, the way its plan says, and the counters must match the plan exactly.
void every_job_ends_exactly_once(std::uint64_t jobs) {
  Ledger ledger(jobs);
  jobq::Manager queues(four_queues({.max_attempts = max_attempts, .backoff = jobq::testing::no_wait}));
  register_planned(queues, ledger);
  std::atomic<std::uint64_t> failure_hooks{0};
  std::atomic<std::uint64_t> retry_hooks{0};
  queues.on_failure([&](const jobq::Failure& failure) {
    failure_hooks.fetch_add(1, std::memory_order_relaxed);
    if (failure.will_retry) retry_hooks.fetch_add(1, std::memory_order_relaxed);
  });
  queues.start();

  std::atomic<std::uint64_t> refusals{0};
  std::atomic<std::uint64_t> unexpected_refusals{0};
  std::vector<std::thread> producers;
  for (unsigned producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t index = producer; index < jobs; index += producer_count) {
        const jobq::Job job = jobq::Job("plan:run").on_queue(queue_for(index));
        for (;;) {
          const jobq::Result<jobq::JobId> result = queues.dispatch(job, Item{index});
          if (result.ok()) {
            ledger.accepted_id[index] = *result;
            break;
          }
          refusals.fetch_add(1, std::memory_order_relaxed);
          if (result.code() != jobq::Errc::queue_full) {
            unexpected_refusals.fetch_add(1, std::memory_order_relaxed);
            break;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_EQ(unexpected_refusals.load(), 0u) << "dispatch refused for another reason than a full queue";
  ASSERT_TRUE(queues.wait_idle(std::chrono::minutes(30))) << "the jobs never all reached a terminal state";
  const jobq::ShutdownReport report = queues.shutdown(60s);

  Expected total{};
  std::uint64_t succeeded = 0;
  std::uint64_t revoked = 0;
  std::uint64_t dead = 0;
  std::uint64_t not_once = 0;
  std::uint64_t wrong_way = 0;
  std::uint64_t wrong_runs = 0;
  std::uint64_t wrong_id = 0;
  std::uint64_t first_shown = 0;
  for (std::uint64_t index = 0; index < jobs; ++index) {
    const Expected expected = expected_for(index);
    total.failed += expected.failed;
    total.retried += expected.retried;
    total.snoozed += expected.snoozed;
    succeeded += expected.terminal == Terminal::succeeded;
    revoked += expected.terminal == Terminal::revoked;
    dead += expected.terminal == Terminal::dead;
    const bool once = ledger.terminals[index].load() == 1;
    const bool right_way = ledger.terminal[index].load() == static_cast<std::uint8_t>(expected.terminal);
    const bool right_runs = ledger.runs[index].load() == expected.runs;
    const bool right_id = ledger.accepted_id[index] != 0 && ledger.seen_id[index].load() == ledger.accepted_id[index];
    not_once += !once;
    wrong_way += !right_way;
    wrong_runs += !right_runs;
    wrong_id += !right_id;
    if ((!once || !right_way || !right_runs || !right_id) && first_shown++ < 5) {
      ADD_FAILURE() << "index " << index << " (plan " << static_cast<int>(plan_for(index)) << ", id "
                    << ledger.accepted_id[index] << "): " << int(ledger.terminals[index].load())
                    << " terminal events (last " << int(ledger.terminal[index].load()) << ", expected "
                    << static_cast<int>(expected.terminal) << "), " << int(ledger.runs[index].load()) << " runs of "
                    << expected.runs << ", handler saw id " << ledger.seen_id[index].load();
    }
  }
  EXPECT_EQ(not_once, 0u) << "jobs that did not end in exactly one terminal state";
  EXPECT_EQ(wrong_way, 0u) << "jobs that ended another way than planned";
  EXPECT_EQ(wrong_runs, 0u) << "jobs run another number of times than planned (first-try jobs: exactly once)";
  EXPECT_EQ(wrong_id, 0u) << "jobs whose handler saw another id than dispatch returned";
  expect_no_surprises(ledger, "main run");

  EXPECT_TRUE(report.drained);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_TRUE(report.balanced()) << "accepted " << report.accepted << " != succeeded " << report.succeeded
                                 << " + dead " << report.dead_lettered << " + revoked " << report.revoked
                                 << " + not run " << report.not_run.size();
  EXPECT_EQ(report.accepted, jobs);
  EXPECT_EQ(report.succeeded, succeeded);
  EXPECT_EQ(report.revoked, revoked);
  EXPECT_EQ(report.dead_lettered, dead);
  EXPECT_EQ(report.failed, total.failed);
  EXPECT_EQ(report.retried, total.retried);
  EXPECT_EQ(report.snoozed, total.snoozed);
  EXPECT_EQ(report.timed_out, 0u);
  EXPECT_EQ(failure_hooks.load(), total.failed);
  EXPECT_EQ(retry_hooks.load(), total.retried);
  std::uint64_t rejected = 0;
  for (const jobq::QueueStats& queue : report.queues) {
    rejected += queue.rejected;
    EXPECT_EQ(queue.depth, 0);
    EXPECT_EQ(queue.scheduled, 0u);
  }
  EXPECT_EQ(rejected, refusals.load()) << "every refused dispatch is counted on its queue";
  const jobq::DeadLetterPage page = queues.dead_letters(0, 0);
  const std::uint64_t kept = std::min<std::uint64_t>(dead, queues.config().dead_letter_capacity);
  EXPECT_EQ(page.total, kept);
  EXPECT_EQ(page.dropped, dead - kept);
}

TEST(Reliability, EveryJobEndsInExactlyOneTerminalState) {
  every_job_ends_exactly_once(jobq::testing::count_from_environment("JOBQ_RELIABILITY_JOBS", 1'000'000));
}

}  // namespace
