#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

struct JobRun {
  std::uint32_t attempt;
  jobq::Clock::time_point at;
};

TEST(Retry, AnAlwaysFailingJobRunsMaxAttemptsTimesInsideTheBackoffBandThenDies) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 26}, .clock = clock});
  std::mutex mutex;
  std::vector<JobRun> runs;
  std::vector<std::chrono::nanoseconds> chosen;  // the backoff the engine chose after each failure
  queues.register_handler("always:fail", [&](Context& context, const Message&) {
    const std::lock_guard lock(mutex);
    runs.push_back({context.attempt(), clock->now()});
    return Status::error("boom " + std::to_string(context.attempt()));
  });
  queues.on_failure([&](const jobq::Failure& failure) {
    const std::lock_guard lock(mutex);
    if (failure.will_retry) chosen.push_back(failure.retry_in);
  });
  queues.start();
  const auto id = queues.dispatch(jobq::Job("always:fail"));
  ASSERT_TRUE(id.ok());
  auto run_count = [&] {
    const std::lock_guard lock(mutex);
    return runs.size();
  };
  const jobq::ExponentialBackoff formula;
  for (std::size_t attempt = 1; attempt <= 26; ++attempt) {
    ASSERT_TRUE(jobq::testing::eventually([&] { return run_count() == attempt; })) << "attempt " << attempt;
    if (attempt == 26) break;
    ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").scheduled == 1; }));
    std::chrono::nanoseconds delay;
    {
      const std::lock_guard lock(mutex);
      ASSERT_EQ(chosen.size(), attempt);
      delay = chosen.back();
    }
    const auto ceiling = formula.ceiling(static_cast<std::uint32_t>(attempt));
    EXPECT_LE(delay, ceiling) << "attempt " << attempt;
    EXPECT_GE(delay, ceiling / 2) << "attempt " << attempt;
    // One nanosecond short of due, the job must not run: give the timer several polls to err.
    clock->advance(delay - 1ns);
    std::this_thread::sleep_for(5ms);
    EXPECT_EQ(run_count(), attempt) << "attempt " << attempt + 1 << " ran early";
    clock->advance(1ns);
  }
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").dead_lettered == 1; }));
  {
    const std::lock_guard lock(mutex);
    ASSERT_EQ(runs.size(), 26u);
    for (std::size_t index = 0; index < runs.size(); ++index) EXPECT_EQ(runs[index].attempt, index + 1);
    // The observed delay between runs is exactly the backoff chosen (the clock moved only by it).
    for (std::size_t index = 1; index < runs.size(); ++index) {
      EXPECT_EQ(runs[index].at - runs[index - 1].at, chosen[index - 1]);
    }
  }
  const jobq::DeadLetterPage page = queues.dead_letters();
  ASSERT_EQ(page.letters.size(), 1u);
  EXPECT_EQ(page.letters[0].id, *id);
  EXPECT_EQ(page.letters[0].attempts, 26u);
  EXPECT_EQ(page.letters[0].last_error, "boom 26");
  EXPECT_EQ(page.letters[0].reason, jobq::DeadReason::attempts_exhausted);
  clock->advance(std::chrono::hours(24));
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(run_count(), 26u);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.failed, 26u);
  EXPECT_EQ(report.retried, 25u);
  EXPECT_EQ(report.dead_lettered, 1u);
  EXPECT_TRUE(report.balanced());
}

TEST(Retry, DefaultBackoffDoublesFrom100MsToATenMinuteCap) {
  const jobq::ExponentialBackoff backoff;
  EXPECT_EQ(backoff.ceiling(1), 100ms);
  EXPECT_EQ(backoff.ceiling(2), 200ms);
  EXPECT_EQ(backoff.ceiling(3), 400ms);
  EXPECT_EQ(backoff.ceiling(13), 409600ms);
  EXPECT_EQ(backoff.ceiling(14), std::chrono::minutes(10));
  EXPECT_EQ(backoff.ceiling(40), std::chrono::minutes(10));
  const Message message("a:b", 1, "{}");
  std::chrono::nanoseconds low = backoff.ceiling(5);
  std::chrono::nanoseconds high{0};
  for (int draw = 0; draw < 10000; ++draw) {
    const auto delay = backoff(5, Status::error("x"), message);
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_GE(low, backoff.ceiling(5) / 2);
  EXPECT_LE(high, backoff.ceiling(5));
  // 10,000 uniform draws cover most of the band: the jitter is real.
  EXPECT_LT(low, backoff.ceiling(5) * 6 / 10);
  EXPECT_GT(high, backoff.ceiling(5) * 9 / 10);
}

/// Registers "count:fail" (always fails) with `type_policy` and runs one job built by `make`.
std::uint32_t runs_of(const jobq::RetryPolicy& global, std::optional<jobq::RetryPolicy> type_policy,
                      const std::function<jobq::Job()>& make) {
  jobq::Manager queues(jobq::Config{.retry = global});
  std::atomic<std::uint32_t> runs{0};
  queues.register_handler(
      "count:fail",
      [&](Context&, const Message&) {
        runs.fetch_add(1);
        return Status::error("no");
      },
      {.retry = type_policy});
  queues.start();
  EXPECT_TRUE(queues.dispatch(make()).ok());
  EXPECT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.dead_lettered, 1u);
  EXPECT_TRUE(report.balanced());
  return runs.load();
}

TEST(Retry, PerJobOverridesPerTypeOverridesGlobal) {
  const jobq::RetryPolicy global{.max_attempts = 5, .backoff = jobq::testing::no_wait};
  const jobq::RetryPolicy per_type{.max_attempts = 3, .backoff = jobq::testing::no_wait};
  const jobq::RetryPolicy per_job{.max_attempts = 7, .backoff = jobq::testing::no_wait};
  EXPECT_EQ(runs_of(global, std::nullopt, [] { return jobq::Job("count:fail"); }), 5u);
  EXPECT_EQ(runs_of(global, per_type, [] { return jobq::Job("count:fail"); }), 3u);
  EXPECT_EQ(runs_of(global, per_type, [&] { return jobq::Job("count:fail").retry(per_job); }), 7u);
  EXPECT_EQ(runs_of(global, per_type, [] { return jobq::Job("count:fail").max_attempts(2); }), 2u);
  EXPECT_EQ(runs_of(global, std::nullopt, [] { return jobq::Job("count:fail").max_attempts(1); }), 1u);
}

TEST(Retry, TheBackoffSeesTheAttemptTheErrorAndTheJob) {
  std::mutex mutex;
  std::vector<std::string> seen;
  const jobq::RetryPolicy policy{.max_attempts = 3,
                                 .backoff = [&](std::uint32_t attempt, const Status& error, const Message& message) {
                                   const std::lock_guard lock(mutex);
                                   seen.push_back(std::to_string(attempt) + " " + error.message() + " " +
                                                  std::string(message.payload()));
                                   return std::chrono::nanoseconds(0);
                                 }};
  jobq::Manager queues(jobq::Config{.retry = policy});
  queues.register_handler("a:b", [](Context& context, const Message&) {
    return Status::error("e" + std::to_string(context.attempt()));
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").payload(R"({"k":1})")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  (void)queues.shutdown(1s);
  const std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<std::string>{R"(1 e1 {"k":1})", R"(2 e2 {"k":1})"}));
}

TEST(Retry, AThrowingBackoffFallsBackToTheDefaultAndLosesNothing) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  const jobq::RetryPolicy policy{.max_attempts = 2, .backoff = [](std::uint32_t, const Status&, const Message&)
                                                                    -> std::chrono::nanoseconds {
                                                                  throw std::runtime_error("bad backoff");
                                                                }};
  jobq::Manager queues(jobq::Config{.retry = policy, .clock = clock});
  std::atomic<int> runs{0};
  queues.register_handler("a:b", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::error("x");
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").scheduled == 1; }));
  clock->advance(100ms);  // the default's first ceiling
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").dead_lettered == 1; }));
  EXPECT_EQ(runs.load(), 2);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

struct UserRef {
  std::string user_id;
};
JOBQ_PAYLOAD(UserRef, user_id);

TEST(Retry, SkipRetryAndBindFailuresAreDeadLetteredAtOnce) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("skip:now", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::skip_retry("record gone");
  });
  queues.register_handler("bind:fail", [&](Context&, const Message& message) {
    runs.fetch_add(1);
    UserRef user;
    return message.bind(user);
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("skip:now")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("bind:fail").payload(R"({"user_id":42})")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 2);
  const jobq::DeadLetterPage page = queues.dead_letters();
  ASSERT_EQ(page.letters.size(), 2u);
  for (const jobq::DeadLetter& letter : page.letters) {
    EXPECT_EQ(letter.attempts, 1u);
    EXPECT_EQ(letter.reason, jobq::DeadReason::skipped);
    if (letter.type == "bind:fail") {
      EXPECT_NE(letter.last_error.find("user_id"), std::string::npos) << letter.last_error;
      EXPECT_NE(letter.last_error.find("INCORRECT_TYPE"), std::string::npos) << letter.last_error;
      EXPECT_EQ(letter.payload, R"({"user_id":42})");
    } else {
      EXPECT_EQ(letter.last_error, "record gone");
    }
  }
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.retried, 0u);
  EXPECT_EQ(report.dead_lettered, 2u);
  EXPECT_TRUE(report.balanced());
}

TEST(Retry, RevokeDropsTheJobWithoutRetryOrDeadLetter) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> runs{0};
  queues.register_handler("a:revoke", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::revoke("not wanted");
  });
  queues.start();
  for (int index = 0; index < 10; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:revoke")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(runs.load(), 10);
  EXPECT_EQ(report.revoked, 10u);
  EXPECT_EQ(report.failed, 0u);
  EXPECT_EQ(report.dead_lettered, 0u);
  EXPECT_EQ(queues.dead_letters().total, 0u);
  EXPECT_TRUE(report.balanced());
}

TEST(Retry, SnoozeRunsAgainLaterWithoutUsingAnAttempt) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}, .clock = clock});
  std::mutex mutex;
  std::vector<JobRun> runs;
  queues.register_handler("a:snooze", [&](Context& context, const Message&) {
    const std::lock_guard lock(mutex);
    runs.push_back({context.attempt(), clock->now()});
    return runs.size() < 4 ? Status::snooze(2s) : Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:snooze")).ok());
  for (std::size_t run = 1; run < 4; ++run) {
    ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").snoozed == run; }));
    ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").scheduled == 1; }));
    clock->advance(2s);
  }
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.snoozed, 3u);
  EXPECT_EQ(report.failed, 0u);
  EXPECT_TRUE(report.balanced());
  const std::lock_guard lock(mutex);
  ASSERT_EQ(runs.size(), 4u);
  for (std::size_t index = 0; index < runs.size(); ++index) {
    EXPECT_EQ(runs[index].attempt, 1u);  // max_attempts is 1, yet it ran four times
    if (index > 0) {
      EXPECT_EQ(runs[index].at - runs[index - 1].at, 2s);
    }
  }
}

TEST(Retry, ExceptionsOfAnyTypeAreRetryableErrorsCarryingTheirMessage) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 2, .backoff = jobq::testing::no_wait}});
  queues.register_handler("throw:std", [](Context&, const Message&) -> Status {
    throw std::runtime_error("disk on fire");
  });
  queues.register_handler("throw:int", [](Context&, const Message&) -> Status { throw 42; });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("throw:std")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("throw:int")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::DeadLetterPage page = queues.dead_letters();
  ASSERT_EQ(page.letters.size(), 2u);
  for (const jobq::DeadLetter& letter : page.letters) {
    EXPECT_EQ(letter.attempts, 2u);  // retried once: a thrown exception is a retryable error
    EXPECT_EQ(letter.reason, jobq::DeadReason::attempts_exhausted);
    if (letter.type == "throw:std") {
      EXPECT_EQ(letter.last_error, "unhandled exception: disk on fire");
    } else {
      EXPECT_EQ(letter.last_error, "unhandled exception of a type not derived from std::exception");
    }
  }
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(Retry, AZeroMaxAttemptsPolicyIsAConfigurationError) {
  EXPECT_THROW(jobq::Manager(jobq::Config{.retry = {.max_attempts = 0}}), jobq::ConfigError);
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW(queues.register_handler("a:b", [](Context&, const Message&) { return Status::success(); },
                                       {.retry = jobq::RetryPolicy{.max_attempts = 0}}),
               jobq::ConfigError);
}

}  // namespace
