#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Waits (in real time) until the handler's stop token fires; true if it did within `limit`. A
/// handler that waits on its token must not hang the suite when the token never fires.
bool wait_for_stop(const Context& context, std::chrono::milliseconds limit = 30s) {
  const auto until = steady::now() + limit;
  while (!context.stop_requested()) {
    if (steady::now() > until) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

/// What the timeout hook saw, copied out of the call.
struct SeenOverrun {
  jobq::JobId id;
  std::string type;
  std::string queue;
  std::uint32_t attempt;
  std::chrono::nanoseconds timeout;
};

struct OverrunLog {
  std::mutex mutex;
  std::vector<SeenOverrun> seen;

  jobq::TimeoutHook hook() {
    return [this](const jobq::Overrun& overrun) {
      const std::lock_guard lock(mutex);
      seen.push_back({overrun.id, std::string(overrun.type), std::string(overrun.queue), overrun.attempt, overrun.timeout});
    };
  }
  std::vector<SeenOverrun> copy() {
    const std::lock_guard lock(mutex);
    return seen;
  }
};

TEST(Timeout, TheStopTokenFiresWhenTheManagersClockPassesStartPlusTimeout) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.queues = {{.name = "slow"}}, .clock = clock});
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  std::atomic<std::int64_t> stop_fired_at{0};  // real time, ns since the steady epoch
  jobq::Clock::time_point started_at{};
  jobq::Clock::time_point deadline{};
  queues.register_handler(
      "slow:wait",
      [&](Context& context, const Message&) {
        started_at = clock->now();
        deadline = context.deadline();
        const std::stop_callback note(context.stop_token(), [&] {
          stop_fired_at.store(steady::now().time_since_epoch().count());
        });
        started.store(true);
        saw_stop.store(wait_for_stop(context));
        return Status::success();
      },
      {.queue = "slow", .timeout = 20ms});
  OverrunLog overruns;
  queues.on_timeout(overruns.hook());
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("slow:wait"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load(); }));
  EXPECT_EQ(deadline - started_at, 20ms) << "deadline() is start + timeout on the Manager's clock";

  // Real time passing does not matter; only the Manager's clock does.
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(stop_fired_at.load(), 0) << "fired before the Manager's clock moved";
  clock->advance(19ms);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(stop_fired_at.load(), 0) << "fired 1 ms before the deadline";

  const auto advanced_at = steady::now();
  clock->advance(1ms);
  ASSERT_TRUE(jobq::testing::eventually([&] { return stop_fired_at.load() != 0; }, 10s)) << "the token never fired";
  const auto latency = std::chrono::nanoseconds(stop_fired_at.load()) - advanced_at.time_since_epoch();
  // The timer polls an injected clock every millisecond: "a few ms", with room for sanitizers.
  EXPECT_LT(latency, 500ms) << "the token fired " << std::chrono::duration_cast<std::chrono::microseconds>(latency).count()
                            << " us after the clock passed the deadline";
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_TRUE(saw_stop.load()) << "the handler observed its token";

  const jobq::QueueStats stats = queues.stats("slow");
  EXPECT_EQ(stats.timed_out, 1u);
  EXPECT_EQ(stats.succeeded, 1u) << "a handler that returns success after its timeout succeeded";
  EXPECT_EQ(stats.failed, 0u);
  const std::vector<SeenOverrun> seen = overruns.copy();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, *id);
  EXPECT_EQ(seen[0].type, "slow:wait");
  EXPECT_EQ(seen[0].queue, "slow");
  EXPECT_EQ(seen[0].attempt, 1u);
  EXPECT_EQ(seen[0].timeout, 20ms);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.timed_out, 1u);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, TheHandlersStatusDecidesTheOutcome) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 2, .backoff = jobq::testing::no_wait}});
  // Times out on attempt 1 and says error (retried); attempt 2 returns at once with success. A stop
  // requested before attempt 2's own deadline is attempt 1's token, left over.
  queues.register_handler(
      "slow:then-fast",
      [](Context& context, const Message&) {
        if (context.attempt() == 1) {
          return wait_for_stop(context) ? Status::error("timed out") : Status::error("the token never fired");
        }
        const bool stale = context.stop_requested() && steady::now() < context.deadline();
        return stale ? Status::error("stop already requested") : Status::success();
      },
      {.timeout = 20ms});
  // Times out on every attempt and says error: dead-lettered after two.
  queues.register_handler(
      "slow:always",
      [](Context& context, const Message&) {
        return Status::error(wait_for_stop(context) ? "timed out on attempt " + std::to_string(context.attempt())
                                                    : std::string("the token never fired"));
      },
      {.timeout = 20ms});
  // Times out and revokes itself.
  queues.register_handler(
      "slow:revoke",
      [](Context& context, const Message&) {
        return wait_for_stop(context) ? Status::revoke("too slow") : Status::error("the token never fired");
      },
      {.timeout = 20ms});
  OverrunLog overruns;
  queues.on_timeout(overruns.hook());
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:then-fast")).ok());
  const jobq::Result<jobq::JobId> always = queues.dispatch(jobq::Job("slow:always"));
  ASSERT_TRUE(always.ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:revoke")).ok());
  ASSERT_TRUE(queues.wait_idle(60s));

  const jobq::ShutdownReport report = queues.shutdown(10s);
  // then-fast once, always twice, revoke once; a fast attempt preempted past its 20 ms (under a
  // sanitizer on a busy machine) may add one, which changes no outcome.
  EXPECT_GE(report.timed_out, 4u);
  EXPECT_EQ(report.failed, 3u);         // then-fast 1, always 2
  EXPECT_EQ(report.retried, 2u);        // then-fast 1, always 1
  EXPECT_EQ(report.succeeded, 1u);      // then-fast, on attempt 2
  EXPECT_EQ(report.dead_lettered, 1u);  // always
  EXPECT_EQ(report.revoked, 1u);
  EXPECT_TRUE(report.balanced());
  const std::optional<jobq::DeadLetter> letter = queues.dead_letter(*always);
  ASSERT_TRUE(letter.has_value());
  EXPECT_EQ(letter->last_error, "timed out on attempt 2");
  EXPECT_EQ(letter->attempts, 2u);
  std::vector<std::uint32_t> always_attempts;
  for (const SeenOverrun& overrun : overruns.copy()) {
    if (overrun.id == *always) always_attempts.push_back(overrun.attempt);
  }
  std::sort(always_attempts.begin(), always_attempts.end());
  EXPECT_EQ(always_attempts, (std::vector<std::uint32_t>{1, 2})) << "the hook names the attempt that overran";
}

TEST(Timeout, AHandlerThatFinishesInTimeIsNotCounted) {
  // On a clock that stands still while the jobs run, so that no run, however preempted, overruns.
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.clock = clock});
  std::atomic<int> stopped{0};
  std::atomic<int> without_deadline{0};
  queues.register_handler(
      "fast:run",
      [&](Context& context, const Message&) {
        if (context.deadline() == steady::time_point::max()) without_deadline.fetch_add(1);
        if (context.stop_requested()) stopped.fetch_add(1);
        return Status::success();
      },
      {.timeout = 100ms});
  OverrunLog overruns;
  queues.on_timeout(overruns.hook());
  queues.start();
  for (int index = 0; index < 20; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("fast:run")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  // Let every watch fall due after its job is done: none may fire.
  clock->advance(1s);
  std::this_thread::sleep_for(250ms);
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.timed_out, 0u);
  EXPECT_EQ(stats.succeeded, 20u);
  EXPECT_TRUE(overruns.copy().empty());
  EXPECT_EQ(stopped.load(), 0);
  EXPECT_EQ(without_deadline.load(), 0) << "a timed job has a deadline";
  EXPECT_TRUE(queues.shutdown(10s).balanced());
}

TEST(Timeout, APerJobTimeoutOverridesTheTypes) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.clock = clock});
  std::mutex mutex;
  std::vector<std::chrono::nanoseconds> budgets;  // deadline() - start, per run
  std::atomic<int> running{0};
  std::atomic<int> saw_stop{0};
  auto waiting = [&](Context& context, const Message&) {
    {
      const std::lock_guard lock(mutex);
      budgets.push_back(context.deadline() - clock->now());
    }
    running.fetch_add(1);
    if (wait_for_stop(context)) saw_stop.fetch_add(1);
    running.fetch_sub(1);
    return Status::success();
  };
  queues.register_handler("slow:hour", waiting, {.timeout = std::chrono::hours(1)});
  queues.register_handler("slow:none", waiting);
  OverrunLog overruns;
  queues.on_timeout(overruns.hook());
  queues.start();

  // The type's hour is overridden by the job's 20 ms.
  const jobq::Result<jobq::JobId> short_one = queues.dispatch(jobq::Job("slow:hour").timeout(20ms));
  ASSERT_TRUE(short_one.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return running.load() == 1; }));
  clock->advance(20ms);
  ASSERT_TRUE(jobq::testing::eventually([&] { return saw_stop.load() == 1; }, 10s)) << "the job's 20 ms did not apply";
  ASSERT_TRUE(queues.wait_idle(30s));

  // A type without a timeout takes the job's.
  const jobq::Result<jobq::JobId> typed_none = queues.dispatch(jobq::Job("slow:none").timeout(5ms));
  ASSERT_TRUE(typed_none.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return running.load() == 1; }));
  clock->advance(5ms);
  ASSERT_TRUE(jobq::testing::eventually([&] { return saw_stop.load() == 2; }, 10s));
  ASSERT_TRUE(queues.wait_idle(30s));

  // Without an override the type's hour applies: 30 minutes on do not stop it.
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:hour")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return running.load() == 1; }));
  clock->advance(std::chrono::minutes(30));
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(saw_stop.load(), 2) << "the type's one-hour timeout fired after 30 minutes";
  clock->advance(std::chrono::minutes(30));
  ASSERT_TRUE(jobq::testing::eventually([&] { return saw_stop.load() == 3; }, 10s));
  ASSERT_TRUE(queues.wait_idle(30s));

  {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(budgets, (std::vector<std::chrono::nanoseconds>{20ms, 5ms, std::chrono::hours(1)}));
  }
  const std::vector<SeenOverrun> seen = overruns.copy();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].id, *short_one);
  EXPECT_EQ(seen[0].timeout, 20ms);
  EXPECT_EQ(seen[1].id, *typed_none);
  EXPECT_EQ(seen[1].type, "slow:none");
  EXPECT_EQ(seen[1].timeout, 5ms);
  EXPECT_EQ(seen[2].timeout, std::chrono::hours(1));
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.timed_out, 3u);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, AJobWithoutATimeoutHasNoDeadline) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> without_deadline{0};
  std::atomic<int> stopped{0};
  queues.register_handler("plain:run", [&](Context& context, const Message&) {
    if (context.deadline() == steady::time_point::max()) without_deadline.fetch_add(1);
    if (context.stop_requested()) stopped.fetch_add(1);
    return Status::success();
  });
  // A timed type on the same worker: its deadline must not leak into the next plain job.
  queues.register_handler("timed:run", [](Context&, const Message&) { return Status::success(); }, {.timeout = 1s});
  queues.start();
  for (int index = 0; index < 10; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("timed:run")).ok());
    ASSERT_TRUE(queues.dispatch(jobq::Job("plain:run")).ok());
  }
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(without_deadline.load(), 10);
  EXPECT_EQ(stopped.load(), 0);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.timed_out, 0u);
  EXPECT_EQ(report.succeeded, 20u);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, ShutdownsDeadlineStillFiresATimedJobsToken) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  queues.register_handler(
      "slow:hour",
      [&](Context& context, const Message&) {
        started.store(true);
        saw_stop.store(wait_for_stop(context));
        return Status::success();
      },
      {.timeout = std::chrono::hours(1)});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:hour")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load(); }));
  const auto before = steady::now();
  const jobq::ShutdownReport report = queues.shutdown(50ms);
  const auto took = steady::now() - before;
  EXPECT_TRUE(saw_stop.load()) << "the shutdown deadline did not reach the timed job's token";
  EXPECT_LT(took, 10s);
  EXPECT_EQ(report.timed_out, 0u) << "a stop by shutdown is not a timeout";
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, TimeoutsStillFireForJobsThatStartWhileShutdownDrains) {
  // One worker, three jobs that each wait for their 20 ms timeout. The first starts before
  // shutdown(drain); the other two start while the queue drains. Their watches must still fire:
  // a drain runs jobs under the same rules as before.
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> started{0};
  std::atomic<int> saw_stop{0};
  queues.register_handler(
      "slow:wait",
      [&](Context& context, const Message&) {
        started.fetch_add(1);
        if (wait_for_stop(context)) saw_stop.fetch_add(1);
        return Status::success();
      },
      {.timeout = 20ms});
  queues.start();
  for (int index = 0; index < 3; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("slow:wait")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load() >= 1; }));
  const auto before = steady::now();
  const jobq::ShutdownReport report = queues.shutdown(3s, jobq::ShutdownMode::drain);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - before);
  EXPECT_EQ(report.timed_out, 3u)
      << "the timeouts of jobs that started during the drain did not fire (the drain took " << took.count()
      << " ms of its 3000 ms deadline): the timer thread stops serving watches once intake closes";
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, ManyTimedJobsThatFinishInTimeNeverTimeOutNotEvenByStaleWatches) {
  // One worker and an injected clock that only the handlers move, 1 ms per job: job k's watch
  // falls due while job k+20 or a later one runs on the same worker, so a stale watch that
  // fired would stop a later job. None may.
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_TIMED_JOBS", 10'000);
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.clock = clock});
  std::atomic<std::uint64_t> stopped{0};
  std::atomic<std::uint64_t> wrong_deadline{0};
  queues.register_handler(
      "tick:run",
      [&](Context& context, const Message&) {
        if (context.deadline() - clock->now() != 20ms) wrong_deadline.fetch_add(1);
        clock->advance(1ms);
        if (context.stop_requested()) stopped.fetch_add(1);
        // Give the timer (which polls every millisecond) a chance to look while a job runs.
        if (context.job_id() % 64 == 0) std::this_thread::sleep_for(1ms);
        if (context.stop_requested()) stopped.fetch_add(1);
        return Status::success();
      },
      {.timeout = 20ms});
  OverrunLog overruns;
  queues.on_timeout(overruns.hook());
  queues.start();
  for (std::uint64_t index = 0; index < jobs; ++index) {
    while (!queues.dispatch(jobq::Job("tick:run")).ok()) std::this_thread::yield();
  }
  ASSERT_TRUE(queues.wait_idle(120s));
  clock->advance(1s);  // every watch is due now
  std::this_thread::sleep_for(20ms);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.timed_out, 0u) << "a watch fired for a run that had finished";
  EXPECT_TRUE(overruns.copy().empty());
  EXPECT_EQ(stopped.load(), 0u);
  EXPECT_EQ(wrong_deadline.load(), 0u);
  EXPECT_EQ(report.succeeded, jobs);
  EXPECT_TRUE(report.balanced());
}

TEST(Timeout, ManyTimedJobsOnManyWorkersAllSucceed) {
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_TIMED_JOBS", 10'000);
  jobq::Manager queues(jobq::Config{.queues = {{.name = "left", .workers = 2}, {.name = "right", .workers = 2}}});
  std::atomic<std::uint64_t> stopped{0};
  queues.register_handler(
      "tick:run",
      [&](Context& context, const Message&) {
        if (context.stop_requested()) stopped.fetch_add(1);
        return Status::success();
      },
      {.timeout = 2s});
  queues.start();
  std::vector<std::thread> producers;
  for (int producer = 0; producer < 2; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t index = 0; index < jobs / 2; ++index) {
        const jobq::Job job = jobq::Job("tick:run").on_queue(index % 2 ? "left" : "right").timeout(index % 3 ? 2s : 1s);
        while (!queues.dispatch(job).ok()) std::this_thread::yield();
      }
      (void)producer;
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_TRUE(queues.wait_idle(120s));
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.timed_out, 0u);
  EXPECT_EQ(stopped.load(), 0u);
  EXPECT_EQ(report.succeeded, jobs / 2 * 2);
  EXPECT_TRUE(report.balanced());
}

}  // namespace
