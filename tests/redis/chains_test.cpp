// Chains and results through Redis: steps on durable and in-memory queues, results any process
// can read, a dead letter in Redis that holds the rest of its chain, and a requeue by another
// process that goes on.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "chain_trace.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

using Trace = jobq::testing::ChainTrace;

TEST(DurableChains, StepsCrossDurableAndInMemoryQueuesAndResultsAreReadAnywhere) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Manager queues(jobq::testing::durable_config(lane, "payments"));
  Trace trace;
  queues.register_handler("pay:authorize", trace.step(R"({"auth":"A-1"})"), {.queue = "payments"});
  queues.register_handler("pay:notify", trace.step(R"({"notified":true})"));
  queues.register_handler("pay:capture", trace.step(), {.queue = "payments"});
  queues.start();
  const jobq::Headers traced{{"request-id", "r-1"}};
  const std::vector<jobq::Job> steps{jobq::Job("pay:authorize").headers(traced), jobq::Job("pay:notify"),
                                     jobq::Job("pay:capture")};
  const auto first = queues.chain(steps);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 3; }));
  EXPECT_EQ(trace.snapshot(), (std::vector<std::string>{"pay:authorize#1 on payments after -",
                                                        R"(pay:notify#1 on default after {"auth":"A-1"})",
                                                        R"(pay:capture#1 on payments after {"notified":true})"}));
  // Another process reads the durable step's result from Redis.
  auto other_lane = jobq::redis::make_lane(redis.options());
  jobq::Manager other(jobq::testing::durable_config(other_lane, "payments", 0));
  other.start();
  const auto result = other.result("payments", *first);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->value_or("none"), R"({"auth":"A-1"})");
  EXPECT_GT(redis.integer({"PTTL", "jobq:{payments}:result:" + std::to_string(*first)}), 0);
}

TEST(DurableChains, ADeadLetterInRedisHoldsTheRestAndAnotherProcessRequeuesIt) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = jobq::testing::durable_config(lane, "payments");
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  Trace trace;
  std::atomic<bool> healthy{false};
  queues.register_handler("pay:authorize", trace.step("\"ok\""), {.queue = "payments"});
  queues.register_handler("pay:capture", [&](Context& context, const Message&) {
    trace.add(context);
    return healthy.load() ? Status::success() : Status::error("bank offline");
  }, {.queue = "payments"});
  queues.register_handler("pay:receipt", trace.step(), {.queue = "payments"});
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("pay:authorize"), jobq::Job("pay:capture"), jobq::Job("pay:receipt")};
  ASSERT_TRUE(queues.chain(steps).ok());
  ASSERT_TRUE(eventually([&] { return lane->stats().dead == 1; }));
  auto other = jobq::redis::make_lane(redis.options());
  other->attach("payments");
  const auto page = other->dead_letters();
  ASSERT_TRUE(page.ok() && page->total == 1u);
  const jobq::DeadLetter& letter = page->letters.at(0);
  EXPECT_EQ(letter.type, "pay:capture");
  EXPECT_EQ(letter.chain_waiting, (std::vector<std::string>{"pay:receipt"}));
  healthy.store(true);
  const auto requeued = other->requeue_dead(letter.id);
  ASSERT_TRUE(requeued.ok() && *requeued);
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 4; }));
  const std::vector<std::string> lines = trace.snapshot();
  EXPECT_EQ(lines[2], "pay:capture#1 on payments after \"ok\"");
  EXPECT_EQ(lines[3], "pay:receipt#1 on payments after -");
}

TEST(DurableChains, AnAsynchronousDispatchCarriesItsPlaceInAChain) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = jobq::testing::durable_config(lane, "payments");
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  Trace trace;
  std::atomic<int> captures{0};
  queues.register_handler("pay:capture", [&](Context& context, const Message&) {
    trace.add(context);
    return captures.fetch_add(1) == 0 ? Status::skip_retry("first time") : Status::success();
  }, {.queue = "payments"});
  queues.register_handler("pay:receipt", trace.step(), {.queue = "payments"});
  queues.register_handler("pay:start", [](Context& context, const Message&) {
    context.set_result("\"started\"");
    return Status::success();
  }, {.queue = "payments"});
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("pay:start"), jobq::Job("pay:capture"), jobq::Job("pay:receipt")};
  ASSERT_TRUE(queues.chain(steps).ok());
  ASSERT_TRUE(eventually([&] { return lane->stats().dead == 1; }));
  const auto letter = queues.dead_letters("payments");
  ASSERT_TRUE(letter.ok() && letter->total == 1u);
  // The step dispatched again, without waiting, from what its letter holds: the chain goes on
  // from it (the flow's strings must outlive the call that views them).
  std::string flow = letter->letters.at(0).flow;
  ASSERT_FALSE(flow.empty());
  auto sent = queues.dispatch_async(jobq::Job("pay:capture").flow_state(flow));
  flow.assign(flow.size(), 'x');
  ASSERT_TRUE(sent.get().ok());
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 3; }));
  const std::vector<std::string> lines = trace.snapshot();
  EXPECT_EQ(lines[0], "pay:capture#1 on payments after \"started\"");
  EXPECT_EQ(lines[1], "pay:capture#1 on payments after \"started\"");
  EXPECT_EQ(lines[2], "pay:receipt#1 on payments after -");
}

}  // namespace
