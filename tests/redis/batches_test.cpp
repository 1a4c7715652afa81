// Batches on a durable queue: counted in Redis by every process, called back once by whichever
// process ends the last job, cancelled from another process, and kept by jobs handed back at
// shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::BatchOutcome;
using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

/// Callbacks run anywhere in the fleet, with the counts they were given.
struct Callbacks {
  std::mutex mutex;
  std::vector<BatchOutcome> runs;
  void add(const Context& context) {
    BatchOutcome outcome;
    EXPECT_TRUE(jobq::from_json(context.previous_result().value_or("{}"), outcome).ok());
    const std::lock_guard lock(mutex);
    runs.push_back(outcome);
  }
  std::vector<BatchOutcome> snapshot() {
    const std::lock_guard lock(mutex);
    return runs;
  }
};

/// A worker process of the "exports" queue: "export:part" fails "fail", waits while `hold` is
/// set, else succeeds; "export:done" is the callback.
std::unique_ptr<jobq::Manager> member(RedisServer& redis, Callbacks& callbacks, std::atomic<int>& ran,
                                      std::atomic<bool>& hold, unsigned workers = 2) {
  jobq::Config config = jobq::testing::durable_config(jobq::redis::make_lane(fast(redis.options())), "exports", workers);
  config.retry.max_attempts = 1;
  config.log_level = jobq::LogLevel::off;
  auto manager = std::make_unique<jobq::Manager>(std::move(config));
  manager->register_handler("export:part", [&ran, &hold](Context&, const Message& message) {
    while (hold.load()) std::this_thread::sleep_for(1ms);
    ran.fetch_add(1);
    return message.payload() == R"("fail")" ? Status::skip_retry("no") : Status::success();
  }, {.queue = "exports"});
  manager->register_handler("export:done", [&callbacks](Context& context, const Message&) {
    callbacks.add(context);
    return Status::success();
  });
  manager->start();
  return manager;
}

std::vector<jobq::Job> parts(std::size_t count, std::size_t failing, std::vector<std::string>& texts) {
  texts.clear();
  for (std::size_t index = 0; index < count; ++index) texts.push_back(index < failing ? R"("fail")" : R"("ok")");
  std::vector<jobq::Job> jobs;
  for (const std::string& text : texts) jobs.push_back(jobq::Job("export:part").payload(text));
  return jobs;
}

TEST(DurableBatches, TwoProcessesCountIntoOneBatchAndOneOfThemCallsBackOnce) {
  RedisServer redis;
  Callbacks callbacks;
  std::atomic<int> ran{0};
  std::atomic<bool> hold{false};
  auto first = member(redis, callbacks, ran, hold);
  auto second = member(redis, callbacks, ran, hold);
  std::vector<std::string> texts;
  const auto batch = first->batch(parts(200, 10, texts), {.on_complete = jobq::Job("export:done"),
                                                          .on_success = jobq::Job("export:done")});
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  ASSERT_TRUE(eventually([&] { return callbacks.snapshot().size() == 1; }, 60s));
  ASSERT_TRUE(first->wait_idle(30s));
  ASSERT_TRUE(second->wait_idle(30s));
  std::this_thread::sleep_for(50ms);
  const auto runs = callbacks.snapshot();
  ASSERT_EQ(runs.size(), 1u);  // on_complete only: ten parts were dead-lettered
  EXPECT_EQ(runs[0].batch, *batch);
  EXPECT_EQ(runs[0].total, 200u);
  EXPECT_EQ(runs[0].succeeded, 190u);
  EXPECT_EQ(runs[0].dead, 10u);
  EXPECT_EQ(ran.load(), 200);
  const auto status = second->batch_status(*batch);
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_TRUE(status->complete);
}

TEST(DurableBatches, AnotherProcessCancelsAndEveryPartNotStartedIsRevoked) {
  RedisServer redis;
  Callbacks callbacks;
  std::atomic<int> ran{0};
  std::atomic<bool> hold{false};
  auto worker = member(redis, callbacks, ran, hold, 1);
  worker->pause("exports");
  std::vector<std::string> texts;
  const auto batch = worker->batch(parts(30, 0, texts), {.on_complete = jobq::Job("export:done"),
                                                         .on_success = jobq::Job("export:done")});
  ASSERT_TRUE(batch.ok());
  std::atomic<int> other_ran{0};
  auto other = member(redis, callbacks, other_ran, hold, 0);
  const auto cancelled = other->cancel_batch(*batch);
  ASSERT_TRUE(cancelled.ok() && *cancelled);
  worker->resume("exports");
  ASSERT_TRUE(eventually([&] { return callbacks.snapshot().size() == 1; }, 60s));
  const auto runs = callbacks.snapshot();
  EXPECT_TRUE(runs[0].cancelled);
  EXPECT_EQ(runs[0].revoked, 30u);
  EXPECT_EQ(ran.load(), 0);
}

TEST(DurableBatches, PartsHandedBackAtShutdownKeepTheirBatch) {
  RedisServer redis;
  Callbacks callbacks;
  std::atomic<int> ran{0};
  std::atomic<bool> hold{true};
  std::string id;
  {
    auto first = member(redis, callbacks, ran, hold, 1);
    std::vector<std::string> texts;
    const auto batch = first->batch(parts(50, 0, texts), {.on_complete = jobq::Job("export:done")});
    ASSERT_TRUE(batch.ok());
    id = *batch;
    // The first worker holds one part, and more are delivered behind it.
    ASSERT_TRUE(eventually([&] { return first->stats("exports").depth > 0; }));
    std::thread releaser([&] {
      EXPECT_TRUE(eventually([&] { return jobq::testing::intake_closed(*first); }));
      hold.store(false);
    });
    const jobq::ShutdownReport report = first->shutdown(5s, jobq::ShutdownMode::return_pending);
    releaser.join();
    EXPECT_TRUE(report.balanced());
    EXPECT_GT(report.handed_back, 0u);  // parts went back to Redis with their batch
    EXPECT_TRUE(callbacks.snapshot().empty());
  }
  auto second = member(redis, callbacks, ran, hold);
  ASSERT_TRUE(eventually([&] { return callbacks.snapshot().size() == 1; }, 60s));
  const auto runs = callbacks.snapshot();
  EXPECT_EQ(runs[0].batch, id);
  EXPECT_EQ(runs[0].succeeded, 50u);
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
