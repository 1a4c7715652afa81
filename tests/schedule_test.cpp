// Periodic jobs through the Manager, on a clock the test moves: one dispatch per slot, missed
// slots under both policies (a paused queue, a stalled process), a daylight-saving transition,
// the scheduler's thread, and registrations refused with their reason.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using jobq::testing::eventually;
using jobq::testing::ManualClock;

system_clock::time_point wall(int y, unsigned m, unsigned d, int hh, int mm, int ss, int ms = 0) {
  return system_clock::time_point(sys_days(year(y) / month(m) / day(d)).time_since_epoch() + hours(hh) + minutes(mm) +
                                  seconds(ss) + milliseconds(ms));
}

struct Fixture {
  explicit Fixture(system_clock::time_point start) : clock(std::make_shared<ManualClock>()) {
    clock->set_wall(start);
    jobq::Config config;
    config.clock = clock;
    config.log_level = jobq::LogLevel::error;
    queues = std::make_unique<jobq::Manager>(std::move(config));
    queues->register_handler("reports:tick", [this](jobq::Context&, const jobq::Message&) {
      runs.fetch_add(1);
      return jobq::Status::success();
    });
  }
  /// Moves the clock by `by`, one second at a time, and waits for the scheduler to have looked at
  /// each second (its next slot is past it) before the next: on a loaded machine its thread may
  /// not run for a while, and two seconds seen in one look would count a slot as missed.
  void step(seconds by) {
    for (seconds moved{0}; moved < by; moved += 1s) {
      clock->advance(1s);
      if (!eventually([&] { return info().next_run > clock->wall_now(); })) {
        ADD_FAILURE() << "the scheduler did not look at the clock for 30 s";
        return;
      }
    }
  }
  jobq::ScheduleInfo info() const { return queues->schedules().at(0); }

  std::shared_ptr<ManualClock> clock;
  std::unique_ptr<jobq::Manager> queues;
  std::atomic<int> runs{0};
};

TEST(Schedule, EverySlotIsDispatchedOnce) {
  Fixture f(wall(2024, 1, 1, 0, 0, 0, 500));
  f.queues->schedule("tick", "@every 1s", jobq::Job("reports:tick"));
  f.queues->start();
  EXPECT_EQ(f.info().next_run, wall(2024, 1, 1, 0, 0, 1));
  f.step(5s);
  ASSERT_TRUE(eventually([&] { return f.info().dispatched == 5; }));
  ASSERT_TRUE(f.queues->wait_idle(10s));
  EXPECT_EQ(f.runs.load(), 5);
  const jobq::ScheduleInfo info = f.info();
  EXPECT_EQ(info.last_run, wall(2024, 1, 1, 0, 0, 5));
  EXPECT_EQ(info.next_run, wall(2024, 1, 1, 0, 0, 6));
  EXPECT_EQ(info.missed, 0u);
  EXPECT_EQ(info.queue, "default");
  EXPECT_EQ(info.time_zone, "UTC");
}

TEST(Schedule, APausedQueueMissesItsSlotsAndRunOnceCatchesUpWithOneRun) {
  for (const jobq::MissedRuns policy : {jobq::MissedRuns::skip, jobq::MissedRuns::run_once}) {
    Fixture f(wall(2024, 1, 1, 0, 0, 0, 500));
    f.queues->schedule("tick", "@every 1s", jobq::Job("reports:tick"), {.missed = policy});
    f.queues->start();
    f.queues->pause("default");
    f.step(3s);
    ASSERT_TRUE(eventually([&] { return f.info().missed == 3; })) << f.info().missed;
    f.queues->resume("default");
    const int expected = policy == jobq::MissedRuns::run_once ? 1 : 0;
    ASSERT_TRUE(eventually([&] { return f.info().dispatched == static_cast<std::uint64_t>(expected); }));
    std::this_thread::sleep_for(50ms);  // no second catch-up run
    ASSERT_TRUE(f.queues->wait_idle(10s));
    EXPECT_EQ(f.runs.load(), expected);
    EXPECT_EQ(f.info().dispatched, static_cast<std::uint64_t>(expected));
  }
}

TEST(Schedule, AStalledProcessRunsTheLatestSlotOrMissesItWhenLate) {
  // The clock jumps 10 s at once: the earlier nine slots are missed; the latest is on time.
  Fixture skip(wall(2024, 1, 1, 0, 0, 0, 500));
  skip.queues->schedule("tick", "@every 1s", jobq::Job("reports:tick"));
  skip.queues->start();
  skip.clock->advance(10s);
  ASSERT_TRUE(eventually([&] { return skip.info().dispatched == 1; }));
  EXPECT_EQ(skip.info().missed, 9u);
  EXPECT_EQ(skip.info().last_run, wall(2024, 1, 1, 0, 0, 10));
  // Three and a half hours at once on an hourly schedule: even the latest slot is half an hour
  // late (over Scheduler::late_after, a minute). Skip runs nothing; run_once runs it once.
  for (const jobq::MissedRuns policy : {jobq::MissedRuns::skip, jobq::MissedRuns::run_once}) {
    Fixture f(wall(2024, 1, 1, 0, 0, 30));
    f.queues->schedule("hourly", "@hourly", jobq::Job("reports:tick"), {.missed = policy});
    f.queues->start();
    f.clock->advance(3h + 30min);
    ASSERT_TRUE(eventually([&] { return f.info().missed == 3; })) << f.info().missed;
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(f.info().dispatched, policy == jobq::MissedRuns::run_once ? 1u : 0u);
  }
}

TEST(Schedule, FollowsItsTimeZoneThroughSpringForward) {
  // 02:30 New York time does not exist on 2024-03-10: it runs at the transition, 07:00Z.
  Fixture f(wall(2024, 3, 10, 6, 59, 58));
  f.queues->schedule("nightly", "30 2 * * *", jobq::Job("reports:tick"), {.time_zone = "America/New_York"});
  f.queues->start();
  EXPECT_EQ(f.info().next_run, wall(2024, 3, 10, 7, 0, 0));
  f.step(3s);
  ASSERT_TRUE(eventually([&] { return f.info().dispatched == 1; }));
  EXPECT_EQ(f.info().next_run, wall(2024, 3, 11, 6, 30, 0));
}

TEST(Schedule, RunsOnANamedAnnouncedThread) {
  Fixture f(wall(2024, 1, 1, 0, 0, 0, 500));
  std::mutex mutex;
  std::set<std::string> threads;
  f.queues->on_worker_start([&](const jobq::WorkerInfo& info) {
    const std::lock_guard lock(mutex);
    threads.insert(std::string(info.thread));
  });
  f.queues->schedule("tick", "@every 1s", jobq::Job("reports:tick"));
  f.queues->start();
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard lock(mutex);
    return threads.count("jq:scheduler") == 1;
  }));
  // No schedule, no thread.
  Fixture none(wall(2024, 1, 1, 0, 0, 0));
  std::atomic<bool> scheduler_started{false};
  none.queues->on_worker_start([&](const jobq::WorkerInfo& info) {
    if (info.thread == "jq:scheduler") scheduler_started.store(true);
  });
  none.queues->start();
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(scheduler_started.load());
}

TEST(Schedule, BadRegistrationsAreRefusedWithTheReason) {
  Fixture f(wall(2024, 1, 1, 0, 0, 0));
  auto refusal = [&](auto call) {
    try {
      call();
    } catch (const jobq::ConfigError& error) {
      return std::string(error.what());
    }
    return std::string("(accepted)");
  };
  const jobq::Job tick("reports:tick");
  EXPECT_EQ(refusal([&] { f.queues->schedule("a", "61 * * * *", tick); }),
            "schedule 'a': bad cron expression '61 * * * *' at column 1: minute '61': out of range 0-59");
  EXPECT_NE(refusal([&] { f.queues->schedule("a", "@daily", tick, {.time_zone = "Mars/Base"}); }).find("unknown time zone"),
            std::string::npos);
  EXPECT_NE(refusal([&] { f.queues->schedule("a", "@daily", jobq::Job("reports:nope")); }).find("unknown job type"),
            std::string::npos);
  EXPECT_NE(refusal([&] { f.queues->schedule("a", "@daily", jobq::Job("reports:tick").on_queue("nope")); })
                .find("unknown queue"),
            std::string::npos);
  EXPECT_NE(refusal([&] { f.queues->schedule("a", "@daily", jobq::Job("reports:tick").idempotency_key("k")); })
                .find("slot's idempotency key"),
            std::string::npos);
  f.queues->schedule("a", "@daily", tick);
  EXPECT_NE(refusal([&] { f.queues->schedule("a", "@hourly", tick); }).find("registered already"), std::string::npos);
  f.queues->start();
  EXPECT_NE(refusal([&] { f.queues->schedule("b", "@hourly", tick); }).find("schedule 'b'"), std::string::npos);
}

}  // namespace
