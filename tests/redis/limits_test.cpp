// Limits on a durable queue hold for the fleet: two Managers (each its own lane, consumer and
// connections, as two processes have) draw from one budget in Redis. Counted across both here,
// which separate processes could not do as simply. The 10-second rate proof runs with the stress
// label.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "durable_support.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Handlers running at once over the whole fleet, the most seen, and the start times.
struct Fleetwide {
  jobq::testing::Overlap overlap;
  std::atomic<int> runs{0};
  std::mutex mutex;
  std::vector<steady::time_point> starts;
  Status run(std::chrono::microseconds work) {
    {
      const std::lock_guard lock(mutex);
      starts.push_back(steady::now());
    }
    overlap.enter();
    std::this_thread::sleep_for(work);
    overlap.leave();
    runs.fetch_add(1);
    return Status::success();
  }
  std::vector<steady::time_point> sorted() {
    const std::lock_guard lock(mutex);
    std::vector<steady::time_point> copy = starts;
    std::sort(copy.begin(), copy.end());
    return copy;
  }
};

/// Two "processes" on one durable queue, each with `workers` workers and the type registered
/// with `limits` (and the queue with `queue_limits`).
struct Fleet {
  Fleet(RedisServer& redis, Fleetwide& fleetwide, jobq::Limits limits, unsigned workers,
        std::chrono::microseconds work, jobq::Limits queue_limits = {}) {
    for (int member = 0; member < 2; ++member) {
      lanes.push_back(jobq::redis::make_lane(fast(redis.options())));
      jobq::Config config = jobq::testing::durable_config(lanes.back(), "exports", workers);
      config.queues[1].limits = queue_limits;
      managers.push_back(std::make_unique<jobq::Manager>(std::move(config)));
      managers.back()->register_handler("exports:build", [&fleetwide, work](Context&, const Message&) {
        return fleetwide.run(work);
      }, {.queue = "exports", .limits = limits});
    }
    for (auto& manager : managers) manager->start();
  }
  std::vector<std::shared_ptr<jobq::redis::Lane>> lanes;
  std::vector<std::unique_ptr<jobq::Manager>> managers;
};

TEST(DurableLimits, ATypesConcurrencyHoldsAcrossProcesses) {
  RedisServer redis;
  Fleetwide fleetwide;
  Fleet fleet(redis, fleetwide, {.concurrency = 2}, 3, 2ms);
  constexpr int jobs = 120;
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(fleet.managers[0]->dispatch(jobq::Job("exports:build")).ok());
  ASSERT_TRUE(eventually([&] { return fleetwide.runs.load() == jobs; }, 60s));
  EXPECT_EQ(fleetwide.overlap.most.load(), 2);  // six workers in all, two at a time
  const std::uint64_t throttled =
      fleet.managers[0]->stats("exports").throttled + fleet.managers[1]->stats("exports").throttled;
  EXPECT_GT(throttled, 0u);
  EXPECT_EQ(redis.integer({"ZCARD", "jobq:{exports}:limit:exports:build:running"}), 0);  // every slot given back
}

TEST(DurableLimits, AQueuesConcurrencyHoldsAcrossProcesses) {
  RedisServer redis;
  Fleetwide fleetwide;
  Fleet fleet(redis, fleetwide, {}, 2, 2ms, {.concurrency = 1});
  for (int index = 0; index < 60; ++index) ASSERT_TRUE(fleet.managers[1]->dispatch(jobq::Job("exports:build")).ok());
  ASSERT_TRUE(eventually([&] { return fleetwide.runs.load() == 60; }, 60s));
  EXPECT_EQ(fleetwide.overlap.most.load(), 1);
}

TEST(DurableLimits, ARateIsOneBudgetForTheFleet) {
  RedisServer redis;
  Fleetwide fleetwide;
  Fleet fleet(redis, fleetwide, {.rate = jobq::RateLimit::per_second(200, 5)}, 2, 0us);
  constexpr int jobs = 40;
  // The first booking is made after this instant, so start k (k >= 5, past the burst of 5) can come
  // no earlier than (k - 4) intervals of 5 ms after it. The first start's own timestamp is no
  // reference: its worker may be descheduled between the booking and the handler's clock read.
  const steady::time_point before_first_booking = steady::now();
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(fleet.managers[0]->dispatch(jobq::Job("exports:build")).ok());
  ASSERT_TRUE(eventually([&] { return fleetwide.runs.load() == jobs; }, 60s));
  const std::vector<steady::time_point> at = fleetwide.sorted();
  ASSERT_EQ(at.size(), static_cast<std::size_t>(jobs));
  // Booked on Redis's clock, slept on this one's: half a millisecond of slack for the two clocks.
  for (int k = 5; k < jobs; ++k) {
    EXPECT_GE(at[k] - before_first_booking, (k - 4) * 5ms - 500us) << "start " << k;
  }
}

TEST(DurableLimits, ADeadProcesssRunningSlotFreesItselfAfterItsLease) {
  RedisServer redis;
  auto dead = jobq::redis::make_lane(fast(redis.options(), 200ms));
  auto alive = jobq::redis::make_lane(fast(redis.options(), 200ms));
  dead->attach("exports");
  alive->attach("exports");
  const jobq::Result<bool> first = dead->acquire_slot("queue", 1, 1);
  ASSERT_TRUE(first.ok() && *first);
  const jobq::Result<bool> refused = alive->acquire_slot("queue", 1, 2);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(*refused);
  dead.reset();  // never released, never renewed: its process died
  ASSERT_TRUE(eventually([&] {
    const jobq::Result<bool> taken = alive->acquire_slot("queue", 1, 2);
    return taken.ok() && *taken;
  }, 5s));
}

TEST(DurableLimitsProof, TenSecondsAtAHundredASecondWithABurstOfTwentyOverTwoProcesses) {
  if (jobq::testing::count_from_environment("JOBQ_STRESS", 0) == 0) GTEST_SKIP() << "set JOBQ_STRESS=1 (ctest -L stress)";
  RedisServer redis;
  Fleetwide fleetwide;
  Fleet fleet(redis, fleetwide, {.rate = jobq::RateLimit::per_second(100, 20)}, 2, 0us);
  constexpr int jobs = 1300;
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(fleet.managers[index % 2]->dispatch(jobq::Job("exports:build")).ok());
  std::this_thread::sleep_for(10500ms);
  for (auto& manager : fleet.managers) {
    const jobq::ShutdownReport report = manager->shutdown(1s, jobq::ShutdownMode::return_pending);
    EXPECT_TRUE(report.balanced());
  }
  const std::vector<steady::time_point> at = fleetwide.sorted();
  ASSERT_FALSE(at.empty());
  const auto in_window = std::count_if(at.begin(), at.end(), [&](steady::time_point when) { return when - at[0] < 10s; });
  std::printf("fleet starts in the first 10 s: %ld (bounds 980..1020), all starts %zu\n", static_cast<long>(in_window),
              at.size());
  EXPECT_LE(in_window, 1020);
  EXPECT_GE(in_window, 980);
  // None lost: what did not start is still in Redis, ready for the next process.
  auto lane = jobq::redis::make_lane(redis.options());
  lane->attach("exports");
  const jobq::LaneStats stats = lane->stats();
  EXPECT_EQ(static_cast<std::int64_t>(at.size()) + stats.stream_length + stats.pending + stats.scheduled, jobs);
}

}  // namespace
