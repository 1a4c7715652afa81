// Durations of max(): every delay, timeout, TTL, backoff and deadline means "forever", never a
// signed overflow into the past (which UBSan reports and which used to make such jobs run at once).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

constexpr auto settle_time = 50ms;  // long enough for a wrapped deadline to have fired many times

TEST(Forever, ADelayOfMaxNeverRunsAndShutdownReturnsItDueAtMax) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("forever:delay", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:delay").payload("{}").delay(ns::max())));
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:delay").payload("{}").at(jobq::Job::steady_time::max())));
  std::this_thread::sleep_for(settle_time);
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(queues.stats("default").scheduled, 2u);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  ASSERT_EQ(report.not_run.size(), 2u);
  for (const jobq::ReturnedJob& job : report.not_run) {
    EXPECT_EQ(job.due, std::chrono::system_clock::time_point::max());
    EXPECT_EQ(job.to_job().delay_value(), ns::max());
  }
}

TEST(Forever, ABackoffOfMaxHoldsTheRetryInsteadOfRunningItAtOnce) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  jobq::RetryPolicy policy{.max_attempts = 5,
                           .backoff = [](std::uint32_t, const Status&, const Message&) { return ns::max(); }};
  auto failing = [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::error("down");
  };
  queues.register_handler("forever:backoff", failing, {.retry = policy});
  jobq::RetryPolicy capped{.max_attempts = 5, .backoff = jobq::ExponentialBackoff{.base = ns::max(), .cap = ns::max()}};
  queues.register_handler("forever:exponential", failing, {.retry = capped});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:backoff").payload("{}")));
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:exponential").payload("{}")));
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").scheduled == 2; }));
  std::this_thread::sleep_for(settle_time);
  EXPECT_EQ(runs.load(), 2);  // one attempt each, the retries wait forever
  const jobq::ShutdownReport report = queues.shutdown(1s);
  ASSERT_EQ(report.not_run.size(), 2u);
  for (const jobq::ReturnedJob& job : report.not_run) {
    EXPECT_EQ(job.attempt, 2u);
    EXPECT_EQ(job.due, std::chrono::system_clock::time_point::max());
  }
}

TEST(Forever, TheDefaultBackoffSaturatesItsCeiling) {
  const jobq::ExponentialBackoff backoff{.base = 1h, .factor = 1e30, .cap = ns::max()};
  EXPECT_EQ(backoff.ceiling(1), 1h);
  EXPECT_EQ(backoff.ceiling(3), ns::max());
  EXPECT_EQ(backoff.ceiling(1000), ns::max());
}

TEST(Forever, ASnoozeOfMaxRunsOnceNotInAHotLoop) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("forever:snooze", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::snooze(ns::max());
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:snooze").payload("{}")));
  ASSERT_TRUE(jobq::testing::eventually([&] { return runs.load() >= 1; }));
  std::this_thread::sleep_for(settle_time);
  EXPECT_EQ(runs.load(), 1);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  ASSERT_EQ(report.not_run.size(), 1u);
  EXPECT_EQ(report.not_run[0].due, std::chrono::system_clock::time_point::max());
}

TEST(Forever, ATimeoutOfMaxNeverFiresTheStopToken) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> stopped{0};
  std::atomic<int> finished{0};
  std::atomic<int> forever_deadlines{0};
  auto handler = [&](Context& context, const Message&) {
    std::this_thread::sleep_for(settle_time);
    if (context.stop_requested()) stopped.fetch_add(1);
    if (context.deadline() == std::chrono::steady_clock::time_point::max()) forever_deadlines.fetch_add(1);
    finished.fetch_add(1);
    return Status::success();
  };
  queues.register_handler("forever:type_timeout", handler, {.timeout = ns::max()});
  queues.register_handler("forever:job_timeout", handler);
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:type_timeout").payload("{}")));
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:job_timeout").payload("{}").timeout(ns::max())));
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(finished.load(), 2);
  EXPECT_EQ(stopped.load(), 0);
  EXPECT_EQ(forever_deadlines.load(), 2);
  EXPECT_EQ(queues.shutdown(1s).timed_out, 0u);
}

TEST(Forever, AnIdempotencyTtlOfMaxKeepsRefusingTheKeyAfterSuccess) {
  jobq::Manager queues(jobq::Config{.idempotency_ttl = ns::max()});
  queues.register_handler("forever:keyed", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:keyed").payload("{}").idempotency_key("k")));
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::Result<jobq::JobId> again = queues.dispatch(jobq::Job("forever:keyed").payload("{}").idempotency_key("k"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::duplicate);
}

TEST(Forever, ABlockTimeoutOfMaxWaitsForRoomRatherThanFailing) {
  jobq::Manager queues(jobq::Config{
      .queues = {{.name = "default", .capacity = 1, .when_full = jobq::WhenFull::block, .block_timeout = ns::max()}}});
  std::atomic<int> runs{0};
  queues.register_handler("forever:block", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  // Paused before start(): no worker ever takes the job below, so it keeps the queue full (paused
  // after start, a polling worker may already have taken it into its batch).
  queues.pause("default");
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("forever:block").payload("{}")));  // fills the queue
  std::promise<bool> result;
  std::future<bool> blocked = result.get_future();
  std::thread producer([&] { result.set_value(static_cast<bool>(queues.dispatch(jobq::Job("forever:block").payload("{}")))); });
  EXPECT_EQ(blocked.wait_for(settle_time), std::future_status::timeout);
  queues.resume("default");
  EXPECT_TRUE(blocked.get());
  producer.join();
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 2);
}

/// Registers a handler that takes a little while and counts its runs, starts, and dispatches `jobs`.
void start_with_slow_jobs(jobq::Manager& queues, std::atomic<int>& runs, int jobs) {
  queues.register_handler("forever:work", [&runs](Context&, const Message&) {
    std::this_thread::sleep_for(100us);
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("forever:work").payload("{}")));
}

TEST(Forever, ShutdownAndWaitIdleWithMaxWaitForEveryJob) {
  constexpr int jobs = 200;
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  start_with_slow_jobs(queues, runs, jobs);
  EXPECT_TRUE(queues.wait_idle(ns::max()));
  EXPECT_EQ(runs.load(), jobs);
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("forever:work").payload("{}")));
  const jobq::ShutdownReport report = queues.shutdown(ns::max(), jobq::ShutdownMode::drain);
  EXPECT_TRUE(report.drained);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_EQ(report.succeeded, 2u * jobs);
  EXPECT_EQ(runs.load(), 2 * jobs);
}

TEST(Forever, ADestructorTimeoutOfMaxDrainsEveryJob) {
  constexpr int jobs = 200;
  std::atomic<int> runs{0};
  {
    jobq::Manager queues(jobq::Config{.destructor_shutdown_timeout = std::chrono::milliseconds::max()});
    start_with_slow_jobs(queues, runs, jobs);
  }
  EXPECT_EQ(runs.load(), jobs);
}

}  // namespace
