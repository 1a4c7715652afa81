// The unique-job modes on a durable queue, where the key lives in Redis for every process: a key
// held until the job starts, and debounce in the scheduled set.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::KeyHold;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane, unsigned workers = 1) {
  return jobq::testing::durable_config(std::move(lane), "search", workers);
}

TEST(DurableUntilStarted, TheKeyIsHeldInRedisUntilTheRunBegins) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  queues.register_handler("search:reindex", [&](Context& context, const Message&) {
    started.fetch_add(1);
    while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
    return Status::success();
  }, {.queue = "search"});
  queues.start();
  queues.pause("search");  // fleet-wide: the job waits in Redis
  auto reindex = [&] {
    return queues.dispatch(jobq::Job("search:reindex").idempotency_key("index:books", KeyHold::until_started));
  };
  const auto first = reindex();
  ASSERT_TRUE(first.ok()) << first.error().message();
  const auto waiting = reindex();
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.code(), Errc::duplicate);
  EXPECT_EQ(waiting.error().job_id(), *first);
  queues.resume("search");
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  // The run began: the key leaves Redis with the next acknowledgements, while the job still runs.
  ASSERT_TRUE(eventually([&] { return redis.integer({"EXISTS", "jobq:{search}:key:index:books"}) == 0; }));
  const auto second = reindex();
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(reindex().code(), Errc::duplicate);
  release.store(true);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(started.load(), 2);
  EXPECT_EQ(redis.integer({"EXISTS", "jobq:{search}:key:index:books"}), 0);  // no TTL after success
}

TEST(DurableDebounce, TheLastOfABurstRunsOnceWithItsPayloadAcrossProcesses) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::mutex mutex;
  std::vector<std::string> ran;
  queues.register_handler("search:reindex", [&](Context& context, const Message& message) {
    const std::lock_guard lock(mutex);
    ran.push_back(std::string(message.payload()) + " " + std::string(context.header("by").value_or("-")));
    return Status::success();
  }, {.queue = "search"});
  queues.start();
  // A second process dispatches into the same burst (dispatch-only: no workers).
  auto other_lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager other(durable_config(other_lane, 0));
  other.register_handler("search:reindex", [](Context&, const Message&) { return Status::success(); },
                         {.queue = "search"});
  other.start();
  const jobq::Headers by_other{{"by", "other"}};
  const auto first = queues.dispatch(jobq::Job("search:reindex").payload("1").debounce("doc:1", 1s));
  ASSERT_TRUE(first.ok()) << first.error().message();
  const auto second = other.dispatch(jobq::Job("search:reindex").payload("2").debounce("doc:1", 1s));
  ASSERT_TRUE(second.ok());
  const auto third = other.dispatch_async(jobq::Job("search:reindex").payload("3").headers(by_other).debounce("doc:1", 1s)).get();
  ASSERT_TRUE(third.ok()) << third.error().message();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(*third, *first);
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{search}:scheduled"}), 1);
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard lock(mutex);
    return !ran.empty();
  }));
  ASSERT_TRUE(queues.wait_idle(30s));
  {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(ran, (std::vector<std::string>{"3 other"}));
  }
  EXPECT_EQ(other_lane->stats().debounced, 2u);
  // After the run, the key starts a new burst.
  const auto next = queues.dispatch(jobq::Job("search:reindex").payload("4").debounce("doc:1", 50ms));
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *first);
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard lock(mutex);
    return ran.size() == 2;
  }));
  const auto refused = queues.dispatch(jobq::Job("search:reindex").debounce("doc:1", 0ms));
  EXPECT_EQ(refused.code(), Errc::unsupported);
}

}  // namespace
