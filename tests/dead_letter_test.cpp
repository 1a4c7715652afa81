#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
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

/// A backoff that retries at once, so that jobs die in microseconds.
std::string numbered(int index) { return "{\"n\":" + std::to_string(index) + "}"; }

/// Dispatches `count` jobs of `type` one after another and returns their ids in dispatch order.
std::vector<jobq::JobId> dispatch_numbered(jobq::Manager& queues, std::string_view type, int count,
                                           std::string_view queue = {}) {
  std::vector<jobq::JobId> ids;
  for (int index = 0; index < count; ++index) {
    const std::string payload = numbered(index);
    const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job(type).payload(payload).on_queue(queue));
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.error().message());
    if (id.ok()) ids.push_back(*id);
  }
  return ids;
}

std::vector<jobq::JobId> ids_of(const jobq::DeadLetterPage& page) {
  std::vector<jobq::JobId> ids;
  for (const jobq::DeadLetter& letter : page.letters) ids.push_back(letter.id);
  return ids;
}

TEST(DeadLetters, PagesAreOldestFirstWithOffsetLimitAndTotal) {
  // One worker: jobs die in the order they were dispatched.
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}});
  queues.register_handler("always:skip", [](Context&, const Message& message) {
    return Status::skip_retry("gone " + std::string(message.payload()));
  });
  queues.start();
  const std::vector<jobq::JobId> ids = dispatch_numbered(queues, "always:skip", 10);
  ASSERT_EQ(ids.size(), 10u);
  ASSERT_TRUE(queues.wait_idle(30s));

  const jobq::DeadLetterPage all = queues.dead_letters();
  EXPECT_EQ(all.total, 10u);
  EXPECT_EQ(all.dropped, 0u);
  EXPECT_EQ(ids_of(all), ids);
  for (std::size_t index = 1; index < all.letters.size(); ++index) {
    EXPECT_LE(all.letters[index - 1].when, all.letters[index].when) << "letter " << index;
  }

  const jobq::DeadLetterPage middle = queues.dead_letters(3, 4);
  EXPECT_EQ(middle.total, 10u) << "total counts the whole store, not the page";
  EXPECT_EQ(ids_of(middle), std::vector<jobq::JobId>(ids.begin() + 3, ids.begin() + 7));
  EXPECT_EQ(middle.letters[0].payload, numbered(3));

  const jobq::DeadLetterPage tail = queues.dead_letters(8, 5);
  EXPECT_EQ(tail.total, 10u);
  EXPECT_EQ(ids_of(tail), std::vector<jobq::JobId>(ids.begin() + 8, ids.end()));

  EXPECT_TRUE(queues.dead_letters(10, 5).letters.empty());
  EXPECT_EQ(queues.dead_letters(10, 5).total, 10u);
  EXPECT_TRUE(queues.dead_letters(1000, 5).letters.empty());
  EXPECT_TRUE(queues.dead_letters(0, 0).letters.empty());
  EXPECT_EQ(queues.dead_letters(0, 1).letters.size(), 1u);

  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.dead_lettered, 10u);
  EXPECT_TRUE(report.balanced());
}

TEST(DeadLetters, QueueScopedCallsSeeOnlyThatQueuesLetters) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "mail"}}});
  queues.register_handler("work:fail", [](Context&, const Message&) { return Status::skip_retry("no"); });
  queues.start();
  const std::vector<jobq::JobId> defaults = dispatch_numbered(queues, "work:fail", 3, "default");
  const std::vector<jobq::JobId> mail = dispatch_numbered(queues, "work:fail", 4, "mail");
  ASSERT_TRUE(queues.wait_idle(10s));
  // Page 2 of mail's letters, 2 to a page.
  const auto page = queues.dead_letters("mail", 2, 2);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 4u);
  EXPECT_EQ(ids_of(*page), (std::vector<jobq::JobId>{mail[2], mail[3]}));
  EXPECT_EQ(queues.dead_letters("default")->total, 3u);
  EXPECT_FALSE(queues.dead_letter("mail", defaults[0])->has_value());  // another queue's letter
  EXPECT_TRUE(queues.dead_letter("default", defaults[0])->has_value());
  const auto wrong_queue = queues.requeue_dead("mail", defaults[0]);
  ASSERT_FALSE(wrong_queue.ok());
  EXPECT_EQ(wrong_queue.error().code(), jobq::Errc::not_found);
  EXPECT_FALSE(*queues.purge_dead("mail", defaults[1]));
  EXPECT_TRUE(*queues.purge_dead("default", defaults[1]));
  EXPECT_EQ(queues.dead_letters("default")->total, 2u);
  EXPECT_THROW((void)queues.dead_letters("nowhere"), jobq::ConfigError);
}

TEST(DeadLetters, OneLetterCanBeInspectedById) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "mail"}},
                                    .retry = {.max_attempts = 3, .backoff = jobq::testing::no_wait}});
  queues.register_handler("mail:send", [](Context& context, const Message&) {
    return Status::error("smtp down, attempt " + std::to_string(context.attempt()));
  });
  queues.start();
  const auto before = std::chrono::system_clock::now();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("mail:send").payload(R"({"to":"a@b.c"})").on_queue("mail"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const auto after = std::chrono::system_clock::now();

  const std::optional<jobq::DeadLetter> letter = queues.dead_letter(*id);
  ASSERT_TRUE(letter.has_value());
  EXPECT_EQ(letter->id, *id);
  EXPECT_EQ(letter->type, "mail:send");
  EXPECT_EQ(letter->queue, "mail");
  EXPECT_EQ(letter->payload, R"({"to":"a@b.c"})");
  EXPECT_EQ(letter->attempts, 3u);
  EXPECT_EQ(letter->last_error, "smtp down, attempt 3");
  EXPECT_EQ(letter->reason, jobq::DeadReason::attempts_exhausted);
  EXPECT_GE(letter->when, before);
  EXPECT_LE(letter->when, after);
  EXPECT_EQ(jobq::describe(letter->reason), "attempts exhausted");

  EXPECT_FALSE(queues.dead_letter(*id + 1000).has_value());
  EXPECT_FALSE(queues.dead_letter(0).has_value());
  // Inspecting does not take the letter.
  EXPECT_TRUE(queues.dead_letter(*id).has_value());
  EXPECT_EQ(queues.dead_letters().total, 1u);
  EXPECT_TRUE(queues.shutdown(10s).balanced());
}

TEST(DeadLetters, PastCapacityTheNewestAreKeptAndTheHookSawEveryOne) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "mail"}},
                                    .retry = {.max_attempts = 2, .backoff = jobq::testing::no_wait},
                                    .dead_letter_capacity = 5});
  // Even payloads fail until their attempts are used up; odd ones are skipped at once.
  queues.register_handler(
      "mail:bounce",
      [](Context& context, const Message& message) {
        const std::string payload(message.payload());
        const int n = std::stoi(payload.substr(payload.find(':') + 1));
        if (n % 2 == 1) return Status::skip_retry("skip " + std::to_string(n));
        return Status::error("error " + std::to_string(n) + " attempt " + std::to_string(context.attempt()));
      },
      {.queue = "mail"});
  std::mutex mutex;
  std::vector<jobq::DeadLetter> seen;
  queues.on_dead([&](const jobq::DeadLetter& letter) {
    const std::lock_guard lock(mutex);
    seen.push_back(letter);
  });
  queues.start();
  const std::vector<jobq::JobId> ids = dispatch_numbered(queues, "mail:bounce", 8);
  ASSERT_EQ(ids.size(), 8u);
  ASSERT_TRUE(queues.wait_idle(30s));

  // Retried jobs die later than skipped ones (their retry passes through the timer), so the
  // order of death is the order the hook saw: the store keeps the last five of it.
  std::vector<jobq::JobId> death_order;
  {
    const std::lock_guard lock(mutex);
    ASSERT_EQ(seen.size(), 8u) << "the hook sees every dead letter, also those the store drops";
    for (const jobq::DeadLetter& letter : seen) {
      death_order.push_back(letter.id);
      const std::size_t n = static_cast<std::size_t>(std::find(ids.begin(), ids.end(), letter.id) - ids.begin());
      ASSERT_LT(n, ids.size()) << "unknown id " << letter.id;
      EXPECT_EQ(letter.type, "mail:bounce");
      EXPECT_EQ(letter.queue, "mail");
      EXPECT_EQ(letter.payload, numbered(static_cast<int>(n)));
      if (n % 2 == 1) {
        EXPECT_EQ(letter.attempts, 1u) << n;
        EXPECT_EQ(letter.reason, jobq::DeadReason::skipped) << n;
        EXPECT_EQ(letter.last_error, "skip " + std::to_string(n));
      } else {
        EXPECT_EQ(letter.attempts, 2u) << n;
        EXPECT_EQ(letter.reason, jobq::DeadReason::attempts_exhausted) << n;
        EXPECT_EQ(letter.last_error, "error " + std::to_string(n) + " attempt 2");
      }
    }
  }
  std::vector<jobq::JobId> sorted_deaths = death_order;
  std::sort(sorted_deaths.begin(), sorted_deaths.end());
  EXPECT_EQ(sorted_deaths, ids) << "each job died once";

  const jobq::DeadLetterPage page = queues.dead_letters();
  EXPECT_EQ(page.total, 5u);
  EXPECT_EQ(page.dropped, 3u);
  EXPECT_EQ(ids_of(page), std::vector<jobq::JobId>(death_order.begin() + 3, death_order.end()))
      << "the store keeps the five newest, oldest first";
  for (int dropped = 0; dropped < 3; ++dropped) {
    EXPECT_FALSE(queues.dead_letter(death_order[dropped]).has_value()) << "dropped letter " << dropped;
  }
  EXPECT_EQ(queues.requeue_dead(death_order[0]).code(), jobq::Errc::not_found) << "a dropped letter cannot be requeued";

  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.dead_lettered, 8u) << "dropping a letter does not change the books";
  EXPECT_EQ(report.failed, 12u);  // 4 × 2 attempts + 4 × 1 skip
  EXPECT_EQ(report.retried, 4u);
  EXPECT_TRUE(report.balanced());
}

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

TEST(DeadLetters, PurgeForgetsOneOrAllWithoutTouchingTheBooks) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}});
  queues.register_handler("always:skip", [](Context&, const Message&) { return Status::skip_retry("no"); });
  queues.start();
  const std::vector<jobq::JobId> ids = dispatch_numbered(queues, "always:skip", 4);
  ASSERT_EQ(ids.size(), 4u);
  ASSERT_TRUE(queues.wait_idle(30s));
  ASSERT_EQ(queues.dead_letters().total, 4u);

  EXPECT_TRUE(queues.purge_dead(ids[1]));
  EXPECT_FALSE(queues.purge_dead(ids[1])) << "a letter is purged once";
  EXPECT_FALSE(queues.purge_dead(987654321));
  EXPECT_FALSE(queues.dead_letter(ids[1]).has_value());
  EXPECT_EQ(queues.requeue_dead(ids[1]).code(), jobq::Errc::not_found);
  const jobq::DeadLetterPage page = queues.dead_letters();
  EXPECT_EQ(page.total, 3u);
  EXPECT_EQ(ids_of(page), (std::vector<jobq::JobId>{ids[0], ids[2], ids[3]}));
  EXPECT_EQ(page.dropped, 0u) << "a purge is not a drop";

  EXPECT_EQ(queues.purge_all_dead(), 3u);
  EXPECT_EQ(queues.dead_letters().total, 0u);
  EXPECT_EQ(queues.purge_all_dead(), 0u);
  const jobq::ShutdownReport report = queues.shutdown(10s);
  EXPECT_EQ(report.dead_lettered, 4u);
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
