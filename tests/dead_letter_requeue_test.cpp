// Requeueing dead letters: the same job again from attempt one with its own attempt budget, all
// letters back to their own queues, refusals before start and after shutdown that keep the letter,
// and requeues racing a shutdown that lose no job.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dead_letter_support.hpp"
#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using jobq::testing::dispatch_numbered;
using jobq::testing::ids_of;
using namespace std::chrono_literals;

TEST(DeadLetters, RequeueRunsTheSameJobAgainFromAttemptOneAndItCanSucceed) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 2, .backoff = jobq::testing::no_wait}});
  std::atomic<int> failures_left{2};  // fails its first two runs, then heals
  std::mutex mutex;
  std::vector<std::uint32_t> attempts;
  std::vector<jobq::JobId> job_ids;
  std::vector<std::string> payloads;
  queues.register_handler("flaky:heal", [&](Context& context, const Message& message) {
    {
      const std::lock_guard lock(mutex);
      attempts.push_back(context.attempt());
      job_ids.push_back(context.job_id());
      payloads.emplace_back(message.payload());
    }
    if (failures_left.fetch_sub(1) > 0) return Status::error("flaky, attempt " + std::to_string(context.attempt()));
    return Status::success();
  });
  std::atomic<int> dead_hook{0};
  queues.on_dead([&](const jobq::DeadLetter&) { dead_hook.fetch_add(1); });
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("flaky:heal").payload(R"({"k":"v"})"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::optional<jobq::DeadLetter> letter = queues.dead_letter(*id);
  ASSERT_TRUE(letter.has_value());
  EXPECT_EQ(letter->attempts, 2u);
  EXPECT_EQ(letter->last_error, "flaky, attempt 2");
  jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.dead_lettered, 1u);

  const jobq::Result<jobq::JobId> requeued = queues.requeue_dead(*id);
  ASSERT_TRUE(requeued.ok()) << requeued.error().message();
  EXPECT_EQ(*requeued, *id) << "a requeued job keeps its id";
  EXPECT_FALSE(queues.dead_letter(*id).has_value()) << "a requeued letter leaves the store";
  EXPECT_EQ(queues.dead_letters().total, 0u);
  EXPECT_EQ(queues.requeue_dead(*id).code(), jobq::Errc::not_found) << "a letter is requeued once";
  ASSERT_TRUE(queues.wait_idle(30s));

  {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(attempts, (std::vector<std::uint32_t>{1, 2, 1})) << "the requeued run starts again at attempt 1";
    EXPECT_EQ(job_ids, (std::vector<jobq::JobId>{*id, *id, *id}));
    EXPECT_EQ(payloads, (std::vector<std::string>(3, R"({"k":"v"})")));
  }
  EXPECT_EQ(dead_hook.load(), 1);
  stats = queues.stats("default");
  EXPECT_EQ(stats.accepted, 2u) << "a requeue counts as accepted again";
  EXPECT_EQ(stats.succeeded, 1u);
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(stats.failed, 2u);
  EXPECT_EQ(stats.retried, 1u);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.accepted, 2u);
  EXPECT_TRUE(report.balanced()) << "accepted " << report.accepted << " = succeeded " << report.succeeded
                                 << " + dead " << report.dead_lettered << " + revoked " << report.revoked
                                 << " + not run " << report.not_run.size();
}

TEST(DeadLetters, ARequeuedJobKeepsItsOwnAttemptBudget) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1, .backoff = jobq::testing::no_wait}});
  std::mutex mutex;
  std::vector<std::uint32_t> attempts;
  queues.register_handler("always:fail", [&](Context& context, const Message&) {
    const std::lock_guard lock(mutex);
    attempts.push_back(context.attempt());
    return Status::error("no");
  });
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("always:fail").max_attempts(3));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  ASSERT_TRUE(queues.requeue_dead(*id).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(attempts, (std::vector<std::uint32_t>{1, 2, 3, 1, 2, 3})) << "the per-job max_attempts(3) survives a requeue";
  }
  const jobq::DeadLetterPage page = queues.dead_letters();
  ASSERT_EQ(page.letters.size(), 1u);
  EXPECT_EQ(page.letters[0].id, *id);
  EXPECT_EQ(page.letters[0].attempts, 3u);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.accepted, 2u);
  EXPECT_EQ(report.dead_lettered, 2u);
  EXPECT_EQ(report.failed, 6u);
  EXPECT_EQ(report.retried, 4u);
  EXPECT_TRUE(report.balanced());
}

TEST(DeadLetters, RequeueOfAnUnknownIdIsNotFound) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("noop:run"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(queues.requeue_dead(12345678).code(), jobq::Errc::not_found);
  EXPECT_EQ(queues.requeue_dead(*id).code(), jobq::Errc::not_found) << "a job that succeeded is no dead letter";
  EXPECT_EQ(queues.requeue_dead(0).code(), jobq::Errc::not_found);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.accepted, 1u) << "a refused requeue is not accepted";
  EXPECT_TRUE(report.balanced());
}

TEST(DeadLetters, RequeueAllReturnsTheCountEmptiesTheStoreAndEachJobGoesBackToItsQueue) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "a"}, {.name = "b", .workers = 2}},
                                    .retry = {.max_attempts = 1}});
  std::atomic<bool> healed{false};
  std::mutex mutex;
  std::map<jobq::JobId, std::vector<std::string>> queues_seen;  // per id, the queue of each run
  queues.register_handler(
      "maybe:heal",
      [&](Context& context, const Message&) {
        {
          const std::lock_guard lock(mutex);
          queues_seen[context.job_id()].emplace_back(context.queue());
        }
        return healed.load() ? Status::success() : Status::error("not yet");
      },
      {.queue = "a"});
  queues.start();
  std::vector<jobq::JobId> ids = dispatch_numbered(queues, "maybe:heal", 3, "a");
  const std::vector<jobq::JobId> on_b = dispatch_numbered(queues, "maybe:heal", 3, "b");
  ids.insert(ids.end(), on_b.begin(), on_b.end());
  ASSERT_EQ(ids.size(), 6u);
  ASSERT_TRUE(queues.wait_idle(30s));
  ASSERT_EQ(queues.dead_letters().total, 6u);

  healed.store(true);
  const jobq::Result<std::size_t> requeued = queues.requeue_all_dead();
  ASSERT_TRUE(requeued.ok()) << requeued.error().message();
  EXPECT_EQ(*requeued, 6u);
  EXPECT_EQ(queues.dead_letters().total, 0u) << "requeue_all_dead empties the store at once";
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(queues.dead_letters().total, 0u);
  {
    const std::lock_guard lock(mutex);
    ASSERT_EQ(queues_seen.size(), 6u);
    for (std::size_t index = 0; index < ids.size(); ++index) {
      const std::string queue = index < 3 ? "a" : "b";
      EXPECT_EQ(queues_seen[ids[index]], (std::vector<std::string>{queue, queue})) << "job " << ids[index];
    }
  }
  const jobq::Result<std::size_t> none = queues.requeue_all_dead();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);

  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.accepted, 12u);
  EXPECT_EQ(report.succeeded, 6u);
  EXPECT_EQ(report.dead_lettered, 6u);
  for (const jobq::QueueStats& queue : report.queues) {
    EXPECT_EQ(queue.accepted, 6u) << queue.name;
    EXPECT_EQ(queue.succeeded, 3u) << queue.name;
  }
  EXPECT_TRUE(report.balanced());
}

TEST(DeadLetters, RequeueBeforeStartOrAfterShutdownIsRefusedAndTheLetterStays) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}});
  queues.register_handler("always:skip", [](Context&, const Message&) { return Status::skip_retry("no"); });
  EXPECT_EQ(queues.requeue_dead(1).code(), jobq::Errc::not_started);
  const jobq::Result<std::size_t> early = queues.requeue_all_dead();
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.code(), jobq::Errc::not_started);

  queues.start();
  const std::vector<jobq::JobId> ids = dispatch_numbered(queues, "always:skip", 2);
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_TRUE(report.balanced());

  const jobq::Result<jobq::JobId> late = queues.requeue_dead(ids[0]);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.code(), jobq::Errc::shutting_down);
  EXPECT_TRUE(queues.dead_letter(ids[0]).has_value()) << "a refused requeue leaves the letter in the store";
  const jobq::Result<std::size_t> late_all = queues.requeue_all_dead();
  ASSERT_FALSE(late_all.ok());
  EXPECT_EQ(late_all.code(), jobq::Errc::shutting_down);
  EXPECT_EQ(ids_of(queues.dead_letters()), ids);
  EXPECT_EQ(queues.stats("default").accepted, 2u);
}

TEST(DeadLetters, RequeuesRacingAShutdownLoseNoJob) {
  // Every letter is requeued by another thread while the Manager shuts down. Each one must end
  // exactly one way: refused and still in the store, or accepted again and then either run to
  // success or returned by the shutdown.
  constexpr int jobs = 200;
  for (int round = 0; round < 20; ++round) {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}},
                                      .retry = {.max_attempts = 1},
                                      .log_level = jobq::LogLevel::off});
    std::mutex mutex;
    std::map<jobq::JobId, int> runs;
    std::set<jobq::JobId> succeeded;
    queues.register_handler("second:time", [&](Context& context, const Message&) {
      const std::lock_guard lock(mutex);
      if (++runs[context.job_id()] == 1) return Status::skip_retry("first run");
      succeeded.insert(context.job_id());
      return Status::success();
    });
    queues.start();
    const std::vector<jobq::JobId> ids = dispatch_numbered(queues, "second:time", jobs);
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(jobs));
    ASSERT_TRUE(queues.wait_idle(30s));
    ASSERT_EQ(queues.dead_letters(0, jobs).total, static_cast<std::size_t>(jobs));

    std::vector<jobq::Errc> outcome(jobs, jobq::Errc::not_found);  // Errc{} for a requeue that was accepted
    std::atomic<int> attempted{0};
    std::thread requeuer([&] {
      for (int index = 0; index < jobs; ++index) {
        const jobq::Result<jobq::JobId> result = queues.requeue_dead(ids[index]);
        outcome[index] = result.code();
        attempted.fetch_add(1);
      }
    });
    // Let a round-dependent share of the requeues through before intake closes.
    while (attempted.load() < (round * 10) % jobs) std::this_thread::yield();
    const jobq::ShutdownMode mode = round % 2 ? jobq::ShutdownMode::return_pending : jobq::ShutdownMode::drain;
    const jobq::ShutdownReport report = queues.shutdown(round % 4 < 2 ? 0ns : 10s, mode);
    requeuer.join();

    std::set<jobq::JobId> returned;
    for (const jobq::ReturnedJob& job : report.not_run) {
      EXPECT_TRUE(returned.insert(job.id).second) << "returned twice: " << job.id;
    }
    std::uint64_t accepted_again = 0;
    for (int index = 0; index < jobs; ++index) {
      const jobq::JobId id = ids[index];
      const bool in_store = queues.dead_letter(id).has_value();
      if (outcome[index] == jobq::Errc{}) {
        ++accepted_again;
        EXPECT_FALSE(in_store) << "round " << round << ": job " << id << " was requeued yet is still a dead letter";
        EXPECT_NE(succeeded.contains(id), returned.contains(id))
            << "round " << round << ": requeued job " << id << " must end exactly once: succeeded "
            << succeeded.contains(id) << ", returned " << returned.contains(id);
      } else {
        EXPECT_EQ(outcome[index], jobq::Errc::shutting_down) << "round " << round << ": job " << id;
        EXPECT_TRUE(in_store) << "round " << round << ": refused requeue of " << id << " lost its letter";
        EXPECT_FALSE(succeeded.contains(id) || returned.contains(id)) << "round " << round << ": job " << id;
      }
    }
    EXPECT_EQ(report.accepted, jobs + accepted_again) << "round " << round;
    EXPECT_EQ(report.dead_lettered, static_cast<std::uint64_t>(jobs)) << "round " << round;
    EXPECT_TRUE(report.balanced()) << "round " << round << ": accepted " << report.accepted << ", succeeded "
                                   << report.succeeded << ", dead " << report.dead_lettered << ", not run "
                                   << report.not_run.size();
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
