// Leases on a durable queue, between processes: a shutdown hands its prefetched jobs back for
// another process, a dead consumer's jobs are claimed and their lost run counts, a lease is renewed
// while a slow handler lives, and a process whose job was claimed elsewhere stores no outcome.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
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
using jobq::testing::fast;
using jobq::testing::payments::durable_config;
using namespace std::chrono_literals;

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
      EXPECT_TRUE(eventually([&] { return jobq::testing::intake_closed(first); }));
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

TEST(DurableLease, AHandlerSlowerThanItsLeaseIsNotRunTwiceWhileItLives) {
  RedisServer redis;
  jobq::redis::Options options = fast(redis.options());
  // Renewed every third of a lease while the job is held; a sanitizer's slower keeper gets more.
  options.lease = jobq::testing::sanitized ? 600ms : 150ms;
  auto lane_a = jobq::redis::make_lane(options);
  auto lane_b = jobq::redis::make_lane(options);
  jobq::Manager a(durable_config(lane_a));
  jobq::Manager b(durable_config(lane_b));
  std::atomic<int> runs{0};
  for (jobq::Manager* manager : {&a, &b}) {
    manager->register_handler("payments:audit", [&](Context&, const Message&) {
      runs.fetch_add(1);
      std::this_thread::sleep_for(5 * options.lease);
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
