// Durable queues through the Manager's own API, against a real redis-server of the test's own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
using jobq::testing::offline_until;
using jobq::testing::payments::durable_config;
using namespace std::chrono_literals;

struct Order {
  std::int64_t id = 0;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

TEST(Durable, EveryDispatchedJobRunsOnceAndIsAcknowledged) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::mutex mutex;
  std::multiset<std::int64_t> seen;
  queues.register_handler("payments:charge", [&](Context&, const Message& message) {
    Order order;
    if (auto bound = message.bind(order); !bound) return Status::skip_retry("bind");
    const std::lock_guard lock(mutex);
    seen.insert(order.id);
    return Status::success();
  }, {.queue = "payments"});
  queues.start();
  constexpr int jobs = 2000;
  for (int index = 0; index < jobs; ++index) {
    auto id = queues.dispatch(jobq::Job("payments:charge"), Order{index, "sku-" + std::to_string(index)});
    ASSERT_TRUE(id.ok()) << id.error().message();
  }
  ASSERT_TRUE(queues.wait_idle(30s));
  {
    const std::lock_guard lock(mutex);
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(jobs));
    for (int index = 0; index < jobs; ++index) EXPECT_EQ(seen.count(index), 1u) << index;
  }
  const jobq::LaneStats stats = lane->stats();
  EXPECT_EQ(stats.appended, static_cast<std::uint64_t>(jobs));
  EXPECT_EQ(stats.acknowledged, static_cast<std::uint64_t>(jobs));
  EXPECT_EQ(stats.stream_length, 0);
  EXPECT_EQ(stats.pending, 0);
  const std::string scrape = jobq::prometheus_text(queues.metrics());
  EXPECT_NE(scrape.find("jobq_durable_acknowledged_total{queue=\"payments\"} " + std::to_string(jobs)), std::string::npos)
      << scrape;
  EXPECT_NE(scrape.find("jobq_durable_ready{queue=\"payments\"} 0"), std::string::npos);
  EXPECT_EQ(scrape.find("jobq_durable_ready{queue=\"default\"}"), std::string::npos);  // in memory
  const jobq::ShutdownReport report = queues.shutdown(5s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, static_cast<std::uint64_t>(jobs));
}

TEST(Durable, ARetryWaitsInRedisAndRunsAsTheNextAttempt) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::mutex mutex;
  std::vector<std::uint32_t> attempts;
  queues.register_handler("payments:flaky", [&](Context& context, const Message&) {
    const std::lock_guard lock(mutex);
    attempts.push_back(context.attempt());
    return context.attempt() < 3 ? Status::error("downstream said no") : Status::success();
  }, {.queue = "payments"});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:flaky").payload("{}")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(attempts, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_GE(lane->stats().promoted, 2u);
  EXPECT_EQ(queues.stats("payments").retried, 2u);
}

TEST(Durable, DeadLettersLiveInRedisAndCanBeRequeuedFromAnotherLane) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = durable_config(lane);
  config.retry.max_attempts = 2;
  jobq::Manager queues(std::move(config));
  std::atomic<bool> healthy{false};
  std::atomic<int> successes{0};
  queues.register_handler("payments:refund", offline_until(healthy, successes), {.queue = "payments"});
  queues.start();
  const auto id = queues.dispatch(jobq::Job("payments:refund").payload(R"({"amount":5})"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  // Another process's view: a lane of its own, attached to the queue, with no Manager.
  auto other = jobq::redis::make_lane(redis.options());
  other->attach("payments");
  auto page = other->dead_letters();
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->total, 1u);
  const jobq::DeadLetter& letter = page->letters.at(0);
  EXPECT_EQ(letter.id, *id);
  EXPECT_EQ(letter.type, "payments:refund");
  EXPECT_EQ(letter.payload, R"({"amount":5})");
  EXPECT_EQ(letter.attempts, 2u);
  EXPECT_EQ(letter.last_error, "bank offline");
  EXPECT_EQ(letter.reason, jobq::DeadReason::attempts_exhausted);
  healthy.store(true);
  auto requeued = other->requeue_dead(*id);
  ASSERT_TRUE(requeued.ok() && *requeued);
  ASSERT_TRUE(eventually([&] { return successes.load() == 1; }));
  EXPECT_EQ(other->dead_letters()->total, 0u);
  auto purged = other->purge_dead(*id);
  ASSERT_TRUE(purged.ok());
  EXPECT_FALSE(*purged);
}

TEST(Durable, TheManagersQueueScopedDeadLetterCallsReachRedis) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = durable_config(lane);
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  std::atomic<bool> healthy{false};
  std::atomic<int> successes{0};
  queues.register_handler("payments:refund", offline_until(healthy, successes), {.queue = "payments"});
  queues.register_handler("local:fail", [](Context&, const Message&) { return Status::skip_retry("no"); });
  queues.start();
  const auto first = queues.dispatch(jobq::Job("payments:refund").payload("1"));
  const auto second = queues.dispatch(jobq::Job("payments:refund").payload("2"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("local:fail").payload("3")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  // Another process, dispatch-only (no workers), sees the durable queue's letters through its Manager.
  auto other_lane = jobq::redis::make_lane(redis.options());
  jobq::Manager other(durable_config(other_lane, 0));
  other.start();
  auto page = other.dead_letters("payments");
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->total, 2u);
  EXPECT_EQ(page->letters.at(0).last_error, "bank offline");
  auto one = other.dead_letter("payments", *second);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->payload, "2");
  healthy.store(true);
  auto requeued = other.requeue_dead("payments", *first);
  ASSERT_TRUE(requeued.ok()) << requeued.error().message();
  EXPECT_EQ(*requeued, *first);
  ASSERT_TRUE(eventually([&] { return successes.load() == 1; }));
  auto purged = other.purge_dead("payments", *second);
  ASSERT_TRUE(purged.ok() && *purged);
  EXPECT_EQ(other.dead_letters("payments")->total, 0u);
  auto missing = other.requeue_dead("payments", *second);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), jobq::Errc::not_found);
  // The in-memory queue's letter is in the first Manager's own store, by queue.
  auto local = queues.dead_letters("default");
  ASSERT_TRUE(local.ok());
  ASSERT_EQ(local->total, 1u);
  EXPECT_EQ(local->letters.at(0).payload, "3");
  EXPECT_EQ(queues.dead_letters("payments")->total, 0u);
  EXPECT_THROW((void)queues.dead_letters("nowhere"), jobq::ConfigError);
}

TEST(Durable, ADelayedJobWaitsInTheScheduledSet) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:remind", counting(runs), {.queue = "payments"});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:remind").payload("{}").delay(1h)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:remind").payload("{}").delay(1s)).ok());
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{payments}:scheduled"}), 2);  // a second leaves room for a stalled thread
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }));
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{payments}:scheduled"}), 1);
  EXPECT_FALSE(queues.wait_idle(100ms));  // the hour-long one is still waiting
  EXPECT_EQ(runs.load(), 1);
}

TEST(Durable, AnIdempotencyKeyIsHeldInRedisWhilePendingAndAfterSuccess) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:capture", counting(runs), {.queue = "payments"});
  queues.start();
  const auto first = queues.dispatch(jobq::Job("payments:capture").payload("{}").idempotency_key("order-7"));
  ASSERT_TRUE(first.ok());
  const auto again = queues.dispatch(jobq::Job("payments:capture").payload("{}").idempotency_key("order-7"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), jobq::Errc::duplicate);
  EXPECT_EQ(again.error().job_id(), *first);
  ASSERT_TRUE(queues.wait_idle(30s));
  const auto after = queues.dispatch(jobq::Job("payments:capture").payload("{}").idempotency_key("order-7"));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code(), jobq::Errc::duplicate);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_GT(redis.integer({"PTTL", "jobq:{payments}:key:order-7"}), 0);  // kept for the TTL
}

TEST(Durable, AMalformedEntryIsDeadLetteredWithItsReason) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:charge", counting(runs), {.queue = "payments"});
  queues.start();
  freeReplyObject(redis.command({"XADD", "jobq:{payments}:stream", "*", "id", "77", "payload", "{}"}));
  freeReplyObject(redis.command({"XADD", "jobq:{payments}:stream", "*", "id", "78", "type", "nobody:registered",
                                 "payload", "{}", "attempt", "1"}));
  freeReplyObject(redis.command({"XADD", "jobq:{payments}:stream", "*", "id", "79", "type", "payments:charge",
                                 "payload", "{}", "attempt", "x"}));
  ASSERT_TRUE(queues.wait_idle(30s));
  auto page = lane->dead_letters();
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->total, 3u);
  for (const jobq::DeadLetter& letter : page->letters) EXPECT_EQ(letter.reason, jobq::DeadReason::malformed);
  EXPECT_EQ(runs.load(), 0);
}

TEST(Durable, PauseHoldsEveryProcessSharingTheQueue) {
  RedisServer redis;
  auto lane_a = jobq::redis::make_lane(fast(redis.options()));
  auto lane_b = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager a(durable_config(lane_a));
  jobq::Manager b(durable_config(lane_b));
  std::atomic<int> runs{0};
  for (jobq::Manager* manager : {&a, &b}) {
    manager->register_handler("payments:charge", counting(runs), {.queue = "payments"});
    manager->start();
  }
  a.pause("payments");
  ASSERT_TRUE(eventually([&] { return b.paused("payments"); }));  // b follows the fleet-wide flag
  for (int index = 0; index < 20; ++index) ASSERT_TRUE(b.dispatch(jobq::Job("payments:charge").payload("{}")).ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(runs.load(), 0);
  b.resume("payments");
  ASSERT_TRUE(eventually([&] { return runs.load() == 20; }));
}

TEST(DurableAsync, EveryAsynchronousDispatchIsReportedOnceAndRuns) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::atomic<int> runs{0};
  queues.register_handler("payments:charge", counting(runs), {.queue = "payments"});
  queues.register_handler("local:note", [&](Context&, const Message&) { return Status::success(); });
  queues.start();
  constexpr int jobs = 5000;
  std::mutex mutex;
  std::set<jobq::JobId> ids;
  std::atomic<int> reported{0};
  for (int index = 0; index < jobs; ++index) {
    queues.dispatch_async(jobq::Job("payments:charge").payload("{}"), [&](jobq::Result<jobq::JobId> result) {
      ASSERT_TRUE(result.ok()) << result.error().message();
      const std::lock_guard lock(mutex);
      ids.insert(*result);
      reported.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return reported.load() == jobs; }));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(jobs));  // distinct ids, each reported once
  // The future form, a refusal before sending, and an in-memory queue (answered inline).
  auto future = queues.dispatch_async(jobq::Job("payments:charge").payload("{}"));
  ASSERT_TRUE(future.get().ok());
  auto invalid = queues.dispatch_async(jobq::Job("payments:charge").payload("{not json"));
  ASSERT_TRUE(invalid.wait_for(0s));
  EXPECT_EQ(invalid.get().error().code(), jobq::Errc::invalid_payload);
  auto local = queues.dispatch_async(jobq::Job("local:note").payload("{}"));
  ASSERT_TRUE(local.wait_for(0s));
  EXPECT_TRUE(local.get().ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), jobs + 1);
  EXPECT_EQ(lane->stats().appended, static_cast<std::uint64_t>(jobs + 1));
}

TEST(DurableAsync, ATypedPayloadCanBeDispatchedAsynchronously) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::mutex mutex;
  std::vector<std::string> skus;
  auto record = [&](Context&, const Message& message) {
    Order order;
    if (const Status bound = message.bind(order); !bound) return bound;
    const std::lock_guard lock(mutex);
    skus.push_back(order.sku);
    return Status::success();
  };
  queues.register_handler("payments:charge", record, {.queue = "payments"});
  queues.register_handler("local:charge", record);
  queues.start();
  std::atomic<int> stored{0};
  queues.dispatch_async(jobq::Job("payments:charge"), Order{1, "durable"},
                        [&](const jobq::Result<jobq::JobId>& result) { stored.fetch_add(result.ok() ? 1 : 0); });
  const Order local{2, "in memory"};
  auto in_memory = queues.dispatch_async(jobq::Job("local:charge"), local);  // copied, answered at once
  ASSERT_TRUE(in_memory.wait_for(0s));
  EXPECT_TRUE(in_memory.get().ok());
  auto refused = queues.dispatch_async(jobq::Job("payments:charge"), Order{3, std::string("\xff")});
  ASSERT_TRUE(refused.wait_for(0s));  // checked before it is sent
  EXPECT_EQ(refused.get().error().code(), jobq::Errc::invalid_payload);
  ASSERT_TRUE(eventually([&] { return stored.load() == 1; }));
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::lock_guard lock(mutex);
  std::sort(skus.begin(), skus.end());
  EXPECT_EQ(skus, (std::vector<std::string>{"durable", "in memory"}));
}

TEST(DurableAsync, AnAsynchronousDispatchWithRedisGoneIsReportedAsUnavailable) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  queues.register_handler("payments:charge", [](Context&, const Message&) { return Status::success(); },
                          {.queue = "payments"});
  queues.start();
  redis.stop(SIGKILL);
  auto refused = queues.dispatch_async(jobq::Job("payments:charge").payload("{}"));
  ASSERT_TRUE(refused.wait_for(10s));
  const jobq::Result<jobq::JobId> result = refused.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), jobq::Errc::unavailable);
  EXPECT_EQ(queues.stats("payments").rejected, 1u);
}

}  // namespace
