// A durable queue when Redis fails it: gone (a dispatch fails fast, or waits out a short outage),
// a wrong password, out of memory, and killed before a running job's acknowledgement.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "durable_payments.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::RedisServer;
using jobq::testing::counting;
using jobq::testing::fast;
using jobq::testing::payments::durable_config;
using namespace std::chrono_literals;

TEST(Durable, DispatchWithRedisGoneFailsFastWithANamedError) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  queues.register_handler("payments:charge", [](Context&, const Message&) { return Status::success(); },
                          {.queue = "payments"});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload("{}")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));  // every connection of the lane is up
  redis.stop(SIGKILL);
  const auto started = std::chrono::steady_clock::now();
  const auto refused = queues.dispatch(jobq::Job("payments:charge").payload("{}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), jobq::Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);  // fails fast: no wait configured
  EXPECT_EQ(queues.stats("payments").rejected, 1u);
  redis.start();
  ASSERT_TRUE(eventually([&] { return queues.dispatch(jobq::Job("payments:charge").payload("{}")).ok(); }));
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::LaneStats stats = lane->stats();
  EXPECT_GE(stats.reconnects, 2u);  // at least the fetcher's and the keeper's connections
  EXPECT_EQ(stats.acknowledged, 2u);
}

TEST(Durable, AWrongPasswordIsRefusedWithAClearError) {
  RedisServer redis({"--requirepass", "right"});
  jobq::redis::Options options = fast(redis.options());
  options.password = "wrong";
  auto lane = jobq::redis::make_lane(options);
  jobq::Manager queues(durable_config(lane));
  queues.register_handler("payments:charge", [](Context&, const Message&) { return Status::success(); },
                          {.queue = "payments"});
  queues.start();
  const auto refused = queues.dispatch(jobq::Job("payments:charge").payload("{}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), jobq::Errc::store_refused);
  EXPECT_NE(refused.error().message().find("WRONGPASS"), std::string::npos) << refused.error().message();
}

TEST(Durable, RedisOutOfMemoryRefusesDispatchesAndTheBooksBalance) {
  RedisServer redis({"--maxmemory", "2mb", "--maxmemory-policy", "noeviction"});
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  queues.register_handler("payments:charge", [](Context&, const Message&) { return Status::success(); },
                          {.queue = "payments"});
  queues.pause("payments");  // keep everything in the stream
  queues.start();
  const std::string payload = "\"" + std::string(16 * 1024, 'x') + "\"";
  std::uint64_t accepted = 0;
  jobq::Errc refusal{};
  std::string message;
  for (int index = 0; index < 1000 && refusal == jobq::Errc{}; ++index) {
    auto id = queues.dispatch(jobq::Job("payments:charge").payload(payload));
    if (id.ok()) {
      ++accepted;
    } else {
      refusal = id.error().code();
      message = id.error().message();
    }
  }
  EXPECT_EQ(refusal, jobq::Errc::store_refused);
  EXPECT_NE(message.find("out of memory"), std::string::npos) << message;
  EXPECT_GT(accepted, 0u);
  EXPECT_EQ(redis.integer({"XLEN", "jobq:{payments}:stream"}), static_cast<long long>(accepted));
  EXPECT_EQ(lane->stats().appended, accepted);
}

TEST(DurableFaults, RedisGoingAwayBeforeTheAcknowledgementLosesNothing) {
  RedisServer redis({"--appendfsync", "always"});
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<bool> release{false};
  std::atomic<int> runs{0};
  queues.register_handler("payments:charge", [&](Context&, const Message&) {
    runs.fetch_add(1);
    while (!release.load()) std::this_thread::sleep_for(1ms);
    return Status::success();
  }, {.queue = "payments"});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload("{}")).ok());
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }));
  redis.stop(SIGKILL);  // the job is running; its acknowledgement cannot be sent
  release.store(true);
  std::this_thread::sleep_for(100ms);
  redis.start();  // from its AOF: the job is still pending, leased to this process
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);  // acknowledged once Redis was back, not run again
  const jobq::LaneStats stats = lane->stats();
  EXPECT_EQ(stats.acknowledged, 1u);
  EXPECT_EQ(stats.pending, 0);
  // A connection that was up when the server died comes back. Which one first is timing: the
  // acknowledgement may go out on one that had not connected yet while the fetcher is still in
  // its backoff, so the count is waited for.
  EXPECT_TRUE(eventually([&] { return lane->stats().reconnects >= 1; }));
}

TEST(DurableFaults, ADispatchWithAWaitRidesOutAShortOutage) {
  RedisServer redis;
  jobq::redis::Options options = fast(redis.options());
  options.dispatch_wait = 5s;
  auto lane = jobq::redis::make_lane(options);
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:charge", counting(runs), {.queue = "payments"});
  queues.start();
  redis.stop(SIGKILL);
  const auto started = std::chrono::steady_clock::now();  // Redis is back no sooner than 300 ms on
  std::thread restart([&] {
    std::this_thread::sleep_for(300ms);
    redis.start();
  });
  const auto id = queues.dispatch(jobq::Job("payments:charge").payload("{}"));
  const auto waited = std::chrono::steady_clock::now() - started;
  restart.join();
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_GE(waited, 250ms);  // it waited for Redis instead of failing
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
