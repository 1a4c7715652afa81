// Headers on durable queues: stored with the job in Redis and seen by every run, wherever the job
// goes there (retries, delays, dead letters and their requeue, jobs handed back at shutdown).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Headers;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane, unsigned workers = 2) {
  return jobq::testing::durable_config(std::move(lane), "payments", workers);
}

struct Charge {
  std::int64_t cents = 0;
};
JOBQ_PAYLOAD(Charge, cents);

/// Each run's attempt and tenant header, as "attempt:tenant" ("-" when absent).
struct Runs {
  std::mutex mutex;
  std::vector<std::string> seen;
  void add(const Context& context) {
    const std::lock_guard lock(mutex);
    seen.push_back(std::to_string(context.attempt()) + ":" + std::string(context.header("tenant").value_or("-")));
  }
  std::vector<std::string> sorted() {
    const std::lock_guard lock(mutex);
    std::vector<std::string> copy = seen;
    std::sort(copy.begin(), copy.end());
    return copy;
  }
};

TEST(DurableHeaders, AreStoredWithTheJobAndSeenByEveryRetry) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  Runs runs;
  queues.register_handler("payments:charge", [&](Context& context, const Message&) {
    runs.add(context);
    return context.attempt() < 3 ? Status::error("declined") : Status::success();
  }, {.queue = "payments"});
  queues.start();
  const Headers acme{{"tenant", "acme"}, {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").headers(acme)).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.sorted(), (std::vector<std::string>{"1:acme", "2:acme", "3:acme"}));
  EXPECT_GE(lane->stats().promoted, 2u);  // both retries waited in Redis
}

TEST(DurableHeaders, DelayedAsynchronousBulkAndTypedJobsCarryThem) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  Runs runs;
  queues.register_handler("payments:charge", [&](Context& context, const Message&) {
    runs.add(context);
    return Status::success();
  }, {.queue = "payments"});
  queues.start();
  const Headers delayed{{"tenant", "delayed"}};
  const Headers async{{"tenant", "async"}};
  const Headers bulk{{"tenant", "bulk"}};
  const Headers typed{{"tenant", "typed"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").headers(delayed).delay(1s)).ok());
  // Before it is promoted, the scheduled set holds the headers with the job.
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{payments}:scheduled"}), 1);
  ASSERT_TRUE(queues.dispatch_async(jobq::Job("payments:charge").headers(async)).get().ok());
  const std::vector<jobq::Job> batch{jobq::Job("payments:charge").headers(bulk), jobq::Job("payments:charge")};
  ASSERT_TRUE(queues.dispatch_bulk(batch).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").headers(typed), Charge{250}).ok());
  ASSERT_TRUE(queues.dispatch_async(jobq::Job("payments:charge").headers(async), Charge{300}).get().ok());
  ASSERT_TRUE(eventually([&] { return runs.sorted().size() == 6; }));
  EXPECT_EQ(runs.sorted(), (std::vector<std::string>{"1:-", "1:async", "1:async", "1:bulk", "1:delayed", "1:typed"}));
}

TEST(DurableHeaders, ADeadLetterInRedisKeepsThemAndARequeueRunsWithThem) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = durable_config(lane);
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  std::atomic<bool> healthy{false};
  Runs runs;
  queues.register_handler("payments:refund", [&](Context& context, const Message&) {
    runs.add(context);
    return healthy.load() ? Status::success() : Status::error("bank offline");
  }, {.queue = "payments"});
  queues.start();
  const Headers acme{{"tenant", "acme"}};
  const auto id = queues.dispatch(jobq::Job("payments:refund").headers(acme));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  // Another process reads the letter from Redis, headers included.
  auto other = jobq::redis::make_lane(redis.options());
  other->attach("payments");
  auto letter = other->dead_letter(*id);
  ASSERT_TRUE(letter.ok() && letter->has_value());
  EXPECT_EQ((*letter)->headers, acme);
  healthy.store(true);
  auto requeued = other->requeue_dead(*id);
  ASSERT_TRUE(requeued.ok() && *requeued);
  ASSERT_TRUE(eventually([&] { return runs.sorted().size() == 2; }));
  EXPECT_EQ(runs.sorted(), (std::vector<std::string>{"1:acme", "1:acme"}));
}

TEST(DurableHeaders, JobsHandedBackAtShutdownKeepThemForTheNextProcess) {
  RedisServer redis;
  constexpr int jobs = 100;
  const Headers acme{{"tenant", "acme"}};
  {
    auto lane = jobq::redis::make_lane(fast(redis.options()));
    jobq::Manager first(durable_config(lane, 1));
    std::atomic<bool> release{false};
    first.register_handler("payments:slow", [&](Context&, const Message&) {
      while (!release.load()) std::this_thread::sleep_for(1ms);
      return Status::success();
    }, {.queue = "payments"});
    first.start();
    for (int index = 0; index < jobs; ++index) {
      ASSERT_TRUE(first.dispatch(jobq::Job("payments:slow").headers(acme)).ok());
    }
    // Delivered to this process's ring behind the running job, not only fetched: a fetched job
    // still in the fetcher's hands at shutdown goes back by the lane itself, uncounted here.
    ASSERT_TRUE(eventually([&] { return first.stats("payments").depth > 0; }));
    std::thread releaser([&] {
      std::this_thread::sleep_for(20ms);
      release.store(true);
    });
    const jobq::ShutdownReport report = first.shutdown(5s, jobq::ShutdownMode::return_pending);
    releaser.join();
    EXPECT_GT(report.handed_back, 0u);
    EXPECT_TRUE(report.balanced());
  }
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager second(durable_config(lane));
  Runs runs;
  second.register_handler("payments:slow", [&](Context& context, const Message&) {
    runs.add(context);
    return Status::success();
  }, {.queue = "payments"});
  second.start();
  ASSERT_TRUE(second.wait_idle(30s));
  const std::vector<std::string> seen = runs.sorted();
  ASSERT_FALSE(seen.empty());
  for (const std::string& run : seen) EXPECT_EQ(run, "1:acme");
}

TEST(DurableHeaders, BadStoredHeadersDeadLetterTheJobWithTheReason) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:charge", jobq::testing::counting(runs), {.queue = "payments"});
  queues.start();
  // A producer outside jobq wrote a header name jobq would have refused.
  redisReply* reply = redis.command({"XADD", "jobq:{payments}:stream", "*", "id", "900", "type", "payments:charge",
                                     "payload", "{}", "at", "0", "headers", R"({"Bad Name":"x"})"});
  ASSERT_NE(reply, nullptr);
  freeReplyObject(reply);
  ASSERT_TRUE(eventually([&] { return lane->stats().dead == 1; }));
  auto letter = queues.dead_letter("payments", 900);
  ASSERT_TRUE(letter.ok() && letter->has_value());
  EXPECT_EQ((*letter)->reason, jobq::DeadReason::malformed);
  EXPECT_NE((*letter)->last_error.find("headers"), std::string::npos) << (*letter)->last_error;
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
