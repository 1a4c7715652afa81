// The dead-letter store through the Manager: pages oldest first, calls scoped to one queue, one
// letter by id, the newest kept past capacity while the hook sees every one, and purges that leave
// the books alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
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
using jobq::testing::numbered;
using namespace std::chrono_literals;

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

}  // namespace
