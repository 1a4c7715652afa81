// Batches on in-memory queues: callbacks once when every job has ended, with exact counts, under
// retries, dead letters, revokes, cancellation, concurrency and a dispatch that fails part-way.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::BatchOutcome;
using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using namespace std::chrono_literals;

/// Every callback run: which one, and the counts it was given.
struct Callbacks {
  std::mutex mutex;
  std::vector<std::pair<std::string, BatchOutcome>> runs;
  void add(const Context& context) {
    BatchOutcome outcome;
    EXPECT_TRUE(jobq::from_json(context.previous_result().value_or("{}"), outcome).ok());
    const std::lock_guard lock(mutex);
    runs.emplace_back(std::string(context.type()), outcome);
  }
  std::vector<std::pair<std::string, BatchOutcome>> snapshot() {
    const std::lock_guard lock(mutex);
    return runs;
  }
};

/// A Manager with "work:do" (fails "fail", revokes "revoke", retries "flaky" once, else succeeds)
/// and the two callbacks.
struct Fixture {
  explicit Fixture(unsigned workers = 2) : queues(config(workers)) {
    queues.register_handler("work:do", [this](Context& context, const Message& message) {
      ran.fetch_add(1);
      if (message.payload() == R"("fail")") return Status::skip_retry("no");
      if (message.payload() == R"("revoke")") return Status::revoke();
      if (message.payload() == R"("flaky")" && context.attempt() == 1) return Status::error("once");
      if (message.payload() == R"("slow")") std::this_thread::sleep_for(2ms);
      return Status::success();
    });
    for (const char* type : {"batch:success", "batch:complete"}) {
      queues.register_handler(type, [this](Context& context, const Message&) {
        callbacks.add(context);
        return Status::success();
      });
    }
    queues.start();
  }
  static jobq::Config config(unsigned workers) {
    jobq::Config config;
    config.queues = {{.name = "default", .workers = workers}};
    config.retry.backoff = jobq::testing::no_wait;
    config.log_level = jobq::LogLevel::off;
    return config;
  }
  jobq::BatchOptions options() const {
    return {.on_complete = jobq::Job("batch:complete"), .on_success = jobq::Job("batch:success")};
  }
  std::vector<jobq::Job> jobs(const std::vector<std::string>& payloads) {
    texts = payloads;
    std::vector<jobq::Job> out;
    for (const std::string& text : texts) out.push_back(jobq::Job("work:do").payload(text));
    return out;
  }
  jobq::Manager queues;
  Callbacks callbacks;
  std::atomic<int> ran{0};
  std::vector<std::string> texts;
};

TEST(Batches, AllSucceededRunsOnSuccessThenOnCompleteOnceWithTheCounts) {
  Fixture f;
  const auto batch = f.queues.batch(f.jobs({R"("a")", R"("flaky")", R"("c")"}), f.options());
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  ASSERT_TRUE(eventually([&] { return f.callbacks.snapshot().size() == 2; }));
  ASSERT_TRUE(f.queues.wait_idle(30s));
  auto runs = f.callbacks.snapshot();
  ASSERT_EQ(runs.size(), 2u);
  // Dispatched on_success first; on two workers they may run in either order.
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  EXPECT_EQ(runs[0].first, "batch:complete");
  EXPECT_EQ(runs[1].first, "batch:success");
  for (const auto& [type, outcome] : runs) {
    EXPECT_EQ(outcome.batch, *batch);
    EXPECT_EQ(outcome.total, 3u);
    EXPECT_EQ(outcome.succeeded, 3u);
    EXPECT_EQ(outcome.dead + outcome.revoked, 0u);
    EXPECT_TRUE(outcome.complete);
  }
  const auto status = f.queues.batch_status(*batch);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->complete);
  EXPECT_EQ(status->succeeded, 3u);
}

TEST(Batches, DeadAndRevokedJobsEndTheBatchWithoutOnSuccess) {
  Fixture f;
  const auto batch = f.queues.batch(f.jobs({R"("a")", R"("fail")", R"("revoke")"}), f.options());
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE(eventually([&] { return f.callbacks.snapshot().size() == 1; }));
  ASSERT_TRUE(f.queues.wait_idle(30s));
  const auto runs = f.callbacks.snapshot();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].first, "batch:complete");
  EXPECT_EQ(runs[0].second.succeeded, 1u);
  EXPECT_EQ(runs[0].second.dead, 1u);
  EXPECT_EQ(runs[0].second.revoked, 1u);
  // The dead letter requeued after the batch ended runs, and counts for nothing: no second callback.
  ASSERT_TRUE(f.queues.requeue_dead(f.queues.dead_letters().letters.at(0).id).ok());
  ASSERT_TRUE(f.queues.wait_idle(30s));
  EXPECT_EQ(f.callbacks.snapshot().size(), 1u);
}

TEST(Batches, CancellingRevokesTheJobsNotStartedAndStillCallsBackOnce) {
  Fixture f(1);
  f.queues.pause("default");
  std::vector<std::string> payloads(20, R"("slow")");
  const auto batch = f.queues.batch(f.jobs(payloads), f.options());
  ASSERT_TRUE(batch.ok());
  const auto cancelled = f.queues.cancel_batch(*batch);
  ASSERT_TRUE(cancelled.ok() && *cancelled);
  f.queues.resume("default");
  ASSERT_TRUE(eventually([&] { return f.callbacks.snapshot().size() == 1; }));
  ASSERT_TRUE(f.queues.wait_idle(30s));
  const auto runs = f.callbacks.snapshot();
  EXPECT_EQ(runs[0].first, "batch:complete");
  EXPECT_TRUE(runs[0].second.cancelled);
  EXPECT_EQ(runs[0].second.revoked, 20u);
  EXPECT_EQ(f.ran.load(), 0);  // none ran
  EXPECT_EQ(f.queues.cancel_batch("default:nosuchbatch").value(), false);
  EXPECT_EQ(f.queues.batch_status("nowhere:1").code(), Errc::not_found);
}

TEST(Batches, ADispatchFailingPartWayLeavesTheJobsBeforeItAsTheBatchCancelled) {
  jobq::Config config;
  config.queues = {{.name = "default", .workers = 1, .capacity = 4}};
  config.log_level = jobq::LogLevel::off;
  jobq::Manager queues(std::move(config));
  Callbacks callbacks;
  queues.register_handler("work:do", [](Context&, const Message&) { return Status::success(); });
  queues.register_handler("batch:complete", [&](Context& context, const Message&) {
    callbacks.add(context);
    return Status::success();
  });
  queues.start();
  queues.pause("default");
  const std::vector<jobq::Job> jobs(6, jobq::Job("work:do"));
  const auto batch = queues.batch(jobs, {.on_complete = jobq::Job("batch:complete")});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.code(), Errc::queue_full);
  EXPECT_NE(batch.error().message().find("is the 4 jobs before it, cancelled"), std::string::npos) << batch.error().message();
  queues.resume("default");
  ASSERT_TRUE(eventually([&] { return callbacks.snapshot().size() == 1; }));
  EXPECT_EQ(callbacks.snapshot()[0].second.total, 4u);
  EXPECT_EQ(callbacks.snapshot()[0].second.revoked, 4u);  // cancelled before they started
}

TEST(Batches, BadBatchesAreRefusedBeforeAnyJobRuns) {
  Fixture f;
  EXPECT_EQ(f.queues.batch({}).code(), Errc::unsupported);
  const std::vector<jobq::Job> unknown{jobq::Job("work:do"), jobq::Job("work:missing")};
  const auto refused = f.queues.batch(unknown);
  EXPECT_EQ(refused.code(), Errc::unknown_type);
  EXPECT_NE(refused.error().message().find("job 1"), std::string::npos);
  const auto bad_callback = f.queues.batch(f.jobs({R"("a")"}), {.on_complete = jobq::Job("batch:complete").payload("{oops")});
  EXPECT_EQ(bad_callback.code(), Errc::invalid_payload);
  ASSERT_TRUE(f.queues.wait_idle(1s));
  EXPECT_EQ(f.ran.load(), 0);
}

TEST(Batches, ManyBatchesAtOnceEachCallBackOnceWithExactCounts) {
  Fixture f(4);
  constexpr int producers = 4;
  const int per_producer = jobq::testing::sanitized ? 20 : 100;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::vector<std::string> ids;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      // 10 jobs a batch: 6 succeed (one after a retry), 2 dead, 2 revoked.
      const std::vector<std::string> texts{R"("a")",      R"("b")",    R"("flaky")", R"("c")",      R"("d")",
                                           R"("e")",      R"("fail")", R"("fail")",  R"("revoke")", R"("revoke")"};
      std::vector<jobq::Job> jobs;
      for (const std::string& text : texts) jobs.push_back(jobq::Job("work:do").payload(text));
      for (int index = 0; index < per_producer; ++index) {
        const auto batch = f.queues.batch(jobs, f.options());
        ASSERT_TRUE(batch.ok()) << batch.error().message();
        const std::lock_guard lock(mutex);
        ids.push_back(*batch);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::size_t batches = static_cast<std::size_t>(producers * per_producer);
  ASSERT_TRUE(eventually([&] { return f.callbacks.snapshot().size() == batches; }, 60s));
  ASSERT_TRUE(f.queues.wait_idle(30s));
  const auto runs = f.callbacks.snapshot();
  EXPECT_EQ(runs.size(), batches);  // on_complete once each; on_success never (none all succeeded)
  std::set<std::string> seen;
  for (const auto& [type, outcome] : runs) {
    EXPECT_EQ(type, "batch:complete");
    EXPECT_TRUE(seen.insert(outcome.batch).second) << "twice: " << outcome.batch;
    EXPECT_EQ(outcome.total, 10u);
    EXPECT_EQ(outcome.succeeded, 6u);
    EXPECT_EQ(outcome.dead, 2u);
    EXPECT_EQ(outcome.revoked, 2u);
  }
  EXPECT_EQ(seen.size(), batches);
  EXPECT_TRUE(f.queues.shutdown(5s).balanced());
}

}  // namespace

namespace {

TEST(Batches, AnInMemoryBatchGoesOnAfterARestartWithItsReturnedJobs) {
  std::vector<jobq::ReturnedJob> returned;
  std::vector<jobq::PendingBatch> pending;
  std::string id;
  {
    jobq::Config config;
    config.queues = {{.name = "default", .workers = 1, .dequeue_batch = 1}};
    jobq::Manager first(std::move(config));
    std::atomic<bool> closing{false};
    std::atomic<int> started{0};
    first.register_handler("work:do", [&](Context&, const Message&) {
      started.fetch_add(1);
      while (!closing.load()) std::this_thread::sleep_for(100us);
      return Status::success();
    });
    first.register_handler("batch:complete", [](Context&, const Message&) { return Status::success(); });
    first.start();
    const std::vector<jobq::Job> jobs(5, jobq::Job("work:do"));
    const auto batch = first.batch(jobs, {.on_complete = jobq::Job("batch:complete")});
    ASSERT_TRUE(batch.ok());
    id = *batch;
    ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
    std::thread closer([&] {
      EXPECT_TRUE(eventually([&] { return jobq::testing::intake_closed(first); }));
      closing.store(true);
    });
    const jobq::ShutdownReport report = first.shutdown(5s, jobq::ShutdownMode::return_pending);
    closer.join();
    EXPECT_TRUE(report.balanced());
    EXPECT_EQ(report.succeeded, 1u);
    returned = report.not_run;
    pending = report.batches;
  }
  ASSERT_EQ(returned.size(), 4u);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].outcome.batch, id);
  EXPECT_EQ(pending[0].outcome.succeeded, 1u);
  jobq::Manager second(jobq::Config{});
  Callbacks callbacks;
  second.register_handler("work:do", [](Context&, const Message&) { return Status::success(); });
  second.register_handler("batch:complete", [&](Context& context, const Message&) {
    callbacks.add(context);
    return Status::success();
  });
  second.restore_batch(pending[0]);
  second.start();
  EXPECT_THROW(second.restore_batch(pending[0]), jobq::ConfigError);
  for (const jobq::ReturnedJob& job : returned) ASSERT_TRUE(second.dispatch(job.to_job()).ok());
  ASSERT_TRUE(eventually([&] { return callbacks.snapshot().size() == 1; }));
  const auto runs = callbacks.snapshot();
  EXPECT_EQ(runs[0].second.batch, id);
  EXPECT_EQ(runs[0].second.total, 5u);
  EXPECT_EQ(runs[0].second.succeeded, 5u);
}

}  // namespace
