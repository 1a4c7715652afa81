#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
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

Status succeed(Context&, const Message&) { return Status::success(); }

TEST(QueueCapacity, DispatchPastCapacityIsQueueFull) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .capacity = 4, .dequeue_batch = 1}}});
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  queues.register_handler("slow:run", [&](Context& context, const Message&) {
    inside.store(true);
    while (!release.load() && !context.stop_requested()) std::this_thread::yield();
    return Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("slow:run")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return inside.load(); }));  // the worker holds job 1
  for (int index = 0; index < 4; ++index) EXPECT_TRUE(queues.dispatch(jobq::Job("slow:run")).ok());
  EXPECT_EQ(queues.stats("default").depth, 4);
  for (int index = 0; index < 3; ++index) EXPECT_EQ(queues.dispatch(jobq::Job("slow:run")).code(), Errc::queue_full);
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 5u);
  EXPECT_EQ(stats.rejected, 3u);
  release.store(true);
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(30));
  EXPECT_EQ(report.succeeded, 5u);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.queues[0].depth, 0);
}

class IdleStrategies : public ::testing::TestWithParam<jobq::IdleStrategy> {};

TEST_P(IdleStrategies, EveryJobRunsAfterIdlePeriods) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2, .idle = GetParam(), .spin_iterations = 16}}});
  std::atomic<int> ran{0};
  queues.register_handler("count:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int round = 1; round <= 20; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let workers go idle (and park)
    ASSERT_TRUE(queues.dispatch(jobq::Job("count:run")).ok());
    ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == round; })) << "round " << round;
  }
  EXPECT_TRUE(queues.shutdown(std::chrono::seconds(5)).balanced());
}

INSTANTIATE_TEST_SUITE_P(Both, IdleStrategies,
                         ::testing::Values(jobq::IdleStrategy::busy_spin, jobq::IdleStrategy::spin_then_park));

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

TEST(QueueIdle, ParkedWorkersBurnNoCpu) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 4, .spin_iterations = 64}}});
  queues.register_handler("noop:run", succeed);
  queues.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // past the spin phase
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double used = process_cpu_seconds() - before;
  // Four spinning workers would use about two seconds of CPU here (or all of both cores).
  EXPECT_LT(used, 0.1) << "idle workers used " << used << " s of CPU in 0.5 s";
}

std::set<std::string> thread_names() {
  std::set<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  return names;
}

TEST(QueueWorkers, ThreadsAreNamedAfterQueueAndIndex) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "emails", .workers = 2}, {.name = "reports-generation"}}});
  queues.start();
  const std::set<std::string> names = thread_names();
  EXPECT_TRUE(names.contains("jq:emails/0"));
  EXPECT_TRUE(names.contains("jq:emails/1"));
  EXPECT_TRUE(names.contains("jq:reports-/0"));
}

TEST(QueueWorkers, WorkersArePinnedToTheirCpus) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  unsigned cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .cpus = {cpu}}}});
  std::atomic<int> pinned_count{-1};
  std::atomic<bool> pinned_to_cpu{false};
  queues.register_handler("where:run", [&](Context&, const Message&) {
    cpu_set_t set;
    pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    pinned_to_cpu.store(CPU_ISSET(cpu, &set));
    pinned_count.store(CPU_COUNT(&set));
    return Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("where:run")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return pinned_count.load() != -1; }));
  EXPECT_EQ(pinned_count.load(), 1);
  EXPECT_TRUE(pinned_to_cpu.load());
}

struct Step {
  int n;
};
JOBQ_PAYLOAD(Step, n);

TEST(QueueOrder, OneWorkerRunsOneProducersJobsInOrder) {
  jobq::Manager queues(jobq::Config{});
  std::vector<int> order;  // written by the single worker only
  queues.register_handler("order:step", [&](Context&, const Message& message) {
    Step step{};
    if (Status status = message.bind(step); !status) return status;
    order.push_back(step.n);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < 5000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("order:step"), Step{index}).ok());
  ASSERT_TRUE(queues.shutdown(std::chrono::seconds(30)).balanced());
  ASSERT_EQ(order.size(), 5000u);
  for (int index = 0; index < 5000; ++index) ASSERT_EQ(order[index], index);
}

}  // namespace
