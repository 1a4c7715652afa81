// The timer's heap on its own: due order, per-queue limits, nodes that own their envelopes.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "jobq/internal/timer.hpp"
#include "jobq/payload.hpp"
#include "test_support.hpp"

namespace {

using jobq::internal::Envelope;
using jobq::internal::Timer;
using jobq::testing::Lifetime;
using namespace std::chrono_literals;

struct Carried {
  int n = 0;
  Lifetime tracker;
};
JOBQ_PAYLOAD(Carried, n);

const Timer::time_point epoch{};

Timer::Node node(Timer::time_point due, jobq::QueueId queue, jobq::JobId id) {
  Envelope envelope;
  envelope.id = id;
  Carried payload{static_cast<int>(id), {}};
  EXPECT_TRUE(envelope.payload.emplace_object(*jobq::internal::payload_type_of<Carried>, &payload, true));
  return Timer::make(due, queue, std::move(envelope));
}

std::vector<jobq::JobId> ids(const std::vector<Timer::Node>& nodes) {
  std::vector<jobq::JobId> out;
  for (const Timer::Node& taken : nodes) out.push_back(taken->envelope.id);
  return out;
}

TEST(TimerUnit, DueJobsLeaveInDueOrderAndTiesInTheOrderTheyCame) {
  Timer timer({100});
  std::unique_lock lock = timer.lock();
  for (auto [due, id] : std::vector<std::pair<std::chrono::milliseconds, jobq::JobId>>{
           {30ms, 1}, {10ms, 2}, {20ms, 3}, {10ms, 4}, {40ms, 5}}) {
    Timer::Node pending = node(epoch + due, 0, id);
    ASSERT_TRUE(timer.add_locked(pending));
    EXPECT_EQ(pending, nullptr);  // the timer owns it now
  }
  EXPECT_EQ(timer.next_due_locked(), epoch + 10ms);
  std::vector<Timer::Node> due;
  timer.take_due_locked(epoch + 20ms, due, 2);  // the limit stops it before job 3
  EXPECT_EQ(ids(due), (std::vector<jobq::JobId>{2, 4}));
  timer.take_due_locked(epoch + 30ms, due, 100);
  EXPECT_EQ(ids(due), (std::vector<jobq::JobId>{2, 4, 3, 1}));
  EXPECT_EQ(timer.size_locked(), 1u);
  EXPECT_EQ(timer.next_due_locked(), epoch + 40ms);
}

TEST(TimerUnit, AQueueAtItsLimitRefusesAndLeavesTheNodeWithTheCaller) {
  Timer timer({2, 1});
  std::unique_lock lock = timer.lock();
  for (jobq::JobId id = 1; id <= 2; ++id) {
    Timer::Node pending = node(epoch + 1ms, 0, id);
    ASSERT_TRUE(timer.add_locked(pending));
  }
  Timer::Node refused = node(epoch + 1ms, 0, 3);
  EXPECT_FALSE(timer.add_locked(refused));
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->envelope.id, 3u);
  EXPECT_EQ(timer.size_locked(0), 2u);
  Timer::Node other = node(epoch + 1ms, 1, 4);  // another queue has its own room
  EXPECT_TRUE(timer.add_locked(other));
  std::vector<Timer::Node> due;
  timer.take_due_locked(epoch + 1ms, due, 1);
  EXPECT_TRUE(timer.add_locked(refused));  // room again
  EXPECT_EQ(timer.size_locked(0), 2u);
}

TEST(TimerUnit, TakeAllReturnsEveryJobInDueOrderAndEveryPayloadIsDestroyedOnce) {
  Lifetime::reset();
  {
    Timer timer({10});
    {
      std::unique_lock lock = timer.lock();
      for (jobq::JobId id = 1; id <= 6; ++id) {
        Timer::Node pending = node(epoch + std::chrono::milliseconds(10 - id), 0, id);
        ASSERT_TRUE(timer.add_locked(pending));
      }
      EXPECT_EQ(Lifetime::live.load(), 6);
      std::vector<Timer::Node> all = timer.take_all_locked();
      EXPECT_EQ(ids(all), (std::vector<jobq::JobId>{6, 5, 4, 3, 2, 1}));
      EXPECT_EQ(timer.size_locked(), 0u);
      EXPECT_EQ(timer.size_locked(0), 0u);
    }
    EXPECT_EQ(Lifetime::live.load(), 0);
    // What is still in the timer when it goes is destroyed with it.
    std::unique_lock lock = timer.lock();
    for (jobq::JobId id = 1; id <= 3; ++id) {
      Timer::Node pending = node(epoch + 1h, 0, id);
      ASSERT_TRUE(timer.add_locked(pending));
    }
    EXPECT_EQ(Lifetime::live.load(), 3);
  }
  EXPECT_EQ(Lifetime::live.load(), 0);
}

}  // namespace
