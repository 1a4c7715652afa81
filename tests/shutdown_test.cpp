#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;

TEST(Shutdown, DrainsEverythingQueuedBeforeTheDeadline) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}, {.name = "other"}}});
  std::atomic<int> ran{0};
  queues.register_handler("count:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < 20000; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run").on_queue(index % 2 ? "default" : "other")).ok());
  }
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(60));
  EXPECT_TRUE(report.drained);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_EQ(report.accepted, 20000u);
  EXPECT_EQ(report.succeeded, 20000u);
  EXPECT_EQ(ran.load(), 20000);
  EXPECT_TRUE(report.balanced());
}

TEST(Shutdown, PastTheDeadlineStopsHandlersAndReturnsWhatDidNotRun) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .dequeue_batch = 4}}});
  std::atomic<int> started{0};
  std::atomic<int> saw_stop{0};
  queues.register_handler("slow:run", [&](Context& context, const Message&) {
    started.fetch_add(1);
    while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    saw_stop.fetch_add(1);
    return Status::error("stopped");
  });
  queues.start();
  std::set<jobq::JobId> dispatched;
  for (int index = 0; index < 100; ++index) {
    const std::string payload = "{\"n\":" + std::to_string(index) + "}";
    const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("slow:run").payload(payload));
    ASSERT_TRUE(id.ok());
    dispatched.insert(*id);
  }
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load() == 1; }));
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::milliseconds(50));
  EXPECT_FALSE(report.drained);
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(saw_stop.load(), 1);
  EXPECT_EQ(report.failed, 1u);
  // The stopped job failed its first attempt: its retry waits in the timer and is returned with
  // the 99 that never started.
  EXPECT_EQ(report.retried, 1u);
  EXPECT_EQ(report.not_run.size(), 100u);
  EXPECT_TRUE(report.balanced());
  std::set<jobq::JobId> returned;
  int retries = 0;
  for (const jobq::ReturnedJob& job : report.not_run) {
    EXPECT_EQ(job.type, "slow:run");
    EXPECT_EQ(job.queue, "default");
    EXPECT_EQ(job.payload.rfind("{\"n\":", 0), 0u) << job.payload;
    if (job.attempt == 2) {
      ++retries;
      EXPECT_NE(job.due, std::chrono::system_clock::time_point{});
    } else {
      EXPECT_EQ(job.attempt, 1u);
      EXPECT_EQ(job.due, std::chrono::system_clock::time_point{});
    }
    returned.insert(job.id);
  }
  EXPECT_EQ(retries, 1);
  EXPECT_EQ(returned.size(), 100u);
  for (jobq::JobId id : returned) EXPECT_TRUE(dispatched.contains(id));
}

TEST(Shutdown, BeforeStartReportsNothingAndStartIsThenRefused) {
  jobq::Manager queues(jobq::Config{});
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(1));
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.accepted, 0u);
  EXPECT_TRUE(report.balanced());
  EXPECT_THROW(queues.start(), jobq::ConfigError);
  // The lifecycle is checked before the type: a stopped Manager refuses every dispatch alike.
  EXPECT_EQ(queues.dispatch(jobq::Job("x:y")).code(), jobq::Errc::shutting_down);
}

TEST(Shutdown, ASecondCallReturnsTheFinalCountersAndNoJobs) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  for (int index = 0; index < 10; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("noop:run")).ok());
  const jobq::ShutdownReport first = queues.shutdown(std::chrono::seconds(10));
  const jobq::ShutdownReport second = queues.shutdown(std::chrono::seconds(10));
  EXPECT_EQ(first.succeeded, 10u);
  EXPECT_EQ(second.succeeded, 10u);
  EXPECT_TRUE(second.not_run.empty());
  EXPECT_TRUE(second.balanced());
}

TEST(Shutdown, ConcurrentCallsWaitForOneAnother) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}}});
  std::atomic<int> ran{0};
  queues.register_handler("count:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < 5000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("count:run")).ok());
  jobq::ShutdownReport first;
  jobq::ShutdownReport second;
  std::thread other([&] { second = queues.shutdown(std::chrono::seconds(30)); });
  first = queues.shutdown(std::chrono::seconds(30));
  other.join();
  EXPECT_EQ(ran.load(), 5000);
  EXPECT_EQ(first.succeeded, 5000u);
  EXPECT_EQ(second.succeeded, 5000u);
  EXPECT_TRUE(first.balanced());
  EXPECT_TRUE(second.balanced());
}

TEST(Shutdown, ManyManagersFromOneThreadKeepWorking) {
  // A thread that cycles through more Managers than it remembers must keep one producer state
  // per Manager and lose nothing.
  std::vector<std::unique_ptr<jobq::Manager>> managers;
  std::atomic<int> ran{0};
  for (int index = 0; index < 20; ++index) {
    managers.push_back(std::make_unique<jobq::Manager>(jobq::Config{}));
    managers.back()->register_handler("count:run", [&](Context&, const Message&) {
      ran.fetch_add(1);
      return Status::success();
    });
    managers.back()->start();
  }
  for (int round = 0; round < 50; ++round) {
    for (auto& manager : managers) ASSERT_TRUE(manager->dispatch(jobq::Job("count:run")).ok());
  }
  for (auto& manager : managers) {
    const jobq::ShutdownReport report = manager->shutdown(std::chrono::seconds(30));
    EXPECT_EQ(report.succeeded, 50u);
    EXPECT_TRUE(report.balanced());
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(Shutdown, DestroyingARunningManagerRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}}});
    queues.register_handler("count:run", [&](Context&, const Message&) {
      ran.fetch_add(1);
      return Status::success();
    });
    queues.start();
    for (int index = 0; index < 1000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("count:run")).ok());
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(Shutdown, BooksBalanceWithProducersRacingTheShutdown) {
  for (int round = 0; round < 20; ++round) {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}, {.name = "b"}}});
    queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
    queues.start();
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> producers;
    for (int producer = 0; producer < 4; ++producer) {
      producers.emplace_back([&, producer] {
        while (!go.load()) std::this_thread::yield();
        for (;;) {
          const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("noop:run").on_queue(producer % 2 ? "b" : "default"));
          if (result.ok()) {
            accepted.fetch_add(1);
          } else if (result.code() == jobq::Errc::shutting_down) {
            return;
          }
        }
      });
    }
    go.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + round % 5));
    // A zero deadline on odd rounds forces the return path; even rounds drain.
    const jobq::ShutdownReport report = queues.shutdown(round % 2 ? std::chrono::nanoseconds(0) : std::chrono::seconds(30));
    for (std::thread& producer : producers) producer.join();
    EXPECT_EQ(report.accepted, accepted.load()) << "round " << round;
    EXPECT_TRUE(report.balanced()) << "round " << round << ": accepted " << report.accepted << ", succeeded "
                                   << report.succeeded << ", failed " << report.failed << ", not run "
                                   << report.not_run.size();
  }
}

}  // namespace
