// Pausing and resuming a queue: Manager::pause(), resume() and paused().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
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

struct Numbered {
  int n;
};
JOBQ_PAYLOAD(Numbered, n);

/// Counts runs per (queue, n) for payloads {"n": 0..jobs-1}.
class RunCounter {
 public:
  explicit RunCounter(int jobs) : jobs_(jobs), default_runs_(new std::atomic<int>[jobs]()), reports_runs_(new std::atomic<int>[jobs]()) {}

  Status handle(Context& context, const Message& message) {
    Numbered job{};
    if (Status status = message.bind(job); !status) return status;
    if (job.n < 0 || job.n >= jobs_) return Status::skip_retry("n out of range");
    (context.queue() == "reports" ? reports_runs_ : default_runs_)[job.n].fetch_add(1);
    return Status::success();
  }
  /// Jobs of `queue` that did not run exactly once.
  int not_once(const std::string& queue) const {
    const auto& runs = queue == "reports" ? reports_runs_ : default_runs_;
    int wrong = 0;
    for (int n = 0; n < jobs_; ++n) wrong += runs[n].load() != 1;
    return wrong;
  }
  int total(const std::string& queue) const {
    const auto& runs = queue == "reports" ? reports_runs_ : default_runs_;
    int sum = 0;
    for (int n = 0; n < jobs_; ++n) sum += runs[n].load();
    return sum;
  }

 private:
  int jobs_;
  std::unique_ptr<std::atomic<int>[]> default_runs_;
  std::unique_ptr<std::atomic<int>[]> reports_runs_;
};

jobq::Config two_queues() {
  return jobq::Config{.queues = {{.name = "default", .workers = 2}, {.name = "reports", .workers = 2}}};
}

TEST(Pause, APausedQueueAcceptsJobsButRunsNoneWhileAnotherQueueRuns) {
  constexpr int jobs = 1000;
  jobq::Manager queues(two_queues());
  RunCounter counter(jobs);
  queues.register_handler("count:run", [&](Context& context, const Message& message) {
    return counter.handle(context, message);
  });
  queues.pause("reports");  // before start(): see NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  for (int n = 0; n < jobs; ++n) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run").on_queue("reports"), Numbered{n}).ok());
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run"), Numbered{n}).ok());
  }
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").succeeded == jobs; }));
  std::this_thread::sleep_for(20ms);  // give the paused queue's workers time to misbehave
  jobq::QueueStats reports = queues.stats("reports");
  EXPECT_EQ(counter.total("reports"), 0);
  EXPECT_EQ(reports.succeeded, 0u);
  EXPECT_EQ(reports.accepted, static_cast<std::uint64_t>(jobs));
  EXPECT_EQ(reports.depth, jobs);
  EXPECT_TRUE(reports.paused);
  EXPECT_EQ(counter.not_once("default"), 0);

  queues.resume("reports");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(counter.not_once("reports"), 0) << "jobs of the resumed queue not run exactly once";
  reports = queues.stats("reports");
  EXPECT_EQ(reports.succeeded, static_cast<std::uint64_t>(jobs));
  EXPECT_EQ(reports.depth, 0);
  EXPECT_FALSE(reports.paused);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 2u * jobs);
  EXPECT_EQ(report.succeeded, 2u * jobs);
  EXPECT_TRUE(report.balanced());
}

TEST(Pause, TheRunningHandlerFinishesAndNothingMoreStarts) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  queues.register_handler("slow:run", [&](Context& context, const Message&) {
    started.fetch_add(1);
    while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
    return Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:run")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load() == 1; }));
  queues.pause("default");
  for (int index = 0; index < 5; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("slow:run")).ok());
  release.store(true);
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").succeeded == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(queues.stats("default").depth, 5);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(started.load(), 6);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(Pause, JobsAWorkerHasAlreadyDequeuedDoNotStartAfterPause) {
  // A worker takes up to dequeue_batch (8) jobs from the ring at once. pause() promises that no
  // job starts after it; only the handler already running may finish.
  constexpr int jobs = 8;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1, .dequeue_batch = 8}}});
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  queues.register_handler("slow:run", [&](Context& context, const Message&) {
    if (started.fetch_add(1) == 0) {
      while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
    }
    return Status::success();
  });
  queues.pause("default");
  queues.start();
  for (int n = 0; n < jobs; ++n) ASSERT_TRUE(queues.dispatch(jobq::Job("slow:run"), Numbered{n}).ok());
  queues.resume("default");  // the worker wakes to eight waiting jobs and takes them in one batch
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load() == 1; }));
  queues.pause("default");
  release.store(true);
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").succeeded >= 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(started.load(), 1) << started.load() - 1
                               << " jobs started after pause(): the worker ran the rest of the batch it had "
                                  "dequeued before the pause (Manager::run_worker checks `paused` only between "
                                  "batches)";
  const jobq::ShutdownReport report = queues.shutdown(10s, jobq::ShutdownMode::drain);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.not_run.size(), static_cast<std::size_t>(jobs - 1)) << "a paused queue's jobs are returned, not run";
  EXPECT_TRUE(report.balanced());
}

TEST(Pause, NoJobDispatchedAfterPauseReturnsStarts) {
  // Busy-spinning workers are always between polls, which is where a pause() can slip past them.
  // A job dispatched after pause() has returned must not start, whatever a worker was doing.
  constexpr int rounds = 50;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2, .idle = jobq::IdleStrategy::busy_spin}}});
  std::atomic<int> ran{0};
  queues.register_handler("count:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  int started_while_paused = 0;
  for (int round = 0; round < rounds; ++round) {
    queues.pause("default");
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run")).ok());
    std::this_thread::sleep_for(1ms);
    if (ran.load() != round) ++started_while_paused;
    queues.resume("default");
    ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == round + 1; })) << "round " << round;
  }
  EXPECT_EQ(started_while_paused, 0)
      << started_while_paused << " of " << rounds
      << " jobs dispatched after pause() returned were started while the queue was paused: Manager::run_worker "
         "reads `paused` only before try_dequeue_bulk, so a worker that passed that check just before pause() "
         "takes the next job and runs it";
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, static_cast<std::uint64_t>(rounds));
  EXPECT_TRUE(report.balanced());
}

TEST(Pause, AnUnknownQueueIsAConfigError) {
  jobq::Manager queues(jobq::Config{});
  queues.start();
  EXPECT_THROW(queues.pause("nope"), jobq::ConfigError);
  EXPECT_THROW(queues.resume("nope"), jobq::ConfigError);
  EXPECT_THROW((void)queues.paused("nope"), jobq::ConfigError);
  EXPECT_FALSE(queues.paused("default"));
}

TEST(Pause, PausedAndQueueStatsReflectTheState) {
  jobq::Manager queues(two_queues());
  queues.start();
  EXPECT_FALSE(queues.paused("reports"));
  EXPECT_FALSE(queues.stats("reports").paused);
  queues.pause("reports");
  queues.pause("reports");  // pausing twice is the same as once
  EXPECT_TRUE(queues.paused("reports"));
  EXPECT_TRUE(queues.stats("reports").paused);
  EXPECT_FALSE(queues.paused("default"));
  EXPECT_FALSE(queues.stats("default").paused);
  for (const jobq::QueueStats& stats : queues.stats()) EXPECT_EQ(stats.paused, stats.name == "reports") << stats.name;
  queues.resume("reports");
  EXPECT_FALSE(queues.paused("reports"));
  EXPECT_FALSE(queues.stats("reports").paused);
  queues.resume("default");  // resuming a running queue changes nothing
  EXPECT_FALSE(queues.paused("default"));
}

TEST(Pause, DrainShutdownReturnsThePausedQueuesJobsUnrun) {
  constexpr int jobs = 200;
  jobq::Manager queues(two_queues());
  RunCounter counter(jobs);
  queues.register_handler("count:run", [&](Context& context, const Message& message) {
    return counter.handle(context, message);
  });
  queues.pause("reports");  // before start(): see NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  std::map<jobq::JobId, int> reports_jobs;  // id -> n
  for (int n = 0; n < jobs; ++n) {
    const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("count:run").on_queue("reports"), Numbered{n});
    ASSERT_TRUE(id.ok());
    reports_jobs[*id] = n;
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run"), Numbered{n}).ok());
  }
  const jobq::ShutdownReport report = queues.shutdown(10s, jobq::ShutdownMode::drain);
  EXPECT_FALSE(report.drained);
  EXPECT_EQ(report.accepted, 2u * jobs);
  EXPECT_EQ(report.succeeded, static_cast<std::uint64_t>(jobs));  // the running queue drained
  EXPECT_EQ(counter.not_once("default"), 0);
  EXPECT_EQ(counter.total("reports"), 0) << "the paused queue ran jobs during a drain";
  ASSERT_EQ(report.not_run.size(), static_cast<std::size_t>(jobs));
  EXPECT_TRUE(report.balanced());
  std::map<jobq::JobId, int> returned;
  for (const jobq::ReturnedJob& job : report.not_run) {
    EXPECT_EQ(job.queue, "reports");
    EXPECT_EQ(job.type, "count:run");
    EXPECT_EQ(job.attempt, 1u);
    EXPECT_EQ(job.due, std::chrono::system_clock::time_point{});
    EXPECT_TRUE(job.idempotency_key.empty());
    returned[job.id] = -1;
    if (const auto found = reports_jobs.find(job.id); found != reports_jobs.end()) {
      EXPECT_EQ(job.payload, "{\"n\":" + std::to_string(found->second) + "}");
    }
  }
  EXPECT_EQ(returned.size(), reports_jobs.size());
  for (const auto& [id, n] : reports_jobs) EXPECT_TRUE(returned.contains(id)) << "job " << id << " (n " << n << ") lost";
  for (const jobq::QueueStats& stats : report.queues) {
    if (stats.name == "reports") {
      EXPECT_EQ(stats.succeeded, 0u);
      EXPECT_EQ(stats.depth, 0);
    }
  }
}

}  // namespace
