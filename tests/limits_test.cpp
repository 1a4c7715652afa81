// Rate and concurrency limits on in-memory queues: per queue and per job type, jobs over a limit
// wait without spending an attempt, nothing is lost, waiting shows in the stats, and shutdown
// hands waiting jobs back. The 10-second rate proof runs with the stress label.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Counts handlers running at once and the most seen, and every attempt number.
struct Occupancy {
  jobq::testing::Overlap overlap;
  std::atomic<int> runs{0};
  std::atomic<int> later_attempts{0};  // runs with attempt > 1: a limit must spend none
  Status run(const Context& context, std::chrono::microseconds work) {
    overlap.enter();
    if (context.attempt() != 1) later_attempts.fetch_add(1);
    std::this_thread::sleep_for(work);
    overlap.leave();
    runs.fetch_add(1);
    return Status::success();
  }
};

/// Start times, for rate checks.
struct Starts {
  std::mutex mutex;
  std::vector<steady::time_point> at;
  void add() {
    const auto when = steady::now();
    const std::lock_guard lock(mutex);
    at.push_back(when);
  }
  std::vector<steady::time_point> sorted() {
    const std::lock_guard lock(mutex);
    std::vector<steady::time_point> copy = at;
    std::sort(copy.begin(), copy.end());
    return copy;
  }
};

TEST(Limits, ATypesConcurrencyIsNeverPassedOnAQueueWithMoreWorkers) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 4}}});
  Occupancy occupancy;
  queues.register_handler("exports:build", [&](Context& context, const Message&) {
    return occupancy.run(context, 300us);
  }, {.limits = {.concurrency = 2}});
  queues.start();
  constexpr int jobs = 400;
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("exports:build")).ok());
  ASSERT_TRUE(queues.wait_idle(60s));
  EXPECT_EQ(occupancy.runs.load(), jobs);
  EXPECT_EQ(occupancy.overlap.most.load(), 2);
  EXPECT_EQ(occupancy.later_attempts.load(), 0);
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_GT(stats.throttled, 0u);
  EXPECT_EQ(stats.limit_waiting, 0);
  EXPECT_EQ(stats.succeeded, static_cast<std::uint64_t>(jobs));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(Limits, AQueuesConcurrencyHoldsOverEveryTypeOnIt) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 4, .limits = {.concurrency = 1}}}});
  Occupancy occupancy;
  for (const char* type : {"a:one", "a:two"}) {
    queues.register_handler(type, [&](Context& context, const Message&) { return occupancy.run(context, 200us); });
  }
  queues.start();
  for (int index = 0; index < 200; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job(index % 2 == 0 ? "a:one" : "a:two")).ok());
  }
  ASSERT_TRUE(queues.wait_idle(60s));
  EXPECT_EQ(occupancy.runs.load(), 200);
  EXPECT_EQ(occupancy.overlap.most.load(), 1);
}

TEST(Limits, ARateSpacesStartsAfterItsBurstAndShowsWaitingJobs) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}}});
  Starts starts;
  std::atomic<int> later_attempts{0};
  queues.register_handler("mail:send", [&](Context& context, const Message&) {
    starts.add();
    if (context.attempt() != 1) later_attempts.fetch_add(1);
    return Status::success();
  }, {.limits = {.rate = jobq::RateLimit::per_second(200, 5)}});
  queues.start();
  constexpr int jobs = 40;
  const steady::time_point before_first_booking = steady::now();
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("mail:send")).ok());
  ASSERT_TRUE(eventually([&] { return queues.stats("default").limit_waiting > 0; }));
  const std::string scrape = jobq::prometheus_text(queues.metrics());
  EXPECT_NE(scrape.find("jobq_queue_limit_waiting{queue=\"default\"}"), std::string::npos);
  ASSERT_TRUE(queues.wait_idle(60s));
  const std::vector<steady::time_point> at = starts.sorted();
  ASSERT_EQ(at.size(), static_cast<std::size_t>(jobs));
  // GCRA: after the burst of 5, start k comes no earlier than (k - 4) intervals of 5 ms after the
  // first booking, which is made after `before_first_booking`. The first start's own timestamp is
  // no reference: its worker may be descheduled between the booking and the handler's clock read.
  for (int k = 5; k < jobs; ++k) {
    EXPECT_GE(at[k] - before_first_booking, (k - 4) * 5ms - 200us) << "start " << k;
  }
  EXPECT_EQ(later_attempts.load(), 0);
  EXPECT_GT(queues.stats("default").throttled, 0u);
}

TEST(Limits, ShutdownHandsAJobWaitingForItsStartBackUnstarted) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("mail:send", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  }, {.limits = {.rate = jobq::RateLimit{.count = 1, .per = 1h}}});
  queues.start();
  for (int index = 0; index < 3; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("mail:send")).ok());
  ASSERT_TRUE(eventually([&] { return runs.load() == 1 && queues.stats("default").limit_waiting == 1; }));
  const auto before = steady::now();
  const jobq::ShutdownReport report = queues.shutdown(50ms);
  EXPECT_LT(steady::now() - before, 5s);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(report.not_run.size(), 2u);
  EXPECT_TRUE(report.balanced());
  for (const jobq::ReturnedJob& job : report.not_run) EXPECT_EQ(job.attempt, 1u);
}

TEST(Limits, BadLimitsAreRefusedWithTheReason) {
  auto refused = [](jobq::Limits limits, std::string_view why) {
    try {
      jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .limits = limits}}});
      ADD_FAILURE() << "accepted: " << why;
    } catch (const jobq::ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
    }
  };
  refused({.rate = jobq::RateLimit::per_second(0)}, "a rate limit of 0 starts");
  refused({.rate = jobq::RateLimit{.count = 10, .per = 0s}}, "period must be positive");
  refused({.rate = jobq::RateLimit{.count = 10, .per = 1s, .burst = 0}}, "burst must be at least 1");
  refused({.rate = jobq::RateLimit{.count = 10, .per = 5ns}}, "more than one start a nanosecond");
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW(queues.register_handler("a:b", [](Context&, const Message&) { return Status::success(); },
                                       {.limits = {.rate = jobq::RateLimit{.count = 1, .per = -1s}}}),
               jobq::ConfigError);
}

// The proof, 10 s long: at 100/s with a burst of 20 and the queue never empty, the starts
// in any 10 s from the first are at most 20 + 1,000 and, on a machine that keeps up, at least 980.
TEST(LimitsProof, TenSecondsAtAHundredASecondWithABurstOfTwenty) {
  if (jobq::testing::count_from_environment("JOBQ_STRESS", 0) == 0) GTEST_SKIP() << "set JOBQ_STRESS=1 (ctest -L stress)";
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 4}}});
  Starts starts;
  queues.register_handler("mail:send", [&](Context&, const Message&) {
    starts.add();
    return Status::success();
  }, {.limits = {.rate = jobq::RateLimit::per_second(100, 20)}});
  queues.start();
  constexpr int jobs = 1300;  // more than 10 s can start: the queue stays non-empty
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("mail:send")).ok());
  std::this_thread::sleep_for(10500ms);
  const jobq::ShutdownReport report = queues.shutdown(1s, jobq::ShutdownMode::return_pending);
  const std::vector<steady::time_point> at = starts.sorted();
  ASSERT_FALSE(at.empty());
  const auto in_window = std::count_if(at.begin(), at.end(), [&](steady::time_point when) { return when - at[0] < 10s; });
  std::printf("starts in the first 10 s: %ld (bounds 980..1020), all starts %zu, returned %zu\n",
              static_cast<long>(in_window), at.size(), report.not_run.size());
  EXPECT_LE(in_window, 1020);
  EXPECT_GE(in_window, 980);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(at.size() + report.not_run.size(), static_cast<std::size_t>(jobs));  // none lost
}

}  // namespace
