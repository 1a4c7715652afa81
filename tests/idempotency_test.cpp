// Idempotency keys: Job::idempotency_key(), Errc::duplicate, Config::idempotency_ttl and
// Config::max_idempotency_keys.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

constexpr std::uint64_t default_dispatches = jobq::testing::sanitized ? 100'000 : 1'000'000;

struct KeyRef {
  std::uint64_t key;
};
JOBQ_PAYLOAD(KeyRef, key);

TEST(Idempotency, ManyDispatchesOverFewerKeysRunEachKeyExactlyOnce) {
  const std::uint64_t attempts = jobq::testing::count_from_environment("JOBQ_IDEMPOTENCY_DISPATCHES", default_dispatches);
  const std::uint64_t keys = std::max<std::uint64_t>(1, attempts / 10);
  constexpr std::uint64_t producer_count = 8;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2, .capacity = 1 << 20}}});
  std::unique_ptr<std::atomic<std::uint32_t>[]> runs(new std::atomic<std::uint32_t>[keys]());
  queues.register_handler("keys:run", [&](Context&, const Message& message) {
    KeyRef ref{};
    if (Status status = message.bind(ref); !status) return status;
    if (ref.key < keys) runs[ref.key].fetch_add(1, std::memory_order_relaxed);
    return Status::success();
  });
  queues.start();

  struct Outcome {
    std::uint64_t key;
    jobq::JobId id;  // the accepted job's id, or the holder a duplicate named
  };
  struct ProducerLog {
    std::vector<Outcome> accepted;
    std::vector<Outcome> duplicates;
    std::uint64_t other_errors = 0;
    std::string first_other_error;
  };
  std::vector<ProducerLog> logs(producer_count);
  std::vector<std::thread> producers;
  for (std::uint64_t producer = 0; producer < producer_count; ++producer) {
    producers.emplace_back([&, producer] {
      ProducerLog& log = logs[producer];
      std::string key_text;
      // Global attempt g goes to key g / 10 (mod keys): at any moment the eight producers work
      // on one or two keys, so that they race for the same key.
      for (std::uint64_t attempt = producer; attempt < attempts; attempt += producer_count) {
        const std::uint64_t key = (attempt / 10) % keys;
        key_text = "order:" + std::to_string(key);
        const jobq::Result<jobq::JobId> result =
            queues.dispatch(jobq::Job("keys:run").idempotency_key(key_text), KeyRef{key});
        if (result.ok()) {
          log.accepted.push_back({key, *result});
        } else if (result.code() == Errc::duplicate) {
          log.duplicates.push_back({key, result.error().job_id()});
        } else {
          if (log.other_errors++ == 0) log.first_other_error = result.error().message();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_TRUE(queues.wait_idle(60s));
  const jobq::ShutdownReport report = queues.shutdown(10s);

  std::uint64_t other_errors = 0;
  for (const ProducerLog& log : logs) {
    other_errors += log.other_errors;
    EXPECT_EQ(log.other_errors, 0u) << "a refusal other than duplicate: " << log.first_other_error;
  }
  // Exactly one accepted dispatch per key, and its id is what every duplicate names.
  std::vector<jobq::JobId> accepted_id(keys, 0);
  std::uint64_t accepted = 0;
  std::uint64_t accepted_twice = 0;
  for (const ProducerLog& log : logs) {
    for (const Outcome& outcome : log.accepted) {
      ++accepted;
      if (accepted_id[outcome.key] != 0) ++accepted_twice;
      accepted_id[outcome.key] = outcome.id;
    }
  }
  EXPECT_EQ(accepted, keys);
  EXPECT_EQ(accepted_twice, 0u) << "keys accepted more than once";
  std::uint64_t duplicates = 0;
  std::uint64_t wrong_holder = 0;
  std::string first_wrong;
  for (const ProducerLog& log : logs) {
    for (const Outcome& outcome : log.duplicates) {
      ++duplicates;
      if (outcome.id != accepted_id[outcome.key]) {
        if (wrong_holder++ == 0) {
          first_wrong = "key " + std::to_string(outcome.key) + ": duplicate names job " + std::to_string(outcome.id) +
                        ", the accepted job is " + std::to_string(accepted_id[outcome.key]);
        }
      }
    }
  }
  EXPECT_EQ(duplicates, attempts - keys);
  EXPECT_EQ(wrong_holder, 0u) << first_wrong;
  EXPECT_EQ(accepted + duplicates + other_errors, attempts);

  std::uint64_t not_once = 0;
  for (std::uint64_t key = 0; key < keys; ++key) not_once += runs[key].load() != 1;
  EXPECT_EQ(not_once, 0u) << "keys whose job did not run exactly once";
  EXPECT_EQ(report.succeeded, keys);
  EXPECT_EQ(report.accepted, keys);
  EXPECT_EQ(report.queues[0].rejected, attempts - keys);
  EXPECT_EQ(report.queues[0].accepted + report.queues[0].rejected, attempts);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, AKeyIsRefusedWhileItsJobIsPending) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> ran{0};
  queues.register_handler("keys:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  const jobq::Result<jobq::JobId> first = queues.dispatch(jobq::Job("keys:run").idempotency_key("invoice:7"));
  ASSERT_TRUE(first.ok());
  const jobq::Result<jobq::JobId> again = queues.dispatch(jobq::Job("keys:run").idempotency_key("invoice:7"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), Errc::duplicate);
  EXPECT_EQ(again.error().job_id(), *first);
  // A delayed duplicate is refused too, and another key is not affected.
  const jobq::Result<jobq::JobId> later =
      queues.dispatch(jobq::Job("keys:run").idempotency_key("invoice:7").delay(1min));
  EXPECT_EQ(later.code(), Errc::duplicate);
  EXPECT_EQ(later.ok() ? 0 : later.error().job_id(), *first);
  ASSERT_TRUE(queues.dispatch(jobq::Job("keys:run").idempotency_key("invoice:8")).ok());
  EXPECT_EQ(ran.load(), 0);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), 2);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 2u);
  EXPECT_EQ(report.queues[0].rejected, 2u);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, AKeyIsRefusedWhileItsJobIsRunning) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  queues.register_handler("keys:run", [&](Context& context, const Message&) {
    started.fetch_add(1);
    while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
    return Status::success();
  });
  queues.start();
  const jobq::Result<jobq::JobId> first = queues.dispatch(jobq::Job("keys:run").idempotency_key("export:1"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return started.load() == 1; }));
  const jobq::Result<jobq::JobId> again = queues.dispatch(jobq::Job("keys:run").idempotency_key("export:1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), Errc::duplicate);
  EXPECT_EQ(again.error().job_id(), *first);
  release.store(true);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(started.load(), 1);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.queues[0].rejected, 1u);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, AfterSuccessTheKeyIsRefusedForTheTtlAndAcceptedAfterIt) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.idempotency_ttl = 10min, .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("keys:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  const jobq::Result<jobq::JobId> first = queues.dispatch(jobq::Job("keys:run").idempotency_key("digest:42"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(queues.wait_idle(30s));  // it succeeded at the clock's current time
  EXPECT_EQ(queues.dispatch(jobq::Job("keys:run").idempotency_key("digest:42")).code(), Errc::duplicate);
  clock->advance(10min - 1ns);
  const jobq::Result<jobq::JobId> late = queues.dispatch(jobq::Job("keys:run").idempotency_key("digest:42"));
  ASSERT_FALSE(late.ok()) << "accepted 1 ns before the TTL ran out";
  EXPECT_EQ(late.code(), Errc::duplicate);
  EXPECT_EQ(late.error().job_id(), *first);
  clock->advance(1ns);
  const jobq::Result<jobq::JobId> after = queues.dispatch(jobq::Job("keys:run").idempotency_key("digest:42"));
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_NE(*after, *first);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), 2);
  // The second success holds the key for a TTL of its own.
  const jobq::Result<jobq::JobId> third = queues.dispatch(jobq::Job("keys:run").idempotency_key("digest:42"));
  EXPECT_EQ(third.code(), Errc::duplicate);
  EXPECT_EQ(third.ok() ? 0 : third.error().job_id(), *after);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 2u);
  EXPECT_EQ(report.queues[0].rejected, 3u);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, DeadLetteringAndRevokingReleaseTheKeyAtOnce) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();  // never moved: no TTL can pass
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}, .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("keys:skip", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::skip_retry("record gone");
  });
  queues.register_handler("keys:fail", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::error("down");  // one attempt allowed: dead-lettered at once
  });
  queues.register_handler("keys:revoke", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::revoke("not wanted");
  });
  queues.start();
  for (const char* type : {"keys:skip", "keys:fail", "keys:revoke"}) {
    const std::string key = std::string("once:") + type;
    const jobq::Result<jobq::JobId> first = queues.dispatch(jobq::Job(type).idempotency_key(key));
    ASSERT_TRUE(first.ok()) << type;
    ASSERT_TRUE(queues.wait_idle(30s)) << type;
    const jobq::Result<jobq::JobId> again = queues.dispatch(jobq::Job(type).idempotency_key(key));
    ASSERT_TRUE(again.ok()) << type << ": the key was not released: " << again.error().message();
    EXPECT_NE(*again, *first);
    ASSERT_TRUE(queues.wait_idle(30s)) << type;
  }
  EXPECT_EQ(ran.load(), 6);
  EXPECT_EQ(queues.dead_letters().total, 4u);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 6u);
  EXPECT_EQ(report.dead_lettered, 4u);
  EXPECT_EQ(report.revoked, 2u);
  EXPECT_EQ(report.queues[0].rejected, 0u);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, ADispatchRefusedForAnotherReasonDoesNotHoldTheKey) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .capacity = 1, .max_scheduled = 1},
                                               {.name = "held", .capacity = 1}},
                                    .max_payload_bytes = 64,
                                    .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("keys:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.pause("held");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  auto keyed = [](const char* key) { return jobq::Job("keys:run").idempotency_key(key); };
  // Each refusal below comes before a dispatch of the same key that must be accepted.
  EXPECT_EQ(queues.dispatch(keyed("k:invalid").payload("{not json")).code(), Errc::invalid_payload);
  EXPECT_TRUE(queues.dispatch(keyed("k:invalid")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));  // capacity 1: let the worker take it first

  const std::string big = R"({"text":")" + std::string(100, 'x') + R"("})";
  EXPECT_EQ(queues.dispatch(keyed("k:large").payload(big)).code(), Errc::payload_too_large);
  EXPECT_TRUE(queues.dispatch(keyed("k:large")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));

  ASSERT_TRUE(queues.dispatch(keyed("k:delayed").delay(1min)).ok());  // fills the timer (1 job)
  EXPECT_EQ(queues.dispatch(keyed("k:timer-full").delay(1min)).code(), Errc::queue_full);
  clock->advance(1min);  // the delayed job runs and leaves the timer
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_TRUE(queues.dispatch(keyed("k:timer-full").delay(1min)).ok());  // waits in the timer to the end

  ASSERT_TRUE(queues.dispatch(jobq::Job("keys:run").on_queue("held")).ok());  // fills it (capacity 1)
  EXPECT_EQ(queues.dispatch(keyed("k:full").on_queue("held")).code(), Errc::queue_full);
  queues.resume("held");
  ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == 4 && queues.stats("held").depth == 0; }));
  EXPECT_TRUE(queues.dispatch(keyed("k:full").on_queue("held")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return ran.load() == 5; }));

  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(report.accepted, 6u);
  EXPECT_EQ(report.succeeded, 5u);
  ASSERT_EQ(report.not_run.size(), 1u);
  EXPECT_EQ(report.not_run[0].idempotency_key, "k:timer-full");
  EXPECT_EQ(report.queues[0].rejected + report.queues[1].rejected, 4u);
  EXPECT_TRUE(report.balanced());
}

TEST(Idempotency, MaxKeysRefusesTheNextKeyAndExpiredKeysAreReclaimed) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Manager queues(jobq::Config{.idempotency_ttl = 1min, .max_idempotency_keys = 10, .clock = clock});
  std::atomic<int> ran{0};
  queues.register_handler("keys:run", [&](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.pause("default");  // before start(): see pause_test.cpp, NoJobDispatchedAfterPauseReturnsStarts
  queues.start();
  auto dispatch_key = [&](int key) {
    const std::string text = "key:" + std::to_string(key);
    return queues.dispatch(jobq::Job("keys:run").idempotency_key(text));
  };
  for (int key = 0; key < 10; ++key) ASSERT_TRUE(dispatch_key(key).ok()) << "key " << key;
  EXPECT_EQ(dispatch_key(10).code(), Errc::too_many_keys);
  // A held key is refused as a duplicate, not as one key too many.
  EXPECT_EQ(dispatch_key(3).code(), Errc::duplicate);
  // Keys of pending jobs do not expire, however much time passes.
  clock->advance(2min);
  EXPECT_EQ(dispatch_key(10).code(), Errc::too_many_keys);
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), 10);
  // The ten succeeded just now: their keys stay held for the TTL.
  clock->advance(1min - 1ns);
  EXPECT_EQ(dispatch_key(10).code(), Errc::too_many_keys);
  clock->advance(1ns);
  for (int key = 10; key < 20; ++key) {
    const jobq::Result<jobq::JobId> result = dispatch_key(key);
    EXPECT_TRUE(result.ok()) << "key " << key << ": " << (result.ok() ? "" : result.error().message());
  }
  EXPECT_EQ(dispatch_key(20).code(), Errc::too_many_keys);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(ran.load(), 20);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.accepted, 20u);
  EXPECT_EQ(report.queues[0].rejected, 5u);
  EXPECT_TRUE(report.balanced());
}

}  // namespace
