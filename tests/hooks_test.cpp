#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <mutex>
#include <set>
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

std::string this_thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(Hooks, ThreadHooksRunOnEachWorkerAndTheTimerBeforeItsFirstJobAndAfterItsLast) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}, {.name = "other"}}});
  std::mutex mutex;
  std::vector<std::string> started;
  std::vector<std::string> stopped;
  std::set<std::thread::id> hook_threads;
  std::set<std::thread::id> job_threads;
  queues.on_worker_start([&](const jobq::WorkerInfo& worker) {
    const std::lock_guard lock(mutex);
    started.push_back(std::string(worker.queue) + "/" + std::to_string(worker.index) + " " + this_thread_name());
    hook_threads.insert(std::this_thread::get_id());
    // A naming policy: the hook may rename its thread.
    pthread_setname_np(pthread_self(), ("app-" + std::string(worker.queue.substr(0, 5))).c_str());
  });
  queues.on_worker_stop([&](const jobq::WorkerInfo& worker) {
    const std::lock_guard lock(mutex);
    stopped.push_back(std::string(worker.queue) + "/" + std::to_string(worker.index) + " " + this_thread_name());
  });
  queues.register_handler("a:b", [&](Context&, const Message&) {
    const std::lock_guard lock(mutex);
    job_threads.insert(std::this_thread::get_id());
    return Status::success();
  });
  queues.start();
  {
    // start() returns only after every start hook has run: three workers and the timer.
    const std::lock_guard lock(mutex);
    EXPECT_EQ(started.size(), 4u);
    EXPECT_TRUE(stopped.empty());
  }
  for (int index = 0; index < 100; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")).ok());
  for (int index = 0; index < 10; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").on_queue("other")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
  const std::lock_guard lock(mutex);
  std::sort(started.begin(), started.end());
  std::sort(stopped.begin(), stopped.end());
  // Start hooks see jobq's names; stop hooks see the names the start hooks gave. The timer
  // has no queue.
  EXPECT_EQ(started, (std::vector<std::string>{"/0 jq:timer", "default/0 jq:default/0", "default/1 jq:default/1",
                                               "other/0 jq:other/0"}));
  EXPECT_EQ(stopped,
            (std::vector<std::string>{"/0 app-", "default/0 app-defau", "default/1 app-defau", "other/0 app-other"}));
  EXPECT_EQ(hook_threads.size(), 4u);
  for (const std::thread::id& id : job_threads) EXPECT_TRUE(hook_threads.contains(id));
}

TEST(Hooks, AThrowingHookIsLoggedAndNeitherKillsAWorkerNorLosesAJob) {
  std::mutex mutex;
  std::vector<std::string> lines;
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1},
                                    .log_sink = [&](jobq::LogLevel level, std::string_view message) {
                                      const std::lock_guard lock(mutex);
                                      lines.push_back(std::string(jobq::describe(level)) + " " + std::string(message));
                                    }});
  queues.on_failure([](const jobq::Failure&) { throw std::runtime_error("failure hook broke"); });
  queues.on_dead([](const jobq::DeadLetter&) { throw 7; });
  queues.register_handler("a:b", [](Context&, const Message& message) {
    return message.payload() == "{}" ? Status::success() : Status::error("no");
  });
  queues.start();
  for (int index = 0; index < 10; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").payload(R"({"x":1})")).ok());
  for (int index = 0; index < 10; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 10u);
  EXPECT_EQ(report.dead_lettered, 10u);
  EXPECT_TRUE(report.balanced());
  const std::lock_guard lock(mutex);
  int failure_hook = 0;
  int dead_hook = 0;
  int dead_warnings = 0;
  for (const std::string& line : lines) {
    failure_hook += line == "error failure hook threw: failure hook broke";
    dead_hook += line == "error dead-letter hook threw a non-std exception";
    dead_warnings += line.rfind("warn job ", 0) == 0 && line.find("dead-lettered after 1 attempts") != std::string::npos;
  }
  EXPECT_EQ(failure_hook, 10);
  EXPECT_EQ(dead_hook, 10);
  EXPECT_EQ(dead_warnings, 10);
}

TEST(Hooks, LogLevelFiltersAndTheDefaultLevelIsQuietOnSuccess) {
  std::mutex mutex;
  std::vector<std::string> lines;
  auto sink = [&](jobq::LogLevel level, std::string_view message) {
    const std::lock_guard lock(mutex);
    lines.push_back(std::string(jobq::describe(level)) + " " + std::string(message));
  };
  {
    jobq::Manager quiet(jobq::Config{.log_sink = sink});  // default level: warn
    quiet.register_handler("a:b", [](Context&, const Message&) { return Status::success(); });
    quiet.start();
    for (int index = 0; index < 100; ++index) ASSERT_TRUE(quiet.dispatch(jobq::Job("a:b")).ok());
    ASSERT_TRUE(quiet.wait_idle(30s));
    (void)quiet.shutdown(1s);
  }
  {
    const std::lock_guard lock(mutex);
    EXPECT_TRUE(lines.empty()) << lines.front();
  }
  {
    jobq::Manager chatty(jobq::Config{.retry = {.max_attempts = 2,
                                                .backoff = [](std::uint32_t, const Status&, const Message&) {
                                                  return std::chrono::nanoseconds(0);
                                                }},
                                      .log_level = jobq::LogLevel::debug,
                                      .log_sink = sink});
    chatty.register_handler("a:b", [](Context&, const Message&) { return Status::error("broken"); });
    chatty.start();
    ASSERT_TRUE(chatty.dispatch(jobq::Job("a:b")).ok());
    ASSERT_TRUE(chatty.wait_idle(30s));
    (void)chatty.shutdown(1s);
  }
  const std::lock_guard lock(mutex);
  auto count = [&](std::string_view prefix) {
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& line) { return line.starts_with(prefix); });
  };
  EXPECT_EQ(count("info started 1 workers on 1 queues, 1 job types"), 1);
  EXPECT_EQ(count("debug worker default/0 started"), 1);
  EXPECT_EQ(count("debug worker default/0 stopped"), 1);
  EXPECT_EQ(count("debug job "), 2);  // each failed attempt
  EXPECT_EQ(count("warn job "), 1);   // the dead letter
  EXPECT_EQ(count("info shut down"), 1);
}

}  // namespace
