// Backpressure: QueueConfig::capacity with WhenFull::reject and WhenFull::block.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using jobq::WhenFull;
using namespace std::chrono_literals;

// Attempts per producer. Under block at small capacities every job is a handoff to a producer that
// polls for room in 50 µs sleeps, often with a worker wake-up in between: at capacity 1 that cost
// 60 to 250 µs per job on a loaded 2-core machine, so block runs fewer by default.
constexpr std::uint64_t default_reject_attempts = jobq::testing::sanitized ? 2'000 : 20'000;
constexpr std::uint64_t default_block_attempts = jobq::testing::sanitized ? 250 : 1'000;

const char* describe(WhenFull mode) { return mode == WhenFull::reject ? "reject" : "block"; }

class BackpressureSweep : public ::testing::TestWithParam<std::tuple<std::size_t, WhenFull>> {};

/// 4 producers each attempt N dispatches (JOBQ_BACKPRESSURE_ATTEMPTS) against 1 worker with a tiny
/// handler. Every attempt is either accepted or refused (and counted), and every accepted job runs
/// exactly once.
TEST_P(BackpressureSweep, EveryAttemptIsAcceptedOrRefusedAndEveryAcceptedJobRunsOnce) {
  const auto [capacity, mode] = GetParam();
  const std::uint64_t per_producer = jobq::testing::count_from_environment(
      "JOBQ_BACKPRESSURE_ATTEMPTS", mode == WhenFull::reject ? default_reject_attempts : default_block_attempts);
  constexpr std::size_t producer_count = 4;
  const std::uint64_t attempts = per_producer * producer_count;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default",
                                                .workers = 1,
                                                .capacity = capacity,
                                                .when_full = mode,
                                                .block_timeout = 5s}}});
  std::atomic<std::uint64_t> refusals_seen{0};
  std::atomic<std::size_t> producers_done{0};
  std::vector<jobq::JobId> ran;  // written by the one worker only; read after shutdown joined it
  ran.reserve(attempts);
  bool first_run = true;
  queues.register_handler("tiny:run", [&](Context& context, const Message&) {
    if (first_run && mode == WhenFull::reject) {
      // Hold the worker on its first job until a producer has been refused (or all are done), so
      // that a full queue is certain rather than a matter of scheduling.
      first_run = false;
      (void)jobq::testing::eventually(
          [&] { return refusals_seen.load() != 0 || producers_done.load() == producer_count; }, 30s);
    }
    ran.push_back(context.job_id());
    return Status::success();
  });
  queues.start();
  struct ProducerLog {
    std::uint64_t ok = 0;
    std::uint64_t refused = 0;
    std::uint64_t not_queue_full = 0;
    std::vector<jobq::JobId> accepted;
  };
  std::vector<ProducerLog> logs(producer_count);
  std::vector<std::thread> producers;
  for (std::size_t producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      ProducerLog& log = logs[producer];
      log.accepted.reserve(per_producer);
      for (std::uint64_t attempt = 0; attempt < per_producer; ++attempt) {
        const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("tiny:run"));
        if (result.ok()) {
          ++log.ok;
          log.accepted.push_back(*result);
        } else {
          ++log.refused;
          if (result.code() != Errc::queue_full) ++log.not_queue_full;
          refusals_seen.fetch_add(1, std::memory_order_relaxed);
        }
      }
      producers_done.fetch_add(1);
    });
  }
  for (std::thread& producer : producers) producer.join();
  const jobq::ShutdownReport report = queues.shutdown(60s);

  std::uint64_t ok = 0;
  std::uint64_t refused = 0;
  std::vector<jobq::JobId> accepted;
  for (std::size_t producer = 0; producer < producer_count; ++producer) {
    const ProducerLog& log = logs[producer];
    EXPECT_EQ(log.ok + log.refused, per_producer) << "producer " << producer;
    EXPECT_EQ(log.not_queue_full, 0u) << "producer " << producer << ": refusals other than queue_full";
    ok += log.ok;
    refused += log.refused;
    accepted.insert(accepted.end(), log.accepted.begin(), log.accepted.end());
  }
  const jobq::QueueStats& stats = report.queues[0];
  EXPECT_EQ(stats.accepted, ok);
  EXPECT_EQ(stats.rejected, refused);
  EXPECT_EQ(stats.accepted + stats.rejected, attempts);
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.succeeded, ok);
  EXPECT_TRUE(report.balanced());

  std::sort(accepted.begin(), accepted.end());
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(std::adjacent_find(accepted.begin(), accepted.end()), accepted.end()) << "an id was accepted twice";
  EXPECT_EQ(std::adjacent_find(ran.begin(), ran.end()), ran.end()) << "a job ran twice";
  EXPECT_EQ(ran.size(), accepted.size());
  EXPECT_TRUE(ran == accepted) << "the jobs that ran are not the jobs accepted";

  if (mode == WhenFull::block) {
    EXPECT_EQ(refused, 0u) << "a blocking dispatch was refused within its 5 s block timeout";
  } else if (attempts > capacity + 64) {
    // The worker holds at most one batch (8 jobs) while it waits, so the queue must fill.
    EXPECT_GT(refused, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(CapacitiesAndModes, BackpressureSweep,
                         ::testing::Combine(::testing::Values(1, 2, 10, 100, 4096),
                                            ::testing::Values(WhenFull::reject, WhenFull::block)),
                         [](const auto& info) {
                           return "capacity" + std::to_string(std::get<0>(info.param)) + "_" +
                                  describe(std::get<1>(info.param));
                         });

TEST(Backpressure, RejectRefusesExactlyWhatDoesNotFit) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .capacity = 10}}});
  std::atomic<int> ran{0};
  queues.register_handler("tiny:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  int ok = 0;
  int full = 0;
  for (int attempt = 0; attempt < 15; ++attempt) {
    const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("tiny:run"));
    ok += result.ok();
    full += result.code() == Errc::queue_full;
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(full, 5);
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 10u);
  EXPECT_EQ(stats.rejected, 5u);
  EXPECT_EQ(stats.depth, 10);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), 10);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

/// A producer thread takes slots of a large queue's capacity in chunks (4 at capacity 8 192), so
/// the slots another thread holds unused are not this one's; they come back when that thread
/// exits, and then the queue fills to exactly its capacity.
TEST(Backpressure, AThreadsUnusedSlotsComeBackWhenItExits) {
  constexpr int capacity = 8192;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .capacity = capacity}}});
  std::atomic<int> ran{0};
  queues.register_handler("tiny:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.pause("default");
  queues.start();
  auto fill = [&] {
    int ok = 0;
    while (queues.dispatch(jobq::Job("tiny:run")).ok()) ++ok;
    return ok;
  };
  std::atomic<int> other_ok{0};
  std::atomic<bool> other_dispatched{false};
  std::atomic<bool> other_may_exit{false};
  std::thread other([&] {
    other_ok = queues.dispatch(jobq::Job("tiny:run")).ok() ? 1 : 0;
    other_dispatched = true;
    while (!other_may_exit) std::this_thread::sleep_for(1ms);
  });
  while (!other_dispatched) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(other_ok.load(), 1);
  EXPECT_EQ(fill(), capacity - 4) << "the other thread took a chunk of 4 slots and used one";
  other_may_exit = true;
  other.join();
  EXPECT_EQ(fill(), 3) << "the other thread's 3 unused slots did not come back when it exited";
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.depth, capacity);
  EXPECT_EQ(stats.accepted, static_cast<std::uint64_t>(capacity));
  EXPECT_EQ(stats.rejected, 2u);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), capacity);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(Backpressure, BlockOnAPausedQueueWaitsForTheBlockTimeoutThenRefuses) {
  constexpr auto block_timeout = 200ms;
  jobq::Manager queues(jobq::Config{
      .queues = {{.name = "default", .capacity = 2, .when_full = WhenFull::block, .block_timeout = block_timeout}}});
  queues.register_handler("tiny:run", [](Context&, const Message&) { return Status::success(); });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("tiny:run")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("tiny:run")).ok());
  const auto start = std::chrono::steady_clock::now();
  const jobq::Result<jobq::JobId> blocked = queues.dispatch(jobq::Job("tiny:run"));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(blocked.code(), Errc::queue_full);
  EXPECT_GE(waited, block_timeout) << "gave up after "
                                   << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 2u);
  EXPECT_EQ(stats.rejected, 1u);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.not_run.size(), 2u);  // the queue was paused to the end
  EXPECT_TRUE(report.balanced());
}

TEST(Backpressure, ShutdownReleasesABlockedProducerWithShuttingDown) {
  jobq::Manager queues(
      jobq::Config{.queues = {{.name = "default", .capacity = 1, .when_full = WhenFull::block, .block_timeout = 60s}}});
  queues.register_handler("tiny:run", [](Context&, const Message&) { return Status::success(); });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("tiny:run")).ok());
  std::atomic<bool> dispatching{false};
  std::atomic<bool> returned{false};
  Errc code{};
  std::thread producer([&] {
    dispatching.store(true);
    const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("tiny:run"));
    code = result.code();
    returned.store(true);
  });
  ASSERT_TRUE(jobq::testing::eventually([&] { return dispatching.load(); }));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned.load()) << "the dispatch did not block on the full queue";
  const jobq::ShutdownReport report = queues.shutdown(1s);
  producer.join();
  // Had shutdown not released it, the dispatch would have returned queue_full after 60 s.
  EXPECT_EQ(code, Errc::shutting_down) << "got " << jobq::describe(code);
  EXPECT_EQ(report.accepted, 1u);
  EXPECT_EQ(report.not_run.size(), 1u);
  EXPECT_TRUE(report.balanced());
  // The report's counters were read while the producer may still have been on its way out: its
  // refusal is counted by the time dispatch returns, so read it after the join.
  EXPECT_EQ(queues.stats("default").rejected, 1u);
}

TEST(Backpressure, DispatchBulkUnderBlockWaitsForRoom) {
  jobq::Manager queues(
      jobq::Config{.queues = {{.name = "default", .capacity = 4, .when_full = WhenFull::block, .block_timeout = 30s}}});
  std::vector<jobq::JobId> ran;  // one worker writes it; read after shutdown
  queues.register_handler("tiny:run", [&](Context& context, const Message&) {
    ran.push_back(context.job_id());
    return Status::success();
  });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  std::vector<jobq::JobId> accepted;
  for (int index = 0; index < 4; ++index) {
    const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("tiny:run"));
    ASSERT_TRUE(id.ok());
    accepted.push_back(*id);
  }
  const std::array<jobq::Job, 3> batch = {jobq::Job("tiny:run"), jobq::Job("tiny:run"), jobq::Job("tiny:run")};
  std::atomic<bool> returned{false};
  jobq::Result<jobq::JobId> bulk = jobq::Error(Errc::not_started);
  std::thread producer([&] {
    bulk = queues.dispatch_bulk(batch);
    returned.store(true);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load()) << "dispatch_bulk returned while the queue was full";
  queues.resume("default");
  producer.join();
  ASSERT_TRUE(bulk.ok()) << bulk.error().message();
  for (jobq::JobId id = *bulk; id < *bulk + 3; ++id) accepted.push_back(id);
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 7u);
  EXPECT_EQ(report.succeeded, 7u);
  EXPECT_EQ(report.queues[0].rejected, 0u);
  EXPECT_TRUE(report.balanced());
  std::sort(accepted.begin(), accepted.end());
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, accepted);
}

/// A batch with more jobs for a queue than its capacity can never fit: blocking for room would
/// only delay the refusal.
TEST(Backpressure, ABulkLargerThanTheCapacityIsRefusedAtOnceUnderBlock) {
  constexpr std::chrono::milliseconds block_timeout = 1s;
  jobq::Manager queues(jobq::Config{
      .queues = {{.name = "default", .capacity = 4, .when_full = WhenFull::block, .block_timeout = block_timeout}}});
  queues.register_handler("tiny:run", [](Context&, const Message&) { return Status::success(); });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  const std::array<jobq::Job, 5> too_many = {jobq::Job("tiny:run"), jobq::Job("tiny:run"), jobq::Job("tiny:run"),
                                             jobq::Job("tiny:run"), jobq::Job("tiny:run")};
  auto timed_bulk = [&](std::chrono::nanoseconds& took) {
    const auto start = std::chrono::steady_clock::now();
    const jobq::Result<jobq::JobId> result = queues.dispatch_bulk(too_many);
    took = std::chrono::steady_clock::now() - start;
    return result.code();
  };
  std::chrono::nanoseconds took{0};
  // An empty queue: refused without waiting.
  EXPECT_EQ(timed_bulk(took), Errc::queue_full);
  EXPECT_LT(took, block_timeout / 2) << "waited " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms for room that 5 jobs can never have in a queue of 4";
  // A full queue: the same batch still can never fit, so it should not wait for room either.
  for (int index = 0; index < 4; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("tiny:run")).ok());
  EXPECT_EQ(timed_bulk(took), Errc::queue_full);
  EXPECT_LT(took, block_timeout / 2)
      << "dispatch_bulk of 5 jobs onto a full queue of capacity 4 waited "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms (block_timeout is 1000 ms) before refusing a batch that can never fit: Manager::dispatch_bulk "
         "calls admission(), which blocks in wait_for_room(), before reserve_slow() checks count > capacity";
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 4u);
  EXPECT_EQ(report.queues[0].rejected, 10u);
  EXPECT_TRUE(report.balanced());
}

}  // namespace
