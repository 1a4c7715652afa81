// Refused delayed dispatches and the books: a dispatch refused by a full timer or by a closing
// intake is never counted as accepted, neither in the live counters nor in the shutdown report.
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

/// The timer is full and stays full (its jobs are due in an hour), so every further delayed
/// dispatch is refused and the queue's accepted count must stay exactly where it is. Producers
/// hammer the refusal path while the main thread reads the counters.
TEST(Reliability, ARefusedDelayedDispatchIsNeverCountedAsAccepted) {
  constexpr std::size_t timer_capacity = 64;
  const std::uint64_t reads = jobq::testing::count_from_environment("JOBQ_COUNTER_READS", 20'000);
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .max_scheduled = timer_capacity}}, .log_level = jobq::LogLevel::off});
  queues.register_handler("later:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  for (std::size_t index = 0; index < timer_capacity; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").delay(std::chrono::hours(1))).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> wrongly_accepted{0};
  std::vector<std::thread> producers;
  for (int producer = 0; producer < 4; ++producer) {
    producers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("later:run").delay(std::chrono::hours(1)));
        if (result.ok()) {
          wrongly_accepted.fetch_add(1);
        } else {
          refused.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  // Read for 200 ms while the producers are being refused (and until there were at least
  // `reads` reads and as many refusals, for at most a minute: a sanitizer on a loaded machine is
  // slow to get there).
  std::uint64_t overcounts = 0;
  std::uint64_t highest = 0;
  std::uint64_t read = 0;
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < 200ms ||
         ((read < reads || refused.load(std::memory_order_relaxed) < reads) &&
          std::chrono::steady_clock::now() - started < 60s)) {
    const std::uint64_t accepted = queues.stats("default").accepted;
    overcounts += accepted != timer_capacity;
    highest = std::max(highest, accepted);
    ++read;
  }
  stop.store(true);
  for (std::thread& producer : producers) producer.join();
  EXPECT_EQ(wrongly_accepted.load(), 0u) << "a delayed dispatch past max_scheduled was accepted";
  EXPECT_GE(refused.load(), reads) << "the producers were refused too seldom for the test to mean much";
  RecordProperty("reads", std::to_string(read));
  RecordProperty("refused", std::to_string(refused.load()));
  EXPECT_EQ(overcounts, 0u)
      << overcounts << " of " << read << " reads of stats().accepted showed more than the " << timer_capacity
      << " jobs accepted (up to " << highest << ") while " << refused.load()
      << " delayed dispatches were refused: enqueue_with_options counts a delayed job accepted before it checks, "
         "under the timer's lock, that it may enter the timer, and takes the count back when refused";
  const jobq::ShutdownReport report = queues.shutdown(0ns, jobq::ShutdownMode::return_pending);
  EXPECT_EQ(report.not_run.size(), timer_capacity);
  EXPECT_EQ(report.accepted, timer_capacity);
  EXPECT_TRUE(report.balanced());
}

/// Producers of delayed jobs race the shutdown: a delayed dispatch refused because intake closed
/// must not show up in the report's books, which must balance in every round.
TEST(Reliability, ShutdownRacingDelayedDispatchesKeepsTheBooks) {
  const std::uint64_t rounds = jobq::testing::count_from_environment("JOBQ_DELAYED_ROUNDS", 100);
  std::uint64_t unbalanced_rounds = 0;
  std::string first_unbalanced;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    // A small timer: a round holds a few hundred jobs at most, however late the shutdown comes,
    // and delayed dispatches past it are refused (queue_full) on the same path as at shutdown.
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .max_scheduled = 256}}});
    queues.register_handler("later:run", [](Context&, const Message&) { return Status::success(); });
    queues.start();
    std::atomic<std::uint64_t> accepted{0};
    std::vector<std::thread> producers;
    for (unsigned producer = 0; producer < producer_count; ++producer) {
      producers.emplace_back([&] {
        for (;;) {
          const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("later:run").delay(1ms));
          if (result.ok()) {
            accepted.fetch_add(1);
          } else if (result.code() == jobq::Errc::shutting_down) {
            return;
          } else {
            std::this_thread::yield();  // the timer is full
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50 + 50 * (round % 4)));
    const jobq::ShutdownReport report = queues.shutdown(0ns, jobq::ShutdownMode::return_pending);
    for (std::thread& producer : producers) producer.join();
    std::uint64_t accepted_after = 0;
    for (const jobq::QueueStats& queue : queues.stats()) accepted_after += queue.accepted;
    if (!report.balanced() || report.accepted != accepted.load()) {
      if (unbalanced_rounds++ == 0) {
        first_unbalanced = "round " + std::to_string(round) + ": the report says accepted " +
                           std::to_string(report.accepted) + ", producers saw " + std::to_string(accepted.load()) +
                           " accepted, the counters read after the producers stopped say " +
                           std::to_string(accepted_after) + "; succeeded " + std::to_string(report.succeeded) +
                           " + not run " + std::to_string(report.not_run.size());
      }
    }
  }
  EXPECT_EQ(unbalanced_rounds, 0u)
      << unbalanced_rounds << " of " << rounds << " shutdown reports did not balance. First: " << first_unbalanced
      << ". A delayed dispatch counts itself accepted before it checks (under the timer's lock) that intake is "
         "open, and takes the count back when it is not: a report taken in between counts a refused job";
}

}  // namespace
