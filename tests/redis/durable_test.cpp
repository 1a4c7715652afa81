// Durable queues through the Manager's own API, against a real redis-server of the test's own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
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
using namespace std::chrono_literals;

struct Order {
  std::int64_t id = 0;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane, unsigned workers = 2) {
  return jobq::testing::durable_config(std::move(lane), "payments", workers);
}

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
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:remind").payload("{}").delay(50ms)).ok());
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{payments}:scheduled"}), 2);
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

TEST(Durable, ShutdownHandsPrefetchedJobsBackForAnotherProcess) {
  RedisServer redis;
  constexpr int jobs = 200;
  std::mutex mutex;
  std::multiset<std::string> ran;
  auto record = [&](const Message& message) {
    const std::lock_guard lock(mutex);
    ran.insert(std::string(message.payload()));
  };
  {
    auto lane = jobq::redis::make_lane(fast(redis.options()));
    jobq::Manager first(durable_config(lane, 1));
    std::atomic<bool> release{false};
    first.register_handler("payments:slow", [&](Context&, const Message& message) {
      while (!release.load()) std::this_thread::sleep_for(1ms);
      record(message);
      return Status::success();
    }, {.queue = "payments"});
    first.start();
    for (int index = 0; index < jobs; ++index) {
      ASSERT_TRUE(first.dispatch(jobq::Job("payments:slow").payload(std::to_string(index))).ok());
    }
    // The prefetch, held here: leased in Redis, and handed to this Manager's queue (a fetched batch
    // is leased a moment before it is delivered).
    ASSERT_TRUE(eventually([&] { return lane->stats().pending == 64 && first.stats("payments").accepted == 64; }));
    std::thread releaser([&] {
      std::this_thread::sleep_for(50ms);
      release.store(true);
    });
    const jobq::ShutdownReport report = first.shutdown(5s, jobq::ShutdownMode::return_pending);
    releaser.join();
    EXPECT_TRUE(report.not_run.empty());  // durable jobs go back to Redis, not into the report
    EXPECT_EQ(report.succeeded + report.handed_back, report.accepted);
    EXPECT_EQ(report.accepted, 64u);
    EXPECT_TRUE(report.balanced());
  }
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager second(durable_config(lane));
  second.register_handler("payments:slow", [&](Context&, const Message& message) {
    record(message);
    return Status::success();
  }, {.queue = "payments"});
  second.start();
  ASSERT_TRUE(second.wait_idle(30s));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(ran.size(), static_cast<std::size_t>(jobs));
  for (int index = 0; index < jobs; ++index) EXPECT_EQ(ran.count(std::to_string(index)), 1u) << index;
}

TEST(Durable, JobsOfADeadConsumerAreClaimedAndTheirLostRunCounts) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(durable_config(lane));
  std::mutex mutex;
  std::map<std::string, std::uint32_t> attempts;
  queues.register_handler("payments:settle", [&](Context& context, const Message& message) {
    const std::lock_guard lock(mutex);
    attempts[std::string(message.payload())] = context.attempt();
    return Status::success();
  }, {.queue = "payments"});
  queues.pause("payments");  // a pause before start holds fetching too: the ghost takes the jobs first
  queues.start();
  for (int index = 0; index < 10; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("payments:settle").payload(std::to_string(index))).ok());
  }
  // A process that fetched them and died without a word.
  ASSERT_TRUE(eventually([&] {  // the worker process made the consumer group
    redisReply* groups = redis.command({"XINFO", "GROUPS", "jobq:{payments}:stream"});
    const bool made = groups != nullptr && groups->type == REDIS_REPLY_ARRAY && groups->elements == 1;
    if (groups != nullptr) freeReplyObject(groups);
    return made;
  }));
  redisReply* taken = redis.command({"XREADGROUP", "GROUP", "workers", "ghost", "COUNT", "10", "STREAMS",
                                     "jobq:{payments}:stream", ">"});
  ASSERT_NE(taken, nullptr);
  ASSERT_EQ(taken->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(taken->element[0]->element[1]->elements, 10u);
  freeReplyObject(taken);
  queues.resume("payments");
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::lock_guard lock(mutex);
  ASSERT_EQ(attempts.size(), 10u);
  for (const auto& [payload, attempt] : attempts) EXPECT_EQ(attempt, 2u) << payload;
  EXPECT_EQ(lane->stats().recovered, 10u);
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

}  // namespace

namespace {

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

namespace {

TEST(DurableLease, AHandlerSlowerThanItsLeaseIsNotRunTwiceWhileItLives) {
  RedisServer redis;
  jobq::redis::Options options = fast(redis.options());
  options.lease = 150ms;  // renewed every 50 ms while the job is held
  auto lane_a = jobq::redis::make_lane(options);
  auto lane_b = jobq::redis::make_lane(options);
  jobq::Manager a(durable_config(lane_a));
  jobq::Manager b(durable_config(lane_b));
  std::atomic<int> runs{0};
  for (jobq::Manager* manager : {&a, &b}) {
    manager->register_handler("payments:audit", [&](Context&, const Message&) {
      runs.fetch_add(1);
      std::this_thread::sleep_for(800ms);  // five leases long
      return Status::success();
    }, {.queue = "payments"});
    manager->start();
  }
  ASSERT_TRUE(a.dispatch(jobq::Job("payments:audit").payload("{}")).ok());
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }));
  ASSERT_TRUE(a.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(lane_a->stats().recovered + lane_b->stats().recovered, 0u);
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
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_EQ(stats.pending, 0);
}

}  // namespace

namespace {

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
  std::thread restart([&] {
    std::this_thread::sleep_for(300ms);
    redis.start();
  });
  const auto started = std::chrono::steady_clock::now();
  const auto id = queues.dispatch(jobq::Job("payments:charge").payload("{}"));
  const auto waited = std::chrono::steady_clock::now() - started;
  restart.join();
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_GE(waited, 250ms);  // it waited for Redis instead of failing
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace

namespace {

TEST(DurableLease, AProcessWhoseJobWasClaimedElsewhereStoresNoOutcomeForIt) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options(), 30s));  // no claims of its own meanwhile
  jobq::Config config = durable_config(lane);
  config.queues[1].dequeue_batch = 1;  // one job per worker: both run at once
  jobq::Manager queues(std::move(config));
  std::atomic<int> running{0};
  std::atomic<bool> release{false};
  queues.register_handler("payments:charge", [&](Context&, const Message& message) {
    running.fetch_add(1);
    while (!release.load()) std::this_thread::sleep_for(1ms);
    return message.payload() == "\"fail\"" ? Status::error("declined") : Status::success();
  }, {.queue = "payments"});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload("\"ok\"")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload("\"fail\"")).ok());
  ASSERT_TRUE(eventually([&] { return running.load() == 2; }));
  // Another process claims both, as if this one's leases had lapsed (a partition).
  redisReply* pending = redis.command({"XPENDING", "jobq:{payments}:stream", "workers", "-", "+", "10"});
  ASSERT_TRUE(pending != nullptr && pending->elements == 2);
  std::vector<std::string> claim = {"XCLAIM", "jobq:{payments}:stream", "workers", "thief", "0"};
  for (std::size_t index = 0; index < 2; ++index) claim.emplace_back(pending->element[index]->element[0]->str);
  freeReplyObject(pending);
  freeReplyObject(redis.command(claim));
  release.store(true);
  // Neither the success nor the retry is stored: both jobs stay with the thief, none is scheduled.
  ASSERT_TRUE(eventually([&] { return lane->stats().settle_lost == 2; }));
  redisReply* after = redis.command({"XPENDING", "jobq:{payments}:stream", "workers", "-", "+", "10", "thief"});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->elements, 2u);
  freeReplyObject(after);
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{payments}:scheduled"}), 0);
  EXPECT_EQ(lane->stats().acknowledged, 0u);
}

}  // namespace
