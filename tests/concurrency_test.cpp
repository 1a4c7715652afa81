#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;

struct Tick {
  std::uint32_t producer;
  std::uint64_t seq;
};
JOBQ_PAYLOAD(Tick, producer, seq);

/// 4 producers × 2 queues × 2 workers each. Every job carries (producer, seq); the handler counts
/// each one, so a job lost or run twice shows up as a count other than one.
void run_every_job_exactly_once(std::uint64_t total_jobs) {
  constexpr std::uint32_t producer_count = 4;
  const std::uint64_t per_producer = total_jobs / producer_count;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "left", .workers = 2, .capacity = 1 << 16},
                                               {.name = "right", .workers = 2, .capacity = 1 << 16}}});
  std::unique_ptr<std::atomic<std::uint8_t>[]> counts(new std::atomic<std::uint8_t>[total_jobs]());
  queues.register_handler("ticks:count", [&](Context&, const Message& message) {
    Tick tick{};
    if (Status status = message.bind(tick); !status) return status;
    counts[tick.producer * per_producer + tick.seq].fetch_add(1, std::memory_order_relaxed);
    return Status::success();
  });
  queues.start();
  std::atomic<std::uint64_t> full_retries{0};
  std::vector<std::thread> producers;
  for (std::uint32_t producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t seq = 0; seq < per_producer; ++seq) {
        const jobq::Job job = jobq::Job("ticks:count").on_queue(seq % 2 ? "left" : "right");
        for (;;) {
          const jobq::Result<jobq::JobId> result = queues.dispatch(job, Tick{producer, seq});
          if (result.ok()) break;
          ASSERT_EQ(result.code(), jobq::Errc::queue_full);
          full_retries.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::minutes(10));
  ASSERT_TRUE(report.drained);
  ASSERT_TRUE(report.balanced());
  EXPECT_EQ(report.accepted, per_producer * producer_count);
  EXPECT_EQ(report.succeeded, per_producer * producer_count);
  std::uint64_t wrong = 0;
  for (std::uint64_t index = 0; index < per_producer * producer_count; ++index) {
    if (counts[index].load() != 1) ++wrong;
  }
  EXPECT_EQ(wrong, 0u) << "jobs not run exactly once";
  std::uint64_t rejected = 0;
  for (const jobq::QueueStats& queue : report.queues) {
    EXPECT_EQ(queue.accepted, per_producer * producer_count / 2) << queue.name;
    rejected += queue.rejected;
  }
  EXPECT_EQ(rejected, full_retries.load());  // every refusal was a full queue, and was counted
}

TEST(Concurrency, EveryJobRunsExactlyOnce) {
  run_every_job_exactly_once(jobq::testing::count_from_environment("JOBQ_CONCURRENCY_JOBS", 1'000'000));
}

TEST(Concurrency, StressEveryJobRunsExactlyOnce) {
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_STRESS_JOBS", 0);
  if (jobs == 0) GTEST_SKIP() << "set JOBQ_STRESS_JOBS (ctest -L stress runs 10M)";
  run_every_job_exactly_once(jobs);
}

TEST(Concurrency, PerProducerOrderHoldsWithOneWorkerPerQueue) {
  constexpr std::uint32_t producer_count = 4;
  constexpr std::uint64_t per_producer = 50'000;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "left"}, {.name = "right"}}});
  // Per queue, the last seq seen from each producer; each queue has one worker, so no locking.
  std::vector<std::int64_t> last_left(producer_count, -1);
  std::vector<std::int64_t> last_right(producer_count, -1);
  std::atomic<std::uint64_t> out_of_order{0};
  queues.register_handler("ticks:order", [&](Context& context, const Message& message) {
    Tick tick{};
    if (Status status = message.bind(tick); !status) return status;
    std::vector<std::int64_t>& last = context.queue() == "left" ? last_left : last_right;
    if (static_cast<std::int64_t>(tick.seq) <= last[tick.producer]) out_of_order.fetch_add(1);
    last[tick.producer] = static_cast<std::int64_t>(tick.seq);
    return Status::success();
  });
  queues.start();
  std::vector<std::thread> producers;
  for (std::uint32_t producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t seq = 0; seq < per_producer; ++seq) {
        const jobq::Job job = jobq::Job("ticks:order").on_queue(seq % 3 ? "left" : "right");
        while (!queues.dispatch(job, Tick{producer, seq}).ok()) std::this_thread::yield();
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::minutes(5));
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, producer_count * per_producer);
  EXPECT_EQ(out_of_order.load(), 0u);
  for (std::uint32_t producer = 0; producer < producer_count; ++producer) {
    EXPECT_EQ(last_left[producer], 49'999);   // the last seq with seq % 3 != 0
    EXPECT_EQ(last_right[producer], 49'998);  // the last seq with seq % 3 == 0
  }
}

}  // namespace
