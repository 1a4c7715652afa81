// A schedule shared by two processes on a durable queue: each slot is dispatched once in the
// fleet (its idempotency key lives in Redis), the other process's attempt refused as taken.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "durable_support.hpp"
#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::testing::durable_config;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

/// A process with an "@every 1s" schedule of "reports:tick" on the durable queue "reports",
/// counting its runs in `runs`.
std::unique_ptr<jobq::Manager> ticking(RedisServer& redis, std::atomic<int>& runs,
                                       jobq::MissedRuns policy = jobq::MissedRuns::skip) {
  jobq::Config config = durable_config(jobq::redis::make_lane(fast(redis.options())), "reports", 1);
  config.log_level = jobq::LogLevel::error;
  auto manager = std::make_unique<jobq::Manager>(std::move(config));
  manager->register_handler("reports:tick", [&runs](jobq::Context&, const jobq::Message&) {
    runs.fetch_add(1);
    return jobq::Status::success();
  }, {.queue = "reports"});
  manager->schedule("tick", "@every 1s", jobq::Job("reports:tick"), {.missed = policy});
  return manager;
}

TEST(DurableSchedule, TwoProcessesDispatchEachSlotOnce) {
  RedisServer redis;
  std::atomic<int> runs{0};
  auto first = ticking(redis, runs);
  auto second = ticking(redis, runs);
  // Slots fall on whole seconds: starting at a quarter past one, the processes stop at three
  // quarters past another, long after the last slot's job was fetched and run.
  std::this_thread::sleep_until(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + 1250ms);
  first->start();
  second->start();
  std::this_thread::sleep_for(3500ms);
  first->shutdown(10s);
  second->shutdown(10s);
  const jobq::ScheduleInfo a = first->schedules().at(0);
  const jobq::ScheduleInfo b = second->schedules().at(0);
  // Every slot each process reached, it dispatched or found taken; together, each slot ran once.
  EXPECT_EQ(a.refused + b.refused, 0u);
  EXPECT_GE(a.dispatched + a.taken_elsewhere, 3u);
  EXPECT_GE(b.dispatched + b.taken_elsewhere, 3u);
  EXPECT_GE(a.taken_elsewhere + b.taken_elsewhere, 2u) << "the two processes never met on a slot";
  EXPECT_EQ(static_cast<std::uint64_t>(runs.load()), a.dispatched + b.dispatched);
  std::printf("3.5 s, two processes: %d runs; first dispatched %llu, found taken %llu; second %llu and %llu\n",
              runs.load(), static_cast<unsigned long long>(a.dispatched), static_cast<unsigned long long>(a.taken_elsewhere),
              static_cast<unsigned long long>(b.dispatched), static_cast<unsigned long long>(b.taken_elsewhere));
  EXPECT_LE(a.dispatched + b.dispatched, std::max(a.dispatched + a.taken_elsewhere, b.dispatched + b.taken_elsewhere));
}

TEST(DurableSchedule, RunOnceCatchesUpSlotsThatPassedWhileNoProcessRan) {
  RedisServer redis;
  std::atomic<int> runs{0};
  {
    auto before = ticking(redis, runs, jobq::MissedRuns::run_once);
    before->start();
    ASSERT_TRUE(jobq::testing::eventually([&] { return before->schedules().at(0).dispatched >= 1; }));
    before->shutdown(10s);
  }
  // Two or three slots pass with no process. It comes back in the middle of a second, so that no
  // slot falls between `down_until` and its start.
  std::this_thread::sleep_until(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + 2500ms) + 500ms);
  const auto down_until = std::chrono::system_clock::now();
  auto after = ticking(redis, runs, jobq::MissedRuns::run_once);
  after->start();
  // At start it owes the latest slot that passed, and runs it once, before the next slot.
  const jobq::ScheduleInfo owed = after->schedules().at(0);
  EXPECT_GE(owed.missed, 2u);
  ASSERT_TRUE(jobq::testing::eventually([&] { return after->schedules().at(0).dispatched >= 1; }));
  const jobq::ScheduleInfo caught_up = after->schedules().at(0);
  EXPECT_LE(caught_up.last_run, down_until);  // the caught-up slot is one that passed while down
  EXPECT_GE(caught_up.last_run, down_until - 1500ms);
  after->shutdown(10s);
}

TEST(DurableSchedule, TheStoreHandsEachSlotToOneClaimantAndRefusesACorruptSlot) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(redis.options());
  jobq::Manager queues(durable_config(lane, "reports", 0));
  queues.start();
  EXPECT_FALSE(lane->last_slot("tick")->has_value());
  EXPECT_TRUE(*lane->claim_slot("tick", 1'700'000'000));
  EXPECT_FALSE(*lane->claim_slot("tick", 1'700'000'000));  // the same slot: another claimant
  EXPECT_FALSE(*lane->claim_slot("tick", 1'699'999'999));  // an earlier slot: long done
  EXPECT_TRUE(*lane->claim_slot("tick", 1'700'000'001));
  EXPECT_EQ(lane->last_slot("tick")->value(), 1'700'000'001);
  // A value that is not a slot is refused with its key, not taken for one.
  freeReplyObject(redis.command({"SET", redis.options().prefix + ":{reports}:schedule:tick", "12abc"}));
  const auto corrupt = lane->last_slot("tick");
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.error().message().find("holds '12abc', not a slot"), std::string::npos) << corrupt.error().message();
  queues.shutdown(10s);
}

TEST(DurableSchedule, ACorruptLastSlotIsLoggedAndTheProcessStartsAnyway) {
  RedisServer redis;
  freeReplyObject(redis.command({"SET", redis.options().prefix + ":{reports}:schedule:tick", "not-a-slot"}));
  std::atomic<int> runs{0};
  auto process = ticking(redis, runs, jobq::MissedRuns::run_once);
  EXPECT_NO_THROW(process->start());
  EXPECT_EQ(process->schedules().at(0).missed, 0u);  // nothing to catch up from
  ASSERT_TRUE(jobq::testing::eventually([&] { return process->schedules().at(0).dispatched >= 1; }));
  process->shutdown(10s);
}

}  // namespace
