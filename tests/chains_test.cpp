// Chains and job results on in-memory queues: steps in order with the result before handed on,
// retries inside a chain, a dead letter that stops it visibly and a requeue that goes on,
// shutdown in the middle, bad chains refused, and many chains at once with every step counted.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "chain_trace.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using namespace std::chrono_literals;

using Trace = jobq::testing::ChainTrace;

TEST(Chains, StepsRunInOrderEachSeeingTheResultBefore) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 3}, {.name = "other"}}});
  Trace trace;
  queues.register_handler("order:reserve", [&](Context& context, const Message& message) {
    trace.add(context);
    EXPECT_TRUE(context.set_result(R"({"reserved":)" + std::string(message.payload()) + "}"));
    return Status::success();
  });
  queues.register_handler("order:charge", [&](Context& context, const Message&) {
    trace.add(context);
    EXPECT_TRUE(context.set_result(R"({"charged":true})"));
    return Status::success();
  }, {.queue = "other"});
  queues.register_handler("order:ship", trace.step());
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("order:reserve").payload("7"), jobq::Job("order:charge"),
                                     jobq::Job("order:ship")};
  const auto first = queues.chain(steps);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 3; }));
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(trace.snapshot(), (std::vector<std::string>{"order:reserve#1 on default after -", R"(order:charge#1 on other after {"reserved":7})",
                                                        R"(order:ship#1 on default after {"charged":true})"}));
  EXPECT_EQ(queues.result(*first), R"({"reserved":7})");
  EXPECT_FALSE(queues.result(*first + 1000).has_value());
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_TRUE(report.balanced());
}

TEST(Chains, ARetryInsideAChainIsStillOneStep) {
  jobq::Config config;
  config.retry.backoff = jobq::testing::no_wait;
  jobq::Manager queues(std::move(config));
  Trace trace;
  queues.register_handler("a:first", trace.step(R"("one")"));
  queues.register_handler("a:flaky", [&](Context& context, const Message&) {
    trace.add(context);
    if (context.attempt() < 3) return Status::error("not yet");
    context.set_result(R"("two")");
    return Status::success();
  });
  queues.register_handler("a:last", trace.step());
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("a:first"), jobq::Job("a:flaky"), jobq::Job("a:last")};
  ASSERT_TRUE(queues.chain(steps).ok());
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 5; }));
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(trace.snapshot(), (std::vector<std::string>{R"(a:first#1 on default after -)", R"(a:flaky#1 on default after "one")",
                                                        R"(a:flaky#2 on default after "one")", R"(a:flaky#3 on default after "one")",
                                                        R"(a:last#1 on default after "two")"}));
}

TEST(Chains, ADeadLetterStopsTheChainVisiblyAndItsRequeueGoesOn) {
  jobq::Config config;
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  Trace trace;
  std::atomic<bool> healthy{false};
  queues.register_handler("b:first", trace.step("1"));
  queues.register_handler("b:fragile", [&](Context& context, const Message&) {
    trace.add(context);
    return healthy.load() ? Status::success() : Status::error("downstream away");
  });
  queues.register_handler("b:third", trace.step());
  queues.register_handler("b:fourth", trace.step());
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("b:first"), jobq::Job("b:fragile"), jobq::Job("b:third"),
                                     jobq::Job("b:fourth")};
  ASSERT_TRUE(queues.chain(steps).ok());
  ASSERT_TRUE(eventually([&] { return queues.dead_letters().total == 1; }));
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::DeadLetter letter = queues.dead_letters().letters.at(0);
  EXPECT_EQ(letter.type, "b:fragile");
  EXPECT_EQ(letter.chain_waiting, (std::vector<std::string>{"b:third", "b:fourth"}));
  EXPECT_FALSE(letter.flow.empty());
  EXPECT_EQ(trace.snapshot().size(), 2u);  // the chain stopped there
  healthy.store(true);
  ASSERT_TRUE(queues.requeue_dead(letter.id).ok());
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 5; }));
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::vector<std::string> lines = trace.snapshot();
  EXPECT_EQ(lines[2], "b:fragile#1 on default after 1");  // the requeued step still has the result before it
  EXPECT_EQ(lines[3], "b:third#1 on default after -");
  EXPECT_EQ(lines[4], "b:fourth#1 on default after -");
}

TEST(Chains, AStepThatSucceedsDuringShutdownLeavesItsNextStepInTheReport) {
  std::vector<jobq::ReturnedJob> carried;
  Trace trace;
  {
    jobq::Manager queues(jobq::Config{});
    std::atomic<bool> closing{false};
    queues.register_handler("c:slow", [&](Context& context, const Message&) {
      trace.add(context);
      while (!closing.load()) std::this_thread::sleep_for(100us);
      EXPECT_TRUE(eventually([&] { return jobq::testing::intake_closed(queues); }));
      context.set_result(R"("slow done")");
      return Status::success();
    });
    queues.register_handler("c:next", [&](Context&, const Message&) { return Status::success(); });
    queues.start();
    const std::vector<jobq::Job> steps{jobq::Job("c:slow"), jobq::Job("c:next").payload(R"({"n":1})"), jobq::Job("c:next")};
    ASSERT_TRUE(queues.chain(steps).ok());
    ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 1; }));
    closing.store(true);
    const jobq::ShutdownReport report = queues.shutdown(5s);
    EXPECT_TRUE(report.balanced());
    EXPECT_EQ(report.succeeded, 1u);
    ASSERT_EQ(report.chain_steps.size(), 1u);
    EXPECT_EQ(report.chain_steps[0].type, "c:next");
    EXPECT_EQ(report.chain_steps[0].payload, R"({"n":1})");
    carried = report.chain_steps;
  }
  // The next start goes on from there, with the result before.
  jobq::Manager again(jobq::Config{});
  again.register_handler("c:slow", [](Context&, const Message&) { return Status::success(); });
  again.register_handler("c:next", trace.step());
  again.start();
  ASSERT_TRUE(again.dispatch(carried[0].to_job()).ok());
  ASSERT_TRUE(eventually([&] { return trace.snapshot().size() == 3; }));
  const std::vector<std::string> lines = trace.snapshot();
  EXPECT_EQ(lines[1], R"(c:next#1 on default after "slow done")");
  EXPECT_EQ(lines[2], "c:next#1 on default after -");
}

TEST(Chains, BadChainsAreRefusedBeforeAnyStepRuns) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("d:step", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  EXPECT_EQ(queues.chain({}).code(), Errc::unsupported);
  const jobq::RetryPolicy policy{};
  struct Case {
    std::vector<jobq::Job> steps;
    Errc code;
    std::string_view says;
  };
  const std::vector<Case> cases = {
      {{jobq::Job("d:step"), jobq::Job("d:missing")}, Errc::unknown_type, "step 1"},
      {{jobq::Job("d:step"), jobq::Job("d:step").payload("{oops")}, Errc::invalid_payload, "step 1"},
      {{jobq::Job("d:step"), jobq::Job("d:step").retry(policy)}, Errc::unsupported, "retry policy"},
      {{jobq::Job("d:step"), jobq::Job("d:step").debounce("k", 1s)}, Errc::unsupported, "debounced"},
      {{jobq::Job("d:step").at(std::chrono::steady_clock::now() + 1s), jobq::Job("d:step")}, Errc::unsupported, "at()"},
      {{jobq::Job("d:step"), jobq::Job("d:step").on_queue("nowhere")}, Errc::unknown_queue, "step 1"},
  };
  for (const Case& bad : cases) {
    const auto refused = queues.chain(bad.steps);
    ASSERT_FALSE(refused.ok()) << bad.says;
    EXPECT_EQ(refused.code(), bad.code) << refused.error().message();
    EXPECT_NE(refused.error().message().find(bad.says), std::string::npos) << refused.error().message();
  }
  ASSERT_TRUE(queues.wait_idle(1s));
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(queues.stats("default").accepted, 0u);
}

TEST(Chains, ManyChainsAtOnceRunEveryStepOnceAndInOrder) {
  jobq::Config config;
  config.queues = {{.name = "default", .workers = 4}};
  config.retry.backoff = jobq::testing::no_wait;
  jobq::Manager queues(std::move(config));
  std::mutex mutex;
  std::map<std::string, std::vector<int>> steps_of;  // chain label → the steps run, in order
  std::atomic<std::uint64_t> calls{0};
  for (int step = 0; step < 3; ++step) {
    queues.register_handler("e:step" + std::to_string(step), [&, step](Context& context, const Message& message) {
      // Every fifth call fails once: retries inside chains, on several workers.
      if (calls.fetch_add(1) % 5 == 0 && context.attempt() == 1) return Status::error("once");
      const std::lock_guard lock(mutex);
      steps_of[std::string(message.payload())].push_back(step);
      return Status::success();
    });
  }
  queues.start();
  const int chains = jobq::testing::sanitized ? 100 : 500;
  for (int index = 0; index < chains; ++index) {
    const std::string label = "\"c" + std::to_string(index) + "\"";
    const std::vector<jobq::Job> steps{jobq::Job("e:step0").payload(label), jobq::Job("e:step1").payload(label),
                                       jobq::Job("e:step2").payload(label)};
    ASSERT_TRUE(queues.chain(steps).ok());
  }
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard lock(mutex);
    std::size_t done = 0;
    for (const auto& [label, steps] : steps_of) done += steps.size() == 3 ? 1 : 0;
    return done == static_cast<std::size_t>(chains);
  }, 60s));
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::lock_guard lock(mutex);
  ASSERT_EQ(steps_of.size(), static_cast<std::size_t>(chains));
  for (const auto& [label, steps] : steps_of) EXPECT_EQ(steps, (std::vector<int>{0, 1, 2})) << label;
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, static_cast<std::uint64_t>(3 * chains));
  EXPECT_TRUE(report.balanced());
}

TEST(Chains, AStepsResultCanBeReadOnceItsNextStepRuns) {
  // The result is kept before the next step is dispatched: a next step that reads it (or anyone
  // who has seen the chain go on) finds it, however the workers interleave.
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 4}}});
  std::mutex mutex;
  std::map<std::string, jobq::JobId> first_of;  // chain label → the id of its first step
  std::atomic<int> read{0};
  std::atomic<int> missing{0};
  queues.register_handler("r:first", [&](Context& context, const Message& message) {
    context.set_result(R"({"from":)" + std::string(message.payload()) + "}");
    return Status::success();
  });
  queues.register_handler("r:second", [&](Context& context, const Message& message) {
    const std::string label(message.payload());
    jobq::JobId first = 0;
    while (first == 0) {  // chain() may not have returned the id yet
      const std::lock_guard lock(mutex);
      if (auto found = first_of.find(label); found != first_of.end()) first = found->second;
    }
    const std::optional<std::string> kept = queues.result(first);
    const std::optional<std::string> previous = context.previous_result();
    if (!kept || !previous || *kept != *previous) missing.fetch_add(1);
    read.fetch_add(1);
    return Status::success();
  });
  queues.start();
  const int chains = jobq::testing::sanitized ? 100 : 400;
  for (int index = 0; index < chains; ++index) {
    const std::string label = "\"c" + std::to_string(index) + "\"";
    const std::vector<jobq::Job> steps{jobq::Job("r:first").payload(label), jobq::Job("r:second").payload(label)};
    const jobq::Result<jobq::JobId> first = queues.chain(steps);
    ASSERT_TRUE(first.ok());
    const std::lock_guard lock(mutex);
    first_of[label] = *first;
  }
  ASSERT_TRUE(eventually([&] { return read.load() == chains; }, 60s));
  EXPECT_EQ(missing.load(), 0) << "next steps that ran before their step's result was kept";
  EXPECT_TRUE(queues.shutdown(5s).balanced());
}

TEST(Results, AreKeptForTheirTtlAndOnlyValidJsonIsTaken) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Config config;
  config.clock = clock;
  config.result_ttl = 1min;
  jobq::Manager queues(std::move(config));
  std::atomic<int> refused{0};
  queues.register_handler("f:compute", [&](Context& context, const Message& message) {
    if (!context.set_result("{not json")) refused.fetch_add(1);
    if (!context.set_result(std::string(Context::max_result_bytes + 1, ' '))) refused.fetch_add(1);
    if (message.payload() == "1") context.set_result(R"({"answer":42})");
    return Status::success();
  });
  queues.start();
  const auto with = queues.dispatch(jobq::Job("f:compute").payload("1"));
  const auto without = queues.dispatch(jobq::Job("f:compute").payload("2"));
  ASSERT_TRUE(with.ok() && without.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(refused.load(), 4);
  EXPECT_EQ(queues.result(*with), R"({"answer":42})");
  EXPECT_EQ(queues.result("default", *with)->value_or(""), R"({"answer":42})");
  EXPECT_FALSE(queues.result(*without).has_value());
  clock->advance(61s);
  EXPECT_FALSE(queues.result(*with).has_value());
}

}  // namespace
