// Delayed jobs: Job::delay() and Job::at(), the timer that holds them, and what shutdown returns.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

constexpr std::uint64_t default_delayed_jobs = jobq::testing::sanitized ? 20'000 : 100'000;

std::int64_t steady_ns(std::chrono::steady_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

/// A job that knows when it may run at the earliest, on the real steady clock.
struct DueJob {
  std::uint64_t seq;
  std::int64_t due_ns;
};
JOBQ_PAYLOAD(DueJob, seq, due_ns);

struct Numbered {
  int n;
};
JOBQ_PAYLOAD(Numbered, n);

TEST(Delayed, ManyDelayedJobsFromEightThreadsRunExactlyOnceAndNeverEarly) {
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_DELAYED_JOBS", default_delayed_jobs);
  constexpr std::uint64_t producer_count = 8;
  constexpr std::int64_t spread_ns = 50'000'000;  // delays from 0 to 50 ms
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2, .capacity = 1 << 20, .max_scheduled = 1 << 20}}});
  std::unique_ptr<std::atomic<std::uint8_t>[]> runs(new std::atomic<std::uint8_t>[jobs]());
  std::atomic<std::uint64_t> early{0};
  std::atomic<std::int64_t> worst_early_ns{0};
  queues.register_handler("delayed:check", [&](Context&, const Message& message) {
    const std::int64_t now = steady_ns(std::chrono::steady_clock::now());
    DueJob job{};
    if (Status status = message.bind(job); !status) return status;
    if (now < job.due_ns) {
      early.fetch_add(1, std::memory_order_relaxed);
      std::int64_t worst = worst_early_ns.load();
      while (job.due_ns - now > worst && !worst_early_ns.compare_exchange_weak(worst, job.due_ns - now)) {
      }
    }
    if (job.seq < jobs) runs[job.seq].fetch_add(1, std::memory_order_relaxed);
    return Status::success();
  });
  queues.start();
  std::atomic<std::uint64_t> refused{0};
  std::vector<std::thread> producers;
  for (std::uint64_t producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t seq = producer; seq < jobs; seq += producer_count) {
        // A spread that interleaves short and long delays across the producers.
        const auto delay = std::chrono::nanoseconds(static_cast<std::int64_t>((seq * 2654435761u) % (spread_ns + 1)));
        jobq::Job job("delayed:check");
        std::int64_t due_ns;
        if (seq % 2 == 0) {
          // The engine reads its clock after this one, so its due time is at or after ours.
          due_ns = steady_ns(std::chrono::steady_clock::now() + delay);
          job.delay(delay);
        } else {
          const auto due = std::chrono::steady_clock::now() + delay;
          due_ns = steady_ns(due);
          job.at(due);
        }
        if (!queues.dispatch(job, DueJob{seq, due_ns}).ok()) refused.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_EQ(refused.load(), 0u);
  ASSERT_TRUE(queues.wait_idle(60s)) << "scheduled " << queues.stats("default").scheduled << ", succeeded "
                                     << queues.stats("default").succeeded;
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(early.load(), 0u) << "jobs ran before their due time, the worst by " << worst_early_ns.load() << " ns";
  std::uint64_t not_once = 0;
  std::uint64_t first_wrong = jobs;
  for (std::uint64_t seq = 0; seq < jobs; ++seq) {
    if (runs[seq].load() != 1) {
      if (first_wrong == jobs) first_wrong = seq;
      ++not_once;
    }
  }
  EXPECT_EQ(not_once, 0u) << "jobs not run exactly once; the first is seq " << first_wrong << ", run "
                          << (first_wrong < jobs ? runs[first_wrong].load() : 0) << " times";
  EXPECT_EQ(report.accepted, jobs);
  EXPECT_EQ(report.succeeded, jobs);
  EXPECT_EQ(report.queues[0].rejected, 0u);
  EXPECT_EQ(report.queues[0].scheduled, 0u);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_TRUE(report.balanced());
}

TEST(Delayed, AtAPastTimeOrNowAndANonPositiveDelayRunAtOnce) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("now:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  // The clock never moves in this test: each of these must run without waiting in the timer.
  ASSERT_TRUE(queues.dispatch(jobq::Job("now:run").at(clock->now() - 1s)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("now:run").at(clock->now() - 1ns)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("now:run").at(clock->now())).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("now:run").delay(0ns)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("now:run").delay(-5s)).ok());
  EXPECT_EQ(queues.stats("default").scheduled, 0u);
  ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == 5; })) << "ran " << ran.load() << " of 5";
  // On the real clock too (a Manager without a test clock).
  jobq::Manager real(jobq::Config{});
  std::atomic<int> real_ran{0};
  real.register_handler("now:run", [&](Context&, const Message&) {
    real_ran.fetch_add(1);
    return Status::success();
  });
  real.start();
  ASSERT_TRUE(real.dispatch(jobq::Job("now:run").at(std::chrono::steady_clock::now() - 1h)).ok());
  EXPECT_EQ(real.stats("default").scheduled, 0u);
  ASSERT_TRUE(jobq::testing::eventually([&] { return real_ran.load() == 1; }));
  EXPECT_TRUE(real.shutdown(1s).balanced());
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 5u);
  EXPECT_TRUE(report.balanced());
}

TEST(Delayed, OnAManualClockNothingRunsBeforeItsDueTime) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.clock = clock});
  std::mutex mutex;
  std::vector<std::pair<int, jobq::Clock::time_point>> runs;  // (n, clock time it ran at)
  queues.register_handler("later:run", [&](Context&, const Message& message) {
    Numbered job{};
    if (Status status = message.bind(job); !status) return status;
    const std::lock_guard lock(mutex);
    runs.emplace_back(job.n, clock->now());
    return Status::success();
  });
  auto run_count = [&] {
    const std::lock_guard lock(mutex);
    return runs.size();
  };
  queues.start();
  const jobq::Clock::time_point start = clock->now();
  ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").delay(10s), Numbered{1}).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").at(start + 20s), Numbered{2}).ok());
  EXPECT_EQ(queues.stats("default").scheduled, 2u);

  clock->advance(10s - 1ns);
  std::this_thread::sleep_for(5ms);  // several timer polls, each of which could err
  EXPECT_EQ(run_count(), 0u) << "the delay(10s) job ran 1 ns early";
  clock->advance(1ns);
  ASSERT_TRUE(jobq::testing::eventually([&] { return run_count() == 1; }));
  EXPECT_EQ(queues.stats("default").scheduled, 1u);

  clock->advance(10s - 1ns);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(run_count(), 1u) << "the at(start + 20s) job ran 1 ns early";
  clock->advance(1ns);
  ASSERT_TRUE(jobq::testing::eventually([&] { return run_count() == 2; }));

  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_TRUE(report.balanced());
  const std::lock_guard lock(mutex);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].first, 1);
  EXPECT_EQ(runs[0].second, start + 10s);
  EXPECT_EQ(runs[1].first, 2);
  EXPECT_EQ(runs[1].second, start + 20s);
}

TEST(Delayed, DelayedJobsShowInQueueStatsAsScheduled) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "reports"}}, .clock = clock});
  queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  for (int index = 1; index <= 3; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("noop:run").delay(std::chrono::minutes(index))).ok());
  }
  for (int index = 1; index <= 2; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("noop:run").on_queue("reports").delay(std::chrono::minutes(index))).ok());
  }
  jobq::QueueStats main = queues.stats("default");
  jobq::QueueStats reports = queues.stats("reports");
  EXPECT_EQ(main.scheduled, 3u);
  EXPECT_EQ(main.accepted, 3u);
  EXPECT_EQ(main.depth, 0);
  EXPECT_EQ(reports.scheduled, 2u);
  EXPECT_EQ(reports.accepted, 2u);
  EXPECT_EQ(reports.depth, 0);

  clock->advance(std::chrono::minutes(1));  // one due on each queue
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").succeeded == 1; }));
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("reports").succeeded == 1; }));
  EXPECT_EQ(queues.stats("default").scheduled, 2u);
  EXPECT_EQ(queues.stats("reports").scheduled, 1u);

  clock->advance(std::chrono::minutes(2));
  ASSERT_TRUE(queues.wait_idle(30s));
  main = queues.stats("default");
  reports = queues.stats("reports");
  EXPECT_EQ(main.scheduled, 0u);
  EXPECT_EQ(main.succeeded, 3u);
  EXPECT_EQ(reports.scheduled, 0u);
  EXPECT_EQ(reports.succeeded, 2u);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

/// Dispatches one job that runs and three delayed by 1, 2 and 3 hours (the last one keyed), then
/// shuts down. Returns the report; `before` and `after` bracket the shutdown on the wall clock.
struct DelayedShutdown {
  jobq::ShutdownReport report;
  std::chrono::system_clock::time_point before;
  std::chrono::system_clock::time_point after;
};

DelayedShutdown shut_down_with_three_delayed_jobs() {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "reports"}}, .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("later:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  EXPECT_TRUE(queues.dispatch(jobq::Job("later:run"), Numbered{0}).ok());
  EXPECT_TRUE(queues.dispatch(jobq::Job("later:run").delay(1h), Numbered{1}).ok());
  EXPECT_TRUE(queues.dispatch(jobq::Job("later:run").on_queue("reports").at(clock->now() + 2h), Numbered{2}).ok());
  EXPECT_TRUE(queues.dispatch(jobq::Job("later:run").delay(3h).idempotency_key("nightly:3"), Numbered{3}).ok());
  EXPECT_TRUE(jobq::testing::eventually([&] { return ran.load() == 1; }));
  EXPECT_EQ(queues.stats("default").scheduled + queues.stats("reports").scheduled, 3u);
  DelayedShutdown result;
  result.before = std::chrono::system_clock::now();
  result.report = queues.shutdown(1s);
  result.after = std::chrono::system_clock::now();
  EXPECT_EQ(ran.load(), 1);
  return result;
}

TEST(Delayed, ShutdownReturnsPendingDelayedJobsWithTheirDueTimeAndPayload) {
  const DelayedShutdown shutdown = shut_down_with_three_delayed_jobs();
  const jobq::ShutdownReport& report = shutdown.report;
  EXPECT_FALSE(report.drained);
  EXPECT_EQ(report.accepted, 4u);
  EXPECT_EQ(report.succeeded, 1u);
  ASSERT_EQ(report.not_run.size(), 3u);
  EXPECT_TRUE(report.balanced());
  for (const jobq::QueueStats& queue : report.queues) EXPECT_EQ(queue.scheduled, 0u) << queue.name;
  std::map<std::string, const jobq::ReturnedJob*> by_payload;
  for (const jobq::ReturnedJob& job : report.not_run) by_payload[job.payload] = &job;
  struct Expected {
    std::string payload;
    std::string queue;
    std::chrono::hours delay;
    std::string key;
  };
  const std::vector<Expected> expected = {
      {R"({"n":1})", "default", 1h, ""}, {R"({"n":2})", "reports", 2h, ""}, {R"({"n":3})", "default", 3h, "nightly:3"}};
  for (const Expected& want : expected) {
    ASSERT_TRUE(by_payload.contains(want.payload)) << want.payload << " was not returned";
    const jobq::ReturnedJob& job = *by_payload[want.payload];
    EXPECT_EQ(job.type, "later:run");
    EXPECT_EQ(job.queue, want.queue);
    EXPECT_EQ(job.attempt, 1u);
    EXPECT_EQ(job.idempotency_key, want.key);
    EXPECT_NE(job.id, 0u);
    // The test clock stood still, so each was due exactly its delay after the shutdown's wall time.
    EXPECT_GE(job.due, shutdown.before + want.delay) << want.payload;
    EXPECT_LE(job.due, shutdown.after + want.delay) << want.payload;
  }
}

TEST(Delayed, AReturnedJobDispatchedOnAFreshManagerRuns) {
  const DelayedShutdown shutdown = shut_down_with_three_delayed_jobs();
  ASSERT_EQ(shutdown.report.not_run.size(), 3u);

  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager fresh(jobq::Config{.queues = {{.name = "default"}, {.name = "reports"}}, .clock = clock});
  std::mutex mutex;
  std::vector<std::string> payloads;
  std::vector<std::string> queue_names;
  fresh.register_handler("later:run", [&](Context& context, const Message& message) {
    const std::lock_guard lock(mutex);
    payloads.emplace_back(message.payload());
    queue_names.emplace_back(context.queue());
    return Status::success();
  });
  fresh.start();
  for (const jobq::ReturnedJob& job : shutdown.report.not_run) {
    const jobq::Result<jobq::JobId> id = fresh.dispatch(job.to_job());
    ASSERT_TRUE(id.ok()) << id.error().message();
  }
  // Still hours from due: they wait in the fresh Manager's timer, keyed one holding its key.
  EXPECT_EQ(fresh.stats("default").scheduled, 2u);
  EXPECT_EQ(fresh.stats("reports").scheduled, 1u);
  const jobq::Result<jobq::JobId> duplicate = fresh.dispatch(jobq::Job("later:run").idempotency_key("nightly:3"));
  EXPECT_EQ(duplicate.code(), Errc::duplicate);
  clock->advance(4h);
  ASSERT_TRUE(fresh.wait_idle(30s));
  const jobq::ShutdownReport report = fresh.shutdown(1s);
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_TRUE(report.balanced());
  const std::lock_guard lock(mutex);
  std::vector<std::string> sorted = payloads;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{R"({"n":1})", R"({"n":2})", R"({"n":3})"}));
  for (std::size_t index = 0; index < payloads.size(); ++index) {
    EXPECT_EQ(queue_names[index], payloads[index] == R"({"n":2})" ? "reports" : "default") << payloads[index];
  }
}

TEST(Delayed, MaxScheduledRefusesWithQueueFullAndCountsTheRefusal) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .max_scheduled = 5}}, .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("later:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < 5; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").delay(1min)).ok());
  const jobq::Result<jobq::JobId> refused = queues.dispatch(jobq::Job("later:run").delay(1min));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), Errc::queue_full) << refused.error().message();
  jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 5u);
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.scheduled, 5u);
  // The limit is on delayed jobs only: a job that runs now is let in.
  ASSERT_TRUE(queues.dispatch(jobq::Job("later:run")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == 1; }));
  // Once the delayed jobs have left the timer, there is room again.
  clock->advance(1min);
  ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == 6; }));
  EXPECT_EQ(queues.stats("default").scheduled, 0u);
  ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").delay(1min)).ok());
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 7u);
  EXPECT_EQ(report.succeeded, 6u);
  EXPECT_EQ(report.not_run.size(), 1u);
  EXPECT_EQ(report.queues[0].rejected, 1u);
  EXPECT_TRUE(report.balanced());
}

/// CPU time, in clock ticks (user + system), of the one thread of this process named `name`.
struct ThreadCpu {
  std::size_t matches = 0;  ///< threads with that name; the figures are the last one's
  std::string tid;
  std::uint64_t ticks = 0;
};

ThreadCpu thread_cpu(const std::string& name) {
  ThreadCpu found;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string comm_name;
    std::getline(comm, comm_name);
    if (comm_name != name) continue;
    std::ifstream stat_file(task.path() / "stat");
    const std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after "(comm)": 3 state … 13 cmajflt, then 14 utime and 15 stime.
    std::istringstream fields(stat.substr(stat.rfind(')') + 1));
    std::string skipped;
    for (int field = 3; field <= 13; ++field) fields >> skipped;
    std::uint64_t user = 0;
    std::uint64_t system = 0;
    fields >> user >> system;
    ++found.matches;
    found.tid = task.path().filename().string();
    found.ticks = user + system;
  }
  return found;
}

TEST(Delayed, ThousandsOfPendingDelayedJobsCostNoCpuWhileNothingIsDue) {
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_IDLE_TIMER_JOBS", 10'000);
  jobq::Manager queues(jobq::Config{});  // the real clock: the timer may sleep until the first is due
  queues.register_handler("later:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  for (std::uint64_t index = 0; index < jobs; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("later:run").delay(1h)).ok());
  }
  EXPECT_EQ(queues.stats("default").scheduled, jobs);
  std::this_thread::sleep_for(20ms);  // let the timer go back to sleep after the first job woke it
  const ThreadCpu before = thread_cpu("jq:timer");
  ASSERT_EQ(before.matches, 1u) << "expected exactly one thread named jq:timer";
  std::this_thread::sleep_for(300ms);
  const ThreadCpu after = thread_cpu("jq:timer");
  ASSERT_EQ(after.matches, 1u);
  ASSERT_EQ(after.tid, before.tid);
  EXPECT_LE(after.ticks - before.ticks, 1u)
      << "the timer thread used " << after.ticks - before.ticks << " ticks of 1/" << sysconf(_SC_CLK_TCK)
      << " s in 300 ms with nothing due";
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.not_run.size(), jobs);
  EXPECT_TRUE(report.balanced());
}

}  // namespace
