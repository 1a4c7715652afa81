// Threads where the user puts them: workers pinned to CPUs other than the constructing thread's,
// and the timer thread named, pinnable and announced to the hooks like a worker.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

std::vector<unsigned> cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  std::vector<unsigned> cpus;
  for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

/// Pins the calling thread (the process's main thread, under gtest) for its lifetime.
class PinnedHere {
 public:
  explicit PinnedHere(unsigned cpu) {
    CPU_ZERO(&before_);
    sched_getaffinity(0, sizeof before_, &before_);
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(cpu, &only);
    EXPECT_EQ(sched_setaffinity(0, sizeof only, &only), 0);
  }
  ~PinnedHere() { sched_setaffinity(0, sizeof before_, &before_); }
  PinnedHere(const PinnedHere&) = delete;
  PinnedHere& operator=(const PinnedHere&) = delete;

 private:
  cpu_set_t before_;
};

TEST(Placement, ADispatcherPinnedToOneCpuRunsWorkersPinnedToAnother) {
  const std::vector<unsigned> cpus = cpus_of_this_thread();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const PinnedHere dispatcher(cpus[0]);  // the main thread: the process id's own mask
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1, .cpus = {cpus[1]}}}});
  std::atomic<int> runs{0};
  std::atomic<int> elsewhere{0};
  queues.register_handler("placed:run", [&](Context&, const Message&) {
    if (sched_getcpu() != static_cast<int>(cpus[1])) elsewhere.fetch_add(1);
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int index = 0; index < 1000; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("placed:run").payload("{}")));
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1000);
  EXPECT_EQ(elsewhere.load(), 0);
  EXPECT_EQ(sched_getcpu(), static_cast<int>(cpus[0]));
}

TEST(Placement, TheTimerThreadIsNamedPinnedAndAnnouncedToTheHooks) {
  const std::vector<unsigned> cpus = cpus_of_this_thread();
  const unsigned timer_cpu = cpus.back();
  jobq::Config config;
  config.timer_cpus = {timer_cpu};
  jobq::Manager queues(std::move(config));
  std::mutex mutex;
  std::vector<std::string> started;
  std::vector<std::string> stopped;
  std::vector<unsigned> timer_mask;
  std::string timer_name;
  queues.on_worker_start([&](const jobq::WorkerInfo& info) {
    const std::lock_guard lock(mutex);
    started.emplace_back(info.thread);
    if (info.queue.empty()) {
      timer_mask = cpus_of_this_thread();
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      timer_name = name;
    }
  });
  queues.on_worker_stop([&](const jobq::WorkerInfo& info) {
    const std::lock_guard lock(mutex);
    stopped.emplace_back(info.thread);
  });
  queues.register_handler("placed:later", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  {
    const std::lock_guard lock(mutex);  // start() returns after every start hook
    EXPECT_EQ(started.size(), 2u);
    EXPECT_NE(std::find(started.begin(), started.end(), "jq:timer"), started.end());
    EXPECT_NE(std::find(started.begin(), started.end(), "jq:default/0"), started.end());
    EXPECT_EQ(timer_name, "jq:timer");
    EXPECT_EQ(timer_mask, std::vector<unsigned>{timer_cpu});
  }
  ASSERT_TRUE(queues.dispatch(jobq::Job("placed:later").payload("{}").delay(1ms)));
  ASSERT_TRUE(queues.wait_idle(30s));
  (void)queues.shutdown(5s);
  const std::lock_guard lock(mutex);
  EXPECT_EQ(stopped.size(), 2u);
  EXPECT_NE(std::find(stopped.begin(), stopped.end(), "jq:timer"), stopped.end());
}

TEST(Placement, ATimerCpuTheProcessMayNotUseIsRefusedAtConstruction) {
  jobq::Config config;
  config.timer_cpus = {CPU_SETSIZE - 1};
  try {
    jobq::Manager queues(std::move(config));
    FAIL() << "accepted a CPU the process cannot use";
  } catch (const jobq::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("timer_cpus: CPU " + std::to_string(CPU_SETSIZE - 1)), std::string::npos)
        << error.what();
  }
}

}  // namespace
